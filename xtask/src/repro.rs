//! `cargo xtask repro <paper>`: re-run a paper's headline experiment with the `eirl` binary
//! (several seeds via `eirl train <algo> --env <id> --seed <s>`), then plot the seeds together
//! with `eirl_runlog::plot_curves` and write a table to `docs/results/<paper>/`.
//!
//! To add one, write `fn <paper>() -> Result<()>` here that shells out to `eirl`, and list it in
//! [`REPRODUCTIONS`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, run_streaming, workspace_root};

type Reproduction = fn() -> Result<()>;

/// Every reproduction, by the name used on the command line, with what it reproduces.
const REPRODUCTIONS: &[(&str, &str, Reproduction)] = &[
    (
        "dqn",
        "DQN on CartPole-v1 and Acrobot-v1 with rl-zoo's presets (README's dqn block)",
        dqn,
    ),
    (
        "acer",
        "ACER (Wang et al. 2017), discrete: CartPole-v1, Acrobot-v1, ablations",
        acer,
    ),
    (
        "gail",
        "GAIL (Ho & Ermon 2016) against BC at 1-25 demonstrations",
        gail,
    ),
    (
        "acer-continuous",
        "ACER with the Stochastic Dueling Network: Pendulum-v1, MountainCarContinuous-v0",
        acer_continuous,
    ),
    (
        "seed",
        "SEED RL (Espeholt et al. 2020): V-trace learner, central inference",
        crate::repro_seed::seed,
    ),
    (
        "svp",
        "SVP (Yang et al. 2020): value iteration with matrix estimation",
        crate::repro_svp::svp,
    ),
    (
        "svrl",
        "SV-RL (Yang et al. 2020) on DQN, Double and Dueling DQN",
        crate::repro_svrl::svrl,
    ),
    (
        "causal",
        "causal confusion (de Haan et al. 2019): diagnosis and interventions",
        crate::repro_causal::causal_confusion,
    ),
    (
        "steve",
        "STEVE (Buckman et al. 2018) against MVE and DDPG",
        crate::repro_steve::steve,
    ),
    (
        "steve-toy",
        "the STEVE paper's value-estimation toy study",
        crate::repro_steve::steve_toy,
    ),
];

/// The reproductions' names, for `cargo xtask repro --help`.
pub fn names() -> Vec<&'static str> {
    REPRODUCTIONS.iter().map(|r| r.0).collect()
}

/// One line per reproduction, for `cargo xtask repro --help`.
pub fn listing() -> String {
    let mut text = String::from("Reproductions:\n");
    for (name, what, _) in REPRODUCTIONS {
        let _ = writeln!(text, "  {name:<16} {what}");
    }
    text
}

pub fn run(paper: &str) -> Result<()> {
    match REPRODUCTIONS.iter().find(|(name, _, _)| *name == paper) {
        Some((_, _, reproduce)) => reproduce(),
        None => bail!("no reproduction for {paper} yet; available: {:?}", names()),
    }
}

/// One finished training run, summarised from its `metrics.csv`.
pub(crate) struct RunSummary {
    pub seed: u64,
    pub eval: Vec<(f64, f64)>,
    pub wall_s: f64,
}

impl RunSummary {
    pub fn first_reaching(&self, target: f64) -> Option<f64> {
        self.eval
            .iter()
            .find(|(_, v)| *v >= target)
            .map(|(s, _)| *s)
    }
    pub fn final_eval(&self) -> f64 {
        self.eval.last().map_or(f64::NAN, |(_, v)| *v)
    }
}

/// The `eirl` binary a sweep runs. When the sweep makes missing runs it is a private copy at
/// `out_root/eirl-<pid>` of the built binary (one per sweep process, so sweeps over disjoint
/// runs may run at once and rebuilding the workspace mid-sweep never changes the binary its
/// later runs use), removed when the sweep ends, also on error. A sweep that only tabulates
/// builds and copies nothing.
pub(crate) struct SweepBinary {
    path: PathBuf,
    owned: bool,
}

impl SweepBinary {
    /// The binary for a sweep writing under `out_root` ([`build_eirl`] when `run_missing`).
    pub(crate) fn prepare(root: &Path, out_root: &Path, run_missing: bool) -> Result<Self> {
        if !run_missing {
            return Ok(Self {
                path: out_root.join("eirl"),
                owned: false,
            });
        }
        let built = build_eirl(root)?;
        let path = out_root.join(format!("eirl-{}", std::process::id()));
        std::fs::copy(&built, &path).with_context(|| format!("copying {}", built.display()))?;
        Ok(Self { path, owned: true })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SweepBinary {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The `eirl` binary the reproductions run: `EIRL_REPRO_BIN` when set (a binary built earlier,
/// so edits to the workspace during a long sweep cannot change or break it), otherwise a fresh
/// `cargo build --release -p eirl`.
/// What `eirl train`'s summary line says: `done: N steps in Xs (R steps/s); evaluation Es of
/// it; …` (`eval_seconds` is 0 on a line without the evaluation part).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Done {
    pub steps: u64,
    pub seconds: f64,
    pub rate: f64,
    /// Of `seconds`, those spent evaluating and writing checkpoints.
    pub eval_seconds: f64,
}

/// The first `done:` line of `eirl train`'s output, parsed.
pub(crate) fn parse_done(stdout: &str) -> Option<Done> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("done: "))?;
    let (steps, rest) = line.split_once(" steps in ")?;
    let (secs, rest) = rest.split_once("s (")?;
    let (rate, rest) = rest.split_once(" steps/s)")?;
    let eval_seconds = match rest.split_once("; evaluation ") {
        Some((_, e)) => e.split_once("s of it")?.0.parse().ok()?,
        None => 0.0,
    };
    Some(Done {
        steps: steps.parse().ok()?,
        seconds: secs.parse().ok()?,
        rate: rate.parse().ok()?,
        eval_seconds,
    })
}

pub(crate) fn build_eirl(root: &Path) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("EIRL_REPRO_BIN") {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("EIRL_REPRO_BIN={} is not a file", bin.display());
        }
        println!("using EIRL_REPRO_BIN={}", bin.display());
        return Ok(bin);
    }
    run_streaming(cargo().args(["build", "--release", "-p", "eirl"]))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release").join("eirl"))
}

/// Trains one seed into its own folder under `out` and reads back its evaluation curve.
pub(crate) fn train(
    eirl: &Path,
    algo: &str,
    env: &str,
    seed: u64,
    out: &Path,
) -> Result<RunSummary> {
    train_with(eirl, algo, env, seed, out, &[])
}

/// [`train`] with extra command-line arguments (`--config`, `--steps`).
pub(crate) fn train_with(
    eirl: &Path,
    algo: &str,
    env: &str,
    seed: u64,
    out: &Path,
    extra: &[&str],
) -> Result<RunSummary> {
    let dir = out.join(format!("{env}-seed{seed}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let started = Instant::now();
    let mut cmd = std::process::Command::new(eirl);
    cmd.args([
        "train",
        algo,
        "--env",
        env,
        "--seed",
        &seed.to_string(),
        "--out",
    ])
    .arg(&dir)
    .args(extra);
    run_streaming(&mut cmd)?;
    summarize(&dir, seed, started.elapsed().as_secs_f64())
}

/// Reads the evaluation curve of the single run under `dir`.
pub(crate) fn summarize(dir: &Path, seed: u64, wall_s: f64) -> Result<RunSummary> {
    let run = run_dir_in(dir)?;
    let rows = eirl_runlog::read_metrics(&run.join(eirl_runlog::METRICS_FILE))?;
    Ok(RunSummary {
        seed,
        eval: eirl_runlog::metric_series(&rows, "eval_mean_return"),
        wall_s,
    })
}

/// DQN acceptance (issue #2): CartPole-v1 ≥ 475 within 50k steps and Acrobot-v1 ≥ −100 within
/// 100k, 20-episode greedy evaluations, seeds 0/1/2, shipped presets.
fn dqn() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let out_runs = root.join("runs").join("repro-dqn");
    let docs = root.join("docs").join("results").join("dqn");
    std::fs::create_dir_all(&docs)?;
    let mut table = String::from(
        "# DQN reproduction (`cargo xtask repro dqn`)\n\n\
         Shipped presets (`configs/dqn/`), greedy evaluation over 20 episodes every \
         `eval_interval` steps.\n\n\
         | env | target | seed | first step reaching target | final eval | wall-clock (s) |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut readme = String::from(
        "DQN (`cargo xtask repro dqn` → `docs/results/dqn/`; shipped presets from rl-zoo, seeds \
         0/1/2, greedy evaluation over 20 episodes every `eval_interval` steps):\n\n\
         | env | budget | target | seeds reaching target (first evaluation at or above it) | final eval (seeds 0/1/2) | wall-clock per run |\n\
         |---|---|---|---|---|---|\n",
    );
    for (env, target, budget) in [
        ("CartPole-v1", 475.0, "50k"),
        ("Acrobot-v1", -100.0, "100k"),
    ] {
        let mut series = Vec::new();
        let (mut firsts, mut finals, mut walls) = (Vec::new(), Vec::new(), Vec::new());
        for seed in 0..3u64 {
            let s = train(&eirl, "dqn", env, seed, &out_runs)?;
            let first = s.first_reaching(target);
            writeln!(
                table,
                "| {env} | {target} | {} | {} | {:.1} | {:.0} |",
                s.seed,
                first.map_or("not reached".to_string(), |f| format!("{f:.0}")),
                s.final_eval(),
                s.wall_s
            )?;
            firsts.push(first);
            finals.push(s.final_eval());
            walls.push(s.wall_s);
            series.push((format!("seed {}", s.seed), s.eval));
        }
        let reached = firsts.iter().flatten().count();
        writeln!(
            table,
            "| {env} | | **{reached} / 3 seeds reach the target** | | | |"
        )?;
        writeln!(
            readme,
            "| {env} | {budget} steps | ≥ {target} | {reached} / 3 ({}) | {} | {} s |",
            steps_list(&firsts, ", "),
            slashed(&finals, 1),
            span(&walls)
        )?;
        plot_eval(
            &series,
            &docs.join(format!("{env}.png")),
            &format!("DQN on {env}: evaluation mean return (20 episodes)"),
        )?;
    }
    write_results(&docs, "README.md", &table)?;
    readme_block(&root, "dqn", &readme)
}

/// A step count as `22.5k`, or `—` for none.
pub(crate) fn steps_k(steps: Option<f64>) -> String {
    steps.map_or("—".to_string(), |s| {
        let k = s / 1000.0;
        if (k - k.round()).abs() < 0.05 {
            format!("{k:.0}k")
        } else {
            format!("{k:.1}k")
        }
    })
}

/// First-reaching steps per seed joined by `sep`, as `22.5k, 25k, —`.
pub(crate) fn steps_list(reach: &[Option<f64>], sep: &str) -> String {
    reach
        .iter()
        .map(|r| steps_k(*r))
        .collect::<Vec<_>>()
        .join(sep)
}

/// Values joined by ` / ` with `decimals` digits.
pub(crate) fn slashed(xs: &[f64], decimals: usize) -> String {
    xs.iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// `min–max` of values rounded to whole numbers (one number when they agree).
pub(crate) fn span(xs: &[f64]) -> String {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min).round();
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max).round();
    if lo >= hi {
        format!("{lo:.0}")
    } else {
        format!("{lo:.0}–{hi:.0}")
    }
}

/// The median over seeds of the step at which each first reached a target, a seed that never
/// did counting as last; `None` when the median seed never reached it.
pub(crate) fn median_reach(reach: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = reach.iter().map(|r| r.unwrap_or(f64::INFINITY)).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().filter(|m| m.is_finite())
}

/// One ACER variant of the comparison: a label, its TOML override, and which mechanisms it runs.
struct AcerVariant {
    label: &'static str,
    setting: &'static str,
    truncation: bool,
    trust_region: bool,
}

const fn variant(
    label: &'static str,
    setting: &'static str,
    truncation: bool,
    trust_region: bool,
) -> AcerVariant {
    AcerVariant {
        label,
        setting,
        truncation,
        trust_region,
    }
}

/// The comparison's rows. Index 2 is the reference the ablations are compared with.
const ACER_VARIANTS: [AcerVariant; 9] = [
    variant(
        "replay ratio 0 (on-policy, A3C-like)",
        "replay_ratio = 0.0",
        true,
        true,
    ),
    variant("replay ratio 1", "replay_ratio = 1.0", true, true),
    variant("replay ratio 4 (paper: c = 10, δ = 1)", "", true, true),
    variant(
        "ratio 4, trust region off",
        "trust_region = false",
        true,
        false,
    ),
    variant(
        "ratio 4, truncation + bias correction off",
        "truncation = false",
        false,
        true,
    ),
    variant("ratio 4, c = 2", "c = 2.0", true, true),
    variant("ratio 4, c = 1.2", "c = 1.2", true, true),
    variant("ratio 4, δ = 0.01", "delta = 0.01", true, true),
    variant("ratio 4, δ = 0.001", "delta = 0.001", true, true),
];
const ACER_REFERENCE: usize = 2;

/// What one variant did over its seeds.
struct AcerRow {
    reach: Vec<Option<f64>>,
    finals: Vec<f64>,
    evals: Vec<Vec<(f64, f64)>>,
    /// Whole-run fractions (`run_*` scalars) per seed: truncated, corrected, trust region.
    truncated: Vec<f64>,
    corrected: Vec<f64>,
    trust_region: Vec<f64>,
    max_rho: f64,
    samples: f64,
}

impl AcerRow {
    fn mean_final(&self) -> f64 {
        mean_sd(&self.finals).0
    }
}

/// The last value of `name` in a finished run's `metrics.csv` under `dir`.
fn last_metric(dir: &Path, name: &str) -> Result<f64> {
    let rows = eirl_runlog::read_metrics(&run_dir_in(dir)?.join(eirl_runlog::METRICS_FILE))?;
    eirl_runlog::metric_series(&rows, name)
        .last()
        .map(|(_, v)| *v)
        .with_context(|| format!("{} logged no {name}", dir.display()))
}

/// A fraction as a percentage with enough digits to tell 0 from rare.
fn percent(f: f64) -> String {
    let p = 100.0 * f;
    if p <= 0.0 {
        "0%".to_string()
    } else if p < 0.01 {
        format!("{p:.1e}%")
    } else if p < 10.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.0}%")
    }
}

/// One sentence per mechanism for `env`, derived from the rows: how often it engaged in the
/// reference runs, and what turning it off or tightening it changed.
fn acer_verdicts(env: &str, target: f64, rows: &[AcerRow]) -> String {
    let reference = &rows[ACER_REFERENCE];
    let outcome = |r: &AcerRow| {
        format!(
            "median steps to {target} {}, mean final eval {:.0}",
            steps_k(median_reach(&r.reach)),
            r.mean_final()
        )
    };
    let mut out = String::new();
    let (truncated, corrected) = (
        mean_sd(&reference.truncated).0,
        mean_sd(&reference.corrected).0,
    );
    let trust = mean_sd(&reference.trust_region).0;
    for (engaged, frac, off, sweep, sweep_share) in [
        (
            format!(
                "truncation with bias correction (c = 10) engaged on {} (ρ_t > c) and {} \
                 (non-zero correction)",
                percent(truncated),
                percent(corrected)
            ),
            truncated.max(corrected),
            4usize,
            [5usize, 6],
            (|r: &AcerRow| mean_sd(&r.truncated).0) as fn(&AcerRow) -> f64,
        ),
        (
            format!("the trust region (δ = 1) was active on {}", percent(trust)),
            trust,
            3,
            [7, 8],
            |r: &AcerRow| mean_sd(&r.trust_region).0,
        ),
    ] {
        let identical = rows[off].evals == reference.evals;
        let _ = write!(
            out,
            "- {env}: {engaged} of the reference runs' {:.0} samples per seed (max ρ {:.2}); ",
            reference.samples, reference.max_rho
        );
        if frac <= 0.0 {
            let _ = write!(
                out,
                "turning it off cannot change an update, and the runs without it are {}. ",
                if identical {
                    "bit-identical (every evaluation equal)"
                } else {
                    "not bit-identical (a difference from floating-point order, not from the mechanism)"
                }
            );
        } else {
            let _ = write!(
                out,
                "without it: {} (with it: {}){}. ",
                outcome(&rows[off]),
                outcome(reference),
                if identical {
                    "; every evaluation equal"
                } else {
                    ""
                }
            );
        }
        let tightened: Vec<String> = sweep
            .iter()
            .map(|&i| {
                let r = &rows[i];
                let f = sweep_share(r);
                format!(
                    "{}: active on {}, {}",
                    ACER_VARIANTS[i].label.trim_start_matches("ratio 4, "),
                    percent(f),
                    outcome(r)
                )
            })
            .collect();
        let _ = writeln!(out, "Tightened — {}.", tightened.join("; "));
    }
    out
}

/// ACER's comparison in miniature (issues #4, #14; Wang et al. 2017, Figs. 1 and 3): replay
/// ratio 0 / 1 / 4, trust region off, truncation with bias correction off, and a sweep of c and
/// δ where they bind, 3 seeds each, on CartPole-v1 (steps to reach 400) and Acrobot-v1 (steps to
/// reach −100). Every run reports how often truncation, the bias correction and the trust region
/// engaged, so the table shows whether an ablation could matter.
fn acer() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let out_runs = root.join("runs").join("repro-acer");
    let docs = root.join("docs").join("results").join("acer");
    std::fs::create_dir_all(&docs)?;
    std::fs::create_dir_all(&out_runs)?;
    let envs: [(&str, f64, &str); 2] = [
        ("CartPole-v1", 400.0, "200000"),
        ("Acrobot-v1", -100.0, "300000"),
    ];
    let mut table = String::from(
        "# ACER reproduction in miniature (`cargo xtask repro acer`)\n\n\
         CartPole-v1: the paper's / openai baselines' defaults (`crates/acer/src/config.rs`); \
         Acrobot-v1: the shipped preset `configs/acer/Acrobot-v1.toml` (SB2 zoo: 16 envs, \
         ent_coef 0, linear lr decay, rewards × 0.04 in place of the zoo's VecNormalize). One \
         setting changed per row. Greedy evaluation over 20 episodes every 10k steps; seeds \
         0/1/2. *ρ > c*: share of all samples of all updates whose taken action's importance \
         weight was truncated; *correction*: share with a non-zero bias-correction term (some \
         action with ρ(a) > c); *trust region*: share whose constraint kᵀĝ ≤ δ was active \
         (means over seeds; `off` where the variant disables it).\n\n\
         | env | variant | steps to reach target (per seed) | final eval (per seed) | ρ > c | correction | trust region | max ρ | wall-clock (s, per seed) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let mut verdicts = String::new();
    let mut readme = String::from(
        "ACER (`cargo xtask repro acer` → `docs/results/acer/`; CartPole-v1 with the paper's / \
         openai baselines' defaults, 200k steps; Acrobot-v1 with its shipped preset, 300k steps; \
         seeds 0/1/2, greedy evaluation over 20 episodes every 10k steps):\n\n\
         | env | variant | first evaluation ≥ target (seeds 0/1/2) | final eval (seeds 0/1/2) | ρ > c | trust region active | wall-clock per run |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (env, target, steps) in envs {
        let mut series = Vec::new();
        let mut rows = Vec::new();
        for (i, v) in ACER_VARIANTS.iter().enumerate() {
            let cfg = out_runs.join(format!("variant{i}.toml"));
            std::fs::write(&cfg, format!("{}\neval_interval = 10000\n", v.setting))?;
            let cfg_s = cfg.to_str().context("non-UTF-8 path")?;
            let mut row = AcerRow {
                reach: Vec::new(),
                finals: Vec::new(),
                evals: Vec::new(),
                truncated: Vec::new(),
                corrected: Vec::new(),
                trust_region: Vec::new(),
                max_rho: 0.0,
                samples: 0.0,
            };
            let mut walls = Vec::new();
            for seed in 0..3u64 {
                let out = out_runs.join(format!("v{i}"));
                let s = train_with(
                    &eirl,
                    "acer",
                    env,
                    seed,
                    &out,
                    &["--config", cfg_s, "--steps", steps],
                )?;
                let dir = out.join(format!("{env}-seed{seed}"));
                row.truncated
                    .push(last_metric(&dir, "run_truncation_active")?);
                row.corrected
                    .push(last_metric(&dir, "run_correction_active")?);
                row.trust_region
                    .push(last_metric(&dir, "run_trust_region_active")?);
                row.max_rho = row.max_rho.max(last_metric(&dir, "run_max_rho")?);
                row.samples = last_metric(&dir, "run_samples")?;
                row.reach.push(s.first_reaching(target));
                row.finals.push(s.final_eval());
                walls.push(s.wall_s);
                if seed == 0 {
                    series.push((v.label.to_string(), s.eval.clone()));
                }
                row.evals.push(s.eval);
            }
            let shown = |on: bool, xs: &[f64]| {
                if on {
                    percent(mean_sd(xs).0)
                } else {
                    "off".to_string()
                }
            };
            let reach: Vec<String> = row
                .reach
                .iter()
                .map(|r| r.map_or("—".to_string(), |f| format!("{f:.0}")))
                .collect();
            writeln!(
                table,
                "| {env} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
                v.label,
                reach.join(" / "),
                slashed(&row.finals, 0),
                shown(v.truncation, &row.truncated),
                shown(v.truncation, &row.corrected),
                shown(v.trust_region, &row.trust_region),
                row.max_rho,
                slashed(&walls, 0),
            )?;
            if i <= 4 {
                writeln!(
                    readme,
                    "| {env} | {} | ≥ {target}: {} | {} | {} | {} | {} s |",
                    v.label,
                    steps_list(&row.reach, ", "),
                    slashed(&row.finals, 0),
                    shown(v.truncation, &row.truncated),
                    shown(v.trust_region, &row.trust_region),
                    span(&walls)
                )?;
            }
            rows.push(row);
        }
        verdicts.push_str(&acer_verdicts(env, target, &rows));
        plot_eval(
            &series,
            &docs.join(format!("{env}.png")),
            &format!("ACER on {env} (seed 0): evaluation mean return"),
        )?;
    }
    table.push_str(
        "\n— = target not reached within the budget. Plots show seed 0 of each variant.\n\n\
         What each mechanism did (from the rows above):\n\n",
    );
    table.push_str(&verdicts);
    write_results(&docs, "README.md", &table)?;
    readme
        .push_str("\nWhat each mechanism did (the c and δ sweep is in `docs/results/acer/`):\n\n");
    readme.push_str(&verdicts);
    readme_block(&root, "acer", &readme)
}

/// Continuous ACER (issues #4, #14; Wang et al. 2017 §5, SDN + Gaussian policy): learning
/// curves for 3 seeds on Pendulum-v1 (target ≥ −300 within 500k steps, shipped preset) and
/// MountainCarContinuous-v0 (defaults; "solved" is ≥ 90), written to
/// `docs/results/acer/continuous.md`; every sentence is derived from the runs.
fn acer_continuous() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let out_runs = root.join("runs").join("repro-acer-continuous");
    let docs = root.join("docs").join("results").join("acer");
    std::fs::create_dir_all(&docs)?;
    let mut table = String::from(
        "# Continuous ACER (`cargo xtask repro acer-continuous`)\n\n\
         Gaussian policy with the Stochastic Dueling Network (eq. 1.17, n = 5), Q^opc in the \
         policy term, Retrace with ρ̄ = min(1, ρ^(1/d)) for the critic, trust region; defaults \
         from `crates/acer/src/config.rs`, Pendulum with its shipped preset \
         (`configs/acer/Pendulum-v1.toml`: rewards × 0.1 for learning, not the paper's). \
         Greedy (mean-action) evaluation over 20 episodes; seeds 0/1/2. *best training \
         episode*: the highest undiscounted return of any training episode (stochastic policy).\n\n\
         | env | target | seed | first step reaching target | best eval | final eval | best training episode (of n) | wall-clock (s) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut summary = String::new();
    for (env, target, steps) in [
        ("Pendulum-v1", -300.0, "500000"),
        ("MountainCarContinuous-v0", 90.0, "300000"),
    ] {
        let mut series = Vec::new();
        let (mut firsts, mut finals, mut best_train, mut walls) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for seed in 0..3u64 {
            let s = train_with(&eirl, "acer", env, seed, &out_runs, &["--steps", steps])?;
            let dir = out_runs.join(format!("{env}-seed{seed}"));
            let rows =
                eirl_runlog::read_metrics(&run_dir_in(&dir)?.join(eirl_runlog::METRICS_FILE))?;
            let episodes = eirl_runlog::metric_series(&rows, "episode_return");
            let best_episode = episodes
                .iter()
                .map(|(_, v)| *v)
                .fold(f64::NEG_INFINITY, f64::max);
            let best = s
                .eval
                .iter()
                .map(|(_, v)| *v)
                .fold(f64::NEG_INFINITY, f64::max);
            let first = s.first_reaching(target);
            writeln!(
                table,
                "| {env} | {target} | {} | {} | {best:.1} | {:.1} | {best_episode:.1} ({}) | {:.0} |",
                s.seed,
                first.map_or("not reached".to_string(), |f| format!("{f:.0}")),
                s.final_eval(),
                episodes.len(),
                s.wall_s
            )?;
            firsts.push(first);
            finals.push(s.final_eval());
            best_train.push(best_episode);
            walls.push(s.wall_s);
            series.push((format!("seed {}", s.seed), s.eval));
        }
        let reached = firsts.iter().flatten().count();

        let total_k = steps.parse::<f64>().unwrap_or(f64::NAN) / 1000.0;
        let verdict = if reached == 0 {
            let train_hit = best_train.iter().filter(|b| **b >= target).count();
            format!(
                "**not solved** (≥ {target}) within {total_k:.0}k steps: final evaluations {}; \
                 {train_hit} of 3 seeds had a training episode at or above the target (best \
                 training returns {})",
                slashed(&finals, 1),
                slashed(&best_train, 1)
            )
        } else {
            format!(
                "{reached} / 3 seeds reach ≥ {target} within {total_k:.0}k steps (first at {}); \
                 final evaluations {}",
                steps_list(&firsts, " / "),
                slashed(&finals, 1)
            )
        };
        writeln!(summary, "- {env}: {verdict}; {} s per run.", span(&walls))?;
        plot_eval(
            &series,
            &docs.join(format!("{env}.png")),
            &format!("continuous ACER on {env}: evaluation mean return"),
        )?;
    }
    table.push('\n');
    table.push_str(&summary);
    write_results(&docs, "continuous.md", &table)?;
    readme_block(
        &root,
        "acer-continuous",
        &format!(
            "Continuous ACER (`cargo xtask repro acer-continuous` → \
             `docs/results/acer/continuous.md`; Gaussian policy, Stochastic Dueling Network, trust \
             region; Pendulum with its shipped preset, MountainCarContinuous with the defaults; \
             seeds 0/1/2):\n\n{summary}"
        ),
    )
}

/// Plots evaluation curves (mean return against env steps), one line per series.
pub(crate) fn plot_eval(
    series: &[(String, Vec<(f64, f64)>)],
    path: &Path,
    title: &str,
) -> Result<()> {
    eirl_runlog::plot_curves(series, path, title, "env steps", "eval mean return")?;
    Ok(())
}

/// The file under a reproduction's docs folder that records its finished runs, so sweeps
/// resume and add up across sessions.
const RECORDS: &str = "runs.json";

/// The runs recorded in `docs/runs.json` (none when the file does not exist yet).
///
/// # Errors
/// An unreadable file, or one that is not a JSON array.
pub(crate) fn load_records(docs: &Path) -> Result<Vec<serde_json::Value>> {
    let path = docs.join(RECORDS);
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(serde_json::Value::Array(runs)) => Ok(runs),
            _ => bail!("{} must hold a JSON array of runs", path.display()),
        },
    }
}

/// Replaces `docs/runs.json` atomically with `records`.
pub(crate) fn save_records(docs: &Path, records: &[serde_json::Value]) -> Result<()> {
    let text = serde_json::to_string_pretty(records)? + "\n";
    eirl_runlog::atomic_write(&docs.join(RECORDS), text.as_bytes())?;
    Ok(())
}

/// Adds one finished run to `docs/runs.json`, dropping the records `replaces` selects, and
/// returns the file's records after the write.
///
/// The file is read again just before the write, so sweeps over disjoint runs can run at once
/// in separate processes (e.g. one `EIRL_SVRL_ENVS` each) without losing each other's records;
/// only two writes within the same few microseconds could still race.
pub(crate) fn record_run(
    docs: &Path,
    record: serde_json::Value,
    replaces: impl Fn(&serde_json::Value) -> bool,
) -> Result<Vec<serde_json::Value>> {
    let mut records = load_records(docs)?;
    records.retain(|r| !replaces(r));
    records.push(record);
    save_records(docs, &records)?;
    Ok(records)
}

/// Writes a reproduction's markdown table to `docs/<file>` and echoes it.
/// Runs `cmd` (an `eirl` command writing `out/summary.json`) and parses that summary.
pub(crate) fn run_for_summary(
    cmd: &mut std::process::Command,
    out: &Path,
) -> Result<serde_json::Value> {
    run_streaming(cmd)?;
    let text = std::fs::read_to_string(out.join("summary.json"))
        .with_context(|| format!("reading {}/summary.json", out.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// A reproduction's override from the environment: the comma-separated values of `var`
/// (blank items skipped), or `default` when it is unset.
///
/// # Errors
/// An item that does not parse, named with the variable.
pub(crate) fn env_list<T: std::str::FromStr + Clone>(var: &str, default: &[T]) -> Result<Vec<T>> {
    match std::env::var(var) {
        Err(_) => Ok(default.to_vec()),
        Ok(s) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse()
                    .map_err(|_| anyhow::anyhow!("{var}: cannot parse {t:?}"))
            })
            .collect(),
    }
}

/// A single-number override from the environment ([`env_list`] with one item).
///
/// # Errors
/// A value that does not parse, or more than one value.
pub(crate) fn env_num<T: std::str::FromStr + Clone>(var: &str, default: T) -> Result<T> {
    match env_list(var, std::slice::from_ref(&default))?.as_slice() {
        [v] => Ok(v.clone()),
        [] => Ok(default),
        _ => bail!("{var}: expected one value"),
    }
}

/// A summary's number under `key` (NaN when absent).
pub(crate) fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// Mean and sample standard deviation.
pub(crate) fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// Replaces README.md's generated block `name` — the lines between `<!-- repro NAME -->` and
/// `<!-- /repro NAME -->` — with `text`, atomically.
///
/// # Errors
/// README.md unreadable, or without both markers (in that order).
pub(crate) fn readme_block(root: &Path, name: &str, text: &str) -> Result<()> {
    let path = root.join("README.md");
    let readme = std::fs::read_to_string(&path)?;
    let (open, close) = (
        format!("<!-- repro {name} -->"),
        format!("<!-- /repro {name} -->"),
    );
    let updated = splice_block(&readme, &open, &close, text)
        .with_context(|| format!("README.md needs the lines {open} and {close}"))?;
    eirl_runlog::atomic_write(&path, updated.as_bytes())?;
    println!("README.md: block `{name}` regenerated");
    Ok(())
}

/// `doc` with the text between the lines `open` and `close` replaced by `text`.
fn splice_block(doc: &str, open: &str, close: &str, text: &str) -> Result<String> {
    let start = doc.find(open).context("opening marker missing")? + open.len();
    let end = start + doc[start..].find(close).context("closing marker missing")?;
    Ok(format!(
        "{}\n{}\n{}",
        &doc[..start],
        text.trim_end(),
        &doc[end..]
    ))
}

pub(crate) fn write_results(docs: &Path, file: &str, table: &str) -> Result<()> {
    eirl_runlog::atomic_write(&docs.join(file), table.as_bytes())?;
    println!("{table}");
    println!("wrote {}", docs.display());
    Ok(())
}

/// Runs `eirl` with `args` in `cwd`, returning its standard output.
fn eirl_output(eirl: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = std::process::Command::new(eirl);
    cmd.args(args);
    crate::cmd::capture_stdout(&mut cmd)
}

/// The single run directory under `dir`.
pub(crate) fn run_dir_in(dir: &Path) -> Result<PathBuf> {
    std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .with_context(|| format!("no run directory in {}", dir.display()))
}

fn normalized(x: f64, random: f64, expert: f64) -> f64 {
    (x - random) / (expert - random)
}

/// GAIL's classic-control table in miniature (issue #6; Ho & Ermon 2016, Fig. 1): BC and GAIL
/// from 1, 4, 7 and 10 expert trajectories, 3 seeds, normalized score (random 0, expert 1).
/// Experts: scripted for CartPole and MountainCar, a DQN trained here for Acrobot. GAIL's score
/// is its final evaluation (no model selection on the true reward).
fn gail() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let out = root.join("runs").join("repro-gail");
    let docs = root.join("docs").join("results").join("gail");
    std::fs::create_dir_all(&docs)?;
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::create_dir_all(&out)?;
    let path_str = |p: &Path| p.to_str().map(str::to_string).context("non-UTF-8 path");

    // The Acrobot expert: DQN with the shipped preset.
    let dqn_dir = out.join("acrobot-expert");
    let dqn_dir_s = path_str(&dqn_dir)?;
    eirl_output(
        &eirl,
        &[
            "train",
            "dqn",
            "--env",
            "Acrobot-v1",
            "--seed",
            "0",
            "--out",
            &dqn_dir_s,
        ],
    )?;
    let dqn_run = path_str(&run_dir_in(&dqn_dir)?)?;

    let envs: [(&str, Vec<&str>, &str); 3] = [
        (
            "CartPole-v1",
            vec!["--expert", "cartpole-balancer"],
            "100000",
        ),
        ("Acrobot-v1", vec!["--run", &dqn_run], "200000"),
        (
            "MountainCar-v0",
            vec!["--expert", "mountaincar-pump"],
            "200000",
        ),
    ];
    let mut table = String::from(
        "# GAIL reproduction in miniature (`cargo xtask repro gail`)\n\n\
         Normalized score (random policy 0, expert 1) of the final policy, 20 evaluation \
         episodes, seeds 0/1/2 (mean, then per seed). Shipped presets; GAIL budgets: CartPole \
         100k, Acrobot 200k, MountainCar 200k env steps.\n\n\
         | env | expert return | random return | trajectories | BC | GAIL | GAIL per seed |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let mut readme = String::from(
        "GAIL and BC (`cargo xtask repro gail` → `docs/results/gail/`; experts: the scripted \
         balancer for CartPole, a DQN trained with the shipped preset for Acrobot, the scripted \
         pump for MountainCar; demonstrations from `eirl demo record`; BC and GAIL (TRPO) from \
         1 / 4 / 7 / 10 expert trajectories, seeds 0/1/2; normalized score of the final policy \
         over 20 episodes: random 0, expert 1):\n\n\
         | env | GAIL budget | BC (1 / 4 / 7 / 10 trajectories) | GAIL (1 / 4 / 7 / 10) | GAIL ≥ 0.9 from 4 trajectories on |\n\
         |---|---|---|---|---|\n",
    );
    for (env, expert_args, steps) in &envs {
        let mut bc_curve = Vec::new();
        let mut gail_curve = Vec::new();
        let mut gail_per_seed: Vec<(usize, Vec<f64>)> = Vec::new();
        for n in [1usize, 4, 7, 10] {
            let demos = out.join(format!("{env}-{n}.npz"));
            let demos_s = path_str(&demos)?;
            let n_s = n.to_string();
            let mut args = vec!["demo", "record", "--episodes", &n_s, "--out", &demos_s];
            args.extend(expert_args.iter());
            // "... expert mean return <x>, random <y>"
            let line = eirl_output(&eirl, &args)?;
            let number_after = |key: &str| -> Result<f64> {
                let rest = line.split(key).nth(1).context("demo record output")?;
                let token: String = rest
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '-' || *c == '.')
                    .collect();
                token
                    .parse::<f64>()
                    .with_context(|| format!("parsing `{key}` in {line}"))
            };
            let expert = number_after("expert mean return")?;
            let random = number_after("random")?;
            let (mut bc, mut gail_scores) = (Vec::new(), Vec::new());
            for seed in 0..3u64 {
                let seed_s = seed.to_string();
                let bc_dir = path_str(&out.join(format!("bc-{env}-{n}-{seed}")))?;
                eirl_output(
                    &eirl,
                    &[
                        "train", "bc", "--env", env, "--demos", &demos_s, "--seed", &seed_s,
                        "--out", &bc_dir,
                    ],
                )?;
                let bc_eval = eirl_output(
                    &eirl,
                    &[
                        "eval",
                        "--run",
                        &path_str(&run_dir_in(Path::new(&bc_dir))?)?,
                        "--episodes",
                        "20",
                        "--seed",
                        "1000000",
                    ],
                )?;
                let mean = bc_eval
                    .lines()
                    .last()
                    .and_then(|l| l.split(' ').next())
                    .and_then(|f| f.strip_prefix("mean_return="))
                    .and_then(|v| v.parse::<f64>().ok())
                    .context("bc eval line")?;
                bc.push(normalized(mean, random, expert));
                let g_dir = out.join(format!("gail-{env}-{n}-{seed}"));
                let g_dir_s = path_str(&g_dir)?;
                eirl_output(
                    &eirl,
                    &[
                        "train", "gail", "--env", env, "--demos", &demos_s, "--seed", &seed_s,
                        "--steps", steps, "--out", &g_dir_s,
                    ],
                )?;
                let rows = eirl_runlog::read_metrics(
                    &run_dir_in(&g_dir)?.join(eirl_runlog::METRICS_FILE),
                )?;
                let final_eval = eirl_runlog::metric_series(&rows, "eval_mean_return")
                    .last()
                    .map(|(_, v)| *v)
                    .context("gail run has no evaluation")?;
                gail_scores.push(normalized(final_eval, random, expert));
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let per_seed: Vec<String> = gail_scores.iter().map(|s| format!("{s:.2}")).collect();
            writeln!(
                table,
                "| {env} | {expert:.1} | {random:.1} | {n} | {:.2} | {:.2} | {} |",
                mean(&bc),
                mean(&gail_scores),
                per_seed.join(" / ")
            )?;
            bc_curve.push((n as f64, mean(&bc)));
            gail_curve.push((n as f64, mean(&gail_scores)));
            gail_per_seed.push((n, gail_scores.clone()));
            println!(
                "{env} n={n}: BC {:.2}, GAIL {:.2}",
                mean(&bc),
                mean(&gail_scores)
            );
        }
        eirl_runlog::plot_curves(
            &[("BC", bc_curve.clone()), ("GAIL", gail_curve.clone())],
            &docs.join(format!("{env}.png")),
            &format!("{env}: normalized score vs expert trajectories"),
            "expert trajectories",
            "normalized score",
        )?;
        let column = |curve: &[(f64, f64)]| {
            curve
                .iter()
                .map(|(_, v)| format!("{v:.2}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let misses: Vec<String> = gail_per_seed
            .iter()
            .zip(&gail_curve)
            .filter(|((n, _), (_, m))| *n >= 4 && *m < 0.9)
            .map(|((n, seeds), (_, m))| {
                format!("missed at {n}: {m:.2}, seeds {}", slashed(seeds, 2))
            })
            .collect();
        let steps_k_s = steps_k(steps.parse::<f64>().ok());
        writeln!(
            readme,
            "| {env} | {steps_k_s} steps | {} | {} | {} |",
            column(&bc_curve),
            column(&gail_curve),
            if misses.is_empty() {
                "met at 4, 7 and 10".to_string()
            } else {
                misses.join("; ")
            }
        )?;
    }
    write_results(&docs, "README.md", &table)?;
    readme_block(&root, "gail", &readme)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{REPRODUCTIONS, load_records, record_run, splice_block};
    use serde_json::json;

    #[test]
    fn done_lines_are_parsed_with_and_without_evaluation_seconds() {
        let with = "x\ndone: 50000 steps in 12.2s (4098 steps/s); evaluation 0.3s of it; best eval \
                    mean 500.00; run r\n";
        let d = super::parse_done(with).expect("parsed");
        assert_eq!(d.steps, 50_000);
        assert!((d.seconds - 12.2).abs() < 1e-12 && (d.eval_seconds - 0.3).abs() < 1e-12);
        assert!((d.rate - 4098.0).abs() < 1e-9);
        let without = "done: 300000 steps in 9.5s (31576 steps/s); best eval mean 500.00";
        let d = super::parse_done(without).expect("parsed");
        assert!(d.steps == 300_000 && d.eval_seconds.abs() < 1e-12);
        assert!(super::parse_done("done: many steps").is_none());
        assert!(super::parse_done("nothing").is_none());
    }

    /// Every reproduction writes a README block, so README.md must hold its markers (a missing
    /// one would fail only after hours of runs).
    #[test]
    fn readme_has_a_block_for_every_reproduction() {
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
        )
        .unwrap();
        for (name, _, _) in REPRODUCTIONS {
            for marker in [
                format!("<!-- repro {name} -->"),
                format!("<!-- /repro {name} -->"),
            ] {
                assert!(readme.contains(&marker), "README.md lacks {marker}");
            }
        }
    }

    #[test]
    fn splice_replaces_only_the_named_block() {
        let doc = "a\n<!-- repro x -->\nold\nlines\n<!-- /repro x -->\nb\n<!-- repro y -->\nkeep\n<!-- /repro y -->\n";
        let out = splice_block(doc, "<!-- repro x -->", "<!-- /repro x -->", "new\n").unwrap();
        assert_eq!(
            out,
            "a\n<!-- repro x -->\nnew\n<!-- /repro x -->\nb\n<!-- repro y -->\nkeep\n<!-- /repro y -->\n"
        );
        // Idempotent: splicing the same text again changes nothing.
        let again = splice_block(&out, "<!-- repro x -->", "<!-- /repro x -->", "new").unwrap();
        assert_eq!(again, out);
        assert!(splice_block("no markers", "<!-- repro x -->", "<!-- /repro x -->", "t").is_err());
        assert!(
            splice_block(
                "<!-- repro x --> only",
                "<!-- repro x -->",
                "<!-- /repro x -->",
                "t"
            )
            .is_err()
        );
    }

    /// Two sweeps in separate processes, each holding the records it read at its start, keep
    /// each other's runs; a rerun of the same run replaces its record.
    #[test]
    fn concurrent_sweeps_keep_each_others_records() {
        let dir = tempfile::tempdir().unwrap();
        let run =
            |env: &str, seed: u64, score: f64| json!({"env": env, "seed": seed, "score": score});
        let same = |env: &'static str, seed: u64| {
            move |r: &serde_json::Value| r["env"] == env && r["seed"].as_u64() == Some(seed)
        };
        let a = record_run(
            dir.path(),
            run("Acrobot-v1", 0, -90.0),
            same("Acrobot-v1", 0),
        )
        .unwrap();
        assert_eq!(a.len(), 1);
        let b = record_run(dir.path(), run("Pendulum", 0, -150.0), same("Pendulum", 0)).unwrap();
        assert_eq!(b.len(), 2, "the second sweep sees the first one's run");
        record_run(
            dir.path(),
            run("Acrobot-v1", 1, -85.0),
            same("Acrobot-v1", 1),
        )
        .unwrap();
        let again =
            record_run(dir.path(), run("Pendulum", 0, -140.0), same("Pendulum", 0)).unwrap();
        assert_eq!(again.len(), 3, "{again:?}");
        let back = load_records(dir.path()).unwrap();
        assert_eq!(back, again);
        let pendulum: Vec<_> = back.iter().filter(|r| r["env"] == "Pendulum").collect();
        assert_eq!(pendulum.len(), 1);
        assert_eq!(pendulum[0]["score"], json!(-140.0));
    }
}
