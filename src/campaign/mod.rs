//! The closed loop: rounds of propose -> evaluate -> ingest -> retrain until the run or token
//! budget is spent, across midtraining stages, resumable after any interruption.
//!
//! A campaign lives in a directory:
//!
//! ```text
//! .mixatlas-output                  marks the directory as a campaign mixatlas created
//! campaign.toml                     the configuration, fixed at creation (written last)
//! reuse.toml                        the frozen mixture reuse, when configured
//! campaign.lock                     flock(2)ed by the process driving the campaign (its pid)
//!                                   and inherited by the evaluator it runs
//! journal.jsonl                     append-only events: proposed, results, committed (the truth)
//! state.json                        a summary snapshot, rewritten atomically after every step
//! rounds/NNN/proposals.jsonl        the round's proposals
//! rounds/NNN/pending.jsonl          the runs of the round still awaiting results (the
//!                                   evaluator's input)
//! rounds/NNN/results.csv            the evaluator's output, as it left it
//! rounds/NNN/results.csv.status     the evaluator's exit status, written when it ends
//! rounds/NNN/evaluator.log          its output
//! rounds/NNN/model/                 the surrogate trained for the round
//! final.json                        the committed schedule, once every stage is done
//! ```
//!
//! Every decision is journaled before it is acted on, and results are journaled in one line
//! per batch, so a crash at any point (`kill -9` included) loses at most work in flight:
//! `--resume` replays the journal, re-proposes a round whose proposal line was torn (the same
//! seed gives the same batch), and asks the evaluator again only for runs without results.
//!
//! One process at a time: [`Campaign::open`] takes the directory's lock (released by the
//! kernel when the process and the evaluator it started have exited, however they exit) and
//! refuses while another holds it, naming the pid that took it; `rounds/` belongs to the
//! campaign, which replaces a round folder nothing of which is journaled; [`Campaign::read`] reads without it (reports). Opening checks the
//! journal against the campaign's invariants (each run proposed once and within the budget,
//! with one weight per domain; results only for proposed runs, once each; stages committed in
//! order, once each, to a measured run) and refuses the first line that breaks one. Repair:
//! keep a copy of `journal.jsonl`, delete that line and every line after it, and resume; the
//! campaign proposes again from there.
//!
//! Stages: with `stages = S`, the run budget is split evenly over S stages. Stage s's runs
//! start from the mixtures committed for stages before it (the proposals' `history`); when its
//! budget is spent the best measured run's mixture is committed, and its signals (e.g. per-task
//! uncertainty) become the context of stage s+1's runs. The predictor's inputs are the mixture
//! plus `stage` and one `signal:<name>` per configured signal, so it learns how the best next
//! mixture depends on the model's state. Stage 0's signals are 1 (no measurement yet: maximal
//! uncertainty).

mod config;
mod evaluator;
mod journal;
pub(crate) mod lock;
mod slurm;
mod state;

pub use config::{CampaignConfig, CampaignTarget};
pub use evaluator::{CommandEvaluator, Evaluator, read_results};
pub use journal::{Event, Journal, PlannedRun, RunResult};
pub use lock::{CampaignLock, LOCK_FILE};
pub use slurm::{SlurmConfig, SlurmEvaluator};
pub use state::{Action, Campaign};

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::io;
use crate::io::Overwrite;
use crate::math::derive_seed;

use crate::driver::{self, Ask, Pick, Reveal};
use crate::progress::Observer;
use crate::proposer::Proposer;
use crate::runs::Runs;
use crate::space::sampler::{DirichletSampler, Prior, prior_weights, spaced_draws};

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
    #[error("evaluator failed ({status}): {command}\n{tail}\n(full output: {log})")]
    EvaluatorFailed {
        /// The command run.
        command: String,
        /// How it ended: `exit status 3` or `killed by signal 9`.
        status: String,
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
    /// A Slurm command (`sbatch`, `squeue`, `scancel`) is missing or failed.
    #[error("`{command}` failed: {problem}")]
    Slurm {
        /// The command line.
        command: String,
        /// Its exit status and error output, or why it could not start.
        problem: String,
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
    /// Another process holds the campaign's lock: a `loop`, or an evaluator a stopped `loop`
    /// started, which holds the lock until it finishes.
    #[error(
        "campaign {path} is in use by {}, or by an evaluator it started that is still running \
         (one process at a time drives a campaign; wait for it or stop it; `fuser -v \
         {path}/campaign.lock` names the holder)",
        pid.map_or("another process".to_owned(), |p| format!("pid {p}"))
    )]
    InUse {
        /// The campaign directory.
        path: PathBuf,
        /// The holder's pid, when it could be read.
        pid: Option<u32>,
    },
    /// A round found no mixture to propose.
    #[error(
        "round {round} proposed no run: no feasible mixture lies at least `min_distance` = \
         {min_distance} (total variation) from every earlier run; lower `min_distance` in the \
         campaign config or loosen the constraints"
    )]
    NothingProposed {
        /// The round.
        round: usize,
        /// The configured distance.
        min_distance: f64,
    },
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
    observer: &mut dyn Observer,
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
            let results = dir.join("results.csv");
            if evaluator.is_some() && evaluator::finished(&results) {
                // The evaluation an earlier process started finished after that process was
                // stopped: its results are taken, not asked for again.
                return Ok(Step::Evaluated(c.ingest_evaluated(&results)?));
            }
            let pending = dir.join("pending.jsonl");
            c.write_proposals(&runs, &pending)?;
            let Some(evaluator) = evaluator else {
                return Ok(Step::Proposed {
                    round,
                    path: pending,
                    runs: runs.len(),
                });
            };
            for stale in [evaluator::status_path(&results), results.clone()] {
                if stale.exists() {
                    std::fs::remove_file(&stale).map_err(io(&stale))?;
                }
            }
            evaluator.evaluate(&pending, &results, &dir.join("evaluator.log"))?;
            Ok(Step::Evaluated(c.ingest_evaluated(&results)?))
        }
        Action::Propose {
            round,
            stage,
            count,
        } => {
            let dir = c.round_dir(round);
            if dir.exists() {
                // Nothing of this round is journaled: the folder holds a stopped attempt's
                // partial output (a model half written, say), which the campaign replaces.
                crate::io::remove_dir_aside(&dir)?;
            }
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let seed = derive_seed(c.config.seed, round as u64);
            let context = c.stage_context(stage);
            let mut ask: Box<dyn Ask> = if c.results.len() < c.config.initial_runs {
                Box::new(InitialDesign::new(c, seed))
            } else {
                Box::new(surrogate_proposer::<B>(c, &dir, &context, device)?)
            };
            let mut journaled = Journaled {
                c,
                stage,
                count,
                context,
                path: dir.join("proposals.jsonl"),
            };
            let proposed = driver::round(ask.as_mut(), &mut journaled, round, observer)?;
            Ok(Step::Proposed {
                round,
                path: journaled.path,
                runs: proposed.map_or(0, |r| r.picks.len()),
            })
        }
    }
}

/// A campaign round's reveal: the proposals are written and journaled; the evaluator trains
/// them in a later step, so the round ends there.
struct Journaled<'a> {
    c: &'a mut Campaign,
    stage: usize,
    count: usize,
    /// The stage's context, `[context]`.
    context: Vec<f64>,
    /// Where the round's proposals are written.
    path: PathBuf,
}

impl Reveal for Journaled<'_> {
    fn batch(&mut self, _round: usize) -> usize {
        self.count
    }

    fn reveal(&mut self, round: usize, picks: &[Pick]) -> crate::Result<Option<Runs>> {
        if picks.is_empty() {
            let min_distance = self.c.config.min_distance();
            return Err(CampaignError::NothingProposed {
                round,
                min_distance,
            }
            .into());
        }
        let runs: Vec<PlannedRun> = (picks.iter().enumerate())
            .map(|(k, p)| PlannedRun {
                id: format!("r{round:03}-{k:02}"),
                stage: self.stage,
                weights: p.weights.clone(),
                context: self.context.clone(),
            })
            .collect();
        self.c.write_proposals(&runs, &self.path)?;
        self.c.record(Event::Proposed { round, runs })?;
        Ok(None)
    }
}

/// The rounds before the surrogate: feasible Dirichlet draws around the token prior, at least
/// `min_distance` apart from each other and from earlier runs.
struct InitialDesign {
    sampler: DirichletSampler,
    constraints: crate::space::Constraints,
    min_distance: f64,
    /// Every run proposed so far, `[runs][domains]`.
    earlier: Vec<Vec<f64>>,
    rng: StdRng,
}

impl InitialDesign {
    fn new(c: &Campaign, seed: u64) -> Self {
        InitialDesign {
            sampler: DirichletSampler::around(prior_weights(&c.space, Prior::Tokens)),
            constraints: c.constraints.clone(),
            min_distance: c.config.min_distance(),
            earlier: c.planned.iter().map(|p| p.1.weights.clone()).collect(),
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Ask for InitialDesign {
    fn tell(&mut self, runs: &Runs) -> crate::Result<()> {
        self.earlier.extend(runs.mixtures.iter().cloned());
        Ok(())
    }

    fn ask(&mut self, q: usize, _observer: &mut dyn Observer) -> crate::Result<Vec<Pick>> {
        let draws = spaced_draws(
            &self.sampler,
            &self.constraints,
            q,
            self.min_distance,
            None,
            &self.earlier,
            &mut self.rng,
        );
        Ok((draws.into_iter())
            .map(|weights| Pick {
                weights,
                pool_row: None,
            })
            .collect())
    }
}

/// A proposer told every result, round by round, with the surrogate fitted on them and saved
/// in the round directory `dir`, proposing for `context`.
fn surrogate_proposer<B: AutodiffBackend>(
    c: &Campaign,
    dir: &Path,
    context: &[f64],
    device: &B::Device,
) -> crate::Result<Proposer<B>> {
    let mut proposer = Proposer::<B>::new(
        c.constraints.clone(),
        (c.config.strategy.surrogate_spec()).expect("a campaign's strategy has a surrogate"),
        c.proposer_config(context)?,
        device.clone(),
    )?;
    // One tell per round: a trust region follows the rounds' successes.
    let runs = c.runs();
    let round_of: std::collections::HashMap<&str, usize> = (c.planned.iter())
        .map(|(round, p)| (p.id.as_str(), *round))
        .collect();
    let mut start = 0;
    while start < runs.len() {
        let round = round_of.get(runs.keys[start].as_str());
        let end = (start..runs.len())
            .find(|&i| round_of.get(runs.keys[i].as_str()) != round)
            .unwrap_or(runs.len());
        proposer.tell(&runs.subset(&(start..end).collect::<Vec<_>>()))?;
        start = end;
    }
    proposer.fit()?;
    let model_dir = dir.join("model");
    let model = proposer.model().expect("fit() leaves a model");
    model.save(&model_dir, Overwrite::Replace)?;
    Ok(proposer)
}
