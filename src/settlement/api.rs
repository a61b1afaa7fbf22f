//! `/api/v1/settlements`: admin computes, adjusts, approves and exports; a
//! provider reads its own approved and exported statements; nobody else sees
//! settlements.

use super::export::SieConfig;
use super::store::{self, ExportBatch};
use super::{Adjustment, NewAdjustment, RunReport, Settlement, SettlementDetail};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{require, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult, Fields, Msg, Problem};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use valfri_core::Month;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(compute_month))
        .routes(routes!(list_settlements))
        .routes(routes!(get_settlement))
        .routes(routes!(approve_settlement))
        .routes(routes!(add_adjustment))
        .routes(routes!(delete_adjustment))
        .routes(routes!(accept_flag))
        .routes(routes!(statement_csv))
        .routes(routes!(export_month))
        .routes(routes!(sie_file))
        .routes(routes!(get_config, put_config))
}

fn parse_month(field: &str, s: &str) -> ApiResult<Month> {
    let mut f = Fields::new();
    let m = f.parse(field, s.parse::<Month>());
    f.finish()?;
    m.ok_or_else(|| ApiError::field(field, "invalid_month", "a month is written YYYY-MM"))
}

/// May `who` read this settlement? Admin: all. A provider: its own, once
/// approved (a draft is the municipality's work in progress). A refusal
/// looks like a missing settlement.
pub fn may_read(who: &Principal, st: &Settlement) -> bool {
    match &who.kind {
        PrincipalKind::Admin => true,
        PrincipalKind::Provider { provider_id } => *provider_id == st.provider_id && st.status != "draft",
        _ => false,
    }
}

pub async fn load_readable(state: &AppState, who: &Principal, id: &str) -> ApiResult<Settlement> {
    let st = store::get(&mut *state.db.pool.acquire().await?, id).await?.ok_or(ApiError::NotFound("settlement"))?;
    if may_read(who, &st) {
        Ok(st)
    } else {
        Err(ApiError::NotFound("settlement"))
    }
}

async fn audit_event(state: &AppState, who: &Principal, action: AuditAction, subject_id: &str, detail: String) -> ApiResult<()> {
    audit::record(state, who, Event { action, subject_type: "settlement", subject_id, client_id: None, detail }).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ComputeRequest {
    /// `YYYY-MM`.
    pub month: String,
    /// Also approve every draft that may be approved.
    #[serde(default)]
    pub approve: bool,
}

/// Computes every provider's draft settlement for a month (admin). Drafts
/// are replaced; approved and exported settlements are kept as they are.
#[utoipa::path(post, path = "/settlements/compute", tag = "settlement", request_body = ComputeRequest,
    responses((status = 200, body = RunReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn compute_month(State(state): State<AppState>, who: Principal, ApiJson(r): ApiJson<ComputeRequest>) -> ApiResult<Json<RunReport>> {
    require(&who, Action::ManageSettlements)?;
    let month = parse_month("month", &r.month)?;
    let report = super::run_month(&state.db, month, &who.username, &stamp(state.clock.now()), r.approve).await?;
    audit_event(
        &state,
        &who,
        AuditAction::Update,
        &month.to_string(),
        format!("settlement of {month} computed: {} written, {} unchanged", report.saved.written.len(), report.saved.unchanged.len()),
    )
    .await?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// `YYYY-MM`.
    pub month: Option<String>,
    pub provider_id: Option<String>,
    /// `draft`, `approved` or `exported`.
    pub status: Option<String>,
}

/// Settlements: all for admin; a provider's own approved and exported ones.
#[utoipa::path(get, path = "/settlements", tag = "settlement", params(ListQuery),
    responses((status = 200, body = Vec<Settlement>), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_settlements(State(state): State<AppState>, who: Principal, Query(q): Query<ListQuery>) -> ApiResult<Json<Vec<Settlement>>> {
    let month = q.month.as_deref().filter(|m| !m.is_empty()).map(|m| parse_month("month", m)).transpose()?;
    let mut statuses: Vec<&str> = match q.status.as_deref() {
        None | Some("") => vec!["draft", "approved", "exported"],
        Some(s @ ("draft" | "approved" | "exported")) => vec![s],
        Some(_) => return Err(ApiError::field("status", "invalid_status", "draft, approved or exported")),
    };
    let provider = match &who.kind {
        PrincipalKind::Admin => q.provider_id.clone(),
        PrincipalKind::Provider { provider_id } => {
            statuses.retain(|s| *s != "draft");
            if statuses.is_empty() {
                return Ok(Json(vec![]));
            }
            Some(provider_id.clone())
        }
        _ => return Err(ApiError::Forbidden("read settlements")),
    };
    let list = store::list(&mut *state.db.pool.acquire().await?, month, provider.as_deref(), &statuses).await?;
    Ok(Json(list))
}

/// Lines and flags in one answer when not asked for fewer, and the most
/// that may be asked for. The largest provider of a national-scale month
/// has about 400 000 lines (some 100 MB of JSON); `line_count` and
/// `flag_count` say how many there are, and the CSV statement has them all.
const ROWS_DEFAULT: i64 = 10_000;
const ROWS_MAX: i64 = 100_000;

#[derive(Debug, Deserialize, IntoParams)]
pub struct DetailQuery {
    /// The number (`seq`) of the first line to return; default 1.
    pub lines_from: Option<i64>,
    /// At most this many lines: default 10 000, at most 100 000.
    pub lines_limit: Option<i64>,
    /// The number (`seq`) of the first flag to return; default 1.
    pub flags_from: Option<i64>,
    /// At most this many flags: default 10 000, at most 100 000.
    pub flags_limit: Option<i64>,
}

impl DetailQuery {
    fn ranges(&self) -> ApiResult<(store::Seqs, store::Seqs)> {
        let mut f = Fields::new();
        let mut range = |from: Option<i64>, limit: Option<i64>, what: &str| {
            let (from, limit) = (from.unwrap_or(1), limit.unwrap_or(ROWS_DEFAULT));
            if from < 1 {
                f.push(&format!("{what}_from"), "out_of_range", "the first number is 1");
            }
            if !(1..=ROWS_MAX).contains(&limit) {
                f.push(&format!("{what}_limit"), "out_of_range", format!("from 1 to {ROWS_MAX}"));
            }
            store::Seqs { first: from, last: from.saturating_add(limit - 1) }
        };
        let ranges = (range(self.lines_from, self.lines_limit, "lines"), range(self.flags_from, self.flags_limit, "flags"));
        f.finish()?;
        Ok(ranges)
    }
}

/// One settlement with its lines (the basis of each amount), flags and
/// adjustments; the lines and flags 10 000 at a time unless asked otherwise.
#[utoipa::path(get, path = "/settlements/{id}", tag = "settlement", params(("id" = String, Path), DetailQuery),
    responses((status = 200, body = SettlementDetail), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_settlement(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> ApiResult<Json<SettlementDetail>> {
    let (line_seqs, flag_seqs) = q.ranges()?;
    let settlement = load_readable(&state, &who, &id).await?;
    let mut c = state.db.pool.acquire().await?;
    let lines = store::lines_between(&mut c, &id, line_seqs).await?;
    let flags = store::flags_between(&mut c, &id, flag_seqs).await?;
    let adjustments = store::adjustments(&mut c, &settlement.provider_id, &settlement.month).await?;
    drop(c);
    audit_event(&state, &who, AuditAction::Read, &id, "settlement via API".into()).await?;
    Ok(Json(SettlementDetail { settlement, lines, flags, adjustments }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ApproveRequest {
    /// The revision reviewed; refused if the draft has changed since.
    pub revision: Option<i64>,
}

/// Approves a draft (admin): it becomes immutable. Refused while the draft
/// has `no_rate` flags.
#[utoipa::path(post, path = "/settlements/{id}/approve", tag = "settlement", params(("id" = String, Path)), request_body = ApproveRequest,
    responses((status = 200, body = Settlement), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn approve_settlement(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ApproveRequest>,
) -> ApiResult<Json<Settlement>> {
    require(&who, Action::ManageSettlements)?;
    let revision = body.revision;
    let st = store::approve(&state.db, &id, revision, &who.username, &stamp(state.clock.now())).await?;
    audit_event(&state, &who, AuditAction::Update, &id, format!("approved; checksum {}", st.checksum)).await?;
    Ok(Json(st))
}

/// Adds a manual adjustment to a draft (admin). After approval a correction
/// goes into a later month's settlement, naming the original in `corrects`.
#[utoipa::path(post, path = "/settlements/{id}/adjustments", tag = "settlement", params(("id" = String, Path)), request_body = NewAdjustment,
    responses((status = 201, body = Adjustment), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_adjustment(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(a): ApiJson<NewAdjustment>,
) -> ApiResult<(StatusCode, Json<Adjustment>)> {
    require(&who, Action::ManageSettlements)?;
    let adj = store::add_adjustment(&state.db, &id, &a, None, &who.username, &stamp(state.clock.now())).await?;
    audit_event(&state, &who, AuditAction::Create, &id, format!("adjustment {} öre: {}", adj.amount_ore, adj.reason)).await?;
    Ok((StatusCode::CREATED, Json(adj)))
}

/// Removes an adjustment from a draft (admin).
#[utoipa::path(delete, path = "/settlements/{id}/adjustments/{adjustment_id}", tag = "settlement",
    params(("id" = String, Path), ("adjustment_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_adjustment(
    State(state): State<AppState>,
    who: Principal,
    Path((id, adjustment_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    require(&who, Action::ManageSettlements)?;
    store::delete_adjustment(&state.db, &id, &adjustment_id).await?;
    audit_event(&state, &who, AuditAction::Delete, &id, format!("adjustment {adjustment_id} removed")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an `excess` flag (admin): its value becomes an adjustment.
#[utoipa::path(post, path = "/settlements/{id}/flags/{seq}/accept", tag = "settlement",
    params(("id" = String, Path), ("seq" = i64, Path)),
    responses((status = 201, body = Adjustment), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn accept_flag(
    State(state): State<AppState>,
    who: Principal,
    Path((id, seq)): Path<(String, i64)>,
) -> ApiResult<(StatusCode, Json<Adjustment>)> {
    require(&who, Action::ManageSettlements)?;
    let adj = store::accept_excess(&state.db, &id, seq, &who.username, &stamp(state.clock.now())).await?;
    audit_event(&state, &who, AuditAction::Create, &id, format!("excess flag {seq} accepted: {} öre", adj.amount_ore)).await?;
    Ok((StatusCode::CREATED, Json(adj)))
}

fn attachment(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// The provider's statement as CSV (columns in docs/settlement.md). It holds
/// the clients' identity numbers, so each reading is in the audit log.
#[utoipa::path(get, path = "/settlements/{id}/statement.csv", tag = "settlement", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
async fn statement_csv(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Response> {
    let st = load_readable(&state, &who, &id).await?;
    let (csv, clients) = super::statement(&mut *state.db.pool.acquire().await?, &st).await?;
    audit::record_client_list(&state, &who, &clients, &format!("settlement statement {} {}", st.month, st.provider_id)).await?;
    audit_event(&state, &who, AuditAction::Export, &id, "statement CSV".into()).await?;
    let name = format!("avrakning-{}-{}.csv", st.month, st.provider_org_nr);
    Ok(attachment("text/csv; charset=utf-8", &name, csv))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ExportRequest {
    /// `YYYY-MM`.
    pub month: String,
}

/// Marks the month's approved settlements as exported, in a new numbered
/// batch (admin). Fetch the batch's SIE file from `/settlements/sie`.
#[utoipa::path(post, path = "/settlements/export", tag = "settlement", request_body = ExportRequest,
    responses((status = 200, body = ExportBatch), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn export_month(State(state): State<AppState>, who: Principal, ApiJson(r): ApiJson<ExportRequest>) -> ApiResult<Json<ExportBatch>> {
    require(&who, Action::ManageSettlements)?;
    let month = parse_month("month", &r.month)?;
    let batch = store::export_month(&state.db, month, &who.username, &stamp(state.clock.now())).await?;
    audit_event(
        &state,
        &who,
        AuditAction::Export,
        &month.to_string(),
        format!("export batch {}: {} settlements", batch.batch, batch.settlements.len()),
    )
    .await?;
    Ok(Json(batch))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SieQuery {
    /// `YYYY-MM`.
    pub month: String,
    /// One export batch; all of the month's exported settlements when left out.
    pub batch: Option<i64>,
}

/// The SIE4 file (type 4I, code page 437) of a month's exported settlements:
/// one voucher per provider (admin).
#[utoipa::path(get, path = "/settlements/sie", tag = "settlement", params(SieQuery),
    responses((status = 200, content_type = "application/octet-stream", body = String), (status = 404, body = Problem)))]
async fn sie_file(State(state): State<AppState>, who: Principal, Query(q): Query<SieQuery>) -> ApiResult<Response> {
    require(&who, Action::ManageSettlements)?;
    let month = parse_month("month", &q.month)?;
    let file = super::sie_file(&mut *state.db.pool.acquire().await?, month, q.batch, &state.time_zone())
        .await?
        .ok_or(ApiError::NotFound("export batch"))?;
    audit_event(&state, &who, AuditAction::Export, &month.to_string(), format!("SIE file, batch {:?}", q.batch)).await?;
    let name = match q.batch {
        Some(b) => format!("avrakning-{month}-{b}.si"),
        None => format!("avrakning-{month}.si"),
    };
    Ok(attachment("application/octet-stream", &name, file))
}

/// Accounts and voucher series of the SIE export (admin).
#[utoipa::path(get, path = "/settlements/config", tag = "settlement", responses((status = 200, body = SieConfig), (status = 403, body = Problem)))]
async fn get_config(State(state): State<AppState>, who: Principal) -> ApiResult<Json<SieConfig>> {
    require(&who, Action::ManageSettlements)?;
    Ok(Json(SieConfig::from_rows(&store::config(&mut *state.db.pool.acquire().await?).await?)))
}

#[utoipa::path(put, path = "/settlements/config", tag = "settlement", request_body = SieConfig,
    responses((status = 200, body = SieConfig), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_config(State(state): State<AppState>, who: Principal, ApiJson(cfg): ApiJson<SieConfig>) -> ApiResult<Json<SieConfig>> {
    require(&who, Action::ManageSettlements)?;
    save_config(&state, &who, &cfg).await?;
    Ok(Json(cfg))
}

pub async fn save_config(state: &AppState, who: &Principal, cfg: &SieConfig) -> ApiResult<()> {
    cfg.check()?;
    let mut tx = state.db.pool.begin().await?;
    for (k, v) in cfg.to_rows() {
        store::put_config(&mut tx, &k, &v).await?;
    }
    tx.commit().await?;
    audit_event(state, who, AuditAction::Update, "config", format!("SIE accounts: {cfg:?}")).await
}

/// For handlers that take a month from a form or query.
pub fn month_or_error(s: &str) -> Result<Month, Msg> {
    s.parse::<Month>().map_err(|e| Msg("invalid_month", e.to_string()))
}
