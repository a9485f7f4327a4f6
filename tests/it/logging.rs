//! What a newcomer sees of a run: training scalars at every logging interval, grouped the way
//! Stable-Baselines3 groups them in TensorBoard.

use std::collections::BTreeSet;

use eirl_runlog::{read_events, read_metrics};

use crate::{eirl, only_run_dir, stderr};

/// The shipped CartPole preset trains every 256 steps (rl-zoo's `train_freq`), so an update
/// rarely lands on a logging boundary: the loop must still log the interval's mean every
/// 1000 steps. One gradient step per update and a small network keep the run short; the
/// schedule of updates is the preset's.
#[test]
fn dqn_with_train_freq_256_logs_its_loss_every_interval() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = tmp.path().join("freq256.toml");
    std::fs::write(
        &cfg,
        "train_freq = 256\ngradient_steps = 1\nbuffer_size = 50000\n\
         eval_interval = 25000\neval_episodes = 2\n[network]\nhidden = [32]\n",
    )
    .expect("write cfg");
    let runs = tmp.path().join("runs");
    let out = eirl(
        &[
            "train",
            "dqn",
            "--env",
            "CartPole-v1",
            "--steps",
            "50000",
            "--config",
            cfg.to_str().expect("utf8"),
            "--out",
            runs.to_str().expect("utf8"),
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run_dir(&runs);
    let rows = read_metrics(&run.join("metrics.csv")).expect("metrics");
    let loss_steps: Vec<u64> = rows
        .iter()
        .filter(|r| r.name == "loss")
        .map(|r| r.step)
        .collect();
    // Updates start after learning_starts = 1000: one row per 1000 steps from then on.
    assert!(
        loss_steps.len() >= 40,
        "loss logged {} times in 50k steps: {loss_steps:?}",
        loss_steps.len()
    );
    assert!(loss_steps.windows(2).all(|w| w[1] - w[0] <= 1000));
    let events = std::fs::read_dir(&run)
        .expect("run dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().contains("events.out.tfevents"))
        .expect("an event file");
    let tags: BTreeSet<String> = read_events(&events)
        .expect("events")
        .scalars
        .into_iter()
        .map(|s| s.tag)
        .collect();
    for tag in [
        "train/loss",
        "train/epsilon",
        "rollout/episode_return",
        "rollout/ep_rew_mean",
        "eval/mean_return",
        "time/fps",
    ] {
        assert!(tags.contains(tag), "no {tag} in {tags:?}");
    }
}
