//! Python types the encoder recognises beyond the builtins, found lazily and cached.
//!
//! A type is looked up only in `sys.modules`: an object can only be a `uuid.UUID` if `uuid`
//! has been imported, so the encoder never imports anything itself.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::ffi::CStr;

/// A lazily found type: the module that defines it and its attribute name.
pub struct LazyType {
    module: &'static CStr,
    name: &'static CStr,
    cell: PyOnceLock<Py<PyType>>,
}

impl LazyType {
    pub const fn new(module: &'static CStr, name: &'static CStr) -> Self {
        Self {
            module,
            name,
            cell: PyOnceLock::new(),
        }
    }

    /// The type object, if its module has been imported by anyone.
    pub fn get(&self, py: Python<'_>) -> Option<*mut ffi::PyTypeObject> {
        if let Some(ty) = self.cell.get(py) {
            return Some(ty.as_ptr().cast());
        }
        // SAFETY: the GIL is held (we have `py`); `PyImport_GetModuleDict` returns a borrowed
        // reference to `sys.modules` and `PyDict_GetItemString` a borrowed item or NULL.
        let module = unsafe {
            let modules = ffi::PyImport_GetModuleDict();
            ffi::PyDict_GetItemString(modules, self.module.as_ptr())
        };
        if module.is_null() {
            return None;
        }
        // SAFETY: `module` is a live borrowed reference while the GIL is held.
        let module = unsafe { Bound::from_borrowed_ptr(py, module) };
        let ty = module.getattr(self.name.to_str().ok()?).ok()?;
        let ty = ty.cast_into::<PyType>().ok()?;
        let ptr = ty.as_ptr().cast();
        let _ = self.cell.set(py, ty.unbind());
        Some(ptr)
    }

    /// Whether `obj` is an instance of this type (or a subclass).
    pub fn is_instance(&self, py: Python<'_>, obj: *mut ffi::PyObject) -> bool {
        match self.get(py) {
            // SAFETY: `obj` and `ty` are live objects and the GIL is held.
            Some(ty) => unsafe { ffi::PyObject_TypeCheck(obj, ty) != 0 },
            None => false,
        }
    }
}

pub static DATETIME: LazyType = LazyType::new(c"datetime", c"datetime");
pub static DATE: LazyType = LazyType::new(c"datetime", c"date");
pub static TIME: LazyType = LazyType::new(c"datetime", c"time");
pub static TIMEDELTA: LazyType = LazyType::new(c"datetime", c"timedelta");
pub static UUID: LazyType = LazyType::new(c"uuid", c"UUID");
pub static DECIMAL: LazyType = LazyType::new(c"decimal", c"Decimal");
pub static ENUM: LazyType = LazyType::new(c"enum", c"Enum");
pub static PATH: LazyType = LazyType::new(c"pathlib", c"PurePath");
pub static SECRET_STR: LazyType = LazyType::new(c"pydantic", c"SecretStr");
pub static SECRET_BYTES: LazyType = LazyType::new(c"pydantic", c"SecretBytes");
pub static BASE_MODEL: LazyType = LazyType::new(c"pydantic", c"BaseModel");
