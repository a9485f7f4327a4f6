//! Per-env server state: run id, step counter, recurrent state, partial unroll, episode totals.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::unroll::{Dims, Record, UnrollBuilder};
use crate::{Action, EnvStep, EpisodeStats, Unroll};

/// How a step relates to its env's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Continuity {
    /// No slot yet.
    New,
    /// Same run, next step.
    Continue,
    /// New run id (`gap: false`) or a gap in step numbers (`gap: true`): start the slot over.
    Reset { gap: bool },
}

struct Slot {
    owner: u64,
    run_id: u64,
    last_step: u64,
    last_seen: Instant,
    state: Vec<f32>,
    unroll: UnrollBuilder,
    episode_return: f64,
    episode_length: u64,
    /// The episode in progress was seen from its first step.
    episode_whole: bool,
}

/// What committing one step produced.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    pub unroll: Option<Unroll>,
    pub episode: Option<EpisodeStats>,
    pub reset: bool,
    pub dropped_partial: bool,
}

/// Slots freed by a disconnect or a heartbeat timeout.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Removed {
    pub slots: usize,
    pub dropped_partials: usize,
}

/// All env slots, keyed by env id; owned by the batching thread.
pub(crate) struct SlotTable {
    slots: HashMap<u64, Slot>,
    unroll_len: usize,
    dims: Dims,
}

impl SlotTable {
    pub fn new(unroll_len: usize, dims: Dims) -> Self {
        Self {
            slots: HashMap::new(),
            unroll_len,
            dims,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The client that last drove `env_id`.
    pub fn owner(&self, env_id: u64) -> Option<u64> {
        self.slots.get(&env_id).map(|slot| slot.owner)
    }

    pub fn contains(&self, env_id: u64) -> bool {
        self.slots.contains_key(&env_id)
    }

    pub fn continuity(&self, step: &EnvStep) -> Continuity {
        match self.slots.get(&step.env_id) {
            None => Continuity::New,
            Some(slot) if slot.run_id != step.run_id => Continuity::Reset { gap: false },
            Some(slot) if slot.last_step.checked_add(1) != Some(step.step) => {
                Continuity::Reset { gap: true }
            }
            Some(_) => Continuity::Continue,
        }
    }

    /// The recurrent state to feed with `step`; `None` means zeros (new or reset slot, or `obs`
    /// starts an episode).
    pub fn input_state(&self, step: &EnvStep, continuity: Continuity) -> Option<&[f32]> {
        if step.episode_ended() || continuity != Continuity::Continue {
            return None;
        }
        self.slots
            .get(&step.env_id)
            .map(|slot| slot.state.as_slice())
    }

    /// Marks the env as heard from.
    pub fn touch(&mut self, env_id: u64, now: Instant) {
        if let Some(slot) = self.slots.get_mut(&env_id) {
            slot.last_seen = now;
        }
    }

    /// Records one served step: applies a reset, updates the episode totals, appends the record
    /// to the partial unroll and stores the policy's next state.
    #[allow(clippy::too_many_arguments)] // one served row: its step, its plan and the policy's outputs
    pub fn commit(
        &mut self,
        client: u64,
        step: EnvStep,
        continuity: Continuity,
        action: Action,
        aux: &[f32],
        input_state: &[f32],
        next_state: &[f32],
        now: Instant,
    ) -> Committed {
        let mut out = Committed::default();
        let env_id = step.env_id;
        let mut created = false;
        if continuity == Continuity::New || !self.slots.contains_key(&env_id) {
            self.slots
                .insert(env_id, self.fresh_slot(env_id, client, &step, now));
            created = true;
        }
        let Some(slot) = self.slots.get_mut(&env_id) else {
            return out;
        };
        if let (Continuity::Reset { gap }, false) = (continuity, created) {
            out.reset = true;
            out.dropped_partial = slot.unroll.clear() > 0;
            slot.state.fill(0.0);
            slot.episode_return = 0.0;
            slot.episode_length = 0;
            // After a gap the episode in progress is missing steps; a new run starts afresh.
            slot.episode_whole = !gap;
        }
        slot.owner = client;
        slot.run_id = step.run_id;
        slot.last_step = step.step;
        slot.last_seen = now;

        // The first record since the slot (re)started carries a reward we did not see earn.
        let first = created || out.reset;
        if !first {
            slot.episode_return += f64::from(step.reward);
            slot.episode_length += 1;
        }
        if step.episode_ended() {
            if !first && slot.episode_whole {
                out.episode = Some(EpisodeStats {
                    env_id,
                    episode_return: slot.episode_return,
                    length: slot.episode_length,
                });
            }
            slot.episode_return = 0.0;
            slot.episode_length = 0;
            slot.episode_whole = true;
        }

        out.unroll = slot.unroll.push(Record {
            obs: &step.obs,
            action,
            aux,
            reward: step.reward,
            terminated: step.terminated,
            truncated: step.truncated,
            final_obs: step.final_obs,
            input_state,
        });
        if slot.state.len() == next_state.len() {
            slot.state.copy_from_slice(next_state);
        }
        out
    }

    /// Frees every slot `client` drove; their partial unrolls are dropped.
    pub fn remove_client(&mut self, client: u64) -> Removed {
        self.remove_where(|slot| slot.owner == client)
    }

    /// Frees every slot silent for longer than `timeout`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Removed {
        self.remove_where(|slot| now.saturating_duration_since(slot.last_seen) > timeout)
    }

    fn remove_where(&mut self, mut doomed: impl FnMut(&Slot) -> bool) -> Removed {
        let mut removed = Removed::default();
        self.slots.retain(|_, slot| {
            if !doomed(slot) {
                return true;
            }
            removed.slots += 1;
            if slot.unroll.fresh_records() > 0 {
                removed.dropped_partials += 1;
            }
            false
        });
        removed
    }

    fn fresh_slot(&self, env_id: u64, client: u64, step: &EnvStep, now: Instant) -> Slot {
        Slot {
            owner: client,
            run_id: step.run_id,
            last_step: step.step,
            last_seen: now,
            state: vec![0.0; self.dims.state],
            unroll: UnrollBuilder::new(env_id, self.unroll_len, self.dims),
            episode_return: 0.0,
            episode_length: 0,
            episode_whole: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(env_id: u64, run_id: u64, n: u64, reward: f32, ended: bool) -> EnvStep {
        EnvStep {
            terminated: ended,
            reward,
            ..EnvStep::first(env_id, run_id, n, vec![n as f32])
        }
    }

    fn serve(table: &mut SlotTable, s: EnvStep) -> (Continuity, Committed) {
        let c = table.continuity(&s);
        let input = table.input_state(&s, c).map(<[f32]>::to_vec);
        let input = input.unwrap_or_else(|| vec![0.0]);
        let next = vec![input[0] + 1.0];
        let committed = table.commit(
            9,
            s,
            c,
            Action::Discrete(0),
            &[],
            &input,
            &next,
            Instant::now(),
        );
        (c, committed)
    }

    #[test]
    fn episode_totals_skip_the_first_reward_and_episodes_cut_by_a_gap() {
        let dims = Dims {
            obs: 1,
            aux: 0,
            state: 1,
        };
        let mut t = SlotTable::new(100, dims);
        assert_eq!(serve(&mut t, step(1, 5, 0, 0.0, false)).0, Continuity::New);
        serve(&mut t, step(1, 5, 1, 1.0, false));
        let (_, done) = serve(&mut t, step(1, 5, 2, 2.0, true));
        assert_eq!(
            done.episode,
            Some(EpisodeStats {
                env_id: 1,
                episode_return: 3.0,
                length: 2
            })
        );
        serve(&mut t, step(1, 5, 3, 1.0, false));
        // Steps 4 and 5 lost: the episode in progress is incomplete.
        let (c, gap) = serve(&mut t, step(1, 5, 6, 1.0, false));
        assert_eq!(c, Continuity::Reset { gap: true });
        assert!(gap.reset && gap.dropped_partial);
        let (_, cut) = serve(&mut t, step(1, 5, 7, 1.0, true));
        assert_eq!(cut.episode, None);
        serve(&mut t, step(1, 5, 8, 4.0, false));
        let (_, whole) = serve(&mut t, step(1, 5, 9, 0.5, true));
        assert_eq!(
            whole.episode.map(|e| (e.episode_return, e.length)),
            Some((4.5, 2))
        );
        let (c, _) = serve(&mut t, step(1, 6, 0, 0.0, false));
        assert_eq!(c, Continuity::Reset { gap: false });
        assert_eq!(t.len(), 1);
        let removed = t.remove_client(9);
        assert_eq!((removed.slots, removed.dropped_partials), (1, 1));
        assert_eq!(t.len(), 0);
    }
}
