//! The fused engine against dfdx: the same gradients for the same network and loss, and the
//! same training trajectory through `QNetwork` on either backend.

use eirl_models::tensor::*;
use eirl_models::{
    Activation, Adam, AdamConfig, Backend, Checkpoint, FusedMlp, Mlp, Optimizer, ParamRef,
    Parameterized, QNetwork, QNetworkConfig, RmsProp, RmsPropConfig, TdLoss, Workspace, device,
    polyak_update,
};
use eirl_testkit::{Tol, assert_allclose};
use proptest::prelude::*;
use rand::SeedableRng;

const TOL: Tol = Tol {
    atol: 1e-5,
    rtol: 1e-4,
};

/// `Σ c ⊙ MLP(x)` on dfdx: the output, and every parameter's gradient flattened in order.
fn dfdx_grads(net: &Mlp, x: &[f32], batch: usize, c: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let dev = device(0);
    let xt = dev.tensor_from_vec(x.to_vec(), (batch, net.inputs()));
    let ct = dev.tensor_from_vec(c.to_vec(), (batch, net.outputs()));
    let out = net.forward(xt.leaky_trace());
    let values = out.as_vec();
    let grads = (out * ct).sum::<Rank0, _>().backward();
    let flat = net
        .params()
        .iter()
        .flat_map(|p| match p {
            ParamRef::Matrix(t) => grads.get(*t).as_vec(),
            ParamRef::Vector(t) => grads.get(*t).as_vec(),
        })
        .collect();
    (values, flat)
}

fn check_mlp(
    sizes: &[usize],
    activation: Activation,
    activate_output: bool,
    batch: usize,
    seed: u64,
) {
    let dev = device(seed);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let net = Mlp::new(&dev, sizes, activation, activate_output, &mut rng).expect("mlp");
    let mut fused = FusedMlp::new(sizes, activation, activate_output).expect("fused");
    let flat: Vec<f32> = net.params().iter().flat_map(ParamRef::to_vec).collect();
    fused.params_mut().copy_from_slice(&flat);
    assert_eq!(
        fused.param_shapes(),
        net.params().iter().map(ParamRef::shape).collect::<Vec<_>>()
    );
    let x: Vec<f32> = (0..batch * sizes[0])
        .map(|i| (i as f32 * 0.731 + seed as f32).sin())
        .collect();
    let c: Vec<f32> = (0..batch * sizes[sizes.len() - 1])
        .map(|i| (i as f32 * 0.377).cos())
        .collect();
    let (want_out, want_grads) = dfdx_grads(&net, &x, batch, &c);
    let mut ws = Workspace::default();
    let out = fused.forward(&x, batch, &mut ws).expect("forward").to_vec();
    assert_allclose(&out, &want_out, TOL, "forward output");
    fused.backward(&c, &mut ws).expect("backward");
    assert_allclose(ws.grads(), &want_grads, TOL, "gradients");
}

#[test]
fn fused_gradients_equal_dfdx_gradients() {
    for activation in [Activation::Relu, Activation::Tanh] {
        for activate_output in [false, true] {
            // Batch 1 and 2 take the row path, larger batches the GEMM.
            for batch in [1, 2, 3, 64] {
                check_mlp(&[4, 32, 16, 2], activation, activate_output, batch, 1);
            }
        }
    }
    // A width past gemm's threading threshold.
    check_mlp(&[8, 256, 256, 3], Activation::Relu, false, 256, 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn fused_gradients_equal_dfdx_for_any_shape(
        sizes in proptest::collection::vec(1usize..40, 2..5),
        batch in 1usize..20,
        tanh in any::<bool>(),
        activate_output in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let activation = if tanh { Activation::Tanh } else { Activation::Relu };
        check_mlp(&sizes, activation, activate_output, batch, seed);
    }
}

#[test]
fn fused_rejects_bad_shapes_without_panicking() {
    let net = FusedMlp::new(&[3, 4, 2], Activation::Relu, false).expect("fused");
    let mut ws = Workspace::default();
    assert!(
        net.backward(&[0.0; 2], &mut ws).is_err(),
        "backward before forward"
    );
    assert!(net.forward(&[0.0; 5], 2, &mut ws).is_err());
    net.forward(&[0.0; 6], 2, &mut ws).expect("forward");
    assert!(net.backward(&[0.0; 3], &mut ws).is_err());
    assert!(FusedMlp::new(&[3], Activation::Relu, false).is_err());
    assert!(FusedMlp::new(&[3, 0, 1], Activation::Relu, false).is_err());
}

fn batch(k: usize) -> (Vec<f32>, Vec<usize>, Vec<f32>, Vec<f32>) {
    let obs = (0..32 * 4)
        .map(|i| ((i + 7 * k) as f32 * 0.37).sin())
        .collect();
    let actions = (0..32).map(|i| (i * 7 + k) % 3).collect();
    // Targets far enough from Q that some Huber errors pass δ = 1.
    let targets = (0..32)
        .map(|i| ((i + k) as f32 * 0.9).cos() * 3.0)
        .collect();
    let weights = (0..32).map(|i| 0.5 + (i % 4) as f32 * 0.25).collect();
    (obs, actions, targets, weights)
}

fn train<O: Optimizer>(
    q: &mut QNetwork,
    opt: &mut O,
    loss: TdLoss,
    from: usize,
    steps: usize,
) -> Vec<f32> {
    let mut losses = Vec::new();
    for k in from..from + steps {
        let (obs, actions, targets, weights) = batch(k);
        let stats = q
            .regression_step(
                opt,
                &obs,
                &actions,
                &targets,
                Some(&weights),
                loss,
                Some(1.0),
            )
            .expect("step");
        losses.push(stats.loss);
    }
    losses
}

fn flat(q: &QNetwork) -> Vec<f32> {
    q.export_params().into_iter().flat_map(|(_, v)| v).collect()
}

/// Both backends follow the same trajectory: losses, parameters and Q-values after 50 steps
/// of clipped, weighted Huber (and squared-error) regression with Adam (with and without
/// weight decay) and RMSProp.
#[test]
fn qnetwork_backends_train_alike() {
    let cfg = QNetworkConfig {
        hidden: vec![64, 64],
        activation: Activation::Relu,
        dueling: false,
    };
    for loss in [TdLoss::Huber { delta: 1.0 }, TdLoss::Mse] {
        let mut fused = QNetwork::new(4, 3, &cfg, 3).expect("q");
        assert_eq!(fused.backend(), Backend::Fused);
        let mut reference = fused.clone();
        reference.set_backend(Backend::Dfdx).expect("backend");
        assert_eq!(reference.backend(), Backend::Dfdx);
        // Weight decay (its own branch of the flat update) with the Huber loss only.
        let weight_decay = if matches!(loss, TdLoss::Huber { .. }) {
            1e-2
        } else {
            0.0
        };
        let adam = || {
            Adam::new(AdamConfig {
                lr: 1e-3,
                weight_decay,
                ..AdamConfig::default()
            })
        };
        let (mut oa, mut ob) = (adam(), adam());
        let la = train(&mut fused, &mut oa, loss, 0, 50);
        let lb = train(&mut reference, &mut ob, loss, 0, 50);
        assert_allclose(&la, &lb, TOL, "losses");
        assert_allclose(&flat(&fused), &flat(&reference), TOL, "parameters");
        let (obs, ..) = batch(99);
        let qa = fused.q_values(&obs, 32).expect("q");
        let qb = reference.q_values(&obs, 32).expect("q");
        assert_allclose(&qa, &qb, TOL, "q-values");
        // The training moved the parameters (the comparison is not of two untouched nets).
        let start = QNetwork::new(4, 3, &cfg, 3).expect("q");
        assert!(
            flat(&fused)
                .iter()
                .zip(flat(&start))
                .any(|(a, b)| (a - b).abs() > 1e-3)
        );

        let rms = || {
            RmsProp::new(RmsPropConfig {
                lr: 1e-3,
                ..RmsPropConfig::default()
            })
        };
        let (mut ra, mut rb) = (rms(), rms());
        let la = train(&mut fused, &mut ra, loss, 50, 20);
        let lb = train(&mut reference, &mut rb, loss, 50, 20);
        assert_allclose(&la, &lb, TOL, "rmsprop losses");
        assert_allclose(
            &flat(&fused),
            &flat(&reference),
            Tol {
                atol: 1e-4,
                rtol: 1e-3,
            },
            "rmsprop parameters",
        );
    }
}

/// Writes through `Parameterized` (Polyak averaging, checkpoint restores) reach the fused
/// engine, and the optimizer state moves between the backends and through checkpoints.
#[test]
fn fused_engine_sees_parameter_writes_and_optimizer_state_carries_over() {
    let cfg = QNetworkConfig {
        hidden: vec![32],
        activation: Activation::Tanh,
        dueling: false,
    };
    let (obs, ..) = batch(0);
    let mut a = QNetwork::new(4, 3, &cfg, 1).expect("q");
    let b = QNetwork::new(4, 3, &cfg, 2).expect("q");
    let before = a.q_values(&obs, 32).expect("q");
    polyak_update(&mut a, &b, 0.0).expect("copy");
    let after = a.q_values(&obs, 32).expect("q");
    assert_allclose(
        &after,
        &b.q_values(&obs, 32).expect("q"),
        TOL,
        "polyak copy",
    );
    assert!(before.iter().zip(&after).any(|(x, y)| (x - y).abs() > 1e-3));

    // Ten fused steps, a checkpoint, ten more: equal to ten fused steps, a restore into a
    // dfdx-backed copy, and ten dfdx steps.
    let mut opt = Adam::new(AdamConfig::default());
    train(&mut a, &mut opt, TdLoss::Mse, 0, 10);
    let mut ck = Checkpoint::new();
    ck.insert_params("q", &a);
    opt.insert_state(&mut ck, "opt");
    let mut c = QNetwork::new(4, 3, &cfg, 9).expect("q");
    c.set_backend(Backend::Dfdx).expect("backend");
    ck.restore_params("q", &mut c).expect("restore");
    let mut opt_c = Adam::new(AdamConfig::default());
    opt_c.restore_state(&ck, "opt", &c).expect("restore");
    assert_eq!(opt_c.steps(), 10);
    let la = train(&mut a, &mut opt, TdLoss::Mse, 10, 10);
    let lc = train(&mut c, &mut opt_c, TdLoss::Mse, 10, 10);
    assert_allclose(&la, &lc, TOL, "resumed losses");
    assert_allclose(&flat(&a), &flat(&c), TOL, "resumed parameters");
    // Switching the same optimizer from the flat path to the tensor path keeps its moments.
    a.set_backend(Backend::Dfdx).expect("backend");
    c.set_backend(Backend::Fused).expect("backend");
    let la = train(&mut a, &mut opt, TdLoss::Mse, 20, 5);
    let lc = train(&mut c, &mut opt_c, TdLoss::Mse, 20, 5);
    assert_allclose(&la, &lc, TOL, "switched losses");
    assert_eq!(opt.steps(), 25);
}

#[test]
fn dueling_heads_fall_back_to_dfdx() {
    let cfg = QNetworkConfig {
        hidden: vec![8],
        activation: Activation::Relu,
        dueling: true,
    };
    let mut q = QNetwork::new(2, 2, &cfg, 0).expect("q");
    assert_eq!(q.backend(), Backend::Dfdx);
    q.set_backend(Backend::Fused).expect("backend");
    assert_eq!(q.backend(), Backend::Dfdx);
}

/// A batch split into row blocks (run in parallel) gives the gradients of the whole batch,
/// whatever the number of blocks, including blocks left empty.
#[test]
fn split_batches_sum_to_the_whole_batch_gradient() {
    let mut net = FusedMlp::new(&[5, 24, 3], Activation::Tanh, false).expect("fused");
    for (i, p) in net.params_mut().iter_mut().enumerate() {
        *p = (i as f32 * 0.61).sin() * 0.4;
    }
    let batch = 37;
    let x: Vec<f32> = (0..batch * 5).map(|i| (i as f32 * 0.29).cos()).collect();
    let c: Vec<f32> = (0..batch * 3).map(|i| (i as f32 * 0.17).sin()).collect();
    let grad_out = |first: usize, out: &[f32], d: &mut [f32]| {
        assert_eq!(out.len(), d.len());
        d.copy_from_slice(&c[first * 3..first * 3 + d.len()]);
    };
    let mut one = vec![Workspace::default()];
    net.train_split(&x, batch, &mut one, grad_out)
        .expect("one block");
    for blocks in [2, 3, 50] {
        let mut ws = vec![Workspace::default(); blocks];
        net.train_split(&x, batch, &mut ws, grad_out)
            .expect("split");
        assert_allclose(ws[0].grads(), one[0].grads(), TOL, "split gradients");
        let outputs: Vec<f32> = ws.iter().flat_map(|w| w.output().to_vec()).collect();
        assert_allclose(&outputs, one[0].output(), TOL, "split outputs");
    }
    assert!(net.train_split(&x, batch, &mut [], grad_out).is_err());
    assert!(net.train_split(&x[1..], batch, &mut one, grad_out).is_err());
}
