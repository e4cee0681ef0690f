//! Validation of a [`ConstraintSpec`], one small function per field group, each naming the
//! constraint it refuses.

use super::{
    ConstraintError, ConstraintSpec, Group, GroupSpec, KlSpec, PriorSpec, TOL, TokenSpec,
    TrustRegionSpec,
};
use crate::space::Space;

/// One bound with where it came from.
struct Bound {
    value: f64,
    source: String,
}

/// The position of domain `name` in `space`; `constraint` names where it was written.
pub(super) fn domain_index(
    space: &Space,
    constraint: String,
    name: &str,
) -> Result<usize, ConstraintError> {
    space
        .domains
        .iter()
        .position(|d| d.name == name)
        .ok_or_else(|| ConstraintError::UnknownDomain {
            constraint,
            domain: name.to_owned(),
        })
}

/// `v` when it is a weight in [0, 1].
fn weight(constraint: &str, v: f64) -> Result<f64, ConstraintError> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ConstraintError::BadValue {
            constraint: constraint.to_owned(),
            value: v,
            expected: "a weight must lie in [0, 1]",
        })
    }
}

/// Trust-region anchors `[runs][domains]` and radius.
type TrustRegion = (Vec<Vec<f64>>, f64);

type Index<'a> = dyn Fn(String, &str) -> Result<usize, ConstraintError> + 'a;

/// Per-domain lower and upper bounds, each with where it came from.
pub(super) struct Bounds {
    lower: Vec<Bound>,
    upper: Vec<Bound>,
}

impl Bounds {
    /// The space's own bounds.
    pub(super) fn of_space(space: &Space) -> Self {
        let bound = |value: f64, kind: &str, name: &str| Bound {
            value,
            source: format!("space {kind} of `{name}`"),
        };
        Bounds {
            lower: space
                .domains
                .iter()
                .map(|d| bound(d.min, "min", &d.name))
                .collect(),
            upper: space
                .domains
                .iter()
                .map(|d| bound(d.max, "max", &d.name))
                .collect(),
        }
    }

    /// Raises the lower bound of domain `i` to `lo` and lowers its upper bound to `hi`
    /// where they are tighter, recording `source`.
    fn tighten(&mut self, i: usize, lo: Option<f64>, hi: Option<f64>, source: &str) {
        if let Some(lo) = lo.filter(|&lo| lo > self.lower[i].value) {
            self.lower[i] = Bound {
                value: lo,
                source: source.to_owned(),
            };
        }
        if let Some(hi) = hi.filter(|&hi| hi < self.upper[i].value) {
            self.upper[i] = Bound {
                value: hi,
                source: source.to_owned(),
            };
        }
    }

    /// The `min`, `max` and `frozen` tables.
    pub(super) fn apply_weights(
        &mut self,
        spec: &ConstraintSpec,
        index: &Index<'_>,
    ) -> Result<(), ConstraintError> {
        for (name, &v) in &spec.min {
            let c = format!("min.{name}");
            self.tighten(index(c.clone(), name)?, Some(weight(&c, v)?), None, &c);
        }
        for (name, &v) in &spec.max {
            let c = format!("max.{name}");
            self.tighten(index(c.clone(), name)?, None, Some(weight(&c, v)?), &c);
        }
        for (name, &v) in &spec.frozen {
            let c = format!("frozen.{name}");
            let v = weight(&c, v)?;
            self.tighten(index(c.clone(), name)?, Some(v), Some(v), &c);
        }
        Ok(())
    }

    /// `[tokens]`: `w_i * budget <= tokens_i * max_epochs`.
    pub(super) fn apply_tokens(
        &mut self,
        space: &Space,
        t: &TokenSpec,
    ) -> Result<(), ConstraintError> {
        for (c, v) in [
            ("tokens.budget", t.budget),
            ("tokens.max_epochs", t.max_epochs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ConstraintError::BadValue {
                    constraint: c.into(),
                    value: v,
                    expected: "must be positive and finite",
                });
            }
        }
        for (i, d) in space.domains.iter().enumerate() {
            let available = d.tokens.ok_or_else(|| ConstraintError::MissingTokens {
                domain: d.name.clone(),
            })?;
            let cap = (available * t.max_epochs / t.budget).min(1.0);
            let source = format!(
                "tokens: {available:.3e} available x {} epochs / {:.3e} budget",
                t.max_epochs, t.budget
            );
            self.tighten(i, None, Some(cap), &source);
        }
        Ok(())
    }

    /// No domain's bounds cross, the minimums sum to at most 1 and the maximums to at least 1.
    pub(super) fn check(&self, space: &Space) -> Result<(), ConstraintError> {
        for (i, (lo, hi)) in self.lower.iter().zip(&self.upper).enumerate() {
            if lo.value > hi.value + TOL {
                return Err(ConstraintError::CrossedBounds {
                    domain: space.domains[i].name.clone(),
                    min: lo.value,
                    min_source: lo.source.clone(),
                    max: hi.value,
                    max_source: hi.source.clone(),
                });
            }
        }
        let list = |bounds: &[Bound], pick: &dyn Fn(f64) -> bool| {
            bounds
                .iter()
                .filter(|b| pick(b.value))
                .map(|b| format!("{} ({})", b.value, b.source))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let lo_sum: f64 = self.lower.iter().map(|b| b.value).sum();
        let hi_sum: f64 = self.upper.iter().map(|b| b.value).sum();
        if lo_sum > 1.0 + TOL {
            return Err(ConstraintError::MinimumsAboveOne {
                sum: lo_sum,
                sources: list(&self.lower, &|v| v > 0.0),
            });
        }
        if hi_sum < 1.0 - TOL {
            return Err(ConstraintError::MaximumsBelowOne {
                sum: hi_sum,
                sources: list(&self.upper, &|v| v < 1.0),
            });
        }
        Ok(())
    }

    /// Lower and upper bounds `[domains]` each.
    pub(super) fn values(&self) -> (Vec<f64>, Vec<f64>) {
        let values = |b: &[Bound]| b.iter().map(|b| b.value).collect();
        (values(&self.lower), values(&self.upper))
    }
}

/// `[trust_region]`: a radius in [0, 1] around at least one logged run.
pub(super) fn trust_region(
    spec: Option<&TrustRegionSpec>,
    anchors: &[Vec<f64>],
) -> Result<Option<TrustRegion>, ConstraintError> {
    let Some(t) = spec else { return Ok(None) };
    if !(0.0..=1.0).contains(&t.max_distance) {
        return Err(ConstraintError::BadValue {
            constraint: "trust_region.max_distance".into(),
            value: t.max_distance,
            expected: "a total-variation distance lies in [0, 1]",
        });
    }
    if anchors.is_empty() {
        return Err(ConstraintError::NoAnchors);
    }
    Ok(Some((anchors.to_vec(), t.max_distance)))
}

/// `[kl]`: a prior mixture and a non-negative budget in nats.
pub(super) fn kl(
    space: &Space,
    spec: Option<&KlSpec>,
    index: &Index<'_>,
) -> Result<Option<(Vec<f64>, f64)>, ConstraintError> {
    let Some(k) = spec else { return Ok(None) };
    if !(k.max.is_finite() && k.max >= 0.0) {
        return Err(ConstraintError::BadValue {
            constraint: "kl.max".into(),
            value: k.max,
            expected: "must be non-negative and finite",
        });
    }
    Ok(Some((prior(space, &k.prior, index)?, k.max)))
}

/// Validates one group; `g` is its index in the file.
pub(super) fn group(
    space: &Space,
    g: usize,
    spec: &GroupSpec,
    lo: &[f64],
    hi: &[f64],
    index: &dyn Fn(String, &str) -> Result<usize, ConstraintError>,
) -> Result<Group, ConstraintError> {
    let mut label = format!("group[{g}]");
    let mut domains = Vec::new();
    if let (Some(axis), Some(value)) = (&spec.axis, &spec.value) {
        label = format!("{label} ({axis} = {value})");
        domains.extend(
            (0..space.len()).filter(|&i| space.domains[i].attributes.get(axis) == Some(value)),
        );
    }
    for name in &spec.domains {
        let i = index(format!("{label}.domains"), name)?;
        if !domains.contains(&i) {
            domains.push(i);
        }
    }
    if domains.is_empty() {
        return Err(ConstraintError::EmptyGroup { constraint: label });
    }
    let (min, max) = (spec.min.unwrap_or(0.0), spec.max.unwrap_or(1.0));
    for (field, v) in [("min", min), ("max", max)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(ConstraintError::BadValue {
                constraint: format!("{label}.{field}"),
                value: v,
                expected: "a weight must lie in [0, 1]",
            });
        }
    }
    let reachable_lo: f64 = domains.iter().map(|&i| lo[i]).sum();
    let reachable_hi: f64 = domains.iter().map(|&i| hi[i]).sum();
    let outside_lo: f64 = (0..lo.len())
        .filter(|i| !domains.contains(i))
        .map(|i| lo[i])
        .sum();
    let reason = if min > max {
        Some(format!("min {min} exceeds max {max}"))
    } else if max < reachable_lo - TOL {
        Some(format!(
            "max {max} is below the sum of its domains' minimums, {reachable_lo:.4}"
        ))
    } else if min > reachable_hi + TOL {
        Some(format!(
            "min {min} is above the sum of its domains' maximums, {reachable_hi:.4}"
        ))
    } else if min + outside_lo > 1.0 + TOL {
        Some(format!(
            "min {min} plus the other domains' minimums ({outside_lo:.4}) exceeds 1"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConstraintError::GroupInfeasible {
            constraint: label,
            reason,
        }),
        None => Ok(Group {
            label,
            domains,
            min,
            max,
        }),
    }
}

fn prior(
    space: &Space,
    spec: &PriorSpec,
    index: &dyn Fn(String, &str) -> Result<usize, ConstraintError>,
) -> Result<Vec<f64>, ConstraintError> {
    let raw: Vec<f64> = match spec {
        PriorSpec::Named(name) if name == "uniform" => vec![1.0; space.len()],
        PriorSpec::Named(name) if name == "tokens" => space
            .domains
            .iter()
            .map(|d| {
                d.tokens.ok_or_else(|| ConstraintError::MissingTokens {
                    domain: d.name.clone(),
                })
            })
            .collect::<Result<_, _>>()?,
        PriorSpec::Named(name) => {
            return Err(ConstraintError::UnknownDomain {
                constraint: "kl.prior (\"uniform\", \"tokens\" or a table)".into(),
                domain: name.clone(),
            });
        }
        PriorSpec::Weights(table) => {
            let mut w = vec![0.0; space.len()];
            for (name, &v) in table {
                w[index(format!("kl.prior.{name}"), name)?] = v;
            }
            w
        }
    };
    let total: f64 = raw.iter().sum();
    if !(total > 0.0 && raw.iter().all(|&x| x >= 0.0 && x.is_finite())) {
        return Err(ConstraintError::BadValue {
            constraint: "kl.prior".into(),
            value: total,
            expected: "prior weights must be non-negative with a positive sum",
        });
    }
    Ok(raw.iter().map(|x| x / total).collect())
}
