//! The dynamic-batching rule, as pure functions of the queue and the config.
//!
//! seed_rl's inference server collects a fixed number of requests (`inference_batch_size`) before
//! it runs the policy and has no timeout, so one slow or dead actor stalls every other actor
//! waiting in that batch. Here a batch runs as soon as ANY of three things holds:
//!
//! 1. the queued rows reach the target `ceil(batch_fraction × connected envs)` (at least 1):
//!    enough of the fleet is waiting that a forward is well amortised;
//! 2. the oldest queued request has waited `deadline`: whoever is missing is slow, dead or
//!    disconnected, and nobody waits on them longer than that;
//! 3. `max_batch` rows are queued: the hard cap per forward.
//!
//! "Connected envs" are the env slots the server holds; a client's slots are freed the moment it
//! disconnects (or after `heartbeat_timeout` of silence), so the target shrinks with the fleet.

use std::time::Duration;

use crate::ServerConfig;

/// Rows the batching thread waits for: `ceil(batch_fraction × connected_envs)`, at least 1 and
/// at most `max_batch`.
pub fn batch_target(connected_envs: usize, batch_fraction: f32, max_batch: usize) -> usize {
    let wanted = (f64::from(batch_fraction) * connected_envs as f64).ceil();
    // Float → int casts saturate; NaN becomes 0 and is lifted to 1.
    (wanted as usize).clamp(1, max_batch.max(1))
}

/// Whether to run a batch now, given `queued_rows` waiting, the age of the oldest queued
/// request, and the number of connected envs (see the module doc for the rule).
pub fn batch_ready(
    queued_rows: usize,
    oldest_age: Duration,
    connected_envs: usize,
    config: &ServerConfig,
) -> bool {
    queued_rows > 0
        && (queued_rows >= config.max_batch
            || queued_rows >= batch_target(connected_envs, config.batch_fraction, config.max_batch)
            || oldest_age >= config.deadline)
}

/// How long the batching thread may sleep before the oldest queued request reaches the
/// deadline (zero when it already has).
pub fn until_deadline(oldest_age: Duration, deadline: Duration) -> Duration {
    deadline.saturating_sub(oldest_age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(fraction: f32, deadline_us: u64, max_batch: usize) -> ServerConfig {
        ServerConfig {
            batch_fraction: fraction,
            deadline: Duration::from_micros(deadline_us),
            max_batch,
            ..ServerConfig::default()
        }
    }

    #[test]
    fn examples() {
        let c = config(0.5, 1000, 64);
        assert_eq!(batch_target(0, 0.5, 64), 1);
        assert_eq!(batch_target(7, 0.5, 64), 4);
        assert_eq!(batch_target(1000, 0.5, 64), 64);
        assert_eq!(batch_target(10, 1.0, 64), 10);
        assert!(!batch_ready(0, Duration::from_secs(9), 8, &c));
        assert!(!batch_ready(3, Duration::from_micros(999), 8, &c));
        assert!(batch_ready(4, Duration::ZERO, 8, &c));
        assert!(batch_ready(1, Duration::from_micros(1000), 8, &c));
        assert!(batch_ready(64, Duration::ZERO, 10_000, &c));
        assert_eq!(
            until_deadline(Duration::from_micros(300), Duration::from_micros(1000)),
            Duration::from_micros(700)
        );
        assert_eq!(
            until_deadline(Duration::from_secs(1), Duration::from_micros(1000)),
            Duration::ZERO
        );
    }

    proptest! {
        /// The rule, against a direct transcription of its three clauses.
        #[test]
        fn matches_the_three_clauses(
            queued in 0usize..3000,
            age_us in 0u64..5000,
            connected in 0usize..5000,
            fraction in 0.001f32..=1.0,
            deadline_us in 0u64..5000,
            max_batch in 1usize..2048,
        ) {
            let c = config(fraction, deadline_us, max_batch);
            let target = ((fraction as f64) * connected as f64).ceil().max(1.0) as usize;
            let expected = queued > 0
                && (queued >= max_batch || queued >= target || age_us >= deadline_us);
            prop_assert_eq!(batch_ready(queued, Duration::from_micros(age_us), connected, &c), expected);
            let t = batch_target(connected, fraction, max_batch);
            prop_assert!((1..=max_batch).contains(&t));
        }

        /// More queued rows or an older queue never un-readies a batch; more connected envs
        /// never readies one; the deadline alone always suffices.
        #[test]
        fn monotone(
            queued in 1usize..3000,
            extra in 0usize..100,
            age_us in 0u64..5000,
            older in 0u64..5000,
            connected in 0usize..5000,
            more in 0usize..5000,
            fraction in 0.001f32..=1.0,
            deadline_us in 0u64..5000,
            max_batch in 1usize..2048,
        ) {
            let c = config(fraction, deadline_us, max_batch);
            let age = Duration::from_micros(age_us);
            let ready = batch_ready(queued, age, connected, &c);
            if ready {
                prop_assert!(batch_ready(queued + extra, age, connected, &c));
                prop_assert!(batch_ready(queued, age + Duration::from_micros(older), connected, &c));
            } else {
                prop_assert!(!batch_ready(queued, age, connected + more, &c));
            }
            prop_assert!(batch_ready(queued, c.deadline, connected + more, &c));
        }
    }
}
