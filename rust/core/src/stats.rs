//! The pipeline's counters, read as one snapshot that never shows more settled records
//! (written + dropped) than emitted ones.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::sync::CachePadded;

/// The pipeline's counters at one moment.
///
/// `written + dropped <= emitted` in every snapshot. After
/// [`Pipeline::flush`](crate::Pipeline::flush) returns `true` with no push running
/// concurrently, and after [`Pipeline::close`](crate::Pipeline::close) returns (whatever it
/// returns, except for a batch a stalled sink still holds), `emitted == written + dropped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StatsSnapshot {
    /// Records produced by a push attempt, whether they got into the ring or were dropped.
    pub emitted: u64,
    /// Records in batches that every sink accepted.
    pub written: u64,
    /// Records lost: ring full or record too large, a failed sink write, or pushed after close.
    pub dropped: u64,
    /// Failed sink calls (writes, flushes, closes, panics caught in a sink).
    pub errors: u64,
    /// Payload bytes of the written records.
    pub bytes: u64,
    /// Written records that a failed sink handed to the fallback sink (counted in `written`
    /// too: they were delivered, to the fallback).
    pub rerouted: u64,
    /// Batches handed to the sinks.
    pub batches: u64,
    /// The ring's high-water mark in bytes.
    pub high_water: u64,
}

/// Live counters. The producers' two are on their own cache lines; the writer's share one.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) emitted: CachePadded<AtomicU64>,
    pub(crate) dropped: CachePadded<AtomicU64>,
    pub(crate) written: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) rerouted: AtomicU64,
}

impl Counters {
    /// Count something that orders nothing: `emitted` (made visible to the settling thread by
    /// the ring's tickets and publications), `errors`, `bytes`, `batches`, `rerouted`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Count records as `written` or `dropped`. Release: the `emitted` increments of those
    /// records happen before this (the caller saw them, through the ring, or made them), so a
    /// snapshot that Acquires this value sees them too.
    pub(crate) fn settle(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Release);
    }

    /// Read the settled counters (Acquire) before `emitted`, so that a snapshot taken while
    /// pushes run never shows more settled records than emitted ones, on any CPU: each settled
    /// record's emission happens before the `settle` that counted it, which the Acquire load
    /// synchronises with, and the later load of `emitted` cannot see an older value.
    pub(crate) fn snapshot(&self, high_water: u64) -> StatsSnapshot {
        let written = self.written.load(Ordering::Acquire);
        let dropped = self.dropped.load(Ordering::Acquire);
        let errors = self.errors.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let batches = self.batches.load(Ordering::Relaxed);
        let rerouted = self.rerouted.load(Ordering::Relaxed);
        let emitted = self.emitted.load(Ordering::Relaxed);
        StatsSnapshot {
            emitted,
            written,
            dropped,
            errors,
            bytes,
            rerouted,
            batches,
            high_water,
        }
    }

    pub(crate) fn reset(&self) {
        for c in [
            &*self.emitted,
            &*self.dropped,
            &self.written,
            &self.errors,
            &self.bytes,
            &self.batches,
            &self.rerouted,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}
