//! The pipeline: producers push encoded records into the ring; one native writer thread drains
//! it in batches and hands each batch to every sink with one call.
//!
//! Wakeups: the writer naps (`LINGER` after a small batch, `IDLE` when there is nothing to do)
//! and producers wake it; threads in `flush`, `push_wait`, `wait_for_space` and `close` wait on
//! a condvar that the writer notifies only when someone waits. Both protocols live in
//! [`crate::wake`], which loom model-checks. The condvar and the writer's handle live in a
//! `Slow` block that `after_fork_child` replaces (leaking the old one), because a lock held by a
//! parent thread at `fork()` would stay locked forever in the child.
//!
//! Accounting: a push counts `emitted` before it takes a ring ticket, and every ticket is
//! settled exactly once, as written or dropped, by whoever gives it back (see the ring's
//! module docs). `written` and `dropped` are added with Release after the `emitted` they settle
//! became visible to the adding thread, and [`StatsSnapshot`] reads them before `emitted`, so a
//! snapshot never shows more settled records than emitted ones.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::fallback::{Fallback, Guarded, Outcome, SinkHealth, SinkStats};
use crate::ring::{PushError, Refused, Ring};
use crate::sink::Sink;
use crate::stats::{Counters, StatsSnapshot};
use crate::sync::{self, AtomicU64};
use crate::wake::{self, Sleep, WaitRoom, Waiters, AWAKE, IDLE, LINGER};

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
    /// Ring size in bytes (rounded up to a power of two, at least 4 KiB, at most
    /// [`MAX_CAPACITY_BYTES`](crate::ring::MAX_CAPACITY_BYTES)).
    pub capacity_bytes: usize,
    /// The overflow policy the caller applies (the pipeline stores it for the caller to read).
    pub overflow: Overflow,
    /// Payload bytes per batch handed to the sinks (a single larger record still goes alone).
    /// A batch never holds more than the ring, so values above its capacity act as the
    /// capacity.
    pub batch_bytes: usize,
    /// How long the writer naps before a drain so that more records share the next write; while
    /// drains come out small (and at low rates, its polls of an empty ring) the naps lengthen
    /// to 16 lingers (see `POLL_LINGERS`). 0: no batching delay.
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

const RUN: u8 = 0;
/// Write everything pushed before `close`, then stop.
const DRAIN: u8 = 1;
/// `close`'s deadline passed: drop what is left, then stop.
const ABANDON: u8 = 2;

/// The longest the idle writer sleeps without a wakeup; a safety net, not a polling interval.
const IDLE_PARK: Duration = Duration::from_millis(250);

/// At low rates the writer polls instead of parking: its naps after a batch grow from the
/// linger time by doubling up to this many lingers (16 ms by default), so records gather into
/// fewer, larger writes and producers (which do not wake a napping writer until the ring is
/// half full) make no wake-up syscall per event.
const POLL_LINGERS: u32 = 16;

/// Empty polls add up to this much before the writer parks until a producer wakes it: a
/// trickle of one event every 100 ms still costs its producers no syscall, while an idle
/// process stops waking up a quarter of a second after its last event.
const POLL_QUIET: Duration = Duration::from_millis(250);

/// Waiting for a producer between its reservation and its publication (normally a few
/// instructions, unless it was preempted there): the first nap, and the longest. The producer
/// wakes the napping writer when it publishes, so the naps only bound the cost of a wake-up
/// lost to the race the protocol leaves open there (the publication is not SeqCst).
const STALL_NAP_FIRST: Duration = Duration::from_micros(50);
const STALL_NAP_MAX: Duration = Duration::from_millis(5);

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
    /// The native side already handed the batch to the fallback sink (a native sink failed):
    /// a failing Python sink's share needs no second copy there.
    rerouted: AtomicBool,
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

    /// Report that the channel's consumer finished this batch. `ok == false` (one error)
    /// hands the batch to the pipeline's fallback sink, or drops its records (counted) when
    /// there is none or it fails too. Only the first call counts. It may write to the
    /// fallback: call it without the GIL.
    pub fn settle(&self, ok: bool) {
        self.settle_channel_share(ok, !ok);
    }

    fn settle_channel_share(&self, ok: bool, count_error: bool) {
        if self.channel_done.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(p) = self.pipeline.upgrade() {
            let mut ok = ok;
            if count_error {
                Counters::add(&p.counters.errors, 1);
                ok = self.rerouted.load(Ordering::Acquire) || p.reroute(&self.data, self.records);
            }
            p.finish(self, ok);
        }
    }

    /// A settled placeholder that only carries a ring position through the in-flight queue.
    fn marker(end_pos: u64) -> Batch {
        Batch {
            data: Vec::new(),
            records: 0,
            end_pos,
            pending: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            rerouted: AtomicBool::new(false),
            channel_done: AtomicBool::new(true),
            pipeline: Weak::new(),
        }
    }
}

/// Slow-path state: locks and handles that `after_fork_child` replaces wholesale.
#[derive(Default)]
struct Slow {
    /// Where `flush`, `push_wait`, `wait_for_space` and `close` wait for the writer.
    room: WaitRoom,
    /// The writer thread, for `unpark`; set by the writer itself when it starts.
    writer: OnceLock<sync::Thread>,
    handle: Mutex<Option<JoinHandle<()>>>,
    /// Batches waiting for the channel's consumer, oldest first.
    channel: Mutex<VecDeque<Arc<Batch>>>,
    channel_cv: Condvar,
    /// Batches handed to the channel and not yet settled, oldest first.
    inflight: Mutex<VecDeque<Arc<Batch>>>,
    /// Where a failed sink's batches go; shared with the channel's consumer.
    fallback: Mutex<Option<Fallback>>,
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
    state: Sleep,
    /// Set by `close`: pushes are dropped from then on.
    closed: AtomicBool,
    /// `RUN`, `DRAIN` or `ABANDON`.
    stop: AtomicU8,
    /// Set by the writer thread when it has finished (sinks closed).
    exited: AtomicBool,
    flush_req: AtomicU64,
    flush_done: AtomicU64,
    /// Every record before this ring position is settled (written or dropped). Only moves
    /// forward (`fetch_max`).
    settled_pos: AtomicU64,
    /// Bumped whenever the writer frees ring space.
    space_epoch: AtomicU64,
    /// Threads waiting in the slow-path room.
    waiters: Waiters,
    slow: AtomicPtr<Slow>,
    sinks: WriterOwned<Vec<Guarded>>,
    /// Each native sink's health, in the order of the sinks.
    sink_stats: Vec<Arc<SinkStats>>,
    /// The fallback sink's name, for reports.
    fallback_name: String,
    /// Whether a fallback sink was configured (it may be gone in a forked child).
    has_fallback: bool,
    /// The process that runs the current writer thread, to recognise a forked child.
    pid: AtomicU32,
    /// Naps the writer took waiting for a producer between reservation and publication.
    stall_naps: AtomicU64,
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
    ///
    /// # Errors
    /// `InvalidInput` if `capacity_bytes` is above
    /// [`MAX_CAPACITY_BYTES`](crate::ring::MAX_CAPACITY_BYTES), `OutOfMemory` if the ring
    /// cannot be allocated (both name the capacity), or the error of spawning the thread.
    pub fn start(config: PipelineConfig, sinks: Vec<Box<dyn Sink>>) -> io::Result<Arc<Pipeline>> {
        Self::start_with_fallback(config, sinks, None)
    }

    /// Like [`start`](Self::start), with a `fallback` sink that takes the batches of a sink
    /// whose write fails (see [`crate::fallback`]); without one they are dropped and counted.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_fallback(
        config: PipelineConfig,
        sinks: Vec<Box<dyn Sink>>,
        fallback: Option<Box<dyn Sink>>,
    ) -> io::Result<Arc<Pipeline>> {
        let ring = Ring::with_capacity(config.capacity_bytes)?;
        let sinks: Vec<Guarded> = sinks.into_iter().map(Guarded::new).collect();
        let sink_stats = sinks.iter().map(|g| Arc::clone(&g.stats)).collect();
        let has_fallback = fallback.is_some();
        let fallback_name = fallback
            .as_ref()
            .map_or_else(String::new, |f| f.name().to_owned());
        let slow = Box::new(Slow {
            fallback: Mutex::new(fallback.map(Fallback::new)),
            ..Slow::default()
        });
        let pipeline = Arc::new(Pipeline {
            ring,
            counters: Counters::default(),
            config: PipelineConfig {
                batch_bytes: config.batch_bytes.max(1),
                ..config
            },
            state: Sleep::new(),
            closed: AtomicBool::new(false),
            stop: AtomicU8::new(RUN),
            exited: AtomicBool::new(false),
            flush_req: AtomicU64::new(0),
            flush_done: AtomicU64::new(0),
            settled_pos: AtomicU64::new(0),
            space_epoch: AtomicU64::new(0),
            waiters: Waiters::new(),
            slow: AtomicPtr::new(Box::into_raw(slow)),
            sinks: WriterOwned(UnsafeCell::new(sinks)),
            sink_stats,
            fallback_name,
            has_fallback,
            pid: AtomicU32::new(std::process::id()),
            stall_naps: AtomicU64::new(0),
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

    /// Payload bytes per batch: the configured value, at most the ring's capacity.
    fn batch_bytes(&self) -> usize {
        self.config.batch_bytes.min(self.ring.capacity())
    }

    /// Push one record without ever blocking. `false`: it was dropped (and counted).
    #[inline]
    pub fn push(&self, record: &[u8]) -> bool {
        self.push_parts(&[record])
    }

    /// Push the concatenation of `parts` as one record without blocking. `false`: dropped.
    #[inline]
    pub fn push_parts(&self, parts: &[&[u8]]) -> bool {
        self.push_parts_with(parts, || {})
    }

    /// [`Pipeline::push_parts`], calling `between` after the record's ring space is reserved
    /// and before the record is written and published. For tests only: it simulates a
    /// producer preempted in the middle of its push.
    #[doc(hidden)]
    pub fn push_parts_with(&self, parts: &[&[u8]], between: impl FnOnce()) -> bool {
        // Before the ticket: whoever settles the record sees its emission (see module docs).
        Counters::add(&self.counters.emitted, 1);
        match self.try_push_inner(parts, between) {
            Ok(()) => true,
            Err(refused) => {
                if !refused.settled {
                    Counters::settle(&self.counters.dropped, 1);
                }
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
            let epoch = wake::space::epoch(&self.space_epoch);
            match self.try_push_inner(&[record], || {}) {
                Ok(()) => return true,
                Err(r) if r.settled => return false,
                Err(r) if r.error == PushError::Full && !r.sealed && !self.is_closed() => {
                    let freed = self.wait_until(deadline, || {
                        wake::space::changed(&self.space_epoch, epoch)
                            || self.closed.load(Ordering::Relaxed)
                    });
                    if freed {
                        continue;
                    }
                }
                Err(_) => {}
            }
            Counters::settle(&self.counters.dropped, 1);
            return false;
        }
    }

    /// Push one record; on failure count nothing, so that an async caller can wait and retry.
    /// `emitted` is counted on success only. After close this reports `Full` forever: callers
    /// that give up should count the record with [`Pipeline::push`]'s drop path, i.e. call
    /// [`Pipeline::count_dropped`].
    ///
    /// `Ok` also covers one edge: a call preempted inside the ring for the whole of a
    /// [`Pipeline::close`] whose deadline passed, which then counted the record (emitted and
    /// dropped); it must not be counted again.
    pub fn try_push_uncounted(&self, record: &[u8]) -> Result<(), PushError> {
        // Counted before the ticket (and taken back on failure) so that `close` can settle the
        // record if it is stuck in flight; see the module docs.
        Counters::add(&self.counters.emitted, 1);
        match self.try_push_inner(&[record], || {}) {
            Ok(()) => Ok(()),
            Err(r) if r.settled => Ok(()),
            Err(r) => {
                self.counters.emitted.fetch_sub(1, Ordering::Relaxed);
                Err(r.error)
            }
        }
    }

    /// Count one record as emitted and dropped: for a caller of
    /// [`Pipeline::try_push_uncounted`] that gives up on a record.
    pub fn count_dropped(&self) {
        Counters::add(&self.counters.emitted, 1);
        Counters::settle(&self.counters.dropped, 1);
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

    /// How many naps the writer took waiting for a producer that had reserved ring space but
    /// not yet published its record. For tests: a writer that spins instead of napping shows
    /// here as a large number.
    #[doc(hidden)]
    pub fn stall_naps(&self) -> u64 {
        self.stall_naps.load(Ordering::Relaxed)
    }

    #[inline]
    fn try_push_inner(&self, parts: &[&[u8]], between: impl FnOnce()) -> Result<(), Refused> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Refused {
                error: PushError::Full,
                sealed: true,
                settled: false,
            });
        }
        let result = self.ring.push_with(parts, between);
        if self
            .state
            .needs_wake(|| result.is_err() || self.ring.used_bytes() >= self.ring.capacity() / 2)
        {
            self.wake();
        }
        result
    }

    /// Wake the writer if it is napping or parked.
    fn wake(&self) {
        if self.state.wake() {
            self.unpark();
        }
    }

    fn unpark(&self) {
        if let Some(t) = self.slow().writer.get() {
            t.unpark();
        }
    }

    /// Block until every record pushed before this call is settled (written or counted as
    /// dropped) and the native sinks were flushed, or until `timeout`. `true` if that happened
    /// in time.
    ///
    /// "Before this call" is by ring position: every record whose space was reserved before
    /// the call, including records whose producer is still copying them in (the flush waits
    /// for them). After `close`, the sinks are closed, and only the settling is waited for.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let target = self.ring.reserved_pos();
        let req = wake::flush::request(&self.flush_req);
        // Unconditionally: a lingering writer would otherwise finish its nap first.
        self.state.store(AWAKE, Ordering::SeqCst);
        self.unpark();
        self.wait_until(deadline, || {
            let settled = self.settled_pos.load(Ordering::Acquire) >= target;
            settled
                && (wake::flush::is_served(&self.flush_done, req)
                    || self.exited.load(Ordering::Acquire))
        })
    }

    /// Stop accepting records, write what the ring holds within `timeout`, stop the writer
    /// thread and close the sinks. `true` if all of that finished in time. Idempotent; records
    /// pushed afterwards are dropped and counted.
    ///
    /// When the deadline passes, everything not yet written is counted as dropped before this
    /// returns, including records whose producer is stalled between reserving ring space and
    /// publishing the record, so `emitted == written + dropped` holds on return; the one
    /// exception is a batch that a stalled sink (native, or the channel's consumer) still
    /// holds, which settles when the sink returns.
    pub fn close(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.closed.store(true, Ordering::SeqCst);
        // From here on no push reserves space: the pushes in flight are all that can still
        // arrive, and the ring's tickets count them.
        self.ring.seal();
        let _ = self
            .stop
            .compare_exchange(RUN, DRAIN, Ordering::SeqCst, Ordering::SeqCst);
        self.state.store(AWAKE, Ordering::SeqCst);
        self.unpark();
        let exited = self.wait_until(deadline, || self.exited.load(Ordering::Acquire));
        if !exited {
            self.stop.store(ABANDON, Ordering::SeqCst);
            self.unpark();
            self.abandon_ring();
            return false;
        }
        if let Some(handle) = lock(&self.slow().handle).take() {
            let _ = handle.join();
        }
        // The writer drains until nothing is in flight, but it may have stopped early (a sink
        // panicked through it, or an earlier close's deadline passed): settle the rest here.
        let quiet = self.settle_rest(deadline);
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
        // Last, because the channel's consumer may have handed it failed batches until now.
        if let Some(fallback) = lock(&self.slow().fallback).as_mut() {
            if fallback.close().is_err() {
                Counters::add(&self.counters.errors, 1);
            }
        }
        quiet && settled
    }

    /// After the writer exited: pop and drop what it left, waiting (with growing naps) for
    /// pushes still in flight until `deadline`, then abandon the ring. `true` if nothing had
    /// to be abandoned.
    fn settle_rest(&self, deadline: Instant) -> bool {
        let mut scratch = Vec::new();
        let mut nap = STALL_NAP_FIRST;
        loop {
            let mut popped = false;
            loop {
                scratch.clear();
                let got = self.ring.pop(&mut scratch, usize::MAX);
                if got.records == 0 {
                    break;
                }
                popped = true;
                if !got.settled {
                    Counters::settle(&self.counters.dropped, got.records as u64);
                }
            }
            if popped {
                self.advance_settled(self.ring.consumed_pos());
            }
            if self.ring.is_settled() || self.ring.is_abandoned() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                self.abandon_ring();
                return false;
            }
            // Nobody wakes this thread: a producer in flight is a few instructions from done
            // unless it was preempted, so poll with growing naps, bounded by the deadline.
            thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(STALL_NAP_MAX);
        }
    }

    /// Count every ticket still out as dropped and consider everything reserved settled.
    fn abandon_ring(&self) {
        if let Some(lost) = self.ring.abandon() {
            if lost > 0 {
                Counters::settle(&self.counters.dropped, lost);
            }
        }
        self.advance_settled(self.ring.reserved_pos());
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.counters.snapshot(self.ring.high_water_bytes() as u64)
    }

    /// Each native sink's health now, in the order the sinks were given.
    pub fn sink_health(&self) -> Vec<SinkHealth> {
        self.sink_stats.iter().map(|s| s.snapshot()).collect()
    }

    /// The fallback sink's name, or `None` without one.
    pub fn fallback_name(&self) -> Option<&str> {
        lock(&self.slow().fallback).as_ref()?;
        Some(&self.fallback_name)
    }

    /// Hand `data` (whole lines: `records` records a sink failed to write) to the fallback
    /// sink. `true` if it took them (counted as `rerouted`).
    fn reroute(&self, data: &[u8], records: u64) -> bool {
        let mut fallback = lock(&self.slow().fallback);
        let Some(fallback) = fallback.as_mut() else {
            return false;
        };
        let ok = fallback.write(data);
        if ok {
            Counters::add(&self.counters.rerouted, records);
        }
        ok
    }

    /// Block until the writer frees ring space (or the ring is at most half full, or the
    /// pipeline is closed), or until `timeout`. `true` if there may be room now.
    pub fn wait_for_space(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let epoch = wake::space::epoch(&self.space_epoch);
        if self.state.load(Ordering::SeqCst) != AWAKE {
            self.wake();
        }
        self.wait_until(deadline, || {
            wake::space::changed(&self.space_epoch, epoch)
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
        for s in &self.sink_stats {
            s.reset();
        }
        // The parent's locks may be held by threads that do not exist here; leak them (and
        // the parent's writer handle with them: it names a thread the child does not have).
        // The fallback sink comes along unless a parent thread was using it at the fork: then
        // its state is unknown, and the child has none (failed batches are dropped, counted).
        let fallback = match self.slow().fallback.try_lock() {
            Ok(mut f) => f.take(),
            Err(_) => None,
        };
        let slow = Box::new(Slow {
            fallback: Mutex::new(fallback),
            ..Slow::default()
        });
        self.slow.store(Box::into_raw(slow), Ordering::SeqCst);
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

    /// Wait in the slow-path room until `cond` holds or `deadline` passes.
    fn wait_until(&self, deadline: Instant, cond: impl Fn() -> bool) -> bool {
        self.waiters.wait_until(&self.slow().room, deadline, cond)
    }

    /// Wake the slow-path waiters after changing what they wait for.
    fn notify(&self) {
        self.waiters.notify(&self.slow().room);
    }

    /// Every record before `pos` is settled: move `settled_pos` there, never backwards, and
    /// never past a channel batch that is not settled yet (then the position waits in the
    /// in-flight queue behind it, and `finish` applies it).
    fn advance_settled(&self, pos: u64) {
        let mut inflight = lock(&self.slow().inflight);
        if inflight.is_empty() {
            self.settled_pos.fetch_max(pos, Ordering::AcqRel);
        } else {
            inflight.push_back(Arc::new(Batch::marker(pos)));
        }
        drop(inflight);
        self.notify();
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
            self.settled_pos.fetch_max(front.end_pos, Ordering::AcqRel);
            inflight.pop_front();
        }
        drop(inflight);
        self.notify();
    }

    fn count_settled(&self, records: u64, bytes: usize, ok: bool) {
        if ok {
            Counters::add(&self.counters.bytes, bytes as u64);
            // Release: a snapshot that sees `written` sees the bytes too.
            Counters::settle(&self.counters.written, records);
        } else {
            Counters::settle(&self.counters.dropped, records);
        }
    }

    /// The writer thread's body.
    fn run(self: Arc<Self>) {
        let _ = self.slow().writer.set(sync::current());
        let exit = ExitGuard(&self);
        // SAFETY: this is the writer thread; `start` and `after_fork_child` spawn one at a time,
        // the latter only when the previous one does not exist.
        let sinks = unsafe { self.sinks.get_mut() };
        let mut buf = Vec::with_capacity(self.batch_bytes() * 2);
        let weak = Arc::downgrade(&self);
        let mut lingered = false;
        // Whether records came recently: then an empty ring is met with a poll, a nap that
        // producers do not interrupt, instead of an idle park that the next producer has to
        // end with a wake-up syscall. Under a steady trickle of events (a service) this keeps
        // the wake-ups off the callers' threads. Empty polls end after `POLL_QUIET`. Polls
        // and the nap before a drain last `poll`: from the linger time up to `POLL_LINGERS` of
        // them, longer while drains come out small, shorter while they come out large.
        let mut recently_active = false;
        let poll_min = self.config.linger;
        let poll_max = poll_min
            .saturating_mul(POLL_LINGERS)
            .min(Duration::from_secs(1));
        let mut poll = poll_min;
        let mut quiet = Duration::ZERO;
        // The next nap while a producer is between its reservation and its publication.
        let mut stall_nap = STALL_NAP_FIRST;
        loop {
            let stop = self.stop.load(Ordering::SeqCst);
            if stop == ABANDON {
                self.discard_rest();
                break;
            }
            let flush = wake::flush::pending(&self.flush_req, &self.flush_done);
            // Everything reserved before the flush request must be written.
            let target = flush.map(|_| self.ring.reserved_pos());
            let draining = stop == DRAIN;
            // Let a batch gather before reading: reading the lines producers are writing right
            // now makes both cores fight over them, and small batches cost a write each.
            let used = self.ring.used_bytes();
            if target.is_none()
                && !draining
                && !lingered
                && !self.config.linger.is_zero()
                && used > 0
                && used < self.batch_bytes()
            {
                self.state.nap(LINGER, poll, || false);
                lingered = true;
                continue;
            }
            lingered = false;
            // A flush or a close takes everything published; otherwise the drain stops at the
            // first short batch and the next pass lingers first (see `write_ready`).
            let greedy = target.is_some() || draining;
            let (records, bytes) = self.write_ready(&weak, sinks, &mut buf, greedy);
            if records > 0 {
                stall_nap = STALL_NAP_FIRST;
                quiet = Duration::ZERO;
                // The nap before the next drain follows the rate: a drain of half a batch or
                // more halves it (a burst: prompt batches), one under a quarter doubles it (a
                // trickle: fewer, larger writes; a producer that finds the ring half full
                // still wakes the writer at once).
                if bytes >= self.batch_bytes() / 2 {
                    poll = (poll / 2).max(poll_min);
                } else if bytes < self.batch_bytes() / 4 {
                    poll = (poll * 2).min(poll_max);
                }
            }
            if target.is_some() || draining {
                let flushed = target.is_none_or(|t| self.ring.consumed_pos() >= t);
                if let (Some(req), true) = (flush, flushed) {
                    for slot in sinks.iter_mut().filter(|s| !s.is_failing()) {
                        if !self.guard_sink(|| slot.sink.flush()) {
                            slot.stats.count_error();
                        }
                    }
                    self.flush_fallback();
                    wake::flush::complete(&self.flush_done, req);
                    self.notify();
                }
                // Draining ends when the ring is sealed and every ticket is back: no record is
                // in flight and none is left to pop.
                let drained = draining && self.ring.is_settled();
                if drained {
                    break;
                }
                if records == 0 && (!flushed || draining) {
                    // A producer is between its reservation and its publication: normally a
                    // few instructions from done, but it may have been preempted there. Nap
                    // (it wakes us when it publishes) rather than spin.
                    self.stall_naps.fetch_add(1, Ordering::Relaxed);
                    self.state.nap(IDLE, stall_nap, || {
                        self.ring.front_is_published()
                            || self.stop.load(Ordering::SeqCst) == ABANDON
                    });
                    stall_nap = (stall_nap * 2).min(STALL_NAP_MAX);
                }
                continue;
            }
            if records > 0 {
                recently_active = true;
                continue;
            }
            if recently_active && !poll_min.is_zero() {
                lingered = true;
                self.state.nap(LINGER, poll, || false);
                quiet += poll;
                poll = (poll * 2).min(poll_max);
                if quiet >= POLL_QUIET {
                    recently_active = false;
                    poll = poll_min;
                }
                continue;
            }
            self.state.nap(IDLE, IDLE_PARK, || {
                self.ring.reserved_pos() != self.ring.consumed_pos()
                    || self.stop.load(Ordering::SeqCst) != RUN
                    || wake::flush::pending(&self.flush_req, &self.flush_done).is_some()
            });
        }
        for slot in sinks.iter_mut() {
            if !self.guard_sink(|| slot.sink.close()) {
                slot.stats.count_error();
            }
        }
        drop(exit);
    }

    /// Pop published records in batches and hand each batch to the sinks: all of them when
    /// `greedy` (a flush or a close), else until a batch comes out shorter than half of
    /// `batch_bytes`. That batch means the writer has caught up with its producers; popping on
    /// would write every few records as they are published, a system call each, reading the
    /// cache lines the producers are writing at that moment. The caller lingers instead, so
    /// the next batch gathers (a producer that finds the ring half full cuts the nap short).
    fn write_ready(
        &self,
        weak: &Weak<Pipeline>,
        sinks: &mut [Guarded],
        buf: &mut Vec<u8>,
        greedy: bool,
    ) -> (u64, usize) {
        let (mut records, mut bytes) = (0, 0);
        let batch_bytes = self.batch_bytes();
        loop {
            if self.stop.load(Ordering::Relaxed) == ABANDON {
                break;
            }
            buf.clear();
            let popped = self.ring.pop(buf, batch_bytes);
            let n = popped.records as u64;
            if n == 0 {
                break;
            }
            let end_pos = self.ring.consumed_pos();
            wake::space::freed(&self.space_epoch);
            self.notify();
            if popped.settled {
                // `close` gave up on these and counted them as dropped.
                self.advance_settled(end_pos);
                continue;
            }
            let fallback = self.has_fallback.then_some(self.fallback_name.as_str());
            let mut ok = true;
            let mut rerouted = false;
            let mut failed = false;
            for slot in sinks.iter_mut() {
                match slot.write(buf, fallback) {
                    Outcome::Written => {}
                    Outcome::Failed => {
                        Counters::add(&self.counters.errors, 1);
                        failed = true;
                    }
                    Outcome::Skipped => failed = true,
                }
            }
            if failed {
                // One copy to the fallback, however many sinks failed.
                ok = self.reroute(buf, n);
                rerouted = ok;
                if ok {
                    for slot in sinks.iter().filter(|s| s.is_failing()) {
                        slot.stats.count_rerouted(n);
                    }
                }
            }
            Counters::add(&self.counters.batches, 1);
            records += n;
            let batch_len = buf.len();
            bytes += batch_len;
            if self.config.channel_batches == 0 {
                self.count_settled(n, batch_len, ok);
                self.settled_pos.fetch_max(end_pos, Ordering::AcqRel);
                self.notify();
            } else {
                let batch = Arc::new(Batch {
                    data: std::mem::replace(buf, Vec::with_capacity(batch_bytes * 2)),
                    records: n,
                    end_pos,
                    pending: AtomicUsize::new(2),
                    failed: AtomicBool::new(false),
                    rerouted: AtomicBool::new(rerouted),
                    channel_done: AtomicBool::new(false),
                    pipeline: weak.clone(),
                });
                self.hand_to_channel(batch, ok);
            }
            if !greedy && batch_len < batch_bytes / 2 {
                break;
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

    /// After `close`'s deadline: count what is left as dropped, without writing it. `close`
    /// abandoned the ring, so what it counted comes back marked as settled.
    fn discard_rest(&self) {
        let mut scratch = Vec::new();
        loop {
            scratch.clear();
            let popped = self.ring.pop(&mut scratch, usize::MAX);
            if popped.records == 0 {
                break;
            }
            if !popped.settled {
                self.count_settled(popped.records as u64, 0, false);
            }
        }
        let pos = if self.ring.is_abandoned() {
            self.ring.reserved_pos()
        } else {
            self.ring.consumed_pos()
        };
        self.advance_settled(pos);
    }

    /// Flush the fallback sink.
    fn flush_fallback(&self) {
        if let Some(fallback) = lock(&self.slow().fallback).as_mut() {
            if fallback.flush().is_err() {
                Counters::add(&self.counters.errors, 1);
            }
        }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// `settled_pos` only moves forward (a late, older position is ignored), and never past a
    /// channel batch still in flight: the position waits behind it until it settles.
    #[test]
    fn settled_pos_moves_forward_only_and_waits_for_channel_batches() {
        let p = Pipeline::start(
            PipelineConfig {
                channel_batches: 1,
                ..PipelineConfig::default()
            },
            vec![],
        )
        .unwrap();
        let settled = || p.settled_pos.load(Ordering::Acquire);
        p.advance_settled(100);
        p.advance_settled(40);
        assert_eq!(settled(), 100);
        let batch = Arc::new(Batch {
            pending: AtomicUsize::new(1),
            pipeline: Arc::downgrade(&p),
            ..Batch::marker(200)
        });
        lock(&p.slow().inflight).push_back(Arc::clone(&batch));
        p.advance_settled(300);
        assert_eq!(settled(), 100, "not past the unsettled batch");
        p.finish(&batch, true);
        assert_eq!(settled(), 300);
        p.advance_settled(250);
        assert_eq!(settled(), 300);
        assert!(p.close(Duration::from_secs(5)));
    }
}
