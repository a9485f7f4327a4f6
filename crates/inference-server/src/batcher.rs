//! The batching thread: owns the policy and the slot table, forms batches by the rule in
//! [`crate::batching`], runs the policy, routes replies, and hands finished unrolls to the learner.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};

use crate::batching::{batch_ready, until_deadline};
use crate::shared::{ClientLife, Counters, ReplyTo, Request, Shared};
use crate::slots::{Continuity, Removed, SlotTable};
use crate::{ActReply, BatchPolicy, EpisodeStats, InferBatch, InferOutput, TransportError, Unroll};

/// How long a request naming an env another live client drives may wait for that client's
/// disconnect before it is refused.
pub(crate) const CONFLICT_GRACE: Duration = Duration::from_millis(500);
/// Pause of a loop turn that found a batch due but could take nothing (every queued request
/// waits on an env conflict), so the thread does not spin.
const STALL_PAUSE: Duration = Duration::from_micros(200);

/// Longest the thread sleeps with nothing to do, so shutdown, disconnects and heartbeats are
/// noticed promptly.
const IDLE_TICK: Duration = Duration::from_millis(10);
/// Longest one blocked hand-off to the learner waits before re-checking for shutdown.
const UNROLL_RETRY: Duration = Duration::from_millis(20);

pub(crate) struct Batcher<P> {
    policy: P,
    shared: Arc<Shared>,
    requests: Receiver<Request>,
    unrolls: Sender<Unroll>,
    episodes: Sender<EpisodeStats>,
    slots: SlotTable,
    /// Clients seen, by id, to tell whether a slot's owner is still connected.
    clients: HashMap<u64, Weak<ClientLife>>,
    pending: VecDeque<Request>,
    pending_rows: usize,
    last_expiry_scan: Instant,
    // Buffers reused across batches.
    taken: Vec<Request>,
    plans: Vec<Continuity>,
    batch_envs: HashSet<u64>,
    obs: Vec<f32>,
    state: Vec<f32>,
    out: InferOutput,
    finished: Vec<Unroll>,
    answers: Vec<(ReplyTo, Vec<ActReply>)>,
}

impl<P: BatchPolicy> Batcher<P> {
    pub fn new(
        policy: P,
        shared: Arc<Shared>,
        requests: Receiver<Request>,
        unrolls: Sender<Unroll>,
        episodes: Sender<EpisodeStats>,
    ) -> Self {
        let slots = SlotTable::new(shared.config.unroll_len, shared.dims);
        Self {
            policy,
            shared,
            requests,
            unrolls,
            episodes,
            slots,
            clients: HashMap::new(),
            pending: VecDeque::new(),
            pending_rows: 0,
            last_expiry_scan: Instant::now(),
            taken: Vec::new(),
            plans: Vec::new(),
            batch_envs: HashSet::new(),
            obs: Vec::new(),
            state: Vec::new(),
            out: InferOutput::default(),
            finished: Vec::new(),
            answers: Vec::new(),
        }
    }

    pub fn run(mut self) {
        while !self.shared.is_shut_down() {
            self.handle_disconnects();
            self.expire_silent_slots();
            self.receive();
            if self.ready() && self.run_batch() == 0 {
                std::thread::sleep(STALL_PAUSE);
            }
        }
        // Dropping the queued requests drops their reply senders: waiting actors get
        // `Disconnected` at once instead of at their next poll.
        self.pending.clear();
        while self.requests.try_recv().is_ok() {}
    }

    fn ready(&self) -> bool {
        self.pending.front().is_some_and(|oldest| {
            batch_ready(
                self.pending_rows,
                oldest.arrived.elapsed(),
                self.slots.len(),
                &self.shared.config,
            )
        })
    }

    /// Waits for requests (at most until the oldest queued one hits the deadline), then takes
    /// whatever else is queued, up to `request_queue` requests held here.
    fn receive(&mut self) {
        let cap = self.shared.config.request_queue;
        if !self.ready() {
            let wait = self.pending.front().map_or(IDLE_TICK, |oldest| {
                until_deadline(oldest.arrived.elapsed(), self.shared.config.deadline).min(IDLE_TICK)
            });
            if self.pending.len() < cap {
                if let Ok(request) = self.requests.recv_timeout(wait) {
                    self.enqueue(request);
                }
            } else {
                std::thread::sleep(wait);
            }
        }
        while self.pending.len() < cap {
            match self.requests.try_recv() {
                Ok(request) => self.enqueue(request),
                Err(_) => break,
            }
        }
    }

    fn enqueue(&mut self, request: Request) {
        if !request.client.is_alive() {
            return;
        }
        self.clients
            .entry(request.client.id)
            .or_insert_with(|| Arc::downgrade(&request.client));
        let now = Instant::now();
        for step in &request.steps {
            self.slots.touch(step.env_id, now);
        }
        self.pending_rows += request.steps.len();
        self.pending.push_back(request);
    }

    fn handle_disconnects(&mut self) {
        let gone = std::mem::take(&mut *self.shared.disconnected.lock());
        if gone.is_empty() {
            return;
        }
        for client in gone {
            self.clients.remove(&client);
            let removed = self.slots.remove_client(client);
            self.count_removed(removed);
        }
        // Requests of vanished clients would only re-create their slots.
        let before = self.pending.len();
        self.pending.retain(|r| r.client.is_alive());
        if self.pending.len() != before {
            self.pending_rows = self.pending.iter().map(|r| r.steps.len()).sum();
        }
        self.publish_slots();
    }

    fn expire_silent_slots(&mut self) {
        let timeout = self.shared.config.heartbeat_timeout;
        let every = (timeout / 4).max(Duration::from_millis(1));
        let now = Instant::now();
        if now.saturating_duration_since(self.last_expiry_scan) < every {
            return;
        }
        self.last_expiry_scan = now;
        let removed = self.slots.expire(now, timeout);
        if removed.slots > 0 {
            Counters::add(&self.shared.counters.expired_slots, removed.slots as u64);
            self.count_removed(removed);
            self.publish_slots();
        }
    }

    fn count_removed(&self, removed: Removed) {
        Counters::add(
            &self.shared.counters.dropped_partial_unrolls,
            removed.dropped_partials as u64,
        );
    }

    fn publish_slots(&self) {
        self.shared
            .counters
            .active_slots
            .store(self.slots.len() as u64, Ordering::Relaxed);
    }

    /// Takes queued requests in arrival order up to `max_batch` rows. A request naming an env
    /// already in this batch (two clients driving one env) waits for the next batch, so each
    /// env's state advances once per forward.
    fn take_batch(&mut self) -> usize {
        let max_batch = self.shared.config.max_batch;
        let mut rows = 0;
        let mut new_envs = 0;
        self.taken.clear();
        self.batch_envs.clear();
        let mut i = 0;
        while i < self.pending.len() {
            let request = &self.pending[i];
            let n = request.steps.len();
            if rows > 0 && rows + n > max_batch {
                break;
            }
            if request
                .steps
                .iter()
                .any(|s| self.batch_envs.contains(&s.env_id))
            {
                i += 1;
                continue;
            }
            // An env another live client drives: a reconnecting actor whose old connection's
            // disconnect is not processed yet, or two actors with one id. The first clears within
            // a tick; only a conflict that outlasts the grace period is refused.
            let conflict = self.held_by_another(request);
            if conflict.is_some() && request.arrived.elapsed() < CONFLICT_GRACE {
                i += 1;
                continue;
            }
            let Some(request) = self.pending.remove(i) else {
                break;
            };
            self.pending_rows -= n;
            if let Some((env_id, owner)) = conflict {
                Counters::add(&self.shared.counters.rejected_requests, 1);
                Counters::add(&self.shared.counters.env_conflicts, 1);
                request.reply.send(Err(TransportError::Rejected(format!(
                    "env_id {env_id} is driven by another connected actor (client {owner}) for \
                     more than {CONFLICT_GRACE:?}; two actors share an id (e.g. the same \
                     --actor-id)"
                ))));
                continue;
            }
            let adds = request
                .steps
                .iter()
                .filter(|s| !self.slots.contains(s.env_id))
                .count();
            if self.slots.len() + new_envs + adds > self.shared.config.max_envs {
                Counters::add(&self.shared.counters.rejected_requests, 1);
                request.reply.send(Err(TransportError::Rejected(format!(
                    "serving these {adds} new envs would exceed max_envs = {}",
                    self.shared.config.max_envs
                ))));
                continue;
            }
            new_envs += adds;
            self.batch_envs
                .extend(request.steps.iter().map(|s| s.env_id));
            rows += n;
            self.taken.push(request);
        }
        rows
    }

    /// An env of `request` whose slot another, still connected client drives, with that
    /// client's id. (A client that left frees its slots; until its disconnect is processed its
    /// envs count as held, and the newcomer retries.)
    fn held_by_another(&self, request: &Request) -> Option<(u64, u64)> {
        request.steps.iter().find_map(|step| {
            let owner = self.slots.owner(step.env_id)?;
            let alive = self
                .clients
                .get(&owner)
                .and_then(Weak::upgrade)
                .is_some_and(|life| life.is_alive());
            (owner != request.client.id && alive).then_some((step.env_id, owner))
        })
    }

    /// Runs one batch; returns its rows (0: nothing could be taken).
    fn run_batch(&mut self) -> usize {
        let n = self.take_batch();
        if n == 0 {
            return 0;
        }
        let dims = self.shared.dims;

        // Inputs: observations and the state each env's slot feeds.
        self.obs.clear();
        self.state.clear();
        self.plans.clear();
        for request in &self.taken {
            for step in &request.steps {
                let plan = self.slots.continuity(step);
                self.obs.extend_from_slice(&step.obs);
                match self.slots.input_state(step, plan) {
                    Some(state) => self.state.extend_from_slice(state),
                    None => self.state.resize(self.state.len() + dims.state, 0.0),
                }
                self.plans.push(plan);
            }
        }

        if let Err(message) = self.infer(n) {
            Counters::add(&self.shared.counters.policy_errors, 1);
            for request in self.taken.drain(..) {
                request
                    .reply
                    .send(Err(TransportError::Policy(message.clone())));
            }
            return n;
        }

        // Commit each row to its slot; collect each request's answer.
        let now = Instant::now();
        let counters = &self.shared.counters;
        let mut row = 0;
        for request in self.taken.drain(..) {
            let client = request.client.id;
            let mut replies = Vec::with_capacity(request.steps.len());
            for step in request.steps {
                let action = self.out.actions[row].clone();
                let env_id = step.env_id;
                let committed = self.slots.commit(
                    client,
                    step,
                    self.plans[row],
                    action.clone(),
                    &self.out.aux[row * dims.aux..(row + 1) * dims.aux],
                    &self.state[row * dims.state..(row + 1) * dims.state],
                    &self.out.next_state[row * dims.state..(row + 1) * dims.state],
                    now,
                );
                if committed.reset {
                    Counters::add(&counters.slot_resets, 1);
                }
                if committed.dropped_partial {
                    Counters::add(&counters.dropped_partial_unrolls, 1);
                }
                if let Some(episode) = committed.episode {
                    Counters::add(&counters.episodes_completed, 1);
                    if self.episodes.try_send(episode).is_err() {
                        Counters::add(&counters.episode_stats_dropped, 1);
                    }
                }
                self.finished.extend(committed.unroll);
                replies.push(ActReply { env_id, action });
                row += 1;
            }
            self.answers.push((request.reply, replies));
        }
        Counters::add(&counters.batches_run, 1);
        Counters::add(&counters.rows_served, n as u64);
        counters
            .largest_batch
            .fetch_max(n as u64, Ordering::Relaxed);
        self.publish_slots();
        // Unrolls first: when `act` returns, every unroll its step completed is in the
        // learner's queue, and a full queue holds the actors back (SEED's back-pressure).
        self.deliver_unrolls();
        for (reply, replies) in self.answers.drain(..) {
            reply.send(Ok(replies));
        }
        n
    }

    /// Runs the policy on the assembled rows and checks its output's shape. A policy error,
    /// a panic, or output of the wrong shape all become one message for the batch's actors.
    fn infer(&mut self, n: usize) -> Result<(), String> {
        let dims = self.shared.dims;
        self.out.clear();
        let batch = InferBatch {
            obs: &self.obs,
            state: &self.state,
            n,
        };
        let policy = &mut self.policy;
        let out = &mut self.out;
        match catch_unwind(AssertUnwindSafe(|| policy.infer(batch, out))) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(err.to_string()),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".to_owned());
                return Err(format!("the policy panicked: {what}"));
            }
        }
        let shapes = [
            ("actions", self.out.actions.len(), n),
            ("aux", self.out.aux.len(), n * dims.aux),
            ("next_state", self.out.next_state.len(), n * dims.state),
        ];
        for (field, actual, expected) in shapes {
            if actual != expected {
                return Err(format!(
                    "the policy returned {actual} {field} values for {n} rows, expected {expected}"
                ));
            }
        }
        Ok(())
    }

    /// Hands finished unrolls to the learner, waiting while its queue is full (back-pressure:
    /// the actors wait with us, as in SEED) but never past shutdown.
    fn deliver_unrolls(&mut self) {
        let counters = &self.shared.counters;
        for mut unroll in self.finished.drain(..) {
            loop {
                if self.shared.is_shut_down() {
                    Counters::add(&counters.unrolls_discarded, 1);
                    break;
                }
                match self.unrolls.send_timeout(unroll, UNROLL_RETRY) {
                    Ok(()) => {
                        Counters::add(&counters.unrolls_emitted, 1);
                        break;
                    }
                    Err(SendTimeoutError::Timeout(back)) => unroll = back,
                    Err(SendTimeoutError::Disconnected(_)) => {
                        // Nobody is learning from this server; keep acting.
                        Counters::add(&counters.unrolls_discarded, 1);
                        break;
                    }
                }
            }
        }
    }
}
