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
//! simulations). The joint posterior covariance over a batch is `k(Q, Q) - Vᵀ V` with
//! `V = L⁻¹ k(X, Q)` ([`Surrogate::covariance`]). The GP has no members, so acquisitions that
//! read member outputs (Thompson sampling over members, `ivr`) are refused when built.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::io;
use crate::math::linalg::{backward, cholesky, forward};

use crate::predictor::{
    Capabilities, InputTransform, Normalizer, Posterior, PredictorError, Surrogate,
};
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
        super::check_targets_vary(runs)?;
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
    /// replaced only when `overwrite` allows it.
    pub fn save(&self, dir: &Path, overwrite: crate::io::Overwrite) -> crate::Result<()> {
        let text = serde_json::to_string(self).expect("a GP serialises");
        crate::io::write_dir_atomic(dir, overwrite, &[], &[(GP_FILE.into(), text.into_bytes())])
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
    fn target_posterior(&self, t: usize, q: &[f64], kstar: &mut Vec<f64>) -> (f64, f64) {
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

impl GaussianProcess {
    /// Standardised inputs of mixtures `[n][domains]` under a shared `context`.
    fn queries(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Vec<Vec<f64>>, PredictorError> {
        let expected = self.schema.mixture_columns.len() + self.schema.context.len();
        mixtures
            .iter()
            .map(|w| {
                if w.len() + context.len() != expected {
                    return Err(PredictorError::InputMismatch {
                        expected,
                        found: w.len() + context.len(),
                    });
                }
                let mut raw = Vec::with_capacity(expected);
                self.transform.extend(w, &mut raw);
                raw.extend_from_slice(context);
                Ok(self.input_norm.apply(&raw))
            })
            .collect()
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
    fn capabilities(&self) -> Capabilities {
        Capabilities::GAUSSIAN_PROCESS
    }
    fn posterior(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Posterior, PredictorError> {
        let queries = self.queries(mixtures, context)?;
        let (n, t) = (mixtures.len(), self.targets.len());
        let (mut mean, mut variance) = (vec![0.0; n * t], vec![0.0; n * t]);
        let mut kstar = Vec::with_capacity(self.x.len());
        for (i, q) in queries.iter().enumerate() {
            for j in 0..t {
                let (m, v) = self.target_posterior(j, q, &mut kstar);
                let sd = self.target_norm.std[j];
                mean[i * t + j] = m * sd + self.target_norm.mean[j];
                variance[i * t + j] = v * sd * sd;
            }
        }
        Ok(Posterior {
            rows: n,
            targets: t,
            mean,
            variance,
            members: None,
        })
    }
    /// `k(Q, Q) - Vᵀ V` with `V = L⁻¹ k(X, Q)`, per target: O(N² n + N n²).
    fn covariance(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Option<Vec<Vec<f64>>>, PredictorError> {
        let queries = self.queries(mixtures, context)?;
        let (n, big_n) = (queries.len(), self.x.len());
        let mut out = Vec::with_capacity(self.targets.len());
        for (j, g) in self.targets.iter().enumerate() {
            let v: Vec<Vec<f64>> = queries
                .iter()
                .map(|q| {
                    let mut k: Vec<f64> = self
                        .x
                        .iter()
                        .map(|xi| g.signal_var * matern52(distance(xi, q), g.lengthscale))
                        .collect();
                    forward(&g.chol, big_n, &mut k);
                    k
                })
                .collect();
            let sd2 = self.target_norm.std[j].powi(2);
            let mut cov = vec![0.0; n * n];
            for a in 0..n {
                for b in a..n {
                    let prior =
                        g.signal_var * matern52(distance(&queries[a], &queries[b]), g.lengthscale);
                    let explained: f64 = v[a].iter().zip(&v[b]).map(|(x, y)| x * y).sum();
                    let c = (prior - explained) * sd2;
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
    use super::*;
    use crate::runs::{Direction, TargetSpec};
    use crate::space::Space;

    /// A GP on a smooth function of two-domain mixtures.
    fn fitted() -> GaussianProcess {
        let names = ["a".to_owned(), "b".to_owned()];
        let mixtures: Vec<Vec<f64>> = (0..12)
            .map(|i| {
                let a = f64::from(i) / 11.0;
                vec![a, 1.0 - a]
            })
            .collect();
        let runs = Runs {
            schema: Schema {
                space: Space::from_names("s", &names).unwrap(),
                mixture_columns: names.to_vec(),
                context: Vec::new(),
                targets: vec![TargetSpec {
                    name: "y".into(),
                    column: None,
                    mean_of: Vec::new(),
                    direction: Direction::Lower,
                }],
            },
            keys: (0..12).map(|i| i.to_string()).collect(),
            outcomes: mixtures.iter().map(|w| vec![(3.0 * w[0]).sin()]).collect(),
            context: vec![Vec::new(); 12],
            mixtures,
        };
        GaussianProcess::fit(&runs, InputTransform::Identity).unwrap()
    }

    #[test]
    fn covariance_diagonal_is_the_posterior_variance_and_it_is_symmetric() {
        let gp = fitted();
        let q = vec![vec![0.05, 0.95], vec![0.5, 0.5], vec![0.52, 0.48]];
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
        assert!(gp.capabilities().members.is_none() && gp.capabilities().joint);
    }

    #[test]
    fn joint_samples_have_the_posterior_mean_and_covariance() {
        use rand::SeedableRng;
        let gp = fitted();
        let q = vec![vec![0.05, 0.95], vec![0.5, 0.5], vec![0.52, 0.48]];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
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
        // The sample covariance of the two nearby candidates matches the joint posterior's.
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
}
