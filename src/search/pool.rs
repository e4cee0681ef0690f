//! Pool mode: score a user-supplied set of candidate mixtures, in memory ([`Pool`]) or streamed
//! from a file in bounded memory ([`StreamedPool`]).

use super::Result;
use super::{Candidate, Problem, Searcher};
use crate::math::TopK;
use crate::runs::{DataSpec, MixtureChunks, STREAM_CHUNK, Schema};

/// Scores every feasible row of `mixtures` (a user's file), in chunks; infeasible rows are
/// skipped. Returns the best `keep`, each with its row index.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Candidate mixtures `[rows][domains]`.
    pub mixtures: Vec<Vec<f64>>,
    /// Candidates returned.
    pub keep: usize,
    /// Rows skipped as infeasible by the last search.
    pub skipped: usize,
}

impl Searcher for Pool {
    fn name(&self) -> String {
        format!("pool({})", self.mixtures.len())
    }

    fn search(
        &mut self,
        problem: &mut Problem<'_>,
        _starts: &[Candidate],
    ) -> Result<Vec<Candidate>> {
        let rows: Vec<usize> = (0..self.mixtures.len())
            .filter(|&i| problem.constraints.is_feasible(&self.mixtures[i]))
            .collect();
        self.skipped = self.mixtures.len() - rows.len();
        let mut out = Vec::with_capacity(rows.len());
        for (done, block) in rows.chunks(8192).enumerate() {
            let ws: Vec<Vec<f64>> = block.iter().map(|&i| self.mixtures[i].clone()).collect();
            let values = (problem.evaluate)(&ws)?;
            out.extend(
                block
                    .iter()
                    .zip(ws)
                    .zip(values)
                    .map(|((&i, w), v)| Candidate {
                        weights: w,
                        value: v,
                        pool_row: Some(i),
                    }),
            );
            let done = ((done + 1) * 8192).min(rows.len()) as u64;
            problem.observer.progress("pool", done, rows.len() as u64);
        }
        out.sort_by(|a, b| b.value.total_cmp(&a.value));
        out.truncate(self.keep);
        Ok(out)
    }

    fn skipped(&self) -> usize {
        self.skipped
    }
}

/// Pool mode over a file read in chunks: every feasible row is scored and the best `keep` are
/// kept with their row index; the file's text is never held whole.
#[derive(Debug, Clone)]
pub struct StreamedPool {
    /// The file of candidate mixtures (mixture columns, optional key).
    pub spec: DataSpec,
    /// The columns to read (the surrogate's).
    pub schema: Schema,
    /// Candidates returned.
    pub keep: usize,
    /// Rows skipped as infeasible by the last search.
    pub skipped: usize,
}

impl Searcher for StreamedPool {
    fn name(&self) -> String {
        format!("pool({})", self.spec.mixtures.display())
    }

    fn search(
        &mut self,
        problem: &mut Problem<'_>,
        _starts: &[Candidate],
    ) -> Result<Vec<Candidate>> {
        let mut best = TopK::new(self.keep);
        let mut row = 0u64;
        self.skipped = 0;
        for chunk in MixtureChunks::open(&self.spec, &self.schema, STREAM_CHUNK)? {
            let runs = chunk?;
            let read = runs.len();
            let rows: Vec<u64> = (row..row + read as u64).collect();
            row += read as u64;
            let (ids, ws): (Vec<u64>, Vec<Vec<f64>>) = (rows.into_iter().zip(runs.mixtures))
                .filter(|(_, w)| problem.constraints.is_feasible(w))
                .unzip();
            self.skipped += read - ws.len();
            if ws.is_empty() {
                continue;
            }
            let values = (problem.evaluate)(&ws)?;
            for ((id, w), v) in ids.iter().zip(&ws).zip(values) {
                best.offer(v, *id, w);
            }
            problem.observer.progress("pool", row, 0);
        }
        Ok(best
            .into_sorted()
            .into_iter()
            .map(|(value, id, weights)| Candidate {
                weights,
                value,
                pool_row: Some(id as usize),
            })
            .collect())
    }

    fn skipped(&self) -> usize {
        self.skipped
    }
}
