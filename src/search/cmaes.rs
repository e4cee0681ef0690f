//! CMA-ES (Hansen's (mu/mu_w, lambda) evolution strategy) on softmax logits.
//!
//! A mixture is `w = repair(softmax(x))` for logits `x` in R^D, so every point the strategy
//! visits maps onto the simplex and into the per-domain bounds and group sums; a mixture that
//! still violates the trust region or KL budget ranks last. The strategy restarts from each of
//! the best starts with its own share of the evaluation budget. Parameters follow Hansen's
//! tutorial (arXiv:1604.00772, Table 1).

use super::Result;
use rand::Rng;
use rand_distr::StandardNormal;

use super::{Candidate, Problem, Searcher};
use crate::math::linalg::symmetric_eigen;

/// CMA-ES from the best `starts` candidates, `evaluations` in total.
#[derive(Debug, Clone)]
pub struct CmaEs {
    /// Acquisition evaluations over all restarts.
    pub evaluations: usize,
    /// Restarts: one from each of the best `starts` candidates (or the centre when none).
    pub starts: usize,
    /// Initial step size on the logits.
    pub sigma: f64,
    /// Candidates returned.
    pub keep: usize,
}

impl Default for CmaEs {
    fn default() -> Self {
        CmaEs {
            evaluations: 3000,
            starts: 4,
            sigma: 0.5,
            keep: 256,
        }
    }
}

impl Searcher for CmaEs {
    fn name(&self) -> String {
        format!("cmaes({})", self.evaluations)
    }

    fn search(
        &mut self,
        problem: &mut Problem<'_>,
        starts: &[Candidate],
    ) -> Result<Vec<Candidate>> {
        let d = problem.constraints.len();
        let centre = problem.constraints.repair(&vec![1.0 / d as f64; d]);
        let origins: Vec<Vec<f64>> = if starts.is_empty() {
            vec![centre]
        } else {
            starts
                .iter()
                .take(self.starts.max(1))
                .map(|c| c.weights.clone())
                .collect()
        };
        let budget = self.evaluations / origins.len();
        let mut found = Vec::new();
        for (r, origin) in origins.iter().enumerate() {
            let mean: Vec<f64> = origin.iter().map(|&w| w.max(1e-4).ln()).collect();
            let mut state = State::new(mean, self.sigma);
            let mut used = 0;
            while used + state.lambda <= budget.max(state.lambda) {
                let xs = state.ask(&mut problem.rng);
                let ws: Vec<Vec<f64>> = xs
                    .iter()
                    .map(|x| problem.constraints.repair(&softmax(x)))
                    .collect();
                let feasible: Vec<bool> = ws
                    .iter()
                    .map(|w| problem.constraints.is_feasible(w))
                    .collect();
                let values = (problem.evaluate)(&ws)?;
                let fitness: Vec<f64> = values
                    .iter()
                    .zip(&feasible)
                    .map(|(&v, &ok)| if ok { v } else { f64::NEG_INFINITY })
                    .collect();
                for ((w, v), ok) in ws.into_iter().zip(values).zip(feasible) {
                    if ok {
                        found.push(Candidate {
                            weights: w,
                            value: v,
                            pool_row: None,
                        });
                    }
                }
                state.tell(&xs, &fitness);
                used += state.lambda;
                problem.observer.progress(
                    "cmaes",
                    (r * budget + used) as u64,
                    (origins.len() * budget) as u64,
                );
                if state.sigma < 1e-8 {
                    break;
                }
            }
        }
        found.sort_by(|a, b| b.value.total_cmp(&a.value));
        Ok(super::merge(Vec::new(), found, self.keep))
    }
}

/// `softmax(x)`, shifted by the maximum for stability.
fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// The strategy's state between generations.
struct State {
    n: usize,
    lambda: usize,
    weights: Vec<f64>,
    mu_eff: f64,
    c_sigma: f64,
    d_sigma: f64,
    c_c: f64,
    c_1: f64,
    c_mu: f64,
    chi_n: f64,
    mean: Vec<f64>,
    sigma: f64,
    cov: Vec<f64>,
    p_sigma: Vec<f64>,
    p_c: Vec<f64>,
    /// Eigenvectors (columns) and square roots of eigenvalues of `cov`.
    basis: Vec<f64>,
    scales: Vec<f64>,
    generation: usize,
}

impl State {
    fn new(mean: Vec<f64>, sigma: f64) -> Self {
        let n = mean.len();
        let nf = n as f64;
        let lambda = 4 + (3.0 * nf.ln()).floor() as usize;
        let mu = lambda / 2;
        let raw: Vec<f64> = (0..mu)
            .map(|i| ((lambda as f64 + 1.0) / 2.0).ln() - ((i + 1) as f64).ln())
            .collect();
        let total: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let mu_eff = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        let c_sigma = (mu_eff + 2.0) / (nf + mu_eff + 5.0);
        let d_sigma = 1.0 + 2.0 * (((mu_eff - 1.0) / (nf + 1.0)).sqrt() - 1.0).max(0.0) + c_sigma;
        let c_c = (4.0 + mu_eff / nf) / (nf + 4.0 + 2.0 * mu_eff / nf);
        let c_1 = 2.0 / ((nf + 1.3).powi(2) + mu_eff);
        let c_mu =
            (1.0 - c_1).min(2.0 * (mu_eff - 2.0 + 1.0 / mu_eff) / ((nf + 2.0).powi(2) + mu_eff));
        let mut identity = vec![0.0; n * n];
        (0..n).for_each(|i| identity[i * n + i] = 1.0);
        State {
            n,
            lambda,
            weights,
            mu_eff,
            c_sigma,
            d_sigma,
            c_c,
            c_1,
            c_mu,
            chi_n: nf.sqrt() * (1.0 - 1.0 / (4.0 * nf) + 1.0 / (21.0 * nf * nf)),
            mean,
            sigma,
            cov: identity.clone(),
            p_sigma: vec![0.0; n],
            p_c: vec![0.0; n],
            basis: identity,
            scales: vec![1.0; n],
            generation: 0,
        }
    }

    /// `lambda` samples `m + sigma B D z`.
    fn ask<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<Vec<f64>> {
        let n = self.n;
        (0..self.lambda)
            .map(|_| {
                let z: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
                (0..n)
                    .map(|i| {
                        let y: f64 = (0..n)
                            .map(|j| self.basis[i * n + j] * self.scales[j] * z[j])
                            .sum();
                        self.mean[i] + self.sigma * y
                    })
                    .collect()
            })
            .collect()
    }

    /// Updates mean, paths, covariance and step size from the samples' fitness (maximised).
    fn tell(&mut self, xs: &[Vec<f64>], fitness: &[f64]) {
        let n = self.n;
        let mut order: Vec<usize> = (0..xs.len()).collect();
        order.sort_by(|&a, &b| fitness[b].total_cmp(&fitness[a]));
        let ys: Vec<Vec<f64>> = order
            .iter()
            .take(self.weights.len())
            .map(|&k| {
                (0..n)
                    .map(|i| (xs[k][i] - self.mean[i]) / self.sigma)
                    .collect()
            })
            .collect();
        let mut y_w = vec![0.0; n];
        for (w, y) in self.weights.iter().zip(&ys) {
            (0..n).for_each(|i| y_w[i] += w * y[i]);
        }
        (0..n).for_each(|i| self.mean[i] += self.sigma * y_w[i]);
        // C^{-1/2} y_w = B D^{-1} B^T y_w.
        let bt_y: Vec<f64> = (0..n)
            .map(|j| (0..n).map(|i| self.basis[i * n + j] * y_w[i]).sum::<f64>() / self.scales[j])
            .collect();
        let whitened: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| self.basis[i * n + j] * bt_y[j]).sum())
            .collect();
        let cs = (self.c_sigma * (2.0 - self.c_sigma) * self.mu_eff).sqrt();
        (0..n).for_each(|i| {
            self.p_sigma[i] = (1.0 - self.c_sigma) * self.p_sigma[i] + cs * whitened[i]
        });
        self.generation += 1;
        let ps_norm = self.p_sigma.iter().map(|x| x * x).sum::<f64>().sqrt();
        let decay = 1.0 - (1.0 - self.c_sigma).powi(2 * self.generation as i32);
        let h_sigma = ps_norm / decay.sqrt() < (1.4 + 2.0 / (n as f64 + 1.0)) * self.chi_n;
        let h = f64::from(u8::from(h_sigma));
        let cc = (self.c_c * (2.0 - self.c_c) * self.mu_eff).sqrt();
        (0..n).for_each(|i| self.p_c[i] = (1.0 - self.c_c) * self.p_c[i] + h * cc * y_w[i]);
        let keep = 1.0 - self.c_1 - self.c_mu;
        let correction = (1.0 - h) * self.c_c * (2.0 - self.c_c);
        for i in 0..n {
            for j in 0..=i {
                let rank_mu: f64 = self
                    .weights
                    .iter()
                    .zip(&ys)
                    .map(|(w, y)| w * y[i] * y[j])
                    .sum();
                let c = keep * self.cov[i * n + j]
                    + self.c_1 * (self.p_c[i] * self.p_c[j] + correction * self.cov[i * n + j])
                    + self.c_mu * rank_mu;
                self.cov[i * n + j] = c;
                self.cov[j * n + i] = c;
            }
        }
        self.sigma *= ((self.c_sigma / self.d_sigma) * (ps_norm / self.chi_n - 1.0)).exp();
        self.sigma = self.sigma.min(1e3);
        let (values, vectors) = symmetric_eigen(&self.cov, n);
        self.scales = values.iter().map(|v| v.max(1e-20).sqrt()).collect();
        self.basis = vectors;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// On a concave quadratic over logits the strategy converges to the maximiser.
    #[test]
    fn converges_on_a_quadratic() {
        let target = [1.0, -0.5, 0.3, 0.0, 2.0];
        let f = |x: &[f64]| {
            -x.iter()
                .zip(&target)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
        };
        let mut s = State::new(vec![0.0; 5], 1.0);
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..300 {
            let xs = s.ask(&mut rng);
            let fit: Vec<f64> = xs.iter().map(|x| f(x)).collect();
            s.tell(&xs, &fit);
        }
        assert!(f(&s.mean) > -1e-6, "mean {:?}", s.mean);
    }
}
