//! Interop with the `imitation` library, both ways.
//!
//! The fixtures in `tests/data/imitation/` were written by the real library
//! (`python/fixtures/make_imitation_fixtures.py`, imitation 1.0.1 / datasets 5.0.1): for
//! CartPole-v1 (discrete) and Pendulum-v1 (continuous), a `datasets` folder
//! (`imitation.data.serialize.save`), a legacy `.npz` (imitation's pre-1.0 `types.save`, pickled
//! object-dtype `infos` included) and a JSON of the values they hold. These tests load each one,
//! compare it with the JSON, write it back in both formats and read that again. The other
//! direction, Python loading what eirl wrote, runs when `EIRL_PYTHON` names a Python with
//! `datasets` (and, better, `imitation`) installed, and is skipped with a message otherwise.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use eirl_imitation::{
    ActionKind, Actions, DemoFormat, Demonstrations, Episode, ImitationError, LoadLimits,
};
use eirl_testkit::fuzz;
use proptest::prelude::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/imitation")
        .join(name)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// One trajectory of a fixture's JSON.
struct Expected {
    obs: Vec<Vec<f64>>,
    acts: serde_json::Value,
    rews: Vec<f64>,
    terminal: bool,
}

fn expected(name: &str) -> Vec<Expected> {
    let text = std::fs::read_to_string(data(&format!("{name}.json"))).expect("fixture json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    v["trajectories"]
        .as_array()
        .expect("trajectories")
        .iter()
        .map(|t| Expected {
            obs: t["obs"]
                .as_array()
                .expect("obs")
                .iter()
                .map(floats)
                .collect(),
            acts: t["acts"].clone(),
            rews: floats(&t["rews"]),
            terminal: t["terminal"].as_bool().expect("terminal"),
        })
        .collect()
}

/// The loaded data equals the fixture's JSON exactly (the JSON holds the float32 values as
/// doubles, so the conversion back is exact).
fn assert_matches(d: &Demonstrations, name: &str, what: &str) {
    let want = expected(name);
    assert_eq!(d.num_episodes(), want.len(), "{what}: episodes");
    for (e, w) in want.iter().enumerate() {
        let ep = d.episode(e).expect("episode");
        let obs: Vec<f32> = w.obs.iter().flatten().map(|&x| x as f32).collect();
        assert_eq!(ep.obs, obs, "{what}: episode {e} obs");
        assert_eq!(d.obs_dim(), w.obs[0].len(), "{what}: obs width");
        let rews: Vec<f32> = w.rews.iter().map(|&x| x as f32).collect();
        assert_eq!(ep.rewards, rews, "{what}: episode {e} rewards");
        assert_eq!(ep.terminated, w.terminal, "{what}: episode {e} terminal");
        match &ep.actions {
            Actions::Discrete(a) => {
                let want: Vec<usize> = w
                    .acts
                    .as_array()
                    .expect("acts")
                    .iter()
                    .map(|x| x.as_u64().expect("int") as usize)
                    .collect();
                assert_eq!(a, &want, "{what}: episode {e} actions");
            }
            Actions::Continuous { values, dim } => {
                let rows = w.acts.as_array().expect("acts");
                let want: Vec<f32> = rows
                    .iter()
                    .flat_map(|r| r.as_array().expect("row").iter())
                    .map(|x| x.as_f64().expect("float") as f32)
                    .collect();
                assert_eq!(*dim, rows[0].as_array().expect("row").len());
                assert_eq!(values, &want, "{what}: episode {e} actions");
            }
        }
    }
}

const FIXTURES: [(&str, &str, ActionKind); 2] = [
    ("cartpole", "CartPole-v1", ActionKind::Discrete),
    ("pendulum", "Pendulum-v1", ActionKind::Continuous(1)),
];

#[test]
fn imitation_fixtures_load_as_written() -> Result<(), ImitationError> {
    for (name, _, kind) in FIXTURES {
        for path in [data(name), data(&format!("{name}.npz"))] {
            let d = Demonstrations::load(&path)?;
            assert_eq!(
                d.env_id(),
                "",
                "{}: imitation stores no env id",
                path.display()
            );
            assert_eq!(d.action_kind(), kind);
            assert_matches(&d, name, &path.display().to_string());
        }
        // Both formats hold the same trajectories.
        let folder = Demonstrations::load(&data(name))?;
        let npz = Demonstrations::load(&data(&format!("{name}.npz")))?;
        assert_eq!(folder, npz);
    }
    Ok(())
}

#[test]
fn round_trips_through_both_formats() -> Result<(), ImitationError> {
    let dir = tmp();
    for (name, env, _) in FIXTURES {
        let mut d = Demonstrations::load_for(&data(name), env)?;
        assert_eq!(d.env_id(), env);
        d.set_expert_mean_return(Some(123.5));
        for (file, format) in [
            (format!("{name}.npz"), DemoFormat::Npz),
            (format!("{name}-dataset"), DemoFormat::HfDataset),
        ] {
            let path = dir.path().join(&file);
            assert_eq!(DemoFormat::for_path(&path), format);
            d.save_as(&path, format)?;
            let back = Demonstrations::load(&path)?;
            assert_eq!(back, d, "{file}: env id, returns and data survive");
            assert_matches(&back, name, &file);
            // Writing over the previous folder replaces it.
            d.save_as(&path, format)?;
            assert_eq!(Demonstrations::load(&path)?, d);
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .map_err(|e| ImitationError::Config(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(eirl_runlog::TEMP_PREFIX))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
    Ok(())
}

#[test]
fn missing_env_id_needs_a_fitting_env() {
    // Fits: accepted, the env id assumed.
    for (name, env, _) in FIXTURES {
        for path in [data(name), data(&format!("{name}.npz"))] {
            let d = Demonstrations::load_for(&path, env);
            assert!(
                matches!(&d, Ok(d) if d.env_id() == env),
                "{}",
                path.display()
            );
        }
    }
    // No env at all: says so, and names --env; never an empty name.
    let err = Demonstrations::load_for(&data("cartpole.npz"), "")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("has no env id") && err.contains("--env"),
        "{err}"
    );
    assert!(!err.contains("holds  demonstrations"), "{err}");
    // Wrong env: the mismatch is named.
    let cases = [
        (
            "cartpole",
            "Pendulum-v1",
            "observations have 4 values, Pendulum-v1's have 3",
        ),
        ("cartpole", "MountainCar-v0", "observations have 4 values"),
        ("pendulum", "Acrobot-v1", "observations have 3 values"),
        (
            "pendulum",
            "MountainCarContinuous-v0",
            "observations have 3 values",
        ),
    ];
    for (name, env, want) in cases {
        for path in [data(name), data(&format!("{name}.npz"))] {
            let err = Demonstrations::load_for(&path, env)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("has no env id") && err.contains(want) && err.contains("--env"),
                "{}: {err}",
                path.display()
            );
        }
    }
}

#[test]
fn action_mismatches_are_named() {
    // Same observation width as CartPole (4), continuous actions.
    let mut d = Demonstrations::new("", 4, ActionKind::Continuous(1));
    let ep = Episode {
        obs: vec![0.0; 8],
        actions: Actions::Continuous {
            values: vec![0.5],
            dim: 1,
        },
        rewards: vec![1.0],
        terminated: true,
    };
    assert!(d.push_episode(&ep).is_ok());
    let err = d.check_fits("CartPole-v1").err().map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("continuous actions of width 1")
                && e.contains("CartPole-v1 takes discrete actions")),
        "{err:?}"
    );
    let mut d = Demonstrations::new("", 4, ActionKind::Discrete);
    let ep = Episode {
        obs: vec![0.0; 8],
        actions: Actions::Discrete(vec![2]),
        rewards: vec![1.0],
        terminated: true,
    };
    assert!(d.push_episode(&ep).is_ok());
    let err = d.check_fits("CartPole-v1").err().map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("action 2, outside CartPole-v1's actions 0..2")),
        "{err:?}"
    );
    // Data with an env id keeps it.
    let mut tagged = Demonstrations::new("CartPole-v1", 4, ActionKind::Discrete);
    assert!(tagged.assume_env_id("Acrobot-v1").is_err());
    assert!(tagged.assume_env_id("CartPole-v1").is_ok());
}

/// A copy of the cartpole fixture folder in a temp dir, to break.
fn fixture_copy(dir: &Path) -> PathBuf {
    let to = dir.join("ds");
    std::fs::create_dir_all(&to).expect("mkdir");
    for entry in std::fs::read_dir(data("cartpole")).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
    to
}

const SHARD: &str = "data-00000-of-00001.arrow";

fn format_reason(r: Result<Demonstrations, ImitationError>) -> String {
    match r {
        Err(ImitationError::Format { reason, .. }) => reason,
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn broken_folders_give_clear_errors() {
    let dir = tmp();
    let ds = fixture_copy(dir.path());
    let shard = std::fs::read(ds.join(SHARD)).expect("shard");

    // Truncated anywhere: an error, never a panic.
    for cut in (0..shard.len()).step_by(97).chain([shard.len() - 1]) {
        std::fs::write(ds.join(SHARD), &shard[..cut]).expect("write");
        let reason = format_reason(Demonstrations::load(&ds));
        assert!(!reason.contains("panicked"), "cut {cut}: {reason}");
    }
    std::fs::write(ds.join(SHARD), &shard).expect("write");
    assert!(Demonstrations::load(&ds).is_ok());

    let state = std::fs::read_to_string(ds.join("state.json")).expect("state");
    for (bad, want) in [
        (
            state.replace(SHARD, "../../etc/passwd"),
            "not a plain file name",
        ),
        (state.replace(SHARD, "data-00009-of-00010.arrow"), "cannot"),
        (state.replace("_data_files", "files"), "_data_files"),
        ("{".to_string(), "not valid JSON"),
    ] {
        std::fs::write(ds.join("state.json"), &bad).expect("write");
        let err = Demonstrations::load(&ds).err().map(|e| {
            let mut s = e.to_string();
            if let ImitationError::Io { source, .. } = &e {
                s.push_str(&format!(": {source}"));
            }
            s
        });
        assert!(err.as_deref().is_some_and(|e| e.contains(want)), "{err:?}");
    }
    std::fs::remove_file(ds.join("state.json")).expect("rm");
    let reason = format_reason(Demonstrations::load(&ds));
    assert!(reason.contains("state.json"), "{reason}");
    std::fs::write(ds.join("dataset_dict.json"), "{}").expect("write");
    let reason = format_reason(Demonstrations::load(&ds));
    assert!(reason.contains("DatasetDict"), "{reason}");

    // Limits apply to the data files together.
    let ds = fixture_copy(&dir.path().join("again"));
    let tiny = LoadLimits {
        max_file_bytes: 1000,
        ..LoadLimits::default()
    };
    let reason = format_reason(Demonstrations::load_with_limits(&ds, &tiny));
    assert!(reason.contains("limit"), "{reason}");

    // eirl.json, when present, must be eirl's.
    std::fs::write(ds.join("eirl.json"), r#"{"eirl_format": 7, "env_id": "X"}"#).expect("w");
    let reason = format_reason(Demonstrations::load(&ds));
    assert!(reason.contains("eirl_format 7"), "{reason}");
}

#[test]
fn pickles_and_reward_less_files_are_refused_with_reasons() {
    let pickle = [0x80u8, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, b'.'];
    let reason = format_reason(Demonstrations::from_npz_bytes(
        &pickle,
        &LoadLimits::default(),
    ));
    assert!(
        reason.contains("pickle") && reason.contains("never unpickles"),
        "{reason}"
    );
}

#[test]
fn saving_a_folder_refuses_to_clobber_other_things() -> Result<(), ImitationError> {
    let dir = tmp();
    let d = Demonstrations::load_for(&data("cartpole"), "CartPole-v1")?;
    // A folder with other files in it is not replaced.
    let other = dir.path().join("mine");
    std::fs::create_dir_all(&other).map_err(|e| ImitationError::Config(e.to_string()))?;
    std::fs::write(other.join("notes.txt"), "keep")
        .map_err(|e| ImitationError::Config(e.to_string()))?;
    assert!(d.save_dataset(&other).is_err());
    assert!(other.join("notes.txt").is_file());
    // Nor a file.
    let file = dir.path().join("plain");
    std::fs::write(&file, "keep").map_err(|e| ImitationError::Config(e.to_string()))?;
    assert!(d.save_dataset(&file).is_err());
    // An empty folder is filled.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).map_err(|e| ImitationError::Config(e.to_string()))?;
    d.save_dataset(&empty)?;
    assert_eq!(Demonstrations::load(&empty)?, d);
    // No episodes: nothing to write.
    let none = Demonstrations::new("CartPole-v1", 4, ActionKind::Discrete);
    assert!(none.save_dataset(&dir.path().join("none")).is_err());
    assert!(!dir.path().join("none").exists());
    Ok(())
}

/// A Python that can import `module`: `EIRL_PYTHON`, then `python3`.
fn python_with(module: &str) -> Option<String> {
    std::env::var("EIRL_PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_string()])
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The real library loads what eirl writes: `python/fixtures/check_eirl_files.py` (with
/// `imitation` installed it uses `imitation.data.serialize.load`, else `datasets` and numpy).
#[test]
fn python_loads_what_eirl_writes() -> Result<(), ImitationError> {
    let Some(python) = python_with("datasets") else {
        println!(
            "python_loads_what_eirl_writes: skipped (no python with `datasets`; set EIRL_PYTHON \
             to one: `pip install datasets`, or `pip install imitation` for the full check)"
        );
        return Ok(());
    };
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python/fixtures/check_eirl_files.py");
    let dir = tmp();
    for (name, env, _) in FIXTURES {
        let d = Demonstrations::load_for(&data(name), env)?;
        let npz = dir.path().join(format!("{name}.npz"));
        let folder = dir.path().join(format!("{name}-dataset"));
        d.save(&npz)?;
        d.save_dataset(&folder)?;
        // The fixture's JSON, with the env id eirl now stores.
        let text = std::fs::read_to_string(data(&format!("{name}.json")))
            .map_err(|e| ImitationError::Config(e.to_string()))?;
        let mut json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ImitationError::Config(e.to_string()))?;
        json["env_id"] = serde_json::Value::String(env.to_string());
        let expected = dir.path().join(format!("{name}-expected.json"));
        std::fs::write(&expected, json.to_string())
            .map_err(|e| ImitationError::Config(e.to_string()))?;
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg(&expected)
            .arg(&npz)
            .arg(&folder)
            .output()
            .map_err(|e| ImitationError::Config(e.to_string()))?;
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

/// Fuzzing of one data file of a datasets folder (`Demonstrations::from_dataset_stream`):
/// mutated fixture and eirl-written streams load as consistent data or are refused as a
/// format error, never panic (and never reach the Arrow reader's panics).
#[test]
fn fuzz_dataset_stream() {
    let dir = tmp();
    let mut seeds = Vec::new();
    for (name, env, _) in FIXTURES {
        seeds.push(std::fs::read(data(name).join(SHARD)).expect("fixture shard"));
        let d = Demonstrations::load_for(&data(name), env).expect("fixture");
        let out = dir.path().join(name);
        d.save_dataset(&out).expect("save");
        seeds.push(std::fs::read(out.join(SHARD)).expect("eirl shard"));
    }
    fuzz::run(
        "demonstrations (datasets stream)",
        fuzz::bytes(seeds),
        |input| {
            match Demonstrations::from_dataset_stream(&input, &LoadLimits::default()) {
                Ok(d) => {
                    LOADED.fetch_add(1, Ordering::Relaxed);
                    let (obs, acts) = d.state_action_pairs();
                    prop_assert_eq!(obs.len(), acts.len() * d.obs_dim());
                    prop_assert!((0..d.num_episodes()).all(|e| d.episode(e).is_some()));
                }
                Err(ImitationError::Format { reason, .. }) => {
                    prop_assert!(!reason.contains("panicked"), "{}", reason);
                    if reason.starts_with("Arrow stream:") || !reason.contains("message") {
                        DECODED.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(other) => prop_assert!(false, "not a format error: {other}"),
            }
            Ok(())
        },
    );
    eprintln!(
        "fuzz datasets stream: {} inputs loaded as demonstrations, {} more refused past the \
         framing checks",
        LOADED.load(Ordering::Relaxed),
        DECODED.load(Ordering::Relaxed)
    );
}

static LOADED: AtomicU64 = AtomicU64::new(0);
static DECODED: AtomicU64 = AtomicU64::new(0);
