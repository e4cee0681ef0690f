//! The command line: parse, dispatch to a device, print. The only module that prints.

pub mod args;
mod backtest;
mod campaign;
mod evaluate;
mod export;
mod import;
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

use crate::surrogate::{
    EnsembleConfig, Fitted, GpConfig, LogLinearConfig, SurrogateKind, SurrogateSpec,
    select::AutoConfig,
};
use args::{Cli, Command};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train::run(a),
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

/// The surrogate `kind` configured by the TOML file at `path` (an ensemble or a GP config;
/// absent: the defaults).
fn load_spec(kind: SurrogateKind, path: Option<&Path>) -> Result<SurrogateSpec> {
    let text = match path {
        Some(path) => crate::io::read_text(path)?,
        None => String::new(),
    };
    let spec = match kind {
        SurrogateKind::Ensemble => EnsembleConfig::from_toml(&text).map(SurrogateSpec::Ensemble),
        SurrogateKind::Gp => GpConfig::from_toml(&text).map(SurrogateSpec::Gp),
        SurrogateKind::LogLinear => LogLinearConfig::from_toml(&text).map(SurrogateSpec::LogLinear),
        SurrogateKind::Auto => AutoConfig::from_toml(&text).map(SurrogateSpec::Auto),
    };
    match path {
        Some(path) => spec.with_context(|| format!("in {}", path.display())),
        None => Ok(spec?),
    }
}
