//! Accuracy and calibration of predictions against observed outcomes.

use serde::{Deserialize, Serialize};

/// Two-sided standard-normal quantiles for central intervals: z with P(|Z| <= z) = 0.5, 0.9.
pub(crate) const Z50: f64 = 0.674_489_750_196_081_7;
pub(crate) const Z90: f64 = 1.644_853_626_951_472_2;

/// Folds of the held-out interval calibration (the GP and the mixing law).
const CALIBRATION_FOLDS: usize = 5;

/// `|z|` scores of held-out runs over [`CALIBRATION_FOLDS`] folds of `n` runs (shuffled with
/// `seed`), folds in parallel: `score(train, test)` fits on the `train` rows and returns the
/// `test` rows' `|error| / std`, or `None` to skip the fold. Folds with fewer than 2 training
/// rows are skipped.
pub(crate) fn fold_scores(
    n: usize,
    seed: u64,
    score: impl Fn(&[usize], &[usize]) -> Option<Vec<f64>> + Sync,
) -> Vec<f64> {
    use rand::SeedableRng;
    use rayon::prelude::*;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let folds = crate::runs::kfold(n, CALIBRATION_FOLDS.min(n), &mut rng);
    folds
        .par_iter()
        .filter(|(train, _)| train.len() >= 2)
        .filter_map(|(train, test)| score(train, test))
        .flatten()
        .collect()
}

/// The factor that makes 90% of central intervals cover, from held-out `|z| = |error| / std`
/// scores: their 90% quantile over `Z90`, clamped to `[lo, hi]`; 1 without scores. Sorts `z`.
pub(crate) fn interval_scale(z: &mut [f64], lo: f64, hi: f64) -> f64 {
    if z.is_empty() {
        return 1.0;
    }
    z.sort_by(f64::total_cmp);
    let at = ((0.9 * z.len() as f64).ceil() as usize).clamp(1, z.len()) - 1;
    (z[at] / Z90).clamp(lo, hi)
}

/// Scores of one target's predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetMetrics {
    /// Target name.
    pub target: String,
    /// Rows scored.
    pub rows: usize,
    /// Root mean squared error, target units.
    pub rmse: f64,
    /// Mean absolute error, target units.
    pub mae: f64,
    /// Coefficient of determination, 1 - SSE/SST.
    pub r2: f64,
    /// Pearson correlation of prediction and outcome.
    pub pearson: f64,
    /// Spearman rank correlation (average ranks for ties).
    pub spearman: f64,
    /// Mean Gaussian negative log-likelihood under the total predictive std, nats.
    pub nll: f64,
    /// Share of outcomes inside the central 50% predictive interval.
    pub coverage50: f64,
    /// Share of outcomes inside the central 90% predictive interval.
    pub coverage90: f64,
}

/// Scores predictions `mean`, `std` (total predictive std) against `truth`, all `[n]`.
pub fn score(target: &str, mean: &[f64], std: &[f64], truth: &[f64]) -> TargetMetrics {
    let n = truth.len() as f64;
    let err: Vec<f64> = mean.iter().zip(truth).map(|(p, y)| p - y).collect();
    let sse: f64 = err.iter().map(|e| e * e).sum();
    let y_mean = truth.iter().sum::<f64>() / n;
    let sst: f64 = truth.iter().map(|y| (y - y_mean).powi(2)).sum();
    let inside = |z: f64| {
        err.iter()
            .zip(std)
            .filter(|(e, s)| e.abs() <= z * **s)
            .count() as f64
            / n
    };
    let nll = err
        .iter()
        .zip(std)
        .map(|(e, s)| {
            let var = (s * s).max(1e-300);
            0.5 * ((2.0 * std::f64::consts::PI * var).ln() + e * e / var)
        })
        .sum::<f64>()
        / n;
    TargetMetrics {
        target: target.into(),
        rows: truth.len(),
        rmse: (sse / n).sqrt(),
        mae: err.iter().map(|e| e.abs()).sum::<f64>() / n,
        r2: if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN },
        pearson: pearson(mean, truth),
        spearman: spearman(mean, truth),
        nll,
        coverage50: inside(Z50),
        coverage90: inside(Z90),
    }
}

/// Pearson correlation; NaN when either side is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    sab / (saa * sbb).sqrt()
}

/// Spearman rank correlation: Pearson on average ranks.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// 1-based ranks, ties sharing their average rank.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 5.0]), [2.5, 4.0, 2.5, 1.0]);
    }

    #[test]
    fn known_values() {
        // scipy.stats: pearsonr([1,2,3,4],[1,3,2,4]) = 0.8, spearmanr(...) = 0.8.
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 3.0, 2.0, 4.0];
        assert!((pearson(&a, &b) - 0.8).abs() < 1e-12);
        assert!((spearman(&a, &b) - 0.8).abs() < 1e-12);
        // Monotone but non-linear: Spearman 1.
        assert!((spearman(&a, &[1.0, 8.0, 27.0, 64.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn coverage_and_nll_of_exact_errors() {
        // Errors of 0.5 and 1.0 with std 1: |e| <= 0.674 for one of two rows, <= 1.645 for both.
        let m = score("y", &[0.5, 1.0], &[1.0, 1.0], &[0.0, 0.0]);
        assert_eq!((m.coverage50, m.coverage90), (0.5, 1.0));
        // NLL = 0.5 ln(2 pi) + mean(e^2)/2 = 0.918939 + 0.3125.
        assert!((m.nll - (0.918_938_533_204_672_7 + 0.3125)).abs() < 1e-12);
        assert!((m.rmse - 0.625f64.sqrt()).abs() < 1e-12);
        assert!((m.mae - 0.75).abs() < 1e-12);
    }
}
