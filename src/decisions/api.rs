//! `/api/v1/clients/{id}/decisions`, `/api/v1/decisions/{id}` and the IVO
//! report. Every read and change is written to the audit log.

use super::{Decision, DecisionChange, DecisionEnd, NewDecision, UnexecutedDecision};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{permits, require, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::error::{ApiError, ApiResult, Problem};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_decisions, create_decision))
        .routes(routes!(get_decision))
        .routes(routes!(change_decision))
        .routes(routes!(end_decision))
        .routes(routes!(unexecuted_report))
}

/// Decisions are read by the municipality and by the client themself; a
/// provider sees what it must deliver through its assignments instead.
pub fn require_decision_read(who: &Principal, client_id: &str) -> ApiResult<()> {
    match &who.kind {
        PrincipalKind::Citizen { client_id: own } if own == client_id => Ok(()),
        _ if permits(who, Action::ReadAllClients) => Ok(()),
        _ => Err(ApiError::NotFound("client")),
    }
}

async fn audit_decision(state: &AppState, who: &Principal, action: AuditAction, d: &Decision, detail: String) -> ApiResult<()> {
    audit::record(state, who, Event { action, subject_type: "decision", subject_id: &d.id, client_id: Some(&d.client_id), detail }).await
}

/// A client's decisions with every version, newest first.
#[utoipa::path(get, path = "/clients/{id}/decisions", tag = "decisions", params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = Vec<Decision>), (status = 404, body = Problem), (status = 401, body = Problem)))]
async fn list_decisions(State(state): State<AppState>, who: Principal, Path(client_id): Path<String>) -> ApiResult<Json<Vec<Decision>>> {
    require_decision_read(&who, &client_id)?;
    if crate::clients::get(&state, &client_id).await?.is_none() {
        return Err(ApiError::NotFound("client"));
    }
    let decisions = super::for_client(&state, &client_id).await?;
    audit::record(
        &state,
        &who,
        Event {
            action: AuditAction::Read,
            subject_type: "client",
            subject_id: &client_id,
            client_id: Some(&client_id),
            detail: format!("{} decisions via API", decisions.len()),
        },
    )
    .await?;
    Ok(Json(decisions))
}

/// Grants services to a client (admin, case officer). The client's
/// assignments are derived at once from its provider per service group.
#[utoipa::path(post, path = "/clients/{id}/decisions", tag = "decisions", params(("id" = String, Path, description = "client id")),
    request_body = NewDecision,
    responses((status = 201, body = Decision), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn create_decision(
    State(state): State<AppState>,
    who: Principal,
    Path(client_id): Path<String>,
    ApiJson(d): ApiJson<NewDecision>,
) -> ApiResult<(StatusCode, Json<Decision>)> {
    require(&who, Action::ManageDecisions)?;
    let decision = super::create(&state, &who, &client_id, &d).await?;
    audit_decision(&state, &who, AuditAction::Create, &decision, format!("granted from {}", decision.start_date)).await?;
    Ok((StatusCode::CREATED, Json(decision)))
}

/// One decision with its history.
#[utoipa::path(get, path = "/decisions/{id}", tag = "decisions", params(("id" = String, Path)),
    responses((status = 200, body = Decision), (status = 404, body = Problem)))]
async fn get_decision(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<Decision>> {
    let client_id = super::client_of(&state, &id).await?;
    require_decision_read(&who, &client_id).map_err(|_| ApiError::NotFound("decision"))?;
    let decision = super::get(&state, &id).await?.ok_or(ApiError::NotFound("decision"))?;
    audit_decision(&state, &who, AuditAction::Read, &decision, "decision via API".into()).await?;
    Ok(Json(decision))
}

/// Changes a decision from a date: a new version with the complete set of
/// services. The current version ends the day before (or is superseded when
/// the change applies from its own first day). Assignments follow.
#[utoipa::path(post, path = "/decisions/{id}/versions", tag = "decisions", params(("id" = String, Path)), request_body = DecisionChange,
    responses((status = 201, body = Decision), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn change_decision(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<DecisionChange>,
) -> ApiResult<(StatusCode, Json<Decision>)> {
    require(&who, Action::ManageDecisions)?;
    let decision = super::change(&state, &who, &id, &c).await?;
    let detail = format!("version {} from {}", decision.current.version, decision.current.valid_from);
    audit_decision(&state, &who, AuditAction::Update, &decision, detail).await?;
    Ok((StatusCode::CREATED, Json(decision)))
}

/// Ends a decision on a day (inclusive); its assignments end the same day.
/// Ending again on the same day answers 200 and changes nothing.
#[utoipa::path(post, path = "/decisions/{id}/end", tag = "decisions", params(("id" = String, Path)), request_body = DecisionEnd,
    responses((status = 200, body = Decision), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn end_decision(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(e): ApiJson<DecisionEnd>,
) -> ApiResult<Json<Decision>> {
    require(&who, Action::ManageDecisions)?;
    let decision = super::end(&state, &who, &id, &e).await?;
    let detail = format!("ended on {}", decision.end_date.clone().unwrap_or_default());
    audit_decision(&state, &who, AuditAction::Update, &decision, detail).await?;
    Ok(Json(decision))
}

/// Decisions not executed within three months of their start (for the
/// quarterly report to IVO): no assignment had started by start + 3 months.
/// Lists those still waiting, those executed late (`executed_on`) and those
/// that ended unexecuted. Admin and case officers.
#[utoipa::path(get, path = "/reports/unexecuted-decisions", tag = "decisions",
    responses((status = 200, body = Vec<UnexecutedDecision>), (status = 403, body = Problem)))]
async fn unexecuted_report(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<UnexecutedDecision>>> {
    require(&who, Action::ReadUnexecutedReport)?;
    let rows = super::unexecuted(&state, state.today()).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.client_id.clone()).collect();
    audit::record_client_list(&state, &who, &ids, "unexecuted decisions report via API").await?;
    Ok(Json(rows))
}
