//! `mixatlas evaluate`.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::EvaluateArgs;
use crate::cli::output;
use crate::cli::progress::Bar;
use crate::device::BackendTask;
use crate::runs::{DataSpec, Runs, SchemaCheck};
use crate::surrogate::metrics::TargetMetrics;
use crate::surrogate::select::{AutoConfig, Comparison, evaluate_auto};
use crate::surrogate::{Evaluation, SurrogateSpec, cross_validate, evaluate};

struct Task {
    spec: DataSpec,
    args: EvaluateArgs,
}

/// What evaluation found: the runs, the evaluation whose predictions are written, `auto`'s
/// comparison, and how many of the runs the evaluated checkpoint was trained on (when it
/// records them).
type Found = (Runs, Evaluation, Option<Comparison>, Option<usize>);

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
            return Ok((runs, evaluation, None, seen));
        }
        let folds = self
            .args
            .folds
            .expect("clap requires --folds without --checkpoint");
        let surrogate = super::load_spec(self.args.surrogate, self.args.config.as_deref())?;
        let mut runs = Runs::load(spec)?;
        super::select_targets(&mut runs, &self.args.data, &self.args.targets)?;
        let seed = self.args.seed;
        let mut bar = Bar::for_spec(&surrogate, runs.schema.targets.len());
        Ok(match &surrogate {
            SurrogateSpec::Auto(config) => {
                let config = AutoConfig {
                    folds: Some(folds),
                    ..config.clone()
                };
                let (comparison, chosen) =
                    evaluate_auto::<B>(&runs, &config, seed, &device, &mut bar)?;
                (runs, chosen, Some(comparison), None)
            }
            other => {
                let e = cross_validate::<B>(&runs, other, folds, seed, &device, &mut bar)?;
                (runs, e, None, None)
            }
        })
    }
}

pub fn run(args: EvaluateArgs) -> Result<()> {
    let spec = match &args.checkpoint {
        Some(_) => super::logged_spec(&args.data, args.table.key.as_deref())?,
        None => {
            let (spec, notes) = super::data_spec(&args.data, &args.table, &args.targets)?;
            for note in &notes {
                eprintln!("{}: {note}", args.data.display());
            }
            spec
        }
    };
    let mut inputs = spec.files();
    inputs.push(&args.data);
    inputs.extend(args.checkpoint.as_deref());
    inputs.extend(args.config.as_deref());
    output::check_file(args.predictions.as_deref(), args.force, &inputs)?;
    let json = args.common.json;
    let predictions = args.predictions.clone();
    let (runs, evaluation, comparison, seen) =
        args.common.device.dispatch(Task { spec, args })??;
    if let Some(seen) = seen.filter(|&s| s > 0) {
        eprintln!(
            "warning: {seen} of {} runs are at mixtures the checkpoint was trained on: on those \
             the figures measure the fit, not prediction for unseen mixtures (evaluate on runs \
             held out of training, or use --folds)",
            runs.len()
        );
    }
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
    for m in &evaluation.metrics {
        for warning in warnings(m) {
            eprintln!("warning: {}: {warning}", m.target);
        }
    }
    let Some(comparison) = comparison else {
        if json {
            println!("{}", serde_json::to_string_pretty(&evaluation.metrics)?);
        } else {
            print_metrics("target", &[(None, &evaluation.metrics)]);
        }
        return Ok(());
    };
    // `auto`: the candidates as compared, the chosen one first.
    let winner = comparison.winner();
    let mut order: Vec<usize> = (0..comparison.candidates.len()).collect();
    order.retain(|&i| i != winner);
    order.insert(0, winner);
    let candidates: Vec<(String, &[TargetMetrics])> = (order.iter())
        .map(|&i| {
            let (_, score, e) = &comparison.candidates[i];
            (score.label(), e.metrics.as_slice())
        })
        .collect();
    let chosen = &candidates[0].0;
    if json {
        let listed: Vec<_> = (candidates.iter())
            .map(|(label, metrics)| serde_json::json!({"surrogate": label, "metrics": metrics}))
            .collect();
        let mut value = serde_json::json!({"chosen": chosen, "candidates": listed});
        if let Some(names) = &comparison.targets {
            value["compared_on"] = serde_json::json!(names);
            value["chosen_on_every_target"] = serde_json::to_value(&evaluation.metrics)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let rows: Vec<(Option<&str>, &[TargetMetrics])> = (candidates.iter())
        .map(|(label, metrics)| (Some(label.as_str()), *metrics))
        .collect();
    print_metrics("surrogate  target", &rows);
    for &i in &order {
        println!("{}", comparison.candidates[i].1.line(comparison.folds));
    }
    println!(
        "chosen by mean out-of-fold Spearman: {chosen} (its predictions are the ones written)"
    );
    if let Some(names) = &comparison.targets {
        println!(
            "the candidates were compared on {} of the {} targets (`max_targets` of the auto \
             config); {chosen} on every target:",
            names.len(),
            evaluation.metrics.len()
        );
        print_metrics("target", &[(None, &evaluation.metrics)]);
    }
    Ok(())
}

/// One table row per target of each `(label, metrics)`, under a header whose first column is
/// `first_column`.
fn print_metrics(first_column: &str, rows: &[(Option<&str>, &[TargetMetrics])]) {
    println!(
        "{:<28} {:>5} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>6} {:>6}",
        first_column, "rows", "rmse", "mae", "r2", "pearson", "spearman", "nll", "cov50", "cov90"
    );
    for (kind, metrics) in rows {
        for m in *metrics {
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
}

/// What a reader should know before trusting `m`: intervals that miss most runs, or
/// predictions worse than the runs' own mean.
fn warnings(m: &TargetMetrics) -> Vec<String> {
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
