//! Per-call-site caches of encoded field names.
//!
//! The keyword names of a call (`kwnames`) are one tuple object per call site, reused by every
//! call from it. So `,"user_id":` for each name is encoded once per call site and thread, with
//! the reserved-name renaming, the special keywords (`exc_info`, ...) and the redaction of
//! denied names already sorted out: per call, a pointer compare.

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

const SLOTS: usize = 32;

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

thread_local! {
    static CACHE: RefCell<[Option<Rc<CallKeys>>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
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
        let slot = (kwnames as usize >> 4) % SLOTS;
        if let Some(entry) = &cache[slot] {
            if entry.names.as_ptr() == kwnames
                && entry.schema == schema
                && Arc::ptr_eq(&entry.redact, redact)
            {
                return Some(Rc::clone(entry));
            }
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
        cache[slot] = Some(Rc::clone(&entry));
        Some(entry)
    })
}
