//! `eirl demo record`: expert demonstrations for imitation learning, from a trained run or a
//! scripted expert, saved as an `.npz` that numpy and the `imitation` library read.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use eirl_imitation::{random_mean_return, record};

use crate::registry;

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

pub fn run(cmd: DemoCommand) -> Result<()> {
    let DemoCommand::Record(args) = cmd;
    if args.episodes == 0 {
        bail!("--episodes must be positive");
    }
    let spec = match (&args.run, args.expert.as_deref()) {
        (Some(dir), _) => dir.display().to_string(),
        (None, Some(name)) => name.to_string(),
        (None, None) => bail!("pass --run <trained run dir> or --expert <scripted expert>"),
    };
    if let Some(dir) = &args.run
        && !dir.is_dir()
    {
        bail!("{} is not a run directory", dir.display());
    }
    let (mut expert, env_id) = registry::expert(&spec)?;
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
