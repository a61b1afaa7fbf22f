//! Hand-computed settlements. Every expected amount shows its arithmetic;
//! rates are in öre per hour (per unit, per month), times are local
//! Europe/Stockholm unless written with `Z`.

use super::*;
use crate::calendar::Country;
use crate::money::Money;
use crate::month::Month;
use jiff::civil::{date, Date};
use jiff::tz::TimeZone;
use std::num::NonZeroU32;

pub(super) const CARE: u32 = 0; // personal care, performed, group 0
pub(super) const TASKS: u32 = 1; // service tasks, performed, group 0
pub(super) const MEALS: u32 = 2; // per unit
pub(super) const PATROL: u32 = 3; // night patrol, per unit
pub(super) const ALARM: u32 = 4; // safety alarm, per month
pub(super) const GRANTED: u32 = 5; // home care paid by granted time
pub(super) const ESCORT: u32 = 6; // performed, no group

pub(super) const P0: u32 = 0; // not VAT entitled (municipal)
pub(super) const P1: u32 = 1; // VAT entitled (private)

pub(super) const C0: u32 = 0; // zone 0 (town)
pub(super) const C1: u32 = 1; // zone 1 (rural)

pub(super) fn services() -> Vec<ServiceSettings> {
    use Basis::*;
    vec![
        ServiceSettings { basis: Performed, group: Some(0) },
        ServiceSettings { basis: Performed, group: Some(0) },
        ServiceSettings { basis: PerUnit, group: None },
        ServiceSettings { basis: PerUnit, group: None },
        ServiceSettings { basis: PerMonth, group: None },
        ServiceSettings { basis: Granted, group: Some(0) },
        ServiceSettings { basis: Performed, group: None },
    ]
}

pub(super) fn rate(service: u32, zone: u32, class: Class, from: Date, ore: i64) -> Rate {
    Rate { service, zone, class, valid_from: from, amount: Money::from_ore(ore) }
}

pub(super) fn base_rates() -> Vec<Rate> {
    let from = date(2026, 1, 1);
    let mut r = Vec::new();
    for (service, zone, day, evening, night, weekend) in [
        (CARE, 0, 42_600, 51_000, 60_000, 55_000),
        (CARE, 1, 50_670, 60_000, 70_000, 65_000),
        (TASKS, 0, 40_000, 48_000, 56_000, 52_000),
        (TASKS, 1, 47_000, 56_000, 66_000, 61_000),
        (GRANTED, 0, 42_600, 51_000, 60_000, 55_000),
        (ESCORT, 0, 36_000, 36_000, 36_000, 36_000),
    ] {
        r.push(rate(service, zone, Class::Day, from, day));
        r.push(rate(service, zone, Class::Evening, from, evening));
        r.push(rate(service, zone, Class::Night, from, night));
        r.push(rate(service, zone, Class::Weekend, from, weekend));
    }
    r.push(rate(MEALS, 0, Class::Unit, from, 5_025));
    r.push(rate(MEALS, 1, Class::Unit, from, 8_050));
    r.push(rate(PATROL, 0, Class::Unit, from, 15_000));
    r.push(rate(ALARM, 0, Class::Month, from, 29_900));
    r
}

pub(super) fn decision(client: u32, service: u32, minutes: u32) -> Decision {
    Decision { client, service, from: date(2025, 1, 1), to: None, granted_minutes_per_month: minutes, double_staffing: false }
}

pub(super) fn assignment(provider: u32, client: u32, service: u32) -> Assignment {
    Assignment { client, service, provider, from: date(2025, 1, 1), to: None }
}

/// Two providers, two clients, both assigned to both providers for every
/// service paid per visit, with ample granted time so the excess rule stays
/// out of the way. Tests of the daily bases add their own assignments.
pub(super) fn input(month: &str) -> SettlementInput {
    let mut decisions = Vec::new();
    let mut assignments = Vec::new();
    for c in [C0, C1] {
        for s in [CARE, TASKS, MEALS, PATROL, ESCORT] {
            decisions.push(decision(c, s, 100_000));
            for p in [P0, P1] {
                assignments.push(assignment(p, c, s));
            }
        }
    }
    SettlementInput {
        context: SettlementContext {
            month: month.parse().expect("month literal"),
            settings: Settings::with_defaults("Europe/Stockholm", Country::Sweden, services()),
            providers: vec![ProviderInfo { vat_entitled: false }, ProviderInfo { vat_entitled: true }],
            clients: vec![ClientInfo { zone: 0 }, ClientInfo { zone: 1 }],
            rates: base_rates(),
            decisions,
            assignments,
        },
        visits: Vec::new(),
        adjustments: Vec::new(),
    }
}

/// Unix seconds of a local Stockholm time `YYYY-MM-DDTHH:MM`, or of a UTC
/// instant when it ends in `Z`.
pub(super) fn at(s: &str) -> i64 {
    if s.ends_with('Z') {
        return s.parse::<jiff::Timestamp>().expect("instant").as_second();
    }
    let dt: jiff::civil::DateTime = s.parse().expect("local datetime");
    let tz = TimeZone::get("Europe/Stockholm").expect("tzdb");
    tz.to_timestamp(dt).expect("in range").as_second()
}

pub(super) fn visit(provider: u32, client: u32, service: u32, ext: u32, start: &str, end: &str) -> Visit {
    Visit {
        client,
        start: at(start),
        provider,
        external_id: ext,
        service,
        end: at(end),
        status: VisitStatus::Performed,
        double_staffed: false,
        cancelled_at: None,
        quantity: None,
    }
}

fn run(input: SettlementInput) -> Settlement {
    settle_with_threads(input, 2).expect("settles")
}

/// (client, service, class, rate valid from, rate, quantity, amount)
type L = (u32, u32, Class, Date, i64, Quantity, i64);

fn q(num: i64, den: i64) -> Quantity {
    Quantity { num, den }
}

fn m(num: i64) -> Quantity {
    q(num, 1)
}

fn lines(s: &Settlement, p: u32) -> Vec<L> {
    s.providers[p as usize]
        .lines
        .iter()
        .map(|l| (l.client, l.service, l.class, l.rate_valid_from, l.rate.ore(), l.quantity, l.amount.ore()))
        .collect()
}

fn flags(s: &Settlement, p: u32) -> Vec<(Option<u32>, FlagCode, FlagDetail)> {
    s.providers[p as usize].flags.iter().map(|f| (f.visit, f.code, f.detail)).collect()
}

fn total(s: &Settlement, p: u32) -> i64 {
    s.providers[p as usize].total.ore()
}

const JAN1: Date = date(2026, 1, 1);

#[test]
fn plain_weekday_day_visit() {
    let mut i = input("2026-03");
    // Tuesday 09:00–10:30: 90 min day.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:30"));
    let s = run(i);
    // 90 × 42 600 / 60 = 63 900
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Day, JAN1, 42_600, m(90), 63_900)]);
    assert_eq!(s.providers[0].lines_total.ore(), 63_900);
    assert_eq!(s.providers[0].vat.ore(), 0);
    assert_eq!(total(&s, P0), 63_900);
    assert!(flags(&s, P0).is_empty());
    // The other provider has an empty settlement.
    assert_eq!(total(&s, P1), 0);
    assert!(s.providers[1].lines.is_empty());
}

#[test]
fn visit_crossing_19() {
    let mut i = input("2026-03");
    // Wednesday 18:30–19:45: 30 min day, 45 min evening.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-11T18:30", "2026-03-11T19:45"));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // 30 × 42 600 / 60 = 21 300
            (C0, CARE, Class::Day, JAN1, 42_600, m(30), 21_300),
            // 45 × 51 000 / 60 = 38 250
            (C0, CARE, Class::Evening, JAN1, 51_000, m(45), 38_250),
        ]
    );
    assert_eq!(total(&s, P0), 59_550);
}

#[test]
fn visit_crossing_midnight_into_next_month_belongs_to_start_month() {
    let v = visit(P0, C0, CARE, 1, "2026-03-31T23:00", "2026-04-01T01:00");
    let mut i = input("2026-03");
    i.visits.push(v);
    let s = run(i);
    // 60 night minutes on 31 March + 60 on 1 April, same rate version:
    // 120 × 60 000 / 60 = 120 000, all in March.
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Night, JAN1, 60_000, m(120), 120_000)]);

    // The April settlement does not pay it again.
    let mut i = input("2026-04");
    i.visits.push(v);
    let s = run(i);
    assert!(lines(&s, P0).is_empty());
    assert_eq!(flags(&s, P0), vec![(Some(1), FlagCode::NotInMonth, FlagDetail::Date { date: date(2026, 3, 31) })]);
}

#[test]
fn minutes_into_next_month_take_the_new_months_rate() {
    let mut i = input("2026-03");
    let apr1 = date(2026, 4, 1);
    i.context.rates.push(rate(CARE, 0, Class::Night, apr1, 66_000));
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-31T23:00", "2026-04-01T01:00"));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // 60 × 60 000 / 60 = 60 000
            (C0, CARE, Class::Night, JAN1, 60_000, m(60), 60_000),
            // 60 × 66 000 / 60 = 66 000
            (C0, CARE, Class::Night, apr1, 66_000, m(60), 66_000),
        ]
    );
}

#[test]
fn weekend_and_swedish_holidays() {
    let mut i = input("2026-03");
    // Saturday 14 March 10:00–11:00: 60 weekend.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-14T10:00", "2026-03-14T11:00"));
    let s = run(i);
    // 60 × 55 000 / 60 = 55 000
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Weekend, JAN1, 55_000, m(60), 55_000)]);

    let mut i = input("2026-04");
    // Långfredag (Friday 3 April) 18:00–20:00: weekend 07–22, so all 120
    // minutes are weekend, none evening.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-04-03T18:00", "2026-04-03T20:00"));
    // Skärtorsdag (2 April) is an ordinary Thursday: 60 day + 60 evening.
    i.visits.push(visit(P0, C0, CARE, 2, "2026-04-02T18:00", "2026-04-02T20:00"));
    // Långfredag 21:30–22:30: 30 weekend + 30 night.
    i.visits.push(visit(P0, C0, CARE, 3, "2026-04-03T21:30", "2026-04-03T22:30"));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // 60 × 42 600 / 60 = 42 600
            (C0, CARE, Class::Day, JAN1, 42_600, m(60), 42_600),
            // 60 × 51 000 / 60 = 51 000
            (C0, CARE, Class::Evening, JAN1, 51_000, m(60), 51_000),
            // 30 × 60 000 / 60 = 30 000
            (C0, CARE, Class::Night, JAN1, 60_000, m(30), 30_000),
            // (120 + 30) × 55 000 / 60 = 137 500
            (C0, CARE, Class::Weekend, JAN1, 55_000, m(150), 137_500),
        ]
    );

    let mut i = input("2026-06");
    // Midsommarafton, Friday 19 June 10:00–12:00 and 19:00–20:00: all weekend.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-06-19T10:00", "2026-06-19T12:00"));
    i.visits.push(visit(P0, C0, CARE, 2, "2026-06-19T19:00", "2026-06-19T20:00"));
    let s = run(i);
    // 180 × 55 000 / 60 = 165 000
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Weekend, JAN1, 55_000, m(180), 165_000)]);
}

#[test]
fn dst_spring_forward_night() {
    let mut i = input("2026-03");
    // Saturday 28 March 22:00 CET (21:00Z) to Sunday 29 March 08:00 CEST
    // (06:00Z): ten wall-clock hours, nine elapsed.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-28T22:00", "2026-03-29T08:00"));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // night 22–24 (120) + 00–07 on the 29th (6 elapsed hours, 360):
            // 480 × 60 000 / 60 = 480 000
            (C0, CARE, Class::Night, JAN1, 60_000, m(480), 480_000),
            // Sunday 07–08: 60 × 55 000 / 60 = 55 000
            (C0, CARE, Class::Weekend, JAN1, 55_000, m(60), 55_000),
        ]
    );
}

#[test]
fn dst_fall_back_night() {
    let mut i = input("2026-10");
    // Saturday 24 October 22:00 CEST (20:00Z) to Sunday 25 October 08:00 CET
    // (07:00Z): ten wall-clock hours, eleven elapsed.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-10-24T22:00", "2026-10-25T08:00"));
    // A visit inside the repeated hour, given in UTC: 02:30 CEST (00:30Z) to
    // 02:30 CET (01:30Z) is one elapsed hour though the clock shows none.
    i.visits.push(visit(P1, C0, CARE, 2, "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // night 22–24 (120) + 00–07 on the 25th (8 elapsed hours, 480):
            // 600 × 60 000 / 60 = 600 000
            (C0, CARE, Class::Night, JAN1, 60_000, m(600), 600_000),
            // Sunday 07–08: 60 × 55 000 / 60 = 55 000
            (C0, CARE, Class::Weekend, JAN1, 55_000, m(60), 55_000),
        ]
    );
    // 60 × 60 000 / 60 = 60 000
    assert_eq!(lines(&s, P1), vec![(C0, CARE, Class::Night, JAN1, 60_000, m(60), 60_000)]);
}

#[test]
fn mid_month_rate_change() {
    let mut i = input("2026-03");
    let mar16 = date(2026, 3, 16);
    i.context.rates.push(rate(CARE, 0, Class::Day, mar16, 45_000));
    i.context.rates.push(rate(CARE, 0, Class::Night, mar16, 63_000));
    // Friday 13th 09:00–10:00 at the old day rate, Monday 16th at the new.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-13T09:00", "2026-03-13T10:00"));
    i.visits.push(visit(P0, C0, CARE, 2, "2026-03-16T09:00", "2026-03-16T10:00"));
    // Sunday 15th 23:00 to Monday 16th 00:30: the minutes after midnight
    // take the new night rate.
    i.visits.push(visit(P0, C0, CARE, 3, "2026-03-15T23:00", "2026-03-16T00:30"));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // 60 × 42 600 / 60 = 42 600
            (C0, CARE, Class::Day, JAN1, 42_600, m(60), 42_600),
            // 60 × 45 000 / 60 = 45 000
            (C0, CARE, Class::Day, mar16, 45_000, m(60), 45_000),
            // 60 × 60 000 / 60 = 60 000
            (C0, CARE, Class::Night, JAN1, 60_000, m(60), 60_000),
            // 30 × 63 000 / 60 = 31 500
            (C0, CARE, Class::Night, mar16, 63_000, m(30), 31_500),
        ]
    );
    assert_eq!(total(&s, P0), 179_100);
}

#[test]
fn no_rate_in_force_is_flagged_not_paid() {
    let mut i = input("2026-03");
    // The only evening rate of care in zone 0 starts on the 20th.
    i.context.rates.retain(|r| !(r.service == CARE && r.zone == 0 && r.class == Class::Evening));
    i.context.rates.push(rate(CARE, 0, Class::Evening, date(2026, 3, 20), 51_000));
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-11T18:30", "2026-03-11T19:45"));
    i.visits.push(visit(P0, C0, CARE, 2, "2026-03-20T18:30", "2026-03-20T19:30"));
    // Escort has no rates in zone 1 at all.
    i.visits.push(visit(P0, C1, ESCORT, 3, "2026-03-11T10:00", "2026-03-11T11:00"));
    let s = run(i);
    // Only visit 2: 30 × 42 600 / 60 = 21 300; 30 × 51 000 / 60 = 25 500.
    assert_eq!(
        lines(&s, P0),
        vec![(C0, CARE, Class::Day, JAN1, 42_600, m(30), 21_300), (C0, CARE, Class::Evening, date(2026, 3, 20), 51_000, m(30), 25_500),]
    );
    assert_eq!(
        flags(&s, P0),
        vec![
            (Some(1), FlagCode::NoRate, FlagDetail::Rate { date: date(2026, 3, 11), class: Class::Evening }),
            (Some(3), FlagCode::NoRate, FlagDetail::Rate { date: date(2026, 3, 11), class: Class::Day }),
        ]
    );
}

#[test]
fn double_staffing_granted_or_not() {
    let mut i = input("2026-03");
    for d in &mut i.context.decisions {
        if d.client == C0 && d.service == CARE {
            d.double_staffing = true;
        }
    }
    let mut a = visit(P0, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:00");
    a.double_staffed = true;
    let mut b = visit(P0, C1, CARE, 2, "2026-03-10T09:00", "2026-03-10T10:00");
    b.double_staffed = true;
    i.visits.extend([a, b]);
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // Granted: 2 × 60 × 42 600 / 60 = 85 200
            (C0, CARE, Class::Day, JAN1, 42_600, m(120), 85_200),
            // Not granted (zone 1): 60 × 50 670 / 60 = 50 670, once.
            (C1, CARE, Class::Day, JAN1, 50_670, m(60), 50_670),
        ]
    );
    assert_eq!(flags(&s, P0), vec![(Some(2), FlagCode::DoubleStaffingNotGranted, FlagDetail::Date { date: date(2026, 3, 10) })]);
}

#[test]
fn cancellations_and_missed_visits() {
    let mut i = input("2026-03");
    let mut late = visit(P0, C0, CARE, 1, "2026-03-12T18:00", "2026-03-12T19:30");
    late.status = VisitStatus::CancelledLate;
    let mut in_time = visit(P0, C0, CARE, 2, "2026-03-13T09:00", "2026-03-13T10:00");
    in_time.status = VisitStatus::CancelledInTime;
    let mut missed = visit(P0, C0, CARE, 3, "2026-03-16T09:00", "2026-03-16T10:00");
    missed.status = VisitStatus::Missed;
    // Reported in time, but cancelled ten hours before: late, paid.
    let mut said_in_time = visit(P0, C0, CARE, 4, "2026-03-17T09:00", "2026-03-17T10:00");
    said_in_time.status = VisitStatus::CancelledInTime;
    said_in_time.cancelled_at = Some(at("2026-03-16T23:00"));
    // Reported late, but cancelled exactly 24 h before: in time, not paid.
    let mut said_late = visit(P0, C0, CARE, 5, "2026-03-18T09:00", "2026-03-18T10:00");
    said_late.status = VisitStatus::CancelledLate;
    said_late.cancelled_at = Some(at("2026-03-17T09:00"));
    // Cancelled 23 h 59 min before, reported late: late, paid, no flag.
    let mut late_by_a_minute = visit(P0, C0, CARE, 6, "2026-03-19T09:00", "2026-03-19T09:30");
    late_by_a_minute.status = VisitStatus::CancelledLate;
    late_by_a_minute.cancelled_at = Some(at("2026-03-18T09:01"));
    i.visits.extend([late, in_time, missed, said_in_time, said_late, late_by_a_minute]);
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // Planned times: 60 (18–19) + 60 (17th) + 30 (19th) day minutes:
            // 150 × 42 600 / 60 = 106 500
            (C0, CARE, Class::Day, JAN1, 42_600, m(150), 106_500),
            // 30 × 51 000 / 60 = 25 500
            (C0, CARE, Class::Evening, JAN1, 51_000, m(30), 25_500),
        ]
    );
    assert_eq!(
        flags(&s, P0),
        vec![
            (Some(4), FlagCode::CancellationReclassified, FlagDetail::Notice { minutes: 600, late: true }),
            (Some(5), FlagCode::CancellationReclassified, FlagDetail::Notice { minutes: 1440, late: false }),
        ]
    );
}

#[test]
fn late_cancellation_factor_is_exact() {
    let mut i = input("2026-03");
    i.context.settings.late_cancellation_factor_bp = 5_000;
    let mut late = visit(P0, C0, CARE, 1, "2026-03-12T09:00", "2026-03-12T09:45");
    late.status = VisitStatus::CancelledLate;
    i.visits.push(late);
    i.visits.push(visit(P0, C0, CARE, 2, "2026-03-12T11:00", "2026-03-12T11:01"));
    let s = run(i);
    // 45 × 0.5 + 1 = 23.5 min = 47/2; 47/2 × 42 600 / 60 = 16 685
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Day, JAN1, 42_600, q(47, 2), 16_685)]);
}

#[test]
fn visits_outside_an_assignment() {
    let mut i = input("2026-03");
    i.context.assignments.retain(|a| !(a.client == C0 && a.service == CARE));
    i.context.assignments.push(Assignment { client: C0, service: CARE, provider: P0, from: date(2026, 3, 1), to: Some(date(2026, 3, 15)) });
    // The 15th is the last assigned day; a visit starting then is covered
    // into the 16th.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-15T23:00", "2026-03-16T01:00"));
    i.visits.push(visit(P0, C0, CARE, 2, "2026-03-16T09:00", "2026-03-16T10:00"));
    // The other provider has no assignment for this client's care at all.
    i.visits.push(visit(P1, C0, CARE, 3, "2026-03-10T09:00", "2026-03-10T10:00"));
    let s = run(i);
    // 120 × 60 000 / 60 = 120 000
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Night, JAN1, 60_000, m(120), 120_000)]);
    assert_eq!(flags(&s, P0), vec![(Some(2), FlagCode::NotCovered, FlagDetail::Date { date: date(2026, 3, 16) })]);
    assert!(lines(&s, P1).is_empty());
    assert_eq!(flags(&s, P1), vec![(Some(3), FlagCode::NotCovered, FlagDetail::Date { date: date(2026, 3, 10) })]);
}

#[test]
fn granted_basis_with_decision_starting_mid_month() {
    let mut i = input("2026-03");
    i.context.decisions.push(Decision {
        client: C0,
        service: GRANTED,
        from: date(2026, 3, 11),
        to: None,
        granted_minutes_per_month: 1_000,
        double_staffing: false,
    });
    i.context.assignments.push(assignment(P0, C0, GRANTED));
    // C1 lives in zone 1, where the granted-basis service has no rates.
    i.context.decisions.push(decision(C1, GRANTED, 600));
    i.context.assignments.push(Assignment {
        client: C1,
        service: GRANTED,
        provider: P1,
        from: date(2026, 3, 20),
        to: Some(date(2026, 3, 24)),
    });
    // Visits of a granted-basis service are not what is paid.
    i.visits.push(visit(P0, C0, GRANTED, 1, "2026-03-12T09:00", "2026-03-12T20:00"));
    let s = run(i);
    // Days 11–31 = 21 days × 1 000 / 31 = 21 000/31 min;
    // 21 000 × 42 600 / (31 × 60) = 894 600 000 / 1 860 = 480 967.74 → 480 968.
    assert_eq!(lines(&s, P0), vec![(C0, GRANTED, Class::Granted, JAN1, 42_600, q(21_000, 31), 480_968)]);
    assert_eq!(flags(&s, P0), vec![(None, FlagCode::NoDecision, FlagDetail::Days { first: date(2026, 3, 1), count: 10 })]);
    assert!(lines(&s, P1).is_empty());
    assert_eq!(flags(&s, P1), vec![(None, FlagCode::NoRate, FlagDetail::Days { first: date(2026, 3, 20), count: 5 })]);
    assert_eq!(s.providers[1].flags[0].client, C1);
}

#[test]
fn per_unit_meals_and_night_patrol() {
    let mut i = input("2026-03");
    let meal = |client, ext, n: u32, day: &str| {
        let mut v = visit(P1, client, MEALS, ext, day, day);
        v.quantity = NonZeroU32::new(n);
        v
    };
    i.visits.push(meal(C0, 1, 2, "2026-03-02T11:30"));
    i.visits.push(meal(C0, 2, 0, "2026-03-03T11:30")); // no quantity: one portion
    i.visits.push(meal(C0, 3, 3, "2026-03-04T11:30"));
    i.visits.push(meal(C1, 4, 1, "2026-03-04T11:30"));
    let mut cancelled_meal = meal(C0, 5, 1, "2026-03-05T11:30");
    cancelled_meal.status = VisitStatus::CancelledLate;
    i.visits.push(cancelled_meal);
    for (ext, night) in [(10, "02"), (11, "03"), (12, "04"), (13, "05")] {
        let start = format!("2026-03-{night}T02:00");
        let end = format!("2026-03-{night}T02:10");
        i.visits.push(visit(P1, C0, PATROL, ext, &start, &end));
    }
    let mut late = visit(P1, C0, PATROL, 14, "2026-03-06T02:00", "2026-03-06T02:10");
    late.status = VisitStatus::CancelledLate;
    let mut missed = visit(P1, C0, PATROL, 15, "2026-03-07T02:00", "2026-03-07T02:10");
    missed.status = VisitStatus::Missed;
    i.visits.extend([late, missed]);
    let s = run(i);
    assert_eq!(
        lines(&s, P1),
        vec![
            // (2 + 1 + 3) × 5 025 = 30 150
            (C0, MEALS, Class::Unit, JAN1, 5_025, m(6), 30_150),
            // 4 performed patrol visits × 15 000 = 60 000
            (C0, PATROL, Class::Unit, JAN1, 15_000, m(4), 60_000),
            // Zone 1: 1 × 8 050
            (C1, MEALS, Class::Unit, JAN1, 8_050, m(1), 8_050),
        ]
    );
    // Lines 98 200; VAT 6 % = 5 892.
    assert_eq!(s.providers[1].lines_total.ore(), 98_200);
    assert_eq!(s.providers[1].vat.ore(), 5_892);
    assert_eq!(total(&s, P1), 104_092);
}

#[test]
fn per_month_safety_alarm_for_part_of_a_month() {
    let mut i = input("2026-03");
    i.context.assignments.push(Assignment { client: C0, service: ALARM, provider: P0, from: date(2026, 3, 20), to: None });
    // An overlapping second assignment of the same pair pays no day twice.
    i.context.assignments.push(Assignment {
        client: C0,
        service: ALARM,
        provider: P0,
        from: date(2026, 3, 25),
        to: Some(date(2026, 4, 30)),
    });
    let s = run(i);
    // Days 20–31 = 12 of 31: 12 × 29 900 / 31 = 358 800 / 31 = 11 574.19 → 11 574
    assert_eq!(lines(&s, P0), vec![(C0, ALARM, Class::Month, JAN1, 29_900, q(12, 31), 11_574)]);
}

#[test]
fn per_month_follows_a_mid_month_rate_change() {
    let mut i = input("2026-04");
    i.context.assignments.push(assignment(P0, C0, ALARM));
    let apr21 = date(2026, 4, 21);
    i.context.rates.push(rate(ALARM, 0, Class::Month, apr21, 33_000));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // 20 of 30 days at 29 900: 20 × 29 900 / 30 = 19 933.33 → 19 933
            (C0, ALARM, Class::Month, JAN1, 29_900, q(2, 3), 19_933),
            // 10 of 30 days at 33 000: 10 × 33 000 / 30 = 11 000
            (C0, ALARM, Class::Month, apr21, 33_000, q(1, 3), 11_000),
        ]
    );
}

/// C0's group 0 (care and service tasks) granted 600 min of care and
/// nothing of tasks.
fn excess_input() -> SettlementInput {
    let mut i = input("2026-03");
    i.context.decisions.retain(|d| !(d.client == C0 && (d.service == CARE || d.service == TASKS)));
    i.context.decisions.push(decision(C0, CARE, 600));
    i
}

#[test]
fn excess_rule_across_two_providers() {
    let mut i = excess_input();
    // Granted 600, tolerance 10 %: limit 660 minutes.
    // P0, care: Monday–Friday 2–6 March 09:00–11:00, 5 × 120 = 600 min.
    for (ext, d) in [(1, "02"), (2, "03"), (3, "04"), (4, "05"), (5, "06")] {
        i.visits.push(visit(P0, C0, CARE, ext, &format!("2026-03-{d}T09:00"), &format!("2026-03-{d}T11:00")));
    }
    // P1, tasks: Monday 9th 09:00–10:10 (70) and Tuesday 10th 18:30–19:30
    // (30 day + 30 evening). Paid 730, excess 70: the last 60 minutes (all of
    // the 10th) and the last 10 of the 9th.
    i.visits.push(visit(P1, C0, TASKS, 6, "2026-03-09T09:00", "2026-03-09T10:10"));
    i.visits.push(visit(P1, C0, TASKS, 7, "2026-03-10T18:30", "2026-03-10T19:30"));
    let s = run(i);
    // 600 × 42 600 / 60 = 426 000
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Day, JAN1, 42_600, m(600), 426_000)]);
    assert!(flags(&s, P0).is_empty());
    // 70 + 30 − 30 − 10 = 60 day minutes: 60 × 40 000 / 60 = 40 000; the
    // evening line lost all its minutes and is gone.
    assert_eq!(lines(&s, P1), vec![(C0, TASKS, Class::Day, JAN1, 40_000, m(60), 40_000)]);
    assert_eq!(
        flags(&s, P1),
        vec![
            // 10 × 40 000 / 60 = 6 666.67 → 6 667
            (Some(6), FlagCode::Excess, FlagDetail::Excess { minutes: m(10), amount: Money::from_ore(6_667) }),
            // 30 × 40 000 / 60 + 30 × 48 000 / 60 = 20 000 + 24 000
            (Some(7), FlagCode::Excess, FlagDetail::Excess { minutes: m(60), amount: Money::from_ore(44_000) }),
        ]
    );
    // VAT on what is left: 6 % of 40 000 = 2 400.
    assert_eq!(total(&s, P1), 42_400);
}

#[test]
fn excess_rule_overlapping_visits_lose_minutes_in_turn() {
    let mut i = excess_input();
    i.context.settings.excess_tolerance_bp = 0;
    for d in &mut i.context.decisions {
        if d.client == C0 && d.service == CARE {
            d.granted_minutes_per_month = 80;
        }
    }
    // Paid 60 + 60 = 120, limit 80, excess 40.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-10T10:00", "2026-03-10T11:00"));
    i.visits.push(visit(P1, C0, TASKS, 2, "2026-03-10T10:30", "2026-03-10T11:30"));
    let s = run(i);
    // 11:00–11:30 is P1's alone (30). Then each minute 10:59, 10:58, …
    // holds one of each; provider 1 sorts after provider 0 so loses first:
    // 5 more minutes each. P0 keeps 55, P1 keeps 25.
    // 55 × 42 600 / 60 = 39 050; 25 × 40 000 / 60 = 16 666.67 → 16 667
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Day, JAN1, 42_600, m(55), 39_050)]);
    assert_eq!(lines(&s, P1), vec![(C0, TASKS, Class::Day, JAN1, 40_000, m(25), 16_667)]);

    // An odd excess: 41. The 11th minute back from 11:00 is held by both;
    // only P1 loses it.
    let mut i2 = excess_input();
    i2.context.settings.excess_tolerance_bp = 0;
    for d in &mut i2.context.decisions {
        if d.client == C0 && d.service == CARE {
            d.granted_minutes_per_month = 79;
        }
    }
    i2.visits = vec![
        visit(P0, C0, CARE, 1, "2026-03-10T10:00", "2026-03-10T11:00"),
        visit(P1, C0, TASKS, 2, "2026-03-10T10:30", "2026-03-10T11:30"),
    ];
    let s = run(i2);
    // 55 × 42 600 / 60 = 39 050; 24 × 40 000 / 60 = 16 000
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Day, JAN1, 42_600, m(55), 39_050)]);
    assert_eq!(lines(&s, P1), vec![(C0, TASKS, Class::Day, JAN1, 40_000, m(24), 16_000)]);
}

#[test]
fn excess_rule_with_double_staffing_and_fractions() {
    let mut i = excess_input();
    for d in &mut i.context.decisions {
        if d.client == C0 && d.service == CARE {
            d.granted_minutes_per_month = 95;
            d.double_staffing = true;
        }
    }
    i.context.settings.excess_tolerance_bp = 0;
    let mut v = visit(P0, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:00");
    v.double_staffed = true;
    i.visits.push(v);
    let s = run(i);
    // Paid 2 × 60 = 120, limit 95, excess 25: the last 12 minutes lose both
    // staff (24) and 09:47 loses one. 95 × 42 600 / 60 = 67 450
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Day, JAN1, 42_600, m(95), 67_450)]);

    // Tolerance 10 % of 95 = 9.5: the limit 104.5 minutes is kept exactly.
    let mut i = excess_input();
    for d in &mut i.context.decisions {
        if d.client == C0 && d.service == CARE {
            d.granted_minutes_per_month = 95;
        }
    }
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:46"));
    let s = run(i);
    // 209/2 × 42 600 / 60 = 8 903 400 / 120 = 74 195
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Day, JAN1, 42_600, q(209, 2), 74_195)]);
    assert_eq!(flags(&s, P0), vec![(Some(1), FlagCode::Excess, FlagDetail::Excess { minutes: q(3, 2), amount: Money::from_ore(1_065) })]);
}

#[test]
fn excess_rule_counts_late_cancellations_and_ignores_ungrouped() {
    let mut i = excess_input();
    i.context.settings.excess_tolerance_bp = 0;
    for d in &mut i.context.decisions {
        if d.client == C0 && d.service == CARE {
            d.granted_minutes_per_month = 60;
        }
    }
    // Performed 30 min, then a late-cancelled planned 60 min: paid 90,
    // limit 60, excess 30 from the (planned) last minutes.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T09:30"));
    let mut late = visit(P0, C0, CARE, 2, "2026-03-11T09:00", "2026-03-11T10:00");
    late.status = VisitStatus::CancelledLate;
    i.visits.push(late);
    // Escort has no group: never capped.
    i.visits.push(visit(P0, C0, ESCORT, 3, "2026-03-12T09:00", "2026-03-12T12:00"));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            // 30 + 30 = 60 × 42 600 / 60 = 42 600
            (C0, CARE, Class::Day, JAN1, 42_600, m(60), 42_600),
            // 180 × 36 000 / 60 = 108 000
            (C0, ESCORT, Class::Day, JAN1, 36_000, m(180), 108_000),
        ]
    );
}

#[test]
fn vat_for_entitled_and_not() {
    let mut i = input("2026-03");
    // 61 day minutes each: 61 × 42 600 / 60 = 43 310.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:01"));
    i.visits.push(visit(P1, C0, CARE, 2, "2026-03-10T12:00", "2026-03-10T13:01"));
    let s = run(i);
    assert_eq!(s.providers[0].vat.ore(), 0);
    assert_eq!(total(&s, P0), 43_310);
    // 6 % of 43 310 = 2 598.6 → 2 599
    assert_eq!(s.providers[1].vat.ore(), 2_599);
    assert_eq!(total(&s, P1), 45_909);
}

#[test]
fn rounding_half_away_from_zero_and_negative_adjustment() {
    let mut i = input("2026-03");
    i.context.rates.push(rate(CARE, 0, Class::Day, date(2026, 3, 1), 42_601));
    i.visits.push(visit(P1, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T09:30"));
    // A correction of 30 minutes too many at 426.01 kr/h:
    // −30 × 42 601 / 60 = −21 300.5 → −21 301.
    let correction = minutes_amount(-30, 1, Money::from_ore(42_601)).expect("fits");
    assert_eq!(correction.ore(), -21_301);
    i.adjustments.push(Adjustment {
        provider: P1,
        amount: correction,
        reason: "double report".into(),
        author: "handläggare".into(),
        corrects: Some("2026-02".into()),
    });
    let s = run(i);
    // 30 × 42 601 / 60 = 21 300.5 → 21 301
    assert_eq!(lines(&s, P1), vec![(C0, CARE, Class::Day, date(2026, 3, 1), 42_601, m(30), 21_301)]);
    let p = &s.providers[1];
    // VAT excludes adjustments: 6 % of 21 301 = 1 278.06 → 1 278
    assert_eq!(p.vat.ore(), 1_278);
    assert_eq!(p.adjustments_total.ore(), -21_301);
    // 21 301 + 1 278 − 21 301
    assert_eq!(p.total.ore(), 1_278);
}

#[test]
fn invalid_and_out_of_month_visits_are_flagged() {
    let mut i = input("2026-03");
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-10T10:00", "2026-03-10T09:00"));
    i.visits.push(visit(P0, C0, CARE, 2, "2026-03-10T10:00", "2026-03-12T10:01"));
    i.visits.push(visit(P0, C0, CARE, 3, "2026-02-28T23:30", "2026-03-01T00:30"));
    i.visits.push(visit(P0, C0, CARE, 4, "2026-03-10T10:00", "2026-03-10T10:00"));
    // 1 March 00:00 local is the first minute of the month.
    i.visits.push(visit(P0, C0, CARE, 5, "2026-03-01T00:00", "2026-03-01T00:10"));
    let s = run(i);
    // 10 × 60 000 / 60 = 10 000
    assert_eq!(lines(&s, P0), vec![(C0, CARE, Class::Night, JAN1, 60_000, m(10), 10_000)]);
    assert_eq!(
        flags(&s, P0),
        vec![
            (Some(1), FlagCode::InvalidTimes, FlagDetail::None),
            (Some(2), FlagCode::TooLong, FlagDetail::Minutes { minutes: 2 * 1440 + 1 }),
            (Some(3), FlagCode::NotInMonth, FlagDetail::Date { date: date(2026, 2, 28) }),
        ]
    );
}

#[test]
fn input_errors() {
    let mut i = input("2026-03");
    i.visits.push(visit(9, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:00"));
    assert_eq!(run_err(i), InputError::UnknownIndex { what: "visit provider", index: 9 });

    let mut i = input("2026-03");
    i.context.settings.time_zone = "Europe/Atlantis".into();
    assert!(matches!(run_err(i), InputError::UnknownTimeZone(_)));

    let mut i = input("2026-03");
    i.context.rates.push(rate(CARE, 0, Class::Day, JAN1, 1));
    assert!(matches!(run_err(i), InputError::ConflictingRates { .. }));

    let mut i = input("2026-03");
    i.context.rates.push(rate(CARE, 0, Class::Granted, JAN1, 1));
    assert!(matches!(run_err(i), InputError::InvalidRate { .. }));

    let mut i = input("2026-03");
    i.context.rates.push(rate(CARE, 0, Class::Day, date(2026, 2, 1), -1));
    assert!(matches!(run_err(i), InputError::InvalidRate { .. }));

    let mut i = input("2026-03");
    i.context.settings.vat_compensation_bp = 10_001;
    assert_eq!(run_err(i), InputError::InvalidSetting("vat_compensation_bp"));

    let mut i = input("9999-12");
    i.visits.clear();
    assert_eq!(run_err(i), InputError::DateOutOfRange);

    let mut i = input("2026-03");
    i.adjustments.push(Adjustment {
        provider: 2,
        amount: Money::from_ore(1),
        reason: String::new(),
        author: String::new(),
        corrects: None,
    });
    assert!(matches!(run_err(i), InputError::UnknownIndex { .. }));

    // The identical rate twice is harmless.
    let mut i = input("2026-03");
    i.context.rates.push(rate(CARE, 0, Class::Day, JAN1, 42_600));
    assert!(settle(i).is_ok());
}

fn run_err(i: SettlementInput) -> InputError {
    match settle(i) {
        Err(e) => e,
        Ok(_) => panic!("expected an input error"),
    }
}

#[test]
fn norwegian_holidays_in_oslo() {
    let mut i = input("2026-05");
    i.context.settings = Settings::with_defaults("Europe/Oslo", Country::Norway, services());
    // 17 May 2026 is a Sunday anyway; 14 May (Kristi himmelfartsdag) a
    // Thursday, and 25 May (2. pinsedag) a Monday: weekend rate.
    i.visits.push(visit(P0, C0, CARE, 1, "2026-05-14T10:00", "2026-05-14T11:00"));
    i.visits.push(visit(P0, C0, CARE, 2, "2026-05-25T10:00", "2026-05-25T11:00"));
    // 26 May is an ordinary Tuesday.
    i.visits.push(visit(P0, C0, CARE, 3, "2026-05-26T10:00", "2026-05-26T11:00"));
    let s = run(i);
    assert_eq!(
        lines(&s, P0),
        vec![
            (C0, CARE, Class::Day, JAN1, 42_600, m(60), 42_600),
            // 120 × 55 000 / 60 = 110 000
            (C0, CARE, Class::Weekend, JAN1, 55_000, m(120), 110_000),
        ]
    );
}

#[test]
fn checksum_is_over_the_canonical_text() {
    let mut i = input("2026-03");
    i.visits.push(visit(P1, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:30"));
    i.adjustments.push(Adjustment {
        provider: P1,
        amount: Money::from_ore(-500),
        reason: "key lost".into(),
        author: "anna".into(),
        corrects: None,
    });
    let s = run(i);
    let p = &s.providers[1];
    let month: Month = "2026-03".parse().expect("month");
    let text = p.canonical_text(month, "1", |c| c.to_string(), |s| s.to_string());
    assert_eq!(
        text,
        "valfri-settlement 1\nmonth 2026-03\nprovider 1:1\n\
         line 1:0 1:0 day 2026-01-01 42600 0 90/1 63900\n\
         lines_total 63900\nvat 3834\n\
         adjustment -500 8:key lost 4:anna -\n\
         adjustments_total -500\ntotal 67234\n"
    );
    assert_eq!(p.checksum, p.checksum_with(month, "1", |c| c.to_string(), |s| s.to_string()));
    assert_eq!(p.checksum.len(), 64);
    assert_ne!(p.checksum, p.checksum_with(month, "P1", |c| c.to_string(), |s| s.to_string()));
}

#[test]
fn streaming_by_client_equals_settle() {
    let mut i = input("2026-03");
    i.visits.push(visit(P0, C0, CARE, 1, "2026-03-10T09:00", "2026-03-10T10:30"));
    i.visits.push(visit(P1, C1, CARE, 2, "2026-03-10T18:00", "2026-03-10T23:00"));
    i.visits.push(visit(P1, C1, MEALS, 3, "2026-03-11T12:00", "2026-03-11T12:00"));
    let expected = settle_with_threads(i.clone(), 1).expect("settles");
    let engine = Engine::new(i.context.clone()).expect("valid");
    let mut b1 = engine.batch();
    let mut b2 = engine.batch();
    let (mut v0, mut v1): (Vec<Visit>, Vec<Visit>) = i.visits.iter().partition(|v| v.client == C0);
    engine.add_client(&mut b2, C1, &mut v1).expect("ok");
    engine.add_client(&mut b1, C0, &mut v0).expect("ok");
    let got = engine.finish(vec![b2, b1], i.adjustments.clone()).expect("ok");
    assert_eq!(got, expected);

    // A client given twice is refused, as is a visit of another client.
    let mut b = engine.batch();
    engine.add_client(&mut b, C0, &mut []).expect("ok");
    engine.add_client(&mut b, C0, &mut []).expect("ok");
    assert_eq!(engine.finish(vec![b], vec![]), Err(InputError::ClientTwice(C0)));
    let mut b = engine.batch();
    assert!(engine.add_client(&mut b, C0, &mut v1).is_err());
}
