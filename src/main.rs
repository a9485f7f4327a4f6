//! `eirl`: train, evaluate and inspect RL agents from the command line.
//!
//! ```text
//! eirl train <algo> --env <id> [--config file.toml] [--seed N] [--steps N] [--out runs/] [--resume DIR]
//!            [--demos f.npz] [--expert RUN_DIR|scripted] [--actors N --envs-per-actor M]
//!            [--set key=value]...
//! eirl eval --run <dir> [--episodes N] [--seed N]
//! eirl export --run <dir> [--checkpoint best|latest] --format torch --out model.safetensors
//! eirl envs
//! eirl demo record (--run <dir> | --expert <name>) --out demos.npz
//! eirl causal diagnose --env MountainCar-v0 --seed S --out DIR
//! eirl causal intervene --env MountainCar-v0 --mode policy-execution|expert-query --budget N --seed S --out DIR
//! eirl seed serve --listen ADDR [--env <id>] [--steps N] [--resume DIR]
//! eirl seed actor --connect ADDR --envs N
//! eirl toy steve --seed S --out DIR
//! eirl config import-zoo hyperparams/dqn.yml MountainCar-v0 [--algo dqn] [--out FILE]
//! eirl plot RUN... [--out plot.png] [--metric eval_mean_return] [--label NAME]...
//! ```

mod causal_cmd;
mod config_cmd;
mod demo;
mod envs_cmd;
mod eval;
mod export_cmd;
mod plan_cmd;
mod plot_cmd;
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
        /// Evaluation episodes.
        #[arg(long, default_value_t = 20)]
        episodes: usize,
        /// Seed of the evaluation environments (env i gets seed + i). The default is held out:
        /// the run's own evaluations, which picked the best checkpoint, used 1,000,000 + i.
        #[arg(long, default_value_t = eirl_runlog::HELD_OUT_EVAL_SEED)]
        seed: u64,
    },
    /// Export a run's network to another framework's layout (`--format torch`: PyTorch's
    /// `[out, in]` weights and `nn.Sequential` names, in safetensors).
    Export(export_cmd::ExportArgs),
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
    /// Presets: `eirl config import-zoo FILE ENV` (an rl-baselines3-zoo entry as an eirl preset).
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Overlay learning curves of runs (seeds of one algo+env as a mean ± std band) into a PNG.
    Plot(plot_cmd::PlotArgs),
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
    let matches = train::with_algorithm_help(Cli::command()).get_matches();
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
        Command::Export(args) => export_cmd::run(args),
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
        Command::Config(cmd) => config_cmd::run(cmd),
        Command::Plot(args) => plot_cmd::run(&args),
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
