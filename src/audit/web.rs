//! The admin's view of the audit log.

use super::api::{query, AuditEntry, AuditQuery};
use crate::app::AppState;
use crate::auth::access::{permits, Action};
use crate::web::{forbidden, internal, render, Chrome, Page};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(audit_page))
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    c: Chrome,
    entries: Vec<AuditEntry>,
    client_id: String,
    next_before: Option<String>,
}

#[derive(Deserialize)]
struct Q {
    client_id: Option<String>,
    before: Option<String>,
}

const PAGE: i64 = 100;

async fn audit_page(State(state): State<AppState>, page: Page, Query(q): Query<Q>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !permits(who, Action::ReadAudit) {
        return forbidden(&state, &page);
    }
    let client_id = q.client_id.unwrap_or_default().trim().to_string();
    let aq = AuditQuery { client_id: Some(client_id.clone()), actor_user_id: None, before: q.before, limit: Some(PAGE) };
    let entries = match query(&state, &aq).await {
        Ok(e) => e,
        Err(e) => return internal(&state, &page, e),
    };
    if let Err(e) = super::record_audit_read(&state, who, Some(&client_id), "web").await {
        return internal(&state, &page, e);
    }
    let next_before = (entries.len() as i64 == PAGE).then(|| entries.last().map(|e| e.id.clone())).flatten();
    render(&AuditPage { c: page.chrome(&state, "audit-title"), entries, client_id, next_before })
}
