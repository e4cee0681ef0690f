//! The library's proposing entry point: a [`Proposer`] with ask/tell.
//!
//! Built once from the feasible set, an objective, how the surrogate is obtained and the
//! search parameters ([`ProposerConfig`], validated when the proposer is built: an acquisition
//! that reads what the surrogate does not give is refused here, not deep in a run). Then:
//!
//! - [`Proposer::tell`] adds measured runs; a proposer that fits its own surrogate refits it
//!   on every run told so far before the next ask;
//! - [`Proposer::ask`] returns the next `q` mixtures, with predictions and diagnostics.
//!
//! The pipeline behind `ask` is the one `propose`, every campaign round and the strategy
//! bench share: surrogate -> [`Scorer`] -> acquisition (incumbent and GP-UCB's t from the
//! runs told) -> chained searchers -> a batch at least `min_distance` apart from each other
//! and from every run told. The seed of a round is derived from the configured seed and the
//! number of runs told, so a resumed process proposes exactly what an uninterrupted one would.
//!
//! A proposer that fits its own surrogate, here the MixAtlas paper's GP with GP-UCB's
//! `beta_t` (the crate docs show one over a trained ensemble):
//!
//! ```
//! use mixatlas::acquisition::{AcquisitionKind, AcquisitionSpec};
//! use mixatlas::device::Cpu;
//! use mixatlas::proposer::{Proposer, ProposerConfig, SearcherKind, SurrogateSpec};
//! use mixatlas::runs::{DataSpec, Runs};
//! use mixatlas::space::Constraints;
//!
//! let runs = Runs::load(&DataSpec::from_file("configs/data/regmix-1m-train.toml".as_ref())?)?;
//! let config = ProposerConfig {
//!     acquisition: AcquisitionSpec { kind: AcquisitionKind::Ucb, beta: None, ..AcquisitionSpec::default() },
//!     searchers: vec![SearcherKind::Random, SearcherKind::Cmaes],
//!     samples: 2_000,
//!     ..ProposerConfig::default()
//! };
//! let constraints = Constraints::simplex(&runs.schema.space);
//! let mut proposer = Proposer::<Cpu>::new(constraints, SurrogateSpec::Gp(Default::default()), config, Default::default())?;
//! proposer.tell(&runs)?;
//! let batch = proposer.ask(4)?;
//! assert_eq!(batch.proposals.len(), 4);
//! assert!(batch.acquisition.starts_with("ucb"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::acquisition::{
    self, Acquisition, AcquisitionContext, AcquisitionKind, AcquisitionSpec, Scorer, Scores,
};
use crate::math::derive_seed;
use crate::math::simplex::tv_distance;
use crate::objective::{Objective, ObjectiveSpec};
use crate::progress::Observer;
use crate::runs::{DataSpec, Runs};
use crate::search::{
    CmaEs, GradientAscent, Pool, RandomSearch, Searcher, StreamedPool, search_chain, select_batch,
};
use crate::space::sampler::{DirichletSampler, Prior, prior_weights, sample_chunk};
use crate::space::{Constraints, Space};
pub use crate::surrogate::SurrogateSpec;
use crate::surrogate::{Capabilities, Fitted, Surrogate};

/// Reference mixtures the `ivr` criterion integrates over (besides the runs told).
const REFERENCE_SAMPLES: usize = 512;
/// Candidates the random searcher scores per call of the surrogate.
const RANDOM_CHUNK: usize = 8192;
/// Candidates kept between chained searchers, at least.
const MIN_KEEP: usize = 1024;
/// Candidates kept per proposal asked for, when more than [`MIN_KEEP`].
const KEEP_PER_PROPOSAL: usize = 64;
/// At most this many of the random searcher's draws are kept by default (a quarter of them
/// below it).
const MAX_DEFAULT_KEEP: usize = 1 << 16;
/// Most proposals one ask may return.
pub const MAX_BATCH: usize = 10_000;
/// `min_distance` of pool mode by default (`propose --pool`, backtests): the candidates are
/// distinct real mixtures, and spacing them out kept the best logged RegMix run from being
/// picked within 32 runs in backtests (median regret 0.0077 against 0 without).
pub const POOL_MIN_DISTANCE: f64 = 0.0;

/// Why a proposer cannot be built or asked.
#[derive(Debug, thiserror::Error)]
pub enum ProposerError {
    /// A parameter is out of range.
    #[error("proposer parameter `{name}`: {problem}")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The gradient searcher differentiates the ensemble.
    #[error(
        "the gradient searcher differentiates the deep ensemble; with a Gaussian process use \
         the random and cmaes searchers"
    )]
    GradientNeedsEnsemble,
    /// Kriging believer asked a surrogate that cannot condition on fantasised observations.
    #[error("kriging believer conditions the surrogate on its picks: use --surrogate gp")]
    CannotCondition,
    /// Nothing was told and no fitted surrogate was given.
    #[error("no surrogate yet: tell the proposer some runs first, or give it a fitted model")]
    NoSurrogate,
}

/// A searcher in the chain `ask` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SearcherKind {
    /// Dirichlet sampling around the prior (or the trust region's anchors).
    Random,
    /// CMA-ES on softmax logits from the best so far.
    Cmaes,
    /// Projected gradient ascent through the ensemble from the best so far.
    Gradient,
}

/// How a batch of `q` proposals is chosen from the best candidates the searchers kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum BatchMethod {
    /// Greedy by acquisition value, each pick at least `min_distance` from the others.
    #[default]
    Distance,
    /// The MixAtlas paper's GP-UCB batches: after each pick the GP is conditioned on its own
    /// mean there (hyperparameters fixed) and the candidates are rescored, so the next pick's
    /// uncertainty is what remains once the first is run. Needs a GP surrogate.
    KrigingBeliever,
    /// Local penalisation (González et al., 2016), for any surrogate: after each pick x_j,
    /// every candidate's acquisition (standardised over the pool, then softplus) is multiplied
    /// by `P(||x - x_j|| > r_j)`, the probability that x lies outside the ball the pick is
    /// likely to rule out, `r_j = (M - mu(x_j)) / L` with `M` the best mean and `L` a
    /// Lipschitz constant of the mean estimated over the pool: `Phi((L d - M + mu_j) /
    /// sigma_j)`. Unlike kriging believer it needs no refit.
    LocalPenalization,
}

/// A TuRBO-style trust region (Eriksson et al., 2019) that moves with the incumbent: proposals
/// lie within `length` (total-variation distance) of the best run told. After `successes`
/// rounds in a row that improve the incumbent the length doubles (up to `max_length`); after
/// `failures` rounds in a row that do not, it halves; below `min_length` it restarts at
/// `length`. Each `tell` is one round. In pool mode the region grows, if needed, to hold
/// `2 q` candidates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustRegionConfig {
    /// Starting (and restart) length.
    pub length: f64,
    /// Below this the region restarts.
    pub min_length: f64,
    /// Largest length.
    pub max_length: f64,
    /// Improving rounds in a row that double the length.
    pub successes: usize,
    /// Rounds in a row without improvement that halve it; `None`: TuRBO's
    /// `ceil(max(4, d) / q)` for d domains and batches of q.
    pub failures: Option<usize>,
}

impl Default for TrustRegionConfig {
    fn default() -> Self {
        TrustRegionConfig {
            length: 0.4,
            min_length: 0.05,
            max_length: 0.8,
            successes: 3,
            failures: None,
        }
    }
}

impl TrustRegionConfig {
    /// Checks the lengths and counts.
    pub fn validate(&self) -> Result<(), ProposerError> {
        let bad = |problem: &str| ProposerError::BadParameter {
            name: "trust_region",
            problem: problem.into(),
        };
        let (lo, l, hi) = (self.min_length, self.length, self.max_length);
        if !(lo > 0.0 && lo <= l && l <= hi && hi <= 1.0) {
            return Err(bad(
                "need 0 < min_length <= length <= max_length <= 1 (total-variation distances)",
            ));
        }
        if self.successes == 0 || self.failures == Some(0) {
            return Err(bad("`successes` and `failures` must be at least 1"));
        }
        Ok(())
    }

    /// The length after the rounds told: `rounds[r]` holds the objective values (higher is
    /// better) of round r, the first being the initial design. `q` and `dims` give the
    /// default failure tolerance.
    pub fn length_after(&self, rounds: &[Vec<f64>], q: usize, dims: usize) -> f64 {
        let failures = (self.failures)
            .unwrap_or_else(|| dims.max(4).div_ceil(q.max(1)))
            .max(1);
        let best_of = |r: &[f64]| r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut best = rounds.first().map_or(f64::NEG_INFINITY, |r| best_of(r));
        let (mut length, mut up, mut down) = (self.length, 0, 0);
        for round in rounds.iter().skip(1) {
            let b = best_of(round);
            if b > best + 1e-3 * best.abs() {
                (up, down) = (up + 1, 0);
            } else {
                (up, down) = (0, down + 1);
            }
            best = best.max(b);
            if up == self.successes {
                (length, up) = ((2.0 * length).min(self.max_length), 0);
            }
            if down == failures {
                (length, down) = (length / 2.0, 0);
            }
            if length < self.min_length {
                length = self.length;
            }
        }
        length
    }
}

/// The candidates of pool mode.
#[derive(Debug, Clone)]
pub enum PoolSource {
    /// Mixtures in memory, `[n][domains]`.
    Mixtures(Vec<Vec<f64>>),
    /// A file of mixtures (columns by the surrogate's schema), parsed in chunks: only the
    /// scored weights of its feasible rows are held, not the file's text (a 200 MB CSV took
    /// 2.8 GB read whole, 0.37 GB streamed).
    File(Box<DataSpec>),
}

/// What `ask` does, besides the surrogate. Defaults are `mixatlas propose`'s.
#[derive(Debug, Clone)]
pub struct ProposerConfig {
    /// The acquisition function and its parameters.
    pub acquisition: AcquisitionSpec,
    /// The objective the acquisition maximises.
    pub objective: ObjectiveSpec,
    /// Searchers, chained in order (ignored in pool mode).
    pub searchers: Vec<SearcherKind>,
    /// Candidates the random searcher samples per ask.
    pub samples: u64,
    /// Evaluations CMA-ES may spend per ask.
    pub cmaes_evaluations: usize,
    /// Candidates kept between searchers; `None`: `max(64 q, 1024, min(samples / 4, 65536))`.
    /// Kept candidates past the best few only serve a batch that spacing pushes down the
    /// ranking (few domains, many runs told): with them the batch reaches into a quarter of
    /// the sampled simplex instead of a small region around the optimum.
    pub keep: Option<usize>,
    /// Smallest total-variation distance between two proposals and from any run told (within
    /// a trust region, at most a third of its radius).
    pub min_distance: f64,
    /// The prior the random searcher samples around (outside a trust region).
    pub prior: Prior,
    /// Pool mode: choose among these candidates instead of searching.
    pub pool: Option<PoolSource>,
    /// Context inputs shared by every proposal, `[context]` (e.g. stage and signals).
    pub context: Vec<f64>,
    /// How the proposals of one batch are chosen from the scored candidates.
    pub batch: BatchMethod,
    /// A trust region around the incumbent that adapts over rounds, if any.
    pub trust_region: Option<TrustRegionConfig>,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for ProposerConfig {
    fn default() -> Self {
        ProposerConfig {
            acquisition: AcquisitionSpec::default(),
            objective: ObjectiveSpec::default(),
            searchers: vec![
                SearcherKind::Random,
                SearcherKind::Cmaes,
                SearcherKind::Gradient,
            ],
            samples: 100_000,
            cmaes_evaluations: CmaEs::default().evaluations,
            keep: None,
            min_distance: 0.05,
            prior: Prior::Tokens,
            pool: None,
            context: Vec::new(),
            batch: BatchMethod::Distance,
            trust_region: None,
            seed: 0,
        }
    }
}

impl ProposerConfig {
    /// Checks the parameters, and that a surrogate with `caps` can serve the acquisition and
    /// the searchers.
    fn validate(&self, caps: &Capabilities) -> crate::Result<()> {
        let bad = |name, problem: &str| ProposerError::BadParameter {
            name,
            problem: problem.into(),
        };
        if !(self.min_distance.is_finite() && (0.0..=1.0).contains(&self.min_distance)) {
            return Err(bad("min_distance", "a total-variation distance lies in [0, 1]").into());
        }
        if self.pool.is_none() && self.searchers.is_empty() {
            return Err(bad("searchers", "name at least one searcher").into());
        }
        if self.pool.is_none()
            && self.searchers.contains(&SearcherKind::Random)
            && self.samples == 0
        {
            return Err(bad("samples", "the random searcher needs at least 1 sample").into());
        }
        let searching = self.pool.is_none();
        if searching && self.searchers.contains(&SearcherKind::Gradient) && !caps.differentiable {
            return Err(ProposerError::GradientNeedsEnsemble.into());
        }
        if self.batch == BatchMethod::KrigingBeliever && !caps.conditions {
            return Err(bad(
                "batch",
                "kriging believer conditions a Gaussian process: use --surrogate gp",
            )
            .into());
        }
        if let Some(tr) = &self.trust_region {
            tr.validate()?;
        }
        if self.acquisition.kind.needs_members() && caps.members.is_none() {
            let acquisition = self.acquisition.kind.name();
            return Err(acquisition::AcquisitionError::NeedsMembers { acquisition }.into());
        }
        Ok(())
    }
}

/// One proposed mixture with its predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Weights `[domains]`, feasible.
    pub weights: Vec<f64>,
    /// Acquisition value when it was picked (higher is better).
    pub acquisition: f64,
    /// Posterior mean of the objective.
    pub objective: f64,
    /// Epistemic std of the objective.
    pub objective_std: f64,
    /// Per target: posterior mean and epistemic std, target units, `[targets]`.
    pub targets: Vec<(f64, f64)>,
    /// Row of the pool, in pool mode.
    pub pool_row: Option<usize>,
    /// Index (among the runs told) and total-variation distance of the nearest run told.
    pub nearest: Option<(usize, f64)>,
}

/// What one `ask` returns.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The proposals, in the order they were picked.
    pub proposals: Vec<Proposal>,
    /// The acquisition function's name with its parameters, e.g. `ucb(beta=4)`.
    pub acquisition: String,
    /// The objective the acquisition maximised.
    pub objective: Objective,
    /// Best objective among the runs told, if any.
    pub incumbent: Option<f64>,
    /// Runs the surrogate was fitted on (or told, for a fixed model).
    pub runs_told: usize,
    /// The trust region's length this round, when one is configured.
    pub trust_region: Option<f64>,
    /// Pool rows skipped because they violate the constraints (0 when searching).
    pub infeasible_skipped: usize,
    /// Seed of this ask.
    pub seed: u64,
}

/// Proposes the next mixtures with ask/tell; see the module docs.
pub struct Proposer<B: AutodiffBackend> {
    constraints: Constraints,
    /// How the surrogate is refitted on runs told; `None` for a fixed model.
    surrogate: Option<SurrogateSpec>,
    config: ProposerConfig,
    device: B::Device,
    runs: Option<Runs>,
    /// Runs per `tell`, in order: the rounds a trust region follows.
    rounds: Vec<usize>,
    model: Option<Fitted<B::InnerBackend>>,
    stale: bool,
}

impl<B: AutodiffBackend> Proposer<B> {
    /// A proposer over `constraints` that obtains its surrogate as `surrogate` says (on
    /// `device`); refuses invalid or incompatible parameters.
    pub fn new(
        constraints: Constraints,
        surrogate: SurrogateSpec,
        config: ProposerConfig,
        device: B::Device,
    ) -> crate::Result<Self> {
        if let SurrogateSpec::Ensemble(training) = &surrogate {
            training.validate()?;
        }
        check_config(&config, &constraints, &surrogate.capabilities())?;
        Ok(Proposer {
            constraints,
            surrogate: Some(surrogate),
            config,
            device,
            runs: None,
            rounds: Vec::new(),
            model: None,
            stale: false,
        })
    }

    /// A proposer that scores with the fitted `model` (a checkpoint), until runs told make it
    /// refit.
    pub fn with_model(
        constraints: Constraints,
        model: Fitted<B::InnerBackend>,
        config: ProposerConfig,
        device: B::Device,
    ) -> crate::Result<Self> {
        config.validate(&model.surrogate().capabilities())?;
        check_trust_region(&constraints, &config)?;
        Ok(Proposer {
            constraints,
            surrogate: None,
            config,
            device,
            runs: None,
            rounds: Vec::new(),
            model: Some(for_search(model)?),
            stale: false,
        })
    }

    /// Adds measured runs, one round of them (their schema must match the runs told before).
    pub fn tell(&mut self, runs: &Runs) -> crate::Result<()> {
        match &mut self.runs {
            None => self.runs = Some(runs.clone()),
            Some(all) => all.extend(runs)?,
        }
        self.rounds.push(runs.len());
        self.stale = self.surrogate.is_some();
        Ok(())
    }

    /// Replaces what `ask` does (a new pool, acquisition or seed for the next round), keeping
    /// the runs told and the fitted surrogate.
    pub fn set_config(&mut self, config: ProposerConfig) -> crate::Result<()> {
        let caps = match (&self.surrogate, &self.model) {
            (Some(spec), _) => spec.capabilities(),
            (None, Some(model)) => model.surrogate().capabilities(),
            (None, None) => unreachable!("a proposer has a spec or a model"),
        };
        config.validate(&caps)?;
        check_trust_region(&self.constraints, &config)?;
        self.config = config;
        Ok(())
    }

    /// The constraints of an ask for `q` proposals: the configured ones, within the trust
    /// region around the best run told when one is configured (with its length).
    fn round_constraints(
        &self,
        objective: &Objective,
        q: usize,
    ) -> crate::Result<(Constraints, Option<f64>)> {
        let (Some(tr), Some(runs)) = (&self.config.trust_region, &self.runs) else {
            return Ok((self.constraints.clone(), None));
        };
        let values: Vec<f64> = runs.outcomes.iter().map(|y| objective.value(y)).collect();
        let mut start = 0;
        let rounds: Vec<Vec<f64>> = (self.rounds.iter())
            .map(|&n| {
                start += n;
                values[start - n..start].to_vec()
            })
            .collect();
        let mut length = tr.length_after(&rounds, q, runs.schema.space.len());
        let best = (0..values.len())
            .max_by(|&a, &b| values[a].total_cmp(&values[b]))
            .ok_or(ProposerError::NoSurrogate)?;
        let incumbent = runs.mixtures[best].clone();
        if let Some(PoolSource::Mixtures(pool)) = &self.config.pool {
            // Room for a choice: at least 2q feasible candidates inside.
            let mut d: Vec<f64> = (pool.iter())
                .filter(|w| self.constraints.is_feasible(w))
                .map(|w| tv_distance(w, &incumbent))
                .collect();
            let k = (2 * q).min(d.len());
            if k > 0 {
                d.select_nth_unstable_by(k - 1, f64::total_cmp);
                length = length.max(d[k - 1]);
            }
        }
        let mut constraints = self.constraints.clone();
        constraints.trust_region = Some((vec![incumbent], length));
        Ok((constraints, Some(length)))
    }

    /// Every run told so far.
    pub fn runs(&self) -> Option<&Runs> {
        self.runs.as_ref()
    }

    /// The current surrogate (after the last fit), if any.
    pub fn model(&self) -> Option<&Fitted<B::InnerBackend>> {
        self.model.as_ref()
    }

    /// The seed of the next ask: the configured seed and the number of runs told.
    fn round_seed(&self) -> u64 {
        derive_seed(
            self.config.seed,
            self.runs.as_ref().map_or(0, |r| r.len()) as u64,
        )
    }

    /// Fits the surrogate on every run told, when new runs arrived since the last fit.
    pub fn fit(&mut self) -> crate::Result<()> {
        if !self.stale && self.model.is_some() {
            return Ok(());
        }
        let runs = self.runs.as_ref().ok_or(ProposerError::NoSurrogate)?;
        let spec = self.surrogate.as_ref().ok_or(ProposerError::NoSurrogate)?;
        let model = spec.fit::<B>(runs, self.round_seed(), &self.device, &mut ())?;
        self.model = Some(for_search(model)?);
        self.stale = false;
        Ok(())
    }

    /// Proposes `q` mixtures (fitting the surrogate first if runs were told since).
    pub fn ask(&mut self, q: usize) -> crate::Result<Batch> {
        self.ask_with(q, &mut ())
    }

    /// [`Proposer::ask`], reporting search progress to `observer`.
    pub fn ask_with(&mut self, q: usize, observer: &mut dyn Observer) -> crate::Result<Batch> {
        if q == 0 || q > MAX_BATCH {
            return Err(ProposerError::BadParameter {
                name: "q",
                problem: format!("ask for 1 to {MAX_BATCH} proposals, not {q}"),
            }
            .into());
        }
        self.fit()?;
        let model = self.model.as_ref().ok_or(ProposerError::NoSurrogate)?;
        let surrogate = model.surrogate();
        let objective = Objective::new(
            &self.config.objective,
            surrogate.schema(),
            surrogate.target_norm(),
        )?;
        let scorer = Scorer {
            surrogate,
            objective: &objective,
            context: self.config.context.clone(),
            members: self.config.acquisition.kind.needs_members(),
        };
        let seed = self.round_seed();
        let told = self.runs.as_ref();
        let mixtures = told.map_or(&[][..], |r| &r.mixtures[..]);
        let (constraints, trust_region) = self.round_constraints(&objective, q)?;
        let sampler = search_sampler(&constraints, &surrogate.schema().space, self.config.prior);
        let candidates = match &self.config.pool {
            Some(PoolSource::Mixtures(pool)) => Some(pool.len()),
            _ => None,
        };
        let (mut acq, ctx) = build_acquisition(
            &scorer,
            &self.config.acquisition,
            told,
            candidates,
            &sampler,
            &constraints,
            seed,
        )?;
        let keep = self.config.keep.unwrap_or_else(|| {
            let quarter = usize::try_from(self.config.samples / 4).unwrap_or(usize::MAX);
            (KEEP_PER_PROPOSAL * q)
                .max(MIN_KEEP)
                .max(quarter.min(MAX_DEFAULT_KEEP))
        });
        let mut searchers = self.searchers(model, &objective, acq.as_ref(), sampler, keep)?;
        let picked = choose(
            &mut searchers,
            &scorer,
            acq.as_mut(),
            &constraints,
            Choice {
                q,
                min_distance: spacing(self.config.min_distance, trust_region),
                avoid: mixtures,
                keep,
                seed,
                believer: (self.config.batch == BatchMethod::KrigingBeliever)
                    .then(|| model.surrogate()),
                penalize: self.config.batch == BatchMethod::LocalPenalization,
                incumbent: ctx.incumbent,
            },
            observer,
        )?;
        Ok(Batch {
            proposals: describe(picked, &scorer, mixtures)?,
            acquisition: acq.name(),
            incumbent: ctx.incumbent,
            runs_told: mixtures.len(),
            trust_region,
            infeasible_skipped: searchers.iter().map(|s| s.skipped()).sum(),
            objective,
            seed,
        })
    }

    fn searchers<'a>(
        &self,
        model: &'a Fitted<B::InnerBackend>,
        objective: &Objective,
        acq: &dyn Acquisition,
        sampler: DirichletSampler,
        keep: usize,
    ) -> crate::Result<Vec<Box<dyn Searcher + 'a>>> {
        match &self.config.pool {
            Some(PoolSource::Mixtures(mixtures)) => {
                let mixtures = mixtures.clone();
                return Ok(vec![Box::new(Pool {
                    mixtures,
                    keep: usize::MAX,
                    skipped: 0,
                })]);
            }
            Some(PoolSource::File(spec)) => {
                let schema = model.surrogate().schema().clone();
                let spec = spec.as_ref().clone();
                // Every feasible row stays a candidate, as in memory: batch selection may
                // have to walk far down a pool full of near-duplicates.
                let keep = usize::MAX;
                return Ok(vec![Box::new(StreamedPool {
                    spec,
                    schema,
                    keep,
                    skipped: 0,
                })]);
            }
            None => {}
        }
        let mut out: Vec<Box<dyn Searcher + 'a>> = Vec::new();
        for kind in &self.config.searchers {
            out.push(match kind {
                SearcherKind::Random => Box::new(RandomSearch {
                    sampler: sampler.clone(),
                    samples: self.config.samples,
                    chunk: RANDOM_CHUNK,
                    keep,
                }),
                SearcherKind::Cmaes => Box::new(CmaEs {
                    evaluations: self.config.cmaes_evaluations,
                    ..CmaEs::default()
                }),
                SearcherKind::Gradient => {
                    let ensemble = model
                        .differentiable()
                        .ok_or(ProposerError::GradientNeedsEnsemble)?;
                    let context = self.config.context.clone();
                    Box::new(GradientAscent::<B>::new(ensemble, objective, acq, context)?)
                }
            });
        }
        Ok(out)
    }
}

/// Where random search draws: around the trust region's anchors when `constraints` have
/// one, else around `prior` over `space`.
pub fn search_sampler(constraints: &Constraints, space: &Space, prior: Prior) -> DirichletSampler {
    match &constraints.trust_region {
        Some((anchors, _)) => DirichletSampler {
            centers: anchors.clone(),
            strength: (1.0, 50.0),
        },
        None => DirichletSampler::around(prior_weights(space, prior)),
    }
}

/// The acquisition `spec` over `scorer`'s surrogate, with its context: the incumbent and
/// GP-UCB's t from the runs `told`, and for `ivr` a reference set of 512 feasible draws from
/// `sampler` plus the mixtures told. GP-UCB's `|D|` is the number of `candidates` when they are
/// known in advance (an in-memory pool: Srinivas et al.'s finite-set form), the number of
/// domains otherwise (searching, or a pool streamed from a file). Refuses a function
/// the surrogate cannot serve, and GP-UCB's schedule without runs told (its t counts them).
pub fn build_acquisition(
    scorer: &Scorer<'_>,
    spec: &AcquisitionSpec,
    told: Option<&Runs>,
    candidates: Option<usize>,
    sampler: &DirichletSampler,
    constraints: &Constraints,
    seed: u64,
) -> crate::Result<(Box<dyn Acquisition>, AcquisitionContext)> {
    let confidence_bound = matches!(spec.kind, AcquisitionKind::Ucb | AcquisitionKind::Lcb);
    if confidence_bound && spec.beta.is_none() && told.is_none_or(Runs::is_empty) {
        return Err(ProposerError::BadParameter {
            name: "beta",
            problem: "GP-UCB's beta_t grows with the number of runs observed: give the runs \
                      the surrogate was fitted on (--data), or a fixed --beta"
                .into(),
        }
        .into());
    }
    let reference = (spec.kind == AcquisitionKind::Ivr).then(|| {
        let (mut r, _) = sample_chunk(sampler, constraints, REFERENCE_SAMPLES, seed ^ 0x5EED, 0);
        if let Some(runs) = told {
            r.extend(runs.mixtures.iter().cloned());
        }
        r
    });
    let outcomes = told.map_or(&[][..], |r| &r.outcomes[..]);
    let mut ctx = scorer.acquisition_context(outcomes, reference.as_deref())?;
    if let Some(n) = candidates {
        ctx.dims = n;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let caps = scorer.surrogate.capabilities();
    let acq = acquisition::build(spec, &ctx, &caps, &mut rng)?;
    Ok((acq, ctx))
}

/// The picked candidates with their predictions and nearest run among `told`.
fn describe(
    picked: Vec<crate::search::Candidate>,
    scorer: &Scorer<'_>,
    told: &[Vec<f64>],
) -> crate::Result<Vec<Proposal>> {
    let weights: Vec<Vec<f64>> = picked.iter().map(|c| c.weights.clone()).collect();
    let s = scorer.scores(&weights)?;
    let target = |i: usize, t: usize| {
        let (m, v) = s.target_moments(i, t);
        (m, v.sqrt())
    };
    Ok(picked
        .into_iter()
        .enumerate()
        .map(|(i, c)| Proposal {
            nearest: (0..told.len())
                .map(|k| (k, tv_distance(&told[k], &c.weights)))
                .min_by(|a, b| a.1.total_cmp(&b.1)),
            acquisition: c.value,
            objective: s.mean[i],
            objective_std: s.std[i],
            targets: (0..s.targets()).map(|t| target(i, t)).collect(),
            pool_row: c.pool_row,
            weights: c.weights,
        })
        .collect())
}

/// The spacing of a batch: `min_distance`, or within a trust region of radius `length` at
/// most a third of it, so that a shrunken region still holds a batch of spaced runs away from
/// the incumbent at its centre (a region 0.05 wide cannot hold four runs 0.05 apart).
fn spacing(min_distance: f64, trust_region: Option<f64>) -> f64 {
    trust_region.map_or(min_distance, |length| min_distance.min(length / 3.0))
}

/// The spacing below which a batch is not spaced further apart by halving (total variation).
const MIN_SPACING: f64 = 1e-3;

/// How a batch is chosen from the searched pool.
struct Choice<'a> {
    q: usize,
    min_distance: f64,
    avoid: &'a [Vec<f64>],
    keep: usize,
    seed: u64,
    /// The surrogate to condition on each pick (kriging believer), if the batch method says
    /// so; [`ProposerConfig::validate`] checked that it can.
    believer: Option<&'a dyn Surrogate>,
    /// Local penalisation after each pick.
    penalize: bool,
    /// Best objective among the runs told.
    incumbent: Option<f64>,
}

/// Chains `searchers` (each from the best `keep` so far), then picks `q` proposals at least
/// `min_distance` apart and from every mixture in `avoid`; an acquisition that redraws
/// (Thompson) rescoring the pool before each pick.
fn choose(
    searchers: &mut [Box<dyn Searcher + '_>],
    scorer: &Scorer<'_>,
    acquisition: &mut dyn Acquisition,
    constraints: &Constraints,
    choice: Choice<'_>,
    observer: &mut dyn Observer,
) -> crate::Result<Vec<crate::search::Candidate>> {
    let pool = {
        let acq = &*acquisition;
        let mut evaluate = |ws: &[Vec<f64>]| Ok(scorer.acquisition_values(acq, ws)?);
        let mut problem = crate::search::Problem {
            constraints,
            evaluate: &mut evaluate,
            rng: StdRng::seed_from_u64(choice.seed),
            observer,
        };
        search_chain(searchers, &mut problem, choice.keep)?
    };
    let mut rng = StdRng::seed_from_u64(derive_seed(choice.seed, 1));
    let weights: Vec<Vec<f64>> = pool.iter().map(|c| c.weights.clone()).collect();
    let penalty = if choice.penalize && !pool.is_empty() {
        let values: Vec<f64> = pool.iter().map(|c| c.value).collect();
        Some(LocalPenalty::new(
            &weights,
            &values,
            &scorer.scores(&weights)?,
            choice.incumbent,
        ))
    } else {
        None
    };
    let mut min_distance = choice.min_distance;
    loop {
        let picked = select_batch(&pool, choice.q, min_distance, choice.avoid, |chosen| {
            if let Some(p) = &penalty {
                return Ok(Some(p.values(&weights, chosen)));
            }
            let redrawn = acquisition.redraw(&mut rng);
            if let Some(surrogate) = choice.believer {
                // Kriging believer: the model conditioned on its own means at the picks so far.
                let picks: Vec<Vec<f64>> = chosen.iter().map(|c| c.weights.clone()).collect();
                let believed = (surrogate.condition_on_means(&picks, &scorer.context))
                    .ok_or(ProposerError::CannotCondition)??;
                let scorer = Scorer {
                    surrogate: believed.as_ref(),
                    objective: scorer.objective,
                    context: scorer.context.clone(),
                    members: scorer.members,
                };
                return Ok(Some(acquisition.score(&scorer.scores(&weights)?)));
            }
            if redrawn {
                Ok(Some(acquisition.score(&scorer.scores(&weights)?)))
            } else {
                Ok(None)
            }
        });
        match picked {
            // A pool too clustered for the spacing (the searchers converged on one optimum,
            // in a small trust region): halve the spacing rather than stop, since a campaign
            // would stop again at the same point on resume.
            Err(crate::Error::Search(crate::search::SearchError::TooFew { .. }))
                if min_distance > MIN_SPACING =>
            {
                min_distance /= 2.0
            }
            other => return other,
        }
    }
}

/// `model` ready for search, which scores many small batches: through the host copy of the
/// weights on every backend (it beats a device round trip per batch), and large batches
/// through the GPU kernel where there is one.
fn for_search<B: Backend>(model: Fitted<B>) -> crate::Result<Fitted<B>> {
    Ok(crate::device::with_gpu_kernel(model.with_fused_cpu())?)
}

/// Checks `config` as [`Proposer::new`] does for a surrogate with `caps` under `constraints`:
/// what a campaign checks at creation, before any run is spent.
pub(crate) fn check_config(
    config: &ProposerConfig,
    constraints: &Constraints,
    caps: &Capabilities,
) -> crate::Result<()> {
    config.validate(caps)?;
    check_trust_region(constraints, config)
}

/// An adaptive trust region moves the fixed one the constraints may hold: not both.
fn check_trust_region(constraints: &Constraints, config: &ProposerConfig) -> crate::Result<()> {
    if config.trust_region.is_some() && constraints.trust_region.is_some() {
        return Err(ProposerError::BadParameter {
            name: "trust_region",
            problem: "the constraints hold a fixed [trust_region]; an adaptive trust region \
                      replaces it: drop one of them"
                .into(),
        }
        .into());
    }
    Ok(())
}

/// Local penalisation of a scored pool ([`BatchMethod::LocalPenalization`]).
struct LocalPenalty {
    /// `ln softplus(z)` of the standardised acquisition values, `[n]`.
    base: Vec<f64>,
    /// Posterior mean and std of the objective, `[n]`.
    mean: Vec<f64>,
    std: Vec<f64>,
    /// Lipschitz constant of the mean (objective units per unit of Euclidean distance).
    lipschitz: f64,
    /// Best mean in the pool or among the runs told.
    best: f64,
}

/// Candidates (by acquisition value) whose pairwise slopes estimate the Lipschitz constant.
const LIPSCHITZ_SET: usize = 256;

impl LocalPenalty {
    fn new(weights: &[Vec<f64>], values: &[f64], scores: &Scores, incumbent: Option<f64>) -> Self {
        let n = values.len() as f64;
        let mean_v = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean_v).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-12);
        let base = (values.iter())
            .map(|v| {
                let z = (v - mean_v) / sd;
                // ln(softplus(z)), stable for large |z|.
                let softplus = if z > 30.0 { z } else { z.exp().ln_1p() };
                softplus.max(1e-300).ln()
            })
            .collect();
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        order.truncate(LIPSCHITZ_SET);
        let mut lipschitz: f64 = 1e-12;
        for (k, &i) in order.iter().enumerate() {
            for &j in &order[..k] {
                let d = euclidean(&weights[i], &weights[j]);
                if d > 1e-9 {
                    lipschitz = lipschitz.max((scores.mean[i] - scores.mean[j]).abs() / d);
                }
            }
        }
        let best = (scores.mean.iter().copied())
            .chain(incumbent)
            .fold(f64::NEG_INFINITY, f64::max);
        LocalPenalty {
            base,
            mean: scores.mean.clone(),
            std: scores.std.clone(),
            lipschitz,
            best,
        }
    }

    /// Penalised values (log scale) given the picks so far.
    fn values(&self, weights: &[Vec<f64>], chosen: &[crate::search::Candidate]) -> Vec<f64> {
        let picks: Vec<usize> = (chosen.iter())
            .filter_map(|c| weights.iter().position(|w| *w == c.weights))
            .collect();
        (0..weights.len())
            .map(|i| {
                let mut v = self.base[i];
                for &j in &picks {
                    let z = (self.lipschitz * euclidean(&weights[i], &weights[j]) - self.best
                        + self.mean[j])
                        / self.std[j].max(1e-12);
                    v += crate::math::normal_cdf(z).max(1e-300).ln();
                }
                v
            })
            .collect()
    }
}

fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
pub(crate) mod tests {
    use rand::Rng;

    use super::*;
    use crate::device::Cpu;
    use crate::runs::{Direction, Schema, TargetSpec};
    use crate::space::ConstraintSpec;
    use crate::surrogate::EnsembleConfig;

    #[test]
    fn a_shrunken_trust_region_spaces_its_batch_closer() {
        assert_eq!(spacing(0.05, None), 0.05);
        assert_eq!(spacing(0.05, Some(0.4)), 0.05);
        assert!((spacing(0.05, Some(0.05)) - 0.05 / 3.0).abs() < 1e-15);
        assert_eq!(spacing(0.0, Some(0.05)), 0.0);
    }

    /// `n` runs on three domains of a smooth loss with its minimum inside the simplex.
    pub(crate) fn runs(n: usize, seed: u64) -> Runs {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut rng = StdRng::seed_from_u64(seed);
        let mixtures: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                let raw: Vec<f64> = (0..3).map(|_| rng.random::<f64>() + 0.05).collect();
                let total: f64 = raw.iter().sum();
                raw.iter().map(|x| x / total).collect()
            })
            .collect();
        let loss = |w: &[f64]| (w[0] - 0.5).powi(2) + (w[1] - 0.3).powi(2) + 2.0;
        Runs {
            schema: Schema {
                space: Space::from_names("toy", &names).unwrap(),
                mixture_columns: names,
                context: Vec::new(),
                targets: vec![TargetSpec::new("loss", Direction::Lower)],
            },
            keys: (0..n).map(|i| format!("{seed}-{i}")).collect(),
            outcomes: mixtures.iter().map(|w| vec![loss(w)]).collect(),
            context: vec![Vec::new(); n],
            mixtures,
        }
    }

    fn quick() -> ProposerConfig {
        ProposerConfig {
            searchers: vec![SearcherKind::Random, SearcherKind::Cmaes],
            samples: 2_000,
            cmaes_evaluations: 200,
            ..ProposerConfig::default()
        }
    }

    fn gp_proposer(
        config: ProposerConfig,
        constraints: Constraints,
    ) -> crate::Result<Proposer<Cpu>> {
        Proposer::<Cpu>::new(
            constraints,
            SurrogateSpec::Gp(Default::default()),
            config,
            Default::default(),
        )
    }

    #[test]
    fn kriging_believer_batches_come_from_a_gp_and_spread_out() {
        assert_spreads_out(
            &gp_batch(BatchMethod::KrigingBeliever, 16.0),
            &gp_batch(BatchMethod::Distance, 16.0),
        );
        // An ensemble cannot be conditioned this way: refused when built.
        let ensemble = SurrogateSpec::Ensemble(EnsembleConfig::default());
        let err = Proposer::<Cpu>::new(
            Constraints::simplex(&runs(1, 0).schema.space),
            ensemble,
            ucb_config(BatchMethod::KrigingBeliever, 16.0),
            Default::default(),
        );
        assert!(err.err().unwrap().to_string().contains("kriging believer"));
    }

    /// UCB with `beta`, no spacing, batches by `batch`: what the batch-method tests compare.
    fn ucb_config(batch: BatchMethod, beta: f64) -> ProposerConfig {
        ProposerConfig {
            batch,
            acquisition: AcquisitionSpec {
                kind: AcquisitionKind::Ucb,
                beta: Some(beta),
                ..AcquisitionSpec::default()
            },
            min_distance: 0.0,
            ..quick()
        }
    }

    /// Four proposals of a GP told 8 runs (few, so exploration decides the picks).
    fn gp_batch(batch: BatchMethod, beta: f64) -> Batch {
        let told = runs(8, 3);
        let simplex = Constraints::simplex(&told.schema.space);
        let mut p = gp_proposer(ucb_config(batch, beta), simplex).unwrap();
        p.tell(&told).unwrap();
        p.ask(4).unwrap()
    }

    /// The same first pick as the greedy batch; then picks further apart than its.
    fn assert_spreads_out(spread: &Batch, greedy: &Batch) {
        assert_eq!(spread.proposals[0].weights, greedy.proposals[0].weights);
        assert!(
            closest_pair(spread) > closest_pair(greedy),
            "{} vs {}",
            closest_pair(spread),
            closest_pair(greedy)
        );
    }

    #[test]
    fn pairings_the_surrogate_cannot_serve_are_refused_when_built() {
        let space = runs(1, 0).schema.space;
        let simplex = || Constraints::simplex(&space);
        let thompson = ProposerConfig {
            acquisition: AcquisitionSpec {
                kind: AcquisitionKind::Thompson,
                ..AcquisitionSpec::default()
            },
            ..quick()
        };
        // A GP serves Thompson sampling with its sample paths.
        assert!(gp_proposer(thompson.clone(), simplex()).is_ok());
        let ensemble = SurrogateSpec::Ensemble(EnsembleConfig::default());
        assert!(Proposer::<Cpu>::new(simplex(), ensemble, thompson, Default::default()).is_ok());
        let gradient = ProposerConfig {
            searchers: vec![SearcherKind::Gradient],
            ..quick()
        };
        let err = gp_proposer(gradient, simplex()).err().unwrap().to_string();
        assert!(err.contains("gradient"), "{err}");
        let far = ProposerConfig {
            min_distance: 2.0,
            ..quick()
        };
        let err = gp_proposer(far, simplex()).err().unwrap().to_string();
        assert!(err.contains("min_distance"), "{err}");
        let err = gp_proposer(quick(), simplex())
            .unwrap()
            .ask(2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no surrogate yet"), "{err}");
    }

    #[test]
    fn batches_are_feasible_spaced_away_from_the_runs_and_reproducible() {
        let told = runs(24, 1);
        let spec: ConstraintSpec = toml::from_str("min = { c = 0.2 }").unwrap();
        let constraints = Constraints::new(&told.schema.space, &spec, &[]).unwrap();
        let ask = |runs: &Runs| {
            let mut p = gp_proposer(quick(), constraints.clone()).unwrap();
            p.tell(runs).unwrap();
            p.ask(4).unwrap()
        };
        let batch = ask(&told);
        assert_eq!(batch.proposals.len(), 4);
        assert_eq!(batch.runs_told, 24);
        // The incumbent is the lowest logged loss, in objective units (higher is better).
        let lowest = told.outcomes.iter().map(|o| o[0]).fold(f64::MAX, f64::min);
        assert_eq!(batch.incumbent, Some(batch.objective.value(&[lowest])));
        for (i, p) in batch.proposals.iter().enumerate() {
            assert!(constraints.is_feasible(&p.weights), "{:?}", p.weights);
            let (k, d) = p.nearest.unwrap();
            assert!((d - tv_distance(&told.mixtures[k], &p.weights)).abs() < 1e-12);
            assert!((d - nearest(&p.weights, &told.mixtures)).abs() < 1e-12);
            assert!(d >= 0.05, "a proposal repeats a run: {d}");
            for q in &batch.proposals[..i] {
                assert!(tv_distance(&p.weights, &q.weights) >= 0.05);
            }
            assert!(p.targets[0].1 > 0.0, "the GP is uncertain off the data");
        }
        let again = ask(&told);
        assert_eq!(
            batch.proposals, again.proposals,
            "same runs and seed, same batch"
        );
        // Exploitation: the best proposal's predicted loss is near the true minimum (2.0).
        assert!(
            batch.proposals[0].targets[0].0 < 2.05,
            "{:?}",
            batch.proposals[0].targets
        );
    }

    #[test]
    fn trust_region_doubles_on_successes_halves_on_failures_and_restarts() {
        let tr = TrustRegionConfig {
            successes: 2,
            failures: Some(2),
            ..TrustRegionConfig::default()
        };
        let rounds =
            |values: &[f64]| -> Vec<Vec<f64>> { values.iter().map(|&v| vec![v]).collect() };
        assert_eq!(tr.length_after(&rounds(&[1.0]), 8, 3), 0.4);
        assert_eq!(tr.length_after(&rounds(&[1.0, 2.0, 3.0]), 8, 3), 0.8);
        assert_eq!(
            tr.length_after(&rounds(&[1.0, 2.0, 3.0, 4.0, 5.0]), 8, 3),
            0.8,
            "capped"
        );
        assert_eq!(tr.length_after(&rounds(&[3.0, 1.0, 2.0]), 8, 3), 0.2);
        // 0.4 -> 0.2 -> 0.1 -> 0.05 -> 0.025 < min_length: back to 0.4.
        let flat = [5.0; 9];
        assert_eq!(tr.length_after(&rounds(&flat[..7]), 8, 3), 0.05);
        assert_eq!(tr.length_after(&rounds(&flat), 8, 3), 0.4);
        // TuRBO's default failure tolerance: ceil(max(4, d) / q).
        let default = TrustRegionConfig::default();
        assert_eq!(default.length_after(&rounds(&[1.0, 0.0]), 4, 3), 0.2);
        assert_eq!(default.length_after(&rounds(&[1.0, 0.0]), 2, 3), 0.4);
        let bad = TrustRegionConfig {
            min_length: 0.5,
            ..TrustRegionConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("min_length")
        );
    }

    #[test]
    fn a_trust_region_keeps_pool_picks_near_the_incumbent() {
        let told = runs(12, 5);
        let pool: Vec<Vec<f64>> = runs(200, 6).mixtures;
        let config = ProposerConfig {
            pool: Some(PoolSource::Mixtures(pool.clone())),
            trust_region: Some(TrustRegionConfig {
                length: 0.1,
                ..TrustRegionConfig::default()
            }),
            min_distance: 0.0,
            ..quick()
        };
        let simplex = Constraints::simplex(&told.schema.space);
        let mut p = gp_proposer(config, simplex.clone()).unwrap();
        p.tell(&told).unwrap();
        let batch = p.ask(4).unwrap();
        let best = (0..told.len())
            .min_by(|&a, &b| told.outcomes[a][0].total_cmp(&told.outcomes[b][0]))
            .unwrap();
        let length = batch.trust_region.unwrap();
        assert!(length >= 0.1);
        for q in &batch.proposals {
            assert!(tv_distance(&q.weights, &told.mixtures[best]) <= length + 1e-12);
        }
        // Not with a fixed trust region in the constraints.
        let mut fixed = simplex;
        fixed.trust_region = Some((told.mixtures.clone(), 0.2));
        let err = gp_proposer(quick_tr(), fixed).err().unwrap().to_string();
        assert!(err.contains("fixed [trust_region]"), "{err}");
    }

    fn quick_tr() -> ProposerConfig {
        ProposerConfig {
            trust_region: Some(TrustRegionConfig::default()),
            ..quick()
        }
    }

    #[test]
    fn local_penalization_spreads_a_batch_with_any_surrogate() {
        assert_spreads_out(
            &gp_batch(BatchMethod::LocalPenalization, 1.0),
            &gp_batch(BatchMethod::Distance, 1.0),
        );
    }

    #[test]
    fn gp_ucb_without_the_runs_it_counts_is_refused() {
        let told = runs(10, 2);
        let simplex = Constraints::simplex(&told.schema.space);
        let model = SurrogateSpec::Gp(Default::default())
            .fit::<Cpu>(&told, 0, &Default::default(), &mut ())
            .unwrap();
        let config = ProposerConfig {
            acquisition: AcquisitionSpec {
                kind: AcquisitionKind::Ucb,
                beta: None,
                ..AcquisitionSpec::default()
            },
            ..quick()
        };
        let mut p =
            Proposer::<Cpu>::with_model(simplex, model, config, Default::default()).unwrap();
        let err = p.ask(2).unwrap_err().to_string();
        assert!(err.contains("--data"), "{err}");
        p.tell(&told).unwrap();
        assert!(p.ask(2).unwrap().acquisition.starts_with("ucb"));
    }

    /// Smallest total-variation distance between two proposals of `b`.
    fn closest_pair(b: &Batch) -> f64 {
        let w: Vec<&Vec<f64>> = b.proposals.iter().map(|p| &p.weights).collect();
        let mut closest = f64::INFINITY;
        for i in 0..w.len() {
            for j in 0..i {
                closest = closest.min(tv_distance(w[i], w[j]));
            }
        }
        closest
    }

    fn nearest(w: &[f64], runs: &[Vec<f64>]) -> f64 {
        crate::math::simplex::nearest_distance(w, runs)
    }

    #[test]
    fn tell_adds_runs_and_the_next_ask_refits() {
        let space = runs(1, 0).schema.space;
        let mut p = gp_proposer(quick(), Constraints::simplex(&space)).unwrap();
        p.tell(&runs(10, 2)).unwrap();
        let first = p.ask(2).unwrap();
        let at = vec![vec![0.5, 0.3, 0.2]];
        let before = p.model().unwrap().surrogate().posterior(&at, &[]).unwrap();
        p.tell(&runs(20, 3)).unwrap();
        assert_eq!(p.runs().unwrap().len(), 30);
        let second = p.ask(2).unwrap();
        let after = p.model().unwrap().surrogate().posterior(&at, &[]).unwrap();
        assert_eq!(second.runs_told, 30);
        assert_ne!(first.seed, second.seed, "each round draws afresh");
        assert!(
            after.variance[0] < before.variance[0],
            "more data, less uncertainty"
        );
        let mut other = runs(3, 4);
        other.schema.targets[0].name = "other".into();
        let err = p.tell(&other).unwrap_err().to_string();
        assert!(err.contains("targets differ"), "{err}");
    }
}
