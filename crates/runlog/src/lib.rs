//! What an eirl training run writes to disk, shared by the `eirl` CLI and `cargo xtask repro`.
//!
//! A run lives in `runs/<algo>-<env>-<seed>-<YYYYmmdd-HHMMSS>/` ([`RunDir`]) and holds
//! `config.toml`, `run.json`, `checkpoints/`, `metrics.csv` in long format
//! (`step,wall_time,name,value`) and TensorBoard `events.out.tfevents.*` files, both written by
//! [`MetricsLogger`], plus PNG learning curves (feature `plot`, on by default). Every whole-file
//! write goes through [`atomic_write`], so a crash never leaves a half-written config or plot.
//! Any agent crate (DQN, ACER, STEVE, …) logs through this crate; none of it is RL-specific.
//!
//! ```
//! use eirl_runlog::{MetricsLogger, RunDir, read_metrics};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = tempfile::tempdir()?;
//! let run = RunDir::create(root.path(), "dqn", "CartPole-v1", 42)?;
//! {
//!     let mut log = MetricsLogger::open(&run)?;
//!     log.log_many(1_000, &[("episode_return", 21.0), ("loss", 0.5)])?;
//! } // flushed on drop
//! let rows = read_metrics(&run.metrics_path())?;
//! assert_eq!(rows.len(), 2);
//! assert_eq!(rows[0].name, "episode_return");
//! # Ok(()) }
//! ```

mod atomic;
mod error;
mod metrics;
#[cfg(feature = "plot")]
mod plot;
mod proto;
mod run_dir;
mod tfevents;
mod tfrecord;

pub use atomic::{
    TEMP_PREFIX, atomic_write, atomic_write_with, remove_orphaned_temp_files, sync_dir,
};
pub use error::{Error, Result};
pub use metrics::{
    MetricRow, MetricsLogger, metric_names, metric_series, read_metrics, tensorboard_tag,
};
#[cfg(feature = "plot")]
pub use plot::{
    Chart, Curve, CurveStyle, metric_curve, plot_charts, plot_curves, plot_heatmap,
    plot_learning_curve, plot_learning_curve_csv, plot_learning_curve_with, rolling_mean,
};
pub use run_dir::{
    BEST_CHECKPOINT, CHECKPOINTS_DIR, CONFIG_FILE, EVAL_SEED, HELD_OUT_EVAL_SEED,
    LATEST_CHECKPOINT, METRICS_FILE, RUN_INFO_FILE, RunDir, RunInfo,
};
pub use tfevents::{
    EventFile, EventWriter, FILE_VERSION, ScalarEvent, read_events, read_scalar_events,
};
