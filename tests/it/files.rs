//! Files a run writes: byte-identical checkpoints for a seeded run, the modes `File::create`
//! gives, the run's own copy of its demonstrations, and `eirl export --format torch` (PyTorch's
//! `[out, in]` layout) computing what the run's network computes.

use std::path::{Path, PathBuf};
use std::process::Command;

use eirl_agent::Build;
use eirl_models::{
    ARCHITECTURE_KEY, Checkpoint, PolicyNetwork, PolicyNetworkConfig, QNetwork, QNetworkConfig,
};
use eirl_runlog::RunDir;

use super::{eirl, only_run_dir, stderr, stdout};

/// A seeded DQN run of 400 steps with updates from step 100, through the library.
fn dqn_run(root: &Path) -> PathBuf {
    let mut config = (eirl_dqn::ALGORITHM.defaults)().expect("defaults");
    let tiny: toml::Table = toml::from_str(
        r#"
total_steps = 400
learning_starts = 100
batch_size = 16
buffer_size = 1000
train_freq = 4
target_update_interval = 50
eval_interval = 200
eval_episodes = 2
[network]
hidden = [16]
"#,
    )
    .expect("config");
    eirl_agent::overlay(&mut config, tiny);
    let mut agent = (eirl_dqn::ALGORITHM.build)(Build {
        env_id: "CartPole-v1",
        config: &config,
        seed: 5,
        demos: None,
        expert: None,
    })
    .expect("agent");
    let run = RunDir::create(root, "dqn", "CartPole-v1", 5).expect("run dir");
    run.write_config(&config).expect("config.toml");
    eirl_agent::train(agent.as_mut(), &run, false).expect("train");
    run.path().to_path_buf()
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Same seed, same config: the checkpoints of two runs are the same bytes (dfdx on the CPU and
/// every random draw are seeded; the checkpoint writer orders tensors and metadata).
#[test]
fn a_seeded_run_writes_byte_identical_checkpoints() {
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let (run_a, run_b) = (dqn_run(a.path()), dqn_run(b.path()));
    for name in ["latest.safetensors", "best.safetensors"] {
        let read = |run: &Path| std::fs::read(run.join("checkpoints").join(name)).expect(name);
        assert!(read(&run_a) == read(&run_b), "{name} differs between runs");
    }
    let ck = Checkpoint::load(&run_a.join("checkpoints/latest.safetensors")).expect("load");
    let updates: u64 = ck.parse_meta("updates").expect("updates");
    assert!(updates > 0, "the run must have trained");
    assert!(ck.meta("best_eval_mean").is_some());
}

/// Every file of a run (checkpoints and config written through temp files, metrics appended)
/// has the mode a plain `File::create` gives under this process's umask, not a temp file's
/// `0o600`.
#[cfg(unix)]
#[test]
fn run_files_have_the_mode_of_file_create() {
    let root = tempfile::tempdir().expect("tmp");
    let run = dqn_run(root.path());
    let plain = root.path().join("plain");
    std::fs::File::create(&plain).expect("create");
    let want = mode(&plain);
    let mut checked = Vec::new();
    for dir in [run.clone(), run.join("checkpoints")] {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                assert_eq!(mode(&path), want, "{}", path.display());
                checked.push(path.file_name().map(|n| n.to_string_lossy().into_owned()));
            }
        }
    }
    for name in [
        "latest.safetensors",
        "best.safetensors",
        "metrics.csv",
        "config.toml",
        "run.json",
        "learning_curve.png",
    ] {
        assert!(
            checked.iter().flatten().any(|n| n == name),
            "{name} not among {checked:?}"
        );
    }
}

fn record_demos(dir: &Path) {
    let rec = eirl(
        &[
            "demo",
            "record",
            "--expert",
            "cartpole-balancer",
            "--episodes",
            "2",
            "--out",
            "cp.npz",
        ],
        dir,
    );
    assert!(rec.status.success(), "{}", stderr(&rec));
}

/// BC runs, and DAgger runs given initial demonstrations, keep a copy of them as GAIL's do.
#[test]
fn bc_and_dagger_runs_keep_their_demonstrations() {
    let tmp = tempfile::tempdir().expect("tmp");
    record_demos(tmp.path());
    let original = std::fs::read(tmp.path().join("cp.npz")).expect("demos");
    std::fs::write(
        tmp.path().join("bc.toml"),
        "eval_episodes = 2\n[bc]\nmax_epochs = 2\n",
    )
    .expect("cfg");
    std::fs::write(
        tmp.path().join("dagger.toml"),
        "eval_episodes = 2\nrandom_episodes = 2\n[dagger]\nrounds = 1\n[dagger.bc]\nmax_epochs = 2\n",
    )
    .expect("cfg");
    for (algo, extra) in [
        ("bc", vec![]),
        ("dagger", vec!["--expert", "cartpole-balancer"]),
    ] {
        let out_dir = format!("runs-{algo}");
        let config = format!("{algo}.toml");
        let mut args = vec![
            "train",
            algo,
            "--env",
            "CartPole-v1",
            "--demos",
            "cp.npz",
            "--config",
            &config,
            "--out",
            &out_dir,
        ];
        args.extend(extra);
        let out = eirl(&args, tmp.path());
        assert!(out.status.success(), "{algo}: {}", stderr(&out));
        let run = only_run_dir(&tmp.path().join(&out_dir));
        let copy = std::fs::read(run.join("demos.npz")).expect("the run's demos.npz");
        assert!(
            copy == original,
            "{algo}: the copy differs from the original"
        );
    }
}

/// Observations spread over CartPole's typical range.
fn observations(n: usize) -> Vec<f32> {
    (0..n * 4)
        .map(|i| ((i * 7919 % 101) as f32 / 50.0 - 1.0) * [2.0, 3.0, 0.2, 3.0][i % 4])
        .collect()
}

/// `x Wᵀ + b` layer by layer over an exported file, as `torch.nn` would run it: the
/// architecture from its metadata, the weights `[out, in]`.
fn torch_forward(export: &Checkpoint, obs: &[f32], batch: usize) -> Vec<f32> {
    let arch: serde_json::Value =
        serde_json::from_str(export.meta(ARCHITECTURE_KEY).expect("architecture")).expect("json");
    let linear = |name: &str, x: &[f32]| -> Vec<f32> {
        let (shape, w) = export.get(&format!("{name}.weight")).expect("weight");
        let (_, b) = export.get(&format!("{name}.bias")).expect("bias");
        let (outs, ins) = (shape[0], shape[1]);
        x.chunks(ins)
            .flat_map(|row| {
                (0..outs)
                    .map(move |o| b[o] + (0..ins).map(|i| w[o * ins + i] * row[i]).sum::<f32>())
            })
            .collect()
    };
    let mut h = obs.to_vec();
    let layers = arch["net"].as_array().expect("net");
    for (i, layer) in layers.iter().enumerate() {
        h = match layer["type"].as_str().expect("type") {
            "Linear" => linear(&format!("net.{i}"), &h),
            "ReLU" => h.iter().map(|v| v.max(0.0)).collect(),
            "Tanh" => h.iter().map(|v| v.tanh()).collect(),
            other => panic!("unknown layer {other}"),
        };
    }
    if arch["head"]["kind"] == "dueling" {
        let value = linear("value", &h);
        let advantage = linear("advantage", &h);
        let n = advantage.len() / batch;
        h = value
            .iter()
            .zip(advantage.chunks(n))
            .flat_map(|(v, a)| {
                let mean = a.iter().sum::<f32>() / n as f32;
                a.iter().map(move |x| v + x - mean)
            })
            .collect();
    }
    h
}

/// Runs `python/check_torch_export.py` (numpy's `x @ W.T + b` over the file read with
/// safetensors' numpy API) when a Python with numpy and safetensors is found.
fn python_check(model: &Path, obs: &[f32], expected: &[f32], batch: usize) {
    let py = super::python_actor::python();
    let has_modules = Command::new(&py)
        .args(["-c", "import numpy, safetensors.numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_modules {
        eprintln!(
            "skipping the Python check of {}: {} lacks numpy or safetensors",
            model.display(),
            py.display()
        );
        return;
    }
    let cases = model.with_extension("json");
    let rows =
        |v: &[f32]| -> Vec<Vec<f32>> { v.chunks(v.len() / batch).map(<[f32]>::to_vec).collect() };
    let json = serde_json::json!({ "observations": rows(obs), "outputs": rows(expected) });
    std::fs::write(&cases, json.to_string()).expect("cases");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_torch_export.py");
    let out = Command::new(&py)
        .arg(script)
        .arg(model)
        .arg(&cases)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
}

/// Exports `run` and checks the file against the network restored from the run's checkpoint.
fn check_export(run: &Path, dir: &Path, outputs: impl Fn(&Checkpoint, &[f32], usize) -> Vec<f32>) {
    let model = dir.join(format!(
        "{}.safetensors",
        run.file_name().expect("name").to_string_lossy()
    ));
    let out = eirl(
        &[
            "export",
            "--run",
            run.to_str().expect("utf8"),
            "--checkpoint",
            "latest",
            "--format",
            "torch",
            "--out",
            model.to_str().expect("utf8"),
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("net = Sequential(Linear(4, "),
        "{}",
        stdout(&out)
    );
    let ck = Checkpoint::load(&run.join("checkpoints/latest.safetensors")).expect("checkpoint");
    let export = Checkpoint::load(&model).expect("the export is safetensors");
    assert_eq!(export.meta("format"), Some("pt"));
    let w = export.get("net.0.weight").expect("net.0.weight");
    assert_eq!(w.0[1], 4, "weights are [out, in]");
    let batch = 64;
    let obs = observations(batch);
    let expected = outputs(&ck, &obs, batch);
    let got = torch_forward(&export, &obs, batch);
    // numpy's allclose at eirl-testkit's f32 tolerance: |a − e| ≤ 1e-4 + 1e-4·|e|.
    assert_eq!(got.len(), expected.len());
    for (i, (a, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            (a - e).abs() <= 1e-4 + 1e-4 * e.abs(),
            "output {i}: {a} vs {e}"
        );
    }
    python_check(&model, &obs, &expected, batch);
}

/// The `[network]` table of a run's saved config.
fn network_config<T: serde::de::DeserializeOwned>(run: &Path) -> T {
    let text = std::fs::read_to_string(run.join("config.toml")).expect("config.toml");
    let table: toml::Table = toml::from_str(&text).expect("toml");
    table["network"].clone().try_into().expect("[network]")
}

#[test]
fn torch_export_computes_what_the_run_computes() {
    let tmp = tempfile::tempdir().expect("tmp");
    // A dueling DQN run (through the CLI) and a BC run.
    std::fs::write(
        tmp.path().join("dqn.toml"),
        format!("{}dueling = true\n", super::TINY),
    )
    .expect("cfg");
    let dqn = eirl(
        &[
            "train",
            "dqn",
            "--env",
            "CartPole-v1",
            "--config",
            "dqn.toml",
            "--steps",
            "400",
            "--out",
            "runs-dqn",
        ],
        tmp.path(),
    );
    assert!(dqn.status.success(), "{}", stderr(&dqn));
    let dqn_run = only_run_dir(&tmp.path().join("runs-dqn"));
    check_export(&dqn_run, tmp.path(), |ck, obs, batch| {
        let cfg: QNetworkConfig = network_config(&dqn_run);
        assert!(cfg.dueling);
        let mut q = QNetwork::new(4, 2, &cfg, 0).expect("q");
        ck.restore_params("online", &mut q).expect("restore");
        q.q_values(obs, batch).expect("q values")
    });

    record_demos(tmp.path());
    std::fs::write(
        tmp.path().join("bc.toml"),
        "eval_episodes = 2\n[bc]\nmax_epochs = 3\n[network]\nhidden = [32, 16]\n",
    )
    .expect("cfg");
    let bc = eirl(
        &[
            "train",
            "bc",
            "--env",
            "CartPole-v1",
            "--demos",
            "cp.npz",
            "--config",
            "bc.toml",
            "--out",
            "runs-bc",
        ],
        tmp.path(),
    );
    assert!(bc.status.success(), "{}", stderr(&bc));
    let bc_run = only_run_dir(&tmp.path().join("runs-bc"));
    check_export(&bc_run, tmp.path(), |ck, obs, batch| {
        let cfg: PolicyNetworkConfig = network_config(&bc_run);
        assert_eq!(cfg.hidden, [32, 16]);
        let head = eirl_models::PolicyHead::Categorical { num_actions: 2 };
        let mut p = PolicyNetwork::new(4, head, &cfg, 0).expect("policy");
        ck.restore_params("policy", &mut p).expect("restore");
        p.outputs(obs, batch).expect("logits")
    });

    // A run that does not exist is a one-line error naming it.
    let missing = eirl(
        &[
            "export",
            "--run",
            "no/such/run",
            "--format",
            "torch",
            "--out",
            "x.safetensors",
        ],
        tmp.path(),
    );
    assert!(!missing.status.success() && stderr(&missing).contains("no/such/run"));
}
