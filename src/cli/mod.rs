//! The command line: parse, dispatch to a device, print. The only module that prints.

pub mod args;
mod evaluate;
mod output;
mod predict;
mod progress;
mod train;

use anyhow::{Context, Result};

use crate::predictor::EnsembleConfig;
use args::{Cli, Command};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Evaluate(a) => evaluate::run(a),
    }
}

fn load_config(path: Option<&std::path::Path>) -> Result<EnsembleConfig> {
    let Some(path) = path else {
        return Ok(EnsembleConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    EnsembleConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))
}
