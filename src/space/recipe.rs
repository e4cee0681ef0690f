//! A recipe: a named mixture over a space's domains, in domain order, with optional
//! predictions; the exchange format mixatlas writes and reads back (JSON). The formats training
//! stacks consume are written by `export`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Space;

/// Format tag in every recipe file.
pub const RECIPE_FORMAT: &str = "mixatlas-recipe";

/// Why a recipe file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// The file is not valid JSON or not a recipe.
    #[error("{path}: {message}")]
    Parse {
        /// The recipe file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The weights are not a mixture.
    #[error("{path}: field `weights.{domain}` = {value}: {expected}")]
    NotAMixture {
        /// The recipe file.
        path: PathBuf,
        /// The offending domain, or `*` for the sum.
        domain: String,
        /// The value (the sum for `*`).
        value: f64,
        /// What it must satisfy.
        expected: &'static str,
    },
    /// The recipe's domains differ from the space's.
    #[error("{path}: domain `{domain}` {problem} space `{space}`")]
    SpaceMismatch {
        /// The recipe file.
        path: PathBuf,
        /// The domain.
        domain: String,
        /// How it differs.
        problem: &'static str,
        /// The space.
        space: String,
    },
}

/// Predicted outcome of one target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetPrediction {
    /// Ensemble mean, target units.
    pub mean: f64,
    /// Epistemic std, target units.
    pub epistemic_std: f64,
}

/// A named mixture, in the space's domain order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Always [`RECIPE_FORMAT`].
    pub format: String,
    /// Recipe name, e.g. `proposal-03` or `run-0007`.
    pub name: String,
    /// The space's name.
    pub space: String,
    /// `(domain, weight)` in domain order; serialised as an ordered JSON object.
    #[serde(serialize_with = "ordered_ser", deserialize_with = "ordered_de")]
    pub weights: Vec<(String, f64)>,
    /// Predictions per target, when the recipe came from a predictor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub predicted: BTreeMap<String, TargetPrediction>,
}

fn ordered_ser<S: Serializer>(w: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(w.len()))?;
    for (k, v) in w {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// Deserialises an ordered JSON object of domain -> weight (also for schedules).
pub(crate) fn ordered_de<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, f64)>, D::Error> {
    struct Ordered;
    impl<'de> Visitor<'de> for Ordered {
        type Value = Vec<(String, f64)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of domain -> weight")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, f64>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(Ordered)
}

impl Recipe {
    /// A recipe over `space` with `weights` (`[domains]`).
    pub fn new(name: &str, space: &Space, weights: &[f64]) -> Self {
        Recipe {
            format: RECIPE_FORMAT.into(),
            name: name.into(),
            space: space.name.clone(),
            weights: space
                .names()
                .into_iter()
                .zip(weights.iter().copied())
                .collect(),
            predicted: BTreeMap::new(),
        }
    }

    /// Reads and validates a recipe file (JSON as written by [`Recipe::to_json`]).
    pub fn from_file(path: &Path) -> Result<Self, RecipeError> {
        let text = crate::io::read_text(path)?;
        let recipe: Recipe = serde_json::from_str(&text).map_err(|e| RecipeError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if recipe.format != RECIPE_FORMAT {
            return Err(RecipeError::Parse {
                path: path.to_owned(),
                message: format!(
                    "field `format` is `{}`, not `{RECIPE_FORMAT}`",
                    recipe.format
                ),
            });
        }
        recipe.validate(path)?;
        Ok(recipe)
    }

    /// Checks that the weights are a mixture: finite, non-negative, summing to 1 (1e-6).
    pub fn validate(&self, path: &Path) -> Result<(), RecipeError> {
        let bad = |domain: &str, value, expected| RecipeError::NotAMixture {
            path: path.to_owned(),
            domain: domain.to_owned(),
            value,
            expected,
        };
        for (d, w) in &self.weights {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(bad(d, *w, "a weight must be finite and non-negative"));
            }
        }
        let sum: f64 = self.weights.iter().map(|w| w.1).sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(bad("*", sum, "weights must sum to 1"));
        }
        Ok(())
    }

    /// Checks the recipe's domains against `space` (same names, same order).
    pub fn check_space(&self, space: &Space, path: &Path) -> Result<(), RecipeError> {
        let names = space.names();
        let mismatch = |domain: &str, problem| RecipeError::SpaceMismatch {
            path: path.to_owned(),
            domain: domain.to_owned(),
            problem,
            space: space.name.clone(),
        };
        for (i, (d, _)) in self.weights.iter().enumerate() {
            match names.iter().position(|n| n == d) {
                None => return Err(mismatch(d, "is not in")),
                Some(j) if j != i => return Err(mismatch(d, "is out of the order of")),
                Some(_) => {}
            }
        }
        if let Some(missing) = names.get(self.weights.len()) {
            return Err(mismatch(missing, "is missing, but is in"));
        }
        Ok(())
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a recipe serialises");
        s.push('\n');
        s
    }
}
