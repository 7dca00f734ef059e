//! What the wire formats need to take an event line apart (syslog's header, OTLP's log
//! records): the crate's JSON reader ([`crate::json`], shared with the console), a JSON string
//! writer, and the envelope of a line in any schema. The lines come from ferrolog's own
//! encoder, so they are valid JSON; anything else is reported as `None`.

pub use crate::json::{parse, Value};

/// Append `s` to `out` as a JSON string (with quotes).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &c in s.as_bytes() {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_encoder_writes() {
        let v = parse(
            br#"{"a":1,"b":-2.5e3,"s":"x\"\u00e9\ud83d\ude00","n":null,"l":[true,false,{}]}"#,
        )
        .unwrap();
        assert_eq!(v.get("a"), Some(&Value::Number("1".into())));
        assert_eq!(v.get("s").and_then(Value::as_str), Some("x\"é😀"));
        assert_eq!(v.get("n"), Some(&Value::Null));
        assert!(parse(b"{\"a\":1").is_none());
        assert!(parse(b"[1,]").is_none());
        let mut out = Vec::new();
        write_str(&mut out, "q\"\\\n\u{1}é");
        assert_eq!(out, b"\"q\\\"\\\\\\n\\u0001\xc3\xa9\"");
    }
}

/// The envelope of an event line in any of ferrolog's schemas (default, ECS, OTel).
#[derive(Debug, Default)]
pub struct Envelope<'a> {
    /// Unix nanoseconds.
    pub time: Option<u64>,
    /// The level's name as written (`info`, `INFO`).
    pub level: Option<&'a str>,
    /// OTel's `SeverityNumber`, when the line has one.
    pub severity_number: Option<i64>,
    pub logger: Option<&'a str>,
    pub message: Option<&'a Value>,
    /// The keys above, which are not fields.
    pub keys: &'static [&'static str],
}

impl<'a> Envelope<'a> {
    /// Read the envelope of `event`, recognising its schema by its keys.
    pub fn of(event: &'a Value) -> Envelope<'a> {
        let text = |k: &str| event.get(k).and_then(Value::as_str);
        if event.get("SeverityText").is_some() || event.get("Body").is_some() {
            let time = match event.get("Timestamp") {
                Some(Value::Str(s)) => s.parse().ok().or_else(|| super::time::parse_rfc3339(s)),
                Some(Value::Number(n)) => n.parse().ok(),
                _ => None,
            };
            let logger = event
                .get("Attributes")
                .and_then(|a| a.get("logger.name"))
                .and_then(Value::as_str);
            return Envelope {
                time,
                level: text("SeverityText"),
                severity_number: match event.get("SeverityNumber") {
                    Some(Value::Number(n)) => n.parse().ok(),
                    _ => None,
                },
                logger,
                message: event.get("Body"),
                keys: &[
                    "Timestamp",
                    "SeverityText",
                    "SeverityNumber",
                    "Body",
                    "TraceId",
                    "SpanId",
                ],
            };
        }
        if event.get("@timestamp").is_some() || event.get("log.level").is_some() {
            return Envelope {
                time: text("@timestamp").and_then(super::time::parse_rfc3339),
                level: text("log.level"),
                severity_number: None,
                logger: text("log.logger"),
                message: event.get("message"),
                keys: &["@timestamp", "log.level", "log.logger", "message"],
            };
        }
        Envelope {
            time: text("timestamp").and_then(super::time::parse_rfc3339),
            level: text("level"),
            severity_number: None,
            logger: text("logger"),
            message: event.get("message"),
            keys: &["timestamp", "level", "logger", "message"],
        }
    }
}
