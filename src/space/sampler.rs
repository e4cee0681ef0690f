//! Samplers of mixtures: Dirichlet draws around prior mixtures with varied concentrations
//! (RegMix's design), made feasible by repair and rejection; greedy maximin selection for
//! space-filling designs; streams of feasible draws in deterministic parallel chunks
//! ([`sample_chunk`]).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::math::derive_seed;
use crate::math::simplex::{nearest_distance, round_mixture, sample_dirichlet, tv_distance};
use crate::space::Space;
use crate::space::constraints::Constraints;

/// Draws `Dirichlet(kappa * D * c)` around a centre `c` chosen uniformly from `centers`, with the
/// per-domain strength `kappa` log-uniform in `strength` (small kappa: sparse mixtures, large:
/// close to the centre). Concentrations are floored at 1e-3 so zero-weight centre domains can
/// still appear.
#[derive(Debug, Clone)]
pub struct DirichletSampler {
    /// Centre mixtures `[centers][domains]`, each on the simplex.
    pub centers: Vec<Vec<f64>>,
    /// Range of kappa, `(low, high)`, both > 0.
    pub strength: (f64, f64),
}

impl DirichletSampler {
    /// RegMix-like defaults around one prior: kappa in [0.1, 5].
    pub fn around(prior: Vec<f64>) -> Self {
        DirichletSampler {
            centers: vec![prior],
            strength: (0.1, 5.0),
        }
    }

    /// One raw draw (on the simplex, not necessarily feasible).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let c = &self.centers[rng.random_range(0..self.centers.len())];
        let (lo, hi) = self.strength;
        let kappa = (lo.ln() + rng.random::<f64>() * (hi / lo).ln()).exp();
        let d = c.len() as f64;
        let alpha: Vec<f64> = c.iter().map(|&x| (kappa * d * x).max(1e-3)).collect();
        sample_dirichlet(&alpha, rng)
    }

    /// A feasible draw: repaired into bounds and groups, rejected (up to `tries` times) when
    /// outside the trust region or KL budget. `None` when every try was rejected.
    pub fn sample_feasible<R: Rng + ?Sized>(
        &self,
        constraints: &Constraints,
        tries: usize,
        rng: &mut R,
    ) -> Option<Vec<f64>> {
        (0..tries).find_map(|_| {
            let w = constraints.repair(&self.sample(rng));
            constraints.is_feasible(&w).then_some(w)
        })
    }
}

/// The prior a design starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Prior {
    /// Proportional to each domain's available tokens (falls back to uniform when a domain
    /// has no token count).
    Tokens,
    /// Equal weights.
    Uniform,
}

/// The prior mixture of `space`, `[domains]`.
pub fn prior_weights(space: &Space, prior: Prior) -> Vec<f64> {
    let tokens: Option<Vec<f64>> = space.domains.iter().map(|d| d.tokens).collect();
    match (prior, tokens) {
        (Prior::Tokens, Some(t)) if t.iter().sum::<f64>() > 0.0 => {
            let total: f64 = t.iter().sum();
            t.iter().map(|x| x / total).collect()
        }
        _ => vec![1.0 / space.len() as f64; space.len()],
    }
}

/// Rows sampled per RNG stream; blocks are sampled in parallel.
const BLOCK: usize = 1024;
/// Draws tried per feasible sample before it counts as rejected.
pub const TRIES: usize = 20;

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

/// How a first round of proxy runs is designed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Design {
    /// Independent Dirichlet draws around the prior with varied concentrations (RegMix).
    Dirichlet,
    /// Greedy maximin selection from many draws: spread out in total-variation distance.
    SpaceFilling,
}

/// Why a sampler could not deliver feasible mixtures.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    /// Too few feasible, distinct mixtures were found.
    #[error(
        "found only {found} feasible mixtures at least {min_distance} apart after {draws} draws; \
         lower --min-distance, raise --decimals or loosen the constraints"
    )]
    TooFew {
        /// Mixtures found.
        found: usize,
        /// The smallest total-variation distance asked for.
        min_distance: f64,
        /// Draws made.
        draws: usize,
    },
    /// A minimum distance is not a total-variation distance.
    #[error("minimum distance {min_distance} is not a total-variation distance (in [0, 1])")]
    BadDistance {
        /// The distance given.
        min_distance: f64,
    },
    /// The sampler could not produce feasible mixtures at all.
    #[error(
        "no feasible mixture in {tries} draws: the constraints leave too little room for the sampler"
    )]
    NoFeasibleDraws {
        /// Draws attempted.
        tries: usize,
    },
}

/// Draws per wanted mixture before [`spaced_draws`] gives up.
pub const TRIES_PER_RUN: usize = 200;
/// Candidates per run the space-filling design chooses from.
const CLOUD_PER_RUN: usize = 30;

/// Feasible draws from `sampler`, rounded to `decimals` places when given (and still
/// feasible), each at least `min_distance` (total variation) from the others and from
/// `existing`: up to `wanted` of them, from at most `TRIES_PER_RUN * wanted` draws.
pub fn spaced_draws<R: Rng + ?Sized>(
    sampler: &DirichletSampler,
    constraints: &Constraints,
    wanted: usize,
    min_distance: f64,
    decimals: Option<u32>,
    existing: &[Vec<f64>],
    rng: &mut R,
) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(wanted);
    for _ in 0..wanted * TRIES_PER_RUN {
        if out.len() == wanted {
            break;
        }
        let Some(w) = sampler.sample_feasible(constraints, 20, rng) else {
            continue;
        };
        let w = match decimals {
            Some(d) => round_mixture(&w, d),
            None => w,
        };
        if constraints.is_feasible(&w)
            && nearest_distance(&w, existing) >= min_distance
            && nearest_distance(&w, &out) >= min_distance
        {
            out.push(w);
        }
    }
    out
}

/// `runs` mixtures by `design` around `prior`, rounded to `decimals` places, feasible and at
/// least `min_distance` apart; refuses when too few can be found.
pub fn design<R: Rng + ?Sized>(
    design: Design,
    prior: &[f64],
    constraints: &Constraints,
    runs: usize,
    min_distance: f64,
    decimals: u32,
    rng: &mut R,
) -> Result<Vec<Vec<f64>>, SamplerError> {
    if !(0.0..=1.0).contains(&min_distance) {
        return Err(SamplerError::BadDistance { min_distance });
    }
    let sampler = DirichletSampler::around(prior.to_vec());
    let wanted = match design {
        Design::Dirichlet => runs,
        Design::SpaceFilling => runs * CLOUD_PER_RUN,
    };
    let draws = spaced_draws(
        &sampler,
        constraints,
        wanted,
        min_distance,
        Some(decimals),
        &[],
        rng,
    );
    if draws.len() < runs {
        return Err(SamplerError::TooFew {
            found: draws.len(),
            min_distance,
            draws: wanted * TRIES_PER_RUN,
        });
    }
    if design == Design::Dirichlet {
        return Ok(draws);
    }
    // Start from the draw nearest the prior, then spread out.
    let first = (0..draws.len())
        .min_by(|&a, &b| tv_distance(&draws[a], prior).total_cmp(&tv_distance(&draws[b], prior)))
        .expect("draws is non-empty");
    let picked = maximin(&draws, &[], runs, first);
    Ok(picked.into_iter().map(|i| draws[i].clone()).collect())
}

/// Greedy maximin (farthest-point) selection of `n` of `candidates` under total-variation
/// distance, starting from `first`; also keeps away from `existing` mixtures. Returns indices.
pub fn maximin(
    candidates: &[Vec<f64>],
    existing: &[Vec<f64>],
    n: usize,
    first: usize,
) -> Vec<usize> {
    let mut nearest: Vec<f64> = candidates
        .iter()
        .map(|c| {
            existing
                .iter()
                .map(|e| tv_distance(c, e))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut chosen = Vec::with_capacity(n);
    let mut next = first;
    while chosen.len() < n.min(candidates.len()) {
        chosen.push(next);
        let picked = &candidates[next];
        for (d, c) in nearest.iter_mut().zip(candidates) {
            *d = d.min(tv_distance(c, picked));
        }
        next = (0..candidates.len())
            .max_by(|&a, &b| nearest[a].total_cmp(&nearest[b]).then(b.cmp(&a)))
            .expect("candidates is non-empty");
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::ConstraintSpec;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn feasible_draws_respect_bounds() {
        let names: Vec<String> = (0..5).map(|i| format!("d{i}")).collect();
        let space = Space::from_names("s", &names).unwrap();
        let spec: ConstraintSpec =
            toml::from_str("min = { d0 = 0.2 }\nmax = { d1 = 0.05 }").unwrap();
        let c = Constraints::new(&space, &spec, &[]).unwrap();
        let s = DirichletSampler::around(prior_weights(&space, Prior::Tokens));
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let w = s.sample_feasible(&c, 10, &mut rng).unwrap();
            assert!(c.is_feasible(&w) && w[0] >= 0.2 - 1e-9 && w[1] <= 0.05 + 1e-9);
        }
    }

    #[test]
    fn maximin_spreads_points() {
        let c = vec![
            vec![1.0, 0.0],
            vec![0.99, 0.01],
            vec![0.0, 1.0],
            vec![0.5, 0.5],
        ];
        assert_eq!(maximin(&c, &[], 3, 0), vec![0, 2, 3]);
    }
}
