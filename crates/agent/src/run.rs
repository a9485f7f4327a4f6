//! The training loop every agent runs in: steps until done, evaluates on a cadence, keeps the
//! best and latest checkpoints, writes metrics (CSV + TensorBoard), shows progress, resumes.

use std::collections::VecDeque;
use std::time::Instant;

use eirl_envs::{EvalStats, normalized_score};
use eirl_models::Checkpoint;
use eirl_runlog::{
    BEST_CHECKPOINT, EVAL_SEED, LATEST_CHECKPOINT, MetricsLogger, RunDir, read_metrics,
};
use indicatif::{HumanCount, ProgressBar, ProgressState, ProgressStyle};
use tracing::info;

use crate::agent::{Agent, AgentError, ScoreReference, StepInfo};
use crate::settings::ConfigError;

/// Checkpoint metadata key of the best evaluation mean so far.
pub const BEST_EVAL_KEY: &str = "best_eval_mean";
/// Checkpoint metadata keys of the normalized score's anchors.
pub const EXPERT_RETURN_KEY: &str = "expert_mean_return";
pub const RANDOM_RETURN_KEY: &str = "random_mean_return";

/// What a call to [`train`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// Steps taken in this call (a resumed run counts from where it resumed).
    pub steps: u64,
    /// Wall-clock seconds of the loop.
    pub seconds: f64,
    /// Of `seconds`, those spent evaluating and writing checkpoints (the rest is training).
    pub eval_seconds: f64,
    /// Best evaluation mean over the whole run (resumed runs include earlier evaluations).
    pub best_eval_mean: f64,
    /// The last evaluation (always one at the end of the run).
    pub final_eval: Option<EvalStats>,
    /// The expert and random returns, for agents that know them.
    pub score_reference: Option<ScoreReference>,
}

fn save(agent: &dyn Agent, run: &RunDir, name: &str, best: f64) -> Result<(), AgentError> {
    let mut ck: Checkpoint = agent.checkpoint();
    ck.set_meta(BEST_EVAL_KEY, best.to_string());
    if let Some(r) = agent.score_reference() {
        ck.set_meta(EXPERT_RETURN_KEY, r.expert_mean_return.to_string());
        ck.set_meta(RANDOM_RETURN_KEY, r.random_mean_return.to_string());
    }
    ck.save(&run.checkpoints_dir().join(name))?;
    Ok(())
}

/// The best evaluation mean a checkpoint records (`-inf` when it records none).
fn recorded_best(ck: &Checkpoint) -> f64 {
    ck.meta(BEST_EVAL_KEY)
        .and_then(|b| b.parse().ok())
        .unwrap_or(f64::NEG_INFINITY)
}

/// Restores `agent` from `run`'s latest checkpoint for `--resume`, after removing the temp files
/// a killed process left behind; returns the best evaluation mean so far.
///
/// The best is the larger of the two checkpoints' records: an evaluation that sets a new best
/// writes `best.safetensors` before `latest.safetensors` (see [`train`]), so a crash between
/// the two leaves `best` ahead of `latest`, and `latest`'s record alone would let a worse
/// policy overwrite the better one.
fn resume_from(agent: &mut dyn Agent, run: &RunDir) -> Result<f64, AgentError> {
    let removed = run.remove_orphaned_temp_files()?;
    if removed > 0 {
        info!("removed {removed} temp file(s) left by an interrupted write");
    }
    let ck = Checkpoint::load(&run.checkpoints_dir().join(LATEST_CHECKPOINT))?;
    agent.restore(&ck)?;
    let mut best = recorded_best(&ck);
    let best_path = run.checkpoints_dir().join(BEST_CHECKPOINT);
    if best_path.is_file() {
        best = best.max(recorded_best(&Checkpoint::load(&best_path)?));
    }
    info!(steps = agent.steps(), "resumed {}", run.path().display());
    Ok(best)
}

/// Trains `agent` in `run` until [`Agent::is_done`]. With `resume` it first restores the run's
/// latest checkpoint (and its best evaluation so far), and drops the metrics a killed process
/// wrote after that checkpoint (see [`MetricsLogger::resume`]); a damaged `metrics.csv` is
/// refused before any step.
///
/// Every step's finished episodes are logged (`episode_return`, `episode_length`). Every
/// [`Agent::scalar_interval`] steps (and at the end) one row holds the mean of each training
/// scalar over the interval, the latest run totals, the mean return and length of the last 100
/// episodes (`ep_rew_mean`, `ep_len_mean`) and the run's steps per second (`fps`). Each
/// `eval_interval` steps, and at the end, the greedy policy is evaluated on
/// `eval_episodes` envs seeded from [`EVAL_SEED`] (`eval_mean_return`, `eval_std_return`);
/// a better mean replaces `best.safetensors`, and `latest.safetensors` is always rewritten.
/// At the end `learning_curve.png` is drawn from `metrics.csv`.
pub fn train(agent: &mut dyn Agent, run: &RunDir, resume: bool) -> Result<RunReport, AgentError> {
    let mut best = if resume {
        resume_from(agent, run)?
    } else {
        f64::NEG_INFINITY
    };
    let settings = agent.settings();
    let total = settings.total_steps;
    if agent.is_done() {
        return Err(ConfigError(format!(
            "the run already has {} of {total} steps; pass a larger --steps (total_steps)",
            agent.steps()
        ))
        .into());
    }
    info!("run directory {}", run.path().display());
    let mut log = if resume {
        MetricsLogger::resume(run, agent.steps())?
    } else {
        MetricsLogger::open(run)?
    };
    let bar = progress_bar(total);
    bar.set_position(agent.steps());
    let started = Instant::now();
    let start_steps = agent.steps();
    let mut recent = RecentEpisodes::default();
    let interval = settings.eval_interval;
    let scalar_interval = agent.scalar_interval().max(1);
    let mut window = IntervalScalars::default();
    let mut final_eval = None;
    let mut eval_seconds = 0.0;
    while !agent.is_done() {
        let before = agent.steps();
        let report = agent.step()?;
        let step = agent.steps();
        if before == start_steps {
            warn_if_rounded(total, step - before);
        }
        for ep in &report.finished {
            recent.push(ep.episode_return, ep.length);
            log.log_many(
                step,
                &[
                    ("episode_return", ep.episode_return),
                    ("episode_length", ep.length as f64),
                ],
            )?;
        }
        window.add(&report);
        if step / scalar_interval != before / scalar_interval || agent.is_done() {
            let mut row = window.take();
            if let Some((rew, len)) = recent.means() {
                row.extend([("ep_rew_mean", rew), ("ep_len_mean", len)]);
            }
            let seconds = started.elapsed().as_secs_f64();
            if seconds > 0.0 {
                row.push(("fps", (step - start_steps) as f64 / seconds));
            }
            log.log_many(step, &row)?;
        }
        if before / interval != step / interval || agent.is_done() {
            let eval_started = Instant::now();
            let eval = agent.evaluate(settings.eval_episodes, EVAL_SEED)?;
            log.log_many(
                step,
                &[
                    ("eval_mean_return", eval.mean()),
                    ("eval_std_return", eval.std()),
                ],
            )?;
            // Invariant: `best.safetensors` holds a policy that scored the highest best-eval
            // value any checkpoint of the run records. So a new best is written before
            // `latest`: a crash between the two leaves `best` ahead (its value too, which
            // `resume_from` takes), never `latest` claiming a best no file holds.
            if eval.mean() > best {
                best = eval.mean();
                save(agent, run, BEST_CHECKPOINT, best)?;
            }
            save(agent, run, LATEST_CHECKPOINT, best)?;
            log.flush()?;
            eval_seconds += eval_started.elapsed().as_secs_f64();
            let line = format!(
                "step {step}: eval mean {:.2} ± {:.2} over {} episodes (best {best:.2})",
                eval.mean(),
                eval.std(),
                eval.returns.len()
            );
            // Without a terminal the bar is hidden; keep the evaluations in the log instead.
            if bar.is_hidden() {
                info!("{line}");
            } else {
                bar.println(line);
            }
            final_eval = Some(eval);
        }
        bar.set_position(step);
        if let Some(r) = recent.last() {
            let (mean, _) = recent.means().unwrap_or((r, 0.0));
            let last = final_eval
                .as_ref()
                .map_or_else(|| "—".to_string(), |e| format!("{:.1}", e.mean()));
            bar.set_message(format!("return {r:.1} (mean100 {mean:.1}) eval {last}"));
        }
    }
    bar.finish();
    if !bar.is_hidden() {
        // indicatif leaves the cursor after the final bar; what is printed next starts a line.
        eprintln!();
    }
    log.flush()?;
    drop(log);
    let seconds = started.elapsed().as_secs_f64();
    draw_learning_curve(run, agent)?;
    Ok(RunReport {
        steps: agent.steps() - start_steps,
        seconds,
        eval_seconds,
        best_eval_mean: best,
        final_eval,
        score_reference: agent.score_reference(),
    })
}

/// Agents step in whole iterations (a rollout of every env, an epoch): say so when
/// `total_steps` is not a multiple of one, rather than running past it silently.
fn warn_if_rounded(total: u64, per_step: u64) {
    if per_step > 1 && total % per_step != 0 {
        let ends = total.div_ceil(per_step) * per_step;
        tracing::warn!(
            "total_steps = {total} is not a multiple of this agent's {per_step}-step iterations \
             (num_envs × steps per env); the run ends at {ends} steps"
        );
    }
}

/// The bar of [`train`]: integer step rates (`1,234/s`), the latest episode and evaluation.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} steps ({rate}, eta {eta}) {msg}",
    )
    .map(|style| {
        style
            .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", HumanCount(state.per_sec().max(0.0).round() as u64));
            })
            .progress_chars("=> ")
    });
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// The last 100 training episodes (SB3's `ep_info_buffer`).
#[derive(Default)]
struct RecentEpisodes {
    episodes: VecDeque<(f64, usize)>,
}

impl RecentEpisodes {
    const LEN: usize = 100;

    fn push(&mut self, episode_return: f64, length: usize) {
        if self.episodes.len() == Self::LEN {
            self.episodes.pop_front();
        }
        self.episodes.push_back((episode_return, length));
    }

    fn last(&self) -> Option<f64> {
        self.episodes.back().map(|e| e.0)
    }

    /// Mean return and mean length, once an episode has ended.
    fn means(&self) -> Option<(f64, f64)> {
        let n = self.episodes.len() as f64;
        (!self.episodes.is_empty()).then(|| {
            let (r, l) = self
                .episodes
                .iter()
                .fold((0.0, 0.0), |(r, l), e| (r + e.0, l + e.1 as f64));
            (r / n, l / n)
        })
    }
}

/// The training scalars of one logging interval: the mean of each [`StepInfo::scalars`] value
/// over the steps that reported it, and the latest [`StepInfo::totals`].
#[derive(Default)]
struct IntervalScalars {
    sums: Vec<(&'static str, f64, u32)>,
    totals: Vec<(&'static str, f64)>,
}

impl IntervalScalars {
    fn add(&mut self, step: &StepInfo) {
        for &(name, value) in &step.scalars {
            match self.sums.iter_mut().find(|s| s.0 == name) {
                Some(s) => {
                    s.1 += value;
                    s.2 += 1;
                }
                None => self.sums.push((name, value, 1)),
            }
        }
        for &(name, value) in &step.totals {
            match self.totals.iter_mut().find(|s| s.0 == name) {
                Some(s) => s.1 = value,
                None => self.totals.push((name, value)),
            }
        }
    }

    /// The interval's row (means, then totals), emptying the window.
    fn take(&mut self) -> Vec<(&'static str, f64)> {
        let means = self
            .sums
            .drain(..)
            .map(|(n, sum, k)| (n, sum / f64::from(k)));
        means.chain(self.totals.drain(..)).collect()
    }
}

/// The machine-readable result line of `eirl train` and `eirl eval`:
/// `mean_return=<x> std_return=<y> episodes=<n>`, plus ` normalized_score=<s>` when the expert's
/// and a random policy's returns are known.
pub fn result_line(eval: &EvalStats, reference: Option<ScoreReference>) -> String {
    let score = reference
        .and_then(|r| normalized_score(eval.mean(), r.random_mean_return, r.expert_mean_return))
        .map(|s| format!(" normalized_score={s:.4}"))
        .unwrap_or_default();
    format!(
        "mean_return={:.4} std_return={:.4} episodes={}{score}",
        eval.mean(),
        eval.std(),
        eval.returns.len()
    )
}

/// The expert and random returns a checkpoint was saved with, if any.
pub fn checkpoint_score_reference(ck: &Checkpoint) -> Option<ScoreReference> {
    let get = |k: &str| ck.meta(k).and_then(|v| v.parse::<f64>().ok());
    ScoreReference::from_returns(get(EXPERT_RETURN_KEY), get(RANDOM_RETURN_KEY))
}

/// `learning_curve.png`: episode and evaluation returns for online agents, every logged metric
/// for offline ones (which have no episodes). A failure to draw is logged, not fatal.
fn draw_learning_curve(run: &RunDir, agent: &dyn Agent) -> Result<(), AgentError> {
    let rows = read_metrics(&run.metrics_path())?;
    let png = run.path().join("learning_curve.png");
    let seed = run.read_run_info().map(|i| i.seed).unwrap_or_default();
    let title = format!("{} on {} (seed {seed})", agent.algo(), agent.env_id());
    let online: &[&str] = &["episode_return", "eval_mean_return"];
    let metrics = if rows.iter().any(|r| r.name == "episode_return") {
        online
    } else {
        &[]
    };
    // A step is the agent's own unit (see [`Agent`]): an epoch of BC, a round of DAgger.
    let x_label = match agent.algo() {
        "bc" => "epoch",
        "dagger" => "round",
        _ => "env step",
    };
    let style = eirl_runlog::CurveStyle {
        x_label: x_label.into(),
        ..eirl_runlog::CurveStyle::default()
    };
    if let Err(e) = eirl_runlog::plot_learning_curve_with(&rows, &png, &title, metrics, &style) {
        tracing::warn!("could not draw {}: {e}", png.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use eirl_envs::Actions;
    use eirl_runlog::{MetricRow, read_events};

    use super::*;
    use crate::StepInfo;
    use crate::meta;
    use crate::settings::RunSettings;

    /// Counts ten steps at a time, reports its step count every step (as a scalar and as a
    /// total) and evaluates to a fixed score.
    struct Counter {
        steps: u64,
        total_steps: u64,
        score: f64,
        scalar_interval: u64,
    }

    impl Agent for Counter {
        fn algo(&self) -> &'static str {
            "counter"
        }
        fn env_id(&self) -> &str {
            "CartPole-v1"
        }
        fn settings(&self) -> RunSettings {
            RunSettings {
                total_steps: self.total_steps,
                eval_interval: 50,
                eval_episodes: 1,
            }
        }
        fn steps(&self) -> u64 {
            self.steps
        }
        fn scalar_interval(&self) -> u64 {
            self.scalar_interval
        }
        fn greedy_actions(&self, _obs: &[f32], n: usize) -> Result<Actions, AgentError> {
            Ok(Actions::Discrete(vec![0; n]))
        }
        fn step(&mut self) -> Result<StepInfo, AgentError> {
            self.steps += 10;
            Ok(StepInfo {
                finished: Vec::new(),
                scalars: vec![("count", self.steps as f64)],
                totals: vec![("seen", self.steps as f64)],
            })
        }
        fn evaluate(&self, _episodes: usize, _seed: u64) -> Result<EvalStats, AgentError> {
            Ok(EvalStats {
                returns: vec![self.score],
                lengths: vec![1],
            })
        }
        fn checkpoint(&self) -> Checkpoint {
            let mut ck = Checkpoint::new();
            ck.insert("w", vec![1], vec![0.0]);
            meta::stamp(&mut ck, self.algo(), self.env_id(), self.steps);
            ck
        }
        fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
            self.steps = meta::verify(ck, self.algo(), self.env_id())?;
            Ok(())
        }
    }

    fn counter(total_steps: u64, score: f64) -> Counter {
        Counter {
            steps: 0,
            total_steps,
            score,
            scalar_interval: 1,
        }
    }

    #[test]
    fn scalars_are_interval_means_and_totals_the_latest_value() -> Result<(), AgentError> {
        let root = tempfile::tempdir().map_err(AgentError::agent)?;
        let run =
            RunDir::create(root.path(), "counter", "CartPole-v1", 0).map_err(AgentError::agent)?;
        let mut agent = Counter {
            scalar_interval: 30,
            ..counter(100, 1.0)
        };
        train(&mut agent, &run, false)?;
        let rows = read_metrics(&run.metrics_path())?;
        let series = |name: &str| -> Vec<(u64, f64)> {
            rows.iter()
                .filter(|r| r.name == name)
                .map(|r| (r.step, r.value))
                .collect()
        };
        // Steps 10, 20, 30 | 40, 50, 60 | 70, 80, 90 | 100 (the end closes the last interval).
        assert_eq!(
            series("count"),
            [(30, 20.0), (60, 50.0), (90, 80.0), (100, 100.0)]
        );
        assert_eq!(
            series("seen"),
            [(30, 30.0), (60, 60.0), (90, 90.0), (100, 100.0)]
        );
        assert_eq!(series("fps").len(), 4);
        let events = read_events(&newest_event_file(&run)?)?;
        let tags: std::collections::BTreeSet<&str> =
            events.scalars.iter().map(|e| e.tag.as_str()).collect();
        for tag in ["train/count", "train/seen", "time/fps", "eval/mean_return"] {
            assert!(tags.contains(tag), "no {tag} in {tags:?}");
        }
        Ok(())
    }

    /// A run of 100 steps (checkpoints at 50 and 100) under a fresh temp dir.
    fn finished_run(root: &Path) -> Result<RunDir, AgentError> {
        let run = RunDir::create(root, "counter", "CartPole-v1", 0).map_err(AgentError::agent)?;
        train(&mut counter(100, 1.0), &run, false)?;
        Ok(run)
    }

    fn append(path: &Path, text: &str) -> Result<(), AgentError> {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(AgentError::agent)
    }

    fn newest_event_file(run: &RunDir) -> Result<std::path::PathBuf, AgentError> {
        let mut files: Vec<_> = std::fs::read_dir(run.path())
            .map_err(AgentError::agent)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().contains("events.out.tfevents"))
            .collect();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .pop()
            .ok_or_else(|| AgentError::agent(std::io::Error::other("no event file")))
    }

    #[test]
    fn resume_drops_what_a_killed_process_logged_after_its_checkpoint() -> Result<(), AgentError> {
        let root = tempfile::tempdir().map_err(AgentError::agent)?;
        let run = finished_run(root.path())?;
        // Killed at step 140 of a longer run, after the checkpoint at 100, with a temp file
        // half written.
        append(&run.metrics_path(), "120,1.0,count,120\n140,1.0,stale,1\n")?;
        let orphan = run.checkpoints_dir().join(".eirl-tmp-AbC123");
        std::fs::write(&orphan, b"half").map_err(AgentError::agent)?;

        let report = train(&mut counter(200, 1.0), &run, true)?;
        assert_eq!(report.steps, 100);
        assert!(!orphan.exists());
        let rows: Vec<MetricRow> = read_metrics(&run.metrics_path())?;
        assert!(
            rows.iter().all(|r| r.name != "stale"),
            "a stale row survived"
        );
        assert!(
            rows.windows(2).all(|w| w[0].step <= w[1].step),
            "steps run backwards: {:?}",
            rows.iter().map(|r| r.step).collect::<Vec<_>>()
        );
        assert_eq!(
            rows.iter()
                .filter(|r| r.step == 120 && r.name == "count")
                .count(),
            1
        );
        let events = read_events(&newest_event_file(&run)?)?;
        assert_eq!(events.session_starts, [101]);
        Ok(())
    }

    #[test]
    fn damaged_metrics_stop_a_resume_before_any_step() -> Result<(), AgentError> {
        let root = tempfile::tempdir().map_err(AgentError::agent)?;
        let run = finished_run(root.path())?;
        let lines = std::fs::read_to_string(run.metrics_path())
            .map_err(AgentError::agent)?
            .lines()
            .count();
        append(&run.metrics_path(), "110,1.0,count\n")?;
        let mut agent = counter(200, 1.0);
        let err = train(&mut agent, &run, true).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.contains("metrics.csv") && err.contains(&format!("line {}", lines + 1)),
            "{err}"
        );
        assert_eq!(agent.steps, 100, "it trained before refusing");
        Ok(())
    }

    #[test]
    fn a_crash_between_best_and_latest_keeps_the_better_best() -> Result<(), AgentError> {
        let root = tempfile::tempdir().map_err(AgentError::agent)?;
        let run = finished_run(root.path())?;
        // The process died after writing a new best (score 9) and before rewriting latest.
        let best_path = run.checkpoints_dir().join(BEST_CHECKPOINT);
        let mut best = Checkpoint::load(&best_path)?;
        best.set_meta(BEST_EVAL_KEY, "9");
        best.save(&best_path)?;

        // The resumed policy scores 5: better than latest's record (1), worse than the best.
        let report = train(&mut counter(200, 5.0), &run, true)?;
        assert!(report.best_eval_mean >= 9.0, "{}", report.best_eval_mean);
        assert_eq!(Checkpoint::load(&best_path)?.meta(BEST_EVAL_KEY), Some("9"));
        let latest = Checkpoint::load(&run.checkpoints_dir().join(LATEST_CHECKPOINT))?;
        assert_eq!(latest.meta(BEST_EVAL_KEY), Some("9"));
        Ok(())
    }
}
