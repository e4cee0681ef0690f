//! The batched ensemble MLP: M members evaluated as one computation, weights stacked
//! `[M, in, out]`, one batched matmul per layer.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation;
use rand::Rng;

use crate::surrogate::Activation;

/// M MLPs with identical shapes, stacked along a leading member dimension.
#[derive(Module, Debug)]
pub struct EnsembleMlp<B: Backend> {
    /// Per layer, `[M, in, out]`.
    pub weights: Vec<Param<Tensor<B, 3>>>,
    /// Per layer, `[M, 1, out]`.
    pub biases: Vec<Param<Tensor<B, 3>>>,
}

impl<B: Backend> EnsembleMlp<B> {
    /// Independently initialised members: weights and biases uniform in `±1/sqrt(fan_in)`
    /// (PyTorch's `nn.Linear` default), drawn from `rng` so that the seed alone fixes them on
    /// every backend. `widths = [inputs, hidden.., outputs]`.
    pub fn init<R: Rng + ?Sized>(
        members: usize,
        widths: &[usize],
        rng: &mut R,
        device: &B::Device,
    ) -> Self {
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for pair in widths.windows(2) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let bound = 1.0 / (fan_in as f32).sqrt();
            let mut uniform = |n: usize| -> Vec<f32> {
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            };
            let w = uniform(members * fan_in * fan_out);
            let b = uniform(members * fan_out);
            weights.push(Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [members, fan_in, fan_out]),
                device,
            )));
            biases.push(Param::from_tensor(Tensor::from_data(
                TensorData::new(b, [members, 1, fan_out]),
                device,
            )));
        }
        EnsembleMlp { weights, biases }
    }

    /// Ensemble size M.
    pub fn members(&self) -> usize {
        self.weights[0].dims()[0]
    }

    /// Layer widths `[inputs, hidden.., outputs]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths = vec![self.weights[0].dims()[1]];
        widths.extend(self.weights.iter().map(|w| w.dims()[2]));
        widths
    }

    /// Per-member rows: `x` is `[M, N, in]`, the result `[M, N, out]`.
    pub fn forward(&self, x: Tensor<B, 3>, act: Activation) -> Tensor<B, 3> {
        let last = self.weights.len() - 1;
        let mut h = x;
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            // An explicit repeat: burn-flex 0.21 broadcasts over a middle dimension through a
            // generic path about 4x slower than adding two same-shape tensors.
            let rows = h.dims()[1];
            h = h.matmul(w.val()) + b.val().repeat_dim(1, rows);
            if i < last {
                h = match act {
                    Activation::Relu => activation::relu(h),
                    Activation::Silu => activation::silu(h),
                    Activation::Gelu => activation::gelu(h),
                    Activation::Tanh => activation::tanh(h),
                };
            }
        }
        h
    }

    /// Every member on the same rows: `x` is `[N, in]`, the result `[M, N, out]`.
    pub fn forward_shared(&self, x: Tensor<B, 2>, act: Activation) -> Tensor<B, 3> {
        let [n, d] = x.dims();
        let m = self.members();
        self.forward(x.unsqueeze::<3>().expand([m, n, d]), act)
    }
}
