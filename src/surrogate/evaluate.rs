//! Held-out evaluation and k-fold cross-validation.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::runs::{Runs, kfold};
use crate::surrogate::metrics::{TargetMetrics, score};
use crate::surrogate::{Fitted, Posterior, SurrogateError, SurrogateSpec, TrainObserver};

/// Predictions for evaluated runs, aligned with them, and the scores per target.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Run keys, `[n]`.
    pub keys: Vec<String>,
    /// Fold that predicted each run (0 for a held-out file), `[n]`.
    pub fold: Vec<usize>,
    /// Observed outcomes, `[n][targets]`.
    pub truth: Vec<Vec<f64>>,
    /// The predictions, `[n, targets]`, without member outputs.
    pub prediction: Posterior,
    /// One entry per target.
    pub metrics: Vec<TargetMetrics>,
}

impl Evaluation {
    fn new(runs: &Runs, fold: Vec<usize>, prediction: Posterior) -> Self {
        let metrics = runs
            .schema
            .targets
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let mean = prediction.column(&prediction.mean, j);
                let std: Vec<f64> = (0..runs.len())
                    .map(|i| prediction.total_std(i, j))
                    .collect();
                score(&t.name, &mean, &std, &runs.target(j))
            })
            .collect();
        Evaluation {
            keys: runs.keys.clone(),
            fold,
            truth: runs.outcomes.clone(),
            prediction,
            metrics,
        }
    }
}

/// Scores `model` on held-out `runs` (read with the model's schema).
pub fn evaluate<B: Backend>(model: &Fitted<B>, runs: &Runs) -> Result<Evaluation, SurrogateError> {
    let mut prediction = model.predict(&runs.mixtures, &runs.context)?;
    prediction.members = None;
    Ok(Evaluation::new(runs, vec![0; runs.len()], prediction))
}

/// k-fold cross-validation: each fold's model (an ensemble with its own early-stopping split,
/// or a GP) is fitted on the other folds only; returns the out-of-fold predictions for every
/// run. Fold `f` trains with seed `seed + f`.
pub fn cross_validate<B: AutodiffBackend>(
    runs: &Runs,
    spec: &SurrogateSpec,
    folds: usize,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<Evaluation, SurrogateError> {
    if folds < 2 || folds > runs.len() {
        return Err(SurrogateError::Config(format!(
            "--folds must lie in [2, {}] (the number of runs)",
            runs.len()
        )));
    }
    let mut fold_of = vec![0; runs.len()];
    let (mut parts, mut order) = (Vec::with_capacity(folds), Vec::with_capacity(folds));
    let mut rng = StdRng::seed_from_u64(seed);
    for (f, (train, test)) in kfold(runs.len(), folds, &mut rng).into_iter().enumerate() {
        observer.stage(&format!("fold {}/{folds}", f + 1));
        let model = spec.fit::<B>(&runs.subset(&train), seed + f as u64, device, observer)?;
        let model = model.with_fused_cpu();
        let held = runs.subset(&test);
        parts.push(model.predict(&held.mixtures, &held.context)?);
        test.iter().for_each(|&row| fold_of[row] = f);
        order.push(test);
    }
    let oof = Posterior::gather(&parts, &order, runs.len(), runs.schema.targets.len());
    Ok(Evaluation::new(runs, fold_of, oof))
}
