//! Probability of improvement over the best logged run.

use super::{Acquisition, Scores, Smooth};
use crate::math::normal_cdf;

/// `P(f > f* + xi) = Phi((mu - f* - xi) / sigma)` for `f ~ N(mu, sigma²)`, sigma the epistemic
/// std; 1 or 0 where sigma is zero.
#[derive(Debug, Clone, Copy)]
pub struct ProbabilityOfImprovement {
    /// Best observed objective f*.
    pub incumbent: f64,
    /// Margin xi (objective units).
    pub xi: f64,
}

impl Acquisition for ProbabilityOfImprovement {
    fn name(&self) -> String {
        format!("pi(f*={:.4})", self.incumbent)
    }
    fn score(&self, s: &Scores) -> Vec<f64> {
        s.mean
            .iter()
            .zip(&s.std)
            .map(|(&mu, &sd)| {
                let gap = mu - self.incumbent - self.xi;
                if sd <= 1e-12 {
                    f64::from(u8::from(gap > 0.0))
                } else {
                    normal_cdf(gap / sd)
                }
            })
            .collect()
    }
    fn smooth(&self) -> Option<Smooth> {
        Some(Smooth::Improvement {
            incumbent: self.incumbent,
            xi: self.xi,
            expected: false,
        })
    }
}
