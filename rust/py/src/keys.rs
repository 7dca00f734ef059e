//! Per-call-site caches of encoded field names.
//!
//! The keyword names of a call (`kwnames`) are one tuple object per call site, reused by every
//! call from it. So `,"user_id":` for each name is encoded once per call site and thread, with
//! the reserved-name renaming, the special keywords (`exc_info`, ...) and the redaction of
//! denied names already sorted out: per call, a pointer compare.
//!
//! The cache is set-associative: [`SETS`] sets of [`WAYS`] entries, the set chosen by a
//! multiplicative hash of the tuple's address, the ways kept in most-recently-used order. A
//! direct-mapped table indexed by address bits let two call sites of one request handler
//! evict each other on every request (their tuples are allocated close together): measured
//! in the service benchmark, 2 of 5 call sites re-encoded their keys on every request.

use crate::fields::key_bytes;
use crate::redact::Redactor;
use crate::schema::write_field_key;
use crate::schema::Schema;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Sets in the per-thread cache (a power of two).
const SETS: usize = 64;
/// Entries per set.
const WAYS: usize = 4;

/// The encoded names of one call site's keywords.
pub struct CallKeys {
    /// Held so the tuple's address cannot be reused by another tuple while cached.
    names: Py<PyTuple>,
    schema: Schema,
    /// The redaction rules `denied` was decided by (held, so the address stays theirs).
    redact: Arc<Redactor>,
    /// `,"name":` per keyword; empty for the special keywords, which are not fields.
    pub encoded: Box<[Box<[u8]>]>,
    /// Per keyword: whether its name is denied (its value is then masked).
    pub denied: Box<[bool]>,
    /// Whether any keyword is special.
    pub any_special: bool,
    /// Whether any keyword held lone surrogates (see [`crate::fields::EncodedFields::lossy`]).
    pub lossy: bool,
}

type Set = [Option<Rc<CallKeys>>; WAYS];

thread_local! {
    static CACHE: RefCell<[Set; SETS]> =
        const { RefCell::new([const { [const { None }; WAYS] }; SETS]) };
}

/// The set for a tuple at `addr`: Fibonacci hashing of the address's significant bits, so
/// tuples allocated next to each other land in different sets.
#[inline]
fn set_of(addr: usize) -> usize {
    let h = ((addr >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - SETS.trailing_zeros())) as usize
}

/// The encoded names for `kwnames` (a tuple of str) under `schema` and `redact`; None when the
/// cache is in use further up this thread's stack (a `__repr__` that logs), in which case
/// callers encode the names themselves.
pub fn call_keys(
    py: Python<'_>,
    kwnames: *mut ffi::PyObject,
    schema: Schema,
    redact: &Arc<Redactor>,
) -> Option<Rc<CallKeys>> {
    CACHE.with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        let set = &mut cache[set_of(kwnames as usize)];
        let hit = set.iter().position(|e| {
            e.as_ref().is_some_and(|e| {
                e.names.as_ptr() == kwnames && e.schema == schema && Arc::ptr_eq(&e.redact, redact)
            })
        });
        if let Some(way) = hit {
            set[..=way].rotate_right(1); // most recently used first
            return set[0].clone();
        }
        // SAFETY: `kwnames` is a live tuple of str and the GIL is held.
        let names = unsafe { Bound::from_borrowed_ptr(py, kwnames) };
        let names = names.cast_into::<PyTuple>().ok()?;
        let mut any_special = false;
        let mut lossy = false;
        let mut denied = Vec::with_capacity(names.len());
        let encoded = names
            .iter()
            .map(|name| {
                if crate::specials::is_special(name.as_ptr()) {
                    any_special = true;
                    denied.push(false);
                    return Box::default();
                }
                let mut out = Vec::with_capacity(16);
                out.push(b',');
                // SAFETY: keyword names are live str objects.
                let key = unsafe { key_bytes(name.as_ptr()) };
                lossy |= matches!(key, std::borrow::Cow::Owned(_));
                denied.push(redact.denies(&key));
                write_field_key(&mut out, &key, Some(schema));
                out.into_boxed_slice()
            })
            .collect();
        let entry = Rc::new(CallKeys {
            names: names.unbind(),
            schema,
            redact: Arc::clone(redact),
            encoded,
            denied: denied.into_boxed_slice(),
            any_special,
            lossy,
        });
        // The least recently used way makes room (releasing its tuple of str runs no Python).
        set.rotate_right(1);
        set[0] = Some(Rc::clone(&entry));
        Some(entry)
    })
}

#[cfg(test)]
mod tests {
    use super::{set_of, SETS, WAYS};

    #[test]
    fn call_sites_allocated_side_by_side_share_no_set_beyond_its_ways() {
        // Keyword tuples of one handler's call sites sit a few dozen bytes apart: 16 of
        // them, at any such spacing, never need more than half of a set's ways.
        for stride in [16usize, 32, 48, 64, 80, 96, 128, 256] {
            for base in [0x7f00_1234_5000usize, 0x5555_0000_0ab0] {
                let mut per_set = [0usize; SETS];
                for i in 0..16 {
                    per_set[set_of(base + i * stride)] += 1;
                }
                let worst = per_set.iter().max().copied().unwrap_or(0);
                assert!(
                    worst <= WAYS / 2,
                    "stride {stride}: {worst} sites in one set"
                );
            }
        }
    }
}
