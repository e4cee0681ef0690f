//! `--surrogate auto`: choose the surrogate by k-fold out-of-fold score on the training runs.
//!
//! Every candidate (the deep ensemble, the ARD GP, the log-linear mixing law) is
//! cross-validated on the same folds ([`compare`]); the one with the best mean out-of-fold
//! Spearman over targets wins (ties: the lower mean NLL), is refitted on every run, and carries
//! the comparison ([`Selection`]) in its checkpoint.

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

    /// The candidates, in a fixed order.
    pub fn candidates(&self) -> [SurrogateSpec; 3] {
        [
            SurrogateSpec::Ensemble(self.ensemble.clone()),
            SurrogateSpec::Gp(self.gp.clone()),
            SurrogateSpec::LogLinear(self.loglinear.clone()),
        ]
    }
}

/// One candidate's out-of-fold scores, means over targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// Which surrogate.
    pub surrogate: SurrogateKind,
    /// Mean out-of-fold Spearman.
    pub spearman: f64,
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
        .candidates()
        .iter()
        .map(|spec| {
            let start = std::time::Instant::now();
            let e = cross_validate::<B>(runs, spec, folds, seed, device, observer)?;
            let mean = |f: &dyn Fn(&crate::surrogate::metrics::TargetMetrics) -> f64| {
                e.metrics.iter().map(f).sum::<f64>() / e.metrics.len() as f64
            };
            let score = CandidateScore {
                surrogate: spec.kind(),
                spearman: mean(&|m| m.spearman),
                nll: mean(&|m| m.nll),
                coverage90: mean(&|m| m.coverage90),
                seconds: start.elapsed().as_secs_f64(),
            };
            Ok((score, e))
        })
        .collect()
}

/// Index of the best of `scores`: highest Spearman, then lowest NLL (NaN scores lose).
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
    (0..scores.len())
        .max_by(|&a, &b| {
            let (ka, kb) = (key(&scores[a]), key(&scores[b]));
            ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        })
        .expect("at least one candidate")
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
    let spec = config.candidates()[winner].clone();
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
            spearman,
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
}
