//! Redaction: what the encoder masks before anything reaches the ring.
//!
//! Two mechanisms, both decided once per pipeline when it is created:
//!
//! - **Field names** (on by default, [`DEFAULT_FIELDS`]): a field — at any depth, nested dict
//!   keys and dataclass attributes too — whose name matches a denied name (case-insensitive)
//!   keeps its key and gets the replacement text as its value. The decision is cheap: call
//!   keywords are decided once per call site (cached with their encoded names in `keys`),
//!   bound and context fields once when bound, and a nested key costs a length-bitmask test
//!   and, only for a key whose length some denied name has, a compare against those names.
//! - **Value patterns** (opt-in: presets or user regexes): every string written — values, the
//!   message, exception messages and tracebacks, `repr()` text — is scanned, and each match is
//!   replaced. Card numbers are only masked when their digits pass the Luhn check.
//!
//! `SecretStr`/`SecretBytes` are masked by the encoder whatever this says, without reading the
//! secret.

use regex::bytes::{Captures, Regex};
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

/// Field names masked with zero configuration.
pub const DEFAULT_FIELDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "set-cookie",
    "session",
    "private_key",
    "credit_card",
    "card_number",
    "cvv",
    "ssn",
];

pub const DEFAULT_REPLACEMENT: &str = "[REDACTED]";

/// The value patterns built in, by the name the settings use, each with the cheap test a
/// string must pass before the regex runs (most strings fail it: no `@`, too few digits).
/// They run in this order: URL credentials before e-mail addresses (`user:pw@host.tld` looks
/// like one), tokens before card numbers.
const BUILTIN: &[(&str, Gate, &str)] = &[
    // Only the user:password part of scheme://user:password@host is masked.
    (
        "url_credentials",
        Gate::At,
        r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]*@",
    ),
    (
        "bearer",
        Gate::Word(b"bearer"),
        r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*",
    ),
    (
        "jwt",
        Gate::Word(b"eyj"),
        r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
    ),
    (
        "aws_access_key",
        Gate::MinLen(20),
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16}\b",
    ),
    (
        "email",
        Gate::At,
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
    ),
    // Whole matches of 13 to 19 digits, with optional single spaces or dashes between digits;
    // only those passing the Luhn check are masked.
    ("card", Gate::Digits(13), r"\b(?:\d[ \-]?){12,18}\d\b"),
    ("ssn", Gate::Digits(9), r"\b\d{3}-\d{2}-\d{4}\b"),
];

/// A necessary condition for a pattern to match, much cheaper than running it.
#[derive(Clone, Copy)]
enum Gate {
    /// Any string may match (user patterns).
    Any,
    /// The string holds an `@`.
    At,
    /// The string holds at least this many ASCII digits.
    Digits(usize),
    /// The string holds this word (lowercase ASCII), in any case.
    Word(&'static [u8]),
    /// The string is at least this long.
    MinLen(usize),
}

impl Gate {
    #[inline]
    fn admits(self, text: &[u8], seen: &Seen) -> bool {
        match self {
            Gate::Any => true,
            Gate::At => seen.at,
            Gate::Digits(n) => seen.digits >= n,
            Gate::Word(w) => contains_word(text, w),
            Gate::MinLen(n) => text.len() >= n,
        }
    }
}

/// What one pass over a string found, for the gates.
struct Seen {
    at: bool,
    digits: usize,
}

impl Seen {
    /// One pass, no calls: the strings this runs on are mostly short.
    #[inline]
    fn of(text: &[u8]) -> Seen {
        let mut seen = Seen {
            at: false,
            digits: 0,
        };
        for &b in text {
            seen.at |= b == b'@';
            seen.digits += usize::from(b.is_ascii_digit());
        }
        seen
    }
}

/// Whether `text` holds `word` (lowercase ASCII) in any case.
#[inline]
fn contains_word(text: &[u8], word: &[u8]) -> bool {
    let (lower, upper) = (word[0], word[0].to_ascii_uppercase());
    let last = text.len().saturating_sub(word.len() - 1);
    (0..last).any(|i| {
        let c = text[i];
        (c == lower || c == upper) && text[i..i + word.len()].eq_ignore_ascii_case(word)
    })
}

/// The names of the built-in value patterns.
pub fn builtin_names() -> impl ExactSizeIterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _, _)| *name)
}

/// Why a user pattern cannot be used, or None when it compiles.
pub fn pattern_error(pattern: &str) -> Option<String> {
    Regex::new(pattern).err().map(|e| e.to_string())
}

/// How one compiled pattern rewrites its matches.
enum Rule {
    /// Every match becomes the replacement.
    Whole(Gate, Regex),
    /// Matches of 13–19 digits passing the Luhn check become the replacement.
    Card(Regex),
    /// The `scheme` group is kept, the credentials become the replacement.
    UrlCredentials(Regex),
}

/// A pipeline's redaction rules. Immutable once built; shared by all its loggers.
pub struct Redactor {
    /// Denied ASCII names, lowercased, by byte length (index 0..=63; longer ones at 64).
    by_len: Vec<Vec<Box<[u8]>>>,
    /// Bit n set when a denied name is n bytes long (bit 63: 63 bytes or more).
    len_mask: u64,
    /// Denied names that are not ASCII, lowercased.
    non_ascii: Vec<String>,
    rules: Vec<Rule>,
    replacement: Box<[u8]>,
    /// The replacement as a JSON string, quotes included.
    replacement_json: Box<[u8]>,
    /// The zero-configuration rules: context fields (encoded before any pipeline is known)
    /// are encoded with these, and reused as they are by pipelines whose rules are these.
    is_default: bool,
}

/// A settings error in the redaction table, naming the setting.
pub struct RedactionError(pub String);

impl Redactor {
    /// Rules masking `fields` (names), with the built-in patterns named in `builtin` and the
    /// user regexes `patterns`, writing `replacement`.
    pub fn new(
        fields: &[String],
        builtin: &[String],
        patterns: &[String],
        replacement: &str,
    ) -> Result<Self, RedactionError> {
        let mut by_len: Vec<Vec<Box<[u8]>>> = vec![Vec::new(); 65];
        let mut len_mask = 0u64;
        let mut non_ascii = Vec::new();
        for name in fields {
            let lower = name.to_lowercase();
            if lower.is_ascii() {
                let n = lower.len();
                len_mask |= 1u64 << n.min(63);
                let list = &mut by_len[n.min(64)];
                if !list.iter().any(|l| **l == *lower.as_bytes()) {
                    list.push(lower.into_bytes().into_boxed_slice());
                }
            } else {
                non_ascii.push(lower);
            }
        }
        let mut rules = Vec::new();
        for name in builtin {
            let Some((_, gate, source)) = BUILTIN.iter().find(|(n, _, _)| n == name) else {
                let known: Vec<_> = builtin_names().collect();
                return Err(RedactionError(format!(
                    "unknown built-in pattern {name:?}; known: {}",
                    known.join(", ")
                )));
            };
            rules.push(match name.as_str() {
                "card" => Rule::Card(compile(source)),
                "url_credentials" => Rule::UrlCredentials(compile(source)),
                _ => Rule::Whole(*gate, compile(source)),
            });
        }
        let mut whole = Vec::new();
        for (i, pattern) in patterns.iter().enumerate() {
            if let Some(e) = pattern_error(pattern) {
                return Err(RedactionError(format!(
                    "redaction.patterns[{i}]: {pattern:?} is not a valid regex: {e}"
                )));
            }
            whole.push(format!("(?:{pattern})"));
        }
        if !whole.is_empty() {
            // One scan for all user patterns.
            let joined = whole.join("|");
            let re = Regex::new(&joined).map_err(|e| {
                RedactionError(format!("redaction.patterns: cannot be combined: {e}"))
            })?;
            rules.push(Rule::Whole(Gate::Any, re));
        }
        let mut replacement_json = Vec::new();
        crate::escape::write_str(&mut replacement_json, replacement.as_bytes());
        let is_default = fields.len() == DEFAULT_FIELDS.len()
            && fields.iter().zip(DEFAULT_FIELDS).all(|(a, b)| a == b)
            && rules.is_empty()
            && replacement == DEFAULT_REPLACEMENT;
        Ok(Self {
            by_len,
            len_mask,
            non_ascii,
            rules,
            replacement: replacement.as_bytes().into(),
            replacement_json: replacement_json.into_boxed_slice(),
            is_default,
        })
    }

    /// The zero-configuration rules (the default deny-list, no patterns), built once.
    pub fn default_rules() -> &'static Arc<Redactor> {
        static DEFAULT: OnceLock<Arc<Redactor>> = OnceLock::new();
        DEFAULT.get_or_init(|| {
            let fields: Vec<String> = DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect();
            let r = Redactor::new(&fields, &[], &[], DEFAULT_REPLACEMENT);
            Arc::new(r.unwrap_or_else(|_| unreachable!("the defaults compile")))
        })
    }

    /// No redaction at all (`redaction.enabled = false`).
    pub fn disabled() -> &'static Arc<Redactor> {
        static NONE: OnceLock<Arc<Redactor>> = OnceLock::new();
        NONE.get_or_init(|| {
            let r = Redactor::new(&[], &[], &[], DEFAULT_REPLACEMENT);
            Arc::new(r.unwrap_or_else(|_| unreachable!("nothing to compile")))
        })
    }

    /// Whether these are the zero-configuration rules.
    #[inline]
    pub fn is_default(&self) -> bool {
        self.is_default
    }

    /// Whether any value pattern is configured (then every string written is scanned).
    #[inline]
    pub fn scans(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The replacement text.
    pub fn replacement(&self) -> &str {
        std::str::from_utf8(&self.replacement).unwrap_or(DEFAULT_REPLACEMENT)
    }

    /// The replacement value, as a JSON string.
    #[inline]
    pub fn replacement_json(&self) -> &[u8] {
        &self.replacement_json
    }

    /// Whether a field named `key` (UTF-8) is masked.
    #[inline]
    pub fn denies(&self, key: &[u8]) -> bool {
        let n = key.len();
        if self.len_mask & (1u64 << n.min(63)) == 0 && self.non_ascii.is_empty() && key.is_ascii() {
            // No ASCII name of that length; a non-ASCII key may still lower-case to one
            // (the Kelvin sign is a `k`), which the slow path sees.
            return false;
        }
        self.denies_slow(key)
    }

    #[inline(never)]
    fn denies_slow(&self, key: &[u8]) -> bool {
        if key.is_ascii() {
            return self.by_len[key.len().min(64)]
                .iter()
                .any(|name| name.eq_ignore_ascii_case(key));
        }
        let lower = String::from_utf8_lossy(key).to_lowercase();
        if lower.is_ascii() {
            return self.by_len[lower.len().min(64)]
                .iter()
                .any(|name| **name == *lower.as_bytes());
        }
        self.non_ascii.contains(&lower)
    }

    /// `text` with every pattern match replaced, or None when nothing matched.
    pub fn scan(&self, text: &[u8]) -> Option<Vec<u8>> {
        let seen = Seen::of(text);
        let mut current: Cow<'_, [u8]> = Cow::Borrowed(text);
        let mut changed = false;
        for rule in &self.rules {
            let next = match rule {
                Rule::Whole(gate, re) => {
                    // After a replacement the gates may err on the side of scanning.
                    if !changed && !gate.admits(&current, &seen) {
                        continue;
                    }
                    re.replace_all(&current, &*self.replacement)
                }
                Rule::Card(re) => {
                    if (!changed && seen.digits < 13) || !re.is_match(&current) {
                        continue;
                    }
                    re.replace_all(&current, |c: &Captures<'_>| -> Vec<u8> {
                        let m = &c[0];
                        if luhn(m) {
                            self.replacement.to_vec()
                        } else {
                            m.to_vec()
                        }
                    })
                }
                Rule::UrlCredentials(re) => {
                    if !changed && !seen.at {
                        continue;
                    }
                    re.replace_all(&current, |c: &Captures<'_>| {
                        let mut out = c["scheme"].to_vec();
                        out.extend_from_slice(&self.replacement);
                        out.push(b'@');
                        out
                    })
                }
            };
            if let Cow::Owned(v) = next {
                if *v != *current {
                    changed = true;
                }
                current = Cow::Owned(v);
            }
        }
        changed.then(|| current.into_owned())
    }
}

fn compile(source: &str) -> Regex {
    Regex::new(source).unwrap_or_else(|e| unreachable!("built-in pattern {source}: {e}"))
}

/// Whether the digits of `text` (other bytes skipped) are 13 to 19 and pass the Luhn check.
pub fn luhn(text: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for &b in text.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let mut d = u32::from(b - b'0');
        if count % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    (13..=19).contains(&count) && sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn all_builtin() -> Redactor {
        let names: Vec<String> = builtin_names().map(String::from).collect();
        Redactor::new(&strings(DEFAULT_FIELDS), &names, &[], "[X]")
            .ok()
            .unwrap()
    }

    fn scanned(r: &Redactor, text: &str) -> String {
        match r.scan(text.as_bytes()) {
            Some(v) => String::from_utf8(v).unwrap(),
            None => text.to_string(),
        }
    }

    #[test]
    fn names_match_case_insensitively_and_exactly() {
        let r = Redactor::default_rules();
        for key in ["password", "PassWord", "SET-COOKIE", "Authorization", "cvv"] {
            assert!(r.denies(key.as_bytes()), "{key}");
        }
        for key in ["user_id", "path", "passwords", "", "latency_ms", "sessions"] {
            assert!(!r.denies(key.as_bytes()), "{key}");
        }
        // The Kelvin sign lower-cases to an ASCII k.
        assert!(Redactor::new(&strings(&["key"]), &[], &[], "x")
            .ok()
            .unwrap()
            .denies("\u{212A}EY".as_bytes()));
        assert!(!Redactor::disabled().denies(b"password"));
    }

    #[test]
    fn luhn_accepts_card_numbers_only() {
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(luhn(b"5500-0000-0000-0004"));
        assert!(!luhn(b"4111 1111 1111 1112"));
        assert!(!luhn(b"0000 0000 00")); // too short
    }

    #[test]
    fn patterns_replace_what_they_match_and_nothing_else() {
        let r = all_builtin();
        assert_eq!(scanned(&r, "card 4111 1111 1111 1111 ok"), "card [X] ok");
        assert_eq!(
            scanned(&r, "order 4111 1111 1111 1112"),
            "order 4111 1111 1111 1112"
        );
        assert_eq!(scanned(&r, "mail bob@example.com now"), "mail [X] now");
        assert_eq!(
            scanned(&r, "Authorization: Bearer abc.def-ghi"),
            "Authorization: [X]"
        );
        assert_eq!(
            scanned(&r, "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_x"),
            "t=[X]"
        );
        assert_eq!(scanned(&r, "key AKIAIOSFODNN7EXAMPLE"), "key [X]");
        assert_eq!(
            scanned(&r, "db postgres://admin:hunter2@db:5432/x"),
            "db postgres://[X]@db:5432/x"
        );
        assert_eq!(scanned(&r, "ssn 123-45-6789"), "ssn [X]");
        // With e-mail addresses masked too, the URL's user name is masked as well.
        assert_eq!(
            scanned(&r, "https://bob:pw@example.com/x"),
            "https://[X]@example.com/x"
        );
        assert!(r.scan(b"nothing to see here, user 42").is_none());
    }

    #[test]
    fn an_invalid_user_pattern_is_named_by_index() {
        let err = Redactor::new(&[], &[], &strings(&["ok", "(unclosed"]), "x")
            .err()
            .unwrap();
        assert!(err.0.starts_with("redaction.patterns[1]"), "{}", err.0);
    }
}
