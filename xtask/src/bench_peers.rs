//! `cargo xtask bench peers`: eirl's DQN and GAIL end to end against Stable-Baselines3 and
//! `imitation`, in the same run, at equal env steps and the same hyperparameters.
//!
//! - DQN, CartPole-v1, 50k steps, rl-baselines3-zoo's preset (`configs/dqn/CartPole-v1.toml`)
//!   against `python/reference/sb3_dqn_cartpole.py` (SB3's DQN with the same preset).
//! - GAIL, CartPole-v1, 100k steps, 4 demonstrations of the scripted balancer (one set, written
//!   by `eirl demo record` as `.npz` for eirl and as a `datasets` folder for imitation), eirl's
//!   GAIL defaults against `python/reference/imitation_gail_cartpole.py` (imitation's GAIL with
//!   sb3-contrib's TRPO set to the same numbers).
//!
//! Training wall-clock excludes evaluation on both sides: eirl reports the seconds its periodic
//! evaluations and checkpoints took (`evaluation Xs of it`), which are subtracted and shown
//! apart; the peers time `learn`/`train` alone. Final scores are each side's deterministic
//! policy on 20 episodes. Python runs with one torch thread per core (torch's default).
//!
//! The peers live in two venvs made by `cargo xtask bench --setup-peers`: `.venv-peers`
//! (PyTorch, Stable-Baselines3) and `.venv-imitation` (imitation, which pins an older SB3 and
//! Gymnasium, on top of `.venv-peers`' PyTorch). `EIRL_PEERS_SEEDS` (default `0 1 2`) picks
//! the seeds.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::{describe, run_streaming};
use crate::machine;
use crate::repro::{build_eirl, parse_done};

/// BENCHMARKS.md keeps this benchmark after this line.
pub const PEERS_MARK: &str = "<!-- peers benchmark -->";

const PEERS_VENV: &str = ".venv-peers";
const IMITATION_VENV: &str = ".venv-imitation";
const DQN_STEPS: u64 = 50_000;
const GAIL_STEPS: u64 = 100_000;
const GAIL_DEMOS: usize = 4;

/// One training run's numbers.
#[derive(Clone, Copy, Debug)]
struct Run {
    train_seconds: f64,
    eval_seconds: f64,
    mean_return: f64,
}

fn venv_python(root: &Path, venv: &str) -> PathBuf {
    root.join(venv).join("bin").join("python")
}

/// `cargo xtask bench --setup-peers`.
pub fn setup(root: &Path) -> Result<()> {
    let peers = root.join(PEERS_VENV);
    run_streaming(Command::new("python3").args(["-m", "venv"]).arg(&peers))
        .context("creating the venv (on Debian: apt-get install python3-venv)")?;
    let pip = |venv: &str| root.join(venv).join("bin").join("pip");
    run_streaming(Command::new(pip(PEERS_VENV)).args(["install", "torch", "stable-baselines3"]))?;
    // imitation pins stable-baselines3 2.2 and Gymnasium 0.29: its own venv, which sees
    // `.venv-peers`' packages (PyTorch) after its own through a .pth file.
    let imitation = root.join(IMITATION_VENV);
    run_streaming(Command::new("python3").args(["-m", "venv"]).arg(&imitation))?;
    let site = |venv: &str| -> Result<PathBuf> {
        let out = Command::new(venv_python(root, venv))
            .args(["-c", "import site; print(site.getsitepackages()[0])"])
            .output()?;
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    };
    let pth = site(IMITATION_VENV)?.join("eirl-peers.pth");
    std::fs::write(&pth, format!("{}\n", site(PEERS_VENV)?.display()))
        .with_context(|| format!("writing {}", pth.display()))?;
    run_streaming(Command::new(pip(IMITATION_VENV)).args([
        "install",
        "imitation",
        "sb3-contrib==2.2.1",
    ]))?;
    eprintln!(
        "==> peers ready in {} and {}",
        peers.display(),
        imitation.display()
    );
    Ok(())
}

/// Training seconds (evaluation apart) from `eirl train`'s `done:` line, and the final
/// evaluation's mean return from its `mean_return=` line.
fn parse_eirl(stdout: &str) -> Option<Run> {
    let done = parse_done(stdout)?;
    let mean = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("mean_return="))?;
    Some(Run {
        train_seconds: done.seconds - done.eval_seconds,
        eval_seconds: done.eval_seconds,
        mean_return: mean.parse().ok()?,
    })
}

fn output_of(cmd: &mut Command) -> Result<String> {
    let what = describe(cmd);
    eprintln!("==> {what}");
    let o = cmd
        .output()
        .with_context(|| format!("could not start `{what}`"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        bail!(
            "`{what}` failed ({}): {}",
            o.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn eirl_run(eirl: &Path, args: &[&str], seed: u64, out: &Path) -> Result<Run> {
    let stdout = output_of(
        Command::new(eirl)
            .arg("train")
            .args(args)
            .args(["--seed", &seed.to_string(), "--out"])
            .arg(out)
            .env("RUST_LOG", "warn"),
    )?;
    parse_eirl(&stdout).with_context(|| format!("unparsed eirl output:\n{stdout}"))
}

fn peer_run(python: &Path, script: &Path, args: &[&str]) -> Result<Run> {
    let stdout = output_of(Command::new(python).arg(script).args(args))?;
    let v: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("no JSON line in:\n{stdout}"))?;
    let get = |k: &str| v[k].as_f64().with_context(|| format!("no {k} in {v}"));
    Ok(Run {
        train_seconds: get("train_seconds")?,
        eval_seconds: get("eval_seconds")?,
        mean_return: get("mean_return")?,
    })
}

/// What `code` prints under `python` (empty when it fails: a note, not a result).
fn python_says(python: &Path, code: &str) -> String {
    Command::new(python)
        .args(["-c", code])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// One table row: mean training seconds, the ratio, evaluation seconds and scores per seed.
fn row(name: &str, peer: &str, eirl: &[Run], other: &[Run]) -> String {
    let t = |r: &[Run]| mean(&r.iter().map(|r| r.train_seconds).collect::<Vec<_>>());
    let e = |r: &[Run]| mean(&r.iter().map(|r| r.eval_seconds).collect::<Vec<_>>());
    let scores = |r: &[Run]| {
        r.iter()
            .map(|r| format!("{:.1}", r.mean_return))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    format!(
        "| {name} | {peer} | {:.1} | {:.1} | **{:.2}×** | {:.1} / {:.1} | {} | {} |\n",
        t(eirl),
        t(other),
        t(other) / t(eirl),
        e(eirl),
        e(other),
        scores(eirl),
        scores(other),
    )
}

pub fn section(root: &Path) -> Result<String> {
    let seeds: Vec<u64> = std::env::var("EIRL_PEERS_SEEDS")
        .ok()
        .map(|s| {
            s.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![0, 1, 2]);
    if seeds.is_empty() {
        bail!("EIRL_PEERS_SEEDS names no seed");
    }
    let (sb3_python, imitation_python) = (
        venv_python(root, PEERS_VENV),
        venv_python(root, IMITATION_VENV),
    );
    for p in [&sb3_python, &imitation_python] {
        if !p.is_file() {
            bail!(
                "{} is missing; run `cargo xtask bench --setup-peers` first",
                p.display()
            );
        }
    }
    let eirl = build_eirl(root)?;
    let work = root.join("target").join("bench-peers");
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;
    let reference = root.join("python").join("reference");

    let (mut dqn_eirl, mut dqn_sb3) = (Vec::new(), Vec::new());
    for &seed in &seeds {
        dqn_eirl.push(eirl_run(
            &eirl,
            &["dqn", "--env", "CartPole-v1"],
            seed,
            &work.join("dqn"),
        )?);
        dqn_sb3.push(peer_run(
            &sb3_python,
            &reference.join("sb3_dqn_cartpole.py"),
            &[
                "--seed",
                &seed.to_string(),
                "--steps",
                &DQN_STEPS.to_string(),
            ],
        )?);
    }

    let npz = work.join("demos.npz");
    let folder = work.join("demos-datasets");
    for out in [&npz, &folder] {
        output_of(
            Command::new(&eirl)
                .args(["demo", "record", "--expert", "cartpole-balancer"])
                .args(["--episodes", &GAIL_DEMOS.to_string(), "--out"])
                .arg(out),
        )?;
    }
    let (npz_s, folder_s) = (npz.display().to_string(), folder.display().to_string());
    let steps = GAIL_STEPS.to_string();
    let (mut gail_eirl, mut gail_imitation) = (Vec::new(), Vec::new());
    for &seed in &seeds {
        gail_eirl.push(eirl_run(
            &eirl,
            &[
                "gail",
                "--env",
                "CartPole-v1",
                "--demos",
                &npz_s,
                "--steps",
                &steps,
            ],
            seed,
            &work.join("gail"),
        )?);
        gail_imitation.push(peer_run(
            &imitation_python,
            &reference.join("imitation_gail_cartpole.py"),
            &[
                "--demos",
                &folder_s,
                "--seed",
                &seed.to_string(),
                "--steps",
                &steps,
            ],
        )?);
    }

    let versions = python_says(
        &imitation_python,
        "import torch, stable_baselines3 as s, imitation as i, sb3_contrib as c; \
         print(f'PyTorch {torch.__version__}, imitation {i.__version__} with \
         stable-baselines3 {s.__version__} and sb3-contrib {c.__version__}')",
    );
    let sb3_version = python_says(
        &sb3_python,
        "import stable_baselines3 as s; print(s.__version__)",
    );
    let m = machine::info();
    let seeds_s: Vec<String> = seeds.iter().map(ToString::to_string).collect();
    let mut md = format!(
        "{PEERS_MARK}\n\n## eirl against Stable-Baselines3 and imitation, end to end\n\n\
         Generated by `cargo xtask bench peers` on {} ({} cores), {}; seeds {}. Stable-Baselines3 \
         {sb3_version} for DQN; {versions} for GAIL. Training seconds exclude evaluation \
         (eirl's periodic evaluations and checkpoints are shown apart; the peers time \
         `learn`/`train` alone); the ratio is the peer's mean over eirl's. Scores: each \
         seed's deterministic policy on 20 episodes. Method: `xtask/src/bench_peers.rs`.\n\n",
        m.cpu,
        m.cores,
        m.date,
        seeds_s.join(", "),
    );
    md.push_str(
        "| run | peer | eirl train s | peer train s | eirl speed-up | eval s (eirl / peer) | eirl scores | peer scores |\n\
         |---|---|---:|---:|---:|---|---|---|\n",
    );
    md.push_str(&row(
        "DQN CartPole-v1 50k, rl-zoo preset",
        "SB3 DQN",
        &dqn_eirl,
        &dqn_sb3,
    ));
    md.push_str(&row(
        "GAIL CartPole-v1 100k, 4 demos (TRPO)",
        "imitation GAIL + sb3-contrib TRPO",
        &gail_eirl,
        &gail_imitation,
    ));
    md.push('\n');
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eirl_output_is_parsed_with_evaluation_apart() {
        let out = "x\ndone: 50000 steps in 12.2s (4098 steps/s); evaluation 0.3s of it; best eval \
                   mean 500.00; run r\nmean_return=500.0000 std_return=0.0000 episodes=20\n";
        let r = parse_eirl(out).expect("parsed");
        assert!((r.train_seconds - 11.9).abs() < 1e-9 && (r.eval_seconds - 0.3).abs() < 1e-12);
        assert!((r.mean_return - 500.0).abs() < 1e-12);
        assert!(parse_eirl("done: 5 steps in 1.0s (5 steps/s); best eval mean 1; run r").is_none());
    }
}
