//! The one error type of the crate.

use std::path::PathBuf;

pub type Result<T, E = DemoError> = std::result::Result<T, E>;

/// What can go wrong writing the demo mesh or its data.
///
/// Grouped by who can fix it: the caller's input ([`DemoError::InvalidScale`],
/// [`DemoError::AlreadyExists`]), the file system ([`DemoError::Io`]), or this crate
/// ([`DemoError::Encode`], [`DemoError::Internal`]: a bug, never bad input).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The scale is not a number in (0, 1000].
    #[error(
        "scale must be greater than 0 and at most {max}; got {0}\n  help: 1 makes about a million web events, 0.01 about ten thousand",
        max = crate::MAX_SCALE
    )]
    InvalidScale(f64),

    /// `write_mesh` found a file where it would write one. Nothing was written.
    #[error(
        "{}: already exists; the demo mesh never overwrites a file\n  help: write it into an empty folder, or move the file away",
        .0.display()
    )]
    AlreadyExists(PathBuf),

    /// Reading or writing a file or folder failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Encoding a data file failed (a bug: the generator made a batch its writer rejects).
    #[error("{}: cannot encode the data: {message}", path.display())]
    Encode { path: PathBuf, message: String },

    /// A bug in the generator, such as a worker thread that panicked.
    #[error("internal error in the demo generator: {0}")]
    Internal(String),
}

impl DemoError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DemoError {
        let path = path.into();
        move |source| DemoError::Io { path, source }
    }

    pub(crate) fn encode(path: impl Into<PathBuf>) -> impl FnOnce(String) -> DemoError {
        let path = path.into();
        move |message| DemoError::Encode { path, message }
    }
}
