//! What `simulate` and `propose` share: the checkpoint, objectives, constraints, logged runs,
//! context and acquisition function, built from [`ScoringArgs`].

use anyhow::{Context, Result, bail};
use burn::prelude::Backend;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::acquisition::{self, Acquisition, AcquisitionKind, AcquisitionSpec, Scorer};
use crate::cli::Model;
use crate::cli::args::ScoringArgs;
use crate::objective::{Objective, ObjectiveSpec};
use crate::predictor::Surrogate;
use crate::runs::{DataSpec, Runs};
use crate::search::sample_chunk;
use crate::space::sampler::{DirichletSampler, prior_weights};
use crate::space::{ConstraintSpec, Constraints};

/// Reference mixtures the `ivr` criterion integrates over (besides the logged runs).
const REFERENCE_SAMPLES: usize = 512;

pub struct Setup<B: Backend> {
    pub model: Model<B>,
    /// The objective, then an optional second one.
    pub objectives: Vec<Objective>,
    pub constraints: Constraints,
    pub logged: Option<Runs>,
    pub context: Vec<f64>,
    pub sampler: DirichletSampler,
}

impl<B: Backend> Setup<B> {
    pub fn load<A: AutodiffBackend<InnerBackend = B>>(
        args: &ScoringArgs,
        device: &A::Device,
    ) -> Result<Self> {
        let model = super::load_model::<A>(&args.checkpoint, args.common.device, device)?;
        let surrogate = model.surrogate();
        let schema = surrogate.schema();
        let norm = surrogate.target_norm();
        let mut objectives = Vec::new();
        for path in &args.objectives {
            let spec = ObjectiveSpec::from_file(path)?;
            objectives.push(
                Objective::new(&spec, schema, norm)
                    .with_context(|| format!("in {}", path.display()))?,
            );
        }
        if objectives.is_empty() {
            objectives.push(Objective::new(&ObjectiveSpec::default(), schema, norm)?);
        }
        if objectives.len() > 2 {
            bail!("--objective is given {} times; at most 2", objectives.len());
        }
        let logged = match &args.data {
            None => None,
            Some(path) => {
                let spec = DataSpec::from_file(path)?;
                Some(Runs::load_with_schema(&spec, schema, true)?)
            }
        };
        let anchors = logged.as_ref().map_or(&[][..], |r| &r.mixtures[..]);
        let spec = match &args.constraints {
            Some(path) => ConstraintSpec::from_file(path)?,
            None => ConstraintSpec::default(),
        };
        let constraints = Constraints::new(&schema.space, &spec, anchors).with_context(|| {
            args.constraints
                .as_ref()
                .map_or("the space's bounds".into(), |p| {
                    format!("in {}", p.display())
                })
        })?;
        let context = parse_context(&args.context, &schema.context)?;
        // Inside a trust region, draw around the logged runs it is anchored on.
        let sampler = match &constraints.trust_region {
            Some((anchors, _)) => DirichletSampler {
                centers: anchors.clone(),
                strength: (1.0, 50.0),
            },
            None => DirichletSampler::around(prior_weights(&schema.space, args.prior)),
        };
        Ok(Setup {
            model,
            objectives,
            constraints,
            logged,
            context,
            sampler,
        })
    }

    pub fn surrogate(&self) -> &dyn Surrogate {
        self.model.surrogate()
    }

    pub fn scorer(&self) -> Scorer<'_> {
        Scorer {
            surrogate: self.surrogate(),
            objective: &self.objectives[0],
            context: self.context.clone(),
        }
    }

    /// The acquisition function of `args`, with the incumbent from the logged runs and, for
    /// `ivr`, a reference set of feasible samples plus the logged mixtures.
    pub fn acquisition(&self, args: &ScoringArgs) -> Result<Box<dyn Acquisition>> {
        let spec = AcquisitionSpec {
            kind: args.acquisition,
            beta: (!args.gp_ucb).then_some(args.beta),
            delta: args.delta,
            xi: args.xi,
        };
        if matches!(self.model, Model::Gp(_))
            && matches!(spec.kind, AcquisitionKind::Thompson | AcquisitionKind::Ivr)
        {
            bail!(
                "acquisition `{:?}` needs joint posterior samples; the GP surrogate gives only \
                 its mean and std (use ucb, lcb, ei, pi, mean or variance, or an ensemble)",
                spec.kind
            );
        }
        let outcomes = self.logged.as_ref().map_or(&[][..], |r| &r.outcomes[..]);
        let reference = (spec.kind == AcquisitionKind::Ivr).then(|| {
            let (mut r, _) = sample_chunk(
                &self.sampler,
                &self.constraints,
                REFERENCE_SAMPLES,
                args.seed ^ 0x5EED,
                0,
            );
            if let Some(runs) = &self.logged {
                r.extend(runs.mixtures.iter().cloned());
            }
            r
        });
        let ctx = self
            .scorer()
            .acquisition_context(outcomes, reference.as_deref())?;
        let mut rng = StdRng::seed_from_u64(args.seed);
        Ok(acquisition::build(
            &spec,
            &ctx,
            self.surrogate().members(),
            &mut rng,
        )?)
    }
}

/// `name=value` pairs in the order of the predictor's context columns.
fn parse_context(pairs: &[String], names: &[String]) -> Result<Vec<f64>> {
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
