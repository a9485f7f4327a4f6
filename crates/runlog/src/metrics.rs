//! `metrics.csv` (long format: `step,wall_time,name,value`) plus TensorBoard scalars, written
//! side by side by [`MetricsLogger`].

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::atomic::atomic_write;
use crate::error::{Error, Result};
use crate::run_dir::RunDir;
use crate::tfevents::EventWriter;

/// Flush after this many rows or this much time, whichever comes first.
const FLUSH_EVERY_ROWS: usize = 256;
const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

const HEADER: [&str; 4] = ["step", "wall_time", "name", "value"];

/// One row of `metrics.csv`. Long format, so a metric first logged late needs no schema change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub step: u64,
    /// Seconds since the Unix epoch.
    pub wall_time: f64,
    pub name: String,
    pub value: f64,
}

/// Appends scalars to a run's `metrics.csv` and to a fresh TensorBoard event file in the run
/// directory. Resuming a run ([`MetricsLogger::resume`]) keeps its rows up to the checkpoint it
/// continues from. Flushes periodically and on drop.
#[derive(Debug)]
pub struct MetricsLogger {
    csv: csv::Writer<File>,
    csv_path: PathBuf,
    events: EventWriter,
    unflushed_rows: usize,
    last_flush: Instant,
}

impl MetricsLogger {
    /// Opens `run`'s metrics for appending, repairing a last line cut short by a crash.
    pub fn open(run: &RunDir) -> Result<Self> {
        let csv_path = run.metrics_path();
        let file = open_for_append(&csv_path).map_err(|e| Error::io(&csv_path, e))?;
        let needs_header = file.metadata().map_err(|e| Error::io(&csv_path, e))?.len() == 0;
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        let csv_err = |source| Error::Csv {
            path: csv_path.clone(),
            source,
        };
        if needs_header {
            csv.write_record(HEADER).map_err(csv_err)?;
            csv.flush().map_err(|e| Error::io(&csv_path, e))?;
        }
        let events =
            EventWriter::create(run.path(), unix_now()).map_err(|e| Error::io(run.path(), e))?;
        Ok(MetricsLogger {
            csv,
            csv_path,
            events,
            unflushed_rows: 0,
            last_flush: Instant::now(),
        })
    }

    /// Opens `run`'s metrics to continue from a checkpoint taken at `step`, after a clean stop
    /// or a crash. First the whole `metrics.csv` is checked: a wrong header or a row that does
    /// not parse is an error naming the file and line, before any training. Rows past `step`,
    /// which a killed process wrote after its last checkpoint, are dropped (the file is
    /// rewritten atomically), so steps never run backwards. The new TensorBoard event file
    /// starts with a session start at `step + 1`, which makes TensorBoard drop the same
    /// orphaned events from the older files (see [`EventWriter::write_session_start`]).
    pub fn resume(run: &RunDir, step: u64) -> Result<Self> {
        let csv_path = run.metrics_path();
        match fs::read(&csv_path) {
            Ok(bytes) => {
                if let Some(kept) = rows_through(&bytes, &csv_path, step)? {
                    atomic_write(&csv_path, &kept).map_err(|e| Error::io(&csv_path, e))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&csv_path, e)),
        }
        let mut logger = Self::open(run)?;
        let start = i64::try_from(step.saturating_add(1)).unwrap_or(i64::MAX);
        logger
            .events
            .write_session_start(start, unix_now())
            .and_then(|()| logger.events.flush())
            .map_err(|e| Error::io(logger.events.path(), e))?;
        Ok(logger)
    }

    /// The TensorBoard event file this logger writes.
    pub fn events_path(&self) -> &Path {
        self.events.path()
    }

    pub fn csv_path(&self) -> &Path {
        &self.csv_path
    }

    /// Logs one scalar at `step`.
    pub fn log(&mut self, step: u64, name: &str, value: f64) -> Result<()> {
        self.log_many(step, &[(name, value)])
    }

    /// Logs several scalars at the same `step` (one TensorBoard event).
    pub fn log_many(&mut self, step: u64, scalars: &[(&str, f64)]) -> Result<()> {
        let wall_time = unix_now();
        for &(name, value) in scalars {
            let row = MetricRow {
                step,
                wall_time,
                name: name.to_string(),
                value,
            };
            self.csv.serialize(&row).map_err(|source| Error::Csv {
                path: self.csv_path.clone(),
                source,
            })?;
        }
        let tags: Vec<String> = scalars.iter().map(|&(n, _)| tensorboard_tag(n)).collect();
        let tb: Vec<(&str, f32)> = tags
            .iter()
            .zip(scalars)
            .map(|(tag, &(_, v))| (tag.as_str(), v as f32))
            .collect();
        let tb_step = i64::try_from(step).unwrap_or(i64::MAX);
        self.events
            .write_scalars(tb_step, wall_time, &tb)
            .map_err(|e| Error::io(self.events.path(), e))?;
        self.unflushed_rows += scalars.len();
        if self.unflushed_rows >= FLUSH_EVERY_ROWS || self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    /// Pushes everything logged so far to the files.
    pub fn flush(&mut self) -> Result<()> {
        self.csv.flush().map_err(|e| Error::io(&self.csv_path, e))?;
        self.events
            .flush()
            .map_err(|e| Error::io(self.events.path(), e))?;
        self.unflushed_rows = 0;
        self.last_flush = Instant::now();
        Ok(())
    }
}

impl Drop for MetricsLogger {
    fn drop(&mut self) {
        // Errors cannot propagate out of drop; call `flush` explicitly to see them.
        let _ = self.flush();
    }
}

/// The TensorBoard tag of a metric, grouped as Stable-Baselines3 groups its own:
/// `rollout/…` for episodes from the training envs (`episode_return`, `episode_length`,
/// `ep_rew_mean`, `ep_len_mean`), `eval/…` for evaluations (`eval_*`), `time/…` for
/// throughput (`fps`, `time_elapsed`) and `train/…` for everything the agent reports.
/// `metrics.csv` keeps the plain names.
///
/// ```
/// assert_eq!(eirl_runlog::tensorboard_tag("loss"), "train/loss");
/// assert_eq!(eirl_runlog::tensorboard_tag("eval_mean_return"), "eval/mean_return");
/// assert_eq!(eirl_runlog::tensorboard_tag("episode_return"), "rollout/episode_return");
/// ```
pub fn tensorboard_tag(name: &str) -> String {
    const ROLLOUT: [&str; 4] = [
        "episode_return",
        "episode_length",
        "ep_rew_mean",
        "ep_len_mean",
    ];
    const TIME: [&str; 2] = ["fps", "time_elapsed"];
    if ROLLOUT.contains(&name) {
        format!("rollout/{name}")
    } else if let Some(rest) = name.strip_prefix("eval_") {
        format!("eval/{rest}")
    } else if TIME.contains(&name) {
        format!("time/{name}")
    } else {
        format!("train/{name}")
    }
}

/// Reads a `metrics.csv`, ignoring a last line cut short by a crash.
pub fn read_metrics(csv_path: &Path) -> Result<Vec<MetricRow>> {
    let bytes = fs::read(csv_path).map_err(|e| Error::io(csv_path, e))?;
    let complete = &bytes[..complete_lines_len(&bytes)];
    let mut reader = csv::Reader::from_reader(complete);
    reader
        .deserialize()
        .collect::<std::result::Result<Vec<MetricRow>, _>>()
        .map_err(|source| Error::Csv {
            path: csv_path.to_path_buf(),
            source,
        })
}

/// The `(step, value)` points of one metric, in file order.
pub fn metric_series(rows: &[MetricRow], name: &str) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r.name == name)
        .map(|r| (r.step as f64, r.value))
        .collect()
}

/// Metric names in order of first appearance.
pub fn metric_names(rows: &[MetricRow]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        if !names.contains(&r.name) {
            names.push(r.name.clone());
        }
    }
    names
}

/// Checks a whole `metrics.csv` (`bytes`, read from `path`) and keeps the rows with a step of
/// at most `last_step`, byte for byte. `None` when every complete row is kept (nothing to
/// rewrite); a cut-short last line is not a row.
fn rows_through(bytes: &[u8], path: &Path, last_step: u64) -> Result<Option<Vec<u8>>> {
    let complete = &bytes[..complete_lines_len(bytes)];
    if complete.is_empty() {
        return Ok(None);
    }
    let damaged = |line: u64, message: String| Error::Metrics {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut reader = csv::Reader::from_reader(complete);
    let headers = reader
        .headers()
        .map_err(|e| damaged(1, e.to_string()))?
        .clone();
    if headers.iter().ne(HEADER) {
        return Err(damaged(
            1,
            format!(
                "the header is `{}`, not `{}`",
                headers.iter().collect::<Vec<_>>().join(","),
                HEADER.join(",")
            ),
        ));
    }
    // Byte ranges of the rows kept; each row runs to the start of the next one.
    let mut starts = Vec::new();
    let mut keep = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            damaged(line, e.to_string())
        })?;
        let position = record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        let row: MetricRow = record
            .deserialize(Some(&headers))
            .map_err(|e| damaged(position.line(), e.to_string()))?;
        starts.push(usize::try_from(position.byte()).unwrap_or(usize::MAX));
        keep.push(row.step <= last_step);
    }
    if keep.iter().all(|&k| k) {
        return Ok(None);
    }
    let header_end = starts.first().copied().unwrap_or(complete.len());
    let mut kept = complete[..header_end].to_vec();
    for (i, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
        let end = starts.get(i + 1).copied().unwrap_or(complete.len());
        kept.extend_from_slice(&complete[starts[i]..end]);
    }
    Ok(Some(kept))
}

/// Length of the prefix of `bytes` that ends with a newline (0 if there is none).
fn complete_lines_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

fn open_for_append(path: &Path) -> std::io::Result<File> {
    if let Ok(bytes) = fs::read(path) {
        let keep = complete_lines_len(&bytes);
        if keep != bytes.len() {
            OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(keep as u64)?;
        }
    }
    OpenOptions::new().create(true).append(true).open(path)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_len_cuts_partial_tail() {
        assert_eq!(complete_lines_len(b""), 0);
        assert_eq!(complete_lines_len(b"a,b\n1,2"), 4);
        assert_eq!(complete_lines_len(b"a,b\n1,2\n"), 8);
    }

    #[test]
    fn names_in_first_appearance_order() {
        let row = |step, name: &str| MetricRow {
            step,
            wall_time: 0.0,
            name: name.into(),
            value: 1.0,
        };
        let rows = [
            row(0, "loss"),
            row(0, "return"),
            row(1, "loss"),
            row(2, "epsilon"),
        ];
        assert_eq!(metric_names(&rows), ["loss", "return", "epsilon"]);
        assert_eq!(metric_series(&rows, "loss"), [(0.0, 1.0), (1.0, 1.0)]);
    }
}
