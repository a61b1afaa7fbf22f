//! The audit log: an append-only record of every read or change of a
//! client's personal data (and of other sensitive changes). Written in the
//! same request as the read or change; readable by admin; no route edits it
//! and the database refuses UPDATE and DELETE on it.

pub mod api;
pub mod web;

use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::stamp;
use crate::error::ApiResult;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Read,
    List,
    Create,
    Update,
    Delete,
    Export,
    SignIn,
    SignInFailed,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Read => "read",
            AuditAction::List => "list",
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Export => "export",
            AuditAction::SignIn => "sign_in",
            AuditAction::SignInFailed => "sign_in_failed",
        }
    }
}

/// One audit event about one subject.
pub struct Event<'a> {
    pub action: AuditAction,
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    pub client_id: Option<&'a str>,
    pub detail: String,
}

pub async fn record(state: &AppState, who: &Principal, event: Event<'_>) -> ApiResult<()> {
    record_as(state, Some(&who.user_id), &who.username, who.role().as_str(), event).await
}

pub async fn record_as(state: &AppState, user_id: Option<&str>, username: &str, role: &str, event: Event<'_>) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_user_id, actor_username, actor_role, action, client_id, subject_type, subject_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(stamp(state.clock.now()))
    .bind(user_id)
    .bind(username)
    .bind(role)
    .bind(event.action.as_str())
    .bind(event.client_id)
    .bind(event.subject_type)
    .bind(event.subject_id)
    .bind(event.detail)
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

/// Records that `who` saw a list of clients: one event per client, because
/// the question the log must answer is "who has seen this person's data?".
pub async fn record_client_list(state: &AppState, who: &Principal, client_ids: &[String], what: &str) -> ApiResult<()> {
    if client_ids.is_empty() {
        return Ok(());
    }
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    for id in client_ids {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor_user_id, actor_username, actor_role, action, client_id, subject_type, subject_id, detail) \
             VALUES ($1, $2, $3, $4, $5, 'list', $6, 'client', $6, $7)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&now)
        .bind(&who.user_id)
        .bind(&who.username)
        .bind(who.role().as_str())
        .bind(id)
        .bind(what)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records that `who` read the audit log: who looked at whom is itself a
/// read of the client's data. `client_filter` is the client the reader
/// asked about, if any (made printable and cut: it is what was typed).
pub async fn record_audit_read(state: &AppState, who: &Principal, client_filter: Option<&str>, via: &str) -> ApiResult<()> {
    let client = client_filter.map(str::trim).filter(|c| !c.is_empty()).map(|c| crate::visits::printable(c, 100));
    record(
        state,
        who,
        Event {
            action: AuditAction::Read,
            subject_type: "audit_log",
            subject_id: client.as_deref().unwrap_or("all"),
            client_id: client.as_deref(),
            detail: format!("audit log read via {via}"),
        },
    )
    .await
}
