//! Fuzzing of the `.npz` demonstrations loader (`Demonstrations::from_npz_bytes`): random bytes
//! and mutated valid files (stored and deflated) must load as a consistent dataset or be
//! refused as a format error, never panic. `cargo xtask fuzz` runs 10⁶ inputs
//! (`EIRL_FUZZ_CASES`); the default suite a few hundred.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use eirl_imitation::{ActionKind, Actions, Demonstrations, Episode, ImitationError, LoadLimits};
use eirl_testkit::fuzz;
use proptest::prelude::*;

fn demos(kind: ActionKind, lengths: &[usize], reference: bool) -> Demonstrations {
    let mut d = Demonstrations::new("CartPole-v1", 2, kind);
    for (e, &t) in lengths.iter().enumerate() {
        let actions = match kind {
            ActionKind::Discrete => Actions::Discrete((0..t).map(|i| (i + e) % 2).collect()),
            ActionKind::Continuous(dim) => Actions::Continuous {
                values: (0..t * dim).map(|i| i as f32 * 0.5).collect(),
                dim,
            },
        };
        let ep = Episode {
            obs: (0..(t + 1) * 2).map(|i| i as f32 - 1.5).collect(),
            actions,
            rewards: vec![1.0; t],
            terminated: e % 2 == 0,
        };
        d.push_episode(&ep).expect("valid episode");
    }
    if reference {
        d.set_expert_mean_return(Some(500.0));
        d.set_random_mean_return(Some(20.0));
    }
    d
}

/// The same archive with every member deflated (what `numpy.savez_compressed` writes).
fn deflated(bytes: &[u8]) -> Vec<u8> {
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("valid archive");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..src.len() {
        let mut member = src.by_index(i).expect("member");
        let mut data = Vec::new();
        member.read_to_end(&mut data).expect("read");
        out.start_file(member.name().to_string(), opts)
            .expect("start");
        out.write_all(&data).expect("write");
    }
    out.finish().expect("finish").into_inner()
}

fn seeds() -> Vec<Vec<u8>> {
    let stored: Vec<Vec<u8>> = [
        demos(ActionKind::Discrete, &[3, 2], true),
        demos(ActionKind::Continuous(2), &[4], false),
        demos(ActionKind::Discrete, &[1], false),
        demos(ActionKind::Discrete, &[], false),
    ]
    .iter()
    .map(|d| d.to_npz_bytes().expect("serialise"))
    .collect();
    let compressed: Vec<Vec<u8>> = stored.iter().map(|b| deflated(b)).collect();
    stored.into_iter().chain(compressed).collect()
}

static LOADED: AtomicU64 = AtomicU64::new(0);

#[test]
fn fuzz_npz() {
    fuzz::run("demonstrations (.npz)", fuzz::bytes(seeds()), |input| {
        match Demonstrations::from_npz_bytes(&input, &LoadLimits::default()) {
            Ok(d) => {
                LOADED.fetch_add(1, Ordering::Relaxed);
                let (obs, acts) = d.state_action_pairs();
                prop_assert_eq!(obs.len(), acts.len() * d.obs_dim());
                prop_assert!((0..d.num_episodes()).all(|e| d.episode(e).is_some()));
                prop_assert_eq!(d.returns().len(), d.num_episodes());
            }
            Err(ImitationError::Format { .. }) => {}
            Err(other) => prop_assert!(false, "not a format error: {other}"),
        }
        Ok(())
    });
    eprintln!(
        "fuzz npz: {} inputs loaded as demonstrations",
        LOADED.load(Ordering::Relaxed)
    );
}
