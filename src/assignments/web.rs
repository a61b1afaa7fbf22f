//! The provider's inbox page: new, changed, ended and cancelled assignments
//! to acknowledge, and the provider's current assignments. Admin and case
//! officers see every provider's unacknowledged assignments (read only).

use super::{Assignment, AssignmentFilter};
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::PrincipalKind;
use crate::decisions::web::{amount_text, error_message, service_name};
use crate::error::ApiError;
use crate::web::{forbidden, internal, render, Chrome, Page, WebForm};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/provider/assignments", get(inbox_page)).route("/provider/assignments/{id}/acknowledge", post(acknowledge))
}

/// How many acknowledged assignments the inbox page lists below the inbox.
const CURRENT_SHOWN: usize = 50;

pub struct Row {
    pub a: Assignment,
    pub service: String,
    pub amount: String,
    pub notice: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "assignments_inbox.html")]
struct InboxPage {
    c: Chrome,
    inbox: Vec<Row>,
    /// More assignments to acknowledge than are shown.
    more: bool,
    current: Vec<Row>,
    is_provider: bool,
    acked: bool,
    error: String,
}

/// Assignments to acknowledge shown on the page.
const INBOX_SHOWN: usize = 500;

#[derive(Deserialize)]
struct Q {
    acked: Option<String>,
}

async fn inbox_page(State(state): State<AppState>, page: Page, Query(q): Query<Q>) -> Response {
    render_inbox(&state, &page, q.acked.is_some(), String::new(), StatusCode::OK).await
}

async fn render_inbox(state: &AppState, page: &Page, acked: bool, error: String, status: StatusCode) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let is_provider = matches!(who.kind, PrincipalKind::Provider { .. });
    if !is_provider && !matches!(who.kind, PrincipalKind::Admin | PrincipalKind::CaseOfficer) {
        return forbidden(state, page);
    }
    let c = page.chrome(state, "assignments-title");
    let today = state.today().to_string();
    let loaded = async {
        // One more than is shown says whether there are more: a hand-over can
        // send a provider hundreds of assignments at once.
        let mut inbox = super::list(
            state,
            &who,
            &AssignmentFilter { unacknowledged: Some(true), limit: Some(INBOX_SHOWN as i64 + 1), ..Default::default() },
        )
        .await?;
        let more = inbox.len() > INBOX_SHOWN;
        inbox.truncate(INBOX_SHOWN);
        // The most recently changed of the provider's live assignments; a provider with hundreds
        // of clients finds the rest through its client list, not on this page.
        let current: Vec<Assignment> = if is_provider {
            let recent =
                super::list(state, &who, &AssignmentFilter { status: Some("acknowledged".into()), limit: Some(200), ..Default::default() })
                    .await?;
            recent.into_iter().filter(|a| a.end_date.as_ref().is_none_or(|e| e.as_str() >= today.as_str())).take(CURRENT_SHOWN).collect()
        } else {
            vec![]
        };
        let mut conn = state.db.pool.acquire().await?;
        let types = crate::setup::store::service_types(&mut conn).await?;
        let mut ids: Vec<String> = inbox.iter().chain(current.iter()).map(|a: &Assignment| a.client_id.clone()).collect();
        ids.sort();
        ids.dedup();
        audit::record_client_list(state, &who, &ids, "assignment inbox page").await?;
        Ok::<_, ApiError>((inbox, more, current, types))
    }
    .await;
    let (inbox, more, current, types) = match loaded {
        Ok(x) => x,
        Err(e) => return internal(state, page, e),
    };
    let row = |a: Assignment| Row {
        service: service_name(&c.t, &types, &a.service_type),
        amount: amount_text(&c.t, &a.amount_unit, a.monthly_amount),
        notice: c.t.pre("assignments-notice-", &a.notice),
        reason: a.end_reason.as_deref().map(|r| c.t.pre("assignments-reason-", r)).unwrap_or_default(),
        a,
    };
    let inbox: Vec<Row> = inbox.into_iter().map(row).collect();
    let current: Vec<Row> = current.into_iter().map(row).collect();
    (status, render(&InboxPage { c, inbox, more, current, is_provider, acked, error })).into_response()
}

#[derive(Deserialize)]
struct AckForm {
    revision: i64,
}

async fn acknowledge(State(state): State<AppState>, page: Page, Path(id): Path<String>, WebForm(f): WebForm<AckForm>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    match super::acknowledge(&state, &who, &id, Some(f.revision)).await {
        Ok((a, changed)) => {
            if changed {
                let event = Event {
                    action: AuditAction::Update,
                    subject_type: "assignment",
                    subject_id: &a.id,
                    client_id: Some(&a.client_id),
                    detail: format!("acknowledged revision {} ({}) on the web", a.revision, a.notice),
                };
                if let Err(e) = audit::record(&state, &who, event).await {
                    return internal(&state, &page, e);
                }
            }
            Redirect::to("/provider/assignments?acked=1").into_response()
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(ApiError::Forbidden(_)) => forbidden(&state, &page),
        Err(e) => {
            let t = page.chrome(&state, "assignments-title").t;
            let msg = error_message(&t, e.code(), &e.problem().detail);
            render_inbox(&state, &page, false, msg, e.status()).await
        }
    }
}
