use thiserror::Error;

/// Errors from building, running, training or (de)serialising a network.
#[derive(Debug, Error)]
pub enum ModelError {
    /// An input's length does not match the shape the network expects.
    #[error("shape mismatch in {what}: expected {expected} values, got {got}")]
    Shape {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// A loss or gradient became NaN or infinite.
    #[error("non-finite {0} during training")]
    NonFinite(&'static str),
    /// A GPU is not usable (no driver, library or device, or the `cuda` feature is off), or a
    /// device operation failed.
    #[error("{0}")]
    Device(String),
    /// A checkpoint file is malformed, damaged or holds what a network cannot (NaN, not f32).
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: String, msg: String },
    /// A checkpoint file could not be read or written. The OS error is the source only, so a
    /// printed chain (`{:#}`) names it once.
    #[error("cannot {action} checkpoint {path}")]
    CheckpointIo {
        /// `read` or `write`.
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), ModelError> {
    if expected == got {
        Ok(())
    } else {
        Err(ModelError::Shape {
            what,
            expected,
            got,
        })
    }
}
