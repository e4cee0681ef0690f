//! Backtest cost: one seed of one strategy replayed on the 512 RegMix runs, 16 initial runs
//! and rounds of 8 up to 64 runs (6 rounds: the surrogate is refitted and the unrevealed pool
//! scored every round), for the shipped default strategy and GP-UCB.
//!
//! A whole backtest (4 strategies x 10 seeds x 128 runs on RegMix,
//! `configs/backtests/size-128.toml`) takes minutes, too long for a criterion sample, so
//! docs/figures.md gives the end-to-end wall time of `mixatlas backtest` (two jobs, one per
//! core) and this bench the per-seed figure it is made of.
//!
//! Threads: the bench replays on the calling thread; `RAYON_NUM_THREADS=1` or `2` sets the
//! pool the surrogate's kernels use (a backtest gives each job its own one-thread pool).

use criterion::{Criterion, criterion_group, criterion_main};
use mixatlas::device::Cpu;
use mixatlas::evaluation::backtest::{Backtest, BacktestConfig};
use mixatlas::objective::ObjectiveSpec;
use mixatlas::runs::{DataSpec, Runs};

fn bench(c: &mut Criterion) {
    let spec = DataSpec::from_file("configs/data/regmix-1m-train.toml".as_ref()).unwrap();
    let pool = Runs::load(&spec).unwrap();
    let config: BacktestConfig = toml::from_str(
        "initial = 16\nbatch = 8\nbudget = 64\nseeds = 1\nregret_at = [32]\n\
         [[strategy]]\nname = \"default\"\n\
         [[strategy]]\nname = \"gp-ucb\"\nsurrogate = \"gp\"\n",
    )
    .unwrap();
    let b = Backtest::new(pool, config, ObjectiveSpec::single("pile_cc_loss")).unwrap();
    let mut group = c.benchmark_group("backtest_regmix_64_runs");
    group.sample_size(10);
    for strategy in &b.config.strategies[1..] {
        group.bench_function(&strategy.name, |bench| {
            bench.iter(|| b.replay::<Cpu>(strategy, 0, &Default::default()).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
