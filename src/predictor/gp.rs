//! A Gaussian-process surrogate, the MixAtlas paper's model, so the deep ensemble and the GP
//! run on the same data and through the same acquisition code.
//!
//! One independent GP per target on the transformed, standardised mixture (and context)
//! inputs, with an isotropic Matérn-5/2 kernel
//! `k(r) = s² (1 + √5 r/l + 5 r²/(3 l²)) exp(-√5 r/l)` plus observation noise `n²`.
//! Hyperparameters maximise the log marginal likelihood: the signal variance `s²` in closed
//! form (profile likelihood, `s² = yᵀ K̃⁻¹ y / N` for `K̃ = K/s² + (n²/s²) I`), the lengthscale `l`
//! and the noise ratio `n²/s²` on a log grid refined once around the best point. Each
//! evaluation is one Cholesky factorisation, O(N³).
//!
//! Prediction: mean `k*ᵀ α` and epistemic variance `s² - |L⁻¹ k*|²` (O(N²) per candidate, so a
//! GP over 512 runs scores about 10^4 candidates/s: pool mode and the loop, not 10^7-candidate
//! simulations). For acquisition functions the posterior is handed over as two pseudo-members
//! at `mean ± std` per target, which reproduces the mean and the epistemic std exactly; it is
//! not a joint sample, so Thompson sampling and `ivr` are refused with a GP.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::io;

use crate::predictor::{InputTransform, Normalizer, PredictorError, Surrogate};
use crate::runs::{Runs, Schema};

/// Format tag of `gp.json`.
pub const GP_FORMAT: &str = "mixatlas-gp";
/// The file a GP checkpoint directory holds.
pub const GP_FILE: &str = "gp.json";

/// One target's fitted GP, in standardised target units.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GpTarget {
    /// Kernel lengthscale `l` (standardised input units).
    pub lengthscale: f64,
    /// Signal variance `s²`.
    pub signal_var: f64,
    /// Noise variance `n²`.
    pub noise_var: f64,
    /// `K⁻¹ y`, `[N]`.
    pub alpha: Vec<f64>,
    /// Lower Cholesky factor of `K + n² I`, `[N * N]` row-major.
    pub chol: Vec<f64>,
    /// Log marginal likelihood at the optimum.
    pub log_marginal_likelihood: f64,
}

/// A fitted GP surrogate over all targets of a schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GaussianProcess {
    /// Always [`GP_FORMAT`].
    pub format: String,
    /// Columns, space and targets.
    pub schema: Schema,
    /// Mixture transform before standardisation.
    pub transform: InputTransform,
    /// Input standardisation.
    pub input_norm: Normalizer,
    /// Target standardisation.
    pub target_norm: Normalizer,
    /// Standardised training inputs `[N][inputs]`.
    pub x: Vec<Vec<f64>>,
    /// Per target.
    pub targets: Vec<GpTarget>,
    /// Noise variance per target in target units², `[targets]`.
    pub noise: Vec<f64>,
}

fn matern52(r: f64, l: f64) -> f64 {
    let a = 5f64.sqrt() * r / l;
    (1.0 + a + a * a / 3.0) * (-a).exp()
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// In-place lower Cholesky factor of the SPD matrix `a` (`n x n`); false if not positive.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
        for k in j + 1..n {
            a[j * n + k] = 0.0;
        }
    }
    true
}

/// Solves `L z = b` in place (`L` lower, row-major).
fn forward(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * n + i];
    }
}

/// Solves `Lᵀ z = b` in place.
fn backward(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * n + i];
    }
}

/// Profile log marginal likelihood at lengthscale `l` and noise ratio `eta`, with the fit.
fn profile(dist: &[f64], y: &[f64], l: f64, eta: f64) -> Option<GpTarget> {
    let n = y.len();
    let mut k: Vec<f64> = dist.iter().map(|&r| matern52(r, l)).collect();
    (0..n).for_each(|i| k[i * n + i] += eta + 1e-9);
    if !cholesky(&mut k, n) {
        return None;
    }
    let mut z = y.to_vec();
    forward(&k, n, &mut z);
    let quad: f64 = z.iter().map(|v| v * v).sum();
    let s2 = (quad / n as f64).max(1e-12);
    let log_det: f64 = (0..n).map(|i| k[i * n + i].ln()).sum::<f64>() + 0.5 * n as f64 * s2.ln();
    let lml = -0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln() - 0.5 * n as f64 - log_det;
    backward(&k, n, &mut z);
    // Scale the factor and weights from the unit-signal kernel to s².
    let sd = s2.sqrt();
    k.iter_mut().for_each(|v| *v *= sd);
    z.iter_mut().for_each(|v| *v /= s2);
    Some(GpTarget {
        lengthscale: l,
        signal_var: s2,
        noise_var: eta * s2,
        alpha: z,
        chol: k,
        log_marginal_likelihood: lml,
    })
}

impl GaussianProcess {
    /// Fits one GP per target of `runs` (at least 2 runs) on inputs transformed by `transform`.
    pub fn fit(runs: &Runs, transform: InputTransform) -> Result<Self, PredictorError> {
        let n = runs.len();
        if n < 2 {
            return Err(PredictorError::TooFewRuns { rows: n, needed: 2 });
        }
        let raw: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                let mut v = Vec::new();
                transform.extend(&runs.mixtures[i], &mut v);
                v.extend_from_slice(&runs.context[i]);
                v
            })
            .collect();
        let input_norm = Normalizer::fit(&raw);
        let x: Vec<Vec<f64>> = raw.iter().map(|r| input_norm.apply(r)).collect();
        let target_norm = Normalizer::fit(&runs.outcomes);
        let mut dist = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..i {
                let d = distance(&x[i], &x[j]);
                dist[i * n + j] = d;
                dist[j * n + i] = d;
            }
        }
        let scale = (x[0].len() as f64).sqrt();
        let mut targets = Vec::new();
        for t in 0..runs.schema.targets.len() {
            let y: Vec<f64> = runs
                .outcomes
                .iter()
                .map(|o| (o[t] - target_norm.mean[t]) / target_norm.std[t])
                .collect();
            let mut best: Option<GpTarget> = None;
            let consider = |best: &mut Option<GpTarget>, l: f64, eta: f64| {
                if let Some(g) = profile(&dist, &y, l, eta)
                    && best
                        .as_ref()
                        .is_none_or(|b| g.log_marginal_likelihood > b.log_marginal_likelihood)
                {
                    *best = Some(g);
                }
            };
            for i in 0..15 {
                for eta in [1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0] {
                    consider(&mut best, scale * 0.05 * 1.6f64.powi(i), eta);
                }
            }
            let (l0, e0) = best
                .as_ref()
                .map(|b| (b.lengthscale, b.noise_var / b.signal_var))
                .ok_or(PredictorError::NotPositiveDefinite { target: t })?;
            for fl in [0.8, 0.9, 1.1, 1.25] {
                for fe in [0.5, 0.75, 1.0, 1.5, 2.0] {
                    consider(&mut best, l0 * fl, e0 * fe);
                }
            }
            targets.push(best.expect("the grid found a fit"));
        }
        let noise = targets
            .iter()
            .enumerate()
            .map(|(t, g)| g.noise_var * target_norm.std[t] * target_norm.std[t])
            .collect();
        Ok(GaussianProcess {
            format: GP_FORMAT.into(),
            schema: runs.schema.clone(),
            transform,
            input_norm,
            target_norm,
            x,
            targets,
            noise,
        })
    }

    /// Writes `dir/gp.json` atomically (temporary sibling, then rename); an existing `dir` is
    /// replaced only with `force`.
    pub fn save(&self, dir: &Path, force: bool) -> crate::Result<()> {
        let text = serde_json::to_string(self).expect("a GP serialises");
        crate::error::write_dir_atomic(dir, force, &[(GP_FILE.into(), text.into_bytes())])
    }

    /// Reads `dir/gp.json`, refusing files that are not a consistent GP.
    pub fn load(dir: &Path) -> crate::Result<Self> {
        let path = dir.join(GP_FILE);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let bad = |problem: String| PredictorError::Checkpoint {
            path: path.clone(),
            problem,
        };
        let gp: GaussianProcess = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if gp.format != GP_FORMAT {
            return Err(bad(format!("format is `{}`, not `{GP_FORMAT}`", gp.format)).into());
        }
        let n = gp.x.len();
        let consistent = gp.targets.len() == gp.schema.targets.len()
            && gp.noise.len() == gp.targets.len()
            && gp
                .targets
                .iter()
                .all(|t| t.alpha.len() == n && t.chol.len() == n * n);
        if !consistent {
            return Err(bad("sizes of the fitted arrays disagree".into()).into());
        }
        Ok(gp)
    }

    /// Posterior mean and epistemic variance of target `t` at standardised input `q`, in
    /// standardised units.
    fn posterior(&self, t: usize, q: &[f64], kstar: &mut Vec<f64>) -> (f64, f64) {
        let g = &self.targets[t];
        let n = self.x.len();
        kstar.clear();
        kstar.extend(
            self.x
                .iter()
                .map(|xi| g.signal_var * matern52(distance(xi, q), g.lengthscale)),
        );
        let mean: f64 = kstar.iter().zip(&g.alpha).map(|(a, b)| a * b).sum();
        forward(&g.chol, n, kstar);
        let var = (g.signal_var - kstar.iter().map(|v| v * v).sum::<f64>()).max(0.0);
        (mean, var)
    }
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
    fn members(&self) -> usize {
        2
    }
    fn member_predictions(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Vec<f64>, PredictorError> {
        let (n, t) = (mixtures.len(), self.targets.len());
        let mut out = vec![0.0; 2 * n * t];
        let mut kstar = Vec::with_capacity(self.x.len());
        for (i, w) in mixtures.iter().enumerate() {
            let expected = self.schema.mixture_columns.len() + self.schema.context.len();
            if w.len() + context.len() != expected {
                return Err(PredictorError::InputMismatch {
                    expected,
                    found: w.len() + context.len(),
                });
            }
            let mut raw = Vec::new();
            self.transform.extend(w, &mut raw);
            raw.extend_from_slice(context);
            let q = self.input_norm.apply(&raw);
            for j in 0..t {
                let (m, v) = self.posterior(j, &q, &mut kstar);
                let (mu, sd) = (self.target_norm.mean[j], self.target_norm.std[j]);
                out[i * t + j] = (m - v.sqrt()) * sd + mu;
                out[(n + i) * t + j] = (m + v.sqrt()) * sd + mu;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let mut l = a;
        assert!(cholesky(&mut l, 3));
        let mut b = [1.0, 2.0, 3.0];
        forward(&l, 3, &mut b);
        backward(&l, 3, &mut b);
        for i in 0..3 {
            let r: f64 = (0..3).map(|j| a[i * 3 + j] * b[j]).sum();
            assert!((r - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
        }
    }
}
