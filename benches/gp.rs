//! Gaussian-process fit time: the ARD Matérn-5/2 GP with its default config (2 starts screened
//! for 5 iterations, the best run to convergence, 5 calibration refits of 5 iterations) on 410 runs x 17 domains (the first 410
//! RegMix 1M training runs) and 410 runs x 64 domains (synthetic, the generator
//! `scripts/sklearn-gp-fit.py` shares).
//!
//! Reference: `scripts/sklearn-gp-fit.py` fits scikit-learn's ARD GP on the same data; run it
//! beside this bench (docs/figures.md gives both).
//!
//! `many_targets`: every surrogate on the Olmix DCLM swarm with each of its 110 tasks a target
//! (127 runs x 24 domains, `configs/data/olmix-dclm-tasks.toml`): independent GPs (one per
//! target, in parallel over targets), one GP kernel shared by every target, the mixing law
//! and the deep ensemble (one network, a head per target). Reference: Olmix's own fit on the
//! same CSVs (its per-task regression), run from its repository beside this bench.
//!
//! `many_targets_at_scale`: the same surrogates on a synthetic swarm of 512 runs x 64 domains x
//! 105 correlated targets (`scripts/synthetic-swarm.py`, written once to the system's temp
//! folder), the scale teams log. The whole group takes about 25 minutes on two threads (10
//! samples each; one GP per target is the slowest, over a minute a fit).
//!
//! `auto`: `--surrogate auto`'s `train` and `evaluate --folds 5` on both swarms (about 25
//! minutes on two threads, most of it at scale).
//!
//! Threads: `RAYON_NUM_THREADS=1` or `2` (starts, calibration folds and targets run in
//! parallel; the linear algebra is sequential).

use criterion::{Criterion, criterion_group, criterion_main};
use mixatlas::runs::{DataSpec, Direction, Runs, Schema, TargetSpec};
use mixatlas::space::Space;
use mixatlas::surrogate::select::{AutoConfig, evaluate_auto, fit_auto};
use mixatlas::surrogate::{
    EnsembleConfig, GaussianProcess, GpConfig, LogLinear, LogLinearConfig, fit,
};

/// The generator `scripts/sklearn-gp-fit.py` shares: a 31-bit LCG of the row and column.
fn lcg(i: u64, j: u64) -> f64 {
    ((i * 1_103_515_245 + j * 12_345 + 7) % 2_147_483_648) as f64 / 2_147_483_648.0
}

fn synthetic(n: usize, d: usize) -> Runs {
    let names: Vec<String> = (0..d).map(|j| format!("d{j}")).collect();
    let mixtures: Vec<Vec<f64>> = (0..n as u64)
        .map(|i| {
            let raw: Vec<f64> = (0..d as u64).map(|j| lcg(i, j).powi(3)).collect();
            let total: f64 = raw.iter().sum();
            raw.iter().map(|v| v / total).collect()
        })
        .collect();
    let outcomes = mixtures
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let linear: f64 = w
                .iter()
                .enumerate()
                .map(|(j, v)| v.sqrt() * (j as f64).cos())
                .sum();
            vec![linear + 0.5 * (w[0] - w[1]).powi(2) + 0.01 * (lcg(i as u64, 999) - 0.5)]
        })
        .collect();
    Runs {
        schema: Schema {
            space: Space::from_names("synthetic", &names).expect("distinct names"),
            mixture_columns: names,
            context: Vec::new(),
            targets: vec![TargetSpec::new("y", Direction::Lower)],
        },
        keys: (0..n).map(|i| i.to_string()).collect(),
        context: vec![Vec::new(); n],
        outcomes,
        mixtures,
    }
}

fn benches(c: &mut Criterion) {
    let spec = DataSpec::from_file("configs/data/regmix-1m-train.toml".as_ref()).expect("spec");
    let regmix = Runs::load(&spec).expect("shipped runs load");
    let regmix = regmix.subset(&(0..410).collect::<Vec<_>>());
    let wide = synthetic(410, 64);
    let config = GpConfig::default();
    let mut group = c.benchmark_group("gp_fit");
    group.sample_size(10);
    for (name, runs) in [
        ("410 x 17 (RegMix)", &regmix),
        ("410 x 64 (synthetic)", &wide),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| GaussianProcess::fit(runs, &config, 0).expect("fits"))
        });
    }
    group.finish();
}

/// Every surrogate fitted on `runs` with its default config, in group `name`: the cheap ones
/// first, one GP per target last.
fn every_surrogate(c: &mut Criterion, name: &str, runs: &Runs) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    let shared = GpConfig {
        share_kernel: true,
        ..GpConfig::default()
    };
    group.bench_function("gp shared kernel", |b| {
        b.iter(|| GaussianProcess::fit(runs, &shared, 0).expect("fits"))
    });
    group.bench_function("loglinear", |b| {
        b.iter(|| LogLinear::fit(runs, &LogLinearConfig::default(), 0).expect("fits"))
    });
    type B = burn::backend::Autodiff<burn::backend::Flex>;
    group.bench_function("ensemble", |b| {
        b.iter(|| {
            fit::<B>(
                runs,
                &EnsembleConfig::default(),
                0,
                &Default::default(),
                &mut (),
            )
            .expect("fits")
        })
    });
    group.bench_function("gp independent", |b| {
        b.iter(|| GaussianProcess::fit(runs, &GpConfig::default(), 0).expect("fits"))
    });
    group.finish();
}

fn many_targets(c: &mut Criterion) {
    every_surrogate(c, "many_targets", &dclm());
}

/// The shipped Olmix DCLM swarm with each of its 110 tasks a target.
fn dclm() -> Runs {
    let spec = DataSpec::from_file("configs/data/olmix-dclm-tasks.toml".as_ref()).expect("spec");
    Runs::load(&spec).expect("shipped runs load")
}

/// The synthetic 512 x 64 x 105 swarm, generated by `scripts/synthetic-swarm.py` on first use.
fn swarm() -> Runs {
    let dir = std::env::temp_dir().join("mixatlas-bench-swarm-512x64x105");
    if !dir.join("data.toml").is_file() {
        let status = std::process::Command::new("python3")
            .arg("scripts/synthetic-swarm.py")
            .arg(&dir)
            .status()
            .expect("python3 runs scripts/synthetic-swarm.py");
        assert!(status.success(), "scripts/synthetic-swarm.py failed");
    }
    let spec = DataSpec::from_file(&dir.join("data.toml")).expect("the swarm's spec");
    Runs::load(&spec).expect("the swarm loads")
}

fn many_targets_at_scale(c: &mut Criterion) {
    every_surrogate(c, "many_targets_at_scale", &swarm());
}

/// `--surrogate auto` with many targets: `train` (the comparison on 16 of the targets, then
/// the winner fitted on all) and `evaluate --folds 5` (the comparison, then the chosen one
/// evaluated on every target), on the Olmix DCLM tasks and on the synthetic swarm.
fn auto(c: &mut Criterion) {
    type B = burn::backend::Autodiff<burn::backend::Flex>;
    let mut group = c.benchmark_group("auto");
    group.sample_size(10);
    for (name, runs) in [("dclm", &dclm()), ("at scale", &swarm())] {
        group.bench_function(format!("{name}/train"), |b| {
            b.iter(|| {
                fit_auto::<B>(
                    runs,
                    &AutoConfig::default(),
                    0,
                    &Default::default(),
                    &mut (),
                )
                .expect("fits")
            })
        });
        let folds = AutoConfig {
            folds: Some(5),
            ..AutoConfig::default()
        };
        group.bench_function(format!("{name}/evaluate 5 folds"), |b| {
            b.iter(|| {
                evaluate_auto::<B>(runs, &folds, 0, &Default::default(), &mut ()).expect("fits")
            })
        });
    }
    group.finish();
}

criterion_group!(gp, benches, many_targets, many_targets_at_scale, auto);
criterion_main!(gp);
