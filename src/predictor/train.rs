//! Training the ensemble: bootstrap per member, AdamW, early stopping on a validation split
//! carved from the training rows.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::softplus;
use burn::tensor::backend::AutodiffBackend;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::predictor::metrics::Z90;
use crate::predictor::{
    EnsembleConfig, EnsembleMlp, Normalizer, Predictor, PredictorError, PredictorMeta, combine,
};
use crate::runs::Runs;

/// What happened during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Rows used for gradient steps.
    pub train_rows: usize,
    /// Rows held out for early stopping and the noise estimate.
    pub validation_rows: usize,
    /// Epochs run before stopping.
    pub epochs: usize,
    /// Epoch whose weights were kept (1-based).
    pub best_epoch: usize,
    /// Validation MSE of the ensemble mean at `best_epoch`, in standardised target units
    /// (averaged over targets); `None` without a validation split.
    pub best_validation_mse: Option<f64>,
    /// Training loss of the last epoch (MSE or NLL, standardised units, mean over members).
    pub final_train_loss: f64,
    /// Wall-clock training time in seconds.
    pub seconds: f64,
}

/// Progress of one epoch, handed to a [`TrainObserver`].
#[derive(Debug, Clone, Copy)]
pub struct EpochProgress {
    /// 1-based epoch.
    pub epoch: usize,
    /// Upper bound on epochs.
    pub max_epochs: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Validation MSE of the ensemble mean, standardised units.
    pub validation_mse: Option<f64>,
}

/// Receives progress during training (the CLI turns it into a progress bar).
pub trait TrainObserver {
    /// Called after every epoch.
    fn epoch(&mut self, progress: &EpochProgress);
    /// Called when a new model starts training, e.g. `fold 2/5`.
    fn stage(&mut self, _label: &str) {}
}

impl TrainObserver for () {
    fn epoch(&mut self, _: &EpochProgress) {}
}

/// Trains an ensemble on `runs` with `config`; `seed` fixes the split, bootstrap resamples,
/// initial weights and batch order, so the same seed gives the same predictor.
pub fn fit<B: AutodiffBackend>(
    runs: &Runs,
    config: &EnsembleConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<Predictor<B::InnerBackend>, PredictorError> {
    config.validate()?;
    let targets = runs.schema.targets.len();
    if targets == 0 {
        return Err(PredictorError::NoTargets);
    }
    const MIN_ROWS: usize = 4;
    if runs.len() < MIN_ROWS {
        return Err(PredictorError::TooFewRuns {
            rows: runs.len(),
            needed: MIN_ROWS,
        });
    }
    super::check_targets_vary(runs)?;
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let (train_rows, val_rows) = split(runs.len(), config.validation_fraction, &mut rng);
    let train = runs.subset(&train_rows);
    let val = runs.subset(&val_rows);

    let mut meta = PredictorMeta {
        schema: runs.schema.clone(),
        config: config.clone(),
        seed,
        input_norm: Normalizer {
            mean: Vec::new(),
            std: Vec::new(),
        },
        target_norm: Normalizer::fit(&train.outcomes),
        noise_var: vec![0.0; targets],
        report: TrainReport {
            train_rows: train.len(),
            validation_rows: val.len(),
            epochs: 0,
            best_epoch: 0,
            best_validation_mse: None,
            final_train_loss: f64::NAN,
            seconds: 0.0,
        },
        selection: None,
    };
    let raw_inputs: Vec<Vec<f64>> = train
        .mixtures
        .iter()
        .zip(&train.context)
        .map(|(w, c)| meta.raw_inputs(w, c))
        .collect();
    meta.input_norm = Normalizer::fit(&raw_inputs);
    let inputs = meta.inputs();
    let n = train.len();
    let x_train = Tensor::<B, 2>::from_data(
        TensorData::new(meta.features(&train.mixtures, &train.context)?, [n, inputs]),
        device,
    );
    let y_train = Tensor::<B, 2>::from_data(
        TensorData::new(
            standardise(&train.outcomes, &meta.target_norm),
            [n, targets],
        ),
        device,
    );
    let x_val = (!val.is_empty()).then(|| {
        let f = meta
            .features(&val.mixtures, &val.context)
            .expect("validation rows share the training schema");
        Tensor::<B::InnerBackend, 2>::from_data(TensorData::new(f, [val.len(), inputs]), device)
    });
    let y_val: Vec<f32> = standardise(&val.outcomes, &meta.target_norm);

    let m = config.members;
    let mut widths = vec![inputs];
    widths.extend(&config.hidden);
    widths.push(if config.heteroscedastic {
        2 * targets
    } else {
        targets
    });
    let mut model = EnsembleMlp::<B>::init(m, &widths, &mut rng, device);
    let resamples: Vec<Vec<usize>> = (0..m)
        .map(|_| {
            if config.bootstrap {
                (0..n).map(|_| rng.random_range(0..n)).collect()
            } else {
                (0..n).collect()
            }
        })
        .collect();
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .init();
    let batch = if config.batch_size == 0 {
        n
    } else {
        config.batch_size.min(n)
    };

    let mut best = (model.valid(), 0usize, f64::INFINITY);
    for epoch in 1..=config.max_epochs {
        let mut orders = resamples.clone();
        orders.iter_mut().for_each(|o| o.shuffle(&mut rng));
        let mut loss_sum = 0.0;
        let mut steps = 0;
        for start_row in (0..n).step_by(batch) {
            let end = (start_row + batch).min(n);
            let b = end - start_row;
            let idx: Vec<i64> = orders
                .iter()
                .flat_map(|o| o[start_row..end].iter().map(|&i| i as i64))
                .collect();
            let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [m * b]), device);
            let x = x_train
                .clone()
                .select(0, idx.clone())
                .reshape([m, b, inputs]);
            let y = y_train.clone().select(0, idx).reshape([m, b, targets]);
            let out = model.forward(x, config.activation);
            let loss = member_loss(out, y, targets, config.heteroscedastic).mul_scalar(m as f64);
            let value = f64::from(loss.clone().into_scalar().elem::<f32>()) / m as f64;
            if !value.is_finite() {
                return Err(PredictorError::Diverged { epoch, loss: value });
            }
            loss_sum += value;
            steps += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model, grads);
        }
        let train_loss = loss_sum / steps as f64;
        let validation_mse = x_val.as_ref().map(|x| {
            let valid = model.valid();
            let out = valid.forward_shared(x.clone(), config.activation);
            ensemble_mse(out, &y_val, targets)
        });
        meta.report.epochs = epoch;
        meta.report.final_train_loss = train_loss;
        observer.epoch(&EpochProgress {
            epoch,
            max_epochs: config.max_epochs,
            train_loss,
            validation_mse,
        });
        match validation_mse {
            Some(v) if v < best.2 => best = (model.valid(), epoch, v),
            Some(_) if epoch - best.1 >= config.patience => break,
            Some(_) => {}
            None => best = (model.valid(), epoch, f64::NAN),
        }
    }
    let (model, best_epoch, best_mse) = best;
    meta.report.best_epoch = best_epoch;
    meta.report.best_validation_mse = best_mse.is_finite().then_some(best_mse);
    let mut predictor = Predictor::new(model, meta, device.clone());
    // Rows no member trained on (validation) or some members did not (out of bag).
    let mut unseen: Vec<Vec<bool>> = resamples
        .iter()
        .map(|r| {
            let mut out = vec![true; n];
            r.iter().for_each(|&i| out[i] = false);
            out.extend(std::iter::repeat_n(true, val.len()));
            out
        })
        .collect();
    if unseen.iter().all(|u| u.iter().all(|&x| !x)) {
        // No held-out rows at all: fall back to training residuals (optimistic).
        unseen.iter_mut().for_each(|u| u.fill(true));
    }
    let all: Vec<usize> = train_rows.iter().chain(&val_rows).copied().collect();
    predictor.meta.noise_var = noise_variance(&predictor, &runs.subset(&all), &unseen);
    predictor.meta.report.seconds = start.elapsed().as_secs_f64();
    Ok(predictor)
}

/// Shuffled `(train, validation)` row indices with `round(fraction * n)` validation rows,
/// keeping at least two training rows.
fn split(n: usize, fraction: f64, rng: &mut StdRng) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let n_val = ((fraction * n as f64).round() as usize).min(n - 2);
    let val = order.split_off(n - n_val);
    (order, val)
}

fn standardise(rows: &[Vec<f64>], norm: &Normalizer) -> Vec<f32> {
    rows.iter()
        .flat_map(|r| {
            r.iter()
                .enumerate()
                .map(|(j, &y)| ((y - norm.mean[j]) / norm.std[j]) as f32)
        })
        .collect()
}

/// Mean loss per member, summed over members: `out` is `[M, b, width]`, `y` `[M, b, t]`.
fn member_loss<B: Backend>(
    out: Tensor<B, 3>,
    y: Tensor<B, 3>,
    t: usize,
    hetero: bool,
) -> Tensor<B, 1> {
    let [m, b, _] = out.dims();
    if !hetero {
        return (out - y).powi_scalar(2).mean();
    }
    let mu = out.clone().slice([0..m, 0..b, 0..t]);
    let var = softplus(out.slice([0..m, 0..b, t..2 * t]), 1.0).add_scalar(1e-6);
    // Gaussian NLL without the constant: (ln var + (y - mu)^2 / var) / 2.
    (var.clone().log() + (y - mu).powi_scalar(2) / var)
        .mean()
        .mul_scalar(0.5)
}

/// MSE of the ensemble mean (first `t` outputs averaged over members) against `y` `[n, t]`.
fn ensemble_mse<B: Backend>(out: Tensor<B, 3>, y: &[f32], t: usize) -> f64 {
    let [m, n, width] = out.dims();
    let values: Vec<f32> = out.into_data().to_vec().expect("the model outputs f32");
    let mut sse = 0.0;
    for i in 0..n {
        for j in 0..t {
            let mean = (0..m)
                .map(|k| f64::from(values[(k * n + i) * width + j]))
                .sum::<f64>()
                / m as f64;
            sse += (mean - f64::from(y[i * t + j])).powi(2);
        }
    }
    sse / (n * t) as f64
}

/// Homoscedastic noise per target, calibrated on rows a member did not train on. Each row `i`
/// of `rows` is predicted by the `k_i` members for which `unseen[m][i]` holds (out-of-bag
/// rows of the bootstrap; every member on validation rows). With member variance `v_i` (the
/// epistemic variance), the k-member mean's error variance exceeds the M-member mean's by
/// about `v_i (1/k_i - 1/M)`, so row `i` is covered by the central 90% interval of the full
/// ensemble when `noise² >= err_i² / z90² - v_i (1 + 1/k_i - 1/M)`. The noise is the 90%
/// quantile of that bound over rows: a split-conformal choice that makes the 90% interval
/// cover 90% of held-out rows even when errors are heavier-tailed than Gaussian (matching the
/// mean squared error instead over-covers then). Floored at 1e-6 of the target variance so
/// that intervals never collapse.
fn noise_variance<B: Backend>(
    predictor: &Predictor<B>,
    rows: &Runs,
    unseen: &[Vec<bool>],
) -> Vec<f64> {
    let features = predictor
        .meta
        .features(&rows.mixtures, &rows.context)
        .expect("rows share the training schema");
    let (means, _) = predictor.member_outputs(&features);
    let t = predictor.meta.targets();
    let m = means.len() as f64;
    let p = combine(&means, None, &vec![0.0; t]);
    (0..t)
        .map(|j| {
            let mut needed = Vec::with_capacity(rows.len());
            for i in 0..rows.len() {
                let members: Vec<usize> = (0..means.len()).filter(|&k| unseen[k][i]).collect();
                if members.is_empty() {
                    continue;
                }
                let k = members.len() as f64;
                let mean = members.iter().map(|&k| means[k][i][j]).sum::<f64>() / k;
                let v = p.epistemic_std[i][j].powi(2);
                let err2 = (mean - rows.outcomes[i][j]).powi(2);
                needed.push(err2 / (Z90 * Z90) - v * (1.0 + 1.0 / k - 1.0 / m));
            }
            let floor = 1e-6 * predictor.meta.target_norm.std[j].powi(2);
            needed.sort_by(f64::total_cmp);
            let q = ((0.9 * needed.len() as f64).ceil() as usize).clamp(1, needed.len().max(1)) - 1;
            needed.get(q).copied().unwrap_or(floor).max(floor)
        })
        .collect()
}
