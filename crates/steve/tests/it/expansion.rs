//! The batched expansion against a hand-computed case and against the member-by-member and
//! candidate-by-candidate references.

use eirl_models::{Activation, EnsembleMlp, Mlp, Parameterized, device};
use eirl_steve::expansion::{
    Expansion, ExpansionNets, ExpansionParams, expand, expand_per_candidate, expand_per_member,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Overwrites every parameter tensor of `net` with `values[i]` (lengths must match).
fn set(net: &mut impl Parameterized, values: &[Vec<f32>]) {
    for (mut p, v) in net.params_mut().into_iter().zip(values) {
        p.copy_from(v).unwrap();
    }
}

#[test]
fn hand_computed_h1() {
    // obs 1, action 1, H = 1, M = 2 dynamics, N = 1 reward, L = 2 Q-functions, γ = 0.5.
    let dev = device(0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let relu = Activation::Relu;
    let mut policy = Mlp::new(&dev, &[1, 1], relu, false, &mut rng).unwrap();
    set(&mut policy, &[vec![0.0], vec![0.0]]); // a = tanh(0) = 0
    let mut q = EnsembleMlp::new(&dev, 2, &[2, 1], relu, &mut rng).unwrap();
    set(&mut q, &[vec![1.0, 0.0, 1.0, 0.0], vec![0.0, 1.0]]); // Q_l(s, a) = s + l
    let mut trans = EnsembleMlp::new(&dev, 2, &[2, 1], relu, &mut rng).unwrap();
    set(&mut trans, &[vec![0.0; 4], vec![1.0, 2.0]]); // s₁ = s₀ + m + 1
    let mut term = EnsembleMlp::new(&dev, 2, &[3, 1], relu, &mut rng).unwrap();
    set(&mut term, &[vec![0.0; 6], vec![0.0, 0.0]]); // d₁ = σ(0) = ½
    let mut rew = EnsembleMlp::new(&dev, 1, &[3, 1], relu, &mut rng).unwrap();
    set(&mut rew, &[vec![0.0; 3], vec![0.25]]); // r̂ = ¼
    let nets = ExpansionNets {
        policy: &policy,
        target_q: &q,
        transition: &trans,
        termination: &term,
        reward: &rew,
    };
    let p = ExpansionParams {
        horizon: 1,
        gamma: 0.5,
        reward_scale: 1.0,
        eps: 0.0,
    };
    let e = expand(&nets, &p, &[1.0], &[1.0], &[0.0]).unwrap();
    // Horizon 0: 1 + ½(1 + l); horizon 1: 1 + ½·¼ + ¼·½·(s₁ + l), s₁ ∈ {2, 3}.
    let want = [1.5, 2.0, 1.5, 2.0, 1.375, 1.5, 1.5, 1.625];
    for (g, w) in e.candidates.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{:?}", e.candidates);
    }
    // Variances 1/16 and 1/128: weights 1/9 and 8/9.
    assert!((e.weights[0] - 1.0 / 9.0).abs() < 1e-6 && (e.weights[1] - 8.0 / 9.0).abs() < 1e-6);
    assert!((e.steve[0] - 13.75 / 9.0).abs() < 1e-5);
    assert!((e.mve[0] - 1.5).abs() < 1e-6);
    // A terminal real transition leaves only the reward in every candidate.
    let e = expand(&nets, &p, &[1.0], &[1.0], &[1.0]).unwrap();
    assert!(e.candidates.iter().all(|&c| (c - 1.0).abs() < 1e-6));
}

struct Nets {
    policy: Mlp,
    q: EnsembleMlp,
    trans: EnsembleMlp,
    term: EnsembleMlp,
    rew: EnsembleMlp,
}

fn random_nets(seed: u64, o: usize, a: usize, m: usize, n: usize, l: usize) -> Nets {
    let dev = device(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let relu = Activation::Relu;
    Nets {
        policy: Mlp::new(&dev, &[o, 8, a], relu, false, &mut rng).unwrap(),
        q: EnsembleMlp::new(&dev, l, &[o + a, 8, 1], relu, &mut rng).unwrap(),
        trans: EnsembleMlp::new(&dev, m, &[o + a, 8, o], relu, &mut rng).unwrap(),
        term: EnsembleMlp::new(&dev, m, &[2 * o + a, 8, 1], relu, &mut rng).unwrap(),
        rew: EnsembleMlp::new(&dev, n, &[2 * o + a, 8, 1], relu, &mut rng).unwrap(),
    }
}

fn assert_same(a: &Expansion, b: &Expansion, what: &str) {
    let close = |x: &[f32], y: &[f32]| {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + q.abs()))
    };
    assert!(
        close(&a.candidates, &b.candidates),
        "{what}: candidates differ"
    );
    assert!(close(&a.mve, &b.mve), "{what}: MVE differs");
    assert!(
        close(&a.steve, &b.steve),
        "{what}: STEVE differs {:?} vs {:?}",
        a.steve,
        b.steve
    );
    assert!(close(&a.weights, &b.weights), "{what}: weights differ");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn batched_equals_per_member_and_per_candidate(
        seed in 0u64..1000,
        o in 1usize..4,
        a in 1usize..3,
        m in 1usize..4,
        n in 1usize..3,
        l in 1usize..3,
        h in 1usize..4,
        b in 1usize..6,
        gamma in 0.5f32..1.0,
        eps in prop_oneof![Just(0.0f32), Just(1e-8f32), Just(1e-2f32)],
    ) {
        let nets = random_nets(seed, o, a, m, n, l);
        let en = ExpansionNets { policy: &nets.policy, target_q: &nets.q, transition: &nets.trans, termination: &nets.term, reward: &nets.rew };
        let p = ExpansionParams { horizon: h, gamma, reward_scale: 0.7, eps };
        let next_obs: Vec<f32> = (0..b * o).map(|i| ((i * 7919 + seed as usize) % 17) as f32 / 8.0 - 1.0).collect();
        let rewards: Vec<f32> = (0..b).map(|i| (i as f32 - 1.5) * 0.3).collect();
        let done: Vec<f32> = (0..b).map(|i| if i % 3 == 2 { 1.0 } else { 0.0 }).collect();
        let batched = expand(&en, &p, &next_obs, &rewards, &done).unwrap();
        let member = expand_per_member(&en, &p, &next_obs, &rewards, &done).unwrap();
        let cand = expand_per_candidate(&en, &p, &next_obs, &rewards, &done).unwrap();
        prop_assert_eq!(batched.candidates.len(), b * (h + 1) * m * n * l);
        assert_same(&batched, &member, "per member");
        assert_same(&batched, &cand, "per candidate");
    }
}

#[test]
fn mismatched_shapes_are_errors() {
    let nets = random_nets(1, 3, 1, 2, 2, 2);
    let en = ExpansionNets {
        policy: &nets.policy,
        target_q: &nets.q,
        transition: &nets.trans,
        termination: &nets.term,
        reward: &nets.rew,
    };
    let p = ExpansionParams {
        horizon: 2,
        gamma: 0.9,
        reward_scale: 1.0,
        eps: 1e-8,
    };
    let err = expand(&en, &p, &[0.0; 5], &[0.0; 2], &[0.0; 2]).unwrap_err();
    assert!(err.to_string().contains("minibatch of 2"), "{err}");
    // A reward ensemble on the wrong input width.
    let wrong = random_nets(2, 2, 1, 2, 2, 2);
    let en = ExpansionNets {
        reward: &wrong.rew,
        ..en
    };
    let err = expand(&en, &p, &[0.0; 6], &[0.0; 2], &[0.0; 2]).unwrap_err();
    assert!(err.to_string().contains("reward maps 5"), "{err}");
}
