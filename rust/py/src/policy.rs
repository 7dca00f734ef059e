//! Built-in event policies, in native code on the caller's thread: a level per logger name,
//! sampling (keep 1 in N per key) and rate limiting (a token bucket per key, with a summary
//! event of what was suppressed).
//!
//! Rules select loggers by dotted-name prefix (`"app.http"` matches `app.http` and
//! `app.http.client`; `""` matches all) and apply to events at or below their level, so
//! warnings and errors pass untouched unless a rule says otherwise. Which rules apply to a
//! logger is decided once, when the logger is made (see [`Policies::rules_for`]); a logger no
//! rule selects keeps the plain fast path (one empty-slice test).
//!
//! Keys: the event's message (its text; a non-str message keys by its type) or the logger's
//! name. At most [`MAX_KEYS`] keys are tracked per rule; further keys share one slot.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use crate::levels::LevelTable;

/// Keys tracked per rule; beyond this, new keys share one overflow slot.
pub const MAX_KEYS: usize = 10_000;
/// The key of the shared overflow slot.
const OVERFLOW_KEY: u64 = u64::MAX;

/// What a rule keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyBy {
    Message,
    Logger,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Keep the first of every `every` events per key.
    Sample { every: u64 },
    /// Up to `burst` events at once, refilled at `per_second`.
    Limit { per_second: f64, burst: f64 },
}

#[derive(Debug)]
struct KeyState {
    seen: u64,
    tokens: f64,
    refilled: Instant,
    /// Events the limit dropped since the last summary.
    suppressed: u64,
    /// The key's text, for the summary.
    text: String,
}

#[derive(Debug)]
struct Rule {
    prefix: String,
    max_level: i32,
    kind: Kind,
    by: KeyBy,
    keys: Mutex<HashMap<u64, KeyState>>,
}

/// A suppressed-events summary to log before the event that ended the suppression.
#[derive(Debug)]
pub struct Summary {
    pub suppressed: u64,
    pub key: String,
    pub level: i32,
}

/// What a policy decided for one event.
pub enum Admit {
    Pass,
    /// Pass, after logging these summaries.
    PassAfter(Vec<Summary>),
    Drop,
}

/// Levels by logger-name prefix: those configured (`logger_levels`) and those set at run
/// time (`Pipeline.set_level`), which win over a configured level for the same prefix.
#[derive(Debug, Default)]
struct LevelMap {
    configured: Vec<(String, i32)>,
    runtime: Vec<(String, i32)>,
    /// Both merged, longest prefix first (a runtime level replaces a configured one).
    merged: Vec<(String, i32)>,
}

impl LevelMap {
    fn rebuild(&mut self) {
        let mut merged = self.runtime.clone();
        for (prefix, level) in &self.configured {
            if !merged.iter().any(|(p, _)| p == prefix) {
                merged.push((prefix.clone(), *level));
            }
        }
        merged.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        self.merged = merged;
    }
}

/// A pipeline's policies; the per-key state and the levels behind locks.
#[derive(Debug, Default)]
pub struct Policies {
    logger_levels: RwLock<LevelMap>,
    /// Bumped on every run-time level change: each logger compares it with the generation its
    /// cached level was computed at (one load and one compare per call), and recomputes its
    /// level when they differ.
    pub level_generation: AtomicU64,
    rules: Vec<Rule>,
    /// Events sampling kept out.
    pub sampled_out: AtomicU64,
    /// Events rate limits suppressed.
    pub suppressed: AtomicU64,
}

/// Whether `name` is `prefix` or below it in the dotted hierarchy.
fn selects(prefix: &str, name: &str) -> bool {
    prefix.is_empty()
        || name == prefix
        || (name.len() > prefix.len()
            && name.starts_with(prefix)
            && name.as_bytes()[prefix.len()] == b'.')
}

impl Policies {
    /// Build from the pipeline's arguments: `logger_levels` a dict of prefix → level, `rules`
    /// a list of dicts (`{"kind": "sample"|"limit", "logger", "level", "every" | "per_second",
    /// "burst", "by": "message"|"logger"}`). Errors name the rule and field.
    pub fn new(
        levels: &LevelTable,
        logger_levels: Option<&Bound<'_, PyDict>>,
        rules: Option<&Bound<'_, PyList>>,
    ) -> PyResult<Self> {
        let mut by_name = Vec::new();
        if let Some(d) = logger_levels {
            for (k, v) in d.iter() {
                let prefix: String = k.extract().map_err(|_| {
                    PyTypeError::new_err("logger_levels: keys are logger names (str)")
                })?;
                let level = levels.parse(&v).map_err(|e| {
                    let why = e.value(v.py()).to_string();
                    PyValueError::new_err(format!("logger_levels[{prefix:?}]: {why}"))
                })?;
                by_name.push((prefix, level));
            }
        }
        let mut map = LevelMap {
            configured: by_name,
            ..LevelMap::default()
        };
        map.rebuild();
        let mut out = Vec::new();
        for (i, spec) in rules.iter().flat_map(|l| l.iter()).enumerate() {
            let at = format!("rules[{i}]");
            let spec = spec
                .cast_into::<PyDict>()
                .map_err(|_| PyTypeError::new_err(format!("{at}: a rule is a dict")))?;
            let get = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
                Ok(spec.get_item(key)?.filter(|v| !v.is_none()))
            };
            let text = |key: &str, default: &str| -> PyResult<String> {
                get(key)?.map_or(Ok(default.to_owned()), |v| {
                    v.extract()
                        .map_err(|_| PyTypeError::new_err(format!("{at}.{key} must be a str")))
                })
            };
            let positive = |key: &str| -> PyResult<f64> {
                let v: f64 = get(key)?
                    .ok_or_else(|| PyValueError::new_err(format!("{at}: {key} is required")))?
                    .extract()
                    .map_err(|_| PyTypeError::new_err(format!("{at}.{key} must be a number")))?;
                if v.is_finite() && v > 0.0 {
                    Ok(v)
                } else {
                    Err(PyValueError::new_err(format!(
                        "{at}.{key} must be > 0, got {v}"
                    )))
                }
            };
            let kind = match text("kind", "")?.as_str() {
                "sample" => {
                    let every = positive("every")?;
                    if every.fract() != 0.0 || every > 1e12 {
                        return Err(PyValueError::new_err(format!(
                            "{at}.every must be a whole number of events, got {every}"
                        )));
                    }
                    Kind::Sample {
                        every: every as u64,
                    }
                }
                "limit" => {
                    let per_second = positive("per_second")?;
                    let burst = match get("burst")? {
                        None => per_second.max(1.0),
                        Some(_) => positive("burst")?,
                    };
                    Kind::Limit { per_second, burst }
                }
                other => {
                    return Err(PyValueError::new_err(format!(
                        "{at}.kind must be 'sample' or 'limit', got {other:?}"
                    )))
                }
            };
            let by = match text("by", "message")?.as_str() {
                "message" => KeyBy::Message,
                "logger" => KeyBy::Logger,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "{at}.by must be 'message' or 'logger', got {other:?}"
                    )))
                }
            };
            let max_level = match get("level")? {
                None => crate::levels::INFO,
                Some(v) => levels.parse(&v).map_err(|e| {
                    let why = e.value(v.py()).to_string();
                    PyValueError::new_err(format!("{at}.level: {why}"))
                })?,
            };
            out.push(Rule {
                prefix: text("logger", "")?,
                max_level,
                kind,
                by,
                keys: Mutex::new(HashMap::new()),
            });
        }
        Ok(Policies {
            logger_levels: RwLock::new(map),
            rules: out,
            ..Policies::default()
        })
    }

    /// The level configured for logger `name` (longest matching prefix), if any.
    pub fn level_for(&self, name: &str) -> Option<i32> {
        self.logger_levels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .merged
            .iter()
            .find(|(prefix, _)| selects(prefix, name))
            .map(|(_, level)| *level)
    }

    /// Set (`Some`) or clear (`None`: back to the configured level, if any) the run-time level
    /// of the loggers named `prefix` or below it, and tell every logger to look again.
    pub fn set_level(&self, prefix: &str, level: Option<i32>) {
        let mut map = self
            .logger_levels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.runtime.retain(|(p, _)| p != prefix);
        if let Some(level) = level {
            map.runtime.push((prefix.to_owned(), level));
        }
        map.rebuild();
        // Under the lock: a logger that sees the new generation reads the new map.
        self.level_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forget every run-time level (the configured ones apply again).
    pub fn reset_levels(&self) {
        let mut map = self
            .logger_levels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.runtime.clear();
        map.rebuild();
        self.level_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The levels in force by prefix: configured, with the run-time ones over them.
    pub fn levels_in_force(&self) -> Vec<(String, i32)> {
        self.logger_levels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .merged
            .clone()
    }

    /// The indices of the rules that select logger `name`.
    pub fn rules_for(&self, name: &str) -> Box<[u16]> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| selects(&r.prefix, name))
            .map(|(i, _)| i as u16)
            .collect()
    }

    /// Decide for one event of logger `name` at `level` with message `msg`, under the rules
    /// `rules` (from [`rules_for`](Self::rules_for)).
    ///
    /// # Safety
    /// `msg` is a live object and the GIL is held.
    #[inline(never)]
    pub unsafe fn admit(
        &self,
        rules: &[u16],
        name: &Bound<'_, PyString>,
        level: i32,
        msg: *mut ffi::PyObject,
    ) -> Admit {
        let mut summaries = Vec::new();
        let mut now = None;
        for &i in rules {
            let rule = &self.rules[i as usize];
            if level > rule.max_level {
                continue;
            }
            // SAFETY: per this function's contract.
            let hash = unsafe { key_hash(rule.by, name, msg) };
            let mut keys = rule.keys.lock().unwrap_or_else(PoisonError::into_inner);
            let hash = if keys.len() >= MAX_KEYS && !keys.contains_key(&hash) {
                OVERFLOW_KEY
            } else {
                hash
            };
            let now = *now.get_or_insert_with(Instant::now);
            let state = keys.entry(hash).or_insert_with(|| KeyState {
                seen: 0,
                tokens: match rule.kind {
                    Kind::Limit { burst, .. } => burst,
                    Kind::Sample { .. } => 0.0,
                },
                refilled: now,
                suppressed: 0,
                text: if hash == OVERFLOW_KEY {
                    "(other keys)".to_owned()
                } else {
                    // SAFETY: per this function's contract.
                    unsafe { key_text(rule.by, name, msg) }
                },
            });
            match rule.kind {
                Kind::Sample { every } => {
                    state.seen += 1;
                    if (state.seen - 1) % every != 0 {
                        self.sampled_out.fetch_add(1, Ordering::Relaxed);
                        return Admit::Drop;
                    }
                }
                Kind::Limit { per_second, burst } => {
                    let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
                    state.tokens = (state.tokens + elapsed * per_second).min(burst);
                    state.refilled = now;
                    if state.tokens < 1.0 {
                        state.suppressed += 1;
                        self.suppressed.fetch_add(1, Ordering::Relaxed);
                        return Admit::Drop;
                    }
                    state.tokens -= 1.0;
                    if state.suppressed > 0 {
                        summaries.push(Summary {
                            suppressed: std::mem::take(&mut state.suppressed),
                            key: state.text.clone(),
                            level,
                        });
                    }
                }
            }
        }
        if summaries.is_empty() {
            Admit::Pass
        } else {
            Admit::PassAfter(summaries)
        }
    }

    /// Take every pending summary (at close), with the prefix of the rule's loggers.
    pub fn drain_summaries(&self) -> Vec<(String, Summary)> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let mut keys = rule.keys.lock().unwrap_or_else(PoisonError::into_inner);
            for state in keys.values_mut() {
                if state.suppressed > 0 {
                    out.push((
                        rule.prefix.clone(),
                        Summary {
                            suppressed: std::mem::take(&mut state.suppressed),
                            key: state.text.clone(),
                            level: rule.max_level,
                        },
                    ));
                }
            }
        }
        out
    }

    /// Forget the per-key state (in a forked child: the parent's counts are not the child's).
    ///
    /// No parent thread can hold a rule's lock at the fork: it is only taken by `admit`, with
    /// the GIL held and without releasing it, and `os.fork()` forks holding the GIL.
    pub fn reset(&self) {
        for rule in &self.rules {
            if let Ok(mut keys) = rule.keys.try_lock() {
                keys.clear();
            }
        }
        self.sampled_out.store(0, Ordering::Relaxed);
        self.suppressed.store(0, Ordering::Relaxed);
    }
}

/// The hash of an event's key under `by` (no allocation for a str message or a name).
///
/// # Safety
/// `msg` is live and the GIL is held.
unsafe fn key_hash(by: KeyBy, name: &Bound<'_, PyString>, msg: *mut ffi::PyObject) -> u64 {
    let mut h = DefaultHasher::new();
    match by {
        KeyBy::Logger => hash_str(name, &mut h),
        KeyBy::Message => {
            // SAFETY: per this function's contract.
            let b = unsafe { Bound::from_borrowed_ptr(name.py(), msg) };
            match b.cast::<PyString>() {
                Ok(s) => hash_str(s, &mut h),
                Err(_) => b.get_type().as_ptr().hash(&mut h),
            }
        }
    }
    h.finish().min(OVERFLOW_KEY - 1)
}

fn hash_str(s: &Bound<'_, PyString>, h: &mut DefaultHasher) {
    match s.to_str() {
        Ok(text) => text.hash(h),
        Err(_) => s.to_string_lossy().hash(h),
    }
}

/// The text of an event's key, for its summary (at most 200 characters).
///
/// # Safety
/// As [`key_hash`].
unsafe fn key_text(by: KeyBy, name: &Bound<'_, PyString>, msg: *mut ffi::PyObject) -> String {
    match by {
        KeyBy::Logger => name.to_string_lossy().chars().take(200).collect(),
        // SAFETY: per this function's contract.
        KeyBy::Message => unsafe { crate::dedupe::message_text(name.py(), msg) },
    }
}
