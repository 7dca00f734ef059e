//! The `Sink` trait: where the writer thread sends each batch of NDJSON lines.

use std::io;
use std::sync::Arc;

use crate::net::DeliveryStats;

/// A destination for batches of complete NDJSON lines.
///
/// The writer thread owns its sinks and calls them from that thread only, never holding the
/// GIL. `write_batch` receives whole lines (each ending in `\n`), at most the pipeline's batch
/// size (64 KiB by default) unless a single record is larger. An implementation must keep lines
/// whole against other processes writing to the same place: one `write` per batch to an
/// `O_APPEND` file (completed under a lock if the kernel takes only part of it), and writes of
/// at most `PIPE_BUF` bytes that end at newlines to a pipe, FIFO or socket.
pub trait Sink: Send {
    /// A short name for diagnostics, e.g. `"stdout"` or `"file:/var/log/app.log"`.
    fn name(&self) -> &str;

    /// Write one batch of complete lines. An error means the whole batch was not written.
    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()>;

    /// Push anything buffered to the OS (and, for files, nothing more: no fsync by default).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Release the sink's resources; called once, when the pipeline closes.
    fn close(&mut self) -> io::Result<()> {
        self.flush()
    }

    /// A network sink's delivery counters (see [`crate::net`]): its `write_batch` only
    /// buffers, so whether lines reached the peer is counted there. `None` for local sinks.
    fn delivery(&self) -> Option<Arc<DeliveryStats>> {
        None
    }

    /// Whether a sink that refused a batch can take batches again now (a network sink whose
    /// buffer drained and whose breaker is not open). The pipeline's breaker then offers it
    /// the next batch at once instead of waiting for its next probe. Must be cheap.
    fn ready(&self) -> bool {
        false
    }
}

/// A sink that accepts and discards everything: for benchmarks and for `type = "null"`.
#[derive(Debug, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn name(&self) -> &str {
        "null"
    }

    fn write_batch(&mut self, _batch: &[u8]) -> io::Result<()> {
        Ok(())
    }
}
