//! `mixatlas world`: the simulated world as an external evaluator.

use anyhow::{Result, bail};

use crate::cli::args::WorldArgs;
use crate::cli::output::{check_file, write_atomic};
use crate::evaluation::world::{Noise, World};

pub fn run(args: WorldArgs) -> Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be positive and finite");
    }
    let inputs = [args.config.as_path(), args.proposals.as_path()];
    check_file(Some(&args.results), args.force, &inputs)?;
    let world = World::from_file(&args.config)?;
    let runs = world.read_proposals(&args.proposals)?;
    let noise = if args.no_noise {
        Noise::Off
    } else {
        Noise::Seeded
    };
    write_atomic(&args.results, &world.results_csv(&runs, args.scale, noise))
}
