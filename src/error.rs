//! The crate's error type: one enum per module, wrapped here with `#[from]`.

use std::path::PathBuf;

/// Any error the library can return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// A mixture-space configuration is invalid.
    #[error(transparent)]
    Space(#[from] crate::space::SpaceError),
    /// A recipe file is malformed.
    #[error(transparent)]
    Recipe(#[from] crate::space::recipe::RecipeError),
    /// Constraints on mixtures are invalid or admit no mixture.
    #[error(transparent)]
    Constraint(#[from] crate::space::ConstraintError),
    /// A sampler could not deliver feasible mixtures (or a design enough of them).
    #[error(transparent)]
    Sampler(#[from] crate::space::sampler::SamplerError),
    /// Logged runs could not be read or failed validation.
    #[error(transparent)]
    Runs(#[from] crate::runs::RunsError),
    /// Training, evaluating or loading a predictor failed.
    #[error(transparent)]
    Surrogate(#[from] crate::surrogate::SurrogateError),
    /// An objective does not match the predictor's targets.
    #[error(transparent)]
    Objective(#[from] crate::objective::ObjectiveError),
    /// An acquisition function cannot be built.
    #[error(transparent)]
    Acquisition(#[from] crate::acquisition::AcquisitionError),
    /// A search could not deliver the proposals asked for.
    #[error(transparent)]
    Search(#[from] crate::search::SearchError),
    /// A proposer was misconfigured or asked too early.
    #[error(transparent)]
    Proposer(#[from] crate::proposer::ProposerError),
    /// A recipe could not be read or exported.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// An Olmix config or W&B run could not be imported.
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// A simulation's sizes are out of range.
    #[error(transparent)]
    Simulate(#[from] crate::simulate::SimulateError),
    /// A simulated world is misconfigured.
    #[error(transparent)]
    World(#[from] crate::evaluation::world::WorldError),
    /// A campaign step failed (it stays resumable).
    #[error(transparent)]
    Campaign(#[from] crate::campaign::CampaignError),
    /// A backtest cannot run.
    #[error(transparent)]
    Backtest(#[from] crate::evaluation::backtest::BacktestError),
    /// A report figure could not be rendered.
    #[cfg(feature = "report")]
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// The requested compute device is not built in or not present.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::io::InputError> for Error {
    fn from(e: crate::io::InputError) -> Self {
        Error::File(e.into())
    }
}

impl From<crate::io::OutputError> for Error {
    fn from(e: crate::io::OutputError) -> Self {
        Error::File(e.into())
    }
}

/// Attaches the path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let io = crate::io::io(path);
    move |cause| Error::File(io(cause))
}
