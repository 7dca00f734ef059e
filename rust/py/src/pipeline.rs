//! The Python handle of a pipeline: `Pipeline(sinks=..., ...)` checks its settings, starts the
//! core (ring, writer thread, native sinks) and the Python sinks' runner, and makes loggers.

use crate::channel::{start_runner, PY_SINK_BATCHES};
use crate::flush::{FlushTicket, Flusher};
use crate::levels::{LevelTable, INFO};
use crate::logger::Logger;
use crate::process;
use crate::schema::Schema;
use crate::shared::{timeout_of, Shared, MAX_TIMEOUT};
use crate::sink_spec::{parse_sink, parse_sink_at, setting_text};
use ferrolog_core::{Overflow, PipelineConfig, Sink};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running pipeline. Create loggers with [`Pipeline::logger`]; close it when done.
#[pyclass(frozen, module = "ferrolog._native", weakref)]
pub struct Pipeline {
    pub(crate) shared: Arc<Shared>,
}

#[pymethods]
impl Pipeline {
    /// Start a pipeline writing to `sinks` (dicts with a `type`: stdout, stderr, null, file).
    #[new]
    /// `capacity_bytes` defaults to 4 MiB, `batch_bytes` to 64 KiB, `max_event_bytes` to
    /// 64 KiB (or what a smaller ring can hold).
    #[pyo3(signature = (*, sinks, capacity_bytes = None, overflow = "drop", block_timeout = 1.0,
                        batch_bytes = None, linger = 0.001, max_event_bytes = None,
                        schema = "default", levels = None, fallback = None))]
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
        fallback: Option<Bound<'_, PyAny>>,
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
                let level = k.extract::<i32>()?;
                let name = v.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!("levels[{level}] must be a str (a level name)"))
                })?;
                custom.push((level, setting_text(name, &format!("levels[{level}]"))?));
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
        // Where a failing sink's batches go; a "null" fallback means none: dropped, counted.
        let fallback = match fallback.filter(|f| !f.is_none()) {
            None => None,
            Some(spec) => Some(parse_sink_at("fallback", &spec)?).filter(|s| s.name() != "null"),
        };
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
        let core = ferrolog_core::Pipeline::start_with_fallback(config, native, fallback).map_err(
            |e| match e.kind() {
                // The ring could not be allocated: the setting is what to change.
                std::io::ErrorKind::OutOfMemory | std::io::ErrorKind::InvalidInput => {
                    PyValueError::new_err(format!(
                        "capacity_bytes={capacity_bytes}: the ring cannot be allocated ({e}); \
                     choose a smaller capacity"
                    ))
                }
                _ => PyOSError::new_err(format!("cannot start the writer thread: {e}")),
            },
        )?;
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
            flusher: Flusher::default(),
        });
        start_runner(py, &shared)?;
        process::register(py, &shared);
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
            None => INFO,
        };
        Ok(Logger::create(
            py,
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
    fn _start_flush(&self, timeout: Option<f64>) -> PyResult<FlushTicket> {
        self.shared.start_flush(timeout)
    }

    /// Drain within `timeout` seconds (default 5), stop the writer thread, close the sinks.
    /// Idempotent. Later log calls are dropped and counted.
    #[pyo3(signature = (timeout = None))]
    fn close(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = Instant::now() + timeout_of(timeout)?;
        slf.get().shared.close(slf.py(), deadline)
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

    /// Counters: emitted, written, dropped, errors, bytes, rerouted, batches, high_water,
    /// capacity.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.shared.stats(py)
    }

    /// Each sink's health: the native sinks in order (dicts with `name`, `kind` "native",
    /// `failing` (its batches go to the fallback now), `errors`, `rerouted` (its records the
    /// fallback took) and `failovers` (switches to the fallback); network sinks add their
    /// delivery counters `delivered`, `retried`, `failed_batches`, `dropped`, `refused`,
    /// `buffered_bytes` and the breaker's `state`), then the Python sinks (see
    /// `ferrolog._sinks.Runner.sink_health`).
    fn sink_health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for h in self.shared.core.sink_health() {
            let d = PyDict::new(py);
            d.set_item("name", h.name)?;
            d.set_item("failing", h.failing)?;
            d.set_item("errors", h.errors)?;
            d.set_item("rerouted", h.rerouted)?;
            d.set_item("failovers", h.failovers)?;
            d.set_item("kind", "native")?;
            if let Some(n) = h.delivery {
                d.set_item("delivered", n.delivered)?;
                d.set_item("retried", n.retried)?;
                d.set_item("failed_batches", n.failed_batches)?;
                d.set_item("dropped", n.dropped)?;
                d.set_item("refused", n.refused)?;
                d.set_item("buffered_bytes", n.buffered_bytes)?;
                d.set_item("state", n.state.as_str())?;
            }
            list.append(d)?;
        }
        let runner = self
            .shared
            .runner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.clone_ref(py));
        if let Some(runner) = runner {
            for h in runner.bind(py).call_method0("sink_health")?.try_iter()? {
                list.append(h?)?;
            }
        }
        Ok(list)
    }

    /// The fallback sink's name (e.g. `"stderr"`), or None without one.
    #[getter]
    fn fallback(&self) -> Option<String> {
        self.shared.core.fallback_name().map(str::to_owned)
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
