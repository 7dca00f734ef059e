//! Flush: wait until every event emitted before the call is written or counted dropped, then
//! flush the sinks — native ones through the core, Python ones through their runner thread.
//!
//! "Before the call" is a ring position, taken by the core's own `flush` when it starts: drops
//! counted later cannot satisfy it early. The async flush runs the same wait on a short-lived
//! native thread (no GIL, no Python objects) and the event loop polls its ticket.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flush requests to the Python sinks' runner. Atomics only, waited on by polling: nothing
/// here can be left locked by a thread that a `fork()` did not copy.
#[derive(Default)]
pub struct PySinkFlush {
    requested: AtomicU64,
    done: AtomicU64,
}

impl PySinkFlush {
    /// The newest request the runner has not served yet.
    pub fn pending(&self) -> Option<u64> {
        let req = self.requested.load(Ordering::Acquire);
        (req > self.done.load(Ordering::Acquire)).then_some(req)
    }

    /// The runner called every Python sink's `flush()` after request `seq` was made.
    pub fn served(&self, seq: u64) {
        self.done.fetch_max(seq, Ordering::AcqRel);
    }

    /// The runner is gone (it flushed and stopped the sinks on its way out): nothing waits.
    pub fn runner_exited(&self) {
        self.done.store(u64::MAX, Ordering::Release);
    }

    /// In a forked child, whose runner is new.
    pub fn reset(&self) {
        self.requested.store(0, Ordering::SeqCst);
        self.done.store(0, Ordering::SeqCst);
    }

    /// Ask the runner to flush the Python sinks and wait for it until `deadline`.
    fn flush(&self, deadline: Instant) -> bool {
        let seq = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let mut pause = Duration::from_micros(50);
        loop {
            if self.done.load(Ordering::Acquire) >= seq {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }
}

/// What one flush waits on; cheap to clone into a thread (no Python objects).
#[derive(Clone)]
pub struct FlushTarget {
    pub core: Arc<ferrolog_core::Pipeline>,
    /// Present when the pipeline has Python sinks.
    pub py_sinks: Option<Arc<PySinkFlush>>,
}

impl FlushTarget {
    /// Block until everything emitted before the call is settled and every sink flushed, or
    /// until `deadline`. Call it with the GIL released.
    pub fn flush(&self, deadline: Instant) -> bool {
        let settled = self
            .core
            .flush(deadline.saturating_duration_since(Instant::now()));
        // Python sinks are flushed only after the batches they must cover were written.
        settled && self.py_sinks.as_ref().is_none_or(|f| f.flush(deadline))
    }
}

const PENDING: u8 = 0;
const FLUSHED: u8 = 1;
const TIMED_OUT: u8 = 2;

/// An async flush in progress: its outcome, once the native thread waiting for it knows.
#[pyo3::pyclass(frozen, module = "ferrolog._native")]
pub struct FlushTicket {
    state: Arc<AtomicU8>,
}

impl FlushTicket {
    /// Start waiting now (on a thread of its own) for what `target` has to settle.
    pub fn start(target: FlushTarget, deadline: Instant) -> Self {
        let state = Arc::new(AtomicU8::new(PENDING));
        let out = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("ferrolog-flush".into())
            .spawn(move || {
                let ok = target.flush(deadline);
                out.store(if ok { FLUSHED } else { TIMED_OUT }, Ordering::Release);
            });
        if spawned.is_err() {
            // No thread to wait with: report a flush that did not happen, never hang.
            state.store(TIMED_OUT, Ordering::Release);
        }
        Self { state }
    }
}

#[pyo3::pymethods]
impl FlushTicket {
    /// None while the flush is in progress; then True if everything settled in time.
    fn result(&self) -> Option<bool> {
        match self.state.load(Ordering::Acquire) {
            PENDING => None,
            s => Some(s == FLUSHED),
        }
    }
}
