//! The Mixture Performance Predictor: a deep ensemble of MLPs mapping a mixture (plus optional
//! context) to every target at once, with the spread between members as epistemic uncertainty.
//!
//! Configuration ([`EnsembleConfig`]) and fitted model ([`Predictor`]) are separate types:
//! [`fit`] turns runs and a config into a predictor; [`checkpoint`] saves and loads it.
//! Training runs over one of two step engines (`train`: burn's autodiff, or the fused host
//! engine `train_host`); scoring takes burn's path, the fused host path (`score_host`) or, on a
//! GPU, the fused kernel behind the device protocol (`gpu`).

pub mod checkpoint;
mod config;
pub mod gpu;
mod model;
pub(crate) mod score_host;
mod train;
mod train_host;

pub use config::{Activation, EnsembleConfig};
pub use gpu::{
    BatchTop, BlockMoments, DeviceAcquisition, DeviceDraws, DeviceScoring, DrawnTop,
    EnsembleKernel, FeatureMap, Head, KernelError, Reduction, RowScores,
};
pub use model::{EnsembleMlp, EnsembleMlpRecord};
pub use score_host::FusedCpuScorer;
pub use train::{EpochProgress, TrainEngine, TrainObserver, TrainReport, fit, fit_with};
pub use train_host::FusedTrainer;

use std::sync::Arc;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Normalizer, Posterior, SurrogateError};
use crate::runs::Schema;

/// Everything about a fitted predictor except its weights: what a checkpoint's manifest holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorMeta {
    /// Input and target columns.
    pub schema: Schema,
    /// The configuration it was trained with.
    pub config: EnsembleConfig,
    /// The seed it was trained with.
    pub seed: u64,
    /// Standardisation of the transformed inputs (mixture then context), `[inputs]`.
    pub input_norm: Normalizer,
    /// Standardisation of the targets, `[targets]`.
    pub target_norm: Normalizer,
    /// Homoscedastic aleatoric variance per target in target units², calibrated on validation
    /// and out-of-bag rows so that the central 90% interval covers 90% of them (see
    /// `train::calibrate`); unused when heteroscedastic. `[targets]`
    pub noise_var: Vec<f64>,
    /// Multiplier of the members' spread around their mean per target, fitted on out-of-bag
    /// errors (`train::calibrate`): the epistemic std every acquisition reads is the raw
    /// member std times this. Empty (= 1) in checkpoints written before it existed. `[targets]`
    #[serde(default)]
    pub epistemic_scale: Vec<f64>,
    /// How training went.
    pub report: TrainReport,
    /// What `--surrogate auto` compared, when it chose this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<super::select::Selection>,
    /// Digests of the runs it was fitted on (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_on: Option<super::TrainingRows>,
}

impl PredictorMeta {
    /// Number of model inputs: transformed domains plus context columns.
    pub fn inputs(&self) -> usize {
        self.schema.mixture_columns.len() * self.config.input_transform.width()
            + self.schema.context.len()
    }

    /// Transformed, unstandardised inputs of one run.
    pub(crate) fn raw_inputs(&self, w: &[f64], context: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.inputs());
        self.config.input_transform.extend(w, &mut out);
        out.extend_from_slice(context);
        out
    }

    /// Number of targets.
    pub fn targets(&self) -> usize {
        self.schema.targets.len()
    }

    /// Standardised model inputs, row-major `[n, inputs]`, from mixtures `[n][domains]` and
    /// context `[n][context]`.
    pub fn features(
        &self,
        mixtures: &[Vec<f64>],
        context: &[Vec<f64>],
    ) -> Result<Vec<f32>, SurrogateError> {
        let mut out = Vec::with_capacity(mixtures.len() * self.inputs());
        for (i, w) in mixtures.iter().enumerate() {
            let c = context.get(i).map_or(&[][..], Vec::as_slice);
            self.push_features(w, c, &mut out)?;
        }
        Ok(out)
    }

    /// Appends the standardised inputs of one mixture `w` (`[domains]`) with context `c`
    /// (`[context]`) to `out`.
    pub fn push_features(
        &self,
        w: &[f64],
        c: &[f64],
        out: &mut Vec<f32>,
    ) -> Result<(), SurrogateError> {
        let (domains, contexts) = (self.schema.mixture_columns.len(), self.schema.context.len());
        if w.len() != domains || c.len() != contexts {
            return Err(SurrogateError::InputMismatch {
                expected: domains + contexts,
                found: w.len() + c.len(),
            });
        }
        for (j, x) in self.raw_inputs(w, c).into_iter().enumerate() {
            out.push(((x - self.input_norm.mean[j]) / self.input_norm.std[j]) as f32);
        }
        Ok(())
    }
}

/// A fitted ensemble on backend `B`, ready to score mixtures.
#[derive(Debug, Clone)]
pub struct Predictor<B: Backend> {
    /// The weights.
    pub model: EnsembleMlp<B>,
    /// Columns, normalisation and training record.
    pub meta: PredictorMeta,
    device: B::Device,
    /// Host copy of the weights for the fused CPU scoring path, when enabled.
    fused: Option<FusedCpuScorer>,
    /// The weights on the GPU for the fused scoring kernel, when enabled.
    kernel: Option<Arc<dyn EnsembleKernel>>,
}

/// Rows scored per forward pass: bounds activation memory at about
/// `members * ROWS * max(hidden) * 4` bytes (32 MiB for 8 x 128).
const CHUNK_ROWS: usize = 8192;

impl<B: Backend> Predictor<B> {
    /// Assembles a predictor from its parts.
    pub fn new(model: EnsembleMlp<B>, meta: PredictorMeta, device: B::Device) -> Self {
        Predictor {
            model,
            meta,
            device,
            fused: None,
            kernel: None,
        }
    }

    /// The predictor scoring through [`FusedCpuScorer`] (for CPU backends; unchanged for GELU,
    /// which has no fused path). Predictions agree with the burn path to float precision.
    pub fn with_fused_cpu(mut self) -> Self {
        self.fused = FusedCpuScorer::new(&self.model, self.meta.config.activation);
        self
    }

    /// The predictor scoring large batches of candidates through `kernel`, the fused GPU
    /// kernel holding these weights (built by [`crate::device::with_gpu_kernel`]).
    pub fn with_kernel(mut self, kernel: Arc<dyn EnsembleKernel>) -> Self {
        self.kernel = Some(kernel);
        self
    }

    /// The GPU kernel, when the predictor was built with one ([`Predictor::with_kernel`]).
    pub fn kernel(&self) -> Option<&dyn EnsembleKernel> {
        self.kernel.as_deref()
    }

    /// Standardised features `[n, inputs]` of mixtures `[n][domains]` under one context
    /// `[context]`, built in parallel blocks.
    pub fn features_of(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Vec<f32>, SurrogateError> {
        use rayon::prelude::*;
        let meta = &self.meta;
        // Serial, this was a fifth of a simulated row on two threads.
        let blocks: Vec<Vec<f32>> = mixtures
            .par_chunks(1024)
            .map(|block| {
                let mut f = Vec::with_capacity(block.len() * meta.inputs());
                for w in block {
                    meta.push_features(w, context, &mut f)?;
                }
                Ok(f)
            })
            .collect::<Result<_, SurrogateError>>()?;
        Ok(blocks.concat())
    }

    /// The device the weights live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Member outputs in target units for standardised features `[n, inputs]`, flat
    /// `[M, n, targets]`: the means, spread by the epistemic scale, and, when heteroscedastic,
    /// the variances (target units²).
    pub fn member_outputs(&self, features: &[f32]) -> (Vec<f64>, Option<Vec<f64>>) {
        let d = self.meta.inputs();
        let t = self.meta.targets();
        let m = self.model.members();
        let n = features.len() / d;
        let (mu, sd) = (&self.meta.target_norm.mean, &self.meta.target_norm.std);
        let width = *self.model.widths().last().expect("at least one layer");
        let mut out = vec![0.0; m * n * t];
        let mut vars = self
            .meta
            .config
            .heteroscedastic
            .then(|| vec![0.0; m * n * t]);
        let mut start = 0;
        for chunk in features.chunks(CHUNK_ROWS * d) {
            let rows = chunk.len() / d;
            let values = self.forward_raw(chunk);
            for (k, member) in values.chunks(rows * width).enumerate() {
                for (i, row) in member.chunks(width).enumerate() {
                    let at = (k * n + start + i) * t;
                    for j in 0..t {
                        out[at + j] = f64::from(row[j]) * sd[j] + mu[j];
                    }
                    if let Some(vars) = vars.as_mut() {
                        for j in 0..t {
                            vars[at + j] = softplus(f64::from(row[t + j])) * sd[j] * sd[j];
                        }
                    }
                }
            }
            start += rows;
        }
        self.spread(&mut out, n);
        (out, vars)
    }

    /// The posterior at standardised features `[n, inputs]`, with the noise.
    pub(crate) fn posterior_of(&self, features: &[f32]) -> Posterior {
        let (outputs, vars) = self.member_outputs(features);
        let m = self.model.members();
        Posterior::from_members(outputs, m, self.meta.targets())
            .with_noise(&self.meta.noise_var, vars.as_deref().map(|v| (v, m)))
    }

    /// Scales member outputs `[M, n, targets]` (flat) around their mean by the epistemic
    /// scale.
    fn spread(&self, out: &mut [f64], n: usize) {
        let scale = &self.meta.epistemic_scale;
        if scale.is_empty() {
            return;
        }
        let (m, t) = (self.model.members(), self.meta.targets());
        for i in 0..n {
            for (j, &c) in scale.iter().enumerate() {
                let at = |k: usize| (k * n + i) * t + j;
                let mean = (0..m).map(|k| out[at(k)]).sum::<f64>() / m as f64;
                (0..m).for_each(|k| out[at(k)] = mean + c * (out[at(k)] - mean));
            }
        }
    }

    /// Raw outputs `[M, rows, width]` (standardised units) of one chunk of features.
    fn forward_raw(&self, chunk: &[f32]) -> Vec<f32> {
        let d = self.meta.inputs();
        let rows = chunk.len() / d;
        match &self.fused {
            Some(fused) => fused.forward(chunk),
            None => {
                let x = Tensor::<B, 2>::from_data(
                    TensorData::new(chunk.to_vec(), [rows, d]),
                    &self.device,
                );
                let out = self.model.forward_shared(x, self.meta.config.activation);
                out.into_data().to_vec().expect("the model outputs f32")
            }
        }
    }

    /// The posterior, noise included, for mixtures `[n][domains]` and context `[n][context]`
    /// (a context per row; [`crate::surrogate::Surrogate::posterior`] takes one shared context).
    pub fn predict(
        &self,
        mixtures: &[Vec<f64>],
        context: &[Vec<f64>],
    ) -> Result<Posterior, SurrogateError> {
        Ok(self.posterior_of(&self.meta.features(mixtures, context)?))
    }
}

/// `ln(1 + e^x)`, the member variance link; matches burn's softplus with beta = 1.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}
