//! The one ask/tell loop: propose a batch, have its outcomes revealed, tell them, repeat.
//!
//! Every loop in mixatlas runs through [`run`] (or one [`round`] at a time); what differs is
//! who proposes and how outcomes come back, two small traits in the style of argmin's
//! `Executor` over a solver and a problem:
//!
//! - [`Ask`] proposes: the [`Proposer`] (any surrogate and acquisition), or a baseline such as
//!   uniform picks from a pool or a space-filling initial design.
//! - [`Reveal`] sizes each round and measures its picks: a backtest looks logged outcomes up,
//!   the benchmark measures a simulated world, a campaign journals the proposals and has its
//!   evaluator train them later ([`Reveal::reveal`] returns `None`: the loop stops there and
//!   a later process resumes it from the journal).

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use crate::progress::Observer;
use crate::proposer::Proposer;
use crate::runs::Runs;

/// One proposed mixture.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Weights `[domains]`, feasible.
    pub weights: Vec<f64>,
    /// Row of the candidate pool the mixture came from, when proposing from a pool.
    pub pool_row: Option<usize>,
}

/// Whatever proposes the next mixtures from the runs told so far.
pub trait Ask {
    /// Adds one round of measured runs.
    fn tell(&mut self, runs: &Runs) -> crate::Result<()>;
    /// The next `q` mixtures (fewer only where the proposer says why in its error).
    fn ask(&mut self, q: usize, observer: &mut dyn Observer) -> crate::Result<Vec<Pick>>;
}

impl<B: AutodiffBackend> Ask for Proposer<B> {
    fn tell(&mut self, runs: &Runs) -> crate::Result<()> {
        Proposer::tell(self, runs)
    }
    fn ask(&mut self, q: usize, observer: &mut dyn Observer) -> crate::Result<Vec<Pick>> {
        let batch = self.ask_with(q, observer)?;
        Ok((batch.proposals.into_iter())
            .map(|p| Pick {
                weights: p.weights,
                pool_row: p.pool_row,
            })
            .collect())
    }
}

/// How outcomes come back: the part of a loop that differs between a campaign, a backtest
/// and the benchmark.
pub trait Reveal {
    /// Mixtures to ask for in round `round` (0-based); 0 ends the loop.
    fn batch(&mut self, round: usize) -> usize;
    /// Measures round `round`'s `picks`: the runs to tell, or `None` when their outcomes come
    /// later (the loop stops).
    fn reveal(&mut self, round: usize, picks: &[Pick]) -> crate::Result<Option<Runs>>;
}

/// What one round did.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// The mixtures asked for.
    pub picks: Vec<Pick>,
    /// Wall seconds of the ask (a fit of the surrogate it triggers included), excluding the
    /// reveal.
    pub seconds: f64,
    /// Whether the outcomes were revealed and told.
    pub told: bool,
}

/// Round `round`: asks `ask` for [`Reveal::batch`] mixtures, reveals them and tells the
/// outcomes; `None` when the batch is 0 (the loop is over).
pub fn round(
    ask: &mut dyn Ask,
    reveal: &mut dyn Reveal,
    round: usize,
    observer: &mut dyn Observer,
) -> crate::Result<Option<Round>> {
    let q = reveal.batch(round);
    if q == 0 {
        return Ok(None);
    }
    let start = Instant::now();
    let picks = ask.ask(q, observer)?;
    let seconds = start.elapsed().as_secs_f64();
    let told = match reveal.reveal(round, &picks)? {
        Some(runs) => {
            ask.tell(&runs)?;
            true
        }
        None => false,
    };
    Ok(Some(Round {
        picks,
        seconds,
        told,
    }))
}

/// Rounds from 0 until [`Reveal::batch`] says 0, outcomes are left for later, or a round picks
/// nothing (so a world that reveals nothing new cannot loop forever); returns them.
pub fn run(
    ask: &mut dyn Ask,
    reveal: &mut dyn Reveal,
    observer: &mut dyn Observer,
) -> crate::Result<Vec<Round>> {
    let mut rounds = Vec::new();
    while let Some(r) = round(ask, reveal, rounds.len(), observer)? {
        let go_on = r.told && !r.picks.is_empty();
        rounds.push(r);
        if !go_on {
            break;
        }
    }
    Ok(rounds)
}
