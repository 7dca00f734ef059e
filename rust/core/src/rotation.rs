//! Rotation policy and mechanics: when a log file rolls over (`RotateEvery`, `next_rollover`),
//! how backups are shifted and pruned (`app.log` → `app.log.1` … `app.log.N`), and the
//! background gzip of rotated files.
//!
//! Everything that renames or deletes files here runs under the sidecar `flock` held by the
//! caller (see `file.rs`), so several processes sharing one log never rotate twice or race a
//! rename against a compression.
//!
//! Every rename, deletion and creation is made relative to the log directory's descriptor
//! ([`LogDir`], opened once with the sink): `renameat`, `unlinkat`, `openat` with
//! `O_NOFOLLOW`. A directory component swapped for a symbolic link after the sink opened cannot
//! redirect them, and a symbolic link planted where a backup goes is replaced or deleted as a
//! name, never followed.

use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::flock::{open_lock_file, Exclusive};
use crate::tz::TimeZone;

/// How often a file sink starts a new file, aligned to wall-clock boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateEvery {
    /// At the top of every hour.
    Hourly,
    /// At midnight.
    Daily,
    /// Every `n` seconds, aligned to multiples of `n` since midnight 1970-01-01 (UTC or local).
    Seconds(u64),
}

/// A source of wall-clock time for time-based rotation; tests inject a fake one.
pub trait Clock: Send {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The real clock: `SystemTime::now()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The first rotation boundary strictly after `now`: in UTC (`zone` = `None`) or in `zone`.
///
/// Local boundaries are the instants at which the zone's wall clock shows a multiple of the
/// period (counted from local midnight, so `Daily` is local midnight and `Hourly` the top of the
/// local hour, `:15` UTC in Kathmandu), or jumps over one: a DST change that skips midnight
/// rotates at the change. Offsets come from the zone's in-memory table, never from libc.
pub fn next_rollover(now: SystemTime, every: RotateEvery, zone: Option<&TimeZone>) -> SystemTime {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let period = match every {
        RotateEvery::Hourly => 3600,
        RotateEvery::Daily => 86_400,
        RotateEvery::Seconds(n) => n.clamp(1, i64::MAX as u64) as i64,
    };
    let next = match zone {
        None => align_after(secs, period, 0),
        Some(zone) => zone.next_boundary(secs, period),
    };
    UNIX_EPOCH + Duration::from_secs(next.max(0) as u64)
}

/// The next multiple of `period` after `secs`, in a clock shifted by `offset` seconds.
fn align_after(secs: i64, period: i64, offset: i64) -> i64 {
    let local = secs.saturating_add(offset);
    (local.div_euclid(period) + 1)
        .saturating_mul(period)
        .saturating_sub(offset)
}

/// A log file's directory, opened once: the files in it are named relative to this descriptor.
#[derive(Debug)]
pub(crate) struct LogDir {
    fd: OwnedFd,
    /// For messages and listing.
    path: PathBuf,
}

impl LogDir {
    /// Open the directory holding `log_path`.
    pub(crate) fn open(log_path: &Path) -> io::Result<LogDir> {
        let dir = parent_dir(log_path);
        let c = c_name(dir.as_os_str())?;
        // SAFETY: `c` is a NUL-terminated path; the result is a new descriptor or -1.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(LogDir {
            // SAFETY: `fd` is a descriptor we just opened and own.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            path: dir.to_path_buf(),
        })
    }

    /// `renameat(dir, from, dir, to)`: replaces `to` (a symbolic link there included, as a name).
    pub(crate) fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        let (f, t) = (c_name(from)?, c_name(to)?);
        let fd = self.fd.as_raw_fd();
        // SAFETY: both names are NUL-terminated; `fd` is our open directory.
        check(unsafe { libc::renameat(fd, f.as_ptr(), fd, t.as_ptr()) })
    }

    /// `unlinkat(dir, name, 0)`: removes the name (a symbolic link itself, never its target).
    pub(crate) fn unlink(&self, name: &OsStr) -> io::Result<()> {
        let n = c_name(name)?;
        // SAFETY: `n` is NUL-terminated; `fd` is our open directory.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), n.as_ptr(), 0) })
    }

    /// (dev, inode) of `name` itself, without following a symbolic link.
    pub(crate) fn ident(&self, name: &OsStr) -> io::Result<(u64, u64)> {
        let n = c_name(name)?;
        let mut st = MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: `n` is NUL-terminated, `st` is storage for one stat; `fd` is our directory.
        check(unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                n.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        // SAFETY: fstatat succeeded and filled `st`.
        let st = unsafe { st.assume_init() };
        // The widths of st_dev and st_ino differ between platforms.
        #[allow(clippy::unnecessary_cast)]
        Ok((st.st_dev as u64, st.st_ino as u64))
    }

    /// Open `name` in this directory with `flags` (`O_NOFOLLOW|O_CLOEXEC` added), `mode` for
    /// a file it creates.
    pub(crate) fn open_at(&self, name: &OsStr, flags: libc::c_int, mode: u32) -> io::Result<File> {
        let n = c_name(name)?;
        let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `n` is NUL-terminated; `fd` is our directory; the mode is passed as the
        // variadic `mode_t` argument openat reads when O_CREAT is set.
        let fd =
            unsafe { libc::openat(self.fd.as_raw_fd(), n.as_ptr(), flags, mode as libc::c_uint) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor we just opened and own.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a file name contains a NUL byte",
        )
    })
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The file name of `path` + `.N` (+ `.gz`): `app.log` + 3 + gz → `app.log.3.gz`.
pub(crate) fn backup_name(path: &Path, n: usize, gz: bool) -> OsString {
    let mut name = OsString::from(path.file_name().unwrap_or_default());
    name.push(format!(".{n}"));
    if gz {
        name.push(".gz");
    }
    name
}

/// `app.log` + 3 + gz → `app.log.3.gz`.
#[cfg(test)]
pub(crate) fn backup_path(path: &Path, n: usize, gz: bool) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    if gz {
        name.push(".gz");
    }
    PathBuf::from(name)
}

/// The existing backups of `path` as `(index, gzipped)`, highest index first. Only canonical
/// names count (`app.log.7`, `app.log.7.gz`), so temporary and foreign files are left alone.
fn list_backups(dir: &LogDir, path: &Path) -> io::Result<Vec<(usize, bool)>> {
    let dir = &dir.path;
    // Bytes, not str: a log file name need not be UTF-8.
    let mut prefix = path.file_name().unwrap_or_default().as_bytes().to_vec();
    prefix.push(b'.');
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.as_bytes().strip_prefix(&prefix[..]) else {
            continue;
        };
        let (digits, gz) = match rest.strip_suffix(b".gz") {
            Some(d) => (d, true),
            None => (rest, false),
        };
        let Ok(digits) = std::str::from_utf8(digits) else {
            continue;
        };
        if let Ok(n) = digits.parse::<usize>() {
            if n >= 1 && n.to_string() == digits {
                found.push((n, gz));
            }
        }
    }
    found.sort_unstable_by(|a, b| b.cmp(a));
    Ok(found)
}

pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Shift backups up by one, drop those beyond `backups`, and move the live file to `.1`
/// (or delete it when `backups == 0`), all by name in `dir`. Returns the new `.1` name when one
/// was kept. The caller holds the rotation lock.
pub(crate) fn shift_backups(
    dir: &LogDir,
    path: &Path,
    backups: usize,
) -> io::Result<Option<OsString>> {
    // Highest first, so every rename lands on a name that was already moved or deleted.
    for (n, gz) in list_backups(dir, path)? {
        let from = backup_name(path, n, gz);
        let res = if n >= backups {
            dir.unlink(&from)
        } else {
            dir.rename(&from, &backup_name(path, n + 1, gz))
        };
        match res {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let live = path.file_name().unwrap_or_default();
    if backups == 0 {
        match dir.unlink(live) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => return Ok(None),
        }
    }
    let first = backup_name(path, 1, false);
    dir.rename(live, &first)?;
    Ok(Some(first))
}

/// A rotated file waiting to be gzipped. The open handle pins the inode, so the job finds the
/// file again even after later rotations (by any process) renamed it to `.2`, `.3` …
pub(crate) struct CompressJob {
    pub(crate) file: File,
}

/// A background thread that gzips rotated files, so a rotation costs the line path only
/// renames. `finish` waits for every queued job.
///
/// Fork safety: a `fork()` (from any thread) can happen while the gzip thread holds one of the
/// locks it shares with us: the channel's internal lock, or the error slot's mutex. In the child
/// those locks stay locked forever, with no thread to release them. So the first call in a
/// forked child abandons every object shared with the parent's thread (leaking it: dropping the
/// sender or locking the slot could block) and starts over with fresh ones; the child's own
/// thread starts with its first job. Pending jobs of the parent stay the parent's to finish.
pub(crate) struct Compressor {
    tx: Option<mpsc::Sender<CompressJob>>,
    thread: Option<JoinHandle<()>>,
    error: Arc<Mutex<Option<io::Error>>>,
    /// The process these objects belong to; another pid means we are a forked child.
    pid: u32,
    args: (Arc<LogDir>, PathBuf, PathBuf, u32, usize),
}

impl Compressor {
    /// A compressor for backups of `path`; its thread starts with the first job.
    pub(crate) fn start(
        dir: Arc<LogDir>,
        path: PathBuf,
        lock_path: PathBuf,
        mode: u32,
        backups: usize,
    ) -> Self {
        Compressor {
            tx: None,
            thread: None,
            error: Arc::new(Mutex::new(None)),
            pid: std::process::id(),
            args: (dir, path, lock_path, mode, backups),
        }
    }

    fn spawn(&mut self) {
        let (tx, rx) = mpsc::channel::<CompressJob>();
        let slot = Arc::clone(&self.error);
        let (dir, path, lock_path, mode, backups) = self.args.clone();
        let thread = std::thread::Builder::new()
            .name("ferrolog-gzip".into())
            .spawn(move || {
                for job in rx {
                    if let Err(e) = compress_one(&dir, &path, &lock_path, mode, backups, job) {
                        let e = io::Error::new(
                            e.kind(),
                            format!("compressing a rotated backup of {}: {e}", path.display()),
                        );
                        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                    }
                }
            });
        match thread {
            Ok(t) => {
                self.tx = Some(tx);
                self.thread = Some(t);
            }
            Err(e) => {
                let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(e);
            }
        }
    }

    /// In a forked child, drop nothing of the parent's (see the type's docs): forget it.
    fn own(&mut self) {
        let pid = std::process::id();
        if self.pid == pid {
            return;
        }
        std::mem::forget(self.tx.take());
        std::mem::forget(self.thread.take());
        let fresh = Arc::new(Mutex::new(None));
        std::mem::forget(std::mem::replace(&mut self.error, fresh));
        self.pid = pid;
    }

    /// Queue a job, starting the thread if it is not running. If it cannot start, the backup
    /// stays uncompressed and the failure is reported once by `take_error`.
    pub(crate) fn submit(&mut self, job: CompressJob) {
        self.own();
        if self.tx.is_none() {
            self.spawn();
        }
        if let Some(tx) = &self.tx {
            // The receiver lives until `finish`, so this only fails after it.
            let _ = tx.send(job);
        }
    }

    /// The first background failure since the last call, if any.
    pub(crate) fn take_error(&mut self) -> Option<io::Error> {
        self.own();
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Wait for all queued jobs to finish.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.own();
        self.tx = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                return Err(io::Error::other("the gzip thread panicked"));
            }
        }
        self.take_error().map_or(Ok(()), Err)
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn compress_one(
    dir: &LogDir,
    path: &Path,
    lock_path: &Path,
    mode: u32,
    backups: usize,
    mut job: CompressJob,
) -> io::Result<()> {
    let meta = job.file.metadata()?;
    let (dev, ino) = (meta.dev(), meta.ino());
    // The temporary name starts with a dot, so `list_backups` never mistakes it for a backup.
    let mut tmp = OsString::from(".");
    tmp.push(path.file_name().unwrap_or_default());
    tmp.push(format!(
        ".{}.{}.gz.tmp",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let out = dir.open_at(&tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, mode)?;
        let mut enc = GzEncoder::new(
            BufWriter::with_capacity(64 * 1024, out),
            Compression::default(),
        );
        io::copy(&mut job.file, &mut enc)?;
        enc.finish()?.flush()?;
        // A separate open file description: our flock excludes the line path's too.
        let lock_file = open_lock_file(lock_path, mode)?;
        let _lock = Exclusive::acquire(&lock_file)?;
        // Where is our inode now? Later rotations may have shifted it, or retention deleted it.
        for n in 1..=backups {
            let plain = backup_name(path, n, false);
            if dir.ident(&plain).is_ok_and(|id| id == (dev, ino)) {
                dir.rename(&tmp, &backup_name(path, n, true))?;
                return dir.unlink(&plain);
            }
        }
        dir.unlink(&tmp)
    })();
    if result.is_err() {
        let _ = dir.unlink(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fork while the gzip thread holds the lock it shares with the line path (here: the error
    /// slot, held as while recording a failure) leaves the child able to take errors, compress
    /// and finish: it never waits on the parent's locks. Before, the child blocked forever.
    #[test]
    fn forked_child_never_waits_on_the_parents_gzip_locks() {
        let dir = std::env::temp_dir().join(format!("ferrolog-gzfork-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.log");
        let log_dir = Arc::new(LogDir::open(&path).unwrap());
        let mut c = Compressor::start(log_dir, path.clone(), dir.join(".app.log.lock"), 0o640, 3);
        // A job for the parent's thread, so it is running and shares the channel with us.
        fs::write(backup_path(&path, 2, false), b"{\"parent\":1}\n").unwrap();
        let job = File::open(backup_path(&path, 2, false)).unwrap();
        c.submit(CompressJob { file: job });
        fs::write(backup_path(&path, 1, false), b"{\"child\":1}\n").unwrap();

        let slot = Arc::clone(&c.error);
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _guard = slot.lock().unwrap();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        // SAFETY: the child uses only the compressor (file syscalls, allocation, one thread
        // spawn) and leaves with _exit; an alarm kills it if it ever blocks.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: arms SIGALRM (default action: terminate) in this child only.
            unsafe { libc::alarm(20) };
            let ok = c.take_error().is_none() && {
                let job = File::open(backup_path(&path, 1, false)).unwrap();
                c.submit(CompressJob { file: job });
                c.finish().is_ok()
            };
            // SAFETY: ends the forked child at once, skipping the harness's exit work.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child we forked; `status` is valid storage.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        c.finish().unwrap();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child blocked or failed: status {status:#x}"
        );
        // Both backups were compressed: the parent's by its thread, the child's by its own.
        for n in [1, 2] {
            assert!(
                backup_path(&path, n, true).exists(),
                "app.log.{n}.gz missing"
            );
            assert!(!backup_path(&path, n, false).exists());
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn utc_boundaries_are_aligned() {
        // 2026-11-26T03:40:21Z
        let now = at(1_795_664_421);
        assert_eq!(
            next_rollover(now, RotateEvery::Hourly, None),
            at(1_795_665_600)
        );
        assert_eq!(
            next_rollover(now, RotateEvery::Daily, None),
            at(1_795_737_600)
        );
        assert_eq!(
            next_rollover(now, RotateEvery::Seconds(10), None),
            at(1_795_664_430)
        );
        // Exactly on a boundary: the next one, never `now` itself.
        assert_eq!(
            next_rollover(at(1_795_737_600), RotateEvery::Daily, None),
            at(1_795_824_000)
        );
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::from_file(&Path::new("/usr/share/zoneinfo").join(name)).unwrap()
    }

    /// The chain of boundaries from `start`: each the next one after the previous.
    fn chain(zone: &TimeZone, every: RotateEvery, start: u64, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let mut t = at(start);
        for _ in 0..n {
            t = next_rollover(t, every, Some(zone));
            out.push(t.duration_since(UNIX_EPOCH).unwrap().as_secs());
        }
        out
    }

    /// New York: local midnight across spring-forward (a 23-hour day) and fall-back (25 hours).
    #[test]
    fn daily_local_boundaries_follow_dst_in_new_york() {
        let ny = zone("America/New_York");
        // 2026-03-07 12:00 EST → Mar 8 00:00 EST (05:00Z), Mar 9 00:00 EDT (04:00Z).
        assert_eq!(
            chain(&ny, RotateEvery::Daily, 1_772_902_800, 2),
            [1_772_946_000, 1_773_028_800]
        );
        // 2026-11-01 00:00 EDT (04:00Z) → Nov 2 00:00 EST (05:00Z), 25 hours later.
        assert_eq!(
            chain(&ny, RotateEvery::Daily, 1_793_505_600, 1),
            [1_793_505_600 + 25 * 3600]
        );
    }

    /// Hourly boundaries at every local hour mark, including the repeated 01:00 of fall-back.
    #[test]
    fn hourly_local_boundaries_across_new_york_dst() {
        let ny = zone("America/New_York");
        // 01:30 EST on spring-forward day: 07:00Z is 03:00 EDT, then 08:00Z.
        assert_eq!(
            chain(&ny, RotateEvery::Hourly, 1_772_951_400, 2),
            [1_772_953_200, 1_772_956_800]
        );
        // 01:30 EDT on fall-back day: 06:00Z (01:00 EST again), then 07:00Z.
        assert_eq!(
            chain(&ny, RotateEvery::Hourly, 1_793_511_000, 2),
            [1_793_512_800, 1_793_516_400]
        );
    }

    /// Lord Howe: +10:30 standard, +11 summer (a 30-minute shift). Local hours start at :30 UTC,
    /// then at :00 UTC after the change, which itself is a boundary (02:00 jumps to 02:30).
    #[test]
    fn hourly_local_boundaries_across_lord_howe_half_hour_dst() {
        let lh = zone("Australia/Lord_Howe");
        // 2026-10-03 14:45Z = 01:15 local standard time.
        assert_eq!(
            chain(&lh, RotateEvery::Hourly, 1_791_039_900, 3),
            [1_791_041_400, 1_791_043_200, 1_791_046_800]
        );
        // Far past the table (2090): the footer rule gives the same shape.
        assert_eq!(
            chain(&lh, RotateEvery::Hourly, 3_810_468_600 - 900, 2),
            [3_810_468_600, 3_810_470_400]
        );
    }

    /// Kathmandu (+05:45): the local hour starts at :15 UTC, the local day at 18:15 UTC.
    #[test]
    fn kathmandu_quarter_hour_offset() {
        let k = zone("Asia/Kathmandu");
        // 2026-11-26T03:40:21Z
        assert_eq!(
            chain(&k, RotateEvery::Hourly, 1_795_664_421, 1),
            [1_795_666_500]
        );
        assert_eq!(
            chain(&k, RotateEvery::Daily, 1_795_664_421, 1),
            [1_795_716_900]
        );
        let t = chain(&k, RotateEvery::Seconds(7), 1_795_664_421, 1)[0];
        assert!(t > 1_795_664_421 && t <= 1_795_664_428 && (t + 20_700) % 7 == 0);
    }

    /// São Paulo 2018: DST began at midnight (00:00 became 01:00), so that day's midnight never
    /// showed on the clock: the day boundary is the change itself, and the next one is the
    /// following local midnight.
    #[test]
    fn a_skipped_local_midnight_rotates_at_the_change() {
        let sp = zone("America/Sao_Paulo");
        // 2018-11-03 12:00Z = 09:00 local.
        assert_eq!(
            chain(&sp, RotateEvery::Daily, 1_541_246_400, 2),
            [1_541_300_400, 1_541_383_200]
        );
    }

    /// UTC as a zone gives exactly the UTC boundaries.
    #[test]
    fn utc_zone_matches_utc_boundaries() {
        let utc = zone("UTC");
        for every in [
            RotateEvery::Hourly,
            RotateEvery::Daily,
            RotateEvery::Seconds(7),
        ] {
            for t in [0, 1_795_664_421, 1_795_737_600, 4_102_444_800] {
                assert_eq!(
                    next_rollover(at(t), every, Some(&utc)),
                    next_rollover(at(t), every, None)
                );
            }
        }
    }
}
