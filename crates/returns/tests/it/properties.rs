//! Proptest properties: naive O(T²) references, identities between estimators, linearity in
//! rewards, episode boundaries, batched = per-column.

use crate::reference::{self as naive, OffPolicy};
use eirl_returns::{self as er, TraceCoefficient, VTraceParams, batched};
use eirl_testkit::{Tol, assert_allclose, discounts, vec_in};
use proptest::prelude::*;

const TOL: Tol = Tol::new(1e-9, 1e-9);

/// (r_t, discount_t, v_t) of length T ∈ [1, 12], with episode ends.
fn traj() -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<f64>)> {
    (1usize..=12).prop_flat_map(|t| (vec_in(-2.0, 2.0, t), discounts(t, 4), vec_in(-3.0, 3.0, t)))
}

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
            discounts(t, 4),
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

fn one_step(r: &[f64], d: &[f64], v: &[f64]) -> Vec<f64> {
    r.iter()
        .zip(d)
        .zip(v)
        .map(|((r, d), v)| r + d * v)
        .collect()
}

/// Column `b` of a `[T, B]` buffer.
fn col(x: &[f64], b: usize, bs: usize) -> Vec<f64> {
    x.iter().skip(b).step_by(bs).copied().collect()
}

/// λ = 1 exactly, which `lambda in 0.0..=1.0` never draws (the `λ > 0.999_999` branch of
/// `on_policy_vtrace_is_lambda_returns`): on-policy (ρ = 1) with consistent values
/// (`v_t[s] = v_tm1[s+1]`), the V-trace targets are the discounted returns bootstrapped from
/// `v_t[T−1]`, so no intermediate value enters; an episode ends inside.
#[test]
fn on_policy_vtrace_at_lambda_one_is_the_discounted_return() {
    let r = [1.0, -0.5, 2.0, 0.25, -1.0];
    let d = [0.9, 0.0, 0.9, 0.9, 0.9];
    let p = VTraceParams {
        lambda: 1.0,
        clip_rho_threshold: 1e9,
        ..VTraceParams::default()
    };
    let targets = |v_tm1: [f64; 5], bootstrap: f64| {
        let mut v_t = v_tm1[1..].to_vec();
        v_t.push(bootstrap);
        let err = er::vtrace(&v_tm1, &v_t, &r, &d, &[1.0; 5], &p).unwrap();
        err.iter()
            .zip(&v_tm1)
            .map(|(e, v)| e + v)
            .collect::<Vec<f64>>()
    };
    // By hand: G_0 = 1 − 0.9·0.5 (the episode ends after step 1), G_4 = −1 + 0.9·0.6, ...
    let g4 = -1.0 + 0.9 * 0.6;
    let g3 = 0.25 + 0.9 * g4;
    let want = [0.55, -0.5, 2.0 + 0.9 * g3, g3, g4];
    for v_tm1 in [[0.3, -1.2, 0.7, 2.0, -0.4], [-3.0, 1.0, 4.0, -0.5, 2.5]] {
        let got = targets(v_tm1, 0.6);
        assert_allclose(&got, &want, TOL, "V-trace(λ = 1) by hand");
        let returns = er::discounted_returns(&r, &d, 0.6).unwrap();
        assert_allclose(&got, &returns, TOL, "V-trace(λ = 1) = discounted returns");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn lambda_returns_match_weighted_n_step_definition((r, d, v) in traj(), lambda in 0.0f64..=1.0) {
        let got = er::lambda_returns(&r, &d, &v, lambda).unwrap();
        assert_allclose(&got, &naive::lambda_returns(&r, &d, &v, lambda), TOL, "λ-returns vs naive");
    }

    #[test]
    fn lambda_zero_is_one_step_and_lambda_one_is_discounted((r, d, v) in traj()) {
        assert_allclose(&er::lambda_returns(&r, &d, &v, 0.0).unwrap(), &one_step(&r, &d, &v), TOL, "λ = 0");
        let boot = *v.last().unwrap();
        assert_allclose(
            &er::lambda_returns(&r, &d, &v, 1.0).unwrap(),
            &er::discounted_returns(&r, &d, boot).unwrap(),
            TOL,
            "λ = 1",
        );
    }

    #[test]
    fn n_step_matches_definition_and_n_equal_t_is_lambda_one((r, d, v) in traj(), n in 1usize..15) {
        let got = er::n_step_bootstrapped_returns(&r, &d, &v, n, 1.0).unwrap();
        let want: Vec<f64> = (0..r.len()).map(|t| naive::n_step_return(&r, &d, &v, t, n)).collect();
        assert_allclose(&got, &want, TOL, "n-step vs naive");
        let full = er::n_step_bootstrapped_returns(&r, &d, &v, r.len(), 1.0).unwrap();
        assert_allclose(&full, &er::lambda_returns(&r, &d, &v, 1.0).unwrap(), TOL, "n = T");
        let one = er::n_step_bootstrapped_returns(&r, &d, &v, 1, 1.0).unwrap();
        assert_allclose(&one, &one_step(&r, &d, &v), TOL, "n = 1");
    }

    #[test]
    fn n_step_with_lambda_and_n_ge_t_is_lambda_returns((r, d, v) in traj(), lambda in 0.0f64..=1.0) {
        let got = er::n_step_bootstrapped_returns(&r, &d, &v, r.len() + 3, lambda).unwrap();
        assert_allclose(&got, &er::lambda_returns(&r, &d, &v, lambda).unwrap(), TOL, "n ≥ T with λ");
    }

    #[test]
    fn gae_matches_definition_and_lambda_one_is_return_minus_value(
        (r, d, _v) in traj(), lambda in 0.0f64..=1.0, v0 in vec_in(-3.0, 3.0, 13),
    ) {
        let values = &v0[..r.len() + 1];
        let got = er::truncated_generalized_advantage_estimation(&r, &d, lambda, values).unwrap();
        assert_allclose(&got, &naive::gae(&r, &d, lambda, values), TOL, "GAE vs naive");
        let g1 = er::truncated_generalized_advantage_estimation(&r, &d, 1.0, values).unwrap();
        let ret = er::discounted_returns(&r, &d, values[r.len()]).unwrap();
        let want: Vec<f64> = ret.iter().zip(values).map(|(g, v)| g - v).collect();
        assert_allclose(&g1, &want, TOL, "GAE(λ=1) = G − V");
        // GAE = λ-returns − V when v_t = values[1..].
        let lr = er::lambda_returns(&r, &d, &values[1..], lambda).unwrap();
        let want: Vec<f64> = lr.iter().zip(values).map(|(g, v)| g - v).collect();
        assert_allclose(&got, &want, TOL, "GAE = G^λ − V");
    }

    #[test]
    fn retrace_matches_operator_sum(tr in off_policy(), lambda in 0.0f64..=1.0) {
        let (q_tm1, q_t, a_tm1, a_t, pi_t, mu_t) = tr.rlax_args();
        let got = er::retrace(&q_tm1, &q_t, &a_tm1, &a_t, &tr.r, &tr.d, &pi_t, &mu_t, lambda, 0.0).unwrap();
        let want = tr.operator_errors(|p, m| lambda * (p / m).min(1.0));
        assert_allclose(&got, &want, TOL, "Retrace vs naive operator sum");
    }

    #[test]
    fn retrace_lambda_zero_is_expected_sarsa(tr in off_policy()) {
        let (q_tm1, q_t, a_tm1, a_t, pi_t, mu_t) = tr.rlax_args();
        let got = er::retrace(&q_tm1, &q_t, &a_tm1, &a_t, &tr.r, &tr.d, &pi_t, &mu_t, 0.0, 1e-8).unwrap();
        let want: Vec<f64> = (0..tr.t())
            .map(|t| tr.r[t] + tr.d[t] * tr.expected_q(t + 1) - tr.q_at(t, tr.a[t]))
            .collect();
        assert_allclose(&got, &want, TOL, "Retrace(λ=0) = one-step expected target");
    }

    #[test]
    fn every_trace_coefficient_matches_operator_sum(tr in off_policy(), lambda in 0.0f64..=1.0, which in 0usize..4) {
        let trace = match which {
            0 => TraceCoefficient::ImportanceSampling,
            1 => TraceCoefficient::QLambda { lambda },
            2 => TraceCoefficient::TreeBackup { lambda },
            _ => TraceCoefficient::Retrace { lambda },
        };
        let (_, q_t, _, a_t, pi_t, mu_t) = tr.rlax_args();
        let got = er::off_policy_returns(trace, &q_t, &a_t, &tr.r, &tr.d, &pi_t, &mu_t).unwrap();
        let reference = |p: f64, m: f64| match which {
            0 => p / m,
            1 => lambda,
            2 => lambda * p,
            _ => lambda * (p / m).min(1.0),
        };
        assert_allclose(&got, &tr.operator_targets(reference), Tol::new(1e-8, 1e-8), "c_s family");
        // The c_t path and the explicit-coefficient path agree.
        let mut c = vec![0.0; a_t.len()];
        trace.coefficients_into(&pi_t, &a_t, &mu_t, &mut c).unwrap();
        let via_c = er::general_off_policy_returns_from_action_values(&q_t, &a_t, &tr.r, &tr.d, &c, &pi_t).unwrap();
        assert_allclose(&got, &via_c, TOL, "coefficients_into");
    }

    #[test]
    fn vtrace_matches_impala_definition(
        (r, d, _v) in traj(), vals in vec_in(-3.0, 3.0, 13), rho in vec_in(0.0, 3.0, 12),
        lambda in 0.0f64..=1.0, clip in 0.5f64..3.0,
    ) {
        let t = r.len();
        let values = &vals[..t + 1];
        let rho = &rho[..t];
        let p = VTraceParams { lambda, clip_rho_threshold: clip, ..VTraceParams::default() };
        let err = er::vtrace(&values[..t], &values[1..], &r, &d, rho, &p).unwrap();
        let got: Vec<f64> = err.iter().zip(values).map(|(e, v)| e + v).collect();
        assert_allclose(&got, &naive::vtrace_targets(values, &r, &d, rho, lambda, clip), TOL, "V-trace vs naive");
    }

    #[test]
    fn on_policy_vtrace_is_lambda_returns((r, d, v) in traj(), v_tm1 in vec_in(-3.0, 3.0, 12), lambda in 0.0f64..=1.0) {
        let t = r.len();
        let v_tm1 = &v_tm1[..t];
        let p = VTraceParams { lambda, clip_rho_threshold: 1e9, ..VTraceParams::default() };
        // rlax's λ-returns mix with v_t; V-trace's traces mix with v_tm1[t+1]: use consistent values.
        let mut consistent = v_tm1[1..].to_vec();
        consistent.push(v[t - 1]);
        let err = er::vtrace(v_tm1, &consistent, &r, &d, &vec![1.0; t], &p).unwrap();
        let got_c: Vec<f64> = err.iter().zip(v_tm1).map(|(e, v)| e + v).collect();
        assert_allclose(&got_c, &er::lambda_returns(&r, &d, &consistent, lambda).unwrap(), TOL, "on-policy V-trace");
        // λ ≈ 1 with consistent values: targets are discounted returns bootstrapped from v_t[T−1]
        // (λ = 1 exactly: `on_policy_vtrace_at_lambda_one_is_the_discounted_return`).
        if lambda > 0.999_999 {
            assert_allclose(&got_c, &er::discounted_returns(&r, &d, v[t - 1]).unwrap(), Tol::new(1e-6, 1e-6), "λ≈1");
        }
    }

    #[test]
    fn vtrace_pg_bootstraps_agree_at_lambda_one_and_leaky_alpha_one_is_vtrace(
        (r, d, v) in traj(), v_tm1 in vec_in(-3.0, 3.0, 12), rho in vec_in(0.0, 3.0, 12), lambda in 0.0f64..=1.0,
    ) {
        let t = r.len();
        let (v_tm1, rho) = (&v_tm1[..t], &rho[..t]);
        let rl = VTraceParams { clip_pg_rho_threshold: 1.5, ..VTraceParams::default() };
        let sd = VTraceParams { pg_bootstrap: er::PgBootstrap::SeedRl, ..rl };
        let a = er::vtrace_td_error_and_advantage(v_tm1, &v, &r, &d, rho, &rl).unwrap();
        let b = er::vtrace_td_error_and_advantage(v_tm1, &v, &r, &d, rho, &sd).unwrap();
        assert_allclose(&a.pg_advantage, &b.pg_advantage, TOL, "rlax vs seed_rl at λ = 1");
        // seed_rl's q_s = r_s + γ_s v_{s+1} with v_{s+1} the V-trace target.
        let sdl = VTraceParams { lambda, ..sd };
        let o = er::vtrace_td_error_and_advantage(v_tm1, &v, &r, &d, rho, &sdl).unwrap();
        for s in 0..t {
            let next = if s + 1 < t { o.errors[s + 1] + v_tm1[s + 1] } else { v[t - 1] };
            let q = r[s] + d[s] * next;
            prop_assert!((o.q_estimate[s] - q).abs() < 1e-9);
            prop_assert!((o.pg_advantage[s] - rho[s].min(1.5) * (q - v_tm1[s])).abs() < 1e-9);
        }
        let leaky = VTraceParams { alpha: 1.0, lambda, ..VTraceParams::default() };
        let plain = VTraceParams { lambda, ..VTraceParams::default() };
        assert_allclose(
            &er::vtrace(v_tm1, &v, &r, &d, rho, &leaky).unwrap(),
            &er::vtrace(v_tm1, &v, &r, &d, rho, &plain).unwrap(),
            TOL,
            "leaky α = 1",
        );
    }

    #[test]
    fn estimators_are_linear_in_rewards(
        (r1, d, v) in traj(), r2 in vec_in(-2.0, 2.0, 12), lambda in 0.0f64..=1.0, rho in vec_in(0.1, 2.0, 12),
    ) {
        let t = r1.len();
        let r2 = &r2[..t];
        let sum: Vec<f64> = r1.iter().zip(r2).map(|(a, b)| a + b).collect();
        let zeros = vec![0.0; t];
        let rho = &rho[..t];
        let add = |a: Vec<f64>, b: Vec<f64>| -> Vec<f64> { a.iter().zip(&b).map(|(x, y)| x + y).collect() };
        // f(r1 + r2; v) = f(r1; v) + f(r2; 0): affine in rewards, linear once values are zero.
        let lr = |r: &[f64], v: &[f64]| er::lambda_returns(r, &d, v, lambda).unwrap();
        assert_allclose(&lr(&sum, &v), &add(lr(&r1, &v), lr(r2, &zeros)), TOL, "λ-returns");
        let mut vals = v.clone();
        vals.push(0.5);
        let mut zeros1 = zeros.clone();
        zeros1.push(0.0);
        let g = |r: &[f64], v: &[f64]| er::truncated_generalized_advantage_estimation(r, &d, lambda, v).unwrap();
        assert_allclose(&g(&sum, &vals), &add(g(&r1, &vals), g(r2, &zeros1)), TOL, "GAE");
        let p = VTraceParams { lambda, ..VTraceParams::default() };
        let vt = |r: &[f64], v: &[f64]| er::vtrace(v, v, r, &d, rho, &p).unwrap();
        assert_allclose(&vt(&sum, &v), &add(vt(&r1, &v), vt(r2, &zeros)), TOL, "V-trace");
        let n = |r: &[f64], v: &[f64]| er::n_step_bootstrapped_returns(r, &d, v, 3, lambda).unwrap();
        assert_allclose(&n(&sum, &v), &add(n(&r1, &v), n(r2, &zeros)), TOL, "n-step");
    }

    #[test]
    fn nothing_after_a_zero_discount_matters(
        (r, mut d, v) in traj(), k_frac in 0.0f64..1.0, noise in vec_in(-5.0, 5.0, 36), lambda in 0.0f64..=1.0,
    ) {
        let t = r.len();
        let k = ((k_frac * t as f64) as usize).min(t - 1);
        d[k] = 0.0;
        // Perturb everything strictly after the episode end, and v_t[k] (multiplied by 0).
        let (mut r2, mut d2, mut v2) = (r.clone(), d.clone(), v.clone());
        for j in k + 1..t {
            r2[j] += noise[j];
            d2[j] = (d2[j] + noise[12 + j].abs()).min(1.0);
            v2[j] += noise[24 + j];
        }
        v2[k] += noise[0];
        let check = |a: Vec<f64>, b: Vec<f64>, what: &str| assert_allclose(&a[..=k], &b[..=k], TOL, what);
        check(er::lambda_returns(&r, &d, &v, lambda).unwrap(), er::lambda_returns(&r2, &d2, &v2, lambda).unwrap(), "λ-returns");
        check(
            er::n_step_bootstrapped_returns(&r, &d, &v, 4, lambda).unwrap(),
            er::n_step_bootstrapped_returns(&r2, &d2, &v2, 4, lambda).unwrap(),
            "n-step",
        );
        let p = VTraceParams { lambda, ..VTraceParams::default() };
        let rho = vec![0.7; t];
        let vm: Vec<f64> = (0..t).map(|i| i as f64 * 0.1).collect();
        check(er::vtrace(&vm, &v, &r, &d, &rho, &p).unwrap(), er::vtrace(&vm, &v2, &r2, &d2, &rho, &p).unwrap(), "V-trace");
        let mut vals = vm.clone();
        vals.push(1.0);
        let mut vals2 = vals.clone();
        for j in k + 1..=t {
            vals2[j] += noise[j];
        }
        check(
            er::truncated_generalized_advantage_estimation(&r, &d, lambda, &vals).unwrap(),
            er::truncated_generalized_advantage_estimation(&r2, &d2, lambda, &vals2).unwrap(),
            "GAE",
        );
        // Splitting at the zero discount gives the same as two separate calls.
        let whole = er::lambda_returns(&r, &d, &v, lambda).unwrap();
        let head = er::lambda_returns(&r[..=k], &d[..=k], &v[..=k], lambda).unwrap();
        assert_allclose(&whole[..=k], &head, TOL, "split: head");
        if k + 1 < t {
            let tail = er::lambda_returns(&r[k + 1..], &d[k + 1..], &v[k + 1..], lambda).unwrap();
            assert_allclose(&whole[k + 1..], &tail, TOL, "split: tail");
        }
    }

    #[test]
    fn batched_equals_per_column(
        b in 1usize..5, t in 1usize..9, seed in vec_in(-2.0, 2.0, 300), disc in discounts(64, 4), lambda in 0.0f64..=1.0,
    ) {
        let n = t * b;
        let r = &seed[..n];
        let v = &seed[100..100 + n];
        let values = &seed[200..200 + n + b];
        let d = &disc[..n];
        let rho: Vec<f64> = seed[150..150 + n].iter().map(|x| x.abs() * 1.2).collect();
        let lam_steps: Vec<f64> = seed[50..50 + n].iter().map(|x| x.abs() / 2.0).collect();
        let mut out = vec![0.0; n];
        batched::lambda_returns_into(r, d, v, lambda, b, &mut out).unwrap();
        let mut out_ps = vec![0.0; n];
        batched::lambda_returns_into(r, d, v, &lam_steps, b, &mut out_ps).unwrap();
        let mut gae = vec![0.0; n];
        batched::truncated_gae_into(r, d, lambda, values, b, &mut gae).unwrap();
        let mut disc_out = vec![0.0; n];
        batched::discounted_returns_into(r, d, &values[..b], b, &mut disc_out).unwrap();
        let mut nstep = vec![0.0; n];
        batched::n_step_bootstrapped_returns_into(r, d, v, 3, lambda, b, &mut nstep).unwrap();
        let mut tdl = vec![0.0; n];
        batched::td_lambda_into(&values[..n], r, d, v, lambda, b, &mut tdl).unwrap();
        let p = VTraceParams { lambda, clip_pg_rho_threshold: 1.3, ..VTraceParams::default() };
        let (mut e, mut a, mut q) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        batched::vtrace_td_error_and_advantage_into(
            &values[..n], v, r, d, &rho, &p, b,
            er::VTraceOutMut { errors: &mut e, pg_advantage: &mut a, q_estimate: &mut q },
        ).unwrap();
        let mut vt = vec![0.0; n];
        batched::vtrace_into(&values[..n], v, r, d, &rho, &p, b, &mut vt).unwrap();
        let mut qret = vec![0.0; n];
        let qt = &seed[250..250 + n - b];
        batched::q_ret_into(qt, v, r, d, er::QRetTrace::Truncated { rho_t: &rho[..n - b], c: 1.0 }, b, &mut qret).unwrap();
        let mut qv = vec![0.0; n];
        batched::general_off_policy_returns_from_q_and_v_into(qt, v, r, d, &rho[..n - b], b, &mut qv).unwrap();
        for j in 0..b {
            let (rc, dc, vc, valc) = (col(r, j, b), col(d, j, b), col(v, j, b), col(values, j, b));
            let rhoc = col(&rho, j, b);
            assert_allclose(&col(&out, j, b), &er::lambda_returns(&rc, &dc, &vc, lambda).unwrap(), TOL, "λ-returns");
            let lc = col(&lam_steps, j, b);
            assert_allclose(&col(&out_ps, j, b), &er::lambda_returns(&rc, &dc, &vc, &lc).unwrap(), TOL, "per-step λ");
            assert_allclose(&col(&gae, j, b), &er::truncated_generalized_advantage_estimation(&rc, &dc, lambda, &valc).unwrap(), TOL, "GAE");
            assert_allclose(&col(&disc_out, j, b), &er::discounted_returns(&rc, &dc, values[j]).unwrap(), TOL, "discounted");
            assert_allclose(&col(&nstep, j, b), &er::n_step_bootstrapped_returns(&rc, &dc, &vc, 3, lambda).unwrap(), TOL, "n-step");
            assert_allclose(&col(&tdl, j, b), &er::td_lambda(&valc[..t], &rc, &dc, &vc, lambda).unwrap(), TOL, "td_lambda");
            let o = er::vtrace_td_error_and_advantage(&valc[..t], &vc, &rc, &dc, &rhoc, &p).unwrap();
            assert_allclose(&col(&e, j, b), &o.errors, TOL, "V-trace errors");
            assert_allclose(&col(&vt, j, b), &o.errors, TOL, "V-trace errors only");
            assert_allclose(&col(&a, j, b), &o.pg_advantage, TOL, "V-trace advantage");
            assert_allclose(&col(&q, j, b), &o.q_estimate, TOL, "V-trace q");
            let qtc = col(qt, j, b);
            let want = er::q_ret(&qtc, &vc, &rc, &dc, er::QRetTrace::Truncated { rho_t: &rhoc[..t - 1], c: 1.0 }).unwrap();
            assert_allclose(&col(&qret, j, b), &want, TOL, "Q^ret");
            let want = er::general_off_policy_returns_from_q_and_v(&qtc, &vc, &rc, &dc, &rhoc[..t - 1]).unwrap();
            assert_allclose(&col(&qv, j, b), &want, TOL, "q_and_v");
        }
    }

    #[test]
    fn batched_retrace_equals_per_column(cols in proptest::collection::vec(off_policy(), 1..4), lambda in 0.0f64..=1.0) {
        // Columns must share T and A: truncate to the smallest and drop mismatched A.
        let na = cols[0].na;
        let cols: Vec<&OffPolicy> = cols.iter().filter(|c| c.na == na).collect();
        let t = cols.iter().map(|c| c.t()).min().unwrap();
        let b = cols.len();
        let args: Vec<_> = cols.iter().map(|c| c.rlax_args()).collect();
        let (mut q_tm1, mut q_t, mut a_tm1, mut a_t, mut r, mut d, mut pi, mut mu) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for s in 0..t {
            for (c, x) in cols.iter().zip(&args) {
                q_tm1.extend_from_slice(&x.0[s * na..(s + 1) * na]);
                q_t.extend_from_slice(&x.1[s * na..(s + 1) * na]);
                a_tm1.push(x.2[s]);
                a_t.push(x.3[s]);
                pi.extend_from_slice(&x.4[s * na..(s + 1) * na]);
                mu.push(x.5[s]);
                r.push(c.r[s]);
                d.push(c.d[s]);
            }
        }
        let mut out = vec![0.0; t * b];
        batched::retrace_into(&q_tm1, &q_t, &a_tm1, &a_t, &r, &d, &pi, &mu, lambda, 1e-8, b, &mut out).unwrap();
        for (j, (c, x)) in cols.iter().zip(&args).enumerate() {
            let want = er::retrace(
                &x.0[..t * na], &x.1[..t * na], &x.2[..t], &x.3[..t], &c.r[..t], &c.d[..t], &x.4[..t * na], &x.5[..t], lambda, 1e-8,
            ).unwrap();
            assert_allclose(&col(&out, j, b), &want, TOL, "batched Retrace");
        }
    }
}
