//! `mixatlas train`.

use anyhow::{Context, Result, anyhow};
use burn::tensor::backend::AutodiffBackend;

use crate::Error;
use crate::cli::args::TrainArgs;
use crate::cli::progress::Bar;
use crate::device::{BackendTask, Cpu};
use crate::io::Overwrite;
use crate::predictor::{EnsembleConfig, Model, SurrogateSpec, TrainReport, checkpoint, fit};
use crate::runs::{DataSpec, Runs, RunsError};

struct Task {
    runs: Runs,
    config: EnsembleConfig,
    args: TrainArgs,
}

impl BackendTask for Task {
    type Output = Result<TrainReport>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let mut bar = Bar::new(self.config.members, self.config.max_epochs);
        let predictor = fit::<B>(&self.runs, &self.config, self.args.seed, &device, &mut bar)?;
        drop(bar);
        checkpoint::save(
            &predictor,
            &self.args.out,
            Overwrite::from_force(self.args.force),
        )
        .with_context(|| format!("writing the checkpoint to {}", self.args.out.display()))?;
        Ok(predictor.meta.report)
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    let spec = DataSpec::from_file(&args.data)?;
    let mut inputs = spec.files();
    inputs.push(&args.data);
    inputs.extend(args.config.as_deref());
    crate::io::check_output(&args.out, Overwrite::from_force(args.force), &inputs)?;
    let mut runs = Runs::load(&spec)?;
    if !args.targets.is_empty() {
        runs.select_targets(&args.targets).map_err(|e| match e {
            Error::Runs(RunsError::UnknownTarget { name, known }) => {
                anyhow!(
                    "--target {name}: {} defines only {known:?}",
                    args.data.display()
                )
            }
            other => other.into(),
        })?;
    }
    let json = args.common.json;
    let out = args.out.clone();
    let config = match super::load_spec(args.surrogate, args.config.as_deref())? {
        SurrogateSpec::Ensemble(config) => config,
        // The GP and the mixing law are fitted in f64 on the host, whatever --device says.
        other => return fit_on_host(&other, &runs, &args),
    };
    let device = args.common.device;
    let report = device.dispatch(Task { runs, config, args })??;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "trained on {} runs ({} held out for early stopping): best epoch {} of {}, {:.1} s",
            report.train_rows,
            report.validation_rows,
            report.best_epoch,
            report.epochs,
            report.seconds
        );
        println!("checkpoint written to {}", out.display());
    }
    Ok(())
}

/// Fits a GP or a mixing law, saves it and prints what was fitted (`--json`: one object with
/// `surrogate`, `train_rows`, `seconds` and a `targets` array).
fn fit_on_host(spec: &SurrogateSpec, runs: &Runs, args: &TrainArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let model = spec.fit::<Cpu>(runs, args.seed, &Default::default(), &mut ())?;
    model
        .save(&args.out, Overwrite::from_force(args.force))
        .with_context(|| format!("writing the checkpoint to {}", args.out.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    let names = runs.schema.target_names();
    let (surrogate, targets): (&str, Vec<serde_json::Value>) = match &model {
        Model::Gp(gp) => (
            "gp",
            gp.targets
                .iter()
                .zip(&names)
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
                .collect(),
        ),
        Model::LogLinear(law) => (
            "loglinear",
            law.laws
                .iter()
                .zip(&names)
                .zip(&law.calibration)
                .map(|((l, name), c)| serde_json::json!({"target": name, "law": l, "calibration": c}))
                .collect(),
        ),
        Model::Ensemble(_) => ("ensemble", Vec::new()),
    };
    if args.common.json {
        let report = serde_json::json!({
            "surrogate": surrogate,
            "train_rows": runs.len(),
            "seconds": seconds,
            "targets": targets,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "fitted a {surrogate} surrogate on {} runs in {seconds:.1} s",
        runs.len()
    );
    if let Model::Gp(gp) = &model {
        for (t, name) in gp.targets.iter().zip(&names) {
            let mut l = t.lengthscales.clone();
            l.sort_by(f64::total_cmp);
            println!(
                "  {name}: log marginal likelihood {:.2}, lengthscales {:.3}..{:.3} (median {:.3}), \
                 noise/signal {:.2e}, interval calibration x{:.2} (held-out 90% coverage {:.3})",
                t.fit.log_marginal_likelihood,
                l[0],
                l[l.len() - 1],
                l[l.len() / 2],
                t.noise_var / t.signal_var,
                t.calibration,
                t.fit.cv_coverage90,
            );
            for warning in &t.fit.at_bounds {
                println!("  {name}: warning: {warning}");
            }
        }
    }
    println!("checkpoint written to {}", args.out.display());
    Ok(())
}
