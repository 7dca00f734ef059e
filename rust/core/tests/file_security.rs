//! File-system hardening of the file sink: unsafe directories are refused, and rotation never
//! follows a symbolic link planted among the backups.

mod file_support;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use ferrolog_core::{FileConfig, FileSink, Sink};
use file_support::{all_lines, batches, Scratch};

/// A directory anyone may write to, without the sticky bit, is refused with an error naming it.
#[test]
fn world_writable_directory_without_sticky_bit_is_refused() {
    let dir = Scratch::new("worldw");
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o777)).unwrap();
    let err = FileSink::open(FileConfig::new(dir.join("app.log"))).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{msg}");
    assert!(msg.contains(&dir.0.display().to_string()), "{msg}");
    assert!(msg.contains("sticky bit"), "{msg}");
    assert!(!dir.join("app.log").exists(), "nothing is created");
}

/// With the sticky bit (like /tmp) only a file's owner may replace it: accepted.
#[test]
fn world_writable_directory_with_sticky_bit_is_accepted() {
    let dir = Scratch::new("sticky");
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o1777)).unwrap();
    let mut sink = FileSink::open(FileConfig::new(dir.join("app.log"))).unwrap();
    sink.write_batch(b"{\"a\":1}\n").unwrap();
    sink.close().unwrap();
}

fn rotate_many(path: &Path, backups: usize, compress: bool) {
    let mut cfg = FileConfig::new(path);
    cfg.max_bytes = Some(300);
    cfg.backups = backups;
    cfg.compress = compress;
    let mut sink = FileSink::open(cfg).unwrap();
    for b in batches(0, 0, 60, 200) {
        sink.write_batch(&b).unwrap();
    }
    sink.close().unwrap();
}

fn no_symlinks_left(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = fs::symlink_metadata(entry.path()).unwrap().file_type();
        assert!(
            !kind.is_symlink(),
            "{:?} is still a link",
            entry.file_name()
        );
    }
}

/// Symbolic links planted where backups go (`app.log.1`, `app.log.3`, past the retention) are
/// replaced or deleted as names: their targets are never written, truncated or removed.
#[test]
fn symlinks_planted_where_backups_go_are_never_followed() {
    let dir = Scratch::new("plant");
    let outside = Scratch::new("plant-target");
    let target = outside.join("precious.txt");
    fs::write(&target, "keep me\n").unwrap();
    let logs = dir.join("logs");
    fs::create_dir(&logs).unwrap();
    for name in ["app.log.1", "app.log.3", "app.log.9"] {
        symlink(&target, logs.join(name)).unwrap();
    }
    rotate_many(&logs.join("app.log"), 3, false);
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep me\n");
    no_symlinks_left(&logs);
    // The newest lines are all there, in order, in regular files.
    let lines = all_lines(&logs, "app.log");
    assert!(lines.last().unwrap().contains("\"i\":59"), "{lines:?}");
}

/// The same with gzip: a link at `app.log.1.gz` is replaced by the compressed backup.
#[test]
fn symlinks_planted_where_gzip_backups_go_are_never_followed() {
    let dir = Scratch::new("plant-gz");
    let outside = Scratch::new("plant-gz-target");
    let target = outside.join("precious.txt");
    fs::write(&target, "keep me\n").unwrap();
    for name in ["app.log.1.gz", "app.log.2.gz", "app.log.2"] {
        symlink(&target, dir.join(name)).unwrap();
    }
    rotate_many(&dir.join("app.log"), 2, true);
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep me\n");
    no_symlinks_left(&dir.0);
}
