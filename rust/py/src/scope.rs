//! Request scopes: one canonical ("wide") event per request, tail-sampled when the scope
//! ends, and a fingers-crossed buffer of the events the logger's level would drop.
//!
//! A scope is a [`RequestScope`] held in one ContextVar (`request_scope_var`): tasks created
//! inside the scope and `asyncio.to_thread` calls copy the context, so they all find the same
//! object, and whatever they add lands in the same event. Accumulation is thread-safe: the
//! fields dict is only touched with the GIL held and without running Python code in between,
//! the counters sit behind a mutex.
//!
//! The buffer holds whole encoded lines (encoded once, by the same encoder as any event);
//! they are pushed to the ring only when an event at or above the trigger level is logged in
//! the scope (or the scope ends in error), else discarded at the end and counted. Every
//! pipeline has one byte budget shared by all its scopes, enforced with an atomic counter.

use crate::logger::Logger;
use crate::shared::Shared;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyFloat, PyInt, PyString};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The ContextVar holding the current request scope (its values are per-context).
static SCOPE_VAR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub fn scope_var(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    SCOPE_VAR.get_or_try_init(py, || {
        // SAFETY: the GIL is held; `PyContextVar_New` returns a new reference or NULL+error.
        unsafe {
            let var =
                ffi::PyContextVar_New(c"ferrolog_request_scope".as_ptr(), std::ptr::null_mut());
            Bound::from_owned_ptr_or_err(py, var).map(Bound::unbind)
        }
    })
}

/// The request scope current in this context, if any.
#[inline]
pub fn current(py: Python<'_>) -> Option<Bound<'_, RequestScope>> {
    crate::context::value_of(py, SCOPE_VAR.get(py)?)
}

/// A pipeline's request-event settings and counters (part of [`Shared`]).
pub struct Scopes {
    /// Whether the FastAPI middleware opens a scope per request (read by Python).
    pub enabled: bool,
    /// Requests at least this slow (seconds) are always kept.
    slow_threshold: Option<f64>,
    /// Keep 1 in N of the other requests; per route where configured.
    keep_one_in: u64,
    per_route: HashMap<String, (u64, AtomicU64)>,
    seen_default: AtomicU64,
    /// The lowest level the buffer holds (`i32::MAX`: no buffer).
    pub buffer_level: i32,
    /// Events at or above this level flush the scope's buffer.
    pub trigger_level: i32,
    max_events: usize,
    max_bytes: usize,
    /// Bytes held by all the scopes' buffers now.
    used_bytes: AtomicUsize,
    /// Open scopes: while 0, an event at the trigger level or held by a buffer costs one
    /// load more, and nothing else.
    open: AtomicUsize,
    written: AtomicU64,
    sampled_out: AtomicU64,
    late_adds: AtomicU64,
    buffered: AtomicU64,
    flushed: AtomicU64,
    discarded: AtomicU64,
    evicted: AtomicU64,
}

impl Default for Scopes {
    fn default() -> Self {
        Self {
            enabled: true,
            slow_threshold: None,
            keep_one_in: 1,
            per_route: HashMap::new(),
            seen_default: AtomicU64::new(0),
            buffer_level: i32::MAX,
            trigger_level: crate::levels::ERROR,
            max_events: 1000,
            max_bytes: 8 << 20,
            used_bytes: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            sampled_out: AtomicU64::new(0),
            late_adds: AtomicU64::new(0),
            buffered: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }
}

fn positive(d: &Bound<'_, PyDict>, key: &str, default: u64) -> PyResult<u64> {
    match d.get_item(key)? {
        None => Ok(default),
        Some(v) if v.is_none() => Ok(default),
        Some(v) => match v.extract::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(PyValueError::new_err(format!(
                "request_events.{key} must be a whole number >= 1, got {}",
                v.repr()?
            ))),
        },
    }
}

impl Scopes {
    /// Parse the `request_events` dict of `Pipeline(...)`; levels are names or numbers.
    pub fn parse(
        d: Option<&Bound<'_, PyDict>>,
        levels: &crate::levels::LevelTable,
    ) -> PyResult<Self> {
        let mut s = Self::default();
        let Some(d) = d else { return Ok(s) };
        const KNOWN: [&str; 9] = [
            "enabled",
            "slow_threshold",
            "keep_one_in",
            "per_route",
            "buffer",
            "buffer_level",
            "trigger_level",
            "max_events",
            "max_bytes",
        ];
        for k in d.keys() {
            let name = k.str()?.to_string_lossy().into_owned();
            if !KNOWN.contains(&name.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "request_events has no option {name:?}; known: {}",
                    KNOWN.join(", ")
                )));
            }
        }
        if let Some(v) = d.get_item("enabled")? {
            s.enabled = v.is_truthy()?;
        }
        if let Some(v) = d.get_item("slow_threshold")?.filter(|v| !v.is_none()) {
            match v.extract::<f64>() {
                Ok(t) if t.is_finite() && t >= 0.0 => s.slow_threshold = Some(t),
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "request_events.slow_threshold must be a non-negative number of seconds, got {}",
                        v.repr()?
                    )))
                }
            }
        }
        s.keep_one_in = positive(d, "keep_one_in", 1)?;
        if let Some(routes) = d.get_item("per_route")?.filter(|v| !v.is_none()) {
            let routes = routes.cast_into::<PyDict>().map_err(|_| {
                PyTypeError::new_err("request_events.per_route must be a dict: route -> N")
            })?;
            for (k, v) in routes.iter() {
                let route = k.cast_into::<PyString>().map_err(|_| {
                    PyTypeError::new_err("request_events.per_route keys must be str (routes)")
                })?;
                let route = route.to_string_lossy().into_owned();
                let n = match v.extract::<u64>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(PyValueError::new_err(format!(
                        "request_events.per_route[{route:?}] must be a whole number >= 1, got {}",
                        v.repr()?
                    )))
                    }
                };
                s.per_route.insert(route, (n, AtomicU64::new(0)));
            }
        }
        let buffer = match d.get_item("buffer")? {
            Some(v) => v.is_truthy()?,
            None => false,
        };
        if buffer {
            s.buffer_level = match d.get_item("buffer_level")?.filter(|v| !v.is_none()) {
                Some(l) => levels.parse(&l)?,
                None => crate::levels::DEBUG,
            };
        }
        if let Some(l) = d.get_item("trigger_level")?.filter(|v| !v.is_none()) {
            s.trigger_level = levels.parse(&l)?;
        }
        if buffer && s.trigger_level <= s.buffer_level {
            return Err(PyValueError::new_err(format!(
                "request_events: the buffer's trigger level ({}) must be above the level it holds ({})",
                s.trigger_level, s.buffer_level
            )));
        }
        s.max_events = usize::try_from(positive(d, "max_events", 1000)?).unwrap_or(usize::MAX);
        s.max_bytes = usize::try_from(positive(d, "max_bytes", 8 << 20)?).unwrap_or(usize::MAX);
        Ok(s)
    }

    /// Whether any scope is open (the one check on the dropped-by-level path).
    #[inline]
    pub fn any_open(&self) -> bool {
        self.open.load(Ordering::Relaxed) != 0
    }

    /// Take `n` bytes of the budget, if they are left.
    fn reserve(&self, n: usize) -> bool {
        let mut cur = self.used_bytes.load(Ordering::Relaxed);
        loop {
            let Some(next) = cur.checked_add(n).filter(|&t| t <= self.max_bytes) else {
                return false;
            };
            match self.used_bytes.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    fn release(&self, n: usize) {
        self.used_bytes.fetch_sub(n, Ordering::AcqRel);
    }

    /// Whether the event of a scope that ended well is kept, and its sampling rate.
    fn sample(&self, route: Option<&str>) -> (bool, u64) {
        let (n, seen) = match route.and_then(|r| self.per_route.get(r)) {
            Some((n, seen)) => (*n, seen),
            None => (self.keep_one_in, &self.seen_default),
        };
        if n <= 1 {
            return (true, 1);
        }
        // The first of every N is kept: deterministic, so counts re-weight exactly.
        let i = seen.fetch_add(1, Ordering::Relaxed);
        (i % n == 0, n)
    }

    /// Add the counters to `stats()`.
    pub fn add_stats(&self, d: &Bound<'_, PyDict>) -> PyResult<()> {
        let r = Ordering::Relaxed;
        d.set_item("request_events", self.written.load(r))?;
        d.set_item("request_events_sampled_out", self.sampled_out.load(r))?;
        d.set_item("request_late_adds", self.late_adds.load(r))?;
        d.set_item("buffered", self.buffered.load(r))?;
        d.set_item("buffer_flushed", self.flushed.load(r))?;
        d.set_item("buffer_discarded", self.discarded.load(r))?;
        d.set_item("buffer_evicted", self.evicted.load(r))?;
        d.set_item("buffer_bytes", self.used_bytes.load(r))?;
        Ok(())
    }
}

/// A number a counter or timing adds up.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => match a.checked_add(b) {
                Some(c) => Num::Int(c),
                None => Num::Float(a as f64 + b as f64),
            },
            (a, b) => Num::Float(a.float() + b.float()),
        }
    }
    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn num_of(v: &Bound<'_, PyAny>, what: &str) -> PyResult<Num> {
    if v.is_instance_of::<PyInt>() && !v.is_instance_of::<pyo3::types::PyBool>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Num::Int(i));
        }
    }
    if v.is_instance_of::<PyFloat>() || v.is_instance_of::<PyInt>() {
        let f = v.extract::<f64>()?;
        if f.is_finite() {
            return Ok(Num::Float(f));
        }
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a finite int or float, got {}",
        v.repr()?
    )))
}

#[derive(Default)]
struct Buffer {
    lines: VecDeque<Box<[u8]>>,
    bytes: usize,
    /// Events evicted (oldest first) to stay within the bounds.
    evicted: u64,
    /// An event at the trigger level happened: what was held is written, the rest goes
    /// straight through, and the scope's canonical event is an error (always kept).
    triggered: bool,
}

/// One open request scope: the fields of its canonical event, its counters and timings, and
/// its buffer. Made by `ferrolog.request_scope(...)`; usable from any thread.
#[pyclass(frozen, module = "ferrolog._native")]
pub struct RequestScope {
    logger: Py<Logger>,
    shared: Arc<Shared>,
    message: Py<PyString>,
    fields: Py<PyDict>,
    counters: Mutex<Vec<(String, Num)>>,
    started: Instant,
    closed: AtomicBool,
    buffer: Mutex<Buffer>,
}

#[pymethods]
impl RequestScope {
    // Its fields may lead back here (a value holding the scope), and so may its logger's.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.logger)?;
        visit.call(&self.fields)
    }

    /// Open a scope whose canonical event `logger` writes with `message` when it finishes.
    #[new]
    #[pyo3(signature = (logger, message = None, **fields))]
    fn new(
        py: Python<'_>,
        logger: Bound<'_, Logger>,
        message: Option<Bound<'_, PyString>>,
        fields: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let shared = logger.get().shared.clone();
        let fields = match fields {
            Some(f) => f.copy()?,
            None => PyDict::new(py),
        };
        shared.scopes.open.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            logger: logger.unbind(),
            shared,
            message: message
                .unwrap_or_else(|| PyString::new(py, "request handled"))
                .unbind(),
            fields: fields.unbind(),
            counters: Mutex::new(Vec::new()),
            started: Instant::now(),
            closed: AtomicBool::new(false),
            buffer: Mutex::new(Buffer::default()),
        })
    }

    /// Add fields to the canonical event (replacing ones of the same name). False, and
    /// counted in `request_late_adds`, once the scope has finished.
    #[pyo3(signature = (**fields))]
    fn add(&self, py: Python<'_>, fields: Option<Bound<'_, PyDict>>) -> PyResult<bool> {
        if self.late() {
            return Ok(false);
        }
        if let Some(f) = fields {
            self.fields.bind(py).update(f.as_mapping())?;
        }
        Ok(true)
    }

    /// Add `n` to the counter `name` (a field of the canonical event, starting at 0).
    #[pyo3(signature = (name, n = None))]
    fn incr(&self, name: &str, n: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
        let n = match n {
            Some(v) => num_of(&v, "incr's n")?,
            None => Num::Int(1),
        };
        Ok(self.accumulate(name, n))
    }

    /// Add `ms` milliseconds to the timing `name` (a field of the canonical event).
    fn timing(&self, name: &str, ms: Bound<'_, PyAny>) -> PyResult<bool> {
        let ms = num_of(&ms, "timing's ms")?;
        Ok(self.accumulate(name, Num::Float(ms.float())))
    }

    /// Whether the scope has finished (its event written or sampled out).
    #[getter]
    fn finished(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The canonical event's fields so far (added fields, then counters and timings).
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.fields.bind(py).copy()?;
        self.put_counters(&d)?;
        Ok(d)
    }

    /// Milliseconds since the scope opened.
    #[getter]
    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// End the scope: decide by the sampling rules and write the canonical event (returns
    /// whether it was written). `error` is the exception that escaped, if any: it (or a
    /// status of 500 and above) makes the request an error, always kept, and flushes the
    /// buffer first. A second call does nothing and returns False.
    #[pyo3(signature = (error = None))]
    fn finish(&self, py: Python<'_>, error: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(false);
        }
        let scopes = &self.shared.scopes;
        scopes.open.fetch_sub(1, Ordering::Relaxed);
        let duration = self.started.elapsed().as_secs_f64();
        let d = self.fields.bind(py).copy()?;
        self.put_counters(&d)?;
        let error = error.filter(|e| !e.is_none());
        let cancelled = match &error {
            Some(e) => e.is_instance(&cancelled_error(py)?)?,
            None => false,
        };
        let status = d.get_item("status")?;
        let server_error = status
            .as_ref()
            .and_then(|s| s.extract::<i64>().ok())
            .is_some_and(|s| s >= 500);
        // An event at the trigger level logged in the scope makes it an error too.
        let logged_error = self
            .buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .triggered;
        let failed = error.is_some() || server_error || logged_error;
        let route = d
            .get_item("route")?
            .and_then(|r| r.extract::<String>().ok());
        let slow = scopes.slow_threshold.is_some_and(|t| duration >= t);
        let (keep, rate) = if failed || slow {
            (true, 1)
        } else {
            scopes.sample(route.as_deref())
        };
        if failed {
            self.flush_buffer(py, &self.logger.bind(py).clone());
        }
        self.discard_buffer();
        if !keep {
            scopes.sampled_out.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        if status.is_none() {
            let s = if cancelled {
                "cancelled"
            } else if error.is_some() || logged_error {
                "error"
            } else {
                "ok"
            };
            d.set_item("status", s)?;
        }
        d.set_item("duration_ms", (duration * 1_000_000.0).round() / 1000.0)?;
        if let Some(e) = &error {
            d.set_item("error_type", e.get_type().qualname()?)?;
            if e.is_instance_of::<pyo3::exceptions::PyException>() {
                d.set_item("exc_info", e)?;
            }
        }
        d.set_item("sample_rate", rate)?;
        let level = if failed {
            crate::levels::ERROR
        } else {
            crate::levels::INFO
        };
        let logger = self.logger.bind(py);
        match logger.call_method("log", (level, self.message.bind(py)), Some(&d)) {
            Ok(_) => {
                scopes.written.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(_) => {
                self.shared.core.count_error();
                Ok(false)
            }
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<ferrolog.RequestScope {} elapsed_ms={:.3}>",
            if self.finished() { "finished" } else { "open" },
            self.elapsed_ms()
        )
    }
}

fn cancelled_error(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static CANCELLED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    Ok(CANCELLED
        .get_or_try_init(py, || {
            crate::logger::import_attr(py, "asyncio", "CancelledError")
        })?
        .bind(py)
        .clone())
}

impl RequestScope {
    /// Whether the scope has finished; an add then is counted and ignored.
    fn late(&self) -> bool {
        if self.closed.load(Ordering::Acquire) {
            self.shared.scopes.late_adds.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn accumulate(&self, name: &str, n: Num) -> bool {
        if self.late() {
            return false;
        }
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        match c.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = v.add(n),
            None => c.push((name.to_owned(), n)),
        }
        true
    }

    fn put_counters(&self, d: &Bound<'_, PyDict>) -> PyResult<()> {
        let c = self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (k, v) in c {
            match v {
                Num::Int(i) => d.set_item(k, i)?,
                Num::Float(f) => d.set_item(k, (f * 1000.0).round() / 1000.0)?,
            }
        }
        Ok(())
    }

    /// Whether this scope belongs to `shared`'s pipeline and is still open.
    fn serves(&self, shared: &Arc<Shared>) -> bool {
        Arc::ptr_eq(&self.shared, shared) && !self.closed.load(Ordering::Acquire)
    }

    /// Hold one encoded line; the oldest go first when the scope's count or the pipeline's
    /// byte budget would be exceeded.
    pub(crate) fn hold(&self, line: &[u8]) {
        let scopes = &self.shared.scopes;
        let mut b = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        scopes.buffered.fetch_add(1, Ordering::Relaxed);
        // Finished meanwhile (on another thread): its buffer was discarded under this lock
        // already, or will be after us; either way nothing may stay held past the end.
        if self.closed.load(Ordering::Acquire) {
            scopes.discarded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        while b.lines.len() >= scopes.max_events {
            evict_oldest(scopes, &mut b);
        }
        while !scopes.reserve(line.len()) {
            if b.lines.is_empty() {
                // Larger than what is left of the whole budget: this one goes.
                b.evicted += 1;
                scopes.evicted.fetch_add(1, Ordering::Relaxed);
                return;
            }
            evict_oldest(scopes, &mut b);
        }
        b.bytes += line.len();
        b.lines.push_back(line.into());
    }

    /// Write what the buffer holds (after a marker event naming how many were evicted), and
    /// let what follows in this scope through.
    fn flush_buffer(&self, py: Python<'_>, logger: &Bound<'_, Logger>) {
        let scopes = &self.shared.scopes;
        let (lines, evicted) = {
            let mut b = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
            if b.triggered {
                return;
            }
            b.triggered = true;
            scopes.release(b.bytes);
            b.bytes = 0;
            (std::mem::take(&mut b.lines), std::mem::take(&mut b.evicted))
        };
        if evicted > 0 {
            let kwargs = PyDict::new(py);
            let logged = kwargs
                .set_item("evicted", evicted)
                .and_then(|()| {
                    logger.call_method(
                        "log",
                        (
                            crate::levels::WARNING,
                            format!("{evicted} earlier buffered event(s) evicted"),
                        ),
                        Some(&kwargs),
                    )
                })
                .is_ok();
            if !logged {
                self.shared.core.count_error();
            }
        }
        let l = logger.get();
        for line in &lines {
            if crate::tap::active() && crate::tap::send(py, line).is_err() {
                // SAFETY: the GIL is held.
                unsafe { ffi::PyErr_Clear() };
                self.shared.core.count_error();
            }
            l.push(py, line, false);
        }
        scopes
            .flushed
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
    }

    /// Drop what the buffer still holds, counted.
    fn discard_buffer(&self) {
        let scopes = &self.shared.scopes;
        let mut b = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        scopes.release(b.bytes);
        b.bytes = 0;
        scopes
            .discarded
            .fetch_add(b.lines.len() as u64, Ordering::Relaxed);
        b.lines.clear();
    }
}

fn evict_oldest(scopes: &Scopes, b: &mut Buffer) {
    if let Some(old) = b.lines.pop_front() {
        b.bytes -= old.len();
        scopes.release(old.len());
        b.evicted += 1;
        scopes.evicted.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for RequestScope {
    /// A scope nobody finished gives its budget back (its buffer counted discarded).
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.shared.scopes.open.fetch_sub(1, Ordering::Relaxed);
        }
        self.discard_buffer();
    }
}

/// What a log call below its logger's level does inside a scope.
pub(crate) enum Below<'py> {
    /// Not held: dropped by level as usual.
    Drop,
    /// Held in this scope's buffer.
    Hold(Bound<'py, RequestScope>),
    /// The scope has triggered: written like any event.
    Write,
}

/// Whether an event `level` below its logger's level goes to a scope's buffer.
#[inline]
pub(crate) fn below_level<'py>(py: Python<'py>, shared: &Arc<Shared>, level: i32) -> Below<'py> {
    let scopes = &shared.scopes;
    if !scopes.any_open() || level < scopes.buffer_level {
        return Below::Drop;
    }
    held_by(py, shared)
}

#[cold]
fn held_by<'py>(py: Python<'py>, shared: &Arc<Shared>) -> Below<'py> {
    match current(py) {
        Some(scope) if scope.get().serves(shared) => {
            let triggered = scope
                .get()
                .buffer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .triggered;
            if triggered {
                Below::Write
            } else {
                Below::Hold(scope)
            }
        }
        _ => Below::Drop,
    }
}

/// An event at or above the trigger level: flush the current scope's buffer first.
#[cold]
pub(crate) fn trigger(py: Python<'_>, logger: &Bound<'_, Logger>) {
    let shared = &logger.get().shared;
    if let Some(scope) = current(py) {
        if scope.get().serves(shared) {
            scope.get().flush_buffer(py, logger);
        }
    }
}

/// Add fields to the current request scope's canonical event; False when no scope is open
/// (or it has finished: then counted in `request_late_adds`).
#[pyfunction]
#[pyo3(signature = (**fields))]
pub fn add_to_request_event(py: Python<'_>, fields: Option<Bound<'_, PyDict>>) -> PyResult<bool> {
    match current(py) {
        Some(scope) => scope.get().add(py, fields),
        None => Ok(false),
    }
}

/// Add `n` (default 1) to the counter `name` of the current request scope's event.
#[pyfunction]
#[pyo3(signature = (name, n = None))]
pub fn request_counter(py: Python<'_>, name: &str, n: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
    match current(py) {
        Some(scope) => scope.get().incr(name, n),
        None => Ok(false),
    }
}

/// Add `ms` milliseconds to the timing `name` of the current request scope's event.
#[pyfunction]
pub fn request_timing(py: Python<'_>, name: &str, ms: Bound<'_, PyAny>) -> PyResult<bool> {
    match current(py) {
        Some(scope) => scope.get().timing(name, ms),
        None => Ok(false),
    }
}

/// The request scope current in this context, or None.
#[pyfunction]
pub fn current_request_scope(py: Python<'_>) -> Option<Bound<'_, RequestScope>> {
    current(py)
}

/// Whether `logger`'s pipeline has request events on for the FastAPI middleware.
#[pyfunction]
pub fn request_events_enabled(logger: Bound<'_, Logger>) -> bool {
    logger.get().shared.scopes.enabled
}
