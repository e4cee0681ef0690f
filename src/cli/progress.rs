//! The indicatif bar that shows training progress.

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Observer;
use crate::surrogate::{EpochProgress, TrainObserver};

/// A progress bar over epochs for an ensemble of `members`; hidden when stderr is not a
/// terminal.
pub struct Bar {
    bar: ProgressBar,
    members: usize,
    stage: String,
}

impl Bar {
    pub fn new(members: usize, max_epochs: usize) -> Self {
        let bar = ProgressBar::new(max_epochs as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} epochs {msg} ({elapsed})",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        Bar {
            bar,
            members,
            stage: String::new(),
        }
    }
}

impl Bar {
    /// `fold 2/5: 8 members`, or the stage alone for a model without members.
    fn prefix(&self) -> String {
        match self.members {
            0 | 1 => self.stage.trim_end_matches(": ").to_owned(),
            m => format!("{}{m} members", self.stage),
        }
    }
}

impl TrainObserver for Bar {
    fn epoch(&mut self, p: &EpochProgress) {
        self.bar.set_prefix(self.prefix());
        self.bar.set_position(p.epoch as u64);
        let val = p
            .validation_mse
            .map_or(String::new(), |v| format!(", val mse {v:.4}"));
        self.bar
            .set_message(format!("loss {:.4}{val}", p.train_loss));
    }

    fn stage(&mut self, label: &str) {
        self.stage = format!("{label}: ");
        self.bar.reset();
        // Shown at once: a GP or mixing-law fold reports no epochs.
        self.bar.set_prefix(self.prefix());
        self.bar.tick();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A bar over the units of each search stage (samples, evaluations, steps).
pub struct StageBar {
    bar: ProgressBar,
    stage: String,
}

impl StageBar {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {elapsed}, eta {eta})",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        StageBar {
            bar,
            stage: String::new(),
        }
    }
}

impl Observer for StageBar {
    fn progress(&mut self, stage: &str, done: u64, total: u64) {
        if stage != self.stage {
            self.stage = stage.to_owned();
            self.bar.reset();
            self.bar.set_prefix(stage.to_owned());
        }
        // 0: the total is not known in advance (a streamed pool).
        if total > 0 {
            self.bar.set_length(total);
        }
        self.bar.set_position(done);
    }
}

impl Drop for StageBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
