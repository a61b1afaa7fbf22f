//! Splitting an interval of UTC instants into time classes and local days.
//!
//! Per local day the UTC instants of 00:00, 07:00, 19:00, 22:00 and the next
//! 00:00 are computed once (with jiff and the municipality's time zone), so a
//! visit is split by comparing integers, never by walking minutes. Elapsed
//! time is what counts: on the autumn DST night the day from 00:00 to 07:00
//! lasts eight hours, all of them night; in spring it lasts six.
//!
//! A boundary that falls in a DST gap is taken at the first instant after the
//! gap and one that falls in a fold at its first occurrence (jiff's
//! "compatible" disambiguation). Nordic transitions happen at 01:00 UTC,
//! inside the night class, so there this never moves a class boundary.

use super::types::Class;
use crate::calendar::{is_weekend_rate_day, Country};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Minutes since the Unix epoch (UTC), the engine's unit of time.
pub type UnixMinute = i64;

/// Truncates Unix seconds to the minute they fall in.
pub const fn minute_of(unix_seconds: i64) -> UnixMinute {
    unix_seconds.div_euclid(60)
}

/// One local day and the instants where its classes change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDay {
    pub date: Date,
    pub weekend_rate: bool,
    /// 00:00, 07:00, 19:00, 22:00 of this day and 00:00 of the next.
    pub bounds: [UnixMinute; 5],
}

impl LocalDay {
    fn new(tz: &TimeZone, country: Country, date: Date) -> Option<LocalDay> {
        let next = date.tomorrow().ok()?;
        let at = |d: Date, h: i8| -> Option<UnixMinute> {
            let ts = tz.to_timestamp(d.at(h, 0, 0, 0)).ok()?;
            Some(minute_of(ts.as_second()))
        };
        let bounds = [at(date, 0)?, at(date, 7)?, at(date, 19)?, at(date, 22)?, at(next, 0)?];
        // Zones do exist whose rules would break this (a transition skipping
        // a whole class); refusing them beats mis-classing minutes.
        if bounds.windows(2).any(|w| w[0] > w[1]) || bounds[0] == bounds[4] {
            return None;
        }
        Some(LocalDay { date, weekend_rate: is_weekend_rate_day(country, date), bounds })
    }

    /// The class-uniform pieces of the day: (start, end, class).
    fn pieces(&self) -> [(UnixMinute, UnixMinute, Class); 4] {
        let b = self.bounds;
        if self.weekend_rate {
            // One weekend piece from 07 to 22; the empty third keeps the shape.
            [(b[0], b[1], Class::Night), (b[1], b[3], Class::Weekend), (b[3], b[3], Class::Weekend), (b[3], b[4], Class::Night)]
        } else {
            [(b[0], b[1], Class::Night), (b[1], b[2], Class::Day), (b[2], b[3], Class::Evening), (b[3], b[4], Class::Night)]
        }
    }
}

/// A stretch of consecutive local days.
#[derive(Debug, Clone)]
pub struct DayTable {
    days: Vec<LocalDay>,
}

/// A piece of an interval in one class on one local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Index of the local day in the table.
    pub day: usize,
    pub class: Class,
    pub start: UnixMinute,
    pub end: UnixMinute,
}

impl Piece {
    pub fn minutes(&self) -> i64 {
        self.end - self.start
    }
}

impl DayTable {
    /// The days `first..=last`. `None` if a date or instant is out of jiff's
    /// range or the zone breaks the class boundaries.
    pub fn new(tz: &TimeZone, country: Country, first: Date, last: Date) -> Option<DayTable> {
        let mut days = Vec::new();
        let mut d = first;
        while d <= last {
            days.push(LocalDay::new(tz, country, d)?);
            d = d.tomorrow().ok()?;
        }
        if days.is_empty() {
            return None;
        }
        Some(DayTable { days })
    }

    pub fn days(&self) -> &[LocalDay] {
        &self.days
    }

    pub fn day(&self, index: usize) -> &LocalDay {
        &self.days[index]
    }

    /// The first instant of day `index` (which may be one past the end).
    pub fn start_of(&self, index: usize) -> UnixMinute {
        match self.days.get(index) {
            Some(d) => d.bounds[0],
            None => self.days.last().map_or(UnixMinute::MAX, |d| d.bounds[4]),
        }
    }

    /// The index of the local day containing minute `t`.
    pub fn day_index(&self, t: UnixMinute) -> Option<usize> {
        let first = self.days.first()?;
        let last = self.days.last()?;
        if t < first.bounds[0] || t >= last.bounds[4] {
            return None;
        }
        // Days are 1440 minutes give or take an hour, so the guess is off by
        // at most one.
        let guess = (t - first.bounds[0]) / 1440;
        let mut i = usize::try_from(guess).unwrap_or(0).min(self.days.len() - 1);
        while t < self.days[i].bounds[0] {
            i -= 1;
        }
        while t >= self.days[i].bounds[4] {
            i += 1;
        }
        Some(i)
    }

    /// Calls `f` for each class-uniform piece of `[start, end)`, in time
    /// order. Returns false (having called `f` for none) if the interval is
    /// not within the table; an empty interval has no pieces.
    pub fn split(&self, start: UnixMinute, end: UnixMinute, mut f: impl FnMut(Piece)) -> bool {
        if end <= start {
            return true;
        }
        let Some(mut i) = self.day_index(start) else {
            return false;
        };
        if self.day_index(end - 1).is_none() {
            return false;
        }
        loop {
            let day = &self.days[i];
            for (a, b, class) in day.pieces() {
                let a = a.max(start);
                let b = b.min(end);
                if a < b {
                    f(Piece { day: i, class, start: a, end: b });
                }
            }
            if end <= day.bounds[4] {
                return true;
            }
            i += 1;
        }
    }
}

/// A class-uniform piece of an interval, with its local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassSegment {
    pub date: Date,
    pub class: Class,
    pub start: Timestamp,
    pub end: Timestamp,
    pub minutes: i64,
}

/// Splits `[start, end)` (truncated to whole minutes) by local date and time
/// class. For display and one-off use; the engine uses a prepared table.
/// `None` if the dates are out of range, the interval is longer than 31
/// days or the zone breaks the boundaries.
pub fn split_interval(tz: &TimeZone, country: Country, start: Timestamp, end: Timestamp) -> Option<Vec<ClassSegment>> {
    let (s, e) = (minute_of(start.as_second()), minute_of(end.as_second()));
    if e <= s {
        return Some(Vec::new());
    }
    // Builds a table of the days spanned: keep that bounded.
    if e - s > i64::from(super::Settings::MAX_MAX_VISIT_MINUTES) {
        return None;
    }
    let first = tz.to_datetime(start).date();
    let last = tz.to_datetime(Timestamp::from_second(e.checked_mul(60)? - 1).ok()?).date();
    let table = DayTable::new(tz, country, first, last)?;
    let mut out = Vec::new();
    let mut ok = true;
    let complete = table.split(s, e, |p| {
        let ts = |m: UnixMinute| Timestamp::from_second(m * 60).ok();
        match (ts(p.start), ts(p.end)) {
            (Some(a), Some(b)) => {
                out.push(ClassSegment { date: table.day(p.day).date, class: p.class, start: a, end: b, minutes: p.minutes() })
            }
            _ => ok = false,
        }
    });
    (complete && ok).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn stockholm() -> TimeZone {
        TimeZone::get("Europe/Stockholm").expect("bundled tzdb")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp literal")
    }

    fn split(start: &str, end: &str) -> Vec<(Date, Class, i64)> {
        split_interval(&stockholm(), Country::Sweden, ts(start), ts(end))
            .expect("in range")
            .into_iter()
            .map(|s| (s.date, s.class, s.minutes))
            .collect()
    }

    #[test]
    fn weekday_across_19() {
        // Wednesday 2026-03-11, CET = UTC+1: 18:30–19:45 local.
        assert_eq!(
            split("2026-03-11T17:30:00Z", "2026-03-11T18:45:00Z"),
            vec![(date(2026, 3, 11), Class::Day, 30), (date(2026, 3, 11), Class::Evening, 45)]
        );
    }

    #[test]
    fn friday_evening_into_saturday() {
        // Friday 2026-03-13 21:00 local to Saturday 08:00 local.
        assert_eq!(
            split("2026-03-13T20:00:00Z", "2026-03-14T07:00:00Z"),
            vec![
                (date(2026, 3, 13), Class::Evening, 60),
                (date(2026, 3, 13), Class::Night, 120),
                (date(2026, 3, 14), Class::Night, 420),
                (date(2026, 3, 14), Class::Weekend, 60),
            ]
        );
    }

    #[test]
    fn spring_forward_night_is_an_hour_shorter() {
        // 2026-03-29 02:00 CET jumps to 03:00 CEST. 22:00 local on the 28th
        // (21:00 UTC) to 07:00 local on the 29th (05:00 UTC): 8 h elapsed.
        assert_eq!(
            split("2026-03-28T21:00:00Z", "2026-03-29T05:00:00Z"),
            vec![(date(2026, 3, 28), Class::Night, 120), (date(2026, 3, 29), Class::Night, 360)]
        );
    }

    #[test]
    fn fall_back_night_is_an_hour_longer() {
        // 2026-10-25 03:00 CEST falls back to 02:00 CET. 22:00 local on the
        // 24th (20:00 UTC) to 07:00 local on the 25th (06:00 UTC): 10 h.
        assert_eq!(
            split("2026-10-24T20:00:00Z", "2026-10-25T06:00:00Z"),
            vec![(date(2026, 10, 24), Class::Night, 120), (date(2026, 10, 25), Class::Night, 480)]
        );
    }

    #[test]
    fn seconds_are_truncated() {
        // 09:00:59–09:30:30 local counts as 09:00–09:30.
        assert_eq!(split("2026-03-10T08:00:59Z", "2026-03-10T08:30:30Z"), vec![(date(2026, 3, 10), Class::Day, 30)]);
    }

    #[test]
    fn empty_and_reversed() {
        assert_eq!(split("2026-03-10T08:00:00Z", "2026-03-10T08:00:00Z"), vec![]);
        assert_eq!(split("2026-03-10T09:00:00Z", "2026-03-10T08:00:00Z"), vec![]);
    }

    #[test]
    fn day_index_edges() {
        let t = DayTable::new(&stockholm(), Country::Sweden, date(2026, 10, 24), date(2026, 10, 26)).expect("table");
        let d25 = t.day(1);
        assert_eq!(d25.bounds[4] - d25.bounds[0], 25 * 60);
        assert_eq!(t.day_index(d25.bounds[0]), Some(1));
        assert_eq!(t.day_index(d25.bounds[0] - 1), Some(0));
        assert_eq!(t.day_index(d25.bounds[4] - 1), Some(1));
        assert_eq!(t.day_index(t.day(2).bounds[4]), None);
        assert_eq!(t.day_index(t.day(0).bounds[0] - 1), None);
    }
}
