//! An exclusive `flock(2)` on a sidecar lock file: the lock that makes rotation a
//! one-process-at-a-time decision when several processes append to the same log.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The sidecar lock path for a log file: `dir/app.log` → `dir/.app.log.lock`.
pub(crate) fn lock_path_for(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".lock");
    path.with_file_name(name)
}

/// Open (creating if needed) a lock file. Each call gives a new open file description, and
/// `flock` locks belong to those, so two handles exclude each other even inside one process.
pub(crate) fn open_lock_file(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Holds an exclusive `flock` until dropped.
pub(crate) struct Exclusive<'a>(&'a File);

impl<'a> Exclusive<'a> {
    pub(crate) fn acquire(file: &'a File) -> io::Result<Self> {
        loop {
            // SAFETY: flock on a file descriptor owned by `file`, which outlives the call.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return Ok(Exclusive(file));
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        }
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        // SAFETY: unlocks the descriptor we locked; `self.0` borrows the still-open file.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
