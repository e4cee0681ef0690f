//! Which runs a model was fitted on, as row digests: enough to tell, when a model is evaluated,
//! that it is being shown its own training rows.

use serde::{Deserialize, Serialize};

use crate::runs::Runs;

/// Digests of a model's training rows (mixture and context), sorted: one 64-bit FNV-1a digest
/// per row of the values rounded to 9 decimals, so a row re-read from another file still
/// matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrainingRows(Vec<u64>);

impl TrainingRows {
    /// The digests of every row of `runs`.
    pub fn of(runs: &Runs) -> Self {
        let mut digests: Vec<u64> = (runs.mixtures.iter().zip(&runs.context))
            .map(|(w, c)| digest(w, c))
            .collect();
        digests.sort_unstable();
        TrainingRows(digests)
    }

    /// How many rows of `runs` the model was trained on.
    pub fn count_in(&self, runs: &Runs) -> usize {
        (runs.mixtures.iter().zip(&runs.context))
            .filter(|(w, c)| self.0.binary_search(&digest(w, c)).is_ok())
            .count()
    }
}

/// FNV-1a over the rounded values of one row.
fn digest(mixture: &[f64], context: &[f64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in mixture.iter().chain(context) {
        let rounded = (v * 1e9).round() as i64;
        for byte in rounded.to_le_bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
