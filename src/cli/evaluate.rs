//! `mixatlas evaluate`.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::EvaluateArgs;
use crate::cli::output;
use crate::cli::progress::Bar;
use crate::device::BackendTask;
use crate::predictor::{Evaluation, SurrogateSpec, cross_validate, evaluate};
use crate::runs::{DataSpec, Runs, SchemaCheck};

struct Task {
    args: EvaluateArgs,
}

impl BackendTask for Task {
    type Output = Result<(Runs, Evaluation)>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let spec = DataSpec::from_file(&self.args.data)?;
        if let Some(dir) = &self.args.checkpoint {
            let model = super::load_model::<B>(dir, self.args.common.device, &device)?;
            let schema = model.surrogate().schema();
            let runs = Runs::load_with_schema(&spec, schema, SchemaCheck::WithTargets)?;
            let evaluation = evaluate(&model, &runs)?;
            return Ok((runs, evaluation));
        }
        let folds = self
            .args
            .folds
            .expect("clap requires --folds without --checkpoint");
        let surrogate = super::load_spec(self.args.surrogate, self.args.config.as_deref())?;
        let runs = Runs::load(&spec)?;
        let mut bar = match &surrogate {
            SurrogateSpec::Ensemble(c) => Bar::new(c.members, c.max_epochs),
            SurrogateSpec::Gp(_) | SurrogateSpec::LogLinear(_) => Bar::new(1, 1),
        };
        let evaluation =
            cross_validate::<B>(&runs, &surrogate, folds, self.args.seed, &device, &mut bar)?;
        Ok((runs, evaluation))
    }
}

pub fn run(args: EvaluateArgs) -> Result<()> {
    let spec = DataSpec::from_file(&args.data)?;
    let mut inputs = spec.files();
    inputs.push(&args.data);
    inputs.extend(args.checkpoint.as_deref());
    inputs.extend(args.config.as_deref());
    output::check_file(args.predictions.as_deref(), args.force, &inputs)?;
    let json = args.common.json;
    let predictions = args.predictions.clone();
    let (runs, evaluation) = args.common.device.dispatch(Task { args })??;
    if let Some(path) = &predictions {
        output::write_predictions(
            &runs.keys,
            &runs.schema.target_names(),
            Some(&evaluation),
            &evaluation.prediction,
            false,
            Some(path),
        )?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&evaluation.metrics)?);
        return Ok(());
    }
    println!(
        "{:<28} {:>5} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>6} {:>6}",
        "target", "rows", "rmse", "mae", "r2", "pearson", "spearman", "nll", "cov50", "cov90"
    );
    for m in &evaluation.metrics {
        println!(
            "{:<28} {:>5} {:>9.4} {:>9.4} {:>7.4} {:>8.4} {:>8.4} {:>8.3} {:>6.3} {:>6.3}",
            m.target,
            m.rows,
            m.rmse,
            m.mae,
            m.r2,
            m.pearson,
            m.spearman,
            m.nll,
            m.coverage50,
            m.coverage90
        );
    }
    Ok(())
}
