//! Writing per-run predictions as CSV or JSON.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::io::Overwrite;
use crate::predictor::{Evaluation, Prediction};

/// Writes one row per run (`keys`; targets `names`): key, then fold and observed outcome when
/// evaluating, then per target mean, epistemic, aleatoric and total std. To `path`
/// (atomically) or stdout.
pub fn write_predictions(
    keys: &[String],
    names: &[String],
    evaluation: Option<&Evaluation>,
    p: &Prediction,
    json: bool,
    path: Option<&Path>,
) -> Result<()> {
    let mut buf = Vec::new();
    if json {
        let rows: Vec<serde_json::Value> = (0..keys.len())
            .map(|i| {
                let targets: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .enumerate()
                    .map(|(j, n)| {
                        (
                            n.clone(),
                            serde_json::json!({
                                "mean": p.mean[i][j],
                                "epistemic_std": p.epistemic_std[i][j],
                                "aleatoric_std": p.aleatoric_std[i][j],
                                "total_std": p.total_std[i][j],
                            }),
                        )
                    })
                    .collect();
                serde_json::json!({ "key": keys[i], "targets": targets })
            })
            .collect();
        serde_json::to_writer_pretty(&mut buf, &rows)?;
        buf.push(b'\n');
    } else {
        let mut w = csv::Writer::from_writer(&mut buf);
        let mut header = vec!["key".to_owned()];
        if evaluation.is_some() {
            header.push("fold".into());
        }
        for n in names {
            if evaluation.is_some() {
                header.push(format!("{n}_observed"));
            }
            for field in ["mean", "epistemic_std", "aleatoric_std", "total_std"] {
                header.push(format!("{n}_{field}"));
            }
        }
        w.write_record(&header)?;
        for (i, key) in keys.iter().enumerate() {
            let mut row = vec![key.clone()];
            if let Some(e) = evaluation {
                row.push(e.fold[i].to_string());
            }
            for j in 0..names.len() {
                if let Some(e) = evaluation {
                    row.push(e.truth[i][j].to_string());
                }
                for v in [
                    p.mean[i][j],
                    p.epistemic_std[i][j],
                    p.aleatoric_std[i][j],
                    p.total_std[i][j],
                ] {
                    row.push(v.to_string());
                }
            }
            w.write_record(&row)?;
        }
        w.flush()?;
        drop(w);
    }
    emit(&buf, path)
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
