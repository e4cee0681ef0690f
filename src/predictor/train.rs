//! Training the ensemble: bootstrap per member, AdamW, early stopping on a validation split
//! carved from the training rows.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::softplus;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

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
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let (train_rows, val_rows) = split(runs.len(), config.validation_fraction, &mut rng);
    let train = runs.subset(&train_rows);
    let val = runs.subset(&val_rows);

    let raw_inputs: Vec<Vec<f64>> = train
        .mixtures
        .iter()
        .zip(&train.context)
        .map(|(w, c)| {
            w.iter()
                .map(|&x| config.input_transform.apply(x))
                .chain(c.iter().copied())
                .collect()
        })
        .collect();
    let mut meta = PredictorMeta {
        schema: runs.schema.clone(),
        config: config.clone(),
        seed,
        input_norm: Normalizer::fit(&raw_inputs),
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
    };
    let inputs = meta.inputs();
    let n = train.len();
    let x_train = Tensor::<B, 2>::from_data(
        TensorData::new(meta.features(&train.mixtures, &train.context)?, [n, inputs]),
        device,
    );
    let y_train = Tensor::<B, 2>::from_data(
        TensorData::new(standardise(&train.outcomes, &meta.target_norm), [n, targets]),
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
    widths.push(if config.heteroscedastic { 2 * targets } else { targets });
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
    let batch = if config.batch_size == 0 { n } else { config.batch_size.min(n) };

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
            let x = x_train.clone().select(0, idx.clone()).reshape([m, b, inputs]);
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
    predictor.meta.noise_var = noise_variance(&predictor, if val.is_empty() { &train } else { &val });
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
fn member_loss<B: Backend>(out: Tensor<B, 3>, y: Tensor<B, 3>, t: usize, hetero: bool) -> Tensor<B, 1> {
    let [m, b, _] = out.dims();
    if !hetero {
        return (out - y).powi_scalar(2).mean();
    }
    let mu = out.clone().slice([0..m, 0..b, 0..t]);
    let var = softplus(out.slice([0..m, 0..b, t..2 * t]), 1.0).add_scalar(1e-6);
    // Gaussian NLL without the constant: (ln var + (y - mu)^2 / var) / 2.
    (var.clone().log() + (y - mu).powi_scalar(2) / var).mean().mul_scalar(0.5)
}

/// MSE of the ensemble mean (first `t` outputs averaged over members) against `y` `[n, t]`.
fn ensemble_mse<B: Backend>(out: Tensor<B, 3>, y: &[f32], t: usize) -> f64 {
    let [m, n, width] = out.dims();
    let values: Vec<f32> = out.into_data().to_vec().expect("the model outputs f32");
    let mut sse = 0.0;
    for i in 0..n {
        for j in 0..t {
            let mean = (0..m).map(|k| f64::from(values[(k * n + i) * width + j])).sum::<f64>() / m as f64;
            sse += (mean - f64::from(y[i * t + j])).powi(2);
        }
    }
    sse / (n * t) as f64
}

/// Homoscedastic noise per target: held-out MSE of the ensemble mean minus its mean epistemic
/// variance (what the ensemble spread does not explain), floored at 1e-6 of the target
/// variance so that intervals never collapse.
fn noise_variance<B: Backend>(predictor: &Predictor<B>, held_out: &Runs) -> Vec<f64> {
    let features = predictor
        .meta
        .features(&held_out.mixtures, &held_out.context)
        .expect("held-out rows share the training schema");
    let (means, _) = predictor.member_outputs(&features);
    let t = predictor.meta.targets();
    let p = combine(&means, None, &vec![0.0; t]);
    let n = held_out.len() as f64;
    (0..t)
        .map(|j| {
            let mse = p.mean.iter().zip(&held_out.outcomes).map(|(m, y)| (m[j] - y[j]).powi(2)).sum::<f64>() / n;
            let epi = p.epistemic_std.iter().map(|s| s[j] * s[j]).sum::<f64>() / n;
            let floor = 1e-6 * predictor.meta.target_norm.std[j].powi(2);
            (mse - epi).max(floor)
        })
        .collect()
}
