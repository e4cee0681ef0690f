//! A data spec inferred from one plain table of runs (CSV or JSONL): a key column, the mixture
//! columns and the targets the user names, so `train --data runs.csv --target loss=lower`
//! works without writing a spec first (`init` writes the inferred spec out, with a comment per
//! choice, for editing).

use std::path::Path;

use super::table::Table;
use super::{DataSpec, Result, RunsError, TargetSpec};

/// Largest `|sum - 1|` of a row for a set of columns to be taken as the mixture.
const SUM_TOLERANCE: f64 = 0.01;

/// A data spec inferred from a table, with the reason for each choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    /// The spec: the table as `mixtures`, its key, mixture columns and targets.
    pub spec: DataSpec,
    /// One sentence per choice made (key, mixture columns, columns left out).
    pub notes: Vec<String>,
}

/// Infers the data spec of the table at `path`.
///
/// - `key`: the column naming a run; by default the first column holding a value that is not
///   a number (none: runs are named by their line).
/// - `mixture`: the mixture columns, in order; by default every other numeric column with
///   values in `[0, 1]` provided those columns' rows sum to 1 (within 0.01).
/// - `targets`: the outcomes to predict, which must be columns of the table.
///
/// Other numeric columns are ignored (listed in the notes). Errors name the file and the
/// column, and say what to pass instead.
pub fn infer(
    path: &Path,
    key: Option<&str>,
    mixture: &[String],
    targets: &[TargetSpec],
) -> Result<Inferred> {
    let bad = |message: String| RunsError::Spec {
        path: path.into(),
        message,
    };
    if targets.is_empty() {
        return Err(bad(
            "name the outcomes to predict: --target COLUMN=lower (losses) or \
             --target COLUMN=higher (accuracies), once per target"
                .into(),
        ));
    }
    let table = Table::read(path)?;
    for t in targets {
        table.column(t.column.as_deref().unwrap_or(&t.name))?;
    }
    let values = numbers(&table);
    let numeric: Vec<bool> = values.iter().map(Option::is_some).collect();
    let named: Vec<&str> = (targets.iter())
        .map(|t| t.column.as_deref().unwrap_or(&t.name))
        .chain(mixture.iter().map(String::as_str))
        .collect();
    let (key, note) = infer_key(&table, &numeric, key, &named)?;
    let mut notes = vec![note];
    let is_target =
        |name: &str| (targets.iter()).any(|t| t.name == name || t.column.as_deref() == Some(name));
    let mixture_columns = if mixture.is_empty() {
        let candidates: Vec<usize> = (0..table.header.len())
            .filter(|&c| numeric[c] && Some(&table.header[c]) != key.as_ref())
            .filter(|&c| !is_target(&table.header[c]))
            .filter(|&c| (values[c].iter().flatten()).all(|v| (0.0..=1.0).contains(v)))
            .collect();
        let column = |c: usize| values[c].as_deref().expect("a numeric column");
        // Each row's sum over every candidate, once; a subset leaves one candidate out.
        let total: Vec<f64> = (0..table.rows.len())
            .map(|r| candidates.iter().map(|&c| column(c)[r]).sum())
            .collect();
        // `(gap, line)`: the row furthest from summing to 1, without candidate `skip`.
        let worst = |skip: Option<usize>| {
            (0..table.rows.len())
                .map(|r| {
                    let sum = total[r] - skip.map_or(0.0, |k| column(candidates[k])[r]);
                    ((sum - 1.0).abs(), table.rows[r].0)
                })
                .max_by(|a, b| a.0.total_cmp(&b.0))
        };
        let sums = |skip: Option<usize>| {
            candidates.len() - usize::from(skip.is_some()) >= 2
                && worst(skip).is_some_and(|(gap, _)| gap <= SUM_TOLERANCE)
        };
        // One extra column in [0, 1] (an accuracy that is not a target, say) is left out when
        // the others sum to 1 without it, and only then.
        let without: Vec<usize> = (0..candidates.len()).filter(|&k| sums(Some(k))).collect();
        let skip = match without.as_slice() {
            [k] if !sums(None) => Some(*k),
            _ => None,
        };
        if !sums(skip) {
            let names: Vec<&str> = candidates
                .iter()
                .map(|&c| table.header[c].as_str())
                .collect();
            let why = match worst(None) {
                Some((gap, line)) if candidates.len() >= 2 => format!(
                    "the numeric columns in [0, 1] ({}) do not sum to 1 (line {line} is off by \
                     {gap:.3})",
                    names.join(", ")
                ),
                _ => format!("only {} numeric column(s) lie in [0, 1]", candidates.len()),
            };
            return Err(bad(format!(
                "cannot tell which columns hold the mixture: {why}; name them with \
                 --mixture COL,COL,... (with --renormalize to rescale rows that do not sum to \
                 1), or write a data spec: `mixatlas init`"
            )));
        }
        let left_out = skip.map(|k| table.header[candidates[k]].clone());
        let candidates: Vec<usize> = (candidates.iter().enumerate())
            .filter(|&(k, _)| Some(k) != skip)
            .map(|(_, &c)| c)
            .collect();
        let names: Vec<String> = candidates
            .iter()
            .map(|&c| table.header[c].clone())
            .collect();
        notes.push(format!(
            "mixture: {} columns whose rows sum to 1 ({})",
            names.len(),
            names.join(", ")
        ));
        if let Some(column) = left_out {
            notes.push(format!(
                "mixture: `{column}` left out: it lies in [0, 1], but with it the rows do not \
                 sum to 1"
            ));
        }
        names
    } else {
        for m in mixture {
            table.column(m)?;
        }
        notes.push(format!("mixture: {}, as given", mixture.join(", ")));
        mixture.to_vec()
    };
    let ignore: Vec<String> = (table.header.iter())
        .filter(|h| Some(*h) != key.as_ref() && !mixture_columns.contains(h) && !is_target(h))
        .cloned()
        .collect();
    if !ignore.is_empty() {
        notes.push(format!("ignored: {}", ignore.join(", ")));
    }
    Ok(Inferred {
        spec: DataSpec {
            space: None,
            mixtures: path.to_owned(),
            outcomes: None,
            key,
            mixture_columns,
            mixture_prefix: None,
            context: Vec::new(),
            targets: targets.to_vec(),
            ignore,
            renormalize: false,
            tolerance: SUM_TOLERANCE,
        },
        notes,
    })
}

/// The key column: `key` if given (it must exist), else the first column that is not numeric
/// (`numeric[c]`: every cell of column `c` is a number) and not `named` (a target or mixture
/// column with a blank cell is no key), else none; with a note saying which.
fn infer_key(
    table: &Table,
    numeric: &[bool],
    key: Option<&str>,
    named: &[&str],
) -> Result<(Option<String>, String)> {
    if let Some(k) = key {
        table.column(k)?;
        return Ok((Some(k.to_owned()), format!("key: `{k}`, as given")));
    }
    let candidate = |c: usize| !numeric[c] && !named.contains(&table.header[c].as_str());
    Ok(match (0..table.header.len()).find(|&c| candidate(c)) {
        Some(c) => {
            let name = table.header[c].clone();
            let note = format!("key: `{name}`, the first column that is not numeric");
            (Some(name), note)
        }
        None => (None, "key: none (runs are named by their line)".into()),
    })
}

/// Each column's numbers `[rows]`, parsed once; `None` for a column with a cell that is not a
/// finite number.
fn numbers(table: &Table) -> Vec<Option<Vec<f64>>> {
    (0..table.header.len())
        .map(|c| {
            (0..table.rows.len())
                .map(|r| table.number(r, c).ok())
                .collect()
        })
        .collect()
}

/// Whether `path` names a table of runs (`.csv`, `.jsonl`, `.ndjson`) rather than a data spec.
pub fn is_table(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("csv" | "jsonl" | "ndjson")
    )
}

/// The spec of a table read with a checkpoint's schema, which names its mixture, context and
/// target columns: the file and its key (`key`, or as [`infer`] finds it).
pub fn table_spec(path: &Path, key: Option<&str>) -> Result<DataSpec> {
    let table = Table::read(path)?;
    let numeric: Vec<bool> = numbers(&table).iter().map(Option::is_some).collect();
    let (key, _) = infer_key(&table, &numeric, key, &[])?;
    Ok(DataSpec {
        space: None,
        mixtures: path.to_owned(),
        outcomes: None,
        key,
        mixture_columns: Vec::new(),
        mixture_prefix: None,
        context: Vec::new(),
        targets: Vec::new(),
        ignore: Vec::new(),
        renormalize: false,
        tolerance: SUM_TOLERANCE,
    })
}

impl Inferred {
    /// The spec as a TOML file for `init`, with the notes as comments; `table` is how the file
    /// refers to the table and `space` to a space file whose domains are the mixture columns
    /// (paths relative to where the spec is written, or absolute).
    pub fn to_toml(&self, table: &Path, space: Option<&Path>) -> String {
        let mut spec = self.spec.clone();
        spec.mixtures = table.to_owned();
        if let Some(space) = space {
            spec.space = Some(space.to_owned());
            spec.mixture_columns.clear();
        }
        let mut text = String::from(
            "# Data spec inferred by `mixatlas init`; edit freely (every field: docs/reference.md).\n",
        );
        for note in &self.notes {
            text.push_str(&format!("# {note}\n"));
        }
        text.push('\n');
        text.push_str(&toml::to_string(&spec).expect("a data spec serialises"));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::Direction;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn finds_the_key_and_the_columns_that_sum_to_one() {
        let (_d, path) =
            write("run,web,code,books,step,loss\na,0.5,0.3,0.2,100,2.1\nb,0.2,0.2,0.6,100,2.4\n");
        let loss = TargetSpec::new("loss", Direction::Lower);
        let inferred = infer(&path, None, &[], &[loss]).unwrap();
        assert_eq!(inferred.spec.key.as_deref(), Some("run"));
        assert_eq!(inferred.spec.mixture_columns, ["web", "code", "books"]);
        assert_eq!(inferred.spec.ignore, ["step"]);
        let text = inferred.to_toml(Path::new("runs.csv"), None);
        let back: DataSpec = toml::from_str(&text).unwrap();
        assert_eq!(back.mixture_columns, inferred.spec.mixture_columns);
        let with_space = inferred.to_toml(Path::new("runs.csv"), Some(Path::new("space.toml")));
        let back: DataSpec = toml::from_str(&with_space).unwrap();
        assert!(back.mixture_columns.is_empty() && back.space.is_some());
    }

    #[test]
    fn leaves_out_the_one_column_that_breaks_the_sum() {
        let (_d, path) = write("run,web,code,mmlu,loss\na,0.5,0.5,0.31,2.1\nb,0.2,0.8,0.35,2.4\n");
        let loss = TargetSpec::new("loss", Direction::Lower);
        let inferred = infer(&path, None, &[], &[loss]).unwrap();
        assert_eq!(inferred.spec.mixture_columns, ["web", "code"]);
        assert_eq!(inferred.spec.ignore, ["mmlu"]);
        assert!(inferred.notes.iter().any(|n| n.contains("`mmlu` left out")));
    }

    #[test]
    fn says_what_to_pass_when_it_cannot_tell() {
        let (_d, path) = write("web,code,loss\n0.5,0.3,2.1\n0.2,0.2,2.4\n");
        let loss = TargetSpec::new("loss", Direction::Lower);
        let err = infer(&path, None, &[], std::slice::from_ref(&loss))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--mixture") && err.contains("off by"), "{err}");
        let err = infer(&path, None, &[], &[]).unwrap_err().to_string();
        assert!(err.contains("--target COLUMN=lower"), "{err}");
        let gone = TargetSpec::new("acc", Direction::Higher);
        let err = infer(&path, None, &[], &[gone]).unwrap_err().to_string();
        assert!(err.contains("missing column `acc`"), "{err}");
    }
}
