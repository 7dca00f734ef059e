//! UTC timestamps with microseconds, formatted once per second per thread.

use ferrolog_core::tz::civil_from_days;
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, from the realtime clock.
#[inline]
pub fn now_micros() -> i64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0 {
            // time_t and c_long are narrower than i64 on some targets.
            #[allow(clippy::unnecessary_cast)]
            return ts.tv_sec as i64 * 1_000_000 + ts.tv_nsec as i64 / 1000;
        }
    }
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// The last second formatted (per thread, owned by the caller) and its
/// `YYYY-MM-DDTHH:MM:SS` text: a clock read then only needs the fraction formatted.
#[derive(Clone, Copy)]
pub struct SecondCache {
    second: i64,
    text: [u8; 19],
}

impl Default for SecondCache {
    fn default() -> Self {
        SecondCache {
            second: i64::MIN,
            text: [0; 19],
        }
    }
}

/// Two-digit decimal pairs "00" to "99".
static PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Append `"2026-11-26T03:40:21.123456Z"` (with the quotes) for `micros` since the epoch.
#[inline]
pub fn write_rfc3339(out: &mut Vec<u8>, micros: i64, cache: &mut SecondCache) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000) as usize;
    if cache.second != secs {
        *cache = SecondCache {
            second: secs,
            text: format_second(secs),
        };
    }
    let (hi, mid, lo) = (frac / 10_000, frac / 100 % 100, frac % 100);
    let mut text = [0u8; 30];
    text[0] = b'"';
    text[1..20].copy_from_slice(&cache.text);
    text[20] = b'.';
    text[21..23].copy_from_slice(&PAIRS[2 * hi..2 * hi + 2]);
    text[23..25].copy_from_slice(&PAIRS[2 * mid..2 * mid + 2]);
    text[25..27].copy_from_slice(&PAIRS[2 * lo..2 * lo + 2]);
    text[27] = b'Z';
    text[28] = b'"';
    out.extend_from_slice(&text[..29]);
}

/// Nanoseconds since the epoch as a decimal string (OpenTelemetry's `Timestamp`).
pub fn write_unix_nanos(out: &mut Vec<u8>, micros: i64) {
    let mut buf = itoa::Buffer::new();
    out.push(b'"');
    out.extend_from_slice(buf.format(i128::from(micros) * 1000).as_bytes());
    out.push(b'"');
}

fn format_second(secs: i64) -> [u8; 19] {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let mut t = [0u8; 19];
    let y = y.clamp(0, 9999) as u32;
    t[0] = b'0' + (y / 1000) as u8;
    t[1] = b'0' + (y / 100 % 10) as u8;
    t[2] = b'0' + (y / 10 % 10) as u8;
    t[3] = b'0' + (y % 10) as u8;
    t[4] = b'-';
    two(&mut t[5..7], m as u32);
    t[7] = b'-';
    two(&mut t[8..10], d as u32);
    t[10] = b'T';
    two(&mut t[11..13], hh as u32);
    t[13] = b':';
    two(&mut t[14..16], mm as u32);
    t[16] = b':';
    two(&mut t[17..19], ss as u32);
    t
}

fn two(dst: &mut [u8], v: u32) {
    dst[0] = b'0' + (v / 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(micros: i64) -> String {
        let mut out = Vec::new();
        write_rfc3339(&mut out, micros, &mut SecondCache::default());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(fmt(0), "\"1970-01-01T00:00:00.000000Z\"");
        assert_eq!(
            fmt(1_795_664_421_123_456),
            "\"2026-11-26T03:40:21.123456Z\""
        );
        assert_eq!(fmt(951_782_400_000_001), "\"2000-02-29T00:00:00.000001Z\"");
        assert_eq!(fmt(-1), "\"1969-12-31T23:59:59.999999Z\"");
    }
}
