//! [`GrpcClient`]: a blocking actor-side client over one bidirectional gRPC stream.

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;

use super::convert::{error_for, replies_from_proto, steps_to_proto};
use super::proto;
use super::proto::inference_client::InferenceClient;
use crate::{ActReply, EnvStep, Transport, TransportError};

/// How long [`GrpcClient::connect`] waits for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest reply accepted (a reply is one action per env of the request).
const MAX_REPLY_BYTES: usize = 64 << 20;

/// An actor's gRPC connection: one `Act` stream, driven by a small single-threaded tokio
/// runtime of its own, behind the blocking [`Transport`] API.
///
/// Any error closes the stream; every later call returns that error again, and the actor
/// reconnects with [`GrpcClient::connect`]. Dropping the client closes the stream, which the
/// server treats as a disconnect (its env slots are freed). It is a blocking API: use it from
/// ordinary threads, not from inside a tokio runtime (as with any `block_on`).
pub struct GrpcClient {
    runtime: Runtime,
    outbound: mpsc::Sender<proto::ActRequest>,
    inbound: Streaming<proto::ActResponse>,
    timeout: Option<Duration>,
    failed: Option<TransportError>,
}

impl std::fmt::Debug for GrpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClient")
            .field("timeout", &self.timeout)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl GrpcClient {
    /// Connects to `addr` (`"http://127.0.0.1:port"` or `"127.0.0.1:port"`) and opens the
    /// stream, sending `token` as `authorization: Bearer <token>`. A wrong or missing token
    /// fails here with [`TransportError::Unauthenticated`].
    pub fn connect(addr: &str, token: Option<&str>) -> Result<Self, TransportError> {
        Self::connect_for_env(addr, token, None)
    }

    /// [`connect`](Self::connect), naming the environment the actor steps (metadata
    /// [`ENV_METADATA`](crate::ENV_METADATA)): a server that knows its env refuses another one
    /// here with [`TransportError::Incompatible`].
    pub fn connect_for_env(
        addr: &str,
        token: Option<&str>,
        env_id: Option<&str>,
    ) -> Result<Self, TransportError> {
        let uri = if addr.contains("://") {
            addr.to_owned()
        } else {
            format!("http://{addr}")
        };
        let endpoint =
            Endpoint::from_shared(uri).map_err(|err| TransportError::InvalidAddress {
                address: addr.to_owned(),
                reason: err.to_string(),
            })?;
        let endpoint = endpoint.connect_timeout(CONNECT_TIMEOUT).tcp_nodelay(true);
        let authorization = token
            .map(|token| {
                MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
                    TransportError::InvalidRequest(
                        "the token contains characters a header cannot carry".into(),
                    )
                })
            })
            .transpose()?;
        let env = env_id
            .map(|env| {
                MetadataValue::try_from(env).map_err(|_| {
                    TransportError::InvalidRequest(format!(
                        "the env id {env:?} contains characters a header cannot carry"
                    ))
                })
            })
            .transpose()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| TransportError::Connect(err.to_string()))?;
        let (outbound, outbound_rx) = mpsc::channel(1);
        let inbound = runtime.block_on(async move {
            let channel = endpoint
                .connect()
                .await
                .map_err(|err| TransportError::Connect(error_chain(&err)))?;
            let mut client =
                InferenceClient::new(channel).max_decoding_message_size(MAX_REPLY_BYTES);
            let mut request = tonic::Request::new(ReceiverStream::new(outbound_rx));
            if let Some(value) = authorization {
                request.metadata_mut().insert("authorization", value);
            }
            if let Some(value) = env {
                request.metadata_mut().insert(crate::ENV_METADATA, value);
            }
            let response = client
                .act(request)
                .await
                .map_err(|status| error_for(&status))?;
            Ok::<_, TransportError>(response.into_inner())
        })?;
        Ok(Self {
            runtime,
            outbound,
            inbound,
            timeout: None,
            failed: None,
        })
    }

    /// Fails a call that gets no reply within `timeout` with [`TransportError::Timeout`] (the
    /// default is to wait as long as back-pressure lasts, as SEED's actors do).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl Transport for GrpcClient {
    fn act(&mut self, steps: &[EnvStep]) -> Result<Vec<ActReply>, TransportError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if steps.is_empty() {
            return Err(TransportError::InvalidRequest(
                "the request carries no steps".into(),
            ));
        }
        let message = steps_to_proto(steps);
        let Self {
            runtime,
            outbound,
            inbound,
            timeout,
            ..
        } = self;
        let result = runtime.block_on(async {
            // A closed request side means the stream is over; its status says why.
            let sent = outbound.send(message).await.is_ok();
            let next = inbound.message();
            let next = match timeout {
                Some(limit) => tokio::time::timeout(*limit, next)
                    .await
                    .map_err(|_| TransportError::Timeout(*limit))?,
                None => next.await,
            };
            match next {
                Ok(Some(response)) if sent => replies_from_proto(response, steps),
                Ok(_) => Err(TransportError::Disconnected),
                Err(status) => Err(error_for(&status)),
            }
        });
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }
}

/// `err` and its sources, joined.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
