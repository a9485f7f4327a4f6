//! ACER (Q^ret, Q^opc, truncated weights with bias correction), MVE and STEVE, against slow
//! references and their defining properties.

use crate::reference::{self as naive, OffPolicy};
use eirl_returns::{self as er, QRetTrace};
use eirl_testkit::{Tol, assert_allclose, isclose, vec_in};
use proptest::prelude::*;

const TOL: Tol = Tol::new(1e-9, 1e-9);

fn distribution(na: usize) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(0.05f64..1.0, na).prop_map(|w| {
        let s: f64 = w.iter().sum();
        w.into_iter().map(|x| x / s).collect()
    })
}

fn off_policy() -> impl Strategy<Value = OffPolicy> {
    (1usize..=10, 1usize..=4).prop_flat_map(|(t, na)| {
        (
            vec_in(-3.0, 3.0, (t + 1) * na),
            proptest::collection::vec(0..na, t + 1),
            vec_in(-2.0, 2.0, t),
            eirl_testkit::discounts(t, 4),
            proptest::collection::vec(distribution(na), t + 1),
            proptest::collection::vec(distribution(na), t + 1),
        )
            .prop_map(move |(q, a, r, d, pi, mu)| OffPolicy {
                na,
                q,
                a,
                r,
                d,
                pi: pi.concat(),
                mu: mu.concat(),
            })
    })
}

/// ACER's per-step inputs in rlax alignment: (q_t [T−1], v_t [T], rho_t [T−1]).
fn acer_args(tr: &OffPolicy) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let t = tr.t();
    let q_t = (1..t).map(|s| tr.q_at(s, tr.a[s])).collect();
    let v_t = (1..=t).map(|s| tr.expected_q(s)).collect();
    let rho_t = (1..t)
        .map(|s| tr.pi_at(s, tr.a[s]) / tr.mu_at(s, tr.a[s]))
        .collect();
    (q_t, v_t, rho_t)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn q_ret_is_retrace_with_truncated_ratio(tr in off_policy(), c in 0.2f64..3.0) {
        let (q_t, v_t, rho_t) = acer_args(&tr);
        let got = er::q_ret(&q_t, &v_t, &tr.r, &tr.d, QRetTrace::Truncated { rho_t: &rho_t, c }).unwrap();
        assert_allclose(&got, &tr.operator_targets(|p, m| (p / m).min(c)), TOL, "Q^ret vs operator sum");
        if (c - 1.0).abs() < 1e-12 {
            let (q_tm1, q_t2, a_tm1, a_t, pi_t, mu_t) = tr.rlax_args();
            let err = er::retrace(&q_tm1, &q_t2, &a_tm1, &a_t, &tr.r, &tr.d, &pi_t, &mu_t, 1.0, 0.0).unwrap();
            let tgt: Vec<f64> = err.iter().enumerate().map(|(t, e)| e + tr.q_at(t, tr.a[t])).collect();
            assert_allclose(&got, &tgt, TOL, "Q^ret = Retrace(λ=1) target");
        }
        let opc = er::q_ret(&q_t, &v_t, &tr.r, &tr.d, QRetTrace::Opc).unwrap();
        assert_allclose(&opc, &tr.operator_targets(|_, _| 1.0), TOL, "Q^opc");
        let given = er::q_ret(&q_t, &v_t, &tr.r, &tr.d, QRetTrace::Given(&rho_t)).unwrap();
        let general = er::general_off_policy_returns_from_q_and_v(&q_t, &v_t, &tr.r, &tr.d, &rho_t).unwrap();
        assert_allclose(&given, &general, TOL, "Q^ret with given traces = general operator");
    }

    #[test]
    fn q_ret_lambda_zero_like_trace_is_one_step(tr in off_policy()) {
        let (q_t, v_t, _) = acer_args(&tr);
        let zeros = vec![0.0; q_t.len()];
        let got = er::q_ret(&q_t, &v_t, &tr.r, &tr.d, QRetTrace::Given(&zeros)).unwrap();
        let want: Vec<f64> = (0..tr.t()).map(|t| tr.r[t] + tr.d[t] * v_t[t]).collect();
        assert_allclose(&got, &want, TOL, "zero trace = one-step expected target");
    }

    #[test]
    fn acer_weights_match_literal_formula_and_decompose_the_expectation(
        na in 1usize..6, t in 1usize..5, c in 0.1f64..5.0, f in vec_in(-3.0, 3.0, 30), seed in 0usize..1000,
        pis in proptest::collection::vec(distribution(5), 5), mus in proptest::collection::vec(distribution(5), 5),
    ) {
        let renorm = |x: &[f64]| -> Vec<f64> { let s: f64 = x[..na].iter().sum(); x[..na].iter().map(|v| v / s).collect() };
        let pi: Vec<f64> = pis[..t].iter().flat_map(|p| renorm(p)).collect();
        let mu: Vec<f64> = mus[..t].iter().flat_map(|m| renorm(m)).collect();
        let a: Vec<usize> = (0..t).map(|s| (seed + 7 * s) % na).collect();
        let (mut tr, mut corr) = (vec![0.0; t], vec![0.0; t * na]);
        er::acer_weights_into(&pi, &mu, &a, c, &mut tr, &mut corr).unwrap();
        for s in 0..t {
            let row = s * na..(s + 1) * na;
            let (p, m) = (&pi[row.clone()], &mu[row.clone()]);
            prop_assert!(isclose(tr[s], (p[a[s]] / m[a[s]]).min(c), TOL));
            let mut lhs = 0.0;
            for x in 0..na {
                let rho = p[x] / m[x];
                let literal = p[x] * (1.0 - c / rho).max(0.0);
                prop_assert!(isclose(corr[s * na + x], literal, TOL), "π(a)[1 − c/ρ(a)]₊");
                prop_assert!(corr[s * na + x] >= 0.0);
                // E_μ[ρ̄ f] + E_π[[1 − c/ρ]₊ f] = E_π[f] (ACER eq. 1.10's decomposition).
                lhs += m[x] * rho.min(c) * f[x] + corr[s * na + x] * f[x];
            }
            let rhs: f64 = (0..na).map(|x| p[x] * f[x]).sum();
            prop_assert!(isclose(lhs, rhs, TOL), "decomposition {} vs {}", lhs, rhs);
        }
        // The policy-gradient coefficients multiply those weights by the advantages.
        let q = &f[..t * na];
        let v: Vec<f64> = (0..t).map(|s| (0..na).map(|x| pi[s * na + x] * q[s * na + x]).sum()).collect();
        let q_ret: Vec<f64> = (0..t).map(|s| f[29 - s]).collect();
        let (mut taken, mut per) = (vec![0.0; t], vec![0.0; t * na]);
        er::policy_gradient_coefficients_into(&q_ret, q, &v, &pi, &mu, &a, c, &mut taken, &mut per).unwrap();
        for s in 0..t {
            prop_assert!(isclose(taken[s], tr[s] * (q_ret[s] - v[s]), TOL));
            for x in 0..na {
                prop_assert!(isclose(per[s * na + x], corr[s * na + x] * (q[s * na + x] - v[s]), TOL));
            }
        }
    }

    #[test]
    fn continuous_weight_is_dth_root_truncated(rho in 0.0f64..10.0, d in 1usize..8) {
        let w = er::continuous_truncated_weight(rho, d).unwrap();
        prop_assert!(isclose(w, rho.powf(1.0 / d as f64).min(1.0), TOL));
        if rho > 0.0 {
            prop_assert!(isclose(er::continuous_truncated_weight_from_log(rho.ln(), d).unwrap(), w, TOL));
        }
        prop_assert!((0.0..=1.0).contains(&w));
    }

    #[test]
    fn mve_matches_term_by_term_definition(
        h in 0usize..8, r in -2.0f64..2.0, gamma in 0.0f64..1.0,
        r_hat in vec_in(-2.0, 2.0, 8), term in vec_in(0.0, 1.0, 9), q_hat in vec_in(-5.0, 5.0, 9),
    ) {
        let got = er::mve_target(r, gamma, &r_hat[..h], &term[..h + 1], q_hat[h]).unwrap();
        prop_assert!(isclose(got, naive::mve(r, gamma, &r_hat[..h], &term[..h + 1], q_hat[h]), TOL));
        let mut all = vec![0.0; h + 1];
        er::mve_targets_all_horizons_into(r, gamma, &r_hat[..h], &term[..h + 1], &q_hat[..h + 1], &mut all).unwrap();
        for i in 0..=h {
            let want = er::mve_target(r, gamma, &r_hat[..i], &term[..i + 1], q_hat[i]).unwrap();
            prop_assert!(isclose(all[i], want, TOL), "horizon {}", i);
        }
        // H = 0 is the TD target r + γ(1 − d) Q(s', μ(s')) (STEVE eq. 2.2).
        let td = er::td_target(r, er::continuation_discount(gamma, term[0]), q_hat[0]);
        prop_assert!(isclose(all[0], td, TOL));
    }

    #[test]
    fn steve_weights_are_a_distribution_and_match_reference(
        horizons in 1usize..6, k in 2usize..9, cand in vec_in(-5.0, 5.0, 48),
    ) {
        let c = &cand[..horizons * k];
        let mut w = vec![0.0; horizons];
        let got = er::steve_target(c, horizons, &mut w).unwrap();
        let (want, want_w) = naive::steve(c, horizons);
        prop_assert!(isclose(got, want, Tol::new(1e-8, 1e-8)));
        assert_allclose(&w, &want_w, Tol::new(1e-8, 1e-8), "STEVE weights");
        prop_assert!(w.iter().all(|&x| x >= 0.0));
        prop_assert!(isclose(w.iter().sum::<f64>(), 1.0, TOL));
    }

    #[test]
    fn steve_low_variance_horizon_dominates(horizons in 2usize..6, k in 2usize..9, cand in vec_in(-5.0, 5.0, 48), pick in 0usize..6) {
        let mut c = cand[..horizons * k].to_vec();
        let i = pick % horizons;
        // Shrink horizon i's spread around 1.5 by 1e-6 (variance by 1e-12).
        for x in &mut c[i * k..(i + 1) * k] {
            *x = 1.5 + 1e-6 * *x;
        }
        // Keep the others well spread.
        for (j, x) in c.iter_mut().enumerate() {
            if j / k != i && j % 2 == 0 {
                *x += 3.0;
            }
        }
        let mut w = vec![0.0; horizons];
        let got = er::steve_target(&c, horizons, &mut w).unwrap();
        prop_assert!(w[i] > 0.999, "weights {:?}", w);
        prop_assert!((got - 1.5).abs() < 1e-3);
    }
}

/// c = 1 exactly (ACER's value), which `c in 0.2..3.0` above never draws: Q^ret is rlax's
/// Retrace target at λ = 1. The ratios at the taken actions are 2, 1/3 and 1.2, so truncation
/// matters, and the last transition is terminal.
#[test]
fn q_ret_with_c_one_is_retrace_lambda_one() {
    let tr = OffPolicy {
        na: 2,
        q: vec![0.5, -1.0, 2.0, 0.3, -0.7, 1.2, 0.8, -0.4, 1.5, 0.1],
        a: vec![0, 1, 0, 1, 0],
        r: vec![1.0, -0.5, 0.25, 2.0],
        d: vec![0.9, 0.9, 0.9, 0.0],
        pi: vec![0.7, 0.3, 0.2, 0.8, 0.1, 0.9, 0.4, 0.6, 0.5, 0.5],
        mu: vec![0.5, 0.5, 0.6, 0.4, 0.3, 0.7, 0.5, 0.5, 0.5, 0.5],
    };
    let (q_t, v_t, rho_t) = acer_args(&tr);
    let truncated = QRetTrace::Truncated {
        rho_t: &rho_t,
        c: 1.0,
    };
    let got = er::q_ret(&q_t, &v_t, &tr.r, &tr.d, truncated).unwrap();
    let (q_tm1, q_t2, a_tm1, a_t, pi_t, mu_t) = tr.rlax_args();
    let err = er::retrace(
        &q_tm1, &q_t2, &a_tm1, &a_t, &tr.r, &tr.d, &pi_t, &mu_t, 1.0, 0.0,
    )
    .unwrap();
    let tgt: Vec<f64> = (0..tr.t()).map(|t| err[t] + tr.q_at(t, tr.a[t])).collect();
    assert_allclose(&got, &tgt, TOL, "Q^ret(c = 1) = Retrace(λ = 1) target");
    let untruncated = er::q_ret(&q_t, &v_t, &tr.r, &tr.d, QRetTrace::Given(&rho_t)).unwrap();
    assert!(!isclose(got[0], untruncated[0], Tol::new(1e-3, 0.0)));
}

#[test]
fn steve_zero_variance_guard() {
    // Horizon 1 has zero variance: it takes all the weight.
    let c = [0.0, 2.0, 3.0, 3.0, -1.0, 1.0];
    let mut w = [0.0; 3];
    let t = er::steve_target(&c, 3, &mut w).unwrap();
    assert_allclose(&w, &[0.0, 1.0, 0.0], Tol::F64, "one zero-variance horizon");
    assert!(isclose(t, 3.0, Tol::F64));
    // Two zero-variance horizons share the weight equally.
    let c = [4.0, 4.0, 2.0, 3.0, 1.0, 1.0];
    let t = er::steve_target(&c, 3, &mut w).unwrap();
    assert_allclose(&w, &[0.5, 0.0, 0.5], Tol::F64, "two zero-variance horizons");
    assert!(isclose(t, 2.5, Tol::F64));
    // K = 1: every variance is zero, so the target is the mean over horizons.
    let c = [1.0, 2.0, 6.0];
    let t = er::steve_target(&c, 3, &mut w).unwrap();
    assert_allclose(&w, &[1.0 / 3.0; 3], Tol::F64, "K = 1");
    assert!(isclose(t, 3.0, Tol::F64));
    // Batched form.
    let cands = [0.0, 2.0, 3.0, 3.0, -1.0, 1.0, 4.0, 4.0, 2.0, 3.0, 1.0, 1.0];
    let (mut out, mut ws) = ([0.0; 2], [0.0; 6]);
    er::steve_targets_into(&cands, 2, 3, &mut out, &mut ws).unwrap();
    assert_allclose(&out, &[3.0, 2.5], Tol::F64, "batched STEVE");
}

#[test]
fn acer_and_steve_in_f32() {
    let c = [0.0f32, 2.0, 3.0, 3.5, -1.0, 1.0];
    let mut w = [0.0f32; 3];
    let t = er::steve_target(&c, 3, &mut w).unwrap();
    let (want, want_w) = naive::steve(&c.map(f64::from), 3);
    assert!(isclose(f64::from(t), want, Tol::F32));
    assert_allclose(&w.map(f64::from), &want_w, Tol::F32, "f32 weights");
    let q = er::q_ret(
        &[1.0f32],
        &[0.5, 2.0],
        &[1.0, 1.0],
        &[0.9, 0.9],
        QRetTrace::Truncated {
            rho_t: &[3.0],
            c: 1.0,
        },
    )
    .unwrap();
    // Q^ret_1 = 1 + 0.9·2 = 2.8; Q^ret_0 = 1 + 0.9·(1·(2.8 − 1) + 0.5) = 3.07.
    assert_allclose(
        &q.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
        &[3.07, 2.8],
        Tol::F32,
        "f32 Q^ret",
    );
}

#[test]
fn steve_eps_by_hand() {
    // Rows [0, 2] (var 1, mean 1) and [3, 3] (var 0, mean 3); eps = 1:
    // w ∝ (1/2, 1/1) → (1/3, 2/3), target = 1/3 + 2 = 7/3.
    let c = [0.0, 2.0, 3.0, 3.0];
    let mut w = [0.0; 2];
    let t = er::steve_target_eps(&c, 2, 1.0, &mut w).unwrap();
    assert_allclose(&w, &[1.0 / 3.0, 2.0 / 3.0], Tol::F64, "eps weights");
    assert!(isclose(t, 7.0 / 3.0, Tol::F64));
    // The official eps = 1e-8 keeps a zero-variance horizon finite but dominant.
    let t = er::steve_target_eps(&c, 2, 1e-8, &mut w).unwrap();
    assert!(
        w[1] > 1.0 - 1e-7
            && isclose(
                t,
                3.0,
                Tol {
                    atol: 1e-6,
                    rtol: 0.0
                }
            )
    );
    // Batched form equals the per-sample one; a negative eps is refused.
    let (mut out, mut ws) = ([0.0; 2], [0.0; 4]);
    let cands = [0.0, 2.0, 3.0, 3.0, 1.0, 1.0, 5.0, 7.0];
    er::steve_targets_eps_into(&cands, 2, 2, 1.0, &mut out, &mut ws).unwrap();
    assert!(isclose(out[0], 7.0 / 3.0, Tol::F64));
    assert!(er::steve_target_eps(&c, 2, -1.0, &mut w).is_err());
}
