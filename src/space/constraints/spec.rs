//! What a user writes in a constraints file; [`super::Constraints::new`] validates it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::ConstraintError;

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
    pub fn from_file(path: &Path) -> Result<Self, ConstraintError> {
        crate::io::read_toml(path, |message| ConstraintError::Parse {
            path: path.to_owned(),
            message,
        })
    }
}
