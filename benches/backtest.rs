//! Backtest cost: one seed of one strategy replayed on the 512 RegMix runs, 16 initial runs
//! and rounds of 8 up to 64 runs (6 rounds: the surrogate is refitted and the unrevealed pool
//! scored every round), for the shipped default strategy and GP-UCB.
//!
//! The target is a whole backtest, 4 strategies x 10 seeds x 128 runs on RegMix, in
//! under 10 minutes on 2 cores; a criterion sample of that would take minutes, so docs/figures.md
//! gives the end-to-end wall time of `mixatlas backtest` (two jobs, one per core) and this bench
//! the per-seed figure it is made of. No reference tool runs the same retrospective (the
//! issue's LightGBM and scikit-learn rows were measured outside this repository).
//!
//! Threads: the bench replays on the calling thread; `RAYON_NUM_THREADS=1` or `2` sets the
//! pool the surrogate's kernels use (a backtest gives each job its own one-thread pool).
//!
//! Measured (this machine): with the fused CPU trainer (issue 13), default (ensemble) 1.34 s per
//! seed on 1 thread and 0.83 s on 2 (its members train in parallel), GP-UCB 51 ms / 51 ms; with
//! burn's trainer it was 6.64 s on both. The whole-backtest figure: 4 strategies x 10 seeds x
//! 128 runs on RegMix (`configs/backtests/issue-size.toml`, 2 jobs) took 58 s (4 min 43 s before).

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
