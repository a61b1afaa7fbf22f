//! `/api/v1/auth` (tokens) and `/api/v1/users` (accounts, admin only).

use super::access::{require, Action};
use super::{password, Principal, Role};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult, Fields, Problem};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_token, delete_token)).routes(routes!(me)).routes(routes!(list_users, create_user))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: String,
    pub user: Principal,
}

/// Exchanges a username and password for a bearer token (valid 24 hours).
#[utoipa::path(post, path = "/auth/token", tag = "auth", request_body = Credentials, security(()),
    responses((status = 201, body = TokenResponse), (status = 401, body = Problem)))]
async fn create_token(State(state): State<AppState>, ApiJson(c): ApiJson<Credentials>) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    let Some(user_id) = super::verify_credentials(&state, &c.username, &c.password).await? else {
        audit::record_as(
            &state,
            None,
            &c.username,
            "anonymous",
            Event {
                action: AuditAction::SignInFailed,
                subject_type: "user",
                subject_id: &c.username,
                client_id: None,
                detail: "api token refused".into(),
            },
        )
        .await?;
        return Err(ApiError::Unauthenticated);
    };
    let (token, expires) = super::start_session(&state, &user_id, "api").await?;
    let user = super::principal_for_token(&state, &token).await?.ok_or(ApiError::Unauthenticated)?;
    audit::record(
        &state,
        &user,
        Event { action: AuditAction::SignIn, subject_type: "user", subject_id: &user.user_id, client_id: None, detail: "api token".into() },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(TokenResponse { token, expires_at: stamp(expires), user })))
}

/// Revokes the bearer token of this request.
#[utoipa::path(delete, path = "/auth/token", tag = "auth", responses((status = 204), (status = 401, body = Problem)))]
async fn delete_token(State(state): State<AppState>, _who: Principal, headers: axum::http::HeaderMap) -> ApiResult<StatusCode> {
    if let Some(t) = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        super::end_session(&state, t.trim()).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, body = Principal), (status = 401, body = Problem)))]
async fn me(who: Principal) -> Json<Principal> {
    Json(who)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub provider_id: Option<String>,
    pub client_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub role: Role,
    /// Required for role `provider`.
    pub provider_id: Option<String>,
    /// Required for role `citizen`.
    pub client_id: Option<String>,
}

#[utoipa::path(get, path = "/users", tag = "users", responses((status = 200, body = Vec<User>), (status = 403, body = Problem)))]
async fn list_users(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<User>>> {
    require(&who, Action::ManageUsers)?;
    let rows = sqlx::query("SELECT id, username, display_name, role, provider_id, client_id FROM users ORDER BY username")
        .fetch_all(&state.db.pool)
        .await?;
    let users = rows
        .iter()
        .map(|r| {
            let p = super::principal_from_row(r)?;
            Ok(User {
                id: p.user_id.clone(),
                username: p.username.clone(),
                display_name: p.display_name.clone(),
                role: p.role(),
                provider_id: r.try_get("provider_id").map_err(anyhow::Error::from)?,
                client_id: r.try_get("client_id").map_err(anyhow::Error::from)?,
            })
        })
        .collect::<ApiResult<Vec<User>>>()?;
    // A citizen's account names the client it belongs to.
    let clients: Vec<String> = users.iter().filter_map(|u| u.client_id.clone()).collect();
    audit::record_client_list(&state, &who, &clients, "user list via API").await?;
    Ok(Json(users))
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = 409, body = Problem), (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn create_user(State(state): State<AppState>, who: Principal, ApiJson(u): ApiJson<NewUser>) -> ApiResult<(StatusCode, Json<User>)> {
    require(&who, Action::ManageUsers)?;
    let user = insert_user(&state, &u).await?;
    audit::record(
        &state,
        &who,
        Event {
            action: AuditAction::Create,
            subject_type: "user",
            subject_id: &user.id,
            client_id: user.client_id.as_deref(),
            detail: format!("user {} with role {}", user.username, user.role.as_str()),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Creates a user after checking the role's binding; shared by the API, the
/// CLI and the demo.
pub async fn insert_user(state: &AppState, u: &NewUser) -> ApiResult<User> {
    let mut f = Fields::new();
    crate::setup::model::check_text(&mut f, "username", &u.username, 64);
    if u.username.chars().any(|c| c.is_whitespace()) {
        f.push("username", "invalid_username", "a username has no spaces");
    }
    crate::setup::model::check_text(&mut f, "display_name", &u.display_name, 200);
    f.parse("password", password::check_strength(&u.password));
    match u.role {
        Role::Provider if u.provider_id.is_none() => f.push("provider_id", "required", "a provider user is bound to one provider"),
        Role::Citizen if u.client_id.is_none() => f.push("client_id", "required", "a citizen user is bound to one client"),
        _ => {}
    }
    if u.role != Role::Provider && u.provider_id.is_some() {
        f.push("provider_id", "not_allowed", "only provider users are bound to a provider");
    }
    if u.role != Role::Citizen && u.client_id.is_some() {
        f.push("client_id", "not_allowed", "only citizen users are bound to a client");
    }
    f.finish()?;
    let id = uuid::Uuid::now_v7().to_string();
    let hash = password::hash(&u.password)?;
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, role, provider_id, client_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&u.username)
    .bind(&u.display_name)
    .bind(&hash)
    .bind(u.role.as_str())
    .bind(&u.provider_id)
    .bind(&u.client_id)
    .bind(stamp(state.clock.now()))
    .execute(&state.db.pool)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("username_taken", format!("the username {} is taken", u.username)),
        ApiError::Rule { code: "unknown_reference", .. } => ApiError::rule("unknown_reference", "no such provider or client"),
        other => other,
    })?;
    Ok(User {
        id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role,
        provider_id: u.provider_id.clone(),
        client_id: u.client_id.clone(),
    })
}
