//! Levels: the standard table (stdlib's numbers plus TRACE) — the one every other level table
//! in ferrolog is read from, exported as `ferrolog._native.STANDARD_LEVELS` — and the table of
//! each pipeline, which adds its custom names.

use crate::schema::Schema;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Below DEBUG, for very chatty diagnostics (not in stdlib).
pub const TRACE: i32 = 5;
pub const DEBUG: i32 = 10;
pub const INFO: i32 = 20;
pub const WARNING: i32 = 30;
pub const ERROR: i32 = 40;
pub const CRITICAL: i32 = 50;

/// The standard levels by their canonical (lowercase) names.
pub const STANDARD: [(i32, &str); 6] = [
    (TRACE, "trace"),
    (DEBUG, "debug"),
    (INFO, "info"),
    (WARNING, "warning"),
    (ERROR, "error"),
    (CRITICAL, "critical"),
];

/// Other names accepted for a standard level, as stdlib accepts them.
const ALIASES: [(&str, i32); 3] = [("notset", 0), ("warn", WARNING), ("fatal", CRITICAL)];

/// The standard name of a level number; other numbers are `level_N`.
pub fn standard_name(level: i32) -> String {
    STANDARD
        .iter()
        .find(|(n, _)| *n == level)
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| format!("level_{level}"))
}

/// `STANDARD_LEVELS`: every accepted standard name (aliases included) to its number, in
/// number order, as a read-only mapping.
pub fn standard_levels(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let mut all: Vec<(i32, &str)> = STANDARD.to_vec();
    all.extend(ALIASES.iter().map(|&(name, n)| (n, name)));
    all.sort_by_key(|&(n, _)| n);
    let d = PyDict::new(py);
    for (n, name) in all {
        d.set_item(name, n)?;
    }
    py.import("types")?.getattr("MappingProxyType")?.call1((d,))
}

/// The slot of `level` in [`LevelTable`]'s quick index: the multiples of 5 from 0 to 50.
#[inline]
fn quick_slot(level: i32) -> Option<usize> {
    ((0..=50).contains(&level) && level % 5 == 0).then_some((level / 5) as usize)
}

/// Levels known to one pipeline: the standard ones plus its custom names.
pub struct LevelTable {
    /// (number, lowercase name), sorted by number.
    names: Vec<(i32, String)>,
    /// Pre-encoded level values for the schema, by number.
    texts: Vec<(i32, Box<[u8]>)>,
    /// For the levels that are multiples of 5 from 0 to 50 (the standard ones), their index
    /// in `texts` by `level / 5`: a log call's level text is one lookup.
    quick: [Option<u8>; 11],
    schema: Schema,
}

impl LevelTable {
    pub fn new(schema: Schema, custom: &[(i32, String)]) -> PyResult<Self> {
        let mut names: Vec<(i32, String)> = STANDARD
            .iter()
            .map(|&(n, name)| (n, name.to_owned()))
            .collect();
        for (n, name) in custom {
            let lname = name.to_ascii_lowercase();
            if lname.is_empty()
                || lname.len() > 64
                || !lname.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(PyValueError::new_err(format!(
                    "custom level name {name:?} must be 1 to 64 letters, digits or '_'"
                )));
            }
            // A custom level never renames or shadows another level: the standard names,
            // their aliases and numbers, and earlier custom levels all stay what they are.
            if names.iter().any(|(_, nm)| *nm == lname)
                || ALIASES.iter().any(|(alias, _)| *alias == lname)
            {
                return Err(PyValueError::new_err(format!(
                    "levels: the name {name:?} is already taken by another level; pick another name"
                )));
            }
            if let Some((_, taken)) = names.iter().find(|(m, _)| m == n) {
                return Err(PyValueError::new_err(format!(
                    "levels: the number {n} is already the level {taken:?}; pick another number"
                )));
            }
            names.push((*n, lname));
        }
        names.sort();
        let texts: Vec<(i32, Box<[u8]>)> = names
            .iter()
            .map(|(n, nm)| (*n, schema.level_text(*n, nm).into_boxed_slice()))
            .collect();
        let mut quick = [None; 11];
        for (i, (n, _)) in texts.iter().enumerate() {
            if let Some(slot) = quick_slot(*n) {
                quick[slot] = u8::try_from(i).ok();
            }
        }
        Ok(Self {
            names,
            texts,
            quick,
            schema,
        })
    }

    /// The encoded level value for `level` (a JSON string).
    #[inline]
    pub fn text(&self, level: i32) -> std::borrow::Cow<'_, [u8]> {
        if let Some(i) = quick_slot(level).and_then(|slot| self.quick[slot]) {
            return std::borrow::Cow::Borrowed(&self.texts[usize::from(i)].1);
        }
        match self.texts.iter().find(|(n, _)| *n == level) {
            Some((_, t)) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(self.schema.level_text(level, &standard_name(level))),
        }
    }

    pub fn name_of(&self, level: i32) -> String {
        self.names
            .iter()
            .find(|(n, _)| *n == level)
            .map(|(_, nm)| nm.clone())
            .unwrap_or_else(|| standard_name(level))
    }

    /// A level given as a number or a case-insensitive name (NOTSET is 0).
    pub fn parse(&self, level: &Bound<'_, PyAny>) -> PyResult<i32> {
        if let Ok(n) = level.extract::<i32>() {
            return Ok(n);
        }
        let name: String = level.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "a level is an int or a name, got {}",
                level.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?;
        let lname = name.to_ascii_lowercase();
        if let Some(&(_, n)) = ALIASES.iter().find(|(alias, _)| *alias == lname) {
            return Ok(n);
        }
        self.names
            .iter()
            .find(|(_, nm)| *nm == lname)
            .map(|(n, _)| *n)
            .ok_or_else(|| {
                let valid: Vec<String> = std::iter::once("notset (0)".to_owned())
                    .chain(self.names.iter().map(|(n, nm)| format!("{nm} ({n})")))
                    .collect();
                PyValueError::new_err(format!(
                    "unknown level {name:?}; valid levels: {}",
                    valid.join(", ")
                ))
            })
    }

    pub fn items(&self) -> &[(i32, String)] {
        &self.names
    }
}
