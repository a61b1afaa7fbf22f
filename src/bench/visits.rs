//! The month's visits, generated provider by provider and day by day as a
//! provider's own report would list them, and written as an import CSV.

use super::plan::{weekday_index, ClientPlan, Plan, CARE_SLOTS, MEALS, NIGHT_PATROL, PERSONAL_CARE, SERVICE};
use super::{mix, Rng};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::ToSpan;
use std::io::Write;

/// One generated visit. Times are Unix seconds (UTC).
#[derive(Debug, Clone)]
pub struct VisitRow<'a> {
    pub provider: u32,
    pub client: u32,
    pub service: &'static str,
    pub planned_start: i64,
    pub planned_end: i64,
    /// Actual start and end, for performed visits.
    pub actual: Option<(i64, i64)>,
    pub cancelled_at: Option<i64>,
    pub status: &'static str,
    pub staff_ref: &'a str,
    pub staff_count: u8,
    pub quantity: Option<u8>,
    pub external_id: &'a str,
}

/// What was generated, for the report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub visits: u64,
    pub performed: u64,
    pub cancelled_late: u64,
    pub cancelled_in_time: u64,
    pub missed: u64,
    pub double_staffed: u64,
    /// Reported under a service the client has no assignment for.
    pub outside_assignment: u64,
    /// Naming a client the provider never had (rejected by the import).
    pub unknown_client: u64,
    pub across_midnight: u64,
    pub personal_care: u64,
    pub service: u64,
    pub meals: u64,
    pub night_patrol: u64,
}

impl Stats {
    fn count(&mut self, v: &VisitRow<'_>, tz: &TimeZone) {
        self.visits += 1;
        match v.status {
            "performed" => self.performed += 1,
            "cancelled_late" => self.cancelled_late += 1,
            "cancelled_in_time" => self.cancelled_in_time += 1,
            _ => self.missed += 1,
        }
        self.double_staffed += u64::from(v.staff_count == 2);
        match v.service {
            PERSONAL_CARE => self.personal_care += 1,
            SERVICE => self.service += 1,
            MEALS => self.meals += 1,
            _ => self.night_patrol += 1,
        }
        let (s, e) = v.actual.unwrap_or((v.planned_start, v.planned_end));
        let day = |t: i64| jiff::Timestamp::from_second(t).map(|ts| (t + i64::from(tz.to_offset(ts).seconds())).div_euclid(86_400)).ok();
        self.across_midnight += u64::from(day(s) != day(e - 1));
    }
}

/// Routes of one provider: clients visited in a row by one staff member.
#[derive(Default)]
struct Routes {
    /// Per personal-care slot: routes of client indices.
    care: [Vec<Vec<u32>>; 5],
    /// Per weekday (Monday = 0 .. Friday = 4).
    service: [Vec<Vec<u32>>; 5],
    meals: Vec<Vec<u32>>,
    /// Night patrol, the evening round and the early-morning round.
    patrol: [Vec<Vec<u32>>; 2],
}

fn chunk(list: Vec<u32>, n: usize) -> Vec<Vec<u32>> {
    list.chunks(n.max(1)).map(<[u32]>::to_vec).collect()
}

fn routes(plan: &Plan) -> Vec<Routes> {
    let month = plan.spec.month;
    let (first, last) = (month.first_day(), month.last_day());
    // Routes are geographic: clients of a provider in area order.
    let mut order: Vec<&ClientPlan> = plan.clients.iter().collect();
    order.sort_by_key(|c| (c.area, c.idx));
    let np = plan.providers.len();
    let mut care: Vec<[Vec<u32>; 5]> = (0..np).map(|_| Default::default()).collect();
    let mut service: Vec<[Vec<u32>; 5]> = (0..np).map(|_| Default::default()).collect();
    let mut meals: Vec<Vec<u32>> = vec![Vec::new(); np];
    let mut patrol: Vec<[Vec<u32>; 2]> = (0..np).map(|_| Default::default()).collect();
    for c in order {
        // Every provider this client has for a group during the month.
        let providers = |group: &str| -> Vec<u32> {
            let mut v: Vec<u32> = c
                .periods
                .iter()
                .filter(|p| p.group == group && p.from <= last && p.to.is_none_or(|t| t >= first))
                .map(|p| p.provider)
                .collect();
            v.dedup();
            v
        };
        for p in providers(PERSONAL_CARE) {
            for &(slot, _) in &c.care {
                care[p as usize][slot as usize].push(c.idx);
            }
        }
        if let Some((w, _)) = c.service {
            for p in providers(SERVICE) {
                service[p as usize][w as usize].push(c.idx);
            }
        }
        if c.meals > 0 {
            for p in providers(MEALS) {
                meals[p as usize].push(c.idx);
            }
        }
        for p in providers(NIGHT_PATROL) {
            for round in 0..c.patrol {
                patrol[p as usize][round as usize].push(c.idx);
            }
        }
    }
    (0..np)
        .map(|p| Routes {
            care: std::array::from_fn(|s| chunk(std::mem::take(&mut care[p][s]), CARE_SLOTS[s].2)),
            service: std::array::from_fn(|w| chunk(std::mem::take(&mut service[p][w]), 2)),
            meals: chunk(std::mem::take(&mut meals[p]), 5),
            patrol: std::array::from_fn(|r| chunk(std::mem::take(&mut patrol[p][r]), 4)),
        })
        .collect()
}

/// Whether the provider reports a visit of this group for the client on `d`:
/// the decision grants it that day, or the decision has ended and the
/// provider (carelessly) goes on reporting for a few days.
fn reported(c: &ClientPlan, group: &str, d: Date) -> bool {
    if c.version_on(d).is_some_and(|v| v.services.iter().any(|s| s.0 == group)) {
        return true;
    }
    c.last_reported_day().is_some_and(|last| d <= last && d >= c.first_day())
}

struct Gen<'p, F> {
    plan: &'p Plan,
    tz: TimeZone,
    month_start: i64,
    month_end: i64,
    sink: F,
    stats: Stats,
    staff: String,
    ext: String,
}

/// Kinds of visit, for external ids and staff references.
#[derive(Clone, Copy)]
enum Kind {
    Care(u8),
    Service,
    Meals,
    Patrol(u8),
}

impl Kind {
    fn tag(self) -> (char, u8) {
        match self {
            Kind::Care(s) => ('c', s),
            Kind::Service => ('s', 0),
            Kind::Meals => ('m', 0),
            Kind::Patrol(r) => ('n', r),
        }
    }

    fn service(self) -> &'static str {
        match self {
            Kind::Care(_) => PERSONAL_CARE,
            Kind::Service => SERVICE,
            Kind::Meals => MEALS,
            Kind::Patrol(_) => NIGHT_PATROL,
        }
    }
}

impl<F: FnMut(&VisitRow<'_>) -> std::io::Result<()>> Gen<'_, F> {
    fn local(&self, d: Date, h: i8, m: i8) -> i64 {
        self.tz.to_timestamp(d.at(h, m, 0, 0)).map(|t| t.as_second()).unwrap_or(0)
    }

    /// One route on day `d`: the clients in turn from `start`, each visit
    /// `minutes(c)` long with `travel` minutes between them.
    #[allow(clippy::too_many_arguments)]
    fn route(
        &mut self,
        p: u32,
        d: Date,
        kind: Kind,
        route_no: usize,
        clients: &[u32],
        start: i64,
        travel: i64,
        minutes: impl Fn(&ClientPlan) -> i64,
    ) -> std::io::Result<()> {
        let plan = self.plan;
        let seed = plan.spec.seed;
        let (tag, sub) = kind.tag();
        let service = kind.service();
        let weekend = weekday_index(d) >= 5;
        self.staff.clear();
        use std::fmt::Write as _;
        let _ = write!(self.staff, "{}-{}{}-{:03}{}", plan.providers[p as usize].code, tag, sub, route_no, if weekend { 'B' } else { 'A' });
        let mut t = start;
        let day_no = d.day();
        for &ci in clients {
            let c = &plan.clients[ci as usize];
            if c.provider_on(service, d) != Some(p) || !reported(c, service, d) {
                continue;
            }
            let dur = minutes(c) * 60;
            let (planned_start, planned_end) = (t, t + dur);
            t = planned_end + travel * 60;
            if planned_start < self.month_start || planned_start >= self.month_end {
                continue;
            }
            let mut rng =
                Rng::new(seed, mix(u64::from(ci) << 24 ^ u64::from(day_no as u8) << 16 ^ u64::from(tag as u8) << 8 ^ u64::from(sub)));
            let r = rng.below(1000);
            let status = match kind {
                Kind::Meals => {
                    if r < 990 {
                        "performed"
                    } else {
                        "cancelled_in_time"
                    }
                }
                Kind::Patrol(_) => {
                    if r < 990 {
                        "performed"
                    } else {
                        "missed"
                    }
                }
                _ => match r {
                    0..=954 => "performed",
                    955..=974 => "cancelled_late",
                    975..=994 => "cancelled_in_time",
                    _ => "missed",
                },
            };
            // Recorded times: a few minutes off the plan, with seconds, never
            // reaching into the next home's visit (15 minutes away; meals 7).
            let actual = (status == "performed").then(|| {
                let (early, late, shorter, longer) = if matches!(kind, Kind::Meals) { (0, 2, 1, 2) } else { (2, 5, 5, 4) };
                let s = planned_start + rng.range(-early, late) * 60 + rng.range(0, 59);
                let e = s + (dur + rng.range(-shorter, longer) * 60).max(2 * 60) + rng.range(0, 59);
                (s, e)
            });
            let cancelled_at = match status {
                "cancelled_late" => Some(planned_start - rng.range(30, 23 * 60) * 60),
                "cancelled_in_time" => Some(planned_start - rng.range(25 * 60, 96 * 60) * 60),
                _ => None,
            };
            let double = match kind {
                Kind::Care(_) => c.double_staffing || rng.chance(300),
                _ => false,
            };
            // About one personal-care visit in 200 is reported as service
            // (cleaning), which clients without a service decision have no
            // assignment for: stored, flagged, not paid. One visit in 20 000
            // names a client the provider never had: rejected with its line.
            let mut service = service;
            let mut client = ci;
            if matches!(kind, Kind::Care(_)) {
                if rng.chance(500) && c.service.is_none() {
                    service = SERVICE;
                    self.stats.outside_assignment += 1;
                } else if rng.chance(5) && plan.clients.len() > 1 {
                    client = (ci + plan.clients.len() as u32 / 2) % plan.clients.len() as u32;
                    self.stats.unknown_client += 1;
                }
            }
            self.ext.clear();
            let _ = write!(self.ext, "{ci}-{day_no:02}-{tag}{sub}");
            let row = VisitRow {
                provider: p,
                client,
                service,
                planned_start,
                planned_end,
                actual,
                cancelled_at,
                status,
                staff_ref: &self.staff,
                staff_count: if double { 2 } else { 1 },
                quantity: matches!(kind, Kind::Meals).then_some(c.meals),
                external_id: &self.ext,
            };
            self.stats.count(&row, &self.tz);
            (self.sink)(&row)?;
        }
        Ok(())
    }
}

/// Generates every visit of the month, provider by provider and day by
/// day, and hands each to `sink`. Deterministic: the same plan gives the
/// same rows in the same order.
pub fn generate<F>(plan: &Plan, sink: F) -> std::io::Result<Stats>
where
    F: FnMut(&VisitRow<'_>) -> std::io::Result<()>,
{
    let tz = TimeZone::get("Europe/Stockholm").map_err(std::io::Error::other)?;
    let month = plan.spec.month;
    let at0 = |d: Date| tz.to_timestamp(d.at(0, 0, 0, 0)).map(|t| t.as_second()).unwrap_or(0);
    let month_start = at0(month.first_day());
    let month_end = at0(month.next().first_day());
    let all_routes = routes(plan);
    // The previous evening's late routes reach past midnight into the 1st.
    let mut days = vec![month.first_day().checked_sub(1.day()).unwrap_or(month.first_day())];
    days.extend(month.dates());
    let mut g = Gen { plan, tz, month_start, month_end, sink, stats: Stats::default(), staff: String::new(), ext: String::new() };
    for (p, r) in all_routes.iter().enumerate() {
        let p = p as u32;
        for &d in &days {
            for (slot, routes) in r.care.iter().enumerate() {
                let (h, m, _, _, _) = CARE_SLOTS[slot];
                let start = g.local(d, h, m);
                for (i, route) in routes.iter().enumerate() {
                    let s = slot as u8;
                    g.route(p, d, Kind::Care(s), i, route, start, 15, |c| c.care.iter().find(|x| x.0 == s).map_or(30, |x| x.1))?;
                }
            }
            let w = weekday_index(d);
            if w < 5 && !valfri_core::calendar::is_public_holiday(valfri_core::calendar::Country::Sweden, d) {
                let start = g.local(d, 14, 15);
                for (i, route) in r.service[w as usize].iter().enumerate() {
                    g.route(p, d, Kind::Service, i, route, start, 15, |c| c.service.map_or(60, |s| s.1))?;
                }
            }
            let start = g.local(d, 10, 30);
            for (i, route) in r.meals.iter().enumerate() {
                g.route(p, d, Kind::Meals, i, route, start, 7, |_| 3)?;
            }
            for (round, (h, m)) in [(22, 30), (2, 30)].into_iter().enumerate() {
                let start = g.local(d, h, m);
                for (i, route) in r.patrol[round].iter().enumerate() {
                    g.route(p, d, Kind::Patrol(round as u8), i, route, start, 15, |c| 10 + i64::from(c.idx % 6))?;
                }
            }
        }
    }
    Ok(g.stats)
}

/// Appends `YYYY-MM-DD?HH:MM[:SS]` for Unix seconds `t` read as UTC, with
/// `sep` between date and time; no allocation (25 M rows × 4 times).
fn push_civil(out: &mut Vec<u8>, t: i64, sep: u8, seconds: bool) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let two = |out: &mut Vec<u8>, v: i64| out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
    two(out, y / 100);
    two(out, y % 100);
    out.push(b'-');
    two(out, m);
    out.push(b'-');
    two(out, d);
    out.push(sep);
    two(out, secs / 3600);
    out.push(b':');
    two(out, secs / 60 % 60);
    if seconds {
        out.push(b':');
        two(out, secs % 60);
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds.
pub fn push_utc(out: &mut Vec<u8>, t: i64) {
    push_civil(out, t, b'T', true);
    out.push(b'Z');
}

/// Formats instants as the municipality's local time, the way a provider's
/// system exports them: `2026-04-03 07:00` (planned) or `2026-04-03 07:02:41`
/// (recorded). A local time that happens twice (the autumn fold) gets its
/// offset, as docs/visits-csv.md asks. Offsets are cached per quarter hour.
pub struct LocalFmt {
    tz: TimeZone,
    cache: Vec<(i64, i32, bool)>,
}

impl LocalFmt {
    pub fn new(tz: TimeZone) -> Self {
        LocalFmt { tz, cache: vec![(i64::MIN, 0, false); 8192] }
    }

    fn info(&mut self, t: i64) -> (i32, bool) {
        let slot = t.div_euclid(900);
        let idx = slot.rem_euclid(self.cache.len() as i64) as usize;
        let (k, off, fold) = self.cache[idx];
        if k == slot {
            return (off, fold);
        }
        let (off, fold) = match jiff::Timestamp::from_second(slot * 900) {
            Ok(ts) => {
                let off = self.tz.to_offset(ts);
                let local = off.to_datetime(ts);
                let fold = matches!(self.tz.to_ambiguous_timestamp(local).offset(), jiff::tz::AmbiguousOffset::Fold { .. });
                (off.seconds(), fold)
            }
            Err(_) => (0, false),
        };
        self.cache[idx] = (slot, off, fold);
        (off, fold)
    }

    pub fn push(&mut self, out: &mut Vec<u8>, t: i64, seconds: bool) {
        let (off, fold) = self.info(t);
        push_civil(out, t + i64::from(off), b' ', seconds);
        if fold {
            let (sign, a) = if off < 0 { (b'-', -off) } else { (b'+', off) };
            out.push(sign);
            out.extend_from_slice(format!("{:02}:{:02}", a / 3600, a / 60 % 60).as_bytes());
        }
    }
}

/// Writes visits in the import CSV format (docs/visits-csv.md).
pub struct CsvWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    fmt: LocalFmt,
}

pub const CSV_HEADER: &str =
    "provider,external_id,client,service_type,status,planned_start,planned_end,actual_start,actual_end,cancelled_at,staff_ref,staff_count,quantity";

impl<W: Write> CsvWriter<W> {
    pub fn new(mut out: W, tz: TimeZone) -> std::io::Result<Self> {
        out.write_all(CSV_HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(CsvWriter { out, buf: Vec::with_capacity(256), fmt: LocalFmt::new(tz) })
    }

    pub fn write(&mut self, plan: &Plan, v: &VisitRow<'_>) -> std::io::Result<()> {
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(plan.providers[v.provider as usize].org_nr.as_bytes());
        b.push(b',');
        b.extend_from_slice(v.external_id.as_bytes());
        b.push(b',');
        b.extend_from_slice(plan.clients[v.client as usize].person_id.as_bytes());
        b.push(b',');
        b.extend_from_slice(v.service.as_bytes());
        b.push(b',');
        b.extend_from_slice(v.status.as_bytes());
        b.push(b',');
        self.fmt.push(b, v.planned_start, false);
        b.push(b',');
        self.fmt.push(b, v.planned_end, false);
        b.push(b',');
        if let Some((s, e)) = v.actual {
            self.fmt.push(b, s, true);
            b.push(b',');
            self.fmt.push(b, e, true);
        } else {
            b.push(b',');
        }
        b.push(b',');
        if let Some(t) = v.cancelled_at {
            self.fmt.push(b, t, false);
        }
        b.push(b',');
        b.extend_from_slice(v.staff_ref.as_bytes());
        b.push(b',');
        b.push(b'0' + v.staff_count);
        b.push(b',');
        if let Some(q) = v.quantity {
            b.extend_from_slice(q.to_string().as_bytes());
        }
        b.push(b'\n');
        self.out.write_all(b)
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One provider's report file in `dir`: `<provider code>.csv`.
pub fn provider_file(plan: &Plan, dir: &std::path::Path, provider: u32) -> std::path::PathBuf {
    dir.join(format!("{}.csv", plan.providers[provider as usize].code))
}

/// Writes the month's visits into `dir`, one CSV file per provider that has
/// visits (each provider reports its own), as a provider's system would.
pub fn write_csv_dir(plan: &Plan, dir: &std::path::Path) -> std::io::Result<Stats> {
    std::fs::create_dir_all(dir)?;
    let tz = TimeZone::get(&plan.setup.municipality.time_zone).map_err(std::io::Error::other)?;
    let mut current: Option<(u32, CsvWriter<std::io::BufWriter<std::fs::File>>)> = None;
    let stats = generate(plan, |v| {
        if current.as_ref().map(|c| c.0) != Some(v.provider) {
            if let Some((_, w)) = current.take() {
                w.finish()?;
            }
            let file = std::fs::File::create(provider_file(plan, dir, v.provider))?;
            current = Some((v.provider, CsvWriter::new(std::io::BufWriter::with_capacity(1 << 20, file), tz.clone())?));
        }
        match current.as_mut() {
            Some((_, w)) => w.write(plan, v),
            None => Ok(()),
        }
    })?;
    if let Some((_, w)) = current.take() {
        w.finish()?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Spec;

    #[test]
    fn utc_formatting_matches_jiff() {
        for t in [0i64, 951_782_400, 1_775_000_000, 1_775_001_234, 4_102_444_799] {
            let mut b = Vec::new();
            push_utc(&mut b, t);
            let want = jiff::Timestamp::from_second(t).unwrap().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            assert_eq!(String::from_utf8(b).unwrap(), want);
        }
    }

    #[test]
    fn a_small_month_is_deterministic_and_realistic() {
        let plan = Plan::new(&Spec::small(400, 11));
        let tz = TimeZone::get("Europe/Stockholm").unwrap();
        let mut a = Vec::new();
        let mut w = CsvWriter::new(&mut a, tz.clone()).unwrap();
        let stats = generate(&plan, |v| w.write(&plan, v)).unwrap();
        w.finish().unwrap();
        let mut b = Vec::new();
        let mut w = CsvWriter::new(&mut b, tz).unwrap();
        generate(&Plan::new(&Spec::small(400, 11)), |v| w.write(&plan, v)).unwrap();
        w.finish().unwrap();
        assert_eq!(a, b, "same spec, same bytes");
        // Roughly 100 visits a client, most performed, some of everything.
        assert!((25_000..60_000).contains(&stats.visits), "{stats:?}");
        assert!(stats.performed * 100 / stats.visits >= 90, "{stats:?}");
        for n in [stats.cancelled_late, stats.cancelled_in_time, stats.missed, stats.double_staffed, stats.across_midnight, stats.meals] {
            assert!(n > 0, "{stats:?}");
        }
        // Nobody is in two homes at once, and a provider's visits to one
        // client do not overlap (but for rows naming another client).
        let mut by_staff: std::collections::HashMap<(u32, String), Vec<(i64, i64)>> = Default::default();
        let mut by_client: std::collections::HashMap<(u32, u32), Vec<(i64, i64)>> = Default::default();
        generate(&plan, |v| {
            if let Some(t) = v.actual {
                by_staff.entry((v.provider, v.staff_ref.to_string())).or_default().push(t);
                by_client.entry((v.provider, v.client)).or_default().push(t);
            }
            Ok(())
        })
        .unwrap();
        fn overlaps<K>(m: std::collections::HashMap<K, Vec<(i64, i64)>>) -> u64 {
            let mut n = 0;
            for (_, mut v) in m {
                v.sort_unstable();
                n += v.windows(2).filter(|w| w[1].0 < w[0].1).count() as u64;
            }
            n
        }
        assert!(overlaps(by_staff) <= stats.unknown_client, "staff in two homes");
        assert!(overlaps(by_client) <= 2 * stats.unknown_client, "overlapping visits of one client");
        // External ids are unique per provider.
        let text = String::from_utf8(a).unwrap();
        let mut keys: Vec<(&str, &str)> = text
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0], f[1])
            })
            .collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
