//! A simulated midtraining world: a documented, configurable stand-in for real proxy runs,
//! used by tests, examples and `mixatlas bench strategies`, and runnable as an external
//! evaluator (`mixatlas world`).
//!
//! # Model
//!
//! Domains `d` (from a space) train skills `k` (the values of the space's `skill_axis`, e.g.
//! the task type). Tokens are measured in **budgets** (1.0 = one stage's tokens). A run is a
//! schedule of stages `s = 1..S`, each a mixture `w_s` trained for `T_s` budgets.
//!
//! 1. Forgetting: stage `s`'s tokens count with weight `g^(S - s)` (`g = retention`), so the
//!    latest stage matters most: `t_d = sum_s g^(S-s) w_sd T_s`.
//! 2. Repetition (Muennighoff et al., 2023, data-constrained scaling): with `U_d` unique tokens
//!    and `r_d = t_d / U_d` passes, the effective tokens are
//!    `e_d = U_d (min(r_d, 1) + R* (1 - exp(-max(r_d - 1, 0) / R*)))`, `R* = repeat_scale`.
//! 3. Transfer: `x_jk = sum_d A_dk c_j(d) e_d` with `A_dk = 1` for the domain's own skill and
//!    `transfer * u_dk` (`u ~ U(0, 1)`, seeded) for the others; `c_j(d)` is benchmark `j`'s
//!    relevance of the domain's concept (1 when the benchmark names no concepts, else the
//!    named weight or `other_concepts`).
//! 4. Interference (negative transfer): `z_k = sum_d B_dk e_d`, `B_dk = interference * u'_dk`
//!    with probability `interference_probability` for a skill other than the domain's own,
//!    else 0.
//! 5. Diminishing returns: `s_jk = (1 - exp(-x_jk / tau_k)) / (1 + z_k / scale)`, `tau_k` the
//!    skill's difficulty (budgets to reach 63%); larger models (`scale`) suffer less
//!    interference.
//! 6. Benchmarks: `q_j = sum_k G_jk s_jk` (`G_j` the benchmark's skill weights, normalised),
//!    `score_j = floor_j + (1 - floor_j) * capacity * q_j + N(0, noise²)` with
//!    `capacity = scale / (1 + scale)`; the per-task uncertainty signal is
//!    `u_j = 1 - q_j + N(0, noise²)`. Noise is seeded by the run id, so a run replays exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::space::Space;

/// Whether [`World::run`] adds the world's measurement noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    /// Noise drawn from a seed derived from the run id (a proxy run as measured).
    Seeded,
    /// No noise: the expected scores.
    Off,
}

/// Why a world could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// The TOML did not parse or did not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The world file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A proposals line (the evaluator contract) is malformed.
    #[error("{path}:{line}: {problem}")]
    Proposal {
        /// The proposals file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong, naming the field.
        problem: String,
    },
    /// A value is out of range or a name does not resolve.
    #[error("{path}: `{field}`: {problem}")]
    Invalid {
        /// The world file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// A benchmark as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSpec {
    /// Name, used as the target column.
    pub name: String,
    /// Skill weights (normalised).
    pub skills: BTreeMap<String, f64>,
    /// Relevance per concept value; empty = every concept counts fully.
    #[serde(default)]
    pub concepts: BTreeMap<String, f64>,
    /// Chance-level score.
    #[serde(default)]
    pub floor: f64,
}

fn default_axis() -> String {
    "task".into()
}

/// A world as written (TOML); see the module docs for the equations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldConfig {
    /// Space file, relative to the world file.
    pub space: PathBuf,
    /// Attribute naming each domain's skill.
    #[serde(default = "default_axis")]
    pub skill_axis: String,
    /// Attribute naming each domain's concept (for benchmark relevance).
    #[serde(default)]
    pub concept_axis: Option<String>,
    /// Seed of the transfer and interference matrices.
    #[serde(default)]
    pub seed: u64,
    /// Unique tokens per domain in budgets, when the space gives no `tokens`.
    pub unique_tokens: f64,
    /// R* of the repetition model.
    pub repeat_scale: f64,
    /// Largest cross-skill transfer weight.
    pub transfer: f64,
    /// Largest interference weight.
    pub interference: f64,
    /// Chance that a domain interferes with a given other skill.
    pub interference_probability: f64,
    /// Weight of a stage's tokens per later stage.
    pub retention: f64,
    /// Benchmark noise std.
    pub noise: f64,
    /// Relevance of a concept a benchmark does not name.
    #[serde(default)]
    pub other_concepts: f64,
    /// Skill difficulty `tau_k` in budgets.
    pub skills: BTreeMap<String, f64>,
    /// The benchmarks.
    pub benchmarks: Vec<BenchmarkSpec>,
}

/// One stage of a schedule: a mixture `[domains]` and its tokens in budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Weights in domain order.
    pub weights: Vec<f64>,
    /// Tokens in budgets.
    pub tokens: f64,
}

/// What a run measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Benchmark scores `[benchmarks]`.
    pub scores: Vec<f64>,
    /// Per-task uncertainty signals `[benchmarks]`.
    pub uncertainty: Vec<f64>,
}

/// A built world.
#[derive(Debug, Clone)]
pub struct World {
    /// The config it was built from.
    pub config: WorldConfig,
    /// The mixture space.
    pub space: Space,
    skill_of: Vec<usize>,
    tau: Vec<f64>,
    unique: Vec<f64>,
    transfer: Vec<Vec<f64>>,
    interference: Vec<Vec<f64>>,
    /// `[benchmarks][skills]`, rows sum to 1.
    skill_weights: Vec<Vec<f64>>,
    /// `[benchmarks][domains]`.
    relevance: Vec<Vec<f64>>,
}

/// The config's field `field` is invalid: `problem`.
fn invalid(path: &Path, field: &str, problem: String) -> WorldError {
    WorldError::Invalid {
        path: path.to_owned(),
        field: field.to_owned(),
        problem,
    }
}

/// Refuses a world without skills or benchmarks, and numbers out of their ranges.
fn check_numbers(config: &WorldConfig, path: &Path) -> Result<(), WorldError> {
    let invalid = |field: &str, problem: String| Err(invalid(path, field, problem));
    if config.skills.is_empty() || config.benchmarks.is_empty() {
        let problem = "a world needs at least one skill and one benchmark";
        return invalid("skills", problem.into());
    }
    if let Some(t) = (config.skills.values()).find(|t| !(t.is_finite() && **t > 0.0)) {
        return invalid("skills", format!("difficulty {t} must be positive"));
    }
    for (field, v) in [
        ("unique_tokens", config.unique_tokens),
        ("repeat_scale", config.repeat_scale),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return invalid(field, format!("{v} must be positive"));
        }
    }
    for (field, v) in [
        ("transfer", config.transfer),
        ("interference", config.interference),
        ("interference_probability", config.interference_probability),
        ("noise", config.noise),
        ("other_concepts", config.other_concepts),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return invalid(field, format!("{v} must be finite and non-negative"));
        }
    }
    if !(0.0..=1.0).contains(&config.retention) {
        return invalid("retention", "must lie in [0, 1]".into());
    }
    Ok(())
}

/// How much each domain trains each of `skills` skills (1 for its own) and how much it
/// interferes with it, `[domains][skills]` each, drawn from the config's seed.
fn couplings(
    config: &WorldConfig,
    skill_of: &[usize],
    skills: usize,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let n = skill_of.len();
    let mut transfer = vec![vec![0.0; skills]; n];
    let mut interference = vec![vec![0.0; skills]; n];
    for d in 0..n {
        for k in 0..skills {
            let (u, p, v): (f64, f64, f64) = (rng.random(), rng.random(), rng.random());
            if k == skill_of[d] {
                transfer[d][k] = 1.0;
            } else {
                transfer[d][k] = config.transfer * u;
                if p < config.interference_probability {
                    interference[d][k] = config.interference * v;
                }
            }
        }
    }
    (transfer, interference)
}

/// Benchmark `b`'s weights over `skills`, normalised to sum to 1, `[skills]`.
fn benchmark_skills(
    b: &BenchmarkSpec,
    skills: &[String],
    path: &Path,
) -> Result<Vec<f64>, WorldError> {
    let field = format!("benchmarks.{}.skills", b.name);
    let mut g = vec![0.0; skills.len()];
    for (name, w) in &b.skills {
        let k = (skills.iter().position(|s| s == name))
            .ok_or_else(|| invalid(path, &field, format!("unknown skill `{name}`")))?;
        g[k] = *w;
    }
    let total: f64 = g.iter().sum();
    if total <= 0.0 {
        return Err(invalid(path, &field, "weights sum to 0".into()));
    }
    Ok(g.iter().map(|x| x / total).collect())
}

impl World {
    /// Reads a world file and its space.
    pub fn from_file(path: &Path) -> crate::Result<Self> {
        let config: WorldConfig = crate::io::read_toml(path, |message| WorldError::Parse {
            path: path.to_owned(),
            message,
        })?;
        let space_path = path.parent().unwrap_or(Path::new(".")).join(&config.space);
        let space = Space::from_file(&space_path)?;
        Ok(World::new(config, space, path)?)
    }

    /// Builds the world; `path` names the config in errors.
    pub fn new(config: WorldConfig, space: Space, path: &Path) -> Result<Self, WorldError> {
        let invalid = |field: &str, problem: String| invalid(path, field, problem);
        check_numbers(&config, path)?;
        let skills: Vec<String> = config.skills.keys().cloned().collect();
        let tau: Vec<f64> = config.skills.values().copied().collect();
        let mut skill_of = Vec::new();
        for d in &space.domains {
            let value = d.attributes.get(&config.skill_axis).ok_or_else(|| {
                invalid(
                    "skill_axis",
                    format!(
                        "domain `{}` has no `{}` attribute",
                        d.name, config.skill_axis
                    ),
                )
            })?;
            let k = skills
                .iter()
                .position(|s| s == value)
                .ok_or_else(|| invalid("skills", format!("no difficulty for skill `{value}`")))?;
            skill_of.push(k);
        }
        let unique = space
            .domains
            .iter()
            .map(|d| d.tokens.unwrap_or(config.unique_tokens))
            .collect();
        let (transfer, interference) = couplings(&config, &skill_of, skills.len());
        let mut skill_weights = Vec::new();
        let mut relevance = Vec::new();
        for b in &config.benchmarks {
            skill_weights.push(benchmark_skills(b, &skills, path)?);
            relevance.push(
                (space.domains.iter())
                    .map(|d| {
                        if b.concepts.is_empty() {
                            return 1.0;
                        }
                        (config.concept_axis.as_ref())
                            .and_then(|axis| d.attributes.get(axis))
                            .and_then(|c| b.concepts.get(c))
                            .copied()
                            .unwrap_or(config.other_concepts)
                    })
                    .collect(),
            );
        }
        Ok(World {
            config,
            space,
            skill_of,
            tau,
            unique,
            transfer,
            interference,
            skill_weights,
            relevance,
        })
    }

    /// Benchmark names, in output order.
    pub fn benchmarks(&self) -> Vec<String> {
        self.config
            .benchmarks
            .iter()
            .map(|b| b.name.clone())
            .collect()
    }

    /// Unique tokens per domain in budgets, `[domains]`.
    pub fn unique_tokens(&self) -> &[f64] {
        &self.unique
    }

    /// The skill each domain trains (index into the sorted skill names).
    pub fn skill_of(&self) -> &[usize] {
        &self.skill_of
    }

    /// Noise-free quality `q_j` per benchmark after `schedule` at model `scale`.
    pub fn quality(&self, schedule: &[Stage], scale: f64) -> Vec<f64> {
        let n = self.space.len();
        let stages = schedule.len();
        let mut t = vec![0.0; n];
        for (s, stage) in schedule.iter().enumerate() {
            let keep = self.config.retention.powi((stages - 1 - s) as i32);
            for (t, w) in t.iter_mut().zip(&stage.weights) {
                *t += keep * w * stage.tokens;
            }
        }
        let rs = self.config.repeat_scale;
        let e: Vec<f64> = (0..n)
            .map(|d| {
                let r = t[d] / self.unique[d];
                self.unique[d] * (r.min(1.0) + rs * (1.0 - (-(r - 1.0).max(0.0) / rs).exp()))
            })
            .collect();
        let m = self.tau.len();
        let z: Vec<f64> = (0..m)
            .map(|k| (0..n).map(|d| self.interference[d][k] * e[d]).sum())
            .collect();
        self.skill_weights
            .iter()
            .zip(&self.relevance)
            .map(|(g, c)| {
                (0..m)
                    .map(|k| {
                        let x: f64 = (0..n).map(|d| self.transfer[d][k] * c[d] * e[d]).sum();
                        g[k] * (1.0 - (-x / self.tau[k]).exp()) / (1.0 + z[k] / scale)
                    })
                    .sum()
            })
            .collect()
    }

    /// Scores and uncertainty signals of run `run_id` after `schedule`, with noise seeded by
    /// the id ([`Noise::Seeded`]) or the expected scores ([`Noise::Off`]).
    pub fn run(&self, run_id: &str, schedule: &[Stage], scale: f64, noise: Noise) -> Outcome {
        let noisy = noise == Noise::Seeded;
        let q = self.quality(schedule, scale);
        let capacity = scale / (1.0 + scale);
        let mut seed = self.config.seed ^ 0x0D0E_5EED;
        for b in run_id.bytes() {
            seed = seed.rotate_left(7) ^ u64::from(b).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0, self.config.noise).expect("noise was validated finite");
        let mut eps = || if noisy { normal.sample(&mut rng) } else { 0.0 };
        let scores = self
            .config
            .benchmarks
            .iter()
            .zip(&q)
            .map(|(b, q)| b.floor + (1.0 - b.floor) * capacity * q + eps())
            .collect();
        let uncertainty = q
            .iter()
            .map(|q| (1.0 - q + eps()).clamp(0.0, 1.0))
            .collect();
        Outcome {
            scores,
            uncertainty,
        }
    }
}

/// One proposed run as the evaluator contract writes it: its id and the stages it trains
/// (committed history, then its own mixture).
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedRun {
    /// `run_id`.
    pub id: String,
    /// History, then the run's own stage.
    pub schedule: Vec<Stage>,
}

impl World {
    /// Reads a proposals file (JSON Lines, see `campaign::evaluator`) into runs of this
    /// world; errors name the file, line and field.
    pub fn read_proposals(&self, path: &Path) -> crate::Result<Vec<ProposedRun>> {
        let text = crate::io::read_text(path)?;
        let mut runs = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = |problem: String| WorldError::Proposal {
                path: path.to_owned(),
                line: i + 1,
                problem,
            };
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
            let id = (v["run_id"].as_str()).ok_or_else(|| bad("field `run_id`".into()))?;
            let tokens = (v["tokens"].as_f64())
                .filter(|t| t.is_finite() && *t > 0.0)
                .ok_or_else(|| bad("field `tokens`: expected a positive number".into()))?;
            let history = v["history"].as_array().map_or(&[][..], |a| a);
            let mut schedule = Vec::with_capacity(history.len() + 1);
            for (h, stage) in history.iter().enumerate() {
                let weights = self.weights(&stage["weights"]);
                schedule.push(Stage {
                    weights: weights.map_err(|p| bad(format!("history[{h}].weights: {p}")))?,
                    tokens: match &stage["tokens"] {
                        serde_json::Value::Null => tokens,
                        t => t
                            .as_f64()
                            .filter(|t| t.is_finite() && *t > 0.0)
                            .ok_or_else(|| {
                                bad(format!("history[{h}].tokens: expected a positive number"))
                            })?,
                    },
                });
            }
            let weights = self.weights(&v["weights"]);
            schedule.push(Stage {
                weights: weights.map_err(|p| bad(format!("field `weights`: {p}")))?,
                tokens,
            });
            runs.push(ProposedRun {
                id: id.to_owned(),
                schedule,
            });
        }
        Ok(runs)
    }

    /// Weights in domain order from a JSON object `domain -> weight`: every domain of the
    /// space, each finite and non-negative, summing to 1 (within 0.01).
    fn weights(&self, value: &serde_json::Value) -> Result<Vec<f64>, String> {
        let map = (value.as_object()).ok_or("expected an object of domain -> weight")?;
        let domains = &self.space.domains;
        if let Some(name) = map.keys().find(|n| !domains.iter().any(|d| &d.name == *n)) {
            return Err(format!("unknown domain `{name}`"));
        }
        let w = domains
            .iter()
            .map(|d| match map.get(&d.name).map(serde_json::Value::as_f64) {
                None => Err(format!("domain `{}` is missing", d.name)),
                Some(Some(w)) if w.is_finite() && w >= 0.0 => Ok(w),
                Some(_) => Err(format!(
                    "weight of `{}` must be finite and non-negative",
                    d.name
                )),
            })
            .collect::<Result<Vec<f64>, String>>()?;
        let sum: f64 = w.iter().sum();
        if (sum - 1.0).abs() > 0.01 {
            return Err(format!("weights sum to {sum}, not 1"));
        }
        Ok(w)
    }

    /// The results file the evaluator contract expects for `runs` at model `scale`: `run_id`,
    /// one column per benchmark, then `signal:<benchmark>` (the model's uncertainty).
    pub fn results_csv(&self, runs: &[ProposedRun], scale: f64, noise: Noise) -> Vec<u8> {
        let names = self.benchmarks();
        let mut csv = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["run_id".to_owned()];
        header.extend(names.iter().cloned());
        header.extend(names.iter().map(|n| format!("signal:{n}")));
        let mut rows = vec![header];
        for r in runs {
            let out = self.run(&r.id, &r.schedule, scale, noise);
            let mut row = vec![r.id.clone()];
            row.extend(out.scores.iter().map(f64::to_string));
            row.extend(out.uncertainty.iter().map(f64::to_string));
            rows.push(row);
        }
        for row in rows {
            csv.write_record(&row)
                .expect("writing CSV to memory cannot fail");
        }
        csv.into_inner().expect("an in-memory CSV writer flushes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::from_file(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/world/multimodal.toml"),
        )
        .unwrap()
    }

    #[test]
    fn diminishing_returns_repetition_and_determinism() {
        let w = world();
        let n = w.space.len();
        let uniform = vec![1.0 / n as f64; n];
        let q = |tokens: f64| {
            w.quality(
                &[Stage {
                    weights: uniform.clone(),
                    tokens,
                }],
                1.0,
            )[0]
        };
        // More data helps, with diminishing returns.
        let (a, b, c) = (q(0.5), q(1.0), q(1.5));
        assert!(b > a && c > b && (c - b) < (b - a), "{a} {b} {c}");
        // The same run id replays the same noisy outcome.
        let s = [Stage {
            weights: uniform.clone(),
            tokens: 1.0,
        }];
        assert_eq!(
            w.run("r1", &s, 1.0, Noise::Seeded),
            w.run("r1", &s, 1.0, Noise::Seeded)
        );
        assert_ne!(
            w.run("r1", &s, 1.0, Noise::Seeded),
            w.run("r2", &s, 1.0, Noise::Seeded)
        );
        // Putting every token on one domain repeats it and loses to spreading them.
        let mut one = vec![0.0; n];
        one[0] = 1.0;
        let single = w.quality(
            &[Stage {
                weights: one,
                tokens: 4.0,
            }],
            1.0,
        );
        let spread = w.quality(
            &[Stage {
                weights: uniform,
                tokens: 4.0,
            }],
            1.0,
        );
        assert!(single.iter().sum::<f64>() < spread.iter().sum::<f64>());
    }
}
