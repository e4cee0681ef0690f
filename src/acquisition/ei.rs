//! Expected improvement over the best logged run.

use super::{Acquisition, Scores, Smooth};
use crate::math::{normal_cdf, normal_pdf};

/// `E[max(f - f* - xi, 0)]` for `f ~ N(mu, sigma²)`, sigma the epistemic std:
/// `(mu - f* - xi) Phi(z) + sigma phi(z)`, `z = (mu - f* - xi) / sigma`; `max(mu - f* - xi, 0)`
/// where sigma is zero.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedImprovement {
    /// Best observed objective f*.
    pub incumbent: f64,
    /// Margin xi (objective units).
    pub xi: f64,
}

impl Acquisition for ExpectedImprovement {
    fn name(&self) -> String {
        format!("ei(f*={:.4})", self.incumbent)
    }
    fn score(&self, s: &Scores) -> Vec<f64> {
        s.mean
            .iter()
            .zip(&s.std)
            .map(|(&mu, &sd)| {
                let gap = mu - self.incumbent - self.xi;
                if sd <= 1e-12 {
                    return gap.max(0.0);
                }
                let z = gap / sd;
                gap * normal_cdf(z) + sd * normal_pdf(z)
            })
            .collect()
    }
    fn smooth(&self) -> Option<Smooth> {
        Some(Smooth::Improvement {
            incumbent: self.incumbent,
            xi: self.xi,
            expected: true,
        })
    }
}
