//! Behavioural cloning and DAgger as eirl agents: the imitation baselines that GAIL (Ho & Ermon
//! 2016) and causal confusion in imitation learning (de Haan et al. 2019) compare against.
//!
//! Thin agents over `eirl-imitation`: [`Bc`] runs one epoch of [`eirl_imitation::BcTrainer`]
//! per step (maximum likelihood of the expert's actions, validation early stopping);
//! [`DaggerAgent`] runs one round of [`eirl_imitation::Dagger`] per step (Ross et al. 2011:
//! roll out the β-mixture of expert and learner, have the expert label every visited state,
//! aggregate, refit). Both act with the learner's deterministic policy and report normalized
//! scores (random 0, expert 1).
//!
//! ```
//! use eirl_agent::Agent;
//! use eirl_bc::{Bc, BcRunConfig};
//! use eirl_imitation::{CartPoleBalancer, record};
//!
//! let demos = record("CartPole-v1", &mut CartPoleBalancer, 2, 0)?;
//! let mut cfg = BcRunConfig::default();
//! cfg.bc.max_epochs = 5;
//! let mut agent = Bc::new("CartPole-v1", cfg, Some(demos), 0)?;
//! while !agent.is_done() {
//!     let epoch = agent.step()?; // one pass over the expert's pairs
//!     assert!(epoch.scalar("bc_train_loss").is_some_and(f64::is_finite));
//! }
//! assert!(agent.steps() <= 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bc;
mod dagger;

pub use bc::{Bc, BcRunConfig};
pub use dagger::{DaggerAgent, DaggerRunConfig};

use eirl_agent::{Agent, AgentError, Algorithm, Build, Input, defaults_of};
use eirl_imitation::Demonstrations;

/// Behavioural cloning's entry in the algorithm registry (`eirl train bc --demos f.npz`).
pub static BC: Algorithm = Algorithm {
    name: "bc",
    about: "behavioural cloning of expert demonstrations (one epoch per step, early stopping)",
    defaults: defaults_of::<BcRunConfig>,
    build: build_bc,
    demos: Input::Required,
    expert: Input::Unused,
    resumable: false,
};

/// DAgger's entry in the algorithm registry (`eirl train dagger --expert …`).
pub static DAGGER: Algorithm = Algorithm {
    name: "dagger",
    about: "DAgger: expert relabelling of the learner's own states (one round per step)",
    defaults: defaults_of::<DaggerRunConfig>,
    build: build_dagger,
    demos: Input::Optional,
    expert: Input::Required,
    resumable: false,
};

fn load_demos(b: &Build<'_>) -> Result<Option<Demonstrations>, AgentError> {
    b.demos
        .map(|p| Demonstrations::load_for(p, b.env_id).map_err(AgentError::agent))
        .transpose()
}

fn build_bc(b: Build<'_>) -> Result<Box<dyn Agent>, AgentError> {
    let cfg = b.config()?;
    let demos = load_demos(&b)?;
    Ok(Box::new(Bc::new(b.env_id, cfg, demos, b.seed)?))
}

fn build_dagger(b: Build<'_>) -> Result<Box<dyn Agent>, AgentError> {
    let cfg = b.config()?;
    let demos = load_demos(&b)?;
    Ok(Box::new(DaggerAgent::new(
        b.env_id,
        cfg,
        b.expert,
        demos.as_ref(),
        b.seed,
    )?))
}

/// The learner's policy network for `env_id`'s action space.
fn learner(
    env_id: &str,
    network: &eirl_models::PolicyNetworkConfig,
    seed: u64,
) -> Result<eirl_models::PolicyNetwork, AgentError> {
    let env = eirl_envs::make(env_id)?;
    Ok(eirl_models::PolicyNetwork::new(
        env.observation_space().dim(),
        eirl_imitation::policy_head(env.action_space()),
        network,
        seed,
    )?)
}

/// Checkpoint of a learner policy: its parameters under `policy` and the common metadata.
fn policy_checkpoint(
    algo: &str,
    env_id: &str,
    steps: u64,
    policy: &eirl_models::PolicyNetwork,
) -> eirl_models::Checkpoint {
    let mut ck = eirl_models::Checkpoint::new();
    ck.insert_params("policy", policy);
    eirl_agent::meta::stamp(&mut ck, algo, env_id, steps);
    ck
}

/// Restores a learner policy from [`policy_checkpoint`]'s output (or from a checkpoint written
/// before eirl stamped the algorithm and env, which holds the same `policy` tensors); returns
/// its step count.
fn restore_policy(
    algo: &str,
    env_id: &str,
    policy: &mut eirl_models::PolicyNetwork,
    ck: &eirl_models::Checkpoint,
) -> Result<u64, AgentError> {
    let steps = eirl_agent::meta::verify(ck, algo, env_id)?;
    ck.restore_params("policy", policy)?;
    Ok(steps)
}
