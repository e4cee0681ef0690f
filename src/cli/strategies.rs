//! `mixatlas bench strategies`.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::StrategiesArgs;
use crate::cli::output::write_dir_atomic;
use crate::device::{BackendTask, DeviceKind};
use crate::evaluation::bench::{Outcome, StrategyConfig, compare, tables};
use crate::evaluation::world::World;
use crate::surrogate::EnsembleConfig;

struct Task {
    world: World,
    config: StrategyConfig,
    seeds: u64,
}

impl BackendTask for Task {
    type Output = Result<Vec<Outcome>>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        Ok(compare::<B>(
            &self.world,
            &self.config,
            self.seeds,
            &device,
            &mut |o| {
                eprintln!(
                    "seed {} {:<13} data share {:>6.1}%  proxy runs {:>3}  {:.1} s",
                    o.seed,
                    o.strategy,
                    100.0 * o.data_share,
                    o.proxy_runs,
                    o.search_seconds
                );
            },
        )?)
    }
}

pub fn run(args: StrategiesArgs) -> Result<()> {
    if args.seeds == 0 || args.runs < 8 {
        anyhow::bail!(
            "--seeds must be at least 1 and --runs at least 8 (a regression needs runs to fit)"
        );
    }
    let overwrite = crate::io::Overwrite::from_force(args.force);
    crate::io::check_output(&args.out, overwrite, &[args.world.as_path()])?;
    let world = World::from_file(&args.world)?;
    let benchmarks = world.benchmarks();
    let mut training = EnsembleConfig::default();
    if args.quick {
        training.max_epochs = 150;
        training.patience = 30;
    }
    let config = StrategyConfig {
        runs: args.runs,
        samples: if args.quick { 4096 } else { 20_000 },
        training,
        target_tokens: 4.0,
        target_scale: 4.0,
        proxy_scale: 0.5,
        max_epochs: 4.0,
    };
    let outcomes = DeviceKind::Cpu.dispatch(Task {
        world,
        config,
        seeds: args.seeds,
    })??;
    let (md, csv) = tables(&outcomes, &benchmarks, args.seeds);
    write_dir_atomic(
        &args.out,
        args.force,
        &[args.world.as_path()],
        &[
            ("strategies.md".into(), md.clone().into_bytes()),
            ("strategies.csv".into(), csv),
        ],
    )?;
    print!("{md}");
    Ok(())
}
