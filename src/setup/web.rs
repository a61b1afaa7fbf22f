//! The admin's setup page: areas, service types, choice systems and rates
//! with their history, and a form to add a rate version.

use super::model::{check_rate, Rate, SetupDocument};
use super::store;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{permits, Action};
use crate::clock::stamp;
use crate::error::{ApiError, FieldError, Fields};
use crate::web::{forbidden, internal, render, Chrome, Page, WebForm};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use valfri_core::Money;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/setup", get(setup_page)).route("/admin/setup/rates", post(add_rate))
}

pub struct RateRow {
    pub rate: Rate,
    pub amount: String,
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "admin_setup.html")]
struct SetupPage {
    c: Chrome,
    doc: Option<SetupDocument>,
    rates: Vec<RateRow>,
    errors: Vec<FieldError>,
    saved: bool,
}

#[derive(Deserialize)]
struct Saved {
    saved: Option<String>,
}

async fn setup_page(State(state): State<AppState>, page: Page, Query(q): Query<Saved>) -> Response {
    render_setup(&state, &page, vec![], q.saved.is_some(), StatusCode::OK).await
}

async fn render_setup(state: &AppState, page: &Page, errors: Vec<FieldError>, saved: bool, status: StatusCode) -> Response {
    let who = match page.require_user() {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !permits(who, Action::ChangeSetup) {
        return forbidden(state, page);
    }
    let doc = match state.db.pool.acquire().await {
        Ok(mut c) => match store::load(&mut c).await {
            Ok(d) => d,
            Err(e) => return internal(state, page, e),
        },
        Err(e) => return internal(state, page, e),
    };
    let today = state.today().to_string();
    let rates = doc.as_ref().map(|d| rate_rows(&d.rates, &today)).unwrap_or_default();
    let c = page.chrome(state, "setup-title");
    (status, render(&SetupPage { c, doc, rates, errors, saved })).into_response()
}

/// Marks each version as in force, history or upcoming on `today`.
fn rate_rows(rates: &[Rate], today: &str) -> Vec<RateRow> {
    let in_force = super::api::in_force(rates.to_vec(), today);
    rates
        .iter()
        .map(|r| {
            let status = if r.valid_from.as_str() > today {
                "rate-future"
            } else if in_force.contains(r) {
                "rate-in-force"
            } else {
                "rate-history"
            };
            RateRow { rate: r.clone(), amount: Money::from_ore(r.amount_ore).to_string(), status }
        })
        .collect()
}

/// Kronor as typed by a person: `426`, `426,5`, `426.50`, `1 234,00`.
pub fn parse_kronor(s: &str) -> Option<i64> {
    let s: String = s.chars().filter(|c| !c.is_whitespace() && *c != '\u{a0}').collect();
    let s = s.replace(',', ".");
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    if whole.is_empty()
        || whole.len() > 9
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let ore_frac: i64 = format!("{frac:0<2}").parse().ok()?;
    Some(whole.parse::<i64>().ok()? * 100 + ore_frac)
}

#[derive(Deserialize)]
struct RateForm {
    service_type: String,
    zone: String,
    time_class: String,
    valid_from: String,
    amount: String,
}

async fn add_rate(State(state): State<AppState>, page: Page, WebForm(form): WebForm<RateForm>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    if !permits(&who, Action::ChangeSetup) {
        return forbidden(&state, &page);
    }
    let mut f = Fields::new();
    let amount = parse_kronor(&form.amount);
    if amount.is_none() {
        f.push("amount", "invalid_amount", "an amount in kronor, e.g. 426,50");
    }
    let rate = Rate {
        service_type: form.service_type,
        zone: form.zone,
        time_class: form.time_class,
        valid_from: form.valid_from,
        amount_ore: amount.unwrap_or(0),
    };
    check_rate(&mut f, "", &rate);
    if !f.is_empty() {
        return render_setup(&state, &page, f.into_vec(), false, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let result = async {
        let mut c = state.db.pool.acquire().await?;
        let services = store::service_types(&mut c).await?;
        let basis = services.iter().find(|s| s.code == rate.service_type).map(|s| s.basis.clone()).unwrap_or_default();
        if !super::model::classes_for_basis(&basis).contains(&rate.time_class.as_str()) {
            return Err(ApiError::field(
                "time_class",
                "wrong_time_class",
                format!("a {basis} service has rates of class {}", super::model::classes_for_basis(&basis).join(", ")),
            ));
        }
        if store::add_rate(&mut c, &rate, &who.username, &stamp(state.clock.now())).await? == store::Versioned::AlreadyThere {
            return Err(ApiError::conflict("version_exists", "this rate version already exists"));
        }
        audit::record(
            &state,
            &who,
            Event {
                action: AuditAction::Update,
                subject_type: "rate",
                subject_id: &format!("{}/{}/{}", rate.service_type, rate.zone, rate.time_class),
                client_id: None,
                detail: format!("{} öre from {}", rate.amount_ore, rate.valid_from),
            },
        )
        .await
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/admin/setup?saved=1#rates").into_response(),
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(e) => {
            let errors = match &e {
                ApiError::Invalid(errs) => errs.clone(),
                other => vec![FieldError { field: "rate".into(), code: other.code().into(), reason: other.problem().detail }],
            };
            render_setup(&state, &page, errors, false, e.status()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_kronor;

    #[test]
    fn kronor_as_people_type_them() {
        assert_eq!(parse_kronor("426"), Some(42600));
        assert_eq!(parse_kronor("426,5"), Some(42650));
        assert_eq!(parse_kronor("426.05"), Some(42605));
        assert_eq!(parse_kronor("1 234,00"), Some(123400));
        assert_eq!(parse_kronor("12,345"), None);
        assert_eq!(parse_kronor("-5"), None);
        assert_eq!(parse_kronor(""), None);
        assert_eq!(parse_kronor("abc"), None);
    }
}
