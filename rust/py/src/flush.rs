//! Flush: wait until every event emitted before the call is written or counted dropped, then
//! flush the sinks — native ones through the core, Python ones through their runner thread.
//!
//! "Before the call" is a ring position, taken by the core's own `flush` when it starts: drops
//! counted later cannot satisfy it early. The async flush runs the same wait on a short-lived
//! native thread (no GIL, no Python objects; one per pipeline at a time) and the event loop
//! polls its ticket.

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
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

/// One async flush's outcome and deadline.
struct Ticket {
    outcome: AtomicU8,
    deadline: Instant,
}

/// Async flushes waiting for the pipeline's flusher thread, and whether it runs.
#[derive(Default)]
struct Queue {
    waiting: Vec<Arc<Ticket>>,
    running: bool,
}

/// Serves a pipeline's async flushes with at most one native thread at a time, however many
/// are awaited (or were cancelled and left behind): the flushes that arrive while it waits are
/// served together by its next round, whose wait starts after they arrived, so covers them.
pub struct Flusher {
    /// Replaced (the old one leaked) in a forked child, where a parent's thread may have held
    /// its lock and no flusher thread exists.
    queue: AtomicPtr<Arc<Mutex<Queue>>>,
}

impl Default for Flusher {
    fn default() -> Self {
        Self {
            queue: AtomicPtr::new(Box::into_raw(Box::default())),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::into_raw` and is freed only here; replaced ones
        // are leaked, never freed. A running thread holds its own clone of the Arc.
        drop(unsafe { Box::from_raw(*self.queue.get_mut()) });
    }
}

impl Flusher {
    fn queue(&self) -> Arc<Mutex<Queue>> {
        // SAFETY: always a live `Box::into_raw` pointer (see the field and `Drop`).
        Arc::clone(unsafe { &*self.queue.load(Ordering::Acquire) })
    }

    /// In a forked child: a fresh queue, no thread.
    pub fn reset_after_fork(&self) {
        self.queue
            .store(Box::into_raw(Box::default()), Ordering::SeqCst);
    }

    /// Start an async flush of `target` that gives up at `deadline`.
    pub fn start(&self, target: FlushTarget, deadline: Instant) -> FlushTicket {
        let ticket = Arc::new(Ticket {
            outcome: AtomicU8::new(PENDING),
            deadline,
        });
        let queue = self.queue();
        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
        q.waiting.push(Arc::clone(&ticket));
        if !q.running {
            let serve_queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name("ferrolog-flush".into())
                .spawn(move || serve(&serve_queue, &target));
            match spawned {
                Ok(_) => q.running = true,
                // No thread to wait with: report the flushes as not done, never hang.
                Err(_) => {
                    for t in q.waiting.drain(..) {
                        t.outcome.store(TIMED_OUT, Ordering::Release);
                    }
                }
            }
        }
        FlushTicket { ticket }
    }
}

/// The flusher thread: rounds of one flush each, until nobody waits.
fn serve(queue: &Mutex<Queue>, target: &FlushTarget) {
    loop {
        let round = {
            let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.waiting.is_empty() {
                q.running = false;
                return;
            }
            std::mem::take(&mut q.waiting)
        };
        let deadline = round
            .iter()
            .map(|t| t.deadline)
            .max()
            .unwrap_or_else(Instant::now);
        let ok = target.flush(deadline);
        let done = Instant::now();
        for t in round {
            let outcome = if ok && done <= t.deadline {
                FLUSHED
            } else {
                TIMED_OUT
            };
            t.outcome.store(outcome, Ordering::Release);
        }
    }
}

/// An async flush in progress: its outcome, once the pipeline's flusher thread knows.
#[pyo3::pyclass(frozen, module = "ferrolog._native")]
pub struct FlushTicket {
    ticket: Arc<Ticket>,
}

#[pyo3::pymethods]
impl FlushTicket {
    /// None while the flush is in progress; then True if everything settled in time (False
    /// once its deadline passed, even if the flusher still waits for a later one).
    fn result(&self) -> Option<bool> {
        match self.ticket.outcome.load(Ordering::Acquire) {
            PENDING if Instant::now() > self.ticket.deadline => Some(false),
            PENDING => None,
            s => Some(s == FLUSHED),
        }
    }
}
