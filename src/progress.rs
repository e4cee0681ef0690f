//! Progress of long work, reported through an observer so that nothing below the CLI prints
//! (the CLI turns it into a progress bar; library users and tests pass `()`).

/// Receives progress from long computations (searches, simulations).
pub trait Observer {
    /// `done` of `total` units of `stage` are finished (`total` 0: not known in advance).
    fn progress(&mut self, stage: &str, done: u64, total: u64);
}

impl Observer for () {
    fn progress(&mut self, _: &str, _: u64, _: u64) {}
}
