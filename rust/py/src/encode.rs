//! Encoding Python objects straight to JSON bytes.
//!
//! The hot types are recognised by their exact type pointer (str, int, float, bool, None, dict,
//! list, tuple); everything else goes through one cold, non-inlined function. Nothing here
//! raises: a value that cannot be encoded becomes a marker string, and any Python error raised
//! while looking at it is cleared.

use crate::escape::{
    any_escape, escaped_len, replace_surrogates, utf8_prefix, write_escaped, write_escaped_capped,
};
use crate::redact::Redactor;
use crate::types;
use pyo3::ffi;
use pyo3::prelude::*;
use std::os::raw::c_char;
use std::ptr;

/// Containers nested deeper than this are replaced by [`MAX_DEPTH_MARKER`].
pub const MAX_DEPTH: usize = 32;
/// `repr()` output of unknown objects is cut to this many bytes.
pub const MAX_REPR_BYTES: usize = 1024;
pub const CYCLE_MARKER: &[u8] = b"\"<cycle>\"";
pub const MAX_DEPTH_MARKER: &[u8] = b"\"<max depth>\"";
const SECRET_MASK: &[u8] = b"\"**********\"";
/// Appended to a string that was cut to fit the event size cap.
const ELLIPSIS: &str = "…<truncated>";

/// Writes JSON for Python objects into `out`, keeping the event under a byte budget.
pub struct Encoder<'a> {
    pub out: &'a mut Vec<u8>,
    /// The encoder stops adding content once `out.len()` reaches this.
    limit: usize,
    /// Set when anything was cut to respect `limit`.
    pub truncated: bool,
    /// Containers being encoded, outermost first, for cycle detection.
    stack: [std::mem::MaybeUninit<*mut ffi::PyObject>; MAX_DEPTH],
    depth: usize,
    /// The pipeline's redaction rules: denied field names at any depth, value patterns.
    redact: &'a Redactor,
}

impl<'a> Encoder<'a> {
    pub fn new(out: &'a mut Vec<u8>, limit: usize, redact: &'a Redactor) -> Self {
        Self {
            out,
            limit,
            truncated: false,
            stack: [const { std::mem::MaybeUninit::uninit() }; MAX_DEPTH],
            depth: 0,
            redact,
        }
    }

    #[inline]
    fn over_budget(&mut self) -> bool {
        if self.out.len() >= self.limit {
            self.truncated = true;
            true
        } else {
            false
        }
    }

    /// Encode any object. `obj` must be a live object and the GIL held.
    #[inline]
    pub fn value(&mut self, py: Python<'_>, obj: *mut ffi::PyObject) {
        // SAFETY: the caller guarantees `obj` is live and the GIL is held; the type objects
        // compared against are static.
        unsafe {
            let ty = ffi::Py_TYPE(obj);
            if ty == &raw mut ffi::PyUnicode_Type {
                self.exact_str(obj);
            } else if ty == &raw mut ffi::PyLong_Type {
                self.int(obj);
            } else if ty == &raw mut ffi::PyFloat_Type {
                self.float(ffi::PyFloat_AS_DOUBLE(obj));
            } else if obj == ffi::Py_True() {
                self.out.extend_from_slice(b"true");
            } else if obj == ffi::Py_False() {
                self.out.extend_from_slice(b"false");
            } else if obj == ffi::Py_None() {
                self.out.extend_from_slice(b"null");
            } else if ty == &raw mut ffi::PyDict_Type {
                self.dict(py, obj);
            } else if ty == &raw mut ffi::PyList_Type || ty == &raw mut ffi::PyTuple_Type {
                self.sequence(py, obj);
            } else {
                self.other(py, obj);
            }
        }
    }

    /// A str, written from its UTF-8 data in place.
    ///
    /// # Safety
    /// `obj` is a live `str` (or subclass) and the GIL is held.
    #[inline]
    pub unsafe fn exact_str(&mut self, obj: *mut ffi::PyObject) {
        let mut len: ffi::Py_ssize_t = 0;
        // SAFETY: per this function's contract. For compact ASCII strings this returns the
        // object's own buffer; otherwise CPython caches the UTF-8 form on the object.
        let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(obj, &mut len) };
        if data.is_null() {
            // Lone surrogates cannot be UTF-8: re-encode them as U+FFFD.
            // SAFETY: as above; clearing the UnicodeEncodeError we just caused.
            unsafe { ffi::PyErr_Clear() };
            // SAFETY: `obj` is a live str and the GIL is held.
            let fixed = unsafe { surrogatepass_utf8(obj) };
            self.str_bytes(&fixed);
            return;
        }
        // SAFETY: CPython guarantees `len` valid bytes at `data` while `obj` lives.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) };
        self.str_bytes(bytes);
    }

    /// Write valid UTF-8 as a JSON string (its pattern matches replaced when value patterns
    /// are configured), cut to the remaining budget.
    #[inline]
    pub fn str_bytes(&mut self, bytes: &[u8]) {
        if self.redact.scans() {
            return self.scanned_str(bytes);
        }
        self.plain_str(bytes);
    }

    #[inline(never)]
    fn scanned_str(&mut self, bytes: &[u8]) {
        match self.redact.scan(bytes) {
            Some(masked) => self.plain_str(&masked),
            None => self.plain_str(bytes),
        }
    }

    /// Write valid UTF-8 as a JSON string, cut to the remaining budget — counted in escaped
    /// bytes, so that escaping (up to six bytes per input byte) never overruns it.
    #[inline]
    fn plain_str(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.out.len());
        if bytes.len() + 2 <= room {
            if !any_escape(bytes) {
                self.out.reserve(bytes.len() + 2);
                self.out.push(b'"');
                crate::escape::push_bytes(self.out, bytes);
                self.out.push(b'"');
                return;
            }
            // Six bytes per input byte is the most escaping can take.
            if bytes.len() * 6 + 2 <= room || escaped_len(bytes) + 2 <= room {
                self.out.push(b'"');
                write_escaped(self.out, bytes);
                self.out.push(b'"');
                return;
            }
        }
        self.truncated = true;
        self.out.push(b'"');
        write_escaped_capped(self.out, bytes, room.saturating_sub(2 + ELLIPSIS.len()));
        self.out.extend_from_slice(ELLIPSIS.as_bytes());
        self.out.push(b'"');
    }

    /// Write `,"key":value` for a user field (the key renamed if `schema` reserves it) when the
    /// key fits in the budget, the value cut to what is left. False, with nothing written and
    /// the event marked truncated, when even the key does not fit. The one way every field of
    /// an event — call, bound, context, exception, stack — is written.
    pub fn field(
        &mut self,
        py: Python<'_>,
        key: &[u8],
        schema: Option<crate::schema::Schema>,
        value: *mut ffi::PyObject,
    ) -> bool {
        let start = self.out.len();
        self.out.push(b',');
        crate::schema::write_field_key(self.out, key, schema);
        if self.redact.denies(key) {
            return self.redacted_after_key(start);
        }
        self.value_after_key(py, start, value)
    }

    /// As [`Encoder::field_with_key`] for a field whose name is denied: the key is kept, the
    /// value is the replacement text.
    pub fn redacted_field_with_key(&mut self, encoded_key: &[u8]) -> bool {
        let start = self.out.len();
        crate::escape::push_bytes(self.out, encoded_key);
        self.redacted_after_key(start)
    }

    fn redacted_after_key(&mut self, start: usize) -> bool {
        if self.out.len() >= self.limit {
            self.out.truncate(start);
            self.truncated = true;
            return false;
        }
        self.out.extend_from_slice(self.redact.replacement_json());
        true
    }

    /// As [`Encoder::field`], with the key already encoded as `,"key":`.
    pub fn field_with_key(
        &mut self,
        py: Python<'_>,
        encoded_key: &[u8],
        value: *mut ffi::PyObject,
    ) -> bool {
        let start = self.out.len();
        crate::escape::push_bytes(self.out, encoded_key);
        self.value_after_key(py, start, value)
    }

    fn value_after_key(&mut self, py: Python<'_>, start: usize, value: *mut ffi::PyObject) -> bool {
        if self.out.len() >= self.limit {
            self.out.truncate(start);
            self.truncated = true;
            return false;
        }
        self.value(py, value);
        true
    }

    /// Copy an already encoded `,"key":value` if it fits in the budget. False (nothing
    /// written) if it does not: the caller re-encodes the value to fit.
    #[inline]
    pub fn encoded_field(&mut self, fragment: &[u8], truncated: bool) -> bool {
        if self.out.len() + fragment.len() > self.limit {
            return false;
        }
        self.out.extend_from_slice(fragment);
        self.truncated |= truncated;
        true
    }

    /// Bytes left in the budget.
    #[inline]
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.out.len())
    }

    /// Run `write` with the budget lowered to `max` more bytes (for envelope parts that must
    /// leave room for the rest).
    pub fn capped<R>(&mut self, max: usize, write: impl FnOnce(&mut Self) -> R) -> R {
        let limit = self.limit;
        self.limit = limit.min(self.out.len() + max);
        let r = write(self);
        self.limit = limit;
        r
    }

    /// # Safety
    /// `obj` is a live `int` (or subclass) and the GIL is held.
    unsafe fn int(&mut self, obj: *mut ffi::PyObject) {
        let mut overflow = 0;
        // SAFETY: per this function's contract.
        let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow) };
        if overflow == 0 {
            if v == -1 {
                // SAFETY: the GIL is held; -1 may be a value or an error.
                unsafe { ffi::PyErr_Clear() };
            }
            crate::escape::push_bytes(self.out, itoa::Buffer::new().format(v).as_bytes());
            return;
        }
        // SAFETY: per this function's contract.
        unsafe { self.big_int(obj) };
    }

    /// An int beyond 64 bits: its exact decimal digits when they fit in the budget, whatever
    /// `sys.set_int_max_str_digits` says; otherwise a marker naming its size, and the event
    /// marked truncated.
    ///
    /// # Safety
    /// `obj` is a live `int` (or subclass) and the GIL is held.
    #[cold]
    #[inline(never)]
    unsafe fn big_int(&mut self, obj: *mut ffi::PyObject) {
        // SAFETY: per this function's contract.
        let bits = unsafe {
            let b = Owned::new(ffi::PyObject_CallMethod(
                obj,
                c"bit_length".as_ptr(),
                ptr::null::<c_char>(),
            ))
            .map(|b| ffi::PyLong_AsLongLong(b.0))
            .unwrap_or(-1);
            ffi::PyErr_Clear();
            b
        };
        let room = self.limit.saturating_sub(self.out.len());
        // A number of `bits` bits has at least floor((bits - 1) * log10(2)) + 1 digits.
        let min_digits = ((bits.max(1) - 1) as f64 * std::f64::consts::LOG10_2) as usize + 1;
        if bits >= 0 && min_digits < room {
            // SAFETY: per this function's contract.
            match unsafe { decimal_digits(obj) } {
                Some(digits) if digits.len() < room => {
                    self.out.extend_from_slice(&digits);
                    return;
                }
                Some(_) => {}
                // SAFETY: the GIL is held; the error of whichever step failed must not leak.
                None => unsafe { ffi::PyErr_Clear() },
            }
        }
        self.truncated = true;
        self.str_bytes(format!("<int of {bits} bits>").as_bytes());
    }

    #[inline]
    fn float(&mut self, v: f64) {
        if v.is_finite() {
            if !write_short_float(self.out, v) {
                self.out
                    .extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
            }
        } else if v.is_nan() {
            self.out.extend_from_slice(b"\"NaN\"");
        } else if v > 0.0 {
            self.out.extend_from_slice(b"\"Infinity\"");
        } else {
            self.out.extend_from_slice(b"\"-Infinity\"");
        }
    }

    /// Enter a container: false (and a marker written) for a cycle or too deep a nesting.
    fn enter(&mut self, obj: *mut ffi::PyObject) -> bool {
        let seen = self.stack[..self.depth].iter().any(|p| {
            // SAFETY: the first `depth` entries were written by earlier `enter` calls.
            let p = unsafe { p.assume_init() };
            p == obj
        });
        if seen {
            self.out.extend_from_slice(CYCLE_MARKER);
            return false;
        }
        if self.depth >= MAX_DEPTH {
            self.out.extend_from_slice(MAX_DEPTH_MARKER);
            return false;
        }
        self.stack[self.depth] = std::mem::MaybeUninit::new(obj);
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// # Safety
    /// `obj` is a live dict (or subclass) and the GIL is held.
    unsafe fn dict(&mut self, py: Python<'_>, obj: *mut ffi::PyObject) {
        if !self.enter(obj) {
            return;
        }
        self.out.push(b'{');
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key: *mut ffi::PyObject = ptr::null_mut();
        let mut value: *mut ffi::PyObject = ptr::null_mut();
        let mut first = true;
        // SAFETY: per this function's contract; key and value are borrowed, so they are
        // held (incref'd) while encoding runs arbitrary Python code (`__repr__` may mutate).
        while unsafe { ffi::PyDict_Next(obj, &mut pos, &mut key, &mut value) } != 0 {
            if self.over_budget() {
                break;
            }
            // SAFETY: both are live borrowed references; `Owned` releases our new references.
            let (key, value) = unsafe { (Owned::incref(key), Owned::incref(value)) };
            self.member(py, &mut first, key.0, value.0);
        }
        self.out.push(b'}');
        self.leave();
    }

    /// One `"key":value` member of an object, with the comma before all but the first.
    fn member(
        &mut self,
        py: Python<'_>,
        first: &mut bool,
        key: *mut ffi::PyObject,
        value: *mut ffi::PyObject,
    ) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        let denied = self.key(py, key);
        self.out.push(b':');
        if denied {
            self.out.extend_from_slice(self.redact.replacement_json());
        } else {
            self.value(py, value);
        }
    }

    /// A dict key: strings as they are, other scalars by their text, anything else by `str()`.
    /// True when its text is a denied field name (then its value is masked).
    pub fn key(&mut self, py: Python<'_>, key: *mut ffi::PyObject) -> bool {
        // SAFETY: `key` is live and the GIL is held.
        unsafe {
            if ffi::PyUnicode_Check(key) != 0 {
                return self.str_key(key);
            } else if ffi::PyLong_Check(key) != 0 && ffi::PyBool_Check(key) == 0 {
                // Digits are quoted here; a marker (an int too big for the budget) already is
                // a JSON string. Either way the key is one string.
                let start = self.out.len();
                self.int(key);
                if self.out.get(start) != Some(&b'"') {
                    self.out.insert(start, b'"');
                    self.out.push(b'"');
                }
            } else if key == ffi::Py_None() {
                self.out.extend_from_slice(b"\"null\"");
            } else if key == ffi::Py_True() {
                self.out.extend_from_slice(b"\"true\"");
            } else if key == ffi::Py_False() {
                self.out.extend_from_slice(b"\"false\"");
            } else {
                let text = Owned::new(ffi::PyObject_Str(key));
                match text.as_ref() {
                    Some(t) if ffi::PyUnicode_Check(t.0) != 0 => return self.str_key(t.0),
                    _ => {
                        ffi::PyErr_Clear();
                        self.repr(py, key);
                    }
                }
            }
        }
        false
    }

    /// A str key, and whether it is a denied field name.
    ///
    /// # Safety
    /// `key` is a live str and the GIL is held.
    unsafe fn str_key(&mut self, key: *mut ffi::PyObject) -> bool {
        // SAFETY: per this function's contract.
        match unsafe { str_data(key) } {
            Some(bytes) => {
                self.str_bytes(bytes);
                self.redact.denies(bytes)
            }
            None => {
                // SAFETY: per this function's contract.
                let fixed = unsafe { surrogatepass_utf8(key) };
                self.str_bytes(&fixed);
                self.redact.denies(&fixed)
            }
        }
    }

    /// # Safety
    /// `obj` is a live list or tuple (or subclass) and the GIL is held.
    unsafe fn sequence(&mut self, py: Python<'_>, obj: *mut ffi::PyObject) {
        if !self.enter(obj) {
            return;
        }
        self.out.push(b'[');
        // SAFETY: per this function's contract.
        let is_list = unsafe { ffi::PyList_Check(obj) } != 0;
        let mut i: ffi::Py_ssize_t = 0;
        loop {
            // Re-read the length every time: a `__repr__` may shrink the list under us.
            // SAFETY: per this function's contract; items are borrowed and held while encoded.
            let item = unsafe {
                let len = if is_list {
                    ffi::PyList_GET_SIZE(obj)
                } else {
                    ffi::PyTuple_GET_SIZE(obj)
                };
                if i >= len {
                    break;
                }
                Owned::incref(if is_list {
                    ffi::PyList_GET_ITEM(obj, i)
                } else {
                    ffi::PyTuple_GET_ITEM(obj, i)
                })
            };
            if self.over_budget() {
                break;
            }
            if i > 0 {
                self.out.push(b',');
            }
            self.value(py, item.0);
            i += 1;
        }
        self.out.push(b']');
        self.leave();
    }

    /// Any iterable of values (sets), written as a JSON array.
    fn iterable(&mut self, py: Python<'_>, obj: *mut ffi::PyObject) {
        if !self.enter(obj) {
            return;
        }
        self.out.push(b'[');
        // SAFETY: `obj` is live, the GIL is held; each item is a new reference released by `Owned`.
        unsafe {
            if let Some(iter) = Owned::new(ffi::PyObject_GetIter(obj)) {
                let mut first = true;
                while let Some(item) = Owned::new(ffi::PyIter_Next(iter.0)) {
                    if self.over_budget() {
                        break;
                    }
                    if !first {
                        self.out.push(b',');
                    }
                    first = false;
                    self.value(py, item.0);
                }
            }
            ffi::PyErr_Clear();
        }
        self.out.push(b']');
        self.leave();
    }

    /// Everything that is not an exact builtin: subclasses, stdlib value types, pydantic,
    /// dataclasses, and finally a capped `repr()`.
    #[inline(never)]
    #[cold]
    fn other(&mut self, py: Python<'_>, obj: *mut ffi::PyObject) {
        // SAFETY: `obj` is live and the GIL is held throughout; every new reference is owned
        // by an `Owned` that releases it.
        unsafe {
            if ffi::PyUnicode_Check(obj) != 0 {
                return self.exact_str(obj);
            }
            if types::ENUM.is_instance(py, obj) {
                return match Owned::new(ffi::PyObject_GetAttrString(obj, c"value".as_ptr())) {
                    // The member stays on the stack while its value is encoded: values that
                    // refer back to their members (`A._value_ = B; B._value_ = A`) are a cycle.
                    Some(v) if v.0 != obj => self.stack_push_temp(obj, py, v.0),
                    _ => {
                        ffi::PyErr_Clear();
                        self.repr(py, obj)
                    }
                };
            }
            if ffi::PyLong_Check(obj) != 0 {
                return self.int(obj);
            }
            if ffi::PyFloat_Check(obj) != 0 {
                return self.float(ffi::PyFloat_AsDouble(obj));
            }
            if ffi::PyDict_Check(obj) != 0 {
                return self.dict(py, obj);
            }
            if ffi::PyList_Check(obj) != 0 || ffi::PyTuple_Check(obj) != 0 {
                return self.sequence(py, obj);
            }
            let ty = ffi::Py_TYPE(obj);
            if (types::DATETIME.get(py) == Some(ty) && self.exact_datetime(py, obj))
                || (types::UUID.get(py) == Some(ty) && self.exact_uuid(py, obj))
            {
                return;
            }
            if types::DATETIME.is_instance(py, obj)
                || types::DATE.is_instance(py, obj)
                || types::TIME.is_instance(py, obj)
            {
                return self.call_str_method(py, obj, c"isoformat");
            }
            if types::UUID.is_instance(py, obj)
                || types::DECIMAL.is_instance(py, obj)
                || types::PATH.is_instance(py, obj)
                || types::TIMEDELTA.is_instance(py, obj)
            {
                return self.str_of(py, obj);
            }
            if ffi::PyBytes_Check(obj) != 0 {
                let data = ffi::PyBytes_AS_STRING(obj).cast::<u8>();
                let len = ffi::PyBytes_Size(obj) as usize;
                return self.lossy_bytes(std::slice::from_raw_parts(data, len));
            }
            if ffi::PyByteArray_Check(obj) != 0 {
                let data = ffi::PyByteArray_AsString(obj).cast::<u8>();
                let len = ffi::PyByteArray_Size(obj) as usize;
                let copy = std::slice::from_raw_parts(data, len).to_vec();
                return self.lossy_bytes(&copy);
            }
            if ffi::PyAnySet_Check(obj) != 0 {
                return self.iterable(py, obj);
            }
            if types::SECRET_STR.is_instance(py, obj) || types::SECRET_BYTES.is_instance(py, obj) {
                self.out.extend_from_slice(SECRET_MASK);
                return;
            }
            if types::BASE_MODEL.is_instance(py, obj) {
                return match Owned::new(ffi::PyObject_CallMethod(
                    obj,
                    c"model_dump".as_ptr(),
                    ptr::null::<c_char>(),
                )) {
                    // Keep the model on the stack while its dump is encoded.
                    Some(d) => self.stack_push_temp(obj, py, d.0),
                    None => {
                        ffi::PyErr_Clear();
                        self.repr(py, obj)
                    }
                };
            }
            if let Some(fields) = Owned::new(ffi::PyObject_GetAttrString(
                ffi::Py_TYPE(obj).cast(),
                c"__dataclass_fields__".as_ptr(),
            )) {
                if ffi::PyDict_Check(fields.0) != 0 {
                    return self.dataclass(py, obj, fields.0);
                }
            }
            ffi::PyErr_Clear();
            crate::fault::check(py, obj);
            self.repr(py, obj);
        }
    }

    /// An exact `datetime` that is naive or in UTC, formatted here as `isoformat()` would;
    /// false (nothing written) for other time zones, which `isoformat()` handles.
    fn exact_datetime(&mut self, py: Python<'_>, obj: *mut ffi::PyObject) -> bool {
        use pyo3::types::{PyDateAccess, PyDateTime, PyTimeAccess, PyTzInfo, PyTzInfoAccess};
        // SAFETY: the caller checked that `obj` is exactly a datetime; the GIL is held.
        let dt = unsafe { Bound::from_borrowed_ptr(py, obj).cast_into_unchecked::<PyDateTime>() };
        let suffix = match dt.get_tzinfo() {
            None => "",
            Some(tz) => match PyTzInfo::utc(py) {
                Ok(utc) if tz.is(&*utc) => "+00:00",
                _ => return false,
            },
        };
        let micro = dt.get_microsecond();
        let text = if micro == 0 {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{suffix}",
                dt.get_year(),
                dt.get_month(),
                dt.get_day(),
                dt.get_hour(),
                dt.get_minute(),
                dt.get_second()
            )
        } else {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micro:06}{suffix}",
                dt.get_year(),
                dt.get_month(),
                dt.get_day(),
                dt.get_hour(),
                dt.get_minute(),
                dt.get_second()
            )
        };
        self.str_bytes(text.as_bytes());
        true
    }

    /// An exact `uuid.UUID` as its canonical text, from its 128-bit value.
    fn exact_uuid(&mut self, py: Python<'_>, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: `obj` is live and the GIL is held.
        let uuid = unsafe { Bound::from_borrowed_ptr(py, obj) };
        let Ok(v) = uuid.getattr("int").and_then(|i| i.extract::<u128>()) else {
            // SAFETY: the GIL is held; nothing was written.
            unsafe { ffi::PyErr_Clear() };
            return false;
        };
        let hex = format!("{v:032x}");
        let text = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        self.str_bytes(text.as_bytes());
        true
    }

    /// Encode `value` as if it were `owner`'s content: a cycle back to `owner` is detected.
    fn stack_push_temp(
        &mut self,
        owner: *mut ffi::PyObject,
        py: Python<'_>,
        value: *mut ffi::PyObject,
    ) {
        if !self.enter(owner) {
            return;
        }
        self.value(py, value);
        self.leave();
    }

    /// # Safety
    /// `obj` is live, `fields` is its `__dataclass_fields__` dict, and the GIL is held.
    unsafe fn dataclass(
        &mut self,
        py: Python<'_>,
        obj: *mut ffi::PyObject,
        fields: *mut ffi::PyObject,
    ) {
        if !self.enter(obj) {
            return;
        }
        self.out.push(b'{');
        let mut pos: ffi::Py_ssize_t = 0;
        let mut name: *mut ffi::PyObject = ptr::null_mut();
        let mut field: *mut ffi::PyObject = ptr::null_mut();
        let mut first = true;
        // SAFETY: per this function's contract; each attribute value is a new reference.
        unsafe {
            while ffi::PyDict_Next(fields, &mut pos, &mut name, &mut field) != 0 {
                if self.over_budget() {
                    break;
                }
                let name = Owned::incref(name);
                let Some(value) = Owned::new(ffi::PyObject_GetAttr(obj, name.0)) else {
                    ffi::PyErr_Clear();
                    continue;
                };
                self.member(py, &mut first, name.0, value.0);
            }
        }
        self.out.push(b'}');
        self.leave();
    }

    fn lossy_bytes(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        self.str_bytes(text.as_bytes());
    }

    /// `obj.method()` expected to return a str.
    fn call_str_method(
        &mut self,
        py: Python<'_>,
        obj: *mut ffi::PyObject,
        method: &std::ffi::CStr,
    ) {
        // SAFETY: `obj` is live and the GIL is held; the result is owned.
        unsafe {
            match Owned::new(ffi::PyObject_CallMethod(
                obj,
                method.as_ptr(),
                ptr::null::<c_char>(),
            )) {
                Some(s) if ffi::PyUnicode_Check(s.0) != 0 => self.exact_str(s.0),
                _ => {
                    ffi::PyErr_Clear();
                    self.repr(py, obj);
                }
            }
        }
    }

    fn str_of(&mut self, py: Python<'_>, obj: *mut ffi::PyObject) {
        // SAFETY: `obj` is live and the GIL is held; the result is owned.
        unsafe {
            match Owned::new(ffi::PyObject_Str(obj)) {
                Some(s) if ffi::PyUnicode_Check(s.0) != 0 => self.exact_str(s.0),
                _ => {
                    ffi::PyErr_Clear();
                    self.repr(py, obj);
                }
            }
        }
    }

    /// `repr(obj)` cut to [`MAX_REPR_BYTES`]; a failing `__repr__` gives a marker naming the type.
    #[cold]
    #[inline(never)]
    pub fn repr(&mut self, _py: Python<'_>, obj: *mut ffi::PyObject) {
        // SAFETY: `obj` is live and the GIL is held; the result is owned.
        unsafe {
            if let Some(text) = Owned::new(ffi::PyObject_Repr(obj)) {
                if ffi::PyUnicode_Check(text.0) != 0 {
                    let owned;
                    let bytes = match str_data(text.0) {
                        Some(b) => b,
                        None => {
                            owned = surrogatepass_utf8(text.0);
                            &owned[..]
                        }
                    };
                    if bytes.len() > MAX_REPR_BYTES {
                        let mut cut = utf8_prefix(bytes, MAX_REPR_BYTES).to_vec();
                        cut.extend_from_slice("…".as_bytes());
                        self.str_bytes(&cut);
                    } else {
                        self.str_bytes(bytes);
                    }
                    return;
                }
            }
            ffi::PyErr_Clear();
            let name = type_name(obj);
            self.str_bytes(format!("<unrepresentable {name}>").as_bytes());
        }
    }
}

/// Decimal digits per chunk when `str()` refuses a long int: under the smallest digit limit
/// Python allows (640), so `str()` of each chunk always works.
const INT_CHUNK_DIGITS: usize = 600;

/// The decimal text of an int of any size (sign included), or None if Python failed.
///
/// `str()` first; past `sys.get_int_max_str_digits()` the number is cut into 600-digit chunks
/// by repeated `divmod` (quadratic, but callers only ask for what fits in an event) and each
/// chunk is converted on its own.
///
/// # Safety
/// `obj` is a live `int` and the GIL is held.
unsafe fn decimal_digits(obj: *mut ffi::PyObject) -> Option<Vec<u8>> {
    // SAFETY: per this function's contract; every new reference is owned by an `Owned`.
    unsafe {
        // Not `str()`: an int subclass may override `__str__`; this is always the digits.
        if let Some(text) = Owned::new(ffi::PyNumber_ToBase(obj, 10)) {
            return str_data(text.0).map(<[u8]>::to_vec);
        }
        ffi::PyErr_Clear();
        let negative = ffi::PyObject_RichCompareBool(obj, small_int(0)?.0, ffi::Py_LT) == 1;
        let mut n = Owned::new(ffi::PyNumber_Absolute(obj))?;
        let base = Owned::new(ffi::PyNumber_Power(
            small_int(10)?.0,
            small_int(INT_CHUNK_DIGITS as i64)?.0,
            ffi::Py_None(),
        ))?;
        // Least significant chunk first.
        let mut chunks = Vec::new();
        loop {
            let qr = Owned::new(ffi::PyNumber_Divmod(n.0, base.0))?;
            let q = Owned::incref(ffi::PyTuple_GetItem(qr.0, 0));
            let r = Owned::incref(ffi::PyTuple_GetItem(qr.0, 1));
            let text = Owned::new(ffi::PyNumber_ToBase(r.0, 10))?;
            chunks.push(str_data(text.0)?.to_vec());
            if ffi::PyObject_IsTrue(q.0) != 1 {
                break;
            }
            n = q;
        }
        let mut out = Vec::with_capacity(chunks.len() * INT_CHUNK_DIGITS + 1);
        if negative {
            out.push(b'-');
        }
        for (i, chunk) in chunks.iter().rev().enumerate() {
            if i > 0 {
                out.resize(out.len() + INT_CHUNK_DIGITS - chunk.len(), b'0');
            }
            out.extend_from_slice(chunk);
        }
        Some(out)
    }
}

/// A new int object for `v`.
///
/// # Safety
/// The GIL is held.
unsafe fn small_int(v: i64) -> Option<Owned> {
    // SAFETY: per this function's contract.
    unsafe { Owned::new(ffi::PyLong_FromLongLong(v)) }
}

/// Write floats with at most three decimals (latencies, prices, ratios: most logged floats) as
/// `int.frac`, which is much cheaper than the general shortest-representation algorithm.
///
/// Exact: the digits are used only when `m / 10^k` (one correctly rounded IEEE division of two
/// exactly representable numbers) gives back `v`, which is what a correct parser computes for
/// the decimal text. Returns false (nothing written) otherwise.
#[inline]
fn write_short_float(out: &mut Vec<u8>, v: f64) -> bool {
    const SCALES: [f64; 3] = [10.0, 100.0, 1000.0];
    if v.is_nan() || v.abs() >= 1e12 || v == 0.0 {
        return false;
    }
    for (k, scale) in SCALES.iter().enumerate() {
        // Round to the nearest integer (`v * scale` may land just below it: -16776.92 * 100 is
        // -1677691.9999999998); an add and a truncation. If it is still off, the check below
        // fails and the general algorithm takes over.
        let m = (v * scale + 0.5f64.copysign(v)) as i64;
        if m as f64 / scale != v {
            continue;
        }
        let pow = [10i64, 100, 1000][k];
        let (int_part, frac) = (m / pow, (m % pow).unsigned_abs());
        if v < 0.0 && int_part == 0 {
            out.push(b'-');
        }
        crate::escape::push_bytes(out, itoa::Buffer::new().format(int_part).as_bytes());
        out.push(b'.');
        let mut digits = [b'0'; 3];
        let mut f = frac;
        for d in digits[..=k].iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        // Shortest: no trailing zeros beyond the first decimal.
        let mut len = k + 1;
        while len > 1 && digits[len - 1] == b'0' {
            len -= 1;
        }
        crate::escape::push_bytes(out, &digits[..len]);
        return true;
    }
    false
}

/// The UTF-8 bytes of a str, or None if it holds lone surrogates (the UnicodeEncodeError is
/// cleared here, so that no caller can leave it pending: a C function returning a result
/// with an error set is a SystemError).
///
/// # Safety
/// `obj` is a live str and the GIL is held; the slice lives as long as `obj`.
pub unsafe fn str_data<'s>(obj: *mut ffi::PyObject) -> Option<&'s [u8]> {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: per this function's contract.
    let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(obj, &mut len) };
    if data.is_null() {
        // SAFETY: the GIL is held.
        unsafe { ffi::PyErr_Clear() };
        None
    } else {
        // SAFETY: CPython guarantees `len` bytes at `data` while `obj` lives.
        Some(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) })
    }
}

/// A str's text as valid UTF-8 with each lone surrogate replaced by U+FFFD.
///
/// # Safety
/// `obj` is a live str and the GIL is held.
pub unsafe fn surrogatepass_utf8(obj: *mut ffi::PyObject) -> Vec<u8> {
    // SAFETY: per this function's contract; the bytes object is owned.
    unsafe {
        match Owned::new(ffi::PyUnicode_AsEncodedString(
            obj,
            c"utf-8".as_ptr(),
            c"surrogatepass".as_ptr(),
        )) {
            Some(b) => {
                let data = ffi::PyBytes_AS_STRING(b.0).cast::<u8>();
                let len = ffi::PyBytes_Size(b.0) as usize;
                replace_surrogates(std::slice::from_raw_parts(data, len))
            }
            None => {
                ffi::PyErr_Clear();
                "\u{FFFD}".as_bytes().to_vec()
            }
        }
    }
}

/// The qualified name of `obj`'s type, for markers.
///
/// # Safety
/// `obj` is live and the GIL is held.
unsafe fn type_name(obj: *mut ffi::PyObject) -> String {
    // SAFETY: per this function's contract; `tp_name` is a NUL-terminated C string.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        std::ffi::CStr::from_ptr((*tp).tp_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// A strong reference released on drop.
pub struct Owned(pub *mut ffi::PyObject);

impl Owned {
    /// Take ownership of a new reference; None for NULL (an error is then set).
    ///
    /// # Safety
    /// `p` is NULL or a new (owned) reference, and the GIL is held until drop.
    #[inline]
    pub unsafe fn new(p: *mut ffi::PyObject) -> Option<Self> {
        if p.is_null() {
            None
        } else {
            Some(Self(p))
        }
    }

    /// Take a new reference to a borrowed object.
    ///
    /// # Safety
    /// `p` is a live object and the GIL is held until drop.
    #[inline]
    pub unsafe fn incref(p: *mut ffi::PyObject) -> Self {
        // SAFETY: per this function's contract.
        unsafe { ffi::Py_INCREF(p) };
        Self(p)
    }
}

impl Drop for Owned {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own one reference and the GIL is held (per the constructors' contracts).
        unsafe { ffi::Py_DECREF(self.0) }
    }
}

/// Encode one value the way a log call would (for tests and tools): the JSON bytes.
#[pyfunction]
#[pyo3(signature = (value, *, max_bytes = 65_536))]
pub fn encode<'py>(
    py: Python<'py>,
    value: Bound<'py, PyAny>,
    max_bytes: usize,
) -> Bound<'py, pyo3::types::PyBytes> {
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, max_bytes, Redactor::default_rules());
    enc.value(py, value.as_ptr());
    pyo3::types::PyBytes::new(py, &out)
}

#[cfg(test)]
mod tests {
    use super::write_short_float;

    fn short(v: f64) -> Option<String> {
        let mut out = Vec::new();
        write_short_float(&mut out, v).then(|| String::from_utf8(out).expect("ASCII"))
    }

    #[test]
    fn short_floats_round_trip_and_are_shortest() {
        for (v, text) in [
            (12.5, "12.5"),
            (-0.25, "-0.25"),
            (0.001, "0.001"),
            (3.0, "3.0"),
            (-7.1, "-7.1"),
        ] {
            assert_eq!(short(v).as_deref(), Some(text), "{v}");
        }
        // Every value with at most three decimals below 1e12 takes the short path, parses
        // back to itself, and is exactly the shortest round-trip text (ryu's).
        for i in (-2_000_000i64..=2_000_000)
            .step_by(7)
            .chain([999_999_999_999_999])
        {
            for scale in [10.0, 100.0, 1000.0] {
                let v = i as f64 / scale;
                if v == 0.0 || v.abs() >= 1e12 {
                    continue;
                }
                let text = short(v).unwrap_or_else(|| panic!("{v} not taken"));
                assert_eq!(text.parse::<f64>().ok(), Some(v), "{v}");
                assert_eq!(text, ryu::Buffer::new().format_finite(v), "{v}");
            }
        }
    }

    #[test]
    fn floats_that_are_not_short_are_left_to_the_general_path() {
        for v in [
            0.1 + 0.2,
            1e-7,
            1e300,
            1e12,
            0.0,
            -0.0,
            1.0 / 3.0,
            0.0005,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(short(v), None, "{v}");
        }
    }

    #[test]
    fn whatever_the_short_path_takes_is_exact_and_shortest() {
        // Arbitrary doubles (a fixed LCG over bit patterns and over small decimals).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut taken = 0;
        for _ in 0..200_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let candidates = [
                f64::from_bits(x),
                (x % 10_000_000) as f64 / 1000.0 + f64::EPSILON * (x % 3) as f64,
            ];
            for v in candidates {
                if let Some(text) = short(v) {
                    taken += 1;
                    assert_eq!(text.parse::<f64>().ok(), Some(v), "{v}");
                    assert_eq!(text, ryu::Buffer::new().format_finite(v), "{v}");
                }
            }
        }
        assert!(
            taken > 100_000,
            "the sample must exercise the short path ({taken})"
        );
    }
}
