//! The world-model loss against hand-computed values, and that it learns.

use eirl_models::{Parameterized, device};
use eirl_steve::world_model::{Transitions, WorldModel, WorldModelConfig, WorldModelTrainer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn set(net: &mut impl Parameterized, values: &[Vec<f32>]) {
    for (mut p, v) in net.params_mut().into_iter().zip(values) {
        p.copy_from(v).unwrap();
    }
}

#[test]
fn loss_terms_by_hand() {
    // obs 2, action 1, linear members with zero weights: every prediction is its bias.
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let cfg = WorldModelConfig {
        obs_dim: 2,
        act_dim: 1,
        dynamics: 2,
        rewards: 1,
        transition_hidden: vec![],
        aux_hidden: vec![],
    };
    let mut wm = WorldModel::new(&device(0), &cfg, &mut rng).unwrap();
    set(
        &mut wm.transition,
        &[vec![0.0; 12], vec![0.5, 0.0, 0.0, 1.0]],
    ); // Δ₀ = (½, 0), Δ₁ = (0, 1)
    set(&mut wm.termination, &[vec![0.0; 10], vec![0.0, 2.0]]); // logits 0 and 2
    set(&mut wm.reward, &[vec![0.0; 5], vec![1.0]]); // r̂ = 1
    let obs = [0.0, 0.0, 1.0, 1.0];
    let next_obs = [1.0, 0.0, 1.0, 3.0];
    let batch = Transitions {
        obs: &obs,
        actions: &[0.3, -0.2],
        rewards: &[2.0, -1.0],
        next_obs: &next_obs,
        terminated: &[1.0, 0.0],
    };
    let l = wm.losses(&batch).unwrap();
    // Row 0 (member 0): ½‖(1, 0) − (½, 0)‖² = ⅛; row 1 (member 1): ½‖(0, 2) − (0, 1)‖² = ½.
    assert!((l.transition - (0.125 + 0.5) / 2.0).abs() < 1e-6, "{l:?}");
    // Row 0: −ln σ(0) = ln 2; row 1: −ln(1 − σ(2)) = ln(1 + e²).
    let want = (2f32.ln() + (1.0 + 2f32.exp()).ln()) / 2.0;
    assert!((l.termination - want).abs() < 1e-5, "{l:?}");
    // ½((2 − 1)² + (−1 − 1)²)/2 = 1.25.
    assert!((l.reward - 1.25).abs() < 1e-6, "{l:?}");
}

#[test]
fn learns_a_linear_system() {
    // s' = s + 0.1·a·(1, −1), r = s₀ − a, terminal when s₁ > 0.8: the losses fall by 10×.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let cfg = WorldModelConfig {
        obs_dim: 2,
        act_dim: 1,
        dynamics: 4,
        rewards: 4,
        transition_hidden: vec![32, 32],
        aux_hidden: vec![32, 32],
    };
    let wm = WorldModel::new(&device(3), &cfg, &mut rng).unwrap();
    let mut tr = WorldModelTrainer::new(wm, 1e-3, 1e-4);
    let data = |k: u64| {
        let mut r = ChaCha8Rng::seed_from_u64(k);
        use rand::Rng;
        let n = 64;
        let obs: Vec<f32> = (0..2 * n).map(|_| r.gen_range(-1.0..1.0)).collect();
        let act: Vec<f32> = (0..n).map(|_| r.gen_range(-1.0..1.0)).collect();
        let next: Vec<f32> = (0..2 * n)
            .map(|j| obs[j] + 0.1 * act[j / 2] * if j % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let rew: Vec<f32> = (0..n).map(|i| obs[2 * i] - act[i]).collect();
        let done: Vec<f32> = (0..n)
            .map(|i| f32::from(u8::from(obs[2 * i + 1] > 0.8)))
            .collect();
        (obs, act, next, rew, done)
    };
    let (o, a, nx, r, d) = data(999);
    let held_out = Transitions {
        obs: &o,
        actions: &a,
        rewards: &r,
        next_obs: &nx,
        terminated: &d,
    };
    let before = tr.model.losses(&held_out).unwrap();
    for k in 0..600 {
        let (o, a, nx, r, d) = data(k);
        tr.update(&Transitions {
            obs: &o,
            actions: &a,
            rewards: &r,
            next_obs: &nx,
            terminated: &d,
        })
        .unwrap();
    }
    let after = tr.model.losses(&held_out).unwrap();
    assert!(
        after.transition < before.transition / 10.0,
        "{before:?} → {after:?}"
    );
    assert!(
        after.reward < before.reward / 10.0,
        "{before:?} → {after:?}"
    );
    assert!(
        after.termination < before.termination / 2.0,
        "{before:?} → {after:?}"
    );
}
