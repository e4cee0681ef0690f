//! `mixatlas report`: reads the inputs, has [`crate::report::assemble`] compute every figure's
//! data, and writes the page.

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;

use crate::campaign::Campaign;
use crate::cli::args::ReportArgs;
use crate::device::BackendTask;
use crate::io::Overwrite;
use crate::objective::ObjectiveSpec;
use crate::report::{Inputs, Written, assemble, campaign_plots, read_oof, read_proposals, write};
use crate::runs::{Runs, SchemaCheck};
use crate::surrogate::Fitted;

struct Task {
    args: ReportArgs,
}

impl BackendTask for Task {
    type Output = Result<Written>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let a = &self.args;
        let campaign = a.campaign.as_deref().map(Campaign::read).transpose()?;
        let checkpoint = match (&a.checkpoint, &campaign) {
            (Some(path), _) => path.clone(),
            (None, Some(c)) => c.latest_model().with_context(|| {
                format!(
                    "campaign {} has trained no surrogate yet (its first rounds are the initial \
                     design): pass --checkpoint",
                    c.dir.display()
                )
            })?,
            (None, None) => bail!("pass --checkpoint, or --campaign to report on its model"),
        };
        let model = Fitted::<B::InnerBackend>::load(&checkpoint, &device)?;
        let model = crate::device::for_scoring(model)?;
        let schema = model.surrogate().schema();
        let names = schema.target_names();
        // One section per target (the first `MAX_SECTIONS`), or the one asked for.
        let targets: Vec<usize> =
            match &a.target {
                Some(name) => vec![(names.iter().position(|n| n == name)).with_context(|| {
                    format!("--target {name}: the checkpoint predicts {names:?}")
                })?],
                None => (0..names.len().min(MAX_SECTIONS)).collect(),
            };
        if let Some(c) = &campaign
            && schema.space.names() != c.space.names()
        {
            bail!(
                "{}: the checkpoint's space `{}` ({} domains) is not the space of campaign {} \
                 (`{}`, {} domains): leave --checkpoint out to report on the campaign's own model",
                checkpoint.display(),
                schema.space.name,
                schema.space.len(),
                c.dir.display(),
                c.space.name,
                c.space.len()
            );
        }
        let (context, notes) = held_context(schema, &a.context, campaign.as_ref())?;
        let objective = match &a.objective {
            Some(p) => ObjectiveSpec::from_file(p)?,
            None => ObjectiveSpec::default(),
        };
        let logged = match &a.data {
            Some(p) => {
                let spec = super::logged_spec(p, None)?;
                // With their outcomes when the file has them (the best logged run is then
                // compared with the best recipe).
                let with_targets = Runs::load_with_schema(&spec, schema, SchemaCheck::WithTargets);
                Some(match with_targets {
                    Ok(runs) => runs,
                    Err(crate::runs::RunsError::MissingColumn { .. }) => {
                        Runs::load_with_schema(&spec, schema, SchemaCheck::MixturesOnly)?
                    }
                    Err(other) => return Err(other.into()),
                })
            }
            None => campaign.as_ref().map(Campaign::runs),
        };
        let recipes = (a.proposals.as_deref())
            .map(|p| read_proposals(p, &schema.space.names()))
            .transpose()?;
        // The command that writes them, for the runs given (a table needs its targets named).
        let data = match &a.data {
            Some(path) if crate::runs::is_table(path) => {
                let named = (schema.targets.iter())
                    .map(|t| format!(" --target {}={}", t.name, t.direction.word()));
                format!("{}{}", path.display(), named.collect::<String>())
            }
            Some(path) => path.display().to_string(),
            None => "SPEC".into(),
        };
        let oof = (targets.iter())
            .map(|&t| match &a.oof {
                Some(p) => read_oof(p, &names[t]).map_err(|e| e.to_string()),
                None => Err(format!(
                    "no out-of-fold predictions: run `mixatlas evaluate --data {data} --folds 5 \
                     --predictions oof.csv` and pass --oof oof.csv"
                )),
            })
            .collect();
        let plots = match &campaign {
            Some(c) => {
                campaign_plots::<B::InnerBackend>(c, &device).unwrap_or_else(|e| Err(e.to_string()))
            }
            None => Err("no campaign given (--campaign DIR)".into()),
        };
        let backtest = match &a.backtest {
            Some(path) => read_backtest(path),
            None => Err("no backtest given (--backtest out/backtest/backtest.json)".into()),
        };
        let title = match &campaign {
            Some(c) => format!(
                "mixatlas report: campaign {} ({}, model {})",
                c.dir.display(),
                schema.space.name,
                checkpoint.display()
            ),
            None => format!(
                "mixatlas report: {} ({})",
                schema.space.name,
                checkpoint.display()
            ),
        };
        let data = assemble(Inputs {
            surrogate: model.surrogate(),
            context,
            notes,
            objective: &objective,
            targets,
            logged: logged.as_ref(),
            recipes,
            oof,
            campaign: plots,
            backtest,
            title,
        })?;
        let overwrite = Overwrite::from_force(a.force);
        Ok(write(&data, &a.out, a.png, overwrite, &a.inputs())?)
    }
}

pub fn run(args: ReportArgs) -> Result<()> {
    crate::io::check_output(&args.out, Overwrite::from_force(args.force), &args.inputs())?;
    let out = args.out.clone();
    let written = args.common.device.dispatch(Task { args })??;
    for (name, reason) in &written.skipped {
        println!("not drawn: {name}: {reason}");
    }
    let (html, figures) = (written.html.display(), written.figures.len());
    println!(
        "wrote {html} and {figures} figure files in {}",
        out.join("figures").display()
    );
    Ok(())
}

/// The context inputs every figure holds fixed, and a sentence saying so: none for a
/// mixture-only model; for a model with context inputs, the `--context` values given, else
/// the campaign's latest state (its current stage and the signals committed before it).
fn held_context(
    schema: &crate::runs::Schema,
    given: &[String],
    campaign: Option<&Campaign>,
) -> Result<(Vec<f64>, Vec<String>)> {
    if schema.context.is_empty() {
        if let Some(pair) = given.first() {
            bail!("--context {pair}: the checkpoint has no context inputs");
        }
        return Ok((Vec::new(), Vec::new()));
    }
    let describe = |values: &[f64]| -> String {
        (schema.context.iter().zip(values))
            .map(|(name, v)| format!("{name} = {v:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !given.is_empty() {
        let context = super::setup::parse_context(given, &schema.context)?;
        let note = format!("Context inputs held at {} (--context).", describe(&context));
        return Ok((context, vec![note]));
    }
    let Some(c) = campaign else {
        bail!(
            "the checkpoint has context inputs {:?}: give the value to hold each at with \
             --context NAME=VALUE, or pass the campaign it belongs to with --campaign DIR, \
             whose latest state they are held at",
            schema.context
        );
    };
    let stage = c.current_stage();
    let context = c.stage_context(stage);
    if context.len() != schema.context.len() {
        bail!(
            "the checkpoint's context inputs {:?} are not campaign {}'s ({} values)",
            schema.context,
            c.dir.display(),
            context.len()
        );
    }
    let note = format!(
        "Context inputs held at the campaign's latest state (stage {stage}): {}.",
        describe(&context)
    );
    Ok((context, vec![note]))
}

/// Most targets drawn one section each when `--target` does not choose one.
const MAX_SECTIONS: usize = 8;

/// A backtest summary, or why it cannot be drawn.
fn read_backtest(path: &std::path::Path) -> Result<crate::evaluation::backtest::Summary, String> {
    let text = crate::io::read_text(path).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a backtest summary (backtest.json): {e}",
            path.display()
        )
    })
}
