//! `/api/v1/providers`.

use super::{NewProvider, Provider};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{self, require, Action};
use crate::auth::Principal;
use crate::clients::{Client, CLIENT_COLUMNS};
use crate::error::{ApiError, ApiResult, Problem};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(get_provider, put_provider))
        .routes(routes!(get_public_profile))
        .routes(routes!(provider_clients))
}

/// Every provider's public profile (no sign-in needed).
#[utoipa::path(get, path = "/providers", tag = "providers", security(()), responses((status = 200, body = Vec<Provider>)))]
async fn list_providers(State(state): State<AppState>) -> ApiResult<Json<Vec<Provider>>> {
    Ok(Json(super::list(&state).await?))
}

/// Registers a provider (admin).
#[utoipa::path(post, path = "/providers", tag = "providers", request_body = NewProvider,
    responses((status = 201, body = Provider), (status = 409, body = Problem), (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn create_provider(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(p): ApiJson<NewProvider>,
) -> ApiResult<(StatusCode, Json<Provider>)> {
    require(&who, Action::ManageProviders)?;
    let provider = super::create(&state, &p).await?;
    audit::record(
        &state,
        &who,
        Event {
            action: AuditAction::Create,
            subject_type: "provider",
            subject_id: &provider.id,
            client_id: None,
            detail: format!("provider {} ({})", provider.name, provider.org_nr),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(provider)))
}

/// One provider's public profile (no sign-in needed).
#[utoipa::path(get, path = "/providers/{id}", tag = "providers", security(()), params(("id" = String, Path)),
    responses((status = 200, body = Provider), (status = 404, body = Problem)))]
async fn get_provider(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Provider>> {
    super::get(&state, &id).await?.map(Json).ok_or(ApiError::NotFound("provider"))
}

/// Updates a provider's public profile (the provider itself or admin).
#[utoipa::path(put, path = "/providers/{id}", tag = "providers", params(("id" = String, Path)), request_body = super::ProfileUpdate,
    responses((status = 200, body = Provider), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_provider(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(u): ApiJson<super::ProfileUpdate>,
) -> ApiResult<Json<Provider>> {
    Ok(Json(super::update_profile(&state, &who, &id, &u).await?))
}

/// The citizen's view of a provider: profile, areas and services served
/// today, open for new clients, quality figures (no sign-in needed).
#[utoipa::path(get, path = "/providers/{id}/profile", tag = "providers", security(()), params(("id" = String, Path)),
    responses((status = 200, body = super::PublicProfile), (status = 404, body = Problem)))]
async fn get_public_profile(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<super::PublicProfile>> {
    super::public_profile(&state, &id).await?.map(Json).ok_or(ApiError::NotFound("provider"))
}

/// The provider's current clients (the provider itself, admin, case officers).
#[utoipa::path(get, path = "/providers/{id}/clients", tag = "providers", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Client>), (status = 404, body = Problem)))]
async fn provider_clients(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<Vec<Client>>> {
    access::require_provider_internal(&who, &id)?;
    let since = state.today().checked_sub(jiff::ToSpan::days(access::PROVIDER_READ_GRACE_DAYS)).map_err(anyhow::Error::from)?.to_string();
    let rows = sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM clients WHERE id IN \
         (SELECT client_id FROM assignments WHERE provider_id = $1 AND status <> 'cancelled' AND (end_date IS NULL OR end_date >= $2)) \
         ORDER BY name, id"
    ))
    .bind(&id)
    .bind(&since)
    .fetch_all(&state.db.pool)
    .await?;
    let mut clients: Vec<Client> = Vec::with_capacity(rows.len());
    for r in &rows {
        // Protected identity: masked for a provider whose assignment has ended.
        clients.push(crate::clients::for_viewer(&state, &who, crate::clients::from_row(r)?).await?);
    }
    let ids: Vec<String> = clients.iter().map(|c| c.id.clone()).collect();
    audit::record_client_list(&state, &who, &ids, &format!("clients of provider {id}")).await?;
    Ok(Json(clients))
}
