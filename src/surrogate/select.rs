//! `--surrogate auto`: choose the surrogate by k-fold out-of-fold score on the training runs.
//!
//! Every candidate (the deep ensemble, the ARD GP, the log-linear mixing law) is
//! cross-validated on the same folds ([`compare`]); the one with the best mean out-of-fold
//! Spearman over targets wins (ties: the lower mean NLL), is refitted on every run, and carries
//! the comparison ([`Selection`]) in its checkpoint. With several targets the GP is tried both
//! ways, one GP per target and one kernel shared by all ([`GpConfig::share_kernel`]); when the
//! independent GPs win, the shared one is taken instead if its out-of-fold NLL is no worse and
//! its Spearman within [`SHARED_SPEARMAN_SLACK`] of theirs.

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::runs::Runs;
use crate::surrogate::{
    EnsembleConfig, Evaluation, Fitted, GpConfig, LogLinearConfig, SurrogateError, SurrogateKind,
    SurrogateSpec, TrainObserver, cross_validate,
};

/// The candidates and how they are compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoConfig {
    /// Folds of the comparison (capped at the number of runs).
    pub folds: usize,
    /// The ensemble candidate.
    pub ensemble: EnsembleConfig,
    /// The GP candidate.
    pub gp: GpConfig,
    /// The mixing-law candidate.
    pub loglinear: LogLinearConfig,
}

impl AutoConfig {
    /// The three candidates' configs (as campaigns and backtest strategies hold them), with
    /// the default folds.
    pub fn of(ensemble: &EnsembleConfig, gp: &GpConfig, loglinear: &LogLinearConfig) -> Self {
        AutoConfig {
            ensemble: ensemble.clone(),
            gp: gp.clone(),
            loglinear: loglinear.clone(),
            ..AutoConfig::default()
        }
    }
}

impl Default for AutoConfig {
    fn default() -> Self {
        AutoConfig {
            folds: 5,
            ensemble: EnsembleConfig::default(),
            gp: GpConfig::default(),
            loglinear: LogLinearConfig::default(),
        }
    }
}

impl AutoConfig {
    /// Reads a config from TOML (`folds`, and `[ensemble]`, `[gp]`, `[loglinear]` tables; missing
    /// fields take their defaults) and validates it.
    pub fn from_toml(text: &str) -> Result<Self, SurrogateError> {
        crate::surrogate::config_from_toml(text, Self::validate)
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), SurrogateError> {
        if !(2..=100).contains(&self.folds) {
            return Err(SurrogateError::Config(
                "`folds` must lie in [2, 100]".into(),
            ));
        }
        self.ensemble.validate()?;
        self.gp.validate()?;
        self.loglinear.validate()
    }

    /// The candidates for `targets` targets, in a fixed order: the ensemble, the GP (and,
    /// with several targets and `gp.share_kernel` off, the GP with a shared kernel), the
    /// mixing law.
    pub fn candidates(&self, targets: usize) -> Vec<SurrogateSpec> {
        let mut out = vec![
            SurrogateSpec::Ensemble(self.ensemble.clone()),
            SurrogateSpec::Gp(self.gp.clone()),
        ];
        if targets > 1 && !self.gp.share_kernel {
            out.push(SurrogateSpec::Gp(GpConfig {
                share_kernel: true,
                ..self.gp.clone()
            }));
        }
        out.push(SurrogateSpec::LogLinear(self.loglinear.clone()));
        out
    }
}

/// How much lower a shared-kernel GP's mean out-of-fold Spearman may be than independent
/// GPs' for it to stand for the GP.
pub const SHARED_SPEARMAN_SLACK: f64 = 0.005;

/// One candidate's out-of-fold scores, means over targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// Which surrogate.
    pub surrogate: SurrogateKind,
    /// A GP whose targets share one kernel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_kernel: bool,
    /// Mean out-of-fold Spearman.
    pub spearman: f64,
    /// Median over targets of the out-of-fold Spearman (`None` where a target's is not a
    /// number, and in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_spearman: Option<f64>,
    /// Mean out-of-fold Gaussian NLL (target units).
    pub nll: f64,
    /// Mean share of runs inside their 90% interval.
    pub coverage90: f64,
    /// Seconds the k fits took.
    pub seconds: f64,
}

/// What `auto` compared and chose; stored in the checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Folds of the comparison.
    pub folds: usize,
    /// Seed of the folds (fold `f` trains with `seed + f`).
    pub seed: u64,
    /// Every candidate's scores.
    pub scores: Vec<CandidateScore>,
    /// The winner.
    pub chosen: SurrogateKind,
}

impl CandidateScore {
    /// Its name in tables: the kind, `gp-shared` for a shared-kernel GP.
    pub fn label(&self) -> String {
        let kind = serde_json::to_value(self.surrogate).expect("a kind serialises");
        let kind = kind.as_str().unwrap_or_default();
        if self.shared_kernel {
            format!("{kind}-shared")
        } else {
            kind.to_owned()
        }
    }
}

/// Cross-validates every candidate of `config` on the same folds of `runs`: one out-of-fold
/// evaluation per candidate, with its scores.
pub fn compare<B: AutodiffBackend>(
    runs: &Runs,
    config: &AutoConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<Vec<(CandidateScore, Evaluation)>, SurrogateError> {
    config.validate()?;
    let folds = config.folds.min(runs.len());
    config
        .candidates(runs.schema.targets.len())
        .iter()
        .map(|spec| {
            let start = std::time::Instant::now();
            let e = cross_validate::<B>(runs, spec, folds, seed, device, observer)?;
            let mean = |f: &dyn Fn(&crate::surrogate::metrics::TargetMetrics) -> f64| {
                e.metrics.iter().map(f).sum::<f64>() / e.metrics.len() as f64
            };
            let score = CandidateScore {
                surrogate: spec.kind(),
                shared_kernel: matches!(spec, SurrogateSpec::Gp(c) if c.share_kernel),
                spearman: mean(&|m| m.spearman),
                median_spearman: median(e.metrics.iter().map(|m| m.spearman).collect()),
                nll: mean(&|m| m.nll),
                coverage90: mean(&|m| m.coverage90),
                seconds: start.elapsed().as_secs_f64(),
            };
            Ok((score, e))
        })
        .collect()
}

/// The median of `values` (`None` when empty or when any is NaN).
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        0.5 * (values[mid - 1] + values[mid])
    })
}

/// Index of the best of `scores`: highest Spearman, then lowest NLL (NaN scores lose). When
/// the independent GP wins and a shared-kernel GP is among `scores`, the shared one is taken
/// instead if its NLL is no higher and both its mean and its median Spearman over targets are
/// at most [`SHARED_SPEARMAN_SLACK`] lower (so sharing never costs the typical target more
/// than that); without a scored independent GP, the shared one competes in its place.
pub fn best(scores: &[CandidateScore]) -> usize {
    let key = |s: &CandidateScore| {
        let spearman = if s.spearman.is_nan() {
            f64::NEG_INFINITY
        } else {
            s.spearman
        };
        let nll = if s.nll.is_nan() { f64::INFINITY } else { s.nll };
        (spearman, -nll)
    };
    let shared = |i: usize| scores[i].surrogate == SurrogateKind::Gp && scores[i].shared_kernel;
    // Without a scored independent GP, the shared one competes in its place.
    let independent_failed = !(0..scores.len()).any(|i| {
        scores[i].surrogate == SurrogateKind::Gp && !shared(i) && !scores[i].spearman.is_nan()
    });
    let winner = (0..scores.len())
        .filter(|&i| !shared(i) || independent_failed)
        .max_by(|&a, &b| {
            let (ka, kb) = (key(&scores[a]), key(&scores[b]));
            ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        })
        .expect("at least one candidate besides a shared-kernel GP");
    let stands_in = (0..scores.len()).find(|&i| shared(i)).filter(|&i| {
        let (w, s) = (key(&scores[winner]), key(&scores[i]));
        // A score without a median (an older checkpoint) is judged on the mean alone.
        let median_kept = match (scores[winner].median_spearman, scores[i].median_spearman) {
            (Some(w), Some(s)) => s >= w - SHARED_SPEARMAN_SLACK,
            _ => true,
        };
        scores[winner].surrogate == SurrogateKind::Gp
            && s.1 >= w.1
            && s.0 >= w.0 - SHARED_SPEARMAN_SLACK
            && median_kept
    });
    stands_in.unwrap_or(winner)
}

/// Compares the candidates, fits the winner on every run (seed `seed`) and records the
/// comparison in it.
pub fn fit_auto<B: AutodiffBackend>(
    runs: &Runs,
    config: &AutoConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<Fitted<B::InnerBackend>, SurrogateError> {
    let compared = compare::<B>(runs, config, seed, device, observer)?;
    let scores: Vec<CandidateScore> = compared.into_iter().map(|(s, _)| s).collect();
    let winner = best(&scores);
    let spec = config.candidates(runs.schema.targets.len())[winner].clone();
    let mut model = spec.fit::<B>(runs, seed, device, observer)?;
    model.set_selection(Selection {
        folds: config.folds.min(runs.len()),
        seed,
        chosen: scores[winner].surrogate,
        scores,
    });
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(surrogate: SurrogateKind, spearman: f64, nll: f64) -> CandidateScore {
        CandidateScore {
            surrogate,
            shared_kernel: false,
            spearman,
            median_spearman: Some(spearman),
            nll,
            coverage90: 0.9,
            seconds: 1.0,
        }
    }

    #[test]
    fn the_best_spearman_wins_then_the_lower_nll_and_nan_loses() {
        let s = [
            score(SurrogateKind::Ensemble, 0.95, -1.0),
            score(SurrogateKind::Gp, 0.97, 0.0),
            score(SurrogateKind::LogLinear, f64::NAN, -9.0),
        ];
        assert_eq!(best(&s), 1);
        let tie = [
            score(SurrogateKind::Ensemble, 0.97, -1.0),
            score(SurrogateKind::Gp, 0.97, 0.0),
        ];
        assert_eq!(best(&tie), 0);
    }

    #[test]
    fn a_shared_kernel_gp_stands_for_the_gp_when_its_likelihood_is_no_worse() {
        let shared = |spearman, nll| CandidateScore {
            shared_kernel: true,
            ..score(SurrogateKind::Gp, spearman, nll)
        };
        let independent = score(SurrogateKind::Gp, 0.970, -1.0);
        let ensemble = score(SurrogateKind::Ensemble, 0.950, -0.5);
        // Better likelihood, Spearman within the slack: the shared GP wins.
        let s = [ensemble.clone(), independent.clone(), shared(0.966, -1.1)];
        assert_eq!(best(&s), 2);
        // Its Spearman too low: the independent GP stands, and wins.
        let s = [ensemble.clone(), independent.clone(), shared(0.960, -1.1)];
        assert_eq!(best(&s), 1);
        // The mean within the slack but the median target 0.018 worse: the independent GP
        // stands.
        let skewed = CandidateScore {
            median_spearman: Some(0.952),
            ..shared(0.971, -1.1)
        };
        assert_eq!(best(&[ensemble.clone(), independent.clone(), skewed]), 1);
        // Worse likelihood: the independent GP stands, even below a better-ranking shared one.
        let s = [ensemble.clone(), independent.clone(), shared(0.990, -0.9)];
        assert_eq!(best(&s), 1);
        // Another candidate between the two GPs: the independent GP still wins, and the
        // shared one stands in for it.
        let middle = score(SurrogateKind::Ensemble, 0.968, -0.5);
        let s = [middle.clone(), independent.clone(), shared(0.966, -1.1)];
        assert_eq!(best(&s), 2);
        // The ensemble wins outright: no GP stands in.
        let top = score(SurrogateKind::Ensemble, 0.99, -0.5);
        assert_eq!(best(&[top, independent, shared(0.969, -1.1)]), 0);
        // An independent GP with a NaN Spearman: the shared one competes in its place.
        let broken = score(SurrogateKind::Gp, f64::NAN, -1.0);
        assert_eq!(best(&[middle, broken, shared(0.97, -1.1)]), 2);
    }
}
