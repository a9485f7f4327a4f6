//! State shared by the batching thread, the handle and every client: config, counters, the
//! shutdown flag, client registration, and the request type that crosses the queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::unroll::Dims;
use crate::{ActReply, EnvStep, ServerConfig, ServerStats, TransportError};

/// What the batching thread answers a request with.
pub(crate) type Reply = Result<Vec<ActReply>, TransportError>;

/// Where a request's reply goes: a blocked actor thread, or an async gRPC stream task.
pub(crate) enum ReplyTo {
    Thread(crossbeam_channel::Sender<Reply>),
    #[cfg(feature = "grpc")]
    Task(tokio::sync::oneshot::Sender<Reply>),
}

impl ReplyTo {
    /// Never blocks; a vanished receiver just means the actor is gone.
    pub fn send(self, reply: Reply) {
        match self {
            Self::Thread(sender) => {
                let _ = sender.try_send(reply);
            }
            #[cfg(feature = "grpc")]
            Self::Task(sender) => {
                let _ = sender.send(reply);
            }
        }
    }
}

/// One `act` call: validated steps from one client.
pub(crate) struct Request {
    pub client: Arc<ClientLife>,
    pub steps: Vec<EnvStep>,
    pub arrived: Instant,
    pub reply: ReplyTo,
}

/// A connected client: its id and whether it is still connected.
#[derive(Debug)]
pub(crate) struct ClientLife {
    pub id: u64,
    alive: AtomicBool,
}

impl ClientLife {
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

/// Keeps a client registered; dropping it is the disconnect.
pub(crate) struct ClientGuard {
    life: Arc<ClientLife>,
    shared: Arc<Shared>,
}

impl ClientGuard {
    pub fn life(&self) -> &Arc<ClientLife> {
        &self.life
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.life.alive.store(false, Ordering::Release);
        self.shared.disconnected.lock().push(self.life.id);
        self.shared
            .counters
            .connected_clients
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// Event counters and gauges, written by the server's threads, read by [`ServerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub batches_run: AtomicU64,
    pub rows_served: AtomicU64,
    pub largest_batch: AtomicU64,
    pub connected_clients: AtomicU64,
    pub active_slots: AtomicU64,
    pub unrolls_emitted: AtomicU64,
    pub unrolls_discarded: AtomicU64,
    pub dropped_partial_unrolls: AtomicU64,
    pub slot_resets: AtomicU64,
    pub expired_slots: AtomicU64,
    pub episodes_completed: AtomicU64,
    pub episode_stats_dropped: AtomicU64,
    pub policy_errors: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub rejected_streams: AtomicU64,
    pub invalid_streams: AtomicU64,
    pub open_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub idle_connections_closed: AtomicU64,
    pub env_conflicts: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ServerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let batches = get(&self.batches_run);
        let rows = get(&self.rows_served);
        let active = get(&self.active_slots);
        ServerStats {
            batches_run: batches,
            rows_served: rows,
            mean_batch_size: if batches == 0 {
                0.0
            } else {
                rows as f64 / batches as f64
            },
            largest_batch: get(&self.largest_batch),
            connected_clients: get(&self.connected_clients),
            connected_envs: active,
            active_slots: active,
            unrolls_emitted: get(&self.unrolls_emitted),
            unrolls_discarded: get(&self.unrolls_discarded),
            dropped_partial_unrolls: get(&self.dropped_partial_unrolls),
            slot_resets: get(&self.slot_resets),
            expired_slots: get(&self.expired_slots),
            episodes_completed: get(&self.episodes_completed),
            episode_stats_dropped: get(&self.episode_stats_dropped),
            policy_errors: get(&self.policy_errors),
            rejected_requests: get(&self.rejected_requests),
            rejected_streams: get(&self.rejected_streams),
            invalid_streams: get(&self.invalid_streams),
            open_connections: get(&self.open_connections),
            rejected_connections: get(&self.rejected_connections),
            idle_connections_closed: get(&self.idle_connections_closed),
            env_conflicts: get(&self.env_conflicts),
        }
    }
}

pub(crate) struct Shared {
    pub config: ServerConfig,
    pub dims: Dims,
    pub shutdown: AtomicBool,
    /// Set before `shutdown` when the learner has trained to its end: remote actors are told
    /// so ([`TransportError::Finished`](crate::TransportError::Finished)) rather than that
    /// the server went away.
    pub finished: AtomicBool,
    pub counters: Counters,
    /// Ids of clients that disconnected since the batching thread last looked (at most one
    /// entry per client, drained every tick).
    pub disconnected: Mutex<Vec<u64>>,
    next_client: AtomicU64,
}

impl Shared {
    pub fn new(config: ServerConfig, dims: Dims) -> Self {
        Self {
            config,
            dims,
            shutdown: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            counters: Counters::default(),
            disconnected: Mutex::new(Vec::new()),
            next_client: AtomicU64::new(0),
        }
    }

    pub fn is_shut_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Registers a client (in-process clients are the program's own threads: no limit).
    pub fn register_client(self: &Arc<Self>) -> ClientGuard {
        self.counters
            .connected_clients
            .fetch_add(1, Ordering::AcqRel);
        self.guard()
    }

    /// Registers a client unless `limit` clients are connected already.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub fn try_register_client(self: &Arc<Self>, limit: usize) -> Option<ClientGuard> {
        let before = self
            .counters
            .connected_clients
            .fetch_add(1, Ordering::AcqRel);
        if before >= limit as u64 {
            self.counters
                .connected_clients
                .fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(self.guard())
    }

    fn guard(self: &Arc<Self>) -> ClientGuard {
        let life = Arc::new(ClientLife {
            id: self.next_client.fetch_add(1, Ordering::Relaxed),
            alive: AtomicBool::new(true),
        });
        ClientGuard {
            life,
            shared: Arc::clone(self),
        }
    }
}
