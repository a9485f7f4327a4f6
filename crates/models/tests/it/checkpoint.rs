use eirl_models::{Activation, Checkpoint, Parameterized, QNetwork, QNetworkConfig};

fn net(seed: u64, hidden: usize) -> QNetwork {
    let cfg = QNetworkConfig {
        hidden: vec![hidden],
        activation: Activation::Relu,
        dueling: true,
    };
    QNetwork::new(4, 3, &cfg, seed).expect("network")
}

#[test]
fn round_trip_through_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/model.safetensors");
    let a = net(1, 8);
    let mut ck = Checkpoint::new();
    ck.insert_params("online", &a);
    ck.set_meta("step", "123");
    ck.save(&path).expect("save");
    let loaded = Checkpoint::load(&path).expect("load");
    assert_eq!(loaded.meta("step"), Some("123"));
    let mut b = net(2, 8);
    loaded.restore_params("online", &mut b).expect("restore");
    assert_eq!(a.export_params(), b.export_params());
    // A different architecture is refused and left untouched.
    let mut c = net(3, 16);
    let before = c.export_params();
    assert!(loaded.restore_params("online", &mut c).is_err());
    assert_eq!(c.export_params(), before);
    assert!(loaded.restore_params("missing", &mut b).is_err());
}

#[test]
fn corrupt_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.safetensors");
    let mut ck = Checkpoint::new();
    ck.insert_params("q", &net(1, 8));
    let bytes = ck.to_bytes().expect("bytes");
    // Every truncation, and a header claiming an enormous length.
    for cut in [0, 1, 7, 8, 9, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Checkpoint::from_bytes(&bytes[..cut], &path).is_err(),
            "cut {cut}"
        );
    }
    let mut hostile = bytes.clone();
    hostile[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Checkpoint::from_bytes(&hostile, &path).is_err());
    let mut flipped = bytes;
    flipped[10] ^= 0xff;
    let _ = Checkpoint::from_bytes(&flipped, &path); // may parse or not; must not panic
    assert!(Checkpoint::load(&dir.path().join("absent")).is_err());
}

#[test]
fn save_replaces_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latest.safetensors");
    let mut ck = Checkpoint::new();
    ck.insert("x", vec![2], vec![1.0, 2.0]);
    ck.save(&path).expect("save 1");
    ck.insert("x", vec![2], vec![3.0, 4.0]);
    ck.save(&path).expect("save 2");
    let loaded = Checkpoint::load(&path).expect("load");
    assert_eq!(
        loaded.get("x").map(|(_, v)| v.to_vec()),
        Some(vec![3.0, 4.0])
    );
    // No temporary files left behind.
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(files.len(), 1);
}
