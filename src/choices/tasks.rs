//! Re-choice tasks: a provider is leaving and the client must choose again.
//! Created by a hand-over, closed when the client chooses (or by a case
//! officer who has dealt with it, e.g. the client is content with the default).

use crate::app::AppState;
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult};
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Task {
    pub id: String,
    pub client_id: String,
    pub client_name: String,
    pub service_group: String,
    /// provider_terminated, area_withdrawn or service_withdrawn.
    pub reason: String,
    pub from_provider_id: String,
    pub from_provider_name: String,
    /// The default the client gets on the due date unless they choose before.
    pub default_choice_id: Option<String>,
    pub default_provider_name: Option<String>,
    /// The client should have chosen by this date.
    pub due_date: String,
    /// open or done.
    pub status: String,
    pub assigned_to_user_id: Option<String>,
    pub created_at: String,
    pub done_at: Option<String>,
    pub done_by: Option<String>,
    /// `chosen` when closed by the client's choice; else the case officer's note.
    pub outcome: Option<String>,
}

const TASK_SELECT: &str = "SELECT t.id, t.client_id, cl.name AS client_name, t.service_group, t.reason, t.from_provider_id, \
     fp.name AS from_provider_name, t.default_choice_id, dp.name AS default_provider_name, t.due_date, t.status, t.assigned_to_user_id, \
     t.created_at, t.done_at, t.done_by, t.outcome FROM choice_tasks t JOIN clients cl ON cl.id = t.client_id \
     JOIN providers fp ON fp.id = t.from_provider_id LEFT JOIN choices dc ON dc.id = t.default_choice_id \
     LEFT JOIN providers dp ON dp.id = dc.provider_id";

fn from_row(r: &crate::db::Row) -> ApiResult<Task> {
    let s = |c: &str| r.try_get::<String, _>(c).map_err(|e| ApiError::Internal(e.into()));
    let o = |c: &str| r.try_get::<Option<String>, _>(c).map_err(|e| ApiError::Internal(e.into()));
    Ok(Task {
        id: s("id")?,
        client_id: s("client_id")?,
        client_name: s("client_name")?,
        service_group: s("service_group")?,
        reason: s("reason")?,
        from_provider_id: s("from_provider_id")?,
        from_provider_name: s("from_provider_name")?,
        default_choice_id: o("default_choice_id")?,
        default_provider_name: o("default_provider_name")?,
        due_date: s("due_date")?,
        status: s("status")?,
        assigned_to_user_id: o("assigned_to_user_id")?,
        created_at: s("created_at")?,
        done_at: o("done_at")?,
        done_by: o("done_by")?,
        outcome: o("outcome")?,
    })
}

/// Tasks by status (`open`, `done`, or None for all), earliest due first;
/// optionally of one client.
pub async fn list(state: &AppState, status: Option<&str>, client_id: Option<&str>, (offset, limit): (i64, i64)) -> ApiResult<Vec<Task>> {
    let rows = sqlx::query(&format!(
        "{TASK_SELECT} WHERE ($1 = '' OR t.status = $1) AND ($2 = '' OR t.client_id = $2) ORDER BY t.due_date, cl.name, t.id LIMIT $3 OFFSET $4"
    ))
    .bind(status.unwrap_or(""))
    .bind(client_id.unwrap_or(""))
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(state: &AppState, id: &str) -> ApiResult<Option<Task>> {
    let row = sqlx::query(&format!("{TASK_SELECT} WHERE t.id = $1")).bind(id).fetch_optional(&state.db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// Closes an open task; 409 `task_done` when it was already closed.
pub async fn mark_done(state: &AppState, username: &str, id: &str, outcome: &str) -> ApiResult<Task> {
    if get(state, id).await?.is_none() {
        return Err(ApiError::NotFound("task"));
    }
    let done =
        sqlx::query("UPDATE choice_tasks SET status = 'done', done_at = $1, done_by = $2, outcome = $3 WHERE id = $4 AND status = 'open'")
            .bind(stamp(state.clock.now()))
            .bind(username)
            .bind(outcome)
            .bind(id)
            .execute(&state.db.pool)
            .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict("task_done", "the task is already done"));
    }
    get(state, id).await?.ok_or(ApiError::NotFound("task"))
}
