//! Import-time flags: warnings on stored visits that break a payment rule
//! or look wrong, so the provider can correct them before settlement. They
//! are recomputed for the provider and the months an import touched, as a
//! whole set: each rule is one pass over the month's visits (sorted sweeps
//! for overlaps), never a query per row. The settlement engine decides what
//! is paid; these flags do not feed it.
//!
//! | code | rule |
//! |---|---|
//! | `outside_assignment` | performed or late-cancelled, and no assignment of this provider, client and service is active on the visit's local start date |
//! | `double_staffing_not_granted` | staff_count 2, and no decision of the client for that service grants double staffing on that date |
//! | `beyond_granted` | the client's reported minutes for the service group in the month, across all providers, go beyond granted + tolerance; the chronologically last visits (ties: provider, external id) get the flag |
//! | `staff_overlap` | the same staff reference at two different clients at overlapping times (performed visits) |
//! | `client_overlap` | two performed visits of one provider for one client overlap |
//! | `after_decision_end` | no decision for the service is active on the date, and the client's last one ended before it |
//! | `no_decision` | no decision for the service is active on the date, and none ended before it |

use super::time::{date, days_from_civil, month_of_day, parse_date, parse_stamp};
use super::{Refs, ServiceInfo, Status};
use crate::bulk::{placeholders, value_rows, Conn, B};
use crate::error::ApiResult;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A visit as the flag rules need it. An import of millions of rows keeps
/// one of these per row, so the texts live once in `Names`.
#[derive(Debug, Clone)]
pub struct FlagVisit {
    /// The external id: `Names::ext`.
    pub ext: u32,
    pub client: u32,
    pub service: u16,
    pub status: Status,
    /// The staff reference: `Names::staff`; 0 when none was given.
    pub staff: u32,
    pub staff_count: u8,
    pub start: i64,
    pub end: i64,
    pub local_day: i64,
    pub minutes: i64,
    /// In one of the months being recomputed (others are neighbours read
    /// for overlaps across a month boundary: their flags are only added).
    pub scoped: bool,
    /// Reported in the current import.
    pub in_import: bool,
}

/// The external ids and staff references of the visits being flagged, each
/// text stored once (measured: per-row `String`s made a national-scale
/// import of one provider's 3 M rows peak at 1.5 GB).
#[derive(Debug)]
pub struct Names {
    ext_text: String,
    /// Where each external id ends in `ext_text`.
    ext_ends: Vec<usize>,
    staff: Vec<String>,
    staff_index: HashMap<String, u32>,
}

impl Default for Names {
    fn default() -> Names {
        Names { ext_text: String::new(), ext_ends: Vec::new(), staff: vec![String::new()], staff_index: HashMap::new() }
    }
}

impl Names {
    pub fn push_ext(&mut self, ext: &str) -> u32 {
        self.ext_text.push_str(ext);
        self.ext_ends.push(self.ext_text.len());
        // More than 4 G rows in one import cannot be reached through any input path.
        u32::try_from(self.ext_ends.len() - 1).unwrap_or(u32::MAX)
    }

    pub fn ext(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ext_ends.get(i - 1).copied().unwrap_or(0) };
        let end = self.ext_ends.get(i).copied().unwrap_or(start);
        self.ext_text.get(start..end).unwrap_or("")
    }

    /// The number of a staff reference; "" is 0.
    pub fn staff(&mut self, staff: &str) -> u32 {
        if staff.is_empty() {
            return 0;
        }
        if let Some(&i) = self.staff_index.get(staff) {
            return i;
        }
        let i = u32::try_from(self.staff.len()).unwrap_or(u32::MAX);
        self.staff.push(staff.to_string());
        self.staff_index.insert(staff.to_string(), i);
        i
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: i64,
    pub to: Option<i64>,
}

impl Span {
    fn contains(&self, day: i64) -> bool {
        self.from <= day && self.to.is_none_or(|t| day <= t)
    }

    fn touches(&self, first: i64, last: i64) -> bool {
        self.from <= last && self.to.is_none_or(|t| t >= first)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionSpan {
    pub span: Span,
    pub monthly_amount: i64,
    pub double_staffing: bool,
}

/// The reference data of the rules, keyed by (client index, service index).
#[derive(Debug, Default)]
pub struct Context {
    pub assignments: HashMap<(u32, u16), Vec<Span>>,
    pub decisions: HashMap<(u32, u16), Vec<DecisionSpan>>,
    /// Tolerance in permille per service index, for the month at hand.
    pub tolerance: HashMap<(u16, String), i64>,
}

impl Context {
    fn double_granted(&self, client: u32, service: u16, day: i64) -> bool {
        self.decisions.get(&(client, service)).is_some_and(|ds| ds.iter().any(|d| d.double_staffing && d.span.contains(day)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub visit: usize,
    pub code: &'static str,
    pub detail: String,
}

fn overlap(a: &FlagVisit, b: &FlagVisit) -> bool {
    a.start.max(b.start) < a.end.min(b.end)
}

fn list(ids: &[&str]) -> String {
    let mut s = ids.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    if ids.len() > 3 {
        s.push_str(", …");
    }
    s
}

/// Pairs of overlapping visits within groups; `same_group_ok` says whether
/// a pair counts (e.g. staff at two *different* clients).
fn sweep(
    visits: &[FlagVisit],
    mut members: Vec<usize>,
    key: impl Fn(&FlagVisit) -> u64,
    counts: impl Fn(&FlagVisit, &FlagVisit) -> bool,
) -> HashMap<usize, Vec<usize>> {
    members.sort_unstable_by_key(|&i| (key(&visits[i]), visits[i].start, visits[i].end, i));
    let mut partners: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut active: Vec<usize> = Vec::new();
    let mut current = None;
    for &i in &members {
        let v = &visits[i];
        let k = key(v);
        if current != Some(k) {
            active.clear();
            current = Some(k);
        }
        active.retain(|&a| visits[a].end > v.start);
        for &a in &active {
            if overlap(&visits[a], v) && counts(&visits[a], v) {
                partners.entry(i).or_default().push(a);
                partners.entry(a).or_default().push(i);
            }
        }
        if v.end > v.start {
            active.push(i);
        }
    }
    partners
}

/// The rules that need only the visit itself, the reference data and the
/// provider's other visits (everything but `beyond_granted`).
pub fn local_flags(visits: &[FlagVisit], ctx: &Context, names: &Names) -> Vec<Flag> {
    let mut out = Vec::new();
    for (i, v) in visits.iter().enumerate() {
        if !v.scoped || !v.status.is_paid_kind() {
            continue;
        }
        let key = (v.client, v.service);
        if !ctx.assignments.get(&key).is_some_and(|s| s.iter().any(|s| s.contains(v.local_day))) {
            out.push(Flag { visit: i, code: "outside_assignment", detail: String::new() });
        }
        let decisions = ctx.decisions.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        if v.staff_count == 2 && !ctx.double_granted(v.client, v.service, v.local_day) {
            out.push(Flag { visit: i, code: "double_staffing_not_granted", detail: String::new() });
        }
        if !decisions.iter().any(|d| d.span.contains(v.local_day)) {
            let ended = decisions.iter().filter_map(|d| d.span.to).filter(|t| *t < v.local_day).max();
            match ended {
                Some(t) => out.push(Flag { visit: i, code: "after_decision_end", detail: date(t) }),
                None => out.push(Flag { visit: i, code: "no_decision", detail: String::new() }),
            }
        }
    }
    let performed: Vec<usize> = (0..visits.len()).filter(|&i| visits[i].status == Status::Performed).collect();
    let with_staff: Vec<usize> = performed.iter().copied().filter(|&i| visits[i].staff != 0).collect();
    let staff = sweep(visits, with_staff, |v| u64::from(v.staff), |a, b| a.client != b.client);
    let client = sweep(visits, performed, |v| u64::from(v.client), |_, _| true);
    for (code, pairs) in [("staff_overlap", staff), ("client_overlap", client)] {
        let mut keys: Vec<_> = pairs.into_iter().collect();
        keys.sort_unstable_by_key(|(i, _)| *i);
        for (i, mut others) in keys {
            others.sort_unstable();
            others.dedup();
            let ids: Vec<&str> = others.iter().map(|&o| names.ext(visits[o].ext)).collect();
            out.push(Flag { visit: i, code, detail: list(&ids) });
        }
    }
    out
}

/// The granted minutes of a service group for a month: per performed-basis
/// service type of the group, the largest monthly amount among the client's
/// decisions active on any day of the month, summed. None when the client
/// has no decision for the group at all (then `no_decision` says enough).
pub fn granted_for_group(ctx: &Context, services: &[ServiceInfo], client: u32, group: &str, first: i64, last: i64) -> Option<i64> {
    let mut any = false;
    let mut total = 0;
    for (si, s) in services.iter().enumerate() {
        if s.group != group || s.basis != "performed" {
            continue;
        }
        if let Some(ds) = ctx.decisions.get(&(client, si as u16)) {
            any |= !ds.is_empty();
            total += ds.iter().filter(|d| d.span.touches(first, last)).map(|d| d.monthly_amount).max().unwrap_or(0);
        }
    }
    any.then_some(total)
}

/// A month as (first day, last day, "YYYY-MM").
pub fn month_bounds(month: &str) -> Option<(i64, i64)> {
    let first = parse_date(&format!("{month}-01"))?;
    let (y, m) = (month.get(0..4)?.parse::<i64>().ok()?, month.get(5..7)?.parse::<i64>().ok()?);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some((first, days_from_civil(ny, nm, 1) - 1))
}

/// Loads the provider's assignments and the decisions of `clients` (by index).
pub async fn load_context(
    conn: &mut Conn,
    refs: &mut Refs,
    provider_id: &str,
    clients: &BTreeSet<u32>,
    months: &[String],
) -> ApiResult<Context> {
    let mut ctx = Context::default();
    let rows: Vec<(String, String, String, Option<String>)> = conn
        .fetch(
            "SELECT client_id, service_type, start_date, end_date FROM assignments WHERE provider_id = $1 AND status <> 'cancelled'",
            &[B::S(provider_id)],
        )
        .await?;
    for (c, s, from, to) in rows {
        let (Some(si), Some(from)) = (refs.service_index(&s), parse_date(&from)) else { continue };
        let ci = refs.intern_client(&c);
        ctx.assignments.entry((ci, si)).or_default().push(Span { from, to: to.as_deref().and_then(parse_date) });
    }
    let ids: Vec<String> = clients.iter().map(|&c| refs.client_ids[c as usize].clone()).collect();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT d.client_id, s.service_type, v.valid_from, v.valid_to, s.monthly_amount, s.double_staffing \
             FROM decisions d JOIN decision_versions v ON v.decision_id = d.id JOIN decision_services s ON s.version_id = v.id \
             WHERE v.state <> 'superseded' AND d.client_id IN ({})",
            placeholders(1, chunk.len())
        );
        let binds: Vec<B> = chunk.iter().map(|c| B::S(c)).collect();
        let rows: Vec<(String, String, String, Option<String>, i64, i64)> = conn.fetch(&sql, &binds).await?;
        for (c, s, from, to, amount, double) in rows {
            let (Some(si), Some(from)) = (refs.service_index(&s), parse_date(&from)) else { continue };
            let ci = refs.intern_client(&c);
            ctx.decisions.entry((ci, si)).or_default().push(DecisionSpan {
                span: Span { from, to: to.as_deref().and_then(parse_date) },
                monthly_amount: amount,
                double_staffing: double != 0,
            });
        }
    }
    // The tolerance of each service's choice system, in force on the first day of each month.
    let rows: Vec<(String, String, i64)> = conn
        .fetch(
            "SELECT css.service_type, v.valid_from, v.tolerance_permille FROM choice_system_services css \
             JOIN choice_system_versions v ON v.choice_system_id = css.choice_system_id ORDER BY v.valid_from",
            &[],
        )
        .await?;
    for m in months {
        let first = format!("{m}-01");
        for (s, from, tol) in &rows {
            let Some(si) = refs.service_index(s) else { continue };
            let key = (si, m.clone());
            if from.as_str() <= first.as_str() || !ctx.tolerance.contains_key(&key) {
                ctx.tolerance.insert(key, *tol);
            }
        }
    }
    Ok(ctx)
}

const DEFAULT_TOLERANCE_PERMILLE: i64 = 100;

/// provider, external id, service, status, staff count, start, minutes, local date.
type DetailRow = (String, String, String, String, i64, String, i64, String);

/// Minutes as the excess rule counts them: twice for granted double staffing.
fn paid_minutes(ctx: &Context, client: u32, service: u16, day: i64, minutes: i64, staff_count: u8) -> i64 {
    if staff_count == 2 && ctx.double_granted(client, service, day) {
        minutes * 2
    } else {
        minutes
    }
}

/// Recomputes `beyond_granted` for the clients of `own` in each month, across
/// providers, and returns the flagged visits of the importing provider by
/// external id. Other providers' minutes are summed in SQL first; only a
/// client-month that may be over its limit is read visit by visit.
pub async fn beyond_granted(
    conn: &mut Conn,
    refs: &mut Refs,
    ctx: &Context,
    provider_id: &str,
    months: &[String],
    own: &[FlagVisit],
) -> ApiResult<HashSet<String>> {
    let mut own_flagged = HashSet::new();
    let services = refs.services.clone();
    for m in months {
        let Some((first, last)) = month_bounds(m) else { continue };
        // Own paid minutes per (client, group).
        let mut own_minutes: HashMap<(u32, &str), i64> = HashMap::new();
        let mut clients: BTreeSet<u32> = BTreeSet::new();
        for v in own.iter().filter(|v| v.scoped && v.local_day >= first && v.local_day <= last) {
            clients.insert(v.client);
            let s = &services[usize::from(v.service)];
            if v.status.is_paid_kind() && s.basis == "performed" {
                *own_minutes.entry((v.client, s.group.as_str())).or_default() +=
                    paid_minutes(ctx, v.client, v.service, v.local_day, v.minutes, v.staff_count);
            }
        }
        if clients.is_empty() {
            continue;
        }
        let ids: Vec<String> = clients.iter().map(|&c| refs.client_ids[c as usize].clone()).collect();
        // Others' minutes, at most (double staffing counted twice wherever reported).
        let mut others: HashMap<(u32, String), i64> = HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT client_id, service_type, CAST(SUM(minutes) AS BIGINT), CAST(SUM(CASE WHEN staff_count = 2 THEN minutes ELSE 0 END) AS BIGINT) FROM visits \
                 WHERE month = $1 AND provider_id <> $2 AND client_id IN ({}) \
                 AND status IN ('performed', 'cancelled_late') GROUP BY client_id, service_type",
                placeholders(3, chunk.len())
            );
            let mut binds = vec![B::S(m), B::S(provider_id)];
            binds.extend(chunk.iter().map(|c| B::S(c)));
            let rows: Vec<(String, String, i64, i64)> = conn.fetch(&sql, &binds).await?;
            for (c, s, minutes, doubled) in rows {
                let Some(si) = refs.service_index(&s) else { continue };
                let svc = &services[usize::from(si)];
                if svc.basis != "performed" {
                    continue;
                }
                let ci = refs.intern_client(&c);
                *others.entry((ci, svc.group.clone())).or_default() += minutes + doubled;
            }
        }
        // Candidates: over the limit with others counted at most.
        let mut candidates: BTreeSet<u32> = BTreeSet::new();
        let groups: BTreeSet<&str> = services.iter().filter(|s| s.basis == "performed").map(|s| s.group.as_str()).collect();
        for &c in &clients {
            for g in &groups {
                let reported = own_minutes.get(&(c, *g)).copied().unwrap_or(0) + others.get(&(c, g.to_string())).copied().unwrap_or(0);
                if reported == 0 {
                    continue;
                }
                let Some(granted) = granted_for_group(ctx, &services, c, g, first, last) else { continue };
                let tol = group_tolerance(ctx, &services, g, m);
                if reported * 1000 > granted * (1000 + tol) {
                    candidates.insert(c);
                }
            }
        }
        for chunk in ids.chunks(500) {
            let sql = format!(
                "DELETE FROM visit_flags WHERE code = 'beyond_granted' AND month = $1 AND client_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut binds = vec![B::S(m)];
            binds.extend(chunk.iter().map(|c| B::S(c)));
            conn.exec(&sql, &binds).await?;
        }
        let mut inserts: Vec<(String, String, String, String)> = Vec::new();
        for c in candidates {
            let cid = refs.client_ids[c as usize].clone();
            let rows: Vec<DetailRow> = conn
                .fetch(
                    "SELECT provider_id, external_id, service_type, status, staff_count, start_at, minutes, local_date FROM visits \
                     WHERE month = $1 AND client_id = $2 AND status IN ('performed', 'cancelled_late')",
                    &[B::S(m), B::S(&cid)],
                )
                .await?;
            let mut by_group: HashMap<&str, Vec<(i64, &str, &str, i64)>> = HashMap::new();
            for (p, ext, s, _st, staff, start, minutes, day) in &rows {
                let Some(si) = refs.service_index(s) else { continue };
                let svc = &services[usize::from(si)];
                if svc.basis != "performed" {
                    continue;
                }
                let day = parse_date(day).unwrap_or(first);
                let paid = paid_minutes(ctx, c, si, day, *minutes, *staff as u8);
                by_group.entry(svc.group.as_str()).or_default().push((parse_stamp(start).unwrap_or(0), p.as_str(), ext.as_str(), paid));
            }
            let mut group_names: Vec<&str> = by_group.keys().copied().collect();
            group_names.sort_unstable();
            for g in group_names {
                let Some(granted) = granted_for_group(ctx, &services, c, g, first, last) else { continue };
                let tol = group_tolerance(ctx, &services, g, m);
                let mut vs = by_group.remove(g).unwrap_or_default();
                vs.sort_unstable();
                let total: i64 = vs.iter().map(|v| v.3).sum();
                let mut running = 0;
                for (_, p, ext, paid) in vs {
                    running += paid;
                    if running * 1000 > granted * (1000 + tol) && paid > 0 {
                        if p == provider_id {
                            own_flagged.insert(ext.to_string());
                        }
                        inserts.push((p.to_string(), ext.to_string(), cid.clone(), format!("{total}/{granted}+{}%", tol as f64 / 10.0)));
                    }
                }
            }
        }
        for chunk in inserts.chunks(200) {
            let mut sql = format!(
                "INSERT INTO visit_flags (provider_id, external_id, code, client_id, month, detail) VALUES {}",
                value_rows(chunk.len(), 6)
            );
            let mut binds = Vec::with_capacity(chunk.len() * 6);
            for (p, ext, cid, detail) in chunk {
                binds.extend([B::S(p), B::S(ext), B::S("beyond_granted"), B::S(cid), B::S(m), B::S(detail)]);
            }
            sql.push_str(" ON CONFLICT (provider_id, external_id, code) DO UPDATE SET detail = excluded.detail");
            conn.exec(&sql, &binds).await?;
        }
    }
    Ok(own_flagged)
}

fn group_tolerance(ctx: &Context, services: &[ServiceInfo], group: &str, month: &str) -> i64 {
    services
        .iter()
        .enumerate()
        .filter(|(_, s)| s.group == group && s.basis == "performed")
        .filter_map(|(i, _)| ctx.tolerance.get(&(i as u16, month.to_string())).copied())
        .max()
        .unwrap_or(DEFAULT_TOLERANCE_PERMILLE)
}

/// Replaces the provider's flags (other than `beyond_granted`) in `months`
/// with `flags`; flags on neighbouring visits outside the months are added.
pub async fn write_local(
    conn: &mut Conn,
    provider_id: &str,
    months: &[String],
    visits: &[FlagVisit],
    flags: &[Flag],
    refs: &Refs,
    names: &Names,
) -> ApiResult<()> {
    for m in months {
        conn.exec(
            "DELETE FROM visit_flags WHERE provider_id = $1 AND month = $2 AND code <> 'beyond_granted'",
            &[B::S(provider_id), B::S(m)],
        )
        .await?;
    }
    let rows: Vec<(&str, &str, &str, String, &str)> = flags
        .iter()
        .map(|f| {
            let v = &visits[f.visit];
            (names.ext(v.ext), f.code, refs.client_ids[v.client as usize].as_str(), month_of_day(v.local_day), f.detail.as_str())
        })
        .collect();
    for chunk in rows.chunks(200) {
        let mut sql = format!(
            "INSERT INTO visit_flags (provider_id, external_id, code, client_id, month, detail) VALUES {}",
            value_rows(chunk.len(), 6)
        );
        let mut binds = Vec::with_capacity(chunk.len() * 6);
        for (ext, code, cid, month, detail) in chunk {
            binds.extend([B::S(provider_id), B::S(ext), B::S(code), B::S(cid), B::S(month), B::S(detail)]);
        }
        sql.push_str(" ON CONFLICT (provider_id, external_id, code) DO NOTHING");
        conn.exec(&sql, &binds).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests name visits and staff by one letter and digit: "a" and "S1".
    fn names() -> Names {
        let mut n = Names::default();
        for e in ["a", "b", "c", "d", "long", "x", "y", "z"] {
            n.push_ext(e);
        }
        for s in ["S1", "S2", "S3", "S4"] {
            n.staff(s);
        }
        n
    }

    fn v(ext: &str, client: u32, staff: &str, start: i64, end: i64) -> FlagVisit {
        let mut n = names();
        let ext = (0..8).find(|&i| n.ext(i) == ext).unwrap_or(u32::MAX);
        FlagVisit {
            ext,
            client,
            service: 0,
            status: Status::Performed,
            staff: n.staff(staff),
            staff_count: 1,
            start,
            end,
            local_day: 100,
            minutes: (end - start) / 60,
            scoped: true,
            in_import: true,
        }
    }

    fn covered() -> Context {
        let mut ctx = Context::default();
        for c in 0..3 {
            ctx.assignments.insert((c, 0), vec![Span { from: 0, to: None }]);
            ctx.decisions
                .insert((c, 0), vec![DecisionSpan { span: Span { from: 0, to: None }, monthly_amount: 600, double_staffing: false }]);
        }
        ctx
    }

    fn codes(flags: &[Flag], visits: &[FlagVisit]) -> Vec<(String, &'static str, String)> {
        let n = names();
        let mut c: Vec<_> = flags.iter().map(|f| (n.ext(visits[f.visit].ext).to_string(), f.code, f.detail.clone())).collect();
        c.sort();
        c
    }

    #[test]
    fn names_keep_each_text_once() {
        let mut n = Names::default();
        let (a, empty, b) = (n.push_ext("a-1"), n.push_ext(""), n.push_ext("ö-2"));
        assert_eq!((n.ext(a), n.ext(empty), n.ext(b)), ("a-1", "", "ö-2"));
        assert_eq!(n.ext(99), "", "an unknown number is no text, not a panic");
        assert_eq!(n.staff(""), 0);
        let s1 = n.staff("S1");
        assert_ne!(s1, 0);
        assert_eq!(n.staff("S1"), s1);
        assert_ne!(n.staff("S2"), s1);
    }

    #[test]
    fn staff_in_two_homes_at_once() {
        let visits = vec![v("a", 0, "S1", 0, 3600), v("b", 1, "S1", 1800, 5400), v("c", 2, "S1", 5400, 6000), v("d", 1, "S2", 0, 600)];
        let f = local_flags(&visits, &covered(), &names());
        assert_eq!(
            codes(&f, &visits),
            [("a".into(), "staff_overlap", "b".into()), ("b".into(), "staff_overlap", "a".into())],
            "back to back (b ends as c starts) is fine"
        );
    }

    #[test]
    fn the_same_staff_twice_at_one_client_is_a_client_overlap_only() {
        let visits = vec![v("a", 0, "S1", 0, 3600), v("b", 0, "S1", 600, 1200)];
        let f = local_flags(&visits, &covered(), &names());
        assert_eq!(codes(&f, &visits), [("a".into(), "client_overlap", "b".into()), ("b".into(), "client_overlap", "a".into())]);
    }

    #[test]
    fn contained_and_zero_length_visits() {
        let visits =
            vec![v("long", 0, "S1", 0, 36_000), v("x", 0, "S2", 100, 200), v("y", 0, "S3", 30_000, 30_100), v("z", 0, "S4", 500, 500)];
        let f = local_flags(&visits, &covered(), &names());
        assert_eq!(
            codes(&f, &visits),
            [
                ("long".into(), "client_overlap", "x, y".into()),
                ("x".into(), "client_overlap", "long".into()),
                ("y".into(), "client_overlap", "long".into())
            ]
        );
    }

    #[test]
    fn payment_rules_per_visit() {
        let mut ctx = covered();
        ctx.assignments.insert((1, 0), vec![Span { from: 0, to: Some(99) }]);
        ctx.decisions
            .insert((2, 0), vec![DecisionSpan { span: Span { from: 0, to: Some(90) }, monthly_amount: 600, double_staffing: true }]);
        let mut a = v("a", 0, "S1", 0, 600);
        a.staff_count = 2;
        let b = v("b", 1, "S1", 1000, 1600);
        let c = v("c", 2, "S1", 2000, 2600);
        let mut d = v("d", 3, "S1", 3000, 3600);
        d.status = Status::CancelledInTime;
        let visits = vec![a, b, c, d];
        let f = local_flags(&visits, &ctx, &names());
        assert_eq!(
            codes(&f, &visits),
            [
                ("a".into(), "double_staffing_not_granted", "".into()),
                ("b".into(), "outside_assignment", "".into()),
                ("c".into(), "after_decision_end", date(90)),
            ]
        );
    }

    #[test]
    fn granted_time_of_a_group() {
        let services = vec![
            ServiceInfo { code: "pc".into(), group: "personal_care".into(), basis: "performed".into() },
            ServiceInfo { code: "pc2".into(), group: "personal_care".into(), basis: "performed".into() },
        ];
        let mut ctx = Context::default();
        ctx.decisions.insert(
            (0, 0),
            vec![
                DecisionSpan { span: Span { from: 0, to: Some(10) }, monthly_amount: 600, double_staffing: false },
                DecisionSpan { span: Span { from: 11, to: None }, monthly_amount: 900, double_staffing: false },
            ],
        );
        ctx.decisions.insert((0, 1), vec![DecisionSpan { span: Span { from: 0, to: None }, monthly_amount: 60, double_staffing: false }]);
        assert_eq!(granted_for_group(&ctx, &services, 0, "personal_care", 0, 30), Some(960), "the largest of the month, not prorated");
        assert_eq!(granted_for_group(&ctx, &services, 0, "personal_care", 0, 5), Some(660));
        assert_eq!(granted_for_group(&ctx, &services, 1, "personal_care", 0, 5), None);
        assert_eq!(month_bounds("2026-02"), Some((days_from_civil(2026, 2, 1), days_from_civil(2026, 2, 28))));
        assert_eq!(month_bounds("2026-12"), Some((days_from_civil(2026, 12, 1), days_from_civil(2026, 12, 31))));
    }
}
