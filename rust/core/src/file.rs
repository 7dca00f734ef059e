//! `FileSink`: NDJSON batches appended to a file, with optional size/time rotation, retention
//! and gzip, safe when several processes append to the same path.
//!
//! Protocol when rotation is configured:
//! 1. Every batch is written under an exclusive `flock` on the sidecar `.app.log.lock`.
//! 2. Under the lock, `lstat(path)` is compared with the (dev, inode) of our descriptor. If they
//!    differ (another process rotated, or the file was removed), we reopen the path first.
//! 3. Still under the lock, the size from that `lstat` and the clock decide whether to rotate;
//!    the process that rotates shifts the backups and reopens, and every other process sees a
//!    new inode at step 2, so a boundary is crossed exactly once.
//! 4. The batch is appended (below), then the lock is released. Writes under the lock also mean
//!    no process is still appending to a file that another one is compressing.
//!
//! Without rotation, each batch to a regular file is appended under an exclusive `flock` on the
//! log file's own descriptor instead (its inode does not change under us; a forked child first
//! reopens the file, because a `flock` belongs to the open file description it would otherwise
//! share with its parent).
//!
//! Appending: a batch goes out in one `write` (`O_APPEND`). When the kernel takes only part of
//! it (disk or quota full, `RLIMIT_FSIZE`, a signal), the rest is written while the lock is
//! still held, so no other process's append lands inside the line. If the rest cannot be
//! written, the part that was is cut off again (`ftruncate`, still under the lock, and only when
//! nothing was appended after it), so the file never ends in half a line that the next append
//! would glue onto; the batch is reported as an error, as the `Sink` contract says.
//!
//! A FIFO at the path gets the pipe treatment of the stdio sinks (writes of at most `PIPE_BUF`
//! bytes that end at newlines); a character device (`/dev/null`) one plain write per batch.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::fdio::{fd_kind, write_all_counted, write_lines_atomic, FdKind, PIPE_BUF};
use crate::flock::{lock_path_for, open_lock_file, Exclusive};
use crate::rotation::{
    next_rollover, parent_dir, shift_backups, Clock, CompressJob, Compressor, LogDir, RotateEvery,
    SystemClock,
};
use crate::sink::Sink;
use crate::tz::TimeZone;
use std::sync::Arc;

/// How long a failed rotation waits before it is tried again; batches keep going to the
/// unrotated file meanwhile, because losing lines is worse than an oversized file.
const ROTATE_RETRY: Duration = Duration::from_secs(1);

/// Where and how a `FileSink` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// The live log file, e.g. `/var/log/app.log`. Its directory must exist.
    pub path: PathBuf,
    /// Permission bits for a newly created file (and its lock file), before the umask.
    pub mode: u32,
    /// Rotate before a batch would push the file past this many bytes.
    pub max_bytes: Option<u64>,
    /// Rotate when the wall clock crosses this boundary.
    pub rotate_every: Option<RotateEvery>,
    /// How many rotated files to keep (`app.log.1` … `app.log.N`); 0 keeps none.
    pub backups: usize,
    /// Gzip rotated files to `app.log.N.gz` (in a background thread; done before `close` returns).
    pub compress: bool,
    /// Compute time boundaries in UTC (`true`) or in the local time zone, as `TZ` (else
    /// `/etc/localtime`) says when the sink is opened; see [`TimeZone::local`].
    pub utc: bool,
}

impl FileConfig {
    /// A config for `path` with mode 0o640, no rotation, 5 backups, no gzip, UTC boundaries.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileConfig {
            path: path.into(),
            mode: 0o640,
            max_bytes: None,
            rotate_every: None,
            backups: 5,
            compress: false,
            utc: true,
        }
    }

    fn rotates(&self) -> bool {
        self.max_bytes.is_some() || self.rotate_every.is_some()
    }
}

/// Appends batches to a file opened with `O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC|O_NOFOLLOW`.
pub struct FileSink {
    name: String,
    cfg: FileConfig,
    file: Option<File>,
    /// (dev, inode) of `file`, to notice that the path now names another file.
    ident: (u64, u64),
    /// What `file` is: a regular file is appended under a lock, a FIFO in line-atomic chunks.
    kind: FdKind,
    /// The sidecar lock file; present exactly when rotation is configured.
    lock: Option<File>,
    /// The log directory, opened once, that rotation renames in; present with `lock`.
    dir: Option<Arc<LogDir>>,
    clock: Box<dyn Clock>,
    /// The local zone for time rotation with `utc: false`, loaded at open on the configuring
    /// thread: the writer thread never calls libc's time-zone functions (see `tz.rs`).
    zone: Option<TimeZone>,
    next_rollover: Option<SystemTime>,
    retry_rotation_at: Option<Instant>,
    /// A failure that did not lose the batch (a rotation); reported by `flush`/`close`.
    deferred: Option<io::Error>,
    compressor: Option<Compressor>,
    /// The process that opened the lock file. `flock` locks belong to the open file description,
    /// which a forked child shares with its parent, so the child must open its own to exclude it.
    pid: u32,
}

impl fmt::Debug for FileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSink")
            .field("cfg", &self.cfg)
            .field("open", &self.file.is_some())
            .field("next_rollover", &self.next_rollover)
            .finish_non_exhaustive()
    }
}

impl FileSink {
    /// Open (creating if needed) the log file described by `cfg`.
    ///
    /// Errors name the path and say what to do: a missing directory is not created, a symbolic
    /// link at the path is refused, and `Seconds(0)` or `max_bytes: Some(0)` are rejected.
    pub fn open(cfg: FileConfig) -> io::Result<FileSink> {
        Self::open_with_clock(cfg, Box::new(SystemClock))
    }

    /// Like `open`, reading wall-clock time for time-based rotation from `clock`.
    pub fn open_with_clock(cfg: FileConfig, clock: Box<dyn Clock>) -> io::Result<FileSink> {
        let path = cfg.path.display();
        if cfg.rotate_every == Some(RotateEvery::Seconds(0)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("log file {path}: rotation interval must be at least 1 second"),
            ));
        }
        if cfg.max_bytes == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("log file {path}: max_bytes must be greater than 0"),
            ));
        }
        check_directory(&cfg.path)?;
        let file = open_log(&cfg.path, cfg.mode)?;
        let meta = file
            .metadata()
            .map_err(|e| context(e, format!("reading metadata of log file {path}")))?;
        let lock = if cfg.rotates() {
            let lock_path = lock_path_for(&cfg.path);
            let lock = open_lock_file(&lock_path, cfg.mode).map_err(|e| {
                let lp = lock_path.display();
                context(
                    e,
                    format!("opening rotation lock file {lp} for log file {path}"),
                )
            })?;
            Some(lock)
        } else {
            None
        };
        let dir = match cfg.rotates() {
            true => Some(Arc::new(LogDir::open(&cfg.path).map_err(|e| {
                let d = parent_dir(&cfg.path).display();
                context(e, format!("opening directory {d} of log file {path}"))
            })?)),
            false => None,
        };
        let zone = (cfg.rotate_every.is_some() && !cfg.utc).then(TimeZone::local);
        // A non-empty file left by an earlier run belongs to the period of its last write, so a
        // file from yesterday is rotated out by the first batch of today. An mtime ahead of the
        // clock (the clock was stepped back, or is a test's) counts as now: it must not push
        // this process's boundary past the one the other appenders see.
        let next_rollover = cfg.rotate_every.map(|every| {
            let now = clock.now();
            let since = match meta.modified() {
                Ok(mtime) if meta.len() > 0 => mtime.min(now),
                _ => now,
            };
            next_rollover(since, every, zone.as_ref())
        });
        let compressor = dir.as_ref().filter(|_| cfg.compress).map(|dir| {
            Compressor::start(
                Arc::clone(dir),
                cfg.path.clone(),
                lock_path_for(&cfg.path),
                cfg.mode,
                cfg.backups,
            )
        });
        Ok(FileSink {
            name: format!("file:{path}"),
            ident: (meta.dev(), meta.ino()),
            kind: fd_kind(file.as_raw_fd()),
            file: Some(file),
            lock,
            dir,
            clock,
            zone,
            next_rollover,
            retry_rotation_at: None,
            deferred: None,
            compressor,
            pid: std::process::id(),
            cfg,
        })
    }

    /// The live log file's path.
    pub fn path(&self) -> &Path {
        &self.cfg.path
    }

    /// Append the batch; for a regular file the caller holds a lock that every other appender
    /// takes too.
    fn write_unlocked(&self, batch: &[u8]) -> io::Result<()> {
        let Some(file) = self.file.as_ref() else {
            return Err(io::Error::other(format!(
                "log file {} is closed",
                self.cfg.path.display()
            )));
        };
        let fd = file.as_raw_fd();
        let result = match self.kind {
            FdKind::Regular => append_whole(fd, batch),
            FdKind::PipeLike => write_lines_atomic(fd, batch, PIPE_BUF),
            FdKind::Other => write_all_counted(fd, batch).map_err(|e| e.error),
        };
        result.map_err(|e| {
            let (n, p) = (batch.len(), self.cfg.path.display());
            context(e, format!("writing {n} bytes to log file {p}"))
        })
    }

    /// Without rotation: a regular file is appended under a `flock` on its own descriptor, so a
    /// short write is completed before any other process appends.
    fn write_plain(&mut self, batch: &[u8]) -> io::Result<()> {
        if self.kind != FdKind::Regular {
            return self.write_unlocked(batch);
        }
        if self.pid != std::process::id() && self.file.is_some() {
            // `flock` belongs to the open file description, which a forked child shares with
            // its parent: only a descriptor of our own excludes the parent.
            self.reopen()?;
            self.pid = std::process::id();
        }
        let Some(file) = self.file.as_ref() else {
            return self.write_unlocked(batch);
        };
        let _guard = Exclusive::acquire(file).map_err(|e| {
            let p = self.cfg.path.display();
            context(e, format!("locking log file {p}"))
        })?;
        self.write_unlocked(batch)
    }

    /// Steps 2–4 of the protocol; the caller holds the lock.
    fn write_locked(&mut self, batch: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            return self.write_unlocked(batch);
        }
        let size = self.sync_with_path()?;
        let now = self.next_rollover.map(|_| self.clock.now());
        let time_due = matches!((now, self.next_rollover), (Some(n), Some(t)) if n >= t);
        if size == 0 {
            // Nothing to rotate out: an empty period produces no empty backup.
            if let (true, Some(now), Some(every)) = (time_due, now, self.cfg.rotate_every) {
                self.next_rollover = Some(next_rollover(now, every, self.zone.as_ref()));
            }
        } else {
            let size_due = self
                .cfg
                .max_bytes
                .is_some_and(|max| size.saturating_add(batch.len() as u64) > max);
            let may_retry = self.retry_rotation_at.is_none_or(|t| Instant::now() >= t);
            if (size_due || time_due) && may_retry {
                if let Err(e) = self.rotate() {
                    let p = self.cfg.path.display();
                    let e = context(
                        e,
                        format!("rotating log file {p} (still appending to it; retrying in 1 s)"),
                    );
                    self.deferred.get_or_insert(e);
                    self.retry_rotation_at = Some(Instant::now() + ROTATE_RETRY);
                } else {
                    self.retry_rotation_at = None;
                }
            }
        }
        self.write_unlocked(batch)
    }

    /// Make sure our descriptor is the file the path names now; returns that file's size.
    fn sync_with_path(&mut self) -> io::Result<u64> {
        match fs::symlink_metadata(&self.cfg.path) {
            Ok(m) if (m.dev(), m.ino()) == self.ident => Ok(m.len()),
            Ok(_) => self.reopen(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.reopen(),
            Err(e) => {
                let p = self.cfg.path.display();
                Err(context(e, format!("checking log file {p}")))
            }
        }
    }

    /// Open the path again (keeping the old descriptor if that fails); returns the new size.
    fn reopen(&mut self) -> io::Result<u64> {
        let file = open_log(&self.cfg.path, self.cfg.mode)?;
        let meta = file.metadata().map_err(|e| {
            let p = self.cfg.path.display();
            context(e, format!("reading metadata of log file {p}"))
        })?;
        self.ident = (meta.dev(), meta.ino());
        self.kind = fd_kind(file.as_raw_fd());
        self.file = Some(file);
        if let Some(every) = self.cfg.rotate_every {
            let now = self.clock.now();
            self.next_rollover = Some(next_rollover(now, every, self.zone.as_ref()));
        }
        Ok(meta.len())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let Some(dir) = self.dir.as_ref() else {
            return self.reopen().map(drop);
        };
        let kept = shift_backups(dir, &self.cfg.path, self.cfg.backups)?;
        if let (Some(first), Some(compressor)) = (kept, self.compressor.as_mut()) {
            // Opened under the lock, before anyone can shift it again: the handle pins the inode.
            match dir.open_at(&first, libc::O_RDONLY, 0) {
                Ok(file) => compressor.submit(CompressJob { file }),
                Err(e) => {
                    let p = self.cfg.path.with_file_name(&first);
                    let e = context(e, format!("opening {} to compress it", p.display()));
                    self.deferred.get_or_insert(e);
                }
            }
        }
        self.reopen().map(drop)
    }

    /// In a forked child: take a lock of our own.
    fn after_fork(&mut self) -> io::Result<()> {
        let lock_path = lock_path_for(&self.cfg.path);
        let lock = open_lock_file(&lock_path, self.cfg.mode).map_err(|e| {
            let lp = lock_path.display();
            context(e, format!("reopening rotation lock file {lp} after fork"))
        })?;
        self.lock = Some(lock);
        // The compressor notices the fork by itself (also in flush/close, before any write).
        self.pid = std::process::id();
        Ok(())
    }

    fn take_deferred(&mut self) -> Option<io::Error> {
        let background = self.compressor.as_mut().and_then(Compressor::take_error);
        self.deferred.take().or(background)
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.lock.is_none() {
            return self.write_plain(batch);
        }
        if self.pid != std::process::id() {
            self.after_fork()?;
        }
        let Some(lock) = self.lock.take() else {
            return self.write_unlocked(batch);
        };
        let result = match Exclusive::acquire(&lock) {
            Ok(_guard) => self.write_locked(batch),
            Err(e) => {
                let lp = lock_path_for(&self.cfg.path);
                Err(context(e, format!("locking {}", lp.display())))
            }
        };
        self.lock = Some(lock);
        result
    }

    /// Nothing is buffered; reports a rotation or compression failure that did not lose lines.
    fn flush(&mut self) -> io::Result<()> {
        self.take_deferred().map_or(Ok(()), Err)
    }

    /// Waits for pending gzip jobs, then closes the file.
    fn close(&mut self) -> io::Result<()> {
        let finished = match self.compressor.as_mut() {
            Some(c) => c.finish(),
            None => Ok(()),
        };
        self.file = None;
        self.lock = None;
        match self.take_deferred() {
            Some(e) => Err(e),
            None => finished,
        }
    }
}

/// Append `batch` to the regular file `fd` (opened `O_APPEND`) as one piece, or not at all.
///
/// The caller holds a lock every appender of the file takes, so the completion of a short write
/// follows it directly, and when the completion fails nobody appended after our partial bytes:
/// they are the file's tail, and `ftruncate` removes exactly them. A foreign writer that does not
/// lock is detected (the file grew past our bytes) and left alone rather than cut.
fn append_whole(fd: RawFd, batch: &[u8]) -> io::Result<()> {
    let Err(failed) = write_all_counted(fd, batch) else {
        return Ok(());
    };
    if failed.written == 0 {
        return Err(failed.error);
    }
    let written = failed.written as i64;
    let rollback = (|| -> io::Result<bool> {
        // SAFETY: lseek and fstat on the caller's open descriptor; `st` is valid storage.
        let end = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
        if end < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: as above.
        if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstat returned 0, so it filled `st`.
        let size = unsafe { st.assume_init() }.st_size;
        #[allow(clippy::unnecessary_cast)] // off_t is i64 on every target we build for
        let (end, size) = (end as i64, size as i64);
        if size != end || end < written {
            return Ok(false);
        }
        // SAFETY: shrinks the caller's file to its size before this batch.
        if unsafe { libc::ftruncate(fd, (end - written) as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(true)
    })();
    let what = match rollback {
        Ok(true) => "the partly written batch was removed again".to_owned(),
        Ok(false) => "another writer appended after the partial batch, so it was kept".to_owned(),
        Err(e) => format!("removing the partial batch failed too: {e}"),
    };
    Err(io::Error::new(
        failed.error.kind(),
        ContextError {
            msg: format!("wrote {} of {} bytes ({what})", failed.written, batch.len()),
            source: failed.error,
        },
    ))
}

/// Open the log file, turning the common failures into errors that say what to do.
/// Refuse a log file whose directory anyone may write to without the sticky bit: anyone could
/// then replace the file, or plant a link where a backup goes.
fn check_directory(path: &Path) -> io::Result<()> {
    let dir = parent_dir(path);
    let Ok(meta) = fs::metadata(dir) else {
        return Ok(()); // a missing directory gets its own error from the open
    };
    let mode = meta.mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        let (p, d) = (path.display(), dir.display());
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to open log file {p}: its directory {d} is writable by everyone \
                 and has no sticky bit, so anyone could replace the log file; \
                 `chmod o-w {d}` (or `chmod +t {d}`), or log to another directory"
            ),
        ));
    }
    Ok(())
}

fn open_log(path: &Path, mode: u32) -> io::Result<File> {
    let result = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    result.map_err(|e| {
        let p = path.display();
        let is_symlink = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let msg = if is_symlink || e.raw_os_error() == Some(libc::ELOOP) {
            format!(
                "refusing to open log file {p}: it is a symbolic link (log files are opened \
                 with O_NOFOLLOW); point the path at the real file"
            )
        } else if e.kind() == io::ErrorKind::NotFound && !parent_dir(path).is_dir() {
            let dir = parent_dir(path).display();
            format!("cannot open log file {p}: directory {dir} does not exist; create it first")
        } else {
            format!("cannot open log file {p}")
        };
        context(e, msg)
    })
}

/// An `io::Error` of the same kind whose message leads with what we were doing and where.
fn context(source: io::Error, msg: String) -> io::Error {
    io::Error::new(source.kind(), ContextError { msg, source })
}

#[derive(Debug)]
struct ContextError {
    msg: String,
    source: io::Error,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.msg, self.source)
    }
}

impl std::error::Error for ContextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdio::seam;
    use std::cell::Cell;
    use std::io::Write;
    use std::rc::Rc;

    fn set_errno(code: i32) {
        // SAFETY: writes this thread's errno, as a failing write(2) would.
        unsafe {
            #[cfg(target_vendor = "apple")]
            let slot = libc::__error();
            #[cfg(not(target_vendor = "apple"))]
            let slot = libc::__errno_location();
            *slot = code;
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferrolog-unit-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// What another process appending to `path` does, on a descriptor of its own: take the
    /// lock that protects the log (without waiting) and, if it got it, append a line.
    fn intrude(lock_path: &Path, log: &Path) -> bool {
        let lock = OpenOptions::new().read(true).open(lock_path).unwrap();
        // SAFETY: a non-blocking flock on a descriptor we own.
        let r = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            assert_eq!(
                io::Error::last_os_error().raw_os_error(),
                Some(libc::EWOULDBLOCK)
            );
            return false;
        }
        let mut f = OpenOptions::new().append(true).open(log).unwrap();
        f.write_all(b"{\"intruder\":1}\n").unwrap();
        true
    }

    /// Injects a short first write of a batch; at the completion, another appender tries to
    /// get in. It must find the lock held, and the file must hold the batch in one piece.
    fn short_write_is_completed_under_the_lock(rotating: bool) {
        let dir = scratch(if rotating { "short-rot" } else { "short" });
        let path = dir.join("app.log");
        let mut cfg = FileConfig::new(&path);
        if rotating {
            cfg.max_bytes = Some(1 << 20);
        }
        let lock_path = if rotating {
            lock_path_for(&path)
        } else {
            path.clone()
        };
        let mut sink = FileSink::open(cfg).unwrap();
        let batch: Vec<u8> = (0..20)
            .flat_map(|i| format!("{{\"i\":{i},\"pad\":\"xxxxxxxxxxxxxxxx\"}}\n").into_bytes())
            .collect();
        let (lp, log) = (lock_path.clone(), path.clone());
        let mut calls = 0;
        let intruded = Rc::new(Cell::new(None));
        let seen = Rc::clone(&intruded);
        seam::set(move |fd, buf| {
            calls += 1;
            if calls == 1 {
                return seam::real_write(fd, &buf[..buf.len() / 2 + 3]);
            }
            seen.set(Some(intrude(&lp, &log)));
            seam::real_write(fd, buf)
        });
        let result = sink.write_batch(&batch);
        seam::clear();
        result.unwrap();
        sink.close().unwrap();
        assert_eq!(
            intruded.get(),
            Some(false),
            "another appender got the lock mid-batch"
        );
        assert_eq!(fs::read(&path).unwrap(), batch);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn short_write_is_completed_under_the_lock_without_rotation() {
        short_write_is_completed_under_the_lock(false);
    }

    #[test]
    fn short_write_is_completed_under_the_lock_with_rotation() {
        short_write_is_completed_under_the_lock(true);
    }

    /// A forked child appending through an inherited sink (no rotation) locks a descriptor of
    /// its own: while it completes a short write, the parent's descriptor cannot take the lock.
    /// (`flock` belongs to the open file description, which fork shares.)
    #[test]
    fn forked_child_locks_its_own_descriptor() {
        let dir = scratch("forklock");
        let path = dir.join("app.log");
        let mut sink = FileSink::open(FileConfig::new(&path)).unwrap();
        sink.write_batch(b"{\"parent\":1}\n").unwrap();
        let parent_fd = sink.file.as_ref().unwrap().as_raw_fd();
        // SAFETY: the child only writes through the sink and flocks, then leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let mut calls = 0;
            let excluded = Rc::new(Cell::new(None));
            let seen = Rc::clone(&excluded);
            seam::set(move |fd, buf| {
                calls += 1;
                if calls == 1 {
                    return seam::real_write(fd, &buf[..3]);
                }
                // SAFETY: a non-blocking flock on the descriptor inherited from the parent.
                let r = unsafe { libc::flock(parent_fd, libc::LOCK_EX | libc::LOCK_NB) };
                seen.set(Some(r != 0));
                seam::real_write(fd, buf)
            });
            let ok = sink.write_batch(b"{\"child\":1}\n").is_ok() && excluded.get() == Some(true);
            seam::clear();
            // SAFETY: ends the forked child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child we forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status:#x}"
        );
        sink.close().unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"parent\":1}\n{\"child\":1}\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// When the rest of a short write fails, the part that was written is cut off again, so
    /// the next append starts on a line of its own; the error says what happened.
    #[test]
    fn failed_completion_leaves_no_partial_line() {
        let dir = scratch("rollback");
        let path = dir.join("app.log");
        let mut sink = FileSink::open(FileConfig::new(&path)).unwrap();
        sink.write_batch(b"{\"first\":1}\n").unwrap();
        let mut calls = 0;
        seam::set(move |fd, buf| {
            calls += 1;
            if calls == 1 {
                return seam::real_write(fd, &buf[..5]);
            }
            set_errno(libc::ENOSPC);
            -1
        });
        let err = sink
            .write_batch(b"{\"lost\":1}\n{\"lost\":2}\n")
            .unwrap_err();
        seam::clear();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{err}");
        assert!(err.to_string().contains("removed again"), "{err}");
        sink.write_batch(b"{\"after\":1}\n").unwrap();
        sink.close().unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"first\":1}\n{\"after\":1}\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
