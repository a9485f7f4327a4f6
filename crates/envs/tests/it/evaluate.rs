use eirl_envs::{Actions, EnvError, evaluate_discrete, evaluate_policy};

#[test]
fn one_episode_per_env_and_deterministic() {
    // Lean with the pole: a decent scripted CartPole controller.
    let policy = |obs: &[f32], n: usize| -> Result<Vec<usize>, EnvError> {
        Ok((0..n)
            .map(|i| usize::from(obs[i * 4 + 2] + 0.5 * obs[i * 4 + 3] > 0.0))
            .collect())
    };
    let a = evaluate_discrete("CartPole-v1", 7, 11, policy).expect("eval");
    let b = evaluate_discrete("CartPole-v1", 7, 11, policy).expect("eval");
    assert_eq!(a, b);
    assert_eq!(a.returns.len(), 7);
    // CartPole pays 1 per step, so each return equals its length.
    for (r, l) in a.returns.iter().zip(&a.lengths) {
        assert!((r - *l as f64).abs() < 1e-9);
    }
    let always_left = evaluate_discrete("CartPole-v1", 7, 11, |_, n| Ok::<_, EnvError>(vec![0; n]))
        .expect("eval");
    assert!(
        a.mean() > 3.0 * always_left.mean(),
        "{} vs {}",
        a.mean(),
        always_left.mean()
    );
    assert!(a.std() >= 0.0);
}

#[test]
fn continuous_policies_and_bad_input() {
    let zero_torque = evaluate_policy("Pendulum-v1", 3, 0, |_, n| {
        Ok::<_, EnvError>(Actions::Continuous {
            values: vec![0.0; n],
            dim: 1,
        })
    })
    .expect("eval");
    assert_eq!(zero_torque.lengths, vec![200; 3]);
    assert!(evaluate_discrete("CartPole-v1", 0, 0, |_, n| Ok::<_, EnvError>(vec![0; n])).is_err());
    assert!(evaluate_discrete("Nope-v1", 2, 0, |_, n| Ok::<_, EnvError>(vec![0; n])).is_err());
    // A policy that returns the wrong number of actions is an error, not a panic.
    assert!(evaluate_discrete("CartPole-v1", 2, 0, |_, _| Ok::<_, EnvError>(vec![0])).is_err());
}
