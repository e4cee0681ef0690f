//! Maximum epistemic variance: pure exploration.

use super::{Acquisition, Scores, Smooth};

/// `sum_t a_t Var_m[y_mt(x)]`: the epistemic variance of every target, weighted by its
/// importance over its training variance (`a_t = w_t / std_t²`), so that targets in different
/// units count by importance. Aleatoric noise is not included.
#[derive(Debug, Clone)]
pub struct MaxVariance {
    /// `a_t`, `[targets]`.
    pub weights: Vec<f64>,
}

impl Acquisition for MaxVariance {
    fn name(&self) -> String {
        "variance".into()
    }
    fn score(&self, s: &Scores) -> Vec<f64> {
        (0..s.rows())
            .map(|i| {
                (0..s.targets())
                    .map(|t| self.weights.get(t).copied().unwrap_or(1.0) * s.target_moments(i, t).1)
                    .sum()
            })
            .collect()
    }
    fn smooth(&self) -> Option<Smooth> {
        // Only for a single target is this the objective's variance; the gradient searcher
        // follows the objective's std, which agrees in ranking there.
        (self.weights.len() == 1).then_some(Smooth::MeanStd {
            mean: 0.0,
            std: 1.0,
        })
    }
    fn smooth_is_exact(&self) -> bool {
        false
    }
}
