//! The grid, the tasks' dynamics, and the planner's backups.

use std::f64::consts::PI;

use eirl_svp::{NUM_ACTIONS, PlanConfig, RectangleGrid, Task, linspace, plan, simulate};
use proptest::prelude::*;

#[test]
fn linspace_hits_both_ends_exactly() {
    let c = linspace(-1.2, 0.5, 50);
    assert_eq!(c.len(), 50);
    assert_eq!(c[0].to_bits(), (-1.2f64).to_bits());
    assert_eq!(c[49].to_bits(), 0.5f64.to_bits());
    assert!(c.windows(2).all(|w| w[0] < w[1]));
    // Even counts: 0 is never a cut or an action.
    assert!(Task::MountainCar.actions().iter().all(|&u| u != 0.0));
    assert_eq!(Task::MountainCar.actions().len(), NUM_ACTIONS);
}

#[test]
fn states_are_numbered_first_dimension_fastest() {
    let grid = Task::MountainCar.grid();
    assert_eq!(grid.len(), 2500);
    let mut x = [0.0; 2];
    grid.point(1, &mut x);
    assert_eq!(x, [grid.cuts(0)[1], grid.cuts(1)[0]]);
    grid.point(50, &mut x);
    assert_eq!(x, [grid.cuts(0)[0], grid.cuts(1)[1]]);
    assert_eq!(Task::CartPole.grid().len(), 10_000);
}

#[test]
fn interpolants_follow_grid_interpolations() {
    let grid = RectangleGrid::new(vec![vec![0.0, 1.0, 2.0], vec![0.0, 10.0]]);
    let mut w = Vec::new();
    // On a grid point: one corner.
    grid.interpolants_into(&[1.0, 10.0], &mut w);
    assert_eq!(w, vec![(1 + 3, 1.0)]);
    // Off the grid: clamped to the edge.
    grid.interpolants_into(&[-5.0, 99.0], &mut w);
    assert_eq!(w, vec![(3, 1.0)]);
    // Inside a cell: four corners, bilinear weights.
    grid.interpolants_into(&[0.25, 5.0], &mut w);
    let mut w2 = w.clone();
    w2.sort_by_key(|c| c.0);
    let expect = [(0, 0.375), (1, 0.125), (3, 0.375), (4, 0.125)];
    for ((i, a), (j, b)) in w2.iter().zip(expect) {
        assert_eq!(*i, j);
        assert!((a - b).abs() < 1e-15);
    }
}

proptest! {
    /// Multilinear interpolation reproduces any function linear in each coordinate inside the
    /// grid, and its weights sum to 1 everywhere.
    #[test]
    fn interpolation_is_exact_on_affine_functions(
        x0 in -1.5f64..0.8, x1 in -0.1f64..0.1, a in -3.0f64..3.0, b in -3.0f64..3.0,
    ) {
        let task = Task::MountainCar;
        let grid = task.grid();
        let f = |x: &[f64]| 1.0 + a * x[0] + b * x[1] * 10.0;
        let mut p = [0.0; 2];
        let values: Vec<f64> = (0..grid.len()).map(|s| { grid.point(s, &mut p); f(&p) }).collect();
        let mut w = Vec::new();
        let clamped = [x0.clamp(-1.2, 0.5), x1.clamp(-0.07, 0.07)];
        let got = grid.interpolate(&values, &[x0, x1], &mut w);
        prop_assert!((w.iter().map(|c| c.1).sum::<f64>() - 1.0).abs() < 1e-12);
        prop_assert!((got - f(&clamped)).abs() < 1e-9, "{got} vs {}", f(&clamped));
    }
}

#[test]
fn dynamics_and_rewards_match_the_official_formulas() {
    let mut next = [0.0; 2];
    // Mountain car: semi-implicit, velocity clamped, position clamped.
    Task::MountainCar.transition(&[-0.5, 0.0], 1.0, 0.0, &mut next);
    let v = 0.001 - 0.0025 * (-1.5f64).cos();
    assert!((next[1] - v).abs() < 1e-15 && (next[0] - (-0.5 + v)).abs() < 1e-15);
    Task::MountainCar.transition(&[0.49, 0.07], 1.0, 0.0, &mut next);
    assert_eq!(next[0], 0.5);
    assert_eq!(Task::MountainCar.reward(&[0.5, 0.0], 0.3), 10.0);
    assert_eq!(Task::MountainCar.reward(&[0.4999, 0.0], 0.3), -1.0);
    // Pendulum: θ wraps into [−π, π]; θ̇ uses the old state; reward has the −1 offset.
    Task::InvertedPendulum.transition(&[3.0, 10.0], 0.5, 0.0, &mut next);
    let dt = PI / 10.0;
    assert!((next[0] - (3.0 + dt * 10.0 - 2.0 * PI)).abs() < 1e-12);
    assert!((next[1] - (10.0 + dt * (3.0f64.sin() - 10.0 + 0.5))).abs() < 1e-12);
    assert!((Task::InvertedPendulum.reward(&[0.0, 0.0], 1.0) - (1.0 - 0.1 - 1.0)).abs() < 1e-15);
    // Double integrator: clamped, reward independent of u.
    Task::DoubleIntegrator.transition(&[2.99, 2.99], 1.0, 0.0, &mut next);
    assert_eq!(next, [3.0, 3.0]);
    assert_eq!(Task::DoubleIntegrator.reward(&[1.0, 2.0], 0.7), -2.5);
    // Cart-pole: θ clamps at ±π/2; reward cos⁴(15θ) is 0.5625 at ±10° and 0 at ±30°.
    let mut n4 = [0.0; 4];
    Task::CartPole.transition(&[1.5, 3.0, 0.0, 0.0], 0.0, 0.0, &mut n4);
    assert_eq!(n4[0], PI / 2.0);
    let r = |deg: f64| Task::CartPole.reward(&[deg.to_radians(), 0.0, 0.0, 0.0], 0.0);
    assert!((r(10.0) - 0.5625).abs() < 1e-12 && r(30.0).abs() < 1e-12);
}

#[test]
fn backups_use_the_previous_value_function() {
    // Two sweeps of full value iteration: Q₂(s, a) = r(s, a) + γ V₁(f(s, a)), V₁ = max_a Q₁.
    let task = Task::DoubleIntegrator;
    let one = plan(
        task,
        &PlanConfig {
            p: 1.0,
            max_iters: 1,
            ..PlanConfig::default()
        },
        |_, _| {},
    )
    .unwrap();
    let two = plan(
        task,
        &PlanConfig {
            p: 1.0,
            max_iters: 2,
            ..PlanConfig::default()
        },
        |_, _| {},
    )
    .unwrap();
    let grid = task.grid();
    let actions = task.actions();
    let (mut x, mut next, mut w) = ([0.0; 2], [0.0; 2], Vec::new());
    for (s, a) in [(0, 0), (1234, 500), (2499, 999), (77, 3)] {
        grid.point(s, &mut x);
        // Q₁ = r (V₀ = 0).
        assert_eq!(one.q.get(s, a), task.reward(&x, actions[a]));
        task.transition(&x, actions[a], 0.0, &mut next);
        let expect = task.reward(&x, actions[a]) + 0.95 * grid.interpolate(&one.v, &next, &mut w);
        assert!((two.q.get(s, a) - expect).abs() < 1e-12);
    }
    assert_eq!(two.backups(), 2 * 2500 * 1000);
}

#[test]
fn svp_backs_up_only_the_sampled_entries_and_completes_the_rest() {
    let task = Task::MountainCar;
    let cfg = PlanConfig {
        p: 0.3,
        max_iters: 3,
        seed: 7,
        ..PlanConfig::default()
    };
    let a = plan(task, &cfg, |_, _| {}).unwrap();
    let b = plan(task, &cfg, |_, _| {}).unwrap();
    assert_eq!(a.q, b.q, "same seed, same plan");
    let per_iter = 2500.0 * 1000.0 * 0.3;
    for h in &a.history {
        assert!((h.backups as f64 - per_iter).abs() < 5.0 * (per_iter * 0.7).sqrt());
        assert!(h.completion_iterations >= 1);
    }
    assert!(a.q.as_slice().iter().all(|v| v.is_finite()));
    // Without completion the unsampled entries would still be 0 after one sweep; with it, every
    // row's greedy value is a completed estimate near the true one-step value.
    let one = plan(
        task,
        &PlanConfig {
            max_iters: 1,
            ..cfg.clone()
        },
        |_, _| {},
    )
    .unwrap();
    let zeros = one.q.as_slice().iter().filter(|&&v| v == 0.0).count();
    assert_eq!(zeros, 0);
}

#[test]
fn bad_settings_are_errors() {
    for cfg in [
        PlanConfig {
            p: 0.0,
            ..PlanConfig::default()
        },
        PlanConfig {
            p: 1.5,
            ..PlanConfig::default()
        },
        PlanConfig {
            gamma: 1.0,
            ..PlanConfig::default()
        },
        PlanConfig {
            max_iters: 0,
            ..PlanConfig::default()
        },
        PlanConfig {
            tolerance: f64::NAN,
            ..PlanConfig::default()
        },
    ] {
        assert!(plan(Task::MountainCar, &cfg, |_, _| {}).is_err());
    }
    let e = "pendulum".parse::<Task>().unwrap_err().to_string();
    assert!(e.contains("inverted-pendulum"), "{e}");
}

#[test]
fn simulation_counts_steps_to_the_goal() {
    // A Q that always picks the largest action (push right) on mountain car; from x₀ grids most
    // runs need the full horizon or reach the flag; returns are −(steps) (+10 never collected
    // since the run stops on arrival).
    let q = eirl_matrix_estimation::Matrix::from_fn(2500, 1000, |_, a| a as f64);
    let sim = simulate(Task::MountainCar, &q, 50, 0);
    assert!(sim.official_metric > 0.0 && sim.official_metric <= 500.0);
    assert!((sim.mean_return + sim.official_metric).abs() < 1e-9);
}

#[test]
fn centred_completion_keeps_the_backups() {
    // One iteration from Q = 0: the backups are the rewards, which depend on u on the pendulum.
    // Centring rows (subtract, complete, add back) must leave the backed-up entries as they were.
    let task = Task::InvertedPendulum;
    let cfg = PlanConfig {
        p: 0.5,
        max_iters: 1,
        seed: 1,
        center_rows: true,
        soft_impute: eirl_matrix_estimation::SoftImpute {
            max_iters: 3,
            ..Default::default()
        },
        ..PlanConfig::default()
    };
    let done = plan(task, &cfg, |_, _| {}).unwrap();
    let grid = task.grid();
    let actions = task.actions();
    let mut x = [0.0; 2];
    let (mut matched, mut total) = (0, 0);
    for s in (0..2500).step_by(7) {
        grid.point(s, &mut x);
        for a in (0..1000).step_by(3) {
            total += 1;
            if (done.q.get(s, a) - task.reward(&x, actions[a])).abs() < 1e-9 {
                matched += 1;
            }
        }
    }
    // About half the entries were backed up and are kept; completed ones differ slightly.
    let frac = matched as f64 / total as f64;
    assert!((0.45..0.6).contains(&frac), "kept fraction {frac}");
    assert!(done.q.as_slice().iter().all(|v| v.is_finite()));
}

/// Three states × 1000 actions with hand-set reference rows: the measures of
/// [`eirl_svp::agreement`] computed by hand.
#[test]
fn agreement_measures_match_hand_computation() {
    use eirl_matrix_estimation::Matrix;
    use eirl_svp::{NEAR_OPTIMAL, agreement};
    let na = NUM_ACTIONS;
    // Reference: row 0 peaks at action 10 (value 1), 0 elsewhere, with action 11 at 0.995 (a
    // near-tie); row 1 is a ramp a/999 (best 999, spread 1); row 2 is flat.
    let q_ref = Matrix::from_fn(3, na, |s, a| match s {
        0 if a == 10 => 1.0,
        0 if a == 11 => 0.995,
        0 => 0.0,
        1 => a as f64 / 999.0,
        _ => 5.0,
    });
    let v_ref = vec![1.0, 1.0, 5.0];
    // The plan picks action 11 in row 0 (loses 0.005 of the spread: near-optimal), action 899
    // in row 1 (loses 100/999: not near-optimal), anything in the flat row.
    let q = Matrix::from_fn(3, na, |s, a| match (s, a) {
        (0, 11) | (1, 899) | (2, 0) => 1.0,
        _ => 0.0,
    });
    let v = vec![1.0, 1.0, 1.0];
    let ag = agreement(Task::MountainCar, &q, &v, &q_ref, &v_ref);
    assert_eq!(
        ag.policy_agreement,
        1.0 / 3.0,
        "only the flat row's argmax (0) agrees"
    );
    assert!((ag.near_optimal - 2.0 / 3.0).abs() < 1e-12);
    let loss = (0.005 + 100.0 / 999.0 + 0.0) / 3.0;
    assert!(
        (ag.mean_relative_loss - loss).abs() < 1e-12,
        "{}",
        ag.mean_relative_loss
    );
    // Near-ties within 1% of the spread: row 0 has 2, row 1 has the actions ≥ 999 − 9.99
    // (990..=999, 10 of them), the flat row all 1000.
    assert_eq!(NEAR_OPTIMAL, 0.01);
    assert!((ag.reference_near_ties - (2.0 + 10.0 + 1000.0) / 3.0).abs() < 1e-12);
    assert!((ag.value_rel_error - (16.0f64 / 27.0).sqrt()).abs() < 1e-12);
}
