//! Contracts (avtal) under a choice system, from the provider's application
//! to termination:
//!
//! ```text
//! applied → under_review → approved → active ⇄ paused
//!                        ↘ rejected      ↘        ↘
//!                                   terminated ← ─ ┘ (also from approved)
//! ```
//!
//! A provider answers every requirement of the conditions in force, with
//! evidence files; the municipality gives a verdict per requirement and then
//! approves (setting the contract period, the services and areas covered and
//! an optional capacity ceiling) or rejects, always with a written reason.
//! Every change is a conditional UPDATE on the status it was decided from,
//! with a row in `contract_events` (who, when, why).
//!
//! While a contract is in force the provider reports capacity changes (in
//! force from the 1st of the next month when reported by the conditions'
//! `capacity_change_day`, else the month after) and closes or reopens itself
//! for new clients; the municipality closes areas, or a service in an area,
//! to private providers. Whether a provider may take a new client is decided
//! in `eligibility`.

pub mod api;
pub mod demo;
pub mod eligibility;
pub mod evidence;
pub mod web;

use crate::app::AppState;
use crate::auth::access::{permits, require, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult, Fields};
use crate::setup::model::{check_text, parse_date, ChoiceSystem, Conditions};
use jiff::civil::Date;
use jiff::ToSpan;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Applied,
    UnderReview,
    Approved,
    Rejected,
    Active,
    Paused,
    Terminated,
}

impl Status {
    pub const ALL: [Status; 7] =
        [Status::Applied, Status::UnderReview, Status::Approved, Status::Rejected, Status::Active, Status::Paused, Status::Terminated];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::UnderReview => "under_review",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The status machine: which status may follow which.
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Applied, UnderReview)
                | (UnderReview, Approved | Rejected)
                | (Approved, Active | Terminated)
                | (Active, Paused | Terminated)
                | (Paused, Active | Terminated)
        )
    }

    /// The statuses that may follow this one.
    pub fn next(self) -> Vec<Status> {
        Status::ALL.into_iter().filter(|t| self.can_become(*t)).collect()
    }

    /// Approved, active or paused: the contract exists and can be adjusted.
    pub fn in_force(self) -> bool {
        matches!(self, Status::Approved | Status::Active | Status::Paused)
    }

    /// The provider may still add evidence.
    pub fn open_for_evidence(self) -> bool {
        matches!(self, Status::Applied | Status::UnderReview)
    }
}

pub const CAPACITY_UNITS: &[&str] = &["none", "hours", "clients"];

/// A capacity ceiling: `none`, or an amount of granted `hours` per month or of `clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Capacity {
    /// none, hours or clients.
    pub unit: String,
    /// Required for hours and clients; absent for none.
    pub amount: Option<i64>,
}

impl Capacity {
    pub fn none() -> Capacity {
        Capacity { unit: "none".into(), amount: None }
    }

    fn check(&self, f: &mut Fields, prefix: &str) {
        crate::setup::model::check_one_of(f, &format!("{prefix}unit"), &self.unit, CAPACITY_UNITS);
        match (self.unit.as_str(), self.amount) {
            ("none", Some(_)) => f.push(&format!("{prefix}amount"), "not_allowed", "no amount without a ceiling"),
            ("hours" | "clients", None) => f.push(&format!("{prefix}amount"), "required", "a ceiling needs an amount"),
            ("hours" | "clients", Some(n)) if !(1..=1_000_000).contains(&n) => {
                f.push(&format!("{prefix}amount"), "out_of_range", "between 1 and 1,000,000")
            }
            _ => {}
        }
    }
}

/// A service or area covered by the contract, from a date (to a date, inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Coverage {
    pub code: String,
    pub valid_from: String,
    pub valid_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CapacityVersion {
    pub valid_from: String,
    #[serde(flatten)]
    pub capacity: Capacity,
    pub reported_at: String,
    pub reported_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IntakeVersion {
    pub valid_from: String,
    /// Open for new clients from `valid_from`.
    pub open: bool,
    pub reason: String,
    pub recorded_at: String,
    pub recorded_by: String,
}

/// What the provider applied for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Applied {
    pub services: Vec<String>,
    pub areas: Vec<String>,
    pub capacity: Capacity,
}

/// An application and, once approved, the contract.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contract {
    pub id: String,
    pub provider_id: String,
    pub provider_name: String,
    pub provider_ownership: String,
    pub choice_system_id: String,
    /// The version (valid_from) of the conditions the provider answered.
    pub conditions_from: String,
    pub status: Status,
    pub applied: Applied,
    pub applied_at: String,
    pub applied_by: String,
    /// The contract period, set on approval; `end_date` inclusive, absent = until further notice.
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub decision_reason: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    /// Services and areas covered, with their history.
    pub services: Vec<Coverage>,
    pub areas: Vec<Coverage>,
    /// Capacity versions, oldest first; the last one on or before a date rules.
    pub capacity: Vec<CapacityVersion>,
    /// Open/closed for new clients, oldest first; the last one on or before a date rules.
    pub intake: Vec<IntakeVersion>,
    /// Today's capacity ceiling.
    pub capacity_today: Capacity,
    /// Whether the provider is open for new clients today (its own choice; area closures aside).
    pub open_today: bool,
}

impl Contract {
    /// Codes of services (or areas) covered on `on`.
    pub fn covered(list: &[Coverage], on: &str) -> Vec<String> {
        list.iter()
            .filter(|c| c.valid_from.as_str() <= on && c.valid_to.as_deref().is_none_or(|t| t >= on))
            .map(|c| c.code.clone())
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceMeta {
    pub id: String,
    pub requirement_code: String,
    pub filename: String,
    /// application/pdf, image/png or image/jpeg (from the file's bytes).
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploaded_at: String,
    pub uploaded_by: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Answer {
    pub requirement_code: String,
    /// The requirement as published in the conditions answered.
    pub requirement_text: String,
    pub answer: String,
    /// pending, met or not_met.
    pub verdict: String,
    pub verdict_note: String,
    pub reviewed_at: Option<String>,
    pub reviewed_by: Option<String>,
    pub evidence: Vec<EvidenceMeta>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContractEvent {
    pub id: String,
    pub at: String,
    pub actor: String,
    /// status, review, capacity, intake or evidence.
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub detail: String,
    pub reason: String,
}

/// A contract with its answers, evidence and history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContractDetail {
    #[serde(flatten)]
    pub contract: Contract,
    /// The answers and evidence: only to the provider itself and admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers: Option<Vec<Answer>>,
    pub events: Vec<ContractEvent>,
}

// ---------------------------------------------------------------- inputs

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AnswerInput {
    pub requirement_code: String,
    pub answer: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewApplication {
    pub choice_system_id: String,
    /// Only admin, applying on a provider's behalf; a provider user applies for its own provider.
    pub provider_id: Option<String>,
    pub services: Vec<String>,
    pub areas: Vec<String>,
    #[serde(default = "Capacity::none")]
    pub capacity: Capacity,
    /// One answer per requirement of the conditions in force.
    pub answers: Vec<AnswerInput>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VerdictInput {
    /// met or not_met.
    pub verdict: String,
    /// Required when not met.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Approval {
    pub start_date: String,
    pub end_date: Option<String>,
    /// Defaults to what was applied for; may narrow it.
    pub services: Option<Vec<String>>,
    pub areas: Option<Vec<String>>,
    /// Defaults to what was applied for.
    pub capacity: Option<Capacity>,
    /// The written reason for the decision.
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TransitionInput {
    /// under_review, rejected, active, paused or terminated (approval has its own route).
    pub to: String,
    /// Why; required except when starting the review or activating.
    #[serde(default)]
    pub reason: String,
    /// For `terminated`: the last day of the contract (default today).
    pub date: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct IntakeInput {
    pub open: bool,
    /// From this date (default today; a provider cannot backdate).
    pub from: Option<String>,
    /// Required when closing.
    #[serde(default)]
    pub reason: String,
}

/// The municipality closes an area, or one service in it, to private providers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AreaClosure {
    pub id: String,
    pub area_code: String,
    /// Absent: every service.
    pub service_type: Option<String>,
    pub from_date: String,
    /// Last day closed (inclusive); absent: until reopened.
    pub to_date: Option<String>,
    pub reason: String,
    pub created_at: String,
    pub created_by: String,
    pub reopened_at: Option<String>,
    pub reopened_by: Option<String>,
    pub reopen_reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewAreaClosure {
    pub area_code: String,
    pub service_type: Option<String>,
    pub from_date: String,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReopenInput {
    /// The first day private providers may take new clients again.
    pub from_date: String,
    #[serde(default)]
    pub reason: String,
}

// ---------------------------------------------------------------- helpers

pub(crate) fn s(r: &crate::db::Row, c: &str) -> ApiResult<String> {
    Ok(r.try_get::<String, _>(c).map_err(anyhow::Error::from)?)
}
pub(crate) fn os(r: &crate::db::Row, c: &str) -> ApiResult<Option<String>> {
    Ok(r.try_get::<Option<String>, _>(c).map_err(anyhow::Error::from)?)
}
pub(crate) fn i(r: &crate::db::Row, c: &str) -> ApiResult<i64> {
    Ok(r.try_get::<i64, _>(c).map_err(anyhow::Error::from)?)
}
pub(crate) fn oi(r: &crate::db::Row, c: &str) -> ApiResult<Option<i64>> {
    Ok(r.try_get::<Option<i64>, _>(c).map_err(anyhow::Error::from)?)
}

fn split(v: &str) -> Vec<String> {
    v.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect()
}

/// Admin, case officers and the provider itself may see a contract; to
/// anyone else it does not exist.
pub fn may_read(who: &Principal, provider_id: &str) -> bool {
    match &who.kind {
        PrincipalKind::Provider { provider_id: own } => own == provider_id,
        _ => permits(who, Action::ReadContracts),
    }
}

/// The answers and evidence: admin and the provider itself.
pub fn may_read_evidence(who: &Principal, provider_id: &str) -> bool {
    match &who.kind {
        PrincipalKind::Provider { provider_id: own } => own == provider_id,
        _ => permits(who, Action::ReadAllEvidence),
    }
}

/// Capacity and intake: admin and the provider itself.
fn may_manage_intake(who: &Principal, provider_id: &str) -> bool {
    match &who.kind {
        PrincipalKind::Provider { provider_id: own } => own == provider_id && permits(who, Action::ManageIntake),
        _ => permits(who, Action::ManageIntake),
    }
}

fn parse_status(s: &str) -> ApiResult<Status> {
    Status::parse(s).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("unknown contract status {s}")))
}

/// The version of the conditions in force on `on`: the latest that has
/// started, else (before the first takes effect) the first.
pub fn conditions_on<'a>(cs: &'a ChoiceSystem, on: &str) -> Option<&'a Conditions> {
    cs.conditions.iter().rev().find(|c| c.valid_from.as_str() <= on).or_else(|| cs.conditions.first())
}

pub async fn choice_system(conn: &mut AnyConnection, id: &str) -> ApiResult<Option<ChoiceSystem>> {
    Ok(crate::setup::store::choice_systems(conn).await?.into_iter().find(|c| c.id == id))
}

/// The first day a capacity change reported on `reported_on` takes effect:
/// the 1st of the next month when reported by `change_day`, else the 1st of
/// the month after.
pub fn capacity_effective_from(reported_on: Date, change_day: i64) -> Date {
    let months = if i64::from(reported_on.day()) <= change_day { 1 } else { 2 };
    reported_on.first_of_month().checked_add(months.months()).unwrap_or(reported_on)
}

#[allow(clippy::too_many_arguments)]
async fn record_event(
    conn: &mut AnyConnection,
    state: &AppState,
    who: &Principal,
    contract_id: &str,
    kind: &str,
    from_to: (Option<Status>, Option<Status>),
    detail: &str,
    reason: &str,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO contract_events (id, contract_id, at, actor_user_id, actor_username, kind, from_status, to_status, detail, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(contract_id)
    .bind(stamp(state.clock.now()))
    .bind(&who.user_id)
    .bind(&who.username)
    .bind(kind)
    .bind(from_to.0.map(Status::as_str))
    .bind(from_to.1.map(Status::as_str))
    .bind(detail)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- reading

const CONTRACT_SELECT: &str = "SELECT c.id, c.provider_id, p.name AS provider_name, p.ownership AS provider_ownership, \
    c.choice_system_id, c.conditions_from, c.status, c.applied_services, c.applied_areas, c.applied_capacity_unit, \
    c.applied_capacity_amount, c.applied_at, c.applied_by, c.start_date, c.end_date, c.decision_reason, c.decided_at, c.decided_by \
    FROM contracts c JOIN providers p ON p.id = c.provider_id";

async fn coverage(conn: &mut AnyConnection, table: &str, col: &str, id: &str) -> ApiResult<Vec<Coverage>> {
    let rows =
        sqlx::query(&format!("SELECT {col} AS code, valid_from, valid_to FROM {table} WHERE contract_id = $1 ORDER BY {col}, valid_from"))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    rows.iter().map(|r| Ok(Coverage { code: s(r, "code")?, valid_from: s(r, "valid_from")?, valid_to: os(r, "valid_to")? })).collect()
}

async fn from_row(conn: &mut AnyConnection, r: &crate::db::Row, today: &str) -> ApiResult<Contract> {
    let id = s(r, "id")?;
    let services = coverage(conn, "contract_services", "service_type", &id).await?;
    let areas = coverage(conn, "contract_areas", "area_code", &id).await?;
    let capacity = sqlx::query(
        "SELECT valid_from, unit, amount, reported_at, reported_by FROM contract_capacity WHERE contract_id = $1 ORDER BY valid_from",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(CapacityVersion {
            valid_from: s(r, "valid_from")?,
            capacity: Capacity { unit: s(r, "unit")?, amount: oi(r, "amount")? },
            reported_at: s(r, "reported_at")?,
            reported_by: s(r, "reported_by")?,
        })
    })
    .collect::<ApiResult<Vec<_>>>()?;
    let intake = sqlx::query(
        "SELECT valid_from, is_open, reason, recorded_at, recorded_by FROM contract_intake WHERE contract_id = $1 ORDER BY valid_from",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(IntakeVersion {
            valid_from: s(r, "valid_from")?,
            open: i(r, "is_open")? != 0,
            reason: s(r, "reason")?,
            recorded_at: s(r, "recorded_at")?,
            recorded_by: s(r, "recorded_by")?,
        })
    })
    .collect::<ApiResult<Vec<_>>>()?;
    let capacity_today =
        capacity.iter().rev().find(|c| c.valid_from.as_str() <= today).map(|c| c.capacity.clone()).unwrap_or_else(Capacity::none);
    let open_today = intake.iter().rev().find(|c| c.valid_from.as_str() <= today).is_none_or(|c| c.open);
    Ok(Contract {
        provider_id: s(r, "provider_id")?,
        provider_name: s(r, "provider_name")?,
        provider_ownership: s(r, "provider_ownership")?,
        choice_system_id: s(r, "choice_system_id")?,
        conditions_from: s(r, "conditions_from")?,
        status: parse_status(&s(r, "status")?)?,
        applied: Applied {
            services: split(&s(r, "applied_services")?),
            areas: split(&s(r, "applied_areas")?),
            capacity: Capacity { unit: s(r, "applied_capacity_unit")?, amount: oi(r, "applied_capacity_amount")? },
        },
        applied_at: s(r, "applied_at")?,
        applied_by: s(r, "applied_by")?,
        start_date: os(r, "start_date")?,
        end_date: os(r, "end_date")?,
        decision_reason: s(r, "decision_reason")?,
        decided_at: os(r, "decided_at")?,
        decided_by: os(r, "decided_by")?,
        services,
        areas,
        capacity,
        intake,
        capacity_today,
        open_today,
        id,
    })
}

/// One contract, without checking who asks.
pub async fn load(state: &AppState, id: &str) -> ApiResult<Option<Contract>> {
    let mut conn = state.db.pool.acquire().await?;
    let row = sqlx::query(&format!("{CONTRACT_SELECT} WHERE c.id = $1")).bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(r) => Ok(Some(from_row(&mut conn, &r, &state.today().to_string()).await?)),
        None => Ok(None),
    }
}

/// One contract as `who` may see it; not found when they may not.
pub async fn get(state: &AppState, who: &Principal, id: &str) -> ApiResult<Contract> {
    match load(state, id).await? {
        Some(c) if may_read(who, &c.provider_id) => Ok(c),
        _ => Err(ApiError::NotFound("contract")),
    }
}

pub async fn detail(state: &AppState, who: &Principal, id: &str) -> ApiResult<ContractDetail> {
    let contract = get(state, who, id).await?;
    let mut conn = state.db.pool.acquire().await?;
    let answers = if may_read_evidence(who, &contract.provider_id) { Some(answers(&mut conn, id).await?) } else { None };
    let events = sqlx::query(
        "SELECT id, at, actor_username, kind, from_status, to_status, detail, reason FROM contract_events WHERE contract_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(ContractEvent {
            id: s(r, "id")?,
            at: s(r, "at")?,
            actor: s(r, "actor_username")?,
            kind: s(r, "kind")?,
            from_status: os(r, "from_status")?,
            to_status: os(r, "to_status")?,
            detail: s(r, "detail")?,
            reason: s(r, "reason")?,
        })
    })
    .collect::<ApiResult<Vec<_>>>()?;
    Ok(ContractDetail { contract, answers, events })
}

async fn answers(conn: &mut AnyConnection, id: &str) -> ApiResult<Vec<Answer>> {
    let evidence = sqlx::query(
        "SELECT id, requirement_code, filename, content_type, size_bytes, sha256, uploaded_at, uploaded_by \
         FROM contract_evidence WHERE contract_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(EvidenceMeta {
            id: s(r, "id")?,
            requirement_code: s(r, "requirement_code")?,
            filename: s(r, "filename")?,
            content_type: s(r, "content_type")?,
            size_bytes: i(r, "size_bytes")?,
            sha256: s(r, "sha256")?,
            uploaded_at: s(r, "uploaded_at")?,
            uploaded_by: s(r, "uploaded_by")?,
        })
    })
    .collect::<ApiResult<Vec<_>>>()?;
    // Answers keep the order of the requirements in the conditions (insertion order via rowid is not portable).
    let rows = sqlx::query(
        "SELECT requirement_code, requirement_text, answer, verdict, verdict_note, reviewed_at, reviewed_by \
         FROM contract_answers WHERE contract_id = $1",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let order: Option<String> = sqlx::query_scalar(
        "SELECT v.requirements FROM contracts c JOIN choice_system_versions v \
         ON v.choice_system_id = c.choice_system_id AND v.valid_from = c.conditions_from WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let order: Vec<crate::setup::model::Requirement> = order.and_then(|o| serde_json::from_str(&o).ok()).unwrap_or_default();
    let mut out = rows
        .iter()
        .map(|r| {
            let code = s(r, "requirement_code")?;
            Ok(Answer {
                evidence: evidence.iter().filter(|e| e.requirement_code == code).cloned().collect(),
                requirement_code: code,
                requirement_text: s(r, "requirement_text")?,
                answer: s(r, "answer")?,
                verdict: s(r, "verdict")?,
                verdict_note: s(r, "verdict_note")?,
                reviewed_at: os(r, "reviewed_at")?,
                reviewed_by: os(r, "reviewed_by")?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    out.sort_by_key(|a| (order.iter().position(|r| r.code == a.requirement_code).unwrap_or(usize::MAX), a.requirement_code.clone()));
    Ok(out)
}

#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only contracts in this status.
    pub status: Option<String>,
    /// Only this provider's (admin and case officers).
    pub provider_id: Option<String>,
}

/// The contracts `who` may see: all (admin, case officers) or the provider's own.
pub async fn list(state: &AppState, who: &Principal, q: &ListQuery) -> ApiResult<Vec<Contract>> {
    let scope = match &who.kind {
        PrincipalKind::Provider { provider_id } => provider_id.clone(),
        _ => {
            require(who, Action::ReadContracts)?;
            q.provider_id.clone().unwrap_or_default()
        }
    };
    let status = q.status.clone().unwrap_or_default();
    if !status.is_empty() && Status::parse(&status).is_none() {
        return Err(ApiError::field(
            "status",
            "not_allowed",
            "one of applied, under_review, approved, rejected, active, paused, terminated",
        ));
    }
    let mut conn = state.db.pool.acquire().await?;
    let rows = sqlx::query(&format!(
        "{CONTRACT_SELECT} WHERE ($1 = '' OR c.provider_id = $1) AND ($2 = '' OR c.status = $2) ORDER BY p.name, c.applied_at, c.id"
    ))
    .bind(&scope)
    .bind(&status)
    .fetch_all(&mut *conn)
    .await?;
    let today = state.today().to_string();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(from_row(&mut conn, r, &today).await?);
    }
    Ok(out)
}

/// The file of one piece of evidence: (meta, bytes).
pub async fn evidence_file(state: &AppState, who: &Principal, contract_id: &str, evidence_id: &str) -> ApiResult<(EvidenceMeta, Vec<u8>)> {
    let contract = load(state, contract_id).await?.ok_or(ApiError::NotFound("evidence"))?;
    if !may_read_evidence(who, &contract.provider_id) {
        return Err(ApiError::NotFound("evidence"));
    }
    let r = sqlx::query(
        "SELECT id, requirement_code, filename, content_type, size_bytes, sha256, uploaded_at, uploaded_by, content \
         FROM contract_evidence WHERE id = $1 AND contract_id = $2",
    )
    .bind(evidence_id)
    .bind(contract_id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or(ApiError::NotFound("evidence"))?;
    let bytes: Vec<u8> = r.try_get("content").map_err(anyhow::Error::from)?;
    let meta = EvidenceMeta {
        id: s(&r, "id")?,
        requirement_code: s(&r, "requirement_code")?,
        filename: s(&r, "filename")?,
        content_type: s(&r, "content_type")?,
        size_bytes: i(&r, "size_bytes")?,
        sha256: s(&r, "sha256")?,
        uploaded_at: s(&r, "uploaded_at")?,
        uploaded_by: s(&r, "uploaded_by")?,
    };
    Ok((meta, bytes))
}

// ---------------------------------------------------------------- applying

fn check_subset(f: &mut Fields, field: &str, picked: &[String], allowed: &[String], what: &str) {
    if picked.is_empty() {
        f.push(field, "required", format!("choose at least one {what}"));
    }
    for (n, p) in picked.iter().enumerate() {
        if !allowed.contains(p) {
            f.push(&format!("{field}[{n}]"), "not_in_choice_system", format!("{p} is not a {what} of this choice system"));
        }
    }
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
    out.sort();
    out.dedup();
    out
}

/// Files that come with an application from the web form: (requirement, name, bytes).
pub type Upload = (String, String, Vec<u8>);

/// A provider (or admin on its behalf) applies to a choice system, answering
/// every requirement of the conditions in force today. Evidence may come
/// along (the web form) or follow (`add_evidence`).
pub async fn apply(state: &AppState, who: &Principal, input: &NewApplication, uploads: &[Upload]) -> ApiResult<Contract> {
    require(who, Action::ApplyForContract)?;
    let mut f = Fields::new();
    let provider_id = match (&who.kind, &input.provider_id) {
        (PrincipalKind::Provider { provider_id }, None) => provider_id.clone(),
        (PrincipalKind::Provider { provider_id }, Some(p)) if p == provider_id => provider_id.clone(),
        (PrincipalKind::Provider { .. }, Some(_)) => {
            return Err(ApiError::field("provider_id", "not_allowed", "a provider applies only for itself"))
        }
        (_, Some(p)) => p.clone(),
        (_, None) => return Err(ApiError::field("provider_id", "required", "say which provider applies")),
    };
    let mut conn = state.db.pool.acquire().await?;
    if crate::providers::get(state, &provider_id).await?.is_none() {
        return Err(ApiError::field("provider_id", "unknown_provider", "no such provider"));
    }
    let Some(cs) = choice_system(&mut conn, &input.choice_system_id).await? else {
        return Err(ApiError::field("choice_system_id", "unknown_choice_system", "no such choice system"));
    };
    let today = state.today().to_string();
    let Some(conditions) = conditions_on(&cs, &today).cloned() else {
        return Err(ApiError::rule("no_conditions", "this choice system has no published conditions to apply to"));
    };
    check_subset(&mut f, "services", &input.services, &cs.services, "service");
    check_subset(&mut f, "areas", &input.areas, &cs.areas, "area");
    let services = dedup(&input.services);
    let areas = dedup(&input.areas);
    input.capacity.check(&mut f, "capacity.");
    for r in &conditions.requirements {
        match input.answers.iter().find(|a| a.requirement_code == r.code) {
            None => f.push(&format!("answers.{}", r.code), "required", format!("answer the requirement {}", r.code)),
            Some(a) => check_text(&mut f, &format!("answers.{}", r.code), &a.answer, 8000),
        }
    }
    for a in &input.answers {
        if !conditions.requirements.iter().any(|r| r.code == a.requirement_code) {
            f.push(&format!("answers.{}", a.requirement_code), "unknown_requirement", "no such requirement in the conditions");
        }
    }
    let mut files = Vec::new();
    for (n, (code, name, bytes)) in uploads.iter().enumerate() {
        let field = format!("files.{code}");
        if !conditions.requirements.iter().any(|r| &r.code == code) {
            f.push(&field, "unknown_requirement", "no such requirement in the conditions");
            continue;
        }
        match check_file(bytes) {
            Ok(ct) => files.push((code.clone(), evidence::clean_filename(name, ct), ct, bytes)),
            Err((c, reason)) => f.push(&field, c, format!("{name}: {reason}")),
        }
        if n as i64 >= evidence::MAX_FILES_PER_CONTRACT {
            f.push(&field, "too_many_files", format!("at most {} files per application", evidence::MAX_FILES_PER_CONTRACT));
        }
    }
    f.finish()?;

    let id = uuid::Uuid::now_v7().to_string();
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO contracts (id, provider_id, choice_system_id, conditions_from, status, applied_services, applied_areas, \
         applied_capacity_unit, applied_capacity_amount, applied_at, applied_by, updated_at) \
         VALUES ($1, $2, $3, $4, 'applied', $5, $6, $7, $8, $9, $10, $9)",
    )
    .bind(&id)
    .bind(&provider_id)
    .bind(&cs.id)
    .bind(&conditions.valid_from)
    .bind(services.join(","))
    .bind(areas.join(","))
    .bind(&input.capacity.unit)
    .bind(input.capacity.amount)
    .bind(&now)
    .bind(&who.username)
    .execute(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => {
            ApiError::conflict("application_exists", "this provider already has an open application or a contract in this choice system")
        }
        other => other,
    })?;
    for r in &conditions.requirements {
        let answer = input.answers.iter().find(|a| a.requirement_code == r.code).map(|a| a.answer.trim()).unwrap_or_default();
        sqlx::query("INSERT INTO contract_answers (contract_id, requirement_code, requirement_text, answer) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(&r.code)
            .bind(&r.text)
            .bind(answer)
            .execute(&mut *tx)
            .await?;
    }
    record_event(&mut tx, state, who, &id, "status", (None, Some(Status::Applied)), &format!("applied to {}", cs.name), "").await?;
    for (code, name, ct, bytes) in files {
        insert_evidence(&mut tx, state, who, &id, &code, &name, ct, bytes).await?;
    }
    tx.commit().await?;
    load(state, &id).await?.ok_or(ApiError::NotFound("contract"))
}

fn check_file(bytes: &[u8]) -> Result<&'static str, (&'static str, String)> {
    if bytes.is_empty() {
        return Err(("empty_file", "the file is empty".into()));
    }
    if bytes.len() > evidence::MAX_BYTES {
        return Err(("file_too_large", format!("a file is at most {} MB", evidence::MAX_BYTES / 1024 / 1024)));
    }
    evidence::sniff(bytes).ok_or(("unsupported_file_type", "only PDF, PNG and JPEG files are accepted".into()))
}

#[allow(clippy::too_many_arguments)]
async fn insert_evidence(
    conn: &mut AnyConnection,
    state: &AppState,
    who: &Principal,
    contract_id: &str,
    code: &str,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> ApiResult<EvidenceMeta> {
    use sha2::Digest;
    let meta = EvidenceMeta {
        id: uuid::Uuid::now_v7().to_string(),
        requirement_code: code.to_string(),
        filename: filename.to_string(),
        content_type: content_type.to_string(),
        size_bytes: bytes.len() as i64,
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
        uploaded_at: stamp(state.clock.now()),
        uploaded_by: who.username.clone(),
    };
    // Conditional on the status, so a file cannot slip in after the decision.
    let done = sqlx::query(
        "INSERT INTO contract_evidence (id, contract_id, requirement_code, filename, content_type, size_bytes, sha256, content, uploaded_at, uploaded_by) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 WHERE EXISTS \
         (SELECT 1 FROM contracts WHERE id = $2 AND status IN ('applied', 'under_review')) \
         AND (SELECT COUNT(*) FROM contract_evidence WHERE contract_id = $2) < $11",
    )
    .bind(&meta.id)
    .bind(contract_id)
    .bind(code)
    .bind(&meta.filename)
    .bind(&meta.content_type)
    .bind(meta.size_bytes)
    .bind(&meta.sha256)
    .bind(bytes.to_vec())
    .bind(&meta.uploaded_at)
    .bind(&meta.uploaded_by)
    .bind(evidence::MAX_FILES_PER_CONTRACT)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict(
            "evidence_closed",
            format!(
                "evidence can be added only while the application is applied or under review, at most {} files",
                evidence::MAX_FILES_PER_CONTRACT
            ),
        ));
    }
    record_event(conn, state, who, contract_id, "evidence", (None, None), &format!("{code}: {filename} ({} bytes)", bytes.len()), "")
        .await?;
    Ok(meta)
}

/// Adds one evidence file to an answer while the application is open.
pub async fn add_evidence(
    state: &AppState,
    who: &Principal,
    contract_id: &str,
    code: &str,
    name: &str,
    bytes: &[u8],
) -> ApiResult<EvidenceMeta> {
    let contract = get(state, who, contract_id).await?;
    let own = matches!(&who.kind, PrincipalKind::Provider { provider_id } if *provider_id == contract.provider_id);
    if !own && !permits(who, Action::ReadAllEvidence) {
        return Err(ApiError::Forbidden("add evidence to another provider's application"));
    }
    let content_type = check_file(bytes).map_err(|(c, reason)| ApiError::field("file", c, reason))?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT requirement_code FROM contract_answers WHERE contract_id = $1 AND requirement_code = $2")
            .bind(contract_id)
            .bind(code)
            .fetch_optional(&state.db.pool)
            .await?;
    if exists.is_none() {
        return Err(ApiError::field("requirement_code", "unknown_requirement", "no such requirement in this application"));
    }
    let mut tx = state.db.pool.begin().await?;
    let meta =
        insert_evidence(&mut tx, state, who, contract_id, code, &evidence::clean_filename(name, content_type), content_type, bytes).await?;
    tx.commit().await?;
    Ok(meta)
}

// ---------------------------------------------------------------- deciding

/// The municipality's verdict on one answer, during the review.
pub async fn review_answer(state: &AppState, who: &Principal, contract_id: &str, code: &str, v: &VerdictInput) -> ApiResult<Answer> {
    require(who, Action::DecideContracts)?;
    let mut f = Fields::new();
    crate::setup::model::check_one_of(&mut f, "verdict", &v.verdict, &["met", "not_met"]);
    if v.verdict == "not_met" && v.note.trim().is_empty() {
        f.push("note", "required", "say why the requirement is not met");
    }
    if v.note.chars().count() > 4000 {
        f.push("note", "too_long", "at most 4000 characters");
    }
    f.finish()?;
    let contract = get(state, who, contract_id).await?;
    let mut tx = state.db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE contract_answers SET verdict = $1, verdict_note = $2, reviewed_at = $3, reviewed_by = $4 \
         WHERE contract_id = $5 AND requirement_code = $6 \
         AND EXISTS (SELECT 1 FROM contracts WHERE id = $5 AND status = 'under_review')",
    )
    .bind(&v.verdict)
    .bind(v.note.trim())
    .bind(stamp(state.clock.now()))
    .bind(&who.username)
    .bind(contract_id)
    .bind(code)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT requirement_code FROM contract_answers WHERE contract_id = $1 AND requirement_code = $2")
                .bind(contract_id)
                .bind(code)
                .fetch_optional(&mut *tx)
                .await?;
        return Err(match exists {
            None => ApiError::NotFound("requirement"),
            Some(_) => ApiError::conflict(
                "not_under_review",
                format!("answers are reviewed while the application is under review; it is {}", contract.status.as_str()),
            ),
        });
    }
    record_event(&mut tx, state, who, contract_id, "review", (None, None), &format!("{code}: {}", v.verdict), v.note.trim()).await?;
    tx.commit().await?;
    let mut conn = state.db.pool.acquire().await?;
    answers(&mut conn, contract_id).await?.into_iter().find(|a| a.requirement_code == code).ok_or(ApiError::NotFound("requirement"))
}

fn invalid_transition(from: Status, to: Status) -> ApiError {
    ApiError::conflict(
        "invalid_transition",
        format!(
            "a contract that is {} cannot become {}; from {} it may become: {}",
            from.as_str(),
            to.as_str(),
            from.as_str(),
            from.next().iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
    )
}

fn status_changed() -> ApiError {
    ApiError::conflict("status_changed", "the contract changed status while you decided; reload and try again")
}

/// Approves an application under review whose every answer is met: sets
/// the contract period, coverage and capacity.
pub async fn approve(state: &AppState, who: &Principal, contract_id: &str, a: &Approval) -> ApiResult<Contract> {
    require(who, Action::DecideContracts)?;
    let contract = get(state, who, contract_id).await?;
    if contract.status != Status::UnderReview {
        return Err(invalid_transition(contract.status, Status::Approved));
    }
    let mut conn = state.db.pool.acquire().await?;
    let cs = choice_system(&mut conn, &contract.choice_system_id).await?.ok_or(ApiError::NotFound("choice system"))?;
    let mut f = Fields::new();
    let start = parse_date(&mut f, "start_date", &a.start_date);
    let end = a.end_date.as_deref().filter(|e| !e.is_empty()).and_then(|e| parse_date(&mut f, "end_date", e));
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            f.push("end_date", "before_start", "the contract ends on or after its start");
        }
    }
    let services = a.services.as_ref().unwrap_or(&contract.applied.services);
    let areas = a.areas.as_ref().unwrap_or(&contract.applied.areas);
    check_subset(&mut f, "services", services, &cs.services, "service");
    check_subset(&mut f, "areas", areas, &cs.areas, "area");
    let (services, areas) = (dedup(services), dedup(areas));
    let capacity = a.capacity.clone().unwrap_or_else(|| contract.applied.capacity.clone());
    capacity.check(&mut f, "capacity.");
    check_text(&mut f, "reason", &a.reason, 4000);
    f.finish()?;
    let Some(start) = start else { return Err(ApiError::Internal(anyhow::anyhow!("start date missing after validation"))) };
    let unmet: Vec<String> = sqlx::query_scalar(
        "SELECT requirement_code FROM contract_answers WHERE contract_id = $1 AND verdict <> 'met' ORDER BY requirement_code",
    )
    .bind(contract_id)
    .fetch_all(&mut *conn)
    .await?;
    if !unmet.is_empty() {
        return Err(ApiError::rule(
            "requirements_not_met",
            format!("every requirement must be reviewed as met before approval; not yet: {}", unmet.join(", ")),
        ));
    }
    drop(conn);
    let now = stamp(state.clock.now());
    let start_s = start.to_string();
    let mut tx = state.db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE contracts SET status = 'approved', start_date = $1, end_date = $2, decision_reason = $3, decided_at = $4, \
         decided_by = $5, updated_at = $4 WHERE id = $6 AND status = 'under_review'",
    )
    .bind(&start_s)
    .bind(end.map(|e| e.to_string()))
    .bind(a.reason.trim())
    .bind(&now)
    .bind(&who.username)
    .bind(contract_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(status_changed());
    }
    for st in &services {
        sqlx::query("INSERT INTO contract_services (contract_id, service_type, valid_from) VALUES ($1, $2, $3)")
            .bind(contract_id)
            .bind(st)
            .bind(&start_s)
            .execute(&mut *tx)
            .await?;
    }
    for ar in &areas {
        sqlx::query("INSERT INTO contract_areas (contract_id, area_code, valid_from) VALUES ($1, $2, $3)")
            .bind(contract_id)
            .bind(ar)
            .bind(&start_s)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO contract_capacity (contract_id, valid_from, unit, amount, reported_at, reported_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(contract_id)
    .bind(&start_s)
    .bind(&capacity.unit)
    .bind(capacity.amount)
    .bind(&now)
    .bind(&who.username)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO contract_intake (contract_id, valid_from, is_open, reason, recorded_at, recorded_by) VALUES ($1, $2, 1, $3, $4, $5)",
    )
    .bind(contract_id)
    .bind(&start_s)
    .bind("contract approved")
    .bind(&now)
    .bind(&who.username)
    .execute(&mut *tx)
    .await?;
    let detail = format!(
        "from {start_s}{}; services {}; areas {}; capacity {}",
        end.map(|e| format!(" to {e}")).unwrap_or_default(),
        services.join(", "),
        areas.join(", "),
        capacity_text(&capacity)
    );
    record_event(&mut tx, state, who, contract_id, "status", (Some(Status::UnderReview), Some(Status::Approved)), &detail, a.reason.trim())
        .await?;
    tx.commit().await?;
    load(state, contract_id).await?.ok_or(ApiError::NotFound("contract"))
}

pub fn capacity_text(c: &Capacity) -> String {
    match (c.unit.as_str(), c.amount) {
        ("hours", Some(n)) => format!("{n} hours/month"),
        ("clients", Some(n)) => format!("{n} clients"),
        _ => "no ceiling".into(),
    }
}

/// A change that may hand clients over to a new choice: the contract after
/// it, and the clients handed over (empty unless terminated or narrowed).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Outcome {
    #[serde(flatten)]
    pub contract: Contract,
    pub handed_over: Vec<crate::choices::AffectedClient>,
}

/// Every status change but approval: start the review, reject, activate,
/// pause, resume, terminate. Terminating hands the provider's clients in
/// this contract's services over to a new choice from the day after the
/// last day (the choice module moves them to the default provider on that
/// date unless they choose before, and opens a re-choice task for each).
pub async fn transition(state: &AppState, who: &Principal, contract_id: &str, t: &TransitionInput) -> ApiResult<Outcome> {
    require(who, Action::DecideContracts)?;
    let Some(to) = Status::parse(&t.to) else {
        return Err(ApiError::field("to", "not_allowed", "one of under_review, rejected, active, paused, terminated"));
    };
    if to == Status::Approved {
        return Err(ApiError::field("to", "use_approve", "approve with POST /contracts/{id}/approve, which sets the contract terms"));
    }
    if to == Status::Applied {
        return Err(ApiError::field("to", "not_allowed", "a contract becomes applied only by applying"));
    }
    let contract = get(state, who, contract_id).await?;
    let from = contract.status;
    let mut f = Fields::new();
    let reason = t.reason.trim();
    let needs_reason = !matches!(to, Status::UnderReview | Status::Active) || from == Status::Paused;
    if needs_reason {
        check_text(&mut f, "reason", reason, 4000);
    } else if reason.chars().count() > 4000 {
        f.push("reason", "too_long", "at most 4000 characters");
    }
    let today = state.today();
    let end = if to == Status::Terminated {
        let d = match t.date.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => parse_date(&mut f, "date", d),
            None => Some(today),
        };
        if let (Some(d), Some(s)) = (d, contract.start_date.as_deref().and_then(|s| s.parse::<Date>().ok())) {
            if d < s {
                f.push("date", "before_start", "the contract cannot end before it starts");
            }
        }
        d
    } else {
        None
    };
    f.finish()?;
    if !from.can_become(to) {
        return Err(invalid_transition(from, to));
    }
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    let done = match to {
        Status::Rejected => {
            sqlx::query(
                "UPDATE contracts SET status = $1, decision_reason = $2, decided_at = $3, decided_by = $4, updated_at = $3 \
                 WHERE id = $5 AND status = $6",
            )
            .bind(to.as_str())
            .bind(reason)
            .bind(&now)
            .bind(&who.username)
            .bind(contract_id)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?
        }
        Status::Terminated => {
            sqlx::query("UPDATE contracts SET status = $1, end_date = $2, updated_at = $3 WHERE id = $4 AND status = $5")
                .bind(to.as_str())
                .bind(end.map(|e| e.to_string()))
                .bind(&now)
                .bind(contract_id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?
        }
        _ => {
            sqlx::query("UPDATE contracts SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
                .bind(to.as_str())
                .bind(&now)
                .bind(contract_id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?
        }
    };
    if done.rows_affected() == 0 {
        return Err(status_changed());
    }
    let detail = match (to, end) {
        (Status::Terminated, Some(e)) => format!("last day {e}"),
        _ => String::new(),
    };
    record_event(&mut tx, state, who, contract_id, "status", (Some(from), Some(to)), &detail, reason).await?;
    tx.commit().await?;
    let handed_over = match (to, end) {
        (Status::Terminated, Some(last)) => hand_over_termination(state, who, &contract, last).await?,
        _ => Vec::new(),
    };
    let contract = load(state, contract_id).await?.ok_or(ApiError::NotFound("contract"))?;
    Ok(Outcome { contract, handed_over })
}

/// After a termination has committed: the clients in the contract's services
/// choose again from the day after `last`. When the provider keeps another
/// contract in force, only this contract's services are handed over.
async fn hand_over_termination(
    state: &AppState,
    who: &Principal,
    contract: &Contract,
    last: Date,
) -> ApiResult<Vec<crate::choices::AffectedClient>> {
    use crate::choices::{HandOverReason, HandOverScope};
    let first_day = last.checked_add(1.day()).map_err(anyhow::Error::from)?;
    let others: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM contracts WHERE provider_id = $1 AND id <> $2 AND status IN ('approved', 'active', 'paused')",
    )
    .bind(&contract.provider_id)
    .bind(&contract.id)
    .fetch_one(&state.db.pool)
    .await?;
    let services: Vec<Option<String>> = if others == 0 {
        vec![None]
    } else {
        let mut v: Vec<String> = contract.services.iter().map(|c| c.code.clone()).collect();
        v.sort();
        v.dedup();
        v.into_iter().map(Some).collect()
    };
    let mut out = Vec::new();
    for service_type in services {
        let scope = HandOverScope {
            provider_id: contract.provider_id.clone(),
            area_code: None,
            service_type,
            effective_date: first_day,
            reason: HandOverReason::ProviderTerminated,
        };
        out.extend(crate::choices::hand_over(state, who, &scope).await?.affected);
    }
    Ok(out)
}

// ---------------------------------------------------------------- in force

/// The provider (or admin) reports a new capacity ceiling; it takes effect
/// from the 1st of the next month when reported by the conditions'
/// `capacity_change_day`, else from the 1st of the month after. A second
/// report for the same date replaces the first (it is not in force yet).
pub async fn report_capacity(state: &AppState, who: &Principal, contract_id: &str, c: &Capacity) -> ApiResult<CapacityVersion> {
    let contract = get(state, who, contract_id).await?;
    if !may_manage_intake(who, &contract.provider_id) {
        return Err(ApiError::Forbidden("report capacity for another provider"));
    }
    let mut f = Fields::new();
    c.check(&mut f, "");
    f.finish()?;
    if !contract.status.in_force() {
        return Err(ApiError::conflict("contract_not_in_force", "capacity is reported for an approved, active or paused contract"));
    }
    let today = state.today();
    let mut conn = state.db.pool.acquire().await?;
    let cs = choice_system(&mut conn, &contract.choice_system_id).await?.ok_or(ApiError::NotFound("choice system"))?;
    let change_day = conditions_on(&cs, &today.to_string()).map(|c| c.capacity_change_day).unwrap_or(15);
    let mut from = capacity_effective_from(today, change_day).to_string();
    if let Some(start) = contract.start_date.as_ref().filter(|s| **s > from) {
        from = start.clone();
    }
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO contract_capacity (contract_id, valid_from, unit, amount, reported_at, reported_by) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (contract_id, valid_from) DO UPDATE SET unit = excluded.unit, amount = excluded.amount, \
         reported_at = excluded.reported_at, reported_by = excluded.reported_by",
    )
    .bind(contract_id)
    .bind(&from)
    .bind(&c.unit)
    .bind(c.amount)
    .bind(&now)
    .bind(&who.username)
    .execute(&mut *tx)
    .await?;
    record_event(&mut tx, state, who, contract_id, "capacity", (None, None), &format!("{} from {from}", capacity_text(c)), "").await?;
    tx.commit().await?;
    Ok(CapacityVersion { valid_from: from, capacity: c.clone(), reported_at: now, reported_by: who.username.clone() })
}

/// The provider closes itself for new clients, or reopens, from a date.
pub async fn set_intake(state: &AppState, who: &Principal, contract_id: &str, input: &IntakeInput) -> ApiResult<IntakeVersion> {
    let contract = get(state, who, contract_id).await?;
    if !may_manage_intake(who, &contract.provider_id) {
        return Err(ApiError::Forbidden("close or open another provider for new clients"));
    }
    let today = state.today();
    let mut f = Fields::new();
    let from = match input.from.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => parse_date(&mut f, "from", d),
        None => Some(today),
    };
    if let Some(d) = from {
        if d < today && matches!(who.kind, PrincipalKind::Provider { .. }) {
            f.push("from", "in_the_past", "a change applies from today or later");
        }
    }
    let reason = input.reason.trim();
    if !input.open {
        check_text(&mut f, "reason", reason, 2000);
    } else if reason.chars().count() > 2000 {
        f.push("reason", "too_long", "at most 2000 characters");
    }
    f.finish()?;
    if !contract.status.in_force() {
        return Err(ApiError::conflict("contract_not_in_force", "only a contract in force can close or open for new clients"));
    }
    let Some(from) = from else { return Err(ApiError::Internal(anyhow::anyhow!("date missing after validation"))) };
    let from = from.to_string();
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO contract_intake (contract_id, valid_from, is_open, reason, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (contract_id, valid_from) DO UPDATE SET is_open = excluded.is_open, reason = excluded.reason, \
         recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by",
    )
    .bind(contract_id)
    .bind(&from)
    .bind(crate::db::flag(input.open))
    .bind(reason)
    .bind(&now)
    .bind(&who.username)
    .execute(&mut *tx)
    .await?;
    let detail = if input.open { format!("open for new clients from {from}") } else { format!("closed for new clients from {from}") };
    record_event(&mut tx, state, who, contract_id, "intake", (None, None), &detail, reason).await?;
    tx.commit().await?;
    Ok(IntakeVersion { valid_from: from, open: input.open, reason: reason.into(), recorded_at: now, recorded_by: who.username.clone() })
}

// ---------------------------------------------------------------- coverage

/// Narrow (or, by admin, widen) what a contract covers from a date.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CoverageChange {
    /// The first day of the new coverage. A provider gives notice: tomorrow at the earliest.
    pub from: String,
    #[serde(default)]
    pub remove_areas: Vec<String>,
    #[serde(default)]
    pub remove_services: Vec<String>,
    /// Admin only: a wider contract is a decision of the municipality.
    #[serde(default)]
    pub add_areas: Vec<String>,
    #[serde(default)]
    pub add_services: Vec<String>,
    #[serde(default)]
    pub reason: String,
}

/// A provider withdraws from areas or services (or admin changes the
/// coverage) from a date. The clients affected keep the provider until the
/// day before and get a re-choice task (see `choices::hand_over`).
pub async fn change_coverage(state: &AppState, who: &Principal, contract_id: &str, ch: &CoverageChange) -> ApiResult<Outcome> {
    let contract = get(state, who, contract_id).await?;
    if !may_manage_intake(who, &contract.provider_id) {
        return Err(ApiError::Forbidden("change another provider's contract"));
    }
    let is_provider = matches!(who.kind, PrincipalKind::Provider { .. });
    let mut f = Fields::new();
    let from = parse_date(&mut f, "from", &ch.from);
    let today = state.today();
    if let Some(d) = from {
        if is_provider && d <= today {
            f.push(
                "from",
                "notice_required",
                "a provider withdraws from tomorrow at the earliest; its clients must be able to choose again",
            );
        }
        if contract.start_date.as_ref().is_some_and(|s| d.to_string() < *s) {
            f.push("from", "before_start", "the change cannot start before the contract");
        }
    }
    if is_provider && !(ch.add_areas.is_empty() && ch.add_services.is_empty()) {
        f.push("add_areas", "not_allowed", "a wider contract is decided by the municipality");
    }
    if ch.remove_areas.is_empty() && ch.remove_services.is_empty() && ch.add_areas.is_empty() && ch.add_services.is_empty() {
        f.push("remove_areas", "required", "say what changes");
    }
    check_text(&mut f, "reason", &ch.reason, 2000);
    let on = from.map(|d| d.to_string()).unwrap_or_default();
    let covered_services = Contract::covered(&contract.services, &on);
    let covered_areas = Contract::covered(&contract.areas, &on);
    let mut conn = state.db.pool.acquire().await?;
    let cs = choice_system(&mut conn, &contract.choice_system_id).await?.ok_or(ApiError::NotFound("choice system"))?;
    drop(conn);
    for (field, list, covered) in
        [("remove_areas", &ch.remove_areas, &covered_areas), ("remove_services", &ch.remove_services, &covered_services)]
    {
        for (n, code) in list.iter().enumerate() {
            if !covered.contains(code) {
                f.push(&format!("{field}[{n}]"), "not_covered", format!("the contract does not cover {code} on {on}"));
            }
        }
    }
    for (field, list, covered, allowed) in
        [("add_areas", &ch.add_areas, &covered_areas, &cs.areas), ("add_services", &ch.add_services, &covered_services, &cs.services)]
    {
        for (n, code) in list.iter().enumerate() {
            if !allowed.contains(code) {
                f.push(&format!("{field}[{n}]"), "not_in_choice_system", format!("{code} is not part of the choice system"));
            } else if covered.contains(code) {
                f.push(&format!("{field}[{n}]"), "already_covered", format!("the contract already covers {code}"));
            }
        }
    }
    f.finish()?;
    if !contract.status.in_force() {
        return Err(ApiError::conflict("contract_not_in_force", "only a contract in force can change its coverage"));
    }
    let Some(from) = from else { return Err(ApiError::Internal(anyhow::anyhow!("date missing after validation"))) };
    let last = from.checked_sub(1.day()).map_err(anyhow::Error::from)?.to_string();
    let mut tx = state.db.pool.begin().await?;
    for (table, col, list) in
        [("contract_areas", "area_code", &ch.remove_areas), ("contract_services", "service_type", &ch.remove_services)]
    {
        for code in list {
            let done = sqlx::query(&format!(
                "UPDATE {table} SET valid_to = $1 WHERE contract_id = $2 AND {col} = $3 AND valid_from <= $1                  AND (valid_to IS NULL OR valid_to > $1)"
            ))
            .bind(&last)
            .bind(contract_id)
            .bind(code)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(ApiError::conflict("coverage_changed", format!("the coverage of {code} changed meanwhile; reload")));
            }
        }
    }
    for (table, col, list) in [("contract_areas", "area_code", &ch.add_areas), ("contract_services", "service_type", &ch.add_services)] {
        for code in list {
            sqlx::query(&format!("INSERT INTO {table} (contract_id, {col}, valid_from) VALUES ($1, $2, $3)"))
                .bind(contract_id)
                .bind(code)
                .bind(from.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| match ApiError::from(e) {
                    ApiError::Conflict { .. } => ApiError::conflict("already_covered", format!("{code} is already covered from {from}")),
                    other => other,
                })?;
        }
    }
    let mut parts = Vec::new();
    for (label, list) in [
        ("areas withdrawn", &ch.remove_areas),
        ("services withdrawn", &ch.remove_services),
        ("areas added", &ch.add_areas),
        ("services added", &ch.add_services),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label}: {}", list.join(", ")));
        }
    }
    record_event(
        &mut tx,
        state,
        who,
        contract_id,
        "coverage",
        (None, None),
        &format!("from {from}: {}", parts.join("; ")),
        ch.reason.trim(),
    )
    .await?;
    tx.commit().await?;
    use crate::choices::{HandOverReason, HandOverScope};
    let mut handed_over = Vec::new();
    for area in &ch.remove_areas {
        let scope = HandOverScope {
            provider_id: contract.provider_id.clone(),
            area_code: Some(area.clone()),
            service_type: None,
            effective_date: from,
            reason: HandOverReason::AreaWithdrawn,
        };
        handed_over.extend(crate::choices::hand_over(state, who, &scope).await?.affected);
    }
    for service in &ch.remove_services {
        let scope = HandOverScope {
            provider_id: contract.provider_id.clone(),
            area_code: None,
            service_type: Some(service.clone()),
            effective_date: from,
            reason: HandOverReason::ServiceWithdrawn,
        };
        handed_over.extend(crate::choices::hand_over(state, who, &scope).await?.affected);
    }
    let contract = load(state, contract_id).await?.ok_or(ApiError::NotFound("contract"))?;
    Ok(Outcome { contract, handed_over })
}

// ---------------------------------------------------------------- area closures

const CLOSURE_COLUMNS: &str =
    "id, area_code, service_type, from_date, to_date, reason, created_at, created_by, reopened_at, reopened_by, reopen_reason";

fn closure_from_row(r: &crate::db::Row) -> ApiResult<AreaClosure> {
    Ok(AreaClosure {
        id: s(r, "id")?,
        area_code: s(r, "area_code")?,
        service_type: os(r, "service_type")?,
        from_date: s(r, "from_date")?,
        to_date: os(r, "to_date")?,
        reason: s(r, "reason")?,
        created_at: s(r, "created_at")?,
        created_by: s(r, "created_by")?,
        reopened_at: os(r, "reopened_at")?,
        reopened_by: os(r, "reopened_by")?,
        reopen_reason: s(r, "reopen_reason")?,
    })
}

pub async fn area_closures(state: &AppState) -> ApiResult<Vec<AreaClosure>> {
    let rows = sqlx::query(&format!("SELECT {CLOSURE_COLUMNS} FROM area_closures ORDER BY area_code, from_date, id"))
        .fetch_all(&state.db.pool)
        .await?;
    rows.iter().map(closure_from_row).collect()
}

/// The municipality closes an area (or one service in it) to private and
/// non-profit providers for new clients from a date.
pub async fn close_area(state: &AppState, who: &Principal, c: &NewAreaClosure) -> ApiResult<AreaClosure> {
    require(who, Action::CloseAreas)?;
    let mut f = Fields::new();
    let from = parse_date(&mut f, "from_date", &c.from_date);
    check_text(&mut f, "reason", &c.reason, 2000);
    let mut conn = state.db.pool.acquire().await?;
    let areas = crate::setup::store::areas(&mut conn).await?;
    if !areas.iter().any(|a| a.code == c.area_code) {
        f.push("area_code", "unknown_area", "no such area");
    }
    let service = c.service_type.clone().filter(|s| !s.is_empty());
    if let Some(st) = &service {
        if !crate::setup::store::service_types(&mut conn).await?.iter().any(|x| &x.code == st) {
            f.push("service_type", "unknown_service_type", "no such service type");
        }
    }
    f.finish()?;
    let Some(from) = from else { return Err(ApiError::Internal(anyhow::anyhow!("date missing after validation"))) };
    let closure = AreaClosure {
        id: uuid::Uuid::now_v7().to_string(),
        area_code: c.area_code.clone(),
        service_type: service,
        from_date: from.to_string(),
        to_date: None,
        reason: c.reason.trim().into(),
        created_at: stamp(state.clock.now()),
        created_by: who.username.clone(),
        reopened_at: None,
        reopened_by: None,
        reopen_reason: String::new(),
    };
    sqlx::query(&format!("INSERT INTO area_closures ({CLOSURE_COLUMNS}) VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, NULL, NULL, '')"))
        .bind(&closure.id)
        .bind(&closure.area_code)
        .bind(&closure.service_type)
        .bind(&closure.from_date)
        .bind(&closure.reason)
        .bind(&closure.created_at)
        .bind(&closure.created_by)
        .execute(&mut *conn)
        .await?;
    Ok(closure)
}

/// Reopens a closed area from a date (the closure's last day is the day before).
pub async fn reopen_area(state: &AppState, who: &Principal, id: &str, r: &ReopenInput) -> ApiResult<AreaClosure> {
    require(who, Action::CloseAreas)?;
    let row = sqlx::query(&format!("SELECT {CLOSURE_COLUMNS} FROM area_closures WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or(ApiError::NotFound("area closure"))?;
    let closure = closure_from_row(&row)?;
    let mut f = Fields::new();
    let from = parse_date(&mut f, "from_date", &r.from_date);
    if r.reason.chars().count() > 2000 {
        f.push("reason", "too_long", "at most 2000 characters");
    }
    if let Some(d) = from {
        if d.to_string() <= closure.from_date {
            f.push("from_date", "before_closure", "reopen after the day the closure started");
        }
    }
    f.finish()?;
    let Some(from) = from else { return Err(ApiError::Internal(anyhow::anyhow!("date missing after validation"))) };
    let last = from.checked_sub(1.day()).map_err(anyhow::Error::from)?.to_string();
    let done = sqlx::query(
        "UPDATE area_closures SET to_date = $1, reopened_at = $2, reopened_by = $3, reopen_reason = $4 WHERE id = $5 AND to_date IS NULL",
    )
    .bind(&last)
    .bind(stamp(state.clock.now()))
    .bind(&who.username)
    .bind(r.reason.trim())
    .bind(id)
    .execute(&state.db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict("already_reopened", "this closure already has an end date"));
    }
    let row = sqlx::query(&format!("SELECT {CLOSURE_COLUMNS} FROM area_closures WHERE id = $1")).bind(id).fetch_one(&state.db.pool).await?;
    closure_from_row(&row)
}

/// Contracts terminated with a last day on or after `since` (YYYY-MM-DD):
/// (contract id, provider id, last day). For the choice module, whose
/// clients must choose again.
pub async fn terminations_since(db: &crate::db::Db, since: &str) -> ApiResult<Vec<(String, String, String)>> {
    let rows =
        sqlx::query("SELECT id, provider_id, end_date FROM contracts WHERE status = 'terminated' AND end_date >= $1 ORDER BY end_date, id")
            .bind(since)
            .fetch_all(&db.pool)
            .await?;
    rows.iter().map(|r| Ok((s(r, "id")?, s(r, "provider_id")?, s(r, "end_date")?))).collect()
}

// ---------------------------------------------------------------- registration

/// A provider registers itself: its profile and its first user, together.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Registration {
    pub provider: crate::providers::NewProvider,
    pub username: String,
    pub display_name: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Registered {
    pub provider: crate::providers::Provider,
    pub user_id: String,
    pub username: String,
}

/// Under LOV anyone may apply at any time, so providers register
/// themselves: the profile and a provider user in one transaction. Only
/// private and non-profit providers register this way; the municipal unit
/// is created by admin.
pub async fn register(state: &AppState, r: &Registration) -> ApiResult<Registered> {
    let mut f = Fields::new();
    crate::providers::check_new(state, &mut f, &r.provider);
    if r.provider.ownership == "municipal" {
        f.push("provider.ownership", "not_allowed", "the municipal provider is registered by the municipality");
    }
    let mut errs = f.into_vec();
    for e in &mut errs {
        if !e.field.starts_with("provider.") {
            e.field = format!("provider.{}", e.field);
        }
    }
    let mut f = Fields::new();
    for e in errs {
        f.push(&e.field, &e.code, e.reason);
    }
    check_text(&mut f, "username", &r.username, 64);
    if r.username.chars().any(char::is_whitespace) {
        f.push("username", "invalid_username", "a username has no spaces");
    }
    check_text(&mut f, "display_name", &r.display_name, 200);
    f.parse("password", crate::auth::password::check_strength(&r.password));
    if r.provider.email.trim().is_empty() && r.provider.phone.trim().is_empty() {
        f.push("provider.email", "required", "give an e-mail address or a phone number the municipality can reach");
    }
    f.finish()?;
    let provider = crate::providers::validate(state, &r.provider)?;
    let hash = crate::auth::password::hash(&r.password)?;
    let user_id = uuid::Uuid::now_v7().to_string();
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    crate::providers::insert(&mut tx, &provider, &now).await?;
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, role, provider_id, client_id, created_at) \
         VALUES ($1, $2, $3, $4, 'provider', $5, NULL, $6)",
    )
    .bind(&user_id)
    .bind(r.username.trim())
    .bind(r.display_name.trim())
    .bind(&hash)
    .bind(&provider.id)
    .bind(&now)
    .execute(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("username_taken", format!("the username {} is taken", r.username.trim())),
        other => other,
    })?;
    tx.commit().await?;
    crate::audit::record_as(
        state,
        Some(&user_id),
        r.username.trim(),
        "provider",
        crate::audit::Event {
            action: crate::audit::AuditAction::Create,
            subject_type: "provider",
            subject_id: &provider.id,
            client_id: None,
            detail: format!("self-registration of {} ({})", provider.name, provider.org_nr),
        },
    )
    .await?;
    Ok(Registered { provider, user_id, username: r.username.trim().into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_status_machine() {
        use Status::*;
        assert!(Applied.can_become(UnderReview));
        assert!(!Applied.can_become(Approved));
        assert!(UnderReview.can_become(Approved) && UnderReview.can_become(Rejected));
        assert!(Approved.can_become(Active));
        assert!(Active.can_become(Paused) && Paused.can_become(Active));
        assert!(Active.can_become(Terminated) && Paused.can_become(Terminated) && Approved.can_become(Terminated));
        assert!(Rejected.next().is_empty() && Terminated.next().is_empty());
        assert!(!Active.can_become(Active));
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn capacity_changes_take_effect_from_the_first_of_a_month() {
        assert_eq!(capacity_effective_from(date(2026, 3, 10), 15), date(2026, 4, 1));
        assert_eq!(capacity_effective_from(date(2026, 3, 15), 15), date(2026, 4, 1));
        assert_eq!(capacity_effective_from(date(2026, 3, 16), 15), date(2026, 5, 1));
        assert_eq!(capacity_effective_from(date(2026, 12, 20), 15), date(2027, 2, 1));
        assert_eq!(capacity_effective_from(date(2026, 12, 1), 1), date(2027, 1, 1));
    }

    #[test]
    fn capacity_needs_an_amount_exactly_when_it_is_a_ceiling() {
        let check = |unit: &str, amount: Option<i64>| {
            let mut f = Fields::new();
            Capacity { unit: unit.into(), amount }.check(&mut f, "");
            f.is_empty()
        };
        assert!(check("none", None));
        assert!(!check("none", Some(3)));
        assert!(check("hours", Some(400)));
        assert!(!check("clients", None));
        assert!(!check("clients", Some(0)));
        assert!(!check("beds", Some(3)));
    }
}
