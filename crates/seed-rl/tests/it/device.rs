//! Central inference on a device: the GPU forward program (run here on the host backend, and on
//! a GPU where one answers) serves the same actions as the CPU network.

use std::sync::Arc;

use eirl_agent::Agent;
use eirl_inference_server::{Action, BatchPolicy, InferBatch, InferOutput};
use eirl_models::gpu::{ComputeDevice, HostBackend};
use eirl_models::{ActorCriticConfig, ModelError, PolicyValueNetwork};
use eirl_seed_rl::{ParamBoard, SeedConfig, SeedRl, ServedPolicy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn infer(p: &mut ServedPolicy, obs: &[f32], n: usize) -> InferOutput {
    let mut out = InferOutput::default();
    p.infer(InferBatch { obs, state: &[], n }, &mut out)
        .expect("infer");
    out
}

type MakeDevicePolicy = dyn FnOnce(
    PolicyValueNetwork,
    &ActorCriticConfig,
    Arc<ParamBoard>,
) -> Result<ServedPolicy, ModelError>;

/// Serves batches through a device policy (built by `make` on a board it shares with a CPU
/// policy) and through the CPU policy, publishing new parameters halfway, and checks that both
/// sample the same actions with the same `log μ`.
fn serve_alike(make: Box<MakeDevicePolicy>, tol: f32) -> Result<(), ModelError> {
    let cfg = SeedConfig::default().network;
    let board = Arc::new(ParamBoard::default());
    board.publish(&PolicyValueNetwork::new(4, 3, &cfg, 3)?);
    // Both are built from other parameters: what they serve comes from the board.
    let mut cpu = ServedPolicy::new(PolicyValueNetwork::new(4, 3, &cfg, 70)?, board.clone(), 9);
    let mut dev = make(
        PolicyValueNetwork::new(4, 3, &cfg, 71)?,
        &cfg,
        board.clone(),
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let probe: Vec<f32> = (0..4).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut probe_policy =
        ServedPolicy::new(PolicyValueNetwork::new(4, 3, &cfg, 72)?, board.clone(), 1);
    let before = infer(&mut probe_policy, &probe, 1).aux[0];
    let mut rows = 0;
    for (round, n) in [1usize, 7, 64, 3, 200].into_iter().enumerate() {
        if round == 2 {
            board.publish(&PolicyValueNetwork::new(4, 3, &cfg, 4)?);
        }
        let obs: Vec<f32> = (0..n * 4).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let (a, b) = (infer(&mut cpu, &obs, n), infer(&mut dev, &obs, n));
        assert_eq!(a.actions, b.actions, "round {round}");
        assert_eq!(a.aux.len(), n);
        for (x, y) in a.aux.iter().zip(&b.aux) {
            assert!((x - y).abs() <= tol, "log μ {x} vs {y}, round {round}");
        }
        assert!(
            a.actions
                .iter()
                .all(|x| matches!(x, Action::Discrete(0..=2)))
        );
        rows += n;
    }
    let after = infer(&mut probe_policy, &probe, 1).aux[0];
    assert!(
        (after - before).abs() > 1e-3,
        "the publication changed the policy"
    );
    assert_eq!(rows, 275);
    Ok(())
}

#[test]
fn the_device_program_serves_what_the_cpu_serves() -> Result<(), ModelError> {
    serve_alike(
        Box::new(|net, cfg, board| {
            ServedPolicy::with_backend(net, cfg, board, 9, Box::new(HostBackend::new()))
        }),
        1e-5,
    )
}

#[test]
fn a_gpu_serves_what_the_cpu_serves_or_cuda_says_why_not() -> Result<(), ModelError> {
    let required = std::env::var_os("EIRL_REQUIRE_GPU").is_some_and(|v| v == "1");
    match ComputeDevice::Cuda(0).open() {
        Ok(opened) => {
            let gpu = opened
                .into_backend()
                .expect("open(Cuda) gives a GPU backend");
            serve_alike(
                Box::new(move |net, cfg, board| {
                    ServedPolicy::with_backend(net, cfg, board, 9, gpu)
                }),
                1e-4,
            )
        }
        Err(e) => {
            assert!(!required, "EIRL_REQUIRE_GPU=1 but: {e}");
            let msg = e.to_string();
            assert!(
                msg.contains("not found")
                    || msg.contains("no GPU")
                    || msg.contains("`cuda` feature"),
                "{msg}"
            );
            println!("skipped: {msg}");
            Ok(())
        }
    }
}

#[test]
fn the_agent_on_cuda_without_a_gpu_fails_at_start_and_auto_falls_back() {
    let cfg = |device| SeedConfig {
        actors: 1,
        envs_per_actor: 2,
        device,
        ..SeedConfig::default()
    };
    let mut auto = SeedRl::new("CartPole-v1", cfg(ComputeDevice::Auto), 0).expect("agent");
    auto.step().expect("auto runs wherever it can");
    auto.shutdown();
    let mut cuda = SeedRl::new("CartPole-v1", cfg(ComputeDevice::Cuda(0)), 0).expect("agent");
    let gpu_usable = ComputeDevice::Cuda(0).open().is_ok();
    match (cuda.step(), gpu_usable) {
        (Ok(_), true) => println!("a GPU served the run"),
        (Err(e), false) => {
            let msg = format!("{e:#}");
            assert!(msg.contains("CUDA is not usable here"), "{msg}");
        }
        (r, _) => panic!("GPU usable: {gpu_usable}, but the run gave {:?}", r.err()),
    }
    cuda.shutdown();
}
