//! The feasible set of mixtures: the simplex intersected with per-domain bounds, group sums,
//! token availability, frozen domains, a trust region around logged runs and a KL budget to a
//! prior.
//!
//! A [`ConstraintSpec`] is what a user writes (TOML, all sections optional):
//!
//! ```toml
//! min = { pile_cc = 0.05 }            # per-domain minimum weight
//! max = { github = 0.10 }             # per-domain maximum weight
//! frozen = { wikipedia_en = 0.04 }    # fixed weight
//! [[group]]                           # sum over the domains with an axis value (or a list)
//! axis = "task"
//! value = "ocr"
//! max = 0.3
//! [tokens]                            # w_i * budget <= tokens_i * max_epochs
//! budget = 2.5e10
//! max_epochs = 4
//! [trust_region]                      # total-variation distance to the nearest logged run
//! max_distance = 0.25
//! [kl]                                # KL(w || prior) in nats; prior "tokens", "uniform" or a table
//! prior = "uniform"
//! max = 1.0
//! ```
//!
//! [`Constraints::new`] validates it against a [`Space`] once; every bound remembers where it came
//! from, so an infeasible combination is reported with the constraints that conflict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::math::simplex::{kl_divergence, nearest_distance, project_box_simplex};
use crate::space::Space;

/// Tolerance on sums and bounds (weights are probabilities).
const TOL: f64 = 1e-9;

/// Why a constraint set was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConstraintError {
    /// The TOML did not parse or did not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The constraints file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A constraint names a domain the space does not have.
    #[error("constraint `{constraint}` names unknown domain `{domain}`")]
    UnknownDomain {
        /// Where the name appears, e.g. `max.github`.
        constraint: String,
        /// The unknown name.
        domain: String,
    },
    /// A group selects no domain.
    #[error("constraint `{constraint}` selects no domain")]
    EmptyGroup {
        /// The group, e.g. `group[0] (task = ocr)`.
        constraint: String,
    },
    /// A number is out of its range.
    #[error("constraint `{constraint}` = {value}: {expected}")]
    BadValue {
        /// The field.
        constraint: String,
        /// The value found.
        value: f64,
        /// What it must satisfy.
        expected: &'static str,
    },
    /// The token constraint needs every domain's available tokens.
    #[error("constraint `tokens` needs `tokens` for domain `{domain}` in the space file")]
    MissingTokens {
        /// The domain without a token count.
        domain: String,
    },
    /// A domain's lower bound exceeds its upper bound.
    #[error(
        "domain `{domain}`: minimum {min} (from {min_source}) exceeds maximum {max} (from {max_source})"
    )]
    CrossedBounds {
        /// The domain.
        domain: String,
        /// The binding lower bound and its origin.
        min: f64,
        /// Where the lower bound comes from.
        min_source: String,
        /// The binding upper bound.
        max: f64,
        /// Where the upper bound comes from.
        max_source: String,
    },
    /// Minimums sum above one.
    #[error("minimum weights sum to {sum:.4} > 1: {sources}")]
    MinimumsAboveOne {
        /// Sum of the lower bounds.
        sum: f64,
        /// The non-zero lower bounds and their origins.
        sources: String,
    },
    /// Maximums sum below one.
    #[error("maximum weights sum to {sum:.4} < 1: {sources}")]
    MaximumsBelowOne {
        /// Sum of the upper bounds.
        sum: f64,
        /// The upper bounds below one and their origins.
        sources: String,
    },
    /// A group's bound cannot be met within its domains' bounds.
    #[error("{constraint}: {reason}")]
    GroupInfeasible {
        /// The group.
        constraint: String,
        /// Which bounds conflict, with numbers.
        reason: String,
    },
    /// A trust region was asked for without logged runs to anchor it.
    #[error("constraint `trust_region` needs logged runs (pass the training data)")]
    NoAnchors,
    /// Bounds and groups are individually consistent but admit no common mixture.
    #[error("no mixture satisfies all of: {constraints}")]
    Empty {
        /// Every active constraint.
        constraints: String,
    },
}

/// A group-sum constraint as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Axis (attribute) name; with `value`, selects the domains carrying that value.
    pub axis: Option<String>,
    /// Axis value, e.g. `ocr`.
    pub value: Option<String>,
    /// Or an explicit list of domain names.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Smallest total weight of the group.
    pub min: Option<f64>,
    /// Largest total weight of the group.
    pub max: Option<f64>,
}

/// Token availability: for a run of `budget` tokens, no domain is repeated more than
/// `max_epochs` times, i.e. `w_i * budget <= tokens_i * max_epochs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Tokens the run will train on.
    pub budget: f64,
    /// Largest number of passes over any domain's unique tokens (Olmix uses 4).
    pub max_epochs: f64,
}

/// A trust region: proposals stay within `max_distance` (total variation,
/// `0.5 * sum |w - r|`, in [0, 1]) of some logged run `r`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRegionSpec {
    /// Largest total-variation distance to the nearest logged run.
    pub max_distance: f64,
}

/// The reference mixture of a KL budget.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PriorSpec {
    /// `"uniform"` or `"tokens"` (proportional to available tokens).
    Named(String),
    /// Explicit weights per domain (renormalised; missing domains get 0).
    Weights(BTreeMap<String, f64>),
}

/// A KL budget: `KL(w || prior) = sum_i w_i ln(w_i / prior_i) <= max` (nats).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlSpec {
    /// The reference mixture.
    pub prior: PriorSpec,
    /// Largest divergence in nats.
    pub max: f64,
}

/// Constraints as written by the user; see the module docs for the TOML form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintSpec {
    /// Per-domain minimum weights (on top of the space's `min`).
    #[serde(default)]
    pub min: BTreeMap<String, f64>,
    /// Per-domain maximum weights (on top of the space's `max`).
    #[serde(default)]
    pub max: BTreeMap<String, f64>,
    /// Domains held at a fixed weight.
    #[serde(default)]
    pub frozen: BTreeMap<String, f64>,
    /// Group sums.
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupSpec>,
    /// Token availability with a repetition cap.
    pub tokens: Option<TokenSpec>,
    /// Trust region around the logged runs.
    pub trust_region: Option<TrustRegionSpec>,
    /// KL budget to a prior mixture.
    pub kl: Option<KlSpec>,
}

impl ConstraintSpec {
    /// Reads a constraints file.
    pub fn from_file(path: &Path) -> crate::Result<Self> {
        crate::io::read_toml(path, |message| ConstraintError::Parse {
            path: path.to_owned(),
            message,
        })
    }
}

/// A validated group-sum constraint.
#[derive(Debug, Clone)]
pub struct Group {
    /// Human-readable name, e.g. `group[0] (task = ocr)`.
    pub label: String,
    /// Domain indices.
    pub domains: Vec<usize>,
    /// Bounds on the group's total weight.
    pub min: f64,
    /// Upper bound on the group's total weight.
    pub max: f64,
}

/// A validated feasible set. Per-domain bounds are already intersected (space bounds,
/// `min`/`max`, `frozen`, token caps); groups, trust region and KL are kept separately.
#[derive(Debug, Clone)]
pub struct Constraints {
    /// Per-domain lower bounds `[domains]`.
    pub lower: Vec<f64>,
    /// Per-domain upper bounds `[domains]`.
    pub upper: Vec<f64>,
    /// Group sums.
    pub groups: Vec<Group>,
    /// Trust-region anchors `[runs][domains]` and radius, when set.
    pub trust_region: Option<(Vec<Vec<f64>>, f64)>,
    /// KL prior `[domains]` and budget (nats), when set.
    pub kl: Option<(Vec<f64>, f64)>,
}

/// One bound with where it came from.
struct Bound {
    value: f64,
    source: String,
}

impl Constraints {
    /// Only the simplex and the space's own bounds.
    pub fn simplex(space: &Space) -> Self {
        Constraints {
            lower: space.domains.iter().map(|d| d.min).collect(),
            upper: space.domains.iter().map(|d| d.max).collect(),
            groups: Vec::new(),
            trust_region: None,
            kl: None,
        }
    }

    /// Validates `spec` against `space`; `anchors` are the logged mixtures a trust region is
    /// measured from. Errors name the conflicting constraints.
    pub fn new(
        space: &Space,
        spec: &ConstraintSpec,
        anchors: &[Vec<f64>],
    ) -> Result<Self, ConstraintError> {
        let n = space.len();
        let index = |constraint: String, name: &str| {
            space
                .domains
                .iter()
                .position(|d| d.name == name)
                .ok_or_else(|| ConstraintError::UnknownDomain {
                    constraint,
                    domain: name.to_owned(),
                })
        };
        let weight = |constraint: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(ConstraintError::BadValue {
                    constraint: constraint.to_owned(),
                    value: v,
                    expected: "a weight must lie in [0, 1]",
                })
            }
        };
        let mut lower: Vec<Bound> = space
            .domains
            .iter()
            .map(|d| Bound {
                value: d.min,
                source: format!("space min of `{}`", d.name),
            })
            .collect();
        let mut upper: Vec<Bound> = space
            .domains
            .iter()
            .map(|d| Bound {
                value: d.max,
                source: format!("space max of `{}`", d.name),
            })
            .collect();
        let mut tighten = |i: usize, lo: Option<f64>, hi: Option<f64>, source: &str| {
            if let Some(lo) = lo.filter(|&lo| lo > lower[i].value) {
                lower[i] = Bound {
                    value: lo,
                    source: source.to_owned(),
                };
            }
            if let Some(hi) = hi.filter(|&hi| hi < upper[i].value) {
                upper[i] = Bound {
                    value: hi,
                    source: source.to_owned(),
                };
            }
        };
        for (name, &v) in &spec.min {
            let c = format!("min.{name}");
            tighten(index(c.clone(), name)?, Some(weight(&c, v)?), None, &c);
        }
        for (name, &v) in &spec.max {
            let c = format!("max.{name}");
            tighten(index(c.clone(), name)?, None, Some(weight(&c, v)?), &c);
        }
        for (name, &v) in &spec.frozen {
            let c = format!("frozen.{name}");
            let v = weight(&c, v)?;
            tighten(index(c.clone(), name)?, Some(v), Some(v), &c);
        }
        if let Some(t) = &spec.tokens {
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
                tighten(i, None, Some(cap), &source);
            }
        }
        for i in 0..n {
            if lower[i].value > upper[i].value + TOL {
                return Err(ConstraintError::CrossedBounds {
                    domain: space.domains[i].name.clone(),
                    min: lower[i].value,
                    min_source: lower[i].source.clone(),
                    max: upper[i].value,
                    max_source: upper[i].source.clone(),
                });
            }
        }
        let lo: Vec<f64> = lower.iter().map(|b| b.value).collect();
        let hi: Vec<f64> = upper.iter().map(|b| b.value).collect();
        let (lo_sum, hi_sum) = (lo.iter().sum::<f64>(), hi.iter().sum::<f64>());
        let list = |bounds: &[Bound], pick: &dyn Fn(f64) -> bool| {
            bounds
                .iter()
                .filter(|b| pick(b.value))
                .map(|b| format!("{} ({})", b.value, b.source))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if lo_sum > 1.0 + TOL {
            return Err(ConstraintError::MinimumsAboveOne {
                sum: lo_sum,
                sources: list(&lower, &|v| v > 0.0),
            });
        }
        if hi_sum < 1.0 - TOL {
            return Err(ConstraintError::MaximumsBelowOne {
                sum: hi_sum,
                sources: list(&upper, &|v| v < 1.0),
            });
        }
        let mut groups = Vec::new();
        for (g, spec) in spec.groups.iter().enumerate() {
            groups.push(group(space, g, spec, &lo, &hi, &index)?);
        }
        let trust_region = match &spec.trust_region {
            None => None,
            Some(t) => {
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
                Some((anchors.to_vec(), t.max_distance))
            }
        };
        let kl = match &spec.kl {
            None => None,
            Some(k) => {
                if !(k.max.is_finite() && k.max >= 0.0) {
                    return Err(ConstraintError::BadValue {
                        constraint: "kl.max".into(),
                        value: k.max,
                        expected: "must be non-negative and finite",
                    });
                }
                Some((prior(space, &k.prior, &index)?, k.max))
            }
        };
        let constraints = Constraints {
            lower: lo,
            upper: hi,
            groups,
            trust_region,
            kl,
        };
        // Bounds and each group are consistent on their own; check that together they leave
        // a point, starting from the centre of the box.
        let centre: Vec<f64> = (0..n)
            .map(|i| 0.5 * (constraints.lower[i] + constraints.upper[i]))
            .collect();
        let start = constraints.repair(&centre);
        let anchored = constraints.trust_region.as_ref().map(|(a, _)| a.clone());
        let feasible = std::iter::once(start)
            .chain(anchored.unwrap_or_default())
            .any(|w| constraints.is_feasible(&constraints.repair(&w)));
        if !feasible {
            return Err(ConstraintError::Empty {
                constraints: constraints.describe(space),
            });
        }
        Ok(constraints)
    }

    /// Number of domains.
    pub fn len(&self) -> usize {
        self.lower.len()
    }

    /// Always false: a space has at least one domain.
    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    fn describe(&self, space: &Space) -> String {
        let mut parts = Vec::new();
        for (i, d) in space.domains.iter().enumerate() {
            if self.lower[i] > 0.0 || self.upper[i] < 1.0 {
                parts.push(format!(
                    "{} in [{}, {}]",
                    d.name, self.lower[i], self.upper[i]
                ));
            }
        }
        parts.extend(
            self.groups
                .iter()
                .map(|g| format!("{} in [{}, {}]", g.label, g.min, g.max)),
        );
        if let Some((_, r)) = &self.trust_region {
            parts.push(format!("trust_region.max_distance = {r}"));
        }
        if let Some((_, k)) = &self.kl {
            parts.push(format!("kl.max = {k}"));
        }
        parts.join("; ")
    }

    /// The nearest point (Euclidean) to `v` on the simplex within the per-domain bounds, then
    /// pushed into the group sums by alternating rescaling and re-projection. Trust region and
    /// KL are not repaired: [`Constraints::is_feasible`] decides those.
    pub fn repair(&self, v: &[f64]) -> Vec<f64> {
        let inside = (v.iter().sum::<f64>() - 1.0).abs() <= TOL
            && v.iter()
                .zip(self.lower.iter().zip(&self.upper))
                .all(|(&x, (&lo, &hi))| x >= lo && x <= hi);
        let mut w = if inside {
            v.to_vec()
        } else {
            project_box_simplex(v, &self.lower, &self.upper)
        };
        for _ in 0..100 {
            let mut moved = false;
            for g in &self.groups {
                let sum: f64 = g.domains.iter().map(|&i| w[i]).sum();
                let target = sum.clamp(g.min, g.max);
                if (sum - target).abs() <= TOL {
                    continue;
                }
                moved = true;
                if sum > 0.0 {
                    g.domains.iter().for_each(|&i| w[i] *= target / sum);
                } else {
                    let share = target / g.domains.len() as f64;
                    g.domains.iter().for_each(|&i| w[i] = share);
                }
                // Rescale the other domains to keep the total at one before re-projecting.
                let rest: f64 = 1.0 - target;
                let others: f64 = (0..w.len())
                    .filter(|i| !g.domains.contains(i))
                    .map(|i| w[i])
                    .sum();
                if others > 0.0 {
                    (0..w.len())
                        .filter(|i| !g.domains.contains(i))
                        .for_each(|i| w[i] *= rest / others);
                }
                w = project_box_simplex(&w, &self.lower, &self.upper);
            }
            if !moved {
                break;
            }
        }
        w
    }

    /// Whether `w` lies in the feasible set (to 1e-6 on sums and bounds).
    pub fn is_feasible(&self, w: &[f64]) -> bool {
        const EPS: f64 = 1e-6;
        if w.len() != self.len() || (w.iter().sum::<f64>() - 1.0).abs() > EPS {
            return false;
        }
        let in_box = w
            .iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(&x, (&lo, &hi))| x >= lo - EPS && x <= hi + EPS);
        let in_groups = self.groups.iter().all(|g| {
            let s: f64 = g.domains.iter().map(|&i| w[i]).sum();
            s >= g.min - EPS && s <= g.max + EPS
        });
        let in_region = self
            .trust_region
            .as_ref()
            .is_none_or(|(anchors, r)| nearest_distance(w, anchors) <= r + EPS);
        let in_kl = self
            .kl
            .as_ref()
            .is_none_or(|(prior, max)| kl_divergence(w, prior) <= max + EPS);
        in_box && in_groups && in_region && in_kl
    }
}

/// Validates one group; `g` is its index in the file.
fn group(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::simplex::{sample_dirichlet, tv_distance};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn space() -> Space {
        let text = r#"
            name = "t"
            [[domains]]
            name = "a"
            attributes = { task = "ocr" }
            tokens = 1e9
            [[domains]]
            name = "b"
            attributes = { task = "ocr" }
            tokens = 2e9
            [[domains]]
            name = "c"
            attributes = { task = "vqa" }
            tokens = 4e9
            [[domains]]
            name = "d"
            attributes = { task = "vqa" }
            tokens = 8e9
        "#;
        Space::from_toml(text, Path::new("t.toml")).unwrap()
    }

    fn parse(text: &str) -> ConstraintSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn infeasible_sets_name_the_conflict() {
        let s = space();
        let err = |t: &str| {
            Constraints::new(&s, &parse(t), &[])
                .unwrap_err()
                .to_string()
        };
        let e = err("min = { a = 0.6, c = 0.5 }");
        assert!(
            e.contains("1.1") && e.contains("min.a") && e.contains("min.c"),
            "{e}"
        );
        let e = err("min = { a = 0.3 }\nmax = { a = 0.2 }");
        assert!(e.contains("min.a") && e.contains("max.a"), "{e}");
        let e = err("min = { a = 0.3 }\n[tokens]\nbudget = 1e10\nmax_epochs = 2");
        assert!(e.contains("min.a") && e.contains("tokens:"), "{e}");
        let e = err(
            "min = { a = 0.2, b = 0.2 }\n[[group]]\naxis = \"task\"\nvalue = \"ocr\"\nmax = 0.3",
        );
        assert!(e.contains("task = ocr") && e.contains("0.4"), "{e}");
        let e = err("[[group]]\naxis = \"task\"\nvalue = \"none\"\nmax = 0.3");
        assert!(e.contains("selects no domain"), "{e}");
        let e = err("max = { zz = 0.3 }");
        assert!(e.contains("zz"), "{e}");
        let e = err("max = { a = 0.1, b = 0.1, c = 0.1, d = 0.1 }");
        assert!(e.contains("0.4000 < 1"), "{e}");
    }

    proptest! {
        /// Repair lands in the box, on the simplex and inside every group.
        #[test]
        fn repair_is_feasible(seed in 0u64..500, scale in 0.05f64..5.0) {
            let s = space();
            let spec = parse(
                "min = { d = 0.1 }\nmax = { c = 0.35 }\n[[group]]\naxis = \"task\"\nvalue = \"ocr\"\nmin = 0.2\nmax = 0.4\n[tokens]\nbudget = 1e10\nmax_epochs = 4",
            );
            let c = Constraints::new(&s, &spec, &[]).unwrap();
            let mut rng = StdRng::seed_from_u64(seed);
            let w = sample_dirichlet(&[scale; 4], &mut rng);
            let r = c.repair(&w);
            prop_assert!(c.is_feasible(&r), "{w:?} -> {r:?}");
        }
    }

    #[test]
    fn box_projection_is_idempotent_and_nearest() {
        let (lo, hi) = (vec![0.1, 0.0, 0.0], vec![0.5, 0.5, 1.0]);
        let w = project_box_simplex(&[0.2, 0.3, 0.5], &lo, &hi);
        assert!(tv_distance(&w, &[0.2, 0.3, 0.5]) < 1e-12);
        let w = project_box_simplex(&[1.0, 1.0, -1.0], &lo, &hi);
        assert!(
            (w[0] - 0.5).abs() < 1e-9 && (w[1] - 0.5).abs() < 1e-9,
            "{w:?}"
        );
    }

    #[test]
    fn trust_region_and_kl() {
        let s = space();
        let anchors = vec![vec![0.25; 4]];
        let spec = parse("[trust_region]\nmax_distance = 0.1\n[kl]\nprior = \"tokens\"\nmax = 0.5");
        let c = Constraints::new(&s, &spec, &anchors).unwrap();
        assert!(c.is_feasible(&[0.25, 0.25, 0.25, 0.25]));
        assert!(!c.is_feasible(&[0.5, 0.2, 0.15, 0.15]));
        assert!(Constraints::new(&s, &spec, &[]).is_err());
        assert!((kl_divergence(&[0.5, 0.5], &[0.5, 0.5])).abs() < 1e-12);
    }
}
