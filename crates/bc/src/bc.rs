//! [`Bc`]: behavioural cloning, one epoch per step.

use eirl_agent::{Agent, AgentError, ConfigError, RunSettings, ScoreReference, StepInfo, ensure};
use eirl_envs::Actions;
use eirl_imitation::{BcConfig, BcTrainer, Demonstrations};
use eirl_models::{Checkpoint, PolicyNetwork, PolicyNetworkConfig};
use serde::{Deserialize, Serialize};

/// A BC run: the policy architecture, BC's hyperparameters and what to evaluate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BcRunConfig {
    /// Policy MLP (imitation library's default: [32, 32]; eirl default [64, 64] tanh).
    pub network: PolicyNetworkConfig,
    /// BC's hyperparameters; `bc.max_epochs` is the run's length in steps.
    pub bc: BcConfig,
    /// Use only the first `trajectories` expert episodes (all when absent).
    pub trajectories: Option<usize>,
    /// Episodes of the final evaluation.
    pub eval_episodes: usize,
}

impl Default for BcRunConfig {
    fn default() -> Self {
        BcRunConfig {
            network: PolicyNetworkConfig::default(),
            bc: BcConfig::default(),
            trajectories: None,
            eval_episodes: 20,
        }
    }
}

impl BcRunConfig {
    /// One step per epoch; one evaluation, at the end.
    pub fn run_settings(&self) -> RunSettings {
        let epochs = self.bc.max_epochs as u64;
        RunSettings {
            total_steps: epochs,
            eval_interval: epochs.max(1),
            eval_episodes: self.eval_episodes,
        }
    }
}

/// Behavioural cloning of expert demonstrations as an agent: each step is one epoch; the run
/// ends at `bc.max_epochs` or when validation early stopping fires (the best epoch's parameters
/// are then the policy's). Built without demonstrations it only acts (evaluation, `eirl demo
/// record`).
pub struct Bc {
    env_id: String,
    cfg: BcRunConfig,
    policy: PolicyNetwork,
    trainer: Option<BcTrainer>,
    episodes: usize,
    score_reference: Option<ScoreReference>,
}

impl Bc {
    /// The learner for `env_id` (initialised from `seed`), ready to train on `demos` (the
    /// first `trajectories` episodes) when given.
    pub fn new(
        env_id: &str,
        cfg: BcRunConfig,
        demos: Option<Demonstrations>,
        seed: u64,
    ) -> Result<Self, AgentError> {
        cfg.run_settings().validate()?;
        let policy = crate::learner(env_id, &cfg.network, seed)?;
        let mut bc = Bc {
            env_id: env_id.to_string(),
            policy,
            trainer: None,
            episodes: 0,
            score_reference: None,
            cfg,
        };
        if let Some(demos) = demos {
            let demos = match bc.cfg.trajectories {
                Some(k) => {
                    ensure(k >= 1 && k <= demos.num_episodes(), || {
                        format!(
                            "trajectories = {k}, but the file has {} episodes",
                            demos.num_episodes()
                        )
                    })?;
                    demos.first_episodes(k)
                }
                None => demos,
            };
            let (obs, actions) = demos.state_action_pairs();
            let trainer = BcTrainer::new(&bc.policy, obs, actions, &bc.cfg.bc, seed)
                .map_err(AgentError::agent)?;
            bc.episodes = demos.num_episodes();
            bc.score_reference = ScoreReference::from_returns(
                demos.expert_mean_return(),
                demos.random_mean_return(),
            );
            bc.trainer = Some(trainer);
        }
        Ok(bc)
    }

    /// The learner's policy network.
    pub fn policy(&self) -> &PolicyNetwork {
        &self.policy
    }
}

impl Agent for Bc {
    fn algo(&self) -> &'static str {
        "bc"
    }

    fn env_id(&self) -> &str {
        &self.env_id
    }

    fn settings(&self) -> RunSettings {
        self.cfg.run_settings()
    }

    /// One epoch over the expert's state-action pairs.
    fn step(&mut self) -> Result<StepInfo, AgentError> {
        let trainer = self.trainer.as_mut().ok_or_else(|| {
            ConfigError(
                "bc needs --demos <file.npz> to train (record one with `eirl demo record`)".into(),
            )
        })?;
        let epoch = trainer.epoch(&mut self.policy).map_err(AgentError::agent)?;
        let mut scalars = vec![("bc_train_loss", f64::from(epoch.train_loss))];
        if let Some(v) = epoch.validation_nll {
            scalars.push(("bc_validation_nll", f64::from(v)));
        }
        Ok(StepInfo {
            finished: Vec::new(),
            scalars,
            totals: Vec::new(),
        })
    }

    /// Epochs run.
    fn steps(&self) -> u64 {
        self.trainer
            .as_ref()
            .map_or(0, |t| t.report().epochs as u64)
    }

    /// Done when early stopping fired or `max_epochs` ran (always, without demonstrations).
    fn is_done(&self) -> bool {
        self.trainer.as_ref().is_none_or(BcTrainer::is_done)
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
        crate::restore_policy("bc", &self.env_id, &mut self.policy, ck)?;
        Ok(())
    }

    fn score_reference(&self) -> Option<ScoreReference> {
        self.score_reference
    }

    fn summary(&self) -> Option<String> {
        let report = self.trainer.as_ref()?.report();
        Some(format!(
            "bc on {}: {} expert episodes, {} epochs (kept epoch {})",
            self.env_id, self.episodes, report.epochs, report.best_epoch
        ))
    }
}
