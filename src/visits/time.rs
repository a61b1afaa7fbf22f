//! Reported times: parsing the formats of docs/visits-csv.md into UTC Unix
//! seconds, and back to the stored `YYYY-MM-DDTHH:MM:SSZ` text. Hand-rolled
//! because the import parses four or five times per row at hundreds of
//! thousands of rows per second; the time zone rules still come from jiff,
//! cached per quarter hour (every zone's transitions fall on one).
//!
//! A time without an offset is local time of the municipality. One that
//! falls in the autumn fold (it happens twice) or the spring gap (it never
//! happens) is refused with a reason, never guessed: the reporter writes it
//! with its offset instead.

use jiff::tz::{AmbiguousOffset, TimeZone};

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of `days_from_civil`).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Why a time was refused; `code` is the stable snake_case code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    pub code: &'static str,
    pub reason: String,
}

impl TimeError {
    fn format() -> Self {
        TimeError {
            code: "invalid_time",
            reason: "a time is written YYYY-MM-DD HH:MM (local time) or with an offset, e.g. 2026-03-10T08:00+01:00".into(),
        }
    }
}

/// A parsed time: the instant, and the local day number it falls on when the
/// input was local time (saves a zone lookup in the common case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub unix: i64,
    pub local_day: Option<i64>,
}

const SLOT: i64 = 900;
const CACHE: usize = 4096;

/// The municipality's time zone with the caches the parser needs.
pub struct LocalTime {
    tz: TimeZone,
    name: String,
    /// Local (naive) quarter hour -> its offset kind.
    naive: Vec<Option<(i64, AmbiguousOffset)>>,
    /// UTC quarter hour -> offset seconds.
    utc: Vec<Option<(i64, i32)>>,
}

fn two(b: &[u8], i: usize) -> Option<i64> {
    let (a, c) = (b.get(i)?, b.get(i + 1)?);
    if a.is_ascii_digit() && c.is_ascii_digit() {
        Some(i64::from(a - b'0') * 10 + i64::from(c - b'0'))
    } else {
        None
    }
}

impl LocalTime {
    pub fn new(tz: TimeZone) -> Self {
        let name = tz.iana_name().unwrap_or("local").to_string();
        LocalTime { tz, name, naive: vec![None; CACHE], utc: vec![None; CACHE] }
    }

    pub fn zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Parses `YYYY-MM-DD[T| ]HH:MM[:SS][Z|±HH[:MM]]`.
    pub fn parse(&mut self, s: &str) -> Result<Parsed, TimeError> {
        let b = s.trim().as_bytes();
        if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ' || b[10] == b't') || b[13] != b':' {
            return Err(TimeError::format());
        }
        let year = two(b, 0).zip(two(b, 2)).map(|(h, l)| h * 100 + l).ok_or_else(TimeError::format)?;
        let (month, day, hour, minute) = match (two(b, 5), two(b, 8), two(b, 11), two(b, 14)) {
            (Some(m), Some(d), Some(h), Some(mi)) => (m, d, h, mi),
            _ => return Err(TimeError::format()),
        };
        let mut i = 16;
        let mut second = 0;
        if b.get(i) == Some(&b':') {
            second = two(b, i + 1).ok_or_else(TimeError::format)?;
            i += 3;
        }
        if !(2000..=2199).contains(&year) {
            return Err(TimeError { code: "time_out_of_range", reason: format!("the year {year} is not between 2000 and 2199") });
        }
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
            return Err(TimeError { code: "invalid_time", reason: format!("{} is not a valid date and time", s.trim()) });
        }
        let days = days_from_civil(year, month, day);
        let naive = days * 86_400 + hour * 3600 + minute * 60 + second;
        let rest = &b[i..];
        let offset = match rest {
            [] => None,
            [b'Z' | b'z'] => Some(0),
            [sign @ (b'+' | b'-'), tail @ ..] => {
                let (h, m) = match tail.len() {
                    2 => (two(tail, 0), Some(0)),
                    4 => (two(tail, 0), two(tail, 2)),
                    5 if tail[2] == b':' => (two(tail, 0), two(tail, 3)),
                    _ => (None, None),
                };
                match (h, m) {
                    (Some(h), Some(m)) if h <= 18 && m <= 59 => Some(if *sign == b'-' { -(h * 3600 + m * 60) } else { h * 3600 + m * 60 }),
                    _ => return Err(TimeError::format()),
                }
            }
            _ => return Err(TimeError::format()),
        };
        match offset {
            Some(off) => Ok(Parsed { unix: naive - off, local_day: None }),
            None => {
                let off = match self.naive_offset(naive, year, month, day, hour, minute, second) {
                    AmbiguousOffset::Unambiguous { offset } => offset,
                    AmbiguousOffset::Gap { before, after } => {
                        return Err(TimeError {
                            code: "nonexistent_local_time",
                            reason: format!(
                                "{} does not exist in {} (the clocks were put forward from {} to {}); check the time or write it with its offset",
                                s.trim(),
                                self.name,
                                before,
                                after
                            ),
                        })
                    }
                    AmbiguousOffset::Fold { before, after } => {
                        return Err(TimeError {
                            code: "ambiguous_local_time",
                            reason: format!(
                                "{} happens twice in {} (the clocks were put back); write it with its offset: {} the first time, {} the second",
                                s.trim(),
                                self.name,
                                before,
                                after
                            ),
                        })
                    }
                };
                Ok(Parsed { unix: naive - i64::from(off.seconds()), local_day: Some(days) })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn naive_offset(&mut self, naive: i64, y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> AmbiguousOffset {
        let slot = naive.div_euclid(SLOT);
        let idx = slot.rem_euclid(CACHE as i64) as usize;
        if let Some((k, v)) = self.naive[idx] {
            if k == slot {
                return v;
            }
        }
        // The offset is constant within a quarter hour, so the slot's start stands for it.
        let _ = (mi, s);
        let start_min = (naive.rem_euclid(86_400) / 60) / 15 * 15;
        let dt = jiff::civil::DateTime::new(y as i16, mo as i8, d as i8, h as i8, (start_min % 60) as i8, 0, 0);
        let v = match dt {
            Ok(dt) => self.tz.to_ambiguous_timestamp(dt).offset(),
            Err(_) => AmbiguousOffset::Unambiguous { offset: jiff::tz::Offset::UTC },
        };
        self.naive[idx] = Some((slot, v));
        v
    }

    /// The local offset (seconds east of UTC) at an instant.
    pub fn offset_at(&mut self, unix: i64) -> i64 {
        let slot = unix.div_euclid(SLOT);
        let idx = slot.rem_euclid(CACHE as i64) as usize;
        if let Some((k, v)) = self.utc[idx] {
            if k == slot {
                return i64::from(v);
            }
        }
        let v = jiff::Timestamp::from_second(slot * SLOT).map(|t| self.tz.to_offset(t).seconds()).unwrap_or(0);
        self.utc[idx] = Some((slot, v));
        i64::from(v)
    }

    /// The local day number of an instant.
    pub fn local_day(&mut self, unix: i64) -> i64 {
        (unix + self.offset_at(unix)).div_euclid(86_400)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, appended to `out`.
pub fn push_stamp(out: &mut String, unix: i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let digits = [
        y / 1000 % 10,
        y / 100 % 10,
        y / 10 % 10,
        y % 10,
        -1,
        m / 10,
        m % 10,
        -1,
        d / 10,
        d % 10,
        -2,
        secs / 36_000,
        secs / 3600 % 10,
        -3,
        secs % 3600 / 600,
        secs % 3600 / 60 % 10,
        -3,
        secs % 60 / 10,
        secs % 10,
        -4,
    ];
    for v in digits {
        out.push(match v {
            -1 => '-',
            -2 => 'T',
            -3 => ':',
            -4 => 'Z',
            v => char::from(b'0' + v as u8),
        });
    }
}

pub fn stamp(unix: i64) -> String {
    let mut s = String::with_capacity(20);
    push_stamp(&mut s, unix);
    s
}

/// `YYYY-MM-DD` of a day number, appended to `out`.
pub fn push_date(out: &mut String, day: i64) {
    let (y, m, d) = civil_from_days(day);
    push_num(out, y, 4);
    out.push('-');
    push_num(out, m, 2);
    out.push('-');
    push_num(out, d, 2);
}

pub fn date(day: i64) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, day);
    s
}

/// `YYYY-MM` of a day number.
pub fn month_of_day(day: i64) -> String {
    let (y, m, _) = civil_from_days(day);
    let mut s = String::with_capacity(7);
    push_num(&mut s, y, 4);
    s.push('-');
    push_num(&mut s, m, 2);
    s
}

fn push_num(out: &mut String, v: i64, width: u32) {
    for p in (0..width).rev() {
        out.push(char::from(b'0' + (v / 10i64.pow(p) % 10) as u8));
    }
}

/// Parses the stored `YYYY-MM-DDTHH:MM:SSZ` (and `YYYY-MM-DD`, as midnight UTC).
pub fn parse_stamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = two(b, 0)? * 100 + two(b, 2)?;
    let days = days_from_civil(year, two(b, 5)?, two(b, 8)?);
    if b.len() < 19 {
        return Some(days * 86_400);
    }
    Some(days * 86_400 + two(b, 11)? * 3600 + two(b, 14)? * 60 + two(b, 17)?)
}

/// The day number of a stored `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 {
        return None;
    }
    Some(days_from_civil(two(b, 0)? * 100 + two(b, 2)?, two(b, 5)?, two(b, 8)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sthlm() -> LocalTime {
        LocalTime::new(TimeZone::get("Europe/Stockholm").unwrap())
    }

    #[test]
    fn civil_days_round_trip() {
        for z in [-1000, 0, 1, 20_522, 59, 60, 11_016, 100_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 3, 10), 20_522);
    }

    #[test]
    fn local_times_follow_the_zone() {
        let mut t = sthlm();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(stamp(t.parse("2026-03-10 08:00").unwrap().unix), "2026-03-10T07:00:00Z");
        assert_eq!(stamp(t.parse("2026-07-01T08:00:30").unwrap().unix), "2026-07-01T06:00:30Z");
        assert_eq!(t.parse("2026-03-10 08:00").unwrap().local_day, Some(20_522));
    }

    #[test]
    fn offsets_and_utc_are_taken_as_given() {
        let mut t = sthlm();
        assert_eq!(stamp(t.parse("2026-03-10T08:00Z").unwrap().unix), "2026-03-10T08:00:00Z");
        assert_eq!(stamp(t.parse("2026-03-10T08:00+01:00").unwrap().unix), "2026-03-10T07:00:00Z");
        assert_eq!(stamp(t.parse("2026-03-10T08:00:00-0130").unwrap().unix), "2026-03-10T09:30:00Z");
        assert_eq!(stamp(t.parse("2026-03-10T08:00+02").unwrap().unix), "2026-03-10T06:00:00Z");
        assert_eq!(t.parse("2026-03-10T08:00Z").unwrap().local_day, None);
    }

    #[test]
    fn the_autumn_fold_must_be_written_with_an_offset() {
        let mut t = sthlm();
        let e = t.parse("2026-10-25 02:30").unwrap_err();
        assert_eq!(e.code, "ambiguous_local_time");
        assert!(e.reason.contains("+02") && e.reason.contains("+01"), "{}", e.reason);
        // With the offset, each of the two instants can be reported; an hour apart.
        let first = t.parse("2026-10-25 02:30+02:00").unwrap().unix;
        let second = t.parse("2026-10-25 02:30+01:00").unwrap().unix;
        assert_eq!(second - first, 3600);
        // The hours around it are fine.
        assert_eq!(stamp(t.parse("2026-10-25 01:59").unwrap().unix), "2026-10-24T23:59:00Z");
        assert_eq!(stamp(t.parse("2026-10-25 03:00").unwrap().unix), "2026-10-25T02:00:00Z");
    }

    #[test]
    fn the_spring_gap_does_not_exist() {
        let mut t = sthlm();
        let e = t.parse("2026-03-29 02:15").unwrap_err();
        assert_eq!(e.code, "nonexistent_local_time");
        assert_eq!(stamp(t.parse("2026-03-29 03:00").unwrap().unix), "2026-03-29T01:00:00Z");
        assert_eq!(stamp(t.parse("2026-03-29 01:59").unwrap().unix), "2026-03-29T00:59:00Z");
    }

    #[test]
    fn bad_times_are_refused() {
        let mut t = sthlm();
        for bad in [
            "",
            "2026-03-10",
            "2026-02-30 08:00",
            "2026-03-10 24:00",
            "2026-13-01 08:00",
            "10/03/2026 08:00",
            "2026-03-10 08:00+25:00",
            "2026-03-10 08:00 CET",
        ] {
            assert!(t.parse(bad).is_err(), "{bad}");
        }
        assert_eq!(t.parse("1999-12-31 08:00").unwrap_err().code, "time_out_of_range");
        assert!(t.parse("2028-02-29 08:00").is_ok());
    }

    #[test]
    fn local_day_of_an_instant() {
        let mut t = sthlm();
        // 23:30 UTC on 31 March is 01:30 on 1 April in Stockholm (summer time).
        let u = parse_stamp("2026-03-31T23:30:00Z").unwrap();
        assert_eq!(date(t.local_day(u)), "2026-04-01");
        assert_eq!(month_of_day(t.local_day(u)), "2026-04");
        assert_eq!(parse_date("2026-04-01"), Some(t.local_day(u)));
    }
}
