//! `mixatlas backtest`: replay strategies on logged runs, write the tables.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::BacktestArgs;
use crate::cli::progress::StageBar;
use crate::device::BackendTask;
use crate::evaluation::backtest::{Backtest, BacktestConfig, Summary};
use crate::objective::ObjectiveSpec;
use crate::runs::{DataSpec, Runs};

struct Task<'a> {
    backtest: &'a Backtest,
    args: &'a BacktestArgs,
    inputs: Vec<&'a Path>,
    jobs: usize,
}

impl BackendTask for Task<'_> {
    type Output = crate::Result<Summary>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let a = self.args;
        self.backtest.run_in::<B>(
            &a.out,
            a.resume,
            a.force,
            &self.inputs,
            self.jobs,
            &device,
            &mut StageBar::new(),
        )
    }
}

pub fn run(args: BacktestArgs) -> Result<()> {
    if args.jobs == Some(0) {
        anyhow::bail!("--jobs must be at least 1");
    }
    let mut config = BacktestConfig::from_file(&args.config)?;
    if let Some(seeds) = args.seeds {
        config.seeds = seeds;
    }
    let spec = DataSpec::from_file(&args.data)?;
    let pool = Runs::load(&spec)?;
    let objective = match &args.objective {
        Some(path) => ObjectiveSpec::from_file(path)?,
        None => ObjectiveSpec::for_targets(&pool.schema.targets),
    };
    let backtest = Backtest::new(pool, config, objective).with_context(|| {
        format!(
            "{} on the runs of {}",
            args.config.display(),
            args.data.display()
        )
    })?;
    let mut inputs = vec![args.data.as_path(), args.config.as_path()];
    inputs.extend(args.objective.as_deref());
    inputs.extend(spec.files());
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let summary = args.device.dispatch(Task {
        backtest: &backtest,
        args: &args,
        inputs,
        jobs,
    })??;
    let md = summary.markdown();
    print!("{md}");
    println!(
        "wrote {}/backtest.md, backtest.csv, backtest.json",
        args.out.display()
    );
    Ok(())
}
