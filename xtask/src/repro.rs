//! `cargo xtask repro <paper>`: re-run a paper's headline experiment with the `eirl` binary
//! (several seeds via `eirl train <algo> --env <id> --seed <s>`), then plot the seeds together
//! with `eirl_runlog::plot_curves` and compare to the paper's numbers.
//!
//! To add one, write `fn dqn() -> Result<()>` here that builds and shells out to `eirl`, and list
//! it in [`REPRODUCTIONS`] as `("dqn", dqn)`.

use anyhow::{Result, bail};

type Reproduction = fn() -> Result<()>;

/// Every reproduction, by the name used on the command line.
const REPRODUCTIONS: &[(&str, Reproduction)] = &[];

pub fn run(paper: &str) -> Result<()> {
    match REPRODUCTIONS.iter().find(|(name, _)| *name == paper) {
        Some((_, reproduce)) => reproduce(),
        None => {
            let available: Vec<&str> = REPRODUCTIONS.iter().map(|(name, _)| *name).collect();
            bail!("no reproduction for {paper} yet; available: {available:?}")
        }
    }
}
