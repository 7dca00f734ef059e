//! ferrolog's pure-Rust core: the bounded lock-free record ring, the writer thread that drains
//! it in batches, and the sinks it writes to. No pyo3 here, so all of it can be tested with
//! plain `cargo test`, model-checked with loom (`make test-loom`) and run under
//! AddressSanitizer and ThreadSanitizer (`make test-sanitize`).
#![deny(unsafe_op_in_unsafe_fn)]

pub mod console;
pub mod fallback;
mod fdio;
pub mod file;
mod flock;
mod json;
pub mod net;
pub mod ring;
pub mod rotation;
pub mod route;
pub mod sink;
pub mod stats;
pub mod stdio;
mod sync;
pub mod tz;
#[doc(hidden)]
pub mod wake;
pub mod writer;

pub use console::{ColorMode, ConsoleSink, ConsoleStream};
pub use fallback::SinkHealth;
pub use file::{FileConfig, FileSink};
pub use net::{BreakerState, DeliverySnapshot, DeliveryStats, ShipConfig, Shipper};
pub use ring::{PushError, Ring, MAX_CAPACITY_BYTES};
pub use rotation::{Clock, RotateEvery, SystemClock};
pub use route::{Layout, Route, RoutedSink};
pub use sink::{NullSink, Sink};
pub use stats::StatsSnapshot;
pub use stdio::{StderrSink, StdoutSink};
pub use writer::{Batch, Overflow, Pipeline, PipelineConfig};
