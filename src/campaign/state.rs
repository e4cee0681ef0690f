//! An open campaign: its configuration, the journal and the state replayed from it, and the
//! files it writes (proposals, state, final schedule).

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{
    CampaignConfig, CampaignError, CampaignLock, Event, Journal, PlannedRun, RunResult,
    read_results,
};
use crate::error::io;
use crate::io::{OUTPUT_MARKER, Overwrite, write_atomic};
use crate::objective::{Objective, ObjectiveSpec};
use crate::proposer::ProposerConfig;
use crate::runs::Normalizer;
use crate::runs::{Runs, Schema, TargetSpec};
use crate::space::reuse::Reuse;
use crate::space::sampler::Prior;
use crate::space::{Constraints, Space};
use crate::strategy::Mode;

/// CMA-ES evaluations per round's search.
const CMAES_EVALUATIONS: usize = 1000;
/// Candidates kept from the search for the batch choice.
const KEEP: usize = 1024;

/// The journal file in a campaign directory.
const JOURNAL: &str = "journal.jsonl";
/// The configuration, fixed at creation.
const CONFIG: &str = "campaign.toml";
/// The reuse the journal's reduced weights expand by, frozen at creation.
const REUSE: &str = "reuse.toml";

/// How to repair a journal the checks refuse, appended to their message.
const REPAIR: &str = "The journal is append-only and mixatlas never rewrites it; to repair it, \
    keep a copy, delete this line and every line after it, and resume: the campaign proposes \
    again from there";

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
    /// The space searched over: the configured space, or with `reuse` its reduced space.
    pub space: Space,
    /// The mixture reuse, when configured: proposals and the final schedule are expanded to
    /// its full space (the configured `space`).
    pub reuse: Option<Reuse>,
    /// The feasible set.
    pub constraints: Constraints,
    /// The journal, when opened to be driven (`None` for [`Campaign::read`]).
    journal: Option<Journal>,
    /// The lock held while the campaign is driven.
    lock: Option<CampaignLock>,
    /// Proposed runs in order, with their round.
    pub planned: Vec<(usize, PlannedRun)>,
    /// Results in arrival order.
    pub results: Vec<RunResult>,
    /// Committed run per stage.
    pub committed: Vec<String>,
}

/// What [`OUTPUT_MARKER`] holds in a campaign directory: `--force` replaces only these.
const CAMPAIGN_MARK: &str = "mixatlas campaign\n";

/// Refuses a directory that holds no campaign (no `campaign.toml`).
fn no_campaign_refused(dir: &Path) -> crate::Result<()> {
    if dir.join(CONFIG).is_file() {
        return Ok(());
    }
    Err(CampaignError::Directory {
        path: dir.to_owned(),
        problem: "holds no campaign (campaign.toml is missing)",
    }
    .into())
}

/// Refuses, before any run, a strategy the proposer would refuse at its first surrogate round
/// (a searcher or batch method the surrogate cannot serve) or an unreadable objective.
fn check_strategy(config: &CampaignConfig, constraints: &Constraints) -> crate::Result<()> {
    if let Some(path) = &config.objective {
        ObjectiveSpec::from_file(path)?;
    }
    let spec = config
        .strategy
        .surrogate_spec()
        .expect("a campaign's strategy has a surrogate");
    let proposer = proposer_config(config, ObjectiveSpec::default(), &[]);
    crate::proposer::check_config(&proposer, constraints, &spec.capabilities())
}

/// The proposer config of a round under `config`'s strategy, for `objective` at `context`:
/// one builder for the rounds and for the check at creation.
fn proposer_config(
    config: &CampaignConfig,
    objective: ObjectiveSpec,
    context: &[f64],
) -> ProposerConfig {
    ProposerConfig {
        cmaes_evaluations: CMAES_EVALUATIONS,
        keep: Some(KEEP),
        prior: Prior::Tokens,
        context: context.to_vec(),
        ..(config.strategy).proposer_config(&objective, Mode::Search, config.seed)
    }
}

/// How a new campaign takes its directory.
enum Claim {
    /// The directory is missing: it is created whole, atomically.
    Create,
    /// The directory exists, empty or holding a creation a crash stopped before its
    /// `campaign.toml`: the files are written into it, `campaign.toml` last.
    Fill,
}

/// Checks that a new campaign may go into `dir`: a missing or empty directory may be taken; a
/// directory holding anything is refused, except that `overwrite` = replace lets a campaign
/// mixatlas created (its marker, or the `campaign.toml` and journal of a 0.1 campaign, says so;
/// and no process drives it) be replaced: it is removed here. A directory that is or holds one
/// of `inputs` is never taken.
fn claim_dir(dir: &Path, overwrite: Overwrite, inputs: &[PathBuf]) -> crate::Result<Claim> {
    let refuse = |problem: &'static str| -> crate::Result<Claim> {
        Err(CampaignError::Directory {
            path: dir.to_owned(),
            problem,
        }
        .into())
    };
    if !dir.exists() {
        return Ok(Claim::Create);
    }
    if !dir.is_dir() {
        return refuse("is a file, not a directory");
    }
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    crate::io::check_not_input(dir, &inputs)?;
    if std::fs::read_dir(dir).map_err(io(dir))?.next().is_none() {
        return Ok(Claim::Fill);
    }
    let marked = std::fs::read_to_string(dir.join(OUTPUT_MARKER)).is_ok_and(|m| m == CAMPAIGN_MARK);
    let created = dir.join(CONFIG).is_file();
    let campaign = marked || (created && dir.join(JOURNAL).is_file());
    match (overwrite, campaign, created) {
        (_, true, false) => Ok(Claim::Fill),
        (Overwrite::Refuse, true, true) => refuse(
            "holds a campaign already: pass --resume to continue it, or --force to replace it \
             with a new one",
        ),
        (Overwrite::Refuse, false, _) => {
            refuse("exists and is not empty: a new campaign goes into a missing or empty directory")
        }
        (Overwrite::Replace, false, _) => refuse(
            "is not a campaign mixatlas created (no .mixatlas-output marker): refusing to \
             replace it, even with --force; choose a missing or empty directory",
        ),
        (Overwrite::Replace, true, true) => {
            // Never from under a process that drives it.
            let lock = CampaignLock::acquire(dir)?;
            crate::io::remove_dir_aside(dir)?;
            drop(lock);
            Ok(Claim::Create)
        }
    }
}

/// The space a campaign searches (the configured one, or with `reuse` its reduced space),
/// the reuse, and the feasible set; `config_path` names the configuration in errors.
fn searched_space(
    config: &CampaignConfig,
    config_path: &Path,
) -> crate::Result<(Space, Option<Reuse>, Constraints)> {
    let mut space = Space::from_file(&config.space)?;
    let reuse = config.reuse.as_deref().map(Reuse::from_file).transpose()?;
    if let Some(reuse) = &reuse {
        if reuse.full.names() != space.names() {
            return Err(CampaignError::Config {
                path: config_path.to_owned(),
                message: format!(
                    "`reuse`: its full space {} is not the campaign's `space` {} (same \
                         domains, same order)",
                    reuse.full.name, space.name
                ),
            }
            .into());
        }
        space = reuse.reduced.clone();
    }
    let constraints = Constraints::load(&space, config.constraints.as_deref(), &[])?;
    Ok((space, reuse, constraints))
}

impl Campaign {
    /// Creates a campaign in `dir` from the config at `config_path`. `dir` must be missing or
    /// empty, or (with `overwrite` = replace) a campaign mixatlas created, which is then
    /// replaced whole; never a directory that is, or holds, one of the campaign's inputs.
    pub fn create(dir: &Path, config_path: &Path, overwrite: Overwrite) -> crate::Result<Self> {
        let mut config = CampaignConfig::from_file(config_path)?;
        if let Some(dir) = config.evaluator_dir.as_deref().filter(|d| !d.is_dir()) {
            return Err(CampaignError::Config {
                path: config_path.to_owned(),
                message: format!(
                    "`evaluator_dir` {} does not exist or is not a directory",
                    dir.display()
                ),
            }
            .into());
        }
        let mut inputs = vec![config_path.to_owned()];
        inputs.extend(config.input_files());
        // Every input is read and checked before the directory is touched.
        let (_, reuse, constraints) = searched_space(&config, config_path)?;
        check_strategy(&config, &constraints)?;
        let claim = claim_dir(dir, overwrite, &inputs)?;
        // Frozen with the config: a later default does not change a running campaign.
        config.strategy.min_distance = Some(config.min_distance());
        if config.evaluator_dir.is_none() {
            let base = (config_path.parent())
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            config.evaluator_dir = Some(std::path::absolute(base).map_err(io(base))?);
        }
        let mut files = vec![(OUTPUT_MARKER.to_owned(), CAMPAIGN_MARK.as_bytes().to_vec())];
        if let Some(reuse) = &reuse {
            // The journal holds reduced weights: freeze the reuse they expand by.
            let frozen = std::path::absolute(dir.join(REUSE)).map_err(io(dir))?;
            files.push((REUSE.to_owned(), reuse.to_toml(&config.space).into_bytes()));
            config.reuse = Some(frozen);
        }
        let text = toml::to_string(&config).expect("a config serialises");
        files.push((CONFIG.to_owned(), text.into_bytes()));
        match claim {
            Claim::Create => crate::io::create_dir_atomic(dir, &files)?,
            // `campaign.toml` last: until it is whole, the directory is a creation to redo.
            Claim::Fill => {
                for (name, bytes) in &files {
                    write_atomic(&dir.join(name), bytes)?;
                }
            }
        }
        Campaign::open(dir)
    }

    /// Opens the campaign in `dir` to drive it: takes its lock (refusing while another
    /// process holds it), cuts a torn last journal line, and replays and checks the journal.
    pub fn open(dir: &Path) -> crate::Result<Self> {
        // Nothing is written into a directory that holds no campaign (a mistyped path).
        no_campaign_refused(dir)?;
        let lock = CampaignLock::acquire(dir)?;
        let (journal, events) = Journal::<Event>::open(&dir.join(JOURNAL))?;
        let mut c = Campaign::configured(dir, Some(journal), Some(lock))?;
        c.replay(events)?;
        Ok(c)
    }

    /// The descriptor of the campaign's lock while it is driven, for its evaluator to inherit.
    pub fn lock_fd(&self) -> Option<std::os::fd::RawFd> {
        self.lock.as_ref().map(CampaignLock::fd)
    }

    /// Reads the campaign in `dir` without taking its lock or changing anything (reports on
    /// a running campaign); it cannot be driven.
    pub fn read(dir: &Path) -> crate::Result<Self> {
        let (events, _) = Journal::<Event>::read(&dir.join(JOURNAL))?;
        let mut c = Campaign::configured(dir, None, None)?;
        c.replay(events)?;
        Ok(c)
    }

    /// The campaign in `dir` with its configuration, space and constraints, nothing replayed.
    fn configured(
        dir: &Path,
        journal: Option<Journal>,
        lock: Option<CampaignLock>,
    ) -> crate::Result<Self> {
        no_campaign_refused(dir)?;
        let config_path = dir.join(CONFIG);
        let config = CampaignConfig::from_file(&config_path)?;
        let (space, reuse, constraints) = searched_space(&config, &config_path)?;
        Ok(Campaign {
            dir: dir.to_owned(),
            config,
            space,
            reuse,
            constraints,
            journal,
            lock,
            planned: Vec::new(),
            results: Vec::new(),
            committed: Vec::new(),
        })
    }

    /// Applies the journal's events in order, refusing the first that breaks an invariant.
    fn replay(&mut self, events: Vec<(usize, Event)>) -> crate::Result<()> {
        for (line, e) in events {
            if let Err(problem) = self.check(&e) {
                return Err(CampaignError::Journal {
                    path: self.dir.join(JOURNAL),
                    line,
                    message: format!("{problem}. {REPAIR}"),
                }
                .into());
            }
            self.apply(e);
        }
        Ok(())
    }

    /// Whether `e` may follow the events applied so far: every run proposed once, with one
    /// weight per domain and one context value per context column, within the run budget;
    /// results only for proposed runs, once each, with every target and signal; stages
    /// committed in order, once each, to a measured run of that stage.
    fn check(&self, e: &Event) -> Result<(), String> {
        match e {
            Event::Proposed { runs, .. } => self.check_proposed(runs),
            Event::Results { results } => self.check_results(results),
            Event::Committed { stage, run } => self.check_commit(*stage, run),
        }
    }

    fn check_proposed(&self, runs: &[PlannedRun]) -> Result<(), String> {
        let (domains, context) = (self.space.len(), self.config.context_names().len());
        for r in runs {
            if self.run(&r.id).is_some() || runs.iter().filter(|x| x.id == r.id).count() > 1 {
                return Err(format!("run `{}` is proposed twice", r.id));
            }
            if r.stage >= self.config.stages {
                return Err(format!(
                    "run `{}` is in stage {}, beyond the campaign's {}",
                    r.id, r.stage, self.config.stages
                ));
            }
            if r.weights.len() != domains || r.context.len() != context {
                return Err(format!(
                    "run `{}` has {} weights and {} context values; the campaign has {domains} domains and {context} context columns",
                    r.id,
                    r.weights.len(),
                    r.context.len()
                ));
            }
        }
        let budget = self.config.run_budget().max(self.config.stages);
        if self.planned.len() + runs.len() > budget {
            return Err(format!(
                "{} runs proposed in all, over the run budget of {budget}",
                self.planned.len() + runs.len()
            ));
        }
        Ok(())
    }

    fn check_results(&self, results: &[RunResult]) -> Result<(), String> {
        let (targets, signals) = (self.config.targets.len(), self.config.signals.len());
        for r in results {
            if self.run(&r.id).is_none() {
                return Err(format!(
                    "results for run `{}`, which no earlier line proposed",
                    r.id
                ));
            }
            if self.result(&r.id).is_some() || results.iter().filter(|x| x.id == r.id).count() > 1 {
                return Err(format!("a second result for run `{}`", r.id));
            }
            if r.outcomes.len() != targets || r.signals.len() != signals {
                return Err(format!(
                    "the result of run `{}` has {} outcomes and {} signals; the campaign has {targets} targets and {signals} signals",
                    r.id,
                    r.outcomes.len(),
                    r.signals.len()
                ));
            }
        }
        Ok(())
    }

    fn check_commit(&self, stage: usize, run: &str) -> Result<(), String> {
        if stage != self.committed.len() {
            return Err(format!(
                "commits stage {stage}, but stage {} is the next to commit",
                self.committed.len()
            ));
        }
        let in_stage = self.run(run).is_some_and(|r| r.stage == stage);
        if !in_stage || self.result(run).is_none() {
            return Err(format!(
                "commits run `{run}`, which is not a measured run of stage {stage}"
            ));
        }
        Ok(())
    }

    fn apply(&mut self, e: Event) {
        match e {
            Event::Proposed { round, runs } => {
                self.planned.extend(runs.into_iter().map(|r| (round, r)));
            }
            Event::Results { results } => self.results.extend(results),
            Event::Committed { run, .. } => self.committed.push(run),
        }
    }

    /// Journals `e`, then applies it.
    pub(super) fn record(&mut self, e: Event) -> crate::Result<()> {
        let journal = self
            .journal
            .as_mut()
            .ok_or_else(|| CampaignError::Directory {
                path: self.dir.clone(),
                problem: "was opened read-only (Campaign::read); use Campaign::open to drive it",
            })?;
        journal.append(&e)?;
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
        if stage >= self.config.stages {
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

    /// The surrogate of the latest round that trained one (`rounds/NNN/model`), if any.
    pub fn latest_model(&self) -> Option<PathBuf> {
        let mut rounds: Vec<usize> = self.planned.iter().map(|p| p.0).collect();
        rounds.dedup();
        (rounds.into_iter().rev())
            .map(|r| self.round_dir(r).join("model"))
            .find(|m| m.is_dir())
    }

    /// The stage the campaign is in: the first without a committed run (the last stage once
    /// every stage is committed).
    pub fn current_stage(&self) -> usize {
        self.committed.len().min(self.config.stages - 1)
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
                .map(|t| TargetSpec::new(t.name.clone(), t.direction))
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
            Some(p) => Ok(ObjectiveSpec::from_file(p)?),
            None => Ok(ObjectiveSpec::default()),
        }
    }

    /// What the surrogate rounds ask of the proposer, at `context`.
    pub(super) fn proposer_config(&self, context: &[f64]) -> crate::Result<ProposerConfig> {
        Ok(proposer_config(
            &self.config,
            self.objective_spec()?,
            context,
        ))
    }

    /// Writes the proposals file for `runs`.
    pub fn write_proposals(&self, runs: &[PlannedRun], path: &Path) -> crate::Result<()> {
        let as_map = |w: &[f64]| self.real_weights(w);
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
        Ok(write_atomic(path, text.as_bytes())?)
    }

    /// Records the results in `path` for the runs awaiting them. Results found are journaled
    /// even when some runs are missing; the missing ones are then an error.
    pub fn ingest(&mut self, path: &Path) -> crate::Result<usize> {
        self.ingest_rows(path, &[])
    }

    /// Ingests the results of an evaluation the campaign ran itself, possibly before a crash
    /// after which some of them were journaled already: rows of measured runs are passed over.
    pub(super) fn ingest_evaluated(&mut self, path: &Path) -> crate::Result<usize> {
        let measured: Vec<String> = self.results.iter().map(|r| r.id.clone()).collect();
        let ingested = self.ingest_rows(path, &measured);
        // Consumed, whatever the file held: a later resume asks the evaluator again for
        // whatever is still missing (a malformed file is evaluated again, not re-read).
        let status = super::evaluator::status_path(path);
        if status.exists() {
            std::fs::remove_file(&status).map_err(io(&status))?;
        }
        ingested
    }

    fn ingest_rows(&mut self, path: &Path, skip: &[String]) -> crate::Result<usize> {
        let pending: Vec<String> = match self.next_action() {
            Action::Evaluate(runs) => runs.into_iter().map(|r| r.id).collect(),
            _ => return Err(CampaignError::NothingPending.into()),
        };
        let targets: Vec<String> = self.config.targets.iter().map(|t| t.name.clone()).collect();
        let (found, missing) = read_results(path, &targets, &self.config.signals, &pending, skip)?;
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
    pub(super) fn commit(&mut self, stage: usize) -> crate::Result<String> {
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

    /// Weights `[space domains]` as a `domain -> weight` map over the real domains (expanded
    /// from the reduced space when reusing mixtures).
    fn real_weights(&self, w: &[f64]) -> serde_json::Map<String, serde_json::Value> {
        let (names, w) = match &self.reuse {
            Some(reuse) => (reuse.full.names(), reuse.expand(w)),
            None => (self.space.names(), w.to_vec()),
        };
        names
            .into_iter()
            .zip(w.into_iter().map(|x| json!(x)))
            .collect()
    }

    pub(super) fn write_final(&self) -> crate::Result<()> {
        let stages: Vec<serde_json::Value> = self
            .committed
            .iter()
            .enumerate()
            .map(|(s, id)| {
                let weights = self.run(id).map(|r| r.weights.clone()).unwrap_or_default();
                json!({
                    "stage": s,
                    "run": id,
                    "weights": self.real_weights(&weights),
                    "outcomes": self.result(id).map(|r| r.outcomes.clone()),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&json!({ "stages": stages })).expect("json") + "\n";
        Ok(write_atomic(&self.dir.join("final.json"), text.as_bytes())?)
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
        Ok(write_atomic(&self.dir.join("state.json"), text.as_bytes())?)
    }

    /// The folder of round `round` (`rounds/NNN`): its proposals, results and model.
    pub fn round_dir(&self, round: usize) -> PathBuf {
        self.dir.join("rounds").join(format!("{round:03}"))
    }
}
