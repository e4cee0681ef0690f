//! Simulation: streaming scoring of millions of sampled recipes with the surrogate in chunks,
//! with memory bounded by the chunk size, keeping the top k by objective and by acquisition,
//! running statistics and, for a second objective, the Pareto front. (The simulated
//! midtraining world is [`crate::evaluation::world`].)

use std::collections::HashMap;

use serde::Serialize;

use crate::acquisition::{Acquisition, Scorer};
use crate::math::{TopK, derive_seed};
use crate::objective::{Objective, pareto_front};
use crate::progress::Observer;
use crate::space::Constraints;
use crate::space::sampler::{DirichletSampler, SamplerError, TRIES, sample_chunk};
use crate::surrogate::{BatchTop, BlockMoments, DeviceDraws, DeviceScoring, Reduction};

/// How much to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SimulateConfig {
    /// Candidates drawn.
    pub samples: u64,
    /// Rows per chunk: memory is about `chunk * (domains + members * targets) * 8` bytes.
    pub chunk: usize,
    /// Candidates kept per ranking.
    pub top: usize,
    /// Seed of the sample stream.
    pub seed: u64,
    /// Draw candidates on the host even when the surrogate scores on a GPU: the same
    /// candidates as a CPU run with this seed. Otherwise a GPU run draws them on the device,
    /// by the same law and constraints but from its own random stream.
    pub host_draws: bool,
}

/// Most rows scored at once: the chunk's member outputs are held in memory.
pub const MAX_CHUNK: usize = 1 << 20;
/// Most candidates kept per ranking.
pub const MAX_TOP: usize = 1_000_000;

/// Why a simulation cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A size is zero or above its limit.
    #[error("`{name}` = {value}: must lie in 1..={limit}")]
    BadSize {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: u64,
        /// The largest accepted.
        limit: u64,
    },
}

impl SimulateConfig {
    /// Checks the sizes: `samples` at least 1, `chunk` up to [`MAX_CHUNK`], `top` up to
    /// [`MAX_TOP`].
    pub fn validate(&self) -> Result<(), SimulateError> {
        let sizes = [
            ("samples", self.samples, u64::MAX),
            ("chunk", self.chunk as u64, MAX_CHUNK as u64),
            ("top", self.top as u64, MAX_TOP as u64),
        ];
        for (name, value, limit) in sizes {
            if value == 0 || value > limit {
                return Err(SimulateError::BadSize { name, value, limit });
            }
        }
        Ok(())
    }
}

/// Running mean, std, min and max: a [`BlockMoments`] (one value at a time, or whole blocks
/// from the GPU kernel) with its std.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Moments {
    /// Values seen.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    #[serde(skip)]
    m2: f64,
}

impl Moments {
    /// Adds the values `block` summarises.
    fn absorb(&mut self, block: &BlockMoments) {
        let mut all = BlockMoments {
            count: self.count,
            mean: self.mean,
            m2: self.m2,
            min: self.min,
            max: self.max,
        };
        all.merge(block);
        *self = Moments {
            count: all.count,
            mean: all.mean,
            std: (all.m2 / all.count.max(1) as f64).sqrt(),
            min: all.min,
            max: all.max,
            m2: all.m2,
        };
    }

    fn push(&mut self, x: f64) {
        self.absorb(&BlockMoments::one(x));
    }
}

/// One simulated recipe.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    /// Position in the sample stream.
    pub id: u64,
    /// Weights `[domains]`.
    pub weights: Vec<f64>,
    /// Predicted objective (ensemble mean; higher is better).
    pub objective: f64,
    /// Epistemic std of the objective.
    pub epistemic_std: f64,
    /// Acquisition value.
    pub acquisition: f64,
    /// Predicted second objective, when one was given.
    pub secondary: Option<f64>,
    /// Predicted mean per target, `[targets]`, target units.
    pub targets: Vec<f64>,
}

/// What a simulation found.
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    /// Whether the candidates were drawn on the GPU (its own random stream) rather than by
    /// the host sampler.
    pub drawn_on_device: bool,
    /// Draws made (feasible ones scored).
    pub sampled: u64,
    /// Draws rejected by the trust region or KL budget after repeated tries.
    pub rejected: u64,
    /// Objective over all scored candidates.
    pub objective: Moments,
    /// Epistemic std of the objective over all scored candidates.
    pub epistemic_std: Moments,
    /// Acquisition over all scored candidates.
    pub acquisition: Moments,
    /// Best by predicted objective, best first.
    pub top_objective: Vec<Scored>,
    /// Best by acquisition, best first.
    pub top_acquisition: Vec<Scored>,
    /// Non-dominated by (objective, secondary), ordered by objective descending; empty
    /// without a second objective.
    pub pareto: Vec<Scored>,
}

/// Streams `config.samples` feasible draws of `sampler` through `scorer` and `acquisition`.
/// Deterministic for a seed whatever the thread count. A surrogate on a GPU with the fused
/// kernel ([`Scorer::on_device`]) scores and reduces each chunk on the device, and only each
/// block's best rows and moments come back (without a second objective, whose Pareto front
/// needs every row); the best are then rescored on the usual path for their details.
pub fn simulate(
    scorer: &Scorer<'_>,
    acquisition: &dyn Acquisition,
    secondary: Option<&Objective>,
    sampler: &DirichletSampler,
    constraints: &Constraints,
    config: &SimulateConfig,
    observer: &mut dyn Observer,
) -> crate::Result<Simulation> {
    config.validate()?;
    let device = secondary
        .is_none()
        .then(|| scorer.on_device(acquisition))
        .flatten();
    let drawn = (device.is_some() && !config.host_draws).then(|| DeviceDraws {
        centers: sampler.centers.clone(),
        strength: sampler.strength,
        constraints: constraints.clone(),
    });
    let mut run = Stream {
        out: Simulation {
            drawn_on_device: drawn.is_some(),
            sampled: 0,
            rejected: 0,
            objective: Moments::default(),
            epistemic_std: Moments::default(),
            acquisition: Moments::default(),
            top_objective: Vec::new(),
            top_acquisition: Vec::new(),
            pareto: Vec::new(),
        },
        by_objective: TopK::new(config.top),
        by_acquisition: TopK::new(config.top),
        front: Vec::new(),
    };
    match (&device, &drawn) {
        (Some((device, reduction)), Some(draws)) => run.device_draws(
            *device,
            reduction,
            draws,
            scorer,
            constraints,
            config,
            observer,
        )?,
        _ => run.host_draws(
            &device,
            scorer,
            acquisition,
            secondary,
            sampler,
            constraints,
            config,
            observer,
        )?,
    }
    run.finish(scorer, acquisition, secondary)
}

/// A simulation under way: the statistics so far, the two rankings and the Pareto front.
struct Stream {
    out: Simulation,
    by_objective: TopK,
    by_acquisition: TopK,
    /// `(objective, secondary, id, mixture)` of the front so far.
    front: Vec<(f64, f64, u64, Vec<f64>)>,
}

impl Stream {
    /// Candidates drawn, scored and reduced on the device, chunk by chunk; only the best
    /// rows' mixtures come back.
    #[allow(clippy::too_many_arguments)]
    fn device_draws(
        &mut self,
        device: &dyn DeviceScoring,
        reduction: &Reduction,
        draws: &DeviceDraws,
        scorer: &Scorer<'_>,
        constraints: &Constraints,
        config: &SimulateConfig,
        observer: &mut dyn Observer,
    ) -> crate::Result<()> {
        let (out, by_objective, by_acquisition) = (
            &mut self.out,
            &mut self.by_objective,
            &mut self.by_acquisition,
        );
        let mut chunk = 0u64;
        while out.sampled < config.samples {
            let rows = (config.samples - out.sampled).min(config.chunk as u64) as usize;
            let seed = derive_seed(config.seed, chunk);
            let got = device.draw_top(draws, rows, seed, &scorer.context, reduction, config.top)?;
            if got.rejected == rows {
                return Err(SamplerError::NoFeasibleDraws {
                    tries: rows * TRIES,
                }
                .into());
            }
            // Drawn in f32: repaired onto the simplex in f64 before they are reported.
            let weights: HashMap<usize, Vec<f64>> = (got.mixtures.into_iter())
                .map(|(row, w)| (row, constraints.repair(&w)))
                .collect();
            let first = out.sampled;
            let rankings = [&mut *by_objective, &mut *by_acquisition];
            absorb(out, rankings, &got.top, first, |row| &weights[&row]);
            out.sampled += rows as u64;
            out.rejected += got.rejected as u64;
            chunk += 1;
            observer.progress("simulate", out.sampled, config.samples);
        }
        Ok(())
    }

    /// Candidates drawn on the host, scored on the device when it has the kernel (the next
    /// chunk drawn meanwhile) or on the host (with the Pareto front for a second objective).
    #[allow(clippy::too_many_arguments)]
    fn host_draws(
        &mut self,
        device: &Option<(&dyn DeviceScoring, Reduction)>,
        scorer: &Scorer<'_>,
        acquisition: &dyn Acquisition,
        secondary: Option<&Objective>,
        sampler: &DirichletSampler,
        constraints: &Constraints,
        config: &SimulateConfig,
        observer: &mut dyn Observer,
    ) -> crate::Result<()> {
        let (out, by_objective, by_acquisition, front) = (
            &mut self.out,
            &mut self.by_objective,
            &mut self.by_acquisition,
            &mut self.front,
        );
        // Chunk `chunk` of the sample stream, `done` draws in: (draws, feasible ones, rejected).
        let draw = |chunk: u64, done: u64| {
            let rows = (config.samples - done).min(config.chunk.max(1) as u64) as usize;
            let (mixtures, rejected) = sample_chunk(sampler, constraints, rows, config.seed, chunk);
            (rows, mixtures, rejected)
        };
        let mut id = 0u64;
        let mut chunk = 0u64;
        std::thread::scope(|scope| -> crate::Result<()> {
            let mut next = Some(draw(0, 0));
            while let Some((rows, mixtures, rejected)) = next.take() {
                chunk += 1;
                out.sampled += rows as u64;
                out.rejected += rejected as u64;
                if mixtures.is_empty() {
                    return Err(SamplerError::NoFeasibleDraws {
                        tries: rows * TRIES,
                    }
                    .into());
                }
                let more = out.sampled < config.samples;
                if let Some((device, reduction)) = &device {
                    // The CPU draws the next chunk while the device scores this one.
                    let done = out.sampled;
                    let ahead = more.then(|| scope.spawn(move || draw(chunk, done)));
                    let top = device.top(&mixtures, &scorer.context, reduction, config.top)?;
                    let rankings = [&mut *by_objective, &mut *by_acquisition];
                    absorb(out, rankings, &top, id, |row| &mixtures[row]);
                    id += mixtures.len() as u64;
                    observer.progress("simulate", out.sampled, config.samples);
                    next = ahead.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
                    continue;
                }
                let s = scorer.scores(&mixtures)?;
                let acq = acquisition.score(&s);
                for (i, w) in mixtures.iter().enumerate() {
                    out.objective.push(s.mean[i]);
                    out.epistemic_std.push(s.std[i]);
                    out.acquisition.push(acq[i]);
                    by_objective.offer(s.mean[i], id + i as u64, w);
                    by_acquisition.offer(acq[i], id + i as u64, w);
                }
                if let Some(second) = secondary {
                    let b = s.mean_under(second);
                    for i in pareto_front(&s.mean, &b) {
                        front.push((s.mean[i], b[i], id + i as u64, mixtures[i].clone()));
                    }
                    let (a, b): (Vec<f64>, Vec<f64>) = front.iter().map(|p| (p.0, p.1)).unzip();
                    let keep = pareto_front(&a, &b);
                    *front = keep.into_iter().map(|i| front[i].clone()).collect();
                }
                id += mixtures.len() as u64;
                observer.progress("simulate", out.sampled, config.samples);
                next = more.then(|| draw(chunk, out.sampled));
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The simulation with its rankings and front scored in full.
    fn finish(
        self,
        scorer: &Scorer<'_>,
        acquisition: &dyn Acquisition,
        secondary: Option<&Objective>,
    ) -> crate::Result<Simulation> {
        let Stream {
            mut out,
            by_objective,
            by_acquisition,
            front,
        } = self;
        let detail = |items: Vec<(u64, Vec<f64>)>| -> crate::Result<Vec<Scored>> {
            if items.is_empty() {
                return Ok(Vec::new());
            }
            let ws: Vec<Vec<f64>> = items.iter().map(|i| i.1.clone()).collect();
            let s = scorer.scores(&ws)?;
            let acq = acquisition.score(&s);
            let second = secondary.map(|o| s.mean_under(o));
            Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, (id, weights))| Scored {
                    id,
                    weights,
                    objective: s.mean[i],
                    epistemic_std: s.std[i],
                    acquisition: acq[i],
                    secondary: second.as_ref().map(|b| b[i]),
                    targets: (0..s.targets()).map(|t| s.target_moments(i, t).0).collect(),
                })
                .collect())
        };
        let strip = |t: TopK| {
            t.into_sorted()
                .into_iter()
                .map(|(_, id, w)| (id, w))
                .collect()
        };
        out.top_objective = detail(strip(by_objective))?;
        out.top_acquisition = detail(strip(by_acquisition))?;
        out.pareto = detail(front.into_iter().map(|p| (p.2, p.3)).collect())?;
        Ok(out)
    }
}

/// Folds a batch reduced on the device into `out`'s moments and the rankings by objective and
/// by acquisition; the batch's row `r` has id `first + r` and mixture `weights(r)`.
fn absorb<'w>(
    out: &mut Simulation,
    [by_objective, by_acquisition]: [&mut TopK; 2],
    top: &BatchTop,
    first: u64,
    weights: impl Fn(usize) -> &'w [f64],
) {
    out.objective.absorb(&top.moments[0]);
    out.epistemic_std.absorb(&top.moments[1]);
    out.acquisition.absorb(&top.moments[2]);
    for &(value, row) in &top.objective {
        by_objective.offer(value, first + row as u64, weights(row));
    }
    for &(value, row) in &top.acquisition {
        by_acquisition.offer(value, first + row as u64, weights(row));
    }
}
