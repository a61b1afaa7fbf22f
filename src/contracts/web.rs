//! The contracts pages: a provider registers and applies (answers and
//! evidence in one form that works without JavaScript), the municipality
//! reviews requirement by requirement and decides, and both follow the
//! contract's history. Area closures have their own admin page.

use super::*;
use crate::error::FieldError;
use crate::web::i18n::Tr;
use crate::web::{forbidden, internal, render, Chrome, Page};
use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contracts", get(list_page))
        .route("/contracts/register", get(register_page).post(register_submit))
        .route("/contracts/apply", get(apply_page).post(apply_submit))
        .route("/contracts/areas", get(areas_page).post(areas_submit))
        .route("/contracts/areas/{id}/reopen", post(reopen_submit))
        .route("/contracts/{id}", get(detail_page))
        .route("/contracts/{id}/evidence", post(evidence_submit))
        .route("/contracts/{id}/evidence/{eid}", get(evidence_download))
        .route("/contracts/{id}/verdict", post(verdict_submit))
        .route("/contracts/{id}/approve", post(approve_submit))
        .route("/contracts/{id}/transition", post(transition_submit))
        .route("/contracts/{id}/capacity", post(capacity_submit))
        .route("/contracts/{id}/intake", post(intake_submit))
        .route("/contracts/{id}/coverage", post(coverage_submit))
        // An application carries a file per requirement, each up to 5 MB.
        .layer(DefaultBodyLimit::max(60 * 1024 * 1024))
}

// ---------------------------------------------------------------- shared bits

/// `application/x-www-form-urlencoded` (or a query string) as pairs; unlike
/// axum's `Form` it keeps repeated keys (checkbox groups).
pub fn form_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| urlencoding::decode(&s.replace('+', " ")).map(|c| c.into_owned()).unwrap_or_default();
            (dec(k), dec(v))
        })
        .collect()
}

pub fn first(pairs: &[(String, String)], key: &str) -> String {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

pub fn all(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).filter(|v| !v.is_empty()).collect()
}

/// A translated message for an error code, falling back to the server's reason.
pub fn error_text(t: &Tr, code: &str, reason: &str) -> String {
    let key = format!("contracts-error-{code}");
    let msg = t.get(&key);
    if msg == key {
        reason.to_string()
    } else {
        msg
    }
}

/// An error as shown on a page: a link target (the field's id) and a message.
pub struct ShownError {
    pub field: String,
    pub anchor: String,
    pub text: String,
}

fn field_id(field: &str) -> String {
    let id: String = field.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("f-{}", id.trim_matches('-'))
}

pub fn shown(t: &Tr, errors: &[FieldError]) -> Vec<ShownError> {
    errors
        .iter()
        .map(|e| {
            // Indexed fields (services[2]) point at their group.
            let base = e.field.split('[').next().unwrap_or(&e.field);
            ShownError { field: e.field.clone(), anchor: field_id(base), text: error_text(t, &e.code, &e.reason) }
        })
        .collect()
}

pub fn errors_of(e: &ApiError) -> Vec<FieldError> {
    match e {
        ApiError::Invalid(errs) => errs.clone(),
        other => vec![FieldError { field: "form".into(), code: other.code().into(), reason: other.problem().detail }],
    }
}

/// Localised names of services, areas and statuses for one page.
pub struct Names {
    pub services: Vec<(String, String)>,
    pub areas: Vec<(String, String)>,
}

impl Names {
    pub async fn load(state: &AppState, t: &Tr) -> ApiResult<Names> {
        let mut c = state.db.pool.acquire().await?;
        let services = crate::setup::store::service_types(&mut c)
            .await?
            .into_iter()
            .map(|s| {
                let name = if t.code() == "en" { s.name_en } else { s.name_sv };
                (s.code, name)
            })
            .collect();
        let areas = crate::setup::store::areas(&mut c).await?.into_iter().map(|a| (a.code, a.name)).collect();
        Ok(Names { services, areas })
    }

    pub fn service(&self, code: &str) -> String {
        self.services.iter().find(|(c, _)| c == code).map(|(_, n)| n.clone()).unwrap_or_else(|| code.to_string())
    }

    pub fn area(&self, code: &str) -> String {
        self.areas.iter().find(|(c, _)| c == code).map(|(_, n)| n.clone()).unwrap_or_else(|| code.to_string())
    }

    pub fn services_text(&self, codes: &[String]) -> String {
        codes.iter().map(|c| self.service(c)).collect::<Vec<_>>().join(", ")
    }

    pub fn areas_text(&self, codes: &[String]) -> String {
        codes.iter().map(|c| self.area(c)).collect::<Vec<_>>().join(", ")
    }
}

pub fn capacity_label(t: &Tr, c: &Capacity) -> String {
    match (c.unit.as_str(), c.amount) {
        ("hours", Some(n)) => t.with("contracts-capacity-hours-n", "n", &n.to_string()),
        ("clients", Some(n)) => t.with("contracts-capacity-clients-n", "n", &n.to_string()),
        _ => t.get("contracts-capacity-none"),
    }
}

fn with_cookie(mut res: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
    /// How many clients were handed over to a new choice.
    handed: Option<usize>,
}

// ---------------------------------------------------------------- list

pub struct Row {
    pub id: String,
    pub provider: String,
    pub status: Status,
    pub applied_at: String,
    pub period: String,
    pub services: String,
    pub areas: String,
}

#[derive(Template)]
#[template(path = "contracts_list.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    status: String,
    statuses: Vec<Status>,
    is_provider: bool,
    can_apply: bool,
    may_close_areas: bool,
    profile_url: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListQ {
    status: Option<String>,
    done: Option<String>,
}

async fn list_page(State(state): State<AppState>, page: Page, Query(q): Query<ListQ>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let is_provider = matches!(who.kind, PrincipalKind::Provider { .. });
    if !permits(&who, Action::ReadContracts) {
        return forbidden(&state, &page);
    }
    let status = q.status.clone().filter(|s| Status::parse(s).is_some()).unwrap_or_default();
    let lq = ListQuery { status: Some(status.clone()), provider_id: None };
    let contracts = match list(&state, &who, &lq).await {
        Ok(c) => c,
        Err(e) => return internal(&state, &page, e),
    };
    let c = page.chrome(&state, "contracts-title");
    let names = match Names::load(&state, &c.t).await {
        Ok(n) => n,
        Err(e) => return internal(&state, &page, e),
    };
    let today = state.today().to_string();
    let rows = contracts
        .iter()
        .map(|k| {
            let (services, areas) = if k.status.in_force() || k.status == Status::Terminated {
                (Contract::covered(&k.services, &today), Contract::covered(&k.areas, &today))
            } else {
                (k.applied.services.clone(), k.applied.areas.clone())
            };
            Row {
                id: k.id.clone(),
                provider: k.provider_name.clone(),
                status: k.status,
                applied_at: k.applied_at.get(..10).unwrap_or_default().to_string(),
                period: match (&k.start_date, &k.end_date) {
                    (Some(s), Some(e)) => format!("{s} – {e}"),
                    (Some(s), None) => format!("{s} –"),
                    _ => String::new(),
                },
                services: names.services_text(&services),
                areas: names.areas_text(&areas),
            }
        })
        .collect();
    let open = contracts.iter().any(|k| !matches!(k.status, Status::Rejected | Status::Terminated));
    let profile_url = match &who.kind {
        PrincipalKind::Provider { provider_id } => Some(format!("/providers/{provider_id}")),
        _ => None,
    };
    render(&ListPage {
        c,
        rows,
        status,
        statuses: Status::ALL.to_vec(),
        can_apply: is_provider && !open,
        is_provider,
        may_close_areas: permits(&who, Action::CloseAreas),
        profile_url,
        done: q.done,
    })
}

// ---------------------------------------------------------------- registration

#[derive(Template)]
#[template(path = "contracts_register.html")]
struct RegisterPage {
    c: Chrome,
    v: Vec<(String, String)>,
    errors: Vec<ShownError>,
    specialities: Vec<&'static str>,
}

impl RegisterPage {
    fn val(&self, key: &str) -> String {
        first(&self.v, key)
    }

    fn checked(&self, key: &str, value: &str) -> bool {
        self.v.iter().any(|(k, v)| k == key && v == value)
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.anchor == field_id(field))
    }
}

pub const SPECIALITIES: &[&str] = &["dementia", "palliative", "diabetes", "stroke", "parkinson", "mental_health"];

async fn register_page(State(state): State<AppState>, page: Page) -> Response {
    let c = page.chrome(&state, "contracts-register-title");
    render(&RegisterPage { c, v: vec![("ownership".into(), "private".into())], errors: vec![], specialities: SPECIALITIES.to_vec() })
}

async fn register_submit(State(state): State<AppState>, page: Page, body: String) -> Response {
    let v = form_pairs(&body);
    let languages: Vec<String> =
        first(&v, "languages").split([',', ' ']).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
    let r = Registration {
        provider: crate::providers::NewProvider {
            name: first(&v, "name"),
            org_nr: first(&v, "org_nr"),
            ownership: first(&v, "ownership"),
            owner_name: first(&v, "owner_name"),
            description: first(&v, "description"),
            languages,
            specialities: all(&v, "specialities"),
            phone: first(&v, "phone"),
            email: first(&v, "email"),
            website: first(&v, "website"),
            vat_compensation: None,
        },
        username: first(&v, "username"),
        display_name: first(&v, "name"),
        password: first(&v, "password"),
    };
    match register(&state, &r).await {
        Ok(reg) => {
            let (token, _) = match crate::auth::start_session(&state, &reg.user_id, "web").await {
                Ok(t) => t,
                Err(e) => return internal(&state, &page, e),
            };
            let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Lax", crate::auth::SESSION_COOKIE);
            with_cookie(Redirect::to("/contracts/apply?registered=1").into_response(), &cookie)
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(e) => {
            let c = page.chrome(&state, "contracts-register-title");
            let mut errs = errors_of(&e);
            for fe in &mut errs {
                fe.field = fe.field.trim_start_matches("provider.").to_string();
            }
            let errors = shown(&c.t, &errs);
            let v: Vec<_> = v.into_iter().filter(|(k, _)| k != "password").collect();
            (e.status(), render(&RegisterPage { c, v, errors, specialities: SPECIALITIES.to_vec() })).into_response()
        }
    }
}

// ---------------------------------------------------------------- applying

pub struct RequirementView {
    pub code: String,
    pub text: String,
    pub answer: String,
    pub answer_id: String,
    pub file_id: String,
}

#[derive(Template)]
#[template(path = "contracts_apply.html")]
struct ApplyPage {
    c: Chrome,
    systems: Vec<(String, String)>,
    system: Option<ChoiceSystem>,
    conditions_from: String,
    requirements: Vec<RequirementView>,
    services: Vec<(String, String, bool)>,
    areas: Vec<(String, String, bool)>,
    capacity_unit: String,
    capacity_amount: String,
    errors: Vec<ShownError>,
    registered: bool,
}

impl ApplyPage {
    fn unit_is(&self, u: &str) -> bool {
        self.capacity_unit == u
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.anchor == field_id(field))
    }

    fn error_for(&self, field: &str) -> String {
        self.errors.iter().filter(|e| e.anchor == field_id(field)).map(|e| e.text.clone()).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Deserialize, Default)]
struct ApplyQ {
    system: Option<String>,
    registered: Option<String>,
}

/// What the form held when it is shown again.
#[derive(Default)]
struct ApplyForm {
    system: String,
    answers: Vec<(String, String)>,
    services: Vec<String>,
    areas: Vec<String>,
    capacity_unit: String,
    capacity_amount: String,
}

async fn render_apply(
    state: &AppState,
    page: &Page,
    form: ApplyForm,
    errors: Vec<FieldError>,
    registered: bool,
    status: StatusCode,
) -> Response {
    let c = page.chrome(state, "contracts-apply-title");
    let data = async {
        let mut conn = state.db.pool.acquire().await?;
        let systems = crate::setup::store::choice_systems(&mut conn).await?;
        let names = Names::load(state, &c.t).await?;
        ApiResult::Ok((systems, names))
    }
    .await;
    let (systems, names) = match data {
        Ok(x) => x,
        Err(e) => return internal(state, page, e),
    };
    let system = systems.iter().find(|s| s.id == form.system).or(systems.first()).cloned();
    let today = state.today().to_string();
    let conditions = system.as_ref().and_then(|s| conditions_on(s, &today).cloned());
    let requirements = conditions
        .as_ref()
        .map(|k| {
            k.requirements
                .iter()
                .map(|r| RequirementView {
                    code: r.code.clone(),
                    text: r.text.clone(),
                    answer: form.answers.iter().find(|(c, _)| *c == r.code).map(|(_, a)| a.clone()).unwrap_or_default(),
                    answer_id: field_id(&format!("answers.{}", r.code)),
                    file_id: field_id(&format!("files.{}", r.code)),
                })
                .collect()
        })
        .unwrap_or_default();
    let services = system
        .as_ref()
        .map(|s| s.services.iter().map(|x| (x.clone(), names.service(x), form.services.contains(x))).collect())
        .unwrap_or_default();
    let areas =
        system.as_ref().map(|s| s.areas.iter().map(|x| (x.clone(), names.area(x), form.areas.contains(x))).collect()).unwrap_or_default();
    let errors = shown(&c.t, &errors);
    let page_data = ApplyPage {
        systems: systems.iter().map(|s| (s.id.clone(), s.name.clone())).collect(),
        conditions_from: conditions.map(|k| k.valid_from).unwrap_or_default(),
        system,
        requirements,
        services,
        areas,
        capacity_unit: if form.capacity_unit.is_empty() { "none".into() } else { form.capacity_unit },
        capacity_amount: form.capacity_amount,
        errors,
        registered,
        c,
    };
    (status, render(&page_data)).into_response()
}

#[allow(clippy::result_large_err)]
fn provider_only(state: &AppState, page: &Page) -> Result<Principal, Response> {
    let who = page.require_user()?.clone();
    if !matches!(who.kind, PrincipalKind::Provider { .. }) {
        return Err(forbidden(state, page));
    }
    Ok(who)
}

async fn apply_page(State(state): State<AppState>, page: Page, Query(q): Query<ApplyQ>) -> Response {
    if let Err(r) = provider_only(&state, &page) {
        return r;
    }
    let form = ApplyForm { system: q.system.unwrap_or_default(), ..Default::default() };
    render_apply(&state, &page, form, vec![], q.registered.is_some(), StatusCode::OK).await
}

async fn apply_submit(State(state): State<AppState>, page: Page, mut mp: Multipart) -> Response {
    let who = match provider_only(&state, &page) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let mut form = ApplyForm::default();
    let mut uploads: Vec<Upload> = Vec::new();
    let mut errors: Vec<FieldError> = Vec::new();
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                errors.push(FieldError { field: "form".into(), code: "invalid_multipart".into(), reason: e.body_text() });
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if let Some(code) = name.strip_prefix("file.") {
            let filename = field.file_name().unwrap_or_default().to_string();
            match super::api::read_limited(&mut field, &name).await {
                // A file input left empty still sends an empty part.
                Ok(bytes) if bytes.is_empty() && filename.is_empty() => {}
                Ok(bytes) => uploads.push((code.to_string(), filename, bytes)),
                Err(e) => errors.extend(errors_of(&e)),
            }
            continue;
        }
        let text = field.text().await.unwrap_or_default();
        match name.as_str() {
            "choice_system_id" => form.system = text,
            "services" => form.services.push(text),
            "areas" => form.areas.push(text),
            "capacity_unit" => form.capacity_unit = text,
            "capacity_amount" => form.capacity_amount = text.trim().to_string(),
            n => {
                if let Some(code) = n.strip_prefix("answer.") {
                    form.answers.push((code.to_string(), text));
                }
            }
        }
    }
    if !errors.is_empty() {
        return render_apply(&state, &page, form, errors, false, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let amount = if form.capacity_amount.is_empty() { None } else { form.capacity_amount.parse::<i64>().ok().or(Some(-1)) };
    let unit = if form.capacity_unit.is_empty() { "none".to_string() } else { form.capacity_unit.clone() };
    let input = NewApplication {
        choice_system_id: form.system.clone(),
        provider_id: None,
        services: form.services.clone(),
        areas: form.areas.clone(),
        capacity: Capacity { amount: if unit == "none" { None } else { amount }, unit },
        answers: form.answers.iter().map(|(c, a)| AnswerInput { requirement_code: c.clone(), answer: a.clone() }).collect(),
    };
    match apply(&state, &who, &input, &uploads).await {
        Ok(k) => Redirect::to(&format!("/contracts/{}?done=applied", k.id)).into_response(),
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(e) => {
            let errors = errors_of(&e).into_iter().map(|mut fe| {
                fe.field = fe.field.replace("capacity.", "capacity_");
                fe
            });
            render_apply(&state, &page, form, errors.collect(), false, e.status()).await
        }
    }
}

// ---------------------------------------------------------------- detail

pub struct EventView {
    pub at: String,
    pub actor: String,
    pub what: String,
    pub detail: String,
    pub reason: String,
}

pub struct AnswerView {
    pub a: Answer,
    pub verdict_label: String,
    /// Ids of this answer's verdict note and evidence file inputs.
    pub verdict_id: String,
    pub evidence_id: String,
}

#[derive(Template)]
#[template(path = "contracts_detail.html")]
struct DetailPage {
    c: Chrome,
    k: Contract,
    system_name: String,
    answers: Option<Vec<AnswerView>>,
    events: Vec<EventView>,
    services_now: String,
    areas_now: String,
    capacity_now: String,
    capacity_history: Vec<(String, String)>,
    intake_history: Vec<(String, bool, String)>,
    applied_services: String,
    applied_areas: String,
    applied_capacity: String,
    /// Admin: the forms to decide.
    decide: bool,
    /// The provider itself or admin: capacity and intake.
    manage: bool,
    /// The provider itself: add evidence.
    upload: bool,
    next: Vec<Status>,
    all_services: Vec<(String, String, bool)>,
    all_areas: Vec<(String, String, bool)>,
    capacity_rule: String,
    today: String,
    tomorrow: String,
    /// Coverage today, and what else the choice system has: (code, name).
    areas_covered: Vec<(String, String)>,
    services_covered: Vec<(String, String)>,
    areas_other: Vec<(String, String)>,
    services_other: Vec<(String, String)>,
    handed: Option<String>,
    errors: Vec<ShownError>,
    done: Option<String>,
}

impl DetailPage {
    fn unit_today_is(&self, u: &str) -> bool {
        self.k.capacity_today.unit == u
    }

    fn unit_applied_is(&self, u: &str) -> bool {
        self.k.applied.capacity.unit == u
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.anchor == field_id(field))
    }

    /// The id of a field in the form that moves the contract to `to`.
    fn tid(&self, to: &Status, field: &str) -> String {
        field_id(&format!("to_{}_{field}", to.as_str()))
    }

    fn has_to_error(&self, to: &Status, field: &str) -> bool {
        let id = self.tid(to, field);
        self.errors.iter().any(|e| e.anchor == id)
    }
}

async fn render_detail(state: &AppState, page: &Page, id: &str, errors: Vec<FieldError>, done: Done, status: StatusCode) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let d = match detail(state, &who, id).await {
        Ok(d) => d,
        Err(ApiError::NotFound(_)) => {
            return crate::web::message_page(state, page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text")
        }
        Err(e) => return internal(state, page, e),
    };
    let c = page.chrome(state, "contracts-detail-title");
    let c = Chrome { title: format!("{} – {}", d.contract.provider_name, c.t.pre("contracts-status-", d.contract.status.as_str())), ..c };
    let data = async {
        let names = Names::load(state, &c.t).await?;
        let mut conn = state.db.pool.acquire().await?;
        let cs = choice_system(&mut conn, &d.contract.choice_system_id).await?;
        ApiResult::Ok((names, cs))
    }
    .await;
    let (names, cs) = match data {
        Ok(x) => x,
        Err(e) => return internal(state, page, e),
    };
    let t = &c.t;
    let today = state.today().to_string();
    let k = d.contract;
    let events = d
        .events
        .iter()
        .map(|e| EventView {
            at: e.at.replace('T', " ").trim_end_matches('Z').to_string(),
            actor: e.actor.clone(),
            what: match (&e.from_status, &e.to_status) {
                (_, Some(to)) => {
                    let to = t.pre("contracts-status-", to);
                    match &e.from_status {
                        Some(from) => format!("{} → {to}", t.pre("contracts-status-", from)),
                        None => to,
                    }
                }
                _ => t.pre("contracts-event-", &e.kind),
            },
            detail: e.detail.clone(),
            reason: e.reason.clone(),
        })
        .collect();
    let answers = d.answers.map(|list| {
        list.into_iter()
            .map(|a| AnswerView {
                verdict_label: t.pre("contracts-verdict-", &a.verdict),
                verdict_id: field_id(&format!("verdict-{}", a.requirement_code)),
                evidence_id: field_id(&format!("evidence-{}", a.requirement_code)),
                a,
            })
            .collect()
    });
    let decide = permits(&who, Action::DecideContracts);
    let own = matches!(&who.kind, PrincipalKind::Provider { provider_id } if *provider_id == k.provider_id);
    let manage = (own || permits(&who, Action::ManageIntake) && !matches!(who.kind, PrincipalKind::Provider { .. })) && k.status.in_force();
    let change_day = cs.as_ref().and_then(|s| conditions_on(s, &today)).map(|c| c.capacity_change_day).unwrap_or(15);
    let capacity_rule = t.with("contracts-capacity-rule", "day", &change_day.to_string());
    let pairs = |codes: Vec<String>, name: &dyn Fn(&str) -> String| codes.into_iter().map(|c| (c.clone(), name(&c))).collect::<Vec<_>>();
    let covered_a = Contract::covered(&k.areas, &today);
    let covered_s = Contract::covered(&k.services, &today);
    let other_a: Vec<String> =
        cs.as_ref().map(|s| s.areas.iter().filter(|a| !covered_a.contains(a)).cloned().collect()).unwrap_or_default();
    let other_s: Vec<String> =
        cs.as_ref().map(|s| s.services.iter().filter(|a| !covered_s.contains(a)).cloned().collect()).unwrap_or_default();
    let area_name = |c: &str| names.area(c);
    let service_name = |c: &str| names.service(c);
    let tomorrow = state.today().checked_add(1.day()).map(|d| d.to_string()).unwrap_or_default();
    let (all_services, all_areas) = match &cs {
        Some(s) => (
            s.services.iter().map(|x| (x.clone(), names.service(x), k.applied.services.contains(x))).collect(),
            s.areas.iter().map(|x| (x.clone(), names.area(x), k.applied.areas.contains(x))).collect(),
        ),
        None => (vec![], vec![]),
    };
    let page_data = DetailPage {
        system_name: cs.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| k.choice_system_id.clone()),
        answers,
        events,
        services_now: names.services_text(&Contract::covered(&k.services, &today)),
        areas_now: names.areas_text(&Contract::covered(&k.areas, &today)),
        capacity_now: capacity_label(t, &k.capacity_today),
        capacity_history: k.capacity.iter().map(|v| (v.valid_from.clone(), capacity_label(t, &v.capacity))).collect(),
        intake_history: k.intake.iter().map(|v| (v.valid_from.clone(), v.open, v.reason.clone())).collect(),
        applied_services: names.services_text(&k.applied.services),
        applied_areas: names.areas_text(&k.applied.areas),
        applied_capacity: capacity_label(t, &k.applied.capacity),
        decide,
        manage,
        upload: own && k.status.open_for_evidence(),
        next: if decide { k.status.next() } else { vec![] },
        all_services,
        all_areas,
        capacity_rule,
        today,
        tomorrow,
        areas_covered: pairs(covered_a, &area_name),
        services_covered: pairs(covered_s, &service_name),
        areas_other: pairs(other_a, &area_name),
        services_other: pairs(other_s, &service_name),
        handed: done.handed.map(|n| t.with("contracts-handed-over", "n", &n.to_string())),
        errors: shown(t, &errors),
        done: done.done,
        k,
        c,
    };
    (status, render(&page_data)).into_response()
}

async fn detail_page(State(state): State<AppState>, page: Page, Path(id): Path<String>, Query(q): Query<Done>) -> Response {
    render_detail(&state, &page, &id, vec![], q, StatusCode::OK).await
}

/// After a form: back to the contract with a note, or the page with the errors.
async fn after(state: &AppState, page: &Page, id: &str, r: ApiResult<()>, done: &str) -> Response {
    after_with(state, page, id, r.map(|_| None), done).await
}

/// Like `after`, with the number of clients handed over to a new choice.
async fn after_with(state: &AppState, page: &Page, id: &str, r: ApiResult<Option<usize>>, done: &str) -> Response {
    match r {
        Ok(None) => Redirect::to(&format!("/contracts/{id}?done={done}")).into_response(),
        Ok(Some(n)) => Redirect::to(&format!("/contracts/{id}?done={done}&handed={n}")).into_response(),
        Err(ApiError::Internal(e)) => internal(state, page, e),
        Err(ApiError::NotFound(_)) => crate::web::message_page(state, page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(ApiError::Forbidden(_)) => forbidden(state, page),
        Err(e) => render_detail(state, page, id, errors_of(&e), Done::default(), e.status()).await,
    }
}

async fn evidence_submit(State(state): State<AppState>, page: Page, Path(id): Path<String>, mut mp: Multipart) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let mut code = String::new();
    let r = async {
        let mut file = None;
        while let Some(mut field) = mp.next_field().await.map_err(|e| ApiError::field("file", "invalid_multipart", e.body_text()))? {
            match field.name() {
                Some("requirement_code") => code = field.text().await.unwrap_or_default(),
                Some("file") => {
                    let name = field.file_name().unwrap_or_default().to_string();
                    file = Some((name, super::api::read_limited(&mut field, "file").await?));
                }
                _ => {}
            }
        }
        match file {
            Some((name, bytes)) if !(bytes.is_empty() && name.is_empty()) => {
                add_evidence(&state, &who, &id, &code, &name, &bytes).await.map(|_| ())
            }
            _ => Err(ApiError::field("file", "required", "attach a file")),
        }
    }
    .await;
    let r = r.map_err(|e| match e {
        ApiError::Invalid(errs) => ApiError::Invalid(
            errs.into_iter()
                .map(|mut fe| {
                    // A code the page never offered (a tampered form) has
                    // no form to point at: the page's general message.
                    fe.field = if fe.field == "requirement_code" { "form".into() } else { format!("evidence-{code}") };
                    fe
                })
                .collect(),
        ),
        other => other,
    });
    after(&state, &page, &id, r, "evidence").await
}

async fn evidence_download(State(state): State<AppState>, page: Page, Path((id, eid)): Path<(String, String)>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    match evidence_file(&state, &who, &id, &eid).await {
        Ok((meta, bytes)) => super::api::evidence_response(&meta, bytes),
        Err(ApiError::NotFound(_)) => crate::web::message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => internal(&state, &page, e),
    }
}

async fn verdict_submit(State(state): State<AppState>, page: Page, Path(id): Path<String>, body: String) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let v = form_pairs(&body);
    let code = first(&v, "requirement_code");
    let input = VerdictInput { verdict: first(&v, "verdict"), note: first(&v, "note") };
    let r = review_answer(&state, &who, &id, &code, &input).await.map(|_| ());
    let r = r.map_err(|e| match e {
        // Name the requirement in the field so the message lands at its form.
        ApiError::Invalid(errs) => ApiError::Invalid(
            errs.into_iter()
                .map(|mut fe| {
                    fe.field = format!("verdict-{code}");
                    fe
                })
                .collect(),
        ),
        other => other,
    });
    after(&state, &page, &id, r, "verdict").await
}

async fn approve_submit(State(state): State<AppState>, page: Page, Path(id): Path<String>, body: String) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let v = form_pairs(&body);
    let unit = first(&v, "capacity_unit");
    let amount = first(&v, "capacity_amount");
    let amount = if amount.trim().is_empty() || unit == "none" { None } else { Some(amount.trim().parse::<i64>().unwrap_or(-1)) };
    let a = Approval {
        start_date: first(&v, "start_date"),
        end_date: Some(first(&v, "end_date")).filter(|s| !s.is_empty()),
        services: Some(all(&v, "services")),
        areas: Some(all(&v, "areas")),
        capacity: Some(Capacity { unit: if unit.is_empty() { "none".into() } else { unit }, amount }),
        reason: first(&v, "reason"),
    };
    let r = approve(&state, &who, &id, &a).await.map(|_| ()).map_err(|e| match e {
        ApiError::Invalid(errs) => ApiError::Invalid(
            errs.into_iter()
                .map(|mut fe| {
                    fe.field = format!("approve_{}", fe.field.replace("capacity.", "capacity_"));
                    fe
                })
                .collect(),
        ),
        other => other,
    });
    after(&state, &page, &id, r, "approved").await
}

async fn transition_submit(State(state): State<AppState>, page: Page, Path(id): Path<String>, body: String) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let v = form_pairs(&body);
    let to = first(&v, "to");
    let t = TransitionInput { to: to.clone(), reason: first(&v, "reason"), date: Some(first(&v, "date")).filter(|s| !s.is_empty()) };
    let r = transition(&state, &who, &id, &t).await.map(|o| (t.to == "terminated").then_some(o.handed_over.len())).map_err(|e| match e {
        ApiError::Invalid(errs) => ApiError::Invalid(
            errs.into_iter()
                .map(|mut fe| {
                    fe.field = format!("to_{to}_{}", fe.field);
                    fe
                })
                .collect(),
        ),
        other => other,
    });
    after_with(&state, &page, &id, r, &format!("to_{to}")).await
}

async fn capacity_submit(State(state): State<AppState>, page: Page, Path(id): Path<String>, body: String) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let v = form_pairs(&body);
    let unit = first(&v, "unit");
    let amount = first(&v, "amount");
    let amount = if amount.trim().is_empty() || unit == "none" { None } else { Some(amount.trim().parse::<i64>().unwrap_or(-1)) };
    let r = report_capacity(&state, &who, &id, &Capacity { unit, amount }).await.map(|_| ()).map_err(|e| match e {
        ApiError::Invalid(errs) => ApiError::Invalid(
            errs.into_iter()
                .map(|mut fe| {
                    fe.field = format!("cap_{}", fe.field);
                    fe
                })
                .collect(),
        ),
        other => other,
    });
    after(&state, &page, &id, r, "capacity").await
}

async fn intake_submit(State(state): State<AppState>, page: Page, Path(id): Path<String>, body: String) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let v = form_pairs(&body);
    let i = IntakeInput {
        open: first(&v, "open") == "1",
        from: Some(first(&v, "from")).filter(|s| !s.is_empty()),
        reason: first(&v, "reason"),
    };
    let r = set_intake(&state, &who, &id, &i).await.map(|_| ()).map_err(|e| match e {
        ApiError::Invalid(errs) => ApiError::Invalid(
            errs.into_iter()
                .map(|mut fe| {
                    fe.field = format!("intake_{}", fe.field);
                    fe
                })
                .collect(),
        ),
        other => other,
    });
    after(&state, &page, &id, r, "intake").await
}

async fn coverage_submit(State(state): State<AppState>, page: Page, Path(id): Path<String>, body: String) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let v = form_pairs(&body);
    let ch = CoverageChange {
        from: first(&v, "from"),
        remove_areas: all(&v, "remove_areas"),
        remove_services: all(&v, "remove_services"),
        add_areas: all(&v, "add_areas"),
        add_services: all(&v, "add_services"),
        reason: first(&v, "reason"),
    };
    let r = change_coverage(&state, &who, &id, &ch).await.map(|o| Some(o.handed_over.len())).map_err(|e| match e {
        ApiError::Invalid(errs) => ApiError::Invalid(
            errs.into_iter()
                .map(|mut fe| {
                    fe.field = format!("cov_{}", fe.field);
                    fe
                })
                .collect(),
        ),
        other => other,
    });
    after_with(&state, &page, &id, r, "coverage").await
}

// ---------------------------------------------------------------- area closures

pub struct ClosureView {
    pub x: AreaClosure,
    pub area: String,
    pub service: String,
    pub in_force: bool,
}

#[derive(Template)]
#[template(path = "contracts_areas.html")]
struct AreasPage {
    c: Chrome,
    closures: Vec<ClosureView>,
    areas: Vec<(String, String)>,
    services: Vec<(String, String)>,
    errors: Vec<ShownError>,
    v: Vec<(String, String)>,
    today: String,
    done: Option<String>,
}

impl AreasPage {
    fn val(&self, key: &str) -> String {
        first(&self.v, key)
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.anchor == field_id(field))
    }
}

async fn render_areas(
    state: &AppState,
    page: &Page,
    v: Vec<(String, String)>,
    errors: Vec<FieldError>,
    done: Option<String>,
    status: StatusCode,
) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    if !permits(&who, Action::CloseAreas) {
        return forbidden(state, page);
    }
    let c = page.chrome(state, "contracts-areas-title");
    let data = async { ApiResult::Ok((area_closures(state).await?, Names::load(state, &c.t).await?)) }.await;
    let (list, names) = match data {
        Ok(x) => x,
        Err(e) => return internal(state, page, e),
    };
    let today = state.today().to_string();
    let closures = list
        .into_iter()
        .map(|x| ClosureView {
            area: names.area(&x.area_code),
            service: x.service_type.as_ref().map(|s| names.service(s)).unwrap_or_else(|| c.t.get("contracts-all-services")),
            in_force: x.from_date <= today && x.to_date.as_ref().is_none_or(|t| *t >= today),
            x,
        })
        .collect();
    let errors = shown(&c.t, &errors);
    let p = AreasPage { closures, areas: names.areas.clone(), services: names.services.clone(), errors, v, today, done, c };
    (status, render(&p)).into_response()
}

async fn areas_page(State(state): State<AppState>, page: Page, Query(q): Query<Done>) -> Response {
    render_areas(&state, &page, vec![], vec![], q.done, StatusCode::OK).await
}

async fn areas_submit(State(state): State<AppState>, page: Page, body: String) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let v = form_pairs(&body);
    let input = NewAreaClosure {
        area_code: first(&v, "area_code"),
        service_type: Some(first(&v, "service_type")).filter(|s| !s.is_empty()),
        from_date: first(&v, "from_date"),
        reason: first(&v, "reason"),
    };
    match close_area(&state, &who, &input).await {
        Ok(_) => Redirect::to("/contracts/areas?done=closed").into_response(),
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(ApiError::Forbidden(_)) => forbidden(&state, &page),
        Err(e) => render_areas(&state, &page, v, errors_of(&e), None, e.status()).await,
    }
}

async fn reopen_submit(State(state): State<AppState>, page: Page, Path(id): Path<String>, body: String) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let v = form_pairs(&body);
    let input = ReopenInput { from_date: first(&v, "from_date"), reason: first(&v, "reason") };
    match reopen_area(&state, &who, &id, &input).await {
        Ok(_) => Redirect::to("/contracts/areas?done=reopened").into_response(),
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(ApiError::Forbidden(_)) => forbidden(&state, &page),
        Err(e) => {
            let errs = errors_of(&e)
                .into_iter()
                .map(|mut fe| {
                    fe.field = format!("reopen_{id}_{}", fe.field);
                    fe
                })
                .collect();
            render_areas(&state, &page, vec![], errs, None, e.status()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_keep_repeated_keys_and_decode() {
        let p = form_pairs("services=a&services=b&name=Omsorg+%C3%85+AB&empty=&flag");
        assert_eq!(all(&p, "services"), ["a", "b"]);
        assert_eq!(first(&p, "name"), "Omsorg Å AB");
        assert_eq!(first(&p, "empty"), "");
        assert_eq!(first(&p, "flag"), "");
        assert_eq!(first(&p, "missing"), "");
    }

    #[test]
    fn field_ids_are_valid_html_ids() {
        assert_eq!(field_id("answers.staff"), "f-answers-staff");
        assert_eq!(field_id("capacity_amount"), "f-capacity-amount");
    }
}
