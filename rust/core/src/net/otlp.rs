//! OTLP/HTTP logs, JSON encoding: a batch of event lines becomes one
//! `ExportLogsServiceRequest` — `resourceLogs` (the configured resource attributes) →
//! `scopeLogs` (one per logger, the scope's name) → `logRecords` with `timeUnixNano`,
//! `observedTimeUnixNano`, `severityNumber`, `severityText`, `body` and `attributes` (the
//! event's fields). 64-bit integers are JSON strings, as the protobuf JSON mapping says.

use super::json::{self, write_str, Envelope, Value};
use super::time::now_nanos;

/// OpenTelemetry's SeverityNumber for a level name (0, unspecified, when unknown).
pub fn severity_number(level: Option<&str>) -> i64 {
    match level.map(str::to_ascii_lowercase).as_deref() {
        Some("trace") => 1,
        Some("debug") => 5,
        Some("info") => 9,
        Some("notice") => 10,
        Some("warning" | "warn") => 13,
        Some("error") => 17,
        Some("critical" | "fatal" | "alert" | "emergency") => 21,
        _ => 0,
    }
}

/// Append `v` as an OTLP `AnyValue`.
pub fn any_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"{}"),
        Value::Bool(b) => out.extend_from_slice(if *b {
            b"{\"boolValue\":true}"
        } else {
            b"{\"boolValue\":false}"
        }),
        Value::Str(s) => {
            out.extend_from_slice(b"{\"stringValue\":");
            write_str(out, s);
            out.push(b'}');
        }
        Value::Number(n) => {
            if let Ok(i) = n.parse::<i64>() {
                out.extend_from_slice(format!("{{\"intValue\":\"{i}\"}}").as_bytes());
            } else {
                out.extend_from_slice(b"{\"doubleValue\":");
                out.extend_from_slice(n.as_bytes());
                out.push(b'}');
            }
        }
        Value::Array(items) => {
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                any_value(out, item);
            }
            out.extend_from_slice(b"]}}");
        }
        Value::Object(members) => {
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":[");
            key_values(out, members.iter().map(|(k, v)| (k.as_str(), v)));
            out.extend_from_slice(b"]}}");
        }
    }
}

/// Append `{"key":..,"value":..}` members separated by commas.
fn key_values<'a>(out: &mut Vec<u8>, kvs: impl Iterator<Item = (&'a str, &'a Value)>) {
    for (i, (k, v)) in kvs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        write_str(out, k);
        out.extend_from_slice(b",\"value\":");
        any_value(out, v);
        out.push(b'}');
    }
}

/// One log record for an event `line` (without its `\n`); its logger's name.
fn log_record(out: &mut Vec<u8>, line: &[u8], observed: u64) -> String {
    let Some(event) = json::parse(line) else {
        // Not an event line: keep it whole as the body.
        out.extend_from_slice(
            format!("{{\"observedTimeUnixNano\":\"{observed}\",\"body\":").as_bytes(),
        );
        any_value(out, &Value::Str(String::from_utf8_lossy(line).into_owned()));
        out.push(b'}');
        return String::new();
    };
    let env = Envelope::of(&event);
    let time = env.time.unwrap_or(observed);
    out.extend_from_slice(
        format!("{{\"timeUnixNano\":\"{time}\",\"observedTimeUnixNano\":\"{observed}\"").as_bytes(),
    );
    let number = env
        .severity_number
        .unwrap_or_else(|| severity_number(env.level));
    out.extend_from_slice(format!(",\"severityNumber\":{number}").as_bytes());
    if let Some(level) = env.level {
        out.extend_from_slice(b",\"severityText\":");
        write_str(out, &level.to_ascii_uppercase());
    }
    if let Some(body) = env.message {
        out.extend_from_slice(b",\"body\":");
        any_value(out, body);
    }
    for (key, member) in [("traceId", "TraceId"), ("spanId", "SpanId")] {
        if let Some(id) = event.get(member).and_then(Value::as_str) {
            out.extend_from_slice(format!(",\"{key}\":").as_bytes());
            write_str(out, id);
        }
    }
    let Value::Object(members) = &event else {
        out.push(b'}');
        return String::new();
    };
    // The fields: the members outside the envelope, and (OTel schema) inside `Attributes`.
    let mut attrs: Vec<(&str, &Value)> = Vec::new();
    for (k, v) in members {
        if env.keys.contains(&k.as_str()) {
            continue;
        }
        if let ("Attributes", Value::Object(inner)) = (k.as_str(), v) {
            attrs.extend(
                inner
                    .iter()
                    .filter(|(k, _)| k != "logger.name")
                    .map(|(k, v)| (k.as_str(), v)),
            );
        } else {
            attrs.push((k.as_str(), v));
        }
    }
    out.extend_from_slice(b",\"attributes\":[");
    key_values(out, attrs.into_iter());
    out.extend_from_slice(b"]}");
    env.logger.unwrap_or_default().to_owned()
}

/// The `ExportLogsServiceRequest` (JSON) for a batch of event `lines`.
pub fn export_request(lines: &[u8], resource: &[(String, Value)]) -> Vec<u8> {
    let observed = now_nanos();
    // Records grouped by logger, loggers in order of first appearance.
    let mut scopes: Vec<(String, Vec<u8>)> = Vec::new();
    let mut record = Vec::new();
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        record.clear();
        let logger = log_record(&mut record, line, observed);
        let records = match scopes.iter_mut().find(|(name, _)| *name == logger) {
            Some((_, records)) => records,
            None => {
                scopes.push((logger, Vec::new()));
                &mut scopes.last_mut().expect("just pushed").1
            }
        };
        if !records.is_empty() {
            records.push(b',');
        }
        records.extend_from_slice(&record);
    }
    let mut out = Vec::with_capacity(lines.len() * 2 + 256);
    out.extend_from_slice(b"{\"resourceLogs\":[{\"resource\":{\"attributes\":[");
    key_values(&mut out, resource.iter().map(|(k, v)| (k.as_str(), v)));
    out.extend_from_slice(b"]},\"scopeLogs\":[");
    for (i, (name, records)) in scopes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"scope\":{\"name\":");
        write_str(&mut out, name);
        out.extend_from_slice(b"},\"logRecords\":[");
        out.extend_from_slice(records);
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_records_grouped_by_logger() {
        let lines = concat!(
            r#"{"timestamp":"1970-01-01T00:00:01.5Z","level":"warning","logger":"a","message":"m","n":7,"f":1.5,"o":{"x":[true,null]}}"#,
            "\n",
            r#"{"timestamp":"1970-01-01T00:00:02Z","level":"info","logger":"b","message":"m2"}"#,
            "\n"
        );
        let res = vec![("service.name".to_owned(), Value::Str("svc".into()))];
        let out = export_request(lines.as_bytes(), &res);
        let v = json::parse(&out).expect("valid JSON");
        let rl = match v.get("resourceLogs") {
            Some(Value::Array(a)) => &a[0],
            _ => panic!("no resourceLogs"),
        };
        let Some(Value::Array(scopes)) = rl.get("scopeLogs") else {
            panic!()
        };
        assert_eq!(scopes.len(), 2);
        let Some(Value::Array(recs)) = scopes[0].get("logRecords") else {
            panic!()
        };
        let r = &recs[0];
        assert_eq!(
            r.get("timeUnixNano").and_then(Value::as_str),
            Some("1500000000")
        );
        assert_eq!(r.get("severityNumber"), Some(&Value::Number("13".into())));
        assert_eq!(
            r.get("severityText").and_then(Value::as_str),
            Some("WARNING")
        );
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains(r#"{"key":"n","value":{"intValue":"7"}}"#), "{s}");
        assert!(
            s.contains(r#"{"key":"f","value":{"doubleValue":1.5}}"#),
            "{s}"
        );
        assert!(s.contains(r#"{"key":"service.name","value":{"stringValue":"svc"}}"#));
    }
}
