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

/// A close-on-exec pipe: `pipe` + `FD_CLOEXEC`, since Apple targets have no `pipe2`. The window
/// between the two calls does not matter here: the test binary does not exec concurrently with
/// anything that should not inherit the pipe (children get it explicitly as stdin).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(r, 0, "{}", io::Error::last_os_error());
    for fd in fds {
        // SAFETY: fcntl on a descriptor we just created and own.
        let r = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        assert_eq!(r, 0);
    }
    // SAFETY: pipe succeeded, so both descriptors are open and owned by nobody else.
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

const SHARERS: usize = 4;
const SHARED_LINES: usize = 20_000;

/// Shrink a pipe's buffer to one page, so writers block often and any write larger than
/// `PIPE_BUF` is split by the kernel: the adversarial case for interleaving.
#[cfg(target_os = "linux")]
fn shrink_pipe(fd: &OwnedFd) {
    use std::os::fd::AsRawFd;
    // SAFETY: F_SETPIPE_SZ on a pipe we own; the kernel rounds the size up to one page.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(r >= 4096, "{}", io::Error::last_os_error());
}

#[cfg(not(target_os = "linux"))]
fn shrink_pipe(_fd: &OwnedFd) {}

/// Several processes writing 64 KiB batches through `StdoutSink` into one shared (small) pipe:
/// every line arrives whole, none is cut by another process's line, and each process's lines
/// arrive once each, in order.
#[test]
fn processes_sharing_a_pipe_never_cut_each_others_lines() {
    const TEST: &str = "processes_sharing_a_pipe_never_cut_each_others_lines";
    if role().as_deref() == Some("share") {
        stdin_onto(1);
        let id: usize = std::env::var("FERROLOG_TEST_ID").unwrap().parse().unwrap();
        let mut sink = StdoutSink::new();
        for b in batches(id, 0, SHARED_LINES, 64 * 1024) {
            sink.write_batch(&b).unwrap();
        }
        std::process::exit(0);
    }
    let (read, write) = pipe();
    shrink_pipe(&write);
    let mut procs = Vec::new();
    for id in 0..SHARERS {
        let mut cmd = child(TEST, "share");
        cmd.env("FERROLOG_TEST_ID", id.to_string())
            .stdin(Stdio::from(write.try_clone().unwrap()));
        procs.push(cmd.spawn().unwrap());
    }
    drop(write); // EOF once every child has exited
    let mut got = String::new();
    File::from(read).read_to_string(&mut got).unwrap();
    for mut p in procs {
        assert!(p.wait().unwrap().success());
    }
    let mut next = [0usize; SHARERS];
    for l in got.lines() {
        let (p, i) = file_support::parse(l);
        assert_eq!(
            i, next[p],
            "writer {p}: line {i} out of order or duplicated"
        );
        next[p] += 1;
    }
    assert_eq!(next, [SHARED_LINES; SHARERS]);
}

/// A line longer than `PIPE_BUF` cannot be atomic: it is written whole in its own write(s), and
/// the short lines around it still arrive whole and in order.
#[test]
fn a_line_longer_than_pipe_buf_is_written_whole() {
    let long = format!("{{\"long\":\"{}\"}}\n", "x".repeat(3 * libc::PIPE_BUF));
    let mut batch = file_support::line(0, 0).into_bytes();
    batch.extend_from_slice(long.as_bytes());
    batch.extend_from_slice(file_support::line(0, 1).as_bytes());
    if role().as_deref() == Some("long") {
        stdin_onto(1);
        StdoutSink::new().write_batch(&batch).unwrap();
        std::process::exit(0);
    }
    let (read, write) = pipe();
    shrink_pipe(&write);
    let mut cmd = child("a_line_longer_than_pipe_buf_is_written_whole", "long");
    cmd.stdin(Stdio::from(write));
    let mut proc = cmd.spawn().unwrap();
    drop(cmd);
    let mut got = Vec::new();
    File::from(read).read_to_end(&mut got).unwrap();
    assert!(proc.wait().unwrap().success());
    assert_eq!(got, batch);
}
