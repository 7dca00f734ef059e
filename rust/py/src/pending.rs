//! A record an `a*` call could not push at once: held here until the ring has room.
//!
//! The event was logged, so it must end up written or counted as dropped. Whatever happens to
//! the awaitable that waits for room — awaited to the end, cancelled, or never awaited and
//! collected — dropping this object settles it: pushed, or counted as emitted and dropped.

use crate::shared::Shared;
use pyo3::prelude::*;
use std::sync::{Arc, Mutex};

/// An encoded event waiting for ring space (see `ferrolog._aio.push_when_ready`).
#[pyclass(frozen, module = "ferrolog._native")]
pub struct PendingRecord {
    shared: Arc<Shared>,
    /// `None` once pushed or counted as dropped.
    record: Mutex<Option<Box<[u8]>>>,
}

impl PendingRecord {
    pub fn new(shared: Arc<Shared>, record: Box<[u8]>) -> Self {
        Self {
            shared,
            record: Mutex::new(Some(record)),
        }
    }

    fn take_if(&self, push: impl FnOnce(&[u8]) -> bool) -> bool {
        let mut slot = self.record.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_deref() {
            None => true,
            Some(record) if push(record) => {
                *slot = None;
                true
            }
            Some(_) => false,
        }
    }
}

#[pymethods]
impl PendingRecord {
    /// Push the record if the ring has room now. True once it is settled (pushed, or dropped
    /// because the pipeline closed); False while it still waits.
    fn try_push(&self) -> bool {
        let core = &self.shared.core;
        self.take_if(|record| match core.try_push_uncounted(record) {
            Ok(()) => true,
            Err(_) if core.is_closed() => {
                core.count_dropped();
                true
            }
            Err(_) => false,
        })
    }

    /// Give up on the record: count it as emitted and dropped (idempotent).
    fn drop_record(&self) {
        let core = &self.shared.core;
        self.take_if(|_| {
            core.count_dropped();
            true
        });
    }
}

impl Drop for PendingRecord {
    fn drop(&mut self) {
        self.drop_record();
    }
}
