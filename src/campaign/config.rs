//! A campaign's configuration: what it measures, its budget, stages, surrogate and search.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CampaignError, SlurmConfig};
use crate::acquisition::{AcquisitionKind, BetaSetting};
use crate::error::io;
use crate::proposer::{BatchMethod, TrustRegionConfig};
use crate::runs::Direction;
use crate::surrogate::select::AutoConfig;
use crate::surrogate::{EnsembleConfig, GpConfig, LogLinearConfig, SurrogateKind};

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
    use crate::acquisition::{AcquisitionKind, AcquisitionSpec, BetaSetting};

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
    /// `propose`'s acquisition.
    pub fn acquisition() -> AcquisitionKind {
        AcquisitionSpec::default().kind
    }
    /// `propose`'s beta.
    pub fn beta() -> BetaSetting {
        AcquisitionSpec::default().beta.into()
    }
    /// Random candidates per round.
    pub fn samples() -> u64 {
        20_000
    }
    /// `propose`'s total-variation distance between runs.
    pub fn min_distance() -> f64 {
        crate::proposer::ProposerConfig::default().min_distance
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
    /// Shell command with `{proposals}` and `{results}`; may be given on the command line.
    #[serde(default)]
    pub evaluator: Option<String>,
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
    /// Surrogate model.
    #[serde(default)]
    pub surrogate: SurrogateKind,
    /// Acquisition function.
    #[serde(default = "defaults::acquisition")]
    pub acquisition: AcquisitionKind,
    /// UCB beta: a number, or `"gp-ucb"` for GP-UCB's schedule.
    #[serde(default = "defaults::beta")]
    pub beta: BetaSetting,
    /// Random candidates per proposal round (refined by CMA-ES).
    #[serde(default = "defaults::samples")]
    pub samples: u64,
    /// Smallest total-variation distance between runs of one round.
    #[serde(default = "defaults::min_distance")]
    pub min_distance: f64,
    /// How a round's runs are chosen from the scored candidates (`"kriging-believer"` needs
    /// `surrogate = "gp"`).
    #[serde(default)]
    pub batch_method: BatchMethod,
    /// A TuRBO-style trust region around the best run that grows and shrinks with the
    /// rounds (`[trust_region]`, fields of `proposer::TrustRegionConfig`).
    #[serde(default)]
    pub trust_region: Option<TrustRegionConfig>,
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
    /// Ensemble training config.
    #[serde(default)]
    pub training: EnsembleConfig,
    /// Gaussian-process config (with `surrogate = "gp"` or `"auto"`).
    #[serde(default)]
    pub gp: GpConfig,
    /// Mixing-law config (with `surrogate = "loglinear"` or `"auto"`).
    #[serde(default)]
    pub loglinear: LogLinearConfig,
}

impl CampaignConfig {
    /// Every surrogate's config, as `auto` compares them (`training`, `[gp]`, `[loglinear]`).
    pub fn surrogate_configs(&self) -> AutoConfig {
        AutoConfig::of(&self.training, &self.gp, &self.loglinear)
    }

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
        let mut c: CampaignConfig = crate::io::read_toml(path, bad)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let absolute = |p: &Path| std::path::absolute(base.join(p)).map_err(io(p));
        c.space = absolute(&c.space)?;
        c.constraints = c.constraints.as_deref().map(absolute).transpose()?;
        c.objective = c.objective.as_deref().map(absolute).transpose()?;
        c.reuse = c.reuse.as_deref().map(absolute).transpose()?;
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
        if !(0.0..=1.0).contains(&c.min_distance) {
            return Err(bad(format!(
                "`min_distance` = {} is not a total-variation distance (in [0, 1])",
                c.min_distance
            ))
            .into());
        }
        if c.samples == 0 {
            return Err(bad("`samples` must be at least 1".into()).into());
        }
        c.surrogate_configs().validate()?;
        if let Some(slurm) = &c.slurm {
            slurm.validate().map_err(bad)?;
        }
        if let Some(tr) = &c.trust_region {
            tr.validate().map_err(|e| bad(e.to_string()))?;
        }
        Ok(c)
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
