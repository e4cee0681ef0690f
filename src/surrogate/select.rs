//! `--surrogate auto`: choose the surrogate by k-fold out-of-fold score on the training runs.
//!
//! Every candidate (the deep ensemble, the ARD GP, the log-linear mixing law) is
//! cross-validated on the same folds ([`compare`]; 5, or 3 above [`FEWER_FOLDS_ABOVE`] runs);
//! with more than [`AutoConfig::max_targets`] targets, on that many of them, evenly spread
//! ([`AutoConfig::compared_targets`]), so the comparison's cost stops growing with the
//! targets while the winner is fitted on all. The one with the best mean out-of-fold
//! Spearman over targets wins (ties: the lower mean NLL), is refitted on every run, and carries
//! the comparison ([`Selection`]) in its checkpoint. With several targets the GP is tried both
//! ways, one GP per target and one kernel shared by all ([`GpConfig::share_kernel`]); the
//! shared one competes only if its Spearman (mean and median over targets) is within
//! [`SHARED_SPEARMAN_SLACK`] of the independent GPs', and takes their place when they win and
//! its NLL is no worse ([`best`]).

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
    /// Folds of the comparison (capped at the number of runs); unset:
    /// [`AutoConfig::folds_for`]'s default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    /// Most targets the candidates are compared on; with more, every `T / max_targets`-th
    /// target is (see [`AutoConfig::compared_targets`]).
    pub max_targets: usize,
    /// The ensemble candidate.
    pub ensemble: EnsembleConfig,
    /// The GP candidate.
    pub gp: GpConfig,
    /// The mixing-law candidate.
    pub loglinear: LogLinearConfig,
}

impl AutoConfig {
    /// The three candidates' configs (as campaigns and backtest strategies hold them), with
    /// the default folds and `max_targets`.
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
            folds: None,
            max_targets: 16,
            ensemble: EnsembleConfig::default(),
            gp: GpConfig::default(),
            loglinear: LogLinearConfig::default(),
        }
    }
}

impl AutoConfig {
    /// Reads a config from TOML (`folds`, `max_targets`, and `[ensemble]`, `[gp]`,
    /// `[loglinear]` tables; missing fields take their defaults) and validates it.
    pub fn from_toml(text: &str) -> Result<Self, SurrogateError> {
        crate::surrogate::config_from_toml(text, Self::validate)
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), SurrogateError> {
        if self.folds.is_some_and(|k| !(2..=100).contains(&k)) {
            return Err(SurrogateError::Config(
                "`folds` must lie in [2, 100]".into(),
            ));
        }
        if self.max_targets == 0 {
            return Err(SurrogateError::Config(
                "`max_targets` must be at least 1".into(),
            ));
        }
        self.ensemble.validate()?;
        self.gp.validate()?;
        self.loglinear.validate()
    }

    /// The folds of a comparison over `runs` runs: `folds` if set, else 5, or 3 with more
    /// than [`FEWER_FOLDS_ABOVE`] runs (each fold still holds out over 128 runs, and each
    /// candidate is fitted 3 times instead of 5); at most `runs`.
    pub fn folds_for(&self, runs: usize) -> usize {
        let default = if runs > FEWER_FOLDS_ABOVE { 3 } else { 5 };
        self.folds.unwrap_or(default).min(runs)
    }

    /// The targets the candidates are compared on, of `names` (all of them in order):
    /// `None` for all, when there are at most [`AutoConfig::max_targets`]; otherwise
    /// `max_targets` of them, target `⌊(i + ½) T / max_targets⌋` for `i = 0..max_targets`, an
    /// even spread that follows the order of the columns (so each family of tasks logged side
    /// by side keeps its share).
    pub fn compared_targets(&self, names: &[String]) -> Option<Vec<String>> {
        let (all, k) = (names.len(), self.max_targets);
        (all > k).then(|| {
            (0..k)
                .map(|i| names[((2 * i + 1) * all) / (2 * k)].clone())
                .collect()
        })
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

/// A GP whose targets share one kernel.
fn shares_kernel(spec: &SurrogateSpec) -> bool {
    matches!(spec, SurrogateSpec::Gp(c) if c.share_kernel)
}

/// Runs above which a comparison's default is 3 folds instead of 5.
pub const FEWER_FOLDS_ABOVE: usize = 384;

/// How much lower a shared-kernel GP's mean and median out-of-fold Spearman over targets may
/// be than independent GPs' for it to compete ([`best`]).
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
    /// The targets the candidates were compared on, when not all
    /// ([`AutoConfig::compared_targets`]; absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// Every candidate's scores (means and medians over the compared targets).
    pub scores: Vec<CandidateScore>,
    /// The winner.
    pub chosen: SurrogateKind,
}

impl CandidateScore {
    /// One line for a terminal: `folds`-fold scores, e.g. `5-fold out-of-fold: gp  Spearman
    /// 0.9512 (median 0.9600), NLL -1.234, 90% coverage 0.901 (3.2 s)`.
    pub fn line(&self, folds: usize) -> String {
        let median = self
            .median_spearman
            .map_or(String::new(), |m| format!(" (median {m:.4})"));
        format!(
            "{folds}-fold out-of-fold: {:<10} Spearman {:.4}{median}, NLL {:.3}, 90% coverage {:.3} ({:.1} s)",
            self.label(),
            self.spearman,
            self.nll,
            self.coverage90,
            self.seconds
        )
    }

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

/// What [`compare`] found.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Folds of the comparison.
    pub folds: usize,
    /// The targets compared on, when not all ([`AutoConfig::compared_targets`]).
    pub targets: Option<Vec<String>>,
    /// Every candidate, in [`AutoConfig::candidates`] order: its spec, its scores and its
    /// out-of-fold evaluation over the compared targets.
    pub candidates: Vec<(SurrogateSpec, CandidateScore, Evaluation)>,
}

impl Comparison {
    /// The candidates' scores, in order.
    pub fn scores(&self) -> Vec<CandidateScore> {
        self.candidates.iter().map(|(_, s, _)| s.clone()).collect()
    }

    /// Index of the chosen candidate ([`best`]).
    pub fn winner(&self) -> usize {
        best(&self.scores())
    }
}

/// Cross-validates every candidate of `config` on the same folds of `runs`, on the targets
/// [`AutoConfig::compared_targets`] names.
pub fn compare<B: AutodiffBackend>(
    runs: &Runs,
    config: &AutoConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<Comparison, SurrogateError> {
    config.validate()?;
    let folds = config.folds_for(runs.len());
    let targets = config.compared_targets(&runs.schema.target_names());
    let sample;
    let runs = match &targets {
        Some(names) => {
            let mut some = runs.clone();
            some.select_targets(names)
                .expect("compared targets are targets of the runs");
            sample = some;
            &sample
        }
        None => runs,
    };
    let candidates = (config.candidates(runs.schema.targets.len()).into_iter())
        .map(|spec| {
            let start = std::time::Instant::now();
            let e = cross_validate::<B>(runs, &spec, folds, seed, device, observer)?;
            let mean = |f: &dyn Fn(&crate::surrogate::metrics::TargetMetrics) -> f64| {
                e.metrics.iter().map(f).sum::<f64>() / e.metrics.len() as f64
            };
            let score = CandidateScore {
                surrogate: spec.kind(),
                shared_kernel: shares_kernel(&spec),
                spearman: mean(&|m| m.spearman),
                median_spearman: median(e.metrics.iter().map(|m| m.spearman).collect()),
                nll: mean(&|m| m.nll),
                coverage90: mean(&|m| m.coverage90),
                seconds: start.elapsed().as_secs_f64(),
            };
            Ok((spec, score, e))
        })
        .collect::<Result<_, SurrogateError>>()?;
    Ok(Comparison {
        folds,
        targets,
        candidates,
    })
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

/// Index of the best of `scores`: highest Spearman, then lowest NLL (NaN scores lose). A
/// shared-kernel GP competes only if both its mean and its median Spearman over targets are at
/// most [`SHARED_SPEARMAN_SLACK`] below the independent GPs' (so sharing never costs the
/// typical target more than that), or if they have no score; when the independent GPs win,
/// such a shared GP is taken in their place if its NLL is no higher.
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
    let gp = |i: &usize, shared_kernel: bool| {
        scores[*i].surrogate == SurrogateKind::Gp && scores[*i].shared_kernel == shared_kernel
    };
    let independent = (0..scores.len()).find(|i| gp(i, false));
    let shared = (0..scores.len()).find(|i| gp(i, true));
    let eligible = match (independent, shared) {
        (Some(i), Some(s)) => {
            // A score without a median (an older checkpoint) is judged on the mean alone.
            let median_kept = match (scores[i].median_spearman, scores[s].median_spearman) {
                (Some(mi), Some(ms)) => ms >= mi - SHARED_SPEARMAN_SLACK,
                _ => true,
            };
            scores[i].spearman.is_nan()
                || (key(&scores[s]).0 >= key(&scores[i]).0 - SHARED_SPEARMAN_SLACK && median_kept)
        }
        _ => true,
    };
    let winner = (0..scores.len())
        .filter(|&i| eligible || Some(i) != shared)
        .max_by(|&a, &b| {
            let (ka, kb) = (key(&scores[a]), key(&scores[b]));
            ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        })
        .expect("at least one candidate");
    match (independent, shared) {
        (Some(i), Some(s)) if winner == i && eligible && key(&scores[s]).1 >= key(&scores[i]).1 => {
            s
        }
        _ => winner,
    }
}

/// `evaluate --surrogate auto`: the comparison, and the chosen candidate's out-of-fold
/// evaluation on every target (the comparison's own when it compared on every target).
pub fn evaluate_auto<B: AutodiffBackend>(
    runs: &Runs,
    config: &AutoConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<(Comparison, Evaluation), SurrogateError> {
    let comparison = compare::<B>(runs, config, seed, device, observer)?;
    let (spec, _, evaluation) = &comparison.candidates[comparison.winner()];
    let chosen = match comparison.targets {
        Some(_) => cross_validate::<B>(runs, spec, comparison.folds, seed, device, observer)?,
        None => evaluation.clone(),
    };
    Ok((comparison, chosen))
}

/// Compares the candidates, fits the winner on every run and target (seed `seed`) and
/// records the comparison in it.
pub fn fit_auto<B: AutodiffBackend>(
    runs: &Runs,
    config: &AutoConfig,
    seed: u64,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<Fitted<B::InnerBackend>, SurrogateError> {
    let comparison = compare::<B>(runs, config, seed, device, observer)?;
    let winner = comparison.winner();
    let scores = comparison.scores();
    let mut model = comparison.candidates[winner]
        .0
        .fit::<B>(runs, seed, device, observer)?;
    model.set_selection(Selection {
        folds: comparison.folds,
        targets: comparison.targets,
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
    fn many_targets_are_compared_on_an_even_spread_of_them() {
        let names = |n: usize| (0..n).map(|t| format!("t{t}")).collect::<Vec<_>>();
        let config = AutoConfig {
            max_targets: 4,
            ..AutoConfig::default()
        };
        assert_eq!(config.compared_targets(&names(4)), None);
        assert_eq!(
            config.compared_targets(&names(10)),
            Some(["t1", "t3", "t6", "t8"].map(String::from).to_vec())
        );
        // 105 targets, 16 compared: distinct, in order, one in every 6 or 7.
        let some = AutoConfig::default().compared_targets(&names(105)).unwrap();
        let index: Vec<usize> = some.iter().map(|n| n[1..].parse().unwrap()).collect();
        assert_eq!((index.len(), index[0], index[15]), (16, 3, 101));
        assert!(index.windows(2).all(|w| (6..=7).contains(&(w[1] - w[0]))));
        // Out-of-range fields are refused by name.
        for (text, field) in [("max_targets = 0", "max_targets"), ("folds = 1", "folds")] {
            let e = AutoConfig::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(field), "{text}: {e}");
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
        // Within the slack but a worse likelihood: the independent GP stands.
        let s = [ensemble.clone(), independent.clone(), shared(0.968, -0.9)];
        assert_eq!(best(&s), 1);
        // Ranking best outright: the shared GP wins, whatever its likelihood.
        let s = [ensemble.clone(), independent.clone(), shared(0.990, -0.9)];
        assert_eq!(best(&s), 2);
        let s = [
            ensemble.clone(),
            score(SurrogateKind::Gp, 0.945, -1.0),
            shared(0.96, -0.9),
        ];
        assert_eq!(best(&s), 2);
        // Another candidate between the two GPs: the independent GP still wins, and the
        // shared one stands in for it.
        let middle = score(SurrogateKind::Ensemble, 0.968, -0.5);
        let s = [middle.clone(), independent.clone(), shared(0.966, -1.1)];
        assert_eq!(best(&s), 2);
        // The ensemble between the two GPs: the shared one stands for the GP, and wins.
        let s = [
            ensemble.clone(),
            score(SurrogateKind::Gp, 0.945, -1.0),
            shared(0.955, -1.1),
        ];
        assert_eq!(best(&s), 2);
        // The ensemble wins outright: no GP stands in.
        let top = score(SurrogateKind::Ensemble, 0.99, -0.5);
        assert_eq!(best(&[top, independent, shared(0.969, -1.1)]), 0);
        // No independent GP (`share_kernel = true` in the config): the shared one competes.
        assert_eq!(best(&[middle.clone(), shared(0.97, -1.1)]), 1);
        // An independent GP with a NaN Spearman: the shared one competes in its place.
        let broken = score(SurrogateKind::Gp, f64::NAN, -1.0);
        assert_eq!(best(&[middle, broken, shared(0.97, -1.1)]), 2);
    }
}
