//! Mixing schemes ([`Scheme`]) compared on the simulated world (`mixatlas bench strategies`).
//!
//! The **target run** trains a larger model (`target_scale`) on `target_tokens` budgets in two
//! equal stages. A **proxy run** trains a smaller model (`proxy_scale`) for one budget on one
//! mixture, with the world's noise; it reports the benchmark scores. Strategies:
//!
//! - `soup`: the token-prior mixture (uniform when the space has no token counts), both stages.
//! - `curriculum`: stage 1 weights domains by `1 / tau` of their skill (easy first), stage 2 by
//!   `tau` (hard last), using the world's documented difficulties.
//! - `random`: `runs` proxy runs on Dirichlet draws; the best measured mixture.
//! - `regmix`: the same draws, a regressor (the deep ensemble, standing in for RegMix's
//!   LightGBM) fitted on them, then the mean of the top 100 of `samples` simulated mixtures.
//! - `gp-ucb`: 16 Dirichlet runs, then rounds of 8 chosen by GP-UCB (the MixAtlas paper's
//!   method: GP surrogate, `beta_t` schedule); the final mixture is the measured run with the
//!   best posterior mean (the denoised incumbent, as BoTorch recommends for noisy outcomes).
//! - `ensemble-ucb`: the same loop with the deep ensemble and UCB (beta 4) on its epistemic
//!   std.
//!
//! Every strategy's mixtures obey the same token constraint: no domain repeated more than
//! `max_epochs` times in the target run (proxies train on one budget and would otherwise
//! favour mixtures that repeat a few domains many times at the target's size).
//!
//! Reported per strategy over seeds: the **data volume** needed to match the soup's final mean
//! score, as a share of the soup's tokens (bisection on a token multiplier of the strategy's
//! schedule, noise-free); the final scores of two benchmarks; proxy runs used; and the wall
//! time of the strategy's own computation (training and search).

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use crate::acquisition::{AcquisitionKind, AcquisitionSpec, Scorer};
use crate::driver::{self, Pick, Reveal};
use crate::evaluation::world::{Noise, Stage, World};
use crate::math::{TopK, derive_seed};
use crate::objective::{Normalize, Objective, ObjectiveSpec};
use crate::proposer::{Proposer, ProposerConfig, SearcherKind, SurrogateSpec};
use crate::runs::{Direction, Runs, Schema, TargetSpec};
use crate::space::constraints::TokenSpec;
use crate::space::sampler::{DirichletSampler, Prior, prior_weights, sample_chunk};
use crate::space::{ConstraintSpec, Constraints};
use crate::surrogate::{EnsembleConfig, GpConfig, Normalizer, Surrogate, fit};

/// How the comparison is run.
#[derive(Debug, Clone)]
pub struct StrategyConfig {
    /// Proxy runs a search strategy may use.
    pub runs: usize,
    /// Random candidates per search round.
    pub samples: u64,
    /// Ensemble training config.
    pub training: EnsembleConfig,
    /// Budgets of the target run (two equal stages).
    pub target_tokens: f64,
    /// Model scale of the target run.
    pub target_scale: f64,
    /// Model scale of a proxy run (one budget).
    pub proxy_scale: f64,
    /// Repetition cap: no domain repeated more than this many epochs in the target run, as a
    /// token constraint on every strategy's mixtures (Olmix uses 4).
    pub max_epochs: f64,
}

/// One strategy's result on one seed.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Scheme name.
    pub strategy: String,
    /// Seed.
    pub seed: u64,
    /// Tokens needed to match the soup's final mean score, as a share of the soup's.
    pub data_share: f64,
    /// Noise-free final scores of the target run `[benchmarks]`.
    pub final_scores: Vec<f64>,
    /// Proxy runs used.
    pub proxy_runs: usize,
    /// Seconds spent by the strategy itself.
    pub search_seconds: f64,
}

/// A mixing strategy; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// The token-prior mixture in both stages.
    Soup,
    /// Easy skills first, hard last.
    Curriculum,
    /// The best of random proxy runs.
    Random,
    /// A regressor over random proxy runs, then the mean of the top simulated mixtures.
    Regmix,
    /// Sequential GP-UCB rounds (the MixAtlas paper's method).
    GpUcb,
    /// Sequential UCB rounds with the deep ensemble.
    EnsembleUcb,
}

impl Scheme {
    /// Every strategy, in report order.
    pub const ALL: [Scheme; 6] = [
        Scheme::Soup,
        Scheme::Curriculum,
        Scheme::Random,
        Scheme::Regmix,
        Scheme::GpUcb,
        Scheme::EnsembleUcb,
    ];

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Soup => "soup",
            Scheme::Curriculum => "curriculum",
            Scheme::Random => "random",
            Scheme::Regmix => "regmix",
            Scheme::GpUcb => "gp-ucb",
            Scheme::EnsembleUcb => "ensemble-ucb",
        }
    }
}

struct Bench<'a> {
    world: &'a World,
    config: &'a StrategyConfig,
    constraints: Constraints,
    sampler: DirichletSampler,
    schema: Schema,
}

impl Bench<'_> {
    fn target(&self, schedule: &[Vec<f64>], multiplier: f64) -> Vec<f64> {
        let per = self.config.target_tokens * multiplier / schedule.len() as f64;
        let stages: Vec<Stage> = schedule
            .iter()
            .map(|w| Stage {
                weights: w.clone(),
                tokens: per,
            })
            .collect();
        self.world
            .run("target", &stages, self.config.target_scale, Noise::Off)
            .scores
    }

    fn proxy(&self, id: &str, w: &[f64]) -> Vec<f64> {
        let stage = [Stage {
            weights: w.to_vec(),
            tokens: 1.0,
        }];
        self.world
            .run(id, &stage, self.config.proxy_scale, Noise::Seeded)
            .scores
    }

    fn runs(&self, mixtures: &[Vec<f64>], outcomes: &[Vec<f64>]) -> Runs {
        Runs {
            schema: self.schema.clone(),
            keys: (0..mixtures.len()).map(|i| i.to_string()).collect(),
            mixtures: mixtures.to_vec(),
            context: vec![Vec::new(); mixtures.len()],
            outcomes: outcomes.to_vec(),
        }
    }

    /// Every benchmark with equal weight, in raw units.
    fn objective_spec(&self) -> ObjectiveSpec {
        ObjectiveSpec {
            normalize: Normalize::None,
            ..ObjectiveSpec::default()
        }
    }

    fn objective(&self, norm: &Normalizer) -> Objective {
        Objective::new(&self.objective_spec(), &self.schema, norm)
            .expect("every benchmark is a target")
    }

    /// Dirichlet draws for seed `seed`.
    fn draws(&self, n: usize, seed: u64) -> Vec<Vec<f64>> {
        sample_chunk(&self.sampler, &self.constraints, n, seed, 0).0
    }

    /// The best measured mixture by the mean score.
    fn best_measured(&self, mixtures: &[Vec<f64>], outcomes: &[Vec<f64>]) -> Vec<f64> {
        let mean = |o: &Vec<f64>| o.iter().sum::<f64>() / o.len() as f64;
        let i = (0..mixtures.len())
            .max_by(|&a, &b| mean(&outcomes[a]).total_cmp(&mean(&outcomes[b])))
            .expect("at least one run");
        mixtures[i].clone()
    }

    /// The mean of the top `k` of `samples` draws by the surrogate's predicted objective.
    fn top_k_mean(&self, s: &dyn Surrogate, k: usize, seed: u64) -> crate::Result<Vec<f64>> {
        let objective = self.objective(s.target_norm());
        let scorer = Scorer {
            surrogate: s,
            objective: &objective,
            context: Vec::new(),
            members: false,
        };
        let mut top = TopK::new(k);
        let mut id = 0;
        for chunk in 0..self.config.samples.div_ceil(8192) {
            let ws = sample_chunk(&self.sampler, &self.constraints, 8192, seed, chunk).0;
            let sc = scorer.scores(&ws)?;
            for (w, v) in ws.iter().zip(&sc.mean) {
                top.offer(*v, id, w);
                id += 1;
            }
        }
        let top = top.into_sorted();
        let d = self.constraints.len();
        Ok((0..d)
            .map(|j| top.iter().map(|t| t.2[j]).sum::<f64>() / top.len() as f64)
            .collect())
    }

    /// Sequential UCB rounds through a [`Proposer`] that refits its surrogate on every run;
    /// the final mixture is the measured run with the best posterior mean.
    fn sequential<B: AutodiffBackend>(
        &self,
        gp: bool,
        seed: u64,
        device: &B::Device,
    ) -> crate::Result<Vec<f64>> {
        let start = 16.min(self.config.runs);
        let mixtures = self.draws(start, derive_seed(seed, 11));
        let outcomes: Vec<Vec<f64>> = mixtures
            .iter()
            .enumerate()
            .map(|(i, w)| self.proxy(&format!("s{seed}-{i}"), w))
            .collect();
        let surrogate = if gp {
            SurrogateSpec::Gp(GpConfig::default())
        } else {
            SurrogateSpec::Ensemble(self.config.training.clone())
        };
        let config = ProposerConfig {
            acquisition: AcquisitionSpec {
                kind: AcquisitionKind::Ucb,
                beta: if gp { None } else { Some(4.0) },
                ..AcquisitionSpec::default()
            },
            objective: self.objective_spec(),
            searchers: vec![SearcherKind::Random, SearcherKind::Cmaes],
            samples: self.config.samples,
            cmaes_evaluations: 600,
            keep: Some(2048),
            seed,
            ..ProposerConfig::default()
        };
        let mut proposer =
            Proposer::<B>::new(self.constraints.clone(), surrogate, config, device.clone())?;
        proposer.tell(&self.runs(&mixtures, &outcomes))?;
        let mut proxies = Proxies {
            bench: self,
            seed,
            mixtures,
            outcomes,
        };
        driver::run(&mut proposer, &mut proxies, &mut ())?;
        let Proxies { mut mixtures, .. } = proxies;
        // The measured run with the best posterior mean (the denoised incumbent).
        proposer.fit()?;
        let model = proposer.model().expect("fit() leaves a model");
        let objective = self.objective(model.surrogate().target_norm());
        let scorer = Scorer {
            surrogate: model.surrogate(),
            objective: &objective,
            context: Vec::new(),
            members: false,
        };
        let mean = scorer.scores(&mixtures)?.mean;
        let best = (0..mixtures.len())
            .max_by(|&a, &b| mean[a].total_cmp(&mean[b]))
            .expect("runs were measured");
        Ok(mixtures.swap_remove(best))
    }

    /// The schedule a strategy picks and the proxy runs it used.
    fn schedule<B: AutodiffBackend>(
        &self,
        strategy: Scheme,
        seed: u64,
        device: &B::Device,
    ) -> crate::Result<(Vec<Vec<f64>>, usize)> {
        let prior = prior_weights(&self.world.space, Prior::Tokens);
        let n = self.config.runs;
        Ok(match strategy {
            Scheme::Soup => (vec![prior.clone(), prior], 0),
            Scheme::Curriculum => {
                let tau: Vec<f64> = self.world.config.skills.values().copied().collect();
                let by = |f: &dyn Fn(f64) -> f64| -> Vec<f64> {
                    let raw: Vec<f64> = self.world.skill_of().iter().map(|&k| f(tau[k])).collect();
                    let total: f64 = raw.iter().sum();
                    self.constraints
                        .repair(&raw.iter().map(|x| x / total).collect::<Vec<_>>())
                };
                (vec![by(&|t| 1.0 / t), by(&|t| t)], 0)
            }
            Scheme::Random | Scheme::Regmix => {
                let mixtures = self.draws(n, derive_seed(seed, 7));
                let outcomes: Vec<Vec<f64>> = mixtures
                    .iter()
                    .enumerate()
                    .map(|(i, w)| self.proxy(&format!("s{seed}-{i}"), w))
                    .collect();
                let w = if strategy == Scheme::Random {
                    self.best_measured(&mixtures, &outcomes)
                } else {
                    let runs = self.runs(&mixtures, &outcomes);
                    let p = fit::<B>(&runs, &self.config.training, seed, device, &mut ())?
                        .with_fused_cpu();
                    self.top_k_mean(&p, 100, derive_seed(seed, 8))?
                };
                (vec![w.clone(), w], n)
            }
            Scheme::GpUcb | Scheme::EnsembleUcb => {
                let w = self.sequential::<B>(strategy == Scheme::GpUcb, seed, device)?;
                (vec![w.clone(), w], n)
            }
        })
    }
}

/// The benchmark's reveal: proxy runs in the simulated world, in rounds of 8 until the
/// configured number of runs.
struct Proxies<'a> {
    bench: &'a Bench<'a>,
    seed: u64,
    /// Every run's mixture and outcomes so far, `[runs][domains]` and `[runs][targets]`.
    mixtures: Vec<Vec<f64>>,
    outcomes: Vec<Vec<f64>>,
}

impl Reveal for Proxies<'_> {
    fn batch(&mut self, _round: usize) -> usize {
        8.min(self.bench.config.runs.saturating_sub(self.mixtures.len()))
    }

    fn reveal(&mut self, _round: usize, picks: &[Pick]) -> crate::Result<Option<Runs>> {
        let first = self.mixtures.len();
        for p in picks {
            let id = format!("s{}-{}", self.seed, self.mixtures.len());
            self.outcomes.push(self.bench.proxy(&id, &p.weights));
            self.mixtures.push(p.weights.clone());
        }
        let runs = self
            .bench
            .runs(&self.mixtures[first..], &self.outcomes[first..]);
        Ok(Some(runs))
    }
}

/// Runs every strategy on `seeds` seeds of `world`.
pub fn compare<B: AutodiffBackend>(
    world: &World,
    config: &StrategyConfig,
    seeds: u64,
    device: &B::Device,
    progress: &mut dyn FnMut(&Outcome),
) -> crate::Result<Vec<Outcome>> {
    let schema = Schema {
        space: world.space.clone(),
        mixture_columns: world.space.names(),
        context: Vec::new(),
        targets: world
            .benchmarks()
            .into_iter()
            .map(|name| TargetSpec::new(name, Direction::Higher))
            .collect(),
    };
    // Every mixture must fit the target run's tokens: w_d * target_tokens <= U_d * max_epochs.
    let mut space = world.space.clone();
    for (d, u) in space.domains.iter_mut().zip(world.unique_tokens()) {
        d.tokens = Some(*u);
    }
    let spec = ConstraintSpec {
        tokens: Some(TokenSpec {
            budget: config.target_tokens,
            max_epochs: config.max_epochs,
        }),
        ..ConstraintSpec::default()
    };
    let bench = Bench {
        world,
        config,
        constraints: Constraints::new(&space, &spec, &[])?,
        sampler: DirichletSampler::around(prior_weights(&world.space, Prior::Tokens)),
        schema,
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (soup, _) = bench.schedule::<B>(Scheme::Soup, 0, device)?;
    let goal = mean(&bench.target(&soup, 1.0));
    let mut out = Vec::new();
    for seed in 0..seeds {
        for strategy in Scheme::ALL {
            let start = Instant::now();
            let (schedule, proxy_runs) = bench.schedule::<B>(strategy, seed, device)?;
            let search_seconds = start.elapsed().as_secs_f64();
            // Smallest token multiplier reaching the soup's score (bisection, noise-free).
            let reaches = |m: f64| mean(&bench.target(&schedule, m)) >= goal;
            let (mut lo, mut hi) = (0.0, 4.0);
            let data_share = if !reaches(hi) {
                f64::INFINITY
            } else {
                for _ in 0..40 {
                    let mid = 0.5 * (lo + hi);
                    if reaches(mid) { hi = mid } else { lo = mid }
                }
                hi
            };
            let o = Outcome {
                strategy: strategy.name().into(),
                seed,
                data_share,
                final_scores: bench.target(&schedule, 1.0),
                proxy_runs,
                search_seconds,
            };
            progress(&o);
            out.push(o);
        }
    }
    Ok(out)
}

/// `mean ± std` of `v`.
fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// The comparison as a Markdown table (mean ± std over `seeds` seeds per strategy, with two
/// of the `benchmarks`) and a CSV (one row per strategy and seed, every benchmark).
pub fn tables(outcomes: &[Outcome], benchmarks: &[String], seeds: u64) -> (String, Vec<u8>) {
    let shown = [0, 2.min(benchmarks.len() - 1)];
    let mut md = format!(
        "| strategy | data to match the soup (share of its tokens) | {} | {} | proxy runs | search cost (s) |\n|---|---|---|---|---|---|\n",
        benchmarks[shown[0]], benchmarks[shown[1]]
    );
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["strategy".to_owned(), "seed".into(), "data_share".into()];
    header.extend(benchmarks.iter().cloned());
    header.extend(["proxy_runs".into(), "search_seconds".into()]);
    csv.write_record(&header)
        .expect("writing CSV to memory cannot fail");
    for o in outcomes {
        let mut row = vec![
            o.strategy.clone(),
            o.seed.to_string(),
            o.data_share.to_string(),
        ];
        row.extend(o.final_scores.iter().map(f64::to_string));
        row.extend([o.proxy_runs.to_string(), o.search_seconds.to_string()]);
        csv.write_record(&row)
            .expect("writing CSV to memory cannot fail");
    }
    for strategy in Scheme::ALL.map(Scheme::name) {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.strategy == strategy).collect();
        let share = mean_std(&mine.iter().map(|o| o.data_share).collect::<Vec<_>>());
        let score =
            |j: usize| mean_std(&mine.iter().map(|o| o.final_scores[j]).collect::<Vec<_>>());
        let (a, b) = (score(shown[0]), score(shown[1]));
        let cost = mean_std(&mine.iter().map(|o| o.search_seconds).collect::<Vec<_>>());
        md.push_str(&format!(
            "| {strategy} | {:.0}% ± {:.0}% | {:.4} ± {:.4} | {:.4} ± {:.4} | {} | {:.1} ± {:.1} |\n",
            100.0 * share.0,
            100.0 * share.1,
            a.0,
            a.1,
            b.0,
            b.1,
            mine[0].proxy_runs,
            cost.0,
            cost.1
        ));
    }
    md.push_str(&format!(
        "\n{} seeds; mean ± std over seeds. Data share: tokens the strategy's schedule needs to reach the \
         soup's final mean score, over the soup's tokens (noise-free target run).\n",
        seeds
    ));
    let csv = csv.into_inner().expect("an in-memory CSV writer flushes");
    (md, csv)
}
