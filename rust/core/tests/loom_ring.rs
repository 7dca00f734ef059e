//! Model checks of the ring under loom: `RUSTFLAGS="--cfg loom" cargo test --test loom_ring`.
//! Under loom the ring may be as small as 32 bytes, so wraparound, padding and `Full` are all
//! reached within a few pushes.
#![cfg(loom)]

use ferrolog_core::{PushError, Ring};
use loom::sync::Arc;
use loom::thread;

/// One `pop_batch`, split into the 3-byte test records. No spinning: loom would explore every
/// iteration of a spin loop.
fn pop(ring: &Ring, max_bytes: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let n = ring.pop_batch(&mut out, max_bytes);
    assert_eq!(out.len(), 3 * n);
    out.chunks(3).map(<[u8]>::to_vec).collect()
}

/// Two producers and a consumer: every published record arrives intact, each producer's in
/// order, and loom finds no data race on the ring's memory.
#[test]
fn two_producers_one_consumer() {
    // Bounding preemptions keeps the run short on 2 cores; bugs in code this small show up
    // within a couple of preemptions.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let ring = Arc::new(Ring::with_capacity(32).unwrap());
        let producers: Vec<_> = (0..2u8)
            .map(|p| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut pushed = 0;
                    for i in 0..2u8 {
                        // A full ring is a legal outcome; count what got in.
                        match ring.try_push(&[p, i, b'\n']) {
                            Ok(()) => pushed += 1,
                            Err(PushError::Full) => {}
                            Err(PushError::TooLarge) => unreachable!(),
                        }
                    }
                    pushed
                })
            })
            .collect();
        // One pop races the producers (it may find nothing published yet); once they are done,
        // everything they pushed is published and one more pop takes the rest.
        let mut got = pop(&ring, 3);
        let pushed: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
        got.extend(pop(&ring, usize::MAX));
        assert_eq!(got.len(), pushed);
        assert!(ring.is_empty());
        for p in 0..2u8 {
            let mine: Vec<u8> = got.iter().filter(|r| r[0] == p).map(|r| r[1]).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "producer {p}: {mine:?}"
            );
            assert!(got.iter().all(|r| r[2] == b'\n'));
        }
    });
}

/// Records that wrap the end of a tiny ring (with padding) while another producer races.
#[test]
fn wraparound_with_padding_under_contention() {
    loom::model(|| {
        let ring = Arc::new(Ring::with_capacity(32).unwrap());
        // Move head to offset 16 (a 12-byte payload takes 16 bytes), then one 8-byte record:
        // one racing producer fits before the end, the other must pad to the start or finds
        // the ring full, depending on who wins.
        ring.try_push(&[9; 12]).unwrap();
        assert_eq!(drain_raw(&ring), vec![9; 12]);
        ring.try_push(&[8; 3]).unwrap();
        let other = {
            let ring = ring.clone();
            thread::spawn(move || ring.try_push(&[1, 1, 1]).is_ok() as usize)
        };
        let mine = ring.try_push(&[2; 3]).is_ok() as usize;
        let theirs = other.join().unwrap();
        let got = pop(&ring, usize::MAX);
        assert_eq!(got[0], vec![8; 3]);
        assert_eq!(got.len(), 1 + mine + theirs);
        assert!(ring.is_empty());
    });
}

fn drain_raw(ring: &Ring) -> Vec<u8> {
    let mut out = Vec::new();
    ring.pop_batch(&mut out, usize::MAX);
    out
}
