use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while writing or reading a run's files.
///
/// A variant with a `#[source]` does not repeat that source in its message: `anyhow`'s `{:#}`
/// and the CLI print the whole chain, so the OS error appears once.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("CSV error in {path}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("invalid TOML in {path}")]
    TomlDe {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("cannot serialize config to TOML")]
    TomlSer(#[from] toml::ser::Error),
    #[error("JSON error in {path}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A `metrics.csv` that cannot be continued: a wrong header or a row that does not parse.
    #[error("{path} line {line}: {message}")]
    Metrics {
        path: PathBuf,
        line: u64,
        message: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_the_os_error_once_in_the_chain() {
        let e = Error::io("runs/x/metrics.csv", io::Error::from_raw_os_error(2));
        let rendered = format!("{:#}", anyhow::Error::new(e));
        assert_eq!(rendered.matches("(os error 2)").count(), 1, "{rendered}");
        assert!(rendered.contains("runs/x/metrics.csv"), "{rendered}");
    }
}
