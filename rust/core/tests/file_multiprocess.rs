//! Several processes appending to one log file: lines never tear or interleave, nothing is
//! lost or duplicated, and a size boundary is rotated once, not once per process.

mod file_support;

use std::collections::HashMap;
use std::fs;
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ferrolog_core::{Clock, FileConfig, FileSink, RotateEvery, Sink};
use file_support::{all_lines, batches, child, log_files, parse, role, Scratch};

const PROCS: usize = 4;
const LINES: usize = 50_000;
const BATCH: usize = 64 * 1024;

/// The child role: append `LINES` lines of writer `FERROLOG_TEST_ID` in 64 KiB batches.
fn run_child() -> ! {
    let var = |k: &str| std::env::var(k).ok();
    let mut cfg = FileConfig::new(var("FERROLOG_TEST_PATH").unwrap());
    cfg.max_bytes = var("FERROLOG_TEST_MAX").map(|m| m.parse().unwrap());
    cfg.compress = var("FERROLOG_TEST_COMPRESS").is_some();
    cfg.backups = 10_000;
    let id: usize = var("FERROLOG_TEST_ID").unwrap().parse().unwrap();
    let batches = batches(id, 0, LINES, BATCH);
    let mut sink = FileSink::open(cfg).unwrap();
    for b in &batches {
        sink.write_batch(b).unwrap();
    }
    sink.close().unwrap();
    std::process::exit(0);
}

/// Run `PROCS` appenders at once in `test`, then check the union of the log and its backups.
fn run(test: &str, max_bytes: Option<u64>, compress: bool) {
    if role().as_deref() == Some("append") {
        run_child();
    }
    let dir = Scratch::new(test);
    let path = dir.join("app.log");
    let start = Instant::now();
    let children: Vec<Child> = (0..PROCS)
        .map(|id| {
            let mut cmd = child(test, "append");
            cmd.env("FERROLOG_TEST_PATH", &path)
                .env("FERROLOG_TEST_ID", id.to_string());
            if let Some(max) = max_bytes {
                cmd.env("FERROLOG_TEST_MAX", max.to_string());
            }
            if compress {
                cmd.env("FERROLOG_TEST_COMPRESS", "1");
            }
            cmd.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(status.success(), "appender failed: {status}");
    }
    let elapsed = start.elapsed();

    let lines = all_lines(&dir.0, "app.log");
    assert_eq!(lines.len(), PROCS * LINES);
    // Each writer's lines appear once each and in the order it wrote them.
    let mut next: HashMap<usize, usize> = HashMap::new();
    for l in &lines {
        let (p, i) = parse(l);
        let expect = next.entry(p).or_insert(0);
        assert_eq!(
            i, *expect,
            "writer {p}: line {i} out of order or duplicated"
        );
        *expect += 1;
    }
    assert_eq!(next.len(), PROCS);
    assert!(next.values().all(|&n| n == LINES));

    let files = log_files(&dir.0, "app.log");
    if let Some(max) = max_bytes {
        // Rotated once per boundary: every backup was full to within one batch.
        for name in files.iter().filter(|n| *n != "app.log") {
            if compress {
                assert!(name.ends_with(".gz"), "{name} was not compressed");
            }
            let len = file_support::read_any(&dir.join(name)).len() as u64;
            assert!(
                len <= max && len > max - BATCH as u64,
                "{name}: {len} bytes (max {max})"
            );
        }
        assert!(files.len() > 5, "{files:?}");
    } else {
        assert_eq!(files, ["app.log"]);
    }
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    println!(
        "{test}: {PROCS} processes x {LINES} lines ({:.1} MB) into {} files in {:.3} s",
        bytes as f64 / 1e6,
        files.len(),
        elapsed.as_secs_f64()
    );
    fs::remove_dir_all(&dir.0).ok();
}

/// Without rotation, `O_APPEND` with one write per batch keeps every line whole.
#[test]
fn four_processes_append_without_rotation() {
    run("four_processes_append_without_rotation", None, false);
}

/// With size rotation, the lock serialises rotation: nothing lost, duplicated or rotated twice.
#[test]
fn four_processes_append_with_size_rotation() {
    run(
        "four_processes_append_with_size_rotation",
        Some(1 << 20),
        false,
    );
}

/// With size rotation and gzip, each process compresses what it rotated, wherever later
/// rotations by other processes moved the file.
#[test]
fn four_processes_append_with_rotation_and_gzip() {
    run(
        "four_processes_append_with_rotation_and_gzip",
        Some(2 << 20),
        true,
    );
}

/// Three counters in a small file that every process maps: the fake wall clock, the phase the
/// parent has opened, and how many (writer, phase) steps are done.
struct Shared {
    ptr: *mut AtomicU64,
}

// SAFETY: the mapping is only accessed through atomics and lives as long as the process.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    fn map(path: &std::path::Path) -> Shared {
        use std::os::fd::AsRawFd;
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap();
        f.set_len(4096).unwrap();
        // SAFETY: maps 4096 bytes of a file we just sized, shared between processes; the
        // mapping outlives `f` (closing the fd does not unmap) and is never unmapped.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        Shared { ptr: p.cast() }
    }
    fn get(&self, i: usize) -> &AtomicU64 {
        assert!(i < 3);
        // SAFETY: the mapping is 4096 bytes, page-aligned, and only used as AtomicU64s.
        unsafe { &*self.ptr.add(i) }
    }
    fn wait_until(&self, i: usize, at_least: u64) {
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while self.get(i).load(Ordering::SeqCst) < at_least {
            assert!(
                Instant::now() < deadline,
                "counter {i} stuck below {at_least}"
            );
            // Polling an observable counter (with a deadline), not sleeping as synchronisation.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

const CLOCK: usize = 0;
const PHASE: usize = 1;
const DONE: usize = 2;
const PHASES: u64 = 5;
const PERIOD: u64 = 10;
// 2026-11-26T10:00:00Z
const T0: u64 = 1_795_687_200;

/// A clock every process reads from the shared mapping.
struct SharedClock(std::sync::Arc<Shared>);

impl Clock for SharedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(self.0.get(CLOCK).load(Ordering::SeqCst))
    }
}

fn time_line(phase: u64, p: usize, i: usize) -> String {
    format!("{{\"phase\":{phase},\"p\":{p},\"i\":{i}}}\n")
}

/// Several processes appending with `rotate_every` = 10 s on one shared fake clock that the
/// test moves one period at a time: each period's lines (from every process) land in exactly
/// one file, each period boundary is rotated exactly once (not once per process), and every
/// line is there once, whole, in each process's order.
#[test]
fn time_rotation_across_processes_rotates_once_per_period() {
    const TEST: &str = "time_rotation_across_processes_rotates_once_per_period";
    const PER_PHASE: usize = 2_000;
    let shm_var = "FERROLOG_TEST_SHM";
    if role().is_some() {
        let shared = std::sync::Arc::new(Shared::map(std::env::var(shm_var).unwrap().as_ref()));
        let id: usize = std::env::var("FERROLOG_TEST_ID").unwrap().parse().unwrap();
        let mut cfg = FileConfig::new(std::env::var("FERROLOG_TEST_PATH").unwrap());
        cfg.rotate_every = Some(RotateEvery::Seconds(PERIOD));
        cfg.backups = 100;
        let clock = SharedClock(std::sync::Arc::clone(&shared));
        let mut sink = FileSink::open_with_clock(cfg, Box::new(clock)).unwrap();
        for phase in 0..PHASES {
            shared.wait_until(PHASE, phase);
            let mut batch = String::new();
            for i in 0..PER_PHASE {
                batch.push_str(&time_line(phase, id, i));
                if batch.len() > 4000 || i + 1 == PER_PHASE {
                    sink.write_batch(batch.as_bytes()).unwrap();
                    batch.clear();
                }
            }
            shared.get(DONE).fetch_add(1, Ordering::SeqCst);
        }
        sink.close().unwrap();
        std::process::exit(0);
    }
    let dir = Scratch::new("timemp");
    let path = dir.join("app.log");
    let shm = dir.join("shm");
    let shared = Shared::map(&shm);
    shared.get(CLOCK).store(T0 + 1, Ordering::SeqCst);
    let children: Vec<Child> = (0..PROCS)
        .map(|id| {
            child(TEST, "time")
                .env(shm_var, &shm)
                .env("FERROLOG_TEST_PATH", &path)
                .env("FERROLOG_TEST_ID", id.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for phase in 1..PHASES {
        // Every writer finished the previous period: move the clock into the next one.
        shared.wait_until(DONE, phase * PROCS as u64);
        shared
            .get(CLOCK)
            .store(T0 + phase * PERIOD + 1, Ordering::SeqCst);
        shared.get(PHASE).store(phase, Ordering::SeqCst);
    }
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(status.success(), "appender failed: {status}");
    }
    // One file per period: app.log.4 (oldest) … app.log.1, app.log.
    let mut files = log_files(&dir.0, "app.log");
    files.retain(|f| f != "app.log");
    assert_eq!(files.len() as u64, PHASES - 1, "{files:?}");
    for (k, name) in std::iter::once("app.log".to_owned())
        .chain((1..PHASES).map(|n| format!("app.log.{n}")))
        .enumerate()
    {
        let phase = PHASES - 1 - k as u64;
        let text = fs::read_to_string(dir.join(&name)).unwrap();
        let mut next = vec![0usize; PROCS];
        for l in text.lines() {
            let expect_prefix = format!("{{\"phase\":{phase},\"p\":");
            assert!(
                l.starts_with(&expect_prefix),
                "{name}: line of another period or torn: {l:?}"
            );
            let rest = &l[expect_prefix.len()..];
            let (p, i) = rest.split_once(",\"i\":").unwrap();
            let (p, i): (usize, usize) =
                (p.parse().unwrap(), i.trim_end_matches('}').parse().unwrap());
            assert_eq!(
                i, next[p],
                "{name}: writer {p} line {i} out of order or duplicated"
            );
            next[p] += 1;
        }
        assert_eq!(next, vec![PER_PHASE; PROCS], "{name}: lines missing");
    }
}
