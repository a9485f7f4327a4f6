//! `cargo xtask ci`: the checks a person runs before pushing. CI itself (`.ci/run`) runs tests only.

use std::collections::BTreeSet;

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

/// README's two commands share one build: after `cargo build --release` (what `cargo run
/// --release` compiles), building the tests must compile no dependency the CLI already built.
/// A dependency compiled twice means the test build turns on features the CLI's build does
/// not; the root Cargo.toml turns them on for both.
fn check_shared_build() -> Result<()> {
    eprintln!("==> ci: the test build reuses the release build's dependencies");
    let built = |args: &[&str]| -> Result<Vec<(String, bool)>> {
        let out = capture_stdout(
            cargo()
                .args(args)
                .args(["--message-format=json", "--quiet"]),
        )?;
        Ok(out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact")
            .filter_map(|m| {
                let id = m["package_id"].as_str()?;
                // Workspace members are path packages; they are rebuilt as tests by design.
                (!id.starts_with("path+")).then(|| (id.to_string(), m["fresh"] == true))
            })
            .collect())
    };
    let cli: BTreeSet<String> = built(&["build", "--release"])?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut test_args = TEST_ARGS.to_vec();
    test_args.push("--no-run");
    let rebuilt: BTreeSet<String> = built(&test_args)?
        .into_iter()
        .filter(|(id, fresh)| !fresh && cli.contains(id))
        .map(|(id, _)| id)
        .collect();
    if !rebuilt.is_empty() {
        bail!(
            "the test build compiled again {} dependencies of the release build (features differ; \
             turn the test build's features on in the root Cargo.toml): {}",
            rebuilt.len(),
            rebuilt.into_iter().collect::<Vec<_>>().join(", ")
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
