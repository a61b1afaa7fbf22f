//! The provider's visits pages: upload a CSV file (a plain multipart form,
//! no JavaScript), read the import report with the line of every rejected
//! row, browse a month's visits with their flags, and the flags page (the
//! provider's own; the admin's covers every provider).

use super::import::{Actor, ImportReport, Options, Source};
use super::read::{self, FlaggedVisit, ImportSummary, Visit, VisitQuery};
use crate::app::AppState;
use crate::auth::access::{permits, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::error::{ApiError, FieldError};
use crate::web::pager::{self, PageAt, Pager};
use crate::web::{forbidden, internal, message_page, render, Chrome, Page};
use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use valfri_core::Month;

const PAGE_SIZE: i64 = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/provider/visits", get(month_page))
        .route("/provider/visits/import", post(upload).layer(DefaultBodyLimit::max(super::api::MAX_BODY)))
        .route("/provider/visits/imports/{id}", get(report_page))
        .route("/provider/visits/flags", get(flags_page))
        .route("/admin/visits/flags", get(flags_page))
}

/// A stored UTC time as local `YYYY-MM-DD HH:MM`.
fn local(state: &AppState, stamp: &str) -> String {
    stamp
        .parse::<jiff::Timestamp>()
        .map(|t| t.to_zoned(state.time_zone()).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| stamp.to_string())
}

fn local_time(state: &AppState, stamp: &str) -> String {
    local(state, stamp).get(11..).unwrap_or_default().to_string()
}

pub struct VisitRow {
    pub v: Visit,
    pub date: String,
    pub start: String,
    pub end: String,
}

pub struct FlagRow {
    pub f: FlaggedVisit,
    pub start: String,
    pub end: String,
}

#[derive(Template)]
#[template(path = "visits_month.html")]
struct MonthPage {
    c: Chrome,
    provider_id: String,
    provider_name: String,
    providers: Vec<(String, String)>,
    is_admin: bool,
    month: String,
    flagged_only: bool,
    /// The month's count, its thousands grouped.
    total: String,
    pager: Pager,
    visits: Vec<VisitRow>,
    imports: Vec<ImportSummary>,
    errors: Vec<FieldError>,
}

#[derive(Deserialize, Default)]
struct MonthQ {
    month: Option<String>,
    provider: Option<String>,
    /// The page of visits (from 1); anything else is the first.
    page: Option<String>,
    flagged: Option<String>,
}

/// The provider a page is about: own for a provider user, the chosen one
/// (or none yet) for the admin; None for anyone else.
async fn page_provider(state: &AppState, who: &Principal, named: Option<&str>) -> Result<Option<Option<String>>, ApiError> {
    match &who.kind {
        PrincipalKind::Provider { provider_id } => Ok(Some(Some(provider_id.clone()))),
        PrincipalKind::Admin => match named.map(str::trim).filter(|s| !s.is_empty()) {
            Some(n) => Ok(Some(super::import::resolve_provider(state, n).await?)),
            None => Ok(Some(None)),
        },
        _ => Ok(None),
    }
}

fn month_or_current(state: &AppState, s: Option<&str>) -> Month {
    s.and_then(|m| m.trim().parse::<Month>().ok()).unwrap_or_else(|| Month::of(state.today()))
}

async fn month_page(State(state): State<AppState>, page: Page, Query(q): Query<MonthQ>) -> Response {
    render_month(&state, &page, &q, vec![], StatusCode::OK).await
}

async fn render_month(state: &AppState, page: &Page, q: &MonthQ, errors: Vec<FieldError>, status: StatusCode) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    if !permits(&who, Action::ReadVisits) {
        return forbidden(state, page);
    }
    let provider = match page_provider(state, &who, q.provider.as_deref()).await {
        Ok(Some(p)) => p,
        Ok(None) => return forbidden(state, page),
        Err(e) => return internal(state, page, e),
    };
    let month = month_or_current(state, q.month.as_deref());
    let flagged_only = q.flagged.is_some();
    let wanted = pager::wanted(q.page.as_deref());
    let loaded = async {
        let providers: Vec<(String, String)> = if matches!(who.kind, PrincipalKind::Admin) {
            sqlx::query_as("SELECT id, name FROM providers ORDER BY name, id").fetch_all(&state.db.pool).await?
        } else {
            vec![]
        };
        let Some(pid) = provider.clone() else {
            return Ok::<_, ApiError>((providers, String::new(), None, PageAt::of(1, 0, PAGE_SIZE), vec![]));
        };
        let name: String = sqlx::query_scalar("SELECT name FROM providers WHERE id = $1").bind(&pid).fetch_one(&state.db.pool).await?;
        let query = |offset| VisitQuery { provider_id: &pid, month, flagged_only, limit: PAGE_SIZE, offset, after: None };
        let mut vp = read::visits(state, &query(wanted.saturating_sub(1).saturating_mul(PAGE_SIZE))).await?;
        // A page past the last (an old link, a month that shrank) shows the last.
        let at = PageAt::of(wanted, vp.total, PAGE_SIZE);
        if at.skip() != vp.offset {
            vp = read::visits(state, &query(at.skip())).await?;
        }
        super::api::audit_clients(state, &who, vp.visits.iter().map(|v| v.client_id.clone()), &format!("visits of {month} page")).await?;
        let imports = read::recent_imports(state, &pid, 10).await?;
        Ok((providers, name, Some(vp), at, imports))
    }
    .await;
    let (providers, provider_name, vp, at, imports) = match loaded {
        Ok(x) => x,
        Err(e) => return internal(state, page, e),
    };
    let total = vp.as_ref().map_or(0, |v| v.total);
    let visits = vp
        .map(|vp| {
            vp.visits
                .into_iter()
                .map(|v| VisitRow {
                    date: v.local_date.clone(),
                    start: local_time(state, &v.start_at),
                    end: local_time(state, &v.end_at),
                    v,
                })
                .collect()
        })
        .unwrap_or_default();
    let c = page.chrome(state, "visits-title");
    let is_admin = matches!(who.kind, PrincipalKind::Admin);
    let provider_id = provider.unwrap_or_default();
    let chosen = if is_admin { format!("&provider={provider_id}") } else { String::new() };
    let only = if flagged_only { "&flagged=1" } else { "" };
    let pager = Pager::new(&c.t, "visits-list", at, total, PAGE_SIZE, |p| {
        format!("/provider/visits?month={month}{chosen}{only}&page={p}#visits-table")
    });
    let p = MonthPage {
        c,
        is_admin,
        provider_id,
        provider_name,
        providers,
        month: month.to_string(),
        flagged_only,
        total: pager::thousands(total.unsigned_abs()),
        pager,
        visits,
        imports,
        errors,
    };
    (status, render(&p)).into_response()
}

async fn upload(State(state): State<AppState>, page: Page, mut form: Multipart) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    if !permits(&who, Action::ReportVisits) {
        return forbidden(&state, &page);
    }
    let mut file: Option<(String, axum::body::Bytes)> = None;
    let mut all_or_nothing = false;
    let mut provider: Option<String> = None;
    let mut month: Option<String> = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                match name.as_str() {
                    "file" => {
                        let file_name = field.file_name().unwrap_or("").to_string();
                        match field.bytes().await {
                            Ok(b) => file = Some((file_name, b)),
                            Err(e) => return bad_upload(&state, &page, &who, e.body_text()).await,
                        }
                    }
                    "all_or_nothing" => all_or_nothing = true,
                    "provider" => provider = field.text().await.ok(),
                    "month" => month = field.text().await.ok(),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => return bad_upload(&state, &page, &who, e.body_text()).await,
        }
    }
    let q = MonthQ { month: month.clone(), provider: provider.clone(), ..Default::default() };
    let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        let e = FieldError {
            field: "file".into(),
            code: "required".into(),
            reason: page.chrome(&state, "visits-title").t.get("visits-upload-none"),
        };
        return render_month(&state, &page, &q, vec![e], StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let provider_id = match super::api::reporting_provider(&state, &who, provider.as_deref()).await {
        Ok(p) => p,
        Err(ApiError::Internal(e)) => return internal(&state, &page, e),
        Err(e) => return forbidden_or(&state, &page, e),
    };
    let opts = Options { provider_id, source: Source::Csv, file_name, all_or_nothing, actor: Actor::of(&who) };
    match super::csvfile::import(&state, opts, std::io::Cursor::new(bytes)).await {
        Ok(report) => Redirect::to(&format!("/provider/visits/imports/{}", report.import_id)).into_response(),
        Err(ApiError::Invalid(errors)) => render_month(&state, &page, &q, errors, StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(e) => forbidden_or(&state, &page, e),
    }
}

fn forbidden_or(state: &AppState, page: &Page, e: ApiError) -> Response {
    match e {
        ApiError::NotFound(_) => message_page(state, page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        _ => forbidden(state, page),
    }
}

async fn bad_upload(state: &AppState, page: &Page, _who: &Principal, reason: String) -> Response {
    let e = FieldError { field: "file".into(), code: "unreadable_upload".into(), reason };
    render_month(state, page, &MonthQ::default(), vec![e], StatusCode::BAD_REQUEST).await
}

#[derive(Template)]
#[template(path = "visits_import.html")]
struct ReportPage {
    c: Chrome,
    r: ImportReport,
    provider_name: String,
    first_month: String,
    is_admin: bool,
}

async fn report_page(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    if !permits(&who, Action::ReadVisits) {
        return forbidden(&state, &page);
    }
    let not_found = || message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text");
    let report = match read::import_report(&state, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return internal(&state, &page, e),
    };
    if let PrincipalKind::Provider { provider_id } = &who.kind {
        if provider_id != &report.provider_id {
            return not_found();
        }
    }
    let provider_name: String =
        match sqlx::query_scalar("SELECT name FROM providers WHERE id = $1").bind(&report.provider_id).fetch_one(&state.db.pool).await {
            Ok(n) => n,
            Err(e) => return internal(&state, &page, e),
        };
    let first_month = report.months.first().cloned().unwrap_or_else(|| Month::of(state.today()).to_string());
    let c = page.chrome(&state, "visits-report-title");
    render(&ReportPage { c, r: report, provider_name, first_month, is_admin: matches!(who.kind, PrincipalKind::Admin) })
}

#[derive(Template)]
#[template(path = "visits_flags.html")]
struct FlagsPage {
    c: Chrome,
    month: String,
    is_admin: bool,
    provider_id: String,
    providers: Vec<(String, String)>,
    total: i64,
    flags: Vec<FlagRow>,
    pager: Pager,
}

#[derive(Deserialize)]
struct FlagsQ {
    month: Option<String>,
    provider: Option<String>,
    /// The page of flags (from 1); anything else is the first.
    page: Option<String>,
}

/// Flags shown on one page. A month of a large municipality has tens of
/// thousands (44 000 in the Stockholm-sized benchmark month); the page
/// showed the first 2 000 and said how many there were, with no way to the rest.
const FLAGS_PER_PAGE: i64 = 500;

async fn flags_page(State(state): State<AppState>, page: Page, Query(q): Query<FlagsQ>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    if !permits(&who, Action::ReadVisits) {
        return forbidden(&state, &page);
    }
    let provider = match page_provider(&state, &who, q.provider.as_deref()).await {
        Ok(Some(p)) => p,
        Ok(None) => return forbidden(&state, &page),
        Err(e) => return internal(&state, &page, e),
    };
    let is_admin = matches!(who.kind, PrincipalKind::Admin);
    let month = month_or_current(&state, q.month.as_deref());
    let loaded = async {
        let providers: Vec<(String, String)> = if is_admin {
            sqlx::query_as("SELECT id, name FROM providers ORDER BY name, id").fetch_all(&state.db.pool).await?
        } else {
            vec![]
        };
        let counts = read::flag_counts(&state, provider.as_deref(), month).await?;
        let total = counts.iter().map(|(_, n)| n).sum();
        let at = PageAt::of(pager::wanted(q.page.as_deref()), total, FLAGS_PER_PAGE);
        let flags = read::flagged_rows(&state, month, &counts, at.skip(), FLAGS_PER_PAGE).await?;
        super::api::audit_clients(&state, &who, flags.iter().map(|f| f.client_id.clone()), &format!("visit flags of {month} page")).await?;
        Ok::<_, ApiError>((providers, total, at, flags))
    }
    .await;
    let (providers, total, at, flags) = match loaded {
        Ok(x) => x,
        Err(e) => return internal(&state, &page, e),
    };
    let flags = flags.into_iter().map(|f| FlagRow { start: local(&state, &f.start_at), end: local_time(&state, &f.end_at), f }).collect();
    let c = page.chrome(&state, "visits-flags-title");
    let provider_id = provider.unwrap_or_default();
    let base = if is_admin { "/admin/visits/flags" } else { "/provider/visits/flags" };
    let chosen = if provider_id.is_empty() || !is_admin { String::new() } else { format!("&provider={provider_id}") };
    let pager =
        Pager::new(&c.t, "visits-flags", at, total, FLAGS_PER_PAGE, |p| format!("{base}?month={month}{chosen}&page={p}#flags-table"));
    render(&FlagsPage { c, month: month.to_string(), is_admin, provider_id, providers, total, flags, pager })
}
