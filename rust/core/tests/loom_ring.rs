//! Model checks of the ring under loom: `make test-loom`. Under loom the ring is 32 bytes
//! (four 8-byte units), so `Full`, padding and the reuse of space a consumer just freed are
//! reached within a few pushes. Each model counts, across all the executions loom explores,
//! how often each of those outcomes happened, and fails if one never did: a model that cannot
//! reach the edge it is about checks nothing.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

use ferrolog_core::{PushError, Ring};
use loom::sync::Arc;
use loom::thread;

/// Bounding preemptions keeps each model to seconds on 2 cores; the races here need at most
/// two preemptions to show (the producer between its CAS and its publication, the consumer
/// between its read and its release of the space).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// Outcome counts across the executions of one model (plain std atomics: loom does not track
/// them, and they survive from one execution to the next).
struct Reached<const N: usize>([AtomicUsize; N]);

impl<const N: usize> Reached<N> {
    const fn new() -> Self {
        Reached([const { AtomicUsize::new(0) }; N])
    }

    fn hit(&self, i: usize) {
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    fn assert_all(&self, names: [&str; N]) {
        for (count, name) in self.0.iter().zip(names) {
            assert!(
                count.load(Ordering::Relaxed) > 0,
                "no execution reached: {name}"
            );
        }
    }
}

/// Test records are runs of one byte value; the value says the length.
fn record(value: u8) -> Vec<u8> {
    vec![value; len_of(value)]
}

fn len_of(value: u8) -> usize {
    if value >= 100 {
        12 // a 16-byte record
    } else {
        3 // an 8-byte record
    }
}

/// One `pop_batch` (no spinning: loom would explore every iteration of a spin loop), split
/// back into records, each checked intact.
fn pop(ring: &Ring, max_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let n = ring.pop_batch(&mut out, max_bytes);
    let mut values = Vec::new();
    let mut rest = &out[..];
    while let Some(&v) = rest.first() {
        let len = len_of(v);
        assert!(rest.len() >= len, "truncated record {v}: {out:?}");
        assert!(
            rest[..len].iter().all(|&b| b == v),
            "torn record {v}: {out:?}"
        );
        values.push(v);
        rest = &rest[len..];
    }
    assert_eq!(values.len(), n);
    values
}

/// Two consumers race `pop_batch` while a producer pushes a record that only fits after one
/// of them frees the front of the ring, padding the ring's end to reach it. The producer's
/// Acquire of `tail` must see the consumer's reads of that space finished (loom reports the
/// data race otherwise), and the consumers must never both take a record.
#[test]
fn a_push_reuses_space_two_racing_consumers_free_with_padding() {
    static REACHED: Reached<4> = Reached::new();
    model(|| {
        let ring = Arc::new(Ring::with_capacity(32).unwrap());
        // 0..16 and 16..24 hold records; head is at 24, 8 bytes before the end.
        ring.try_push(&record(100)).unwrap();
        ring.try_push(&record(1)).unwrap();
        let consumers: Vec<_> = [usize::MAX, 1]
            .into_iter()
            .map(|max_bytes| {
                let ring = ring.clone();
                thread::spawn(move || pop(&ring, max_bytes))
            })
            .collect();
        // 16 bytes do not fit in the 8 before the end: pad 24..32, then 0..16 once freed.
        let pushed = match ring.try_push(&record(101)) {
            Ok(()) => {
                REACHED.hit(0);
                true
            }
            Err(PushError::Full) => {
                REACHED.hit(1);
                false
            }
            Err(PushError::TooLarge) => unreachable!(),
        };
        let taken: Vec<Vec<u8>> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
        if taken.iter().any(Vec::is_empty) {
            REACHED.hit(2); // one consumer found nothing (the other held the ring, or had it all)
        }
        if taken.iter().all(|t| !t.is_empty()) {
            REACHED.hit(3); // both consumers took a share, one after the other
        }
        let mut all: Vec<u8> = taken.concat();
        all.extend(pop(&ring, usize::MAX));
        all.sort_unstable();
        let expected: &[u8] = if pushed { &[1, 100, 101] } else { &[1, 100] };
        assert_eq!(all, expected);
        assert!(ring.is_empty());
    });
    REACHED.assert_all([
        "the padded push into freed space",
        "Full",
        "a consumer losing the race",
        "both consumers taking records",
    ]);
}

/// Two producers push two 8-byte records each into a ring that has 16 free bytes, while the
/// consumer frees the other 16: some executions see `Full`, others reuse the freed space. What
/// got in arrives intact and in each producer's order.
#[test]
fn producers_fill_the_ring_while_the_consumer_frees_it() {
    static REACHED: Reached<2> = Reached::new();
    model(|| {
        let ring = Arc::new(Ring::with_capacity(32).unwrap());
        ring.try_push(&record(100)).unwrap(); // 0..16; head at 16
        let producers: Vec<_> = [10u8, 20]
            .into_iter()
            .map(|base| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut pushed = Vec::new();
                    for i in 0..2 {
                        match ring.try_push(&record(base + i)) {
                            Ok(()) => pushed.push(base + i),
                            Err(PushError::Full) => {}
                            Err(PushError::TooLarge) => unreachable!(),
                        }
                    }
                    pushed
                })
            })
            .collect();
        let mut got = pop(&ring, 12); // the 16-byte record, and whatever follows within 12 B
        let pushed: Vec<Vec<u8>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        got.extend(pop(&ring, usize::MAX));
        let total: usize = pushed.iter().map(Vec::len).sum();
        if total < 4 {
            REACHED.hit(0);
        }
        if total > 2 {
            REACHED.hit(1); // only 16 bytes were free: the third record reused 0..8
        }
        assert_eq!(got[0], 100);
        assert_eq!(got.len(), 1 + total);
        for mine in &pushed {
            let seen: Vec<u8> = got
                .iter()
                .copied()
                .filter(|v| mine.first().is_some_and(|m| v / 10 == m / 10))
                .collect();
            assert_eq!(&seen, mine, "each producer's records in its order");
        }
        assert!(ring.is_empty());
    });
    REACHED.assert_all(["Full", "reuse of the space the consumer freed"]);
}

/// Where each record of `values` started, replaying the ring from position `start`: returns
/// whether one of them needed padding (it would have straddled the end of the 32-byte ring).
fn padded(start: usize, values: &[u8]) -> bool {
    let mut pos = start;
    let mut padded = false;
    for &v in values {
        let size = (4 + len_of(v)).next_multiple_of(8);
        let to_end = 32 - pos % 32;
        if size > to_end {
            padded = true;
            pos += to_end;
        }
        pos += size;
    }
    padded
}

/// Two producers push a small then a large record at the end of the ring while the consumer
/// frees its start: a large record pushed right after one small one must pad the end and land
/// in the space just freed; others find the ring full. The padding record is published and
/// consumed between them.
#[test]
fn wraparound_with_padding_under_contention() {
    static REACHED: Reached<3> = Reached::new();
    model(|| {
        let ring = Arc::new(Ring::with_capacity(32).unwrap());
        // 0..16 still unconsumed, head at 16.
        ring.try_push(&record(100)).unwrap();
        let producers: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|v| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let small = ring.try_push(&record(v)).is_ok();
                    let large = ring.try_push(&record(100 + v)).is_ok();
                    usize::from(small) + usize::from(large)
                })
            })
            .collect();
        let mut got = pop(&ring, usize::MAX);
        let pushed: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
        got.extend(pop(&ring, usize::MAX));
        assert_eq!(got[0], 100);
        assert_eq!(got.len(), 1 + pushed);
        assert!(ring.is_empty());
        for v in [1u8, 2] {
            let mine: Vec<u8> = got.iter().copied().filter(|g| g % 100 == v).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "order of producer {v}: {got:?}"
            );
        }
        if padded(16, &got[1..]) {
            REACHED.hit(0);
        }
        if got[1..].iter().any(|&g| g >= 100) {
            REACHED.hit(1);
        }
        if pushed < 4 {
            REACHED.hit(2);
        }
    });
    REACHED.assert_all([
        "a padded record in freed space",
        "a large record at all",
        "Full",
    ]);
}

/// The ticket protocol behind `close`: two producers push while the closer seals the ring,
/// pops what is published, and abandons the rest; a later consumer pops what arrives after.
/// Whatever the interleaving, each record is settled exactly once: by the producer (refused
/// and not counted by the abandonment), by a pop (not marked settled), or by `abandon`.
#[test]
fn close_settles_every_push_exactly_once() {
    static REACHED: Reached<3> = Reached::new();
    model(|| {
        let ring = Arc::new(Ring::with_capacity(32).unwrap());
        let producers: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|v| {
                let ring = ring.clone();
                thread::spawn(move || match ring.push_with(&[&record(v)], || {}) {
                    Ok(()) => 0,
                    Err(refused) if refused.settled => 0,
                    Err(_) => 1, // the producer counts its own drop
                })
            })
            .collect();
        ring.seal();
        let mut out = Vec::new();
        let first = ring.pop(&mut out, usize::MAX);
        let mut settled = if first.settled {
            0
        } else {
            first.records as u64
        };
        let abandoned = ring.abandon().expect("abandoned once");
        settled += abandoned;
        let by_producers: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
        settled += by_producers;
        // What producers published after the abandonment comes back marked as counted.
        let late = ring.pop(&mut out, usize::MAX);
        assert!(late.records == 0 || late.settled);
        assert_eq!(
            settled, 2,
            "popped {first:?}, abandoned {abandoned}, refused {by_producers}"
        );
        if abandoned > 0 {
            REACHED.hit(0);
        }
        if by_producers > 0 {
            REACHED.hit(1);
        }
        if first.records > 0 {
            REACHED.hit(2);
        }
    });
    REACHED.assert_all([
        "a push in flight counted by abandon",
        "a push refused by the seal",
        "a record popped before the abandonment",
    ]);
}
