//! Weights & Biases runs: run directories or a run-table CSV export.
//!
//! - A **run directory** (`wandb/run-<date>_<time>-<id>/`, or its `files/`) holds
//!   `files/config.yaml` and `files/wandb-summary.json` (names from `wandb/sdk/lib/filenames.py`).
//!   `config.yaml` is YAML with an optional `wandb_version: 1` and one `{value: ..., desc: ...}`
//!   mapping per top-level key, read as `dict_from_config_file` in
//!   `wandb/sdk/lib/config_util.py` reads it (`value` taken, `_wandb` is wandb's own); nested
//!   values are flattened with `.` (`data.mix.web`), as the W&B UI and its CSV export name them.
//!   `wandb-summary.json` is a JSON object of the last logged value of each metric (`_step`,
//!   `_runtime`, `_timestamp` are wandb's); nested objects are flattened with `.` too. The run's
//!   key is its id (the directory name after its last `-`).
//! - A **CSV export** of the runs table (the UI's "Export as CSV") has `Name` and `State`
//!   columns, then one column per config key and summary metric.
//!
//! The mixture is the config keys matching a pattern with one `*` (the domain), e.g.
//! `data.mix.*`; logged weights are rescaled to sum to 1 (counted in the notes). A run is
//! skipped, with a count per reason, when it has no summary, lacks a target or logged a
//! non-finite one (crashed or unfinished), logged fewer than `min_step` steps, or, in a CSV
//! export, its `State` is not `finished`. Malformed files and weights are errors naming the
//! file and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::{ImportError, Imported, cell, number, read_yaml, runs_table_spec, wildcard};
use crate::runs::{Direction, Table, TargetSpec};
use crate::space::Space;

/// What to take from each run.
#[derive(Debug, Clone)]
pub struct WandbOptions {
    /// Config key pattern with one `*` standing for the domain, e.g. `data.mix.*`.
    pub mixture: String,
    /// Summary metrics to predict, with their direction.
    pub targets: Vec<(String, Direction)>,
    /// Key column of a CSV export (`Name` by default in the CLI).
    pub key: String,
    /// Skip runs whose summary `_step` is below this (unfinished trainings).
    pub min_step: Option<f64>,
}

/// One run: key, weights by domain (as logged), target values by name.
struct Run {
    key: String,
    weights: BTreeMap<String, f64>,
    targets: Vec<f64>,
}

/// Runs skipped, by reason, with up to a few keys each.
#[derive(Default)]
struct Skipped(BTreeMap<String, Vec<String>>);

impl Skipped {
    fn add(&mut self, reason: String, key: &str) {
        self.0.entry(reason).or_default().push(key.to_owned());
    }

    fn notes(&self) -> Vec<String> {
        (self.0.iter())
            .map(|(reason, keys)| {
                let shown: Vec<&str> = keys.iter().take(5).map(String::as_str).collect();
                let more = if keys.len() > 5 { ", ..." } else { "" };
                format!(
                    "skipped {} run(s) {reason}: {}{more}",
                    keys.len(),
                    shown.join(", ")
                )
            })
            .collect()
    }
}

/// Flattens nested mappings into `prefix.key` entries.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = cell(k).unwrap_or_default();
                let name = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// Imports run directories.
pub fn import_runs(dirs: &[PathBuf], options: &WandbOptions) -> crate::Result<Imported> {
    let mut runs = Vec::new();
    let mut skipped = Skipped::default();
    for dir in dirs {
        let files = if dir.join("files").is_dir() {
            dir.join("files")
        } else {
            dir.clone()
        };
        let config_path = files.join("config.yaml");
        if !config_path.is_file() {
            return Err(ImportError::Parse {
                path: dir.clone(),
                message: "not a W&B run directory: no files/config.yaml".into(),
            }
            .into());
        }
        // The run directory, also when its `files/` was given.
        let run_dir = files.parent().unwrap_or(&files);
        let name =
            (run_dir.file_name()).map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let key = name.rsplit('-').next().unwrap_or(&name).to_owned();
        let config = read_config(&config_path)?;
        let weights = mixture(&config, &options.mixture, &config_path)?;
        let summary_path = files.join("wandb-summary.json");
        if !summary_path.is_file() {
            skipped.add("without wandb-summary.json (never logged)".into(), &key);
            continue;
        }
        let text = non_finite_as_null(&crate::io::read_text(&summary_path)?);
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ImportError::Parse {
                path: summary_path.clone(),
                message: e.to_string(),
            })?;
        let yaml: Value = serde_yaml::to_value(&json).expect("JSON is YAML");
        let mut summary = BTreeMap::new();
        flatten("", &yaml, &mut summary);
        if let Some(min) = options.min_step {
            let step = summary.get("_step").and_then(number).unwrap_or(0.0);
            if step < min {
                skipped.add(format!("stopped before step {min} (unfinished)"), &key);
                continue;
            }
        }
        match targets(&summary, &options.targets) {
            Ok(values) => runs.push(Run {
                key,
                weights,
                targets: values,
            }),
            Err(reason) => skipped.add(reason, &key),
        }
    }
    finish(runs, skipped, options, "W&B run directories")
}

/// Imports a W&B runs-table CSV export.
pub fn import_csv(path: &Path, options: &WandbOptions) -> crate::Result<Imported> {
    let table = Table::read(path)?;
    let key_col = table.column(&options.key)?;
    let state_col = table.column("State").ok();
    let domains: Vec<(usize, String)> = (table.header.iter().enumerate())
        .filter_map(|(i, h)| wildcard(&options.mixture, h).map(|d| (i, d.to_owned())))
        .collect();
    if domains.is_empty() {
        return Err(ImportError::Field {
            path: path.to_owned(),
            field: options.mixture.clone(),
            problem: "no column matches the mixture pattern".into(),
        }
        .into());
    }
    let target_cols: Vec<usize> = (options.targets.iter())
        .map(|(t, _)| table.column(t))
        .collect::<Result<_, _>>()?;
    let mut runs = Vec::new();
    let mut skipped = Skipped::default();
    for (row, (_, cells)) in table.rows.iter().enumerate() {
        let key = cells[key_col].clone();
        if let Some(state) = state_col
            .map(|c| cells[c].as_str())
            .filter(|s| *s != "finished")
        {
            skipped.add(format!("in state `{state}`"), &key);
            continue;
        }
        let mut weights = BTreeMap::new();
        for (col, domain) in &domains {
            // An empty cell: the run's config did not set that domain.
            let w = if cells[*col].trim().is_empty() {
                0.0
            } else {
                table.number(row, *col)?
            };
            if w < 0.0 {
                return Err(ImportError::Field {
                    path: path.to_owned(),
                    field: table.header[*col].clone(),
                    problem: format!(
                        "run `{key}` (line {}) has weight {w}: a mixture weight is >= 0",
                        table.rows[row].0
                    ),
                }
                .into());
            }
            weights.insert(domain.clone(), w);
        }
        let values: Vec<Option<f64>> = (target_cols.iter())
            .map(|&c| {
                cells[c]
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
            })
            .collect();
        match values.iter().position(Option::is_none) {
            Some(i) => skipped.add(format!("without a finite `{}`", options.targets[i].0), &key),
            None => runs.push(Run {
                key,
                weights,
                targets: values.into_iter().flatten().collect(),
            }),
        }
    }
    finish(runs, skipped, options, &path.display().to_string())
}

/// `text` with the bare `NaN`, `Infinity` and `-Infinity` that Python's `json` (and so wandb)
/// writes for non-finite floats replaced by `null` outside strings: standard JSON, in which a
/// diverged run's target reads as missing (the run is then skipped and counted).
fn non_finite_as_null(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            (in_string, escaped) = (escaped || c != '"', !escaped && c == '\\');
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["NaN", "Infinity", "-Infinity"]
            .into_iter()
            .find(|t| rest.starts_with(t))
        {
            out.push_str("null");
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A run config as `dict_from_config_file` reads it, flattened.
fn read_config(path: &Path) -> crate::Result<BTreeMap<String, Value>> {
    let doc = read_yaml(path)?;
    let Value::Mapping(m) = doc else {
        return Err(ImportError::Parse {
            path: path.to_owned(),
            message: "expected a mapping of config keys".into(),
        }
        .into());
    };
    let mut out = BTreeMap::new();
    for (k, v) in &m {
        let key = cell(k).unwrap_or_default();
        if key == "wandb_version" || key == "_wandb" {
            continue;
        }
        let value =
            v.as_mapping()
                .and_then(|m| m.get("value"))
                .ok_or_else(|| ImportError::Field {
                    path: path.to_owned(),
                    field: key.clone(),
                    problem: "no `value` (W&B writes each key as {value: ..., desc: ...})".into(),
                })?;
        flatten(&key, value, &mut out);
    }
    Ok(out)
}

/// The weights of the config keys matching `pattern`, by domain.
fn mixture(
    config: &BTreeMap<String, Value>,
    pattern: &str,
    path: &Path,
) -> crate::Result<BTreeMap<String, f64>> {
    let mut weights = BTreeMap::new();
    for (k, v) in config {
        if let Some(domain) = wildcard(pattern, k) {
            let w = number(v)
                .filter(|w| w.is_finite() && *w >= 0.0)
                .ok_or_else(|| ImportError::Field {
                    path: path.to_owned(),
                    field: k.clone(),
                    problem: format!("{v:?} is not a mixture weight (a finite number >= 0)"),
                })?;
            weights.insert(domain.to_owned(), w);
        }
    }
    if weights.is_empty() {
        return Err(ImportError::Field {
            path: path.to_owned(),
            field: pattern.to_owned(),
            problem: format!(
                "no config key matches the mixture pattern (keys: {})",
                config
                    .keys()
                    .take(12)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
        .into());
    }
    Ok(weights)
}

/// The targets' values in a flattened summary, or why the run is skipped.
fn targets(
    summary: &BTreeMap<String, Value>,
    wanted: &[(String, Direction)],
) -> Result<Vec<f64>, String> {
    wanted
        .iter()
        .map(|(t, _)| {
            summary
                .get(t)
                .and_then(number)
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    format!("without a finite `{t}` in the summary (crashed or unfinished)")
                })
        })
        .collect()
}

/// Writes the runs table, space and data spec.
fn finish(
    runs: Vec<Run>,
    skipped: Skipped,
    options: &WandbOptions,
    source: &str,
) -> crate::Result<Imported> {
    let mut notes = skipped.notes();
    if runs.is_empty() {
        return Err(ImportError::NoRuns(format!(
            "{source}: {}",
            if notes.is_empty() {
                "no runs given".into()
            } else {
                notes.join("; ")
            }
        ))
        .into());
    }
    let mut seen = std::collections::HashSet::new();
    for r in &runs {
        if !seen.insert(&r.key) {
            return Err(ImportError::NoRuns(format!(
                "{source}: run key `{}` appears twice",
                r.key
            ))
            .into());
        }
    }
    let domains: Vec<String> = {
        let mut all: Vec<String> = runs
            .iter()
            .flat_map(|r| r.weights.keys().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    };
    let mut rescaled = 0;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = std::iter::once("run")
        .chain(domains.iter().map(String::as_str))
        .chain(options.targets.iter().map(|t| t.0.as_str()))
        .collect();
    csv.write_record(&header).expect("writes to memory");
    for r in &runs {
        let sum: f64 = r.weights.values().sum();
        if sum.is_nan() || sum <= 0.0 {
            return Err(ImportError::NoRuns(format!(
                "{source}: run `{}` has weights summing to 0",
                r.key
            ))
            .into());
        }
        if (sum - 1.0).abs() > 1e-6 {
            rescaled += 1;
        }
        let mut row = vec![r.key.clone()];
        row.extend(
            domains
                .iter()
                .map(|d| format!("{:?}", r.weights.get(d).copied().unwrap_or(0.0) / sum)),
        );
        row.extend(r.targets.iter().map(|t| format!("{t:?}")));
        csv.write_record(&row).expect("writes to memory");
    }
    if rescaled > 0 {
        notes.push(format!(
            "rescaled the weights of {rescaled} run(s) to sum to 1"
        ));
    }
    let space = Space::from_names("wandb", &domains)?;
    let targets = (options.targets.iter())
        .map(|(t, d)| TargetSpec::new(t.clone(), *d))
        .collect();
    let spec = runs_table_spec(Vec::new(), targets);
    let mut out = Imported {
        files: Vec::new(),
        notes,
    };
    out.files.push((
        "runs.csv".into(),
        csv.into_inner().expect("writes to memory"),
    ));
    out.add(
        "space.toml",
        format!(
            "# Imported from {source}\n{}",
            toml::to_string(&space).expect("a space serialises")
        ),
    );
    out.add(
        "data.toml",
        format!(
            "# Imported from {source}\n{}",
            toml::to_string(&spec).expect("a data spec serialises")
        ),
    );
    out.notes.insert(
        0,
        format!("{} runs over {} domains", runs.len(), domains.len()),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_read_as_null_outside_strings() {
        let text = r#"{"loss": NaN, "acc": -Infinity, "b": Infinity, "name": "NaN \" Infinity"}"#;
        let json: serde_json::Value = serde_json::from_str(&non_finite_as_null(text)).unwrap();
        assert!(json["loss"].is_null() && json["acc"].is_null() && json["b"].is_null());
        assert_eq!(json["name"], "NaN \" Infinity");
    }
}
