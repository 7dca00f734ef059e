//! The pipeline: a ring, a writer thread that drains it in batches to the sinks, and counters.
//!
//! Producers never take a lock: they push into the ring and, only when the writer has said it
//! is going to sleep, unpark it. The writer blocks for the first record, lingers briefly for
//! more (unless a flush is waiting or the batch is already full), takes everything ready up to
//! the batch size, frees the ring space, then hands the batch to each sink once.
//!
//! Nothing here holds a lock that another thread could own at `fork()` time: waiting for space
//! and for a flush polls atomics with short sleeps, and the only mutex (the sinks) is held by
//! the writer alone, which [`Pipeline::fork_prepare`] pauses.

use crate::ring::{PushError, Ring};
use crate::sink::Sink;
use crate::stats::{Stats, StatsSnapshot};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// What to do with an event when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop it and count it; the caller never waits.
    Drop,
    /// Wait up to `timeout` for room (callers release the GIL first), then drop and count.
    Block { timeout: Duration },
}

/// How a pipeline is sized and paced.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub capacity_bytes: usize,
    pub overflow: Overflow,
    /// The most bytes handed to the sinks at once (64 KiB by default).
    pub batch_bytes: usize,
    /// How long the writer waits for a batch to fill after the first record (1 ms by default).
    pub linger: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            capacity_bytes: 4 << 20,
            overflow: Overflow::Drop,
            batch_bytes: 64 << 10,
            linger: Duration::from_millis(1),
        }
    }
}

const RUNNING: u8 = 0;
/// `close()` was called: drain what is there, then stop.
const CLOSING: u8 = 1;
/// The writer has stopped; pushes are dropped and counted.
const CLOSED: u8 = 2;

/// The longest the writer sleeps before looking again without being woken.
const IDLE_WAIT: Duration = Duration::from_millis(100);

struct Inner {
    ring: Ring,
    config: PipelineConfig,
    stats: Stats,
    state: AtomicU8,
    /// Set by the writer just before it parks; producers that see it unpark the writer.
    sleeping: AtomicBool,
    /// Set by `flush()` and `close()` so the writer skips its linger.
    urgent: AtomicBool,
    /// Set by `fork_prepare`: the writer must not touch the sinks until it is cleared.
    paused: AtomicBool,
    /// Set by the writer while it holds the sinks.
    busy: AtomicBool,
    /// The writer thread's handle, for unparking. Replaced (and the old one leaked) only when a
    /// forked child starts its own writer; never freed, so a reader can never see a dangling one.
    writer: AtomicPtr<Thread>,
    sinks: Mutex<Vec<Box<dyn Sink>>>,
}

/// A running pipeline; share it as `Arc<Pipeline>`. Dropping the last handle closes it.
pub struct Pipeline {
    inner: Arc<Inner>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Start the writer thread (`ferrolog-writer`) over a new ring.
    pub fn start(config: PipelineConfig, sinks: Vec<Box<dyn Sink>>) -> io::Result<Arc<Pipeline>> {
        let inner = Arc::new(Inner {
            ring: Ring::with_capacity(config.capacity_bytes),
            config,
            stats: Stats::default(),
            state: AtomicU8::new(RUNNING),
            sleeping: AtomicBool::new(false),
            urgent: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            writer: AtomicPtr::new(std::ptr::null_mut()),
            sinks: Mutex::new(sinks),
        });
        let handle = spawn_writer(&inner)?;
        Ok(Arc::new(Pipeline {
            inner,
            handle: Mutex::new(Some(handle)),
        }))
    }

    /// The largest record the ring accepts.
    pub fn max_record_len(&self) -> usize {
        self.inner.ring.max_record_len()
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        self.inner.ring.capacity()
    }

    pub fn is_closed(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) != RUNNING
    }

    /// Push one record without waiting; false when it was dropped (and counted).
    #[inline]
    pub fn push(&self, record: &[u8]) -> bool {
        self.push_parts(&[record])
    }

    /// Push several slices as one record without waiting; false when dropped (and counted).
    #[inline]
    pub fn push_parts(&self, parts: &[&[u8]]) -> bool {
        let inner = &*self.inner;
        Stats::add(&inner.stats.emitted, 1);
        if inner.state.load(Ordering::Relaxed) == RUNNING
            && inner.ring.try_push_parts(parts).is_ok()
        {
            inner.wake_writer();
            return true;
        }
        Stats::add(&inner.stats.dropped, 1);
        false
    }

    /// Push if there is room, counting the event only if it was taken. `Err(Full)` means
    /// "retry later"; a closed pipeline answers `Err(TooLarge)`-like [`PushRefused::Closed`].
    #[inline]
    pub fn try_push_uncounted(&self, record: &[u8]) -> Result<(), PushRefused> {
        let inner = &*self.inner;
        if inner.state.load(Ordering::Relaxed) != RUNNING {
            return Err(PushRefused::Closed);
        }
        match inner.ring.try_push(record) {
            Ok(()) => {
                Stats::add(&inner.stats.emitted, 1);
                inner.wake_writer();
                Ok(())
            }
            Err(PushError::Full) => Err(PushRefused::Full),
            Err(PushError::TooLarge) => Err(PushRefused::TooLarge),
        }
    }

    /// Push, waiting for room until `deadline`; then drop and count. Call without the GIL.
    pub fn push_wait(&self, record: &[u8], deadline: Instant) -> bool {
        let mut pause = Duration::from_micros(20);
        loop {
            match self.try_push_uncounted(record) {
                Ok(()) => return true,
                Err(PushRefused::Full) if Instant::now() < deadline => {
                    self.inner.urgent.store(true, Ordering::Release);
                    self.inner.wake_writer_now();
                    thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                    pause = (pause * 2).min(Duration::from_millis(1));
                }
                Err(_) => return self.push(record),
            }
        }
    }

    /// Count an internal error (e.g. a Python-side failure while preparing an event).
    pub fn record_error(&self) {
        Stats::add(&self.inner.stats.errors, 1);
    }

    /// Count events dropped outside the ring (e.g. by a caller-side policy).
    pub fn record_dropped(&self, n: u64) {
        Stats::add(&self.inner.stats.emitted, n);
        Stats::add(&self.inner.stats.dropped, n);
    }

    /// Wait until every event emitted before the call is written or counted dropped.
    /// True when that happened within `timeout`. Call without the GIL.
    pub fn flush(&self, timeout: Duration) -> bool {
        let inner = &*self.inner;
        let mark = inner.stats.emitted.load(Ordering::Acquire);
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(50);
        loop {
            if self.settled(mark) {
                return true;
            }
            if inner.state.load(Ordering::Acquire) == CLOSED || Instant::now() >= deadline {
                return self.settled(mark);
            }
            inner.urgent.store(true, Ordering::Release);
            inner.wake_writer_now();
            thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }

    /// How many events were emitted so far (a mark for [`Pipeline::settled`]).
    pub fn emitted(&self) -> u64 {
        self.inner.stats.emitted.load(Ordering::Acquire)
    }

    /// Whether at least `mark` events are written or counted dropped.
    pub fn settled(&self, mark: u64) -> bool {
        let s = &self.inner.stats;
        s.written.load(Ordering::Acquire) + s.dropped.load(Ordering::Acquire) >= mark
    }

    /// Drain within `timeout`, stop the writer, close the sinks. What is still queued at the
    /// deadline is counted dropped. Idempotent; true when everything was written or counted.
    pub fn close(&self, timeout: Duration) -> bool {
        let inner = &*self.inner;
        let deadline = Instant::now() + timeout;
        if inner
            .state
            .compare_exchange(RUNNING, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            inner.urgent.store(true, Ordering::Release);
            inner.wake_writer_now();
        }
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let mut pause = Duration::from_micros(50);
            while !handle.is_finished() && Instant::now() < deadline {
                inner.wake_writer_now();
                thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(2));
            }
            // Past the deadline the writer stops after its current batch.
            inner.state.store(CLOSED, Ordering::Release);
            inner.wake_writer_now();
            let _ = handle.join();
            let mut sinks = inner.sinks.lock().unwrap_or_else(|e| e.into_inner());
            for sink in sinks.iter_mut() {
                if sink.close().is_err() {
                    Stats::add(&inner.stats.errors, 1);
                }
            }
            sinks.clear();
        }
        // Whatever could not be written in time is dropped, and counted.
        let mut leftover = Vec::new();
        loop {
            let n = inner.ring.pop_batch(&mut leftover, 1 << 20);
            if n == 0 {
                break;
            }
            Stats::add(&inner.stats.dropped, n as u64);
            leftover.clear();
        }
        inner.state.store(CLOSED, Ordering::Release);
        let s = self.stats();
        s.emitted == s.written + s.dropped
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.inner
            .stats
            .snapshot(self.inner.ring.high_water_bytes() as u64)
    }

    /// Before `fork()`: make the writer let go of the sinks, so the child finds them unlocked.
    pub fn fork_prepare(&self) {
        let inner = &*self.inner;
        inner.paused.store(true, Ordering::SeqCst);
        while inner.busy.load(Ordering::SeqCst) {
            thread::yield_now();
        }
    }

    /// After `fork()`, in the parent: let the writer go on.
    pub fn fork_parent(&self) {
        self.inner.paused.store(false, Ordering::SeqCst);
        self.inner.wake_writer_now();
    }

    /// After `fork()`, in the child: forget the parent's queued records and counters (they are
    /// the parent's to write), and start a writer thread of the child's own.
    pub fn after_fork_child(&self) {
        let inner = &*self.inner;
        inner.paused.store(false, Ordering::SeqCst);
        inner.busy.store(false, Ordering::SeqCst);
        // SAFETY: in a freshly forked child the only thread is the one running this hook;
        // no producer or consumer can be inside the ring.
        unsafe { inner.ring.reset() };
        inner.stats.reset();
        // The parent's writer does not exist here; its JoinHandle must not be joined.
        if let Some(h) = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take() {
            std::mem::forget(h);
        }
        inner.writer.store(std::ptr::null_mut(), Ordering::SeqCst);
        if inner.state.load(Ordering::Acquire) != RUNNING {
            return;
        }
        match spawn_writer(&self.inner) {
            Ok(h) => *self.handle.lock().unwrap_or_else(|e| e.into_inner()) = Some(h),
            Err(_) => {
                Stats::add(&inner.stats.errors, 1);
                inner.state.store(CLOSED, Ordering::Release);
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if self.inner.state.load(Ordering::Acquire) != CLOSED {
            self.close(Duration::from_secs(2));
        }
    }
}

/// Why [`Pipeline::try_push_uncounted`] did not take a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRefused {
    /// No room now; retry later.
    Full,
    /// Larger than the ring accepts; it never will fit.
    TooLarge,
    /// The pipeline is closed.
    Closed,
}

impl Inner {
    /// Unpark the writer if it said it was going to sleep (no syscall otherwise).
    #[inline]
    fn wake_writer(&self) {
        // Pairs with the writer's SeqCst store of `sleeping` followed by its emptiness check:
        // either the writer sees our record, or we see it sleeping.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            self.wake_writer_now();
        }
    }

    fn wake_writer_now(&self) {
        let t = self.writer.load(Ordering::Acquire);
        if !t.is_null() {
            // SAFETY: handles stored in `writer` are leaked boxes, never freed (see the field).
            unsafe { (*t).unpark() };
        }
    }
}

fn spawn_writer(inner: &Arc<Inner>) -> io::Result<JoinHandle<()>> {
    let worker = Arc::clone(inner);
    let handle = thread::Builder::new()
        .name("ferrolog-writer".into())
        .spawn(move || run(&worker))?;
    let leaked: &'static Thread = Box::leak(Box::new(handle.thread().clone()));
    inner
        .writer
        .store(leaked as *const Thread as *mut Thread, Ordering::Release);
    Ok(handle)
}

/// The writer thread's loop.
fn run(inner: &Inner) {
    let batch_bytes = inner.config.batch_bytes.max(1);
    let mut batch: Vec<u8> = Vec::with_capacity(batch_bytes + 4096);
    loop {
        let state = inner.state.load(Ordering::Acquire);
        if state == CLOSED {
            return;
        }
        if inner.paused.load(Ordering::SeqCst) {
            thread::park_timeout(Duration::from_millis(1));
            continue;
        }
        if inner.ring.is_empty() {
            if state == CLOSING {
                return;
            }
            inner.sleeping.store(true, Ordering::SeqCst);
            if inner.ring.is_empty() && inner.state.load(Ordering::Acquire) == RUNNING {
                thread::park_timeout(IDLE_WAIT);
            }
            inner.sleeping.store(false, Ordering::SeqCst);
            continue;
        }
        // Linger for a fuller batch unless one is ready or someone waits on us.
        if !inner.config.linger.is_zero()
            && state == RUNNING
            && inner.ring.used_bytes() < batch_bytes
            && !inner.urgent.swap(false, Ordering::AcqRel)
        {
            let until = Instant::now() + inner.config.linger;
            while inner.ring.used_bytes() < batch_bytes && !inner.urgent.load(Ordering::Acquire) {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                thread::park_timeout(until - now);
            }
        }
        inner.urgent.store(false, Ordering::Release);
        batch.clear();
        let n = inner.ring.pop_batch(&mut batch, batch_bytes);
        if n == 0 {
            // The next record is reserved but not yet published: its producer is mid-copy.
            thread::yield_now();
            continue;
        }
        write_batch(inner, &batch, n as u64);
        if batch.capacity() > 4 * (batch_bytes + 4096) {
            batch = Vec::with_capacity(batch_bytes + 4096);
        }
    }
}

/// Hand one batch to every sink; count it written only if all of them took it.
fn write_batch(inner: &Inner, batch: &[u8], records: u64) {
    inner.busy.store(true, Ordering::SeqCst);
    while inner.paused.load(Ordering::SeqCst) {
        inner.busy.store(false, Ordering::SeqCst);
        thread::park_timeout(Duration::from_millis(1));
        inner.busy.store(true, Ordering::SeqCst);
    }
    let mut failed = false;
    {
        let mut sinks = inner.sinks.lock().unwrap_or_else(|e| e.into_inner());
        for sink in sinks.iter_mut() {
            if sink.write_batch(batch).is_err() {
                Stats::add(&inner.stats.errors, 1);
                failed = true;
            }
        }
    }
    inner.busy.store(false, Ordering::SeqCst);
    if failed {
        Stats::add(&inner.stats.dropped, records);
    } else {
        Stats::add(&inner.stats.bytes, batch.len() as u64);
        Stats::add(&inner.stats.batches, 1);
        Stats::add(&inner.stats.written, records);
    }
}
