//! Ensemble speed: training steps on the 512 RegMix runs, and scoring throughput of an
//! 8-member 2 x 128 ensemble on 10^4 .. 10^6 mixtures. `scripts/torch-forward.py` is the
//! PyTorch scoring reference; docs/figures.md gives the figures measured beside it.
//!
//! `train/*`: 100 full-batch AdamW steps over the 512 rows with sqrt-linear inputs (34), by the
//! fused CPU trainer and by burn's autodiff; `train/gemm bound` times only the GEMMs of the
//! same 100 steps (forward and backward, every member, the same `gemm` calls), the floor any
//! implementation on this core's AVX2 FMA GEMM meets.
//!
//! `simulate/*` compares the streaming simulation (sampling, constraint repair, scoring, UCB,
//! two top-k heaps) with the raw fused forward on the same number of pre-built rows: the gap
//! is what sampling and bookkeeping cost. `simulate/gemm bound` times only the scorer's GEMMs.
//!
//! `kernel/*` (with `--features cuda` or `wgpu`): the fused GPU scoring kernel on pre-built
//! features, scoring and reducing to each 2048-row block's top 10 (`top10`) or to per-row
//! values read back (`rows`); each iteration uploads the features and reads the result back
//! (the device sync). `drawn_top10`: the same with the candidates drawn on the device (draw,
//! features, score, top 10, the best rows' mixtures gathered back), nothing uploaded per
//! iteration. `scripts/gpu-check` turns both into a fraction of the fp32 peak.
//!
//! `peak/fma`: the core's fp32 multiply-add peak (12 independent 8-lane FMA chains, no memory
//! traffic; elements are FLOPs), the hardware bound under both GEMM floors: the training
//! steps above are 477 MFLOP each (8 members x 512 rows x 116,480: forward, weight gradients
//! and the hidden layers' input gradients) and a scored row 333,824 FLOP.
//!
//! Threads: `RAYON_NUM_THREADS=1` or `2`. Backends: `cargo bench --features ndarray` adds
//! burn's ndarray backend next to flex.

use burn::tensor::backend::AutodiffBackend;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mixatlas::acquisition::{AcquisitionContext, AcquisitionKind, AcquisitionSpec, Scorer, build};
use mixatlas::burn;
use mixatlas::math::simplex::sample_dirichlet;
use mixatlas::objective::{Objective, ObjectiveSpec};
use mixatlas::runs::{DataSpec, Runs};
use mixatlas::simulate::{SimulateConfig, simulate};
use mixatlas::space::Constraints;
use mixatlas::space::sampler::{DirichletSampler, Prior, prior_weights, sample_chunk};
use mixatlas::surrogate::{
    EnsembleConfig, FusedCpuScorer, InputTransform, Predictor, Surrogate, TrainEngine, fit,
    fit_with,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn runs() -> Runs {
    let spec = DataSpec::from_file("configs/data/regmix-1m-train.toml".as_ref()).expect("spec");
    Runs::load(&spec).expect("shipped runs load")
}

/// Full-batch AdamW steps over all 512 rows, no early stopping, sqrt-linear inputs: the
/// PyTorch reference's workload.
fn steps_config(steps: usize) -> EnsembleConfig {
    EnsembleConfig {
        batch_size: 0,
        validation_fraction: 0.0,
        bootstrap: false,
        max_epochs: steps,
        patience: steps,
        input_transform: InputTransform::SqrtLinear,
        ..EnsembleConfig::default()
    }
}

/// The GEMMs of `steps` full-batch training steps of 8 members, widths 34-128-128-1 over
/// 512 rows, forward and backward, with the operand layouts the fused trainer uses.
/// `dst[m, n] = op(lhs)[m, k] @ op(rhs)[k, n]` (plus `dst` when `acc`) through gemm, single
/// threaded, with the strides the fused trainer and scorer use (`lt`/`rt`: stored transposed).
#[allow(clippy::too_many_arguments)]
fn gemm_call(
    dst: &mut [f32],
    lhs: &[f32],
    lt: bool,
    rhs: &[f32],
    rt: bool,
    m: usize,
    k: usize,
    n: usize,
    acc: bool,
) {
    assert!(
        dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n,
        "GEMM buffers"
    );
    let (lcs, lrs) = if lt { (m as isize, 1) } else { (1, k as isize) };
    let (rcs, rrs) = if rt { (k as isize, 1) } else { (1, n as isize) };
    // SAFETY: the buffers hold the [m, n], [m, k] and [k, n] operands (checked above) that
    // these strides address.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            acc,
            lhs.as_ptr(),
            lcs,
            lrs,
            rhs.as_ptr(),
            rcs,
            rrs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn gemm_only(steps: usize, bufs: &mut [Vec<f32>; 4]) {
    let (n, widths) = (512usize, [34usize, 128, 128, 1]);
    let [a, b, c, d] = bufs;
    for _ in 0..steps {
        for _member in 0..8 {
            for l in 0..3 {
                let (i, o) = (widths[l], widths[l + 1]);
                gemm_call(c, a, false, b, false, n, i, o, false); // forward z = h W
            }
            for l in (0..3).rev() {
                let (i, o) = (widths[l], widths[l + 1]);
                gemm_call(d, a, true, c, false, i, n, o, false); // dW = h^T g
                if l > 0 {
                    gemm_call(c, d, false, b, true, n, o, i, false); // g W^T
                }
            }
        }
    }
}

fn bench_backend<B: AutodiffBackend>(c: &mut Criterion, name: &str) {
    let device = B::Device::default();
    let runs = runs();
    let mut group = c.benchmark_group(format!("train/{name}"));
    group.sample_size(10);
    let config = steps_config(100);
    group.throughput(Throughput::Elements(100));
    for (label, engine) in [("fused", TrainEngine::Auto), ("burn", TrainEngine::Burn)] {
        group.bench_function(
            format!("100 full-batch steps, 512 x 34, 8 x (128,128), {label}"),
            |b| {
                b.iter(|| {
                    fit_with::<B>(&runs, &config, 0, &device, &mut (), engine).expect("trains")
                })
            },
        );
    }
    let mut bufs = [
        vec![0.5f32; 512 * 128],
        vec![0.01f32; 512 * 128],
        vec![0.0f32; 512 * 128],
        vec![0.0f32; 512 * 128],
    ];
    group.bench_function("gemm bound of the same 100 steps", |b| {
        b.iter(|| gemm_only(100, &mut bufs))
    });
    group.finish();

    let mut predictor: Predictor<B::InnerBackend> =
        fit::<B>(&runs, &steps_config(2), 0, &device, &mut ()).expect("trains");
    let fused = FusedCpuScorer::new(&predictor.model, predictor.meta.config.activation)
        .expect("SiLU is fused");
    let mut group = c.benchmark_group(format!("score/{name}"));
    group.sample_size(10);
    let mut rng = StdRng::seed_from_u64(0);
    for rows in [10_000usize, 100_000, 1_000_000] {
        let mixtures: Vec<Vec<f64>> = (0..rows)
            .map(|_| sample_dirichlet(&[0.5; 17], &mut rng))
            .collect();
        let context = vec![Vec::new(); rows];
        let features = predictor
            .meta
            .features(&mixtures, &context)
            .expect("17 domains");
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(
            BenchmarkId::new("fused forward", rows),
            &features,
            |b, f| b.iter(|| fused.forward(f)),
        );
        if rows == 10_000 {
            group.bench_with_input(BenchmarkId::new("burn forward", rows), &features, |b, f| {
                b.iter(|| predictor.member_outputs(f))
            });
            predictor = predictor.with_fused_cpu();
        }
        if rows <= 100_000 {
            group.bench_with_input(
                BenchmarkId::new("predict, fused", rows),
                &mixtures,
                |b, m| b.iter(|| predictor.predict(m, &context).expect("scores")),
            );
        }
    }
    group.finish();
}

/// The GEMMs alone of scoring `rows` rows with 8 members in tiles of 256 rows, as the fused
/// scorer calls them: the floor of any scorer built on gemm's kernels.
fn score_gemms(rows: usize, widths: &[usize; 4], bufs: &mut [Vec<f32>; 3]) {
    let [x, w, out] = bufs;
    for start in (0..rows).step_by(256) {
        let r = (rows - start).min(256);
        for _member in 0..8 {
            for l in 0..3 {
                let (k, n) = (widths[l], widths[l + 1]);
                gemm_call(out, x, false, w, false, r, k, n, true);
            }
        }
    }
}

fn bench_simulate(c: &mut Criterion) {
    type B = burn::backend::Autodiff<burn::backend::Flex>;
    let runs = runs();
    let p = fit::<B>(&runs, &steps_config(2), 0, &Default::default(), &mut ())
        .expect("trains")
        .with_fused_cpu();
    let fused = FusedCpuScorer::new(&p.model, p.meta.config.activation).expect("SiLU is fused");
    let objective = Objective::new(
        &ObjectiveSpec::default(),
        &p.meta.schema,
        &p.meta.target_norm,
    )
    .expect("1 target");
    let scorer = Scorer {
        surrogate: &p,
        objective: &objective,
        context: Vec::new(),
        members: false,
    };
    let space = &p.meta.schema.space;
    let constraints = Constraints::simplex(space);
    let sampler = DirichletSampler::around(prior_weights(space, Prior::Uniform));
    let ctx = AcquisitionContext {
        dims: 17,
        ..AcquisitionContext::default()
    };
    let ucb = build(
        &AcquisitionSpec {
            kind: AcquisitionKind::Ucb,
            beta: Some(4.0),
            ..AcquisitionSpec::default()
        },
        &ctx,
        &p.capabilities(),
        &mut StdRng::seed_from_u64(0),
    )
    .expect("ucb");
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    let widths = [p.meta.inputs(), 128, 128, 1];
    for rows in [1usize << 16, 1 << 18] {
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::new("gemm bound", rows), &rows, |b, &n| {
            let mut bufs = [
                vec![0.5f32; 256 * 128],
                vec![0.01f32; 128 * 128],
                vec![0.0f32; 256 * 128],
            ];
            b.iter(|| score_gemms(n, &widths, &mut bufs))
        });
        let (mixtures, _) = sample_chunk(&sampler, &constraints, rows, 0, 0);
        let features = p.meta.features(&mixtures, &[]).expect("17 domains");
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(
            BenchmarkId::new("raw fused forward", rows),
            &features,
            |b, f| b.iter(|| fused.forward(f)),
        );
        group.bench_with_input(
            BenchmarkId::new("sampling + repair only", rows),
            &rows,
            |b, &n| b.iter(|| sample_chunk(&sampler, &constraints, n, 1, 0)),
        );
        let config = SimulateConfig {
            samples: rows as u64,
            chunk: 8192,
            top: 10,
            seed: 1,
            host_draws: false,
        };
        group.bench_with_input(
            BenchmarkId::new("simulate, ucb, top 10", rows),
            &config,
            |b, cfg| {
                b.iter(|| {
                    simulate(
                        &scorer,
                        ucb.as_ref(),
                        None,
                        &sampler,
                        &constraints,
                        cfg,
                        &mut (),
                    )
                    .expect("runs")
                })
            },
        );
    }
    group.finish();
}

/// The fused GPU kernel on the default device of the GPU backend built in (CUDA first).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn bench_kernel(c: &mut Criterion) {
    #[cfg(feature = "cuda")]
    type G = burn::backend::Cuda;
    #[cfg(not(feature = "cuda"))]
    type G = burn::backend::Wgpu;
    use mixatlas::surrogate::{DeviceAcquisition, DeviceDraws, FeatureMap, Fitted, Reduction};
    type B = burn::backend::Autodiff<burn::backend::Flex>;
    let runs = runs();
    let p = fit::<B>(&runs, &steps_config(2), 0, &Default::default(), &mut ()).expect("trains");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model");
    let model = Fitted::Ensemble(Box::new(p));
    model
        .save(&path, mixatlas::io::Overwrite::Refuse)
        .expect("saves");
    let model = Fitted::<G>::load(&path, &Default::default()).expect("loads");
    let model = mixatlas::device::with_gpu_kernel(model).expect("uploads");
    let Fitted::Ensemble(gpu) = model else {
        unreachable!("an ensemble was saved")
    };
    assert!(gpu.kernel().is_some(), "a GPU device");
    let head = gpu.head(&Reduction {
        coefficients: vec![-1.0],
        offsets: vec![0.0],
        acquisition: DeviceAcquisition::MeanStd {
            mean: 1.0,
            std: 2.0,
        },
    });
    let space = &gpu.meta.schema.space;
    let constraints = Constraints::simplex(space);
    let sampler = DirichletSampler::around(prior_weights(space, Prior::Uniform));
    let kernel = gpu.kernel().expect("uploaded");
    let draws = DeviceDraws {
        centers: sampler.centers.clone(),
        strength: sampler.strength,
        constraints: constraints.clone(),
    };
    let map = FeatureMap {
        transform: gpu.meta.config.input_transform,
        mean: gpu.meta.input_norm.mean.clone(),
        std: gpu.meta.input_norm.std.clone(),
        context: Vec::new(),
    };
    let mut group = c.benchmark_group("kernel");
    group.sample_size(10);
    // Mesa's software Vulkan device takes about a minute per 2^17 rows.
    let sizes: &[usize] = if cfg!(feature = "cuda") {
        &[1 << 16, 1 << 20]
    } else {
        &[1 << 12]
    };
    for &rows in sizes {
        let (mixtures, _) = sample_chunk(&sampler, &constraints, rows, 0, 0);
        let features = gpu.meta.features(&mixtures, &[]).expect("17 domains");
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::new("top10", rows), &features, |b, f| {
            b.iter(|| kernel.top(f, &head, 10).expect("runs"))
        });
        group.bench_with_input(BenchmarkId::new("rows", rows), &features, |b, f| {
            b.iter(|| kernel.rows(f, &head).expect("runs"))
        });
        group.bench_with_input(BenchmarkId::new("drawn_top10", rows), &rows, |b, &n| {
            b.iter(|| {
                kernel
                    .draw_top(&draws, &map, n, 7, &head, 10)
                    .expect("runs")
            })
        });
    }
    group.finish();
}

/// 12 independent chains of `iters` 8-lane fused multiply-adds: `iters * 192` FLOPs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_chains(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_setzero_ps(); 12];
    for _ in 0..iters {
        for x in &mut acc {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut lanes = [0.0f32; 8];
    let mut sum = _mm256_setzero_ps();
    for x in acc {
        sum = _mm256_add_ps(sum, x);
    }
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum()
}

/// The core's fp32 FMA peak (one thread: the peak is per core).
fn bench_peak(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        const ITERS: u64 = 1 << 20;
        let mut group = c.benchmark_group("peak");
        group.throughput(Throughput::Elements(ITERS * 12 * 8 * 2));
        // SAFETY: the CPU has the features `fma_chains` is compiled for.
        let iters = || std::hint::black_box(ITERS);
        group.bench_function("fma", |b| b.iter(|| unsafe { fma_chains(iters()) }));
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    bench_peak(c);
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    bench_kernel(c);
    bench_simulate(c);
    bench_backend::<burn::backend::Autodiff<burn::backend::Flex>>(c, "flex");
    #[cfg(feature = "ndarray")]
    bench_backend::<burn::backend::Autodiff<burn::backend::NdArray>>(c, "ndarray");
}

criterion_group!(predictor, benches);
criterion_main!(predictor);
