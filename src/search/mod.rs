//! Searching the feasible set for mixtures with high acquisition value.
//!
//! One small trait, [`Searcher`], and a driver, [`search_chain`]: searchers run in order, each
//! starting from the best candidates found so far (sample wide, then refine). Every searcher
//! returns feasible candidates only. [`select_batch`] then picks q proposals that are not
//! near-duplicates. [`crate::proposer::Proposer`] drives both.
//!
//! | searcher | what it does | file |
//! |---|---|---|
//! | `random` | streams Dirichlet draws around priors (RegMix), repaired and rejected into the feasible set | random.rs |
//! | `cmaes` | CMA-ES on softmax logits, from the best starts | cmaes.rs |
//! | `gradient` | projected gradient ascent on the acquisition, autodiff through the predictor | gradient.rs |
//! | `pool` | scores a user-supplied file of candidate mixtures | pool.rs |

mod batch;
pub(crate) mod cmaes;
mod gradient;
mod pool;
mod random;

pub use batch::select_batch;
pub use cmaes::CmaEs;
pub use gradient::GradientAscent;
pub use pool::{Pool, StreamedPool};
pub use random::RandomSearch;

use rand::rngs::StdRng;

use crate::progress::Observer;
use crate::space::Constraints;

/// Why a search could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The surrogate could not score candidates.
    #[error(transparent)]
    Surrogate(#[from] crate::surrogate::SurrogateError),
    /// The acquisition function could not be evaluated.
    #[error(transparent)]
    Acquisition(#[from] crate::acquisition::AcquisitionError),
    /// A pool of candidates could not be read.
    #[error(transparent)]
    Runs(#[from] crate::runs::RunsError),
    /// The sampler found no feasible mixture.
    #[error(transparent)]
    Sampler(#[from] crate::space::sampler::SamplerError),
    /// Fewer feasible, distinct candidates than proposals asked for.
    #[error(
        "found {found} feasible candidates at least {min_distance} apart, {wanted} asked for: \
         sample more, lower --min-distance, or loosen the constraints"
    )]
    TooFew {
        /// Candidates found.
        found: usize,
        /// Proposals asked for.
        wanted: usize,
        /// The minimum total-variation distance between proposals.
        min_distance: f64,
    },
    /// The acquisition function has no smooth form for the gradient searcher.
    #[error("the gradient searcher cannot follow acquisition `{acquisition}`; use random or cmaes")]
    NotDifferentiable {
        /// The acquisition's name.
        acquisition: String,
    },
}

/// `Result` with [`SearchError`].
pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// A scored, feasible mixture.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Weights `[domains]`, on the simplex and feasible.
    pub weights: Vec<f64>,
    /// Acquisition value (higher is better).
    pub value: f64,
    /// Row of the user's pool file, in pool mode.
    pub pool_row: Option<usize>,
}

/// Scores mixtures `[n][domains]` with the acquisition function: `[n]` values.
pub type Evaluate<'a> = dyn FnMut(&[Vec<f64>]) -> Result<Vec<f64>> + 'a;

/// What every searcher works on.
pub struct Problem<'a> {
    /// The feasible set.
    pub constraints: &'a Constraints,
    /// The acquisition function over mixtures.
    pub evaluate: &'a mut Evaluate<'a>,
    /// The only source of randomness.
    pub rng: StdRng,
    /// Progress reports.
    pub observer: &'a mut dyn Observer,
}

/// A search strategy.
pub trait Searcher {
    /// Short name for progress and reports.
    fn name(&self) -> String;
    /// Feasible candidates, best first, found from `starts` (the best so far, best first; may
    /// be empty).
    fn search(&mut self, problem: &mut Problem<'_>, starts: &[Candidate])
    -> Result<Vec<Candidate>>;
    /// Given candidates skipped as infeasible in the last search (pool mode; 0 for searchers
    /// that only generate feasible ones).
    fn skipped(&self) -> usize {
        0
    }
}

/// Runs `searchers` in order, each from the best `keep` candidates so far; returns the best
/// `keep` distinct candidates overall, best first.
pub fn search_chain(
    searchers: &mut [Box<dyn Searcher + '_>],
    problem: &mut Problem<'_>,
    keep: usize,
) -> Result<Vec<Candidate>> {
    let mut pool: Vec<Candidate> = Vec::new();
    for s in searchers.iter_mut() {
        let found = s.search(problem, &pool)?;
        pool = merge(pool, found, keep);
    }
    Ok(pool)
}

/// The best `keep` of `a` and `b`, dropping duplicates (the same weights to 1e-12, e.g. a
/// start a searcher hands back): one hash lookup per candidate, so large pools stay cheap.
fn merge(a: Vec<Candidate>, b: Vec<Candidate>, keep: usize) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = a.into_iter().chain(b).collect();
    all.sort_by(|x, y| y.value.total_cmp(&x.value));
    let mut seen = std::collections::HashSet::with_capacity(keep.min(all.len()));
    let mut out: Vec<Candidate> = Vec::with_capacity(keep.min(all.len()));
    for c in all {
        if out.len() == keep {
            break;
        }
        let key: Vec<i64> = (c.weights.iter())
            .map(|w| (w * 1e12).round() as i64)
            .collect();
        if seen.insert(key) {
            out.push(c);
        }
    }
    out
}
