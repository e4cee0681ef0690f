//! Plain computations behind the figures: calibration curves, principal components,
//! partial-dependence paths and axis shares.

use super::Heatmap;
use crate::space::Space;

/// Standard normal quantile by bisection on the distribution function.
fn normal_quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if crate::math::normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `(nominal, empirical)` coverage of central Gaussian intervals `mean ± z std` for nominal
/// levels 0.1, 0.2, ..., 0.9, 0.95, 0.99.
pub fn calibration_curve(observed: &[f64], mean: &[f64], std: &[f64]) -> Vec<(f64, f64)> {
    let levels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];
    levels
        .iter()
        .map(|&p| {
            let z = normal_quantile(0.5 + p / 2.0);
            let hit = observed
                .iter()
                .zip(mean.iter().zip(std))
                .filter(|(y, (m, s))| (*y - *m).abs() <= z * *s)
                .count();
            (p, hit as f64 / observed.len().max(1) as f64)
        })
        .collect()
}

/// Coordinates of `points` (`[n][d]`, n >= 2, d >= 2) on their first two principal components,
/// and the share of the total variance those explain.
pub fn pca_2d(points: &[Vec<f64>]) -> (Vec<(f64, f64)>, f64) {
    let (n, d) = (points.len(), points[0].len());
    let mean: Vec<f64> = (0..d)
        .map(|j| points.iter().map(|p| p[j]).sum::<f64>() / n as f64)
        .collect();
    let mut cov = vec![0.0; d * d];
    for p in points {
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += (p[a] - mean[a]) * (p[b] - mean[b]) / n as f64;
            }
        }
    }
    let (values, vectors) = crate::math::linalg::symmetric_eigen(&cov, d);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let explained = if total > 0.0 {
        (values[order[0]].max(0.0) + values[order[1]].max(0.0)) / total
    } else {
        0.0
    };
    let project = |p: &Vec<f64>, k: usize| -> f64 {
        (0..d)
            .map(|j| (p[j] - mean[j]) * vectors[j * d + order[k]])
            .sum()
    };
    (
        points
            .iter()
            .map(|p| (project(p, 0), project(p, 1)))
            .collect(),
        explained,
    )
}

/// Mixtures along one domain's partial-dependence path: domain `i` at `steps` shares from 0 to
/// `max_share`, the other domains keeping their proportions in `base`.
pub fn partial_dependence_path(
    base: &[f64],
    i: usize,
    max_share: f64,
    steps: usize,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let rest: f64 = 1.0 - base[i];
    let shares: Vec<f64> = (0..steps)
        .map(|k| max_share * k as f64 / (steps - 1) as f64)
        .collect();
    let mixtures = shares
        .iter()
        .map(|&s| {
            base.iter()
                .enumerate()
                .map(|(j, &b)| {
                    if j == i {
                        s
                    } else if rest > 0.0 {
                        b / rest * (1.0 - s)
                    } else {
                        (1.0 - s) / (base.len() - 1) as f64
                    }
                })
                .collect()
        })
        .collect();
    (shares, mixtures)
}

/// The top recipes' shares per axis value: the mean over recipes on a grid of the space's
/// first two axes with more than one value, or recipes x values for a single axis. Errors say
/// why no heatmap can be drawn.
pub fn axis_heatmap(
    space: &Space,
    names: &[String],
    recipes: &[Vec<f64>],
) -> Result<Heatmap, String> {
    let axes: Vec<String> = space
        .axes()
        .into_iter()
        .filter(|a| space.axis_values(a).len() > 1)
        .collect();
    if recipes.is_empty() {
        return Err("there are no recipes to summarise".into());
    }
    match axes.as_slice() {
        [] => Err(format!(
            "space `{}` has no attribute with two or more values (add e.g. `attributes = {{ task = \"ocr\" }}` to its domains)",
            space.name
        )),
        [axis] => {
            let cols = space.axis_values(axis);
            Ok(Heatmap {
                title: format!("Top recipes: share per {axis}"),
                row_axis: "recipe".into(),
                col_axis: axis.clone(),
                rows: names.to_vec(),
                values: recipes
                    .iter()
                    .map(|w| {
                        space
                            .axis_shares(axis, w)
                            .into_iter()
                            .map(|s| s.1)
                            .collect()
                    })
                    .collect(),
                cols,
            })
        }
        [rows_axis, cols_axis, ..] => {
            let rows = space.axis_values(rows_axis);
            let cols = space.axis_values(cols_axis);
            let mut values = vec![vec![0.0; cols.len()]; rows.len()];
            for w in recipes {
                for (d, x) in space.domains.iter().zip(w) {
                    let (Some(r), Some(c)) =
                        (d.attributes.get(rows_axis), d.attributes.get(cols_axis))
                    else {
                        continue;
                    };
                    let (r, c) = (
                        rows.iter().position(|v| v == r).expect("a listed value"),
                        cols.iter().position(|v| v == c).expect("a listed value"),
                    );
                    values[r][c] += x / recipes.len() as f64;
                }
            }
            Ok(Heatmap {
                title: format!(
                    "Top {} recipes: mean share per {rows_axis} x {cols_axis}",
                    recipes.len()
                ),
                row_axis: rows_axis.clone(),
                col_axis: cols_axis.clone(),
                rows,
                cols,
                values,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_of_exact_gaussian_errors_is_near_the_diagonal() {
        // Errors at the quantiles of N(0, 1): coverage equals the nominal level.
        let n = 999;
        let observed: Vec<f64> = (1..=n)
            .map(|k| normal_quantile(k as f64 / (n + 1) as f64))
            .collect();
        let curve = calibration_curve(&observed, &vec![0.0; n], &vec![1.0; n]);
        for (p, e) in curve {
            assert!((p - e).abs() < 0.01, "{p} -> {e}");
        }
    }

    #[test]
    fn pca_finds_the_spread_direction() {
        let pts: Vec<Vec<f64>> = (0..20)
            .map(|i| vec![i as f64 / 20.0, 1.0 - i as f64 / 20.0, 0.0])
            .collect();
        let (xy, explained) = pca_2d(&pts);
        assert!(explained > 0.999);
        assert!((xy[19].0 - xy[0].0).abs() > 1.0 && xy.iter().all(|p| p.1.abs() < 1e-9));
    }

    #[test]
    fn path_keeps_proportions_and_sums_to_one() {
        let (shares, ws) = partial_dependence_path(&[0.5, 0.3, 0.2], 0, 0.8, 5);
        assert_eq!(shares.len(), 5);
        for (s, w) in shares.iter().zip(&ws) {
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12 && (w[0] - s).abs() < 1e-12);
            assert!((w[1] / w[2] - 1.5).abs() < 1e-9);
        }
    }
}
