//! Settlement pages: the admin's month overview (compute, export, SIE
//! accounts), one settlement with its lines and the basis of each (approve,
//! adjust, accept excess), and the provider's own statements. Plain forms;
//! every action also exists in the API.

use super::api::may_read;
use super::export::{decimal_comma, units_of, SieConfig};
use super::{store, Adjustment, Flag, Line, NewAdjustment, Settlement};
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{permits, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::clock::stamp;
use crate::error::ApiError;
use crate::web::i18n::Tr;
use crate::web::pager::{thousands, wanted, PageAt, Pager};
use crate::web::{forbidden, internal, render, Chrome, Page, WebForm};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sqlx::Row;
use std::collections::HashMap;
use valfri_core::Month;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/settlements", get(month_page))
        .route("/admin/settlements/compute", post(compute))
        .route("/admin/settlements/export", post(export))
        .route("/admin/settlements/config", get(config_page).post(save_config))
        .route("/provider/settlements", get(provider_page))
        .route("/settlements/{id}", get(detail_page))
        .route("/settlements/{id}/approve", post(approve))
        .route("/settlements/{id}/adjustments", post(add_adjustment))
        .route("/settlements/{id}/adjustments/{adj}/delete", post(delete_adjustment))
        .route("/settlements/{id}/flags/{seq}/accept", post(accept_flag))
}

/// Kronor for people: `1 234,56` with a narrow no-break space between thousands.
pub fn kr(ore: i64) -> String {
    let sign = if ore < 0 { "−" } else { "" };
    let a = ore.unsigned_abs();
    format!("{sign}{},{:02}", thousands(a / 100), a % 100)
}

fn default_month(state: &AppState) -> Month {
    Month::of(state.today()).prev()
}

macro_rules! require_admin {
    ($state:expr, $page:expr) => {
        match $page.require_user() {
            Ok(u) if permits(u, Action::ManageSettlements) => u.clone(),
            Ok(_) => return forbidden($state, $page),
            Err(r) => return r,
        }
    };
}

pub struct RowView {
    pub s: Settlement,
    pub lines_total: String,
    pub vat: String,
    pub adjustments: String,
    pub total: String,
}

fn rows(list: Vec<Settlement>) -> Vec<RowView> {
    list.into_iter()
        .map(|s| RowView {
            lines_total: kr(s.lines_total_ore),
            vat: kr(s.vat_ore),
            adjustments: kr(s.adjustments_total_ore),
            total: kr(s.total_ore),
            s,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "settlement_month.html")]
struct MonthPage {
    c: Chrome,
    month: String,
    rows: Vec<RowView>,
    grand_total: String,
    drafts: usize,
    approved: usize,
    batches: Vec<(i64, String, String)>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct MonthQuery {
    month: Option<String>,
    done: Option<String>,
}

async fn month_page(State(state): State<AppState>, page: Page, Query(q): Query<MonthQuery>) -> Response {
    let _who = require_admin!(&state, &page);
    let month = q.month.as_deref().and_then(|m| m.parse::<Month>().ok()).unwrap_or_else(|| default_month(&state));
    let c = page.chrome(&state, "settlement-title");
    let notice = q.done.as_deref().filter(|d| ["computed", "exported"].contains(d)).map(|d| c.t.pre("settlement-done-", d));
    render_month(&state, &page, c, month, notice, None, StatusCode::OK).await
}

async fn render_month(
    state: &AppState,
    page: &Page,
    c: Chrome,
    month: Month,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let result = async {
        let mut conn = state.db.pool.acquire().await?;
        let list = store::list(&mut conn, Some(month), None, &[]).await?;
        let batches = store::export_batches(&mut conn, month).await?;
        Ok::<_, ApiError>((list, batches))
    }
    .await;
    let (list, batches) = match result {
        Ok(x) => x,
        Err(e) => return internal(state, page, e),
    };
    let grand_total = kr(list.iter().map(|s| s.total_ore).sum());
    let drafts = list.iter().filter(|s| s.status == "draft").count();
    let approved = list.iter().filter(|s| s.status == "approved").count();
    let p = MonthPage { c, month: month.to_string(), rows: rows(list), grand_total, drafts, approved, batches, notice, error };
    (status, render(&p)).into_response()
}

#[derive(Deserialize)]
struct MonthForm {
    month: String,
    #[serde(default)]
    approve: Option<String>,
}

async fn compute(State(state): State<AppState>, page: Page, WebForm(f): WebForm<MonthForm>) -> Response {
    let who = require_admin!(&state, &page);
    let Ok(month) = f.month.parse::<Month>() else {
        let c = page.chrome(&state, "settlement-title");
        let e = c.t.get("settlement-invalid-month");
        return render_month(&state, &page, c, default_month(&state), None, Some(e), StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let now = stamp(state.clock.now());
    match super::run_month(&state.db, month, &who.username, &now, f.approve.is_some()).await {
        Ok(report) => {
            let detail = format!(
                "settlement of {month} computed: {} written, {} unchanged",
                report.saved.written.len(),
                report.saved.unchanged.len()
            );
            let event =
                Event { action: AuditAction::Update, subject_type: "settlement", subject_id: &month.to_string(), client_id: None, detail };
            if let Err(e) = audit::record(&state, &who, event).await {
                return internal(&state, &page, e);
            }
            Redirect::to(&format!("/admin/settlements?month={month}&done=computed")).into_response()
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(e) => {
            let c = page.chrome(&state, "settlement-title");
            render_month(&state, &page, c, month, None, Some(e.problem().detail), e.status()).await
        }
    }
}

async fn export(State(state): State<AppState>, page: Page, WebForm(f): WebForm<MonthForm>) -> Response {
    let who = require_admin!(&state, &page);
    let Ok(month) = f.month.parse::<Month>() else {
        return Redirect::to("/admin/settlements").into_response();
    };
    match store::export_month(&state.db, month, &who.username, &stamp(state.clock.now())).await {
        Ok(batch) => {
            let detail = format!("export batch {}: {} settlements", batch.batch, batch.settlements.len());
            let event =
                Event { action: AuditAction::Export, subject_type: "settlement", subject_id: &month.to_string(), client_id: None, detail };
            if let Err(e) = audit::record(&state, &who, event).await {
                return internal(&state, &page, e);
            }
            Redirect::to(&format!("/admin/settlements?month={month}&done=exported")).into_response()
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(e) => {
            let c = page.chrome(&state, "settlement-title");
            render_month(&state, &page, c, month, None, Some(e.problem().detail), e.status()).await
        }
    }
}

#[derive(Template)]
#[template(path = "settlement_provider.html")]
struct ProviderPage {
    c: Chrome,
    rows: Vec<RowView>,
}

async fn provider_page(State(state): State<AppState>, page: Page) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let PrincipalKind::Provider { provider_id } = &who.kind else {
        return forbidden(&state, &page);
    };
    let list = match state.db.pool.acquire().await {
        Ok(mut c) => store::list(&mut c, None, Some(provider_id), &["approved", "exported"]).await,
        Err(e) => Err(e.into()),
    };
    match list {
        Ok(list) => render(&ProviderPage { c: page.chrome(&state, "settlement-provider-title"), rows: rows(list) }),
        Err(e) => internal(&state, &page, e),
    }
}

/// A line as shown: the client, what was counted and at what rate.
pub struct LineView {
    pub l: Line,
    pub client_name: String,
    pub person_id: String,
    pub service_name: String,
    pub class_name: String,
    pub basis: String,
    pub rate: String,
    pub amount: String,
}

pub struct FlagView {
    pub f: Flag,
    pub client_name: String,
    pub text: String,
    pub excess: Option<String>,
    pub accepted: bool,
}

pub struct AdjustmentView {
    pub a: Adjustment,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "settlement_detail.html")]
struct DetailPage {
    c: Chrome,
    s: Settlement,
    admin: bool,
    lines: Vec<LineView>,
    lines_pager: Pager,
    flags: Vec<FlagView>,
    flags_pager: Pager,
    /// Kept by a flag's accept form, to come back to the same page.
    flags_page: i64,
    adjustments: Vec<AdjustmentView>,
    lines_total: String,
    vat: String,
    vat_rate: String,
    adjustments_total: String,
    total: String,
    earlier: Vec<Settlement>,
    notice: Option<String>,
    error: Option<String>,
    amount_input: String,
    reason_input: String,
}

/// The basis of a line in words: quantity × rate.
fn basis_text(t: &Tr, l: &Line, unit: &str) -> String {
    let q = decimal_comma(l.quantity_num, l.quantity_den);
    let exact = if l.quantity_den == 1 { String::new() } else { format!(" ({}/{})", l.quantity_num, l.quantity_den) };
    let (per, counted) = units_of(&l.time_class);
    let rate = kr(l.rate_ore);
    match (per, counted, l.time_class.as_str()) {
        (_, _, "granted") => format!("{q}{exact} {} × {rate} {}", t.get("settlement-minutes-granted"), t.get("settlement-per-hour")),
        ("hour", _, _) => format!("{q}{exact} {} × {rate} {}", t.get("settlement-minutes"), t.get("settlement-per-hour")),
        ("month", _, _) => format!("{q}{exact} {} × {rate} {}", t.get("settlement-months"), t.get("settlement-per-month")),
        _ => format!("{q} {} × {rate} {}", t.pre("settlement-units-", unit), t.get("settlement-per-unit")),
    }
}

fn flag_text(t: &Tr, f: &Flag) -> String {
    let d = &f.detail;
    let text = |k: &str| d[k].as_str().map(str::to_string).unwrap_or_default();
    let extra = match d["kind"].as_str() {
        Some("date") => text("date"),
        Some("minutes") => format!("{} {}", d["minutes"], t.get("settlement-minutes")),
        Some("rate") => format!("{} {}", text("date"), t.pre("settlement-class-", &text("class"))),
        Some("days") => format!("{} {} {}", d["count"], t.get("settlement-days-from"), text("first")),
        Some("notice") => format!("{} {}", d["minutes"], t.get("settlement-minutes-notice")),
        Some("excess") => match (d["minutes"]["num"].as_i64(), d["minutes"]["den"].as_i64()) {
            (Some(n), Some(dd)) => format!("{} {}", decimal_comma(n, dd), t.get("settlement-minutes")),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let what = t.pre("settlement-flag-", &f.code);
    if extra.is_empty() {
        what
    } else {
        format!("{what}: {extra}")
    }
}

#[derive(Deserialize)]
struct DetailQuery {
    done: Option<String>,
    /// The page of lines and of flags to show (from 1); anything else is the first.
    lines: Option<String>,
    flags: Option<String>,
}

/// Lines and flags shown on one page of a settlement. The largest
/// provider of a Stockholm-sized month has 43 000 lines: on one page that
/// was 12 MB of HTML and more than a second to build, ten times that at
/// national scale. The whole basis is in the CSV statement the page links to.
const ROWS_PER_PAGE: i64 = 500;

/// Which page of lines and of flags a settlement's page shows (from 1).
#[derive(Debug, Clone, Copy, Default)]
struct At {
    lines: i64,
    flags: i64,
}

impl At {
    fn of(q: &DetailQuery) -> At {
        At { lines: wanted(q.lines.as_deref()), flags: wanted(q.flags.as_deref()) }
    }
}

async fn detail_page(State(state): State<AppState>, page: Page, Path(id): Path<String>, Query(q): Query<DetailQuery>) -> Response {
    let c = page.chrome(&state, "settlement-detail-title");
    let notice =
        q.done.as_deref().filter(|d| ["approved", "adjusted", "removed", "accepted"].contains(d)).map(|d| c.t.pre("settlement-done-", d));
    render_detail(&state, &page, c, &id, At::of(&q), notice, None, (String::new(), String::new()), StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn render_detail(
    state: &AppState,
    page: &Page,
    c: Chrome,
    id: &str,
    at: At,
    notice: Option<String>,
    error: Option<String>,
    inputs: (String, String),
    status: StatusCode,
) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let loaded = async {
        let mut conn = state.db.pool.acquire().await?;
        let Some(s) = store::get(&mut conn, id).await? else { return Ok(None) };
        if !may_read(&who, &s) {
            return Ok(None);
        }
        let (lines_at, flags_at) =
            (PageAt::of(at.lines, s.line_count, ROWS_PER_PAGE), PageAt::of(at.flags, s.flag_count, ROWS_PER_PAGE));
        let seqs = |p: PageAt| store::Seqs { first: p.first, last: p.last };
        let (line_seqs, flag_seqs) = (seqs(lines_at), seqs(flags_at));
        let lines = store::lines_between(&mut conn, id, line_seqs).await?;
        let flags = store::flags_between(&mut conn, id, flag_seqs).await?;
        let adjustments = store::adjustments(&mut conn, &s.provider_id, &s.month).await?;
        // The people on this page only: what is shown is what is audited.
        let people = sqlx::query(
            "SELECT id, name, person_id FROM clients WHERE id IN (SELECT client_id FROM settlement_lines WHERE settlement_id = $1 \
             AND seq >= $2 AND seq <= $3 UNION SELECT client_id FROM settlement_flags WHERE settlement_id = $1 AND seq >= $4 AND seq <= $5)",
        )
        .bind(id)
        .bind(line_seqs.first)
        .bind(line_seqs.last)
        .bind(flag_seqs.first)
        .bind(flag_seqs.last)
        .fetch_all(&mut *conn)
        .await?;
        let mut names: HashMap<String, (String, String)> = HashMap::new();
        for r in &people {
            let g = |k: &str| r.try_get::<String, _>(k).map_err(anyhow::Error::from);
            names.insert(g("id")?, (g("name")?, g("person_id")?));
        }
        let services = super::service_infos(&mut conn).await?;
        let earlier = if s.status == "draft" {
            store::list(&mut conn, None, Some(&s.provider_id), &["approved", "exported"])
                .await?
                .into_iter()
                .filter(|e| e.month < s.month)
                .collect()
        } else {
            vec![]
        };
        Ok::<_, ApiError>(Some((s, (lines_at, flags_at), lines, flags, adjustments, names, services, earlier)))
    }
    .await;
    let (s, (lines_at, flags_at), lines, flags, adjustments, names, services, earlier) = match loaded {
        Ok(Some(x)) => x,
        Ok(None) => return crate::web::message_page(state, page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => return internal(state, page, e),
    };
    let mut seen: Vec<String> = names.keys().cloned().collect();
    seen.sort();
    if let Err(e) = audit::record_client_list(state, &who, &seen, &format!("settlement {} {} page", s.month, s.provider_id)).await {
        return internal(state, page, e);
    }
    let t = &c.t;
    let english = t.code() == "en";
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_default();
    let lines: Vec<LineView> = lines
        .into_iter()
        .map(|l| {
            let (client_name, person_id) = name_of(&l.client_id);
            let info = services.get(&l.service_type);
            let service_name =
                info.map(|i| if english { i.name_en.clone() } else { i.name_sv.clone() }).unwrap_or_else(|| l.service_type.clone());
            let unit = info.map(|i| i.unit.clone()).unwrap_or_default();
            LineView {
                client_name,
                person_id,
                service_name,
                class_name: t.pre("settlement-class-", &l.time_class),
                basis: basis_text(t, &l, &unit),
                rate: kr(l.rate_ore),
                amount: kr(l.amount_ore),
                l,
            }
        })
        .collect();
    let accepted: Vec<&str> = adjustments.iter().filter_map(|a| a.source.as_deref()).collect();
    let flags: Vec<FlagView> = flags
        .into_iter()
        .map(|f| FlagView {
            client_name: name_of(&f.client_id).0,
            text: flag_text(t, &f),
            excess: f.excess_ore.map(kr),
            accepted: f.external_id.as_ref().is_some_and(|e| accepted.contains(&format!("excess:{e}").as_str())),
            f,
        })
        .collect();
    let adjustments = adjustments.into_iter().map(|a| AdjustmentView { amount: kr(a.amount_ore), a }).collect();
    let shown = At { lines: lines_at.page, flags: flags_at.page };
    let href = |at: At, anchor: &str| format!("/settlements/{}?lines={}&flags={}#{anchor}", s.id, at.lines, at.flags);
    let lines_pager =
        Pager::new(t, "settlement-lines", lines_at, s.line_count, ROWS_PER_PAGE, |p| href(At { lines: p, ..shown }, "lines-h"));
    let flags_pager =
        Pager::new(t, "settlement-flags", flags_at, s.flag_count, ROWS_PER_PAGE, |p| href(At { flags: p, ..shown }, "flags-h"));
    let p = DetailPage {
        admin: permits(&who, Action::ManageSettlements),
        lines,
        lines_pager,
        flags,
        flags_pager,
        flags_page: shown.flags,
        adjustments,
        lines_total: kr(s.lines_total_ore),
        vat: kr(s.vat_ore),
        vat_rate: s.vat_basis_points.map(|bp| decimal_comma(bp, 100)).unwrap_or_default(),
        adjustments_total: kr(s.adjustments_total_ore),
        total: kr(s.total_ore),
        earlier,
        notice,
        error,
        amount_input: inputs.0,
        reason_input: inputs.1,
        s,
        c,
    };
    (status, render(&p)).into_response()
}

/// After a failed action: the page again, with the error.
async fn detail_error(state: &AppState, page: &Page, id: &str, e: ApiError, inputs: (String, String)) -> Response {
    if let ApiError::Internal(e) = e {
        return internal(state, page, e);
    }
    let c = page.chrome(state, "settlement-detail-title");
    let text = match &e {
        ApiError::Invalid(errs) => errs.iter().map(|x| x.reason.clone()).collect::<Vec<_>>().join("; "),
        other => other.problem().detail,
    };
    render_detail(state, page, c, id, At::default(), None, Some(text), inputs, e.status()).await
}

async fn audit_settlement(state: &AppState, who: &Principal, action: AuditAction, id: &str, detail: String) -> Result<(), ApiError> {
    audit::record(state, who, Event { action, subject_type: "settlement", subject_id: id, client_id: None, detail }).await
}

#[derive(Deserialize)]
struct ApproveForm {
    revision: i64,
}

async fn approve(State(state): State<AppState>, page: Page, Path(id): Path<String>, WebForm(f): WebForm<ApproveForm>) -> Response {
    let who = require_admin!(&state, &page);
    let result = store::approve(&state.db, &id, Some(f.revision), &who.username, &stamp(state.clock.now())).await;
    match result {
        Ok(st) => match audit_settlement(&state, &who, AuditAction::Update, &id, format!("approved; checksum {}", st.checksum)).await {
            Ok(()) => Redirect::to(&format!("/settlements/{id}?done=approved")).into_response(),
            Err(e) => internal(&state, &page, e),
        },
        Err(e) => detail_error(&state, &page, &id, e, Default::default()).await,
    }
}

#[derive(Deserialize)]
struct AdjustmentForm {
    amount: String,
    reason: String,
    #[serde(default)]
    corrects: String,
}

/// Signed kronor as typed: `-150`, `−150,50`, `1 200,00`.
fn parse_signed_kronor(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, rest) = match t.strip_prefix('-').or_else(|| t.strip_prefix('−')) {
        Some(r) => (true, r),
        None => (false, t),
    };
    let ore = crate::setup::web::parse_kronor(rest)?;
    Some(if neg { -ore } else { ore })
}

async fn add_adjustment(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    WebForm(f): WebForm<AdjustmentForm>,
) -> Response {
    let who = require_admin!(&state, &page);
    let inputs = (f.amount.clone(), f.reason.clone());
    let Some(amount_ore) = parse_signed_kronor(&f.amount) else {
        let e = ApiError::field("amount", "invalid_amount", page.chrome(&state, "settlement-title").t.get("settlement-amount-help"));
        return detail_error(&state, &page, &id, e, inputs).await;
    };
    let corrects = Some(f.corrects.trim().to_string()).filter(|c| !c.is_empty());
    let new = NewAdjustment { amount_ore, reason: f.reason, corrects };
    match store::add_adjustment(&state.db, &id, &new, None, &who.username, &stamp(state.clock.now())).await {
        Ok(a) => match audit_settlement(&state, &who, AuditAction::Create, &id, format!("adjustment {} öre: {}", a.amount_ore, a.reason))
            .await
        {
            Ok(()) => Redirect::to(&format!("/settlements/{id}?done=adjusted#adjustments")).into_response(),
            Err(e) => internal(&state, &page, e),
        },
        Err(e) => detail_error(&state, &page, &id, e, inputs).await,
    }
}

async fn delete_adjustment(State(state): State<AppState>, page: Page, Path((id, adj)): Path<(String, String)>) -> Response {
    let who = require_admin!(&state, &page);
    match store::delete_adjustment(&state.db, &id, &adj).await {
        Ok(()) => match audit_settlement(&state, &who, AuditAction::Delete, &id, format!("adjustment {adj} removed")).await {
            Ok(()) => Redirect::to(&format!("/settlements/{id}?done=removed#adjustments")).into_response(),
            Err(e) => internal(&state, &page, e),
        },
        Err(e) => detail_error(&state, &page, &id, e, Default::default()).await,
    }
}

async fn accept_flag(
    State(state): State<AppState>,
    page: Page,
    Path((id, seq)): Path<(String, i64)>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let who = require_admin!(&state, &page);
    let at = At::of(&q);
    match store::accept_excess(&state.db, &id, seq, &who.username, &stamp(state.clock.now())).await {
        Ok(a) => {
            match audit_settlement(&state, &who, AuditAction::Create, &id, format!("excess flag {seq} accepted: {} öre", a.amount_ore))
                .await
            {
                Ok(()) => Redirect::to(&format!("/settlements/{id}?done=accepted&flags={}#adjustments", at.flags)).into_response(),
                Err(e) => internal(&state, &page, e),
            }
        }
        Err(e) => detail_error(&state, &page, &id, e, Default::default()).await,
    }
}

#[derive(Template)]
#[template(path = "settlement_config.html")]
struct ConfigPage {
    c: Chrome,
    fields: Vec<(&'static str, String)>,
    errors: Vec<crate::error::FieldError>,
    saved: bool,
}

fn config_fields(cfg: &SieConfig) -> Vec<(&'static str, String)> {
    let rows = cfg.to_rows();
    SieConfig::KEYS
        .iter()
        .map(|k| (*k, rows.iter().find(|(key, _)| key.strip_prefix("sie.") == Some(k)).map(|(_, v)| v.clone()).unwrap_or_default()))
        .collect()
}

#[derive(Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn config_page(State(state): State<AppState>, page: Page, Query(q): Query<SavedQuery>) -> Response {
    let _who = require_admin!(&state, &page);
    let cfg = match state.db.pool.acquire().await {
        Ok(mut c) => store::config(&mut c).await.map(|rows| SieConfig::from_rows(&rows)),
        Err(e) => Err(e.into()),
    };
    match cfg {
        Ok(cfg) => render(&ConfigPage {
            c: page.chrome(&state, "settlement-config-title"),
            fields: config_fields(&cfg),
            errors: vec![],
            saved: q.saved.is_some(),
        }),
        Err(e) => internal(&state, &page, e),
    }
}

async fn save_config(State(state): State<AppState>, page: Page, WebForm(form): WebForm<HashMap<String, String>>) -> Response {
    let who = require_admin!(&state, &page);
    let rows: Vec<(String, String)> = form.iter().map(|(k, v)| (format!("sie.{k}"), v.trim().to_string())).collect();
    let cfg = SieConfig::from_rows(&rows);
    match super::api::save_config(&state, &who, &cfg).await {
        Ok(()) => Redirect::to("/admin/settlements/config?saved=1").into_response(),
        Err(ApiError::Invalid(errors)) => {
            let c = page.chrome(&state, "settlement-config-title");
            (StatusCode::UNPROCESSABLE_ENTITY, render(&ConfigPage { c, fields: config_fields(&cfg), errors, saved: false })).into_response()
        }
        Err(e) => internal(&state, &page, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kronor_for_people() {
        assert_eq!(kr(0), "0,00");
        assert_eq!(kr(123_456_789), "1\u{202f}234\u{202f}567,89");
        assert_eq!(kr(-500), "−5,00");
        assert_eq!(kr(100_000), "1\u{202f}000,00");
    }

    #[test]
    fn signed_kronor() {
        assert_eq!(parse_signed_kronor("-150"), Some(-15000));
        assert_eq!(parse_signed_kronor("−150,50"), Some(-15050));
        assert_eq!(parse_signed_kronor("1 200,00"), Some(120000));
        assert_eq!(parse_signed_kronor("x"), None);
    }
}
