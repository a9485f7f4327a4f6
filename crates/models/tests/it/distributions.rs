use eirl_models::tensor::*;
use eirl_models::{Categorical, DiagGaussian, device, matrix_from_slice};
use eirl_testkit::{Tol, assert_allclose};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const TOL: Tol = Tol::new(1e-5, 1e-5);

fn host_log_softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = m + row.iter().map(|x| (x - m).exp()).sum::<f32>().ln();
    row.iter().map(|x| x - lse).collect()
}

#[test]
fn categorical_matches_closed_forms() {
    let dev = device(0);
    let (b, a) = (3, 4);
    let logits: Vec<f32> = (0..b * a)
        .map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.7)
        .collect();
    let other: Vec<f32> = (0..b * a)
        .map(|i| ((i * 3 % 7) as f32 - 3.0) * 0.4)
        .collect();
    let actions = [0, 3, 2];
    let lp = Categorical::log_prob(matrix_from_slice(&dev, &logits, b, a).expect("m"), &actions)
        .as_vec();
    let ent = Categorical::entropy(matrix_from_slice(&dev, &logits, b, a).expect("m")).as_vec();
    let kl = Categorical::kl(
        matrix_from_slice(&dev, &logits, b, a).expect("p"),
        matrix_from_slice(&dev, &other, b, a).expect("q"),
    )
    .as_vec();
    for i in 0..b {
        let lp_row = host_log_softmax(&logits[i * a..(i + 1) * a]);
        let lq_row = host_log_softmax(&other[i * a..(i + 1) * a]);
        assert_allclose(&[lp[i]], &[lp_row[actions[i]]], TOL, "log_prob");
        let h: f32 = -lp_row.iter().map(|l| l.exp() * l).sum::<f32>();
        assert_allclose(&[ent[i]], &[h], TOL, "entropy");
        let k: f32 = lp_row
            .iter()
            .zip(&lq_row)
            .map(|(p, q)| p.exp() * (p - q))
            .sum();
        assert_allclose(&[kl[i]], &[k], TOL, "kl");
        let probs = Categorical::probs(&logits[i * a..(i + 1) * a]);
        let want: Vec<f32> = lp_row.iter().map(|l| l.exp()).collect();
        assert_allclose(&probs, &want, TOL, "probs");
    }
    let self_kl = Categorical::kl(
        matrix_from_slice(&dev, &logits, b, a).expect("p"),
        matrix_from_slice(&dev, &logits, b, a).expect("q"),
    )
    .as_vec();
    assert_allclose(&self_kl, &[0.0; 3], TOL, "kl(p,p)");
}

#[test]
fn categorical_sampling_frequencies_match_probabilities() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let p = [0.1f32, 0.6, 0.3];
    let mut counts = [0usize; 3];
    let n = 60_000;
    for _ in 0..n {
        counts[Categorical::sample(&p, &mut rng)] += 1;
    }
    for (c, p) in counts.iter().zip(p) {
        let f = *c as f32 / n as f32;
        // 5 standard errors at n = 60k is below 0.01.
        assert!((f - p).abs() < 0.01, "freq {f} vs {p}");
    }
    assert_eq!(Categorical::argmax(&[0.1, 3.0, 3.0, -1.0]), 1);
}

#[test]
fn gaussian_log_prob_and_its_gradient() {
    let dev = device(0);
    let (b, d) = (4, 2);
    let mean: Vec<f32> = (0..b * d).map(|i| (i as f32 * 0.3).sin()).collect();
    let actions: Vec<f32> = (0..b * d).map(|i| (i as f32 * 0.7).cos()).collect();
    let log_std_v = vec![-0.3f32, 0.2];
    let log_std = dev.tensor_from_vec(log_std_v.clone(), (d,));
    let m = matrix_from_slice(&dev, &mean, b, d).expect("m");
    let lp = DiagGaussian::log_prob(m.leaky_trace(), &log_std, &actions);
    let lp_host = lp.retaped::<NoneTape>().as_vec();
    let grads = lp.sum::<Rank0, _>().backward();
    let g_log_std = grads.get(&log_std).as_vec();
    let mut want_g = vec![0.0f32; d];
    for i in 0..b {
        let mut want = 0.0f32;
        for j in 0..d {
            let s = log_std_v[j].exp();
            let z = (actions[i * d + j] - mean[i * d + j]) / s;
            want += -0.5 * z * z - log_std_v[j] - 0.5 * (2.0 * std::f32::consts::PI).ln();
            want_g[j] += z * z - 1.0;
        }
        assert_allclose(&[lp_host[i]], &[want], TOL, "gaussian log_prob");
    }
    assert_allclose(
        &g_log_std,
        &want_g,
        Tol::new(1e-4, 1e-4),
        "d log_prob / d log_std",
    );
}

#[test]
fn gaussian_entropy_and_kl() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mean = [0.5f32, -1.0];
    let log_std = [0.1f32, -0.4];
    // Monte-Carlo entropy −E[log p(a)] agrees with the closed form.
    let dev = device(0);
    let n = 20_000;
    let mut samples = Vec::with_capacity(n * 2);
    for _ in 0..n {
        samples.extend(DiagGaussian::sample(&mean, &log_std, &mut rng));
    }
    let means: Vec<f32> = (0..n).flat_map(|_| mean).collect();
    let ls = dev.tensor_from_vec(log_std.to_vec(), (2,));
    let lp = DiagGaussian::log_prob(
        matrix_from_slice(&dev, &means, n, 2).expect("m"),
        &ls,
        &samples,
    )
    .as_vec();
    let mc = -lp.iter().sum::<f32>() / n as f32;
    let exact = DiagGaussian::entropy(&log_std);
    assert!((mc - exact).abs() < 0.03, "MC entropy {mc} vs {exact}");
    // KL is zero against itself, positive otherwise, and matches the 1-D closed form.
    assert_allclose(
        &DiagGaussian::kl(&mean, &log_std, &mean, &log_std),
        &[0.0],
        TOL,
        "kl(p,p)",
    );
    let k = DiagGaussian::kl(&[0.0], &[0.0], &[1.0], &[(2.0f32).ln()]);
    let want = (2.0f32).ln() + (1.0 + 1.0) / (2.0 * 4.0) - 0.5;
    assert_allclose(&k, &[want], TOL, "kl 1-D");
}
