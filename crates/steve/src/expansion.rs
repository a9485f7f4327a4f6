//! Value expansion targets from imagined rollouts (STEVE §2–3, official `valuerl.py`
//! `build_Q_expansion_graph`).
//!
//! From each real next state `s'` of a minibatch, every dynamics model `m` (of M) rolls out
//! H steps under the current policy: `ŝ_0 = s'`, `â_t = tanh μ(ŝ_t)`,
//! `ŝ_{t+1} = ŝ_t + T̂_m(ŝ_t, â_t)`, with termination probabilities
//! `d̂_{t+1} = σ(D̂_m(ŝ_{t+1}, ŝ_t, â_t))` and `d_0` the real terminal flag. Each reward
//! model `n` (of N) scores every imagined transition, `r̂_{n,t} = R̂_n(ŝ_{t+1}, ŝ_t, â_t)`, and
//! each target Q-function `l` (of L) every imagined state, `Q̂_{l,i} = Q⁻_l(ŝ_i, â_i)`. The
//! candidate of horizon `i` for the triple `(m, n, l)` is the MVE target
//! `r + Σ_{k=1}^{i} γ^k D_k r̂_{n,k−1} + γ^{i+1} D_{i+1} Q̂_{l,i}` with
//! `D_k = Π_{j<k} (1 − d̂_j)` ([`eirl_returns::mve_targets_all_horizons_into`]). MVE's target is
//! the mean of horizon H's M·N·L candidates; STEVE's is the inverse-variance weighted mean over
//! horizons ([`eirl_returns::steve_target_eps`]).
//!
//! [`expand`] batches every evaluation: per rollout step one ensemble forward of the dynamics
//! and one of the termination model over all M rollouts, then one reward forward over every
//! imagined transition and one Q forward over every imagined state. [`expand_per_member`]
//! computes the same numbers member by member, [`expand_per_candidate`] candidate by
//! candidate (M·N·L separate rollouts): the references the batched path is tested and
//! benchmarked against.

use eirl_models::{EnsembleMlp, Mlp, ModelError, matrix_from_slice};
use eirl_returns::{mve_target, mve_targets_all_horizons_into, steve_target_eps};

use crate::SteveError;

/// The networks a value expansion reads.
#[derive(Clone, Copy)]
pub struct ExpansionNets<'a> {
    /// μ: observation → pre-tanh action.
    pub policy: &'a Mlp,
    /// L target Q-functions: `[obs, action] → Q`.
    pub target_q: &'a EnsembleMlp,
    /// M dynamics models: `[obs, action] → obs change`.
    pub transition: &'a EnsembleMlp,
    /// M termination models: `[next obs, obs, action] → logit`.
    pub termination: &'a EnsembleMlp,
    /// N reward models: `[next obs, obs, action] → reward`.
    pub reward: &'a EnsembleMlp,
}

/// The scalars of an expansion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpansionParams {
    pub horizon: usize,
    pub gamma: f32,
    pub reward_scale: f32,
    /// ε of STEVE's weights `1/(σ² + ε)`.
    pub eps: f32,
}

/// One minibatch's expansion.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expansion {
    /// `[B, H+1, K]`, `K = M·N·L`, candidate `k = (m·N + n)·L + l`.
    pub candidates: Vec<f32>,
    /// MVE targets `[B]`: the mean of horizon H's candidates.
    pub mve: Vec<f32>,
    /// STEVE targets `[B]`.
    pub steve: Vec<f32>,
    /// STEVE's horizon weights `[B, H+1]`.
    pub weights: Vec<f32>,
}

/// The imagined rollouts and the evaluations of every member on them.
struct Rollouts {
    /// `[M, B, H+1]` termination probabilities; `t = 0` is the real flag.
    done: Vec<f32>,
    /// `[N, M, B, H]` predicted rewards.
    reward: Vec<f32>,
    /// `[L, M, B, H+1]` target Q values.
    q: Vec<f32>,
}

struct Dims {
    b: usize,
    h: usize,
    m: usize,
    n: usize,
    l: usize,
    obs: usize,
    act: usize,
}

fn dims(nets: &ExpansionNets<'_>, p: &ExpansionParams, batch: usize) -> Result<Dims, SteveError> {
    let d = Dims {
        b: batch,
        h: p.horizon,
        m: nets.transition.members(),
        n: nets.reward.members(),
        l: nets.target_q.members(),
        obs: nets.policy.inputs(),
        act: nets.policy.outputs(),
    };
    let (o, a) = (d.obs, d.act);
    let shapes = [
        (
            "target_q",
            nets.target_q.inputs(),
            o + a,
            nets.target_q.outputs(),
            1,
        ),
        (
            "transition",
            nets.transition.inputs(),
            o + a,
            nets.transition.outputs(),
            o,
        ),
        (
            "termination",
            nets.termination.inputs(),
            2 * o + a,
            nets.termination.outputs(),
            1,
        ),
        (
            "reward",
            nets.reward.inputs(),
            2 * o + a,
            nets.reward.outputs(),
            1,
        ),
    ];
    for (name, i, want_i, out, want_out) in shapes {
        if i != want_i || out != want_out {
            return Err(SteveError::Shape(format!(
                "{name} maps {i} → {out}, expected {want_i} → {want_out}"
            )));
        }
    }
    if nets.termination.members() != d.m {
        return Err(SteveError::Shape(format!(
            "{} termination models for {} dynamics models",
            nets.termination.members(),
            d.m
        )));
    }
    if batch == 0 || p.horizon == 0 {
        return Err(SteveError::Shape(
            "an expansion needs B ≥ 1 and H ≥ 1".into(),
        ));
    }
    Ok(d)
}

/// The expansion's sizes, after checking the networks and the minibatch against each other.
fn checked_dims(
    nets: &ExpansionNets<'_>,
    p: &ExpansionParams,
    next_obs: &[f32],
    rewards: &[f32],
    terminated: &[f32],
) -> Result<Dims, SteveError> {
    let d = dims(nets, p, rewards.len())?;
    check_batch(&d, next_obs, rewards, terminated)?;
    Ok(d)
}

fn check_batch(
    d: &Dims,
    next_obs: &[f32],
    rewards: &[f32],
    done: &[f32],
) -> Result<(), SteveError> {
    let ok = next_obs.len() == d.b * d.obs && rewards.len() == d.b && done.len() == d.b;
    if ok {
        Ok(())
    } else {
        Err(SteveError::Shape(format!(
            "minibatch of {}: got {} next-obs values, {} rewards, {} flags",
            d.b,
            next_obs.len(),
            rewards.len(),
            done.len()
        )))
    }
}

/// `tanh μ(x)` for `rows` observations.
pub fn policy_actions(policy: &Mlp, obs: &[f32], rows: usize) -> Result<Vec<f32>, ModelError> {
    let x = matrix_from_slice(policy.device(), obs, rows, policy.inputs())?;
    Ok(policy.forward(x).tanh().as_vec())
}

/// An [`Mlp`]'s output for `rows` inputs.
fn mlp_host(net: &Mlp, x: &[f32], rows: usize) -> Result<Vec<f32>, ModelError> {
    let t = matrix_from_slice(net.device(), x, rows, net.inputs())?;
    Ok(net.forward(t).as_vec())
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `[input, hidden…, output]` layer sizes.
pub(crate) fn layer_sizes(input: usize, hidden: &[usize], output: usize) -> Vec<usize> {
    let mut s = vec![input];
    s.extend_from_slice(hidden);
    s.push(output);
    s
}

/// Appends the rows `[a_i, b_i, …]` of several row-major blocks (all with `rows` rows).
pub(crate) fn concat_rows(parts: &[(&[f32], usize)], rows: usize, out: &mut Vec<f32>) {
    for r in 0..rows {
        for (data, w) in parts {
            out.extend_from_slice(&data[r * w..(r + 1) * w]);
        }
    }
}

/// `copies` copies of `x` one after another.
pub(crate) fn tile(x: &[f32], copies: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(x.len() * copies);
    for _ in 0..copies {
        v.extend_from_slice(x);
    }
    v
}

/// The batched expansion: few large forwards (see the module docs).
pub fn expand(
    nets: &ExpansionNets<'_>,
    p: &ExpansionParams,
    next_obs: &[f32],
    rewards: &[f32],
    terminated: &[f32],
) -> Result<Expansion, SteveError> {
    let d = checked_dims(nets, p, next_obs, rewards, terminated)?;
    let (b, h, m, o, a) = (d.b, d.h, d.m, d.obs, d.act);
    let rows = m * b;
    // states[t], actions[t]: [M, B, ·] for t = 0..=H.
    let mut states = vec![tile(next_obs, m)];
    let mut actions = Vec::with_capacity(h + 1);
    let mut done = vec![0.0; rows * (h + 1)];
    for i in 0..rows {
        done[i * (h + 1)] = terminated[i % b];
    }
    for t in 0..h {
        let s = &states[t];
        let act = policy_actions(nets.policy, s, rows)?;
        let mut x = Vec::with_capacity(rows * (o + a));
        concat_rows(&[(s, o), (&act, a)], rows, &mut x);
        let delta = nets.transition.forward_host(&x, b)?;
        let next: Vec<f32> = s.iter().zip(&delta).map(|(x, dx)| x + dx).collect();
        let mut y = Vec::with_capacity(rows * (2 * o + a));
        concat_rows(&[(&next, o), (s, o), (&act, a)], rows, &mut y);
        let logits = nets.termination.forward_host(&y, b)?;
        for (i, z) in logits.iter().enumerate() {
            done[i * (h + 1) + t + 1] = sigmoid(*z);
        }
        actions.push(act);
        states.push(next);
    }
    actions.push(policy_actions(nets.policy, &states[h], rows)?);
    // Every imagined transition, rows ordered (m, b, t), through every reward model.
    let mut rx = Vec::with_capacity(rows * h * (2 * o + a));
    for i in 0..rows {
        for t in 0..h {
            rx.extend_from_slice(&states[t + 1][i * o..(i + 1) * o]);
            rx.extend_from_slice(&states[t][i * o..(i + 1) * o]);
            rx.extend_from_slice(&actions[t][i * a..(i + 1) * a]);
        }
    }
    let reward = nets.reward.forward_host(&tile(&rx, d.n), rows * h)?;
    // Every imagined state, rows ordered (m, b, i), through every target Q-function.
    let mut qx = Vec::with_capacity(rows * (h + 1) * (o + a));
    for i in 0..rows {
        for t in 0..=h {
            qx.extend_from_slice(&states[t][i * o..(i + 1) * o]);
            qx.extend_from_slice(&actions[t][i * a..(i + 1) * a]);
        }
    }
    let q = nets
        .target_q
        .forward_host(&tile(&qx, d.l), rows * (h + 1))?;
    assemble(&d, p, rewards, &Rollouts { done, reward, q })
}

/// The same numbers as [`expand`], one member at a time (each dynamics model rolls out alone;
/// each reward and Q member is called once per rollout).
pub fn expand_per_member(
    nets: &ExpansionNets<'_>,
    p: &ExpansionParams,
    next_obs: &[f32],
    rewards: &[f32],
    terminated: &[f32],
) -> Result<Expansion, SteveError> {
    let d = checked_dims(nets, p, next_obs, rewards, terminated)?;
    let (b, h, o, a) = (d.b, d.h, d.obs, d.act);
    let q_members: Vec<Mlp> = (0..d.l)
        .map(|l| nets.target_q.member(l))
        .collect::<Result<_, _>>()?;
    let r_members: Vec<Mlp> = (0..d.n)
        .map(|n| nets.reward.member(n))
        .collect::<Result<_, _>>()?;
    let mut done = vec![0.0; d.m * b * (h + 1)];
    let mut reward = vec![0.0; d.n * d.m * b * h];
    let mut q = vec![0.0; d.l * d.m * b * (h + 1)];
    for m in 0..d.m {
        let trans = nets.transition.member(m)?;
        let term = nets.termination.member(m)?;
        let mut states = vec![next_obs.to_vec()];
        let mut actions = Vec::new();
        for i in 0..b {
            done[(m * b + i) * (h + 1)] = terminated[i];
        }
        for t in 0..h {
            let s = &states[t];
            let act = policy_actions(nets.policy, s, b)?;
            let mut x = Vec::new();
            concat_rows(&[(s, o), (&act, a)], b, &mut x);
            let delta = mlp_host(&trans, &x, b)?;
            let next: Vec<f32> = s.iter().zip(&delta).map(|(x, dx)| x + dx).collect();
            let mut y = Vec::new();
            concat_rows(&[(&next, o), (s, o), (&act, a)], b, &mut y);
            for (i, z) in mlp_host(&term, &y, b)?.iter().enumerate() {
                done[(m * b + i) * (h + 1) + t + 1] = sigmoid(*z);
            }
            actions.push(act);
            states.push(next);
        }
        actions.push(policy_actions(nets.policy, &states[h], b)?);
        for t in 0..h {
            let mut y = Vec::new();
            concat_rows(
                &[(&states[t + 1], o), (&states[t], o), (&actions[t], a)],
                b,
                &mut y,
            );
            for (n, net) in r_members.iter().enumerate() {
                for (i, r) in mlp_host(net, &y, b)?.iter().enumerate() {
                    reward[((n * d.m + m) * b + i) * h + t] = *r;
                }
            }
        }
        for t in 0..=h {
            let mut x = Vec::new();
            concat_rows(&[(&states[t], o), (&actions[t], a)], b, &mut x);
            for (l, net) in q_members.iter().enumerate() {
                for (i, v) in mlp_host(net, &x, b)?.iter().enumerate() {
                    q[((l * d.m + m) * b + i) * (h + 1) + t] = *v;
                }
            }
        }
    }
    assemble(&d, p, rewards, &Rollouts { done, reward, q })
}

/// Candidates, MVE and STEVE targets from the rollouts' evaluations.
fn assemble(
    d: &Dims,
    p: &ExpansionParams,
    rewards: &[f32],
    r: &Rollouts,
) -> Result<Expansion, SteveError> {
    let (b, h) = (d.b, d.h);
    let k = d.m * d.n * d.l;
    let mut candidates = vec![0.0; b * (h + 1) * k];
    let mut r_hat = vec![0.0; h];
    let mut out = vec![0.0; h + 1];
    for i in 0..b {
        for m in 0..d.m {
            let row = m * b + i;
            let dn = &r.done[row * (h + 1)..(row + 1) * (h + 1)];
            for n in 0..d.n {
                let src = &r.reward[(n * d.m + m) * b * h + i * h..][..h];
                for (dst, x) in r_hat.iter_mut().zip(src) {
                    *dst = x * p.reward_scale;
                }
                for l in 0..d.l {
                    let qv = &r.q[((l * d.m + m) * b + i) * (h + 1)..][..h + 1];
                    mve_targets_all_horizons_into(
                        rewards[i] * p.reward_scale,
                        p.gamma,
                        &r_hat,
                        dn,
                        qv,
                        &mut out,
                    )?;
                    let kk = (m * d.n + n) * d.l + l;
                    for (t, v) in out.iter().enumerate() {
                        candidates[(i * (h + 1) + t) * k + kk] = *v;
                    }
                }
            }
        }
    }
    finish(candidates, b, h, k, p.eps)
}

fn finish(
    candidates: Vec<f32>,
    b: usize,
    h: usize,
    k: usize,
    eps: f32,
) -> Result<Expansion, SteveError> {
    let mut steve = vec![0.0; b];
    let mut weights = vec![0.0; b * (h + 1)];
    let mut mve = vec![0.0; b];
    for i in 0..b {
        let c = &candidates[i * (h + 1) * k..(i + 1) * (h + 1) * k];
        steve[i] = steve_target_eps(c, h + 1, eps, &mut weights[i * (h + 1)..(i + 1) * (h + 1)])?;
        mve[i] = c[h * k..].iter().sum::<f32>() / k as f32;
    }
    Ok(Expansion {
        candidates,
        mve,
        steve,
        weights,
    })
}

/// The reference: every candidate `(m, n, l)` from its own H-step rollout with member copies,
/// each horizon's target from [`eirl_returns::mve_target`]. M·N·L rollouts per minibatch.
pub fn expand_per_candidate(
    nets: &ExpansionNets<'_>,
    p: &ExpansionParams,
    next_obs: &[f32],
    rewards: &[f32],
    terminated: &[f32],
) -> Result<Expansion, SteveError> {
    let d = checked_dims(nets, p, next_obs, rewards, terminated)?;
    let (b, h, o, a) = (d.b, d.h, d.obs, d.act);
    let k = d.m * d.n * d.l;
    let mut candidates = vec![0.0; b * (h + 1) * k];
    for m in 0..d.m {
        let trans = nets.transition.member(m)?;
        let term = nets.termination.member(m)?;
        for n in 0..d.n {
            let rew = nets.reward.member(n)?;
            for l in 0..d.l {
                let qn = nets.target_q.member(l)?;
                let mut s = next_obs.to_vec();
                let mut dn: Vec<Vec<f32>> = vec![terminated.to_vec()];
                let mut rh: Vec<Vec<f32>> = Vec::new();
                let mut qs: Vec<Vec<f32>> = Vec::new();
                for t in 0..=h {
                    let act = policy_actions(nets.policy, &s, b)?;
                    let mut x = Vec::new();
                    concat_rows(&[(&s, o), (&act, a)], b, &mut x);
                    qs.push(mlp_host(&qn, &x, b)?);
                    if t == h {
                        break;
                    }
                    let delta = mlp_host(&trans, &x, b)?;
                    let next: Vec<f32> = s.iter().zip(&delta).map(|(x, dx)| x + dx).collect();
                    let mut y = Vec::new();
                    concat_rows(&[(&next, o), (&s, o), (&act, a)], b, &mut y);
                    dn.push(mlp_host(&term, &y, b)?.into_iter().map(sigmoid).collect());
                    rh.push(mlp_host(&rew, &y, b)?);
                    s = next;
                }
                let kk = (m * d.n + n) * d.l + l;
                for i in 0..b {
                    let r_hat: Vec<f32> = rh.iter().map(|v| v[i] * p.reward_scale).collect();
                    let term_p: Vec<f32> = dn.iter().map(|v| v[i]).collect();
                    for t in 0..=h {
                        candidates[(i * (h + 1) + t) * k + kk] = mve_target(
                            rewards[i] * p.reward_scale,
                            p.gamma,
                            &r_hat[..t],
                            &term_p[..=t],
                            qs[t][i],
                        )?;
                    }
                }
            }
        }
    }
    finish(candidates, b, h, k, p.eps)
}
