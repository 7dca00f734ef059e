//! The Python handle of a pipeline: `Pipeline(sinks=..., ...)` checks its settings, starts the
//! core (ring, writer thread, native sinks) and the Python sinks' runner, and makes loggers.

use crate::channel::{start_runner, PY_SINK_BATCHES};
use crate::flush::{FlushTicket, Flusher};
use crate::levels::{LevelTable, INFO};
use crate::logger::Logger;
use crate::policy::Policies;
use crate::process;
use crate::redact::{Redactor, DEFAULT_FIELDS, DEFAULT_REPLACEMENT};
use crate::routing::{route_of, routed, Router};
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
                        schema = "default", levels = None, fallback = None,
                        processors = None, logger_levels = None, rules = None,
                        redaction = None, static_fields = None, static_pid = false,
                        request_events = None, gcp_project = None, once_window = None,
                        dedupe_window = None))]
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
        processors: Option<Bound<'_, PyAny>>,
        logger_levels: Option<Bound<'_, PyDict>>,
        rules: Option<Bound<'_, PyList>>,
        redaction: Option<Bound<'_, PyDict>>,
        static_fields: Option<Bound<'_, PyDict>>,
        static_pid: bool,
        request_events: Option<Bound<'_, PyDict>>,
        gcp_project: Option<Bound<'_, PyString>>,
        once_window: Option<f64>,
        dedupe_window: Option<f64>,
    ) -> PyResult<Self> {
        let gcp_project = gcp_project
            .map(|p| {
                let text = setting_text(&p, "gcp_project")?;
                let valid = !text.is_empty()
                    && text.len() <= 100
                    && text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
                if valid {
                    Ok(text)
                } else {
                    Err(PyValueError::new_err(format!(
                        "gcp_project must be a Google Cloud project id (letters, digits, '-', \
                         '_', '.', ':'; 1 to 100 characters), got {text:?}"
                    )))
                }
            })
            .transpose()?;
        let dedupe = crate::dedupe::Dedupe::new(once_window, dedupe_window)?;
        let static_fields = match static_fields {
            Some(d) => {
                for k in d.keys() {
                    if !k.is_instance_of::<PyString>() {
                        return Err(PyTypeError::new_err(format!(
                            "static_fields keys must be str, got {}",
                            k.repr()?
                        )));
                    }
                }
                d.copy()?.unbind()
            }
            None => PyDict::new(py).unbind(),
        };
        let redact = parse_redaction(redaction)?;
        if let Some(p) = processors.as_ref().filter(|p| !p.is_none()) {
            if !p.is_callable() {
                return Err(PyTypeError::new_err(format!(
                    "processors must be a callable (event dict -> dict or None), got {}",
                    p.get_type().name()?
                )));
            }
        }
        let schema = Schema::parse(schema).ok_or_else(|| {
            PyValueError::new_err(format!(
                "schema must be 'default', 'ecs', 'otel', 'gcp' or 'datadog', got {schema:?}"
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
        let policies = Policies::new(&levels, logger_levels.as_ref(), rules.as_ref())?;
        let scopes = crate::scope::Scopes::parse(request_events.as_ref(), &levels)?;
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
        let mut py_routes = Vec::new();
        for (i, spec) in sinks.enumerate() {
            let spec = spec?;
            if !spec.is_instance_of::<PyDict>() && spec.hasattr("write_batch")? {
                py_sinks.push(spec.clone().unbind());
                py_routes.push(None);
                continue;
            }
            let route = match spec.cast::<PyDict>() {
                Ok(d) => route_of(&format!("sinks[{i}]"), d, &levels, schema)?,
                Err(_) => None,
            };
            // `{"type": "python", "sink": obj, ...routing}`: a Python sink with a route.
            let python = match spec.cast::<PyDict>() {
                Ok(d) => d
                    .get_item("type")?
                    .is_some_and(|t| t.eq("python").unwrap_or(false))
                    .then(|| d.get_item("sink"))
                    .transpose()?
                    .map(|s| {
                        s.filter(|s| s.hasattr("write_batch").unwrap_or(false))
                            .ok_or_else(|| {
                                PyTypeError::new_err(format!(
                                    "sinks[{i}].sink must be an object with write_batch"
                                ))
                            })
                    })
                    .transpose()?,
                Err(_) => None,
            };
            match python {
                Some(sink) => {
                    py_sinks.push(sink.unbind());
                    py_routes.push(route.map(|r| Py::new(py, Router::new(r))).transpose()?);
                }
                None => native.push(routed(parse_sink(i, &spec)?, route)),
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
            redact,
            py_flush: (!py_sinks.is_empty()).then(Arc::default),
            py_sinks,
            py_routes,
            runner: Mutex::new(None),
            flusher: Flusher::default(),
            processors: processors.filter(|p| !p.is_none()).map(Bound::unbind),
            filtered: Default::default(),
            policies,
            static_fields,
            static_pid,
            scopes,
            gcp_project,
            dedupe,
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
        // A level given here is pinned (as with `with_level()`); otherwise the levels by
        // logger name apply, now and after `set_level()`, else INFO.
        let (level, pinned) = match level {
            Some(l) => (this.shared.levels.parse(&l)?, true),
            None => (INFO, false),
        };
        Ok(Logger::create_with(
            py,
            this.shared.clone(),
            name,
            level,
            pinned,
            this.shared.root_fields(py),
        ))
    }

    /// Set the level of the loggers named `name` or below it (`""` or None: every logger), or
    /// with `level=None` forget the level set so (the configured `logger_levels` apply
    /// again). Takes effect at once on every existing logger of this pipeline but those
    /// whose level was pinned (`with_level()`, or a level given to `logger()`).
    #[pyo3(signature = (name, level))]
    fn set_level(
        &self,
        name: Option<Bound<'_, PyAny>>,
        level: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let prefix = logger_prefix(name)?;
        let level = level
            .filter(|l| !l.is_none())
            .map(|l| {
                if l.is_instance_of::<pyo3::types::PyBool>() {
                    return Err(PyTypeError::new_err(
                        "set_level: a level is an int or a name, got a bool",
                    ));
                }
                self.shared.levels.parse(&l).map_err(|e| {
                    let py = l.py();
                    let why = e.value(py).to_string();
                    if e.is_instance_of::<PyTypeError>(py) {
                        PyTypeError::new_err(format!("set_level({prefix:?}): {why}"))
                    } else {
                        PyValueError::new_err(format!("set_level({prefix:?}): {why}"))
                    }
                })
            })
            .transpose()?;
        self.shared.policies.set_level(&prefix, level);
        Ok(())
    }

    /// Forget every level set with `set_level()`; the configured `logger_levels` apply again.
    fn reset_levels(&self) {
        self.shared.policies.reset_levels();
    }

    /// The levels by logger-name prefix in force now: `logger_levels`, and over them those
    /// set with `set_level()`.
    fn logger_levels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let mut levels = self.shared.policies.levels_in_force();
        levels.sort();
        for (prefix, level) in levels {
            d.set_item(prefix, level)?;
        }
        Ok(d)
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
        // What the repeated-events filter holds back is said before the flush.
        crate::methods::emit_pending_repeats(slf.py(), &slf.get().shared);
        let target = slf.get().shared.flush_target();
        Ok(slf.py().detach(move || target.flush(deadline)))
    }

    /// Start an async flush now: a ticket the event loop polls (see `ferrolog._aio.flush`).
    /// `timeout=None` waits without limit.
    #[pyo3(signature = (timeout = None))]
    fn _start_flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<FlushTicket> {
        crate::methods::emit_pending_repeats(py, &self.shared);
        self.shared.start_flush(timeout)
    }

    /// Drain within `timeout` seconds (default 5), stop the writer thread, close the sinks.
    /// Idempotent. Later log calls are dropped and counted.
    #[pyo3(signature = (timeout = None))]
    fn close(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = Instant::now() + timeout_of(timeout)?;
        if !slf.get().shared.core.is_closed() {
            // What rate limits suppressed since their last summary, said before the end.
            crate::methods::emit_pending_summaries(slf.py(), &slf.get().shared);
        }
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

/// A logger-name prefix for `set_level`: a str of dot-separated non-empty parts (None or `""`:
/// every logger), at most 256 characters, no surrounding space.
fn logger_prefix(name: Option<Bound<'_, PyAny>>) -> PyResult<String> {
    let Some(name) = name.filter(|n| !n.is_none()) else {
        return Ok(String::new());
    };
    let text = name.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "set_level: a logger name is a str (or None for every logger), got {}",
            name.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let text = setting_text(text, "set_level name")?;
    if text.is_empty() {
        return Ok(text);
    }
    if text.chars().count() > 256
        || text.trim() != text
        || text.split('.').any(str::is_empty)
        || text.chars().any(char::is_control)
    {
        return Err(PyValueError::new_err(format!(
            "set_level: {text:?} is not a logger name (dot-separated non-empty parts, \
             no surrounding space or control characters, at most 256 characters)"
        )));
    }
    Ok(text)
}

/// The redaction rules from `redaction` (None: the default deny-list): a dict with `enabled`
/// (bool), `fields` (the complete list of denied names), `builtin` (built-in value patterns
/// by name), `patterns` (regexes) and `replacement`. Errors name the setting.
fn parse_redaction(redaction: Option<Bound<'_, PyDict>>) -> PyResult<Arc<Redactor>> {
    let Some(table) = redaction else {
        return Ok(Arc::clone(Redactor::default_rules()));
    };
    for key in table.keys() {
        let key = key.extract::<String>().unwrap_or_default();
        if !["enabled", "fields", "builtin", "patterns", "replacement"].contains(&key.as_str()) {
            return Err(PyValueError::new_err(format!(
                "redaction has no setting {key:?}; expected enabled, fields, builtin, patterns, replacement"
            )));
        }
    }
    let enabled = match table.get_item("enabled")? {
        Some(v) => v
            .extract::<bool>()
            .map_err(|_| PyTypeError::new_err("redaction.enabled must be a bool"))?,
        None => true,
    };
    if !enabled {
        return Ok(Arc::clone(Redactor::disabled()));
    }
    let texts = |name: &str| -> PyResult<Option<Vec<String>>> {
        match table.get_item(name)? {
            None => Ok(None),
            Some(v) if v.is_instance_of::<PyString>() => Err(PyTypeError::new_err(format!(
                "redaction.{name} must be a list of str, got a str"
            ))),
            Some(v) => {
                let mut out = Vec::new();
                for (i, item) in v.try_iter()?.enumerate() {
                    let item = item?;
                    let text = item.cast::<PyString>().map_err(|_| {
                        PyTypeError::new_err(format!("redaction.{name}[{i}] must be a str"))
                    })?;
                    out.push(setting_text(text, &format!("redaction.{name}[{i}]"))?);
                }
                Ok(Some(out))
            }
        }
    };
    let fields =
        texts("fields")?.unwrap_or_else(|| DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect());
    let builtin = texts("builtin")?.unwrap_or_default();
    let patterns = texts("patterns")?.unwrap_or_default();
    let replacement = match table.get_item("replacement")? {
        None => DEFAULT_REPLACEMENT.to_string(),
        Some(v) => {
            let text = v
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("redaction.replacement must be a str"))?;
            setting_text(text, "redaction.replacement")?
        }
    };
    let rules = Redactor::new(&fields, &builtin, &patterns, &replacement)
        .map_err(|e| PyValueError::new_err(e.0))?;
    // One shared instance for the default rules: caches keyed by the rules then agree.
    if rules.is_default() {
        return Ok(Arc::clone(Redactor::default_rules()));
    }
    Ok(Arc::new(rules))
}

/// Why `pattern` cannot be a redaction pattern (the regex dialect of the native encoder), or
/// None when it can.
#[pyfunction]
pub fn redaction_pattern_error(pattern: &str) -> Option<String> {
    crate::redact::pattern_error(pattern)
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
