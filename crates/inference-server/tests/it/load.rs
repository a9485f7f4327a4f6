//! A bounded load test: 64 actor threads connect, act and disconnect at random for ~3 s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eirl_inference_server::{
    EnvStep, InferenceServer, ServerConfig, ServerHandle, Transport, TransportError,
};

use crate::common::{ProbePolicy, Rng, rss_kib, step, wait_for, within};

const ACTORS: u64 = 64;
const RUN_FOR: Duration = Duration::from_secs(3);
const OBS_DIM: usize = 8;
/// RSS may grow by at most this much over the run (queues and slots are bounded, so growth
/// beyond allocator slack would be a leak).
const RSS_GROWTH_LIMIT_KIB: u64 = 256 * 1024;

#[derive(Default)]
struct Tally {
    acts: AtomicU64,
    rows: AtomicU64,
    grpc_acts: AtomicU64,
    connections: AtomicU64,
    failures: AtomicU64,
}

#[test]
fn sixty_four_actors_connecting_and_leaving_at_random() {
    let rss_before = rss_kib();
    let policy = ProbePolicy::new(OBS_DIM);
    let expect = policy.clone();
    let (server, unrolls, episodes) =
        InferenceServer::start(policy, ServerConfig::default()).expect("start");
    #[cfg(feature = "grpc")]
    let addr = server
        .serve_grpc("127.0.0.1:0".parse().expect("addr"))
        .expect("serve")
        .to_string();
    #[cfg(not(feature = "grpc"))]
    let addr = String::new();

    // The learner: drains unrolls and episodes until the actors are done.
    let stop = Arc::new(AtomicBool::new(false));
    let learner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut unrolls_seen, mut episodes_seen) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                if unrolls.recv_timeout(Duration::from_millis(5)).is_ok() {
                    unrolls_seen += 1;
                }
                episodes_seen += episodes.try_iter().count() as u64;
            }
            unrolls_seen += unrolls.try_iter().count() as u64;
            (unrolls_seen, episodes_seen)
        })
    };

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let actors: Vec<_> = (0..ACTORS)
        .map(|actor| {
            let server = server.clone();
            let tally = Arc::clone(&tally);
            let expect = expect.clone();
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(actor + 1);
                let mut run_id = 0u64;
                while started.elapsed() < RUN_FOR {
                    run_id += 1;
                    // A quarter of the actors speak gRPC.
                    let grpc = cfg!(feature = "grpc") && actor % 4 == 0;
                    let mut client = match connect(&server, &addr, grpc) {
                        Ok(client) => client,
                        Err(err) => {
                            eprintln!("actor {actor}: connect failed: {err}");
                            tally.failures.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    tally.connections.fetch_add(1, Ordering::Relaxed);
                    let envs = 1 + rng.below(4);
                    let acts = 1 + rng.below(60);
                    for n in 0..acts {
                        let steps: Vec<EnvStep> = (0..envs)
                            .map(|e| {
                                let obs0 = (rng.below(1000) + 1) as f32;
                                EnvStep {
                                    terminated: rng.below(30) == 0,
                                    reward: 1.0,
                                    ..step(actor * 10 + e, run_id, n, obs0, OBS_DIM)
                                }
                            })
                            .collect();
                        match client.act(&steps) {
                            Ok(replies)
                                if replies.len() == steps.len()
                                    && replies.iter().zip(&steps).all(|(r, s)| {
                                        r.env_id == s.env_id
                                            && r.action == expect.expected(s.obs[0], 0.0)
                                    }) =>
                            {
                                tally.acts.fetch_add(1, Ordering::Relaxed);
                                tally.rows.fetch_add(envs, Ordering::Relaxed);
                                if grpc {
                                    tally.grpc_acts.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            other => {
                                eprintln!("actor {actor}: bad answer {other:?}");
                                tally.failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    // Leaves mid-unroll more often than not.
                    drop(client);
                }
            })
        })
        .collect();
    within(Duration::from_secs(60), "64 actors", move || {
        for actor in actors {
            actor.join().expect("actor thread");
        }
    });
    let elapsed = started.elapsed();
    let stats = wait_for(&server, Duration::from_secs(10), "every slot freed", |s| {
        s.active_slots == 0 && s.connected_clients == 0
    });
    stop.store(true, Ordering::Relaxed);
    let (unrolls_seen, episodes_seen) = learner.join().expect("learner");
    let rss_after = rss_kib();

    let acts = tally.acts.load(Ordering::Relaxed);
    let rows = tally.rows.load(Ordering::Relaxed);
    println!(
        "load: {ACTORS} actors (16 gRPC) for {elapsed:.2?}: {} connections, {acts} act calls \
         ({} over gRPC), \
         {rows} rows ({:.0} rows/s), {} batches (mean {:.1}, largest {}), {unrolls_seen} \
         unrolls, {episodes_seen} episodes, {} partial unrolls dropped, failures {}; \
         RSS {} MiB before, {} MiB after",
        tally.connections.load(Ordering::Relaxed),
        tally.grpc_acts.load(Ordering::Relaxed),
        rows as f64 / elapsed.as_secs_f64(),
        stats.batches_run,
        stats.mean_batch_size,
        stats.largest_batch,
        stats.dropped_partial_unrolls,
        tally.failures.load(Ordering::Relaxed),
        rss_before / 1024,
        rss_after / 1024,
    );
    assert_eq!(tally.failures.load(Ordering::Relaxed), 0);
    assert!(acts > 1000, "only {acts} act calls in {elapsed:?}");
    if cfg!(feature = "grpc") {
        assert!(
            tally.grpc_acts.load(Ordering::Relaxed) > 100,
            "gRPC actors barely ran"
        );
    }
    assert_eq!(stats.rows_served, rows);
    assert_eq!(stats.unrolls_emitted, unrolls_seen);
    assert_eq!(stats.active_slots, 0);
    assert!(
        rss_after.saturating_sub(rss_before) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    server.shutdown();
}

/// An in-process client, or with `grpc` (and the feature) a gRPC one.
fn connect(
    server: &ServerHandle,
    addr: &str,
    grpc: bool,
) -> Result<Box<dyn Transport>, TransportError> {
    #[cfg(feature = "grpc")]
    if grpc {
        return Ok(Box::new(eirl_inference_server::GrpcClient::connect(
            addr, None,
        )?));
    }
    let _ = (addr, grpc);
    Ok(Box::new(server.connect()))
}
