//! What acquisition functions read from a fitted model: a posterior over a batch of mixtures.
//!
//! Every surrogate gives the predictive mean and epistemic variance per candidate and target
//! ([`Posterior`]). Models that have more say so in [`Capabilities`]: the deep ensemble keeps
//! its members' outputs (what Thompson sampling and the `ivr` criterion read), the Gaussian
//! process gives the joint covariance over a batch ([`Surrogate::covariance`]). An acquisition
//! that needs what a model lacks is refused when it is built (see
//! [`crate::acquisition::build`]), not deep in a run.

use std::path::Path;

use burn::prelude::Backend;
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Layout};
use super::ensemble;
use super::loglinear::{LogLinear, LogLinearConfig};
use super::select::{AutoConfig, Selection, fit_auto};
use super::{
    DeviceScoring, EnsembleConfig, GaussianProcess, GpConfig, Normalizer, Posterior, Predictor,
    SurrogateError, TrainObserver, fit,
};
use crate::math::linalg::cholesky;
use crate::runs::Runs;
use crate::runs::Schema;
use burn::tensor::backend::AutodiffBackend;

/// Which surrogate model to train.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SurrogateKind {
    /// Deep ensemble of MLPs (burn).
    #[default]
    Ensemble,
    /// Gaussian process, ARD Matérn-5/2, hyperparameters by marginal likelihood.
    Gp,
    /// The log-linear mixing law `y = c ± exp(b + t·w)` with bootstrap members.
    #[serde(rename = "loglinear")]
    #[cfg_attr(feature = "cli", value(name = "loglinear"))]
    LogLinear,
    /// Whichever of the three scores best out-of-fold on the training runs.
    Auto,
}

/// Which surrogate to fit, with its configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum SurrogateSpec {
    /// A deep ensemble.
    Ensemble(EnsembleConfig),
    /// A Gaussian process.
    Gp(GpConfig),
    /// The log-linear mixing law.
    LogLinear(LogLinearConfig),
    /// The best of the three by k-fold out-of-fold score ([`super::select`]).
    Auto(AutoConfig),
}

impl SurrogateSpec {
    /// What the surrogate this spec fits will offer.
    pub fn capabilities(&self) -> Capabilities {
        match self {
            SurrogateSpec::Ensemble(c) => Capabilities::ensemble(c.members),
            SurrogateSpec::Gp(_) => Capabilities::GAUSSIAN_PROCESS,
            SurrogateSpec::LogLinear(c) => Capabilities::members(c.members),
            // Only what every candidate offers.
            SurrogateSpec::Auto(c) => Capabilities::members(
                (c.ensemble.members)
                    .min(c.loglinear.members)
                    .min(super::gp::PATHS),
            ),
        }
    }

    /// Which kind of surrogate it fits.
    pub fn kind(&self) -> SurrogateKind {
        match self {
            SurrogateSpec::Ensemble(_) => SurrogateKind::Ensemble,
            SurrogateSpec::Gp(_) => SurrogateKind::Gp,
            SurrogateSpec::LogLinear(_) => SurrogateKind::LogLinear,
            SurrogateSpec::Auto(_) => SurrogateKind::Auto,
        }
    }

    /// The spec that fits a surrogate of `kind`, configured from `configs` (each kind from its
    /// own table; `auto` from all of them).
    pub fn fitted(kind: SurrogateKind, configs: &AutoConfig) -> Self {
        match kind {
            SurrogateKind::Ensemble => SurrogateSpec::Ensemble(configs.ensemble.clone()),
            SurrogateKind::Gp => SurrogateSpec::Gp(configs.gp.clone()),
            SurrogateKind::LogLinear => SurrogateSpec::LogLinear(configs.loglinear.clone()),
            SurrogateKind::Auto => SurrogateSpec::Auto(configs.clone()),
        }
    }

    /// The spec of a surrogate of `kind` configured by the TOML `text` (that kind's config
    /// table; empty: the defaults).
    pub fn from_toml(kind: SurrogateKind, text: &str) -> Result<Self, SurrogateError> {
        Ok(match kind {
            SurrogateKind::Ensemble => SurrogateSpec::Ensemble(EnsembleConfig::from_toml(text)?),
            SurrogateKind::Gp => SurrogateSpec::Gp(GpConfig::from_toml(text)?),
            SurrogateKind::LogLinear => SurrogateSpec::LogLinear(LogLinearConfig::from_toml(text)?),
            SurrogateKind::Auto => SurrogateSpec::Auto(AutoConfig::from_toml(text)?),
        })
    }

    /// Fits the surrogate on `runs` (ensembles on `device`, reporting epochs to `observer`;
    /// `seed` drives initialisation, bootstrap and restarts).
    pub fn fit<B: AutodiffBackend>(
        &self,
        runs: &Runs,
        seed: u64,
        device: &B::Device,
        observer: &mut dyn TrainObserver,
    ) -> Result<Fitted<B::InnerBackend>, SurrogateError> {
        Ok(match self {
            SurrogateSpec::Ensemble(config) => {
                Fitted::Ensemble(Box::new(fit::<B>(runs, config, seed, device, observer)?))
            }
            SurrogateSpec::Gp(config) => Fitted::Gp(Box::new(GaussianProcess::fit_observed(
                runs, config, seed, observer,
            )?)),
            SurrogateSpec::LogLinear(config) => Fitted::LogLinear(Box::new(
                LogLinear::fit_observed(runs, config, seed, observer)?,
            )),
            SurrogateSpec::Auto(config) => fit_auto::<B>(runs, config, seed, device, observer)?,
        })
    }
}

/// What a surrogate offers beyond the mean and variance every surrogate gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Ensemble size M when the posterior carries member outputs ([`Posterior::members`]).
    pub members: Option<usize>,
    /// [`Surrogate::covariance`] gives the joint covariance over a batch.
    pub joint: bool,
    /// The model can be differentiated with burn autodiff (the gradient searcher;
    /// [`Fitted::differentiable`] gives it).
    pub differentiable: bool,
    /// [`Surrogate::condition_on_means`] conditions the model on fantasised observations
    /// without refitting (kriging believer).
    pub conditions: bool,
}

impl Capabilities {
    /// Member outputs of `count` members and nothing more (the mixing law's bootstrap).
    pub fn members(count: usize) -> Self {
        Capabilities {
            members: Some(count),
            joint: false,
            differentiable: false,
            conditions: false,
        }
    }

    /// A deep ensemble of `members` members: member outputs, differentiable with burn.
    pub fn ensemble(members: usize) -> Self {
        Capabilities {
            members: Some(members),
            joint: false,
            differentiable: true,
            conditions: false,
        }
    }

    /// A Gaussian process: a joint posterior, and its sample paths as members.
    pub const GAUSSIAN_PROCESS: Capabilities = Capabilities {
        members: Some(super::gp::PATHS),
        joint: true,
        differentiable: false,
        conditions: true,
    };
}

/// A fitted model of mixture -> outcomes that acquisition functions can read: the deep
/// ensemble ([`Predictor`]), the Gaussian process ([`GaussianProcess`]) or the mixing law
/// ([`LogLinear`]).
pub trait Surrogate {
    /// Columns, space and targets.
    fn schema(&self) -> &Schema;
    /// Mean and std of the training targets, `[targets]` each.
    fn target_norm(&self) -> &Normalizer;
    /// Observation noise variance per target, target units², `[targets]`.
    fn noise_var(&self) -> &[f64];
    /// What the posterior offers besides mean and variance.
    fn capabilities(&self) -> Capabilities;
    /// The posterior at mixtures `[n][domains]` under a shared context `[context]`.
    fn posterior(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Posterior, SurrogateError>;
    /// The posterior's mean and variance, leaving out member outputs where they cost extra to
    /// compute (a GP's sample paths); by default the whole [`Surrogate::posterior`].
    fn moments(&self, mixtures: &[Vec<f64>], context: &[f64]) -> Result<Posterior, SurrogateError> {
        self.posterior(mixtures, context)
    }
    /// The model on its GPU through the fused kernel, reducing candidates there; `None` on
    /// CPU backends and for models without one (GP, mixing law).
    fn device(&self) -> Option<&dyn DeviceScoring> {
        None
    }

    /// The joint posterior covariance of the n mixtures, per target `[T][n * n]` row-major
    /// (target units²), where [`Capabilities::joint`] says the model has it.
    fn covariance(
        &self,
        _mixtures: &[Vec<f64>],
        _context: &[f64],
    ) -> Result<Option<Vec<Vec<f64>>>, SurrogateError> {
        Ok(None)
    }

    /// The model conditioned on observing its own posterior means at `mixtures` under
    /// `context` (the kriging believer's fantasy), where [`Capabilities::conditions`] says it
    /// can; `None` otherwise.
    fn condition_on_means(
        &self,
        _mixtures: &[Vec<f64>],
        _context: &[f64],
    ) -> Option<Result<Box<dyn Surrogate>, SurrogateError>> {
        None
    }

    /// `count` joint draws of the n mixtures' outcomes from the posterior, `[count, n, T]`
    /// flat in target units, where the model has a joint posterior
    /// ([`Surrogate::covariance`]): `mean + L z` per target with `L L^T` the covariance (plus
    /// a `1e-10`-relative jitter) and `z` standard normal from `rng`.
    fn joint_samples(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
        count: usize,
        rng: &mut dyn RngCore,
    ) -> Result<Option<Vec<f64>>, SurrogateError> {
        let Some(cov) = self.covariance(mixtures, context)? else {
            return Ok(None);
        };
        let posterior = self.moments(mixtures, context)?;
        let (n, t) = (posterior.rows, posterior.targets);
        let mut out = vec![0.0; count * n * t];
        for (j, mut c) in cov.into_iter().enumerate() {
            let scale = (0..n).map(|i| c[i * n + i]).fold(0.0, f64::max).max(1e-300);
            (0..n).for_each(|i| c[i * n + i] += 1e-10 * scale);
            if !cholesky(&mut c, n) {
                return Err(SurrogateError::SingularCovariance { target: j });
            }
            for s in 0..count {
                let z: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut *rng)).collect();
                for i in 0..n {
                    let lz: f64 = (0..=i).map(|k| c[i * n + k] * z[k]).sum();
                    out[(s * n + i) * t + j] = posterior.mean[i * t + j] + lz;
                }
            }
        }
        Ok(Some(out))
    }
}

impl<B: Backend> Surrogate for Predictor<B> {
    fn schema(&self) -> &Schema {
        &self.meta.schema
    }
    fn target_norm(&self) -> &Normalizer {
        &self.meta.target_norm
    }
    fn noise_var(&self) -> &[f64] {
        &self.meta.noise_var
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::ensemble(self.model.members())
    }
    fn posterior(
        &self,
        mixtures: &[Vec<f64>],
        context: &[f64],
    ) -> Result<Posterior, SurrogateError> {
        Ok(self.posterior_of(&self.features_of(mixtures, context)?))
    }
    fn device(&self) -> Option<&dyn DeviceScoring> {
        self.kernel().map(|_| self as &dyn DeviceScoring)
    }
}

/// A fitted surrogate of any kind, as a checkpoint directory holds it.
#[derive(Debug)]
pub enum Fitted<B: Backend> {
    /// The deep ensemble.
    Ensemble(Box<Predictor<B>>),
    /// The Gaussian process.
    Gp(Box<GaussianProcess>),
    /// The log-linear mixing law.
    LogLinear(Box<LogLinear>),
}

impl<B: Backend> Fitted<B> {
    /// Loads the checkpoint in `dir`, of any kind (an ensemble onto `device`), in the envelope
    /// or a layout mixatlas 0.1 wrote.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self, SurrogateError> {
        let layout = checkpoint::open(dir)?;
        let kind = match &layout {
            Layout::Envelope(ck) => ck.envelope.kind,
            Layout::LegacyEnsemble => SurrogateKind::Ensemble,
            Layout::LegacyGp => SurrogateKind::Gp,
            Layout::LegacyLogLinear => SurrogateKind::LogLinear,
        };
        Ok(match kind {
            SurrogateKind::Ensemble => Fitted::Ensemble(Box::new(
                ensemble::checkpoint::from_layout(dir, layout, device)?,
            )),
            SurrogateKind::Gp => Fitted::Gp(Box::new(GaussianProcess::from_layout(dir, layout)?)),
            SurrogateKind::LogLinear => {
                Fitted::LogLinear(Box::new(LogLinear::from_layout(dir, layout)?))
            }
            SurrogateKind::Auto => {
                let path = dir.join(checkpoint::MANIFEST);
                let problem = "field `kind` is `auto`: a checkpoint holds the model auto chose";
                return Err(checkpoint::bad(&path, problem));
            }
        })
    }

    /// The model as a surrogate.
    pub fn surrogate(&self) -> &dyn Surrogate {
        match self {
            Fitted::Ensemble(p) => p.as_ref(),
            Fitted::Gp(g) => g.as_ref(),
            Fitted::LogLinear(l) => l.as_ref(),
        }
    }

    /// What `--surrogate auto` compared, when it chose this model.
    pub fn selection(&self) -> Option<&Selection> {
        match self {
            Fitted::Ensemble(p) => p.meta.selection.as_ref(),
            Fitted::Gp(g) => g.selection.as_ref(),
            Fitted::LogLinear(l) => l.selection.as_ref(),
        }
    }

    /// Records what `--surrogate auto` compared.
    pub fn set_selection(&mut self, selection: Selection) {
        let slot = match self {
            Fitted::Ensemble(p) => &mut p.meta.selection,
            Fitted::Gp(g) => &mut g.selection,
            Fitted::LogLinear(l) => &mut l.selection,
        };
        *slot = Some(selection);
    }

    /// Digests of the runs it was fitted on, when its checkpoint records them.
    pub fn trained_on(&self) -> Option<&super::TrainingRows> {
        match self {
            Fitted::Ensemble(p) => p.meta.trained_on.as_ref(),
            Fitted::Gp(g) => g.trained_on.as_ref(),
            Fitted::LogLinear(l) => l.trained_on.as_ref(),
        }
    }

    /// Writes the checkpoint to `dir` (replaced only when `overwrite` allows it).
    pub fn save(&self, dir: &Path, overwrite: crate::io::Overwrite) -> Result<(), SurrogateError> {
        match self {
            Fitted::Ensemble(p) => ensemble::checkpoint::save(p, dir, overwrite),
            Fitted::Gp(g) => g.save(dir, overwrite),
            Fitted::LogLinear(l) => l.save(dir, overwrite),
        }
    }

    /// The model in a form burn can differentiate (the gradient searcher), where
    /// [`Capabilities::differentiable`] says it has one: the ensemble.
    pub fn differentiable(&self) -> Option<&Predictor<B>> {
        match self {
            Fitted::Ensemble(p) => Some(p),
            Fitted::Gp(_) | Fitted::LogLinear(_) => None,
        }
    }

    /// Which kind it is.
    pub fn kind(&self) -> SurrogateKind {
        match self {
            Fitted::Ensemble(_) => SurrogateKind::Ensemble,
            Fitted::Gp(_) => SurrogateKind::Gp,
            Fitted::LogLinear(_) => SurrogateKind::LogLinear,
        }
    }

    /// The posterior, noise included, for mixtures `[n][domains]` and a context per row
    /// `[n][context]` (empty when the schema has none).
    pub fn predict(
        &self,
        mixtures: &[Vec<f64>],
        context: &[Vec<f64>],
    ) -> Result<Posterior, SurrogateError> {
        match self {
            Fitted::Ensemble(p) => p.predict(mixtures, context),
            Fitted::Gp(g) => g.predict(mixtures, context),
            Fitted::LogLinear(l) => l.predict(mixtures, context),
        }
    }

    /// The model scoring through the fused CPU path, for an ensemble (see
    /// [`Predictor::with_fused_cpu`]); other kinds as they are.
    pub fn with_fused_cpu(self) -> Self {
        match self {
            Fitted::Ensemble(p) => Fitted::Ensemble(Box::new(p.with_fused_cpu())),
            other => other,
        }
    }
}
