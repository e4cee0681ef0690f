//! What `simulate` and `propose` share: the checkpoint, objectives, constraints, logged runs,
//! context and acquisition function, built from [`ScoringArgs`].

use anyhow::{Context, Result, bail};
use burn::prelude::Backend;

use crate::acquisition::{Acquisition, Scorer};
use crate::cli::args::ScoringArgs;
use crate::objective::{Objective, ObjectiveSpec};
use crate::proposer::{build_acquisition, search_sampler};
use crate::runs::{Runs, SchemaCheck};
use crate::space::Constraints;
use crate::space::sampler::DirichletSampler;
use crate::surrogate::{Fitted, Surrogate};

pub struct Setup<B: Backend> {
    pub model: Fitted<B>,
    /// The objective, then an optional second one.
    pub objectives: Vec<Objective>,
    /// The specs of `objectives`.
    pub objective_specs: Vec<ObjectiveSpec>,
    pub constraints: Constraints,
    pub logged: Option<Runs>,
    pub context: Vec<f64>,
    pub sampler: DirichletSampler,
}

impl<B: Backend> Setup<B> {
    pub fn load(args: &ScoringArgs, device: &B::Device) -> Result<Self> {
        let model = crate::device::for_scoring(Fitted::load(&args.checkpoint, device)?)?;
        let surrogate = model.surrogate();
        let schema = surrogate.schema();
        let norm = surrogate.target_norm();
        let mut objectives = Vec::new();
        let mut objective_specs = Vec::new();
        for path in &args.objectives {
            let spec = ObjectiveSpec::from_file(path)?;
            objective_specs.push(spec.clone());
            objectives.push(
                Objective::new(&spec, schema, norm)
                    .with_context(|| format!("in {}", path.display()))?,
            );
        }
        if objectives.is_empty() {
            objectives.push(Objective::new(&ObjectiveSpec::default(), schema, norm)?);
            objective_specs.push(ObjectiveSpec::default());
        }
        if objectives.len() > 2 {
            bail!("--objective is given {} times; at most 2", objectives.len());
        }
        let logged = match &args.data {
            None => None,
            Some(path) => {
                let spec = super::logged_spec(path, None)?;
                Some(Runs::load_with_schema(
                    &spec,
                    schema,
                    SchemaCheck::WithTargets,
                )?)
            }
        };
        let anchors = logged.as_ref().map_or(&[][..], |r| &r.mixtures[..]);
        let constraints = Constraints::load(&schema.space, args.constraints.as_deref(), anchors)
            .context("the constraints")?;
        let context = parse_context(&args.context, &schema.context)?;
        let sampler = search_sampler(&constraints, &schema.space, args.prior);
        Ok(Setup {
            model,
            objectives,
            objective_specs,
            constraints,
            logged,
            context,
            sampler,
        })
    }

    pub fn surrogate(&self) -> &dyn Surrogate {
        self.model.surrogate()
    }

    /// The scorer for `args`' acquisition (with member outputs when it reads them).
    pub fn scorer(&self, args: &ScoringArgs) -> Scorer<'_> {
        Scorer {
            surrogate: self.surrogate(),
            objective: &self.objectives[0],
            context: self.context.clone(),
            members: args.acquisition_spec().kind.needs_members(),
        }
    }

    /// The acquisition function of `args`, with the incumbent from the logged runs and, for
    /// `ivr`, a reference set of feasible samples plus the logged mixtures.
    pub fn acquisition(&self, args: &ScoringArgs) -> Result<Box<dyn Acquisition>> {
        let (acq, _) = build_acquisition(
            &self.scorer(args),
            &args.acquisition_spec(),
            self.logged.as_ref(),
            None,
            &self.sampler,
            &self.constraints,
            args.seed,
        )?;
        Ok(acq)
    }
}

/// `name=value` pairs in the order of the predictor's context columns.
pub(super) fn parse_context(pairs: &[String], names: &[String]) -> Result<Vec<f64>> {
    let mut values = vec![None; names.len()];
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("--context {pair}: expected NAME=VALUE");
        };
        let Some(j) = names.iter().position(|n| n == name.trim()) else {
            bail!("--context {pair}: the predictor's context columns are {names:?}");
        };
        let v: f64 = value
            .trim()
            .parse()
            .with_context(|| format!("--context {pair}: `{value}` is not a number"))?;
        if !v.is_finite() {
            bail!("--context {pair}: the value must be finite");
        }
        if values[j].is_some() {
            bail!("--context {pair}: `{}` is given twice", names[j]);
        }
        values[j] = Some(v);
    }
    names
        .iter()
        .zip(values)
        .map(|(n, v)| {
            v.with_context(|| format!("--context {n}=VALUE is required by the checkpoint"))
        })
        .collect()
}
