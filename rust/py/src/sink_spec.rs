//! Native sinks from their dict specs (`{"type": "file", "path": ...}`); errors name the sink's
//! position and field.

use ferrolog_core::fallback::report;
use ferrolog_core::net::http::{HttpConfig, HttpFormat, HttpSender};
use ferrolog_core::net::json::Value;
use ferrolog_core::net::syslog::{
    facility_number, local_hostname, SyslogConfig, SyslogFormat, SyslogSender, SyslogTransport,
};
use ferrolog_core::net::Transport;
use ferrolog_core::{ColorMode, ConsoleSink, ConsoleStream};
use ferrolog_core::{
    FileConfig, FileSink, NullSink, RotateEvery, ShipConfig, Shipper, Sink, StderrSink, StdoutSink,
};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
        "syslog" => Box::new(syslog_sink(where_, spec)?),
        "http" => Box::new(http_sink(where_, spec)?),
        other => {
            return Err(PyValueError::new_err(format!(
                "{where_}.type must be one of 'stdout', 'stderr', 'file', 'null', 'console', \
                 'syslog', 'http', got {other:?}"
            )))
        }
    })
}

/// Typed reads of a sink spec's optional members; errors name `where_.key`.
struct Spec<'a, 'py> {
    where_: &'a str,
    dict: &'a Bound<'py, PyDict>,
}

impl<'py> Spec<'_, 'py> {
    fn get(&self, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self.dict.get_item(key)?.filter(|v| !v.is_none()))
    }

    fn text(&self, key: &str) -> PyResult<Option<String>> {
        self.get(key)?
            .map(|v| {
                let s = v.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!("{}.{key} must be a str", self.where_))
                })?;
                setting_text(s, &format!("{}.{key}", self.where_))
            })
            .transpose()
    }

    fn count(&self, key: &str, min: u64) -> PyResult<Option<u64>> {
        self.get(key)?
            .map(|v| match v.extract::<u64>() {
                Ok(n) if n >= min && !v.is_instance_of::<PyBool>() => Ok(n),
                _ => Err(PyValueError::new_err(format!(
                    "{}.{key} must be an int >= {min}",
                    self.where_
                ))),
            })
            .transpose()
    }

    fn seconds(&self, key: &str) -> PyResult<Option<Duration>> {
        self.get(key)?
            .map(|v| match v.extract::<f64>() {
                Ok(x) if x.is_finite() && (0.0..=86_400.0).contains(&x) => {
                    Ok(Duration::from_secs_f64(x))
                }
                _ => Err(PyValueError::new_err(format!(
                    "{}.{key} must be a number of seconds between 0 and 86400",
                    self.where_
                ))),
            })
            .transpose()
    }

    fn flag(&self, key: &str, default: bool) -> PyResult<bool> {
        Ok(self
            .get(key)?
            .map(|v| v.is_truthy())
            .transpose()?
            .unwrap_or(default))
    }

    /// A str, or a pydantic `SecretStr` (read here, so the secret never sits in a plain str
    /// of the options).
    fn secret(&self, key: &str) -> PyResult<Option<String>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        let v = if v.hasattr("get_secret_value")? {
            v.call_method0("get_secret_value")?
        } else {
            v
        };
        let s = v.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!("{}.{key} must be a str or SecretStr", self.where_))
        })?;
        Ok(Some(s.to_str()?.to_owned()))
    }

    /// The shipping options every network sink shares.
    fn ship_config(&self, batch_default: usize, linger_default: Duration) -> PyResult<ShipConfig> {
        let d = ShipConfig::default();
        Ok(ShipConfig {
            batch_bytes: self
                .count("batch_bytes", 1)?
                .map_or(batch_default, |n| n as usize),
            linger: self.seconds("linger")?.unwrap_or(linger_default),
            max_buffer_bytes: self
                .count("max_buffer_bytes", 1)?
                .map_or(d.max_buffer_bytes, |n| n as usize),
            max_retries: self
                .count("max_retries", 0)?
                .map_or(d.max_retries, |n| n.min(u64::from(u32::MAX)) as u32),
            failure_threshold: self
                .count("failure_threshold", 1)?
                .map_or(d.failure_threshold, |n| n.min(u64::from(u32::MAX)) as u32),
            recovery_timeout: self
                .seconds("recovery_timeout")?
                .unwrap_or(d.recovery_timeout),
            backoff_first: self.seconds("backoff")?.unwrap_or(d.backoff_first),
            backoff_max: self.seconds("max_backoff")?.unwrap_or(d.backoff_max),
            retry_after_max: d.retry_after_max,
            flush_timeout: self.seconds("flush_timeout")?.unwrap_or(d.flush_timeout),
            close_timeout: self.seconds("close_timeout")?.unwrap_or(d.close_timeout),
        })
    }
}

fn syslog_sink(where_: &str, dict: &Bound<'_, PyDict>) -> PyResult<Shipper> {
    let spec = Spec { where_, dict };
    let address = spec
        .text("address")?
        .unwrap_or_else(|| "/dev/log".to_owned());
    let transport = match spec.text("transport")?.as_deref() {
        Some("udp") => SyslogTransport::Udp,
        Some("tcp") => SyslogTransport::Tcp,
        Some("unix") => SyslogTransport::Unix,
        None if address.starts_with('/') => SyslogTransport::Unix,
        None => SyslogTransport::Udp,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "{where_}.transport must be 'udp', 'tcp' or 'unix', got {other:?}"
            )))
        }
    };
    let format = match spec.text("format")?.as_deref() {
        None | Some("rfc5424") => SyslogFormat::Rfc5424,
        Some("rfc3164") => SyslogFormat::Rfc3164,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "{where_}.format must be 'rfc5424' or 'rfc3164', got {other:?}"
            )))
        }
    };
    let facility = match spec.get("facility")? {
        None => 1,
        Some(v) if v.is_instance_of::<PyInt>() => match v.extract::<u8>() {
            Ok(n) if n <= 23 => n,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "{where_}.facility must be 0..=23 or a name such as 'local0'"
                )))
            }
        },
        Some(_) => {
            let name = spec
                .text("facility")?
                .unwrap_or_default()
                .to_ascii_lowercase();
            facility_number(&name).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "{where_}.facility must be 0..=23 or a name such as 'user' or 'local0', \
                     got {name:?}"
                ))
            })?
        }
    };
    let cfg = SyslogConfig {
        transport,
        format,
        facility,
        app_name: spec
            .text("app_name")?
            .unwrap_or_else(|| "ferrolog".to_owned()),
        hostname: spec.text("hostname")?.unwrap_or_else(local_hostname),
        timeout: spec.seconds("timeout")?.unwrap_or(Duration::from_secs(5)),
        address,
    };
    if transport != SyslogTransport::Unix && !cfg.address.contains(':') {
        return Err(PyValueError::new_err(format!(
            "{where_}.address must be 'host:port' for transport {:?}, got {:?}",
            spec.text("transport")?.unwrap_or_default(),
            cfg.address
        )));
    }
    let kind = match transport {
        SyslogTransport::Udp => "udp",
        SyslogTransport::Tcp => "tcp",
        SyslogTransport::Unix => "unix",
    };
    let name = format!("syslog:{kind}:{}", cfg.address);
    // UDP and unix datagrams go out one message at a time; a short linger keeps them prompt.
    let ship = spec.ship_config(64 << 10, Duration::from_millis(5))?;
    Ok(Shipper::new(
        name,
        ship,
        Arc::new(move || Box::new(SyslogSender::new(cfg.clone())) as Box<dyn Transport>),
    ))
}

/// A JSON value of an OTLP resource attribute.
fn resource_value(where_: &str, key: &str, v: &Bound<'_, PyAny>) -> PyResult<Value> {
    Ok(if v.is_instance_of::<PyBool>() {
        Value::Bool(v.is_truthy()?)
    } else if v.is_instance_of::<PyInt>() {
        Value::Number(v.extract::<i64>()?.to_string())
    } else if v.is_instance_of::<PyFloat>() {
        let x = v.extract::<f64>()?;
        if !x.is_finite() {
            return Err(PyValueError::new_err(format!(
                "{where_}.resource[{key:?}] must be a finite number"
            )));
        }
        Value::Number(format!("{x:?}"))
    } else if let Ok(s) = v.cast::<PyString>() {
        Value::Str(setting_text(s, &format!("{where_}.resource[{key:?}]"))?)
    } else {
        return Err(PyTypeError::new_err(format!(
            "{where_}.resource[{key:?}] must be a str, int, float or bool"
        )));
    })
}

fn http_sink(where_: &str, dict: &Bound<'_, PyDict>) -> PyResult<Shipper> {
    let spec = Spec { where_, dict };
    let url = spec
        .text("url")?
        .ok_or_else(|| PyValueError::new_err(format!("{where_}: an http sink needs 'url'")))?;
    let format = match spec.text("format")?.as_deref() {
        None | Some("ndjson") => HttpFormat::Ndjson,
        Some("json_array") => HttpFormat::JsonArray,
        Some("otlp") => HttpFormat::Otlp,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "{where_}.format must be 'ndjson', 'json_array' or 'otlp', got {other:?}"
            )))
        }
    };
    let mut headers = Vec::new();
    if let Some(h) = spec.get("headers")? {
        let h = h.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!("{where_}.headers must be a dict of str to str"))
        })?;
        for (k, v) in h.iter() {
            // A value may be a SecretStr (an API key header): read it here, never shown.
            let v = if v.hasattr("get_secret_value")? {
                v.call_method0("get_secret_value")?
            } else {
                v
            };
            let (Ok(k), Ok(v)) = (k.cast::<PyString>(), v.cast::<PyString>()) else {
                return Err(PyTypeError::new_err(format!(
                    "{where_}.headers must be a dict of str to str"
                )));
            };
            headers.push((k.to_str()?.to_owned(), v.to_str()?.to_owned()));
        }
    }
    let mut resource = Vec::new();
    if let Some(r) = spec.get("resource")? {
        let r = r
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err(format!("{where_}.resource must be a dict")))?;
        for (k, v) in r.iter() {
            let k = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("{where_}.resource keys must be str")))?;
            let k = setting_text(k, &format!("{where_}.resource"))?;
            let v = resource_value(where_, &k, &v)?;
            resource.push((k, v));
        }
    }
    let cfg = HttpConfig {
        format,
        headers,
        token: spec.secret("token")?,
        gzip: spec.flag("gzip", false)?,
        timeout: spec.seconds("timeout")?.unwrap_or(Duration::from_secs(10)),
        resource,
        verify_tls: spec.flag("verify_tls", true)?,
        ca_file: spec
            .get("ca_file")?
            .map(|v| v.extract::<PathBuf>())
            .transpose()
            .map_err(|_| PyTypeError::new_err(format!("{where_}.ca_file must be a path")))?,
        url,
    };
    let name = format!("http:{}", ferrolog_core::net::http::redacted_url(&cfg.url));
    if !cfg.verify_tls && cfg.url.starts_with("https://") {
        report(&format!(
            "sink {name}: TLS certificate verification is off (verify_tls = false): anyone on \
             the path can read and alter these logs"
        ));
    }
    // Built now (URL, headers, CA store), so a bad setting fails at start, not in the sender.
    let proto =
        HttpSender::new(cfg).map_err(|e| PyValueError::new_err(format!("{where_}: {e}")))?;
    let ship = spec.ship_config(1 << 20, Duration::from_millis(200))?;
    Ok(Shipper::new(
        name,
        ship,
        Arc::new(move || Box::new(proto.fresh()) as Box<dyn Transport>),
    ))
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
