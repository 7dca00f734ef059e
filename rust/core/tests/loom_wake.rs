//! Model checks of the writer's wake-up protocols (`src/wake.rs`, the code the writer runs)
//! under loom: `make test-loom`. Loom has no clock, so every park and condvar wait is untimed
//! here: a lost wake-up leaves a thread blocked forever, which loom reports as a deadlock. The
//! ring is stood in for by a counter updated the way the ring updates `head` (SeqCst).
//!
//! Not modelled: the `LINGER` nap. It parks whatever the work (that is its point) and ends by
//! its timeout unless an urgent push cuts it short, so without a clock every execution in
//! which the producers look before the writer announces the nap would count as a deadlock.
#![cfg(loom)]

use std::time::{Duration, Instant};

use ferrolog_core::wake::{self, Sleep, WaitRoom, Waiters, AWAKE, IDLE};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

const NAP: Duration = Duration::from_millis(1);

/// Every model here has two or three threads and a handful of operations; a preemption bound
/// of 3 covers every interleaving of the store-then-load pairs that matter and keeps the run
/// to seconds on 2 cores.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A producer publishes while the writer decides to go idle: the writer always ends up seeing
/// the record (it found it before parking, or the producer saw the nap and unparked it).
#[test]
fn a_record_published_while_the_writer_goes_idle_is_always_seen() {
    model(|| {
        let sleep = Arc::new(Sleep::new());
        let head = Arc::new(AtomicU64::new(0));
        let writer = thread::current();
        let producer = {
            let (sleep, head) = (sleep.clone(), head.clone());
            thread::spawn(move || {
                head.fetch_add(1, Ordering::SeqCst); // the reservation
                if sleep.needs_wake(|| false) && sleep.wake() {
                    writer.unpark();
                }
            })
        };
        // The writer's idle loop: nothing consumed yet, so any head > 0 is work.
        while head.load(Ordering::SeqCst) == 0 {
            sleep.nap(IDLE, NAP, || head.load(Ordering::SeqCst) != 0);
        }
        producer.join().unwrap();
        assert_eq!(sleep.load(Ordering::SeqCst), AWAKE);
    });
}

/// `flush` takes a request number and waits; the writer, idle until then, serves it and
/// notifies: the flusher is always released, and sees its request served.
#[test]
fn a_flush_waiter_is_always_released() {
    model(|| {
        let sleep = Arc::new(Sleep::new());
        let waiters = Arc::new(Waiters::new());
        let room = Arc::new(WaitRoom::default());
        let req = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        // The writer is the spawned thread: loom's unpark (unlike std's) also wakes a thread
        // blocked in `join`, so the thread that unparks must be the one that joins.
        let writer = {
            let (sleep, waiters, room, req, done) = (
                sleep.clone(),
                waiters.clone(),
                room.clone(),
                req.clone(),
                done.clone(),
            );
            thread::spawn(move || {
                // The writer's loop: serve a pending request, else nap until there is one.
                loop {
                    if let Some(newest) = wake::flush::pending(&req, &done) {
                        wake::flush::complete(&done, newest);
                        waiters.notify(&room);
                        break;
                    }
                    sleep.nap(IDLE, NAP, || wake::flush::pending(&req, &done).is_some());
                }
            })
        };
        let mine = wake::flush::request(&req);
        // As `Pipeline::flush`: wake the writer unconditionally.
        sleep.store(AWAKE, Ordering::SeqCst);
        writer.thread().unpark();
        assert!(waiters.wait_until(&room, far(), || wake::flush::is_served(&done, mine)));
        writer.join().unwrap();
        assert_eq!(waiters.load(Ordering::SeqCst), 0);
    });
}

/// A producer that found the ring full waits for the space epoch to move; the writer frees
/// space, bumps the epoch and notifies: the producer is always released and gets its space,
/// whichever of them goes first.
#[test]
fn a_push_wait_waiter_is_always_released_when_space_is_freed() {
    model(|| {
        let waiters = Arc::new(Waiters::new());
        let room = Arc::new(WaitRoom::default());
        let epoch = Arc::new(AtomicU64::new(0));
        let free = Arc::new(AtomicU64::new(0));
        let waiter = {
            let (waiters, room, epoch, free) =
                (waiters.clone(), room.clone(), epoch.clone(), free.clone());
            thread::spawn(move || {
                // As `Pipeline::push_wait`: read the epoch, try, wait for a change, retry.
                loop {
                    let seen = wake::space::epoch(&epoch);
                    if free.load(Ordering::SeqCst) > 0 {
                        break;
                    }
                    assert!(waiters.wait_until(&room, far(), || wake::space::changed(&epoch, seen)));
                }
            })
        };
        free.store(1, Ordering::SeqCst); // the pop that frees space
        wake::space::freed(&epoch);
        waiters.notify(&room);
        waiter.join().unwrap();
    });
}

/// Two waiters (a flush and a space waiter) share the room; one notify after both changes
/// releases both.
#[test]
fn one_notify_releases_every_waiter_in_the_room() {
    model(|| {
        let waiters = Arc::new(Waiters::new());
        let room = Arc::new(WaitRoom::default());
        let flag = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (waiters, room, flag) = (waiters.clone(), room.clone(), flag.clone());
                thread::spawn(move || {
                    assert!(waiters.wait_until(&room, far(), || flag.load(Ordering::SeqCst) > 0));
                })
            })
            .collect();
        flag.store(1, Ordering::SeqCst);
        waiters.notify(&room);
        for t in threads {
            t.join().unwrap();
        }
    });
}
