//! The mixture space: the ordered domains a mixture weights, their attributes (axes such as
//! concept, task, quality or source), bounds and token availability; constraints and samplers.
//! The simplex maths they use lives in [`crate::math::simplex`].

pub mod constraints;
pub mod recipe;
pub mod reuse;
pub mod sampler;

pub use constraints::{ConstraintError, ConstraintSpec, Constraints};

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

type Result<T, E = SpaceError> = std::result::Result<T, E>;

/// Why a space configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// A recipe a virtual domain reads is malformed.
    #[error(transparent)]
    Recipe(#[from] recipe::RecipeError),
    /// The TOML did not parse or did not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// The space has no domains.
    #[error("{path}: the space has no domains")]
    Empty {
        /// The configuration file.
        path: PathBuf,
    },
    /// Two domains share a name.
    #[error("{path}: domain `{name}` is declared twice")]
    DuplicateDomain {
        /// The configuration file.
        path: PathBuf,
        /// The repeated name.
        name: String,
    },
    /// A domain's field has a value outside its range.
    #[error("{path}: domain `{domain}`, field `{field}` = {value}: {expected}")]
    BadValue {
        /// The configuration file.
        path: PathBuf,
        /// The domain's name.
        domain: String,
        /// The field, e.g. `min`.
        field: &'static str,
        /// The value found.
        value: f64,
        /// What the value must satisfy.
        expected: &'static str,
    },
    /// The per-domain bounds admit no mixture.
    #[error("{path}: the domain minimums sum to {min_sum} > 1 or the maximums to {max_sum} < 1")]
    InfeasibleBounds {
        /// The configuration file.
        path: PathBuf,
        /// Sum of the `min` fields.
        min_sum: f64,
        /// Sum of the `max` fields.
        max_sum: f64,
    },
}

/// One domain of a mixture space, as written in the TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// Unique name, e.g. `pile_cc` or `charts_diagrams/ocr`.
    pub name: String,
    /// Column holding this domain's weight in logged-run files; default: the space's
    /// `column_prefix` followed by `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Axis values, e.g. `{ concept = "charts", task = "ocr" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Smallest allowed weight, in [0, 1]; default 0.
    #[serde(default)]
    pub min: f64,
    /// Largest allowed weight, in [min, 1]; default 1.
    #[serde(default = "one")]
    pub max: f64,
    /// Tokens available for this domain (unique tokens, before repetition), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// An ordered set of domains: the coordinates of every mixture (weights on the simplex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Space {
    /// A short name, e.g. `regmix-pile`.
    pub name: String,
    /// Prefix added to a domain name to form its column in logged-run files.
    #[serde(default)]
    pub column_prefix: String,
    /// The domains, in the order mixture vectors use.
    pub domains: Vec<Domain>,
}

impl Space {
    /// Reads and validates a space from a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::io::read_text(path)?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates a space; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let space: Space = toml::from_str(text).map_err(|e| SpaceError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        space.validate(path)?;
        Ok(space)
    }

    /// A space with the given domain names, no attributes and no bounds.
    pub fn from_names(name: &str, domains: &[String]) -> Result<Self> {
        let space = Space {
            name: name.to_owned(),
            column_prefix: String::new(),
            domains: domains
                .iter()
                .map(|d| Domain {
                    name: d.clone(),
                    column: None,
                    attributes: BTreeMap::new(),
                    min: 0.0,
                    max: 1.0,
                    tokens: None,
                })
                .collect(),
        };
        space.validate(Path::new("<columns>"))?;
        Ok(space)
    }

    fn validate(&self, path: &Path) -> Result<(), SpaceError> {
        let path = || path.to_owned();
        if self.domains.is_empty() {
            return Err(SpaceError::Empty { path: path() });
        }
        let mut seen = HashSet::new();
        for (i, d) in self.domains.iter().enumerate() {
            if d.name.trim().is_empty() {
                return Err(SpaceError::Parse {
                    path: path(),
                    message: format!("domains[{i}]: field `name` is empty"),
                });
            }
            if !seen.insert(d.name.as_str()) {
                return Err(SpaceError::DuplicateDomain {
                    path: path(),
                    name: d.name.clone(),
                });
            }
            let bad = |field, value, expected| SpaceError::BadValue {
                path: path(),
                domain: d.name.clone(),
                field,
                value,
                expected,
            };
            if !(0.0..=1.0).contains(&d.min) {
                return Err(bad("min", d.min, "must lie in [0, 1]"));
            }
            if !(d.min..=1.0).contains(&d.max) {
                return Err(bad("max", d.max, "must lie in [min, 1]"));
            }
            if let Some(t) = d.tokens
                && !(t.is_finite() && t >= 0.0)
            {
                return Err(bad("tokens", t, "must be a finite, non-negative count"));
            }
        }
        let min_sum: f64 = self.domains.iter().map(|d| d.min).sum();
        let max_sum: f64 = self.domains.iter().map(|d| d.max).sum();
        if min_sum > 1.0 + 1e-9 || max_sum < 1.0 - 1e-9 {
            return Err(SpaceError::InfeasibleBounds {
                path: path(),
                min_sum,
                max_sum,
            });
        }
        Ok(())
    }

    /// Number of domains (the length of every mixture vector).
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Always false: a validated space has at least one domain.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Domain names in order.
    pub fn names(&self) -> Vec<String> {
        self.domains.iter().map(|d| d.name.clone()).collect()
    }

    /// The column of each domain in logged-run files, in domain order.
    pub fn columns(&self) -> Vec<String> {
        self.domains
            .iter()
            .map(|d| {
                d.column
                    .clone()
                    .unwrap_or_else(|| format!("{}{}", self.column_prefix, d.name))
            })
            .collect()
    }

    /// The distinct values of one axis (attribute), in first-seen domain order.
    pub fn axis_values(&self, axis: &str) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for v in self.domains.iter().filter_map(|d| d.attributes.get(axis)) {
            if !values.contains(v) {
                values.push(v.clone());
            }
        }
        values
    }

    /// The axes (attribute names) any domain carries, sorted.
    pub fn axes(&self) -> Vec<String> {
        let axes: std::collections::BTreeSet<&String> = self
            .domains
            .iter()
            .flat_map(|d| d.attributes.keys())
            .collect();
        axes.into_iter().cloned().collect()
    }

    /// Total weight per value of `axis` for one mixture (`weights.len() == self.len()`);
    /// domains without the attribute are left out.
    pub fn axis_shares(&self, axis: &str, weights: &[f64]) -> Vec<(String, f64)> {
        self.axis_values(axis)
            .into_iter()
            .map(|v| {
                let share = self
                    .domains
                    .iter()
                    .zip(weights)
                    .filter(|(d, _)| d.attributes.get(axis) == Some(&v))
                    .map(|(_, w)| w)
                    .sum();
                (v, share)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACES: &[&str] = &["regmix-pile", "olmix-dclm", "mixatlas-multimodal"];

    #[test]
    fn shipped_spaces_load() {
        let sizes: Vec<usize> = SPACES
            .iter()
            .map(|s| {
                let path = format!("{}/configs/spaces/{s}.toml", env!("CARGO_MANIFEST_DIR"));
                Space::from_file(Path::new(&path)).unwrap().len()
            })
            .collect();
        assert_eq!(sizes, [17, 24, 50]);
    }

    #[test]
    fn axis_shares_sum_per_value() {
        let path = format!(
            "{}/configs/spaces/mixatlas-multimodal.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let space = Space::from_file(Path::new(&path)).unwrap();
        assert_eq!(space.axis_values("task").len(), 5);
        assert_eq!(space.axis_values("concept").len(), 10);
        let w = vec![1.0 / 50.0; 50];
        for (_, share) in space.axis_shares("task", &w) {
            assert!((share - 0.2).abs() < 1e-12);
        }
    }

    #[test]
    fn rejects_bad_spaces() {
        let p = Path::new("s.toml");
        let cases = [
            ("name='a'\ndomains=[]", "no domains"),
            (
                "name='a'\n[[domains]]\nname='x'\n[[domains]]\nname='x'",
                "declared twice",
            ),
            (
                "name='a'\n[[domains]]\nname='x'\nmin=0.7\n[[domains]]\nname='y'\nmin=0.6",
                "minimums sum",
            ),
            ("name='a'\n[[domains]]\nname='x'\nmax=1.5", "field `max`"),
            ("name='a'\n[[domains]]\nname='x'\nwieght=1", "unknown field"),
        ];
        for (text, needle) in cases {
            let err = Space::from_toml(text, p).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} lacks {needle:?}");
            assert!(err.starts_with("s.toml"), "{err:?} does not name the file");
        }
    }
}
