//! Training configuration of the ensemble: plain data, validated once by [`EnsembleConfig::validate`].

use serde::{Deserialize, Serialize};

use crate::surrogate::{InputTransform, SurrogateError};

/// Hidden-layer non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// x * sigmoid(x).
    Silu,
    /// Gaussian error linear unit (exact, erf form).
    Gelu,
    /// tanh(x).
    Tanh,
}

/// Configuration of a deep ensemble of MLPs. Every field has a default that works on the
/// shipped RegMix and Olmix data without tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleConfig {
    /// Ensemble size M.
    pub members: usize,
    /// Width of each hidden layer.
    pub hidden: Vec<usize>,
    /// Hidden non-linearity.
    pub activation: Activation,
    /// Transform of mixture weights (context inputs are only standardised).
    pub input_transform: InputTransform,
    /// Each member also predicts a variance and trains with Gaussian NLL.
    pub heteroscedastic: bool,
    /// Each member sees a bootstrap resample of the training rows.
    pub bootstrap: bool,
    /// Share of the training rows held out for early stopping and noise estimation, in [0, 0.5].
    pub validation_fraction: f64,
    /// Upper bound on training epochs.
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    /// Rows per step per member; 0 means the full (resampled) training set.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            members: 8,
            hidden: vec![128, 128],
            activation: Activation::Silu,
            input_transform: InputTransform::Sqrt,
            heteroscedastic: false,
            bootstrap: true,
            validation_fraction: 0.0,
            max_epochs: 400,
            patience: 100,
            batch_size: 64,
            learning_rate: 3e-3,
            weight_decay: 1.0,
        }
    }
}

/// Largest ensemble accepted.
pub const MAX_MEMBERS: usize = 1024;
/// Widest hidden layer accepted.
pub const MAX_WIDTH: usize = 16_384;
/// Most hidden layers accepted.
pub const MAX_LAYERS: usize = 32;
/// Most hidden-to-hidden weights over all members (2^28 f32 values: 1 GiB).
pub const MAX_HIDDEN_WEIGHTS: usize = 1 << 28;

impl EnsembleConfig {
    /// Reads a config from TOML (missing fields take their defaults) and validates it.
    pub fn from_toml(text: &str) -> Result<Self, SurrogateError> {
        crate::surrogate::config_from_toml(text, Self::validate)
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), SurrogateError> {
        const MAX_LEARNING_RATE: f64 = 1.0;
        const MAX_WEIGHT_DECAY: f64 = 100.0;
        let hidden_weights = (self.hidden.windows(2))
            .map(|w| w[0].saturating_mul(w[1]))
            .fold(0usize, usize::saturating_add)
            .saturating_mul(self.members);
        let problem = if self.members == 0 {
            "`members` must be at least 1"
        } else if self.members > MAX_MEMBERS {
            "`members` is above the limit of 1024"
        } else if self.hidden.contains(&0) {
            "every `hidden` width must be at least 1"
        } else if self.hidden.iter().any(|&w| w > MAX_WIDTH) {
            "every `hidden` width must be at most 16384"
        } else if self.hidden.len() > MAX_LAYERS {
            "`hidden` may list at most 32 layers"
        } else if hidden_weights > MAX_HIDDEN_WEIGHTS {
            "`members` x the hidden-to-hidden weights exceed 2^28 (1 GiB of weights)"
        } else if !(0.0..=0.5).contains(&self.validation_fraction) {
            "`validation_fraction` must lie in [0, 0.5]"
        } else if self.max_epochs == 0 {
            "`max_epochs` must be at least 1"
        } else if !(self.learning_rate > 0.0 && self.learning_rate <= MAX_LEARNING_RATE) {
            "`learning_rate` must lie in (0, 1] (AdamW's step size; the default is 3e-3)"
        } else if !(0.0..=MAX_WEIGHT_DECAY).contains(&self.weight_decay) {
            "`weight_decay` must lie in [0, 100] (AdamW's decoupled decay; the default is 1)"
        } else if matches!(self.input_transform, InputTransform::Log { eps } if !(eps > 0.0 && eps.is_finite()))
        {
            "the log transform's `eps` must be positive"
        } else {
            return Ok(());
        };
        Err(SurrogateError::Config(problem.into()))
    }
}
