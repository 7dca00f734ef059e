//! The native Logger: level methods are installed as METH_FASTCALL|METH_KEYWORDS descriptors
//! (no wrapper frame, no kwargs dict) that encode the event straight into a thread-local
//! buffer and push it to the pipeline's ring in one piece.

use crate::context::{self, ContextFields};
use crate::encode::Encoder;
use crate::escape::push_bytes;
use crate::fields::{key_bytes, EncodedFields};
use crate::keys::CallKeys;
use crate::pending::PendingRecord;
use crate::pipeline::{Pipeline, Shared};
use crate::schema::{otel_severity, Schema, ECS_VERSION};
use crate::timestamp::{now_micros, write_rfc3339, write_unix_nanos, SecondCache};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};
use std::cell::RefCell;
use std::os::raw::c_int;
use std::sync::Arc;

pub const TRACE: i32 = 5;
pub const DEBUG: i32 = 10;
pub const INFO: i32 = 20;
pub const WARNING: i32 = 30;
pub const ERROR: i32 = 40;
pub const CRITICAL: i32 = 50;

/// Room kept after the size cap. Once the budget is spent, what can still be written is: one
/// scalar or marker begun just under the cap (at most 32 bytes: a float, `"<max depth>"`, a
/// cut string's closing), a key's `:` and comma, the closing brackets of up to 32 nested
/// containers plus the event's own (33), `,"_truncated":true` (18) and `}}\n` (3).
const CLOSING_ROOM: usize = 128;

thread_local! {
    /// Each thread encodes into its own reusable buffer; a reentrant call (a `__repr__` that
    /// logs) finds it borrowed and uses a fresh one.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        buf: Vec::with_capacity(4096),
        second: SecondCache::default(),
    });
}

/// What each thread keeps between log calls.
struct Scratch {
    buf: Vec<u8>,
    second: SecondCache,
}

/// A structured logger bound to one pipeline. Immutable: `bind()` and friends return new ones.
#[pyclass(frozen, module = "ferrolog._native", weakref)]
pub struct Logger {
    pub(crate) shared: Arc<Shared>,
    pub(crate) pipeline: Py<Pipeline>,
    name: Py<PyString>,
    name_json: Box<[u8]>,
    level: i32,
    bound: EncodedFields,
}

impl Logger {
    pub fn create(
        py: Python<'_>,
        pipeline: Py<Pipeline>,
        shared: Arc<Shared>,
        name: Bound<'_, PyString>,
        level: i32,
        bound: Bound<'_, PyDict>,
    ) -> Self {
        let mut name_json = Vec::new();
        // SAFETY: `name` is a live str and the GIL is held.
        let nb = unsafe { key_bytes(name.as_ptr()) };
        crate::escape::write_str(&mut name_json, &nb);
        let bound = EncodedFields::encode(py, bound, Some(shared.schema), shared.max_event_bytes);
        Self {
            shared,
            pipeline,
            name: name.unbind(),
            name_json: name_json.into_boxed_slice(),
            level,
            bound,
        }
    }

    /// This logger with other (already encoded) bound fields.
    fn with_bound(&self, py: Python<'_>, bound: EncodedFields) -> Self {
        Self {
            shared: self.shared.clone(),
            pipeline: self.pipeline.clone_ref(py),
            name: self.name.clone_ref(py),
            name_json: self.name_json.clone(),
            level: self.level,
            bound,
        }
    }

    fn derive(
        &self,
        py: Python<'_>,
        name: Option<Bound<'_, PyString>>,
        level: Option<i32>,
        bound: Bound<'_, PyDict>,
    ) -> Self {
        Self::create(
            py,
            self.pipeline.clone_ref(py),
            self.shared.clone(),
            name.unwrap_or_else(|| self.name.bind(py).clone()),
            level.unwrap_or(self.level),
            bound,
        )
    }
}

#[pymethods]
impl Logger {
    /// The `logger` field of this logger's events.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// The minimum level this logger emits.
    #[getter]
    fn level(&self) -> i32 {
        self.level
    }

    /// A copy of the bound fields.
    #[getter]
    fn bound<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.bound.dict.bind(py).copy()
    }

    /// A new logger with `fields` added to (or replacing) the bound fields; encoded once here.
    #[pyo3(signature = (**fields))]
    fn bind(&self, py: Python<'_>, fields: Option<Bound<'_, PyDict>>) -> PyResult<Self> {
        let Some(fields) = fields else {
            return Ok(self.with_bound(py, self.bound.extend(py, &PyDict::new(py), None, 0)?));
        };
        let bound = self.bound.extend(
            py,
            &fields,
            Some(self.shared.schema),
            self.shared.max_event_bytes,
        )?;
        Ok(self.with_bound(py, bound))
    }

    /// A new logger without the bound fields named in `keys` (missing keys are ignored).
    #[pyo3(signature = (*keys))]
    fn unbind(&self, py: Python<'_>, keys: Bound<'_, PyTuple>) -> PyResult<Self> {
        let merged = self.bound.dict.bind(py).copy()?;
        for k in keys.iter() {
            if merged.contains(&k)? {
                merged.del_item(&k)?;
            }
        }
        Ok(self.derive(py, None, None, merged))
    }

    /// A new logger whose bound fields are exactly `fields`.
    #[pyo3(name = "new", signature = (**fields))]
    fn with_fields(&self, py: Python<'_>, fields: Option<Bound<'_, PyDict>>) -> Self {
        let d = fields.unwrap_or_else(|| PyDict::new(py));
        self.derive(py, None, None, d)
    }

    /// A logger named `name` (dotted onto this one's name unless `absolute`), same fields.
    #[pyo3(signature = (name, *, absolute = false))]
    fn child(&self, py: Python<'_>, name: &str, absolute: bool) -> PyResult<Self> {
        let full = if absolute {
            name.to_owned()
        } else {
            format!("{}.{}", self.name.bind(py).to_str()?, name)
        };
        let d = self.bound.dict.bind(py).copy()?;
        Ok(self.derive(py, Some(PyString::new(py, &full)), None, d))
    }

    /// The same logger with a different minimum level (a number or a level name).
    fn with_level(&self, py: Python<'_>, level: Bound<'_, PyAny>) -> PyResult<Self> {
        let level = self.shared.levels.parse(&level)?;
        let d = self.bound.dict.bind(py).copy()?;
        Ok(self.derive(py, None, Some(level), d))
    }

    /// Whether an event at `level` (a number or a name) would be emitted.
    fn is_enabled_for(&self, level: Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.shared.levels.parse(&level)? >= self.level)
    }

    /// The pipeline's counters: emitted, written, dropped, errors, bytes, high_water, ...
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.pipeline.get().stats(py)
    }

    /// Await until everything logged before this call is written (or counted dropped) and
    /// the sinks flushed; False on timeout (`None`: no limit).
    #[pyo3(signature = (timeout = None))]
    fn flush<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        // The wait starts here, not at the first await: "before this call" is now.
        let ticket = self.pipeline.get()._start_flush(timeout)?;
        let f = ASYNC_FLUSH.get_or_try_init(py, || import_attr(py, "ferrolog._aio", "flush"))?;
        f.bind(py).call1((ticket,))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<ferrolog.Logger name={} level={} bound={}>",
            self.name.bind(py).repr()?,
            self.shared.levels.name_of(self.level),
            self.bound.dict.bind(py).repr()?
        ))
    }
}

static ASYNC_FLUSH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ASYNC_PUSH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DESCRIBE_EXC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static FORMAT_STACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static READY: PyOnceLock<Py<Ready>> = PyOnceLock::new();

fn import_attr(py: Python<'_>, module: &str, attr: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import(module)?.getattr(attr)?.unbind())
}

/// An awaitable that is already complete: what `await log.ainfo(...)` gets when the ring had
/// room. Stateless, so one instance serves every call.
#[pyclass(frozen, module = "ferrolog._native")]
pub struct Ready;

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __next__(&self) -> Option<Py<PyAny>> {
        None
    }
}

fn ready(py: Python<'_>) -> *mut ffi::PyObject {
    match READY.get_or_try_init(py, || Py::new(py, Ready)) {
        Ok(r) => r.clone_ref(py).into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Whether this thread is running an asyncio event loop (then it must never block).
fn on_event_loop(py: Python<'_>) -> bool {
    let Ok(f) =
        GET_RUNNING_LOOP.get_or_try_init(py, || import_attr(py, "asyncio", "_get_running_loop"))
    else {
        return false;
    };
    f.bind(py).call0().map(|l| !l.is_none()).unwrap_or(false)
}

/// How a method was called: which level, and whether it is an `a*` twin.
#[derive(Clone, Copy)]
struct Call {
    /// None: the level is the first positional argument (`log`/`alog`).
    level: Option<i32>,
    is_async: bool,
    /// `exception()`: capture the active exception unless `exc_info` says otherwise.
    exc_default: bool,
}

/// Keyword arguments with a meaning of their own, as in stdlib logging.
#[derive(Default)]
struct Specials {
    exc_info: Option<*mut ffi::PyObject>,
    stack_info: bool,
    stacklevel: i64,
    count: usize,
    /// The level's name (not yet JSON) when `log()` was given one the pipeline does not know.
    level_text: Option<Vec<u8>>,
}

/// # Safety
/// Called by CPython as a METH_FASTCALL|METH_KEYWORDS method with the GIL held; `slf` is a
/// Logger (the method descriptor checks the type), `args` holds `nargs` positional values
/// followed by one value per name in `kwnames`.
unsafe fn dispatch(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    call: Call,
) -> *mut ffi::PyObject {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: per this function's contract.
        unsafe { dispatch_inner(slf, args, nargsf, kwnames, call) }
    }));
    match result {
        Ok(p) => p,
        Err(_) => {
            // A bug of ours outside the encoder (which has its own guard, counting the event
            // dropped) must not take the process down from inside a log call either.
            // SAFETY: the GIL is held; `slf` is a live Logger.
            unsafe {
                ffi::PyErr_Clear();
                let py = Python::assume_attached();
                Bound::from_borrowed_ptr(py, slf)
                    .cast_unchecked::<Logger>()
                    .get()
                    .shared
                    .core
                    .count_error();
                if call.is_async {
                    ready(py)
                } else {
                    ffi::Py_NewRef(ffi::Py_None())
                }
            }
        }
    }
}

/// # Safety
/// As [`dispatch`].
unsafe fn dispatch_inner(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    call: Call,
) -> *mut ffi::PyObject {
    // SAFETY: per this function's contract.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the descriptor only binds to Logger instances; the object outlives this call.
    let this = unsafe { Bound::from_borrowed_ptr(py, slf) };
    // SAFETY: as above.
    let logger: &Logger = unsafe { this.cast_unchecked::<Logger>() }.get();
    // SAFETY: per this function's contract.
    let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf as usize) };
    // A level name this pipeline does not know is not worth an exception inside a log call:
    // the event is written anyway, under the name given, and counted as an error.
    let mut unknown_level: Option<Vec<u8>> = None;
    let (level, msg_index) = match call.level {
        Some(l) => (l, 0),
        None => {
            if nargs < 1 {
                return raise(py, PyTypeError::new_err("log() missing the level argument"));
            }
            // SAFETY: nargs >= 1.
            let lv = unsafe { Bound::from_borrowed_ptr(py, *args) };
            match logger.shared.levels.parse(&lv) {
                Ok(l) => (l, 1),
                Err(_) => {
                    logger.shared.core.count_error();
                    let text = lv
                        .str()
                        .map(|s| s.to_string_lossy().to_lowercase())
                        .unwrap_or_default();
                    unknown_level = Some(text.into_bytes());
                    (i32::MAX, 1)
                }
            }
        }
    };
    if level < logger.level {
        return if call.is_async {
            ready(py)
        } else {
            // SAFETY: the GIL is held.
            unsafe { ffi::Py_NewRef(ffi::Py_None()) }
        };
    }
    if nargs != msg_index + 1 {
        return raise(
            py,
            PyTypeError::new_err(format!(
                "a log call takes exactly one positional argument, the message ({} given); \
                 pass fields as keyword arguments",
                nargs - msg_index
            )),
        );
    }
    // SAFETY: per this function's contract: `nargs` positionals then the keyword values.
    let (msg, kwvalues, nkw) = unsafe {
        let nkw = if kwnames.is_null() {
            0
        } else {
            ffi::PyTuple_GET_SIZE(kwnames)
        };
        (*args.offset(msg_index), args.offset(nargs), nkw)
    };
    let keys = if nkw > 0 {
        crate::keys::call_keys(py, kwnames, logger.shared.schema)
    } else {
        None
    };
    let mut specials = if keys.as_ref().is_some_and(|k| !k.any_special) {
        Specials::new(call.exc_default)
    } else {
        // SAFETY: per this function's contract.
        unsafe { scan_specials(kwnames, kwvalues, nkw, call.exc_default) }
    };
    specials.level_text = unknown_level;
    let encode_and_push = |buf: &mut Vec<u8>, second: &mut SecondCache| {
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: per this function's contract.
            unsafe {
                logger.encode(
                    py,
                    buf,
                    second,
                    level,
                    msg,
                    kwnames,
                    kwvalues,
                    nkw,
                    &specials,
                    keys.as_deref(),
                )
            }
        }));
        match encoded {
            Ok(()) => logger.push(py, buf, call.is_async),
            Err(_) => {
                // A bug of ours while encoding: the event is lost, and said so in the counters;
                // whatever Python error the encoder left behind must not leak out of the call.
                // SAFETY: the GIL is held.
                unsafe { ffi::PyErr_Clear() };
                logger.shared.core.count_dropped();
                logger.shared.core.count_error();
                Outcome::Done
            }
        }
    };
    let pushed = SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            let Scratch { buf, second } = &mut *scratch;
            buf.clear();
            let r = encode_and_push(buf, second);
            if buf.capacity() > 1 << 20 {
                *buf = Vec::with_capacity(4096);
            }
            r
        }
        // Reentered (a `__repr__` that logs): this thread's scratch is in use further up.
        Err(_) => encode_and_push(&mut Vec::with_capacity(1024), &mut SecondCache::default()),
    });
    match pushed {
        Outcome::Done if call.is_async => ready(py),
        Outcome::Done => {
            // SAFETY: the GIL is held.
            unsafe { ffi::Py_NewRef(ffi::Py_None()) }
        }
        Outcome::Wait(record) => {
            let waiter = ASYNC_PUSH
                .get_or_try_init(py, || import_attr(py, "ferrolog._aio", "push_when_ready"));
            let pending = PendingRecord::new(logger.shared.clone(), record);
            // If anything below fails, dropping `pending` counts the event as dropped.
            match waiter.and_then(|w| w.bind(py).call1((pending,))) {
                Ok(coro) => coro.into_ptr(),
                Err(e) => {
                    logger.shared.core.count_error();
                    raise(py, e)
                }
            }
        }
    }
}

fn raise(py: Python<'_>, err: PyErr) -> *mut ffi::PyObject {
    err.restore(py);
    std::ptr::null_mut()
}

/// Find `exc_info`, `stack_info` and `stacklevel` among the keywords.
///
/// # Safety
/// `kwnames` is NULL or a tuple of `nkw` str; `kwvalues` holds `nkw` values; GIL held.
unsafe fn scan_specials(
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
    fn new(exc_default: bool) -> Self {
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

pub(crate) fn is_special(name: *mut ffi::PyObject) -> bool {
    // SAFETY: `name` is a live str and the GIL is held.
    special_kind(unsafe { ffi::PyUnicode_GET_LENGTH(name) }, name).is_some()
}

enum Outcome {
    Done,
    /// The ring was full for an `a*` call: the encoded record, to be pushed when space frees.
    Wait(Box<[u8]>),
}

impl Logger {
    /// Encode one event into `buf`.
    ///
    /// # Safety
    /// GIL held; `msg` live; `kwnames`/`kwvalues`/`nkw` as in [`scan_specials`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn encode(
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
        let mut enc = Encoder::new(buf, limit);
        let micros = now_micros();
        // The envelope.
        match schema {
            Schema::Default | Schema::Ecs => {
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
            Schema::Otel => {
                enc.out.extend_from_slice(b"{\"Timestamp\":");
                write_unix_nanos(enc.out, micros);
                enc.out.extend_from_slice(b",\"SeverityText\":");
                self.level_text(&mut enc, level, specials);
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
        let ctx = context::current(py);
        let ctx_fields = ctx
            .as_ref()
            .map(|c| &c.get().fields)
            .filter(|f| !f.is_empty());
        // SAFETY: per this function's contract.
        let clash = unsafe { self.fields_clash(ctx.as_ref().map(Bound::get), kwnames, nkw) };
        let mut lifted = Vec::new();
        if clash {
            // SAFETY: per this function's contract.
            lifted =
                unsafe { self.merged_fields(py, &mut enc, ctx_fields, kwnames, kwvalues, nkw) };
        } else {
            if let Some(c) = ctx_fields {
                c.write_to(py, &mut enc);
            }
            self.bound.write_to(py, &mut enc);
            for i in 0..nkw {
                // SAFETY: per this function's contract.
                let value = unsafe { *kwvalues.offset(i) };
                let written = if let Some(keys) = keys {
                    let key = &keys.encoded[i as usize];
                    if key.is_empty() {
                        continue; // a special keyword, not a field
                    }
                    enc.field_with_key(py, key, value)
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
            // `trace_id`/`span_id` fields become the record's TraceId/SpanId.
            for (name, value) in &lifted {
                if !enc.field(py, name.as_bytes(), None, value.as_ptr()) {
                    break;
                }
            }
        }
        if enc.truncated {
            enc.out.extend_from_slice(b",\"_truncated\":true");
        }
        enc.out.extend_from_slice(b"}\n");
    }

    /// The level's JSON text; a name `log()` did not know takes at most a quarter of the room.
    fn level_text(&self, enc: &mut Encoder<'_>, level: i32, specials: &Specials) {
        match &specials.level_text {
            None => push_bytes(enc.out, &self.shared.levels.text(level)),
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

    /// Whether context, bound and call fields share a name or the context has a key the
    /// schema reserves (the rare case that needs a merged dict).
    ///
    /// # Safety
    /// As [`scan_specials`].
    #[inline]
    unsafe fn fields_clash(
        &self,
        ctx: Option<&ContextFields>,
        kwnames: *mut ffi::PyObject,
        nkw: ffi::Py_ssize_t,
    ) -> bool {
        let schema = self.shared.schema;
        let ctx = ctx.map(|c| &c.fields).filter(|f| !f.is_empty());
        if let Some(c) = ctx {
            if c.has_reserved(schema) || c.has_lifted(schema) || c.overlaps(&self.bound) {
                return true;
            }
        }
        let lifting = schema.lifts_any();
        if lifting && self.bound.has_lifted(schema) {
            return true;
        }
        if self.bound.is_empty() && ctx.is_none() && !lifting {
            return false;
        }
        for i in 0..nkw {
            // SAFETY: per this function's contract.
            let name = unsafe { ffi::PyTuple_GET_ITEM(kwnames, i) };
            if self.bound.contains(name) || ctx.is_some_and(|c| c.contains(name)) {
                return true;
            }
            // SAFETY: `name` is a live str.
            if lifting && schema.lifted(&unsafe { key_bytes(name) }).is_some() {
                return true;
            }
        }
        false
    }

    /// The slow path of a clash: merge context, bound and call fields into one dict.
    ///
    /// # Safety
    /// As [`scan_specials`].
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
            if !enc.field(py, &key, Some(schema), v.as_ptr()) {
                break;
            }
        }
        lifted
    }

    /// Add the structured exception (default: `exception`, ECS: `error`, OTel: `exception.*`).
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

    /// Push per the overflow policy. Sync calls never block an event loop thread; `a*` calls
    /// hand the record back to be awaited when the ring is full.
    fn push(&self, py: Python<'_>, record: &[u8], is_async: bool) -> Outcome {
        let core = &self.shared.core;
        if is_async {
            return match core.try_push_uncounted(record) {
                Ok(()) => Outcome::Done,
                // Too large to ever fit, or closed: dropped and counted, never awaited.
                Err(ferrolog_core::PushError::TooLarge) => {
                    core.count_dropped();
                    Outcome::Done
                }
                Err(ferrolog_core::PushError::Full) if core.is_closed() => {
                    core.count_dropped();
                    Outcome::Done
                }
                Err(ferrolog_core::PushError::Full) => Outcome::Wait(record.into()),
            };
        }
        // The one place the timeout lives: the core's own overflow policy.
        match core.config().overflow {
            ferrolog_core::Overflow::Drop => {
                core.push(record);
            }
            ferrolog_core::Overflow::Block { timeout } => {
                if core.try_push_uncounted(record).is_err() {
                    if on_event_loop(py) {
                        core.push(record);
                    } else {
                        let deadline = std::time::Instant::now() + timeout;
                        py.detach(|| core.push_wait(record, deadline));
                    }
                }
            }
        }
        Outcome::Done
    }
}

macro_rules! level_methods {
    ($($fn_name:ident => $level:expr, $is_async:expr, $exc:expr;)*) => {
        $(
            unsafe extern "C" fn $fn_name(
                slf: *mut ffi::PyObject,
                args: *const *mut ffi::PyObject,
                nargsf: ffi::Py_ssize_t,
                kwnames: *mut ffi::PyObject,
            ) -> *mut ffi::PyObject {
                // SAFETY: CPython calls this with the METH_FASTCALL|METH_KEYWORDS contract.
                unsafe {
                    dispatch(slf, args, nargsf, kwnames, Call { level: $level, is_async: $is_async, exc_default: $exc })
                }
            }
        )*
    };
}

level_methods! {
    m_trace => Some(TRACE), false, false;
    m_debug => Some(DEBUG), false, false;
    m_info => Some(INFO), false, false;
    m_warning => Some(WARNING), false, false;
    m_error => Some(ERROR), false, false;
    m_critical => Some(CRITICAL), false, false;
    m_exception => Some(ERROR), false, true;
    m_log => None, false, false;
    m_atrace => Some(TRACE), true, false;
    m_adebug => Some(DEBUG), true, false;
    m_ainfo => Some(INFO), true, false;
    m_awarning => Some(WARNING), true, false;
    m_aerror => Some(ERROR), true, false;
    m_acritical => Some(CRITICAL), true, false;
    m_aexception => Some(ERROR), true, true;
    m_alog => None, true, false;
}

type FastcallKw = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

const METHODS: [(&std::ffi::CStr, FastcallKw, &std::ffi::CStr); 17] = [
    (c"trace", m_trace, c"trace($self, msg, /, **fields)\n--\n\nLog at TRACE (5)."),
    (c"debug", m_debug, c"debug($self, msg, /, **fields)\n--\n\nLog at DEBUG (10)."),
    (c"info", m_info, c"info($self, msg, /, **fields)\n--\n\nLog at INFO (20)."),
    (c"warning", m_warning, c"warning($self, msg, /, **fields)\n--\n\nLog at WARNING (30)."),
    (c"warn", m_warning, c"warn($self, msg, /, **fields)\n--\n\nAlias of warning()."),
    (c"error", m_error, c"error($self, msg, /, **fields)\n--\n\nLog at ERROR (40)."),
    (c"critical", m_critical, c"critical($self, msg, /, **fields)\n--\n\nLog at CRITICAL (50)."),
    (c"exception", m_exception, c"exception($self, msg, /, **fields)\n--\n\nLog at ERROR with the active exception."),
    (c"log", m_log, c"log($self, level, msg, /, **fields)\n--\n\nLog at a level given by number or name."),
    (c"atrace", m_atrace, c"atrace($self, msg, /, **fields)\n--\n\nAwaitable trace(): waits for ring space instead of dropping."),
    (c"adebug", m_adebug, c"adebug($self, msg, /, **fields)\n--\n\nAwaitable debug(): waits for ring space instead of dropping."),
    (c"ainfo", m_ainfo, c"ainfo($self, msg, /, **fields)\n--\n\nAwaitable info(): waits for ring space instead of dropping."),
    (c"awarning", m_awarning, c"awarning($self, msg, /, **fields)\n--\n\nAwaitable warning(): waits for ring space instead of dropping."),
    (c"aerror", m_aerror, c"aerror($self, msg, /, **fields)\n--\n\nAwaitable error(): waits for ring space instead of dropping."),
    (c"acritical", m_acritical, c"acritical($self, msg, /, **fields)\n--\n\nAwaitable critical(): waits for ring space instead of dropping."),
    (c"aexception", m_aexception, c"aexception($self, msg, /, **fields)\n--\n\nAwaitable exception(): waits for ring space instead of dropping."),
    (c"alog", m_alog, c"alog($self, level, msg, /, **fields)\n--\n\nAwaitable log(): waits for ring space instead of dropping."),
];

/// Install the level methods on the Logger type as fastcall method descriptors.
pub fn install_methods(py: Python<'_>) -> PyResult<()> {
    let ty = py.get_type::<Logger>();
    for (name, func, doc) in METHODS {
        // The method table must outlive the type: leak one small struct per method, once.
        let def = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: func,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS as c_int,
            ml_doc: doc.as_ptr(),
        }));
        // SAFETY: the GIL is held; `def` is 'static; the descriptor is a new reference.
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(ty.as_type_ptr(), def))?
        };
        ty.setattr(name.to_str().expect("ascii method name"), descr)?;
    }
    Ok(())
}

/// Levels known to one pipeline: the standard ones plus its custom names.
pub struct LevelTable {
    /// (number, lowercase name), sorted by number.
    names: Vec<(i32, String)>,
    /// Pre-encoded level values for the schema, by number.
    texts: Vec<(i32, Box<[u8]>)>,
    schema: Schema,
}

impl LevelTable {
    pub fn new(schema: Schema, custom: &[(i32, String)]) -> PyResult<Self> {
        let mut names: Vec<(i32, String)> = vec![
            (TRACE, "trace".into()),
            (DEBUG, "debug".into()),
            (INFO, "info".into()),
            (WARNING, "warning".into()),
            (ERROR, "error".into()),
            (CRITICAL, "critical".into()),
        ];
        for (n, name) in custom {
            let lname = name.to_ascii_lowercase();
            if lname.is_empty()
                || lname.len() > 64
                || !lname.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(PyValueError::new_err(format!(
                    "custom level name {name:?} must be 1 to 64 letters, digits or '_'"
                )));
            }
            if names.iter().any(|(m, nm)| *nm == lname && *m != *n) {
                return Err(PyValueError::new_err(format!(
                    "level name {name:?} is already taken"
                )));
            }
            names.retain(|(m, _)| m != n);
            names.push((*n, lname));
        }
        names.sort();
        let texts = names
            .iter()
            .map(|(n, nm)| (*n, schema.level_text(*n, Some(nm)).into_boxed_slice()))
            .collect();
        Ok(Self {
            names,
            texts,
            schema,
        })
    }

    /// The encoded level value for `level` (a JSON string).
    #[inline]
    pub fn text(&self, level: i32) -> std::borrow::Cow<'_, [u8]> {
        match self.texts.iter().find(|(n, _)| *n == level) {
            Some((_, t)) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(self.schema.level_text(level, None)),
        }
    }

    pub fn name_of(&self, level: i32) -> String {
        self.names
            .iter()
            .find(|(n, _)| *n == level)
            .map(|(_, nm)| nm.clone())
            .unwrap_or_else(|| crate::schema::standard_level_name(level))
    }

    /// A level given as a number or a case-insensitive name (NOTSET is 0).
    pub fn parse(&self, level: &Bound<'_, PyAny>) -> PyResult<i32> {
        if let Ok(n) = level.extract::<i32>() {
            return Ok(n);
        }
        let name: String = level.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "a level is an int or a name, got {}",
                level.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?;
        let lname = name.to_ascii_lowercase();
        if lname == "notset" {
            return Ok(0);
        }
        if lname == "warn" {
            return Ok(WARNING);
        }
        if lname == "fatal" {
            return Ok(CRITICAL);
        }
        self.names
            .iter()
            .find(|(_, nm)| *nm == lname)
            .map(|(n, _)| *n)
            .ok_or_else(|| {
                let valid: Vec<String> = std::iter::once("notset (0)".to_owned())
                    .chain(self.names.iter().map(|(n, nm)| format!("{nm} ({n})")))
                    .collect();
                PyValueError::new_err(format!(
                    "unknown level {name:?}; valid levels: {}",
                    valid.join(", ")
                ))
            })
    }

    pub fn items(&self) -> &[(i32, String)] {
        &self.names
    }
}
