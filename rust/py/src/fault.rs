//! Test-only: an object whose encoding panics, the way a bug of ours in the encoder would.
//!
//! A log call must survive such a bug: count the event dropped, leave no Python error behind
//! and return normally. No real input reaches a panic, so tests need this probe to check
//! that. The encoder looks for it only in its cold fallback for unknown types, just before
//! `repr()`: the hot path never sees it.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::PyTypeInfo;

/// Test-only (not API): encoding an instance raises a Python error and then panics.
#[pyclass(frozen, module = "ferrolog._native", name = "_PanicOnEncode")]
pub struct PanicOnEncode;

#[pymethods]
impl PanicOnEncode {
    #[new]
    fn new() -> Self {
        Self
    }
}

/// Panic if `obj` is the test probe (leaving a Python error set, as a half-done call would).
#[cold]
pub fn check(py: Python<'_>, obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is live and the GIL is held.
    if unsafe { ffi::Py_TYPE(obj) } == PanicOnEncode::type_object_raw(py) {
        pyo3::exceptions::PyRuntimeError::new_err("left behind by a panicking encoder").restore(py);
        panic!("ferrolog: _PanicOnEncode was encoded (a test of the panic guard)");
    }
}
