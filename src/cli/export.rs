//! `mixatlas export`.

use anyhow::{Result, bail};

use crate::cli::args::{ExportArgs, Format};
use crate::cli::output::{check_file, emit};
use crate::export::{
    ExportError, Recipe, levanter, read_example_lengths, read_path_map, read_schedule,
};
use crate::space::Space;
use crate::space::reuse::Reuse;

pub fn run(args: ExportArgs) -> Result<()> {
    let mut inputs: Vec<&std::path::Path> = Vec::new();
    inputs.extend(args.recipe.as_deref());
    inputs.extend(args.schedule.as_deref());
    inputs.extend(args.paths.as_deref());
    inputs.extend(args.tokens_per_example.as_deref());
    inputs.extend(args.space.as_deref());
    inputs.extend(args.reuse.as_deref());
    check_file(args.output.as_deref(), args.force, &inputs)?;
    let (recipe, source) = match (&args.recipe, &args.schedule) {
        (Some(path), _) => (Recipe::from_file(path)?, path),
        (None, Some(path)) => {
            if args.format != Format::Levanter {
                bail!(
                    "--schedule is exported by --format levanter (train_weights by step); for \
                     another format, export one stage's recipe with --recipe"
                );
            }
            let stages = read_schedule(path)?;
            if args.stage_steps.len() != stages.len()
                || args.stage_steps.first() != Some(&0)
                || args.stage_steps.windows(2).any(|w| w[0] >= w[1])
            {
                bail!(
                    "--stage-steps {:?}: {} has {} stage(s); give one increasing start step per \
                     stage, the first 0",
                    args.stage_steps,
                    path.display(),
                    stages.len()
                );
            }
            (stages[0].clone(), path)
        }
        (None, None) => unreachable!("clap requires --recipe or --schedule"),
    };
    let reuse = args.reuse.as_deref().map(Reuse::from_file).transpose()?;
    let expand = |r: Recipe| match &reuse {
        Some(reuse) => reuse.expand_recipe(&r, source),
        None => Ok(r),
    };
    let recipe = expand(recipe)?;
    let space = match (&args.space, &reuse) {
        (Some(path), _) => {
            let space = Space::from_file(path)?;
            recipe.check_space(&space, source)?;
            Some(space)
        }
        (None, Some(reuse)) => Some(reuse.full.clone()),
        (None, None) => None,
    };
    let paths = || {
        let file = args.paths.as_ref().expect("clap requires --paths");
        Ok::<_, anyhow::Error>((read_path_map(file)?, file.as_path()))
    };
    let lengths = match (&args.tokens_per_example, args.assume_equal_examples) {
        (Some(file), _) => Some((read_example_lengths(file)?, file.as_path())),
        _ => None,
    };
    let lengths = || match (&lengths, args.assume_equal_examples) {
        (Some((table, file)), _) => Ok(Some((table, *file))),
        (None, true) => Ok(None),
        (None, false) => Err(ExportError::NoExampleLengths),
    };
    let repetitions = || recipe.repetitions(args.tokens, space.as_ref());
    let text = match args.format {
        Format::Json => recipe.to_json(),
        Format::Yaml => recipe.to_yaml(),
        Format::Hf => recipe.hf_probabilities(lengths()?)?,
        Format::Megatron => {
            let (map, file) = paths()?;
            recipe.megatron_blend(&map, file)?
        }
        Format::Tokens => {
            let budget = args.tokens.expect("clap requires --tokens for tokens");
            recipe.token_csv(budget, space.as_ref())
        }
        Format::OlmoCore => {
            let (map, file) = paths()?;
            recipe.olmo_core(&map, file, &repetitions()?)?
        }
        Format::Olmix => recipe.olmix_mix(&repetitions()?),
        Format::Levanter => {
            let (map, file) = paths()?;
            let stages = match &args.schedule {
                Some(path) => {
                    let stages = read_schedule(path)?.into_iter().map(expand);
                    let stages: Vec<Recipe> = stages.collect::<Result<_, _>>()?;
                    args.stage_steps.iter().copied().zip(stages).collect()
                }
                None => vec![(0, recipe)],
            };
            levanter(&stages, &map, file)?
        }
        Format::Mosaic => {
            let (map, file) = paths()?;
            recipe.mosaic(&map, file, lengths()?)?
        }
        Format::Doremi => recipe.doremi(),
    };
    emit(text.as_bytes(), args.output.as_deref())
}
