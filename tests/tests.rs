//! The one integration-test binary: modules share fixtures in `util`.

mod util;

mod accuracy;
mod backtest;
mod campaign;
mod cli;
mod docs;
mod guarantees;
mod interop;
mod layers;
mod predictor;
mod proposals;
mod report;
mod runs;
mod slurm;
