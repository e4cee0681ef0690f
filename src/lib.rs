//! mixatlas tells ML teams which data mixture to train on next.
//!
//! Data flows through the modules in this order: a mixture [`space`] defines the domains, their
//! constraints and samplers; logged proxy [`runs`] (mixture -> outcomes) are read and validated;
//! a [`surrogate`] (the deep-ensemble predictor, a Gaussian process or a mixing law) learns
//! mixture -> outcome with epistemic uncertainty; an
//! [`objective`] turns its targets into one number to maximise; an [`acquisition`] function
//! values candidates by prediction and uncertainty; [`search`]ers find the best feasible
//! candidates and pick a batch, driven by the ask/tell [`proposer`] under a [`strategy`]; the
//! [`driver`] runs every loop of ask, reveal and tell;
//! [`simulate`] streams millions of recipes through the surrogate; [`export`] writes recipes
//! for training stacks and [`import`] reads other tools' runs; [`campaign`] runs the closed loop
//! over rounds and stages; [`evaluation`] measures strategies without training (backtests, the
//! simulated world); `report` draws the analysis (feature `report`). [`device`] picks the burn
//! backend, and `kernels` (features `wgpu`, `cuda`) scores on a GPU. Underneath everything,
//! [`io`] writes files atomically and [`math`] holds the numerical helpers. The command line is `cli` (feature `cli`, on by default).
//!
//! Fit a surrogate, read its posterior, then ask for the next runs, on the CPU:
//!
//! ```
//! use mixatlas::device::Cpu;
//! use mixatlas::proposer::{Proposer, ProposerConfig};
//! use mixatlas::runs::{DataSpec, Runs};
//! use mixatlas::space::Constraints;
//! use mixatlas::surrogate::{EnsembleConfig, SurrogateSpec};
//!
//! let runs = Runs::load(&DataSpec::from_file("configs/data/regmix-1m-train.toml".as_ref())?)?;
//! // A quick config for the example; the defaults are what docs/figures.md measures.
//! let spec = SurrogateSpec::Ensemble(EnsembleConfig { members: 2, max_epochs: 5, ..Default::default() });
//! let fitted = spec.fit::<Cpu>(&runs, 0, &Default::default(), &mut ())?;
//! let posterior = fitted.surrogate().posterior(&runs.mixtures[..1], &runs.context[0])?;
//! let (mean, variance) = posterior.moments(0, 0); // run 0, target 0
//! assert!(mean > 3.0 && mean < 8.0 && variance > 0.0, "a Pile-CC loss of a 1M-parameter proxy");
//!
//! // The next 4 proxy runs: random + CMA-ES search under the acquisition, away from the runs.
//! let search = ProposerConfig { samples: 2_000, cmaes_evaluations: 200, ..Default::default() };
//! let constraints = Constraints::simplex(&runs.schema.space);
//! let mut proposer = Proposer::<Cpu>::new(constraints, spec, search, Default::default())?;
//! proposer.tell(&runs)?;
//! assert_eq!(proposer.ask(4)?.proposals.len(), 4);
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

pub mod surrogate;

// The GPU scoring kernels (CubeCL; features `wgpu`, `cuda`) live in the top-level `kernels/`.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[path = "../kernels/mod.rs"]
pub mod kernels;

pub mod device;

pub mod objective;

pub mod acquisition;

pub mod search;

pub mod proposer;

pub mod driver;
pub mod strategy;

pub mod simulate;

pub mod export;

pub mod import;

pub mod campaign;

pub mod evaluation;

#[cfg(feature = "report")]
pub mod report;

#[cfg(feature = "cli")]
pub mod cli;

pub use error::{Error, Result};
