//! `StdoutSink` / `StderrSink` on pipes: whole batches arrive, a non-blocking pipe is waited
//! on rather than dropped, and a closed reader is an `EPIPE` error, never a SIGPIPE death.
//!
//! Each case runs in a re-executed child whose stdin is the pipe's write end; the child moves
//! it onto fd 1 or 2 itself, after the test harness has printed its banner.

mod file_support;

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use ferrolog_core::{Sink, StderrSink, StdoutSink};
use file_support::{batches, child, role};

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "{}", io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// In a child: make fd `target` the pipe handed over as stdin.
fn stdin_onto(target: i32) {
    // SAFETY: dup2 of our own stdin onto a standard descriptor of this child process.
    assert_eq!(unsafe { libc::dup2(0, target) }, target);
}

fn sigpipe_blocked_or_pending() -> bool {
    let mut mask = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    let mut pending = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: both sets are valid storage; a null new mask only queries the current one.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), mask.as_mut_ptr());
        libc::sigpending(pending.as_mut_ptr());
        libc::sigismember(mask.as_ptr(), libc::SIGPIPE) == 1
            || libc::sigismember(pending.as_ptr(), libc::SIGPIPE) == 1
    }
}

/// A reader that went away gives `BrokenPipe` on every batch, whether SIGPIPE is at its
/// default (fatal) action or ignored as under Python, and leaves no SIGPIPE blocked or pending.
#[test]
fn closed_reader_is_epipe_not_sigpipe() {
    if role().as_deref() == Some("epipe") {
        stdin_onto(1);
        let mut sink = StdoutSink::new();
        for disposition in [libc::SIG_DFL, libc::SIG_IGN, libc::SIG_DFL] {
            // SAFETY: setting a standard disposition for SIGPIPE in this child only.
            unsafe { libc::signal(libc::SIGPIPE, disposition) };
            let err = sink.write_batch(b"{\"a\":1}\n").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
            assert!(!sigpipe_blocked_or_pending());
        }
        std::process::exit(0);
    }
    let (read, write) = pipe();
    drop(read);
    let status = child("closed_reader_is_epipe_not_sigpipe", "epipe")
        .stdin(Stdio::from(write))
        .status()
        .unwrap();
    // Killed by SIGPIPE would show as no exit code at all.
    assert_eq!(status.code(), Some(0), "child: {status}");
}

/// On a full non-blocking pipe the sink waits for room (EAGAIN → poll) and every byte of every
/// batch arrives, in order.
#[test]
fn nonblocking_stdout_waits_instead_of_dropping() {
    let payload: Vec<Vec<u8>> = batches(0, 0, 60_000, 64 * 1024);
    if role().as_deref() == Some("nonblock") {
        stdin_onto(1);
        // SAFETY: fcntl on fd 1 of this child, adding O_NONBLOCK to its existing flags.
        unsafe {
            let flags = libc::fcntl(1, libc::F_GETFL);
            libc::fcntl(1, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let mut sink = StdoutSink::new();
        for b in &payload {
            sink.write_batch(b).unwrap();
        }
        std::process::exit(0);
    }
    let (read, write) = pipe();
    let mut cmd = child("nonblocking_stdout_waits_instead_of_dropping", "nonblock");
    cmd.stdin(Stdio::from(write));
    let mut proc = cmd.spawn().unwrap();
    drop(cmd); // closes our copy of the write end, so EOF comes when the child exits
    std::thread::sleep(Duration::from_millis(100)); // let the pipe fill up
    let mut got = Vec::new();
    File::from(read).read_to_end(&mut got).unwrap();
    assert!(proc.wait().unwrap().success());
    assert_eq!(got, payload.concat());
}

/// `StderrSink` writes whole batches to fd 2.
#[test]
fn stderr_sink_writes_batches() {
    let payload = batches(0, 0, 1000, 4096);
    if role().as_deref() == Some("stderr") {
        stdin_onto(2);
        let mut sink = StderrSink::new();
        assert_eq!(sink.name(), "stderr");
        for b in &payload {
            sink.write_batch(b).unwrap();
        }
        std::process::exit(0);
    }
    let (read, write) = pipe();
    let mut cmd = child("stderr_sink_writes_batches", "stderr");
    cmd.stdin(Stdio::from(write));
    let mut proc = cmd.spawn().unwrap();
    drop(cmd);
    let mut got = Vec::new();
    File::from(read).read_to_end(&mut got).unwrap();
    assert!(proc.wait().unwrap().success());
    assert_eq!(got, payload.concat());
}

/// The names used in diagnostics.
#[test]
fn stdio_names() {
    assert_eq!(StdoutSink::new().name(), "stdout");
    assert_eq!(StderrSink::new().name(), "stderr");
}
