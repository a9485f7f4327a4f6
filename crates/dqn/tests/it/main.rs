//! DQN learns: short, seeded training runs that must beat a random policy by a wide margin.

use eirl_agent::Agent;
use eirl_dqn::{Dqn, DqnConfig, DqnError, NextQTransform, PrioritizedConfig};
use eirl_envs::{EnvError, evaluate_discrete};
use eirl_models::{Activation, QNetworkConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EVAL_SEED: u64 = 1_000_000;

/// CartPole with the rl-zoo preset's shape, scaled to a 20k-step budget.
fn short_cartpole() -> DqnConfig {
    DqnConfig {
        network: QNetworkConfig {
            hidden: vec![64, 64],
            activation: Activation::Relu,
            dueling: false,
        },
        learning_rate: 2.3e-3,
        batch_size: 64,
        buffer_size: 20_000,
        learning_starts: 1_000,
        target_update_interval: 10,
        train_freq: 64,
        gradient_steps: 32,
        exploration_fraction: 0.3,
        exploration_final_eps: 0.04,
        total_steps: 20_000,
        ..DqnConfig::default()
    }
}

fn random_policy_mean(env: &str, n_actions: usize) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    evaluate_discrete::<EnvError>(env, 20, EVAL_SEED, |_, n| {
        Ok((0..n).map(|_| rng.gen_range(0..n_actions)).collect())
    })
    .expect("random eval")
    .mean()
}

/// Trains for `cfg.total_steps`, evaluating the greedy policy (20 episodes) every 2k steps, and
/// returns the best evaluation mean — the acceptance criterion's "reaches X within N steps".
fn train(cfg: DqnConfig, seed: u64) -> f64 {
    let total = cfg.total_steps;
    let mut agent = Dqn::new("CartPole-v1", cfg, seed).expect("agent");
    let mut best = f64::NEG_INFINITY;
    let mut curve = Vec::new();
    while agent.steps() < total {
        agent.step().expect("step");
        if agent.steps().is_multiple_of(2_000) || agent.steps() >= total {
            let m = agent.evaluate(20, EVAL_SEED).expect("eval").mean();
            curve.push(format!("{:.0}", m));
            best = best.max(m);
        }
    }
    eprintln!(
        "seed {seed}: eval curve every 2k steps [{}]",
        curve.join(", ")
    );
    best
}

#[test]
fn dqn_beats_random_on_cartpole() {
    let random = random_policy_mean("CartPole-v1", 2);
    let trained = train(short_cartpole(), 0);
    eprintln!("CartPole: random {random:.1}, DQN after 20k steps {trained:.1}");
    assert!(random < 40.0, "random policy mean {random}");
    assert!(trained > 150.0, "trained mean {trained} vs random {random}");
}

#[test]
fn double_dueling_prioritized_nstep_beats_random() {
    let cfg = DqnConfig {
        double_q: true,
        n_step: 3,
        prioritized: Some(PrioritizedConfig::default()),
        network: QNetworkConfig {
            hidden: vec![64, 64],
            activation: Activation::Relu,
            dueling: true,
        },
        ..short_cartpole()
    };
    let random = random_policy_mean("CartPole-v1", 2);
    let trained = train(cfg, 1);
    eprintln!(
        "CartPole: random {random:.1}, Double+Dueling+PER+3-step after 20k steps {trained:.1}"
    );
    assert!(trained > 150.0, "trained mean {trained} vs random {random}");
}

#[test]
fn same_seed_same_run() {
    let cfg = DqnConfig {
        total_steps: 1_500,
        learning_starts: 200,
        ..short_cartpole()
    };
    let a = train(cfg.clone(), 5);
    let b = train(cfg, 5);
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
}

#[test]
fn continuous_env_is_a_clear_error() {
    let err = Dqn::new("Pendulum-v1", DqnConfig::default(), 0)
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("discrete"), "{err}");
    let bad = DqnConfig {
        gamma: 1.5,
        ..DqnConfig::default()
    };
    assert!(Dqn::new("CartPole-v1", bad, 0).is_err());
    assert!(Dqn::new("NoSuchEnv-v9", DqnConfig::default(), 0).is_err());
}

#[test]
fn checkpoint_round_trip_keeps_the_policy() {
    let cfg = DqnConfig {
        total_steps: 2_000,
        learning_starts: 200,
        ..short_cartpole()
    };
    let mut a = Dqn::new("CartPole-v1", cfg.clone(), 2).expect("agent");
    while a.steps() < 2_000 {
        a.step().expect("step");
    }
    let ck = a.checkpoint();
    let mut b = Dqn::new("CartPole-v1", cfg, 99).expect("agent");
    b.restore(&ck).expect("restore");
    assert_eq!(b.steps(), a.steps());
    let obs: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin() * 0.1).collect();
    assert_eq!(
        a.greedy_actions(&obs, 10).expect("a"),
        b.greedy_actions(&obs, 10).expect("b")
    );
    let ea = a.evaluate(5, 7).expect("eval a").mean();
    let eb = b.evaluate(5, 7).expect("eval b").mean();
    assert!((ea - eb).abs() < 1e-9);
}

/// Zeroes the next-state Q matrix: every target becomes the reward alone.
struct Zero;

impl NextQTransform for Zero {
    fn apply(
        &mut self,
        next_q: &mut [f32],
        batch: usize,
        num_actions: usize,
    ) -> Result<(), DqnError> {
        assert_eq!(next_q.len(), batch * num_actions);
        next_q.fill(0.0);
        Ok(())
    }
}

#[test]
fn the_target_hook_sees_every_minibatch_and_shapes_the_targets() {
    let cfg = DqnConfig {
        total_steps: 600,
        learning_starts: 100,
        batch_size: 16,
        train_freq: 4,
        ..DqnConfig::default()
    };
    let mut agent = Dqn::new("CartPole-v1", cfg, 0).expect("agent");
    agent.set_next_q_transform(Box::new(Zero));
    let mut trained = 0;
    while !agent.is_done() {
        let info = agent.step().expect("step");
        if let Some(q) = info.scalar("mean_q_target") {
            // CartPole pays 1 per step, so with Q(s', ·) = 0 every 1-step target is exactly 1.
            assert!((q - 1.0).abs() < 1e-6, "mean target {q}");
            trained += 1;
        }
    }
    assert!(trained >= 100, "{trained} training rounds");
    assert_eq!(agent.updates(), trained);
}
