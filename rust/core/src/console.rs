//! `ConsoleSink`: the development console. Each JSON line the encoder produced is rendered, on
//! the writer thread, as one aligned, optionally coloured line —
//! `2026-11-30 06:53:07.755 INFO     app.db       query done               user_id=7 path=/api`
//! — with the event's traceback or stack (if any) as indented lines below it.
//!
//! The schemas are told apart by each line's first key (`timestamp`, `@timestamp`,
//! `Timestamp`, `time` for GCP's; Datadog's is `timestamp` followed by `status`). Times are shown in UTC, as the JSON has them, to the millisecond. Fields keep
//! the order they were logged in; strings are shown bare unless they hold a space, `"`, `=`,
//! `\` or an escape (then quoted), nested dicts and lists as compact JSON. A line that is not
//! JSON is shown as (escaped) text: never lost.
//!
//! Terminal safety (SECURITY.md): nothing from an event reaches the terminal raw. C0 controls
//! (ESC included), DEL, C1 controls, the line and paragraph separators and the bidirectional
//! overrides are written as escapes (`\n`, `\r`, `\t`, `\x1b`, `\u009b`, `\u202e`), so a
//! message, key, value, level or logger name can neither start a new line nor send the
//! terminal a command: the only escape sequences in the output are this module's SGR colour
//! codes ([`sgr::ALL`]). A traceback's own line breaks are kept, each of its lines indented,
//! so a line that starts at the left margin is always the start of an event.
//!
//! Colours ([`ColorMode`]) are decided once, when the sink is created, from the mode, whether
//! its fd is a terminal, and the environment then (`NO_COLOR`, `FORCE_COLOR`, `TERM`).

use std::ffi::OsString;
use std::io;
use std::os::fd::RawFd;

use crate::fdio::FdKind;
use crate::json::{self, Value};
use crate::sink::Sink;
use crate::stdio::write_stdio;
use crate::tz::civil_from_days;

/// The SGR (colour) sequences the console writes: the only escape sequences in its output.
pub mod sgr {
    pub const RESET: &str = "\x1b[0m";
    pub const BOLD: &str = "\x1b[1m";
    pub const DIM: &str = "\x1b[2m";
    pub const RED: &str = "\x1b[31m";
    pub const GREEN: &str = "\x1b[32m";
    pub const YELLOW: &str = "\x1b[33m";
    pub const BLUE: &str = "\x1b[34m";
    pub const MAGENTA: &str = "\x1b[35m";
    pub const CYAN: &str = "\x1b[36m";
    pub const BOLD_RED: &str = "\x1b[1;31m";
    /// Every sequence above.
    pub const ALL: &[&str] = &[
        RESET, BOLD, DIM, RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, BOLD_RED,
    ];
}

/// When the console colours its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// When the sink's fd is a terminal, unless `NO_COLOR` says otherwise or `FORCE_COLOR`
    /// asks for colour anyway (see [`use_colors`]).
    Auto,
    Always,
    Never,
}

impl ColorMode {
    /// `"auto"`, `"always"` or `"never"` (any case).
    pub fn parse(name: &str) -> Option<ColorMode> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Some(ColorMode::Auto),
            "always" => Some(ColorMode::Always),
            "never" => Some(ColorMode::Never),
            _ => None,
        }
    }
}

/// Which standard stream a console sink writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleStream {
    Stdout,
    Stderr,
}

impl ConsoleStream {
    /// `"stdout"` or `"stderr"`.
    pub fn parse(name: &str) -> Option<ConsoleStream> {
        match name {
            "stdout" => Some(ConsoleStream::Stdout),
            "stderr" => Some(ConsoleStream::Stderr),
            _ => None,
        }
    }

    fn fd(self) -> RawFd {
        match self {
            ConsoleStream::Stdout => libc::STDOUT_FILENO,
            ConsoleStream::Stderr => libc::STDERR_FILENO,
        }
    }
}

/// Whether to colour, for `mode`, a terminal or not (`is_tty`) and the environment `env`.
///
/// `Always` and `Never` decide alone. `Auto`, like CPython's own coloured output: a non-empty
/// `NO_COLOR` turns colour off (no-color.org), else a `FORCE_COLOR` that is non-empty and not
/// `"0"` turns it on, else `TERM=dumb` turns it off, else colour is on for a terminal only.
pub fn use_colors(mode: ColorMode, is_tty: bool, env: impl Fn(&str) -> Option<OsString>) -> bool {
    match mode {
        ColorMode::Always => true,
        ColorMode::Never => false,
        ColorMode::Auto => {
            if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                return false;
            }
            if env("FORCE_COLOR").is_some_and(|v| !v.is_empty() && v != "0") {
                return true;
            }
            if env("TERM").is_some_and(|v| v == "dumb") {
                return false;
            }
            is_tty
        }
    }
}

/// Writes each batch, rendered for people, to stdout or stderr, by the rules of
/// [`StdoutSink`](crate::StdoutSink): one write per batch, in `PIPE_BUF` chunks ending at
/// newlines on a pipe (an event with a traceback spans several lines, so a long one may be
/// split between chunks).
pub struct ConsoleSink {
    fd: RawFd,
    name: &'static str,
    kind: Option<FdKind>,
    renderer: Renderer,
    out: Vec<u8>,
}

impl ConsoleSink {
    /// A console on `stream`, coloured per `mode`. Whether the stream is a terminal and the
    /// environment (`NO_COLOR`, `FORCE_COLOR`, `TERM`) are read now, once: call this on the
    /// configuring thread (later changes to them are not followed).
    pub fn new(stream: ConsoleStream, mode: ColorMode) -> Self {
        let fd = stream.fd();
        // SAFETY: isatty only inspects the descriptor (a closed one is just "not a tty").
        let is_tty = unsafe { libc::isatty(fd) } == 1;
        let colors = use_colors(mode, is_tty, |key| std::env::var_os(key));
        Self::with_colors(stream, colors)
    }

    /// A console on `stream` that colours (or not) as told.
    pub fn with_colors(stream: ConsoleStream, colors: bool) -> Self {
        ConsoleSink {
            fd: stream.fd(),
            name: match stream {
                ConsoleStream::Stdout => "console",
                ConsoleStream::Stderr => "console:stderr",
            },
            kind: None,
            renderer: Renderer::new(colors),
            out: Vec::new(),
        }
    }

    /// Whether this sink colours its output.
    pub fn colors(&self) -> bool {
        self.renderer.colors
    }
}

impl Sink for ConsoleSink {
    fn name(&self) -> &str {
        self.name
    }

    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.renderer.render_batch(batch, &mut self.out);
        let result = write_stdio(self.fd, &mut self.kind, &self.out);
        if self.out.capacity() > 4 << 20 {
            self.out = Vec::new();
        }
        result
    }
}

/// The level column's width (`CRITICAL`).
const LEVEL_WIDTH: usize = 8;
/// The logger column starts this wide and widens to the longest name seen, up to the maximum.
const MIN_LOGGER_WIDTH: usize = 12;
const MAX_LOGGER_WIDTH: usize = 32;
/// A message followed by fields is padded to this width, so that fields line up.
const MESSAGE_WIDTH: usize = 24;
/// What a traceback's or stack's lines start with.
const INDENT: &str = "    ";

/// Renders JSON lines as console lines. It keeps the logger column's width between batches.
#[derive(Debug, Clone)]
pub struct Renderer {
    colors: bool,
    logger_width: usize,
}

/// How a string is escaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// As text: only what the terminal must not see is escaped.
    Bare,
    /// Inside `"`: `"` and `\` are escaped too.
    Quoted,
    /// Inside a JSON string: JSON's escapes (`\u00XX` for controls).
    Json,
}

/// One event, taken apart.
#[derive(Default)]
struct Event<'a> {
    time: Option<&'a Value>,
    level: Option<&'a Value>,
    logger: Option<&'a Value>,
    message: Option<&'a Value>,
    fields: Vec<(&'a str, &'a Value)>,
    /// Text shown below the event, line by line: tracebacks, stacks.
    blocks: Vec<String>,
}

impl Renderer {
    /// A renderer that colours (or not).
    pub fn new(colors: bool) -> Self {
        Renderer {
            colors,
            logger_width: MIN_LOGGER_WIDTH,
        }
    }

    /// Render every line of `batch` into `out`.
    pub fn render_batch(&mut self, batch: &[u8], out: &mut Vec<u8>) {
        for line in batch.split_inclusive(|&b| b == b'\n') {
            self.render_line(line, out);
        }
    }

    /// Render one JSON line (with or without its `\n`) into `out`, ending with `\n`.
    pub fn render_line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        match json::parse(line) {
            Some(Value::Object(members)) => {
                let event = Event::from_members(&members);
                self.event(&event, out);
            }
            _ => {
                push_text(out, &String::from_utf8_lossy(line), Style::Bare);
                out.push(b'\n');
            }
        }
    }

    fn event(&mut self, e: &Event<'_>, out: &mut Vec<u8>) {
        if let Some(time) = e.time {
            self.paint(out, sgr::DIM, |out| push_time(out, time));
            out.push(b' ');
        }
        let level = e.level.map(text_of).unwrap_or_default().to_uppercase();
        let n = self.paint(out, level_color(&level), |out| {
            push_text(out, &level, Style::Bare)
        });
        pad(out, n, LEVEL_WIDTH);
        out.push(b' ');
        let logger = e.logger.map(text_of).unwrap_or_default();
        let n = self.paint(out, sgr::BLUE, |out| push_text(out, &logger, Style::Bare));
        self.logger_width = self.logger_width.max(n.min(MAX_LOGGER_WIDTH));
        pad(out, n, self.logger_width);
        out.push(b' ');
        let message = e.message.map(text_of).unwrap_or_default();
        let n = self.paint(out, sgr::BOLD, |out| push_text(out, &message, Style::Bare));
        if !e.fields.is_empty() {
            pad(out, n, MESSAGE_WIDTH);
            for (key, value) in &e.fields {
                out.push(b' ');
                self.paint(out, sgr::CYAN, |out| push_atom(out, key));
                out.push(b'=');
                self.paint(out, sgr::MAGENTA, |out| push_value(out, value));
            }
        }
        out.push(b'\n');
        for block in &e.blocks {
            for line in block.trim_end_matches('\n').split('\n') {
                if line.is_empty() {
                    out.push(b'\n');
                    continue;
                }
                out.extend_from_slice(INDENT.as_bytes());
                let color = if line.starts_with([' ', '\t']) {
                    sgr::DIM
                } else {
                    sgr::RED
                };
                self.paint(out, color, |out| push_text(out, line, Style::Bare));
                out.push(b'\n');
            }
        }
    }

    /// Write what `f` writes in `color` (when colouring); returns what `f` returns.
    fn paint(
        &self,
        out: &mut Vec<u8>,
        color: &str,
        f: impl FnOnce(&mut Vec<u8>) -> usize,
    ) -> usize {
        if self.colors {
            out.extend_from_slice(color.as_bytes());
        }
        let n = f(out);
        if self.colors {
            out.extend_from_slice(sgr::RESET.as_bytes());
        }
        n
    }
}

impl<'a> Event<'a> {
    fn from_members(members: &'a [(String, Value)]) -> Self {
        match members.first().map(|(k, _)| k.as_str()) {
            Some("Timestamp") => Self::otel(members),
            Some("@timestamp") => Self::ecs(members),
            Some("time") => Self::gcp(members),
            Some("timestamp") if members.get(1).is_some_and(|(k, _)| k == "status") => {
                Self::datadog(members)
            }
            _ => Self::default_schema(members),
        }
    }

    fn default_schema(members: &'a [(String, Value)]) -> Self {
        let mut e = Event::default();
        for (key, value) in members {
            match key.as_str() {
                "timestamp" => e.time = Some(value),
                "level" => e.level = Some(value),
                "logger" => e.logger = Some(value),
                "message" => e.message = Some(value),
                "exception" if matches!(value, Value::Object(_)) => {
                    e.blocks.push(exception_text(value, "traceback"));
                }
                "stack" => e.blocks.push(text_of(value)),
                _ => e.fields.push((key, value)),
            }
        }
        e
    }

    fn ecs(members: &'a [(String, Value)]) -> Self {
        let mut e = Event::default();
        for (key, value) in members {
            match key.as_str() {
                "@timestamp" => e.time = Some(value),
                "log.level" => e.level = Some(value),
                "log.logger" => e.logger = Some(value),
                "message" => e.message = Some(value),
                "ecs.version" => {}
                "error" if matches!(value, Value::Object(_)) => {
                    e.blocks.push(exception_text(value, "stack_trace"));
                }
                "stack" => e.blocks.push(text_of(value)),
                _ => e.fields.push((key, value)),
            }
        }
        e
    }

    /// Google Cloud Logging's preset: `time`, `severity`, `logger`, `message`; the exception
    /// object with the formatted trace in `stack_trace`.
    fn gcp(members: &'a [(String, Value)]) -> Self {
        let mut e = Event::default();
        let mut exception = None;
        for (key, value) in members {
            match key.as_str() {
                "time" => e.time = Some(value),
                "severity" => e.level = Some(value),
                "logger" => e.logger = Some(value),
                "message" => e.message = Some(value),
                "exception" if matches!(value, Value::Object(_)) => exception = Some(value),
                "stack_trace" => e.blocks.insert(0, text_of(value)),
                "stack" => e.blocks.push(text_of(value)),
                _ => e.fields.push((key, value)),
            }
        }
        if e.blocks.is_empty() {
            if let Some(exc) = exception {
                e.blocks.push(exception_text(exc, "traceback"));
            }
        }
        e
    }

    /// Datadog's preset: `timestamp`, `status`, `logger.name`, `message`; the exception as
    /// `error` with `kind`, `message` and `stack`.
    fn datadog(members: &'a [(String, Value)]) -> Self {
        let mut e = Event::default();
        for (key, value) in members {
            match key.as_str() {
                "timestamp" => e.time = Some(value),
                "status" => e.level = Some(value),
                "logger.name" => e.logger = Some(value),
                "message" => e.message = Some(value),
                "error" if matches!(value, Value::Object(_)) => {
                    let text = match value.get("stack") {
                        Some(stack) => text_of(stack),
                        None => summary(
                            value.get("kind").unwrap_or(&Value::Null),
                            value.get("message"),
                        ),
                    };
                    e.blocks.insert(0, text);
                }
                "stack" => e.blocks.push(text_of(value)),
                _ => e.fields.push((key, value)),
            }
        }
        e
    }

    fn otel(members: &'a [(String, Value)]) -> Self {
        let mut e = Event::default();
        for (key, value) in members {
            match (key.as_str(), value) {
                ("Timestamp", _) => e.time = Some(value),
                ("SeverityText", _) => e.level = Some(value),
                ("SeverityNumber", _) => {}
                ("Body", _) => e.message = Some(value),
                ("Attributes", Value::Object(attributes)) => {
                    let (mut kind, mut text, mut trace) = (None, None, None);
                    for (key, value) in attributes {
                        match key.as_str() {
                            "logger.name" => e.logger = Some(value),
                            "exception.type" => kind = Some(value),
                            "exception.message" => text = Some(value),
                            "exception.stacktrace" => trace = Some(value),
                            "stack" => e.blocks.push(text_of(value)),
                            _ => e.fields.push((key, value)),
                        }
                    }
                    if let Some(trace) = trace {
                        e.blocks.insert(0, text_of(trace));
                    } else if let Some(kind) = kind {
                        e.blocks.insert(0, summary(kind, text));
                    }
                }
                _ => e.fields.push((key, value)),
            }
        }
        e
    }
}

/// The exception object's formatted traceback (under `trace_key`), else `Type: message`.
fn exception_text(exc: &Value, trace_key: &str) -> String {
    match exc.get(trace_key) {
        Some(trace) => text_of(trace),
        None => summary(exc.get("type").unwrap_or(&Value::Null), exc.get("message")),
    }
}

fn summary(kind: &Value, message: Option<&Value>) -> String {
    match message {
        Some(m) => format!("{}: {}", text_of(kind), text_of(m)),
        None => text_of(kind),
    }
}

/// A value as text: a string's own text, anything else as compact JSON.
fn text_of(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => {
            let mut out = Vec::new();
            push_value(&mut out, other);
            String::from_utf8_lossy(&out).into_owned()
        }
    }
}

fn level_color(level: &str) -> &'static str {
    match level {
        "TRACE" | "DEBUG" => sgr::BLUE,
        "INFO" => sgr::GREEN,
        "WARNING" | "WARN" | "NOTICE" => sgr::YELLOW,
        "ERROR" => sgr::RED,
        "CRITICAL" | "FATAL" => sgr::BOLD_RED,
        _ => sgr::MAGENTA,
    }
}

fn pad(out: &mut Vec<u8>, written: usize, width: usize) {
    out.resize(out.len() + width.saturating_sub(written), b' ');
}

/// Whether `c` must never reach a terminal as itself.
fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        // Line and paragraph separators, and the bidirectional controls ("Trojan Source").
        | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `s` escaped per `style`; returns how many characters were written (for alignment).
fn push_text(out: &mut Vec<u8>, s: &str, style: Style) -> usize {
    let mut count = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let quoted = style != Style::Bare && (c == '"' || c == '\\');
        if !quoted && !is_unsafe(c) {
            count += 1;
            continue;
        }
        out.extend_from_slice(&s.as_bytes()[start..i]);
        start = i + c.len_utf8();
        let short: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            '\u{8}' if style == Style::Json => b"\\b",
            '\u{c}' if style == Style::Json => b"\\f",
            _ => b"",
        };
        let code = c as u32;
        if !short.is_empty() {
            out.extend_from_slice(short);
            count += short.len();
        } else if code <= 0x7f && style != Style::Json {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[(code >> 4) as usize],
                HEX[(code & 15) as usize],
            ]);
            count += 4;
        } else {
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[((code >> shift) & 15) as usize]);
            }
            count += 6;
        }
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    count
}

/// A key or a string value: bare when it reads unambiguously, else quoted.
fn push_atom(out: &mut Vec<u8>, s: &str) -> usize {
    let plain = !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '=' | '\\') || is_unsafe(c));
    if plain {
        return push_text(out, s, Style::Bare);
    }
    out.push(b'"');
    let n = push_text(out, s, Style::Quoted);
    out.push(b'"');
    n + 2
}

/// A field's value: strings as atoms, numbers as written, containers as compact JSON.
fn push_value(out: &mut Vec<u8>, v: &Value) -> usize {
    match v {
        Value::Str(s) => push_atom(out, s),
        _ => push_json(out, v),
    }
}

fn push_json(out: &mut Vec<u8>, v: &Value) -> usize {
    let start = out.len();
    let mut chars = 0;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.as_bytes()),
        Value::Str(s) => {
            out.push(b'"');
            chars += push_text(out, s, Style::Json);
            out.push(b'"');
            return chars + 2;
        }
        Value::Array(items) => {
            out.push(b'[');
            chars += 1;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                    chars += 1;
                }
                chars += push_json(out, item);
            }
            out.push(b']');
            return chars + 1;
        }
        Value::Object(members) => {
            out.push(b'{');
            chars += 1;
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                    chars += 1;
                }
                out.push(b'"');
                chars += push_text(out, key, Style::Json) + 3;
                out.extend_from_slice(b"\":");
                chars += push_json(out, item);
            }
            out.push(b'}');
            return chars + 1;
        }
    }
    out.len() - start
}

/// `2026-11-30 06:53:07.755` from an RFC 3339 UTC string or Unix nanoseconds; anything else
/// as (escaped) text.
fn push_time(out: &mut Vec<u8>, v: &Value) -> usize {
    let text = match v {
        Value::Str(s) | Value::Number(s) => s.as_str(),
        other => return push_value(out, other),
    };
    let b = text.as_bytes();
    let rfc3339 = b.len() >= 19
        && b[10] == b'T'
        && b[..19]
            .iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16) || c.is_ascii_digit());
    if rfc3339 {
        let mut millis = [b'0'; 3];
        if b.get(19) == Some(&b'.') {
            for (slot, c) in millis.iter_mut().zip(&b[20..]) {
                if !c.is_ascii_digit() {
                    break;
                }
                *slot = *c;
            }
        }
        out.extend_from_slice(&b[..10]);
        out.push(b' ');
        out.extend_from_slice(&b[11..19]);
        out.push(b'.');
        out.extend_from_slice(&millis);
        return 23;
    }
    if let Some(nanos) = (!b.is_empty() && b.iter().all(u8::is_ascii_digit))
        .then(|| text.parse::<i128>().ok())
        .flatten()
    {
        let millis = nanos / 1_000_000;
        let secs = millis.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        if let Ok(days) = i64::try_from(days) {
            let (y, m, d) = civil_from_days(days);
            if (0..=9999).contains(&y) {
                let text = format!(
                    "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
                    rem / 3600,
                    rem % 3600 / 60,
                    rem % 60,
                    millis.rem_euclid(1000)
                );
                out.extend_from_slice(text.as_bytes());
                return text.len();
            }
        }
    }
    push_text(out, text, Style::Bare)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn render(colors: bool, lines: &[&str]) -> String {
        let mut r = Renderer::new(colors);
        let mut out = Vec::new();
        let batch: String = lines.iter().map(|l| format!("{l}\n")).collect();
        r.render_batch(batch.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    const DEFAULT: &str = r#"{"timestamp":"2026-11-30T06:53:07.755123Z","level":"info","logger":"app.db","message":"query done","user_id":7,"path":"/api","latency_ms":12.5}"#;

    #[test]
    fn default_schema_without_colours() {
        assert_eq!(
            render(false, &[DEFAULT]),
            "2026-11-30 06:53:07.755 INFO     app.db       query done               \
             user_id=7 path=/api latency_ms=12.5\n"
        );
    }

    #[test]
    fn gcp_and_datadog_presets() {
        let gcp = r#"{"time":"2026-11-30T06:53:07.000001Z","severity":"WARNING","logger":"svc","message":"slow","ms":900,"logging.googleapis.com/trace":"projects/p/traces/abc"}"#;
        let dd = r#"{"timestamp":"2026-11-30T06:53:07.000001Z","status":"warning","logger.name":"svc","message":"slow","ms":900,"dd.trace_id":"123"}"#;
        let g = render(false, &[gcp]);
        let d = render(false, &[dd]);
        for out in [&g, &d] {
            assert!(out.starts_with("2026-11-30 06:53:07.000 "), "{out}");
            assert!(out.contains(" svc "), "{out}");
            assert!(out.contains("slow"), "{out}");
            assert!(out.contains("ms=900"), "{out}");
            assert!(
                !out.contains("severity") && !out.contains("status="),
                "{out}"
            );
        }
        assert!(g.to_ascii_uppercase().contains("WARNING"), "{g}");
        assert!(d.to_ascii_uppercase().contains("WARNING"), "{d}");
        assert!(
            g.contains("logging.googleapis.com/trace=projects/p/traces/abc"),
            "{g}"
        );
        assert!(d.contains("dd.trace_id=123"), "{d}");
        let failed = r#"{"timestamp":"2026-11-30T06:53:07Z","status":"error","logger.name":"a","message":"m","error":{"kind":"KeyError","message":"'k'","stack":"Traceback:\nKeyError: 'k'\n"}}"#;
        let out = render(false, &[failed]);
        assert!(out.contains("\n    Traceback:\n    KeyError: 'k'"), "{out}");
        let gfail = r#"{"time":"2026-11-30T06:53:07Z","severity":"ERROR","logger":"a","message":"m","exception":{"type":"KeyError","message":"'k'","frames":[]},"stack_trace":"Traceback:\nKeyError: 'k'\n"}"#;
        let out = render(false, &[gfail]);
        assert!(out.contains("\n    Traceback:\n    KeyError: 'k'"), "{out}");
        assert!(!out.contains("frames"), "{out}");
    }

    #[test]
    fn ecs_schema() {
        let line = r#"{"@timestamp":"2026-11-30T06:53:07.000001Z","log.level":"warning","log.logger":"svc","ecs.version":"8.11.0","message":"slow","ms":900}"#;
        assert_eq!(
            render(false, &[line]),
            "2026-11-30 06:53:07.000 WARNING  svc          slow                     ms=900\n"
        );
    }

    #[test]
    fn otel_schema() {
        let line = r#"{"Timestamp":"1795999987755123000","SeverityText":"ERROR","SeverityNumber":17,"Body":"failed","Attributes":{"logger.name":"app","k":"v w"},"TraceId":"abc"}"#;
        assert_eq!(
            render(false, &[line]),
            "2026-11-30 00:53:07.755 ERROR    app          failed                   \
             k=\"v w\" TraceId=abc\n"
        );
    }

    #[test]
    fn no_fields_means_no_padding_and_messages_line_up() {
        let a =
            r#"{"timestamp":"2026-11-30T06:53:07Z","level":"critical","logger":"a","message":"m"}"#;
        let b = r#"{"timestamp":"2026-11-30T06:53:07Z","level":"debug","logger":"a.very.long.logger.name","message":"n"}"#;
        assert_eq!(
            render(false, &[a, b, a]),
            "2026-11-30 06:53:07.000 CRITICAL a            m\n\
             2026-11-30 06:53:07.000 DEBUG    a.very.long.logger.name n\n\
             2026-11-30 06:53:07.000 CRITICAL a                       m\n"
        );
    }

    #[test]
    fn nested_values_are_compact_json_in_key_order() {
        let line = r#"{"timestamp":"x","level":"info","logger":"l","message":"m","z":{"b":[1,{"a":null}],"a":true},"e":"","q":"say \"hi\"","n":null}"#;
        assert_eq!(
            render(false, &[line]),
            "x INFO     l            m                        \
             z={\"b\":[1,{\"a\":null}],\"a\":true} e=\"\" q=\"say \\\"hi\\\"\" n=null\n"
        );
    }

    #[test]
    fn colours_wrap_each_part_in_sgr_codes() {
        let got = render(true, &[DEFAULT]);
        assert_eq!(
            got,
            "\x1b[2m2026-11-30 06:53:07.755\x1b[0m \x1b[32mINFO\x1b[0m     \
             \x1b[34mapp.db\x1b[0m       \x1b[1mquery done\x1b[0m               \
             \x1b[36muser_id\x1b[0m=\x1b[35m7\x1b[0m \x1b[36mpath\x1b[0m=\x1b[35m/api\x1b[0m \
             \x1b[36mlatency_ms\x1b[0m=\x1b[35m12.5\x1b[0m\n"
        );
    }

    fn hostile(text: &str) -> String {
        let mut quoted = Vec::new();
        // JSON-escape as the encoder would (C0 escaped, DEL and C1 raw).
        quoted.push(b'"');
        for c in text.chars() {
            match c {
                '"' => quoted.extend_from_slice(b"\\\""),
                '\\' => quoted.extend_from_slice(b"\\\\"),
                '\0'..='\u{1f}' => {
                    quoted.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                _ => quoted.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        quoted.push(b'"');
        String::from_utf8(quoted).unwrap()
    }

    #[test]
    fn control_characters_are_escaped_everywhere() {
        let evil = "a\nFAKE\r\x1b[31mred\x1b]0;title\x07\u{7f}\u{9b}2J\u{202e}\t\u{2028}z";
        let e = hostile(evil);
        let line = format!(
            r#"{{"timestamp":"2026-11-30T06:53:07Z","level":{e},"logger":{e},"message":{e},{e}:{e},"n":{{{e}:[{e}]}}}}"#
        );
        for colors in [false, true] {
            let got = render(colors, &[&line]);
            assert_eq!(got.matches('\n').count(), 1, "{got:?}");
            assert!(got.ends_with('\n'));
            assert!(!got.contains('\r'));
            assert!(!got.contains('\u{7}'));
            assert!(!got.contains('\u{7f}'));
            assert!(!got.contains('\u{9b}'));
            assert!(!got.contains('\u{202e}'));
            assert!(!got.contains('\u{2028}'));
            // Every ESC starts one of the console's own colour codes.
            let mut rest = got.as_str();
            while let Some(at) = rest.find('\x1b') {
                rest = &rest[at..];
                let code = sgr::ALL.iter().find(|c| rest.starts_with(**c));
                assert!(colors && code.is_some(), "stray ESC in {got:?}");
                rest = &rest[code.unwrap().len()..];
            }
        }
        let got = render(false, &[&line]);
        assert!(got.contains(r"a\nFAKE\r\x1b[31mred\x1b]0;title\x07\x7f\u009b2J\u202e\t\u2028z"));
        // Quoted as a value, JSON-escaped inside containers.
        assert!(
            got.contains(r#""a\nFAKE\r\x1b[31mred\x1b]0;title\x07\x7f\u009b2J\u202e\t\u2028z"="#)
        );
        assert!(got.contains(
            r#"n={"a\nFAKE\r\u001b[31mred\u001b]0;title\u0007\u007f\u009b2J\u202e\t\u2028z":["#
        ));
    }

    #[test]
    fn default_exception_renders_its_traceback_indented() {
        let line = r#"{"timestamp":"2026-11-30T06:53:07Z","level":"error","logger":"app","message":"boom","k":1,"exception":{"type":"ValueError","message":"bad\nINFO forged","frames":[],"traceback":"Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    f()\nValueError: bad\nINFO forged\u001b[2J\n"}}"#;
        assert_eq!(
            render(false, &[line]),
            "2026-11-30 06:53:07.000 ERROR    app          boom                     k=1\n\
             \x20   Traceback (most recent call last):\n\
             \x20     File \"x.py\", line 1, in <module>\n\
             \x20       f()\n\
             \x20   ValueError: bad\n\
             \x20   INFO forged\\x1b[2J\n"
        );
        let coloured = render(true, &[line]);
        assert!(coloured.contains("    \x1b[31mValueError: bad\x1b[0m\n"));
        assert!(coloured.contains("    \x1b[2m    f()\x1b[0m\n"));
    }

    #[test]
    fn exceptions_and_stacks_of_ecs_and_otel() {
        let ecs = r#"{"@timestamp":"2026-11-30T06:53:07Z","log.level":"error","log.logger":"a","ecs.version":"8.11.0","message":"m","error":{"type":"KeyError","message":"'k'","stack_trace":"Traceback:\nKeyError: 'k'\n"},"stack":"Stack:\n  here\n"}"#;
        assert_eq!(
            render(false, &[ecs]),
            "2026-11-30 06:53:07.000 ERROR    a            m\n    Traceback:\n    KeyError: 'k'\n    Stack:\n      here\n"
        );
        let otel = r#"{"Timestamp":"0","SeverityText":"ERROR","SeverityNumber":17,"Body":"m","Attributes":{"logger.name":"a","x":1,"exception.type":"OSError","exception.message":"disk","exception.stacktrace":"Trace\nOSError: disk\n"}}"#;
        assert_eq!(
            render(false, &[otel]),
            "1970-01-01 00:00:00.000 ERROR    a            m                        x=1\n    Trace\n    OSError: disk\n"
        );
        let no_trace = r#"{"timestamp":"t","level":"error","logger":"a","message":"m","exception":{"type":"E","message":"why"}}"#;
        assert_eq!(
            render(false, &[no_trace]),
            "t ERROR    a            m\n    E: why\n"
        );
    }

    #[test]
    fn renamed_user_fields_stay_fields() {
        let line = r#"{"timestamp":"t","level":"info","logger":"a","message":"m","field.exception":"x","field.message":"y"}"#;
        assert_eq!(
            render(false, &[line]),
            "t INFO     a            m                        field.exception=x field.message=y\n"
        );
    }

    #[test]
    fn lines_that_are_not_json_are_shown_escaped() {
        assert_eq!(
            render(true, &["not json \u{1b}[2J", "[1,2]"]),
            "not json \\x1b[2J\n[1,2]\n"
        );
    }

    #[test]
    fn colour_choice_follows_mode_tty_and_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        use ColorMode::*;
        assert!(use_colors(Auto, true, env(&[])));
        assert!(!use_colors(Auto, false, env(&[])));
        assert!(!use_colors(Auto, true, env(&[("NO_COLOR", "1")])));
        assert!(use_colors(Auto, true, env(&[("NO_COLOR", "")])));
        assert!(use_colors(Auto, false, env(&[("FORCE_COLOR", "1")])));
        assert!(!use_colors(Auto, false, env(&[("FORCE_COLOR", "0")])));
        assert!(!use_colors(Auto, false, env(&[("FORCE_COLOR", "")])));
        assert!(!use_colors(
            Auto,
            true,
            env(&[("NO_COLOR", "1"), ("FORCE_COLOR", "1")])
        ));
        assert!(!use_colors(Auto, true, env(&[("TERM", "dumb")])));
        assert!(use_colors(
            Auto,
            false,
            env(&[("TERM", "dumb"), ("FORCE_COLOR", "3")])
        ));
        assert!(use_colors(Always, false, env(&[("NO_COLOR", "1")])));
        assert!(!use_colors(Never, true, env(&[("FORCE_COLOR", "1")])));
        assert_eq!(ColorMode::parse("ALWAYS"), Some(Always));
        assert_eq!(ColorMode::parse("sometimes"), None);
    }

    #[test]
    fn times_of_every_shape() {
        let t = |v: Value| {
            let mut out = Vec::new();
            push_time(&mut out, &v);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            t(Value::Str("2026-11-30T06:53:07.7Z".into())),
            "2026-11-30 06:53:07.700"
        );
        assert_eq!(
            t(Value::Str("1795999987755123000".into())),
            "2026-11-30 00:53:07.755"
        );
        assert_eq!(
            t(Value::Number("951782400001000000".into())),
            "2000-02-29 00:00:00.001"
        );
        assert_eq!(t(Value::Str("yesterday\n".into())), "yesterday\\n");
        assert_eq!(t(Value::Null), "null");
    }
}
