//! Pool retrospectives: which strategy would have found the best logged run fastest?
//!
//! A backtest replays the loop on runs already made. Per seed, `initial` runs are drawn at
//! random from the pool (the same ones for every strategy: runs are paired by seed); then each
//! strategy, in rounds of `batch`, fits its surrogate on the runs revealed so far, chooses the
//! next runs among the unrevealed ones (the [`Proposer`] in pool mode), and reveals their
//! logged outcome, until `budget` runs are revealed. The `random` surrogate picks uniformly.
//! [`summary`] turns the reveal orders into runs to a top-p% run, regret at chosen budgets,
//! paired wins against random and the exact distribution of uniform random picking; with
//! `model_error`, what each strategy's runs taught its surrogate ([`SeedRun::model_error`]).
//!
//! Each (strategy, seed) is one job whose result is written to its own file as soon as it
//! ends (`seeds/<strategy>/<seed>.json`), so an interrupted backtest resumes where it stopped
//! ([`Backtest::run`] skips jobs with a result); jobs run in parallel over `jobs` threads, each
//! with a one-thread pool for the surrogate's kernels (two spin-waiting pools sharing two
//! cores ran many times slower than one).
//!
//! The config is TOML:
//!
//! ```toml
//! initial = 16          # random runs before the first round
//! batch = 8             # runs per round
//! budget = 128          # runs revealed in all (initial included)
//! seeds = 10
//! regret_at = [32, 64]  # budgets at which regret is reported
//! model_error = false   # also score each strategy's refitted surrogate on the unrevealed runs
//!
//! [[strategy]]
//! name = "gp-ucb"
//! surrogate = "gp"      # random | ensemble | gp | loglinear | auto
//! acquisition = "ucb"
//! beta = "gp-ucb"       # a number, or the GP-UCB schedule
//! batch_method = "kriging-believer"
//! ```

pub mod summary;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

use crate::campaign::CampaignLock;
use crate::driver::{self, Ask, Pick, Reveal};
use crate::error::io;
use crate::io::{Overwrite, write_atomic};
use crate::math::derive_seed;
use crate::objective::{Objective, ObjectiveSpec};
use crate::progress::Observer;
use crate::proposer::{PoolSource, Proposer, ProposerConfig};
use crate::runs::Runs;
use crate::space::Constraints;
use crate::strategy::{Mode, NamedStrategy, StrategyModel, StrategySpec};
use crate::surrogate::{Normalizer, SurrogateSpec};

pub use summary::{Summary, summarize};

/// Why a backtest cannot run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// The config file is not a valid backtest config.
    #[error("{path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A parameter does not fit the pool.
    #[error("backtest: {0}")]
    Parameter(String),
    /// The pool cannot be backtested on.
    #[error("backtest pool: {0}")]
    Pool(String),
    /// The output directory holds a backtest with another config or pool.
    #[error(
        "{path} holds a backtest of another config or pool ({what} differs): choose a new \
         output, or pass --force to start it over"
    )]
    Mismatch {
        /// The output directory.
        path: PathBuf,
        /// What differs.
        what: &'static str,
    },
}

mod defaults {

    pub fn initial() -> usize {
        16
    }
    pub fn batch() -> usize {
        8
    }
    pub fn budget() -> usize {
        128
    }
    pub fn seeds() -> usize {
        10
    }
    pub fn regret_at() -> Vec<usize> {
        vec![32, 64]
    }
    pub fn top() -> Vec<f64> {
        vec![0.01, 0.05]
    }
}

/// A backtest's configuration (TOML, see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestConfig {
    /// Random runs revealed before the first round.
    #[serde(default = "defaults::initial")]
    pub initial: usize,
    /// Runs per round.
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    /// Runs revealed in all, initial ones included.
    #[serde(default = "defaults::budget")]
    pub budget: usize,
    /// Seeds 0..seeds; each draws its own initial runs.
    #[serde(default = "defaults::seeds")]
    pub seeds: usize,
    /// Budgets (runs revealed) at which regret is reported, each in `[initial, budget]`.
    #[serde(default = "defaults::regret_at")]
    pub regret_at: Vec<usize>,
    /// Shares of the pool counted as its best, for "runs to a top-p run": `[0.01, 0.05]`.
    #[serde(default = "defaults::top")]
    pub top: Vec<f64>,
    /// Also measure what each strategy's runs taught its surrogate: after the budget, the
    /// surrogate refitted on the runs the strategy revealed and scored on the pool runs it did
    /// not ([`SeedRun::model_error`]). One more fit per strategy and seed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub model_error: bool,
    /// The strategies compared; a `random` one is added when none is given.
    #[serde(rename = "strategy")]
    pub strategies: Vec<NamedStrategy>,
}

impl BacktestConfig {
    /// Reads and checks a config file (the pool is checked by [`Backtest::new`]).
    pub fn from_file(path: &Path) -> crate::Result<Self> {
        let bad = |message: String| BacktestError::Config {
            path: path.to_owned(),
            message,
        };
        let config: BacktestConfig = crate::io::read_toml(path, bad)?;
        config.validate().map_err(|e| match e {
            BacktestError::Parameter(message) => bad(message),
            other => other,
        })?;
        Ok(config)
    }

    /// Checks the parameters among themselves and adds the random baseline if missing.
    pub fn validate(&self) -> Result<(), BacktestError> {
        let bad = |m: String| Err(BacktestError::Parameter(m));
        if self.batch == 0 {
            return bad("`batch` must be at least 1".into());
        }
        if self.initial == 0 {
            return bad("`initial` must be at least 1 (the first surrogate needs runs)".into());
        }
        if self.seeds == 0 {
            return bad("`seeds` must be at least 1".into());
        }
        if self.budget <= self.initial {
            return bad(format!(
                "`budget` = {} must exceed `initial` = {}",
                self.budget, self.initial
            ));
        }
        for &b in &self.regret_at {
            if !(self.initial..=self.budget).contains(&b) {
                return bad(format!(
                    "`regret_at` = {b} lies outside [initial, budget] = [{}, {}]",
                    self.initial, self.budget
                ));
            }
        }
        for &p in &self.top {
            if !(p > 0.0 && p < 1.0) {
                return bad(format!("`top` = {p}: a share of the pool lies in (0, 1)"));
            }
        }
        if self.strategies.is_empty() {
            return bad("name at least one [[strategy]]".into());
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.strategies {
            let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
            if s.name.is_empty() || !s.name.chars().all(ok) || s.name.starts_with('.') {
                return bad(format!(
                    "strategy name `{}`: use letters, digits, `-`, `_` and `.`",
                    s.name
                ));
            }
            if !seen.insert(&s.name) {
                return bad(format!("strategy `{}` is named twice", s.name));
            }
            (s.spec.validate())
                .map_err(|e| BacktestError::Parameter(format!("strategy `{}`: {e}", s.name)))?;
        }
        Ok(())
    }

    /// The strategies with the random baseline first when none was named `random`-surrogate.
    pub fn with_baseline(&self) -> Vec<NamedStrategy> {
        let mut out = self.strategies.clone();
        if !out
            .iter()
            .any(|s| s.spec.surrogate == StrategyModel::Random)
        {
            let random = NamedStrategy {
                name: "random".into(),
                spec: StrategySpec::random(),
            };
            out.insert(0, random);
        }
        out
    }
}

/// One strategy's replay on one seed: what it revealed, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRun {
    /// Strategy name.
    pub strategy: String,
    /// Seed.
    pub seed: u64,
    /// Pool rows in the order they were revealed, `[budget]` (the first `initial` shared by
    /// every strategy of the seed).
    pub revealed: Vec<usize>,
    /// Wall seconds of each round (fit + choose), `[rounds]`.
    pub round_seconds: Vec<f64>,
    /// With [`BacktestConfig::model_error`], for a strategy with a surrogate: its surrogate
    /// fitted on the `revealed` runs, scored on the rest of the pool, as the RMSE of each
    /// target's mean prediction over the target's standard deviation in the pool, averaged
    /// over targets (0: exact; 1: no better than the pool's mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_error: Option<f64>,
}

/// A pool and a config, ready to replay.
pub struct Backtest {
    /// The logged runs the strategies choose among.
    pub pool: Runs,
    /// The config, with the random baseline added.
    pub config: BacktestConfig,
    /// What the strategies maximise.
    pub objective: ObjectiveSpec,
    /// The objective of every pool run, `[pool]`, higher is better: the truth the summary
    /// measures with (targets standardised over the whole pool when the objective says so).
    pub truth: Vec<f64>,
}

impl Backtest {
    /// Checks `pool` against `config`: no run repeated, every outcome finite, the budget
    /// within the pool.
    pub fn new(
        pool: Runs,
        config: BacktestConfig,
        objective: ObjectiveSpec,
    ) -> crate::Result<Self> {
        config.validate()?;
        let bad = |m: String| BacktestError::Pool(m);
        if config.budget > pool.len() {
            return Err(bad(format!(
                "`budget` = {} is larger than the pool ({} runs)",
                config.budget,
                pool.len()
            ))
            .into());
        }
        if config.model_error && config.budget == pool.len() {
            return Err(bad(format!(
                "`model_error` scores each strategy's surrogate on the runs it did not reveal, \
                 and `budget` = {} reveals the whole pool",
                config.budget
            ))
            .into());
        }
        let names = pool.schema.target_names();
        for (i, y) in pool.outcomes.iter().enumerate() {
            if let Some(t) = y.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "run `{}`: target `{}` is {} (a backtest needs every outcome)",
                    pool.keys[i], names[t], y[t]
                ))
                .into());
            }
        }
        if !pool.schema.context.is_empty() {
            return Err(bad(
                "runs with context columns (stages, signals) cannot be replayed as one pool".into(),
            )
            .into());
        }
        let mut first: HashMap<Vec<u64>, usize> = HashMap::new();
        for (i, w) in pool.mixtures.iter().enumerate() {
            let bits: Vec<u64> = w.iter().map(|x| x.to_bits()).collect();
            if let Some(&j) = first.get(&bits) {
                return Err(bad(format!(
                    "runs `{}` and `{}` have the same mixture: the pool must hold each mixture \
                     once (average repeated runs first)",
                    pool.keys[j], pool.keys[i]
                ))
                .into());
            }
            first.insert(bits, i);
        }
        let norm = Normalizer::fit(&pool.outcomes);
        let truth_objective = Objective::new(&objective, &pool.schema, &norm)?;
        let truth = pool
            .outcomes
            .iter()
            .map(|y| truth_objective.value(y))
            .collect();
        let config = BacktestConfig {
            strategies: config.with_baseline(),
            ..config
        };
        Ok(Backtest {
            pool,
            config,
            objective,
            truth,
        })
    }

    /// The pool rows revealed first on `seed`: the same for every strategy.
    pub fn initial_rows(&self, seed: u64) -> Vec<usize> {
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, 0xB4C7));
        sample(&mut rng, self.pool.len(), self.config.initial).into_vec()
    }

    /// Replays `strategy` on `seed` (on `device`) through the [`driver`]: the picker chooses
    /// among the rows not yet revealed, their logged outcomes are the reveal.
    pub fn replay<B: AutodiffBackend>(
        &self,
        strategy: &NamedStrategy,
        seed: u64,
        device: &B::Device,
    ) -> crate::Result<SeedRun> {
        let initial = self.initial_rows(seed);
        let mut hidden = vec![true; self.pool.len()];
        initial.iter().for_each(|&i| hidden[i] = false);
        let mut picker = PoolPicker::<B> {
            backtest: self,
            strategy,
            seed,
            hidden,
            proposer: None,
        };
        if let Some(spec) = strategy.spec.surrogate_spec() {
            // One proposer per replay, told one round at a time: the trust region follows
            // the rounds' successes and failures.
            let constraints = Constraints::simplex(&self.pool.schema.space);
            let config = picker.proposer_config();
            let mut proposer = Proposer::<B>::new(constraints, spec, config, device.clone())?;
            proposer.tell(&self.pool.subset(&initial))?;
            picker.proposer = Some(proposer);
        }
        let mut logged = Logged {
            backtest: self,
            revealed: initial,
        };
        let rounds = driver::run(&mut picker, &mut logged, &mut ())?;
        let model_error = match strategy.spec.surrogate_spec() {
            Some(spec) if self.config.model_error => {
                Some(self.model_error::<B>(&spec, &logged.revealed, seed, device)?)
            }
            _ => None,
        };
        Ok(SeedRun {
            strategy: strategy.name.clone(),
            seed,
            revealed: logged.revealed,
            round_seconds: rounds.iter().map(|r| r.seconds).collect(),
            model_error,
        })
    }

    /// [`SeedRun::model_error`]: `spec` fitted (seed `seed`) on the pool rows `revealed`,
    /// scored on the other rows.
    fn model_error<B: AutodiffBackend>(
        &self,
        spec: &SurrogateSpec,
        revealed: &[usize],
        seed: u64,
        device: &B::Device,
    ) -> crate::Result<f64> {
        let model = spec.fit::<B>(&self.pool.subset(revealed), seed, device, &mut ())?;
        let mut hidden = vec![true; self.pool.len()];
        revealed.iter().for_each(|&i| hidden[i] = false);
        let rows: Vec<usize> = (0..self.pool.len()).filter(|&i| hidden[i]).collect();
        let held = self.pool.subset(&rows);
        let prediction = model.predict(&held.mixtures, &held.context)?;
        let scale = Normalizer::fit(&self.pool.outcomes).std;
        let targets = self.pool.schema.targets.len();
        let error: f64 = (0..targets)
            .map(|t| {
                let mean = prediction.column(&prediction.mean, t);
                let mse = (mean.iter().zip(&held.outcomes))
                    .map(|(m, y)| (m - y[t]).powi(2))
                    .sum::<f64>()
                    / rows.len() as f64;
                mse.sqrt() / scale[t]
            })
            .sum();
        Ok(error / targets as f64)
    }

    /// The whole backtest in directory `dir`, as `mixatlas backtest --out DIR` runs it: a new
    /// directory, or with `resume` the one a previous call wrote (only missing jobs run), or
    /// with `force` a replacement of one mixatlas wrote (never another directory, nor one
    /// holding any of `inputs`). Takes the directory's lock, runs the jobs (see
    /// [`Backtest::run`]) and writes `backtest.md`, `backtest.csv` and `backtest.json`.
    #[allow(clippy::too_many_arguments)]
    pub fn run_in<B: AutodiffBackend>(
        &self,
        dir: &Path,
        resume: bool,
        force: bool,
        inputs: &[&Path],
        jobs: usize,
        device: &B::Device,
        observer: &mut dyn Observer,
    ) -> crate::Result<Summary> {
        let resume = resume && dir.exists();
        crate::io::check_output(dir, Overwrite::from_force(force || resume), inputs)?;
        if force && !resume && dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let _lock = CampaignLock::acquire(dir)?;
        self.prepare(dir, resume)?;
        let runs = self.run::<B>(dir, jobs, device, observer)?;
        let summary = summarize(&self.config, &self.truth, &runs);
        let json = serde_json::to_string_pretty(&summary).expect("a summary serialises");
        write_atomic(&dir.join("backtest.md"), summary.markdown().as_bytes())?;
        write_atomic(&dir.join("backtest.csv"), summary.csv().as_bytes())?;
        write_atomic(&dir.join("backtest.json"), json.as_bytes())?;
        Ok(summary)
    }

    /// Runs every (strategy, seed) job without a result file under `dir` on `jobs` threads,
    /// writing each result as it ends, then returns every result (strategy-major, by seed).
    /// `observer` sees jobs done of all jobs; the first error stops the others after their
    /// current job.
    pub fn run<B: AutodiffBackend>(
        &self,
        dir: &Path,
        jobs: usize,
        device: &B::Device,
        observer: &mut dyn Observer,
    ) -> crate::Result<Vec<SeedRun>> {
        let strategies = &self.config.strategies;
        let seeds = self.config.seeds as u64;
        let tasks: Vec<(usize, u64)> = (0..strategies.len())
            .flat_map(|s| (0..seeds).map(move |k| (s, k)))
            .collect();
        let path = |s: usize, k: u64| seed_file(dir, &strategies[s].name, k);
        let todo: Vec<(usize, u64)> = tasks
            .iter()
            .copied()
            .filter(|&(s, k)| !path(s, k).is_file())
            .collect();
        let total = tasks.len() as u64;
        let mut done = total - todo.len() as u64;
        observer.progress("backtest", done, total);
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<crate::Result<()>>();
        let mut first_error = None;
        std::thread::scope(|scope| {
            for _ in 0..jobs.clamp(1, todo.len().max(1)) {
                let tx = tx.clone();
                let (todo, next, stop) = (&todo, &next, &stop);
                scope.spawn(move || {
                    // One thread per job for the surrogate's kernels.
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
                    let work = || loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= todo.len() || stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let (s, k) = todo[i];
                        let result = self
                            .replay::<B>(&strategies[s], k, device)
                            .and_then(|run| write_seed(&path(s, k), &run));
                        if result.is_err() {
                            stop.store(true, Ordering::SeqCst);
                        }
                        if tx.send(result).is_err() {
                            return;
                        }
                    };
                    match pool {
                        Ok(pool) => pool.install(work),
                        Err(_) => work(),
                    }
                });
            }
            drop(tx);
            for result in rx {
                match result {
                    Ok(()) => {
                        done += 1;
                        observer.progress("backtest", done, total);
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        });
        if let Some(e) = first_error {
            return Err(e);
        }
        tasks.iter().map(|&(s, k)| read_seed(&path(s, k))).collect()
    }
}

/// A backtest strategy's picks among the pool rows not yet revealed: through the proposer in
/// pool mode, or uniformly at random (the `random` strategy, without a proposer).
struct PoolPicker<'a, B: AutodiffBackend> {
    backtest: &'a Backtest,
    strategy: &'a NamedStrategy,
    seed: u64,
    /// `[pool rows]`: not revealed yet.
    hidden: Vec<bool>,
    proposer: Option<Proposer<B>>,
}

impl<B: AutodiffBackend> PoolPicker<'_, B> {
    /// The pool rows not revealed yet.
    fn open(&self) -> Vec<usize> {
        (0..self.hidden.len()).filter(|&i| self.hidden[i]).collect()
    }

    /// The strategy's proposer config with the open rows as the pool.
    fn proposer_config(&self) -> ProposerConfig {
        let pool = (self.open().iter())
            .map(|&i| self.backtest.pool.mixtures[i].clone())
            .collect();
        ProposerConfig {
            pool: Some(PoolSource::Mixtures(pool)),
            ..(self.strategy.spec).proposer_config(&self.backtest.objective, Mode::Pool, self.seed)
        }
    }
}

impl<B: AutodiffBackend> Ask for PoolPicker<'_, B> {
    fn tell(&mut self, runs: &Runs) -> crate::Result<()> {
        match &mut self.proposer {
            Some(p) => p.tell(runs),
            None => Ok(()),
        }
    }

    fn ask(&mut self, q: usize, observer: &mut dyn Observer) -> crate::Result<Vec<Pick>> {
        let open = self.open();
        let rows: Vec<usize> = match self.proposer.take() {
            None => {
                let revealed = self.hidden.len() - open.len();
                let mut rng = StdRng::seed_from_u64(derive_seed(self.seed, revealed as u64));
                (sample(&mut rng, open.len(), q).into_iter())
                    .map(|k| open[k])
                    .collect()
            }
            Some(mut proposer) => {
                proposer.set_config(self.proposer_config())?;
                let picks = Ask::ask(&mut proposer, q, observer);
                self.proposer = Some(proposer);
                (picks?.iter())
                    .map(|p| open[p.pool_row.expect("pool mode returns pool rows")])
                    .collect()
            }
        };
        rows.iter().for_each(|&i| self.hidden[i] = false);
        Ok(rows
            .into_iter()
            .map(|i| Pick {
                weights: self.backtest.pool.mixtures[i].clone(),
                pool_row: Some(i),
            })
            .collect())
    }
}

/// A backtest's reveal: the logged outcomes of the rows picked, in rounds of `batch` until
/// `budget` rows are revealed.
struct Logged<'a> {
    backtest: &'a Backtest,
    /// Pool rows in the order they were revealed (the initial ones first).
    revealed: Vec<usize>,
}

impl Reveal for Logged<'_> {
    fn batch(&mut self, _round: usize) -> usize {
        let config = &self.backtest.config;
        config
            .batch
            .min(config.budget.saturating_sub(self.revealed.len()))
    }

    fn reveal(&mut self, _round: usize, picks: &[Pick]) -> crate::Result<Option<Runs>> {
        let rows: Vec<usize> = picks.iter().filter_map(|p| p.pool_row).collect();
        self.revealed.extend(&rows);
        Ok(Some(self.backtest.pool.subset(&rows)))
    }
}

/// Where the result of `strategy` on `seed` is kept.
pub fn seed_file(dir: &Path, strategy: &str, seed: u64) -> PathBuf {
    dir.join("seeds")
        .join(strategy)
        .join(format!("{seed}.json"))
}

fn write_seed(path: &Path, run: &SeedRun) -> crate::Result<()> {
    let parent = path.parent().expect("seed files live in a directory");
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let text = serde_json::to_string(run).expect("a seed run serialises");
    Ok(crate::io::write_atomic(path, text.as_bytes())?)
}

fn read_seed(path: &Path) -> crate::Result<SeedRun> {
    let text = crate::io::read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        BacktestError::Config {
            path: path.to_owned(),
            message: format!("not a backtest result ({e}); remove it to replay that seed"),
        }
        .into()
    })
}

/// What a backtest directory records about its inputs, so a resumed backtest can refuse to
/// mix results of another config or pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The config as run (random baseline included).
    pub config: BacktestConfig,
    /// The objective.
    pub objective: ObjectiveSpec,
    /// SHA-256 of the pool's keys, mixtures and outcomes.
    pub pool_digest: String,
}

impl Backtest {
    /// The fingerprint of this backtest.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut text = String::new();
        for i in 0..self.pool.len() {
            text.push_str(&format!(
                "{}|{:?}|{:?}\n",
                self.pool.keys[i], self.pool.mixtures[i], self.pool.outcomes[i]
            ));
        }
        Fingerprint {
            config: self.config.clone(),
            objective: self.objective.clone(),
            pool_digest: crate::surrogate::checkpoint::digest("pool", text.as_bytes()).sha256,
        }
    }

    /// Prepares `dir` for this backtest: creates it with its fingerprint, or, resuming, checks
    /// that the fingerprint there matches (a changed seed count only adds or ignores seeds).
    pub fn prepare(&self, dir: &Path, resume: bool) -> crate::Result<()> {
        let file = dir.join("backtest-input.json");
        let mine = self.fingerprint();
        if resume && file.is_file() {
            let text = crate::io::read_text(&file)?;
            let theirs: Fingerprint =
                serde_json::from_str(&text).map_err(|e| BacktestError::Config {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
            let mismatch = |what| BacktestError::Mismatch {
                path: dir.to_owned(),
                what,
            };
            if theirs.pool_digest != mine.pool_digest {
                return Err(mismatch("the pool").into());
            }
            if theirs.objective != mine.objective {
                return Err(mismatch("the objective").into());
            }
            let same = |c: &BacktestConfig| BacktestConfig {
                seeds: 0,
                regret_at: Vec::new(),
                top: Vec::new(),
                strategies: Vec::new(),
                ..c.clone()
            };
            if same(&theirs.config) != same(&mine.config) {
                return Err(mismatch("initial, batch, budget or model_error").into());
            }
            for s in &mine.config.strategies {
                if let Some(t) = theirs.config.strategies.iter().find(|t| t.name == s.name)
                    && !t.same_as(s)
                {
                    return Err(mismatch("a strategy of the same name").into());
                }
            }
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_atomic(&dir.join(crate::io::OUTPUT_MARKER), b"")?;
        let text = serde_json::to_string_pretty(&mine).expect("a fingerprint serialises");
        Ok(write_atomic(&file, text.as_bytes())?)
    }
}

#[cfg(test)]
mod tests;
