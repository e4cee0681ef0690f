//! Pool mode: score a user-supplied set of candidate mixtures.

use super::{Candidate, Problem, Searcher};

/// Scores every feasible row of `mixtures` (a user's file), in chunks; infeasible rows are
/// skipped. Returns the best `keep`, each with its row index.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Candidate mixtures `[rows][domains]`.
    pub mixtures: Vec<Vec<f64>>,
    /// Candidates returned.
    pub keep: usize,
}

impl Searcher for Pool {
    fn name(&self) -> String {
        format!("pool({})", self.mixtures.len())
    }

    fn search(
        &mut self,
        problem: &mut Problem<'_>,
        _starts: &[Candidate],
    ) -> crate::Result<Vec<Candidate>> {
        let rows: Vec<usize> = (0..self.mixtures.len())
            .filter(|&i| problem.constraints.is_feasible(&self.mixtures[i]))
            .collect();
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
}
