//! Surrogates: models of mixture -> outcome with uncertainty, behind one trait.
//!
//! Three kinds, one folder (or file) each: the deep ensemble ([`ensemble`], the Mixture
//! Performance Predictor), the ARD Gaussian process ([`gp`]) and the log-linear mixing law
//! ([`loglinear`]); [`select`] picks among them by out-of-fold score (`auto`). A
//! [`SurrogateSpec`] (configuration) fits a [`Fitted`] model, which answers through the
//! [`Surrogate`] trait with a [`Posterior`] and says what else it can do through
//! [`Capabilities`]. Checkpoints share [`checkpoint`]'s digests and checks.
//!
//! Adding a surrogate: a folder with its config, fit and [`Surrogate`] impl, one arm in
//! [`SurrogateSpec`], [`SurrogateKind`] and [`Fitted`] (`fitted.rs`), and its checkpoint
//! payload.

pub mod checkpoint;
pub mod ensemble;
mod evaluate;
mod fitted;
pub mod gp;
pub mod loglinear;
pub mod metrics;
mod prediction;
pub mod select;
mod trained_on;
mod transform;

pub use crate::runs::Normalizer;
pub use ensemble::{
    Activation, BatchTop, BlockMoments, DeviceAcquisition, DeviceDraws, DeviceScoring, DrawnTop,
    EnsembleConfig, EnsembleKernel, EnsembleMlp, EnsembleMlpRecord, EpochProgress, FeatureMap,
    FusedCpuScorer, FusedTrainer, Head, KernelError, Predictor, PredictorMeta, Reduction,
    RowScores, TrainEngine, TrainObserver, TrainReport, fit, fit_with,
};
pub use evaluate::{Evaluation, cross_validate, evaluate};
pub use fitted::{Capabilities, Fitted, Surrogate, SurrogateKind, SurrogateSpec};
pub use gp::{GaussianProcess, GpConfig, Kernel};
pub use loglinear::{LogLinear, LogLinearConfig};
pub use prediction::{MemberOutputs, Posterior, member_moments};
pub use trained_on::TrainingRows;
pub use transform::InputTransform;

use std::path::PathBuf;

use crate::runs::Runs;

/// Why a surrogate could not be fitted, used or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SurrogateError {
    /// A checkpoint file could not be read or written.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// A training configuration value is out of range or the TOML is malformed.
    #[error("invalid training config: {0}")]
    Config(String),
    /// Too few runs to train on.
    #[error("{rows} runs are too few to train on (need at least {needed})")]
    TooFewRuns {
        /// Runs given.
        rows: usize,
        /// Runs needed.
        needed: usize,
    },
    /// The runs name no target.
    #[error("no target to train on: name at least one")]
    NoTargets,
    /// Inputs have a different width than the model expects.
    #[error("the model expects {expected} input columns, the data gives {found}")]
    InputMismatch {
        /// Width the model was trained with.
        expected: usize,
        /// Width of the data.
        found: usize,
    },
    /// A checkpoint file is missing, corrupted, truncated or inconsistent with its manifest.
    #[error("checkpoint {path}: {problem}")]
    Checkpoint {
        /// The offending file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// No GP hyperparameters on the grid gave a positive-definite kernel matrix.
    #[error(
        "the GP kernel matrix of target {target} is not positive definite on any grid point (duplicate runs with different outcomes?)"
    )]
    NotPositiveDefinite {
        /// Target index.
        target: usize,
    },
    /// A posterior covariance over a batch could not be factorised for joint sampling.
    #[error("the posterior covariance of target {target} over the batch is not positive definite")]
    SingularCovariance {
        /// Target index.
        target: usize,
    },
    /// A target has one value over every run: there is nothing to learn, and proposals would
    /// rank on noise.
    #[error("target `{target}` has the same value in every run: nothing to learn (drop it)")]
    ConstantTarget {
        /// The target's name.
        target: String,
    },
    /// Device scoring was asked of a model without the GPU kernel.
    #[error("this model has no GPU kernel: it scores through its backend's tensor ops")]
    NoKernel,
    /// The GPU kernel failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The loss became NaN or infinite during training.
    #[error("training diverged at epoch {epoch} (loss {loss}); lower the learning rate")]
    Diverged {
        /// Epoch at which it happened.
        epoch: usize,
        /// The loss value.
        loss: f64,
    },
}

/// `n` mixtures of three domains spread over the simplex by two low-discrepancy sequences
/// (test data).
#[cfg(test)]
pub(crate) fn spread_mixtures(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| {
            let a = (i as f64 * 0.618_034).fract() * 0.9;
            let b = (i as f64 * 0.414_214).fract() * (1.0 - a);
            vec![a, b, 1.0 - a - b]
        })
        .collect()
}

/// Reads a surrogate config from TOML (missing fields take their defaults) and checks it with
/// `validate`.
pub(crate) fn config_from_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    validate: impl Fn(&T) -> Result<(), SurrogateError>,
) -> Result<T, SurrogateError> {
    let config: T = toml::from_str(text).map_err(|e| SurrogateError::Config(e.to_string()))?;
    validate(&config)?;
    Ok(config)
}

/// `fit(t)` for every target `t` in `0..total`, in parallel over targets, telling `observer`
/// from the calling thread as each one finishes. Called from inside a rayon worker (a
/// backtest's job, a calibration fold) it reports nothing: that thread must not wait on the
/// pool it belongs to.
pub(crate) fn map_targets<R: Send>(
    total: usize,
    observer: &mut dyn TrainObserver,
    fit: impl Fn(usize) -> R + Sync,
) -> Vec<R> {
    use rayon::prelude::*;
    if total < 2 || rayon::current_thread_index().is_some() {
        return (0..total).into_par_iter().map(&fit).collect();
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let work = scope.spawn(|| {
            let done_tx = done_tx;
            (0..total)
                .into_par_iter()
                .map(|t| {
                    let result = fit(t);
                    // The receiver lives until every sender is gone.
                    let _ = done_tx.send(());
                    result
                })
                .collect()
        });
        for (done, ()) in done_rx.iter().enumerate() {
            observer.targets(done + 1, total);
        }
        work.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Refuses runs in which a target never varies.
pub(crate) fn check_targets_vary(runs: &Runs) -> Result<(), SurrogateError> {
    for (j, t) in runs.schema.targets.iter().enumerate() {
        let values = runs.outcomes.iter().map(|o| o[j]);
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if hi - lo <= 1e-12 * (1.0 + hi.abs()) {
            return Err(SurrogateError::ConstantTarget {
                target: t.name.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the `targets` calls.
    struct Targets(Vec<(usize, usize)>);

    impl TrainObserver for Targets {
        fn epoch(&mut self, _: &EpochProgress) {}
        fn targets(&mut self, done: usize, total: usize) {
            self.0.push((done, total));
        }
    }

    #[test]
    fn targets_are_fitted_in_order_and_each_finished_one_is_reported() {
        let mut seen = Targets(Vec::new());
        let squares = map_targets(7, &mut seen, |t| t * t);
        assert_eq!(squares, vec![0, 1, 4, 9, 16, 25, 36]);
        assert_eq!(seen.0, (1..=7).map(|d| (d, 7)).collect::<Vec<_>>());
        // Inside a one-thread pool (a backtest's job) it neither blocks nor reports.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut inside = Targets(Vec::new());
        let sums = pool.install(|| map_targets(3, &mut inside, |t| t + 1));
        assert_eq!(sums, vec![1, 2, 3]);
        assert!(inside.0.is_empty());
    }
}
