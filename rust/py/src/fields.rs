//! Pre-encoded field sets: what `bind()` and `bind_contextvars()` encode once.

use crate::encode::Encoder;
use crate::redact::Redactor;
use crate::schema::Schema;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// The UTF-8 text of a field name (lone surrogates replaced).
///
/// # Safety
/// `key` is a live str and the GIL is held.
pub unsafe fn key_bytes(key: *mut ffi::PyObject) -> std::borrow::Cow<'static, [u8]> {
    // SAFETY: per this function's contract; the borrowed slice is only used while the
    // caller holds the key (the lifetime is widened for the Cow and never outlives it).
    unsafe {
        match crate::encode::str_data(key) {
            Some(b) => std::borrow::Cow::Borrowed(std::slice::from_raw_parts(b.as_ptr(), b.len())),
            None => std::borrow::Cow::Owned(crate::encode::surrogatepass_utf8(key)),
        }
    }
}

/// Append `,"key":value`, key and value within `max_bytes`: whether anything was cut, and
/// whether the key held lone surrogates (written as U+FFFD, so it may meet another key).
fn encode_one(
    py: Python<'_>,
    json: &mut Vec<u8>,
    key: &Bound<'_, PyString>,
    value: &Bound<'_, PyAny>,
    schema: Option<Schema>,
    max_bytes: usize,
    redact: &Redactor,
) -> (bool, bool) {
    // SAFETY: `key` is a live str and the GIL is held.
    let kb = unsafe { key_bytes(key.as_ptr()) };
    let lossy = matches!(kb, std::borrow::Cow::Owned(_));
    let limit = json.len() + max_bytes;
    let mut enc = Encoder::new(json, limit, redact);
    enc.field(py, &kb, schema, value.as_ptr());
    (enc.truncated, lossy)
}

/// Accumulates `,"k":v` fragments and where each lies.
struct Builder {
    json: Vec<u8>,
    keys: Vec<Py<PyString>>,
    spans: Vec<Span>,
}

/// Where one key's `,"k":v` lies in the encoded fields, and whether its value was cut.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    truncated: bool,
    /// The key held lone surrogates.
    lossy: bool,
}

impl Builder {
    fn with_capacity(fields: usize, bytes: usize) -> Self {
        Builder {
            json: Vec::with_capacity(bytes + 32 * fields),
            keys: Vec::with_capacity(fields),
            spans: Vec::with_capacity(fields),
        }
    }

    fn push_encoded(&mut self, key: Py<PyString>, fragment: &[u8], span: Span) {
        let start = self.json.len();
        self.json.extend_from_slice(fragment);
        self.spans.push(Span {
            start,
            end: self.json.len(),
            ..span
        });
        self.keys.push(key);
    }

    /// Encode every str-keyed item of `dict` (other keys are skipped), denied names masked.
    fn add_dict(
        &mut self,
        py: Python<'_>,
        dict: &Bound<'_, PyDict>,
        schema: Option<Schema>,
        max_bytes: usize,
        redact: &Redactor,
    ) {
        for (k, v) in dict.iter() {
            let Ok(k) = k.cast_into::<PyString>() else {
                continue;
            };
            let start = self.json.len();
            let (truncated, lossy) =
                encode_one(py, &mut self.json, &k, &v, schema, max_bytes, redact);
            self.spans.push(Span {
                start,
                end: self.json.len(),
                truncated,
                lossy,
            });
            self.keys.push(k.unbind());
        }
    }

    fn finish(self, dict: Py<PyDict>, schema: Option<Schema>) -> EncodedFields {
        EncodedFields {
            dict,
            schema,
            truncated: self.spans.iter().any(|s| s.truncated),
            lossy: self.spans.iter().any(|s| s.lossy),
            json: self.json,
            keys: self.keys.into_boxed_slice(),
            spans: self.spans.into_boxed_slice(),
        }
    }
}

/// A field set encoded once: `,"k":v,...` plus the keys, for collision checks.
pub struct EncodedFields {
    pub dict: Py<PyDict>,
    /// The schema the keys were encoded for (None: as they are).
    schema: Option<Schema>,
    /// (A Vec, not a boxed slice: shrinking it to fit would cost a realloc per bind.)
    pub json: Vec<u8>,
    /// Whether any value was cut when encoded.
    truncated: bool,
    /// Whether any key held lone surrogates: written as U+FFFD, two such keys (or one and a
    /// literal U+FFFD) can become one, which only the merged path sorts out.
    pub lossy: bool,
    pub keys: Box<[Py<PyString>]>,
    /// Where each key's `,"k":v` lies in `json`, so a larger set can reuse it.
    spans: Box<[Span]>,
}

impl EncodedFields {
    /// Visit the dict of values for the garbage collector (the keys are str: no cycles).
    pub fn traverse(&self, visit: &pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.dict)
    }

    /// Encode a dict's str-keyed items for `schema` (None: keys as they are), each value
    /// capped to `max_bytes` and redacted by `redact`.
    pub fn encode(
        py: Python<'_>,
        dict: Bound<'_, PyDict>,
        schema: Option<Schema>,
        max_bytes: usize,
        redact: &Redactor,
    ) -> Self {
        let mut built = Builder::with_capacity(dict.len(), 0);
        built.add_dict(py, &dict, schema, max_bytes, redact);
        built.finish(dict.unbind(), schema)
    }

    /// These fields plus `new` (which wins on a clash), encoding only the new values: what
    /// `bind()` and nested request contexts cost is proportional to what they add. `redact`
    /// must be the rules these fields were encoded with.
    pub fn extend(
        &self,
        py: Python<'_>,
        new: &Bound<'_, PyDict>,
        schema: Option<Schema>,
        max_bytes: usize,
        redact: &Redactor,
    ) -> PyResult<Self> {
        let dict = self.dict.bind(py).copy()?;
        dict.update(new.as_mapping())?;
        let mut built = Builder::with_capacity(self.keys.len() + new.len(), self.json.len());
        for (key, span) in self.keys.iter().zip(self.spans.iter()) {
            if !new.contains(key.bind(py))? {
                let fragment = &self.json[span.start..span.end];
                built.push_encoded(key.clone_ref(py), fragment, *span);
            }
        }
        built.add_dict(py, new, schema, max_bytes, redact);
        Ok(built.finish(dict.unbind(), schema))
    }

    /// Add these fields to an event: all at once when they fit; else one by one until one does
    /// not, which is encoded again from its value, cut to what is left, and ends the set.
    pub fn write_to(&self, py: Python<'_>, enc: &mut Encoder<'_>) {
        if !enc.encoded_field(&self.json, self.truncated) {
            self.write_unshadowed(py, enc, |_| false);
        }
    }

    /// As [`EncodedFields::write_to`], leaving out the fields whose name `shadowed` says a
    /// later field set (bound or call fields) also has: that one wins, and its value is
    /// written instead. The pre-encoded fragments of the others are copied as they are.
    #[inline(never)]
    pub fn write_unshadowed(
        &self,
        py: Python<'_>,
        enc: &mut Encoder<'_>,
        shadowed: impl Fn(*mut ffi::PyObject) -> bool,
    ) {
        for (key, span) in self.keys.iter().zip(self.spans.iter()) {
            if shadowed(key.as_ptr()) {
                continue;
            }
            if enc.encoded_field(&self.json[span.start..span.end], span.truncated) {
                continue;
            }
            let key = key.bind(py);
            if let Ok(Some(value)) = self.dict.bind(py).get_item(key) {
                // SAFETY: `key` is a live str and the GIL is held.
                let kb = unsafe { key_bytes(key.as_ptr()) };
                enc.field(py, &kb, self.schema, value.as_ptr());
            }
            enc.truncated = true;
            return;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether any key collides with `schema`'s envelope (then it needs renaming).
    pub fn has_reserved(&self, schema: Schema) -> bool {
        self.keys.iter().any(|k| {
            // SAFETY: `k` is a live str; callers hold the GIL.
            schema.renames(&unsafe { key_bytes(k.as_ptr()) })
        })
    }

    /// Whether any key is one that `schema` moves out of the attributes.
    pub fn has_lifted(&self, schema: Schema) -> bool {
        schema.lifts_any()
            && self.keys.iter().any(|k| {
                // SAFETY: `k` is a live str; callers hold the GIL.
                schema.lifted(&unsafe { key_bytes(k.as_ptr()) }).is_some()
            })
    }

    /// Whether `key` (a live str) is one of these fields' names.
    #[inline]
    pub fn contains(&self, key: *mut ffi::PyObject) -> bool {
        self.keys.iter().any(|k| same_str(k.as_ptr(), key))
    }

    /// Whether any key is also in `other`.
    pub fn overlaps(&self, other: &EncodedFields) -> bool {
        self.keys.iter().any(|k| other.contains(k.as_ptr()))
    }
}

/// String equality, by identity first (field names are usually interned), then by length and
/// hash (field names are dict keys and keyword names, whose hashes CPython has cached): two
/// names of one length, such as `request_id` and `latency_ms`, are compared in full only when
/// their hashes agree.
#[inline]
pub fn same_str(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> bool {
    if a == b {
        return true;
    }
    // SAFETY: both are live str objects and the GIL is held by every caller. Hashing an exact
    // str cannot fail nor run Python code (a subclass's `__hash__` could: not asked of one);
    // its hash is computed once and kept on the object.
    unsafe {
        if ffi::PyUnicode_GET_LENGTH(a) != ffi::PyUnicode_GET_LENGTH(b) {
            return false;
        }
        if ffi::PyUnicode_CheckExact(a) != 0
            && ffi::PyUnicode_CheckExact(b) != 0
            && ffi::PyObject_Hash(a) != ffi::PyObject_Hash(b)
        {
            return false;
        }
        ffi::PyUnicode_Compare(a, b) == 0
    }
}
