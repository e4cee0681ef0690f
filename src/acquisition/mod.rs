//! Acquisition functions: how much we want to run a candidate mixture next, given the
//! ensemble's prediction and its uncertainty. One trait, one file per function.
//!
//! Every function reads [`Scores`]: the surrogate's posterior for a batch of candidates and
//! the objective's mean and epistemic std under it (higher is better, see
//! [`crate::objective`]); ensembles add the objective per member. Exploration always uses the
//! **epistemic** uncertainty, never the aleatoric noise: noise is not reduced by running a
//! mixture again. `thompson` and `ivr` read member outputs ([`AcquisitionKind::needs_members`]);
//! [`build`] refuses them for a surrogate without members.
//!
//! | name | value for candidate x | file |
//! |---|---|---|
//! | `mean` | `mu(x)` | mean.rs |
//! | `ucb` / `lcb` | `mu(x) ± sqrt(beta) sigma(x)`, fixed beta or GP-UCB's `beta_t` | ucb.rs |
//! | `ei` | `E[max(f(x) - f* - xi, 0)]` under `N(mu, sigma²)` | ei.rs |
//! | `pi` | `P(f(x) > f* + xi)` | pi.rs |
//! | `thompson` | one member's objective, redrawn per proposal | thompson.rs |
//! | `variance` | importance-weighted epistemic variance of the targets | variance.rs |
//! | `ivr` | integrated variance reduction over a reference set (MixAtlas) | reduction.rs |

mod ei;
mod mean;
mod pi;
mod reduction;
mod thompson;
mod ucb;
mod variance;

pub use ei::ExpectedImprovement;
pub use mean::PosteriorMean;
pub use pi::ProbabilityOfImprovement;
pub use reduction::VarianceReduction;
pub use thompson::Thompson;
pub use ucb::{Beta, ConfidenceBound};
pub use variance::MaxVariance;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::objective::Objective;
use crate::surrogate::{
    Capabilities, DeviceAcquisition, DeviceScoring, MemberOutputs, Posterior, Reduction, Surrogate,
    SurrogateError,
};

/// Why an acquisition function cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum AcquisitionError {
    /// EI and PI need the best observed objective value.
    #[error(
        "acquisition `{name}` needs the logged runs' outcomes (pass --data) to know the incumbent"
    )]
    NoIncumbent {
        /// The acquisition.
        name: &'static str,
    },
    /// The surrogate does not give what the acquisition reads.
    #[error(
        "acquisition `{acquisition}` reads ensemble member outputs, which this surrogate (a \
         Gaussian process) does not give: use mean, ucb, lcb, ei, pi or variance with it, or \
         an ensemble"
    )]
    NeedsMembers {
        /// The acquisition.
        acquisition: &'static str,
    },
    /// A parameter is out of range.
    #[error("acquisition parameter `{name}` = {value}: {expected}")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// The value found.
        value: f64,
        /// What it must satisfy.
        expected: &'static str,
    },
}

/// A surrogate's posterior over `rows` candidates, with the objective's mean and epistemic
/// std derived from it: what every acquisition function reads.
#[derive(Debug, Clone)]
pub struct Scores {
    /// The posterior per target.
    pub posterior: Posterior,
    /// Objective per member `[M, n]` flat (higher is better), for ensembles.
    pub member_objective: Option<Vec<f64>>,
    /// Posterior mean of the objective, `[n]`.
    pub mean: Vec<f64>,
    /// Epistemic std of the objective, `[n]`: the population std over members for an
    /// ensemble (so correlations between targets count), `sqrt(Σ_ts c_t c_s ρ_ts sd_t sd_s)`
    /// where the posterior states the targets' error correlation ρ (a shared-kernel GP), and
    /// `sqrt(Σ_t c_t² var_t)` for independent per-target models.
    pub std: Vec<f64>,
}

impl Scores {
    /// The objective's moments under `posterior`.
    pub fn new(posterior: Posterior, objective: &Objective) -> Self {
        let t = posterior.targets;
        match (&posterior.members, &posterior.correlation) {
            // Members carry the joint spread (an ensemble's), unless the model states the
            // targets' error correlation, which a GP's per-target sample paths do not follow.
            (Some(m), None) => {
                let values = objective.members(&m.outputs);
                let (mean, std) = member_moments(&values, m.count);
                Scores {
                    member_objective: Some(values),
                    mean,
                    std,
                    posterior,
                }
            }
            (members, correlation) => {
                let mean = posterior
                    .mean
                    .chunks_exact(t)
                    .map(|y| objective.value(y))
                    .collect();
                let c = &objective.coefficients;
                let std = posterior
                    .variance
                    .chunks_exact(t)
                    .map(|v| match correlation {
                        // Var(Σ c_t y_t) = Σ_ts c_t c_s ρ_ts sd_t sd_s.
                        Some(rho) => {
                            let a: Vec<f64> =
                                (v.iter().zip(c)).map(|(v, c)| c * v.sqrt()).collect();
                            let var: f64 = (0..t)
                                .map(|i| a[i] * (0..t).map(|j| rho[i * t + j] * a[j]).sum::<f64>())
                                .sum();
                            var.max(0.0).sqrt()
                        }
                        None => (v.iter().zip(c))
                            .map(|(v, c)| c * c * v)
                            .sum::<f64>()
                            .sqrt(),
                    })
                    .collect();
                Scores {
                    member_objective: members.as_ref().map(|m| objective.members(&m.outputs)),
                    mean,
                    std,
                    posterior,
                }
            }
        }
    }

    /// Number of candidates n.
    pub fn rows(&self) -> usize {
        self.posterior.rows
    }

    /// Number of targets T.
    pub fn targets(&self) -> usize {
        self.posterior.targets
    }

    /// Member outputs `[M, n, T]`; only called by acquisitions that declared they need them
    /// ([`AcquisitionKind::needs_members`]), which [`build`] refuses for other surrogates.
    fn members(&self) -> &MemberOutputs {
        self.posterior
            .members
            .as_ref()
            .expect("build() refuses member-based acquisitions for surrogates without members")
    }

    /// Ensemble size M (ensembles only).
    pub fn member_count(&self) -> usize {
        self.members().count
    }

    /// Member `m`'s output for row `i`, target `t` (ensembles only).
    pub fn output(&self, m: usize, i: usize, t: usize) -> f64 {
        self.members().outputs[(m * self.rows() + i) * self.targets() + t]
    }

    /// Posterior mean of another objective's value, `[n]` (e.g. a second objective for a
    /// Pareto front). Objectives are affine in the targets, so this is the objective of the
    /// mean.
    pub fn mean_under(&self, objective: &Objective) -> Vec<f64> {
        self.posterior
            .mean
            .chunks_exact(self.targets())
            .map(|y| objective.value(y))
            .collect()
    }

    /// Posterior mean and epistemic variance of target `t` at row `i`.
    pub fn target_moments(&self, i: usize, t: usize) -> (f64, f64) {
        self.posterior.moments(i, t)
    }
}

/// Mean and population std over members of `values` `[M, n]`: two `[n]` vectors.
fn member_moments(values: &[f64], members: usize) -> (Vec<f64>, Vec<f64>) {
    let (mean, variance) = crate::surrogate::member_moments(values, members);
    (mean, variance.into_iter().map(f64::sqrt).collect())
}

/// The shape of an acquisition as a smooth function of the members' objective values, for
/// gradient-based search through the predictor. `None` from [`Acquisition::smooth`] means the
/// function has no such form here (e.g. `ivr`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Smooth {
    /// `a * mu + b * sigma`.
    MeanStd {
        /// Weight of the mean.
        mean: f64,
        /// Weight of the epistemic std.
        std: f64,
    },
    /// One member's objective.
    Member(usize),
    /// Expected improvement (`expected`) or probability of improvement over `incumbent + xi`.
    Improvement {
        /// Best observed objective.
        incumbent: f64,
        /// Margin.
        xi: f64,
        /// EI when true, PI when false.
        expected: bool,
    },
}

/// An acquisition function. Higher values are more worth running.
pub trait Acquisition: Send + Sync {
    /// Short name, e.g. `ucb(beta=4)`.
    fn name(&self) -> String;
    /// One value per candidate, `[n]`.
    fn score(&self, s: &Scores) -> Vec<f64>;
    /// The smooth form for gradient search, if any.
    fn smooth(&self) -> Option<Smooth>;
    /// Whether [`Acquisition::smooth`] gives the values of [`Acquisition::score`], not only
    /// their ranking: then the GPU kernel computes the function on the device.
    fn smooth_is_exact(&self) -> bool {
        true
    }
    /// Draws fresh randomness for the next proposal (Thompson sampling draws a new member);
    /// returns whether scores change. Deterministic functions return false.
    fn redraw(&mut self, _rng: &mut dyn RngCore) -> bool {
        false
    }
}

/// Which acquisition function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum AcquisitionKind {
    /// Posterior mean: pure exploitation.
    Mean,
    /// Upper confidence bound.
    Ucb,
    /// Lower confidence bound: risk-averse.
    Lcb,
    /// Expected improvement over the best logged run.
    Ei,
    /// Probability of improvement over the best logged run.
    Pi,
    /// Thompson sampling, one ensemble member per proposal.
    Thompson,
    /// Maximum epistemic variance: pure exploration.
    Variance,
    /// Integrated variance reduction (MixAtlas-style uncertainty reduction).
    Ivr,
}

impl AcquisitionKind {
    /// The name as written on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            AcquisitionKind::Mean => "mean",
            AcquisitionKind::Ucb => "ucb",
            AcquisitionKind::Lcb => "lcb",
            AcquisitionKind::Ei => "ei",
            AcquisitionKind::Pi => "pi",
            AcquisitionKind::Thompson => "thompson",
            AcquisitionKind::Variance => "variance",
            AcquisitionKind::Ivr => "ivr",
        }
    }

    /// What its value is, in words (for printed proposals).
    pub fn meaning(self) -> &'static str {
        match self {
            AcquisitionKind::Mean => "the predicted objective",
            AcquisitionKind::Ucb => "the predicted objective plus beta times its epistemic std",
            AcquisitionKind::Lcb => "the predicted objective minus beta times its epistemic std",
            AcquisitionKind::Ei => {
                "the expected improvement over the best logged run, in objective units"
            }
            AcquisitionKind::Pi => "the probability of improving on the best logged run",
            AcquisitionKind::Thompson => "the objective under one posterior draw per proposal",
            AcquisitionKind::Variance => "the epistemic variance of the objective",
            AcquisitionKind::Ivr => "the reduction of the objective's integrated variance",
        }
    }

    /// Whether the function reads member outputs (Thompson over members, `ivr`'s ensemble
    /// covariance) rather than only the posterior mean and variance.
    pub fn needs_members(self) -> bool {
        matches!(self, AcquisitionKind::Thompson | AcquisitionKind::Ivr)
    }
}

/// An acquisition function and its parameters, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AcquisitionSpec {
    /// The function.
    pub kind: AcquisitionKind,
    /// UCB/LCB exploration weight; `None` follows the GP-UCB schedule `beta_t`.
    pub beta: Option<f64>,
    /// GP-UCB confidence parameter delta in (0, 1).
    pub delta: f64,
    /// EI/PI margin, in objective units.
    pub xi: f64,
}

/// The defaults of `propose`, `loop` and backtest strategies, chosen by backtests on the
/// shipped runs (docs/strategies.md): the posterior mean, which found the best of
/// the 512 RegMix runs within 32 in a median over 10 seeds where every UCB, EI and Thompson
/// variant stopped at the second or third best, tied on Olmix and made the simulated campaign's
/// surrogate rounds beat its random design in 7 of 10 seeds (UCB with beta 4: 2). When UCB is
/// asked for, beta 1 beat beta 4 on all three pools.
impl Default for AcquisitionSpec {
    fn default() -> Self {
        AcquisitionSpec {
            kind: AcquisitionKind::Mean,
            beta: Some(1.0),
            delta: 0.1,
            xi: 0.0,
        }
    }
}

/// UCB's beta as written in configs: a number, or `"gp-ucb"` for the GP-UCB schedule
/// ([`Beta::GpUcb`]). Converts to and from [`AcquisitionSpec::beta`] (`None`: the schedule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BetaSetting {
    /// A constant beta.
    Fixed(f64),
    /// The GP-UCB schedule `beta_t`.
    GpUcb,
}

impl From<Option<f64>> for BetaSetting {
    fn from(beta: Option<f64>) -> Self {
        beta.map_or(BetaSetting::GpUcb, BetaSetting::Fixed)
    }
}

impl From<BetaSetting> for Option<f64> {
    fn from(beta: BetaSetting) -> Self {
        match beta {
            BetaSetting::Fixed(b) => Some(b),
            BetaSetting::GpUcb => None,
        }
    }
}

impl Serialize for BetaSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BetaSetting::Fixed(b) => s.serialize_f64(*b),
            BetaSetting::GpUcb => s.serialize_str("gp-ucb"),
        }
    }
}

impl<'de> Deserialize<'de> for BetaSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(f64),
            Name(String),
        }
        match Written::deserialize(d)? {
            Written::Number(b) if b.is_finite() && b >= 0.0 => Ok(BetaSetting::Fixed(b)),
            Written::Number(b) => Err(serde::de::Error::custom(format!(
                "beta = {b}: a non-negative number, or \"gp-ucb\""
            ))),
            Written::Name(n) if n == "gp-ucb" => Ok(BetaSetting::GpUcb),
            Written::Name(n) => Err(serde::de::Error::custom(format!(
                "beta = \"{n}\": a non-negative number, or \"gp-ucb\""
            ))),
        }
    }
}

/// What an acquisition function may need besides the candidates' scores.
#[derive(Debug, Clone, Default)]
pub struct AcquisitionContext {
    /// Best observed objective among the logged runs.
    pub incumbent: Option<f64>,
    /// Observations so far (GP-UCB's t is this plus one).
    pub observations: usize,
    /// Number of domains (GP-UCB's d).
    pub dims: usize,
    /// Per-target weight of epistemic variance in target units², `[T]`: importance over the
    /// training variance, `w_t / std_t²`.
    pub variance_weights: Vec<f64>,
    /// Per-target observation noise variance in target units², `[T]`.
    pub noise_var: Vec<f64>,
    /// Scores of the reference mixtures the `ivr` criterion integrates over.
    pub reference: Option<Scores>,
}

/// Builds the acquisition function `spec` in `ctx` for a surrogate with `capabilities`;
/// refuses a function that reads what the surrogate does not give. `rng` draws Thompson's
/// first member.
pub fn build(
    spec: &AcquisitionSpec,
    ctx: &AcquisitionContext,
    capabilities: &Capabilities,
    rng: &mut dyn RngCore,
) -> Result<Box<dyn Acquisition>, AcquisitionError> {
    let members = match capabilities.members {
        Some(m) => m,
        None if spec.kind.needs_members() => {
            return Err(AcquisitionError::NeedsMembers {
                acquisition: spec.kind.name(),
            });
        }
        None => 0,
    };
    let beta = || -> Result<Beta, AcquisitionError> {
        match spec.beta {
            Some(b) if b.is_finite() && b >= 0.0 => Ok(Beta::Fixed(b)),
            Some(b) => Err(AcquisitionError::BadParameter {
                name: "beta",
                value: b,
                expected: "must be finite and non-negative",
            }),
            None if spec.delta > 0.0 && spec.delta < 1.0 => Ok(Beta::GpUcb {
                t: ctx.observations + 1,
                dims: ctx.dims.max(1),
                delta: spec.delta,
            }),
            None => Err(AcquisitionError::BadParameter {
                name: "delta",
                value: spec.delta,
                expected: "must lie in (0, 1)",
            }),
        }
    };
    let incumbent = |name| ctx.incumbent.ok_or(AcquisitionError::NoIncumbent { name });
    Ok(match spec.kind {
        AcquisitionKind::Mean => Box::new(PosteriorMean),
        AcquisitionKind::Ucb => Box::new(ConfidenceBound::upper(beta()?)),
        AcquisitionKind::Lcb => Box::new(ConfidenceBound::lower(beta()?)),
        AcquisitionKind::Ei => Box::new(ExpectedImprovement {
            incumbent: incumbent("ei")?,
            xi: spec.xi,
        }),
        AcquisitionKind::Pi => Box::new(ProbabilityOfImprovement {
            incumbent: incumbent("pi")?,
            xi: spec.xi,
        }),
        AcquisitionKind::Thompson => Box::new(Thompson::new(members, rng)),
        AcquisitionKind::Variance => Box::new(MaxVariance {
            weights: ctx.variance_weights.clone(),
        }),
        AcquisitionKind::Ivr => Box::new(VarianceReduction::new(
            ctx.reference
                .as_ref()
                .ok_or(AcquisitionError::BadParameter {
                    name: "reference",
                    value: 0.0,
                    expected: "ivr needs a reference set of mixtures",
                })?,
            &ctx.variance_weights,
            &ctx.noise_var,
        )),
    })
}

/// Scores mixtures with a surrogate under an objective, at a fixed context (stage features).
pub struct Scorer<'a> {
    /// The fitted ensemble or GP.
    pub surrogate: &'a dyn Surrogate,
    /// What is optimised.
    pub objective: &'a Objective,
    /// Context inputs shared by every candidate, `[context]`.
    pub context: Vec<f64>,
    /// Ask for member outputs even where they cost extra (a GP's sample paths): set when the
    /// acquisition reads them ([`AcquisitionKind::needs_members`]).
    pub members: bool,
}

/// Batches smaller than this score on the host even where a GPU kernel is available: a
/// device round trip costs more than the fused CPU pass over a few thousand rows.
pub const DEVICE_MIN_ROWS: usize = 4096;

impl Scorer<'_> {
    /// The surrogate on its GPU with the reduction for `acquisition`, where the surrogate has
    /// the fused kernel and the acquisition a closed form of the objective's mean and std (or
    /// one member's objective): every function but `variance` over several targets and `ivr`.
    pub fn on_device(
        &self,
        acquisition: &dyn Acquisition,
    ) -> Option<(&dyn DeviceScoring, Reduction)> {
        let device = self.surrogate.device()?;
        if !acquisition.smooth_is_exact() {
            return None;
        }
        let acquisition = match acquisition.smooth()? {
            Smooth::MeanStd { mean, std } => DeviceAcquisition::MeanStd { mean, std },
            Smooth::Member(k) => DeviceAcquisition::Member(k),
            Smooth::Improvement {
                incumbent,
                xi,
                expected,
            } => DeviceAcquisition::Improvement {
                threshold: incumbent + xi,
                expected,
            },
        };
        let reduction = Reduction {
            coefficients: self.objective.coefficients.clone(),
            offsets: self.objective.offsets.clone(),
            acquisition,
        };
        Some((device, reduction))
    }

    /// `acquisition`'s value for `mixtures` (`[n][domains]`): on the GPU kernel for batches
    /// of [`DEVICE_MIN_ROWS`] or more where [`Scorer::on_device`] allows, else on the host.
    pub fn acquisition_values(
        &self,
        acquisition: &dyn Acquisition,
        mixtures: &[Vec<f64>],
    ) -> Result<Vec<f64>, SurrogateError> {
        if mixtures.len() >= DEVICE_MIN_ROWS
            && let Some((device, reduction)) = self.on_device(acquisition)
        {
            return Ok(device
                .rows(mixtures, &self.context, &reduction)?
                .acquisition);
        }
        Ok(acquisition.score(&self.scores(mixtures)?))
    }

    /// Scores of `mixtures` (`[n][domains]`).
    pub fn scores(&self, mixtures: &[Vec<f64>]) -> Result<Scores, SurrogateError> {
        let posterior = if self.members {
            self.surrogate.posterior(mixtures, &self.context)?
        } else {
            self.surrogate.moments(mixtures, &self.context)?
        };
        Ok(Scores::new(posterior, self.objective))
    }

    /// The context an acquisition function needs: the incumbent from `logged` outcomes
    /// (`[runs][targets]`, may be empty), importance weights and noise from the surrogate,
    /// and the scores of `reference` mixtures for `ivr`.
    pub fn acquisition_context(
        &self,
        logged: &[Vec<f64>],
        reference: Option<&[Vec<f64>]>,
    ) -> Result<AcquisitionContext, SurrogateError> {
        let std = &self.surrogate.target_norm().std;
        Ok(AcquisitionContext {
            incumbent: logged
                .iter()
                .map(|y| self.objective.value(y))
                .max_by(f64::total_cmp),
            observations: logged.len(),
            dims: self.surrogate.schema().mixture_columns.len(),
            variance_weights: (0..std.len())
                .map(|t| self.objective.weights[t] / (std[t] * std[t]))
                .collect(),
            noise_var: self.surrogate.noise_var().to_vec(),
            reference: reference.map(|r| self.scores(r)).transpose()?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::objective::ObjectiveSpec;
    use crate::runs::{Direction, Schema, TargetSpec};
    use crate::space::Space;
    use crate::surrogate::Normalizer;

    /// An objective over `t` higher-is-better targets, raw units, equal weights.
    pub(crate) fn objective(t: usize) -> Objective {
        let schema = Schema {
            space: Space::from_names("s", &["a".into()]).unwrap(),
            mixture_columns: vec!["a".into()],
            context: Vec::new(),
            targets: (0..t)
                .map(|j| TargetSpec::new(format!("t{j}"), Direction::Higher))
                .collect(),
        };
        let spec = ObjectiveSpec {
            normalize: crate::objective::Normalize::None,
            ..ObjectiveSpec::default()
        };
        let norm = Normalizer {
            mean: vec![0.0; t],
            std: vec![1.0; t],
        };
        Objective::new(&spec, &schema, &norm).unwrap()
    }

    /// Scores of one target from an ensemble: `values[m][i]`.
    pub(crate) fn scores(values: &[&[f64]]) -> Scores {
        let outputs = values.iter().flat_map(|m| m.iter().copied()).collect();
        Scores::new(
            Posterior::from_members(outputs, values.len(), 1),
            &objective(1),
        )
    }

    #[test]
    fn moments_and_all_functions_order_candidates_sensibly() {
        // Candidate 0: high mean, certain. Candidate 1: lower mean, uncertain.
        let s = scores(&[&[1.0, 0.0], &[1.0, 1.0], &[1.0, -1.0], &[1.0, 0.4]]);
        assert!((s.mean[0] - 1.0).abs() < 1e-12 && s.std[0] == 0.0);
        assert!(s.std[1] > 0.5);
        let ctx = AcquisitionContext {
            incumbent: Some(0.9),
            observations: 10,
            dims: 3,
            variance_weights: vec![1.0],
            noise_var: vec![0.01],
            reference: Some(s.clone()),
        };
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        let mut value = |kind, beta| {
            let spec = AcquisitionSpec {
                kind,
                beta,
                ..AcquisitionSpec::default()
            };
            build(&spec, &ctx, &Capabilities::ensemble(4), &mut rng)
                .unwrap()
                .score(&s)
        };
        let mean = value(AcquisitionKind::Mean, None);
        assert!(mean[0] > mean[1]);
        let ucb = value(AcquisitionKind::Ucb, Some(9.0));
        assert!(
            ucb[1] > ucb[0],
            "a large beta prefers the uncertain candidate"
        );
        let gp = value(AcquisitionKind::Ucb, None);
        assert!(gp[1] > gp[0], "beta_t at t = 11 is large");
        let lcb = value(AcquisitionKind::Lcb, Some(1.0));
        assert!(lcb[0] > lcb[1]);
        assert!(value(AcquisitionKind::Variance, None)[1] > 0.0);
        let ivr = value(AcquisitionKind::Ivr, None);
        assert!(ivr[1] > ivr[0] && ivr[0].abs() < 1e-12);
        let ei = value(AcquisitionKind::Ei, None);
        assert!(
            (ei[0] - 0.1).abs() < 1e-9,
            "a certain candidate improves by mu - f*"
        );
        let pi = value(AcquisitionKind::Pi, None);
        assert!((pi[0] - 1.0).abs() < 1e-9 && pi[1] < 0.5);
    }

    #[test]
    fn member_based_functions_are_refused_without_members() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        let ctx = AcquisitionContext {
            reference: Some(scores(&[&[0.0, 1.0], &[1.0, 0.0]])),
            ..AcquisitionContext::default()
        };
        for kind in [AcquisitionKind::Thompson, AcquisitionKind::Ivr] {
            let spec = AcquisitionSpec {
                kind,
                ..AcquisitionSpec::default()
            };
            let bare = Capabilities {
                members: None,
                joint: false,
                differentiable: false,
                conditions: false,
            };
            let err = build(&spec, &ctx, &bare, &mut rng);
            let err = err.err().expect("no members, no member draws").to_string();
            assert!(err.contains(kind.name()), "{err}");
            assert!(build(&spec, &ctx, &Capabilities::ensemble(2), &mut rng).is_ok());
            // A GP's sample paths serve as members.
            assert!(build(&spec, &ctx, &Capabilities::GAUSSIAN_PROCESS, &mut rng).is_ok());
        }
    }

    #[test]
    fn a_posterior_without_members_gives_the_objective_moments() {
        // Two independent targets, one row: objective = 0.5 y0 + 0.5 y1 (raw units).
        let posterior = Posterior {
            rows: 1,
            targets: 2,
            mean: vec![1.0, 3.0],
            variance: vec![4.0, 16.0],
            noise: vec![0.0; 2],
            members: None,
            correlation: None,
        };
        let s = Scores::new(posterior.clone(), &objective(2));
        assert!((s.mean[0] - 2.0).abs() < 1e-12);
        // sqrt(0.25 * 4 + 0.25 * 16)
        assert!((s.std[0] - 5f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.target_moments(0, 1), (3.0, 16.0));
        assert!(s.member_objective.is_none());
        // Correlated errors (ρ = -0.5): sqrt(0.25 * 4 + 0.25 * 16 + 2 * 0.25 * -0.5 * 2 * 4).
        let correlated = Posterior {
            correlation: Some(vec![1.0, -0.5, -0.5, 1.0].into()),
            ..posterior
        };
        let s = Scores::new(correlated, &objective(2));
        assert!((s.std[0] - 3f64.sqrt()).abs() < 1e-12, "{}", s.std[0]);
    }
}
