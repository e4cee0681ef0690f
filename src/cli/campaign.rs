//! `mixatlas loop` and `mixatlas ingest`.

use std::time::Duration;

use anyhow::{Result, bail};
use burn::tensor::backend::AutodiffBackend;

use crate::campaign::{Campaign, CommandEvaluator, Evaluator, SlurmEvaluator, Step, step};
use crate::cli::args::{IngestArgs, LoopArgs};
use crate::cli::progress::StageBar;
use crate::device::BackendTask;
use crate::io::Overwrite;

struct Task {
    args: LoopArgs,
}

impl BackendTask for Task {
    type Output = Result<()>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let a = &self.args;
        let mut c = match &a.config {
            Some(config) => Campaign::create(&a.campaign, config, Overwrite::from_force(a.force))?,
            None => Campaign::open(&a.campaign)?,
        };
        // A command typed on the command line runs where it was typed; the configured one in
        // the config's directory.
        let (template, dir) = match &a.evaluator {
            Some(t) => (Some(t.clone()), None),
            None => (c.config.evaluator.clone(), c.config.evaluator_dir.clone()),
        };
        let timeout = Duration::from_secs_f64(c.config.evaluator_timeout);
        let mut evaluator: Option<Box<dyn Evaluator>> = match (&template, a.propose_only) {
            (_, true) => None,
            (Some(t), false) => Some(match &c.config.slurm {
                Some(slurm) => Box::new(SlurmEvaluator {
                    template: t.clone(),
                    dir,
                    config: slurm.clone(),
                    timeout,
                }),
                None => Box::new(CommandEvaluator {
                    template: t.clone(),
                    dir,
                    timeout,
                    lock: c.lock_fd(),
                }),
            }),
            (None, false) => bail!(
                "no evaluator: set `evaluator` in the campaign config, pass --evaluator, or use \\
                 --propose-only and `mixatlas ingest`"
            ),
        };
        loop {
            let mut bar = StageBar::new();
            let done = step::<B>(
                &mut c,
                evaluator.as_mut().map(|e| e.as_mut() as &mut dyn Evaluator),
                &device,
                &mut bar,
            )?;
            drop(bar);
            match done {
                Step::Done => {
                    println!(
                        "campaign complete: {} runs measured; schedule in {}",
                        c.results.len(),
                        c.dir.join("final.json").display()
                    );
                    return Ok(());
                }
                Step::Proposed { round, path, runs } => {
                    println!("round {round}: {runs} runs proposed in {}", path.display());
                    if a.propose_only {
                        println!(
                            "train and measure them, then: mixatlas ingest --campaign {} --results RESULTS.csv",
                            a.campaign.display()
                        );
                        return Ok(());
                    }
                }
                Step::Evaluated(n) => {
                    let measured = c.results.len();
                    println!("{n} results ingested ({measured} runs measured)");
                }
                Step::Committed { stage, run } => {
                    println!("stage {stage}: committed the mixture of run {run}");
                }
            }
        }
    }
}

pub fn run_loop(args: LoopArgs) -> Result<()> {
    args.common.device.dispatch(Task { args })?
}

pub fn run_ingest(args: IngestArgs) -> Result<()> {
    let mut c = Campaign::open(&args.campaign)?;
    let n = c.ingest(&args.results)?;
    println!(
        "{n} results ingested into {}; continue with: mixatlas loop --campaign {} --resume",
        args.campaign.display(),
        args.campaign.display()
    );
    Ok(())
}
