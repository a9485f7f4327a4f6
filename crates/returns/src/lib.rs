//! Pure return and target estimators for reinforcement learning, over time-major slices.
//!
//! Every estimator the eirl papers need lives here as a small, allocation-free function generic
//! over `f32`/`f64`: discounted, n-step and λ-returns, truncated GAE and one-step TD /
//! Q-learning / Double-Q targets (DQN, STEVE eq. 2.2); the general off-policy operator with its
//! trace coefficients and Retrace(λ) (ACER eq. 1.7, Munos et al. 2016); ACER's Q^ret, Q^opc and
//! truncated importance weights with bias correction (ACER eqs. 1.8–1.11, 1.20); V-trace and leaky
//! V-trace with policy-gradient advantages (IMPALA, SEED RL); MVE targets with learned termination
//! and STEVE's inverse-variance horizon combination (STEVE eqs. 2.6–2.8). Used by the ACER, STEVE,
//! SEED RL and DQN agents; GAIL's and causal confusion's policy optimisation use GAE.
//!
//! # Conventions (those of rlax, whose outputs the tests reproduce)
//! * **Shapes.** Core functions take one trajectory `[T]`; [`batched`] takes time-major `[T, B]`
//!   (contiguous, element `(t, b)` at `t·B + b`; `[T, B, A]` for per-action values). Each `*_into`
//!   function writes into a caller's buffer and allocates nothing; the plain-named twin returns a
//!   `Vec`. Shape mismatches are a [`ReturnsError`], never a panic.
//! * **Alignment.** `_tm1` is the step a value was predicted at, `_t` the step after: `r_t` and
//!   `discount_t` belong to the transition into step t, `v_t` is the value of the state it reaches
//!   (so the last `v_t` is the bootstrap value).
//! * **Episode ends** are `discount_t = 0` (`γ(1 − d)`, see [`continuation_discount`]): no
//!   estimator lets anything after a zero discount reach the steps before it.
//! * **Truncation is not termination.** When a time limit cuts an episode, keep `discount_t = γ`
//!   on that last transition and bootstrap from the value of the *final* observation (the one the
//!   environment returned before the reset), not of the next episode's first observation. The
//!   simplest way is to split the trajectory at the truncation and call the estimator on each piece,
//!   with `V(final observation)` as that piece's last `v_t` (or `values[T]` for GAE, or
//!   `v_bootstrap`). Without splitting, estimators that take separate `v_t` can do it in place:
//!   put `V(final observation)` in `v_t` at that step and cut the trace there with a per-step
//!   [`Lambda::PerStep`] whose entry at that step is 0.
//! * rlax's Retrace / V-trace / TD functions return **errors** (target − prediction); so do the
//!   functions here that carry the same names. Targets are `errors + prediction`.
//!
//! # Example
//! ```
//! use eirl_returns::{lambda_returns, truncated_generalized_advantage_estimation, batched};
//!
//! # fn main() -> Result<(), eirl_returns::ReturnsError> {
//! // One trajectory of 3 steps; the episode ends after the second transition (discount 0).
//! let r_t = [1.0_f64, 1.0, 1.0];
//! let discount_t = [0.9, 0.0, 0.9];
//! let v_t = [0.5, 0.5, 2.0];
//! let g = lambda_returns(&r_t, &discount_t, &v_t, 1.0)?;
//! assert!((g[0] - 1.9).abs() < 1e-12 && (g[1] - 1.0).abs() < 1e-12 && (g[2] - 2.8).abs() < 1e-12);
//!
//! // λ = 0: the one-step TD target r_t + γ_t v_t.
//! let g0 = lambda_returns(&r_t, &discount_t, &v_t, 0.0)?;
//! assert!((g0[0] - 1.45).abs() < 1e-12);
//!
//! // GAE with values [T + 1].
//! let adv = truncated_generalized_advantage_estimation(&r_t, &discount_t, 0.95, &[0.0, 0.5, 0.5, 2.0])?;
//! assert_eq!(adv.len(), 3);
//!
//! // The same λ-returns for B = 2 identical columns, time-major [T, B], into a reused buffer.
//! let r2: Vec<f32> = r_t.iter().flat_map(|&r| [r as f32; 2]).collect();
//! let d2: Vec<f32> = discount_t.iter().flat_map(|&d| [d as f32; 2]).collect();
//! let v2: Vec<f32> = v_t.iter().flat_map(|&v| [v as f32; 2]).collect();
//! let mut out = vec![0.0_f32; 6];
//! batched::lambda_returns_into(&r2, &d2, &v2, 1.0_f32, 2, &mut out)?;
//! assert!((out[1] - 1.9).abs() < 1e-6);
//!
//! // Shapes are checked: a wrong length is an error, not a panic.
//! assert!(lambda_returns(&r_t, &discount_t[..2], &v_t, 1.0).is_err());
//! # Ok(())
//! # }
//! ```

mod acer;
pub mod batched;
mod discounted;
mod error;
mod gae;
mod lambda;
mod mve;
mod nstep;
mod off_policy;
mod param;
mod retrace;
mod steve;
mod td;
mod vtrace;

pub use acer::{
    QRetTrace, acer_weights_into, bias_correction_weights_into, continuous_truncated_weight,
    continuous_truncated_weight_from_log, policy_gradient_coefficients_into, q_ret, q_ret_into,
    truncated_importance_weight,
};
pub use discounted::{discounted_returns, discounted_returns_into};
pub use error::{Result, ReturnsError};
pub use gae::{truncated_gae_into, truncated_generalized_advantage_estimation};
pub use lambda::{lambda_returns, lambda_returns_into, td_lambda, td_lambda_into};
pub use mve::{mve_target, mve_targets_all_horizons_into};
pub use nstep::{n_step_bootstrapped_returns, n_step_bootstrapped_returns_into};
pub use off_policy::{
    TraceCoefficient, general_off_policy_returns_from_action_values,
    general_off_policy_returns_from_action_values_into, general_off_policy_returns_from_q_and_v,
    general_off_policy_returns_from_q_and_v_into, off_policy_returns, off_policy_returns_into,
};
pub use param::Lambda;
pub use retrace::{retrace, retrace_continuous, retrace_continuous_into, retrace_into};
pub use steve::{steve_target, steve_target_eps, steve_targets_eps_into, steve_targets_into};
pub use td::{
    argmax, continuation_discount, double_q_learning, double_q_learning_target, q_learning,
    q_learning_target, q_learning_targets_into, td_learning, td_target, td_targets_into,
};
pub use vtrace::{
    PgBootstrap, VTraceOutMut, VTraceOutput, VTraceParams, vtrace, vtrace_into,
    vtrace_td_error_and_advantage, vtrace_td_error_and_advantage_into,
};
