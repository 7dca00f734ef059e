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
    /// Google Cloud Logging's structured JSON: `time`, `severity` (DEBUG ... EMERGENCY),
    /// `logger`, `message`, the fields, `logging.googleapis.com/trace` (as
    /// `projects/<project>/traces/<trace_id>`) and `logging.googleapis.com/spanId` from the
    /// `trace_id`/`span_id` fields, `httpRequest` from an `http_request` field.
    Gcp,
    /// Datadog's reserved attributes: `timestamp`, `status`, `logger.name`, `message`, the
    /// fields (`service`, `env`, `version` among the static ones), `dd.trace_id`/`dd.span_id`
    /// in Datadog's decimal form from the `trace_id`/`span_id` fields.
    Datadog,
}

pub const ECS_VERSION: &str = "8.11.0";

impl Schema {
    pub fn parse(name: &str) -> Option<Schema> {
        match name.to_ascii_lowercase().as_str() {
            "default" => Some(Schema::Default),
            "ecs" => Some(Schema::Ecs),
            "otel" => Some(Schema::Otel),
            "gcp" => Some(Schema::Gcp),
            "datadog" => Some(Schema::Datadog),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Schema::Default => "default",
            Schema::Ecs => "ecs",
            Schema::Otel => "otel",
            Schema::Gcp => "gcp",
            Schema::Datadog => "datadog",
        }
    }

    /// The opening of the timestamp, level and logger members (all but OTel).
    pub fn envelope_keys(self) -> (&'static [u8], &'static [u8], &'static [u8]) {
        match self {
            Schema::Ecs => (b"{\"@timestamp\":", b",\"log.level\":", b",\"log.logger\":"),
            Schema::Gcp => (b"{\"time\":", b",\"severity\":", b",\"logger\":"),
            Schema::Datadog => (b"{\"timestamp\":", b",\"status\":", b",\"logger.name\":"),
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
            Schema::Gcp => &[
                b"time",
                b"severity",
                b"logger",
                b"message",
                b"exception",
                b"stack_trace",
                b"stack",
                b"_truncated",
                b"httpRequest",
                b"logging.googleapis.com/trace",
                b"logging.googleapis.com/spanId",
            ],
            Schema::Datadog => &[
                b"timestamp",
                b"status",
                b"logger.name",
                b"message",
                b"error",
                b"stack",
                b"_truncated",
                b"dd.trace_id",
                b"dd.span_id",
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

    /// Whether this schema moves some fields to names (and forms) of its own: the trace
    /// context (OTel, GCP, Datadog), GCP's `httpRequest`.
    #[inline]
    pub fn lifts_any(self) -> bool {
        matches!(self, Schema::Otel | Schema::Gcp | Schema::Datadog)
    }

    /// The top-level name a field is moved to, if this schema lifts it.
    #[inline]
    pub fn lifted(self, key: &[u8]) -> Option<&'static str> {
        match (self, key) {
            (Schema::Otel, b"trace_id") => Some("TraceId"),
            (Schema::Otel, b"span_id") => Some("SpanId"),
            (Schema::Gcp, b"trace_id") => Some(GCP_TRACE),
            (Schema::Gcp, b"span_id") => Some("logging.googleapis.com/spanId"),
            (Schema::Gcp, b"http_request") => Some("httpRequest"),
            (Schema::Datadog, b"trace_id") => Some(DD_TRACE),
            (Schema::Datadog, b"span_id") => Some(DD_SPAN),
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

    /// The pre-encoded value of level `number`, named `name` (a JSON string, with quotes).
    pub fn level_text(self, number: i32, name: &str) -> Vec<u8> {
        let name = match self {
            Schema::Otel => name.to_ascii_uppercase(),
            Schema::Gcp => gcp_severity(number).to_owned(),
            Schema::Datadog => gcp_severity(number).to_ascii_lowercase(),
            _ => name.to_ascii_lowercase(),
        };
        let mut out = Vec::new();
        write_str(&mut out, name.as_bytes());
        out
    }
}

/// GCP's trace member (its value: `projects/<project>/traces/<trace_id>`).
pub const GCP_TRACE: &str = "logging.googleapis.com/trace";
/// Datadog's trace correlation members (their values: unsigned 64-bit decimal strings).
pub const DD_TRACE: &str = "dd.trace_id";
pub const DD_SPAN: &str = "dd.span_id";

/// Google Cloud Logging's `LogSeverity` name for a level number: the standard levels map to
/// DEBUG (TRACE too), INFO, WARNING, ERROR and CRITICAL; a custom level takes the name of the
/// band it falls in (25-29: NOTICE, 60-69: ALERT, 70 and above: EMERGENCY; 0: DEFAULT).
/// Datadog's `status` uses the same names in lower case (its syslog severities).
pub fn gcp_severity(level: i32) -> &'static str {
    match level {
        i32::MIN..=0 => "DEFAULT",
        1..=19 => "DEBUG",
        20..=24 => "INFO",
        25..=29 => "NOTICE",
        30..=39 => "WARNING",
        40..=49 => "ERROR",
        50..=59 => "CRITICAL",
        60..=69 => "ALERT",
        _ => "EMERGENCY",
    }
}

/// The low 64 bits of a hex trace or span id as an unsigned decimal (Datadog's form); None
/// when `hex` is not 1 to 32 hex digits.
pub fn dd_decimal(hex: &str) -> Option<String> {
    if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let low = &hex[hex.len().saturating_sub(16)..];
    u64::from_str_radix(low, 16).ok().map(|n| n.to_string())
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
    fn datadog_ids_are_the_low_64_bits_in_decimal() {
        assert_eq!(
            dd_decimal("0af7651916cd43dd8448eb211c80319c").as_deref(),
            Some("9532127138774266268")
        );
        assert_eq!(
            dd_decimal("00f067aa0ba902b7").as_deref(),
            Some("67667974448284343")
        );
        assert_eq!(
            dd_decimal("ffffffffffffffffffffffffffffffff").as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(dd_decimal(""), None);
        assert_eq!(dd_decimal("xyz"), None);
        assert_eq!(dd_decimal(&"1".repeat(33)), None);
    }

    #[test]
    fn gcp_severities_of_standard_levels() {
        let got: Vec<&str> = [0, 5, 10, 20, 25, 30, 40, 50, 60, 70]
            .iter()
            .map(|l| gcp_severity(*l))
            .collect();
        assert_eq!(
            got,
            [
                "DEFAULT",
                "DEBUG",
                "DEBUG",
                "INFO",
                "NOTICE",
                "WARNING",
                "ERROR",
                "CRITICAL",
                "ALERT",
                "EMERGENCY"
            ]
        );
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
