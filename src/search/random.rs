//! Massive random sampling, streamed in chunks with bounded memory.

use super::Result;
use super::{Candidate, Problem, Searcher};
use crate::math::TopK;
use crate::space::sampler::{DirichletSampler, SamplerError, TRIES, sample_chunk};

/// Scores `samples` feasible Dirichlet draws in chunks of `chunk`, keeping the best `keep`.
#[derive(Debug, Clone)]
pub struct RandomSearch {
    /// Where draws come from.
    pub sampler: DirichletSampler,
    /// Number of draws.
    pub samples: u64,
    /// Rows per chunk (memory is O(chunk)).
    pub chunk: usize,
    /// Candidates returned.
    pub keep: usize,
}

impl Searcher for RandomSearch {
    fn name(&self) -> String {
        format!("random({})", self.samples)
    }

    fn search(
        &mut self,
        problem: &mut Problem<'_>,
        _starts: &[Candidate],
    ) -> Result<Vec<Candidate>> {
        let seed: u64 = rand::Rng::random(&mut problem.rng);
        let mut top = TopK::new(self.keep);
        let mut done = 0u64;
        let mut id = 0u64;
        for chunk in 0.. {
            if done >= self.samples {
                break;
            }
            let rows = (self.samples - done).min(self.chunk as u64) as usize;
            let (mixtures, _) = sample_chunk(&self.sampler, problem.constraints, rows, seed, chunk);
            if mixtures.is_empty() {
                return Err(SamplerError::NoFeasibleDraws {
                    tries: rows * TRIES,
                }
                .into());
            }
            let values = (problem.evaluate)(&mixtures)?;
            for (w, v) in mixtures.iter().zip(values) {
                top.offer(v, id, w);
                id += 1;
            }
            done += rows as u64;
            problem.observer.progress("random", done, self.samples);
        }
        Ok(top
            .into_sorted()
            .into_iter()
            .map(|(value, _, weights)| Candidate {
                weights,
                value,
                pool_row: None,
            })
            .collect())
    }
}
