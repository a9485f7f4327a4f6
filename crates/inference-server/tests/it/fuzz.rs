//! Fuzzing of the gRPC frames: random bytes and mutated valid `ActRequest` / `ActResponse`
//! frames go through the prost decoder, and every request that decodes goes, converted as
//! the gRPC service converts it, through the server's validation and batching (over the
//! in-process transport, which runs the same checks). Property: decode errors and refusals,
//! never a panic, and the server still answers a valid request afterwards. `cargo xtask fuzz`
//! runs 10⁶ inputs (`EIRL_FUZZ_CASES`); the default suite a few hundred.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eirl_inference_server::{
    Action, BatchPolicy, InferBatch, InferOutput, InferenceServer, PolicyError, ServerConfig,
    Transport, proto,
};
use eirl_testkit::fuzz;
use proptest::prelude::*;
use prost::Message;

const OBS_DIM: usize = 3;

/// Action 0 for every row; never fails.
struct Zero;

impl BatchPolicy for Zero {
    fn obs_dim(&self) -> usize {
        OBS_DIM
    }

    fn aux_dim(&self) -> usize {
        0
    }

    fn state_dim(&self) -> usize {
        0
    }

    fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError> {
        out.clear();
        out.actions
            .extend((0..batch.n).map(|_| Action::Discrete(0)));
        Ok(())
    }
}

fn env_step(env_id: u64, step: u64, end: bool) -> proto::EnvStep {
    proto::EnvStep {
        env_id,
        run_id: 7,
        step,
        obs: vec![0.5, -1.0, 2.0],
        reward: if step == 0 { 0.0 } else { 1.0 },
        terminated: false,
        truncated: end,
        final_obs: if end { vec![1.0, 1.0, 1.0] } else { Vec::new() },
    }
}

fn request_seeds() -> Vec<Vec<u8>> {
    [
        vec![env_step(0, 0, false)],
        vec![env_step(1, 5, false), env_step(2, 3, true)],
        (0..8).map(|e| env_step(e, 1, e % 3 == 0)).collect(),
    ]
    .into_iter()
    .map(|steps| proto::ActRequest { steps }.encode_to_vec())
    .collect()
}

fn response_seeds() -> Vec<Vec<u8>> {
    let reply = |env_id, action| proto::ActReply {
        env_id,
        action: Some(action),
    };
    [
        vec![reply(0, proto::act_reply::Action::Discrete(1))],
        vec![
            reply(3, proto::act_reply::Action::Discrete(-2)),
            reply(
                4,
                proto::act_reply::Action::Continuous(proto::ContinuousAction {
                    values: vec![0.25, -0.5],
                }),
            ),
        ],
    ]
    .into_iter()
    .map(|replies| proto::ActResponse { replies }.encode_to_vec())
    .collect()
}

static SERVED: AtomicU64 = AtomicU64::new(0);

#[test]
fn fuzz_grpc_frames() {
    let config = ServerConfig {
        // Batch every request at once: the fuzzer is the only actor.
        batch_fraction: f32::MIN_POSITIVE,
        deadline: Duration::from_micros(50),
        ..ServerConfig::default()
    };
    let (server, unrolls, episodes) = InferenceServer::start(Zero, config).expect("server");
    // The learner's side: drain unrolls and episode summaries so acting never blocks.
    let drain = std::thread::spawn(move || {
        while unrolls.recv().is_ok() {}
        drop(episodes);
    });
    let client = RefCell::new(server.connect());
    let mut seeds = request_seeds();
    seeds.extend(response_seeds());
    fuzz::run(
        "gRPC frames (ActRequest/ActResponse)",
        fuzz::bytes(seeds),
        |frame| {
            // What a client decodes from the server.
            // Re-encoding is stable (compared as bytes: a NaN action is not equal to itself).
            if let Ok(response) = proto::ActResponse::decode(frame.as_slice()) {
                let bytes = response.encode_to_vec();
                let again = proto::ActResponse::decode(bytes.as_slice()).map(|r| r.encode_to_vec());
                prop_assert_eq!(again.ok(), Some(bytes));
            }
            // What the server decodes from an actor, then validates and batches.
            let Ok(request) = proto::ActRequest::decode(frame.as_slice()) else {
                return Ok(());
            };
            let steps = request.into_steps();
            if let Ok(replies) = client.borrow_mut().act(&steps) {
                SERVED.fetch_add(1, Ordering::Relaxed);
                prop_assert_eq!(replies.len(), steps.len());
                for (reply, step) in replies.iter().zip(&steps) {
                    prop_assert_eq!(reply.env_id, step.env_id);
                }
            }
            Ok(())
        },
    );
    // The server survived everything and still serves a well-formed request.
    let valid = proto::ActRequest {
        steps: vec![env_step(u64::MAX - 1, 0, false)],
    }
    .into_steps();
    let replies = client.borrow_mut().act(&valid);
    assert!(
        matches!(&replies, Ok(r) if r.len() == 1),
        "server no longer answers: {replies:?}"
    );
    let stats = server.stats();
    eprintln!(
        "fuzz grpc: {} requests decoded and served, {} refused by validation, {} policy errors",
        SERVED.load(Ordering::Relaxed),
        stats.rejected_requests,
        stats.policy_errors
    );
    server.shutdown();
    drop(client);
    let _ = drain.join();
}
