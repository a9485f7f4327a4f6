use eirl_imitation::{ActionKind, Actions, Demonstrations, Episode, ImitationError, LoadLimits};
use proptest::prelude::*;

fn sample(kind: ActionKind, lengths: &[usize]) -> Demonstrations {
    let mut d = Demonstrations::new("CartPole-v1", 4, kind);
    for (e, &t) in lengths.iter().enumerate() {
        let actions = match kind {
            ActionKind::Discrete => Actions::Discrete((0..t).map(|i| (i + e) % 2).collect()),
            ActionKind::Continuous(dim) => Actions::Continuous {
                values: (0..t * dim).map(|i| i as f32 * 0.1).collect(),
                dim,
            },
        };
        let ep = Episode {
            obs: (0..(t + 1) * 4)
                .map(|i| i as f32 * 0.01 + e as f32)
                .collect(),
            actions,
            rewards: vec![1.0; t],
            terminated: e % 2 == 1,
        };
        assert!(d.push_episode(&ep).is_ok());
    }
    d.set_expert_mean_return(Some(500.0));
    d.set_random_mean_return(Some(22.0));
    d
}

fn valid(d: &Demonstrations) -> bool {
    let (obs, acts) = d.state_action_pairs();
    obs.len() == acts.len() * d.obs_dim()
        && (0..d.num_episodes()).all(|e| d.episode(e).is_some())
        && d.returns().len() == d.num_episodes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Truncating or corrupting a valid file anywhere gives an error or a consistent dataset,
    /// never a panic.
    #[test]
    fn corrupted_files_are_rejected_or_valid(
        lengths in prop::collection::vec(1usize..20, 1..5),
        continuous in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        truncate in any::<bool>(),
    ) {
        let kind = if continuous { ActionKind::Continuous(2) } else { ActionKind::Discrete };
        let d = sample(kind, &lengths);
        let mut bytes = d.to_npz_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        for (at, value) in &flips {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] ^= value | 1;
            }
        }
        match Demonstrations::from_npz_bytes(&bytes, &LoadLimits::default()) {
            Ok(back) => prop_assert!(valid(&back)),
            Err(ImitationError::Format { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error kind: {other}"),
        }
    }
}

#[test]
fn file_round_trip_is_atomic_and_exact() -> Result<(), ImitationError> {
    let dir = tempfile::tempdir().map_err(|e| ImitationError::Config(e.to_string()))?;
    let path = dir.path().join("sub/demos.npz");
    let d = sample(ActionKind::Discrete, &[5, 3]);
    d.save(&path)?;
    d.save(&path)?;
    assert_eq!(Demonstrations::load(&path)?, d);
    let entries = std::fs::read_dir(path.parent().unwrap_or(dir.path()))
        .map_err(|e| ImitationError::Config(e.to_string()))?
        .count();
    assert_eq!(entries, 1, "a temp file was left behind");
    Ok(())
}

#[test]
fn missing_files_and_limits_give_clear_errors() -> Result<(), ImitationError> {
    let dir = tempfile::tempdir().map_err(|e| ImitationError::Config(e.to_string()))?;
    let missing = Demonstrations::load(&dir.path().join("nope.npz"));
    assert!(matches!(missing, Err(ImitationError::Io { .. })));
    let path = dir.path().join("d.npz");
    sample(ActionKind::Discrete, &[5]).save(&path)?;
    let tiny = LoadLimits {
        max_file_bytes: 100,
        ..LoadLimits::default()
    };
    let err = Demonstrations::load_with_limits(&path, &tiny);
    assert!(matches!(&err, Err(ImitationError::Format { reason, .. }) if reason.contains("limit")));
    let small_arrays = LoadLimits {
        max_array_bytes: 64,
        ..LoadLimits::default()
    };
    assert!(Demonstrations::load_with_limits(&path, &small_arrays).is_err());
    Ok(())
}

/// Rewrites one array of a valid file with another (shape, values) to test consistency checks.
fn with_replaced(d: &Demonstrations, name: &str, npy: Vec<u8>) -> Vec<u8> {
    use std::io::{Read, Write};
    let bytes = d.to_npz_bytes().unwrap_or_default();
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("valid archive");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..src.len() {
        let mut f = src.by_index(i).expect("member");
        let member = f.name().to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).expect("read");
        out.start_file(member.clone(), opts).expect("start");
        if member == format!("{name}.npy") {
            out.write_all(&npy).expect("write");
        } else {
            out.write_all(&data).expect("write");
        }
    }
    out.finish().expect("finish").into_inner()
}

fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn mismatched_shapes_are_rejected() {
    let d = sample(ActionKind::Discrete, &[3, 2]); // N = 5 actions, E = 2, obs rows 7
    let i64s = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let f32s = |n: usize| vec![0u8; n * 4];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("obs", npy("<f4", "(6, 4)", &f32s(24)), "obs"),
        ("obs", npy("<i8", "(7, 4)", &vec![0u8; 7 * 4 * 8]), "float"),
        ("acts", npy("<i8", "(4,)", &i64s(&[0, 1, 0, 1])), "acts"),
        (
            "acts",
            npy("<i8", "(5,)", &i64s(&[0, 1, -3, 1, 0])),
            "range",
        ),
        ("rews", npy("<f4", "(5, 2)", &f32s(10)), "rews"),
        ("indices", npy("<i8", "(1,)", &i64s(&[5])), "split"),
        ("indices", npy("<i8", "(1,)", &i64s(&[0])), "split"),
        ("indices", npy("<i8", "(2,)", &i64s(&[1, 2])), "indices"),
        ("terminal", npy("|b1", "(3,)", &[0, 1, 0]), "indices"),
        ("eirl_format", npy("<i8", "()", &i64s(&[99])), "version"),
        (
            "rews",
            npy("<f4", "(5,)", &[0, 0, 0xc0, 0x7f].repeat(5)),
            "non-finite",
        ),
        ("acts", npy(">i8", "(5,)", &i64s(&[0; 5])), "dtype"),
        ("obs", npy("<f4", "(7, 4)", &f32s(27)), "bytes"),
    ];
    for (name, data, expect) in cases {
        let bytes = with_replaced(&d, name, data);
        match Demonstrations::from_npz_bytes(&bytes, &LoadLimits::default()) {
            Err(ImitationError::Format { reason, .. }) => {
                assert!(
                    reason.contains(expect),
                    "{name}: '{reason}' lacks '{expect}'"
                )
            }
            other => panic!("{name}: expected a format error, got {other:?}"),
        }
    }
    // Files from the `imitation` library: float64 obs/rews, no eirl metadata, still load.
    let f64s = |n: usize| vec![0u8; n * 8];
    let imitation_style = with_replaced(&d, "obs", npy("<f8", "(7, 4)", &f64s(28)));
    let loaded = Demonstrations::from_npz_bytes(&imitation_style, &LoadLimits::default());
    assert!(matches!(loaded, Ok(l) if l.num_transitions() == 5 && l.obs_dim() == 4));
}

/// numpy reads the file directly (skipped, with a message, when numpy is not installed).
#[test]
fn numpy_reads_the_file() -> Result<(), ImitationError> {
    let python = ["/tmp/impy/bin/python", "python3"]
        .into_iter()
        .map(str::to_string)
        .chain(std::env::var("EIRL_PYTHON").ok())
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import numpy"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(python) = python else {
        println!("numpy_reads_the_file: skipped (no python with numpy; set EIRL_PYTHON)");
        return Ok(());
    };
    let dir = tempfile::tempdir().map_err(|e| ImitationError::Config(e.to_string()))?;
    let path = dir.path().join("demos.npz");
    sample(ActionKind::Continuous(2), &[3, 4]).save(&path)?;
    let script = r#"
import sys, numpy as np
d = np.load(sys.argv[1])
assert d["obs"].shape == (9, 4) and d["obs"].dtype == np.float32, d["obs"].shape
assert d["acts"].shape == (7, 2) and d["rews"].shape == (7,)
assert d["terminal"].tolist() == [False, True]
assert d["indices"].tolist() == [3]
assert bytes(d["env_id"]).decode() == "CartPole-v1"
assert float(d["expert_mean_return"]) == 500.0 and float(d["random_mean_return"]) == 22.0
obs = np.split(d["obs"], d["indices"] + np.arange(len(d["indices"])) + 1)
assert [len(o) for o in obs] == [4, 5]
print("ok")
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&path)
        .output()
        .map_err(|e| ImitationError::Config(e.to_string()))?;
    assert!(
        out.status.success(),
        "numpy check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The other direction: a file as the `imitation` library writes it (savez_compressed,
    // float64 observations and rewards, a pickled `infos` object array that eirl skips).
    let theirs = dir.path().join("theirs.npz");
    let writer = r#"
import sys, numpy as np
infos = np.empty(5, dtype=object); infos[:] = [{} for _ in range(5)]
np.savez_compressed(sys.argv[1], obs=np.arange(14, dtype=np.float64).reshape(7, 2),
    acts=np.array([0, 1, 2, 1, 0]), infos=infos, terminal=np.array([True, False]),
    rews=np.full(5, -1.0), indices=np.array([3]))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", writer])
        .arg(&theirs)
        .output()
        .map_err(|e| ImitationError::Config(e.to_string()))?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = Demonstrations::load(&theirs)?;
    assert_eq!(
        (d.num_episodes(), d.num_transitions(), d.obs_dim()),
        (2, 5, 2)
    );
    assert_eq!(d.returns(), vec![-3.0, -2.0]);
    assert!(
        matches!(d.episode(1), Some(ep) if ep.obs == vec![8.0, 9.0, 10.0, 11.0, 12.0, 13.0] && !ep.terminated)
    );
    assert_eq!(d.env_id(), "");
    Ok(())
}
