//! Maths on the probability simplex {w : w_i >= 0, sum_i w_i = 1}.

use rand::Rng;
use rand_distr::{Distribution, Gamma};

/// `|sum(w) - 1|`: how far a weight vector is from summing to one.
pub fn simplex_sum_error(w: &[f64]) -> f64 {
    (w.iter().sum::<f64>() - 1.0).abs()
}

/// Euclidean projection of `v` onto the simplex (Duchi et al., ICML 2008): the closest point
/// with non-negative entries summing to one. `v` must be non-empty and finite.
pub fn project_to_simplex(v: &[f64]) -> Vec<f64> {
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut cumulative = 0.0;
    let mut theta = 0.0;
    for (i, &x) in sorted.iter().enumerate() {
        cumulative += x;
        let t = (cumulative - 1.0) / (i + 1) as f64;
        if x - t > 0.0 {
            theta = t;
        }
    }
    v.iter().map(|x| (x - theta).max(0.0)).collect()
}

/// `w` rounded to `decimals` places with the rounding remainder given to the largest
/// fractional parts (largest-remainder method), so the result still sums to exactly one unit
/// at that precision. `w` must be on the simplex.
pub fn round_mixture(w: &[f64], decimals: u32) -> Vec<f64> {
    let units = 10f64.powi(decimals as i32);
    let exact: Vec<f64> = w.iter().map(|x| x * units).collect();
    let mut counts: Vec<f64> = exact.iter().map(|x| x.floor()).collect();
    let missing = (units - counts.iter().sum::<f64>()).round().max(0.0) as usize;
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - counts[b])
            .total_cmp(&(exact[a] - counts[a]))
            .then(a.cmp(&b))
    });
    for &i in order.iter().take(missing) {
        counts[i] += 1.0;
    }
    counts.iter().map(|c| c / units).collect()
}

/// One draw from Dirichlet(`alpha`), every `alpha_i > 0`. Sampled as normalised Gamma
/// variates; a draw whose variates all underflow to zero (tiny alphas) puts all mass on the
/// largest-alpha coordinate rather than returning NaN.
pub fn sample_dirichlet<R: Rng + ?Sized>(alpha: &[f64], rng: &mut R) -> Vec<f64> {
    let mut w: Vec<f64> = alpha
        .iter()
        .map(|&a| {
            Gamma::new(a, 1.0)
                .expect("alpha is positive and finite")
                .sample(rng)
        })
        .collect();
    let total: f64 = w.iter().sum();
    if total > 0.0 {
        w.iter_mut().for_each(|x| *x /= total);
    } else {
        let top = (0..alpha.len())
            .max_by(|&a, &b| alpha[a].total_cmp(&alpha[b]))
            .expect("alpha is non-empty");
        w.iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = f64::from(u8::from(i == top)));
    }
    w
}

/// Euclidean projection of `v` onto `{w : sum w = 1, lo <= w <= hi}` (non-empty: `sum lo <= 1
/// <= sum hi`): `w_i = clamp(v_i - t, lo_i, hi_i)` with the shift `t` found by bisection.
pub fn project_box_simplex(v: &[f64], lo: &[f64], hi: &[f64]) -> Vec<f64> {
    let at = |t: f64| -> f64 {
        v.iter()
            .zip(lo.iter().zip(hi))
            .map(|(&x, (&l, &h))| (x - t).clamp(l, h))
            .sum()
    };
    let (min_v, max_v) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    // At t_lo every coordinate sits at its upper bound (sum >= 1), at t_hi at its lower.
    let (mut t_lo, mut t_hi) = (min_v - 1.0 - 1.0, max_v + 1.0);
    for _ in 0..100 {
        let mid = 0.5 * (t_lo + t_hi);
        if at(mid) > 1.0 {
            t_lo = mid;
        } else {
            t_hi = mid;
        }
    }
    let t = 0.5 * (t_lo + t_hi);
    let mut w: Vec<f64> = v
        .iter()
        .zip(lo.iter().zip(hi))
        .map(|(&x, (&l, &h))| (x - t).clamp(l, h))
        .collect();
    // Spread the bisection's last rounding error over the coordinates not at a bound.
    let error = 1.0 - w.iter().sum::<f64>();
    let free: Vec<usize> = (0..w.len())
        .filter(|&i| w[i] > lo[i] && w[i] < hi[i])
        .collect();
    if !free.is_empty() {
        free.iter()
            .for_each(|&i| w[i] = (w[i] + error / free.len() as f64).clamp(lo[i], hi[i]));
    }
    w
}

/// Total-variation distance `0.5 * sum |a - b|`, in [0, 1] for two mixtures.
pub fn tv_distance(a: &[f64], b: &[f64]) -> f64 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

/// Total-variation distance from `w` to the nearest of `anchors` (infinite when empty).
pub fn nearest_distance(w: &[f64], anchors: &[Vec<f64>]) -> f64 {
    anchors
        .iter()
        .map(|a| tv_distance(w, a))
        .fold(f64::INFINITY, f64::min)
}

/// `KL(w || prior)` in nats; infinite where `w_i > 0 = prior_i`.
pub fn kl_divergence(w: &[f64], prior: &[f64]) -> f64 {
    w.iter()
        .zip(prior)
        .filter(|(x, _)| **x > 0.0)
        .map(|(&x, &p)| {
            if p > 0.0 {
                x * (x / p).ln()
            } else {
                f64::INFINITY
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn assert_on_simplex(w: &[f64]) {
        assert!(w.iter().all(|&x| x >= 0.0), "{w:?} has a negative weight");
        assert!(simplex_sum_error(w) < 1e-9, "{w:?} does not sum to 1");
    }

    proptest! {
        #[test]
        fn projection_lands_on_simplex(v in prop::collection::vec(-5.0f64..5.0, 1..40)) {
            assert_on_simplex(&project_to_simplex(&v));
        }

        #[test]
        fn projection_fixes_simplex_points(seed in 0u64..1000, d in 1usize..30) {
            let mut rng = StdRng::seed_from_u64(seed);
            let w = sample_dirichlet(&vec![1.0; d], &mut rng);
            let p = project_to_simplex(&w);
            for (a, b) in w.iter().zip(&p) {
                prop_assert!((a - b).abs() < 1e-9);
            }
        }

        #[test]
        fn dirichlet_lands_on_simplex(seed in 0u64..1000, d in 1usize..60, a in 0.001f64..10.0) {
            let mut rng = StdRng::seed_from_u64(seed);
            assert_on_simplex(&sample_dirichlet(&vec![a; d], &mut rng));
        }
    }

    #[test]
    fn projection_example() {
        // Worked by hand: theta = 0.5 for [1, 0.5, -1] -> [0.75, 0.25, 0].
        let p = project_to_simplex(&[1.0, 0.5, -1.0]);
        let expected = [0.75, 0.25, 0.0];
        for (a, b) in p.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{p:?}");
        }
    }
}
