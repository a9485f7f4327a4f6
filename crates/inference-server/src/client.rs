//! What an actor holds: the [`Transport`] trait and its in-process implementation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use crate::shared::{ClientGuard, Counters, Reply, ReplyTo, Request, Shared};
use crate::validate::{Limits, validate_steps};
use crate::{ActReply, EnvStep, TransportError};

/// How often a blocked in-process actor re-checks for shutdown.
const SHUTDOWN_POLL: Duration = Duration::from_millis(50);

/// What an actor holds, one per actor; implemented by [`InProcessClient`] and (feature `grpc`)
/// `GrpcClient`.
pub trait Transport: Send {
    /// Send one step per env this actor drives; blocks until every reply is back (replies in
    /// request order).
    fn act(&mut self, steps: &[EnvStep]) -> Result<Vec<ActReply>, TransportError>;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn act(&mut self, steps: &[EnvStep]) -> Result<Vec<ActReply>, TransportError> {
        (**self).act(steps)
    }
}

/// An actor in this process, talking to the batching thread over crossbeam channels.
///
/// Dropping it is a disconnect: the slots of every env it drove are freed and their partial
/// unrolls dropped. A malformed request or a policy error fails that call only.
pub struct InProcessClient {
    guard: ClientGuard,
    shared: Arc<Shared>,
    requests: Sender<Request>,
}

impl std::fmt::Debug for InProcessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessClient")
            .field("client_id", &self.guard.life().id)
            .finish_non_exhaustive()
    }
}

impl InProcessClient {
    pub(crate) fn new(shared: Arc<Shared>, requests: Sender<Request>) -> Self {
        let guard = shared.register_client();
        Self {
            guard,
            shared,
            requests,
        }
    }
}

impl Transport for InProcessClient {
    fn act(&mut self, steps: &[EnvStep]) -> Result<Vec<ActReply>, TransportError> {
        if self.shared.is_shut_down() {
            return Err(TransportError::Disconnected);
        }
        if let Err(invalid) = validate_steps(steps, Limits::of(&self.shared)) {
            Counters::add(&self.shared.counters.rejected_requests, 1);
            return Err(TransportError::InvalidRequest(invalid.to_string()));
        }
        let (reply_tx, reply_rx) = crossbeam_channel::bounded::<Reply>(1);
        let request = Request {
            client: Arc::clone(self.guard.life()),
            steps: steps.to_vec(),
            arrived: Instant::now(),
            reply: ReplyTo::Thread(reply_tx),
        };
        // Blocks while the request queue is full (back-pressure); fails once the server is gone.
        self.requests
            .send(request)
            .map_err(|_| TransportError::Disconnected)?;
        loop {
            match reply_rx.recv_timeout(SHUTDOWN_POLL) {
                Ok(reply) => return reply,
                Err(RecvTimeoutError::Disconnected) => return Err(TransportError::Disconnected),
                // A request stranded in the queue at shutdown is never answered: stop waiting.
                Err(RecvTimeoutError::Timeout) if self.shared.is_shut_down() => {
                    return reply_rx
                        .try_recv()
                        .unwrap_or(Err(TransportError::Disconnected));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}
