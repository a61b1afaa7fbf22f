//! `/api/v1/visits`: report visits (one, a batch, or a CSV file), list a
//! month's visits and flags, and read an import report.

use super::import::{self, Actor, ImportReport, Options, Source};
use super::read::{self, FlaggedVisit, Visit, VisitPage, VisitQuery};
use super::RawVisit;
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit;
use crate::auth::access::{require, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use valfri_core::Month;

/// Large enough for a month of one provider's visits as CSV or JSON.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report_visit, list_visits))
        .routes(routes!(report_batch))
        .routes(routes!(import_csv))
        .routes(routes!(list_flags))
        .routes(routes!(get_import))
        .routes(routes!(get_visit))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// A reported visit. Times are local time of the municipality
/// (`2026-03-10 08:00`) or carry an offset (`2026-03-10T07:00Z`,
/// `2026-10-25T02:30+02:00`); docs/visits-csv.md has every rule.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    /// The provider reported for (id or organisation number). For a single
    /// visit: admin only (a provider user reports for itself). In a batch,
    /// when given, it must name the batch's provider.
    pub provider_id: Option<String>,
    /// The provider's own id of the visit; a report with the same id replaces it.
    pub external_id: String,
    /// The client's id in valfri, or their personnummer / fødselsnummer.
    pub client: String,
    pub service_type: String,
    /// `performed`, `cancelled_late`, `cancelled_in_time` or `missed` (a bad
    /// value rejects the row, not the whole batch).
    pub status: String,
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    /// Required for a performed visit, not allowed otherwise.
    pub actual_start: Option<String>,
    pub actual_end: Option<String>,
    /// When the client cancelled (cancelled visits only).
    pub cancelled_at: Option<String>,
    /// Pseudonymous staff reference; required for a performed visit.
    pub staff_ref: Option<String>,
    /// 1 (default) or 2.
    pub staff_count: Option<i64>,
    /// Units delivered, per-unit services only.
    pub quantity: Option<i64>,
}

struct Texts {
    staff_count: String,
    quantity: String,
}

impl NewVisit {
    fn texts(&self) -> Texts {
        Texts {
            staff_count: self.staff_count.map(|n| n.to_string()).unwrap_or_default(),
            quantity: self.quantity.map(|n| n.to_string()).unwrap_or_default(),
        }
    }

    fn raw<'a>(&'a self, t: &'a Texts) -> RawVisit<'a> {
        let o = |v: &'a Option<String>| v.as_deref().unwrap_or("").trim();
        RawVisit {
            provider: o(&self.provider_id),
            external_id: self.external_id.trim(),
            client: self.client.trim(),
            service_type: self.service_type.trim(),
            status: self.status.trim(),
            planned_start: o(&self.planned_start),
            planned_end: o(&self.planned_end),
            actual_start: o(&self.actual_start),
            actual_end: o(&self.actual_end),
            cancelled_at: o(&self.cancelled_at),
            staff_ref: o(&self.staff_ref),
            staff_count: &t.staff_count,
            quantity: &t.quantity,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitBatch {
    /// Admin only: the provider reported for (id or organisation number).
    pub provider_id: Option<String>,
    /// Store nothing if any row is bad (default: keep the good rows).
    #[serde(default)]
    pub all_or_nothing: bool,
    pub visits: Vec<NewVisit>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitResult {
    /// `new`, `replaced` or `unchanged`.
    pub result: String,
    pub import_id: String,
    pub visit: Visit,
}

/// The provider a request reports for: a provider user's own, or for an
/// admin the one named (by id or organisation number).
pub async fn reporting_provider(state: &AppState, who: &Principal, named: Option<&str>) -> ApiResult<String> {
    require(who, Action::ReportVisits)?;
    let named = named.map(str::trim).filter(|s| !s.is_empty());
    match (&who.kind, named) {
        (PrincipalKind::Provider { provider_id }, None) => Ok(provider_id.clone()),
        (PrincipalKind::Provider { provider_id }, Some(n)) => match import::resolve_provider(state, n).await? {
            Some(p) if &p == provider_id => Ok(p),
            _ => Err(ApiError::Forbidden("report visits for another provider")),
        },
        (_, Some(n)) => import::resolve_provider(state, n).await?.ok_or(ApiError::NotFound("provider")),
        (_, None) => Err(ApiError::field("provider_id", "required", "name the provider reported for (id or organisation number)")),
    }
}

/// The provider whose visits a request reads: own for a provider user;
/// for others (admin) the one named.
pub async fn reading_provider(state: &AppState, who: &Principal, named: Option<&str>) -> ApiResult<Option<String>> {
    require(who, Action::ReadVisits)?;
    let named = named.map(str::trim).filter(|s| !s.is_empty());
    match (&who.kind, named) {
        (PrincipalKind::Provider { provider_id }, None) => Ok(Some(provider_id.clone())),
        (PrincipalKind::Provider { provider_id }, Some(n)) => match import::resolve_provider(state, n).await? {
            Some(p) if &p == provider_id => Ok(Some(p)),
            _ => Err(ApiError::NotFound("provider")),
        },
        (_, Some(n)) => Ok(Some(import::resolve_provider(state, n).await?.ok_or(ApiError::NotFound("provider"))?)),
        (_, None) => Ok(None),
    }
}

fn rejection_errors(report: &ImportReport, batch: bool) -> Vec<FieldError> {
    report
        .rejections
        .iter()
        .map(|r| FieldError {
            field: if batch { format!("visits[{}].{}", r.line.saturating_sub(1), r.field) } else { r.field.clone() },
            code: r.code.clone(),
            reason: r.reason.clone(),
        })
        .collect()
}

/// Reports one visit. 201 when new, 200 when it replaced or repeated an
/// earlier report with the same external id; 422 names every bad field.
#[utoipa::path(post, path = "/visits", tag = "visits", request_body = NewVisit,
    responses((status = 201, body = VisitResult), (status = 200, body = VisitResult), (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn report_visit(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(visit): ApiJson<NewVisit>,
) -> ApiResult<(StatusCode, Json<VisitResult>)> {
    let provider_id = reporting_provider(&state, &who, visit.provider_id.as_deref()).await?;
    let t = visit.texts();
    let raw = RawVisit { provider: "", ..visit.raw(&t) };
    let opts = Options {
        provider_id: provider_id.clone(),
        source: Source::Api,
        file_name: String::new(),
        all_or_nothing: true,
        actor: Actor::of(&who),
    };
    let report = import::import_rows(&state, opts, &[raw]).await?;
    if report.rejected_rows > 0 {
        let errors = rejection_errors(&report, false);
        return Err(match errors.iter().find(|e| e.code == "month_approved") {
            Some(e) => ApiError::rule("month_approved", e.reason.clone()),
            None => ApiError::Invalid(errors),
        });
    }
    let stored = read::visit(&state, &provider_id, visit.external_id.trim()).await?.ok_or(ApiError::NotFound("visit"))?;
    let (status, result) = if report.new > 0 {
        (StatusCode::CREATED, "new")
    } else if report.replaced > 0 {
        (StatusCode::OK, "replaced")
    } else {
        (StatusCode::OK, "unchanged")
    };
    Ok((status, Json(VisitResult { result: result.into(), import_id: report.import_id, visit: stored })))
}

/// Reports a batch of visits: good rows are stored and bad ones reported
/// by their 1-based position (`line`), unless `all_or_nothing` is set, when
/// one bad row stores nothing and the answer is 422 naming each bad field.
#[utoipa::path(post, path = "/visits/batch", tag = "visits", request_body = VisitBatch,
    responses((status = 200, body = ImportReport), (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn report_batch(State(state): State<AppState>, who: Principal, ApiJson(body): ApiJson<VisitBatch>) -> ApiResult<Json<ImportReport>> {
    let provider_id = reporting_provider(&state, &who, body.provider_id.as_deref()).await?;
    let texts: Vec<Texts> = body.visits.iter().map(NewVisit::texts).collect();
    let raws: Vec<RawVisit> = body.visits.iter().zip(&texts).map(|(v, t)| v.raw(t)).collect();
    let opts =
        Options { provider_id, source: Source::Api, file_name: String::new(), all_or_nothing: body.all_or_nothing, actor: Actor::of(&who) };
    let report = import::import_rows(&state, opts, &raws).await?;
    if !report.stored {
        return Err(ApiError::Invalid(rejection_errors(&report, true)));
    }
    Ok(Json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ImportQuery {
    /// Admin only: the provider reported for (id or organisation number).
    pub provider_id: Option<String>,
    /// Store nothing if any row is bad.
    pub all_or_nothing: Option<bool>,
    /// A name for the report (e.g. the file name).
    pub file_name: Option<String>,
}

/// Imports a CSV file (the body, `text/csv`; columns in docs/visits-csv.md).
/// The report lists each rejected row by its line in the file. With
/// `all_or_nothing` and a bad row nothing is stored, and the answer is the
/// report with `stored: false` (status 422 is kept for a file that cannot be
/// read at all, e.g. a missing column).
#[utoipa::path(post, path = "/visits/import", tag = "visits", params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn import_csv(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<ImportReport>> {
    let provider_id = reporting_provider(&state, &who, q.provider_id.as_deref()).await?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !(ct.starts_with("text/csv") || ct.starts_with("text/plain") || ct.starts_with("application/octet-stream")) {
        return Err(ApiError::field("body", "unsupported_media_type", "send the file as text/csv"));
    }
    let opts = Options {
        provider_id,
        source: Source::Csv,
        file_name: q.file_name.unwrap_or_default(),
        all_or_nothing: q.all_or_nothing.unwrap_or(false),
        actor: Actor::of(&who),
    };
    Ok(Json(super::csvfile::import(&state, opts, std::io::Cursor::new(body)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MonthQuery {
    /// YYYY-MM.
    pub month: String,
    /// Admin: the provider (id or organisation number); a provider user reads its own.
    pub provider_id: Option<String>,
    /// Only visits with a flag.
    pub flagged: Option<bool>,
    /// At most this many (default 500, max 5000).
    pub limit: Option<i64>,
    /// Skip this many visits first (default 0). Deep into a large month this
    /// is slow, as the database walks every visit before the page: to read a
    /// whole month, follow `next_after` instead.
    pub offset: Option<i64>,
    /// Start after this visit (the provider's external id), in the list's
    /// order: the previous page's `next_after`. Not together with `offset`.
    pub after: Option<String>,
}

impl MonthQuery {
    fn offset_checked(&self) -> ApiResult<i64> {
        let offset = crate::api::offset(self.offset)?;
        if offset > 0 && self.after.as_deref().is_some_and(|a| !a.trim().is_empty()) {
            return Err(ApiError::field("after", "conflict", "give after or offset, not both"));
        }
        Ok(offset)
    }
}

fn parse_month(s: &str) -> ApiResult<Month> {
    s.trim().parse::<Month>().map_err(|e| ApiError::field("month", "invalid_month", e.to_string()))
}

/// A provider's visits of a month, by start time, with their flags. Every
/// client listed is written to the audit log.
#[utoipa::path(get, path = "/visits", tag = "visits", params(MonthQuery),
    responses((status = 200, body = VisitPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_visits(State(state): State<AppState>, who: Principal, Query(q): Query<MonthQuery>) -> ApiResult<Json<VisitPage>> {
    let month = parse_month(&q.month)?;
    let provider_id = reading_provider(&state, &who, q.provider_id.as_deref())
        .await?
        .ok_or_else(|| ApiError::field("provider_id", "required", "name the provider whose visits to list"))?;
    let page = read::visits(
        &state,
        &VisitQuery {
            provider_id: &provider_id,
            month,
            flagged_only: q.flagged.unwrap_or(false),
            limit: q.limit.unwrap_or(500).clamp(1, 5000),
            offset: q.offset_checked()?,
            after: q.after.as_deref().map(str::trim).filter(|a| !a.is_empty()),
        },
    )
    .await?;
    audit_clients(&state, &who, page.visits.iter().map(|v| v.client_id.clone()), &format!("visits of {month} via API")).await?;
    Ok(Json(page))
}

pub async fn audit_clients(state: &AppState, who: &Principal, ids: impl Iterator<Item = String>, what: &str) -> ApiResult<()> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    audit::record_client_list(state, who, &ids, what).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagList {
    pub month: String,
    pub total: i64,
    pub offset: i64,
    pub flags: Vec<FlaggedVisit>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FlagQuery {
    /// YYYY-MM.
    pub month: String,
    /// Admin: one provider (id or organisation number); default every provider.
    pub provider_id: Option<String>,
    /// At most this many (default 1000, max 10000).
    pub limit: Option<i64>,
    /// Skip this many flags first (default 0): the next page is at `offset + limit`.
    pub offset: Option<i64>,
}

/// The flagged visits of a month: a provider's own, or (admin) every
/// provider's. One row per flag.
#[utoipa::path(get, path = "/visits/flags", tag = "visits", params(FlagQuery),
    responses((status = 200, body = FlagList), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_flags(State(state): State<AppState>, who: Principal, Query(q): Query<FlagQuery>) -> ApiResult<Json<FlagList>> {
    let month = parse_month(&q.month)?;
    let provider_id = reading_provider(&state, &who, q.provider_id.as_deref()).await?;
    let offset = crate::api::offset(q.offset)?;
    let (total, flags) = read::flagged(&state, provider_id.as_deref(), month, offset, q.limit.unwrap_or(1000).clamp(1, 10_000)).await?;
    audit_clients(&state, &who, flags.iter().map(|f| f.client_id.clone()), &format!("visit flags of {month} via API")).await?;
    Ok(Json(FlagList { month: month.to_string(), total, offset, flags }))
}

/// An import's report, with the reason for every rejected row.
#[utoipa::path(get, path = "/visits/imports/{id}", tag = "visits", params(("id" = String, Path)),
    responses((status = 200, body = ImportReport), (status = 404, body = Problem)))]
async fn get_import(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<ImportReport>> {
    require(&who, Action::ReadVisits)?;
    let provider_id = read::import_provider(&state, &id).await?;
    if let PrincipalKind::Provider { provider_id: own } = &who.kind {
        if own != &provider_id {
            return Err(ApiError::NotFound("import"));
        }
    }
    Ok(Json(read::import_report(&state, &id).await?.ok_or(ApiError::NotFound("import"))?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ProviderQuery {
    /// Admin: the provider (id or organisation number); a provider user reads its own.
    pub provider_id: Option<String>,
}

/// One visit by the provider's external id, with its flags.
#[utoipa::path(get, path = "/visits/{external_id}", tag = "visits", params(("external_id" = String, Path), ProviderQuery),
    responses((status = 200, body = Visit), (status = 404, body = Problem)))]
async fn get_visit(
    State(state): State<AppState>,
    who: Principal,
    Path(external_id): Path<String>,
    Query(q): Query<ProviderQuery>,
) -> ApiResult<Json<Visit>> {
    let provider_id = reading_provider(&state, &who, q.provider_id.as_deref())
        .await?
        .ok_or_else(|| ApiError::field("provider_id", "required", "name the provider of the visit"))?;
    let v = read::visit(&state, &provider_id, &external_id).await?.ok_or(ApiError::NotFound("visit"))?;
    audit::record(
        &state,
        &who,
        audit::Event {
            action: audit::AuditAction::Read,
            subject_type: "visit",
            subject_id: &format!("{provider_id}/{external_id}"),
            client_id: Some(&v.client_id),
            detail: "visit via API".into(),
        },
    )
    .await?;
    Ok(Json(v))
}
