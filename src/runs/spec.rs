//! What to read from logged-run files: a data spec (TOML) naming files, key, columns and
//! targets.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Result;
use crate::runs::RunsError;
use crate::space::Space;

/// Whether lower or higher values of a target are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Losses, bits-per-byte, perplexity.
    Lower,
    /// Accuracy, pass rates, win rates.
    Higher,
}

impl Direction {
    /// `lower` or `higher`, as data specs and `--target NAME=...` spell it.
    pub fn word(self) -> &'static str {
        match self {
            Direction::Lower => "lower",
            Direction::Higher => "higher",
        }
    }
}

/// One predicted outcome: a column of the outcome file, or the mean of several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Name in predictions and checkpoints; also the column read when neither `column` nor
    /// `mean_of` is given.
    pub name: String,
    /// The outcome column, if it differs from `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Average these outcome columns instead; `["*"]` means every outcome column that is not
    /// the key, a mixture or context column, or listed in `ignore`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mean_of: Vec<String>,
    /// With `mean_of`: one weight per column, and the target is `sum_i weights[i] *
    /// column_i` (weights summing to 1 give a weighted mean, e.g. MMLU's subjects by size).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<f64>,
    /// Which way is better.
    pub direction: Direction,
}

impl TargetSpec {
    /// A target read from (or held in memory as) the column `name`.
    pub fn new(name: impl Into<String>, direction: Direction) -> Self {
        TargetSpec {
            name: name.into(),
            column: None,
            mean_of: Vec::new(),
            weights: Vec::new(),
            direction,
        }
    }
}

/// A data spec: which files hold the logged runs and which columns mean what. Relative paths
/// are resolved against the directory of the spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// A mixture-space TOML whose domains give the mixture columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<PathBuf>,
    /// CSV or JSONL holding the mixtures (and the outcomes, when `outcomes` is absent).
    pub mixtures: PathBuf,
    /// CSV or JSONL holding the outcomes, joined to `mixtures` on `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<PathBuf>,
    /// Column identifying a run; required to join two files, optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Mixture columns by name, in domain order (instead of `space`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mixture_columns: Vec<String>,
    /// Mixture columns are all columns starting with this prefix, in file order (instead of
    /// `space`); the domain name is the column without the prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixture_prefix: Option<String>,
    /// Extra numeric predictor inputs, e.g. model size, tokens trained, stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    /// The outcomes to predict; may be empty when a checkpoint supplies them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetSpec>,
    /// Columns that are neither mixture, context nor outcome (row numbers, run names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Rescale rows that miss a sum of 1 by more than `tolerance` instead of refusing them.
    #[serde(default)]
    pub renormalize: bool,
    /// Largest accepted `|sum(w) - 1|` of a mixture row.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
}

fn default_tolerance() -> f64 {
    0.01
}

impl DataSpec {
    /// The files this spec reads: mixtures, outcomes and space.
    pub fn files(&self) -> Vec<&Path> {
        std::iter::once(self.mixtures.as_path())
            .chain(self.outcomes.as_deref())
            .chain(self.space.as_deref())
            .collect()
    }

    /// Reads a spec and resolves its relative paths against the spec's directory.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut spec: DataSpec = crate::io::read_toml(path, |message| RunsError::Spec {
            path: path.into(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut spec.mixtures);
        spec.outcomes.as_mut().map(resolve);
        spec.space.as_mut().map(resolve);
        let sources = usize::from(spec.space.is_some())
            + usize::from(!spec.mixture_columns.is_empty())
            + usize::from(spec.mixture_prefix.is_some());
        let problem = if sources != 1 {
            Some("give exactly one of `space`, `mixture_columns`, `mixture_prefix`")
        } else if spec.outcomes.is_some() && spec.key.is_none() {
            Some("`key` is required to join `mixtures` and `outcomes`")
        } else if !(spec.tolerance >= 0.0 && spec.tolerance.is_finite()) {
            Some("`tolerance` must be a finite, non-negative number")
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(RunsError::Spec {
                path: path.into(),
                message: message.into(),
            });
        }
        Ok(spec)
    }

    /// A spec for a single mixture file whose columns are the given ones (used to score
    /// candidates against a checkpoint).
    pub fn for_mixture_file(path: &Path, columns: Vec<String>, key: Option<String>) -> Self {
        DataSpec {
            space: None,
            mixtures: path.into(),
            outcomes: None,
            key,
            mixture_columns: columns,
            mixture_prefix: None,
            context: Vec::new(),
            targets: Vec::new(),
            ignore: Vec::new(),
            renormalize: false,
            tolerance: default_tolerance(),
        }
    }

    /// The mixture space this spec describes: the `space` file, or one built from the
    /// mixture columns of `header` (the mixture file's columns).
    pub(crate) fn resolve_space(&self, header: &[String]) -> Result<(Space, Vec<String>)> {
        if let Some(path) = &self.space {
            let space = Space::from_file(path)?;
            let columns = space.columns();
            return Ok((space, columns));
        }
        let (names, columns): (Vec<String>, Vec<String>) = match &self.mixture_prefix {
            Some(prefix) => header
                .iter()
                .filter_map(|h| {
                    h.strip_prefix(prefix.as_str())
                        .map(|n| (n.into(), h.clone()))
                })
                .unzip(),
            None => (self.mixture_columns.clone(), self.mixture_columns.clone()),
        };
        if names.is_empty() {
            return Err(RunsError::NoMixtureColumns {
                path: self.mixtures.clone(),
            });
        }
        let stem = self
            .mixtures
            .file_stem()
            .map_or("space".into(), |s| s.to_string_lossy().into_owned());
        let mut space = Space::from_names(&stem, &names)?;
        space.column_prefix = self.mixture_prefix.clone().unwrap_or_default();
        Ok((space, columns))
    }
}
