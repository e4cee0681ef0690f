//! `mixatlas swarm`: the initial design of a first round of proxy runs.

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::cli::args::{Design, SwarmArgs};
use crate::cli::output::write_dir_atomic;
use crate::export::Recipe;
use crate::math::simplex::round_mixture;
use crate::math::simplex::{nearest_distance, tv_distance};
use crate::space::sampler::{DirichletSampler, maximin, prior_weights};
use crate::space::{ConstraintSpec, Constraints, Space};

/// Draws per wanted run before giving up.
const TRIES_PER_RUN: usize = 200;
/// Candidates per run the space-filling design chooses from.
const CLOUD_PER_RUN: usize = 30;

pub fn run(args: SwarmArgs) -> Result<()> {
    if args.out.exists() && !args.force {
        bail!("{} exists; pass --force to replace it", args.out.display());
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let space = Space::from_file(&args.space)?;
    let spec = match &args.constraints {
        Some(path) => ConstraintSpec::from_file(path)?,
        None => ConstraintSpec::default(),
    };
    let constraints = Constraints::new(&space, &spec, &[]).with_context(|| {
        args.constraints
            .as_ref()
            .map_or("the space's bounds".into(), |p| {
                format!("in {}", p.display())
            })
    })?;
    let prior = prior_weights(&space, args.prior);
    let sampler = DirichletSampler::around(prior.clone());
    let mut rng = StdRng::seed_from_u64(args.seed);
    let wanted = match args.design {
        Design::Dirichlet => args.runs,
        Design::SpaceFilling => args.runs * CLOUD_PER_RUN,
    };
    // Rounded, feasible draws at least --min-distance from each other.
    let mut runs: Vec<Vec<f64>> = Vec::with_capacity(wanted);
    for _ in 0..wanted * TRIES_PER_RUN {
        if runs.len() == wanted {
            break;
        }
        let Some(w) = sampler.sample_feasible(&constraints, 20, &mut rng) else {
            continue;
        };
        let w = round_mixture(&w, args.decimals);
        if constraints.is_feasible(&w) && nearest_distance(&w, &runs) >= args.min_distance {
            runs.push(w);
        }
    }
    if runs.len() < args.runs {
        bail!(
            "found only {} feasible mixtures at least {} apart after {} draws; \
             lower --min-distance, raise --decimals or loosen the constraints",
            runs.len(),
            args.min_distance,
            wanted * TRIES_PER_RUN
        );
    }
    if args.design == Design::SpaceFilling {
        let first = (0..runs.len())
            .min_by(|&a, &b| {
                tv_distance(&runs[a], &prior).total_cmp(&tv_distance(&runs[b], &prior))
            })
            .expect("runs is non-empty");
        let picked = maximin(&runs, &[], args.runs, first);
        runs = picked.into_iter().map(|i| runs[i].clone()).collect();
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["run".to_owned()];
    header.extend(space.columns());
    csv.write_record(&header)?;
    let mut files = Vec::new();
    let precision = args.decimals as usize;
    for (i, w) in runs.iter().enumerate() {
        let name = format!("run-{i:04}");
        let mut row = vec![name.clone()];
        row.extend(w.iter().map(|x| format!("{x:.precision$}")));
        csv.write_record(&row)?;
        files.push((
            format!("recipes/{name}.json"),
            Recipe::new(&name, &space, w).to_json().into_bytes(),
        ));
    }
    files.push(("swarm.csv".into(), csv.into_inner()?));
    write_dir_atomic(&args.out, args.force, &files)?;
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
