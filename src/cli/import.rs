//! `mixatlas import olmix`, `mixatlas import wandb` and `mixatlas reuse`: files mixatlas reads,
//! made from other tools' files or from logged runs collapsed onto a reduced space.

use anyhow::{Result, bail};

use crate::cli::args::{ImportOlmixArgs, ImportWandbArgs, ReuseArgs};
use crate::cli::output::write_dir_atomic;
use crate::import::{Imported, olmix, reused_runs, wandb};
use crate::runs::{DataSpec, Direction, Runs};
use crate::space::reuse::Reuse;

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

pub fn run_reuse(args: ReuseArgs) -> Result<()> {
    let reuse = Reuse::from_file(&args.reuse)?;
    let spec = DataSpec::from_file(&args.data)?;
    let runs = Runs::load(&spec)?;
    if runs.schema.space.names() != reuse.full.names() {
        bail!(
            "{}: its runs are over {}, not the reuse's full space {} (same domains, same order)",
            args.data.display(),
            runs.schema.space.names().join(", "),
            reuse.full.names().join(", ")
        );
    }
    let (imported, kept, dropped) = reused_runs(&reuse, &runs)?;
    let mut inputs: Vec<&std::path::Path> = vec![args.reuse.as_path(), args.data.as_path()];
    inputs.extend(spec.files());
    write(imported, &args.out, args.force, &inputs)?;
    println!(
        "reused {kept} of {} runs; dropped {} whose inner mix is not the frozen one{}",
        runs.len(),
        dropped.len(),
        if dropped.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                dropped
                    .iter()
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Ok(())
}
