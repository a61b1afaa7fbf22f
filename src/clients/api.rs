//! `/api/v1/clients`.

use super::{Client, NewClient, CLIENT_COLUMNS};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{self, require, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::error::{ApiError, ApiResult, Problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_clients, create_client)).routes(routes!(get_client))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ClientQuery {
    /// Part of the name or identity number.
    pub q: Option<String>,
    pub area_code: Option<String>,
    /// At most this many (default 50, max 500).
    pub limit: Option<i64>,
    /// Skip this many first (default 0), in the list's order (name, then
    /// id): the next page is at `offset + limit`.
    pub offset: Option<i64>,
}

/// Registers a client (admin, case officer).
#[utoipa::path(post, path = "/clients", tag = "clients", request_body = NewClient,
    responses((status = 201, body = Client), (status = 409, body = Problem), (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn create_client(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(c): ApiJson<NewClient>,
) -> ApiResult<(StatusCode, Json<Client>)> {
    require(&who, Action::ManageClients)?;
    let client = super::create(&state, &c).await?;
    audit::record(
        &state,
        &who,
        Event {
            action: AuditAction::Create,
            subject_type: "client",
            subject_id: &client.id,
            client_id: Some(&client.id),
            detail: "registered".into(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(client)))
}

/// Clients the caller may see: all (admin, case officer), the provider's own
/// clients, or the citizen themself. Every client listed is audited.
#[utoipa::path(get, path = "/clients", tag = "clients", params(ClientQuery),
    responses((status = 200, body = Vec<Client>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_clients(State(state): State<AppState>, who: Principal, Query(q): Query<ClientQuery>) -> ApiResult<Json<Vec<Client>>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let offset = crate::api::offset(q.offset)?;
    let needle = q.q.clone().unwrap_or_default().to_lowercase();
    let pattern = format!("%{needle}%");
    let area = q.area_code.clone().unwrap_or_default();
    let since = state.today().checked_sub(jiff::ToSpan::days(access::PROVIDER_READ_GRACE_DAYS)).map_err(anyhow::Error::from)?.to_string();
    let (scope_sql, scope_arg) = match &who.kind {
        PrincipalKind::Admin | PrincipalKind::CaseOfficer => ("$4 = $4", String::new()),
        PrincipalKind::Provider { provider_id } => (
            "id IN (SELECT client_id FROM assignments WHERE provider_id = $4 AND status <> 'cancelled' AND (end_date IS NULL OR end_date >= $5))",
            provider_id.clone(),
        ),
        PrincipalKind::Citizen { client_id } => ("id = $4", client_id.clone()),
    };
    let sql = format!(
        "SELECT {CLIENT_COLUMNS} FROM clients WHERE (LOWER(name) LIKE $1 OR person_id LIKE $1) AND ($2 = '' OR area_code = $2) \
         AND {scope_sql} AND $5 = $5 ORDER BY name, id LIMIT $3 OFFSET $6"
    );
    let rows = sqlx::query(&sql)
        .bind(&pattern)
        .bind(&area)
        .bind(limit)
        .bind(&scope_arg)
        .bind(&since)
        .bind(offset)
        .fetch_all(&state.db.pool)
        .await?;
    let mut clients: Vec<Client> = Vec::with_capacity(rows.len());
    for r in &rows {
        clients.push(super::for_viewer(&state, &who, super::from_row(r)?).await?);
    }
    let ids: Vec<String> = clients.iter().map(|c| c.id.clone()).collect();
    audit::record_client_list(&state, &who, &ids, "client list via API").await?;
    Ok(Json(clients))
}

/// One client's personal data. Name and address of a client with protected
/// identity are masked (`***`) for anyone but admin, case officers, the
/// client and a provider with a current assignment.
#[utoipa::path(get, path = "/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = Client), (status = 404, body = Problem)))]
async fn get_client(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<Client>> {
    access::require_client_read(&state, &who, &id).await?;
    let client = super::get(&state, &id).await?.ok_or(ApiError::NotFound("client"))?;
    let client = super::for_viewer(&state, &who, client).await?;
    audit::record(
        &state,
        &who,
        Event {
            action: AuditAction::Read,
            subject_type: "client",
            subject_id: &id,
            client_id: Some(&id),
            detail: "client record via API".into(),
        },
    )
    .await?;
    Ok(Json(client))
}
