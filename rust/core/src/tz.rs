//! Local-time UTC offsets without libc: a compact TZif (RFC 8536, v1–v4) and POSIX `TZ` string
//! reader, for local-time rotation boundaries.
//!
//! Why not `localtime_r`/`mktime`: they read `TZ` from the environment, and glibc's `tzset` races
//! with `setenv` from other threads (Python's `os.environ[...] = ...`): a use-after-free. So the
//! zone is loaded once, when the sink is created on the configuring thread (which holds the GIL,
//! so no Python thread changes the environment meanwhile), into an in-memory transition table;
//! the writer thread then only looks offsets up in it. A change of `TZ` after the sink was
//! created is not followed, on purpose.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

/// The longest TZif file we read; real ones are a few KiB.
const MAX_TZIF: u64 = 1 << 20;

/// A time zone: UTC offsets at every instant, from a transition table and a rule beyond it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    /// Transition instants (Unix seconds, ascending) and the UTC offset in force from each.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition (or always, with no transitions and no rule).
    initial: i32,
    /// The rule for instants after the last transition (the TZif footer), if any.
    rule: Option<PosixRule>,
}

impl TimeZone {
    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        TimeZone {
            transitions: Vec::new(),
            initial: 0,
            rule: None,
        }
    }

    /// The process's local zone, as the C library would pick it, read now: `TZ` if set (a
    /// `:`-prefixed or plain zone name under `$TZDIR` or `/usr/share/zoneinfo`, an absolute
    /// TZif path, or a POSIX rule such as `EST5EDT,M3.2.0,M11.1.0`), else `/etc/localtime`.
    /// An empty or unusable `TZ`, or no `/etc/localtime`, means UTC, as in glibc.
    pub fn local() -> Self {
        match std::env::var_os("TZ") {
            None => Self::from_file(Path::new("/etc/localtime")).unwrap_or_else(|_| Self::utc()),
            Some(tz) => Self::from_tz_var(&tz, std::env::var_os("TZDIR").as_deref()),
        }
    }

    /// The zone a value of the `TZ` variable names (see `local`).
    pub fn from_tz_var(tz: &OsStr, tzdir: Option<&OsStr>) -> Self {
        let Some(tz) = tz.to_str() else {
            return Self::utc();
        };
        let (name, file_only) = match tz.strip_prefix(':') {
            Some(rest) => (rest, true),
            None => (tz, false),
        };
        if name.is_empty() {
            return Self::utc();
        }
        if let Some(path) = zone_file(name, tzdir) {
            if let Ok(zone) = Self::from_file(&path) {
                return zone;
            }
        }
        if !file_only {
            if let Ok(rule) = PosixRule::parse(name) {
                return TimeZone {
                    transitions: Vec::new(),
                    initial: rule.std_offset,
                    rule: Some(rule),
                };
            }
        }
        Self::utc()
    }

    /// Read a TZif file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        use std::io::Read;
        let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut data = Vec::new();
        file.take(MAX_TZIF)
            .read_to_end(&mut data)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_tzif(&data).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parse TZif data (RFC 8536). Version 1 files use their 32-bit table; later versions the
    /// 64-bit one and the footer rule. Leap-second records are skipped.
    pub fn from_tzif(data: &[u8]) -> Result<Self, String> {
        let mut r = Reader { data, pos: 0 };
        let head = Header::read(&mut r)?;
        if head.version == 0 {
            return Self::from_block(&mut r, &head, 4);
        }
        r.skip(head.block_len(4))?;
        let head = Header::read(&mut r)?;
        let mut zone = Self::from_block(&mut r, &head, 8)?;
        // The footer: "\n" rule "\n"; an empty rule means none.
        if r.byte()? != b'\n' {
            return Err("TZif footer does not start with a newline".into());
        }
        let rest = &data[r.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("TZif footer does not end with a newline")?;
        let footer = std::str::from_utf8(&rest[..end]).map_err(|_| "TZif footer is not text")?;
        if !footer.is_empty() {
            zone.rule = Some(PosixRule::parse(footer)?);
        }
        Ok(zone)
    }

    fn from_block(r: &mut Reader<'_>, h: &Header, time_size: usize) -> Result<Self, String> {
        let mut times = Vec::with_capacity(h.timecnt);
        for _ in 0..h.timecnt {
            times.push(if time_size == 8 {
                r.i64()?
            } else {
                i64::from(r.i32()?)
            });
        }
        let mut idx = Vec::with_capacity(h.timecnt);
        for _ in 0..h.timecnt {
            idx.push(usize::from(r.byte()?));
        }
        let mut types = Vec::with_capacity(h.typecnt);
        for _ in 0..h.typecnt {
            let utoff = r.i32()?;
            r.skip(2)?; // isdst, abbreviation index
            if !(-89_999..=93_599).contains(&utoff) {
                return Err(format!("TZif offset {utoff} out of range"));
            }
            types.push(utoff);
        }
        r.skip(h.charcnt + h.leapcnt * (time_size + 4) + h.isstdcnt + h.isutcnt)?;
        if types.is_empty() {
            return Err("TZif data has no local time types".into());
        }
        let mut transitions = Vec::with_capacity(times.len());
        for (t, i) in times.into_iter().zip(idx) {
            let off = *types.get(i).ok_or("TZif transition names a missing type")?;
            if transitions.last().is_some_and(|&(prev, _)| prev >= t) {
                return Err("TZif transitions are not in ascending order".into());
            }
            transitions.push((t, off));
        }
        Ok(TimeZone {
            transitions,
            initial: types[0],
            rule: None,
        })
    }

    /// The UTC offset (seconds east) in force at Unix time `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        match self.transitions.last() {
            Some(&(last, _)) if t >= last && self.rule.is_some() => {
                self.rule.as_ref().map_or(0, |r| r.offset_at(t))
            }
            None if self.rule.is_some() => self.rule.as_ref().map_or(0, |r| r.offset_at(t)),
            _ => {
                let n = self.transitions.partition_point(|&(at, _)| at <= t);
                if n == 0 {
                    self.initial
                } else {
                    self.transitions[n - 1].1
                }
            }
        }
    }

    /// The first instant strictly after `t` at which the offset may change, if any.
    pub fn next_transition_after(&self, t: i64) -> Option<i64> {
        let n = self.transitions.partition_point(|&(at, _)| at <= t);
        if let Some(&(at, _)) = self.transitions.get(n) {
            return Some(at);
        }
        let rule = self.rule.as_ref()?;
        // Past the table: the rule's transitions, from the end of the table on.
        let from = self.transitions.last().map_or(t, |&(last, _)| t.max(last));
        rule.next_transition_after(from)
    }

    /// The first instant strictly after `secs` at which the local clock shows a multiple of
    /// `period` seconds (counted from local midnight, 1970-01-01), or jumps over one (a DST
    /// change skipping a local midnight rotates at the change).
    pub fn next_boundary(&self, secs: i64, period: i64) -> i64 {
        let index = |t: i64, off: i64| t.saturating_add(off).div_euclid(period);
        let current = index(secs, i64::from(self.offset_at(secs)));
        let mut s = secs.saturating_add(1);
        // Each round moves to the next transition; within one period there are at most a few.
        for _ in 0..64 {
            let off = i64::from(self.offset_at(s));
            let local = s.saturating_add(off);
            if index(s, off) != current || local.rem_euclid(period) == 0 {
                return s;
            }
            let candidate = (local.div_euclid(period) + 1)
                .saturating_mul(period)
                .saturating_sub(off);
            match self.next_transition_after(s) {
                Some(next) if next <= candidate => s = next,
                _ => return candidate,
            }
        }
        let off = i64::from(self.offset_at(secs));
        (index(secs, off) + 1)
            .saturating_mul(period)
            .saturating_sub(off)
    }
}

/// The file a zone name refers to: an absolute path, or a relative name (no `..`) under `tzdir`.
fn zone_file(name: &str, tzdir: Option<&OsStr>) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return Some(path.to_path_buf());
    }
    if path
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return None;
    }
    let dir = tzdir
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/usr/share/zoneinfo"), PathBuf::from);
    Some(dir.join(path))
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("TZif data is truncated")?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn skip(&mut self, n: usize) -> Result<(), String> {
        self.take(n).map(drop)
    }
    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.u32().map(|v| v as i32)
    }
    fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
}

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn read(r: &mut Reader<'_>) -> Result<Self, String> {
        if r.take(4)? != b"TZif" {
            return Err("not TZif data".into());
        }
        let version = match r.byte()? {
            0 => 0,
            v @ b'2'..=b'9' => v - b'0',
            v => return Err(format!("unknown TZif version {v}")),
        };
        r.skip(15)?;
        let mut n = [0usize; 6];
        for slot in &mut n {
            *slot = r.u32()? as usize;
        }
        Ok(Header {
            version,
            isutcnt: n[0],
            isstdcnt: n[1],
            leapcnt: n[2],
            timecnt: n[3],
            typecnt: n[4],
            charcnt: n[5],
        })
    }

    fn block_len(&self, time_size: usize) -> usize {
        self.timecnt * (time_size + 1)
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (time_size + 4)
            + self.isstdcnt
            + self.isutcnt
    }
}

/// A POSIX `TZ` rule (`std offset [dst [offset] [,start[/time],end[/time]]]`), offsets stored
/// as seconds east of UTC (the string's are west).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PosixRule {
    std_offset: i32,
    dst: Option<Dst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dst {
    offset: i32,
    start: (RuleDate, i32),
    end: (RuleDate, i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleDate {
    /// `Jn`: day 1–365, February 29 never counted.
    Julian1(i64),
    /// `n`: day 0–365, February 29 counted in leap years.
    Julian0(i64),
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    MonthWeekDay(i64, i64, i64),
}

impl PosixRule {
    fn parse(s: &str) -> Result<Self, String> {
        let bad = |what: &str| format!("TZ rule {s:?}: {what}");
        let mut p = Cursor(s.as_bytes());
        p.name().ok_or_else(|| bad("bad standard time name"))?;
        let std_offset = -p.time(false).ok_or_else(|| bad("bad standard offset"))?;
        if p.0.is_empty() {
            return Ok(PosixRule {
                std_offset,
                dst: None,
            });
        }
        p.name().ok_or_else(|| bad("bad daylight time name"))?;
        let dst_offset = match p.0.first() {
            Some(b',') | None => std_offset + 3600,
            _ => -p.time(false).ok_or_else(|| bad("bad daylight offset"))?,
        };
        // No dates given: the US rules, as glibc assumes.
        let (start, end) = if p.0.is_empty() {
            (
                (RuleDate::MonthWeekDay(3, 2, 0), 7200),
                (RuleDate::MonthWeekDay(11, 1, 0), 7200),
            )
        } else {
            p.eat(b',').ok_or_else(|| bad("expected ','"))?;
            let start = p.date_time().ok_or_else(|| bad("bad start date"))?;
            p.eat(b',').ok_or_else(|| bad("expected ','"))?;
            let end = p.date_time().ok_or_else(|| bad("bad end date"))?;
            (start, end)
        };
        if !p.0.is_empty() {
            return Err(bad("trailing characters"));
        }
        Ok(PosixRule {
            std_offset,
            dst: Some(Dst {
                offset: dst_offset,
                start,
                end,
            }),
        })
    }

    /// The DST start and end instants (Unix seconds) of `year`.
    fn year_transitions(&self, dst: &Dst, year: i64) -> (i64, i64) {
        let at = |(date, time): (RuleDate, i32), local_off: i32| {
            (date.day(year) * 86_400 + i64::from(time)) - i64::from(local_off)
        };
        (at(dst.start, self.std_offset), at(dst.end, dst.offset))
    }

    /// The rule's transitions around `t` as (instant, offset after), sorted; an end and a start
    /// at the same instant (DST all year) keep DST.
    fn events_near(&self, dst: &Dst, t: i64) -> Vec<(i64, i32)> {
        let year = civil_year(t);
        let mut ev = Vec::with_capacity(6);
        for y in year - 1..=year + 1 {
            let (start, end) = self.year_transitions(dst, y);
            ev.push((end, self.std_offset));
            ev.push((start, dst.offset));
        }
        ev.sort_by_key(|&(at, off)| (at, off == dst.offset));
        ev
    }

    fn offset_at(&self, t: i64) -> i32 {
        let Some(dst) = &self.dst else {
            return self.std_offset;
        };
        let ev = self.events_near(dst, t);
        let n = ev.partition_point(|&(at, _)| at <= t);
        if n == 0 {
            self.std_offset
        } else {
            ev[n - 1].1
        }
    }

    fn next_transition_after(&self, t: i64) -> Option<i64> {
        let dst = self.dst.as_ref()?;
        let ev = self.events_near(dst, t);
        ev.iter().map(|&(at, _)| at).find(|&at| at > t)
    }
}

impl RuleDate {
    /// Days since 1970-01-01 of this date in `year`.
    fn day(self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        match self {
            RuleDate::Julian1(n) => jan1 + n - 1 + i64::from(is_leap(year) && n >= 60),
            RuleDate::Julian0(n) => jan1 + n,
            RuleDate::MonthWeekDay(m, w, d) => {
                let first = days_from_civil(year, m, 1);
                let first_wday = (first + 4).rem_euclid(7); // 1970-01-01 was a Thursday
                let mut day = first + (d - first_wday).rem_euclid(7) + (w - 1) * 7;
                let next_month = if m == 12 {
                    days_from_civil(year + 1, 1, 1)
                } else {
                    days_from_civil(year, m + 1, 1)
                };
                while day >= next_month {
                    day -= 7;
                }
                day
            }
        }
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn eat(&mut self, b: u8) -> Option<()> {
        let (&first, rest) = self.0.split_first()?;
        (first == b).then(|| self.0 = rest)
    }

    /// A zone abbreviation: three or more letters, or anything but `>` between `<` and `>`.
    fn name(&mut self) -> Option<()> {
        if self.eat(b'<').is_some() {
            let end = self.0.iter().position(|&b| b == b'>')?;
            self.0 = &self.0[end + 1..];
            return (end >= 3).then_some(());
        }
        let len = self
            .0
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        self.0 = &self.0[len..];
        (len >= 3).then_some(())
    }

    fn number(&mut self, max: i64) -> Option<i64> {
        let len = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 3 {
            return None;
        }
        let n: i64 = std::str::from_utf8(&self.0[..len]).ok()?.parse().ok()?;
        self.0 = &self.0[len..];
        (n <= max).then_some(n)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds; rule times (RFC 8536 v3) may reach ±167 hours.
    fn time(&mut self, rule_time: bool) -> Option<i32> {
        let sign = if self.eat(b'-').is_some() {
            -1
        } else {
            let _ = self.eat(b'+');
            1
        };
        let mut secs = self.number(if rule_time { 167 } else { 24 })? * 3600;
        if self.eat(b':').is_some() {
            secs += self.number(59)? * 60;
            if self.eat(b':').is_some() {
                secs += self.number(59)?;
            }
        }
        i32::try_from(sign * secs).ok()
    }

    fn date_time(&mut self) -> Option<(RuleDate, i32)> {
        let date = if self.eat(b'J').is_some() {
            RuleDate::Julian1(self.number(365).filter(|&n| n >= 1)?)
        } else if self.eat(b'M').is_some() {
            let m = self.number(12).filter(|&m| m >= 1)?;
            self.eat(b'.')?;
            let w = self.number(5).filter(|&w| w >= 1)?;
            self.eat(b'.')?;
            RuleDate::MonthWeekDay(m, w, self.number(6)?)
        } else {
            RuleDate::Julian0(self.number(365)?)
        };
        let time = if self.eat(b'/').is_some() {
            self.time(true)?
        } else {
            7200
        };
        Some((date, time))
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (the inverse of
/// [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The UTC calendar year of Unix time `t`.
fn civil_year(t: i64) -> i64 {
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::from_file(&Path::new("/usr/share/zoneinfo").join(name)).unwrap()
    }

    fn rule(s: &str) -> TimeZone {
        let zone = TimeZone::from_tz_var(OsStr::new(s), None);
        assert!(zone.rule.is_some(), "{s:?} did not parse as a rule");
        zone
    }

    /// The offset just before and at `t`, and that `t` is found as the next transition.
    fn assert_transition(z: &TimeZone, t: i64, before: i32, after: i32) {
        assert_eq!(z.offset_at(t - 1), before, "just before {t}");
        assert_eq!(z.offset_at(t), after, "at {t}");
        assert_eq!(z.next_transition_after(t - 3600), Some(t));
    }

    #[test]
    fn new_york_dst_from_the_table_and_from_the_footer_rule() {
        let ny = zone("America/New_York");
        // 2026-03-08 07:00Z (02:00 EST → 03:00 EDT) and 2026-11-01 06:00Z (back).
        assert_transition(&ny, 1_772_953_200, -18_000, -14_400);
        assert_transition(&ny, 1_793_512_800, -14_400, -18_000);
        // 2100-03-14 07:00Z: far past any table, from the footer EST5EDT,M3.2.0,M11.1.0.
        assert_transition(&ny, 4_108_690_800, -18_000, -14_400);
        // 1960, from the table: EST in January.
        assert_eq!(ny.offset_at(-315_619_200), -18_000);
    }

    #[test]
    fn lord_howe_half_hour_dst() {
        let lh = zone("Australia/Lord_Howe");
        assert_transition(&lh, 1_775_314_800, 39_600, 37_800);
        assert_transition(&lh, 1_791_041_400, 37_800, 39_600);
        assert_transition(&lh, 3_794_742_000, 39_600, 37_800);
        assert_transition(&lh, 3_810_468_600, 37_800, 39_600);
    }

    #[test]
    fn kathmandu_and_utc_fixed_offsets() {
        let k = zone("Asia/Kathmandu");
        assert_eq!(k.offset_at(1_795_664_421), 20_700);
        assert_eq!(k.offset_at(486_432_000), 19_800); // 1985: +05:30
        assert_eq!(k.offset_at(4_102_444_800), 20_700);
        let utc = zone("UTC");
        assert_eq!(utc.offset_at(1_795_664_421), 0);
        assert_eq!(utc.next_transition_after(0), None);
    }

    /// Where a zone file has both, its transition table and its footer rule agree on every
    /// transition of the current rules (table entries are what zic computed from the same rules).
    #[test]
    fn table_and_footer_rule_agree() {
        let mut compared = 0;
        for name in [
            "America/New_York",
            "Europe/Berlin",
            "Australia/Lord_Howe",
            "Pacific/Auckland",
        ] {
            let z = zone(name);
            let rule = z.rule.clone().unwrap();
            // From 2020 on; zic may add a no-op entry (same offset) at 2038-01-19 for old readers.
            let recent: Vec<_> = z
                .transitions
                .windows(2)
                .filter(|w| w[1].0 >= 1_577_836_800 && w[1].1 != w[0].1)
                .map(|w| w[1])
                .collect();
            // A "slim" file (zic -b slim, e.g. macOS) stops its table where the rule takes over:
            // nothing to compare there.
            for &(t, off) in &recent {
                assert_eq!(rule.offset_at(t), off, "{name} at {t}");
                assert_eq!(rule.next_transition_after(t - 1), Some(t), "{name} at {t}");
                compared += 1;
            }
        }
        // This system's files are "fat" (Debian's tzdata): the comparison did happen.
        let fat = fs::metadata("/usr/share/zoneinfo/America/New_York")
            .unwrap()
            .len()
            > 2000;
        assert!(
            compared > 0 || !fat,
            "no table transitions after 2020 to compare"
        );
    }

    #[test]
    fn posix_rules() {
        // Same as the New York file.
        let ny = rule("EST5EDT,M3.2.0,M11.1.0");
        assert_transition(&ny, 1_772_953_200, -18_000, -14_400);
        // Southern hemisphere, explicit end time: Auckland 2090.
        let nz = rule("NZST-12NZDT,M9.5.0,M4.1.0/3");
        assert_transition(&nz, 3_794_738_400, 46_800, 43_200);
        assert_transition(&nz, 3_809_858_400, 43_200, 46_800);
        // Quoted numeric names and minutes.
        assert_eq!(rule("<+0545>-5:45").offset_at(0), 20_700);
        assert_eq!(rule("<-03>3").offset_at(0), -10_800);
        // DST all year (RFC 8536 example): never standard time.
        let all = rule("EST5EDT4,0/0,J365/25");
        for t in [1_767_225_600, 1_767_243_600, 1_782_864_000, 1_798_761_599] {
            assert_eq!(all.offset_at(t), -14_400, "at {t}");
        }
        // Julian days without Feb 29: J60 is March 1 in 2028 too (day 61 of the leap year).
        let j = rule("AAA0BBB,J60/0,J300/0");
        assert_transition(&j, 1_835_481_600, 0, 3600); // 2028-03-01T00:00Z
                                                       // Zero-based days count Feb 29: day 59 is Feb 29 in 2028.
        let n = rule("AAA0BBB,59/0,300/0");
        assert_transition(&n, 1_835_395_200, 0, 3600); // 2028-02-29T00:00Z
                                                       // v3 extended hours: -1 means 23:00 the previous day.
        let ext = rule("AAA0BBB,M3.2.0/-1,M11.1.0");
        assert_transition(&ext, 1_772_924_400, 0, 3600); // 2026-03-07T23:00Z
    }

    /// `TZ` values as the C library reads them; anything unusable is UTC.
    #[test]
    fn tz_variable_values() {
        let ny = zone("America/New_York");
        assert_eq!(
            TimeZone::from_tz_var(OsStr::new(":America/New_York"), None),
            ny
        );
        assert_eq!(
            TimeZone::from_tz_var(OsStr::new("America/New_York"), None),
            ny
        );
        assert_eq!(
            TimeZone::from_tz_var(OsStr::new("/usr/share/zoneinfo/America/New_York"), None),
            ny
        );
        assert_eq!(
            TimeZone::from_tz_var(
                OsStr::new("New_York"),
                Some(OsStr::new("/usr/share/zoneinfo/America"))
            ),
            ny
        );
        for utc in [
            "",
            ":",
            "garbage!",
            ":No/Such_Zone",
            "../../etc/passwd",
            "EST5EDT,M13.1.0,M1.1.0",
        ] {
            assert_eq!(
                TimeZone::from_tz_var(OsStr::new(utc), None).offset_at(1_782_864_000),
                0,
                "{utc:?}"
            );
        }
    }

    #[test]
    fn malformed_tzif_is_an_error_not_a_panic() {
        let good = fs::read("/usr/share/zoneinfo/America/New_York").unwrap();
        assert!(TimeZone::from_tzif(b"").is_err());
        assert!(TimeZone::from_tzif(b"TZif2").is_err());
        for cut in (0..good.len()).step_by(7) {
            let _ = TimeZone::from_tzif(&good[..cut]);
        }
        assert!(TimeZone::from_tzif(&good[..good.len() - 1]).is_err());
    }

    #[test]
    fn civil_calendar_helpers() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_year(-1), 1969);
        assert_eq!(civil_year(951_782_400), 2000); // 2000-02-29
        assert_eq!(civil_year(4_102_444_799), 2099);
        assert_eq!(civil_year(4_102_444_800), 2100);
    }
}
