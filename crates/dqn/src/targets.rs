//! Bootstrapped Q-learning targets for a minibatch.

use eirl_models::Categorical;

/// `y_i = r_i + discount_i · Q⁻(s'_i, a*_i)` with `a*_i = argmax_a Q⁻(s'_i, a)` (Mnih et al.
/// 2015), or `a*_i = argmax_a Q(s'_i, a)` from the online network when `next_online` is given
/// (Double DQN, van Hasselt et al. 2016, eq. 4). `discount_i` already holds `γ^n (1 − terminal)`.
/// Q-value slices are `[B, A]` row-major.
pub fn q_targets(
    rewards: &[f32],
    discounts: &[f32],
    next_target: &[f32],
    next_online: Option<&[f32]>,
    num_actions: usize,
) -> Vec<f32> {
    rewards
        .iter()
        .zip(discounts)
        .enumerate()
        .map(|(i, (r, d))| {
            let row = &next_target[i * num_actions..(i + 1) * num_actions];
            let a_star = match next_online {
                Some(q) => Categorical::argmax(&q[i * num_actions..(i + 1) * num_actions]),
                None => Categorical::argmax(row),
            };
            r + d * row[a_star]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_learning_and_double_q() {
        let next_target = [1.0, 5.0, 2.0, -1.0];
        let next_online = [3.0, 0.0, 0.0, 4.0];
        let y = q_targets(&[1.0, 0.5], &[0.9, 0.0], &next_target, None, 2);
        assert!((y[0] - (1.0 + 0.9 * 5.0)).abs() < 1e-6 && (y[1] - 0.5).abs() < 1e-6);
        let y = q_targets(
            &[1.0, 0.5],
            &[0.9, 0.5],
            &next_target,
            Some(&next_online),
            2,
        );
        assert!((y[0] - (1.0 + 0.9 * 1.0)).abs() < 1e-6);
        assert!((y[1] - (0.5 - 0.5)).abs() < 1e-6);
    }
}
