//! Scoring on a GPU through the fused ensemble kernel (`kernels/`, built with the `wgpu` or
//! `cuda` feature): candidates go up as features and come back reduced to the objective's
//! mean, its epistemic std and the acquisition value per row, or only to each block's best
//! rows and the moments. This module is the backend-independent side: what is asked
//! ([`Reduction`], [`Head`]) and what comes back ([`RowScores`], [`BatchTop`]).

use std::fmt;

use crate::space::Constraints;
use crate::surrogate::{InputTransform, Predictor, SurrogateError};
use burn::prelude::Backend;

/// The acquisition evaluated on the device from the objective's mean `mu` and epistemic std
/// `sigma` (or one member's objective), in the same closed forms as the CPU functions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeviceAcquisition {
    /// `mean * mu + std * sigma` (posterior mean, UCB, LCB).
    MeanStd {
        /// Weight of the mean.
        mean: f64,
        /// Weight of the std.
        std: f64,
    },
    /// Member `k`'s objective (Thompson sampling).
    Member(usize),
    /// Expected (`expected`) or probability of improvement over `threshold` (incumbent plus
    /// margin, objective units).
    Improvement {
        /// `f* + xi`.
        threshold: f64,
        /// EI when true, PI when false.
        expected: bool,
    },
}

/// What each candidate is reduced to: the objective `sum_t c_t (y_t - o_t)` over the targets
/// and an acquisition of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction {
    /// `c_t`, `[targets]`.
    pub coefficients: Vec<f64>,
    /// `o_t`, `[targets]`.
    pub offsets: Vec<f64>,
    /// The acquisition.
    pub acquisition: DeviceAcquisition,
}

/// A [`Reduction`] in terms of a member's raw (standardised) outputs `r_t`: the objective mean
/// is `offset + mean_m sum_t mean[t] r_mt` and a member's deviation from it
/// `sum_t deviation[t] (r_mt - mean_m r_mt)`, the epistemic scale folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// `c_t sd_t`, `[targets]`.
    pub mean: Vec<f32>,
    /// `c_t sd_t s_t`, `[targets]`.
    pub deviation: Vec<f32>,
    /// `sum_t c_t (mu_t - o_t)`.
    pub offset: f32,
    /// The acquisition.
    pub acquisition: DeviceAcquisition,
}

/// Per candidate, `[n]` each: objective mean, epistemic std, acquisition (f32 on the device).
#[derive(Debug, Clone, PartialEq)]
pub struct RowScores {
    /// Objective mean.
    pub mean: Vec<f64>,
    /// Epistemic std of the objective.
    pub std: Vec<f64>,
    /// Acquisition value.
    pub acquisition: Vec<f64>,
}

/// Count, mean, sum of squared deviations, min and max of some values; merged exactly
/// across blocks (Chan et al.).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockMoments {
    /// Values.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl BlockMoments {
    /// Adds the values `other` summarises.
    pub fn merge(&mut self, other: &BlockMoments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let (a, b) = (self.count as f64, other.count as f64);
        let delta = other.mean - self.mean;
        self.mean += delta * b / (a + b);
        self.m2 += other.m2 + delta * delta * a * b / (a + b);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
    }

    /// The moments of the single value `x`.
    pub fn one(x: f64) -> Self {
        BlockMoments {
            count: 1,
            mean: x,
            m2: 0.0,
            min: x,
            max: x,
        }
    }

    fn of(values: &[f64]) -> Self {
        let mut all = BlockMoments::default();
        values
            .iter()
            .for_each(|&v| all.merge(&BlockMoments::one(v)));
        all
    }
}

/// A batch reduced on the device: its best rows and the moments of its scores.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTop {
    /// Up to k `(objective, row)`, best first; equal values keep the smaller row first.
    pub objective: Vec<(f64, usize)>,
    /// Up to k `(acquisition, row)`, ordered the same way.
    pub acquisition: Vec<(f64, usize)>,
    /// Moments of the objective mean, the epistemic std and the acquisition.
    pub moments: [BlockMoments; 3],
}

impl BatchTop {
    /// The same reduction of per-row scores, on the host.
    pub fn from_rows(rows: &RowScores, k: usize) -> Self {
        let best = |values: &[f64]| {
            let mut order: Vec<(f64, usize)> = values
                .iter()
                .copied()
                .zip(0..)
                .filter(|v| !v.0.is_nan())
                .collect();
            order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            order.truncate(k);
            order
        };
        BatchTop {
            objective: best(&rows.mean),
            acquisition: best(&rows.acquisition),
            moments: [
                BlockMoments::of(&rows.mean),
                BlockMoments::of(&rows.std),
                BlockMoments::of(&rows.acquisition),
            ],
        }
    }
}

/// Candidates drawn on the device as the host's `DirichletSampler::sample_feasible` draws
/// them: a centre chosen uniformly, a concentration `kappa` log-uniform in `strength`,
/// `Dirichlet(max(kappa D c, 1e-3))`, repaired into the bounds and group sums as
/// `Constraints::repair` does, and redrawn (up to `sampler::TRIES` times) until it meets the
/// trust region and KL budget; a candidate with no feasible draw is rejected.
#[derive(Debug, Clone)]
pub struct DeviceDraws {
    /// Centre mixtures, `[centers][domains]`.
    pub centers: Vec<Vec<f64>>,
    /// Range of kappa, `(low, high)`, both > 0.
    pub strength: (f64, f64),
    /// The feasible set.
    pub constraints: Constraints,
}

impl DeviceDraws {
    /// Whether these draws and `features` fit a model with `inputs` inputs: every size the
    /// drawing kernel indexes its buffers by, unchecked (centres, bounds, anchors and prior
    /// over the same domains; the standardisation over the model's inputs).
    pub fn check(&self, features: &FeatureMap, inputs: usize) -> Result<(), KernelError> {
        let c = &self.constraints;
        let d = c.lower.len();
        let fits = d > 0
            && !self.centers.is_empty()
            && self.centers.iter().all(|w| w.len() == d)
            && c.upper.len() == d
            && (c.trust_region.iter()).all(|(a, _)| a.iter().all(|w| w.len() == d))
            && c.kl.as_ref().is_none_or(|(prior, _)| prior.len() == d)
            && features.mean.len() == inputs
            && features.std.len() == inputs
            && features.transform.width() * d + features.context.len() == inputs;
        if fits {
            Ok(())
        } else {
            Err(KernelError::Mismatch {
                domains: d,
                contexts: features.context.len(),
                inputs,
            })
        }
    }
}

/// What [`EnsembleKernel::draw_top`] needs to turn a drawn mixture into model inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMap {
    /// The transform of mixture weights.
    pub transform: InputTransform,
    /// The input standardisation, `[inputs]` each, mixture inputs first.
    pub mean: Vec<f64>,
    /// Its std.
    pub std: Vec<f64>,
    /// Raw context values, `[context]`, the same for every candidate.
    pub context: Vec<f64>,
}

/// A chunk drawn, scored and reduced on the device: its [`BatchTop`] over the feasible
/// candidates and the mixtures of the rows it names.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawnTop {
    /// The reduction; rows number the chunk's draws, rejected ones included.
    pub top: BatchTop,
    /// Candidates without a feasible draw.
    pub rejected: usize,
    /// `(row, mixture)` for every row in `top`'s rankings, rows ascending; the mixtures as
    /// drawn in f32 (their sums differ from one by the f32 rounding).
    pub mixtures: Vec<(usize, Vec<f64>)>,
}

/// Why the device kernel failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The device or its runtime reported an error.
    #[error("the {device} kernel failed: {message}")]
    Device {
        /// The backend.
        device: &'static str,
        /// What the runtime said.
        message: String,
    },
    /// Not even one candidate's activations fit the device's shared memory.
    #[error("a layer {width} wide does not fit the device's {shared_bytes} bytes of shared memory")]
    TooWide {
        /// The widest layer.
        width: usize,
        /// Shared memory per cube.
        shared_bytes: usize,
    },
    /// Device draws whose sizes do not fit the model (see [`DeviceDraws::check`]).
    #[error(
        "device draws over {domains} domains with {contexts} context values do not fit a model \
         with {inputs} inputs"
    )]
    Mismatch {
        /// Domains of the draws' constraints.
        domains: usize,
        /// Context values given.
        contexts: usize,
        /// The model's inputs.
        inputs: usize,
    },
}

/// An ensemble on a GPU, scoring standardised features through the fused kernel.
pub trait EnsembleKernel: Send + Sync + fmt::Debug {
    /// Scores of `features` (`[n, inputs]`), per row.
    fn rows(&self, features: &[f32], head: &Head) -> Result<RowScores, KernelError>;
    /// The best `k` rows of `features` by objective and by acquisition, and the moments.
    fn top(&self, features: &[f32], head: &Head, k: usize) -> Result<BatchTop, KernelError>;
    /// Draws `rows` candidates of `draws` on the device from the stream `seed` (a draw
    /// depends only on the seed and its row), maps them to inputs by `features` and reduces
    /// them as [`EnsembleKernel::top`] does.
    fn draw_top(
        &self,
        draws: &DeviceDraws,
        features: &FeatureMap,
        rows: usize,
        seed: u64,
        head: &Head,
        k: usize,
    ) -> Result<DrawnTop, KernelError>;
}

/// A surrogate that reduces candidates on its device (an ensemble on a GPU with the kernel).
pub trait DeviceScoring {
    /// Per-row scores of mixtures `[n][domains]` under context `[context]`.
    fn rows(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
        reduction: &Reduction,
    ) -> Result<RowScores, SurrogateError>;
    /// The best `k` of mixtures `[n][domains]` by objective and by acquisition (rows index
    /// `mixtures`), and the moments of their scores.
    fn top(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
        reduction: &Reduction,
        k: usize,
    ) -> Result<BatchTop, SurrogateError>;
    /// `rows` candidates of `draws` drawn on the device from stream `seed` under context
    /// `[context]`, reduced to their best `k` by objective and by acquisition.
    fn draw_top(
        &self,
        draws: &DeviceDraws,
        rows: usize,
        seed: u64,
        context: &[f64],
        reduction: &Reduction,
        k: usize,
    ) -> Result<DrawnTop, SurrogateError>;
}

impl<B: Backend> Predictor<B> {
    /// The kernel's head for `reduction`, from the target standardisation and the epistemic
    /// scale.
    pub fn head(&self, reduction: &Reduction) -> Head {
        let norm = &self.meta.target_norm;
        let scale = |t: usize| self.meta.epistemic_scale.get(t).copied().unwrap_or(1.0);
        let c = &reduction.coefficients;
        Head {
            mean: (0..c.len()).map(|t| (c[t] * norm.std[t]) as f32).collect(),
            deviation: (0..c.len())
                .map(|t| (c[t] * norm.std[t] * scale(t)) as f32)
                .collect(),
            offset: (0..c.len())
                .map(|t| c[t] * (norm.mean[t] - reduction.offsets[t]))
                .sum::<f64>() as f32,
            acquisition: reduction.acquisition,
        }
    }

    /// The kernel and the features of `mixtures` under `context`.
    fn for_kernel(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<(&dyn EnsembleKernel, Vec<f32>), SurrogateError> {
        let kernel = self.kernel().ok_or(SurrogateError::NoKernel)?;
        Ok((kernel, self.features_of(mixtures, context)?))
    }
}

impl<B: Backend> DeviceScoring for Predictor<B> {
    fn rows(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
        reduction: &Reduction,
    ) -> Result<RowScores, SurrogateError> {
        let (kernel, features) = self.for_kernel(mixtures, context)?;
        Ok(kernel.rows(&features, &self.head(reduction))?)
    }

    fn top(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
        reduction: &Reduction,
        k: usize,
    ) -> Result<BatchTop, SurrogateError> {
        let (kernel, features) = self.for_kernel(mixtures, context)?;
        Ok(kernel.top(&features, &self.head(reduction), k)?)
    }

    fn draw_top(
        &self,
        draws: &DeviceDraws,
        rows: usize,
        seed: u64,
        context: &[f64],
        reduction: &Reduction,
        k: usize,
    ) -> Result<DrawnTop, SurrogateError> {
        let kernel = self.kernel().ok_or(SurrogateError::NoKernel)?;
        let meta = &self.meta;
        let features = FeatureMap {
            transform: meta.config.input_transform,
            mean: meta.input_norm.mean.clone(),
            std: meta.input_norm.std.clone(),
            context: context.to_vec(),
        };
        let head = self.head(reduction);
        Ok(kernel.draw_top(draws, &features, rows, seed, &head, k)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Device draws whose sizes disagree with each other or with the model are refused (the
    /// kernel indexes its buffers by them unchecked).
    #[test]
    fn device_draws_must_fit_the_model() {
        let draws = DeviceDraws {
            centers: vec![vec![0.5, 0.25, 0.25]],
            strength: (0.1, 5.0),
            constraints: Constraints {
                lower: vec![0.0; 3],
                upper: vec![1.0; 3],
                groups: Vec::new(),
                trust_region: Some((vec![vec![0.5, 0.5, 0.0]], 0.2)),
                kl: None,
            },
        };
        let features = FeatureMap {
            transform: InputTransform::SqrtLinear,
            mean: vec![0.0; 7],
            std: vec![1.0; 7],
            context: vec![2.0],
        };
        assert!(draws.check(&features, 7).is_ok());
        assert!(draws.check(&features, 6).is_err(), "the model's inputs");
        let mut bad = [draws.clone(), draws.clone(), draws.clone(), draws];
        bad[0].centers.clear();
        bad[1].centers[0].push(0.0);
        bad[2].constraints.upper.pop();
        bad[3].constraints.trust_region = Some((vec![vec![0.5, 0.5]], 0.2));
        for d in &bad {
            let e = d.check(&features, 7).unwrap_err();
            assert!(
                e.to_string().contains("do not fit a model with 7 inputs"),
                "{e}"
            );
        }
        let identity = FeatureMap {
            transform: InputTransform::Identity,
            ..features
        };
        assert!(bad[0].check(&identity, 4).is_err());
    }
}
