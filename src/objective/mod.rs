//! How many targets become the one number that is optimised.
//!
//! An objective is a weighted sum of targets, each signed by its direction so that **higher is
//! always better**, and optionally standardised by the training runs' mean and standard
//! deviation so that targets in different units weigh what their weights say:
//!
//! `objective(y) = sum_t c_t * (y_t - o_t)`, `c_t = s_t * w_t / scale_t`,
//!
//! with `s_t = -1` for lower-is-better targets, `w_t` the weights (normalised to sum to 1),
//! `scale_t`, `o_t` the training std and mean (`standardize`) or 1 and 0 (`none`).
//!
//! An [`ObjectiveSpec`] (TOML) lists terms and groups; a group shares its weight equally among
//! its targets (names, or prefixes ending in `*`), e.g. a "document reasoning" group of DocVQA,
//! ChartQA and InfoVQA. With neither, every target gets weight 1. For two objectives,
//! [`pareto_front`] returns the non-dominated set.
//!
//! ```toml
//! normalize = "standardize"        # or "none"
//! [[term]]
//! target = "pile_cc_loss"
//! weight = 2.0
//! [[group]]
//! name = "document_reasoning"
//! targets = ["docvqa", "chartqa", "infovqa"]
//! weight = 1.0
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runs::{Direction, Normalizer, Schema, TargetSpec};

/// Why an objective was refused.
#[derive(Debug, thiserror::Error)]
pub enum ObjectiveError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// The TOML did not parse or did not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The objective file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A term or group names a target the predictor does not have.
    #[error("objective {item}: no target matches `{pattern}` (targets: {known})")]
    UnknownTarget {
        /// The term or group.
        item: String,
        /// The name or prefix pattern.
        pattern: String,
        /// The predictor's targets (first few).
        known: String,
    },
    /// A weight is negative or not finite.
    #[error("objective {item}: weight {value} must be finite and non-negative")]
    BadWeight {
        /// The term or group.
        item: String,
        /// The weight found.
        value: f64,
    },
    /// Every weight is zero.
    #[error("objective: all weights are zero")]
    AllZero,
}

/// Per-target scaling before weighting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Divide by the training runs' std after subtracting their mean (z-scores).
    #[default]
    Standardize,
    /// Raw target units.
    None,
}

fn one() -> f64 {
    1.0
}

/// One weighted target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermSpec {
    /// Target name.
    pub target: String,
    /// Weight (>= 0); default 1.
    #[serde(default = "one")]
    pub weight: f64,
    /// Override of the target's direction from the data spec.
    pub direction: Option<Direction>,
}

/// A named group of targets sharing one weight equally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group name, e.g. `document_reasoning`.
    pub name: String,
    /// Target names, or prefixes ending in `*` (`"mmlu_*"`); `"*"` is every target.
    pub targets: Vec<String>,
    /// The group's total weight (>= 0); default 1.
    #[serde(default = "one")]
    pub weight: f64,
}

/// An objective as written; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    /// Per-target scaling.
    #[serde(default)]
    pub normalize: Normalize,
    /// Weighted targets.
    #[serde(default, rename = "term")]
    pub terms: Vec<TermSpec>,
    /// Weighted groups of targets.
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupSpec>,
}

impl ObjectiveSpec {
    /// Reads an objective file.
    pub fn from_file(path: &Path) -> Result<Self, ObjectiveError> {
        crate::io::read_toml(path, |message| ObjectiveError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// The objective a backtest of `targets` replays without an objective file: the one
    /// target in raw units, or the default (every target standardised, weighted equally, in
    /// its direction).
    pub fn for_targets(targets: &[TargetSpec]) -> Self {
        match targets {
            [one] => ObjectiveSpec::single(&one.name),
            _ => ObjectiveSpec::default(),
        }
    }

    /// One target, raw units, in its direction.
    pub fn single(target: &str) -> Self {
        ObjectiveSpec {
            normalize: Normalize::None,
            terms: vec![TermSpec {
                target: target.to_owned(),
                weight: 1.0,
                direction: None,
            }],
            groups: Vec::new(),
        }
    }
}

/// A validated objective over a predictor's targets: higher is better.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    /// Target names, `[targets]`.
    pub targets: Vec<String>,
    /// Importance `w_t` (sums to 1), `[targets]`.
    pub weights: Vec<f64>,
    /// `c_t`, `[targets]`: objective units per target unit, signed.
    pub coefficients: Vec<f64>,
    /// `o_t`, `[targets]`.
    pub offsets: Vec<f64>,
    /// Named groups: name and target indices.
    pub groups: Vec<(String, Vec<usize>)>,
}

impl Objective {
    /// Validates `spec` against the predictor's `schema`; `norm` holds the training targets'
    /// mean and std (the checkpoint's `target_norm`).
    pub fn new(
        spec: &ObjectiveSpec,
        schema: &Schema,
        norm: &Normalizer,
    ) -> Result<Self, ObjectiveError> {
        let names = schema.target_names();
        let t = names.len();
        let mut weights = vec![0.0; t];
        let mut signs: Vec<f64> = schema
            .targets
            .iter()
            .map(|s| match s.direction {
                Direction::Lower => -1.0,
                Direction::Higher => 1.0,
            })
            .collect();
        let check = |item: &str, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(value)
            } else {
                Err(ObjectiveError::BadWeight {
                    item: item.to_owned(),
                    value,
                })
            }
        };
        let matching = |item: &str, pattern: &str| -> Result<Vec<usize>, ObjectiveError> {
            let hits: Vec<usize> = match pattern.strip_suffix('*') {
                Some(prefix) => (0..t).filter(|&j| names[j].starts_with(prefix)).collect(),
                None => (0..t).filter(|&j| names[j] == pattern).collect(),
            };
            if hits.is_empty() {
                let mut known = names.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
                if t > 8 {
                    known.push_str(&format!(", ... ({t} in all)"));
                }
                return Err(ObjectiveError::UnknownTarget {
                    item: item.to_owned(),
                    pattern: pattern.to_owned(),
                    known,
                });
            }
            Ok(hits)
        };
        for term in &spec.terms {
            let item = format!("term `{}`", term.target);
            let w = check(&item, term.weight)?;
            for j in matching(&item, &term.target)? {
                weights[j] += w;
                if let Some(d) = term.direction {
                    signs[j] = if d == Direction::Lower { -1.0 } else { 1.0 };
                }
            }
        }
        let mut groups = Vec::new();
        for g in &spec.groups {
            let item = format!("group `{}`", g.name);
            let w = check(&item, g.weight)?;
            let mut members = Vec::new();
            for p in &g.targets {
                for j in matching(&item, p)? {
                    if !members.contains(&j) {
                        members.push(j);
                    }
                }
            }
            for &j in &members {
                weights[j] += w / members.len() as f64;
            }
            groups.push((g.name.clone(), members));
        }
        if spec.terms.is_empty() && spec.groups.is_empty() {
            weights = vec![1.0; t];
        }
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return Err(ObjectiveError::AllZero);
        }
        weights.iter_mut().for_each(|w| *w /= total);
        let (scale, offsets) = match spec.normalize {
            Normalize::Standardize => (norm.std.clone(), norm.mean.clone()),
            Normalize::None => (vec![1.0; t], vec![0.0; t]),
        };
        let coefficients = (0..t).map(|j| signs[j] * weights[j] / scale[j]).collect();
        Ok(Objective {
            targets: names,
            weights,
            coefficients,
            offsets,
            groups,
        })
    }

    /// The objective in words: each weighted target, signed by its direction, and the units
    /// (e.g. `-pile_cc_loss, in pile_cc_loss's units`); beyond [`DESCRIBED_TERMS`] targets,
    /// the first three and a count.
    pub fn describe(&self) -> String {
        let used: Vec<usize> = (0..self.targets.len())
            .filter(|&j| self.weights[j] > 0.0)
            .collect();
        let sign = |j: usize| if self.coefficients[j] < 0.0 { "-" } else { "+" };
        let standardised = self.offsets.iter().any(|&o| o != 0.0);
        let mut terms: Vec<String> = match used.as_slice() {
            [j] => vec![format!(
                "{}{}",
                sign(*j).trim_start_matches('+'),
                self.targets[*j]
            )],
            _ => (used.iter())
                .map(|&j| format!("{} {:.2} {}", sign(j), self.weights[j], self.targets[j]))
                .collect(),
        };
        // Many targets: the first few, then how many more and their weights.
        if terms.len() > DESCRIBED_TERMS {
            let weights = used.iter().map(|&j| self.weights[j]);
            let (lo, hi) = weights.fold((f64::INFINITY, 0.0f64), |(lo, hi), w| {
                (lo.min(w), hi.max(w))
            });
            let range = if hi - lo < 0.005 {
                format!("each weighted {hi:.2}")
            } else {
                format!("weights {lo:.2} to {hi:.2}")
            };
            let more = format!(
                "and {} more ({} targets, {range})",
                terms.len() - 3,
                terms.len()
            );
            terms.truncate(3);
            terms.push(more);
        }
        let units = match (standardised, used.as_slice()) {
            (true, [_]) => "standardised by the training runs' mean and std".to_owned(),
            (true, _) => "each target standardised by the training runs' mean and std".to_owned(),
            (false, [j]) => format!("in {}'s units", self.targets[*j]),
            (false, _) => "in target units".to_owned(),
        };
        format!("{}, {units}", terms.join(" ").trim_start_matches("+ "))
    }

    /// Objective of one outcome vector `y` (`[targets]`, target units).
    pub fn value(&self, y: &[f64]) -> f64 {
        y.iter()
            .zip(self.coefficients.iter().zip(&self.offsets))
            .map(|(y, (c, o))| c * (y - o))
            .sum()
    }

    /// Objective per member and row from member outputs `[M, n, targets]` (flat, target
    /// units): `[M, n]` flat.
    pub fn members(&self, outputs: &[f64]) -> Vec<f64> {
        outputs
            .chunks_exact(self.targets.len())
            .map(|y| self.value(y))
            .collect()
    }
}

/// Weighted targets [`Objective::describe`] lists one by one.
pub const DESCRIBED_TERMS: usize = 8;

/// Indices of the points not dominated in `(a[i], b[i])`, both maximised, ordered by `a`
/// descending. Ties on both keep the first index.
pub fn pareto_front(a: &[f64], b: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..a.len()).collect();
    order.sort_by(|&i, &j| {
        a[j].total_cmp(&a[i])
            .then(b[j].total_cmp(&b[i]))
            .then(i.cmp(&j))
    });
    let mut front = Vec::new();
    let mut best_b = f64::NEG_INFINITY;
    for i in order {
        if b[i] > best_b {
            best_b = b[i];
            front.push(i);
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::TargetSpec;
    use crate::space::Space;

    fn schema(t: usize) -> Schema {
        let names: Vec<String> = (0..t).map(|j| format!("task_{j:03}")).collect();
        Schema {
            space: Space::from_names("s", &["a".into(), "b".into()]).unwrap(),
            mixture_columns: vec!["a".into(), "b".into()],
            context: Vec::new(),
            targets: names
                .iter()
                .enumerate()
                .map(|(j, n)| {
                    TargetSpec::new(
                        n.clone(),
                        if j % 2 == 0 {
                            Direction::Lower
                        } else {
                            Direction::Higher
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn many_targets_groups_and_directions() {
        let t = 120;
        let s = schema(t);
        let norm = Normalizer {
            mean: vec![1.0; t],
            std: vec![2.0; t],
        };
        let spec: ObjectiveSpec = toml::from_str(
            "[[group]]\nname = \"early\"\ntargets = [\"task_00*\"]\nweight = 1\n[[term]]\ntarget = \"task_119\"\nweight = 1",
        )
        .unwrap();
        let o = Objective::new(&spec, &s, &norm).unwrap();
        // task_000..task_009 share 0.5, task_119 has 0.5.
        assert!((o.weights[3] - 0.05).abs() < 1e-12 && (o.weights[119] - 0.5).abs() < 1e-12);
        assert_eq!(o.groups[0].1.len(), 10);
        // task_000 is lower-is-better: raising it lowers the objective.
        let mut y = vec![1.0; t];
        let base = o.value(&y);
        y[0] += 1.0;
        assert!((o.value(&y) - base + 0.05 / 2.0).abs() < 1e-12);
        // Default: every target weighted equally.
        let all = Objective::new(&ObjectiveSpec::default(), &s, &norm).unwrap();
        assert!(
            all.weights
                .iter()
                .all(|&w| (w - 1.0 / t as f64).abs() < 1e-12)
        );
        let bad: ObjectiveSpec = toml::from_str("[[term]]\ntarget = \"nope\"").unwrap();
        let e = Objective::new(&bad, &s, &norm).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("120 in all"), "{e}");
        // In words: three of the 120 terms, then a count, not 120 terms.
        assert_eq!(
            all.describe(),
            "- 0.01 task_000 + 0.01 task_001 - 0.01 task_002 and 117 more (120 targets, each \
             weighted 0.01), each target standardised by the training runs' mean and std"
        );
        assert!(
            o.describe()
                .contains("and 8 more (11 targets, weights 0.05 to 0.50)")
        );
    }

    #[test]
    fn pareto_front_keeps_non_dominated() {
        let a = [1.0, 2.0, 3.0, 2.5, 0.5];
        let b = [3.0, 2.0, 1.0, 0.5, 3.5];
        assert_eq!(pareto_front(&a, &b), vec![2, 1, 0, 4]);
    }
}
