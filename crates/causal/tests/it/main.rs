#![allow(clippy::unwrap_used, clippy::float_cmp)]

use eirl_causal::{
    Graph, GraphBcConfig, GraphPolicy, InputMode, SearchConfig, disagreement, kl, most_disputed,
    ridge, search_graphs, slot_pairs, train_graph_policy,
};
use eirl_envs::{Actions, Nuisance, Space};
use eirl_imitation::{Demonstrations, Episode};
use eirl_models::{Parameterized, PolicyHead};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Ridge on graphs recovers a planted linear score: exactly up to the shrinkage for
    /// noiseless scores over all 2^n graphs.
    #[test]
    fn ridge_recovers_a_planted_score(
        w in prop::collection::vec(-50.0f64..50.0, 1..6),
        b in -200.0f64..0.0,
    ) {
        let n = w.len();
        let graphs = Graph::all(n).unwrap();
        let x: Vec<Vec<f64>> = graphs.iter().map(Graph::as_f64).collect();
        let y: Vec<f64> = x.iter().map(|r| b + r.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>()).collect();
        let fit = ridge(&x, &y, 1e-9).unwrap();
        for (got, want) in fit.coef.iter().zip(&w) {
            prop_assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        prop_assert!((fit.intercept - b).abs() < 1e-6);
        // With α = 1 over all graphs (balanced design, Σx̃² = 2^n / 4 per feature) each weight
        // shrinks by exactly (2^n/4) / (2^n/4 + 1).
        let fit = ridge(&x, &y, 1.0).unwrap();
        let q = (1u64 << n) as f64 / 4.0;
        for (got, want) in fit.coef.iter().zip(&w) {
            prop_assert!((got - want * q / (q + 1.0)).abs() < 1e-8);
        }
        // The sign pattern (the search's mode) is the planted one.
        prop_assert_eq!(
            fit.coef.iter().map(|c| *c > 0.0).collect::<Vec<_>>(),
            w.iter().map(|c| *c > 0.0).collect::<Vec<_>>()
        );
    }
}

#[test]
fn search_finds_a_planted_graph_in_twenty_iterations() {
    // The official setting: 3 features, 20 iterations, T = 10, α = 1; noisy episode-like scores.
    let mut hits = 0;
    for seed in 0..20 {
        let mut noise = ChaCha8Rng::seed_from_u64(seed + 100);
        let trace = search_graphs(3, &SearchConfig::default(), seed, |g| {
            let e = g.as_f64();
            let eps: f64 = rand::Rng::gen_range(&mut noise, -5.0..5.0);
            Ok::<_, eirl_causal::CausalError>(
                -160.0 + 25.0 * e[0] + 20.0 * e[1] - 40.0 * e[2] + eps,
            )
        })
        .unwrap();
        assert_eq!(trace.len(), 20);
        hits += usize::from(trace[19].mode == Graph::new(vec![true, true, false]));
    }
    assert!(hits >= 18, "planted graph found in {hits} of 20 seeds");
    assert!(
        search_graphs(
            3,
            &SearchConfig {
                iterations: 0,
                ..SearchConfig::default()
            },
            0,
            |_| Ok::<_, eirl_causal::CausalError>(0.0)
        )
        .is_err()
    );
    assert!(
        search_graphs(3, &SearchConfig::default(), 0, |_| Ok::<
            _,
            eirl_causal::CausalError,
        >(f64::NAN))
        .is_err()
    );
}

/// A hand-made graph policy over one feature: logits `[0, c·g]` (the weight on the `g` input).
fn one_feature_policy(c: f32) -> GraphPolicy {
    let head = PolicyHead::Categorical { num_actions: 2 };
    let mut p = GraphPolicy::new(1, head, &[], InputMode::Graph, 0).unwrap();
    let params = vec![
        (vec![2, 2], vec![0.0, 0.0, 0.0, c]),
        (vec![2], vec![0.0, 0.0]),
    ];
    p.network_mut().import_params(&params).unwrap();
    p
}

#[test]
fn disagreement_is_the_mean_kl_to_the_mixture() {
    let c = 2.0f32;
    let p = one_feature_policy(c);
    let graphs = Graph::all(1).unwrap();
    // π_{G=0} = (½, ½), π_{G=1} = (1, e^c)/(1 + e^c), π_mix = their mean.
    let p0 = [0.5, 0.5];
    let e = f64::from(c).exp();
    let p1 = [1.0 / (1.0 + e), e / (1.0 + e)];
    let mix = [(p0[0] + p1[0]) / 2.0, (p0[1] + p1[1]) / 2.0];
    let want = (kl(&p0, &mix) + kl(&p1, &mix)) / 2.0;
    let d = disagreement(&p, &[0.3, -1.0], &graphs).unwrap();
    assert_eq!(d.len(), 2);
    for v in &d {
        assert!((v - want).abs() < 1e-6, "{v} vs {want}");
    }
    // A policy that ignores the graph has no disagreement.
    let same = disagreement(&one_feature_policy(0.0), &[0.3], &graphs).unwrap();
    assert!(same[0].abs() < 1e-12);
    assert!(disagreement(&p, &[0.3], &[]).is_err());
    assert_eq!(most_disputed(&[0.1, 0.5, 0.3, 0.5], 3), vec![1, 3, 2]);
}

#[test]
fn graph_inputs_are_masked_features_then_the_graph() {
    let head = PolicyHead::Categorical { num_actions: 3 };
    let p = GraphPolicy::new(3, head, &[8], InputMode::Graph, 0).unwrap();
    let g = Graph::new(vec![true, false, true]);
    let x = p.encode(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &g).unwrap();
    assert_eq!(
        x,
        [1.0, 0.0, 3.0, 1.0, 0.0, 1.0, 4.0, 0.0, 6.0, 1.0, 0.0, 1.0]
    );
    assert!(p.encode(&[1.0, 2.0, 3.0], &Graph::full(2)).is_err());
    let plain = GraphPolicy::new(3, head, &[8], InputMode::Plain, 0).unwrap();
    assert_eq!(plain.encode(&[1.0, 2.0, 3.0], &g).unwrap(), [1.0, 2.0, 3.0]);
    assert!(GraphPolicy::new(3, head, &[8], InputMode::Dropout { p: 1.0 }, 0).is_err());
}

/// Two episodes of a 1-D state with actions, recorded on a confounded env (slot in column 1).
fn tiny_demos() -> Demonstrations {
    let mut d = Demonstrations::new(
        "MountainCar-v0-confounded",
        2,
        eirl_envs::ActionKind::Discrete,
    );
    for (states, acts) in [
        (vec![0.0, 1.0, 2.0, 3.0], vec![2, 2, 0]),
        (vec![5.0, 6.0, 7.0], vec![1, 0]),
    ] {
        let obs: Vec<f32> = states.iter().flat_map(|s| [*s, 9.0]).collect();
        d.push_episode(&Episode {
            obs,
            rewards: vec![-1.0; acts.len()],
            actions: Actions::Discrete(acts),
            terminated: true,
        })
        .unwrap();
    }
    d
}

#[test]
fn slot_pairs_drop_the_first_step_and_fill_the_slot() {
    let demos = tiny_demos();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let conf = slot_pairs(
        &demos,
        1,
        &Space::Discrete(3),
        Nuisance::PreviousAction,
        &mut rng,
    )
    .unwrap();
    assert_eq!(conf.dim, 2);
    assert_eq!(conf.obs, [1.0, 2.0, 2.0, 2.0, 6.0, 1.0]);
    assert_eq!(conf.actions, Actions::Discrete(vec![2, 0, 0]));
    let orig = slot_pairs(
        &demos,
        1,
        &Space::Discrete(3),
        Nuisance::RandomAction,
        &mut rng,
    )
    .unwrap();
    assert_eq!(orig.actions, conf.actions);
    let states: Vec<f32> = orig.obs.chunks(2).map(|r| r[0]).collect();
    assert_eq!(states, [1.0, 2.0, 6.0]);
    assert!(
        orig.obs
            .chunks(2)
            .all(|r| (0.0..=2.0).contains(&r[1]) && r[1].fract() == 0.0)
    );
    assert!(
        slot_pairs(
            &demos,
            3,
            &Space::Discrete(3),
            Nuisance::RandomAction,
            &mut rng
        )
        .is_err()
    );
}

#[test]
fn graph_training_learns_which_feature_matters() {
    // Labels depend on feature 0 only; feature 1 is noise. After training, π_G with feature 0
    // kept fits the labels, π_G with it dropped cannot: the per-graph losses order accordingly.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = 400;
    let mut obs = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..n {
        let a: f32 = rand::Rng::gen_range(&mut rng, -1.0..1.0);
        let b: f32 = rand::Rng::gen_range(&mut rng, -1.0..1.0);
        obs.extend([a, b]);
        labels.push(usize::from(a > 0.0));
    }
    let labels = Actions::Discrete(labels);
    let head = PolicyHead::Categorical { num_actions: 2 };
    let mut p = GraphPolicy::new(2, head, &[32, 32], InputMode::Graph, 3).unwrap();
    let cfg = GraphBcConfig {
        hidden: vec![32, 32],
        updates: 1500,
        ..GraphBcConfig::default()
    };
    let report = train_graph_policy(&mut p, &obs, &labels, &cfg, 4).unwrap();
    assert_eq!(report.updates, 1500);
    assert_eq!(report.loss_per_500.len(), 3);
    let loss = |bits: [bool; 2]| p.loss(&obs, &labels, &Graph::new(bits.to_vec())).unwrap();
    let (with0, without0) = (loss([true, false]), loss([false, true]));
    assert!(with0 < 0.3, "feature 0 kept: {with0}");
    assert!(
        without0 > 0.6,
        "feature 0 dropped: {without0} (ln 2 = 0.69)"
    );
    assert!(loss([true, true]) < 0.3);
    // Bad data is refused.
    assert!(train_graph_policy(&mut p, &obs[..3], &labels, &cfg, 0).is_err());
}
