//! `GET /api/v1/audit`: admin reads the log. There is deliberately no route
//! that changes or deletes an entry.

use crate::app::AppState;
use crate::auth::access::{require, Action};
use crate::auth::Principal;
use crate::error::{ApiResult, Problem};
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub actor_user_id: Option<String>,
    pub actor_username: String,
    pub actor_role: String,
    pub action: String,
    pub client_id: Option<String>,
    pub subject_type: String,
    pub subject_id: String,
    pub detail: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only events about this client.
    pub client_id: Option<String>,
    /// Only events by this user id.
    pub actor_user_id: Option<String>,
    /// Entries older than this id (for paging backwards).
    pub before: Option<String>,
    /// At most this many entries (default 100, max 1000), newest first.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = Problem)))]
async fn list_audit(State(state): State<AppState>, who: Principal, Query(q): Query<AuditQuery>) -> ApiResult<Json<Vec<AuditEntry>>> {
    require(&who, Action::ReadAudit)?;
    let entries = query(&state, &q).await?;
    super::record_audit_read(&state, &who, q.client_id.as_deref(), "API").await?;
    Ok(Json(entries))
}

pub async fn query(state: &AppState, q: &AuditQuery) -> ApiResult<Vec<AuditEntry>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    // Empty strings stand for "any" so that one portable statement serves every filter.
    let rows = sqlx::query(
        "SELECT id, at, actor_user_id, actor_username, actor_role, action, client_id, subject_type, subject_id, detail \
         FROM audit_log WHERE ($1 = '' OR client_id = $1) AND ($2 = '' OR actor_user_id = $2) AND ($3 = '' OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(q.client_id.clone().unwrap_or_default())
    .bind(q.actor_user_id.clone().unwrap_or_default())
    .bind(q.before.clone().unwrap_or_default())
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
            Ok(AuditEntry {
                id: g("id")?,
                at: g("at")?,
                actor_user_id: r.try_get("actor_user_id").map_err(anyhow::Error::from)?,
                actor_username: g("actor_username")?,
                actor_role: g("actor_role")?,
                action: g("action")?,
                client_id: r.try_get("client_id").map_err(anyhow::Error::from)?,
                subject_type: g("subject_type")?,
                subject_id: g("subject_id")?,
                detail: g("detail")?,
            })
        })
        .collect()
}
