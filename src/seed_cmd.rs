//! `eirl seed serve` (the SEED learner with its inference server on a gRPC address) and
//! `eirl seed actor` (a process that only steps environments, connected to it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use eirl_inference_server::GrpcClient;
use eirl_seed_rl::{ActorConfig, SeedError, run_actor, token_from_env};

use crate::train::TrainArgs;

#[derive(Subcommand)]
pub enum SeedCommand {
    /// Run the learner and its inference server, accepting actors on a gRPC address.
    Serve(ServeArgs),
    /// Run an actor process: step environments for a `seed serve` learner.
    Actor(ActorArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is logged).
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: String,
    /// Actor threads inside the learner process as well (default none).
    #[arg(long, default_value_t = 0)]
    actors: usize,
    /// Environment id (see `eirl envs`).
    #[arg(long, default_value = "CartPole-v1")]
    env: String,
    /// TOML file overriding the built-in preset.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Total environment steps the learner trains on.
    #[arg(long)]
    steps: Option<u64>,
    /// Parent folder of run directories.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Continue the run in this directory from its latest checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
}

#[derive(Args)]
pub struct ActorArgs {
    /// The learner's address (`eirl seed serve --listen`).
    #[arg(long)]
    connect: String,
    /// Environments this actor steps.
    #[arg(long, default_value_t = 4)]
    envs: usize,
    /// Environment id; must be the learner's.
    #[arg(long, default_value = "CartPole-v1")]
    env: String,
    /// Identifies this actor's environments on the server (default: from the process id and
    /// clock); two live actors must not share one.
    #[arg(long)]
    actor_id: Option<u32>,
    /// Seed of the environments (each reconnect continues with fresh seeds).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Exit after failing to reach the learner for this many seconds.
    #[arg(long, default_value_t = 60)]
    give_up_after: u64,
}

pub fn run(cmd: SeedCommand) -> Result<()> {
    match cmd {
        SeedCommand::Serve(args) => serve(args),
        SeedCommand::Actor(args) => actor(args),
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    crate::train::run(TrainArgs {
        algo: "seed".into(),
        env: args.env,
        config: args.config,
        seed: args.seed,
        steps: args.steps,
        out: args.out,
        resume: args.resume,
        demos: None,
        expert: None,
        actors: Some(args.actors),
        envs_per_actor: None,
        set: vec![("listen".into(), toml::Value::String(args.listen))],
    })
}

fn actor(args: ActorArgs) -> Result<()> {
    if args.envs == 0 {
        bail!("--envs must be at least 1");
    }
    eirl_envs::spec(&args.env)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let actor_id = args
        .actor_id
        .map(u64::from)
        .unwrap_or_else(|| (u64::from(std::process::id()) ^ now.rotate_left(17)) & 0xffff_ffff);
    let token = token_from_env();
    let stop = AtomicBool::new(false);
    let steps = AtomicU64::new(0);
    let mut backoff = Duration::from_millis(100);
    let mut failing_since: Option<Instant> = None;
    let mut attempt = 0u64;
    loop {
        let outcome = GrpcClient::connect(&args.connect, token.as_deref())
            .map_err(SeedError::from)
            .and_then(|mut client| {
                let cfg = ActorConfig {
                    env_id: args.env.clone(),
                    num_envs: args.envs,
                    first_env_id: actor_id << 20,
                    // A new run id per connection: the server starts every env's slot afresh.
                    run_id: now.wrapping_add(attempt),
                    seed: args
                        .seed
                        .wrapping_add(attempt.wrapping_mul(args.envs as u64)),
                };
                tracing::info!(
                    "actor {actor_id}: connected to {} with {} envs",
                    args.connect,
                    args.envs
                );
                failing_since = None;
                backoff = Duration::from_millis(100);
                run_actor(&mut client, &cfg, &stop, &steps)
            });
        match outcome {
            Ok(()) => return Ok(()),
            Err(e @ (SeedError::Config(_) | SeedError::Env(_))) => {
                return Err(e).context("the actor cannot run");
            }
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(args.give_up_after) {
                    return Err(e).with_context(|| {
                        format!(
                            "no learner at {} for {} s",
                            args.connect, args.give_up_after
                        )
                    });
                }
                tracing::warn!("actor {actor_id}: {e}; reconnecting in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        attempt += 1;
    }
}
