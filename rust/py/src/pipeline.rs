//! The Python handle of a pipeline: one ring, one writer thread, its sinks and counters.

use crate::flush::{FlushTarget, FlushTicket, PySinkFlush};
use crate::logger::{LevelTable, Logger};
use crate::schema::Schema;
use ferrolog_core::{
    Batch, FileConfig, FileSink, NullSink, Overflow, PipelineConfig, RotateEvery, Sink, StderrSink,
    StdoutSink,
};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// Live pipelines, weakly held, for the fork and interpreter-exit hooks (the one piece of
/// process-wide state: those hooks are process-wide by nature).
static LIVE: Mutex<Live> = Mutex::new(Vec::new());

fn live_pipelines() -> Vec<Arc<Shared>> {
    let mut live = lock_live();
    live.retain(|w| w.strong_count() > 0);
    live.iter().filter_map(Weak::upgrade).collect()
}

type Live = Vec<Weak<Shared>>;

thread_local! {
    /// The registry's guard, held by the forking thread from `_before_fork` to the after-fork
    /// hook, so that no other thread holds the registry at the moment of `fork()`.
    static FORK_GUARD: std::cell::RefCell<Option<MutexGuard<'static, Live>>> =
        const { std::cell::RefCell::new(None) };
}

fn lock_live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registered with `os.register_at_fork(before=...)`: take the live-pipeline registry, so the
/// child gets it consistent and unlocked.
#[pyfunction]
pub fn _before_fork() {
    // Waiting for it with the GIL held cannot deadlock: no holder of LIVE waits for the GIL.
    let guard = lock_live();
    FORK_GUARD.with(|g| *g.borrow_mut() = Some(guard));
}

/// Registered with `os.register_at_fork(after_in_parent=...)`: let go of the registry.
#[pyfunction]
pub fn _after_fork_parent() {
    FORK_GUARD.with(|g| g.borrow_mut().take());
}

/// Registered with `os.register_at_fork(after_in_child=...)`: in the child, every pipeline
/// forgets the parent's pending records and gets a writer thread of its own; Python sinks get
/// a runner thread of their own too (the parent's do not exist here).
#[pyfunction]
pub fn _after_fork_child(py: Python<'_>) {
    // The guard taken before the fork; without one (a fork that bypassed the hooks' order)
    // the lock is free anyway: no other thread exists in the child.
    let guard = FORK_GUARD
        .with(|g| g.borrow_mut().take())
        .unwrap_or_else(lock_live);
    let pipelines: Vec<_> = guard.iter().filter_map(Weak::upgrade).collect();
    drop(guard);
    for shared in pipelines {
        after_fork(&shared.core);
        // The old thread object names a thread that does not exist in the child.
        *shared.runner.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Some(f) = &shared.py_flush {
            f.reset();
        }
        if !shared.py_sinks.is_empty()
            && !shared.core.is_closed()
            && start_runner(py, &shared).is_err()
        {
            shared.core.count_error();
        }
    }
}

/// In a forked child: an empty ring, zeroed counters and a writer thread of its own.
fn after_fork(p: &Arc<ferrolog_core::Pipeline>) {
    // SAFETY: called from the `after_in_child` fork hook, before any other thread of the
    // child exists or can use the pipeline (Python runs the hook right after fork()).
    if unsafe { p.after_fork_child() }.is_err() {
        p.count_error();
    }
}

/// Registered with `atexit`: close every open pipeline, all within `timeout` seconds — drain
/// the ring, close the native sinks (finishing their gzip jobs), and let each Python sink's
/// runner call `flush()` and `stop()`. Later events are dropped and counted.
#[pyfunction]
#[pyo3(signature = (timeout = 5.0))]
pub fn _close_all(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let deadline = Instant::now() + timeout_of(Some(timeout))?;
    let mut ok = true;
    for shared in live_pipelines() {
        ok &= close(py, &shared, deadline)?;
    }
    Ok(ok)
}

/// Close one pipeline by `deadline`: the core first (its writer drains and closes the native
/// sinks), then the Python sinks' runner, which stops once the channel is empty.
fn close(py: Python<'_>, shared: &Shared, deadline: Instant) -> PyResult<bool> {
    let core = shared.core.clone();
    let ok = py.detach(move || core.close(deadline.saturating_duration_since(Instant::now())));
    let runner = shared
        .runner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(runner) = runner {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        runner.bind(py).call_method1("join", (left.max(0.05),))?;
    }
    Ok(ok)
}

/// What every logger of a pipeline shares; immutable once built.
pub struct Shared {
    pub core: Arc<ferrolog_core::Pipeline>,
    pub schema: Schema,
    pub max_event_bytes: usize,
    pub levels: LevelTable,
    /// Sinks written in Python; one runner thread hands them each batch.
    py_sinks: Vec<Py<PyAny>>,
    /// The runner thread (`threading.Thread`), when there are Python sinks.
    runner: Mutex<Option<Py<PyAny>>>,
    /// Flush requests to the runner, when there are Python sinks.
    py_flush: Option<Arc<PySinkFlush>>,
}

impl Shared {
    /// What a flush of this pipeline waits on.
    pub fn flush_target(&self) -> FlushTarget {
        FlushTarget {
            core: Arc::clone(&self.core),
            py_sinks: self.py_flush.clone(),
        }
    }
}

impl Drop for Shared {
    /// A pipeline nobody closed is closed when its last logger and handle are gone, so its
    /// writer thread does not outlive it.
    fn drop(&mut self) {
        if self.core.is_closed() {
            return;
        }
        let core = Arc::clone(&self.core);
        let close = move || core.close(Duration::from_secs(1));
        // Dropped from a Python object's deallocation: let go of the GIL while draining, so a
        // Python sink's runner can still take the last batches.
        if Python::try_attach(|py| py.detach(close.clone())).is_none() {
            close();
        }
    }
}

/// A running pipeline. Create loggers with [`Pipeline::logger`]; close it when done.
#[pyclass(frozen, module = "ferrolog._native", weakref)]
pub struct Pipeline {
    pub(crate) shared: Arc<Shared>,
}

/// Batches the writer may queue for the Python sinks' runner before it waits for it.
const PY_SINK_BATCHES: usize = 4;

/// One batch handed to the Python sinks' runner. Settles (as failed) when dropped unsettled, so
/// a runner that dies mid-batch cannot leave `flush()` waiting forever.
#[pyclass(frozen, module = "ferrolog._native", name = "Batch")]
pub struct PyBatch {
    batch: Arc<Batch>,
}

#[pymethods]
impl PyBatch {
    /// The batch's complete NDJSON lines.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.batch.data())
    }

    /// How many events the batch holds.
    #[getter]
    fn records(&self) -> u64 {
        self.batch.records()
    }

    /// Report whether every Python sink wrote the batch; only the first report counts.
    fn settle(&self, ok: bool) {
        self.batch.settle(ok);
    }
}

impl Drop for PyBatch {
    fn drop(&mut self) {
        self.batch.settle(false);
    }
}

/// Start the thread that hands each batch to the Python sinks (none without Python sinks).
fn start_runner(py: Python<'_>, shared: &Arc<Shared>) -> PyResult<()> {
    if shared.py_sinks.is_empty() {
        return Ok(());
    }
    let start = py.import("ferrolog._sinks")?.getattr("start_runner")?;
    let channel = Py::new(
        py,
        SinkChannel {
            shared: Arc::downgrade(shared),
        },
    )?;
    let sinks = PyList::new(py, shared.py_sinks.iter().map(|s| s.bind(py)))?;
    let thread = start.call1((channel, sinks))?;
    *shared.runner.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread.unbind());
    Ok(())
}

/// The Python sinks' side of a pipeline's channel. Holds the pipeline weakly, so a pipeline
/// nobody references any more is still collected (which closes it and ends the runner).
#[pyclass(frozen, module = "ferrolog._native")]
pub struct SinkChannel {
    shared: Weak<Shared>,
}

#[pymethods]
impl SinkChannel {
    /// Wait (GIL released) up to `timeout` seconds for a batch. Returns a Batch to write and
    /// settle, None when nothing came (or a flush is wanted: see `pending_flush`), or False
    /// once the pipeline is closed and drained.
    fn take_batch<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
        let done = || Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any());
        let Some(shared) = self.shared.upgrade() else {
            return done();
        };
        let deadline = Instant::now() + timeout_of(Some(timeout))?;
        let core = shared.core.clone();
        let flush = shared.py_flush.clone();
        // In slices, so that a flush request is seen within one.
        let batch = py.detach(move || loop {
            if flush.as_ref().is_some_and(|f| f.pending().is_some()) {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(batch) = core.take_batch(left.min(FLUSH_POLL)) {
                return Some(batch);
            }
            if left <= FLUSH_POLL || core.has_exited() {
                return None;
            }
        });
        match batch {
            Some(batch) => Ok(Bound::new(py, PyBatch { batch })?.into_any()),
            None if shared.core.has_exited() => done(),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// The flush request to serve (call every Python sink's `flush()`, then `flushed(it)`).
    fn pending_flush(&self) -> Option<u64> {
        self.shared.upgrade()?.py_flush.as_ref()?.pending()
    }

    /// Every Python sink's `flush()` was called after request `seq`.
    fn flushed(&self, seq: u64) {
        if let Some(f) = self.shared.upgrade().and_then(|s| s.py_flush.clone()) {
            f.served(seq);
        }
    }

    /// The runner is stopping (sinks flushed and stopped): flushes need not wait for it.
    fn runner_exited(&self) {
        if let Some(f) = self.shared.upgrade().and_then(|s| s.py_flush.clone()) {
            f.runner_exited();
        }
    }
}

/// How often a waiting runner looks for a flush request.
const FLUSH_POLL: Duration = Duration::from_millis(5);

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// What "no limit" means: a day.
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

fn timeout_of(t: Option<f64>) -> PyResult<Duration> {
    match t {
        None => Ok(DEFAULT_TIMEOUT),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s).min(MAX_TIMEOUT)),
        Some(s) => Err(PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds, got {s}"
        ))),
    }
}

#[pymethods]
impl Pipeline {
    /// Start a pipeline writing to `sinks` (dicts with a `type`: stdout, stderr, null, file).
    #[new]
    /// `capacity_bytes` defaults to 4 MiB, `batch_bytes` to 64 KiB, `max_event_bytes` to
    /// 64 KiB (or what a smaller ring can hold).
    #[pyo3(signature = (*, sinks, capacity_bytes = None, overflow = "drop", block_timeout = 1.0,
                        batch_bytes = None, linger = 0.001, max_event_bytes = None,
                        schema = "default", levels = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sinks: Bound<'_, PyAny>,
        capacity_bytes: Option<Bound<'_, PyAny>>,
        overflow: &str,
        block_timeout: f64,
        batch_bytes: Option<Bound<'_, PyAny>>,
        linger: f64,
        max_event_bytes: Option<Bound<'_, PyAny>>,
        schema: &str,
        levels: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let schema = Schema::parse(schema).ok_or_else(|| {
            PyValueError::new_err(format!(
                "schema must be 'default', 'ecs' or 'otel', got {schema:?}"
            ))
        })?;
        if !(block_timeout.is_finite() && block_timeout > 0.0) {
            return Err(PyValueError::new_err(format!(
                "block_timeout must be a positive number of seconds, got {block_timeout}"
            )));
        }
        let block_timeout = Duration::from_secs_f64(block_timeout).min(MAX_TIMEOUT);
        let overflow = match overflow.to_ascii_lowercase().as_str() {
            "drop" => Overflow::Drop,
            "block" => Overflow::Block {
                timeout: block_timeout,
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "overflow must be 'drop' or 'block', got {other:?}"
                )))
            }
        };
        let capacity_bytes =
            size_arg("capacity_bytes", capacity_bytes, 4096, 4 << 20)?.expect("has a default");
        let batch_bytes = size_arg("batch_bytes", batch_bytes, 4096, 64 << 10)?.expect("default");
        let max_event_bytes = size_arg("max_event_bytes", max_event_bytes, 256, 0)?;
        if !(linger.is_finite() && (0.0..=1.0).contains(&linger)) {
            return Err(PyValueError::new_err(format!(
                "linger must be between 0 and 1 second, got {linger}"
            )));
        }
        let mut custom = Vec::new();
        if let Some(levels) = levels {
            for (k, v) in levels.iter() {
                custom.push((k.extract::<i32>()?, v.extract::<String>()?));
            }
        }
        let levels = LevelTable::new(schema, &custom)?;
        let mut native: Vec<Box<dyn Sink>> = Vec::new();
        let mut py_sinks = Vec::new();
        if sinks.is_instance_of::<PyString>()
            || sinks.is_instance_of::<PyDict>()
            || sinks.is_instance_of::<PyBytes>()
        {
            return Err(PyTypeError::new_err(format!(
                "sinks must be a list of sinks (dicts with a 'type', or objects with write_batch), got {}",
                sinks.get_type().name()?
            )));
        }
        let sinks = sinks.try_iter().map_err(|_| {
            PyTypeError::new_err(
                "sinks must be a list of sinks (dicts with a 'type', or objects with write_batch)",
            )
        })?;
        for (i, spec) in sinks.enumerate() {
            let spec = spec?;
            if !spec.is_instance_of::<PyDict>() && spec.hasattr("write_batch")? {
                py_sinks.push(spec.clone().unbind());
            } else {
                native.push(parse_sink(i, &spec)?);
            }
        }
        if native.is_empty() && py_sinks.is_empty() {
            return Err(PyValueError::new_err(
                "sinks is empty: a pipeline needs at least one sink, e.g. [{'type': 'stdout'}]",
            ));
        }
        let config = PipelineConfig {
            capacity_bytes,
            overflow,
            batch_bytes,
            linger: Duration::from_secs_f64(linger),
            channel_batches: if py_sinks.is_empty() {
                0
            } else {
                PY_SINK_BATCHES
            },
        };
        let core = ferrolog_core::Pipeline::start(config, native).map_err(|e| match e.kind() {
            // The ring could not be allocated: the setting is what to change.
            std::io::ErrorKind::OutOfMemory | std::io::ErrorKind::InvalidInput => {
                PyValueError::new_err(format!(
                    "capacity_bytes={capacity_bytes}: the ring cannot be allocated ({e}); \
                     choose a smaller capacity"
                ))
            }
            _ => PyOSError::new_err(format!("cannot start the writer thread: {e}")),
        })?;
        // By default an event may take 64 KiB, or what a small ring can hold.
        let max_event_bytes = max_event_bytes.unwrap_or(core.max_record_len().min(64 << 10));
        if max_event_bytes > core.max_record_len() {
            let cap = core.max_record_len();
            core.close(Duration::from_secs(1));
            return Err(PyValueError::new_err(format!(
                "max_event_bytes ({max_event_bytes}) must fit in the ring: at most {cap} for capacity_bytes={capacity_bytes}"
            )));
        }

        let shared = Arc::new(Shared {
            core,
            schema,
            max_event_bytes,
            levels,
            py_flush: (!py_sinks.is_empty()).then(Arc::default),
            py_sinks,
            runner: Mutex::new(None),
        });
        start_runner(py, &shared)?;
        lock_live().push(Arc::downgrade(&shared));
        Ok(Self { shared })
    }

    /// A logger named `name` emitting events at `level` (number or name) and above.
    #[pyo3(signature = (name = None, level = None))]
    fn logger(
        slf: &Bound<'_, Self>,
        name: Option<Bound<'_, PyString>>,
        level: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Logger> {
        let py = slf.py();
        let name = name.unwrap_or_else(|| PyString::new(py, "app"));
        let this = slf.get();
        let level = match level {
            Some(l) => this.shared.levels.parse(&l)?,
            None => crate::logger::INFO,
        };
        Ok(Logger::create(
            py,
            slf.clone().unbind(),
            this.shared.clone(),
            name,
            level,
            PyDict::new(py),
        ))
    }

    /// Resolve a level number or name as this pipeline understands it.
    fn level_number(&self, level: Bound<'_, PyAny>) -> PyResult<i32> {
        self.shared.levels.parse(&level)
    }

    /// The levels this pipeline knows, number to name.
    fn level_names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (n, name) in self.shared.levels.items() {
            d.set_item(n, name)?;
        }
        Ok(d)
    }

    /// Block (GIL released) until everything emitted before the call is written or counted
    /// dropped and every sink (native and Python) was flushed, at most `timeout` seconds
    /// (default 5). True when it all happened in time.
    #[pyo3(signature = (timeout = None))]
    fn flush(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = Instant::now() + timeout_of(timeout)?;
        let target = slf.get().shared.flush_target();
        Ok(slf.py().detach(move || target.flush(deadline)))
    }

    /// Start an async flush now: a ticket the event loop polls (see `ferrolog._aio.flush`).
    /// `timeout=None` waits without limit.
    #[pyo3(signature = (timeout = None))]
    pub fn _start_flush(&self, timeout: Option<f64>) -> PyResult<FlushTicket> {
        let wait = match timeout {
            None => MAX_TIMEOUT,
            t => timeout_of(t)?,
        };
        Ok(FlushTicket::start(
            self.shared.flush_target(),
            Instant::now() + wait,
        ))
    }

    /// Drain within `timeout` seconds (default 5), stop the writer thread, close the sinks.
    /// Idempotent. Later log calls are dropped and counted.
    #[pyo3(signature = (timeout = None))]
    fn close(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = Instant::now() + timeout_of(timeout)?;
        close(slf.py(), &slf.get().shared, deadline)
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.shared.core.is_closed()
    }

    /// The schema's name.
    #[getter]
    fn schema(&self) -> &'static str {
        self.shared.schema.name()
    }

    /// Counters: emitted, written, dropped, errors, bytes, batches, high_water, capacity.
    pub fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.shared.core.stats();
        let d = PyDict::new(py);
        d.set_item("emitted", s.emitted)?;
        d.set_item("written", s.written)?;
        d.set_item("dropped", s.dropped)?;
        d.set_item("errors", s.errors)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("batches", s.batches)?;
        d.set_item("high_water", s.high_water)?;
        d.set_item("capacity", self.shared.core.capacity())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = self.shared.core.stats();
        format!(
            "<ferrolog Pipeline schema={} closed={} emitted={} written={} dropped={}>",
            self.shared.schema.name(),
            self.shared.core.is_closed(),
            s.emitted,
            s.written,
            s.dropped
        )
    }
}

/// The largest ring (and batch, and event) a pipeline accepts: 4 GiB.
const MAX_CAPACITY: u64 = 1 << 32;

/// A size setting in bytes, at least `min` and at most [`MAX_CAPACITY`]; None gives `default`
/// (None too when `default` is 0). Errors name the setting.
fn size_arg(
    name: &str,
    value: Option<Bound<'_, PyAny>>,
    min: u64,
    default: usize,
) -> PyResult<Option<usize>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok((default > 0).then_some(default));
    };
    if !value.is_instance_of::<pyo3::types::PyInt>()
        || value.is_instance_of::<pyo3::types::PyBool>()
    {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int (bytes), got {}",
            value.get_type().name()?
        )));
    }
    match value.extract::<u64>() {
        Ok(n) if (min..=MAX_CAPACITY).contains(&n) => Ok(Some(n as usize)),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be between {min} and {MAX_CAPACITY} bytes, got {}",
            value.repr()?
        ))),
    }
}

/// Build a native sink from its dict spec; errors name the sink's position and field.
fn parse_sink(index: usize, spec: &Bound<'_, PyAny>) -> PyResult<Box<dyn Sink>> {
    let where_ = format!("sinks[{index}]");
    let spec = spec.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{where_}: a sink is a dict with a 'type', got {}",
            spec.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })?;
    let get = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(spec.get_item(key)?.filter(|v| !v.is_none()))
    };
    let kind: String = get("type")?
        .ok_or_else(|| PyValueError::new_err(format!("{where_}: missing 'type'")))?
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{where_}.type must be a str")))?;
    Ok(match kind.as_str() {
        "stdout" => Box::new(StdoutSink::new()),
        "stderr" => Box::new(StderrSink::new()),
        "null" => Box::new(NullSink),
        "file" => {
            let path: PathBuf = get("path")?
                .ok_or_else(|| {
                    PyValueError::new_err(format!("{where_}: a file sink needs 'path'"))
                })?
                .extract()
                .map_err(|_| {
                    PyTypeError::new_err(format!("{where_}.path must be a str or path"))
                })?;
            let num = |key: &str| -> PyResult<Option<u64>> {
                get(key)?
                    .map(|v| {
                        v.extract::<u64>().map_err(|_| {
                            PyValueError::new_err(format!(
                                "{where_}.{key} must be a non-negative int"
                            ))
                        })
                    })
                    .transpose()
            };
            let rotate_every = match get("rotate_every")? {
                None => None,
                Some(v) => Some(if let Ok(secs) = v.extract::<u64>() {
                    if secs == 0 {
                        return Err(PyValueError::new_err(format!(
                            "{where_}.rotate_every must be > 0 seconds"
                        )));
                    }
                    RotateEvery::Seconds(secs)
                } else {
                    match v.extract::<String>()?.to_ascii_lowercase().as_str() {
                        "hourly" => RotateEvery::Hourly,
                        "daily" | "midnight" => RotateEvery::Daily,
                        other => {
                            return Err(PyValueError::new_err(format!(
                                "{where_}.rotate_every must be 'hourly', 'daily' or seconds, got {other:?}"
                            )))
                        }
                    }
                }),
            };
            let config = FileConfig {
                mode: num("mode")?.map(|m| m as u32).unwrap_or(0o640),
                max_bytes: num("max_bytes")?,
                rotate_every,
                backups: num("backups")?.unwrap_or(5) as usize,
                compress: get("compress")?
                    .map(|v| v.is_truthy())
                    .transpose()?
                    .unwrap_or(false),
                utc: get("utc")?
                    .map(|v| v.is_truthy())
                    .transpose()?
                    .unwrap_or(true),
                path,
            };
            Box::new(
                FileSink::open(config).map_err(|e| PyOSError::new_err(format!("{where_}: {e}")))?,
            )
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "{where_}.type must be one of 'stdout', 'stderr', 'file', 'null', got {other:?}"
            )))
        }
    })
}

/// Encode one value the way a log call would (for tests and tools): the JSON bytes.
#[pyfunction]
#[pyo3(signature = (value, *, max_bytes = 65_536))]
pub fn encode<'py>(
    py: Python<'py>,
    value: Bound<'py, PyAny>,
    max_bytes: usize,
) -> Bound<'py, PyBytes> {
    let mut out = Vec::new();
    let mut enc = crate::encode::Encoder::new(&mut out, max_bytes);
    enc.value(py, value.as_ptr());
    PyBytes::new(py, &out)
}
