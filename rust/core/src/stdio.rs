//! `StdoutSink` and `StderrSink`: batches written straight to fd 1 / fd 2.
//!
//! They bypass Rust's and Python's buffered stdout: one `write(2)` per batch (more only when the
//! kernel takes part of it) to a terminal or a file, so lines from the writer thread never mix
//! with half a line of a `print()`. When the fd is a pipe, FIFO or socket (the container setup:
//! every worker's stdout into one pipe) a batch goes out in writes of at most `PIPE_BUF` bytes
//! that each end at a newline, because only those are atomic: several processes sharing the pipe
//! then never cut each other's lines. The fd's type is looked up once, at the first batch.
//! A single line longer than `PIPE_BUF` cannot be atomic; it goes out whole in its own write(s).
//! On a non-blocking fd that is full the sink waits in `poll(2)`; after 10 s without a byte
//! accepted the batch fails as an error (counted by the writer) instead of hanging it.
//! A closed reader gives `EPIPE` back as an error; it never kills the process with
//! `SIGPIPE`, even when the host left `SIGPIPE` at its default action (Python ignores it, a
//! plain C host may not).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;

use crate::fdio::{fd_kind, write_all_fd, write_lines_atomic, FdKind, PIPE_BUF};
use crate::sink::Sink;

/// Writes each batch to the process's standard output (fd 1).
#[derive(Debug, Default)]
pub struct StdoutSink {
    kind: Option<FdKind>,
}

impl StdoutSink {
    /// A sink for fd 1, whatever it is at the first write (tty, pipe, file or socket).
    pub fn new() -> Self {
        StdoutSink::default()
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> &str {
        "stdout"
    }

    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        write_stdio(libc::STDOUT_FILENO, &mut self.kind, batch)
    }
}

/// Writes each batch to the process's standard error (fd 2).
#[derive(Debug, Default)]
pub struct StderrSink {
    kind: Option<FdKind>,
}

impl StderrSink {
    /// A sink for fd 2, whatever it is at the first write.
    pub fn new() -> Self {
        StderrSink::default()
    }
}

impl Sink for StderrSink {
    fn name(&self) -> &str {
        "stderr"
    }

    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        write_stdio(libc::STDERR_FILENO, &mut self.kind, batch)
    }
}

/// Write a whole batch; when `SIGPIPE` would kill the process, block it around the write.
pub(crate) fn write_stdio(fd: RawFd, kind: &mut Option<FdKind>, batch: &[u8]) -> io::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    // Once: a process's stdout does not turn from a pipe into a tty under it, and an fstat per
    // batch would cost more than it could catch.
    let kind = *kind.get_or_insert_with(|| fd_kind(fd));
    let write = |batch: &[u8]| match kind {
        FdKind::PipeLike => write_lines_atomic(fd, batch, PIPE_BUF),
        FdKind::Regular | FdKind::Other => write_all_fd(fd, batch),
    };
    // One cheap query per batch: the host may change the disposition at any time (CLI tools
    // often reset it to SIG_DFL), and only SIG_DFL terminates the process.
    if !sigpipe_is_default() {
        return write(batch);
    }
    let _guard = SigpipeBlock::new()?;
    write(batch)
}

fn sigpipe_is_default() -> bool {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null `act` only queries; `old` is valid writable storage for one sigaction.
    let r = unsafe { libc::sigaction(libc::SIGPIPE, ptr::null(), old.as_mut_ptr()) };
    if r != 0 {
        // Cannot tell: assume the worst and guard the write.
        return true;
    }
    // SAFETY: sigaction returned 0, so it filled `old`.
    let old = unsafe { old.assume_init() };
    old.sa_sigaction == libc::SIG_DFL
}

fn sigpipe_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `set` is valid storage; sigemptyset initialises it and sigaddset only adds a
    // valid signal number to the initialised set.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        set.assume_init()
    }
}

fn sigpipe_pending() -> bool {
    let mut pending = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `pending` is valid storage that sigpending fills; sigismember only reads it.
    unsafe {
        if libc::sigpending(pending.as_mut_ptr()) != 0 {
            return false;
        }
        libc::sigismember(pending.as_ptr(), libc::SIGPIPE) == 1
    }
}

/// Blocks `SIGPIPE` in the calling thread. A write to a broken pipe then raises a pending,
/// thread-directed `SIGPIPE` instead of a fatal one; the guard consumes it (if it was not
/// already pending before) and restores the previous mask on drop.
struct SigpipeBlock {
    old_mask: libc::sigset_t,
    pending_before: bool,
}

impl SigpipeBlock {
    fn new() -> io::Result<Self> {
        let set = sigpipe_set();
        let mut old = MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: `set` is an initialised sigset and `old` valid storage for the previous mask.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr()) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(SigpipeBlock {
            // SAFETY: pthread_sigmask succeeded, so it wrote the previous mask into `old`.
            old_mask: unsafe { old.assume_init() },
            pending_before: sigpipe_pending(),
        })
    }
}

impl Drop for SigpipeBlock {
    fn drop(&mut self) {
        // SAFETY: `old_mask` is the initialised mask saved by `new`.
        let was_blocked = unsafe { libc::sigismember(&self.old_mask, libc::SIGPIPE) == 1 };
        if !self.pending_before && !was_blocked && sigpipe_pending() {
            let set = sigpipe_set();
            let mut sig: libc::c_int = 0;
            // SAFETY: SIGPIPE is blocked and pending, so sigwait returns at once, consuming
            // exactly that signal; `set` and `sig` are valid.
            unsafe { libc::sigwait(&set, &mut sig) };
        }
        // SAFETY: restores the mask saved in `new`; a null `oldset` is allowed.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, ptr::null_mut()) };
    }
}
