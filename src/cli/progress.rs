//! The indicatif bar that shows training progress.

use indicatif::{ProgressBar, ProgressStyle};

use crate::predictor::{EpochProgress, TrainObserver};

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

impl TrainObserver for Bar {
    fn epoch(&mut self, p: &EpochProgress) {
        self.bar
            .set_prefix(format!("{}{} members", self.stage, self.members));
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
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
