//! The SEED RL agent: an inference server serving the learner's latest policy, actors (threads
//! in this process, or processes connecting over gRPC), and the V-trace learner consuming the
//! unrolls the server assembles.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use eirl_agent::{Agent, AgentError, RunSettings, StepInfo, meta};
use eirl_envs::{Actions, Space};
use eirl_inference_server::{InferenceServer, ServerHandle, ServerStats, Unroll};
use eirl_models::{Categorical, Checkpoint};

use crate::actor::{ActorConfig, run_actor};
use crate::learner::Learner;
use crate::policy::{ParamBoard, ServedPolicy};
use crate::{SeedConfig, SeedError};

struct Running {
    server: ServerHandle,
    unrolls: Receiver<Unroll>,
    episodes: Receiver<eirl_inference_server::EpisodeStats>,
    stop: Arc<AtomicBool>,
    actors: Vec<JoinHandle<Result<(), SeedError>>>,
    grpc: Option<SocketAddr>,
}

/// SEED RL on one environment id. Threads start at the first [`Agent::step`] (or
/// [`SeedRl::start`]) and stop when the agent is dropped.
pub struct SeedRl {
    env_id: String,
    cfg: SeedConfig,
    seed: u64,
    learner: Learner,
    board: Arc<ParamBoard>,
    running: Option<Running>,
    /// Transitions the learner has trained on (the SEED paper's env frames).
    env_steps: u64,
    /// Env steps the local actors took (≥ `env_steps`: unrolls in flight).
    actor_steps: Arc<AtomicU64>,
    updates: u64,
    /// `cfg.listen`, parsed once.
    listen: Option<SocketAddr>,
}

/// How long `step` waits for unrolls before checking on the actors again.
const POLL: Duration = Duration::from_millis(200);
/// How often a learner with no experience arriving says so.
const WAITING_NOTICE: Duration = Duration::from_secs(10);

impl SeedRl {
    pub fn new(env_id: &str, cfg: SeedConfig, seed: u64) -> Result<Self, SeedError> {
        cfg.validate()?;
        let env = eirl_envs::make(env_id)?;
        let num_actions = match env.action_space() {
            Space::Discrete(n) => *n,
            other => {
                return Err(SeedError::Config(format!(
                    "the SEED agent acts in discrete action spaces; {env_id} has {other:?}"
                )));
            }
        };
        let listen = cfg
            .listen
            .as_deref()
            .map(|addr| {
                addr.parse::<SocketAddr>()
                    .map_err(|e| SeedError::Config(format!("listen address {addr:?}: {e}")))
            })
            .transpose()?;
        let learner = Learner::new(env.observation_space().dim(), num_actions, &cfg, seed)?;
        Ok(SeedRl {
            env_id: env_id.to_string(),
            cfg,
            seed,
            learner,
            board: Arc::new(ParamBoard::default()),
            running: None,
            env_steps: 0,
            actor_steps: Arc::new(AtomicU64::new(0)),
            updates: 0,
            listen,
        })
    }

    pub fn config(&self) -> &SeedConfig {
        &self.cfg
    }

    /// Env steps taken by this process's actor threads.
    pub fn actor_steps(&self) -> u64 {
        self.actor_steps.load(Ordering::Relaxed)
    }

    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The inference server's counters, once started.
    pub fn server_stats(&self) -> Option<ServerStats> {
        self.running.as_ref().map(|r| r.server.stats())
    }

    /// The gRPC address actually bound (port 0 picks one), once started with `listen`.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.grpc)
    }

    /// Starts the inference server, its gRPC listener (with `listen`) and the actor threads.
    pub fn start(&mut self) -> Result<(), SeedError> {
        if self.running.is_some() {
            return Ok(());
        }
        self.board.publish(self.learner.network());
        let policy = ServedPolicy::on_device(
            self.learner.network().clone(),
            &self.cfg.network,
            self.board.clone(),
            self.seed ^ 0x5eed_0000,
            self.cfg.device,
        )?;
        self.learner.use_device(self.cfg.device)?;
        tracing::info!(
            "central inference on {}, learner updates on {}",
            policy.device_name(),
            self.learner.device_name()
        );
        let server_cfg = eirl_inference_server::ServerConfig {
            env_id: Some(self.env_id.clone()),
            ..self.cfg.server.clone()
        };
        let (server, unrolls, episodes) = InferenceServer::start(policy, server_cfg)?;
        let grpc = match self.listen {
            Some(addr) => {
                let bound = server.serve_grpc(addr)?;
                tracing::info!("inference server listening on {bound}");
                Some(bound)
            }
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let run_id = self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(std::process::id());
        let mut actors = Vec::with_capacity(self.cfg.actors);
        for i in 0..self.cfg.actors {
            let cfg = ActorConfig {
                env_id: self.env_id.clone(),
                num_envs: self.cfg.envs_per_actor,
                first_env_id: (i * self.cfg.envs_per_actor) as u64,
                run_id,
                seed: self
                    .seed
                    .wrapping_mul(1_000_003)
                    .wrapping_add((i * self.cfg.envs_per_actor) as u64),
            };
            let mut client = server.connect();
            let (stop, steps) = (stop.clone(), self.actor_steps.clone());
            let handle = std::thread::Builder::new()
                .name(format!("seed-actor-{i}"))
                .spawn(move || run_actor(&mut client, &cfg, &stop, &steps))
                .map_err(|e| SeedError::Config(format!("cannot start an actor thread: {e}")))?;
            actors.push(handle);
        }
        self.running = Some(Running {
            server,
            unrolls,
            episodes,
            stop,
            actors,
            grpc,
        });
        Ok(())
    }

    /// Waits for `batch_size` unrolls, runs one V-trace update on them and publishes the new
    /// parameters to the inference server.
    fn update(&mut self) -> Result<StepInfo, SeedError> {
        self.start()?;
        // A batch whose update is not finite is skipped (logged and counted by the learner)
        // and the next one is collected: no actor input stops the learner.
        let info = loop {
            let batch = self.collect_batch()?;
            if let Some(info) = self.learner.try_update(&batch)? {
                break info;
            }
        };
        let Some(run) = self.running.as_mut() else {
            return Err(SeedError::NoActors("the agent did not start".into()));
        };
        self.board.publish(self.learner.network());
        self.updates += 1;
        self.env_steps += info.steps as u64;
        let finished = run
            .episodes
            .try_iter()
            .map(|e| eirl_envs::EpisodeStats {
                env: e.env_id as usize,
                episode_return: e.episode_return,
                length: e.length as usize,
            })
            .collect();
        let scalars = vec![
            ("policy_loss", f64::from(info.policy_loss)),
            ("value_loss", f64::from(info.value_loss)),
            ("entropy", f64::from(info.entropy)),
            ("mean_rho", f64::from(info.mean_rho)),
            ("grad_norm", f64::from(info.grad_norm)),
        ];
        let mut totals = vec![
            ("actor_steps", self.actor_steps() as f64),
            ("rejected_unrolls", self.learner.rejected_unrolls() as f64),
            ("skipped_updates", self.learner.skipped_updates() as f64),
        ];
        if let Some(s) = self.server_stats() {
            totals.push(("mean_inference_batch", s.mean_batch_size));
            // Server health over the run (what `cargo xtask soak` follows).
            for (name, value) in [
                ("server_connected_clients", s.connected_clients),
                ("server_active_slots", s.active_slots),
                ("server_open_connections", s.open_connections),
                ("server_expired_slots", s.expired_slots),
                ("server_dropped_partial_unrolls", s.dropped_partial_unrolls),
                ("server_rejected_requests", s.rejected_requests),
                ("server_rejected_streams", s.rejected_streams),
                ("server_invalid_streams", s.invalid_streams),
                ("server_rejected_connections", s.rejected_connections),
                ("server_idle_connections_closed", s.idle_connections_closed),
            ] {
                totals.push((name, value as f64));
            }
        }
        Ok(StepInfo {
            finished,
            scalars,
            totals,
        })
    }

    /// Waits for `batch_size` unrolls that the learner admits.
    fn collect_batch(&mut self) -> Result<Vec<Unroll>, SeedError> {
        let Some(run) = self.running.as_mut() else {
            return Err(SeedError::NoActors("the agent did not start".into()));
        };
        let mut batch = Vec::with_capacity(self.cfg.batch_size);
        let mut waiting_since = Instant::now();
        while batch.len() < self.cfg.batch_size {
            match run.unrolls.recv_timeout(POLL) {
                // Refused unrolls are logged and counted; the batch waits for good ones.
                Ok(u) if self.learner.admit(&u) => batch.push(u),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    check_actors(run, self.cfg.listen.is_some())?;
                    if waiting_since.elapsed() >= WAITING_NOTICE {
                        let s = run.server.stats();
                        tracing::info!(
                            "waiting for experience: {} of {} unrolls; connected_envs={} \
                             connected_clients={} open_connections={}",
                            batch.len(),
                            self.cfg.batch_size,
                            s.connected_envs,
                            s.connected_clients,
                            s.open_connections
                        );
                        waiting_since = Instant::now();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(SeedError::NoActors("the inference server stopped".into()));
                }
            }
        }
        Ok(batch)
    }

    /// Stops the actors and the server and waits for their threads. When the learner has
    /// trained to `total_steps`, remote actors are told that training finished
    /// ([`eirl_inference_server::TransportError::Finished`]).
    pub fn shutdown(&mut self) {
        let finished = self.env_steps >= self.cfg.run_settings().total_steps;
        if let Some(run) = self.running.take() {
            run.stop.store(true, Ordering::Relaxed);
            if finished {
                run.server.finish();
            } else {
                run.server.shutdown();
            }
            for a in run.actors {
                let _ = a.join();
            }
        }
    }
}

impl Agent for SeedRl {
    fn algo(&self) -> &'static str {
        "seed"
    }

    fn env_id(&self) -> &str {
        &self.env_id
    }

    fn settings(&self) -> RunSettings {
        self.cfg.run_settings()
    }

    fn step(&mut self) -> Result<StepInfo, AgentError> {
        Ok(self.update()?)
    }

    /// Transitions the learner has trained on.
    fn steps(&self) -> u64 {
        self.env_steps
    }

    /// Greedy (argmax) actions of the learner's policy for `obs: [n, obs_dim]`.
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError> {
        let na = self.learner.network().num_actions();
        let logits = self.learner.network().logits(obs, n)?;
        Ok(Actions::Discrete(
            logits.chunks(na).map(Categorical::argmax).collect(),
        ))
    }

    /// The learner's parameters and counters.
    fn checkpoint(&self) -> Checkpoint {
        let mut ck = Checkpoint::new();
        ck.insert_params("net", self.learner.network());
        meta::stamp(&mut ck, self.algo(), &self.env_id, self.env_steps);
        ck.set_meta("updates", self.updates.to_string());
        ck
    }

    /// Restores parameters and counters; running actors switch to them at their next batch.
    fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
        let steps = meta::verify(ck, self.algo(), &self.env_id)?;
        let updates = ck.parse_meta("updates")?;
        let mut net = self.learner.network().clone();
        ck.restore_params("net", &mut net)?;
        *self.learner.network_mut() = net;
        self.env_steps = steps;
        self.updates = updates;
        if self.running.is_some() {
            self.board.publish(self.learner.network());
        }
        Ok(())
    }

    /// The inference server's counters, and the learner's.
    fn summary(&self) -> Option<String> {
        self.server_stats().map(|s| {
            format!(
                "inference server: batches_run={} rows_served={} mean_batch={:.1} largest_batch={} \
                 unrolls_emitted={} dropped_partial_unrolls={} connected_clients={} active_slots={} \
                 rejected_requests={} invalid_streams={} rejected_streams={} \
                 rejected_connections={} idle_connections_closed={}\n\
                 learner: rejected_unrolls={} skipped_updates={}",
                s.batches_run,
                s.rows_served,
                s.mean_batch_size,
                s.largest_batch,
                s.unrolls_emitted,
                s.dropped_partial_unrolls,
                s.connected_clients,
                s.active_slots,
                s.rejected_requests,
                s.invalid_streams,
                s.rejected_streams,
                s.rejected_connections,
                s.idle_connections_closed,
                self.learner.rejected_unrolls(),
                self.learner.skipped_updates()
            )
        })
    }
}

impl Drop for SeedRl {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Fails when every local actor has stopped and no remote actor can arrive.
fn check_actors(run: &mut Running, remote: bool) -> Result<(), SeedError> {
    if remote || run.actors.is_empty() || run.actors.iter().any(|a| !a.is_finished()) {
        return Ok(());
    }
    let mut reason = String::from("every actor thread ended");
    for a in run.actors.drain(..) {
        match a.join() {
            Ok(Err(e)) => {
                reason = e.to_string();
                break;
            }
            Err(_) => reason = "an actor thread panicked".into(),
            Ok(Ok(())) => {}
        }
    }
    Err(SeedError::NoActors(reason))
}
