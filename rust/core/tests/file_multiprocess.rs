//! Several processes appending to one log file: lines never tear or interleave, nothing is
//! lost or duplicated, and a size boundary is rotated once, not once per process.

mod file_support;

use std::collections::HashMap;
use std::fs;
use std::process::Child;
use std::time::Instant;

use ferrolog_core::{FileConfig, FileSink, Sink};
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
    if role().is_some() {
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
