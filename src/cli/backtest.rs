//! `mixatlas backtest`: replay strategies on logged runs, write the tables.

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;

use crate::campaign::lock::CampaignLock;
use crate::cli::args::BacktestArgs;
use crate::cli::progress::StageBar;
use crate::device::BackendTask;
use crate::evaluation::backtest::{Backtest, BacktestConfig, SeedRun, summarize};
use crate::io::{Overwrite, write_atomic};
use crate::objective::ObjectiveSpec;
use crate::runs::{DataSpec, Runs};

struct Task<'a> {
    backtest: &'a Backtest,
    args: &'a BacktestArgs,
    jobs: usize,
}

impl BackendTask for Task<'_> {
    type Output = crate::Result<Vec<SeedRun>>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        self.backtest
            .run::<B>(&self.args.out, self.jobs, &device, &mut StageBar::new())
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
        None => match &pool.schema.targets[..] {
            [one] => ObjectiveSpec::single(&one.name),
            _ => ObjectiveSpec::default(),
        },
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
    // Resuming continues a directory mixatlas wrote; otherwise a new one, or --force replaces
    // one mixatlas wrote.
    let resume = args.resume && args.out.exists();
    let overwrite = Overwrite::from_force(args.force || resume);
    crate::io::check_output(&args.out, overwrite, &inputs)?;
    if args.force && args.out.exists() {
        std::fs::remove_dir_all(&args.out)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
    let _lock = CampaignLock::acquire(&args.out)?;
    backtest.prepare(&args.out, resume)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runs = args.device.dispatch(Task {
        backtest: &backtest,
        args: &args,
        jobs,
    })??;
    let summary = summarize(&backtest.config, &backtest.truth, &runs);
    let md = summary.markdown();
    let json = serde_json::to_string_pretty(&summary)?;
    write_atomic(&args.out.join("backtest.md"), md.as_bytes())?;
    write_atomic(&args.out.join("backtest.csv"), summary.csv().as_bytes())?;
    write_atomic(&args.out.join("backtest.json"), json.as_bytes())?;
    print!("{md}");
    println!(
        "wrote {}/backtest.md, backtest.csv, backtest.json",
        args.out.display()
    );
    Ok(())
}
