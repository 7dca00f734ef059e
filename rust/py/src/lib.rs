//! `ferrolog._native`: the PyO3 extension behind ferrolog's hot path.
#![deny(unsafe_op_in_unsafe_fn)]

mod asgi;
mod channel;
mod context;
mod dedupe;
mod encode;
mod escape;
mod event;
mod fault;
mod fields;
mod flush;
mod keys;
mod levels;
mod logger;
mod methods;
mod pending;
mod pipeline;
mod policy;
mod process;
mod processors;
mod redact;
mod routing;
mod schema;
mod scope;
mod shared;
mod sink_spec;
mod specials;
mod tap;
mod timestamp;
mod types;

use pyo3::prelude::*;

// The encoder reads dict and list items as borrowed references, which is only safe while the
// GIL keeps other threads from mutating them: a free-threaded interpreter must keep the GIL
// on when it imports this module, until the encoder holds its own references or locks.
#[pymodule(gil_used = true)]
mod _native {
    use super::*;

    #[allow(non_upper_case_globals)]
    #[pymodule_export]
    const __version__: &str = env!("CARGO_PKG_VERSION");

    #[pymodule_export]
    use crate::asgi::{begin_request, request_fields, request_id, ResponseSend};
    #[pymodule_export]
    use crate::channel::{PyBatch, SinkChannel};
    #[pymodule_export]
    use crate::context::{bind_contextvars, BoundContextVars, ContextFields};
    #[pymodule_export]
    use crate::encode::encode;
    #[pymodule_export]
    use crate::fault::PanicOnEncode;
    #[pymodule_export]
    use crate::flush::FlushTicket;
    #[pymodule_export]
    use crate::logger::Logger;
    #[pymodule_export]
    use crate::methods::{Ready, YieldOnce};
    #[pymodule_export]
    use crate::pending::PendingRecord;
    #[pymodule_export]
    use crate::pipeline::{redaction_pattern_error, Pipeline};
    #[pymodule_export]
    use crate::process::{_after_fork_child, _after_fork_parent, _before_fork, _close_all};
    #[pymodule_export]
    use crate::routing::Router;
    #[pymodule_export]
    use crate::scope::{
        add_to_request_event, current_request_scope, request_counter, request_events_enabled,
        request_timing, RequestScope,
    };
    #[pymodule_export]
    use crate::tap::{_tap_acquire, _tap_release};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        methods::install_methods(m.py())?;
        context::add_bound_contextvars(m)?;
        m.add("STANDARD_LEVELS", levels::standard_levels(m.py())?)?;
        m.add(
            "DEFAULT_REDACTED_FIELDS",
            pyo3::types::PyTuple::new(m.py(), redact::DEFAULT_FIELDS)?,
        )?;
        m.add(
            "REDACTION_PATTERNS",
            pyo3::types::PyTuple::new(m.py(), redact::builtin_names())?,
        )?;
        m.add(
            "context_var",
            context::context_var(m.py())?.clone_ref(m.py()),
        )?;
        m.add(
            "request_scope_var",
            scope::scope_var(m.py())?.clone_ref(m.py()),
        )?;
        Ok(())
    }
}
