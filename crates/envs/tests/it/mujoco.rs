//! The MuJoCo envs against Gymnasium[mujoco]: every vector file in
//! `tests/data/gymnasium-mujoco/` (written by `python/reference/gymnasium_mujoco_vectors.py`)
//! replayed bit for bit — float64 observations, rewards, terminated and truncated — plus exact
//! snapshots, VecEnv batching and bad input.
//!
//! They need the MuJoCo library (`python/requirements-mujoco.txt` in `.venv-py`, or
//! `EIRL_MUJOCO_LIB`). Without it they print why and pass, except under `CI=true`, where
//! `.ci/run` installs it and its absence is a failure.

use std::path::{Path, PathBuf};

use eirl_envs::{
    Action, Env, EnvError, MujocoEnv, MujocoTask, TimeLimit, VecEnv, make, mujoco_available,
};
use serde::Deserialize;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether the MuJoCo library loads; fails under CI and prints the reason elsewhere.
fn mujoco_ready(test: &str) -> bool {
    match mujoco_available() {
        Ok(()) => true,
        Err(why) if in_ci() => panic!("{test}: {why}; CI must have it (.ci/run installs it)"),
        Err(why) => {
            println!("{test}: skipped: {why}");
            false
        }
    }
}

#[derive(Deserialize, Clone)]
struct VectorFile {
    env_id: String,
    gymnasium_version: String,
    mujoco_version: String,
    episodes: Vec<Episode>,
}

#[derive(Deserialize, Clone)]
struct Episode {
    seed: u64,
    initial_state: Vec<f64>,
    initial_obs: Vec<f64>,
    actions: Vec<Vec<f64>>,
    obs: Vec<Vec<f64>>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gymnasium-mujoco")
}

fn vector_files() -> Vec<(String, VectorFile)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap_or_else(|e| panic!("reading {:?}: {e}", data_dir()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            let file = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, file)
        })
        .collect()
}

/// Bit equality (`float_cmp` is denied; this also tells −0.0 from 0.0).
fn same_bits(a: f64, e: f64) -> bool {
    a.to_bits() == e.to_bits()
}

fn check_obs(what: &str, env: &TimeLimit<MujocoEnv>, expected: &[f64]) -> Result<(), String> {
    let actual = env.inner().observation_f64();
    if actual.len() != expected.len() {
        return Err(format!(
            "{what}: observation length {} vs Gymnasium {}",
            actual.len(),
            expected.len()
        ));
    }
    if let Some(i) = (0..actual.len()).find(|&i| !same_bits(actual[i], expected[i])) {
        return Err(format!(
            "{what}: obs[{i}] = {:?}, Gymnasium {:?} (not bit-exact)",
            actual[i], expected[i]
        ));
    }
    // The f32 observation agents see is the float64 one cast.
    let cast: Vec<f32> = expected.iter().map(|&v| v as f32).collect();
    if env.observation() != cast {
        return Err(format!("{what}: f32 observation is not the cast f64 one"));
    }
    Ok(())
}

/// Replays one episode in `env` (the task with its 1000-step limit); the first difference from
/// Gymnasium is the error. Returns the number of steps.
fn replay(env: &mut TimeLimit<MujocoEnv>, what: &str, ep: &Episode) -> Result<usize, String> {
    let n = ep.actions.len();
    if [
        ep.obs.len(),
        ep.rewards.len(),
        ep.terminated.len(),
        ep.truncated.len(),
    ] != [n; 4]
    {
        return Err(format!("{what}: ragged episode arrays"));
    }
    env.reset(Some(ep.seed));
    env.set_state(&ep.initial_state)
        .map_err(|e| format!("{what}: set_state: {e}"))?;
    check_obs(&format!("{what} initial"), env, &ep.initial_obs)?;
    for t in 0..n {
        let step_what = format!("{what} step {t}");
        let action: Vec<f32> = ep.actions[t].iter().map(|&a| a as f32).collect();
        let step = env
            .step(Action::Continuous(&action))
            .map_err(|e| format!("{step_what}: {e}"))?;
        check_obs(&step_what, env, &ep.obs[t])?;
        if !same_bits(step.reward, ep.rewards[t]) {
            return Err(format!(
                "{step_what}: reward {:?} vs Gymnasium {:?} (not bit-exact)",
                step.reward, ep.rewards[t]
            ));
        }
        if (step.terminated, step.truncated) != (ep.terminated[t], ep.truncated[t]) {
            return Err(format!(
                "{step_what}: (terminated, truncated) = {:?} vs Gymnasium {:?}",
                (step.terminated, step.truncated),
                (ep.terminated[t], ep.truncated[t])
            ));
        }
    }
    Ok(n)
}

fn env_for(file: &VectorFile) -> TimeLimit<MujocoEnv> {
    let task = MujocoTask::from_id(&file.env_id)
        .unwrap_or_else(|| panic!("{} is not a MuJoCo task", file.env_id));
    let env = MujocoEnv::new(task).unwrap_or_else(|e| panic!("{e}"));
    TimeLimit::new(env, 1000).unwrap_or_else(|e| panic!("{e}"))
}

fn replay_file(name: &str, file: &VectorFile) -> Result<usize, String> {
    let mut env = env_for(file);
    let mut steps = 0;
    for (k, ep) in file.episodes.iter().enumerate() {
        steps += replay(&mut env, &format!("{name} episode {k}"), ep)?;
    }
    Ok(steps)
}

#[test]
fn every_mujoco_vector_file_matches_gymnasium() {
    if !mujoco_ready("every_mujoco_vector_file_matches_gymnasium") {
        return;
    }
    let files = vector_files();
    let mut ids: Vec<&str> = files.iter().map(|(_, f)| f.env_id.as_str()).collect();
    ids.sort_unstable();
    let mut all: Vec<&str> = MujocoTask::ALL.iter().map(|t| t.id()).collect();
    all.sort_unstable();
    assert_eq!(ids, all, "one vector file per MuJoCo task");
    for (name, file) in &files {
        assert!(!file.episodes.is_empty(), "{name}: no episodes");
        let steps = replay_file(name, file).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "{name}: {} (Gymnasium {}, MuJoCo {}): {} episodes, {steps} steps, all bit-exact",
            file.env_id,
            file.gymnasium_version,
            file.mujoco_version,
            file.episodes.len()
        );
    }
}

#[test]
fn a_corrupted_vector_fails_the_replay() {
    if !mujoco_ready("a_corrupted_vector_fails_the_replay") {
        return;
    }
    let files = vector_files();
    let (name, file) = files
        .iter()
        .find(|(_, f)| f.env_id == "Hopper-v5")
        .unwrap_or_else(|| panic!("no Hopper-v5 vectors"));
    assert!(replay_file(name, file).is_ok(), "the clean file must pass");
    let last = file.episodes[0].actions.len() - 1;
    type Corrupt = fn(&mut Episode, usize);
    let corruptions: [(&str, Corrupt); 5] = [
        ("one ulp in an observation", |ep, t| {
            ep.obs[t][3] = f64::from_bits(ep.obs[t][3].to_bits() + 1);
        }),
        ("one ulp in a reward", |ep, t| {
            ep.rewards[t] = f64::from_bits(ep.rewards[t].to_bits() + 1);
        }),
        ("a flipped terminated flag", |ep, t| {
            ep.terminated[t] = !ep.terminated[t];
        }),
        ("one ulp in the initial state", |ep, _| {
            ep.initial_state[5] = f64::from_bits(ep.initial_state[5].to_bits() + 1);
        }),
        ("a changed action", |ep, t| {
            ep.actions[t][0] = -ep.actions[t][0]
        }),
    ];
    for (what, corrupt) in corruptions {
        for t in [0, last / 2, last] {
            let mut bad = file.clone();
            corrupt(&mut bad.episodes[0], t);
            assert!(
                replay_file(name, &bad).is_err(),
                "{what} at step {t} went unnoticed"
            );
        }
    }
}

/// Random actions in the box, from a fixed LCG (no RNG crate needed here).
fn actions(dim: usize, n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    s = s
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        })
        .collect()
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn a_restored_snapshot_steps_bit_for_bit_like_the_original() {
    if !mujoco_ready("a_restored_snapshot_steps_bit_for_bit_like_the_original") {
        return;
    }
    for task in MujocoTask::ALL {
        let mut a = make(task.id()).unwrap_or_else(|e| panic!("{e}"));
        let dim = a.action_space().dim();
        a.reset(Some(3));
        // Small actions keep the walkers up for the whole comparison.
        let acts: Vec<Vec<f32>> = actions(dim, 40, 7)
            .into_iter()
            .map(|v| v.iter().map(|x| 0.1 * x).collect())
            .collect();
        for act in &acts[..20] {
            a.step(Action::Continuous(act))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let words = a
            .snapshot()
            .unwrap_or_else(|| panic!("{}: no snapshot", task.id()));
        let mut b = make(task.id()).unwrap_or_else(|e| panic!("{e}"));
        b.reset(Some(99));
        b.restore_snapshot(&words).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bits(&a.observation()), bits(&b.observation()));
        for (t, act) in acts[20..].iter().enumerate() {
            let sa = a
                .step(Action::Continuous(act))
                .unwrap_or_else(|e| panic!("{e}"));
            let sb = b
                .step(Action::Continuous(act))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(bits(&sa.obs), bits(&sb.obs), "{} step {t}", task.id());
            assert!(same_bits(sa.reward, sb.reward), "{} step {t}", task.id());
            assert_eq!((sa.terminated, sa.truncated), (sb.terminated, sb.truncated));
        }
        // A reset after the restore continues the same RNG stream.
        assert_eq!(bits(&a.reset(None)), bits(&b.reset(None)), "{}", task.id());
        assert!(b.restore_snapshot(&words[..words.len() - 1]).is_err());
    }
}

#[test]
fn a_vec_env_of_mujoco_envs_steps_like_single_envs() {
    if !mujoco_ready("a_vec_env_of_mujoco_envs_steps_like_single_envs") {
        return;
    }
    let n = 3;
    let mut venv = VecEnv::new("Hopper-v5", n, 10).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(venv.obs_dim(), 11);
    let mut singles: Vec<Box<dyn Env>> = (0..n)
        .map(|i| {
            let mut e = make("Hopper-v5").unwrap_or_else(|e| panic!("{e}"));
            e.reset(Some(10 + i as u64));
            e
        })
        .collect();
    let first: Vec<f32> = singles.iter().flat_map(|e| e.observation()).collect();
    assert_eq!(bits(venv.reset()), bits(&first));
    let acts = actions(3 * n, 60, 1);
    let mut ended = 0;
    for flat in &acts {
        let step = venv.step_continuous(flat).unwrap_or_else(|e| panic!("{e}"));
        for (i, env) in singles.iter_mut().enumerate() {
            let s = env
                .step(Action::Continuous(&flat[3 * i..3 * i + 3]))
                .unwrap_or_else(|e| panic!("{e}"));
            // VecEnv keeps rewards as f32.
            assert_eq!(step.rewards[i].to_bits(), (s.reward as f32).to_bits());
            assert_eq!(step.terminated[i], s.terminated);
            if s.terminated || s.truncated {
                ended += 1;
                env.reset(None);
            }
        }
        let now: Vec<f32> = singles.iter().flat_map(|e| e.observation()).collect();
        assert_eq!(bits(step.obs), bits(&now));
    }
    assert!(
        ended > 0,
        "no episode ended: the auto-reset path went untested"
    );
}

#[test]
fn bad_actions_and_states_are_errors_that_change_nothing() {
    if !mujoco_ready("bad_actions_and_states_are_errors_that_change_nothing") {
        return;
    }
    let mut env = make("Walker2d-v5").unwrap_or_else(|e| panic!("{e}"));
    env.reset(Some(0));
    let before = (env.state(), env.observation());
    let bad: [Action<'_>; 4] = [
        Action::Continuous(&[0.0; 5]),
        Action::Continuous(&[0.0, 0.0, f32::NAN, 0.0, 0.0, 0.0]),
        Action::Continuous(&[f32::INFINITY; 6]),
        Action::Discrete(0),
    ];
    for action in bad {
        assert!(
            matches!(env.step(action), Err(EnvError::InvalidAction { .. })),
            "{action:?} accepted"
        );
    }
    let n = before.0.len();
    assert!(env.set_state(&vec![0.0; n - 1]).is_err());
    let mut nan = before.0.clone();
    nan[4] = f64::NAN;
    assert!(env.set_state(&nan).is_err());
    assert_eq!(env.state(), before.0);
    assert_eq!(env.observation(), before.1);
    assert!(env.restore_snapshot(&[1, 2, 3]).is_err());
    assert_eq!(env.state(), before.0);
}

#[test]
fn spaces_and_limits_are_gymnasiums() {
    if !mujoco_ready("spaces_and_limits_are_gymnasiums") {
        return;
    }
    // (id, observation dim, action dim, action bound): Gymnasium 1.4's v5 spaces.
    let expected = [
        ("Hopper-v5", 11, 3, 1.0),
        ("HalfCheetah-v5", 17, 6, 1.0),
        ("Walker2d-v5", 17, 6, 1.0),
        ("InvertedPendulum-v5", 4, 1, 3.0),
        ("InvertedDoublePendulum-v5", 9, 1, 1.0),
        ("Ant-v5", 105, 8, 1.0),
        ("Humanoid-v5", 348, 17, 0.4),
    ];
    for (id, obs, act, bound) in expected {
        let env = make(id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(env.observation_space().dim(), obs, "{id}");
        let space = env
            .action_space()
            .as_box()
            .unwrap_or_else(|| panic!("{id}: not a box"));
        assert_eq!(space.dim(), act, "{id}");
        assert!(
            space
                .high
                .iter()
                .all(|&h| h.to_bits() == (bound as f32).to_bits()),
            "{id}"
        );
        assert!(
            space
                .low
                .iter()
                .all(|&l| l.to_bits() == (-bound as f32).to_bits()),
            "{id}"
        );
        assert_eq!(env.max_episode_steps(), Some(1000), "{id}");
    }
}
