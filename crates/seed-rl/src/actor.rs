//! An actor: steps its environments and nothing else. Each step it sends every env's
//! observation (with the reward and flags of the transition that produced it) to the inference
//! server and applies the actions that come back (SEED RL §3).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use eirl_envs::{Space, VecEnv};
use eirl_inference_server::{Action, EnvStep, Transport};

use crate::SeedError;

/// What one actor runs.
#[derive(Clone, Debug)]
pub struct ActorConfig {
    pub env_id: String,
    /// Environments stepped together; env `i` is known to the server as `first_env_id + i`.
    pub num_envs: usize,
    pub first_env_id: u64,
    /// Tags this actor's episodes; a new run id tells the server the actor restarted.
    pub run_id: u64,
    /// Env `i` is seeded with `seed + i`.
    pub seed: u64,
}

/// Steps `cfg.num_envs` environments through `transport` until `stop` is set or the transport
/// fails; adds every env step to `steps`. Returns the transport's error when it fails.
pub fn run_actor(
    transport: &mut dyn Transport,
    cfg: &ActorConfig,
    stop: &AtomicBool,
    steps: &AtomicU64,
) -> Result<(), SeedError> {
    let mut envs = VecEnv::new(&cfg.env_id, cfg.num_envs, cfg.seed)?;
    let num_actions = match envs.action_space() {
        Space::Discrete(n) => *n,
        other => {
            return Err(SeedError::Config(format!(
                "the SEED agent acts in discrete action spaces; {} has {other:?}",
                cfg.env_id
            )));
        }
    };
    let d = envs.obs_dim();
    let n = cfg.num_envs;
    let mut requests: Vec<EnvStep> = envs
        .reset()
        .chunks_exact(d)
        .enumerate()
        .map(|(i, o)| EnvStep::first(cfg.first_env_id + i as u64, cfg.run_id, 0, o.to_vec()))
        .collect();
    let mut actions = vec![0usize; n];
    while !stop.load(Ordering::Relaxed) {
        let replies = transport.act(&requests)?;
        if replies.len() != n {
            return Err(SeedError::Config(format!(
                "the server answered {} of {n} envs",
                replies.len()
            )));
        }
        for (slot, r) in actions.iter_mut().zip(&replies) {
            *slot = match r.action {
                Action::Discrete(a) if (0..num_actions as i64).contains(&a) => a as usize,
                ref other => {
                    return Err(SeedError::Config(format!(
                        "the server sent {other:?} for {} actions",
                        num_actions
                    )));
                }
            };
        }
        let out = envs.step_discrete(&actions)?;
        for (i, req) in requests.iter_mut().enumerate() {
            let row = i * d..(i + 1) * d;
            req.step += 1;
            req.obs.clear();
            req.obs.extend_from_slice(&out.obs[row.clone()]);
            req.reward = out.rewards[i];
            req.terminated = out.terminated[i];
            req.truncated = out.truncated[i];
            req.final_obs =
                (out.terminated[i] || out.truncated[i]).then(|| out.final_obs[row].to_vec());
        }
        steps.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}
