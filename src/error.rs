//! The crate's error type: one enum per module, wrapped here with `#[from]`.

use std::path::PathBuf;

/// Any error the library can return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A mixture-space configuration is invalid.
    #[error(transparent)]
    Space(#[from] crate::space::SpaceError),
    /// Constraints on mixtures are invalid or admit no mixture.
    #[error(transparent)]
    Constraint(#[from] crate::space::ConstraintError),
    /// Logged runs could not be read or failed validation.
    #[error(transparent)]
    Runs(#[from] crate::runs::RunsError),
    /// Training, evaluating or loading a predictor failed.
    #[error(transparent)]
    Predictor(#[from] crate::predictor::PredictorError),
    /// An objective does not match the predictor's targets.
    #[error(transparent)]
    Objective(#[from] crate::objective::ObjectiveError),
    /// An acquisition function cannot be built.
    #[error(transparent)]
    Acquisition(#[from] crate::acquisition::AcquisitionError),
    /// A search could not deliver the proposals asked for.
    #[error(transparent)]
    Search(#[from] crate::search::SearchError),
    /// A recipe could not be read or exported.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// A simulated world is misconfigured.
    #[error(transparent)]
    World(#[from] crate::simulate::world::WorldError),
    /// A campaign step failed (it stays resumable).
    #[error(transparent)]
    Campaign(#[from] crate::campaign::CampaignError),
    /// A report figure could not be rendered.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// The requested compute device is not built in or not present.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// Writes `bytes` to `path` through a temporary sibling (`.NAME.tmp-PID`) and a rename, so a
/// reader sees the old file or the whole new one, never a part.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map_or("output".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Writes `files` (relative path, contents) into directory `dir` all at once: into a
/// temporary sibling that is then renamed into place, so an interrupted write leaves either
/// the old directory or the complete new one. An existing `dir` is replaced only with `force`.
pub(crate) fn write_dir_atomic(
    dir: &std::path::Path,
    force: bool,
    files: &[(String, Vec<u8>)],
) -> Result<()> {
    crate::predictor::checkpoint::check_output(dir, force)?;
    let name = dir
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    for (rel, bytes) in files {
        let path = tmp.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))
}
