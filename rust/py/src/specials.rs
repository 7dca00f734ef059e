//! The keyword arguments of a log call that are not fields: `exc_info`, `stack_info` and
//! `stacklevel`, as in stdlib logging.

use pyo3::ffi;

/// Keyword arguments with a meaning of their own, as in stdlib logging.
#[derive(Default)]
pub struct Specials {
    pub exc_info: Option<*mut ffi::PyObject>,
    pub stack_info: bool,
    pub stacklevel: i64,
    pub count: usize,
    /// The level's name (not yet JSON) when `log()` was given one the pipeline does not know.
    pub level_text: Option<Vec<u8>>,
    /// The call's fields already hold the context fields (a processor chain merged them), so
    /// the encoder must not add them again.
    pub no_context: bool,
}

/// Find `exc_info`, `stack_info` and `stacklevel` among the keywords.
///
/// # Safety
/// `kwnames` is NULL or a tuple of `nkw` str; `kwvalues` holds `nkw` values; GIL held.
#[inline(never)]
pub unsafe fn scan_specials(
    kwnames: *mut ffi::PyObject,
    kwvalues: *const *mut ffi::PyObject,
    nkw: ffi::Py_ssize_t,
    exc_default: bool,
) -> Specials {
    let mut s = Specials::new(exc_default);
    for i in 0..nkw {
        // SAFETY: per this function's contract.
        let (name, value) = unsafe { (ffi::PyTuple_GET_ITEM(kwnames, i), *kwvalues.offset(i)) };
        // SAFETY: `name` is a live str.
        match special_kind(unsafe { ffi::PyUnicode_GET_LENGTH(name) }, name) {
            Some(Special::ExcInfo) => {
                s.exc_info = Some(value);
                s.count += 1;
            }
            Some(Special::StackInfo) => {
                // SAFETY: `value` is live; an error in truth testing counts as false.
                s.stack_info = unsafe { ffi::PyObject_IsTrue(value) } == 1;
                s.count += 1;
            }
            Some(Special::StackLevel) => {
                // SAFETY: `value` is live; a non-int gives -1 with an error, cleared.
                let v = unsafe { ffi::PyLong_AsLongLong(value) };
                if v == -1 {
                    // SAFETY: the GIL is held.
                    unsafe { ffi::PyErr_Clear() };
                }
                s.stacklevel = v.max(1);
                s.count += 1;
            }
            None => {}
        }
    }
    s
}

impl Specials {
    /// No special keywords; `exception()` implies `exc_info=True`.
    pub fn new(exc_default: bool) -> Self {
        Specials {
            // SAFETY: Py_True is immortal; callers hold the GIL.
            exc_info: exc_default.then(|| unsafe { ffi::Py_True() }),
            stacklevel: 1,
            ..Specials::default()
        }
    }
}

enum Special {
    ExcInfo,
    StackInfo,
    StackLevel,
}

#[inline]
fn special_kind(len: ffi::Py_ssize_t, name: *mut ffi::PyObject) -> Option<Special> {
    // Cheap length filter first: only 8- and 10-character names can be special.
    if len != 8 && len != 10 {
        return None;
    }
    // SAFETY: `name` is a live str and the GIL is held.
    let bytes = unsafe { crate::encode::str_data(name) }?;
    match bytes {
        b"exc_info" => Some(Special::ExcInfo),
        b"stack_info" => Some(Special::StackInfo),
        b"stacklevel" => Some(Special::StackLevel),
        _ => None,
    }
}

pub fn is_special(name: *mut ffi::PyObject) -> bool {
    // SAFETY: `name` is a live str and the GIL is held.
    special_kind(unsafe { ffi::PyUnicode_GET_LENGTH(name) }, name).is_some()
}
