//! Graceful degradation: a sink whose write fails hands its batches to the pipeline's fallback
//! sink (standard error by default) until a probe finds it working again.
//!
//! Each native sink runs behind a [`Guarded`] slot, a small circuit breaker that opens on the
//! first failed write: from then on its batches go straight to the fallback, and one batch
//! every probe interval (1 s, doubling up to 30 s) is offered to the sink first to find out
//! whether it recovered. The switch and the recovery are reported once each on standard error
//! (`ferrolog: ...` lines, never through the pipeline itself, which could loop), not once per
//! event. A healthy sink costs nothing extra: no clock read, no lock.
//!
//! Records the fallback takes count as written (they were delivered, to the fallback) and as
//! `rerouted`; records neither could take are dropped and counted, as without a fallback.

use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::net::{DeliverySnapshot, DeliveryStats};
use crate::sink::Sink;

/// The first wait before a failed sink is offered a batch again.
pub const PROBE_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two offers to a failed sink.
pub const PROBE_MAX: Duration = Duration::from_secs(30);

/// One sink's health, readable from any thread.
#[derive(Debug)]
pub struct SinkStats {
    name: String,
    failing: AtomicBool,
    errors: AtomicU64,
    rerouted: AtomicU64,
    failovers: AtomicU64,
    delivery: Option<Arc<DeliveryStats>>,
}

/// A snapshot of one sink's [`SinkStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkHealth {
    /// The sink's name, e.g. `"stdout"` or `"file:/var/log/app.log"`.
    pub name: String,
    /// Whether its batches go to the fallback now.
    pub failing: bool,
    /// Its failed calls (writes, probes, flushes, closes).
    pub errors: u64,
    /// Records it should have written that the fallback wrote instead.
    pub rerouted: u64,
    /// How many times it switched to the fallback.
    pub failovers: u64,
    /// A network sink's delivery counters (`None` for local sinks).
    pub delivery: Option<DeliverySnapshot>,
}

impl SinkStats {
    pub(crate) fn new(name: &str, delivery: Option<Arc<DeliveryStats>>) -> Self {
        SinkStats {
            delivery,
            name: name.to_owned(),
            failing: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            rerouted: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> SinkHealth {
        SinkHealth {
            name: self.name.clone(),
            failing: self.failing.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            rerouted: self.rerouted.load(Ordering::Relaxed),
            failovers: self.failovers.load(Ordering::Relaxed),
            delivery: self.delivery.as_ref().map(|d| d.snapshot()),
        }
    }

    pub(crate) fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_rerouted(&self, records: u64) {
        self.rerouted.fetch_add(records, Ordering::Relaxed);
    }

    pub(crate) fn reset(&self) {
        self.failing.store(false, Ordering::Relaxed);
        for c in [&self.errors, &self.rerouted, &self.failovers] {
            c.store(0, Ordering::Relaxed);
        }
        if let Some(d) = &self.delivery {
            d.reset();
        }
    }
}

/// When a failed sink is next offered a batch, and the wait after that.
#[derive(Debug, Clone, Copy)]
struct Probe {
    at: Instant,
    wait: Duration,
}

/// A sink and its breaker. Only the writer thread touches it.
pub(crate) struct Guarded {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) stats: Arc<SinkStats>,
    /// `Some` while the sink is failing.
    probe: Option<Probe>,
}

/// What became of a batch offered to a [`Guarded`] sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Written,
    /// The sink's write failed (one error): reroute the batch.
    Failed,
    /// The sink is failing and not due for a probe, so it was not called: reroute the batch.
    Skipped,
}

impl Guarded {
    pub(crate) fn new(sink: Box<dyn Sink>) -> Self {
        let stats = Arc::new(SinkStats::new(sink.name(), sink.delivery()));
        Guarded {
            sink,
            stats,
            probe: None,
        }
    }

    pub(crate) fn is_failing(&self) -> bool {
        self.probe.is_some()
    }

    /// Offer `batch` to the sink unless it is failing and not due for a probe. `fallback` names
    /// where its batches go; without one the sink is offered every batch (skipping it would
    /// drop batches it might have taken).
    pub(crate) fn write(&mut self, batch: &[u8], fallback: Option<&str>) -> Outcome {
        if let (Some(probe), Some(_)) = (self.probe, fallback) {
            if Instant::now() < probe.at && !self.sink.ready() {
                return Outcome::Skipped;
            }
        }
        match call(|| self.sink.write_batch(batch)) {
            Ok(()) => {
                if self.probe.take().is_some() {
                    self.stats.failing.store(false, Ordering::Relaxed);
                    let meanwhile = match fallback {
                        Some(f) => format!(
                            "{} went to {f} meanwhile",
                            self.stats.rerouted.load(Ordering::Relaxed)
                        ),
                        None => "those it failed were dropped and counted".to_owned(),
                    };
                    report(&format!(
                        "sink {} recovered; its events go to it again ({meanwhile})",
                        self.stats.name,
                    ));
                }
                Outcome::Written
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                match &mut self.probe {
                    Some(probe) => {
                        probe.wait = (probe.wait * 2).min(PROBE_MAX);
                        probe.at = Instant::now() + probe.wait;
                    }
                    None => {
                        self.probe = Some(Probe {
                            at: Instant::now() + PROBE_FIRST,
                            wait: PROBE_FIRST,
                        });
                        self.stats.failing.store(true, Ordering::Relaxed);
                        self.stats.failovers.fetch_add(1, Ordering::Relaxed);
                        report(&match fallback {
                            Some(f) => format!(
                                "sink {} failed ({e}); its events go to the fallback sink {f} \
                                 until it recovers (retried after {} s, then less and less \
                                 often, at least every {} s)",
                                self.stats.name,
                                PROBE_FIRST.as_secs(),
                                PROBE_MAX.as_secs(),
                            ),
                            None => format!(
                                "sink {} failed ({e}); there is no fallback sink, so the events \
                                 it fails to write are dropped and counted until it recovers",
                                self.stats.name,
                            ),
                        });
                    }
                }
                Outcome::Failed
            }
        }
    }
}

/// The fallback sink, shared by the writer thread and the Python sinks' runner (whose failed
/// batches it also takes). Reports its own failure once until it works again.
pub(crate) struct Fallback {
    sink: Box<dyn Sink>,
    broken: bool,
    closed: bool,
}

impl Fallback {
    pub(crate) fn new(sink: Box<dyn Sink>) -> Self {
        Fallback {
            sink,
            broken: false,
            closed: false,
        }
    }

    /// Write `batch`; `false` if the fallback failed too (the caller drops the records).
    pub(crate) fn write(&mut self, batch: &[u8]) -> bool {
        match call(|| self.sink.write_batch(batch)) {
            Ok(()) => {
                self.broken = false;
                true
            }
            Err(e) => {
                if !self.broken {
                    self.broken = true;
                    report(&format!(
                        "the fallback sink {} failed too ({e}); events that no sink could take \
                         are dropped and counted",
                        self.sink.name()
                    ));
                }
                false
            }
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        call(|| self.sink.flush())
    }

    /// Close the sink; later calls do nothing.
    pub(crate) fn close(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        call(|| self.sink.close())
    }
}

/// Run one sink call, turning a panic into an error.
fn call(f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(io::Error::other("the sink panicked")))
}

/// Write one `ferrolog: ...` line to standard error (fd 2), ignoring failure: a diagnostic
/// must never become an error of its own.
pub fn report(message: &str) {
    let line = format!("ferrolog: {message}\n");
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Fails every write while `fail` is set.
    struct Flaky {
        fail: Arc<AtomicBool>,
        writes: Arc<AtomicU64>,
    }

    impl Sink for Flaky {
        fn name(&self) -> &str {
            "flaky"
        }
        fn write_batch(&mut self, _batch: &[u8]) -> io::Result<()> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            if self.fail.load(Ordering::Relaxed) {
                Err(io::Error::from_raw_os_error(28))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn a_failed_sink_is_skipped_until_its_probe_is_due_then_recovers() {
        let fail = Arc::new(AtomicBool::new(true));
        let writes = Arc::new(AtomicU64::new(0));
        let mut slot = Guarded::new(Box::new(Flaky {
            fail: fail.clone(),
            writes: writes.clone(),
        }));
        assert_eq!(slot.write(b"a\n", Some("stderr")), Outcome::Failed);
        assert!(slot.is_failing());
        // Not due: the sink is not even called.
        assert_eq!(slot.write(b"b\n", Some("stderr")), Outcome::Skipped);
        assert_eq!(writes.load(Ordering::Relaxed), 1);
        let h = slot.stats.snapshot();
        assert_eq!((h.failing, h.errors, h.failovers), (true, 1, 1));
        // A failed probe doubles the wait.
        slot.probe.as_mut().unwrap().at = Instant::now();
        assert_eq!(slot.write(b"c\n", Some("stderr")), Outcome::Failed);
        assert_eq!(slot.probe.unwrap().wait, PROBE_FIRST * 2);
        assert_eq!(
            slot.stats.snapshot().failovers,
            1,
            "one switch, however many failures"
        );
        // A successful probe closes the breaker.
        fail.store(false, Ordering::Relaxed);
        slot.probe.as_mut().unwrap().at = Instant::now();
        assert_eq!(slot.write(b"d\n", Some("stderr")), Outcome::Written);
        assert!(!slot.is_failing());
        assert!(!slot.stats.snapshot().failing);
        assert_eq!(slot.write(b"e\n", Some("stderr")), Outcome::Written);
    }

    #[test]
    fn without_a_fallback_a_failing_sink_is_offered_every_batch() {
        let fail = Arc::new(AtomicBool::new(true));
        let writes = Arc::new(AtomicU64::new(0));
        let mut slot = Guarded::new(Box::new(Flaky {
            fail: fail.clone(),
            writes: writes.clone(),
        }));
        assert_eq!(slot.write(b"a\n", None), Outcome::Failed);
        assert_eq!(slot.write(b"b\n", None), Outcome::Failed);
        assert_eq!(writes.load(Ordering::Relaxed), 2);
        fail.store(false, Ordering::Relaxed);
        assert_eq!(slot.write(b"c\n", None), Outcome::Written);
        assert!(!slot.is_failing());
        assert_eq!(slot.stats.snapshot().failovers, 1);
    }

    #[test]
    fn the_probe_wait_is_capped() {
        let fail = Arc::new(AtomicBool::new(true));
        let mut slot = Guarded::new(Box::new(Flaky {
            fail,
            writes: Arc::default(),
        }));
        for _ in 0..20 {
            if let Some(p) = slot.probe.as_mut() {
                p.at = Instant::now();
            }
            slot.write(b"x\n", Some("stderr"));
        }
        assert_eq!(slot.probe.unwrap().wait, PROBE_MAX);
    }

    #[test]
    fn a_panicking_sink_is_a_failed_write() {
        struct Panics;
        impl Sink for Panics {
            fn name(&self) -> &str {
                "panics"
            }
            fn write_batch(&mut self, _batch: &[u8]) -> io::Result<()> {
                panic!("boom")
            }
        }
        let mut slot = Guarded::new(Box::new(Panics));
        assert_eq!(slot.write(b"x\n", Some("stderr")), Outcome::Failed);
        let mut fb = Fallback::new(Box::new(Panics));
        assert!(!fb.write(b"x\n"));
    }
}
