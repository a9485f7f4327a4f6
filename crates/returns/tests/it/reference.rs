//! Slow, obviously-correct references that sum each paper's definition directly (f64).

/// Π_{j=from}^{to−1} x_j (1 when the range is empty).
pub fn prod(x: &[f64], from: usize, to: usize) -> f64 {
    x[from..to].iter().product()
}

/// The n-step bootstrapped return (λ = 1) from step t, truncated at the trajectory's end:
/// `Σ_{k<m} (Π_{j<k} γ_{t+j}) r_{t+k} + (Π_{j<m} γ_{t+j}) v_{t+m−1}`, `m = min(n, T − t)`.
pub fn n_step_return(r: &[f64], d: &[f64], v: &[f64], t: usize, n: usize) -> f64 {
    let m = n.min(r.len() - t);
    let rewards: f64 = (0..m).map(|k| prod(d, t, t + k) * r[t + k]).sum();
    rewards + prod(d, t, t + m) * v[t + m - 1]
}

/// λ-return as the λ-weighted average of n-step returns (Sutton & Barto eq. 12.3, truncated):
/// `G^λ_t = (1 − λ) Σ_{n=1}^{N−1} λ^{n−1} G^{(n)}_t + λ^{N−1} G^{(N)}_t`, N = T − t.
pub fn lambda_returns(r: &[f64], d: &[f64], v: &[f64], lambda: f64) -> Vec<f64> {
    let t_len = r.len();
    (0..t_len)
        .map(|t| {
            let big_n = t_len - t;
            let mixed: f64 = (1..big_n)
                .map(|n| (1.0 - lambda) * lambda.powi(n as i32 - 1) * n_step_return(r, d, v, t, n))
                .sum();
            mixed + lambda.powi(big_n as i32 - 1) * n_step_return(r, d, v, t, big_n)
        })
        .collect()
}

/// GAE as the discounted sum of TD errors: `Â_t = Σ_{k≥t} (Π_{j=t}^{k−1} γ_j λ) δ_k`.
pub fn gae(r: &[f64], d: &[f64], lambda: f64, values: &[f64]) -> Vec<f64> {
    let t_len = r.len();
    let delta: Vec<f64> = (0..t_len)
        .map(|k| r[k] + d[k] * values[k + 1] - values[k])
        .collect();
    (0..t_len)
        .map(|t| {
            (t..t_len)
                .map(|k| prod(d, t, k) * lambda.powi((k - t) as i32) * delta[k])
                .sum()
        })
        .collect()
}

/// (q_tm1, q_t, a_tm1, a_t, pi_t, mu_t) in rlax's alignment.
pub type RlaxArgs = (
    Vec<f64>,
    Vec<f64>,
    Vec<usize>,
    Vec<usize>,
    Vec<f64>,
    Vec<f64>,
);

/// A consistent off-policy trajectory: Q-values of states x_0 … x_T, actions a_0 … a_T (a_T is
/// the action μ takes at the bootstrap state), rewards and discounts of the T transitions, and
/// π, μ at every state.
#[derive(Debug, Clone)]
pub struct OffPolicy {
    pub na: usize,
    pub q: Vec<f64>,   // [T+1, A]
    pub a: Vec<usize>, // [T+1]
    pub r: Vec<f64>,   // [T]
    pub d: Vec<f64>,   // [T]
    pub pi: Vec<f64>,  // [T+1, A]
    pub mu: Vec<f64>,  // [T+1, A]
}

impl OffPolicy {
    pub fn t(&self) -> usize {
        self.r.len()
    }
    pub fn q_at(&self, s: usize, a: usize) -> f64 {
        self.q[s * self.na + a]
    }
    pub fn pi_at(&self, s: usize, a: usize) -> f64 {
        self.pi[s * self.na + a]
    }
    pub fn mu_at(&self, s: usize, a: usize) -> f64 {
        self.mu[s * self.na + a]
    }
    pub fn expected_q(&self, s: usize) -> f64 {
        (0..self.na)
            .map(|a| self.pi_at(s, a) * self.q_at(s, a))
            .sum()
    }
    /// rlax-aligned slices: (q_tm1, q_t, a_tm1, a_t, pi_t, mu_t of the taken action).
    pub fn rlax_args(&self) -> RlaxArgs {
        let (t, na) = (self.t(), self.na);
        let q_tm1 = self.q[..t * na].to_vec();
        let q_t = self.q[na..].to_vec();
        let a_tm1 = self.a[..t].to_vec();
        let a_t = self.a[1..].to_vec();
        let pi_t = self.pi[na..].to_vec();
        let mu_t = (1..=t).map(|s| self.mu_at(s, self.a[s])).collect();
        (q_tm1, q_t, a_tm1, a_t, pi_t, mu_t)
    }
    /// The general operator (ACER eq. 1.7, Munos et al. 2016) summed directly, as errors
    /// `RQ(x_t, a_t) − Q(x_t, a_t) = Σ_{s≥t} (Π_{j=t}^{s−1} γ_j) (Π_{i=t+1}^{s} c_i) δ_s`,
    /// `δ_s = r_s + γ_s E_π Q(x_{s+1}, ·) − Q(x_s, a_s)`, with `c_i = c(π(a_i|x_i), μ(a_i|x_i))`.
    pub fn operator_errors(&self, c: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        let t_len = self.t();
        let cs: Vec<f64> = (0..=t_len)
            .map(|i| c(self.pi_at(i, self.a[i]), self.mu_at(i, self.a[i])))
            .collect();
        let delta: Vec<f64> = (0..t_len)
            .map(|s| self.r[s] + self.d[s] * self.expected_q(s + 1) - self.q_at(s, self.a[s]))
            .collect();
        (0..t_len)
            .map(|t| {
                (t..t_len)
                    .map(|s| prod(&self.d, t, s) * prod(&cs, t + 1, s + 1) * delta[s])
                    .sum()
            })
            .collect()
    }
    pub fn operator_targets(&self, c: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        self.operator_errors(c)
            .iter()
            .enumerate()
            .map(|(t, e)| e + self.q_at(t, self.a[t]))
            .collect()
    }
}

/// V-trace targets from IMPALA's definition:
/// `v_s = V(x_s) + Σ_{t≥s} (Π_{i=s}^{t−1} γ_i c_i) ρ̄_t δ_t`, `δ_t = r_t + γ_t V(x_{t+1}) − V(x_t)`.
pub fn vtrace_targets(
    values: &[f64],
    r: &[f64],
    d: &[f64],
    rho: &[f64],
    lambda: f64,
    clip: f64,
) -> Vec<f64> {
    let t_len = r.len();
    let c: Vec<f64> = rho.iter().map(|&p| lambda * p.min(1.0)).collect();
    let gc: Vec<f64> = c.iter().zip(d).map(|(c, d)| c * d).collect();
    (0..t_len)
        .map(|s| {
            values[s]
                + (s..t_len)
                    .map(|t| {
                        prod(&gc, s, t)
                            * rho[t].min(clip)
                            * (r[t] + d[t] * values[t + 1] - values[t])
                    })
                    .sum::<f64>()
        })
        .collect()
}

/// MVE target written term by term (STEVE eq. 2.6–2.7): `D^i = Π_{j=1}^{i} (1 − d_j)`.
pub fn mve(r: f64, gamma: f64, r_hat: &[f64], term: &[f64], q_hat: f64) -> f64 {
    let h = r_hat.len();
    let big_d = |i: usize| -> f64 { (1..=i).map(|j| 1.0 - term[j - 1]).product() };
    let rewards: f64 = (1..=h)
        .map(|i| big_d(i) * gamma.powi(i as i32) * r_hat[i - 1])
        .sum();
    r + rewards + big_d(h + 1) * gamma.powi(h as i32 + 1) * q_hat
}

/// STEVE's combination, two-pass mean/variance per horizon, `w_i ∝ 1/σ²_i` (no zero variance).
pub fn steve(candidates: &[f64], horizons: usize) -> (f64, Vec<f64>) {
    let k = candidates.len() / horizons;
    let rows: Vec<&[f64]> = candidates.chunks(k).collect();
    let mean: Vec<f64> = rows
        .iter()
        .map(|r| r.iter().sum::<f64>() / k as f64)
        .collect();
    let var: Vec<f64> = rows
        .iter()
        .zip(&mean)
        .map(|(r, m)| r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / k as f64)
        .collect();
    let inv_total: f64 = var.iter().map(|v| 1.0 / v).sum();
    let w: Vec<f64> = var.iter().map(|v| (1.0 / v) / inv_total).collect();
    (w.iter().zip(&mean).map(|(w, m)| w * m).sum(), w)
}
