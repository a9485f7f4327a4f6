//! eirl-returns integration tests: rlax conformance, naive references, properties.
#![allow(clippy::unwrap_used, clippy::too_many_arguments)]

mod acer_steve;
mod conformance;
mod errors;
mod properties;
mod reference;
