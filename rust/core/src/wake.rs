//! The writer's wake-up protocols, on `crate::sync`'s primitives so that loom model-checks
//! the code the writer runs (`tests/loom_wake.rs`): no lost wake-up of the writer, no flush or
//! space waiter left waiting once what it waits for has happened.
//!
//! Two mechanisms, both store-then-load pairs (see `crate::sync::seqcst_store_load`):
//!
//! - [`Sleep`]: the writer's state, `AWAKE`, `LINGER` (a short nap after a small batch, to let
//!   more records gather) or `IDLE` (parked until there is work). The writer stores its state,
//!   then looks for work; a producer makes its record visible (the ring's SeqCst reservation),
//!   then loads the state. One of them sees the other: either the writer finds the work, or
//!   the producer sees the nap and unparks the writer.
//! - [`Waiters`]: threads blocked in `flush`, `push_wait`, `wait_for_space` or `close` wait on
//!   a condvar. A waiter counts itself, then checks its condition under the lock; the writer
//!   changes what they wait for, then loads the count, and only when someone waits does it take
//!   the lock and notify. The writer's fast path costs a fence and a load.
//!
//! Public (hidden) only for the loom tests.

use std::time::{Duration, Instant};

use crate::sync::{
    fence, lock, park_timeout, seqcst_store_load, wait_timeout, AtomicU64, AtomicU8, AtomicUsize,
    CachePadded, Condvar, Mutex, Ordering,
};

/// The writer handles records now; producers need not wake it.
pub const AWAKE: u8 = 0;
/// The writer naps for the linger time; producers wake it only when the ring fills up.
pub const LINGER: u8 = 1;
/// The writer is parked until a producer wakes it.
pub const IDLE: u8 = 2;

/// The writer's sleep state. Derefs to the state byte.
#[derive(Debug)]
pub struct Sleep(CachePadded<AtomicU8>);

impl std::ops::Deref for Sleep {
    type Target = AtomicU8;

    fn deref(&self) -> &AtomicU8 {
        &self.0
    }
}

impl Default for Sleep {
    fn default() -> Self {
        Sleep::new()
    }
}

impl Sleep {
    /// A writer that is awake.
    pub fn new() -> Sleep {
        Sleep(CachePadded(AtomicU8::new(AWAKE)))
    }

    /// Producer side, after its record became visible: whether the writer must be woken with
    /// [`Sleep::wake`]. `urgent` (the push failed, or the ring is half full) is asked only when
    /// the writer lingers, which is the only state in which it matters.
    #[inline]
    pub fn needs_wake(&self, urgent: impl FnOnce() -> bool) -> bool {
        seqcst_store_load();
        // SeqCst pairs with the writer's SeqCst store in `nap` (store-then-load on both sides).
        let state = self.0.load(Ordering::SeqCst);
        state != AWAKE && (state == IDLE || urgent())
    }

    /// Mark the writer awake; `true` if it was napping, and the caller must unpark it.
    pub fn wake(&self) -> bool {
        self.0.swap(AWAKE, Ordering::SeqCst) != AWAKE
    }

    /// Writer side: nap in `state` (`LINGER` or `IDLE`) for at most `timeout`. An `IDLE` nap
    /// is skipped when `has_work` holds after the state is announced; a `LINGER` nap is taken
    /// regardless, since its point is to let work gather (producers cut it short when urgent).
    /// Returns whether the writer parked.
    pub fn nap(&self, state: u8, timeout: Duration, has_work: impl FnOnce() -> bool) -> bool {
        debug_assert!(state == LINGER || state == IDLE);
        self.0.store(state, Ordering::SeqCst);
        seqcst_store_load();
        let park = state == LINGER || !has_work();
        if park {
            park_timeout(timeout);
        }
        self.0.store(AWAKE, Ordering::SeqCst);
        park
    }
}

/// The threads waiting for the writer, and the lock and condvar they wait on.
///
/// The count lives in the pipeline and the lock and condvar in its replaceable slow-path block
/// (a lock held by a parent thread at `fork()` stays locked in the child), hence two types.
/// `Waiters` derefs to the count.
#[derive(Debug)]
pub struct Waiters(AtomicUsize);

/// The lock and condvar of [`Waiters`].
#[derive(Debug, Default)]
pub struct WaitRoom {
    lock: Mutex<()>,
    cv: Condvar,
}

impl std::ops::Deref for Waiters {
    type Target = AtomicUsize;

    fn deref(&self) -> &AtomicUsize {
        &self.0
    }
}

impl Default for Waiters {
    fn default() -> Self {
        Waiters::new()
    }
}

impl Waiters {
    /// Nobody waits.
    pub fn new() -> Waiters {
        Waiters(AtomicUsize::new(0))
    }

    /// Block until `cond` holds or `deadline` passes; `true` if `cond` held. `cond` must only
    /// turn true through a change followed by [`Waiters::notify`] (or be polled by the
    /// caller's deadline).
    pub fn wait_until(&self, room: &WaitRoom, deadline: Instant, cond: impl Fn() -> bool) -> bool {
        if cond() {
            return true;
        }
        self.0.fetch_add(1, Ordering::SeqCst);
        seqcst_store_load();
        let mut guard = lock(&room.lock);
        let met = loop {
            if cond() {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            guard = wait_timeout(&room.cv, guard, deadline - now);
        };
        drop(guard);
        self.0.fetch_sub(1, Ordering::SeqCst);
        met
    }

    /// Wake the waiters after changing what they wait for. Costs a fence and a load when
    /// nobody waits.
    pub fn notify(&self, room: &WaitRoom) {
        fence(Ordering::SeqCst);
        if self.0.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders the change before a waiter's check under the lock: a
            // waiter between its check and its wait holds the lock, so we wait for it to sleep.
            drop(lock(&room.lock));
            room.cv.notify_all();
        }
    }
}

/// Flush requests: `flush` takes a number, the writer serves all numbers up to the newest it
/// saw. Both are plain counters in the pipeline (reset together after `fork()`).
pub mod flush {
    use super::{AtomicU64, Ordering};

    /// Take the next request number.
    pub fn request(req: &AtomicU64) -> u64 {
        req.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Writer side: the newest request not yet served, if any.
    pub fn pending(req: &AtomicU64, done: &AtomicU64) -> Option<u64> {
        let newest = req.load(Ordering::SeqCst);
        (newest > done.load(Ordering::Relaxed)).then_some(newest)
    }

    /// Writer side: every request up to `newest` is served (then notify the waiters).
    pub fn complete(done: &AtomicU64, newest: u64) {
        done.store(newest, Ordering::Release);
    }

    /// Whether request `mine` is served.
    pub fn is_served(done: &AtomicU64, mine: u64) -> bool {
        done.load(Ordering::Acquire) >= mine
    }
}

/// The space epoch: bumped by the writer whenever it frees ring space, so a producer that
/// found the ring full waits for a change rather than polling.
pub mod space {
    use super::{AtomicU64, Ordering};

    /// Producer side, before trying to push.
    pub fn epoch(epoch: &AtomicU64) -> u64 {
        epoch.load(Ordering::SeqCst)
    }

    /// Writer side: space was freed (then notify the waiters).
    pub fn freed(epoch: &AtomicU64) {
        epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether space was freed since `seen`.
    pub fn changed(epoch: &AtomicU64, seen: u64) -> bool {
        epoch.load(Ordering::SeqCst) != seen
    }
}
