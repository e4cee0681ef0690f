//! mixatlas tells ML teams which data mixture to train on next.
//!
//! Data flows through the modules in this order: a mixture [`space`] defines the domains, their
//! constraints and samplers; logged proxy [`runs`] (mixture -> outcomes) are read and validated;
//! a deep-ensemble [`predictor`] learns mixture -> outcome with epistemic uncertainty; an
//! [`objective`] turns its targets into one number to maximise; an [`acquisition`] function
//! values candidates by prediction and uncertainty; [`search`]ers find the best feasible
//! candidates and pick a batch; [`simulate`] streams millions of recipes through the predictor;
//! [`campaign`] runs the closed loop over rounds and stages; [`export`] writes recipes for
//! training stacks; [`report`] draws the analysis. [`device`] picks the burn backend.
//!
//! ```
//! use burn::tensor::backend::AutodiffBackend;
//! use mixatlas::device::{BackendTask, DeviceKind};
//! use mixatlas::predictor::{EnsembleConfig, fit};
//! use mixatlas::runs::{DataSpec, Runs};
//!
//! /// Train on the shipped RegMix runs and predict the first run's Pile-CC loss.
//! struct Train(Runs);
//! impl BackendTask for Train {
//!     type Output = mixatlas::Result<(f64, f64)>;
//!     fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
//!         // A quick config for the example; the defaults are what the README measures.
//!         let config = EnsembleConfig { members: 2, max_epochs: 5, ..EnsembleConfig::default() };
//!         let predictor = fit::<B>(&self.0, &config, 0, &device, &mut ())?;
//!         let p = predictor.predict(&self.0.mixtures[..1], &self.0.context[..1])?;
//!         Ok((p.mean[0][0], p.epistemic_std[0][0]))
//!     }
//! }
//! let spec = DataSpec::from_file("configs/data/regmix-1m-train.toml".as_ref())?;
//! let runs = Runs::load(&spec)?;
//! let (mean, epistemic_std) = DeviceKind::Cpu.dispatch(Train(runs))??;
//! assert!(mean > 3.0 && mean < 8.0, "a Pile-CC loss of a 1M-parameter proxy");
//! assert!(epistemic_std > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use burn;

pub mod error;

pub mod io;

pub mod math;

pub mod space;

pub mod runs;

pub mod device;

pub mod predictor;

pub mod objective;

pub mod acquisition;

pub mod search;

pub mod proposer;

pub mod simulate;

pub mod campaign;

pub mod export;

#[cfg(feature = "report")]
pub mod report;

#[cfg(feature = "cli")]
pub mod cli;

pub use error::{Error, Result};
