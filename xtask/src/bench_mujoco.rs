//! `cargo xtask bench mujoco`: eirl's MuJoCo envs against Gymnasium's, in the same run.
//!
//! Hopper-v5 env steps/s with 1 and 16 envs, uniform random torques, auto-reset included:
//! - eirl: the `vec_env_hopper` criterion group of `crates/envs/benches/vec_env.rs` (`VecEnv`,
//!   envs stepped in turn on one thread);
//! - Gymnasium: a Python loop over `gym.make("Hopper-v5")` (1 env) and
//!   `gym.make_vec("Hopper-v5", 16, vectorization_mode="sync")` (its `SyncVectorEnv`, also one
//!   thread), 3 s each, with the `.venv-py` of `python/requirements-mujoco.txt`.
//!
//! Both step the same MuJoCo library (the wheel's), so the difference is what each side does
//! around `mj_step`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::bench_gym::python;
use crate::cmd::{cargo, run_streaming};
use crate::criterion;
use crate::machine;

/// BENCHMARKS.md keeps the MuJoCo benchmark after this line.
pub const MUJOCO_MARK: &str = "<!-- mujoco benchmark -->";

const GROUP: &str = "vec_env_hopper";

/// Gymnasium's Hopper-v5 steps/s with 1 env, then 16; first line: the versions.
const GYMNASIUM_LOOP: &str = "
import sys, time, gymnasium as gym, mujoco, numpy as np
print(f'Python {sys.version.split()[0]}, Gymnasium {gym.__version__}, MuJoCo {mujoco.__version__}, NumPy {np.__version__}')
rng = np.random.default_rng(1)
env = gym.make('Hopper-v5')
env.reset(seed=0)
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < 3:
    _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 3).astype(np.float32))
    steps += 1
    if term or trunc:
        env.reset()
print(steps / (time.perf_counter() - start))
n = 16
envs = gym.make_vec('Hopper-v5', n, vectorization_mode='sync')
envs.reset(seed=0)
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < 3:
    envs.step(rng.uniform(-1, 1, (n, 3)).astype(np.float32))
    steps += n
print(steps / (time.perf_counter() - start))
";

fn fmt_rate(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 1e6 => format!("{:.2} M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1} K", v / 1e3),
        Some(v) => format!("{v:.0}"),
    }
}

/// Runs both sides and returns the markdown section.
pub fn section(root: &Path, target_dir: &Path, criterion_args: &[&str]) -> Result<String> {
    let py = python(root);
    eprintln!("==> Gymnasium's Hopper-v5 (1 env, then 16 in a SyncVectorEnv)");
    let out = Command::new(&py)
        .args(["-c", GYMNASIUM_LOOP])
        .output()
        .with_context(|| format!("cannot run {}", py.display()))?;
    if !out.status.success() {
        bail!(
            "{} cannot run Gymnasium's Hopper-v5 ({}); install python/requirements-mujoco.txt \
             into .venv-py (`.venv-py/bin/pip install -r python/requirements-mujoco.txt`) or \
             set EIRL_PYTHON",
            py.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let versions = lines.next().unwrap_or("").trim().to_string();
    let gymnasium: Vec<f64> = lines
        .map(|l| l.trim().parse::<f64>().context("parsing Gymnasium's rate"))
        .collect::<Result<_>>()?;
    if gymnasium.len() != 2 {
        bail!("expected two rates from the Gymnasium loop, got: {stdout}");
    }

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
            GROUP,
        ])
        .args(criterion_args)
        .env("EIRL_PYTHON", &py);
    run_streaming(&mut bench).context("the Hopper-v5 env benchmark failed")?;
    let results: Vec<_> = criterion::collect(&target_dir.join("criterion"), Some(started))?
        .into_iter()
        .filter(|r| r.group == GROUP)
        .collect();
    if results.is_empty() {
        bail!(
            "no {GROUP} results: the MuJoCo library could not be loaded by the bench (see its \
             message above)"
        );
    }
    let mut table = String::from(
        "| envs | eirl Hopper-v5 | Gymnasium Hopper-v5 | eirl / Gymnasium |\n|---:|---:|---:|---:|\n",
    );
    for (k, n) in [1usize, 16].into_iter().enumerate() {
        let eirl = results
            .iter()
            .find(|r| r.full_id == format!("{GROUP}/{n}"))
            .and_then(|r| r.per_second())
            .map(|(v, _)| v);
        let gym = gymnasium[k];
        let ratio = eirl.map_or("—".into(), |e| format!("{:.1}×", e / gym.max(1e-9)));
        let _ = writeln!(
            table,
            "| {n} | {} | {} | {ratio} |",
            fmt_rate(eirl),
            fmt_rate(Some(gym))
        );
    }
    let m = machine::info();
    Ok(format!(
        "{MUJOCO_MARK}\n\n## MuJoCo envs: eirl's Hopper-v5 against Gymnasium's\n\n\
         Generated by `cargo xtask bench mujoco` on {} ({} cores), {}; {versions}. Env steps/s \
         with uniform random torques, auto-reset included, one thread on both sides: eirl's \
         `VecEnv` (criterion group `{GROUP}` of `crates/envs/benches/vec_env.rs`, criterion's \
         mean) against a Python loop over `gym.make(\"Hopper-v5\")` and, for 16 envs, \
         `gym.make_vec(\"Hopper-v5\", 16, vectorization_mode=\"sync\")` (3 s each). Both step \
         the same MuJoCo library (4 `mj_step` per env step), and eirl's steps are bit-exact \
         with Gymnasium's (`crates/envs/tests/it/mujoco.rs`).\n\n{table}",
        m.cpu, m.cores, m.date
    ))
}
