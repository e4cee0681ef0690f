//! Massive random sampling, streamed in chunks with bounded memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use super::{Candidate, Problem, SearchError, Searcher, derive_seed};
use crate::space::Constraints;
use crate::space::sampler::DirichletSampler;

/// Rows sampled per RNG stream; blocks are sampled in parallel.
const BLOCK: usize = 1024;
/// Draws tried per feasible sample before it counts as rejected.
const TRIES: usize = 20;

/// `rows` feasible draws for chunk `chunk` of a stream seeded with `seed`: deterministic for a
/// given `(seed, chunk, rows)` whatever the thread count. Returns the draws and how many were
/// rejected after `TRIES` attempts each.
pub fn sample_chunk(
    sampler: &DirichletSampler,
    constraints: &Constraints,
    rows: usize,
    seed: u64,
    chunk: u64,
) -> (Vec<Vec<f64>>, usize) {
    let blocks: Vec<(Vec<Vec<f64>>, usize)> = (0..rows.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut rng = StdRng::seed_from_u64(derive_seed(derive_seed(seed, chunk), b as u64));
            let n = BLOCK.min(rows - b * BLOCK);
            let mut out = Vec::with_capacity(n);
            let mut rejected = 0;
            for _ in 0..n {
                match sampler.sample_feasible(constraints, TRIES, &mut rng) {
                    Some(w) => out.push(w),
                    None => rejected += 1,
                }
            }
            (out, rejected)
        })
        .collect();
    let rejected = blocks.iter().map(|b| b.1).sum();
    (blocks.into_iter().flat_map(|b| b.0).collect(), rejected)
}

/// The best `k` items by value seen in a stream; ties keep the earlier id.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    value: f64,
    id: u64,
    weights: Vec<f64>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Larger value first; among equal values the smaller id ranks higher.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value
            .total_cmp(&other.value)
            .then(other.id.cmp(&self.id))
    }
}

impl TopK {
    /// Keeps the `k` best.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Offers item `id` with `value`; `weights` is copied only when it enters.
    pub fn offer(&mut self, value: f64, id: u64, weights: &[f64]) {
        if self.k == 0 || value.is_nan() {
            return;
        }
        if self.heap.len() == self.k {
            let worst = &self.heap.peek().expect("heap is full").0;
            if value < worst.value || (value == worst.value && id > worst.id) {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Reverse(Entry {
            value,
            id,
            weights: weights.to_vec(),
        }));
    }

    /// The kept items, best first: `(value, id, weights)`.
    pub fn into_sorted(self) -> Vec<(f64, u64, Vec<f64>)> {
        let mut v: Vec<Entry> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|e| (e.value, e.id, e.weights)).collect()
    }
}

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
    ) -> crate::Result<Vec<Candidate>> {
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
                return Err(SearchError::NoFeasibleDraws {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_best_with_stable_ties() {
        let mut t = TopK::new(3);
        for (i, v) in [1.0, 5.0, 3.0, 5.0, 2.0, 4.0].into_iter().enumerate() {
            t.offer(v, i as u64, &[v]);
        }
        let ids: Vec<u64> = t.into_sorted().into_iter().map(|e| e.1).collect();
        assert_eq!(ids, vec![1, 3, 5]);
    }
}
