//! `mixatlas report`: gathers predictions into plain data and hands them to `report`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;

use crate::acquisition::{Scorer, Scores};
use crate::campaign::Campaign;
use crate::cli::args::ReportArgs;
use crate::device::{BackendTask, DeviceKind};
use crate::objective::{Normalize, Objective, ObjectiveSpec};
use crate::predictor::metrics::score;
use crate::predictor::{Model, Normalizer};
use crate::report::analysis::{axis_heatmap, calibration_curve, partial_dependence_path, pca_2d};
use crate::report::{
    CampaignPlots, Parity, PdPanel, Projection, RecipeBar, ReportData, Written, write,
};
use crate::runs::{DataSpec, Direction, Runs, SchemaCheck};
use crate::simulate::{SimulateConfig, simulate};
use crate::space::Constraints;
use crate::space::sampler::{DirichletSampler, Prior, prior_weights};

/// Points on each partial-dependence curve.
const PD_STEPS: usize = 21;
/// Panels drawn: the domains whose curves move most.
const PD_PANELS: usize = 12;

struct Task {
    args: ReportArgs,
}

impl BackendTask for Task {
    type Output = Result<Written>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let a = &self.args;
        let mut model = Model::<B::InnerBackend>::load(&a.checkpoint, &device)?;
        if a.common.device.is_cpu() {
            model.fuse_for_cpu();
        }
        let s = model.surrogate();
        let schema = s.schema();
        let space = &schema.space;
        let names = schema.target_names();
        let t = match &a.target {
            Some(name) => names
                .iter()
                .position(|n| n == name)
                .with_context(|| format!("--target {name}: the checkpoint predicts {names:?}"))?,
            None => 0,
        };
        let target = names[t].clone();
        let spec = match &a.objective {
            Some(p) => ObjectiveSpec::from_file(p)?,
            None => ObjectiveSpec::default(),
        };
        let objective = Objective::new(&spec, schema, s.target_norm())?;
        if !schema.context.is_empty() {
            bail!(
                "the checkpoint has context inputs {:?}; reports cover mixture-only predictors",
                schema.context
            );
        }
        let scorer = Scorer {
            surrogate: s,
            objective: &objective,
            context: Vec::new(),
        };
        let logged = match &a.data {
            Some(p) => Some(Runs::load_with_schema(
                &DataSpec::from_file(p)?,
                schema,
                SchemaCheck::MixturesOnly,
            )?),
            None => None,
        };
        let moments = |sc: &Scores| -> Vec<(f64, f64)> {
            (0..sc.rows())
                .map(|i| {
                    let (m, v) = sc.target_moments(i, t);
                    (m, v.sqrt())
                })
                .collect()
        };

        // Recipes: the proposals file, or the best of a simulation.
        let (recipe_names, recipes) = match &a.proposals {
            Some(p) => read_proposals(p, &space.names())?,
            None => {
                let sampler = DirichletSampler::around(prior_weights(space, Prior::Tokens));
                let config = SimulateConfig {
                    samples: 50_000,
                    chunk: 8192,
                    top: 8,
                    seed: 0,
                };
                let mean = crate::acquisition::PosteriorMean;
                let sim = simulate(
                    &scorer,
                    &mean,
                    None,
                    &sampler,
                    &Constraints::simplex(space),
                    &config,
                    &mut (),
                )?;
                let names = (1..=sim.top_objective.len())
                    .map(|i| format!("simulated-{i}"))
                    .collect();
                (
                    names,
                    sim.top_objective.into_iter().map(|r| r.weights).collect(),
                )
            }
        };
        let recipe_pred = moments(&scorer.scores(&recipes)?);
        let bars: Vec<RecipeBar> = recipe_names
            .iter()
            .zip(&recipes)
            .zip(&recipe_pred)
            .take(10)
            .map(|((n, w), &(mean, std))| RecipeBar {
                name: n.clone(),
                weights: space.names().into_iter().zip(w.iter().copied()).collect(),
                mean,
                std,
            })
            .collect();

        // Out-of-fold parity and calibration.
        let oof = match &a.oof {
            Some(p) => read_oof(p, &target).map_err(|e| format!("{e:#}")),
            None => Err(
                "no out-of-fold predictions: run `mixatlas evaluate --data SPEC --folds 5 --predictions oof.csv` and pass --oof oof.csv"
                    .into(),
            ),
        };
        let calibration = oof.clone().map(|p| {
            (
                target.clone(),
                calibration_curve(&p.observed, &p.predicted, &p.std),
            )
        });

        // Partial dependence around the mean logged mixture (or the best recipe).
        let partial_dependence = if space.len() < 2 {
            Err(format!(
                "space `{}` has one domain: its share cannot move",
                space.name
            ))
        } else {
            let d = space.len();
            let base: Vec<f64> = match &logged {
                Some(r) if !r.is_empty() => (0..d)
                    .map(|j| r.mixtures.iter().map(|w| w[j]).sum::<f64>() / r.len() as f64)
                    .collect(),
                _ => recipes
                    .first()
                    .cloned()
                    .unwrap_or_else(|| vec![1.0 / d as f64; d]),
            };
            let mut panels = Vec::new();
            for i in 0..d {
                let seen = logged
                    .iter()
                    .flat_map(|r| r.mixtures.iter().map(|w| w[i]))
                    .chain(recipes.iter().map(|w| w[i]))
                    .fold(base[i], f64::max);
                let max_share = if logged.is_some() {
                    (seen * 1.1).clamp(0.05, 1.0)
                } else {
                    1.0
                };
                let (shares, path) = partial_dependence_path(&base, i, max_share, PD_STEPS);
                let pred = moments(&scorer.scores(&path)?);
                panels.push(PdPanel {
                    domain: space.domains[i].name.clone(),
                    shares,
                    mean: pred.iter().map(|p| p.0).collect(),
                    std: pred.iter().map(|p| p.1).collect(),
                    base_share: Some(base[i]),
                });
            }
            let spread = |p: &PdPanel| {
                p.mean.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    - p.mean.iter().copied().fold(f64::INFINITY, f64::min)
            };
            panels.sort_by(|x, y| spread(y).total_cmp(&spread(x)));
            panels.truncate(PD_PANELS);
            Ok((target.clone(), panels))
        };

        let heatmap = axis_heatmap(space, &recipe_names, &recipes);

        let projection = if space.len() < 2 {
            Err(format!(
                "space `{}` has one domain: every mixture is the same point",
                space.name
            ))
        } else {
            let logged_w: Vec<Vec<f64>> = logged.iter().flat_map(|r| r.mixtures.clone()).collect();
            let all: Vec<Vec<f64>> = logged_w.iter().chain(&recipes).cloned().collect();
            if all.len() < 3 {
                Err("fewer than three mixtures to project (pass --data for the logged runs)".into())
            } else {
                let (xy, explained) = pca_2d(&all);
                Ok(Projection {
                    logged: xy[..logged_w.len()].to_vec(),
                    recipes: xy[logged_w.len()..]
                        .iter()
                        .zip(&recipe_pred)
                        .map(|(&(x, y), p)| (x, y, p.0))
                        .collect(),
                    value_label: target.clone(),
                    explained,
                })
            }
        };

        let campaign = match &a.campaign {
            Some(dir) => campaign_plots::<B>(dir, a.common.device, &device)
                .unwrap_or_else(|e| Err(format!("{e:#}"))),
            None => Err("no campaign given (--campaign DIR)".into()),
        };

        let direction = schema.targets[t].direction;
        let mut summary = Vec::new();
        if let (Some(name), Some(&(m, sd))) = (recipe_names.first(), recipe_pred.first()) {
            let shares: Vec<String> = {
                let w = &recipes[0];
                let mut order: Vec<usize> = (0..w.len()).collect();
                order.sort_by(|&x, &y| w[y].total_cmp(&w[x]));
                order
                    .iter()
                    .take(4)
                    .map(|&j| format!("{} {:.3}", space.domains[j].name, w[j]))
                    .collect()
            };
            summary.push(format!(
                "Best recipe: {name} ({}), predicted {target} {m:.4} ± {sd:.4} (epistemic std; {} is better).",
                shares.join(", "),
                if direction == Direction::Lower { "lower" } else { "higher" }
            ));
        }
        match &oof {
            Ok(p) => {
                let m = score(&target, &p.predicted, &p.std, &p.observed);
                summary.push(format!(
                    "Held-out ranking: Spearman {:.3} over {} out-of-fold runs; 90% intervals cover {:.0}% of them.",
                    m.spearman,
                    p.observed.len(),
                    100.0 * m.coverage90
                ));
            }
            Err(reason) => summary.push(format!("Held-out ranking not measured: {reason}.")),
        }
        if let Ok(c) = &campaign
            && let Some(best) = c.best_so_far.last()
        {
            summary.push(format!(
                "Campaign: {} runs measured, best {} {best:.4}.",
                c.each_run.len(),
                c.value_label
            ));
        }
        let data = ReportData {
            title: format!(
                "mixatlas report: {} ({})",
                space.name,
                a.checkpoint.display()
            ),
            summary,
            parity: oof,
            calibration,
            partial_dependence,
            heatmap,
            recipes: if bars.is_empty() {
                Err("there are no recipes".into())
            } else {
                Ok((target.clone(), bars))
            },
            projection,
            campaign,
        };
        if a.out.exists() {
            std::fs::remove_dir_all(&a.out)
                .with_context(|| format!("removing {}", a.out.display()))?;
        }
        Ok(write(&data, &a.out, a.png)?)
    }
}

/// Names and weights (in `domains` order) of the proposals in a proposals.json.
fn read_proposals(path: &Path, domains: &[String]) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let list = doc["proposals"]
        .as_array()
        .with_context(|| format!("{}: no `proposals` list", path.display()))?;
    let mut names = Vec::new();
    let mut weights = Vec::new();
    for (i, p) in list.iter().enumerate() {
        names.push(
            p["name"]
                .as_str()
                .map_or(format!("proposal-{}", i + 1), String::from),
        );
        weights.push(
            domains
                .iter()
                .map(|d| {
                    p["weights"][d].as_f64().with_context(|| {
                        format!("{}: proposals[{i}].weights.{d} is missing", path.display())
                    })
                })
                .collect::<Result<Vec<f64>>>()?,
        );
    }
    Ok((names, weights))
}

/// Observed value, mean and total std of `target` from an out-of-fold predictions CSV.
fn read_oof(path: &Path, target: &str) -> Result<Parity> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = r.headers()?.iter().map(String::from).collect();
    let col = |suffix: &str| {
        let name = format!("{target}_{suffix}");
        header.iter().position(|h| *h == name).with_context(|| {
            format!(
                "{}: missing column `{name}` (write it with `evaluate --folds`)",
                path.display()
            )
        })
    };
    let (o, m, s) = (col("observed")?, col("mean")?, col("total_std")?);
    let mut p = Parity {
        target: target.into(),
        observed: Vec::new(),
        predicted: Vec::new(),
        std: Vec::new(),
    };
    for (i, row) in r.records().enumerate() {
        let row = row.with_context(|| format!("{}:{}", path.display(), i + 2))?;
        let num = |c: usize| -> Result<f64> {
            row.get(c)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .with_context(|| {
                    format!(
                        "{}:{}: column `{}` is not a number",
                        path.display(),
                        i + 2,
                        header[c]
                    )
                })
        };
        p.observed.push(num(o)?);
        p.predicted.push(num(m)?);
        p.std.push(num(s)?);
    }
    if p.observed.len() < 2 {
        bail!("{}: fewer than two rows", path.display());
    }
    Ok(p)
}

/// Best-so-far and per-round epistemic std of a campaign; `Ok(Err(reason))` when there is
/// nothing to draw yet.
fn campaign_plots<B: AutodiffBackend>(
    dir: &Path,
    kind: DeviceKind,
    device: &B::Device,
) -> Result<Result<CampaignPlots, String>> {
    let c = Campaign::open(dir)?;
    if c.results.is_empty() {
        return Ok(Err(format!(
            "campaign {} has no measured runs yet",
            dir.display()
        )));
    }
    let runs = c.runs();
    let targets = runs.schema.target_names();
    let (value_label, each_run): (String, Vec<f64>) = if targets.len() == 1 {
        let sign = if runs.schema.targets[0].direction == Direction::Lower {
            -1.0
        } else {
            1.0
        };
        (
            targets[0].clone(),
            runs.outcomes.iter().map(|o| sign * o[0]).collect(),
        )
    } else {
        let norm = Normalizer::fit(&runs.outcomes);
        let spec = ObjectiveSpec {
            normalize: Normalize::Standardize,
            ..ObjectiveSpec::default()
        };
        let o = Objective::new(&spec, &runs.schema, &norm)?;
        (
            "objective (mean z-score of the targets)".into(),
            runs.outcomes.iter().map(|y| o.value(y)).collect(),
        )
    };
    let mut best = f64::NEG_INFINITY;
    let best_so_far = each_run
        .iter()
        .map(|&v| {
            best = best.max(v);
            best
        })
        .collect();
    let mut epistemic_by_round = Vec::new();
    let rounds: std::collections::BTreeSet<usize> = c.planned.iter().map(|p| p.0).collect();
    for round in rounds {
        let model_dir = dir.join("rounds").join(format!("{round:03}")).join("model");
        if !model_dir.exists() {
            continue;
        }
        let mut model = Model::<B::InnerBackend>::load(&model_dir, device)?;
        if kind.is_cpu() {
            model.fuse_for_cpu();
        }
        let s = model.surrogate();
        let planned: Vec<_> = c
            .planned
            .iter()
            .filter(|p| p.0 == round)
            .map(|p| &p.1)
            .collect();
        let mut sums = vec![0.0; targets.len()];
        for p in &planned {
            let post = s.posterior(std::slice::from_ref(&p.weights), &p.context)?;
            for (j, sum) in sums.iter_mut().enumerate() {
                *sum += post.moments(0, j).1.sqrt();
            }
        }
        epistemic_by_round.push((
            round,
            sums.iter().map(|s| s / planned.len() as f64).collect(),
        ));
    }
    let sign_note = if targets.len() == 1 && runs.schema.targets[0].direction == Direction::Lower {
        format!("-{value_label} (higher is better)")
    } else {
        value_label
    };
    Ok(Ok(CampaignPlots {
        value_label: sign_note,
        each_run,
        best_so_far,
        targets,
        epistemic_by_round,
    }))
}

pub fn run(args: ReportArgs) -> Result<()> {
    if args.out.exists() && !args.force {
        bail!("{} exists; pass --force to replace it", args.out.display());
    }
    let out = args.out.clone();
    let written = args.common.device.dispatch(Task { args })??;
    for (name, reason) in &written.skipped {
        println!("not drawn: {name}: {reason}");
    }
    println!(
        "wrote {} and {} figure files in {}",
        written.html.display(),
        written.figures.len(),
        out.join("figures").display()
    );
    Ok(())
}
