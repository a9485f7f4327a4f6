//! The gRPC transport: service `eirl.seed.Inference` of `proto/seed.proto`, served by tonic from
//! a tokio runtime in its own thread, and the blocking [`GrpcClient`].
//!
//! Each stream is one client: it is authenticated when it opens, sends one request at a time
//! (the task reads the next message only after answering the last, so a stream holds at most
//! one queued request plus HTTP/2's flow-control window), and its env slots are freed when it
//! ends. A malformed or oversized frame closes that stream only.

mod client;
mod conn;
mod convert;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status, Streaming};

pub use client::GrpcClient;
use conn::{ConnInfo, GuardedIo, RateLimitedLog, StreamOnConn};
use convert::{replies_to_proto, shutting_down, status_for};

use crate::ServerError;
use crate::shared::{ClientGuard, Counters, Request, Shared};
use crate::validate::{Limits, validate_steps};

/// Messages and service stubs generated from `proto/seed.proto` (package `eirl.seed`).
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    unreachable_pub
)]
pub mod proto {
    tonic::include_proto!("eirl.seed");
}

use proto::inference_server::{Inference, InferenceServer as InferenceService};

/// Request metadata naming the env an actor steps (checked against `ServerConfig::env_id`).
pub const ENV_METADATA: &str = "eirl-env";

/// How long stream tasks get to send their final status after shutdown is signalled.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// Idle time before the kernel probes a silent peer.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);
/// Back-off bounds while the request queue is full.
const BACKOFF_MIN: Duration = Duration::from_micros(50);
const BACKOFF_MAX: Duration = Duration::from_millis(2);

/// One `serve_grpc` listener: its runtime thread and the switch that stops it.
pub(crate) struct GrpcServerThread {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl GrpcServerThread {
    pub fn start(
        addr: SocketAddr,
        shared: Arc<Shared>,
        requests: Sender<Request>,
    ) -> Result<Self, ServerError> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServerError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .and_then(|bound| listener.set_nonblocking(true).map(|()| bound))
            .map_err(|source| ServerError::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("eirl-grpc")
            .enable_all()
            .build()
            .map_err(ServerError::Spawn)?;
        let (stop, stop_rx) = watch::channel(false);
        let service = InferenceService::new(ActService {
            max_decoding: shared.config.max_frame_bytes,
            shared: Arc::clone(&shared),
            requests,
            stop: stop_rx.clone(),
        })
        .max_decoding_message_size(shared.config.max_frame_bytes);
        let thread = std::thread::Builder::new()
            .name("eirl-grpc-server".into())
            .spawn(move || {
                runtime.block_on(serve(listener, service, shared, stop_rx));
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(ServerError::Spawn)?;
        Ok(Self {
            addr: bound,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Tells the listener and every stream to stop (non-blocking).
    pub fn signal(&self) {
        self.stop.send_replace(true);
    }

    /// Waits for the runtime thread to finish (at most the grace period plus a little).
    pub fn join(mut self) {
        self.signal();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for GrpcServerThread {
    fn drop(&mut self) {
        self.signal();
    }
}

async fn serve(
    listener: std::net::TcpListener,
    service: InferenceService<ActService>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("gRPC listener unusable: {err}");
            return;
        }
    };
    // No Nagle delay on small replies; TCP keepalive finds peers that vanished without a FIN
    // (HTTP/2 pings would not do: an idle blocking client does not poll its connection).
    // Each accepted socket is counted against `max_connections` and closed after
    // `connection_idle_timeout` without a stream (`conn`).
    let refusals = RateLimitedLog::default();
    let accept_errors = RateLimitedLog::default();
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(TCP_KEEPALIVE))
        .filter_map(move |accepted| match accepted {
            Ok(io) => GuardedIo::admit(io, &shared, &refusals).map(Ok),
            Err(err) => {
                accept_errors.warn(|| format!("gRPC listener cannot accept a connection: {err}"));
                Some(Err(err))
            }
        });
    let mut graceful = stop.clone();
    let server = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async move { stopped(&mut graceful).await });
    let mut hard = stop;
    tokio::select! {
        result = server => {
            if let Err(err) = result {
                tracing::error!("gRPC server failed: {err}");
            }
        }
        () = async {
            stopped(&mut hard).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {}
    }
}

/// Resolves once shutdown is signalled (or the switch is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

struct ActService {
    shared: Arc<Shared>,
    requests: Sender<Request>,
    stop: watch::Receiver<bool>,
    max_decoding: usize,
}

#[tonic::async_trait]
impl Inference for ActService {
    type ActStream = ReceiverStream<Result<proto::ActResponse, Status>>;

    async fn act(
        &self,
        request: tonic::Request<Streaming<proto::ActRequest>>,
    ) -> Result<tonic::Response<Self::ActStream>, Status> {
        let shared = &self.shared;
        if shared.is_shut_down() {
            return Err(shutting_down(shared.is_finished()));
        }
        if let Some(token) = &shared.config.token {
            if !authorized(request.metadata(), token) {
                Counters::add(&shared.counters.rejected_streams, 1);
                return Err(Status::unauthenticated(
                    "missing or wrong token: send metadata `authorization: Bearer <token>`",
                ));
            }
        }
        if let Some(expected) = &shared.config.env_id {
            let given = request
                .metadata()
                .get(ENV_METADATA)
                .and_then(|value| value.to_str().ok());
            if let Some(given) = given.filter(|given| *given != expected) {
                Counters::add(&shared.counters.rejected_streams, 1);
                return Err(Status::failed_precondition(format!(
                    "this learner trains on {expected}; the actor steps {given}"
                )));
            }
        }
        let on_conn = request
            .extensions()
            .get::<ConnInfo>()
            .map(ConnInfo::open_stream);
        let Some(guard) = shared.try_register_client(shared.config.max_clients) else {
            Counters::add(&shared.counters.rejected_streams, 1);
            return Err(Status::resource_exhausted(format!(
                "max_clients = {} streams are open already",
                shared.config.max_clients
            )));
        };
        let (responses, rx) = mpsc::channel(2);
        tokio::spawn(serve_stream(Stream {
            guard,
            _on_conn: on_conn,
            inbound: request.into_inner(),
            responses,
            shared: Arc::clone(shared),
            requests: self.requests.clone(),
            stop: self.stop.clone(),
            max_decoding: self.max_decoding,
        }));
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
}

/// `authorization: Bearer <token>`, compared in constant time.
fn authorized(metadata: &MetadataMap, token: &str) -> bool {
    metadata
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| {
            let (a, b) = (given.trim().as_bytes(), token.as_bytes());
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        })
}

/// One open stream: its registration (dropped = disconnected) and its channels.
struct Stream {
    guard: ClientGuard,
    /// Keeps the connection from counting as idle while the stream is open.
    _on_conn: Option<StreamOnConn>,
    inbound: Streaming<proto::ActRequest>,
    responses: mpsc::Sender<Result<proto::ActResponse, Status>>,
    shared: Arc<Shared>,
    requests: Sender<Request>,
    stop: watch::Receiver<bool>,
    max_decoding: usize,
}

impl Stream {
    /// Closes the stream with `status`; `invalid` counts it as a malformed-frame close.
    async fn close(&mut self, status: Status, invalid: bool) {
        if invalid {
            Counters::add(&self.shared.counters.invalid_streams, 1);
        }
        let _ = self.responses.send(Err(status)).await;
    }
}

/// Answers one stream's requests in order until it ends, fails, or the server stops.
async fn serve_stream(mut s: Stream) {
    loop {
        // A stream silent for `heartbeat_timeout` is closed, so idle connections cannot hold
        // `max_clients` places forever.
        let idle = s.shared.config.heartbeat_timeout;
        let message = tokio::select! {
            () = stopped(&mut s.stop) => return s.close(shutting_down(s.shared.is_finished()), false).await,
            () = tokio::time::sleep(idle) => {
                let status = Status::deadline_exceeded(format!(
                    "no request for {idle:?} (heartbeat_timeout); closing the idle stream"
                ));
                return s.close(status, false).await;
            }
            message = s.inbound.message() => message,
        };
        let request = match message {
            Ok(Some(request)) => request,
            // The actor closed its side: a clean disconnect.
            Ok(None) => return,
            Err(status) => {
                // Decode failures (oversized or garbled frames) are the actor's fault; anything
                // else (a reset connection) is a disconnect with nobody left to tell.
                return match status.code() {
                    Code::OutOfRange => {
                        let message = format!(
                            "{} (max_frame_bytes = {})",
                            status.message(),
                            s.max_decoding
                        );
                        s.close(Status::out_of_range(message), true).await;
                    }
                    Code::Internal | Code::InvalidArgument | Code::ResourceExhausted => {
                        s.close(status, true).await;
                    }
                    _ => {}
                };
            }
        };
        let steps = request.into_steps();
        if let Err(invalid) = validate_steps(&steps, Limits::of(&s.shared)) {
            return s
                .close(Status::invalid_argument(invalid.to_string()), true)
                .await;
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let mut queued = Request {
            client: Arc::clone(s.guard.life()),
            steps,
            arrived: Instant::now(),
            reply: crate::shared::ReplyTo::Task(reply_tx),
        };
        let mut backoff = BACKOFF_MIN;
        loop {
            match s.requests.try_send(queued) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if !s.shared.is_shut_down() => {
                    queued = back;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                Err(_) => return s.close(shutting_down(s.shared.is_finished()), false).await,
            }
        }
        let reply = tokio::select! {
            () = stopped(&mut s.stop) => return s.close(shutting_down(s.shared.is_finished()), false).await,
            reply = reply_rx => reply,
        };
        match reply {
            Ok(Ok(replies)) => {
                if s.responses
                    .send(Ok(replies_to_proto(replies)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(Err(err)) => return s.close(status_for(err), false).await,
            Err(_) => return s.close(shutting_down(s.shared.is_finished()), false).await,
        }
    }
}
