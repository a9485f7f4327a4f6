//! The paper's two findings on MountainCar at small, fixed budgets: BC on CONFOUNDED
//! observations imitates worse than on ORIGINAL ones, and policy execution picks a graph
//! without the previous-action slot that recovers the gap.

#![allow(clippy::unwrap_used, clippy::float_cmp)]

use eirl_causal_confusion::{CausalConfusionConfig, Mode, diagnose, intervene};

/// The official setting (100k demonstration steps, 300 training samples) with a one-point
/// sample sweep.
fn small() -> CausalConfusionConfig {
    CausalConfusionConfig {
        sample_sweep: vec![300],
        ..CausalConfusionConfig::default()
    }
}

#[test]
fn confounded_bc_imitates_worse_than_original() {
    let r = diagnose(&small(), 0, None, &mut |_| {}).unwrap();
    assert!(r.demo_steps >= 5_000);
    assert!(r.expert_return > -130.0, "expert {}", r.expert_return);
    assert_eq!(r.points.len(), 1);
    assert!(
        r.confounded_return + 30.0 < r.original_return,
        "ORIGINAL {} vs CONFOUNDED {}",
        r.original_return,
        r.confounded_return
    );
}

#[test]
fn policy_execution_drops_the_nuisance_and_recovers_the_gap() {
    let r = intervene(&small(), Mode::PolicyExecution, 20, 0, None, &mut |_| {}).unwrap();
    assert_eq!(r.episodes_or_queries_used, 20);
    // MountainCar pays −1 per step: the episodes' steps are minus the sum of their returns.
    let steps: f64 = r.trace.iter().map(|s| -s.score).sum();
    assert_eq!(r.intervention_env_steps as f64, steps);
    assert_eq!(r.curve.len(), 20);
    assert_eq!(r.trace.len(), 20);
    assert_eq!(r.graph_returns.len(), 8);
    // The slot (feature 2, the previous action) is not a cause: the chosen graph drops it.
    assert!(!r.chosen_graph.edges()[2], "chose {}", r.chosen_graph);
    let gap = r.gap_recovered.unwrap();
    assert!(gap >= 0.5, "recovered {gap} of the gap: {r:?}");
    // The reported return of the chosen graph is its evaluated return.
    let g = r
        .graph_returns
        .iter()
        .find(|g| g.graph == r.chosen_graph)
        .unwrap();
    assert_eq!(g.mean_return, r.final_return);
}

#[test]
fn expert_queries_are_counted_and_bad_input_is_refused() {
    let r = intervene(&small(), Mode::ExpertQuery, 50, 0, None, &mut |_| {}).unwrap();
    assert_eq!(r.episodes_or_queries_used, 50);
    assert_eq!(r.curve.last().unwrap().used, 50);
    assert!(r.dagger.last().unwrap().used >= 50);
    assert!(intervene(&small(), Mode::ExpertQuery, 0, 0, None, &mut |_| {}).is_err());
    let bad = CausalConfusionConfig {
        env_id: "CartPole-v1".into(),
        ..small()
    };
    let err = diagnose(&bad, 0, None, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rich_starts") || err.contains("expert"),
        "{err}"
    );
    let too_few = CausalConfusionConfig {
        demo_steps: 200,
        ..small()
    };
    let err = diagnose(&too_few, 0, None, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("demo_steps"), "{err}");
}

#[test]
fn continuous_task_imitates_from_original_observations() {
    // MountainCarContinuous-v0: Gaussian policies, the continuous previous action in the slot.
    let cfg = CausalConfusionConfig {
        sample_sweep: vec![300],
        ..CausalConfusionConfig::for_env("MountainCarContinuous-v0").unwrap()
    };
    assert_eq!(cfg.expert, "mountaincarcontinuous-pump");
    assert!(cfg.rich_starts);
    let r = diagnose(&cfg, 0, None, &mut |_| {}).unwrap();
    assert!(r.expert_return > 80.0, "expert {}", r.expert_return);
    assert!(
        r.original_return > 80.0,
        "BC ORIGINAL {}",
        r.original_return
    );
    assert!(CausalConfusionConfig::for_env("Acrobot-v1").is_none());
}
