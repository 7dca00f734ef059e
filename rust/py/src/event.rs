//! Encoding one event: the schema's envelope, the message, then the fields — request context,
//! bound, the call's own — each within the event's size budget.

use crate::context;
use crate::encode::Encoder;
use crate::escape::push_bytes;
use crate::fields::{key_bytes, same_str, EncodedFields};
use crate::keys::CallKeys;
use crate::logger::{import_attr, Logger};
use crate::schema::{
    dd_decimal, otel_severity, Schema, DD_SPAN, DD_TRACE, ECS_VERSION, FIELD_PREFIX, GCP_TRACE,
};
use crate::specials::{is_special, Specials};
use crate::timestamp::{now_micros, write_rfc3339, write_unix_nanos, SecondCache};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use std::collections::HashSet;

/// Room kept after the size cap. Once the budget is spent, what can still be written is: one
/// scalar or marker begun just under the cap (at most 32 bytes: a float, `"<max depth>"`, a
/// cut string's closing), a key's `:` and comma, the closing brackets of up to 32 nested
/// containers plus the event's own (33), `,"_truncated":true` (18) and `}}\n` (3).
const CLOSING_ROOM: usize = 128;

static DESCRIBE_EXC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static FORMAT_STACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Initialise this module's lazy helpers now (see `process::_before_fork`).
pub(crate) fn warm(py: Python<'_>) {
    let _ =
        DESCRIBE_EXC.get_or_try_init(py, || import_attr(py, "ferrolog._exceptions", "describe"));
    let _ = FORMAT_STACK.get_or_try_init(py, || import_attr(py, "ferrolog._exceptions", "stack"));
}

impl Logger {
    /// Encode one event into `buf`.
    ///
    /// # Safety
    /// GIL held; `msg` live; `kwnames`/`kwvalues`/`nkw` as in [`scan_specials`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn encode(
        &self,
        py: Python<'_>,
        buf: &mut Vec<u8>,
        second: &mut SecondCache,
        level: i32,
        msg: *mut ffi::PyObject,
        kwnames: *mut ffi::PyObject,
        kwvalues: *const *mut ffi::PyObject,
        nkw: ffi::Py_ssize_t,
        specials: &Specials,
        keys: Option<&CallKeys>,
    ) {
        let shared = &*self.shared;
        let schema = shared.schema;
        let limit = shared.max_event_bytes.saturating_sub(CLOSING_ROOM);
        let mut enc = Encoder::new(buf, limit, &shared.redact);
        let micros = now_micros();
        // The envelope.
        match schema {
            Schema::Default | Schema::Ecs | Schema::Gcp | Schema::Datadog => {
                let (timestamp, level_key, logger_key) = schema.envelope_keys();
                enc.out.extend_from_slice(timestamp);
                write_rfc3339(enc.out, micros, second);
                enc.out.extend_from_slice(level_key);
                self.level_text(&mut enc, level, specials);
                enc.out.extend_from_slice(logger_key);
                self.name_text(&mut enc);
                if schema == Schema::Ecs {
                    enc.out.extend_from_slice(b",\"ecs.version\":\"");
                    enc.out.extend_from_slice(ECS_VERSION.as_bytes());
                    enc.out.push(b'"');
                }
                enc.out.extend_from_slice(b",\"message\":");
            }
            Schema::Otel => self.otel_envelope(&mut enc, micros, level, specials),
        }
        // SAFETY: `msg` is live and the GIL is held.
        unsafe {
            if ffi::PyUnicode_Check(msg) != 0 {
                enc.exact_str(msg);
            } else {
                enc.repr(py, msg);
            }
        }
        if schema == Schema::Otel {
            enc.out
                .extend_from_slice(b",\"Attributes\":{\"logger.name\":");
            self.name_text(&mut enc);
        }
        // The fields: context, then bound, then the call's own; later ones win on a clash.
        let ctx = if specials.no_context {
            None
        } else {
            context::current(py)
        };
        let redacted_ctx;
        let ctx_fields = match ctx.as_ref().map(Bound::get) {
            // Context fields were encoded under the default redaction rules.
            Some(c) if !shared.redact.is_default() => {
                redacted_ctx = c.fields_for(py, &shared.redact);
                Some(&*redacted_ctx)
            }
            other => other.map(|c| &c.fields),
        }
        .filter(|f| !f.is_empty());
        // The process id (a static field), unless a field of the event is named `pid`.
        // SAFETY: per this function's contract.
        if shared.static_pid && !unsafe { self.names_pid(py, ctx_fields, kwnames, nkw) } {
            enc.out.extend_from_slice(b",\"pid\":");
            enc.out
                .extend_from_slice(itoa::Buffer::new().format(crate::process::pid()).as_bytes());
        }
        // SAFETY: per this function's contract.
        let clash = unsafe { self.fields_clash(ctx_fields, kwnames, nkw, keys) };
        let mut lifted = Vec::new();
        if clash == Clash::Merge {
            // SAFETY: per this function's contract.
            lifted =
                unsafe { self.merged_fields(py, &mut enc, ctx_fields, kwnames, kwvalues, nkw) };
        } else {
            if clash == Clash::Shadow {
                // A name bound in the context and again by `bind()` or the call (a request's
                // `path`, logged again by a handler): the later field wins, and the others'
                // pre-encoded fragments are copied as usual.
                let in_call = |name| {
                    // SAFETY: per this function's contract; `name` is a live key of a field set.
                    unsafe { call_has_field(kwnames, nkw, keys, name) }
                };
                if let Some(c) = ctx_fields {
                    c.write_unshadowed(py, &mut enc, |k| self.bound.contains(k) || in_call(k));
                }
                self.bound.write_unshadowed(py, &mut enc, in_call);
            } else {
                if let Some(c) = ctx_fields {
                    c.write_to(py, &mut enc);
                }
                if !self.bound.is_empty() {
                    self.bound.write_to(py, &mut enc);
                }
            }
            for i in 0..nkw {
                // SAFETY: per this function's contract.
                let value = unsafe { *kwvalues.offset(i) };
                let written = if let Some(keys) = keys {
                    let key = &keys.encoded[i as usize];
                    if key.is_empty() {
                        continue; // a special keyword, not a field
                    }
                    if keys.denied[i as usize] {
                        enc.redacted_field_with_key(key)
                    } else {
                        enc.field_with_key(py, key, value)
                    }
                } else {
                    // SAFETY: per this function's contract.
                    let name = unsafe { ffi::PyTuple_GET_ITEM(kwnames, i) };
                    if specials.count > 0 && is_special(name) {
                        continue;
                    }
                    // SAFETY: `name` is a live str.
                    let key = unsafe { key_bytes(name) };
                    enc.field(py, &key, Some(schema), value)
                };
                if !written {
                    break;
                }
            }
        }
        if let Some(exc) = specials.exc_info {
            self.exception_fields(py, &mut enc, exc);
        }
        if specials.stack_info {
            self.stack_field(py, &mut enc, specials.stacklevel);
        }
        if schema == Schema::Otel {
            enc.out.push(b'}');
        }
        // `trace_id`/`span_id` fields become the record's TraceId/SpanId (OTel), GCP's trace
        // and span members, Datadog's `dd.*` ids; `http_request` GCP's `httpRequest`.
        for (name, value) in &lifted {
            let value = self.lifted_value(py, name, value);
            if !enc.field(py, name.as_bytes(), None, value.as_ptr()) {
                break;
            }
        }
        if enc.truncated {
            enc.out.extend_from_slice(b",\"_truncated\":true");
        }
        enc.out.extend_from_slice(b"}\n");
    }

    /// The OTel record's opening, up to its `Body` key (out of line: the other schemas' hot
    /// path stays small).
    #[inline(never)]
    fn otel_envelope(&self, enc: &mut Encoder<'_>, micros: i64, level: i32, specials: &Specials) {
        enc.out.extend_from_slice(b"{\"Timestamp\":");
        write_unix_nanos(enc.out, micros);
        enc.out.extend_from_slice(b",\"SeverityText\":");
        self.level_text(enc, level, specials);
        enc.out.extend_from_slice(b",\"SeverityNumber\":");
        let severity = if specials.level_text.is_some() {
            0
        } else {
            otel_severity(level)
        };
        enc.out
            .extend_from_slice(itoa::Buffer::new().format(severity).as_bytes());
        enc.out.extend_from_slice(b",\"Body\":");
    }

    /// Whether the context, bound or call fields have one named `pid` (it wins over the
    /// static one).
    ///
    /// # Safety
    /// As [`scan_specials`].
    unsafe fn names_pid(
        &self,
        py: Python<'_>,
        ctx: Option<&EncodedFields>,
        kwnames: *mut ffi::PyObject,
        nkw: ffi::Py_ssize_t,
    ) -> bool {
        let pid = pyo3::intern!(py, "pid").as_ptr();
        if self.bound.contains(pid) || ctx.is_some_and(|c| c.contains(pid)) {
            return true;
        }
        (0..nkw).any(|i| {
            // SAFETY: per this function's contract; each name is a live str.
            unsafe {
                ffi::PyUnicode_CompareWithASCIIString(
                    ffi::PyTuple_GET_ITEM(kwnames, i),
                    c"pid".as_ptr(),
                ) == 0
            }
        })
    }

    /// A lifted field's value in its schema's form: GCP's trace as
    /// `projects/<project>/traces/<id>` (the id alone without a project), Datadog's ids as
    /// the unsigned decimal of their low 64 bits (a value in neither hex nor int form is
    /// written as it is).
    #[cold]
    #[inline(never)]
    fn lifted_value<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        value: &Bound<'py, PyAny>,
    ) -> Bound<'py, PyAny> {
        match name {
            GCP_TRACE => match (&self.shared.gcp_project, value.str()) {
                (Some(project), Ok(id)) => PyString::new(
                    py,
                    &format!("projects/{project}/traces/{}", id.to_string_lossy()),
                )
                .into_any(),
                _ => value.clone(),
            },
            DD_TRACE | DD_SPAN => {
                let decimal = if let Ok(text) = value.cast::<PyString>() {
                    dd_decimal(&text.to_string_lossy())
                } else if value.is_instance_of::<pyo3::types::PyInt>()
                    && !value.is_instance_of::<pyo3::types::PyBool>()
                {
                    // The low 64 bits of any int, negative ones in two's complement.
                    value
                        .bitand(u64::MAX)
                        .and_then(|low| low.extract::<u64>())
                        .ok()
                        .map(|n| n.to_string())
                } else {
                    None
                };
                match decimal {
                    Some(d) => PyString::new(py, &d).into_any(),
                    None => value.clone(),
                }
            }
            _ => value.clone(),
        }
    }

    /// The level's JSON text; a name `log()` did not know takes at most a quarter of the room
    /// (GCP, which only knows its own severity names, gets `DEFAULT`).
    fn level_text(&self, enc: &mut Encoder<'_>, level: i32, specials: &Specials) {
        match &specials.level_text {
            None => push_bytes(enc.out, &self.shared.levels.text(level)),
            Some(_) if self.shared.schema == Schema::Gcp => {
                enc.out.extend_from_slice(b"\"DEFAULT\"");
            }
            Some(raw) => {
                let share = enc.room() / 4;
                enc.capped(share, |e| e.str_bytes(raw));
            }
        }
    }

    /// The logger's name; a long one takes at most a quarter of the room.
    fn name_text(&self, enc: &mut Encoder<'_>) {
        let share = enc.room() / 4;
        if self.name_json.len() <= share {
            push_bytes(enc.out, &self.name_json);
        } else {
            // SAFETY: `name` is a live str and the GIL is held (we are in a log call).
            enc.capped(share, |e| unsafe { e.exact_str(self.name.as_ptr()) });
        }
    }

    /// How context, bound and call fields meet: [`Clash::Merge`] when the context has a key
    /// the schema renames or lifts, or a key held lone surrogates (the rare cases that need a
    /// merged dict); [`Clash::Shadow`] when they merely share a name (the later set wins);
    /// else [`Clash::None`].
    ///
    /// # Safety
    /// As [`scan_specials`].
    #[inline]
    unsafe fn fields_clash(
        &self,
        ctx: Option<&EncodedFields>,
        kwnames: *mut ffi::PyObject,
        nkw: ffi::Py_ssize_t,
        keys: Option<&CallKeys>,
    ) -> Clash {
        let schema = self.shared.schema;
        let mut shadow = false;
        if let Some(c) = ctx {
            if c.lossy || c.has_reserved(schema) || c.has_lifted(schema) {
                return Clash::Merge;
            }
            shadow = c.overlaps(&self.bound);
        }
        // Two keys written as the same U+FFFD text must be told apart.
        let call_lossy = match keys {
            Some(k) => k.lossy,
            // SAFETY: per this function's contract.
            None => nkw > 0 && unsafe { any_lossy(kwnames, nkw) },
        };
        if call_lossy || self.bound.lossy {
            return Clash::Merge;
        }
        let lifting = schema.lifts_any();
        if lifting && self.bound.has_lifted(schema) {
            return Clash::Merge;
        }
        if self.bound.is_empty() && ctx.is_none() && !lifting {
            return Clash::None;
        }
        for i in 0..nkw {
            // SAFETY: per this function's contract.
            let name = unsafe { ffi::PyTuple_GET_ITEM(kwnames, i) };
            // SAFETY: `name` is a live str.
            if lifting && schema.lifted(&unsafe { key_bytes(name) }).is_some() {
                return Clash::Merge;
            }
            shadow = shadow || self.bound.contains(name) || ctx.is_some_and(|c| c.contains(name));
        }
        if shadow {
            Clash::Shadow
        } else {
            Clash::None
        }
    }

    /// The slow path of a clash: merge context, bound and call fields into one dict.
    ///
    /// # Safety
    /// As [`scan_specials`].
    #[cold]
    #[inline(never)]
    unsafe fn merged_fields<'py>(
        &self,
        py: Python<'py>,
        enc: &mut Encoder<'_>,
        ctx: Option<&EncodedFields>,
        kwnames: *mut ffi::PyObject,
        kwvalues: *const *mut ffi::PyObject,
        nkw: ffi::Py_ssize_t,
    ) -> Vec<(&'static str, Bound<'py, PyAny>)> {
        let merged = PyDict::new(py);
        if let Some(c) = ctx {
            let _ = merged.update(c.dict.bind(py).as_mapping());
        }
        let _ = merged.update(self.bound.dict.bind(py).as_mapping());
        for i in 0..nkw {
            // SAFETY: per this function's contract.
            let (name, value) = unsafe { (ffi::PyTuple_GET_ITEM(kwnames, i), *kwvalues.offset(i)) };
            if is_special(name) {
                continue;
            }
            // SAFETY: both are live; PyDict_SetItem takes its own references.
            unsafe { ffi::PyDict_SetItem(merged.as_ptr(), name, value) };
        }
        let schema = self.shared.schema;
        let mut lifted = Vec::new();
        // The keys written so far, as written: distinct str keys can still meet here when
        // their lone surrogates become U+FFFD. A key already taken gets `field.` prefixes
        // until it is unique, so both values are kept.
        let mut taken: HashSet<Vec<u8>> = HashSet::with_capacity(merged.len());
        for (k, v) in merged.iter() {
            let Ok(k) = k.cast_into::<PyString>() else {
                continue;
            };
            // SAFETY: `k` is a live str.
            let key = unsafe { key_bytes(k.as_ptr()) };
            if let Some(top) = schema.lifted(&key) {
                lifted.push((top, v));
                continue;
            }
            let mut written = key.into_owned();
            if schema.renames(&written) {
                written.splice(0..0, FIELD_PREFIX.iter().copied());
            }
            while taken.contains(&written) {
                written.splice(0..0, FIELD_PREFIX.iter().copied());
            }
            if !enc.field(py, &written, None, v.as_ptr()) {
                break;
            }
            taken.insert(written);
        }
        lifted
    }

    /// Add the structured exception (default: `exception`, ECS: `error`, OTel: `exception.*`).
    #[inline(never)]
    fn exception_fields(&self, py: Python<'_>, enc: &mut Encoder<'_>, exc: *mut ffi::PyObject) {
        let describe = DESCRIBE_EXC
            .get_or_try_init(py, || import_attr(py, "ferrolog._exceptions", "describe"));
        // SAFETY: `exc` is a live keyword value (borrowed for the call's duration).
        let exc = unsafe { Bound::from_borrowed_ptr(py, exc) };
        let described = describe.and_then(|d| d.bind(py).call1((exc, self.shared.schema.name())));
        match described {
            Ok(fields) => {
                if let Ok(fields) = fields.cast_into::<PyDict>() {
                    for (k, v) in fields.iter() {
                        let Ok(k) = k.cast_into::<PyString>() else {
                            continue;
                        };
                        // SAFETY: `k` is a live str.
                        let key = unsafe { key_bytes(k.as_ptr()) };
                        if !enc.field(py, &key, None, v.as_ptr()) {
                            break;
                        }
                    }
                }
            }
            Err(_) => self.shared.core.count_error(),
        }
    }

    #[cold]
    #[inline(never)]
    fn stack_field(&self, py: Python<'_>, enc: &mut Encoder<'_>, stacklevel: i64) {
        let fmt =
            FORMAT_STACK.get_or_try_init(py, || import_attr(py, "ferrolog._exceptions", "stack"));
        match fmt.and_then(|f| f.bind(py).call1((stacklevel,))) {
            Ok(text) => {
                enc.field(py, b"stack", None, text.as_ptr());
            }
            Err(_) => self.shared.core.count_error(),
        }
    }
}

/// How an event's field sets meet (see `Logger::fields_clash`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Clash {
    /// No shared names: each set is copied as encoded.
    None,
    /// Shared names only: each set is copied without the names a later set has.
    Shadow,
    /// Renamed, lifted or lossy keys: the sets are merged into a dict and encoded again.
    Merge,
}

/// Whether the call has a field (not a special keyword such as `exc_info`) named `name`.
///
/// # Safety
/// As [`scan_specials`]; `name` is a live str.
unsafe fn call_has_field(
    kwnames: *mut ffi::PyObject,
    nkw: ffi::Py_ssize_t,
    keys: Option<&CallKeys>,
    name: *mut ffi::PyObject,
) -> bool {
    (0..nkw).any(|i| {
        // SAFETY: per this function's contract.
        let call_name = unsafe { ffi::PyTuple_GET_ITEM(kwnames, i) };
        let special = match keys {
            Some(k) => k.encoded[i as usize].is_empty(),
            None => is_special(call_name),
        };
        !special && same_str(call_name, name)
    })
}

/// Whether any of the call's keyword names holds lone surrogates (when the per-call-site cache,
/// which knows, is busy).
///
/// # Safety
/// As [`scan_specials`].
#[cold]
unsafe fn any_lossy(kwnames: *mut ffi::PyObject, nkw: ffi::Py_ssize_t) -> bool {
    (0..nkw).any(|i| {
        // SAFETY: per this function's contract; each name is a live str.
        let key = unsafe { key_bytes(ffi::PyTuple_GET_ITEM(kwnames, i)) };
        matches!(key, std::borrow::Cow::Owned(_))
    })
}
