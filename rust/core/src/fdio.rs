//! Raw `write(2)` on a file descriptor: the loops every fd-backed sink shares, and the
//! line-atomic chunking that keeps lines whole on pipes shared by several processes.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// POSIX guarantees that a write of at most `PIPE_BUF` bytes to a pipe or FIFO is atomic: it is
/// never interleaved with another writer's data (4096 on Linux, 512 on macOS and the BSDs).
pub(crate) const PIPE_BUF: usize = libc::PIPE_BUF;

/// How long a non-blocking descriptor may stay full, with no byte accepted, before the batch is
/// given up as an error: a reader that is merely slow keeps the writer waiting, a reader that is
/// stuck for good does not hang the writer thread (and with it `flush` and `close`) forever.
#[cfg(not(test))]
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Unit tests check the bound without waiting 10 s.
#[cfg(test)]
const STALL_LIMIT: Duration = Duration::from_millis(300);

/// What kind of object a descriptor writes to, as far as line atomicity is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A regular file: `O_APPEND` places each `write` at the end as one piece.
    Regular,
    /// A pipe, FIFO or socket: only writes of at most `PIPE_BUF` bytes are atomic.
    PipeLike,
    /// A terminal, a character device or anything else: one write per batch, nothing to keep.
    Other,
}

/// The kind of `fd`, from one `fstat`. An fd that cannot be inspected counts as `Other`, so its
/// errors surface from the writes themselves.
pub(crate) fn fd_kind(fd: RawFd) -> FdKind {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `st` is valid writable storage for one `struct stat`; a bad fd is EBADF.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return FdKind::Other;
    }
    // SAFETY: fstat returned 0, so it filled `st`.
    let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
    match mode {
        libc::S_IFREG => FdKind::Regular,
        libc::S_IFIFO | libc::S_IFSOCK => FdKind::PipeLike,
        _ => FdKind::Other,
    }
}

/// Write a batch of whole lines to a pipe-like `fd` so that no line shares a `write` boundary
/// with another process's: the batch goes out in writes of at most `pipe_buf` bytes, each ending
/// at a newline, which POSIX makes atomic on pipes and FIFOs (and which a Unix socket delivers as
/// one piece in practice).
///
/// A single line longer than `pipe_buf` cannot be written atomically by any means; it goes out
/// whole in its own write(s), so at worst that one line can be cut by another process's line,
/// never two short lines. Nothing extra is counted for it: the line itself is written.
pub(crate) fn write_lines_atomic(fd: RawFd, batch: &[u8], pipe_buf: usize) -> io::Result<()> {
    let mut rest = batch;
    while !rest.is_empty() {
        let end = line_chunk_end(rest, pipe_buf);
        write_all_fd(fd, &rest[..end])?;
        rest = &rest[end..];
    }
    Ok(())
}

/// The length of the next chunk of `buf`: as many whole lines as fit in `max` bytes, or the
/// first line alone when it is longer than `max`.
pub(crate) fn line_chunk_end(buf: &[u8], max: usize) -> usize {
    if buf.len() <= max {
        return buf.len();
    }
    if let Some(nl) = buf[..max].iter().rposition(|&b| b == b'\n') {
        return nl + 1;
    }
    // One line longer than `max`: to its end (or the end of the batch if it has no newline).
    buf[max..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |i| max + i + 1)
}

/// How much of a `write_all_fd` reached the fd when it failed.
#[derive(Debug)]
pub(crate) struct WriteError {
    pub(crate) error: io::Error,
    /// Bytes of the buffer that were written before the error.
    pub(crate) written: usize,
}

/// Write all of `buf` to `fd`: retries on partial writes and `EINTR`, and when a non-blocking fd
/// says `EAGAIN` it waits in `poll(2)` for room instead of spinning or giving up (for at most
/// `STALL_LIMIT` without progress).
pub(crate) fn write_all_fd(fd: RawFd, buf: &[u8]) -> io::Result<()> {
    write_all_counted(fd, buf).map_err(|e| e.error)
}

/// `write_all_fd`, telling on failure how many bytes did get written.
pub(crate) fn write_all_counted(fd: RawFd, buf: &[u8]) -> Result<(), WriteError> {
    let mut written = 0;
    let mut stalled_since: Option<Instant> = None;
    while written < buf.len() {
        let fail = |error| WriteError { error, written };
        let n = sys_write(fd, &buf[written..]);
        if n < 0 {
            let err = io::Error::last_os_error();
            let code = err.raw_os_error().unwrap_or(0);
            if code == libc::EINTR {
                continue;
            }
            if code == libc::EAGAIN || code == libc::EWOULDBLOCK {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                let left = STALL_LIMIT.saturating_sub(since.elapsed());
                if left.is_zero() {
                    return Err(fail(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the non-blocking descriptor {fd} accepted no byte for {:?}",
                            STALL_LIMIT
                        ),
                    )));
                }
                wait_writable(fd, left).map_err(fail)?;
                continue;
            }
            return Err(fail(err));
        }
        if n == 0 {
            return Err(fail(io::Error::new(
                io::ErrorKind::WriteZero,
                "write(2) accepted no bytes",
            )));
        }
        stalled_since = None;
        written += n as usize;
    }
    Ok(())
}

/// One `write(2)`; returns its result and leaves `errno` as the call set it.
#[cfg(not(test))]
fn sys_write(fd: RawFd, buf: &[u8]) -> isize {
    raw_write(fd, buf)
}

fn raw_write(fd: RawFd, buf: &[u8]) -> isize {
    // Linux caps one write at 0x7ffff000 bytes anyway; the cap keeps the length in `isize`.
    let len = buf.len().min(isize::MAX as usize);
    // SAFETY: `buf` is a live slice of at least `len` bytes that the kernel only reads; an
    // invalid `fd` is reported as EBADF, not undefined behaviour.
    unsafe { libc::write(fd, buf.as_ptr().cast(), len) }
}

/// Unit tests may replace `write(2)` on their own thread to inject short writes.
#[cfg(test)]
pub(crate) mod seam {
    use std::cell::RefCell;
    use std::os::fd::RawFd;

    type Hook = Box<dyn FnMut(RawFd, &[u8]) -> isize>;

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Route this thread's writes through `hook` (which may call `real_write`) until `clear`.
    pub(crate) fn set(hook: impl FnMut(RawFd, &[u8]) -> isize + 'static) {
        HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
    }

    pub(crate) fn clear() {
        HOOK.with(|h| *h.borrow_mut() = None);
    }

    pub(crate) fn real_write(fd: RawFd, buf: &[u8]) -> isize {
        super::raw_write(fd, buf)
    }

    pub(super) fn call(fd: RawFd, buf: &[u8]) -> Option<isize> {
        HOOK.with(|h| h.borrow_mut().as_mut().map(|f| f(fd, buf)))
    }
}

#[cfg(test)]
fn sys_write(fd: RawFd, buf: &[u8]) -> isize {
    seam::call(fd, buf).unwrap_or_else(|| raw_write(fd, buf))
}

/// Wait up to `limit` for `fd` to take more bytes (or report an error, which the next write
/// returns). Returning after the limit is fine: the caller's next write says `EAGAIN` again.
fn wait_writable(fd: RawFd, limit: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = limit.as_millis().clamp(1, libc::c_int::MAX as u128) as libc::c_int;
    loop {
        // SAFETY: `pfd` is one valid, exclusively borrowed pollfd and we pass a count of 1.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        if pfd.revents & libc::POLLNVAL != 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // POLLOUT, POLLERR/POLLHUP or the timeout: the next write makes progress or says why not.
        return Ok(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(buf: &[u8], max: usize) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            let end = line_chunk_end(rest, max);
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
        out
    }

    #[test]
    fn chunks_end_at_newlines_and_fit_the_limit() {
        let batch = b"aaa\nbb\ncccc\nd\n";
        assert_eq!(chunks(batch, 8), [&b"aaa\nbb\n"[..], b"cccc\nd\n"]);
        assert_eq!(chunks(batch, 100), [&batch[..]]);
        // Exactly at the limit: the line that ends on the last byte stays in.
        assert_eq!(chunks(batch, 7), [&b"aaa\nbb\n"[..], b"cccc\nd\n"]);
    }

    /// A non-blocking pipe that stays full (its reader never reads) fails the write after the
    /// stall bound instead of hanging the writer thread.
    #[test]
    fn a_pipe_that_stays_full_times_out() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes; fcntl adds O_NONBLOCK to
        // the write end we own.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let flags = libc::fcntl(fds[1], libc::F_GETFL);
            libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let chunk = [b'x'; 4096];
        while raw_write(fds[1], &chunk) > 0 {}
        while raw_write(fds[1], b"x") > 0 {} // to the last byte, whatever the pipe's layout
        let err = write_all_counted(fds[1], b"{\"a\":1}\n").unwrap_err();
        assert_eq!(err.error.kind(), io::ErrorKind::TimedOut, "{}", err.error);
        assert_eq!(err.written, 0);
        // SAFETY: closes the two descriptors this test opened.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn a_line_longer_than_the_limit_goes_alone_and_whole() {
        let batch = b"a\nbbbbbbbbbb\nc\n";
        assert_eq!(chunks(batch, 4), [&b"a\n"[..], b"bbbbbbbbbb\n", b"c\n"]);
        // A last line without a newline still goes out whole.
        assert_eq!(chunks(b"xxxxxxxx", 4), [&b"xxxxxxxx"[..]]);
    }
}
