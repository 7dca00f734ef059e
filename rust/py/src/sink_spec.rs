//! Native sinks from their dict specs (`{"type": "file", "path": ...}`); errors name the sink's
//! position and field.

use ferrolog_core::{ColorMode, ConsoleSink, ConsoleStream};
use ferrolog_core::{FileConfig, FileSink, NullSink, RotateEvery, Sink, StderrSink, StdoutSink};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::PathBuf;

/// Build a native sink from its dict spec; errors name the sink's position and field.
pub fn parse_sink(index: usize, spec: &Bound<'_, PyAny>) -> PyResult<Box<dyn Sink>> {
    parse_sink_at(&format!("sinks[{index}]"), spec)
}

/// Build a native sink from its dict spec; errors name it as `where_` (e.g. `"fallback"`).
pub fn parse_sink_at(where_: &str, spec: &Bound<'_, PyAny>) -> PyResult<Box<dyn Sink>> {
    let spec = spec.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{where_}: a sink is a dict with a 'type', got {}",
            spec.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })?;
    let get = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(spec.get_item(key)?.filter(|v| !v.is_none()))
    };
    let kind =
        get("type")?.ok_or_else(|| PyValueError::new_err(format!("{where_}: missing 'type'")))?;
    let kind = kind
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{where_}.type must be a str")))?;
    let kind = setting_text(kind, &format!("{where_}.type"))?;
    Ok(match kind.as_str() {
        "stdout" => Box::new(StdoutSink::new()),
        "stderr" => Box::new(StderrSink::new()),
        "null" => Box::new(NullSink),
        "console" => console_sink(where_, spec)?,
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
                    let text = v.cast::<PyString>().map_err(|_| {
                        PyTypeError::new_err(format!(
                            "{where_}.rotate_every must be 'hourly', 'daily' or seconds"
                        ))
                    })?;
                    match setting_text(text, &format!("{where_}.rotate_every"))?
                        .to_ascii_lowercase()
                        .as_str()
                    {
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
                "{where_}.type must be one of 'stdout', 'stderr', 'file', 'null', 'console', got {other:?}"
            )))
        }
    })
}

/// A str setting as Rust text. A lone surrogate cannot name anything a setting selects, so it
/// is a ValueError naming the setting, not a bare UnicodeEncodeError from deep inside.
pub(crate) fn setting_text(value: &Bound<'_, PyString>, what: &str) -> PyResult<String> {
    value.to_str().map(str::to_owned).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be text without lone surrogates, got {}",
            value.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

/// `{"type": "console", "colors": "auto" | "always" | "never", "stream": "stdout" | "stderr"}`;
/// the terminal check and the environment (`NO_COLOR`, `FORCE_COLOR`) are read now, once.
fn console_sink(where_: &str, spec: &Bound<'_, PyDict>) -> PyResult<Box<dyn Sink>> {
    let text = |key: &str, default: &str| -> PyResult<String> {
        match spec.get_item(key)?.filter(|v| !v.is_none()) {
            None => Ok(default.to_owned()),
            Some(v) => {
                let v = v
                    .cast::<PyString>()
                    .map_err(|_| PyTypeError::new_err(format!("{where_}.{key} must be a str")))?;
                setting_text(v, &format!("{where_}.{key}"))
            }
        }
    };
    let colors = text("colors", "auto")?;
    let colors = ColorMode::parse(&colors).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{where_}.colors must be 'auto', 'always' or 'never', got {colors:?}"
        ))
    })?;
    let stream = text("stream", "stdout")?;
    let stream = ConsoleStream::parse(&stream).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{where_}.stream must be 'stdout' or 'stderr', got {stream:?}"
        ))
    })?;
    Ok(Box::new(ConsoleSink::new(stream, colors)))
}
