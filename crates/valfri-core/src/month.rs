//! A calendar month, the period of a settlement.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    year: i16,
    month: i8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a month is written YYYY-MM, e.g. 2026-03")]
pub struct MonthParseError;

impl MonthParseError {
    pub fn code(&self) -> &'static str {
        "invalid_format"
    }
}

impl Month {
    pub fn new(year: i16, month: i8) -> Result<Self, MonthParseError> {
        if !(1..=12).contains(&month) || !(1900..=9999).contains(&year) {
            return Err(MonthParseError);
        }
        Ok(Month { year, month })
    }

    pub fn of(date: Date) -> Self {
        Month { year: date.year(), month: date.month() }
    }

    pub fn year(self) -> i16 {
        self.year
    }

    pub fn month(self) -> i8 {
        self.month
    }

    pub fn first_day(self) -> Date {
        Date::constant(self.year, self.month, 1)
    }

    pub fn last_day(self) -> Date {
        self.first_day().last_of_month()
    }

    pub fn days(self) -> i8 {
        self.first_day().days_in_month()
    }

    /// The following month.
    ///
    /// Panics after 9999-12: a month outside the range `new` allows would
    /// either panic later in `first_day` or print as a string that does not
    /// parse back, so it is refused where it arises, like integer overflow.
    pub fn next(self) -> Month {
        let (year, month) = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        Month::new(year, month).expect("Month::next: there is no month after 9999-12")
    }

    /// The preceding month. Panics before 1900-01, as `next` does after 9999-12.
    pub fn prev(self) -> Month {
        let (year, month) = if self.month == 1 { (self.year - 1, 12) } else { (self.year, self.month - 1) };
        Month::new(year, month).expect("Month::prev: there is no month before 1900-01")
    }

    pub fn contains(self, date: Date) -> bool {
        date.year() == self.year && date.month() == self.month
    }

    /// Every date of the month, first to last.
    pub fn dates(self) -> impl Iterator<Item = Date> {
        let first = self.first_day();
        (0..self.days()).filter_map(move |d| first.checked_add(jiff::Span::new().days(d)).ok())
    }
}

impl FromStr for Month {
    type Err = MonthParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (y, m) = s.split_once('-').ok_or(MonthParseError)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(MonthParseError);
        }
        Month::new(y.parse().map_err(|_| MonthParseError)?, m.parse().map_err(|_| MonthParseError)?)
    }
}

impl TryFrom<String> for Month {
    type Error = MonthParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Month> for String {
    fn from(m: Month) -> String {
        m.to_string()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn m(s: &str) -> Month {
        s.parse().expect("valid month")
    }

    #[test]
    fn parses_and_prints_yyyy_mm() {
        let march = m("2026-03");
        assert_eq!((march.year(), march.month()), (2026, 3));
        assert_eq!(march.to_string(), "2026-03");
        assert_eq!(march.first_day(), date(2026, 3, 1));
        assert_eq!(march.last_day(), date(2026, 3, 31));
        for s in ["", "2026-3", "2026-13", "2026-00", "26-03", "+026-03", "2026/03", "2026-03-01", "1899-12", " 2026-03", "２０２６-03"]
        {
            assert_eq!(s.parse::<Month>(), Err(MonthParseError), "{s}");
        }
        assert_eq!(MonthParseError.code(), "invalid_format");
    }

    #[test]
    fn february_follows_the_leap_years() {
        assert_eq!(m("2024-02").days(), 29);
        assert_eq!(m("2025-02").days(), 28);
        assert_eq!(m("2000-02").days(), 29);
        assert_eq!(m("1900-02").days(), 28);
    }

    #[test]
    fn year_boundaries() {
        assert_eq!(m("2025-12").next(), m("2026-01"));
        assert_eq!(m("2026-01").prev(), m("2025-12"));
    }

    #[test]
    #[should_panic(expected = "no month after 9999-12")]
    fn no_month_after_the_last() {
        let _ = m("9999-12").next();
    }

    #[test]
    #[should_panic(expected = "no month before 1900-01")]
    fn no_month_before_the_first() {
        let _ = m("1900-01").prev();
    }

    #[test]
    fn serde_is_the_string() {
        assert_eq!(serde_json::to_string(&m("2026-03")).expect("serialises"), "\"2026-03\"");
        assert_eq!(serde_json::from_str::<Month>("\"2026-03\"").expect("valid"), m("2026-03"));
        assert!(serde_json::from_str::<Month>("\"0581-01\"").is_err());
        assert!(serde_json::from_str::<Month>("\"2026-13\"").is_err());
    }

    fn arb_month() -> impl Strategy<Value = Month> {
        (1900i16..=9999, 1i8..=12).prop_map(|(y, mo)| Month::new(y, mo).expect("in range"))
    }

    proptest! {
        #[test]
        fn next_and_prev_are_inverse(month in arb_month()) {
            if month != m("9999-12") {
                prop_assert_eq!(month.next().prev(), month);
                prop_assert!(month.next() > month);
                prop_assert_eq!(month.next().first_day(), month.last_day().tomorrow().expect("a later day"));
            }
            if month != m("1900-01") {
                prop_assert_eq!(month.prev().next(), month);
            }
        }

        #[test]
        fn dates_are_the_whole_month(month in arb_month()) {
            let dates: Vec<Date> = month.dates().collect();
            prop_assert_eq!(dates.len(), usize::try_from(month.days()).expect("positive"));
            prop_assert_eq!(dates.first().copied(), Some(month.first_day()));
            prop_assert_eq!(dates.last().copied(), Some(month.last_day()));
            prop_assert!(dates.windows(2).all(|w| w[0].tomorrow().ok() == Some(w[1])));
            prop_assert!(dates.iter().all(|&d| month.contains(d) && Month::of(d) == month));
            prop_assert!(!month.contains(month.first_day().yesterday().expect("a day before")));
        }

        #[test]
        fn string_round_trip(month in arb_month()) {
            prop_assert_eq!(month.to_string().parse::<Month>(), Ok(month));
            let json = serde_json::to_string(&month).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<Month>(&json).expect("valid"), month);
        }

        #[test]
        fn order_is_chronological(a in arb_month(), b in arb_month()) {
            prop_assert_eq!(a.cmp(&b), a.first_day().cmp(&b.first_day()));
            prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }

        #[test]
        fn parse_never_panics(s in any::<String>(), t in "[0-9+\\-]{0,8}") {
            for s in [&s, &t] {
                if let Ok(month) = s.parse::<Month>() {
                    prop_assert_eq!(&month.to_string(), s);
                }
            }
        }
    }
}
