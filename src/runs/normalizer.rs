//! Per-column standardisation of runs' inputs and outcomes, shared by every surrogate and by
//! the objective (which reads targets in standardised units).

use serde::{Deserialize, Serialize};

/// Per-column affine standardisation: `z = (x - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Column means, `[columns]`.
    pub mean: Vec<f64>,
    /// Column standard deviations (1 where a column is constant), `[columns]`.
    pub std: Vec<f64>,
}

impl Normalizer {
    /// `(x - mean) / std` per column of one row `x` (`[columns]`).
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }

    /// Fits means and standard deviations of the columns of `rows` (`[n][columns]`, n >= 1).
    pub fn fit(rows: &[Vec<f64>]) -> Self {
        let n = rows.len() as f64;
        let d = rows[0].len();
        let mean: Vec<f64> = (0..d)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let std = (0..d)
            .map(|j| {
                let var = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
                if var > 1e-18 { var.sqrt() } else { 1.0 }
            })
            .collect();
        Normalizer { mean, std }
    }
}
