//! Replays every Gymnasium 1.x vector file in `tests/data/gymnasium/` (any `*.json`, dispatched
//! on its `env_id` through `make`) and checks that every observation, reward and flag is
//! bit-exact: observations are the float32 values Gymnasium returned (each JSON number is one
//! exactly), rewards the float64 ones, so any deviation, even one ulp, fails.

use std::path::{Path, PathBuf};

use eirl_envs::{Action, Env, make};
use serde::Deserialize;

#[derive(Deserialize)]
struct VectorFile {
    env_id: String,
    gymnasium_version: String,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    seed: u64,
    initial_state: Vec<f64>,
    initial_obs: Vec<f64>,
    actions: Vec<JsonAction>,
    obs: Vec<Vec<f64>>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonAction {
    Discrete(usize),
    Continuous(Vec<f64>),
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gymnasium")
}

fn vector_files() -> Vec<PathBuf> {
    let entries =
        std::fs::read_dir(data_dir()).unwrap_or_else(|e| panic!("reading {:?}: {e}", data_dir()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// Bit equality (`float_cmp` is denied: this is the intended comparison, and it tells −0.0
/// from 0.0).
fn same_bits(a: f64, e: f64) -> bool {
    a.to_bits() == e.to_bits()
}

fn check_obs(what: &str, actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}: observation length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let a = f64::from(a);
        assert!(
            same_bits(a, e),
            "{what}: obs[{i}] = {a:?}, Gymnasium {e:?}: not bit-exact (difference {:e})\n  \
             actual   {actual:?}\n  expected {expected:?}",
            a - e
        );
    }
}

/// Replays one episode; returns its number of steps.
fn replay_episode(env: &mut dyn Env, name: &str, k: usize, ep: &Episode) -> usize {
    let n = ep.actions.len();
    assert!(
        ep.obs.len() == n
            && ep.rewards.len() == n
            && ep.terminated.len() == n
            && ep.truncated.len() == n,
        "{name} episode {k}: ragged episode arrays"
    );
    env.reset(Some(ep.seed));
    env.set_state(&ep.initial_state)
        .unwrap_or_else(|e| panic!("{name} episode {k}: set_state: {e}"));
    let initial = env.observation();
    check_obs(
        &format!("{name} episode {k} initial"),
        &initial,
        &ep.initial_obs,
    );
    for (t, action) in ep.actions.iter().enumerate() {
        let what = format!("{name} episode {k} step {t}");
        let continuous: Vec<f32>;
        let action = match action {
            JsonAction::Discrete(a) => Action::Discrete(*a),
            JsonAction::Continuous(v) => {
                continuous = v.iter().map(|&x| x as f32).collect();
                Action::Continuous(&continuous)
            }
        };
        let step = env.step(action).unwrap_or_else(|e| panic!("{what}: {e}"));
        check_obs(&what, &step.obs, &ep.obs[t]);
        assert!(
            same_bits(step.reward, ep.rewards[t]),
            "{what}: reward {:?} vs Gymnasium {:?} (not bit-exact)",
            step.reward,
            ep.rewards[t]
        );
        assert_eq!(step.terminated, ep.terminated[t], "{what}: terminated");
        assert_eq!(step.truncated, ep.truncated[t], "{what}: truncated");
    }
    n
}

#[test]
fn every_vector_file_matches_gymnasium() {
    let files = vector_files();
    assert!(!files.is_empty(), "no *.json vectors in {:?}", data_dir());
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let file: VectorFile =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: bad schema: {e}"));
        let mut env = make(&file.env_id).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!file.episodes.is_empty(), "{name}: no episodes");
        let steps: usize = file
            .episodes
            .iter()
            .enumerate()
            .map(|(k, ep)| replay_episode(env.as_mut(), &name, k, ep))
            .sum();
        println!(
            "{name}: {} (Gymnasium {}): {} episodes, {steps} steps, all bit-exact",
            file.env_id,
            file.gymnasium_version,
            file.episodes.len()
        );
    }
}

#[test]
fn unknown_env_id_in_a_vector_file_is_an_error() {
    let text = r#"{"env_id": "NoSuchEnv-v9", "gymnasium_version": "1.4.0", "episodes": []}"#;
    let file: VectorFile = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    assert!(make(&file.env_id).is_err());
}
