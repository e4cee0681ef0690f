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
    let fit = Fit {
        path,
        doc: read_yaml(path)?,
    };
    let header = format!("# Imported from the Olmix fit config {}\n", path.display());
    let space = fit.space()?;
    let names = space.names();
    let (constraints, fixed) = fit.constraints(&names)?;
    let (targets, metrics) = fit.targets()?;
    let objective = fit.objective(&targets)?;
    let target_count = targets.len();
    let spec = fit.data_spec(&names, &metrics, targets)?;
    let mut out = Imported::default();
    let space = toml::to_string(&space).expect("a space serialises");
    out.add("space.toml", format!("{header}{space}"));
    out.add("constraints.toml", format!("{header}{constraints}"));
    out.add("objective.toml", format!("{header}{objective}"));
    let spec = toml::to_string(&spec).expect("a data spec serialises");
    out.add(
        "data.toml",
        format!("{header}# Bits per byte: lower is better.\n{spec}"),
    );
    let tokens = if fit.enabled() {
        "a token budget with a repetition cap"
    } else {
        "no token constraint (constraints.enabled is false)"
    };
    out.notes.push(format!(
        "{} sources, {target_count} target(s), {fixed} fixed weight(s), {tokens}",
        names.len(),
    ));
    Ok(out)
}

/// A parsed fit config and where it came from (for errors).
struct Fit<'a> {
    path: &'a Path,
    doc: Value,
}

impl Fit<'_> {
    fn bad(&self, field: &str, problem: String) -> ImportError {
        ImportError::Field {
            path: self.path.to_owned(),
            field: field.to_owned(),
            problem,
        }
    }

    /// The value at a dotted path.
    fn get(&self, dotted: &str) -> Option<&Value> {
        dotted
            .split('.')
            .try_fold(&self.doc, |v, key| v.as_mapping()?.get(key))
    }

    /// The entries of the mapping at a dotted path (none when absent or null).
    fn mapping(&self, dotted: &str) -> Result<Vec<(String, &Value)>, ImportError> {
        match self.get(dotted) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Mapping(m)) => m
                .iter()
                .map(|(k, v)| match k.as_str() {
                    Some(k) => Ok((k.to_owned(), v)),
                    None => Err(self.bad(dotted, format!("key {k:?} is not a name"))),
                })
                .collect(),
            Some(other) => Err(self.bad(dotted, format!("expected a mapping, found {other:?}"))),
        }
    }

    fn enabled(&self) -> bool {
        self.get("constraints.enabled").and_then(Value::as_bool) == Some(true)
    }

    /// The sources of `priors.token_counts` with their tokens.
    fn space(&self) -> crate::Result<Space> {
        let counts = self.mapping("priors.token_counts")?;
        if counts.is_empty() {
            return Err(self
                .bad(
                    "priors.token_counts",
                    "missing or empty: Olmix's priors need a token count per source".into(),
                )
                .into());
        }
        let names: Vec<String> = counts.iter().map(|c| c.0.clone()).collect();
        let stem =
            (self.path.file_stem()).map_or("olmix".into(), |s| s.to_string_lossy().into_owned());
        let mut space = Space::from_names(&stem, &names)?;
        for ((name, value), domain) in counts.iter().zip(&mut space.domains) {
            let field = format!("priors.token_counts.{name}");
            let tokens = number(value)
                .ok_or_else(|| self.bad(&field, format!("{value:?} is not a number")))?;
            if !(tokens.is_finite() && tokens > 0.0) {
                let problem =
                    format!("{tokens} tokens: a source without tokens cannot be sampled (drop it)");
                return Err(self.bad(&field, problem).into());
            }
            domain.tokens = Some(tokens);
        }
        Ok(space)
    }

    /// The constraints file (frozen weights, token budget) and the number of fixed weights.
    fn constraints(&self, names: &[String]) -> Result<(String, usize), ImportError> {
        let mut text = String::new();
        let fixed = self.mapping("filtering.fixed_weight")?;
        if !fixed.is_empty() {
            let mut entries = Vec::new();
            let mut total = 0.0;
            for (name, value) in &fixed {
                let field = format!("filtering.fixed_weight.{name}");
                if !names.contains(name) {
                    return Err(self.bad(&field, "not a source of priors.token_counts".into()));
                }
                let w = fraction(value)
                    .ok_or_else(|| self.bad(&field, format!("{value:?} is not a weight")))?;
                if !(0.0..=1.0).contains(&w) {
                    return Err(self.bad(&field, format!("{w} is not a weight in [0, 1]")));
                }
                entries.push(format!("{} = {w:?}", toml_str(name)));
                total += w;
            }
            if total > 1.0 + crate::space::reuse::WEIGHT_SUM_TOLERANCE {
                let shown = (total * 1e6).round() / 1e6;
                let problem = format!("the fixed weights sum to {shown}, above 1");
                return Err(self.bad("filtering.fixed_weight", problem));
            }
            let _ = writeln!(text, "frozen = {{ {} }}", entries.join(", "));
        }
        if self.enabled() {
            let budget = (self.get("constraints.target_tokens").and_then(number))
                .filter(|t| t.is_finite() && *t > 0.0)
                .ok_or_else(|| {
                    let problem = "constraints are enabled, so the token budget must be a \
                                   positive number";
                    self.bad("constraints.target_tokens", problem.into())
                })?;
            let epochs = match self.get("constraints.repetition_factor") {
                None => 5.0, // ConstraintsConfig's default
                Some(v) => number(v)
                    .filter(|r| r.is_finite() && *r > 0.0)
                    .ok_or_else(|| {
                        let problem = format!("{v:?} is not a positive number");
                        self.bad("constraints.repetition_factor", problem)
                    })?,
            };
            let _ = write!(
                text,
                "[tokens]\nbudget = {budget:?}\nmax_epochs = {epochs:?}\n"
            );
        }
        Ok((text, fixed.len()))
    }

    /// The targets (one per metric, or per family with `aggregate_task_families`) and every
    /// metric they read, `drop_metrics` left out.
    fn targets(&self) -> Result<(Vec<TargetSpec>, Vec<String>), ImportError> {
        let families = self.mapping("eval.tasks")?;
        if families.is_empty() {
            return Err(self.bad("eval.tasks", "missing or empty: no metrics to fit".into()));
        }
        let names = |items: &mut dyn Iterator<Item = &Value>| -> Vec<String> {
            items.filter_map(|v| v.as_str().map(String::from)).collect()
        };
        let dropped = match self.get("filtering.drop_metrics") {
            Some(Value::Sequence(items)) => names(&mut items.iter()),
            _ => Vec::new(),
        };
        let mut by_family: Vec<(String, Vec<String>)> = Vec::new();
        for (family, tasks) in &families {
            let metrics = match tasks {
                // inloop: task id -> W&B metric name (the CSV column)
                Value::Mapping(m) => names(&mut m.values()),
                // offline: metric names
                Value::Sequence(items) => names(&mut items.iter()),
                other => {
                    let problem = format!("expected metrics, found {other:?}");
                    return Err(self.bad(&format!("eval.tasks.{family}"), problem));
                }
            };
            let metrics: Vec<String> = metrics
                .into_iter()
                .filter(|m| !dropped.contains(m))
                .collect();
            if !metrics.is_empty() {
                by_family.push((family.clone(), metrics));
            }
        }
        let aggregate = self
            .get("regression.aggregate_task_families")
            .and_then(Value::as_bool)
            == Some(true);
        let targets = if aggregate {
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
        Ok((targets, by_family.into_iter().flat_map(|f| f.1).collect()))
    }

    /// The objective file: `obj_weights` by target, or weight 1 for every target.
    fn objective(&self, targets: &[TargetSpec]) -> Result<String, ImportError> {
        let mut weight_of = BTreeMap::new();
        for (name, value) in self.mapping("filtering.obj_weights")? {
            let field = format!("filtering.obj_weights.{name}");
            if !targets.iter().any(|t| t.name == name) {
                let problem = format!(
                    "not a target (targets: {})",
                    join(targets.iter().map(|t| &t.name))
                );
                return Err(self.bad(&field, problem));
            }
            let w = fraction(value)
                .filter(|w| w.is_finite() && *w >= 0.0)
                .ok_or_else(|| self.bad(&field, format!("{value:?} is not a weight")))?;
            weight_of.insert(name, w);
        }
        let mut text = String::new();
        for t in targets {
            let w = if weight_of.is_empty() {
                1.0
            } else {
                weight_of.get(&t.name).copied().unwrap_or(0.0)
            };
            if w > 0.0 {
                let _ = write!(
                    text,
                    "\n[[term]]\ntarget = {}\nweight = {w:?}\n",
                    toml_str(&t.name)
                );
            }
        }
        Ok(text)
    }

    /// The swarm CSV named at `field`, relative to the working directory or the config's.
    fn locate(&self, field: &str) -> Result<PathBuf, ImportError> {
        let file = (self.get(field).and_then(Value::as_str))
            .ok_or_else(|| self.bad(field, "missing: the swarm's CSV file".into()))?;
        let base = self.path.parent().unwrap_or(Path::new("."));
        [PathBuf::from(file), base.join(file)]
            .iter()
            .find(|p| p.is_file())
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .ok_or_else(|| {
                self.bad(
                    field,
                    format!("{file}: no such file here or beside the config"),
                )
            })
    }

    /// The data spec over the swarm's ratios and metrics, joined on `run`.
    fn data_spec(
        &self,
        names: &[String],
        metrics: &[String],
        targets: Vec<TargetSpec>,
    ) -> crate::Result<DataSpec> {
        let ratios = self.locate("swarm.ratios")?;
        let outcomes = self.locate("swarm.metrics")?;
        let ratio_columns = Table::read(&ratios)?.header;
        let outcome_columns = Table::read(&outcomes)?.header;
        let shared = |k: &&str| {
            ratio_columns.iter().any(|c| c == k) && outcome_columns.iter().any(|c| c == k)
        };
        let key = ["run", "name"].into_iter().find(shared).ok_or_else(|| {
            let problem = format!(
                "{}: no `run` column shared with swarm.metrics",
                ratios.display()
            );
            self.bad("swarm.ratios", problem)
        })?;
        if let Some(name) = names.iter().find(|n| !ratio_columns.contains(n)) {
            let problem = format!("{}: no column for source `{name}`", ratios.display());
            return Err(self.bad("swarm.ratios", problem).into());
        }
        if let Some(m) = metrics.iter().find(|m| !outcome_columns.contains(m)) {
            let problem = format!("metric `{m}` is not a column of {}", outcomes.display());
            return Err(self.bad("eval.tasks", problem).into());
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
        Ok(DataSpec {
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
        })
    }
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
