//! [`ServerConfig`]: every knob of the server, its default, and why.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ServerError;

/// How the server batches, bounds its queues and guards its gRPC port.
///
/// Deserializes from TOML/JSON with every field optional; durations are written as seconds
/// (`heartbeat_timeout = 30`) or with a unit (`deadline = "1ms"`, `"500us"`, `"2s"`).
/// `Debug` and `Serialize` never show the token.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// T, transitions per unroll (an unroll holds T + 1 records). Default 20: IMPALA's Atari
    /// unroll (Espeholt et al. 2018), which suits short classic-control episodes; seed_rl's
    /// V-trace learner defaults to 100 (`agents/vtrace/learner.py`, DMLab), R2D2 uses 80 + burn-in.
    pub unroll_len: usize,
    /// Run a batch once the queued rows reach `ceil(batch_fraction × connected envs)` (at least
    /// 1). Default 0.5: half the actors' envs make a batch, so one batch computes while the other
    /// half steps their envs and the two halves pipeline; 1.0 is seed_rl's "wait for everyone".
    pub batch_fraction: f32,
    /// ... or once the oldest queued request is this old. Default 1 ms: about 16 loopback gRPC
    /// round trips (~60 µs each on the project's 2-core machine) and the order of a small MLP
    /// forward at batch 64 on CPU, so a slow, stalled or dead actor delays the others by at most
    /// 1 ms (seed_rl waits for a fixed-size batch with no timeout, and stalls).
    #[serde(with = "duration_serde")]
    pub deadline: Duration,
    /// ... or at once when this many rows are queued: the hard maximum rows per forward, and the
    /// most steps one request may carry. Default 1024: past a few hundred rows a CPU forward is
    /// throughput-bound (batch 64 already gives ~14× batch-1 throughput with dfdx on 2 cores).
    pub max_batch: usize,
    /// Requests that may wait in the queue to the batching thread (each with up to `max_batch`
    /// steps); when it is full actors block (back-pressure). Default 1024: one request per
    /// client is in flight at a time, so this exceeds any sensible actor count.
    pub request_queue: usize,
    /// Finished unrolls that may wait for the learner. A batch is answered only after the
    /// unrolls it completed are queued, so when the queue is full the batching thread waits and
    /// the actors wait with it (SEED's behaviour: acting never runs ahead of learning by more
    /// than this). Default 64: two learner batches of 32 (seed_rl's V-trace `batch_size`).
    pub unroll_queue: usize,
    /// Episode summaries that may wait for a reader; when full, new ones are dropped and
    /// counted (logging must never block acting). Default 1024.
    pub episode_queue: usize,
    /// An env slot silent this long is freed (partial unroll dropped), so a hung actor stops
    /// counting toward the batch target; a gRPC stream that sends nothing for this long is
    /// closed, so idle connections cannot hold `max_clients` places. Default 30 s: far above any
    /// env step or reset, far below a run.
    #[serde(with = "duration_serde")]
    pub heartbeat_timeout: Duration,
    /// Largest gRPC request accepted, in bytes (tonic's `max_decoding_message_size`). Default
    /// 4 MiB, gRPC's usual limit: 1024 envs × 1000 floats still fit.
    pub max_frame_bytes: usize,
    /// Most env slots kept at once; a request that would add more is rejected. Default 4096.
    pub max_envs: usize,
    /// Most gRPC streams open at once; further streams are refused. Default 1024.
    pub max_clients: usize,
    /// Most TCP connections held open at once (with or without a stream); a connection past
    /// the cap is closed as soon as it is accepted, counted and logged. Default 1024: one per
    /// client at `max_clients`, far below a process's usual descriptor limit.
    pub max_connections: usize,
    /// A connection with no open stream for this long is closed (counted), so idle or
    /// half-open connections cannot hold descriptors. Default 10 s: an actor opens its stream
    /// right after connecting.
    #[serde(with = "duration_serde")]
    pub connection_idle_timeout: Duration,
    /// Largest magnitude accepted in an observation, final observation or reward; a request
    /// with a larger (finite) value is refused like a malformed one, so no actor can push the
    /// learner's targets past f32's range. Default 1e6, far above any shipped env's values;
    /// `inf` accepts every finite value.
    pub max_abs_value: f32,
    /// Shared secret: gRPC streams must send `authorization: Bearer <token>`. Default none
    /// (the caller listens on 127.0.0.1 then).
    #[serde(skip_serializing)]
    pub token: Option<String>,
    /// The environment id the served policy acts in, when known. A gRPC actor that names
    /// another env (metadata `eirl-env`) is refused when it connects, with both ids in the
    /// message. Set at run time by the agent; never read from or written to a config file.
    #[serde(skip)]
    pub env_id: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            unroll_len: 20,
            batch_fraction: 0.5,
            deadline: Duration::from_millis(1),
            max_batch: 1024,
            request_queue: 1024,
            unroll_queue: 64,
            episode_queue: 1024,
            heartbeat_timeout: Duration::from_secs(30),
            max_frame_bytes: 4 << 20,
            max_envs: 4096,
            max_clients: 1024,
            max_connections: 1024,
            connection_idle_timeout: Duration::from_secs(10),
            max_abs_value: 1e6,
            token: None,
            env_id: None,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("unroll_len", &self.unroll_len)
            .field("batch_fraction", &self.batch_fraction)
            .field("deadline", &self.deadline)
            .field("max_batch", &self.max_batch)
            .field("request_queue", &self.request_queue)
            .field("unroll_queue", &self.unroll_queue)
            .field("episode_queue", &self.episode_queue)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("max_envs", &self.max_envs)
            .field("max_clients", &self.max_clients)
            .field("max_connections", &self.max_connections)
            .field("connection_idle_timeout", &self.connection_idle_timeout)
            .field("max_abs_value", &self.max_abs_value)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("env_id", &self.env_id)
            .finish()
    }
}

impl ServerConfig {
    /// Checks every field; [`InferenceServer::start`](crate::InferenceServer::start) calls it.
    pub fn validate(&self) -> Result<(), ServerError> {
        let positive = [
            ("unroll_len", self.unroll_len),
            ("max_batch", self.max_batch),
            ("request_queue", self.request_queue),
            ("unroll_queue", self.unroll_queue),
            ("episode_queue", self.episode_queue),
            ("max_envs", self.max_envs),
            ("max_clients", self.max_clients),
            ("max_connections", self.max_connections),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(invalid(format!("{name} must be at least 1")));
            }
        }
        if !(self.batch_fraction > 0.0 && self.batch_fraction <= 1.0) {
            return Err(invalid(format!(
                "batch_fraction {} must lie in (0, 1]",
                self.batch_fraction
            )));
        }
        if self.heartbeat_timeout.is_zero() {
            return Err(invalid("heartbeat_timeout must be positive".into()));
        }
        if self.connection_idle_timeout.is_zero() {
            return Err(invalid("connection_idle_timeout must be positive".into()));
        }
        if self.max_abs_value.is_nan() || self.max_abs_value <= 0.0 {
            return Err(invalid(format!(
                "max_abs_value {} must be positive (inf accepts every finite value)",
                self.max_abs_value
            )));
        }
        for (name, value) in [
            ("max_envs", self.max_envs),
            ("max_clients", self.max_clients),
            ("max_connections", self.max_connections),
            ("max_batch", self.max_batch),
            ("request_queue", self.request_queue),
            ("unroll_queue", self.unroll_queue),
            ("episode_queue", self.episode_queue),
        ] {
            if value > MAX_COUNT {
                return Err(invalid(format!(
                    "{name} = {value} is above the limit of {MAX_COUNT}"
                )));
            }
        }
        if self.max_frame_bytes < 64 {
            return Err(invalid(format!(
                "max_frame_bytes {} is below 64 bytes",
                self.max_frame_bytes
            )));
        }
        if let Some(token) = &self.token {
            // It travels as an HTTP/2 header value: visible ASCII only.
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(
                    "token must be non-empty visible ASCII (it is sent as a header)".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Upper limit of every count in the config (slots, clients, connections, queue lengths):
/// 2^20, so a typo cannot make the server preallocate or admit without bound.
pub(crate) const MAX_COUNT: usize = 1 << 20;

fn invalid(message: String) -> ServerError {
    ServerError::InvalidConfig(message)
}

/// Durations as seconds (`30`, `0.001`) or a number with a unit (`"1ms"`, `"500us"`, `"2s"`).
mod duration_serde {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}us", value.as_micros()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("seconds as a number, or a string such as \"1ms\", \"500us\", \"2s\"")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_secs)
                .map_err(|_| E::custom(format!("duration {v} is negative")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Duration::try_from_secs_f64(v)
                .map_err(|_| E::custom(format!("duration {v} s is negative or not finite")))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).ok_or_else(|| E::custom(format!("cannot read {v:?} as a duration")))
        }
    }

    /// `"<number><unit>"` with unit ns, us, µs, ms or s.
    pub(super) fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().ok()?;
        let seconds_per_unit = match unit.trim() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" | "" => 1.0,
            _ => return None,
        };
        Duration::try_from_secs_f64(number * seconds_per_unit).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ServerConfig::default().validate().expect("defaults valid");
    }

    #[test]
    fn out_of_range_fields_are_rejected() {
        let bad = [
            ServerConfig {
                unroll_len: 0,
                ..ServerConfig::default()
            },
            ServerConfig {
                batch_fraction: 0.0,
                ..ServerConfig::default()
            },
            ServerConfig {
                batch_fraction: f32::NAN,
                ..ServerConfig::default()
            },
            ServerConfig {
                batch_fraction: 1.5,
                ..ServerConfig::default()
            },
            ServerConfig {
                max_batch: 0,
                ..ServerConfig::default()
            },
            ServerConfig {
                heartbeat_timeout: Duration::ZERO,
                ..ServerConfig::default()
            },
            ServerConfig {
                token: Some("has space".into()),
                ..ServerConfig::default()
            },
            ServerConfig {
                token: Some(String::new()),
                ..ServerConfig::default()
            },
            ServerConfig {
                max_connections: 0,
                ..ServerConfig::default()
            },
            ServerConfig {
                connection_idle_timeout: Duration::ZERO,
                ..ServerConfig::default()
            },
            ServerConfig {
                max_abs_value: f32::NAN,
                ..ServerConfig::default()
            },
            ServerConfig {
                max_abs_value: 0.0,
                ..ServerConfig::default()
            },
            ServerConfig {
                max_envs: MAX_COUNT + 1,
                ..ServerConfig::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?} accepted");
        }
    }

    #[test]
    fn toml_with_units_and_defaults() {
        let config: ServerConfig = toml::from_str(
            "unroll_len = 80\ndeadline = \"500us\"\nheartbeat_timeout = 10\ntoken = \"s3cret\"\n",
        )
        .expect("parses");
        assert_eq!(config.unroll_len, 80);
        assert_eq!(config.deadline, Duration::from_micros(500));
        assert_eq!(config.heartbeat_timeout, Duration::from_secs(10));
        assert_eq!(config.max_batch, ServerConfig::default().max_batch);
        assert!(!format!("{config:?}").contains("s3cret"));
        let written = toml::to_string(&config).expect("serializes");
        assert!(!written.contains("s3cret"));
        let back: ServerConfig = toml::from_str(&written).expect("round trip");
        assert_eq!(back.deadline, config.deadline);
        assert!(toml::from_str::<ServerConfig>("deadline = \"5 parsecs\"").is_err());
        assert!(toml::from_str::<ServerConfig>("no_such_field = 1").is_err());
    }

    #[test]
    fn duration_units() {
        assert_eq!(duration_serde::parse("2s"), Some(Duration::from_secs(2)));
        assert_eq!(
            duration_serde::parse("1.5ms"),
            Some(Duration::from_micros(1500))
        );
        assert_eq!(
            duration_serde::parse("250ns"),
            Some(Duration::from_nanos(250))
        );
        assert_eq!(duration_serde::parse("-1s"), None);
        assert_eq!(duration_serde::parse("ms"), None);
    }
}
