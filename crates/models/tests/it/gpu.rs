//! The device program ([`DeviceMlp`]) against the CPU network ([`FusedMlp`]) and the CPU
//! optimizer, on the host backend everywhere and on the GPU where one answers.

use eirl_models::gpu::{Backend, ComputeDevice, DeviceMlp, Gemm, HostBackend, Span};
use eirl_models::{
    Activation, Adam, AdamConfig, Categorical, FusedMlp, ModelError, Optimizer, Workspace,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(n: usize, scale: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
}

fn fused(sizes: &[usize], act: Activation, activate_output: bool, seed: u64) -> FusedMlp {
    let mut net = FusedMlp::new(sizes, act, activate_output).expect("sizes");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = net.params().len();
    net.params_mut().copy_from_slice(&random(n, 0.5, &mut rng));
    net
}

fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y} (tolerance {tol})"
        );
    }
}

/// Forward, backward and two clipped Adam steps on `dev`, each compared with the CPU network
/// and `Adam::step_flat`. Returns how many of the steps were clipped.
fn check_against_fused<B: Backend>(
    backend: B,
    sizes: &[usize],
    act: Activation,
    activate_output: bool,
    batches: &[usize],
    tol: f32,
) -> Result<usize, ModelError> {
    let mut cpu = fused(sizes, act, activate_output, 7);
    let mut dev = DeviceMlp::new(backend, sizes, act, activate_output)?;
    dev.set_params(cpu.params())?;
    assert_close("uploaded parameters", &dev.params()?, cpu.params(), 0.0);
    let cfg = AdamConfig {
        lr: 1e-2,
        ..AdamConfig::default()
    };
    let mut opt = Adam::new(cfg);
    let shapes = cpu.param_shapes();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut clipped = 0;
    let mut ws = Workspace::default();
    for &batch in batches {
        let x = random(batch * sizes[0], 1.0, &mut rng);
        let want = cpu.forward(&x, batch, &mut ws)?.to_vec();
        assert_close("forward", dev.forward(&x, batch)?, &want, tol);
        let d_out = random(want.len(), 1.0, &mut rng);
        cpu.backward(&d_out, &mut ws)?;
        dev.backward(&d_out)?;
        assert_close("gradients", &dev.grads()?, ws.grads(), tol);
        // A clip threshold below the gradient norm, so the clipped path runs.
        let norm: f32 = ws.grads().iter().map(|g| g * g).sum::<f32>().sqrt();
        let max = Some(norm * 0.5);
        let grads = ws.grads().to_vec();
        let cpu_norm = opt.step_flat(cpu.params_mut(), &grads, &shapes, max)?;
        let dev_norm = dev.adam_step(&cfg, max)?;
        assert_close("gradient norm", &[dev_norm], &[cpu_norm], tol);
        clipped += usize::from(cpu_norm > norm * 0.5);
        assert_close("parameters after Adam", &dev.params()?, cpu.params(), tol);
    }
    Ok(clipped)
}

#[test]
fn host_program_matches_the_cpu_network() -> Result<(), ModelError> {
    for (act, activate_output) in [
        (Activation::Tanh, false),
        (Activation::Relu, false),
        (Activation::Relu, true),
    ] {
        // Batches 1, then growth to 17 rows, then smaller again (buffers are reused).
        let clipped = check_against_fused(
            HostBackend::new(),
            &[5, 16, 9, 3],
            act,
            activate_output,
            &[1, 4, 17, 6],
            1e-5,
        )?;
        assert_eq!(clipped, 4, "every step clipped, {act:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn host_program_matches_the_cpu_network_for_any_shape(
        sizes in proptest::collection::vec(1usize..24, 2..5),
        batch in 1usize..12,
        tanh in any::<bool>(),
    ) {
        let act = if tanh { Activation::Tanh } else { Activation::Relu };
        let clipped = check_against_fused(HostBackend::new(), &sizes, act, false, &[batch], 1e-4)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(clipped, 1);
    }
}

#[test]
fn softmax_rows_are_the_categorical_probabilities() -> Result<(), ModelError> {
    let cpu = fused(&[4, 8, 5], Activation::Tanh, false, 3);
    let mut dev = DeviceMlp::new(HostBackend::new(), &[4, 8, 5], Activation::Tanh, false)?;
    dev.set_params(cpu.params())?;
    let x = random(3 * 4, 1.0, &mut ChaCha8Rng::seed_from_u64(2));
    let out = dev.forward(&x, 3)?.to_vec();
    // Softmax over the first 4 of 5 outputs (a policy head beside a value output).
    let probs = dev.forward_softmax(&x, 3, 4)?.to_vec();
    let want: Vec<f32> = out
        .chunks_exact(5)
        .flat_map(|r| Categorical::probs(&r[..4]))
        .collect();
    assert_close("probabilities", &probs, &want, 1e-6);
    assert!(dev.forward_softmax(&x, 3, 6).is_err());
    assert!(dev.forward_softmax(&x, 3, 0).is_err());
    Ok(())
}

#[test]
fn bad_shapes_and_spans_are_errors() -> Result<(), ModelError> {
    let mut dev = DeviceMlp::new(HostBackend::new(), &[3, 4, 2], Activation::Relu, false)?;
    assert!(dev.set_params(&[0.0; 5]).is_err());
    assert!(dev.forward(&[0.0; 5], 2).is_err());
    assert!(dev.forward(&[], 0).is_err());
    assert!(dev.backward(&[0.0; 4]).is_err(), "backward before forward");
    assert!(dev.grads().is_err());
    dev.forward(&[0.0; 6], 2)?;
    assert!(dev.backward(&[0.0; 3]).is_err());
    let wd = AdamConfig {
        weight_decay: 0.1,
        ..AdamConfig::default()
    };
    dev.backward(&[0.0; 4])?;
    assert!(dev.adam_step(&wd, None).is_err());

    let mut host = HostBackend::new();
    let a = host.alloc(6)?;
    let c = host.alloc(4)?;
    assert!(host.upload(Span { id: a, off: 4 }, &[1.0; 3]).is_err());
    assert!(host.download(Span::buf(c), &mut [0.0; 5]).is_err());
    assert!(host.upload(Span::buf(99), &[1.0]).is_err());
    // [2, 3] · [3, 2] needs a 6-element A and B and a 4-element C; B here has 6, C only 4.
    let g = Gemm {
        transa: false,
        transb: false,
        m: 2,
        n: 2,
        k: 3,
        alpha: 1.0,
        a: Span::buf(a),
        lda: 2,
        b: Span::buf(a),
        ldb: 3,
        beta: 0.0,
        c: Span::buf(c),
        ldc: 2,
    };
    host.gemm(&g)?;
    assert!(host.gemm(&Gemm { ldc: 3, ..g }).is_err(), "C overruns");
    assert!(host.gemm(&Gemm { lda: 1, ..g }).is_err(), "lda < m");
    assert!(
        host.gemm(&Gemm {
            c: Span { id: c, off: 1 },
            ..g
        })
        .is_err()
    );
    assert!(
        host.softmax_rows(Span::buf(c), Span::buf(a), 2, 3, 2)
            .is_err()
    );
    Ok(())
}

#[test]
fn gemm_follows_cublas_column_major_semantics() -> Result<(), ModelError> {
    // A = [[1, 2, 3], [4, 5, 6]] (2 × 3) stored column-major with lda = 2.
    let mut host = HostBackend::new();
    let a = host.alloc(6)?;
    host.upload(Span::buf(a), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0])?;
    let c = host.alloc(4)?;
    host.upload(Span::buf(c), &[f32::NAN; 4])?;
    // C = A · Aᵀ (2 × 2): transb reads A as Aᵀ; β = 0 ignores the NaNs in C.
    let g = Gemm {
        transa: false,
        transb: true,
        m: 2,
        n: 2,
        k: 3,
        alpha: 1.0,
        a: Span::buf(a),
        lda: 2,
        b: Span::buf(a),
        ldb: 2,
        beta: 0.0,
        c: Span::buf(c),
        ldc: 2,
    };
    host.gemm(&g)?;
    let mut out = [0.0; 4];
    host.download(Span::buf(c), &mut out)?;
    assert_close("A·Aᵀ", &out, &[14.0, 32.0, 32.0, 77.0], 0.0);
    // α = 2, β = 1 accumulates.
    host.gemm(&Gemm {
        alpha: 2.0,
        beta: 1.0,
        ..g
    })?;
    host.download(Span::buf(c), &mut out)?;
    assert_close("2·A·Aᵀ + C", &out, &[42.0, 96.0, 96.0, 231.0], 0.0);
    Ok(())
}

#[test]
fn devices_parse_print_and_deserialize() -> Result<(), ModelError> {
    for (text, dev) in [
        ("cpu", ComputeDevice::Cpu),
        ("cuda", ComputeDevice::Cuda(0)),
        ("cuda:3", ComputeDevice::Cuda(3)),
        ("auto", ComputeDevice::Auto),
        ("host", ComputeDevice::Host),
    ] {
        assert_eq!(text.parse::<ComputeDevice>()?, dev);
        assert_eq!(dev.to_string(), text);
    }
    assert_eq!("gpu".parse::<ComputeDevice>()?, ComputeDevice::Cuda(0));
    for bad in ["", "tpu", "cuda:", "cuda:x", "cuda:-1", "CUDA"] {
        let e = bad.parse::<ComputeDevice>().expect_err(bad).to_string();
        assert!(
            e.contains("expected cpu, cuda, cuda:N, auto or host"),
            "{e}"
        );
    }
    #[derive(serde::Deserialize)]
    struct C {
        device: ComputeDevice,
    }
    let c: C = serde_json::from_str(r#"{"device": "cuda:1"}"#)
        .map_err(|e| ModelError::Config(e.to_string()))?;
    assert_eq!(c.device, ComputeDevice::Cuda(1));
    assert!(serde_json::from_str::<C>(r#"{"device": "npu"}"#).is_err());
    assert_eq!(
        serde_json::to_string(&ComputeDevice::Cuda(2))
            .map_err(|e| ModelError::Config(e.to_string()))?,
        r#""cuda:2""#
    );
    Ok(())
}

/// Whether the tests must find a working GPU (set on GPU machines, so a GPU test cannot pass
/// by skipping there).
fn gpu_required() -> bool {
    std::env::var_os("EIRL_REQUIRE_GPU").is_some_and(|v| v == "1")
}

#[test]
fn cuda_opens_or_says_why_and_auto_falls_back() -> Result<(), ModelError> {
    match ComputeDevice::Cuda(0).open() {
        Ok(r) => println!("GPU: {r:?}"),
        Err(e) => {
            assert!(!gpu_required(), "EIRL_REQUIRE_GPU=1 but: {e}");
            let msg = e.to_string();
            assert!(
                msg.contains("not found")
                    || msg.contains("no GPU")
                    || msg.contains("`cuda` feature"),
                "the error says what is missing: {msg}"
            );
            assert!(matches!(
                ComputeDevice::Auto.open()?,
                eirl_models::gpu::Resolved::Cpu
            ));
            println!("skipped the GPU half: {msg}");
        }
    }
    assert!(matches!(
        ComputeDevice::Cpu.open()?,
        eirl_models::gpu::Resolved::Cpu
    ));
    let host = ComputeDevice::Host
        .open()?
        .into_backend()
        .expect("a backend");
    assert_eq!(host.name(), "host");
    Ok(())
}

#[cfg(feature = "cuda")]
mod cuda {
    use super::*;
    use eirl_models::gpu::{CudaBackend, KERNEL_NAMES, compile_kernels};

    #[test]
    fn nvrtc_compiles_the_kernels() {
        match compile_kernels() {
            Ok(ptx) => {
                for name in KERNEL_NAMES {
                    assert!(
                        ptx.contains(&format!(".entry {name}(")),
                        "PTX has the entry {name}"
                    );
                }
            }
            Err(e) => {
                // Only a missing library skips; a compile error fails.
                assert!(e.to_string().starts_with("CUDA is not usable here"), "{e}");
                // `.ci/run` installs NVRTC's wheel into .venv-py; elsewhere it is optional.
                assert!(
                    std::env::var_os("CI").is_none() && !gpu_required(),
                    "NVRTC must load in CI: {e}"
                );
                println!("skipped: {e}");
            }
        }
    }

    fn gpu() -> Option<CudaBackend> {
        match CudaBackend::new(0) {
            Ok(b) => Some(b),
            Err(e) => {
                assert!(!gpu_required(), "EIRL_REQUIRE_GPU=1 but: {e}");
                println!("skipped: {e}");
                None
            }
        }
    }

    #[test]
    fn the_gpu_program_matches_the_cpu_network() -> Result<(), ModelError> {
        for (act, batches) in [
            (Activation::Tanh, vec![1, 64, 300]),
            (Activation::Relu, vec![256, 3]),
        ] {
            let Some(b) = gpu() else { return Ok(()) };
            // cuBLAS may use TF32 or reorder sums: a looser tolerance than the host's.
            let clipped = check_against_fused(b, &[64, 256, 256, 19], act, false, &batches, 2e-3)?;
            assert_eq!(clipped, batches.len());
        }
        Ok(())
    }

    #[test]
    fn gpu_softmax_matches_the_host() -> Result<(), ModelError> {
        let Some(b) = gpu() else { return Ok(()) };
        let cpu = fused(&[8, 32, 7], Activation::Tanh, false, 5);
        let mut g = DeviceMlp::new(b, &[8, 32, 7], Activation::Tanh, false)?;
        let mut h = DeviceMlp::new(HostBackend::new(), &[8, 32, 7], Activation::Tanh, false)?;
        g.set_params(cpu.params())?;
        h.set_params(cpu.params())?;
        let x = random(40 * 8, 1.0, &mut ChaCha8Rng::seed_from_u64(9));
        let want = h.forward_softmax(&x, 40, 6)?.to_vec();
        assert_close(
            "GPU probabilities",
            g.forward_softmax(&x, 40, 6)?,
            &want,
            1e-4,
        );
        Ok(())
    }
}
