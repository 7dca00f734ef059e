//! Shipping sinks: syslog and HTTP batches (NDJSON, a JSON array, OTLP/HTTP logs).
//!
//! The writer thread must never wait on the network, so a network sink is a [`Shipper`]: its
//! `write_batch` only copies the batch into the sink's own bounded buffer and returns, and a
//! sender thread of its own delivers from that buffer (in batches by size and linger time,
//! retrying with backoff, behind a circuit breaker). What the buffer cannot take, or what
//! arrives while the breaker is open, is refused whole (`write_batch` returns an error), so
//! the pipeline's fallback logic reroutes that batch and counts it; what the sink accepted
//! and later gives up on is counted in its own [`DeliveryStats`] as `dropped`.
//!
//! So for a network sink the pipeline's `written` means "accepted by the sink's buffer";
//! whether it reached the peer is in the sink's `delivered` and `dropped`.

mod breaker;
pub mod http;
pub mod json;
pub mod otlp;
mod shipper;
pub mod syslog;
mod time;

pub use breaker::BreakerState;
pub use shipper::{DeliveryError, DeliverySnapshot, DeliveryStats, ShipConfig, Shipper, Transport};
