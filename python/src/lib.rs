//! `mixatlas._mixatlas`: the library's runs, surrogates and checkpoints for Python, numpy in
//! and out. The public Python surface (`mixatlas/__init__.py`) wraps these classes; errors are
//! `mixatlas.MixatlasError` carrying the message the CLI prints. Fitting and prediction release
//! the GIL.

use std::path::PathBuf;

use mixatlas::acquisition::{AcquisitionSpec, Scorer};
use mixatlas::device::{Cpu, CpuInference};
use mixatlas::evaluation::backtest::{Backtest, BacktestConfig};
use mixatlas::io::Overwrite;
use mixatlas::objective::{Objective, ObjectiveSpec};
use mixatlas::progress::Observer;
use mixatlas::proposer::{Proposer, ProposerConfig, SearcherKind};
use mixatlas::proposer::{build_acquisition, search_sampler};
use mixatlas::runs::{DataSpec, Direction, Runs, Schema, TargetSpec};
use mixatlas::simulate::{Scored, SimulateConfig, simulate};
use mixatlas::space::sampler::Prior;
use mixatlas::space::{ConstraintSpec, Constraints, Space};
use mixatlas::surrogate::{EpochProgress, TrainObserver};
use mixatlas::surrogate::{Fitted, SurrogateKind, SurrogateSpec};
use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    _mixatlas,
    MixatlasError,
    PyException,
    "An error mixatlas reports (bad input, a missing file, a failed fit), with the CLI's message."
);

fn error(e: impl std::fmt::Display) -> PyErr {
    MixatlasError::new_err(e.to_string())
}

fn rows(array: &PyReadonlyArray2<'_, f64>) -> Vec<Vec<f64>> {
    array.as_array().outer_iter().map(|r| r.to_vec()).collect()
}

fn matrix(py: Python<'_>, rows: usize, cols: usize, values: Vec<f64>) -> Bound<'_, PyArray2<f64>> {
    Array2::from_shape_vec((rows, cols), values)
        .expect("rows x cols values")
        .into_pyarray(py)
}

/// Progress of long work as tqdm bars (one per stage: epochs, samples, jobs) when tqdm is
/// installed and `enabled`; silent otherwise. Updates at most ten times a second, taking the
/// GIL only then.
struct Tqdm {
    tqdm: Option<Py<PyAny>>,
    bar: Option<(String, Py<PyAny>)>,
    last: Option<std::time::Instant>,
    /// The model being trained (`fold 2/5: `), before the epochs.
    label: String,
}

impl Tqdm {
    fn new(py: Python<'_>, enabled: bool) -> Self {
        let tqdm = enabled
            .then(|| py.import("tqdm.auto").and_then(|m| m.getattr("tqdm")).ok())
            .flatten()
            .map(Bound::unbind);
        Tqdm {
            tqdm,
            bar: None,
            last: None,
            label: String::new(),
        }
    }

    fn update(&mut self, stage: &str, done: u64, total: u64) {
        let Some(tqdm) = &self.tqdm else { return };
        let same = self.bar.as_ref().is_some_and(|(s, _)| s == stage);
        let due = self.last.is_none_or(|t| t.elapsed().as_secs_f64() > 0.1);
        if same && !due && (total == 0 || done < total) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        Python::attach(|py| {
            // A failing bar (a closed notebook output) never stops the work it reports on.
            let _ = (|| -> PyResult<()> {
                if !same {
                    if let Some((_, old)) = self.bar.take() {
                        old.call_method0(py, "close")?;
                    }
                    let kwargs = PyDict::new(py);
                    kwargs.set_item("desc", stage)?;
                    kwargs.set_item("total", (total > 0).then_some(total))?;
                    kwargs.set_item("leave", false)?;
                    let bar = tqdm.call(py, (), Some(&kwargs))?;
                    self.bar = Some((stage.to_owned(), bar));
                }
                let (_, bar) = self.bar.as_ref().expect("set above");
                bar.setattr(py, "n", done)?;
                bar.call_method0(py, "refresh")?;
                Ok(())
            })();
        });
    }

    fn close(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            Python::attach(|py| {
                let _ = bar.call_method0(py, "close");
            });
        }
    }
}

impl Drop for Tqdm {
    fn drop(&mut self) {
        self.close();
    }
}

impl Observer for Tqdm {
    fn progress(&mut self, stage: &str, done: u64, total: u64) {
        self.update(stage, done, total);
    }
}

impl TrainObserver for Tqdm {
    fn epoch(&mut self, p: &EpochProgress) {
        let stage = format!("{}epochs", self.label);
        self.update(&stage, p.epoch as u64, p.max_epochs as u64);
    }

    fn stage(&mut self, label: &str) {
        self.label = format!("{label}: ");
    }

    fn targets(&mut self, done: usize, total: usize) {
        let stage = format!("{}targets", self.label);
        self.update(&stage, done as u64, total as u64);
    }
}

/// A dict of equal-length columns as a pandas DataFrame when pandas is installed, else the
/// dict itself.
fn frame<'py>(py: Python<'py>, columns: Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    match py.import("pandas") {
        Ok(pandas) => pandas.getattr("DataFrame")?.call1((columns,)),
        Err(_) => Ok(columns.into_any()),
    }
}

/// A JSON value as the Python object `json.loads` makes of it.
fn to_python<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(error)?;
    py.import("json")?.call_method1("loads", (text,))
}

/// Targets from `(column, "lower" | "higher")` pairs.
fn target_specs(pairs: &[(String, String)]) -> PyResult<Vec<TargetSpec>> {
    (pairs.iter())
        .map(|(name, d)| Ok(TargetSpec::new(name.clone(), direction(name, d)?)))
        .collect()
}

fn direction(name: &str, value: &str) -> PyResult<Direction> {
    match value {
        "lower" => Ok(Direction::Lower),
        "higher" => Ok(Direction::Higher),
        other => Err(error(format!(
            "target `{name}`: direction `{other}` is not `lower` or `higher`"
        ))),
    }
}

/// Logged runs: mixtures `[n, domains]`, outcomes `[n, targets]`, optional context inputs.
#[pyclass(name = "Runs", module = "mixatlas._mixatlas", frozen)]
struct PyRuns {
    inner: Runs,
}

#[pymethods]
impl PyRuns {
    /// Reads runs from a data spec (`.toml`), as `mixatlas train --data SPEC` does, or from a
    /// table of runs (CSV or JSONL) whose key and mixture columns are inferred as `mixatlas
    /// train --data runs.csv --target NAME=lower` infers them; `targets` maps a column to
    /// `"lower"` or `"higher"` (required for a table, a selection for a spec).
    #[staticmethod]
    #[pyo3(signature = (path, targets=None, key=None, mixture=Vec::new()))]
    fn from_csv(
        path: PathBuf,
        targets: Option<Vec<(String, String)>>,
        key: Option<String>,
        mixture: Vec<String>,
    ) -> PyResult<Self> {
        let targets = target_specs(&targets.unwrap_or_default())?;
        let is_spec = path.extension().is_some_and(|e| e == "toml");
        let spec = if is_spec {
            DataSpec::from_file(&path).map_err(error)?
        } else {
            let inferred =
                mixatlas::runs::infer(&path, key.as_deref(), &mixture, &targets).map_err(error)?;
            inferred.spec
        };
        let mut runs = Runs::load(&spec).map_err(error)?;
        // A spec's targets are selected by name; an inferred spec has exactly those given.
        if is_spec && !targets.is_empty() {
            let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
            runs.select_targets(&names).map_err(error)?;
        }
        Ok(PyRuns { inner: runs })
    }

    /// Runs from arrays: `mixtures` `[n, domains]` (rows on the simplex within 0.01, rescaled
    /// to sum to 1), `outcomes` `[n, targets]` (finite), `context` `[n, len(context_names)]`.
    #[staticmethod]
    #[pyo3(signature = (domains, mixtures, targets, outcomes, keys=None, context_names=Vec::new(), context=None))]
    fn from_arrays(
        domains: Vec<String>,
        mixtures: PyReadonlyArray2<'_, f64>,
        targets: Vec<(String, String)>,
        outcomes: PyReadonlyArray2<'_, f64>,
        keys: Option<Vec<String>>,
        context_names: Vec<String>,
        context: Option<PyReadonlyArray2<'_, f64>>,
    ) -> PyResult<Self> {
        let mut w = rows(&mixtures);
        let y = rows(&outcomes);
        let n = w.len();
        let c = match &context {
            Some(c) => rows(c),
            None => vec![Vec::new(); n],
        };
        let shape = |what: &str, got: usize, cols: usize, want: usize| {
            if got != n || (n > 0 && cols != want) {
                return Err(error(format!(
                    "{what}: {got} rows of {cols}, expected {n} rows of {want}"
                )));
            }
            Ok(())
        };
        shape("mixtures", n, w.first().map_or(0, Vec::len), domains.len())?;
        shape(
            "outcomes",
            y.len(),
            y.first().map_or(0, Vec::len),
            targets.len(),
        )?;
        shape(
            "context",
            c.len(),
            c.first().map_or(0, Vec::len),
            context_names.len(),
        )?;
        if n == 0 {
            return Err(error("no runs"));
        }
        let keys = keys.unwrap_or_else(|| (1..=n).map(|i| i.to_string()).collect());
        if keys.len() != n {
            return Err(error(format!("{} keys for {n} runs", keys.len())));
        }
        for (i, row) in w.iter_mut().enumerate() {
            let sum: f64 = row.iter().sum();
            if row.iter().any(|x| !x.is_finite() || *x < 0.0) || (sum - 1.0).abs() > 0.01 {
                return Err(error(format!(
                    "run `{}` (row {i}): mixture weights must be >= 0 and sum to 1 (within \
                     0.01); they sum to {sum}",
                    keys[i]
                )));
            }
            row.iter_mut().for_each(|x| *x /= sum);
        }
        for (i, row) in y.iter().chain(&c).enumerate() {
            if let Some(j) = row.iter().position(|x| !x.is_finite()) {
                return Err(error(format!(
                    "run `{}`: value {j} is not a finite number",
                    keys[i % n]
                )));
            }
        }
        let targets = target_specs(&targets)?;
        let space = Space::from_names("runs", &domains).map_err(error)?;
        Ok(PyRuns {
            inner: Runs {
                schema: Schema {
                    space,
                    mixture_columns: domains,
                    context: context_names,
                    targets,
                },
                keys,
                mixtures: w,
                context: c,
                outcomes: y,
            },
        })
    }

    /// Runs from a pandas DataFrame: `mixture` names the weight columns (the domains, in
    /// order), `targets` maps outcome columns to `"lower"` or `"higher"`, `key` names the run
    /// column (default: the row number), `context` extra numeric inputs.
    #[staticmethod]
    #[pyo3(signature = (df, mixture, targets, key=None, context=Vec::new()))]
    fn from_pandas(
        py: Python<'_>,
        df: &Bound<'_, PyAny>,
        mixture: Vec<String>,
        targets: Vec<(String, String)>,
        key: Option<String>,
        context: Vec<String>,
    ) -> PyResult<Self> {
        let numeric = |columns: &[String]| -> PyResult<Bound<'_, PyAny>> {
            let kwargs = PyDict::new(py);
            kwargs.set_item("dtype", "float64")?;
            df.get_item(columns.to_vec())
                .map_err(|e| error(format!("DataFrame: {e}")))?
                .call_method("to_numpy", (), Some(&kwargs))
        };
        let names: Vec<String> = targets.iter().map(|t| t.0.clone()).collect();
        let (w, y) = (numeric(&mixture)?, numeric(&names)?);
        let c = if context.is_empty() {
            None
        } else {
            Some(numeric(&context)?)
        };
        let keys: Option<Vec<String>> = match &key {
            Some(k) => Some(
                (df.get_item(k))
                    .map_err(|e| error(format!("DataFrame: {e}")))?
                    .call_method1("astype", ("str",))?
                    .call_method0("tolist")?
                    .extract()?,
            ),
            None => None,
        };
        let c = match &c {
            Some(c) => Some(c.extract::<PyReadonlyArray2<'_, f64>>()?),
            None => None,
        };
        Self::from_arrays(
            mixture,
            w.extract()?,
            targets,
            y.extract()?,
            keys,
            context,
            c,
        )
    }

    fn __len__(&self) -> usize {
        self.inner.keys.len()
    }

    /// Domain names, in mixture order.
    #[getter]
    fn domains(&self) -> Vec<String> {
        self.inner.schema.space.names()
    }

    /// Target names, in outcome order.
    #[getter]
    fn targets(&self) -> Vec<String> {
        self.inner.schema.target_names()
    }

    /// Run identifiers, `[n]`.
    #[getter]
    fn keys(&self) -> Vec<String> {
        self.inner.keys.clone()
    }

    /// Mixture weights, `[n, domains]`.
    #[getter]
    fn mixtures<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let d = self.inner.schema.space.domains.len();
        matrix(py, self.inner.keys.len(), d, self.inner.mixtures.concat())
    }

    /// Outcomes, `[n, targets]`.
    #[getter]
    fn outcomes<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let t = self.inner.schema.targets.len();
        matrix(py, self.inner.keys.len(), t, self.inner.outcomes.concat())
    }
}

/// A fitted surrogate: the deep ensemble, the Gaussian process or the mixing law.
#[pyclass(name = "Model", module = "mixatlas._mixatlas", frozen)]
struct PyModel {
    inner: Fitted<CpuInference>,
}

#[pymethods]
impl PyModel {
    /// `ensemble`, `gp` or `loglinear`.
    #[getter]
    fn kind(&self) -> String {
        serde_json::to_value(self.inner.kind())
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Domain names, in the order `predict` reads mixture columns.
    #[getter]
    fn domains(&self) -> Vec<String> {
        self.inner.surrogate().schema().space.names()
    }

    /// Target names, in the order of the prediction columns.
    #[getter]
    fn targets(&self) -> Vec<String> {
        self.inner.surrogate().schema().target_names()
    }

    /// Context input names (extra columns `predict` needs).
    #[getter]
    fn context(&self) -> Vec<String> {
        self.inner.surrogate().schema().context.clone()
    }

    /// The posterior at `weights` `[n, domains]` (rows summing to 1) and `context`
    /// `[n, len(context)]`: a dict of `[n, targets]` arrays `mean`, `epistemic_std`,
    /// `aleatoric_std` and `std` (their root sum of squares), in target units, and, for a GP
    /// with a shared kernel, `correlation` `[targets, targets]`: how the targets' epistemic
    /// errors correlate (the same at every row).
    #[pyo3(signature = (weights, context=None))]
    fn posterior<'py>(
        &self,
        py: Python<'py>,
        weights: PyReadonlyArray2<'py, f64>,
        context: Option<PyReadonlyArray2<'py, f64>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = rows(&weights);
        let n = w.len();
        let schema = self.inner.surrogate().schema();
        let (d, k) = (schema.space.domains.len(), schema.context.len());
        if w.iter().any(|r| r.len() != d) {
            return Err(error(format!(
                "weights: expected {d} columns (domains {})",
                schema.space.names().join(", ")
            )));
        }
        let c = match &context {
            Some(c) => rows(c),
            None if k == 0 => vec![Vec::new(); n],
            None => {
                return Err(error(format!(
                    "this model has context inputs ({}): pass context=[n, {k}]",
                    schema.context.join(", ")
                )));
            }
        };
        if c.len() != n || c.iter().any(|r| r.len() != k) {
            return Err(error(format!("context: expected {n} rows of {k}")));
        }
        let model = &self.inner;
        let p = py.detach(|| model.predict(&w, &c)).map_err(error)?;
        let t = schema.targets.len();
        let field = |f: &dyn Fn(usize, usize) -> f64| {
            let values = (0..n).flat_map(|i| (0..t).map(move |j| (i, j)));
            matrix(py, n, t, values.map(|(i, j)| f(i, j)).collect())
        };
        let out = PyDict::new(py);
        out.set_item("mean", field(&|i, j| p.mean_at(i, j)))?;
        out.set_item("epistemic_std", field(&|i, j| p.epistemic_std(i, j)))?;
        out.set_item("aleatoric_std", field(&|i, j| p.aleatoric_std(i, j)))?;
        out.set_item("std", field(&|i, j| p.total_std(i, j)))?;
        if let Some(rho) = &p.correlation {
            out.set_item("correlation", matrix(py, t, t, rho.to_vec()))?;
        }
        Ok(out)
    }

    /// `(mean, std)`, each `[n, targets]`: the posterior mean and the spread of an observation
    /// (epistemic and aleatoric together); `posterior` gives the parts.
    #[pyo3(signature = (weights, context=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        weights: PyReadonlyArray2<'py, f64>,
        context: Option<PyReadonlyArray2<'py, f64>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let p = self.posterior(py, weights, context)?;
        let get = |k: &str| p.get_item(k).map(|v| v.expect("set by posterior"));
        Ok((get("mean")?, get("std")?))
    }

    /// Scores `samples` random feasible mixtures, as `mixatlas simulate` does: draws around
    /// the prior (`"tokens"` or `"uniform"`) within `constraints` (a constraints file), scored
    /// by `objective` (an objective file; default: every target standardised, weighted
    /// equally) and `acquisition` (as `Proposer`'s; `runs` give the incumbent that ei and pi
    /// improve on and a trust region's anchors). `context` maps each of the model's context
    /// inputs to its value. Returns a dict: `sampled`, `rejected`, `objective`,
    /// `epistemic_std` and `acquisition` (moments over all candidates: count, mean, std, min,
    /// max), `top_objective` and `top_acquisition` (the `top` best, as DataFrames with one
    /// column per domain, the objective, its epistemic std, the acquisition value and each
    /// target's predicted mean), and `about` (the objective and acquisition in words).
    #[pyo3(signature = (samples=100_000, objective=None, constraints=None, runs=None, acquisition="mean", beta=None, xi=0.0, context=None, prior="tokens", top=10, seed=0, progress=true))]
    #[allow(clippy::too_many_arguments)]
    fn simulate<'py>(
        &self,
        py: Python<'py>,
        samples: u64,
        objective: Option<PathBuf>,
        constraints: Option<PathBuf>,
        runs: Option<&PyRuns>,
        acquisition: &str,
        beta: Option<f64>,
        xi: f64,
        context: Option<std::collections::HashMap<String, f64>>,
        prior: &str,
        top: usize,
        seed: u64,
        progress: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let surrogate = self.inner.surrogate();
        let schema = surrogate.schema();
        let spec = match &objective {
            Some(path) => ObjectiveSpec::from_file(path).map_err(error)?,
            None => ObjectiveSpec::default(),
        };
        let objective = Objective::new(&spec, schema, surrogate.target_norm()).map_err(error)?;
        let logged = match runs {
            Some(runs) => {
                let mut runs = runs.inner.clone();
                if runs.schema.space.names() != schema.space.names() {
                    return Err(error(format!(
                        "runs: domains {} differ from the model's {}",
                        runs.schema.space.names().join(", "),
                        schema.space.names().join(", ")
                    )));
                }
                runs.select_targets(&schema.target_names()).map_err(error)?;
                Some(runs)
            }
            None => None,
        };
        let anchors = logged.as_ref().map_or(&[][..], |r| &r.mixtures[..]);
        let constraints =
            Constraints::load(&schema.space, constraints.as_deref(), anchors).map_err(error)?;
        let mut given = context.unwrap_or_default();
        let context = (schema.context.iter())
            .map(|name| {
                given.remove(name).ok_or_else(|| {
                    error(format!(
                        "context: the model needs a value for each of {}",
                        schema.context.join(", ")
                    ))
                })
            })
            .collect::<PyResult<Vec<f64>>>()?;
        if let Some((name, value)) = context
            .iter()
            .zip(&schema.context)
            .find_map(|(v, n)| (!v.is_finite()).then_some((n, v)))
        {
            return Err(error(format!("context: `{name}` = {value} is not finite")));
        }
        if let Some(name) = given.keys().next() {
            return Err(error(format!(
                "context: `{name}` is not one of the model's inputs"
            )));
        }
        let prior = match prior {
            "tokens" => Prior::Tokens,
            "uniform" => Prior::Uniform,
            other => {
                return Err(error(format!(
                    "prior `{other}`: expected tokens or uniform"
                )));
            }
        };
        let spec = acquisition_spec(acquisition, beta, xi)?;
        let sampler = search_sampler(&constraints, &schema.space, prior);
        let config = SimulateConfig {
            samples,
            chunk: 8192,
            top,
            seed,
            host_draws: true,
        };
        let mut bar = Tqdm::new(py, progress);
        let model = &self.inner;
        let sim = py
            .detach(|| {
                let scorer = Scorer {
                    surrogate: model.surrogate(),
                    objective: &objective,
                    context,
                    members: spec.kind.needs_members(),
                };
                let (acq, _) = build_acquisition(
                    &scorer,
                    &spec,
                    logged.as_ref(),
                    None,
                    &sampler,
                    &constraints,
                    seed,
                )?;
                simulate(
                    &scorer,
                    acq.as_ref(),
                    None,
                    &sampler,
                    &constraints,
                    &config,
                    &mut bar,
                )
            })
            .map_err(error)?;
        drop(bar);
        let table = |list: &[Scored]| -> PyResult<Bound<'py, PyAny>> {
            let column = |values: Vec<f64>| Array1::from_vec(values).into_pyarray(py);
            let columns = PyDict::new(py);
            for (j, d) in schema.space.names().iter().enumerate() {
                columns.set_item(d, column(list.iter().map(|c| c.weights[j]).collect()))?;
            }
            columns.set_item(
                "objective",
                column(list.iter().map(|c| c.objective).collect()),
            )?;
            columns.set_item(
                "objective_std",
                column(list.iter().map(|c| c.epistemic_std).collect()),
            )?;
            columns.set_item(
                "acquisition",
                column(list.iter().map(|c| c.acquisition).collect()),
            )?;
            for (t, name) in schema.target_names().iter().enumerate() {
                let means = list.iter().map(|c| c.targets[t]).collect();
                columns.set_item(format!("{name}_mean"), column(means))?;
            }
            frame(py, columns)
        };
        let out = PyDict::new(py);
        out.set_item("sampled", sim.sampled)?;
        out.set_item("rejected", sim.rejected)?;
        out.set_item("objective", to_python(py, &sim.objective)?)?;
        out.set_item("epistemic_std", to_python(py, &sim.epistemic_std)?)?;
        out.set_item("acquisition", to_python(py, &sim.acquisition)?)?;
        out.set_item("top_objective", table(&sim.top_objective)?)?;
        out.set_item("top_acquisition", table(&sim.top_acquisition)?)?;
        out.set_item(
            "about",
            format!(
                "objective (higher is better): {}; acquisition {}: {}",
                objective.describe(),
                spec.kind.name(),
                spec.kind.meaning()
            ),
        )?;
        Ok(out)
    }

    /// Writes the checkpoint to `path` (the CLI's layout; `overwrite` replaces a checkpoint
    /// mixatlas wrote, never anything else).
    #[pyo3(signature = (path, overwrite=false))]
    fn save(&self, py: Python<'_>, path: PathBuf, overwrite: bool) -> PyResult<()> {
        let model = &self.inner;
        py.detach(|| model.save(&path, Overwrite::from_force(overwrite)))
            .map_err(error)
    }
}

/// The ask/tell proposer: tell it logged runs, ask it for the next `q` mixtures, under
/// constraints and an objective, with `propose`'s search (random samples, CMA-ES, and the
/// gradient for an ensemble) and spacing.
#[pyclass(name = "Proposer", module = "mixatlas._mixatlas")]
struct PyProposer {
    inner: Proposer<Cpu>,
    domains: Vec<String>,
}

#[pymethods]
impl PyProposer {
    /// `space`: the domains, as a `Runs` (its space) or a space file (TOML). `constraints` and
    /// `objective` are files as `propose --constraints/--objective` read them; `config` is the
    /// surrogate's config TOML; `acquisition` one of mean, ucb, lcb, ei, pi, thompson,
    /// variance, ivr (`beta` for ucb/lcb, `xi` for ei/pi).
    #[new]
    #[pyo3(signature = (space, surrogate="ensemble", config=None, acquisition="mean", beta=None, xi=0.0, objective=None, constraints=None, samples=20_000, min_distance=0.05, seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        space: &Bound<'_, PyAny>,
        surrogate: &str,
        config: Option<&str>,
        acquisition: &str,
        beta: Option<f64>,
        xi: f64,
        objective: Option<PathBuf>,
        constraints: Option<PathBuf>,
        samples: u64,
        min_distance: f64,
        seed: u64,
    ) -> PyResult<Self> {
        let space = match space.cast::<PyRuns>() {
            Ok(runs) => runs.get().inner.schema.space.clone(),
            Err(_) => Space::from_file(&space.extract::<PathBuf>()?).map_err(error)?,
        };
        let constraints = match constraints {
            Some(path) => {
                let spec = ConstraintSpec::from_file(&path).map_err(error)?;
                Constraints::new(&space, &spec, &[]).map_err(error)?
            }
            None => Constraints::simplex(&space),
        };
        let acquisition = acquisition_spec(acquisition, beta, xi)?;
        let objective = match objective {
            Some(path) => ObjectiveSpec::from_file(&path).map_err(error)?,
            None => ObjectiveSpec::default(),
        };
        let search = ProposerConfig {
            acquisition,
            objective,
            samples,
            min_distance,
            seed,
            ..ProposerConfig::default()
        };
        let domains = space.names();
        let spec = surrogate_spec(surrogate, config)?;
        // As `propose`: the gradient searcher only where the surrogate is differentiable.
        let mut search = search;
        if !spec.capabilities().differentiable {
            search.searchers.retain(|s| *s != SearcherKind::Gradient);
        }
        let inner =
            Proposer::<Cpu>::new(constraints, spec, search, Default::default()).map_err(error)?;
        Ok(PyProposer { inner, domains })
    }

    /// Adds logged runs (one round; the same schema as runs told before).
    fn tell(&mut self, py: Python<'_>, runs: &PyRuns) -> PyResult<()> {
        let inner = &mut self.inner;
        let runs = &runs.inner;
        py.detach(|| inner.tell(runs)).map_err(error)
    }

    /// The next `q` mixtures, best first, as a pandas DataFrame when pandas is installed (else
    /// a dict of numpy columns): one column per domain, `<target>_mean` and
    /// `<target>_epistemic_std` per target, the objective's mean and epistemic std, the
    /// acquisition value and the distance to the nearest run told (total variation).
    fn ask<'py>(&mut self, py: Python<'py>, q: usize) -> PyResult<Bound<'py, PyAny>> {
        let inner = &mut self.inner;
        let batch = py.detach(|| inner.ask(q)).map_err(error)?;
        let column = |values: Vec<f64>| Array1::from_vec(values).into_pyarray(py);
        let columns = PyDict::new(py);
        for (j, d) in self.domains.iter().enumerate() {
            columns.set_item(
                d,
                column(batch.proposals.iter().map(|p| p.weights[j]).collect()),
            )?;
        }
        for (t, name) in batch.objective.targets.iter().enumerate() {
            let of = |f: fn(&(f64, f64)) -> f64| {
                batch.proposals.iter().map(|p| f(&p.targets[t])).collect()
            };
            columns.set_item(format!("{name}_mean"), column(of(|m| m.0)))?;
            columns.set_item(format!("{name}_epistemic_std"), column(of(|m| m.1)))?;
        }
        let field = |f: fn(&mixatlas::proposer::Proposal) -> f64| {
            column(batch.proposals.iter().map(f).collect())
        };
        columns.set_item("objective", field(|p| p.objective))?;
        columns.set_item("objective_std", field(|p| p.objective_std))?;
        columns.set_item("acquisition", field(|p| p.acquisition))?;
        columns.set_item(
            "nearest_run_distance",
            field(|p| p.nearest.map_or(f64::NAN, |(_, d)| d)),
        )?;
        frame(py, columns)
    }
}

/// The acquisition `name` (mean, ucb, lcb, ei, pi, thompson, variance, ivr) with `beta` (ucb,
/// lcb; default: the library's) and `xi` (ei, pi).
fn acquisition_spec(name: &str, beta: Option<f64>, xi: f64) -> PyResult<AcquisitionSpec> {
    let kind = serde_json::from_value(serde_json::Value::from(name)).map_err(|_| {
        error(format!(
            "acquisition `{name}`: expected mean, ucb, lcb, ei, pi, thompson, variance or ivr"
        ))
    })?;
    let defaults = AcquisitionSpec::default();
    Ok(AcquisitionSpec {
        kind,
        beta: beta.or(defaults.beta),
        xi,
        ..defaults
    })
}

/// The surrogate spec of `surrogate` (a kind's name) configured by the TOML `config`.
fn surrogate_spec(surrogate: &str, config: Option<&str>) -> PyResult<SurrogateSpec> {
    let kind: SurrogateKind =
        serde_json::from_value(serde_json::Value::from(surrogate)).map_err(|_| {
            error(format!(
                "surrogate `{surrogate}`: expected ensemble, gp, loglinear or auto"
            ))
        })?;
    SurrogateSpec::from_toml(kind, config.unwrap_or("")).map_err(error)
}

/// Fits a surrogate on `runs`; `config` is the TOML of that surrogate's config file (as
/// `train --config`), `seed` drives initialisation, bootstrap and restarts.
#[pyfunction]
#[pyo3(signature = (runs, surrogate="ensemble", config=None, seed=0, progress=true))]
fn fit(
    py: Python<'_>,
    runs: &PyRuns,
    surrogate: &str,
    config: Option<&str>,
    seed: u64,
    progress: bool,
) -> PyResult<PyModel> {
    let spec = surrogate_spec(surrogate, config)?;
    let runs = &runs.inner;
    let mut bar = Tqdm::new(py, progress);
    let fitted = py.detach(|| {
        let device = Default::default();
        let fitted = spec.fit::<Cpu>(runs, seed, &device, &mut bar)?;
        mixatlas::device::for_scoring(fitted)
    });
    Ok(PyModel {
        inner: fitted.map_err(error)?,
    })
}

/// Replays the strategies of the backtest config file `config` (as `mixatlas backtest
/// --config`) on the pool `runs`, in directory `out`: each strategy picks runs from the pool
/// and sees their logged outcomes. `objective` is an objective file (default: the one target
/// in its units, else every target standardised); `seeds` overrides the config's; `jobs`
/// threads (default: all cores); `resume` continues `out`, `force` replaces an `out`
/// mixatlas wrote. Writes `backtest.md`, `.csv` and `.json` there and returns the summary
/// (the JSON's content) as a dict.
#[pyfunction]
#[pyo3(signature = (runs, config, out, objective=None, seeds=None, jobs=None, resume=false, force=false, progress=true))]
#[allow(clippy::too_many_arguments)]
fn backtest<'py>(
    py: Python<'py>,
    runs: &PyRuns,
    config: PathBuf,
    out: PathBuf,
    objective: Option<PathBuf>,
    seeds: Option<usize>,
    jobs: Option<usize>,
    resume: bool,
    force: bool,
    progress: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if jobs == Some(0) {
        return Err(error("jobs must be at least 1"));
    }
    if resume && force {
        return Err(error(
            "resume continues `out` and force replaces it: give one of them",
        ));
    }
    let mut settings = BacktestConfig::from_file(&config).map_err(error)?;
    if let Some(seeds) = seeds {
        settings.seeds = seeds;
    }
    let pool = runs.inner.clone();
    let spec = match &objective {
        Some(path) => ObjectiveSpec::from_file(path).map_err(error)?,
        None => ObjectiveSpec::for_targets(&pool.schema.targets),
    };
    let backtest = Backtest::new(pool, settings, spec)
        .map_err(|e| error(format!("{} on the runs given: {e}", config.display())))?;
    let mut inputs = vec![config.as_path()];
    inputs.extend(objective.as_deref());
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut bar = Tqdm::new(py, progress);
    let summary = py
        .detach(|| {
            backtest.run_in::<Cpu>(
                &out,
                resume,
                force,
                &inputs,
                jobs,
                &Default::default(),
                &mut bar,
            )
        })
        .map_err(error)?;
    drop(bar);
    to_python(py, &summary)
}

/// Loads any checkpoint the CLI or `Model.save` wrote.
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<PyModel> {
    let fitted = py.detach(|| {
        let model = Fitted::<CpuInference>::load(&path, &Default::default())?;
        mixatlas::device::for_scoring(model)
    });
    Ok(PyModel {
        inner: fitted.map_err(error)?,
    })
}

#[pymodule]
fn _mixatlas(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MixatlasError", m.py().get_type::<MixatlasError>())?;
    m.add_class::<PyRuns>()?;
    m.add_class::<PyModel>()?;
    m.add_class::<PyProposer>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(backtest, m)?)?;
    Ok(())
}
