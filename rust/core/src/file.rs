//! `FileSink`: NDJSON batches appended to a file, with optional size/time rotation, retention
//! and gzip, safe when several processes append to the same path.
//!
//! Protocol when rotation is configured (nothing of it runs otherwise):
//! 1. Every batch is written under an exclusive `flock` on the sidecar `.app.log.lock`.
//! 2. Under the lock, `lstat(path)` is compared with the (dev, inode) of our descriptor. If they
//!    differ (another process rotated, or the file was removed), we reopen the path first.
//! 3. Still under the lock, the size from that `lstat` and the clock decide whether to rotate;
//!    the process that rotates shifts the backups and reopens, and every other process sees a
//!    new inode at step 2, so a boundary is crossed exactly once.
//! 4. The batch is appended with one `write` (`O_APPEND`), then the lock is released.
//!
//! Writes under the lock also mean no process is still appending to a file that another one is
//! compressing. Without rotation, `O_APPEND` and one `write` per batch already keep lines from
//! several processes whole, so no lock is taken.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::flock::{lock_path_for, open_lock_file, Exclusive};
use crate::rotation::{
    next_rollover, parent_dir, shift_backups, Clock, CompressJob, Compressor, RotateEvery,
    SystemClock,
};
use crate::sink::Sink;

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
    /// Compute time boundaries in UTC (`true`) or in the local time zone.
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
    /// The sidecar lock file; present exactly when rotation is configured.
    lock: Option<File>,
    clock: Box<dyn Clock>,
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
        // A non-empty file left by an earlier run belongs to the period of its last write, so a
        // file from yesterday is rotated out by the first batch of today.
        let next_rollover = cfg.rotate_every.map(|every| {
            let since = match meta.modified() {
                Ok(mtime) if meta.len() > 0 => mtime,
                _ => clock.now(),
            };
            next_rollover(since, every, cfg.utc)
        });
        let compressor = (cfg.compress && cfg.rotates()).then(|| {
            Compressor::start(
                cfg.path.clone(),
                lock_path_for(&cfg.path),
                cfg.mode,
                cfg.backups,
            )
        });
        Ok(FileSink {
            name: format!("file:{path}"),
            ident: (meta.dev(), meta.ino()),
            file: Some(file),
            lock,
            clock,
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

    fn write_unlocked(&self, batch: &[u8]) -> io::Result<()> {
        let Some(mut file) = self.file.as_ref() else {
            return Err(io::Error::other(format!(
                "log file {} is closed",
                self.cfg.path.display()
            )));
        };
        // std's write_all loops on partial writes and EINTR; O_APPEND makes each write land at
        // the end even when other processes append too.
        file.write_all(batch).map_err(|e| {
            let (n, p) = (batch.len(), self.cfg.path.display());
            context(e, format!("writing {n} bytes to log file {p}"))
        })
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
                self.next_rollover = Some(next_rollover(now, every, self.cfg.utc));
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
        self.file = Some(file);
        if let Some(every) = self.cfg.rotate_every {
            self.next_rollover = Some(next_rollover(self.clock.now(), every, self.cfg.utc));
        }
        Ok(meta.len())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let kept = shift_backups(&self.cfg.path, self.cfg.backups)?;
        if let (Some(first), Some(compressor)) = (kept, &self.compressor) {
            // Opened under the lock, before anyone can shift it again: the handle pins the inode.
            match OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&first)
            {
                Ok(file) => compressor.submit(CompressJob { file }),
                Err(e) => {
                    let e = context(e, format!("opening {} to compress it", first.display()));
                    self.deferred.get_or_insert(e);
                }
            }
        }
        self.reopen().map(drop)
    }

    /// In a forked child: take a lock of our own and start our own gzip thread.
    fn after_fork(&mut self) -> io::Result<()> {
        let lock_path = lock_path_for(&self.cfg.path);
        let lock = open_lock_file(&lock_path, self.cfg.mode).map_err(|e| {
            let lp = lock_path.display();
            context(e, format!("reopening rotation lock file {lp} after fork"))
        })?;
        self.lock = Some(lock);
        if let Some(c) = self.compressor.as_mut() {
            c.after_fork();
        }
        self.pid = std::process::id();
        Ok(())
    }

    fn take_deferred(&mut self) -> Option<io::Error> {
        let background = self.compressor.as_ref().and_then(Compressor::take_error);
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
            return self.write_unlocked(batch);
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

/// Open the log file, turning the common failures into errors that say what to do.
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
