use eirl_models::{
    Activation, CHECKSUM_KEY, Checkpoint, ModelError, Parameterized, QNetwork, QNetworkConfig,
};

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

/// Where the tensor data of safetensors `bytes` starts: after the 8-byte length and the header.
fn data_start(bytes: &[u8]) -> usize {
    let len: [u8; 8] = bytes[..8].try_into().expect("8 bytes");
    8 + usize::try_from(u64::from_le_bytes(len)).expect("header length")
}

fn message(r: Result<Checkpoint, ModelError>) -> String {
    r.err()
        .map(|e| format!("{:#}", anyhow::Error::new(e)))
        .unwrap_or_default()
}

#[test]
fn damaged_files_fail_their_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latest.safetensors");
    let mut ck = Checkpoint::new();
    ck.insert_params("q", &net(1, 64));
    ck.set_meta("env_steps", "12345");
    ck.save(&path).expect("save");
    let good = std::fs::read(&path).expect("read");
    let start = data_start(&good);
    assert!(good.len() - start > 1000);

    // 100 bytes flipped in the tensor data, a low bit each (values stay finite).
    let mut damaged = good.clone();
    for i in 0..100 {
        damaged[start + i * (good.len() - start) / 100] ^= 0x01;
    }
    std::fs::write(&path, &damaged).expect("write");
    let err = message(Checkpoint::load(&path));
    assert!(
        err.contains("checksum mismatch: the file is damaged")
            && err.contains("latest.safetensors"),
        "{err}"
    );

    // One digit of the metadata changed: still valid JSON, still a mismatch.
    let mut edited = good.clone();
    let at = edited
        .windows(5)
        .position(|w| w == b"12345")
        .expect("steps in header");
    edited[at + 4] = b'6';
    let err = message(Checkpoint::from_bytes(&edited, &path));
    assert!(err.contains("checksum mismatch"), "{err}");

    // The checksum is not part of what the checkpoint shows.
    let loaded = Checkpoint::from_bytes(&good, &path).expect("intact file loads");
    assert_eq!(loaded.meta(CHECKSUM_KEY), None);
    assert_eq!(loaded.meta("env_steps"), Some("12345"));
}

#[test]
fn checkpoints_without_checksum_still_load() {
    // What eirl wrote before it stored a checksum: plain safetensors with string metadata.
    let values: Vec<u8> = [1.0f32, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &values)
        .expect("view");
    let meta = std::collections::HashMap::from([("env_steps".to_string(), "7".to_string())]);
    let bytes =
        safetensors::tensor::serialize([("x".to_string(), view)], &Some(meta)).expect("bytes");
    let ck = Checkpoint::from_bytes(&bytes, std::path::Path::new("old.safetensors"))
        .expect("an old checkpoint loads");
    assert_eq!(ck.meta("env_steps"), Some("7"));
    assert_eq!(ck.get("x").map(|(_, v)| v.to_vec()), Some(vec![1.0, -2.0]));
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("best.safetensors");
    for bad in [f32::NAN, f32::INFINITY] {
        let mut ck = Checkpoint::new();
        ck.insert("q.0", vec![2], vec![0.5, 1.0]);
        ck.insert("q.1", vec![3], vec![0.0, bad, 1.0]);
        ck.save(&path).expect("save");
        let err = message(Checkpoint::load(&path));
        assert!(
            err.contains("q.1") && err.contains("non-finite") && err.contains("best.safetensors"),
            "{err}"
        );
    }
}

#[test]
fn a_missing_file_names_the_os_error_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = message(Checkpoint::load(&dir.path().join("absent.safetensors")));
    assert!(err.contains("absent.safetensors"), "{err}");
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
}

/// A checkpoint with many metadata entries and tensors, inserted in the order `keys` gives.
fn filled(keys: &[usize]) -> Checkpoint {
    let mut ck = Checkpoint::new();
    for &k in keys {
        ck.set_meta(format!("key_{k}"), format!("value \"{k}\" é"));
        ck.insert(
            format!("t.{k}"),
            vec![2, k + 1],
            vec![k as f32 * 0.5; 2 * (k + 1)],
        );
    }
    ck.insert_params("online", &net(7, 16));
    ck
}

#[test]
fn equal_checkpoints_save_to_identical_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let forward: Vec<usize> = (0..24).collect();
    let backward: Vec<usize> = (0..24).rev().collect();
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    filled(&forward).save(&a).expect("save a");
    filled(&backward).save(&b).expect("save b");
    let (bytes_a, bytes_b) = (std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
    assert_eq!(bytes_a, bytes_b);
    // Saving the loaded checkpoint again gives the same bytes too.
    Checkpoint::load(&a)
        .expect("load")
        .save(&b)
        .expect("resave");
    assert_eq!(std::fs::read(&b).expect("b"), bytes_a);

    // The file is plain safetensors: the crate reads every tensor and the metadata back.
    let st = safetensors::SafeTensors::deserialize(&bytes_a).expect("safetensors reads it");
    assert_eq!(st.len(), 24 + net(7, 16).export_params().len());
    let t = st.tensor("t.3").expect("t.3");
    assert_eq!(t.shape(), [2, 4]);
    assert_eq!(t.dtype(), safetensors::Dtype::F32);
    let values: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(values, vec![1.5; 8]);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes_a).expect("header");
    let meta = header.metadata().as_ref().expect("metadata");
    assert_eq!(meta.get("key_5").map(String::as_str), Some("value \"5\" é"));
    assert!(meta.contains_key(CHECKSUM_KEY));
    // Metadata keys appear in sorted order in the header.
    let text = String::from_utf8_lossy(&bytes_a[8..data_start(&bytes_a)]).into_owned();
    let at = |k: &str| text.find(&format!("\"{k}\"")).expect(k);
    assert!(at("eirl_checksum") < at("key_0") && at("key_0") < at("key_1"));
    assert!(at("key_10") < at("key_2"), "byte order, as BTreeMap");
}

#[test]
fn bytes_equal_the_reference_writer_when_its_order_is_fixed() {
    // With one metadata entry (the checksum) the reference writer's hash order cannot vary, and
    // both writers sort tensors by name: the outputs must agree byte for byte.
    let mut ck = Checkpoint::new();
    ck.insert_params("q", &net(3, 8));
    ck.insert("scalar", vec![1], vec![2.5]);
    ck.insert("empty", vec![0, 3], vec![]);
    let ours = ck.to_bytes().expect("ours");
    let (_, header) = safetensors::SafeTensors::read_metadata(&ours).expect("header");
    let meta = header.metadata().clone();
    assert_eq!(meta.as_ref().map(|m| m.len()), Some(1));
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = ck
        .names()
        .map(|n| {
            let (s, v) = ck.get(n).expect("tensor");
            (
                n.to_string(),
                s.to_vec(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = data.iter().map(|(n, s, b)| {
        (
            n.clone(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .expect("view"),
        )
    });
    let reference = safetensors::tensor::serialize(views, &meta).expect("reference");
    assert_eq!(ours, reference);
}
