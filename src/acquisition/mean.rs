//! Posterior mean: pure exploitation.

use super::{Acquisition, Scores, Smooth};

/// `mu(x)`, the ensemble mean of the objective.
#[derive(Debug, Clone, Copy)]
pub struct PosteriorMean;

impl Acquisition for PosteriorMean {
    fn name(&self) -> String {
        "mean".into()
    }
    fn score(&self, s: &Scores) -> Vec<f64> {
        s.mean.clone()
    }
    fn smooth(&self) -> Option<Smooth> {
        Some(Smooth::MeanStd {
            mean: 1.0,
            std: 0.0,
        })
    }
}
