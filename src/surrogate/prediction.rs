//! The predictive distribution every surrogate answers with, row by row.

/// Predictive distribution per row and target, in target units. Each field is `[n][targets]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Ensemble mean of the member means.
    pub mean: Vec<Vec<f64>>,
    /// Standard deviation of the member means (model uncertainty).
    pub epistemic_std: Vec<Vec<f64>>,
    /// Noise: root mean of member variances (heteroscedastic) or the fitted noise level.
    pub aleatoric_std: Vec<Vec<f64>>,
    /// `sqrt(epistemic² + aleatoric²)`.
    pub total_std: Vec<Vec<f64>>,
}

/// Combines member means `[M][n][t]` (and member variances, when heteroscedastic) into the
/// predictive distribution; `noise_var` `[t]` is the aleatoric variance otherwise.
pub(crate) fn combine(
    means: &[Vec<Vec<f64>>],
    vars: Option<&[Vec<Vec<f64>>]>,
    noise_var: &[f64],
) -> Prediction {
    let m = means.len() as f64;
    let n = means[0].len();
    let t = noise_var.len();
    let mut p = Prediction {
        mean: Vec::with_capacity(n),
        epistemic_std: Vec::with_capacity(n),
        aleatoric_std: Vec::with_capacity(n),
        total_std: Vec::with_capacity(n),
    };
    for i in 0..n {
        let mut row = [vec![0.0; t], vec![0.0; t], vec![0.0; t], vec![0.0; t]];
        for j in 0..t {
            let mean = means.iter().map(|mm| mm[i][j]).sum::<f64>() / m;
            let epi = means
                .iter()
                .map(|mm| (mm[i][j] - mean).powi(2))
                .sum::<f64>()
                / m;
            let alea = vars.map_or(noise_var[j], |v| {
                v.iter().map(|vv| vv[i][j]).sum::<f64>() / m
            });
            row[0][j] = mean;
            row[1][j] = epi.sqrt();
            row[2][j] = alea.sqrt();
            row[3][j] = (epi + alea).sqrt();
        }
        let [mean, epi, alea, total] = row;
        p.mean.push(mean);
        p.epistemic_std.push(epi);
        p.aleatoric_std.push(alea);
        p.total_std.push(total);
    }
    p
}
