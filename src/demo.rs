//! `eirl demo record`: expert demonstrations for imitation learning, from a trained run or a
//! scripted expert, saved as an `.npz` that numpy and the `imitation` library read.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use eirl_envs::BatchActions;
use eirl_imitation::{
    Actions, CartPoleBalancer, ImitationError, MountainCarEnergyPump, Policy, random_mean_return,
    record,
};
use eirl_models::Checkpoint;
use eirl_runlog::RunDir;

use crate::agent::{self, Agent};
use crate::train::{BEST, LATEST};

#[derive(Subcommand)]
pub enum DemoCommand {
    /// Record expert episodes to an .npz file.
    Record(RecordArgs),
}

#[derive(Args)]
pub struct RecordArgs {
    /// A trained run directory whose best checkpoint acts as the expert.
    #[arg(long, conflicts_with = "expert")]
    run: Option<PathBuf>,
    /// A scripted expert instead: `cartpole-balancer` or `mountaincar-pump`.
    #[arg(long)]
    expert: Option<String>,
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Episode `i` is reset with seed `seed + i`.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

/// A trained agent as an imitation expert (its deterministic policy).
struct AgentExpert(Box<dyn Agent>);

impl Policy for AgentExpert {
    fn act(&mut self, obs: &[f32], batch: usize) -> Result<Actions, ImitationError> {
        match self.0.greedy_actions(obs, batch) {
            Ok(BatchActions::Discrete(a)) => Ok(Actions::Discrete(a)),
            Ok(BatchActions::Continuous(values)) => {
                let dim = values.len() / batch.max(1);
                Ok(Actions::Continuous { values, dim })
            }
            Err(e) => Err(ImitationError::Config(format!(
                "expert policy failed: {e:#}"
            ))),
        }
    }
}

/// The agent of a run directory, restored from its best (else latest) checkpoint.
pub fn load_run(dir: &Path) -> Result<(Box<dyn Agent>, String, PathBuf)> {
    let run = RunDir::open(dir).with_context(|| format!("opening run {}", dir.display()))?;
    let info = run.read_run_info()?;
    let mut table: toml::Table = run.read_config()?;
    agent::resolve_demos(&mut table, run.path());
    let mut agent = agent::build(&info.algo, &info.env, &table, info.seed)?;
    let ck_dir = run.checkpoints_dir();
    let path = [BEST, LATEST]
        .iter()
        .map(|n| ck_dir.join(n))
        .find(|p| p.exists())
        .with_context(|| format!("no checkpoint in {}", ck_dir.display()))?;
    agent.restore(&Checkpoint::load(&path)?)?;
    Ok((agent, info.env, path))
}

/// A scripted expert by name, with the environment it solves.
pub fn scripted_expert(name: &str) -> Result<(Box<dyn Policy>, String)> {
    let (policy, env): (Box<dyn Policy>, &str) = match name {
        "cartpole-balancer" => (Box::new(CartPoleBalancer), "CartPole-v1"),
        "mountaincar-pump" => (Box::new(MountainCarEnergyPump), "MountainCar-v0"),
        other => bail!(
            "unknown scripted expert `{other}` (available: cartpole-balancer, mountaincar-pump)"
        ),
    };
    Ok((policy, env.to_string()))
}

/// A trained run's deterministic policy as an expert, with the run's environment id.
pub fn run_expert(dir: &Path) -> Result<(Box<dyn Policy>, String)> {
    let (agent, env, _) = load_run(dir)?;
    Ok((Box::new(AgentExpert(agent)), env))
}

pub fn run(cmd: DemoCommand) -> Result<()> {
    let DemoCommand::Record(args) = cmd;
    if args.episodes == 0 {
        bail!("--episodes must be positive");
    }
    let (mut expert, env_id) = match (&args.run, args.expert.as_deref()) {
        (Some(dir), _) => run_expert(dir)?,
        (None, Some(name)) => scripted_expert(name)?,
        (None, None) => bail!("pass --run <trained run dir> or --expert <scripted expert>"),
    };
    let mut demos = record(&env_id, expert.as_mut(), args.episodes, args.seed)?;
    let random = random_mean_return(&env_id, 100, args.seed.wrapping_add(1_000_000))?;
    demos.set_random_mean_return(Some(random));
    demos.save(&args.out)?;
    println!(
        "recorded {} episodes ({} transitions) of {env_id} to {}: expert mean return {:.2}, random {:.2}",
        demos.num_episodes(),
        demos.num_transitions(),
        args.out.display(),
        demos.mean_return().unwrap_or(f64::NAN),
        random
    );
    Ok(())
}
