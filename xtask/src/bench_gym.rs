//! `cargo xtask bench gym`: what running an env in Python through the `gym:` bridge costs.
//!
//! Two measurements, eirl's own CartPole-v1 against Gymnasium's (`gym:CartPole-v1`):
//! - env steps/s through `VecEnv` with 1 and 16 envs: the `cartpole_native_vs_gym` criterion
//!   group of `crates/envs/benches/vec_env.rs` (random actions, auto-reset included);
//! - whole `eirl train dqn` runs, same config both ways: the shipped CartPole-v1 preset (its
//!   updates dominate) and a light variant (one small update every 4 steps: the env dominates).
//!   Evaluation is switched off (one final episode) so that both runs do the same work.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, describe, run_streaming, succeeds};
use crate::criterion::{self, BenchResult};
use crate::machine;
use crate::repro::parse_done;

/// BENCHMARKS.md keeps the gym bridge benchmark after this line.
pub const GYM_MARK: &str = "<!-- gym bridge benchmark -->";

const GROUP: &str = "cartpole_native_vs_gym";

/// `EIRL_PYTHON`, else the repository's `.venv-py`, else `python3`: the interpreter the bench
/// and the runs use (passed on as `EIRL_PYTHON`).
pub(crate) fn python(root: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os("EIRL_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = root.join(".venv-py/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// The Python side's versions, or why it cannot run the bridge.
fn versions(python: &Path) -> Result<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, numpy, gymnasium; print(f'Python {sys.version.split()[0]}, \
             Gymnasium {gymnasium.__version__}, NumPy {numpy.__version__}')",
        ])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} cannot import gymnasium ({}); create the venv with `python3 -m venv .venv-py && \
             .venv-py/bin/pip install -r python/requirements.txt` or set EIRL_PYTHON",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Steps/s of a plain Python loop over Gymnasium's CartPole-v1 (random actions, reset on
/// episode end) with 1 and 16 envs: what Gymnasium itself costs, without the bridge.
const PYTHON_LOOP: &str = "
import time, gymnasium as gym, numpy as np
rng = np.random.default_rng(1)
for n in (1, 16):
    envs = [gym.make('CartPole-v1') for _ in range(n)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 3:
        for e, a in zip(envs, rng.integers(0, 2, n).tolist()):
            _, _, term, trunc, _ = e.step(a)
            steps += 1
            if term or trunc:
                e.reset()
    print(steps / (time.perf_counter() - start))
";

fn python_loop(python: &Path) -> Result<Vec<f64>> {
    let out = Command::new(python)
        .args(["-c", PYTHON_LOOP])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "the plain Gymnasium loop failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.trim()
                .parse::<f64>()
                .context("parsing the Gymnasium loop's rate")
        })
        .collect()
}

/// `text` (a TOML config) with each `key = …` line replaced by `key = value`.
fn with_keys(text: &str, keys: &[(&str, &str)]) -> String {
    text.lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or("").trim();
            match keys.iter().find(|(k, _)| *k == key) {
                Some((k, v)) if line.contains('=') => format!("{k} = {v}"),
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `eirl train dqn` run; `(seconds, steps/s)`.
fn train(
    eirl: &Path,
    python: &Path,
    env: &str,
    config: &Path,
    steps: u64,
    out: &Path,
) -> Result<(f64, f64)> {
    let mut cmd = Command::new(eirl);
    cmd.args(["train", "dqn", "--env", env, "--seed", "0", "--steps"])
        .arg(steps.to_string())
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out)
        .env("EIRL_PYTHON", python)
        .env("RUST_LOG", "warn");
    let what = describe(&cmd);
    eprintln!("==> {what}");
    let o = cmd
        .output()
        .with_context(|| format!("could not start `{what}`"))?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        bail!(
            "`{what}` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    parse_done(&stdout)
        .map(|d| (d.seconds, d.rate))
        .with_context(|| format!("no `done:` line from `{what}`:\n{stdout}"))
}

fn rate(r: Option<&BenchResult>) -> Option<f64> {
    r.and_then(BenchResult::per_second).map(|(v, _)| v)
}

pub(crate) fn steps_per_s(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 1e6 => format!("{:.2} M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1} K", v / 1e3),
        Some(v) => format!("{v:.0}"),
    }
}

/// Runs `filter` of `crates/envs/benches/vec_env.rs` (criterion, with `criterion_args`; `gym:`
/// envs on `python`) and returns the results of criterion group `group`.
pub(crate) fn vec_env_bench(
    target_dir: &Path,
    group: &str,
    filter: &str,
    criterion_args: &[&str],
    python: &Path,
) -> Result<Vec<BenchResult>> {
    let started = SystemTime::now();
    let mut bench = cargo();
    bench
        .args([
            "bench",
            "-p",
            "eirl-envs",
            "--bench",
            "vec_env",
            "--",
            filter,
        ])
        .args(criterion_args)
        .env("EIRL_PYTHON", python);
    run_streaming(&mut bench).with_context(|| format!("the {filter} env benchmark failed"))?;
    collect_group(target_dir, group, started)
}

/// The criterion results of `group` written since `since`.
fn collect_group(target_dir: &Path, group: &str, since: SystemTime) -> Result<Vec<BenchResult>> {
    Ok(
        criterion::collect(&target_dir.join("criterion"), Some(since))?
            .into_iter()
            .filter(|r| r.group == group)
            .collect(),
    )
}

/// Runs both measurements and returns the markdown section.
pub fn section(root: &Path, target_dir: &Path, criterion_args: &[&str]) -> Result<String> {
    let py = python(root);
    let py_versions = versions(&py)?;

    eprintln!("==> a plain Python loop over Gymnasium's CartPole-v1");
    let plain = python_loop(&py)?;
    let results = vec_env_bench(target_dir, GROUP, GROUP, criterion_args, &py)?;
    let find = |results: &[BenchResult], kind: &str, n: usize| {
        rate(
            results
                .iter()
                .find(|r| r.full_id == format!("{GROUP}/{kind}/{n}")),
        )
    };
    // The same gym: rows with eirl and Python pinned to one CPU (`taskset -c 0`), when taskset
    // exists: a round trip then needs no wake-up of an idle CPU.
    let pinned = if succeeds(Command::new("taskset").args(["-c", "0", "true"])) {
        let started = SystemTime::now();
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0"])
            .arg(cargo().get_program())
            .current_dir(root)
            .args(["bench", "-p", "eirl-envs", "--bench", "vec_env", "--"])
            .arg(format!("{GROUP}/gym"))
            .args(criterion_args)
            .env("EIRL_PYTHON", &py);
        run_streaming(&mut cmd).context("the pinned gym env benchmark failed")?;
        Some(collect_group(target_dir, GROUP, started)?)
    } else {
        eprintln!("==> no taskset: skipping the one-CPU gym rows");
        None
    };

    run_streaming(cargo().args(["build", "--release", "--bin", "eirl"]))
        .context("building the eirl binary failed")?;
    let eirl = target_dir.join("release/eirl");
    let work = target_dir.join("gym-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let preset_path = root.join("configs/dqn/CartPole-v1.toml");
    let preset = std::fs::read_to_string(&preset_path)
        .with_context(|| format!("reading {}", preset_path.display()))?;
    // Evaluation off (one final episode), so both runs do the same work.
    let preset = with_keys(
        &preset,
        &[("eval_interval", "1000000"), ("eval_episodes", "1")],
    );
    let light = with_keys(
        &preset,
        &[
            ("train_freq", "4"),
            ("gradient_steps", "1"),
            ("batch_size", "16"),
            ("hidden", "[16]"),
        ],
    );
    let configs = [
        (
            "shipped preset ([256, 256], 128 updates every 256 steps)",
            preset,
            5_000u64,
        ),
        (
            "light (hidden [16], 1 update of 16 every 4 steps)",
            light,
            50_000,
        ),
    ];
    let mut dqn = String::from(
        "| DQN config | steps | eirl CartPole-v1 | gym:CartPole-v1 | gym run time / eirl |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for (k, (name, text, steps)) in configs.iter().enumerate() {
        let config = work.join(format!("dqn-{k}.toml"));
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let runs = work.join("runs");
        let (native_s, native_rate) = train(&eirl, &py, "CartPole-v1", &config, *steps, &runs)?;
        let (gym_s, gym_rate) = train(&eirl, &py, "gym:CartPole-v1", &config, *steps, &runs)?;
        let _ = writeln!(
            dqn,
            "| {name} | {steps} | {native_s:.2} s ({native_rate:.0} steps/s) | {gym_s:.2} s \
             ({gym_rate:.0} steps/s) | {:.2}× |",
            gym_s / native_s.max(1e-9)
        );
    }
    let _ = std::fs::remove_dir_all(&work);

    let mut envs = String::from(
        "| envs | eirl CartPole-v1 | gym:CartPole-v1 | eirl / gym | gym:CartPole-v1, one CPU \
         | plain Python loop over Gymnasium |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for (k, n) in [1, 16].into_iter().enumerate() {
        let (native, gym) = (find(&results, "native", n), find(&results, "gym", n));
        let ratio = match (native, gym) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.0}×", a / b),
            _ => "—".into(),
        };
        let one_cpu = pinned.as_deref().and_then(|p| find(p, "gym", n));
        let _ = writeln!(
            envs,
            "| {n} | {} | {} | {ratio} | {} | {} |",
            steps_per_s(native),
            steps_per_s(gym),
            steps_per_s(one_cpu),
            steps_per_s(plain.get(k).copied())
        );
    }

    let m = machine::info();
    Ok(format!(
        "{GYM_MARK}\n\n## gym: envs: eirl's CartPole-v1 against Gymnasium's through the Python \
         bridge\n\n\
         Generated by `cargo xtask bench gym` on {} ({} cores), {}; {py_versions}. `gym:<id>` \
         runs Gymnasium in a Python child process (`crates/envs/src/gym.rs`): one process per \
         `VecEnv`, one round trip of binary frames over its stdin/stdout per batch step, the \
         same-step auto-reset done in Python within it.\n\n\
         ### Env steps/s through `VecEnv`\n\n\
         Criterion group `{GROUP}` of `crates/envs/benches/vec_env.rs` (random actions, \
         auto-reset included; criterion's mean). A step of one env is latency-bound: eirl \
         writes a frame and waits, Python wakes, steps, answers and waits. On a VM an idle \
         CPU's wake-up dominates that round trip; the last column reruns the gym: rows with \
         eirl and Python pinned to one CPU (`taskset -c 0`), where it is a plain context \
         switch. The last column is Gymnasium alone: a Python loop stepping the same envs \
         (3 s each), no bridge. Env steps per second throughout.\n\n{envs}\n\
         ### Whole `eirl train dqn` runs\n\n\
         Same config file both ways (evaluation off: one final episode), seed 0, wall time as \
         `eirl train` reports it.\n\n{dqn}",
        m.cpu, m.cores, m.date
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_replaced() {
        let text = "a = 1\ntrain_freq = 256   # zoo\n[network]\nhidden = [256, 256]";
        let out = with_keys(text, &[("train_freq", "4"), ("hidden", "[16]")]);
        assert_eq!(out, "a = 1\ntrain_freq = 4\n[network]\nhidden = [16]");
    }
}
