//! The command line: parse, dispatch to a device, print. The only module that prints.

pub mod args;
mod campaign;
mod evaluate;
mod export;
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

use crate::device::DeviceKind;
use crate::predictor::gp::GP_FILE;
use crate::predictor::{EnsembleConfig, Predictor, checkpoint};
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
        Command::Bench(args::BenchCommand::Strategies(a)) => strategies::run(a),
    }
}

/// Loads an ensemble checkpoint for scoring on `kind`, through the fused path on CPU devices.
fn load_predictor<B: AutodiffBackend>(
    dir: &Path,
    kind: DeviceKind,
    device: &B::Device,
) -> Result<Predictor<B::InnerBackend>> {
    if dir.join(GP_FILE).exists() {
        anyhow::bail!(
            "{} is a Gaussian-process checkpoint; this command needs a deep-ensemble one",
            dir.display()
        );
    }
    let mut predictor = checkpoint::load::<B::InnerBackend>(dir, device)?;
    if kind.is_cpu() {
        predictor.fuse_for_cpu();
    }
    Ok(predictor)
}

fn load_config(path: Option<&Path>) -> Result<EnsembleConfig> {
    let Some(path) = path else {
        return Ok(EnsembleConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    EnsembleConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))
}
