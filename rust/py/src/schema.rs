//! Output schemas: the envelope around an event's fields, and the level names they use.

use crate::escape::write_str;

/// The shape of each output line; one encoder serves all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// `{"timestamp","level","logger","message", fields...}`
    Default,
    /// Elastic Common Schema: `@timestamp`, `log.level`, `log.logger`, `message`, `ecs.version`.
    Ecs,
    /// OpenTelemetry log data model: `Timestamp`, `SeverityText`, `SeverityNumber`, `Body`,
    /// `Attributes` (the fields), `TraceId`/`SpanId` when present.
    Otel,
}

pub const ECS_VERSION: &str = "8.11.0";

impl Schema {
    pub fn parse(name: &str) -> Option<Schema> {
        match name.to_ascii_lowercase().as_str() {
            "default" => Some(Schema::Default),
            "ecs" => Some(Schema::Ecs),
            "otel" => Some(Schema::Otel),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Schema::Default => "default",
            Schema::Ecs => "ecs",
            Schema::Otel => "otel",
        }
    }

    /// The opening of the timestamp, level and logger members (default and ECS).
    pub fn envelope_keys(self) -> (&'static [u8], &'static [u8], &'static [u8]) {
        match self {
            Schema::Ecs => (b"{\"@timestamp\":", b",\"log.level\":", b",\"log.logger\":"),
            _ => (b"{\"timestamp\":", b",\"level\":", b",\"logger\":"),
        }
    }

    /// Keys a user field may not take: the envelope's, and those the encoder adds after the
    /// fields (exception, `stack` for `stack_info`, `_truncated`), always — whether or not this
    /// event has them — so that a field's key never depends on the call's other arguments.
    pub fn reserved(self) -> &'static [&'static [u8]] {
        match self {
            Schema::Default => &[
                b"timestamp",
                b"level",
                b"logger",
                b"message",
                b"exception",
                b"stack",
                b"_truncated",
            ],
            Schema::Ecs => &[
                b"@timestamp",
                b"log.level",
                b"log.logger",
                b"message",
                b"ecs.version",
                b"error",
                b"stack",
                b"_truncated",
            ],
            // Fields live inside `Attributes`, next to the logger's name and what the encoder
            // adds there (the exception's attributes, the stack); `_truncated` is outside.
            Schema::Otel => &[
                b"logger.name",
                b"exception.type",
                b"exception.message",
                b"exception.stacktrace",
                b"stack",
            ],
        }
    }

    /// Whether this schema moves some fields out of the attributes (OTel's trace context).
    #[inline]
    pub fn lifts_any(self) -> bool {
        self == Schema::Otel
    }

    /// The top-level name a field is moved to, if this schema lifts it.
    #[inline]
    pub fn lifted(self, key: &[u8]) -> Option<&'static str> {
        match (self, key) {
            (Schema::Otel, b"trace_id") => Some("TraceId"),
            (Schema::Otel, b"span_id") => Some("SpanId"),
            _ => None,
        }
    }

    /// Whether a user field named `key` is written as `field.<key>`: a reserved name, or one
    /// preceded by any number of `field.` (so that `field.message` becomes
    /// `field.field.message` and never meets a renamed `message`: the renaming is one-to-one).
    #[inline]
    pub fn renames(self, key: &[u8]) -> bool {
        let mut rest = key;
        while let Some(r) = rest.strip_prefix(FIELD_PREFIX) {
            rest = r;
        }
        self.reserved().contains(&rest)
    }

    /// The pre-encoded value of the level named `name` (a JSON string, with quotes).
    pub fn level_text(self, name: &str) -> Vec<u8> {
        let name = match self {
            Schema::Otel => name.to_ascii_uppercase(),
            _ => name.to_ascii_lowercase(),
        };
        let mut out = Vec::new();
        write_str(&mut out, name.as_bytes());
        out
    }
}

/// What a renamed field's key starts with.
pub const FIELD_PREFIX: &[u8] = b"field.";

/// Write `"key":` for a user field, renaming a key that collides with the schema's envelope
/// to `field.<key>` so that neither the envelope nor the user's value is lost.
#[inline]
pub fn write_field_key(out: &mut Vec<u8>, key: &[u8], schema: Option<Schema>) {
    if schema.is_some_and(|s| s.renames(key)) {
        let mut renamed = Vec::with_capacity(key.len() + FIELD_PREFIX.len());
        renamed.extend_from_slice(FIELD_PREFIX);
        renamed.extend_from_slice(key);
        write_str(out, &renamed);
    } else {
        write_str(out, key);
    }
    out.push(b':');
}

/// OpenTelemetry SeverityNumber: 10→5, 20→9, 30→13, 40→17, 50→21, TRACE(5)→1; other levels
/// fall into the range of the standard level at or below them.
pub fn otel_severity(level: i32) -> i32 {
    match level {
        i32::MIN..=0 => 0,
        1..=9 => 1,
        10..=59 => {
            let band = level / 10; // 1..=5
            let step = (level % 10) * 4 / 10;
            (band - 1) * 4 + 5 + step
        }
        _ => 24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renaming_is_one_to_one() {
        let s = Schema::Default;
        for (key, renamed) in [
            (&b"message"[..], true),
            (b"field.message", true),
            (b"field.field.message", true),
            (b"stack", true),
            (b"_truncated", true),
            (b"field.", false),
            (b"field.user", false),
            (b"messages", false),
            (b"user", false),
        ] {
            assert_eq!(s.renames(key), renamed, "{}", String::from_utf8_lossy(key));
        }
        assert!(Schema::Ecs.renames(b"field.@timestamp"));
        assert!(Schema::Otel.renames(b"exception.type"));
        assert!(!Schema::Otel.renames(b"_truncated"));
    }

    #[test]
    fn otel_mapping_of_standard_levels() {
        let got: Vec<i32> = [5, 10, 20, 30, 40, 50]
            .iter()
            .map(|l| otel_severity(*l))
            .collect();
        assert_eq!(got, [1, 5, 9, 13, 17, 21]);
    }
}
