//! SEED RL central inference (Espeholt et al. 2020, "SEED RL: Scalable and Efficient Deep-RL
//! with Accelerated Central Inference"), reusable on its own.
//!
//! Actors only step environments and send observations. This server batches the inference
//! requests of all actors through one policy (anything implementing [`BatchPolicy`]: it knows no
//! networks, envs or agents), routes each action back, keeps per-env state (run id, step counter,
//! recurrent state, episode totals) and assembles overlapping [`Unroll`]s for a learner.
//!
//! - **Dynamic batching** ([`batching`]): one thread owns the policy and runs a batch when the
//!   queued rows reach `ceil(batch_fraction × connected envs)`, when the oldest request is
//!   `deadline` old, or at `max_batch` rows. seed_rl's fixed-size batch stalls when an actor
//!   is slow or dies; here nobody waits on a dead or disconnected actor.
//! - **Transports**: [`InProcessClient`] (actor threads, crossbeam channels) and, with the
//!   default feature `grpc`, `GrpcClient` / [`ServerHandle::serve_grpc`] (tonic, one
//!   bidirectional stream per actor, `proto/seed.proto`, optional bearer token, frame-size cap).
//!   Both implement [`Transport`].
//! - **Bounded everywhere**: requests, unrolls and episode statistics travel through bounded
//!   queues; env slots and gRPC streams are capped. A batch is answered only after the unrolls
//!   it completed are in the learner's queue, so a full queue makes the server, and so the
//!   actors, wait for the learner (SEED's back-pressure).
//! - **Per-env slots**: a new run id or a gap in step numbers resets an env's slot, as does a
//!   disconnect or `heartbeat_timeout` of silence (which free it); recurrent state restarts
//!   from zeros at every episode start.
//!
//! ```
//! use eirl_inference_server::{
//!     Action, BatchPolicy, EnvStep, InferBatch, InferOutput, InferenceServer, PolicyError,
//!     ServerConfig, Transport,
//! };
//!
//! /// Action = the observation's first value, rounded; aux = that value.
//! struct Echo;
//! impl BatchPolicy for Echo {
//!     fn obs_dim(&self) -> usize { 2 }
//!     fn aux_dim(&self) -> usize { 1 }
//!     fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError> {
//!         out.clear();
//!         for row in batch.obs.chunks_exact(2) {
//!             out.actions.push(Action::Discrete(row[0] as i64));
//!             out.aux.push(row[0]);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let config = ServerConfig { unroll_len: 2, ..ServerConfig::default() };
//! let (server, unrolls, _episodes) = InferenceServer::start(Echo, config)?;
//! let mut actor = server.connect();
//! for step in 0..3u64 {
//!     let obs = vec![step as f32, 0.0];
//!     let replies = actor.act(&[EnvStep::first(7, 1, step, obs)])?;
//!     assert_eq!(replies[0].action, Action::Discrete(step as i64));
//! }
//! // Three records make the first unroll of T = 2 transitions.
//! let unroll = unrolls.recv()?;
//! assert_eq!((unroll.env_id, unroll.len), (7, 2));
//! assert_eq!(unroll.aux, vec![0.0, 1.0, 2.0]);
//! server.shutdown();
//! assert!(actor.act(&[EnvStep::first(7, 1, 3, vec![3.0, 0.0])]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batcher;
pub mod batching;
mod client;
mod config;
mod error;
#[cfg(feature = "grpc")]
mod grpc;
mod policy;
mod server;
mod shared;
mod slots;
mod types;
mod unroll;
mod validate;

pub use client::{InProcessClient, Transport};
pub use config::ServerConfig;
pub use error::{PolicyError, ServerError, TransportError};
#[cfg(feature = "grpc")]
pub use grpc::{ENV_METADATA, GrpcClient, proto};
pub use policy::{BatchPolicy, InferBatch, InferOutput};
pub use server::{InferenceServer, ServerHandle, ServerStats};
pub use types::{ActReply, Action, EnvStep, EpisodeStats};
pub use unroll::Unroll;
