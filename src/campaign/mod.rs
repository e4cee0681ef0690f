//! The closed loop: rounds of propose -> evaluate -> ingest -> retrain until the run or token
//! budget is spent, across midtraining stages, resumable after any interruption.
//!
//! A campaign lives in a directory:
//!
//! ```text
//! campaign.toml              the configuration, fixed at creation
//! journal.jsonl              append-only events: proposed, results, committed (the truth)
//! state.json                 a summary snapshot, rewritten atomically after every step
//! rounds/NNN/proposals.jsonl the round's proposals (the evaluator's input)
//! rounds/NNN/results.csv     the evaluator's output, as it left it
//! rounds/NNN/model/          the surrogate trained for the round
//! final.json                 the committed schedule, once every stage is done
//! ```
//!
//! Every decision is journaled before it is acted on, and results are journaled in one line
//! per batch, so a crash at any point (`kill -9` included) loses at most work in flight:
//! `--resume` replays the journal, re-proposes a round whose proposal line was torn (the same
//! seed gives the same batch), and asks the evaluator again only for runs without results.
//!
//! Stages: with `stages = S`, the run budget is split evenly over S stages. Stage s's runs
//! start from the mixtures committed for stages before it (the proposals' `history`); when its
//! budget is spent the best measured run's mixture is committed, and its signals (e.g. per-task
//! uncertainty) become the context of stage s+1's runs. The predictor's inputs are the mixture
//! plus `stage` and one `signal:<name>` per configured signal, so it learns how the best next
//! mixture depends on the model's state. Stage 0's signals are 1 (no measurement yet: maximal
//! uncertainty).

mod evaluator;
mod journal;
pub mod strategies;

pub use evaluator::{CommandEvaluator, Evaluator, read_results};
pub use journal::{Event, Journal, PlannedRun, RunResult};

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::acquisition::{AcquisitionKind, AcquisitionSpec};
use crate::error::io;
use crate::io::{Overwrite, write_atomic};
use crate::objective::{Objective, ObjectiveSpec};
use crate::predictor::{EnsembleConfig, Model, Normalizer, SurrogateKind, checkpoint};
use crate::proposer::{Proposer, ProposerConfig, SearcherKind, SurrogateSpec};
use crate::runs::{Direction, Runs, Schema, TargetSpec};
use crate::search::{SearchObserver, derive_seed};
use crate::space::sampler::{DirichletSampler, Prior, prior_weights};
use crate::space::{ConstraintSpec, Constraints, Space};

/// Why a campaign step failed. The campaign stays resumable after every one of these.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The configuration did not parse or is out of range.
    #[error("{path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A journal line is corrupt (not the torn last line a crash leaves).
    #[error("{path}:{line}: corrupt journal entry: {message}")]
    Journal {
        /// The journal.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The campaign directory exists already or is missing.
    #[error("{path}: {problem}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// The evaluator exited with a failure.
    #[error("evaluator failed (exit status {status:?}): {command}\n{tail}\n(full output: {log})")]
    EvaluatorFailed {
        /// The command run.
        command: String,
        /// Its exit code, if it exited.
        status: Option<i32>,
        /// The last lines of its output.
        tail: String,
        /// The full output.
        log: PathBuf,
    },
    /// The evaluator ran past its time limit and was killed.
    #[error("evaluator killed after {seconds} s: {command} (output: {log})")]
    EvaluatorTimeout {
        /// The command run.
        command: String,
        /// The limit.
        seconds: f64,
        /// Its output.
        log: PathBuf,
    },
    /// The evaluator exited successfully without writing results.
    #[error("the evaluator wrote no results file at {path}")]
    NoResults {
        /// Where results were expected.
        path: PathBuf,
    },
    /// A results file is malformed.
    #[error("{path}:{line}: column `{column}`: {problem}")]
    Results {
        /// The results file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The column.
        column: String,
        /// What is wrong.
        problem: String,
    },
    /// Some runs got no result; the ones that did are kept.
    #[error("no results for {count} run(s): {ids} (kept the others; `--resume` asks again)")]
    MissingRuns {
        /// How many.
        count: usize,
        /// Their ids.
        ids: String,
    },
    /// There is nothing awaiting results.
    #[error("no runs are awaiting results")]
    NothingPending,
}

/// One target the evaluator reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignTarget {
    /// Column name in results files.
    pub name: String,
    /// Whether lower or higher is better.
    pub direction: Direction,
}

fn d_timeout() -> f64 {
    3600.0
}
fn d_batch() -> usize {
    8
}
fn d_initial() -> usize {
    16
}
fn d_one() -> usize {
    1
}
fn d_tokens() -> f64 {
    1.0
}
fn d_beta() -> Option<f64> {
    Some(4.0)
}
fn d_samples() -> u64 {
    20_000
}
fn d_distance() -> f64 {
    0.05
}
fn d_acq() -> AcquisitionKind {
    AcquisitionKind::Ucb
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
    /// Seconds an evaluator call may take.
    #[serde(default = "d_timeout")]
    pub evaluator_timeout: f64,
    /// Runs per round.
    #[serde(default = "d_batch")]
    pub batch: usize,
    /// Runs chosen by an initial Dirichlet design before the surrogate takes over.
    #[serde(default = "d_initial")]
    pub initial_runs: usize,
    /// Run budget over all stages.
    pub max_runs: usize,
    /// Token budget over all proxy runs (units of `tokens_per_run`).
    #[serde(default)]
    pub max_tokens: Option<f64>,
    /// Tokens one proxy run trains on.
    #[serde(default = "d_tokens")]
    pub tokens_per_run: f64,
    /// Midtraining stages.
    #[serde(default = "d_one")]
    pub stages: usize,
    /// Surrogate model.
    #[serde(default)]
    pub surrogate: SurrogateKind,
    /// Acquisition function.
    #[serde(default = "d_acq")]
    pub acquisition: AcquisitionKind,
    /// UCB beta; absent = GP-UCB's schedule.
    #[serde(default = "d_beta")]
    pub beta: Option<f64>,
    /// Random candidates per proposal round (refined by CMA-ES).
    #[serde(default = "d_samples")]
    pub samples: u64,
    /// Smallest total-variation distance between runs of one round.
    #[serde(default = "d_distance")]
    pub min_distance: f64,
    /// Seed of every random choice.
    #[serde(default)]
    pub seed: u64,
    /// Constraints file.
    #[serde(default)]
    pub constraints: Option<PathBuf>,
    /// Objective file.
    #[serde(default)]
    pub objective: Option<PathBuf>,
    /// Ensemble training config.
    #[serde(default)]
    pub training: EnsembleConfig,
}

impl CampaignConfig {
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
        if c.targets.is_empty() {
            return Err(bad("`targets` is empty".into()).into());
        }
        for (field, v) in [
            ("batch", c.batch),
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
        c.training.validate()?;
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

/// What the next step of a campaign is.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Runs await results.
    Evaluate(Vec<PlannedRun>),
    /// Stage `0` has spent its budget: fix its mixture.
    Commit(usize),
    /// Propose `count` runs for `stage` in round `round`.
    Propose {
        /// Round number.
        round: usize,
        /// Stage.
        stage: usize,
        /// Runs to propose.
        count: usize,
    },
    /// Every stage is committed.
    Done,
}

/// An open campaign: configuration, journal and the state replayed from it.
#[derive(Debug)]
pub struct Campaign {
    /// The directory.
    pub dir: PathBuf,
    /// The configuration.
    pub config: CampaignConfig,
    /// The space.
    pub space: Space,
    /// The feasible set.
    pub constraints: Constraints,
    journal: Journal,
    /// Proposed runs in order, with their round.
    pub planned: Vec<(usize, PlannedRun)>,
    /// Results in arrival order.
    pub results: Vec<RunResult>,
    /// Committed run per stage.
    pub committed: Vec<String>,
}

impl Campaign {
    /// Creates a campaign in `dir` (which must not hold one) from the config at `config`.
    pub fn create(dir: &Path, config: &Path) -> crate::Result<Self> {
        if dir.join("journal.jsonl").exists() {
            return Err(CampaignError::Directory {
                path: dir.to_owned(),
                problem: "holds a campaign already; pass --resume to continue it",
            }
            .into());
        }
        let config = CampaignConfig::from_file(config)?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let text = toml::to_string(&config).expect("a config serialises");
        write_atomic(&dir.join("campaign.toml"), text.as_bytes())?;
        Campaign::open(dir)
    }

    /// Opens the campaign in `dir` and replays its journal.
    pub fn open(dir: &Path) -> crate::Result<Self> {
        let config_path = dir.join("campaign.toml");
        if !config_path.exists() {
            return Err(CampaignError::Directory {
                path: dir.to_owned(),
                problem: "holds no campaign (campaign.toml is missing)",
            }
            .into());
        }
        let config = CampaignConfig::from_file(&config_path)?;
        let space = Space::from_file(&config.space)?;
        let spec = match &config.constraints {
            Some(p) => ConstraintSpec::from_file(p)?,
            None => ConstraintSpec::default(),
        };
        let constraints = Constraints::new(&space, &spec, &[])?;
        let (journal, events) = Journal::open(&dir.join("journal.jsonl"))?;
        let mut c = Campaign {
            dir: dir.to_owned(),
            config,
            space,
            constraints,
            journal,
            planned: Vec::new(),
            results: Vec::new(),
            committed: Vec::new(),
        };
        for e in events {
            c.apply(e);
        }
        Ok(c)
    }

    fn apply(&mut self, e: Event) {
        match e {
            Event::Proposed { round, runs } => {
                self.planned.extend(runs.into_iter().map(|r| (round, r)));
            }
            Event::Results { results } => {
                for r in results {
                    if !self.results.iter().any(|x| x.id == r.id) {
                        self.results.push(r);
                    }
                }
            }
            Event::Committed { run, .. } => self.committed.push(run),
        }
    }

    fn record(&mut self, e: Event) -> crate::Result<()> {
        self.journal.append(&e)?;
        self.apply(e);
        self.write_state()
    }

    fn result(&self, id: &str) -> Option<&RunResult> {
        self.results.iter().find(|r| r.id == id)
    }

    fn run(&self, id: &str) -> Option<&PlannedRun> {
        self.planned.iter().map(|p| &p.1).find(|r| r.id == id)
    }

    /// Runs of `stage` proposed so far.
    fn stage_runs(&self, stage: usize) -> Vec<&PlannedRun> {
        self.planned
            .iter()
            .map(|p| &p.1)
            .filter(|r| r.stage == stage)
            .collect()
    }

    /// The run budget of `stage`: an even split, the remainder going to the last stage.
    fn stage_budget(&self, stage: usize) -> usize {
        let total = self.config.run_budget().max(self.config.stages);
        let per = total / self.config.stages;
        if stage + 1 == self.config.stages {
            total - per * (self.config.stages - 1)
        } else {
            per
        }
    }

    /// The next thing to do.
    pub fn next_action(&self) -> Action {
        let pending: Vec<PlannedRun> = self
            .planned
            .iter()
            .map(|p| p.1.clone())
            .filter(|r| self.result(&r.id).is_none())
            .collect();
        if !pending.is_empty() {
            return Action::Evaluate(pending);
        }
        let stage = self.committed.len();
        if stage == self.config.stages {
            return Action::Done;
        }
        let done = self.stage_runs(stage).len();
        let budget = self.stage_budget(stage);
        if done >= budget {
            return Action::Commit(stage);
        }
        let round = self.planned.last().map_or(0, |p| p.0 + 1);
        Action::Propose {
            round,
            stage,
            count: self.config.batch.min(budget - done),
        }
    }

    /// The context of runs in `stage`: `[stage, signals of the run committed before it]`.
    pub fn stage_context(&self, stage: usize) -> Vec<f64> {
        if self.config.context_names().is_empty() {
            return Vec::new();
        }
        let signals = match stage.checked_sub(1).and_then(|s| self.committed.get(s)) {
            Some(id) => self.result(id).map_or_else(Vec::new, |r| r.signals.clone()),
            None => vec![1.0; self.config.signals.len()],
        };
        std::iter::once(stage as f64).chain(signals).collect()
    }

    /// The committed mixtures, in stage order.
    pub fn schedule(&self) -> Vec<Vec<f64>> {
        self.committed
            .iter()
            .filter_map(|id| self.run(id).map(|r| r.weights.clone()))
            .collect()
    }

    /// Every measured run as training data.
    pub fn runs(&self) -> Runs {
        let schema = self.schema();
        let mut runs = Runs {
            schema,
            keys: Vec::new(),
            mixtures: Vec::new(),
            context: Vec::new(),
            outcomes: Vec::new(),
        };
        for r in &self.results {
            if let Some(p) = self.run(&r.id) {
                runs.keys.push(r.id.clone());
                runs.mixtures.push(p.weights.clone());
                runs.context.push(p.context.clone());
                runs.outcomes.push(r.outcomes.clone());
            }
        }
        runs
    }

    /// Columns, context and targets of the campaign's runs.
    pub fn schema(&self) -> Schema {
        Schema {
            space: self.space.clone(),
            mixture_columns: self.space.names(),
            context: self.config.context_names(),
            targets: self
                .config
                .targets
                .iter()
                .map(|t| TargetSpec {
                    name: t.name.clone(),
                    column: None,
                    mean_of: Vec::new(),
                    direction: t.direction,
                })
                .collect(),
        }
    }

    /// The objective: the configured file, or every target standardised on `norm`.
    pub fn objective(&self, norm: &Normalizer) -> crate::Result<Objective> {
        Ok(Objective::new(
            &self.objective_spec()?,
            &self.schema(),
            norm,
        )?)
    }

    /// The configured objective file, or every target with equal weight.
    fn objective_spec(&self) -> crate::Result<ObjectiveSpec> {
        match &self.config.objective {
            Some(p) => ObjectiveSpec::from_file(p),
            None => Ok(ObjectiveSpec::default()),
        }
    }

    /// What the surrogate rounds ask of the proposer, at `context`.
    fn proposer_config(&self, context: &[f64]) -> crate::Result<ProposerConfig> {
        Ok(ProposerConfig {
            acquisition: AcquisitionSpec {
                kind: self.config.acquisition,
                beta: self.config.beta,
                ..AcquisitionSpec::default()
            },
            objective: self.objective_spec()?,
            searchers: vec![SearcherKind::Random, SearcherKind::Cmaes],
            samples: self.config.samples,
            cmaes_evaluations: 1000,
            keep: Some(1024),
            min_distance: self.config.min_distance,
            prior: Prior::Tokens,
            pool: None,
            context: context.to_vec(),
            seed: self.config.seed,
        })
    }

    /// Writes the proposals file for `runs`.
    pub fn write_proposals(&self, runs: &[PlannedRun], path: &Path) -> crate::Result<()> {
        let names = self.space.names();
        let as_map = |w: &[f64]| -> serde_json::Map<String, serde_json::Value> {
            names
                .iter()
                .cloned()
                .zip(w.iter().map(|&x| json!(x)))
                .collect()
        };
        let schedule = self.schedule();
        let context_names = self.config.context_names();
        let mut text = String::new();
        for r in runs {
            let history: Vec<serde_json::Value> = schedule[..r.stage.min(schedule.len())]
                .iter()
                .map(|w| json!({"weights": as_map(w), "tokens": self.config.tokens_per_run}))
                .collect();
            let context: serde_json::Map<String, serde_json::Value> = context_names
                .iter()
                .cloned()
                .zip(r.context.iter().map(|&x| json!(x)))
                .collect();
            let line = json!({
                "run_id": r.id,
                "stage": r.stage,
                "tokens": self.config.tokens_per_run,
                "weights": as_map(&r.weights),
                "history": history,
                "context": context,
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        write_atomic(path, text.as_bytes())
    }

    /// Records the results in `path` for the runs awaiting them. Results found are journaled
    /// even when some runs are missing; the missing ones are then an error.
    pub fn ingest(&mut self, path: &Path) -> crate::Result<usize> {
        let pending: Vec<String> = match self.next_action() {
            Action::Evaluate(runs) => runs.into_iter().map(|r| r.id).collect(),
            _ => return Err(CampaignError::NothingPending.into()),
        };
        let targets: Vec<String> = self.config.targets.iter().map(|t| t.name.clone()).collect();
        let (found, missing) = read_results(path, &targets, &self.config.signals, &pending)?;
        let count = found.len();
        if !found.is_empty() {
            self.record(Event::Results { results: found })?;
        }
        if !missing.is_empty() {
            return Err(CampaignError::MissingRuns {
                count: missing.len(),
                ids: missing.join(", "),
            }
            .into());
        }
        Ok(count)
    }

    /// Commits the best measured run of `stage` by the objective.
    fn commit(&mut self, stage: usize) -> crate::Result<String> {
        let runs = self.runs();
        let norm = Normalizer::fit(&runs.outcomes);
        let objective = self.objective(&norm)?;
        let ids: Vec<String> = self
            .stage_runs(stage)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        let best = ids
            .iter()
            .filter_map(|id| self.result(id).map(|r| (id, objective.value(&r.outcomes))))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, _)| id.clone())
            .expect("a stage with spent budget has measured runs");
        self.record(Event::Committed {
            stage,
            run: best.clone(),
        })?;
        if self.committed.len() == self.config.stages {
            self.write_final()?;
        }
        Ok(best)
    }

    fn write_final(&self) -> crate::Result<()> {
        let names = self.space.names();
        let stages: Vec<serde_json::Value> = self
            .committed
            .iter()
            .enumerate()
            .map(|(s, id)| {
                let weights = self.run(id).map(|r| r.weights.clone()).unwrap_or_default();
                json!({
                    "stage": s,
                    "run": id,
                    "weights": names.iter().cloned().zip(weights.iter().map(|&x| json!(x))).collect::<serde_json::Map<_, _>>(),
                    "outcomes": self.result(id).map(|r| r.outcomes.clone()),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&json!({ "stages": stages })).expect("json") + "\n";
        write_atomic(&self.dir.join("final.json"), text.as_bytes())
    }

    fn write_state(&self) -> crate::Result<()> {
        let next = match self.next_action() {
            Action::Evaluate(runs) => format!("evaluate {} pending run(s)", runs.len()),
            Action::Commit(stage) => format!("commit stage {stage}"),
            Action::Propose {
                round,
                stage,
                count,
            } => {
                format!("propose {count} run(s) for stage {stage} in round {round}")
            }
            Action::Done => "done".into(),
        };
        let state = json!({
            "proposed": self.planned.len(),
            "measured": self.results.len(),
            "committed": self.committed,
            "tokens_used": self.results.len() as f64 * self.config.tokens_per_run,
            "run_budget": self.config.run_budget(),
            "next": next,
        });
        let text = serde_json::to_string_pretty(&state).expect("json") + "\n";
        write_atomic(&self.dir.join("state.json"), text.as_bytes())
    }

    fn round_dir(&self, round: usize) -> PathBuf {
        self.dir.join("rounds").join(format!("{round:03}"))
    }
}

/// What one call of [`step`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A round was proposed and written to this file.
    Proposed {
        /// Round number.
        round: usize,
        /// The proposals file.
        path: PathBuf,
        /// Runs in it.
        runs: usize,
    },
    /// Results for this many runs were ingested.
    Evaluated(usize),
    /// A stage's mixture was fixed to this run.
    Committed {
        /// The stage.
        stage: usize,
        /// The chosen run.
        run: String,
    },
    /// The campaign is complete.
    Done,
}

/// Takes one step: proposes a round (training the surrogate on every result), runs the
/// evaluator on pending runs (when one is given), or commits a finished stage. Without an
/// evaluator, pending runs are left for `ingest` and the step returns their proposals file.
pub fn step<B: AutodiffBackend>(
    c: &mut Campaign,
    evaluator: Option<&mut dyn Evaluator>,
    device: &B::Device,
    observer: &mut dyn SearchObserver,
) -> crate::Result<Step> {
    match c.next_action() {
        Action::Done => {
            // The last commit is journaled before final.json is written: a crash between the
            // two leaves a finished campaign without it.
            if !c.dir.join("final.json").exists() {
                c.write_final()?;
            }
            Ok(Step::Done)
        }
        Action::Commit(stage) => {
            let run = c.commit(stage)?;
            Ok(Step::Committed { stage, run })
        }
        Action::Evaluate(runs) => {
            let round = c
                .planned
                .iter()
                .find(|p| p.1.id == runs[0].id)
                .map_or(0, |p| p.0);
            let dir = c.round_dir(round);
            let pending = dir.join("pending.jsonl");
            c.write_proposals(&runs, &pending)?;
            let Some(evaluator) = evaluator else {
                return Ok(Step::Proposed {
                    round,
                    path: pending,
                    runs: runs.len(),
                });
            };
            let results = dir.join("results.csv");
            if results.exists() {
                std::fs::remove_file(&results).map_err(io(&results))?;
            }
            evaluator.evaluate(&pending, &results, &dir.join("evaluator.log"))?;
            Ok(Step::Evaluated(c.ingest(&results)?))
        }
        Action::Propose {
            round,
            stage,
            count,
        } => {
            let dir = c.round_dir(round);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let seed = derive_seed(c.config.seed, round as u64);
            let context = c.stage_context(stage);
            let weights = if c.results.len() < c.config.initial_runs {
                initial_design(c, count, seed)
            } else {
                surrogate_batch::<B>(c, &dir, &context, count, device, observer)?
            };
            let runs: Vec<PlannedRun> = weights
                .into_iter()
                .enumerate()
                .map(|(k, w)| PlannedRun {
                    id: format!("r{round:03}-{k:02}"),
                    stage,
                    weights: w,
                    context: context.clone(),
                })
                .collect();
            let path = dir.join("proposals.jsonl");
            c.write_proposals(&runs, &path)?;
            let n = runs.len();
            c.record(Event::Proposed { round, runs })?;
            Ok(Step::Proposed {
                round,
                path,
                runs: n,
            })
        }
    }
}

/// Feasible Dirichlet draws around the uniform mixture, at least `min_distance` apart from
/// each other and from earlier runs.
fn initial_design(c: &Campaign, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let sampler = DirichletSampler::around(prior_weights(&c.space, Prior::Tokens));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out: Vec<Vec<f64>> = Vec::new();
    let earlier: Vec<&Vec<f64>> = c.planned.iter().map(|p| &p.1.weights).collect();
    let far = |w: &[f64], others: &[&Vec<f64>]| {
        others
            .iter()
            .all(|o| crate::math::simplex::tv_distance(w, o) >= c.config.min_distance)
    };
    for _ in 0..count * 200 {
        if out.len() == count {
            break;
        }
        if let Some(w) = sampler.sample_feasible(&c.constraints, 20, &mut rng) {
            let mine: Vec<&Vec<f64>> = out.iter().collect();
            if far(&w, &earlier) && far(&w, &mine) {
                out.push(w);
            }
        }
    }
    out
}

/// Trains the configured surrogate on every result, saves it in the round directory, and
/// proposes `count` mixtures for `context`.
fn surrogate_batch<B: AutodiffBackend>(
    c: &Campaign,
    dir: &Path,
    context: &[f64],
    count: usize,
    device: &B::Device,
    observer: &mut dyn SearchObserver,
) -> crate::Result<Vec<Vec<f64>>> {
    let mut proposer = Proposer::<B>::new(
        c.constraints.clone(),
        SurrogateSpec::fitted(c.config.surrogate, &c.config.training),
        c.proposer_config(context)?,
        device.clone(),
    )?;
    proposer.tell(&c.runs())?;
    proposer.fit()?;
    let model_dir = dir.join("model");
    match proposer.model().expect("fit() leaves a model") {
        Model::Ensemble(p) => checkpoint::save(p, &model_dir, Overwrite::Replace)?,
        Model::Gp(g) => g.save(&model_dir, Overwrite::Replace)?,
    }
    let batch = proposer.ask_with(count, observer)?;
    Ok(batch.proposals.into_iter().map(|p| p.weights).collect())
}
