//! Recipes in the formats training stacks consume.
//!
//! A [`Recipe`] is a named mixture over a space's domains, in domain order, with optional
//! predictions. It is written as JSON (the exchange format mixatlas reads back) or YAML, and
//! converted to:
//! - the `probabilities` list of Hugging Face `datasets.interleave_datasets`, in domain order
//!   (pass the datasets in the same order). `interleave_datasets` draws *examples* with these
//!   probabilities, while a recipe's weights are shares of *tokens*: with mean tokens per
//!   example `t_i`, per-example probabilities `p_i ∝ w_i / t_i` realise the token shares `w_i`
//!   (`p_i t_i / Σ p_j t_j = w_i`). The table of `t_i` is required; equal example lengths are
//!   assumed only when asked (`--assume-equal-examples`). (`datasets/combine.py`,
//!   huggingface/datasets 2.14: "the new dataset is constructed by sampling examples from one
//!   source at a time according to these probabilities".)
//! - a Megatron-LM `--data-path` blend, `w1 path1 w2 path2 ...`, from a domain -> path map
//!   (Megatron splits the blend on whitespace, so a prefix containing any is refused);
//! - per-domain token counts for a token budget (largest-remainder rounding, so they sum to
//!   the budget exactly), with the epochs over each domain's available tokens when known;
//! - the configs of olmo-core, Olmix, Levanter (with staged schedules), MosaicML streaming
//!   and DoReMi (`stacks`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::space::Space;
pub use crate::space::recipe::{RECIPE_FORMAT, Recipe, RecipeError, TargetPrediction};

mod proposals;
mod stacks;
mod swarm;

pub use proposals::{Keys, most_uncertain, proposal_files, proposal_name, top_domains};
pub use stacks::{DomainPaths, PathMap, levanter, read_path_map};
pub use swarm::swarm_files;

/// Why a recipe could not be read or exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
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
    /// The recipe is malformed (see [`RecipeError`]).
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// A domain with positive weight has no mean example length in the table.
    #[error(
        "{file}: no tokens per example for domain `{domain}` (weight {weight}): \
         interleave_datasets samples examples, so the token shares need every domain's mean \
         example length"
    )]
    MissingExampleLength {
        /// The tokens-per-example file.
        file: PathBuf,
        /// The domain.
        domain: String,
        /// Its weight.
        weight: f64,
    },
    /// An entry of a table is unusable.
    #[error("{file}: domain `{domain}`: {problem}")]
    BadEntry {
        /// The table file.
        file: PathBuf,
        /// The domain.
        domain: String,
        /// What is wrong.
        problem: String,
    },
    /// The HF export was asked for without example lengths.
    #[error(
        "--format hf needs --tokens-per-example FILE (TOML: domain = mean tokens per example): \
         interleave_datasets samples examples, not tokens, so the recipe's token shares are \
         realised only with every domain's example length; --assume-equal-examples writes the \
         token shares unchanged"
    )]
    NoExampleLengths,
    /// The epochs a weighted domain takes are unknown, so no repetition cap can be written.
    #[error(
        "domain `{domain}` (weight {weight}): olmo-core's max_repetition_ratio and Olmix's \
         repetition_factor must cover the epochs the run takes of it, which needs {}",
        if *has_budget { "its token count: give it `tokens` in the --space file" }
        else { "the run's token budget and the domains' token counts: pass --tokens and --space" }
    )]
    UnknownEpochs {
        /// The domain.
        domain: String,
        /// Its weight.
        weight: f64,
        /// Whether `--tokens` was given (then the space lacks the domain's count).
        has_budget: bool,
    },
    /// A domain with positive weight has no path in the Megatron path map.
    #[error("{file}: no path for domain `{domain}` (weight {weight})")]
    MissingPath {
        /// The path-map file.
        file: PathBuf,
        /// The domain.
        domain: String,
        /// Its weight.
        weight: f64,
    },
}

// The recipe type lives with the space it is a mixture over; the formats are written here.
impl Recipe {
    /// YAML: the same fields as the JSON, keys double-quoted.
    pub fn to_yaml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "format: {}", quote(&self.format));
        let _ = writeln!(s, "name: {}", quote(&self.name));
        let _ = writeln!(s, "space: {}", quote(&self.space));
        s.push_str("weights:\n");
        for (d, w) in &self.weights {
            let _ = writeln!(s, "  {}: {w:?}", quote(d));
        }
        if !self.predicted.is_empty() {
            s.push_str("predicted:\n");
            for (t, p) in &self.predicted {
                let _ = writeln!(s, "  {}:", quote(t));
                let _ = writeln!(s, "    mean: {:?}", p.mean);
                let _ = writeln!(s, "    epistemic_std: {:?}", p.epistemic_std);
            }
        }
        s
    }

    /// The probabilities for `datasets.interleave_datasets(datasets, probabilities=...)`, in
    /// domain order, as a JSON list ([`Recipe::example_probabilities`]).
    pub fn hf_probabilities(
        &self,
        tokens_per_example: Option<(&BTreeMap<String, f64>, &Path)>,
    ) -> Result<String, ExportError> {
        let p = self.example_probabilities(tokens_per_example)?;
        let mut s = serde_json::to_string(&p).expect("floats serialise");
        s.push('\n');
        Ok(s)
    }

    /// Per-example sampling probabilities `[domains]` summing to 1 in f64 that realise the
    /// recipe's token shares given each domain's mean tokens per example
    /// (`tokens_per_example`, read from `file`), or the token shares unchanged when it is
    /// `None` (every domain's examples equally long). Streams that sample examples (Hugging
    /// Face, MosaicML) take these.
    pub fn example_probabilities(
        &self,
        tokens_per_example: Option<(&BTreeMap<String, f64>, &Path)>,
    ) -> Result<Vec<f64>, ExportError> {
        let mut p: Vec<f64> = Vec::with_capacity(self.weights.len());
        for (d, w) in &self.weights {
            let Some((table, file)) = tokens_per_example else {
                p.push(*w);
                continue;
            };
            if *w == 0.0 {
                p.push(0.0);
                continue;
            }
            let t = *table
                .get(d)
                .ok_or_else(|| ExportError::MissingExampleLength {
                    file: file.to_owned(),
                    domain: d.clone(),
                    weight: *w,
                })?;
            if !(t.is_finite() && t > 0.0) {
                return Err(ExportError::BadEntry {
                    file: file.to_owned(),
                    domain: d.clone(),
                    problem: format!(
                        "tokens per example = {t}: a stream of examples needs a positive, finite \
                         mean length"
                    ),
                });
            }
            p.push(w / t);
        }
        let sum: f64 = p.iter().sum();
        p.iter_mut().for_each(|x| *x /= sum);
        // Put the rounding remainder on the largest weight so numpy's sum check passes.
        let top = (0..p.len())
            .max_by(|&a, &b| p[a].total_cmp(&p[b]))
            .expect("a recipe has a domain");
        p[top] += 1.0 - p.iter().sum::<f64>();
        Ok(p)
    }

    /// A Megatron-LM `--data-path` blend `w1 path1 w2 path2 ...` over the domains with
    /// positive weight; `paths` maps domain -> one data prefix (read from `file`).
    pub fn megatron_blend(&self, paths: &PathMap, file: &Path) -> Result<String, ExportError> {
        let mut parts = Vec::new();
        for (d, w) in self.weights.iter().filter(|w| w.1 > 0.0) {
            let path = match paths.get(d) {
                Some(DomainPaths::One(p)) => p,
                Some(DomainPaths::Many(list)) => {
                    return Err(ExportError::BadEntry {
                        file: file.to_owned(),
                        domain: d.clone(),
                        problem: format!(
                            "{} paths: a Megatron-LM blend takes one data prefix per domain",
                            list.len()
                        ),
                    });
                }
                None => {
                    return Err(ExportError::MissingPath {
                        file: file.to_owned(),
                        domain: d.clone(),
                        weight: *w,
                    });
                }
            };
            if path.is_empty() || path.contains(char::is_whitespace) {
                return Err(ExportError::BadEntry {
                    file: file.to_owned(),
                    domain: d.clone(),
                    problem: format!(
                        "data prefix {path:?}: Megatron-LM splits --data-path on whitespace, so \
                         a prefix must be non-empty and without spaces (link it elsewhere)"
                    ),
                });
            }
            parts.push(format!("{w:?} {path}"));
        }
        Ok(parts.join(" ") + "\n")
    }

    /// Tokens per domain for a run of `budget` tokens: `[domains]`, summing to `budget`
    /// (largest-remainder rounding of `w_i * budget`).
    pub fn token_counts(&self, budget: u64) -> Vec<u64> {
        let exact: Vec<f64> = self.weights.iter().map(|w| w.1 * budget as f64).collect();
        let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
        let assigned: u64 = counts.iter().sum();
        let mut order: Vec<usize> = (0..exact.len()).collect();
        order.sort_by(|&a, &b| {
            (exact[b] - exact[b].floor())
                .total_cmp(&(exact[a] - exact[a].floor()))
                .then(a.cmp(&b))
        });
        for &i in order.iter().take(budget.saturating_sub(assigned) as usize) {
            counts[i] += 1;
        }
        counts
    }

    /// Token counts as CSV: `domain,weight,tokens,available_tokens,epochs` (the last two
    /// empty when the space has no token count for a domain).
    pub fn token_csv(&self, budget: u64, space: Option<&Space>) -> String {
        let mut s = String::from("domain,weight,tokens,available_tokens,epochs\n");
        for ((d, w), n) in self.weights.iter().zip(self.token_counts(budget)) {
            let available = space
                .and_then(|sp| sp.domains.iter().find(|x| &x.name == d))
                .and_then(|x| x.tokens);
            let (a, e) = match available {
                Some(a) if a > 0.0 => (format!("{a}"), format!("{:.4}", n as f64 / a)),
                _ => (String::new(), String::new()),
            };
            let _ = writeln!(s, "{},{w:?},{n},{a},{e}", csv_field(d));
        }
        s
    }
}

/// A YAML double-quoted scalar.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// A CSV field, quoted when needed.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Reads a campaign's committed schedule (`final.json`): one recipe per stage, named
/// `stage-<s>`, in stage order.
pub fn read_schedule(path: &Path) -> crate::Result<Vec<Recipe>> {
    #[derive(Deserialize)]
    struct Stage {
        #[serde(deserialize_with = "crate::space::recipe::ordered_de")]
        weights: Vec<(String, f64)>,
    }
    #[derive(Deserialize)]
    struct Schedule {
        stages: Vec<Stage>,
    }
    let text = crate::io::read_text(path)?;
    let parse = |message: String| ExportError::Parse {
        path: path.to_owned(),
        message,
    };
    let schedule: Schedule = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
    if schedule.stages.is_empty() {
        return Err(parse("field `stages` is empty".into()).into());
    }
    let mut recipes = Vec::new();
    for (s, stage) in schedule.stages.into_iter().enumerate() {
        let recipe = Recipe {
            format: RECIPE_FORMAT.into(),
            name: format!("stage-{s}"),
            space: String::new(),
            weights: stage.weights,
            predicted: BTreeMap::new(),
        };
        recipe.validate(path)?;
        recipes.push(recipe);
    }
    Ok(recipes)
}

/// Reads a tokens-per-example table: a TOML table `domain = mean tokens per example`.
pub fn read_example_lengths(path: &Path) -> crate::Result<BTreeMap<String, f64>> {
    Ok(read_table(path)?)
}

/// Reads a TOML table of an export's side file, naming the file in a parse error.
fn read_table<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ExportError> {
    crate::io::read_toml(path, |message| ExportError::Parse {
        path: path.to_owned(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        let names: Vec<String> = ["web", "code/python", "math"].map(String::from).to_vec();
        let space = Space::from_names("s", &names).unwrap();
        Recipe::new("r", &space, &[0.5, 0.3, 0.2])
    }

    #[test]
    fn token_counts_sum_to_budget() {
        let r = recipe();
        assert_eq!(r.token_counts(10), vec![5, 3, 2]);
        let c = r.token_counts(1_000_000_007);
        assert_eq!(c.iter().sum::<u64>(), 1_000_000_007);
        assert!(r.token_csv(100, None).contains("code/python,0.3,30,,"));
    }

    #[test]
    fn hf_probabilities_realise_the_token_shares_of_interleaved_examples() {
        let r = recipe();
        let file = Path::new("len.toml");
        let lengths: BTreeMap<String, f64> =
            [("web", 1000.0), ("code/python", 250.0), ("math", 400.0)]
                .map(|(a, b)| (a.into(), b))
                .into();
        let p: Vec<f64> =
            serde_json::from_str(&r.hf_probabilities(Some((&lengths, file))).unwrap()).unwrap();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // interleave_datasets draws example i with probability p_i: tokens arrive in
        // proportion to p_i t_i, which must be the recipe's shares.
        let t = [1000.0, 250.0, 400.0];
        let total: f64 = p.iter().zip(&t).map(|(p, t)| p * t).sum();
        for ((p, t), (_, w)) in p.iter().zip(&t).zip(&r.weights) {
            assert!((p * t / total - w).abs() < 1e-12, "{p} {t} {w}");
        }
        let same: Vec<f64> = serde_json::from_str(&r.hf_probabilities(None).unwrap()).unwrap();
        assert_eq!(same, vec![0.5, 0.3, 0.2]);
        let mut short = lengths.clone();
        short.remove("math");
        let e = r.hf_probabilities(Some((&short, file))).unwrap_err();
        assert!(
            e.to_string()
                .contains("no tokens per example for domain `math`"),
            "{e}"
        );
        short.insert("math".into(), 0.0);
        let e = r.hf_probabilities(Some((&short, file))).unwrap_err();
        assert!(
            e.to_string().contains("`math`: tokens per example = 0"),
            "{e}"
        );
    }

    #[test]
    fn megatron_needs_every_path() {
        let r = recipe();
        let one = |p: &str| DomainPaths::One(p.into());
        let mut paths: PathMap = [("web", one("/d/web")), ("code/python", one("/d/py"))]
            .map(|(a, b)| (a.into(), b))
            .into();
        let e = r.megatron_blend(&paths, Path::new("p.toml")).unwrap_err();
        assert!(e.to_string().contains("`math`"), "{e}");
        paths.insert("math".into(), one("/d/math"));
        assert_eq!(
            r.megatron_blend(&paths, Path::new("p.toml")).unwrap(),
            "0.5 /d/web 0.3 /d/py 0.2 /d/math\n"
        );
        paths.insert("math".into(), one("/d/my math"));
        let e = r.megatron_blend(&paths, Path::new("p.toml")).unwrap_err();
        assert!(
            e.to_string().contains("splits --data-path on whitespace"),
            "{e}"
        );
    }
}
