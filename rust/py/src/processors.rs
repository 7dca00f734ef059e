//! Caller-side plugins (filters, enrichers, redactors written in Python): when a pipeline has
//! a processor chain, each event is handed to it as a dict on the caller's thread before
//! encoding, so contextvars and the request are visible to it. Without one this module is
//! never entered and the fast path is unchanged.
//!
//! The chain (`ferrolog._processors.ProcessorChain`) gets `{**context fields, **bound fields,
//! **call fields, "message": ..., "level": ..., "logger": ...}` and returns the event to
//! encode, or None to drop it (counted as `filtered`). The returned dict's `message` becomes
//! the message; `level` and `logger` are the call's (a chain cannot change them); every other
//! key is a field. The chain isolates the plugins itself; if the chain as a whole fails, the
//! event is encoded as it was logged (and an error is counted): a log call never raises.

use crate::context;
use crate::logger::Logger;
use crate::specials::is_special;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

/// What the chain made of an event.
pub(crate) enum Processed<'py> {
    /// The chain dropped it.
    Filtered,
    /// Encode this instead: the message, and the fields as keyword names and values (the
    /// context and bound fields are among them).
    Event {
        msg: Bound<'py, PyAny>,
        names: Bound<'py, PyTuple>,
        values: Vec<Bound<'py, PyAny>>,
    },
    /// The chain failed as a whole (already counted): encode the event as logged.
    Unchanged,
}

/// Run `chain` on the event of one log call.
///
/// # Safety
/// `kwnames` is NULL or a tuple of `nkw` str, `kwvalues` holds `nkw` live values, `msg` is
/// live; the GIL is held.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(crate) unsafe fn apply<'py>(
    py: Python<'py>,
    logger: &Logger,
    chain: &Bound<'py, PyAny>,
    level: i32,
    msg: *mut ffi::PyObject,
    kwnames: *mut ffi::PyObject,
    kwvalues: *const *mut ffi::PyObject,
    nkw: ffi::Py_ssize_t,
) -> Processed<'py> {
    // SAFETY: per this function's contract.
    let event = unsafe { event_dict(py, logger, level, msg, kwnames, kwvalues, nkw) };
    let result = event.and_then(|event| chain.call1((event,)));
    let out = match result {
        Ok(out) => out,
        Err(_) => {
            logger.shared.core.count_error();
            return Processed::Unchanged;
        }
    };
    if out.is_none() {
        logger.shared.count_filtered();
        return Processed::Filtered;
    }
    let Ok(out) = out.cast_into::<PyDict>() else {
        logger.shared.core.count_error();
        return Processed::Unchanged;
    };
    // SAFETY: `msg` is live for the call.
    let mut message = unsafe { Bound::from_borrowed_ptr(py, msg) };
    let mut names = Vec::with_capacity(out.len());
    let mut values = Vec::with_capacity(out.len());
    for (k, v) in out.iter() {
        let Ok(key) = k.cast_into::<PyString>() else {
            continue; // the chain only hands back str keys; anything else is skipped
        };
        match key.to_str() {
            Ok("message") => message = v,
            Ok("level" | "logger") => {}
            _ => {
                names.push(key);
                values.push(v);
            }
        }
    }
    match PyTuple::new(py, names) {
        Ok(names) => Processed::Event {
            msg: message,
            names,
            values,
        },
        Err(_) => {
            logger.shared.core.count_error();
            Processed::Unchanged
        }
    }
}

/// The event as the chain sees it: context, then bound, then call fields (later ones win),
/// then `message`, `level` and `logger`. Special keywords (`exc_info`, ...) are not fields.
///
/// # Safety
/// As [`apply`].
unsafe fn event_dict<'py>(
    py: Python<'py>,
    logger: &Logger,
    level: i32,
    msg: *mut ffi::PyObject,
    kwnames: *mut ffi::PyObject,
    kwvalues: *const *mut ffi::PyObject,
    nkw: ffi::Py_ssize_t,
) -> PyResult<Bound<'py, PyDict>> {
    let event = PyDict::new(py);
    if let Some(ctx) = context::current(py) {
        event.update(ctx.get().fields.dict.bind(py).as_mapping())?;
    }
    event.update(logger.bound.dict.bind(py).as_mapping())?;
    for i in 0..nkw {
        // SAFETY: per this function's contract.
        let (name, value) = unsafe { (ffi::PyTuple_GET_ITEM(kwnames, i), *kwvalues.offset(i)) };
        if is_special(name) {
            continue;
        }
        // SAFETY: both are live; PyDict_SetItem takes its own references.
        if unsafe { ffi::PyDict_SetItem(event.as_ptr(), name, value) } != 0 {
            return Err(PyErr::fetch(py));
        }
    }
    // SAFETY: `msg` is live for the call.
    event.set_item("message", unsafe { Bound::from_borrowed_ptr(py, msg) })?;
    event.set_item("level", logger.shared.levels.name_of(level))?;
    event.set_item("logger", logger.name.bind(py))?;
    Ok(event)
}
