//! Recipes in the configuration formats of training stacks, each written as its reader parses
//! it (field names checked against the sources cited; `scripts/check-export.py` applies each
//! reader's own checks in the tests):
//!
//! - **olmo-core** (`olmo_core/data/source_mixture.py`, `SourceMixtureDatasetConfig`): a
//!   `source_list.sources` list of `SourceMixtureConfig {source_name, paths, target_ratio,
//!   max_repetition_ratio, max_source_fraction}`, as every olmo-core release with
//!   `source_list` names them (2.3.0 to 3.0.0); `target_ratio` is a share of tokens. olmo-core's
//!   `build` refuses a source whose tokens times `max_repetition_ratio` fall short of its share
//!   of the requested tokens, so the cap is the needed epochs plus [`REPETITION_HEADROOM`].
//! - **Olmix** (`olmix/aliases.py`, `LaunchConfig.mix`): the flat `mix` form, `domain:
//!   {weight, repetition_factor}`; `repetition_factor` becomes olmo-core's repetition cap.
//! - **Levanter** (`levanter/data/text.py`, `LMMixtureDatasetConfig`): `configs` (one
//!   `train_urls` list per source) and `train_weights`, a dict, or for a staged schedule a list
//!   of `[step, weights]` pairs starting at step 0. Levanter mixes fixed-length sequences, so
//!   weights are token shares.
//! - **MosaicML streaming** (`streaming/base/stream.py`, `Stream(remote, proportion)`):
//!   `streams: {name: {remote, proportion}}` as llm-foundry's `train_loader.dataset` takes it;
//!   `proportion` is a share of *samples*, so, as for Hugging Face, samples of unequal length
//!   need the tokens-per-example table.
//! - **DoReMi** (`configs/*.json` of sangmichaelxie/doremi): `{"train_domain_weights",
//!   "eval_domain_weights"}`, both set to the recipe.
//!
//! Only domains with positive weight are written (olmo-core refuses a source without paths
//! and Levanter skips zero-weight caches).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use super::{ExportError, Recipe, quote};
use crate::space::Space;

/// One data location or several (globs, shards) per domain, as a path-map file gives them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DomainPaths {
    /// A single prefix, URL or glob.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl DomainPaths {
    /// The paths as a list.
    pub fn list(&self) -> Vec<String> {
        match self {
            DomainPaths::One(p) => vec![p.clone()],
            DomainPaths::Many(v) => v.clone(),
        }
    }
}

/// The margin above the needed epochs in the repetition caps of olmo-core and Olmix exports
/// (0.05: a cap 5% above what the budget takes).
pub const REPETITION_HEADROOM: f64 = 0.05;

/// A path map: domain -> where its data lives (TOML `domain = "path"` or `["a", "b"]`).
pub type PathMap = BTreeMap<String, DomainPaths>;

impl Recipe {
    /// The domains with positive weight and their paths from `paths` (read from `file`),
    /// each non-empty.
    fn located(
        &self,
        paths: &PathMap,
        file: &Path,
    ) -> Result<Vec<(String, f64, Vec<String>)>, ExportError> {
        let mut out = Vec::new();
        for (d, w) in self.weights.iter().filter(|w| w.1 > 0.0) {
            let list = paths
                .get(d)
                .ok_or_else(|| ExportError::MissingPath {
                    file: file.to_owned(),
                    domain: d.clone(),
                    weight: *w,
                })?
                .list();
            if list.is_empty() || list.iter().any(|p| p.trim().is_empty()) {
                return Err(ExportError::BadEntry {
                    file: file.to_owned(),
                    domain: d.clone(),
                    problem: "an empty path: every source needs at least one location".into(),
                });
            }
            out.push((d.clone(), *w, list));
        }
        Ok(out)
    }

    /// Repetition caps `[domains]` for olmo-core's `max_repetition_ratio` and Olmix's
    /// `repetition_factor`: the epochs a run of `budget` tokens takes of each domain's available
    /// tokens (from `space`) times `1 + REPETITION_HEADROOM`, rounded up to 0.01 and at least 1.
    /// The headroom absorbs token counts typed a little above the real ones. A domain without
    /// weight gets 1. A weighted domain whose epochs are unknown (no `budget`, no `space`, or no
    /// `tokens` for it) is an error: a cap of 1 would fail olmo-core's build whenever it repeats.
    pub fn repetitions(
        &self,
        budget: Option<u64>,
        space: Option<&Space>,
    ) -> Result<Vec<f64>, ExportError> {
        (self.weights.iter())
            .map(|(d, w)| {
                if *w <= 0.0 {
                    return Ok(1.0);
                }
                let available = space
                    .and_then(|s| s.domains.iter().find(|x| &x.name == d))
                    .and_then(|x| x.tokens)
                    .filter(|&a| a > 0.0);
                match (budget, available) {
                    (Some(b), Some(a)) => {
                        let epochs = w * b as f64 / a * (1.0 + REPETITION_HEADROOM);
                        // Up to 0.01, ignoring the last bits of rounding noise.
                        Ok(((epochs * 100.0 - 1e-9).ceil() / 100.0).max(1.0))
                    }
                    _ => Err(ExportError::UnknownEpochs {
                        domain: d.clone(),
                        weight: *w,
                        has_budget: budget.is_some(),
                    }),
                }
            })
            .collect()
    }

    /// olmo-core's `SourceMixtureDatasetConfig.source_list` (YAML) with `repetitions`
    /// (`[domains]`, see [`Recipe::repetitions`]) as `max_repetition_ratio`.
    pub fn olmo_core(
        &self,
        paths: &PathMap,
        file: &Path,
        repetitions: &[f64],
    ) -> Result<String, ExportError> {
        let mut s = String::from(
            "# olmo_core.data.source_mixture.SourceMixtureDatasetConfig: source_list\n\
             source_list:\n  sources:\n",
        );
        for (d, w, list) in self.located(paths, file)? {
            let i = self.index(&d);
            let _ = writeln!(s, "    - source_name: {}", quote(&d));
            let _ = writeln!(s, "      target_ratio: {w:?}");
            let _ = writeln!(s, "      paths: {}", json_list(&list));
            let _ = writeln!(s, "      max_repetition_ratio: {:?}", repetitions[i]);
            let _ = writeln!(s, "      max_source_fraction: 1.0");
        }
        Ok(s)
    }

    /// Olmix's launch `mix` (flat form): every domain with its weight and `repetitions`.
    pub fn olmix_mix(&self, repetitions: &[f64]) -> String {
        let mut s = String::from("mix:\n");
        for ((d, w), r) in self.weights.iter().zip(repetitions) {
            let _ = writeln!(s, "  {}:", quote(d));
            let _ = writeln!(s, "    weight: {w:?}");
            let _ = writeln!(s, "    repetition_factor: {r:?}");
        }
        s
    }

    /// MosaicML streams: `remote` from `paths` and per-sample `proportion`s (the token
    /// shares turned into sample shares by `tokens_per_example`, as for Hugging Face).
    pub fn mosaic(
        &self,
        paths: &PathMap,
        file: &Path,
        tokens_per_example: Option<(&BTreeMap<String, f64>, &Path)>,
    ) -> Result<String, ExportError> {
        let p = self.example_probabilities(tokens_per_example)?;
        let mut s = String::from("streams:\n");
        for (d, _, list) in self.located(paths, file)? {
            let [remote] = list.as_slice() else {
                return Err(ExportError::BadEntry {
                    file: file.to_owned(),
                    domain: d,
                    problem: format!("{} paths: a MosaicML stream has one `remote`", list.len()),
                });
            };
            let _ = writeln!(s, "  {}:", quote(&d));
            let _ = writeln!(s, "    remote: {}", quote(remote));
            let _ = writeln!(s, "    proportion: {:?}", p[self.index(&d)]);
        }
        Ok(s)
    }

    /// DoReMi's domain-weights JSON: the recipe as both train and eval weights.
    pub fn doremi(&self) -> String {
        let weights: serde_json::Map<String, serde_json::Value> = self
            .weights
            .iter()
            .map(|(d, w)| (d.clone(), serde_json::json!(w)))
            .collect();
        let doc = serde_json::json!({
            "train_domain_weights": weights,
            "eval_domain_weights": weights,
        });
        serde_json::to_string_pretty(&doc).expect("json") + "\n"
    }

    fn index(&self, domain: &str) -> usize {
        self.weights
            .iter()
            .position(|w| w.0 == domain)
            .expect("a domain of the recipe")
    }
}

/// Levanter's mixture config: `configs` with each source's `train_urls`, and `train_weights`:
/// a dict for one stage, `[[step, weights], ...]` for a schedule (`stages` as `(first step,
/// recipe)`, the first at step 0, steps increasing).
pub fn levanter(
    stages: &[(u64, Recipe)],
    paths: &PathMap,
    file: &Path,
) -> Result<String, ExportError> {
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, recipe) in stages {
        for (d, _, list) in recipe.located(paths, file)? {
            sources.insert(d, list);
        }
    }
    let mut s = String::from("configs:\n");
    for (d, list) in &sources {
        let _ = writeln!(s, "  {}:", quote(d));
        let _ = writeln!(s, "    train_urls: {}", json_list(list));
    }
    let weights = |r: &Recipe| {
        let entries: Vec<String> = (r.weights.iter())
            .filter(|w| w.1 > 0.0)
            .map(|(d, w)| format!("{}: {w:?}", quote(d)))
            .collect();
        format!("{{{}}}", entries.join(", "))
    };
    match stages {
        [(0, only)] => {
            let _ = writeln!(s, "train_weights: {}", weights(only));
        }
        _ => {
            s.push_str("train_weights:\n");
            for (step, r) in stages {
                let _ = writeln!(s, "  - [{step}, {}]", weights(r));
            }
        }
    }
    Ok(s)
}

/// A JSON (flow YAML) list of strings.
fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialise")
}

/// Reads a path map (TOML: `domain = "path"` or `domain = ["path", ...]`).
pub fn read_path_map(path: &Path) -> crate::Result<PathMap> {
    Ok(super::read_table(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        let names: Vec<String> = ["web", "code/python", "math"].map(String::from).to_vec();
        let space = Space::from_names("s", &names).unwrap();
        Recipe::new("r", &space, &[0.5, 0.5, 0.0])
    }

    fn paths() -> PathMap {
        [
            ("web", DomainPaths::One("s3://b/web/*.npy".into())),
            (
                "code/python",
                DomainPaths::Many(vec!["s3://b/py/a.npy".into(), "s3://b/py/b.npy".into()]),
            ),
        ]
        .map(|(a, b)| (a.to_owned(), b))
        .into()
    }

    #[test]
    fn zero_weight_domains_need_no_path_and_are_left_out() {
        let r = recipe();
        let y = r
            .olmo_core(&paths(), Path::new("p.toml"), &[1.0, 1.0, 1.0])
            .unwrap();
        assert!(!y.contains("math"), "{y}");
        assert!(
            y.contains("paths: [\"s3://b/py/a.npy\",\"s3://b/py/b.npy\"]"),
            "{y}"
        );
        let e = r
            .mosaic(&paths(), Path::new("p.toml"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`code/python`: 2 paths"), "{e}");
    }

    #[test]
    fn repetitions_are_the_epochs_a_budget_takes() {
        let names: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let mut space = Space::from_names("s", &names).unwrap();
        space.domains[0].tokens = Some(100.0);
        let r = Recipe::new("r", &space, &[0.9, 0.1]);
        space.domains[1].tokens = Some(1e6);
        // 0.9 * 1000 / 100 = 9 epochs of `a`, 9.45 with headroom; `b` takes 1e-4 epochs: 1.
        let caps = r.repetitions(Some(1000), Some(&space)).unwrap();
        assert_eq!(caps, vec![9.45, 1.0]);
        space.domains[1].tokens = None;
        let e = r
            .repetitions(Some(1000), Some(&space))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`b`") && e.contains("its token count"), "{e}");
        let e = r.repetitions(None, Some(&space)).unwrap_err().to_string();
        assert!(e.contains("--tokens"), "{e}");
        // A domain without weight never repeats.
        let r = Recipe::new("r", &space, &[1.0, 0.0]);
        assert_eq!(
            r.repetitions(Some(1000), Some(&space)).unwrap(),
            vec![10.5, 1.0]
        );
    }
}
