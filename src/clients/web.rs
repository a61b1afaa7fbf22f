//! The case officer's client pages: search, register, and the client page
//! with decisions, assignments and the way to choose on the client's behalf.

use super::{Client, NewClient};
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{permits, Action};
use crate::decisions::web::{amount_text, form_errors_with, service_name, DecisionForm, FormErrors};
use crate::error::ApiError;
use crate::web::{forbidden, internal, message_page, render, Chrome, Page, WebForm};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients", get(list_page))
        .route("/clients/new", get(new_page).post(register))
        .route("/clients/{id}", get(show_page))
}

/// Languages offered in the form; any other ISO 639-1 code can be typed via the API.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("sv", "Svenska"),
    ("fi", "Suomi"),
    ("se", "Davvisámegiella"),
    ("nb", "Norsk"),
    ("en", "English"),
    ("ar", "العربية"),
    ("fa", "فارسی"),
    ("so", "Soomaali"),
    ("ti", "ትግርኛ"),
    ("bs", "Bosanski"),
    ("pl", "Polski"),
    ("de", "Deutsch"),
    ("es", "Español"),
];

fn municipal(state: &AppState, page: &Page) -> Result<crate::auth::Principal, Box<Response>> {
    let who = page.require_user().map_err(Box::new)?;
    if !permits(who, Action::ManageClients) {
        return Err(Box::new(forbidden(state, page)));
    }
    Ok(who.clone())
}

#[derive(Template)]
#[template(path = "clients_list.html")]
struct ListPage {
    c: Chrome,
    q: String,
    clients: Vec<Client>,
    searched: bool,
    /// More match than are shown.
    more: bool,
}

/// Matches shown for one search: enough to find a person by a part of the
/// name, number or address, few enough to read.
const SEARCH_SHOWN: usize = 100;

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
}

async fn list_page(State(state): State<AppState>, page: Page, Query(s): Query<Search>) -> Response {
    let who = match municipal(&state, &page) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let q = s.q.unwrap_or_default().trim().to_string();
    // The list is shown only after a search, so a page view neither reads
    // nor logs any client: what is logged is what was shown.
    let searched = !q.is_empty();
    let (clients, more) = if searched {
        let loaded = async {
            let pattern = format!("%{}%", q.to_lowercase());
            let rows = sqlx::query(&format!(
                "SELECT {} FROM clients WHERE LOWER(name) LIKE $1 OR person_id LIKE $1 OR LOWER(address) LIKE $1 ORDER BY name, id LIMIT $2",
                super::CLIENT_COLUMNS
            ))
            .bind(&pattern)
            // One more than is shown says whether there are more.
            .bind(SEARCH_SHOWN as i64 + 1)
            .fetch_all(&state.db.pool)
            .await?;
            let more = rows.len() > SEARCH_SHOWN;
            let clients: Vec<Client> = rows.iter().take(SEARCH_SHOWN).map(super::from_row).collect::<Result<_, _>>()?;
            let ids: Vec<String> = clients.iter().map(|c| c.id.clone()).collect();
            audit::record_client_list(&state, &who, &ids, "client search page").await?;
            Ok::<_, ApiError>((clients, more))
        }
        .await;
        match loaded {
            Ok(x) => x,
            Err(e) => return internal(&state, &page, e),
        }
    } else {
        (vec![], false)
    };
    render(&ListPage { c: page.chrome(&state, "clients-title"), q, clients, searched, more })
}

#[derive(Deserialize, Default, Clone)]
pub struct RegisterForm {
    #[serde(default)]
    person_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    postcode: String,
    #[serde(default)]
    preferred_language: String,
    #[serde(default)]
    protected_identity: Option<String>,
    #[serde(default)]
    representative: String,
}

#[derive(Template)]
#[template(path = "clients_new.html")]
struct NewPage {
    c: Chrome,
    f: RegisterForm,
    errors: FormErrors,
    languages: &'static [(&'static str, &'static str)],
}

async fn new_page(State(state): State<AppState>, page: Page) -> Response {
    if let Err(r) = municipal(&state, &page) {
        return *r;
    }
    let f = RegisterForm { preferred_language: "sv".into(), ..Default::default() };
    render(&NewPage { c: page.chrome(&state, "clients-new-title"), f, errors: FormErrors::default(), languages: LANGUAGES })
}

async fn register(State(state): State<AppState>, page: Page, WebForm(f): WebForm<RegisterForm>) -> Response {
    let who = match municipal(&state, &page) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let new = NewClient {
        person_id: f.person_id.clone(),
        name: f.name.clone(),
        address: f.address.clone(),
        postcode: f.postcode.clone(),
        preferred_language: f.preferred_language.clone(),
        protected_identity: f.protected_identity.is_some(),
        representative: f.representative.clone(),
    };
    match super::create(&state, &new).await {
        Ok(client) => {
            let event = Event {
                action: AuditAction::Create,
                subject_type: "client",
                subject_id: &client.id,
                client_id: Some(&client.id),
                detail: "registered on the web".into(),
            };
            if let Err(e) = audit::record(&state, &who, event).await {
                return internal(&state, &page, e);
            }
            Redirect::to(&format!("/clients/{}?saved=client", client.id)).into_response()
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(e) => {
            let c = page.chrome(&state, "clients-new-title");
            let errors = form_errors_with(&c.t, "clients-err-", &e, &|field| {
                if ["person_id", "name", "address", "postcode", "preferred_language", "representative"].contains(&field) {
                    field.to_string()
                } else if e.code() == "client_exists" {
                    "person_id".into()
                } else {
                    "form".into()
                }
            });
            (e.status(), render(&NewPage { c, f, errors, languages: LANGUAGES })).into_response()
        }
    }
}

pub struct DecisionRow {
    pub d: crate::decisions::Decision,
    pub services: Vec<String>,
    pub status: String,
}

pub struct AssignmentRow {
    pub a: crate::assignments::Assignment,
    pub service: String,
    pub amount: String,
    pub notice: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "clients_show.html")]
struct ShowPage {
    c: Chrome,
    client: Client,
    area_name: String,
    language: String,
    decisions: Vec<DecisionRow>,
    assignments: Vec<AssignmentRow>,
    form: DecisionForm,
    saved: String,
}

#[derive(Deserialize)]
struct Saved {
    saved: Option<String>,
}

async fn show_page(State(state): State<AppState>, page: Page, Path(id): Path<String>, Query(q): Query<Saved>) -> Response {
    render_client(&state, &page, &id, None, StatusCode::OK, &q.saved.unwrap_or_default()).await
}

/// The client page; `form` carries a new-decision form with errors.
pub async fn client_page(state: &AppState, page: &Page, id: &str, form: Option<DecisionForm>, status: StatusCode) -> Response {
    render_client(state, page, id, form, status, "").await
}

async fn render_client(state: &AppState, page: &Page, id: &str, form: Option<DecisionForm>, status: StatusCode, saved: &str) -> Response {
    let who = match municipal(state, page) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let c = page.chrome(state, "clients-title");
    let loaded = async {
        let Some(client) = super::get(state, id).await? else { return Ok(None) };
        let decisions = crate::decisions::for_client(state, id).await?;
        let filter = crate::assignments::AssignmentFilter { client_id: Some(id.to_string()), limit: Some(200), ..Default::default() };
        let assignments = crate::assignments::list(state, &who, &filter).await?;
        let mut conn = state.db.pool.acquire().await?;
        let types = crate::setup::store::service_types(&mut conn).await?;
        let area = crate::setup::store::areas(&mut conn)
            .await?
            .into_iter()
            .find(|a| a.code == client.area_code)
            .map(|a| a.name)
            .unwrap_or_default();
        audit::record(
            state,
            &who,
            Event { action: AuditAction::Read, subject_type: "client", subject_id: id, client_id: Some(id), detail: "client page".into() },
        )
        .await?;
        Ok::<_, ApiError>(Some((client, decisions, assignments, types, area)))
    }
    .await;
    let (client, decisions, assignments, types, area_name) = match loaded {
        Ok(Some(x)) => x,
        Ok(None) => return message_page(state, page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => return internal(state, page, e),
    };
    let decisions = decisions
        .into_iter()
        .map(|d| DecisionRow {
            services: d
                .current
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
            status: c.t.pre("decisions-status-", &d.status),
            d,
        })
        .collect();
    let assignments = assignments
        .into_iter()
        .map(|a| AssignmentRow {
            service: service_name(&c.t, &types, &a.service_type),
            amount: amount_text(&c.t, &a.amount_unit, a.monthly_amount),
            notice: c.t.pre("assignments-notice-", &a.notice),
            status: c.t.pre("assignments-status-", &a.status),
            a,
        })
        .collect();
    let language = LANGUAGES
        .iter()
        .find(|(code, _)| *code == client.preferred_language)
        .map(|(_, n)| n.to_string())
        .unwrap_or(client.preferred_language.clone());
    let form = form.unwrap_or_else(|| DecisionForm::blank(&c.t, &types));
    (status, render(&ShowPage { c, client, area_name, language, decisions, assignments, form, saved: saved.to_string() })).into_response()
}
