use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while writing or reading a run's files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("CSV error in {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("invalid TOML in {path}: {source}")]
    TomlDe {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("cannot serialize config to TOML: {0}")]
    TomlSer(#[from] toml::ser::Error),
    #[error("JSON error in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("malformed TensorBoard event file {path}: {message}")]
    Events { path: PathBuf, message: String },
    #[error("cannot plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn plot(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Plot {
            path: path.into(),
            message: message.into(),
        }
    }
}
