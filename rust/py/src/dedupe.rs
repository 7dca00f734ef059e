//! Fewer copies of the same event, natively on the caller's thread:
//!
//! - `*_once` calls (`log.info_once(...)`, `await log.ainfo_once(...)`): an event is logged
//!   once per call site and message, per process (a forked child starts afresh) or, with a
//!   window, once per window. The call site is the calling function (its code object, read
//!   from the caller's frame only on `*_once` calls: no line-table lookup), with the message
//!   (its text's hash; a non-str message keys by its type): the same message logged from
//!   two places in one function counts once. At most [`MAX_ONCE_KEYS`] keys are kept; past that, a new key is
//!   not remembered and its events are all logged (never lost for lack of room).
//! - The filter of repeated events (`Settings.dedupe.enabled`): an event identical to the one
//!   just before it in this pipeline (same bytes but the timestamp: logger, level, message,
//!   fields) is not written but counted (`deduplicated`); when the run ends — a different
//!   event, an identical one after `window` seconds since the run began, a flush, or the
//!   close — one summary event says how many were left out ("last event repeated N more
//!   time(s)", fields `repeated` and `repeated_message`), through the repeated event's logger
//!   and at its level.
//!
//! Neither kind of left-out event reaches the ring: like sampling and rate limits, they are
//! counted apart from `emitted`, so `emitted == written + dropped` still holds once settled.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// `*_once` keys remembered per pipeline.
pub const MAX_ONCE_KEYS: usize = 10_000;

/// A `*_once` call site and message: (the calling function's code object address, the
/// message's hash).
type OnceKey = (usize, u64);

struct OnceEntry {
    /// Held so the code object's address is not reused by another while remembered.
    _code: Py<PyAny>,
    /// When it was last logged (kept only with a window).
    logged: Option<Instant>,
}

/// The current run of identical events.
#[derive(Default)]
struct Run {
    /// The hash of the last event written (its bytes but the timestamp), if any.
    hash: Option<u64>,
    started: Option<Instant>,
    /// Identical events left out since.
    repeated: u64,
    /// The repeated event's logger, level and message (taken at its first repeat).
    logger: String,
    level: i32,
    message: String,
}

/// A summary of a finished run, to log.
pub struct Repeated {
    pub count: u64,
    pub logger: String,
    pub level: i32,
    pub message: String,
}

/// What the filter decided for one event.
pub enum Filtered {
    /// Write it (after logging this summary of the run it ended, if any).
    Write(Option<Repeated>),
    /// Identical to the last one: left out (counted).
    Repeat,
}

/// One pipeline's `*_once` memory and repeated-events filter.
pub struct Dedupe {
    /// None: once per process; else once per this long.
    once_window: Option<Duration>,
    once: Mutex<HashMap<OnceKey, OnceEntry>>,
    /// `*_once` calls left out.
    pub once_suppressed: AtomicU64,
    /// The filter's window, when it is on.
    filter: Option<Duration>,
    run: Mutex<Run>,
    /// Events the filter left out.
    pub deduplicated: AtomicU64,
}

impl Dedupe {
    /// `once_window`: None (once per process) or seconds; `filter`: the repeated-events
    /// filter's window in seconds, None when off.
    pub fn new(once_window: Option<f64>, filter: Option<f64>) -> PyResult<Self> {
        let seconds = |what: &str, v: Option<f64>| -> PyResult<Option<Duration>> {
            match v {
                None => Ok(None),
                Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 * 365.0 => {
                    Ok(Some(Duration::from_secs_f64(s)))
                }
                Some(s) => Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "{what} must be a positive number of seconds (at most a year), got {s}"
                ))),
            }
        };
        Ok(Dedupe {
            once_window: seconds("dedupe.once_window", once_window)?,
            once: Mutex::new(HashMap::new()),
            once_suppressed: AtomicU64::new(0),
            filter: seconds("dedupe.window", filter)?,
            run: Mutex::new(Run::default()),
            deduplicated: AtomicU64::new(0),
        })
    }

    /// Whether the repeated-events filter is on.
    #[inline]
    pub fn filtering(&self) -> bool {
        self.filter.is_some()
    }

    /// Whether a `*_once` call with message `msg` from the caller's frame is to be logged
    /// (and, if so, remember it).
    ///
    /// # Safety
    /// The GIL is held; `msg` is live.
    #[inline(never)]
    pub unsafe fn once(&self, py: Python<'_>, msg: *mut ffi::PyObject) -> bool {
        // SAFETY: the GIL is held; a borrowed frame (or NULL outside any Python frame).
        let frame = unsafe { ffi::PyEval_GetFrame() };
        let code = if frame.is_null() {
            None
        } else {
            // SAFETY: `frame` is a live frame; PyFrame_GetCode returns a new reference.
            unsafe {
                let code = ffi::PyFrame_GetCode(frame) as *mut ffi::PyObject;
                Bound::from_owned_ptr_or_opt(py, code)
            }
        };
        // SAFETY: `msg` is live and the GIL is held.
        let msg_hash = unsafe {
            if ffi::PyUnicode_Check(msg) != 0 {
                let h = ffi::PyObject_Hash(msg);
                h as u64
            } else {
                ffi::Py_TYPE(msg) as usize as u64
            }
        };
        let key = (code.as_ref().map_or(0, |c| c.as_ptr() as usize), msg_hash);
        // The clock is read only for a window.
        let now = self.once_window.map(|_| Instant::now());
        let mut once = self.once.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = once.get_mut(&key) {
            let due = match (self.once_window, now, entry.logged) {
                (Some(w), Some(now), Some(logged)) => now.saturating_duration_since(logged) >= w,
                _ => false,
            };
            if !due {
                self.once_suppressed.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            entry.logged = now;
            return true;
        }
        if once.len() < MAX_ONCE_KEYS {
            once.insert(
                key,
                OnceEntry {
                    _code: code.map_or_else(|| py.None(), Bound::unbind),
                    logged: now,
                },
            );
        }
        true
    }

    /// Decide for one encoded event `line` of logger `logger` at `level` with message `msg`.
    ///
    /// # Safety
    /// The GIL is held; `msg` is live.
    #[inline(never)]
    pub unsafe fn filter(
        &self,
        line: &[u8],
        logger: &Bound<'_, PyString>,
        level: i32,
        msg: *mut ffi::PyObject,
    ) -> Filtered {
        let Some(window) = self.filter else {
            return Filtered::Write(None);
        };
        let hash = hash_without_timestamp(line);
        let now = Instant::now();
        let mut run = self.run.lock().unwrap_or_else(PoisonError::into_inner);
        let in_window = run
            .started
            .is_some_and(|t| now.saturating_duration_since(t) < window);
        if run.hash == Some(hash) && in_window {
            if run.repeated == 0 {
                run.logger = logger.to_string_lossy().into_owned();
                run.level = level;
                // SAFETY: per this function's contract.
                run.message = unsafe { message_text(logger.py(), msg) };
            }
            run.repeated += 1;
            self.deduplicated.fetch_add(1, Ordering::Relaxed);
            return Filtered::Repeat;
        }
        let ended = take_summary(&mut run);
        run.hash = Some(hash);
        run.started = Some(now);
        Filtered::Write(ended)
    }

    /// End the current run (at a flush or the close): its summary, if events were left out.
    pub fn finish_run(&self) -> Option<Repeated> {
        self.filter?;
        let mut run = self.run.lock().unwrap_or_else(PoisonError::into_inner);
        let ended = take_summary(&mut run);
        *run = Run::default();
        ended
    }

    /// Forget everything (in a forked child: "once per process" starts again there, and the
    /// parent's run is the parent's to summarise).
    ///
    /// No parent thread holds these locks at the fork: they are taken with the GIL held and
    /// never across a release of it, and `os.fork()` forks holding the GIL.
    pub fn reset(&self) {
        if let Ok(mut once) = self.once.try_lock() {
            once.clear();
        }
        if let Ok(mut run) = self.run.try_lock() {
            *run = Run::default();
        }
        self.once_suppressed.store(0, Ordering::Relaxed);
        self.deduplicated.store(0, Ordering::Relaxed);
    }
}

fn take_summary(run: &mut Run) -> Option<Repeated> {
    (run.repeated > 0).then(|| Repeated {
        count: std::mem::take(&mut run.repeated),
        logger: std::mem::take(&mut run.logger),
        level: run.level,
        message: std::mem::take(&mut run.message),
    })
}

/// The hash of an encoded event without its timestamp: every schema opens with the timestamp
/// member, whose value (a string or a number) holds no comma, so the bytes from the first
/// `:` to the next `,` are left out.
pub fn hash_without_timestamp(line: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    match line.iter().position(|&b| b == b':') {
        Some(colon) => {
            let rest = &line[colon..];
            let comma = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            line[..colon].hash(&mut h);
            rest[comma..].hash(&mut h);
        }
        None => line.hash(&mut h),
    }
    h.finish()
}

/// The message's text for a summary (at most 200 characters; a non-str one as `<type>`).
///
/// # Safety
/// The GIL is held; `msg` is live.
pub(crate) unsafe fn message_text(py: Python<'_>, msg: *mut ffi::PyObject) -> String {
    // SAFETY: per this function's contract.
    let b = unsafe { Bound::from_borrowed_ptr(py, msg) };
    let text = match b.cast::<PyString>() {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => format!(
            "<{}>",
            b.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ),
    };
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::hash_without_timestamp;

    #[test]
    fn the_timestamp_is_left_out_of_the_hash() {
        let a = br#"{"timestamp":"2026-11-30T09:00:00.000001Z","level":"info","message":"m"}"#;
        let b = br#"{"timestamp":"2026-11-30T09:00:07.123456Z","level":"info","message":"m"}"#;
        let c = br#"{"timestamp":"2026-11-30T09:00:07.123456Z","level":"info","message":"n"}"#;
        assert_eq!(hash_without_timestamp(a), hash_without_timestamp(b));
        assert_ne!(hash_without_timestamp(b), hash_without_timestamp(c));
        let otel_a = br#"{"Timestamp":1795999987755123000,"SeverityText":"INFO"}"#;
        let otel_b = br#"{"Timestamp":1795999987999999999,"SeverityText":"INFO"}"#;
        assert_eq!(
            hash_without_timestamp(otel_a),
            hash_without_timestamp(otel_b)
        );
    }
}
