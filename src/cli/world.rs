//! `mixatlas world`: the simulated world as an external evaluator.

use anyhow::{Context, Result, bail};

use crate::cli::args::WorldArgs;
use crate::cli::output::write_atomic;
use crate::simulate::world::{Noise, Stage, World};

/// Weights in domain order from a JSON object `name -> weight`; `what` names it in errors.
fn weights(world: &World, value: &serde_json::Value, what: &str) -> Result<Vec<f64>> {
    let map = value
        .as_object()
        .with_context(|| format!("{what}: expected an object of domain -> weight"))?;
    for name in map.keys() {
        if !world.space.domains.iter().any(|d| &d.name == name) {
            bail!("{what}: unknown domain `{name}`");
        }
    }
    world
        .space
        .domains
        .iter()
        .map(|d| {
            let w = map
                .get(&d.name)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0);
            if !(w.is_finite() && w >= 0.0) {
                bail!(
                    "{what}: weight of `{}` must be finite and non-negative",
                    d.name
                );
            }
            Ok(w)
        })
        .collect()
}

pub fn run(args: WorldArgs) -> Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be positive and finite");
    }
    let world = World::from_file(&args.config)?;
    let text = std::fs::read_to_string(&args.proposals)
        .with_context(|| format!("reading {}", args.proposals.display()))?;
    let names = world.benchmarks();
    let noise = if args.no_noise {
        Noise::Off
    } else {
        Noise::Seeded
    };
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["run_id".to_owned()];
    header.extend(names.iter().cloned());
    header.extend(names.iter().map(|n| format!("signal:{n}")));
    csv.write_record(&header)?;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = format!("{}:{}", args.proposals.display(), i + 1);
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{at}: not JSON"))?;
        let id = v["run_id"]
            .as_str()
            .with_context(|| format!("{at}: field `run_id`"))?;
        let tokens = v["tokens"]
            .as_f64()
            .with_context(|| format!("{at}: field `tokens`"))?;
        let mut schedule = Vec::new();
        for (h, stage) in v["history"]
            .as_array()
            .map_or(&[][..], |a| a)
            .iter()
            .enumerate()
        {
            schedule.push(Stage {
                weights: weights(
                    &world,
                    &stage["weights"],
                    &format!("{at}: history[{h}].weights"),
                )?,
                tokens: stage["tokens"].as_f64().unwrap_or(tokens),
            });
        }
        schedule.push(Stage {
            weights: weights(&world, &v["weights"], &format!("{at}: field `weights`"))?,
            tokens,
        });
        let out = world.run(id, &schedule, args.scale, noise);
        let mut row = vec![id.to_owned()];
        row.extend(out.scores.iter().map(f64::to_string));
        row.extend(out.uncertainty.iter().map(f64::to_string));
        csv.write_record(&row)?;
    }
    write_atomic(&args.results, &csv.into_inner()?)
}
