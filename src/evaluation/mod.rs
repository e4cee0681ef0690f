//! How well mixing strategies do, measured without training real models: pool
//! retrospectives over logged runs ([`backtest`]), the mixing-scheme benchmark on the
//! simulated world ([`bench`](mod@bench), `mixatlas bench strategies`), and that world itself ([`world`]:
//! `mixatlas world`, also the evaluator of the shipped campaign).

pub mod backtest;
pub mod bench;
pub mod world;
