//! `mixatlas bench strategies`.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use crate::campaign::strategies::{Outcome, STRATEGIES, StrategyConfig, compare};
use crate::cli::args::StrategiesArgs;
use crate::cli::output::write_dir_atomic;
use crate::device::{BackendTask, DeviceKind};
use crate::predictor::EnsembleConfig;
use crate::simulate::world::World;

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

/// `mean ± std` of `v`.
fn summary(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

pub fn run(args: StrategiesArgs) -> Result<()> {
    if args.seeds == 0 || args.runs < 8 {
        anyhow::bail!(
            "--seeds must be at least 1 and --runs at least 8 (a regression needs runs to fit)"
        );
    }
    let world = World::from_file(&args.world)?;
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
    let benchmarks = world.benchmarks();
    let shown = [0, 2.min(benchmarks.len() - 1)];
    let outcomes = DeviceKind::Cpu.dispatch(Task {
        world,
        config,
        seeds: args.seeds,
    })??;
    let mut md = format!(
        "| strategy | data to match the soup (share of its tokens) | {} | {} | proxy runs | search cost (s) |\n|---|---|---|---|---|---|\n",
        benchmarks[shown[0]], benchmarks[shown[1]]
    );
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["strategy".to_owned(), "seed".into(), "data_share".into()];
    header.extend(benchmarks.iter().cloned());
    header.extend(["proxy_runs".into(), "search_seconds".into()]);
    csv.write_record(&header)?;
    for o in &outcomes {
        let mut row = vec![
            o.strategy.clone(),
            o.seed.to_string(),
            o.data_share.to_string(),
        ];
        row.extend(o.final_scores.iter().map(f64::to_string));
        row.extend([o.proxy_runs.to_string(), o.search_seconds.to_string()]);
        csv.write_record(&row)?;
    }
    for strategy in STRATEGIES {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.strategy == strategy).collect();
        let share = summary(&mine.iter().map(|o| o.data_share).collect::<Vec<_>>());
        let score = |j: usize| summary(&mine.iter().map(|o| o.final_scores[j]).collect::<Vec<_>>());
        let (a, b) = (score(shown[0]), score(shown[1]));
        let cost = summary(&mine.iter().map(|o| o.search_seconds).collect::<Vec<_>>());
        md.push_str(&format!(
            "| {strategy} | {:.0}% ± {:.0}% | {:.4} ± {:.4} | {:.4} ± {:.4} | {} | {:.1} ± {:.1} |\n",
            100.0 * share.0,
            100.0 * share.1,
            a.0,
            a.1,
            b.0,
            b.1,
            mine[0].proxy_runs,
            cost.0,
            cost.1
        ));
    }
    md.push_str(&format!(
        "\n{} seeds; mean ± std over seeds. Data share: tokens the strategy's schedule needs to reach the \
         soup's final mean score, over the soup's tokens (noise-free target run).\n",
        args.seeds
    ));
    write_dir_atomic(
        &args.out,
        true,
        &[
            ("strategies.md".into(), md.clone().into_bytes()),
            ("strategies.csv".into(), csv.into_inner()?),
        ],
    )?;
    print!("{md}");
    Ok(())
}
