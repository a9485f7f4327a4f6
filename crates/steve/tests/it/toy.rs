//! The toy study at a reduced size: its mechanics, determinism and the paper's two claims.

use eirl_steve::toy::{ToyConfig, ToyMethod, ToyModel, run_study, run_trial, updates_to_threshold};

fn small() -> ToyConfig {
    ToyConfig {
        nonterminal_states: 30,
        updates: 1500,
        trials: 4,
        ..ToyConfig::default()
    }
}

fn mean_curve(cfg: &ToyConfig, method: ToyMethod, model: ToyModel) -> Vec<f64> {
    let mut sum = vec![0.0; cfg.updates];
    for t in 0..cfg.trials {
        for (s, e) in sum
            .iter_mut()
            .zip(run_trial(cfg, method, model, 10 + t as u64).unwrap())
        {
            *s += e / cfg.trials as f64;
        }
    }
    sum
}

#[test]
fn td_with_enough_updates_finds_the_true_values_and_runs_are_seeded() {
    let cfg = ToyConfig {
        nonterminal_states: 10,
        updates: 3000,
        trials: 1,
        ..ToyConfig::default()
    };
    let e = run_trial(&cfg, ToyMethod::Td, ToyModel::Oracle, 1).unwrap();
    assert!(
        e[0] > 1.0 && *e.last().unwrap() < 1e-12,
        "{} → {}",
        e[0],
        e.last().unwrap()
    );
    assert_eq!(
        e,
        run_trial(&cfg, ToyMethod::Td, ToyModel::Oracle, 1).unwrap()
    );
    let rows = run_study(
        &ToyConfig {
            updates: 5,
            trials: 2,
            ..cfg
        },
        0,
        |_| {},
    )
    .unwrap();
    assert_eq!(rows.len(), 3 * 2 * 2 * 5);
    // td consults no model: its rows are the same runs under both labels.
    let td = |m| {
        rows.iter()
            .filter(|r| r.method == ToyMethod::Td && r.model == m)
            .map(|r| r.mse)
            .collect::<Vec<_>>()
    };
    assert_eq!(td(ToyModel::Oracle), td(ToyModel::Noisy));
}

#[test]
fn the_papers_claims_hold_at_a_small_size() {
    let cfg = small();
    let threshold = 1.0;
    let td = updates_to_threshold(
        &mean_curve(&cfg, ToyMethod::Td, ToyModel::Oracle),
        threshold,
    );
    let mve = updates_to_threshold(
        &mean_curve(&cfg, ToyMethod::Mve, ToyModel::Oracle),
        threshold,
    );
    let steve = updates_to_threshold(
        &mean_curve(&cfg, ToyMethod::Steve, ToyModel::Oracle),
        threshold,
    );
    // Oracle model: both expansions reach the threshold in fewer updates than TD.
    let (td, mve, steve) = (td.unwrap(), mve.unwrap(), steve.unwrap());
    assert!(
        mve * 2 < td && steve * 2 < td,
        "td {td}, mve {mve}, steve {steve}"
    );
    // Noisy model: MVE stays far from the true values; STEVE converges.
    let mve_noisy = mean_curve(&cfg, ToyMethod::Mve, ToyModel::Noisy);
    let steve_noisy = mean_curve(&cfg, ToyMethod::Steve, ToyModel::Noisy);
    assert!(
        *mve_noisy.last().unwrap() > 10.0,
        "noisy MVE ends at {}",
        mve_noisy.last().unwrap()
    );
    assert!(
        updates_to_threshold(&steve_noisy, threshold).is_some(),
        "noisy STEVE ends at {}",
        steve_noisy.last().unwrap()
    );
}

#[test]
fn threshold_helper() {
    assert_eq!(updates_to_threshold(&[5.0, 0.5, 2.0, 0.1], 1.0), Some(3));
    assert_eq!(updates_to_threshold(&[0.5, 0.1], 1.0), Some(0));
    assert_eq!(updates_to_threshold(&[0.5, 3.0], 1.0), None);
    assert_eq!(updates_to_threshold(&[f64::NAN], 1.0), None);
}
