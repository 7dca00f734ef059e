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
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Whether a [`ContextFields`] was ever made in this process. Until one exists the context
/// variable cannot hold one, and a log call skips reading it (a program that never binds
/// context pays one load instead of a context lookup per call).
static EVER_MADE: AtomicBool = AtomicBool::new(false);

impl ContextFields {
    fn new_encoded(fields: EncodedFields) -> Self {
        // Relaxed: a context holding this value reaches another thread only through the GIL
        // (or the interpreter's own locks), which orders this store before that thread's load.
        EVER_MADE.store(true, Ordering::Relaxed);
        Self {
            fields,
            other: Mutex::new(None),
        }
    }

    /// These fields encoded under `redact` (not the default rules), encoding them on first use
    /// by that pipeline. The lock is never held while Python code runs.
    #[cold]
    #[inline(never)]
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
        let replaced = {
            let mut slot = self.other.lock().unwrap_or_else(|e| e.into_inner());
            slot.replace((Arc::clone(redact), Arc::clone(&fields)))
        };
        // Dropped after the lock is let go: no Python object is freed (and so no Python code
        // can run) while it is held.
        drop(replaced);
        fields
    }
}

#[pymethods]
impl ContextFields {
    // A bound value may lead back here (an object holding the context it was bound in).
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.fields.traverse(&visit)?;
        // Taken only with the GIL held, and no Python code runs while it is held (what it
        // replaces is dropped after it is let go), so it is free whenever the collector runs;
        // were it not, skipping would only hide an edge, never free a live object.
        if let Ok(slot) = self.other.try_lock() {
            if let Some((_, fields)) = slot.as_ref() {
                // Held by this slot alone between log calls (a call's clone is dropped
                // before it returns).
                fields.traverse(&visit)?;
            }
        }
        Ok(())
    }

    /// Encode `fields` (str keys) once.
    #[new]
    fn new(py: Python<'_>, fields: Bound<'_, PyDict>) -> PyResult<Self> {
        check_keys(&fields)?;
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

/// That every key of `fields` is a str (a dict given to `ContextFields` may hold others).
fn check_keys(fields: &Bound<'_, PyDict>) -> PyResult<()> {
    for (k, _) in fields.iter() {
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

/// `bound_contextvars(**fields)`: bind `fields` for the duration of a `with` block, then
/// restore the context as it was. Also usable in `async with`-free coroutines: the binding
/// follows the current task.
///
/// A METH_FASTCALL|METH_KEYWORDS function that builds the fields' dict straight from the
/// call's keywords, once. As a class (tp_call, then `__new__`), or as a PyO3 function taking
/// `**fields` (a keyword dict from CPython, copied into another by PyO3), the call cost about
/// a fifth of a request's binding (`benches/instructions.py --cases bindcm`).
///
/// # Safety
/// Called by CPython with the GIL held: `args` holds `nargs` positional values followed by one
/// value per name in `kwnames` (a tuple of str, or NULL).
unsafe extern "C" fn bound_contextvars_fast(
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: per this function's contract.
    let py = unsafe { Python::assume_attached() };
    crate::methods::c_result(py, "bound_contextvars() failed", || {
        // SAFETY: per this function's contract.
        let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf as usize) };
        if nargs != 0 {
            return Err(PyTypeError::new_err(format!(
                "bound_contextvars() takes keyword arguments only ({nargs} positional given)"
            )));
        }
        let fields = PyDict::new(py);
        if !kwnames.is_null() {
            // SAFETY: `kwnames` is a tuple of str; its values follow the positionals in `args`.
            unsafe {
                for i in 0..ffi::PyTuple_GET_SIZE(kwnames) {
                    let name = ffi::PyTuple_GET_ITEM(kwnames, i);
                    if ffi::PyDict_SetItem(fields.as_ptr(), name, *args.offset(nargs + i)) != 0 {
                        return Err(PyErr::fetch(py));
                    }
                }
            }
        }
        Bound::new(py, BoundContextVars::owning(fields)).map(Bound::into_any)
    })
}

/// The definition of `bound_contextvars` (a module function, not a method).
static BOUND_CONTEXTVARS_DEF: crate::methods::StaticMethodDef =
    crate::methods::StaticMethodDef(ffi::PyMethodDef {
        ml_name: c"bound_contextvars".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: bound_contextvars_fast,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: c"bound_contextvars(**fields)\n--\n\nBind `fields` for the duration of a \
            `with` block, then restore the context as it was."
            .as_ptr(),
    });

/// Add `bound_contextvars` to the module.
pub fn add_bound_contextvars(m: &Bound<'_, pyo3::types::PyModule>) -> PyResult<()> {
    let py = m.py();
    let module_name = m.name()?;
    // SAFETY: the GIL is held; the definition is 'static; a new reference or NULL with an
    // error.
    let func = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyCFunction_NewEx(
                BOUND_CONTEXTVARS_DEF.as_ptr(),
                std::ptr::null_mut(),
                module_name.as_ptr(),
            ),
        )?
    };
    m.add("bound_contextvars", func)
}

/// What `bound_contextvars(**fields)` returns: binds `fields` on `__enter__`, restores the
/// context on `__exit__`.
#[pyclass(module = "ferrolog._native", name = "BoundContextVars")]
pub struct BoundContextVars {
    fields: Py<PyDict>,
    token: Option<Py<PyAny>>,
}

impl BoundContextVars {
    /// A binding of `fields`, a dict with str keys that nothing else holds.
    pub(crate) fn owning(fields: Bound<'_, PyDict>) -> Self {
        Self {
            fields: fields.unbind(),
            token: None,
        }
    }
}

#[pymethods]
impl BoundContextVars {
    // The fields, and the token (which holds the context it replaced), may lead back here.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.fields)?;
        if let Some(token) = &self.token {
            visit.call(token)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.token = None;
    }

    fn __enter__(&mut self, py: Python<'_>) -> PyResult<()> {
        // `fields` is the dict PyO3 built for `bound_contextvars`' keyword arguments, never
        // handed out: the context may keep it as it is.
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

    #[pyo3(signature = (_exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
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
    if !EVER_MADE.load(Ordering::Relaxed) {
        return None;
    }
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
