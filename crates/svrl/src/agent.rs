//! The SV-RL agent: a [`Dqn`] whose target computation goes through [`TargetCompletion`].

use std::cell::RefCell;
use std::rc::Rc;

use eirl_agent::{Agent, AgentError, RunSettings, StepInfo, meta};
use eirl_dqn::Dqn;
use eirl_envs::Actions;
use eirl_models::Checkpoint;

use crate::config::SvRlConfig;
use crate::target::{Shared, TargetCompletion, TargetStats};

/// The registry name, written into checkpoints and run directories.
pub const ALGO: &str = "svrl";

/// Salt of the mask RNG's seed, so masks and DQN's own sampling draw from different streams.
const MASK_SEED_SALT: u64 = 0x5356_2d52_4c4d_534b; // "SV-RLMSK"

/// SV-RL (Yang et al. 2020, Algorithm 1): DQN with the target network's next-state Q matrix
/// masked and re-estimated by matrix estimation at every gradient step. Everything else is
/// [`Dqn`]'s; this type only installs the [`TargetCompletion`] and reports its statistics.
pub struct SvRl {
    dqn: Dqn,
    cfg: SvRlConfig,
    shared: Rc<RefCell<Shared>>,
}

impl SvRl {
    /// DQN on `env_id` from `cfg.dqn` and `seed`, with masks drawn from a stream derived from
    /// `seed` (same seed, same masks).
    pub fn new(env_id: &str, cfg: SvRlConfig, seed: u64) -> Result<Self, AgentError> {
        cfg.validate()?;
        let mut dqn = Dqn::new(env_id, cfg.dqn.clone(), seed)?;
        let shared = Rc::new(RefCell::new(Shared::default()));
        dqn.set_next_q_transform(Box::new(TargetCompletion::with_shared(
            cfg.svrl.schedule(),
            cfg.svrl.estimator.estimator(),
            seed ^ MASK_SEED_SALT,
            Rc::clone(&shared),
        )));
        Ok(SvRl { dqn, cfg, shared })
    }

    pub fn config(&self) -> &SvRlConfig {
        &self.cfg
    }

    /// The DQN underneath.
    pub fn dqn(&self) -> &Dqn {
        &self.dqn
    }

    /// The target-completion statistics since the agent was built (or restored).
    pub fn stats(&self) -> TargetStats {
        self.shared.borrow().total
    }

    /// p of the next gradient step.
    pub fn mask_p(&self) -> f64 {
        self.cfg.svrl.schedule().p(self.shared.borrow().updates + 1)
    }
}

impl Agent for SvRl {
    fn algo(&self) -> &'static str {
        ALGO
    }

    fn env_id(&self) -> &str {
        self.dqn.env_id()
    }

    fn settings(&self) -> RunSettings {
        self.dqn.settings()
    }

    /// DQN's step; when it trained, its scalars plus SV-RL's means since the last logged row
    /// (`mask_p`, `estimate_rank`, `estimate_iterations`, `reestimated_fraction`,
    /// `target_rank`, see
    /// [`TargetStats::scalars`]). The means restart whenever the run loop logs (a step that
    /// trained and crossed a multiple of [`Agent::scalar_interval`]).
    fn step(&mut self) -> Result<StepInfo, AgentError> {
        let before = self.dqn.steps();
        let mut info = self.dqn.step()?;
        if info.trained() {
            let interval = self.scalar_interval().max(1);
            let mut shared = self.shared.borrow_mut();
            if let Some(s) = shared.interval.scalars() {
                info.scalars.extend(s);
            }
            if before / interval != self.dqn.steps() / interval {
                shared.interval = TargetStats::default();
            }
        }
        Ok(info)
    }

    fn steps(&self) -> u64 {
        self.dqn.steps()
    }

    fn scalar_interval(&self) -> u64 {
        self.dqn.scalar_interval()
    }

    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError> {
        self.dqn.greedy_actions(obs, n)
    }

    /// DQN's checkpoint, stamped `svrl`. The mask RNG is not saved: a resumed run draws other
    /// masks than an uninterrupted one would (the p schedule does resume, from DQN's update
    /// count).
    fn checkpoint(&self) -> Checkpoint {
        let mut ck = self.dqn.checkpoint();
        meta::stamp(&mut ck, ALGO, self.dqn.env_id(), self.dqn.steps());
        ck
    }

    /// Restores an SV-RL checkpoint (not a plain DQN one) through DQN.
    fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
        meta::verify(ck, ALGO, self.dqn.env_id())?;
        let mut inner = ck.clone();
        inner.set_meta(meta::ALGO_KEY, self.dqn.algo());
        self.dqn.restore(&inner)?;
        let mut shared = self.shared.borrow_mut();
        shared.updates = self.dqn.updates();
        shared.interval = TargetStats::default();
        Ok(())
    }

    fn summary(&self) -> Option<String> {
        let t = self.stats();
        let [(_, p), (_, rank), (_, iters), (_, frac), (_, target_rank)] = t.scalars()?;
        Some(format!(
            "SV-RL over {} gradient steps: mean p {p:.4}, target rank (99% energy) \
             {target_rank:.2}, completion rank {rank:.2}, {iters:.1} estimator iterations, \
             {:.1}% of target entries re-estimated",
            t.updates,
            100.0 * frac
        ))
    }
}
