//! Struct-of-arrays ring storage shared by the uniform and the prioritized memories.

use crate::batch::{Transition, TransitionBatch};
use crate::error::ReplayError;
use crate::snapshot::ReplaySnapshot;

/// Fixed-capacity ring of transitions in contiguous flat arrays, oldest overwritten first.
///
/// Slot `i` owns `obs[i·obs_dim..(i+1)·obs_dim]`, `actions[i·act_dim..]`, `rewards[i]`,
/// `discounts[i]` and `next_obs[i·obs_dim..]`. The arrays are allocated once, zeroed, at
/// construction.
#[derive(Clone, Debug)]
pub(crate) struct Storage {
    capacity: usize,
    obs_dim: usize,
    act_dim: usize,
    obs: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    discounts: Vec<f32>,
    next_obs: Vec<f32>,
    len: usize,
    /// Slot the next push writes; once full, also the oldest slot.
    next: usize,
}

impl Storage {
    pub(crate) fn new(
        capacity: usize,
        obs_dim: usize,
        act_dim: usize,
    ) -> Result<Self, ReplayError> {
        if capacity == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        if obs_dim == 0 {
            return Err(ReplayError::ZeroDim { what: "obs_dim" });
        }
        if act_dim == 0 {
            return Err(ReplayError::ZeroDim { what: "act_dim" });
        }
        let flat = |what, dim: usize| {
            capacity
                .checked_mul(dim)
                .filter(|n| {
                    n.checked_mul(size_of::<f32>())
                        .is_some_and(|b| b <= isize::MAX as usize)
                })
                .ok_or(ReplayError::CapacityOverflow {
                    capacity,
                    what,
                    dim,
                })
        };
        let obs_len = flat("obs_dim", obs_dim)?;
        let act_len = flat("act_dim", act_dim)?;
        Ok(Self {
            capacity,
            obs_dim,
            act_dim,
            obs: vec![0.0; obs_len],
            actions: vec![0.0; act_len],
            rewards: vec![0.0; capacity],
            discounts: vec![0.0; capacity],
            next_obs: vec![0.0; obs_len],
            len: 0,
            next: 0,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    pub(crate) fn act_dim(&self) -> usize {
        self.act_dim
    }

    /// Checks one transition without storing it.
    pub(crate) fn validate(
        &self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<(), ReplayError> {
        check_slice("obs", obs, self.obs_dim)?;
        check_slice("action", action, self.act_dim)?;
        check_slice("next_obs", next_obs, self.obs_dim)?;
        if !reward.is_finite() {
            return Err(ReplayError::NonFinite {
                field: "reward",
                index: 0,
                value: reward,
            });
        }
        if !(0.0..=1.0).contains(&discount) {
            return Err(ReplayError::InvalidDiscount(discount));
        }
        Ok(())
    }

    /// Validates, then writes into the next slot (evicting the oldest when full); returns the slot.
    pub(crate) fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<usize, ReplayError> {
        self.validate(obs, action, reward, discount, next_obs)?;
        let slot = self.next;
        let (o, a) = (self.obs_dim, self.act_dim);
        self.obs[slot * o..(slot + 1) * o].copy_from_slice(obs);
        self.actions[slot * a..(slot + 1) * a].copy_from_slice(action);
        self.rewards[slot] = reward;
        self.discounts[slot] = discount;
        self.next_obs[slot * o..(slot + 1) * o].copy_from_slice(next_obs);
        self.next = (slot + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        Ok(slot)
    }

    /// The transition in `slot`, or `None` when the slot holds nothing yet.
    pub(crate) fn get(&self, slot: usize) -> Option<Transition<'_>> {
        if slot >= self.len {
            return None;
        }
        let (o, a) = (self.obs_dim, self.act_dim);
        Some(Transition {
            obs: &self.obs[slot * o..(slot + 1) * o],
            action: &self.actions[slot * a..(slot + 1) * a],
            reward: self.rewards[slot],
            discount: self.discounts[slot],
            next_obs: &self.next_obs[slot * o..(slot + 1) * o],
        })
    }

    /// Slots from oldest to newest.
    pub(crate) fn slots_oldest_first(&self) -> impl Iterator<Item = usize> + '_ {
        let start = if self.len < self.capacity {
            0
        } else {
            self.next
        };
        (0..self.len).map(move |k| (start + k) % self.capacity)
    }

    /// Copies the rows named by `out.indices` into `out`, which `prepare` has already sized.
    /// Every index must be `< len` (the samplers guarantee it).
    pub(crate) fn gather(&self, out: &mut TransitionBatch) {
        let (o, a) = (self.obs_dim, self.act_dim);
        for (b, &slot) in out.indices.iter().enumerate() {
            debug_assert!(slot < self.len);
            out.obs[b * o..(b + 1) * o].copy_from_slice(&self.obs[slot * o..(slot + 1) * o]);
            out.next_obs[b * o..(b + 1) * o]
                .copy_from_slice(&self.next_obs[slot * o..(slot + 1) * o]);
            out.actions[b * a..(b + 1) * a]
                .copy_from_slice(&self.actions[slot * a..(slot + 1) * a]);
            out.rewards[b] = self.rewards[slot];
            out.discounts[b] = self.discounts[slot];
        }
    }
}

impl Storage {
    /// The filled rows in slot order and the ring position.
    pub(crate) fn snapshot(&self) -> ReplaySnapshot {
        let (o, a, n) = (self.obs_dim, self.act_dim, self.len);
        ReplaySnapshot {
            obs: self.obs[..n * o].to_vec(),
            actions: self.actions[..n * a].to_vec(),
            rewards: self.rewards[..n].to_vec(),
            discounts: self.discounts[..n].to_vec(),
            next_obs: self.next_obs[..n * o].to_vec(),
            next: self.next,
        }
    }

    /// Checks that `s` fits this storage's capacity and sizes and is a reachable ring state
    /// (`next == len` until full).
    pub(crate) fn check_snapshot(&self, s: &ReplaySnapshot) -> Result<(), ReplayError> {
        let n = s.len();
        let bad = |reason: String| Err(ReplayError::InvalidSnapshot(reason));
        if n > self.capacity {
            return bad(format!("{n} transitions, capacity {}", self.capacity));
        }
        for (field, len, dim) in [
            ("obs", s.obs.len(), self.obs_dim),
            ("actions", s.actions.len(), self.act_dim),
            ("discounts", s.discounts.len(), 1),
            ("next_obs", s.next_obs.len(), self.obs_dim),
        ] {
            if len != n * dim {
                return bad(format!("{field} has {len} values, expected {n} × {dim}"));
            }
        }
        let ring_ok = if n < self.capacity {
            s.next == n
        } else {
            s.next < self.capacity
        };
        if !ring_ok {
            return bad(format!("next slot {} with {n} transitions", s.next));
        }
        Ok(())
    }

    /// Replaces the contents with a checked snapshot; slots past its length are zeroed.
    pub(crate) fn restore(&mut self, s: &ReplaySnapshot) {
        fn fill(dst: &mut [f32], src: &[f32]) {
            dst[..src.len()].copy_from_slice(src);
            dst[src.len()..].fill(0.0);
        }
        fill(&mut self.obs, &s.obs);
        fill(&mut self.actions, &s.actions);
        fill(&mut self.rewards, &s.rewards);
        fill(&mut self.discounts, &s.discounts);
        fill(&mut self.next_obs, &s.next_obs);
        self.len = s.len();
        self.next = s.next;
    }
}

fn check_slice(field: &'static str, values: &[f32], expected: usize) -> Result<(), ReplayError> {
    if values.len() != expected {
        return Err(ReplayError::LengthMismatch {
            field,
            expected,
            actual: values.len(),
        });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(ReplayError::NonFinite {
            field,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}
