//! `mixatlas export`.

use anyhow::Result;

use crate::cli::args::{ExportArgs, Format};
use crate::cli::output::{check_file, emit};
use crate::export::{ExportError, Recipe, read_example_lengths, read_path_map};
use crate::space::Space;

pub fn run(args: ExportArgs) -> Result<()> {
    let mut inputs = vec![args.recipe.as_path()];
    inputs.extend(args.paths.as_deref());
    inputs.extend(args.tokens_per_example.as_deref());
    inputs.extend(args.space.as_deref());
    check_file(args.output.as_deref(), args.force, &inputs)?;
    let recipe = Recipe::from_file(&args.recipe)?;
    let space = match &args.space {
        Some(path) => {
            let space = Space::from_file(path)?;
            recipe.check_space(&space, &args.recipe)?;
            Some(space)
        }
        None => None,
    };
    let text = match args.format {
        Format::Json => recipe.to_json(),
        Format::Yaml => recipe.to_yaml(),
        Format::Hf => match (&args.tokens_per_example, args.assume_equal_examples) {
            (Some(file), _) => {
                recipe.hf_probabilities(Some((&read_example_lengths(file)?, file.as_path())))?
            }
            (None, true) => recipe.hf_probabilities(None)?,
            (None, false) => return Err(ExportError::NoExampleLengths.into()),
        },
        Format::Megatron => {
            let file = args
                .paths
                .as_ref()
                .expect("clap requires --paths for megatron");
            recipe.megatron_blend(&read_path_map(file)?, file)?
        }
        Format::Tokens => {
            let budget = args.tokens.expect("clap requires --tokens for tokens");
            recipe.token_csv(budget, space.as_ref())
        }
    };
    emit(text.as_bytes(), args.output.as_deref())
}
