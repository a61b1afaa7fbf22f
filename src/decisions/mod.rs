//! Needs-assessment decisions (biståndsbeslut): a case officer grants a
//! client services with an amount per month (minutes for hour-based
//! services, otherwise portions, visits or months), double staffing where
//! granted, from a date and optionally to a date (inclusive).
//!
//! A decision is never edited. A change from a date is a new version: the
//! version it replaces keeps its content and gets `valid_to` = the day
//! before (state `replaced`); a change that applies from the replaced
//! version's own first day marks it `superseded` (it never applied). So
//! "what was granted on 3 February?" has one answer, the history stays
//! readable, and a version's row is only ever touched to close it.
//! Ending a decision sets `valid_to` on the current version and ends its
//! assignments on the same date.
//!
//! Every change re-derives the client's assignments in the same
//! transaction (`assignments::resync_client`).

pub mod api;
pub mod demo;
pub mod web;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Fields};
use crate::setup::model::ServiceType;
use jiff::civil::Date;
use jiff::ToSpan;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use utoipa::ToSchema;

/// A decision not executed within this long of its start goes in the IVO report.
pub const IVO_MONTHS: i64 = 3;
/// The most a month can hold: 31 days × 24 hours, in minutes.
pub const MAX_MINUTES_PER_MONTH: i64 = 31 * 24 * 60;
pub const MAX_UNITS_PER_MONTH: i64 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ServiceGrant {
    /// A service type code from the municipal setup, e.g. `personal_care`.
    pub service_type: String,
    /// Per month: minutes for services counted in hours (22 h = 1320),
    /// otherwise units (portions, visits; 1 for a monthly service such as a safety alarm).
    pub monthly_amount: i64,
    /// Two staff at the same time (only for services counted in hours).
    #[serde(default)]
    pub double_staffing: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantedService {
    pub service_type: String,
    pub service_group: String,
    pub monthly_amount: i64,
    /// What `monthly_amount` counts: minutes, portions, visits or months.
    pub amount_unit: String,
    pub double_staffing: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecisionVersion {
    pub id: String,
    pub version: i64,
    pub valid_from: String,
    /// Inclusive; absent = until further notice.
    pub valid_to: Option<String>,
    /// current, replaced (closed the day before the next version) or superseded (never applied).
    pub state: String,
    pub decided_by: String,
    pub decided_by_name: String,
    pub decided_at: String,
    pub note: String,
    pub replaced_by: Option<String>,
    pub ended_at: Option<String>,
    pub ended_by: Option<String>,
    pub end_reason: Option<String>,
    pub services: Vec<GrantedService>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Decision {
    /// Stable over all versions; assignments refer to it.
    pub id: String,
    pub client_id: String,
    /// The first day any version applied.
    pub start_date: String,
    /// The current version's last day, if set.
    pub end_date: Option<String>,
    /// upcoming, active or ended, on today's date.
    pub status: String,
    pub created_at: String,
    pub created_by: String,
    pub current: DecisionVersion,
    /// Every version, newest first (the current one included).
    pub versions: Vec<DecisionVersion>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewDecision {
    /// First day (YYYY-MM-DD).
    pub valid_from: String,
    /// Last day, inclusive (YYYY-MM-DD); omit for until further notice.
    #[serde(default)]
    pub valid_to: Option<String>,
    pub services: Vec<ServiceGrant>,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DecisionChange {
    /// The day the change applies from; the current version ends the day before.
    pub valid_from: String,
    #[serde(default)]
    pub valid_to: Option<String>,
    /// The complete set of services granted from `valid_from` (not a delta).
    pub services: Vec<ServiceGrant>,
    #[serde(default)]
    pub note: String,
    /// The version the change was made against; a newer one gives 409.
    #[serde(default)]
    pub expected_version: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DecisionEnd {
    /// The last day of the decision (inclusive); its assignments end the same day.
    pub end_date: String,
    pub reason: String,
}

/// A service granted on a given day; what the choice module needs to know.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Granted {
    pub decision_id: String,
    pub service_type: String,
    pub service_group: String,
    pub monthly_amount: i64,
    pub double_staffing: bool,
}

pub fn amount_unit(unit: &str) -> &'static str {
    match unit {
        "hour" => "minutes",
        "portion" => "portions",
        "visit" => "visits",
        _ => "months",
    }
}

fn parse_opt_date(f: &mut Fields, field: &str, s: Option<&str>) -> Option<Option<Date>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(None),
        Some(s) => crate::setup::model::parse_date(f, field, s).map(Some),
    }
}

/// Checks granted services against the setup; all problems at once.
pub fn check_services(f: &mut Fields, services: &[ServiceGrant], types: &[ServiceType]) {
    if services.is_empty() {
        f.push("services", "required", "grant at least one service");
    }
    for (i, s) in services.iter().enumerate() {
        let field = |x: &str| format!("services[{i}].{x}");
        if services[..i].iter().any(|o| o.service_type == s.service_type) {
            f.push(&field("service_type"), "duplicate_service", "each service may be granted once per decision");
        }
        let Some(t) = types.iter().find(|t| t.code == s.service_type) else {
            f.push(&field("service_type"), "unknown_service_type", format!("no service type {:?} in the setup", s.service_type));
            continue;
        };
        let (min, max) = match t.unit.as_str() {
            "hour" => (1, MAX_MINUTES_PER_MONTH),
            "month" => (1, 1),
            _ => (1, MAX_UNITS_PER_MONTH),
        };
        if s.monthly_amount < min || s.monthly_amount > max {
            f.push(
                &field("monthly_amount"),
                "amount_out_of_range",
                format!("{} per month must be between {min} and {max}", amount_unit(&t.unit)),
            );
        }
        if s.double_staffing && t.unit != "hour" {
            f.push(&field("double_staffing"), "double_staffing_not_applicable", "double staffing applies to services counted in hours");
        }
    }
}

struct Dates {
    from: Date,
    to: Option<Date>,
}

fn check_dates(f: &mut Fields, from: &str, to: Option<&str>, from_field: &str) -> Option<Dates> {
    let from = crate::setup::model::parse_date(f, from_field, from.trim());
    let to = parse_opt_date(f, "valid_to", to);
    match (from, to) {
        (Some(from), Some(to)) => {
            if to.is_some_and(|t| t < from) {
                f.push("valid_to", "end_before_start", "the last day is before the first");
                return None;
            }
            Some(Dates { from, to })
        }
        _ => None,
    }
}

async fn service_types(state: &AppState) -> ApiResult<Vec<ServiceType>> {
    let mut c = state.db.pool.acquire().await?;
    crate::setup::store::service_types(&mut c).await
}

/// Refuses a service granted twice for the same days by different decisions.
async fn check_no_overlap(
    conn: &mut AnyConnection,
    client_id: &str,
    decision_id: &str,
    dates: &Dates,
    services: &[ServiceGrant],
) -> ApiResult<()> {
    let rows = sqlx::query(
        "SELECT s.service_type, v.decision_id, v.valid_from FROM decision_versions v JOIN decisions d ON d.id = v.decision_id \
         JOIN decision_services s ON s.version_id = v.id \
         WHERE d.client_id = $1 AND d.id <> $2 AND v.state <> 'superseded' AND v.valid_from <= $3 \
         AND (v.valid_to IS NULL OR v.valid_to >= $4)",
    )
    .bind(client_id)
    .bind(decision_id)
    .bind(dates.to.map(|d| d.to_string()).unwrap_or_else(|| "9999-12-31".into()))
    .bind(dates.from.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let st: String = r.try_get("service_type").map_err(anyhow::Error::from)?;
        if services.iter().any(|s| s.service_type == st) {
            let other: String = r.try_get("decision_id").map_err(anyhow::Error::from)?;
            return Err(ApiError::conflict(
                "service_already_granted",
                format!("{st} is already granted for these dates by decision {other}; change or end that decision first"),
            ));
        }
    }
    Ok(())
}

/// A version about to be written.
struct NewVersion<'a> {
    id: &'a str,
    decision_id: &'a str,
    version: i64,
    dates: &'a Dates,
    who: &'a Principal,
    now: &'a str,
    note: &'a str,
    services: &'a [ServiceGrant],
}

async fn insert_version(conn: &mut AnyConnection, v: NewVersion<'_>) -> ApiResult<()> {
    let NewVersion { id, decision_id, version, dates, who, now, note, services } = v;
    sqlx::query(
        "INSERT INTO decision_versions (id, decision_id, version, valid_from, valid_to, state, decided_by, decided_at, note) \
         VALUES ($1, $2, $3, $4, $5, 'current', $6, $7, $8)",
    )
    .bind(id)
    .bind(decision_id)
    .bind(version)
    .bind(dates.from.to_string())
    .bind(dates.to.map(|d| d.to_string()))
    .bind(&who.user_id)
    .bind(now)
    .bind(note.trim())
    .execute(&mut *conn)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("version_conflict", "the decision was changed at the same time; read it again"),
        other => other,
    })?;
    for s in services {
        sqlx::query("INSERT INTO decision_services (version_id, service_type, monthly_amount, double_staffing) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(&s.service_type)
            .bind(s.monthly_amount)
            .bind(crate::db::flag(s.double_staffing))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn check_note(f: &mut Fields, note: &str) {
    if note.chars().count() > 2000 {
        f.push("note", "too_long", "at most 2000 characters");
    }
}

/// Registers a decision for a client and derives its assignments.
pub async fn create(state: &AppState, who: &Principal, client_id: &str, d: &NewDecision) -> ApiResult<Decision> {
    let types = service_types(state).await?;
    let mut f = Fields::new();
    let dates = check_dates(&mut f, &d.valid_from, d.valid_to.as_deref(), "valid_from");
    check_services(&mut f, &d.services, &types);
    check_note(&mut f, &d.note);
    f.finish()?;
    let dates = dates.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("dates missing after validation")))?;
    let now = crate::clock::stamp(state.clock.now());
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = state.db.pool.begin().await?;
    crate::assignments::lock_client(&mut tx, client_id).await?;
    check_no_overlap(&mut tx, client_id, &id, &dates, &d.services).await?;
    sqlx::query("INSERT INTO decisions (id, client_id, created_at, created_by) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(client_id)
        .bind(&now)
        .bind(&who.user_id)
        .execute(&mut *tx)
        .await?;
    let version_id = uuid::Uuid::now_v7().to_string();
    insert_version(
        &mut tx,
        NewVersion { id: &version_id, decision_id: &id, version: 1, dates: &dates, who, now: &now, note: &d.note, services: &d.services },
    )
    .await?;
    crate::assignments::resync_client(&mut tx, client_id, state.clock.now()).await?;
    tx.commit().await?;
    get(state, &id).await?.ok_or(ApiError::NotFound("decision"))
}

struct Current {
    id: String,
    version: i64,
    valid_from: Date,
    valid_to: Option<Date>,
    ended: bool,
}

async fn current(conn: &mut AnyConnection, decision_id: &str) -> ApiResult<Current> {
    let row = sqlx::query(
        "SELECT v.id, v.version, v.valid_from, v.valid_to, v.ended_at FROM decisions d \
         JOIN decision_versions v ON v.decision_id = d.id AND v.state = 'current' WHERE d.id = $1",
    )
    .bind(decision_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ApiError::NotFound("decision"))?;
    let g = |c: &str| row.try_get::<String, _>(c).map_err(anyhow::Error::from);
    let to: Option<String> = row.try_get("valid_to").map_err(anyhow::Error::from)?;
    let ended_at: Option<String> = row.try_get("ended_at").map_err(anyhow::Error::from)?;
    Ok(Current {
        id: g("id")?,
        version: row.try_get("version").map_err(anyhow::Error::from)?,
        valid_from: parse_stored(&g("valid_from")?)?,
        valid_to: to.as_deref().map(parse_stored).transpose()?,
        ended: ended_at.is_some(),
    })
}

fn parse_stored(s: &str) -> ApiResult<Date> {
    s.parse().map_err(|e| ApiError::Internal(anyhow::anyhow!("stored date {s:?}: {e}")))
}

/// The client a decision belongs to (for access checks before reading it).
pub async fn client_of(state: &AppState, decision_id: &str) -> ApiResult<String> {
    sqlx::query_scalar("SELECT client_id FROM decisions WHERE id = $1")
        .bind(decision_id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or(ApiError::NotFound("decision"))
}

/// A change from a date: a new version with the complete set of services.
pub async fn change(state: &AppState, who: &Principal, decision_id: &str, c: &DecisionChange) -> ApiResult<Decision> {
    let types = service_types(state).await?;
    let mut f = Fields::new();
    let dates = check_dates(&mut f, &c.valid_from, c.valid_to.as_deref(), "valid_from");
    check_services(&mut f, &c.services, &types);
    check_note(&mut f, &c.note);
    f.finish()?;
    let dates = dates.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("dates missing after validation")))?;
    let client_id = client_of(state, decision_id).await?;
    let mut tx = state.db.pool.begin().await?;
    crate::assignments::lock_client(&mut tx, &client_id).await?;
    let cur = current(&mut tx, decision_id).await?;
    if c.expected_version.is_some_and(|v| v != cur.version) {
        return Err(ApiError::conflict(
            "version_conflict",
            format!("the decision is at version {}; read it again before changing it", cur.version),
        ));
    }
    if dates.from < cur.valid_from {
        return Err(ApiError::field(
            "valid_from",
            "change_before_current_version",
            format!("a change applies from {} (the current version's first day) or later", cur.valid_from),
        ));
    }
    if let Some(to) = cur.valid_to.filter(|t| dates.from > *t) {
        return Err(ApiError::field(
            "valid_from",
            "decision_already_ended",
            format!("the decision ends on {to}; register a new decision for later dates"),
        ));
    }
    check_no_overlap(&mut tx, &client_id, decision_id, &dates, &c.services).await?;
    let now = crate::clock::stamp(state.clock.now());
    let new_id = uuid::Uuid::now_v7().to_string();
    let closed = if dates.from == cur.valid_from {
        sqlx::query("UPDATE decision_versions SET state = 'superseded', replaced_by = $1 WHERE id = $2 AND state = 'current'")
            .bind(&new_id)
            .bind(&cur.id)
            .execute(&mut *tx)
            .await?
    } else {
        let day_before = dates.from.yesterday().map_err(anyhow::Error::from)?;
        sqlx::query("UPDATE decision_versions SET state = 'replaced', replaced_by = $1, valid_to = $2 WHERE id = $3 AND state = 'current'")
            .bind(&new_id)
            .bind(day_before.to_string())
            .bind(&cur.id)
            .execute(&mut *tx)
            .await?
    };
    if closed.rows_affected() != 1 {
        return Err(ApiError::conflict("version_conflict", "the decision was changed at the same time; read it again"));
    }
    insert_version(
        &mut tx,
        NewVersion {
            id: &new_id,
            decision_id,
            version: cur.version + 1,
            dates: &dates,
            who,
            now: &now,
            note: &c.note,
            services: &c.services,
        },
    )
    .await?;
    crate::assignments::resync_client(&mut tx, &client_id, state.clock.now()).await?;
    tx.commit().await?;
    get(state, decision_id).await?.ok_or(ApiError::NotFound("decision"))
}

/// Ends a decision on a day (inclusive) and its assignments with it. Ending
/// again on the same day changes nothing; a later day needs a change.
pub async fn end(state: &AppState, who: &Principal, decision_id: &str, e: &DecisionEnd) -> ApiResult<Decision> {
    let mut f = Fields::new();
    let end = crate::setup::model::parse_date(&mut f, "end_date", e.end_date.trim());
    crate::setup::model::check_text(&mut f, "reason", &e.reason, 500);
    f.finish()?;
    let end = end.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("date missing after validation")))?;
    let client_id = client_of(state, decision_id).await?;
    let mut tx = state.db.pool.begin().await?;
    crate::assignments::lock_client(&mut tx, &client_id).await?;
    let cur = current(&mut tx, decision_id).await?;
    if cur.ended && cur.valid_to == Some(end) {
        drop(tx);
        return get(state, decision_id).await?.ok_or(ApiError::NotFound("decision"));
    }
    if end < cur.valid_from {
        return Err(ApiError::field(
            "end_date",
            "end_before_start",
            format!("the current version starts on {}; the last day cannot be earlier", cur.valid_from),
        ));
    }
    if let Some(to) = cur.valid_to.filter(|t| end > *t) {
        return Err(ApiError::field("end_date", "end_after_end", format!("the decision already ends on {to}; extend it with a change")));
    }
    let now = crate::clock::stamp(state.clock.now());
    let done = sqlx::query(
        "UPDATE decision_versions SET valid_to = $1, ended_at = $2, ended_by = $3, end_reason = $4 WHERE id = $5 AND state = 'current'",
    )
    .bind(end.to_string())
    .bind(&now)
    .bind(&who.user_id)
    .bind(e.reason.trim())
    .bind(&cur.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(ApiError::conflict("version_conflict", "the decision was changed at the same time; read it again"));
    }
    crate::assignments::resync_client(&mut tx, &client_id, state.clock.now()).await?;
    tx.commit().await?;
    get(state, decision_id).await?.ok_or(ApiError::NotFound("decision"))
}

const VERSION_SQL: &str = "SELECT v.id, v.decision_id, v.version, v.valid_from, v.valid_to, v.state, v.decided_by, \
     COALESCE(u.display_name, '') AS decided_by_name, v.decided_at, v.note, v.replaced_by, v.ended_at, v.ended_by, v.end_reason, \
     d.client_id, d.created_at, d.created_by \
     FROM decision_versions v JOIN decisions d ON d.id = v.decision_id LEFT JOIN users u ON u.id = v.decided_by";

async fn load(state: &AppState, filter: &str, arg: &str) -> ApiResult<Vec<Decision>> {
    let mut c = state.db.pool.acquire().await?;
    let types: HashMap<String, ServiceType> =
        crate::setup::store::service_types(&mut c).await?.into_iter().map(|t| (t.code.clone(), t)).collect();
    let rows = sqlx::query(&format!("{VERSION_SQL} WHERE {filter} ORDER BY d.created_at DESC, d.id, v.version DESC"))
        .bind(arg)
        .fetch_all(&mut *c)
        .await?;
    let services = sqlx::query(&format!(
        "SELECT s.version_id, s.service_type, s.monthly_amount, s.double_staffing FROM decision_services s \
         JOIN decision_versions v ON v.id = s.version_id JOIN decisions d ON d.id = v.decision_id WHERE {filter} ORDER BY s.service_type"
    ))
    .bind(arg)
    .fetch_all(&mut *c)
    .await?;
    let mut by_version: HashMap<String, Vec<GrantedService>> = HashMap::new();
    for r in &services {
        let st: String = r.try_get("service_type").map_err(anyhow::Error::from)?;
        let t = types.get(&st);
        by_version.entry(r.try_get("version_id").map_err(anyhow::Error::from)?).or_default().push(GrantedService {
            service_group: t.map(|t| t.group.clone()).unwrap_or_default(),
            amount_unit: amount_unit(t.map(|t| t.unit.as_str()).unwrap_or("")).into(),
            service_type: st,
            monthly_amount: r.try_get("monthly_amount").map_err(anyhow::Error::from)?,
            double_staffing: crate::db::get_flag(r, "double_staffing").map_err(anyhow::Error::from)?,
        });
    }
    let today = state.today().to_string();
    let mut out: Vec<Decision> = Vec::new();
    for r in &rows {
        let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
        let o = |c: &str| r.try_get::<Option<String>, _>(c).map_err(anyhow::Error::from);
        let v = DecisionVersion {
            id: g("id")?,
            version: r.try_get("version").map_err(anyhow::Error::from)?,
            valid_from: g("valid_from")?,
            valid_to: o("valid_to")?,
            state: g("state")?,
            decided_by: g("decided_by")?,
            decided_by_name: g("decided_by_name")?,
            decided_at: g("decided_at")?,
            note: g("note")?,
            replaced_by: o("replaced_by")?,
            ended_at: o("ended_at")?,
            ended_by: o("ended_by")?,
            end_reason: o("end_reason")?,
            services: by_version.remove(&g("id")?).unwrap_or_default(),
        };
        let decision_id = g("decision_id")?;
        match out.last_mut() {
            Some(d) if d.id == decision_id => d.versions.push(v),
            _ => out.push(Decision {
                id: decision_id,
                client_id: g("client_id")?,
                start_date: String::new(),
                end_date: None,
                status: String::new(),
                created_at: g("created_at")?,
                created_by: g("created_by")?,
                current: v.clone(),
                versions: vec![v],
            }),
        }
    }
    for d in &mut out {
        if let Some(cur) = d.versions.iter().find(|v| v.state == "current") {
            d.current = cur.clone();
        }
        d.start_date = d.versions.iter().filter(|v| v.state != "superseded").map(|v| v.valid_from.clone()).min().unwrap_or_default();
        d.end_date = d.current.valid_to.clone();
        d.status = if d.start_date.as_str() > today.as_str() {
            "upcoming"
        } else if d.end_date.as_ref().is_some_and(|e| e.as_str() < today.as_str()) {
            "ended"
        } else {
            "active"
        }
        .into();
    }
    Ok(out)
}

pub async fn get(state: &AppState, id: &str) -> ApiResult<Option<Decision>> {
    Ok(load(state, "d.id = $1", id).await?.into_iter().next())
}

/// A client's decisions, newest first.
pub async fn for_client(state: &AppState, client_id: &str) -> ApiResult<Vec<Decision>> {
    load(state, "d.client_id = $1", client_id).await
}

/// The services granted to a client on a day, from every decision in force.
pub async fn granted_on(conn: &mut AnyConnection, client_id: &str, day: Date) -> ApiResult<Vec<Granted>> {
    let grants = crate::assignments::load_grants(conn, client_id).await?;
    Ok(grants
        .into_iter()
        .filter(|g| g.from <= day && g.to.is_none_or(|t| day <= t))
        .map(|g| Granted {
            decision_id: g.decision_id,
            service_type: g.service_type,
            service_group: g.service_group,
            monthly_amount: g.monthly_amount,
            double_staffing: g.double_staffing,
        })
        .collect())
}

/// A row of the IVO report (ej verkställda beslut).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnexecutedDecision {
    pub decision_id: String,
    pub client_id: String,
    pub client_name: String,
    pub area_code: String,
    /// Service types of the current version.
    pub services: Vec<String>,
    pub start_date: String,
    /// Start date + 3 months: executed by then or reported.
    pub deadline: String,
    /// Days from the start date to the first assignment's start, or to today if none has started.
    pub days_waiting: i64,
    /// The first day an assignment of the decision started, if it has (late).
    pub executed_on: Option<String>,
    /// The decision's last day, if it has ended or is set to end.
    pub end_date: Option<String>,
}

/// Decisions not executed (no assignment started) within three months of
/// their start, as of `today`: still waiting, executed late, or ended
/// without ever being executed. Oldest first.
pub async fn unexecuted(state: &AppState, today: Date) -> ApiResult<Vec<UnexecutedDecision>> {
    let pool = &state.db.pool;
    let starts = sqlx::query(
        "SELECT d.id, d.client_id, c.name, c.area_code, MIN(v.valid_from) AS start_date \
         FROM decisions d JOIN decision_versions v ON v.decision_id = d.id AND v.state <> 'superseded' \
         JOIN clients c ON c.id = d.client_id GROUP BY d.id, d.client_id, c.name, c.area_code",
    )
    .fetch_all(pool)
    .await?;
    let first_started: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT decision_id, MIN(start_date) FROM assignments WHERE decision_id IS NOT NULL AND status <> 'cancelled' AND start_date <= $1 \
         GROUP BY decision_id",
    )
    .bind(today.to_string())
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let current: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT v.decision_id, v.valid_to, COALESCE(s.service_type, '') FROM decision_versions v \
         LEFT JOIN decision_services s ON s.version_id = v.id WHERE v.state = 'current' ORDER BY s.service_type",
    )
    .fetch_all(pool)
    .await?;
    let mut cur: HashMap<String, (Option<String>, Vec<String>)> = HashMap::new();
    for (id, to, st) in current {
        let e = cur.entry(id).or_insert_with(|| (to, vec![]));
        if !st.is_empty() {
            e.1.push(st);
        }
    }
    let mut out = Vec::new();
    for r in &starts {
        let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
        let start = parse_stored(&g("start_date")?)?;
        let deadline = start.checked_add(IVO_MONTHS.months()).map_err(anyhow::Error::from)?;
        if deadline >= today {
            continue;
        }
        let id = g("id")?;
        let executed = first_started.get(&id).map(|s| parse_stored(s)).transpose()?;
        if executed.is_some_and(|e| e <= deadline) {
            continue;
        }
        let (end_date, services) = cur.remove(&id).unwrap_or_default();
        let until = executed.unwrap_or(today);
        out.push(UnexecutedDecision {
            days_waiting: (until - start).get_days().into(),
            decision_id: id,
            client_id: g("client_id")?,
            client_name: g("name")?,
            area_code: g("area_code")?,
            services,
            start_date: start.to_string(),
            deadline: deadline.to_string(),
            executed_on: executed.map(|d| d.to_string()),
            end_date,
        });
    }
    out.sort_by(|a, b| (&a.start_date, &a.decision_id).cmp(&(&b.start_date, &b.decision_id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> Vec<ServiceType> {
        let t = |code: &str, unit: &str| ServiceType {
            code: code.into(),
            name_sv: code.into(),
            name_en: code.into(),
            group: code.into(),
            unit: unit.into(),
            basis: "performed".into(),
        };
        vec![t("personal_care", "hour"), t("meals", "portion"), t("safety_alarm", "month")]
    }

    fn grant(st: &str, amount: i64, ds: bool) -> ServiceGrant {
        ServiceGrant { service_type: st.into(), monthly_amount: amount, double_staffing: ds }
    }

    fn codes(services: &[ServiceGrant]) -> Vec<String> {
        let mut f = Fields::new();
        check_services(&mut f, services, &types());
        f.into_vec().into_iter().map(|e| format!("{}:{}", e.field, e.code)).collect()
    }

    #[test]
    fn services_are_checked_against_their_unit() {
        assert!(codes(&[grant("personal_care", 1320, true), grant("meals", 60, false), grant("safety_alarm", 1, false)]).is_empty());
        assert_eq!(codes(&[]), vec!["services:required"]);
        assert_eq!(codes(&[grant("personal_care", 0, false)]), vec!["services[0].monthly_amount:amount_out_of_range"]);
        assert_eq!(
            codes(&[grant("personal_care", MAX_MINUTES_PER_MONTH + 1, false)]),
            vec!["services[0].monthly_amount:amount_out_of_range"]
        );
        assert_eq!(codes(&[grant("safety_alarm", 2, false)]), vec!["services[0].monthly_amount:amount_out_of_range"]);
        assert_eq!(codes(&[grant("meals", 30, true)]), vec!["services[0].double_staffing:double_staffing_not_applicable"]);
        assert_eq!(codes(&[grant("sauna", 30, false)]), vec!["services[0].service_type:unknown_service_type"]);
        assert_eq!(codes(&[grant("meals", 30, false), grant("meals", 20, false)]), vec!["services[1].service_type:duplicate_service"]);
    }
}
