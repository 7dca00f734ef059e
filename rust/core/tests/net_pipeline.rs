//! A network sink ([`Shipper`]) inside a pipeline: the writer never waits for the peer, what
//! the sink's buffer refuses goes to the fallback once, and every record is accounted for.
#![cfg(not(loom))]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrolog_core::net::{DeliveryError, Transport};
use ferrolog_core::{Pipeline, PipelineConfig, ShipConfig, Shipper, Sink};

/// A peer that blocks every delivery while `hold` is set, then keeps what it gets.
#[derive(Clone, Default)]
struct Peer {
    got: Arc<Mutex<Vec<u8>>>,
    hold: Arc<AtomicBool>,
}

impl Transport for Peer {
    fn deliver(&mut self, lines: &[u8]) -> Result<(), DeliveryError> {
        let end = Instant::now() + Duration::from_secs(60);
        while self.hold.load(Ordering::Acquire) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.got.lock().unwrap().extend_from_slice(lines);
        Ok(())
    }
}

/// Keeps what the fallback gets.
#[derive(Clone, Default)]
struct Spare(Arc<Mutex<Vec<u8>>>);

impl Sink for Spare {
    fn name(&self) -> &str {
        "spare"
    }
    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        self.0.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
}

fn ids(bytes: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| {
            l.trim_start_matches("{\"i\":")
                .trim_end_matches('}')
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn a_stalled_peer_never_stalls_the_writer_and_every_record_is_accounted_for() {
    let peer = Peer::default();
    peer.hold.store(true, Ordering::Release);
    let make = {
        let peer = peer.clone();
        Arc::new(move || Box::new(peer.clone()) as Box<dyn Transport>)
    };
    let ship = Shipper::new(
        "peer".into(),
        ShipConfig {
            max_buffer_bytes: 256,
            linger: Duration::ZERO,
            flush_timeout: Duration::ZERO,
            ..ShipConfig::default()
        },
        make,
    );
    let spare = Spare::default();
    let p = Pipeline::start_with_fallback(
        PipelineConfig::default(),
        vec![Box::new(ship)],
        Some(Box::new(spare.clone())),
    )
    .unwrap();
    let n = 300u64;
    for i in 0..n {
        assert!(p.push(format!("{{\"i\":{i}}}\n").as_bytes()));
        if i % 10 == 9 {
            // Returns although the peer holds every delivery: the writer does not wait on it.
            assert!(p.flush(Duration::from_secs(60)));
        }
    }
    let health = &p.sink_health()[0];
    let d = health
        .delivery
        .clone()
        .expect("a network sink has delivery counters");
    assert!(d.refused > 0, "the bounded buffer refused batches");
    assert_eq!(d.delivered, 0);
    peer.hold.store(false, Ordering::Release);
    assert!(p.close(Duration::from_secs(60)));
    let s = p.stats();
    assert_eq!(s.emitted, n);
    assert_eq!(s.written + s.dropped, n);
    let health = &p.sink_health()[0];
    let d = health.delivery.clone().unwrap();
    let delivered = ids(&peer.got.lock().unwrap());
    let rerouted = ids(&spare.0.lock().unwrap());
    assert_eq!(d.delivered, delivered.len() as u64);
    assert_eq!(health.rerouted, rerouted.len() as u64);
    assert_eq!(s.rerouted, rerouted.len() as u64);
    assert_eq!(d.dropped, 0);
    let mut all: Vec<u64> = delivered.into_iter().chain(rerouted).collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>(), "each record exactly once");
}
