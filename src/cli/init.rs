//! `mixatlas init`: the data spec and space inferred from a table of runs, written for editing.

use anyhow::{Context, Result};

use crate::cli::args::InitArgs;
use crate::io::Overwrite;
use crate::runs::{Inferred, Runs};
use crate::space::Space;

pub fn run(args: InitArgs) -> Result<()> {
    if !crate::runs::is_table(&args.table) {
        anyhow::bail!(
            "{}: `init` reads a table of runs (.csv, .jsonl or .ndjson) and writes its data spec",
            args.table.display()
        );
    }
    crate::io::check_output(&args.out, Overwrite::from_force(args.force), &[&args.table])?;
    let (spec, notes) = super::data_spec(&args.table, &args.table_args, &args.targets)?;
    // The inferred spec must read: its rows sum to 1, its targets are numbers.
    let runs = Runs::load(&spec)?;
    let table = std::fs::canonicalize(&args.table)
        .with_context(|| format!("resolving {}", args.table.display()))?;
    let name = (table.file_stem()).map_or("runs".into(), |s| s.to_string_lossy().into_owned());
    let space = Space::from_names(&name, &spec.mixture_columns)?;
    let mut space_text = format!(
        "# The mixture space of {}: one domain per mixture column. Add `min`, `max` and `tokens`\n\
         # per domain to bound proposals (docs/reference.md).\n\n",
        table.display()
    );
    space_text.push_str(&toml::to_string(&space)?);
    let inferred = Inferred { spec, notes };
    let data_text = inferred.to_toml(&table, Some("space.toml".as_ref()));
    let files = vec![
        ("data.toml".to_owned(), data_text.into_bytes()),
        ("space.toml".to_owned(), space_text.into_bytes()),
    ];
    crate::io::write_dir_atomic(
        &args.out,
        Overwrite::from_force(args.force),
        &[&args.table],
        &files,
    )?;
    for note in &inferred.notes {
        println!("{note}");
    }
    println!(
        "{} runs, {} domains, {} target(s): wrote {}/data.toml and space.toml\n\
         next: mixatlas train --data {}/data.toml --out CHECKPOINT",
        runs.len(),
        runs.schema.space.len(),
        runs.schema.targets.len(),
        args.out.display(),
        args.out.display()
    );
    Ok(())
}
