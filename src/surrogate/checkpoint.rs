//! One checkpoint envelope for every surrogate.
//!
//! A checkpoint is a directory written whole (atomically) holding:
//!
//! ```text
//! manifest.json     {format: "mixatlas-surrogate", version, kind, mixatlas_version,
//!                    files: [{file, bytes, sha256}], payload: {...the kind's own fields}}
//! manifest.sha256   the manifest's sha256, so an edited manifest is refused
//! <files>           the kind's binary payload files (the ensemble's burn record and
//!                   safetensors export, the GP's safetensors export), each digested above
//! ```
//!
//! [`write()`] writes one, [`open`] reads and verifies one (the manifest's digest, the format and
//! version, every file's size and sha256) and says which kind it holds; each kind turns its
//! [`Checkpoint`] back into a model and checks the domain of every fitted value
//! (`check_domain`). Checkpoints written by mixatlas 0.1 (three layouts: an ensemble's
//! `manifest.json` of format `mixatlas-predictor`, `gp.json`, `loglinear.json`) are recognised
//! by [`open`] as [`Layout`]s of their own and still load.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{SurrogateError, SurrogateKind};
use crate::io::io;
type Result<T, E = SurrogateError> = std::result::Result<T, E>;
use crate::io::{Overwrite, write_dir_atomic};

/// Format tag of every checkpoint manifest.
pub const FORMAT: &str = "mixatlas-surrogate";
/// Bumped whenever the envelope changes incompatibly.
pub const VERSION: u32 = 1;
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's sha256 (hex).
pub const MANIFEST_DIGEST: &str = "manifest.sha256";
/// The format tag of the ensemble manifests mixatlas 0.1 wrote.
pub const LEGACY_ENSEMBLE_FORMAT: &str = "mixatlas-predictor";

/// A checkpoint's manifest: what every kind shares, and the kind's own payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] at write time.
    pub version: u32,
    /// Which surrogate the payload is.
    pub kind: SurrogateKind,
    /// Version of mixatlas that wrote it.
    pub mixatlas_version: String,
    /// The payload files beside the manifest, with their digests.
    pub files: Vec<FileDigest>,
    /// The kind's own fields (schema, config, normalisation, fitted values).
    pub payload: serde_json::Value,
}

/// A verified checkpoint: its manifest and its files' bytes.
#[derive(Debug)]
pub struct Checkpoint {
    /// The directory.
    pub dir: PathBuf,
    /// The manifest.
    pub envelope: Envelope,
    files: Vec<(String, Vec<u8>)>,
}

impl Checkpoint {
    /// The verified bytes of payload file `name`.
    pub fn file(&self, name: &str) -> std::result::Result<&[u8], SurrogateError> {
        (self.files.iter().find(|f| f.0 == name))
            .map(|f| f.1.as_slice())
            .ok_or_else(|| bad(&self.dir.join(MANIFEST), format!("no file `{name}` listed")))
    }

    /// The payload as the kind's type.
    pub fn payload<T: DeserializeOwned>(&self) -> std::result::Result<T, SurrogateError> {
        serde_json::from_value(self.envelope.payload.clone())
            .map_err(|e| bad(&self.manifest(), format!("field `payload`: {e}")))
    }

    /// The manifest's path, for errors.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join(MANIFEST)
    }
}

/// What a checkpoint directory holds.
#[derive(Debug)]
pub enum Layout {
    /// The envelope, verified.
    Envelope(Checkpoint),
    /// An ensemble as mixatlas 0.1 wrote it (`manifest.json` of [`LEGACY_ENSEMBLE_FORMAT`]).
    LegacyEnsemble,
    /// A GP as mixatlas 0.1 wrote it (`gp.json`).
    LegacyGp,
    /// A mixing law as mixatlas 0.1 wrote it (`loglinear.json`).
    LegacyLogLinear,
}

/// Writes the checkpoint of a `kind` surrogate to `dir` atomically (replacing an existing
/// `dir` only when `overwrite` allows it): `payload` in the manifest, `files` beside it.
pub fn write(
    dir: &Path,
    overwrite: Overwrite,
    kind: SurrogateKind,
    payload: serde_json::Value,
    files: Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let envelope = Envelope {
        format: FORMAT.into(),
        version: VERSION,
        kind,
        mixatlas_version: env!("CARGO_PKG_VERSION").into(),
        files: files
            .iter()
            .map(|(name, bytes)| digest(name, bytes))
            .collect(),
        payload,
    };
    let json = serde_json::to_vec_pretty(&envelope).expect("a manifest serialises");
    let mut all = files;
    all.push((
        MANIFEST_DIGEST.into(),
        digest(MANIFEST, &json).sha256.into_bytes(),
    ));
    all.push((MANIFEST.into(), json));
    Ok(write_dir_atomic(dir, overwrite, &[], &all)?)
}

/// Reads the checkpoint in `dir`: the envelope, verified, or which 0.1 layout it is.
pub fn open(dir: &Path) -> Result<Layout> {
    let path = dir.join(MANIFEST);
    if !path.exists() {
        return if dir.join(super::gp::GP_FILE).exists() {
            Ok(Layout::LegacyGp)
        } else if dir.join(super::loglinear::LOGLINEAR_FILE).exists() {
            Ok(Layout::LegacyLogLinear)
        } else {
            Err(bad(&path, "missing: no checkpoint in this directory"))
        };
    }
    let text = crate::io::read_text(&path)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&path, format!("unreadable manifest: {e}")))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(LEGACY_ENSEMBLE_FORMAT) => return Ok(Layout::LegacyEnsemble),
        other => {
            let found = other.unwrap_or("missing");
            return Err(bad(
                &path,
                format!("field `format` is `{found}`, not `{FORMAT}`"),
            ));
        }
    }
    check_digest_file(dir, MANIFEST, MANIFEST_DIGEST, text.as_bytes())?;
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(u64::from(VERSION)) {
        let found = version.map_or("missing".to_owned(), |v| v.to_string());
        let problem = format!(
            "field `version` is {found}, this mixatlas reads {VERSION} (a newer mixatlas wrote it?)"
        );
        return Err(bad(&path, problem));
    }
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| bad(&path, format!("{e}")))?;
    let mut files = Vec::with_capacity(envelope.files.len());
    for expected in &envelope.files {
        if expected.file.contains(['/', '\\']) || expected.file.starts_with('.') {
            let problem = format!(
                "file `{}` is not a plain name in the directory",
                expected.file
            );
            return Err(bad(&path, problem));
        }
        files.push((expected.file.clone(), read_verified(dir, expected)?));
    }
    Ok(Layout::Envelope(Checkpoint {
        dir: dir.to_owned(),
        envelope,
        files,
    }))
}

/// Checks `bytes`, read from `dir/file`, against the sha256 in `dir/digest_name`: refused when
/// that file is missing or disagrees (an edited or corrupted checkpoint).
fn check_digest_file(dir: &Path, file: &str, digest_name: &str, bytes: &[u8]) -> Result<()> {
    let (path, digest_path) = (dir.join(file), dir.join(digest_name));
    let problem = match std::fs::read_to_string(&digest_path) {
        Ok(expected) if expected.trim() == digest(file, bytes).sha256 => return Ok(()),
        Ok(_) => "sha256 differs from",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no sha256 beside it in",
        Err(e) => return Err(io(&digest_path)(e).into()),
    };
    Err(bad(
        &path,
        format!("{problem} {digest_name} (edited or corrupted?)"),
    ))
}

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

pub(crate) fn bad(path: &Path, problem: impl Into<String>) -> SurrogateError {
    SurrogateError::Checkpoint {
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
) -> std::result::Result<(), SurrogateError> {
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
            return Err(SurrogateError::Checkpoint {
                path: path.to_owned(),
                problem: format!("field `{field}[{i}]` = {v}: must be {rule}"),
            });
        }
    }
    Ok(())
}

/// Refuses a normaliser `name` (`mean` finite, `std` positive) read back from `path`.
pub(crate) fn check_normalizer(
    path: &Path,
    name: &str,
    norm: &super::Normalizer,
) -> std::result::Result<(), SurrogateError> {
    let mean = norm.mean.iter().copied();
    check_domain(path, &format!("{name}.mean"), mean, Domain::Finite)?;
    check_domain(
        path,
        &format!("{name}.std"),
        norm.std.iter().copied(),
        Domain::Positive,
    )
}

/// The name of the file holding `file`'s sha256: `gp.json` -> `gp.sha256`.
fn digest_file(file: &str) -> String {
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    format!("{stem}.sha256")
}

/// Checks `text`, read from `dir/file` (a 0.1 GP or mixing-law checkpoint), against the
/// sha256 file beside it: refused when that file is missing or disagrees.
pub(crate) fn check_digest(dir: &Path, file: &str, text: &str) -> Result<()> {
    check_digest_file(dir, file, &digest_file(file), text.as_bytes())
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
        ));
    }
    if found.sha256 != expected.sha256 {
        return Err(bad(&path, "sha256 differs from the manifest (corrupted?)"));
    }
    Ok(bytes)
}
