//! mixatlas tells ML teams which data mixture to train on next.
//!
//! Data flows through the modules in this order: a mixture [`space`] defines the domains, their
//! constraints and samplers; logged proxy [`runs`] (mixture -> outcomes) are read and validated;
//! a [`surrogate`] (the deep-ensemble predictor, a Gaussian process or a mixing law) learns
//! mixture -> outcome with epistemic uncertainty; an
//! [`objective`] turns its targets into one number to maximise; an [`acquisition`] function
//! values candidates by prediction and uncertainty; [`search`]ers find the best feasible
//! candidates and pick a batch, driven by the ask/tell [`proposer`]; [`simulate`] streams
//! millions of recipes through the predictor;
//! [`campaign`] runs the closed loop over rounds and stages; [`export`] writes recipes for
//! training stacks; `report` draws the analysis (feature `report`). [`device`] picks the burn
//! backend, and `kernels` (features `wgpu`, `cuda`) scores on a GPU. Underneath everything, [`io`] writes files atomically and [`math`] holds the
//! numerical helpers. The command line is `cli` (feature `cli`, on by default).
//!
//! Train, predict, then ask for the next runs, on the CPU:
//!
//! ```
//! use mixatlas::device::Cpu;
//! use mixatlas::surrogate::{EnsembleConfig, Fitted, fit};
//! use mixatlas::proposer::{Proposer, ProposerConfig};
//! use mixatlas::runs::{DataSpec, Runs};
//! use mixatlas::space::Constraints;
//!
//! let runs = Runs::load(&DataSpec::from_file("configs/data/regmix-1m-train.toml".as_ref())?)?;
//! // A quick config for the example; the defaults are what the README measures.
//! let config = EnsembleConfig { members: 2, max_epochs: 5, ..EnsembleConfig::default() };
//! let predictor = fit::<Cpu>(&runs, &config, 0, &Default::default(), &mut ())?;
//! let p = predictor.predict(&runs.mixtures[..1], &runs.context[..1])?;
//! assert!(p.mean[0][0] > 3.0 && p.mean[0][0] < 8.0, "a Pile-CC loss of a 1M-parameter proxy");
//! assert!(p.epistemic_std[0][0] > 0.0);
//!
//! // The next 4 proxy runs: UCB over random + CMA-ES search, away from the logged runs.
//! let search = ProposerConfig { samples: 2_000, cmaes_evaluations: 200, ..ProposerConfig::default() };
//! let constraints = Constraints::simplex(&runs.schema.space);
//! let model = Fitted::Ensemble(Box::new(predictor));
//! let mut proposer = Proposer::<Cpu>::with_model(constraints, model, search, Default::default())?;
//! proposer.tell(&runs)?;
//! let batch = proposer.ask(4)?;
//! assert_eq!(batch.proposals.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub use burn;

pub mod error;

pub mod io;

pub mod math;

pub mod progress;

pub mod space;

pub mod runs;

pub mod device;

pub mod surrogate;

// The GPU scoring kernels (CubeCL; features `wgpu`, `cuda`) live in the top-level `kernels/`.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[path = "../kernels/mod.rs"]
pub mod kernels;

pub mod objective;

pub mod acquisition;

pub mod search;

pub mod proposer;

pub mod strategy;

pub mod simulate;

pub mod campaign;

pub mod backtest;

pub mod export;

pub mod import;

#[cfg(feature = "report")]
pub mod report;

#[cfg(feature = "cli")]
pub mod cli;

pub use error::{Error, Result};
