//! `mixatlas propose`: a [`Proposer`] over a checkpoint, told the logged runs, asked once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::ProposeArgs;
use crate::cli::output::write_dir_atomic;
use crate::cli::progress::StageBar;
use crate::cli::setup::Setup;
use crate::device::BackendTask;
use crate::export::{Keys, proposal_files, proposal_name, top_domains};
use crate::io::Overwrite;
use crate::proposer::{
    Batch, POOL_MIN_DISTANCE, PoolSource, Proposer, ProposerConfig, SearcherKind,
};
use crate::runs::{DataSpec, keys_of_rows};
use crate::space::reuse::Reuse;

struct Task {
    args: ProposeArgs,
}

impl BackendTask for Task {
    /// The files to write and the summary to print.
    type Output = Result<(Vec<(String, Vec<u8>)>, String)>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let a = &self.args;
        let setup = Setup::<B::InnerBackend>::load(&a.scoring, &device)?;
        let schema = setup.surrogate().schema().clone();
        let pool = (a.pool.as_deref()).map(|path| {
            let columns = schema.mixture_columns.clone();
            DataSpec::for_mixture_file(path, columns, a.pool_key.clone())
        });
        let config = ProposerConfig {
            acquisition: a.scoring.acquisition_spec(),
            objective: setup.objective_specs[0].clone(),
            searchers: a.searchers.clone().unwrap_or_else(|| {
                let mut all = vec![SearcherKind::Random, SearcherKind::Cmaes];
                if setup.surrogate().capabilities().differentiable {
                    all.push(SearcherKind::Gradient);
                }
                all
            }),
            samples: a.samples,
            min_distance: a.min_distance.unwrap_or(if a.pool.is_some() {
                POOL_MIN_DISTANCE
            } else {
                ProposerConfig::default().min_distance
            }),
            prior: a.scoring.prior,
            pool: pool.clone().map(|spec| PoolSource::File(Box::new(spec))),
            context: setup.context.clone(),
            batch: a.batch_method,
            seed: a.scoring.seed,
            ..ProposerConfig::default()
        };
        let reuse = match &a.reuse {
            Some(path) => {
                let reuse = Reuse::from_file(path)?;
                if schema.space.names() != reuse.reduced.names() {
                    bail!(
                        "{}: the checkpoint's domains are not the reduced space of this reuse \
                         ({}); train on the runs `mixatlas reuse` collapses",
                        path.display(),
                        reuse.reduced.names().join(", ")
                    );
                }
                Some(reuse)
            }
            None => None,
        };
        let logged = setup.logged.clone();
        let spread = setup.model.surrogate().target_norm().std.clone();
        let mut proposer =
            Proposer::<B>::with_model(setup.constraints, setup.model, config, device)?;
        if let Some(runs) = &logged {
            proposer.tell(runs)?;
        }
        let batch = proposer.ask_with(a.batch, &mut StageBar::new())?;
        // The streamed pool kept row numbers: read the picked rows' keys back.
        let picked: Vec<usize> = batch.proposals.iter().filter_map(|p| p.pool_row).collect();
        let pool_keys = match &pool {
            Some(spec) => keys_of_rows(spec, &schema, &picked)?,
            None => HashMap::new(),
        };
        let keys = Keys {
            runs: logged.as_ref().map_or(&[][..], |r| &r.keys[..]),
            pool: &pool_keys,
        };
        Ok((
            proposal_files(&batch, &schema, keys, reuse.as_ref()),
            summary(
                &batch,
                &schema,
                &spread,
                keys,
                a.scoring.acquisition_spec().kind,
            ),
        ))
    }
}

pub fn run(args: ProposeArgs) -> Result<()> {
    let inputs: Vec<PathBuf> = (args
        .scoring
        .inputs()
        .into_iter()
        .chain(args.pool.as_deref())
        .chain(args.reuse.as_deref()))
    .map(Path::to_path_buf)
    .collect();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    crate::io::check_output(&args.out, Overwrite::from_force(args.force), &inputs)?;
    let (out, force) = (args.out.clone(), args.force);
    let (files, summary) = args.scoring.common.device.dispatch(Task { args })??;
    write_dir_atomic(&out, force, &inputs, &files)?;
    print!("{summary}");
    println!(
        "wrote {}/proposals.csv, proposals.json and recipes/",
        out.display()
    );
    Ok(())
}

/// Distance (total variation) from every logged run beyond which a proposal is said to be an
/// extrapolation.
const FAR: f64 = 0.2;

/// Targets beyond which a proposal's line names its most uncertain targets.
const SHOWN_TARGETS: usize = 3;

/// The objective and the acquisition in words, then two lines per proposal: predictions of
/// the first three targets, the nearest run, and the top domains; with more targets, a third
/// line names the three with the largest epistemic std relative to `spread` (each target's
/// std over the training runs, `[T]`).
fn summary(
    batch: &Batch,
    schema: &crate::runs::Schema,
    spread: &[f64],
    keys: Keys<'_>,
    kind: crate::acquisition::AcquisitionKind,
) -> String {
    let (names, targets) = (schema.space.names(), schema.target_names());
    let mut s = format!(
        "objective (higher is better): {}\nacquisition {}: {}\n",
        batch.objective.describe(),
        batch.acquisition,
        kind.meaning()
    );
    for (rank, p) in batch.proposals.iter().enumerate() {
        let preds: Vec<String> = (targets.iter().zip(&p.targets).take(SHOWN_TARGETS))
            .map(|(t, (m, sd))| format!("{t} {m:.4} ± {sd:.4}"))
            .collect();
        let key = p.pool_row.and_then(|r| keys.pool.get(&r));
        let key = key.map_or(String::new(), |k| format!(" [{k}]"));
        let near = p.nearest.map_or(String::new(), |(k, d)| {
            let name = keys.runs.get(k).cloned().unwrap_or_else(|| k.to_string());
            format!("  nearest run {name} at {d:.3}")
        });
        s.push_str(&format!(
            "{}{key}: acquisition {:.4}  {}{near}\n    top domains: {}\n",
            proposal_name(rank),
            p.acquisition,
            preds.join(", "),
            top_domains(&names, &p.weights, 4)
        ));
        if targets.len() > SHOWN_TARGETS {
            s.push_str(&format!(
                "    most uncertain: {}\n",
                crate::export::most_uncertain(&targets, &p.targets, spread, 3)
            ));
        }
    }
    let far = (batch.proposals.iter())
        .filter(|p| p.nearest.is_some_and(|(_, d)| d > FAR))
        .count();
    if far > 0 {
        s.push_str(&format!(
            "note: {far} proposal(s) lie more than {FAR} (total variation) from every logged run, \
             where the model extrapolates; a trust region keeps proposals near the runs \
             (--constraints with [trust_region], docs/using.md)\n"
        ));
    }
    if batch.infeasible_skipped > 0 {
        s.push_str(&format!(
            "pool: {} row(s) skipped: they violate the constraints\n",
            batch.infeasible_skipped
        ));
    }
    s
}
