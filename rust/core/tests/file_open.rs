//! Opening and plain appending: permissions, O_APPEND, O_NOFOLLOW and the errors users meet.

mod file_support;

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};

use ferrolog_core::{FileConfig, FileSink, Sink};
use file_support::{child, role, Scratch};

/// A new log file gets mode 0o640 under the usual umask 022.
#[test]
fn new_file_has_mode_0640() {
    // SAFETY: umask only swaps the process's creation mask; 022 is the default already.
    unsafe { libc::umask(0o022) };
    let dir = Scratch::new("mode");
    let path = dir.join("app.log");
    let mut sink = FileSink::open(FileConfig::new(&path)).unwrap();
    sink.write_batch(b"{\"a\":1}\n").unwrap();
    sink.close().unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "mode is {mode:o}");
}

/// Opening an existing file appends after its content instead of truncating it.
#[test]
fn appends_to_existing_file() {
    let dir = Scratch::new("append");
    let path = dir.join("app.log");
    fs::write(&path, "{\"old\":1}\n").unwrap();
    let mut sink = FileSink::open(FileConfig::new(&path)).unwrap();
    sink.write_batch(b"{\"new\":1}\n").unwrap();
    sink.write_batch(b"{\"new\":2}\n").unwrap();
    sink.close().unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"old\":1}\n{\"new\":1}\n{\"new\":2}\n"
    );
}

/// A symbolic link at the log path is refused with an error naming the path; its target is
/// left untouched.
#[test]
fn symlink_is_refused() {
    let dir = Scratch::new("symlink");
    let target = dir.join("target.log");
    fs::write(&target, "").unwrap();
    let path = dir.join("app.log");
    symlink(&target, &path).unwrap();
    let err = FileSink::open(FileConfig::new(&path)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("symbolic link"), "{msg}");
    assert_eq!(fs::read(&target).unwrap(), b"");
}

/// A missing directory is not created; the error names it.
#[test]
fn missing_directory_is_a_clear_error() {
    let dir = Scratch::new("nodir");
    let missing = dir.join("no-such-dir");
    let path = missing.join("app.log");
    let err = FileSink::open(FileConfig::new(&path)).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(
        msg.contains(&format!("directory {} does not exist", missing.display())),
        "{msg}"
    );
    assert!(!missing.exists());
}

/// The sink's name is `file:<path>`.
#[test]
fn name_is_file_colon_path() {
    let dir = Scratch::new("name");
    let path = dir.join("app.log");
    let sink = FileSink::open(FileConfig::new(&path)).unwrap();
    assert_eq!(sink.name(), format!("file:{}", path.display()));
}

/// A full device gives an error naming the path on every batch, without poisoning anything: a
/// sink on a good file keeps working alongside.
#[cfg(target_os = "linux")] // /dev/full is Linux-only
#[test]
fn dev_full_reports_error_with_path() {
    let mut full = FileSink::open(FileConfig::new("/dev/full")).unwrap();
    let dir = Scratch::new("full");
    let good_path = dir.join("app.log");
    let mut good = FileSink::open(FileConfig::new(&good_path)).unwrap();
    for i in 0..3 {
        let err = full.write_batch(b"{\"x\":1}\n").unwrap_err();
        assert!(err.to_string().contains("/dev/full"), "{err}");
        assert_eq!(
            err.raw_os_error().or_else(|| inner_errno(&err)),
            Some(libc::ENOSPC)
        );
        good.write_batch(format!("{{\"i\":{i}}}\n").as_bytes())
            .unwrap();
    }
    good.close().unwrap();
    assert_eq!(
        fs::read_to_string(&good_path).unwrap(),
        "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n"
    );
}

#[cfg(target_os = "linux")]
fn inner_errno(err: &io::Error) -> Option<i32> {
    let source = std::error::Error::source(err.get_ref()?)?;
    source.downcast_ref::<io::Error>()?.raw_os_error()
}

/// When a write fails (here EFBIG from RLIMIT_FSIZE) the same sink writes later batches once
/// the cause goes away, and the failed batch leaves no partial line behind.
#[test]
fn recovers_after_write_error() {
    const TEST: &str = "recovers_after_write_error";
    if role().as_deref() == Some("efbig") {
        let path = std::env::var("FERROLOG_TEST_PATH").unwrap();
        let mut sink = FileSink::open(FileConfig::new(&path)).unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: this child is single-purpose; ignoring SIGXFSZ and lowering its own file size
        // limit affect only this process, and `lim` is valid storage.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim);
        }
        let saved = lim.rlim_cur;
        lim.rlim_cur = 4096;
        // SAFETY: `lim` is a valid rlimit; lowering the soft limit is always permitted.
        unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) };
        let ok = vec![b'a'; 4095];
        let mut first = ok.clone();
        first.push(b'\n');
        sink.write_batch(&first).unwrap();
        let err = sink.write_batch(b"{\"lost\":1}\n").unwrap_err();
        assert!(err.to_string().contains(&path), "{err}");
        lim.rlim_cur = saved;
        // SAFETY: as above; the soft limit goes back to its old value, within the hard limit.
        unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) };
        sink.write_batch(b"{\"after\":1}\n").unwrap();
        sink.close().unwrap();
        std::process::exit(0);
    }
    let dir = Scratch::new("efbig");
    let path = dir.join("app.log");
    let status = child(TEST, "efbig")
        .env("FERROLOG_TEST_PATH", &path)
        .status()
        .unwrap();
    assert!(status.success(), "child failed: {status}");
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 4096 + "{\"after\":1}\n".len());
    assert!(text.ends_with("\n{\"after\":1}\n"));
}

/// A batch that crosses `RLIMIT_FSIZE` is written only in part and its rest fails (EFBIG): the
/// part is cut off again, so a line that another process appends afterwards starts on a line of
/// its own instead of being glued onto half a line.
#[test]
fn short_write_that_cannot_complete_leaves_no_half_line() {
    const TEST: &str = "short_write_that_cannot_complete_leaves_no_half_line";
    let first = "{\"first\":\"".to_owned() + &"a".repeat(4000) + "\"}\n";
    if role().as_deref() == Some("short") {
        let path = std::env::var("FERROLOG_TEST_PATH").unwrap();
        let mut sink = FileSink::open(FileConfig::new(&path)).unwrap();
        sink.write_batch(first.as_bytes()).unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: this single-purpose child ignores SIGXFSZ and lowers its own soft file size
        // limit (always permitted); `lim` is valid storage for getrlimit.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim);
            lim.rlim_cur = 4096;
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
        // 4001 + 200 bytes: the kernel takes the first 95 and refuses the rest.
        let crossing = "{\"crossing\":\"".to_owned() + &"b".repeat(190) + "\"}\n";
        let err = sink.write_batch(crossing.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("removed again"), "{err}");
        sink.close().unwrap();
        std::process::exit(0);
    }
    let dir = Scratch::new("short");
    let path = dir.join("app.log");
    let status = child(TEST, "short")
        .env("FERROLOG_TEST_PATH", &path)
        .status()
        .unwrap();
    assert!(status.success(), "child failed: {status}");
    // The other process appends next.
    let mut other = FileSink::open(FileConfig::new(&path)).unwrap();
    other.write_batch(b"{\"other\":1}\n").unwrap();
    other.close().unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        first + "{\"other\":1}\n"
    );
}
