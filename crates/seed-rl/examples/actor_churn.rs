//! Actor churn against a running `eirl seed serve` (the load of `cargo xtask soak`).
//!
//! `cargo run --release -p eirl-seed-rl --example actor_churn -- ADDR ACTORS SECONDS SEED`
//!
//! ACTORS threads each loop until SECONDS have passed: connect, then one of
//! - act: step CartPole-v1 envs for a random 0.1–3 s and disconnect cleanly (most turns);
//! - idle: hold a raw TCP connection that never opens a stream for 0–15 s;
//! - hostile: send a step with a 3e38 reward (the server must refuse it);
//! - wrong env: connect naming Acrobot-v1 (the server must refuse it).
//!
//! The token comes from `EIRL_SEED_TOKEN`. At the end one JSON line with the counts goes to
//! stdout; any answer the server should not have given is counted in `unexpected`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eirl_inference_server::{EnvStep, GrpcClient, Transport, TransportError};
use eirl_seed_rl::{ActorConfig, run_actor, token_from_env};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Default)]
struct Counts {
    sessions: AtomicU64,
    env_steps: AtomicU64,
    idle_connections: AtomicU64,
    hostile_refused: AtomicU64,
    wrong_env_refused: AtomicU64,
    connect_failures: AtomicU64,
    unexpected: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, actors, seconds, seed] = args.as_slice() else {
        eprintln!("usage: actor_churn ADDR ACTORS SECONDS SEED");
        std::process::exit(2);
    };
    let parse = |what: &str, v: &str| -> u64 {
        v.parse().unwrap_or_else(|_| {
            eprintln!("{what} must be a non-negative integer, got {v:?}");
            std::process::exit(2)
        })
    };
    let (actors, seconds, seed) = (
        parse("ACTORS", actors),
        parse("SECONDS", seconds),
        parse("SEED", seed),
    );
    let until = Instant::now() + Duration::from_secs(seconds);
    let counts = Arc::new(Counts::default());
    let token = token_from_env();
    let threads: Vec<_> = (0..actors)
        .map(|i| {
            let (addr, counts, token) = (addr.clone(), Arc::clone(&counts), token.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || churn(i, &addr, token.as_deref(), seed, until, &counts))
                .unwrap_or_else(|e| {
                    eprintln!("cannot start actor thread {i}: {e}");
                    std::process::exit(1)
                })
        })
        .collect();
    for t in threads {
        if t.join().is_err() {
            counts.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "{{\"sessions\":{},\"env_steps\":{},\"idle_connections\":{},\"hostile_refused\":{},\
         \"wrong_env_refused\":{},\"connect_failures\":{},\"unexpected\":{}}}",
        get(&counts.sessions),
        get(&counts.env_steps),
        get(&counts.idle_connections),
        get(&counts.hostile_refused),
        get(&counts.wrong_env_refused),
        get(&counts.connect_failures),
        get(&counts.unexpected),
    );
}

fn churn(i: u64, addr: &str, token: Option<&str>, seed: u64, until: Instant, counts: &Counts) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(i));
    let mut session = 0u64;
    while Instant::now() < until {
        session += 1;
        let roll: f64 = rng.r#gen();
        if roll < 0.05 {
            idle(addr, &mut rng, until, counts);
        } else if roll < 0.08 {
            hostile(addr, token, i, counts);
        } else if roll < 0.10 {
            wrong_env(addr, token, counts);
        } else {
            act(addr, token, i, session, &mut rng, counts);
        }
    }
}

fn act(
    addr: &str,
    token: Option<&str>,
    i: u64,
    session: u64,
    rng: &mut ChaCha8Rng,
    counts: &Counts,
) {
    let mut client = match GrpcClient::connect_for_env(addr, token, Some("CartPole-v1")) {
        Ok(client) => client,
        Err(_) => {
            counts.connect_failures.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
    };
    counts.sessions.fetch_add(1, Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let steps = AtomicU64::new(0);
    let lifetime = Duration::from_millis(rng.gen_range(100..3000));
    let stopper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(lifetime);
            stop.store(true, Ordering::Relaxed);
        })
    };
    let cfg = ActorConfig {
        env_id: "CartPole-v1".into(),
        num_envs: rng.gen_range(1..=4),
        first_env_id: (i << 20) | ((session & 0xff) << 8),
        run_id: session,
        seed: rng.r#gen(),
    };
    // A refusal over capacity or a closed stream is part of churn; a refusal of a well-formed
    // actor (malformed, authentication, env) is not.
    match run_actor(&mut client, &cfg, &stop, &steps) {
        Err(eirl_seed_rl::SeedError::Transport(e)) if e.is_final() => {
            counts.unexpected.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
    let _ = stopper.join();
    counts
        .env_steps
        .fetch_add(steps.load(Ordering::Relaxed), Ordering::Relaxed);
}

fn idle(addr: &str, rng: &mut ChaCha8Rng, until: Instant, counts: &Counts) {
    let hold = Duration::from_millis(rng.gen_range(0..15_000));
    if let Ok(socket) = std::net::TcpStream::connect(addr) {
        counts.idle_connections.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(hold.min(until.saturating_duration_since(Instant::now())));
        drop(socket);
    }
}

fn hostile(addr: &str, token: Option<&str>, i: u64, counts: &Counts) {
    let Ok(mut client) = GrpcClient::connect(addr, token) else {
        counts.connect_failures.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut step = EnvStep::first((1 << 50) | i, 1, 0, vec![0.0; 4]);
    step.reward = 3e38;
    match client.act(&[step]) {
        Err(TransportError::InvalidRequest(_)) => {
            counts.hostile_refused.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            counts.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn wrong_env(addr: &str, token: Option<&str>, counts: &Counts) {
    match GrpcClient::connect_for_env(addr, token, Some("Acrobot-v1")) {
        Err(TransportError::Incompatible(_)) => {
            counts.wrong_env_refused.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            counts.connect_failures.fetch_add(1, Ordering::Relaxed);
        }
        Ok(_) => {
            counts.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
}
