//! `cargo xtask ci`: the checks a person runs before pushing. CI itself (`.ci/run`) runs tests only.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};

use crate::cmd::{capture_stdout, cargo, run_streaming};

/// Must equal README.md's test command (and `TEST_CMD` in `.ci/run`).
const TEST_ARGS: &[&str] = &["test", "--workspace", "--release"];

pub fn run() -> Result<()> {
    let steps: [(&[&str], &str); 3] = [
        (
            &["fmt", "--all", "--", "--check"],
            "formatting differs: run `cargo fmt --all`",
        ),
        (
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            "clippy found warnings (denied)",
        ),
        (TEST_ARGS, "tests failed"),
    ];
    for (args, hint) in steps {
        if args == TEST_ARGS {
            check_shared_build()?;
        }
        run_streaming(cargo().args(args)).context(hint)?;
    }
    eprintln!("==> ci: all checks passed");
    Ok(())
}

/// README's two commands share one build: every dependency the test build links must be the
/// very artifact `cargo build --release` (what `cargo run --release` compiles) made for it. A
/// dependency built twice (another artifact file for the same package) means the test build
/// turns on features the CLI's build does not; the root Cargo.toml turns them on for both.
/// Artifact names carry the features' hash, so this holds on a warm target directory too.
fn check_shared_build() -> Result<()> {
    eprintln!("==> ci: the test build reuses the release build's dependencies");
    let artifacts = |args: &[&str]| -> Result<BTreeMap<String, BTreeSet<String>>> {
        let out = capture_stdout(
            cargo()
                .args(args)
                .args(["--message-format=json", "--quiet"]),
        )?;
        let mut by_package: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for m in out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact")
        {
            let Some(id) = m["package_id"].as_str() else {
                continue;
            };
            // Workspace members are path packages; they are rebuilt as tests by design.
            if id.starts_with("path+") {
                continue;
            }
            let files = m["filenames"].as_array().into_iter().flatten();
            by_package
                .entry(id.to_string())
                .or_default()
                .extend(files.filter_map(|f| f.as_str().map(str::to_string)));
        }
        Ok(by_package)
    };
    let cli = artifacts(&["build", "--release"])?;
    let mut test_args = TEST_ARGS.to_vec();
    test_args.push("--no-run");
    let twice: Vec<String> = artifacts(&test_args)?
        .into_iter()
        .filter(|(id, files)| cli.get(id).is_some_and(|built| !files.is_subset(built)))
        .map(|(id, _)| id)
        .collect();
    if !twice.is_empty() {
        bail!(
            "the test build compiles {} dependencies of the release build a second time, with \
             other features (turn the test build's features on in the root Cargo.toml): {}",
            twice.len(),
            twice.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TEST_ARGS;
    use crate::cmd::workspace_root;

    /// README.md's test command, `.ci/run`'s and `cargo xtask ci`'s are one command.
    #[test]
    fn readme_ci_and_xtask_run_the_same_tests() -> anyhow::Result<()> {
        let root = workspace_root();
        let expected = format!("cargo {}", TEST_ARGS.join(" "));
        let readme = std::fs::read_to_string(root.join("README.md"))?;
        let after = readme
            .split_once("Run the tests")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let readme_cmd = after
            .lines()
            .skip_while(|l| !l.starts_with("```"))
            .nth(1)
            .unwrap_or_default();
        assert_eq!(readme_cmd.trim(), expected, "README.md's test command");
        let ci = std::fs::read_to_string(root.join(".ci/run"))?;
        let ci_cmd = ci
            .lines()
            .find_map(|l| l.strip_prefix("TEST_CMD=("))
            .and_then(|l| l.strip_suffix(')'))
            .unwrap_or_default();
        assert_eq!(ci_cmd, expected, ".ci/run's TEST_CMD");
        Ok(())
    }
}
