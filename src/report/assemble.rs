//! Turns a fitted surrogate and the user's files into [`ReportData`]: the recipes (a proposals
//! file, or the best of a simulation), partial dependence, the axis heatmap, the PCA
//! projection, and the summary sentences. Each figure's data is computed here or replaced by
//! the reason it cannot be.

use std::path::Path;

use burn::prelude::Backend;

use super::analysis::{axis_heatmap, calibration_curve, partial_dependence_path, pca_2d};
use super::{
    CampaignPlots, Parity, PdPanel, Projection, RecipeBar, ReportData, ReportError, TargetSection,
};
use crate::acquisition::{AcquisitionKind, PosteriorMean, Scorer, Scores};
use crate::campaign::Campaign;
use crate::objective::{Normalize, Objective, ObjectiveSpec};
use crate::runs::{Direction, Runs};
use crate::simulate::{SimulateConfig, simulate};
use crate::space::sampler::{DirichletSampler, Prior, prior_weights};
use crate::space::{Constraints, Space};
use crate::surrogate::metrics::score;
use crate::surrogate::{Fitted, Normalizer, Surrogate};

/// Points on each partial-dependence curve.
const PD_STEPS: usize = 21;
/// Panels drawn: the domains whose curves move most.
const PD_PANELS: usize = 12;
/// Recipes drawn as bars.
const RECIPE_BARS: usize = 10;
/// Mixtures simulated when no proposals file is given, and the best kept.
const SIMULATED: (u64, usize) = (50_000, 8);

/// What a report is made from.
pub struct Inputs<'a> {
    /// The fitted model.
    pub surrogate: &'a dyn Surrogate,
    /// The model's context inputs `[context]`, held fixed for every figure (empty for a
    /// mixture-only model).
    pub context: Vec<f64>,
    /// Sentences put first in the summary (what the context was held at, say).
    pub notes: Vec<String>,
    /// The objective the simulated recipes maximise.
    pub objective: &'a ObjectiveSpec,
    /// Indices of the targets shown, one section each; the first is the one the summary
    /// speaks of.
    pub targets: Vec<usize>,
    /// Logged runs (mixtures only are read), for partial dependence and the projection.
    pub logged: Option<&'a Runs>,
    /// Named, ranked recipes, e.g. from [`read_proposals`]; `None` simulates the best ones.
    pub recipes: Option<Recipes>,
    /// Out-of-fold predictions of each target of `targets`, or why there are none.
    pub oof: Vec<Result<Parity, String>>,
    /// A campaign's progress, or why there is none.
    pub campaign: Result<CampaignPlots, String>,
    /// A backtest's summary (`backtest.json`), or why there is none.
    pub backtest: Result<crate::evaluation::backtest::Summary, String>,
    /// Page title.
    pub title: String,
}

/// Recipes in rank order, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipes {
    /// Their names.
    pub names: Vec<String>,
    /// Their weights, `[n][domains]` in the space's order.
    pub weights: Vec<Vec<f64>>,
    /// What ranked them, in words: "the predicted objective" or `propose`'s acquisition.
    pub ranked_by: String,
}

/// The data of every figure and the summary.
pub fn assemble(inputs: Inputs<'_>) -> crate::Result<ReportData> {
    let s = inputs.surrogate;
    let schema = s.schema();
    let space = &schema.space;
    let objective = Objective::new(inputs.objective, schema, s.target_norm())?;
    let scorer = Scorer {
        surrogate: s,
        objective: &objective,
        context: inputs.context.clone(),
        members: false,
    };
    let Recipes {
        names,
        weights: recipes,
        ranked_by,
    } = match inputs.recipes {
        Some(r) => r,
        None => simulated_recipes(&scorer, space)?,
    };
    let mut sections = Vec::with_capacity(inputs.targets.len());
    for (&t, oof) in inputs.targets.iter().zip(inputs.oof) {
        let moments = |m: &[Vec<f64>]| scorer.scores(m).map(|sc| target_moments(&sc, t));
        sections.push(target_section(
            space,
            &schema.targets[t].name,
            &names,
            &recipes,
            oof,
            inputs.logged,
            &moments,
        )?);
    }
    let first = *(inputs.targets.first()).ok_or_else(|| ReportError::Input {
        path: "--target".into(),
        problem: "no target to report on".into(),
    })?;
    let target = schema.targets[first].name.clone();
    let moments = |m: &[Vec<f64>]| scorer.scores(m).map(|sc| target_moments(&sc, first));
    let predicted = moments(&recipes)?;
    let projection = projection(space, inputs.logged, &recipes, &predicted, &target);
    let direction = schema.targets[first].direction;
    let best = (names.first().zip(recipes.first()).zip(predicted.first()))
        .map(|((n, w), &p)| (n.as_str(), w.as_slice(), p));
    let mut summary = inputs.notes.clone();
    summary.extend(self::summary(
        space,
        &target,
        direction,
        best,
        &ranked_by,
        &sections,
        &inputs.campaign,
    ));
    summary.extend(better_on_target(
        &names, &predicted, &target, direction, &ranked_by,
    ));
    if let (Some(best), true) = (recipes.first(), schema.targets.len() > 1) {
        // Per-task uncertainty: which targets the best recipe is least sure of.
        let sc = scorer.scores(std::slice::from_ref(best))?;
        let per: Vec<(f64, f64)> = (0..schema.targets.len())
            .map(|t| target_moments(&sc, t)[0])
            .collect();
        summary.push(format!(
            "The best recipe's most uncertain targets (epistemic std, and its share of the \
             target's spread over the training runs): {}.",
            crate::export::most_uncertain(&schema.target_names(), &per, &s.target_norm().std, 3)
        ));
    }
    if let (Some((_, _, recipe)), Some(logged)) = (best, inputs.logged) {
        summary.extend(versus_best_logged(
            logged, first, direction, recipe, &moments,
        )?);
    }
    Ok(ReportData {
        title: inputs.title,
        summary,
        sections,
        heatmap: axis_heatmap(space, &names, &recipes),
        projection,
        campaign: inputs.campaign,
        backtest: inputs.backtest,
    })
}

/// One target's figures: parity and calibration from its out-of-fold predictions `oof`,
/// partial dependence, and the recipes' bars with its predictions (`moments`).
fn target_section(
    space: &Space,
    target: &str,
    names: &[String],
    recipes: &[Vec<f64>],
    oof: Result<Parity, String>,
    logged: Option<&Runs>,
    moments: &Moments<'_>,
) -> crate::Result<TargetSection> {
    let predicted = moments(recipes)?;
    let bars: Vec<RecipeBar> = (names.iter().zip(recipes).zip(&predicted))
        .take(RECIPE_BARS)
        .map(|((n, w), &(mean, std))| RecipeBar {
            name: n.clone(),
            weights: space.names().into_iter().zip(w.iter().copied()).collect(),
            mean,
            std,
        })
        .collect();
    let partial_dependence = match space.len() {
        0 | 1 => Err(format!(
            "space `{}` has one domain: its share cannot move",
            space.name
        )),
        _ => Ok(pd_panels(space, logged, recipes, moments)?),
    };
    Ok(TargetSection {
        target: target.to_owned(),
        calibration: (oof.clone()).map(|p| calibration_curve(&p.observed, &p.predicted, &p.std)),
        parity: oof,
        partial_dependence,
        recipes: if bars.is_empty() {
            Err("there are no recipes".into())
        } else {
            Ok(bars)
        },
    })
}

/// Mean and epistemic std of target `t` per row.
fn target_moments(sc: &Scores, t: usize) -> Vec<(f64, f64)> {
    (0..sc.rows())
        .map(|i| {
            let (m, v) = sc.target_moments(i, t);
            (m, v.sqrt())
        })
        .collect()
}

/// The best of a simulation by the posterior mean of the objective.
fn simulated_recipes(scorer: &Scorer<'_>, space: &Space) -> crate::Result<Recipes> {
    let sampler = DirichletSampler::around(prior_weights(space, Prior::Tokens));
    let config = SimulateConfig {
        samples: SIMULATED.0,
        chunk: 8192,
        top: SIMULATED.1,
        seed: 0,
        host_draws: false,
    };
    let constraints = Constraints::simplex(space);
    let sim = simulate(
        scorer,
        &PosteriorMean,
        None,
        &sampler,
        &constraints,
        &config,
        &mut (),
    )?;
    let names = (1..=sim.top_objective.len())
        .map(|i| format!("simulated-{i}"))
        .collect();
    Ok(Recipes {
        names,
        weights: sim.top_objective.into_iter().map(|r| r.weights).collect(),
        ranked_by: AcquisitionKind::Mean.meaning().into(),
    })
}

/// A sentence when a recipe other than the first has the best predicted `target`: the
/// ranking weighs more than that target's mean (uncertainty, other targets), and says what.
fn better_on_target(
    names: &[String],
    predicted: &[(f64, f64)],
    target: &str,
    direction: Direction,
    ranked_by: &str,
) -> Option<String> {
    let sign = if direction == Direction::Lower {
        -1.0
    } else {
        1.0
    };
    let best = (0..predicted.len())
        .max_by(|&a, &b| (sign * predicted[a].0).total_cmp(&(sign * predicted[b].0)))?;
    // Strictly better than the first: a tie with it needs no explanation.
    (sign * predicted[best].0 > sign * predicted[0].0).then(|| {
        format!(
            "{} has the best predicted {target} ({:.4}) but ranks {}: the recipes are ranked by \
             {ranked_by}, not by the mean of {target} alone.",
            names[best],
            predicted[best].0,
            best + 1
        )
    })
}

type Moments<'a> =
    dyn Fn(&[Vec<f64>]) -> Result<Vec<(f64, f64)>, crate::surrogate::SurrogateError> + 'a;

/// Partial dependence around the mean logged mixture (or the best recipe): the domains whose
/// curves move most, each up to a little past the largest share seen.
fn pd_panels(
    space: &Space,
    logged: Option<&Runs>,
    recipes: &[Vec<f64>],
    moments: &Moments<'_>,
) -> crate::Result<Vec<PdPanel>> {
    let d = space.len();
    let base: Vec<f64> = match logged {
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
        let seen = (logged.iter().flat_map(|r| r.mixtures.iter().map(|w| w[i])))
            .chain(recipes.iter().map(|w| w[i]))
            .fold(base[i], f64::max);
        let max_share = if logged.is_some() {
            (seen * 1.1).clamp(0.05, 1.0)
        } else {
            1.0
        };
        let (shares, path) = partial_dependence_path(&base, i, max_share, PD_STEPS);
        let pred = moments(&path)?;
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
    Ok(panels)
}

/// The logged runs and recipes on their first two principal components.
fn projection(
    space: &Space,
    logged: Option<&Runs>,
    recipes: &[Vec<f64>],
    predicted: &[(f64, f64)],
    target: &str,
) -> Result<Projection, String> {
    if space.len() < 2 {
        return Err(format!(
            "space `{}` has one domain: every mixture is the same point",
            space.name
        ));
    }
    let logged_w: Vec<Vec<f64>> = logged.iter().flat_map(|r| r.mixtures.clone()).collect();
    let all: Vec<Vec<f64>> = logged_w.iter().chain(recipes).cloned().collect();
    if all.len() < 3 {
        return Err(
            "fewer than three mixtures to project (pass --data for the logged runs)".into(),
        );
    }
    let (xy, explained) = pca_2d(&all);
    Ok(Projection {
        logged: xy[..logged_w.len()].to_vec(),
        recipes: (xy[logged_w.len()..].iter().zip(predicted))
            .map(|(&(x, y), p)| (x, y, p.0))
            .collect(),
        value_label: target.to_owned(),
        explained,
    })
}

/// How the best recipe compares with the best logged run (by observed outcome of `target`),
/// both as the model predicts them: the difference of the predicted means, its std (the two
/// epistemic stds combined as independent) and the probability that the recipe is better.
/// `None` when the logged runs carry no outcomes.
fn versus_best_logged(
    logged: &Runs,
    target: usize,
    direction: Direction,
    (mean, std): (f64, f64),
    moments: &Moments<'_>,
) -> crate::Result<Option<String>> {
    let sign = if direction == Direction::Lower {
        -1.0
    } else {
        1.0
    };
    let observed = |i: usize| logged.outcomes[i].get(target).map(|y| sign * y);
    let Some(best) = (0..logged.len())
        .filter(|&i| observed(i).is_some())
        .max_by(|&a, &b| observed(a).unwrap().total_cmp(&observed(b).unwrap()))
    else {
        return Ok(None);
    };
    let (m, s) = moments(std::slice::from_ref(&logged.mixtures[best]))?[0];
    let diff = mean - m;
    let sd = (std * std + s * s).sqrt();
    let improvement = crate::math::normal_cdf(sign * diff / sd.max(1e-300));
    let y = logged.outcomes[best][target];
    let name = &logged.schema.targets[target].name;
    let ranked = if logged.schema.targets.len() > 1 {
        " (recipes are ranked by the objective, over every target)"
    } else {
        ""
    };
    Ok(Some(format!(
        "On {name}, against the best logged run ({}, observed {y:.4}, predicted {m:.4}): the best \
         recipe is predicted {diff:+.4} ± {sd:.4} from it; probability that it is better on \
         {name}: {:.0}%{ranked}.",
        logged.keys[best],
        100.0 * improvement
    )))
}

/// The sentences shown first: the best recipe, held-out ranking, campaign progress.
fn summary(
    space: &Space,
    target: &str,
    direction: Direction,
    best: Option<(&str, &[f64], (f64, f64))>,
    ranked_by: &str,
    sections: &[TargetSection],
    campaign: &Result<CampaignPlots, String>,
) -> Vec<String> {
    let mut summary = Vec::new();
    if let Some((name, w, (m, sd))) = best {
        let shares = crate::export::top_domains(&space.names(), w, 4);
        let better = direction.word();
        summary.push(format!(
            "Best recipe: {name} ({shares}), ranked first by {ranked_by}; predicted {target} \
             {m:.4} ± {sd:.4} (epistemic std; {better} is better)."
        ));
    }
    // Every drawn target's held-out ranking, in one sentence.
    let measured: Vec<(String, usize)> = (sections.iter())
        .filter_map(|s| {
            let p = s.parity.as_ref().ok()?;
            let m = score(&s.target, &p.predicted, &p.std, &p.observed);
            let figures = format!(
                "{} Spearman {:.3}, 90% intervals cover {:.0}%",
                s.target,
                m.spearman,
                100.0 * m.coverage90
            );
            Some((figures, p.observed.len()))
        })
        .collect();
    match (measured.first(), sections.first().map(|s| &s.parity)) {
        (Some(&(_, runs)), _) => summary.push(format!(
            "Held-out ranking over {runs} out-of-fold runs: {}.",
            (measured.iter().map(|(f, _)| f.as_str()))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        (None, Some(Err(reason))) => {
            summary.push(format!("Held-out ranking not measured: {reason}."))
        }
        _ => {}
    }
    if let Ok(c) = campaign
        && let Some(best) = c.best_so_far.last()
    {
        summary.push(format!(
            "Campaign: {} runs measured, best {} {best:.4}.",
            c.each_run.len(),
            c.value_label
        ));
    }
    summary
}

fn input_error(path: &Path, problem: impl Into<String>) -> ReportError {
    ReportError::Input {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// The proposals of a `proposals.json` in its order, with weights in `domains` order and the
/// acquisition that ranked them.
pub fn read_proposals(path: &Path, domains: &[String]) -> crate::Result<Recipes> {
    let text = crate::io::read_text(path)?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| input_error(path, format!("not JSON: {e}")))?;
    let list =
        (doc["proposals"].as_array()).ok_or_else(|| input_error(path, "no `proposals` list"))?;
    let mut names = Vec::new();
    let mut weights = Vec::new();
    for (i, p) in list.iter().enumerate() {
        names.push(
            p["name"]
                .as_str()
                .map_or(format!("proposal-{}", i + 1), String::from),
        );
        let w = domains
            .iter()
            .map(|d| {
                p["weights"][d].as_f64().ok_or_else(|| {
                    input_error(path, format!("proposals[{i}].weights.{d} is missing"))
                })
            })
            .collect::<Result<Vec<f64>, _>>()?;
        weights.push(w);
    }
    // `ucb(beta=1.000)`: the kind, then its parameters.
    let acquisition = doc["acquisition"].as_str().unwrap_or_default();
    let kind = acquisition.split('(').next().unwrap_or_default();
    let ranked_by = match serde_json::from_value::<AcquisitionKind>(kind.into()) {
        Ok(kind) => format!(
            "`propose`'s acquisition `{acquisition}`, {}",
            kind.meaning()
        ),
        Err(_) => "`propose`'s acquisition".into(),
    };
    Ok(Recipes {
        names,
        weights,
        ranked_by,
    })
}

/// Observed value, mean and total std of `target` from an out-of-fold predictions CSV (as
/// `evaluate --folds --predictions` writes it).
pub fn read_oof(path: &Path, target: &str) -> crate::Result<Parity> {
    let mut r = csv::Reader::from_path(path).map_err(|e| input_error(path, e.to_string()))?;
    let header: Vec<String> = (r.headers().map_err(|e| input_error(path, e.to_string()))?)
        .iter()
        .map(String::from)
        .collect();
    let col = |suffix: &str| {
        let name = format!("{target}_{suffix}");
        header.iter().position(|h| *h == name).ok_or_else(|| {
            input_error(
                path,
                format!("missing column `{name}` (write it with `evaluate --folds`)"),
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
        let line = i + 2;
        let row = row.map_err(|e| input_error(path, format!("line {line}: {e}")))?;
        let num = |c: usize| {
            (row.get(c).and_then(|v| v.trim().parse::<f64>().ok()))
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    input_error(
                        path,
                        format!("line {line}: column `{}` is not a number", header[c]),
                    )
                })
        };
        p.observed.push(num(o)?);
        p.predicted.push(num(m)?);
        p.std.push(num(s)?);
    }
    if p.observed.len() < 2 {
        return Err(input_error(path, "fewer than two rows").into());
    }
    Ok(p)
}

/// Best-so-far and per-round epistemic std of campaign `c` (each round's saved surrogate
/// loaded on `device`); `Ok(Err(reason))` when there is nothing to draw yet.
pub fn campaign_plots<B: Backend>(
    c: &Campaign,
    device: &B::Device,
) -> crate::Result<Result<CampaignPlots, String>> {
    if c.results.is_empty() {
        return Ok(Err(format!(
            "campaign {} has no measured runs yet",
            c.dir.display()
        )));
    }
    let runs = c.runs();
    let targets = runs.schema.target_names();
    let lower = targets.len() == 1 && runs.schema.targets[0].direction == Direction::Lower;
    let (value_label, each_run): (String, Vec<f64>) = if targets.len() == 1 {
        let sign = if lower { -1.0 } else { 1.0 };
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
        let label = "objective (mean z-score of the targets)".to_owned();
        (label, runs.outcomes.iter().map(|y| o.value(y)).collect())
    };
    let best_so_far = each_run
        .iter()
        .scan(f64::NEG_INFINITY, |best, &v| {
            *best = f64::max(*best, v);
            Some(*best)
        })
        .collect();
    let mut epistemic_by_round = Vec::new();
    let rounds: std::collections::BTreeSet<usize> = c.planned.iter().map(|p| p.0).collect();
    for round in rounds {
        let model_dir = c.round_dir(round).join("model");
        if !model_dir.exists() {
            continue;
        }
        // A handful of rows per round: the host copy scores them at once on any device.
        let model = Fitted::<B>::load(&model_dir, device)?.with_fused_cpu();
        let planned: Vec<_> = c
            .planned
            .iter()
            .filter(|p| p.0 == round)
            .map(|p| &p.1)
            .collect();
        let mut sums = vec![0.0; targets.len()];
        for p in &planned {
            let post =
                (model.surrogate()).posterior(std::slice::from_ref(&p.weights), &p.context)?;
            for (j, sum) in sums.iter_mut().enumerate() {
                *sum += post.moments(0, j).1.sqrt();
            }
        }
        let mean = sums.iter().map(|s| s / planned.len() as f64).collect();
        epistemic_by_round.push((round, mean));
    }
    let value_label = if lower {
        format!("-{value_label} (higher is better)")
    } else {
        value_label
    };
    Ok(Ok(CampaignPlots {
        value_label,
        each_run,
        best_so_far,
        targets,
        epistemic_by_round,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_recipe_with_a_better_mean_is_explained() {
        let names: Vec<String> = ["p-1", "p-2", "p-3"].map(String::from).to_vec();
        let predicted = [(2.0, 0.3), (1.9, 0.1), (2.1, 0.2)];
        let said = better_on_target(&names, &predicted, "loss", Direction::Lower, "ucb").unwrap();
        assert!(
            said.starts_with("p-2 has the best predicted loss (1.9000) but ranks 2"),
            "{said}"
        );
        assert_eq!(
            better_on_target(&names, &predicted, "acc", Direction::Higher, "ucb")
                .as_deref()
                .map(|s| &s[..3]),
            Some("p-3")
        );
        let first_best = [(1.0, 0.1), (2.0, 0.1)];
        assert_eq!(
            better_on_target(&names[..2], &first_best, "loss", Direction::Lower, "mean"),
            None
        );
    }
}
