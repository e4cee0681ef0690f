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

use crate::math::derive_seed;
use crate::runs::Runs;
use crate::surrogate::ensemble::train_host::{FusedTrainer, Snapshot};
use crate::surrogate::gp;
use crate::surrogate::metrics::Z90;
use crate::surrogate::{
    EnsembleConfig, EnsembleMlp, Normalizer, Predictor, PredictorMeta, SurrogateError,
    member_moments,
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
    /// Called as a GP or mixing law finishes its targets one by one: `done` of `total`.
    fn targets(&mut self, _done: usize, _total: usize) {}
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

/// [`fit`] with the training steps taken by `engine`: the data prepared once, the epochs run
/// over a step engine (`StepEngine`), then the spread and noise calibrated on held-out rows.
pub fn fit_with<B: AutodiffBackend>(
    runs: &Runs,
    config: &EnsembleConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
    engine: TrainEngine,
) -> Result<Predictor<B::InnerBackend>, SurrogateError> {
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = Prepared::new(runs, config, seed, &mut rng)?;
    let model = EnsembleMlp::<B>::init(config.members, &data.widths, &mut rng, device);
    // Drawn after the initial weights, as every earlier version did: same seed, same model.
    data.resamples = (0..config.members)
        .map(|_| match config.bootstrap {
            true => (0..data.n())
                .map(|_| rng.random_range(0..data.n()))
                .collect(),
            false => (0..data.n()).collect(),
        })
        .collect();
    // On the flex CPU backend, the host engine computes the same steps without burn's
    // per-step graph (module docs of `train_host`).
    let on_cpu = engine == TrainEngine::Auto
        && TypeId::of::<B::InnerBackend>() == TypeId::of::<burn::backend::Flex>();
    let host = on_cpu
        .then(|| {
            FusedTrainer::new(
                &model,
                config.activation,
                config.heteroscedastic,
                data.targets,
            )
        })
        .flatten();
    let (model, meta) = match host {
        Some(trainer) => {
            let mut engine = HostEngine {
                trainer,
                data: &data,
            };
            let (kept, meta) = run_epochs(&mut engine, &data, &mut rng, observer)?;
            (engine.trainer.model(&kept, device), meta)
        }
        None => {
            let mut engine = BurnEngine::new(model, &data, device);
            run_epochs(&mut engine, &data, &mut rng, observer)?
        }
    };
    let mut predictor = Predictor::new(model, meta, device.clone());
    // Heteroscedastic members predict their own noise; the homoscedastic noise is estimated
    // apart from the members (an ARD GP on up to 256 runs per target).
    let independent = (!config.heteroscedastic)
        .then(|| gp::noise_variance(runs, derive_seed(seed, 0x4015e)))
        .flatten();
    let (scale, noise) = calibrate_held_out(&predictor, runs, &data, independent.as_deref());
    predictor.meta.epistemic_scale = scale;
    predictor.meta.noise_var = noise;
    predictor.meta.report.seconds = start.elapsed().as_secs_f64();
    Ok(predictor)
}

/// Everything training reads, prepared once: the split, the metadata (normalisation fitted on
/// the training rows), standardised features and targets, bootstrap resamples, layer widths.
struct Prepared {
    meta: PredictorMeta,
    train_rows: Vec<usize>,
    val_rows: Vec<usize>,
    /// Standardised training features `[n, inputs]` and targets `[n, targets]`.
    x: Vec<f32>,
    y: Vec<f32>,
    /// Standardised validation features and targets, when there is a validation split.
    x_val: Option<Vec<f32>>,
    y_val: Vec<f32>,
    /// Each member's training rows (a bootstrap resample, or every row), `[M][n]`; drawn by
    /// [`fit_with`] after the initial weights.
    resamples: Vec<Vec<usize>>,
    widths: Vec<usize>,
    targets: usize,
    batch: usize,
}

impl Prepared {
    fn new(
        runs: &Runs,
        config: &EnsembleConfig,
        seed: u64,
        rng: &mut StdRng,
    ) -> Result<Self, SurrogateError> {
        config.validate()?;
        let targets = runs.schema.targets.len();
        if targets == 0 {
            return Err(SurrogateError::NoTargets);
        }
        const MIN_ROWS: usize = 4;
        if runs.len() < MIN_ROWS {
            let rows = runs.len();
            return Err(SurrogateError::TooFewRuns {
                rows,
                needed: MIN_ROWS,
            });
        }
        crate::surrogate::check_targets_vary(runs)?;
        let (train_rows, val_rows) = split(runs.len(), config.validation_fraction, rng);
        let (train, val) = (runs.subset(&train_rows), runs.subset(&val_rows));
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
            trained_on: Some(crate::surrogate::TrainingRows::of(runs)),
        };
        let raw: Vec<Vec<f64>> = (train.mixtures.iter().zip(&train.context))
            .map(|(w, c)| meta.raw_inputs(w, c))
            .collect();
        meta.input_norm = Normalizer::fit(&raw);
        let n = train.len();
        let x = meta.features(&train.mixtures, &train.context)?;
        let y = standardise(&train.outcomes, &meta.target_norm);
        let x_val = (!val.is_empty())
            .then(|| meta.features(&val.mixtures, &val.context))
            .transpose()?;
        let y_val = standardise(&val.outcomes, &meta.target_norm);
        let mut widths = vec![meta.inputs()];
        widths.extend(&config.hidden);
        widths.push(if config.heteroscedastic {
            2 * targets
        } else {
            targets
        });
        let batch = match config.batch_size {
            0 => n,
            b => b.min(n),
        };
        Ok(Prepared {
            meta,
            train_rows,
            val_rows,
            x,
            y,
            x_val,
            y_val,
            resamples: Vec::new(),
            widths,
            targets,
            batch,
        })
    }

    fn config(&self) -> &EnsembleConfig {
        &self.meta.config
    }

    /// Training rows.
    fn n(&self) -> usize {
        self.train_rows.len()
    }
}

/// Takes the training steps of one ensemble: burn's autodiff and AdamW ([`BurnEngine`]) or
/// the fused host trainer ([`HostEngine`]), which compute the same steps.
trait StepEngine {
    /// What is kept of the best epoch.
    type Kept;
    /// One optimiser step, member `m` on its rows `rows[m]`; the loss (standardised units,
    /// mean over members).
    fn step(&mut self, rows: &[Vec<usize>]) -> f64;
    /// Member outputs on the validation rows `[M, n_val, width]` flat, when there are any.
    fn validation_outputs(&self) -> Option<Vec<f32>>;
    /// The current weights.
    fn keep(&self) -> Self::Kept;
}

/// Runs the epochs with early stopping on the validation MSE of the ensemble mean; returns the
/// kept weights and the metadata with the training report filled in.
fn run_epochs<E: StepEngine>(
    engine: &mut E,
    data: &Prepared,
    rng: &mut StdRng,
    observer: &mut dyn TrainObserver,
) -> Result<(E::Kept, PredictorMeta), SurrogateError> {
    let config = data.config();
    let (m, n, width) = (
        config.members,
        data.n(),
        *data.widths.last().expect("an output layer"),
    );
    let mut meta = data.meta.clone();
    let mut best: (Option<E::Kept>, usize, f64) = (None, 0, f64::INFINITY);
    for epoch in 1..=config.max_epochs {
        let mut orders = data.resamples.clone();
        orders.iter_mut().for_each(|o| o.shuffle(rng));
        let mut loss_sum = 0.0;
        let mut steps = 0;
        for start_row in (0..n).step_by(data.batch) {
            let end = (start_row + data.batch).min(n);
            let rows: Vec<Vec<usize>> = orders.iter().map(|o| o[start_row..end].to_vec()).collect();
            let value = engine.step(&rows);
            if !value.is_finite() {
                return Err(SurrogateError::Diverged { epoch, loss: value });
            }
            loss_sum += value;
            steps += 1;
        }
        let train_loss = loss_sum / steps as f64;
        let validation_mse = (engine.validation_outputs())
            .map(|out| ensemble_mse(&out, m, width, &data.y_val, data.targets));
        meta.report.epochs = epoch;
        meta.report.final_train_loss = train_loss;
        let max_epochs = config.max_epochs;
        observer.epoch(&EpochProgress {
            epoch,
            max_epochs,
            train_loss,
            validation_mse,
        });
        match validation_mse {
            Some(v) if v < best.2 => best = (Some(engine.keep()), epoch, v),
            Some(_) if epoch - best.1 >= config.patience => break,
            Some(_) => {}
            None => best = (Some(engine.keep()), epoch, f64::NAN),
        }
    }
    let (kept, best_epoch, best_mse) = best;
    meta.report.best_epoch = best_epoch;
    meta.report.best_validation_mse = best_mse.is_finite().then_some(best_mse);
    Ok((kept.expect("max_epochs >= 1 keeps an epoch"), meta))
}

/// burn's autodiff and AdamW, on any backend.
struct BurnEngine<B: AutodiffBackend> {
    model: EnsembleMlp<B>,
    optim: burn::optim::adaptor::OptimizerAdaptor<burn::optim::AdamW, EnsembleMlp<B>, B>,
    x: Tensor<B, 2>,
    y: Tensor<B, 2>,
    x_val: Option<Tensor<B::InnerBackend, 2>>,
    config: EnsembleConfig,
    targets: usize,
    device: B::Device,
}

impl<B: AutodiffBackend> BurnEngine<B> {
    fn new(model: EnsembleMlp<B>, data: &Prepared, device: &B::Device) -> Self {
        let (n, inputs, t) = (data.n(), data.widths[0], data.targets);
        let x_val = data.x_val.as_ref().map(|f| {
            let rows = f.len() / inputs;
            Tensor::from_data(TensorData::new(f.clone(), [rows, inputs]), device)
        });
        BurnEngine {
            model,
            optim: AdamWConfig::new()
                .with_weight_decay(data.config().weight_decay as f32)
                .init(),
            x: Tensor::from_data(TensorData::new(data.x.clone(), [n, inputs]), device),
            y: Tensor::from_data(TensorData::new(data.y.clone(), [n, t]), device),
            x_val,
            config: data.config().clone(),
            targets: t,
            device: device.clone(),
        }
    }
}

impl<B: AutodiffBackend> StepEngine for BurnEngine<B> {
    type Kept = EnsembleMlp<B::InnerBackend>;

    fn step(&mut self, rows: &[Vec<usize>]) -> f64 {
        let (m, b, inputs) = (rows.len(), rows[0].len(), self.x.dims()[1]);
        let idx: Vec<i64> = rows.iter().flatten().map(|&i| i as i64).collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [m * b]), &self.device);
        let x = self
            .x
            .clone()
            .select(0, idx.clone())
            .reshape([m, b, inputs]);
        let y = self.y.clone().select(0, idx).reshape([m, b, self.targets]);
        let out = self.model.forward(x, self.config.activation);
        let hetero = self.config.heteroscedastic;
        let loss = member_loss(out, y, self.targets, hetero).mul_scalar(m as f64);
        let value = f64::from(loss.clone().into_scalar().elem::<f32>()) / m as f64;
        if value.is_finite() {
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            let model = self.model.clone();
            self.model = self.optim.step(self.config.learning_rate, model, grads);
        }
        value
    }

    fn validation_outputs(&self) -> Option<Vec<f32>> {
        let x = self.x_val.as_ref()?;
        let out = self
            .model
            .valid()
            .forward_shared(x.clone(), self.config.activation);
        Some(out.into_data().to_vec().expect("the model outputs f32"))
    }

    fn keep(&self) -> Self::Kept {
        self.model.valid()
    }
}

/// The fused host trainer on the flex CPU backend.
struct HostEngine<'a> {
    trainer: FusedTrainer,
    data: &'a Prepared,
}

impl StepEngine for HostEngine<'_> {
    type Kept = Snapshot;

    fn step(&mut self, rows: &[Vec<usize>]) -> f64 {
        let config = self.data.config();
        let (lr, wd) = (config.learning_rate, config.weight_decay);
        self.trainer.step(&self.data.x, &self.data.y, rows, lr, wd)
    }

    fn validation_outputs(&self) -> Option<Vec<f32>> {
        Some(self.trainer.forward_shared(self.data.x_val.as_ref()?))
    }

    fn keep(&self) -> Self::Kept {
        self.trainer.snapshot()
    }
}

/// The epistemic scale and noise of [`calibrate`], on the rows no member trained on
/// (validation) or some members did not (out of bag).
fn calibrate_held_out<B: Backend>(
    predictor: &Predictor<B>,
    runs: &Runs,
    data: &Prepared,
    noise: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>) {
    let n = data.n();
    let mut unseen: Vec<Vec<bool>> = (data.resamples.iter())
        .map(|r| {
            let mut out = vec![true; n];
            r.iter().for_each(|&i| out[i] = false);
            out.extend(std::iter::repeat_n(true, data.val_rows.len()));
            out
        })
        .collect();
    let held_out = unseen.iter().any(|u| u.iter().any(|&x| x));
    if !held_out {
        // No held-out rows at all: fall back to training residuals (optimistic).
        unseen.iter_mut().for_each(|u| u.fill(true));
    }
    let all: Vec<usize> = data
        .train_rows
        .iter()
        .chain(&data.val_rows)
        .copied()
        .collect();
    calibrate(predictor, &runs.subset(&all), &unseen, held_out, noise)
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
///    Gaussian likelihood of the held-out errors with `s²` fixed at `noise`, the noise an ARD
///    GP's marginal likelihood finds in the runs ([`gp::noise_variance`]). Fitting `c` and `s²`
///    jointly cannot tell them apart on a few dozen runs, where bootstrap members fit the noise
///    differently: all of it went into `c` (an aleatoric std of 0.0001 for noise of sd 0.02 on
///    40 runs). Without that estimate the two are fitted jointly; without held-out rows
///    (`held_out` false: no bootstrap, no validation) `c` is 1;
/// 2. the **noise** `s²` is then split-conformal: row `i` is covered by the central 90%
///    interval when `s² >= e_i² / z90² - v_i (c² + 1/k_i - 1/M)`, and `s²` is the 90% quantile
///    of that bound over rows, so the 90% interval covers 90% of held-out rows even when errors
///    are heavier-tailed than Gaussian; it is at least the independent estimate `noise` and
///    1e-6 of the target variance.
fn calibrate<B: Backend>(
    predictor: &Predictor<B>,
    rows: &Runs,
    unseen: &[Vec<bool>],
    held_out: bool,
    noise: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>) {
    let features = predictor
        .meta
        .features(&rows.mixtures, &rows.context)
        .expect("rows share the training schema");
    // Raw member outputs: the scale, being fitted, is not set yet.
    let (means, _) = predictor.member_outputs(&features);
    let (t, n, members) = (
        predictor.meta.targets(),
        rows.len(),
        predictor.model.members(),
    );
    let m = members as f64;
    let (_, variance) = member_moments(&means, members);
    let (mut scales, mut noises) = (Vec::with_capacity(t), Vec::with_capacity(t));
    for j in 0..t {
        // (squared error, raw member variance, extra variance of the k-member mean)
        let mut held: Vec<(f64, f64, f64)> = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            let unseen_by: Vec<usize> = (0..members).filter(|&k| unseen[k][i]).collect();
            if unseen_by.is_empty() {
                continue;
            }
            let k = unseen_by.len() as f64;
            let mean = unseen_by
                .iter()
                .map(|&k| means[(k * n + i) * t + j])
                .sum::<f64>()
                / k;
            let v = variance[i * t + j];
            held.push((
                (mean - rows.outcomes[i][j]).powi(2),
                v,
                v * (1.0 / k - 1.0 / m),
            ));
        }
        let variance = predictor.meta.target_norm.std[j].powi(2);
        let floor = 1e-6 * variance;
        let c = if held_out && held.len() >= 2 {
            let s2 = noise.map(|s2| s2[j].clamp(floor, variance));
            epistemic_scale(&held, s2, floor, variance)
        } else {
            1.0
        };
        let mut needed: Vec<f64> = (held.iter())
            .map(|&(e2, v, extra)| e2 / (Z90 * Z90) - c * c * v - extra)
            .collect();
        needed.sort_by(f64::total_cmp);
        let q = ((0.9 * needed.len() as f64).ceil() as usize).clamp(1, needed.len().max(1)) - 1;
        scales.push(c);
        let independent = noise.map_or(floor, |s2| s2[j].clamp(floor, variance));
        noises.push(needed.get(q).copied().unwrap_or(floor).max(independent));
    }
    (scales, noises)
}

/// The `c` of [`calibrate`]: maximum likelihood over a log grid of `c` in [0.25, 10], with
/// the noise `s²` fixed at `noise` (an independent estimate) or, without one, fitted jointly
/// over a log grid in [floor, variance], for held-out `(e², v, extra)` triples.
fn epistemic_scale(held: &[(f64, f64, f64)], noise: Option<f64>, floor: f64, variance: f64) -> f64 {
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
    let noises: Vec<f64> = match noise {
        Some(s2) => vec![s2],
        None => (0..STEPS)
            .map(|b| grid(floor, variance.max(floor * 2.0), b))
            .collect(),
    };
    let mut best = (f64::INFINITY, 1.0);
    for a in 0..STEPS {
        let c = grid(0.25, 10.0, a);
        for &s2 in &noises {
            let value = nll(c, s2);
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
        let pairs = (a.mean.iter().zip(&b.mean))
            .chain(a.variance.iter().zip(&b.variance))
            .chain(a.noise.iter().zip(&b.noise));
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
            for noise in [None, Some(0.1)] {
                let fitted = epistemic_scale(&held, noise, 1e-6, 10.0);
                assert!((fitted / c - 1.0).abs() < 0.15, "{fitted} for {c}");
            }
        }
    }
}
