//! Checkpoints: a directory holding the burn record (`model.mpk`, backend-independent), the
//! same weights as safetensors (`model.safetensors`, for PyTorch/NumPy users) and a manifest
//! (`manifest.json`) with the schema, normalisation, config, training report and the sha256 of
//! both weight files, itself covered by `manifest.sha256`. Written to a temporary sibling
//! directory and renamed into place, so a crash never leaves a half-written checkpoint. Every
//! load verifies the manifest's digest (checkpoints written before it existed have none), both
//! weight files' sizes and digests, and that the normalisation and noise are usable (finite,
//! positive scales, non-negative noise, distinct target names).
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
use sha2::{Digest, Sha256};

use crate::error::{Result, io};
use crate::io::{Overwrite, check_output, write_dir_atomic};
use crate::predictor::{EnsembleMlp, EnsembleMlpRecord, Predictor, PredictorError, PredictorMeta};

/// Identifies a mixatlas predictor manifest.
pub const FORMAT: &str = "mixatlas-predictor";
/// Bumped whenever the manifest or weight layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
/// Manifest file name inside a checkpoint directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's sha256 (hex), so an edited manifest is refused.
pub const MANIFEST_DIGEST: &str = "manifest.sha256";
/// burn record file name.
pub const RECORD: &str = "model.mpk";
/// safetensors file name.
pub const SAFETENSORS: &str = "model.safetensors";

/// A weight file and its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDigest {
    /// File name inside the checkpoint directory.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the contents.
    pub sha256: String,
}

/// The manifest of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] at write time.
    pub format_version: u32,
    /// Version of mixatlas that wrote it.
    pub mixatlas_version: String,
    /// Layer widths `[inputs, hidden.., outputs]`.
    pub widths: Vec<usize>,
    /// The burn record.
    pub record: FileDigest,
    /// The safetensors export.
    pub safetensors: FileDigest,
    /// Schema, config, normalisation, training report.
    #[serde(flatten)]
    pub meta: PredictorMeta,
}

fn bad(path: &Path, problem: impl Into<String>) -> PredictorError {
    PredictorError::Checkpoint {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

pub(crate) fn digest(file: &str, bytes: &[u8]) -> FileDigest {
    FileDigest {
        file: file.into(),
        bytes: bytes.len() as u64,
        sha256: format!("{:x}", Sha256::digest(bytes)),
    }
}

/// What a fitted parameter read from a checkpoint must be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Domain {
    /// Finite.
    Finite,
    /// Finite and at least 0 (calibrated noise variances and scales).
    NonNegative,
    /// Finite and above 0 (lengthscales, standard deviations).
    Positive,
}

/// Refuses the first of `values` (field `field`, elements `field[i]`) outside `domain`,
/// naming the file, the field and the value: a hand-edited checkpoint whose digest was
/// recomputed is refused on load instead of predicting NaN.
pub(crate) fn check_domain(
    path: &Path,
    field: &str,
    values: impl IntoIterator<Item = f64>,
    domain: Domain,
) -> std::result::Result<(), PredictorError> {
    for (i, v) in values.into_iter().enumerate() {
        let ok = match domain {
            Domain::Finite => v.is_finite(),
            Domain::NonNegative => v.is_finite() && v >= 0.0,
            Domain::Positive => v.is_finite() && v > 0.0,
        };
        if !ok {
            let rule = match domain {
                Domain::Finite => "finite",
                Domain::NonNegative => "non-negative and finite",
                Domain::Positive => "positive and finite",
            };
            return Err(PredictorError::Checkpoint {
                path: path.to_owned(),
                problem: format!("field `{field}[{i}]` = {v}: must be {rule}"),
            });
        }
    }
    Ok(())
}

/// Writes `predictor` to `dir` atomically (replacing an existing `dir` only when `overwrite`
/// allows it).
pub fn save<B: Backend>(predictor: &Predictor<B>, dir: &Path, overwrite: Overwrite) -> Result<()> {
    check_output(dir, overwrite, &[])?;
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .record(predictor.model.clone().into_record(), ())
        .map_err(|e| bad(dir, format!("cannot encode the record: {e}")))?;
    let tensors = safetensors_bytes(predictor).map_err(|e| bad(dir, e))?;
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        mixatlas_version: env!("CARGO_PKG_VERSION").into(),
        widths: predictor.model.widths(),
        record: digest(RECORD, &record),
        safetensors: digest(SAFETENSORS, &tensors),
        meta: predictor.meta.clone(),
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest is plain data");
    write_dir_atomic(
        dir,
        overwrite,
        &[],
        &[
            (RECORD.into(), record),
            (SAFETENSORS.into(), tensors),
            (
                MANIFEST_DIGEST.into(),
                digest(MANIFEST, &json).sha256.into_bytes(),
            ),
            (MANIFEST.into(), json),
        ],
    )
}

/// Reads and checks a checkpoint's manifest (format, version, digests are checked on load).
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(io(&path))?;
    let digest_path = dir.join(MANIFEST_DIGEST);
    match std::fs::read_to_string(&digest_path) {
        Ok(expected) if expected.trim() != digest(MANIFEST, &text).sha256 => {
            return Err(bad(
                &path,
                "sha256 differs from manifest.sha256 (edited or corrupted?)",
            )
            .into());
        }
        Ok(_) => {}
        // Written before the digest existed.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&digest_path)(e)),
    }
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| bad(&path, format!("unreadable manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(bad(
            &path,
            format!("format `{}` is not `{FORMAT}`", manifest.format),
        )
        .into());
    }
    if manifest.format_version != FORMAT_VERSION {
        return Err(bad(
            &path,
            format!(
                "format version {} is not supported (this build reads {FORMAT_VERSION})",
                manifest.format_version
            ),
        )
        .into());
    }
    let m = &manifest.meta;
    let outputs = m.targets() * if m.config.heteroscedastic { 2 } else { 1 };
    let consistent = manifest.widths.len() == m.config.hidden.len() + 2
        && manifest.widths.first() == Some(&m.inputs())
        && manifest.widths.last() == Some(&outputs)
        && m.input_norm.mean.len() == m.inputs()
        && m.input_norm.std.len() == m.inputs()
        && m.target_norm.mean.len() == m.targets()
        && m.target_norm.std.len() == m.targets()
        && m.noise_var.len() == m.targets()
        && (m.epistemic_scale.is_empty() || m.epistemic_scale.len() == m.targets());
    if !consistent {
        return Err(bad(&path, "layer widths, columns and normalisation disagree").into());
    }
    if let Some(problem) = unusable(m) {
        return Err(bad(&path, problem).into());
    }
    Ok(manifest)
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

/// The name of the file holding `file`'s sha256: `gp.json` -> `gp.sha256`.
fn digest_file(file: &str) -> String {
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    format!("{stem}.sha256")
}

/// Writes `dir` atomically (replacing it only when `overwrite` allows) with the model `text`
/// as `file`, its sha256 beside it ([`check_digest`] checks it) and the `extra` files.
pub(crate) fn write_digested(
    dir: &Path,
    overwrite: Overwrite,
    file: &str,
    text: Vec<u8>,
    extra: Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let mut files = extra;
    files.push((digest_file(file), digest(file, &text).sha256.into_bytes()));
    files.push((file.into(), text));
    write_dir_atomic(dir, overwrite, &[], &files)
}

/// Checks `text`, read from `dir/file` written by [`write_digested`], against the sha256 file
/// beside it: refused when that file is missing or disagrees (an edited or corrupted model).
pub(crate) fn check_digest(dir: &Path, file: &str, text: &str) -> Result<()> {
    let (path, digest_path) = (dir.join(file), dir.join(digest_file(file)));
    let problem = match std::fs::read_to_string(&digest_path) {
        Ok(expected) if expected.trim() == digest(file, text.as_bytes()).sha256 => return Ok(()),
        Ok(_) => "sha256 differs from",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no sha256 beside it in",
        Err(e) => return Err(io(&digest_path)(e)),
    };
    let name = digest_file(file);
    Err(bad(&path, format!("{problem} {name} (edited or corrupted?)")).into())
}

/// Reads a weight file and checks its size and sha256 against the manifest.
pub(crate) fn read_verified(dir: &Path, expected: &FileDigest) -> Result<Vec<u8>> {
    let path = dir.join(&expected.file);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let found = digest(&expected.file, &bytes);
    if found.bytes != expected.bytes {
        return Err(bad(
            &path,
            format!(
                "{} bytes, the manifest says {} (truncated?)",
                found.bytes, expected.bytes
            ),
        )
        .into());
    }
    if found.sha256 != expected.sha256 {
        return Err(bad(&path, "sha256 differs from the manifest (corrupted?)").into());
    }
    Ok(bytes)
}

/// Loads a checkpoint onto `device` (any backend: the record is backend-independent).
pub fn load<B: Backend>(dir: &Path, device: &B::Device) -> Result<Predictor<B>> {
    let manifest = read_manifest(dir)?;
    // The safetensors export is not read to score, but a checkpoint is whole or refused.
    read_verified(dir, &manifest.safetensors)?;
    let bytes = read_verified(dir, &manifest.record)?;
    let record_path = dir.join(RECORD);
    let record: EnsembleMlpRecord<B> = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .load(bytes, device)
        .map_err(|e| bad(&record_path, format!("cannot decode the record: {e}")))?;
    let model = EnsembleMlp {
        weights: record.weights,
        biases: record.biases,
    };
    let widths = &manifest.widths;
    let layers = widths.len() - 1;
    let shapes_ok = model.weights.len() == layers
        && model.biases.len() == layers
        && (0..layers).all(|i| {
            let m = model.weights[0].dims()[0];
            model.weights[i].dims() == [m, widths[i], widths[i + 1]]
                && model.biases[i].dims() == [m, 1, widths[i + 1]]
        });
    if !shapes_ok || model.members() != manifest.meta.config.members {
        return Err(bad(&record_path, "tensor shapes disagree with the manifest").into());
    }
    check_meta(&dir.join(MANIFEST), &manifest.meta)?;
    Ok(Predictor::new(model, manifest.meta, device.clone()))
}

/// Refuses a manifest's fitted value outside its domain, naming the field.
fn check_meta(path: &Path, meta: &PredictorMeta) -> std::result::Result<(), PredictorError> {
    let field = |f: &str| format!("meta.{f}");
    for (name, norm) in [
        ("input_norm", &meta.input_norm),
        ("target_norm", &meta.target_norm),
    ] {
        check_domain(
            path,
            &field(&format!("{name}.mean")),
            norm.mean.iter().copied(),
            Domain::Finite,
        )?;
        check_domain(
            path,
            &field(&format!("{name}.std")),
            norm.std.iter().copied(),
            Domain::Positive,
        )?;
    }
    check_domain(
        path,
        &field("noise_var"),
        meta.noise_var.iter().copied(),
        Domain::NonNegative,
    )?;
    let scale = meta.epistemic_scale.iter().copied();
    check_domain(path, &field("epistemic_scale"), scale, Domain::NonNegative)
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
    let manifest = read_manifest(dir)?;
    let bytes = read_verified(dir, &manifest.safetensors)?;
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
            other => return Err(bad(&path, format!("tensor `{name}` has dtype {other:?}")).into()),
        };
        out.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            values,
        });
    }
    Ok(out)
}
