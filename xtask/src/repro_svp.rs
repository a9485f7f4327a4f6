//! `cargo xtask repro svp`: structured value-based planning (Yang et al. 2020, Sec. 3) on the
//! official four tasks: full value iteration once per task, then SVP for p ∈ {0.2, 0.4, 0.6}
//! over seeds, each through `eirl plan svp`; a table and the seed-0 heat maps in
//! `docs/results/svp/`.
//!
//! `EIRL_SVP_TASKS` (comma-separated task names), `EIRL_SVP_PS` (comma-separated p values) and
//! `EIRL_SVP_SEEDS` (a count, default 3) and `EIRL_SVP_MODES` (`plain`, `centred`) restrict the
//! sweep; `EIRL_SVP_DIVISORS` (default 500; empty for none) lists the λ = σ_max / D of the
//! ablation rows (p = 0.2, seed 0); the table shows what was run.
//!
//! Every finished run's `summary.json` is recorded in `docs/results/svp/runs.json`, and a run
//! with a record (or a finished run folder) with the same settings is not run again: an
//! interrupted sweep resumes, and sweeps made at different times add up. `EIRL_SVP_RUN=0`
//! only tabulates what is recorded (rows show how many seeds they hold). Records are not tied
//! to a code version: delete `runs.json` after changing the planner.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Result;
use serde_json::Value;

use crate::cmd::workspace_root;
use crate::repro::{
    SweepBinary, env_list, env_num, load_records, mean_sd, num, readme_block, record_run,
    run_for_summary, write_results,
};

const TASKS: &[&str] = &[
    "inverted-pendulum",
    "mountain-car",
    "double-integrator",
    "cart-pole",
];
const PS: &[f64] = &[0.2, 0.4, 0.6];

/// One `eirl plan svp` run's settings.
struct Settings<'a> {
    task: &'a str,
    p: f64,
    seed: u64,
    centred: bool,
    /// Soft-impute's λ = σ_max / divisor.
    divisor: f64,
}

/// fancyimpute's λ divisor, the default of `--shrinkage-divisor`.
const DEFAULT_DIVISOR: f64 = 50.0;

impl Settings<'_> {
    /// The run's folder under `out_root`: `<task>/p<p>-<mode>[-d<D>]-s<seed>` (`-d<D>` only
    /// when λ is not fancyimpute's).
    fn dir(&self, out_root: &Path) -> std::path::PathBuf {
        let mode = if self.centred { "centred" } else { "plain" };
        let d = if same(self.divisor, DEFAULT_DIVISOR) {
            String::new()
        } else {
            format!("-d{}", self.divisor)
        };
        out_root
            .join(self.task)
            .join(format!("p{}-{mode}{d}-s{}", self.p, self.seed))
    }
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

impl Settings<'_> {
    /// Whether `v` is the summary of a finished run with these settings.
    fn finished_in(&self, v: &Value) -> bool {
        v["task"].as_str() == Some(self.task)
            && v["p"].as_f64().is_some_and(|p| same(p, self.p))
            && v["seed"].as_u64() == Some(self.seed)
            && v["center_rows"].as_bool() == Some(self.centred)
            && same(
                v["shrinkage_divisor"].as_f64().unwrap_or(DEFAULT_DIVISOR),
                self.divisor,
            )
            && v.get("near_optimal").is_some()
            && (self.p < 1.0 || v.get("truncations").is_some())
    }
}

/// The sweep's runs: the binary, the records, and whether missing runs are made.
struct Sweep {
    eirl: std::path::PathBuf,
    out_root: std::path::PathBuf,
    docs: std::path::PathBuf,
    records: Vec<Value>,
    run_missing: bool,
}

impl Sweep {
    /// The summary of `run`: recorded, left in its run folder by a finished run, or made now
    /// (`None` when it is none of these and missing runs are not made).
    fn plan(&mut self, run: &Settings, reference: Option<&Path>) -> Result<Option<Value>> {
        if let Some(v) = self.records.iter().find(|v| run.finished_in(v)) {
            return Ok(Some(v.clone()));
        }
        let out = if run.p >= 1.0 {
            self.out_root.join(run.task).join("full")
        } else {
            run.dir(&self.out_root)
        };
        let previous = std::fs::read_to_string(out.join("summary.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .filter(|v| run.finished_in(v));
        let summary = match previous {
            Some(v) => {
                println!("reusing {}", out.display());
                v
            }
            None if !self.run_missing => return Ok(None),
            None => {
                let mut cmd = Command::new(&self.eirl);
                cmd.args([
                    "plan",
                    "svp",
                    "--task",
                    run.task,
                    "--p",
                    &run.p.to_string(),
                    "--seed",
                    &run.seed.to_string(),
                    "--shrinkage-divisor",
                    &run.divisor.to_string(),
                ])
                .arg("--out")
                .arg(&out);
                if run.centred {
                    cmd.arg("--center-rows");
                }
                if let Some(r) = reference {
                    cmd.arg("--reference").arg(r);
                }
                run_for_summary(&mut cmd, &out)?
            }
        };
        self.records = record_run(&self.docs, summary.clone(), |_| false)?;
        Ok(Some(summary))
    }

    /// Full value iteration's folder for `task` when it holds its `q.f64`, every SVP run's
    /// reference (without one, `eirl plan svp` runs full value iteration first).
    fn full_dir(&self, task: &str) -> Option<std::path::PathBuf> {
        let dir = self.out_root.join(task).join("full");
        dir.join("q.f64").is_file().then_some(dir)
    }
}

pub fn svp() -> Result<()> {
    let root = workspace_root();
    let out_root = root.join("runs").join("repro-svp");
    let run_missing = env_num("EIRL_SVP_RUN", 1u8)? != 0;
    std::fs::create_dir_all(&out_root)?;
    let binary = SweepBinary::prepare(&root, &out_root, run_missing)?;
    let eirl = binary.path().to_path_buf();
    let tasks: Vec<String> = env_list(
        "EIRL_SVP_TASKS",
        &TASKS.iter().copied().map(String::from).collect::<Vec<_>>(),
    )?;
    let ps: Vec<f64> = env_list("EIRL_SVP_PS", PS)?;
    let seeds: u64 = env_num("EIRL_SVP_SEEDS", 3)?;
    let divisors: Vec<f64> = env_list("EIRL_SVP_DIVISORS", &[500.0])?;
    let modes: Vec<String> = env_list("EIRL_SVP_MODES", &["plain".into(), "centred".into()])?;
    if let Some(bad) = modes.iter().find(|m| *m != "plain" && *m != "centred") {
        anyhow::bail!("EIRL_SVP_MODES: unknown completion {bad:?} (plain, centred)");
    }
    let docs = root.join("docs").join("results").join("svp");
    std::fs::create_dir_all(&docs)?;
    let mut sweep = Sweep {
        eirl,
        records: load_records(&docs)?,
        out_root: out_root.clone(),
        docs: docs.clone(),
        run_missing,
    };
    let mut md = String::from(
        "# SVP: structured value-based planning\n\n\
         Generated by `cargo xtask repro svp` (`eirl plan svp` per run). Official tasks and settings \
         (`svp/*.jl`: 1000 actions, γ = 0.95, ≤ 200 iterations, residual tolerance 1e-6, soft-impute \
         with fancyimpute's defaults), completions warm-started (ours; `--cold-start` is the official \
         zero fill). *agreement*: fraction of grid states whose greedy action equals full value \
         iteration's (1000 actions, so near-ties count as misses); *near-opt.*: fraction of states whose \
         greedy action loses ≤ 1% of the state's Q spread (max − min over actions) under full VI's Q; \
         *loss*: the mean of that loss as a share of the spread; *action dist.*: mean |u − u_VI| / \
         action range; *value err.*: ‖V − V_VI‖/‖V_VI‖; *backups ÷*: full VI's backups (its iterations \
         to convergence × |S||A|) over SVP's; *rank*: approximate rank (99% of Σσ²) of SVP's final Q / \
         of full VI's Q; *return*: mean undiscounted return of the greedy policy in the continuous \
         dynamics (official `simulate`: initial states on the 1001-point grids, official horizon); \
         *official metric*: the notebooks' number (angle deviation for pendulum / cart-pole, steps to \
         the stop test for mountain car / double integrator; lower is better); *s per run*: wall-clock, \
         with two runs (and at times other jobs) sharing the machine's 2 cores. Mean ± sd over seeds; \
         rows come from the runs recorded in `runs.json`.\n\n\
         *completion*: `plain` completes Q (the official estimator), `centred` completes Q minus \
         each row's mean backup and adds it back (`--center-rows`, ours: σ_max of Q is mostly the \
         state-value level, so λ = σ_max/50 erases the action structure; \
         `python/reference/svp_rank_diagnosis.py` shows the spectrum).\n\n\
         | task | p | completion | seeds | agreement | near-opt. | loss | action dist. | value err. | backups ÷ | rank (SVP / VI) | return (SVP / VI) | official metric (SVP / VI) | s per run |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut verdicts = Vec::new();
    let mut ceilings = String::new();
    let mut ranks = String::new();
    for task in &tasks {
        let full_run = Settings {
            task,
            p: 1.0,
            seed: 0,
            centred: false,
            divisor: DEFAULT_DIVISOR,
        };
        let Some(full) = sweep.plan(&full_run, None)? else {
            println!("{task}: no full value iteration recorded; skipped");
            continue;
        };
        let full_dir = sweep.full_dir(task);
        let cells = |key: &str| -> Vec<String> {
            full["truncations"]
                .as_array()
                .map(|ts| ts.iter().map(|t| format!("{:.3}", num(t, key))).collect())
                .unwrap_or_default()
        };
        ranks = cells("rank").join(" / ").replace(".000", "");
        let _ = writeln!(
            ceilings,
            "| {task} | {:.1} | {} | {} |",
            num(&full, "reference_near_ties"),
            cells("policy_agreement").join(" / "),
            cells("near_optimal").join(" / "),
        );
        let _ = writeln!(
            md,
            "| {task} | 1.0 (full VI) | — | 1 | {:.3} | {:.3} | {:.4} | {:.3} | {:.3} | 1.0 | {} | {:.2} | {:.3} | {:.0} |",
            num(&full, "policy_agreement"),
            num(&full, "near_optimal"),
            num(&full, "mean_relative_loss"),
            num(&full, "action_distance"),
            num(&full, "value_rel_error"),
            full["approximate_rank"],
            num(&full, "mean_return"),
            num(&full, "official_metric"),
            num(&full, "seconds")
        );
        for (&p, mode) in ps.iter().flat_map(|p| modes.iter().map(move |m| (p, m))) {
            let centred = mode == "centred";
            let mut runs = Vec::new();
            for seed in 0..seeds {
                let run = Settings {
                    task,
                    p,
                    seed,
                    centred,
                    divisor: DEFAULT_DIVISOR,
                };
                let dir = run.dir(&out_root);
                let Some(summary) = sweep.plan(&run, full_dir.as_deref())? else {
                    continue;
                };
                runs.push(summary);
                if seed == 0 {
                    for img in ["value", "policy"] {
                        let _ = std::fs::copy(
                            dir.join(format!("{img}.png")),
                            docs.join(format!("{task}-{img}-p{p}-{mode}.png")),
                        );
                    }
                }
            }
            if runs.is_empty() {
                continue;
            }
            let col = |k: &str| runs.iter().map(|r| num(r, k)).collect::<Vec<_>>();
            let f = |k: &str, d: usize| {
                let (m, s) = mean_sd(&col(k));
                format!("{m:.d$} ± {s:.d$}")
            };
            let (agree, _) = mean_sd(&col("policy_agreement"));
            let (near, _) = mean_sd(&col("near_optimal"));
            let (saved, _) = mean_sd(&col("backup_reduction"));
            let (ret, _) = mean_sd(&col("mean_return"));
            if (p - 0.2).abs() < 1e-9 {
                verdicts.push(Verdict {
                    what: format!("{task} ({mode}, {} seed(s))", runs.len()),
                    agree,
                    near,
                    saved,
                    ret,
                    ret_vi: num(&full, "mean_return"),
                    ties: num(&runs[0], "reference_near_ties"),
                });
            }
            let _ = writeln!(
                md,
                "| {task} | {p} | {mode} | {} | {} | {} | {} | {} | {} | {} | {:.1} / {} | {} / {:.2} | {} / {:.3} | {:.0} |",
                runs.len(),
                f("policy_agreement", 3),
                f("near_optimal", 3),
                f("mean_relative_loss", 4),
                f("action_distance", 3),
                f("value_rel_error", 3),
                f("backup_reduction", 2),
                mean_sd(&col("approximate_rank")).0,
                full["approximate_rank"],
                f("mean_return", 2),
                num(&full, "mean_return"),
                f("official_metric", 3),
                num(&full, "official_metric"),
                mean_sd(&col("seconds")).0,
            );
        }
        for img in ["value", "policy"] {
            let _ = std::fs::copy(
                out_root.join(task).join("full").join(format!("{img}.png")),
                docs.join(format!("{task}-{img}-full.png")),
            );
        }
    }
    let _ = write!(
        md,
        "\nThe ceiling for any low-rank estimate: the greedy policies of full VI's own best \
         rank-k approximations (Eckart–Young truncations of its Q, k = {ranks}), and how many \
         actions per state full VI's Q holds within 1% of the best (*near-ties*).\n\n\
         | task | near-ties per state | agreement (k = {ranks}) | near-optimal (k = {ranks}) |\n\
         |---|---:|---:|---:|\n{ceilings}"
    );
    // λ ablation: p = 0.2, seed 0, soft-impute's λ = σ_max / D for each D.
    if !divisors.is_empty() {
        let _ = write!(
            md,
            "\nλ ablation (p = 0.2, seed 0): soft-impute's λ = σ_max / D, D = 50 being \
             fancyimpute's default (the main table).\n\n\
             | task | completion | D | agreement | near-optimal | value err. | rank | return (full VI) |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n"
        );
        for task in &tasks {
            let full_dir = sweep.full_dir(task);
            for mode in &modes {
                let centred = mode == "centred";
                for &d in std::iter::once(&DEFAULT_DIVISOR).chain(&divisors) {
                    let run = Settings {
                        task,
                        p: 0.2,
                        seed: 0,
                        centred,
                        divisor: d,
                    };
                    let Some(r) = sweep.plan(&run, full_dir.as_deref())? else {
                        continue;
                    };
                    let _ = writeln!(
                        md,
                        "| {task} | {mode} | {d} | {:.3} | {:.3} | {:.4} | {:.1} | {:.2} ({:.2}) |",
                        num(&r, "policy_agreement"),
                        num(&r, "near_optimal"),
                        num(&r, "value_rel_error"),
                        num(&r, "mean_completion_rank"),
                        num(&r, "mean_return"),
                        num(&r, "full_vi_mean_return"),
                    );
                }
            }
        }
    }
    let met = |ok: &dyn Fn(&Verdict) -> bool| -> String {
        let hit: Vec<&str> = verdicts
            .iter()
            .filter(|v| ok(v))
            .map(|v| v.what.as_str())
            .collect();
        if hit.is_empty() {
            format!("0 of {}", verdicts.len())
        } else {
            format!("{} of {} ({})", hit.len(), verdicts.len(), hit.join(", "))
        }
    };
    let _ = writeln!(
        md,
        "\nAt p = 0.2: {} task × completion runs reach ≥ 90% exact policy agreement with ≥ 4× fewer \
         backups; {} reach ≥ 90% near-optimal actions with ≥ 4× fewer backups.",
        met(&|v| v.agree >= 0.9 && v.saved >= 4.0),
        met(&|v| v.near >= 0.9 && v.saved >= 4.0),
    );
    let mut readme = String::from(
        "SVP (`cargo xtask repro svp` → `docs/results/svp/`; official tasks and settings, p = 0.2, \
         mean over seeds; *agreement*: greedy action equal to full value iteration's out of 1000; \
         *near-optimal*: loses ≤ 1% of the state's Q spread under full VI's Q):\n\n",
    );
    for v in &verdicts {
        let line = format!(
            "- {}: agreement {:.3}, near-optimal {:.3}, backups ÷ {:.2}, return {:.2} (full VI {:.2}); \
             full VI's Q has {:.1} actions per state within 1% of the best.",
            v.what, v.agree, v.near, v.saved, v.ret, v.ret_vi, v.ties
        );
        let _ = writeln!(md, "{line}");
        let _ = writeln!(readme, "{line}");
    }
    write_results(&docs, "README.md", &md)?;
    readme_block(&root, "svp", &readme)
}

/// One p = 0.2 row's numbers, for the closing sentences.
struct Verdict {
    what: String,
    agree: f64,
    near: f64,
    saved: f64,
    ret: f64,
    ret_vi: f64,
    ties: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_counts_only_for_the_same_settings() {
        let summary = serde_json::json!({
            "task": "mountain-car", "p": 0.2, "seed": 1, "center_rows": true,
            "shrinkage_divisor": 50.0, "near_optimal": 0.9,
        });
        let run = Settings {
            task: "mountain-car",
            p: 0.2,
            seed: 1,
            centred: true,
            divisor: 50.0,
        };
        assert!(run.finished_in(&summary));
        for other in [
            Settings { seed: 2, ..run },
            Settings { p: 0.4, ..run },
            Settings {
                centred: false,
                ..run
            },
            Settings {
                divisor: 500.0,
                ..run
            },
            Settings {
                task: "cart-pole",
                ..run
            },
        ] {
            assert!(
                !other.finished_in(&summary),
                "{}",
                other.dir(Path::new("")).display()
            );
        }
        // Full value iteration's record must carry the rank-k truncations.
        let full = Settings { p: 1.0, ..run };
        let mut v = summary.clone();
        v["p"] = 1.0.into();
        assert!(!full.finished_in(&v));
        v["truncations"] = serde_json::json!([]);
        assert!(full.finished_in(&v));
    }
}
