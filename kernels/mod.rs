//! Custom GPU kernels (CubeCL), compiled for wgpu (WGSL/SPIR-V) and CUDA from one source, and
//! launched on the compute client burn's GPU backends use for the same device.
//!
//! | kernel | does | reference it is tested against |
//! |---|---|---|
//! | `score::score_ensemble` | a chunk of candidates through every member and layer, reduced to objective mean, epistemic std, acquisition | the fused CPU scorer, `Scores` and the acquisition's `score` |
//! | `top::block_top` | per block of rows: top k by objective and by acquisition, moments | `TopK` and the running moments of `simulate` |
//! | `draw::draw_candidates` | a chunk of candidates drawn by the host sampler's law, repaired and accepted under the constraints, with their features | the host sampler's per-domain law and rejection rate, the constraints, the host's scores of the same mixtures |
//! | `draw::gather_rows` | the named rows of the drawn mixtures | the full read-back |
//!
//! [`CubeEnsemble`] holds an ensemble's weights on the device and runs them; the predictor
//! reaches it through [`crate::surrogate::EnsembleKernel`], which [`crate::device`] builds
//! for GPU devices.

mod draw;

mod score;

mod top;

use std::fmt;

use cubecl::prelude::*;
use cubecl::server::Handle;

use crate::surrogate::{
    Activation, BatchTop, BlockMoments, DeviceAcquisition, DeviceDraws, DrawnTop, EnsembleKernel,
    FeatureMap, Head, InputTransform, KernelError, RowScores,
};

/// Units per cube of the scoring kernel: each computes `width / UNITS` outputs of a layer for
/// the cube's rows.
const SCORE_UNITS: u32 = 64;
/// Most candidates one scoring cube holds (its per-unit accumulators are registers).
const MAX_ROWS: usize = 32;
/// Units per cube of the drawing and gathering kernels (one unit per row or element).
const DRAW_UNITS: u32 = 256;
/// Units per cube of the top-k kernel (a power of two, at most 256).
const TOP_UNITS: u32 = 256;
/// Rows one top-k cube reduces.
const TOP_BLOCK: usize = 2048;
/// Largest k reduced on the device; above it the per-row scores are read back.
pub const MAX_DEVICE_TOP: usize = 64;

/// An ensemble's weights on a CubeCL device, ready to score candidates.
pub struct CubeEnsemble<R: Runtime> {
    client: ComputeClient<R>,
    device: &'static str,
    members: usize,
    /// `[inputs, hidden.., outputs]`.
    widths: Vec<usize>,
    activation: u32,
    weights: Handle,
    biases: Handle,
    layout: Handle,
    /// Candidates per scoring cube: what the device's shared memory holds.
    rows: usize,
}

impl<R: Runtime> fmt::Debug for CubeEnsemble<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CubeEnsemble")
            .field("device", &self.device)
            .field("members", &self.members)
            .field("widths", &self.widths)
            .field("rows", &self.rows)
            .finish()
    }
}

impl<R: Runtime> CubeEnsemble<R> {
    /// Uploads an ensemble of `members` MLPs with `widths = [inputs, hidden.., outputs]`:
    /// per layer `weights` `[M, in, out]` and `biases` `[M, out]`, row-major. `device` names
    /// the backend in errors.
    pub fn new(
        device: &R::Device,
        name: &'static str,
        members: usize,
        widths: &[usize],
        weights: &[Vec<f32>],
        biases: &[Vec<f32>],
        activation: Activation,
    ) -> Result<Self, KernelError> {
        let client = R::client(device);
        let widest = widths.iter().copied().max().unwrap_or(0);
        let shared = client.properties().hardware.max_shared_memory_size;
        let fits = |rows: usize| (2 * rows * widest + 2 * rows * members) * 4 <= shared;
        let rows = (0..=MAX_ROWS.ilog2())
            .rev()
            .map(|p| 1usize << p)
            .find(|&r| fits(r))
            .ok_or(KernelError::TooWide {
                width: widest,
                shared_bytes: shared,
            })?;
        let mut layout = Vec::with_capacity(4 * weights.len());
        let (mut w_at, mut b_at) = (0u32, 0u32);
        for pair in widths.windows(2) {
            layout.extend([pair[0] as u32, pair[1] as u32, w_at, b_at]);
            w_at += (members * pair[0] * pair[1]) as u32;
            b_at += (members * pair[1]) as u32;
        }
        let upload = |parts: &[Vec<f32>]| client.create_from_slice(f32::as_bytes(&parts.concat()));
        Ok(CubeEnsemble {
            weights: upload(weights),
            biases: upload(biases),
            layout: client.create_from_slice(u32::as_bytes(&layout)),
            client,
            device: name,
            members,
            widths: widths.to_vec(),
            activation: match activation {
                Activation::Silu => score::SILU,
                Activation::Relu => score::RELU,
                Activation::Tanh => score::TANH,
                Activation::Gelu => score::GELU,
            },
            rows,
        })
    }

    /// Launches the scoring kernel on the features `x` (`[n, inputs]` on the device): a
    /// handle to `[n, 3]`.
    fn score(&self, x: &Handle, n: usize, head: &Head) -> Handle {
        let inputs = self.widths[0];
        let out = self.client.empty(n * 3 * 4);
        let targets = head.mean.len();
        let coefficients: Vec<f32> = (0..targets)
            .flat_map(|t| [head.mean[t], head.deviation[t]])
            .collect();
        let (code, a, b) = match head.acquisition {
            DeviceAcquisition::MeanStd { mean, std } => (score::MEAN_STD, mean, std),
            DeviceAcquisition::Member(k) => (score::MEMBER, k as f64, 0.0),
            DeviceAcquisition::Improvement {
                threshold,
                expected: true,
            } => (score::EXPECTED_IMPROVEMENT, threshold, 0.0),
            DeviceAcquisition::Improvement {
                threshold,
                expected: false,
            } => (score::PROBABILITY_OF_IMPROVEMENT, threshold, 0.0),
        };
        let params = [head.offset, a as f32, b as f32];
        let head = self.client.create_from_slice(f32::as_bytes(&coefficients));
        let params = self.client.create_from_slice(f32::as_bytes(&params));
        let layers = self.widths.len() - 1;
        // SAFETY: the arrays hold the lengths given (see `array`), and the kernel only indexes
        // inside `[n, inputs]`, the layout's layers, `[targets, 2]`, 3 and `[n, 3]`.
        unsafe {
            score::score_ensemble::launch_unchecked::<f32, R>(
                &self.client,
                cube_count(n.div_ceil(self.rows)),
                CubeDim::new_1d(SCORE_UNITS),
                array(x, n * inputs),
                array(&self.weights, self.weight_count()),
                array(&self.biases, self.bias_count()),
                array(&self.layout, 4 * layers),
                array(&head, 2 * targets),
                array(&params, 3),
                array(&out, 3 * n),
                n as u32,
                inputs as u32,
                layers as u32,
                targets as u32,
                self.members,
                self.rows,
                self.widths.iter().copied().max().unwrap_or(0),
                self.activation,
                code,
            );
        }
        out
    }

    fn weight_count(&self) -> usize {
        self.widths
            .windows(2)
            .map(|p| self.members * p[0] * p[1])
            .sum()
    }

    fn bias_count(&self) -> usize {
        self.widths[1..].iter().map(|w| self.members * w).sum()
    }

    fn read_f32(&self, handle: Handle) -> Result<Vec<f32>, KernelError> {
        let bytes = self.client.read_one(handle).map_err(|e| self.failed(e))?;
        Ok(f32::from_bytes(&bytes).to_vec())
    }

    fn failed(&self, error: impl fmt::Display) -> KernelError {
        KernelError::Device {
            device: self.device,
            message: error.to_string(),
        }
    }

    /// `features` (`[n, inputs]`) copied to the device.
    fn upload(&self, features: &[f32]) -> Handle {
        self.client.create_from_slice(f32::as_bytes(features))
    }

    /// Per-row scores of the features `x` (`[n, inputs]` on the device).
    fn row_scores(&self, x: &Handle, n: usize, head: &Head) -> Result<RowScores, KernelError> {
        let out = self.read_f32(self.score(x, n, head))?;
        let column = |c: usize| {
            out.iter()
                .skip(c)
                .step_by(3)
                .map(|&v| f64::from(v))
                .collect()
        };
        Ok(RowScores {
            mean: column(0),
            std: column(1),
            acquisition: column(2),
        })
    }

    /// Draws `rows` candidates of `draws` from stream `seed` on the device: handles to their
    /// mixtures (`[rows, domains]`), features (`[rows, inputs]`) and feasibility (`[rows]`,
    /// u32). `draws` must have passed [`DeviceDraws::check`] for this model.
    fn draw(
        &self,
        draws: &DeviceDraws,
        features: &FeatureMap,
        rows: usize,
        seed: u64,
    ) -> (Handle, Handle, Handle) {
        let c = &draws.constraints;
        let domains = c.len();
        let inputs = self.widths[0];
        let (transform, eps) = match features.transform {
            InputTransform::Identity => (draw::IDENTITY, 0.0),
            InputTransform::Sqrt => (draw::SQRT, 0.0),
            InputTransform::SqrtLinear => (draw::SQRT_LINEAR, 0.0),
            InputTransform::Log { eps } => (draw::LOG, eps),
        };
        let (low, high) = draws.strength;
        let tight = c.lower.iter().any(|&l| l > 0.0) || c.upper.iter().any(|&u| u < 1.0);
        let groups: Vec<f64> = (c.groups.iter())
            .flat_map(|g| {
                let member = (0..domains).map(|i| f64::from(u8::from(g.domains.contains(&i))));
                member.chain([g.min, g.max])
            })
            .collect();
        let (anchors, radius) = c.trust_region.clone().unwrap_or_default();
        let (prior, budget) = c.kl.clone().unwrap_or_default();
        // In f32, and every argument gets a non-empty buffer, used or not.
        let upload = |v: Vec<f64>| {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            let v = if v.is_empty() { vec![0.0] } else { v };
            (self.client.create_from_slice(f32::as_bytes(&v)), v.len())
        };
        let args = [
            upload(draws.centers.concat()),
            upload(vec![low.ln(), (high / low).ln(), eps]),
            upload([&c.lower[..], &c.upper].concat()),
            upload(groups),
            upload(anchors.concat()),
            upload(prior),
            upload(vec![radius, budget]),
            upload([&features.mean[..], &features.std].concat()),
            upload(features.context.clone()),
        ];
        let mixtures = self.client.empty(rows * domains * 4);
        let x = self.client.empty(rows * inputs * 4);
        let valid = self.client.empty(rows * 4);
        let arg = |i: usize| array::<R>(&args[i].0, args[i].1);
        // SAFETY: the arrays hold the lengths given, and the kernel only indexes inside
        // `[centers, domains]`, 3, `[2, domains]`, `[groups, domains + 2]`, `[anchors,
        // domains]`, `[domains]`, 2, `[2, inputs]`, the context, `[rows, domains]`, `[rows,
        // inputs]` (`inputs` = the transform's width * domains + contexts) and `[rows]`.
        unsafe {
            draw::draw_candidates::launch_unchecked::<f32, R>(
                &self.client,
                cube_count(rows.div_ceil(DRAW_UNITS as usize)),
                CubeDim::new_1d(DRAW_UNITS),
                arg(0),
                arg(1),
                arg(2),
                arg(3),
                arg(4),
                arg(5),
                arg(6),
                arg(7),
                arg(8),
                array(&mixtures, rows * domains),
                array(&x, rows * inputs),
                array(&valid, rows),
                rows as u32,
                seed as u32,
                (seed >> 32) as u32,
                draws.centers.len() as u32,
                domains as u32,
                features.context.len() as u32,
                c.groups.len() as u32,
                c.trust_region.as_ref().map_or(0, |t| t.0.len()) as u32,
                transform,
                tight || !c.groups.is_empty(),
                c.trust_region.is_some(),
                c.kl.is_some(),
            );
        }
        (mixtures, x, valid)
    }

    /// Scores the features `x` (`[n, inputs]` on the device) and reduces the rows whose
    /// `valid` flag (`[n]` u32 on the device, all rows when `None`) is set to the best `k`
    /// rows and the moments: per block of rows on the device up to [`MAX_DEVICE_TOP`], from
    /// the per-row scores on the host above it.
    fn reduce(
        &self,
        x: &Handle,
        valid: Option<&Handle>,
        n: usize,
        head: &Head,
        k: usize,
    ) -> Result<BatchTop, KernelError> {
        if k > MAX_DEVICE_TOP || n == 0 {
            let all = self.row_scores(x, n, head)?;
            let Some(valid) = valid else {
                return Ok(BatchTop::from_rows(&all, k));
            };
            let bytes = self
                .client
                .read_one(valid.clone())
                .map_err(|e| self.failed(e))?;
            let kept: Vec<usize> = (u32::from_bytes(&bytes).iter().enumerate())
                .filter(|&(_, &v)| v != 0)
                .map(|(i, _)| i)
                .collect();
            let pick = |v: &[f64]| kept.iter().map(|&i| v[i]).collect();
            let rows = RowScores {
                mean: pick(&all.mean),
                std: pick(&all.std),
                acquisition: pick(&all.acquisition),
            };
            let mut top = BatchTop::from_rows(&rows, k);
            for (_, row) in top.objective.iter_mut().chain(&mut top.acquisition) {
                *row = kept[*row];
            }
            return Ok(top);
        }
        let values = self.score(x, n, head);
        let blocks = n.div_ceil(TOP_BLOCK);
        let top_value = self.client.empty(blocks * 2 * k * 4);
        let top_row = self.client.empty(blocks * 2 * k * 4);
        let stats = self.client.empty(blocks * 15 * 4);
        // SAFETY: the arrays hold the lengths given, and the kernel only indexes inside
        // `[n, 3]`, `[blocks, 2, k]` and `[blocks, 3, 5]`.
        unsafe {
            top::block_top::launch_unchecked::<f32, R>(
                &self.client,
                cube_count(blocks),
                CubeDim::new_1d(TOP_UNITS),
                array(&values, 3 * n),
                array(valid.unwrap_or(&values), n),
                array(&top_value, blocks * 2 * k),
                array(&top_row, blocks * 2 * k),
                array(&stats, blocks * 15),
                n as u32,
                k as u32,
                TOP_BLOCK,
                valid.is_some(),
            );
        }
        let value = self.read_f32(top_value)?;
        let bytes = self.client.read_one(top_row).map_err(|e| self.failed(e))?;
        let row = u32::from_bytes(&bytes).to_vec();
        let stats = self.read_f32(stats)?;
        let ranking = |r: usize| {
            let mut best: Vec<(f64, usize)> = (0..blocks)
                .flat_map(|b| (0..k).map(move |j| (b * 2 + r) * k + j))
                .filter(|&i| row[i] != u32::MAX)
                .map(|i| (f64::from(value[i]), row[i] as usize))
                .collect();
            best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            best.truncate(k);
            best
        };
        let moments = |c: usize| {
            let mut all = BlockMoments::default();
            for b in 0..blocks {
                let s = &stats[(b * 3 + c) * 5..(b * 3 + c + 1) * 5];
                all.merge(&BlockMoments {
                    count: s[0] as u64,
                    mean: f64::from(s[1]),
                    m2: f64::from(s[2]),
                    min: f64::from(s[3]),
                    max: f64::from(s[4]),
                });
            }
            all
        };
        Ok(BatchTop {
            objective: ranking(0),
            acquisition: ranking(1),
            moments: [moments(0), moments(1), moments(2)],
        })
    }
}

/// A 2-D cube count for `cubes` cubes (a dimension holds at most 65535 on wgpu); kernels
/// number cubes with [`cube_index`] and skip those past the end.
fn cube_count(cubes: usize) -> CubeCount {
    let x = cubes.clamp(1, 65535);
    CubeCount::Static(x as u32, cubes.div_ceil(x).max(1) as u32, 1)
}

/// `len` elements of `handle` as a kernel argument.
fn array<R: Runtime>(handle: &Handle, len: usize) -> ArrayArg<R> {
    // SAFETY: every handle passed here was created (`create_from_slice`, `empty`) with at
    // least `len` elements of the kernel's 4-byte element type.
    unsafe { ArrayArg::from_raw_parts(handle.clone(), len) }
}

/// This cube's number under [`cube_count`]: `y * count_x + x`.
#[cube]
fn cube_index() -> usize {
    (CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X) as usize
}

impl<R: Runtime> EnsembleKernel for CubeEnsemble<R> {
    fn rows(&self, features: &[f32], head: &Head) -> Result<RowScores, KernelError> {
        let n = features.len() / self.widths[0];
        self.row_scores(&self.upload(features), n, head)
    }

    fn top(&self, features: &[f32], head: &Head, k: usize) -> Result<BatchTop, KernelError> {
        let n = features.len() / self.widths[0];
        self.reduce(&self.upload(features), None, n, head, k)
    }

    fn draw_top(
        &self,
        draws: &DeviceDraws,
        features: &FeatureMap,
        rows: usize,
        seed: u64,
        head: &Head,
        k: usize,
    ) -> Result<DrawnTop, KernelError> {
        draws.check(features, self.widths[0])?;
        let domains = draws.constraints.len();
        let (mixtures, x, valid) = self.draw(draws, features, rows, seed);
        let top = self.reduce(&x, Some(&valid), rows, head, k)?;
        let rejected = rows - top.moments[0].count as usize;
        let mut wanted: Vec<u32> = (top.objective.iter().chain(&top.acquisition))
            .map(|&(_, row)| row as u32)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(DrawnTop {
                top,
                rejected,
                mixtures: Vec::new(),
            });
        }
        let count = wanted.len();
        let ids = self.client.create_from_slice(u32::as_bytes(&wanted));
        let out = self.client.empty(count * domains * 4);
        // SAFETY: the arrays hold the lengths given, and every id is a row below `rows`.
        unsafe {
            draw::gather_rows::launch_unchecked::<f32, R>(
                &self.client,
                cube_count((count * domains).div_ceil(DRAW_UNITS as usize)),
                CubeDim::new_1d(DRAW_UNITS),
                array(&mixtures, rows * domains),
                array(&ids, count),
                array(&out, count * domains),
                count as u32,
                domains as u32,
            );
        }
        let values = self.read_f32(out)?;
        let mixtures = (wanted.iter().zip(values.chunks(domains.max(1))))
            .map(|(&row, w)| (row as usize, w.iter().map(|&x| f64::from(x)).collect()))
            .collect();
        Ok(DrawnTop {
            top,
            rejected,
            mixtures,
        })
    }
}

/// Reference tests: the kernel against the CPU path on the same weights, on each GPU backend
/// built in. wgpu runs with Mesa's software Vulkan driver (lavapipe) where no GPU exists;
/// without any Vulkan device the wgpu tests fail under `CI` and skip (saying why) elsewhere.
/// The CUDA tests skip without an NVIDIA GPU unless `MIXATLAS_REQUIRE_CUDA` is set
/// (`scripts/gpu-check` sets it).
#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::backend::{AutodiffBackend, Backend};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use crate::acquisition::{self, AcquisitionKind, AcquisitionSpec, Scorer};
    use crate::device::{Cpu, CpuInference, DeviceKind};
    use crate::io::Overwrite;
    use crate::objective::{Objective, ObjectiveSpec};
    use crate::runs::{Direction, Runs, TargetSpec};
    use crate::simulate::{SimulateConfig, simulate};
    use crate::space::Constraints;
    use crate::space::sampler::{DirichletSampler, sample_chunk};
    use crate::surrogate::{Activation, BatchTop, EnsembleConfig, Fitted, Surrogate, fit};

    /// Absolute tolerance on objective, std and acquisition values, relative to `1 + |value|`:
    /// f32 accumulation in another order than the CPU GEMM, and the erf polynomial (1.5e-7).
    const TOLERANCE: f64 = 2e-4;

    /// `B`'s default device when it works; a panic when it does not and `required` names a
    /// set environment variable, else `None` (the test skips, saying why).
    fn usable<B: Backend>(kind: DeviceKind, required: &str, hint: &str) -> Option<B::Device> {
        let device = B::Device::default();
        match crate::device::probe::<Autodiff<B>>(kind, &device) {
            Ok(()) => Some(device),
            Err(e) if std::env::var_os(required).is_some() => panic!("{e} ({hint})"),
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    /// The three tests on one backend.
    macro_rules! on_backend {
        ($name:ident, $feature:literal, $backend:ty, $kind:expr, $required:literal, $hint:literal) => {
            #[cfg(feature = $feature)]
            mod $name {
                use super::*;

                fn device() -> Option<burn::tensor::Device<$backend>> {
                    usable::<$backend>($kind, $required, $hint)
                }

                #[test]
                fn kernel_scores_and_top_k_match_the_cpu_path() {
                    if let Some(device) = device() {
                        super::scores_match::<$backend>(&device);
                    }
                }

                #[test]
                fn simulate_on_the_kernel_matches_the_cpu_run() {
                    if let Some(device) = device() {
                        super::simulate_matches::<$backend>(&device);
                    }
                }

                #[test]
                fn device_draws_follow_the_host_law() {
                    if let Some(device) = device() {
                        super::draws_match::<$backend>(&device);
                    }
                }

                #[test]
                fn trains_on_the_gpu() {
                    if let Some(device) = device() {
                        super::trains::<Autodiff<$backend>>(&device);
                    }
                }
            }
        };
    }

    on_backend!(
        wgpu,
        "wgpu",
        burn::backend::Wgpu,
        DeviceKind::Wgpu,
        "CI",
        "install Mesa's Vulkan driver: apt-get install mesa-vulkan-drivers"
    );
    on_backend!(
        cuda,
        "cuda",
        burn::backend::Cuda,
        DeviceKind::Cuda,
        "MIXATLAS_REQUIRE_CUDA",
        "an NVIDIA GPU and its driver"
    );

    /// The toy runs of the proposer tests with a second, higher-is-better target.
    fn runs() -> Runs {
        let mut runs = crate::proposer::tests::runs(96, 3);
        runs.schema
            .targets
            .push(TargetSpec::new("score", Direction::Higher));
        for (w, y) in runs.mixtures.iter().zip(&mut runs.outcomes) {
            y.push(w[2].sqrt() - 0.3 * w[0]);
        }
        runs
    }

    /// A model trained on the CPU, and the same checkpoint loaded on `device` with the kernel.
    fn models<B: Backend>(
        config: &EnsembleConfig,
        device: &B::Device,
    ) -> (Fitted<CpuInference>, Fitted<B>) {
        let runs = runs();
        let predictor = fit::<Cpu>(&runs, config, 11, &Default::default(), &mut ()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        Fitted::Ensemble(Box::new(predictor))
            .save(&path, Overwrite::Refuse)
            .unwrap();
        let cpu = Fitted::<CpuInference>::load(&path, &Default::default()).unwrap();
        let gpu = Fitted::<B>::load(&path, device).unwrap();
        let gpu = crate::device::with_gpu_kernel(gpu).unwrap();
        let Fitted::Ensemble(p) = &gpu else {
            unreachable!("an ensemble was saved")
        };
        assert!(p.kernel().is_some(), "a GPU device has the kernel");
        (cpu.with_fused_cpu(), gpu)
    }

    fn objective(surrogate: &dyn Surrogate) -> Objective {
        let spec: ObjectiveSpec = toml::from_str(
            "[[term]]\ntarget = \"loss\"\nweight = 2.0\n\
             [[term]]\ntarget = \"score\"\nweight = 1.0\n",
        )
        .unwrap();
        Objective::new(&spec, surrogate.schema(), surrogate.target_norm()).unwrap()
    }

    fn close(gpu: f64, cpu: f64, what: &str) {
        assert!(
            (gpu - cpu).abs() <= TOLERANCE * (1.0 + cpu.abs()),
            "{what}: kernel {gpu}, CPU {cpu}"
        );
    }

    /// Every acquisition the kernel computes, on two architectures (SiLU with the epistemic
    /// scale; GELU, heteroscedastic, three layers, one 160 wide: several column passes and
    /// fewer rows per cube), over 5,000 candidates (three top-k blocks, a partial last cube):
    /// per-row values within [`TOLERANCE`], the same top 10 (a swap only between values closer
    /// than the tolerance), the same moments.
    fn scores_match<B: Backend>(device: &B::Device) {
        let quick = EnsembleConfig {
            members: 5,
            hidden: vec![48, 48],
            max_epochs: 150,
            ..EnsembleConfig::default()
        };
        let gelu = EnsembleConfig {
            activation: Activation::Gelu,
            heteroscedastic: true,
            hidden: vec![32, 160, 24],
            ..quick.clone()
        };
        for config in [quick, gelu] {
            let (cpu, gpu) = models::<B>(&config, device);
            let space = &cpu.surrogate().schema().space;
            let constraints = Constraints::simplex(space);
            let sampler = DirichletSampler::around(vec![1.0 / 3.0; 3]);
            let (mixtures, _) = sample_chunk(&sampler, &constraints, 5000, 5, 0);
            let objective = objective(cpu.surrogate());
            let scorer = |surrogate| Scorer {
                surrogate,
                objective: &objective,
                context: Vec::new(),
                members: true,
            };
            let (cpu_scorer, gpu_scorer) = (scorer(cpu.surrogate()), scorer(gpu.surrogate()));
            let logged = runs().outcomes;
            let ctx = cpu_scorer.acquisition_context(&logged, None).unwrap();
            let reference = cpu_scorer.scores(&mixtures).unwrap();
            for (kind, beta) in [
                (AcquisitionKind::Mean, None),
                (AcquisitionKind::Ucb, Some(4.0)),
                (AcquisitionKind::Lcb, Some(1.0)),
                (AcquisitionKind::Ei, None),
                (AcquisitionKind::Pi, None),
                (AcquisitionKind::Thompson, None),
            ] {
                let spec = AcquisitionSpec {
                    kind,
                    beta,
                    ..AcquisitionSpec::default()
                };
                let caps = cpu.surrogate().capabilities();
                let mut rng = StdRng::seed_from_u64(2);
                let acq = acquisition::build(&spec, &ctx, &caps, &mut rng).unwrap();
                let want = acq.score(&reference);
                let (device, reduction) = gpu_scorer.on_device(&*acq).expect("on the device");
                let rows = device.rows(&mixtures, &[], &reduction).unwrap();
                for (i, &value) in want.iter().enumerate() {
                    close(rows.mean[i], reference.mean[i], "objective");
                    close(rows.std[i], reference.std[i], "epistemic std");
                    close(rows.acquisition[i], value, kind.name());
                }
                // What the proposer's search pools read (5,000 rows: on the device).
                let pool = gpu_scorer.acquisition_values(&*acq, &mixtures).unwrap();
                assert_eq!(pool, rows.acquisition);
                let top = device.top(&mixtures, &[], &reduction, 10).unwrap();
                for (got, values) in [(&top.objective, &reference.mean), (&top.acquisition, &want)]
                {
                    let mut order: Vec<usize> = (0..values.len()).collect();
                    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
                    assert_eq!(got.len(), 10);
                    for (rank, &(value, row)) in got.iter().enumerate() {
                        close(value, values[order[rank]], "top-k value");
                        close(values[row], values[order[rank]], "top-k row");
                    }
                }
                assert_eq!(top.moments[0].count, mixtures.len() as u64);
                let n = mixtures.len() as f64;
                let mean = reference.mean.iter().sum::<f64>() / n;
                let var = reference
                    .mean
                    .iter()
                    .map(|v| (v - mean).powi(2))
                    .sum::<f64>()
                    / n;
                close(top.moments[0].mean, mean, "objective mean over rows");
                close(
                    (top.moments[0].m2 / n).sqrt(),
                    var.sqrt(),
                    "objective std over rows",
                );
                let highest = want.iter().copied().fold(f64::MIN, f64::max);
                close(top.moments[2].max, highest, "largest acquisition");
                // Above MAX_DEVICE_TOP the rows come back and are reduced on the host.
                let many = device.top(&mixtures, &[], &reduction, 100).unwrap();
                assert_eq!(many, BatchTop::from_rows(&rows, 100));
            }
        }
    }

    /// Mean, std and the share of rows at the value `at` (within 1e-6) of column `i`.
    fn column_law(mixtures: &[Vec<f64>], i: usize, at: f64) -> (f64, f64, f64) {
        let n = mixtures.len() as f64;
        let mean = mixtures.iter().map(|w| w[i]).sum::<f64>() / n;
        let var = mixtures.iter().map(|w| (w[i] - mean).powi(2)).sum::<f64>() / n;
        let share = mixtures.iter().filter(|w| (w[i] - at).abs() < 1e-6).count() as f64 / n;
        (mean, var.sqrt(), share)
    }

    /// Candidates drawn on the device, 20,000 of them (k above the device reduction's limit,
    /// so every feasible row and its mixture come back), for three input transforms under
    /// three constraint sets (per-domain bounds; bounds, a group sum and a KL budget; a trust
    /// region): every mixture on the simplex within the bounds and the constraints (to the
    /// kernel's f32 slack); per domain the mean, the std and the share of rows on a bound, and
    /// the share of rejected candidates, equal to the host sampler's within five standard
    /// errors (the Dirichlet law, concentrations down to 1e-3, the repair, the rejection);
    /// every device score equal to the host's score of the returned mixture (features and
    /// gather); the device's own top 10 (k = 10) the same rows and values as the full
    /// ranking's.
    fn draws_match<B: Backend>(device: &B::Device) {
        use crate::math::simplex::{kl_divergence, nearest_distance};
        use crate::space::constraints::Group;
        use crate::surrogate::{DeviceDraws, InputTransform};
        let base = EnsembleConfig {
            members: 3,
            hidden: vec![24, 24],
            max_epochs: 60,
            ..EnsembleConfig::default()
        };
        let centers = vec![vec![0.2, 0.3, 0.5], vec![0.6, 0.2, 0.2]];
        let host = DirichletSampler {
            centers: centers.clone(),
            strength: (0.1, 5.0),
        };
        let boxed = Constraints {
            lower: vec![0.05, 0.0, 0.0],
            upper: vec![1.0, 0.6, 1.0],
            groups: Vec::new(),
            trust_region: None,
            kl: None,
        };
        let grouped = Constraints {
            groups: vec![Group {
                label: "group[0]".into(),
                domains: vec![0, 1],
                min: 0.2,
                max: 0.7,
            }],
            kl: Some((vec![1.0 / 3.0; 3], 0.07)),
            ..boxed.clone()
        };
        let anchored = Constraints {
            lower: vec![0.0; 3],
            upper: vec![1.0; 3],
            trust_region: Some((vec![vec![0.6, 0.3, 0.1], vec![0.1, 0.1, 0.8]], 0.1)),
            ..boxed.clone()
        };
        let cases = [
            (InputTransform::SqrtLinear, boxed),
            (InputTransform::Identity, grouped),
            (InputTransform::Log { eps: 1e-3 }, anchored),
        ];
        let rows = 20_000;
        let n = rows as f64;
        for (transform, constraints) in cases {
            let config = EnsembleConfig {
                input_transform: transform,
                ..base.clone()
            };
            let (cpu, gpu) = models::<B>(&config, device);
            let objective = objective(cpu.surrogate());
            let scorer = |surrogate| Scorer {
                surrogate,
                objective: &objective,
                context: Vec::new(),
                members: false,
            };
            let (cpu_scorer, gpu_scorer) = (scorer(cpu.surrogate()), scorer(gpu.surrogate()));
            let spec = AcquisitionSpec {
                kind: AcquisitionKind::Ucb,
                beta: Some(1.0),
                ..AcquisitionSpec::default()
            };
            let ctx = cpu_scorer.acquisition_context(&[], None).unwrap();
            let caps = cpu.surrogate().capabilities();
            let acq = acquisition::build(&spec, &ctx, &caps, &mut StdRng::seed_from_u64(0));
            let acq = acq.unwrap();
            let (device, reduction) = gpu_scorer.on_device(&*acq).expect("a GPU kernel");
            let draws = DeviceDraws {
                centers: centers.clone(),
                strength: (0.1, 5.0),
                constraints: constraints.clone(),
            };
            let all = device
                .draw_top(&draws, rows, 77, &[], &reduction, rows)
                .unwrap();
            let what = format!("{transform:?}, {constraints:?}");
            assert_eq!(all.mixtures.len() + all.rejected, rows, "{what}");
            let mixtures: Vec<Vec<f64>> = all.mixtures.iter().map(|m| m.1.clone()).collect();
            let slack = 2e-5;
            let c = &constraints;
            for w in &mixtures {
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{w:?}");
                for i in 0..3 {
                    assert!(
                        w[i] >= c.lower[i] - 1e-6 && w[i] <= c.upper[i] + 1e-6,
                        "{w:?}"
                    );
                }
                for g in &c.groups {
                    let sum: f64 = g.domains.iter().map(|&i| w[i]).sum();
                    assert!(sum >= g.min - slack && sum <= g.max + slack, "{w:?}");
                }
                if let Some((anchors, r)) = &c.trust_region {
                    assert!(nearest_distance(w, anchors) <= r + slack, "{w:?}");
                }
                if let Some((prior, max)) = &c.kl {
                    assert!(kl_divergence(w, prior) <= max + slack, "{w:?}");
                }
            }
            let (reference, rejected) = sample_chunk(&host, c, rows, 3, 0);
            if c.kl.is_some() || c.trust_region.is_some() {
                assert!(rejected > 100, "{what}: the case should reject some draws");
            }
            let share = |r: usize| r as f64 / n;
            let p = share(rejected).max(1.0 / n);
            assert!(
                (share(all.rejected) - share(rejected)).abs()
                    < 5.0 * (2.0 * p * (1.0 - p) / n).sqrt() + 1e-3,
                "{what}: rejected {} vs {rejected}",
                all.rejected
            );
            for (i, at) in [(0, c.lower[0]), (1, c.upper[1]), (2, 0.0)] {
                let (m, sd, share) = column_law(&mixtures, i, at);
                let (m_ref, sd_ref, share_ref) = column_law(&reference, i, at);
                let k = mixtures.len().min(reference.len()) as f64;
                let se = (2.0 * sd_ref * sd_ref / k).sqrt();
                assert!(
                    (m - m_ref).abs() < 5.0 * se,
                    "{what}: domain {i} mean {m} vs {m_ref}"
                );
                // The std of a sample std is about sd / sqrt(2n) for these near-uniform tails.
                assert!(
                    (sd - sd_ref).abs() < 5.0 * sd_ref / k.sqrt(),
                    "{what}: std {sd} vs {sd_ref}"
                );
                let p = share_ref.max(1.0 / k);
                let se = (2.0 * p * (1.0 - p) / k).sqrt();
                assert!(
                    (share - share_ref).abs() < 5.0 * se + 1e-3,
                    "{what}: share {share} vs {share_ref}"
                );
            }
            let host_scores = cpu_scorer.scores(&mixtures).unwrap();
            let by_row: std::collections::HashMap<usize, usize> = all
                .mixtures
                .iter()
                .enumerate()
                .map(|(i, m)| (m.0, i))
                .collect();
            for &(value, row) in &all.top.objective {
                close(
                    value,
                    host_scores.mean[by_row[&row]],
                    "device score of a device draw",
                );
            }
            let few = device
                .draw_top(&draws, rows, 77, &[], &reduction, 10)
                .unwrap();
            assert_eq!(few.rejected, all.rejected);
            assert_eq!(few.top.objective[..], all.top.objective[..10]);
            assert_eq!(few.top.acquisition[..], all.top.acquisition[..10]);
            for (row, w) in &few.mixtures {
                assert_eq!(w, &all.mixtures[by_row[row]].1);
            }
        }
    }

    /// `simulate` on the kernel keeps the CPU run's best recipes and statistics when it draws
    /// on the host; drawing on the device, it scores as many candidates of the same law (the
    /// objective's mean within five standard errors) and reports feasible recipes whose host
    /// scores are the device's best.
    fn simulate_matches<B: Backend>(device: &B::Device) {
        let config = EnsembleConfig {
            members: 4,
            hidden: vec![32, 32],
            max_epochs: 100,
            ..EnsembleConfig::default()
        };
        let (cpu, gpu) = models::<B>(&config, device);
        let space = cpu.surrogate().schema().space.clone();
        let constraints = Constraints::simplex(&space);
        let sampler = DirichletSampler::around(vec![1.0 / 3.0; 3]);
        let objective = objective(cpu.surrogate());
        let spec = AcquisitionSpec {
            kind: AcquisitionKind::Ucb,
            beta: Some(2.0),
            ..AcquisitionSpec::default()
        };
        let config = SimulateConfig {
            samples: 20_000,
            chunk: 6_000,
            top: 5,
            seed: 9,
            host_draws: true,
        };
        let run = |surrogate: &dyn Surrogate, config: &SimulateConfig| {
            let scorer = Scorer {
                surrogate,
                objective: &objective,
                context: Vec::new(),
                members: false,
            };
            let ctx = scorer.acquisition_context(&[], None).unwrap();
            let caps = surrogate.capabilities();
            let acq = acquisition::build(&spec, &ctx, &caps, &mut StdRng::seed_from_u64(0));
            let acq = acq.unwrap();
            assert_eq!(
                scorer.on_device(&*acq).is_some(),
                surrogate.device().is_some()
            );
            simulate(
                &scorer,
                &*acq,
                None,
                &sampler,
                &constraints,
                config,
                &mut (),
            )
            .unwrap()
        };
        let (want, got) = (run(cpu.surrogate(), &config), run(gpu.surrogate(), &config));
        assert_eq!(got.sampled, want.sampled);
        assert_eq!(got.objective.count, want.objective.count);
        close(got.objective.mean, want.objective.mean, "objective mean");
        close(
            got.acquisition.max,
            want.acquisition.max,
            "largest acquisition",
        );
        for (g, w) in got.top_acquisition.iter().zip(&want.top_acquisition) {
            close(g.acquisition, w.acquisition, "top acquisition");
        }
        let ids = |s: &[crate::simulate::Scored]| s.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(&got.top_objective), ids(&want.top_objective));

        let drawn = SimulateConfig {
            host_draws: false,
            ..config
        };
        let own = run(gpu.surrogate(), &drawn);
        assert!(own.drawn_on_device && !got.drawn_on_device && !want.drawn_on_device);
        assert_eq!((own.sampled, own.rejected), (20_000, 0));
        assert_eq!(own.objective.count, 20_000);
        let se = want.objective.std * (2.0 / 20_000f64).sqrt();
        assert!(
            (own.objective.mean - want.objective.mean).abs() < 5.0 * se,
            "objective mean {} vs {}",
            own.objective.mean,
            want.objective.mean
        );
        assert_ne!(ids(&own.top_objective), ids(&want.top_objective));
        for r in own.top_objective.iter().chain(&own.top_acquisition) {
            assert!((r.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(r.weights.iter().all(|&x| x >= 0.0));
        }
        close(
            own.top_objective[0].objective,
            own.objective.max,
            "best device draw",
        );
        close(
            own.top_acquisition[0].acquisition,
            own.acquisition.max,
            "best device acquisition",
        );
    }

    /// Training runs on the GPU device end to end (burn's autodiff there) and predicts what
    /// the CPU-trained model predicts from the same seed, to training noise.
    fn trains<B: AutodiffBackend>(device: &B::Device) {
        let runs = runs();
        let config = EnsembleConfig {
            members: 3,
            hidden: vec![16, 16],
            max_epochs: 60,
            ..EnsembleConfig::default()
        };
        let gpu = fit::<B>(&runs, &config, 4, device, &mut ()).unwrap();
        let cpu = fit::<Cpu>(&runs, &config, 4, &Default::default(), &mut ()).unwrap();
        let (a, b) = (
            gpu.predict(&runs.mixtures, &runs.context).unwrap(),
            cpu.predict(&runs.mixtures, &runs.context).unwrap(),
        );
        for (x, y) in a.mean.iter().zip(&b.mean) {
            assert!(
                x.is_finite() && (x - y).abs() < 0.05 * (1.0 + y.abs()),
                "{x} vs {y}"
            );
        }
    }
}
