//! Choosing q proposals from a scored pool.

use super::Result;
use super::{Candidate, SearchError};
use crate::math::simplex::{nearest_distance, tv_distance};

/// Picks `q` candidates greedily by value, skipping any within `min_distance` (total
/// variation) of one already picked or of a mixture in `avoid` (runs already made), so a
/// batch holds no near-duplicates and repeats no run. `rescore(chosen)` is called before each
/// pick after the first with the picks so far; it returns fresh values for `pool` (Thompson
/// sampling draws a new member per proposal; kriging believer conditions the GP on the picks)
/// or `None` to keep the current ones.
/// Errors of `rescore` come back as they are.
pub fn select_batch<E: From<SearchError>>(
    pool: &[Candidate],
    q: usize,
    min_distance: f64,
    avoid: &[Vec<f64>],
    mut rescore: impl FnMut(&[Candidate]) -> Result<Option<Vec<f64>>, E>,
) -> Result<Vec<Candidate>, E> {
    let far = |w: &[f64]| nearest_distance(w, avoid) >= min_distance;
    let open: Vec<usize> = (0..pool.len()).filter(|&i| far(&pool[i].weights)).collect();
    let mut values: Vec<f64> = pool.iter().map(|c| c.value).collect();
    let mut chosen: Vec<Candidate> = Vec::with_capacity(q.min(pool.len()));
    // Picked already: with `min_distance` 0 the distance test alone would pick one again.
    let mut taken = vec![false; pool.len()];
    for slot in 0..q {
        if slot > 0
            && let Some(v) = rescore(&chosen)?
        {
            values = v;
        }
        let best = open
            .iter()
            .copied()
            .filter(|&i| {
                !taken[i]
                    && chosen
                        .iter()
                        .all(|c| tv_distance(&c.weights, &pool[i].weights) >= min_distance)
            })
            .max_by(|&a, &b| values[a].total_cmp(&values[b]).then(b.cmp(&a)));
        match best {
            Some(i) => {
                taken[i] = true;
                chosen.push(Candidate {
                    value: values[i],
                    ..pool[i].clone()
                });
            }
            None => {
                return Err(SearchError::TooFew {
                    found: chosen.len(),
                    wanted: q,
                    min_distance,
                }
                .into());
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(w0: f64, value: f64) -> Candidate {
        Candidate {
            weights: vec![w0, 1.0 - w0],
            value,
            pool_row: None,
        }
    }

    #[test]
    fn skips_near_duplicates_and_reports_too_few() {
        let pool = vec![c(0.5, 3.0), c(0.51, 2.9), c(0.9, 1.0), c(0.1, 0.5)];
        let b = select_batch(&pool, 3, 0.05, &[], |_| Ok::<_, SearchError>(None)).unwrap();
        let firsts: Vec<f64> = b.iter().map(|c| c.weights[0]).collect();
        assert_eq!(firsts, vec![0.5, 0.9, 0.1]);
        let err = select_batch(&pool, 4, 0.05, &[], |_| Ok::<_, SearchError>(None)).unwrap_err();
        assert!(err.to_string().contains("found 3"), "{err}");
        // A run already made near the best candidate rules it out.
        let b = select_batch(&pool, 1, 0.05, &[vec![0.5, 0.5]], |_| {
            Ok::<_, SearchError>(None)
        })
        .unwrap();
        assert_eq!(b[0].weights[0], 0.9);
        // Without a minimum distance every candidate is still picked once at most.
        let b = select_batch(&pool, 4, 0.0, &[], |_| Ok::<_, SearchError>(None)).unwrap();
        let firsts: Vec<f64> = b.iter().map(|c| c.weights[0]).collect();
        assert_eq!(firsts, vec![0.5, 0.51, 0.9, 0.1]);
        assert!(select_batch(&pool, 5, 0.0, &[], |_| Ok::<_, SearchError>(None)).is_err());
    }
}
