//! `Shipper`: a [`Sink`] whose `write_batch` copies into a bounded buffer and whose own sender
//! thread delivers it through a [`Transport`] (batching, retries with backoff and jitter, a
//! circuit breaker). See the module docs of [`crate::net`] for how it counts.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::breaker::{Breaker, BreakerState, Transition};
use crate::fallback::report;
use crate::sink::Sink;

/// How a shipping sink batches, buffers, retries and waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipConfig {
    /// The most bytes of lines in one delivery (a single longer line goes alone).
    pub batch_bytes: usize,
    /// How long the sender waits for a delivery to fill up after its first line arrived.
    pub linger: Duration,
    /// The most bytes the sink buffers (waiting or being delivered); batches beyond it are
    /// refused and go to the pipeline's fallback.
    pub max_buffer_bytes: usize,
    /// Attempts after the first before a delivery is given up (its lines dropped, counted).
    pub max_retries: u32,
    /// The first wait before a retry; it doubles (with jitter) up to `backoff_max`.
    pub backoff_first: Duration,
    /// The longest wait between two attempts (a peer's `Retry-After` may ask for more, up to
    /// `retry_after_max`).
    pub backoff_max: Duration,
    /// The longest `Retry-After` honoured.
    pub retry_after_max: Duration,
    /// Failed attempts in a row that open the circuit breaker.
    pub failure_threshold: u32,
    /// How long an open breaker waits before a probe.
    pub recovery_timeout: Duration,
    /// How long the pipeline's `flush` waits for the buffer to be delivered.
    pub flush_timeout: Duration,
    /// How long `close` waits for the buffer to be delivered before dropping the rest.
    pub close_timeout: Duration,
}

impl Default for ShipConfig {
    fn default() -> Self {
        ShipConfig {
            batch_bytes: 1 << 20,
            linger: Duration::from_millis(200),
            max_buffer_bytes: 16 << 20,
            max_retries: 8,
            backoff_first: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            retry_after_max: Duration::from_secs(60),
            failure_threshold: 5,
            recovery_timeout: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a delivery failed, and what to do about it.
#[derive(Debug)]
pub struct DeliveryError {
    /// What went wrong (it must never contain a credential).
    pub error: io::Error,
    /// Whether trying again may help (connection errors, 5xx, 429) or not (4xx).
    pub retryable: bool,
    /// The wait the peer asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// Bytes at the front of the delivery (whole lines) that did reach the peer.
    pub sent: usize,
}

impl DeliveryError {
    /// A retryable failure that delivered nothing.
    pub fn retry(error: io::Error) -> Self {
        DeliveryError {
            error,
            retryable: true,
            retry_after: None,
            sent: 0,
        }
    }
}

/// Where a [`Shipper`]'s sender thread delivers lines: one connection (or none yet) to a peer.
pub trait Transport: Send + 'static {
    /// Deliver `lines` (complete NDJSON lines, each ending in `\n`). Called from the sender
    /// thread only; it may block up to the transport's own timeout.
    ///
    /// # Errors
    /// A [`DeliveryError`] saying whether to retry and how many leading bytes went out.
    fn deliver(&mut self, lines: &[u8]) -> Result<(), DeliveryError>;
}

/// Makes a fresh transport (no connection yet): at the start, and again in a forked child.
pub type TransportFactory = Arc<dyn Fn() -> Box<dyn Transport> + Send + Sync>;

/// A shipping sink's delivery counters, readable from any thread.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    delivered: AtomicU64,
    retried: AtomicU64,
    failed_batches: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
    buffered_bytes: AtomicU64,
    state: AtomicU8,
}

/// A snapshot of one shipping sink's [`DeliveryStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySnapshot {
    /// Records the peer took.
    pub delivered: u64,
    /// Failed attempts that were tried again.
    pub retried: u64,
    /// Deliveries given up (retries exhausted, or refused by the peer for good).
    pub failed_batches: u64,
    /// Records the sink accepted and then gave up on (failed deliveries, and what was still
    /// buffered when `close` ran out of time): exact.
    pub dropped: u64,
    /// Records `write_batch` refused (buffer full, or breaker open): the pipeline rerouted
    /// them to its fallback sink, or dropped and counted them itself.
    pub refused: u64,
    /// Bytes waiting in the buffer or being delivered now.
    pub buffered_bytes: u64,
    /// The circuit breaker's state.
    pub state: BreakerState,
}

impl DeliveryStats {
    /// The counters now.
    pub fn snapshot(&self) -> DeliverySnapshot {
        DeliverySnapshot {
            delivered: self.delivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            buffered_bytes: self.buffered_bytes.load(Ordering::Relaxed),
            state: BreakerState::from_u8(self.state.load(Ordering::Acquire)),
        }
    }

    /// Forget everything (a forked child starts with its own counters and an empty buffer).
    pub(crate) fn reset(&self) {
        for c in [
            &self.delivered,
            &self.retried,
            &self.failed_batches,
            &self.dropped,
            &self.refused,
            &self.buffered_bytes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.state.store(0, Ordering::Release);
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    /// Deliver everything, then exit.
    Drain,
    /// Give up at once: the rest is dropped (counted) by `close`.
    Abandon,
}

/// The buffer between `write_batch` and the sender, under one lock.
#[derive(Debug)]
struct Queue {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes in `chunks`.
    bytes: usize,
    /// Bytes the sender took and is delivering now.
    in_flight: usize,
    /// When the oldest chunk arrived (for `linger`).
    oldest: Option<Instant>,
    /// Threads waiting in `flush`: deliver without lingering.
    flushing: usize,
    stop: Stop,
    exited: bool,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// The sender waits here for lines (and `close` for the sender).
    work: Condvar,
    /// `flush` and `close` wait here for the buffer to empty.
    done: Condvar,
    stats: Arc<DeliveryStats>,
}

impl Shared {
    fn new(stats: Arc<DeliveryStats>) -> Arc<Shared> {
        Arc::new(Shared {
            queue: Mutex::new(Queue {
                chunks: VecDeque::new(),
                bytes: 0,
                in_flight: 0,
                oldest: None,
                flushing: 0,
                stop: Stop::Run,
                exited: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            stats,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish_buffered(&self, q: &Queue) {
        self.stats
            .buffered_bytes
            .store((q.bytes + q.in_flight) as u64, Ordering::Relaxed);
    }
}

/// A network sink: a bounded buffer filled by the writer thread, emptied by a sender thread.
pub struct Shipper {
    name: String,
    config: ShipConfig,
    make: TransportFactory,
    stats: Arc<DeliveryStats>,
    shared: Arc<Shared>,
    started: bool,
    /// The process whose sender thread serves `shared`: a forked child starts its own.
    pid: u32,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("stats", &self.stats.snapshot())
            .finish_non_exhaustive()
    }
}

impl Shipper {
    /// A sink named `name` (it must not contain a credential) delivering through transports
    /// made by `make`. No thread starts until the first batch.
    pub fn new(name: String, config: ShipConfig, make: TransportFactory) -> Shipper {
        let stats = Arc::new(DeliveryStats::default());
        Shipper {
            name,
            config,
            make,
            shared: Shared::new(Arc::clone(&stats)),
            stats,
            started: false,
            pid: std::process::id(),
        }
    }

    /// In a forked child the sender thread does not exist, and the buffer belongs to the
    /// parent (which delivers it): start over with an empty one.
    fn check_fork(&mut self) {
        let pid = std::process::id();
        if pid != self.pid {
            self.pid = pid;
            // The parent's sender may have held the lock at the fork: never touch it again.
            std::mem::forget(std::mem::replace(
                &mut self.shared,
                Shared::new(Arc::clone(&self.stats)),
            ));
            self.stats.buffered_bytes.store(0, Ordering::Relaxed);
            self.started = false;
        }
    }

    fn ensure_started(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        let sender = Sender {
            name: self.name.clone(),
            config: self.config.clone(),
            transport: (self.make)(),
            shared: Arc::clone(&self.shared),
            breaker: Breaker::new(self.config.failure_threshold, self.config.recovery_timeout),
            seed: u64::from(self.pid) ^ 0x9e37_79b9_7f4a_7c15,
            failing: false,
            unreported: 0,
            last_drop_report: [None, None],
        };
        thread::Builder::new()
            .name("ferrolog-ship".into())
            .spawn(move || sender.run())?;
        self.started = true;
        Ok(())
    }

    /// Wait until the buffer is empty (or the sender is gone, or with `until_open` the
    /// breaker is open), at most until `deadline`. `true` if it emptied.
    fn wait_empty(&self, deadline: Instant, until_open: bool) -> bool {
        let shared = &self.shared;
        let mut q = shared.lock();
        q.flushing += 1;
        shared.work.notify_all();
        let emptied = loop {
            if q.bytes == 0 && q.in_flight == 0 {
                break true;
            }
            let open = until_open && self.stats.snapshot().state == BreakerState::Open;
            let now = Instant::now();
            if q.exited || open || now >= deadline {
                break false;
            }
            q = shared
                .done
                .wait_timeout(q, (deadline - now).min(Duration::from_millis(100)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        q.flushing -= 1;
        emptied
    }
}

fn records_in(lines: &[u8]) -> u64 {
    lines.iter().filter(|&&b| b == b'\n').count() as u64
}

impl Sink for Shipper {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        self.check_fork();
        if batch.is_empty() {
            return Ok(());
        }
        let stats = Arc::clone(&self.stats);
        let refuse = |why: String| {
            DeliveryStats::add(&stats.refused, records_in(batch));
            Err(io::Error::new(io::ErrorKind::WouldBlock, why))
        };
        if self.stats.snapshot().state == BreakerState::Open {
            return refuse(format!(
                "sink {}: its circuit breaker is open (deliveries keep failing)",
                self.name
            ));
        }
        if let Err(e) = self.ensure_started() {
            return refuse(format!(
                "sink {}: cannot start its sender thread: {e}",
                self.name
            ));
        }
        let shared = Arc::clone(&self.shared);
        let mut q = shared.lock();
        let used = q.bytes + q.in_flight;
        // An empty buffer takes any batch, so a small limit never refuses everything.
        if used > 0 && used + batch.len() > self.config.max_buffer_bytes {
            drop(q);
            return refuse(format!(
                "sink {}: its buffer is full ({used} of {} bytes waiting for delivery)",
                self.name, self.config.max_buffer_bytes
            ));
        }
        q.chunks.push_back(batch.to_vec());
        q.bytes += batch.len();
        q.oldest.get_or_insert_with(Instant::now);
        shared.publish_buffered(&q);
        drop(q);
        shared.work.notify_all();
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_fork();
        if self.started {
            self.wait_empty(Instant::now() + self.config.flush_timeout, true);
        }
        Ok(())
    }

    fn close(&mut self) -> io::Result<()> {
        self.check_fork();
        if !self.started {
            return Ok(());
        }
        let deadline = Instant::now() + self.config.close_timeout;
        {
            let mut q = self.shared.lock();
            q.stop = Stop::Drain;
        }
        self.shared.work.notify_all();
        let delivered = self.wait_empty(deadline, false);
        let mut q = self.shared.lock();
        q.stop = Stop::Abandon;
        let left: Vec<Vec<u8>> = q.chunks.drain(..).collect();
        q.bytes = 0;
        q.oldest = None;
        self.shared.publish_buffered(&q);
        self.shared.work.notify_all();
        // The sender notices at its next step; one in the middle of an attempt finishes it
        // (bounded by the transport's timeout) and counts that delivery when it returns. A
        // short grace lets the usual case, a sender sleeping between retries, settle now.
        let grace = Instant::now() + Duration::from_secs(1).min(self.config.close_timeout);
        while !q.exited && q.in_flight > 0 {
            let now = Instant::now();
            if now >= grace {
                break;
            }
            q = self
                .shared
                .done
                .wait_timeout(q, grace - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(q);
        let lost: u64 = left.iter().map(|c| records_in(c)).sum();
        if lost > 0 {
            DeliveryStats::add(&self.stats.dropped, lost);
            report(&format!(
                "sink {}: {lost} events were still waiting for delivery when it closed; \
                 they are dropped and counted",
                self.name
            ));
        }
        if delivered {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("sink {}: not everything was delivered at close", self.name),
            ))
        }
    }

    fn delivery(&self) -> Option<Arc<DeliveryStats>> {
        Some(Arc::clone(&self.stats))
    }

    fn ready(&self) -> bool {
        let s = &self.stats;
        BreakerState::from_u8(s.state.load(Ordering::Acquire)) != BreakerState::Open
            && (s.buffered_bytes.load(Ordering::Relaxed) as usize)
                < self.config.max_buffer_bytes / 2
    }
}

/// The sender thread's state.
struct Sender {
    name: String,
    config: ShipConfig,
    transport: Box<dyn Transport>,
    shared: Arc<Shared>,
    breaker: Breaker,
    seed: u64,
    /// Whether the last attempt failed (for reporting the transitions only).
    failing: bool,
    /// Events given up and not reported yet, and when give-ups were last reported: those
    /// after failed retries, and those the peer refused for good (reported separately, so
    /// that a refusal's reason, e.g. HTTP 401, is never hidden behind an outage's).
    unreported: u64,
    last_drop_report: [Option<Instant>; 2],
}

/// Give-ups are reported at most this often (the first at once).
const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

impl Sender {
    fn run(mut self) {
        while let Some(data) = self.next_delivery() {
            self.deliver(data);
            let shared = Arc::clone(&self.shared);
            let mut q = shared.lock();
            q.in_flight = 0;
            shared.publish_buffered(&q);
            drop(q);
            shared.done.notify_all();
        }
        let mut q = self.shared.lock();
        q.exited = true;
        drop(q);
        self.shared.done.notify_all();
    }

    /// Wait for a delivery's worth of lines (or the linger time, a flush, a close); `None`
    /// when the sender should exit.
    fn next_delivery(&mut self) -> Option<Vec<u8>> {
        let shared = Arc::clone(&self.shared);
        let mut q = shared.lock();
        loop {
            if q.stop == Stop::Abandon {
                return None;
            }
            if let Some(oldest) = q.oldest {
                let waited = oldest.elapsed();
                if q.bytes >= self.config.batch_bytes
                    || q.flushing > 0
                    || q.stop == Stop::Drain
                    || waited >= self.config.linger
                {
                    break;
                }
                q = shared
                    .work
                    .wait_timeout(q, self.config.linger - waited)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            } else {
                if q.stop == Stop::Drain {
                    return None;
                }
                q = shared
                    .work
                    .wait_timeout(q, Duration::from_secs(1))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        // Whole chunks up to `batch_bytes`; a chunk that does not fit is split at a line end.
        let mut data: Vec<u8> = Vec::new();
        while let Some(mut chunk) = q.chunks.pop_front() {
            let room = self.config.batch_bytes.saturating_sub(data.len());
            if chunk.len() <= room {
                data.extend_from_slice(&chunk);
                continue;
            }
            let cut = chunk[..room]
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|i| i + 1);
            match cut {
                Some(cut) => {
                    data.extend_from_slice(&chunk[..cut]);
                    chunk.drain(..cut);
                    q.chunks.push_front(chunk);
                }
                None if data.is_empty() => {
                    // One line longer than a delivery: it goes alone.
                    let end = chunk
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(chunk.len(), |i| i + 1);
                    data.extend_from_slice(&chunk[..end]);
                    chunk.drain(..end);
                    if !chunk.is_empty() {
                        q.chunks.push_front(chunk);
                    }
                }
                None => q.chunks.push_front(chunk),
            }
            break;
        }
        q.bytes -= data.len();
        q.in_flight = data.len();
        q.oldest = if q.chunks.is_empty() {
            None
        } else {
            // The rest waited as long as what goes now.
            q.oldest
        };
        shared.publish_buffered(&q);
        Some(data)
    }

    fn stop(&self) -> Stop {
        self.shared.lock().stop
    }

    /// Sleep until `until`, waking early when `close` gives up. `false` if it did.
    fn sleep_until(&self, until: Instant) -> bool {
        let mut q = self.shared.lock();
        loop {
            if q.stop == Stop::Abandon {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            q = self
                .shared
                .work
                .wait_timeout(q, until - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The wait before retry number `attempt` (1-based): exponential with full jitter over its
    /// upper half, so that many processes do not retry in step.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let exp = self
            .config
            .backoff_first
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.config.backoff_max);
        // xorshift64: jitter needs no cryptographic randomness.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = exp / 2;
        half + half.mul_f64((self.seed % 1000) as f64 / 1000.0)
    }

    fn transition(&self, t: Option<Transition>) {
        // Reported once per outage: not each probe, nor each failed one.
        let Some(t) = t.filter(|t| !matches!(t, Transition::HalfOpened | Transition::Reopened))
        else {
            return;
        };
        let name = &self.name;
        report(&match t {
            Transition::Opened => format!(
                "sink {name}: circuit breaker open after repeated delivery failures; new events \
                 go to the fallback sink, next attempt in {:.3} s",
                self.breaker.recovery().as_secs_f64()
            ),
            Transition::HalfOpened | Transition::Reopened => return,
            Transition::Closed => {
                format!("sink {name}: circuit breaker closed; the peer takes deliveries again")
            }
        });
    }

    /// Deliver `data` with retries; count what went and what was given up.
    fn deliver(&mut self, mut data: Vec<u8>) {
        let stats = Arc::clone(&self.shared.stats);
        let mut attempt: u32 = 0;
        loop {
            if let Some(at) = self.breaker.probe_at() {
                if !self.sleep_until(at) {
                    self.give_up(&data, "the sink closed before the peer recovered", false);
                    return;
                }
            }
            let t = self.breaker.before_attempt(&stats.state);
            self.transition(t);
            match self.transport.deliver(&data) {
                Ok(()) => {
                    DeliveryStats::add(&stats.delivered, records_in(&data));
                    if std::mem::replace(&mut self.failing, false) {
                        let dropped = std::mem::take(&mut self.unreported);
                        let also = if dropped > 0 {
                            format!(" ({dropped} more events were given up meanwhile)")
                        } else {
                            String::new()
                        };
                        report(&format!(
                            "sink {}: delivering again after {attempt} failed attempts{also}",
                            self.name
                        ));
                    }
                    let t = self.breaker.success(&stats.state);
                    self.transition(t);
                    return;
                }
                Err(e) => {
                    let sent = e.sent.min(data.len());
                    if sent > 0 {
                        DeliveryStats::add(&stats.delivered, records_in(&data[..sent]));
                        data.drain(..sent);
                        let mut q = self.shared.lock();
                        q.in_flight = data.len();
                        self.shared.publish_buffered(&q);
                    }
                    if data.is_empty() {
                        return;
                    }
                    let t = self.breaker.failure(&stats.state);
                    if !e.retryable {
                        self.give_up(&data, &format!("the peer refused them: {}", e.error), true);
                        self.transition(t);
                        return;
                    }
                    if attempt >= self.config.max_retries {
                        self.give_up(
                            &data,
                            &format!(
                                "{} attempts failed, the last with: {}",
                                attempt + 1,
                                e.error
                            ),
                            false,
                        );
                        self.transition(t);
                        return;
                    }
                    if !std::mem::replace(&mut self.failing, true) {
                        report(&format!(
                            "sink {}: delivery failed ({}); retrying with backoff, events stay \
                             buffered (up to {} bytes)",
                            self.name, e.error, self.config.max_buffer_bytes
                        ));
                    }
                    self.transition(t);
                    attempt += 1;
                    DeliveryStats::add(&stats.retried, 1);
                    if self.stop() == Stop::Abandon {
                        self.give_up(&data, "the sink closed while retrying", false);
                        return;
                    }
                    let wait = match e.retry_after {
                        Some(after) => after.min(self.config.retry_after_max),
                        None => self.backoff(attempt),
                    };
                    if !self.sleep_until(Instant::now() + wait) {
                        self.give_up(&data, "the sink closed while retrying", false);
                        return;
                    }
                }
            }
        }
    }

    fn give_up(&mut self, data: &[u8], why: &str, refused: bool) {
        let n = records_in(data);
        let stats = &self.shared.stats;
        DeliveryStats::add(&stats.dropped, n);
        DeliveryStats::add(&stats.failed_batches, 1);
        self.unreported += n;
        let last = &mut self.last_drop_report[usize::from(refused)];
        if last.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY) {
            *last = Some(Instant::now());
            report(&format!(
                "sink {}: gave up delivering {} events ({why}); they are dropped and counted \
                 (reported at most every {} s)",
                self.name,
                std::mem::take(&mut self.unreported),
                DROP_REPORT_EVERY.as_secs()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// Records what it was given; fails while `fail` is set.
    #[derive(Clone, Default)]
    struct Probe {
        got: Arc<Mutex<Vec<u8>>>,
        fail: Arc<AtomicBool>,
        calls: Arc<AtomicU64>,
    }

    impl Transport for Probe {
        fn deliver(&mut self, lines: &[u8]) -> Result<(), DeliveryError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if self.fail.load(Ordering::Relaxed) {
                return Err(DeliveryError::retry(io::Error::other("down")));
            }
            self.got.lock().unwrap().extend_from_slice(lines);
            Ok(())
        }
    }

    fn shipper(p: &Probe, config: ShipConfig) -> Shipper {
        let p = p.clone();
        Shipper::new(
            "probe".into(),
            config,
            Arc::new(move || Box::new(p.clone()) as Box<dyn Transport>),
        )
    }

    fn fast() -> ShipConfig {
        ShipConfig {
            batch_bytes: 16,
            linger: Duration::from_millis(1),
            backoff_first: Duration::from_millis(1),
            backoff_max: Duration::from_millis(4),
            recovery_timeout: Duration::from_millis(5),
            ..ShipConfig::default()
        }
    }

    #[test]
    fn delivers_everything_in_order_split_at_line_ends() {
        let p = Probe::default();
        let mut s = shipper(&p, fast());
        let mut want = Vec::new();
        for i in 0..50 {
            let line = format!("{{\"i\":{i}}}\n");
            want.extend_from_slice(line.as_bytes());
            s.write_batch(line.as_bytes()).unwrap();
        }
        s.flush().unwrap();
        assert_eq!(*p.got.lock().unwrap(), want);
        let st = s.stats.snapshot();
        assert_eq!((st.delivered, st.dropped, st.buffered_bytes), (50, 0, 0));
        s.close().unwrap();
    }

    #[test]
    fn gives_up_after_the_retries_and_counts_exactly() {
        let p = Probe::default();
        p.fail.store(true, Ordering::Relaxed);
        let mut s = shipper(
            &p,
            ShipConfig {
                max_retries: 2,
                failure_threshold: 1000,
                batch_bytes: 1 << 20,
                ..fast()
            },
        );
        s.write_batch(b"a\nb\nc\n").unwrap();
        s.flush().unwrap();
        let st = s.stats.snapshot();
        assert_eq!(
            (st.delivered, st.dropped, st.failed_batches, st.retried),
            (0, 3, 1, 2)
        );
        assert_eq!(p.calls.load(Ordering::Relaxed), 3);
        s.close().unwrap();
    }

    #[test]
    fn a_full_buffer_refuses_whole_batches() {
        let p = Probe::default();
        p.fail.store(true, Ordering::Relaxed);
        let mut s = shipper(
            &p,
            ShipConfig {
                max_buffer_bytes: 8,
                failure_threshold: 1000,
                max_retries: 1000,
                close_timeout: Duration::from_millis(50),
                ..fast()
            },
        );
        s.write_batch(b"aaaa\n").unwrap();
        assert!(s.write_batch(b"bbbb\n").is_err());
        assert_eq!(s.stats.snapshot().refused, 1);
        assert!(s.close().is_err());
        let st = s.stats.snapshot();
        assert_eq!(
            st.delivered + st.dropped,
            1,
            "the accepted line is accounted for"
        );
    }

    #[test]
    fn an_open_breaker_refuses_then_recovers() {
        let p = Probe::default();
        p.fail.store(true, Ordering::Relaxed);
        let mut s = shipper(
            &p,
            ShipConfig {
                failure_threshold: 2,
                recovery_timeout: Duration::from_millis(50),
                max_retries: 1000,
                ..fast()
            },
        );
        s.write_batch(b"a\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while s.stats.snapshot().state != BreakerState::Open {
            assert!(Instant::now() < deadline, "the breaker never opened");
            thread::sleep(Duration::from_millis(1));
        }
        assert!(s.write_batch(b"b\n").is_err());
        p.fail.store(false, Ordering::Relaxed);
        while s.stats.snapshot().state != BreakerState::Closed {
            assert!(Instant::now() < deadline, "the breaker never closed");
            thread::sleep(Duration::from_millis(1));
        }
        s.write_batch(b"c\n").unwrap();
        s.close().unwrap();
        assert_eq!(*p.got.lock().unwrap(), b"a\nc\n");
        let st = s.stats.snapshot();
        assert_eq!((st.delivered, st.refused, st.dropped), (2, 1, 0));
    }
}
