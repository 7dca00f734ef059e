//! The cost of a push into a pipeline with a null sink, with one producer and with two, in
//! rounds small enough that nothing is dropped (the writer catches up between rounds, outside
//! the timing). A measurement, not a test: `cargo bench -p ferrolog-core --bench pipeline_push`.

use std::thread;
use std::time::Duration;
use std::time::Instant;

use ferrolog_core::{NullSink, Pipeline, PipelineConfig};

fn main() {
    let line = [&[b'm'; 199][..], b"\n"].concat();
    for producers in [1u32, 2] {
        let p = Pipeline::start(
            PipelineConfig {
                capacity_bytes: 8 << 20,
                ..PipelineConfig::default()
            },
            vec![Box::new(NullSink)],
        )
        .expect("start the pipeline");
        // 2 x 15k x 208 bytes fits the 8 MiB ring, so every push in a round succeeds.
        let (rounds, per) = (20u64, 15_000u64);
        let mut elapsed = Duration::ZERO;
        for _ in 0..rounds {
            let threads: Vec<_> = (0..producers)
                .map(|_| {
                    let p = p.clone();
                    let line = line.clone();
                    thread::spawn(move || {
                        let t = Instant::now();
                        for _ in 0..per {
                            p.push(&line);
                        }
                        t.elapsed()
                    })
                })
                .collect();
            for th in threads {
                elapsed += th.join().expect("producer thread");
            }
            assert!(p.flush(Duration::from_secs(10)), "flush between rounds");
        }
        let s = p.stats();
        let pushes = u64::from(producers) * rounds * per;
        println!(
            "{producers} producer(s): {:.1} ns/push (thread time / pushes), {} written, {} \
             dropped, {} batches",
            elapsed.as_nanos() as f64 / pushes as f64,
            s.written,
            s.dropped,
            s.batches
        );
        assert!(p.close(Duration::from_secs(10)));
    }
}
