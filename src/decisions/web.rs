//! The case officer's decision pages: a decision with its history, the
//! forms to change and end it, the new-decision form handler (the form sits
//! on the client page), and the IVO report. Plain forms; no JavaScript.

use super::{DecisionChange, DecisionEnd, NewDecision, ServiceGrant};
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{permits, Action};
use crate::auth::Principal;
use crate::error::{ApiError, FieldError};
use crate::setup::model::ServiceType;
use crate::web::i18n::{Lang, Tr};
use crate::web::{forbidden, internal, message_page, render, Chrome, Page, WebForm};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients/{id}/decisions", post(create_decision))
        .route("/decisions/{id}", get(decision_page))
        .route("/decisions/{id}/change", post(change_decision))
        .route("/decisions/{id}/end", post(end_decision))
        .route("/reports/unexecuted-decisions", get(report_page))
}

/// Field errors of a form, translated, keyed by the id of the input they belong to.
#[derive(Default, Clone)]
pub struct FormErrors(pub Vec<(String, String)>);

impl FormErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    /// Errors not tied to a field the form shows (e.g. a conflict).
    pub fn general(&self) -> Vec<&str> {
        self.0.iter().filter(|(f, _)| f == "form").map(|(_, m)| m.as_str()).collect()
    }
}

/// The message for an error code in the reader's language, or the API's
/// English reason when there is no translation.
pub fn error_message(t: &Tr, code: &str, reason: &str) -> String {
    prefixed_message(t, "decisions-err-", code, reason)
}

/// As `error_message`, trying `prefix` + code first (a form's own wording).
pub fn prefixed_message(t: &Tr, prefix: &str, code: &str, reason: &str) -> String {
    for key in [format!("{prefix}{code}"), format!("decisions-err-{code}")] {
        let msg = t.get(&key);
        if msg != key {
            return msg;
        }
    }
    reason.to_string()
}

/// Turns an API error into form errors; `field_id` maps an API field name to the form's input id.
pub fn form_errors(t: &Tr, e: &ApiError, field_id: &dyn Fn(&str) -> String) -> FormErrors {
    form_errors_with(t, "decisions-err-", e, field_id)
}

pub fn form_errors_with(t: &Tr, prefix: &str, e: &ApiError, field_id: &dyn Fn(&str) -> String) -> FormErrors {
    let mut out = FormErrors::default();
    match e {
        ApiError::Invalid(errs) => {
            for FieldError { field, code, reason } in errs {
                out.push(field_id(field), prefixed_message(t, prefix, code, reason));
            }
        }
        other => out.push(field_id(""), prefixed_message(t, prefix, other.code(), &other.problem().detail)),
    }
    out
}

/// Hours as people type them: `22`, `22,5`, `22.25`, `1:30`. Returns minutes.
pub fn parse_hours(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some((h, m)) = s.split_once(':') {
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        if m >= 60 || h < 0 || m < 0 || h > 10_000 {
            return None;
        }
        return Some(h * 60 + m);
    }
    let s = s.replace(',', ".");
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    if whole.is_empty()
        || whole.len() > 5
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let hundredths: i64 = whole.parse::<i64>().ok()? * 100 + format!("{frac:0<2}").parse::<i64>().ok()?;
    // Rounded to the nearest minute: 0.01 h is 0.6 min.
    Some((hundredths * 60 + 50) / 100)
}

/// Minutes as hours for a form field: 1350 → "22,5" (Swedish, Norwegian) or "22.5".
pub fn hours_text(lang: Lang, minutes: i64) -> String {
    let whole = minutes / 60;
    let rest = minutes % 60;
    let s = if rest == 0 {
        whole.to_string()
    } else {
        let hundredths = (rest * 100 + 30) / 60;
        let frac = format!("{hundredths:02}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    };
    if lang == Lang::En {
        s
    } else {
        s.replace('.', ",")
    }
}

/// An amount with its unit, for reading: "22,5 tim/mån", "30 portioner/mån".
pub fn amount_text(t: &Tr, amount_unit: &str, amount: i64) -> String {
    match amount_unit {
        "minutes" => t.with("decisions-hours-per-month", "n", &hours_text(t.lang, amount)),
        "months" => t.get("decisions-granted"),
        other => t.with(&format!("decisions-per-month-{other}"), "n", &amount.to_string()),
    }
}

pub fn service_name(t: &Tr, types: &[ServiceType], code: &str) -> String {
    match types.iter().find(|s| s.code == code) {
        Some(s) => match t.lang {
            Lang::Sv => s.name_sv.clone(),
            Lang::En => s.name_en.clone(),
            Lang::Nb => t.pre("group-", &s.group),
        },
        None => code.to_string(),
    }
}

/// One service type's line in a decision form.
#[derive(Clone)]
pub struct ServiceRow {
    pub code: String,
    pub name: String,
    /// hour, portion, visit or month.
    pub unit: String,
    pub amount: String,
    pub double: bool,
}

/// What a decision form shows, including what the user typed after an error.
#[derive(Clone, Default)]
pub struct DecisionForm {
    pub valid_from: String,
    pub valid_to: String,
    pub note: String,
    pub rows: Vec<ServiceRow>,
    pub errors: FormErrors,
    pub expected_version: i64,
}

impl DecisionForm {
    /// The error of one service row's input (`prefix` is `amount_` or `double_`).
    pub fn row_error(&self, prefix: &str, code: &str) -> Option<&str> {
        self.errors.0.iter().find(|(f, _)| f.strip_prefix(prefix) == Some(code)).map(|(_, m)| m.as_str())
    }

    pub fn blank(t: &Tr, types: &[ServiceType]) -> DecisionForm {
        let rows = types
            .iter()
            .map(|s| ServiceRow {
                code: s.code.clone(),
                name: service_name(t, types, &s.code),
                unit: s.unit.clone(),
                amount: String::new(),
                double: false,
            })
            .collect();
        DecisionForm { rows, ..Default::default() }
    }

    /// Prefilled with a version's services, for a change.
    pub fn from_version(t: &Tr, types: &[ServiceType], v: &super::DecisionVersion) -> DecisionForm {
        let mut f = DecisionForm::blank(t, types);
        for row in &mut f.rows {
            if let Some(s) = v.services.iter().find(|s| s.service_type == row.code) {
                row.amount = if row.unit == "hour" { hours_text(t.lang, s.monthly_amount) } else { s.monthly_amount.to_string() };
                row.double = s.double_staffing;
            }
        }
        f.valid_to = v.valid_to.clone().unwrap_or_default();
        f.expected_version = v.version;
        f
    }

    fn from_post(t: &Tr, types: &[ServiceType], form: &HashMap<String, String>) -> DecisionForm {
        let mut f = DecisionForm::blank(t, types);
        let val = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        f.valid_from = val("valid_from");
        f.valid_to = val("valid_to");
        f.note = val("note");
        f.expected_version = val("expected_version").parse().unwrap_or(0);
        for row in &mut f.rows {
            row.amount = val(&format!("amount_{}", row.code));
            row.double = form.contains_key(&format!("double_{}", row.code));
        }
        f
    }

    /// The granted services, in row order, and the row index of each.
    fn grants(&mut self, t: &Tr) -> (Vec<ServiceGrant>, Vec<usize>) {
        let mut grants = Vec::new();
        let mut index = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            if row.amount.is_empty() {
                if row.double {
                    self.errors.push(format!("amount_{}", row.code), t.get("decisions-err-double_without_amount"));
                }
                continue;
            }
            let amount = if row.unit == "hour" { parse_hours(&row.amount) } else { row.amount.parse::<i64>().ok() };
            match amount {
                Some(a) => {
                    grants.push(ServiceGrant { service_type: row.code.clone(), monthly_amount: a, double_staffing: row.double });
                    index.push(i);
                }
                None => {
                    let key = if row.unit == "hour" { "decisions-err-invalid_hours" } else { "decisions-err-invalid_units" };
                    self.errors.push(format!("amount_{}", row.code), t.get(key));
                }
            }
        }
        (grants, index)
    }

    /// Maps an API field (`services[2].monthly_amount`) to this form's input id.
    fn field_id(&self, index: &[usize], field: &str) -> String {
        if let Some(rest) = field.strip_prefix("services[") {
            if let Some((i, what)) = rest.split_once("].") {
                if let Some(row) = i.parse::<usize>().ok().and_then(|i| index.get(i)).and_then(|r| self.rows.get(*r)) {
                    return if what == "double_staffing" { format!("double_{}", row.code) } else { format!("amount_{}", row.code) };
                }
            }
        }
        match field {
            "services" => "services".into(),
            "valid_from" | "valid_to" | "note" => field.into(),
            _ => "form".into(),
        }
    }
}

async fn types(state: &AppState) -> Result<Vec<ServiceType>, ApiError> {
    let mut c = state.db.pool.acquire().await?;
    crate::setup::store::service_types(&mut c).await
}

fn manager(state: &AppState, page: &Page) -> Result<Principal, Box<Response>> {
    let who = page.require_user().map_err(Box::new)?;
    if !permits(who, Action::ManageDecisions) {
        return Err(Box::new(forbidden(state, page)));
    }
    Ok(who.clone())
}

async fn create_decision(
    State(state): State<AppState>,
    page: Page,
    Path(client_id): Path<String>,
    WebForm(form): WebForm<HashMap<String, String>>,
) -> Response {
    let who = match manager(&state, &page) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let t = page.chrome(&state, "decisions-title").t;
    let types = match types(&state).await {
        Ok(t) => t,
        Err(e) => return internal(&state, &page, e),
    };
    let mut f = DecisionForm::from_post(&t, &types, &form);
    let (services, index) = f.grants(&t);
    let result = if f.errors.is_empty() {
        let d = NewDecision { valid_from: f.valid_from.clone(), valid_to: Some(f.valid_to.clone()), services, note: f.note.clone() };
        super::create(&state, &who, &client_id, &d).await
    } else {
        Err(ApiError::Invalid(vec![]))
    };
    match result {
        Ok(d) => {
            let detail = format!("granted from {}", d.start_date);
            if let Err(e) = audit::record(
                &state,
                &who,
                Event { action: AuditAction::Create, subject_type: "decision", subject_id: &d.id, client_id: Some(&client_id), detail },
            )
            .await
            {
                return internal(&state, &page, e);
            }
            Redirect::to(&format!("/clients/{client_id}?saved=decision#decisions")).into_response()
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(ApiError::NotFound(_)) => message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => {
            let status = if f.errors.is_empty() { e.status() } else { StatusCode::UNPROCESSABLE_ENTITY };
            let more = form_errors(&t, &e, &|field| f.field_id(&index, field));
            f.errors.0.extend(more.0);
            crate::clients::web::client_page(&state, &page, &client_id, Some(f), status).await
        }
    }
}

/// Sorted newest first, as the API gives them; what the page shows of a version.
pub struct VersionRow {
    pub v: super::DecisionVersion,
    pub services: Vec<String>,
    pub state: String,
}

#[derive(Template)]
#[template(path = "decisions_show.html")]
struct DecisionPage {
    c: Chrome,
    d: super::Decision,
    client_name: String,
    versions: Vec<VersionRow>,
    form: DecisionForm,
    end_date: String,
    end_reason: String,
    end_errors: FormErrors,
    saved: String,
}

#[derive(Deserialize)]
struct Saved {
    saved: Option<String>,
}

async fn decision_page(State(state): State<AppState>, page: Page, Path(id): Path<String>, Query(q): Query<Saved>) -> Response {
    let saved = q.saved.unwrap_or_default();
    show_decision(&state, &page, &id, None, None, &saved, StatusCode::OK).await
}

async fn show_decision(
    state: &AppState,
    page: &Page,
    id: &str,
    form: Option<DecisionForm>,
    end: Option<(String, String, FormErrors)>,
    saved: &str,
    status: StatusCode,
) -> Response {
    let who = match manager(state, page) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let c = page.chrome(state, "decisions-title");
    let loaded = async {
        let d = super::get(state, id).await?;
        let Some(d) = d else { return Ok(None) };
        let client = crate::clients::get(state, &d.client_id).await?;
        let types = types(state).await?;
        audit::record(
            state,
            &who,
            Event {
                action: AuditAction::Read,
                subject_type: "decision",
                subject_id: &d.id,
                client_id: Some(&d.client_id),
                detail: "decision page".into(),
            },
        )
        .await?;
        Ok::<_, ApiError>(Some((d, client.map(|c| c.name).unwrap_or_default(), types)))
    }
    .await;
    let (d, client_name, types) = match loaded {
        Ok(Some(x)) => x,
        Ok(None) => return message_page(state, page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => return internal(state, page, e),
    };
    let versions = d
        .versions
        .iter()
        .map(|v| VersionRow {
            services: v
                .services
                .iter()
                .map(|s| {
                    let mut txt =
                        format!("{}: {}", service_name(&c.t, &types, &s.service_type), amount_text(&c.t, &s.amount_unit, s.monthly_amount));
                    if s.double_staffing {
                        txt.push_str(&format!(" ({})", c.t.get("decisions-double")));
                    }
                    txt
                })
                .collect(),
            state: c.t.pre("decisions-state-", &v.state),
            v: v.clone(),
        })
        .collect();
    let form = form.unwrap_or_else(|| DecisionForm::from_version(&c.t, &types, &d.current));
    let (end_date, end_reason, end_errors) = end.unwrap_or_default();
    (status, render(&DecisionPage { c, d, client_name, versions, form, end_date, end_reason, end_errors, saved: saved.to_string() }))
        .into_response()
}

async fn change_decision(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    WebForm(form): WebForm<HashMap<String, String>>,
) -> Response {
    let who = match manager(&state, &page) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let t = page.chrome(&state, "decisions-title").t;
    let types = match types(&state).await {
        Ok(t) => t,
        Err(e) => return internal(&state, &page, e),
    };
    let mut f = DecisionForm::from_post(&t, &types, &form);
    let (services, index) = f.grants(&t);
    let result = if f.errors.is_empty() {
        let c = DecisionChange {
            valid_from: f.valid_from.clone(),
            valid_to: Some(f.valid_to.clone()),
            services,
            note: f.note.clone(),
            expected_version: Some(f.expected_version),
        };
        super::change(&state, &who, &id, &c).await
    } else {
        Err(ApiError::Invalid(vec![]))
    };
    match result {
        Ok(d) => {
            let detail = format!("version {} from {}", d.current.version, d.current.valid_from);
            if let Err(e) = audit::record(
                &state,
                &who,
                Event { action: AuditAction::Update, subject_type: "decision", subject_id: &d.id, client_id: Some(&d.client_id), detail },
            )
            .await
            {
                return internal(&state, &page, e);
            }
            Redirect::to(&format!("/decisions/{id}?saved=changed")).into_response()
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(ApiError::NotFound(_)) => message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => {
            let status = if f.errors.is_empty() { e.status() } else { StatusCode::UNPROCESSABLE_ENTITY };
            let more = form_errors(&t, &e, &|field| f.field_id(&index, field));
            f.errors.0.extend(more.0);
            show_decision(&state, &page, &id, Some(f), None, "", status).await
        }
    }
}

#[derive(Deserialize)]
struct EndForm {
    end_date: String,
    reason: String,
}

async fn end_decision(State(state): State<AppState>, page: Page, Path(id): Path<String>, WebForm(form): WebForm<EndForm>) -> Response {
    let who = match manager(&state, &page) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let t = page.chrome(&state, "decisions-title").t;
    match super::end(&state, &who, &id, &DecisionEnd { end_date: form.end_date.clone(), reason: form.reason.clone() }).await {
        Ok(d) => {
            let detail = format!("ended on {}", d.end_date.clone().unwrap_or_default());
            if let Err(e) = audit::record(
                &state,
                &who,
                Event { action: AuditAction::Update, subject_type: "decision", subject_id: &d.id, client_id: Some(&d.client_id), detail },
            )
            .await
            {
                return internal(&state, &page, e);
            }
            Redirect::to(&format!("/decisions/{id}?saved=ended")).into_response()
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(ApiError::NotFound(_)) => message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => {
            let errs =
                form_errors(&t, &e, &|field| if field == "end_date" || field == "reason" { field.to_string() } else { "form".into() });
            show_decision(&state, &page, &id, None, Some((form.end_date, form.reason, errs)), "", e.status()).await
        }
    }
}

pub struct ReportRow {
    pub r: super::UnexecutedDecision,
    pub services: String,
}

#[derive(Template)]
#[template(path = "decisions_report.html")]
struct ReportPage {
    c: Chrome,
    rows: Vec<ReportRow>,
    today: String,
}

async fn report_page(State(state): State<AppState>, page: Page) -> Response {
    let who = match page.require_user() {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !permits(who, Action::ReadUnexecutedReport) {
        return forbidden(&state, &page);
    }
    let c = page.chrome(&state, "decisions-report-title");
    let today = state.today();
    let loaded = async {
        let rows = super::unexecuted(&state, today).await?;
        let types = types(&state).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.client_id.clone()).collect();
        audit::record_client_list(&state, who, &ids, "unexecuted decisions report page").await?;
        Ok::<_, ApiError>((rows, types))
    }
    .await;
    let (rows, types) = match loaded {
        Ok(x) => x,
        Err(e) => return internal(&state, &page, e),
    };
    let rows = rows
        .into_iter()
        .map(|r| ReportRow { services: r.services.iter().map(|s| service_name(&c.t, &types, s)).collect::<Vec<_>>().join(", "), r })
        .collect();
    render(&ReportPage { c, rows, today: today.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_as_people_type_them() {
        assert_eq!(parse_hours("22"), Some(1320));
        assert_eq!(parse_hours("22,5"), Some(1350));
        assert_eq!(parse_hours("0.25"), Some(15));
        assert_eq!(parse_hours("1:30"), Some(90));
        assert_eq!(parse_hours(" 3 "), Some(180));
        assert_eq!(parse_hours("0,01"), Some(1));
        for bad in ["", "abc", "-1", "1,234", "1:75", "12.5.1"] {
            assert_eq!(parse_hours(bad), None, "{bad}");
        }
    }

    #[test]
    fn minutes_read_back_as_hours() {
        assert_eq!(hours_text(Lang::Sv, 1350), "22,5");
        assert_eq!(hours_text(Lang::En, 1350), "22.5");
        assert_eq!(hours_text(Lang::Sv, 1320), "22");
        assert_eq!(hours_text(Lang::Sv, 1335), "22,25");
        assert_eq!(parse_hours(&hours_text(Lang::Sv, 1339)), Some(1339));
    }
}
