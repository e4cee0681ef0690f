//! `mixatlas evaluate`.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::EvaluateArgs;
use crate::cli::output;
use crate::cli::progress::Bar;
use crate::device::BackendTask;
use crate::runs::{DataSpec, Runs, SchemaCheck};
use crate::surrogate::select::evaluate_auto;
use crate::surrogate::{Evaluation, SurrogateSpec, cross_validate, evaluate};

struct Task {
    spec: DataSpec,
    args: EvaluateArgs,
}

/// Evaluations to print: one per surrogate (several with `--surrogate auto`, named), the
/// first being the one whose predictions are written.
type Evaluations = Vec<(Option<String>, Evaluation)>;

/// What evaluation found: the runs, the evaluations, and how many of the runs the evaluated
/// checkpoint was trained on (when it records them).
type Found = (Runs, Evaluations, Option<usize>);

impl BackendTask for Task {
    type Output = Result<Found>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let spec = &self.spec;
        if let Some(dir) = &self.args.checkpoint {
            let model = super::load_model::<B>(dir, &device)?;
            let schema = model.surrogate().schema();
            let runs = Runs::load_with_schema(spec, schema, SchemaCheck::WithTargets)?;
            let evaluation = evaluate(&model, &runs)?;
            let seen = model.trained_on().map(|t| t.count_in(&runs));
            return Ok((runs, vec![(None, evaluation)], seen));
        }
        let folds = self
            .args
            .folds
            .expect("clap requires --folds without --checkpoint");
        let surrogate = super::load_spec(self.args.surrogate, self.args.config.as_deref())?;
        let runs = Runs::load(spec)?;
        let seed = self.args.seed;
        let evaluations = match &surrogate {
            SurrogateSpec::Auto(config) => {
                let mut bar = Bar::for_spec(&surrogate, runs.schema.targets.len());
                let config = crate::surrogate::select::AutoConfig {
                    folds: Some(folds),
                    ..config.clone()
                };
                let compared = evaluate_auto::<B>(&runs, &config, seed, &device, &mut bar)?;
                compared
                    .into_iter()
                    .map(|(s, e)| (Some(s.label()), e))
                    .collect()
            }
            other => {
                let mut bar = Bar::for_spec(other, runs.schema.targets.len());
                let e = cross_validate::<B>(&runs, other, folds, seed, &device, &mut bar)?;
                vec![(None, e)]
            }
        };
        Ok((runs, evaluations, None))
    }
}

pub fn run(args: EvaluateArgs) -> Result<()> {
    let spec = match &args.checkpoint {
        Some(_) => super::logged_spec(&args.data, args.table.key.as_deref())?,
        None => super::data_spec(&args.data, &args.table, &args.targets)?.0,
    };
    let mut inputs = spec.files();
    inputs.push(&args.data);
    inputs.extend(args.checkpoint.as_deref());
    inputs.extend(args.config.as_deref());
    output::check_file(args.predictions.as_deref(), args.force, &inputs)?;
    let json = args.common.json;
    let predictions = args.predictions.clone();
    let (runs, evaluations, seen) = args.common.device.dispatch(Task { spec, args })??;
    if let Some(seen) = seen.filter(|&s| s > 0) {
        eprintln!(
            "warning: {seen} of {} runs are at mixtures the checkpoint was trained on: on those \
             the figures measure the fit, not prediction for unseen mixtures (evaluate on runs \
             held out of training, or use --folds)",
            runs.len()
        );
    }
    let (_, first) = &evaluations[0];
    if let Some(path) = &predictions {
        output::write_predictions(
            &runs.keys,
            &runs.schema.target_names(),
            Some(first),
            &first.prediction,
            false,
            Some(path),
        )?;
    }
    let compared = evaluations.len() > 1;
    // With many targets `auto` compares the candidates on some of them (the others' metrics).
    let compared_on: Option<Vec<&str>> = evaluations
        .get(1)
        .filter(|(_, e)| e.metrics.len() < first.metrics.len())
        .map(|(_, e)| e.metrics.iter().map(|m| m.target.as_str()).collect());
    for m in &first.metrics {
        for warning in warnings(m) {
            eprintln!("warning: {}: {warning}", m.target);
        }
    }
    if json {
        let value = if compared {
            let candidates: Vec<_> = evaluations
                .iter()
                .map(|(kind, e)| serde_json::json!({"surrogate": kind, "metrics": e.metrics}))
                .collect();
            let mut value =
                serde_json::json!({"chosen": evaluations[0].0, "candidates": candidates});
            if let Some(names) = &compared_on {
                value["compared_on"] = serde_json::json!(names);
            }
            value
        } else {
            serde_json::to_value(&first.metrics)?
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let first_column = if compared {
        "surrogate  target"
    } else {
        "target"
    };
    println!(
        "{:<28} {:>5} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>6} {:>6}",
        first_column, "rows", "rmse", "mae", "r2", "pearson", "spearman", "nll", "cov50", "cov90"
    );
    for (kind, evaluation) in &evaluations {
        for m in &evaluation.metrics {
            let label = match kind {
                Some(kind) => format!("{kind:<10} {}", m.target),
                None => m.target.clone(),
            };
            println!(
                "{:<28} {:>5} {:>9.4} {:>9.4} {:>7.4} {:>8.4} {:>8.4} {:>8.3} {:>6.3} {:>6.3}",
                label,
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
    }
    if let Some(kind) = evaluations[0].0.as_ref().filter(|_| compared) {
        println!(
            "chosen by mean out-of-fold Spearman: {kind} (its predictions are the ones written)"
        );
        if let Some(names) = &compared_on {
            println!(
                "the candidates were compared on {} of the {} targets (`max_targets` of the auto \
                 config); the chosen one is evaluated on all",
                names.len(),
                first.metrics.len()
            );
        }
    }
    Ok(())
}

/// What a reader should know before trusting `m`: intervals that miss most runs, or
/// predictions worse than the runs' own mean.
fn warnings(m: &crate::surrogate::metrics::TargetMetrics) -> Vec<String> {
    let mut out = Vec::new();
    if m.rows >= 10 && m.coverage90 < 0.5 {
        out.push(format!(
            "only {:.0}% of the runs fall inside their 90% intervals: these runs may be on another \
             scale than the training runs (another model size, token budget or tokenizer), which \
             the model cannot extrapolate to",
            100.0 * m.coverage90
        ));
    }
    if m.rows >= 10 && m.r2 < 0.0 {
        out.push(format!(
            "r2 = {:.3}: the predictions are further from the outcomes than the outcomes' own \
             mean; rank-based figures (spearman) may still hold",
            m.r2
        ));
    }
    out
}
