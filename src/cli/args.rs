//! Command-line types (clap derive). Nothing here does work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::device::DeviceKind;

/// mixatlas: learn mixture -> outcome from logged proxy runs, with honest uncertainty.
#[derive(Debug, Parser)]
#[command(name = "mixatlas", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a deep-ensemble predictor on logged runs and write a checkpoint directory.
    #[command(
        after_help = "Example:\n  mixatlas train --data configs/data/regmix-1m-train.toml --out out/regmix"
    )]
    Train(TrainArgs),
    /// Predict outcomes (mean, epistemic, aleatoric and total std) for mixtures in a file.
    #[command(
        after_help = "Example:\n  mixatlas predict --checkpoint out/regmix \\\n    --input datasets/regmix/test_mixture_1m.csv --key index --output predictions.csv"
    )]
    Predict(PredictArgs),
    /// Score a checkpoint on held-out runs, or cross-validate a config with --folds.
    #[command(
        after_help = "Examples:\n  mixatlas evaluate --checkpoint out/regmix --data configs/data/regmix-1m-test.toml\n  mixatlas evaluate --data configs/data/olmix-dclm.toml --folds 5 --predictions oof.csv"
    )]
    Evaluate(EvaluateArgs),
}

/// Options every command that computes shares.
#[derive(Debug, Args)]
pub struct Common {
    /// Compute device; `wgpu` and `cuda` need the matching cargo feature.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceKind,
    /// Print machine-readable JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `mixatlas train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Data spec (TOML) naming the run files, columns and targets; see configs/data/.
    #[arg(long)]
    pub data: PathBuf,
    /// Checkpoint directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Training config (TOML); fields left out take their defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Train only these targets of the spec (repeatable); default: all.
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// Seed for the split, bootstrap, initialisation and batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace an existing checkpoint directory.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub common: Common,
}

/// `mixatlas predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Checkpoint directory written by `train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// CSV or JSONL of mixtures, with the checkpoint's mixture (and context) columns.
    #[arg(long)]
    pub input: PathBuf,
    /// Column identifying each row; default: the line number.
    #[arg(long)]
    pub key: Option<String>,
    /// Rescale rows that do not sum to 1 instead of refusing them.
    #[arg(long)]
    pub renormalize: bool,
    /// Write predictions here (CSV, or JSON with --json) instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

/// `mixatlas evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Data spec of the runs to score (its targets may be omitted with --checkpoint).
    #[arg(long)]
    pub data: PathBuf,
    /// Checkpoint to score on held-out runs.
    #[arg(long, conflicts_with = "folds", required_unless_present = "folds")]
    pub checkpoint: Option<PathBuf>,
    /// Cross-validate instead: train k models, each scored on its held-out fold.
    #[arg(long)]
    pub folds: Option<usize>,
    /// Training config for --folds (TOML).
    #[arg(long, requires = "folds")]
    pub config: Option<PathBuf>,
    /// Seed for folds and training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write per-run (out-of-fold) predictions to this CSV.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}
