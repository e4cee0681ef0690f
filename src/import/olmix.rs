//! Olmix fit configs (`olmix fit --config FIT.yaml`; the schema is `FitConfig` in
//! `olmix/fit/config.py` of allenai/olmix, read there with `yaml.safe_load`; what `run_fit` in
//! `olmix/fit/core.py` does with it decides the objective written here):
//!
//! | Olmix field | mixatlas file |
//! |---|---|
//! | `swarm.ratios` columns (all but `run_id`/`run`, `name`, `index` and unnamed ones) | `space.toml`: one domain each |
//! | `priors.token_counts` | `space.toml`: the domains' `tokens`; sources the swarm lacks are left out, with a note (Olmix warns) |
//! | `constraints` (`enabled`, `target_tokens`, `repetition_factor`) | `constraints.toml`: `[tokens] budget, max_epochs` when enabled |
//! | `filtering.fixed_weight` (older configs; numbers or `"7/52.0"` fractions) | `constraints.toml`: `frozen` |
//! | `eval.tasks` (`inloop`: family -> task -> metric; `offline`: family -> metrics), or every metric column when `eval` is absent | `data.toml` targets: one per metric |
//! | MMLU's 57 subject columns, when no column is `mmlu_stem` | four size-weighted targets (`mean_of` + `weights`), as Olmix's `aggregate_mmlu` folds them |
//! | `regression.aggregate_task_families` | one target per family, the mean of its metrics that remain after the MMLU fold |
//! | `filtering.drop_metrics` | targets of those names left out (Olmix drops them after aggregating) |
//! | `filtering.obj_weights` (by target; 1 for targets not named) | `objective.toml`: raw units (`normalize = "none"`), as Olmix averages predicted bits per byte |
//! | `swarm.ratios`, `swarm.metrics` (CSV, relative to the working directory Olmix runs in; tried against the config's directory too) | `data.toml`: mixtures and outcomes joined on the run column |
//!
//! What has no counterpart is named in the notes, never dropped silently: `proposer.kl_reg`
//! with `priors.relative_sizes` (a KL penalty; constraints.toml carries the prior as a
//! commented `[kl]` budget to fill in), `regression.type`, `train_split` and `n_test`,
//! `proposer.type` and `temperature`. Olmix's metrics are bits per byte, so every target is
//! `direction = "lower"`.

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
    let mut out = Imported::default();
    let header = format!("# Imported from the Olmix fit config {}\n", path.display());
    let swarm = fit.swarm()?;
    let space = fit.space(&swarm, &mut out.notes)?;
    let names = space.names();
    let (constraints, fixed) = fit.constraints(&names)?;
    let targets = fit.targets(&swarm, &mut out.notes)?;
    let objective = fit.objective(&targets, &mut out.notes)?;
    let target_count = targets.len();
    let spec = fit.data_spec(&swarm, &names, targets);
    fit.unmapped(&mut out.notes);
    let space = toml::to_string(&space).expect("a space serialises");
    out.add("space.toml", format!("{header}{space}"));
    let kl = fit.kl_block(&names)?;
    out.add("constraints.toml", format!("{header}{constraints}{kl}"));
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
    out.notes.insert(
        0,
        format!(
            "{} sources, {target_count} target(s), {fixed} fixed weight(s), {tokens}",
            names.len(),
        ),
    );
    Ok(out)
}

/// The swarm's two CSV files, their columns and the run column joining them.
struct Swarm {
    ratios: PathBuf,
    metrics: PathBuf,
    key: String,
    /// Mixture columns of the ratios file, in file order (Olmix's `domain_cols`).
    domains: Vec<String>,
    /// Every column of the ratios file.
    ratio_columns: Vec<String>,
    /// Every column of the metrics file.
    metric_columns: Vec<String>,
    /// Metric columns as Olmix's `load_from_csv` finds them (`metric_cols`).
    metrics_found: Vec<String>,
}

/// `eval.tasks`: each family's name and metrics.
type Families = Vec<(String, Vec<String>)>;

/// Columns Olmix's `load_from_csv` never treats as data.
fn is_meta(column: &str, key: &str) -> bool {
    column == key
        || ["run_id", "run", "name", "index"].contains(&column)
        || column.is_empty()
        || column.starts_with("Unnamed")
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

    /// The swarm's files and columns.
    fn swarm(&self) -> crate::Result<Swarm> {
        let ratios = self.locate("swarm.ratios")?;
        let metrics = self.locate("swarm.metrics")?;
        let ratio_columns = Table::read(&ratios)?.header;
        let metric_columns = Table::read(&metrics)?.header;
        // `_resolve_id_column`: `run_id`, else `run`, in both files.
        let key = ["run_id", "run"]
            .into_iter()
            .find(|k| ratio_columns.iter().any(|c| c == k))
            .ok_or_else(|| {
                let problem = format!("{}: no `run_id` or `run` column", ratios.display());
                self.bad("swarm.ratios", problem)
            })?
            .to_owned();
        if !metric_columns.contains(&key) {
            let problem = format!("{}: no `{key}` column to join on", metrics.display());
            return Err(self.bad("swarm.metrics", problem).into());
        }
        let data = |columns: &[String]| -> Vec<String> {
            (columns.iter().filter(|c| !is_meta(c, &key)).cloned()).collect()
        };
        Ok(Swarm {
            domains: data(&ratio_columns),
            metrics_found: data(&metric_columns),
            metric_columns,
            ratio_columns,
            ratios,
            metrics,
            key,
        })
    }

    /// The swarm's sources, with their tokens from `priors.token_counts`.
    fn space(&self, swarm: &Swarm, notes: &mut Vec<String>) -> crate::Result<Space> {
        let counts = self.mapping("priors.token_counts")?;
        let stem =
            (self.path.file_stem()).map_or("olmix".into(), |s| s.to_string_lossy().into_owned());
        let mut space = Space::from_names(&stem, &swarm.domains)?;
        for domain in &mut space.domains {
            let Some((name, value)) = counts.iter().find(|c| c.0 == domain.name) else {
                continue;
            };
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
        let unknown: Vec<&String> = (counts.iter().map(|c| &c.0))
            .filter(|n| !swarm.domains.contains(n))
            .collect();
        if !unknown.is_empty() {
            notes.push(format!(
                "priors.token_counts lists {} source(s) the swarm has no column for, left out as \
                 Olmix leaves them out: {}",
                unknown.len(),
                join(unknown.into_iter())
            ));
        }
        let uncounted: Vec<&String> = (space.domains.iter())
            .filter(|d| d.tokens.is_none())
            .map(|d| &d.name)
            .collect();
        if !uncounted.is_empty() {
            if self.enabled() {
                let problem = format!(
                    "constraints are enabled, so every source of {} needs a token count; \
                     missing: {}",
                    swarm.ratios.display(),
                    join(uncounted.into_iter())
                );
                return Err(self.bad("priors.token_counts", problem).into());
            }
            notes.push(format!(
                "{} source(s) without a token count: {}",
                uncounted.len(),
                join(uncounted.into_iter())
            ));
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

    /// The metrics of `eval.tasks` by family (`None` without `eval`).
    fn families(&self) -> Result<Option<Families>, ImportError> {
        if matches!(self.get("eval"), None | Some(Value::Null)) {
            return Ok(None);
        }
        let families = self.mapping("eval.tasks")?;
        if families.is_empty() {
            return Err(self.bad("eval.tasks", "missing or empty: no metrics to fit".into()));
        }
        let mut out = Vec::new();
        for (family, tasks) in families {
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
                other => {
                    let problem = format!("expected metrics, found {other:?}");
                    return Err(self.bad(&format!("eval.tasks.{family}"), problem));
                }
            };
            out.push((family, metrics));
        }
        Ok(Some(out))
    }

    /// The targets, in the order and form `run_fit` builds its regression targets: the metrics
    /// (`eval`'s, else every metric column), MMLU folded into four size-weighted columns, then
    /// families averaged, then `drop_metrics` left out.
    fn targets(&self, swarm: &Swarm, notes: &mut Vec<String>) -> crate::Result<Vec<TargetSpec>> {
        let families = self.families()?;
        let aggregate = self
            .get("regression.aggregate_task_families")
            .and_then(Value::as_bool)
            == Some(true);
        let metrics: Vec<&String> = match &families {
            Some(f) => f.iter().flat_map(|f| f.1.iter()).collect(),
            None => swarm.metrics_found.iter().collect(),
        };
        let mut targets: Vec<TargetSpec> = (metrics.into_iter())
            .map(|m| TargetSpec::new(m.clone(), Direction::Lower))
            .collect();
        if let Some(m) = targets
            .iter()
            .find(|t| !swarm.metric_columns.contains(&t.name))
        {
            let problem = format!(
                "metric `{}` is not a column of {}",
                m.name,
                swarm.metrics.display()
            );
            return Err(self.bad("eval.tasks", problem).into());
        }
        let columns = &swarm.metric_columns;
        if !columns.iter().any(|c| c.contains("mmlu_stem"))
            && columns.iter().any(|c| c.contains("mmlu"))
        {
            for (group, subjects) in MMLU_GROUPS {
                if let Some((missing, _)) =
                    subjects.iter().find(|s| !columns.iter().any(|c| c == s.0))
                {
                    let problem = format!(
                        "{} has MMLU columns but not `{missing}`: Olmix folds MMLU's 57 \
                         subjects into four size-weighted columns and needs each of them",
                        swarm.metrics.display()
                    );
                    return Err(self.bad("swarm.metrics", problem).into());
                }
                targets.retain(|t| !subjects.iter().any(|s| s.0 == t.name));
                targets.push(TargetSpec {
                    mean_of: subjects.iter().map(|s| s.0.to_owned()).collect(),
                    weights: subjects.iter().map(|s| s.1).collect(),
                    ..TargetSpec::new(group, Direction::Lower)
                });
            }
            notes.push(
                "MMLU's 57 subject columns are folded into mmlu_stem, mmlu_other, \
                 mmlu_social_sciences and mmlu_humanities, weighted by size, as Olmix does"
                    .into(),
            );
        }
        if aggregate {
            let Some(families) = families else {
                let problem = "regression.aggregate_task_families requires eval config with task \
                               families (Olmix refuses this config too)";
                return Err(self
                    .bad("regression.aggregate_task_families", problem.into())
                    .into());
            };
            let mut by_family = Vec::new();
            for (family, tasks) in families {
                let listed = tasks.len();
                let existing: Vec<String> = (tasks.into_iter())
                    .filter(|t| targets.iter().any(|u| &u.name == t && u.mean_of.is_empty()))
                    .collect();
                if existing.len() < listed {
                    notes.push(format!(
                        "family `{family}` averages {} of its {listed} metrics: the others were \
                         folded into the MMLU columns first, as in Olmix",
                        existing.len()
                    ));
                }
                if existing.is_empty() {
                    let problem = format!("No columns found for task family '{family}'");
                    return Err(self.bad(&format!("eval.tasks.{family}"), problem).into());
                }
                by_family.push(TargetSpec {
                    mean_of: existing,
                    ..TargetSpec::new(family, Direction::Lower)
                });
            }
            targets = by_family;
        }
        let dropped = match self.get("filtering.drop_metrics") {
            Some(Value::Sequence(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        let (named, unnamed): (Vec<String>, Vec<String>) = dropped
            .into_iter()
            .partition(|d| targets.iter().any(|t| &t.name == d));
        targets.retain(|t| !named.contains(&t.name));
        if !unnamed.is_empty() {
            notes.push(format!(
                "filtering.drop_metrics names {} metric(s) that are not targets, so nothing is \
                 dropped for them (Olmix drops after aggregating families, so the same happens \
                 there): {}",
                unnamed.len(),
                join(unnamed.iter())
            ));
        }
        if targets.is_empty() {
            return Err(self
                .bad("eval.tasks", "no metrics left to fit".into())
                .into());
        }
        Ok(targets)
    }

    /// The objective file: Olmix's average of predicted bits per byte, weighted by
    /// `obj_weights` (1 for a target it does not name), in raw units.
    fn objective(
        &self,
        targets: &[TargetSpec],
        notes: &mut Vec<String>,
    ) -> Result<String, ImportError> {
        let mut weight_of = BTreeMap::new();
        for (name, value) in self.mapping("filtering.obj_weights")? {
            let field = format!("filtering.obj_weights.{name}");
            let w = fraction(value)
                .filter(|w| w.is_finite() && *w >= 0.0)
                .ok_or_else(|| self.bad(&field, format!("{value:?} is not a weight")))?;
            weight_of.insert(name, w);
        }
        let stray: Vec<&String> = (weight_of.keys())
            .filter(|n| !targets.iter().any(|t| &t.name == *n))
            .collect();
        if !stray.is_empty() {
            notes.push(format!(
                "filtering.obj_weights names {} metric(s) that are not targets, ignored as Olmix \
                 ignores them: {}",
                stray.len(),
                join(stray.into_iter())
            ));
        }
        let mut text = String::from(
            "# Olmix minimises the obj_weights-weighted average of predicted bits per byte.\n\
             normalize = \"none\"\n",
        );
        for t in targets {
            let w = weight_of.get(&t.name).copied().unwrap_or(1.0);
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

    /// A commented `[kl]` budget around `priors.relative_sizes`, the prior of Olmix's KL
    /// penalty, when the config has one.
    fn kl_block(&self, names: &[String]) -> Result<String, ImportError> {
        let sizes = self.mapping("priors.relative_sizes")?;
        let prior: Vec<String> = (sizes.iter())
            .filter(|(n, _)| names.contains(n))
            .filter_map(|(n, v)| number(v).map(|x| format!("{} = {x:?}", toml_str(n))))
            .collect();
        if prior.is_empty() {
            return Ok(String::new());
        }
        let penalty = match self.get("proposer.kl_reg").and_then(number) {
            Some(l) => format!(
                "Olmix's proposer adds kl_reg * KL(w || prior) = {l} * KL to its objective, a \
                 penalty;"
            ),
            None => "Olmix's exact proposer penalises KL(w || prior);".into(),
        };
        Ok(format!(
            "\n# {penalty} mixatlas bounds the KL\n# divergence instead. To keep proposals near \
             priors.relative_sizes, uncomment and\n# choose a budget in nats:\n# [kl]\n# max = \
             0.5\n# prior = {{ {} }}\n",
            prior.join(", ")
        ))
    }

    /// Notes for the options Olmix uses that have no counterpart here.
    fn unmapped(&self, notes: &mut Vec<String>) {
        let shown = |v: &Value| {
            serde_yaml::to_string(v).map_or_else(|_| format!("{v:?}"), |s| s.trim().to_owned())
        };
        // Olmix's defaults need no note.
        let defaults = [("regression.train_split", 1.0), ("regression.n_test", 0.0)];
        let mut say = |field: &str, why: &str| {
            let default =
                |v: &Value| (defaults.iter()).any(|(f, d)| *f == field && number(v) == Some(*d));
            if let Some(v) = self.get(field).filter(|v| !v.is_null() && !default(v)) {
                notes.push(format!("{field} = {}: {why}", shown(v)));
            }
        };
        say(
            "proposer.kl_reg",
            "a KL penalty toward priors.relative_sizes has no counterpart; constraints.toml \
             carries that prior as a commented [kl] budget",
        );
        say(
            "regression.type",
            "choose the surrogate with `train --surrogate` (`loglinear` is Olmix's log-linear \
             law; `auto` picks by out-of-fold likelihood)",
        );
        say(
            "regression.train_split",
            "mixatlas fits on every run; hold runs out with `evaluate --folds`",
        );
        say(
            "regression.n_test",
            "mixatlas fits on every run; hold runs out with `evaluate --folds`",
        );
        say(
            "proposer.type",
            "mixatlas searches with `propose --strategy` and its acquisition",
        );
        say(
            "proposer.temperature",
            "not used: mixatlas does not sample a Dirichlet around the prior to propose",
        );
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

    /// The data spec over the swarm's ratios and metrics, joined on the run column.
    fn data_spec(&self, swarm: &Swarm, names: &[String], targets: Vec<TargetSpec>) -> DataSpec {
        let read: Vec<&String> = (targets.iter())
            .flat_map(|t| {
                if t.mean_of.is_empty() {
                    std::slice::from_ref(&t.name)
                } else {
                    &t.mean_of[..]
                }
            })
            .collect();
        let mut ignore: Vec<String> = (swarm.ratio_columns.iter())
            .chain(&swarm.metric_columns)
            .filter(|c| **c != swarm.key && !names.contains(c) && !read.contains(c))
            .cloned()
            .collect();
        ignore.sort();
        ignore.dedup();
        DataSpec {
            space: Some("space.toml".into()),
            mixtures: swarm.ratios.clone(),
            outcomes: Some(swarm.metrics.clone()),
            key: Some(swarm.key.clone()),
            mixture_columns: Vec::new(),
            mixture_prefix: None,
            context: Vec::new(),
            targets,
            ignore,
            renormalize: false,
            tolerance: 0.01,
        }
    }
}

/// Olmix's `aggregate_mmlu` (`olmix/fit/utils.py`, allenai/olmix, Apache-2.0): MMLU's 57
/// subject columns folded into four, each subject weighted by its share of the group's
/// questions. Olmix applies it when a metric column contains `mmlu` and none is `mmlu_stem`.
const MMLU_GROUPS: [(&str, &[(&str, f64)]); 4] = [
    (
        "mmlu_stem",
        &[
            ("mmlu_abstract_algebra:rc::olmes", 0.03313452617627568),
            ("mmlu_astronomy:rc::olmes", 0.05036447978793903),
            ("mmlu_college_biology:rc::olmes", 0.04771371769383698),
            ("mmlu_college_chemistry:rc::olmes", 0.03313452617627568),
            (
                "mmlu_college_computer_science:rc::olmes",
                0.03313452617627568,
            ),
            ("mmlu_college_mathematics:rc::olmes", 0.03313452617627568),
            ("mmlu_college_physics:rc::olmes", 0.033797216699801194),
            ("mmlu_computer_security:rc::olmes", 0.03313452617627568),
            ("mmlu_conceptual_physics:rc::olmes", 0.07786613651424784),
            ("mmlu_electrical_engineering:rc::olmes", 0.04804506295559974),
            ("mmlu_elementary_mathematics:rc::olmes", 0.12524850894632206),
            ("mmlu_high_school_biology:rc::olmes", 0.10271703114645461),
            ("mmlu_high_school_chemistry:rc::olmes", 0.06726308813783963),
            (
                "mmlu_high_school_computer_science:rc::olmes",
                0.03313452617627568,
            ),
            (
                "mmlu_high_school_mathematics:rc::olmes",
                0.08946322067594434,
            ),
            ("mmlu_high_school_physics:rc::olmes", 0.050033134526176276),
            ("mmlu_high_school_statistics:rc::olmes", 0.07157057654075547),
            ("mmlu_machine_learning:rc::olmes", 0.03711066931742876),
        ],
    ),
    (
        "mmlu_other",
        &[
            ("mmlu_anatomy:rc::olmes", 0.04164096236890808),
            ("mmlu_business_ethics:rc::olmes", 0.030845157310302282),
            ("mmlu_clinical_knowledge:rc::olmes", 0.08173966687230105),
            ("mmlu_college_medicine:rc::olmes", 0.05336212214682295),
            ("mmlu_global_facts:rc::olmes", 0.030845157310302282),
            ("mmlu_human_aging:rc::olmes", 0.06878470080197409),
            ("mmlu_management:rc::olmes", 0.03177051202961135),
            ("mmlu_marketing:rc::olmes", 0.07217766810610735),
            ("mmlu_medical_genetics:rc::olmes", 0.030845157310302282),
            ("mmlu_miscellaneous:rc::olmes", 0.24151758173966686),
            ("mmlu_nutrition:rc::olmes", 0.09438618136952498),
            (
                "mmlu_professional_accounting:rc::olmes",
                0.08698334361505243,
            ),
            ("mmlu_professional_medicine:rc::olmes", 0.08389882788402221),
            ("mmlu_virology:rc::olmes", 0.05120296113510179),
        ],
    ),
    (
        "mmlu_social_sciences",
        &[
            ("mmlu_econometrics:rc::olmes", 0.03704907377315567),
            ("mmlu_high_school_geography:rc::olmes", 0.06434839129021774),
            (
                "mmlu_high_school_government_and_politics:rc::olmes",
                0.06272343191420214,
            ),
            (
                "mmlu_high_school_macroeconomics:rc::olmes",
                0.12674683132921677,
            ),
            (
                "mmlu_high_school_microeconomics:rc::olmes",
                0.07734806629834254,
            ),
            ("mmlu_high_school_psychology:rc::olmes", 0.17712057198570036),
            ("mmlu_human_sexuality:rc::olmes", 0.04257393565160871),
            (
                "mmlu_professional_psychology:rc::olmes",
                0.19889502762430938,
            ),
            ("mmlu_public_relations:rc::olmes", 0.03574910627234319),
            ("mmlu_security_studies:rc::olmes", 0.07962300942476438),
            ("mmlu_sociology:rc::olmes", 0.0653233669158271),
            ("mmlu_us_foreign_policy:rc::olmes", 0.032499187520311994),
        ],
    ),
    (
        "mmlu_humanities",
        &[
            ("mmlu_formal_logic:rc::olmes", 0.026780021253985122),
            (
                "mmlu_high_school_european_history:rc::olmes",
                0.03506907545164718,
            ),
            ("mmlu_high_school_us_history:rc::olmes", 0.04335812964930925),
            (
                "mmlu_high_school_world_history:rc::olmes",
                0.050371944739638685,
            ),
            ("mmlu_international_law:rc::olmes", 0.0257173219978746),
            ("mmlu_jurisprudence:rc::olmes", 0.022954303931987247),
            ("mmlu_logical_fallacies:rc::olmes", 0.034643995749202974),
            ("mmlu_moral_disputes:rc::olmes", 0.07353878852284804),
            ("mmlu_moral_scenarios:rc::olmes", 0.1902231668437832),
            ("mmlu_philosophy:rc::olmes", 0.06609989373007438),
            ("mmlu_prehistory:rc::olmes", 0.06886291179596174),
            ("mmlu_professional_law:rc::olmes", 0.32603613177470775),
            ("mmlu_world_religions:rc::olmes", 0.03634431455897981),
        ],
    ),
];

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
