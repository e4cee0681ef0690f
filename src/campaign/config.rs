//! A campaign's configuration: what it measures, its budget, stages, surrogate and search.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CampaignError, SlurmConfig};
use crate::error::io;
use crate::runs::Direction;
use crate::strategy::{Mode, StrategyModel, StrategySpec};

/// One target the evaluator reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignTarget {
    /// Column name in results files.
    pub name: String,
    /// Whether lower or higher is better.
    pub direction: Direction,
}

/// Defaults of the optional fields (serde needs functions).
mod defaults {

    /// Seconds an evaluator call may take: an hour.
    pub fn evaluator_timeout() -> f64 {
        3600.0
    }
    /// Runs per round.
    pub fn batch() -> usize {
        8
    }
    /// Runs of the initial Dirichlet design.
    pub fn initial_runs() -> usize {
        16
    }
    /// Tokens of one proxy run, in the budget's units.
    pub fn tokens_per_run() -> f64 {
        1.0
    }
    /// One stage.
    pub fn stages() -> usize {
        1
    }
}

/// A campaign's configuration (TOML). Paths are relative to the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignConfig {
    /// Mixture space.
    pub space: PathBuf,
    /// What the evaluator measures.
    pub targets: Vec<CampaignTarget>,
    /// Signals the evaluator reports (`signal:<name>` columns) that feed the next stage.
    #[serde(default)]
    pub signals: Vec<String>,
    /// Shell command with `{proposals}` and `{results}` (the files it reads and writes) and
    /// `{mixatlas}` (this binary); may be given on the command line instead.
    #[serde(default)]
    pub evaluator: Option<String>,
    /// Directory the evaluator runs in, relative to this file; default: the file's own
    /// directory (the configured evaluator's paths are relative to the config, like every
    /// other path in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator_dir: Option<PathBuf>,
    /// Seconds an evaluator call may take (with `[slurm]`: a batch's array, queueing
    /// included).
    #[serde(default = "defaults::evaluator_timeout")]
    pub evaluator_timeout: f64,
    /// Run the evaluator once per run as a Slurm job array (`[slurm]`, fields of
    /// [`SlurmConfig`]; see `campaign::slurm`).
    #[serde(default)]
    pub slurm: Option<SlurmConfig>,
    /// Runs per round.
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    /// Runs chosen by an initial Dirichlet design before the surrogate takes over.
    #[serde(default = "defaults::initial_runs")]
    pub initial_runs: usize,
    /// Run budget over all stages.
    pub max_runs: usize,
    /// Token budget over all proxy runs (units of `tokens_per_run`).
    #[serde(default)]
    pub max_tokens: Option<f64>,
    /// Tokens one proxy run trains on.
    #[serde(default = "defaults::tokens_per_run")]
    pub tokens_per_run: f64,
    /// Midtraining stages.
    #[serde(default = "defaults::stages")]
    pub stages: usize,
    /// How each round's runs are chosen (`[strategy]`): the same table a backtest's
    /// `[[strategy]]` entries hold, so a strategy that wins a backtest is pasted here.
    #[serde(default)]
    pub strategy: StrategySpec,
    /// Seed of every random choice.
    #[serde(default)]
    pub seed: u64,
    /// Constraints file.
    #[serde(default)]
    pub constraints: Option<PathBuf>,
    /// Objective file.
    #[serde(default)]
    pub objective: Option<PathBuf>,
    /// A mixture-reuse file (`space::reuse`): search its reduced space, hand the evaluator
    /// and `final.json` the full `space`.
    #[serde(default)]
    pub reuse: Option<PathBuf>,
}

impl CampaignConfig {
    /// The files this configuration reads (space, constraints, objective, reuse): a campaign
    /// directory may never be, or hold, one of them.
    pub fn input_files(&self) -> Vec<PathBuf> {
        let optional = [&self.constraints, &self.objective, &self.reuse];
        std::iter::once(self.space.clone())
            .chain(optional.into_iter().flatten().cloned())
            .collect()
    }

    /// Reads a configuration, resolving its paths against its directory.
    pub fn from_file(path: &Path) -> crate::Result<Self> {
        let bad = |message: String| CampaignError::Config {
            path: path.to_owned(),
            message,
        };
        let mut c = parse(&crate::io::read_text(path)?).map_err(bad)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let absolute = |p: &Path| std::path::absolute(base.join(p)).map_err(io(p));
        c.space = absolute(&c.space)?;
        c.constraints = c.constraints.as_deref().map(absolute).transpose()?;
        c.objective = c.objective.as_deref().map(absolute).transpose()?;
        c.reuse = c.reuse.as_deref().map(absolute).transpose()?;
        c.evaluator_dir = c.evaluator_dir.as_deref().map(absolute).transpose()?;
        if c.targets.is_empty() {
            return Err(bad("`targets` is empty".into()).into());
        }
        for (field, v) in [
            ("batch", c.batch),
            ("initial_runs", c.initial_runs),
            ("max_runs", c.max_runs),
            ("stages", c.stages),
        ] {
            if v == 0 {
                return Err(bad(format!("`{field}` must be at least 1")).into());
            }
        }
        if c.max_runs < c.stages {
            return Err(bad(format!(
                "`max_runs` = {} is below `stages` = {}",
                c.max_runs, c.stages
            ))
            .into());
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if c.max_tokens.is_some_and(|t| !positive(t)) {
            return Err(bad("`max_tokens` must be positive and finite".into()).into());
        }
        if !(positive(c.tokens_per_run)
            && positive(c.evaluator_timeout)
            && c.evaluator_timeout < 1e9)
        {
            return Err(bad(
                "`tokens_per_run` and `evaluator_timeout` must be positive and finite".into(),
            )
            .into());
        }
        let strategy = |problem: String| bad(format!("[strategy]: {problem}"));
        if c.strategy.surrogate == StrategyModel::Random {
            let problem = "`surrogate` = \"random\" is a backtest baseline; a campaign's rounds \
                           need a surrogate (ensemble, gp, loglinear or auto)";
            return Err(strategy(problem.into()).into());
        }
        if c.strategy.samples == 0 {
            return Err(strategy("`samples` must be at least 1".into()).into());
        }
        c.strategy.validate().map_err(strategy)?;
        if let Some(slurm) = &c.slurm {
            slurm.validate().map_err(bad)?;
        }
        Ok(c)
    }

    /// The minimum total-variation distance between runs.
    pub fn min_distance(&self) -> f64 {
        self.strategy.min_distance(Mode::Search)
    }

    /// Runs the budget allows over all stages.
    pub fn run_budget(&self) -> usize {
        let by_tokens = self
            .max_tokens
            .map_or(usize::MAX, |t| (t / self.tokens_per_run).floor() as usize);
        self.max_runs.min(by_tokens)
    }

    /// Context columns of the predictor: `stage` and one per signal, when staged or signalled.
    pub fn context_names(&self) -> Vec<String> {
        if self.stages == 1 && self.signals.is_empty() {
            return Vec::new();
        }
        std::iter::once("stage".to_owned())
            .chain(self.signals.iter().map(|s| format!("signal:{s}")))
            .collect()
    }
}

/// The strategy keys campaign configs of mixatlas 0.1 held at the top level, and its tables.
const FLAT_STRATEGY_KEYS: [&str; 6] = [
    "surrogate",
    "acquisition",
    "beta",
    "samples",
    "min_distance",
    "batch_method",
];
const FLAT_STRATEGY_TABLES: [&str; 4] = ["trust_region", "training", "gp", "loglinear"];

/// Parses a configuration. One in the 0.1 shape (strategy fields at the top level, no
/// `[strategy]` table) is read through [`migrate_flat`]; errors keep their line numbers.
fn parse(text: &str) -> Result<CampaignConfig, String> {
    toml::from_str(text).or_else(|direct| match migrate_flat(text) {
        Some(migrated) => toml::from_str(&migrated).map_err(|e| e.to_string()),
        None => Err(direct.to_string()),
    })
}

/// A 0.1-shape config rewritten line by line into the current shape (`surrogate = ..` before
/// the first table becomes `strategy.surrogate = ..`, `[training]` becomes
/// `[strategy.training]`), so lines keep their numbers; `None` when there is nothing to move.
fn migrate_flat(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let (mut moved, mut in_tables) = (false, false);
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(header) = trimmed.strip_prefix('[') {
            in_tables = true;
            let name = header.split(']').next().unwrap_or("").trim();
            if name == "strategy" || name.starts_with("strategy.") {
                return None;
            }
            let first = name.split('.').next().unwrap_or("").trim();
            if FLAT_STRATEGY_TABLES.contains(&first) && !header.starts_with('[') {
                out.push_str(&line.replacen(name, &format!("strategy.{name}"), 1));
                moved = true;
                continue;
            }
        } else if !in_tables {
            // `gp.starts = 2` moves with its table: the key's first dotted segment decides.
            let key = trimmed.split(['=', ' ', '\t', '.']).next().unwrap_or("");
            if FLAT_STRATEGY_KEYS.contains(&key) || FLAT_STRATEGY_TABLES.contains(&key) {
                out.push_str(&line[..line.len() - trimmed.len()]);
                out.push_str("strategy.");
                out.push_str(trimmed);
                moved = true;
                continue;
            }
        }
        out.push_str(line);
    }
    moved.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_0_1_config_is_read_in_the_current_shape_keeping_its_lines() {
        let old = "max_runs = 8\nsurrogate = \"gp\"\nsamples = 500\n[trust_region]\n[gp]\nstarts = 2\n\
                   [training.input_transform]\nkind = \"sqrt\"\n";
        let migrated = migrate_flat(old).unwrap();
        assert_eq!(
            migrated,
            "max_runs = 8\nstrategy.surrogate = \"gp\"\nstrategy.samples = 500\n\
             [strategy.trust_region]\n[strategy.gp]\nstarts = 2\n\
             [strategy.training.input_transform]\nkind = \"sqrt\"\n"
        );
        let table: toml::Table = migrated.parse().unwrap();
        assert_eq!(table["strategy"]["gp"]["starts"].as_integer(), Some(2));
        assert_eq!(
            migrate_flat("max_runs = 8\n[strategy]\nsurrogate = \"gp\"\n"),
            None
        );
        assert_eq!(migrate_flat("max_runs = 8\n[slurm]\nsamples = 1\n"), None);
    }
}
