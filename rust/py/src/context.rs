//! Request context: fields bound with `bind_contextvars()` live in one ContextVar whose value
//! is an immutable, pre-encoded [`ContextFields`]; every log call in that context adds them.

use crate::fields::EncodedFields;
use crate::redact::Redactor;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use pyo3::PyClass;
use std::sync::{Arc, Mutex};

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
///
/// Bound before any pipeline is known, they are encoded under the default redaction rules;
/// a pipeline with other rules encodes them again under its own, once, kept in `other`.
#[pyclass(frozen, module = "ferrolog._native")]
pub struct ContextFields {
    pub fields: EncodedFields,
    other: Mutex<Option<(Arc<Redactor>, Arc<EncodedFields>)>>,
}

impl ContextFields {
    fn new_encoded(fields: EncodedFields) -> Self {
        Self {
            fields,
            other: Mutex::new(None),
        }
    }

    /// These fields encoded under `redact` (not the default rules), encoding them on first use
    /// by that pipeline. The lock is never held while Python code runs.
    pub fn fields_for(&self, py: Python<'_>, redact: &Arc<Redactor>) -> Arc<EncodedFields> {
        {
            let slot = self.other.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((rules, fields)) = slot.as_ref() {
                if Arc::ptr_eq(rules, redact) {
                    return Arc::clone(fields);
                }
            }
        }
        let copy = self
            .fields
            .dict
            .bind(py)
            .copy()
            .unwrap_or_else(|_| PyDict::new(py));
        let fields = Arc::new(EncodedFields::encode(
            py,
            copy,
            None,
            MAX_CONTEXT_VALUE_BYTES,
            redact,
        ));
        let mut slot = self.other.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some((Arc::clone(redact), Arc::clone(&fields)));
        fields
    }
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
        Ok(Self::new_encoded(EncodedFields::encode(
            py,
            copy,
            None,
            MAX_CONTEXT_VALUE_BYTES,
            Redactor::default_rules(),
        )))
    }

    /// A copy of the fields as a dict.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.fields.dict.bind(py).copy()
    }

    fn __len__(&self) -> usize {
        self.fields.keys.len()
    }
}

/// The current context's fields plus `fields` (encoding only those). `owned`: the caller
/// checked the keys and hands over a dict nothing else holds (a `bound_contextvars`' own
/// kwargs), which then becomes the fields' dict without a copy.
fn extended(py: Python<'_>, fields: &Bound<'_, PyDict>, owned: bool) -> PyResult<ContextFields> {
    if !owned {
        check_keys(fields)?;
    }
    let rules = Redactor::default_rules();
    let fields = match current(py) {
        Some(cur) => cur
            .get()
            .fields
            .extend(py, fields, None, MAX_CONTEXT_VALUE_BYTES, rules)?,
        None => {
            let dict = if owned {
                fields.clone()
            } else {
                fields.copy()?
            };
            EncodedFields::encode(py, dict, None, MAX_CONTEXT_VALUE_BYTES, rules)
        }
    };
    Ok(ContextFields::new_encoded(fields))
}

fn check_keys(fields: &Bound<'_, PyDict>) -> PyResult<()> {
    for k in fields.keys() {
        if !k.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "context field names must be str, got {}",
                k.get_type().name()?
            )));
        }
    }
    Ok(())
}

/// Add `fields` to the current context (replacing fields of the same name).
#[pyfunction]
#[pyo3(signature = (**fields))]
pub fn bind_contextvars(py: Python<'_>, fields: Option<Bound<'_, PyDict>>) -> PyResult<()> {
    let Some(fields) = fields else { return Ok(()) };
    let new = Bound::new(py, extended(py, &fields, false)?)?;
    let var = context_var(py)?;
    // SAFETY: the GIL is held; `var` is a ContextVar; the token is a new reference we drop.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContextVar_Set(var.as_ptr(), new.as_ptr()))? };
    Ok(())
}

/// Bind fields for the duration of a `with` block, then restore the context as it was.
///
/// Also usable in `async with`-free coroutines: the binding follows the current task.
#[pyclass(module = "ferrolog._native", name = "bound_contextvars")]
pub struct BoundContextVars {
    fields: Py<PyDict>,
    token: Option<Py<PyAny>>,
}

#[pymethods]
impl BoundContextVars {
    #[new]
    #[pyo3(signature = (**fields))]
    fn new(py: Python<'_>, fields: Option<Bound<'_, PyDict>>) -> PyResult<Self> {
        let fields = fields.unwrap_or_else(|| PyDict::new(py));
        check_keys(&fields)?;
        Ok(Self {
            fields: fields.unbind(),
            token: None,
        })
    }

    fn __enter__(&mut self, py: Python<'_>) -> PyResult<()> {
        // `fields` is the dict PyO3 built for this object's keyword arguments, checked in
        // `__new__` and never handed out: the context may keep it as it is.
        let new = Bound::new(py, extended(py, self.fields.bind(py), true)?)?;
        let var = context_var(py)?;
        // SAFETY: the GIL is held; `var` is a ContextVar; a new reference (the token) or NULL
        // with an exception set comes back.
        let token = unsafe {
            Bound::from_owned_ptr_or_err(py, ffi::PyContextVar_Set(var.as_ptr(), new.as_ptr()))?
        };
        self.token = Some(token.unbind());
        Ok(())
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        _exc: Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<bool> {
        if let Some(token) = self.token.take() {
            let var = context_var(py)?;
            // SAFETY: the GIL is held; `token` came from setting this same variable.
            if unsafe { ffi::PyContextVar_Reset(var.as_ptr(), token.as_ptr()) } != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(false)
    }
}

/// The context fields current in this context, if any (a new reference held by the result).
#[inline]
pub fn current(py: Python<'_>) -> Option<Bound<'_, ContextFields>> {
    value_of(py, CONTEXT_VAR.get(py)?)
}

/// The value `var` (a ContextVar) holds in this context when it is a `T`, else None (also
/// when unset, or when reading it failed, whose error is cleared).
#[inline]
pub fn value_of<'py, T: PyClass>(py: Python<'py>, var: &Py<PyAny>) -> Option<Bound<'py, T>> {
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
    value.cast_into::<T>().ok()
}
