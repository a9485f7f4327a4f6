//! `cargo xtask bench [crate...]`: run criterion benches, then write BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::cmd::{capture_stdout, cargo, run_streaming, workspace_root};
use crate::criterion;
use crate::machine;
use crate::report::{CrateSection, render};
use crate::rlax;

const QUICK_ARGS: &[&str] = &["--warm-up-time", "1", "--measurement-time", "3"];

#[derive(Args)]
pub struct BenchArgs {
    /// Crates to bench (`returns` or `eirl-returns`); default: every member with a benches/ dir.
    crates: Vec<String>,
    /// Short warm-up and measurement (1 s + 3 s per bench); the default.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Criterion's default timings (3 s warm-up + 5 s measurement per bench).
    #[arg(long)]
    full: bool,
    /// Create `.venv-rlax` with rlax and jax (from PyPI) for the rlax comparison, then exit.
    #[arg(long)]
    setup_rlax: bool,
}

struct Member {
    name: String,
    dir: PathBuf,
}

impl Member {
    /// `eirl-returns` → `returns`; the root package `eirl` stays `eirl`.
    fn short_name(&self) -> &str {
        self.name.strip_prefix("eirl-").unwrap_or(&self.name)
    }
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let root = workspace_root();
    if args.setup_rlax {
        return rlax::setup(&root);
    }
    let (members, target_dir) = workspace_metadata()?;
    let selected = select(members, &args.crates)?;
    let (criterion_args, settings) = if args.full {
        (&[][..], "criterion defaults (`--full`)")
    } else {
        (
            QUICK_ARGS,
            "`--warm-up-time 1 --measurement-time 3` (`--quick`)",
        )
    };
    let criterion_dir = target_dir.join("criterion");
    let mut sections = Vec::new();
    for member in &selected {
        let started = SystemTime::now();
        // `--bench '*'` runs only bench targets: libtest would reject criterion's flags.
        let mut cmd = cargo();
        cmd.args(["bench", "-p", &member.name, "--bench", "*", "--"])
            .args(criterion_args);
        run_streaming(&mut cmd).with_context(|| format!("benchmarks of {} failed", member.name))?;
        let results = criterion::collect(&criterion_dir, Some(started))?;
        let rlax = (member.short_name() == "returns").then(|| rlax::compare(&root, &results));
        if let Some(rlax::Outcome::Skipped(why)) = &rlax {
            eprintln!("==> skipping eirl vs rlax: {why}");
        }
        sections.push(CrateSection {
            name: member.name.clone(),
            results,
            rlax,
        });
    }
    let md = render(&machine::info(), settings, &sections);
    let out = root.join("BENCHMARKS.md");
    eirl_runlog::atomic_write(&out, md.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("==> wrote {}", out.display());
    Ok(())
}

/// Workspace members and the target directory, from `cargo metadata`.
fn workspace_metadata() -> Result<(Vec<Member>, PathBuf)> {
    let json = capture_stdout(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let meta: serde_json::Value =
        serde_json::from_str(&json).context("parsing `cargo metadata` output")?;
    let target_dir = meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` gave no target_directory")?;
    let members = meta["packages"]
        .as_array()
        .map(|pkgs| {
            pkgs.iter()
                .filter_map(|p| {
                    let name = p["name"].as_str()?.to_string();
                    let dir = Path::new(p["manifest_path"].as_str()?)
                        .parent()?
                        .to_path_buf();
                    Some(Member { name, dir })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((members, target_dir))
}

fn select(members: Vec<Member>, wanted: &[String]) -> Result<Vec<Member>> {
    if wanted.is_empty() {
        let with_benches: Vec<Member> = members
            .into_iter()
            .filter(|m| m.dir.join("benches").is_dir())
            .collect();
        if with_benches.is_empty() {
            bail!("no workspace member has a benches/ directory");
        }
        return Ok(with_benches);
    }
    let mut chosen = Vec::new();
    let mut members = members;
    for w in wanted {
        let Some(i) = members
            .iter()
            .position(|m| m.name == *w || m.short_name() == w)
        else {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            bail!("no workspace member named {w}; members: {names:?}");
        };
        chosen.push(members.remove(i));
    }
    Ok(chosen)
}
