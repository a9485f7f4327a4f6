//! `cargo xtask ci`: the checks a person runs before pushing. CI itself (`.ci/run`) runs tests only.

use anyhow::{Context, Result};

use crate::cmd::{cargo, run_streaming};

/// Must equal README.md's test command (and `TEST_CMD` in `.ci/run`).
const TEST_ARGS: &[&str] = &["test", "--workspace"];

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
        run_streaming(cargo().args(args)).context(hint)?;
    }
    eprintln!("==> ci: all checks passed");
    Ok(())
}
