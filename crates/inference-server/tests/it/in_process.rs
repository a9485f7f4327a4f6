//! Batching, routing, slots and unrolls over the in-process transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eirl_inference_server::{
    Action, EnvStep, EpisodeStats, InferenceServer, ServerConfig, Transport, TransportError,
};

use crate::common::{ProbePolicy, step, wait_for, within};

const LONG: Duration = Duration::from_secs(10);

fn config() -> ServerConfig {
    ServerConfig {
        unroll_queue: 4096,
        ..ServerConfig::default()
    }
}

#[test]
fn every_client_gets_the_action_for_its_own_obs_and_batches_form() {
    const CLIENTS: u64 = 16;
    const ENVS: u64 = 2;
    const STEPS: u64 = 60;
    let policy = ProbePolicy::new(3).slow(Duration::from_micros(500));
    let expect = policy.clone();
    let (server, unrolls, _) = InferenceServer::start(
        policy,
        ServerConfig {
            deadline: Duration::from_millis(5),
            ..config()
        },
    )
    .expect("start");
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut client = server.connect();
            let expect = expect.clone();
            std::thread::spawn(move || {
                for n in 0..STEPS {
                    let steps: Vec<EnvStep> = (0..ENVS)
                        .map(|e| {
                            let env = c * ENVS + e;
                            step(env, 1, n, (env * 1000 + n) as f32, 3)
                        })
                        .collect();
                    let replies = client.act(&steps).expect("act");
                    assert_eq!(replies.len(), steps.len());
                    for (reply, sent) in replies.iter().zip(&steps) {
                        assert_eq!(reply.env_id, sent.env_id);
                        assert_eq!(reply.action, expect.expected(sent.obs[0], 0.0));
                    }
                }
            })
        })
        .collect();
    within(LONG, "16 actors", move || {
        for t in threads {
            t.join().expect("actor thread");
        }
    });
    // The actors' clients are dropped with their threads: every slot goes, and each env's
    // 19 records after its second unroll are dropped as a partial unroll.
    let stats = wait_for(&server, LONG, "slots freed", |s| s.active_slots == 0);
    assert_eq!(stats.dropped_partial_unrolls, CLIENTS * ENVS);
    assert_eq!(stats.rows_served, CLIENTS * ENVS * STEPS);
    assert!(
        stats.mean_batch_size > 1.0,
        "no batching happened: {stats:?}"
    );
    assert!(stats.largest_batch <= 1024);
    // 60 records per env with T = 20: two unrolls (21 + 20 records) per env.
    assert_eq!(stats.unrolls_emitted, CLIENTS * ENVS * 2);
    assert_eq!(unrolls.len() as u64, CLIENTS * ENVS * 2);
    println!(
        "batching: {} rows in {} batches, mean {:.2}, largest {}",
        stats.rows_served, stats.batches_run, stats.mean_batch_size, stats.largest_batch
    );
    server.shutdown();
}

#[test]
fn deadline_serves_a_lone_actor_and_departed_actors_shrink_the_target() {
    let deadline = Duration::from_millis(200);
    let (server, _unrolls, _) = InferenceServer::start(
        ProbePolicy::new(1),
        ServerConfig {
            batch_fraction: 1.0,
            deadline,
            ..config()
        },
    )
    .expect("start");
    let mut clients: Vec<_> = (0..8).map(|_| server.connect()).collect();
    // Every actor registers its env at once: the target then becomes 8 rows.
    let registered: Vec<_> = clients
        .drain(..)
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                c.act(&[step(i as u64, 1, 0, 1.0, 1)]).expect("register");
                c
            })
        })
        .collect();
    let mut clients: Vec<_> = registered
        .into_iter()
        .map(|t| t.join().expect("register thread"))
        .collect();
    assert_eq!(server.stats().active_slots, 8);

    // Only actor 0 keeps acting: its batch of 1 runs at the deadline, not never.
    let mut lone = clients.remove(0);
    let (lone, waited) = within(LONG, "a lone actor among 8", move || {
        let start = Instant::now();
        lone.act(&[step(0, 1, 1, 2.0, 1)])
            .expect("served by deadline");
        (lone, start.elapsed())
    });
    assert!(
        waited >= deadline - Duration::from_millis(10),
        "served after {waited:?}: the batch did not wait for the target"
    );

    // The others leave: their slots go, the target drops to 1, and nobody waits for them.
    drop(clients);
    wait_for(&server, LONG, "departed slots freed", |s| {
        s.active_slots == 1 && s.connected_clients == 1
    });
    let mut lone = lone;
    let start = Instant::now();
    lone.act(&[step(0, 1, 2, 3.0, 1)]).expect("act");
    let waited = start.elapsed();
    assert!(
        waited < deadline / 2,
        "waited {waited:?} on actors that are gone"
    );
    server.shutdown();
}

#[test]
fn dropping_a_client_frees_its_slots_and_drops_its_partial_unrolls() {
    let (server, unrolls, _) = InferenceServer::start(
        ProbePolicy::new(1),
        ServerConfig {
            unroll_len: 5,
            ..config()
        },
    )
    .expect("start");
    let mut a = server.connect();
    let mut b = server.connect();
    for n in 0..3 {
        a.act(&[step(1, 1, n, 1.0, 1), step(2, 1, n, 2.0, 1)])
            .expect("a");
        b.act(&[step(3, 1, n, 3.0, 1)]).expect("b");
    }
    assert_eq!(server.stats().active_slots, 3);
    drop(a);
    let stats = wait_for(&server, LONG, "a's slots freed", |s| s.active_slots == 1);
    assert_eq!(stats.dropped_partial_unrolls, 2);
    assert_eq!(stats.connected_clients, 1);
    assert_eq!(stats.unrolls_emitted, 0);
    // b's env is untouched: three more steps complete its first unroll of 6 records.
    for n in 3..6 {
        b.act(&[step(3, 1, n, 3.0, 1)]).expect("b");
    }
    let unroll = unrolls.recv_timeout(LONG).expect("b's unroll");
    assert_eq!((unroll.env_id, unroll.len), (3, 5));
    drop(b);
    let stats = wait_for(&server, LONG, "all slots freed", |s| s.active_slots == 0);
    // b's last record was already delivered as the unroll's last: nothing new was lost.
    assert_eq!(stats.dropped_partial_unrolls, 2);
    server.shutdown();
}

#[test]
fn two_connected_clients_cannot_drive_one_env() {
    let (server, _unrolls, _) =
        InferenceServer::start(ProbePolicy::new(1), config()).expect("start");
    let mut first = server.connect();
    let mut twin = server.connect();
    first.act(&[step(7, 1, 0, 1.0, 1)]).expect("first");
    // The twin's request waits out the grace period (the owner could have been leaving) and
    // is then refused.
    match twin.act(&[step(8, 2, 0, 1.0, 1), step(7, 2, 0, 1.0, 1)]) {
        Err(TransportError::Rejected(message)) => {
            assert!(
                message.contains("env_id 7") && message.contains("--actor-id"),
                "{message}"
            )
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let stats = server.stats();
    assert_eq!((stats.env_conflicts, stats.active_slots), (1, 1));
    first
        .act(&[step(7, 1, 1, 1.0, 1)])
        .expect("the first keeps its env");
    // Once the first has left, its envs are free for the other.
    drop(first);
    wait_for(&server, LONG, "first's slot freed", |s| s.active_slots == 0);
    twin.act(&[step(7, 2, 0, 1.0, 1)]).expect("taken over");
    assert_eq!(server.stats().env_conflicts, 1);
    server.shutdown();
}

#[test]
fn run_id_change_and_step_gap_reset_the_slot() {
    let policy = ProbePolicy::new(1).recurrent(1);
    let expect = policy.clone();
    let (server, unrolls, _) = InferenceServer::start(
        policy,
        ServerConfig {
            unroll_len: 3,
            ..config()
        },
    )
    .expect("start");
    let mut c = server.connect();
    let mut act = |run: u64, n: u64, obs0: f32| {
        c.act(&[step(9, run, n, obs0, 1)]).expect("act")[0]
            .action
            .clone()
    };
    // The state fed in counts this env's steps since its slot (re)started.
    assert_eq!(act(1, 0, 10.0), expect.expected(10.0, 0.0));
    assert_eq!(act(1, 1, 11.0), expect.expected(11.0, 1.0));
    assert_eq!(act(1, 2, 12.0), expect.expected(12.0, 2.0));
    // A restarted actor: new run id.
    assert_eq!(act(2, 0, 20.0), expect.expected(20.0, 0.0));
    let stats = server.stats();
    assert_eq!((stats.slot_resets, stats.dropped_partial_unrolls), (1, 1));
    assert_eq!(act(2, 1, 21.0), expect.expected(21.0, 1.0));
    // Steps 2..=4 lost: a gap.
    assert_eq!(act(2, 5, 25.0), expect.expected(25.0, 0.0));
    let stats = server.stats();
    assert_eq!((stats.slot_resets, stats.dropped_partial_unrolls), (2, 2));
    // A repeated step number is a gap too.
    assert_eq!(act(2, 5, 25.0), expect.expected(25.0, 0.0));
    assert_eq!(server.stats().slot_resets, 3);
    assert!(unrolls.is_empty());
    // The unroll after the reset starts at the reset step, from a zero state.
    for (n, obs0) in [(6, 26.0), (7, 27.0), (8, 28.0)] {
        act(2, n, obs0);
    }
    let unroll = unrolls.recv_timeout(LONG).expect("unroll");
    assert_eq!(unroll.obs, vec![25.0, 26.0, 27.0, 28.0]);
    assert_eq!(unroll.initial_state, vec![0.0]);
    assert_eq!(unroll.aux, vec![25.0, 0.0, 26.0, 1.0, 27.0, 2.0, 28.0, 3.0]);
    server.shutdown();
}

/// Steps 0..=9 of one env: episode 1 terminates at step 2, episode 2 is truncated at step 4
/// (with its true last observation), episode 3 runs on. Reward k arrives with step k ≥ 1.
fn scripted(n: u64) -> EnvStep {
    let x = n as f32;
    EnvStep {
        env_id: 5,
        run_id: 1,
        step: n,
        obs: vec![x, x + 0.5],
        reward: if n == 0 { 0.0 } else { x },
        terminated: n == 2,
        truncated: n == 4,
        final_obs: (n == 4).then(|| vec![40.0, 41.0]),
    }
}

#[test]
fn unroll_contents_alignment_and_overlap_for_a_scripted_sequence() {
    let policy = ProbePolicy::new(2).recurrent(1);
    let expect = policy.clone();
    let (server, unrolls, episodes) = InferenceServer::start(
        policy,
        ServerConfig {
            unroll_len: 3,
            ..config()
        },
    )
    .expect("start");
    let mut c = server.connect();
    // The state fed in: +1 per step, zero again wherever obs starts an episode (steps 2 and 4).
    let fed = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    for n in 0..10u64 {
        let replies = c.act(&[scripted(n)]).expect("act");
        assert_eq!(
            replies[0].action,
            expect.expected(n as f32, fed[n as usize])
        );
    }
    let got: Vec<_> = unrolls.try_iter().collect();
    assert_eq!(got.len(), 3, "10 records make 3 unrolls of T = 3");

    let u = &got[0];
    assert_eq!(
        (u.env_id, u.len, u.obs_dim, u.aux_dim, u.state_dim),
        (5, 3, 2, 2, 1)
    );
    assert_eq!(u.obs, vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]);
    assert_eq!(
        u.actions,
        (0..4)
            .map(|k| expect.expected(k as f32, fed[k]))
            .collect::<Vec<Action>>()
    );
    assert_eq!(u.aux, vec![0.0, 0.0, 1.0, 1.0, 2.0, 0.0, 3.0, 1.0]);
    assert_eq!(u.rewards, vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(u.terminated, vec![false, false, true, false]);
    assert_eq!(u.truncated, vec![false; 4]);
    assert_eq!(u.final_obs, vec![None; 4]);
    assert_eq!(u.initial_state, vec![0.0]);

    let u = &got[1];
    assert_eq!(u.obs, vec![3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5]);
    assert_eq!(u.rewards, vec![3.0, 4.0, 5.0, 6.0]);
    assert_eq!(u.terminated, vec![false; 4]);
    assert_eq!(u.truncated, vec![false, true, false, false]);
    assert_eq!(u.final_obs, vec![None, Some(vec![40.0, 41.0]), None, None]);
    assert_eq!(u.initial_state, vec![1.0], "the state fed with step 3");
    assert_eq!(u.aux, vec![3.0, 1.0, 4.0, 0.0, 5.0, 1.0, 6.0, 2.0]);

    let u = &got[2];
    assert_eq!(u.obs, vec![6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5]);
    assert_eq!(u.initial_state, vec![2.0]);
    assert_eq!(u.rewards, vec![6.0, 7.0, 8.0, 9.0]);

    // Overlap: each unroll's first record is its predecessor's last.
    for pair in got.windows(2) {
        assert_eq!(pair[0].obs_at(3), pair[1].obs_at(0));
        assert_eq!(pair[0].actions[3], pair[1].actions[0]);
        assert_eq!(pair[0].aux_at(3), pair[1].aux_at(0));
    }

    let episodes: Vec<EpisodeStats> = episodes.try_iter().collect();
    assert_eq!(
        episodes,
        vec![
            EpisodeStats {
                env_id: 5,
                episode_return: 3.0,
                length: 2
            },
            EpisodeStats {
                env_id: 5,
                episode_return: 7.0,
                length: 2
            },
        ]
    );
    server.shutdown();
}

#[test]
fn policy_errors_fail_only_their_batch() {
    let (server, _unrolls, _) =
        InferenceServer::start(ProbePolicy::new(1).recurrent(1), config()).expect("start");
    let mut a = server.connect();
    let mut b = server.connect();
    a.act(&[step(1, 1, 0, 5.0, 1)]).expect("healthy");
    for poison in [-1.0, -2.0, -3.0] {
        let err = a.act(&[step(1, 1, 1, poison, 1)]).expect_err("poisoned");
        assert!(matches!(err, TransportError::Policy(_)), "{err:?}");
    }
    let TransportError::Policy(panic) = a.act(&[step(1, 1, 1, -2.0, 1)]).expect_err("panics")
    else {
        panic!("a panic must come back as a policy error");
    };
    assert!(panic.contains("panicked"), "{panic}");
    // Failed steps were not committed: retrying step 1 continues the slot (state 1, no reset).
    let replies = a.act(&[step(1, 1, 1, 6.0, 1)]).expect("retry");
    assert_eq!(replies[0].action, Action::Discrete(1006));
    b.act(&[step(2, 1, 0, 7.0, 1)]).expect("b unaffected");
    let stats = server.stats();
    assert_eq!(stats.policy_errors, 4);
    assert_eq!(stats.slot_resets, 0);
    server.shutdown();
}

#[test]
fn malformed_requests_and_too_many_envs_are_refused_without_harm() {
    let (server, _unrolls, _) = InferenceServer::start(
        ProbePolicy::new(2),
        ServerConfig {
            max_envs: 2,
            max_batch: 4,
            ..config()
        },
    )
    .expect("start");
    let mut c = server.connect();
    let ok = step(1, 1, 0, 1.0, 2);
    let mut short = ok.clone();
    short.obs.pop();
    let mut nan = ok.clone();
    nan.obs[1] = f32::NAN;
    let mut stray_final = ok.clone();
    stray_final.final_obs = Some(vec![0.0, 0.0]);
    let cases: Vec<(Vec<EnvStep>, &str)> = vec![
        (vec![], "no steps"),
        (vec![short], "expected 2"),
        (vec![nan], "not finite"),
        (vec![ok.clone(), ok.clone()], "more than once"),
        (vec![stray_final], "neither terminated nor truncated"),
        ((0..5).map(|e| step(e, 1, 0, 1.0, 2)).collect(), "max_batch"),
    ];
    for (steps, needle) in cases {
        match c.act(&steps) {
            Err(TransportError::InvalidRequest(message)) => {
                assert!(message.contains(needle), "{message:?} lacks {needle:?}")
            }
            other => panic!("expected InvalidRequest({needle}), got {other:?}"),
        }
    }
    let three: Vec<EnvStep> = (0..3).map(|e| step(e, 1, 0, 1.0, 2)).collect();
    assert!(matches!(c.act(&three), Err(TransportError::Rejected(_))));
    c.act(&three[..2]).expect("two envs fit");
    let stats = server.stats();
    assert_eq!(stats.rejected_requests, 7);
    assert_eq!(stats.active_slots, 2);
    server.shutdown();
}

#[test]
fn silent_slots_expire_after_the_heartbeat_timeout() {
    let (server, _unrolls, _) = InferenceServer::start(
        ProbePolicy::new(1),
        ServerConfig {
            heartbeat_timeout: Duration::from_millis(100),
            unroll_len: 4,
            ..config()
        },
    )
    .expect("start");
    let mut c = server.connect();
    c.act(&[step(1, 1, 0, 1.0, 1)]).expect("act");
    let stats = wait_for(&server, LONG, "silent slot expired", |s| {
        s.active_slots == 0
    });
    assert_eq!((stats.expired_slots, stats.dropped_partial_unrolls), (1, 1));
    // The actor is still connected; its next step opens a fresh slot (no reset needed).
    c.act(&[step(1, 1, 1, 1.0, 1)]).expect("act");
    assert_eq!(server.stats().active_slots, 1);
    assert_eq!(server.stats().slot_resets, 0);
    server.shutdown();
}

#[test]
fn a_full_unroll_queue_makes_actors_wait_for_the_learner() {
    let (server, unrolls, _) = InferenceServer::start(
        ProbePolicy::new(1),
        ServerConfig {
            unroll_len: 1,
            unroll_queue: 1,
            ..ServerConfig::default()
        },
    )
    .expect("start");
    let mut c = server.connect();
    // Steps 0,1 make unroll 1, which fills the queue; step 2 makes unroll 2, and its reply
    // waits until the learner takes unroll 1.
    for n in 0..2 {
        c.act(&[step(1, 1, n, 1.0, 1)]).expect("act");
    }
    assert_eq!(
        unrolls.len(),
        1,
        "an unroll is queued before its step is answered"
    );
    let released = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&released);
    let waiter = std::thread::spawn(move || {
        c.act(&[step(1, 1, 2, 1.0, 1)])
            .expect("act after the learner drains");
        seen.load(Ordering::SeqCst)
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(!waiter.is_finished(), "the actor ran ahead of the learner");
    released.store(true, Ordering::SeqCst);
    unrolls.recv_timeout(LONG).expect("first unroll");
    let answered_after_release = within(LONG, "released actor", move || {
        waiter.join().expect("waiter")
    });
    assert!(answered_after_release);
    assert_eq!(
        unrolls.len(),
        1,
        "unroll 2 was queued before step 2 was answered"
    );
    server.shutdown();
}

#[test]
fn shutdown_fails_actors_instead_of_hanging() {
    let (server, _unrolls, _) = InferenceServer::start(
        ProbePolicy::new(1).slow(Duration::from_millis(100)),
        config(),
    )
    .expect("start");
    let mut busy = server.connect();
    let mut idle = server.connect();
    let in_flight = std::thread::spawn(move || {
        let mut results = Vec::new();
        for n in 0..50 {
            let result = busy.act(&[step(1, 1, n, 1.0, 1)]);
            let failed = result.is_err();
            results.push(result);
            if failed {
                break;
            }
        }
        results
    });
    std::thread::sleep(Duration::from_millis(150));
    within(LONG, "shutdown", move || server.shutdown());
    let results = within(LONG, "the busy actor", move || {
        in_flight.join().expect("busy")
    });
    assert_eq!(results.last(), Some(&Err(TransportError::Disconnected)));
    assert_eq!(
        idle.act(&[step(2, 1, 0, 1.0, 1)]),
        Err(TransportError::Disconnected)
    );
}
