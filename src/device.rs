//! `--device cpu|wgpu|cuda` -> a burn backend and device. The only module that names backend
//! features; everything else is generic over `B: Backend`.

use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::surrogate::{Fitted, SurrogateError};

/// The CPU backend for training from Rust (burn's flex with autodiff): train with
/// `fit::<Cpu>(.., &Default::default(), ..)`; the fitted predictor scores on
/// [`CpuInference`].
pub type Cpu = burn::backend::Autodiff<burn::backend::Flex>;

/// The CPU backend fitted predictors score on (`<Cpu as AutodiffBackend>::InnerBackend`).
pub type CpuInference = burn::backend::Flex;

/// The compute device, chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// burn's flex CPU backend (always built).
    Cpu,
    /// burn's ndarray CPU backend (cargo feature `ndarray`; for comparison).
    Ndarray,
    /// WebGPU / Vulkan through wgpu (cargo feature `wgpu`).
    Wgpu,
    /// NVIDIA CUDA (cargo feature `cuda`).
    Cuda,
}

/// Why a device cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The binary was built without the backend.
    #[error("device `{device}` is not built in: rebuild with `--features {feature}`")]
    NotBuilt {
        /// The requested device.
        device: &'static str,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// The backend is built in but no usable device was found.
    #[error("device `{device}` is built in but not usable here: {reason}")]
    Unavailable {
        /// The requested device.
        device: &'static str,
        /// What the backend reported.
        reason: String,
    },
}

/// Work that runs on whichever backend the user picked: implement it once, generically.
pub trait BackendTask {
    /// What the work returns.
    type Output;
    /// Runs the work on autodiff backend `B` (inference uses `B::InnerBackend`).
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

impl DeviceKind {
    /// The device's name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Ndarray => "ndarray",
            DeviceKind::Wgpu => "wgpu",
            DeviceKind::Cuda => "cuda",
        }
    }

    /// True for the CPU backends (flex, ndarray).
    pub fn is_cpu(self) -> bool {
        matches!(self, DeviceKind::Cpu | DeviceKind::Ndarray)
    }

    /// Runs `task` on this device's backend, after checking that the device is usable.
    pub fn dispatch<T: BackendTask>(self, task: T) -> Result<T::Output, DeviceError> {
        match self {
            DeviceKind::Cpu => Ok(task.run::<Cpu>(Default::default())),
            #[cfg(feature = "ndarray")]
            DeviceKind::Ndarray => {
                Ok(task.run::<burn::backend::Autodiff<burn::backend::NdArray>>(Default::default()))
            }
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => {
                type B = burn::backend::Autodiff<burn::backend::Wgpu>;
                let device = Default::default();
                probe::<B>(self, &device)?;
                Ok(task.run::<B>(device))
            }
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => {
                type B = burn::backend::Autodiff<burn::backend::Cuda>;
                let device = Default::default();
                probe::<B>(self, &device)?;
                Ok(task.run::<B>(device))
            }
            #[allow(unreachable_patterns)]
            other => Err(DeviceError::NotBuilt {
                device: other.name(),
                feature: other.name(),
            }),
        }
    }
}

/// `model` built to score through the fastest path its device has: an ensemble on a GPU
/// through the fused kernel ([`with_gpu_kernel`]), on a CPU through the fused host path
/// ([`Fitted::with_fused_cpu`]). Other surrogates as they are.
pub fn for_scoring<B: Backend>(model: Fitted<B>) -> Result<Fitted<B>, SurrogateError> {
    let model = with_gpu_kernel(model)?;
    Ok(match &model {
        Fitted::Ensemble(p) if p.kernel().is_some() => model,
        _ => model.with_fused_cpu(),
    })
}

/// `model` with its weights uploaded to the fused GPU kernel (`kernels/`) when it is an
/// ensemble whose device is a GPU backend built in (wgpu or CUDA), so large batches score
/// there. Other surrogates, and ensembles on a CPU, as they are.
pub fn with_gpu_kernel<B: Backend>(model: Fitted<B>) -> Result<Fitted<B>, SurrogateError> {
    let Fitted::Ensemble(p) = model else {
        return Ok(model);
    };
    Ok(Fitted::Ensemble(Box::new(
        match ensemble_kernel(p.device(), &p.model, p.meta.config.activation) {
            Some(kernel) => p.with_kernel(std::sync::Arc::from(kernel?)),
            None => *p,
        },
    )))
}

/// The fused ensemble kernel (`kernels/`) holding an ensemble's weights on `device`, when
/// `device` is a GPU backend built in (wgpu or CUDA); `None` on the CPU backends.
fn ensemble_kernel<B: burn::tensor::backend::Backend>(
    device: &B::Device,
    model: &crate::surrogate::EnsembleMlp<B>,
    activation: crate::surrogate::Activation,
) -> Option<Result<Box<dyn crate::surrogate::EnsembleKernel>, crate::surrogate::KernelError>> {
    let _any = device as &dyn std::any::Any;
    #[cfg(feature = "wgpu")]
    if let Some(device) = _any.downcast_ref::<burn::backend::wgpu::WgpuDevice>() {
        return Some(upload::<cubecl::wgpu::WgpuRuntime, B>(
            device, "wgpu", model, activation,
        ));
    }
    #[cfg(feature = "cuda")]
    if let Some(device) = _any.downcast_ref::<burn::backend::cuda::CudaDevice>() {
        return Some(upload::<cubecl::cuda::CudaRuntime, B>(
            device, "cuda", model, activation,
        ));
    }
    let _ = (model, activation);
    None
}

/// `model`'s weights on the CubeCL `device`.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn upload<R: cubecl::Runtime, B: burn::tensor::backend::Backend>(
    device: &R::Device,
    name: &'static str,
    model: &crate::surrogate::EnsembleMlp<B>,
    activation: crate::surrogate::Activation,
) -> Result<Box<dyn crate::surrogate::EnsembleKernel>, crate::surrogate::KernelError> {
    let (weights, biases) = crate::surrogate::ensemble::score_host::host_weights(model);
    let kernel = crate::kernels::CubeEnsemble::<R>::new(
        device,
        name,
        model.members(),
        &model.widths(),
        &weights,
        &biases,
        activation,
    )?;
    Ok(Box::new(kernel))
}

/// GPU backends panic when no adapter or driver is found, often on a runtime thread whose
/// message the caller only sees as a closed channel; turn that into an error by running one
/// tiny computation first and reporting the first panic message from any thread.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub(crate) fn probe<B: AutodiffBackend>(
    kind: DeviceKind,
    device: &B::Device,
) -> Result<(), DeviceError> {
    use std::sync::{Arc, Mutex};

    use burn::tensor::Tensor;

    fn message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
    }
    let messages: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&messages);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let (Some(m), Ok(mut all)) = (message(info.payload()), sink.lock()) {
            all.push(m);
        }
    }));
    let device = device.clone();
    // The device handle is only read inside; a panic leaves nothing half-updated.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let t = Tensor::<B, 1>::from_floats([1.0, 2.0], &device);
        t.sum().into_scalar()
    }));
    std::panic::set_hook(previous);
    result.map(|_| ()).map_err(|panic| {
        let first = messages.lock().ok().and_then(|m| m.first().cloned());
        DeviceError::Unavailable {
            device: kind.name(),
            reason: first
                .or_else(|| message(panic.as_ref()))
                .unwrap_or_else(|| "the backend failed to initialise".into()),
        }
    })
}
