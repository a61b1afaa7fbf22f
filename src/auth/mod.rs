//! Who is asking: users, roles, passwords, sessions and bearer tokens. What
//! each role may do is decided in `access.rs`, in one list.

pub mod access;
pub mod api;
pub mod password;

use crate::app::AppState;
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jiff::ToSpan;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use utoipa::ToSchema;

pub const SESSION_COOKIE: &str = "valfri_session";
const WEB_SESSION_HOURS: i64 = 10;
const API_TOKEN_HOURS: i64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    CaseOfficer,
    Provider,
    Citizen,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CaseOfficer => "case_officer",
            Role::Provider => "provider",
            Role::Citizen => "citizen",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "case_officer" => Role::CaseOfficer,
            "provider" => Role::Provider,
            "citizen" => Role::Citizen,
            _ => return None,
        })
    }
}

/// A signed-in user. A provider user is bound to one provider and a citizen
/// to one client; the types say so, so no handler can forget the binding.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    #[serde(flatten)]
    pub kind: PrincipalKind,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum PrincipalKind {
    Admin,
    CaseOfficer,
    Provider { provider_id: String },
    Citizen { client_id: String },
}

impl Principal {
    pub fn role(&self) -> Role {
        match self.kind {
            PrincipalKind::Admin => Role::Admin,
            PrincipalKind::CaseOfficer => Role::CaseOfficer,
            PrincipalKind::Provider { .. } => Role::Provider,
            PrincipalKind::Citizen { .. } => Role::Citizen,
        }
    }
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks a username and password; None when either is wrong (the caller
/// must not say which).
pub async fn verify_credentials(state: &AppState, username: &str, password: &str) -> ApiResult<Option<String>> {
    let row = sqlx::query("SELECT id, password_hash FROM users WHERE username = $1").bind(username).fetch_optional(&state.db.pool).await?;
    let Some(row) = row else {
        // Spend the same time as a real check so timing does not reveal which usernames exist.
        password::verify(password, password::DUMMY_HASH);
        return Ok(None);
    };
    let hash: String = row.try_get("password_hash").map_err(anyhow::Error::from)?;
    if password::verify(password, &hash) {
        Ok(Some(row.try_get("id").map_err(anyhow::Error::from)?))
    } else {
        Ok(None)
    }
}

/// Starts a session and returns the secret token (only its hash is stored).
pub async fn start_session(state: &AppState, user_id: &str, kind: &str) -> ApiResult<(String, jiff::Timestamp)> {
    let token = new_token();
    let now = state.clock.now();
    let hours = if kind == "web" { WEB_SESSION_HOURS } else { API_TOKEN_HOURS };
    let expires = now.checked_add(hours.hours()).map_err(anyhow::Error::from)?;
    sqlx::query("INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(kind)
        .bind(stamp(now))
        .bind(stamp(expires))
        .execute(&state.db.pool)
        .await?;
    Ok((token, expires))
}

pub async fn end_session(state: &AppState, token: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash(token)).execute(&state.db.pool).await?;
    Ok(())
}

pub async fn principal_for_token(state: &AppState, token: &str) -> ApiResult<Option<Principal>> {
    let row = sqlx::query(
        "SELECT u.id, u.username, u.display_name, u.role, u.provider_id, u.client_id \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(stamp(state.clock.now()))
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    principal_from_row(&row).map(Some)
}

pub fn principal_from_row(row: &crate::db::Row) -> ApiResult<Principal> {
    let get = |c: &str| -> ApiResult<Option<String>> { Ok(row.try_get::<Option<String>, _>(c).map_err(anyhow::Error::from)?) };
    let role = get("role")?.unwrap_or_default();
    let kind = match (Role::parse(&role), get("provider_id")?, get("client_id")?) {
        (Some(Role::Admin), _, _) => PrincipalKind::Admin,
        (Some(Role::CaseOfficer), _, _) => PrincipalKind::CaseOfficer,
        (Some(Role::Provider), Some(provider_id), _) => PrincipalKind::Provider { provider_id },
        (Some(Role::Citizen), _, Some(client_id)) => PrincipalKind::Citizen { client_id },
        _ => return Err(anyhow::anyhow!("user row with inconsistent role {role}").into()),
    };
    Ok(Principal {
        user_id: get("id")?.unwrap_or_default(),
        username: get("username")?.unwrap_or_default(),
        display_name: get("display_name")?.unwrap_or_default(),
        kind,
    })
}

/// The token of a request: a bearer token (API clients) or the session cookie (browsers).
pub fn request_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
    }
    cookie(parts, SESSION_COOKIE)
}

pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = request_token(parts).ok_or(ApiError::Unauthenticated)?;
        principal_for_token(state, &token).await?.ok_or(ApiError::Unauthenticated)
    }
}

/// For API routes open to everyone that still behave differently when signed in.
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybePrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match request_token(parts) {
            Some(token) => Ok(MaybePrincipal(principal_for_token(state, &token).await?)),
            None => Ok(MaybePrincipal(None)),
        }
    }
}
