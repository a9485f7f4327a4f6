//! DQN learns: short, seeded training runs that must beat a random policy by a wide margin.

use eirl_agent::Agent;
use eirl_dqn::{Dqn, DqnConfig, DqnError, NextQTransform, PrioritizedConfig};
use eirl_envs::{EnvError, evaluate_discrete};
use eirl_models::{Activation, Checkpoint, QNetworkConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

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

/// What a run leaves behind to compare bit for bit: each finished episode `(step, env,
/// return bits, length)` and each step's training scalars (as bits).
#[derive(Debug, Default, PartialEq)]
struct Trace {
    episodes: Vec<(u64, usize, u64, usize)>,
    scalars: Vec<(u64, Vec<(&'static str, u64)>)>,
}

fn run_until(agent: &mut Dqn, until: u64, trace: &mut Trace) {
    while agent.steps() < until {
        let info = agent.step().expect("step");
        let step = agent.steps();
        for ep in &info.finished {
            let bits = ep.episode_return.to_bits();
            trace.episodes.push((step, ep.env, bits, ep.length));
        }
        if info.trained() {
            let s = info
                .scalars
                .iter()
                .map(|(n, v)| (*n, v.to_bits()))
                .collect();
            trace.scalars.push((step, s));
        }
    }
}

fn param_bits(agent: &Dqn) -> Vec<u32> {
    use eirl_models::Parameterized;
    agent
        .q_network()
        .export_params()
        .into_iter()
        .flat_map(|(_, v)| v)
        .map(f32::to_bits)
        .collect()
}

/// Every tensor of two checkpoints, compared bit for bit (replay rows, moments, RNG and env
/// words, both networks).
fn assert_same_checkpoint(a: &Checkpoint, b: &Checkpoint) {
    let names: Vec<&str> = a.names().collect();
    assert_eq!(names, b.names().collect::<Vec<_>>());
    for name in names {
        let (sa, va) = a.get(name).expect("tensor");
        let (sb, vb) = b.get(name).expect("tensor");
        assert_eq!(sa, sb, "{name}");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(va) == bits(vb), "tensor {name} differs");
    }
    for key in [
        "env_steps",
        "updates",
        "steps_since_train",
        "opt.t",
        "exact_resume",
    ] {
        assert_eq!(a.meta(key), b.meta(key), "{key}");
    }
}

/// Small, fast, and busy: trains every 4 steps from step 200, a 1.5k replay that wraps, hard
/// target copies every 100 steps, ε decaying over the whole run, two envs (episodes end and
/// auto-reset on both sides of the split).
fn exact_cfg() -> DqnConfig {
    DqnConfig {
        network: QNetworkConfig {
            hidden: vec![32, 32],
            activation: Activation::Relu,
            dueling: false,
        },
        learning_rate: 1e-3,
        batch_size: 32,
        buffer_size: 1_500,
        learning_starts: 200,
        train_freq: 4,
        gradient_steps: 1,
        target_update_interval: 100,
        exploration_fraction: 0.8,
        num_envs: 2,
        total_steps: 3_000,
        exact_resume: true,
        ..DqnConfig::default()
    }
}

/// Trains `cfg` for `total_steps` uninterrupted, and again from the same seed with a stop at
/// `split`: checkpoint, safetensors bytes, a fresh agent (built from another seed, so nothing
/// seed-derived survives unless restored), restore, train on. Both must agree bit for bit.
fn assert_resume_is_exact(cfg: DqnConfig, seed: u64, split: u64) {
    let total = cfg.total_steps;
    let mut straight = Dqn::new("CartPole-v1", cfg.clone(), seed).expect("agent");
    let mut whole = Trace::default();
    run_until(&mut straight, total, &mut whole);

    let mut first = Dqn::new("CartPole-v1", cfg.clone(), seed).expect("agent");
    let mut resumed = Trace::default();
    run_until(&mut first, split, &mut resumed);
    let bytes = first.checkpoint().to_bytes().expect("bytes");
    drop(first);
    let ck = Checkpoint::from_bytes(&bytes, Path::new("mem")).expect("parse");
    let mut second = Dqn::new("CartPole-v1", cfg, seed ^ 0xDEAD_BEEF).expect("agent");
    second.restore(&ck).expect("restore");
    run_until(&mut second, total, &mut resumed);

    assert!(
        whole.episodes.len() > 20,
        "{} episodes",
        whole.episodes.len()
    );
    assert!(whole.episodes.iter().any(|e| e.0 > split));
    assert!(
        whole.scalars.len() > 100,
        "{} training rounds",
        whole.scalars.len()
    );
    assert_eq!(straight.updates(), second.updates());
    assert!(
        param_bits(&straight) == param_bits(&second),
        "parameters differ"
    );
    assert_eq!(whole.episodes, resumed.episodes, "episode returns differ");
    assert_eq!(whole.scalars, resumed.scalars, "training scalars differ");
    assert_same_checkpoint(&straight.checkpoint(), &second.checkpoint());
}

#[test]
fn exact_resume_continues_bit_for_bit() {
    assert_resume_is_exact(exact_cfg(), 4, 1_500);
}

/// The same with every optional part in play: prioritized replay (priorities, β), 3-step
/// returns (steps waiting in the n-step buffers at the split), Double DQN, dueling heads, and
/// a split that is not a multiple of `train_freq`.
#[test]
fn exact_resume_with_prioritized_nstep_double_dueling() {
    let cfg = DqnConfig {
        double_q: true,
        n_step: 3,
        prioritized: Some(PrioritizedConfig::default()),
        network: QNetworkConfig {
            hidden: vec![32, 32],
            activation: Activation::Relu,
            dueling: true,
        },
        ..exact_cfg()
    };
    assert_resume_is_exact(cfg, 7, 1_302);
}

/// Without exact resume the continuation differs (the replay is refilled first): the exact
/// tests above can fail.
#[test]
fn a_plain_resume_is_not_exact() {
    let cfg = DqnConfig {
        exact_resume: false,
        ..exact_cfg()
    };
    let mut straight = Dqn::new("CartPole-v1", cfg.clone(), 4).expect("agent");
    run_until(&mut straight, 3_000, &mut Trace::default());
    let mut first = Dqn::new("CartPole-v1", cfg.clone(), 4).expect("agent");
    run_until(&mut first, 1_500, &mut Trace::default());
    let ck = first.checkpoint();
    assert!(ck.get("replay.obs").is_none() && ck.meta("exact_resume").is_none());
    let mut second = Dqn::new("CartPole-v1", cfg, 4).expect("agent");
    second.restore(&ck).expect("restore");
    run_until(&mut second, 3_000, &mut Trace::default());
    assert!(param_bits(&straight) != param_bits(&second));
}

/// An exact checkpoint is refused, changing nothing, by an agent whose replay memory is of
/// another kind or too small.
#[test]
fn an_exact_checkpoint_that_does_not_fit_is_refused() {
    let mut a = Dqn::new("CartPole-v1", exact_cfg(), 1).expect("agent");
    run_until(&mut a, 1_000, &mut Trace::default());
    let ck = a.checkpoint();
    let per = DqnConfig {
        prioritized: Some(PrioritizedConfig::default()),
        ..exact_cfg()
    };
    let small = DqnConfig {
        buffer_size: 500,
        ..exact_cfg()
    };
    for cfg in [per, small] {
        let mut b = Dqn::new("CartPole-v1", cfg, 1).expect("agent");
        let before = b.checkpoint();
        assert!(b.restore(&ck).is_err());
        assert_eq!(b.steps(), 0);
        assert_same_checkpoint(&before, &b.checkpoint());
    }
}

/// The CartPole preset (`configs/dqn/CartPole-v1.toml`: [256, 256], 100k replay) after `steps`
/// steps, training from `learning_starts`: checkpoint bytes without and with exact resume.
fn preset_checkpoint_bytes(steps: u64, learning_starts: u64) -> (usize, usize, u64) {
    let cfg = DqnConfig {
        network: QNetworkConfig {
            hidden: vec![256, 256],
            activation: Activation::Relu,
            dueling: false,
        },
        learning_rate: 2.3e-3,
        batch_size: 64,
        buffer_size: 100_000,
        learning_starts,
        target_update_interval: 10,
        train_freq: 256,
        gradient_steps: 128,
        exploration_fraction: 0.16,
        exploration_final_eps: 0.04,
        total_steps: steps,
        exact_resume: true,
        ..DqnConfig::default()
    };
    let mut agent = Dqn::new("CartPole-v1", cfg, 0).expect("agent");
    run_until(&mut agent, steps, &mut Trace::default());
    let full = agent.checkpoint();
    // What `exact_resume = false` writes: the networks and the counters.
    let mut plain = Checkpoint::new();
    for name in full
        .names()
        .filter(|n| n.starts_with("online.") || n.starts_with("target."))
    {
        let (s, v) = full.get(name).expect("tensor");
        plain.insert(name, s.to_vec(), v.to_vec());
    }
    for key in ["algo", "env_id", "env_steps", "updates"] {
        plain.set_meta(key, full.meta(key).expect("meta"));
    }
    let size = |ck: &Checkpoint| ck.to_bytes().expect("bytes").len();
    (size(&plain), size(&full), agent.updates())
}

/// The documented cost: `len × 44` bytes of CartPole transitions, Adam's two moments (8 bytes
/// a parameter) and a few hundred bytes of words (RNG, envs, ring position).
#[test]
fn exact_checkpoint_costs_what_the_docs_say() {
    let (plain, exact, updates) = preset_checkpoint_bytes(3_000, 2_000);
    assert!(updates > 0);
    let params = 4 * 256 + 256 + 256 * 256 + 256 + 256 * 2 + 2;
    let documented = 3_000 * 44 + 2 * params * 4;
    let extra = exact - plain;
    eprintln!("preset after 3k steps: {plain} bytes plain, {exact} exact (+{extra})");
    assert!(
        extra >= documented && extra < documented + 8_192,
        "{extra} vs {documented}"
    );
}

/// With `normalize_obs` / `normalize_reward` the statistics travel with every checkpoint: a
/// restored agent holds them bit for bit and acts and evaluates exactly as the live one on raw
/// observations; the same networks with fresh (unit) statistics act differently; a config that
/// does not normalise refuses the checkpoint; and exact resume stays bit for bit.
#[test]
fn normalisation_travels_with_the_checkpoint() {
    let cfg = DqnConfig {
        normalize_obs: true,
        normalize_reward: true,
        ..exact_cfg()
    };
    let mut a = Dqn::new("CartPole-v1", cfg.clone(), 2).expect("agent");
    run_until(&mut a, 2_000, &mut Trace::default());
    let ck = a.checkpoint();
    assert_eq!(
        ck.meta(eirl_agent::exact::NORMALIZE_KEY),
        Some("obs+reward")
    );
    let mut b = Dqn::new("CartPole-v1", cfg.clone(), 99).expect("agent");
    b.restore(&ck).expect("restore");
    let stats = |c: &Checkpoint| eirl_agent::exact::words(c, "normalize").expect("stats");
    assert_eq!(stats(&b.checkpoint()), stats(&ck));
    let obs: Vec<f32> = (0..800).map(|i| (i as f32 * 0.37).sin() * 1.5).collect();
    let acts = |x: &Dqn| x.greedy_actions(&obs, 200).expect("actions");
    assert_eq!(acts(&a), acts(&b));
    let eval = |x: &Dqn| {
        let r = x.evaluate(5, 7).expect("eval").returns;
        r.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    assert_eq!(eval(&a), eval(&b));

    let mut unit = ck.clone();
    eirl_agent::exact::insert_words(
        &mut unit,
        "normalize",
        &eirl_envs::NormalizeStats::new(4).to_words(),
    );
    let mut blind = Dqn::new("CartPole-v1", cfg.clone(), 99).expect("agent");
    blind.restore(&unit).expect("restore");
    assert_ne!(
        acts(&blind),
        acts(&a),
        "the statistics change what the policy does"
    );

    let mut plain = Dqn::new("CartPole-v1", exact_cfg(), 99).expect("agent");
    assert!(plain.restore(&ck).is_err());
    assert!(b.restore(&plain.checkpoint()).is_err());

    assert_resume_is_exact(cfg, 4, 1_500);
}
