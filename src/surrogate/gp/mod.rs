//! A Gaussian-process surrogate with one lengthscale per input (ARD), the MixAtlas paper's
//! model.
//!
//! **Fitted.** One independent GP per target (or, with [`GpConfig::share_kernel`], one set of
//! kernel hyperparameters for all targets, each with its own coefficients), on the transformed mixture (default `sqrt(w)`,
//! part of the checkpoint) and context inputs, standardised per column; targets are
//! standardised too. The kernel is `k(x, x') = s² φ(r) + n² δ(x, x')` with the scaled distance
//! `r² = Σ_d (x_d - x'_d)² / l_d²` and `φ` Matérn-5/2 `(1 + √5 r + 5r²/3) e^{-√5 r}` (default),
//! Matérn-3/2 `(1 + √3 r) e^{-√3 r}` or RBF `e^{-r²/2}` ([`Kernel`]).
//!
//! **Fit.** The hyperparameters `θ = (ln l_1..ln l_D, ln s², ln n²)` maximise the log marginal
//! likelihood `-½ yᵀK⁻¹y - ½ ln|K| - N/2 ln 2π` plus a log-normal lengthscale prior
//! ([`LENGTHSCALE_PRIOR_VAR`]), with the analytic gradient `½ tr((ααᵀ - K⁻¹) ∂K/∂θ)`
//! (α = K⁻¹y), by L-BFGS ([`crate::math::lbfgs`]) from several seeded starts
//! ([`GpConfig::starts`]: the first at `l_d = √D`, the others log-normal around it; each runs 5
//! iterations, the best then runs to convergence). Each θ lives in a box ([`BOUNDS`]), reached
//! through a sigmoid so every step is admissible; a fit that ends at a bound says so in
//! [`GpFit::at_bounds`] rather than silently interpolating. One evaluation costs a Cholesky
//! factorisation and an inverse (faer, O(N³)) plus an `N x N x D` product for the lengthscale
//! gradient (O(N²D)). Duplicated runs are fine (the noise floor keeps `K` positive definite);
//! more than [`MAX_GP_RUNS`] runs are refused before any allocation.
//!
//! **Calibration.** A GP's intervals can be too narrow out of sample: its hyperparameters are
//! tuned on the runs it is judged on. So the fit refits itself on 5 folds (warm-started at the optimum, 5
//! iterations each), scores each fold's held-out runs `z_i = |y_i - μ_i| / σ_i` (σ² with the
//! noise), and scales every variance the model reports (epistemic and noise) by `c²` with
//! `c = q_0.9(|z|) / 1.645`, the factor that makes 90% of the held-out intervals cover
//! ([`GpTarget::calibration`]; 1 with `calibrate = false`). Means are unchanged.
//!
//! **Prediction.** Mean `k*ᵀα`, epistemic variance `c²(s² - |L⁻¹k*|²)`; the joint covariance
//! over a batch is `c²(k(Q,Q) - VᵀV)` with `V = L⁻¹k(X,Q)` ([`Surrogate::covariance`]). Both cost
//! O(N²) per candidate: made for pool mode and the loop rather than 10^7-candidate
//! simulations. The posterior also carries [`PATHS`] sample paths as members
//! (pathwise conditioning: [`PATH_FEATURES`] random Fourier features of the kernel's spectral
//! density plus the exact data update), so Thompson sampling follows joint posterior samples
//! and `ivr` works.
//!
//! **Checkpoint** (the envelope of [`envelope`], kind `gp`; payload layout [`GP_VERSION`]):
//! the payload holds the schema, config, normalisers, standardised training inputs `x [N][D]`,
//! the paths' seed, and per target the lengthscales, `s²`, `n²`, `α [N]` and `c`; the Cholesky
//! factor and the paths are recomputed on load. `gp.safetensors` (f64) is the export for NumPy: `x` `[N, D]`, `input_mean`,
//! `input_std` `[D]`, `target_mean`, `target_std` `[T]`, and per target `t`
//! `targets.{t}.lengthscales` `[D]`, `targets.{t}.alpha` `[N]`, `targets.{t}.signal_var`,
//! `targets.{t}.noise_var`, `targets.{t}.calibration` `[1]`; metadata `kernel`,
//! `input_transform`, `inputs`, `targets`. To score mixtures `w`: `q = (transform(w) ++ context -
//! input_mean) / input_std`; `r_i = |(q - x_i) / l|`; mean `s² φ(r)ᵀ α * target_std +
//! target_mean`; epistemic variance `c² (s² - k*ᵀ K⁻¹ k*) target_std²` with `K = s² φ(R_XX) +
//! (n² + 1e-8) I` (`scripts/predict_numpy.py` does it).

use std::path::Path;
use std::sync::Arc;

use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Mat, MatRef, Par};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::math::derive_seed;
use crate::runs::{Runs, Schema};
use crate::surrogate::checkpoint as envelope;
use crate::surrogate::{
    Capabilities, InputTransform, MemberOutputs, Normalizer, Posterior, Surrogate, SurrogateError,
    SurrogateKind, TrainObserver,
};

mod checkpoint;
mod likelihood;
mod paths;

#[cfg(test)]
use likelihood::Problem;
use likelihood::{Workspace, add_product, cross_kernel, fit_targets, product, scaled};
pub use paths::{PATH_FEATURES, PATHS};
use paths::{Paths, draw_paths, features};

/// Format tag of `gp.json`.
pub const GP_FORMAT: &str = "mixatlas-gp";
/// Version of the `gp.json` layout (1 was the isotropic grid-fitted GP).
pub const GP_VERSION: u32 = 2;
/// The model file of a GP checkpoint directory.
pub const GP_FILE: &str = "gp.json";
/// The safetensors export of a GP checkpoint.
pub const GP_SAFETENSORS: &str = "gp.safetensors";
/// Most training runs a GP accepts: each likelihood workspace holds four `N x N` f64 matrices
/// (three plus faer's scratch: 2 GiB at this limit).
pub const MAX_GP_RUNS: usize = 8192;
/// Added to the kernel diagonal (standardised units) on top of the fitted noise.
const JITTER: f64 = 1e-8;
/// Boxes for `ln l` (standardised input units), `ln s²` and `ln n²` (standardised target
/// units): lengthscales from 1/100 to 1000 input standard deviations, signal variance from
/// 1/1000 to 1000 target variances, noise from 10^-6 (near interpolation) to twice the
/// target variance.
pub const BOUNDS: [(f64, f64); 3] = [(1e-2, 1e3), (1e-3, 1e3), (1e-6, 2.0)];
/// Variance of the log-normal lengthscale prior `ln l_d ~ N(ln √D, 3)` (standardised inputs):
/// the dimension-scaled prior of Hvarfner et al. (2024), BoTorch's default since 0.12. On
/// Olmix 5-fold out-of-fold it raised Spearman from 0.9715/0.9820/0.9756 to
/// 0.9731/0.9831/0.9786 (fold seeds 0/1/2).
pub const LENGTHSCALE_PRIOR_VAR: f64 = 3.0;
/// Most candidates scored per kernel block in prediction (bounds memory at `N x 4096`).
const QUERY_BLOCK: usize = 4096;

/// The kernel's correlation function of the scaled distance `r`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernel {
    /// Matérn ν = 5/2: twice differentiable, the default of BoTorch and the MixAtlas paper.
    #[default]
    Matern52,
    /// Matérn ν = 3/2: rougher.
    Matern32,
    /// Squared exponential: infinitely smooth.
    Rbf,
}

impl Kernel {
    /// `φ(r)`.
    fn phi(self, r: f64) -> f64 {
        self.phi_psi(r).0
    }

    /// `φ(r)` and `ψ(r) = -φ'(r) / r` (finite at 0: `∂k/∂ln l_d = s² ψ(r) Δ_d² / l_d²`),
    /// from one exponential.
    fn phi_psi(self, r: f64) -> (f64, f64) {
        match self {
            Kernel::Matern52 => {
                let a = 5f64.sqrt() * r;
                let e = (-a).exp();
                ((1.0 + a + a * a / 3.0) * e, 5.0 / 3.0 * (1.0 + a) * e)
            }
            Kernel::Matern32 => {
                let a = 3f64.sqrt() * r;
                let e = (-a).exp();
                ((1.0 + a) * e, 3.0 * e)
            }
            Kernel::Rbf => {
                let e = (-0.5 * r * r).exp();
                (e, e)
            }
        }
    }
}

/// How a GP is fitted. Every field has a default that works on the shipped data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpConfig {
    /// Correlation function.
    pub kernel: Kernel,
    /// Transform of mixture weights before standardisation (context is only standardised).
    pub input_transform: InputTransform,
    /// L-BFGS starts per target (the first from `l_d = √D`, the rest seeded around it).
    pub starts: usize,
    /// Most L-BFGS iterations per start.
    pub max_iterations: usize,
    /// Scale the variances so 90% of 5-fold held-out intervals cover (see the module docs);
    /// `false` skips the fold refits.
    pub calibrate: bool,
    /// One set of kernel hyperparameters for every target, fitted on the marginal likelihood
    /// summed over the standardised targets: one Cholesky factor for all of them, so fitting
    /// many targets costs about one target's fit. `false`: one GP per target.
    pub share_kernel: bool,
}

impl Default for GpConfig {
    fn default() -> Self {
        GpConfig {
            kernel: Kernel::Matern52,
            input_transform: InputTransform::Sqrt,
            starts: 2,
            max_iterations: 200,
            calibrate: true,
            share_kernel: false,
        }
    }
}

impl GpConfig {
    /// Reads a config from TOML (missing fields take their defaults) and validates it.
    pub fn from_toml(text: &str) -> Result<Self, SurrogateError> {
        crate::surrogate::config_from_toml(text, Self::validate)
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), SurrogateError> {
        let problem = if !(1..=64).contains(&self.starts) {
            "`starts` must lie in [1, 64]"
        } else if !(1..=10_000).contains(&self.max_iterations) {
            "`max_iterations` must lie in [1, 10000]"
        } else if matches!(self.input_transform, InputTransform::Log { eps } if !(eps > 0.0 && eps.is_finite()))
        {
            "the log transform's `eps` must be positive"
        } else {
            return Ok(());
        };
        Err(SurrogateError::Config(problem.into()))
    }
}

/// How one target's hyperparameters were found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpFit {
    /// Log marginal likelihood at the optimum (standardised targets).
    pub log_marginal_likelihood: f64,
    /// Starts run, and which one won.
    pub starts: usize,
    /// Index of the winning start.
    pub best_start: usize,
    /// L-BFGS iterations of the winning start.
    pub iterations: usize,
    /// Likelihood evaluations over all starts.
    pub evaluations: usize,
    /// Hyperparameters that ended within 1% (of the log box) of a bound, e.g.
    /// `noise at its lower bound 1e-6`: a fit that interpolates or ignores inputs.
    pub at_bounds: Vec<String>,
    /// Share of runs inside their held-out 90% interval before calibration (5 refitted folds;
    /// see the module docs); `None` with `calibrate = false`, which skips the refits.
    pub cv_coverage90: Option<f64>,
}

/// One target's fitted GP, in standardised units.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GpTarget {
    /// Lengthscale per input `l_d` (standardised input units), `[D]`.
    pub lengthscales: Vec<f64>,
    /// Signal variance `s²`.
    pub signal_var: f64,
    /// Noise variance `n²` (before calibration).
    pub noise_var: f64,
    /// `K⁻¹ y`, `[N]`.
    pub alpha: Vec<f64>,
    /// Standard-deviation multiplier `c` from the held-out calibration (variances scale by
    /// `c²`).
    pub calibration: f64,
    /// How the fit went.
    pub fit: GpFit,
    /// Lower Cholesky factor of `K + (n² + jitter) I`, recomputed on load; targets with the
    /// same hyperparameters (a shared kernel) share it.
    #[serde(skip)]
    factor: Option<Arc<Mat<f64>>>,
    /// Posterior sample paths, redrawn from [`GaussianProcess::path_seed`] on load.
    #[serde(skip)]
    paths: Option<Paths>,
}

impl GpTarget {
    /// Factorises the kernel matrix of training inputs `x` `[N][D]` at this target's
    /// hyperparameters into `ws` and keeps the factor (`target` names it in the error).
    fn factorise(
        &mut self,
        ws: &mut Workspace,
        kernel: Kernel,
        x: &[Vec<f64>],
        target: usize,
    ) -> Result<(), SurrogateError> {
        let mut theta: Vec<f64> = self.lengthscales.iter().map(|l| l.ln()).collect();
        theta.extend([self.signal_var.ln(), self.noise_var.ln()]);
        ws.factorise(kernel, &theta, scaled(x, &self.lengthscales).as_ref())
            .ok_or(SurrogateError::NotPositiveDefinite { target })?;
        self.factor = Some(Arc::new(ws.lower_factor()));
        Ok(())
    }

    /// Whether `other` has the same kernel hyperparameters (so the same factor).
    fn same_kernel(&self, other: &GpTarget) -> bool {
        self.lengthscales == other.lengthscales
            && self.signal_var == other.signal_var
            && self.noise_var == other.noise_var
    }
}

/// Factorises every target's kernel matrix over training inputs `x`, once per distinct set
/// of hyperparameters (consecutive targets of a shared kernel share the factor). `ws` is left
/// holding the last target's factor.
fn factorise_targets(
    targets: &mut [GpTarget],
    ws: &mut Workspace,
    kernel: Kernel,
    x: &[Vec<f64>],
) -> Result<(), SurrogateError> {
    for t in 0..targets.len() {
        if t > 0 && targets[t].same_kernel(&targets[t - 1]) {
            targets[t].factor = targets[t - 1].factor.clone();
        } else {
            targets[t].factorise(ws, kernel, x, t)?;
        }
    }
    Ok(())
}

/// A fitted GP surrogate over all targets of a schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GaussianProcess {
    /// Always [`GP_FORMAT`].
    pub format: String,
    /// Always [`GP_VERSION`].
    #[serde(default)]
    pub version: u32,
    /// Columns, space and targets.
    pub schema: Schema,
    /// How it was fitted (kernel, transform, starts).
    pub config: GpConfig,
    /// Input standardisation (after the transform), `[D]`.
    pub input_norm: Normalizer,
    /// Target standardisation, `[T]`.
    pub target_norm: Normalizer,
    /// Standardised training inputs `[N][D]`.
    pub x: Vec<Vec<f64>>,
    /// Per target.
    pub targets: Vec<GpTarget>,
    /// Calibrated noise variance per target in target units², `[T]`.
    pub noise: Vec<f64>,
    /// With a shared kernel and 2+ targets, the correlation of the targets' errors, `[T, T]`
    /// row-major: that of their leave-one-out errors on the training runs, less the runs'
    /// own noise and correlations within sampling noise. One kernel means every target's
    /// posterior variance has the same shape over mixtures, so the errors at a new mixture are
    /// taken to correlate as the held-out ones did, and an objective over many targets gets its variance with the cross
    /// terms ([`Posterior::correlation`]) rather than as a sum of independent ones. The
    /// sample paths stay independent per target. Absent for independent GPs and older
    /// checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_correlation: Option<Vec<f64>>,
    /// Seed of the sample paths (target `t` draws with `derive_seed(path_seed, t)`).
    #[serde(default)]
    pub path_seed: u64,
    /// What `--surrogate auto` compared, when it chose this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<super::select::Selection>,
    /// Digests of the runs it was fitted on (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_on: Option<super::TrainingRows>,
}

/// Columns of `L⁻¹` solved at once by [`error_correlation`]: memory `N x 256`, not `N x N`.
const INVERSE_BLOCK: usize = 256;

/// The correlation `[T, T]` row-major of the targets' errors, from their leave-one-out
/// errors under one shared kernel factor `K = L Lᵀ` with noise variance `noise` (standardised
/// units). Run `i`'s held-out error for target `t` is `r_ti = α_ti / (K⁻¹)_ii` (exact for a
/// GP, no refit). Their correlation `R_ts` over the `N` runs is taken as zero unless it
/// stands out of sampling noise (`|R_ts| >= 2/√N`). A held-out error holds the model's error
/// and the run's own noise, which is independent across targets, so it dilutes `R_ts`: the
/// model's part of `Σ_i r_ti²` is the share `s_t = 1 - N noise / Σ_i r_ti²` (at least 1/2,
/// so noisy targets are not amplified past twice), and `ρ_ts = R_ts / √(s_t s_s)`. The matrix
/// is made positive semi-definite by clipping its negative eigenvalues, then scaled to a unit
/// diagonal.
fn error_correlation(factor: MatRef<'_, f64>, noise: f64, targets: &[GpTarget]) -> Vec<f64> {
    use rayon::prelude::*;
    let n = factor.nrows();
    // (K⁻¹)_ii = Σ_k (L⁻¹)_ki², from column blocks of L⁻¹ solved in parallel.
    let starts: Vec<usize> = (0..n).step_by(INVERSE_BLOCK).collect();
    let diag: Vec<f64> = (starts.par_iter())
        .flat_map_iter(|&start| {
            let width = INVERSE_BLOCK.min(n - start);
            let mut block = Mat::from_fn(n, width, |k, j| f64::from(u8::from(k == start + j)));
            solve_lower_triangular_in_place(factor, block.as_mut(), Par::Seq);
            (0..width).map(move |j| (start + j..n).map(|k| block[(k, j)].powi(2)).sum::<f64>())
        })
        .collect();
    let errors: Vec<Vec<f64>> = (targets.iter())
        .map(|g| g.alpha.iter().zip(&diag).map(|(a, d)| a / d).collect())
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
    let squares: Vec<f64> = errors.iter().map(|e| dot(e, e).max(1e-300)).collect();
    let share: Vec<f64> = (squares.iter())
        .map(|q| (1.0 - n as f64 * noise / q).clamp(0.5, 1.0))
        .collect();
    let significant = 2.0 / (n as f64).sqrt();
    let t = targets.len();
    let c = Mat::from_fn(t, t, |i, j| {
        if i == j {
            return 1.0;
        }
        let r = dot(&errors[i], &errors[j]) / (squares[i] * squares[j]).sqrt();
        if r.abs() < significant {
            0.0
        } else {
            (r / (share[i] * share[j]).sqrt()).clamp(-1.0, 1.0)
        }
    });
    let psd = match c.self_adjoint_eigen(faer::Side::Lower) {
        Ok(evd) => {
            let (u, s) = (evd.U(), evd.S().column_vector());
            Mat::from_fn(t, t, |i, j| {
                (0..t)
                    .map(|k| u[(i, k)] * s[k].max(0.0) * u[(j, k)])
                    .sum::<f64>()
            })
        }
        Err(_) => Mat::from_fn(t, t, |i, j| if i == j { c[(i, i)] } else { 0.0 }),
    };
    let d: Vec<f64> = (0..t).map(|i| psd[(i, i)].max(1e-300).sqrt()).collect();
    (0..t * t)
        .map(|k| {
            let (i, j) = (k / t, k % t);
            if i == j {
                1.0
            } else {
                (psd[(i, j)] / (d[i] * d[j])).clamp(-1.0, 1.0)
            }
        })
        .collect()
}

/// Most rows [`noise_variance`] fits on: each likelihood evaluation is O(n³).
const NOISE_ROWS: usize = 256;

/// A GP fit before it becomes a model: the input and target normalisation, the standardised
/// inputs `[N][D]` and one fitted GP per target.
struct Standardised {
    input_norm: Normalizer,
    x: Vec<Vec<f64>>,
    target_norm: Normalizer,
    targets: Vec<GpTarget>,
}

/// Standardises `runs` and fits each target's hyperparameters (in parallel over targets).
fn fit_standardised(
    runs: &Runs,
    config: &GpConfig,
    seed: u64,
    observer: &mut dyn TrainObserver,
) -> Result<Standardised, SurrogateError> {
    let raw: Vec<Vec<f64>> = (0..runs.len())
        .map(|i| {
            let mut v = Vec::new();
            config.input_transform.extend(&runs.mixtures[i], &mut v);
            v.extend_from_slice(&runs.context[i]);
            v
        })
        .collect();
    let input_norm = Normalizer::fit(&raw);
    let x: Vec<Vec<f64>> = raw.iter().map(|r| input_norm.apply(r)).collect();
    let target_norm = Normalizer::fit(&runs.outcomes);
    let ys: Vec<Vec<f64>> = (0..runs.schema.targets.len())
        .map(|t| {
            (runs.outcomes.iter())
                .map(|o| (o[t] - target_norm.mean[t]) / target_norm.std[t])
                .collect()
        })
        .collect();
    let targets = if config.share_kernel {
        fit_targets(&x, &ys, config, seed, 0)?
    } else {
        let each = super::map_targets(ys.len(), observer, |t| {
            fit_targets(&x, std::slice::from_ref(&ys[t]), config, seed, t)
        });
        let each: Vec<Vec<GpTarget>> = each.into_iter().collect::<Result<_, _>>()?;
        each.into_iter().flatten().collect()
    };
    Ok(Standardised {
        input_norm,
        x,
        target_norm,
        targets,
    })
}

/// The observation noise variance per target, in target units² `[T]`, that an ARD GP's
/// marginal likelihood attributes to `runs` (one start, no calibration, at most 256 rows
/// drawn with `seed`): an estimate of the aleatoric noise that no other model's spread can
/// absorb. `None` when the rows are too few (under 8), a target does not vary, or the fit
/// fails.
pub(crate) fn noise_variance(runs: &Runs, seed: u64) -> Option<Vec<f64>> {
    if runs.len() < 8 || super::check_targets_vary(runs).is_err() {
        return None;
    }
    let mut rows: Vec<usize> = (0..runs.len()).collect();
    if rows.len() > NOISE_ROWS {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        rows = rand::seq::index::sample(&mut rng, runs.len(), NOISE_ROWS).into_vec();
        rows.sort_unstable();
    }
    let config = GpConfig {
        starts: 1,
        calibrate: false,
        ..GpConfig::default()
    };
    let fit = fit_standardised(&runs.subset(&rows), &config, seed, &mut ()).ok()?;
    Some(
        (fit.targets.iter().zip(&fit.target_norm.std))
            .map(|(g, std)| g.noise_var * std * std)
            .collect(),
    )
}

impl GaussianProcess {
    /// Fits a GP per target of `runs`, or one kernel for all with `share_kernel` (2 to
    /// [`MAX_GP_RUNS`] runs); `seed` draws the restarts.
    pub fn fit(runs: &Runs, config: &GpConfig, seed: u64) -> Result<Self, SurrogateError> {
        GaussianProcess::fit_observed(runs, config, seed, &mut ())
    }

    /// [`GaussianProcess::fit`], telling `observer` as independent targets finish.
    pub fn fit_observed(
        runs: &Runs,
        config: &GpConfig,
        seed: u64,
        observer: &mut dyn TrainObserver,
    ) -> Result<Self, SurrogateError> {
        config.validate()?;
        let n = runs.len();
        if n < 2 {
            return Err(SurrogateError::TooFewRuns { rows: n, needed: 2 });
        }
        if n > MAX_GP_RUNS {
            return Err(SurrogateError::Config(format!(
                "a Gaussian process on {n} runs needs four {n} x {n} matrices ({:.1} GiB); \
                 the limit is {MAX_GP_RUNS} runs: subsample, or use the ensemble",
                4.0 * (n * n * 8) as f64 / f64::from(1u32 << 30)
            )));
        }
        super::check_targets_vary(runs)?;
        let Standardised {
            input_norm,
            x,
            target_norm,
            targets,
        } = fit_standardised(runs, config, seed, observer)?;
        let noise = targets
            .iter()
            .enumerate()
            .map(|(t, g)| g.noise_var * (g.calibration * target_norm.std[t]).powi(2))
            .collect();
        let shared = config.share_kernel && targets.len() > 1;
        let target_correlation =
            (shared.then(|| targets[0].factor.clone()).flatten()).map(|factor| {
                error_correlation(factor.as_ref().as_ref(), targets[0].noise_var, &targets)
            });
        let mut gp = GaussianProcess {
            format: GP_FORMAT.into(),
            version: GP_VERSION,
            schema: runs.schema.clone(),
            config: config.clone(),
            input_norm,
            target_norm,
            x,
            targets,
            noise,
            target_correlation,
            path_seed: derive_seed(seed, 0x9a7b),
            selection: None,
            trained_on: Some(super::TrainingRows::of(runs)),
        };
        gp.draw_paths();
        Ok(gp)
    }

    /// Draws every target's sample paths from [`GaussianProcess::path_seed`].
    fn draw_paths(&mut self) {
        let train = self.train_matrix();
        let kernel = self.config.kernel;
        for (t, g) in self.targets.iter_mut().enumerate() {
            let seed = derive_seed(self.path_seed, t as u64);
            g.paths = Some(draw_paths(train.as_ref(), g, kernel, seed));
        }
    }

    /// Standardised inputs of mixtures `[n][domains]` with row `i`'s context
    /// `context(i)`, `[n, D]`.
    fn inputs<'c>(
        &self,
        mixtures: &[Vec<f64>],
        context: impl Fn(usize) -> &'c [f64],
    ) -> Result<Mat<f64>, SurrogateError> {
        let dims = self.input_norm.mean.len();
        let expected = self.schema.mixture_columns.len() + self.schema.context.len();
        let mut q = Mat::zeros(mixtures.len(), dims);
        let mut raw = Vec::with_capacity(dims);
        for (i, w) in mixtures.iter().enumerate() {
            let context = context(i);
            if w.len() + context.len() != expected {
                return Err(SurrogateError::InputMismatch {
                    expected,
                    found: w.len() + context.len(),
                });
            }
            raw.clear();
            self.config.input_transform.extend(w, &mut raw);
            raw.extend_from_slice(context);
            for (d, v) in raw.iter().enumerate() {
                q[(i, d)] = (v - self.input_norm.mean[d]) / self.input_norm.std[d];
            }
        }
        Ok(q)
    }

    /// The GP conditioned on its own posterior mean at `mixtures` (`[n][domains]`, under
    /// `context`) as if they had been run, hyperparameters fixed: the kriging believer of batch
    /// Bayesian optimisation. Means stay; variances shrink near the new points. O((N + n)³).
    pub fn condition_on_means(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<GaussianProcess, SurrogateError> {
        let queries = self.queries(mixtures, context)?;
        let train = self.train_matrix();
        let mut out = self.clone();
        out.x.extend((0..queries.nrows()).map(|i| {
            (0..queries.ncols())
                .map(|d| queries[(i, d)])
                .collect::<Vec<f64>>()
        }));
        // Each target's outcomes, the training ones (K α = L (Lᵀ α), standardised) then the
        // believed means at the queries.
        let ys: Vec<Vec<f64>> = (self.targets.iter())
            .map(|g| {
                let factor = self.factor_of(g);
                let alpha = Mat::from_fn(g.alpha.len(), 1, |i, _| g.alpha[i]);
                let half = product(factor.transpose(), alpha.as_ref());
                let y = product(factor, half.as_ref());
                let (believed, _, _) = self.project(g, train.as_ref(), queries.as_ref(), false);
                (0..y.nrows()).map(|i| y[(i, 0)]).chain(believed).collect()
            })
            .collect();
        let mut ws = Workspace::new(out.x.len());
        factorise_targets(&mut out.targets, &mut ws, out.config.kernel, &out.x)?;
        for (g, y) in out.targets.iter_mut().zip(&ys) {
            let alpha = ws.solve_with(self.factor_of(g), y);
            g.alpha = alpha;
        }
        out.draw_paths();
        Ok(out)
    }

    /// Standardised inputs of mixtures `[n][domains]` under a shared `context`, `[n, D]`.
    fn queries(&self, mixtures: &[Vec<f64>], context: &[f64]) -> Result<Mat<f64>, SurrogateError> {
        self.inputs(mixtures, |_| context)
    }

    /// The posterior, noise included (the fitted noise variance), for mixtures `[n][domains]`
    /// and context `[n][context]` (context may be empty when the schema has none).
    pub fn predict(
        &self,
        mixtures: &[Vec<f64>],
        context: &[Vec<f64>],
    ) -> Result<Posterior, SurrogateError> {
        let q = self.inputs(mixtures, |i| context.get(i).map_or(&[][..], Vec::as_slice))?;
        let (mean, variance, _) = self.moments(q.as_ref(), false);
        Ok(self.posterior_from(mixtures.len(), mean, variance, None))
    }

    /// A posterior of `rows` rows from its moments and sample paths, with the fitted noise.
    fn posterior_from(
        &self,
        rows: usize,
        mean: Vec<f64>,
        variance: Vec<f64>,
        paths: Option<Vec<f64>>,
    ) -> Posterior {
        Posterior {
            rows,
            targets: self.targets.len(),
            mean,
            variance,
            noise: Vec::new(),
            members: paths.map(|outputs| MemberOutputs {
                count: PATHS,
                outputs,
            }),
            correlation: self.target_correlation.as_deref().map(Arc::from),
        }
        .with_noise(&self.noise, None)
    }

    /// Posterior means and epistemic variances `[n, T]` flat (target units) at standardised
    /// inputs `queries` `[n, D]` and, with `paths`, the [`PATHS`] sample paths' values `[S, n, T]` flat (target units,
    /// spread around the mean scaled by the calibration like the variance).
    fn moments(
        &self,
        queries: MatRef<'_, f64>,
        paths: bool,
    ) -> (Vec<f64>, Vec<f64>, Option<Vec<f64>>) {
        let train = self.train_matrix();
        let (n, t) = (queries.nrows(), self.targets.len());
        let (mut mean, mut variance) = (vec![0.0; n * t], vec![0.0; n * t]);
        let mut members = paths.then(|| vec![0.0; PATHS * n * t]);
        for start in (0..n).step_by(QUERY_BLOCK) {
            let rows = QUERY_BLOCK.min(n - start);
            let block = queries.subrows(start, rows);
            // `k(X, q)` and each query's explained variance, computed once per kernel: targets
            // of a shared kernel reuse them.
            let mut kernel: Option<(Mat<f64>, Vec<f64>)> = None;
            for (j, g) in self.targets.iter().enumerate() {
                if j == 0 || !g.same_kernel(&self.targets[j - 1]) {
                    kernel = Some(self.explained(g, train.as_ref(), block));
                }
                let (k, explained) = kernel.as_ref().expect("set at the first target");
                let (m, values) = self.mean_and_paths(g, k, block, paths);
                let (sd, c) = (self.target_norm.std[j], g.calibration);
                for (i, (mi, explained)) in m.iter().zip(explained).enumerate() {
                    let at = (start + i) * t + j;
                    mean[at] = mi * sd + self.target_norm.mean[j];
                    variance[at] = (g.signal_var - explained).max(0.0) * c * c * sd * sd;
                    if let (Some(out), Some(values)) = (members.as_mut(), values.as_ref()) {
                        for s in 0..PATHS {
                            let path = mi + c * (values[(i, s)] - mi);
                            out[s * n * t + at] = path * sd + self.target_norm.mean[j];
                        }
                    }
                }
            }
        }
        (mean, variance, members)
    }

    /// `s² φ(R)` between `a` and `b` (rows in standardised input units) for target `g`.
    fn cross(&self, g: &GpTarget, a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
        cross_kernel(self.config.kernel, g.signal_var, &g.lengthscales, a, b)
    }

    /// For target `g` and queries `q` (`[m, D]`): the posterior means (standardised, `[m]`)
    /// and `V = L⁻¹ k(X, q)` (`[N, m]`).
    fn project(
        &self,
        g: &GpTarget,
        train: MatRef<'_, f64>,
        q: MatRef<'_, f64>,
        with_paths: bool,
    ) -> (Vec<f64>, Mat<f64>, Option<Mat<f64>>) {
        let mut v = self.cross(g, train, q);
        let (mean, values) = self.mean_and_paths(g, &v, q, with_paths);
        solve_lower_triangular_in_place(self.factor_of(g), v.as_mut(), Par::Seq);
        (mean, v, values)
    }

    /// For target `g`, queries `q` (`[m, D]`) and their kernel `k = k(X, q)` (`[N, m]`): the
    /// posterior means (standardised, `[m]`) and, `with_paths`, the sample paths' values
    /// `φ(q)ᵀW + kᵀ update` (`[m, S]`).
    fn mean_and_paths(
        &self,
        g: &GpTarget,
        k: &Mat<f64>,
        q: MatRef<'_, f64>,
        with_paths: bool,
    ) -> (Vec<f64>, Option<Mat<f64>>) {
        let mean = (0..k.ncols())
            .map(|j| (0..k.nrows()).map(|i| k[(i, j)] * g.alpha[i]).sum())
            .collect();
        let values = with_paths.then(|| {
            let p = g
                .paths
                .as_ref()
                .expect("fitted or loaded GPs hold their paths");
            let phi = features(q, &p.omega, &p.phase);
            let mut out = product(phi.as_ref(), p.weights.as_ref());
            add_product(out.as_mut(), k.transpose(), p.update.as_ref());
            out
        });
        (mean, values)
    }

    /// `k(X, q)` (`[N, m]`) under target `g`'s kernel, and each query's explained variance
    /// `|L⁻¹ k(X, q_j)|²` (`[m]`).
    fn explained(
        &self,
        g: &GpTarget,
        train: MatRef<'_, f64>,
        q: MatRef<'_, f64>,
    ) -> (Mat<f64>, Vec<f64>) {
        let k = self.cross(g, train, q);
        let mut v = k.clone();
        solve_lower_triangular_in_place(self.factor_of(g), v.as_mut(), Par::Seq);
        let explained = (0..v.ncols())
            .map(|j| (0..v.nrows()).map(|i| v[(i, j)] * v[(i, j)]).sum())
            .collect();
        (k, explained)
    }

    fn factor_of<'a>(&self, g: &'a GpTarget) -> MatRef<'a, f64> {
        g.factor
            .as_deref()
            .expect("fitted or loaded GPs hold their factor")
            .as_ref()
    }

    fn train_matrix(&self) -> Mat<f64> {
        Mat::from_fn(self.x.len(), self.input_norm.mean.len(), |i, d| {
            self.x[i][d]
        })
    }
}

/// Refuses a GP payload of another layout version, saying what to do.
fn check_layout_version(value: &serde_json::Value, path: &Path) -> Result<(), SurrogateError> {
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(1);
    if version == u64::from(GP_VERSION) {
        return Ok(());
    }
    Err(SurrogateError::Checkpoint {
        path: path.to_owned(),
        problem: format!(
            "layout version {version}, this mixatlas reads {GP_VERSION} (refit with `mixatlas \
             train --surrogate gp`)"
        ),
    })
}

impl Surrogate for GaussianProcess {
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
        Capabilities::GAUSSIAN_PROCESS
    }
    fn condition_on_means(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Option<Result<Box<dyn Surrogate>, SurrogateError>> {
        let conditioned = GaussianProcess::condition_on_means(self, mixtures, context);
        Some(conditioned.map(|gp| Box::new(gp) as Box<dyn Surrogate>))
    }
    fn posterior(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Posterior, SurrogateError> {
        let queries = self.queries(mixtures, context)?;
        let (mean, variance, paths) = self.moments(queries.as_ref(), true);
        Ok(self.posterior_from(mixtures.len(), mean, variance, paths))
    }
    /// Mean and variance without the sample paths (about a third of the cost of
    /// [`Surrogate::posterior`] with 50 domains).
    fn moments(&self, mixtures: &[Vec<f64>], context: &[f64]) -> Result<Posterior, SurrogateError> {
        let queries = self.queries(mixtures, context)?;
        let (mean, variance, _) = GaussianProcess::moments(self, queries.as_ref(), false);
        Ok(self.posterior_from(mixtures.len(), mean, variance, None))
    }
    /// `c²(k(Q, Q) - Vᵀ V)` with `V = L⁻¹ k(X, Q)`, per target: O(N² n + N n²).
    fn covariance(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Option<Vec<Vec<f64>>>, SurrogateError> {
        let queries = self.queries(mixtures, context)?;
        let train = self.train_matrix();
        let n = queries.nrows();
        let mut out = Vec::with_capacity(self.targets.len());
        for (j, g) in self.targets.iter().enumerate() {
            let (_, v, _) = self.project(g, train.as_ref(), queries.as_ref(), false);
            let prior = self.cross(g, queries.as_ref(), queries.as_ref());
            let explained = product(v.transpose(), v.as_ref());
            let scale = (self.target_norm.std[j] * g.calibration).powi(2);
            let mut cov = vec![0.0; n * n];
            for a in 0..n {
                for b in a..n {
                    let c = (prior[(a, b)] - explained[(a, b)]) * scale;
                    cov[a * n + b] = c;
                    cov[b * n + a] = c;
                }
            }
            out.push(cov);
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;

    use super::*;
    use crate::runs::{Direction, TargetSpec};
    use crate::space::Space;

    /// Runs of a smooth function of three-domain mixtures, where the third domain does not
    /// matter.
    fn runs(n: usize) -> Runs {
        let names = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let mixtures: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                let a = (i as f64 * 0.618_034).fract() * 0.8 + 0.1;
                let b = (i as f64 * 0.414_214).fract() * (1.0 - a);
                vec![a, b, 1.0 - a - b]
            })
            .collect();
        Runs {
            schema: Schema {
                space: Space::from_names("s", &names).unwrap(),
                mixture_columns: names.to_vec(),
                context: Vec::new(),
                targets: vec![TargetSpec::new("y", Direction::Lower)],
            },
            keys: (0..n).map(|i| i.to_string()).collect(),
            outcomes: mixtures
                .iter()
                .map(|w| vec![(3.0 * w[0]).sin() + w[1] * w[1]])
                .collect(),
            context: vec![Vec::new(); n],
            mixtures,
        }
    }

    fn fitted() -> GaussianProcess {
        GaussianProcess::fit(&runs(24), &GpConfig::default(), 0).unwrap()
    }

    #[test]
    fn likelihood_gradient_matches_finite_differences() {
        let r = runs(20);
        let x: Vec<Vec<f64>> = r
            .mixtures
            .iter()
            .map(|w| w.iter().map(|v| v.sqrt()).collect())
            .collect();
        let y: Vec<f64> = r.outcomes.iter().map(|o| o[0]).collect();
        // A second target sharing the kernel: the summed likelihood's gradient too.
        let y2: Vec<f64> = (y.iter().enumerate())
            .map(|(i, v)| v * 0.5 + (i as f64).sin())
            .collect();
        let (one, two) = (vec![y.clone()], vec![y, y2]);
        for (kernel, ys) in [
            (Kernel::Matern52, &one),
            (Kernel::Matern32, &one),
            (Kernel::Rbf, &one),
            (Kernel::Matern52, &two),
        ] {
            let problem = Problem { x: &x, ys, kernel };
            let mut ws = Workspace::new(20);
            let theta = [0.3f64.ln(), 0.7f64.ln(), 2.0f64.ln(), 0.5, 0.05f64.ln()];
            let mut grad = [0.0; 5];
            problem.nll(&mut ws, &theta, &mut grad).unwrap();
            for k in 0..5 {
                let h = 1e-6;
                let (mut up, mut down) = (theta, theta);
                up[k] += h;
                down[k] -= h;
                let mut scratch = [0.0; 5];
                let fd = (problem.nll(&mut ws, &up, &mut scratch).unwrap()
                    - problem.nll(&mut ws, &down, &mut scratch).unwrap())
                    / (2.0 * h);
                assert!(
                    (fd - grad[k]).abs() <= 1e-5 * (1.0 + fd.abs()),
                    "{kernel:?} parameter {k}: analytic {} vs finite difference {fd}",
                    grad[k]
                );
            }
        }
    }

    #[test]
    fn learns_which_inputs_matter_and_predicts_unseen_runs() {
        let gp = fitted();
        let l = &gp.targets[0].lengthscales;
        // Domain c is 1 - a - b, so only a and b are informative... but c still carries
        // the same information; the fit must at least be accurate out of sample.
        assert_eq!(l.len(), 3);
        let test = runs(40);
        let unseen: Vec<Vec<f64>> = test.mixtures[24..].to_vec();
        let post = gp.posterior(&unseen, &[]).unwrap();
        for (i, w) in unseen.iter().enumerate() {
            let truth = (3.0 * w[0]).sin() + w[1] * w[1];
            let (m, v) = post.moments(i, 0);
            assert!((m - truth).abs() < 0.05, "{m} vs {truth}");
            assert!(v > 0.0 && v.is_finite());
        }
        let fit = &gp.targets[0].fit;
        assert!(fit.log_marginal_likelihood.is_finite() && fit.iterations > 0);
    }

    /// Three targets whose errors correlate (two noisy copies of one function and its
    /// negative): the shared-kernel GP's target correlation matches the correlation of its
    /// own errors on unseen runs (the truth known), and the objective "mean of the two
    /// copies" gets the variance of correlated errors, not of independent ones.
    #[test]
    fn a_shared_kernel_correlates_the_targets_errors_as_the_truth_does() {
        let with_targets = |n: usize, noisy: bool| {
            let mut r = runs(n);
            r.schema.targets = (0..3)
                .map(|k| TargetSpec::new(format!("y{k}"), Direction::Higher))
                .collect();
            r.outcomes = (r.mixtures.iter().enumerate())
                .map(|(i, w)| {
                    let f = (3.0 * w[0]).sin() + 2.0 * w[1] * w[1] - w[0] * w[1];
                    let e = |k: f64| {
                        if noisy {
                            0.02 * (i as f64 * k).sin()
                        } else {
                            0.0
                        }
                    };
                    vec![f + e(12.9898), f + e(78.233), -f + e(37.719)]
                })
                .collect();
            r
        };
        let config = GpConfig {
            share_kernel: true,
            calibrate: false,
            ..GpConfig::default()
        };
        let gp = GaussianProcess::fit(&with_targets(16, true), &config, 0).unwrap();
        let rho = gp.target_correlation.clone().unwrap();
        assert!((0..3).all(|t| (rho[t * 3 + t] - 1.0).abs() < 1e-12));
        // Errors on unseen runs, against the noiseless truth.
        let test = with_targets(216, false);
        let unseen = &test.mixtures[16..];
        let post = gp.posterior(unseen, &[]).unwrap();
        let errors = |t: usize| -> Vec<f64> {
            (0..unseen.len())
                .map(|i| post.moments(i, t).0 - test.outcomes[16 + i][t])
                .collect()
        };
        let corr = |a: &[f64], b: &[f64]| {
            let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(x, y)| x * y).sum::<f64>();
            dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
        };
        let (e0, e1, e2) = (errors(0), errors(1), errors(2));
        let truth = [corr(&e0, &e1), corr(&e0, &e2), corr(&e1, &e2)];
        for (k, (i, j)) in [(0, 1), (0, 2), (1, 2)].into_iter().enumerate() {
            let fitted = rho[i * 3 + j];
            assert!(
                (fitted - truth[k]).abs() < 0.08,
                "{i},{j}: {fitted} vs {}",
                truth[k]
            );
        }
        // The objective (y0 + y1) / 2: how much its std exceeds what independent errors give
        // is how much its actual error on unseen runs exceeds the independent combination.
        let spec = crate::objective::ObjectiveSpec {
            normalize: crate::objective::Normalize::None,
            terms: ["y0", "y1"]
                .map(|t| crate::objective::TermSpec {
                    target: t.into(),
                    weight: 1.0,
                    direction: None,
                })
                .to_vec(),
            groups: Vec::new(),
        };
        let objective =
            crate::objective::Objective::new(&spec, &gp.schema, &gp.target_norm).unwrap();
        let joint = crate::acquisition::Scores::new(post.clone(), &objective);
        let independent = crate::acquisition::Scores::new(
            Posterior {
                correlation: None,
                members: None,
                ..post
            },
            &objective,
        );
        let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        let predicted = mean(
            (joint.std.iter().zip(&independent.std))
                .map(|(j, i)| j / i)
                .collect(),
        );
        let rms = |v: &[f64]| mean(v.iter().map(|x| x * x).collect()).sqrt();
        let both: Vec<f64> = e0.iter().zip(&e1).map(|(a, b)| (a + b) / 2.0).collect();
        let actual = rms(&both) / ((rms(&e0).powi(2) + rms(&e1).powi(2)) / 4.0).sqrt();
        assert!(predicted > 1.25, "{predicted}");
        assert!(
            (predicted - actual).abs() < 0.05,
            "predicted {predicted}, actual {actual}"
        );
    }

    /// Two targets of independent noise around different functions: no correlation appears.
    #[test]
    fn independent_noisy_targets_get_no_error_correlation() {
        let mut r = runs(16);
        r.schema.targets = (0..2)
            .map(|k| TargetSpec::new(format!("y{k}"), Direction::Higher))
            .collect();
        r.outcomes = (r.mixtures.iter().enumerate())
            .map(|(i, w)| {
                let e = |k: f64| 0.3 * (i as f64 * k).sin();
                vec![w[0] + e(12.9898), w[1] * w[1] + e(78.233)]
            })
            .collect();
        let config = GpConfig {
            share_kernel: true,
            calibrate: false,
            ..GpConfig::default()
        };
        let gp = GaussianProcess::fit(&r, &config, 0).unwrap();
        let rho = gp.target_correlation.unwrap();
        assert!(rho[1].abs() < 0.3, "{rho:?}");
    }

    /// Correlated targets (smooth functions of the same inputs): a shared kernel fits one set
    /// of hyperparameters and one factor for all, survives a checkpoint, and predicts unseen
    /// runs about as well as one GP per target.
    #[test]
    fn a_shared_kernel_serves_every_target_with_one_factor() {
        let with_targets = |n: usize| {
            let mut r = runs(n);
            r.schema.targets = (0..4)
                .map(|k| TargetSpec::new(format!("y{k}"), Direction::Lower))
                .collect();
            r.outcomes = (r.mixtures.iter())
                .map(|w| {
                    let base = (3.0 * w[0]).sin() + w[1] * w[1];
                    (0..4)
                        .map(|k| base * (1.0 + 0.3 * k as f64) + 0.2 * k as f64 * w[2])
                        .collect()
                })
                .collect();
            r
        };
        let train = with_targets(30);
        let shared = GpConfig {
            share_kernel: true,
            ..GpConfig::default()
        };
        let gp = GaussianProcess::fit(&train, &shared, 0).unwrap();
        let first = &gp.targets[0];
        for g in &gp.targets[1..] {
            assert!(g.same_kernel(first));
            assert!(Arc::ptr_eq(
                g.factor.as_ref().unwrap(),
                first.factor.as_ref().unwrap()
            ));
            assert_ne!(g.alpha, first.alpha);
        }
        let independent = GaussianProcess::fit(&train, &GpConfig::default(), 0).unwrap();
        let test = with_targets(60);
        let unseen = &test.mixtures[30..];
        let (a, b) = (
            gp.posterior(unseen, &[]).unwrap(),
            independent.posterior(unseen, &[]).unwrap(),
        );
        for t in 0..4 {
            let rmse = |p: &Posterior| {
                let sse: f64 = (0..unseen.len())
                    .map(|i| (p.moments(i, t).0 - test.outcomes[30 + i][t]).powi(2))
                    .sum();
                (sse / unseen.len() as f64).sqrt()
            };
            assert!(
                rmse(&a) < 0.05 && rmse(&a) < 2.0 * rmse(&b) + 0.01,
                "target {t}: {} vs {}",
                rmse(&a),
                rmse(&b)
            );
        }
        let dir = tempfile::tempdir().unwrap();
        gp.save(&dir.path().join("gp"), crate::io::Overwrite::Refuse)
            .unwrap();
        let back = GaussianProcess::load(&dir.path().join("gp")).unwrap();
        assert!(Arc::ptr_eq(
            back.targets[3].factor.as_ref().unwrap(),
            back.targets[0].factor.as_ref().unwrap()
        ));
        assert_eq!(back.posterior(unseen, &[]).unwrap(), a);
        // With one target, sharing is the independent fit.
        let one = runs(20);
        assert_eq!(
            GaussianProcess::fit(&one, &shared, 0).unwrap().targets[0].alpha,
            GaussianProcess::fit(&one, &GpConfig::default(), 0)
                .unwrap()
                .targets[0]
                .alpha
        );
    }

    #[test]
    fn duplicated_runs_fit_and_predict_finite_values() {
        let mut r = runs(12);
        let copy = r.subset(&(0..12).collect::<Vec<_>>());
        r.extend(&copy).unwrap();
        r.outcomes[12][0] += 0.01;
        let gp = GaussianProcess::fit(&r, &GpConfig::default(), 0).unwrap();
        let post = gp.posterior(&r.mixtures[..3], &[]).unwrap();
        assert!(
            post.mean
                .iter()
                .chain(&post.variance)
                .all(|v| v.is_finite())
        );
    }

    #[test]
    fn checkpoint_round_trip_predicts_the_same() {
        let gp = fitted();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gp");
        gp.save(&path, crate::io::Overwrite::Refuse).unwrap();
        let back = GaussianProcess::load(&path).unwrap();
        let q = runs(30).mixtures[24..].to_vec();
        assert_eq!(
            gp.posterior(&q, &[]).unwrap(),
            back.posterior(&q, &[]).unwrap()
        );
        // A truncated export or an edited model is refused, naming the file.
        let export = path.join(GP_SAFETENSORS);
        let bytes = std::fs::read(&export).unwrap();
        std::fs::write(&export, &bytes[..bytes.len() / 2]).unwrap();
        let err = GaussianProcess::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("gp.safetensors") && err.contains("truncated"),
            "{err}"
        );
        std::fs::write(&export, &bytes).unwrap();
        let manifest = path.join(envelope::MANIFEST);
        let text = std::fs::read_to_string(&manifest).unwrap();
        let edited = text.replacen("\"calibration\":", "\"calibration\": ", 1);
        std::fs::write(&manifest, edited).unwrap();
        let err = GaussianProcess::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("manifest.json") && err.contains("sha256"),
            "{err}"
        );
        // A 0.1 file of layout 1 is refused with a message that says what to do.
        std::fs::remove_file(&manifest).unwrap();
        let old = r#"{"format":"mixatlas-gp","schema":{}}"#;
        std::fs::write(path.join(GP_FILE), old).unwrap();
        let digest = envelope::digest(GP_FILE, old.as_bytes()).sha256;
        std::fs::write(path.join("gp.sha256"), digest).unwrap();
        let err = GaussianProcess::load(&path).unwrap_err().to_string();
        assert!(err.contains("layout version 1"), "{err}");
    }

    #[test]
    fn covariance_diagonal_is_the_posterior_variance_and_it_is_symmetric() {
        let gp = fitted();
        let q = vec![
            vec![0.05, 0.9, 0.05],
            vec![0.5, 0.3, 0.2],
            vec![0.52, 0.29, 0.19],
        ];
        let post = gp.posterior(&q, &[]).unwrap();
        let cov = gp
            .covariance(&q, &[])
            .unwrap()
            .expect("a GP has a joint posterior");
        for i in 0..3 {
            let v = post.moments(i, 0).1;
            assert!(
                (cov[0][i * 3 + i] - v).abs() <= 1e-9 * (1.0 + v),
                "{} vs {v}",
                cov[0][i * 3 + i]
            );
            for j in 0..3 {
                assert_eq!(cov[0][i * 3 + j], cov[0][j * 3 + i]);
            }
        }
        // Nearby candidates are strongly correlated, distant ones much less.
        let corr = |i: usize, j: usize| cov[0][i * 3 + j] / (cov[0][i * 4] * cov[0][j * 4]).sqrt();
        assert!(corr(1, 2) > 0.9, "near: {}", corr(1, 2));
        assert!(corr(0, 1) < corr(1, 2));
        let caps = gp.capabilities();
        assert!(caps.members == Some(PATHS) && caps.joint && !caps.differentiable);
    }

    #[test]
    fn joint_samples_have_the_posterior_mean_and_covariance() {
        let gp = fitted();
        let q = vec![
            vec![0.05, 0.9, 0.05],
            vec![0.5, 0.3, 0.2],
            vec![0.52, 0.29, 0.19],
        ];
        let mut rng = StdRng::seed_from_u64(7);
        let count = 20_000;
        let draws = gp.joint_samples(&q, &[], count, &mut rng).unwrap().unwrap();
        let post = gp.posterior(&q, &[]).unwrap();
        let cov = gp.covariance(&q, &[]).unwrap().unwrap();
        let at = |s: usize, i: usize| draws[s * 3 + i];
        for i in 0..3 {
            let mean = (0..count).map(|s| at(s, i)).sum::<f64>() / count as f64;
            let sd = post.moments(i, 0).1.sqrt();
            assert!((mean - post.moments(i, 0).0).abs() < 4.0 * sd / (count as f64).sqrt() + 1e-12);
        }
        let m: Vec<f64> = (0..3)
            .map(|i| (0..count).map(|s| at(s, i)).sum::<f64>() / count as f64)
            .collect();
        let c12 = (0..count)
            .map(|s| (at(s, 1) - m[1]) * (at(s, 2) - m[2]))
            .sum::<f64>()
            / count as f64;
        assert!(
            (c12 - cov[0][5]).abs() < 0.05 * cov[0][4],
            "{c12} vs {}",
            cov[0][5]
        );
    }

    #[test]
    fn sample_paths_have_the_posterior_mean_and_covariance() {
        // Measured outcomes carry noise (here 0.02 sd), as proxy runs do.
        let mut r = runs(24);
        for (i, o) in r.outcomes.iter_mut().enumerate() {
            o[0] += 0.02 * (17.0 * i as f64).sin();
        }
        let mut gp = GaussianProcess::fit(&r, &GpConfig::default(), 0).unwrap();
        let q = vec![
            vec![0.05, 0.9, 0.05],
            vec![0.5, 0.3, 0.2],
            vec![0.52, 0.29, 0.19],
        ];
        let exact = gp.posterior(&q, &[]).unwrap();
        let cov = gp.covariance(&q, &[]).unwrap().unwrap();
        // Paths are one function each: the same path scores a candidate alike in any batch.
        let alone = gp.posterior(&q[2..], &[]).unwrap().members.unwrap();
        let together = exact.members.as_ref().unwrap();
        assert!((alone.outputs[0] - together.outputs[2]).abs() < 1e-9);
        // Over many path draws: the exact posterior mean and covariance (RFF error aside).
        let mut draws: Vec<[f64; 3]> = Vec::new();
        for seed in 0..150 {
            gp.path_seed = seed;
            gp.draw_paths();
            let m = gp.posterior(&q, &[]).unwrap().members.unwrap();
            for s in 0..PATHS {
                draws.push([0, 1, 2].map(|i| m.outputs[s * 3 + i]));
            }
        }
        let count = draws.len() as f64;
        let mean: Vec<f64> = (0..3)
            .map(|i| draws.iter().map(|d| d[i]).sum::<f64>() / count)
            .collect();
        let c = |i: usize, j: usize| {
            draws
                .iter()
                .map(|d| (d[i] - mean[i]) * (d[j] - mean[j]))
                .sum::<f64>()
                / count
        };
        for (i, sample_mean) in mean.iter().enumerate() {
            let (m, v) = exact.moments(i, 0);
            assert!(
                (sample_mean - m).abs() < 4.0 * (v / count).sqrt() + 1e-9,
                "mean {i}"
            );
            assert!(
                (c(i, i) / v - 1.0).abs() < 0.2,
                "variance {i}: {} vs {v}",
                c(i, i)
            );
        }
        let corr = c(1, 2) / (c(1, 1) * c(2, 2)).sqrt();
        let exact_corr = cov[0][5] / (cov[0][4] * cov[0][8]).sqrt();
        assert!((corr - exact_corr).abs() < 0.1, "{corr} vs {exact_corr}");
    }

    #[test]
    fn kriging_believer_keeps_the_mean_and_shrinks_the_variance_near_the_pick() {
        let gp = fitted();
        let pick = vec![vec![0.3, 0.3, 0.4]];
        let near = vec![vec![0.31, 0.29, 0.4], vec![0.05, 0.9, 0.05]];
        let believed = gp.condition_on_means(&pick, &[]).unwrap();
        let (before, after) = (
            gp.posterior(&pick, &[]).unwrap(),
            believed.posterior(&pick, &[]).unwrap(),
        );
        assert!((before.mean[0] - after.mean[0]).abs() < 1e-6 * (1.0 + before.mean[0].abs()));
        let (b, a) = (
            gp.posterior(&near, &[]).unwrap(),
            believed.posterior(&near, &[]).unwrap(),
        );
        assert!(a.variance[0] < 0.5 * b.variance[0], "{a:?} vs {b:?}");
        // Far from the pick the posterior barely moves.
        assert!(a.variance[1] > 0.8 * b.variance[1], "{a:?} vs {b:?}");
        // The training runs' means are unchanged too.
        let runs = runs(24).mixtures;
        let (x, y) = (
            gp.posterior(&runs, &[]).unwrap(),
            believed.posterior(&runs, &[]).unwrap(),
        );
        for (p, q) in x.mean.iter().zip(&y.mean) {
            assert!((p - q).abs() < 1e-6 * (1.0 + p.abs()), "{p} vs {q}");
        }
    }

    #[test]
    fn bad_configs_are_refused_naming_the_field() {
        for (text, needle) in [
            ("starts = 0", "`starts`"),
            ("max_iterations = 0", "`max_iterations`"),
            ("kernel = \"cubic\"", "cubic"),
            ("input_transform = { kind = \"log\", eps = -1.0 }", "`eps`"),
            ("restarts = 3", "restarts"),
        ] {
            let err = GpConfig::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
