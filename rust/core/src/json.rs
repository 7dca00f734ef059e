//! A small JSON reader for the lines ferrolog's encoder writes, keeping object members in their
//! written order (the console renders fields in the order they were logged); the network
//! sinks read lines with it too (`net::json`).
//!
//! Why not a crate: the console needs only a tree of the line with its key order, numbers kept
//! as their text (never re-rounded) and a bound on nesting; the encoder's output is plain
//! RFC 8259 JSON (no NaN, no comments, UTF-8). Keeping this here adds no dependency to the
//! writer thread's crate and no `preserve_order` feature to unify across the workspace.
//! Anything that is not JSON (or nests deeper than [`MAX_DEPTH`]) is `None`: the console then
//! shows the line as text.

/// Deeper nesting than this is refused (the encoder cuts containers at 32 levels).
pub const MAX_DEPTH: usize = 128;

/// A parsed JSON value. Numbers keep their text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Value>),
    /// Members in written order; duplicates are kept.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The value of the first member named `key`, if this is an object that has one.
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

/// Parse one whole JSON text (surrounding whitespace, such as the line's `\n`, is allowed).
pub fn parse(text: &[u8]) -> Option<Value> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Option<Value> {
        self.s[self.i..].starts_with(word).then(|| {
            self.i += word.len();
            v
        })
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        match self.peek()? {
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.eat(b'}').is_some() {
                    return Some(Value::Object(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    members.push((key, v));
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Value::Object(members));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(Value::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Value::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(Value::Str),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        self.eat(b'-');
        let digits = |p: &mut Self| {
            let from = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i > from
        };
        if !digits(self) {
            return None;
        }
        if self.eat(b'.').is_some() && !digits(self) {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        // Only ASCII digits and signs were consumed.
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        Some(Value::Number(text.to_owned()))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let text = std::str::from_utf8(h).ok()?;
        let v = u32::from_str_radix(text, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            // Copy the run up to the next quote or backslash in one piece.
            let run = self.s[self.i..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')?;
            out.extend_from_slice(&self.s[self.i..self.i + run]);
            self.i += run;
            if self.s[self.i] == b'"' {
                self.i += 1;
                // Lossy: the encoder writes UTF-8 only; anything else is shown as U+FFFD.
                return Some(match String::from_utf8(out) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                });
            }
            self.i += 1; // the backslash
            let c = self.peek()?;
            self.i += 1;
            let ch = match c {
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
                    if (0xD800..0xDC00).contains(&hi) {
                        // A surrogate pair, or a lone high surrogate (U+FFFD).
                        let save = self.i;
                        let lo = if self.s[self.i..].starts_with(b"\\u") {
                            self.i += 2;
                            self.hex4()
                        } else {
                            None
                        };
                        match lo {
                            Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                char::from_u32(cp).unwrap_or('\u{FFFD}')
                            }
                            _ => {
                                self.i = save;
                                '\u{FFFD}'
                            }
                        }
                    } else {
                        char::from_u32(hi).unwrap_or('\u{FFFD}')
                    }
                }
                _ => return None,
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_owned())
    }

    #[test]
    fn objects_keep_their_order_and_numbers_their_text() {
        let v = parse(b"{\"b\":1.50,\"a\":[true,false,null,-2e+3],\"c\":{}}\n").unwrap();
        assert_eq!(
            v,
            Value::Object(vec![
                ("b".into(), Value::Number("1.50".into())),
                (
                    "a".into(),
                    Value::Array(vec![
                        Value::Bool(true),
                        Value::Bool(false),
                        Value::Null,
                        Value::Number("-2e+3".into()),
                    ])
                ),
                ("c".into(), Value::Object(vec![])),
            ])
        );
        assert_eq!(v.get("a").map(|_| ()), Some(()));
        assert_eq!(v.get("zz"), None);
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(
            parse(br#""a\"\\\/\b\f\n\r\t\u001b\u00e9\ud83d\ude00\ud800x""#).unwrap(),
            s("a\"\\/\u{8}\u{c}\n\r\t\u{1b}é😀\u{FFFD}x")
        );
        assert_eq!(parse("\"é\u{85}\"".as_bytes()).unwrap(), s("é\u{85}"));
    }

    #[test]
    fn what_is_not_json_is_none() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\"}",
            b"{\"a\":1,}",
            b"[1 2]",
            b"\"open",
            b"\"bad \\q escape\"",
            b"01x",
            b"-",
            b"1.",
            b"nul",
            b"{} {}",
            b"NaN",
        ] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), None);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_some());
    }
}
