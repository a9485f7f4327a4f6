//! The crate's error types: one for policies, one for starting and serving, one for actors.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

/// A served policy could not produce actions for a batch.
///
/// It fails only that batch: every request in it gets [`TransportError::Policy`] with this
/// message, and the server goes on serving the next batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct PolicyError {
    message: String,
}

impl PolicyError {
    /// An error with a message for the actors whose requests were in the failed batch.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message given to [`PolicyError::new`].
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Starting the server, or serving it on a new transport, failed.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A [`ServerConfig`](crate::ServerConfig) field, or a dimension the policy reports, is out of range.
    #[error("invalid inference-server config: {0}")]
    InvalidConfig(String),
    /// The server was already shut down.
    #[error("the inference server is shut down")]
    ShutDown,
    /// The gRPC listener could not bind its address.
    #[error("cannot bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A thread or the tokio runtime could not be started.
    #[error("cannot start a server thread or runtime")]
    Spawn(#[source] std::io::Error),
}

/// An actor's [`Transport::act`](crate::Transport::act) call failed.
///
/// [`is_final`](Self::is_final) tells an actor whether reconnecting can help.
///
/// [`InvalidRequest`](Self::InvalidRequest) and [`Policy`](Self::Policy) leave an in-process
/// client usable; every error closes a gRPC stream, after which the `GrpcClient` keeps
/// returning it and the actor reconnects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The server shut down, or the connection to it was lost.
    #[error("the inference server is shut down or the connection to it was lost")]
    Disconnected,
    /// The learner trained to its end and shut its inference server down (gRPC only; older
    /// servers and in-process clients report [`Disconnected`](Self::Disconnected)). Not final:
    /// the same run may be resumed with more steps, so an actor reconnects unless told to stop.
    #[error("the learner finished training and shut its inference server down")]
    Finished,
    /// The request was malformed (see [`EnvStep`](crate::EnvStep) for what is checked).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The policy failed on the batch this request was part of.
    #[error("the policy failed on this batch: {0}")]
    Policy(String),
    /// The server refused the request: too many envs or streams, or a frame over the size limit.
    #[error("rejected by the inference server: {0}")]
    Rejected(String),
    /// The gRPC stream carried no token or the wrong one.
    #[error("authentication failed: {0}")]
    Unauthenticated(String),
    /// The server refused this actor for a reason reconnecting cannot fix (e.g. the actor
    /// steps another environment than the learner trains on).
    #[error("the inference server refuses this actor: {0}")]
    Incompatible(String),
    /// The server address could not be parsed.
    #[error("invalid server address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    /// The connection could not be opened.
    #[error("cannot connect to the inference server: {0}")]
    Connect(String),
    /// No reply came within the client's timeout.
    #[error("no reply from the inference server within {0:?}")]
    Timeout(Duration),
    /// A gRPC status this crate has no closer variant for.
    #[error("gRPC status {code}: {message}")]
    Status { code: String, message: String },
    /// The server's reply did not match the request.
    #[error("malformed reply from the inference server: {0}")]
    MalformedReply(String),
}

impl TransportError {
    /// Whether the same actor would fail the same way on every reconnect: a malformed request
    /// (wrong observation width, out-of-range values), a wrong token, another env, an
    /// unusable address. Disconnects, timeouts, refusals over capacity and policy errors are
    /// not final.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::InvalidRequest(_)
                | Self::Unauthenticated(_)
                | Self::Incompatible(_)
                | Self::InvalidAddress { .. }
        )
    }
}
