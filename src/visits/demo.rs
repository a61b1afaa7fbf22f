//! Demo time reports: last month and this month so far, for every active
//! assignment of the demo, as each provider's system would report them
//! (through the same import as a CSV file). Staff work in routes, so the
//! data is clean but for a handful of deliberate mistakes that the flags
//! page shows: a staff member in two homes at once, undeclared double
//! staffing, a visit under a service the provider was not assigned, two
//! overlapping visits for one client, and a few cancellations.

use super::import::{import_rows, Actor, Options, Source};
use super::RawVisit;
use crate::app::AppState;
use jiff::civil::{Date, DateTime};
use jiff::ToSpan;
use std::collections::BTreeMap;

/// provider, personnummer, start, end, service, monthly amount, double staffing.
type AssignmentRow = (String, String, String, Option<String>, String, i64, i64);

struct Assignment {
    person_id: String,
    service: String,
    from: Date,
    to: Option<Date>,
    /// Granted per month: minutes, or units for per-unit services.
    monthly: i64,
    double: bool,
}

/// Local `YYYY-MM-DD HH:MM` of a date and minutes after midnight.
fn at(day: Date, minutes: i64) -> String {
    let (d, m) = if minutes >= 24 * 60 { (day.tomorrow().unwrap_or(day), minutes - 24 * 60) } else { (day, minutes) };
    format!("{d} {:02}:{:02}", m / 60, m % 60)
}

/// A visit in the text form of the import.
#[derive(Default, Clone)]
struct V {
    external_id: String,
    client: String,
    service: String,
    status: &'static str,
    planned: (String, String),
    actual: (String, String),
    cancelled_at: String,
    staff: String,
    staff_count: &'static str,
}

fn is_dst_ambiguous(day: Date, minutes: i64, tz: &jiff::tz::TimeZone) -> bool {
    DateTime::new(day.year(), day.month(), day.day(), (minutes / 60 % 24) as i8, (minutes % 60) as i8, 0, 0)
        .map(|dt| tz.to_ambiguous_timestamp(dt).is_ambiguous())
        .unwrap_or(true)
}

/// Seeds the visits. Cheap when it has run before (does nothing).
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let any: Option<String> = sqlx::query_scalar("SELECT external_id FROM visits LIMIT 1").fetch_optional(&state.db.pool).await?;
    if any.is_some() {
        return Ok(());
    }
    let today = state.today();
    let this_month = today.first_of_month();
    let first = this_month.checked_sub(1.month()).map_err(anyhow::Error::from)?;
    let last = today.yesterday().map_err(anyhow::Error::from)?;
    let tz = state.time_zone();
    let rows: Vec<AssignmentRow> = sqlx::query_as(
        "SELECT a.provider_id, c.person_id, a.start_date, a.end_date, a.service_type, a.monthly_amount, a.double_staffing \
         FROM assignments a JOIN clients c ON c.id = a.client_id \
         WHERE a.status <> 'cancelled' ORDER BY a.provider_id, a.client_id, a.service_type, a.start_date",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let mut by_provider: BTreeMap<String, Vec<Assignment>> = BTreeMap::new();
    for (provider, person_id, from, to, service, monthly, double) in rows {
        let (Ok(from), to) = (from.parse::<Date>(), to.and_then(|t| t.parse::<Date>().ok())) else { continue };
        if to.is_some_and(|t| t < first) || from > last {
            continue;
        }
        by_provider.entry(provider).or_default().push(Assignment { person_id, service, from, to, monthly, double: double != 0 });
    }
    for (pi, (provider, assignments)) in by_provider.iter().enumerate() {
        let visits = plan(pi, assignments, first, last, &tz);
        let raws: Vec<RawVisit> = visits
            .iter()
            .map(|v| RawVisit {
                provider: "",
                external_id: &v.external_id,
                client: &v.client,
                service_type: &v.service,
                status: v.status,
                planned_start: &v.planned.0,
                planned_end: &v.planned.1,
                actual_start: &v.actual.0,
                actual_end: &v.actual.1,
                cancelled_at: &v.cancelled_at,
                staff_ref: &v.staff,
                staff_count: v.staff_count,
                quantity: "",
            })
            .collect();
        let opts = Options {
            provider_id: provider.clone(),
            source: Source::Demo,
            file_name: format!("demo-{first}.csv"),
            all_or_nothing: false,
            actor: Actor::system("demo"),
        };
        let report = import_rows(state, opts, &raws).await.map_err(|e| anyhow::anyhow!("demo visits: {}", e.problem().detail))?;
        if report.rejected_rows > 0 {
            tracing::warn!(provider = %provider, rejected = report.rejected_rows, first = ?report.rejections.first(), "demo visits rejected");
        }
    }
    Ok(())
}

/// How a service is visited: length in minutes (0: a delivery), the start
/// of each daily round (minutes after midnight), the minutes between two
/// clients of one route, clients per route, and the granted unit in minutes
/// (0: the amount counts visits or portions).
struct Pattern {
    code: &'static str,
    length: i64,
    rounds: &'static [i64],
    step: i64,
    per_route: usize,
    unit_minutes: i64,
}

const PATTERNS: &[Pattern] = &[
    // Rounds that never overlap in a day, so a client with several services
    // of one provider is never visited twice at once.
    Pattern { code: "personal_care", length: 40, rounds: &[7 * 60, 11 * 60 + 30, 17 * 60], step: 50, per_route: 4, unit_minutes: 40 },
    Pattern { code: "service", length: 60, rounds: &[14 * 60], step: 75, per_route: 2, unit_minutes: 60 },
    Pattern { code: "meals", length: 0, rounds: &[11 * 60], step: 4, per_route: 25, unit_minutes: 0 },
    Pattern { code: "night_patrol", length: 10, rounds: &[22 * 60, 2 * 60 + 30], step: 20, per_route: 6, unit_minutes: 0 },
];

/// The visits of one provider: for each assignment about 90 % of its
/// granted time (or all its units), spread evenly over the days of each
/// month, delivered in routes so no one is in two places at once.
fn plan(pi: usize, assignments: &[Assignment], first: Date, last: Date, tz: &jiff::tz::TimeZone) -> Vec<V> {
    let mut out = Vec::new();
    let mut n = 0u64;
    let prefix = format!("D{pi}");
    let mut day = first;
    while day <= last {
        let days = i64::from(day.days_in_month());
        let i = i64::from(day.day()) - 1;
        for (pno, p) in PATTERNS.iter().enumerate() {
            // Route positions per round of the day.
            let mut position = vec![0usize; p.rounds.len()];
            for a in assignments.iter().filter(|a| a.service == p.code && a.from <= day && a.to.is_none_or(|t| t >= day)) {
                let per_month = if p.unit_minutes > 0 {
                    let mult = if a.double { 2 } else { 1 };
                    if a.monthly > 0 {
                        a.monthly * 9 / 10 / (p.unit_minutes * mult)
                    } else {
                        30
                    }
                } else {
                    a.monthly.max(0)
                };
                let today = ((i + 1) * per_month / days - i * per_month / days) as usize;
                // `round` indexes two parallel arrays (positions and round start times).
                #[allow(clippy::needless_range_loop)]
                for (round, (base, pos)) in p.rounds.iter().zip(position.iter_mut()).enumerate().take(today) {
                    let k = *pos;
                    *pos += 1;
                    let s = base + (k % p.per_route) as i64 * p.step;
                    let e = s + p.length;
                    n += 1;
                    if is_dst_ambiguous(day, s, tz) || is_dst_ambiguous(day, e, tz) {
                        continue;
                    }
                    let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                    let jitter = if p.length > 0 { (h % 7) as i64 - 2 } else { 0 };
                    let mut v = V {
                        external_id: format!("{prefix}-{}-{n}", day.strftime("%Y%m%d")),
                        client: a.person_id.clone(),
                        service: p.code.into(),
                        status: "performed",
                        planned: (at(day, s), at(day, e)),
                        actual: (at(day, s + jitter), at(day, e + jitter + if p.length > 0 { (h % 4) as i64 } else { 0 })),
                        staff: format!("{prefix}-{pno}{round}-{:03}", k / p.per_route + 1),
                        staff_count: if a.double && p.unit_minutes > 0 { "2" } else { "1" },
                        ..V::default()
                    };
                    if p.length > 0 {
                        match h % 200 {
                            0..=2 => {
                                v.status = "cancelled_late";
                                v.actual = Default::default();
                                v.cancelled_at = at(day.yesterday().unwrap_or(day), 20 * 60);
                            }
                            3 | 4 => {
                                v.status = "cancelled_in_time";
                                v.actual = Default::default();
                                v.cancelled_at = at(day.checked_sub(3.days()).unwrap_or(day), 10 * 60);
                            }
                            5 => {
                                v.status = "missed";
                                v.actual = Default::default();
                            }
                            _ => {}
                        }
                    }
                    out.push(v);
                }
            }
        }
        day = match day.tomorrow() {
            Ok(d) => d,
            Err(_) => break,
        };
    }
    let care: Vec<&Assignment> = assignments.iter().filter(|a| a.service == "personal_care" && a.from <= first && !a.double).collect();
    // The deliberate mistakes, on the third day of last month, in the evening gap.
    if let (Some(a), Some(b)) = (care.first(), care.get(1)) {
        let d = first.checked_add(2.days()).unwrap_or(first);
        let mk = |ext: &str, who: &Assignment, service: &str, s: i64, e: i64, staff: &str, count: &'static str| V {
            external_id: format!("{prefix}-X-{ext}"),
            client: who.person_id.clone(),
            service: service.into(),
            status: "performed",
            planned: (at(d, s), at(d, e)),
            actual: (at(d, s), at(d, e)),
            staff: staff.into(),
            staff_count: count,
            ..V::default()
        };
        // One staff member in two homes at once.
        out.push(mk("two-homes-1", a, "personal_care", 19 * 60 + 30, 20 * 60 + 15, &format!("{prefix}-S99"), "1"));
        out.push(mk("two-homes-2", b, "personal_care", 20 * 60, 20 * 60 + 45, &format!("{prefix}-S99"), "1"));
        // Two staff reported without a decision granting double staffing.
        out.push(mk("double", a, "personal_care", 20 * 60 + 30, 21 * 60, &format!("{prefix}-S98"), "2"));
        // Overlapping visits for one client.
        out.push(mk("overlap-1", b, "personal_care", 21 * 60, 21 * 60 + 30, &format!("{prefix}-S97"), "1"));
        out.push(mk("overlap-2", b, "personal_care", 21 * 60 + 15, 21 * 60 + 45, &format!("{prefix}-S96"), "1"));
        // A service the provider was not assigned for this client.
        let other = if a.service == "personal_care" { "service" } else { "personal_care" };
        out.push(mk("not-assigned", a, other, 21 * 60 + 10, 21 * 60 + 40, &format!("{prefix}-S95"), "1"));
    }
    out
}
