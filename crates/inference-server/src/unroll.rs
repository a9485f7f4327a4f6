//! [`Unroll`]: what the learner receives, and the per-env builder that cuts the record stream.

use std::mem;

use crate::Action;

/// T transitions of one env as T + 1 records; consecutive unrolls of one env overlap by one
/// record (SEED: the last record of one unroll is the first of the next, so the learner can
/// bootstrap from it and no transition is lost).
///
/// Record `i` is what the server saw and did at one step: `obs[i]` with the `rewards[i]`,
/// `terminated[i]`, `truncated[i]` and `final_obs[i]` that arrived with it (they describe the
/// transition INTO `obs[i]`), then the action `actions[i]` the policy chose and its behaviour
/// information `aux[i]`. So transition `t` (0 ≤ t < T) is
/// `(obs[t], actions[t], aux[t]) → rewards[t+1], terminated[t+1], truncated[t+1], obs[t+1]`,
/// where, when record `t + 1` ends an episode, `obs[t+1]` is already the next episode's first
/// observation and the true last one is `final_obs[t+1]` (given on truncation).
#[derive(Clone, Debug, PartialEq)]
pub struct Unroll {
    pub env_id: u64,
    /// T, the number of transitions.
    pub len: usize,
    pub obs_dim: usize,
    pub aux_dim: usize,
    pub state_dim: usize,
    /// `[(T+1), obs_dim]`.
    pub obs: Vec<f32>,
    /// `[T+1]`.
    pub actions: Vec<Action>,
    /// `[(T+1), aux_dim]`.
    pub aux: Vec<f32>,
    /// `[T+1]`: `rewards[i]` is the reward that arrived with `obs[i]`.
    pub rewards: Vec<f32>,
    /// `[T+1]`, same alignment as `rewards`.
    pub terminated: Vec<bool>,
    /// `[T+1]`, same alignment as `rewards`.
    pub truncated: Vec<bool>,
    /// `[T+1]`, same alignment as `rewards`.
    pub final_obs: Vec<Option<Vec<f32>>>,
    /// `[state_dim]`: the recurrent state fed to the policy with `obs[0]` (zeros at an
    /// episode's start).
    pub initial_state: Vec<f32>,
}

impl Unroll {
    /// Number of records, T + 1.
    pub fn records(&self) -> usize {
        self.rewards.len()
    }

    /// `obs[i]`, `[obs_dim]`.
    pub fn obs_at(&self, i: usize) -> &[f32] {
        &self.obs[i * self.obs_dim..(i + 1) * self.obs_dim]
    }

    /// `aux[i]`, `[aux_dim]`.
    pub fn aux_at(&self, i: usize) -> &[f32] {
        &self.aux[i * self.aux_dim..(i + 1) * self.aux_dim]
    }

    fn empty(env_id: u64, records: usize, dims: Dims) -> Self {
        Self {
            env_id,
            len: 0,
            obs_dim: dims.obs,
            aux_dim: dims.aux,
            state_dim: dims.state,
            obs: Vec::with_capacity(records * dims.obs),
            actions: Vec::with_capacity(records),
            aux: Vec::with_capacity(records * dims.aux),
            rewards: Vec::with_capacity(records),
            terminated: Vec::with_capacity(records),
            truncated: Vec::with_capacity(records),
            final_obs: Vec::with_capacity(records),
            initial_state: vec![0.0; dims.state],
        }
    }
}

/// Row widths of the served policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    pub obs: usize,
    pub aux: usize,
    pub state: usize,
}

/// One record, as the batching thread commits it.
pub(crate) struct Record<'a> {
    pub obs: &'a [f32],
    pub action: Action,
    pub aux: &'a [f32],
    pub reward: f32,
    pub terminated: bool,
    pub truncated: bool,
    pub final_obs: Option<Vec<f32>>,
    /// The recurrent state fed to the policy with `obs`.
    pub input_state: &'a [f32],
}

/// Cuts one env's record stream into overlapping unrolls of T + 1 records.
#[derive(Debug)]
pub(crate) struct UnrollBuilder {
    unroll_len: usize,
    dims: Dims,
    current: Unroll,
    /// Records not yet delivered in any unroll (the carried-over first record was).
    fresh: usize,
}

impl UnrollBuilder {
    pub fn new(env_id: u64, unroll_len: usize, dims: Dims) -> Self {
        Self {
            unroll_len,
            dims,
            current: Unroll::empty(env_id, unroll_len + 1, dims),
            fresh: 0,
        }
    }

    /// Records not yet part of an emitted unroll: what a reset would lose.
    pub fn fresh_records(&self) -> usize {
        self.fresh
    }

    /// Forgets the partial unroll (the next record starts a new one, no overlap); returns how
    /// many undelivered records were dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.fresh;
        let u = &mut self.current;
        u.obs.clear();
        u.actions.clear();
        u.aux.clear();
        u.rewards.clear();
        u.terminated.clear();
        u.truncated.clear();
        u.final_obs.clear();
        self.fresh = 0;
        dropped
    }

    /// Appends a record; returns the unroll it completes, if any. The completed unroll's last
    /// record becomes the first record of the next one.
    pub fn push(&mut self, record: Record<'_>) -> Option<Unroll> {
        let u = &mut self.current;
        if u.rewards.is_empty() {
            u.initial_state.clear();
            u.initial_state.extend_from_slice(record.input_state);
        }
        u.obs.extend_from_slice(record.obs);
        u.actions.push(record.action);
        u.aux.extend_from_slice(record.aux);
        u.rewards.push(record.reward);
        u.terminated.push(record.terminated);
        u.truncated.push(record.truncated);
        u.final_obs.push(record.final_obs);
        self.fresh += 1;
        if u.rewards.len() < self.unroll_len + 1 {
            return None;
        }
        u.len = self.unroll_len;
        let mut next = Unroll::empty(u.env_id, self.unroll_len + 1, self.dims);
        let last = self.unroll_len;
        next.obs.extend_from_slice(u.obs_at(last));
        next.actions.push(u.actions[last].clone());
        next.aux.extend_from_slice(u.aux_at(last));
        next.rewards.push(u.rewards[last]);
        next.terminated.push(u.terminated[last]);
        next.truncated.push(u.truncated[last]);
        next.final_obs.push(u.final_obs[last].clone());
        next.initial_state.clear();
        next.initial_state.extend_from_slice(record.input_state);
        self.fresh = 0;
        Some(mem::replace(&mut self.current, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One generated record, owned.
    #[derive(Clone, Debug)]
    struct Owned {
        obs: Vec<f32>,
        action: i64,
        aux: Vec<f32>,
        reward: f32,
        terminated: bool,
        truncated: bool,
        final_obs: Option<Vec<f32>>,
        state: Vec<f32>,
    }

    fn owned(i: usize, dims: Dims, flags: u8) -> Owned {
        let x = i as f32;
        Owned {
            obs: (0..dims.obs).map(|k| x + 0.1 * k as f32).collect(),
            action: i as i64,
            aux: (0..dims.aux).map(|k| -x - 0.1 * k as f32).collect(),
            reward: x * 0.5,
            terminated: flags == 1,
            truncated: flags == 2,
            final_obs: (flags == 2).then(|| vec![x + 0.5; dims.obs]),
            state: vec![x * 10.0; dims.state],
        }
    }

    fn push(builder: &mut UnrollBuilder, r: &Owned) -> Option<Unroll> {
        builder.push(Record {
            obs: &r.obs,
            action: Action::Discrete(r.action),
            aux: &r.aux,
            reward: r.reward,
            terminated: r.terminated,
            truncated: r.truncated,
            final_obs: r.final_obs.clone(),
            input_state: &r.state,
        })
    }

    #[test]
    fn first_unroll_needs_t_plus_one_records_then_t_each() {
        let dims = Dims {
            obs: 2,
            aux: 1,
            state: 1,
        };
        let mut b = UnrollBuilder::new(7, 3, dims);
        let records: Vec<Owned> = (0..10).map(|i| owned(i, dims, 0)).collect();
        let emitted: Vec<(usize, Unroll)> = records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| push(&mut b, r).map(|u| (i, u)))
            .collect();
        let at: Vec<usize> = emitted.iter().map(|(i, _)| *i).collect();
        assert_eq!(at, vec![3, 6, 9]);
        let (_, first) = &emitted[0];
        assert_eq!(first.env_id, 7);
        assert_eq!(first.len, 3);
        assert_eq!(first.records(), 4);
        assert_eq!(first.obs_at(3), &[3.0, 3.1]);
        assert_eq!(first.initial_state, vec![0.0]);
        let (_, second) = &emitted[1];
        assert_eq!(second.obs_at(0), first.obs_at(3));
        assert_eq!(second.actions[0], Action::Discrete(3));
        assert_eq!(second.initial_state, vec![30.0]);
        assert_eq!(b.fresh_records(), 0);
        push(&mut b, &owned(10, dims, 0));
        assert_eq!(b.fresh_records(), 1);
        assert_eq!(b.clear(), 1);
    }

    proptest! {
        /// Emitted unrolls, with the overlap removed, are exactly the pushed stream; each has
        /// T + 1 records, overlaps its predecessor by one, starts from the state fed with its
        /// first record, and the undelivered tail is what `fresh_records` reports.
        #[test]
        fn unrolls_partition_the_stream(
            unroll_len in 1usize..8,
            flags in proptest::collection::vec(0u8..3, 0..60),
            obs_dim in 1usize..4,
            aux_dim in 0usize..3,
            state_dim in 0usize..3,
        ) {
            let dims = Dims { obs: obs_dim, aux: aux_dim, state: state_dim };
            let records: Vec<Owned> =
                flags.iter().enumerate().map(|(i, &f)| owned(i, dims, f)).collect();
            let mut b = UnrollBuilder::new(3, unroll_len, dims);
            let unrolls: Vec<Unroll> = records.iter().filter_map(|r| push(&mut b, r)).collect();

            let expected_count = records.len().saturating_sub(1) / unroll_len;
            prop_assert_eq!(unrolls.len(), expected_count);
            for (k, u) in unrolls.iter().enumerate() {
                prop_assert_eq!(u.len, unroll_len);
                prop_assert_eq!(u.records(), unroll_len + 1);
                prop_assert_eq!(u.obs.len(), (unroll_len + 1) * obs_dim);
                prop_assert_eq!(u.aux.len(), (unroll_len + 1) * aux_dim);
                prop_assert_eq!(u.actions.len(), unroll_len + 1);
                prop_assert_eq!(u.final_obs.len(), unroll_len + 1);
                let start = k * unroll_len;
                prop_assert_eq!(&u.initial_state, &records[start].state);
                for i in 0..=unroll_len {
                    let r = &records[start + i];
                    prop_assert_eq!(u.obs_at(i), &r.obs[..]);
                    prop_assert_eq!(u.aux_at(i), &r.aux[..]);
                    prop_assert_eq!(&u.actions[i], &Action::Discrete(r.action));
                    prop_assert_eq!(u.rewards[i].to_bits(), r.reward.to_bits());
                    prop_assert_eq!(u.terminated[i], r.terminated);
                    prop_assert_eq!(u.truncated[i], r.truncated);
                    prop_assert_eq!(&u.final_obs[i], &r.final_obs);
                }
            }
            let delivered = if unrolls.is_empty() { 0 } else { unrolls.len() * unroll_len + 1 };
            prop_assert_eq!(b.fresh_records(), records.len() - delivered);
        }
    }
}
