//! `mixatlas train`.

use anyhow::{Context, Result, anyhow};
use burn::tensor::backend::AutodiffBackend;

use crate::Error;
use crate::cli::args::TrainArgs;
use crate::cli::progress::Bar;
use crate::device::BackendTask;
use crate::io::Overwrite;
use crate::predictor::{
    EnsembleConfig, GaussianProcess, SurrogateSpec, TrainReport, checkpoint, fit,
};
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
        SurrogateSpec::Gp(config) => {
            let start = std::time::Instant::now();
            let gp = GaussianProcess::fit(&runs, &config, args.seed)?;
            gp.save(&out, Overwrite::from_force(args.force))
                .with_context(|| format!("writing the checkpoint to {}", out.display()))?;
            let seconds = start.elapsed().as_secs_f64();
            let targets: Vec<serde_json::Value> = gp
                .targets
                .iter()
                .zip(runs.schema.target_names())
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
            if json {
                let report = serde_json::json!({
                    "surrogate": "gp",
                    "train_rows": runs.len(),
                    "seconds": seconds,
                    "targets": targets,
                });
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            println!(
                "fitted a Gaussian process ({:?}, {} starts) on {} runs in {seconds:.1} s",
                config.kernel,
                config.starts,
                runs.len(),
            );
            for (t, name) in gp.targets.iter().zip(runs.schema.target_names()) {
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
            println!("checkpoint written to {}", out.display());
            return Ok(());
        }
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
