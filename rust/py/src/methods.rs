//! The Logger's level methods (`info`, `ainfo`, `log`, ...), installed on the type as
//! METH_FASTCALL|METH_KEYWORDS method descriptors: no wrapper frame, no kwargs dict. Each
//! call encodes its event into a thread-local buffer and pushes it to the ring in one piece.

use crate::dedupe::{Filtered, Repeated};
use crate::keys;
use crate::levels::{CRITICAL, DEBUG, ERROR, INFO, TRACE, WARNING};
use crate::logger::{import_attr, Logger, Outcome};
use crate::pending::PendingRecord;
use crate::policy::{Admit, Summary};
use crate::processors::{self, Processed};
use crate::specials::{scan_specials, Specials};
use crate::timestamp::SecondCache;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;
use std::cell::RefCell;
use std::os::raw::c_int;

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

static ASYNC_PUSH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static READY: PyOnceLock<Py<Ready>> = PyOnceLock::new();

/// Initialise this module's lazy helpers now (see `process::_before_fork`).
pub(crate) fn warm(py: Python<'_>) {
    let _ = ASYNC_PUSH.get_or_try_init(py, || import_attr(py, "ferrolog._aio", "push_when_ready"));
    let _ = READY.get_or_try_init(py, || Py::new(py, Ready));
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

/// Awaited calls that found room in a row, on this thread, since one last gave the event loop
/// a turn.
const YIELD_EVERY: u32 = 256;

thread_local! {
    /// Awaited calls that found room since this thread's last [`YieldOnce`].
    static SINCE_YIELD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// What an awaited call that found room returns: the ready awaitable, except every
/// [`YIELD_EVERY`]th time on a thread running an asyncio loop, a [`YieldOnce`]. A coroutine
/// that logs a burst of awaited events then holds the loop for at most that many calls (about
/// 0.1 ms) instead of the whole burst; one extra turn of the loop per 256 calls is the price.
#[inline]
fn ready_or_yield(py: Python<'_>) -> *mut ffi::PyObject {
    let n = SINCE_YIELD.get() + 1;
    if n < YIELD_EVERY {
        SINCE_YIELD.set(n);
        return ready(py);
    }
    SINCE_YIELD.set(0);
    yield_once(py)
}

#[cold]
#[inline(never)]
fn yield_once(py: Python<'_>) -> *mut ffi::PyObject {
    // Only an asyncio task awaits this (it reads the bare `yield` as "run me again next
    // turn"); outside a running loop the call stays a plain ready awaitable.
    if !crate::logger::on_event_loop(py) {
        return ready(py);
    }
    match Py::new(py, YieldOnce { yielded: false }) {
        Ok(y) => y.into_ptr(),
        Err(_) => ready(py),
    }
}

/// An awaitable that gives the event loop one turn, then completes (as `asyncio.sleep(0)`
/// does): what every 256th awaited call on a loop returns, its event already in the ring.
#[pyclass(module = "ferrolog._native")]
pub struct YieldOnce {
    yielded: bool,
}

#[pymethods]
impl YieldOnce {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __next__(&mut self, py: Python<'_>) -> Option<Py<PyAny>> {
        if self.yielded {
            None
        } else {
            self.yielded = true;
            Some(py.None())
        }
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

/// How a method was called: which level, and whether it is an `a*` twin.
#[derive(Clone, Copy)]
struct Call {
    /// None: the level is the first positional argument (`log`/`alog`).
    level: Option<i32>,
    is_async: bool,
    /// `exception()`: capture the active exception unless `exc_info` says otherwise.
    exc_default: bool,
    /// A `*_once` twin: logged once per call site and message (see `dedupe`).
    once: bool,
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
    // Below the logger's level: dropped, unless a request scope's buffer holds it.
    let mut hold = None;
    if level < logger.level() {
        match crate::scope::below_level(py, &logger.shared, level) {
            crate::scope::Below::Drop => {
                return if call.is_async {
                    ready(py)
                } else {
                    // SAFETY: the GIL is held.
                    unsafe { ffi::Py_NewRef(ffi::Py_None()) }
                };
            }
            crate::scope::Below::Hold(scope) => hold = Some(scope),
            crate::scope::Below::Write => {}
        }
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
    if call.once {
        // SAFETY: nargs == msg_index + 1, so the message is there and live for the call.
        let msg = unsafe { *args.offset(msg_index) };
        // SAFETY: the GIL is held; `msg` is live.
        if !unsafe { logger.shared.dedupe.once(py, msg) } {
            return if call.is_async {
                ready(py)
            } else {
                // SAFETY: the GIL is held.
                unsafe { ffi::Py_NewRef(ffi::Py_None()) }
            };
        }
    }
    // Sampling and rate limits, for the loggers a rule selects (decided when the logger was
    // made: none for most, and then this is one empty-slice test).
    if !logger.rules.is_empty() && !IN_SUMMARY.get() {
        // SAFETY: nargs == msg_index + 1, so the message is there and live for the call.
        let msg = unsafe { *args.offset(msg_index) };
        // SAFETY: the GIL is held; `msg` is live.
        match unsafe {
            logger
                .shared
                .policies
                .admit(&logger.rules, logger.name.bind(py), level, msg)
        } {
            Admit::Drop => {
                return if call.is_async {
                    ready(py)
                } else {
                    // SAFETY: the GIL is held.
                    unsafe { ffi::Py_NewRef(ffi::Py_None()) }
                };
            }
            Admit::PassAfter(summaries) => {
                for s in summaries {
                    emit_summary(&this, &s);
                }
            }
            Admit::Pass => {}
        }
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
        keys::call_keys(py, kwnames, logger.shared.schema, &logger.shared.redact)
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
    // Caller-side plugins, when configured: the event as they made it replaces the call's.
    let mut bare: Option<Logger> = None;
    // The message, the field names, the field values (owned here: the pointers below borrow
    // them for the call) and their pointers.
    type Fields<'py> = (
        Bound<'py, PyAny>,
        Bound<'py, PyTuple>,
        Vec<Bound<'py, PyAny>>,
        Vec<*mut ffi::PyObject>,
    );
    let mut processed: Option<Fields<'_>> = None;
    if let Some(chain) = &logger.shared.processors {
        // SAFETY: per this function's contract.
        match unsafe {
            processors::apply(
                py,
                logger,
                chain.bind(py),
                level,
                msg,
                kwnames,
                kwvalues,
                nkw,
            )
        } {
            Processed::Filtered => {
                return if call.is_async {
                    ready(py)
                } else {
                    // SAFETY: the GIL is held.
                    unsafe { ffi::Py_NewRef(ffi::Py_None()) }
                };
            }
            Processed::Event {
                msg: new_msg,
                names,
                values,
            } => {
                // The fields hold the context and bound ones now: encode them as the call's
                // only fields, with a logger that has none bound.
                bare = Some(logger.unbound(py));
                specials.no_context = true;
                let ptrs = values.iter().map(Bound::as_ptr).collect();
                processed = Some((new_msg, names, values, ptrs));
            }
            Processed::Unchanged => {}
        }
    }
    let (enc_logger, msg, kwnames, kwvalues, nkw, keys) = match (&bare, &processed) {
        (Some(bare), Some((m, names, _, ptrs))) => (
            bare,
            m.as_ptr(),
            names.as_ptr(),
            ptrs.as_ptr(),
            ptrs.len() as ffi::Py_ssize_t,
            None,
        ),
        _ => (logger, msg, kwnames, kwvalues, nkw, keys),
    };
    // An event at the trigger level writes what the current scope's buffer holds first.
    if level >= logger.shared.scopes.trigger_level && logger.shared.scopes.any_open() {
        // SAFETY: `this` is a Logger (see above).
        crate::scope::trigger(py, unsafe { this.cast_unchecked::<Logger>() });
    }
    let encode_and_push = |buf: &mut Vec<u8>, second: &mut SecondCache| {
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: per this function's contract.
            unsafe {
                enc_logger.encode(
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
            Ok(()) => {
                if let Some(scope) = &hold {
                    scope.get().hold(buf);
                    return Outcome::Done;
                }
                if logger.shared.dedupe.filtering() && !IN_SUMMARY.get() {
                    // SAFETY: the GIL is held; `msg` is live for the call.
                    match unsafe {
                        logger
                            .shared
                            .dedupe
                            .filter(buf, logger.name.bind(py), level, msg)
                    } {
                        Filtered::Repeat => return Outcome::Done,
                        Filtered::Write(Some(ended)) => {
                            emit_repeated(py, &logger.shared, ended);
                        }
                        Filtered::Write(None) => {}
                    }
                }
                if crate::tap::active() && crate::tap::send(py, buf).is_err() {
                    // SAFETY: the GIL is held.
                    unsafe { ffi::PyErr_Clear() };
                    logger.shared.core.count_error();
                }
                logger.push(py, buf, call.is_async)
            }
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
        Outcome::Done if call.is_async => ready_or_yield(py),
        Outcome::Done => {
            // SAFETY: the GIL is held.
            unsafe { ffi::Py_NewRef(ffi::Py_None()) }
        }
        Outcome::Wait(record) => wait_for_room(py, logger, record),
    }
}

/// An awaited call that found the ring full: the coroutine that pushes `record` once there
/// is room (off the hot path: most calls find room).
#[cold]
#[inline(never)]
fn wait_for_room(py: Python<'_>, logger: &Logger, record: Box<[u8]>) -> *mut ffi::PyObject {
    let waiter =
        ASYNC_PUSH.get_or_try_init(py, || import_attr(py, "ferrolog._aio", "push_when_ready"));
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

thread_local! {
    /// Set while this thread logs a rate-limit summary, which no policy applies to.
    static IN_SUMMARY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Log one rate-limit summary through `logger` (its level, its name).
#[cold]
#[inline(never)]
fn emit_summary(logger: &Bound<'_, PyAny>, s: &Summary) {
    let py = logger.py();
    let kwargs = pyo3::types::PyDict::new(py);
    let result = kwargs
        .set_item("suppressed", s.suppressed)
        .and_then(|()| kwargs.set_item("suppressed_key", &s.key));
    let message = format!(
        "rate limit: {} event(s) like this were suppressed",
        s.suppressed
    );
    log_summary(logger, s.level, message, result.map(|()| kwargs));
}

/// Log a summary event (no policy or filter applies to it) through `logger`; a failure is
/// counted as an error.
fn log_summary(
    logger: &Bound<'_, PyAny>,
    level: i32,
    message: String,
    fields: PyResult<Bound<'_, pyo3::types::PyDict>>,
) {
    let result = fields.and_then(|kwargs| {
        IN_SUMMARY.set(true);
        let r = logger.call_method("log", (level, message), Some(&kwargs));
        IN_SUMMARY.set(false);
        r
    });
    if result.is_err() {
        if let Ok(l) = logger.cast::<Logger>() {
            l.get().shared.core.count_error();
        }
    }
}

/// Log the summary of a run of repeated events, through a logger named like theirs (its level
/// pinned to theirs, so that a level changed since does not hide it).
#[cold]
#[inline(never)]
fn emit_repeated(py: Python<'_>, shared: &std::sync::Arc<crate::shared::Shared>, r: Repeated) {
    let logger = Logger::create_with(
        py,
        shared.clone(),
        pyo3::types::PyString::new(py, &r.logger),
        r.level,
        true,
        shared.root_fields(py),
    );
    let Ok(logger) = Bound::new(py, logger) else {
        shared.core.count_error();
        return;
    };
    let kwargs = pyo3::types::PyDict::new(py);
    let fields = kwargs
        .set_item("repeated", r.count)
        .and_then(|()| kwargs.set_item("repeated_message", &r.message))
        .map(|()| kwargs);
    let message = format!("last event repeated {} more time(s)", r.count);
    log_summary(logger.as_any(), r.level, message, fields);
}

/// Log what the repeated-events filter still holds back (before a flush, and at close).
pub(crate) fn emit_pending_repeats(py: Python<'_>, shared: &std::sync::Arc<crate::shared::Shared>) {
    if let Some(r) = shared.dedupe.finish_run() {
        emit_repeated(py, shared, r);
    }
}

/// Log the summaries the rate limits still owe (at close), each through a logger named like
/// its rule's prefix (`ferrolog` for a rule over every logger).
pub(crate) fn emit_pending_summaries(
    py: Python<'_>,
    shared: &std::sync::Arc<crate::shared::Shared>,
) {
    emit_pending_repeats(py, shared);
    for (prefix, s) in shared.policies.drain_summaries() {
        let name = if prefix.is_empty() {
            "ferrolog"
        } else {
            &prefix
        };
        // Pinned at the summary's level: the levels by logger name do not hide it.
        let logger = Logger::create_with(
            py,
            shared.clone(),
            pyo3::types::PyString::new(py, name),
            s.level,
            true,
            shared.root_fields(py),
        );
        match Bound::new(py, logger) {
            Ok(l) => emit_summary(l.as_any(), &s),
            Err(_) => shared.core.count_error(),
        }
    }
}

/// A `PyMethodDef` in a `static` (a C function the module hands to CPython outside a type's
/// method table): CPython only reads it.
pub(crate) struct StaticMethodDef(pub ffi::PyMethodDef);

// SAFETY: a constant, never written; CPython only reads it (with the GIL held).
unsafe impl Sync for StaticMethodDef {}

impl StaticMethodDef {
    /// The pointer `PyCFunction_NewEx` takes (CPython does not write through it).
    pub(crate) fn as_ptr(&'static self) -> *mut ffi::PyMethodDef {
        std::ptr::addr_of!(self.0).cast_mut()
    }
}

/// What a C entry point returns for `body`: its result as a new reference, or NULL with its
/// error set; a panic becomes a RuntimeError saying `panicked` (it never unwinds into C).
pub(crate) fn c_result<'py>(
    py: Python<'py>,
    panicked: &str,
    body: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
) -> *mut ffi::PyObject {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(obj)) => obj.into_ptr(),
        Ok(Err(e)) => raise(py, e),
        Err(_) => raise(
            py,
            pyo3::exceptions::PyRuntimeError::new_err(panicked.to_owned()),
        ),
    }
}

/// Set `err` as the current exception and return NULL, as a failing C method does.
#[cold]
#[inline(never)]
pub(crate) fn raise(py: Python<'_>, err: PyErr) -> *mut ffi::PyObject {
    err.restore(py);
    std::ptr::null_mut()
}

macro_rules! level_methods {
    ($($fn_name:ident => $level:expr, $is_async:expr, $exc:expr, $once:expr;)*) => {
        $(
            unsafe extern "C" fn $fn_name(
                slf: *mut ffi::PyObject,
                args: *const *mut ffi::PyObject,
                nargsf: ffi::Py_ssize_t,
                kwnames: *mut ffi::PyObject,
            ) -> *mut ffi::PyObject {
                // SAFETY: CPython calls this with the METH_FASTCALL|METH_KEYWORDS contract.
                unsafe {
                    dispatch(slf, args, nargsf, kwnames, Call { level: $level, is_async: $is_async, exc_default: $exc, once: $once })
                }
            }
        )*
    };
}

level_methods! {
    m_trace => Some(TRACE), false, false, false;
    m_debug => Some(DEBUG), false, false, false;
    m_info => Some(INFO), false, false, false;
    m_warning => Some(WARNING), false, false, false;
    m_error => Some(ERROR), false, false, false;
    m_critical => Some(CRITICAL), false, false, false;
    m_exception => Some(ERROR), false, true, false;
    m_log => None, false, false, false;
    m_atrace => Some(TRACE), true, false, false;
    m_adebug => Some(DEBUG), true, false, false;
    m_ainfo => Some(INFO), true, false, false;
    m_awarning => Some(WARNING), true, false, false;
    m_aerror => Some(ERROR), true, false, false;
    m_acritical => Some(CRITICAL), true, false, false;
    m_aexception => Some(ERROR), true, true, false;
    m_alog => None, true, false, false;
    m_trace_once => Some(TRACE), false, false, true;
    m_debug_once => Some(DEBUG), false, false, true;
    m_info_once => Some(INFO), false, false, true;
    m_warning_once => Some(WARNING), false, false, true;
    m_error_once => Some(ERROR), false, false, true;
    m_critical_once => Some(CRITICAL), false, false, true;
    m_log_once => None, false, false, true;
    m_atrace_once => Some(TRACE), true, false, true;
    m_adebug_once => Some(DEBUG), true, false, true;
    m_ainfo_once => Some(INFO), true, false, true;
    m_awarning_once => Some(WARNING), true, false, true;
    m_aerror_once => Some(ERROR), true, false, true;
    m_acritical_once => Some(CRITICAL), true, false, true;
    m_alog_once => None, true, false, true;
}

type FastcallKw = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

const METHODS: [(&std::ffi::CStr, FastcallKw, &std::ffi::CStr); 31] = [
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
    (c"trace_once", m_trace_once, c"trace_once($self, msg, /, **fields)\n--\n\ntrace(), once per call site and message (per process, or per dedupe.once_window)."),
    (c"debug_once", m_debug_once, c"debug_once($self, msg, /, **fields)\n--\n\ndebug(), once per call site and message (per process, or per dedupe.once_window)."),
    (c"info_once", m_info_once, c"info_once($self, msg, /, **fields)\n--\n\ninfo(), once per call site and message (per process, or per dedupe.once_window)."),
    (c"warning_once", m_warning_once, c"warning_once($self, msg, /, **fields)\n--\n\nwarning(), once per call site and message (per process, or per dedupe.once_window)."),
    (c"error_once", m_error_once, c"error_once($self, msg, /, **fields)\n--\n\nerror(), once per call site and message (per process, or per dedupe.once_window)."),
    (c"critical_once", m_critical_once, c"critical_once($self, msg, /, **fields)\n--\n\ncritical(), once per call site and message (per process, or per dedupe.once_window)."),
    (c"log_once", m_log_once, c"log_once($self, level, msg, /, **fields)\n--\n\nlog(), once per call site and message (per process, or per dedupe.once_window)."),
    (c"atrace_once", m_atrace_once, c"atrace_once($self, msg, /, **fields)\n--\n\nAwaitable trace_once()."),
    (c"adebug_once", m_adebug_once, c"adebug_once($self, msg, /, **fields)\n--\n\nAwaitable debug_once()."),
    (c"ainfo_once", m_ainfo_once, c"ainfo_once($self, msg, /, **fields)\n--\n\nAwaitable info_once()."),
    (c"awarning_once", m_awarning_once, c"awarning_once($self, msg, /, **fields)\n--\n\nAwaitable warning_once()."),
    (c"aerror_once", m_aerror_once, c"aerror_once($self, msg, /, **fields)\n--\n\nAwaitable error_once()."),
    (c"acritical_once", m_acritical_once, c"acritical_once($self, msg, /, **fields)\n--\n\nAwaitable critical_once()."),
    (c"alog_once", m_alog_once, c"alog_once($self, level, msg, /, **fields)\n--\n\nAwaitable log_once()."),
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
