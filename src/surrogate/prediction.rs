//! The predictive distribution every surrogate answers with: one [`Posterior`] per batch of
//! mixtures, flat `[n, T]` arrays in target units.

use std::sync::Arc;

/// Member outputs of an ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberOutputs {
    /// Ensemble size M.
    pub count: usize,
    /// Outputs `[M, n, targets]` flat, in target units.
    pub outputs: Vec<f64>,
}

/// The posterior of a surrogate over `rows` candidates, in target units.
#[derive(Debug, Clone, PartialEq)]
pub struct Posterior {
    /// Number of candidates n.
    pub rows: usize,
    /// Number of targets T.
    pub targets: usize,
    /// Predictive mean `[n, T]` flat.
    pub mean: Vec<f64>,
    /// Epistemic variance `[n, T]` flat (target units²; the noise is not in it).
    pub variance: Vec<f64>,
    /// Aleatoric (noise) variance `[n, T]` flat, target units²: the members' mean variance
    /// for a heteroscedastic ensemble, the fitted noise level otherwise.
    pub noise: Vec<f64>,
    /// Member outputs, for ensembles.
    pub members: Option<MemberOutputs>,
    /// Correlation of the epistemic errors across targets, `[T, T]` row-major, the same at
    /// every row: a shared-kernel GP's target correlation. `None`: the targets' errors are
    /// independent (or an ensemble, whose members carry their joint spread).
    pub correlation: Option<Arc<[f64]>>,
}

impl Posterior {
    /// The posterior of an ensemble from member outputs `[M, n, T]`: mean and population
    /// variance over members; no noise until [`Posterior::with_noise`].
    pub fn from_members(outputs: Vec<f64>, count: usize, targets: usize) -> Self {
        let rows = outputs.len() / (count * targets).max(1);
        let (mean, variance) = member_moments(&outputs, count);
        Posterior {
            rows,
            targets,
            mean,
            variance,
            noise: Vec::new(),
            members: Some(MemberOutputs { count, outputs }),
            correlation: None,
        }
    }

    /// The posterior with aleatoric variance `noise_var` `[T]` on every row, or, given member
    /// variances `[M, n, T]` (a heteroscedastic ensemble), their mean over members.
    pub fn with_noise(mut self, noise_var: &[f64], member_vars: Option<(&[f64], usize)>) -> Self {
        self.noise = match member_vars {
            Some((vars, count)) => member_moments(vars, count).0,
            None => (0..self.rows)
                .flat_map(|_| noise_var.iter().copied())
                .collect(),
        };
        self
    }

    /// Mean and epistemic variance of target `t` at row `i`.
    pub fn moments(&self, i: usize, t: usize) -> (f64, f64) {
        let at = i * self.targets + t;
        (self.mean[at], self.variance[at])
    }

    /// Mean of target `t` at row `i`.
    pub fn mean_at(&self, i: usize, t: usize) -> f64 {
        self.mean[i * self.targets + t]
    }

    /// Standard deviation of the model's uncertainty about target `t` at row `i`.
    pub fn epistemic_std(&self, i: usize, t: usize) -> f64 {
        self.variance[i * self.targets + t].sqrt()
    }

    /// Standard deviation of the noise of target `t` at row `i`.
    pub fn aleatoric_std(&self, i: usize, t: usize) -> f64 {
        self.noise[i * self.targets + t].sqrt()
    }

    /// `sqrt(epistemic² + aleatoric²)` of target `t` at row `i`: the spread of an observation.
    pub fn total_std(&self, i: usize, t: usize) -> f64 {
        let at = i * self.targets + t;
        (self.variance[at] + self.noise[at]).sqrt()
    }

    /// Target `t` at every row of `field` (`mean`, `variance` or `noise`): `[n]`.
    pub fn column(&self, field: &[f64], t: usize) -> Vec<f64> {
        field
            .iter()
            .skip(t)
            .step_by(self.targets.max(1))
            .copied()
            .collect()
    }

    /// The rows of `parts` (each a posterior over some rows, without members) put back in
    /// the order `order` gives: `order[p][k]` is where row `k` of part `p` goes. `[rows, T]`.
    pub fn gather(parts: &[Posterior], order: &[Vec<usize>], rows: usize, targets: usize) -> Self {
        let mut out = Posterior {
            rows,
            targets,
            mean: vec![0.0; rows * targets],
            variance: vec![0.0; rows * targets],
            noise: vec![0.0; rows * targets],
            members: None,
            correlation: parts.first().and_then(|p| p.correlation.clone()),
        };
        for (part, order) in parts.iter().zip(order) {
            for (k, &row) in order.iter().enumerate() {
                let (from, to) = (k * targets..(k + 1) * targets, row * targets);
                out.mean[to..to + targets].copy_from_slice(&part.mean[from.clone()]);
                out.variance[to..to + targets].copy_from_slice(&part.variance[from.clone()]);
                out.noise[to..to + targets].copy_from_slice(&part.noise[from]);
            }
        }
        out
    }
}

/// Mean and population variance over `count` members of `values` `[M, width]` flat: two
/// `[width]` vectors.
pub fn member_moments(values: &[f64], count: usize) -> (Vec<f64>, Vec<f64>) {
    let width = values.len() / count.max(1);
    if width == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut mean = vec![0.0; width];
    for member in values.chunks_exact(width) {
        mean.iter_mut().zip(member).for_each(|(a, v)| *a += v);
    }
    mean.iter_mut().for_each(|a| *a /= count as f64);
    let mut variance = vec![0.0; width];
    for member in values.chunks_exact(width) {
        for ((s, v), mu) in variance.iter_mut().zip(member).zip(&mean) {
            *s += (v - mu) * (v - mu);
        }
    }
    variance.iter_mut().for_each(|s| *s /= count as f64);
    (mean, variance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensemble_posterior_is_the_member_mean_and_population_variance() {
        // Two members, two rows, one target: rows (1, 3) and (2, 2).
        let p = Posterior::from_members(vec![1.0, 2.0, 3.0, 2.0], 2, 1).with_noise(&[0.25], None);
        assert_eq!(p.rows, 2);
        assert_eq!(p.moments(0, 0), (2.0, 1.0));
        assert_eq!(p.moments(1, 0), (2.0, 0.0));
        assert_eq!(
            (p.aleatoric_std(0, 0), p.total_std(0, 0)),
            (0.5, 1.25f64.sqrt())
        );
        // Heteroscedastic: the members' variances are averaged.
        let q = p.clone().with_noise(&[], Some((&[1.0, 3.0, 3.0, 5.0], 2)));
        assert_eq!(q.noise, vec![2.0, 4.0]);
    }

    #[test]
    fn gather_puts_rows_back_in_order() {
        let part = |m: &[f64]| Posterior::from_members(m.to_vec(), 1, 1).with_noise(&[0.0], None);
        let all = Posterior::gather(
            &[part(&[1.0]), part(&[2.0, 3.0])],
            &[vec![1], vec![2, 0]],
            3,
            1,
        );
        assert_eq!(all.mean, vec![3.0, 1.0, 2.0]);
        assert_eq!(all.column(&all.mean, 0), vec![3.0, 1.0, 2.0]);
    }
}
