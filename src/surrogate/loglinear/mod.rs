//! The log-linear mixing law of Data Mixing Laws (Ye et al., 2024) and Olmix's default
//! regressor: per target `y = c + s·exp(b + Σ_j t_j w_j)` on the raw mixture weights `w` (plus
//! linear terms in the standardised context), with `s = ±1` (a loss falls towards `c`, a score
//! rises towards it).
//!
//! **Fit.** Standardised targets; a Huber loss ([`LogLinearConfig::huber`], in target standard
//! deviations, robust to the odd diverged proxy run) plus a small ridge on `t`, minimised by
//! L-BFGS from 8 starts: both signs, and the asymptote `c` at 0.1, 0.5, 1 and 2 standard
//! deviations beyond the best observed value. Each start runs 20 iterations; the best then runs
//! to convergence.
//!
//! **Uncertainty.** [`LogLinearConfig::members`] fits on bootstrap resamples, each started at
//! the full-data fit, are the members
//! (the posterior carries them, so Thompson sampling and `ivr` work); their spread is the
//! epistemic variance and the residual variance of the full-data fit the noise. Both are scaled
//! by a factor `c²` chosen so 90% of 5-fold held-out intervals cover (as for the GP).
//!
//! Cheap: per target, the 8 screened starts and one fit to convergence, then `members` fits
//! started at that optimum; per calibration fold, one fit started at the full-data law and its
//! members; targets in parallel. Each loss evaluation is one pass over the runs (`N x (D + 2)`
//! multiply-adds, vectorised; a bootstrap resample visits each distinct run once, weighted by
//! its count). Smooth and monotone in every domain: a baseline, and the model that
//! transfers across scales best on RegMix (1M -> 1B rank).

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::math::derive_seed;
use crate::math::lbfgs::{self, Options};
use crate::runs::{Runs, Schema};
use crate::surrogate::checkpoint::{self, Layout, check_digest};
use crate::surrogate::metrics::{fold_scores, interval_scale};
use crate::surrogate::{
    Capabilities, Normalizer, Posterior, Surrogate, SurrogateError, SurrogateKind, TrainObserver,
    map_targets,
};

/// Format tag of `loglinear.json`.
pub const LOGLINEAR_FORMAT: &str = "mixatlas-loglinear";
/// The file a log-linear checkpoint directory holds.
pub const LOGLINEAR_FILE: &str = "loglinear.json";
/// Ridge penalty on the exponent's coefficients (standardised targets).
const RIDGE: f64 = 1e-4;

/// How the mixing law is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogLinearConfig {
    /// Bootstrap fits whose spread is the epistemic uncertainty.
    pub members: usize,
    /// Huber threshold in target standard deviations.
    pub huber: f64,
    /// Most L-BFGS iterations per start.
    pub max_iterations: usize,
    /// Scale variances so 90% of 5-fold held-out intervals cover.
    pub calibrate: bool,
}

impl Default for LogLinearConfig {
    fn default() -> Self {
        LogLinearConfig {
            members: 8,
            huber: 0.5,
            max_iterations: 500,
            calibrate: true,
        }
    }
}

impl LogLinearConfig {
    /// Reads a config from TOML (missing fields take their defaults) and validates it.
    pub fn from_toml(text: &str) -> Result<Self, SurrogateError> {
        crate::surrogate::config_from_toml(text, Self::validate)
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), SurrogateError> {
        let problem = if !(1..=1024).contains(&self.members) {
            "`members` must lie in [1, 1024]"
        } else if !(self.huber > 0.0 && self.huber.is_finite()) {
            "`huber` must be positive"
        } else if !(1..=100_000).contains(&self.max_iterations) {
            "`max_iterations` must lie in [1, 100000]"
        } else {
            return Ok(());
        };
        Err(SurrogateError::Config(problem.into()))
    }
}

/// One fitted law `y = c + s·exp(b + t·x)` in standardised target units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Law {
    /// Asymptote `c`.
    pub c: f64,
    /// Sign `s` (+1: falls towards `c` as the exponent falls; -1: rises towards it).
    pub sign: f64,
    /// Log scale `b`.
    pub b: f64,
    /// Exponent coefficients `t`, `[inputs]` (domains, then context).
    pub t: Vec<f64>,
}

impl Law {
    fn eval(&self, x: &[f64]) -> f64 {
        self.c + self.sign * (self.b + dot(&self.t, x)).exp()
    }
}

/// A fitted mixing-law surrogate over all targets of a schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLinear {
    /// Always [`LOGLINEAR_FORMAT`].
    pub format: String,
    /// Columns, space and targets.
    pub schema: Schema,
    /// How it was fitted.
    pub config: LogLinearConfig,
    /// Context standardisation, `[context]`.
    pub context_norm: Normalizer,
    /// Target standardisation, `[T]`.
    pub target_norm: Normalizer,
    /// The full-data law per target, `[T]`.
    pub laws: Vec<Law>,
    /// Bootstrap members, `[M][T]`.
    pub members: Vec<Vec<Law>>,
    /// Standard-deviation multiplier per target from the held-out calibration, `[T]`.
    pub calibration: Vec<f64>,
    /// Calibrated noise variance per target, target units², `[T]`.
    pub noise: Vec<f64>,
    /// What `--surrogate auto` compared, when it chose this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<super::select::Selection>,
    /// Digests of the runs it was fitted on (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_on: Option<super::TrainingRows>,
}

/// Inputs of every run, row-major `[N, P]` (domain weights, then standardised context).
struct Inputs {
    x: Vec<f64>,
    width: usize,
}

impl Inputs {
    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.width..][..self.width]
    }
}

/// The runs one fit sees: distinct row indices, each with a weight (1 for a fold's training
/// rows, the draw count for a bootstrap resample, so a resampled row is evaluated once).
struct Rows {
    index: Vec<usize>,
    weight: Vec<f64>,
}

impl Rows {
    fn all(rows: &[usize]) -> Self {
        Rows {
            index: rows.to_vec(),
            weight: vec![1.0; rows.len()],
        }
    }

    /// A bootstrap resample of `rows` (as many draws as rows) with `rng`.
    fn bootstrap(rows: &[usize], rng: &mut StdRng) -> Self {
        let mut count = vec![0u32; rows.len()];
        for _ in 0..rows.len() {
            count[rng.random_range(0..rows.len())] += 1;
        }
        let (index, weight) = (rows.iter().zip(&count))
            .filter(|(_, c)| **c > 0)
            .map(|(&i, &c)| (i, f64::from(c)))
            .unzip();
        Rows { index, weight }
    }

    fn total(&self) -> f64 {
        self.weight.iter().sum()
    }
}

/// `Σ a_i b_i` over eight independent partial sums, so the compiler vectorises it (a single
/// running sum is one dependent add after another).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = (ca.remainder().iter().zip(cb.remainder()))
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// L-BFGS iterations every start gets before only the best one goes on.
const SCREEN_ITERATIONS: usize = 20;

/// Fits one law to the weighted `rows` of `(x, y)` (standardised `y`): 8 starts (both signs,
/// 4 offsets) screened for [`SCREEN_ITERATIONS`], the best then run to convergence; or one run
/// from the fitted law `from`. `None` if no start reached a finite loss.
fn fit_law(
    x: &Inputs,
    y: &[f64],
    rows: &Rows,
    config: &LogLinearConfig,
    from: Option<&Law>,
) -> Option<Law> {
    let n = rows.total();
    let delta = config.huber;
    let observed = rows.index.iter().map(|&i| y[i]);
    let (lo, hi) = observed
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let mean = observed.zip(&rows.weight).map(|(v, w)| v * w).sum::<f64>() / n;
    let loss = |p: &[f64], sign: f64, grad: &mut [f64]| -> Option<f64> {
        grad.fill(0.0);
        let (mut total, mut g_c, mut g_b) = (0.0, 0.0, 0.0);
        for (&i, &w) in rows.index.iter().zip(&rows.weight) {
            let xi = x.row(i);
            let e = (p[1] + dot(&p[2..], xi)).exp();
            let r = p[0] + sign * e - y[i];
            if !r.is_finite() {
                return None;
            }
            let (value, slope) = if r.abs() <= delta {
                (0.5 * r * r, r)
            } else {
                (delta * (r.abs() - 0.5 * delta), delta * r.signum())
            };
            total += w * value;
            g_c += w * slope;
            let a = w * slope * sign * e;
            g_b += a;
            for (g, xv) in grad[2..].iter_mut().zip(xi) {
                *g += a * xv;
            }
        }
        grad[0] = g_c;
        grad[1] = g_b;
        total /= n;
        grad.iter_mut().for_each(|g| *g /= n);
        for (g, t) in grad[2..].iter_mut().zip(&p[2..]) {
            total += 0.5 * RIDGE * t * t;
            *g += RIDGE * t;
        }
        Some(total)
    };
    let options = Options {
        max_iterations: config.max_iterations,
        max_evaluations: 3 * config.max_iterations,
        tolerance: 1e-10,
        ..Options::default()
    };
    let law = |p: &[f64], sign: f64| Law {
        c: p[0],
        sign,
        b: p[1],
        t: p[2..].to_vec(),
    };
    if let Some(from) = from {
        // One run from a fitted law (its sign kept): a bootstrap member or a calibration
        // fold starts at the optimum of the data it resamples.
        let mut p0 = vec![from.c, from.b];
        p0.extend(&from.t);
        let m = lbfgs::minimize(|p, g| loss(p, from.sign, g), &p0, &options)?;
        return Some(law(&m.x, from.sign));
    }
    let screen = Options {
        max_iterations: SCREEN_ITERATIONS.min(config.max_iterations),
        max_evaluations: 3 * SCREEN_ITERATIONS.min(config.max_iterations),
        ..options
    };
    let mut best: Option<(lbfgs::Minimum, f64)> = None;
    for sign in [1.0, -1.0] {
        for gap in [0.1, 0.5, 1.0, 2.0] {
            let c0 = if sign > 0.0 { lo - gap } else { hi + gap };
            let mut p0 = vec![0.0; x.width + 2];
            p0[0] = c0;
            p0[1] = (sign * (mean - c0)).ln();
            let Some(m) = lbfgs::minimize(|p, g| loss(p, sign, g), &p0, &screen) else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _)| m.value < b.value) {
                best = Some((m, sign));
            }
        }
    }
    let (screened, sign) = best?;
    let m = lbfgs::minimize(|p, g| loss(p, sign, g), &screened.x, &options)
        .filter(|m| m.value <= screened.value)
        .unwrap_or(screened);
    Some(law(&m.x, sign))
}

/// The law fitted on `rows` (from 8 starts, or from `from`) and its bootstrap members; member
/// `k` resamples `rows` with a seed derived from `seed` and `k` and starts from the law
/// (keeping its sign), as bootstrap refits of a fitted model do.
fn fit_members(
    x: &Inputs,
    y: &[f64],
    rows: &[usize],
    config: &LogLinearConfig,
    seed: u64,
    from: Option<&Law>,
) -> Option<(Law, Vec<Law>)> {
    let full = fit_law(x, y, &Rows::all(rows), config, from)?;
    let members = (0..config.members)
        .into_par_iter()
        .map(|k| {
            let mut rng = StdRng::seed_from_u64(derive_seed(seed, k as u64));
            let resample = Rows::bootstrap(rows, &mut rng);
            fit_law(x, y, &resample, config, Some(&full)).unwrap_or_else(|| full.clone())
        })
        .collect();
    Some((full, members))
}

/// Residual variance of `law` on `rows` of `(x, y)`, with `N - 1` degrees of freedom.
fn residual_var(law: &Law, x: &Inputs, y: &[f64], rows: &[usize]) -> f64 {
    let sum: f64 = (rows.iter())
        .map(|&i| (law.eval(x.row(i)) - y[i]).powi(2))
        .sum();
    sum / (rows.len() as f64 - 1.0).max(1.0)
}

/// Mean and epistemic variance over `members` at `x`.
fn moments(members: &[Law], x: &[f64]) -> (f64, f64) {
    let values: Vec<f64> = members.iter().map(|m| m.eval(x)).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    (mean, var)
}

impl LogLinear {
    /// Fits the law for every target of `runs` (at least 2 runs); `seed` draws the bootstrap.
    pub fn fit(runs: &Runs, config: &LogLinearConfig, seed: u64) -> Result<Self, SurrogateError> {
        LogLinear::fit_observed(runs, config, seed, &mut ())
    }

    /// [`LogLinear::fit`], telling `observer` as targets finish.
    pub fn fit_observed(
        runs: &Runs,
        config: &LogLinearConfig,
        seed: u64,
        observer: &mut dyn TrainObserver,
    ) -> Result<Self, SurrogateError> {
        config.validate()?;
        let n = runs.len();
        if n < 2 {
            return Err(SurrogateError::TooFewRuns { rows: n, needed: 2 });
        }
        super::check_targets_vary(runs)?;
        let context_norm = if runs.schema.context.is_empty() {
            Normalizer {
                mean: Vec::new(),
                std: Vec::new(),
            }
        } else {
            Normalizer::fit(&runs.context)
        };
        let width = runs.schema.mixture_columns.len() + runs.schema.context.len();
        let mut flat = Vec::with_capacity(n * width);
        for (w, ctx) in runs.mixtures.iter().zip(&runs.context) {
            flat.extend_from_slice(w);
            flat.extend(context_norm.apply(ctx));
        }
        let x = Inputs { x: flat, width };
        let all: Vec<usize> = (0..n).collect();
        let target_norm = Normalizer::fit(&runs.outcomes);
        // Targets are independent fits: in parallel, each with its own seed.
        let fitted = map_targets(runs.schema.targets.len(), observer, |t| {
            let y: Vec<f64> = (runs.outcomes.iter())
                .map(|o| (o[t] - target_norm.mean[t]) / target_norm.std[t])
                .collect();
            let failed =
                || SurrogateError::Config(format!("the mixing law of target {t} did not converge"));
            let target_seed = derive_seed(seed, t as u64);
            let (full, bootstrap) =
                fit_members(&x, &y, &all, config, target_seed, None).ok_or_else(failed)?;
            let residual = residual_var(&full, &x, &y, &all);
            // Held-out calibration: the law (warm-started at the full-data fit) and its
            // members refitted on each fold's training part, scored on its held-out runs.
            let mut z = if config.calibrate {
                fold_scores(n, derive_seed(target_seed, 999), |train, test| {
                    let (law, ms) = fit_members(&x, &y, train, config, target_seed, Some(&full))?;
                    let res = residual_var(&law, &x, &y, train);
                    let z = test.iter().map(|&i| {
                        let (m, v) = moments(&ms, x.row(i));
                        (y[i] - m).abs() / (v + res).sqrt().max(1e-12)
                    });
                    Some(z.collect())
                })
            } else {
                Vec::new()
            };
            let c = interval_scale(&mut z, 0.25, 10.0);
            Ok((
                full,
                bootstrap,
                c,
                residual * (c * target_norm.std[t]).powi(2),
            ))
        });
        let fitted: Vec<(Law, Vec<Law>, f64, f64)> =
            fitted.into_iter().collect::<Result<_, SurrogateError>>()?;
        let (mut laws, mut members, mut calibration, mut noise) = (
            Vec::new(),
            vec![Vec::new(); config.members],
            Vec::new(),
            Vec::new(),
        );
        for (full, bootstrap, c, variance) in fitted {
            noise.push(variance);
            calibration.push(c);
            laws.push(full);
            for (k, m) in bootstrap.into_iter().enumerate() {
                members[k].push(m);
            }
        }
        Ok(LogLinear {
            format: LOGLINEAR_FORMAT.into(),
            schema: runs.schema.clone(),
            config: config.clone(),
            context_norm,
            target_norm,
            laws,
            members,
            calibration,
            noise,
            selection: None,
            trained_on: Some(super::TrainingRows::of(runs)),
        })
    }

    /// Writes the checkpoint (the envelope of [`checkpoint`], kind `loglinear`) to `dir`
    /// atomically; an existing `dir` is replaced only when `overwrite` allows it.
    pub fn save(&self, dir: &Path, overwrite: crate::io::Overwrite) -> Result<(), SurrogateError> {
        let payload = serde_json::to_value(self).expect("a mixing law serialises");
        checkpoint::write(
            dir,
            overwrite,
            SurrogateKind::LogLinear,
            payload,
            Vec::new(),
        )
    }

    /// Reads the checkpoint in `dir` (or a 0.1 `loglinear.json` with its sha256), refusing an
    /// edited or inconsistent one.
    pub fn load(dir: &Path) -> Result<Self, SurrogateError> {
        LogLinear::from_layout(dir, checkpoint::open(dir)?)
    }

    /// The law in checkpoint `dir`, already opened as `layout`.
    pub(crate) fn from_layout(dir: &Path, layout: Layout) -> Result<Self, SurrogateError> {
        match layout {
            Layout::Envelope(ck) if ck.envelope.kind == SurrogateKind::LogLinear => {
                LogLinear::from_payload(ck.envelope.payload.clone(), &ck.manifest())
            }
            Layout::LegacyLogLinear => {
                let path = dir.join(LOGLINEAR_FILE);
                let text = crate::io::read_text(&path)?;
                check_digest(dir, LOGLINEAR_FILE, &text)?;
                let value =
                    serde_json::from_str(&text).map_err(|e| SurrogateError::Checkpoint {
                        path: path.clone(),
                        problem: e.to_string(),
                    })?;
                LogLinear::from_payload(value, &path)
            }
            _ => Err(SurrogateError::Checkpoint {
                path: dir.to_owned(),
                problem: "holds no mixing law".into(),
            }),
        }
    }

    /// The law whose fields are `value` (read from `path`), checked.
    fn from_payload(value: serde_json::Value, path: &Path) -> Result<Self, SurrogateError> {
        let bad = |problem: String| SurrogateError::Checkpoint {
            path: path.to_owned(),
            problem,
        };
        let model: LogLinear = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if model.format != LOGLINEAR_FORMAT {
            return Err(bad(format!(
                "format is `{}`, not `{LOGLINEAR_FORMAT}`",
                model.format
            )));
        }
        let targets = model.schema.targets.len();
        let inputs = model.schema.mixture_columns.len() + model.schema.context.len();
        let law_ok = |l: &Law| l.t.len() == inputs && l.sign.abs() == 1.0;
        let consistent = model.laws.len() == targets
            && model.calibration.len() == targets
            && model.noise.len() == targets
            && model.target_norm.mean.len() == targets
            && model.target_norm.std.len() == targets
            && model.context_norm.mean.len() == model.schema.context.len()
            && model.context_norm.std.len() == model.schema.context.len()
            && !model.members.is_empty()
            && model.laws.iter().all(law_ok)
            && model
                .members
                .iter()
                .all(|m| m.len() == targets && m.iter().all(law_ok));
        if !consistent {
            return Err(bad(
                "sizes of the fitted laws disagree with the schema".into()
            ));
        }
        model.check_values(path)?;
        Ok(model)
    }

    /// Refuses a fitted value outside its domain, naming the field.
    fn check_values(&self, path: &Path) -> Result<(), SurrogateError> {
        use super::checkpoint::{Domain, check_domain, check_normalizer};
        check_domain(
            path,
            "noise",
            self.noise.iter().copied(),
            Domain::NonNegative,
        )?;
        check_domain(
            path,
            "calibration",
            self.calibration.iter().copied(),
            Domain::NonNegative,
        )?;
        check_normalizer(path, "context_norm", &self.context_norm)?;
        check_normalizer(path, "target_norm", &self.target_norm)?;
        let laws = self.laws.iter().map(|l| ("laws", l));
        let members = self.members.iter().flatten().map(|l| ("members", l));
        for (name, law) in laws.chain(members) {
            let values = [law.c, law.b].into_iter().chain(law.t.iter().copied());
            check_domain(path, &format!("{name}.(c, b, t)"), values, Domain::Finite)?;
        }
        Ok(())
    }

    /// Member outputs `[M, n, T]` flat in target units, spread scaled by the calibration.
    fn member_outputs<'c>(
        &self,
        mixtures: &[Vec<f64>],
        context_of: impl Fn(usize) -> &'c [f64],
    ) -> Result<Vec<f64>, SurrogateError> {
        let expected = self.schema.mixture_columns.len() + self.schema.context.len();
        let t = self.laws.len();
        let (m, n) = (self.members.len(), mixtures.len());
        let mut out = vec![0.0; m * n * t];
        for (i, w) in mixtures.iter().enumerate() {
            let ctx = context_of(i);
            if w.len() + ctx.len() != expected {
                return Err(SurrogateError::InputMismatch {
                    expected,
                    found: w.len() + ctx.len(),
                });
            }
            let mut x = w.clone();
            x.extend(self.context_norm.apply(ctx));
            for j in 0..t {
                let values: Vec<f64> = self.members.iter().map(|mm| mm[j].eval(&x)).collect();
                let mean = values.iter().sum::<f64>() / m as f64;
                let (mu, sd, c) = (
                    self.target_norm.mean[j],
                    self.target_norm.std[j],
                    self.calibration[j],
                );
                for (k, v) in values.iter().enumerate() {
                    out[(k * n + i) * t + j] = (mean + c * (v - mean)) * sd + mu;
                }
            }
        }
        Ok(out)
    }

    /// The posterior, noise included, for mixtures `[n][domains]` and context `[n][context]`.
    pub fn predict(
        &self,
        mixtures: &[Vec<f64>],
        context: &[Vec<f64>],
    ) -> Result<Posterior, SurrogateError> {
        let outputs =
            self.member_outputs(mixtures, |i| context.get(i).map_or(&[][..], Vec::as_slice))?;
        Ok(
            Posterior::from_members(outputs, self.members.len(), self.laws.len())
                .with_noise(&self.noise, None),
        )
    }
}

impl Surrogate for LogLinear {
    fn schema(&self) -> &Schema {
        &self.schema
    }
    fn target_norm(&self) -> &Normalizer {
        &self.target_norm
    }
    fn noise_var(&self) -> &[f64] {
        &self.noise
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::members(self.members.len())
    }
    fn posterior(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Posterior, SurrogateError> {
        let outputs = self.member_outputs(mixtures, |_| context)?;
        Ok(
            Posterior::from_members(outputs, self.members.len(), self.laws.len())
                .with_noise(&self.noise, None),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::{Direction, TargetSpec};
    use crate::space::Space;

    /// Runs of an exact mixing law over three domains, one of them far from its optimum.
    fn runs() -> Runs {
        let names = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let mixtures = crate::surrogate::spread_mixtures(40);
        let law = |w: &[f64]| 2.0 + (0.3 - 1.2 * w[0] - 0.4 * w[1] + 0.2 * w[2]).exp();
        Runs {
            schema: Schema {
                space: Space::from_names("s", &names).unwrap(),
                mixture_columns: names.to_vec(),
                context: Vec::new(),
                targets: vec![TargetSpec::new("loss", Direction::Lower)],
            },
            keys: (0..40).map(|i| i.to_string()).collect(),
            outcomes: mixtures.iter().map(|w| vec![law(w)]).collect(),
            context: vec![Vec::new(); 40],
            mixtures,
        }
    }

    #[test]
    fn recovers_an_exact_law_and_round_trips() {
        let r = runs();
        let model = LogLinear::fit(&r, &LogLinearConfig::default(), 0).unwrap();
        let q = vec![vec![0.5, 0.25, 0.25], vec![0.05, 0.05, 0.9]];
        let p = model.predict(&q, &[]).unwrap();
        for (w, m) in q.iter().zip(&p.mean) {
            let truth = 2.0 + (0.3 - 1.2 * w[0] - 0.4 * w[1] + 0.2 * w[2]).exp();
            assert!((m - truth).abs() < 1e-3, "{m} vs {truth}");
        }
        assert_eq!(model.capabilities().members, Some(8));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("law");
        model.save(&path, crate::io::Overwrite::Refuse).unwrap();
        let back = LogLinear::load(&path).unwrap();
        assert_eq!(back.predict(&q, &[]).unwrap(), p);
        // An edited law is refused, naming the file and its digest.
        let file = path.join(checkpoint::MANIFEST);
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen("\"sign\": 1.0", "\"sign\": -1.0", 1)).unwrap();
        let err = LogLinear::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("manifest.json") && err.contains("manifest.sha256"),
            "{err}"
        );
    }

    #[test]
    fn a_bootstrap_is_as_many_draws_as_rows_over_distinct_rows() {
        let rows: Vec<usize> = (10..50).collect();
        let r = Rows::bootstrap(&rows, &mut StdRng::seed_from_u64(3));
        assert_eq!(r.total(), 40.0);
        assert!(r.index.windows(2).all(|w| w[0] < w[1]) && r.index.len() < 40);
        assert!(r.index.iter().all(|i| rows.contains(i)));
        let (a, b): (Vec<f64>, Vec<f64>) = (0..19).map(|i| (i as f64, 2.0 - i as f64)).unzip();
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), plain);
    }

    #[test]
    fn a_rising_score_is_fitted_with_the_negative_sign() {
        let mut r = runs();
        r.outcomes.iter_mut().for_each(|o| o[0] = 10.0 - o[0]);
        let model = LogLinear::fit(&r, &LogLinearConfig::default(), 0).unwrap();
        assert_eq!(model.laws[0].sign, -1.0);
        let p = model.predict(&r.mixtures[..3], &[]).unwrap();
        for (m, o) in p.mean.iter().zip(&r.outcomes) {
            assert!((m - o[0]).abs() < 1e-3, "{m} vs {}", o[0]);
        }
    }
}
