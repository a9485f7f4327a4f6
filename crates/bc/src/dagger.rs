//! [`DaggerAgent`]: DAgger, one round per step.

use eirl_agent::{Agent, AgentError, ConfigError, RunSettings, ScoreReference, StepInfo, ensure};
use eirl_envs::{Actions, Policy, evaluate};
use eirl_imitation::{Dagger, DaggerConfig, Demonstrations, random_mean_return};
use eirl_models::{Checkpoint, PolicyNetwork, PolicyNetworkConfig};
use eirl_runlog::EVAL_SEED;
use serde::{Deserialize, Serialize};

/// A DAgger run: the learner's architecture, DAgger's schedule and what to evaluate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaggerRunConfig {
    /// Learner policy MLP (as for `bc`).
    pub network: PolicyNetworkConfig,
    /// DAgger's schedule; the run has `dagger.rounds + 1` steps (round 0 is the initial fit).
    pub dagger: DaggerConfig,
    /// Episodes of the final evaluation, and of the expert's own evaluation (for the
    /// normalized score).
    pub eval_episodes: usize,
    /// Episodes of the random policy that anchors the normalized score at 0.
    pub random_episodes: usize,
    /// The expert, as given to `--expert` (a run directory or a scripted expert's name).
    pub expert: Option<String>,
}

impl Default for DaggerRunConfig {
    fn default() -> Self {
        DaggerRunConfig {
            network: PolicyNetworkConfig::default(),
            dagger: DaggerConfig::default(),
            eval_episodes: 20,
            random_episodes: 100,
            expert: None,
        }
    }
}

impl DaggerRunConfig {
    /// One step per round (round 0 included); one evaluation, at the end.
    pub fn run_settings(&self) -> RunSettings {
        let rounds = self.dagger.rounds as u64 + 1;
        RunSettings {
            total_steps: rounds,
            eval_interval: rounds,
            eval_episodes: self.eval_episodes,
        }
    }

    /// Rejects values out of range, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.run_settings().validate()?;
        ensure(self.random_episodes >= 1, || {
            "random_episodes must be at least 1".into()
        })
    }
}

/// DAgger (Ross et al. 2011) as an agent: step 0 fits the learner to the initial
/// demonstrations (or to expert rollouts), step `i` runs round `i`. The expert's and a random
/// policy's mean returns (the normalized score's anchors) are measured once, at the first
/// step. Built without an expert it only acts (evaluation, `eirl demo record`).
pub struct DaggerAgent {
    env_id: String,
    cfg: DaggerRunConfig,
    policy: PolicyNetwork,
    run: Dagger,
    expert: Option<Box<dyn Policy>>,
    score_reference: Option<ScoreReference>,
}

impl DaggerAgent {
    /// The learner for `env_id` (initialised from `seed`), querying `expert`, starting from
    /// `initial` demonstrations when given.
    pub fn new(
        env_id: &str,
        cfg: DaggerRunConfig,
        expert: Option<Box<dyn Policy>>,
        initial: Option<&Demonstrations>,
        seed: u64,
    ) -> Result<Self, AgentError> {
        cfg.validate()?;
        let policy = crate::learner(env_id, &cfg.network, seed)?;
        let run =
            Dagger::new(env_id, cfg.dagger.clone(), initial, seed).map_err(AgentError::agent)?;
        Ok(DaggerAgent {
            env_id: env_id.to_string(),
            cfg,
            policy,
            run,
            expert,
            score_reference: None,
        })
    }

    /// The learner's policy network.
    pub fn policy(&self) -> &PolicyNetwork {
        &self.policy
    }
}

impl Agent for DaggerAgent {
    fn algo(&self) -> &'static str {
        "dagger"
    }

    fn env_id(&self) -> &str {
        &self.env_id
    }

    fn settings(&self) -> RunSettings {
        self.cfg.run_settings()
    }

    /// One DAgger round (round 0 first).
    fn step(&mut self) -> Result<StepInfo, AgentError> {
        let expert = self.expert.as_mut().ok_or_else(|| {
            ConfigError("dagger needs --expert <trained run dir | scripted expert name>".into())
        })?;
        if self.score_reference.is_none() {
            let expert_mean_return = evaluate(
                &self.env_id,
                expert.as_mut(),
                self.cfg.eval_episodes,
                EVAL_SEED,
            )
            .map_err(AgentError::Policy)?
            .mean();
            let random_mean_return = random_mean_return(
                &self.env_id,
                self.cfg.random_episodes,
                EVAL_SEED.wrapping_add(1),
            )
            .map_err(AgentError::agent)?;
            self.score_reference = Some(ScoreReference {
                expert_mean_return,
                random_mean_return,
            });
        }
        let round = self
            .run
            .round(expert.as_mut(), &mut self.policy)
            .map_err(AgentError::agent)?;
        let mut scalars = vec![
            ("dagger_beta", round.beta),
            ("dagger_dataset_size", round.dataset_size as f64),
        ];
        if let Some(r) = round.rollout_return {
            scalars.push(("dagger_rollout_return", r));
        }
        Ok(StepInfo {
            finished: Vec::new(),
            scalars,
            totals: Vec::new(),
        })
    }

    /// Rounds run (round 0 included).
    fn steps(&self) -> u64 {
        self.run.rounds().len() as u64
    }

    fn is_done(&self) -> bool {
        self.run.is_done()
    }

    fn scalar_interval(&self) -> u64 {
        1
    }

    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError> {
        Ok(eirl_imitation::greedy_network_actions(
            &self.policy,
            obs,
            n,
        )?)
    }

    fn checkpoint(&self) -> Checkpoint {
        crate::policy_checkpoint(self.algo(), &self.env_id, self.steps(), &self.policy)
    }

    fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
        crate::restore_policy("dagger", &self.env_id, &mut self.policy, ck)?;
        Ok(())
    }

    fn score_reference(&self) -> Option<ScoreReference> {
        self.score_reference
    }

    fn summary(&self) -> Option<String> {
        let rounds = self.run.rounds();
        let last = rounds.last()?.dataset_size;
        let expert = self.score_reference?.expert_mean_return;
        Some(format!(
            "dagger on {}: {} rounds, {last} expert-labelled states, expert mean return {expert:.2}",
            self.env_id,
            rounds.len().saturating_sub(1),
        ))
    }
}
