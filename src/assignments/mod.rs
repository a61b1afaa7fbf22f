//! Assignments (uppdrag): what a provider is asked to deliver to a client.
//! They are never typed in: they follow from the client's decisions (which
//! services, how much, from when to when) and from who the client's provider
//! is for each service group over time (the choice module hands those
//! periods to `sync_client`). Deriving them in one place, idempotently, is
//! what keeps "a decision changed" and "the client switched" from producing
//! two different answers.
//!
//! An assignment row is a segment with a fixed provider, service, decision,
//! amount and double staffing. A change of amount from a date ends the old
//! segment the day before and starts a new one (the provider sees it as
//! "changed"), so months already paid keep the amount they were paid for.
//! A segment that turns out never to apply is cancelled (status `cancelled`,
//! end_date = start_date only to satisfy the table's CHECK); readers ignore
//! cancelled rows. Rows without a decision (made before decisions existed)
//! are left alone.
//!
//! Groups outside free choice (`choices::CHOICE_GROUPS`: safety alarm, night
//! patrol) go to the municipal unit without a period; a period given for
//! them still wins.
//!
//! Every change sets the assignment back to `pending` with a new `notice`
//! (new, changed, ended, cancelled) and revision, and puts it in the
//! provider's inbox until the provider acknowledges that revision.

pub mod api;
pub mod web;

use crate::error::{ApiError, ApiResult, FieldError};
use jiff::civil::Date;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// One provider for one service group over a date range (inclusive; `to`
/// None = until further notice). The choice module's view of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPeriod {
    pub service_group: String,
    pub provider_id: String,
    pub from: Date,
    pub to: Option<Date>,
    pub choice_id: Option<String>,
}

/// What a sync did, by assignment id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SyncReport {
    pub created: Vec<String>,
    /// End date moved later (or opened) on these.
    pub updated: Vec<String>,
    pub ended: Vec<String>,
    pub cancelled: Vec<String>,
}

impl SyncReport {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.ended.is_empty() && self.cancelled.is_empty()
    }
}

/// A service granted by one version of a decision, over that version's dates.
#[derive(Debug, Clone)]
pub struct Grant {
    pub decision_id: String,
    pub service_type: String,
    pub service_group: String,
    pub monthly_amount: i64,
    pub double_staffing: bool,
    pub from: Date,
    pub to: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    provider_id: String,
    service_type: String,
    decision_id: String,
    monthly_amount: i64,
    double_staffing: bool,
}

#[derive(Debug, Clone)]
struct Existing {
    id: String,
    key: Key,
    start: Date,
    end: Option<Date>,
    choice_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// The end date changes; `ended` says whether it moved earlier.
    SetEnd {
        id: String,
        end: Option<Date>,
        ended: bool,
        reason: Option<&'static str>,
    },
    Cancel {
        id: String,
        reason: &'static str,
    },
    Create {
        id: String,
        key: Key,
        start: Date,
        end: Option<Date>,
        choice_id: Option<String>,
        previous_id: Option<String>,
    },
    /// Silent bookkeeping: the choice behind an unchanged assignment.
    SetChoice {
        id: String,
        choice_id: Option<String>,
    },
}

fn next_day(d: Date) -> Option<Date> {
    d.tomorrow().ok()
}

fn prev_day(d: Date) -> Option<Date> {
    d.yesterday().ok()
}

/// The earlier of two inclusive ends, None being "never".
fn min_end(a: Option<Date>, b: Option<Date>) -> Option<Date> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(a.min(b)),
    }
}

fn covers(from: Date, to: Option<Date>, d: Date) -> bool {
    from <= d && to.is_none_or(|t| d <= t)
}

/// Checks periods: a known shape, and one provider per group on any day.
pub fn check_periods(periods: &[ProviderPeriod]) -> ApiResult<()> {
    let mut errors = Vec::new();
    for (i, p) in periods.iter().enumerate() {
        if p.to.is_some_and(|t| t < p.from) {
            errors.push(FieldError {
                field: format!("periods[{i}].to"),
                code: "end_before_start".into(),
                reason: "ends before it starts".into(),
            });
        }
        for (j, q) in periods.iter().enumerate().skip(i + 1) {
            let overlap = p.service_group == q.service_group && p.from <= q.to.unwrap_or(Date::MAX) && q.from <= p.to.unwrap_or(Date::MAX);
            if overlap {
                errors.push(FieldError {
                    field: format!("periods[{j}]"),
                    code: "overlapping_periods".into(),
                    reason: format!("overlaps periods[{i}] for service group {}", p.service_group),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// A wanted segment: first day, last day (None = open), the choice behind it.
type Seg = (Date, Option<Date>, Option<String>);

/// The segments the client should have: every granted service × the
/// provider for its group, intersected in time, merged where consecutive.
fn desired(grants: &[Grant], periods: &[ProviderPeriod]) -> BTreeMap<Key, Vec<Seg>> {
    let mut out: BTreeMap<Key, Vec<Seg>> = BTreeMap::new();
    for g in grants {
        for p in periods.iter().filter(|p| p.service_group == g.service_group) {
            let start = g.from.max(p.from);
            let end = min_end(g.to, p.to);
            if end.is_some_and(|e| e < start) {
                continue;
            }
            let key = Key {
                provider_id: p.provider_id.clone(),
                service_type: g.service_type.clone(),
                decision_id: g.decision_id.clone(),
                monthly_amount: g.monthly_amount,
                double_staffing: g.double_staffing,
            };
            out.entry(key).or_default().push((start, end, p.choice_id.clone()));
        }
    }
    for segs in out.values_mut() {
        segs.sort_by_key(|s| s.0);
        let mut merged: Vec<Seg> = Vec::new();
        for s in segs.drain(..) {
            match merged.last_mut() {
                Some(last) if last.1.is_some_and(|e| next_day(e) == Some(s.0)) => last.1 = s.1,
                _ => merged.push(s),
            }
        }
        *segs = merged;
    }
    out
}

/// Why an assignment stops after `last_day`.
fn end_reason(key: &Key, last_day: Date, grants: &[Grant], periods: &[ProviderPeriod]) -> &'static str {
    let Some(day) = next_day(last_day) else { return "decision_changed" };
    let of_decision: Vec<&Grant> = grants.iter().filter(|g| g.decision_id == key.decision_id).collect();
    let decision_runs = of_decision.iter().any(|g| covers(g.from, g.to, day));
    if !decision_runs {
        return "decision_ended";
    }
    let grant = of_decision.iter().find(|g| g.service_type == key.service_type && covers(g.from, g.to, day));
    let Some(grant) = grant else { return "decision_changed" };
    let same_provider =
        periods.iter().any(|p| p.service_group == grant.service_group && p.provider_id == key.provider_id && covers(p.from, p.to, day));
    if same_provider {
        "decision_changed"
    } else {
        "provider_changed"
    }
}

/// Compares what should be with what is and returns the changes. Pure, so
/// the rules can be tested without a database.
fn plan(grants: &[Grant], periods: &[ProviderPeriod], existing: &[Existing], new_id: &mut dyn FnMut() -> String) -> Vec<Op> {
    let want = desired(grants, periods);
    let mut ops = Vec::new();
    let mut keys: BTreeSet<Key> = want.keys().cloned().collect();
    keys.extend(existing.iter().map(|e| e.key.clone()));
    // (provider, service) -> end dates after the changes, to link a new segment to the one it continues.
    let mut ends: Vec<(String, String, Option<Date>, String)> = Vec::new();
    let mut created: Vec<Op> = Vec::new();
    for key in keys {
        let segs = want.get(&key).cloned().unwrap_or_default();
        let mut ex: Vec<&Existing> = existing.iter().filter(|e| e.key == key).collect();
        ex.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        let mut kept: Vec<(Date, Option<Date>)> = Vec::new();
        for (i, e) in ex.iter().enumerate() {
            let duplicate = i > 0 && ex[i - 1].start == e.start;
            let seg = segs.iter().find(|s| covers(s.0, s.1, e.start));
            let Some(seg) = seg.filter(|_| !duplicate) else {
                let reason = if duplicate { "duplicate" } else { end_reason(&key, prev_day(e.start).unwrap_or(e.start), grants, periods) };
                ops.push(Op::Cancel { id: e.id.clone(), reason });
                continue;
            };
            let next_start = ex[i + 1..].iter().map(|n| n.start).find(|s| *s > e.start);
            let end = min_end(seg.1, next_start.and_then(prev_day));
            if end != e.end {
                let ended = match (end, e.end) {
                    (Some(n), Some(o)) => n < o,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                let reason = match end {
                    Some(last) if ended => Some(end_reason(&key, last, grants, periods)),
                    _ => None,
                };
                ops.push(Op::SetEnd { id: e.id.clone(), end, ended, reason });
            }
            let choice = periods
                .iter()
                .find(|p| {
                    p.provider_id == key.provider_id && covers(p.from, p.to, e.start) && segs.iter().any(|s| covers(s.0, s.1, e.start))
                })
                .and_then(|p| p.choice_id.clone());
            if choice != e.choice_id && choice.is_some() {
                ops.push(Op::SetChoice { id: e.id.clone(), choice_id: choice });
            }
            kept.push((e.start, end));
            ends.push((key.provider_id.clone(), key.service_type.clone(), end, e.id.clone()));
        }
        // Whatever part of a wanted segment no kept row covers becomes a new row.
        for (s_start, s_end, choice_id) in &segs {
            let mut cursor = Some(*s_start);
            let mut inside: Vec<&(Date, Option<Date>)> = kept.iter().filter(|k| covers(*s_start, *s_end, k.0)).collect();
            inside.sort_by_key(|k| k.0);
            for k in inside {
                let Some(c) = cursor else { break };
                if k.0 > c {
                    created.push(Op::Create {
                        id: new_id(),
                        key: key.clone(),
                        start: c,
                        end: prev_day(k.0),
                        choice_id: choice_id.clone(),
                        previous_id: None,
                    });
                }
                cursor = match k.1 {
                    Some(e) => next_day(e).filter(|n| covers(*s_start, *s_end, *n)),
                    None => None,
                };
            }
            if let Some(c) = cursor {
                created.push(Op::Create {
                    id: new_id(),
                    key: key.clone(),
                    start: c,
                    end: *s_end,
                    choice_id: choice_id.clone(),
                    previous_id: None,
                });
            }
        }
    }
    for op in &created {
        if let Op::Create { id, key, end, .. } = op {
            ends.push((key.provider_id.clone(), key.service_type.clone(), *end, id.clone()));
        }
    }
    for mut op in created {
        if let Op::Create { key, start, previous_id, id, .. } = &mut op {
            let day_before = prev_day(*start);
            *previous_id = ends
                .iter()
                .find(|(p, s, e, other)| *p == key.provider_id && *s == key.service_type && *e == day_before && other != id)
                .map(|x| x.3.clone());
        }
        ops.push(op);
    }
    ops
}

/// Serializes every change to one client's decisions and assignments: the
/// first write of the transaction takes the client row's lock (PostgreSQL)
/// or the database's write lock (SQLite), so checks made after it hold.
pub async fn lock_client(conn: &mut AnyConnection, client_id: &str) -> ApiResult<()> {
    let done = sqlx::query("UPDATE clients SET created_at = created_at WHERE id = $1").bind(client_id).execute(&mut *conn).await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("client"));
    }
    Ok(())
}

fn date(s: &str) -> ApiResult<Date> {
    s.parse::<Date>().map_err(|e| ApiError::Internal(anyhow::anyhow!("stored date {s:?}: {e}")))
}

fn opt_date(s: Option<String>) -> ApiResult<Option<Date>> {
    s.as_deref().map(date).transpose()
}

pub async fn load_grants(conn: &mut AnyConnection, client_id: &str) -> ApiResult<Vec<Grant>> {
    let rows = sqlx::query(
        "SELECT v.decision_id, v.valid_from, v.valid_to, s.service_type, s.monthly_amount, s.double_staffing, t.service_group \
         FROM decision_versions v JOIN decisions d ON d.id = v.decision_id \
         JOIN decision_services s ON s.version_id = v.id JOIN service_types t ON t.code = s.service_type \
         WHERE d.client_id = $1 AND v.state <> 'superseded'",
    )
    .bind(client_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
            Ok(Grant {
                decision_id: g("decision_id")?,
                service_type: g("service_type")?,
                service_group: g("service_group")?,
                monthly_amount: r.try_get("monthly_amount").map_err(anyhow::Error::from)?,
                double_staffing: crate::db::get_flag(r, "double_staffing").map_err(anyhow::Error::from)?,
                from: date(&g("valid_from")?)?,
                to: opt_date(r.try_get("valid_to").map_err(anyhow::Error::from)?)?,
            })
        })
        .collect()
}

pub async fn load_periods(conn: &mut AnyConnection, client_id: &str) -> ApiResult<Vec<ProviderPeriod>> {
    let rows = sqlx::query(
        "SELECT service_group, provider_id, valid_from, valid_to, choice_id FROM client_provider_periods WHERE client_id = $1 \
         ORDER BY service_group, valid_from",
    )
    .bind(client_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
            Ok(ProviderPeriod {
                service_group: g("service_group")?,
                provider_id: g("provider_id")?,
                from: date(&g("valid_from")?)?,
                to: opt_date(r.try_get("valid_to").map_err(anyhow::Error::from)?)?,
                choice_id: r.try_get("choice_id").map_err(anyhow::Error::from)?,
            })
        })
        .collect()
}

/// Replaces the client's provider periods with `periods` (all of them, past
/// and future) and derives the client's assignments. Idempotent. Call it in
/// the transaction that changes the choice.
pub async fn sync_client(
    conn: &mut AnyConnection,
    client_id: &str,
    periods: &[ProviderPeriod],
    now: jiff::Timestamp,
) -> ApiResult<SyncReport> {
    check_periods(periods)?;
    lock_client(conn, client_id).await?;
    sqlx::query("DELETE FROM client_provider_periods WHERE client_id = $1").bind(client_id).execute(&mut *conn).await?;
    for p in periods {
        sqlx::query(
            "INSERT INTO client_provider_periods (client_id, service_group, valid_from, valid_to, provider_id, choice_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(client_id)
        .bind(&p.service_group)
        .bind(p.from.to_string())
        .bind(p.to.map(|d| d.to_string()))
        .bind(&p.provider_id)
        .bind(&p.choice_id)
        .execute(&mut *conn)
        .await?;
    }
    apply(conn, client_id, periods, now).await
}

/// Derives the client's assignments again from its decisions and the
/// provider periods last given to `sync_client`.
pub async fn resync_client(conn: &mut AnyConnection, client_id: &str, now: jiff::Timestamp) -> ApiResult<SyncReport> {
    lock_client(conn, client_id).await?;
    let periods = load_periods(conn, client_id).await?;
    apply(conn, client_id, &periods, now).await
}

/// Service groups outside free choice (e.g. safety alarms, night patrol)
/// are performed by the municipal unit unless a period says otherwise: a
/// decision granting them makes an assignment without anyone choosing.
async fn with_municipal_periods(conn: &mut AnyConnection, grants: &[Grant], periods: &[ProviderPeriod]) -> ApiResult<Vec<ProviderPeriod>> {
    let mut out = periods.to_vec();
    let mut missing: Vec<&str> = grants
        .iter()
        .map(|g| g.service_group.as_str())
        .filter(|g| !crate::choices::CHOICE_GROUPS.contains(g) && !periods.iter().any(|p| p.service_group == *g))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(out);
    }
    let municipal: Option<String> =
        sqlx::query_scalar("SELECT id FROM providers WHERE ownership = 'municipal' ORDER BY created_at, id LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(provider_id) = municipal {
        for g in missing {
            out.push(ProviderPeriod {
                service_group: g.to_string(),
                provider_id: provider_id.clone(),
                from: Date::MIN,
                to: None,
                choice_id: None,
            });
        }
    }
    Ok(out)
}

async fn apply(conn: &mut AnyConnection, client_id: &str, periods: &[ProviderPeriod], now: jiff::Timestamp) -> ApiResult<SyncReport> {
    let grants = load_grants(conn, client_id).await?;
    let periods = &with_municipal_periods(conn, &grants, periods).await?;
    let rows = sqlx::query(
        "SELECT id, provider_id, service_type, decision_id, monthly_amount, double_staffing, start_date, end_date, choice_id \
         FROM assignments WHERE client_id = $1 AND decision_id IS NOT NULL AND status <> 'cancelled'",
    )
    .bind(client_id)
    .fetch_all(&mut *conn)
    .await?;
    let existing = rows
        .iter()
        .map(|r| {
            let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
            Ok(Existing {
                id: g("id")?,
                key: Key {
                    provider_id: g("provider_id")?,
                    service_type: g("service_type")?,
                    decision_id: g("decision_id")?,
                    monthly_amount: r.try_get("monthly_amount").map_err(anyhow::Error::from)?,
                    double_staffing: crate::db::get_flag(r, "double_staffing").map_err(anyhow::Error::from)?,
                },
                start: date(&g("start_date")?)?,
                end: opt_date(r.try_get("end_date").map_err(anyhow::Error::from)?)?,
                choice_id: r.try_get("choice_id").map_err(anyhow::Error::from)?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let ops = plan(&grants, periods, &existing, &mut || uuid::Uuid::now_v7().to_string());
    let stamp = crate::clock::stamp(now);
    let mut report = SyncReport::default();
    for op in ops {
        match op {
            Op::SetEnd { id, end, ended, reason } => {
                sqlx::query(
                    "UPDATE assignments SET end_date = $1, notice = $2, end_reason = $3, status = 'pending', revision = revision + 1, \
                     acknowledged_at = NULL, acknowledged_by = NULL, updated_at = $4 WHERE id = $5",
                )
                .bind(end.map(|d| d.to_string()))
                .bind(if ended { "ended" } else { "changed" })
                .bind(reason)
                .bind(&stamp)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                if ended {
                    report.ended.push(id);
                } else {
                    report.updated.push(id);
                }
            }
            Op::Cancel { id, reason } => {
                sqlx::query(
                    "UPDATE assignments SET end_date = start_date, notice = 'cancelled', end_reason = $1, status = 'cancelled', \
                     revision = revision + 1, acknowledged_at = NULL, acknowledged_by = NULL, updated_at = $2 WHERE id = $3",
                )
                .bind(reason)
                .bind(&stamp)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                report.cancelled.push(id);
            }
            Op::SetChoice { id, choice_id } => {
                sqlx::query("UPDATE assignments SET choice_id = $1 WHERE id = $2").bind(choice_id).bind(&id).execute(&mut *conn).await?;
            }
            Op::Create { id, key, start, end, choice_id, previous_id } => {
                sqlx::query(
                    "INSERT INTO assignments (id, client_id, provider_id, service_type, start_date, end_date, monthly_amount, created_at, \
                     decision_id, choice_id, double_staffing, status, notice, revision, previous_id, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12, 1, $13, $8)",
                )
                .bind(&id)
                .bind(client_id)
                .bind(&key.provider_id)
                .bind(&key.service_type)
                .bind(start.to_string())
                .bind(end.map(|d| d.to_string()))
                .bind(key.monthly_amount)
                .bind(&stamp)
                .bind(&key.decision_id)
                .bind(choice_id)
                .bind(crate::db::flag(key.double_staffing))
                .bind(if previous_id.is_some() { "changed" } else { "new" })
                .bind(previous_id)
                .execute(&mut *conn)
                .await?;
                report.created.push(id);
            }
        }
    }
    Ok(report)
}

/// An assignment as its readers see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Assignment {
    pub id: String,
    pub client_id: String,
    /// `***` when the client has protected identity and the reader may not see it.
    pub client_name: String,
    pub client_address: String,
    pub area_code: String,
    pub provider_id: String,
    pub provider_name: String,
    pub service_type: String,
    /// The decision it follows (absent on assignments made before decisions were registered).
    pub decision_id: Option<String>,
    pub choice_id: Option<String>,
    pub start_date: String,
    /// Inclusive; absent = until further notice.
    pub end_date: Option<String>,
    /// Minutes per month for services counted in hours, otherwise units per month.
    pub monthly_amount: i64,
    /// minutes, portions, visits or months.
    pub amount_unit: String,
    pub double_staffing: bool,
    /// pending (the latest notice is not yet acknowledged), acknowledged, or cancelled (never applied).
    pub status: String,
    /// What the latest change was: new, changed, ended or cancelled.
    pub notice: String,
    /// Goes up with every change; an acknowledgement names the revision it saw.
    pub revision: i64,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    /// Why it ended: decision_ended, decision_changed, provider_changed.
    pub end_reason: Option<String>,
    /// The assignment this one continues (e.g. the same service before an amount change).
    pub previous_id: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
}

const ASSIGNMENT_SQL: &str = "SELECT a.id, a.client_id, c.name AS client_name, c.address AS client_address, c.area_code, \
     c.protected_identity, a.provider_id, p.name AS provider_name, a.service_type, st.unit, a.decision_id, a.choice_id, \
     a.start_date, a.end_date, a.monthly_amount, a.double_staffing, a.status, a.notice, a.revision, a.acknowledged_at, \
     a.acknowledged_by, a.end_reason, a.previous_id, a.created_at, a.updated_at \
     FROM assignments a JOIN clients c ON c.id = a.client_id JOIN providers p ON p.id = a.provider_id \
     JOIN service_types st ON st.code = a.service_type";

fn assignment_from_row(r: &crate::db::Row) -> ApiResult<(Assignment, bool)> {
    let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
    let o = |c: &str| r.try_get::<Option<String>, _>(c).map_err(anyhow::Error::from);
    let a = Assignment {
        id: g("id")?,
        client_id: g("client_id")?,
        client_name: g("client_name")?,
        client_address: g("client_address")?,
        area_code: g("area_code")?,
        provider_id: g("provider_id")?,
        provider_name: g("provider_name")?,
        service_type: g("service_type")?,
        decision_id: o("decision_id")?,
        choice_id: o("choice_id")?,
        start_date: g("start_date")?,
        end_date: o("end_date")?,
        monthly_amount: r.try_get("monthly_amount").map_err(anyhow::Error::from)?,
        amount_unit: crate::decisions::amount_unit(&g("unit")?).into(),
        double_staffing: crate::db::get_flag(r, "double_staffing").map_err(anyhow::Error::from)?,
        status: g("status")?,
        notice: g("notice")?,
        revision: r.try_get("revision").map_err(anyhow::Error::from)?,
        acknowledged_at: o("acknowledged_at")?,
        acknowledged_by: o("acknowledged_by")?,
        end_reason: o("end_reason")?,
        previous_id: o("previous_id")?,
        created_at: g("created_at")?,
        updated_at: o("updated_at")?,
    };
    Ok((a, crate::db::get_flag(r, "protected_identity").map_err(anyhow::Error::from)?))
}

/// Which assignments to list. The reader's role narrows it further.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct AssignmentFilter {
    pub provider_id: Option<String>,
    pub client_id: Option<String>,
    pub decision_id: Option<String>,
    /// pending, acknowledged or cancelled.
    pub status: Option<String>,
    /// Only those whose latest notice is not yet acknowledged (the inbox).
    pub unacknowledged: Option<bool>,
    /// At most this many (default 100, max 1000), most recently changed first.
    pub limit: Option<i64>,
    /// Skip this many first (default 0): the next page is at `offset + limit`.
    pub offset: Option<i64>,
}

/// Assignments `who` may see that match `f`, newest change first. Providers
/// see only their own, citizens only their own; names of clients with
/// protected identity are masked as `clients::for_viewer` says.
pub async fn list(state: &crate::app::AppState, who: &crate::auth::Principal, f: &AssignmentFilter) -> ApiResult<Vec<Assignment>> {
    use crate::auth::PrincipalKind;
    let (mut provider, mut client) = (f.provider_id.clone().unwrap_or_default(), f.client_id.clone().unwrap_or_default());
    match &who.kind {
        PrincipalKind::Admin | PrincipalKind::CaseOfficer => {}
        PrincipalKind::Provider { provider_id } => {
            if !provider.is_empty() && &provider != provider_id {
                return Ok(vec![]);
            }
            provider = provider_id.clone();
        }
        PrincipalKind::Citizen { client_id } => {
            if !client.is_empty() && &client != client_id {
                return Ok(vec![]);
            }
            client = client_id.clone();
        }
    }
    let sql = format!(
        "{ASSIGNMENT_SQL} WHERE ($1 = '' OR a.provider_id = $1) AND ($2 = '' OR a.client_id = $2) AND ($3 = '' OR a.decision_id = $3) \
         AND ($4 = '' OR a.status = $4) AND ($5 = 0 OR a.acknowledged_at IS NULL) \
         ORDER BY COALESCE(a.updated_at, a.created_at) DESC, a.id DESC LIMIT $6 OFFSET $7"
    );
    let offset = crate::api::offset(f.offset)?;
    let rows = sqlx::query(&sql)
        .bind(&provider)
        .bind(&client)
        .bind(f.decision_id.clone().unwrap_or_default())
        .bind(f.status.clone().unwrap_or_default())
        .bind(i64::from(f.unacknowledged.unwrap_or(false)))
        .bind(f.limit.unwrap_or(100).clamp(1, 1000))
        .bind(offset)
        .fetch_all(&state.db.pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut seen: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for r in &rows {
        let (mut a, protected) = assignment_from_row(r)?;
        if protected {
            let visible = match seen.get(&a.client_id) {
                Some(v) => *v,
                None => {
                    let v = crate::clients::sees_protected_identity(state, who, &a.client_id).await?;
                    seen.insert(a.client_id.clone(), v);
                    v
                }
            };
            if !visible {
                a.client_name = crate::clients::MASKED.into();
                a.client_address = crate::clients::MASKED.into();
            }
        }
        out.push(a);
    }
    Ok(out)
}

/// One assignment, if `who` may see it (else None, as if it did not exist).
pub async fn get(state: &crate::app::AppState, who: &crate::auth::Principal, id: &str) -> ApiResult<Option<Assignment>> {
    let row = sqlx::query(&format!("{ASSIGNMENT_SQL} WHERE a.id = $1")).bind(id).fetch_optional(&state.db.pool).await?;
    let Some(row) = row else { return Ok(None) };
    let (mut a, protected) = assignment_from_row(&row)?;
    use crate::auth::PrincipalKind;
    let allowed = match &who.kind {
        PrincipalKind::Admin | PrincipalKind::CaseOfficer => true,
        PrincipalKind::Provider { provider_id } => provider_id == &a.provider_id,
        PrincipalKind::Citizen { client_id } => client_id == &a.client_id,
    };
    if !allowed {
        return Ok(None);
    }
    if protected && !crate::clients::sees_protected_identity(state, who, &a.client_id).await? {
        a.client_name = crate::clients::MASKED.into();
        a.client_address = crate::clients::MASKED.into();
    }
    Ok(Some(a))
}

/// The provider says it has seen the assignment's latest change. Conditional
/// on the revision it saw: a change made meanwhile gives 409. Acknowledging
/// the same revision again is a no-op that answers with the assignment.
pub async fn acknowledge(
    state: &crate::app::AppState,
    who: &crate::auth::Principal,
    id: &str,
    revision: Option<i64>,
) -> ApiResult<(Assignment, bool)> {
    crate::auth::access::require(who, crate::auth::access::Action::AcknowledgeAssignments)?;
    let a = get(state, who, id).await?.ok_or(ApiError::NotFound("assignment"))?;
    let revision = revision.unwrap_or(a.revision);
    if revision != a.revision {
        return Err(ApiError::conflict(
            "assignment_changed",
            format!("the assignment is at revision {}; read it again before acknowledging", a.revision),
        ));
    }
    let done = sqlx::query(
        "UPDATE assignments SET acknowledged_at = $1, acknowledged_by = $2, \
         status = CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE 'acknowledged' END \
         WHERE id = $3 AND provider_id = $4 AND revision = $5 AND acknowledged_at IS NULL",
    )
    .bind(crate::clock::stamp(state.clock.now()))
    .bind(&who.user_id)
    .bind(id)
    .bind(&a.provider_id)
    .bind(revision)
    .execute(&state.db.pool)
    .await?;
    let now = get(state, who, id).await?.ok_or(ApiError::NotFound("assignment"))?;
    if done.rows_affected() == 0 && now.revision != revision {
        return Err(ApiError::conflict(
            "assignment_changed",
            format!("the assignment changed to revision {} meanwhile; read it again", now.revision),
        ));
    }
    Ok((now, done.rows_affected() == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap_or(Date::MIN)
    }

    fn grant(decision: &str, service: &str, amount: i64, from: &str, to: Option<&str>) -> Grant {
        Grant {
            decision_id: decision.into(),
            service_type: service.into(),
            service_group: service.into(),
            monthly_amount: amount,
            double_staffing: false,
            from: d(from),
            to: to.map(d),
        }
    }

    fn period(group: &str, provider: &str, from: &str, to: Option<&str>) -> ProviderPeriod {
        ProviderPeriod { service_group: group.into(), provider_id: provider.into(), from: d(from), to: to.map(d), choice_id: None }
    }

    /// Applies ops to an in-memory table, as the database would.
    fn run(grants: &[Grant], periods: &[ProviderPeriod], table: &mut Vec<(Existing, bool)>) -> Vec<Op> {
        let live: Vec<Existing> = table.iter().filter(|(_, cancelled)| !cancelled).map(|(e, _)| e.clone()).collect();
        let mut n = table.len();
        let ops = plan(grants, periods, &live, &mut || {
            n += 1;
            format!("a{n}")
        });
        for op in &ops {
            match op {
                Op::SetEnd { id, end, .. } => {
                    if let Some((e, _)) = table.iter_mut().find(|(e, _)| &e.id == id) {
                        e.end = *end;
                    }
                }
                Op::Cancel { id, .. } => {
                    if let Some(row) = table.iter_mut().find(|(e, _)| &e.id == id) {
                        row.1 = true;
                    }
                }
                Op::Create { id, key, start, end, choice_id, .. } => table
                    .push((Existing { id: id.clone(), key: key.clone(), start: *start, end: *end, choice_id: choice_id.clone() }, false)),
                Op::SetChoice { .. } => {}
            }
        }
        ops
    }

    fn live(table: &[(Existing, bool)]) -> Vec<(String, i64, Date, Option<Date>)> {
        let mut v: Vec<_> =
            table.iter().filter(|(_, c)| !c).map(|(e, _)| (e.key.provider_id.clone(), e.key.monthly_amount, e.start, e.end)).collect();
        v.sort();
        v
    }

    #[test]
    fn a_decision_and_a_choice_make_one_assignment_and_a_second_sync_changes_nothing() {
        let grants = [grant("d1", "personal_care", 1320, "2026-03-01", None)];
        let periods = [period("personal_care", "p1", "2026-03-10", None)];
        let mut t = vec![];
        let ops = run(&grants, &periods, &mut t);
        assert_eq!(ops.len(), 1);
        assert_eq!(live(&t), vec![("p1".into(), 1320, d("2026-03-10"), None)]);
        assert!(run(&grants, &periods, &mut t).is_empty(), "sync is idempotent");
    }

    #[test]
    fn an_amount_change_ends_the_old_segment_and_links_the_new_one() {
        let periods = [period("personal_care", "p1", "2026-01-01", None)];
        let mut t = vec![];
        run(&[grant("d1", "personal_care", 1320, "2026-01-01", None)], &periods, &mut t);
        let changed =
            [grant("d1", "personal_care", 1320, "2026-01-01", Some("2026-03-31")), grant("d1", "personal_care", 1800, "2026-04-01", None)];
        let ops = run(&changed, &periods, &mut t);
        assert_eq!(live(&t), vec![("p1".into(), 1320, d("2026-01-01"), Some(d("2026-03-31"))), ("p1".into(), 1800, d("2026-04-01"), None)]);
        assert!(ops.iter().any(|o| matches!(o, Op::SetEnd { ended: true, reason: Some("decision_changed"), .. })));
        assert!(ops.iter().any(|o| matches!(o, Op::Create { previous_id: Some(p), .. } if p == "a1")));
        assert!(run(&changed, &periods, &mut t).is_empty());
    }

    #[test]
    fn a_switch_ends_one_provider_and_starts_the_next() {
        let grants = [grant("d1", "personal_care", 600, "2026-01-01", None)];
        let mut t = vec![];
        run(&grants, &[period("personal_care", "p1", "2026-01-01", None)], &mut t);
        let switched = [period("personal_care", "p1", "2026-01-01", Some("2026-03-23")), period("personal_care", "p2", "2026-03-24", None)];
        let ops = run(&grants, &switched, &mut t);
        assert!(ops.iter().any(|o| matches!(o, Op::SetEnd { reason: Some("provider_changed"), .. })));
        assert_eq!(live(&t), vec![("p1".into(), 600, d("2026-01-01"), Some(d("2026-03-23"))), ("p2".into(), 600, d("2026-03-24"), None)]);
    }

    #[test]
    fn ending_a_decision_ends_its_assignments_and_a_withdrawn_future_switch_is_cancelled() {
        let periods = [period("personal_care", "p1", "2026-01-01", Some("2026-03-31")), period("personal_care", "p2", "2026-04-01", None)];
        let mut t = vec![];
        run(&[grant("d1", "personal_care", 600, "2026-01-01", None)], &periods, &mut t);
        assert_eq!(live(&t).len(), 2);
        let ops = run(&[grant("d1", "personal_care", 600, "2026-01-01", Some("2026-03-15"))], &periods, &mut t);
        assert!(ops.iter().any(|o| matches!(o, Op::SetEnd { reason: Some("decision_ended"), .. })));
        assert!(ops.iter().any(|o| matches!(o, Op::Cancel { reason: "decision_ended", .. })));
        assert_eq!(live(&t), vec![("p1".into(), 600, d("2026-01-01"), Some(d("2026-03-15")))]);
    }

    #[test]
    fn services_follow_their_own_group() {
        let grants = [grant("d1", "personal_care", 600, "2026-01-01", None), grant("d1", "meals", 30, "2026-01-01", None)];
        let periods = [period("personal_care", "p1", "2026-01-01", None), period("meals", "p2", "2026-02-01", None)];
        let mut t = vec![];
        run(&grants, &periods, &mut t);
        assert_eq!(live(&t), vec![("p1".into(), 600, d("2026-01-01"), None), ("p2".into(), 30, d("2026-02-01"), None)]);
    }

    #[test]
    fn a_gap_filled_later_gets_a_new_segment() {
        let grants = [grant("d1", "personal_care", 600, "2026-01-01", None)];
        let mut t = vec![];
        run(
            &grants,
            &[period("personal_care", "p1", "2026-01-01", Some("2026-01-31")), period("personal_care", "p1", "2026-03-01", None)],
            &mut t,
        );
        assert_eq!(live(&t).len(), 2);
        run(&grants, &[period("personal_care", "p1", "2026-01-01", None)], &mut t);
        // The first row is extended up to the second, which stays.
        assert_eq!(live(&t), vec![("p1".into(), 600, d("2026-01-01"), Some(d("2026-02-28"))), ("p1".into(), 600, d("2026-03-01"), None)]);
    }

    #[test]
    fn overlapping_periods_are_refused() {
        let periods = [period("personal_care", "p1", "2026-01-01", None), period("personal_care", "p2", "2026-02-01", None)];
        assert!(check_periods(&periods).is_err());
        let fine = [period("personal_care", "p1", "2026-01-01", Some("2026-01-31")), period("personal_care", "p2", "2026-02-01", None)];
        assert!(check_periods(&fine).is_ok());
    }
}
