//! The test tap (`ferrolog.testing.capture_logs`): while a capture is active anywhere in the
//! process, every encoded event is also handed, as bytes, to one Python callable on the
//! caller's thread, which keeps it for the capture of the caller's context. So a test sees
//! the events of loggers made before it started (a cached module-level logger), at once,
//! without a flush.
//!
//! An event logged where no capture is in context (a thread started without it) goes to the
//! most recently started capture still active.
//!
//! Off (no capture active), it costs one relaxed atomic load per event.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Whether a tap is installed (read on every event).
static ON: AtomicBool = AtomicBool::new(false);
/// The tap callable and the active captures' lists, oldest first; the tap is removed when the
/// last capture ends.
static TAP: Mutex<Tap> = Mutex::new(Tap {
    call: None,
    captures: Vec::new(),
});

struct Tap {
    call: Option<Py<PyAny>>,
    captures: Vec<Py<PyAny>>,
}

/// Whether events must be handed to the tap.
#[inline]
pub fn active() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Hand one encoded event (a complete line) to the tap; its failure is counted by the caller.
/// `tap(line, latest)`: `latest` is the most recent active capture, for an event logged
/// where no capture is in context.
#[cold]
#[inline(never)]
pub fn send(py: Python<'_>, line: &[u8]) -> PyResult<()> {
    let (call, latest) = {
        let tap = TAP.lock().unwrap_or_else(|e| e.into_inner());
        (
            tap.call.as_ref().map(|t| t.clone_ref(py)),
            tap.captures.last().map(|c| c.clone_ref(py)),
        )
    };
    match call {
        Some(call) => call
            .bind(py)
            .call1((PyBytes::new(py, line), latest))
            .map(drop),
        None => Ok(()),
    }
}

/// Start a capture into `events`: install `tap` (the same callable for every capture).
#[pyfunction]
pub fn _tap_acquire(tap: Py<PyAny>, events: Py<PyAny>) {
    let mut slot = TAP.lock().unwrap_or_else(|e| e.into_inner());
    slot.call.get_or_insert(tap);
    slot.captures.push(events);
    ON.store(true, Ordering::SeqCst);
}

/// End the capture into `events`: the last one removes the tap.
#[pyfunction]
pub fn _tap_release(events: Bound<'_, PyAny>) {
    let mut slot = TAP.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = slot.captures.iter().rposition(|c| c.is(&events)) {
        let _ = slot.captures.remove(i);
    }
    if slot.captures.is_empty() {
        ON.store(false, Ordering::SeqCst);
        slot.call = None;
    }
}
