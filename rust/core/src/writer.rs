//! The pipeline: producers push encoded records into the ring; one native writer thread drains
//! it in batches and hands each batch to every sink with one call.
//!
//! Wakeups. The writer's `state` is `AWAKE`, `LINGER` (a short nap after a small batch, to let
//! more records gather) or `IDLE` (parked until there is work). A producer reads `state` after
//! publishing its record: `AWAKE` costs it nothing more; `IDLE`, or `LINGER` with the ring at
//! least half full, makes it swap the state to `AWAKE` and `unpark` the writer. No lost wakeup:
//! the producer's reservation is a SeqCst CAS followed by a SeqCst load of `state`; the writer
//! stores `IDLE` with SeqCst and then loads `head` with SeqCst, so one of them sees the other.
//!
//! Slow paths (producers waiting for space, `flush`, `close`, the channel) use a Mutex and a
//! Condvar. The writer only touches them when a `waiters` count says someone waits, with the
//! same SeqCst store-then-load pairing. They live in a `Slow` block that `after_fork_child`
//! replaces (leaking the old one), because a lock held by a parent thread at `fork()` would
//! stay locked forever in the child.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, Ordering};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::ring::{PushError, Ring};
use crate::sink::Sink;
use crate::stats::{Counters, StatsSnapshot};
use crate::sync::CachePadded;

/// What a push does when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the record and count it.
    Drop,
    /// Wait for space up to `timeout` (callers use [`Pipeline::push_wait`]), then drop.
    Block {
        /// The longest a producer waits for space.
        timeout: Duration,
    },
}

/// How a [`Pipeline`] is sized and paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Ring size in bytes (rounded up to a power of two, at least 4 KiB).
    pub capacity_bytes: usize,
    /// The overflow policy the caller applies (the pipeline stores it for the caller to read).
    pub overflow: Overflow,
    /// Payload bytes per batch handed to the sinks (a single larger record still goes alone).
    pub batch_bytes: usize,
    /// How long the writer naps after a small batch so that more records share the next write.
    pub linger: Duration,
    /// Batches the channel holds for a Python sink runner ([`Pipeline::take_batch`]);
    /// 0 means no channel.
    pub channel_batches: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            capacity_bytes: 8 << 20,
            overflow: Overflow::Drop,
            batch_bytes: 64 << 10,
            linger: Duration::from_millis(1),
            channel_batches: 0,
        }
    }
}

const AWAKE: u8 = 0;
const LINGER: u8 = 1;
const IDLE: u8 = 2;

const RUN: u8 = 0;
/// Write everything pushed before `close`, then stop.
const DRAIN: u8 = 1;
/// `close`'s deadline passed: drop what is left, then stop.
const ABANDON: u8 = 2;

/// The longest the idle writer sleeps without a wakeup; a safety net, not a polling interval.
const IDLE_PARK: Duration = Duration::from_millis(250);

/// One batch of whole NDJSON lines, shared between the writer and the channel's consumer.
///
/// It is settled (its records counted as written or dropped) once every sink, native and
/// channel, has finished it.
#[derive(Debug)]
pub struct Batch {
    data: Vec<u8>,
    records: u64,
    /// The ring position just after the batch's last record.
    end_pos: u64,
    /// Participants (the native sinks as one, the channel as another) still working on it.
    pending: AtomicUsize,
    failed: AtomicBool,
    channel_done: AtomicBool,
    pipeline: Weak<Pipeline>,
}

impl Batch {
    /// The batch's bytes: complete lines, each ending in `\n`.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// How many records the batch holds.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Report that the channel's consumer finished this batch; `ok == false` drops its
    /// records (counted, with one error). Only the first call counts.
    pub fn settle(&self, ok: bool) {
        self.settle_channel_share(ok, !ok);
    }

    fn settle_channel_share(&self, ok: bool, count_error: bool) {
        if self.channel_done.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(p) = self.pipeline.upgrade() {
            if count_error {
                Counters::add(&p.counters.errors, 1);
            }
            p.finish(self, ok);
        }
    }
}

/// Slow-path state: locks and handles that `after_fork_child` replaces wholesale.
#[derive(Default)]
struct Slow {
    lock: Mutex<()>,
    cv: Condvar,
    /// The writer thread, for `unpark`; set by the writer itself when it starts.
    writer: OnceLock<Thread>,
    handle: Mutex<Option<JoinHandle<()>>>,
    /// Batches waiting for the channel's consumer, oldest first.
    channel: Mutex<VecDeque<Arc<Batch>>>,
    channel_cv: Condvar,
    /// Batches handed to the channel and not yet settled, oldest first.
    inflight: Mutex<VecDeque<Arc<Batch>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Data that only the writer thread touches.
struct WriterOwned<T>(UnsafeCell<T>);

// SAFETY: the contents are only reached through `get_mut`, whose contract is that the caller is
// the one writer thread, so no two threads access them at once; `T: Send` lets that thread be
// any thread.
unsafe impl<T: Send> Sync for WriterOwned<T> {}

impl<T> WriterOwned<T> {
    /// # Safety
    /// Only the pipeline's current writer thread may call this, and there is at most one.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self) -> &mut T {
        // SAFETY: exclusive per the caller's contract.
        unsafe { &mut *self.0.get() }
    }
}

/// The ring, the writer thread and the sinks: what the Python extension's Logger pushes into.
///
/// Shared as `Arc<Pipeline>`; every method takes `&self` and is safe to call from any thread.
pub struct Pipeline {
    ring: Ring,
    counters: Counters,
    config: PipelineConfig,
    /// The writer's sleep state: `AWAKE`, `LINGER` or `IDLE`.
    state: CachePadded<AtomicU8>,
    /// Set by `close`: pushes are dropped from then on.
    closed: AtomicBool,
    /// `RUN`, `DRAIN` or `ABANDON`.
    stop: AtomicU8,
    /// Set by the writer thread when it has finished (sinks closed).
    exited: AtomicBool,
    flush_req: AtomicU64,
    flush_done: AtomicU64,
    /// Every record before this ring position is settled (written or dropped).
    settled_pos: AtomicU64,
    /// Bumped whenever the writer frees ring space.
    space_epoch: AtomicU64,
    /// Threads waiting on `Slow::cv`.
    waiters: AtomicUsize,
    slow: AtomicPtr<Slow>,
    sinks: WriterOwned<Vec<Box<dyn Sink>>>,
    /// The process that runs the current writer thread, to recognise a forked child.
    pid: AtomicU32,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("ring", &self.ring)
            .field("config", &self.config)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let slow = *self.slow.get_mut();
        // SAFETY: `slow` always holds a pointer from `Box::into_raw`, freed only here; `&mut
        // self` means no reference from `slow()` is alive.
        drop(unsafe { Box::from_raw(slow) });
    }
}

impl Pipeline {
    /// Create the ring and start the writer thread (named `ferrolog-writer`).
    pub fn start(config: PipelineConfig, sinks: Vec<Box<dyn Sink>>) -> io::Result<Arc<Pipeline>> {
        let pipeline = Arc::new(Pipeline {
            ring: Ring::with_capacity(config.capacity_bytes),
            counters: Counters::default(),
            config: PipelineConfig {
                batch_bytes: config.batch_bytes.max(1),
                ..config
            },
            state: CachePadded(AtomicU8::new(AWAKE)),
            closed: AtomicBool::new(false),
            stop: AtomicU8::new(RUN),
            exited: AtomicBool::new(false),
            flush_req: AtomicU64::new(0),
            flush_done: AtomicU64::new(0),
            settled_pos: AtomicU64::new(0),
            space_epoch: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            slow: AtomicPtr::new(Box::into_raw(Box::default())),
            sinks: WriterOwned(UnsafeCell::new(sinks)),
            pid: AtomicU32::new(std::process::id()),
        });
        pipeline.spawn_writer()?;
        Ok(pipeline)
    }

    /// The configuration the pipeline runs with.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The largest record the ring accepts; larger ones are dropped.
    pub fn max_record_len(&self) -> usize {
        self.ring.max_record_len()
    }

    /// Push one record without ever blocking. `false`: it was dropped (and counted).
    #[inline]
    pub fn push(&self, record: &[u8]) -> bool {
        self.push_parts(&[record])
    }

    /// Push the concatenation of `parts` as one record without blocking. `false`: dropped.
    pub fn push_parts(&self, parts: &[&[u8]]) -> bool {
        Counters::add(&self.counters.emitted, 1);
        match self.try_push_inner(parts) {
            Ok(()) => true,
            Err(_) => {
                Counters::add(&self.counters.dropped, 1);
                false
            }
        }
    }

    /// Push one record, waiting for space until `deadline` if the ring is full (call it with
    /// the GIL released). `false`: still no space at the deadline, too large, or closed;
    /// dropped and counted.
    pub fn push_wait(&self, record: &[u8], deadline: Instant) -> bool {
        Counters::add(&self.counters.emitted, 1);
        loop {
            let epoch = self.space_epoch.load(Ordering::SeqCst);
            match self.try_push_inner(&[record]) {
                Ok(()) => return true,
                Err(PushError::Full) if !self.closed.load(Ordering::Relaxed) => {
                    let freed = self.wait_until(deadline, || {
                        self.space_epoch.load(Ordering::SeqCst) != epoch
                            || self.closed.load(Ordering::Relaxed)
                    });
                    if freed {
                        continue;
                    }
                }
                Err(_) => {}
            }
            Counters::add(&self.counters.dropped, 1);
            return false;
        }
    }

    /// Push one record; on failure count nothing, so that an async caller can wait and retry.
    /// `emitted` is counted on success only. After close this reports `Full` forever: callers
    /// that give up should count the record with [`Pipeline::push`]'s drop path, i.e. call
    /// [`Pipeline::count_dropped`].
    pub fn try_push_uncounted(&self, record: &[u8]) -> Result<(), PushError> {
        self.try_push_inner(&[record])?;
        Counters::add(&self.counters.emitted, 1);
        Ok(())
    }

    /// Count one record as emitted and dropped: for a caller of
    /// [`Pipeline::try_push_uncounted`] that gives up on a record.
    pub fn count_dropped(&self) {
        Counters::add(&self.counters.emitted, 1);
        Counters::add(&self.counters.dropped, 1);
    }

    /// Count an error that happened outside the sinks (e.g. while preparing an event).
    pub fn count_error(&self) {
        Counters::add(&self.counters.errors, 1);
    }

    /// Whether the writer thread has finished (after `close`).
    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// Whether `close` was called: pushes are dropped (and counted) from then on.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn try_push_inner(&self, parts: &[&[u8]]) -> Result<(), PushError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PushError::Full);
        }
        let result = self.ring.try_push_parts(parts);
        // SeqCst pairs with the writer's SeqCst store of IDLE (see the module docs); on x86
        // it is a plain load.
        let state = self.state.load(Ordering::SeqCst);
        if state != AWAKE
            && (state == IDLE
                || result.is_err()
                || self.ring.used_bytes() >= self.ring.capacity() / 2)
        {
            self.wake();
        }
        result
    }

    /// Wake the writer if it is napping or parked.
    fn wake(&self) {
        if self.state.swap(AWAKE, Ordering::SeqCst) != AWAKE {
            self.unpark();
        }
    }

    fn unpark(&self) {
        if let Some(t) = self.slow().writer.get() {
            t.unpark();
        }
    }

    /// Block until every record pushed before this call is settled (written or dropped) and
    /// the sinks were flushed, or until `timeout`. `true` if that happened in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let target = self.ring.reserved_pos();
        let req = self.flush_req.fetch_add(1, Ordering::SeqCst) + 1;
        self.state.store(AWAKE, Ordering::SeqCst);
        self.unpark();
        self.wait_until(deadline, || {
            let settled = self.settled_pos.load(Ordering::Acquire) >= target;
            settled
                && (self.flush_done.load(Ordering::Acquire) >= req
                    || self.exited.load(Ordering::Acquire))
        })
    }

    /// Stop accepting records, write what the ring holds within `timeout`, stop the writer
    /// thread and close the sinks. `true` if all of that finished in time. Idempotent; records
    /// pushed afterwards are dropped and counted. When the deadline passes, what is left is
    /// dropped (counted) as soon as the writer can.
    pub fn close(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.closed.store(true, Ordering::SeqCst);
        let _ = self
            .stop
            .compare_exchange(RUN, DRAIN, Ordering::SeqCst, Ordering::SeqCst);
        self.state.store(AWAKE, Ordering::SeqCst);
        self.unpark();
        let exited = self.wait_until(deadline, || self.exited.load(Ordering::Acquire));
        if !exited {
            self.stop.store(ABANDON, Ordering::SeqCst);
            self.unpark();
            return false;
        }
        if let Some(handle) = lock(&self.slow().handle).take() {
            let _ = handle.join();
        }
        // A push that passed the `closed` check just before it was set may have landed after
        // the writer's last drain: count it as dropped rather than leave it unsettled.
        let mut scratch = Vec::new();
        let mut late = 0;
        loop {
            scratch.clear();
            let n = self.ring.pop_batch(&mut scratch, usize::MAX);
            if n == 0 {
                break;
            }
            late += n as u64;
        }
        if late > 0 {
            Counters::add(&self.counters.dropped, late);
            self.settled_pos
                .store(self.ring.consumed_pos(), Ordering::Release);
        }
        // The channel's consumer settles what it took; what it never took is dropped at the
        // deadline.
        let target = self.ring.consumed_pos();
        let settled = self.wait_until(deadline, || {
            self.settled_pos.load(Ordering::Acquire) >= target
        });
        if !settled {
            let untaken: Vec<_> = lock(&self.slow().channel).drain(..).collect();
            for batch in untaken {
                batch.settle_channel_share(false, false);
            }
            self.slow().channel_cv.notify_all();
        }
        settled
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.counters.snapshot(self.ring.high_water_bytes() as u64)
    }

    /// Block until the writer frees ring space (or the ring is at most half full, or the
    /// pipeline is closed), or until `timeout`. `true` if there may be room now.
    pub fn wait_for_space(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let epoch = self.space_epoch.load(Ordering::SeqCst);
        if self.state.load(Ordering::SeqCst) != AWAKE {
            self.wake();
        }
        self.wait_until(deadline, || {
            self.space_epoch.load(Ordering::SeqCst) != epoch
                || self.ring.used_bytes() <= self.ring.capacity() / 2
                || self.closed.load(Ordering::Relaxed)
        })
    }

    /// Take the next batch for the channel sink, waiting up to `timeout`. `None` on timeout,
    /// or when the pipeline is closed and nothing is left. Call [`Batch::settle`] when done.
    pub fn take_batch(&self, timeout: Duration) -> Option<Arc<Batch>> {
        let deadline = Instant::now() + timeout;
        let slow = self.slow();
        let mut queue = lock(&slow.channel);
        loop {
            if let Some(batch) = queue.pop_front() {
                drop(queue);
                slow.channel_cv.notify_all();
                return Some(batch);
            }
            let now = Instant::now();
            if now >= deadline || self.exited.load(Ordering::Acquire) {
                return None;
            }
            queue = slow
                .channel_cv
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// In the child after `fork()`: forget the parent's records, counters and writer thread
    /// and start a new writer. Does nothing in the process that started the writer. A pipeline
    /// that was closed (or being closed by a thread the child does not have) stays closed and
    /// has no writer: it is marked exited, so `close` and `flush` return at once.
    ///
    /// # Safety
    /// Call it in the forked child before any other thread of the child uses this pipeline
    /// (e.g. from an `after_in_child` fork hook). The threads of the parent do not exist there,
    /// so nothing else touches the ring or the sinks.
    pub unsafe fn after_fork_child(self: &Arc<Self>) -> io::Result<()> {
        let pid = std::process::id();
        if self.pid.swap(pid, Ordering::SeqCst) == pid {
            return Ok(());
        }
        // SAFETY: the caller guarantees no other thread uses the ring.
        unsafe { self.ring.reset() };
        self.counters.reset();
        // The parent's locks may be held by threads that do not exist here; leak them (and
        // the parent's writer handle with them: it names a thread the child does not have).
        self.slow
            .store(Box::into_raw(Box::default()), Ordering::SeqCst);
        for a in [
            &self.flush_req,
            &self.flush_done,
            &self.settled_pos,
            &self.space_epoch,
        ] {
            a.store(0, Ordering::SeqCst);
        }
        self.waiters.store(0, Ordering::SeqCst);
        self.state.store(AWAKE, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.stop.store(DRAIN, Ordering::SeqCst);
            self.exited.store(true, Ordering::SeqCst);
            return Ok(());
        }
        self.stop.store(RUN, Ordering::SeqCst);
        self.exited.store(false, Ordering::SeqCst);
        self.spawn_writer()
    }

    fn slow(&self) -> &Slow {
        // SAFETY: `slow` always holds a live `Box::into_raw` pointer: replaced ones are leaked,
        // never freed, and the current one is freed only in `Drop`, which needs `&mut self`.
        unsafe { &*self.slow.load(Ordering::Acquire) }
    }

    fn spawn_writer(self: &Arc<Self>) -> io::Result<()> {
        let me = Arc::clone(self);
        let handle = thread::Builder::new()
            .name("ferrolog-writer".into())
            .spawn(move || me.run())?;
        *lock(&self.slow().handle) = Some(handle);
        Ok(())
    }

    /// Wait on the slow-path condvar until `cond` holds or `deadline` passes.
    fn wait_until(&self, deadline: Instant, cond: impl Fn() -> bool) -> bool {
        if cond() {
            return true;
        }
        let slow = self.slow();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock(&slow.lock);
        let met = loop {
            if cond() {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            guard = slow
                .cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        met
    }

    /// Wake the slow-path waiters after changing what they wait for. Costs a fence and a load
    /// when nobody waits.
    fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let slow = self.slow();
            drop(lock(&slow.lock));
            slow.cv.notify_all();
        }
    }

    /// Settle one participant's share of a channel batch.
    fn finish(&self, batch: &Batch, ok: bool) {
        if !ok {
            batch.failed.store(true, Ordering::Release);
        }
        if batch.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        self.count_settled(
            batch.records,
            batch.data.len(),
            !batch.failed.load(Ordering::Acquire),
        );
        // Channel batches may be settled out of order: advance past finished ones only.
        let mut inflight = lock(&self.slow().inflight);
        while let Some(front) = inflight.front() {
            if front.pending.load(Ordering::Acquire) != 0 {
                break;
            }
            self.settled_pos.store(front.end_pos, Ordering::Release);
            inflight.pop_front();
        }
        drop(inflight);
        self.notify();
    }

    fn count_settled(&self, records: u64, bytes: usize, ok: bool) {
        if ok {
            Counters::add(&self.counters.bytes, bytes as u64);
            // Release: a snapshot that sees `written` sees the bytes too.
            self.counters.written.fetch_add(records, Ordering::Release);
        } else {
            self.counters.dropped.fetch_add(records, Ordering::Release);
        }
    }

    /// The writer thread's body.
    fn run(self: Arc<Self>) {
        let _ = self.slow().writer.set(thread::current());
        let exit = ExitGuard(&self);
        // SAFETY: this is the writer thread; `start` and `after_fork_child` spawn one at a time,
        // the latter only when the previous one does not exist.
        let sinks = unsafe { self.sinks.get_mut() };
        let mut buf = Vec::with_capacity(self.config.batch_bytes * 2);
        let weak = Arc::downgrade(&self);
        let mut lingered = false;
        // Whether the last drain found records: then the next empty ring is met with one more
        // linger-long nap that producers do not interrupt, instead of an idle park that the
        // next producer has to end with a wake-up syscall. Under a steady trickle of events
        // (a service) this keeps the wake-ups off the callers' threads.
        let mut recently_active = false;
        loop {
            let stop = self.stop.load(Ordering::SeqCst);
            if stop == ABANDON {
                self.discard_rest();
                break;
            }
            let req = self.flush_req.load(Ordering::SeqCst);
            let flushing = req > self.flush_done.load(Ordering::Relaxed);
            // Everything reserved before the flush request or the stop must be written.
            let target = (flushing || stop == DRAIN).then(|| self.ring.reserved_pos());
            // Let a batch gather before reading: reading the lines producers are writing right
            // now makes both cores fight over them, and small batches cost a write each.
            let used = self.ring.used_bytes();
            if target.is_none()
                && !lingered
                && !self.config.linger.is_zero()
                && used > 0
                && used < self.config.batch_bytes
            {
                self.nap(LINGER, self.config.linger);
                lingered = true;
                continue;
            }
            lingered = false;
            let (records, _bytes) = self.write_ready(&weak, sinks, &mut buf);
            if let Some(target) = target {
                if self.ring.consumed_pos() < target {
                    // A producer is between its reservation and its publication: a few
                    // instructions away from done.
                    if records == 0 {
                        thread::yield_now();
                    }
                    continue;
                }
                if flushing {
                    for sink in sinks.iter_mut() {
                        self.guard_sink(|| sink.flush());
                    }
                    self.flush_done.store(req, Ordering::Release);
                    self.notify();
                }
                if stop == DRAIN {
                    break;
                }
                continue;
            }
            if records > 0 {
                recently_active = true;
                continue;
            }
            if recently_active && !self.config.linger.is_zero() {
                recently_active = false;
                lingered = true;
                self.nap(LINGER, self.config.linger);
                continue;
            }
            self.nap(IDLE, IDLE_PARK);
        }
        for sink in sinks.iter_mut() {
            self.guard_sink(|| sink.close());
        }
        drop(exit);
    }

    /// Park in `state` unless work arrived meanwhile.
    fn nap(&self, state: u8, timeout: Duration) {
        self.state.store(state, Ordering::SeqCst);
        let work = self.ring.reserved_pos() != self.ring.consumed_pos()
            || self.stop.load(Ordering::SeqCst) != RUN
            || self.flush_req.load(Ordering::SeqCst) > self.flush_done.load(Ordering::Relaxed);
        if !work || state == LINGER {
            thread::park_timeout(timeout);
        }
        self.state.store(AWAKE, Ordering::SeqCst);
    }

    /// Drain every published record in batches and hand each batch to the sinks.
    fn write_ready(
        &self,
        weak: &Weak<Pipeline>,
        sinks: &mut [Box<dyn Sink>],
        buf: &mut Vec<u8>,
    ) -> (u64, usize) {
        let (mut records, mut bytes) = (0, 0);
        loop {
            if self.stop.load(Ordering::Relaxed) == ABANDON {
                break;
            }
            buf.clear();
            let n = self.ring.pop_batch(buf, self.config.batch_bytes) as u64;
            if n == 0 {
                break;
            }
            let end_pos = self.ring.consumed_pos();
            self.space_epoch.fetch_add(1, Ordering::SeqCst);
            self.notify();
            let mut ok = true;
            for sink in sinks.iter_mut() {
                ok &= self.guard_sink(|| sink.write_batch(buf));
            }
            Counters::add(&self.counters.batches, 1);
            records += n;
            bytes += buf.len();
            if self.config.channel_batches == 0 {
                self.count_settled(n, buf.len(), ok);
                self.settled_pos.store(end_pos, Ordering::Release);
                self.notify();
            } else {
                let batch = Arc::new(Batch {
                    data: std::mem::replace(buf, Vec::with_capacity(self.config.batch_bytes * 2)),
                    records: n,
                    end_pos,
                    pending: AtomicUsize::new(2),
                    failed: AtomicBool::new(false),
                    channel_done: AtomicBool::new(false),
                    pipeline: weak.clone(),
                });
                self.hand_to_channel(batch, ok);
            }
        }
        (records, bytes)
    }

    fn hand_to_channel(&self, batch: Arc<Batch>, native_ok: bool) {
        lock(&self.slow().inflight).push_back(Arc::clone(&batch));
        self.finish(&batch, native_ok);
        let slow = self.slow();
        let mut queue = lock(&slow.channel);
        while queue.len() >= self.config.channel_batches {
            if self.stop.load(Ordering::SeqCst) == ABANDON {
                drop(queue);
                batch.settle_channel_share(false, false);
                return;
            }
            queue = slow
                .channel_cv
                .wait_timeout(queue, Duration::from_millis(20))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        queue.push_back(batch);
        drop(queue);
        slow.channel_cv.notify_all();
    }

    /// After `close`'s deadline: count what is left as dropped, without writing it.
    fn discard_rest(&self) {
        let mut scratch = Vec::new();
        loop {
            scratch.clear();
            let n = self.ring.pop_batch(&mut scratch, usize::MAX);
            if n == 0 {
                break;
            }
            self.count_settled(n as u64, 0, false);
        }
        self.settled_pos
            .store(self.ring.consumed_pos(), Ordering::Release);
        self.notify();
    }

    /// Run one sink call; an error or a panic counts one error. `true` on success.
    fn guard_sink(&self, call: impl FnOnce() -> io::Result<()>) -> bool {
        match catch_unwind(AssertUnwindSafe(call)) {
            Ok(Ok(())) => true,
            Ok(Err(_)) | Err(_) => {
                Counters::add(&self.counters.errors, 1);
                false
            }
        }
    }
}

/// Marks the writer as exited even if it unwinds, so that `close` does not wait in vain.
struct ExitGuard<'a>(&'a Pipeline);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.exited.store(true, Ordering::SeqCst);
        self.0.notify();
        self.0.slow().channel_cv.notify_all();
    }
}
