//! Raw `write(2)` on a file descriptor: the one loop every fd-backed sink shares.

use std::io;
use std::os::fd::RawFd;

/// Write all of `buf` to `fd`: retries on partial writes and `EINTR`, and when a non-blocking fd
/// says `EAGAIN` it waits in `poll(2)` for room instead of spinning or giving up.
pub(crate) fn write_all_fd(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // Linux caps one write at 0x7ffff000 bytes anyway; the cap keeps the length in `isize`.
        let len = buf.len().min(isize::MAX as usize);
        // SAFETY: `buf` is a live slice of at least `len` bytes that the kernel only reads; an
        // invalid `fd` is reported as EBADF, not undefined behaviour.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), len) };
        if n < 0 {
            let err = io::Error::last_os_error();
            let code = err.raw_os_error().unwrap_or(0);
            if code == libc::EINTR {
                continue;
            }
            if code == libc::EAGAIN || code == libc::EWOULDBLOCK {
                wait_writable(fd)?;
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write(2) accepted no bytes",
            ));
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Block until `fd` can take more bytes (or reports an error, which the next write returns).
fn wait_writable(fd: RawFd) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one valid, exclusively borrowed pollfd and we pass a count of 1.
        let r = unsafe { libc::poll(&mut pfd, 1, -1) };
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
        // POLLOUT, or POLLERR/POLLHUP: either way the next write makes progress or says why not.
        return Ok(());
    }
}
