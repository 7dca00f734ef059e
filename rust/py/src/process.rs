//! Process-wide hooks over the registry of live pipelines: fork (the child gets writers of its
//! own and none of the parent's backlog) and interpreter exit (every pipeline is closed).

use crate::channel::start_runner;
use crate::shared::{timeout_of, Shared};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

/// Live pipelines, weakly held, for the fork and interpreter-exit hooks (the one piece of
/// process-wide state: those hooks are process-wide by nature).
static LIVE: Mutex<Live> = Mutex::new(Vec::new());

fn live_pipelines(py: Python<'_>) -> Vec<Arc<Shared>> {
    let mut live = lock_live(py);
    live.retain(|w| w.strong_count() > 0);
    live.iter().filter_map(Weak::upgrade).collect()
}

type Live = Vec<Weak<Shared>>;

/// This process's id, cached (0: not read yet); forgotten in a forked child.
static PID: AtomicU32 = AtomicU32::new(0);

/// This process's id, without a system call after the first (the `pid` static field).
#[inline]
pub fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            let id = std::process::id();
            PID.store(id, Ordering::Relaxed);
            id
        }
        id => id,
    }
}

thread_local! {
    /// The registry's guard, held by the forking thread from `_before_fork` to the after-fork
    /// hook, so that no other thread holds the registry at the moment of `fork()`.
    static FORK_GUARD: std::cell::RefCell<Option<MutexGuard<'static, Live>>> =
        const { std::cell::RefCell::new(None) };
}

/// Take the registry from a thread that holds the GIL, letting go of the GIL while it waits.
///
/// The forking thread holds the registry from its `before` hook to its `after_in_parent` hook,
/// and between the two other fork hooks run Python code, which hands the GIL around. A thread
/// that waited for the registry with the GIL held would keep the forking thread from ever
/// reaching the hook that lets go of it.
fn lock_live(py: Python<'_>) -> MutexGuard<'static, Live> {
    loop {
        match LIVE.try_lock() {
            Ok(guard) => return guard,
            Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                py.detach(|| std::thread::sleep(std::time::Duration::from_micros(50)));
            }
        }
    }
}

/// Registered with `os.register_at_fork(before=...)`: take the live-pipeline registry, so the
/// child gets it consistent and unlocked.
///
/// It also finishes every lazily initialised helper of the extension first. pyo3 initialises
/// such a cell outside the GIL and re-attaches to run the initialiser; a fork that lands
/// while another thread is in between leaves the cell "being initialised" forever in the
/// child, whose first log call then waits for it without end. Initialised here, by the
/// forking thread (waiting, GIL released, for any initialiser already running), no cell is
/// left half-done at the fork.
#[pyfunction]
pub fn _before_fork(py: Python<'_>) {
    let _ = crate::context::context_var(py);
    crate::event::warm(py);
    crate::logger::warm(py);
    crate::methods::warm(py);
    let guard = lock_live(py);
    FORK_GUARD.with(|g| *g.borrow_mut() = Some(guard));
}

/// Registered with `os.register_at_fork(after_in_parent=...)`: let go of the registry.
#[pyfunction]
pub fn _after_fork_parent() {
    FORK_GUARD.with(|g| g.borrow_mut().take());
}

/// Registered with `os.register_at_fork(after_in_child=...)`: in the child, every pipeline
/// forgets the parent's pending records and gets a writer thread of its own; Python sinks get
/// a runner thread of their own too (the parent's do not exist here).
#[pyfunction]
pub fn _after_fork_child(py: Python<'_>) {
    PID.store(0, Ordering::Relaxed);
    // The guard taken before the fork; without one (a fork that bypassed the hooks' order)
    // the lock is free anyway: no other thread exists in the child.
    let guard = FORK_GUARD
        .with(|g| g.borrow_mut().take())
        .unwrap_or_else(|| lock_live(py));
    let pipelines: Vec<_> = guard.iter().filter_map(Weak::upgrade).collect();
    drop(guard);
    for shared in pipelines {
        after_fork(&shared.core);
        shared.policies.reset();
        shared.dedupe.reset();
        // The old thread object names a thread that does not exist in the child.
        *shared.runner.lock().unwrap_or_else(|e| e.into_inner()) = None;
        shared.flusher.reset_after_fork();
        if let Some(f) = &shared.py_flush {
            f.reset();
        }
        if !shared.py_sinks.is_empty()
            && !shared.core.is_closed()
            && start_runner(py, &shared).is_err()
        {
            shared.core.count_error();
        }
    }
}

/// In a forked child: an empty ring, zeroed counters and a writer thread of its own.
fn after_fork(p: &Arc<ferrolog_core::Pipeline>) {
    // SAFETY: called from the `after_in_child` fork hook, before any other thread of the
    // child exists or can use the pipeline (Python runs the hook right after fork()).
    if unsafe { p.after_fork_child() }.is_err() {
        p.count_error();
    }
}

/// Registered with `atexit`: close every open pipeline, all within `timeout` seconds — drain
/// the ring, close the native sinks (finishing their gzip jobs), and let each Python sink's
/// runner call `flush()` and `stop()`. Later events are dropped and counted.
#[pyfunction]
#[pyo3(signature = (timeout = 5.0))]
pub fn _close_all(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let deadline = Instant::now() + timeout_of(Some(timeout))?;
    let mut ok = true;
    for shared in live_pipelines(py) {
        ok &= shared.close(py, deadline)?;
    }
    Ok(ok)
}

/// Add a new pipeline to the registry the hooks walk (forgetting the ones gone since).
pub fn register(py: Python<'_>, shared: &Arc<Shared>) {
    let mut live = lock_live(py);
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(shared));
}
