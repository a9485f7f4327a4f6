//! `eirl demo record`: expert demonstrations for imitation learning, from a trained run or a
//! scripted expert, saved as an `.npz` (`--out *.npz`: numpy and the `imitation` library's
//! legacy loader read it) or as a HuggingFace `datasets` folder (any other `--out`: the
//! `imitation` library's current format, `imitation.data.serialize.load`).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use eirl_causal::{StateExpert, rich_mountain_car_start};
use eirl_envs::Policy;
use eirl_imitation::{DemoFormat, random_mean_return, record_from};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::registry;

#[derive(Subcommand)]
pub enum DemoCommand {
    /// Record expert episodes to an .npz file or a datasets folder.
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
    /// Record on a variant of the expert's env instead: `<env>-confounded` (observation plus
    /// the previous action) or `<env>-original` (plus a random action); the expert still sees
    /// the state only.
    #[arg(long)]
    env: Option<String>,
    /// Start states: `default` (the env's reset) or `rich` (MountainCar: position U(-1, 0.5),
    /// velocity 0.07·N(0, 1), the causal-confusion paper's demonstrations).
    #[arg(long, default_value = "default")]
    starts: String,
    /// Episodes to record.
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Episode `i` is reset with seed `seed + i`.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The file to write (`.npz`: eirl's format, which numpy and `imitation`'s legacy loader read).
    /// Where to write: a path ending in `.npz` gets an .npz; any other path a HuggingFace
    /// `datasets` folder (the `imitation` library's format; an existing datasets folder there
    /// is replaced, anything else is refused).
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
    let (expert, expert_env) = registry::expert(&spec)?;
    let (mut expert, env_id) = match &args.env {
        None => (expert, expert_env.clone()),
        Some(id) if *id == expert_env => (expert, expert_env.clone()),
        Some(id) => {
            let base = eirl_envs::spec(id)?.slotted_from().map(|(b, _)| b);
            if base != Some(expert_env.as_str()) {
                bail!(
                    "the expert acts on {expert_env}; --env can be {expert_env}-confounded or \
                     {expert_env}-original, not {id}"
                );
            }
            let state_dim = eirl_envs::make(&expert_env)?.observation_space().dim();
            let obs_dim = eirl_envs::make(id)?.observation_space().dim();
            let wrapped: Box<dyn Policy> = Box::new(StateExpert::new(expert, state_dim, obs_dim)?);
            (wrapped, id.clone())
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed.wrapping_add(0x5747));
    let rich = match args.starts.as_str() {
        "default" => false,
        "rich" if eirl_causal_confusion::RICH_START_ENVS.contains(&expert_env.as_str()) => true,
        "rich" => bail!("--starts rich is MountainCar's start distribution, not {expert_env}'s"),
        other => bail!("unknown --starts {other:?}: default or rich"),
    };
    let mut starts = |_| rich.then(|| rich_mountain_car_start(&mut rng));
    let mut demos = record_from(
        &env_id,
        expert.as_mut(),
        args.episodes,
        args.seed,
        &mut starts,
    )?;
    let random = random_mean_return(&env_id, 100, args.seed.wrapping_add(1_000_000))?;
    demos.set_random_mean_return(Some(random));
    demos.save_as(&args.out, DemoFormat::for_path(&args.out))?;
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
