//! A `FileSink` with rotation inherited across `fork()` (a pre-forking server that opened its
//! log before forking workers): parent and children still exclude each other when rotating.

mod file_support;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ferrolog_core::{FileConfig, FileSink, Sink};
use file_support::{all_lines, batches, log_files, parse, read_any, Scratch};

const WRITERS: usize = 4; // the parent and three forked children
const LINES: usize = 20_000;
const MAX: u64 = 256 * 1024;
const BATCH: usize = 8 * 1024;

/// Every line written through the inherited sink survives once, in order, and every boundary is
/// rotated exactly once.
#[test]
fn forked_children_share_an_inherited_sink_safely() {
    run(false);
}

/// The same with gzip, forking while the parent's gzip thread is compressing: no child blocks
/// on a lock the parent's thread held at the fork, every backup ends up compressed, and every
/// line survives once, in order.
#[test]
fn fork_during_compression_neither_deadlocks_nor_loses_lines() {
    run(true);
}

fn run(compress: bool) {
    let dir = Scratch::new("fork");
    let path = dir.join("app.log");
    let mut cfg = FileConfig::new(&path);
    cfg.max_bytes = Some(MAX);
    cfg.backups = 10_000;
    cfg.compress = compress;
    let mut sink = FileSink::open(cfg).unwrap();
    let work: Vec<Vec<Vec<u8>>> = (0..WRITERS).map(|p| batches(p, 0, LINES, BATCH)).collect();
    // Enough for several rotations first, so gzip jobs are queued or running at each fork.
    let head = if compress { work[0].len() / 2 } else { 1 };
    for b in &work[0][..head] {
        sink.write_batch(b).unwrap();
    }

    let mut pids = Vec::new();
    for batches in work.iter().skip(1) {
        // SAFETY: the child only writes through the sink (file syscalls and small allocations,
        // which glibc keeps usable after fork) and leaves with _exit, never returning to the
        // test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: SIGALRM's default action ends this child if it ever blocks for good.
            unsafe { libc::alarm(60) };
            let ok = catch_unwind(AssertUnwindSafe(|| {
                for b in batches {
                    sink.write_batch(b).unwrap();
                }
                sink.close().unwrap();
            }))
            .is_ok();
            // SAFETY: ends the forked child immediately, skipping the harness's atexit work.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        pids.push(pid);
    }
    for b in &work[0][head..] {
        sink.write_batch(b).unwrap();
    }
    sink.close().unwrap();
    for pid in pids {
        let mut status = 0;
        // SAFETY: waits for a child we forked; `status` is valid storage.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        assert!(ok, "child blocked or failed: status {status:#x}");
    }

    let lines = all_lines(&dir.0, "app.log");
    assert_eq!(lines.len(), WRITERS * LINES);
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
    for name in log_files(&dir.0, "app.log")
        .iter()
        .filter(|n| *n != "app.log")
    {
        assert!(
            !compress || name.ends_with(".gz"),
            "{name} was not compressed"
        );
        let len = read_any(&dir.join(name)).len() as u64;
        assert!(
            len <= MAX && len > MAX - BATCH as u64,
            "{name}: {len} bytes"
        );
    }
}
