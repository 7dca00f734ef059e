//! ferrolog's pure-Rust core: the bounded lock-free record ring, the writer thread that drains
//! it in batches, and the sinks it writes to. No pyo3 here, so all of it can be tested with
//! plain `cargo test`, model-checked with loom and run under miri.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod ring;
pub mod sink;
pub mod stats;
mod sync;
pub mod writer;

pub use ring::{PushError, Ring};
pub use sink::{NullSink, Sink};
pub use stats::StatsSnapshot;
pub use writer::{Batch, Overflow, Pipeline, PipelineConfig};
