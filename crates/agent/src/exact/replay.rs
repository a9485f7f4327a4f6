//! Replay memories and n-step buffers in an exact-resume checkpoint.
//!
//! Transition memories ([`ReplayBuffer`], [`AnyReplay`]): the filled rows in slot order as f32
//! tensors `replay.obs [len, obs_dim]`, `replay.actions [len, act_dim]`, `replay.rewards [len]`,
//! `replay.discounts [len]`, `replay.next_obs [len, obs_dim]`; words `replay.state`:
//! `[0, next]` for uniform replay, `[1, next, max_priority, β, p_1^α … p_len^α]` (f64 bits) for
//! prioritized replay.
//!
//! Sequence memories ([`SequenceReplay`]): the filled slots' steps in slot order,
//! `replay.obs [steps, obs_dim]`, `replay.next_obs`, `replay.actions [steps, act_dim]`,
//! `replay.mu [steps, dist_dim]`, `replay.rewards [steps]`, `replay.discounts`, `replay.dones`
//! (0 or 1); words `replay.state`: `[2, next]`.
//!
//! n-step buffers: words `nstep`, per env the number of waiting steps, then per step its action,
//! reward (f32 bits) and observation (f32 bits).

use eirl_envs::snapshot::WordReader;
use eirl_models::Checkpoint;
use eirl_replay::{
    AnyReplay, NStepBuffer, PrioritizedSnapshot, ReplayBuffer, ReplayError, ReplaySnapshot,
    SequenceReplay, SequenceSnapshot,
};

use super::{insert_words, words};
use crate::agent::AgentError;

const STATE: &str = "replay.state";
const NSTEP: &str = "nstep";
const UNIFORM: u64 = 0;
const PRIORITIZED: u64 = 1;
const SEQUENCE: u64 = 2;

fn damaged(what: &str) -> AgentError {
    AgentError::Checkpoint(format!("exact-resume state `{what}` is missing or damaged"))
}

fn replay_err(e: ReplayError) -> AgentError {
    AgentError::Checkpoint(e.to_string())
}

/// Stores `values` as `[rows, values / rows]`.
fn insert_rows(ck: &mut Checkpoint, name: &str, rows: usize, values: Vec<f32>) {
    let dim = values.len().checked_div(rows).unwrap_or(0);
    ck.insert(name, vec![rows, dim], values);
}

fn tensor(ck: &Checkpoint, name: &str) -> Result<Vec<f32>, AgentError> {
    ck.get(name)
        .map(|(_, v)| v.to_vec())
        .ok_or_else(|| damaged(name))
}

fn insert_transitions(ck: &mut Checkpoint, s: ReplaySnapshot, state: &[u64]) {
    let n = s.len();
    insert_rows(ck, "replay.obs", n, s.obs);
    insert_rows(ck, "replay.actions", n, s.actions);
    ck.insert("replay.rewards", vec![n], s.rewards);
    ck.insert("replay.discounts", vec![n], s.discounts);
    insert_rows(ck, "replay.next_obs", n, s.next_obs);
    insert_words(ck, STATE, state);
}

fn read_transitions(ck: &Checkpoint, next: usize) -> Result<ReplaySnapshot, AgentError> {
    Ok(ReplaySnapshot {
        obs: tensor(ck, "replay.obs")?,
        actions: tensor(ck, "replay.actions")?,
        rewards: tensor(ck, "replay.rewards")?,
        discounts: tensor(ck, "replay.discounts")?,
        next_obs: tensor(ck, "replay.next_obs")?,
        next,
    })
}

/// The kind word and ring position of `replay.state`, and a reader at the rest.
fn read_state(words: &[u64], kind: u64) -> Result<(usize, WordReader<'_>), AgentError> {
    let mut r = WordReader::new("checkpoint", words);
    if r.word()? != kind {
        return Err(AgentError::Checkpoint(
            "the checkpoint's replay memory is of another kind (uniform / prioritized / sequence)"
                .into(),
        ));
    }
    Ok((r.usize()?, r))
}

/// Stores a uniform memory's filled rows and ring position.
pub fn insert_replay_buffer(ck: &mut Checkpoint, replay: &ReplayBuffer) {
    let s = replay.snapshot();
    let state = [UNIFORM, s.next as u64];
    insert_transitions(ck, s, &state);
}

/// Restores [`insert_replay_buffer`]'s memory; changes nothing on error.
pub fn restore_replay_buffer(ck: &Checkpoint, replay: &mut ReplayBuffer) -> Result<(), AgentError> {
    let w = words(ck, STATE)?;
    let (next, r) = read_state(&w, UNIFORM)?;
    r.finish()?;
    replay
        .restore_snapshot(&read_transitions(ck, next)?)
        .map_err(replay_err)
}

/// Stores either memory: rows, ring position and, for prioritized replay, each slot's
/// `p^α`, the largest priority and β.
pub fn insert_replay(ck: &mut Checkpoint, replay: &AnyReplay) {
    match replay {
        AnyReplay::Uniform(r) => insert_replay_buffer(ck, r),
        AnyReplay::Prioritized(r) => {
            let s = r.snapshot();
            let mut state = vec![PRIORITIZED, s.transitions.next as u64];
            state.push(s.max_priority.to_bits());
            state.push(s.beta.to_bits());
            state.extend(s.masses.iter().map(|m| m.to_bits()));
            insert_transitions(ck, s.transitions, &state);
        }
    }
}

/// Restores [`insert_replay`]'s memory into one of the same kind; changes nothing on error.
pub fn restore_replay(ck: &Checkpoint, replay: &mut AnyReplay) -> Result<(), AgentError> {
    match replay {
        AnyReplay::Uniform(r) => restore_replay_buffer(ck, r),
        AnyReplay::Prioritized(buffer) => {
            let w = words(ck, STATE)?;
            let (next, mut r) = read_state(&w, PRIORITIZED)?;
            let transitions = read_transitions(ck, next)?;
            let max_priority = r.f64()?;
            let beta = r.f64()?;
            let masses = r
                .words(transitions.len())?
                .iter()
                .map(|&m| f64::from_bits(m))
                .collect();
            r.finish()?;
            buffer
                .restore_snapshot(&PrioritizedSnapshot {
                    transitions,
                    masses,
                    max_priority,
                    beta,
                })
                .map_err(replay_err)
        }
    }
}

/// Stores a sequence memory's filled slots and ring position.
pub fn insert_sequence_replay(ck: &mut Checkpoint, replay: &SequenceReplay) {
    let s = replay.snapshot();
    let steps = s.rewards.len();
    insert_rows(ck, "replay.obs", steps, s.obs);
    insert_rows(ck, "replay.next_obs", steps, s.next_obs);
    insert_rows(ck, "replay.actions", steps, s.actions);
    insert_rows(ck, "replay.mu", steps, s.mu);
    let dones = s.dones.iter().map(|&d| f32::from(u8::from(d))).collect();
    ck.insert("replay.rewards", vec![steps], s.rewards);
    ck.insert("replay.discounts", vec![steps], s.discounts);
    ck.insert("replay.dones", vec![steps], dones);
    insert_words(ck, STATE, &[SEQUENCE, s.next as u64]);
}

/// Restores [`insert_sequence_replay`]'s memory; changes nothing on error.
pub fn restore_sequence_replay(
    ck: &Checkpoint,
    replay: &mut SequenceReplay,
) -> Result<(), AgentError> {
    let w = words(ck, STATE)?;
    let (next, r) = read_state(&w, SEQUENCE)?;
    r.finish()?;
    let dones = tensor(ck, "replay.dones")?
        .iter()
        .map(|&d| match d.to_bits() {
            b if b == 0f32.to_bits() => Ok(false),
            b if b == 1f32.to_bits() => Ok(true),
            _ => Err(damaged("replay.dones")),
        })
        .collect::<Result<Vec<bool>, _>>()?;
    let s = SequenceSnapshot {
        obs: tensor(ck, "replay.obs")?,
        next_obs: tensor(ck, "replay.next_obs")?,
        actions: tensor(ck, "replay.actions")?,
        rewards: tensor(ck, "replay.rewards")?,
        discounts: tensor(ck, "replay.discounts")?,
        dones,
        mu: tensor(ck, "replay.mu")?,
        next,
    };
    replay.restore_snapshot(&s).map_err(replay_err)
}

/// Stores each env's n-step steps still waiting for their return.
pub fn insert_nstep(ck: &mut Checkpoint, buffers: &[NStepBuffer]) {
    let mut w = Vec::new();
    for b in buffers {
        let steps: Vec<_> = b.pending().collect();
        w.push(steps.len() as u64);
        for (obs, action, reward) in steps {
            w.push(action as u64);
            w.push(u64::from(reward.to_bits()));
            w.extend(obs.iter().map(|v| u64::from(v.to_bits())));
        }
    }
    insert_words(ck, NSTEP, &w);
}

/// Restores [`insert_nstep`]'s waiting steps into `buffers`; changes nothing on error.
pub fn restore_nstep(
    ck: &Checkpoint,
    buffers: &mut [NStepBuffer],
    obs_dim: usize,
) -> Result<(), AgentError> {
    let w = words(ck, NSTEP)?;
    let mut r = WordReader::new("checkpoint", &w);
    let f32_of = |w: u64| {
        u32::try_from(w)
            .map(f32::from_bits)
            .map_err(|_| damaged(NSTEP))
    };
    let mut all = Vec::with_capacity(buffers.len());
    for _ in 0..buffers.len() {
        let k = r.usize()?;
        let mut steps = Vec::new();
        for _ in 0..k {
            let action = r.usize()?;
            let reward = f32_of(r.word()?)?;
            let obs = r
                .words(obs_dim)?
                .iter()
                .map(|&w| f32_of(w))
                .collect::<Result<Vec<f32>, _>>()?;
            steps.push((obs, action, reward));
        }
        all.push(steps);
    }
    r.finish()?;
    for (b, steps) in buffers.iter_mut().zip(all) {
        b.set_pending(steps);
    }
    Ok(())
}
