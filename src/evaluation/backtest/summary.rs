//! What a backtest measured: runs to a top-p% run, regret at budgets, paired wins against
//! random, best-so-far curves, and the exact figures of uniform random picking.
//!
//! Definitions (pool of N runs, objective `v`, higher is better):
//!
//! - the **top p** of the pool are its `ceil(p N)` best runs (ties with the last included);
//! - **runs to top p** on a seed: runs revealed at the end of the round (the initial design
//!   counts as one) in which the first top-p run was revealed; unreached within the budget, it
//!   counts as infinite in medians and is shown as `>budget`;
//! - **regret at b**: best objective in the pool minus the best among the first b runs
//!   revealed (objective units: target units for a single raw target);
//! - quantiles over seeds interpolate linearly (numpy's default);
//! - **exact random**: the same quantities when every run is drawn uniformly without
//!   replacement, computed from the hypergeometric law, not sampled: `P(no top run among the
//!   first m) = C(N-K, m) / C(N, m)` and `P(best rank among b <= i) = 1 - C(N-i, b) / C(N, b)`;
//!   its quantiles are the smallest value whose probability reaches the level.

use serde::{Deserialize, Serialize};

use super::{BacktestConfig, SeedRun};
use crate::strategy::StrategyModel;

/// Median and quartiles over seeds (`inf` when a quantile is not reached; `null` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quartiles {
    /// First quartile.
    #[serde(with = "infinite_as_null")]
    pub q1: f64,
    /// Median.
    #[serde(with = "infinite_as_null")]
    pub median: f64,
    /// Third quartile.
    #[serde(with = "infinite_as_null")]
    pub q3: f64,
}

/// JSON has no infinity: an unreached quantile is written `null` and read back as `inf`.
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

impl Quartiles {
    pub(crate) fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        Quartiles {
            q1: quantile(&v, 0.25),
            median: quantile(&v, 0.5),
            q3: quantile(&v, 0.75),
        }
    }
}

/// Linear-interpolation quantile of sorted `v` (non-empty); infinite neighbours give `inf`.
fn quantile(v: &[f64], p: f64) -> f64 {
    let h = (v.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    if frac == 0.0 || lo + 1 >= v.len() {
        return v[lo];
    }
    if v[lo + 1].is_infinite() {
        return f64::INFINITY;
    }
    v[lo] + frac * (v[lo + 1] - v[lo])
}

/// Paired comparison with the random strategy on the same seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinsTiesLosses {
    /// Seeds where the strategy did better.
    pub wins: usize,
    /// Seeds with the same figure.
    pub ties: usize,
    /// Seeds where random did better.
    pub losses: usize,
}

impl WinsTiesLosses {
    /// Compares per-seed figures, lower is better.
    fn lower_better(mine: &[f64], random: &[f64]) -> Self {
        let mut w = WinsTiesLosses {
            wins: 0,
            ties: 0,
            losses: 0,
        };
        for (a, b) in mine.iter().zip(random) {
            match a.total_cmp(b) {
                std::cmp::Ordering::Less => w.wins += 1,
                std::cmp::Ordering::Equal => w.ties += 1,
                std::cmp::Ordering::Greater => w.losses += 1,
            }
        }
        w
    }
}

/// Runs to a top-p run for one strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunsToTop {
    /// The share p.
    pub top: f64,
    /// Per seed (`None`: not reached within the budget).
    pub per_seed: Vec<Option<usize>>,
    /// Over seeds (unreached as infinite).
    pub quartiles: Quartiles,
    /// Seeds that reached it.
    pub reached: usize,
    /// Paired with random (fewer runs wins), when this is not the random strategy.
    pub versus_random: Option<WinsTiesLosses>,
}

/// Regret at one budget for one strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regret {
    /// Runs revealed.
    pub at: usize,
    /// Per seed.
    pub per_seed: Vec<f64>,
    /// Over seeds.
    pub quartiles: Quartiles,
    /// Mean over seeds.
    pub mean: f64,
    /// Paired with random (lower regret wins), when this is not the random strategy.
    pub versus_random: Option<WinsTiesLosses>,
}

/// Regret quartiles over seeds after one round.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Runs revealed at the end of the round.
    pub runs: usize,
    /// Regret over seeds.
    pub regret: Quartiles,
}

/// One strategy's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySummary {
    /// Strategy name.
    pub strategy: String,
    /// Per top share, in the config's order.
    pub runs_to_top: Vec<RunsToTop>,
    /// Per regret budget, in the config's order.
    pub regret: Vec<Regret>,
    /// Mean wall seconds per round (fit + choose), over rounds and seeds.
    pub seconds_per_round: f64,
    /// Regret after each round.
    pub curve: Vec<CurvePoint>,
    /// With the config's `model_error`, for a strategy with a surrogate: its pool error after
    /// the budget ([`SeedRun::model_error`]) over seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_error: Option<ModelError>,
}

/// A surrogate's error on the pool runs a strategy did not reveal, over seeds (RMSE over the
/// pool's standard deviation, mean over targets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelError {
    /// Per seed.
    pub per_seed: Vec<f64>,
    /// Over seeds.
    pub quartiles: Quartiles,
    /// Over seeds.
    pub mean: f64,
}

/// The exact figures of uniform random picking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExactRandom {
    /// Runs to a top-p run, per top share: quartiles (`inf`: beyond the budget).
    pub runs_to_top: Vec<(f64, Quartiles)>,
    /// Probability of reaching a top-p run within the budget, per top share.
    pub reached: Vec<f64>,
    /// Regret at each budget: quartiles and mean.
    pub regret: Vec<(usize, Quartiles, f64)>,
    /// Regret quartiles after each round.
    pub curve: Vec<CurvePoint>,
}

/// Everything a backtest reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Runs in the pool.
    pub pool: usize,
    /// Best objective in the pool.
    pub best: f64,
    /// Pool runs counted as top, per top share.
    pub top_counts: Vec<usize>,
    /// The config as run.
    pub config: BacktestConfig,
    /// Per strategy, in the config's order.
    pub strategies: Vec<StrategySummary>,
    /// Uniform random picking, exactly.
    pub exact_random: ExactRandom,
}

/// Runs revealed at the round ends: `initial`, then every `batch`, ending at `budget`.
fn round_ends(c: &BacktestConfig) -> Vec<usize> {
    let mut ends = vec![c.initial];
    while *ends.last().unwrap() < c.budget {
        ends.push((ends.last().unwrap() + c.batch).min(c.budget));
    }
    ends
}

/// Number of the pool's best runs that count as its top `p` (ties included).
fn top_threshold(sorted_desc: &[f64], p: f64) -> (usize, f64) {
    let k = ((p * sorted_desc.len() as f64).ceil() as usize).clamp(1, sorted_desc.len());
    let threshold = sorted_desc[k - 1];
    let count = sorted_desc.iter().filter(|&&v| v >= threshold).count();
    (count, threshold)
}

/// One strategy's figures, per seed: runs to each top, regret at each budget and at each
/// round's end, and every round's seconds.
struct Figures {
    /// `[tops][seeds]`: the budget at the end of the round that first revealed a run of the
    /// top, infinite when none did.
    to_top: Vec<Vec<f64>>,
    /// `[regret_at][seeds]`.
    regret: Vec<Vec<f64>>,
    /// `[round ends][seeds]`.
    curve: Vec<Vec<f64>>,
    /// `[rounds of every seed]`.
    seconds: Vec<f64>,
}

impl Figures {
    /// The figures of one strategy's seed runs `mine` on a pool with objective `truth` per
    /// run; `tops` holds each top's (count, threshold), `ends` the budget after each round.
    fn of(
        mine: &[&SeedRun],
        truth: &[f64],
        tops: &[(usize, f64)],
        regret_at: &[usize],
        ends: &[usize],
    ) -> Self {
        let best = truth.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let regret_after = |r: &SeedRun, b: usize| {
            best - r.revealed[..b]
                .iter()
                .map(|&i| truth[i])
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let regrets = |budgets: &[usize]| -> Vec<Vec<f64>> {
            (budgets.iter())
                .map(|&b| mine.iter().map(|r| regret_after(r, b)).collect())
                .collect()
        };
        Figures {
            to_top: tops
                .iter()
                .map(|&(_, threshold)| {
                    mine.iter()
                        .map(|r| {
                            let first = r.revealed.iter().position(|&i| truth[i] >= threshold);
                            first.map_or(f64::INFINITY, |k| {
                                *ends.iter().find(|&&e| e > k).expect("within the budget") as f64
                            })
                        })
                        .collect()
                })
                .collect(),
            regret: regrets(regret_at),
            curve: regrets(ends),
            seconds: mine
                .iter()
                .flat_map(|r| r.round_seconds.iter().copied())
                .collect(),
        }
    }
}

/// The figures of `runs` (every strategy's seeds, as [`super::Backtest::run`] returns them)
/// on a pool whose objective per run is `truth`.
pub fn summarize(config: &BacktestConfig, truth: &[f64], runs: &[SeedRun]) -> Summary {
    let mut sorted = truth.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let best = sorted[0];
    let ends = round_ends(config);
    let tops: Vec<(usize, f64)> = config
        .top
        .iter()
        .map(|&p| top_threshold(&sorted, p))
        .collect();
    let figures = |name: &str| {
        let mine: Vec<&SeedRun> = runs.iter().filter(|r| r.strategy == name).collect();
        Figures::of(&mine, truth, &tops, &config.regret_at, &ends)
    };
    let random = (config.strategies.iter())
        .find(|s| s.spec.surrogate == StrategyModel::Random)
        .map(|s| figures(&s.name));
    let strategies = (config.strategies.iter())
        .map(|s| {
            let f = figures(&s.name);
            let versus = |mine: &[f64], theirs: Option<&Vec<f64>>| {
                (s.spec.surrogate != StrategyModel::Random)
                    .then_some(theirs)
                    .flatten()
                    .map(|t| WinsTiesLosses::lower_better(mine, t))
            };
            StrategySummary {
                strategy: s.name.clone(),
                runs_to_top: (config.top.iter().enumerate())
                    .map(|(j, &top)| {
                        let v = &f.to_top[j];
                        RunsToTop {
                            top,
                            per_seed: (v.iter())
                                .map(|x| x.is_finite().then_some(*x as usize))
                                .collect(),
                            quartiles: Quartiles::of(v),
                            reached: v.iter().filter(|x| x.is_finite()).count(),
                            versus_random: versus(v, random.as_ref().map(|r| &r.to_top[j])),
                        }
                    })
                    .collect(),
                regret: (config.regret_at.iter().enumerate())
                    .map(|(j, &at)| {
                        let v = &f.regret[j];
                        Regret {
                            at,
                            per_seed: v.clone(),
                            quartiles: Quartiles::of(v),
                            mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
                            versus_random: versus(v, random.as_ref().map(|r| &r.regret[j])),
                        }
                    })
                    .collect(),
                seconds_per_round: f.seconds.iter().sum::<f64>() / f.seconds.len().max(1) as f64,
                curve: (ends.iter().zip(&f.curve))
                    .map(|(&runs, v)| CurvePoint {
                        runs,
                        regret: Quartiles::of(v),
                    })
                    .collect(),
                model_error: (runs.iter().filter(|r| r.strategy == s.name))
                    .map(|r| r.model_error)
                    .collect::<Option<Vec<f64>>>()
                    .filter(|v| !v.is_empty())
                    .map(|v| ModelError {
                        quartiles: Quartiles::of(&v),
                        mean: v.iter().sum::<f64>() / v.len() as f64,
                        per_seed: v,
                    }),
            }
        })
        .collect();
    Summary {
        pool: truth.len(),
        best,
        top_counts: tops.iter().map(|t| t.0).collect(),
        config: config.clone(),
        strategies,
        exact_random: exact_random(config, &sorted, &tops, &ends),
    }
}

/// `C(n - i, m) / C(n, m)`: probability that m uniform draws without replacement from n avoid
/// a given i.
fn avoid_probability(n: usize, i: usize, m: usize) -> f64 {
    if i + m > n {
        return 0.0;
    }
    (0..m)
        .map(|j| (n - i - j) as f64 / (n - j) as f64)
        .product()
}

/// The exact figures of uniform random picking (module docs).
fn exact_random(
    config: &BacktestConfig,
    sorted_desc: &[f64],
    tops: &[(usize, f64)],
    ends: &[usize],
) -> ExactRandom {
    let n = sorted_desc.len();
    // Smallest round end whose probability of having found a top run reaches `level`.
    let runs_to = |k: usize, level: f64| {
        ends.iter()
            .find(|&&e| 1.0 - avoid_probability(n, k, e) >= level - 1e-12)
            .map_or(f64::INFINITY, |&e| e as f64)
    };
    // Regret at b: the best rank i among b draws has P(rank <= i) = 1 - C(n-i, b)/C(n, b).
    let regret = |b: usize| {
        let cdf = |i: usize| 1.0 - avoid_probability(n, i, b);
        let at_level = |level: f64| {
            let i = (1..=n).find(|&i| cdf(i) >= level - 1e-12).unwrap_or(n);
            sorted_desc[0] - sorted_desc[i - 1]
        };
        let mean: f64 = (1..=n)
            .map(|i| (cdf(i) - cdf(i - 1)) * (sorted_desc[0] - sorted_desc[i - 1]))
            .sum();
        (
            Quartiles {
                q1: at_level(0.25),
                median: at_level(0.5),
                q3: at_level(0.75),
            },
            mean,
        )
    };
    ExactRandom {
        runs_to_top: (config.top.iter().zip(tops))
            .map(|(&p, &(k, _))| {
                (
                    p,
                    Quartiles {
                        q1: runs_to(k, 0.25),
                        median: runs_to(k, 0.5),
                        q3: runs_to(k, 0.75),
                    },
                )
            })
            .collect(),
        reached: (tops.iter())
            .map(|&(k, _)| 1.0 - avoid_probability(n, k, config.budget))
            .collect(),
        regret: (config.regret_at.iter())
            .map(|&b| {
                let (q, mean) = regret(b);
                (b, q, mean)
            })
            .collect(),
        curve: (ends.iter())
            .map(|&runs| CurvePoint {
                runs,
                regret: regret(runs).0,
            })
            .collect(),
    }
}

impl Summary {
    /// The summary table in Markdown: one row per strategy and one for exact random.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let pct = |p: f64| format!("{}%", p * 100.0);
        let mut head = vec!["strategy".to_owned()];
        for (p, k) in c.top.iter().zip(&self.top_counts) {
            head.push(format!("runs to top-{} ({k} runs)", pct(*p)));
        }
        for b in &c.regret_at {
            head.push(format!("regret@{b} median (mean)"));
        }
        head.push(format!("vs random: top-{} W/T/L", pct(c.top[0])));
        if let Some(b) = c.regret_at.first() {
            head.push(format!("vs random: regret@{b} W/T/L"));
        }
        if c.model_error {
            head.push(format!("pool error after {} runs, median (mean)", c.budget));
        }
        head.push("s/round".into());
        let mut out = format!(
            "Pool of {} runs, {} seeds, {} initial + rounds of {}, budget {}.\n\n| {} |\n|{}\n",
            self.pool,
            c.seeds,
            c.initial,
            c.batch,
            c.budget,
            head.join(" | "),
            "---|".repeat(head.len())
        );
        let runs = |x: f64| {
            if x.is_finite() {
                format!("{x:.0}")
            } else {
                format!(">{}", c.budget)
            }
        };
        let quart = |q: &Quartiles| format!("{} [{}-{}]", runs(q.median), runs(q.q1), runs(q.q3));
        let wtl = |w: &Option<WinsTiesLosses>| {
            w.map_or("".into(), |w| format!("{}/{}/{}", w.wins, w.ties, w.losses))
        };
        for s in &self.strategies {
            let mut row = vec![s.strategy.clone()];
            row.extend(s.runs_to_top.iter().map(|t| quart(&t.quartiles)));
            row.extend(
                (s.regret.iter()).map(|r| format!("{:.4} ({:.4})", r.quartiles.median, r.mean)),
            );
            row.push(wtl(&s.runs_to_top[0].versus_random));
            if let Some(r) = s.regret.first() {
                row.push(wtl(&r.versus_random));
            }
            if c.model_error {
                row.push(s.model_error.as_ref().map_or(String::new(), |e| {
                    format!("{:.4} ({:.4})", e.quartiles.median, e.mean)
                }));
            }
            row.push(format!("{:.2}", s.seconds_per_round));
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        let e = &self.exact_random;
        let mut row = vec!["random (exact)".to_owned()];
        row.extend(e.runs_to_top.iter().map(|(_, q)| quart(q)));
        row.extend((e.regret.iter()).map(|(_, q, mean)| format!("{:.4} ({mean:.4})", q.median)));
        row.push(String::new());
        if !c.regret_at.is_empty() {
            row.push(String::new());
        }
        if c.model_error {
            row.push(String::new());
        }
        row.push(String::new());
        out.push_str(&format!("| {} |\n", row.join(" | ")));
        out
    }

    /// One CSV row per strategy and seed: runs to each top share (empty: not reached) and
    /// regret at each budget.
    pub fn csv(&self) -> String {
        let c = &self.config;
        let mut out = String::from("strategy,seed");
        for p in &c.top {
            out.push_str(&format!(",runs_to_top_{p}"));
        }
        for b in &c.regret_at {
            out.push_str(&format!(",regret_at_{b}"));
        }
        if c.model_error {
            out.push_str(",model_error");
        }
        out.push('\n');
        for s in &self.strategies {
            for seed in 0..c.seeds {
                out.push_str(&format!("{},{seed}", s.strategy));
                for t in &s.runs_to_top {
                    out.push_str(&t.per_seed[seed].map_or(",".into(), |r| format!(",{r}")));
                }
                for r in &s.regret {
                    out.push_str(&format!(",{}", r.per_seed[seed]));
                }
                if c.model_error {
                    let e = s.model_error.as_ref().map(|e| e.per_seed[seed]);
                    out.push_str(&e.map_or(",".into(), |e| format!(",{e}")));
                }
                out.push('\n');
            }
        }
        out
    }
}
