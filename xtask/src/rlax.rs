//! eirl's return estimators against rlax under `jax.jit`, via `crates/returns/benches/rlax_bench.py`.
//! The script prints `{"<rlax function>": microseconds, ...}` for T=100, B=256, f32.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::{capture_stdout, run_streaming, succeeds};
use crate::criterion::BenchResult;

pub const SCRIPT: &str = "crates/returns/benches/rlax_bench.py";
pub const VENV: &str = ".venv-rlax";

/// rlax function name → eirl criterion id, where the id is not the default
/// `returns_T100/<rlax name>/256`. Edit here when the returns benches are named differently.
pub const NAME_MAP: &[(&str, &str)] = &[
    ("vtrace", "returns_T100/vtrace/256"),
    ("lambda_returns", "returns_T100/lambda_returns/256"),
    ("gae", "returns_T100/gae/256"),
    ("retrace_4_actions", "returns_T100/retrace_4_actions/256"),
];

fn eirl_id(rlax_name: &str) -> String {
    NAME_MAP.iter().find(|(r, _)| *r == rlax_name).map_or_else(
        || format!("returns_T100/{rlax_name}/256"),
        |(_, id)| id.to_string(),
    )
}

pub struct Row {
    pub function: String,
    pub eirl_us: f64,
    pub rlax_us: f64,
}

pub enum Outcome {
    Compared(Vec<Row>),
    Skipped(String),
}

/// Runs the rlax script if it and an rlax-capable python exist; never fails the bench run.
pub fn compare(root: &Path, eirl: &[BenchResult]) -> Outcome {
    let script = root.join(SCRIPT);
    if !script.is_file() {
        return Outcome::Skipped(format!("{SCRIPT} not found"));
    }
    let Some(python) = find_python(root) else {
        return Outcome::Skipped(format!(
            "no python with rlax and jax (tried {VENV}/bin/python, python3); run `cargo xtask bench --setup-rlax`"
        ));
    };
    match run_script(&python, &script, root) {
        Ok(timings) => Outcome::Compared(match_rows(&timings, eirl)),
        Err(e) => Outcome::Skipped(format!("{SCRIPT} failed: {e:#}")),
    }
}

fn find_python(root: &Path) -> Option<PathBuf> {
    let candidates = [
        root.join(VENV).join("bin").join("python"),
        PathBuf::from("python3"),
    ];
    candidates
        .into_iter()
        .find(|py| succeeds(Command::new(py).args(["-c", "import rlax, jax"])))
}

fn run_script(python: &Path, script: &Path, root: &Path) -> Result<Vec<(String, f64)>> {
    let stdout = capture_stdout(Command::new(python).arg(script).current_dir(root))?;
    parse_timings(&stdout)
}

/// The JSON object the script prints; tolerates log lines before it.
fn parse_timings(stdout: &str) -> Result<Vec<(String, f64)>> {
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("no JSON object in the script's output")?;
    let value: serde_json::Value =
        serde_json::from_str(json).context("parsing the script's JSON")?;
    let Some(obj) = value.as_object() else {
        bail!("expected a JSON object of {{function: microseconds}}");
    };
    Ok(obj
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|us| (k.clone(), us)))
        .collect())
}

fn match_rows(rlax: &[(String, f64)], eirl: &[BenchResult]) -> Vec<Row> {
    rlax.iter()
        .filter_map(|(name, rlax_us)| {
            let id = eirl_id(name);
            let bench = eirl.iter().find(|b| b.full_id == id)?;
            Some(Row {
                function: name.clone(),
                eirl_us: bench.mean_ns / 1e3,
                rlax_us: *rlax_us,
            })
        })
        .collect()
}

/// `cargo xtask bench --setup-rlax`: a venv at the repo root with rlax and jax from PyPI.
pub fn setup(root: &Path) -> Result<()> {
    let venv = root.join(VENV);
    run_streaming(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .context("creating the venv (on Debian: apt-get install python3-venv)")?;
    let pip = venv.join("bin").join("pip");
    run_streaming(Command::new(&pip).args(["install", "--upgrade", "pip"]))?;
    run_streaming(Command::new(&pip).args(["install", "rlax", "jax"]))?;
    eprintln!("==> rlax ready in {}", venv.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_after_log_lines() -> Result<()> {
        let t = parse_timings("warming up\n{\"vtrace\": 12.5, \"bad\": \"x\"}\n")?;
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].0, "vtrace");
        Ok(())
    }

    #[test]
    fn default_id_for_unmapped_names() {
        assert_eq!(eirl_id("td_learning"), "returns_T100/td_learning/256");
        assert_eq!(eirl_id("vtrace"), "returns_T100/vtrace/256");
    }
}
