//! The metadata every agent checkpoint carries, written and checked in one place.

use eirl_models::Checkpoint;

use crate::agent::AgentError;

/// Metadata keys of agent checkpoints.
pub const ALGO_KEY: &str = "algo";
pub const ENV_ID_KEY: &str = "env_id";
pub const STEPS_KEY: &str = "env_steps";

/// Writes the algorithm, env id and step count into `ck`.
pub fn stamp(ck: &mut Checkpoint, algo: &str, env_id: &str, steps: u64) {
    ck.set_meta(ALGO_KEY, algo);
    ck.set_meta(ENV_ID_KEY, env_id);
    ck.set_meta(STEPS_KEY, steps.to_string());
}

/// Checks that `ck` belongs to `algo` on `env_id` and returns its step count. Checkpoints
/// written before eirl recorded the algorithm or env (SEED's, BC's) carry neither: they are
/// accepted on their tensors, which the agent still checks shape by shape.
pub fn verify(ck: &Checkpoint, algo: &str, env_id: &str) -> Result<u64, AgentError> {
    if let Some(a) = ck.meta(ALGO_KEY)
        && a != algo
    {
        return Err(AgentError::Checkpoint(format!(
            "it was written by {a}, this agent is {algo}"
        )));
    }
    if let Some(id) = ck.meta(ENV_ID_KEY)
        && id != env_id
    {
        return Err(AgentError::Checkpoint(format!(
            "it is for {id}, this agent for {env_id}"
        )));
    }
    Ok(ck.parse_meta(STEPS_KEY)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_checkpoints_verify_and_strangers_are_refused() -> Result<(), AgentError> {
        let mut ck = Checkpoint::new();
        stamp(&mut ck, "dqn", "CartPole-v1", 1234);
        assert_eq!(verify(&ck, "dqn", "CartPole-v1")?, 1234);
        let msg = |r: Result<u64, AgentError>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg(verify(&ck, "acer", "CartPole-v1")).contains("written by dqn"));
        assert!(msg(verify(&ck, "dqn", "Acrobot-v1")).contains("for CartPole-v1"));
        // An older checkpoint without algo / env id still loads; one without steps does not.
        let mut old = Checkpoint::new();
        old.set_meta(STEPS_KEY, "7");
        assert_eq!(verify(&old, "seed", "CartPole-v1")?, 7);
        assert!(msg(verify(&Checkpoint::new(), "seed", "CartPole-v1")).contains("env_steps"));
        Ok(())
    }
}
