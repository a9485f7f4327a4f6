//! `eirl`: train, evaluate and inspect RL agents from the command line.
//!
//! ```text
//! eirl train <algo> --env <id> [--config file.toml] [--seed N] [--steps N] [--out runs/] [--resume DIR]
//!            [--demos f.npz] [--expert RUN_DIR|scripted] [--actors N --envs-per-actor M]
//! eirl eval --run <dir> [--episodes N] [--seed N]
//! eirl envs
//! eirl demo record (--run <dir> | --expert <name>) --out demos.npz
//! eirl causal diagnose --env MountainCar-v0 --seed S --out DIR
//! eirl causal intervene --env MountainCar-v0 --mode policy-execution|expert-query --budget N --seed S --out DIR
//! eirl seed serve --listen ADDR [--env <id>] [--steps N] [--resume DIR]
//! eirl seed actor --connect ADDR --envs N
//! eirl toy steve --seed S --out DIR
//! ```

mod causal_cmd;
mod demo;
mod envs_cmd;
mod eval;
mod plan_cmd;
mod registry;
mod seed_cmd;
mod toy_cmd;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "eirl",
    version,
    about = "Efficient & Imitation RL: faithful agents for six papers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an agent; writes runs/<algo>-<env>-<seed>-<time>/.
    Train(train::TrainArgs),
    /// Evaluate a trained run's best checkpoint; the last line is
    /// `mean_return=<x> std_return=<y> episodes=<n>`.
    Eval {
        /// Run directory written by `eirl train`.
        #[arg(long)]
        run: PathBuf,
        #[arg(long, default_value_t = 20)]
        episodes: usize,
        /// Seed of the evaluation environments (env i gets seed + i).
        #[arg(long, default_value_t = 1_000_000)]
        seed: u64,
    },
    /// List environment ids with their observation and action spaces.
    Envs,
    /// Demonstrations for imitation learning.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
    /// Planning: `eirl plan svp` (structured value-based planning).
    #[command(subcommand)]
    Plan(plan_cmd::PlanCommand),
    /// Causal confusion in imitation learning: `eirl causal diagnose | intervene`.
    #[command(subcommand)]
    Causal(causal_cmd::CausalCommand),
    /// SEED RL across processes: a learner serving inference over gRPC, and actors.
    #[command(subcommand)]
    Seed(seed_cmd::SeedCommand),
    /// Toy studies: `eirl toy steve` (the STEVE paper's value-estimation study).
    #[command(subcommand)]
    Toy(toy_cmd::ToyCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Train(args) => {
            let given = matches
                .subcommand_matches("train")
                .map(train::Given::from_matches)
                .unwrap_or_default();
            train::run_with(args, given)
        }
        Command::Eval {
            run,
            episodes,
            seed,
        } => eval::run(&run, episodes, seed),
        Command::Envs => envs_cmd::run(),
        Command::Demo(cmd) => demo::run(cmd),
        Command::Seed(cmd) => {
            let given = matches
                .subcommand_matches("seed")
                .and_then(|m| m.subcommand_matches("serve"))
                .map(train::Given::from_matches)
                .unwrap_or_default();
            seed_cmd::run(cmd, given)
        }
        Command::Plan(cmd) => plan_cmd::run(cmd),
        Command::Causal(cmd) => causal_cmd::run(cmd),
        Command::Toy(cmd) => toy_cmd::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// One line: the error and its causes joined by ": ".
fn format_chain(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}
