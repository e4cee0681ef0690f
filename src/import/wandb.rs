//! Weights & Biases runs: run directories or a run-table CSV export.
//!
//! - A **run directory** (`wandb/run-<date>_<time>-<id>/` or `wandb/offline-run-...`, or its
//!   `files/`) holds the transaction log `run-<id>.wandb`, read by the `wandb_log` module: the
//!   run's id, config, summary and exit code. A run without an exit record was killed or is
//!   still running; one with a non-zero code failed; both are skipped. Without a log (older
//!   online runs), `files/config.yaml` and `files/wandb-summary.json` are read instead (names
//!   from `wandb/sdk/lib/filenames.py`): `config.yaml` is YAML with one `{value: ..., desc:
//!   ...}` mapping per top-level key, read as `dict_from_config_file` in
//!   `wandb/sdk/lib/config_util.py` reads it. Either way nested values are flattened with `.`
//!   (`data.mix.web`), as the W&B UI and its CSV export name them, and `_wandb` (wandb's own)
//!   is left out. `wandb/latest-run` (a link to a run) and files beside the runs are passed
//!   over, so `wandb/*` names the runs.
//! - A **CSV export** of the runs table (the UI's "Export as CSV") has `Name` and `State`
//!   columns, then one column per config key and summary metric. Display names repeat in W&B
//!   and the export has no run id unless its `ID` column is shown, so repeated names are kept
//!   as `NAME#2`, ... with a note; `--min-step` reads the `_step` column, refused when absent.
//!
//! The mixture is the config keys matching a pattern with one `*` (the domain), e.g.
//! `data.mix.*`; logged weights are rescaled to sum to 1 (counted in the notes). A run is
//! skipped, with a count per reason, when it failed or has no exit record, has no summary,
//! lacks a target or logged a non-finite one, logged fewer than `min_step` steps, or, in a CSV
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
pub(super) fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
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

/// One run directory's config and summary, from its transaction log (`run-<id>.wandb`) or,
/// without one, from `files/config.yaml` and `files/wandb-summary.json`; `Err` with the reason
/// to skip it.
struct RunFiles {
    key: String,
    config: BTreeMap<String, Value>,
    /// The file the config came from (for errors).
    config_path: PathBuf,
    summary: BTreeMap<String, Value>,
}

fn read_run(dir: &Path) -> crate::Result<Result<RunFiles, (String, String)>> {
    // The run directory, also when its `files/` was given.
    let run_dir = if dir.file_name().is_some_and(|n| n == "files") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let name = (run_dir.file_name()).map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let dir_key = name.rsplit('-').next().unwrap_or(&name).to_owned();
    let log = (std::fs::read_dir(run_dir).into_iter().flatten().flatten())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wandb") && p.is_file());
    if let Some(log_path) = log {
        let log = super::wandb_log::read(&log_path)?;
        let key = if log.id.is_empty() { dir_key } else { log.id };
        return Ok(match log.exit_code {
            None => Err((
                "without an exit record (killed, or still running)".into(),
                key,
            )),
            Some(code) if code != 0 => Err((format!("that exited with code {code}"), key)),
            Some(_) => Ok(RunFiles {
                key,
                config: log.config,
                config_path: log_path,
                summary: log.summary,
            }),
        });
    }
    let files = run_dir.join("files");
    let config_path = files.join("config.yaml");
    if !config_path.is_file() {
        let reason = "that are not W&B run directories (no run-*.wandb, no files/config.yaml)";
        return Ok(Err((reason.into(), name)));
    }
    let config = read_config(&config_path)?;
    let summary_path = files.join("wandb-summary.json");
    if !summary_path.is_file() {
        return Ok(Err((
            "without wandb-summary.json (never logged)".into(),
            dir_key,
        )));
    }
    let text = non_finite_as_null(&crate::io::read_text(&summary_path)?);
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| ImportError::Parse {
        path: summary_path.clone(),
        message: e.to_string(),
    })?;
    let yaml: Value = serde_yaml::to_value(&json).expect("JSON is YAML");
    let mut summary = BTreeMap::new();
    flatten("", &yaml, &mut summary);
    Ok(Ok(RunFiles {
        key: dir_key,
        config,
        config_path,
        summary,
    }))
}

/// Imports run directories (`wandb/run-*`, `wandb/offline-run-*`; `latest-run` and files
/// beside them are passed over).
pub fn import_runs(dirs: &[PathBuf], options: &WandbOptions) -> crate::Result<Imported> {
    let mut runs = Vec::new();
    let mut skipped = Skipped::default();
    let mut seen = Vec::new();
    for dir in dirs {
        // `wandb/latest-run` links to a run already listed; debug logs are files.
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        if !real.is_dir() || seen.contains(&real) {
            continue;
        }
        let run = read_run(&real)?;
        seen.push(real);
        let run = match run {
            Ok(run) => run,
            Err((reason, key)) => {
                skipped.add(reason, &key);
                continue;
            }
        };
        let weights = mixture(&run.config, &options.mixture, &run.config_path)?;
        if let Some(min) = options.min_step {
            let step = run.summary.get("_step").and_then(number).unwrap_or(0.0);
            if step < min {
                skipped.add(format!("stopped before step {min} (unfinished)"), &run.key);
                continue;
            }
        }
        match targets(&run.summary, &options.targets) {
            Ok(values) => runs.push(Run {
                key: run.key,
                weights,
                targets: values,
            }),
            Err(reason) => skipped.add(reason, &run.key),
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
    // The UI's export shows the summary's `_step` only when that column is displayed.
    let step_col = match options.min_step {
        Some(_) => Some(
            (table.header.iter())
                .position(|h| h == "_step")
                .ok_or_else(|| ImportError::Field {
                    path: path.to_owned(),
                    field: "_step".into(),
                    problem: "--min-step reads each run's summary `_step`, which this export \
                              lacks: show the `_step` column in the runs table before exporting"
                        .into(),
                })?,
        ),
        None => None,
    };
    let mut runs = Vec::new();
    let mut skipped = Skipped::default();
    let mut renamed = Vec::new();
    let mut unset = 0;
    for (row, (_, cells)) in table.rows.iter().enumerate() {
        // Display names repeat in W&B; keep every run, numbering the repeats.
        let mut key = cells[key_col].clone();
        let repeats = (table.rows[..row].iter())
            .filter(|r| r.1[key_col] == cells[key_col])
            .count();
        if repeats > 0 {
            key = format!("{key}#{}", repeats + 1);
            renamed.push(key.clone());
        }
        if let Some(state) = state_col
            .map(|c| cells[c].as_str())
            .filter(|s| *s != "finished")
        {
            skipped.add(format!("in state `{state}`"), &key);
            continue;
        }
        if let (Some(min), Some(col)) = (options.min_step, step_col) {
            let step = cells[col].trim().parse::<f64>().unwrap_or(0.0);
            if step < min {
                skipped.add(format!("stopped before step {min} (unfinished)"), &key);
                continue;
            }
        }
        let mut weights = BTreeMap::new();
        for (col, domain) in &domains {
            // An empty cell: the run's config did not set that domain.
            let w = if cells[*col].trim().is_empty() {
                unset += 1;
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
    let mut imported = finish(runs, skipped, options, &path.display().to_string())?;
    if !renamed.is_empty() {
        imported.notes.push(format!(
            "{} run(s) share a display name with an earlier one and are keyed `NAME#2`, ...: \
             {} (export the runs table with its `ID` column and pass --key ID to key by run id)",
            renamed.len(),
            renamed
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if unset > 0 {
        imported.notes.push(format!(
            "{unset} empty mixture cell(s) read as weight 0 (the run's config did not set that \
             domain)"
        ));
    }
    Ok(imported)
}

/// `text` with the bare `NaN`, `Infinity` and `-Infinity` that Python's `json` (and so wandb)
/// writes for non-finite floats replaced by `null` outside strings: standard JSON, in which a
/// diverged run's target reads as missing (the run is then skipped and counted).
pub(super) fn non_finite_as_null(text: &str) -> String {
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
