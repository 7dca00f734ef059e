//! The channel between a pipeline's writer and its Python sinks' runner thread
//! (`ferrolog._sinks`): batches to write and settle, and flush requests.

use crate::shared::{timeout_of, Shared};
use ferrolog_core::Batch;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Batches the writer may queue for the Python sinks' runner before it waits for it.
pub const PY_SINK_BATCHES: usize = 4;

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

    /// Report whether every Python sink wrote the batch; only the first report counts. A
    /// failed batch goes to the pipeline's fallback sink (written without the GIL).
    fn settle(&self, py: Python<'_>, ok: bool) {
        let batch = &self.batch;
        py.detach(|| batch.settle(ok));
    }
}

impl Drop for PyBatch {
    fn drop(&mut self) {
        self.batch.settle(false);
    }
}

/// Start the thread that hands each batch to the Python sinks (none without Python sinks).
pub fn start_runner(py: Python<'_>, shared: &Arc<Shared>) -> PyResult<()> {
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
    let routes = PyList::new(
        py,
        shared.py_routes.iter().map(|r| {
            r.as_ref()
                .map_or_else(|| py.None(), |r| r.clone_ref(py).into_any())
        }),
    )?;
    let thread = start.call1((channel, sinks, routes))?;
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
