//! `gym:` envs: Gymnasium in a Python child process. Gymnasium's CartPole-v1 and Pendulum-v1
//! step exactly like eirl's own from the same state; a batch equals single envs; missing ids,
//! unsupported spaces, killed and hung children are errors, not hangs.
//!
//! Needs a Python with Gymnasium: `EIRL_PYTHON`, else the repository's `.venv-py`, else
//! `python3`. Without one these tests print why and pass, except under `CI=true` (`.ci/run`
//! installs `python/requirements.txt` into `.venv-py`), where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use eirl_envs::{Action, Env, EnvError, GymEnv, Step, VecEnv, make, make_unlimited, spec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `EIRL_PYTHON`, else the repository's `.venv-py`, else `python3`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("EIRL_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-py/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Points the bridge at [`python`] and says whether it has Gymnasium; without it, panics under
/// CI and prints the reason elsewhere.
fn gym_ready(test: &str) -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let py = python();
        eirl_envs::set_gym_python(Some(py.clone()));
        match Command::new(&py)
            .args(["-c", "import gymnasium, numpy"])
            .output()
        {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(format!(
                "{} cannot import gymnasium: {}",
                py.display(),
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
            Err(e) => Err(format!("cannot run {}: {e}", py.display())),
        }
    });
    match ready {
        Ok(()) => true,
        Err(why) if in_ci() => panic!(
            "{test}: {why}; CI must have it (.ci/run installs python/requirements.txt into .venv-py)"
        ),
        Err(why) => {
            eprintln!("skipping {test}: {why} (pip install -r python/requirements.txt)");
            false
        }
    }
}

fn ok<T>(r: Result<T, EnvError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

fn same_step(a: &Step, b: &Step, what: &str) {
    assert_eq!(bits(&a.obs), bits(&b.obs), "{what}: obs {a:?} vs {b:?}");
    assert_eq!(a.reward.to_bits(), b.reward.to_bits(), "{what}: reward");
    assert_eq!(
        (a.terminated, a.truncated),
        (b.terminated, b.truncated),
        "{what}: flags"
    );
}

/// Gymnasium's episode from `reset(seed)`, replayed by eirl's env from the same reset state:
/// every observation, reward and flag is identical. Returns the episode's length.
fn replay_episode(
    gym: &mut dyn Env,
    native: &mut dyn Env,
    seed: u64,
    mut act: impl FnMut(&[f32]) -> Vec<f32>,
) -> usize {
    let first = gym.reset(Some(seed));
    native.reset(Some(seed));
    ok(native.set_state(&gym.state()));
    assert_eq!(bits(&first), bits(&native.observation()), "seed {seed}");
    let mut obs = first;
    for t in 1.. {
        let a = act(&obs);
        let action = if native.action_space().is_discrete() {
            Action::Discrete(a[0] as usize)
        } else {
            Action::Continuous(&a)
        };
        let g = ok(gym.step(action));
        let n = ok(native.step(action));
        same_step(&g, &n, &format!("seed {seed} step {t}"));
        if g.terminated || g.truncated {
            return t;
        }
        obs = g.obs;
    }
    unreachable!()
}

#[test]
fn gym_cartpole_steps_exactly_like_eirls() {
    if !gym_ready("gym_cartpole_steps_exactly_like_eirls") {
        return;
    }
    let mut gym = ok(make("gym:CartPole-v1"));
    let mut native = ok(make("CartPole-v1"));
    assert_eq!(gym.observation_space(), native.observation_space());
    assert_eq!(gym.action_space(), native.action_space());
    assert_eq!(gym.max_episode_steps(), Some(500));
    assert_eq!(ok(spec("gym:CartPole-v1")).reward_threshold, Some(475.0));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut lengths = Vec::new();
    for seed in [0, 1, 42, 123_456_789_012] {
        lengths.push(replay_episode(gym.as_mut(), native.as_mut(), seed, |_| {
            vec![f32::from(rng.gen_range(0u8..2))]
        }));
    }
    // A balancing policy runs into Gymnasium's TimeLimit: truncated at 500 in both.
    let balance = |o: &[f32]| {
        vec![f32::from(u8::from(
            o[2] + 0.5 * o[3] + 0.01 * o[0] + 0.1 * o[1] > 0.0,
        ))]
    };
    assert_eq!(
        replay_episode(gym.as_mut(), native.as_mut(), 7, balance),
        500
    );
    assert!(lengths.iter().all(|&l| l < 500), "{lengths:?}");
    // The same seed gives the same episode again (Gymnasium's seeding), unlimited envs too.
    let again = gym.reset(Some(42));
    let mut unlimited = ok(make_unlimited("gym:CartPole-v1"));
    assert_eq!(unlimited.max_episode_steps(), None);
    assert_eq!(bits(&unlimited.reset(Some(42))), bits(&again));
}

#[test]
fn gym_pendulum_box_actions_step_exactly_like_eirls() {
    if !gym_ready("gym_pendulum_box_actions_step_exactly_like_eirls") {
        return;
    }
    let mut gym = ok(make("gym:Pendulum-v1"));
    let mut native = ok(make("Pendulum-v1"));
    assert_eq!(gym.observation_space(), native.observation_space());
    assert_eq!(gym.action_space(), native.action_space());
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for seed in [0, 3] {
        // Torques beyond ±2 are clipped by both.
        let len = replay_episode(gym.as_mut(), native.as_mut(), seed, |_| {
            vec![rng.gen_range(-2.5f32..2.5)]
        });
        assert_eq!(len, 200);
    }
    let bad = gym.step(Action::Discrete(0));
    assert!(
        matches!(bad, Err(EnvError::InvalidAction { .. })),
        "{bad:?}"
    );
}

#[test]
fn a_gym_batch_is_one_process_stepping_like_single_envs() {
    if !gym_ready("a_gym_batch_is_one_process_stepping_like_single_envs") {
        return;
    }
    let n = 3;
    let mut batch = ok(VecEnv::new("gym:CartPole-v1", n, 7));
    assert_eq!(batch.id(), "gym:CartPole-v1");
    let mut singles: Vec<Box<dyn Env>> = (0..n).map(|_| ok(make("gym:CartPole-v1"))).collect();
    let mut obs: Vec<f32> = singles
        .iter_mut()
        .enumerate()
        .flat_map(|(i, e)| e.reset(Some(7 + i as u64)))
        .collect();
    assert_eq!(bits(batch.reset()), bits(&obs));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut episodes = 0;
    for t in 0..300 {
        let actions: Vec<usize> = (0..n).map(|_| rng.gen_range(0..2)).collect();
        let step = ok(batch.step_discrete(&actions));
        for (i, env) in singles.iter_mut().enumerate() {
            let s = ok(env.step(Action::Discrete(actions[i])));
            let row = i * 4..(i + 1) * 4;
            let what = format!("step {t} env {i}");
            assert_eq!(bits(&step.final_obs[row.clone()]), bits(&s.obs), "{what}");
            assert_eq!(
                step.rewards[i].to_bits(),
                (s.reward as f32).to_bits(),
                "{what}"
            );
            assert_eq!(
                (step.terminated[i], step.truncated[i]),
                (s.terminated, s.truncated)
            );
            let next = if s.terminated || s.truncated {
                env.reset(None)
            } else {
                s.obs
            };
            obs[row.clone()].copy_from_slice(&next);
            assert_eq!(bits(&step.obs[row]), bits(&next), "{what}");
        }
        episodes += step.finished.len();
    }
    assert!(episodes > 5, "{episodes}");
    // Exact resume is refused with the reason.
    assert!(batch.snapshot().is_none());
    let err = batch
        .try_snapshot()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("exact resume"), "{err}");
    assert!(batch.restore_snapshot(&[]).is_err());
    // Box actions through a batch.
    let mut pend = ok(VecEnv::new("gym:Pendulum-v1", 2, 0));
    for _ in 0..200 {
        ok(pend.step_continuous(&[1.0, -1.0]));
    }
    let step = ok(pend.step_continuous(&[0.5, 0.5]));
    assert!(step.finished.is_empty());
}

#[test]
fn unknown_ids_and_unsupported_spaces_are_clear_errors() {
    if !gym_ready("unknown_ids_and_unsupported_spaces_are_clear_errors") {
        return;
    }
    let err = make("gym:NoSuchEnv-v0")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("gym:NoSuchEnv-v0") && err.contains("Gymnasium has no env `NoSuchEnv-v0`"),
        "{err}"
    );
    assert!(VecEnv::new("gym:NoSuchEnv-v0", 2, 0).is_err());
    let err = make("gym:Blackjack-v1")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("Box observation spaces only"), "{err}");
    assert!(make("gym:").is_err());
    // Derived ids work on gym: bases (one process per env), and refuse snapshots too.
    let disc = ok(make("gym:Pendulum-v1-discrete5"));
    assert_eq!(disc.action_space().n(), Some(5));
    let mut batch = ok(VecEnv::new("gym:Pendulum-v1-discrete5", 2, 0));
    assert_eq!(batch.reset().len(), 6);
    assert!(batch.step_discrete(&[0, 4]).is_ok());
    let err = batch
        .try_snapshot()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("exact resume"), "{err}");
}

#[test]
fn a_killed_child_is_an_error_not_a_hang() {
    if !gym_ready("a_killed_child_is_an_error_not_a_hang") {
        return;
    }
    let mut env = ok(GymEnv::new("gym:CartPole-v1"));
    env.reset(Some(0));
    let pid = env.pid().expect("started");
    let killed = Command::new("kill").args(["-9", &pid.to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let started = Instant::now();
    let err = env
        .step(Action::Discrete(0))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains(&format!("pid {pid}")) && err.contains("exited"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Later calls fail the same way, at once.
    assert!(env.step(Action::Discrete(0)).is_err());
    assert!(env.state().is_empty());
}

#[test]
fn a_hung_child_is_killed_after_the_timeout() {
    if !gym_ready("a_hung_child_is_killed_after_the_timeout") {
        return;
    }
    let mut env = ok(GymEnv::new("gym:CartPole-v1"));
    env.reset(Some(0));
    env.set_timeout(Duration::from_millis(500));
    let pid = env.pid().expect("started");
    let stopped = Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status();
    assert!(stopped.is_ok_and(|s| s.success()));
    let started = Instant::now();
    let err = env
        .step(Action::Discrete(1))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("did not answer within 0.5 s"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn state_round_trips_through_the_bridge() {
    if !gym_ready("state_round_trips_through_the_bridge") {
        return;
    }
    let mut env = ok(GymEnv::new("gym:Pendulum-v1"));
    env.reset(Some(1));
    ok(env.set_state(&[0.5, -1.0]));
    assert_eq!(env.state(), vec![0.5, -1.0]);
    let mut native = ok(make("Pendulum-v1"));
    native.reset(Some(0));
    ok(native.set_state(&[0.5, -1.0]));
    assert_eq!(bits(&env.observation()), bits(&native.observation()));
    assert!(env.set_state(&[1.0]).is_err());
    assert!(env.set_state(&[f64::NAN, 0.0]).is_err());
    // The env still works after refused requests.
    assert!(env.step(Action::Continuous(&[0.0])).is_ok());
    assert!(env.restore_snapshot(&[]).is_err());
}
