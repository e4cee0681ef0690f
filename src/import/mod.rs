//! Logged runs and search settings from the tools teams already use: Olmix fit configs
//! ([`olmix`]) and Weights & Biases run directories or run-table exports ([`wandb`]).
//!
//! An import produces files mixatlas reads (a space, a data spec and a runs table,
//! constraints, an objective) as [`Imported`]; the CLI writes them into one directory at once.

pub mod olmix;
pub mod wandb;
mod wandb_log;

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::runs::{DataSpec, Runs, TargetSpec};
use crate::space::reuse::Reuse;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not valid YAML, JSON or CSV.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column where it gives them.
        message: String,
    },
    /// A field is missing or unusable.
    #[error("{path}: field `{field}`: {problem}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The field, dotted (`priors.token_counts.web`).
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Nothing usable was found.
    #[error("no usable runs: {0}")]
    NoRuns(String),
}

/// The files an import writes (relative path, contents) and what it noticed along the way.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Files, e.g. `space.toml`, `data.toml`, `runs.csv`.
    pub files: Vec<(String, Vec<u8>)>,
    /// One line per thing worth telling (runs skipped and why, weights rescaled).
    pub notes: Vec<String>,
}

impl Imported {
    fn add(&mut self, name: &str, text: String) {
        self.files.push((name.to_owned(), text.into_bytes()));
    }
}

/// The data spec of a runs table an import writes: `runs.csv` keyed by `run`, over
/// `space.toml` beside it, with these context columns and targets.
fn runs_table_spec(context: Vec<String>, targets: Vec<TargetSpec>) -> DataSpec {
    DataSpec {
        space: Some("space.toml".into()),
        mixtures: "runs.csv".into(),
        outcomes: None,
        key: Some("run".into()),
        mixture_columns: Vec::new(),
        mixture_prefix: None,
        context,
        targets,
        ignore: Vec::new(),
        renormalize: false,
        tolerance: 0.01,
    }
}

/// Mixture reuse of logged runs: the runs consistent with `reuse` (`space::reuse`) in its
/// reduced coordinates, as `runs.csv`, the reduced `space.toml` and a `data.toml`; with the
/// number of runs kept and the keys of those dropped (inner mix not the frozen one).
pub fn reused_runs(reuse: &Reuse, runs: &Runs) -> crate::Result<(Imported, usize, Vec<String>)> {
    let schema = &runs.schema;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> = std::iter::once("run".to_owned())
        .chain(reuse.reduced.names())
        .chain(schema.context.iter().cloned())
        .chain(schema.target_names())
        .collect();
    csv.write_record(&header).expect("writes to memory");
    let (mut kept, mut dropped) = (0, Vec::new());
    for i in 0..runs.len() {
        let Some(w) = reuse.collapse(&runs.mixtures[i]) else {
            dropped.push(runs.keys[i].clone());
            continue;
        };
        kept += 1;
        let values = w.iter().chain(&runs.context[i]).chain(&runs.outcomes[i]);
        let row: Vec<String> = std::iter::once(runs.keys[i].clone())
            .chain(values.map(|x| format!("{x:?}")))
            .collect();
        csv.write_record(&row).expect("writes to memory");
    }
    if kept == 0 {
        return Err(ImportError::NoRuns(
            "no logged run is consistent with the frozen inner proportions (raise `tolerance`?)"
                .into(),
        )
        .into());
    }
    let targets = (schema.targets.iter())
        .map(|t| TargetSpec::new(t.name.clone(), t.direction))
        .collect();
    let spec = runs_table_spec(schema.context.clone(), targets);
    let mut out = Imported::default();
    out.files.push((
        "runs.csv".into(),
        csv.into_inner().expect("writes to memory"),
    ));
    out.add(
        "space.toml",
        toml::to_string(&reuse.reduced).expect("a space serialises"),
    );
    out.add(
        "data.toml",
        toml::to_string(&spec).expect("a data spec serialises"),
    );
    Ok((out, kept, dropped))
}

/// Largest YAML file read (run and fit configs are kilobytes).
const MAX_YAML: usize = 16 << 20;
/// Deepest nesting of `[` and `{` a YAML file may have: the parser's time grows steeply with
/// it, and no config nests more than a few levels.
const MAX_YAML_DEPTH: usize = 64;

/// Reads a YAML file into a value; syntax errors name the line and column. Files over
/// [`MAX_YAML`] bytes or nested deeper than [`MAX_YAML_DEPTH`] are refused before parsing.
fn read_yaml(path: &Path) -> crate::Result<Value> {
    let text = crate::io::read_text(path)?;
    let refuse = |message: String| -> crate::Result<Value> {
        Err(ImportError::Parse {
            path: path.to_owned(),
            message,
        }
        .into())
    };
    if text.len() > MAX_YAML {
        return refuse(format!("larger than {MAX_YAML} bytes: not a config file"));
    }
    if let Some(line) = too_deep(&text, MAX_YAML_DEPTH) {
        return refuse(format!(
            "line {line}: brackets nested deeper than {MAX_YAML_DEPTH} levels"
        ));
    }
    serde_yaml::from_str(&text).map_err(|e| {
        ImportError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        }
        .into()
    })
}

/// The 1-based line where `[`/`{` nesting (outside quotes and comments) first exceeds
/// `limit`, if it does.
fn too_deep(text: &str, limit: usize) -> Option<usize> {
    let (mut depth, mut line, mut quote, mut comment, mut prev) = (0usize, 1, None, false, ' ');
    for c in text.chars() {
        match (c, quote) {
            ('\n', _) => {
                // An apostrophe in a plain scalar (`don't`) opens no quote past its line.
                line += 1;
                comment = false;
                quote = None;
            }
            _ if comment => {}
            (q, Some(open)) if q == open => quote = None,
            (_, Some(_)) => {}
            ('\'' | '"', None) => quote = Some(c),
            ('#', None) if prev.is_whitespace() => comment = true,
            ('[' | '{', None) => {
                depth += 1;
                if depth > limit {
                    return Some(line);
                }
            }
            (']' | '}', None) => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    None
}

/// A YAML/JSON number as f64: integers, floats, and (as YAML 1.1 readers such as PyYAML take
/// them) strings with `_` digit separators (`45_000_000_000`).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.replace('_', "").trim().parse().ok(),
        _ => None,
    }
}

/// A scalar as a CSV cell.
fn cell(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A TOML string literal.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Matches `name` against `pattern` with one `*`: the part `*` matched.
fn wildcard<'a>(pattern: &str, name: &'a str) -> Option<&'a str> {
    let (head, tail) = pattern.split_once('*')?;
    let rest = name.strip_prefix(head)?;
    let inner = rest.strip_suffix(tail)?;
    (!inner.is_empty()).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_yaml_1_1_readers_read_them() {
        let v: Value = serde_yaml::from_str("[45_000_000_000, 1.5e9, '2', x]").unwrap();
        assert_eq!(too_deep("a: [[1, '[[['], {b: 2}]  # [[[[", 2), None);
        assert_eq!(too_deep("a: 1\nb: [[[2]]]", 2), Some(2));
        let Value::Sequence(items) = v else { panic!() };
        let got: Vec<Option<f64>> = items.iter().map(number).collect();
        assert_eq!(got, vec![Some(45e9), Some(1.5e9), Some(2.0), None]);
    }

    #[test]
    fn wildcards_capture_the_domain() {
        assert_eq!(wildcard("data.mix.*", "data.mix.web"), Some("web"));
        assert_eq!(wildcard("mix/*/weight", "mix/code/weight"), Some("code"));
        assert_eq!(wildcard("mix.*", "mix."), None);
        assert_eq!(wildcard("mix.*", "lr"), None);
    }
}
