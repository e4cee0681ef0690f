//! Command-line types (clap derive). Nothing here does work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::acquisition::AcquisitionKind;
use crate::device::DeviceKind;
use crate::proposer::{BatchMethod, SearcherKind};
use crate::space::sampler::{Design, Prior};
pub use crate::surrogate::SurrogateKind;

/// `mixatlas --version`: the crate version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MIXATLAS_COMMIT"),
    ")"
);

/// mixatlas: learn mixture -> outcome from logged proxy runs, with honest uncertainty.
#[derive(Debug, Parser)]
#[command(name = "mixatlas", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a surrogate (deep ensemble, GP, mixing law, or the best of them) on logged runs
    /// and write a checkpoint directory.
    #[command(
        after_help = "Examples:\n  mixatlas train --data configs/data/regmix-1m-train.toml --out out/regmix\n  mixatlas train --data runs.csv --target val_loss=lower --out out/mine"
    )]
    Train(TrainArgs),
    /// Write the data spec and space inferred from a table of runs, with a comment per choice,
    /// for editing.
    #[command(
        after_help = "Example:\n  mixatlas init runs.csv --target val_loss=lower --out out/spec\n  mixatlas train --data out/spec/data.toml --out out/mine"
    )]
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Example:\n  mixatlas completions bash > ~/.local/share/bash-completion/completions/mixatlas"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Example:\n  mixatlas man > mixatlas.1 && man ./mixatlas.1")]
    Man,
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
    /// Design a first round of proxy runs: N feasible mixtures, a CSV and one recipe per run.
    #[command(
        after_help = "Example:\n  mixatlas swarm --space configs/spaces/regmix-pile.toml --runs 64 --out out/swarm"
    )]
    Swarm(SwarmArgs),
    /// Score millions of sampled recipes, keeping the best by objective and by acquisition.
    #[command(
        after_help = "Example:\n  mixatlas simulate --checkpoint out/regmix --samples 1000000 --top 10"
    )]
    Simulate(SimulateArgs),
    /// Propose the next q mixtures: search, then a batch without near-duplicates.
    #[command(
        after_help = "Examples:\n  mixatlas propose --checkpoint out/regmix --data configs/data/regmix-1m-train.toml \\\n    --batch 8 --out out/proposals\n  mixatlas propose --checkpoint out/regmix --pool datasets/regmix/test_mixture_1m.csv \\\n    --pool-key index --acquisition mean --batch 1 --out out/pick"
    )]
    Propose(ProposeArgs),
    /// Convert a recipe (JSON) to YAML, Hugging Face probabilities, a Megatron blend or
    /// token counts.
    #[command(
        after_help = "Examples:\n  mixatlas export --recipe out/proposals/recipes/proposal-01.json --format hf \\\n    --tokens-per-example lengths.toml\n  mixatlas export --recipe r.json --format megatron --paths paths.toml\n  mixatlas export --recipe r.json --format tokens --tokens 25000000000"
    )]
    Export(ExportArgs),
    /// Run the closed loop: propose -> evaluate -> ingest -> retrain until the budget is spent.
    #[command(
        name = "loop",
        after_help = "Examples:\n  mixatlas loop --config configs/campaigns/world-multimodal.toml --campaign out/campaign\n  mixatlas loop --campaign out/campaign --resume\n  mixatlas loop --campaign out/campaign --resume --propose-only   # write the next batch, exit"
    )]
    Loop(LoopArgs),
    /// Add results that arrived for a campaign's pending runs (after `loop --propose-only`).
    #[command(
        after_help = "Example:\n  mixatlas ingest --campaign out/campaign --results results.csv"
    )]
    Ingest(IngestArgs),
    /// The simulated midtraining world as an evaluator: read proposals, write results.
    #[command(
        after_help = "Example:\n  mixatlas world --config configs/world/multimodal.toml --proposals p.jsonl --results r.csv"
    )]
    World(WorldArgs),
    /// Draw the analysis: SVG figures and one self-contained HTML report.
    #[command(
        after_help = "Example:\n  mixatlas evaluate --data configs/data/regmix-1m-train.toml --folds 5 --predictions out/oof.csv\n  mixatlas report --checkpoint out/regmix --data configs/data/regmix-1m-train.toml \\\n    --oof out/oof.csv --proposals out/proposals/proposals.json --out out/report"
    )]
    Report(ReportArgs),
    /// Replay strategies on logged runs (a pool retrospective): which finds the best run
    /// fastest? Markdown, CSV and JSON tables.
    #[command(
        after_help = "Examples:\n  mixatlas backtest --data configs/data/regmix-1m-train.toml \\\n    --config configs/backtests/strategies.toml --out out/backtest\n  mixatlas backtest --data configs/data/regmix-1m-train.toml \\\n    --config configs/backtests/strategies.toml --out out/backtest --resume"
    )]
    Backtest(BacktestArgs),
    /// Benchmarks on the simulated world.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Mixture reuse: collapse logged runs onto a reuse file's reduced space (frozen virtual
    /// domains), keeping the runs consistent with it.
    #[command(
        after_help = "Example:\n  mixatlas reuse --reuse reuse.toml --data runs.toml --out out/reduced\n  mixatlas train --data out/reduced/data.toml --out out/ck\n  mixatlas propose --checkpoint out/ck --reuse reuse.toml --out out/proposals"
    )]
    Reuse(ReuseArgs),
    /// Read an Olmix fit config or W&B runs into files mixatlas reads (space, data spec,
    /// constraints, objective).
    #[command(subcommand)]
    Import(ImportCommand),
}

/// `mixatlas reuse`.
#[derive(Debug, Args)]
pub struct ReuseArgs {
    /// The reuse file (TOML: the full space and its `[[virtual]]` domains).
    #[arg(long)]
    pub reuse: PathBuf,
    /// Logged runs over the full space (data spec).
    #[arg(long)]
    pub data: PathBuf,
    /// Output directory: the reduced space, the reused runs and their data spec.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory that mixatlas wrote.
    #[arg(long)]
    pub force: bool,
}

/// `mixatlas import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An Olmix fit config: space (token counts), constraints (repetition cap, fixed weights),
    /// objective (obj_weights) and a data spec over its swarm CSVs.
    #[command(
        after_help = "Example:\n  mixatlas import olmix fit.yaml --out out/olmix\n  mixatlas train --data out/olmix/data.toml --out out/olmix-ck"
    )]
    Olmix(ImportOlmixArgs),
    /// W&B run directories (their `run-<id>.wandb` log, or files/config.yaml and
    /// files/wandb-summary.json) or a runs-table CSV export: a runs table, a space and a data
    /// spec.
    #[command(
        after_help = "Examples:\n  mixatlas import wandb wandb/* --mixture 'data.mix.*' --target eval/loss --out out/runs\n  mixatlas import wandb export.csv --mixture 'mix.*' --target 'eval/acc=higher' --out out/runs"
    )]
    Wandb(ImportWandbArgs),
}

/// `mixatlas import olmix`.
#[derive(Debug, Args)]
pub struct ImportOlmixArgs {
    /// The Olmix fit config (YAML).
    pub config: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory that mixatlas wrote.
    #[arg(long)]
    pub force: bool,
}

/// `mixatlas import wandb`.
#[derive(Debug, Args)]
pub struct ImportWandbArgs {
    /// Run directories, or one CSV export of the runs table.
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// Config key pattern with one `*` for the domain, e.g. `data.mix.*`.
    #[arg(long)]
    pub mixture: String,
    /// A summary metric to predict, `NAME` (lower is better) or `NAME=higher`; repeatable.
    #[arg(long = "target", required = true)]
    pub targets: Vec<String>,
    /// Key column of a CSV export.
    #[arg(long, default_value = "Name")]
    pub key: String,
    /// Skip runs whose summary `_step` is below this (unfinished trainings).
    #[arg(long)]
    pub min_step: Option<f64>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory that mixatlas wrote.
    #[arg(long)]
    pub force: bool,
}

/// `mixatlas bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Compare mixing strategies on the simulated world (markdown table and CSV).
    #[command(
        after_help = "Example:\n  mixatlas bench strategies --world configs/world/multimodal.toml --seeds 5 --out out/strategies"
    )]
    Strategies(StrategiesArgs),
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

/// How to read a table of runs given as `--data` (a `.csv`, `.jsonl` or `.ndjson` file)
/// instead of a data spec: what `mixatlas init` would infer.
#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// With a table as --data: its mixture columns, comma-separated, in order; default: the
    /// numeric columns whose rows sum to 1.
    #[arg(long, value_delimiter = ',')]
    pub mixture: Vec<String>,
    /// With a table as --data: the column naming each run; default: the first column that
    /// is not numeric (none: the line number).
    #[arg(long)]
    pub key: Option<String>,
    /// With a table as --data: rescale mixture rows whose weights do not sum to 1 (within
    /// 0.01) instead of refusing them.
    #[arg(long)]
    pub renormalize: bool,
}

/// `mixatlas init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The table of runs (CSV or JSONL): one row per run, its mixture weights and outcomes.
    pub table: PathBuf,
    /// An outcome to predict, `NAME=lower` (losses) or `NAME=higher` (accuracies); repeatable.
    #[arg(long = "target", required = true)]
    pub targets: Vec<String>,
    // Flattened: documented on `TableArgs`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub table_args: TableArgs,
    /// Directory to write `data.toml` and `space.toml` into.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory that mixatlas wrote.
    #[arg(long)]
    pub force: bool,
}

/// `mixatlas train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The runs: a data spec (TOML; see configs/data/), or a table (.csv, .jsonl) with
    /// --target NAME=lower|higher.
    #[arg(long)]
    pub data: PathBuf,
    /// Checkpoint directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Training config (TOML: an ensemble or a GP config, per --surrogate); fields left out
    /// take their defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A target: `NAME` trains only that target of the spec (repeatable; default: all); with
    /// a table as --data, `NAME=lower` or `NAME=higher` says which way is better.
    #[arg(long = "target")]
    pub targets: Vec<String>,
    // Flattened: documented on `TableArgs`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub table: TableArgs,
    /// Seed for the split, bootstrap, initialisation and batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace an existing checkpoint directory.
    #[arg(long)]
    pub force: bool,
    /// Model: the deep ensemble, or an ARD Gaussian process (the MixAtlas paper's surrogate).
    #[arg(long, value_enum, default_value = "ensemble")]
    pub surrogate: SurrogateKind,
    // Flattened: documented on `Common`.
    #[allow(missing_docs)]
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
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    // Flattened: documented on `Common`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub common: Common,
}

/// `mixatlas evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The runs to score: a data spec (its targets may be omitted with --checkpoint), or a
    /// table (.csv, .jsonl; with --folds, name its targets with --target NAME=lower|higher).
    #[arg(long)]
    pub data: PathBuf,
    /// With --folds: a target to evaluate; `NAME` evaluates only that target of the spec
    /// (repeatable; default: all); with a table as --data, `NAME=lower` or `NAME=higher` says
    /// which way is better.
    #[arg(long = "target", requires = "folds")]
    pub targets: Vec<String>,
    // Flattened: documented on `TableArgs`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub table: TableArgs,
    /// Checkpoint to score on held-out runs.
    #[arg(long, conflicts_with = "folds", required_unless_present = "folds")]
    pub checkpoint: Option<PathBuf>,
    /// Cross-validate instead: train k models, each scored on its held-out fold.
    #[arg(long)]
    pub folds: Option<usize>,
    /// Training config for --folds (TOML: an ensemble or a GP config, per --surrogate).
    #[arg(long, requires = "folds")]
    pub config: Option<PathBuf>,
    /// Model cross-validated with --folds.
    #[arg(long, value_enum, default_value = "ensemble", requires = "folds")]
    pub surrogate: SurrogateKind,
    /// Seed for folds and training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write per-run (out-of-fold) predictions to this CSV.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    // Flattened: documented on `Common`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub common: Common,
}

/// What to optimise and under which constraints: shared by `simulate` and `propose`.
#[derive(Debug, Args)]
pub struct ScoringArgs {
    /// Checkpoint directory written by `train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Data spec of the logged runs: the incumbent for ei/pi, the trust region's anchors and
    /// the distance of each proposal to its nearest logged run.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Objective (TOML; see `mixatlas::objective`); default: every target, standardised,
    /// equal weights. `simulate` takes a second one for a Pareto front.
    #[arg(long = "objective")]
    pub objectives: Vec<PathBuf>,
    /// Constraints (TOML; see `mixatlas::space::constraints`); default: the space's bounds.
    #[arg(long)]
    pub constraints: Option<PathBuf>,
    /// Acquisition function.
    #[arg(long, value_enum, default_value = "mean")]
    pub acquisition: AcquisitionKind,
    /// UCB/LCB exploration weight (mu ± sqrt(beta) sigma).
    #[arg(long, default_value_t = 1.0, conflicts_with = "gp_ucb")]
    pub beta: f64,
    /// Use the GP-UCB schedule beta_t instead of a fixed beta.
    #[arg(long)]
    pub gp_ucb: bool,
    /// GP-UCB confidence delta.
    #[arg(long, default_value_t = 0.1)]
    pub delta: f64,
    /// EI/PI margin in objective units.
    #[arg(long, default_value_t = 0.0)]
    pub xi: f64,
    /// Context inputs of the predictor, `name=value` (repeatable), e.g. the stage index.
    #[arg(long = "context", value_name = "NAME=VALUE")]
    pub context: Vec<String>,
    /// Prior the samplers draw around.
    #[arg(long, value_enum, default_value = "tokens")]
    pub prior: Prior,
    /// Seed for sampling, search and Thompson draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    // Flattened: documented on `Common`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub common: Common,
}

impl ScoringArgs {
    /// The acquisition function and parameters these arguments ask for.
    pub fn acquisition_spec(&self) -> crate::acquisition::AcquisitionSpec {
        crate::acquisition::AcquisitionSpec {
            kind: self.acquisition,
            beta: (!self.gp_ucb).then_some(self.beta),
            delta: self.delta,
            xi: self.xi,
        }
    }

    /// The files and directories these arguments read (an output must be none of them).
    pub fn inputs(&self) -> Vec<&std::path::Path> {
        let mut inputs = vec![self.checkpoint.as_path()];
        inputs.extend(self.data.as_deref());
        inputs.extend(self.constraints.as_deref());
        inputs.extend(self.objectives.iter().map(PathBuf::as_path));
        inputs
    }
}

/// `mixatlas simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    // Flattened: documented on `ScoringArgs`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Candidates to sample and score.
    #[arg(long, default_value_t = 1_000_000)]
    pub samples: u64,
    /// Rows per chunk (memory grows with it, not with --samples); default 8192 on the CPU
    /// and 1048576 on a GPU, where each chunk is one kernel launch.
    #[arg(long)]
    pub chunk: Option<usize>,
    /// Candidates kept per ranking.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// On a GPU, draw the candidates on the CPU (the same ones a CPU run with this seed
    /// scores) instead of on the device (same law and constraints, the device's own random
    /// stream).
    #[arg(long)]
    pub host_draws: bool,
    /// Write the result (JSON) here.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// `mixatlas propose`.
#[derive(Debug, Args)]
pub struct ProposeArgs {
    // Flattened: documented on `ScoringArgs`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Proposals to return (q).
    #[arg(long, short = 'q', default_value_t = 8)]
    pub batch: usize,
    /// A mixture-reuse file whose reduced space the checkpoint was trained on: recipes are
    /// written over the full space.
    #[arg(long)]
    pub reuse: Option<PathBuf>,
    /// Searchers, run in order, each refining the best so far [default: random,cmaes,gradient
    /// for an ensemble, random,cmaes for a GP or a mixing law].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub searchers: Option<Vec<SearcherKind>>,
    /// Candidates the random searcher samples.
    #[arg(long, default_value_t = 100_000)]
    pub samples: u64,
    /// How the batch is chosen from the best candidates: `distance` (greedy, --min-distance
    /// apart), `kriging-believer` (a GP conditioned on its mean at each pick; GP checkpoints)
    /// or `local-penalization` (any surrogate).
    #[arg(long, value_enum, default_value = "distance")]
    pub batch_method: BatchMethod,
    /// Score the mixtures of this file instead of searching (pool mode).
    #[arg(long, conflicts_with = "searchers")]
    pub pool: Option<PathBuf>,
    /// Key column of --pool; default: the line number.
    #[arg(long, requires = "pool")]
    pub pool_key: Option<String>,
    /// Smallest total-variation distance between two proposals and from a logged run
    /// [default: 0.05 when searching, 0 in pool mode, whose candidates are distinct real
    /// mixtures].
    #[arg(long)]
    pub min_distance: Option<f64>,
    /// Output directory: proposals.csv, proposals.json, recipes/.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

/// `mixatlas swarm`.
#[derive(Debug, Args)]
pub struct SwarmArgs {
    /// Space file (TOML).
    #[arg(long)]
    pub space: PathBuf,
    /// Number of runs.
    #[arg(long)]
    pub runs: usize,
    /// Output directory: swarm.csv and recipes/run-NNNN.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Constraints (TOML).
    #[arg(long)]
    pub constraints: Option<PathBuf>,
    /// Design.
    #[arg(long, value_enum, default_value = "dirichlet")]
    pub design: Design,
    /// Prior the draws centre on.
    #[arg(long, value_enum, default_value = "tokens")]
    pub prior: Prior,
    /// Decimals weights are rounded to (the sum stays exactly 1 at that precision), 1 to 12.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=12))]
    pub decimals: u32,
    /// Smallest total-variation distance between two runs (near-duplicates are redrawn).
    #[arg(long, default_value_t = 0.01)]
    pub min_distance: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The recipe as JSON.
    Json,
    /// The recipe as YAML.
    Yaml,
    /// `probabilities` for datasets.interleave_datasets, in domain order (JSON list): per
    /// example, from the token shares and --tokens-per-example.
    Hf,
    /// Megatron-LM `--data-path` blend (needs --paths).
    Megatron,
    /// Tokens per domain for a budget (needs --tokens), CSV.
    Tokens,
    /// olmo-core `SourceMixtureDatasetConfig.source_list` YAML (needs --paths; --tokens and
    /// --space give `max_repetitions`).
    OlmoCore,
    /// Olmix launch `mix` YAML (weights and repetition factors; --tokens and --space give the
    /// factors).
    Olmix,
    /// Levanter mixture YAML: `configs` and `train_weights` (needs --paths); a staged
    /// `[[step, weights]]` schedule from --schedule and --stage-steps.
    Levanter,
    /// MosaicML streaming `streams` YAML with per-sample `proportion` (needs --paths, and
    /// --tokens-per-example or --assume-equal-examples).
    Mosaic,
    /// DoReMi domain-weights JSON (`train_domain_weights`, `eval_domain_weights`).
    Doremi,
}

/// `mixatlas export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Recipe file (JSON), as written by propose or swarm.
    #[arg(
        long,
        required_unless_present = "schedule",
        conflicts_with = "schedule"
    )]
    pub recipe: Option<PathBuf>,
    /// A campaign's committed schedule (`final.json`), for --format levanter: one stage of
    /// weights per stage.
    #[arg(long, requires = "stage_steps")]
    pub schedule: Option<PathBuf>,
    /// With --schedule: the training step each stage starts at, comma-separated, from 0.
    #[arg(long, value_delimiter = ',', requires = "schedule")]
    pub stage_steps: Vec<u64>,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Path map (TOML: domain = "path" or ["path", ...]): data prefixes for megatron, paths
    /// or globs for olmo-core, train_urls for levanter, the remote for mosaic.
    #[arg(long, required_if_eq_any([("format", "megatron"), ("format", "olmo-core"), ("format", "levanter"), ("format", "mosaic")]))]
    pub paths: Option<PathBuf>,
    /// For --format hf and mosaic: mean tokens per example of each domain (TOML: domain =
    /// tokens), so the per-example probabilities realise the recipe's token shares.
    #[arg(long, conflicts_with = "assume_equal_examples")]
    pub tokens_per_example: Option<PathBuf>,
    /// For --format hf and mosaic without a table: write the token shares as per-example
    /// probabilities (right only if every domain's examples have the same mean length).
    #[arg(long)]
    pub assume_equal_examples: bool,
    /// Token budget (an integer; `2.5e10` notation is fine): required by --format tokens;
    /// with --space, the repetition caps of olmo-core and olmix.
    #[arg(long, required_if_eq("format", "tokens"), value_parser = token_count)]
    pub tokens: Option<u64>,
    /// Space file: checks the recipe's domains and gives epochs per domain for tokens.
    #[arg(long, conflicts_with = "reuse")]
    pub space: Option<PathBuf>,
    /// A mixture-reuse file: a recipe over its reduced space is expanded to the full space
    /// (which also gives the token counts) before it is converted.
    #[arg(long)]
    pub reuse: Option<PathBuf>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// `mixatlas loop`.
#[derive(Debug, Args)]
pub struct LoopArgs {
    /// Campaign directory.
    #[arg(long)]
    pub campaign: PathBuf,
    /// Campaign configuration (TOML) for a new campaign.
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Continue the campaign in --campaign.
    #[arg(long)]
    pub resume: bool,
    /// With --config: replace the campaign in --campaign, if mixatlas created it (a directory
    /// mixatlas did not create is never replaced).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Evaluator command (overrides the configuration's), with {proposals} and {results}.
    #[arg(long)]
    pub evaluator: Option<String>,
    /// Write the next batch of proposals and exit; add results later with `ingest`.
    #[arg(long)]
    pub propose_only: bool,
    // Flattened: documented on `Common`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub common: Common,
}

/// `mixatlas ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Campaign directory.
    #[arg(long)]
    pub campaign: PathBuf,
    /// Results file (CSV: run_id, targets, `signal:<name>` columns).
    #[arg(long)]
    pub results: PathBuf,
}

/// `mixatlas world`.
#[derive(Debug, Args)]
pub struct WorldArgs {
    /// World configuration (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Proposals file (JSON Lines) as a campaign writes it.
    #[arg(long)]
    pub proposals: PathBuf,
    /// Results file (CSV) to write.
    #[arg(long)]
    pub results: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Model scale (capacity scale / (1 + scale)).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Expected scores, without noise.
    #[arg(long)]
    pub no_noise: bool,
}

/// `mixatlas backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Data spec of the logged runs: the pool the strategies choose from.
    #[arg(long)]
    pub data: PathBuf,
    /// Backtest config (TOML): initial runs, batch, budget, seeds, strategies.
    #[arg(long)]
    pub config: PathBuf,
    /// Objective (TOML); default: the single target in raw units (regret in its units), or
    /// every target standardised over the pool.
    #[arg(long)]
    pub objective: Option<PathBuf>,
    /// Override the config's number of seeds.
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Jobs (strategy x seed) run at once, each on one thread; default: the cores available.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Output directory: backtest.md, backtest.csv, backtest.json and per-seed results.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue a backtest in --out: seeds with a result are not replayed again.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Replace an existing output directory (one mixatlas wrote).
    #[arg(long)]
    pub force: bool,
    /// Compute device for ensemble training.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceKind,
}

/// `mixatlas bench strategies`.
#[derive(Debug, Args)]
pub struct StrategiesArgs {
    /// World configuration (TOML).
    #[arg(long)]
    pub world: PathBuf,
    /// Seeds per strategy.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Proxy runs a search strategy may use.
    #[arg(long, default_value_t = 48)]
    pub runs: usize,
    /// Output directory for strategies.md and strategies.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory (one mixatlas wrote).
    #[arg(long)]
    pub force: bool,
    /// A reduced run for CI: fewer candidates and training epochs.
    #[arg(long)]
    pub quick: bool,
}

/// `mixatlas report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Checkpoint directory (any surrogate); default with --campaign: the model of the
    /// campaign's latest round.
    #[arg(long, required_unless_present = "campaign")]
    pub checkpoint: Option<PathBuf>,
    /// Data spec of the logged runs (partial-dependence ranges, the projection).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Out-of-fold predictions (`evaluate --folds K --predictions FILE`) for parity and
    /// calibration.
    #[arg(long)]
    pub oof: Option<PathBuf>,
    /// proposals.json written by `propose`; default: the best of a simulation.
    #[arg(long)]
    pub proposals: Option<PathBuf>,
    /// Campaign directory for its progress figures.
    #[arg(long)]
    pub campaign: Option<PathBuf>,
    /// backtest.json written by `backtest`, for its best-so-far figure.
    #[arg(long)]
    pub backtest: Option<PathBuf>,
    /// Objective (TOML) ranking simulated recipes; default: every target standardised.
    #[arg(long)]
    pub objective: Option<PathBuf>,
    /// The one target to draw; default: a section for each target (up to 8).
    #[arg(long)]
    pub target: Option<String>,
    /// Context inputs to hold every figure at, `name=value` (repeatable), for a model with
    /// context inputs; default with --campaign: the campaign's latest state.
    #[arg(long = "context", value_name = "NAME=VALUE")]
    pub context: Vec<String>,
    /// Also write PNG versions of the figures.
    #[arg(long)]
    pub png: bool,
    /// Output directory: report.html and figures/.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    // Flattened: documented on `Common`.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub common: Common,
}

impl ReportArgs {
    /// The files and directories the report reads (its output must be none of them).
    pub fn inputs(&self) -> Vec<&std::path::Path> {
        let mut inputs = Vec::new();
        let optional = [
            &self.checkpoint,
            &self.data,
            &self.oof,
            &self.proposals,
            &self.campaign,
            &self.objective,
        ];
        inputs.extend(optional.into_iter().filter_map(|p| p.as_deref()));
        inputs
    }
}

/// A token count written as an integer or in scientific notation (`2.5e10`): a whole number
/// from 1 to 2^53 (beyond which f64 no longer holds every integer).
fn token_count(text: &str) -> Result<u64, String> {
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n);
    }
    let x: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of tokens"))?;
    if x.is_finite() && x >= 1.0 && x.fract() == 0.0 && x <= 2f64.powi(53) {
        Ok(x as u64)
    } else {
        Err(format!(
            "`{text}` is not a whole number of tokens from 1 to 2^53"
        ))
    }
}
