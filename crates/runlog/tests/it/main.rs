//! End-to-end: a run directory logged to, reopened, decoded and plotted.

use std::fs;
use std::io::Write;

use eirl_runlog::{
    Error, FILE_VERSION, MetricsLogger, RunDir, plot_curves, plot_learning_curve_csv, read_events,
    read_metrics, read_scalar_events,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn event_files(run: &RunDir) -> Result<Vec<std::path::PathBuf>, std::io::Error> {
    let mut files: Vec<_> = fs::read_dir(run.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("events.out.tfevents."))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[test]
fn logged_scalars_round_trip_through_csv_and_tensorboard() -> TestResult {
    let root = tempfile::tempdir()?;
    let run = RunDir::create(root.path(), "dqn", "CartPole-v1", 1)?;
    let events_path = {
        let mut log = MetricsLogger::open(&run)?;
        log.log(0, "loss", 1.5)?;
        log.log_many(10, &[("loss", 0.75), ("episode_return", 12.0)])?;
        log.log(20, "epsilon", 0.1)?; // a metric that appears late
        log.events_path().to_path_buf()
    };

    let rows = read_metrics(&run.metrics_path())?;
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.step, r.name.as_str(), r.value.to_bits()))
        .collect();
    let expected = [
        (0, "loss", 1.5f64.to_bits()),
        (10, "loss", 0.75f64.to_bits()),
        (10, "episode_return", 12.0f64.to_bits()),
        (20, "epsilon", 0.1f64.to_bits()),
    ];
    assert_eq!(got, expected);
    assert!(rows.iter().all(|r| r.wall_time > 1.6e9));

    let (version, events) = read_scalar_events(&events_path)?;
    assert_eq!(version.as_deref(), Some(FILE_VERSION));
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.step, e.tag.as_str(), e.value.to_bits()))
        .collect();
    let tags = [
        "train/loss",
        "train/loss",
        "rollout/episode_return",
        "train/epsilon",
    ];
    let expected: Vec<_> = expected
        .iter()
        .zip(tags)
        .map(|(&(s, _, v), tag)| (s as i64, tag, (f64::from_bits(v) as f32).to_bits()))
        .collect();
    assert_eq!(got, expected);
    Ok(())
}

#[test]
fn reopening_appends_and_repairs_a_cut_line() -> TestResult {
    let root = tempfile::tempdir()?;
    let run = RunDir::create(root.path(), "dqn", "CartPole-v1", 2)?;
    {
        let mut log = MetricsLogger::open(&run)?;
        log.log(1, "loss", 1.0)?;
    }
    // A crash mid-row leaves a partial line behind.
    fs::OpenOptions::new()
        .append(true)
        .open(run.metrics_path())?
        .write_all(b"2,17000")?;
    assert_eq!(read_metrics(&run.metrics_path())?.len(), 1);

    let reopened = RunDir::open(run.path())?;
    {
        let mut log = MetricsLogger::open(&reopened)?;
        log.log(3, "loss", 0.5)?;
    }
    let steps: Vec<u64> = read_metrics(&run.metrics_path())?
        .iter()
        .map(|r| r.step)
        .collect();
    assert_eq!(steps, [1, 3]);
    let text = fs::read_to_string(run.metrics_path())?;
    assert_eq!(text.matches("step,wall_time,name,value").count(), 1);
    assert_eq!(
        event_files(&run)?.len(),
        2,
        "each session writes its own event file"
    );
    Ok(())
}

/// A process killed after its checkpoint at step 20 had logged up to step 40; the resumed one
/// continues from 20. Neither `metrics.csv` nor TensorBoard may show steps running backwards.
#[test]
fn resume_drops_rows_past_the_checkpoint_and_restarts_the_tensorboard_session() -> TestResult {
    let root = tempfile::tempdir()?;
    let run = RunDir::create(root.path(), "dqn", "CartPole-v1", 4)?;
    {
        let mut log = MetricsLogger::open(&run)?;
        for step in [10, 20, 30, 40] {
            log.log_many(step, &[("loss", step as f64), ("x,y \"quoted\"", 1.0)])?;
        }
    }
    let events = {
        let mut log = MetricsLogger::resume(&run, 20)?;
        log.log(25, "loss", 0.5)?;
        log.events_path().to_path_buf()
    };
    let rows = read_metrics(&run.metrics_path())?;
    let steps: Vec<u64> = rows.iter().map(|r| r.step).collect();
    assert_eq!(steps, [10, 10, 20, 20, 25]);
    assert_eq!(rows[1].name, "x,y \"quoted\"");
    assert!(
        fs::read_dir(run.path())?
            .all(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.'))),
        "a temp file was left behind"
    );

    let file = read_events(&events)?;
    assert_eq!(file.file_version.as_deref(), Some(FILE_VERSION));
    // TensorBoard drops earlier events with step >= 21: those at 30 and 40, not those at 20.
    assert_eq!(file.session_starts, [21]);
    assert_eq!(file.scalars.len(), 1);
    assert_eq!(event_files(&run)?.len(), 2);
    Ok(())
}

#[test]
fn damaged_metrics_are_refused_at_resume_with_file_and_line() -> TestResult {
    let root = tempfile::tempdir()?;
    let run = RunDir::create(root.path(), "dqn", "CartPole-v1", 5)?;
    for (text, line) in [
        (
            "step,wall_time,name,value\n1,2.0,loss,0.5\nten,2.0,loss,0.5\n",
            3,
        ),
        ("step,wall_time,name,value\n1,2.0,loss\n", 2),
        ("step,time,name,value\n1,2.0,loss,0.5\n", 1),
    ] {
        fs::write(run.metrics_path(), text)?;
        let err = MetricsLogger::resume(&run, 100)
            .err()
            .ok_or("damaged file accepted")?;
        assert!(
            matches!(err, Error::Metrics { line: l, .. } if l == line),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("metrics.csv") && message.contains(&format!("line {line}")),
            "{message}"
        );
        assert_eq!(
            fs::read_to_string(run.metrics_path())?,
            text,
            "the file was changed"
        );
    }
    Ok(())
}

#[test]
fn learning_curve_and_comparison_plots_are_pngs() -> TestResult {
    let root = tempfile::tempdir()?;
    let run = RunDir::create(root.path(), "dqn", "CartPole-v1", 3)?;
    {
        let mut log = MetricsLogger::open(&run)?;
        for step in 0..200u64 {
            let t = step as f64;
            log.log_many(
                step * 100,
                &[
                    ("episode_return", 10.0 + t + 5.0 * (t / 7.0).sin()),
                    ("loss", 1.0 / (1.0 + t)),
                ],
            )?;
        }
    }
    let curve = run.path().join("learning_curve.png");
    plot_learning_curve_csv(
        &run.metrics_path(),
        &curve,
        "dqn on CartPole-v1 (seed 3)",
        &[],
    )?;
    assert!(fs::read(&curve)?.starts_with(PNG_MAGIC));

    let seeds: Vec<(String, Vec<(f64, f64)>)> = (0..3)
        .map(|s| {
            let pts = (0..100).map(|i| {
                (
                    i as f64 * 1e3,
                    (i as f64 / 10.0).tanh() * 200.0 + f64::from(s) * 10.0,
                )
            });
            (format!("seed {s}"), pts.collect())
        })
        .collect();
    let cmp = root.path().join("compare.png");
    plot_curves(
        &seeds,
        &cmp,
        "DQN CartPole-v1",
        "environment steps",
        "episode return",
    )?;
    assert!(fs::read(&cmp)?.starts_with(PNG_MAGIC));

    if let Some(dir) = std::env::var_os("EIRL_RUNLOG_KEEP_PLOTS") {
        fs::copy(
            &curve,
            std::path::Path::new(&dir).join("learning_curve.png"),
        )?;
        fs::copy(&cmp, std::path::Path::new(&dir).join("compare.png"))?;
    }
    Ok(())
}
