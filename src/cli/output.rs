//! Writing per-run predictions as CSV or JSON.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::io::{AtomicFile, Overwrite};
use crate::surrogate::{Evaluation, Posterior};

/// Writes one row per run (`keys`; targets `names`): key, then fold and observed outcome when
/// evaluating, then per target mean, epistemic, aleatoric and total std. To `path`
/// (atomically) or stdout.
pub fn write_predictions(
    keys: &[String],
    names: &[String],
    evaluation: Option<&Evaluation>,
    p: &Posterior,
    json: bool,
    path: Option<&Path>,
) -> Result<()> {
    let mut w = PredictionWriter::create(path, names, evaluation.is_some(), json)?;
    w.write(keys, p, evaluation)?;
    w.finish()
}

/// Predictions written as they are made, chunk by chunk: CSV rows or the elements of one JSON
/// array, to a file that appears whole on [`PredictionWriter::finish`] or to stdout.
pub struct PredictionWriter {
    out: Sink,
    /// The header (or `[`), written with the first rows so that a failure before any row
    /// leaves stdout empty.
    pending: Vec<u8>,
    names: Vec<String>,
    json: bool,
    rows: usize,
}

enum Sink {
    File(AtomicFile),
    Stdout(std::io::BufWriter<std::io::Stdout>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Stdout(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Stdout(s) => s.flush(),
        }
    }
}

impl PredictionWriter {
    /// Starts the output (CSV header or `[`); `truth` adds the fold and observed columns.
    pub fn create(path: Option<&Path>, names: &[String], truth: bool, json: bool) -> Result<Self> {
        let out = match path {
            Some(p) => Sink::File(AtomicFile::create(p)?),
            None => Sink::Stdout(std::io::BufWriter::new(std::io::stdout())),
        };
        let pending = if json {
            b"[".to_vec()
        } else {
            let mut header = vec!["key".to_owned()];
            if truth {
                header.push("fold".into());
            }
            for n in names {
                if truth {
                    header.push(format!("{n}_observed"));
                }
                for field in ["mean", "epistemic_std", "aleatoric_std", "total_std"] {
                    header.push(format!("{n}_{field}"));
                }
            }
            csv_line(&header)?
        };
        Ok(PredictionWriter {
            out,
            pending,
            names: names.to_vec(),
            json,
            rows: 0,
        })
    }

    fn write_pending(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        Ok(self.out.write_all(&pending)?)
    }

    /// Appends the rows of `keys` with their predictions `p` (and truth, when evaluating).
    pub fn write(
        &mut self,
        keys: &[String],
        p: &Posterior,
        evaluation: Option<&Evaluation>,
    ) -> Result<()> {
        for (i, key) in keys.iter().enumerate() {
            let stats = |j: usize| {
                let std = [
                    p.epistemic_std(i, j),
                    p.aleatoric_std(i, j),
                    p.total_std(i, j),
                ];
                [p.mean_at(i, j), std[0], std[1], std[2]]
            };
            if self.json {
                let targets: serde_json::Map<String, serde_json::Value> = (self.names.iter())
                    .enumerate()
                    .map(|(j, n)| {
                        let [mean, epi, alea, total] = stats(j);
                        let value = serde_json::json!({
                            "mean": mean, "epistemic_std": epi,
                            "aleatoric_std": alea, "total_std": total,
                        });
                        (n.clone(), value)
                    })
                    .collect();
                let row = serde_json::json!({ "key": key, "targets": targets });
                let sep = if self.rows == 0 { "\n" } else { ",\n" };
                self.write_pending()?;
                write!(self.out, "{sep}{}", serde_json::to_string_pretty(&row)?)?;
            } else {
                let mut row = vec![key.clone()];
                if let Some(e) = evaluation {
                    row.push(e.fold[i].to_string());
                }
                for j in 0..self.names.len() {
                    if let Some(e) = evaluation {
                        row.push(e.truth[i][j].to_string());
                    }
                    row.extend(stats(j).iter().map(f64::to_string));
                }
                self.write_pending()?;
                self.out.write_all(&csv_line(&row)?)?;
            }
            self.rows += 1;
        }
        Ok(())
    }

    /// Ends the output; a file appears at its path only now.
    pub fn finish(mut self) -> Result<()> {
        self.write_pending()?;
        if self.json {
            self.out.write_all(b"\n]\n")?;
        }
        match self.out {
            Sink::File(f) => Ok(f.commit()?),
            Sink::Stdout(mut s) => s.flush().context("writing to stdout"),
        }
    }
}

/// One CSV record, quoted as needed, with its line break.
fn csv_line(row: &[String]) -> Result<Vec<u8>> {
    let mut line = csv::Writer::from_writer(Vec::new());
    line.write_record(row)?;
    Ok(line.into_inner()?)
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(crate::io::write_atomic(path, bytes)?)
}

/// Writes `files` (relative path, contents) into `dir` at once; see
/// [`crate::io::write_dir_atomic`]: `force` replaces an existing `dir` that mixatlas wrote and
/// that holds none of `inputs`.
pub fn write_dir_atomic(
    dir: &Path,
    force: bool,
    inputs: &[&Path],
    files: &[(String, Vec<u8>)],
) -> Result<()> {
    let overwrite = Overwrite::from_force(force);
    Ok(crate::io::write_dir_atomic(dir, overwrite, inputs, files)?)
}

/// Checks, before any work, that the output file `path` (if any) may be written: it is none
/// of `inputs`, and an existing file is replaced only with `force`.
pub fn check_file(path: Option<&Path>, force: bool, inputs: &[&Path]) -> Result<()> {
    match path {
        Some(p) => Ok(crate::io::check_output(
            p,
            Overwrite::from_force(force),
            inputs,
        )?),
        None => Ok(()),
    }
}

/// Writes `bytes` to `path` atomically, or to stdout without one.
pub fn emit(bytes: &[u8], path: Option<&Path>) -> Result<()> {
    match path {
        Some(path) => write_atomic(path, bytes),
        None => std::io::stdout()
            .write_all(bytes)
            .context("writing to stdout"),
    }
}
