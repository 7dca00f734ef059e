//! Request context: fields bound with `bind_contextvars()` live in one ContextVar whose value
//! is an immutable, pre-encoded [`ContextFields`]; every log call in that context adds them.

use crate::fields::EncodedFields;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

/// Bytes one context value may take once encoded.
const MAX_CONTEXT_VALUE_BYTES: usize = 16 * 1024;

/// The one ContextVar holding the current request context (per interpreter, never mutated:
/// its *values* are per-context).
static CONTEXT_VAR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub fn context_var(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    CONTEXT_VAR.get_or_try_init(py, || {
        let name = PyString::new(py, "ferrolog_context");
        // SAFETY: the GIL is held; `PyContextVar_New` returns a new reference or NULL+error.
        unsafe {
            let var = ffi::PyContextVar_New(c"ferrolog_context".as_ptr(), std::ptr::null_mut());
            drop(name);
            Bound::from_owned_ptr_or_err(py, var).map(Bound::unbind)
        }
    })
}

/// An immutable set of context fields, encoded once when bound.
#[pyclass(frozen, module = "ferrolog._native")]
pub struct ContextFields {
    pub fields: EncodedFields,
}

#[pymethods]
impl ContextFields {
    /// Encode `fields` (str keys) once.
    #[new]
    fn new(py: Python<'_>, fields: Bound<'_, PyDict>) -> PyResult<Self> {
        for k in fields.keys() {
            if !k.is_instance_of::<PyString>() {
                return Err(PyTypeError::new_err(format!(
                    "context field names must be str, got {}",
                    k.get_type().name()?
                )));
            }
        }
        let copy = fields.copy()?;
        Ok(Self {
            fields: EncodedFields::encode(py, copy, None, MAX_CONTEXT_VALUE_BYTES),
        })
    }

    /// A copy of the fields as a dict.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.fields.dict.bind(py).copy()
    }

    fn __len__(&self) -> usize {
        self.fields.keys.len()
    }
}

/// The context fields current in this context, if any (a new reference held by the result).
#[inline]
pub fn current(py: Python<'_>) -> Option<Bound<'_, ContextFields>> {
    let var = CONTEXT_VAR.get(py)?;
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: the GIL is held; `var` is a live ContextVar; on success `value` is a new
    // reference or NULL when unset.
    let rc = unsafe { ffi::PyContextVar_Get(var.as_ptr(), std::ptr::null_mut(), &mut value) };
    if rc != 0 {
        // SAFETY: the GIL is held.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    if value.is_null() {
        return None;
    }
    // SAFETY: `value` is a new reference.
    let value = unsafe { Bound::from_owned_ptr(py, value) };
    value.cast_into::<ContextFields>().ok()
}
