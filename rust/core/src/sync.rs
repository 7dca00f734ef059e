//! The synchronisation primitives of the ring and of the writer's wake-up protocol: std's
//! normally, loom's under `--cfg loom`, so that the model checker sees every atomic access,
//! every lock, every park and every access to the ring's memory.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread::{current, Thread};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread::{current, Thread};

use std::time::Duration;

/// Park the current thread for at most `timeout`. Loom has no clock: there the park is
/// untimed, so a model in which nobody unparks the thread deadlocks and loom reports it, which
/// is exactly how a lost wake-up shows up.
pub(crate) fn park_timeout(timeout: Duration) {
    #[cfg(not(loom))]
    std::thread::park_timeout(timeout);
    #[cfg(loom)]
    {
        let _ = timeout;
        loom::thread::park();
    }
}

/// Wait on `cv` for at most `timeout` (untimed under loom, see [`park_timeout`]).
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    #[cfg(not(loom))]
    let guard = cv
        .wait_timeout(guard, timeout)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .0;
    #[cfg(loom)]
    let guard = {
        let _ = timeout;
        cv.wait(guard)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    guard
}

/// Lock `m`, ignoring poisoning: the locks of the wake-up protocol guard no data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Orders a preceding SeqCst store or read-modify-write before a following SeqCst load of
/// another atomic, for loom's sake only.
///
/// The wake-up protocol is a store-buffering pattern (each side stores, then loads what the
/// other side stored); with every access SeqCst, C11 and the hardware already forbid both
/// loads missing both stores, so natively this is a no-op and the hot path pays nothing. Loom
/// models SeqCst accesses as AcqRel (its README, "Unsupported features") and would report a
/// lost wake-up that cannot happen, but it does model `fence(SeqCst)`, which gives the same
/// guarantee; hence the fence under loom.
#[inline(always)]
pub(crate) fn seqcst_store_load() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// Pads and aligns a value to 128 bytes so that the producers' cursor and the consumer's
/// cursor never share a cache line (128 covers the adjacent-line prefetcher on x86_64 and the
/// 128-byte lines of Apple silicon).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
