//! Helpers shared by the sink tests: scratch directories, child-process roles, and reading back
//! every line of a log and its backups.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable that turns a re-executed test binary into a child role.
pub const ROLE_VAR: &str = "FERROLOG_TEST_ROLE";

/// A fresh directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferrolog-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The role this process was started in, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// A command re-running exactly `test` of this test binary in `role`.
pub fn child(test: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        test,
        "--exact",
        "--quiet",
        "--test-threads=1",
        "--nocapture",
    ])
    .env(ROLE_VAR, role)
    .stdout(std::process::Stdio::null());
    cmd
}

/// One distinct NDJSON line: writer `p`, sequence `i`, plus padding.
pub fn line(p: usize, i: usize) -> String {
    format!("{{\"p\":{p},\"i\":{i},\"msg\":\"the quick brown fox jumps over the lazy dog\"}}\n")
}

/// Lines `from..to` of writer `p`, grouped into batches of at most `max` bytes.
pub fn batches(p: usize, from: usize, to: usize, max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(max);
    for i in from..to {
        let l = line(p, i);
        if cur.len() + l.len() > max {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(l.as_bytes());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The contents of a file, transparently gunzipping `*.gz`.
pub fn read_any(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

/// Names of the log's files in `dir` (the live file and its backups), sorted.
pub fn log_files(dir: &Path, base: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n == base || n.starts_with(&format!("{base}.")))
        .collect();
    names.sort();
    names
}

/// Every line of the live file and its backups, oldest backup first.
pub fn all_lines(dir: &Path, base: &str) -> Vec<String> {
    let mut files: Vec<(usize, String)> = log_files(dir, base)
        .into_iter()
        .map(|n| {
            let idx = n
                .strip_prefix(&format!("{base}."))
                .map(|r| r.trim_end_matches(".gz").parse::<usize>().unwrap())
                .unwrap_or(0);
            (idx, n)
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut lines = Vec::new();
    for (_, name) in files {
        let text = String::from_utf8(read_any(&dir.join(name))).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "a file ends mid-line"
        );
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

/// Parse a line made by `line`, or panic naming the torn line.
pub fn parse(l: &str) -> (usize, usize) {
    let ok = l.starts_with("{\"p\":")
        && l.ends_with(",\"msg\":\"the quick brown fox jumps over the lazy dog\"}");
    assert!(ok, "torn or interleaved line: {l:?}");
    let p_end = l.find(",\"i\":").unwrap();
    let p = l[5..p_end].parse().unwrap();
    let rest = &l[p_end + 5..];
    let i = rest[..rest.find(',').unwrap()].parse().unwrap();
    (p, i)
}
