//! STEVE's wall-clock, measured where it goes.
//!
//! - `expansion/*`: one minibatch's targets (B = 128, Pendulum's shapes, M = N = L = 4, H = 3,
//!   the shipped preset's widths): `batched` ([`expand`]: one ensemble forward per rollout step
//!   and model kind), `per_member` (each member called on its own rollout, rollouts shared) and
//!   `per_candidate` (each of the M·N·L candidates rolled out alone — the naive loop).
//! - `env_step/*`: one `Agent::step` of the shipped Pendulum preset once learning runs (one env
//!   step, one world-model update, one critic and one policy update) for `td` (DDPG), `mve` and
//!   `steve`: the per-env-step cost of each target.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use eirl_agent::Agent;
use eirl_models::{Activation, EnsembleMlp, Mlp, device};
use eirl_steve::expansion::{
    ExpansionNets, ExpansionParams, expand, expand_per_candidate, expand_per_member,
};
use eirl_steve::{Steve, SteveConfig, TargetKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const B: usize = 128;
const OBS: usize = 3;
const ACT: usize = 1;

fn preset() -> SteveConfig {
    let text = include_str!("../../../configs/steve/Pendulum-v1.toml");
    toml::from_str(text).unwrap_or_default()
}

fn expansion(c: &mut Criterion) {
    let cfg = preset();
    let dev = device(0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let relu = Activation::Relu;
    let sizes = |i: usize, h: &[usize], o: usize| [vec![i], h.to_vec(), vec![o]].concat();
    let build = |rng: &mut ChaCha8Rng| -> Option<(Mlp, [EnsembleMlp; 4])> {
        Some((
            Mlp::new(&dev, &sizes(OBS, &cfg.hidden, ACT), relu, false, rng).ok()?,
            [
                EnsembleMlp::new(
                    &dev,
                    cfg.q_ensemble,
                    &sizes(OBS + ACT, &cfg.hidden, 1),
                    relu,
                    rng,
                )
                .ok()?,
                EnsembleMlp::new(
                    &dev,
                    cfg.dynamics_ensemble,
                    &sizes(OBS + ACT, &cfg.transition_hidden, OBS),
                    relu,
                    rng,
                )
                .ok()?,
                EnsembleMlp::new(
                    &dev,
                    cfg.dynamics_ensemble,
                    &sizes(2 * OBS + ACT, &cfg.aux_hidden, 1),
                    relu,
                    rng,
                )
                .ok()?,
                EnsembleMlp::new(
                    &dev,
                    cfg.reward_ensemble,
                    &sizes(2 * OBS + ACT, &cfg.aux_hidden, 1),
                    relu,
                    rng,
                )
                .ok()?,
            ],
        ))
    };
    let Some((policy, [q, trans, term, rew])) = build(&mut rng) else {
        eprintln!("could not build the networks");
        return;
    };
    let nets = ExpansionNets {
        policy: &policy,
        target_q: &q,
        transition: &trans,
        termination: &term,
        reward: &rew,
    };
    let p = ExpansionParams {
        horizon: cfg.horizon,
        gamma: cfg.gamma,
        reward_scale: 1.0,
        eps: cfg.steve_eps,
    };
    let next_obs: Vec<f32> = (0..B * OBS).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let rewards: Vec<f32> = (0..B).map(|_| rng.gen_range(-10.0..0.0)).collect();
    let done = vec![0.0; B];
    let mut g = c.benchmark_group("expansion");
    g.sample_size(20);
    g.bench_function("batched", |b| {
        b.iter(|| black_box(expand(&nets, &p, &next_obs, &rewards, &done).ok()))
    });
    g.bench_function("per_member", |b| {
        b.iter(|| black_box(expand_per_member(&nets, &p, &next_obs, &rewards, &done).ok()))
    });
    g.bench_function("per_candidate", |b| {
        b.iter(|| black_box(expand_per_candidate(&nets, &p, &next_obs, &rewards, &done).ok()))
    });
    g.finish();
}

fn env_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("env_step");
    g.sample_size(20);
    for target in [TargetKind::Td, TargetKind::Mve, TargetKind::Steve] {
        let cfg = SteveConfig {
            target,
            learning_starts: 256,
            model_pretrain_updates: 10,
            ..preset()
        };
        let Ok(mut agent) = Steve::new("Pendulum-v1", cfg, 0) else {
            eprintln!("could not build the agent");
            return;
        };
        while agent.steps() < 300 {
            if agent.step().is_err() {
                eprintln!("warm-up step failed");
                return;
            }
        }
        g.bench_function(target.name(), |b| b.iter(|| black_box(agent.step().ok())));
    }
    g.finish();
}

criterion_group!(benches, expansion, env_step);
criterion_main!(benches);
