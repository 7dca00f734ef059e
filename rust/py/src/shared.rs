//! What every logger and handle of one pipeline shares: the core pipeline (ring, writer,
//! native sinks), the schema and levels, and the Python sinks with their runner.

use crate::flush::{FlushTarget, FlushTicket, Flusher, PySinkFlush};
use crate::levels::LevelTable;
use crate::policy::Policies;
use crate::schema::Schema;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every logger of a pipeline shares; immutable once built.
pub struct Shared {
    pub core: Arc<ferrolog_core::Pipeline>,
    pub schema: Schema,
    pub max_event_bytes: usize,
    pub levels: LevelTable,
    /// What the encoder masks (field names, value patterns).
    pub redact: Arc<crate::redact::Redactor>,
    /// Sinks written in Python; one runner thread hands them each batch.
    pub(crate) py_sinks: Vec<Py<PyAny>>,
    /// Each Python sink's route (`ferrolog._native.Router`), if it has one.
    pub(crate) py_routes: Vec<Option<Py<crate::routing::Router>>>,
    /// The runner thread (`threading.Thread`), when there are Python sinks.
    pub(crate) runner: Mutex<Option<Py<PyAny>>>,
    /// Flush requests to the runner, when there are Python sinks.
    pub(crate) py_flush: Option<Arc<PySinkFlush>>,
    /// The thread that waits for async flushes.
    pub(crate) flusher: Flusher,
    /// Caller-side plugins (`ferrolog._processors.ProcessorChain`), when configured.
    pub(crate) processors: Option<Py<PyAny>>,
    /// Events the processor chain dropped.
    pub(crate) filtered: AtomicU64,
    /// Levels per logger name, sampling and rate limits.
    pub(crate) policies: Policies,
    /// Fields every logger of the pipeline starts with (service, env, version, host, ...),
    /// encoded once per logger like bound fields.
    pub(crate) static_fields: Py<PyDict>,
    /// Whether every event carries `"pid"`, the id of the process that logged it.
    pub(crate) static_pid: bool,
    /// Request scopes: sampling of their canonical events, the fingers-crossed buffers.
    pub(crate) scopes: crate::scope::Scopes,
    /// The Google Cloud project of the `gcp` schema's trace member, if given.
    pub(crate) gcp_project: Option<String>,
    /// `*_once` calls and the filter of repeated events (see `dedupe`).
    pub(crate) dedupe: crate::dedupe::Dedupe,
}

impl Shared {
    /// A new dict of the fields a new logger starts with.
    pub(crate) fn root_fields<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        self.static_fields
            .bind(py)
            .copy()
            .unwrap_or_else(|_| PyDict::new(py))
    }

    /// Count an event the processor chain dropped.
    pub(crate) fn count_filtered(&self) {
        self.filtered.fetch_add(1, Ordering::Relaxed);
    }

    /// Close by `deadline`: the core first (its writer drains and closes the native sinks),
    /// then the Python sinks' runner, which stops once the channel is empty.
    pub fn close(&self, py: Python<'_>, deadline: Instant) -> PyResult<bool> {
        let core = self.core.clone();
        let ok = py.detach(move || core.close(deadline.saturating_duration_since(Instant::now())));
        // Kept (not taken): its sinks' health stays readable after close; joining a finished
        // runner again returns at once.
        let runner = self
            .runner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.clone_ref(py));
        if let Some(runner) = runner {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64();
            runner.bind(py).call_method1("join", (left.max(0.05),))?;
        }
        Ok(ok)
    }

    /// Start an async flush now; `timeout=None` waits without limit.
    pub fn start_flush(&self, timeout: Option<f64>) -> PyResult<FlushTicket> {
        let wait = match timeout {
            None => MAX_TIMEOUT,
            t => timeout_of(t)?,
        };
        Ok(self
            .flusher
            .start(self.flush_target(), Instant::now() + wait))
    }

    /// Counters: emitted, written, dropped, errors, bytes, batches, high_water, capacity.
    pub fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.core.stats();
        let d = PyDict::new(py);
        d.set_item("emitted", s.emitted)?;
        d.set_item("written", s.written)?;
        d.set_item("dropped", s.dropped)?;
        d.set_item("errors", s.errors)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("rerouted", s.rerouted)?;
        d.set_item("filtered", self.filtered.load(Ordering::Relaxed))?;
        d.set_item(
            "sampled_out",
            self.policies.sampled_out.load(Ordering::Relaxed),
        )?;
        d.set_item(
            "suppressed",
            self.policies.suppressed.load(Ordering::Relaxed),
        )?;
        d.set_item(
            "deduplicated",
            self.dedupe.deduplicated.load(Ordering::Relaxed),
        )?;
        d.set_item(
            "once_suppressed",
            self.dedupe.once_suppressed.load(Ordering::Relaxed),
        )?;
        d.set_item("batches", s.batches)?;
        d.set_item("high_water", s.high_water)?;
        d.set_item("capacity", self.core.capacity())?;
        self.scopes.add_stats(&d)?;
        Ok(d)
    }

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

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// What "no limit" means: a day.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// A timeout in seconds (None: the default), capped at a day.
pub fn timeout_of(t: Option<f64>) -> PyResult<Duration> {
    match t {
        None => Ok(DEFAULT_TIMEOUT),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s).min(MAX_TIMEOUT)),
        Some(s) => Err(PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds, got {s}"
        ))),
    }
}
