//! The ring's synchronisation primitives: std's normally, loom's under `--cfg loom`, so the
//! model checker sees every atomic access and every access to the ring's memory.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

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
