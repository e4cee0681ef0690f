//! mixatlas tells ML teams which data mixture to train on next.
//!
//! Data flows through the modules in this order: a mixture [`space`] defines the domains;
//! logged proxy [`runs`] (mixture -> outcomes) are read and validated; a deep-ensemble
//! [`predictor`] learns mixture -> outcome with epistemic uncertainty; [`device`] picks the burn
//! backend it runs on.
//!
//! ```no_run
//! use mixatlas::device::{BackendTask, DeviceKind};
//! use mixatlas::predictor::{EnsembleConfig, fit};
//! use mixatlas::runs::{DataSpec, Runs};
//! use burn::tensor::backend::AutodiffBackend;
//!
//! struct Train(Runs);
//! impl BackendTask for Train {
//!     type Output = f64;
//!     fn run<B: AutodiffBackend>(self, device: B::Device) -> f64 {
//!         let p = fit::<B>(&self.0, &EnsembleConfig::default(), 0, &device, &mut ()).unwrap();
//!         let pred = p.predict(&self.0.mixtures, &self.0.context).unwrap();
//!         pred.epistemic_std[0][0]
//!     }
//! }
//! let spec = DataSpec::from_file("configs/data/regmix-1m-train.toml".as_ref()).unwrap();
//! let runs = Runs::load(&spec).unwrap();
//! let std = DeviceKind::Cpu.dispatch(Train(runs)).unwrap();
//! ```

pub use burn;

pub mod error;

pub mod space;

pub mod runs;

pub mod device;

pub mod predictor;

pub mod cli;

pub use error::{Error, Result};
