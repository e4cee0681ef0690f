//! `mixatlas report`: reads the inputs, has [`crate::report::assemble`] compute every figure's
//! data, and writes the page.

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;

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
        let model = Fitted::<B::InnerBackend>::load(&a.checkpoint, &device)?;
        let model = crate::device::for_scoring(model)?;
        let schema = model.surrogate().schema();
        let names = schema.target_names();
        let target = match &a.target {
            Some(name) => (names.iter().position(|n| n == name))
                .with_context(|| format!("--target {name}: the checkpoint predicts {names:?}"))?,
            None => 0,
        };
        if !schema.context.is_empty() {
            let context = &schema.context;
            bail!(
                "the checkpoint has context inputs {context:?}; reports cover mixture-only predictors"
            );
        }
        let objective = match &a.objective {
            Some(p) => ObjectiveSpec::from_file(p)?,
            None => ObjectiveSpec::default(),
        };
        let logged = match &a.data {
            Some(p) => {
                let spec = super::logged_spec(p)?;
                Some(Runs::load_with_schema(
                    &spec,
                    schema,
                    SchemaCheck::MixturesOnly,
                )?)
            }
            None => None,
        };
        let recipes = (a.proposals.as_deref())
            .map(|p| read_proposals(p, &schema.space.names()))
            .transpose()?;
        let oof = match &a.oof {
            Some(p) => read_oof(p, &names[target]).map_err(|e| e.to_string()),
            None => Err(
                "no out-of-fold predictions: run `mixatlas evaluate --data SPEC --folds 5 \
                         --predictions oof.csv` and pass --oof oof.csv"
                    .into(),
            ),
        };
        let campaign = match &a.campaign {
            Some(dir) => campaign_plots::<B::InnerBackend>(dir, &device)
                .unwrap_or_else(|e| Err(e.to_string())),
            None => Err("no campaign given (--campaign DIR)".into()),
        };
        let backtest = match &a.backtest {
            Some(path) => read_backtest(path),
            None => Err("no backtest given (--backtest out/backtest/backtest.json)".into()),
        };
        let title = format!(
            "mixatlas report: {} ({})",
            schema.space.name,
            a.checkpoint.display()
        );
        let data = assemble(Inputs {
            surrogate: model.surrogate(),
            objective: &objective,
            target,
            logged: logged.as_ref(),
            recipes,
            oof,
            campaign,
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
