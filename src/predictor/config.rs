//! Training configuration of the ensemble: plain data, validated once by [`EnsembleConfig::validate`].

use serde::{Deserialize, Serialize};

use crate::predictor::PredictorError;

/// How mixture weights are transformed before standardisation. Written as a table with a
/// `kind` (`identity`, `sqrt`, `sqrt-linear`, `log`) and, for `log` only, `eps`; any other key
/// is refused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TransformTable", into = "TransformTable")]
pub enum InputTransform {
    /// `w`.
    Identity,
    /// `sqrt(w)`: spreads small weights apart.
    Sqrt,
    /// `[sqrt(w), w]`: two inputs per domain, so the network sees both the small-weight
    /// resolution of `sqrt` and the linear share.
    SqrtLinear,
    /// `ln(w + eps)`: returns diminish with more data of a domain.
    Log {
        /// Offset that keeps zero weights finite.
        eps: f64,
    },
}

/// [`InputTransform`] as written. serde's tagged enums ignore unknown keys of unit variants,
/// so the table is read as this struct and converted.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransformTable {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eps: Option<f64>,
}

impl TryFrom<TransformTable> for InputTransform {
    type Error = String;
    fn try_from(t: TransformTable) -> Result<Self, String> {
        let unit = |transform: InputTransform| match t.eps {
            None => Ok(transform),
            Some(_) => Err(format!(
                "`eps` applies to the log transform, not `{}`",
                t.kind
            )),
        };
        match t.kind.as_str() {
            "identity" => unit(InputTransform::Identity),
            "sqrt" => unit(InputTransform::Sqrt),
            "sqrt-linear" => unit(InputTransform::SqrtLinear),
            "log" => t
                .eps
                .map(|eps| InputTransform::Log { eps })
                .ok_or_else(|| "the log transform needs `eps`".to_owned()),
            other => Err(format!(
                "unknown input transform `{other}`: expected identity, sqrt, sqrt-linear or log"
            )),
        }
    }
}

impl From<InputTransform> for TransformTable {
    fn from(t: InputTransform) -> Self {
        let (kind, eps) = match t {
            InputTransform::Identity => ("identity", None),
            InputTransform::Sqrt => ("sqrt", None),
            InputTransform::SqrtLinear => ("sqrt-linear", None),
            InputTransform::Log { eps } => ("log", Some(eps)),
        };
        TransformTable {
            kind: kind.into(),
            eps,
        }
    }
}

impl InputTransform {
    /// Model inputs per domain.
    pub fn width(self) -> usize {
        if self == InputTransform::SqrtLinear {
            2
        } else {
            1
        }
    }

    /// Appends the transformed mixture `w` (`[domains]`) to `out` (`width()` values per domain,
    /// all domains' first values first).
    pub fn extend(self, w: &[f64], out: &mut Vec<f64>) {
        match self {
            InputTransform::Identity => out.extend_from_slice(w),
            InputTransform::Sqrt => out.extend(w.iter().map(|x| x.sqrt())),
            InputTransform::SqrtLinear => {
                out.extend(w.iter().map(|x| x.sqrt()));
                out.extend_from_slice(w);
            }
            InputTransform::Log { eps } => out.extend(w.iter().map(|x| (x + eps).ln())),
        }
    }
}

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
    pub fn from_toml(text: &str) -> Result<Self, PredictorError> {
        crate::predictor::config_from_toml(text, Self::validate)
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), PredictorError> {
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
        Err(PredictorError::Config(problem.into()))
    }
}
