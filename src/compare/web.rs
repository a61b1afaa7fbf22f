//! The public comparison pages (no sign-in, no JavaScript): `/compare`, its
//! large-print version `/compare/print` and a provider's profile `/providers/{id}`.

use super::{compare, Comparison, Entry, Request};
use crate::app::AppState;
use crate::contracts::web::{all, errors_of, first, form_pairs, shown, Names, ShownError};
use crate::error::{ApiError, FieldError};
use crate::providers::{PublicProfile, QualityFigure};
use crate::web::i18n::Tr;
use crate::web::{internal, render, Chrome, Page};
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new().route("/compare", get(compare_page)).route("/compare/print", get(print_page)).route("/providers/{id}", get(profile_page))
}

/// A language's name in the reader's language, or its code.
pub fn language_name(t: &Tr, code: &str) -> String {
    let key = format!("compare-language-{code}");
    let name = t.get(&key);
    if name == key {
        code.to_uppercase()
    } else {
        name
    }
}

pub fn speciality_name(t: &Tr, code: &str) -> String {
    let key = format!("compare-speciality-{code}");
    let name = t.get(&key);
    if name == key {
        code.replace('_', " ")
    } else {
        name
    }
}

pub struct QualityView {
    pub label: String,
    pub value: String,
    pub period: String,
}

fn quality(t: &Tr, q: &[QualityFigure]) -> Vec<QualityView> {
    q.iter().map(|f| QualityView { label: t.get(&f.key), value: f.value.clone(), period: f.period.clone() }).collect()
}

pub struct EntryView {
    pub e: Entry,
    pub ownership: String,
    pub languages: String,
    pub specialities: String,
    pub services: String,
    pub areas: String,
    pub quality: Vec<QualityView>,
}

fn entry_view(t: &Tr, names: &Names, e: Entry) -> EntryView {
    EntryView {
        ownership: t.pre("compare-ownership-", &e.ownership),
        languages: e.languages.iter().map(|l| language_name(t, l)).collect::<Vec<_>>().join(", "),
        specialities: e.specialities.iter().map(|s| speciality_name(t, s)).collect::<Vec<_>>().join(", "),
        services: names.services_text(&e.services_here),
        areas: e.areas.join(", "),
        quality: quality(t, &e.quality),
        e,
    }
}

pub struct ResultView {
    pub area_name: String,
    pub postcode: String,
    pub on: String,
    pub services: String,
    pub eligible_count: usize,
    pub entries: Vec<EntryView>,
    pub languages: Vec<(String, String)>,
    pub specialities: Vec<(String, String)>,
    pub order_text: String,
    pub seed: String,
    pub query: String,
    /// The counts as text, for the messages.
    pub shown: String,
    pub eligible: String,
}

fn result_view(t: &Tr, names: &Names, cmp: Comparison, query: String) -> ResultView {
    ResultView {
        area_name: cmp.area_name,
        postcode: cmp.postcode,
        on: cmp.on,
        services: names.services_text(&cmp.services),
        eligible_count: cmp.eligible_count,
        languages: cmp.languages.iter().map(|l| (l.clone(), language_name(t, l))).collect(),
        specialities: cmp.specialities.iter().map(|s| (s.clone(), speciality_name(t, s))).collect(),
        order_text: t.pre("compare-order-text-", &cmp.order),
        seed: cmp.seed,
        shown: cmp.providers.len().to_string(),
        eligible: cmp.eligible_count.to_string(),
        entries: cmp.providers.into_iter().map(|e| entry_view(t, names, e)).collect(),
        query,
    }
}

/// The request as typed in the form; the same query drives the print version.
fn request_of(q: &[(String, String)]) -> Request {
    let services = all(q, "services").into_iter().flat_map(|s| s.split(',').map(str::to_string).collect::<Vec<_>>()).collect();
    Request {
        postcode: first(q, "postcode"),
        services,
        language: Some(first(q, "language")),
        speciality: Some(first(q, "speciality")),
        order: Some(first(q, "order")),
        seed: Some(first(q, "seed")),
    }
}

/// The query string that reproduces a comparison (with its seed, so the
/// order stays the same).
fn query_of(r: &Request, seed: &str) -> String {
    let mut parts = vec![format!("postcode={}", urlencoding::encode(&r.postcode))];
    for s in &r.services {
        parts.push(format!("services={}", urlencoding::encode(s)));
    }
    for (k, v) in [("language", &r.language), ("speciality", &r.speciality), ("order", &r.order)] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", urlencoding::encode(v)));
        }
    }
    parts.push(format!("seed={}", urlencoding::encode(seed)));
    parts.join("&")
}

#[derive(Template)]
#[template(path = "compare_page.html")]
struct ComparePage {
    c: Chrome,
    postcode: String,
    services: Vec<(String, String, bool)>,
    language: String,
    speciality: String,
    order: String,
    /// A postcode of the municipality, as an example in the help text.
    example: String,
    /// The area of a postcode given without services yet.
    area_name: Option<String>,
    errors: Vec<ShownError>,
    result: Option<ResultView>,
}

impl ComparePage {
    fn has_error(&self, field: &str) -> bool {
        let id = format!("f-{field}");
        self.errors.iter().any(|e| e.anchor == id)
    }

    fn error_for(&self, field: &str) -> String {
        let id = format!("f-{field}");
        self.errors.iter().filter(|e| e.anchor == id).map(|e| e.text.clone()).collect::<Vec<_>>().join(" ")
    }
}

/// Error texts of the comparison are the page's own.
fn compare_errors(t: &Tr, errs: &[FieldError]) -> Vec<ShownError> {
    let mut out = shown(t, errs);
    for (s, e) in out.iter_mut().zip(errs) {
        let key = format!("compare-error-{}", e.code);
        let msg = t.get(&key);
        if msg != key {
            s.text = msg;
        }
    }
    out
}

async fn compare_page(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let q = form_pairs(raw.as_deref().unwrap_or(""));
    let c = page.chrome(&state, "compare-title");
    let names = match Names::load(&state, &c.t).await {
        Ok(n) => n,
        Err(e) => return internal(&state, &page, e),
    };
    let r = request_of(&q);
    let asked = q.iter().any(|(k, _)| k == "postcode");
    // A postcode without services (a link from elsewhere) is not yet a
    // question: check the postcode and ask for the services.
    let mut area_name = None;
    let (result, errors, status) = if asked && r.services.iter().all(|s| s.trim().is_empty()) {
        match super::area_of(&state, &r.postcode).await {
            Ok((_, _, name)) => {
                area_name = Some(name);
                (None, vec![], StatusCode::OK)
            }
            Err(ApiError::Internal(e)) => return internal(&state, &page, e),
            Err(e) => (None, compare_errors(&c.t, &errors_of(&e)), e.status()),
        }
    } else if asked {
        match compare(&state, &r).await {
            Ok(cmp) => {
                let query = query_of(&r, &cmp.seed);
                (Some(result_view(&c.t, &names, cmp, query)), vec![], StatusCode::OK)
            }
            Err(ApiError::Internal(e)) => return internal(&state, &page, e),
            Err(e) => (None, compare_errors(&c.t, &errors_of(&e)), e.status()),
        }
    } else {
        (None, vec![], StatusCode::OK)
    };
    let services = names.services.iter().map(|(code, name)| (code.clone(), name.clone(), r.services.contains(code))).collect();
    let example: String = sqlx::query_scalar("SELECT MIN(postcode) FROM area_postcodes")
        .fetch_one(&state.db.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "831 30".into());
    let p = ComparePage {
        postcode: r.postcode.clone(),
        services,
        language: r.language.clone().unwrap_or_default(),
        speciality: r.speciality.clone().unwrap_or_default(),
        order: r.order.clone().filter(|o| o == "name").unwrap_or_else(|| "random".into()),
        example,
        area_name,
        errors,
        result,
        c,
    };
    (status, render(&p)).into_response()
}

#[derive(Template)]
#[template(path = "compare_print.html")]
struct PrintPage {
    c: Chrome,
    municipality: String,
    r: ResultView,
}

async fn print_page(State(state): State<AppState>, page: Page, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let q = form_pairs(&raw);
    let c = page.chrome(&state, "compare-print-title");
    let names = match Names::load(&state, &c.t).await {
        Ok(n) => n,
        Err(e) => return internal(&state, &page, e),
    };
    let r = request_of(&q);
    match compare(&state, &r).await {
        Ok(cmp) => {
            let municipality = match state.db.pool.acquire().await {
                Ok(mut conn) => crate::setup::store::municipality(&mut conn).await.ok().flatten().map(|m| m.name).unwrap_or_default(),
                Err(_) => String::new(),
            };
            let query = query_of(&r, &cmp.seed);
            let r = result_view(&c.t, &names, cmp, query);
            render(&PrintPage { c, municipality, r })
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        // The form shows what was wrong.
        Err(_) => Redirect::to(&format!("/compare?{raw}")).into_response(),
    }
}

pub struct AreaView {
    pub name: String,
    pub services: String,
}

#[derive(Template)]
#[template(path = "compare_provider.html")]
struct ProfilePage {
    c: Chrome,
    p: PublicProfile,
    ownership: String,
    languages: String,
    specialities: String,
    services: String,
    areas: Vec<AreaView>,
    quality: Vec<QualityView>,
}

async fn profile_page(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let p = match crate::providers::public_profile(&state, &id).await {
        Ok(Some(p)) => p,
        Ok(None) => return crate::web::message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => return internal(&state, &page, e),
    };
    let c = page.chrome(&state, "compare-profile-title");
    let c = Chrome { title: p.provider.name.clone(), ..c };
    let names = match Names::load(&state, &c.t).await {
        Ok(n) => n,
        Err(e) => return internal(&state, &page, e),
    };
    let t = &c.t;
    let view = ProfilePage {
        ownership: t.pre("compare-ownership-", &p.provider.ownership),
        languages: p.provider.languages.iter().map(|l| language_name(t, l)).collect::<Vec<_>>().join(", "),
        specialities: p.provider.specialities.iter().map(|s| speciality_name(t, s)).collect::<Vec<_>>().join(", "),
        services: names.services_text(&p.services),
        areas: p
            .areas
            .iter()
            .map(|a| AreaView {
                name: a.name.clone(),
                services: if a.services.is_empty() { t.get("compare-no-new-clients") } else { names.services_text(&a.services) },
            })
            .collect(),
        quality: quality(t, &p.quality),
        p,
        c,
    };
    render(&view)
}
