//! The gRPC transport over loopback (port 0).

use std::net::SocketAddr;
use std::time::Duration;

use eirl_inference_server::{
    EnvStep, GrpcClient, InferenceServer, ServerConfig, ServerHandle, Transport, TransportError,
    proto,
};

use crate::common::{ProbePolicy, step, wait_for, within};

const LONG: Duration = Duration::from_secs(10);
const TOKEN: &str = "s3cret-token";

fn serve(policy: ProbePolicy, config: ServerConfig) -> (ServerHandle, String) {
    let (server, _unrolls, _episodes) = InferenceServer::start(
        policy,
        ServerConfig {
            unroll_queue: 4096,
            ..config
        },
    )
    .expect("start");
    let addr: SocketAddr = server
        .serve_grpc("127.0.0.1:0".parse().expect("addr"))
        .expect("serve");
    assert_ne!(addr.port(), 0);
    (server, addr.to_string())
}

#[test]
fn round_trip_matches_in_process_results() {
    for policy in [ProbePolicy::new(3), ProbePolicy::new(3).continuous()] {
        let expect = policy.clone();
        let (server, unrolls, episodes) = InferenceServer::start(
            policy,
            ServerConfig {
                unroll_len: 2,
                token: Some(TOKEN.into()),
                ..ServerConfig::default()
            },
        )
        .expect("start");
        let addr = server
            .serve_grpc("127.0.0.1:0".parse().expect("addr"))
            .expect("serve");
        let mut remote =
            GrpcClient::connect(&format!("http://{addr}"), Some(TOKEN)).expect("connect");
        let mut local = server.connect();
        for n in 0..3u64 {
            let steps: Vec<EnvStep> = (0..4)
                .map(|e| EnvStep {
                    terminated: n == 2 && e == 0,
                    truncated: n == 2 && e == 1,
                    final_obs: (n == 2 && e == 1).then(|| vec![7.0; 3]),
                    reward: n as f32,
                    ..step(e, 1, n, (10 * e + n) as f32, 3)
                })
                .collect();
            let replies = remote.act(&steps).expect("remote act");
            for (reply, sent) in replies.iter().zip(&steps) {
                assert_eq!(reply.env_id, sent.env_id);
                assert_eq!(reply.action, expect.expected(sent.obs[0], 0.0));
            }
            local
                .act(&[step(100, 1, n, 5.0, 3)])
                .expect("in-process alongside");
        }
        let mut got: Vec<_> = unrolls.try_iter().collect();
        assert_eq!(got.len(), 5, "4 remote envs + 1 local, 3 records each");
        got.sort_by_key(|u| u.env_id);
        let env1 = &got[1];
        assert_eq!(env1.obs_at(2), &[12.0, 12.5, 12.5]);
        assert_eq!(env1.final_obs[2], Some(vec![7.0; 3]));
        assert_eq!(env1.truncated, vec![false, false, true]);
        assert_eq!(got[0].terminated, vec![false, false, true]);
        assert_eq!(episodes.try_iter().count(), 2);
        server.shutdown();
    }
}

#[test]
fn wrong_or_missing_token_is_rejected() {
    let (server, addr) = serve(
        ProbePolicy::new(1),
        ServerConfig {
            token: Some(TOKEN.into()),
            ..ServerConfig::default()
        },
    );
    for token in [None, Some("wrong"), Some("s3cret-token-but-longer")] {
        match GrpcClient::connect(&addr, token) {
            Err(TransportError::Unauthenticated(message)) => {
                assert!(message.contains("Bearer"), "{message}")
            }
            other => panic!("token {token:?}: expected Unauthenticated, got {other:?}"),
        }
    }
    let mut ok = GrpcClient::connect(&addr, Some(TOKEN)).expect("right token");
    ok.act(&[step(1, 1, 0, 1.0, 1)]).expect("act");
    let stats = server.stats();
    assert_eq!(stats.rejected_streams, 3);
    assert_eq!(stats.connected_clients, 1);
    server.shutdown();
}

#[test]
fn oversized_and_malformed_frames_close_only_their_stream() {
    let (server, addr) = serve(
        ProbePolicy::new(4),
        ServerConfig {
            max_frame_bytes: 512,
            ..ServerConfig::default()
        },
    );
    let mut healthy = GrpcClient::connect(&addr, None).expect("healthy");
    let mut n = 0;
    let mut check_healthy = |healthy: &mut GrpcClient| {
        let replies = healthy
            .act(&[step(999, 1, n, 3.0, 4)])
            .expect("healthy act");
        assert_eq!(replies[0].env_id, 999);
        n += 1;
    };
    check_healthy(&mut healthy);

    // 40 envs × 4 floats is well over 512 bytes.
    let big: Vec<EnvStep> = (0..40).map(|e| step(e, 1, 0, 1.0, 4)).collect();
    let mut oversized = GrpcClient::connect(&addr, None).expect("connect");
    match oversized.act(&big) {
        Err(TransportError::Rejected(message)) => {
            assert!(message.contains("max_frame_bytes = 512"), "{message}")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    // The stream is closed: the client keeps reporting it.
    assert!(matches!(
        oversized.act(&[step(1, 1, 0, 1.0, 4)]),
        Err(TransportError::Rejected(_))
    ));
    check_healthy(&mut healthy);

    let ok = step(1, 1, 0, 1.0, 4);
    let mut short = ok.clone();
    short.obs.truncate(3);
    let mut nan_obs = ok.clone();
    nan_obs.obs[2] = f32::NAN;
    let mut inf_reward = ok.clone();
    inf_reward.reward = f32::NEG_INFINITY;
    let mut stray_final = ok.clone();
    stray_final.final_obs = Some(vec![0.0; 4]);
    let mut short_final = ok.clone();
    short_final.truncated = true;
    short_final.final_obs = Some(vec![0.0; 2]);
    let cases: Vec<(Vec<EnvStep>, &str)> = vec![
        (vec![short], "obs has 3 values, expected 4"),
        (vec![nan_obs], "obs[2] = NaN is not finite"),
        (vec![inf_reward], "reward"),
        (
            vec![ok.clone(), ok.clone()],
            "env_id 1 appears more than once",
        ),
        (vec![stray_final], "neither terminated nor truncated"),
        (vec![short_final], "final_obs has 2 values"),
    ];
    for (steps, needle) in cases {
        let mut bad = GrpcClient::connect(&addr, None).expect("connect");
        match bad.act(&steps) {
            Err(TransportError::InvalidRequest(message)) => {
                assert!(message.contains(needle), "{message:?} lacks {needle:?}")
            }
            other => panic!("expected InvalidRequest({needle}), got {other:?}"),
        }
        check_healthy(&mut healthy);
    }

    // An empty request, sent raw as a Python client might.
    let code = raw_empty_request(&addr);
    assert_eq!(code, tonic::Code::InvalidArgument);
    check_healthy(&mut healthy);

    let stats = wait_for(&server, LONG, "bad streams gone", |s| {
        s.connected_clients == 1
    });
    assert_eq!(stats.invalid_streams, 8);
    assert_eq!(stats.active_slots, 1, "only the healthy env holds a slot");
    server.shutdown();
}

/// Opens a stream with the generated client and sends an `ActRequest` with no steps.
fn raw_empty_request(addr: &str) -> tonic::Code {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client =
            proto::inference_client::InferenceClient::connect(format!("http://{addr}"))
                .await
                .expect("connect");
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(proto::ActRequest { steps: vec![] })
            .await
            .expect("queue request");
        let mut responses = client
            .act(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("stream opens")
            .into_inner();
        match responses.message().await {
            Err(status) => status.code(),
            Ok(other) => panic!("an empty request was answered: {other:?}"),
        }
    })
}

#[test]
fn policy_errors_close_the_stream_and_others_keep_working() {
    let (server, addr) = serve(ProbePolicy::new(1), ServerConfig::default());
    let mut a = GrpcClient::connect(&addr, None).expect("a");
    let mut b = GrpcClient::connect(&addr, None).expect("b");
    assert!(matches!(
        a.act(&[step(1, 1, 0, -1.0, 1)]),
        Err(TransportError::Policy(message)) if message.contains("poison")
    ));
    b.act(&[step(2, 1, 0, 1.0, 1)]).expect("b unaffected");
    let mut a = GrpcClient::connect(&addr, None).expect("a reconnects");
    a.act(&[step(1, 1, 0, 1.0, 1)]).expect("a again");
    server.shutdown();
}

#[test]
fn dropping_a_grpc_client_frees_its_slots() {
    let (server, addr) = serve(ProbePolicy::new(1), ServerConfig::default());
    let mut c = GrpcClient::connect(&addr, None).expect("connect");
    for n in 0..3 {
        c.act(&[step(1, 1, n, 1.0, 1), step(2, 1, n, 1.0, 1)])
            .expect("act");
    }
    assert_eq!(server.stats().active_slots, 2);
    drop(c);
    let stats = wait_for(&server, LONG, "slots freed", |s| {
        s.active_slots == 0 && s.connected_clients == 0
    });
    assert_eq!(stats.dropped_partial_unrolls, 2);
    server.shutdown();
}

#[test]
fn silent_streams_are_closed_after_the_heartbeat_timeout() {
    let (server, addr) = serve(
        ProbePolicy::new(1),
        ServerConfig {
            heartbeat_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    );
    let mut quiet = GrpcClient::connect(&addr, None).expect("connect");
    quiet.act(&[step(1, 1, 0, 1.0, 1)]).expect("act");
    let mut chatty = GrpcClient::connect(&addr, None).expect("connect");
    // The chatty client keeps acting well inside the timeout; the quiet one says nothing.
    for n in 0..8 {
        chatty.act(&[step(2, 1, n, 1.0, 1)]).expect("chatty act");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = wait_for(&server, LONG, "the quiet stream closed", |s| {
        s.connected_clients == 1
    });
    assert_eq!(stats.active_slots, 1, "{stats:?}");
    let err = quiet
        .act(&[step(1, 1, 1, 1.0, 1)])
        .expect_err("the idle stream was closed");
    assert!(format!("{err}").contains("idle stream"), "{err}");
    chatty
        .act(&[step(2, 1, 8, 1.0, 1)])
        .expect("chatty still served");
    server.shutdown();
}

/// Shuts a server down (`finish`: because training is over) under a busy and an idle gRPC
/// client; returns the errors the two then get.
fn shutdown_under_clients(finish: bool) -> (TransportError, TransportError) {
    let (server, addr) = serve(
        ProbePolicy::new(1).slow(Duration::from_millis(50)),
        ServerConfig::default(),
    );
    let mut idle = GrpcClient::connect(&addr, None).expect("idle");
    idle.act(&[step(1, 1, 0, 1.0, 1)]).expect("act");
    let mut busy = GrpcClient::connect(&addr, None).expect("busy");
    let looping = std::thread::spawn(move || {
        for n in 0.. {
            if let Err(err) = busy.act(&[step(2, 1, n, 1.0, 1)]) {
                return err;
            }
        }
        unreachable!()
    });
    std::thread::sleep(Duration::from_millis(120));
    within(LONG, "shutdown", move || {
        if finish {
            server.finish()
        } else {
            server.shutdown()
        }
    });
    let busy = within(LONG, "busy gRPC actor", move || {
        looping.join().expect("busy")
    });
    let idle = within(LONG, "idle gRPC actor", move || {
        idle.act(&[step(1, 1, 1, 1.0, 1)]).expect_err("server gone")
    });
    assert!(GrpcClient::connect(&addr, None).is_err());
    (busy, idle)
}

#[test]
fn server_shutdown_makes_grpc_clients_error_not_hang() {
    let (busy, idle) = shutdown_under_clients(false);
    assert_eq!(busy, TransportError::Disconnected);
    assert_eq!(idle, TransportError::Disconnected);
}

#[test]
fn server_finish_tells_grpc_clients_that_training_finished() {
    let (busy, idle) = shutdown_under_clients(true);
    assert_eq!(busy, TransportError::Finished);
    assert_eq!(idle, TransportError::Finished);
    assert!(!busy.is_final(), "a finished run may be resumed");
}

#[test]
fn huge_finite_values_close_the_stream_and_the_server_goes_on() {
    let (server, addr) = serve(ProbePolicy::new(2), ServerConfig::default());
    let mut hostile = GrpcClient::connect(&addr, None).expect("connect");
    let mut bad = step(1, 1, 0, 1.0, 2);
    bad.reward = 3e38;
    match hostile.act(&[bad]) {
        Err(err @ TransportError::InvalidRequest(_)) => {
            assert!(err.to_string().contains("max_abs_value"), "{err}");
            assert!(err.is_final());
        }
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
    let mut fine = GrpcClient::connect(&addr, None).expect("connect");
    fine.act(&[step(2, 1, 0, 1.0, 2)])
        .expect("a good actor is served");
    assert_eq!(server.stats().invalid_streams, 1);
    server.shutdown();
}

#[test]
fn an_actor_for_another_env_is_refused_finally() {
    let (server, addr) = serve(
        ProbePolicy::new(2),
        ServerConfig {
            env_id: Some("CartPole-v1".into()),
            ..ServerConfig::default()
        },
    );
    match GrpcClient::connect_for_env(&addr, None, Some("Acrobot-v1")) {
        Err(err @ TransportError::Incompatible(_)) => {
            let text = err.to_string();
            assert!(
                text.contains("CartPole-v1") && text.contains("Acrobot-v1"),
                "{text}"
            );
            assert!(err.is_final());
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let mut same = GrpcClient::connect_for_env(&addr, None, Some("CartPole-v1")).expect("same env");
    same.act(&[step(1, 1, 0, 1.0, 2)]).expect("act");
    // An actor that does not say which env it steps is checked by its observations only.
    GrpcClient::connect(&addr, None).expect("unnamed env");
    assert_eq!(server.stats().rejected_streams, 1);
    server.shutdown();
}

/// Reads until the peer closes the connection; `true` when it did within `limit`.
fn closed_within(socket: &mut std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    socket.set_read_timeout(Some(limit)).expect("read timeout");
    let mut buf = [0u8; 256];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn connections_past_the_cap_are_closed_and_counted() {
    let (server, addr) = serve(
        ProbePolicy::new(1),
        ServerConfig {
            max_connections: 3,
            ..ServerConfig::default()
        },
    );
    let idle: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(&addr).expect("tcp connect"))
        .collect();
    wait_for(&server, LONG, "3 open connections", |s| {
        s.open_connections == 3
    });
    let mut fourth = std::net::TcpStream::connect(&addr).expect("tcp connect");
    assert!(
        closed_within(&mut fourth, LONG),
        "the 4th connection stays open"
    );
    assert_eq!(server.stats().rejected_connections, 1);
    // Freeing a place lets a real actor in.
    drop(idle);
    wait_for(&server, LONG, "no open connection", |s| {
        s.open_connections == 0
    });
    let mut actor = GrpcClient::connect(&addr, None).expect("connect after the idle ones left");
    actor.act(&[step(1, 1, 0, 1.0, 1)]).expect("act");
    server.shutdown();
}

#[test]
fn connections_without_a_stream_time_out() {
    let idle_timeout = Duration::from_millis(300);
    let (server, addr) = serve(
        ProbePolicy::new(1),
        ServerConfig {
            connection_idle_timeout: idle_timeout,
            ..ServerConfig::default()
        },
    );
    let mut silent = std::net::TcpStream::connect(&addr).expect("tcp connect");
    // An actor with an open stream is not idle, however long it waits between requests.
    let mut actor = GrpcClient::connect(&addr, None).expect("connect");
    assert!(
        closed_within(&mut silent, LONG),
        "the silent connection stays open"
    );
    assert_eq!(server.stats().idle_connections_closed, 1);
    std::thread::sleep(idle_timeout * 3);
    actor
        .act(&[step(1, 1, 0, 1.0, 1)])
        .expect("the actor's connection survived");
    assert_eq!(server.stats().idle_connections_closed, 1);
    server.shutdown();
}
