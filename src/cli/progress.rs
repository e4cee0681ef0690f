//! The indicatif bar that shows training progress.

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Observer;
use crate::surrogate::{EpochProgress, SurrogateSpec, TrainObserver};

/// A progress bar over the epochs of an ensemble of `members`, or over the targets of a GP or
/// mixing law; hidden when stderr is not a terminal.
pub struct Bar {
    bar: ProgressBar,
    members: usize,
    stage: String,
    /// What the bar counts now: `epochs` or `targets`.
    unit: &'static str,
}

impl Bar {
    pub fn new(members: usize, max_epochs: usize) -> Self {
        let mut bar = Bar {
            bar: ProgressBar::new(max_epochs as u64),
            members,
            stage: String::new(),
            unit: "",
        };
        bar.count("epochs", max_epochs);
        bar
    }

    /// The bar for fitting `spec` on `targets` targets: epochs of the ensemble (also the first
    /// candidate of `auto`), targets of a GP or mixing law.
    pub fn for_spec(spec: &SurrogateSpec, targets: usize) -> Self {
        match spec {
            SurrogateSpec::Ensemble(c) => Bar::new(c.members, c.max_epochs),
            SurrogateSpec::Auto(c) => Bar::new(c.ensemble.members, c.ensemble.max_epochs),
            SurrogateSpec::Gp(_) | SurrogateSpec::LogLinear(_) => {
                let mut bar = Bar::new(1, 0);
                bar.count("targets", targets);
                bar
            }
        }
    }

    /// Counts `len` units of `unit` from here on (a fold of `auto` may switch from an
    /// ensemble's epochs to a GP's targets and back).
    fn count(&mut self, unit: &'static str, len: usize) {
        if self.unit != unit {
            self.unit = unit;
            let template =
                format!("{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}} ({{elapsed}})");
            self.bar.set_style(
                ProgressStyle::with_template(&template)
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            self.bar.set_message("");
        }
        self.bar.set_length(len as u64);
        self.bar.set_prefix(self.prefix());
    }

    /// `fold 2/5: 8 members`, or the stage alone for a model without members.
    fn prefix(&self) -> String {
        match self.members {
            m if m > 1 && self.unit == "epochs" => format!("{}{m} members", self.stage),
            _ => self.stage.trim_end_matches(": ").to_owned(),
        }
    }
}

impl TrainObserver for Bar {
    fn epoch(&mut self, p: &EpochProgress) {
        self.count("epochs", p.max_epochs);
        self.bar.set_position(p.epoch as u64);
        let val = p
            .validation_mse
            .map_or(String::new(), |v| format!(", val mse {v:.4}"));
        self.bar
            .set_message(format!("loss {:.4}{val}", p.train_loss));
    }

    fn targets(&mut self, done: usize, total: usize) {
        self.count("targets", total);
        self.bar.set_position(done as u64);
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
