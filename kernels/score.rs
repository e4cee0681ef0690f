//! The fused ensemble scoring kernel: one cube scores `rows` candidates through every member
//! and every layer with the activations in shared memory, then reduces the members to the
//! objective's mean, its epistemic std and the acquisition value, so that only `[n, 3]` floats
//! are written. Reference: [`crate::surrogate::FusedCpuScorer`] followed by
//! [`crate::acquisition::Scores`] and the acquisition's `score` on the CPU.

use cubecl::prelude::*;

use super::cube_index;

/// Activation codes (comptime): the hidden layers' nonlinearity.
pub const SILU: u32 = 0;
/// `max(x, 0)`.
pub const RELU: u32 = 1;
/// `tanh(x)`.
pub const TANH: u32 = 2;
/// `x Phi(x)`, erf form (burn's GELU).
pub const GELU: u32 = 3;

/// Acquisition codes (comptime), with their parameters in `params[1..3]`.
/// `a mu + b sigma`.
pub const MEAN_STD: u32 = 0;
/// One member's objective (`params[1]` holds the member index as a float).
pub const MEMBER: u32 = 1;
/// Expected improvement over `params[1]` (incumbent plus margin).
pub const EXPECTED_IMPROVEMENT: u32 = 2;
/// Probability of improvement over `params[1]`.
pub const PROBABILITY_OF_IMPROVEMENT: u32 = 3;

#[cube]
fn activate<F: Float>(x: F, #[comptime] activation: u32) -> F {
    let mut y = x;
    if comptime![activation == SILU] {
        y = x / (F::new(1.0) + F::exp(F::new(0.0) - x));
    } else if comptime![activation == RELU] {
        y = F::max(x, F::new(0.0));
    } else if comptime![activation == TANH] {
        y = F::tanh(x);
    } else if comptime![activation == GELU] {
        y = x * F::new(0.5) * (F::new(1.0) + F::erf(x * F::new(0.70710677)));
    }
    y
}

/// Standard normal CDF.
#[cube]
fn normal_cdf<F: Float>(z: F) -> F {
    F::new(0.5) * (F::new(1.0) + F::erf(z * F::new(0.70710677)))
}

/// Scores candidates `x` (`[n, inputs]` standardised features, row-major).
///
/// * `weights`: every layer's `[M, in, out]` block, concatenated; `biases`: every layer's
///   `[M, out]`; `layout`: `[layers, 4]` = fan-in, fan-out, weight offset, bias offset.
/// * `head`: `[targets, 2]`: per target the coefficient of a member's raw output in the
///   objective mean (`c_t sd_t`) and in its deviation from the mean (`c_t sd_t s_t`, with the
///   epistemic scale `s_t`); `params`: `[offset, acquisition a, acquisition b]`.
/// * `out`: `[n, 3]`: objective mean, epistemic std, acquisition.
///
/// Launch with one cube per `rows` candidates (2-D cube count, x fastest) and any number of
/// units; `width` is the widest layer (inputs included). Unchecked: every index stays inside
/// the sizes above (the reference tests cover partial cubes and every layer shape).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn score_ensemble<F: Float>(
    x: &Array<F>,
    weights: &Array<F>,
    biases: &Array<F>,
    layout: &Array<u32>,
    head: &Array<F>,
    params: &Array<F>,
    out: &mut Array<F>,
    n: u32,
    inputs: u32,
    layers: u32,
    targets: u32,
    #[comptime] members: usize,
    #[comptime] rows: usize,
    #[comptime] width: usize,
    #[comptime] activation: u32,
    #[comptime] acquisition: u32,
) {
    let cube = cube_index();
    let tid = UNIT_POS_X as usize;
    let threads = CUBE_DIM_X as usize;
    let n = n as usize;
    let inputs = inputs as usize;
    let layers = layers as usize;
    let targets = targets as usize;
    let first = cube * rows;
    if first >= n {
        terminate!();
    }
    let plane = comptime![rows * width];
    // Two activation buffers (layer input, layer output), then `[rows, members, 2]` partial
    // objective sums.
    let mut act = SharedMemory::<F>::new(comptime![2 * rows * width]);
    let mut pq = SharedMemory::<F>::new(comptime![2 * rows * members]);
    // Each unit computes two output columns of the cube's rows at once (`j` and
    // `j + threads`): one shared-memory read of an activation feeds two multiply-adds.
    let mut acc = Array::<F>::new(rows);
    let mut acc2 = Array::<F>::new(rows);

    for m in 0..members {
        let mut idx = tid;
        while idx < rows * inputs {
            let row = idx / inputs;
            let col = idx % inputs;
            let mut v = F::new(0.0);
            if first + row < n {
                v = x[(first + row) * inputs + col];
            }
            act[row * width + col] = v;
            idx += threads;
        }
        sync_cube();
        for l in 0..layers {
            let fan_in = layout[l * 4] as usize;
            let fan_out = layout[l * 4 + 1] as usize;
            let w_at = layout[l * 4 + 2] as usize + m * fan_in * fan_out;
            let b_at = layout[l * 4 + 3] as usize + m * fan_out;
            let src = (l % 2) * plane;
            let dst = ((l + 1) % 2) * plane;
            let mut j = tid;
            while j < fan_out {
                // The second column, clamped to a valid one (computed, not written) at the edge.
                let j2 = j + threads;
                let second = j2 < fan_out;
                let k = select(second, j2, j);
                let b = biases[b_at + j];
                let b2 = biases[b_at + k];
                #[unroll]
                for r in 0..rows {
                    acc[r] = b;
                    acc2[r] = b2;
                }
                for i in 0..fan_in {
                    let w = weights[w_at + i * fan_out + j];
                    let w2 = weights[w_at + i * fan_out + k];
                    #[unroll]
                    for r in 0..rows {
                        let a = act[src + r * width + i];
                        acc[r] += a * w;
                        acc2[r] += a * w2;
                    }
                }
                let hidden = l + 1 < layers;
                #[unroll]
                for r in 0..rows {
                    let mut y = acc[r];
                    let mut y2 = acc2[r];
                    if hidden {
                        y = activate::<F>(y, activation);
                        y2 = activate::<F>(y2, activation);
                    }
                    act[dst + r * width + j] = y;
                    if second {
                        act[dst + r * width + j2] = y2;
                    }
                }
                j += 2 * threads;
            }
            sync_cube();
        }
        if tid < rows {
            let last = (layers % 2) * plane + tid * width;
            let mut p = F::new(0.0);
            let mut q = F::new(0.0);
            for t in 0..targets {
                let y = act[last + t];
                p += head[t * 2] * y;
                q += head[t * 2 + 1] * y;
            }
            pq[(tid * members + m) * 2] = p;
            pq[(tid * members + m) * 2 + 1] = q;
        }
        sync_cube();
    }

    if tid < rows && first + tid < n {
        let count = F::cast_from(members as u32);
        let mut p_mean = F::new(0.0);
        let mut q_mean = F::new(0.0);
        for m in 0..members {
            p_mean += pq[(tid * members + m) * 2];
            q_mean += pq[(tid * members + m) * 2 + 1];
        }
        p_mean /= count;
        q_mean /= count;
        let mut var = F::new(0.0);
        for m in 0..members {
            let d = pq[(tid * members + m) * 2 + 1] - q_mean;
            var += d * d;
        }
        let mean = p_mean + params[0];
        let std = F::sqrt(var / count);
        let mut value = mean;
        if comptime![acquisition == MEAN_STD] {
            value = params[1] * mean + params[2] * std;
        } else if comptime![acquisition == MEMBER] {
            let k = u32::cast_from(params[1]) as usize;
            value = mean + pq[(tid * members + k) * 2 + 1] - q_mean;
        } else if comptime![acquisition == EXPECTED_IMPROVEMENT] {
            let gap = mean - params[1];
            if std <= F::new(1e-12) {
                value = F::max(gap, F::new(0.0));
            } else {
                let z = gap / std;
                let pdf = F::exp(F::new(-0.5) * z * z) * F::new(0.398_942_3);
                value = gap * normal_cdf::<F>(z) + std * pdf;
            }
        } else if comptime![acquisition == PROBABILITY_OF_IMPROVEMENT] {
            let gap = mean - params[1];
            if std <= F::new(1e-12) {
                value = F::new(0.0);
                if gap > F::new(0.0) {
                    value = F::new(1.0);
                }
            } else {
                value = normal_cdf::<F>(gap / std);
            }
        }
        let at = (first + tid) * 3;
        out[at] = mean;
        out[at + 1] = std;
        out[at + 2] = value;
    }
}
