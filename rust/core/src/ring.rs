//! A bounded multi-producer single-consumer ring of variable-length byte records.
//!
//! Memory is allocated once. Producers reserve space with one compare-and-swap on a shared
//! `head` cursor, copy their bytes into the reserved range, then publish the record by storing
//! its state byte with `Release`. The single consumer walks from `tail`, reads each state byte
//! with `Acquire`, copies the payloads out, clears the state bytes and hands the space back by
//! storing `tail` with `Release`; producers load `tail` with `Acquire` before reusing it.
//!
//! Layout. The data area is `capacity` bytes, a power of two. A record occupies a whole number
//! of [`UNIT`]-byte units: a 4-byte little-endian payload length, then the payload. Its state
//! (empty, committed, padding) lives in a separate byte array with one entry per unit, so that
//! stale payload bytes can never be mistaken for a header: an entry is non-zero only while the
//! record that starts at that unit is published and not yet consumed. A record never straddles
//! the end of the data area; a producer whose record would do so also reserves the rest of the
//! area as a padding record, which the consumer skips.
//!
//! Positions are `u64` byte counts since the last reset; they do not wrap in practice (at
//! 10 GB/s that takes 58 years).
//!
//! Tickets. Every push takes a ticket in `gate` before it reserves and gives it back when it
//! is refused; the consumer gives back one ticket per record it pops. So `gate` counts the
//! records that are in flight (reserved or about to be, not yet published) plus those published
//! and not yet consumed, without knowing where a reserved range starts or how long it is. That
//! is what lets `close` account for a producer preempted between its reservation and its
//! publication: it [`seal`](Ring::seal)s the gate, so that the count can only go down, waits,
//! and at its deadline [`abandon`](Ring::abandon)s the ring, counting every ticket still out
//! as dropped. One read-modify-write on the gate tells each party which side of that moment it
//! is on, so each ticket is settled exactly once.

use std::fmt;
use std::io;

use crate::sync::{AtomicBool, AtomicU64, AtomicU8, CachePadded, Ordering};

/// Records start on multiples of this many bytes; it is also the granularity of the state array.
const UNIT: usize = 8;
/// How far past a record the producer prefetches (about one more typical record).
const PREFETCH_BYTES: usize = 256;
/// The length prefix stored before every payload.
const LEN_PREFIX: usize = 4;

/// No record starts here, or it has been reserved but not yet published.
const EMPTY: u8 = 0;
/// A published record starts here.
const COMMITTED: u8 = 1;
/// A published padding record starts here and runs to the end of the data area.
const PADDING: u8 = 2;

/// The largest capacity [`Ring::with_capacity`] accepts: 1 GiB.
///
/// A log ring is a burst buffer: 1 GiB is seconds of backlog for any sink, so a larger request
/// is a mistake (typically bytes given where KiB were meant), and refusing it is better than
/// reserving that much address space. It also keeps every bound comfortable: the 4-byte
/// length prefix (the largest record is half the ring), and the ticket count of the gate.
pub const MAX_CAPACITY_BYTES: usize = 1 << 30;

/// The gate's flags above its ticket count. `SEALED`: no new ticket may reserve.
const SEALED: u64 = 1 << 62;
/// `ABANDONED`: the tickets out at that moment were counted as dropped by the closer.
const ABANDONED: u64 = 1 << 63;
const TICKETS: u64 = SEALED - 1;

/// The smallest capacity [`Ring::with_capacity`] rounds up to. Under loom the ring may be tiny
/// so that the model checker can explore wraparound and `Full` in a few steps.
#[cfg(not(loom))]
const MIN_CAPACITY: usize = 4096;
#[cfg(loom)]
const MIN_CAPACITY: usize = 32;

/// Why [`Ring::try_push`] did not take a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushError {
    /// There is not enough free space right now; retry after the consumer has drained.
    Full,
    /// The record is larger than [`Ring::max_record_len`] and can never fit.
    TooLarge,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full => f.write_str("the ring is full"),
            PushError::TooLarge => f.write_str("the record is larger than the ring accepts"),
        }
    }
}

impl std::error::Error for PushError {}

/// A bounded MPSC ring of byte records in memory allocated once.
///
/// Any number of threads may push concurrently (lock-free). One thread at a time consumes with
/// [`Ring::pop_batch`]; a second concurrent consumer gets 0 records instead of racing.
pub struct Ring {
    /// Next position to reserve, and the ticket gate: both are touched by every push, so they
    /// share a cache line.
    head: CachePadded<Reserve>,
    /// Position of the oldest record not yet consumed. Only the consumer stores it.
    tail: CachePadded<AtomicU64>,
    /// Largest `head - tail` seen, in bytes.
    high_water: AtomicU64,
    /// Set while a thread is inside `pop_batch`.
    consuming: AtomicBool,
    /// One state byte per unit of `data`.
    states: Box<[AtomicU8]>,
    data: Bytes,
    capacity: usize,
    mask: u64,
    max_record_len: usize,
}

/// The producers' cache line.
#[derive(Debug)]
struct Reserve {
    /// Next position to reserve. Producers CAS it forward.
    pos: AtomicU64,
    /// Tickets out (bits 0..62), `SEALED`, `ABANDONED`: see the module docs.
    gate: AtomicU64,
}

/// Why the pipeline's push was refused, and whether that refusal is already counted.
/// (Public, hidden, for the loom tests of the ticket protocol.)
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// `Full` or `TooLarge`; a sealed ring reports `Full`.
    pub error: PushError,
    /// The ring is sealed (closing): the push never reserved.
    pub sealed: bool,
    /// [`Ring::abandon`] counted this push as dropped while it was in flight: the caller must
    /// not count it again.
    pub settled: bool,
}

/// What one `pop` took. (Public, hidden, for the loom tests of the ticket protocol.)
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Popped {
    /// Records taken.
    pub records: usize,
    /// The records were counted as dropped by [`Ring::abandon`] before this pop gave their
    /// tickets back: the caller must not count them again.
    pub settled: bool,
}

// SAFETY: the only non-Sync part is `data`, shared memory written through raw pointers. A
// producer writes only inside the range it reserved with a successful CAS on `head`, which no
// other producer can reserve until the consumer has released it, and the consumer reads a
// record only after observing its `COMMITTED` state with Acquire (paired with the producer's
// Release store). Producers reuse space only after loading `tail` with Acquire, paired with the
// consumer's Release store made after it finished reading. `consuming` keeps consumers unique.
unsafe impl Sync for Ring {}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity)
            .field("used_bytes", &self.used_bytes())
            .field("high_water_bytes", &self.high_water_bytes())
            .finish_non_exhaustive()
    }
}

#[inline]
fn record_size(payload_len: usize) -> usize {
    (LEN_PREFIX + payload_len).next_multiple_of(UNIT)
}

impl Ring {
    /// A ring of at least `bytes` bytes: rounded up to a power of two, minimum 4 KiB.
    ///
    /// The memory is allocated zeroed and is not touched here, so the operating system maps
    /// its pages as the ring first reaches them.
    ///
    /// # Errors
    /// `InvalidInput` if `bytes` is above [`MAX_CAPACITY_BYTES`]; `OutOfMemory` if the
    /// allocation fails. Both messages name the capacity.
    pub fn with_capacity(bytes: usize) -> io::Result<Ring> {
        if bytes > MAX_CAPACITY_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ring capacity of {bytes} bytes is above the maximum of {MAX_CAPACITY_BYTES} \
                     bytes (1 GiB)"
                ),
            ));
        }
        // Cannot overflow: at most MAX_CAPACITY_BYTES, a power of two.
        let capacity = bytes.max(MIN_CAPACITY).next_power_of_two();
        let oom = || {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("cannot allocate a ring of {capacity} bytes (capacity_bytes={bytes})"),
            )
        };
        let states = new_states(capacity / UNIT).ok_or_else(oom)?;
        let data = Bytes::new(capacity).ok_or_else(oom)?;
        Ok(Ring {
            head: CachePadded(Reserve {
                pos: AtomicU64::new(0),
                gate: AtomicU64::new(0),
            }),
            tail: CachePadded(AtomicU64::new(0)),
            high_water: AtomicU64::new(0),
            consuming: AtomicBool::new(false),
            states,
            data,
            capacity,
            mask: capacity as u64 - 1,
            // Half the ring, so that a record fits whatever the offset of `head`: it either fits
            // before the end or, with padding, after the start.
            max_record_len: capacity / 2 - LEN_PREFIX,
        })
    }

    /// The size of the data area in bytes (a power of two).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest payload [`Ring::try_push`] accepts.
    pub fn max_record_len(&self) -> usize {
        self.max_record_len
    }

    /// Push one record. Lock-free; fails fast with [`PushError::Full`] when there is no room.
    #[inline]
    pub fn try_push(&self, data: &[u8]) -> Result<(), PushError> {
        self.try_push_parts(&[data])
    }

    /// Push the concatenation of `parts` as one record, copying each slice straight into the
    /// ring. Once the ring is sealed (its pipeline is closing) every push fails with `Full`.
    pub fn try_push_parts(&self, parts: &[&[u8]]) -> Result<(), PushError> {
        self.push_with(parts, || {}).map_err(|r| r.error)
    }

    /// Push with a ticket (see the module docs), calling `between` after the reservation and
    /// before the record is written and published: tests use it to stall a producer there.
    #[doc(hidden)]
    #[inline]
    pub fn push_with(&self, parts: &[&[u8]], between: impl FnOnce()) -> Result<(), Refused> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > self.max_record_len {
            return Err(Refused {
                error: PushError::TooLarge,
                sealed: false,
                settled: false,
            });
        }
        // Release: whatever the caller counted before (its `emitted`) is visible to whoever
        // reads this ticket with Acquire (`abandon`).
        let ticket = self.head.gate.fetch_add(1, Ordering::AcqRel);
        if ticket & SEALED != 0 {
            return Err(self.refund(ticket, PushError::Full, true));
        }
        let size = record_size(len) as u64;
        let capacity = self.capacity as u64;

        let mut head = self.head.pos.load(Ordering::Relaxed);
        let (start, pad) = loop {
            // Acquire: the consumer finished reading whatever we are about to overwrite.
            let tail = self.tail.load(Ordering::Acquire);
            let to_end = capacity - (head & self.mask);
            let pad = if size > to_end { to_end } else { 0 };
            let end = head + pad + size;
            // A `head` older than `tail` makes this small and the CAS below fails: no false Full.
            let used = end.saturating_sub(tail);
            if used > capacity {
                self.note_high_water(head.saturating_sub(tail));
                return Err(self.refund(ticket, PushError::Full, false));
            }
            // SeqCst on success: the writer's sleep protocol pairs this with its SeqCst store of
            // its "sleeping" flag and SeqCst load of `head` (see `reserved_pos`).
            match self
                .head
                .pos
                .compare_exchange(head, end, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break (head, pad),
                Err(actual) => head = actual,
            }
        };
        between();

        if pad > 0 {
            // A padding record has no bytes to publish, only its state.
            self.state_at(start).store(PADDING, Ordering::Release);
        }
        let pos = start + pad;
        let mut off = (pos & self.mask) as usize;
        // SAFETY: [off, off + size) lies inside the data area (padding moved a record that would
        // straddle the end to offset 0) and was reserved by our CAS, so no other producer writes
        // it, and the consumer does not read it until we publish it below.
        unsafe {
            self.data.write(off, &(len as u32).to_le_bytes());
            off += LEN_PREFIX;
            for part in parts {
                self.data.write(off, part);
                off += part.len();
            }
        }
        // The ticket now belongs to the published record: the consumer gives it back.
        self.state_at(pos).store(COMMITTED, Ordering::Release);
        // The next record most likely goes right after this one: ask for those lines now, so
        // the cache misses of writing them overlap with whatever the caller does in between
        // (a ring larger than the cache is mostly cold a lap later).
        let next = ((pos + size) & self.mask) as usize;
        self.data.prefetch_for_write(next, PREFETCH_BYTES);
        self.prefetch_state(next);
        Ok(())
    }

    /// Give back the ticket of a refused push.
    #[cold]
    fn refund(&self, ticket: u64, error: PushError, sealed: bool) -> Refused {
        let now = self.head.gate.fetch_sub(1, Ordering::AcqRel);
        Refused {
            error,
            sealed,
            // Taken before the abandonment and given back after it: counted by `abandon`.
            settled: now & ABANDONED != 0 && ticket & ABANDONED == 0,
        }
    }

    /// Refuse every later push (they fail with `Full`). Pushes already past the gate finish.
    #[doc(hidden)]
    pub fn seal(&self) {
        self.head.gate.fetch_or(SEALED, Ordering::AcqRel);
    }

    /// Whether the ring is sealed and no push is in flight or unconsumed: the ring's content
    /// is final and has all been popped.
    #[doc(hidden)]
    pub fn is_settled(&self) -> bool {
        self.head.gate.load(Ordering::Acquire) & (SEALED | TICKETS) == SEALED
    }

    /// Whether [`Ring::abandon`] has run.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.head.gate.load(Ordering::Acquire) & ABANDONED != 0
    }

    /// Seal the ring and give up on everything it still owes: returns how many records were
    /// in flight or published and not popped (the caller counts them as dropped), or `None`
    /// if the ring was abandoned before. Producers and consumers that give those tickets back
    /// later learn from [`Refused::settled`] / [`Popped::settled`] not to count them again.
    #[doc(hidden)]
    pub fn abandon(&self) -> Option<u64> {
        // AcqRel: the callers' counts made before taking the tickets happen before ours.
        let gate = self
            .head
            .gate
            .fetch_or(SEALED | ABANDONED, Ordering::AcqRel);
        (gate & ABANDONED == 0).then_some(gate & TICKETS)
    }

    /// Whether the oldest unconsumed record is published (so a pop would take something).
    pub(crate) fn front_is_published(&self) -> bool {
        let tail = self.tail.load(Ordering::Acquire);
        self.state_at(tail).load(Ordering::Acquire) != EMPTY
    }

    #[inline]
    fn prefetch_state(&self, off: usize) {
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        {
            let p = self.states.as_ptr().wrapping_add(off / UNIT);
            // SAFETY: prefetching is a hint; it never faults, even for an address past the end.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(p.cast())
            };
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom))))]
        let _ = off;
    }

    /// Append the payloads of consecutive published records to `out`, up to `max_bytes` of
    /// payload (but at least one record), free their space and return how many there were.
    ///
    /// Returns 0 when the oldest record is not published yet, when the ring is empty, or when
    /// another thread is consuming at the same moment.
    pub fn pop_batch(&self, out: &mut Vec<u8>, max_bytes: usize) -> usize {
        self.pop(out, max_bytes).records
    }

    /// [`Ring::pop_batch`], also telling whether the records were already counted as dropped.
    #[doc(hidden)]
    pub fn pop(&self, out: &mut Vec<u8>, max_bytes: usize) -> Popped {
        if self
            .consuming
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Popped {
                records: 0,
                settled: false,
            };
        }
        let start = self.tail.load(Ordering::Relaxed);
        self.note_high_water(self.head.pos.load(Ordering::Relaxed).saturating_sub(start));
        let mut tail = start;
        let mut count = 0;
        let mut bytes = 0;
        loop {
            let off = (tail & self.mask) as usize;
            let state = self.state_at(tail);
            match state.load(Ordering::Acquire) {
                COMMITTED => {
                    let mut prefix = [0u8; LEN_PREFIX];
                    // SAFETY: the record at `off` is published (Acquire above pairs with the
                    // producer's Release) and not yet released, so nobody writes it now; its
                    // prefix lies inside the data area.
                    unsafe { self.data.read(off, &mut prefix) };
                    let len = u32::from_le_bytes(prefix) as usize;
                    if count > 0 && bytes + len > max_bytes {
                        break;
                    }
                    out.reserve(len);
                    let at = out.len();
                    out.resize(at + len, 0);
                    // SAFETY: as above; the producer wrote `len` payload bytes after the prefix,
                    // inside the data area.
                    unsafe { self.data.read(off + LEN_PREFIX, &mut out[at..]) };
                    state.store(EMPTY, Ordering::Relaxed);
                    tail += record_size(len) as u64;
                    count += 1;
                    bytes += len;
                }
                PADDING => {
                    state.store(EMPTY, Ordering::Relaxed);
                    tail += (self.capacity - off) as u64;
                }
                _ => break,
            }
        }
        if tail != start {
            // Release: our reads of the freed range and the cleared states happen before any
            // producer that Acquires this value reuses the space.
            self.tail.store(tail, Ordering::Release);
        }
        self.consuming.store(false, Ordering::Release);
        let settled =
            count > 0 && self.head.gate.fetch_sub(count as u64, Ordering::AcqRel) & ABANDONED != 0;
        Popped {
            records: count,
            settled,
        }
    }

    /// Bytes reserved and not yet consumed (records, their prefixes, rounding and padding).
    pub fn used_bytes(&self) -> usize {
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.pos.load(Ordering::Acquire);
        head.saturating_sub(tail) as usize
    }

    /// The largest [`Ring::used_bytes`] observed since creation or the last reset.
    pub fn high_water_bytes(&self) -> usize {
        self.high_water.load(Ordering::Relaxed) as usize
    }

    /// Whether nothing is reserved or stored.
    pub fn is_empty(&self) -> bool {
        self.used_bytes() == 0
    }

    /// Forget every record, reservation and ticket, as in a freshly created (unsealed) ring.
    ///
    /// Meant for the child after `fork()`: a producer of the parent may have been between its
    /// reservation and its publication, and its thread does not exist in the child, so the
    /// child must not wait for that record. Records the parent had not consumed are discarded
    /// too (the parent writes them).
    ///
    /// # Safety
    /// No other thread may use the ring during the call, nor be inside a push or `pop_batch`
    /// started before it (true in a forked child, where only the forking thread exists).
    pub unsafe fn reset(&self) {
        for state in self.states.iter() {
            state.store(EMPTY, Ordering::Relaxed);
        }
        self.head.pos.store(0, Ordering::SeqCst);
        self.head.gate.store(0, Ordering::SeqCst);
        self.tail.store(0, Ordering::SeqCst);
        self.high_water.store(0, Ordering::Relaxed);
        self.consuming.store(false, Ordering::Release);
    }

    /// The position after the last reservation. SeqCst: see the writer's sleep protocol.
    pub(crate) fn reserved_pos(&self) -> u64 {
        self.head.pos.load(Ordering::SeqCst)
    }

    /// The position up to which records have been consumed.
    pub(crate) fn consumed_pos(&self) -> u64 {
        self.tail.load(Ordering::Acquire)
    }

    #[inline]
    fn state_at(&self, pos: u64) -> &AtomicU8 {
        &self.states[(pos & self.mask) as usize / UNIT]
    }

    fn note_high_water(&self, used: u64) {
        // Load first so that a stream of Full pushes does not hammer the line with RMWs.
        if used > self.high_water.load(Ordering::Relaxed) {
            self.high_water.fetch_max(used, Ordering::Relaxed);
        }
    }
}

/// `n` zeroed (`EMPTY`) state bytes, or `None` if the allocation fails.
#[cfg(not(loom))]
fn new_states(n: usize) -> Option<Box<[AtomicU8]>> {
    let ptr = zeroed(n)?;
    // SAFETY: `zeroed` allocated `n` bytes with the global allocator and the layout of
    // `[u8; n]`, which is the layout of `[AtomicU8; n]`; all-zero bytes are valid `AtomicU8`s
    // (`EMPTY`), and the box takes sole ownership of the allocation.
    Some(unsafe {
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            ptr.cast::<AtomicU8>(),
            n,
        ))
    })
}

#[cfg(loom)]
fn new_states(n: usize) -> Option<Box<[AtomicU8]>> {
    Some((0..n).map(|_| AtomicU8::new(EMPTY)).collect())
}

/// A zeroed allocation of `n > 0` bytes with the layout of `[u8; n]`, or `None` on failure.
/// Zeroed memory comes straight from fresh pages for large sizes, so nothing is touched.
#[cfg(not(loom))]
fn zeroed(n: usize) -> Option<*mut u8> {
    let layout = std::alloc::Layout::array::<u8>(n).ok()?;
    debug_assert!(layout.size() > 0);
    // SAFETY: the layout has a non-zero size (the ring has at least MIN_CAPACITY / UNIT units).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    (!ptr.is_null()).then_some(ptr)
}

/// The ring's data area: shared bytes written through raw pointers.
#[cfg(not(loom))]
struct Bytes {
    cells: Box<[std::cell::UnsafeCell<u8>]>,
}

#[cfg(not(loom))]
impl Bytes {
    fn new(len: usize) -> Option<Bytes> {
        let ptr = zeroed(len)?;
        // SAFETY: as in `new_states`: `UnsafeCell<u8>` has the layout of `u8`, zero is a valid
        // value, and the box owns the allocation.
        let cells = unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                ptr.cast::<std::cell::UnsafeCell<u8>>(),
                len,
            ))
        };
        Some(Bytes { cells })
    }

    fn base(&self) -> *mut u8 {
        // `UnsafeCell<u8>` has the layout of `u8`, and the pointer keeps the provenance of the
        // whole slice.
        std::cell::UnsafeCell::raw_get(self.cells.as_ptr())
    }

    /// # Safety
    /// `[off, off + src.len())` is inside the area and no other thread accesses it meanwhile.
    unsafe fn write(&self, off: usize, src: &[u8]) {
        debug_assert!(off + src.len() <= self.cells.len());
        // SAFETY: in bounds and exclusive per the caller's contract; `src` is a distinct
        // allocation (callers never pass the ring's own memory).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base().add(off), src.len()) }
    }

    /// Hint that `[off, off + len)` is about to be written.
    #[inline]
    fn prefetch_for_write(&self, off: usize, len: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            let mut at = off;
            while at < off + len && at < self.cells.len() {
                let p = self.base().wrapping_add(at);
                // SAFETY: prefetching is a hint; it never faults and reads nothing.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(p.cast())
                };
                at += 64;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (off, len);
    }

    /// # Safety
    /// `[off, off + dst.len())` is inside the area and no other thread writes it meanwhile.
    unsafe fn read(&self, off: usize, dst: &mut [u8]) {
        debug_assert!(off + dst.len() <= self.cells.len());
        // SAFETY: in bounds and not written concurrently per the caller's contract; `dst` is
        // a distinct allocation.
        unsafe { std::ptr::copy_nonoverlapping(self.base().add(off), dst.as_mut_ptr(), dst.len()) }
    }
}

/// Under loom, one tracked cell per unit: records never share a unit, so disjoint producers
/// touch disjoint cells and loom reports any real overlap.
#[cfg(loom)]
struct Bytes {
    cells: Box<[loom::cell::UnsafeCell<[u8; UNIT]>]>,
}

#[cfg(loom)]
impl Bytes {
    fn prefetch_for_write(&self, _off: usize, _len: usize) {}

    fn new(len: usize) -> Option<Bytes> {
        Some(Bytes {
            cells: (0..len / UNIT)
                .map(|_| loom::cell::UnsafeCell::new([0; UNIT]))
                .collect(),
        })
    }

    /// # Safety
    /// As the non-loom version.
    unsafe fn write(&self, mut off: usize, mut src: &[u8]) {
        while !src.is_empty() {
            let (unit, at) = (off / UNIT, off % UNIT);
            let n = src.len().min(UNIT - at);
            // SAFETY: exclusive access per the caller's contract; loom checks it.
            self.cells[unit]
                .with_mut(|p| unsafe { (&mut *p)[at..at + n].copy_from_slice(&src[..n]) });
            src = &src[n..];
            off += n;
        }
    }

    /// # Safety
    /// As the non-loom version.
    unsafe fn read(&self, mut off: usize, mut dst: &mut [u8]) {
        while !dst.is_empty() {
            let (unit, at) = (off / UNIT, off % UNIT);
            let n = dst.len().min(UNIT - at);
            let (head, rest) = dst.split_at_mut(n);
            // SAFETY: no concurrent writer per the caller's contract; loom checks it.
            self.cells[unit].with(|p| head.copy_from_slice(unsafe { &(&*p)[at..at + n] }));
            dst = rest;
            off += n;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn new_ring(bytes: usize) -> Ring {
        Ring::with_capacity(bytes).unwrap()
    }

    fn pop_all(ring: &Ring) -> (usize, Vec<u8>) {
        let mut out = Vec::new();
        let n = ring.pop_batch(&mut out, usize::MAX);
        (n, out)
    }

    #[test]
    fn capacity_above_the_maximum_is_an_error_that_names_it() {
        let err = Ring::with_capacity(MAX_CAPACITY_BYTES + 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            err.to_string()
                .contains(&(MAX_CAPACITY_BYTES + 1).to_string()),
            "{err}"
        );
        let err = Ring::with_capacity(usize::MAX).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(new_ring(MAX_CAPACITY_BYTES).capacity(), MAX_CAPACITY_BYTES);
    }

    /// A push stalled between its reservation and its publication keeps its ticket; `abandon`
    /// counts it and every record published behind it, and each party that gives a ticket back
    /// afterwards learns that it was counted already.
    #[test]
    fn abandon_counts_stalled_and_unreachable_records_exactly_once() {
        let ring = std::sync::Arc::new(new_ring(4096));
        ring.try_push(b"reachable").unwrap();
        let (reserved_tx, reserved_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let stalled = {
            let ring = ring.clone();
            std::thread::spawn(move || {
                ring.push_with(&[b"stalled"], || {
                    reserved_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                })
            })
        };
        reserved_rx.recv().unwrap();
        ring.try_push(b"behind the hole").unwrap();
        ring.seal();
        let refused = ring.push_with(&[b"late"], || {}).unwrap_err();
        assert_eq!(
            (refused.error, refused.sealed, refused.settled),
            (PushError::Full, true, false)
        );
        let mut out = Vec::new();
        let popped = ring.pop(&mut out, usize::MAX);
        assert_eq!((popped.records, popped.settled), (1, false));
        assert_eq!(out, b"reachable");
        assert!(!ring.is_settled(), "two tickets are out");
        assert_eq!(
            ring.abandon(),
            Some(2),
            "the stalled record and the one behind it"
        );
        assert_eq!(ring.abandon(), None, "abandoned once");
        go_tx.send(()).unwrap();
        assert!(stalled.join().unwrap().is_ok());
        out.clear();
        let popped = ring.pop(&mut out, usize::MAX);
        assert_eq!((popped.records, popped.settled), (2, true));
        assert_eq!(out, b"stalledbehind the hole");
        assert!(ring.is_settled());
    }

    #[test]
    fn a_push_refused_after_abandon_began_in_flight_is_reported_as_settled() {
        let ring = new_ring(4096);
        let rec = [b'a'; 60];
        for _ in 0..64 {
            ring.try_push(&rec).unwrap();
        }
        let refused = ring
            .push_with(&[b"x"], || unreachable!("a full ring reserves nothing"))
            .unwrap_err();
        assert!(!refused.settled && !refused.sealed);
        // A ticket taken, then the ring abandoned before it was given back.
        let ticket = ring.head.gate.fetch_add(1, Ordering::AcqRel);
        assert_eq!(ring.abandon(), Some(65));
        let refused = ring.refund(ticket, PushError::Full, false);
        assert!(refused.settled, "counted by abandon");
        let refused = ring.push_with(&[b"x"], || {}).unwrap_err();
        assert!(
            refused.sealed && !refused.settled,
            "taken after: the caller counts it"
        );
    }

    #[test]
    fn capacity_rounds_up_to_a_power_of_two_of_at_least_4k() {
        assert_eq!(new_ring(0).capacity(), 4096);
        assert_eq!(new_ring(5000).capacity(), 8192);
        assert_eq!(new_ring(1 << 20).capacity(), 1 << 20);
        assert_eq!(new_ring(4096).max_record_len(), 2048 - 4);
    }

    #[test]
    fn records_come_out_in_order_and_intact() {
        let ring = new_ring(4096);
        ring.try_push(b"one\n").unwrap();
        ring.try_push_parts(&[b"tw", b"", b"o\n"]).unwrap();
        ring.try_push(b"").unwrap();
        assert!(!ring.is_empty());
        assert_eq!(pop_all(&ring), (3, b"one\ntwo\n".to_vec()));
        assert!(ring.is_empty());
        assert_eq!(pop_all(&ring), (0, Vec::new()));
    }

    #[test]
    fn too_large_is_refused_and_the_largest_accepted_fits_anywhere() {
        let ring = new_ring(4096);
        let max = ring.max_record_len();
        assert_eq!(ring.try_push(&vec![1; max + 1]), Err(PushError::TooLarge));
        assert_eq!(
            ring.try_push_parts(&[&vec![1; max], b"x"]),
            Err(PushError::TooLarge)
        );
        // Whatever the current offset, an empty ring takes a maximal record.
        for shift in [0usize, 8, 1000, 2040, 2048, 3000, 4088] {
            let ring = new_ring(4096);
            let mut left = shift;
            while left > 0 {
                let step = left.min(2000);
                ring.try_push(&vec![0; step - LEN_PREFIX]).unwrap();
                pop_all(&ring);
                left -= step;
            }
            ring.try_push(&vec![7; max]).unwrap();
            assert_eq!(pop_all(&ring), (1, vec![7; max]), "shift {shift}");
        }
    }

    #[test]
    fn full_is_reported_and_clears_after_a_pop() {
        let ring = new_ring(4096);
        let rec = [b'a'; 60]; // 64 bytes with its prefix
        for _ in 0..64 {
            ring.try_push(&rec).unwrap();
        }
        assert_eq!(ring.used_bytes(), 4096);
        assert_eq!(ring.try_push(b""), Err(PushError::Full));
        assert_eq!(ring.high_water_bytes(), 4096);
        let mut out = Vec::new();
        assert_eq!(ring.pop_batch(&mut out, 60), 1);
        ring.try_push(&rec).unwrap();
        assert_eq!(ring.try_push(b""), Err(PushError::Full));
    }

    #[test]
    fn a_record_that_would_straddle_the_end_is_preceded_by_padding() {
        let ring = new_ring(4096);
        ring.try_push(&[1; 1500]).unwrap();
        ring.try_push(&[1; 1500]).unwrap();
        pop_all(&ring);
        // 3008 consumed so far, 1088 left before the end: a 1500-byte record goes to offset 0.
        ring.try_push(&[2; 1500]).unwrap();
        assert_eq!(ring.used_bytes(), 1088 + 1504);
        assert_eq!(pop_all(&ring), (1, vec![2; 1500]));
        assert!(ring.is_empty());
        // Padding counts as used: this one no longer fits behind the padded wrap.
        // Padding counts as used: 1504 + 2008 bytes would fit, but the second record needs the
        // 1088 bytes before the end as padding too.
        ring.try_push(&[3; 1500]).unwrap();
        assert_eq!(ring.try_push(&[4; 2000]), Err(PushError::Full));
        assert_eq!(pop_all(&ring), (1, vec![3; 1500]));
        ring.try_push(&[4; 2000]).unwrap();
        assert_eq!(pop_all(&ring), (1, vec![4; 2000]));
    }

    #[test]
    fn pop_batch_respects_max_bytes_but_always_takes_one() {
        let ring = new_ring(4096);
        for i in 0..10u8 {
            ring.try_push(&[i; 100]).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(ring.pop_batch(&mut out, 10), 1);
        assert_eq!(ring.pop_batch(&mut out, 250), 2);
        assert_eq!(ring.pop_batch(&mut out, 300), 3);
        assert_eq!(ring.pop_batch(&mut out, usize::MAX), 4);
        let expected: Vec<u8> = (0..10u8).flat_map(|i| [i; 100]).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn many_sizes_wrap_around_many_times_intact() {
        let ring = new_ring(4096);
        let mut expected = Vec::new();
        let mut got = Vec::new();
        let mut seed = 12345u32;
        for i in 0..20_000 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let len = (seed >> 8) as usize % (ring.max_record_len() + 1);
            let rec: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            loop {
                match ring.try_push(&rec) {
                    Ok(()) => break,
                    Err(PushError::Full) => {
                        assert!(ring.pop_batch(&mut got, 1 + (seed as usize % 5000)) > 0);
                    }
                    Err(PushError::TooLarge) => unreachable!(),
                }
            }
            expected.extend_from_slice(&rec);
        }
        while ring.pop_batch(&mut got, usize::MAX) > 0 {}
        assert!(got == expected);
        assert!(ring.is_empty());
    }

    #[test]
    fn reset_forgets_pending_and_half_pushed_records() {
        let ring = new_ring(4096);
        ring.try_push(b"left by the parent").unwrap();
        // A producer that reserved and died before publishing (as a thread lost in fork).
        ring.head.gate.fetch_add(1, Ordering::SeqCst);
        ring.head.pos.fetch_add(64, Ordering::SeqCst);
        ring.try_push(b"published after the hole").unwrap();
        let mut out = Vec::new();
        assert_eq!(ring.pop_batch(&mut out, usize::MAX), 1);
        assert_eq!(ring.pop_batch(&mut out, usize::MAX), 0, "stuck at the hole");
        // SAFETY: this test is the only thread using the ring.
        unsafe { ring.reset() };
        assert!(ring.is_empty());
        assert_eq!(ring.high_water_bytes(), 0);
        assert!(!ring.is_abandoned());
        ring.seal();
        assert!(ring.is_settled(), "no ticket left after the reset");
        // SAFETY: as above.
        unsafe { ring.reset() };
        ring.try_push(b"child").unwrap();
        out.clear();
        assert_eq!(ring.pop_batch(&mut out, usize::MAX), 1);
        assert_eq!(out, b"child");
    }

    #[test]
    fn concurrent_producers_lose_nothing() {
        let ring = std::sync::Arc::new(new_ring(4096));
        let per = 20_000u32;
        let producers: Vec<_> = (0..4u32)
            .map(|t| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        let rec = [t.to_le_bytes(), i.to_le_bytes()].concat();
                        while ring
                            .try_push_parts(&[&rec, &[0; 3][..(i % 4) as usize]])
                            .is_err()
                        {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u32; 4];
        let mut out = Vec::new();
        while next.iter().any(|&n| n < per) {
            out.clear();
            if ring.pop_batch(&mut out, 1000) == 0 {
                std::thread::yield_now();
                continue;
            }
            let mut rest = &out[..];
            while !rest.is_empty() {
                let t = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
                let i = u32::from_le_bytes(rest[4..8].try_into().unwrap());
                assert_eq!(i, next[t], "producer {t} out of order");
                let pad = (i % 4) as usize;
                assert!(rest[8..8 + pad].iter().all(|&b| b == 0));
                next[t] += 1;
                rest = &rest[8 + pad..];
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert!(ring.is_empty());
    }
}
