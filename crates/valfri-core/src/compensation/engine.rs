//! The settlement engine: validates and prepares the month once, then settles
//! client by client (every rule of the model is local to one client except
//! the per-provider sums), so the work parallelises over clients and memory
//! does not grow with the number of visits beyond the input itself.

use super::checksum;
use super::exact::{basis_points_of, round_half_away};
use super::rates::RateTable;
use super::time_class::{minute_of, DayTable, UnixMinute};
use super::types::*;
use crate::money::Money;
use crate::month::Month;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Line quantities of the time classes are kept in 1/10 000 minute, the
/// resolution of the late-cancellation factor and of the excess limit.
const MINUTE_UNITS: i64 = 10_000;
const NO_GROUP: u32 = u32::MAX;

fn active_on(from: Date, to: Option<Date>, date: Date) -> bool {
    from <= date && to.is_none_or(|t| date <= t)
}

fn overlaps(from: Date, to: Option<Date>, first: Date, last: Date) -> bool {
    from <= last && to.is_none_or(|t| t >= first && t >= from)
}

/// A class-uniform piece of a paid visit, before aggregation into lines.
#[derive(Debug, Clone, Copy)]
struct Seg {
    /// Index of the visit in the client's sorted visits.
    visit: u32,
    provider: u32,
    external_id: u32,
    service: u32,
    group: u32,
    class: Class,
    rate: u32,
    start: UnixMinute,
    end: UnixMinute,
    /// Paid quantity per minute in MINUTE_UNITS (staffing × factor).
    weight: i64,
    /// Quantity taken away by the excess rule, in MINUTE_UNITS.
    removed: i64,
}

impl Seg {
    fn quantity(&self) -> i128 {
        i128::from(self.end - self.start) * i128::from(self.weight) - i128::from(self.removed)
    }
}

/// What a line is keyed by within one client; sorts like the output lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct LineKey {
    provider: u32,
    service: u32,
    class: Class,
    rate: u32,
}

/// Buffers reused from client to client, so settling allocates per client
/// only when a client is larger than any before it.
#[derive(Default)]
struct Scratch {
    segs: Vec<Seg>,
    agg: Vec<(LineKey, i128)>,
    idx: Vec<usize>,
    active: Vec<usize>,
    groups: Vec<u32>,
}

/// The output of settling some of the month's clients; merged by
/// [`Engine::finish`].
#[derive(Default)]
pub struct Batch {
    lines: Vec<(u32, Line)>,
    flags: Vec<(u32, Flag)>,
    clients: Vec<u32>,
    scratch: Scratch,
}

/// A month prepared for settling: validated settings, the local days with
/// their class boundaries, the rate in force per day, decisions and
/// assignments indexed by client.
pub struct Engine {
    month: Month,
    settings: Settings,
    tz: TimeZone,
    providers: Vec<ProviderInfo>,
    clients: Vec<ClientInfo>,
    table: DayTable,
    month_days: usize,
    rates: RateTable,
    decisions: Vec<Decision>,
    decision_offsets: Vec<usize>,
    assignments: Vec<Assignment>,
    assignment_offsets: Vec<usize>,
}

/// `offsets[c]..offsets[c + 1]` index client c's items in a list sorted by
/// client (`keys` are the items' clients, in that order).
pub fn offsets_by_client(clients: usize, keys: impl Iterator<Item = u32>) -> Vec<usize> {
    let mut offsets = vec![0usize; clients + 1];
    for c in keys {
        offsets[c as usize + 1] += 1;
    }
    for i in 1..offsets.len() {
        offsets[i] += offsets[i - 1];
    }
    offsets
}

fn check_index(what: &'static str, index: u32, len: usize) -> Result<(), InputError> {
    if (index as usize) < len {
        Ok(())
    } else {
        Err(InputError::UnknownIndex { what, index })
    }
}

impl Engine {
    pub fn new(context: SettlementContext) -> Result<Engine, InputError> {
        let SettlementContext { month, settings, providers, clients, rates, mut decisions, mut assignments } = context;
        let tz = TimeZone::get(&settings.time_zone).map_err(|_| InputError::UnknownTimeZone(settings.time_zone.clone()))?;
        if settings.excess_tolerance_bp > 1_000_000 {
            return Err(InputError::InvalidSetting("excess_tolerance_bp"));
        }
        if settings.late_cancellation_factor_bp > 10_000 {
            return Err(InputError::InvalidSetting("late_cancellation_factor_bp"));
        }
        if settings.vat_compensation_bp > 10_000 {
            return Err(InputError::InvalidSetting("vat_compensation_bp"));
        }
        if settings.max_visit_minutes > Settings::MAX_MAX_VISIT_MINUTES {
            return Err(InputError::InvalidSetting("max_visit_minutes"));
        }
        let services = settings.services.len();
        for d in &decisions {
            check_index("decision client", d.client, clients.len())?;
            check_index("decision service", d.service, services)?;
        }
        for a in &assignments {
            check_index("assignment client", a.client, clients.len())?;
            check_index("assignment service", a.service, services)?;
            check_index("assignment provider", a.provider, providers.len())?;
        }
        // The table reaches past the month by the longest visit allowed, plus
        // a day for DST, so every paid minute has its local day.
        let spill_days = settings.max_visit_minutes.div_ceil(1440) + 1;
        let mut last = month.last_day();
        for _ in 0..spill_days {
            last = last.tomorrow().map_err(|_| InputError::DateOutOfRange)?;
        }
        let table = DayTable::new(&tz, settings.country, month.first_day(), last).ok_or(InputError::DateOutOfRange)?;
        let rates = RateTable::new(rates, services, &table)?;
        decisions.sort_unstable();
        decisions.dedup();
        assignments.sort_unstable();
        assignments.dedup();
        let decision_offsets = offsets_by_client(clients.len(), decisions.iter().map(|d| d.client));
        let assignment_offsets = offsets_by_client(clients.len(), assignments.iter().map(|a| a.client));
        Ok(Engine {
            month,
            month_days: month.days() as usize,
            settings,
            tz,
            providers,
            clients,
            table,
            rates,
            decisions,
            decision_offsets,
            assignments,
            assignment_offsets,
        })
    }

    pub fn month(&self) -> Month {
        self.month
    }

    /// An empty batch to settle clients into.
    pub fn batch(&self) -> Batch {
        Batch::default()
    }

    fn check_visit(&self, v: &Visit) -> Result<(), InputError> {
        check_index("visit client", v.client, self.clients.len())?;
        check_index("visit provider", v.provider, self.providers.len())?;
        check_index("visit service", v.service, self.settings.services.len())
    }

    /// Settles one client from all of its visits of the month (in any
    /// order; they are sorted in place). Each client may be given once, in
    /// any batch; clients never given are settled by `finish` from their
    /// assignments alone.
    pub fn add_client(&self, batch: &mut Batch, client: u32, visits: &mut [Visit]) -> Result<(), InputError> {
        check_index("client", client, self.clients.len())?;
        for v in visits.iter() {
            self.check_visit(v)?;
            if v.client != client {
                return Err(InputError::VisitOfOtherClient { client, visit_client: v.client });
            }
        }
        visits.sort_unstable();
        self.settle_client(batch, client, visits)
    }

    /// Merges the batches into the month's settlement, settling the clients
    /// no batch had.
    pub fn finish(&self, batches: Vec<Batch>, adjustments: Vec<Adjustment>) -> Result<Settlement, InputError> {
        let mut seen = vec![false; self.clients.len()];
        for b in &batches {
            for &c in &b.clients {
                if std::mem::replace(&mut seen[c as usize], true) {
                    return Err(InputError::ClientTwice(c));
                }
            }
        }
        let mut rest = self.batch();
        for (c, done) in seen.iter().enumerate() {
            if !done && self.assignment_offsets[c] < self.assignment_offsets[c + 1] {
                self.settle_client(&mut rest, c as u32, &[])?;
            }
        }
        // Bucket by provider batch by batch, so that each batch's buffers are
        // freed before the next is read.
        let n = self.providers.len();
        let mut lines: Vec<Vec<Line>> = vec![Vec::new(); n];
        let mut flags: Vec<Vec<Flag>> = vec![Vec::new(); n];
        let mut adjusted: Vec<Vec<Adjustment>> = vec![Vec::new(); n];
        for b in batches.into_iter().chain(std::iter::once(rest)) {
            for (p, l) in b.lines {
                lines[p as usize].push(l);
            }
            for (p, f) in b.flags {
                flags[p as usize].push(f);
            }
        }
        for a in adjustments {
            check_index("adjustment provider", a.provider, n)?;
            adjusted[a.provider as usize].push(a);
        }

        let mut out = Vec::with_capacity(n);
        let buckets = lines.into_iter().zip(flags).zip(adjusted);
        for (p, ((mut p_lines, mut p_flags), mut p_adj)) in buckets.enumerate() {
            let info = self.providers[p];
            let p = p as u32;
            p_lines.sort_unstable();
            p_flags.sort_unstable();
            p_adj.sort_unstable();
            let lines_total = p_lines.iter().try_fold(Money::ZERO, |acc, l| acc.checked_add(l.amount)).ok_or(InputError::Overflow)?;
            let vat = if info.vat_entitled {
                basis_points_of(lines_total, self.settings.vat_compensation_bp).ok_or(InputError::Overflow)?
            } else {
                Money::ZERO
            };
            let adjustments_total = p_adj.iter().try_fold(Money::ZERO, |acc, a| acc.checked_add(a.amount)).ok_or(InputError::Overflow)?;
            let total = lines_total.checked_add(vat).and_then(|t| t.checked_add(adjustments_total)).ok_or(InputError::Overflow)?;
            let mut ps = ProviderSettlement {
                provider: p,
                lines: p_lines,
                flags: p_flags,
                lines_total,
                vat,
                adjustments: p_adj,
                adjustments_total,
                total,
                checksum: String::new(),
            };
            ps.checksum = checksum::checksum(&ps, self.month, &p.to_string(), |c| c.to_string(), |s| s.to_string());
            out.push(ps);
        }
        Ok(Settlement { month: self.month, providers: out })
    }

    fn flag(batch: &mut Batch, provider: u32, flag: Flag) {
        batch.flags.push((provider, flag));
    }

    /// Settles one client; `visits` are this client's, sorted.
    fn settle_client(&self, batch: &mut Batch, client: u32, visits: &[Visit]) -> Result<(), InputError> {
        batch.clients.push(client);
        let c = client as usize;
        let zone = self.clients[c].zone;
        let decisions = &self.decisions[self.decision_offsets[c]..self.decision_offsets[c + 1]];
        let assignments = &self.assignments[self.assignment_offsets[c]..self.assignment_offsets[c + 1]];
        let mut sc = std::mem::take(&mut batch.scratch);
        sc.segs.clear();
        sc.agg.clear();

        for (vi, v) in visits.iter().enumerate() {
            self.visit(batch, &mut sc, client, zone, decisions, assignments, vi, v);
        }
        self.apply_excess_rule(batch, &mut sc, client, decisions, visits)?;
        for s in &sc.segs {
            let q = s.quantity();
            if q != 0 {
                sc.agg.push((LineKey { provider: s.provider, service: s.service, class: s.class, rate: s.rate }, q));
            }
        }
        self.daily_bases(batch, &mut sc, client, zone, decisions, assignments);
        let result = self.emit_lines(batch, &mut sc, client, zone);
        batch.scratch = sc;
        result
    }

    /// Checks one visit and, when it is paid, records its pieces (time
    /// bases) or its units.
    #[allow(clippy::too_many_arguments)]
    fn visit(
        &self,
        batch: &mut Batch,
        sc: &mut Scratch,
        client: u32,
        zone: u32,
        decisions: &[Decision],
        assignments: &[Assignment],
        vi: usize,
        v: &Visit,
    ) {
        let service = self.settings.services[v.service as usize];
        if matches!(service.basis, Basis::Granted | Basis::PerMonth) {
            // Paid per assignment day, not per visit.
            return;
        }
        let flag = |batch: &mut Batch, code, detail| {
            Self::flag(batch, v.provider, Flag { client, service: v.service, visit: Some(v.external_id), code, detail })
        };
        let (start, end) = (minute_of(v.start), minute_of(v.end));
        if start < self.table.start_of(0) || start >= self.table.start_of(self.month_days) {
            let detail = match Timestamp::from_second(v.start) {
                Ok(ts) => FlagDetail::Date { date: self.tz.to_datetime(ts).date() },
                Err(_) => FlagDetail::None,
            };
            flag(batch, FlagCode::NotInMonth, detail);
            return;
        }
        // Whether the visit is paid at all, and at what share of its minutes.
        let factor = match v.status {
            VisitStatus::Performed => MINUTE_UNITS,
            // Units are delivered or not; only minutes have a late-cancel rule.
            _ if service.basis == Basis::PerUnit => return,
            VisitStatus::Missed => return,
            VisitStatus::CancelledLate | VisitStatus::CancelledInTime => {
                let reported_late = v.status == VisitStatus::CancelledLate;
                let late = match v.cancelled_at {
                    Some(at) => {
                        let notice = start - minute_of(at);
                        let late = notice < i64::from(self.settings.late_cancellation_notice_minutes);
                        if late != reported_late {
                            flag(batch, FlagCode::CancellationReclassified, FlagDetail::Notice { minutes: notice, late });
                        }
                        late
                    }
                    None => reported_late,
                };
                if !late {
                    return;
                }
                i64::from(self.settings.late_cancellation_factor_bp)
            }
        };
        if end < start {
            flag(batch, FlagCode::InvalidTimes, FlagDetail::None);
            return;
        }
        if end - start > i64::from(self.settings.max_visit_minutes) {
            flag(batch, FlagCode::TooLong, FlagDetail::Minutes { minutes: end - start });
            return;
        }
        let Some(day) = self.table.day_index(start) else {
            return;
        };
        let date = self.table.day(day).date;

        let covered = assignments.iter().any(|a| a.provider == v.provider && a.service == v.service && active_on(a.from, a.to, date));
        if !covered {
            flag(batch, FlagCode::NotCovered, FlagDetail::Date { date });
            return;
        }
        let rate_key = self.rates.key(v.service, zone);

        if service.basis == Basis::PerUnit {
            match self.rates.lookup(rate_key, Class::Unit, day) {
                Some(rate) => {
                    let units = v.quantity.map_or(1, |q| q.get());
                    let key = LineKey { provider: v.provider, service: v.service, class: Class::Unit, rate };
                    sc.agg.push((key, i128::from(units)));
                }
                None => flag(batch, FlagCode::NoRate, FlagDetail::Rate { date, class: Class::Unit }),
            }
            return;
        }

        let double_granted =
            v.double_staffed && decisions.iter().any(|d| d.service == v.service && d.double_staffing && active_on(d.from, d.to, date));
        let weight = factor * if double_granted { 2 } else { 1 };
        if weight == 0 || end == start {
            return;
        }
        let first_seg = sc.segs.len();
        let mut missing = None;
        let group = service.group.unwrap_or(NO_GROUP);
        let within = self.table.split(start, end, |p| {
            if missing.is_some() {
                return;
            }
            match self.rates.lookup(rate_key, p.class, p.day) {
                Some(rate) => sc.segs.push(Seg {
                    visit: vi as u32,
                    provider: v.provider,
                    external_id: v.external_id,
                    service: v.service,
                    group,
                    class: p.class,
                    rate,
                    start: p.start,
                    end: p.end,
                    weight,
                    removed: 0,
                }),
                None => missing = Some((self.table.day(p.day).date, p.class)),
            }
        });
        if !within {
            // Unreachable while the table spans max_visit_minutes; kept so a
            // change there cannot turn into silently unpaid minutes.
            flag(batch, FlagCode::TooLong, FlagDetail::Minutes { minutes: end - start });
            return;
        }
        if let Some((date, class)) = missing {
            sc.segs.truncate(first_seg);
            flag(batch, FlagCode::NoRate, FlagDetail::Rate { date, class });
            return;
        }
        if v.double_staffed && !double_granted {
            flag(batch, FlagCode::DoubleStaffingNotGranted, FlagDetail::Date { date });
        }
    }

    /// The granted time of a service group for the month, in minutes: per
    /// service type of the group paid by performed time, the largest monthly
    /// amount among the decisions active on any day of the month, summed.
    fn granted_minutes(&self, decisions: &[Decision], group: u32) -> i128 {
        let (first, last) = (self.month.first_day(), self.month.last_day());
        let mut total = 0i128;
        let mut i = 0;
        // Decisions are sorted by service, so each service is one run.
        while i < decisions.len() {
            let service = decisions[i].service;
            let mut max = None;
            while i < decisions.len() && decisions[i].service == service {
                let d = &decisions[i];
                if overlaps(d.from, d.to, first, last) {
                    max = max.max(Some(d.granted_minutes_per_month));
                }
                i += 1;
            }
            let s = self.settings.services[service as usize];
            if s.basis == Basis::Performed && s.group == Some(group) {
                total += i128::from(max.unwrap_or(0));
            }
        }
        total
    }

    fn apply_excess_rule(
        &self,
        batch: &mut Batch,
        sc: &mut Scratch,
        client: u32,
        decisions: &[Decision],
        visits: &[Visit],
    ) -> Result<(), InputError> {
        sc.groups.clear();
        sc.groups.extend(sc.segs.iter().map(|s| s.group).filter(|&g| g != NO_GROUP));
        sc.groups.sort_unstable();
        sc.groups.dedup();
        let mut any = false;
        for gi in 0..sc.groups.len() {
            let group = sc.groups[gi];
            let paid: i128 = sc.segs.iter().filter(|s| s.group == group).map(Seg::quantity).sum();
            let limit = self.granted_minutes(decisions, group) * i128::from(MINUTE_UNITS + i64::from(self.settings.excess_tolerance_bp));
            if paid > limit {
                sc.idx.clear();
                sc.idx.extend((0..sc.segs.len()).filter(|&i| sc.segs[i].group == group));
                remove_latest(&mut sc.segs, &mut sc.idx, &mut sc.active, paid - limit);
                any = true;
            }
        }
        if !any {
            return Ok(());
        }
        // One flag per visit that lost minutes; a visit's pieces are adjacent.
        let mut i = 0;
        while i < sc.segs.len() {
            let vi = sc.segs[i].visit;
            let (mut removed, mut value) = (0i128, 0i128);
            while i < sc.segs.len() && sc.segs[i].visit == vi {
                let s = &sc.segs[i];
                removed += i128::from(s.removed);
                value += i128::from(s.removed) * i128::from(self.rates.rate(s.rate).amount.ore());
                i += 1;
            }
            if removed > 0 {
                let v = &visits[vi as usize];
                let minutes = Quantity::reduced(removed, i128::from(MINUTE_UNITS)).ok_or(InputError::Overflow)?;
                let amount = round_half_away(value, i128::from(MINUTE_UNITS) * 60).ok_or(InputError::Overflow)?;
                let detail = FlagDetail::Excess { minutes, amount: Money::from_ore(amount) };
                let flag = Flag { client, service: v.service, visit: Some(v.external_id), code: FlagCode::Excess, detail };
                Self::flag(batch, v.provider, flag);
            }
        }
        Ok(())
    }

    /// The granted and per-month bases: paid per day an assignment is active.
    fn daily_bases(&self, batch: &mut Batch, sc: &mut Scratch, client: u32, zone: u32, decisions: &[Decision], assignments: &[Assignment]) {
        let mut i = 0;
        // Assignments are sorted by (service, provider): one run per pair, and
        // overlapping assignments of a pair pay a day once.
        while i < assignments.len() {
            let (service, provider) = (assignments[i].service, assignments[i].provider);
            let mut j = i;
            while j < assignments.len() && (assignments[j].service, assignments[j].provider) == (service, provider) {
                j += 1;
            }
            let run = &assignments[i..j];
            i = j;
            let basis = self.settings.services[service as usize].basis;
            if !matches!(basis, Basis::Granted | Basis::PerMonth) {
                continue;
            }
            let rate_key = self.rates.key(service, zone);
            let mut no_rate: Option<(Date, u32)> = None;
            let mut no_decision: Option<(Date, u32)> = None;
            let note = |slot: &mut Option<(Date, u32)>, date| match slot {
                Some((_, n)) => *n += 1,
                None => *slot = Some((date, 1)),
            };
            for day in 0..self.month_days {
                let date = self.table.day(day).date;
                if !run.iter().any(|a| active_on(a.from, a.to, date)) {
                    continue;
                }
                let (class, rate_class, quantity) = if basis == Basis::Granted {
                    let granted = decisions
                        .iter()
                        .filter(|d| d.service == service && active_on(d.from, d.to, date))
                        .map(|d| d.granted_minutes_per_month)
                        .max();
                    match granted {
                        Some(g) => (Class::Granted, Class::Day, i128::from(g)),
                        None => {
                            note(&mut no_decision, date);
                            continue;
                        }
                    }
                } else {
                    (Class::Month, Class::Month, 1)
                };
                match self.rates.lookup(rate_key, rate_class, day) {
                    Some(rate) if quantity != 0 => sc.agg.push((LineKey { provider, service, class, rate }, quantity)),
                    Some(_) => {}
                    None => note(&mut no_rate, date),
                }
            }
            for (code, slot) in [(FlagCode::NoDecision, no_decision), (FlagCode::NoRate, no_rate)] {
                if let Some((first, count)) = slot {
                    let flag = Flag { client, service, visit: None, code, detail: FlagDetail::Days { first, count } };
                    Self::flag(batch, provider, flag);
                }
            }
        }
    }

    /// Sums the client's quantities per line and prices each line, rounding
    /// once.
    fn emit_lines(&self, batch: &mut Batch, sc: &mut Scratch, client: u32, zone: u32) -> Result<(), InputError> {
        sc.agg.sort_unstable_by_key(|x| x.0);
        let days = self.month_days as i128;
        let mut i = 0;
        while i < sc.agg.len() {
            let key = sc.agg[i].0;
            let mut num = 0i128;
            while i < sc.agg.len() && sc.agg[i].0 == key {
                num = num.checked_add(sc.agg[i].1).ok_or(InputError::Overflow)?;
                i += 1;
            }
            if num == 0 {
                continue;
            }
            let rate = self.rates.rate(key.rate);
            let r = i128::from(rate.amount.ore());
            let (den, amount_den) = match key.class {
                Class::Granted => (days, days * 60),
                Class::Month => (days, days),
                Class::Unit => (1, 1),
                _ => (i128::from(MINUTE_UNITS), i128::from(MINUTE_UNITS) * 60),
            };
            let amount = num.checked_mul(r).and_then(|n| round_half_away(n, amount_den)).ok_or(InputError::Overflow)?;
            let quantity = Quantity::reduced(num, den).ok_or(InputError::Overflow)?;
            batch.lines.push((
                key.provider,
                Line {
                    client,
                    service: key.service,
                    class: key.class,
                    rate_valid_from: rate.valid_from,
                    rate: rate.amount,
                    zone,
                    quantity,
                    amount: Money::from_ore(amount),
                },
            ));
        }
        Ok(())
    }
}

/// Removes `excess` quantity from the chronologically last paid minutes of
/// the pieces `idx` (of one client and group). Minutes are ordered by time,
/// then provider, then external id (then the visit's position, for
/// duplicates), and removed from the last backwards; a double-staffed minute
/// carries two minutes of pay and may lose one of them. Runs of minutes with
/// the same overlapping pieces are removed in one step.
fn remove_latest(segs: &mut [Seg], idx: &mut [usize], active: &mut Vec<usize>, mut excess: i128) {
    idx.sort_unstable_by(|&a, &b| segs[b].end.cmp(&segs[a].end));
    active.clear();
    let Some(&first) = idx.first() else {
        return;
    };
    let mut cur = segs[first].end;
    let mut next = 0;
    while excess > 0 {
        // `active`: the pieces covering the minute just before `cur`.
        while next < idx.len() && segs[idx[next]].end >= cur {
            active.push(idx[next]);
            next += 1;
        }
        active.retain(|&i| segs[i].start < cur);
        if active.is_empty() {
            match idx.get(next) {
                Some(&i) => {
                    cur = segs[i].end;
                    continue;
                }
                None => return,
            }
        }
        let lowest_start = active.iter().map(|&i| segs[i].start).max().unwrap_or(cur);
        let lower = idx.get(next).map_or(lowest_start, |&i| lowest_start.max(segs[i].end));
        let minutes = i128::from(cur - lower);
        let per_minute: i128 = active.iter().map(|&i| i128::from(segs[i].weight)).sum();
        let whole = (excess / per_minute).min(minutes);
        if whole > 0 {
            for &i in active.iter() {
                // whole ≤ the piece's minutes, so this fits the piece's i64.
                segs[i].removed += i64::try_from(whole * i128::from(segs[i].weight)).unwrap_or(0);
            }
            excess -= whole * per_minute;
        }
        if whole == minutes {
            cur = lower;
            continue;
        }
        // Part of one minute: the latest in tie order loses first.
        active.sort_unstable_by(|&a, &b| {
            let key = |i: usize| (segs[i].provider, segs[i].external_id, segs[i].visit);
            key(b).cmp(&key(a))
        });
        for &i in active.iter() {
            let take = excess.min(i128::from(segs[i].weight));
            segs[i].removed += i64::try_from(take).unwrap_or(0);
            excess -= take;
            if excess == 0 {
                break;
            }
        }
        return;
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Settles a month for every provider. Uses all available cores.
pub fn settle(input: SettlementInput) -> Result<Settlement, InputError> {
    settle_with_threads(input, default_threads())
}

/// Moves the visits of clients below `pivot` to the front; returns their count.
fn partition(v: &mut [Visit], pivot: u32) -> usize {
    let mut lo = 0;
    let mut hi = v.len();
    while lo < hi {
        if v[lo].client < pivot {
            lo += 1;
        } else {
            hi -= 1;
            v.swap(lo, hi);
        }
    }
    lo
}

/// Splits the visits into parts by the client ranges `bounds[k]..bounds[k+1]`.
fn split_parts<'a>(v: &'a mut [Visit], bounds: &[u32], out: &mut Vec<(&'a mut [Visit], u32, u32)>) {
    if bounds.len() <= 2 {
        out.push((v, bounds[0], bounds[bounds.len() - 1]));
        return;
    }
    let mid = bounds.len() / 2;
    let k = partition(v, bounds[mid]);
    let (left, right) = v.split_at_mut(k);
    split_parts(left, &bounds[..=mid], out);
    split_parts(right, &bounds[mid..], out);
}

/// Settles a month with at most `threads` threads. The output does not depend
/// on the number of threads.
pub fn settle_with_threads(input: SettlementInput, threads: usize) -> Result<Settlement, InputError> {
    let SettlementInput { context, mut visits, adjustments } = input;
    let engine = Engine::new(context)?;
    for v in &visits {
        engine.check_visit(v)?;
    }
    let clients = engine.clients.len();
    let parts = threads.clamp(1, 64).min(clients.max(1));
    // Balance the parts by visits per client.
    let mut bounds = vec![0u32];
    if parts > 1 {
        let mut counts = vec![0u64; clients];
        for v in &visits {
            counts[v.client as usize] += 1;
        }
        let total = visits.len() as u64;
        let mut acc = 0u64;
        for (c, n) in counts.iter().enumerate() {
            acc += n;
            let k = bounds.len() as u64;
            if k < parts as u64 && acc * parts as u64 >= total * k && (c as u32 + 1) < clients as u32 {
                bounds.push(c as u32 + 1);
            }
        }
    }
    bounds.push(clients as u32);
    let mut work = Vec::new();
    split_parts(&mut visits, &bounds, &mut work);

    let run = |(part, lo, hi): (&mut [Visit], u32, u32)| -> Result<Batch, InputError> {
        part.sort_unstable();
        let mut batch = engine.batch();
        let mut at = 0;
        for c in lo..hi {
            let from = at;
            while at < part.len() && part[at].client == c {
                at += 1;
            }
            let has_assignments = engine.assignment_offsets[c as usize] < engine.assignment_offsets[c as usize + 1];
            if at > from || has_assignments {
                engine.settle_client(&mut batch, c, &part[from..at])?;
            }
        }
        Ok(batch)
    };
    let batches: Vec<Batch> = if work.len() == 1 {
        work.into_iter().map(run).collect::<Result<_, _>>()?
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = work.into_iter().map(|w| s.spawn(move || run(w))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect::<Result<Vec<_>, _>>()
        })?
    };
    engine.finish(batches, adjustments)
}
