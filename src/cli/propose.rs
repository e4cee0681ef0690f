//! `mixatlas propose`.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use serde_json::{Map, Value, json};

use crate::cli::Model;
use crate::cli::args::{ProposeArgs, SearcherKind};
use crate::cli::output::write_dir_atomic;
use crate::cli::progress::StageBar;
use crate::cli::setup::Setup;
use crate::device::BackendTask;
use crate::export::{Recipe, TargetPrediction};
use crate::runs::{DataSpec, Runs};
use crate::search::{Candidate, CmaEs, GradientAscent, Pool, RandomSearch, Searcher, propose};
use crate::space::constraints::tv_distance;

struct Task {
    args: ProposeArgs,
}

/// One proposal with everything reported about it.
struct Proposal {
    candidate: Candidate,
    pool_key: Option<String>,
    objective: (f64, f64),
    /// Per target: mean and epistemic std.
    targets: Vec<(f64, f64)>,
    nearest: Option<(String, f64)>,
}

impl BackendTask for Task {
    /// The files to write.
    type Output = Result<(Vec<(String, Vec<u8>)>, String)>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let a = &self.args;
        let setup = Setup::<B::InnerBackend>::load::<B>(&a.scoring, &device)?;
        let mut acquisition = setup.acquisition(&a.scoring)?;
        let scorer = setup.scorer();
        let schema = setup.surrogate().schema();
        let pool_runs = match &a.pool {
            Some(path) => {
                let spec = DataSpec::for_mixture_file(
                    path,
                    schema.mixture_columns.clone(),
                    a.pool_key.clone(),
                );
                Some(Runs::load_with_schema(&spec, schema, false)?)
            }
            None => None,
        };
        let keep = (64 * a.batch).max(1024);
        let mut searchers: Vec<Box<dyn Searcher + '_>> = Vec::new();
        match &pool_runs {
            Some(runs) => searchers.push(Box::new(Pool {
                mixtures: runs.mixtures.clone(),
                keep: usize::MAX,
            })),
            None => {
                for kind in &a.searchers {
                    searchers.push(match kind {
                        SearcherKind::Random => Box::new(RandomSearch {
                            sampler: setup.sampler.clone(),
                            samples: a.samples,
                            chunk: 8192,
                            keep,
                        }),
                        SearcherKind::Cmaes => Box::new(CmaEs::default()),
                        SearcherKind::Gradient => match &setup.model {
                            Model::Ensemble(p) => Box::new(GradientAscent::<B>::new(
                                p,
                                &setup.objectives[0],
                                acquisition.as_ref(),
                                setup.context.clone(),
                            )?),
                            Model::Gp(_) => anyhow::bail!(
                                "the gradient searcher differentiates the ensemble; with a GP \
                                 checkpoint use --searchers random,cmaes"
                            ),
                        },
                    });
                }
            }
        }
        let mut bar = StageBar::new();
        let batch = propose(
            &mut searchers,
            &scorer,
            acquisition.as_mut(),
            &setup.constraints,
            a.batch,
            a.min_distance,
            setup.logged.as_ref().map_or(&[][..], |r| &r.mixtures[..]),
            keep,
            a.scoring.seed,
            &mut bar,
        )?;
        drop(bar);
        let chosen: Vec<Vec<f64>> = batch.iter().map(|c| c.weights.clone()).collect();
        let s = scorer.scores(&chosen)?;
        let proposals: Vec<Proposal> = batch
            .into_iter()
            .enumerate()
            .map(|(i, candidate)| Proposal {
                pool_key: candidate
                    .pool_row
                    .and_then(|r| pool_runs.as_ref().map(|p| p.keys[r].clone())),
                objective: (s.mean[i], s.std[i]),
                targets: (0..s.targets)
                    .map(|t| {
                        let (m, v) = s.target_moments(i, t);
                        (m, v.sqrt())
                    })
                    .collect(),
                nearest: setup.logged.as_ref().and_then(|runs| {
                    runs.mixtures
                        .iter()
                        .zip(&runs.keys)
                        .map(|(w, k)| (k.clone(), tv_distance(w, &candidate.weights)))
                        .min_by(|x, y| x.1.total_cmp(&y.1))
                }),
                candidate,
            })
            .collect();
        Ok((
            files(&setup, &proposals, &acquisition.name())?,
            summary(&setup, &proposals),
        ))
    }
}

pub fn run(args: ProposeArgs) -> Result<()> {
    if args.batch == 0 || args.samples == 0 {
        anyhow::bail!("--batch and --samples must be at least 1");
    }
    if args.out.exists() && !args.force {
        anyhow::bail!("{} exists; pass --force to replace it", args.out.display());
    }
    let out = args.out.clone();
    let force = args.force;
    let (files, summary) = args.scoring.common.device.dispatch(Task { args })??;
    write_dir_atomic(&out, force, &files)?;
    print!("{summary}");
    println!(
        "wrote {}/proposals.csv, proposals.json and recipes/",
        out.display()
    );
    Ok(())
}

fn name(rank: usize) -> String {
    format!("proposal-{:02}", rank + 1)
}

/// proposals.csv, proposals.json and one recipe (JSON and YAML) per proposal.
fn files<B: burn::prelude::Backend>(
    setup: &Setup<B>,
    proposals: &[Proposal],
    acquisition: &str,
) -> Result<Vec<(String, Vec<u8>)>> {
    let schema = setup.surrogate().schema();
    let space = &schema.space;
    let targets = schema.target_names();
    let axes = space.axes();
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "rank",
        "name",
        "pool_key",
        "acquisition",
        "objective",
        "objective_epistemic_std",
        "nearest_run",
        "nearest_run_distance",
    ]
    .map(String::from)
    .to_vec();
    for t in &targets {
        header.push(format!("{t}_mean"));
        header.push(format!("{t}_epistemic_std"));
    }
    for axis in &axes {
        for v in space.axis_values(axis) {
            header.push(format!("share:{axis}={v}"));
        }
    }
    header.extend(space.names());
    csv.write_record(&header)?;
    let mut rows_json = Vec::new();
    let mut files = Vec::new();
    for (rank, p) in proposals.iter().enumerate() {
        let w = &p.candidate.weights;
        let mut row = vec![
            (rank + 1).to_string(),
            name(rank),
            p.pool_key.clone().unwrap_or_default(),
            p.candidate.value.to_string(),
            p.objective.0.to_string(),
            p.objective.1.to_string(),
            p.nearest.as_ref().map_or(String::new(), |n| n.0.clone()),
            p.nearest
                .as_ref()
                .map_or(String::new(), |n| n.1.to_string()),
        ];
        let mut target_json = Map::new();
        let mut recipe = Recipe::new(&name(rank), space, w);
        for (t, &(mean, sd)) in targets.iter().zip(&p.targets) {
            row.push(mean.to_string());
            row.push(sd.to_string());
            target_json.insert(t.clone(), json!({"mean": mean, "epistemic_std": sd}));
            recipe.predicted.insert(
                t.clone(),
                TargetPrediction {
                    mean,
                    epistemic_std: sd,
                },
            );
        }
        let mut shares_json = Map::new();
        for axis in &axes {
            let shares = space.axis_shares(axis, w);
            for (_, share) in &shares {
                row.push(share.to_string());
            }
            shares_json.insert(
                axis.clone(),
                Value::Object(shares.into_iter().map(|(v, s)| (v, json!(s))).collect()),
            );
        }
        row.extend(w.iter().map(|x| x.to_string()));
        csv.write_record(&row)?;
        rows_json.push(json!({
            "rank": rank + 1,
            "name": name(rank),
            "pool_key": p.pool_key,
            "acquisition": p.candidate.value,
            "objective": p.objective.0,
            "objective_epistemic_std": p.objective.1,
            "nearest_run": p.nearest.as_ref().map(|n| &n.0),
            "nearest_run_distance": p.nearest.as_ref().map(|n| n.1),
            "targets": target_json,
            "shares": shares_json,
            "weights": space.names().into_iter().zip(w).map(|(d, x)| (d, json!(x))).collect::<Map<_, _>>(),
        }));
        files.push((
            format!("recipes/{}.json", name(rank)),
            recipe.to_json().into_bytes(),
        ));
        files.push((
            format!("recipes/{}.yaml", name(rank)),
            recipe.to_yaml().into_bytes(),
        ));
    }
    let doc = json!({
        "space": space.name,
        "acquisition": acquisition,
        "objective": setup.objectives[0],
        "proposals": rows_json,
    });
    files.push((
        "proposals.json".into(),
        (serde_json::to_string_pretty(&doc)? + "\n").into_bytes(),
    ));
    files.push(("proposals.csv".into(), csv.into_inner()?));
    Ok(files)
}

fn summary<B: burn::prelude::Backend>(setup: &Setup<B>, proposals: &[Proposal]) -> String {
    let schema = setup.surrogate().schema();
    let names = schema.space.names();
    let targets = schema.target_names();
    let mut s = String::new();
    for (rank, p) in proposals.iter().enumerate() {
        let preds: Vec<String> = targets
            .iter()
            .zip(&p.targets)
            .take(3)
            .map(|(t, (m, sd))| format!("{t} {m:.4} ± {sd:.4}"))
            .collect();
        let key = p
            .pool_key
            .as_ref()
            .map_or(String::new(), |k| format!(" [{k}]"));
        let near = p.nearest.as_ref().map_or(String::new(), |n| {
            format!("  nearest run {} at {:.3}", n.0, n.1)
        });
        s.push_str(&format!(
            "{}{key}: acquisition {:.4}  {}{near}\n    top domains: {}\n",
            name(rank),
            p.candidate.value,
            preds.join(", "),
            super::simulate::top_domains(&names, &p.candidate.weights, 4)
        ));
    }
    s
}
