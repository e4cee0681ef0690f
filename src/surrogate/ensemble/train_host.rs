//! The CPU training path: forward, backward and AdamW of the batched ensemble on host memory,
//! one member at a time, with every buffer allocated once.
//!
//! burn 0.21's autodiff on the flex backend builds a graph of small tensors per step (gather,
//! matmul, bias broadcast, SiLU, MSE, then their backward ops and AdamW's element-wise ops):
//! 18.5 s for 500 full-batch steps of the default ensemble on 512 RegMix runs, 5.4 s of it in
//! the kernel (page faults of freed and re-allocated buffers), 1.55x slower than PyTorch on one
//! core. Here each layer of each member is one GEMM forward and two backward (the `gemm` crate
//! that burn-flex uses), the activation and its derivative are applied in place, and AdamW
//! updates the parameters in one pass. Members are independent, so they train in parallel on
//! the current rayon pool.
//!
//! It computes exactly what [`super::train`]'s burn path computes — the same loss (member mean
//! MSE or Gaussian NLL, summed over members), the same gradients (tested against burn's
//! autodiff to 1e-5 relative), and burn's AdamW (`AdamWConfig` defaults: beta 0.9 / 0.999,
//! epsilon 1e-5, decoupled weight decay `p (1 - lr wd)` before the Adam step) — on the flex
//! CPU backend; GPU backends keep burn's path, as does GELU (not implemented here).

use burn::prelude::*;
use rayon::prelude::*;

use super::score_host::{FusedCpuScorer, Transpose, exp, matmul};
use crate::surrogate::{Activation, EnsembleMlp};

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// One member's parameters, AdamW moments and scratch buffers.
#[derive(Debug, Clone)]
struct Member {
    /// Per layer `[in, out]` row-major, and `[out]`.
    weights: Vec<Vec<f32>>,
    biases: Vec<Vec<f32>>,
    /// AdamW first and second moments, same shapes.
    m_w: Vec<Vec<f32>>,
    v_w: Vec<Vec<f32>>,
    m_b: Vec<Vec<f32>>,
    v_b: Vec<Vec<f32>>,
    /// Gradients, same shapes.
    g_w: Vec<Vec<f32>>,
    g_b: Vec<Vec<f32>>,
    /// Layer inputs `h[l]` `[b, widths[l]]` (h[0] the gathered rows), pre-activations
    /// `z[l]` `[b, widths[l + 1]]`, and for SiLU the sigmoids `s[l]` of the hidden `z[l]`.
    h: Vec<Vec<f32>>,
    z: Vec<Vec<f32>>,
    s: Vec<Vec<f32>>,
    /// Backward scratch `[b, widest]`, twice.
    delta: [Vec<f32>; 2],
}

/// Hyperparameters and shapes shared by the members.
#[derive(Debug, Clone)]
struct Shape {
    widths: Vec<usize>,
    activation: Activation,
    heteroscedastic: bool,
    targets: usize,
}

/// One layer's gradient: weights `[in, out]` and biases `[out]`.
pub type LayerGradient = (Vec<f32>, Vec<f32>);

/// The ensemble in training on the CPU; see the module docs.
#[derive(Debug, Clone)]
pub struct FusedTrainer {
    shape: Shape,
    members: Vec<Member>,
    /// AdamW steps taken.
    time: i32,
}

/// Host copies of the parameters, to restore the best epoch's: per member, per layer.
#[derive(Debug, Clone)]
pub struct Snapshot {
    weights: Vec<Vec<Vec<f32>>>,
    biases: Vec<Vec<Vec<f32>>>,
}

impl FusedTrainer {
    /// Starts from `model`'s parameters with zero moments; `None` for GELU, which this path
    /// does not implement. The output layer has `targets` (or `2 targets` when
    /// `heteroscedastic`) units.
    pub fn new<B: Backend>(
        model: &EnsembleMlp<B>,
        activation: Activation,
        heteroscedastic: bool,
        targets: usize,
    ) -> Option<Self> {
        if activation == Activation::Gelu {
            return None;
        }
        let widths = model.widths();
        let m = model.members();
        let host =
            |t: Tensor<B, 3>| -> Vec<f32> { t.into_data().to_vec().expect("weights are f32") };
        let weights: Vec<Vec<f32>> = model.weights.iter().map(|w| host(w.val())).collect();
        let biases: Vec<Vec<f32>> = model.biases.iter().map(|b| host(b.val())).collect();
        let layers = widths.len() - 1;
        let members = (0..m)
            .map(|k| {
                let w: Vec<Vec<f32>> = (0..layers)
                    .map(|l| {
                        let size = widths[l] * widths[l + 1];
                        weights[l][k * size..(k + 1) * size].to_vec()
                    })
                    .collect();
                let b: Vec<Vec<f32>> = (0..layers)
                    .map(|l| biases[l][k * widths[l + 1]..(k + 1) * widths[l + 1]].to_vec())
                    .collect();
                let zeros = |v: &Vec<Vec<f32>>| v.iter().map(|x| vec![0.0; x.len()]).collect();
                Member {
                    m_w: zeros(&w),
                    v_w: zeros(&w),
                    g_w: zeros(&w),
                    m_b: zeros(&b),
                    v_b: zeros(&b),
                    g_b: zeros(&b),
                    weights: w,
                    biases: b,
                    h: Vec::new(),
                    z: Vec::new(),
                    s: Vec::new(),
                    delta: [Vec::new(), Vec::new()],
                }
            })
            .collect();
        Some(FusedTrainer {
            shape: Shape {
                widths,
                activation,
                heteroscedastic,
                targets,
            },
            members,
            time: 0,
        })
    }

    /// One AdamW step on the batch `rows[k]` (indices into `x` `[n, inputs]` and `y`
    /// `[n, targets]`, standardised) for each member `k`; returns the loss before the step
    /// (mean over members of each member's mean loss), as the burn path reports it.
    pub fn step(&mut self, x: &[f32], y: &[f32], rows: &[Vec<usize>], lr: f64, wd: f64) -> f64 {
        self.time += 1;
        let (shape, time) = (&self.shape, self.time);
        let m = self.members.len();
        let losses: Vec<f64> = self
            .members
            .par_iter_mut()
            .zip(rows)
            .map(|(member, rows)| {
                let loss = member.gradients(shape, x, y, rows);
                member.adamw(time, lr, wd);
                loss
            })
            .collect();
        losses.iter().sum::<f64>() / m as f64
    }

    /// The loss and the gradients of every parameter on the batch, without a step: per member,
    /// per layer, `(weights [in, out], biases [out])` (for the tests against burn).
    pub fn loss_and_gradients(
        &mut self,
        x: &[f32],
        y: &[f32],
        rows: &[Vec<usize>],
    ) -> (f64, Vec<Vec<LayerGradient>>) {
        let shape = &self.shape;
        let mut loss = 0.0;
        let mut grads = Vec::new();
        for (member, rows) in self.members.iter_mut().zip(rows) {
            loss += member.gradients(shape, x, y, rows);
            grads.push(
                member
                    .g_w
                    .iter()
                    .cloned()
                    .zip(member.g_b.iter().cloned())
                    .collect(),
            );
        }
        (loss / self.members.len() as f64, grads)
    }

    /// Member outputs for rows `x` (`[n, inputs]`): `[M, n, outputs]` row-major, as
    /// [`EnsembleMlp::forward_shared`] gives them (through the fused scorer).
    pub fn forward_shared(&self, x: &[f32]) -> Vec<f32> {
        let layers = self.shape.widths.len() - 1;
        let stack = |part: fn(&Member) -> &Vec<Vec<f32>>| -> Vec<Vec<f32>> {
            (0..layers)
                .map(|l| {
                    self.members
                        .iter()
                        .flat_map(|m| part(m)[l].iter().copied())
                        .collect()
                })
                .collect()
        };
        FusedCpuScorer::from_parts(
            self.members.len(),
            self.shape.widths.clone(),
            stack(|m| &m.weights),
            stack(|m| &m.biases),
            self.shape.activation,
        )
        .forward(x)
    }

    /// The parameters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            weights: self.members.iter().map(|m| m.weights.clone()).collect(),
            biases: self.members.iter().map(|m| m.biases.clone()).collect(),
        }
    }

    /// An ensemble on `device` with the parameters of `snapshot`.
    pub fn model<B: Backend>(&self, snapshot: &Snapshot, device: &B::Device) -> EnsembleMlp<B> {
        let w = &self.shape.widths;
        let m = self.members.len();
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for l in 0..w.len() - 1 {
            let wl: Vec<f32> = snapshot
                .weights
                .iter()
                .flat_map(|k| k[l].iter().copied())
                .collect();
            let bl: Vec<f32> = snapshot
                .biases
                .iter()
                .flat_map(|k| k[l].iter().copied())
                .collect();
            weights.push(burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(wl, [m, w[l], w[l + 1]]),
                device,
            )));
            biases.push(burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(bl, [m, 1, w[l + 1]]),
                device,
            )));
        }
        EnsembleMlp { weights, biases }
    }
}

impl Member {
    /// Forward and backward on `rows`: fills `g_w`, `g_b`; returns this member's mean loss.
    fn gradients(&mut self, shape: &Shape, x: &[f32], y: &[f32], rows: &[usize]) -> f64 {
        let w = &shape.widths;
        let layers = w.len() - 1;
        let b = rows.len();
        let widest = w.iter().copied().max().expect("non-empty");
        if self.h.len() != layers || self.h[0].len() != b * w[0] {
            self.h = (0..layers).map(|l| vec![0.0; b * w[l]]).collect();
            self.z = (0..layers).map(|l| vec![0.0; b * w[l + 1]]).collect();
            self.s = (0..layers).map(|l| vec![0.0; b * w[l + 1]]).collect();
            self.delta = [vec![0.0; b * widest], vec![0.0; b * widest]];
        }
        self.forward(shape, x, rows);
        let loss = self.output_gradient(shape, y, rows);
        self.backward(shape, b);
        loss
    }

    /// The forward pass on `rows` of `x`, keeping every layer's input (`h`) and pre-activation
    /// (`z`).
    fn forward(&mut self, shape: &Shape, x: &[f32], rows: &[usize]) {
        let w = &shape.widths;
        let (layers, b, d) = (w.len() - 1, rows.len(), w[0]);
        for (i, &r) in rows.iter().enumerate() {
            self.h[0][i * d..(i + 1) * d].copy_from_slice(&x[r * d..(r + 1) * d]);
        }
        for l in 0..layers {
            let (fan_in, fan_out) = (w[l], w[l + 1]);
            let z = &mut self.z[l];
            let (inputs, later) = self.h.split_at_mut(l + 1);
            matmul(
                z,
                &inputs[l],
                Transpose::No,
                &self.weights[l],
                Transpose::No,
                b,
                fan_in,
                fan_out,
                false,
            );
            match later.first_mut() {
                Some(next) => {
                    kernels::bias_activate(
                        z,
                        next,
                        &mut self.s[l],
                        &self.biases[l],
                        shape.activation,
                    );
                }
                None => kernels::add_bias(z, &self.biases[l]),
            }
        }
    }

    /// The loss on `rows` of `y` and its gradient at the output (into `delta[0]`): squared
    /// error, or the Gaussian negative log likelihood when heteroscedastic. Returns the mean.
    fn output_gradient(&mut self, shape: &Shape, y: &[f32], rows: &[usize]) -> f64 {
        let w = &shape.widths;
        let (layers, b, t) = (w.len() - 1, rows.len(), shape.targets);
        let o = w[layers];
        let out = &self.z[layers - 1];
        let g = &mut self.delta[0][..b * o];
        let scale = 1.0 / (b * t) as f64;
        let mut loss = 0.0f64;
        for (i, &r) in rows.iter().enumerate() {
            for j in 0..t {
                let target = y[r * t + j];
                if shape.heteroscedastic {
                    let (mu, s) = (out[i * o + j], out[i * o + t + j]);
                    let var = softplus(s) + 1e-6;
                    let resid = target - mu;
                    loss += 0.5 * (f64::from(var).ln() + f64::from(resid * resid / var));
                    g[i * o + j] = ((mu - target) / var) * scale as f32;
                    let sigmoid = 1.0 / (1.0 + exp(-s));
                    g[i * o + t + j] =
                        0.5 * (1.0 / var - resid * resid / (var * var)) * sigmoid * scale as f32;
                } else {
                    let diff = out[i * o + j] - target;
                    loss += f64::from(diff * diff);
                    g[i * o + j] = 2.0 * diff * scale as f32;
                }
            }
        }
        loss * scale
    }

    /// Backward from the output gradient in `delta[0]` over a batch of `b` rows:
    /// `dW = h^T g`, `db` = column sums of `g`, `g <- (g W^T) * act'(z)`.
    fn backward(&mut self, shape: &Shape, b: usize) {
        let w = &shape.widths;
        let layers = w.len() - 1;
        let (mut cur, mut next) = (0, 1);
        for l in (0..layers).rev() {
            let (fan_in, fan_out) = (w[l], w[l + 1]);
            let g = &self.delta[cur][..b * fan_out];
            matmul(
                &mut self.g_w[l],
                &self.h[l],
                Transpose::Yes,
                g,
                Transpose::No,
                fan_in,
                b,
                fan_out,
                false,
            );
            kernels::column_sums(g, &mut self.g_b[l]);
            if l == 0 {
                break;
            }
            let [d0, d1] = &mut self.delta;
            let (src, dst) = if cur == 0 { (&*d0, d1) } else { (&*d1, d0) };
            let dst = &mut dst[..b * fan_in];
            matmul(
                dst,
                &src[..b * fan_out],
                Transpose::No,
                &self.weights[l],
                Transpose::Yes,
                b,
                fan_out,
                fan_in,
                false,
            );
            kernels::derivative(
                dst,
                &self.z[l - 1],
                &self.s[l - 1],
                &self.h[l],
                shape.activation,
            );
            std::mem::swap(&mut cur, &mut next);
        }
    }

    /// burn's AdamW step on every parameter with the gradients in `g_w`, `g_b`.
    fn adamw(&mut self, time: i32, lr: f64, wd: f64) {
        let decay = (1.0 - lr * wd) as f32;
        let c1 = 1.0 / (1.0 - BETA_1.powi(time));
        let c2 = 1.0 / (1.0 - BETA_2.powi(time));
        let lr = lr as f32;
        let step = kernels::AdamW { decay, c1, c2, lr };
        for l in 0..self.weights.len() {
            step.update(
                &mut self.weights[l],
                &self.g_w[l],
                &mut self.m_w[l],
                &mut self.v_w[l],
            );
            step.update(
                &mut self.biases[l],
                &self.g_b[l],
                &mut self.m_b[l],
                &mut self.v_b[l],
            );
        }
    }
}

/// `ln(1 + e^s)`, stable for large `|s|`.
fn softplus(s: f32) -> f32 {
    s.max(0.0) + (1.0 + exp(-s.abs())).ln()
}

/// The element-wise passes, each compiled for the baseline target and for AVX2 + FMA
/// (`score_host::dispatch`).
mod kernels {
    pub(super) use super::super::score_host::add_bias;
    use super::super::score_host::{bias_silu, dispatch, exp};
    use super::{BETA_1, BETA_2, EPSILON};
    use crate::surrogate::Activation;

    dispatch!(bias_activate(z: &mut [f32], h: &mut [f32], s: &mut [f32], bias: &[f32], act: Activation) {
        if act == Activation::Silu {
            // Its own kernel, which also keeps the sigmoid for the backward pass.
            return bias_silu(z, h, s, bias);
        }
        let width = bias.len();
        let rows = z.chunks_mut(width).zip(h.chunks_mut(width)).zip(s.chunks_mut(width));
        for ((z, h), s) in rows {
            let each = z.iter_mut().zip(h.iter_mut()).zip(s.iter_mut()).zip(bias);
            match act {
                Activation::Silu => unreachable!("SiLU returned above"),
                Activation::Relu => each.for_each(|(((z, h), _), b)| {
                    *z += b;
                    *h = z.max(0.0);
                }),
                Activation::Tanh => each.for_each(|(((z, h), _), b)| {
                    *z += b;
                    *h = 1.0 - 2.0 / (exp(2.0 * *z) + 1.0);
                }),
                Activation::Gelu => unreachable!("FusedTrainer::new refuses GELU"),
            }
        }
    });

    dispatch!(derivative(g: &mut [f32], z: &[f32], s: &[f32], h: &[f32], act: Activation) {
        match act {
            Activation::Silu => {
                for ((g, &z), &s) in g.iter_mut().zip(z).zip(s) {
                    *g *= s * (1.0 + z * (1.0 - s));
                }
            }
            Activation::Relu => {
                for (g, &z) in g.iter_mut().zip(z) {
                    *g = if z > 0.0 { *g } else { 0.0 };
                }
            }
            Activation::Tanh => g.iter_mut().zip(h).for_each(|(g, &h)| *g *= 1.0 - h * h),
            Activation::Gelu => unreachable!("FusedTrainer::new refuses GELU"),
        }
    });

    dispatch!(column_sums(g: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        for row in g.chunks(out.len()) {
            out.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
    });

    /// burn's AdamW update with the bias corrections `c1 = 1 / (1 - beta1^t)`,
    /// `c2 = 1 / (1 - beta2^t)` and the decay factor `1 - lr wd`.
    pub(super) struct AdamW {
        pub decay: f32,
        pub c1: f32,
        pub c2: f32,
        pub lr: f32,
    }

    impl AdamW {
        pub fn update(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
            adamw(p, g, m, v, self);
        }
    }

    dispatch!(adamw(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &AdamW) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = *m * BETA_1 + g * (1.0 - BETA_1);
            *v = *v * BETA_2 + g * g * (1.0 - BETA_2);
            let delta = (*m * k.c1) / ((*v * k.c2).sqrt() + EPSILON);
            *p = *p * k.decay - delta * k.lr;
        }
    });
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::surrogate::ensemble::train::member_loss;

    type B = Autodiff<Flex>;

    /// `n` rows of `d` inputs and `t` targets, and per member a batch of `b` row indices.
    fn data(
        n: usize,
        d: usize,
        t: usize,
        m: usize,
        b: usize,
    ) -> (Vec<f32>, Vec<f32>, Vec<Vec<usize>>) {
        let mut rng = StdRng::seed_from_u64(7);
        let x = (0..n * d).map(|_| rng.random_range(-1.5..1.5)).collect();
        let y = (0..n * t).map(|_| rng.random_range(-1.0..1.0)).collect();
        let rows = (0..m)
            .map(|_| (0..b).map(|_| rng.random_range(0..n)).collect())
            .collect();
        (x, y, rows)
    }

    /// burn's loss on the batch, as `train::fit` builds it.
    fn burn_loss(
        model: &EnsembleMlp<B>,
        x: &[f32],
        y: &[f32],
        rows: &[Vec<usize>],
        (d, t, act, hetero): (usize, usize, Activation, bool),
    ) -> Tensor<B, 1> {
        let device = Default::default();
        let (m, b) = (rows.len(), rows[0].len());
        let gather = |v: &[f32], w: usize| -> Vec<f32> {
            rows.iter()
                .flatten()
                .flat_map(|&r| v[r * w..(r + 1) * w].to_vec())
                .collect()
        };
        let xb = Tensor::<B, 3>::from_data(TensorData::new(gather(x, d), [m, b, d]), &device);
        let yb = Tensor::<B, 3>::from_data(TensorData::new(gather(y, t), [m, b, t]), &device);
        member_loss(model.forward(xb, act), yb, t, hetero).mul_scalar(m as f64)
    }

    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        let scale = b.iter().fold(0.0f32, |s, v| s.max(v.abs()));
        let err = a
            .iter()
            .zip(b)
            .fold(0.0f32, |s, (a, b)| s.max((a - b).abs()));
        assert!(
            err <= tol * scale.max(1e-12),
            "{what}: max error {err}, scale {scale}"
        );
    }

    /// The fused gradients equal burn's autodiff gradients to 1e-5 relative (to the largest
    /// entry of each gradient), for every activation the path implements, MSE and NLL.
    #[test]
    fn gradients_equal_burn_autodiff() {
        let (n, d, t, m, b) = (50, 6, 2, 3, 17);
        let (x, y, rows) = data(n, d, t, m, b);
        for (act, hetero) in [
            (Activation::Silu, false),
            (Activation::Relu, false),
            (Activation::Tanh, false),
            (Activation::Silu, true),
        ] {
            let out = if hetero { 2 * t } else { t };
            let model = EnsembleMlp::<B>::init(
                m,
                &[d, 24, 16, out],
                &mut StdRng::seed_from_u64(1),
                &Default::default(),
            );
            let loss = burn_loss(&model, &x, &y, &rows, (d, t, act, hetero));
            let value = f64::from(loss.clone().into_scalar()) / m as f64;
            let grads = loss.backward();
            let mut fused = FusedTrainer::new(&model, act, hetero, t).expect("implemented");
            let (fused_value, fused_grads) = fused.loss_and_gradients(&x, &y, &rows);
            assert!(
                (fused_value - value).abs() <= 1e-5 * value.abs(),
                "{act:?}: loss {fused_value} vs {value}"
            );
            for l in 0..3 {
                let gw: Vec<f32> = model.weights[l]
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .to_vec()
                    .unwrap();
                let gb: Vec<f32> = model.biases[l]
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .to_vec()
                    .unwrap();
                let fw: Vec<f32> = fused_grads.iter().flat_map(|k| k[l].0.clone()).collect();
                let fb: Vec<f32> = fused_grads.iter().flat_map(|k| k[l].1.clone()).collect();
                close(
                    &fw,
                    &gw,
                    1e-5,
                    &format!("{act:?} hetero={hetero} layer {l} weights"),
                );
                close(
                    &fb,
                    &gb,
                    1e-5,
                    &format!("{act:?} hetero={hetero} layer {l} biases"),
                );
            }
        }
    }

    /// Twenty AdamW steps (weight decay on) leave the same parameters as burn's optimiser.
    #[test]
    fn adamw_steps_equal_burns() {
        let (n, d, t, m, b) = (40, 5, 1, 2, 40);
        let (x, y, _) = data(n, d, t, m, b);
        let mut model = EnsembleMlp::<B>::init(
            m,
            &[d, 16, 16, t],
            &mut StdRng::seed_from_u64(2),
            &Default::default(),
        );
        let mut fused = FusedTrainer::new(&model, Activation::Silu, false, t).unwrap();
        let mut optim = AdamWConfig::new().with_weight_decay(1.0).init();
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..20 {
            let rows: Vec<Vec<usize>> = (0..m)
                .map(|_| (0..b).map(|_| rng.random_range(0..n)).collect())
                .collect();
            let loss = burn_loss(&model, &x, &y, &rows, (d, t, Activation::Silu, false));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(3e-3, model, grads);
            fused.step(&x, &y, &rows, 3e-3, 1.0);
        }
        let mine = fused.model::<Flex>(&fused.snapshot(), &Default::default());
        for l in 0..3 {
            let a: Vec<f32> = mine.weights[l].val().into_data().to_vec().unwrap();
            let r: Vec<f32> = model.weights[l].val().into_data().to_vec().unwrap();
            close(&a, &r, 1e-5, &format!("layer {l} weights after 20 steps"));
            let a: Vec<f32> = mine.biases[l].val().into_data().to_vec().unwrap();
            let r: Vec<f32> = model.biases[l].val().into_data().to_vec().unwrap();
            close(&a, &r, 1e-5, &format!("layer {l} biases after 20 steps"));
        }
    }
}
