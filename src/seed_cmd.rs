//! `eirl seed serve` (the SEED learner with its inference server on a gRPC address) and
//! `eirl seed actor` (a process that only steps environments, connected to it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use eirl_inference_server::{GrpcClient, TransportError};
use eirl_seed_rl::{ActorConfig, SeedError, run_actor, token_from_env};

use crate::train::TrainArgs;

/// Most envs one `eirl seed actor` process steps.
const MAX_ACTOR_ENVS: usize = 1 << 16;

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
    /// Continue the newest run under --out started with the same --env and --seed, if it has a
    /// checkpoint; otherwise start a new run there. For launchers that restart the learner
    /// (Ray, Kubernetes, Slurm): the same command line starts and resumes.
    #[arg(long, conflicts_with = "resume")]
    resume_latest: bool,
    /// Allow a non-loopback --listen address without EIRL_SEED_TOKEN: any host that reaches
    /// the port can then send the learner experience.
    #[arg(long)]
    insecure: bool,
    /// Where central inference and the learner run: cpu, cuda, cuda:N, auto or host (overrides
    /// the config's `device`).
    #[arg(long)]
    device: Option<String>,
}

#[derive(Args)]
pub struct ActorArgs {
    /// The learner's address (`eirl seed serve --listen`).
    #[arg(long)]
    connect: String,
    /// Environments this actor steps (at most 65536).
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
    /// Exit after this many seconds without a served step (the learner unreachable or
    /// refusing). Refusals reconnecting cannot fix (wrong token, wrong env, malformed steps)
    /// exit at once.
    #[arg(long, default_value_t = 60)]
    give_up_after: u64,
    /// Exit with status 0 when the learner says it finished training, instead of waiting for
    /// it to come back (with `--resume` and more steps). For batch jobs whose actors should
    /// end with the learner (Kubernetes Jobs, Slurm steps).
    #[arg(long)]
    exit_when_finished: bool,
}

/// Runs `cmd`; `given` says which `serve` flags were typed (for `--resume`'s conflict checks).
pub fn run(cmd: SeedCommand, given: crate::train::Given) -> Result<()> {
    match cmd {
        SeedCommand::Serve(args) => serve(args, given),
        SeedCommand::Actor(args) => actor(args),
    }
}

fn serve(args: ServeArgs, given: crate::train::Given) -> Result<()> {
    let resume = if args.resume_latest {
        let found = eirl_runlog::RunDir::find_latest(&args.out, "seed", &args.env, args.seed)
            .with_context(|| format!("looking for a run to resume in {}", args.out.display()))?;
        match found {
            Some(run) => {
                tracing::info!("--resume-latest: resuming {}", run.path().display());
                Some(run.path().to_path_buf())
            }
            None => {
                tracing::info!(
                    "--resume-latest: no seed run on {} with seed {} and a checkpoint in {}; starting one",
                    args.env,
                    args.seed,
                    args.out.display()
                );
                None
            }
        }
    } else {
        args.resume
    };
    let mut set = vec![("listen".into(), toml::Value::String(args.listen))];
    if args.insecure {
        set.push(("insecure".into(), toml::Value::Boolean(true)));
    }
    crate::train::run_with(
        TrainArgs {
            algo: "seed".into(),
            env: args.env,
            config: args.config,
            seed: args.seed,
            steps: args.steps,
            out: args.out,
            resume,
            demos: None,
            expert: None,
            actors: Some(args.actors),
            envs_per_actor: None,
            device: args.device,
            set_keys: Vec::new(),
            set,
        },
        given,
    )
}

fn actor(args: ActorArgs) -> Result<()> {
    if !(1..=MAX_ACTOR_ENVS).contains(&args.envs) {
        bail!(
            "--envs {} is outside 1..={MAX_ACTOR_ENVS} (one request carries every env of an actor; \
             run more actor processes instead)",
            args.envs
        );
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
    // The give-up clock runs from the last served step, not from the last connect: a learner
    // that accepts the connection and then refuses every request does not keep it alive.
    let mut last_progress = Instant::now();
    let mut attempt = 0u64;
    loop {
        let served_before = steps.load(Ordering::Relaxed);
        let outcome = GrpcClient::connect_for_env(&args.connect, token.as_deref(), Some(&args.env))
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
                run_actor(&mut client, &cfg, &stop, &steps)
            });
        if steps.load(Ordering::Relaxed) > served_before {
            last_progress = Instant::now();
            backoff = Duration::from_millis(100);
        }
        match outcome {
            Ok(()) => return Ok(()),
            Err(e @ (SeedError::Config(_) | SeedError::Env(_))) => {
                return Err(e).context("the actor cannot run");
            }
            Err(SeedError::Transport(TransportError::Finished)) if args.exit_when_finished => {
                tracing::info!(
                    "actor {actor_id}: the learner at {} finished training; exiting",
                    args.connect
                );
                return Ok(());
            }
            Err(SeedError::Transport(e)) if e.is_final() => {
                return Err(e).with_context(|| {
                    format!("the learner at {} refused this actor", args.connect)
                });
            }
            Err(e) => {
                if last_progress.elapsed() >= Duration::from_secs(args.give_up_after) {
                    return Err(e).with_context(|| {
                        format!(
                            "no step served by the learner at {} for {} s",
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
