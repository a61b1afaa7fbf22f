//! The server-rendered web UI: plain HTML forms that work without
//! JavaScript, Swedish by default. Each domain keeps its own pages in its
//! module (`setup::web`, …); this module holds what they share: the page
//! chrome, sign-in, language choice and error pages.

pub mod i18n;
pub mod pager;

use crate::app::AppState;
use crate::auth::{self, Principal, PrincipalKind};
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use i18n::{Lang, Tr};
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub const LANG_COOKIE: &str = "valfri_lang";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::render))
        .route("/static/valfri.css", get(css))
        .merge(crate::setup::web::routes())
        .merge(crate::audit::web::routes())
        .merge(crate::settlement::web::routes())
        .merge(crate::visits::web::routes())
        .merge(crate::contracts::web::routes())
        .merge(crate::compare::web::routes())
        .merge(crate::clients::web::routes())
        .merge(crate::decisions::web::routes())
        .merge(crate::assignments::web::routes())
        .merge(crate::choices::web::routes())
        .fallback(not_found)
}

/// What every page needs: the translator, the signed-in user and the path
/// (for the language links).
pub struct Chrome {
    pub t: Tr,
    pub user: Option<Principal>,
    pub path: String,
    pub title: String,
}

impl Chrome {
    pub fn is_admin(&self) -> bool {
        matches!(self.user.as_ref().map(|u| &u.kind), Some(PrincipalKind::Admin))
    }

    /// Admin or case officer: the municipality's own staff.
    pub fn is_municipal(&self) -> bool {
        matches!(self.user.as_ref().map(|u| &u.kind), Some(PrincipalKind::Admin | PrincipalKind::CaseOfficer))
    }

    pub fn is_provider(&self) -> bool {
        matches!(self.user.as_ref().map(|u| &u.kind), Some(PrincipalKind::Provider { .. }))
    }

    pub fn is_citizen(&self) -> bool {
        matches!(self.user.as_ref().map(|u| &u.kind), Some(PrincipalKind::Citizen { .. }))
    }

    /// This page in language `code`.
    pub fn lang_href(&self, code: &str) -> String {
        let join = if self.path.contains('?') { '&' } else { '?' };
        format!("{}{join}lang={code}", self.path)
    }

    pub fn languages(&self) -> Vec<(&'static str, &'static str)> {
        Lang::ALL.iter().map(|l| (l.code(), l.endonym())).collect()
    }
}

/// The request's language: `?lang=xx` (remembered in a cookie by
/// `security_headers`), else the cookie, else Swedish.
pub struct ReqLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ReqLang(lang_of(parts)))
    }
}

fn query_lang(query: Option<&str>) -> Option<Lang> {
    query?.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "lang").and_then(|(_, v)| Lang::parse(v))
}

fn lang_of(parts: &Parts) -> Lang {
    query_lang(parts.uri.query()).or_else(|| auth::cookie(parts, LANG_COOKIE).and_then(|v| Lang::parse(&v))).unwrap_or(Lang::Sv)
}

/// A page request: language, address and the user if signed in.
pub struct Page {
    pub lang: Lang,
    /// The page to come back to (after signing in, in another language):
    /// this one with its query, or for a form post the page the form was on.
    pub path: String,
    pub user: Option<Principal>,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = match auth::request_token(parts) {
            Some(t) => {
                auth::principal_for_token(state, &t).await.map_err(|_| error_page(state, Lang::Sv, StatusCode::INTERNAL_SERVER_ERROR))?
            }
            None => None,
        };
        Ok(Page { lang: lang_of(parts), path: here(parts), user })
    }
}

impl Page {
    pub fn chrome(&self, state: &AppState, title_key: &str) -> Chrome {
        let t = Tr::new(state.i18n.clone(), self.lang);
        Chrome { title: t.get(title_key), t, user: self.user.clone(), path: self.path.clone() }
    }

    /// The signed-in user, or a redirect to the sign-in page that comes back here.
    // The error is the finished page to send; it is returned once per request.
    #[allow(clippy::result_large_err)]
    pub fn require_user(&self) -> Result<&Principal, Response> {
        self.user.as_ref().ok_or_else(|| Redirect::to(&format!("/login?next={}", urlencoding::encode(&self.path))).into_response())
    }
}

pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// A body over the size limit is refused before any handler runs, with
/// plain English text: an API caller gets a problem body like every other
/// error, a person a page in their language saying what to do.
pub async fn too_large(State(state): State<AppState>, req: Request, next: axum::middleware::Next) -> Response {
    let (method, uri, headers) = (req.method().clone(), req.uri().clone(), req.headers().clone());
    let res = next.run(req).await;
    let plain = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_none_or(|ct| ct.starts_with("text/plain"));
    if res.status() != StatusCode::PAYLOAD_TOO_LARGE || !plain {
        return res;
    }
    let mb = crate::app::MAX_REQUEST_BYTES / 1024 / 1024;
    if uri.path().starts_with("/api/") {
        return crate::api::problem_response(StatusCode::PAYLOAD_TOO_LARGE, format!("a request body is at most {mb} MiB"));
    }
    let mut parts = axum::http::Request::new(()).into_parts().0;
    (parts.method, parts.uri, parts.headers) = (method, uri, headers);
    unreadable_form_page(&state, &mut parts, StatusCode::PAYLOAD_TOO_LARGE, |t| t.with("upload-too-large", "mb", &mb.to_string())).await
}

/// The page for a post whose body cannot be used: what went wrong, in the
/// user's language, and the way back to the form.
async fn unreadable_form_page(state: &AppState, parts: &mut Parts, status: StatusCode, message: impl FnOnce(&Tr) -> String) -> Response {
    let page = match Page::from_request_parts(parts, state).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let c = page.chrome(state, "form-bad-title");
    let message = message(&c.t);
    let back = same_site_referer(parts);
    (status, render(&MessagePage { c, message, back })).into_response()
}

/// The largest form body a page accepts. Forms are a few fields; uploads
/// are multipart and have their own limits.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// A posted form, like axum's `Form`, but what cannot be read is answered
/// with a page in the user's language naming the field (axum's answer is
/// English plain text), and control characters other than tab and line
/// breaks are refused. No form field has a use for them, and NUL in
/// particular is refused by PostgreSQL and stored by SQLite: refusing it here
/// makes both databases answer alike.
pub struct WebForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for WebForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let problem = match read_form(&parts, body).await {
            Ok(form) => return Ok(WebForm(form)),
            Err(problem) => problem,
        };
        let status = match problem {
            FormProblem::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FormProblem::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            FormProblem::Character(_) | FormProblem::Value(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let message = |t: &Tr| match &problem {
            FormProblem::NotAForm => t.get("form-bad-not-a-form"),
            FormProblem::TooLarge => t.get("form-bad-too-large"),
            FormProblem::Character(field) => t.with("form-bad-character", "field", field),
            FormProblem::Value(field) => t.with("form-bad-value", "field", field),
        };
        Err(unreadable_form_page(state, &mut parts, status, message).await)
    }
}

/// The address of the page being shown, without `lang=`: the request's for
/// a GET, the form's page (`Referer`, on this site) for a post, whose own
/// address cannot be opened.
fn here(parts: &Parts) -> String {
    let address = match parts.method {
        Method::GET | Method::HEAD => None,
        _ => same_site_referer(parts),
    }
    .unwrap_or_else(|| parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_string());
    let (path, query) = address.split_once('?').unwrap_or((&address, ""));
    let kept: Vec<&str> = query.split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("lang=")).collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// The path (and query) of the page the form was on, from the `Referer`
/// header when it names this site: the way back to the form.
fn same_site_referer(parts: &Parts) -> Option<String> {
    let host = parts.headers.get(header::HOST)?.to_str().ok()?;
    let referer = parts.headers.get(header::REFERER)?.to_str().ok()?;
    let rest = referer.split_once("://")?.1.strip_prefix(host)?;
    // The same test as the sign-in's `next`: a path here, not `//elsewhere`.
    Some(safe_next(Some(rest))).filter(|p| p == rest)
}

enum FormProblem {
    NotAForm,
    TooLarge,
    /// A field holds a control character.
    Character(String),
    /// A field is missing or cannot be read as what the page expects.
    Value(String),
}

async fn read_form<T: DeserializeOwned>(parts: &Parts, body: axum::body::Body) -> Result<T, FormProblem> {
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(FormProblem::NotAForm);
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| FormProblem::TooLarge)?;
    for (name, value) in form_urlencoded::parse(&bytes) {
        if value.chars().chain(name.chars()).any(|ch| ch.is_control() && !matches!(ch, '\t' | '\n' | '\r')) {
            return Err(FormProblem::Character(crate::visits::printable(&name, 100)));
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        // A missing field is named only in serde's message, not its path.
        let missing = e.inner().to_string().strip_prefix("missing field `").and_then(|r| r.split('`').next()).map(str::to_owned);
        FormProblem::Value(crate::visits::printable(missing.as_deref().unwrap_or(&path), 100))
    })
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    c: Chrome,
    message: String,
    /// The page to go back to, when there is one to name.
    back: Option<String>,
}

pub fn message_page(state: &AppState, page: &Page, status: StatusCode, title_key: &str, text_key: &str) -> Response {
    let c = page.chrome(state, title_key);
    let message = c.t.get(text_key);
    (status, render(&MessagePage { c, message, back: None })).into_response()
}

pub fn forbidden(state: &AppState, page: &Page) -> Response {
    message_page(state, page, StatusCode::FORBIDDEN, "forbidden-title", "forbidden-text")
}

fn error_page(state: &AppState, lang: Lang, status: StatusCode) -> Response {
    let page = Page { lang, path: "/".into(), user: None };
    message_page(state, &page, status, "error-title", "error-text")
}

/// For page handlers: an internal error becomes the error page.
pub fn internal(state: &AppState, page: &Page, e: impl std::fmt::Debug) -> Response {
    tracing::error!(error = ?e, "page failed");
    message_page(state, page, StatusCode::INTERNAL_SERVER_ERROR, "error-title", "error-text")
}

async fn not_found(State(state): State<AppState>, page: Page) -> Response {
    message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text")
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    municipality: Option<String>,
}

async fn home(State(state): State<AppState>, page: Page) -> Response {
    let municipality = match state.db.pool.acquire().await {
        Ok(mut c) => crate::setup::store::municipality(&mut c).await.ok().flatten().map(|m| m.name),
        Err(_) => None,
    };
    render(&HomePage { c: page.chrome(&state, "home-title"), municipality })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    failed: bool,
    next: String,
    username: String,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only same-site paths, so the sign-in form cannot be used to send users elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

async fn login_page(State(state): State<AppState>, page: Page, Query(q): Query<NextQuery>) -> Response {
    render(&LoginPage { c: page.chrome(&state, "login-title"), failed: false, next: safe_next(q.next.as_deref()), username: String::new() })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(State(state): State<AppState>, page: Page, WebForm(f): WebForm<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let user_id = match auth::verify_credentials(&state, &f.username, &f.password).await {
        Ok(u) => u,
        Err(e) => return internal(&state, &page, e),
    };
    let Some(user_id) = user_id else {
        let _ = crate::audit::record_as(
            &state,
            None,
            &f.username,
            "anonymous",
            crate::audit::Event {
                action: crate::audit::AuditAction::SignInFailed,
                subject_type: "user",
                subject_id: &f.username,
                client_id: None,
                detail: "web sign-in refused".into(),
            },
        )
        .await;
        let c = page.chrome(&state, "login-title");
        return (StatusCode::UNAUTHORIZED, render(&LoginPage { c, failed: true, next, username: f.username })).into_response();
    };
    let (token, _) = match auth::start_session(&state, &user_id, "web").await {
        Ok(t) => t,
        Err(e) => return internal(&state, &page, e),
    };
    let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Lax", auth::SESSION_COOKIE);
    let mut res = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn logout(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == auth::SESSION_COOKIE)
        .map(|(_, v)| v.to_string());
    if let Some(t) = token {
        let _ = auth::end_session(&state, &t).await;
    }
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static("valfri_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"));
    res
}

async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&state.db.pool).await {
        Ok(_) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok"}))).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "database unavailable"}))).into_response(),
    }
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/valfri.css"),
    )
        .into_response()
}

/// Security headers on every response; a cross-site form post is refused
/// (SameSite=Lax already keeps the session cookie off it; this is the
/// belt to those braces); and `?lang=xx` is remembered in a cookie.
pub async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let cross_site_post = req.method() != Method::GET && req.method() != Method::HEAD && {
        let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
        match (origin, host) {
            (Some(o), Some(h)) => o != "null" && o.split("://").nth(1) != Some(h),
            _ => false,
        }
    };
    if cross_site_post {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    let remember = query_lang(req.uri().query());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    if let Some(l) = remember {
        if let Ok(v) = HeaderValue::from_str(&format!("{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000", l.code())) {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}
