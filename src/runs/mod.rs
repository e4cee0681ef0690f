//! Logged runs: one row per proxy training, its mixture, optional context and outcomes.
//!
//! Three layouts are read: (a) one wide CSV with mixture and outcome columns, (b) a mixture
//! CSV and an outcome CSV joined on a key column (the RegMix and Olmix files as published),
//! (c) JSONL with one flat object per run. Every problem is reported with file, line and column.

mod infer;
mod normalizer;
mod spec;
mod stream;
mod table;

pub use infer::{Inferred, infer, is_table, table_spec};
pub use normalizer::Normalizer;
pub use spec::{DataSpec, Direction, TargetSpec};
pub use stream::{MixtureChunks, STREAM_CHUNK, keys_of_rows};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// `Result` with [`RunsError`].
pub type Result<T, E = RunsError> = std::result::Result<T, E>;
use crate::math::simplex::simplex_sum_error;
use crate::space::Space;
pub(crate) use table::Table;
pub(crate) use table::csv_line;

/// Why logged runs were refused.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// The data's mixture space is malformed.
    #[error(transparent)]
    Space(#[from] crate::space::SpaceError),
    /// The data spec is malformed.
    #[error("{path}: {message}")]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is not valid CSV / JSONL.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The data file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A target asked for is not one the runs define.
    #[error("target `{name}` is not defined; the runs define {known:?}")]
    UnknownTarget {
        /// The name asked for.
        name: String,
        /// The targets defined.
        known: Vec<String>,
    },
    /// A target is defined twice, or reads a mixture, context or key column.
    #[error("{path}: target `{target}`: {problem}")]
    BadTarget {
        /// The file the target is read from.
        path: PathBuf,
        /// The target.
        target: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Runs added to others have different columns, context or targets.
    #[error("runs with different columns cannot be combined: {what} differ")]
    SchemaMismatch {
        /// Which part of the schema differs.
        what: &'static str,
    },
    /// The file has a header but no rows.
    #[error("{path}: no rows")]
    NoRows {
        /// The data file.
        path: PathBuf,
    },
    /// A column the spec or checkpoint needs is absent.
    #[error("{path}: missing column `{column}`{hint} (the file has: {known})")]
    MissingColumn {
        /// The data file.
        path: PathBuf,
        /// The column that was looked for.
        column: String,
        /// The file's columns, the first few of them.
        known: String,
        /// `; did you mean `NAME`?` for a column spelled nearly alike, else empty.
        hint: String,
    },
    /// A column looks like a mixture column but is not a domain of the space.
    #[error("{path}: column `{column}` has the mixture prefix but is not a domain of the space")]
    UnknownColumn {
        /// The data file.
        path: PathBuf,
        /// The unexpected column.
        column: String,
    },
    /// A table is larger than mixatlas reads whole.
    #[error("{path}: more than {limit} {what} (the limit of a table read whole)")]
    TooLarge {
        /// The data file.
        path: PathBuf,
        /// `columns` or `rows`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A header names the same column twice.
    #[error("{path}: column `{column}` appears twice in the header")]
    DuplicateColumn {
        /// The data file.
        path: PathBuf,
        /// The repeated column.
        column: String,
    },
    /// No column matched the mixture prefix or list.
    #[error("{path}: no mixture columns found")]
    NoMixtureColumns {
        /// The data file.
        path: PathBuf,
    },
    /// A cell is empty, not a number, NaN/inf, or a negative weight.
    #[error("{path}:{line}: column `{column}`: value `{value}` {problem}")]
    Cell {
        /// The data file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The column.
        column: String,
        /// The cell as written.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A mixture row does not sum to 1 within the tolerance.
    #[error(
        "{path}:{line}: mixture weights sum to {sum}, not 1 (tolerance {tolerance}; to rescale such rows, set `renormalize = true` in the data spec, or pass --renormalize with a table)"
    )]
    NotOnSimplex {
        /// The data file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The row's sum.
        sum: f64,
        /// The accepted deviation.
        tolerance: f64,
    },
    /// A mixture row has all weights zero, so it cannot be renormalised.
    #[error("{path}:{line}: all mixture weights are zero")]
    ZeroMixture {
        /// The data file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
    },
    /// A key repeats in a stream that cannot be read again to name the lines.
    #[error(
        "{path}: a key appears on two rows (the input is not a regular file, so it cannot be \
         read again to name them: write it to a file and run again)"
    )]
    RepeatedKey {
        /// The input.
        path: PathBuf,
    },
    /// Runs given as arrays ([`Runs::new`]) are inconsistent.
    #[error("runs: `{field}`: {problem}")]
    Array {
        /// The argument and row, e.g. `mixtures[3]`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Two rows of one file share a key.
    #[error("{path}:{line}: key `{key}` already used on line {first_line}")]
    DuplicateKey {
        /// The data file.
        path: PathBuf,
        /// Line of the second occurrence.
        line: u64,
        /// Line of the first occurrence.
        first_line: u64,
        /// The key.
        key: String,
    },
    /// A key in one file of a join has no row in the other.
    #[error("{path}:{line}: key `{key}` has no row in {other}")]
    UnmatchedKey {
        /// The file holding the key.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The key.
        key: String,
        /// The file lacking it.
        other: PathBuf,
    },
    /// A `mean_of` target matched no column.
    #[error("{path}: target `{target}` averages no columns")]
    EmptyMean {
        /// The outcome file.
        path: PathBuf,
        /// The target's name.
        target: String,
    },
}

/// The columns a model reads and predicts: fixed at training time, stored in the checkpoint
/// and reused to read any later file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The mixture space.
    pub space: Space,
    /// The mixture column of each domain, in domain order.
    pub mixture_columns: Vec<String>,
    /// Context columns (extra inputs), in input order.
    pub context: Vec<String>,
    /// Targets with `mean_of = ["*"]` expanded to explicit columns.
    pub targets: Vec<TargetSpec>,
}

/// Validated logged runs. Row `i` of every field describes the same run.
#[derive(Debug, Clone, PartialEq)]
pub struct Runs {
    /// What the columns mean.
    pub schema: Schema,
    /// Run identifiers: the key column, or the 1-based line number when there is no key. `[n]`
    pub keys: Vec<String>,
    /// Mixture weights on the simplex, `[n][domains]`.
    pub mixtures: Vec<Vec<f64>>,
    /// Context inputs, `[n][context]`.
    pub context: Vec<Vec<f64>>,
    /// Outcomes in target order, `[n][targets]`; empty rows when read without targets.
    pub outcomes: Vec<Vec<f64>>,
}

/// The one of `known` spelled most like `name` (at most 2 edits, or a quarter of its length;
/// case ignored), for a "did you mean" hint.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let limit = 2.max(name.chars().count() / 4);
    (known.into_iter())
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

impl Schema {
    /// Target names in target order.
    pub fn target_names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }
}

/// Which columns of a fixed schema [`Runs::load_with_schema`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaCheck {
    /// Mixtures, context and every target (runs to evaluate on or to learn from).
    WithTargets,
    /// Mixtures and context only (candidates to score).
    MixturesOnly,
}

impl Runs {
    /// Keeps only the targets `names`, in that order (outcomes follow).
    pub fn select_targets(&mut self, names: &[String]) -> Result<()> {
        let known = self.schema.target_names();
        let keep = (names.iter())
            .map(|name| {
                known
                    .iter()
                    .position(|k| k == name)
                    .ok_or_else(|| RunsError::UnknownTarget {
                        name: name.clone(),
                        known: known.clone(),
                    })
            })
            .collect::<Result<Vec<usize>, _>>()?;
        let all = std::mem::take(&mut self.schema.targets);
        self.schema.targets = keep.iter().map(|&j| all[j].clone()).collect();
        for o in &mut self.outcomes {
            *o = keep.iter().map(|&j| o[j]).collect();
        }
        Ok(())
    }

    /// Appends `other`'s runs; their schema must be the same as these runs'.
    pub fn extend(&mut self, other: &Runs) -> Result<()> {
        let (a, b) = (&self.schema, &other.schema);
        let what = if a.mixture_columns != b.mixture_columns {
            Some("mixture columns")
        } else if a.context != b.context {
            Some("context columns")
        } else if a.target_names() != b.target_names() {
            Some("targets")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(RunsError::SchemaMismatch { what });
        }
        self.keys.extend(other.keys.iter().cloned());
        self.mixtures.extend(other.mixtures.iter().cloned());
        self.context.extend(other.context.iter().cloned());
        self.outcomes.extend(other.outcomes.iter().cloned());
        Ok(())
    }

    /// Reads the runs a spec describes, resolving the schema from the spec.
    pub fn load(spec: &DataSpec) -> Result<Self> {
        let mixtures = Table::read(&spec.mixtures)?;
        let (space, mixture_columns) = spec.resolve_space(&mixtures.header)?;
        if spec.space.is_some() && !space.column_prefix.is_empty() {
            for h in &mixtures.header {
                if h.starts_with(&space.column_prefix) && !mixture_columns.contains(h) {
                    return Err(RunsError::UnknownColumn {
                        path: mixtures.path.clone(),
                        column: h.clone(),
                    });
                }
            }
        }
        let outcomes = spec.outcomes.as_deref().map(Table::read).transpose()?;
        let outcome_table = outcomes.as_ref().unwrap_or(&mixtures);
        let mut used: Vec<&str> = mixture_columns.iter().map(String::as_str).collect();
        used.extend(spec.context.iter().map(String::as_str));
        used.extend(spec.key.as_deref());
        used.extend(spec.ignore.iter().map(String::as_str));
        let targets: Vec<TargetSpec> = spec
            .targets
            .iter()
            .map(|t| expand_target(t, outcome_table, &used))
            .collect::<Result<_, _>>()?;
        check_targets(&targets, &used, &outcome_table.path)?;
        let schema = Schema {
            space,
            mixture_columns,
            context: spec.context.clone(),
            targets,
        };
        Self::assemble(spec, schema, mixtures, outcomes)
    }

    /// Reads runs with a fixed schema (a checkpoint's); `part` says whether the targets are
    /// read too or only the mixtures and context (candidates to score).
    pub fn load_with_schema(spec: &DataSpec, schema: &Schema, part: SchemaCheck) -> Result<Self> {
        let mixtures = Table::read(&spec.mixtures)?;
        let outcomes = spec.outcomes.as_deref().map(Table::read).transpose()?;
        let mut schema = schema.clone();
        if part == SchemaCheck::MixturesOnly {
            schema.targets.clear();
        }
        Self::assemble(spec, schema, mixtures, outcomes)
    }

    fn assemble(
        spec: &DataSpec,
        schema: Schema,
        mixtures: Table,
        outcomes: Option<Table>,
    ) -> Result<Self> {
        let mix_cols = schema
            .mixture_columns
            .iter()
            .map(|c| mixtures.column(c))
            .collect::<Result<Vec<_>, _>>()?;
        let key_col = spec
            .key
            .as_deref()
            .map(|k| mixtures.column(k))
            .transpose()?;
        let keys: Vec<String> = mixtures
            .rows
            .iter()
            .map(|(line, cells)| key_col.map_or_else(|| line.to_string(), |k| cells[k].clone()))
            .collect();
        if key_col.is_some() {
            index_keys(&mixtures, &keys)?;
        }
        // Row of the outcome table for each mixture row.
        let (outcome_table, outcome_rows): (&Table, Vec<usize>) = match &outcomes {
            Some(o) => (
                o,
                join(&mixtures, &keys, o, spec.key.as_deref().unwrap_or_default())?,
            ),
            None => (&mixtures, (0..mixtures.rows.len()).collect()),
        };
        let mut runs = Runs {
            schema,
            keys,
            mixtures: Vec::with_capacity(mixtures.rows.len()),
            context: Vec::with_capacity(mixtures.rows.len()),
            outcomes: Vec::with_capacity(mixtures.rows.len()),
        };
        for (row, &orow) in outcome_rows.iter().enumerate() {
            runs.mixtures
                .push(read_mixture(&mixtures, row, &mix_cols, spec)?);
            let context = runs
                .schema
                .context
                .iter()
                .map(|c| match mixtures.column(c) {
                    Ok(col) => mixtures.number(row, col),
                    Err(_) => outcome_table.number(orow, outcome_table.column(c)?),
                })
                .collect::<Result<_, _>>()?;
            runs.context.push(context);
            let outcome = runs
                .schema
                .targets
                .iter()
                .map(|t| target_value(t, outcome_table, orow))
                .collect::<Result<_, _>>()?;
            runs.outcomes.push(outcome);
        }
        Ok(runs)
    }

    /// Runs from arrays, checked as a file would be: `mixtures` `[n][domains]` over `space`
    /// (finite, non-negative, each row summing to 1 within 1e-6) and `outcomes`
    /// `[n][targets]` (finite), at least one run and distinct target names. Keys are
    /// `1..=n`, and there are no context columns.
    ///
    /// ```
    /// use mixatlas::runs::{Direction, Runs, TargetSpec};
    /// use mixatlas::space::Space;
    ///
    /// let space = Space::from_names("toy", &["web".into(), "code".into()])?;
    /// let loss = TargetSpec::new("val_loss", Direction::Lower);
    /// let runs = Runs::new(space, vec![vec![0.7, 0.3], vec![0.2, 0.8]], vec![loss], vec![vec![2.9], vec![3.1]])?;
    /// assert_eq!(runs.len(), 2);
    /// # Ok::<(), mixatlas::Error>(())
    /// ```
    pub fn new(
        space: Space,
        mixtures: Vec<Vec<f64>>,
        targets: Vec<TargetSpec>,
        outcomes: Vec<Vec<f64>>,
    ) -> Result<Self, RunsError> {
        let bad = |field: String, problem: String| Err(RunsError::Array { field, problem });
        if mixtures.is_empty() {
            return bad("mixtures".into(), "no runs".into());
        }
        if outcomes.len() != mixtures.len() {
            let problem = format!("{} rows for {} mixtures", outcomes.len(), mixtures.len());
            return bad("outcomes".into(), problem);
        }
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        if let Some(dup) = names
            .iter()
            .find(|n| names.iter().filter(|m| m == n).count() > 1)
        {
            return bad("targets".into(), format!("`{dup}` is named twice"));
        }
        for (i, w) in mixtures.iter().enumerate() {
            let field = || format!("mixtures[{i}]");
            if w.len() != space.len() {
                let problem = format!("{} weights for {} domains", w.len(), space.len());
                return bad(field(), problem);
            }
            if let Some(x) = w.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
                return bad(
                    field(),
                    format!("weight {x} is not finite and non-negative"),
                );
            }
            let sum: f64 = w.iter().sum();
            if (sum - 1.0).abs() > 1e-6 {
                return bad(field(), format!("weights sum to {sum}, not 1"));
            }
        }
        for (i, o) in outcomes.iter().enumerate() {
            if o.len() != targets.len() {
                let problem = format!("{} values for {} targets", o.len(), targets.len());
                return bad(format!("outcomes[{i}]"), problem);
            }
            if let Some(x) = o.iter().find(|x| !x.is_finite()) {
                return bad(format!("outcomes[{i}]"), format!("{x} is not finite"));
            }
        }
        let n = mixtures.len();
        Ok(Runs {
            schema: Schema {
                mixture_columns: space.names(),
                space,
                context: Vec::new(),
                targets,
            },
            keys: (1..=n).map(|i| i.to_string()).collect(),
            context: vec![Vec::new(); n],
            mixtures,
            outcomes,
        })
    }

    /// Number of runs.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are no runs (never after a successful load).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The runs at `rows`, in that order.
    pub fn subset(&self, rows: &[usize]) -> Self {
        let pick = |v: &Vec<Vec<f64>>| rows.iter().map(|&i| v[i].clone()).collect();
        Runs {
            schema: self.schema.clone(),
            keys: rows.iter().map(|&i| self.keys[i].clone()).collect(),
            mixtures: pick(&self.mixtures),
            context: pick(&self.context),
            outcomes: pick(&self.outcomes),
        }
    }

    /// One target's outcomes, `[n]`.
    pub fn target(&self, t: usize) -> Vec<f64> {
        self.outcomes.iter().map(|o| o[t]).collect()
    }
}

/// Splits `0..n` into `k` shuffled folds of near-equal size; returns `(train, test)` row
/// indices per fold. Requires `2 <= k <= n`.
pub fn kfold<R: Rng + ?Sized>(n: usize, k: usize, rng: &mut R) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    (0..k)
        .map(|f| {
            let (mut train, mut test) = (Vec::with_capacity(n), Vec::with_capacity(n / k + 1));
            for (i, &row) in order.iter().enumerate() {
                if i % k == f {
                    test.push(row);
                } else {
                    train.push(row);
                }
            }
            (train, test)
        })
        .collect()
}

fn index_keys<'a>(table: &Table, keys: &'a [String]) -> Result<HashMap<&'a str, usize>, RunsError> {
    let mut index = HashMap::with_capacity(keys.len());
    for (row, key) in keys.iter().enumerate() {
        if let Some(first) = index.insert(key.as_str(), row) {
            return Err(RunsError::DuplicateKey {
                path: table.path.clone(),
                line: table.rows[row].0,
                first_line: table.rows[first].0,
                key: key.clone(),
            });
        }
    }
    Ok(index)
}

/// For each mixture row, the outcome row with the same key; every key must match both ways.
fn join(mixtures: &Table, keys: &[String], outcomes: &Table, key: &str) -> Result<Vec<usize>> {
    let okey = outcomes.column(key)?;
    let okeys: Vec<String> = outcomes.rows.iter().map(|(_, c)| c[okey].clone()).collect();
    let oindex = index_keys(outcomes, &okeys)?;
    let unmatched = |table: &Table, row: usize, key: &str, other: &Table| RunsError::UnmatchedKey {
        path: table.path.clone(),
        line: table.rows[row].0,
        key: key.into(),
        other: other.path.clone(),
    };
    let rows = keys
        .iter()
        .enumerate()
        .map(|(row, k)| {
            oindex
                .get(k.as_str())
                .copied()
                .ok_or_else(|| unmatched(mixtures, row, k, outcomes))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rows.len() != okeys.len() {
        let mindex: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
        let (row, k) = okeys
            .iter()
            .enumerate()
            .find(|(_, k)| !mindex.contains(k.as_str()))
            .expect("fewer matches than outcome rows implies an unmatched outcome key");
        return Err(unmatched(outcomes, row, k, mixtures));
    }
    Ok(rows)
}

fn read_mixture(
    table: &Table,
    row: usize,
    cols: &[usize],
    spec: &DataSpec,
) -> Result<Vec<f64>, RunsError> {
    let line = table.rows[row].0;
    let mut w = Vec::with_capacity(cols.len());
    for &c in cols {
        let x = table.number(row, c)?;
        if x < 0.0 {
            return Err(RunsError::Cell {
                path: table.path.clone(),
                line,
                column: table.header[c].clone(),
                value: table.rows[row].1[c].clone(),
                problem: "is a negative mixture weight",
            });
        }
        w.push(x);
    }
    let sum: f64 = w.iter().sum();
    if sum <= 0.0 {
        return Err(RunsError::ZeroMixture {
            path: table.path.clone(),
            line,
        });
    }
    if simplex_sum_error(&w) > spec.tolerance && !spec.renormalize {
        return Err(RunsError::NotOnSimplex {
            path: table.path.clone(),
            line,
            sum,
            tolerance: spec.tolerance,
        });
    }
    // Within tolerance, rows are rescaled too: published files round weights (RegMix to 1e-3).
    w.iter_mut().for_each(|x| *x /= sum);
    Ok(w)
}

fn expand_target(t: &TargetSpec, table: &Table, used: &[&str]) -> Result<TargetSpec, RunsError> {
    let mut t = t.clone();
    if t.mean_of == ["*"] {
        t.mean_of = table
            .header
            .iter()
            .filter(|h| !used.contains(&h.as_str()))
            .cloned()
            .collect();
        if t.mean_of.is_empty() {
            return Err(RunsError::EmptyMean {
                path: table.path.clone(),
                target: t.name,
            });
        }
    }
    Ok(t)
}

/// Every target has its own name and reads no mixture, context, key or ignored column (`used`).
fn check_targets(targets: &[TargetSpec], used: &[&str], path: &Path) -> Result<(), RunsError> {
    for (i, t) in targets.iter().enumerate() {
        let bad = |problem| RunsError::BadTarget {
            path: path.to_owned(),
            target: t.name.clone(),
            problem,
        };
        if targets[..i].iter().any(|u| u.name == t.name) {
            return Err(bad("defined twice"));
        }
        if !t.weights.is_empty()
            && (t.weights.len() != t.mean_of.len() || t.weights.iter().any(|w| !w.is_finite()))
        {
            return Err(bad(
                "`weights` needs one finite number per `mean_of` column",
            ));
        }
        let column = [t.column.as_deref().unwrap_or(&t.name)];
        let columns = if t.mean_of.is_empty() {
            &column[..]
        } else {
            &[][..]
        };
        let reads = columns
            .iter()
            .copied()
            .chain(t.mean_of.iter().map(String::as_str));
        if reads.into_iter().any(|c| used.contains(&c)) {
            return Err(bad("reads a mixture, context or key column"));
        }
    }
    Ok(())
}

fn target_value(t: &TargetSpec, table: &Table, row: usize) -> Result<f64, RunsError> {
    if t.mean_of.is_empty() {
        let col = table.column(t.column.as_deref().unwrap_or(&t.name))?;
        return table.number(row, col);
    }
    let mut sum = 0.0;
    for (i, c) in t.mean_of.iter().enumerate() {
        let w = t.weights.get(i).copied().unwrap_or(1.0);
        sum += w * table.number(row, table.column(c)?)?;
    }
    Ok(if t.weights.is_empty() {
        sum / t.mean_of.len() as f64
    } else {
        sum
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn a_near_spelling_is_suggested_and_a_far_one_is_not() {
        let known = ["accuracy", "val_loss", "arc_easy:rc::olmes"];
        assert_eq!(closest("acuracy", known), Some("accuracy"));
        assert_eq!(closest("Val_Loss", known), Some("val_loss"));
        assert_eq!(closest("arc_easy", known), None);
        assert_eq!(closest("nope", known), None);
    }

    proptest! {
        #[test]
        fn folds_partition_the_rows(n in 2usize..200, k in 2usize..10, seed in 0u64..100) {
            prop_assume!(k <= n);
            let folds = kfold(n, k, &mut StdRng::seed_from_u64(seed));
            let mut seen = vec![0; n];
            for (train, test) in &folds {
                prop_assert_eq!(train.len() + test.len(), n);
                prop_assert!(test.len() >= n / k && test.len() <= n / k + 1);
                test.iter().for_each(|&r| seen[r] += 1);
                prop_assert!(train.iter().all(|r| !test.contains(r)));
            }
            prop_assert!(seen.iter().all(|&c| c == 1));
        }
    }
}
