//! Public holidays, computed from their rules rather than read from tables, so
//! that any year a settlement or a rate can name is covered without upkeep.
//!
//! The compensation model pays the `weekend` class on Saturdays, Sundays and
//! public holidays; in Sweden also on Midsummer Eve, Christmas Eve and New
//! Year's Eve, which are not official holidays but are treated like them in
//! collective agreements and in the municipalities' conditions.

use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};

/// The country whose holidays apply to a choice system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Country {
    #[serde(rename = "SE")]
    Sweden,
    #[serde(rename = "NO")]
    Norway,
}

/// A holiday, or an eve that Swedish compensation treats like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holiday {
    NewYearsDay,
    Epiphany,
    MaundyThursday,
    GoodFriday,
    EasterSunday,
    EasterMonday,
    MayDay,
    AscensionDay,
    Whitsunday,
    WhitMonday,
    /// Sweden's national day, 6 June.
    NationalDay,
    /// Norway's constitution day, 17 May.
    ConstitutionDay,
    MidsummerEve,
    MidsummerDay,
    AllSaintsDay,
    ChristmasEve,
    ChristmasDay,
    BoxingDay,
    NewYearsEve,
}

impl Holiday {
    /// Days that are not official public holidays but are paid like them
    /// (Swedish *aftnar*).
    pub fn is_eve(self) -> bool {
        matches!(self, Holiday::MidsummerEve | Holiday::ChristmasEve | Holiday::NewYearsEve)
    }

    /// The name in the language of the country that observes it.
    pub fn name(self, country: Country) -> &'static str {
        use Holiday::*;
        match country {
            Country::Sweden => match self {
                NewYearsDay => "nyårsdagen",
                Epiphany => "trettondedag jul",
                MaundyThursday => "skärtorsdagen",
                GoodFriday => "långfredagen",
                EasterSunday => "påskdagen",
                EasterMonday => "annandag påsk",
                MayDay => "första maj",
                AscensionDay => "Kristi himmelsfärdsdag",
                Whitsunday => "pingstdagen",
                WhitMonday => "annandag pingst",
                NationalDay => "Sveriges nationaldag",
                ConstitutionDay => "grunnlovsdagen",
                MidsummerEve => "midsommarafton",
                MidsummerDay => "midsommardagen",
                AllSaintsDay => "alla helgons dag",
                ChristmasEve => "julafton",
                ChristmasDay => "juldagen",
                BoxingDay => "annandag jul",
                NewYearsEve => "nyårsafton",
            },
            Country::Norway => match self {
                NewYearsDay => "første nyttårsdag",
                Epiphany => "hellig tre kongers dag",
                MaundyThursday => "skjærtorsdag",
                GoodFriday => "langfredag",
                EasterSunday => "første påskedag",
                EasterMonday => "andre påskedag",
                MayDay => "første mai",
                AscensionDay => "Kristi himmelfartsdag",
                Whitsunday => "første pinsedag",
                WhitMonday => "andre pinsedag",
                NationalDay => "nasjonaldag",
                ConstitutionDay => "grunnlovsdag",
                MidsummerEve => "sankthansaften",
                MidsummerDay => "sankthansdag",
                AllSaintsDay => "allehelgensdag",
                ChristmasEve => "julaften",
                ChristmasDay => "første juledag",
                BoxingDay => "andre juledag",
                NewYearsEve => "nyttårsaften",
            },
        }
    }
}

/// How a holiday's date is found in a given year.
#[derive(Clone, Copy)]
enum Rule {
    Fixed(i8, i8),
    /// Days after Easter Sunday (negative: before).
    Easter(i16),
    /// The first `Weekday` on or after the given month and day.
    WeekdayFrom(Weekday, i8, i8),
}

const SWEDEN: &[(Holiday, Rule)] = &[
    (Holiday::NewYearsDay, Rule::Fixed(1, 1)),
    (Holiday::Epiphany, Rule::Fixed(1, 6)),
    (Holiday::GoodFriday, Rule::Easter(-2)),
    (Holiday::EasterSunday, Rule::Easter(0)),
    (Holiday::EasterMonday, Rule::Easter(1)),
    (Holiday::MayDay, Rule::Fixed(5, 1)),
    (Holiday::AscensionDay, Rule::Easter(39)),
    (Holiday::Whitsunday, Rule::Easter(49)),
    (Holiday::NationalDay, Rule::Fixed(6, 6)),
    (Holiday::MidsummerEve, Rule::WeekdayFrom(Weekday::Friday, 6, 19)),
    (Holiday::MidsummerDay, Rule::WeekdayFrom(Weekday::Saturday, 6, 20)),
    (Holiday::AllSaintsDay, Rule::WeekdayFrom(Weekday::Saturday, 10, 31)),
    (Holiday::ChristmasEve, Rule::Fixed(12, 24)),
    (Holiday::ChristmasDay, Rule::Fixed(12, 25)),
    (Holiday::BoxingDay, Rule::Fixed(12, 26)),
    (Holiday::NewYearsEve, Rule::Fixed(12, 31)),
];

const NORWAY: &[(Holiday, Rule)] = &[
    (Holiday::NewYearsDay, Rule::Fixed(1, 1)),
    (Holiday::MaundyThursday, Rule::Easter(-3)),
    (Holiday::GoodFriday, Rule::Easter(-2)),
    (Holiday::EasterSunday, Rule::Easter(0)),
    (Holiday::EasterMonday, Rule::Easter(1)),
    (Holiday::MayDay, Rule::Fixed(5, 1)),
    (Holiday::ConstitutionDay, Rule::Fixed(5, 17)),
    (Holiday::AscensionDay, Rule::Easter(39)),
    (Holiday::Whitsunday, Rule::Easter(49)),
    (Holiday::WhitMonday, Rule::Easter(50)),
    (Holiday::ChristmasDay, Rule::Fixed(12, 25)),
    (Holiday::BoxingDay, Rule::Fixed(12, 26)),
];

fn rules(country: Country) -> &'static [(Holiday, Rule)] {
    match country {
        Country::Sweden => SWEDEN,
        Country::Norway => NORWAY,
    }
}

/// Easter Sunday of the Gregorian calendar (the anonymous Gregorian
/// computus of Meeus/Jones/Butcher). `None` only outside the years jiff can
/// represent.
pub fn easter_sunday(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

/// Adds a small number of days; `None` past the ends of jiff's range.
fn add_days(date: Date, days: i16) -> Option<Date> {
    let span = jiff::Span::new().try_days(days).ok()?;
    date.checked_add(span).ok()
}

fn rule_date(rule: Rule, year: i16, easter: Option<Date>) -> Option<Date> {
    match rule {
        Rule::Fixed(m, d) => Date::new(year, m, d).ok(),
        Rule::Easter(offset) => add_days(easter?, offset),
        Rule::WeekdayFrom(weekday, m, d) => {
            let first = Date::new(year, m, d).ok()?;
            let ahead = (weekday.to_monday_zero_offset() - first.weekday().to_monday_zero_offset()).rem_euclid(7);
            add_days(first, i16::from(ahead))
        }
    }
}

/// The holiday (or paid-like-a-holiday eve) falling on `date`, if any. When
/// two coincide (Ascension Day on 1 May, as in 2008), the one listed first
/// in the year wins; both mean the same for pay.
pub fn holiday(country: Country, date: Date) -> Option<Holiday> {
    let year = date.year();
    let mut easter = None;
    for &(h, rule) in rules(country) {
        if matches!(rule, Rule::Easter(_)) && easter.is_none() {
            easter = Some(easter_sunday(year));
        }
        if rule_date(rule, year, easter.flatten()) == Some(date) {
            return Some(h);
        }
    }
    None
}

/// Every holiday and eve of a year, in date order.
pub fn holidays(country: Country, year: i16) -> Vec<(Date, Holiday)> {
    let easter = easter_sunday(year);
    let mut out: Vec<(Date, Holiday)> =
        rules(country).iter().filter_map(|&(h, rule)| rule_date(rule, year, easter).map(|d| (d, h))).collect();
    out.sort();
    out
}

/// An official public holiday (a *röd dag*), not counting the eves.
pub fn is_public_holiday(country: Country, date: Date) -> bool {
    holiday(country, date).is_some_and(|h| !h.is_eve())
}

/// Whether the daytime and evening hours of `date` are paid at the `weekend`
/// rate: Saturday, Sunday, a public holiday or (Sweden) one of the eves.
pub fn is_weekend_rate_day(country: Country, date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) || holiday(country, date).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn easter_known_years() {
        assert_eq!(easter_sunday(2024), Some(date(2024, 3, 31)));
        assert_eq!(easter_sunday(2025), Some(date(2025, 4, 20)));
        assert_eq!(easter_sunday(2026), Some(date(2026, 4, 5)));
        assert_eq!(easter_sunday(2027), Some(date(2027, 3, 28)));
        // The extremes of the Gregorian cycle.
        assert_eq!(easter_sunday(1818), Some(date(1818, 3, 22)));
        assert_eq!(easter_sunday(2038), Some(date(2038, 4, 25)));
        assert_eq!(easter_sunday(2000), Some(date(2000, 4, 23)));
    }

    #[test]
    fn swedish_2026() {
        let se = Country::Sweden;
        let expect = [
            (date(2026, 1, 1), Holiday::NewYearsDay),
            (date(2026, 1, 6), Holiday::Epiphany),
            (date(2026, 4, 3), Holiday::GoodFriday),
            (date(2026, 4, 5), Holiday::EasterSunday),
            (date(2026, 4, 6), Holiday::EasterMonday),
            (date(2026, 5, 1), Holiday::MayDay),
            (date(2026, 5, 14), Holiday::AscensionDay),
            (date(2026, 5, 24), Holiday::Whitsunday),
            (date(2026, 6, 6), Holiday::NationalDay),
            (date(2026, 6, 19), Holiday::MidsummerEve),
            (date(2026, 6, 20), Holiday::MidsummerDay),
            (date(2026, 10, 31), Holiday::AllSaintsDay),
            (date(2026, 12, 24), Holiday::ChristmasEve),
            (date(2026, 12, 25), Holiday::ChristmasDay),
            (date(2026, 12, 26), Holiday::BoxingDay),
            (date(2026, 12, 31), Holiday::NewYearsEve),
        ];
        assert_eq!(holidays(se, 2026), expect.to_vec());
        for (d, h) in expect {
            assert_eq!(holiday(se, d), Some(h), "{d}");
            assert!(is_weekend_rate_day(se, d));
            assert_eq!(is_public_holiday(se, d), !h.is_eve());
        }
        assert_eq!(Holiday::MidsummerEve.name(se), "midsommarafton");
    }

    #[test]
    fn swedish_moving_days_other_years() {
        let se = Country::Sweden;
        // Midsommarafton is the Friday in 19–25 June.
        assert_eq!(holiday(se, date(2024, 6, 21)), Some(Holiday::MidsummerEve));
        assert_eq!(holiday(se, date(2025, 6, 20)), Some(Holiday::MidsummerEve));
        assert_eq!(holiday(se, date(2027, 6, 25)), Some(Holiday::MidsummerEve));
        // Alla helgons dag may fall in November.
        assert_eq!(holiday(se, date(2024, 11, 2)), Some(Holiday::AllSaintsDay));
        assert_eq!(holiday(se, date(2025, 11, 1)), Some(Holiday::AllSaintsDay));
        assert_eq!(holiday(se, date(2029, 11, 3)), Some(Holiday::AllSaintsDay));
        assert_eq!(holiday(se, date(2024, 3, 29)), Some(Holiday::GoodFriday));
        assert_eq!(holiday(se, date(2025, 5, 29)), Some(Holiday::AscensionDay));
        // Ascension Day on May Day.
        assert_eq!(holiday(se, date(2008, 5, 1)), Some(Holiday::MayDay));
        assert!(holidays(se, 2008).contains(&(date(2008, 5, 1), Holiday::AscensionDay)));
    }

    #[test]
    fn swedish_ordinary_days() {
        let se = Country::Sweden;
        // Skärtorsdag and annandag pingst are ordinary working days in Sweden.
        assert!(!is_weekend_rate_day(se, date(2026, 4, 2)));
        assert!(!is_weekend_rate_day(se, date(2026, 5, 25)));
        assert!(!is_weekend_rate_day(se, date(2026, 3, 10)));
        assert!(is_weekend_rate_day(se, date(2026, 3, 14)));
        assert!(is_weekend_rate_day(se, date(2026, 3, 15)));
        assert!(!is_public_holiday(se, date(2026, 3, 14)));
    }

    #[test]
    fn norwegian_2026() {
        let no = Country::Norway;
        let expect = [
            (date(2026, 1, 1), Holiday::NewYearsDay),
            (date(2026, 4, 2), Holiday::MaundyThursday),
            (date(2026, 4, 3), Holiday::GoodFriday),
            (date(2026, 4, 5), Holiday::EasterSunday),
            (date(2026, 4, 6), Holiday::EasterMonday),
            (date(2026, 5, 1), Holiday::MayDay),
            (date(2026, 5, 14), Holiday::AscensionDay),
            (date(2026, 5, 17), Holiday::ConstitutionDay),
            (date(2026, 5, 24), Holiday::Whitsunday),
            (date(2026, 5, 25), Holiday::WhitMonday),
            (date(2026, 12, 25), Holiday::ChristmasDay),
            (date(2026, 12, 26), Holiday::BoxingDay),
        ];
        assert_eq!(holidays(no, 2026), expect.to_vec());
        for (d, _) in expect {
            assert!(is_public_holiday(no, d));
            assert!(is_weekend_rate_day(no, d));
        }
        // The Swedish eves and national day mean nothing in Norway.
        assert!(!is_weekend_rate_day(no, date(2026, 6, 19)));
        assert!(!is_weekend_rate_day(no, date(2026, 12, 24)));
        assert!(!is_weekend_rate_day(no, date(2026, 6, 5)));
        assert_eq!(Holiday::ConstitutionDay.name(no), "grunnlovsdag");
    }

    #[test]
    fn extreme_years_do_not_panic() {
        for y in [-9999i16, -1, 0, 1, 9999] {
            let _ = holidays(Country::Sweden, y);
            let _ = holidays(Country::Norway, y);
        }
        let _ = is_weekend_rate_day(Country::Sweden, Date::MAX);
        let _ = is_weekend_rate_day(Country::Norway, Date::MIN);
    }
}
