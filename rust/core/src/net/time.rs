//! Timestamps for the wire formats: an event's RFC 3339 timestamp to Unix nanoseconds, and
//! Unix time to the civil date syslog's headers show.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    crate::tz::days_from_civil(y, i64::from(m), i64::from(d))
}

/// (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let (y, m, d) = crate::tz::civil_from_days(z);
    (y, m as u32, d as u32)
}

/// Unix nanoseconds of an RFC 3339 timestamp such as `2026-11-26T03:40:21.123456Z` or
/// `...+02:00`; `None` if it is not one.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut digits = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
                digits += 1;
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        nanos *= 10u64.pow(9 - digits);
    }
    let offset: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let mins = i64::from(num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?);
            if *sign == b'+' {
                -mins * 60
            } else {
                mins * 60
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec) + offset;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

/// Unix nanoseconds now.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `2026-11-26T03:40:21.123456Z` (UTC, microseconds) of Unix nanoseconds.
pub fn rfc3339_micros(nanos: u64) -> String {
    let secs = (nanos / 1_000_000_000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        nanos % 1_000_000_000 / 1000
    )
}

/// RFC 3164's `Mmm dd hh:mm:ss` (UTC) of Unix nanoseconds.
pub fn bsd_timestamp(nanos: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (nanos / 1_000_000_000) as i64;
    let (_, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{} {d:>2} {:02}:{:02}:{:02}",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        let n = parse_rfc3339("2026-11-26T03:40:21.123456Z").unwrap();
        assert_eq!(n, 1_795_664_421_123_456_000);
        assert_eq!(rfc3339_micros(n), "2026-11-26T03:40:21.123456Z");
        assert_eq!(parse_rfc3339("2026-11-26T05:40:21.123456+02:00"), Some(n));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(bsd_timestamp(n), "Nov 26 03:40:21");
        assert_eq!(bsd_timestamp(0), "Jan  1 00:00:00");
        for bad in [
            "",
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-11-26T03:40:21.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
