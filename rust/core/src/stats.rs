//! A pipeline's counters: exact, lock-free, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters. `emitted == written + dropped` once everything emitted has settled.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) emitted: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) batches: AtomicU64,
}

/// A consistent-enough copy of the counters (each one is exact; they are read one by one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Events that produced a record: pushed, or dropped and counted.
    pub emitted: u64,
    /// Events every sink accepted.
    pub written: u64,
    /// Events lost and counted: ring full, a sink failed, or logged after close.
    pub dropped: u64,
    /// Sink write failures and internal errors.
    pub errors: u64,
    /// Bytes of events written.
    pub bytes: u64,
    /// Batches written.
    pub batches: u64,
    /// The most bytes the ring ever held at once.
    pub high_water: u64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, high_water: u64) -> StatsSnapshot {
        // `written`/`dropped` are read before `emitted` so that a concurrent push can only
        // make `emitted` larger, never leave `written + dropped > emitted` in the copy.
        let written = self.written.load(Ordering::Acquire);
        let dropped = self.dropped.load(Ordering::Acquire);
        StatsSnapshot {
            written,
            dropped,
            emitted: self.emitted.load(Ordering::Acquire).max(written + dropped),
            errors: self.errors.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            high_water,
        }
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.emitted,
            &self.written,
            &self.dropped,
            &self.errors,
            &self.bytes,
            &self.batches,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}
