//! Append throughput of the file sink with 64 KiB batches, without and with size rotation
//! configured (the latter takes the lock and an lstat per batch). A measurement, not a test:
//! `cargo bench -p ferrolog-core --bench file_sink`.

use std::path::PathBuf;
use std::time::Instant;

use ferrolog_core::{FileConfig, FileSink, Sink};

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whole NDJSON lines filling (at most) 64 KiB.
fn batch() -> Vec<u8> {
    let mut out = Vec::with_capacity(64 << 10);
    for i in 0.. {
        let line =
            format!("{{\"i\":{i},\"msg\":\"the quick brown fox jumps over the lazy dog\"}}\n");
        if out.len() + line.len() > 64 << 10 {
            break;
        }
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn main() -> std::io::Result<()> {
    let dir = Scratch(std::env::temp_dir().join(format!("ferrolog-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let batch = batch();
    let total: usize = 64 << 20;
    let n = total / batch.len();
    for (label, max_bytes) in [("plain", None), ("rotating 8 MiB", Some(8 << 20))] {
        let path = dir.0.join(format!("{}.log", label.len()));
        let mut cfg = FileConfig::new(&path);
        cfg.max_bytes = max_bytes;
        cfg.backups = 10;
        let mut sink = FileSink::open(cfg)?;
        let start = Instant::now();
        for _ in 0..n {
            sink.write_batch(&batch)?;
        }
        sink.close()?;
        let secs = start.elapsed().as_secs_f64();
        let mb = (n * batch.len()) as f64 / 1e6;
        println!(
            "file sink, {label}: {mb:.0} MB in {secs:.3} s = {:.0} MB/s",
            mb / secs
        );
    }
    Ok(())
}
