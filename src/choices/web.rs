//! The choice in the browser: `/my` and `/my/choose` for the signed-in
//! citizen, `/clients/{id}/choose` for a case officer on the client's
//! behalf, the confirmation letter `/letters/choice/{id}`, and the case
//! officers' re-choice tasks `/tasks`. Plain forms; no JavaScript needed.

use super::api::{self as choices_api, GroupOptions};
use super::tasks::Task;
use super::{Actor, Choice};
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{permits, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::clients::Client;
use crate::error::ApiError;
use crate::web::i18n::{Lang, Tr};
use crate::web::{forbidden, internal, message_page, render, Chrome, Page, WebForm};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use fluent_bundle::{FluentArgs, FluentValue};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/my", get(my_page))
        .route("/my/choose", get(my_choose).post(my_choose_post))
        .route("/clients/{id}/choose", get(officer_choose).post(officer_choose_post))
        .route("/clients/{id}/choose/default", post(officer_default_post))
        .route("/letters/choice/{id}", get(letter))
        .route("/tasks", get(tasks_page))
        .route("/tasks/{id}/done", post(task_done_post))
}

/// A message with several arguments.
fn tr(t: &Tr, state: &AppState, key: &str, args: &[(&str, &str)]) -> String {
    let mut a = FluentArgs::new();
    for (k, v) in args {
        a.set(k.to_string(), FluentValue::from(v.to_string()));
    }
    state.i18n.get(t.lang, key, Some(&a))
}

/// A date as people write it in letters: 24 mars 2026, 24 March 2026, 24. mars 2026.
pub fn long_date(lang: Lang, iso: &str) -> String {
    let Ok(d) = iso.parse::<jiff::civil::Date>() else { return iso.to_string() };
    let m = usize::try_from(d.month() - 1).unwrap_or(0);
    const SV: [&str; 12] =
        ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"];
    const EN: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    const NB: [&str; 12] =
        ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober", "november", "desember"];
    match lang {
        Lang::Sv => format!("{} {} {}", d.day(), SV[m], d.year()),
        Lang::En => format!("{} {} {}", d.day(), EN[m], d.year()),
        Lang::Nb => format!("{}. {} {}", d.day(), NB[m], d.year()),
    }
}

fn day_before(iso: &str) -> String {
    iso.parse::<jiff::civil::Date>().ok().and_then(|d| d.yesterday().ok()).map(|d| d.to_string()).unwrap_or_else(|| iso.to_string())
}

/// Language names for the provider facts; unknown codes are shown as they are.
fn language_name(t: &Tr, code: &str) -> String {
    const KNOWN: [&str; 12] = ["sv", "en", "fi", "ar", "de", "se", "nb", "so", "fa", "pl", "es", "tr"];
    if KNOWN.contains(&code) {
        t.get(&format!("choices-lang-{code}"))
    } else {
        code.to_uppercase()
    }
}

/// A rule code as a sentence for the page.
fn rule_text(t: &Tr, code: &str) -> String {
    const KNOWN: [&str; 16] = [
        "not_active",
        "not_approved_for_service",
        "not_approved_for_area",
        "closed_for_new_clients",
        "area_closed_to_private",
        "at_capacity",
        "already_chosen",
        "provider_leaving",
        "group_not_offered",
        "choice_conflict",
        "no_default_provider",
        "already_has_provider",
        "unknown_provider",
        "no_provider_selected",
        "invalid_input",
        "not_allowed",
    ];
    if KNOWN.contains(&code) {
        t.get(&format!("choices-rule-{code}"))
    } else {
        t.get("choices-rule-other")
    }
}

pub struct ChoiceView {
    pub text: String,
    pub letter_url: String,
}

pub struct OptionView {
    pub id: String,
    pub name: String,
    pub facts: String,
    pub checked: bool,
    pub reason: String,
}

pub struct GroupView {
    pub group: String,
    pub name: String,
    pub legend: String,
    pub submit: String,
    pub current: Option<ChoiceView>,
    pub pending: Option<ChoiceView>,
    pub options: Vec<OptionView>,
    pub unavailable: Vec<OptionView>,
    pub takes_effect_text: String,
    pub error: Option<String>,
    pub can_default: bool,
    pub compare_url: String,
}

pub struct Done {
    pub text: String,
    pub letter_url: String,
}

#[derive(Template)]
#[template(path = "choices_choose.html")]
struct ChoosePage {
    c: Chrome,
    heading: String,
    lead: String,
    action: String,
    default_action: String,
    compare_url: String,
    done: Option<Done>,
    groups: Vec<GroupView>,
}

fn compare_url(client: &Client, service_types: &[String]) -> String {
    let mut u = format!("/compare?postcode={}", urlencoding::encode(&client.postcode.replace(' ', "")));
    for s in service_types {
        u.push_str(&format!("&services={}", urlencoding::encode(s)));
    }
    u
}

fn choice_text(t: &Tr, state: &AppState, c: &Choice) -> String {
    let from = long_date(t.lang, &c.valid_from);
    match c.state.as_str() {
        "pending" => tr(t, state, "choices-pending-text", &[("provider", &c.provider_name), ("date", &from)]),
        _ if c.kind == "default" => tr(t, state, "choices-current-default-text", &[("provider", &c.provider_name), ("date", &from)]),
        _ => tr(t, state, "choices-current-text", &[("provider", &c.provider_name), ("date", &from)]),
    }
}

fn group_views(
    state: &AppState,
    t: &Tr,
    client: &Client,
    opts: Vec<GroupOptions>,
    error: Option<(&str, String)>,
    officer: bool,
) -> Vec<GroupView> {
    // With a decision, the groups it grants; without, every group offered.
    let any_granted = opts.iter().any(|o| o.context.granted);
    opts.into_iter()
        .filter(|o| !any_granted || o.context.granted || o.current.is_some() || o.pending.is_some())
        .map(|o| {
            let g = o.context.service_group.clone();
            let name = t.pre("group-", &g);
            let head = o.pending.as_ref().or(o.current.as_ref()).map(|c| c.provider_id.clone());
            let current_id = o.current.as_ref().map(|c| c.provider_id.clone());
            let mut options = Vec::new();
            let mut unavailable = Vec::new();
            for p in &o.providers {
                let mut facts: Vec<String> = vec![t.get(&format!("choices-ownership-{}", p.ownership))];
                if !p.languages.is_empty() {
                    let langs: Vec<String> = p.languages.iter().map(|l| language_name(t, l)).collect();
                    facts.push(tr(t, state, "choices-speaks", &[("languages", &langs.join(", "))]));
                }
                let is_head = head.as_deref() == Some(p.provider_id.as_str());
                // The client's own choice is shown (selected) even if it is now full, and the
                // current provider stays selectable while a switch is pending, to take it back.
                let selectable = p.eligible || is_head || (current_id.as_deref() == Some(p.provider_id.as_str()) && o.pending.is_some());
                let view = OptionView {
                    id: p.provider_id.clone(),
                    name: if is_head { tr(t, state, "choices-your-choice", &[("provider", &p.name)]) } else { p.name.clone() },
                    facts: facts.join(" · "),
                    checked: is_head,
                    reason: p.reason.as_deref().map(|r| rule_text(t, r)).unwrap_or_default(),
                };
                if selectable {
                    options.push(view);
                } else if matches!(p.reason.as_deref(), Some("closed_for_new_clients" | "at_capacity" | "area_closed_to_private")) {
                    unavailable.push(view);
                }
            }
            let takes_effect = long_date(t.lang, &o.takes_effect);
            let takes_effect_text = if o.current.is_some() {
                tr(t, state, "choices-takes-effect-switch", &[("date", &takes_effect), ("days", &o.context.notice_days.to_string())])
            } else {
                tr(t, state, "choices-takes-effect-first", &[("date", &takes_effect)])
            };
            GroupView {
                legend: tr(t, state, "choices-legend", &[("group", &name)]),
                submit: tr(t, state, "choices-submit", &[("group", &name)]),
                current: o.current.as_ref().map(|c| ChoiceView { text: choice_text(t, state, c), letter_url: c.letter_url.clone() }),
                pending: o.pending.as_ref().map(|c| ChoiceView { text: choice_text(t, state, c), letter_url: c.letter_url.clone() }),
                options,
                unavailable,
                takes_effect_text,
                error: error.as_ref().filter(|(eg, _)| *eg == g).map(|(_, e)| e.clone()),
                can_default: officer && o.current.is_none() && o.pending.is_none(),
                compare_url: compare_url(client, &o.context.service_types),
                group: g,
                name,
            }
        })
        .collect()
}

/// Who the page is for, and where its forms go.
struct Target {
    client: Client,
    officer: bool,
    base: String,
}

async fn render_choose(
    state: &AppState,
    page: &Page,
    who: &Principal,
    target: Target,
    chosen: Option<String>,
    error: Option<(String, String)>,
) -> Response {
    let c = page.chrome(state, "choices-choose-title");
    let opts = match choices_api::options(state, &target.client).await {
        Ok(o) => o,
        Err(e) => return internal(state, page, e),
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let error_ref = error.as_ref().map(|(g, code)| (g.as_str(), rule_text(&c.t, code)));
    let groups = group_views(state, &c.t, &target.client, opts, error_ref, target.officer);
    let done = match chosen {
        Some(id) => match choices_api::readable_choice(state, who, &id).await {
            Ok(ch) if ch.client_id == target.client.id => {
                let key = if ch.kind == "default" { "choices-done-default" } else { "choices-done" };
                Some(Done {
                    text: tr(
                        &c.t,
                        state,
                        key,
                        &[
                            ("provider", &ch.provider_name),
                            ("group", &c.t.pre("group-", &ch.service_group)),
                            ("date", &long_date(c.t.lang, &ch.valid_from)),
                        ],
                    ),
                    letter_url: ch.letter_url,
                })
            }
            _ => None,
        },
        None => None,
    };
    let heading = if target.officer {
        tr(&c.t, state, "choices-choose-for", &[("name", &target.client.name)])
    } else {
        c.t.get("choices-choose-title")
    };
    let lead = if target.officer { c.t.get("choices-choose-lead-officer") } else { c.t.get("choices-choose-lead") };
    if let Err(e) = audit::record(
        state,
        who,
        Event {
            action: AuditAction::Read,
            subject_type: "choices",
            subject_id: &target.client.id,
            client_id: Some(&target.client.id),
            detail: "choose page".into(),
        },
    )
    .await
    {
        return internal(state, page, e);
    }
    let page_body = ChoosePage {
        compare_url: compare_url(&target.client, &[]),
        action: target.base.clone(),
        default_action: format!("{}/default", target.base),
        c,
        heading,
        lead,
        done,
        groups,
    };
    (status, render(&page_body)).into_response()
}

#[derive(Deserialize)]
struct ChosenQuery {
    chosen: Option<String>,
}

#[derive(Deserialize)]
struct ChooseForm {
    service_group: Option<String>,
    provider_id: Option<String>,
}

fn citizen_client(who: &Principal) -> Option<String> {
    match &who.kind {
        PrincipalKind::Citizen { client_id } => Some(client_id.clone()),
        _ => None,
    }
}

async fn citizen_target(state: &AppState, page: &Page) -> Result<(Principal, Target), Response> {
    let who = page.require_user()?.clone();
    let Some(client_id) = citizen_client(&who) else { return Err(forbidden(state, page)) };
    match crate::clients::get(state, &client_id).await {
        Ok(Some(client)) => Ok((who, Target { client, officer: false, base: "/my/choose".into() })),
        Ok(None) => Err(forbidden(state, page)),
        Err(e) => Err(internal(state, page, e)),
    }
}

async fn officer_target(state: &AppState, page: &Page, client_id: &str) -> Result<(Principal, Target), Response> {
    let who = page.require_user()?.clone();
    if !permits(&who, Action::ChooseOnBehalf) {
        return Err(forbidden(state, page));
    }
    match crate::clients::get(state, client_id).await {
        Ok(Some(client)) => {
            let base = format!("/clients/{}/choose", client.id);
            Ok((who, Target { client, officer: true, base }))
        }
        Ok(None) => Err(message_page(state, page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text")),
        Err(e) => Err(internal(state, page, e)),
    }
}

async fn my_choose(State(state): State<AppState>, page: Page, Query(q): Query<ChosenQuery>) -> Response {
    match citizen_target(&state, &page).await {
        Ok((who, target)) => render_choose(&state, &page, &who, target, q.chosen, None).await,
        Err(r) => r,
    }
}

async fn officer_choose(State(state): State<AppState>, page: Page, Path(id): Path<String>, Query(q): Query<ChosenQuery>) -> Response {
    match officer_target(&state, &page, &id).await {
        Ok((who, target)) => render_choose(&state, &page, &who, target, q.chosen, None).await,
        Err(r) => r,
    }
}

async fn my_choose_post(State(state): State<AppState>, page: Page, WebForm(f): WebForm<ChooseForm>) -> Response {
    match citizen_target(&state, &page).await {
        Ok((who, target)) => submit_choice(&state, &page, &who, target, f).await,
        Err(r) => r,
    }
}

async fn officer_choose_post(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    WebForm(f): WebForm<ChooseForm>,
) -> Response {
    match officer_target(&state, &page, &id).await {
        Ok((who, target)) => submit_choice(&state, &page, &who, target, f).await,
        Err(r) => r,
    }
}

fn error_code(e: &ApiError) -> String {
    match e {
        ApiError::Invalid(errs) => errs.first().map(|f| f.code.clone()).unwrap_or_else(|| "invalid_input".into()),
        other => other.code().to_string(),
    }
}

async fn submit_choice(state: &AppState, page: &Page, who: &Principal, target: Target, f: ChooseForm) -> Response {
    let group = f.service_group.unwrap_or_default();
    let Some(provider) = f.provider_id.filter(|p| !p.is_empty()) else {
        return render_choose(state, page, who, target, None, Some((group, "no_provider_selected".into()))).await;
    };
    match super::choose(state, &Actor::of(who), &target.client.id, &group, &provider).await {
        Ok(choice) => {
            if let Err(e) = choices_api::audit_change(state, who, &choice).await {
                return internal(state, page, e);
            }
            Redirect::to(&format!("{}?chosen={}", target.base, choice.id)).into_response()
        }
        Err(ApiError::Internal(e)) => internal(state, page, e),
        Err(e) => render_choose(state, page, who, target, None, Some((group, error_code(&e)))).await,
    }
}

async fn officer_default_post(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    WebForm(f): WebForm<ChooseForm>,
) -> Response {
    let (who, target) = match officer_target(&state, &page, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let group = f.service_group.unwrap_or_default();
    match super::assign_default(&state, &Actor::of(&who), &target.client.id, &group).await {
        Ok(choice) => {
            if let Err(e) = choices_api::audit_change(&state, &who, &choice).await {
                return internal(&state, &page, e);
            }
            Redirect::to(&format!("{}?chosen={}", target.base, choice.id)).into_response()
        }
        Err(ApiError::Internal(e)) => internal(&state, &page, e),
        Err(e) => render_choose(&state, &page, &who, target, None, Some((group, error_code(&e)))).await,
    }
}

pub struct ProviderRow {
    pub group: String,
    pub provider: String,
    pub since: String,
    pub until: String,
    pub phone: String,
    pub default: bool,
}

pub struct LetterRow {
    pub url: String,
    pub title: String,
    pub date: String,
}

#[derive(Template)]
#[template(path = "choices_my.html")]
struct MyPage {
    c: Chrome,
    name: String,
    current: Vec<ProviderRow>,
    pending: Vec<ProviderRow>,
    letters: Vec<LetterRow>,
}

async fn my_page(State(state): State<AppState>, page: Page) -> Response {
    let (who, target) = match citizen_target(&state, &page).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let result = async {
        let history = super::history(&state, &target.client.id).await?;
        let providers = crate::providers::list(&state).await?;
        audit::record(
            &state,
            &who,
            Event {
                action: AuditAction::Read,
                subject_type: "choices",
                subject_id: &target.client.id,
                client_id: Some(&target.client.id),
                detail: "my page".into(),
            },
        )
        .await?;
        Ok::<_, ApiError>((history, providers))
    }
    .await;
    let (history, providers) = match result {
        Ok(x) => x,
        Err(e) => return internal(&state, &page, e),
    };
    let c = page.chrome(&state, "choices-my-title");
    let row = |ch: &Choice| ProviderRow {
        group: c.t.pre("group-", &ch.service_group),
        provider: ch.provider_name.clone(),
        since: long_date(c.t.lang, &ch.valid_from),
        until: ch.valid_to.as_deref().map(|d| long_date(c.t.lang, d)).unwrap_or_default(),
        phone: providers.iter().find(|p| p.id == ch.provider_id).map(|p| p.phone.clone()).unwrap_or_default(),
        default: ch.kind == "default",
    };
    let current = history.iter().filter(|h| h.state == "current").map(row).collect();
    let pending = history.iter().filter(|h| h.state == "pending").map(row).collect();
    let letters = history
        .iter()
        .filter(|h| h.status == "active" && h.reason != "recorded")
        .map(|h| LetterRow {
            url: h.letter_url.clone(),
            title: tr(
                &c.t,
                &state,
                if h.kind == "default" { "choices-letter-title-default" } else { "choices-letter-title-chosen" },
                &[("group", &c.t.pre("group-", &h.service_group)), ("provider", &h.provider_name)],
            ),
            date: long_date(c.t.lang, h.created_at.get(..10).unwrap_or("")),
        })
        .collect();
    render(&MyPage { c, name: target.client.name, current, pending, letters })
}

#[derive(Template)]
#[template(path = "choices_letter.html")]
struct LetterPage {
    c: Chrome,
    municipality: String,
    date: String,
    client_name: String,
    address: String,
    postcode: String,
    subject: String,
    paragraphs: Vec<String>,
    provider_name: String,
    phone: String,
    email: String,
    website: String,
    cancelled: bool,
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// The letter's language: one asked for in the address, else the client's
/// own (Swedish, English or Norwegian), else Swedish.
fn letter_lang(asked: Option<&str>, preferred: &str) -> Lang {
    asked.and_then(Lang::parse).or_else(|| Lang::parse(preferred)).unwrap_or(Lang::Sv)
}

async fn letter(State(state): State<AppState>, page: Page, Path(id): Path<String>, Query(q): Query<LangQuery>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    let loaded = async {
        let ch = choices_api::readable_choice(&state, &who, &id).await?;
        let client = super::load_client(&state, &ch.client_id).await?;
        let provider = crate::providers::get(&state, &ch.provider_id).await?.ok_or(ApiError::NotFound("provider"))?;
        let history = super::history(&state, &ch.client_id).await?;
        let municipality = {
            let mut c = state.db.pool.acquire().await?;
            crate::setup::store::municipality(&mut c).await?.map(|m| m.name).unwrap_or_default()
        };
        audit::record(
            &state,
            &who,
            Event {
                action: AuditAction::Read,
                subject_type: "choice_letter",
                subject_id: &id,
                client_id: Some(&ch.client_id),
                detail: "letter".into(),
            },
        )
        .await?;
        Ok::<_, ApiError>((ch, client, provider, history, municipality))
    }
    .await;
    let (ch, client, provider, history, municipality) = match loaded {
        Ok(x) => x,
        Err(ApiError::NotFound(_)) => return message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => return internal(&state, &page, e),
    };
    let lang = letter_lang(q.lang.as_deref(), &client.preferred_language);
    let page = Page { lang, path: page.path.clone(), user: page.user.clone() };
    let c = page.chrome(&state, "choices-letter-title");
    let t = &c.t;
    let group = t.pre("group-", &ch.service_group);
    let from = long_date(lang, &ch.valid_from);
    // The provider the client had until this one takes over.
    let before = day_before(&ch.valid_from);
    let previous = history
        .iter()
        .find(|h| h.service_group == ch.service_group && h.status == "active" && h.valid_to.as_deref() == Some(before.as_str()))
        .map(|h| h.provider_name.clone());
    let mut paragraphs = Vec::new();
    let args = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut v = vec![("provider", ch.provider_name.clone()), ("group", group.clone()), ("date", from.clone())];
        v.extend_from_slice(extra);
        v
    };
    let say = |key: &str, a: Vec<(&'static str, String)>| {
        let refs: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
        tr(t, &state, key, &refs)
    };
    let subject = if ch.kind == "default" {
        if ch.reason == "hand_over" {
            if let Some(prev) = &previous {
                paragraphs.push(say("choices-letter-handover", args(&[("previous", prev.clone()), ("last", long_date(lang, &before))])));
            }
        } else {
            paragraphs.push(say("choices-letter-no-choice", args(&[])));
        }
        paragraphs.push(say("choices-letter-default", args(&[])));
        paragraphs.push(say(
            "choices-letter-default-rule",
            args(&[("rule", t.get(&format!("choices-rule-name-{}", ch.default_rule.as_deref().unwrap_or("municipal"))))]),
        ));
        paragraphs.push(t.get("choices-letter-still-choose"));
        say("choices-letter-subject-default", args(&[]))
    } else {
        paragraphs.push(say("choices-letter-chosen", args(&[])));
        paragraphs.push(say("choices-letter-start", args(&[])));
        if let Some(prev) = &previous {
            paragraphs.push(say("choices-letter-previous", args(&[("previous", prev.clone()), ("last", long_date(lang, &before))])));
        }
        if ch.on_behalf {
            paragraphs.push(t.get("choices-letter-on-behalf"));
        }
        paragraphs.push(t.get("choices-letter-switch-any-time"));
        say("choices-letter-subject-chosen", args(&[]))
    };
    paragraphs.push(t.get("choices-letter-questions"));
    render(&LetterPage {
        municipality,
        date: long_date(lang, ch.created_at.get(..10).unwrap_or("")),
        client_name: client.name,
        address: client.address,
        postcode: client.postcode,
        subject,
        paragraphs,
        provider_name: provider.name,
        phone: provider.phone,
        email: provider.email,
        website: provider.website,
        cancelled: ch.status == "cancelled",
        c,
    })
}

pub struct TaskRow {
    pub task: Task,
    pub group: String,
    pub reason: String,
    pub due: String,
}

#[derive(Template)]
#[template(path = "choices_tasks.html")]
struct TasksPage {
    c: Chrome,
    rows: Vec<TaskRow>,
    showing_done: bool,
    done_id: Option<String>,
    /// More tasks than are shown.
    more: bool,
}

/// Tasks on the page. A provider leaving the choice system can give
/// thousands of clients a task at once; the page says when there are more.
const TASKS_SHOWN: usize = 500;

#[derive(Deserialize)]
struct TasksQuery {
    status: Option<String>,
    done: Option<String>,
}

async fn tasks_page(State(state): State<AppState>, page: Page, Query(q): Query<TasksQuery>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    if !permits(&who, Action::ManageChoiceTasks) {
        return forbidden(&state, &page);
    }
    let showing_done = q.status.as_deref() == Some("done");
    // One more than is shown says whether there are more.
    let mut tasks =
        match super::tasks::list(&state, Some(if showing_done { "done" } else { "open" }), None, (0, TASKS_SHOWN as i64 + 1)).await {
            Ok(t) => t,
            Err(e) => return internal(&state, &page, e),
        };
    let more = tasks.len() > TASKS_SHOWN;
    tasks.truncate(TASKS_SHOWN);
    let mut ids: Vec<String> = tasks.iter().map(|t| t.client_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    if let Err(e) = audit::record_client_list(&state, &who, &ids, "re-choice task list").await {
        return internal(&state, &page, e);
    }
    let c = page.chrome(&state, "choices-tasks-title");
    let rows = tasks
        .into_iter()
        .map(|task| TaskRow {
            group: c.t.pre("group-", &task.service_group),
            reason: c.t.get(&format!("choices-task-reason-{}", task.reason)),
            due: long_date(c.t.lang, &task.due_date),
            task,
        })
        .collect();
    render(&TasksPage { c, rows, showing_done, done_id: q.done, more })
}

async fn task_done_post(State(state): State<AppState>, page: Page, Path(id): Path<String>) -> Response {
    let who = match page.require_user() {
        Ok(u) => u.clone(),
        Err(r) => return r,
    };
    if !permits(&who, Action::ManageChoiceTasks) {
        return forbidden(&state, &page);
    }
    match super::tasks::mark_done(&state, &who.username, &id, "done").await {
        Ok(task) => {
            let event = Event {
                action: AuditAction::Update,
                subject_type: "choice_task",
                subject_id: &id,
                client_id: Some(&task.client_id),
                detail: "re-choice task done".into(),
            };
            if let Err(e) = audit::record(&state, &who, event).await {
                return internal(&state, &page, e);
            }
            Redirect::to(&format!("/tasks?done={id}")).into_response()
        }
        // Already done by someone else: show the list as it is now.
        Err(ApiError::Conflict { .. }) => Redirect::to("/tasks").into_response(),
        Err(ApiError::NotFound(_)) => message_page(&state, &page, StatusCode::NOT_FOUND, "not-found-title", "not-found-text"),
        Err(e) => internal(&state, &page, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_like_letters() {
        assert_eq!(long_date(Lang::Sv, "2026-03-24"), "24 mars 2026");
        assert_eq!(long_date(Lang::En, "2026-05-01"), "1 May 2026");
        assert_eq!(long_date(Lang::Nb, "2026-12-31"), "31. desember 2026");
        assert_eq!(long_date(Lang::Sv, "junk"), "junk");
    }

    #[test]
    fn letters_follow_the_client_language_where_we_have_it() {
        assert_eq!(letter_lang(None, "en"), Lang::En);
        assert_eq!(letter_lang(None, "nb"), Lang::Nb);
        assert_eq!(letter_lang(None, "fi"), Lang::Sv);
        assert_eq!(letter_lang(Some("nb"), "sv"), Lang::Nb);
    }
}
