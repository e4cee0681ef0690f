//! Integrated variance reduction: prefer the run whose outcome would most reduce the
//! epistemic uncertainty over the region we care about (the MixAtlas uncertainty criterion).
//!
//! Estimator. Treat the M members as samples of the unknown function. For target t, the
//! ensemble's covariance between candidate x and reference mixture r is
//! `C_t(x, r) = (1/M) sum_m d_mt(x) d_mt(r)`, with `d_mt(.) = y_mt(.) - mean_m y_mt(.)` the
//! member deviations. Observing `y_t(x)` with noise variance `s_t²` reduces the variance at r,
//! under the Gaussian update, by `C_t(x, r)² / (V_t(x) + s_t²)` (`V_t(x) = C_t(x, x)`). Averaged
//! over a reference set R (feasible mixtures sampled from the space, plus the logged runs when
//! given) and weighted by importance over training variance `a_t = w_t / std_t²`:
//!
//! `IVR(x) = sum_t a_t (1/|R|) sum_r C_t(x, r)² / (V_t(x) + s_t²)`.
//!
//! The inner sum is a quadratic form, `sum_r C_t(x, r)² = d_t(x)ᵀ G_t d_t(x) / M²` with the
//! `M x M` Gram matrix `G_t = sum_r d_t(r) d_t(r)ᵀ`, so a candidate costs `O(T M²)` whatever the
//! size of R: cheap enough to stream millions of candidates.

use super::{Acquisition, Scores, Smooth};

/// The integrated variance reduction criterion; see the module docs.
#[derive(Debug, Clone)]
pub struct VarianceReduction {
    /// Per target, the Gram matrix of reference deviations scaled by `a_t / (M² |R|)`,
    /// `[T][M * M]`.
    gram: Vec<Vec<f64>>,
    /// Noise variance per target.
    noise: Vec<f64>,
    members: usize,
}

impl VarianceReduction {
    /// Precomputes the reference Gram matrices from `reference` scores.
    pub fn new(reference: &Scores, weights: &[f64], noise_var: &[f64]) -> Self {
        let (m, t) = (reference.member_count(), reference.targets());
        let rows = reference.rows().max(1);
        let mut gram = vec![vec![0.0; m * m]; t];
        let mut d = vec![0.0; m];
        for (tt, g) in gram.iter_mut().enumerate() {
            for i in 0..reference.rows() {
                deviations(reference, i, tt, &mut d);
                for a in 0..m {
                    for b in 0..m {
                        g[a * m + b] += d[a] * d[b];
                    }
                }
            }
            let scale = weights.get(tt).copied().unwrap_or(1.0) / ((m * m * rows) as f64);
            g.iter_mut().for_each(|x| *x *= scale);
        }
        VarianceReduction {
            gram,
            noise: noise_var.to_vec(),
            members: m,
        }
    }
}

/// Member deviations from the ensemble mean for row `i`, target `t`, into `d` `[M]`.
fn deviations(s: &Scores, i: usize, t: usize, d: &mut [f64]) {
    let m = s.member_count();
    let mean = (0..m).map(|k| s.output(k, i, t)).sum::<f64>() / m as f64;
    (0..m).for_each(|k| d[k] = s.output(k, i, t) - mean);
}

impl Acquisition for VarianceReduction {
    fn name(&self) -> String {
        "ivr".into()
    }
    fn score(&self, s: &Scores) -> Vec<f64> {
        let m = self.members;
        let mut d = vec![0.0; m];
        (0..s.rows())
            .map(|i| {
                let mut total = 0.0;
                for (t, g) in self.gram.iter().enumerate() {
                    deviations(s, i, t, &mut d);
                    let v = d.iter().map(|x| x * x).sum::<f64>() / m as f64;
                    let mut q = 0.0;
                    for a in 0..m {
                        let row = &g[a * m..(a + 1) * m];
                        q += d[a] * row.iter().zip(&d).map(|(g, x)| g * x).sum::<f64>();
                    }
                    total += q / (v + self.noise.get(t).copied().unwrap_or(0.0)).max(1e-300);
                }
                total
            })
            .collect()
    }
    fn smooth(&self) -> Option<Smooth> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquisition::tests::scores;

    /// The quadratic form equals the direct double sum over reference mixtures.
    #[test]
    fn gram_form_matches_direct_sum() {
        let reference = scores(&[&[0.1, 0.5, -0.2], &[0.3, 0.1, 0.0], &[-0.2, 0.4, 0.6]]);
        let cand = scores(&[&[1.0, 0.2], &[0.0, 0.1], &[0.5, -0.4]]);
        let (noise, w) = (0.05, 2.0);
        let ivr = VarianceReduction::new(&reference, &[w], &[noise]).score(&cand);
        let m = 3.0;
        let dev = |s: &Scores, i: usize| -> Vec<f64> {
            let mean = (0..3).map(|k| s.output(k, i, 0)).sum::<f64>() / m;
            (0..3).map(|k| s.output(k, i, 0) - mean).collect()
        };
        for (i, &got) in ivr.iter().enumerate() {
            let dx = dev(&cand, i);
            let v = dx.iter().map(|x| x * x).sum::<f64>() / m;
            let direct: f64 = (0..3)
                .map(|r| {
                    let dr = dev(&reference, r);
                    let c = dx.iter().zip(&dr).map(|(a, b)| a * b).sum::<f64>() / m;
                    c * c / (v + noise)
                })
                .sum::<f64>()
                * w
                / 3.0;
            assert!((got - direct).abs() < 1e-12, "{got} vs {direct}");
        }
    }
}
