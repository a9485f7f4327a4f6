//! The SEED agent end to end in one process: actor threads, the inference server and the
//! V-trace learner together.

use eirl_agent::Agent;
use eirl_models::gpu::ComputeDevice;
use eirl_seed_rl::{SeedConfig, SeedRl};

mod device;

/// Random CartPole-v1 play scores about 22. The signal is where the run ends: the mean return of
/// the last 100 training episodes (the sampling policy) after 600k env steps. Actors and learner
/// run concurrently, so runs differ; 27 runs on 2 cores (most with a build alongside, 12 of them
/// two at a time) ended between 293 and 409 (at 400k steps: 200–308), in 3.5–12 s each. A greedy
/// evaluation is too noisy to assert on: 20 episodes gave 131–500 late in those runs.
#[test]
fn learns_cartpole_in_process() {
    learns_cartpole(ComputeDevice::Cpu);
}

/// The same run with inference and updates on the device program (`host`: what a GPU runs,
/// executed on the CPU). The learner's unit test checks updates against the CPU's; this checks
/// that a whole run through the device path learns, on the same bar. Six runs on 2 cores (three
/// beside the CPU run) ended at 248–370, in 15–16 s each.
#[test]
fn learns_cartpole_through_the_device_program() {
    learns_cartpole(ComputeDevice::Host);
}

fn learns_cartpole(device: ComputeDevice) {
    const STEPS: u64 = 600_000;
    const WINDOW: usize = 100;
    let cfg = SeedConfig {
        actors: 4,
        envs_per_actor: 4,
        device,
        ..SeedConfig::default()
    };
    let mut agent = SeedRl::new("CartPole-v1", cfg, 0).expect("agent");
    let mut mean_rho_off = false;
    let mut recent = std::collections::VecDeque::with_capacity(WINDOW);
    while agent.steps() < STEPS {
        let info = agent.step().expect("step");
        for e in &info.finished {
            if recent.len() == WINDOW {
                recent.pop_front();
            }
            recent.push_back(e.episode_return);
        }
        let scalar = |name| info.scalar(name).expect("an update");
        assert!(scalar("value_loss").is_finite() && scalar("policy_loss").is_finite());
        mean_rho_off |= (scalar("mean_rho") - 1.0).abs() > 1e-4;
    }
    let final_mean = recent.iter().sum::<f64>() / WINDOW as f64;
    println!("{device}: mean return of the last {WINDOW} training episodes {final_mean}");
    assert!(
        recent.len() == WINDOW && final_mean >= 200.0,
        "{device}: mean return of the last {} training episodes {final_mean} after {} steps",
        recent.len(),
        agent.steps()
    );
    let stats = agent.server_stats().expect("started");
    // The actors act while the learner trains: batches hold several envs, and the policy
    // that acted is sometimes older than the one learning (ρ ≠ 1).
    assert!(stats.mean_batch_size > 1.0, "{stats:?}");
    assert!(mean_rho_off, "the learner never saw a policy lag");
    assert!(agent.actor_steps() >= agent.steps());
    // The actors send every truncated step's final observation: the learner refused nothing.
    let summary = agent.summary().unwrap_or_default();
    assert!(summary.contains("rejected_unrolls=0"), "{summary}");
    agent.shutdown();
}

#[test]
fn continuous_envs_and_bad_configs_are_errors() {
    assert!(SeedRl::new("Pendulum-v1", SeedConfig::default(), 0).is_err());
    assert!(SeedRl::new("NoSuchEnv-v0", SeedConfig::default(), 0).is_err());
    let cfg = SeedConfig {
        listen: Some("not an address".into()),
        ..SeedConfig::default()
    };
    let err = SeedRl::new("CartPole-v1", cfg, 0).err().expect("error");
    assert!(err.to_string().contains("not an address"), "{err}");
}

#[test]
fn checkpoints_restore_the_policy_and_counters() {
    let cfg = SeedConfig {
        actors: 1,
        envs_per_actor: 2,
        batch_size: 2,
        ..SeedConfig::default()
    };
    let mut a = SeedRl::new("CartPole-v1", cfg.clone(), 1).expect("agent");
    for _ in 0..20 {
        a.step().expect("step");
    }
    let ck = a.checkpoint();
    let obs = [0.01f32, 0.02, -0.03, 0.04, 0.1, -0.2, 0.05, 0.3];
    let mut b = SeedRl::new("CartPole-v1", cfg, 2).expect("agent");
    b.restore(&ck).expect("restore");
    assert_eq!((b.steps(), b.updates()), (a.steps(), a.updates()));
    assert_eq!(
        format!("{:?}", b.greedy_actions(&obs, 2).expect("act")),
        format!("{:?}", a.greedy_actions(&obs, 2).expect("act"))
    );
    // Training continues from the restored counters.
    b.step().expect("step");
    assert!(b.steps() > a.steps());
}
