//! `mixatlas import olmix` and `mixatlas import wandb`.

use anyhow::{Result, bail};

use crate::cli::args::{ImportOlmixArgs, ImportWandbArgs};
use crate::cli::output::write_dir_atomic;
use crate::import::{Imported, olmix, wandb};
use crate::runs::Direction;

fn write(
    imported: Imported,
    out: &std::path::Path,
    force: bool,
    inputs: &[&std::path::Path],
) -> Result<()> {
    write_dir_atomic(out, force, inputs, &imported.files)?;
    for note in &imported.notes {
        println!("{note}");
    }
    let names: Vec<&str> = imported.files.iter().map(|f| f.0.as_str()).collect();
    println!("wrote {} in {}", names.join(", "), out.display());
    println!(
        "train on them with: mixatlas train --data {}",
        out.join("data.toml").display()
    );
    Ok(())
}

pub fn run_olmix(args: ImportOlmixArgs) -> Result<()> {
    let imported = olmix::import(&args.config)?;
    write(imported, &args.out, args.force, &[args.config.as_path()])
}

pub fn run_wandb(args: ImportWandbArgs) -> Result<()> {
    if args.mixture.matches('*').count() != 1 {
        bail!(
            "--mixture {:?}: give a config key pattern with exactly one `*` for the domain",
            args.mixture
        );
    }
    let targets = args
        .targets
        .iter()
        .map(|t| match t.rsplit_once('=') {
            Some((name, "lower")) => Ok((name.to_owned(), Direction::Lower)),
            Some((name, "higher")) => Ok((name.to_owned(), Direction::Higher)),
            Some((_, other)) => {
                bail!("--target {t:?}: direction `{other}` is not `lower` or `higher`")
            }
            None => Ok((t.clone(), Direction::Lower)),
        })
        .collect::<Result<Vec<_>>>()?;
    let options = wandb::WandbOptions {
        mixture: args.mixture.clone(),
        targets,
        key: args.key.clone(),
        min_step: args.min_step,
    };
    let csv = matches!(args.sources.as_slice(), [one] if one.is_file());
    let imported = if csv {
        wandb::import_csv(&args.sources[0], &options)?
    } else {
        wandb::import_runs(&args.sources, &options)?
    };
    let inputs: Vec<&std::path::Path> = args.sources.iter().map(|p| p.as_path()).collect();
    write(imported, &args.out, args.force, &inputs)
}
