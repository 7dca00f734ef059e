//! Routing settings of a sink (`min_level`, `max_level`, `loggers`) turned into a core
//! [`Route`]: for native sinks a [`RoutedSink`] wrapper, for Python sinks a [`Router`] their
//! worker applies to each batch (one native call per batch).

use crate::escape::write_str;
use crate::levels::LevelTable;
use crate::schema::Schema;
use ferrolog_core::{Layout, Route, RoutedSink, Sink};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

/// The route a sink spec asks for (`min_level`, `max_level`, `loggers`), or None.
pub fn route_of(
    where_: &str,
    spec: &Bound<'_, PyDict>,
    levels: &LevelTable,
    schema: Schema,
) -> PyResult<Option<Route>> {
    let get = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(spec.get_item(key)?.filter(|v| !v.is_none()))
    };
    let level = |key: &str| -> PyResult<Option<i32>> {
        get(key)?
            .map(|v| {
                levels.parse(&v).map_err(|e| {
                    PyValueError::new_err(format!("{where_}.{key}: {}", e.value(v.py())))
                })
            })
            .transpose()
    };
    let (min, max) = (level("min_level")?, level("max_level")?);
    let loggers = get("loggers")?;
    if min.is_none() && max.is_none() && loggers.is_none() {
        return Ok(None);
    }
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            return Err(PyValueError::new_err(format!(
                "{where_}: min_level ({lo}) is above max_level ({hi}); no event could pass"
            )));
        }
    }
    let known: Vec<Box<[u8]>> = levels
        .items()
        .iter()
        .map(|(n, _)| levels.text(*n).into_owned().into_boxed_slice())
        .collect();
    let allowed = (min.is_some() || max.is_some()).then(|| {
        levels
            .items()
            .iter()
            .filter(|(n, _)| min.is_none_or(|lo| *n >= lo) && max.is_none_or(|hi| *n <= hi))
            .map(|(n, _)| levels.text(*n).into_owned().into_boxed_slice())
            .collect()
    });
    let mut prefixes = Vec::new();
    if let Some(loggers) = loggers {
        if loggers.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "{where_}.loggers must be a list of logger-name prefixes, not a str"
            )));
        }
        for (i, p) in loggers.try_iter()?.enumerate() {
            let p = p?;
            let text = p.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("{where_}.loggers[{i}] must be a str"))
            })?;
            let mut escaped = Vec::new();
            write_str(&mut escaped, text.to_string_lossy().as_bytes());
            // Without its quotes: it is compared with the inside of the line's string.
            prefixes.push(escaped[1..escaped.len() - 1].to_vec().into_boxed_slice());
        }
    }
    let layout = match schema {
        Schema::Otel => Layout::Otel,
        _ => {
            let (_, level_key, logger_key) = schema.envelope_keys();
            Layout::Envelope {
                level_key,
                logger_key,
            }
        }
    };
    Ok(Some(Route::new(
        layout,
        allowed,
        known,
        max.is_none(),
        prefixes,
    )))
}

/// Wrap a native sink in its route, if its spec has one.
pub fn routed(sink: Box<dyn Sink>, route: Option<Route>) -> Box<dyn Sink> {
    match route {
        Some(route) => Box::new(RoutedSink::new(sink, route)),
        None => sink,
    }
}

/// A route for a Python sink: its worker passes each batch through `select`.
#[pyclass(frozen, module = "ferrolog._native")]
pub struct Router {
    route: Route,
}

impl Router {
    pub fn new(route: Route) -> Self {
        Router { route }
    }
}

#[pymethods]
impl Router {
    /// The lines of `batch` this route takes (possibly none).
    fn select<'py>(&self, py: Python<'py>, batch: &[u8]) -> Bound<'py, PyBytes> {
        let mut out = Vec::with_capacity(batch.len());
        RoutedSink::select(&self.route, batch, &mut out);
        PyBytes::new(py, &out)
    }
}
