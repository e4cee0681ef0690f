//! Projected gradient ascent on the acquisition, differentiating through the predictor.
//!
//! The weights themselves are the parameters (projection parametrisation): each step moves
//! every start along its normalised gradient `dA/dw` (burn autodiff through the input
//! transform, the ensemble and the acquisition's smooth form), then projects back onto the
//! feasible bounds and group sums with [`Constraints::repair`]. A step that leaves the trust
//! region or KL budget is undone and that start's step size halved. The step size decays
//! linearly; each start keeps its best point.
//!
//! [`Constraints::repair`]: crate::space::Constraints::repair

use super::Result;
use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use super::{Candidate, Problem, SearchError, Searcher};
use crate::acquisition::{Acquisition, Smooth};
use crate::objective::Objective;
use crate::surrogate::{EnsembleMlp, InputTransform, Predictor, PredictorMeta};

/// Gradient ascent from the best `starts` candidates.
#[derive(Debug)]
pub struct GradientAscent<B: AutodiffBackend> {
    model: EnsembleMlp<B>,
    meta: PredictorMeta,
    coefficients: Vec<f64>,
    offsets: Vec<f64>,
    smooth: Smooth,
    context: Vec<f64>,
    device: B::Device,
    /// Steps per start.
    pub steps: usize,
    /// Initial step length (Euclidean norm in weight space).
    pub step: f64,
    /// Number of starts optimised (as one batch).
    pub starts: usize,
}

impl<B: AutodiffBackend> GradientAscent<B> {
    /// Prepares ascent on `acquisition` under `objective` through `predictor` at `context`.
    pub fn new(
        predictor: &Predictor<B::InnerBackend>,
        objective: &Objective,
        acquisition: &dyn Acquisition,
        context: Vec<f64>,
    ) -> Result<Self, SearchError> {
        let smooth = acquisition
            .smooth()
            .ok_or_else(|| SearchError::NotDifferentiable {
                acquisition: acquisition.name(),
            })?;
        let lift = |params: &[Param<Tensor<B::InnerBackend, 3>>]| -> Vec<Param<Tensor<B, 3>>> {
            params
                .iter()
                .map(|p| Param::from_tensor(Tensor::from_inner(p.val())))
                .collect()
        };
        let model = EnsembleMlp {
            weights: lift(&predictor.model.weights),
            biases: lift(&predictor.model.biases),
        }
        .no_grad();
        Ok(GradientAscent {
            model,
            meta: predictor.meta.clone(),
            coefficients: objective.coefficients.clone(),
            offsets: objective.offsets.clone(),
            smooth,
            context,
            device: predictor.device().clone(),
            steps: 100,
            step: 0.05,
            starts: 16,
        })
    }

    /// Smooth acquisition values `[k]` and their gradients with respect to the weights
    /// `[k][domains]` at mixtures `w` (`[k][domains]`).
    pub fn value_and_gradient(&self, w: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
        let (k, d) = (w.len(), w[0].len());
        let dev = &self.device;
        let flat: Vec<f32> = w.iter().flatten().map(|&x| x as f32).collect();
        let x = Tensor::<B, 2>::from_data(TensorData::new(flat, [k, d]), dev).require_grad();
        let mut parts = match self.meta.config.input_transform {
            InputTransform::Identity => vec![x.clone()],
            InputTransform::Sqrt => vec![x.clone().clamp_min(1e-10).sqrt()],
            InputTransform::SqrtLinear => vec![x.clone().clamp_min(1e-10).sqrt(), x.clone()],
            InputTransform::Log { eps } => vec![x.clone().add_scalar(eps).log()],
        };
        if !self.context.is_empty() {
            let c: Vec<f32> = (0..k)
                .flat_map(|_| self.context.iter().map(|&v| v as f32))
                .collect();
            let c = TensorData::new(c, [k, self.context.len()]);
            parts.push(Tensor::from_data(c, dev));
        }
        let raw = Tensor::cat(parts, 1);
        let row = |v: &[f64]| {
            let data: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::<B, 2>::from_data(TensorData::new(data, [1, v.len()]), dev)
        };
        let features = (raw - row(&self.meta.input_norm.mean)) / row(&self.meta.input_norm.std);
        let out = self
            .model
            .forward_shared(features, self.meta.config.activation);
        let m = out.dims()[0];
        let t = self.coefficients.len();
        let out = out.slice([0..m, 0..k, 0..t]);
        let per_target = |v: Vec<f64>| row(&v).unsqueeze::<3>();
        // The members' spread as calibrated (`PredictorMeta::epistemic_scale`).
        let out = match &self.meta.epistemic_scale {
            scale if scale.is_empty() => out,
            scale => {
                let mean = out.clone().mean_dim(0);
                mean.clone() + (out - mean) * per_target(scale.clone())
            }
        };
        let sd = &self.meta.target_norm.std;
        // objective_m = sum_t c_t (mu_t + sd_t z_t - o_t) = sum_t (c_t sd_t) z_t + const.
        let scale: Vec<f64> = (0..t).map(|j| self.coefficients[j] * sd[j]).collect();
        let shift: f64 = (0..t)
            .map(|j| self.coefficients[j] * (self.meta.target_norm.mean[j] - self.offsets[j]))
            .sum();
        let obj = (out * per_target(scale)).sum_dim(2).add_scalar(shift); // [M, k, 1]
        let mean = obj.clone().mean_dim(0); // [1, k, 1]
        let std = (obj.clone() - mean.clone())
            .powi_scalar(2)
            .mean_dim(0)
            .add_scalar(1e-12)
            .sqrt();
        let value = match self.smooth {
            Smooth::MeanStd { mean: a, std: b } => mean.mul_scalar(a) + std.mul_scalar(b),
            Smooth::Member(i) => obj.slice([i..i + 1, 0..k, 0..1]),
            Smooth::Improvement {
                incumbent,
                xi,
                expected,
            } => {
                let gap = mean.sub_scalar(incumbent + xi);
                let z = gap.clone() / std.clone();
                let cdf = z
                    .clone()
                    .div_scalar(std::f64::consts::SQRT_2)
                    .erf()
                    .add_scalar(1.0)
                    .mul_scalar(0.5);
                if expected {
                    let pdf = z
                        .powi_scalar(2)
                        .mul_scalar(-0.5)
                        .exp()
                        .div_scalar((2.0 * std::f64::consts::PI).sqrt());
                    gap * cdf + std * pdf
                } else {
                    cdf
                }
            }
        };
        let values: Vec<f32> = value
            .clone()
            .into_data()
            .to_vec()
            .expect("the model computes in f32");
        let grads = value.sum().backward();
        let g: Vec<f32> = x
            .grad(&grads)
            .expect("the weights require a gradient")
            .into_data()
            .to_vec()
            .expect("gradients are f32");
        (
            values.into_iter().map(f64::from).collect(),
            g.chunks(d)
                .map(|r| r.iter().map(|&v| f64::from(v)).collect())
                .collect(),
        )
    }
}

impl<B: AutodiffBackend> Searcher for GradientAscent<B> {
    fn name(&self) -> String {
        format!("gradient({} steps)", self.steps)
    }

    fn search(
        &mut self,
        problem: &mut Problem<'_>,
        starts: &[Candidate],
    ) -> Result<Vec<Candidate>> {
        let c = problem.constraints;
        let d = c.len();
        let mut w: Vec<Vec<f64>> = if starts.is_empty() {
            vec![c.repair(&vec![1.0 / d as f64; d])]
        } else {
            starts
                .iter()
                .take(self.starts.max(1))
                .map(|s| s.weights.clone())
                .collect()
        };
        let mut best: Vec<(f64, Vec<f64>)> =
            w.iter().map(|x| (f64::NEG_INFINITY, x.clone())).collect();
        let mut step = vec![self.step; w.len()];
        for s in 0..self.steps {
            let (values, grads) = self.value_and_gradient(&w);
            let decay = 1.0 - s as f64 / self.steps as f64;
            for i in 0..w.len() {
                if values[i] > best[i].0 {
                    best[i] = (values[i], w[i].clone());
                }
                let norm = grads[i].iter().map(|g| g * g).sum::<f64>().sqrt();
                if !(norm.is_finite() && norm > 0.0) {
                    continue;
                }
                let eta = step[i] * decay / norm;
                let moved: Vec<f64> = w[i]
                    .iter()
                    .zip(&grads[i])
                    .map(|(x, g)| x + eta * g)
                    .collect();
                let next = c.repair(&moved);
                if c.is_feasible(&next) {
                    w[i] = next;
                } else {
                    step[i] *= 0.5;
                }
            }
            problem
                .observer
                .progress("gradient", (s + 1) as u64, self.steps as u64);
        }
        let (values, _) = self.value_and_gradient(&w);
        for i in 0..w.len() {
            if values[i] > best[i].0 {
                best[i] = (values[i], w[i].clone());
            }
        }
        // Report every point with the exact acquisition, as the other searchers do.
        let points: Vec<Vec<f64>> = best.into_iter().map(|b| b.1).collect();
        let values = (problem.evaluate)(&points)?;
        let found: Vec<Candidate> = points
            .into_iter()
            .zip(values)
            .map(|(weights, value)| Candidate {
                weights,
                value,
                pool_row: None,
            })
            .collect();
        Ok(super::merge(Vec::new(), found, usize::MAX))
    }
}
