//! `mixatlas train`.

use anyhow::{Context, Result};
use burn::prelude::Backend;
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::TrainArgs;
use crate::cli::progress::Bar;
use crate::device::BackendTask;
use crate::io::Overwrite;
use crate::runs::Runs;
use crate::surrogate::{Fitted, GaussianProcess, Predictor, SurrogateSpec};

struct Task {
    runs: Runs,
    spec: SurrogateSpec,
    args: TrainArgs,
}

impl BackendTask for Task {
    type Output = Result<(serde_json::Value, String)>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let start = std::time::Instant::now();
        let mut bar = Bar::for_spec(&self.spec, self.runs.schema.targets.len());
        let model = self
            .spec
            .fit::<B>(&self.runs, self.args.seed, &device, &mut bar)?;
        drop(bar);
        model
            .save(&self.args.out, Overwrite::from_force(self.args.force))
            .with_context(|| format!("writing the checkpoint to {}", self.args.out.display()))?;
        summary(&model, &self.runs, start.elapsed().as_secs_f64())
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    let (spec, notes) = super::data_spec(&args.data, &args.table, &args.targets)?;
    let mut inputs = spec.files();
    inputs.push(&args.data);
    inputs.extend(args.config.as_deref());
    crate::io::check_output(&args.out, Overwrite::from_force(args.force), &inputs)?;
    for note in &notes {
        eprintln!("{}: {note}", args.data.display());
    }
    let mut runs = Runs::load(&spec)?;
    super::select_targets(&mut runs, &args.data, &args.targets)?;
    let json = args.common.json;
    let out = args.out.clone();
    let spec = super::load_spec(args.surrogate, args.config.as_deref())?;
    let device = args.common.device;
    let (value, text) = device.dispatch(Task { runs, spec, args })??;
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{text}");
        println!("checkpoint written to {}", out.display());
    }
    Ok(())
}

/// What was fitted, as JSON (one object: `surrogate`, `train_rows`, `seconds`, `targets`, the
/// ensemble's training report fields, and `selection` after `auto`) and as text.
fn summary<B: Backend>(
    model: &Fitted<B>,
    runs: &Runs,
    seconds: f64,
) -> Result<(serde_json::Value, String)> {
    use std::fmt::Write;
    let names = runs.schema.target_names();
    let mut text = String::new();
    let mut value = serde_json::json!({
        "surrogate": model.kind(),
        "train_rows": runs.len(),
        "seconds": seconds,
    });
    if let Some(selection) = model.selection() {
        value["selection"] = serde_json::to_value(selection)?;
        if let Some(compared) = &selection.targets {
            writeln!(
                text,
                "candidates compared on {} of the {} targets (`max_targets` of the auto config)",
                compared.len(),
                names.len()
            )?;
        }
        for s in &selection.scores {
            writeln!(text, "{}", s.line(selection.folds))?;
        }
        let chosen = &selection.scores[crate::surrogate::select::best(&selection.scores)];
        writeln!(text, "auto chose {}", chosen.label())?;
    }
    match model {
        Fitted::Ensemble(p) => ensemble_summary(p, &mut value, &mut text)?,
        Fitted::Gp(gp) => gp_summary(gp, &names, seconds, &mut value, &mut text)?,
        Fitted::LogLinear(law) => {
            let targets: Vec<serde_json::Value> = law
                .laws
                .iter()
                .zip(&names)
                .zip(&law.calibration)
                .map(|((l, name), c)| serde_json::json!({"target": name, "law": l, "calibration": c}))
                .collect();
            value["targets"] = targets.into();
            writeln!(
                text,
                "fitted the log-linear mixing law on {} runs in {seconds:.1} s",
                runs.len()
            )?;
        }
    }
    Ok((value, text))
}

/// The ensemble's training report, into `value` and `text`.
fn ensemble_summary<B: Backend>(
    p: &Predictor<B>,
    value: &mut serde_json::Value,
    text: &mut String,
) -> Result<()> {
    use std::fmt::Write;
    let report = &p.meta.report;
    for (k, v) in serde_json::to_value(report)?
        .as_object()
        .into_iter()
        .flatten()
    {
        value[k] = v.clone();
    }
    value["epistemic_scale"] = serde_json::to_value(&p.meta.epistemic_scale)?;
    let scales: Vec<String> = (p.meta.epistemic_scale.iter())
        .map(|c| format!("x{c:.2}"))
        .collect();
    writeln!(
        text,
        "trained on {} runs ({} held out for early stopping): best epoch {} of {}, {:.1} s; \
         member spread calibrated out-of-bag: {}",
        report.train_rows,
        report.validation_rows,
        report.best_epoch,
        report.epochs,
        report.seconds,
        scales.join(", ")
    )?;
    Ok(())
}

/// Each GP target's hyperparameters and fit, into `value` and `text`.
fn gp_summary(
    gp: &GaussianProcess,
    names: &[String],
    seconds: f64,
    value: &mut serde_json::Value,
    text: &mut String,
) -> Result<()> {
    use std::fmt::Write;
    let targets: Vec<serde_json::Value> = gp
        .targets
        .iter()
        .zip(names)
        .map(|(t, name)| {
            serde_json::json!({
                "target": name,
                "lengthscales": t.lengthscales,
                "signal_var": t.signal_var,
                "noise_var": t.noise_var,
                "calibration": t.calibration,
                "fit": t.fit,
            })
        })
        .collect();
    value["targets"] = targets.into();
    writeln!(
        text,
        "fitted a Gaussian process on {} runs in {seconds:.1} s",
        gp.x.len()
    )?;
    for (t, name) in gp.targets.iter().zip(names) {
        let mut l = t.lengthscales.clone();
        l.sort_by(f64::total_cmp);
        writeln!(
            text,
            "  {name}: log marginal likelihood {:.2}, lengthscales {:.3}..{:.3} (median \
             {:.3}), noise/signal {:.2e}, interval calibration x{:.2}{}",
            t.fit.log_marginal_likelihood,
            l[0],
            l[l.len() - 1],
            l[l.len() / 2],
            t.noise_var / t.signal_var,
            t.calibration,
            t.fit
                .cv_coverage90
                .map(|c| format!(" (held-out 90% coverage before it {c:.3})"))
                .unwrap_or_default(),
        )?;
        for warning in &t.fit.at_bounds {
            writeln!(text, "  {name}: warning: {warning}")?;
        }
    }
    Ok(())
}
