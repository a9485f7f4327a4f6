//! `eirl train bc`: behavioural cloning of a demonstrations file (the baseline every imitation
//! paper reports), and the policy-only agent that `eirl eval` / `eirl demo record` use for it.

use std::path::Path;

use anyhow::{Context, Result, bail};
use eirl_envs::{BatchActions, EvalStats, Space, evaluate_policy};
use eirl_imitation::{BcConfig, Demonstrations, normalized_score, train_bc};
use eirl_models::{Checkpoint, PolicyHead, PolicyNetwork, PolicyNetworkConfig};
use eirl_runlog::{MetricsLogger, RunDir};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, StepReport};
use crate::train::{BEST, LATEST};

/// A BC run: the policy architecture, BC's hyperparameters and what to evaluate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BcRunConfig {
    /// Policy MLP (imitation library's default: [32, 32]; eirl default [64, 64] tanh).
    pub network: PolicyNetworkConfig,
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

fn head_for(env_id: &str) -> Result<(usize, PolicyHead)> {
    let env = eirl_envs::make(env_id)?;
    let obs_dim = env.observation_space().dim();
    let head = match env.action_space() {
        Space::Discrete(n) => PolicyHead::Categorical { num_actions: *n },
        Space::Box(b) => PolicyHead::Gaussian {
            act_dim: b.dim(),
            init_log_std: 0.0,
        },
    };
    Ok((obs_dim, head))
}

/// A trained policy network acting deterministically (argmax / mean).
pub struct PolicyAgent {
    env_id: String,
    policy: PolicyNetwork,
}

impl PolicyAgent {
    pub fn new(env_id: &str, network: &PolicyNetworkConfig, seed: u64) -> Result<Self> {
        let (obs_dim, head) = head_for(env_id)?;
        Ok(PolicyAgent {
            env_id: env_id.to_string(),
            policy: PolicyNetwork::new(obs_dim, head, network, seed)?,
        })
    }

    /// The network, for offline trainers (BC, DAgger).
    pub fn policy_mut(&mut self) -> &mut PolicyNetwork {
        &mut self.policy
    }
}

impl Agent for PolicyAgent {
    fn step(&mut self) -> Result<StepReport> {
        bail!("behavioural cloning trains offline from demonstrations; it has no environment steps")
    }
    fn env_steps(&self) -> u64 {
        0
    }
    fn total_steps(&self) -> u64 {
        0
    }
    fn eval_interval(&self) -> u64 {
        1
    }
    fn eval_episodes(&self) -> usize {
        20
    }
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<EvalStats> {
        evaluate_policy(&self.env_id, episodes, seed, |obs, n| {
            self.greedy_actions(obs, n)
        })
    }
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<BatchActions> {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (discrete, continuous) = self.policy.act(obs, n, true, &mut rng)?;
        Ok(if discrete.is_empty() {
            BatchActions::Continuous(continuous)
        } else {
            BatchActions::Discrete(discrete)
        })
    }
    fn checkpoint(&self) -> Checkpoint {
        let mut ck = Checkpoint::new();
        ck.insert_params("policy", &self.policy);
        ck.set_meta("env_steps", "0");
        ck
    }
    fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        Ok(ck.restore_params("policy", &mut self.policy)?)
    }
}

/// Loads a demonstrations file and checks it was recorded on `env_id`.
pub fn load_demos(path: &Path, env_id: &str) -> Result<Demonstrations> {
    let demos = Demonstrations::load(path)
        .with_context(|| format!("loading demonstrations {}", path.display()))?;
    if demos.env_id() != env_id {
        bail!(
            "{} holds {} demonstrations, not {env_id}",
            path.display(),
            demos.env_id()
        );
    }
    Ok(demos)
}

/// Trains BC on `demos` and writes the run (config, per-epoch metrics, checkpoint, evaluation,
/// loss curves).
pub fn train(
    run: &RunDir,
    env_id: &str,
    table: &toml::Table,
    demos: Demonstrations,
    seed: u64,
) -> Result<()> {
    let cfg: BcRunConfig = table.clone().try_into()?;
    let demos = match cfg.trajectories {
        Some(k) if k == 0 || k > demos.num_episodes() => {
            bail!(
                "trajectories = {k}, but the file has {} episodes",
                demos.num_episodes()
            )
        }
        Some(k) => demos.first_episodes(k),
        None => demos,
    };
    let mut agent = PolicyAgent::new(env_id, &cfg.network, seed)?;
    let (obs, actions) = demos.state_action_pairs();
    let report = train_bc(&mut agent.policy, &obs, &actions, &cfg.bc, seed)?;
    {
        let mut log = MetricsLogger::open(run)?;
        for (epoch, loss) in report.train_loss.iter().enumerate() {
            let mut row = vec![("bc_train_loss", f64::from(*loss))];
            if let Some(v) = report.validation_nll.get(epoch) {
                row.push(("bc_validation_nll", f64::from(*v)));
            }
            log.log_many(epoch as u64 + 1, &row)?;
        }
    }
    finish(
        run,
        &agent,
        "bc",
        demos.expert_mean_return(),
        demos.random_mean_return(),
        cfg.eval_episodes,
        &format!(
            "{} expert episodes, {} epochs (kept epoch {})",
            demos.num_episodes(),
            report.epochs,
            report.best_epoch
        ),
    )
}

/// Ends an offline policy run (BC, DAgger): draws the logged metrics, saves the policy as the
/// best and latest checkpoints (with the expert's and a random policy's mean returns, from which
/// `eirl eval` reports normalized scores), evaluates it and prints the machine-readable line.
pub fn finish(
    run: &RunDir,
    agent: &PolicyAgent,
    algo: &str,
    expert_return: Option<f64>,
    random_return: Option<f64>,
    eval_episodes: usize,
    summary: &str,
) -> Result<()> {
    let env_id = &agent.env_id;
    let rows = eirl_runlog::read_metrics(&run.metrics_path())?;
    let png = run.path().join("learning_curve.png");
    let seed = run.read_run_info()?.seed;
    if let Err(e) = eirl_runlog::plot_learning_curve(
        &rows,
        &png,
        &format!("{algo} on {env_id} (seed {seed})"),
        &[],
    ) {
        tracing::warn!("could not draw {}: {e}", png.display());
    }
    let mut ck = agent.checkpoint();
    if let (Some(e), Some(r)) = (expert_return, random_return) {
        ck.set_meta("expert_mean_return", e.to_string());
        ck.set_meta("random_mean_return", r.to_string());
    }
    ck.save(&run.checkpoints_dir().join(BEST))?;
    ck.save(&run.checkpoints_dir().join(LATEST))?;
    let eval = agent.evaluate(eval_episodes, crate::train::EVAL_SEED)?;
    let score = match (expert_return, random_return) {
        (Some(e), Some(r)) => normalized_score(eval.mean(), r, e)
            .map(|s| format!(" normalized_score={s:.4}"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    println!(
        "{algo} on {env_id}: {summary}; run {}",
        run.path().display()
    );
    println!(
        "mean_return={:.4} std_return={:.4} episodes={}{score}",
        eval.mean(),
        eval.std(),
        eval.returns.len()
    );
    Ok(())
}
