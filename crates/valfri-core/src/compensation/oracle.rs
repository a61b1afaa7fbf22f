//! A deliberately naive reference implementation ("oracle") of the
//! compensation contract (`compensation.md`, read with the choices of
//! `docs/compensation-choices.md`) and differential property tests that
//! compare it with the engine.
//!
//! The oracle shares nothing with the engine but the input and output
//! structs. It walks every visit minute by minute and converts each minute to
//! local time with jiff; it classes the minute with a hard-coded table of
//! public holidays; it finds the rate by scanning every rate version; it walks
//! every day of the month and every assignment for the daily bases; and it
//! applies the excess rule by sorting every paid minute of a client's group
//! and taking paid quantity off the end. All arithmetic is in `i128`
//! numerators over fixed denominators; each line is rounded once.
//!
//! Run more cases by hand with `ORACLE_CASES=2000`.

use super::*;
use crate::calendar::Country;
use crate::money::Money;
use crate::month::Month;
use jiff::civil::{date, Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::num::NonZeroU32;

// ---------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------

/// Paid quantity of the time classes is counted in 1/10 000 minute.
const UNITS: i128 = 10_000;

/// Public holidays and (Sweden) the eves paid like them, as (month, day), by
/// year. Written out by hand from the calendars, not computed: Easter Sunday
/// 2024-03-31, 2025-04-20, 2026-04-05, 2027-03-28, 2028-04-16.
///
/// Sweden: nyårsdagen, trettondedag jul, långfredagen, påskdagen, annandag
/// påsk, första maj, Kristi himmelsfärdsdag, pingstdagen, nationaldagen,
/// midsommarafton (eve), midsommardagen, alla helgons dag, julafton (eve),
/// juldagen, annandag jul, nyårsafton (eve).
#[rustfmt::skip]
const SWEDEN: &[(i16, &[(i8, i8)])] = &[
    (2024, &[(1, 1), (1, 6), (3, 29), (3, 31), (4, 1), (5, 1), (5, 9), (5, 19), (6, 6), (6, 21), (6, 22), (11, 2), (12, 24), (12, 25), (12, 26), (12, 31)]),
    (2025, &[(1, 1), (1, 6), (4, 18), (4, 20), (4, 21), (5, 1), (5, 29), (6, 6), (6, 8), (6, 20), (6, 21), (11, 1), (12, 24), (12, 25), (12, 26), (12, 31)]),
    (2026, &[(1, 1), (1, 6), (4, 3), (4, 5), (4, 6), (5, 1), (5, 14), (5, 24), (6, 6), (6, 19), (6, 20), (10, 31), (12, 24), (12, 25), (12, 26), (12, 31)]),
    (2027, &[(1, 1), (1, 6), (3, 26), (3, 28), (3, 29), (5, 1), (5, 6), (5, 16), (6, 6), (6, 25), (6, 26), (11, 6), (12, 24), (12, 25), (12, 26), (12, 31)]),
    (2028, &[(1, 1), (1, 6), (4, 14), (4, 16), (4, 17), (5, 1), (5, 25), (6, 4), (6, 6), (6, 23), (6, 24), (11, 4), (12, 24), (12, 25), (12, 26), (12, 31)]),
];

/// Norway: nyttårsdag, skjærtorsdag, langfredag, 1. påskedag, 2. påskedag,
/// 1. mai, 17. mai, Kristi himmelfartsdag, 1. pinsedag, 2. pinsedag,
/// 1. juledag, 2. juledag. (2027: 2. pinsedag is 17 May.)
const NORWAY: &[(i16, &[(i8, i8)])] = &[
    (2024, &[(1, 1), (3, 28), (3, 29), (3, 31), (4, 1), (5, 1), (5, 9), (5, 17), (5, 19), (5, 20), (12, 25), (12, 26)]),
    (2025, &[(1, 1), (4, 17), (4, 18), (4, 20), (4, 21), (5, 1), (5, 17), (5, 29), (6, 8), (6, 9), (12, 25), (12, 26)]),
    (2026, &[(1, 1), (4, 2), (4, 3), (4, 5), (4, 6), (5, 1), (5, 14), (5, 17), (5, 24), (5, 25), (12, 25), (12, 26)]),
    (2027, &[(1, 1), (3, 25), (3, 26), (3, 28), (3, 29), (5, 1), (5, 6), (5, 16), (5, 17), (12, 25), (12, 26)]),
    (2028, &[(1, 1), (4, 13), (4, 14), (4, 16), (4, 17), (5, 1), (5, 17), (5, 25), (6, 4), (6, 5), (12, 25), (12, 26)]),
];

fn holiday_table(country: Country) -> &'static [(i16, &'static [(i8, i8)])] {
    match country {
        Country::Sweden => SWEDEN,
        Country::Norway => NORWAY,
    }
}

fn is_holiday(country: Country, day: Date) -> bool {
    let Some((_, days)) = holiday_table(country).iter().find(|(y, _)| *y == day.year()) else {
        panic!("the oracle's holiday table has no year {}", day.year());
    };
    days.contains(&(day.month(), day.day()))
}

/// Saturday, Sunday, a public holiday or (Sweden) one of the three eves.
fn weekend_rate_day(country: Country, day: Date) -> bool {
    matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) || is_holiday(country, day)
}

/// The time class of the minute starting at local time `t`.
fn class_at(country: Country, t: DateTime) -> Class {
    let h = t.hour();
    if !(7..22).contains(&h) {
        Class::Night
    } else if weekend_rate_day(country, t.date()) {
        Class::Weekend
    } else if h < 19 {
        Class::Day
    } else {
        Class::Evening
    }
}

fn active(from: Date, to: Option<Date>, day: Date) -> bool {
    from <= day && to.is_none_or(|t| day <= t)
}

fn floor_minute(t: i64) -> i64 {
    t.div_euclid(60) * 60
}

fn local(tz: &TimeZone, t: i64) -> DateTime {
    tz.to_datetime(Timestamp::from_second(t).expect("a representable instant"))
}

/// The rate version in force on `day`: (valid from, öre).
fn rate_on(rates: &[Rate], service: u32, zone: u32, class: Class, day: Date) -> Option<(Date, i64)> {
    rates
        .iter()
        .filter(|r| r.service == service && r.zone == zone && r.class == class && r.valid_from <= day)
        .max_by_key(|r| r.valid_from)
        .map(|r| (r.valid_from, r.amount.ore()))
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

fn reduced(num: i128, den: i128) -> Quantity {
    let g = gcd(num, den).max(1);
    Quantity { num: i64::try_from(num / g).expect("fits"), den: i64::try_from(den / g).expect("fits") }
}

/// `n / d` rounded half away from zero; `d > 0`.
fn round_half_away(n: i128, d: i128) -> i128 {
    assert!(d > 0);
    if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        -((-2 * n + d) / (2 * d))
    }
}

/// An amount in öre, or `None` when it does not fit the engine's `Money`.
fn ore(amount: i128) -> Option<i64> {
    i64::try_from(amount).ok()
}

/// (client, service, class, rate valid from, rate, quantity, amount)
type LineTuple = (u32, u32, Class, Date, i64, Quantity, i64);
/// (client, service, external id, removed minutes, their value)
type ExcessTuple = (u32, u32, u32, Quantity, i64);
/// A `no_rate` or `no_decision` flag: (client, service, visit, code, detail).
type GapFlag = (u32, u32, Option<u32>, FlagCode, FlagDetail);

#[derive(Debug, Clone, PartialEq, Eq)]
struct OracleProvider {
    /// Sorted.
    lines: Vec<LineTuple>,
    lines_total: i64,
    vat: i64,
    /// An amount (a line, a total, VAT, an excess value) does not fit in
    /// 64 bits: the engine must refuse the month.
    overflow: bool,
    /// Sorted.
    excess: Vec<ExcessTuple>,
    /// Sorted. What was not paid for want of a rate or a decision: a
    /// settlement with `no_rate` must not be approved, so these matter.
    gaps: Vec<GapFlag>,
}

struct PaidMinute {
    at: i64,
    class: Class,
    rate_from: Date,
    rate: i64,
    /// Paid quantity in 1/10 000 minute.
    units: i128,
    removed: i128,
}

struct PaidVisit {
    visit: Visit,
    group: Option<u32>,
    minutes: Vec<PaidMinute>,
}

fn oracle(input: &SettlementInput) -> Vec<OracleProvider> {
    let c = &input.context;
    let st = &c.settings;
    let tz = TimeZone::get(&st.time_zone).expect("a known time zone");
    let month = c.month;
    let days = i128::from(month.days());
    let zone_of = |client: u32| c.clients[client as usize].zone;
    let covered = |v: &Visit, day: Date| {
        c.assignments
            .iter()
            .any(|a| a.provider == v.provider && a.client == v.client && a.service == v.service && active(a.from, a.to, day))
    };
    let double_granted = |v: &Visit, day: Date| {
        c.decisions.iter().any(|d| d.client == v.client && d.service == v.service && d.double_staffing && active(d.from, d.to, day))
    };

    // (provider, client, service, class, rate valid from, rate) → numerator
    // over the class's denominator.
    type Key = (u32, u32, u32, Class, Date, i64);
    let mut sums: BTreeMap<Key, i128> = BTreeMap::new();
    let mut paid: Vec<PaidVisit> = Vec::new();
    let mut gaps: Vec<Vec<GapFlag>> = vec![Vec::new(); c.providers.len()];

    for v in &input.visits {
        let svc = st.services[v.service as usize];
        if matches!(svc.basis, Basis::Granted | Basis::PerMonth) {
            continue;
        }
        let (start, end) = (floor_minute(v.start), floor_minute(v.end));
        if end < start {
            continue;
        }
        let length = (end - start) / 60;
        if length > i64::from(st.max_visit_minutes) {
            continue;
        }
        let start_day = local(&tz, start).date();
        if !month.contains(start_day) || !covered(v, start_day) {
            continue;
        }
        let zone = zone_of(v.client);
        if svc.basis == Basis::PerUnit {
            if v.status != VisitStatus::Performed {
                continue;
            }
            let Some((from, rate)) = rate_on(&c.rates, v.service, zone, Class::Unit, start_day) else {
                let detail = FlagDetail::Rate { date: start_day, class: Class::Unit };
                gaps[v.provider as usize].push((v.client, v.service, Some(v.external_id), FlagCode::NoRate, detail));
                continue;
            };
            let n = v.quantity.map_or(1, NonZeroU32::get);
            *sums.entry((v.provider, v.client, v.service, Class::Unit, from, rate)).or_default() += i128::from(n);
            continue;
        }
        let per_minute = match v.status {
            VisitStatus::Performed => UNITS,
            VisitStatus::Missed => continue,
            VisitStatus::CancelledLate | VisitStatus::CancelledInTime => {
                let late = match v.cancelled_at {
                    Some(at) => (start - floor_minute(at)) / 60 < i64::from(st.late_cancellation_notice_minutes),
                    None => v.status == VisitStatus::CancelledLate,
                };
                if !late {
                    continue;
                }
                i128::from(st.late_cancellation_factor_bp)
            }
        };
        let staff = if v.double_staffed && double_granted(v, start_day) { 2 } else { 1 };
        let mut minutes = Vec::new();
        let mut rated = true;
        for k in 0..length {
            let at = start + 60 * k;
            let t = local(&tz, at);
            let class = class_at(st.country, t);
            let Some((rate_from, rate)) = rate_on(&c.rates, v.service, zone, class, t.date()) else {
                // Nothing to price when nothing is paid (a factor of 0).
                if per_minute > 0 {
                    let detail = FlagDetail::Rate { date: t.date(), class };
                    gaps[v.provider as usize].push((v.client, v.service, Some(v.external_id), FlagCode::NoRate, detail));
                }
                rated = false;
                break;
            };
            minutes.push(PaidMinute { at, class, rate_from, rate, units: per_minute * staff, removed: 0 });
        }
        if rated {
            paid.push(PaidVisit { visit: *v, group: svc.group, minutes });
        }
    }

    // The excess rule, per client and group, across providers.
    let mut groups: BTreeMap<(u32, u32), Vec<(usize, usize)>> = BTreeMap::new();
    for (pi, pv) in paid.iter().enumerate() {
        if let Some(g) = pv.group {
            for mi in 0..pv.minutes.len() {
                groups.entry((pv.visit.client, g)).or_default().push((pi, mi));
            }
        }
    }
    for ((client, group), mut items) in groups {
        let mut granted: i128 = 0;
        for (s, svc) in st.services.iter().enumerate() {
            if svc.basis != Basis::Performed || svc.group != Some(group) {
                continue;
            }
            let largest = c
                .decisions
                .iter()
                .filter(|d| d.client == client && d.service as usize == s && month.dates().any(|day| active(d.from, d.to, day)))
                .map(|d| d.granted_minutes_per_month)
                .max()
                .unwrap_or(0);
            granted += i128::from(largest);
        }
        let limit = granted * (UNITS + i128::from(st.excess_tolerance_bp));
        let total: i128 = items.iter().map(|&(pi, mi)| paid[pi].minutes[mi].units).sum();
        let mut excess = total - limit;
        if excess <= 0 {
            continue;
        }
        items.sort_by(|&(pa, ma), &(pb, mb)| {
            let (a, b) = (&paid[pa], &paid[pb]);
            let ka = (a.minutes[ma].at, a.visit.provider, a.visit.external_id, a.visit);
            let kb = (b.minutes[mb].at, b.visit.provider, b.visit.external_id, b.visit);
            ka.cmp(&kb).then(pa.cmp(&pb))
        });
        for &(pi, mi) in items.iter().rev() {
            if excess == 0 {
                break;
            }
            let m = &mut paid[pi].minutes[mi];
            let take = excess.min(m.units);
            m.removed = take;
            excess -= take;
        }
    }

    let np = c.providers.len();
    let mut excess_flags: Vec<Vec<ExcessTuple>> = vec![Vec::new(); np];
    for pv in &paid {
        let v = &pv.visit;
        let (mut removed, mut value) = (0i128, 0i128);
        for m in &pv.minutes {
            *sums.entry((v.provider, v.client, v.service, m.class, m.rate_from, m.rate)).or_default() += m.units - m.removed;
            removed += m.removed;
            value += m.removed * i128::from(m.rate);
        }
        if removed > 0 {
            excess_flags[v.provider as usize].push((
                v.client,
                v.service,
                v.external_id,
                reduced(removed, UNITS),
                ore(round_half_away(value, UNITS * 60)).unwrap_or(i64::MAX),
            ));
        }
    }

    // The daily bases: every provider, client, service and day.
    for p in 0..np as u32 {
        for client in 0..c.clients.len() as u32 {
            for (s, svc) in st.services.iter().enumerate() {
                let s = s as u32;
                if !matches!(svc.basis, Basis::Granted | Basis::PerMonth) {
                    continue;
                }
                let zone = zone_of(client);
                // (first day, days) without a rate, without a decision.
                let (mut no_rate, mut no_decision): (Option<(Date, u32)>, Option<(Date, u32)>) = (None, None);
                let note = |gap: &mut Option<(Date, u32)>, day: Date| {
                    let (first, n) = gap.get_or_insert((day, 0));
                    *first = (*first).min(day);
                    *n += 1;
                };
                for day in month.dates() {
                    let assigned =
                        c.assignments.iter().any(|a| a.provider == p && a.client == client && a.service == s && active(a.from, a.to, day));
                    if !assigned {
                        continue;
                    }
                    if svc.basis == Basis::Granted {
                        let Some(minutes) = c
                            .decisions
                            .iter()
                            .filter(|d| d.client == client && d.service == s && active(d.from, d.to, day))
                            .map(|d| d.granted_minutes_per_month)
                            .max()
                        else {
                            note(&mut no_decision, day);
                            continue;
                        };
                        let Some((from, rate)) = rate_on(&c.rates, s, zone, Class::Day, day) else {
                            note(&mut no_rate, day);
                            continue;
                        };
                        *sums.entry((p, client, s, Class::Granted, from, rate)).or_default() += i128::from(minutes);
                    } else {
                        let Some((from, rate)) = rate_on(&c.rates, s, zone, Class::Month, day) else {
                            note(&mut no_rate, day);
                            continue;
                        };
                        *sums.entry((p, client, s, Class::Month, from, rate)).or_default() += 1;
                    }
                }
                for (code, gap) in [(FlagCode::NoRate, no_rate), (FlagCode::NoDecision, no_decision)] {
                    if let Some((first, count)) = gap {
                        gaps[p as usize].push((client, s, None, code, FlagDetail::Days { first, count }));
                    }
                }
            }
        }
    }

    let mut out: Vec<OracleProvider> =
        (0..np).map(|_| OracleProvider { lines: vec![], lines_total: 0, vat: 0, overflow: false, excess: vec![], gaps: vec![] }).collect();
    for ((p, client, service, class, from, rate), num) in sums {
        if num == 0 {
            continue;
        }
        // (quantity denominator, denominator of quantity × rate)
        let (den, amount_den) = match class {
            Class::Day | Class::Evening | Class::Night | Class::Weekend => (UNITS, UNITS * 60),
            Class::Granted => (days, days * 60),
            Class::Month => (days, days),
            Class::Unit => (1, 1),
        };
        let amount = round_half_away(num * i128::from(rate), amount_den);
        let o = &mut out[p as usize];
        o.overflow |= ore(amount).is_none();
        o.lines.push((client, service, class, from, rate, reduced(num, den), ore(amount).unwrap_or(i64::MAX)));
    }
    for (p, o) in out.iter_mut().enumerate() {
        o.lines.sort();
        let lines_total: i128 = o.lines.iter().map(|l| i128::from(l.6)).sum();
        let vat = if c.providers[p].vat_entitled { round_half_away(lines_total * i128::from(st.vat_compensation_bp), 10_000) } else { 0 };
        let adjustments: i128 = input.adjustments.iter().filter(|a| a.provider as usize == p).map(|a| i128::from(a.amount.ore())).sum();
        o.excess = std::mem::take(&mut excess_flags[p]);
        o.excess.sort();
        o.gaps = std::mem::take(&mut gaps[p]);
        o.gaps.sort();
        o.overflow |= [lines_total, vat, adjustments, lines_total + vat + adjustments].into_iter().any(|a| ore(a).is_none())
            || o.excess.iter().any(|e| e.4 == i64::MAX);
        o.lines_total = ore(lines_total).unwrap_or(i64::MAX);
        o.vat = ore(vat).unwrap_or(i64::MAX);
    }
    out
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

fn engine_view(p: &ProviderSettlement) -> OracleProvider {
    let mut lines: Vec<LineTuple> =
        p.lines.iter().map(|l| (l.client, l.service, l.class, l.rate_valid_from, l.rate.ore(), l.quantity, l.amount.ore())).collect();
    lines.sort();
    let mut excess: Vec<ExcessTuple> = p
        .flags
        .iter()
        .filter_map(|f| match (f.code, f.detail) {
            (FlagCode::Excess, FlagDetail::Excess { minutes, amount }) => {
                Some((f.client, f.service, f.visit.expect("an excess flag names its visit"), minutes, amount.ore()))
            }
            _ => None,
        })
        .collect();
    excess.sort();
    let mut gaps: Vec<GapFlag> = p
        .flags
        .iter()
        .filter(|f| matches!(f.code, FlagCode::NoRate | FlagCode::NoDecision))
        .map(|f| (f.client, f.service, f.visit, f.code, f.detail))
        .collect();
    gaps.sort();
    OracleProvider { lines, lines_total: p.lines_total.ore(), vat: p.vat.ore(), overflow: false, excess, gaps }
}

fn check(i: &SettlementInput) -> Result<(), TestCaseError> {
    let expected = oracle(i);
    let settled = settle(i.clone());
    if expected.iter().any(|p| p.overflow) {
        prop_assert_eq!(settled.err(), Some(InputError::Overflow));
        return Ok(());
    }
    let settled = match settled {
        Ok(s) => s,
        Err(e) => return Err(TestCaseError::fail(format!("the engine refused a valid input: {e}"))),
    };
    prop_assert_eq!(settled.providers.len(), expected.len());
    for (p, (got, want)) in settled.providers.iter().zip(&expected).enumerate() {
        let got = engine_view(got);
        prop_assert_eq!(&got.lines, &want.lines, "lines of provider {}", p);
        prop_assert_eq!(got.lines_total, want.lines_total, "lines_total of provider {}", p);
        prop_assert_eq!(got.vat, want.vat, "vat of provider {}", p);
        prop_assert_eq!(&got.excess, &want.excess, "excess flags of provider {}", p);
        prop_assert_eq!(&got.gaps, &want.gaps, "no_rate and no_decision flags of provider {}", p);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// What a generated month leans towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Focus {
    General,
    Dst,
    Holidays,
    Excess,
    Daily,
    Cancellations,
    /// Time zones far from the Nordic ones: half-hour and 45-minute
    /// offsets, half-hour and two-hour DST changes, negative DST.
    Exotic,
    /// More clients, providers and visits: the engine's batches and merges.
    Scale,
}

#[derive(Debug, Clone)]
struct Scenario {
    month: Month,
    time_zone: &'static str,
    country: Country,
    services: Vec<ServiceSettings>,
    providers: Vec<bool>,
    zones: Vec<u32>,
}

fn months(focus: Focus) -> Vec<Month> {
    let mut out = Vec::new();
    // 2024-02 to 2028-11: the holiday table's years with room either side;
    // two leap Februaries.
    for y in 2024i16..=2028 {
        for m in 1i8..=12 {
            let keep = (y, m) != (2024, 1)
                && (y, m) != (2028, 12)
                && match focus {
                    Focus::Dst => m == 3 || m == 10,
                    Focus::Holidays => matches!(m, 1 | 3 | 4 | 5 | 6 | 10 | 11 | 12),
                    _ => true,
                };
            if keep {
                out.push(Month::new(y, m).expect("month"));
            }
        }
    }
    out
}

fn basis(focus: Focus) -> BoxedStrategy<Basis> {
    match focus {
        Focus::Daily => {
            prop_oneof![2 => Just(Basis::Performed), 1 => Just(Basis::PerUnit), 4 => Just(Basis::Granted), 4 => Just(Basis::PerMonth)]
                .boxed()
        }
        Focus::Excess | Focus::Dst | Focus::Cancellations => {
            prop_oneof![8 => Just(Basis::Performed), 1 => Just(Basis::PerUnit), 1 => Just(Basis::Granted)].boxed()
        }
        _ => prop_oneof![7 => Just(Basis::Performed), 2 => Just(Basis::PerUnit), 1 => Just(Basis::Granted), 1 => Just(Basis::PerMonth)]
            .boxed(),
    }
}

fn scenario(focus: Focus) -> impl Strategy<Value = Scenario> {
    let place = if focus == Focus::Exotic {
        let zones = vec![
            "America/St_Johns",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
            "Europe/Dublin",
            "Africa/Casablanca",
            "Antarctica/Troll",
            "America/Sao_Paulo",
            // DST changes at local midnight: days that start at 01:00 or
            // have two midnights.
            "America/Havana",
            "America/Santiago",
            "Asia/Beirut",
            "Australia/Adelaide",
            "UTC",
        ];
        let country = prop_oneof![Just(Country::Sweden), Just(Country::Norway)];
        (proptest::sample::select(zones), country).boxed()
    } else {
        prop_oneof![3 => Just(("Europe/Stockholm", Country::Sweden)), 2 => Just(("Europe/Oslo", Country::Norway))].boxed()
    };
    let group = prop_oneof![1 => Just(None), 3 => Just(Some(0u32)), 1 => Just(Some(1u32))];
    let services = proptest::collection::vec((basis(focus), group).prop_map(|(basis, group)| ServiceSettings { basis, group }), 1..=4);
    let providers = match focus {
        Focus::Excess => proptest::collection::vec(any::<bool>(), 2..=3).boxed(),
        Focus::Scale => proptest::collection::vec(any::<bool>(), 2..=6).boxed(),
        _ => proptest::collection::vec(any::<bool>(), 1..=3).boxed(),
    };
    let zones = match focus {
        Focus::Excess => proptest::collection::vec(0u32..3, 1..=2).boxed(),
        Focus::Scale => proptest::collection::vec(0u32..3, 4..=12).boxed(),
        // Zone 3 has no rates at all.
        _ => proptest::collection::vec(prop_oneof![10 => 0u32..3, 1 => Just(3u32)], 1..=3).boxed(),
    };
    (proptest::sample::select(months(focus)), place, services, providers, zones).prop_map(
        |(month, (time_zone, country), services, providers, zones)| Scenario { month, time_zone, country, services, providers, zones },
    )
}

/// Instants worth starting visits near: DST changes, midnights around the
/// month's ends, holidays and the class boundaries.
fn anchors(s: &Scenario, focus: Focus) -> Vec<i64> {
    let tz = TimeZone::get(s.time_zone).expect("zone");
    let at = |d: Date, h: i8| tz.to_timestamp(d.at(h, 0, 0, 0)).expect("in range").as_second();
    let first = s.month.first_day();
    let (y, m) = (s.month.year(), s.month.month());
    // Every change of offset near the month: the instant, an hour either
    // side, and the local evening before.
    let window = (at(plus_days(first, -3), 0), at(plus_days(s.month.last_day(), 4), 0));
    let mut dst = Vec::new();
    let from = Timestamp::from_second(window.0).expect("in range");
    for change in tz.following(from).take_while(|c| c.timestamp().as_second() < window.1) {
        let t = change.timestamp().as_second();
        dst.extend([t, t - 3600, t + 3600, t - 1800]);
        dst.push(at(tz.to_datetime(change.timestamp()).date().yesterday().expect("day"), 22));
    }
    let mut holidays = Vec::new();
    for d in s.month.dates().chain([first.yesterday().expect("day"), s.month.last_day().tomorrow().expect("day")]) {
        if is_holiday(s.country, d) {
            for h in [0, 7, 19, 22] {
                holidays.push(at(d, h));
            }
            holidays.push(at(d.tomorrow().expect("day"), 0));
        }
    }
    let mut plain = vec![at(first, 0), at(s.month.last_day(), 0), at(s.month.next().first_day(), 0), at(s.month.last_day(), 22)];
    for d in [1, 9, 14, 15, 16, 22, 28] {
        for h in [0, 7, 19, 22] {
            plain.push(at(date(y, m, d), h));
        }
    }
    match focus {
        Focus::Dst if !dst.is_empty() => dst,
        Focus::Holidays if !holidays.is_empty() => holidays,
        _ => {
            plain.extend(dst);
            plain.extend(holidays);
            plain
        }
    }
}

fn status(focus: Focus) -> BoxedStrategy<VisitStatus> {
    let w = if focus == Focus::Cancellations { 4 } else { 1 };
    prop_oneof![
        6 => Just(VisitStatus::Performed),
        w => Just(VisitStatus::CancelledLate),
        w => Just(VisitStatus::CancelledInTime),
        1 => Just(VisitStatus::Missed),
    ]
    .boxed()
}

/// Raw parameters of one visit, turned into a `Visit` once the scenario's
/// anchors are known.
type RawVisit = (
    (u32, u32, u32, u32),         // client, provider, service, external id
    (usize, bool, i64, i64, i64), // anchor, anchored?, offset far, offset near, length
    Option<(i64, i64, i64)>,      // seconds added to start, end and cancellation
    VisitStatus,
    bool,        // double staffed
    Option<i64>, // notice in minutes
    Option<u32>, // quantity
    Option<u8>,  // a copy of the visit before, changed so
);

fn raw_visit(focus: Focus, s: &Scenario) -> impl Strategy<Value = RawVisit> {
    let (nc, np, ns) = (s.zones.len() as u32, s.providers.len() as u32, s.services.len() as u32);
    let ext: u32 = if focus == Focus::Excess { 4 } else { 12 };
    let near = match focus {
        Focus::Excess => -90i64..90,
        Focus::Dst => -600i64..600,
        _ => -360i64..360,
    };
    let length = match focus {
        Focus::Dst => prop_oneof![8 => 0i64..720, 1 => -30i64..0, 1 => 720i64..3000].boxed(),
        // -1000: exactly the longest allowed; -1001: a minute longer.
        _ => prop_oneof![12 => 0i64..300, 1 => -60i64..0, 2 => 300i64..3100, 1 => 0i64..2, 1 => -1001i64..=-1000, 1 => 3_100i64..44_700]
            .boxed(),
    };
    let anchored = match focus {
        Focus::General | Focus::Daily => prop_oneof![1 => Just(false), 1 => Just(true)].boxed(),
        Focus::Excess => prop_oneof![2 => Just(false), 1 => Just(true)].boxed(),
        _ => prop_oneof![1 => Just(false), 4 => Just(true)].boxed(),
    };
    let notice =
        // -1002..=-1000: the notice setting, one minute more or less.
        prop_oneof![3 => Just(None), 2 => (-120i64..3000).prop_map(Some), 1 => Just(Some(1440)), 1 => (-1002i64..=-1000).prop_map(Some)];
    (
        (0..nc, 0..np, 0..ns, 0..ext),
        (0usize..10_000, anchored, -3 * 1440i64..34 * 1440, near, length),
        prop_oneof![4 => Just(None), 1 => (0i64..60, 0i64..60, 0i64..60).prop_map(Some)],
        status(focus),
        prop_oneof![3 => Just(false), 1 => Just(true)],
        notice,
        proptest::option::of(1u32..5),
        prop_oneof![6 => Just(None), 1 => (0u8..5).prop_map(Some)],
    )
}

/// A rate for every service, zone and class, most from long before the
/// month, some from within it (a gap before), some missing.
type RateSlot = (bool, u8, i64, i64); // present, start kind, start day, amount

fn rate_slot() -> impl Strategy<Value = RateSlot> {
    (
        prop_oneof![40 => Just(true), 1 => Just(false)],
        prop_oneof![12 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8)],
        1i64..29,
        // Now and then an absurd rate (up to 10 000 M kr an hour, the engine's bound): the products
        // of quantities and rates must not overflow.
        prop_oneof![40 => 1i64..100_000, 2 => Just(0i64), 4 => Just(42_601i64), 1 => 1_000_000_000i64..=1_000_000_000_000],
    )
}

const RATE_CLASSES: [Class; 6] = [Class::Day, Class::Evening, Class::Night, Class::Weekend, Class::Unit, Class::Month];

fn settings_knobs(focus: Focus) -> impl Strategy<Value = (u32, u32, u32, u32, u32)> {
    let tolerance = match focus {
        Focus::Excess => prop_oneof![2 => Just(0u32), 1 => Just(1_000u32), 2 => 0u32..2_000].boxed(),
        _ => prop_oneof![2 => Just(0u32), 4 => Just(1_000u32), 2 => 0u32..5_000, 1 => 0u32..=1_000_000].boxed(),
    };
    (
        tolerance,
        prop_oneof![6 => Just(10_000u32), 2 => Just(5_000u32), 4 => 0u32..=10_000, 1 => Just(0u32)],
        prop_oneof![8 => Just(1_440u32), 2 => 0u32..3_000, 1 => Just(0u32)],
        prop_oneof![6 => Just(600u32), 2 => 0u32..=10_000, 1 => Just(10_000u32)],
        prop_oneof![8 => Just(2_880u32), 2 => 30u32..3_000, 1 => Just(0u32), 1 => Just(Settings::MAX_MAX_VISIT_MINUTES)],
    )
}

fn generated(focus: Focus) -> impl Strategy<Value = SettlementInput> {
    scenario(focus)
        .prop_flat_map(move |s| {
            let (nc, np, ns) = (s.zones.len() as u32, s.providers.len() as u32, s.services.len() as u32);
            let minutes = match focus {
                Focus::Excess => prop_oneof![4 => 0u32..400, 1 => 0u32..2_000].boxed(),
                _ => prop_oneof![6 => 0u32..400, 6 => 0u32..3_000, 2 => Just(100_000u32), 1 => Just(u32::MAX)].boxed(),
            };
            let decision = (
                (0..nc, 0..ns),
                -40i64..35,
                prop_oneof![3 => Just(None), 3 => (0i64..45).prop_map(Some), 1 => (-3i64..0).prop_map(Some)],
                minutes,
                prop_oneof![2 => Just(false), 1 => Just(true)],
            );
            let decisions = proptest::collection::vec(decision, 0..10);
            // Per provider, client and service: none, the whole month, a part of
            // it, or up to a day of it; then a few extra ones (overlaps, switches).
            let assignment_slot = (prop_oneof![1 => Just(0u8), 8 => Just(1u8), 2 => Just(2u8), 1 => Just(3u8)], 0i64..31, 0i64..25);
            let slots = proptest::collection::vec(assignment_slot, (nc * np * ns) as usize);
            // A length below zero: an assignment that ends before it starts.
            let extra = proptest::collection::vec(((0..np, 0..nc, 0..ns), -5i64..35, proptest::option::of(-2i64..20)), 0..4);
            let switches = proptest::collection::vec(((0..nc, 0..ns, 0..np, 0..np), 1i64..29, any::<bool>()), 0..3);
            let rates = proptest::collection::vec(rate_slot(), (ns * 3 * 6) as usize);
            // -100: the first of the next month.
            let change_day = prop_oneof![2 => -3i64..36, 1 => Just(-100i64), 1 => proptest::sample::select(vec![0i64, 14, 15, 21])];
            let extra_rates = proptest::collection::vec(((0..ns, 0u32..3, 0usize..6), change_day, 0i64..100_000), 0..6);
            let visits = if focus == Focus::Scale { 100..300 } else { 0..40 };
            let visits = proptest::collection::vec(raw_visit(focus, &s), visits);
            (Just(s), decisions, (slots, extra, switches), (rates, extra_rates), visits, settings_knobs(focus))
        })
        .prop_map(move |(s, decisions, (slots, extra, switches), (rates, extra_rates), visits, knobs)| {
            build(focus, s, decisions, (slots, extra, switches), (rates, extra_rates), visits, knobs)
        })
}

type RawDecision = ((u32, u32), i64, Option<i64>, u32, bool);
type RawAssignments = (Vec<(u8, i64, i64)>, Vec<((u32, u32, u32), i64, Option<i64>)>, Vec<((u32, u32, u32, u32), i64, bool)>);
type RawRates = (Vec<RateSlot>, Vec<((u32, u32, usize), i64, i64)>);

fn plus_days(d: Date, n: i64) -> Date {
    d.checked_add(jiff::Span::new().days(n)).expect("in range")
}

fn build(
    focus: Focus,
    s: Scenario,
    decisions: Vec<RawDecision>,
    (slots, extra, switches): RawAssignments,
    (rate_slots, extra_rates): RawRates,
    visits: Vec<RawVisit>,
    (tolerance, factor, notice_setting, vat, max): (u32, u32, u32, u32, u32),
) -> SettlementInput {
    let first = s.month.first_day();
    let (nc, np, ns) = (s.zones.len(), s.providers.len(), s.services.len());
    let anchors = anchors(&s, focus);
    let tz = TimeZone::get(s.time_zone).expect("zone");
    let month_start = tz.to_timestamp(first.at(0, 0, 0, 0)).expect("in range").as_second();

    // Rates: no two versions of a key on the same date.
    let mut by_key: BTreeMap<(u32, u32, Class, Date), i64> = BTreeMap::new();
    let mut k = 0;
    for service in 0..ns as u32 {
        for zone in 0..3u32 {
            for class in RATE_CLASSES {
                let (present, kind, day, amount) = rate_slots[k];
                k += 1;
                if !present {
                    continue;
                }
                let from = match kind {
                    0 => date(2024, 1, 1),
                    1 => first,
                    _ => plus_days(first, day),
                };
                by_key.entry((service, zone, class, from)).or_insert(amount);
            }
        }
    }
    for ((service, zone, class), day, amount) in extra_rates {
        let day = if day == -100 { i64::from(s.month.days()) } else { day };
        by_key.entry((service, zone, RATE_CLASSES[class], plus_days(first, day))).or_insert(amount);
    }
    let rates = by_key
        .into_iter()
        .map(|((service, zone, class, valid_from), amount)| Rate { service, zone, class, valid_from, amount: Money::from_ore(amount) })
        .collect();

    let decisions = decisions
        .into_iter()
        .map(|((client, service), from, len, granted_minutes_per_month, double_staffing)| {
            let from = plus_days(first, from);
            Decision { client, service, from, to: len.map(|l| plus_days(from, l)), granted_minutes_per_month, double_staffing }
        })
        .collect();

    let mut assignments = Vec::new();
    let mut k = 0;
    for provider in 0..np as u32 {
        for client in 0..nc as u32 {
            for service in 0..ns as u32 {
                let (kind, a, b) = slots[k];
                k += 1;
                let (from, to) = match kind {
                    0 => continue,
                    1 => (date(2024, 6, 1), None),
                    2 => (plus_days(first, a), Some(plus_days(first, a + b))),
                    _ => (date(2024, 6, 1), Some(plus_days(first, a))),
                };
                assignments.push(Assignment { client, service, provider, from, to });
            }
        }
    }
    for ((provider, client, service), from, len) in extra {
        let from = plus_days(first, from);
        assignments.push(Assignment { client, service, provider, from, to: len.map(|l| plus_days(from, l)) });
    }
    // A switch from one provider to another in the middle of the month,
    // with or without a shared day.
    for ((client, service, a, b), day, overlap) in switches {
        let to = plus_days(first, day);
        let from = if overlap { to } else { plus_days(to, 1) };
        assignments.retain(|x| !(x.client == client && x.service == service));
        assignments.push(Assignment { client, service, provider: a, from: date(2024, 6, 1), to: Some(to) });
        assignments.push(Assignment { client, service, provider: b, from, to: None });
    }

    let mut out: Vec<Visit> = Vec::new();
    for (who, (anchor, anchored, far, near, length), seconds, status, double_staffed, notice, quantity, copy) in visits {
        let (client, provider, service, external_id) = who;
        let start = if anchored && !anchors.is_empty() { anchors[anchor % anchors.len()] + near * 60 } else { month_start + far * 60 };
        let length = match length {
            -1000 => i64::from(max),
            -1001 => i64::from(max) + 1,
            l => l,
        };
        let notice = notice.map(|n| match n {
            -1000 => i64::from(notice_setting),
            -1001 => i64::from(notice_setting) - 1,
            -1002 => i64::from(notice_setting) + 1,
            n => n,
        });
        let (ss, es, cs) = seconds.unwrap_or((0, 0, 0));
        let mut v = Visit {
            client,
            start: start + ss,
            provider,
            external_id,
            service,
            end: start + length * 60 + es,
            status,
            double_staffed,
            cancelled_at: notice.map(|n| start - n * 60 + cs),
            quantity: quantity.and_then(NonZeroU32::new),
        };
        // Exact and near duplicates: the tie orders of the excess rule.
        if let (Some(kind), Some(&before)) = (copy, out.last()) {
            let keep = v;
            v = before;
            match kind {
                0 => {}
                1 => v.service = keep.service,
                2 => v.end = keep.end.max(v.start),
                3 => v.start = floor_minute(v.start) + keep.start.rem_euclid(60),
                _ => v.provider = keep.provider,
            }
        }
        out.push(v);
    }
    let visits = out;

    let mut settings = Settings::with_defaults(s.time_zone, s.country, s.services.clone());
    settings.excess_tolerance_bp = tolerance;
    settings.late_cancellation_factor_bp = factor;
    settings.late_cancellation_notice_minutes = notice_setting;
    settings.vat_compensation_bp = vat;
    settings.max_visit_minutes = max;
    SettlementInput {
        context: SettlementContext {
            month: s.month,
            settings,
            providers: s.providers.iter().map(|&vat_entitled| ProviderInfo { vat_entitled }).collect(),
            clients: s.zones.iter().map(|&zone| ClientInfo { zone }).collect(),
            rates,
            decisions,
            assignments,
        },
        visits,
        adjustments: vec![Adjustment {
            provider: 0,
            amount: Money::from_ore(-1_234),
            reason: "not in the VAT base".into(),
            author: "oracle".into(),
            corrects: None,
        }],
    }
}

/// The number of cases: `ORACLE_CASES` when set.
fn cases(default: u32) -> u32 {
    std::env::var("ORACLE_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn config(default: u32) -> ProptestConfig {
    // No regression files: shrunk failures are printed and written down by hand.
    ProptestConfig { cases: cases(default), failure_persistence: None, ..ProptestConfig::default() }
}

/// What the generators produce and why visits go unpaid: for tuning them.
/// `cargo test -p valfri-core --lib oracle::generator_stats -- --ignored --nocapture`
#[test]
#[ignore = "a diagnostic, not a check"]
fn generator_stats() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    for focus in
        [Focus::General, Focus::Dst, Focus::Holidays, Focus::Excess, Focus::Daily, Focus::Cancellations, Focus::Exotic, Focus::Scale]
    {
        let mut runner = TestRunner::deterministic();
        let (mut lines, mut excess, mut visits, mut classes) = (0, 0, 0, BTreeMap::<Class, usize>::new());
        for _ in 0..200 {
            let i = generated(focus).new_tree(&mut runner).expect("tree").current();
            visits += i.visits.len();
            for p in oracle(&i) {
                lines += p.lines.len();
                excess += p.excess.len();
                for l in &p.lines {
                    *classes.entry(l.2).or_default() += 1;
                }
            }
        }
        eprintln!("{focus:?}: visits {visits} lines {lines} excess {excess} {classes:?}");
        let mut runner = TestRunner::deterministic();
        let mut why = BTreeMap::<&str, usize>::new();
        for _ in 0..100 {
            let i = generated(focus).new_tree(&mut runner).expect("tree").current();
            let c = &i.context;
            let tz = TimeZone::get(&c.settings.time_zone).expect("tz");
            for v in &i.visits {
                let svc = c.settings.services[v.service as usize];
                let (st, en) = (floor_minute(v.start), floor_minute(v.end));
                let d = local(&tz, st).date();
                let reason = if svc.basis != Basis::Performed {
                    "not performed basis"
                } else if en < st {
                    "invalid"
                } else if (en - st) / 60 > i64::from(c.settings.max_visit_minutes) {
                    "too long"
                } else if !c.month.contains(d) {
                    "not in month"
                } else if !c
                    .assignments
                    .iter()
                    .any(|a| a.provider == v.provider && a.client == v.client && a.service == v.service && active(a.from, a.to, d))
                {
                    "not covered"
                } else {
                    let mut j = i.clone();
                    j.visits = vec![*v];
                    for s in &mut j.context.settings.services {
                        s.group = None;
                    }
                    if oracle(&j).iter().any(|p| p.lines.iter().any(|l| l.2.is_time())) {
                        "paid"
                    } else if en == st {
                        "zero"
                    } else {
                        "status/no rate"
                    }
                };
                *why.entry(reason).or_default() += 1;
            }
        }
        eprintln!("   {why:?}");
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn engine_equals_oracle(i in generated(Focus::General)) {
        check(&i)?;
    }

    #[test]
    fn engine_equals_oracle_across_dst(i in generated(Focus::Dst)) {
        check(&i)?;
    }

    #[test]
    fn engine_equals_oracle_around_holidays(i in generated(Focus::Holidays)) {
        check(&i)?;
    }

    #[test]
    fn engine_equals_oracle_on_the_excess_rule(i in generated(Focus::Excess)) {
        check(&i)?;
    }

    #[test]
    fn engine_equals_oracle_on_the_daily_bases(i in generated(Focus::Daily)) {
        check(&i)?;
    }

    #[test]
    fn engine_equals_oracle_on_cancellations(i in generated(Focus::Cancellations)) {
        check(&i)?;
    }

    #[test]
    fn engine_equals_oracle_in_exotic_time_zones(i in generated(Focus::Exotic)) {
        check(&i)?;
    }

    #[test]
    fn engine_equals_oracle_at_a_larger_scale(i in generated(Focus::Scale)) {
        check(&i)?;
    }

    /// The months of the engine's own property tests (the fixture's rates
    /// and services).
    #[test]
    fn engine_equals_oracle_on_fixture_months(i in super::proptests::month_input()) {
        check(&i)?;
    }
}

// ---------------------------------------------------------------------------
// The oracle against hand computations, and its holiday table against the
// weekdays some holidays must fall on.
// ---------------------------------------------------------------------------

/// Every day of 2024-02 to 2028-11 in both countries, whole local days
/// (23, 24 or 25 hours), one month per settlement and one client per day:
/// the engine's calendar and classes against the oracle's table, day by
/// day. A wrong holiday moves minutes between the day, evening and weekend
/// lines of that day's client.
#[test]
fn engine_equals_oracle_on_every_day_of_five_years() {
    for (zone, country) in [("Europe/Stockholm", Country::Sweden), ("Europe/Oslo", Country::Norway)] {
        let tz = TimeZone::get(zone).expect("zone");
        let mut month = Month::new(2024, 2).expect("month");
        while month <= Month::new(2028, 11).expect("month") {
            let service = ServiceSettings { basis: Basis::Performed, group: None };
            let rates = [(Class::Day, 40_000), (Class::Evening, 50_000), (Class::Night, 60_000), (Class::Weekend, 70_000)]
                .into_iter()
                .map(|(class, ore)| Rate { service: 0, zone: 0, class, valid_from: date(2024, 1, 1), amount: Money::from_ore(ore) })
                .collect();
            let midnight = |d: Date| tz.to_timestamp(d.at(0, 0, 0, 0)).expect("in range").as_second();
            let visits = month
                .dates()
                .enumerate()
                .map(|(k, d)| Visit {
                    client: k as u32,
                    start: midnight(d),
                    provider: 0,
                    external_id: k as u32,
                    service: 0,
                    end: midnight(d.tomorrow().expect("day")),
                    status: VisitStatus::Performed,
                    double_staffed: false,
                    cancelled_at: None,
                    quantity: None,
                })
                .collect();
            let i = SettlementInput {
                context: SettlementContext {
                    month,
                    settings: Settings::with_defaults(zone, country, vec![service]),
                    providers: vec![ProviderInfo { vat_entitled: true }],
                    clients: month.dates().map(|_| ClientInfo { zone: 0 }).collect(),
                    rates,
                    decisions: vec![],
                    assignments: (0..month.days() as u32)
                        .map(|client| Assignment { client, service: 0, provider: 0, from: date(2024, 1, 1), to: None })
                        .collect(),
                },
                visits,
                adjustments: vec![],
            };
            if let Err(e) = check(&i) {
                panic!("{zone} {month}: {e}");
            }
            month = month.next();
        }
    }
}

#[test]
fn holiday_table_is_plausible() {
    for (table, country) in [(SWEDEN, Country::Sweden), (NORWAY, Country::Norway)] {
        for &(y, days) in table {
            let on = |m, d| date(y, m, d);
            let easter = days.iter().map(|&(m, d)| on(m, d)).find(|d| d.weekday() == Weekday::Sunday && d.month() <= 4).expect("easter");
            assert!(is_holiday(country, plus_days(easter, -2)), "good friday {y}");
            assert!(is_holiday(country, plus_days(easter, 1)), "easter monday {y}");
            assert!(is_holiday(country, plus_days(easter, 39)), "ascension {y}");
            assert_eq!(plus_days(easter, 39).weekday(), Weekday::Thursday);
            assert!(is_holiday(country, plus_days(easter, 49)), "pentecost {y}");
            if country == Country::Sweden {
                let eve =
                    days.iter().map(|&(m, d)| on(m, d)).find(|d| d.month() == 6 && (19..=25).contains(&d.day())).expect("midsummer eve");
                assert_eq!(eve.weekday(), Weekday::Friday, "{eve}");
                assert!(is_holiday(country, eve.tomorrow().expect("day")));
                let all_saints =
                    days.iter().map(|&(m, d)| on(m, d)).find(|d| d.month() >= 10 && d.weekday() == Weekday::Saturday).expect("all saints");
                assert!(all_saints >= on(10, 31) && all_saints <= on(11, 6), "{all_saints}");
                assert_eq!(days.len(), 16);
            } else {
                assert!(is_holiday(country, plus_days(easter, -3)), "maundy thursday {y}");
                assert!(is_holiday(country, plus_days(easter, 50)), "whit monday {y}");
                assert!(is_holiday(country, on(5, 17)));
            }
        }
    }
}

#[test]
fn oracle_agrees_with_hand_computations() {
    use super::tests::{input, visit, C0, C1, CARE, P0, P1};
    let jan1 = date(2026, 1, 1);
    let m = |n| Quantity { num: n, den: 1 };

    // DST fall back: 22:00 CEST to 08:00 CET is 660 elapsed minutes:
    // 600 night (60 000) + 60 weekend (55 000).
    let mut i = input("2026-10");
    i.visits.push(visit(P0, C0, CARE, 1, "2026-10-24T22:00", "2026-10-25T08:00"));
    let o = oracle(&i);
    assert_eq!(
        o[0].lines,
        vec![(C0, CARE, Class::Night, jan1, 60_000, m(600), 600_000), (C0, CARE, Class::Weekend, jan1, 55_000, m(60), 55_000)]
    );

    // DST spring forward: 480 night + 60 weekend.
    let mut i = input("2026-03");
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-28T22:00", "2026-03-29T08:00"));
    assert_eq!(
        oracle(&i)[0].lines,
        vec![(C0, CARE, Class::Night, jan1, 60_000, m(480), 480_000), (C0, CARE, Class::Weekend, jan1, 55_000, m(60), 55_000)]
    );

    // Good Friday 18:00–20:00 is weekend; Maundy Thursday 60 day + 60
    // evening; zone 1 on a Tuesday at 50 670.
    let mut i = input("2026-04");
    i.visits.push(visit(P1, C0, CARE, 1, "2026-04-03T18:00", "2026-04-03T20:00"));
    i.visits.push(visit(P1, C0, CARE, 2, "2026-04-02T18:00", "2026-04-02T20:00"));
    i.visits.push(visit(P1, C1, CARE, 3, "2026-04-07T09:00", "2026-04-07T09:30"));
    let o = oracle(&i);
    assert_eq!(
        o[1].lines,
        vec![
            (C0, CARE, Class::Day, jan1, 42_600, m(60), 42_600),
            (C0, CARE, Class::Evening, jan1, 51_000, m(60), 51_000),
            (C0, CARE, Class::Weekend, jan1, 55_000, m(120), 110_000),
            // 30 × 50 670 / 60 = 25 335
            (C1, CARE, Class::Day, jan1, 50_670, m(30), 25_335),
        ]
    );
    // 228 935 × 6 % = 13 736.1 → 13 736
    assert_eq!(o[1].lines_total, 228_935);
    assert_eq!(o[1].vat, 13_736);
    assert!(o[0].lines.is_empty());

    // Excess with a fraction: granted 95, tolerance 10 %, 106 minutes paid:
    // 104.5 kept (209/2 × 42 600 / 60 = 74 195), 1.5 removed, worth
    // 3/2 × 42 600 / 60 = 1 065.
    let mut i = input("2026-03");
    i.context.decisions.retain(|d| !(d.client == C0 && d.service == CARE));
    i.context.decisions.push(super::tests::decision(C0, CARE, 95));
    i.context.decisions.retain(|d| !(d.client == C0 && d.service == super::tests::TASKS));
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:46"));
    let o = oracle(&i);
    assert_eq!(o[0].lines, vec![(C0, CARE, Class::Day, jan1, 42_600, Quantity { num: 209, den: 2 }, 74_195)]);
    assert_eq!(o[0].excess, vec![(C0, CARE, 1, Quantity { num: 3, den: 2 }, 1_065)]);
}
