//! `eirl plot RUN...`: one metric of several runs on one chart, the picture papers are compared
//! with. Runs of the same algorithm on the same env (different seeds) are one curve: their mean,
//! with a ± one standard deviation band across seeds, after interpolating every seed onto common
//! steps. Per-episode metrics (`episode_return`) are first smoothed by a rolling mean.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use eirl_runlog::{Chart, Curve, CurveStyle, RunDir, metric_curve, metric_names, read_metrics};

/// `eirl plot`.
#[derive(Args)]
pub struct PlotArgs {
    /// Run directories written by `eirl train`.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long, default_value = "plot.png")]
    pub out: PathBuf,
    /// The metric to plot (a `name` of the runs' metrics.csv).
    #[arg(long, default_value = "eval_mean_return")]
    pub metric: String,
    /// Legend labels, one per curve (an algorithm on an env), in the order curves first appear
    /// among RUN...; default `<algo> on <env> (<n> seeds)`.
    #[arg(long)]
    pub label: Vec<String>,
    /// Rolling-mean window for per-episode metrics (`episode_return`, `episode_length`).
    #[arg(long, default_value_t = 100)]
    pub window: usize,
}

/// Most points a mean curve gets when seeds were logged at different steps.
const MAX_GRID: usize = 1000;

/// One run's curve of the metric.
struct RunCurve {
    algo: String,
    env: String,
    seed: u64,
    curve: Curve,
}

/// Runs `eirl plot`.
pub fn run(args: &PlotArgs) -> Result<()> {
    let style = CurveStyle {
        window: args.window.max(1),
        ..CurveStyle::default()
    };
    let runs = args
        .runs
        .iter()
        .map(|dir| read_run(dir, &args.metric, &style))
        .collect::<Result<Vec<_>>>()?;
    let groups = group(&runs);
    if !args.label.is_empty() && args.label.len() != groups.len() {
        bail!(
            "{} --label given for {} curves ({})",
            args.label.len(),
            groups.len(),
            groups
                .iter()
                .map(|g| format!("{} on {}", g[0].algo, g[0].env))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut curves = Vec::new();
    for (i, members) in groups.iter().enumerate() {
        let mut curve = combine(members)?;
        if let Some(label) = args.label.get(i) {
            curve.label.clone_from(label);
        }
        curves.push(curve);
    }
    let chart = Chart {
        caption: String::new(),
        x_label: x_label(runs.iter().map(|r| r.algo.as_str())).into(),
        y_label: args.metric.clone(),
        curves,
        y_range: None,
    };
    eirl_runlog::plot_charts(&[chart], &args.out, &args.metric)
        .with_context(|| format!("drawing {}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// One run directory's curve of `metric`.
fn read_run(dir: &Path, metric: &str, style: &CurveStyle) -> Result<RunCurve> {
    let run = RunDir::open(dir).with_context(|| format!("opening run {}", dir.display()))?;
    let info = run.read_run_info()?;
    let rows = read_metrics(&run.metrics_path())
        .with_context(|| format!("reading {}", run.metrics_path().display()))?;
    let curve = metric_curve(&rows, metric, style);
    if curve.points.is_empty() {
        bail!(
            "{} logged no `{metric}` (its metrics: {})",
            dir.display(),
            metric_names(&rows).join(", ")
        );
    }
    Ok(RunCurve {
        algo: info.algo,
        env: info.env,
        seed: info.seed,
        curve,
    })
}

/// Runs grouped by algorithm and env, in the order each group first appears.
fn group(runs: &[RunCurve]) -> Vec<Vec<&RunCurve>> {
    let mut groups: Vec<Vec<&RunCurve>> = Vec::new();
    for r in runs {
        match groups
            .iter_mut()
            .find(|g| g[0].algo == r.algo && g[0].env == r.env)
        {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    groups
}

/// A group's curve: a single run as it is (with its own band, e.g. evaluation ± std); several
/// seeds as their mean ± std across seeds on common steps.
fn combine(members: &[&RunCurve]) -> Result<Curve> {
    let Some(first) = members.first() else {
        bail!("an empty group of runs");
    };
    let name = format!("{} on {}", first.algo, first.env);
    if let [one] = members {
        return Ok(Curve {
            label: format!("{name} (seed {})", one.seed),
            raw: Vec::new(),
            ..one.curve.clone()
        });
    }
    let series: Vec<&[(f64, f64)]> = members.iter().map(|m| m.curve.points.as_slice()).collect();
    let steps = common_steps(&series).with_context(|| format!("{name}: seeds"))?;
    let mut points = Vec::with_capacity(steps.len());
    let mut band = Vec::with_capacity(steps.len());
    for &x in &steps {
        let ys: Vec<f64> = series.iter().map(|s| interpolate(s, x)).collect();
        let (mean, std) = mean_std(&ys);
        points.push((x, mean));
        band.push((x, mean - std, mean + std));
    }
    Ok(Curve {
        label: format!(
            "{name} (seeds {}: mean ± std)",
            members
                .iter()
                .map(|m| m.seed.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        points,
        band,
        raw: Vec::new(),
    })
}

/// Steps every series covers: the shared steps when all were logged at the same ones (evaluation
/// every `eval_interval`), else the union of their steps inside the range they all cover
/// (thinned evenly to at most [`MAX_GRID`]).
fn common_steps(series: &[&[(f64, f64)]]) -> Result<Vec<f64>> {
    let Some(first) = series.first() else {
        return Ok(Vec::new());
    };
    let xs = |s: &[(f64, f64)]| s.iter().map(|p| p.0).collect::<Vec<f64>>();
    let first_xs = xs(first);
    if series.iter().all(|s| xs(s) == first_xs) {
        return Ok(first_xs);
    }
    let lo = series
        .iter()
        .filter_map(|s| s.first().map(|p| p.0))
        .fold(f64::NEG_INFINITY, f64::max);
    let hi = series
        .iter()
        .filter_map(|s| s.last().map(|p| p.0))
        .fold(f64::INFINITY, f64::min);
    if lo > hi {
        bail!("the runs share no range of steps ({lo} > {hi})");
    }
    let mut all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.iter().map(|p| p.0))
        .filter(|&x| x >= lo && x <= hi)
        .collect();
    all.sort_by(f64::total_cmp);
    all.dedup_by(|a, b| (*a - *b).abs() <= f64::EPSILON * b.abs().max(1.0));
    if all.len() > MAX_GRID {
        let stride = all.len() as f64 / MAX_GRID as f64;
        all = (0..MAX_GRID)
            .map(|i| all[((i as f64 * stride) as usize).min(all.len() - 1)])
            .collect();
    }
    Ok(all)
}

/// `y` at `x` by linear interpolation between the nearest logged steps (held constant past the
/// ends). `series` is in step order; of several values at one step the last counts.
fn interpolate(series: &[(f64, f64)], x: f64) -> f64 {
    let after = series.partition_point(|p| p.0 <= x);
    match (after.checked_sub(1).map(|i| series[i]), series.get(after)) {
        (Some(a), Some(b)) if b.0 > a.0 => a.1 + (x - a.0) / (b.0 - a.0) * (b.1 - a.1),
        (Some(a), _) => a.1,
        (None, Some(b)) => b.1,
        (None, None) => f64::NAN,
    }
}

/// Mean and (population, numpy's default) standard deviation.
fn mean_std(ys: &[f64]) -> (f64, f64) {
    let n = ys.len().max(1) as f64;
    let mean = ys.iter().sum::<f64>() / n;
    let var = ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// What one step is for these algorithms (their shared unit, else plain `step`).
fn x_label<'a>(algos: impl Iterator<Item = &'a str>) -> &'static str {
    let unit = |algo: &str| match algo {
        "bc" => "epoch",
        "dagger" => "round",
        _ => "env step",
    };
    let units: Vec<&str> = algos.map(unit).collect();
    match units.first() {
        Some(u) if units.iter().all(|v| v == u) => u,
        _ => "step",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12
    }

    #[test]
    fn interpolation_is_linear_between_steps_and_flat_past_the_ends() {
        let s = [(0.0, 0.0), (10.0, 10.0), (20.0, 0.0)];
        assert!(close(interpolate(&s, 5.0), 5.0));
        assert!(close(interpolate(&s, 15.0), 5.0));
        assert!(close(interpolate(&s, 10.0), 10.0));
        assert!(close(interpolate(&s, -3.0), 0.0));
        assert!(close(interpolate(&s, 30.0), 0.0));
    }

    #[test]
    fn common_steps_are_shared_steps_else_the_overlap() -> Result<()> {
        let a = [(0.0, 1.0), (5.0, 1.0), (10.0, 1.0)];
        assert_eq!(common_steps(&[&a, &a])?, vec![0.0, 5.0, 10.0]);
        let b = [(2.0, 1.0), (7.0, 1.0), (12.0, 1.0)];
        assert_eq!(common_steps(&[&a, &b])?, vec![2.0, 5.0, 7.0, 10.0]);
        let c = [(20.0, 1.0)];
        assert!(common_steps(&[&a, &c]).is_err());
        Ok(())
    }

    fn run(algo: &str, seed: u64, points: Vec<(f64, f64)>) -> RunCurve {
        RunCurve {
            algo: algo.into(),
            env: "CartPole-v1".into(),
            seed,
            curve: Curve::line("x", points),
        }
    }

    #[test]
    fn seeds_of_one_algo_and_env_become_a_mean_with_a_std_band() -> Result<()> {
        let runs = [
            run("dqn", 0, vec![(0.0, 0.0), (10.0, 10.0)]),
            run("acer", 0, vec![(0.0, 1.0)]),
            // Logged at other steps: interpolated onto the first seed's.
            run("dqn", 1, vec![(0.0, 2.0), (5.0, 4.0), (10.0, 30.0)]),
        ];
        let groups = group(&runs);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].len(), 2);
        assert_eq!(groups[1][0].algo, "acer");
        let mean = combine(&groups[0])?;
        // Steps 0, 5, 10: seed 0 gives 0, 5, 10; seed 1 gives 2, 4, 30.
        let want = [(0.0, 1.0, 1.0), (5.0, 4.5, 0.5), (10.0, 20.0, 10.0)];
        assert_eq!(mean.points.len(), 3);
        for ((p, b), (x, m, sd)) in mean.points.iter().zip(&mean.band).zip(want) {
            assert!(close(p.0, x) && close(p.1, m), "{p:?}");
            assert!(close(b.1, m - sd) && close(b.2, m + sd), "{b:?}");
        }
        assert!(mean.label.contains("seeds 0, 1"), "{}", mean.label);
        let single = combine(&groups[1])?;
        assert!(single.band.is_empty());
        assert_eq!(x_label(["bc", "bc"].into_iter()), "epoch");
        assert_eq!(x_label(["bc", "dqn"].into_iter()), "step");
        Ok(())
    }

    /// A run directory with evaluations `(step, mean, std)`.
    fn synthetic_run(root: &Path, seed: u64, evals: &[(u64, f64, f64)]) -> Result<PathBuf> {
        let dir = RunDir::create(root, "dqn", "CartPole-v1", seed)?;
        let mut log = eirl_runlog::MetricsLogger::open(&dir)?;
        for &(step, mean, std) in evals {
            log.log_many(
                step,
                &[("eval_mean_return", mean), ("eval_std_return", std)],
            )?;
        }
        log.flush()?;
        Ok(dir.path().to_path_buf())
    }

    #[test]
    fn plots_two_synthetic_runs_into_a_png() -> Result<()> {
        let root = tempfile::tempdir()?;
        let a = synthetic_run(root.path(), 0, &[(0, 10.0, 1.0), (100, 50.0, 5.0)])?;
        let b = synthetic_run(root.path(), 1, &[(0, 20.0, 2.0), (100, 90.0, 9.0)])?;
        let out = root.path().join("plots").join("cmp.png");
        let args = PlotArgs {
            runs: vec![a.clone(), b],
            out: out.clone(),
            metric: "eval_mean_return".into(),
            label: Vec::new(),
            window: 100,
        };
        super::run(&args)?;
        let bytes = std::fs::read(&out)?;
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        let missing = PlotArgs {
            runs: vec![a],
            out: root.path().join("none.png"),
            metric: "nope".into(),
            label: Vec::new(),
            window: 100,
        };
        let err = super::run(&missing).err().map(|e| format!("{e:#}"));
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("no `nope`") && e.contains("eval_mean_return")),
            "{err:?}"
        );
        Ok(())
    }
}
