//! Behaviour of the pipeline as the Python extension sees it: counters, flush, close, fork.
#![cfg(not(loom))]

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ferrolog_core::{Overflow, Pipeline, PipelineConfig, PushError, Sink, StatsSnapshot};

/// A sink that keeps what it receives and can be told to fail or to stall.
#[derive(Clone, Default)]
struct Probe {
    out: Arc<Mutex<Vec<u8>>>,
    /// Batches the sink started to write (counted before it stalls).
    entered: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
    flushes: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
    stall: Arc<AtomicBool>,
    stall_flush: Arc<AtomicBool>,
    /// Microseconds each write takes (a disk's pace).
    write_us: Arc<AtomicU64>,
}

impl Probe {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.out.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Sink for Probe {
    fn name(&self) -> &str {
        "probe"
    }

    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        while self.stall.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(1));
        }
        let busy = Duration::from_micros(self.write_us.load(Ordering::SeqCst));
        let t = Instant::now();
        while t.elapsed() < busy {
            std::hint::spin_loop();
        }
        self.batches.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("disk on fire"));
        }
        assert!(batch.ends_with(b"\n"), "a batch holds whole lines");
        self.out.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.stall_flush.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(1));
        }
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn close(&mut self) -> io::Result<()> {
        self.closed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

fn config(capacity_bytes: usize) -> PipelineConfig {
    PipelineConfig {
        capacity_bytes,
        ..PipelineConfig::default()
    }
}

fn settled(s: &StatsSnapshot) -> bool {
    s.emitted == s.written + s.dropped
}

const SECOND: Duration = Duration::from_secs(5);

/// Wait until `cond` holds, polling; panics naming `what` after 10 s.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A producer stopped between reserving its ring space and publishing its record, as if it
/// were preempted there, until `release` is called.
struct Stalled {
    release: std::sync::mpsc::Sender<()>,
    thread: thread::JoinHandle<bool>,
}

impl Stalled {
    fn start(p: &Arc<Pipeline>, record: &'static [u8]) -> Stalled {
        let (reserved_tx, reserved_rx) = std::sync::mpsc::channel();
        let (release, go) = std::sync::mpsc::channel::<()>();
        let p = p.clone();
        let thread = thread::spawn(move || {
            p.push_parts_with(&[record], move || {
                reserved_tx.send(()).unwrap();
                let _ = go.recv();
            })
        });
        reserved_rx
            .recv()
            .expect("the stalled producer reserved its space");
        Stalled { release, thread }
    }

    /// Let it publish; returns what its push returned.
    fn release(self) -> bool {
        self.release.send(()).unwrap();
        self.thread.join().unwrap()
    }
}

#[test]
fn flush_writes_everything_pushed_before_it_and_flushes_the_sinks() {
    let probe = Probe::default();
    let p = Pipeline::start(config(1 << 16), vec![Box::new(probe.clone())]).unwrap();
    for i in 0..100 {
        assert!(p.push(format!("{{\"n\":{i}}}\n").as_bytes()));
    }
    assert!(p.flush(SECOND));
    let lines = probe.lines();
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[99], "{\"n\":99}");
    assert!(probe.flushes.load(Ordering::SeqCst) >= 1);
    let s = p.stats();
    assert_eq!(
        (s.emitted, s.written, s.dropped, s.errors),
        (100, 100, 0, 0)
    );
    assert!(s.batches >= 1 && s.bytes == probe.out.lock().unwrap().len() as u64);
    assert!(p.close(SECOND));
}

#[test]
fn push_parts_makes_one_record() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    assert!(p.push_parts(&[b"{\"a\":", b"1", b"}\n"]));
    assert!(p.flush(SECOND));
    assert_eq!(probe.lines(), ["{\"a\":1}"]);
    assert_eq!(p.stats().written, 1);
    assert!(p.close(SECOND));
}

#[test]
fn a_failing_sink_counts_errors_and_drops_and_the_writer_keeps_going() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    probe.fail.store(true, Ordering::SeqCst);
    for _ in 0..10 {
        p.push(b"lost\n");
    }
    assert!(p.flush(SECOND));
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped), (10, 0, 10));
    assert!(s.errors >= 1);
    probe.fail.store(false, Ordering::SeqCst);
    p.push(b"kept\n");
    assert!(p.flush(SECOND));
    assert_eq!(probe.lines(), ["kept"]);
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped), (11, 1, 10));
    assert!(p.close(SECOND));
}

/// A failing sink's batches go to the fallback sink: nothing is lost, the other sink keeps
/// receiving everything, and the failed sink is offered a batch again after its probe wait.
#[test]
fn a_failing_sinks_batches_go_to_the_fallback_until_it_recovers() {
    let (bad, good, fallback) = (Probe::default(), Probe::default(), Probe::default());
    let p = Pipeline::start_with_fallback(
        config(0),
        vec![Box::new(bad.clone()), Box::new(good.clone())],
        Some(Box::new(fallback.clone())),
    )
    .unwrap();
    assert_eq!(p.fallback_name(), Some("probe"));
    bad.fail.store(true, Ordering::SeqCst);
    for i in 0..10 {
        p.push(format!("{i}\n").as_bytes());
        assert!(p.flush(SECOND));
    }
    let s = p.stats();
    assert_eq!(
        (s.emitted, s.written, s.dropped, s.rerouted),
        (10, 10, 0, 10)
    );
    assert_eq!(
        s.errors, 1,
        "skipped while failing: one failed write, not one per batch"
    );
    assert_eq!(
        fallback.lines(),
        (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(good.lines().len(), 10, "the healthy sink got everything");
    assert!(bad.lines().is_empty());
    assert_eq!(
        bad.batches.load(Ordering::SeqCst),
        1,
        "not offered again before the probe"
    );
    let health = p.sink_health();
    assert_eq!(health.len(), 2);
    assert!(health[0].failing && !health[1].failing, "{health:?}");
    assert_eq!(
        (health[0].errors, health[0].rerouted, health[0].failovers),
        (1, 10, 1)
    );
    assert_eq!((health[1].errors, health[1].rerouted), (0, 0));

    // Recovered: the probe after PROBE_FIRST finds it working and it takes batches again.
    bad.fail.store(false, Ordering::SeqCst);
    thread::sleep(ferrolog_core::fallback::PROBE_FIRST + Duration::from_millis(50));
    p.push(b"back\n");
    assert!(p.flush(SECOND));
    assert_eq!(bad.lines(), ["back"]);
    assert_eq!(fallback.lines().len(), 10);
    assert!(!p.sink_health()[0].failing);
    let s = p.stats();
    assert_eq!(
        (s.emitted, s.written, s.dropped, s.rerouted),
        (11, 11, 0, 10)
    );
    assert!(p.close(SECOND));
    assert!(
        fallback.closed.load(Ordering::SeqCst),
        "close closes the fallback too"
    );
}

/// When the fallback fails too, the records are dropped and counted.
#[test]
fn a_failing_fallback_drops_and_counts() {
    let (bad, fallback) = (Probe::default(), Probe::default());
    let p = Pipeline::start_with_fallback(
        config(0),
        vec![Box::new(bad.clone())],
        Some(Box::new(fallback.clone())),
    )
    .unwrap();
    bad.fail.store(true, Ordering::SeqCst);
    fallback.fail.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        p.push(b"x\n");
    }
    assert!(p.flush(SECOND));
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped, s.rerouted), (5, 0, 5, 0));
    fallback.fail.store(false, Ordering::SeqCst);
    p.push(b"y\n");
    assert!(p.flush(SECOND));
    assert_eq!(fallback.lines(), ["y"], "the fallback works again");
    assert!(settled(&p.stats()));
    assert!(p.close(SECOND));
}

/// A channel batch its consumer failed goes to the fallback (once, even when a native sink
/// failed it too).
#[test]
fn a_failed_channel_batch_goes_to_the_fallback_once() {
    let (bad, fallback) = (Probe::default(), Probe::default());
    let p = Pipeline::start_with_fallback(
        channel_config(2),
        vec![Box::new(bad.clone())],
        Some(Box::new(fallback.clone())),
    )
    .unwrap();
    p.push(b"a\n");
    let batch = p.take_batch(SECOND).unwrap();
    batch.settle(false);
    assert!(p.flush(SECOND));
    assert_eq!(fallback.lines(), ["a"]);
    assert_eq!(bad.lines(), ["a"]);
    bad.fail.store(true, Ordering::SeqCst);
    p.push(b"b\n");
    let batch = p.take_batch(SECOND).unwrap();
    batch.settle(false);
    assert!(p.flush(SECOND));
    assert_eq!(fallback.lines(), ["a", "b"], "one copy of b");
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped, s.rerouted), (2, 2, 0, 2));
    assert_eq!(s.errors, 3);
    assert!(p.close(SECOND));
}

#[test]
fn close_is_idempotent_closes_sinks_and_counts_later_pushes_as_dropped() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    p.push(b"before\n");
    assert!(p.close(SECOND));
    assert!(probe.closed.load(Ordering::SeqCst));
    assert_eq!(probe.lines(), ["before"]);
    assert!(p.close(SECOND));
    assert!(!p.push(b"after\n"));
    assert!(!p.push_wait(b"after\n", Instant::now() + SECOND));
    assert_eq!(p.try_push_uncounted(b"after\n"), Err(PushError::Full));
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped), (3, 1, 2));
    assert!(
        p.flush(SECOND),
        "flush after close has nothing left to wait for"
    );
}

#[test]
fn flush_and_close_respect_their_deadlines_when_a_sink_stalls() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    probe.stall.store(true, Ordering::SeqCst);
    p.push(b"stuck\n");
    let t = Instant::now();
    assert!(!p.flush(Duration::from_millis(50)));
    assert!(!p.close(Duration::from_millis(50)));
    assert!(t.elapsed() < Duration::from_secs(2));
    // Once the sink recovers the writer finishes, and a later close reports success.
    probe.stall.store(false, Ordering::SeqCst);
    assert!(p.close(SECOND));
    assert!(probe.closed.load(Ordering::SeqCst));
    assert!(settled(&p.stats()));
}

#[test]
fn close_past_its_deadline_drops_and_counts_what_is_left() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    probe.stall.store(true, Ordering::SeqCst);
    p.push(b"first\n");
    // Let the writer take the first record into the stalled sink, then queue more.
    wait_for("the writer to enter the sink", || {
        probe.entered.load(Ordering::SeqCst) == 1
    });
    for _ in 0..5 {
        p.push(b"queued\n");
    }
    assert!(!p.close(Duration::from_millis(20)));
    probe.stall.store(false, Ordering::SeqCst);
    assert!(p.close(SECOND));
    let s = p.stats();
    assert_eq!(s.emitted, 6);
    assert!(settled(&s), "{s:?}");
    assert_eq!(s.written as usize, probe.lines().len());
}

#[test]
fn a_full_ring_drops_and_counts_and_push_wait_waits_for_space() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    probe.stall.store(true, Ordering::SeqCst);
    let rec = [b'x'; 1019]; // with '\n', 1024 bytes; 1032 in the ring
    let line = [&rec[..], b"\n"].concat();
    // The writer takes this one into the stalled sink; the ring then fills behind it.
    assert!(p.push(&line));
    wait_for("the writer to enter the sink", || {
        probe.entered.load(Ordering::SeqCst) == 1
    });
    let mut pushed = 1;
    while p.push(&line) {
        pushed += 1;
        assert!(pushed < 100);
    }
    assert_eq!(p.try_push_uncounted(&line), Err(PushError::Full));
    let t = Instant::now();
    assert!(!p.push_wait(&line, Instant::now() + Duration::from_millis(30)));
    assert!(t.elapsed() >= Duration::from_millis(30));
    let waiter = {
        let p = p.clone();
        let line = line.clone();
        thread::spawn(move || p.push_wait(&line, Instant::now() + SECOND))
    };
    // `push_wait` counts its record first, then finds the ring full and waits.
    wait_for("the waiter to start", || p.stats().emitted == pushed + 3);
    probe.stall.store(false, Ordering::SeqCst);
    assert!(waiter.join().unwrap());
    assert!(p.flush(SECOND));
    let s = p.stats();
    assert_eq!(s.dropped, 2);
    assert_eq!(s.emitted, pushed + 3);
    assert!(settled(&s));
    assert!(s.high_water as usize >= p.capacity() - 1032);
    assert!(p.close(SECOND));
}

#[test]
fn wait_for_space_returns_when_the_writer_frees_space() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    probe.stall.store(true, Ordering::SeqCst);
    let line = [&[b'y'; 1023][..], b"\n"].concat();
    p.try_push_uncounted(&line).unwrap();
    wait_for("the writer to enter the sink", || {
        probe.entered.load(Ordering::SeqCst) == 1
    });
    while p.try_push_uncounted(&line).is_ok() {}
    assert!(!p.wait_for_space(Duration::from_millis(20)));
    probe.stall.store(false, Ordering::SeqCst);
    assert!(p.wait_for_space(SECOND));
    p.try_push_uncounted(&line).unwrap();
    assert!(p.flush(SECOND));
    assert!(settled(&p.stats()));
    assert!(p.close(SECOND));
}

#[test]
fn records_larger_than_the_ring_accepts_are_dropped_and_counted() {
    let p = Pipeline::start(config(0), vec![]).unwrap();
    let big = vec![b'z'; p.max_record_len() + 1];
    assert!(!p.push(&big));
    assert_eq!(p.try_push_uncounted(&big), Err(PushError::TooLarge));
    let s = p.stats();
    assert_eq!((s.emitted, s.dropped), (1, 1));
    assert!(p.close(SECOND));
}

/// Eight producers against a tiny ring with the drop policy: every record is either written
/// intact or counted as dropped, and the counters add up.
#[test]
fn stress_many_producers_tiny_ring() {
    let probe = Probe::default();
    let p = Pipeline::start(
        PipelineConfig {
            capacity_bytes: 4096,
            batch_bytes: 1024,
            ..PipelineConfig::default()
        },
        vec![Box::new(probe.clone())],
    )
    .unwrap();
    let per = if cfg!(debug_assertions) {
        5_000
    } else {
        50_000
    };
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let p = p.clone();
            thread::spawn(move || {
                let mut ok = 0u64;
                for i in 0..per {
                    let pad = "p".repeat(i % 97);
                    let line = format!("{t} {i} {pad} {}\n", i % 97);
                    ok += p.push(line.as_bytes()) as u64;
                }
                ok
            })
        })
        .collect();
    let pushed: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(p.flush(SECOND * 4));
    let s = p.stats();
    assert_eq!(s.emitted, 8 * per as u64);
    assert!(settled(&s), "{s:?}");
    assert_eq!(s.written, pushed);
    let lines = probe.lines();
    assert_eq!(lines.len() as u64, s.written);
    let mut last = [None::<usize>; 8];
    for line in &lines {
        let f: Vec<&str> = line.split(' ').collect();
        let (t, i): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        assert_eq!(f[2].len(), i % 97, "intact padding in {line:?}");
        assert_eq!(f[3].parse::<usize>().unwrap(), i % 97);
        assert!(last[t].is_none_or(|l| l < i), "per-producer order");
        last[t] = Some(i);
    }
    assert!(p.close(SECOND));
}

#[test]
fn after_fork_child_is_a_no_op_in_the_parent() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    p.push(b"kept\n");
    // SAFETY: no other thread uses the pipeline's ring here, and in the parent the call
    // returns without touching anything.
    unsafe { p.after_fork_child() }.unwrap();
    assert!(p.flush(SECOND));
    assert_eq!(probe.lines(), ["kept"]);
    assert!(p.close(SECOND));
}

/// A real fork: the parent's backlog (including a stalled batch) stays in the parent; the
/// child starts from zero, writes its own records and closes cleanly.
#[test]
fn after_fork_child_forgets_the_parents_backlog_and_logs_normally() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    probe.stall.store(true, Ordering::SeqCst);
    p.push(b"parent 1\n");
    wait_for("the writer to hold parent 1 in the stalled sink", || {
        probe.entered.load(Ordering::SeqCst) == 1
    });
    p.push(b"parent 2\n");
    // SAFETY: fork in a test process; the child only runs async-signal-unsafe code that does
    // not depend on locks held by other threads (they are replaced by after_fork_child), and
    // leaves with _exit.
    let pid = unsafe { libc_fork() };
    if pid == 0 {
        probe.stall.store(false, Ordering::SeqCst);
        probe.out.lock().map(|mut o| o.clear()).ok();
        // SAFETY: only this thread exists in the child.
        let ok = unsafe { p.after_fork_child() }.is_ok()
            && p.stats() == StatsSnapshot::default()
            && p.push(b"child\n")
            && p.flush(SECOND)
            && p.close(SECOND)
            && probe.lines() == ["child"]
            && {
                let s = p.stats();
                (s.emitted, s.written, s.dropped) == (1, 1, 0)
            };
        // SAFETY: leave the child without running the test harness's exit path.
        unsafe { libc_exit(if ok { 0 } else { 1 }) };
    }
    assert!(pid > 0);
    let status = wait(pid);
    probe.stall.store(false, Ordering::SeqCst);
    assert!(p.flush(SECOND));
    assert_eq!(probe.lines(), ["parent 1", "parent 2"]);
    assert_eq!(status, 0, "the child's checks failed");
    assert!(p.close(SECOND));
}

extern "C" {
    #[link_name = "fork"]
    fn libc_fork() -> i32;
    #[link_name = "_exit"]
    fn libc_exit(code: i32) -> !;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
}

fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child.
    let r = unsafe { waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    // WEXITSTATUS, or a non-zero marker when the child was killed.
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}

#[test]
fn overflow_block_is_kept_in_the_config() {
    let cfg = PipelineConfig {
        overflow: Overflow::Block {
            timeout: Duration::from_millis(5),
        },
        ..config(0)
    };
    let p = Pipeline::start(cfg.clone(), vec![]).unwrap();
    assert_eq!(p.config(), &cfg);
    assert!(p.close(SECOND));
}

fn channel_config(batches: usize) -> PipelineConfig {
    PipelineConfig {
        channel_batches: batches,
        ..config(0)
    }
}

/// A record is written only when both the native sinks and the channel's consumer finished
/// its batch; flush waits for the consumer's acknowledgement.
#[test]
fn channel_batches_settle_when_every_sink_finished_them() {
    let probe = Probe::default();
    let p = Pipeline::start(channel_config(2), vec![Box::new(probe.clone())]).unwrap();
    p.push(b"a\n");
    p.push(b"b\n");
    assert!(
        !p.flush(Duration::from_millis(30)),
        "nobody took the batch yet"
    );
    let mut got = Vec::new();
    while let Some(batch) = p.take_batch(Duration::from_millis(50)) {
        got.extend_from_slice(batch.data());
        assert!(batch.records() >= 1);
        batch.settle(true);
        batch.settle(false); // a second settle is ignored
    }
    assert_eq!(got, b"a\nb\n");
    assert!(p.flush(SECOND));
    assert_eq!(probe.lines(), ["a", "b"]);
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped, s.errors), (2, 2, 0, 0));

    p.push(b"c\n");
    let batch = p.take_batch(SECOND).unwrap();
    batch.settle(false);
    assert!(p.flush(SECOND));
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped, s.errors), (3, 2, 1, 1));
    assert!(p.close(SECOND));
    assert!(p.take_batch(Duration::from_millis(10)).is_none());
}

/// A consumer thread draining the channel while producers push: everything adds up.
#[test]
fn channel_with_a_consumer_thread_loses_nothing() {
    let p = Pipeline::start(
        PipelineConfig {
            batch_bytes: 256,
            ..channel_config(4)
        },
        vec![],
    )
    .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (p, done) = (p.clone(), done.clone());
        thread::spawn(move || {
            let mut lines = 0;
            loop {
                match p.take_batch(Duration::from_millis(20)) {
                    Some(b) => {
                        lines += b.data().iter().filter(|&&c| c == b'\n').count() as u64;
                        b.settle(true);
                    }
                    None if done.load(Ordering::SeqCst) => break lines,
                    None => {}
                }
            }
        })
    };
    for i in 0..2000 {
        let line = format!("{i}\n");
        while p.try_push_uncounted(line.as_bytes()).is_err() {
            p.wait_for_space(Duration::from_millis(10));
        }
    }
    assert!(p.flush(SECOND));
    done.store(true, Ordering::SeqCst);
    let lines = consumer.join().unwrap();
    assert_eq!(lines, 2000);
    let s = p.stats();
    assert!(settled(&s), "{s:?}");
    assert_eq!(lines, s.written);
    assert!(p.close(SECOND));
}

/// Close with nobody consuming the channel: at the deadline the untaken batches are dropped
/// and counted, so the counters still add up.
#[test]
fn close_drops_channel_batches_nobody_took() {
    let p = Pipeline::start(channel_config(8), vec![]).unwrap();
    for _ in 0..3 {
        p.push(b"never taken\n");
    }
    assert!(!p.close(Duration::from_millis(50)));
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped), (3, 0, 3), "{s:?}");
    assert!(p.close(SECOND));
}

/// A producer preempted between its reservation and its publication when `close` starts:
/// `close` waits for it until its deadline, then counts it (and the record published behind
/// it, which the writer cannot reach) as dropped, so the counters add up when `close` returns;
/// the producer finishing later changes nothing.
#[test]
fn close_settles_a_record_stalled_between_reservation_and_publication() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    assert!(p.push(b"before\n"));
    assert!(
        p.flush(SECOND),
        "nothing the writer can reach is left when close starts"
    );
    let stalled = Stalled::start(&p, b"stalled\n");
    assert!(p.push(b"behind the stalled one\n"));
    assert!(
        !p.close(Duration::from_millis(100)),
        "a record was never written"
    );
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped), (3, 1, 2), "{s:?}");
    // The producer publishes after the deadline: the record was counted already.
    stalled.release();
    assert!(p.close(SECOND));
    let after = p.stats();
    assert_eq!((after.emitted, after.written, after.dropped), (3, 1, 2));
    assert_eq!(probe.lines(), ["before"]);
}

/// The same producer, released before `close`'s deadline: its record and the one behind it
/// are written, and `close` succeeds.
#[test]
fn close_waits_for_a_record_in_flight_and_writes_it() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    let stalled = Stalled::start(&p, b"stalled\n");
    assert!(p.push(b"behind\n"));
    let closer = {
        let p = p.clone();
        thread::spawn(move || p.close(SECOND))
    };
    wait_for("close to start", || p.is_closed());
    assert!(!p.push(b"after close\n"));
    assert!(stalled.release());
    assert!(closer.join().unwrap());
    assert_eq!(probe.lines(), ["stalled", "behind"]);
    let s = p.stats();
    assert_eq!((s.emitted, s.written, s.dropped), (3, 2, 1));
}

/// While a producer is stalled between reservation and publication, a flush waits for it with
/// growing naps instead of spinning, honours its timeout, and succeeds once it publishes.
#[test]
fn the_writer_naps_instead_of_spinning_on_a_stalled_producer() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    let stalled = Stalled::start(&p, b"stalled\n");
    let timeout = Duration::from_millis(300);
    let t = Instant::now();
    assert!(!p.flush(timeout), "the stalled record is not written");
    assert!(t.elapsed() >= timeout);
    let naps = p.stall_naps();
    // Naps double from 50 us up to 5 ms: about 70 in 300 ms. A writer that spun (yielding)
    // would count hundreds of thousands of rounds here.
    assert!(naps < 1000, "{naps} naps");
    // The flush request stays pending, so the writer keeps waiting (napping) for the record.
    wait_for("the writer to nap", || p.stall_naps() >= 1);
    assert!(stalled.release());
    assert!(p.flush(SECOND));
    assert_eq!(probe.lines(), ["stalled"]);
    assert!(p.close(SECOND));
}

/// `flush` wakes a writer that lingers (here for 10 s) instead of waiting for its nap to end.
#[test]
fn flush_wakes_a_lingering_writer() {
    let probe = Probe::default();
    let p = Pipeline::start(
        PipelineConfig {
            linger: Duration::from_secs(10),
            ..config(0)
        },
        vec![Box::new(probe.clone())],
    )
    .unwrap();
    assert!(p.push(b"one\n"));
    assert!(p.flush(Duration::from_secs(5)));
    assert_eq!(probe.lines(), ["one"]);
    assert!(p.close(SECOND));
}

/// A sink under which a new record is published during every write, as under a producer that
/// never pauses: the writer it feeds never finds the ring empty.
struct Trickle {
    pipeline: Arc<std::sync::OnceLock<std::sync::Weak<Pipeline>>>,
    batches: Arc<AtomicU64>,
    left: u64,
}

impl Sink for Trickle {
    fn name(&self) -> &str {
        "trickle"
    }

    fn write_batch(&mut self, _batch: &[u8]) -> io::Result<()> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        if self.left > 0 {
            self.left -= 1;
            let p = self.pipeline.get().and_then(std::sync::Weak::upgrade);
            assert!(p.expect("started").push(b"more\n"));
        }
        Ok(())
    }
}

/// A writer that has caught up with its producers (its batch came out short) lingers before
/// it pops again, so that the next batch gathers. It used to pop on at once, and under a
/// steady producer wrote every few records as they were published: a system call each, on
/// cache lines the producer was writing (a tight loop logging to a file paid 40 % more per
/// call than to the null sink).
#[test]
fn a_writer_that_caught_up_lingers_before_its_next_batch() {
    let cell = Arc::new(std::sync::OnceLock::new());
    let batches = Arc::new(AtomicU64::new(0));
    let sink = Trickle {
        pipeline: cell.clone(),
        batches: batches.clone(),
        left: 50,
    };
    let p = Pipeline::start(
        PipelineConfig {
            linger: Duration::from_millis(300),
            ..config(0)
        },
        vec![Box::new(sink)],
    )
    .unwrap();
    assert!(cell.set(Arc::downgrade(&p)).is_ok());
    assert!(p.push(b"first\n"));
    wait_for("the first batch", || batches.load(Ordering::SeqCst) >= 1);
    thread::sleep(Duration::from_millis(100));
    // The record the first write published waits for the next linger to end (300 ms).
    let early = batches.load(Ordering::SeqCst);
    assert!(early <= 2, "{early} batches written without lingering");
    // A flush takes everything, lingering or not: the 50 records arrive one per write.
    assert!(p.flush(SECOND));
    wait_for("the last record", || batches.load(Ordering::SeqCst) == 51);
    let stats = p.stats();
    assert_eq!(stats.written, 51);
    assert!(p.close(SECOND));
}

/// Under a steady trickle (a record every 20 us, a busy service's pace, and writes of 50 us:
/// the ring is never empty when the writer looks) the writer's naps lengthen while its batches
/// come out small, so one write carries several milliseconds of records. A writer that napped
/// 1 ms each time wrote about 300 batches here.
#[test]
fn under_a_trickle_the_writer_naps_longer_and_writes_larger_batches() {
    const RECORD: &[u8] =
        b"a record of a trickle, about a hundred bytes, as a service logs them one at a time\n";
    let probe = Probe::default();
    probe.write_us.store(50, Ordering::SeqCst);
    let p = Pipeline::start(config(1 << 20), vec![Box::new(probe.clone())]).unwrap();
    let start = Instant::now();
    let mut pushed = 0u32;
    while start.elapsed() < Duration::from_millis(300) {
        assert!(p.push(RECORD));
        pushed += 1;
        let next = start + Duration::from_micros(20) * pushed;
        while Instant::now() < next {
            std::hint::spin_loop();
        }
    }
    assert!(p.flush(SECOND));
    let batches = probe.batches.load(Ordering::SeqCst);
    assert_eq!(probe.lines().len(), pushed as usize);
    assert!(batches < 150, "{batches} batches for {pushed} records");
    assert!(p.close(SECOND));
}

/// `flush` returns `true` only after the native sinks' `flush` returned: with a sink whose
/// flush stalls, it times out even though the record is written.
#[test]
fn flush_waits_for_the_sinks_to_flush() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    probe.stall_flush.store(true, Ordering::SeqCst);
    assert!(p.push(b"one\n"));
    let timeout = Duration::from_millis(50);
    let t = Instant::now();
    assert!(!p.flush(timeout));
    assert!(t.elapsed() >= timeout);
    wait_for("the record to be written", || probe.lines() == ["one"]);
    assert_eq!(probe.flushes.load(Ordering::SeqCst), 0);
    probe.stall_flush.store(false, Ordering::SeqCst);
    assert!(p.flush(SECOND));
    assert!(probe.flushes.load(Ordering::SeqCst) >= 1);
    assert!(p.close(SECOND));
}

/// With a stalled sink, `flush` returns `false` at its timeout, and once the sink recovers a
/// later flush covers everything.
#[test]
fn flush_honours_its_timeout_when_the_sink_stalls() {
    let probe = Probe::default();
    let p = Pipeline::start(config(0), vec![Box::new(probe.clone())]).unwrap();
    probe.stall.store(true, Ordering::SeqCst);
    assert!(p.push(b"one\n"));
    wait_for("the writer to enter the sink", || {
        probe.entered.load(Ordering::SeqCst) == 1
    });
    assert!(p.push(b"two\n"));
    let timeout = Duration::from_millis(50);
    let t = Instant::now();
    assert!(!p.flush(timeout));
    assert!(t.elapsed() >= timeout);
    probe.stall.store(false, Ordering::SeqCst);
    assert!(p.flush(SECOND));
    assert_eq!(probe.lines(), ["one", "two"]);
    assert!(p.close(SECOND));
}

/// Flushes while two producers keep pushing: each successful flush covers every record whose
/// push had returned before the flush started (counted per producer, in order).
#[test]
fn flush_covers_every_record_pushed_before_it_under_concurrent_pushes() {
    let probe = Probe::default();
    let p = Pipeline::start(config(1 << 20), vec![Box::new(probe.clone())]).unwrap();
    const PER: u64 = 20_000;
    let accepted: Arc<[AtomicU64; 2]> = Arc::new(Default::default());
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let (p, accepted) = (p.clone(), accepted.clone());
            thread::spawn(move || {
                for i in 0..PER {
                    if p.push(format!("{t} {i}\n").as_bytes()) {
                        accepted[t].fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    let mut flushes = 0;
    while flushes < 5 || producers.iter().any(|t| !t.is_finished()) {
        let before = [0, 1].map(|t| accepted[t].load(Ordering::SeqCst));
        assert!(p.flush(SECOND));
        flushes += 1;
        let lines = probe.lines();
        for (t, &pushed) in before.iter().enumerate() {
            let prefix = format!("{t} ");
            let mine = lines.iter().filter(|l| l.starts_with(&prefix)).count() as u64;
            assert!(
                mine >= pushed,
                "producer {t}: {mine} written < {pushed} pushed"
            );
        }
    }
    for t in producers {
        t.join().unwrap();
    }
    assert!(p.close(SECOND));
    let s = p.stats();
    assert!(settled(&s), "{s:?}");
    assert_eq!(s.written as usize, probe.lines().len());
}

/// Snapshots taken while producers overflow a tiny ring never show more settled records than
/// emitted ones.
#[test]
fn a_snapshot_never_shows_more_settled_than_emitted_records() {
    let p = Pipeline::start(
        PipelineConfig {
            batch_bytes: 512,
            ..config(0)
        },
        vec![Box::new(ferrolog_core::NullSink)],
    )
    .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let (p, done) = (p.clone(), done.clone());
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    p.push(&[b'x'; 100]);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = p.stats();
        assert!(s.written + s.dropped <= s.emitted, "{s:?}");
        if s.dropped > 0 && s.written > 0 && s.emitted > 100_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ring never overflowed: {s:?}"
        );
    }
    done.store(true, Ordering::SeqCst);
    for t in producers {
        t.join().unwrap();
    }
    assert!(p.close(SECOND));
    assert!(settled(&p.stats()));
}

/// A capacity above the ring's maximum is refused with an `InvalidInput` error that names it,
/// instead of a panic or an abort.
#[test]
fn start_refuses_a_capacity_above_the_maximum() {
    for capacity in [ferrolog_core::MAX_CAPACITY_BYTES + 1, usize::MAX] {
        let err = Pipeline::start(config(capacity), vec![]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&capacity.to_string()), "{err}");
    }
}

/// A ring that cannot be allocated (address space limited in a forked child) is an
/// `OutOfMemory` error naming the capacity, not an abort.
#[test]
fn start_reports_a_failed_allocation_as_out_of_memory() {
    // SAFETY: the child only allocates and calls setrlimit, then leaves with _exit.
    let pid = unsafe { libc_fork() };
    if pid == 0 {
        let capacity = ferrolog_core::MAX_CAPACITY_BYTES;
        // Room for what the process maps now plus 256 MiB: far less than the ring needs.
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let pages: u64 = statm
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let limit = libc::rlimit {
            rlim_cur: pages * 4096 + (256 << 20),
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: a valid rlimit for this process.
        let limited = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } == 0;
        let ok = limited
            && match Pipeline::start(config(capacity), vec![]) {
                Err(e) => {
                    e.kind() == io::ErrorKind::OutOfMemory
                        && e.to_string().contains(&capacity.to_string())
                }
                Ok(_) => false,
            };
        // SAFETY: leave the child without running the test harness's exit path.
        unsafe { libc_exit(if ok { 0 } else { 1 }) };
    }
    assert!(pid > 0);
    assert_eq!(wait(pid), 0, "the child did not see OutOfMemory");
}

/// A `batch_bytes` far above the ring (even `usize::MAX`) works like the ring's capacity.
#[test]
fn a_huge_batch_bytes_is_bounded_by_the_ring() {
    let probe = Probe::default();
    let p = Pipeline::start(
        PipelineConfig {
            batch_bytes: usize::MAX,
            ..config(0)
        },
        vec![Box::new(probe.clone())],
    )
    .unwrap();
    for i in 0..50 {
        assert!(p.push(format!("{i}\n").as_bytes()));
    }
    assert!(p.flush(SECOND));
    assert_eq!(probe.lines().len(), 50);
    assert!(p.close(SECOND));
}
