//! [`InferenceServer::start`] and the [`ServerHandle`] it returns.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::batcher::Batcher;
use crate::shared::{Request, Shared};
use crate::unroll::Dims;
use crate::{BatchPolicy, EpisodeStats, InProcessClient, ServerConfig, ServerError, Unroll};

/// SEED RL's central inference server (Espeholt et al. 2020).
///
/// [`start`](Self::start) spawns the batching thread, which owns the policy; actors connect
/// through [`ServerHandle::connect`] (threads in this process) or over gRPC
/// ([`ServerHandle::serve_grpc`]).
#[derive(Debug)]
pub struct InferenceServer;

impl InferenceServer {
    /// Starts serving `policy`. Returns the handle, the bounded queue of finished unrolls for the
    /// learner, and the bounded queue of finished episodes' statistics.
    ///
    /// The learner should keep draining the unroll queue: when it is full, the batching thread
    /// waits and so do the actors. The server runs until [`ServerHandle::shutdown`] or until the
    /// last handle is dropped.
    pub fn start<P: BatchPolicy>(
        policy: P,
        config: ServerConfig,
    ) -> Result<(ServerHandle, Receiver<Unroll>, Receiver<EpisodeStats>), ServerError> {
        config.validate()?;
        let dims = Dims {
            obs: policy.obs_dim(),
            aux: policy.aux_dim(),
            state: policy.state_dim(),
        };
        if dims.obs == 0 {
            return Err(ServerError::InvalidConfig(
                "the policy's obs_dim is 0; observations need at least one value".into(),
            ));
        }
        let (request_tx, request_rx) = crossbeam_channel::bounded(config.request_queue);
        let (unroll_tx, unroll_rx) = crossbeam_channel::bounded(config.unroll_queue);
        let (episode_tx, episode_rx) = crossbeam_channel::bounded(config.episode_queue);
        let shared = Arc::new(Shared::new(config, dims));
        let batcher = Batcher::new(
            policy,
            Arc::clone(&shared),
            request_rx,
            unroll_tx,
            episode_tx,
        );
        let thread = std::thread::Builder::new()
            .name("eirl-batcher".into())
            .spawn(move || batcher.run())
            .map_err(ServerError::Spawn)?;
        let handle = ServerHandle {
            inner: Arc::new(HandleInner {
                shared,
                requests: request_tx,
                batcher: Mutex::new(Some(thread)),
                #[cfg(feature = "grpc")]
                grpc: Mutex::new(Vec::new()),
            }),
        };
        Ok((handle, unroll_rx, episode_rx))
    }
}

/// A snapshot of the server's counters ([`ServerHandle::stats`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerStats {
    /// Forward passes run.
    pub batches_run: u64,
    /// Rows (env steps) served, over all batches.
    pub rows_served: u64,
    /// `rows_served / batches_run` (0 before the first batch).
    pub mean_batch_size: f64,
    /// Most rows in one forward.
    pub largest_batch: u64,
    /// Clients connected now (in-process and gRPC).
    pub connected_clients: u64,
    /// Envs the batch target counts: the slots held now (same number as `active_slots`; a
    /// client's slots are freed when it disconnects).
    pub connected_envs: u64,
    /// Env slots held now.
    pub active_slots: u64,
    /// Unrolls handed to the learner's queue.
    pub unrolls_emitted: u64,
    /// Finished unrolls thrown away because the learner's receiver was dropped or the server
    /// was shutting down.
    pub unrolls_discarded: u64,
    /// Partial unrolls dropped by a disconnect, heartbeat expiry, run-id change or step gap.
    pub dropped_partial_unrolls: u64,
    /// Slots started over because of a new run id or a step gap.
    pub slot_resets: u64,
    /// Slots freed after `heartbeat_timeout` of silence.
    pub expired_slots: u64,
    /// Episodes whose statistics were computed.
    pub episodes_completed: u64,
    /// Episode statistics dropped because their queue was full or unread.
    pub episode_stats_dropped: u64,
    /// Batches failed by the policy.
    pub policy_errors: u64,
    /// Requests refused: malformed (in-process), over `max_envs`, or naming an env another
    /// connected client drives.
    pub rejected_requests: u64,
    /// gRPC streams refused when opening: wrong or missing token, or over `max_clients`.
    pub rejected_streams: u64,
    /// gRPC streams closed for a malformed or oversized frame.
    pub invalid_streams: u64,
    /// TCP connections open now on the gRPC listeners.
    pub open_connections: u64,
    /// TCP connections closed on arrival because `max_connections` were open.
    pub rejected_connections: u64,
    /// TCP connections closed after `connection_idle_timeout` without a stream.
    pub idle_connections_closed: u64,
    /// Requests refused because another connected client drives one of their envs (two
    /// actors with one id); counted in `rejected_requests` too.
    pub env_conflicts: u64,
}

/// Controls a running server; clones share it. Dropping the last clone shuts the server down.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) inner: Arc<HandleInner>,
}

pub(crate) struct HandleInner {
    pub shared: Arc<Shared>,
    pub requests: Sender<Request>,
    batcher: Mutex<Option<JoinHandle<()>>>,
    #[cfg(feature = "grpc")]
    pub grpc: Mutex<Vec<crate::grpc::GrpcServerThread>>,
}

impl HandleInner {
    fn shutdown(&self) {
        self.shared
            .shutdown
            .store(true, std::sync::atomic::Ordering::Release);
        #[cfg(feature = "grpc")]
        let grpc = std::mem::take(&mut *self.grpc.lock());
        #[cfg(feature = "grpc")]
        for server in &grpc {
            server.signal();
        }
        if let Some(thread) = self.batcher.lock().take() {
            let _ = thread.join();
        }
        #[cfg(feature = "grpc")]
        for server in grpc {
            server.join();
        }
    }
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("config", &self.inner.shared.config)
            .field("shut_down", &self.is_shut_down())
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// A client for an actor thread in this process (crossbeam channels, no serialization).
    /// Dropping it disconnects: its env slots are freed and their partial unrolls dropped.
    pub fn connect(&self) -> InProcessClient {
        InProcessClient::new(Arc::clone(&self.inner.shared), self.inner.requests.clone())
    }

    /// Serves gRPC (service `eirl.seed.Inference`, `proto/seed.proto`) on `addr` from a tokio
    /// runtime in its own thread; returns the bound address (`addr` may have port 0). Pass a
    /// loopback address unless remote actors must reach it, and set a token when they do.
    #[cfg(feature = "grpc")]
    pub fn serve_grpc(
        &self,
        addr: std::net::SocketAddr,
    ) -> Result<std::net::SocketAddr, ServerError> {
        if self.is_shut_down() {
            return Err(ServerError::ShutDown);
        }
        let server = crate::grpc::GrpcServerThread::start(
            addr,
            Arc::clone(&self.inner.shared),
            self.inner.requests.clone(),
        )?;
        let bound = server.addr();
        self.inner.grpc.lock().push(server);
        Ok(bound)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ServerStats {
        self.inner.shared.counters.snapshot()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.shared.config
    }

    /// The served policy's observation length.
    pub fn obs_dim(&self) -> usize {
        self.inner.shared.dims.obs
    }

    /// The served policy's behaviour-information length per step.
    pub fn aux_dim(&self) -> usize {
        self.inner.shared.dims.aux
    }

    /// The served policy's recurrent-state length.
    pub fn state_dim(&self) -> usize {
        self.inner.shared.dims.state
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shared.is_shut_down()
    }

    /// Stops the gRPC servers and the batching thread and joins them. Actors waiting on a reply
    /// get [`TransportError::Disconnected`](crate::TransportError::Disconnected) (gRPC: status
    /// UNAVAILABLE), never a hang; later calls fail the same way.
    pub fn shutdown(self) {
        self.inner.shutdown();
    }

    /// [`shutdown`](Self::shutdown) because training is over: gRPC actors get
    /// [`TransportError::Finished`](crate::TransportError::Finished) instead of
    /// `Disconnected`, so one that was told to (`eirl seed actor --exit-when-finished`) can
    /// exit successfully instead of waiting for a learner that will not come back.
    pub fn finish(self) {
        self.inner
            .shared
            .finished
            .store(true, std::sync::atomic::Ordering::Release);
        self.inner.shutdown();
    }
}
