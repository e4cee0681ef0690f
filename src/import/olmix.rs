//! Olmix fit configs (`olmix fit --config FIT.yaml`; the schema is `FitConfig` in
//! `olmix/fit/config.py` of allenai/olmix, read there with `yaml.safe_load`):
//!
//! | Olmix field | mixatlas file |
//! |---|---|
//! | `priors.token_counts` (domain -> tokens; `relative_sizes` is derived and ignored) | `space.toml`: one domain each, with `tokens` |
//! | `constraints` (`enabled`, `target_tokens`, `repetition_factor`) | `constraints.toml`: `[tokens] budget, max_epochs` when enabled |
//! | `filtering.fixed_weight` (numbers or `"7/52.0"` fractions) | `constraints.toml`: `frozen` |
//! | `eval.tasks` (`inloop`: family -> task -> metric; `offline`: family -> metrics), minus `filtering.drop_metrics` | `data.toml` targets: one per metric, or one per family (`mean_of`) with `regression.aggregate_task_families` |
//! | `filtering.obj_weights` (by target) | `objective.toml`: one term per target, weight 1 when none are given |
//! | `swarm.ratios`, `swarm.metrics` (CSV, relative to the working directory Olmix runs in; tried against the config's directory too) | `data.toml`: mixtures and outcomes joined on `run` |
//!
//! Olmix's metrics are bits per byte, so every target is `direction = "lower"`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::{ImportError, Imported, number, read_yaml, toml_str};
use crate::runs::{DataSpec, Direction, Table, TargetSpec};
use crate::space::Space;

/// Reads the Olmix fit config at `path` into a space, constraints, objective and data spec.
pub fn import(path: &Path) -> crate::Result<Imported> {
    let doc = read_yaml(path)?;
    let bad = |field: &str, problem: String| ImportError::Field {
        path: path.to_owned(),
        field: field.to_owned(),
        problem,
    };
    let get = |dotted: &str| -> Option<&Value> {
        dotted
            .split('.')
            .try_fold(&doc, |v, key| v.as_mapping()?.get(key))
    };
    let mapping = |dotted: &str| -> Result<Vec<(String, &Value)>, ImportError> {
        match get(dotted) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Mapping(m)) => m
                .iter()
                .map(|(k, v)| match k.as_str() {
                    Some(k) => Ok((k.to_owned(), v)),
                    None => Err(bad(dotted, format!("key {k:?} is not a name"))),
                })
                .collect(),
            Some(other) => Err(bad(dotted, format!("expected a mapping, found {other:?}"))),
        }
    };

    // Space: the sources and their token counts.
    let counts = mapping("priors.token_counts")?;
    if counts.is_empty() {
        return Err(bad(
            "priors.token_counts",
            "missing or empty: Olmix's priors need a token count per source".into(),
        )
        .into());
    }
    let names: Vec<String> = counts.iter().map(|c| c.0.clone()).collect();
    let stem = path
        .file_stem()
        .map_or("olmix".into(), |s| s.to_string_lossy().into_owned());
    let mut space = Space::from_names(&stem, &names)?;
    for ((name, value), domain) in counts.iter().zip(&mut space.domains) {
        let field = format!("priors.token_counts.{name}");
        let tokens =
            number(value).ok_or_else(|| bad(&field, format!("{value:?} is not a number")))?;
        if !(tokens.is_finite() && tokens > 0.0) {
            return Err(bad(
                &field,
                format!("{tokens} tokens: a source without tokens cannot be sampled (drop it)"),
            )
            .into());
        }
        domain.tokens = Some(tokens);
    }
    let mut out = Imported::default();
    out.add(
        "space.toml",
        format!(
            "# Imported from the Olmix fit config {}\n{}",
            path.display(),
            toml::to_string(&space).expect("a space serialises")
        ),
    );

    // Constraints.
    let mut constraints = format!("# Imported from the Olmix fit config {}\n", path.display());
    let fixed = mapping("filtering.fixed_weight")?;
    if !fixed.is_empty() {
        constraints.push_str("frozen = { ");
        let mut entries = Vec::new();
        for (name, value) in &fixed {
            let field = format!("filtering.fixed_weight.{name}");
            if !names.contains(name) {
                return Err(bad(&field, "not a source of priors.token_counts".into()).into());
            }
            let w =
                fraction(value).ok_or_else(|| bad(&field, format!("{value:?} is not a weight")))?;
            if !(0.0..=1.0).contains(&w) {
                return Err(bad(&field, format!("{w} is not a weight in [0, 1]")).into());
            }
            entries.push(format!("{} = {w:?}", toml_str(name)));
        }
        constraints.push_str(&entries.join(", "));
        constraints.push_str(" }\n");
    }
    if get("constraints.enabled").and_then(Value::as_bool) == Some(true) {
        let budget = get("constraints.target_tokens")
            .and_then(number)
            .filter(|t| t.is_finite() && *t > 0.0)
            .ok_or_else(|| {
                bad(
                    "constraints.target_tokens",
                    "constraints are enabled, so the token budget must be a positive number".into(),
                )
            })?;
        let epochs = match get("constraints.repetition_factor") {
            None => 5.0, // ConstraintsConfig's default
            Some(v) => number(v)
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| {
                    bad(
                        "constraints.repetition_factor",
                        format!("{v:?} is not a positive number"),
                    )
                })?,
        };
        let _ = write!(
            constraints,
            "[tokens]\nbudget = {budget:?}\nmax_epochs = {epochs:?}\n"
        );
    }
    out.add("constraints.toml", constraints);

    // Targets: the eval metrics, per metric or per family.
    let families = mapping("eval.tasks")?;
    if families.is_empty() {
        return Err(bad("eval.tasks", "missing or empty: no metrics to fit".into()).into());
    }
    let dropped: Vec<String> = match get("filtering.drop_metrics") {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let mut by_family: Vec<(String, Vec<String>)> = Vec::new();
    for (family, tasks) in &families {
        let field = format!("eval.tasks.{family}");
        let metrics: Vec<String> = match tasks {
            // inloop: task id -> W&B metric name (the CSV column)
            Value::Mapping(m) => m
                .values()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            // offline: metric names
            Value::Sequence(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            other => return Err(bad(&field, format!("expected metrics, found {other:?}")).into()),
        };
        let metrics: Vec<String> = metrics
            .into_iter()
            .filter(|m| !dropped.contains(m))
            .collect();
        if !metrics.is_empty() {
            by_family.push((family.clone(), metrics));
        }
    }
    let aggregate =
        get("regression.aggregate_task_families").and_then(Value::as_bool) == Some(true);
    let targets: Vec<TargetSpec> = if aggregate {
        (by_family.iter())
            .map(|(family, metrics)| TargetSpec {
                mean_of: metrics.clone(),
                ..TargetSpec::new(family.clone(), Direction::Lower)
            })
            .collect()
    } else {
        (by_family.iter().flat_map(|f| f.1.iter()))
            .map(|m| TargetSpec::new(m.clone(), Direction::Lower))
            .collect()
    };
    let metrics: Vec<&String> = by_family.iter().flat_map(|f| f.1.iter()).collect();

    // Objective.
    let weights = mapping("filtering.obj_weights")?;
    let mut objective = format!("# Imported from the Olmix fit config {}\n", path.display());
    let weight_of: BTreeMap<String, f64> = weights
        .iter()
        .map(|(name, value)| {
            let field = format!("filtering.obj_weights.{name}");
            if !targets.iter().any(|t| &t.name == name) {
                return Err(bad(
                    &field,
                    format!(
                        "not a target (targets: {})",
                        join(targets.iter().map(|t| &t.name))
                    ),
                ));
            }
            let w = fraction(value).filter(|w| w.is_finite() && *w >= 0.0);
            Ok((
                name.clone(),
                w.ok_or_else(|| bad(&field, format!("{value:?} is not a weight")))?,
            ))
        })
        .collect::<Result<_, _>>()?;
    for t in &targets {
        let w = if weight_of.is_empty() {
            1.0
        } else {
            weight_of.get(&t.name).copied().unwrap_or(0.0)
        };
        if w > 0.0 {
            let _ = write!(
                objective,
                "\n[[term]]\ntarget = {}\nweight = {w:?}\n",
                toml_str(&t.name)
            );
        }
    }
    out.add("objective.toml", objective);

    // Data spec over the swarm's CSVs.
    let base = path.parent().unwrap_or(Path::new("."));
    let locate = |field: &str| -> Result<PathBuf, ImportError> {
        let file = get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(field, "missing: the swarm's CSV file".into()))?;
        let candidates = [PathBuf::from(file), base.join(file)];
        candidates
            .iter()
            .find(|p| p.is_file())
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .ok_or_else(|| {
                bad(
                    field,
                    format!("{file}: no such file here or beside the config"),
                )
            })
    };
    let ratios = locate("swarm.ratios")?;
    let outcomes = locate("swarm.metrics")?;
    let ratio_columns = Table::read(&ratios)?.header;
    let outcome_columns = Table::read(&outcomes)?.header;
    let key = ["run", "name"]
        .into_iter()
        .find(|k| ratio_columns.iter().any(|c| c == k) && outcome_columns.iter().any(|c| c == k))
        .ok_or_else(|| {
            bad(
                "swarm.ratios",
                format!(
                    "{}: no `run` column shared with swarm.metrics",
                    ratios.display()
                ),
            )
        })?;
    for name in &names {
        if !ratio_columns.contains(name) {
            return Err(bad(
                "swarm.ratios",
                format!("{}: no column for source `{name}`", ratios.display()),
            )
            .into());
        }
    }
    for m in &metrics {
        if !outcome_columns.contains(m) {
            return Err(bad(
                "eval.tasks",
                format!("metric `{m}` is not a column of {}", outcomes.display()),
            )
            .into());
        }
    }
    let mut ignore: Vec<String> = (ratio_columns.iter())
        .filter(|c| *c != key && !names.contains(c))
        .chain(
            outcome_columns
                .iter()
                .filter(|c| *c != key && !metrics.contains(c)),
        )
        .cloned()
        .collect();
    ignore.sort();
    ignore.dedup();
    let spec = DataSpec {
        space: Some("space.toml".into()),
        mixtures: ratios,
        outcomes: Some(outcomes),
        key: Some(key.to_owned()),
        mixture_columns: Vec::new(),
        mixture_prefix: None,
        context: Vec::new(),
        targets,
        ignore,
        renormalize: false,
        tolerance: 0.01,
    };
    out.add(
        "data.toml",
        format!(
            "# Imported from the Olmix fit config {} (bits per byte: lower is better)\n{}",
            path.display(),
            toml::to_string(&spec).expect("a data spec serialises")
        ),
    );
    let constraint_note = if get("constraints.enabled").and_then(Value::as_bool) == Some(true) {
        "a token budget with a repetition cap"
    } else {
        "no token constraint (constraints.enabled is false)"
    };
    out.notes.push(format!(
        "{} sources, {} target(s), {} fixed weight(s), {constraint_note}",
        names.len(),
        spec.targets.len(),
        fixed.len()
    ));
    Ok(out)
}

/// A weight as Olmix's `FitConfig.from_yaml` reads it: a number or a `"a/b"` fraction.
fn fraction(value: &Value) -> Option<f64> {
    if let Some((a, b)) = value.as_str().and_then(|s| s.split_once('/')) {
        let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        return (b != 0.0).then(|| a / b);
    }
    number(value)
}

fn join<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items.map(String::as_str).collect::<Vec<_>>().join(", ")
}
