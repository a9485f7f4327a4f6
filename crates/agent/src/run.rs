//! The training loop every agent runs in: steps until done, evaluates on a cadence, keeps the
//! best and latest checkpoints, writes metrics (CSV + TensorBoard), shows progress, resumes.

use std::collections::VecDeque;
use std::time::Instant;

use eirl_envs::{EvalStats, normalized_score};
use eirl_models::Checkpoint;
use eirl_runlog::{
    BEST_CHECKPOINT, EVAL_SEED, LATEST_CHECKPOINT, MetricsLogger, RunDir, read_metrics,
};
use indicatif::{ProgressBar, ProgressStyle};
use tracing::info;

use crate::agent::{Agent, AgentError, ScoreReference};
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

/// Trains `agent` in `run` until [`Agent::is_done`]. With `resume` it first restores the run's
/// latest checkpoint (and its best evaluation so far).
///
/// Every step's finished episodes are logged (`episode_return`, `episode_length`); the
/// agent's training scalars every [`Agent::scalar_interval`] steps. Each
/// `eval_interval` steps, and at the end, the greedy policy is evaluated on
/// `eval_episodes` envs seeded from [`EVAL_SEED`] (`eval_mean_return`, `eval_std_return`);
/// a better mean replaces `best.safetensors`, and `latest.safetensors` is always rewritten.
/// At the end `learning_curve.png` is drawn from `metrics.csv`.
pub fn train(agent: &mut dyn Agent, run: &RunDir, resume: bool) -> Result<RunReport, AgentError> {
    let mut best = f64::NEG_INFINITY;
    if resume {
        let ck = Checkpoint::load(&run.checkpoints_dir().join(LATEST_CHECKPOINT))?;
        agent.restore(&ck)?;
        best = ck
            .meta(BEST_EVAL_KEY)
            .and_then(|b| b.parse().ok())
            .unwrap_or(f64::NEG_INFINITY);
        info!(steps = agent.steps(), "resumed {}", run.path().display());
    }
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
    let mut log = MetricsLogger::open(run)?;
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} steps ({per_sec}, eta {eta}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(agent.steps());
    let started = Instant::now();
    let start_steps = agent.steps();
    let mut recent: VecDeque<f64> = VecDeque::with_capacity(100);
    let interval = settings.eval_interval;
    let scalar_interval = agent.scalar_interval().max(1);
    let mut final_eval = None;
    while !agent.is_done() {
        let before = agent.steps();
        let report = agent.step()?;
        let step = agent.steps();
        for ep in &report.finished {
            if recent.len() == 100 {
                recent.pop_front();
            }
            recent.push_back(ep.episode_return);
            log.log_many(
                step,
                &[
                    ("episode_return", ep.episode_return),
                    ("episode_length", ep.length as f64),
                ],
            )?;
        }
        if !report.scalars.is_empty() && (step / scalar_interval != before / scalar_interval) {
            log.log_many(step, &report.scalars)?;
        }
        if before / interval != step / interval || agent.is_done() {
            let eval = agent.evaluate(settings.eval_episodes, EVAL_SEED)?;
            log.log_many(
                step,
                &[
                    ("eval_mean_return", eval.mean()),
                    ("eval_std_return", eval.std()),
                ],
            )?;
            if eval.mean() > best {
                best = eval.mean();
                save(agent, run, BEST_CHECKPOINT, best)?;
            }
            save(agent, run, LATEST_CHECKPOINT, best)?;
            log.flush()?;
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
        if let Some(r) = recent.back() {
            let mean = recent.iter().sum::<f64>() / recent.len() as f64;
            let last = final_eval.as_ref().map_or(f64::NAN, EvalStats::mean);
            bar.set_message(format!("return {r:.1} (mean100 {mean:.1}) eval {last:.1}"));
        }
    }
    bar.finish();
    log.flush()?;
    drop(log);
    let seconds = started.elapsed().as_secs_f64();
    draw_learning_curve(run, agent)?;
    Ok(RunReport {
        steps: agent.steps() - start_steps,
        seconds,
        best_eval_mean: best,
        final_eval,
        score_reference: agent.score_reference(),
    })
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
    if let Err(e) = eirl_runlog::plot_learning_curve(&rows, &png, &title, metrics) {
        tracing::warn!("could not draw {}: {e}", png.display());
    }
    Ok(())
}
