//! Training the ensemble: bootstrap per member, AdamW, early stopping on a validation split
//! carved from the training rows.

use std::any::TypeId;
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

use crate::runs::Runs;
use crate::surrogate::ensemble::train_host::{FusedTrainer, Snapshot};
use crate::surrogate::metrics::Z90;
use crate::surrogate::{
    EnsembleConfig, EnsembleMlp, Normalizer, Predictor, PredictorMeta, SurrogateError, combine,
};

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

/// Which implementation takes the training steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrainEngine {
    /// The fused CPU trainer on the flex backend when the activation allows
    /// ([`super::FusedTrainer`]), burn's autodiff otherwise.
    #[default]
    Auto,
    /// burn's autodiff and AdamW on every backend (the reference the fused trainer is tested
    /// against).
    Burn,
}

/// Trains an ensemble on `runs` with `config`; `seed` fixes the split, bootstrap resamples,
/// initial weights and batch order, so the same seed gives the same predictor.
pub fn fit<B: AutodiffBackend>(
    runs: &Runs,
    config: &EnsembleConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<Predictor<B::InnerBackend>, SurrogateError> {
    fit_with::<B>(runs, config, seed, device, observer, TrainEngine::Auto)
}

/// [`fit`] with the training steps taken by `engine`.
pub fn fit_with<B: AutodiffBackend>(
    runs: &Runs,
    config: &EnsembleConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
    engine: TrainEngine,
) -> Result<Predictor<B::InnerBackend>, SurrogateError> {
    config.validate()?;
    let targets = runs.schema.targets.len();
    if targets == 0 {
        return Err(SurrogateError::NoTargets);
    }
    const MIN_ROWS: usize = 4;
    if runs.len() < MIN_ROWS {
        return Err(SurrogateError::TooFewRuns {
            rows: runs.len(),
            needed: MIN_ROWS,
        });
    }
    crate::surrogate::check_targets_vary(runs)?;
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
        epistemic_scale: Vec::new(),
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
    let x_host = meta.features(&train.mixtures, &train.context)?;
    let y_host = standardise(&train.outcomes, &meta.target_norm);
    let x_train = Tensor::<B, 2>::from_data(TensorData::new(x_host.clone(), [n, inputs]), device);
    let y_train = Tensor::<B, 2>::from_data(TensorData::new(y_host.clone(), [n, targets]), device);
    let x_val_host = (!val.is_empty()).then(|| {
        meta.features(&val.mixtures, &val.context)
            .expect("validation rows share the training schema")
    });
    let x_val = x_val_host.as_ref().map(|f| {
        Tensor::<B::InnerBackend, 2>::from_data(
            TensorData::new(f.clone(), [val.len(), inputs]),
            device,
        )
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
    // On the flex CPU backend, the fused trainer computes the same steps without burn's
    // per-step graph (module docs of `fused_train`).
    let on_cpu = engine == TrainEngine::Auto
        && TypeId::of::<B::InnerBackend>() == TypeId::of::<burn::backend::Flex>();
    let mut fused = on_cpu
        .then(|| FusedTrainer::new(&model, config.activation, config.heteroscedastic, targets))
        .flatten();
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

    let mut best: (Option<Best<B::InnerBackend>>, usize, f64) = (None, 0, f64::INFINITY);
    for epoch in 1..=config.max_epochs {
        let mut orders = resamples.clone();
        orders.iter_mut().for_each(|o| o.shuffle(&mut rng));
        let mut loss_sum = 0.0;
        let mut steps = 0;
        for start_row in (0..n).step_by(batch) {
            let end = (start_row + batch).min(n);
            let b = end - start_row;
            if let Some(f) = &mut fused {
                let rows: Vec<Vec<usize>> =
                    orders.iter().map(|o| o[start_row..end].to_vec()).collect();
                let value = f.step(
                    &x_host,
                    &y_host,
                    &rows,
                    config.learning_rate,
                    config.weight_decay,
                );
                if !value.is_finite() {
                    return Err(SurrogateError::Diverged { epoch, loss: value });
                }
                loss_sum += value;
                steps += 1;
                continue;
            }
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
                return Err(SurrogateError::Diverged { epoch, loss: value });
            }
            loss_sum += value;
            steps += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model, grads);
        }
        let train_loss = loss_sum / steps as f64;
        let width = *widths.last().expect("an output layer");
        let validation_mse = match (&fused, &x_val, &x_val_host) {
            (Some(f), _, Some(x)) => Some(ensemble_mse(
                &f.forward_shared(x),
                m,
                width,
                &y_val,
                targets,
            )),
            (None, Some(x), _) => {
                let out = model.valid().forward_shared(x.clone(), config.activation);
                let values: Vec<f32> = out.into_data().to_vec().expect("the model outputs f32");
                Some(ensemble_mse(&values, m, width, &y_val, targets))
            }
            _ => None,
        };
        let current = || match &fused {
            Some(f) => Best::Host(f.snapshot()),
            None => Best::Model(model.valid()),
        };
        meta.report.epochs = epoch;
        meta.report.final_train_loss = train_loss;
        observer.epoch(&EpochProgress {
            epoch,
            max_epochs: config.max_epochs,
            train_loss,
            validation_mse,
        });
        match validation_mse {
            Some(v) if v < best.2 => best = (Some(current()), epoch, v),
            Some(_) if epoch - best.1 >= config.patience => break,
            Some(_) => {}
            None => best = (Some(current()), epoch, f64::NAN),
        }
    }
    let (kept, best_epoch, best_mse) = best;
    let model = match kept.expect("max_epochs >= 1 keeps an epoch") {
        Best::Model(model) => model,
        Best::Host(snapshot) => fused
            .as_ref()
            .expect("host snapshots come from the fused trainer")
            .model(&snapshot, device),
    };
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
    let held_out = unseen.iter().any(|u| u.iter().any(|&x| x));
    if !held_out {
        // No held-out rows at all: fall back to training residuals (optimistic).
        unseen.iter_mut().for_each(|u| u.fill(true));
    }
    let all: Vec<usize> = train_rows.iter().chain(&val_rows).copied().collect();
    let (scale, noise) = calibrate(&predictor, &runs.subset(&all), &unseen, held_out);
    predictor.meta.epistemic_scale = scale;
    predictor.meta.noise_var = noise;
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
pub(super) fn member_loss<B: Backend>(
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

/// The parameters of the best epoch so far: burn's model, or the fused trainer's host copy.
enum Best<B: Backend> {
    Model(EnsembleMlp<B>),
    Host(Snapshot),
}

/// MSE of the ensemble mean (first `t` outputs averaged over `m` members) against `y`
/// `[n, t]`; `values` are the member outputs `[m, n, width]`.
fn ensemble_mse(values: &[f32], m: usize, width: usize, y: &[f32], t: usize) -> f64 {
    let n = values.len() / (m * width);
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

/// Epistemic scale and homoscedastic noise per target, calibrated on rows a member did not
/// train on. Each row `i` of `rows` is predicted by the `k_i` members for which
/// `unseen[m][i]` holds (out-of-bag rows of the bootstrap; every member on validation rows),
/// with error `e_i` of their mean. With raw member variance `v_i`, the k-member mean's error
/// variance exceeds the M-member mean's by about `v_i (1/k_i - 1/M)`, so
/// `e_i ~ N(0, c² v_i + v_i (1/k_i - 1/M) + s²)`:
///
/// 1. the **epistemic scale** `c` (member spread multiplier, in [0.25, 10]) maximises that
///    Gaussian likelihood of the held-out errors jointly with `s²` (a log grid over both);
///    without held-out rows (`held_out` false: no bootstrap, no validation) it is 1;
/// 2. the **noise** `s²` is then split-conformal: row `i` is covered by the central 90%
///    interval when `s² >= e_i² / z90² - v_i (c² + 1/k_i - 1/M)`, and `s²` is the 90% quantile
///    of that bound over rows, so the 90% interval covers 90% of held-out rows even when errors
///    are heavier-tailed than Gaussian. Floored at 1e-6 of the target variance.
fn calibrate<B: Backend>(
    predictor: &Predictor<B>,
    rows: &Runs,
    unseen: &[Vec<bool>],
    held_out: bool,
) -> (Vec<f64>, Vec<f64>) {
    let features = predictor
        .meta
        .features(&rows.mixtures, &rows.context)
        .expect("rows share the training schema");
    // Raw member outputs: the scale, being fitted, is not set yet.
    let (means, _) = predictor.member_outputs(&features);
    let t = predictor.meta.targets();
    let m = means.len() as f64;
    let p = combine(&means, None, &vec![0.0; t]);
    let (mut scales, mut noises) = (Vec::with_capacity(t), Vec::with_capacity(t));
    for j in 0..t {
        // (squared error, raw member variance, extra variance of the k-member mean)
        let mut held: Vec<(f64, f64, f64)> = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            let members: Vec<usize> = (0..means.len()).filter(|&k| unseen[k][i]).collect();
            if members.is_empty() {
                continue;
            }
            let k = members.len() as f64;
            let mean = members.iter().map(|&k| means[k][i][j]).sum::<f64>() / k;
            let v = p.epistemic_std[i][j].powi(2);
            held.push((
                (mean - rows.outcomes[i][j]).powi(2),
                v,
                v * (1.0 / k - 1.0 / m),
            ));
        }
        let floor = 1e-6 * predictor.meta.target_norm.std[j].powi(2);
        let c = if held_out && held.len() >= 2 {
            epistemic_scale(&held, floor, predictor.meta.target_norm.std[j].powi(2))
        } else {
            1.0
        };
        let mut needed: Vec<f64> = (held.iter())
            .map(|&(e2, v, extra)| e2 / (Z90 * Z90) - c * c * v - extra)
            .collect();
        needed.sort_by(f64::total_cmp);
        let q = ((0.9 * needed.len() as f64).ceil() as usize).clamp(1, needed.len().max(1)) - 1;
        scales.push(c);
        noises.push(needed.get(q).copied().unwrap_or(floor).max(floor));
    }
    (scales, noises)
}

/// The `c` of [`calibrate`]: maximum likelihood over a log grid of `c` in [0.25, 10] and of
/// `s²` in [floor, variance], for held-out `(e², v, extra)` triples.
fn epistemic_scale(held: &[(f64, f64, f64)], floor: f64, variance: f64) -> f64 {
    const STEPS: usize = 64;
    let grid = |lo: f64, hi: f64, k: usize| lo * (hi / lo).powf(k as f64 / (STEPS - 1) as f64);
    let nll = |c: f64, s2: f64| -> f64 {
        (held.iter())
            .map(|&(e2, v, extra)| {
                let var = (c * c * v + extra + s2).max(1e-300);
                var.ln() + e2 / var
            })
            .sum()
    };
    let mut best = (f64::INFINITY, 1.0);
    for a in 0..STEPS {
        let c = grid(0.25, 10.0, a);
        for b in 0..STEPS {
            let value = nll(c, grid(floor, variance.max(floor * 2.0), b));
            if value < best.0 {
                best = (value, c);
            }
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    /// The two training engines give the same predictor from the same seed: mini-batches,
    /// bootstrap, a validation split with early stopping, 60 epochs.
    #[test]
    fn fused_and_burn_training_give_the_same_predictions() {
        use crate::runs::{Direction, Schema, TargetSpec};
        use crate::space::Space;
        type B = burn::backend::Autodiff<burn::backend::Flex>;
        let names = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let mixtures = crate::surrogate::spread_mixtures(60);
        let runs = Runs {
            schema: Schema {
                space: Space::from_names("s", &names).unwrap(),
                mixture_columns: names.to_vec(),
                context: Vec::new(),
                targets: vec![
                    TargetSpec::new("y", Direction::Lower),
                    TargetSpec::new("z", Direction::Higher),
                ],
            },
            keys: (0..60).map(|i| i.to_string()).collect(),
            outcomes: (mixtures.iter())
                .map(|w| vec![2.0 - w[0] + 0.5 * w[1].sqrt(), (3.0 * w[2]).sin()])
                .collect(),
            context: vec![Vec::new(); 60],
            mixtures,
        };
        let config = EnsembleConfig {
            members: 4,
            hidden: vec![32, 32],
            max_epochs: 60,
            patience: 20,
            batch_size: 16,
            validation_fraction: 0.2,
            ..EnsembleConfig::default()
        };
        let device = Default::default();
        let fused = fit_with::<B>(&runs, &config, 5, &device, &mut (), TrainEngine::Auto).unwrap();
        let burn = fit_with::<B>(&runs, &config, 5, &device, &mut (), TrainEngine::Burn).unwrap();
        assert_eq!(fused.meta.report.best_epoch, burn.meta.report.best_epoch);
        let query = vec![
            vec![0.2, 0.3, 0.5],
            vec![0.7, 0.1, 0.2],
            vec![0.05, 0.9, 0.05],
        ];
        let context = vec![Vec::new(); 3];
        let a = fused.predict(&query, &context).unwrap();
        let b = burn.predict(&query, &context).unwrap();
        let pairs = (a.mean.iter().flatten().zip(b.mean.iter().flatten()))
            .chain(
                a.epistemic_std
                    .iter()
                    .flatten()
                    .zip(b.epistemic_std.iter().flatten()),
            )
            .chain(
                a.aleatoric_std
                    .iter()
                    .flatten()
                    .zip(b.aleatoric_std.iter().flatten()),
            );
        for (x, y) in pairs {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "fused {x} vs burn {y}"
            );
        }
    }

    #[test]
    fn the_epistemic_scale_recovers_the_spread_that_generated_the_errors() {
        let mut rng = StdRng::seed_from_u64(3);
        for c in [0.5, 1.0, 3.0] {
            let held: Vec<(f64, f64, f64)> = (0..3000)
                .map(|i| {
                    let v = 0.2 + (i % 10) as f64 / 5.0;
                    let z: f64 = StandardNormal.sample(&mut rng);
                    ((z * (c * c * v + 0.1f64).sqrt()).powi(2), v, 0.0)
                })
                .collect();
            let fitted = epistemic_scale(&held, 1e-6, 10.0);
            assert!((fitted / c - 1.0).abs() < 0.15, "{fitted} for {c}");
        }
    }
}
