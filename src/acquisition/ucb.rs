//! Upper and lower confidence bounds on the objective.

use super::{Acquisition, Scores, Smooth};

/// The exploration weight beta of `mu ± sqrt(beta) * sigma`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Beta {
    /// A constant.
    Fixed(f64),
    /// The GP-UCB schedule (Srinivas et al., 2010, Theorem 1 with |D| replaced by the
    /// dimension, the form most implementations use): `beta_t = 2 ln(d t² pi² / (6 delta))`,
    /// growing slowly with the number of observations `t`.
    GpUcb {
        /// Round: observations so far plus one.
        t: usize,
        /// Number of domains.
        dims: usize,
        /// Confidence parameter in (0, 1).
        delta: f64,
    },
}

impl Beta {
    /// The value of beta.
    pub fn value(&self) -> f64 {
        match *self {
            Beta::Fixed(b) => b,
            Beta::GpUcb { t, dims, delta } => {
                let t = t as f64;
                (2.0 * (dims as f64 * t * t * std::f64::consts::PI.powi(2) / (6.0 * delta)).ln())
                    .max(0.0)
            }
        }
    }
}

/// `mu + sqrt(beta) sigma` (optimistic, explores) or `mu - sqrt(beta) sigma` (pessimistic,
/// for committing to a recipe), with sigma the epistemic std.
#[derive(Debug, Clone, Copy)]
pub struct ConfidenceBound {
    /// Exploration weight.
    pub beta: Beta,
    /// +1 for the upper bound, -1 for the lower.
    pub sign: f64,
}

impl ConfidenceBound {
    /// The upper bound.
    pub fn upper(beta: Beta) -> Self {
        ConfidenceBound { beta, sign: 1.0 }
    }
    /// The lower bound.
    pub fn lower(beta: Beta) -> Self {
        ConfidenceBound { beta, sign: -1.0 }
    }
    fn kappa(&self) -> f64 {
        self.sign * self.beta.value().sqrt()
    }
}

impl Acquisition for ConfidenceBound {
    fn name(&self) -> String {
        let side = if self.sign > 0.0 { "ucb" } else { "lcb" };
        format!("{side}(beta={:.3})", self.beta.value())
    }
    fn score(&self, s: &Scores) -> Vec<f64> {
        let k = self.kappa();
        s.mean
            .iter()
            .zip(&s.std)
            .map(|(m, sd)| m + k * sd)
            .collect()
    }
    fn smooth(&self) -> Option<Smooth> {
        Some(Smooth::MeanStd {
            mean: 1.0,
            std: self.kappa(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gp_ucb_schedule_grows_with_t() {
        let b = |t| {
            Beta::GpUcb {
                t,
                dims: 17,
                delta: 0.1,
            }
            .value()
        };
        // 2 ln(17 * pi^2 / 0.6) = 11.27 at t = 1.
        assert!((b(1) - 2.0 * (17.0 * std::f64::consts::PI.powi(2) / 0.6f64).ln()).abs() < 1e-12);
        assert!(b(100) > b(10) && b(10) > b(1));
    }
}
