//! The command line: parse, dispatch to a device, print. The only module that prints.

pub mod args;
mod backtest;
mod campaign;
mod evaluate;
mod export;
mod import;
mod init;
mod output;
mod predict;
mod progress;
mod propose;
mod report;
mod setup;
mod simulate;
mod strategies;
mod swarm;
mod train;
mod world;

use anyhow::{Context, Result};

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;

use crate::runs::{DataSpec, Direction, Runs, RunsError, TargetSpec};
use crate::surrogate::{Fitted, SurrogateKind, SurrogateSpec};
use args::{Cli, Command};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Init(a) => init::run(a),
        Command::Completions { shell } => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cli, "mixatlas", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let cli = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cli).render(&mut std::io::stdout())?;
            Ok(())
        }
        Command::Predict(a) => predict::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Swarm(a) => swarm::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Propose(a) => propose::run(a),
        Command::Export(a) => export::run(a),
        Command::Loop(a) => campaign::run_loop(a),
        Command::Ingest(a) => campaign::run_ingest(a),
        Command::World(a) => world::run(a),
        Command::Report(a) => report::run(a),
        Command::Backtest(a) => backtest::run(a),
        Command::Bench(args::BenchCommand::Strategies(a)) => strategies::run(a),
        Command::Reuse(a) => import::run_reuse(a),
        Command::Import(args::ImportCommand::Olmix(a)) => import::run_olmix(a),
        Command::Import(args::ImportCommand::Wandb(a)) => import::run_wandb(a),
    }
}

/// Loads a checkpoint of either kind for scoring on `device` through its fastest path
/// ([`crate::device::for_scoring`]).
fn load_model<B: AutodiffBackend>(
    dir: &Path,
    device: &B::Device,
) -> Result<Fitted<B::InnerBackend>> {
    Ok(crate::device::for_scoring(Fitted::load(dir, device)?)?)
}

/// The data spec `--data` names: a spec (TOML), or a table of runs (`.csv`, `.jsonl`) whose
/// spec is inferred from `table` and the targets `NAME=lower|higher` (see
/// [`crate::runs::infer`]); with a note per inferred choice (none for a spec file, whose
/// targets the caller selects).
fn data_spec(
    path: &Path,
    table: &args::TableArgs,
    targets: &[String],
) -> Result<(DataSpec, Vec<String>)> {
    if !crate::runs::is_table(path) {
        return Ok((spec_file(path)?, Vec::new()));
    }
    let targets = (targets.iter())
        .map(|t| match t.split_once('=') {
            Some((name, "lower")) => Ok(TargetSpec::new(name, Direction::Lower)),
            Some((name, "higher")) => Ok(TargetSpec::new(name, Direction::Higher)),
            _ => Err(anyhow::anyhow!(
                "--target {t}: with a table as --data, say which way is better: \
                 --target NAME=lower or --target NAME=higher"
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut inferred = crate::runs::infer(path, table.key.as_deref(), &table.mixture, &targets)?;
    inferred.spec.renormalize = table.renormalize;
    Ok((inferred.spec, inferred.notes))
}

/// With a spec as `data`, `--target NAME` keeps only those of its targets, in that order (a
/// table's targets were named when it was read; `=lower`/`=higher` is ignored here).
fn select_targets(runs: &mut Runs, data: &Path, targets: &[String]) -> Result<()> {
    if targets.is_empty() || crate::runs::is_table(data) {
        return Ok(());
    }
    let names: Vec<String> = (targets.iter())
        .map(|t| {
            t.split_once('=')
                .map_or(t.as_str(), |(name, _)| name)
                .to_owned()
        })
        .collect();
    runs.select_targets(&names).map_err(|e| match e {
        RunsError::UnknownTarget { name, known } => {
            let containing: Vec<&String> = known.iter().filter(|k| k.contains(&name)).collect();
            match crate::runs::closest(&name, known.iter().map(String::as_str)) {
                None if !containing.is_empty() && containing.len() <= 5 => anyhow::anyhow!(
                    "--target {name}: {} defines no such target; its names containing it: {}",
                    data.display(),
                    (containing.iter().map(|k| format!("`{k}`")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(like) => anyhow::anyhow!(
                    "--target {name}: {} defines no such target; did you mean `{like}`?",
                    data.display()
                ),
                None if known.len() > 12 => anyhow::anyhow!(
                    "--target {name}: {} defines no such target (it defines {}, from `{}` to \
                     `{}`)",
                    data.display(),
                    known.len(),
                    known[0],
                    known[known.len() - 1]
                ),
                None => {
                    anyhow::anyhow!("--target {name}: {} defines only {known:?}", data.display())
                }
            }
        }
        other => other.into(),
    })
}

/// The data spec (TOML) at `path`; when it does not parse and looks like a CSV, the error
/// says to name it `.csv`.
fn spec_file(path: &Path) -> Result<DataSpec> {
    DataSpec::from_file(path).map_err(|e| {
        let looks_like_csv = (std::fs::read(path).ok())
            .and_then(|b| b.split(|&c| c == b'\n').next().map(|l| l.contains(&b',')))
            .unwrap_or(false);
        let error = anyhow::Error::new(e);
        if looks_like_csv {
            error.context(format!(
                "{} is read as a data spec (TOML); if it is a table of runs, name it .csv \
                 (or .jsonl)",
                path.display()
            ))
        } else {
            error
        }
    })
}

/// The spec of the logged runs `--data` names when a checkpoint's schema gives the columns: a
/// spec (TOML), or a table (`.csv`, `.jsonl`) keyed by `key` (default: inferred).
fn logged_spec(path: &Path, key: Option<&str>) -> Result<DataSpec> {
    Ok(if crate::runs::is_table(path) {
        crate::runs::table_spec(path, key)?
    } else {
        spec_file(path)?
    })
}

/// The surrogate `kind` configured by the TOML file at `path` (an ensemble or a GP config;
/// absent: the defaults).
fn load_spec(kind: SurrogateKind, path: Option<&Path>) -> Result<SurrogateSpec> {
    let text = match path {
        Some(path) => crate::io::read_text(path)?,
        None => String::new(),
    };
    let spec = SurrogateSpec::from_toml(kind, &text);
    match path {
        Some(path) => spec.with_context(|| format!("in {}", path.display())),
        None => Ok(spec?),
    }
}
