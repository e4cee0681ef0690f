//! The GP's fit: the log marginal likelihood and its analytic gradient, the L-BFGS driver over
//! bounded hyperparameters, the screened starts, and the calibration refits.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky;
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Accum, Mat, MatRef, Par};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::{BOUNDS, GpConfig, GpFit, GpTarget, JITTER, Kernel, LENGTHSCALE_PRIOR_VAR};
use crate::math::derive_seed;
use crate::math::lbfgs::{self, Options};
use crate::surrogate::SurrogateError;
use crate::surrogate::metrics::{Z90, fold_scores, interval_scale};

/// `X / l` as an `N x D` matrix.
pub(super) fn scaled(x: &[Vec<f64>], lengthscales: &[f64]) -> Mat<f64> {
    Mat::from_fn(x.len(), lengthscales.len(), |i, d| {
        x[i][d] / lengthscales[d]
    })
}

/// Squared row norms of `z`.
fn row_norms(z: MatRef<'_, f64>) -> Vec<f64> {
    (0..z.nrows())
        .map(|i| (0..z.ncols()).map(|d| z[(i, d)] * z[(i, d)]).sum())
        .collect()
}

/// `a b` (sequential).
pub(super) fn product(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::zeros(a.nrows(), b.ncols());
    add_product(out.as_mut(), a, b);
    out
}

/// `out += a b` (sequential).
pub(super) fn add_product(out: faer::MatMut<'_, f64>, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
    faer::linalg::matmul::matmul(out, Accum::Add, a, b, 1.0, Par::Seq);
}

/// Scaled distances between the rows of `a` and `b` (`N x M`), from `|a|² + |b|² - 2abᵀ`.
fn distances(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let (na, nb) = (row_norms(a), row_norms(b));
    let mut g = product(a, b.transpose());
    for j in 0..g.ncols() {
        for i in 0..g.nrows() {
            g[(i, j)] = (na[i] + nb[j] - 2.0 * g[(i, j)]).max(0.0).sqrt();
        }
    }
    g
}

/// `s² φ(|a_i - b_j| / l)` between the rows of `a` and `b` (standardised input units), `[N, M]`.
pub(super) fn cross_kernel(
    kernel: Kernel,
    signal_var: f64,
    lengthscales: &[f64],
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
) -> Mat<f64> {
    let scale =
        |m: MatRef<'_, f64>| Mat::from_fn(m.nrows(), m.ncols(), |i, d| m[(i, d)] / lengthscales[d]);
    let mut k = distances(scale(a).as_ref(), scale(b).as_ref());
    for j in 0..k.ncols() {
        for i in 0..k.nrows() {
            k[(i, j)] = signal_var * kernel.phi(k[(i, j)]);
        }
    }
    k
}

/// `Σ_d (ln l_d - ln √D)² / (2 var)`: the negative log of the lengthscale prior (up to a
/// constant) at log lengthscales `log_l` `[D]`.
fn lengthscale_penalty(log_l: &[f64]) -> f64 {
    let centre = (log_l.len() as f64).sqrt().ln();
    log_l.iter().map(|t| (t - centre).powi(2)).sum::<f64>() / (2.0 * LENGTHSCALE_PRIOR_VAR)
}

/// The fitting problem of targets that share one kernel: inputs, standardised outcomes
/// (`ys[t]` is target `t`'s `[N]`) and kernel. The likelihood is the sum over targets of each
/// target's, with one set of hyperparameters; with one target it is that target's own.
pub(super) struct Problem<'a> {
    pub(super) x: &'a [Vec<f64>],
    pub(super) ys: &'a [Vec<f64>],
    pub(super) kernel: Kernel,
}

/// Hyperparameters from the unconstrained L-BFGS point `u`: `θ_k = lo_k + (hi_k - lo_k) σ(u_k)`
/// in log space; returns `θ` and `dθ/du`.
fn constrain(u: &[f64], dims: usize) -> (Vec<f64>, Vec<f64>) {
    u.iter()
        .enumerate()
        .map(|(k, &v)| {
            let (lo, hi) = bound(k, dims);
            let s = 1.0 / (1.0 + (-v).exp());
            (lo + (hi - lo) * s, (hi - lo) * s * (1.0 - s))
        })
        .unzip()
}

/// `(ln lo, ln hi)` of parameter `k` out of `dims + 2`.
fn bound(k: usize, dims: usize) -> (f64, f64) {
    let (lo, hi) = BOUNDS[if k < dims { 0 } else { k - dims + 1 }];
    (lo.ln(), hi.ln())
}

/// Inverse of [`constrain`] for one parameter.
fn unconstrain(theta: f64, k: usize, dims: usize) -> f64 {
    let (lo, hi) = bound(k, dims);
    let s = ((theta - lo) / (hi - lo)).clamp(1e-6, 1.0 - 1e-6);
    (s / (1.0 - s)).ln()
}

/// Buffers of one likelihood evaluation, reused across the evaluations of a start: the
/// kernel matrix (factorised in place), `s² ψ(R)` (then `M = W ∘ s²ψ(R)`), `K⁻¹` (then `W`),
/// and faer's scratch space. Three `N x N` matrices plus one of scratch.
pub(super) struct Workspace {
    factor: Mat<f64>,
    m: Mat<f64>,
    w: Mat<f64>,
    mem: MemBuffer,
}

impl Workspace {
    pub(super) fn new(n: usize) -> Self {
        let scratch = cholesky::llt::factor::cholesky_in_place_scratch::<f64>(
            n,
            Par::Seq,
            Default::default(),
        )
        .or(cholesky::llt::inverse::inverse_scratch::<f64>(n, Par::Seq))
        .or(cholesky::llt::solve::solve_in_place_scratch::<f64>(
            n,
            1,
            Par::Seq,
        ));
        Workspace {
            factor: Mat::zeros(n, n),
            m: Mat::zeros(n, n),
            w: Mat::zeros(n, n),
            mem: MemBuffer::new(scratch),
        }
    }

    /// Fills `factor` with the lower Cholesky factor of `K = s² φ(R) + (n² + jitter) I` and
    /// the lower triangle of `m` with `s² ψ(R)` at log hyperparameters `theta`, for scaled inputs
    /// `z = X / l`. `None` when `K` is not positive definite.
    pub(super) fn factorise(
        &mut self,
        kernel: Kernel,
        theta: &[f64],
        z: MatRef<'_, f64>,
    ) -> Option<()> {
        let dims = z.ncols();
        let (s2, noise) = (theta[dims].exp(), theta[dims + 1].exp());
        let n = z.nrows();
        let norms = row_norms(z);
        faer::linalg::matmul::matmul(
            self.factor.as_mut(),
            Accum::Replace,
            z,
            z.transpose(),
            1.0,
            Par::Seq,
        );
        // Column slices (column-major storage): no index checks in the O(N²) loop.
        for j in 0..n {
            let k = &mut self.factor.col_as_slice_mut(j)[j..];
            let m = &mut self.m.col_as_slice_mut(j)[j..];
            for ((kv, mv), ni) in k.iter_mut().zip(m.iter_mut()).zip(&norms[j..]) {
                let r = (ni + norms[j] - 2.0 * *kv).max(0.0).sqrt();
                let (phi, psi) = kernel.phi_psi(r);
                *kv = s2 * phi;
                *mv = s2 * psi;
            }
            k[0] = s2 + noise + JITTER;
        }
        let stack = MemStack::new(&mut self.mem);
        cholesky::llt::factor::cholesky_in_place(
            self.factor.as_mut(),
            Default::default(),
            Par::Seq,
            stack,
            Default::default(),
        )
        .ok()?;
        Some(())
    }

    /// `α = K⁻¹ y` from the factor.
    pub(super) fn solve(&mut self, y: &[f64]) -> Vec<f64> {
        solve_llt(self.factor.as_ref(), &mut self.mem, y)
    }

    /// `K⁻¹ y` from another lower Cholesky `factor` of this workspace's size (only its lower
    /// triangle is read).
    pub(super) fn solve_with(&mut self, factor: MatRef<'_, f64>, y: &[f64]) -> Vec<f64> {
        solve_llt(factor, &mut self.mem, y)
    }

    /// `K⁻¹` into `w` (lower triangle only).
    pub(super) fn invert(&mut self) {
        let stack = MemStack::new(&mut self.mem);
        cholesky::llt::inverse::inverse(self.w.as_mut(), self.factor.as_ref(), Par::Seq, stack);
    }

    /// The lower factor with its upper triangle zeroed.
    pub(super) fn lower_factor(&self) -> Mat<f64> {
        let n = self.factor.nrows();
        Mat::from_fn(n, n, |i, j| if i >= j { self.factor[(i, j)] } else { 0.0 })
    }
}

/// `K⁻¹ y` for `K = L Lᵀ`, `L` the lower triangle of `factor`, with scratch from `mem`.
fn solve_llt(factor: MatRef<'_, f64>, mem: &mut MemBuffer, y: &[f64]) -> Vec<f64> {
    let mut alpha = Mat::from_fn(y.len(), 1, |i, _| y[i]);
    let stack = MemStack::new(mem);
    cholesky::llt::solve::solve_in_place(factor, alpha.as_mut(), Par::Seq, stack);
    (0..y.len()).map(|i| alpha[(i, 0)]).collect()
}

/// Copies the strict lower triangle of square `m` onto its upper triangle, in tiles so the
/// strided writes stay in cache.
fn mirror_lower(m: &mut Mat<f64>) {
    const TILE: usize = 32;
    let n = m.nrows();
    for jb in (0..n).step_by(TILE) {
        for ib in (jb..n).step_by(TILE) {
            for j in jb..(jb + TILE).min(n) {
                for i in ib.max(j + 1)..(ib + TILE).min(n) {
                    m[(j, i)] = m[(i, j)];
                }
            }
        }
    }
}

impl Problem<'_> {
    /// Negative log marginal likelihood per run and target at log hyperparameters `theta`,
    /// and its gradient in `grad`; `None` where `K` is not positive definite.
    pub(super) fn nll(&self, ws: &mut Workspace, theta: &[f64], grad: &mut [f64]) -> Option<f64> {
        let (n, targets) = (self.x.len(), self.ys.len());
        let t = targets as f64;
        let dims = theta.len() - 2;
        let lengthscales: Vec<f64> = theta[..dims].iter().map(|v| v.exp()).collect();
        let noise = theta[dims + 1].exp() + JITTER;
        let z = scaled(self.x, &lengthscales);
        ws.factorise(self.kernel, theta, z.as_ref())?;
        // α_t = K⁻¹ y_t, stored row-major `[N, T]` so a run's coefficients are contiguous.
        let mut alpha = vec![0.0; n * targets];
        let mut fit = 0.0;
        for (k, y) in self.ys.iter().enumerate() {
            let a = ws.solve(y);
            fit += y.iter().zip(&a).map(|(a, b)| a * b).sum::<f64>();
            a.iter()
                .enumerate()
                .for_each(|(i, v)| alpha[i * targets + k] = *v);
        }
        let log_det: f64 = (0..n).map(|i| ws.factor[(i, i)].ln()).sum::<f64>() * 2.0;
        let nll = 0.5 * (fit + t * log_det + t * n as f64 * (2.0 * std::f64::consts::PI).ln());
        // W = Σ_t α_t α_tᵀ - T K⁻¹ and dNLL/dθ = -½ tr(W ∂K/∂θ). With ∂K/∂ln s² = K - (n² +
        // jitter) I, tr(W K) = Σ_t y_tᵀα_t - T N, so the signal term needs no kernel values.
        ws.invert();
        let outer = |i: usize, j: usize| -> f64 {
            let (a, b) = (
                &alpha[i * targets..][..targets],
                &alpha[j * targets..][..targets],
            );
            a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y)
        };
        let mut trace = 0.0;
        let mut rowsum = vec![0.0; n];
        for j in 0..n {
            let w = &ws.w.col_as_slice(j)[j..];
            let m = &mut ws.m.col_as_slice_mut(j)[j..];
            let wjj = outer(j, j) - t * w[0];
            trace += wjj;
            m[0] *= wjj;
            let mut column = m[0];
            for (k, ((mv, wv), ri)) in (m[1..].iter_mut().zip(&w[1..]))
                .zip(&mut rowsum[j + 1..])
                .enumerate()
            {
                *mv *= outer(j + 1 + k, j) - t * wv;
                *ri += *mv;
                column += *mv;
            }
            rowsum[j] += column;
        }
        mirror_lower(&mut ws.m);
        grad[dims] = -0.5 * ((fit - t * n as f64) - noise * trace);
        grad[dims + 1] = -0.5 * (noise - JITTER) * trace;
        // ∂k/∂ln l_d = s² ψ(r) Δ_d² (scaled), so the term is -½ Σ_ij M_ij (z_id - z_jd)²
        // = -Σ_i z_id (z_id rowsum_i - (MZ)_id) for symmetric M.
        let mz = product(ws.m.as_ref(), z.as_ref());
        for (d, g) in grad.iter_mut().enumerate().take(dims) {
            *g = -(0..n)
                .map(|i| z[(i, d)] * (z[(i, d)] * rowsum[i] - mz[(i, d)]))
                .sum::<f64>();
        }
        // The lengthscale prior: ln l_d ~ N(ln √D, LENGTHSCALE_PRIOR_VAR).
        let centre = (dims as f64).sqrt().ln();
        for (t, g) in theta.iter().zip(grad.iter_mut()).take(dims) {
            *g += (t - centre) / LENGTHSCALE_PRIOR_VAR;
        }
        let scale = 1.0 / (n * targets) as f64;
        grad.iter_mut().for_each(|g| *g *= scale);
        Some((nll + lengthscale_penalty(&theta[..dims])) * scale)
    }
}

/// L-BFGS iterations of each calibration fold's refit, warm-started at the full fit.
const CALIBRATION_ITERATIONS: usize = 5;

/// `|z_i| = |y_i - μ_i| / σ_i` of the runs in `test` under a GP on the runs in `train`
/// (standardised units; `σ²` includes the noise) with log hyperparameters `theta`, for each
/// target of `ys` (`[T][N]`): row-major `[test][T]`.
pub(super) fn held_out_scores(
    x: &[Vec<f64>],
    ys: &[Vec<f64>],
    kernel: Kernel,
    theta: &[f64],
    (train, test): (&[usize], &[usize]),
) -> Option<Vec<f64>> {
    let dims = theta.len() - 2;
    let (s2, noise) = (theta[dims].exp(), theta[dims + 1].exp());
    let lengthscales: Vec<f64> = theta[..dims].iter().map(|v| v.exp()).collect();
    let rows = |idx: &[usize]| Mat::from_fn(idx.len(), dims, |r, d| x[idx[r]][d]);
    let (xt, xq) = (rows(train), rows(test));
    let mut ws = Workspace::new(train.len());
    let zt = Mat::from_fn(xt.nrows(), dims, |i, d| xt[(i, d)] / lengthscales[d]);
    ws.factorise(kernel, theta, zt.as_ref())?;
    let mut v = cross_kernel(kernel, s2, &lengthscales, xt.as_ref(), xq.as_ref());
    // `[T][test]`
    let means: Vec<Vec<f64>> = (ys.iter())
        .map(|y| {
            let yt: Vec<f64> = train.iter().map(|&i| y[i]).collect();
            let alpha = ws.solve(&yt);
            (0..test.len())
                .map(|j| (0..train.len()).map(|i| v[(i, j)] * alpha[i]).sum())
                .collect()
        })
        .collect();
    solve_lower_triangular_in_place(ws.factor.as_ref(), v.as_mut(), Par::Seq);
    Some(
        test.iter()
            .enumerate()
            .flat_map(|(j, &row)| {
                let explained: f64 = (0..train.len()).map(|i| v[(i, j)] * v[(i, j)]).sum();
                let sd = ((s2 - explained).max(0.0) + noise + JITTER).sqrt();
                (ys.iter().zip(&means)).map(move |(y, mean)| (y[row] - mean[j]).abs() / sd)
            })
            .collect(),
    )
}

/// L-BFGS on `problem` from the unconstrained point `u0`.
pub(super) fn minimize(
    problem: &Problem<'_>,
    u0: &[f64],
    max_iterations: usize,
) -> Option<lbfgs::Minimum> {
    let dims = u0.len() - 2;
    let mut ws = Workspace::new(problem.x.len());
    let mut grad_theta = vec![0.0; dims + 2];
    let options = Options {
        max_iterations,
        max_evaluations: 2 * max_iterations + 10,
        tolerance: 1e-6,
        ..Options::default()
    };
    lbfgs::minimize(
        |u, grad| {
            let (theta, dtheta) = constrain(u, dims);
            let v = problem.nll(&mut ws, &theta, &mut grad_theta)?;
            grad.iter_mut()
                .zip(grad_theta.iter().zip(&dtheta))
                .for_each(|(g, (a, b))| *g = a * b);
            Some(v)
        },
        u0,
        &options,
    )
}

/// Iterations every start gets before only the best one goes on.
const SCREEN_ITERATIONS: usize = 5;

/// The hyperparameters `theta` (log scale: `dims` lengthscales, signal variance, noise) within
/// 1% of a bound, said in words; a lengthscale at its upper bound (an input the target
/// ignores) is fine and not listed.
fn at_bounds(theta: &[f64], dims: usize) -> Vec<String> {
    (0..dims + 2)
        .flat_map(|k| {
            let (lo, hi) = bound(k, dims);
            let name = match k {
                k if k < dims => format!("lengthscale {k}"),
                k if k == dims => "signal variance".to_owned(),
                _ => "noise".to_owned(),
            };
            let margin = 0.01 * (hi - lo);
            [
                (theta[k] < lo + margin)
                    .then(|| format!("{name} at its lower bound {:.0e}", lo.exp())),
                (k >= dims && theta[k] > hi - margin)
                    .then(|| format!("{name} at its upper bound {:.0e}", hi.exp())),
            ]
        })
        .flatten()
        .collect()
}

/// Fits targets `ys` (`[T][N]`, standardised; the first is target `target` of the model)
/// with one set of hyperparameters: every start runs [`SCREEN_ITERATIONS`] L-BFGS iterations,
/// then the best of them runs to convergence (screening costs `starts x 5` iterations instead
/// of `starts x` a full run, about 40 at 512 runs). One target is an independent GP; several
/// share the kernel, one Cholesky factor serving every target. Each target keeps its own
/// coefficients and calibration.
pub(super) fn fit_targets(
    x: &[Vec<f64>],
    ys: &[Vec<f64>],
    config: &GpConfig,
    seed: u64,
    target: usize,
) -> Result<Vec<GpTarget>, SurrogateError> {
    let (n, dims, targets) = (x.len(), x[0].len(), ys.len());
    let problem = Problem {
        x,
        ys,
        kernel: config.kernel,
    };
    let first = (dims as f64).sqrt().ln();
    let screen = if config.starts > 1 {
        SCREEN_ITERATIONS.min(config.max_iterations)
    } else {
        config.max_iterations
    };
    let screened: Vec<Option<lbfgs::Minimum>> = (0..config.starts)
        .into_par_iter()
        .map(|start| {
            let mut rng = StdRng::seed_from_u64(derive_seed(seed, (target * 1000 + start) as u64));
            let mut theta0 = vec![first; dims];
            theta0.extend([0.0, 0.01f64.ln()]);
            if start > 0 {
                for v in theta0.iter_mut().take(dims) {
                    *v += Distribution::<f64>::sample(&StandardNormal, &mut rng);
                }
                theta0[dims + 1] = (-2.0 - 3.0 * rand::Rng::random::<f64>(&mut rng)) * 10f64.ln();
            }
            let u0: Vec<f64> = (0..dims + 2)
                .map(|k| unconstrain(theta0[k], k, dims))
                .collect();
            minimize(&problem, &u0, screen)
        })
        .collect();
    let (best_start, screened_best) = screened
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
        .min_by(|a, b| a.1.value.total_cmp(&b.1.value))
        .ok_or(SurrogateError::NotPositiveDefinite { target })?;
    let mut evaluations: usize = screened.iter().flatten().map(|r| r.evaluations).sum();
    let mut best = screened_best.clone();
    if screen < config.max_iterations && best.iterations == screen {
        let more = minimize(&problem, &best.x, config.max_iterations - screen)
            .ok_or(SurrogateError::NotPositiveDefinite { target })?;
        evaluations += more.evaluations;
        best = lbfgs::Minimum {
            iterations: best.iterations + more.iterations,
            ..more
        };
    }
    let (theta, _) = constrain(&best.x, dims);
    let at_bounds = at_bounds(&theta, dims);
    let lengthscales: Vec<f64> = theta[..dims].iter().map(|v| v.exp()).collect();
    let mut ws = Workspace::new(n);
    ws.factorise(config.kernel, &theta, scaled(x, &lengthscales).as_ref())
        .ok_or(SurrogateError::NotPositiveDefinite { target })?;
    // Calibration: fold refits warm-started at the optimum, scored on their held-out runs
    // (row-major `[run][T]`).
    let calibration_seed = derive_seed(seed, (target * 1000 + 999) as u64);
    let z = if config.calibrate {
        fold_scores(n, calibration_seed, |train, test| {
            let xt: Vec<Vec<f64>> = train.iter().map(|&i| x[i].clone()).collect();
            let yt: Vec<Vec<f64>> = (ys.iter())
                .map(|y| train.iter().map(|&i| y[i]).collect())
                .collect();
            let refit = Problem {
                x: &xt,
                ys: &yt,
                kernel: config.kernel,
            };
            let u =
                minimize(&refit, &best.x, CALIBRATION_ITERATIONS).map_or(best.x.clone(), |m| m.x);
            held_out_scores(x, ys, config.kernel, &constrain(&u, dims).0, (train, test))
        })
    } else {
        Vec::new()
    };
    let factor = std::sync::Arc::new(ws.lower_factor());
    let fit = GpFit {
        log_marginal_likelihood: -best.value * (n * targets) as f64
            + lengthscale_penalty(&theta[..dims]),
        starts: config.starts,
        best_start,
        iterations: best.iterations,
        evaluations,
        at_bounds,
        cv_coverage90: None,
    };
    let log_det: f64 = (0..n).map(|i| factor[(i, i)].ln()).sum::<f64>() * 2.0;
    Ok((ys.iter().enumerate())
        .map(|(k, y)| {
            let mut z: Vec<f64> = z.iter().skip(k).step_by(targets).copied().collect();
            let cv_coverage90 = (!z.is_empty())
                .then(|| z.iter().filter(|&&v| v <= Z90).count() as f64 / z.len() as f64);
            let alpha = ws.solve(y);
            // Each target's own term of a shared kernel's summed likelihood.
            let log_marginal_likelihood = if targets == 1 {
                fit.log_marginal_likelihood
            } else {
                let data: f64 = y.iter().zip(&alpha).map(|(a, b)| a * b).sum();
                -0.5 * (data + log_det + n as f64 * (2.0 * std::f64::consts::PI).ln())
            };
            GpTarget {
                lengthscales: lengthscales.clone(),
                signal_var: theta[dims].exp(),
                noise_var: theta[dims + 1].exp(),
                alpha,
                calibration: interval_scale(&mut z, 0.25, 4.0),
                fit: GpFit {
                    cv_coverage90,
                    log_marginal_likelihood,
                    ..fit.clone()
                },
                factor: Some(factor.clone()),
                paths: None,
            }
        })
        .collect())
}
