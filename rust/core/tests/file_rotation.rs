//! Rotation by size and by time, retention and gzip, checked on the bytes left on disk.

mod file_support;

use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrolog_core::{Clock, FileConfig, FileSink, RotateEvery, Sink};
use file_support::{all_lines, batches, line, log_files, parse, Scratch};

fn expected(from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| line(0, i).trim_end().to_owned())
        .collect()
}

fn write_all(sink: &mut FileSink, from: usize, to: usize, batch: usize) {
    for b in batches(0, from, to, batch) {
        sink.write_batch(&b).unwrap();
    }
}

/// Size rotation keeps every line exactly once and in order across `app.log.N … app.log`, and
/// no rotated file is past `max_bytes` or rotated early.
#[test]
fn size_rotation_loses_and_duplicates_nothing() {
    let dir = Scratch::new("size");
    let path = dir.join("app.log");
    let mut cfg = FileConfig::new(&path);
    cfg.max_bytes = Some(2000);
    cfg.backups = 1000;
    let mut sink = FileSink::open(cfg).unwrap();
    write_all(&mut sink, 0, 1000, 500);
    sink.close().unwrap();
    assert_eq!(all_lines(&dir.0, "app.log"), expected(0, 1000));
    let files = log_files(&dir.0, "app.log");
    assert!(files.len() > 20, "{files:?}");
    for name in files.iter().filter(|n| *n != "app.log") {
        let len = fs::metadata(dir.join(name)).unwrap().len();
        assert!(len <= 2000 && len > 2000 - 500, "{name}: {len} bytes");
    }
}

/// A batch bigger than `max_bytes` is written whole, not split, and rotated out by the next one.
#[test]
fn oversized_batch_is_written_whole() {
    let dir = Scratch::new("big");
    let path = dir.join("app.log");
    let mut cfg = FileConfig::new(&path);
    cfg.max_bytes = Some(100);
    let mut sink = FileSink::open(cfg).unwrap();
    let big = batches(0, 0, 10, 1 << 20).remove(0);
    assert!(big.len() > 100);
    sink.write_batch(&big).unwrap();
    sink.write_batch(line(0, 10).as_bytes()).unwrap();
    sink.close().unwrap();
    assert_eq!(fs::read(dir.join("app.log.1")).unwrap(), big);
    assert_eq!(fs::read_to_string(&path).unwrap(), line(0, 10));
}

/// Only the newest `backups` rotated files are kept, and they hold the newest lines.
#[test]
fn retention_deletes_beyond_backups() {
    let dir = Scratch::new("retain");
    let path = dir.join("app.log");
    // Stale backups from an earlier config with more retention are pruned too.
    fs::write(dir.join("app.log.9"), "stale\n").unwrap();
    fs::write(dir.join("app.log.10.gz"), "stale\n").unwrap();
    let mut cfg = FileConfig::new(&path);
    cfg.max_bytes = Some(1000);
    cfg.backups = 3;
    let mut sink = FileSink::open(cfg).unwrap();
    write_all(&mut sink, 0, 500, 1000);
    sink.close().unwrap();
    assert_eq!(
        log_files(&dir.0, "app.log"),
        ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    );
    let lines = all_lines(&dir.0, "app.log");
    let first = parse(&lines[0]).1;
    assert_eq!(lines, expected(first, 500));
}

/// With `backups = 0` a rotation simply starts the file over.
#[test]
fn zero_backups_keeps_only_the_live_file() {
    let dir = Scratch::new("zero");
    let path = dir.join("app.log");
    let mut cfg = FileConfig::new(&path);
    cfg.max_bytes = Some(1000);
    cfg.backups = 0;
    let mut sink = FileSink::open(cfg).unwrap();
    write_all(&mut sink, 0, 100, 1000);
    sink.close().unwrap();
    assert_eq!(log_files(&dir.0, "app.log"), ["app.log"]);
    let lines = all_lines(&dir.0, "app.log");
    assert_eq!(lines, expected(parse(&lines[0]).1, 100));
}

/// With `compress`, rotated files become `app.log.N.gz` by the time `close` returns, and they
/// decompress to exactly the lines that were rotated out.
#[test]
fn gzip_backups_decompress_to_the_rotated_lines() {
    let dir = Scratch::new("gzip");
    let path = dir.join("app.log");
    let mut cfg = FileConfig::new(&path);
    cfg.max_bytes = Some(4000);
    cfg.backups = 4;
    cfg.compress = true;
    let mut sink = FileSink::open(cfg).unwrap();
    write_all(&mut sink, 0, 400, 1000);
    sink.close().unwrap();
    assert_eq!(
        log_files(&dir.0, "app.log"),
        [
            "app.log",
            "app.log.1.gz",
            "app.log.2.gz",
            "app.log.3.gz",
            "app.log.4.gz"
        ]
    );
    let lines = all_lines(&dir.0, "app.log");
    assert_eq!(lines, expected(parse(&lines[0]).1, 400));
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}"); // 5 log files + .app.log.lock
}

#[derive(Clone)]
struct FakeClock(Arc<AtomicU64>);

impl FakeClock {
    fn at(secs: u64) -> Self {
        FakeClock(Arc::new(AtomicU64::new(secs)))
    }
    fn set(&self, secs: u64) {
        self.0.store(secs, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

// 2026-11-26T10:00:00Z
const T10: u64 = 1_795_687_200;

/// Hourly rotation (UTC) starts a new file at the top of the hour, and only when the hour had
/// lines: an idle hour leaves no empty backup.
#[test]
fn hourly_rotation_at_the_top_of_the_hour() {
    let dir = Scratch::new("hourly");
    let path = dir.join("app.log");
    let mut cfg = FileConfig::new(&path);
    cfg.rotate_every = Some(RotateEvery::Hourly);
    let clock = FakeClock::at(T10 + 3598);
    let mut sink = FileSink::open_with_clock(cfg, Box::new(clock.clone())).unwrap();
    sink.write_batch(line(0, 0).as_bytes()).unwrap();
    clock.set(T10 + 3599);
    sink.write_batch(line(0, 1).as_bytes()).unwrap();
    clock.set(T10 + 3600);
    sink.write_batch(line(0, 2).as_bytes()).unwrap();
    clock.set(T10 + 3600 + 1800);
    sink.write_batch(line(0, 3).as_bytes()).unwrap();
    // 12:00 passes with no writes; 13:00 rotates the 11:xx file once.
    clock.set(T10 + 3 * 3600 + 5);
    sink.write_batch(line(0, 4).as_bytes()).unwrap();
    sink.close().unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("app.log.2")).unwrap(),
        line(0, 0) + &line(0, 1)
    );
    assert_eq!(
        fs::read_to_string(dir.join("app.log.1")).unwrap(),
        line(0, 2) + &line(0, 3)
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), line(0, 4));
}

/// Daily rotation (UTC) rotates at midnight, and a non-empty file left from an earlier day is
/// rotated out by the first batch.
#[test]
fn daily_rotation_and_stale_file_from_earlier_day() {
    let dir = Scratch::new("daily");
    let path = dir.join("app.log");
    fs::write(&path, line(0, 0)).unwrap(); // mtime: today, real clock
    let mut cfg = FileConfig::new(&path);
    cfg.rotate_every = Some(RotateEvery::Daily);
    // The fake clock is days after the file's mtime.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = (now / 86_400 + 10) * 86_400;
    let clock = FakeClock::at(day + 100);
    let mut sink = FileSink::open_with_clock(cfg, Box::new(clock.clone())).unwrap();
    sink.write_batch(line(0, 1).as_bytes()).unwrap();
    clock.set(day + 86_399);
    sink.write_batch(line(0, 2).as_bytes()).unwrap();
    clock.set(day + 86_400);
    sink.write_batch(line(0, 3).as_bytes()).unwrap();
    sink.close().unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("app.log.2")).unwrap(),
        line(0, 0)
    );
    assert_eq!(
        fs::read_to_string(dir.join("app.log.1")).unwrap(),
        line(0, 1) + &line(0, 2)
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), line(0, 3));
}

/// With the real clock and `Seconds(1)`, a batch written after the next second boundary goes to
/// a new file.
#[test]
fn seconds_rotation_with_real_clock() {
    let dir = Scratch::new("secs");
    let path = dir.join("app.log");
    let mut cfg = FileConfig::new(&path);
    cfg.rotate_every = Some(RotateEvery::Seconds(1));
    let mut sink = FileSink::open(cfg).unwrap();
    sink.write_batch(line(0, 0).as_bytes()).unwrap();
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    std::thread::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(since_epoch.subsec_nanos()),
    ));
    std::thread::sleep(Duration::from_millis(20));
    sink.write_batch(line(0, 1).as_bytes()).unwrap();
    sink.close().unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("app.log.1")).unwrap(),
        line(0, 0)
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), line(0, 1));
}

/// In a child process with `TZ=tz`: a local-time sink (`utc: false`, rotating `every`) on a
/// fake clock, then `TZ` changed to UTC (the sink must not notice: the zone was read at open),
/// then one line written at each of `steps`. Returns the files' contents, oldest first.
fn local_rotation(test: &str, tz: &str, every: RotateEvery, steps: &[u64]) -> Vec<String> {
    if file_support::role().as_deref() == Some("local") {
        let path = std::env::var("FERROLOG_TEST_PATH").unwrap();
        let mut cfg = FileConfig::new(&path);
        cfg.rotate_every = Some(every);
        cfg.utc = false;
        let clock = FakeClock::at(steps[0]);
        let mut sink = FileSink::open_with_clock(cfg, Box::new(clock.clone())).unwrap();
        // SAFETY: no other thread of this child reads or writes the environment meanwhile.
        unsafe { libc::setenv(c"TZ".as_ptr(), c"UTC".as_ptr(), 1) };
        for (i, &t) in steps.iter().enumerate() {
            clock.set(t);
            sink.write_batch(line(0, i).as_bytes()).unwrap();
        }
        sink.close().unwrap();
        std::process::exit(0);
    }
    let dir = Scratch::new("localdst");
    let path = dir.join("app.log");
    let status = file_support::child(test, "local")
        .env("FERROLOG_TEST_PATH", &path)
        .env("TZ", tz)
        .status()
        .unwrap();
    assert!(status.success(), "child failed: {status}");
    let mut files = log_files(&dir.0, "app.log");
    // Oldest first: app.log.N … app.log.1, then app.log.
    files.sort_by_key(|n| {
        std::cmp::Reverse(
            n.strip_prefix("app.log.")
                .map_or(0, |k| k.parse::<usize>().unwrap()),
        )
    });
    files
        .iter()
        .map(|n| fs::read_to_string(dir.join(n)).unwrap())
        .collect()
}

/// Local daily rotation in New York across spring-forward: the day of the change is 23 hours
/// long and each file holds exactly one local day. `TZ` is set for a child process only
/// (setting it in this multi-threaded test binary is the very race the zone table avoids); the
/// child's switch to `TZ=UTC` after opening changes nothing (libc's `mktime` would follow it).
#[test]
fn local_daily_rotation_across_a_dst_change() {
    let files = local_rotation(
        "local_daily_rotation_across_a_dst_change",
        "America/New_York",
        RotateEvery::Daily,
        &[
            1_772_945_999, // Mar 7 23:59:59 EST
            1_772_946_000, // Mar 8 00:00:00 EST: new day
            1_773_028_799, // Mar 8 23:59:59 EDT, 23 hours later: same day
            1_773_028_800, // Mar 9 00:00:00 EDT: new day (an hour before UTC-5 midnight)
        ],
    );
    assert_eq!(files, [line(0, 0), line(0, 1) + &line(0, 2), line(0, 3)]);
}

/// Local hourly rotation on Lord Howe Island across its 30-minute spring-forward (02:00 +10:30
/// becomes 02:30 +11): the change itself starts a new hour, and the next one starts at 03:00
/// local, only 30 minutes later, at a UTC :00 instead of :30.
#[test]
fn local_hourly_rotation_across_a_half_hour_dst_change() {
    let files = local_rotation(
        "local_hourly_rotation_across_a_half_hour_dst_change",
        "Australia/Lord_Howe",
        RotateEvery::Hourly,
        &[
            1_791_039_900, // 2026-10-03 14:45Z = 01:15 +10:30
            1_791_041_399, // 01:59:59 +10:30: same hour
            1_791_041_400, // the change: 02:30 +11, a new hour
            1_791_043_199, // 02:59:59 +11: same hour
            1_791_043_200, // 03:00 +11 (16:00Z): new hour
        ],
    );
    assert_eq!(
        files,
        [
            line(0, 0) + &line(0, 1),
            line(0, 2) + &line(0, 3),
            line(0, 4)
        ]
    );
}
