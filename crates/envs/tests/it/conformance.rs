//! Replays every Gymnasium 1.x vector file in `tests/data/gymnasium/` (any `*.json`, dispatched
//! on its `env_id` through `make`) and checks every observation, reward and flag.

use std::path::{Path, PathBuf};

use eirl_envs::{Action, Env, make};
use eirl_testkit::{Tol, isclose};
use serde::Deserialize;

/// Observations are float32: 1e-5 absolute, as the vectors' contract says.
const OBS_TOL: Tol = Tol::new(1e-5, 0.0);
/// Rewards are float64 and should be exact; allow only rounding noise.
const REWARD_TOL: Tol = Tol::new(1e-12, 0.0);

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

/// Largest |actual − expected| over a row, for the report.
fn max_dev(actual: &[f32], expected: &[f64]) -> f64 {
    actual
        .iter()
        .zip(expected)
        .map(|(&a, &e)| (f64::from(a) - e).abs())
        .fold(0.0, f64::max)
}

fn check_obs(what: &str, actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}: observation length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            isclose(f64::from(a), e, OBS_TOL),
            "{what}: obs[{i}] = {a:?}, Gymnasium {e:?}\n  actual   {actual:?}\n  expected {expected:?}"
        );
    }
}

fn replay_episode(env: &mut dyn Env, name: &str, k: usize, ep: &Episode) -> (usize, f64) {
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
    let mut worst = max_dev(&initial, &ep.initial_obs);
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
        worst = worst.max(max_dev(&step.obs, &ep.obs[t]));
        assert!(
            isclose(step.reward, ep.rewards[t], REWARD_TOL),
            "{what}: reward {} vs Gymnasium {}",
            step.reward,
            ep.rewards[t]
        );
        assert_eq!(step.terminated, ep.terminated[t], "{what}: terminated");
        assert_eq!(step.truncated, ep.truncated[t], "{what}: truncated");
    }
    (n, worst)
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
        let (mut steps, mut worst) = (0, 0.0_f64);
        for (k, ep) in file.episodes.iter().enumerate() {
            let (n, w) = replay_episode(env.as_mut(), &name, k, ep);
            steps += n;
            worst = worst.max(w);
        }
        println!(
            "{name}: {} (Gymnasium {}): {} episodes, {steps} steps, max |obs deviation| {worst:e}",
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
