//! `mixatlas swarm`: the initial design of a first round of proxy runs.

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::cli::args::SwarmArgs;
use crate::cli::output::write_dir_atomic;
use crate::export::swarm_files;
use crate::io::Overwrite;
use crate::math::simplex::tv_distance;
use crate::space::sampler::{design, prior_weights};
use crate::space::{Constraints, Space};

pub fn run(args: SwarmArgs) -> Result<()> {
    let mut inputs = vec![args.space.as_path()];
    inputs.extend(args.constraints.as_deref());
    crate::io::check_output(&args.out, Overwrite::from_force(args.force), &inputs)?;
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let space = Space::from_file(&args.space)?;
    let constraints =
        Constraints::load(&space, args.constraints.as_deref(), &[]).context("the constraints")?;
    let prior = prior_weights(&space, args.prior);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let (runs, gap) = (args.runs, args.min_distance);
    let runs = design(
        args.design,
        &prior,
        &constraints,
        runs,
        gap,
        args.decimals,
        &mut rng,
    )?;
    write_dir_atomic(
        &args.out,
        args.force,
        &inputs,
        &swarm_files(&space, &runs, args.decimals),
    )?;
    let min_gap = (0..runs.len())
        .flat_map(|i| (0..i).map(move |j| (i, j)))
        .map(|(i, j)| tv_distance(&runs[i], &runs[j]))
        .fold(f64::INFINITY, f64::min);
    println!(
        "wrote {} runs to {}/swarm.csv and recipes/ (closest pair at total-variation distance {:.3})",
        runs.len(),
        args.out.display(),
        if runs.len() > 1 { min_gap } else { 0.0 }
    );
    Ok(())
}
