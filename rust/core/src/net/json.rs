//! A small JSON reader and string writer: enough to take an event line apart for the wire
//! formats that need its fields (syslog's header, OTLP's log records). The lines come from
//! ferrolog's own encoder, so they are valid JSON; anything else is reported as `None`.

/// A parsed JSON value. Numbers keep their text, so nothing is lost to a float round trip.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Parse one JSON document (surrounding whitespace allowed).
pub fn parse(text: &[u8]) -> Option<Value> {
    let mut p = Parser { b: text, i: 0 };
    let v = p.value(0)?;
    p.ws();
    (p.i == p.b.len()).then_some(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Option<Value> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > 128 {
            return None;
        }
        self.ws();
        match *self.b.get(self.i)? {
            b'n' => self.lit(b"null", Value::Null),
            b't' => self.lit(b"true", Value::Bool(true)),
            b'f' => self.lit(b"false", Value::Bool(false)),
            b'"' => self.string().map(Value::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Some(Value::Array(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Some(Value::Object(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    members.push((key, self.value(depth + 1)?));
                    if self.eat(b'}') {
                        return Some(Value::Object(members));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while matches!(
                    self.b.get(self.i),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                text.parse::<f64>().ok()?;
                Some(Value::Number(text.to_owned()))
            }
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.b.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

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
