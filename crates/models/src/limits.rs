//! Size limits every network is checked against before anything is allocated, so that a
//! mistyped width (`hidden = [100000, 100000]`) is a clear error instead of an allocation abort.

use crate::error::ModelError;

/// Most parameters one network (one MLP, or all members of an ensemble together) may hold:
/// 2²⁸ = 268 435 456 parameters, i.e. 1 GiB of `f32` weights before gradients and optimizer
/// state (Adam triples it). Far above every preset (the largest, STEVE's, has ~10⁶).
pub const MAX_PARAMETERS: usize = 1 << 28;

/// Parameters of the fully connected layers `sizes[0] → sizes[1] → … → sizes[n]`:
/// `Σ (in·out + out)`; `None` when the count overflows `usize`.
pub fn mlp_parameters(sizes: &[usize]) -> Option<usize> {
    sizes.windows(2).try_fold(0usize, |acc, w| {
        w[0].checked_add(1)?
            .checked_mul(w[1])
            .and_then(|layer| acc.checked_add(layer))
    })
}

/// `Ok` when `copies` networks of layer sizes `sizes` hold at most [`MAX_PARAMETERS`]
/// parameters together; else an error naming `what`, the count and the limit.
pub fn check_parameters(what: &str, sizes: &[usize], copies: usize) -> Result<(), ModelError> {
    let count = mlp_parameters(sizes).and_then(|n| n.checked_mul(copies.max(1)));
    match count {
        Some(n) if n <= MAX_PARAMETERS => Ok(()),
        _ => {
            let n = count.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
            let times = if copies > 1 {
                format!(" ({copies} copies)")
            } else {
                String::new()
            };
            Err(ModelError::Config(format!(
                "{what} with layer sizes {sizes:?}{times} has {n} parameters, above the limit of \
                 {MAX_PARAMETERS} (2^28 parameters = 1 GiB of f32); use narrower layers"
            )))
        }
    }
}

/// The check a config can make before it knows its environment: hidden widths `hidden` with
/// one input and one output (a lower bound of the real network), named by `setting`
/// (e.g. `"network.hidden"`), `copies` networks of that shape.
pub fn check_hidden(setting: &str, hidden: &[usize], copies: usize) -> Result<(), ModelError> {
    let mut sizes = Vec::with_capacity(hidden.len().saturating_add(2));
    sizes.push(1);
    sizes.extend_from_slice(hidden);
    sizes.push(1);
    check_parameters(setting, &sizes, copies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_weights_and_biases() {
        assert_eq!(
            mlp_parameters(&[4, 64, 64, 2]),
            Some(5 * 64 + 65 * 64 + 65 * 2)
        );
        assert_eq!(mlp_parameters(&[3]), Some(0));
        assert_eq!(mlp_parameters(&[usize::MAX, usize::MAX]), None);
    }

    #[test]
    fn huge_hidden_widths_are_refused_with_the_limit() {
        let err = check_hidden("network.hidden", &[100_000, 100_000], 1)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("network.hidden"), "{err}");
        assert!(err.contains("268435456"), "{err}");
        assert!(err.contains("1 GiB"), "{err}");
        assert!(check_hidden("hidden", &[64, 64], 1).is_ok());
        assert!(check_hidden("hidden", &[usize::MAX, usize::MAX], 1).is_err());
        // An ensemble counts every member.
        assert!(check_parameters("q", &[1, 10_000, 10_000, 1], 1).is_ok());
        assert!(check_parameters("q", &[1, 10_000, 10_000, 1], 4).is_err());
    }

    /// Every network constructor refuses `hidden = [100000, 100000]` (10¹⁰ parameters, 40 GB)
    /// with an error instead of aborting on the allocation.
    #[test]
    fn network_constructors_refuse_huge_widths_before_allocating() {
        use crate::{
            Activation, ActorCritic, ActorCriticConfig, EnsembleMlp, Mlp, PolicyHead,
            PolicyNetwork, PolicyNetworkConfig, QNetwork, QNetworkConfig, StochasticDuelingNetwork,
            device,
        };
        use rand::SeedableRng;
        let huge = vec![100_000, 100_000];
        let is_limit = |r: Result<(), ModelError>| {
            let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains("268435456"), "{msg}");
        };
        for dueling in [false, true] {
            let cfg = QNetworkConfig {
                hidden: huge.clone(),
                activation: Activation::Relu,
                dueling,
            };
            is_limit(QNetwork::new(4, 2, &cfg, 0).map(|_| ()));
        }
        let ac = ActorCriticConfig {
            hidden: huge.clone(),
            ..ActorCriticConfig::default()
        };
        is_limit(ActorCritic::new(4, 2, &ac, 0).map(|_| ()));
        is_limit(StochasticDuelingNetwork::new(4, 2, &ac, 0).map(|_| ()));
        let pc = PolicyNetworkConfig {
            hidden: huge.clone(),
            ..PolicyNetworkConfig::default()
        };
        is_limit(
            PolicyNetwork::new(4, PolicyHead::Categorical { num_actions: 2 }, &pc, 0).map(|_| ()),
        );
        let dev = device(0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        is_limit(
            Mlp::new(
                &dev,
                &[4, 100_000, 100_000, 2],
                Activation::Relu,
                false,
                &mut rng,
            )
            .map(|_| ()),
        );
        is_limit(
            EnsembleMlp::new(&dev, 4, &[4, 10_000, 10_000, 2], Activation::Relu, &mut rng)
                .map(|_| ()),
        );
    }
}
