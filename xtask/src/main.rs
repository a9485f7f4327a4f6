//! `cargo xtask`: orchestration for the eirl workspace (checks, benchmarks, paper reproductions).
//! It shells out to cargo, python and the `eirl` binary; no RL logic lives here.

mod bench;
mod bench_gym;
mod bench_mujoco;
mod bench_peers;
mod bench_scale;
mod ci;
mod cmd;
mod criterion;
mod fuzz;
mod machine;
mod report;
mod repro;
mod repro_causal;
mod repro_seed;
mod repro_steve;
mod repro_svp;
mod repro_svrl;
mod rlax;
mod soak;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "eirl workspace tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// fmt --check, clippy -D warnings, then the README's test command.
    Ci,
    /// Run criterion benches and write BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// Fuzz every decoder (.npz, safetensors, gRPC frames, config TOML) with 10⁶ inputs each.
    Fuzz(fuzz::FuzzArgs),
    /// Reproduce a paper's headline result with the `eirl` binary (list: `repro --help`).
    Repro {
        /// Which reproduction (listed below).
        paper: String,
    },
    /// The SEED learner under actor churn, and training under repeated kill -9 / --resume;
    /// writes docs/results/soak.md.
    Soak(soak::SoakArgs),
}

fn main() -> Result<()> {
    let cli = Cli::command().mut_subcommand("repro", |repro| {
        repro
            .mut_arg("paper", |arg| {
                arg.value_parser(clap::builder::PossibleValuesParser::new(repro::names()))
            })
            .after_help(repro::listing())
    });
    let cli = Cli::from_arg_matches(&cli.get_matches()).unwrap_or_else(|e| e.exit());
    match cli.task {
        Task::Ci => ci::run(),
        Task::Bench(args) => bench::run(&args),
        Task::Fuzz(args) => fuzz::run(&args),
        Task::Repro { paper } => repro::run(&paper),
        Task::Soak(args) => soak::run(&args),
    }
}
