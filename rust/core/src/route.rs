//! Routing: a sink that takes only some events — a level range and logger-name prefixes — so
//! that errors can go to one sink and everything to another.
//!
//! The writer hands every sink the same batch; a routed sink keeps the lines its [`Route`]
//! accepts and writes them in one call (nothing when none is left). A line is read only as far
//! as its level and logger, which ferrolog's encoder writes at known places (see [`Layout`]);
//! a line that cannot be read that way is kept, never lost.

use std::io;

use crate::sink::Sink;

/// Where the encoder puts an event's level and logger name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"<time key>":"...",<level key>"<level>",<logger key>"<name>",...`: the default and
    /// ECS schemas (`level_key` is e.g. `,"level":`, `logger_key` `,"logger":`).
    Envelope {
        level_key: &'static [u8],
        logger_key: &'static [u8],
    },
    /// The OpenTelemetry schema: `"SeverityText":"<level>"`, then the message in `"Body"`,
    /// then `"Attributes":{"logger.name":"<name>"`.
    Otel,
}

/// Which events a routed sink takes.
#[derive(Debug, Clone)]
pub struct Route {
    layout: Layout,
    /// The JSON texts (with quotes) of the levels in range; `None` takes every level.
    levels: Option<Vec<Box<[u8]>>>,
    /// The JSON texts of every level the pipeline knows.
    known: Vec<Box<[u8]>>,
    /// Whether a level not among the known ones (a name `log()` did not know, logged as the
    /// highest) is in range.
    unknown_levels: bool,
    /// Logger-name prefixes as they appear escaped in a line, without quotes; empty: all.
    prefixes: Vec<Box<[u8]>>,
}

impl Route {
    /// `levels`: the JSON texts of the accepted levels (None: all); `known`: those of every
    /// level the pipeline knows; `unknown_levels`: whether a level outside the known ones
    /// passes; `prefixes`: JSON-escaped logger-name prefixes (empty: all).
    pub fn new(
        layout: Layout,
        levels: Option<Vec<Box<[u8]>>>,
        known: Vec<Box<[u8]>>,
        unknown_levels: bool,
        prefixes: Vec<Box<[u8]>>,
    ) -> Self {
        Route {
            layout,
            levels,
            known,
            unknown_levels,
            prefixes,
        }
    }

    /// Whether the route takes `line` (one complete JSON line).
    pub fn accepts(&self, line: &[u8]) -> bool {
        let Some((level, logger)) = self.fields(line) else {
            return true; // unreadable here: keep it rather than lose it
        };
        if let Some(levels) = &self.levels {
            if !levels.iter().any(|t| **t == *level) {
                // A level outside the table (a name `log()` did not know) is in range only
                // when the range has no upper bound.
                let unknown = !self.known.iter().any(|t| **t == *level);
                if !(unknown && self.unknown_levels) {
                    return false;
                }
            }
        }
        if self.prefixes.is_empty() {
            return true;
        }
        // `logger` includes its quotes.
        let name = &logger[1..logger.len() - 1];
        self.prefixes.iter().any(|p| selects(p, name))
    }

    /// The raw JSON strings (with quotes) of the line's level and logger.
    fn fields<'a>(&self, line: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        match self.layout {
            Layout::Envelope {
                level_key,
                logger_key,
            } => {
                let at = find(line, level_key)? + level_key.len();
                let level_end = skip_string(line, at)?;
                let rest = line.get(level_end..)?;
                if !rest.starts_with(logger_key) {
                    return None;
                }
                let name_at = level_end + logger_key.len();
                let name_end = skip_string(line, name_at)?;
                Some((&line[at..level_end], &line[name_at..name_end]))
            }
            Layout::Otel => {
                const LEVEL: &[u8] = b",\"SeverityText\":";
                const BODY: &[u8] = b",\"Body\":";
                const NAME: &[u8] = b",\"Attributes\":{\"logger.name\":";
                let at = find(line, LEVEL)? + LEVEL.len();
                let level_end = skip_string(line, at)?;
                let body = level_end + find(&line[level_end..], BODY)? + BODY.len();
                let body_end = skip_string(line, body)?;
                if !line.get(body_end..)?.starts_with(NAME) {
                    return None;
                }
                let name_at = body_end + NAME.len();
                let name_end = skip_string(line, name_at)?;
                Some((&line[at..level_end], &line[name_at..name_end]))
            }
        }
    }
}

/// Whether the (escaped) logger name `name` is `prefix` or below it in the dotted hierarchy.
fn selects(prefix: &[u8], name: &[u8]) -> bool {
    name.starts_with(prefix) && (name.len() == prefix.len() || name[prefix.len()] == b'.')
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The index just past the JSON string that starts at `at` (which must be a `"`).
fn skip_string(line: &[u8], at: usize) -> Option<usize> {
    if line.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    while i < line.len() {
        match line[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// A sink that writes only the lines its route takes.
pub struct RoutedSink {
    inner: Box<dyn Sink>,
    route: Route,
    buf: Vec<u8>,
}

impl RoutedSink {
    /// Route `inner`'s input through `route`.
    pub fn new(inner: Box<dyn Sink>, route: Route) -> Self {
        RoutedSink {
            inner,
            route,
            buf: Vec::new(),
        }
    }

    /// The lines of `batch` that `route` takes, appended to `out`.
    pub fn select(route: &Route, batch: &[u8], out: &mut Vec<u8>) {
        for line in batch.split_inclusive(|&b| b == b'\n') {
            if route.accepts(line) {
                out.extend_from_slice(line);
            }
        }
    }
}

impl Sink for RoutedSink {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        self.buf.clear();
        Self::select(&self.route, batch, &mut self.buf);
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.inner.write_batch(&self.buf);
        if self.buf.capacity() > 4 << 20 {
            self.buf = Vec::new();
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn close(&mut self) -> io::Result<()> {
        self.inner.close()
    }

    fn delivery(&self) -> Option<std::sync::Arc<crate::net::DeliveryStats>> {
        self.inner.delivery()
    }

    fn ready(&self) -> bool {
        self.inner.ready()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const DEFAULT: Layout = Layout::Envelope {
        level_key: b",\"level\":",
        logger_key: b",\"logger\":",
    };

    fn texts(names: &[&str]) -> Option<Vec<Box<[u8]>>> {
        Some(
            names
                .iter()
                .map(|n| format!("\"{n}\"").into_bytes().into_boxed_slice())
                .collect(),
        )
    }

    fn line(level: &str, logger: &str, msg: &str) -> Vec<u8> {
        format!(
            "{{\"timestamp\":\"2026-11-30T00:00:00.000000Z\",\"level\":\"{level}\",\"logger\":\"{logger}\",\"message\":\"{msg}\"}}\n"
        )
        .into_bytes()
    }

    #[test]
    fn levels_and_prefixes_select_lines() {
        let route = Route::new(
            DEFAULT,
            texts(&["error", "critical"]),
            texts(&["debug", "info", "warning", "error", "critical"]).unwrap(),
            true,
            vec![b"app.db".to_vec().into_boxed_slice()],
        );
        assert!(route.accepts(&line("error", "app.db", "x")));
        assert!(route.accepts(&line("critical", "app.db.pool", "x")));
        assert!(!route.accepts(&line("info", "app.db", "x")));
        assert!(!route.accepts(&line("error", "app.dbx", "x")));
        assert!(!route.accepts(&line("error", "app", "x")));
        assert!(
            route.accepts(&line("loud", "app.db", "x")),
            "unknown levels pass when asked"
        );
        assert!(
            route.accepts(b"not json at all\n"),
            "unreadable lines are kept"
        );
    }

    #[test]
    fn escaped_names_and_quotes_in_values_do_not_confuse_it() {
        let route = Route::new(
            DEFAULT,
            None,
            vec![],
            false,
            vec![b"a\\\"b".to_vec().into_boxed_slice()],
        );
        assert!(route.accepts(&line("info", "a\\\"b", "x")));
        assert!(!route.accepts(&line("info", "a\\\"c", "\\\"level\\\":")));
    }

    #[test]
    fn otel_lines_are_read_past_the_body() {
        let route = Route::new(
            Layout::Otel,
            texts(&["ERROR"]),
            texts(&["INFO", "ERROR"]).unwrap(),
            false,
            vec![b"svc".to_vec().into_boxed_slice()],
        );
        let l = b"{\"Timestamp\":1,\"SeverityText\":\"ERROR\",\"SeverityNumber\":17,\"Body\":\"a \\\"q\\\" ,\\\"Attributes\\\":{\",\"Attributes\":{\"logger.name\":\"svc.x\",\"k\":1}}\n";
        assert!(route.accepts(l));
        let info = b"{\"Timestamp\":1,\"SeverityText\":\"INFO\",\"SeverityNumber\":9,\"Body\":\"m\",\"Attributes\":{\"logger.name\":\"svc\"}}\n";
        assert!(!route.accepts(info));
    }

    #[test]
    fn a_routed_sink_writes_only_what_it_takes_and_nothing_when_nothing_is_left() {
        use std::sync::{Arc, Mutex};
        struct Keep(Arc<Mutex<Vec<Vec<u8>>>>);
        impl Sink for Keep {
            fn name(&self) -> &str {
                "keep"
            }
            fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
                self.0.lock().unwrap().push(batch.to_vec());
                Ok(())
            }
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let route = Route::new(DEFAULT, texts(&["error"]), vec![], false, vec![]);
        let mut sink = RoutedSink::new(Box::new(Keep(got.clone())), route);
        let mut batch = line("info", "a", "1");
        batch.extend(line("error", "a", "2"));
        sink.write_batch(&batch).unwrap();
        sink.write_batch(&line("info", "a", "3")).unwrap();
        assert_eq!(*got.lock().unwrap(), vec![line("error", "a", "2")]);
    }
}
