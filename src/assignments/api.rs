//! `/api/v1/assignments`: the provider's inbox and acknowledgements; the
//! municipality's view of every assignment.

use super::{Assignment, AssignmentFilter};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Problem};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_assignments))
        .routes(routes!(inbox))
        .routes(routes!(get_assignment))
        .routes(routes!(acknowledge))
}

async fn audit_list(state: &AppState, who: &Principal, list: &[Assignment], what: &str) -> ApiResult<()> {
    let mut ids: Vec<String> = list.iter().map(|a| a.client_id.clone()).collect();
    ids.sort();
    ids.dedup();
    audit::record_client_list(state, who, &ids, what).await
}

/// Assignments the caller may see: all (admin, case officer), the provider's
/// own, or the citizen's own; newest change first.
#[utoipa::path(get, path = "/assignments", tag = "assignments", params(AssignmentFilter),
    responses((status = 200, body = Vec<Assignment>), (status = 401, body = Problem)))]
async fn list_assignments(
    State(state): State<AppState>,
    who: Principal,
    Query(f): Query<AssignmentFilter>,
) -> ApiResult<Json<Vec<Assignment>>> {
    let list = super::list(&state, &who, &f).await?;
    audit_list(&state, &who, &list, "assignments via API").await?;
    Ok(Json(list))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InboxQuery {
    /// For admin and case officers: one provider's inbox.
    pub provider_id: Option<String>,
}

/// The provider's inbox: its assignments whose latest change (new, changed,
/// ended, cancelled) it has not yet acknowledged, newest first.
#[utoipa::path(get, path = "/assignments/inbox", tag = "assignments", params(InboxQuery),
    responses((status = 200, body = Vec<Assignment>), (status = 401, body = Problem)))]
async fn inbox(State(state): State<AppState>, who: Principal, Query(q): Query<InboxQuery>) -> ApiResult<Json<Vec<Assignment>>> {
    let f = AssignmentFilter { provider_id: q.provider_id, unacknowledged: Some(true), limit: Some(500), ..Default::default() };
    let list = super::list(&state, &who, &f).await?;
    audit_list(&state, &who, &list, "assignment inbox via API").await?;
    Ok(Json(list))
}

/// One assignment.
#[utoipa::path(get, path = "/assignments/{id}", tag = "assignments", params(("id" = String, Path)),
    responses((status = 200, body = Assignment), (status = 404, body = Problem)))]
async fn get_assignment(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<Assignment>> {
    let a = super::get(&state, &who, &id).await?.ok_or(ApiError::NotFound("assignment"))?;
    audit::record(
        &state,
        &who,
        Event {
            action: AuditAction::Read,
            subject_type: "assignment",
            subject_id: &a.id,
            client_id: Some(&a.client_id),
            detail: "via API".into(),
        },
    )
    .await?;
    Ok(Json(a))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Acknowledgement {
    /// The revision the provider saw; omit to acknowledge the current one.
    #[serde(default)]
    pub revision: Option<i64>,
}

/// The provider acknowledges the assignment's latest change (provider users
/// only). Acknowledging the same revision again answers 200 and changes
/// nothing; a stale revision answers 409 `assignment_changed`.
#[utoipa::path(post, path = "/assignments/{id}/acknowledge", tag = "assignments", params(("id" = String, Path)),
    request_body = Acknowledgement,
    responses((status = 200, body = Assignment), (status = 404, body = Problem), (status = 409, body = Problem), (status = 403, body = Problem)))]
async fn acknowledge(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(ack): ApiJson<Acknowledgement>,
) -> ApiResult<Json<Assignment>> {
    let (a, changed) = super::acknowledge(&state, &who, &id, ack.revision).await?;
    if changed {
        audit::record(
            &state,
            &who,
            Event {
                action: AuditAction::Update,
                subject_type: "assignment",
                subject_id: &a.id,
                client_id: Some(&a.client_id),
                detail: format!("acknowledged revision {} ({})", a.revision, a.notice),
            },
        )
        .await?;
    }
    Ok(Json(a))
}
