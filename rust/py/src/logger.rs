//! The native Logger: an immutable handle on a pipeline with a name, a minimum level and
//! pre-encoded bound fields. Its level methods live in `methods`, the event encoder in `event`.

use crate::fields::{key_bytes, EncodedFields};
use crate::shared::Shared;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

/// A structured logger bound to one pipeline. Immutable: `bind()` and friends return new ones.
#[pyclass(frozen, module = "ferrolog._native", weakref)]
pub struct Logger {
    pub(crate) shared: Arc<Shared>,
    pub(crate) name: Py<PyString>,
    pub(crate) name_json: Box<[u8]>,
    /// The level this logger was made with (given, or inherited from its parent).
    pub(crate) own_level: i32,
    /// Whether `own_level` was pinned with `with_level()` (or given to `Pipeline.logger()`):
    /// then the levels by logger name, configured or set at run time, do not apply.
    pub(crate) pinned: bool,
    /// The level in force, as of `gate_generation` (see [`Logger::level`]).
    gate: AtomicI32,
    gate_generation: AtomicU64,
    pub(crate) bound: EncodedFields,
    /// The policy rules (sampling, rate limits) that select this logger; empty for most.
    pub(crate) rules: Box<[u16]>,
}

impl Logger {
    pub fn create(
        py: Python<'_>,
        shared: Arc<Shared>,
        name: Bound<'_, PyString>,
        level: i32,
        bound: Bound<'_, PyDict>,
    ) -> Self {
        Self::create_with(py, shared, name, level, false, bound)
    }

    /// As [`create`](Self::create); a `pinned` level ignores the levels by logger name.
    pub fn create_with(
        py: Python<'_>,
        shared: Arc<Shared>,
        name: Bound<'_, PyString>,
        level: i32,
        pinned: bool,
        bound: Bound<'_, PyDict>,
    ) -> Self {
        let mut name_json = Vec::new();
        // SAFETY: `name` is a live str and the GIL is held.
        let nb = unsafe { key_bytes(name.as_ptr()) };
        crate::escape::write_str(&mut name_json, &nb);
        let bound = EncodedFields::encode(
            py,
            bound,
            Some(shared.schema),
            shared.max_event_bytes,
            &shared.redact,
        );
        let rules = shared.policies.rules_for(&name.to_string_lossy());
        let this = Self {
            shared,
            name: name.unbind(),
            name_json: name_json.into_boxed_slice(),
            own_level: level,
            pinned,
            gate: AtomicI32::new(level),
            gate_generation: AtomicU64::new(u64::MAX),
            bound,
            rules,
        };
        this.refresh_level(
            this.shared
                .policies
                .level_generation
                .load(Ordering::Acquire),
        );
        this
    }

    /// The minimum level in force: one load and one compare while no level changed at run
    /// time since the last call (`Pipeline.set_level`), else recomputed from the levels by
    /// logger name.
    #[inline]
    pub(crate) fn level(&self) -> i32 {
        let generation = self
            .shared
            .policies
            .level_generation
            .load(Ordering::Acquire);
        if generation == self.gate_generation.load(Ordering::Relaxed) {
            self.gate.load(Ordering::Relaxed)
        } else {
            self.refresh_level(generation)
        }
    }

    /// Recompute the level in force as of `generation`. Runs with the GIL held and without
    /// releasing it (the module keeps the GIL, see `lib.rs`), so two threads never interleave
    /// their stores of the level and its generation.
    #[cold]
    fn refresh_level(&self, generation: u64) -> i32 {
        let level = if self.pinned {
            self.own_level
        } else {
            // SAFETY: `name` is a live str (held by this logger); only its text is read.
            let name = unsafe { key_bytes(self.name.as_ptr()) };
            self.shared
                .policies
                .level_for(&String::from_utf8_lossy(&name))
                .unwrap_or(self.own_level)
        };
        self.gate.store(level, Ordering::Relaxed);
        // Published after the level: a thread that sees this generation sees that level or a
        // newer one (both computed from a map at least as new).
        self.gate_generation.store(generation, Ordering::Release);
        level
    }

    /// This logger with other (already encoded) bound fields.
    /// This logger with no bound fields (name, level and policy rules kept, not recomputed).
    #[cold]
    #[inline(never)]
    pub(crate) fn unbound(&self, py: Python<'_>) -> Self {
        let shared = &self.shared;
        let none = EncodedFields::encode(
            py,
            PyDict::new(py),
            Some(shared.schema),
            shared.max_event_bytes,
            &shared.redact,
        );
        self.with_bound(py, none)
    }

    fn with_bound(&self, py: Python<'_>, bound: EncodedFields) -> Self {
        // Same name and pin, so the same level: the cache carries over. The generation is read
        // first: a level stored after it was published is at least as new (at worst the copy
        // recomputes once more).
        let generation = self.gate_generation.load(Ordering::Acquire);
        let gate = self.gate.load(Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
            name: self.name.clone_ref(py),
            name_json: self.name_json.clone(),
            own_level: self.own_level,
            pinned: self.pinned,
            gate: AtomicI32::new(gate),
            gate_generation: AtomicU64::new(generation),
            bound,
            rules: self.rules.clone(),
        }
    }

    /// A logger like this one, with another name (its own level then comes from the levels by
    /// name, else this one's), another pinned level, or other bound fields.
    fn derive(
        &self,
        py: Python<'_>,
        name: Option<Bound<'_, PyString>>,
        pin: Option<i32>,
        bound: Bound<'_, PyDict>,
    ) -> Self {
        let (level, pinned) = match pin {
            Some(level) => (level, true),
            // A child does not inherit a pin: the levels by its name apply to it.
            None if name.is_some() => (self.own_level, false),
            None => (self.own_level, self.pinned),
        };
        Self::create_with(
            py,
            self.shared.clone(),
            name.unwrap_or_else(|| self.name.bind(py).clone()),
            level,
            pinned,
            bound,
        )
    }
}

#[pymethods]
impl Logger {
    // The bound values may lead back to this logger (`self.log = log.bind(worker=self)`):
    // the collector must see the edge. (Only what this object owns: the pipeline's shared
    // state is not, and its sinks are not visited from here.)
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.bound.traverse(&visit)
    }

    /// The `logger` field of this logger's events.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// The output schema of this logger's pipeline (`default`, `ecs`, `otel`, `gcp`,
    /// `datadog`).
    #[getter]
    fn schema(&self) -> &'static str {
        self.shared.schema.name()
    }

    /// The minimum level this logger emits.
    #[getter]
    #[pyo3(name = "level")]
    fn level_getter(&self) -> i32 {
        self.level()
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
            return Ok(self.with_bound(
                py,
                self.bound
                    .extend(py, &PyDict::new(py), None, 0, &self.shared.redact)?,
            ));
        };
        let bound = self.bound.extend(
            py,
            &fields,
            Some(self.shared.schema),
            self.shared.max_event_bytes,
            &self.shared.redact,
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
    fn with_fields(&self, py: Python<'_>, fields: Option<Bound<'_, PyDict>>) -> PyResult<Self> {
        // The pipeline's static fields stay; the bound ones are replaced.
        let d = self.shared.root_fields(py);
        if let Some(fields) = fields {
            d.update(fields.as_mapping())?;
        }
        Ok(self.derive(py, None, None, d))
    }

    /// A logger named `name` (dotted onto this one's name unless `absolute`), same fields.
    #[pyo3(signature = (name, *, absolute = false))]
    fn child(&self, py: Python<'_>, name: Bound<'_, PyString>, absolute: bool) -> PyResult<Self> {
        // Joined as str, not as UTF-8: a name holding a lone surrogate is accepted like any
        // text (written as U+FFFD, as field names and messages are).
        let full = if absolute {
            name
        } else {
            self.name
                .bind(py)
                .add(".")?
                .add(&name)?
                .cast_into::<PyString>()?
        };
        let d = self.bound.dict.bind(py).copy()?;
        // A level set for the child's name (`logger_levels`, `set_level`) wins over the
        // parent's, now and after later changes.
        Ok(self.derive(py, Some(full), None, d))
    }

    /// The same logger with a different minimum level (a number or a level name).
    fn with_level(&self, py: Python<'_>, level: Bound<'_, PyAny>) -> PyResult<Self> {
        let level = self.shared.levels.parse(&level)?;
        let d = self.bound.dict.bind(py).copy()?;
        Ok(self.derive(py, None, Some(level), d))
    }

    /// Whether an event at `level` (a number or a name) would be emitted.
    fn is_enabled_for(&self, level: Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.shared.levels.parse(&level)? >= self.level())
    }

    /// The pipeline's counters: emitted, written, dropped, errors, bytes, high_water, ...
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.shared.stats(py)
    }

    /// Await until everything logged before this call is written (or counted dropped) and
    /// the sinks flushed; False on timeout (`None`: no limit).
    #[pyo3(signature = (timeout = None))]
    fn flush<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        // The wait starts here, not at the first await: "before this call" is now.
        crate::methods::emit_pending_repeats(py, &self.shared);
        let ticket = self.shared.start_flush(timeout)?;
        let f = ASYNC_FLUSH.get_or_try_init(py, || import_attr(py, "ferrolog._aio", "flush"))?;
        f.bind(py).call1((ticket,))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        // Denied fields are masked here too: a logger's repr may itself end up in a log.
        let shown = self.bound.dict.bind(py).copy()?;
        for key in self.bound.keys.iter() {
            // SAFETY: `key` is a live str and the GIL is held.
            let name = unsafe { key_bytes(key.as_ptr()) };
            if self.shared.redact.denies(&name) {
                shown.set_item(key.bind(py), self.shared.redact.replacement())?;
            }
        }
        Ok(format!(
            "<ferrolog.Logger name={} level={} bound={}>",
            self.name.bind(py).repr()?,
            self.shared.levels.name_of(self.level()),
            shown.repr()?
        ))
    }
}

static ASYNC_FLUSH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Initialise this module's lazy helpers now (see `process::_before_fork`).
pub(crate) fn warm(py: Python<'_>) {
    let _ = ASYNC_FLUSH.get_or_try_init(py, || import_attr(py, "ferrolog._aio", "flush"));
    let _ =
        GET_RUNNING_LOOP.get_or_try_init(py, || import_attr(py, "asyncio", "_get_running_loop"));
}

/// An attribute of a Python module, for the few Python helpers the native code calls.
pub(crate) fn import_attr(py: Python<'_>, module: &str, attr: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import(module)?.getattr(attr)?.unbind())
}

/// Whether this thread is running an asyncio event loop (then it must never block).
pub(crate) fn on_event_loop(py: Python<'_>) -> bool {
    let Ok(f) =
        GET_RUNNING_LOOP.get_or_try_init(py, || import_attr(py, "asyncio", "_get_running_loop"))
    else {
        return false;
    };
    f.bind(py).call0().map(|l| !l.is_none()).unwrap_or(false)
}

pub(crate) enum Outcome {
    Done,
    /// The ring was full for an `a*` call: the encoded record, to be pushed when space frees.
    Wait(Box<[u8]>),
}

impl Logger {
    /// Push per the overflow policy. Sync calls never block an event loop thread; `a*` calls
    /// hand the record back to be awaited when the ring is full.
    pub(crate) fn push(&self, py: Python<'_>, record: &[u8], is_async: bool) -> Outcome {
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
