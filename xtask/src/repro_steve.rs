//! `cargo xtask repro steve`: STEVE vs MVE vs DDPG (one learner, `target = steve | mve | td`,
//! H = 3) on Pendulum-v1 from the shipped preset (`configs/steve/Pendulum-v1.toml`) with the
//! target files in `configs/steve/targets/`: env steps to a return threshold, final returns,
//! learning curves and wall-clock per run, into `docs/results/steve/`.
//!
//! `cargo xtask repro steve-toy`: the paper's toy value-estimation study (`eirl toy steve`,
//! official settings, run for 40 000 updates so that TD's crossing of each threshold is
//! measured; the paper's figure shows the first 10 000).
//!
//! Overrides: `EIRL_STEVE_ENVS` (comma-separated ids, each needs a preset), `EIRL_STEVE_SEEDS`
//! (a count, default 3), `EIRL_STEVE_STEPS` (env steps, default the preset's).

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cmd::workspace_root;
use crate::repro::{
    RunSummary, build_eirl, env_list, env_num, mean_sd, plot_eval, readme_block, run_for_summary,
    train_with, write_results,
};

/// Return thresholds ("solved") per env.
fn threshold(env: &str) -> f64 {
    match env {
        "MountainCarContinuous-v0" => 90.0,
        _ => -200.0,
    }
}

const TARGETS: [&str; 3] = ["td", "mve", "steve"];

fn label(target: &str) -> &'static str {
    match target {
        "td" => "DDPG (td)",
        "mve" => "MVE-DDPG (mve)",
        _ => "STEVE-DDPG (steve)",
    }
}

/// Median of the values, `None` counted as larger than any number (a seed that never reached
/// the threshold); `None` when the median seed did not reach it.
fn median_steps(xs: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().map(|x| x.unwrap_or(f64::INFINITY)).collect();
    v.sort_by(f64::total_cmp);
    let m = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    m.is_finite().then_some(m)
}

fn show(x: Option<f64>) -> String {
    x.map_or("not reached".into(), |s| format!("{s:.0}"))
}

/// The mean of the last three evaluations (the final return).
fn final_return(r: &RunSummary) -> f64 {
    let tail: Vec<f64> = r.eval.iter().rev().take(3).map(|(_, v)| *v).collect();
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

pub fn steve() -> Result<()> {
    let root = workspace_root();
    // A private copy: rebuilding the workspace during the (long) sweep must not change the
    // binary its later runs use.
    let built = build_eirl(&root)?;
    let eirl = root.join("runs/repro-steve/eirl");
    std::fs::create_dir_all(root.join("runs/repro-steve"))?;
    std::fs::copy(&built, &eirl).with_context(|| format!("copying {}", built.display()))?;
    let envs: Vec<String> = env_list("EIRL_STEVE_ENVS", &["Pendulum-v1".to_string()])?;
    let seeds: u64 = env_num("EIRL_STEVE_SEEDS", 3)?;
    let steps: u64 = env_num("EIRL_STEVE_STEPS", 0)?;
    let docs = root.join("docs/results/steve");
    std::fs::create_dir_all(&docs)?;
    let mut md = String::from(
        "# STEVE vs MVE vs DDPG (`cargo xtask repro steve`)\n\n\
         One learner whose critic target is `td` (DDPG), `mve` or `steve` (H = 3, M = N = L = 4); \
         everything else identical (`configs/steve/<env>.toml`, which records each change from \
         the official settings for a 2-core CPU, plus `configs/steve/targets/<target>.toml`). \
         Greedy evaluation every `eval_interval` env steps. *Steps to threshold*: the first \
         evaluation at or above it. *Final*: the mean of the last three evaluations. \
         Wall-clock: the whole run on this machine, evaluations included.\n",
    );
    let mut readme = String::new();
    for env in &envs {
        let thr = threshold(env);
        let out = root.join("runs/repro-steve").join(env);
        let mut runs: Vec<(&str, Vec<RunSummary>)> = Vec::new();
        for target in TARGETS {
            let cfg = root.join(format!("configs/steve/targets/{target}.toml"));
            let cfg_s = cfg.to_string_lossy().into_owned();
            let steps_s = steps.to_string();
            let mut extra = vec!["--config", cfg_s.as_str()];
            if steps > 0 {
                extra.extend(["--steps", steps_s.as_str()]);
            }
            let mut per_seed = Vec::new();
            for seed in 0..seeds {
                per_seed.push(train_with(
                    &eirl,
                    "steve",
                    env,
                    seed,
                    &out.join(target),
                    &extra,
                )?);
            }
            runs.push((target, per_seed));
        }
        let _ = write!(
            md,
            "\n## {env} (threshold {thr}, {seeds} seeds)\n\n\
             | target | seed | steps to {thr} | final | best | wall-clock (s) | env steps/s |\n\
             |---|---|---|---|---|---|---|\n"
        );
        let mut medians = Vec::new();
        for (target, rs) in &runs {
            for r in rs {
                let best = r
                    .eval
                    .iter()
                    .map(|(_, v)| *v)
                    .fold(f64::NEG_INFINITY, f64::max);
                let total = r.eval.last().map_or(0.0, |(s, _)| *s);
                let _ = writeln!(
                    md,
                    "| {target} | {} | {} | {:.1} | {best:.1} | {:.0} | {:.0} |",
                    r.seed,
                    show(r.first_reaching(thr)),
                    final_return(r),
                    r.wall_s,
                    total / r.wall_s.max(1e-9)
                );
            }
            let reach: Vec<Option<f64>> = rs.iter().map(|r| r.first_reaching(thr)).collect();
            let (fm, fs) = mean_sd(&rs.iter().map(final_return).collect::<Vec<_>>());
            let (wm, _) = mean_sd(&rs.iter().map(|r| r.wall_s).collect::<Vec<_>>());
            medians.push((
                *target,
                median_steps(&reach),
                reach.iter().flatten().count(),
                fm,
                fs,
                wm,
            ));
        }
        let _ = write!(
            md,
            "\n| target | median steps to {thr} | seeds reaching | final (mean ± sd) | \
             wall-clock per run (s) |\n|---|---|---|---|---|\n"
        );
        for (t, med, n, fm, fs, wm) in &medians {
            let _ = writeln!(
                md,
                "| {} | {} | {n}/{seeds} | {fm:.1} ± {fs:.1} | {wm:.0} |",
                label(t),
                show(*med)
            );
        }
        let get = |t: &str| medians.iter().find(|m| m.0 == t).copied();
        let (Some(td), Some(mve), Some(st)) = (get("td"), get("mve"), get("steve")) else {
            continue;
        };
        let cmp = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) if x < y => format!("fewer env steps ({x:.0} vs {y:.0})"),
            (Some(x), Some(y)) if x > y => format!("more env steps ({x:.0} vs {y:.0})"),
            (Some(x), Some(_)) => format!("the same number of env steps ({x:.0})"),
            (Some(x), None) => format!("{x:.0} env steps, the other never on the median seed"),
            (None, Some(y)) => format!("not at all on the median seed (the other: {y:.0})"),
            (None, None) => "not at all on the median seed (neither did the other)".into(),
        };
        let verdict = format!(
            "On the median of {seeds} seeds STEVE reached {thr} in {} than DDPG; MVE in {} than \
             DDPG and in {} than STEVE. Wall-clock per run: STEVE {:.0} s, MVE {:.0} s, DDPG \
             {:.0} s ({:.1}× DDPG for STEVE).",
            cmp(st.1, td.1),
            cmp(mve.1, td.1),
            cmp(mve.1, st.1),
            st.5,
            mve.5,
            td.5,
            st.5 / td.5.max(1e-9)
        );
        let _ = writeln!(md, "\n{verdict}\n\n![{env}](steve-{env}.png)");
        let total_steps = runs[0].1[0].eval.last().map_or(0.0, |(s, _)| *s) as u64;
        let peer = peer_section(&root, env, seeds, total_steps, &runs)?;
        md.push_str(&peer);
        let series: Vec<(String, Vec<(f64, f64)>)> = runs
            .iter()
            .flat_map(|(t, rs)| {
                rs.iter()
                    .map(move |r| (format!("{t} seed {}", r.seed), r.eval.clone()))
            })
            .collect();
        plot_eval(
            &series,
            &docs.join(format!("steve-{env}.png")),
            &format!("STEVE / MVE / DDPG on {env}"),
        )?;
        let _ = writeln!(
            readme,
            "- **{env}** ({seeds} seeds, `cargo xtask repro steve` → `docs/results/steve/`): median env \
             steps to {thr}: STEVE {}, MVE {}, DDPG {}; final return STEVE {:.1} ± {:.1}, MVE \
             {:.1} ± {:.1}, DDPG {:.1} ± {:.1}; wall-clock per run STEVE {:.0} s, MVE {:.0} s, \
             DDPG {:.0} s.",
            show(st.1),
            show(mve.1),
            show(td.1),
            st.3,
            st.4,
            mve.3,
            mve.4,
            td.3,
            td.4,
            st.5,
            mve.5,
            td.5
        );
    }
    write_results(&docs, "control.md", &md)?;
    readme_block(&root, "steve", &readme)
}

/// Stable-Baselines3 DDPG (rl-zoo's Pendulum preset, `python/reference/sb3_ddpg.py`) at the
/// same env steps, when `EIRL_PEER_PYTHON` names a Python with stable-baselines3.
fn peer_section(
    root: &std::path::Path,
    env: &str,
    seeds: u64,
    steps: u64,
    runs: &[(&str, Vec<RunSummary>)],
) -> Result<String> {
    let Some(python) = std::env::var_os("EIRL_PEER_PYTHON") else {
        return Ok(
            "\nPeer not run: set `EIRL_PEER_PYTHON` to a Python with stable-baselines3 to \
                   add Stable-Baselines3 DDPG (rl-zoo preset) at equal env steps.\n"
                .into(),
        );
    };
    if env != "Pendulum-v1" {
        return Ok(format!(
            "\nPeer not run on {env}: the rl-zoo preset used is Pendulum's.\n"
        ));
    }
    let mut md = format!(
        "\n### Peer at equal env steps: Stable-Baselines3 DDPG\n\n\
         `python/reference/sb3_ddpg.py` (rl-zoo `ddpg.yml` Pendulum preset: γ 0.98, 10k random \
         steps, N(0, 0.1) action noise, one gradient step per env step at each episode end, lr \
         1e-3, [400, 300]; torch on 2 threads), {steps} env steps, final deterministic policy on 10 \
         episodes. eirl's final column here is its last evaluation (10 episodes); wall-clock for \
         SB3 is training only, eirl's includes its evaluations.\n\n\
         | seed | SB3 DDPG final | SB3 train (s) | eirl DDPG final | eirl DDPG (s) | eirl STEVE final | eirl STEVE (s) |\n\
         |---|---|---|---|---|---|---|\n"
    );
    let script = root.join("python/reference/sb3_ddpg.py");
    let pick = |t: &str, seed: u64| {
        runs.iter()
            .find(|(n, _)| *n == t)
            .and_then(|(_, rs)| rs.iter().find(|r| r.seed == seed))
    };
    for seed in 0..seeds {
        let mut cmd = Command::new(&python);
        cmd.arg(&script).args([
            "--env",
            env,
            "--steps",
            &steps.to_string(),
            "--seed",
            &seed.to_string(),
        ]);
        let out = crate::cmd::capture_stdout(&mut cmd)?;
        let line = out.lines().last().unwrap_or_default();
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("parsing the SB3 peer's output {line:?}"))?;
        let cell = |t: &str| {
            pick(t, seed).map_or(("—".into(), "—".into()), |r| {
                (format!("{:.1}", r.final_eval()), format!("{:.0}", r.wall_s))
            })
        };
        let ((dq, dw), (sq, sw)) = (cell("td"), cell("steve"));
        let _ = writeln!(
            md,
            "| {seed} | {:.1} | {:.0} | {dq} | {dw} | {sq} | {sw} |",
            v["final_mean_return"].as_f64().unwrap_or(f64::NAN),
            v["train_seconds"].as_f64().unwrap_or(f64::NAN),
        );
    }
    Ok(md)
}

/// Updates the study runs for (the official figure shows the first 10 000).
const TOY_UPDATES: usize = 40_000;

pub fn steve_toy() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let out = root.join("runs/repro-steve-toy");
    let docs = root.join("docs/results/steve");
    std::fs::create_dir_all(&docs)?;
    let mut cmd = Command::new(&eirl);
    cmd.args([
        "toy",
        "steve",
        "--seed",
        "0",
        "--updates",
        &TOY_UPDATES.to_string(),
        "--out",
    ])
    .arg(&out);
    let s = run_for_summary(&mut cmd, &out)?;
    std::fs::copy(out.join("value_error.png"), docs.join("toy.png"))
        .context("copying the toy study's plot")?;
    let curves = s["curves"].as_array().cloned().unwrap_or_default();
    let find = |method: &str, model: &str| -> Option<Value> {
        curves
            .iter()
            .find(|c| c["method"] == method && c["model"] == model)
            .cloned()
    };
    let reach = |c: &Value, t: &str| c["updates_to_stay_below"][t].as_f64();
    let thresholds = ["100", "10", "1"];
    let mut md = format!(
        "# STEVE toy study (`cargo xtask repro steve-toy`)\n\n\
         The paper's Figure 1 as the official `toy_demo.py` runs it (`eirl toy steve --seed 0 \
         --updates {TOY_UPDATES}`): {} non-terminal chain states, true value V(s) = s, {} trials, \
         H = {}, Q ensemble {}, noisy model {} samples with jump probability {}. TD is one-table \
         Q-learning drawing 1 state per update; MVE and STEVE update each of the {} ensemble \
         tables once per update (8 states). *Updates to stay below e*: the first update after \
         which the mean value error over trials stays below e.\n\n\
         | method | model | initial MSE | final MSE | updates to stay below 100 | below 10 | below 1 |\n\
         |---|---|---|---|---|---|---|\n",
        s["nonterminal_states"].as_u64().map_or(0, |n| n + 1),
        s["trials"],
        s["horizon"],
        s["q_ensemble"],
        s["model_ensemble"],
        s["noise"],
        s["q_ensemble"],
    );
    for c in &curves {
        if c["method"] == "td" && c["model"] == "noisy" {
            continue; // the same runs as td/oracle: TD consults no model
        }
        let cells: Vec<String> = thresholds
            .iter()
            .map(|t| reach(c, t).map_or("never".into(), |u| format!("{u:.0}")))
            .collect();
        let model = if c["method"] == "td" {
            "none"
        } else {
            c["model"].as_str().unwrap_or("")
        };
        let _ = writeln!(
            md,
            "| {} | {model} | {:.1} | {:.3} | {} |",
            c["method"].as_str().unwrap_or(""),
            c["initial_mse"].as_f64().unwrap_or(f64::NAN),
            c["final_mse"].as_f64().unwrap_or(f64::NAN),
            cells.join(" | ")
        );
    }
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    };
    let fmt_ratio = |r: Option<f64>| {
        r.map_or("n/a (one never stayed below)".into(), |r| {
            format!("{r:.1}×")
        })
    };
    let (td, mve_o, st_o, mve_n, st_n) = (
        find("td", "oracle"),
        find("mve", "oracle"),
        find("steve", "oracle"),
        find("mve", "noisy"),
        find("steve", "noisy"),
    );
    let mut claims = String::new();
    if let (Some(td), Some(mo), Some(so), Some(mn), Some(sn)) = (td, mve_o, st_o, mve_n, st_n) {
        let t = "1";
        let r_mo = ratio(reach(&td, t), reach(&mo, t));
        let r_so = ratio(reach(&td, t), reach(&so, t));
        let r_sn = ratio(reach(&td, t), reach(&sn, t));
        let k = s["q_ensemble"].as_f64().unwrap_or(1.0);
        let sample_ratio = |r: Option<f64>| fmt_ratio(r.map(|r| r / k));
        let mn_final = mn["final_mse"].as_f64().unwrap_or(f64::NAN);
        let mn_init = mn["initial_mse"].as_f64().unwrap_or(f64::NAN);
        let mn_reached = reach(&mn, "100").is_some();
        let _ = write!(
            claims,
            "\n**Claim 1 (oracle model: MVE and STEVE ~5× faster than TD).** Updates to stay below \
             MSE 1: TD/MVE = {}, TD/STEVE = {}. Counted in sampled states instead (8 per ensemble \
             update, 1 per TD update): TD/MVE = {}, TD/STEVE = {}.\n\n\
             **Claim 2 (noisy model: MVE fails, STEVE converges ~2× faster than TD).** Noisy MVE \
             went from MSE {mn_init:.1} to {mn_final:.1} and {} below 100. Noisy STEVE {}; \
             TD/STEVE in updates = {} (in sampled states {}).\n",
            fmt_ratio(r_mo),
            fmt_ratio(r_so),
            sample_ratio(r_mo),
            sample_ratio(r_so),
            if mn_reached {
                "did get"
            } else {
                "never stayed"
            },
            match reach(&sn, t) {
                Some(u) => format!("stayed below MSE 1 after {u:.0} updates"),
                None => "never stayed below MSE 1".into(),
            },
            fmt_ratio(r_sn),
            sample_ratio(r_sn),
        );
    }
    md.push_str(&claims);
    md.push_str("\n![toy study](toy.png)\n");
    write_results(&docs, "toy.md", &md)?;
    readme_block(&root, "steve-toy", claims.trim())
}
