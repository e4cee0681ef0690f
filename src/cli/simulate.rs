//! `mixatlas simulate`.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::SimulateArgs;
use crate::cli::output::{check_file, emit};
use crate::cli::progress::StageBar;
use crate::cli::setup::Setup;
use crate::device::BackendTask;
use crate::export::top_domains;
use crate::simulate::{SimulateConfig, Simulation, simulate};

struct Task {
    args: SimulateArgs,
}

/// The simulation, the space's domain names, target names, the wall time in seconds, and the
/// objective and acquisition in words.
type Found = (Simulation, Vec<String>, Vec<String>, f64, String);

impl BackendTask for Task {
    type Output = Result<Found>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let a = &self.args;
        let setup = Setup::<B::InnerBackend>::load(&a.scoring, &device)?;
        let acquisition = setup.acquisition(&a.scoring)?;
        let config = SimulateConfig {
            samples: a.samples,
            chunk: a.chunk.unwrap_or(if a.scoring.common.device.is_cpu() {
                8192
            } else {
                crate::simulate::MAX_CHUNK
            }),
            top: a.top,
            seed: a.scoring.seed,
            host_draws: a.host_draws,
        };
        let start = Instant::now();
        let mut bar = StageBar::new();
        let sim = simulate(
            &setup.scorer(&a.scoring),
            acquisition.as_ref(),
            setup.objectives.get(1),
            &setup.sampler,
            &setup.constraints,
            &config,
            &mut bar,
        )?;
        drop(bar);
        let schema = setup.surrogate().schema();
        let kind = a.scoring.acquisition_spec().kind;
        let about = format!(
            "objective (higher is better): {}\nacquisition {}: {}",
            setup.objectives[0].describe(),
            kind.name(),
            kind.meaning()
        );
        Ok((
            sim,
            schema.space.names(),
            schema.target_names(),
            start.elapsed().as_secs_f64(),
            about,
        ))
    }
}

pub fn run(args: SimulateArgs) -> Result<()> {
    check_file(args.output.as_deref(), args.force, &args.scoring.inputs())?;
    let json = args.scoring.common.json;
    let output = args.output.clone();
    let (sim, domains, targets, seconds, about) =
        args.scoring.common.device.dispatch(Task { args })??;
    let value = serde_json::json!({
        "domains": domains,
        "targets": targets,
        "seconds": seconds,
        "rows_per_second": sim.sampled as f64 / seconds,
        "simulation": sim,
    });
    let text = serde_json::to_string_pretty(&value)? + "\n";
    if let Some(path) = &output {
        emit(text.as_bytes(), Some(path))?;
    }
    if json {
        return emit(text.as_bytes(), None);
    }
    let feasible = sim.objective.count;
    println!(
        "scored {feasible} feasible of {} sampled recipes{} in {seconds:.1} s: {:.0} recipes/s",
        sim.sampled,
        if sim.drawn_on_device {
            " (drawn on the device)"
        } else {
            ""
        },
        sim.sampled as f64 / seconds
    );
    println!("{about}");
    println!(
        "objective: mean {:.4}, std {:.4}, range [{:.4}, {:.4}]; epistemic std mean {:.4}",
        sim.objective.mean,
        sim.objective.std,
        sim.objective.min,
        sim.objective.max,
        sim.epistemic_std.mean
    );
    for (title, list) in [
        ("best by predicted objective", &sim.top_objective),
        ("best by acquisition", &sim.top_acquisition),
        ("pareto front (objective, second objective)", &sim.pareto),
    ] {
        if list.is_empty() {
            continue;
        }
        println!("\n{title}:");
        for (rank, s) in list.iter().enumerate() {
            let preds: Vec<String> = targets
                .iter()
                .zip(&s.targets)
                .take(3)
                .map(|(t, v)| format!("{t} {v:.4}"))
                .collect();
            let second = s
                .secondary
                .map_or(String::new(), |v| format!(" second {v:.4}"));
            println!(
                "{:>3}. objective {:.4} ± {:.4}  acquisition {:.4}{second}  {}  top domains: {}",
                rank + 1,
                s.objective,
                s.epistemic_std,
                s.acquisition,
                preds.join(", "),
                top_domains(&domains, &s.weights, 3)
            );
        }
    }
    Ok(())
}
