//! The ensemble's checkpoint: the envelope of [`crate::surrogate::checkpoint`] (kind
//! `ensemble`) with the burn record (`model.mpk`, backend-independent) and the same weights as
//! safetensors (`model.safetensors`, for PyTorch/NumPy users) as its files, and the layer
//! widths, schema, normalisation, config and training report as its [`Payload`]. Every load
//! verifies the digests and that the normalisation and noise are usable (finite, positive
//! scales, non-negative noise, distinct target names). The 0.1 layout (a `manifest.json` of
//! format `mixatlas-predictor` with the digests inline) still loads.
//!
//! # safetensors layout
//! For layer `i` of `L` (0-based): `layers.{i}.weight` `[M, in_i, out_i]` and `layers.{i}.bias`
//! `[M, out_i]`, f32. `input_mean`, `input_std` `[inputs]`, `target_mean`, `target_std`,
//! `noise_var`, `epistemic_scale` `[targets]`, f64. Metadata: `activation`, `input_transform` (JSON),
//! `heteroscedastic`, `inputs` and `targets` (JSON lists of names). To predict member `m`:
//! `x = (transform(w) ++ context - input_mean) / input_std`; `h = act(h @ W[m] + b[m])` for all
//! but the last layer; the first `T` outputs times `target_std` plus `target_mean` are the
//! member's means; heteroscedastic members' variances are `softplus(out[T..2T]) * target_std²`.
//! The epistemic std is the members' population std times `epistemic_scale` (the out-of-bag
//! calibration; absent from checkpoints written before it, meaning 1).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::io::io;
type Result<T, E = SurrogateError> = std::result::Result<T, E>;
use crate::io::{Overwrite, check_output};
use crate::surrogate::checkpoint::{self, FileDigest, Layout, bad, digest, read_verified};
use crate::surrogate::{
    EnsembleMlp, EnsembleMlpRecord, Predictor, PredictorMeta, SurrogateError, SurrogateKind,
};

pub use crate::surrogate::checkpoint::{MANIFEST, MANIFEST_DIGEST};

/// The only version of the 0.1 ensemble manifest.
const LEGACY_FORMAT_VERSION: u32 = 1;
/// burn record file name.
pub const RECORD: &str = "model.mpk";
/// safetensors file name.
pub const SAFETENSORS: &str = "model.safetensors";

/// The ensemble's payload in the checkpoint envelope: the layer widths and everything about
/// the fitted ensemble but its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// Layer widths `[inputs, hidden.., outputs]`.
    pub widths: Vec<usize>,
    /// Schema, config, normalisation, training report.
    #[serde(flatten)]
    pub meta: PredictorMeta,
}

/// The manifest of an ensemble checkpoint as mixatlas 0.1 wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LegacyManifest {
    format: String,
    format_version: u32,
    widths: Vec<usize>,
    record: FileDigest,
    safetensors: FileDigest,
    #[serde(flatten)]
    meta: PredictorMeta,
}

/// Writes `predictor` to `dir` atomically (replacing an existing `dir` only when `overwrite`
/// allows it).
pub fn save<B: Backend>(predictor: &Predictor<B>, dir: &Path, overwrite: Overwrite) -> Result<()> {
    check_output(dir, overwrite, &[])?;
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .record(predictor.model.clone().into_record(), ())
        .map_err(|e| bad(dir, format!("cannot encode the record: {e}")))?;
    let tensors = safetensors_bytes(predictor).map_err(|e| bad(dir, e))?;
    let payload = Payload {
        widths: predictor.model.widths(),
        meta: predictor.meta.clone(),
    };
    let payload = serde_json::to_value(payload).expect("the payload is plain data");
    let files = vec![(RECORD.into(), record), (SAFETENSORS.into(), tensors)];
    checkpoint::write(dir, overwrite, SurrogateKind::Ensemble, payload, files)
}

/// The payload and the verified burn record and safetensors export of the ensemble
/// checkpoint in `dir` (the envelope or the 0.1 layout), its payload checked.
fn read(dir: &Path, layout: Layout) -> Result<(Payload, Vec<u8>, Vec<u8>)> {
    let (payload, record, tensors, path) = match layout {
        Layout::Envelope(ck) if ck.envelope.kind == SurrogateKind::Ensemble => {
            let payload: Payload = ck.payload()?;
            let (record, tensors) = (ck.file(RECORD)?.to_vec(), ck.file(SAFETENSORS)?.to_vec());
            (payload, record, tensors, ck.manifest())
        }
        Layout::LegacyEnsemble => {
            let manifest = read_legacy_manifest(dir)?;
            let tensors = read_verified(dir, &manifest.safetensors)?;
            let record = read_verified(dir, &manifest.record)?;
            let payload = Payload {
                widths: manifest.widths,
                meta: manifest.meta,
            };
            (payload, record, tensors, dir.join(MANIFEST))
        }
        _ => return Err(bad(dir, "holds no deep ensemble")),
    };
    check_payload(&path, &payload)?;
    Ok((payload, record, tensors))
}

/// Reads a 0.1 ensemble manifest, checking its digest where it has one (the earliest had
/// none), its format and version.
fn read_legacy_manifest(dir: &Path) -> Result<LegacyManifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(io(&path))?;
    let digest_path = dir.join(MANIFEST_DIGEST);
    match std::fs::read_to_string(&digest_path) {
        Ok(expected) if expected.trim() != digest(MANIFEST, &text).sha256 => {
            return Err(bad(
                &path,
                "sha256 differs from manifest.sha256 (edited or corrupted?)",
            ));
        }
        Ok(_) => {}
        // Written before the digest existed.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&digest_path)(e).into()),
    }
    let manifest: LegacyManifest = serde_json::from_slice(&text)
        .map_err(|e| bad(&path, format!("unreadable manifest: {e}")))?;
    if manifest.format != checkpoint::LEGACY_ENSEMBLE_FORMAT
        || manifest.format_version != LEGACY_FORMAT_VERSION
    {
        let problem = format!(
            "format `{}` version {} is not supported",
            manifest.format, manifest.format_version
        );
        return Err(bad(&path, problem));
    }
    Ok(manifest)
}

/// Refuses a payload whose widths, columns and normalisation disagree, or whose numbers are
/// unusable for prediction.
fn check_payload(path: &Path, payload: &Payload) -> std::result::Result<(), SurrogateError> {
    let m = &payload.meta;
    let outputs = m.targets() * if m.config.heteroscedastic { 2 } else { 1 };
    let consistent = payload.widths.len() == m.config.hidden.len() + 2
        && payload.widths.first() == Some(&m.inputs())
        && payload.widths.last() == Some(&outputs)
        && m.input_norm.mean.len() == m.inputs()
        && m.input_norm.std.len() == m.inputs()
        && m.target_norm.mean.len() == m.targets()
        && m.target_norm.std.len() == m.targets()
        && m.noise_var.len() == m.targets()
        && (m.epistemic_scale.is_empty() || m.epistemic_scale.len() == m.targets());
    if !consistent {
        return Err(bad(
            path,
            "layer widths, columns and normalisation disagree",
        ));
    }
    match unusable(m) {
        Some(problem) => Err(bad(path, problem)),
        None => Ok(()),
    }
}

/// What makes a manifest's numbers unusable for prediction, if anything.
fn unusable(m: &PredictorMeta) -> Option<String> {
    let scales = [
        ("input_norm", &m.input_norm),
        ("target_norm", &m.target_norm),
    ];
    for (name, norm) in scales {
        if norm.mean.iter().any(|v| !v.is_finite()) {
            return Some(format!("`{name}.mean` holds a non-finite value"));
        }
        if norm.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Some(format!("`{name}.std` must be finite and positive"));
        }
    }
    if m.noise_var.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
        return Some("`noise_var` must be finite and non-negative".into());
    }
    if m.epistemic_scale
        .iter()
        .any(|c| !(c.is_finite() && *c > 0.0))
    {
        return Some("`epistemic_scale` must be finite and positive".into());
    }
    let names = m.schema.target_names();
    if let Some(dup) = names
        .iter()
        .find(|n| names.iter().filter(|x| x == n).count() > 1)
    {
        return Some(format!("target `{dup}` is named twice"));
    }
    m.config.validate().err().map(|e| e.to_string())
}

/// Loads a checkpoint onto `device` (any backend: the record is backend-independent).
pub fn load<B: Backend>(dir: &Path, device: &B::Device) -> Result<Predictor<B>> {
    from_layout(dir, checkpoint::open(dir)?, device)
}

/// The ensemble in checkpoint `dir`, already opened as `layout`, on `device`.
pub(crate) fn from_layout<B: Backend>(
    dir: &Path,
    layout: Layout,
    device: &B::Device,
) -> Result<Predictor<B>> {
    let (payload, bytes, _) = read(dir, layout)?;
    let record_path = dir.join(RECORD);
    let record: EnsembleMlpRecord<B> = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .load(bytes, device)
        .map_err(|e| bad(&record_path, format!("cannot decode the record: {e}")))?;
    let model = EnsembleMlp {
        weights: record.weights,
        biases: record.biases,
    };
    let widths = &payload.widths;
    let layers = widths.len() - 1;
    let shapes_ok = model.weights.len() == layers
        && model.biases.len() == layers
        && (0..layers).all(|i| {
            let m = model.weights[0].dims()[0];
            model.weights[i].dims() == [m, widths[i], widths[i + 1]]
                && model.biases[i].dims() == [m, 1, widths[i + 1]]
        });
    if !shapes_ok || model.members() != payload.meta.config.members {
        return Err(bad(
            &record_path,
            "tensor shapes disagree with the manifest",
        ));
    }
    let finite = |p: &burn::module::Param<Tensor<B, 3>>| {
        let values = p.val().into_data().to_vec::<f32>();
        values.is_ok_and(|v| v.iter().all(|x| x.is_finite()))
    };
    for (i, (w, b)) in model.weights.iter().zip(&model.biases).enumerate() {
        if !(finite(w) && finite(b)) {
            let problem = format!("layer {i}: a weight or bias is not finite");
            return Err(bad(&record_path, problem));
        }
    }
    Ok(Predictor::new(model, payload.meta, device.clone()))
}

fn safetensors_bytes<B: Backend>(p: &Predictor<B>) -> std::result::Result<Vec<u8>, String> {
    let f32_bytes = |t: Tensor<B, 3>| -> Vec<u8> {
        let v: Vec<f32> = t.into_data().to_vec().expect("weights are f32");
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    };
    let f64_bytes = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, (w, b)) in p.model.weights.iter().zip(&p.model.biases).enumerate() {
        let [m, fan_in, fan_out] = w.dims();
        owned.push((
            format!("layers.{i}.weight"),
            Dtype::F32,
            vec![m, fan_in, fan_out],
            f32_bytes(w.val()),
        ));
        owned.push((
            format!("layers.{i}.bias"),
            Dtype::F32,
            vec![m, fan_out],
            f32_bytes(b.val()),
        ));
    }
    let meta = &p.meta;
    for (name, v) in [
        ("input_mean", &meta.input_norm.mean),
        ("input_std", &meta.input_norm.std),
        ("target_mean", &meta.target_norm.mean),
        ("target_std", &meta.target_norm.std),
        ("noise_var", &meta.noise_var),
        ("epistemic_scale", &meta.epistemic_scale),
    ] {
        if !v.is_empty() {
            owned.push((name.into(), Dtype::F64, vec![v.len()], f64_bytes(v)));
        }
    }
    let views = owned
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| e.to_string())
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let inputs: Vec<String> = meta
        .schema
        .space
        .names()
        .into_iter()
        .chain(meta.schema.context.iter().cloned())
        .collect();
    let targets = meta.schema.target_names();
    let info: HashMap<String, String> = [
        ("activation", serde_json::to_string(&meta.config.activation)),
        (
            "input_transform",
            serde_json::to_string(&meta.config.input_transform),
        ),
        (
            "heteroscedastic",
            serde_json::to_string(&meta.config.heteroscedastic),
        ),
        ("inputs", serde_json::to_string(&inputs)),
        ("targets", serde_json::to_string(&targets)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.expect("plain values serialise")))
    .collect();
    safetensors::tensor::serialize(views, &Some(info)).map_err(|e| e.to_string())
}

/// One tensor of the safetensors export, values widened to f64.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// e.g. `layers.0.weight`.
    pub name: String,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f64>,
}

/// Reads every tensor of a checkpoint's safetensors export, after verifying its digest.
pub fn read_safetensors(dir: &Path) -> Result<Vec<NamedTensor>> {
    let (_, _, bytes) = read(dir, checkpoint::open(dir)?)?;
    let path: PathBuf = dir.join(SAFETENSORS);
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(&path, e.to_string()))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let values = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            other => return Err(bad(&path, format!("tensor `{name}` has dtype {other:?}"))),
        };
        out.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            values,
        });
    }
    Ok(out)
}
