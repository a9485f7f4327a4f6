//! `cargo xtask repro causal`: causal confusion in imitation learning (de Haan et al. 2019) on
//! MountainCar-v0 (10 seeds) and MountainCarContinuous-v0 (5 seeds; the stand-in for the
//! paper's Hopper), each seed through `eirl causal diagnose` and `eirl causal intervene`
//! (policy execution with 50 episodes, expert queries with 1000): the paper's Figure 4
//! (return vs demonstration samples), Figures 7/8 in miniature (return vs intervention
//! episodes / expert queries, against BC, dropout and DAgger) and its Table 2 shape, in
//! `docs/results/causal/`.
//!
//! GAIL on CONFOUNDED observations (the paper's environment-interaction baseline) runs on the
//! first 3 seeds: demonstrations from `eirl demo record --env MountainCar-v0-confounded --starts
//! rich`, then `eirl train gail` with the shipped MountainCar preset (200k env steps).
//!
//! `EIRL_CAUSAL_SEEDS` (a count, default 10; the continuous task runs half as many) restricts
//! the sweep.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Result;
use serde_json::Value;

use crate::cmd::{capture_stdout, run_streaming, workspace_root};
use crate::repro::{
    build_eirl, env_num, mean_sd, num, readme_block, run_for_summary, write_results,
};

/// Intervention episodes of policy execution (the acceptance asks for ≤ 50).
const EPISODES: usize = 50;
/// Expert queries of expert-query interventions (and DAgger's budget).
const QUERIES: usize = 1000;
/// Seeds of the GAIL baseline (each is a 200k-step training run).
const GAIL_SEEDS: u64 = 3;
/// Expert episodes GAIL imitates.
const GAIL_DEMO_EPISODES: usize = 20;

/// GAIL on `MountainCar-v0-confounded`: the final greedy evaluation's mean return, the env
/// steps trained and the wall-clock seconds.
fn gail(eirl: &Path, root: &Path, seed: u64, dir: &Path) -> Result<(f64, f64, f64)> {
    std::fs::create_dir_all(dir)?;
    let demos = dir.join("demos.npz");
    let mut rec = Command::new(eirl);
    rec.args([
        "demo",
        "record",
        "--expert",
        "mountaincar-pump",
        "--env",
        "MountainCar-v0-confounded",
        "--starts",
        "rich",
        "--episodes",
        &GAIL_DEMO_EPISODES.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .arg("--out")
    .arg(&demos);
    run_streaming(&mut rec)?;
    let mut train = Command::new(eirl);
    train
        .args([
            "train",
            "gail",
            "--env",
            "MountainCar-v0-confounded",
            "--seed",
        ])
        .arg(seed.to_string())
        .arg("--config")
        .arg(root.join("configs/gail/MountainCar-v0.toml"))
        .arg("--demos")
        .arg(&demos)
        .arg("--out")
        .arg(dir.join("runs"));
    let start = std::time::Instant::now();
    let out = capture_stdout(&mut train)?;
    let secs = start.elapsed().as_secs_f64();
    let field = |key: &str| {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.trim_end_matches(';').parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let steps = crate::repro::parse_done(&out).map_or(f64::NAN, |d| d.steps as f64);
    Ok((field("mean_return="), steps, secs))
}

fn causal(eirl: &Path, env: &str, args: &[&str], seed: u64, out: &Path) -> Result<Value> {
    let mut cmd = Command::new(eirl);
    cmd.arg("causal")
        .args(args)
        .args(["--env", env, "--seed", &seed.to_string()])
        .arg("--out")
        .arg(out);
    run_for_summary(&mut cmd, out)
}

fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// `median (mean ± sd)`.
fn stats(xs: &[f64]) -> String {
    let (m, s) = mean_sd(xs);
    format!("{:.1} ({m:.1} ± {s:.1})", median(xs))
}

/// `(used, return)` points of a curve array.
fn curve(v: &Value) -> Vec<(usize, f64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["used"].as_u64().unwrap_or(0) as usize,
                        p["mean_return"].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The return of a curve at budget `b`: the last point with `used ≤ b`.
fn at(c: &[(usize, f64)], b: usize) -> f64 {
    c.iter()
        .take_while(|(u, _)| *u <= b)
        .last()
        .map_or(f64::NAN, |(_, r)| *r)
}

/// Mean over seeds of each curve at the union of their budgets.
fn mean_curve(curves: &[Vec<(usize, f64)>]) -> Vec<(f64, f64)> {
    let mut xs: Vec<usize> = curves.iter().flatten().map(|(u, _)| *u).collect();
    xs.sort_unstable();
    xs.dedup();
    xs.into_iter()
        .filter_map(|x| {
            let ys: Vec<f64> = curves
                .iter()
                .map(|c| at(c, x))
                .filter(|y| y.is_finite())
                .collect();
            (ys.len() == curves.len()).then(|| (x as f64, ys.iter().sum::<f64>() / ys.len() as f64))
        })
        .collect()
}

fn level(y: f64, x_max: f64) -> Vec<(f64, f64)> {
    vec![(0.0, y), (x_max, y)]
}

/// The tasks: env, seeds (a default of 10 scaled by `EIRL_CAUSAL_SEEDS`), whether GAIL runs,
/// and the paper's Table 2 anchors (policy execution, expert queries).
struct Task {
    env: &'static str,
    seeds: u64,
    gail: bool,
    anchors: Option<(&'static str, &'static str)>,
}

pub fn causal_confusion() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let seeds: u64 = env_num("EIRL_CAUSAL_SEEDS", 10)?;
    let docs = root.join("docs").join("results").join("causal");
    std::fs::create_dir_all(&docs)?;
    let tasks = [
        Task {
            env: "MountainCar-v0",
            seeds,
            gail: true,
            anchors: Some(("−137 / −145", "−140 / −165")),
        },
        Task {
            env: "MountainCarContinuous-v0",
            seeds: seeds.div_ceil(2),
            gail: false,
            anchors: None,
        },
    ];
    let mut md = format!(
        "# Causal confusion in imitation learning\n\n\
         Generated by `cargo xtask repro causal`: per seed `eirl causal diagnose`, `eirl causal \
         intervene --mode policy-execution --budget {EPISODES}` and `eirl causal intervene --mode \
         expert-query --budget {QUERIES}`, all at the official settings (`pimdh/causal-confusion`): \
         100k expert steps from the wide MountainCar start distribution, MLPs [50, 50] (plain, 5000 \
         updates) and [50, 50, 50] (graph-parameterized, 10 000 updates), batch 64, Adam 1e-3, 300 \
         training samples, 20 evaluation episodes from Gymnasium's start distribution on seeds \
         shared by every method of a run. The experts are scripted energy pumps (push along the \
         velocity), where the official code loads a DQN. CONFOUNDED = state + previous action \
         (`<env>-confounded`), ORIGINAL = state + a random action (`<env>-original`). The paper's \
         continuous task is Hopper (MuJoCo, not in eirl yet); MountainCarContinuous-v0 with the \
         same confounding stands in for it. Returns are mean episode returns; cells give the \
         median over seeds, then mean ± sd.\n\n"
    );
    let mut readme = String::from(
        "Causal confusion in imitation learning (`cargo xtask repro causal`, official settings, \
         scripted energy-pump experts; `docs/results/causal/`; medians over seeds, mean episode \
         returns):",
    );
    for task in &tasks {
        let (section, line) = env_section(&eirl, &root, task, &docs)?;
        md.push_str(&section);
        readme.push_str("\n\n");
        readme.push_str(&line);
    }
    write_results(&docs, "README.md", &md)?;
    readme_block(&root, "causal", &readme)
}

/// One env's section of the results file, and its sentences for the README block.
fn env_section(eirl: &Path, root: &Path, task: &Task, docs: &Path) -> Result<(String, String)> {
    let env = task.env;
    let seeds = task.seeds;
    let out_root = root.join("runs").join("repro-causal").join(env);
    let (mut diag, mut pe, mut eq) = (Vec::new(), Vec::new(), Vec::new());
    let start = std::time::Instant::now();
    for seed in 0..seeds {
        let dir = out_root.join(format!("s{seed}"));
        diag.push(causal(
            eirl,
            env,
            &["diagnose"],
            seed,
            &dir.join("diagnose"),
        )?);
        let budget = EPISODES.to_string();
        pe.push(causal(
            eirl,
            env,
            &[
                "intervene",
                "--mode",
                "policy-execution",
                "--budget",
                &budget,
            ],
            seed,
            &dir.join("policy-execution"),
        )?);
        let budget = QUERIES.to_string();
        eq.push(causal(
            eirl,
            env,
            &["intervene", "--mode", "expert-query", "--budget", &budget],
            seed,
            &dir.join("expert-query"),
        )?);
    }
    let mut gail_runs = Vec::new();
    for seed in 0..seeds.min(if task.gail { GAIL_SEEDS } else { 0 }) {
        gail_runs.push(gail(
            eirl,
            root,
            seed,
            &out_root.join(format!("s{seed}")).join("gail"),
        )?);
    }
    let minutes = start.elapsed().as_secs_f64() / 60.0;
    let n = diag.len();
    let col = |runs: &[Value], k: &str| runs.iter().map(|r| num(r, k)).collect::<Vec<_>>();

    let mut md = format!("## {env}\n\n{n} seeds, {minutes:.1} min.\n\n");

    // Figure 4.
    let sizes: Vec<u64> = diag[0]["points"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["samples"].as_u64()).collect())
        .unwrap_or_default();
    let point = |run: &Value, samples: u64, key: &str| {
        run["points"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["samples"].as_u64() == Some(samples)))
            .map_or(f64::NAN, |p| num(p, key))
    };
    let _ = writeln!(
        md,
        "### Diagnosis (Figure 4): more information, worse imitation\n\n\
         | training samples | BC ORIGINAL | BC CONFOUNDED | seeds with CONFOUNDED < ORIGINAL |\n|---:|---:|---:|---:|"
    );
    let mut fewest_worse = n;
    let mut fig4 = vec![
        (String::from("BC ORIGINAL (mean of seeds)"), Vec::new()),
        (String::from("BC CONFOUNDED (mean of seeds)"), Vec::new()),
    ];
    for &s in &sizes {
        let o: Vec<f64> = diag
            .iter()
            .map(|r| point(r, s, "original_return"))
            .collect();
        let c: Vec<f64> = diag
            .iter()
            .map(|r| point(r, s, "confounded_return"))
            .collect();
        let worse = o.iter().zip(&c).filter(|(a, b)| b < a).count();
        fewest_worse = fewest_worse.min(worse);
        let _ = writeln!(
            md,
            "| {s} | {} | {} | {worse} / {n} |",
            stats(&o),
            stats(&c)
        );
        fig4[0].1.push((s as f64, mean_sd(&o).0));
        fig4[1].1.push((s as f64, mean_sd(&c).0));
    }
    let expert = col(&diag, "expert_return");
    let x_max = sizes.last().copied().unwrap_or(1) as f64;
    fig4.push(("expert".into(), level(mean_sd(&expert).0, x_max)));
    eirl_runlog::plot_curves(
        &fig4,
        &docs.join(format!("{env}-diagnose.png")),
        &format!("{env}: BC return vs training samples"),
        "training samples",
        "mean return",
    )?;
    let orig = col(&diag, "original_return");
    let conf = col(&diag, "confounded_return");
    let (mo, mc) = (median(&orig), median(&conf));
    let _ = writeln!(
        md,
        "\nExpert: {}. At the official 300 samples the median CONFOUNDED return ({mc:.1}) is {} \
         the median ORIGINAL return ({mo:.1}): {}.\n\n![diagnosis]({env}-diagnose.png)\n",
        stats(&expert),
        if mc < mo { "below" } else { "not below" },
        if mc < mo {
            "the confusion the paper reports is reproduced"
        } else {
            "the paper's confusion is not reproduced here"
        }
    );

    // Table 2 shape.
    let pe_curves: Vec<_> = pe.iter().map(|r| curve(&r["curve"])).collect();
    let eq_curves: Vec<_> = eq.iter().map(|r| curve(&r["curve"])).collect();
    let dagger_curves: Vec<_> = eq.iter().map(|r| curve(&r["dagger"])).collect();
    let best: Vec<f64> = pe
        .iter()
        .map(|r| {
            r["graph_returns"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|g| num(g, "mean_return"))
                        .fold(f64::NEG_INFINITY, f64::max)
                })
                .unwrap_or(f64::NAN)
        })
        .collect();
    let pe_at = |b: usize| pe_curves.iter().map(|c| at(c, b)).collect::<Vec<_>>();
    let eq_at = |b: usize| eq_curves.iter().map(|c| at(c, b)).collect::<Vec<_>>();
    let dagger_final: Vec<f64> = dagger_curves
        .iter()
        .map(|c| c.last().map_or(f64::NAN, |p| p.1))
        .collect();
    let dagger_used: Vec<f64> = dagger_curves
        .iter()
        .map(|c| c.last().map_or(f64::NAN, |p| p.0 as f64))
        .collect();
    let (pe_anchor, eq_anchor) = task.anchors.unwrap_or(("—", "—"));
    let gail_row = if gail_runs.is_empty() {
        String::new()
    } else {
        format!(
            "| GAIL on CONFOUNDED, {:.0}k env steps, {GAIL_DEMO_EPISODES} expert episodes ({} seeds, {:.0} s per run) | {} | — |\n",
            median(&gail_runs.iter().map(|g| g.1).collect::<Vec<_>>()) / 1000.0,
            gail_runs.len(),
            median(&gail_runs.iter().map(|g| g.2).collect::<Vec<_>>()),
            stats(&gail_runs.iter().map(|g| g.0).collect::<Vec<_>>()),
        )
    };
    let _ = writeln!(
        md,
        "### Interventions (Table 2 shape)\n\n\
         | method | return | paper (MountainCar, disentangled / entangled) |\n|---|---:|---:|\n\
         | expert | {} | — |\n\
         | BC ORIGINAL | {} | — |\n\
         | BC CONFOUNDED | {} | — |\n\
         | input dropout (p = 0.5), CONFOUNDED | {} | — |\n\
         | graph-parameterized, all features | {} | — |\n\
         | policy execution, 20 episodes (official default) | {} | {pe_anchor} |\n\
         | policy execution, {EPISODES} episodes (median {:.0} env steps) | {} | — |\n\
         | expert queries, 100 | {} | — |\n\
         | expert queries, {QUERIES} | {} | {eq_anchor} |\n\
         | DAgger on CONFOUNDED, ≥ {QUERIES} queries (median {:.0} used) | {} | — |\n\
         {gail_row}\
         | best single graph (evaluation oracle, not an intervention) | {} | — |\n",
        stats(&col(&pe, "expert_return")),
        stats(&col(&pe, "original_return")),
        stats(&col(&pe, "confounded_return")),
        stats(&col(&pe, "dropout_return")),
        stats(&col(&pe, "full_graph_return")),
        stats(&pe_at(20)),
        median(&col(&pe, "intervention_env_steps")),
        stats(&pe_at(EPISODES)),
        stats(&eq_at(100)),
        stats(&eq_at(QUERIES)),
        median(&dagger_used),
        stats(&dagger_final),
        stats(&best),
    );

    // Chosen graphs and the acceptance measure.
    let mut chosen = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for r in &pe {
        chosen
            .entry(r["chosen_graph"].as_str().unwrap_or("?").to_string())
            .or_default()
            .0 += 1;
    }
    for r in &eq {
        chosen
            .entry(r["chosen_graph"].as_str().unwrap_or("?").to_string())
            .or_default()
            .1 += 1;
    }
    let _ = writeln!(
        md,
        "Graphs are [position, velocity, previous-action slot]; the expert acts on the velocity \
         alone, so [0, 1, 0] is its causal graph.\n\n| chosen graph | policy execution ({EPISODES} episodes) | expert queries ({QUERIES}) |\n|---|---:|---:|"
    );
    for (g, (a, b)) in &chosen {
        let _ = writeln!(md, "| {g} | {a} / {n} | {b} / {n} |");
    }
    let gaps: Vec<f64> = pe.iter().map(|r| num(r, "gap_recovered")).collect();
    let half: Vec<Option<usize>> = pe
        .iter()
        .zip(&pe_curves)
        .map(|(r, c)| {
            let (o, cf) = (num(r, "original_return"), num(r, "confounded_return"));
            c.iter()
                .find(|(_, y)| *y >= cf + 0.5 * (o - cf))
                .map(|(u, _)| *u)
        })
        .collect();
    let reached = half.iter().flatten().count();
    let mut firsts: Vec<f64> = half.iter().flatten().map(|&u| u as f64).collect();
    firsts.sort_by(f64::total_cmp);
    let med_gap = median(&gaps);
    let _ = writeln!(
        md,
        "\nShare of the ORIGINAL − CONFOUNDED gap recovered by policy execution after {EPISODES} \
         episodes: median {med_gap:.2} over seeds with a gap ({} of {n}). {reached} of {n} seeds \
         reach half of the gap within {EPISODES} episodes{}; the acceptance (≥ half of the gap \
         within ≤ 50 episodes, median of seeds) is {}.\n",
        gaps.iter().filter(|g| g.is_finite()).count(),
        if firsts.is_empty() {
            String::new()
        } else {
            format!(" (median first episode {:.0})", median(&firsts))
        },
        if med_gap >= 0.5 { "met" } else { "not met" }
    );

    // Curves.
    let pe_mean = mean_curve(&pe_curves);
    let lv = |k: &str, x: f64| level(mean_sd(&col(&pe, k)).0, x);
    eirl_runlog::plot_curves(
        &[
            ("policy execution (mean of seeds)".to_string(), pe_mean),
            (
                "BC ORIGINAL".to_string(),
                lv("original_return", EPISODES as f64),
            ),
            (
                "BC CONFOUNDED".to_string(),
                lv("confounded_return", EPISODES as f64),
            ),
            ("dropout".to_string(), lv("dropout_return", EPISODES as f64)),
            ("expert".to_string(), lv("expert_return", EPISODES as f64)),
        ],
        &docs.join(format!("{env}-policy-execution.png")),
        &format!("{env}: return vs intervention episodes"),
        "intervention episodes",
        "mean return",
    )?;
    let q_max = dagger_curves
        .iter()
        .chain(&eq_curves)
        .flatten()
        .map(|p| p.0 as f64)
        .fold(1.0, f64::max);
    eirl_runlog::plot_curves(
        &[
            (
                "expert queries (mean of seeds)".to_string(),
                mean_curve(&eq_curves),
            ),
            (
                "DAgger, CONFOUNDED (mean of seeds)".to_string(),
                mean_curve(&dagger_curves),
            ),
            ("BC ORIGINAL".to_string(), lv("original_return", q_max)),
            ("BC CONFOUNDED".to_string(), lv("confounded_return", q_max)),
            ("expert".to_string(), lv("expert_return", q_max)),
        ],
        &docs.join(format!("{env}-expert-query.png")),
        &format!("{env}: return vs expert queries"),
        "expert queries",
        "mean return",
    )?;
    let _ = writeln!(
        md,
        "![policy execution]({env}-policy-execution.png)\n\n![expert queries]({env}-expert-query.png)\n\n\
         Per-seed summaries: `runs/repro-causal/{env}/s<seed>/{{diagnose,policy-execution,expert-query}}/summary.json`.\n"
    );

    // The README's sentences, from the same numbers.
    let paper = |a: &str| {
        if a == "—" {
            String::new()
        } else {
            format!("paper: {a}; ")
        }
    };
    let eq_final = eq_at(QUERIES);
    let empty = eq
        .iter()
        .filter(|r| r["chosen_graph"].as_str() == Some("[0, 0, 0]"))
        .count();
    let mut line = format!(
        "{env}, {n} seeds: with 300 training samples BC on CONFOUNDED observations (state + \
         previous action) returns {mc:.1} against {mo:.1} on ORIGINAL ones (expert {:.1}); at \
         every sample count from {} to {}, at least {fewest_worse} / {n} seeds do worse on \
         CONFOUNDED. Policy execution: {:.1} after 20 episodes ({}official budget), {:.1} after {EPISODES} \
         (median {:.0} env steps), {reached} / {n} seeds past half of the gap. Expert queries: \
         {:.1} after {QUERIES} ({}mean {:.1}{}). DAgger on CONFOUNDED observations: {:.1} after a median {:.0} \
         queries",
        median(&expert),
        sizes.first().copied().unwrap_or(0),
        sizes.last().copied().unwrap_or(0),
        median(&pe_at(20)),
        paper(pe_anchor),
        median(&pe_at(EPISODES)),
        median(&col(&pe, "intervention_env_steps")),
        median(&eq_final),
        paper(eq_anchor),
        mean_sd(&eq_final).0,
        match empty {
            0 => String::new(),
            k => format!("; {k} / {n} seeds end on the empty graph"),
        },
        median(&dagger_final),
        median(&dagger_used),
    );
    if !gail_runs.is_empty() {
        let _ = write!(
            line,
            "; GAIL on CONFOUNDED observations: {:.1} after {:.0}k env steps ({} seeds)",
            median(&gail_runs.iter().map(|g| g.0).collect::<Vec<_>>()),
            median(&gail_runs.iter().map(|g| g.1).collect::<Vec<_>>()) / 1000.0,
            gail_runs.len(),
        );
    }
    line.push('.');
    Ok((md, line))
}
