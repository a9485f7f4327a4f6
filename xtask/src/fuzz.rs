//! `cargo xtask fuzz`: the long fuzzing run of eirl's decoders. Each target is an ordinary
//! test (a few hundred inputs in the default suite) run here with `EIRL_FUZZ_CASES` inputs
//! (default 10⁶); the summary gives the inputs and the time per decoder, as each test measured
//! them (builds excluded). The test profile is optimised (`opt-level = 2`), so the run shares
//! the artifacts of `cargo test`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::cmd::{cargo, describe};

#[derive(Args)]
pub struct FuzzArgs {
    /// Inputs per decoder.
    #[arg(long, default_value_t = 1_000_000)]
    pub cases: u64,
    /// Only the decoders whose name contains this (e.g. `npz`, `config`).
    #[arg(long)]
    pub only: Option<String>,
}

/// One decoder's fuzz test: its name, package, test target and test name.
struct Target {
    name: &'static str,
    package: &'static str,
    target: &'static [&'static str],
    test: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        name: "npz demonstrations",
        package: "eirl-imitation",
        target: &["--test", "it"],
        test: "fuzz::fuzz_npz",
    },
    Target {
        name: "datasets (Arrow) demonstrations",
        package: "eirl-imitation",
        target: &["--test", "it"],
        test: "interop::fuzz_dataset_stream",
    },
    Target {
        name: "safetensors checkpoint",
        package: "eirl-models",
        target: &["--test", "it"],
        test: "fuzz::fuzz_checkpoint",
    },
    Target {
        name: "gRPC frames",
        package: "eirl-inference-server",
        target: &["--test", "it"],
        test: "fuzz::fuzz_grpc_frames",
    },
    Target {
        name: "config dqn",
        package: "eirl-dqn",
        target: &["--lib"],
        test: "config::fuzz::fuzz_config_toml",
    },
    Target {
        name: "config acer",
        package: "eirl-acer",
        target: &["--lib"],
        test: "config::fuzz::fuzz_config_toml",
    },
    Target {
        name: "config steve",
        package: "eirl-steve",
        target: &["--lib"],
        test: "config::fuzz::fuzz_config_toml",
    },
    Target {
        name: "config gail",
        package: "eirl-gail",
        target: &["--lib"],
        test: "config::fuzz::fuzz_config_toml",
    },
];

pub fn run(args: &FuzzArgs) -> Result<()> {
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| args.only.as_deref().is_none_or(|o| t.name.contains(o)))
        .collect();
    if targets.is_empty() {
        bail!("no fuzz target matches --only {:?}", args.only);
    }
    let mut summary = Vec::new();
    let start = Instant::now();
    for t in &targets {
        let mut cmd = cargo();
        cmd.args(["test", "-p", t.package])
            .args(t.target)
            .args([t.test, "--", "--exact", "--nocapture"])
            .env("EIRL_FUZZ_CASES", args.cases.to_string())
            .stderr(Stdio::piped());
        let what = describe(&cmd);
        eprintln!("==> EIRL_FUZZ_CASES={} {what}", args.cases);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not start `{what}`"))?;
        let mut lines = Vec::new();
        if let Some(stderr) = child.stderr.take() {
            for line in BufReader::new(stderr).lines() {
                let line = line.with_context(|| format!("reading the output of `{what}`"))?;
                eprintln!("{line}");
                if line.starts_with("fuzz ") {
                    lines.push(line);
                }
            }
        }
        let status = child
            .wait()
            .with_context(|| format!("waiting for `{what}`"))?;
        if !status.success() {
            bail!(
                "fuzzing {} failed ({status}): see the failing input above",
                t.name
            );
        }
        summary.push((t.name, lines));
    }
    println!(
        "\nfuzz summary ({} inputs per decoder, {:.0} s in all with builds):",
        args.cases,
        start.elapsed().as_secs_f64()
    );
    for (name, lines) in summary {
        println!("  {name}:");
        for line in lines {
            println!("    {line}");
        }
    }
    Ok(())
}
