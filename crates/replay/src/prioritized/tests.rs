use super::*;
use eirl_testkit::{Tol, isclose};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Transition number `k`: every field encodes `k`.
fn push_numbered(per: &mut PrioritizedReplay, k: usize) {
    let x = k as f32;
    let obs = vec![x; per.obs_dim()];
    let next = vec![x + 0.5; per.obs_dim()];
    let act = vec![-x; per.act_dim()];
    per.push(&obs, &act, x, 0.99, &next)
        .expect("valid transition");
}

fn filled(capacity: usize, pushes: usize, alpha: f64) -> PrioritizedReplay {
    let mut per = PrioritizedReplay::new(capacity, 2, 1, alpha).expect("valid");
    for k in 0..pushes {
        push_numbered(&mut per, k);
    }
    per
}

/// Chi-square statistic of observed counts against expected probabilities.
fn chi_square(counts: &[usize], probs: &[f64]) -> f64 {
    let n: usize = counts.iter().sum();
    counts
        .iter()
        .zip(probs)
        .map(|(&c, &p)| {
            let e = n as f64 * p;
            (c as f64 - e).powi(2) / e
        })
        .sum()
}

fn sample_counts(per: &PrioritizedReplay, draws: usize, batch: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts = vec![0usize; per.len()];
    let mut out = TransitionBatch::default();
    for _ in 0..draws / batch {
        per.sample_into(batch, 0.5, &mut rng, &mut out)
            .expect("sample");
        for &i in &out.indices {
            counts[i] += 1;
        }
    }
    counts
}

#[test]
fn rejects_bad_hyperparameters() {
    for alpha in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            PrioritizedReplay::new(8, 2, 1, alpha),
            Err(ReplayError::InvalidAlpha(_))
        ));
    }
    assert_eq!(
        PrioritizedReplay::new(0, 2, 1, 0.6).err(),
        Some(ReplayError::ZeroCapacity)
    );
    let per = PrioritizedReplay::new(8, 2, 1, 0.6).expect("valid");
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            per.clone().with_priority_eps(eps),
            Err(ReplayError::InvalidEpsilon(_))
        ));
    }
    for beta in [-0.5, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            per.clone().with_beta(beta),
            Err(ReplayError::InvalidBeta(_))
        ));
    }
    let per = filled(8, 3, 0.6);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert!(matches!(
        per.sample(4, f64::NAN, &mut rng),
        Err(ReplayError::InvalidBeta(_))
    ));
    assert_eq!(
        per.sample(0, 0.4, &mut rng).err(),
        Some(ReplayError::ZeroBatchSize)
    );
    let empty = PrioritizedReplay::new(8, 2, 1, 0.6).expect("valid");
    assert_eq!(
        empty.sample(4, 0.4, &mut rng).err(),
        Some(ReplayError::Empty)
    );
}

#[test]
fn new_items_get_max_priority_seen() {
    let mut per = filled(8, 2, 0.5).with_priority_eps(0.01).expect("eps");
    assert!(isclose(per.priority_mass(0).expect("slot"), 1.0, Tol::F64));
    per.update_priorities(&[0, 1], &[3.99, 0.5])
        .expect("update");
    assert!(isclose(per.max_priority(), 4.0, Tol::F64));
    push_numbered(&mut per, 2);
    assert!(isclose(per.priority_mass(2).expect("slot"), 2.0, Tol::F64));
    // Lowering priorities does not lower the maximum.
    per.update_priorities(&[0], &[0.0]).expect("update");
    push_numbered(&mut per, 3);
    assert!(isclose(per.priority_mass(3).expect("slot"), 2.0, Tol::F64));
    assert!(isclose(per.priority_mass(0).expect("slot"), 0.1, Tol::F64));
    assert_eq!(per.priority_mass(4), None);
}

#[test]
fn eviction_resets_slot_to_max_priority() {
    let mut per = filled(3, 3, 1.0);
    per.update_priorities(&[0, 1, 2], &[0.0, 2.0, 0.5])
        .expect("update");
    push_numbered(&mut per, 3); // overwrites slot 0
    assert_eq!(per.len(), 3);
    assert!(isclose(
        per.priority_mass(0).expect("slot"),
        2.0 + DEFAULT_PRIORITY_EPS,
        Tol::F64
    ));
    let rewards: Vec<f32> = per.iter().map(|t| t.reward).collect();
    assert!(eirl_testkit::allclose(&rewards, &[1.0, 2.0, 3.0], Tol::F32));
}

#[test]
fn bad_updates_change_nothing() {
    let mut per = filled(8, 5, 0.6);
    per.update_priorities(&[0, 1, 2, 3, 4], &[0.1, 0.2, 0.3, 0.4, 0.5])
        .expect("update");
    let before: Vec<f64> = (0..5).filter_map(|i| per.priority_mass(i)).collect();
    let max_before = per.max_priority();
    let cases: Vec<(Vec<usize>, Vec<f64>)> = vec![
        (vec![0, 1], vec![1.0]),
        (vec![0, 5], vec![9.0, 1.0]),
        (vec![0, 7], vec![9.0, 1.0]),
        (vec![0, 1], vec![9.0, f64::NAN]),
        (vec![0, 1], vec![9.0, -1e-3]),
        (vec![0, 1], vec![9.0, f64::INFINITY]),
    ];
    for (indices, priorities) in cases {
        assert!(per.update_priorities(&indices, &priorities).is_err());
    }
    let after: Vec<f64> = (0..5).filter_map(|i| per.priority_mass(i)).collect();
    assert!(eirl_testkit::allclose(&after, &before, Tol::new(0.0, 0.0)));
    assert!(isclose(per.max_priority(), max_before, Tol::new(0.0, 0.0)));
    // With α = 1 a priority near f64::MAX could overflow Σ p^α: rejected.
    let mut linear = filled(8, 5, 1.0);
    assert!(matches!(
        linear.update_priorities(&[0], &[f64::MAX]),
        Err(ReplayError::InvalidPriority { position: 0, .. })
    ));
}

/// 200k stratified draws over 50 slots with spread priorities match `p^α / Σ p^α`:
/// chi-square with df = 49 (0.999 quantile 85.35, we allow 90). Stratification only lowers the
/// variance of the counts, so the multinomial threshold is conservative.
#[test]
fn prioritized_frequencies_pass_chi_square() {
    let n = 50;
    let alpha = 0.6;
    let mut per = filled(n, n, alpha);
    let priorities: Vec<f64> = (0..n)
        .map(|i| 0.05 + (i % 7) as f64 * 0.8 + i as f64 * 0.03)
        .collect();
    let indices: Vec<usize> = (0..n).collect();
    per.update_priorities(&indices, &priorities)
        .expect("update");
    let masses: Vec<f64> = priorities
        .iter()
        .map(|p| (p + DEFAULT_PRIORITY_EPS).powf(alpha))
        .collect();
    let total: f64 = masses.iter().sum();
    let probs: Vec<f64> = masses.iter().map(|m| m / total).collect();
    let counts = sample_counts(&per, 200_000, 256, 2016);
    let chi2 = chi_square(&counts, &probs);
    assert!(chi2 < 90.0, "chi2 = {chi2}");
    // Not uniform: the same counts fail a uniform fit by a wide margin.
    let uniform = vec![1.0 / n as f64; n];
    assert!(chi_square(&counts, &uniform) > 1000.0);
}

#[test]
fn update_priorities_moves_sampling_mass() {
    let n = 10;
    let mut per = filled(n, n, 1.0);
    let even = sample_counts(&per, 20_000, 100, 7);
    assert!(even.iter().all(|&c| c > 1_500 && c < 2_500), "{even:?}");
    // Slot 3 gets 91% of the mass: 9.1 / (9.1 + 9·0.1).
    let mut priorities = vec![0.1; n];
    priorities[3] = 9.1;
    per.update_priorities(&(0..n).collect::<Vec<_>>(), &priorities)
        .expect("update");
    let skewed = sample_counts(&per, 20_000, 100, 7);
    let share = skewed[3] as f64 / 20_000.0;
    assert!((share - 0.91).abs() < 0.01, "share {share}");
}

#[test]
fn alpha_zero_is_uniform_with_unit_weights() {
    let mut per = filled(16, 16, 0.0);
    per.update_priorities(&[0, 5], &[100.0, 0.0])
        .expect("update");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let batch = per.sample(64, 1.0, &mut rng).expect("sample");
    assert!(eirl_testkit::allclose(
        &batch.weights,
        &[1.0f32; 64],
        Tol::F32
    ));
}

/// Naive `(N·P(i))^(−β) / max_j (N·P(j))^(−β)` over the stored masses.
fn naive_weight(per: &PrioritizedReplay, i: usize, beta: f64) -> f64 {
    let n = per.len();
    let masses: Vec<f64> = (0..n).filter_map(|j| per.priority_mass(j)).collect();
    let total: f64 = masses.iter().sum();
    let w = |m: f64| (n as f64 * m / total).powf(-beta);
    let max_w = masses.iter().map(|&m| w(m)).fold(0.0, f64::max);
    w(masses[i]) / max_w
}

proptest! {
    #[test]
    fn samples_valid_weights_match_formula_and_seed_repeats(
        capacity in 1usize..48,
        pushes in 1usize..100,
        alpha in 0.0f64..=1.0,
        beta in 0.0f64..=1.0,
        updates in proptest::collection::vec((0usize..100, 0.0f64..10.0), 0..60),
        batch in 1usize..64,
        seed in any::<u64>(),
    ) {
        let mut per = filled(capacity, pushes, alpha);
        let len = per.len();
        prop_assert_eq!(len, pushes.min(capacity));
        let (idx, pri): (Vec<usize>, Vec<f64>) =
            updates.into_iter().map(|(i, p)| (i % len, p)).unzip();
        per.update_priorities(&idx, &pri).expect("valid update");

        // Sum tree total equals the naive sum of the stored masses.
        let naive_total: f64 = (0..len).filter_map(|j| per.priority_mass(j)).sum();
        prop_assert!(isclose(per.total_mass(), naive_total, Tol::new(1e-12, 1e-12)));

        let a = per.sample(batch, beta, &mut ChaCha8Rng::seed_from_u64(seed)).expect("sample");
        let b = per.sample(batch, beta, &mut ChaCha8Rng::seed_from_u64(seed)).expect("sample");
        prop_assert_eq!(&a.indices, &b.indices);
        prop_assert_eq!(a.batch_size, batch);
        for row in 0..batch {
            let i = a.indices[row];
            prop_assert!(i < len, "index {} >= len {}", i, len);
            let w = a.weights[row];
            prop_assert!(w > 0.0 && w <= 1.0, "weight {}", w);
            prop_assert!(isclose(f64::from(w), naive_weight(&per, i, beta), Tol::new(1e-6, 1e-5)));
            let k = per.get(i).expect("stored").reward;
            prop_assert_eq!(a.rewards[row].to_bits(), k.to_bits());
            prop_assert!(a.obs_row(row).expect("row").iter().all(|v| v.to_bits() == k.to_bits()));
        }
    }

    #[test]
    fn capacity_never_exceeded_and_oldest_evicted_first(
        capacity in 1usize..40,
        pushes in 0usize..120,
    ) {
        let per = filled(capacity, pushes, 0.6);
        prop_assert!(per.len() <= capacity);
        let kept: Vec<usize> = per.iter().map(|t| t.reward as usize).collect();
        let expected: Vec<usize> = (pushes.saturating_sub(capacity)..pushes).collect();
        prop_assert_eq!(kept, expected);
    }
}
