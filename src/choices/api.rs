//! `/api/v1/clients/{id}/choices`, `/api/v1/choices/{id}`, `/api/v1/tasks`
//! and `/api/v1/choice-systems/{id}/share-targets`.

use super::tasks::Task;
use super::{Actor, Choice, GroupContext, HandOverReport};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{self, require, Action};
use crate::auth::{Principal, PrincipalKind};
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult, Fields, Problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_choices, make_choice))
        .routes(routes!(give_default))
        .routes(routes!(choice_options))
        .routes(routes!(get_choice))
        .routes(routes!(list_tasks))
        .routes(routes!(task_done))
        .routes(routes!(get_share_targets, put_share_targets))
        .routes(routes!(post_hand_over))
}

/// May `who` read this client's choices? Providers only their own clients
/// (and then only their own rows, see `visible`).
pub async fn require_choice_read(state: &AppState, who: &Principal, client_id: &str) -> ApiResult<()> {
    access::require_client_read(state, who, client_id).await
}

/// May `who` choose for this client? The citizen for themself, a case
/// officer or admin for anyone. A citizen asking for someone else is told
/// the client does not exist, as for reads.
pub fn require_choose(who: &Principal, client_id: &str) -> ApiResult<()> {
    match &who.kind {
        PrincipalKind::Citizen { client_id: own } if own == client_id => Ok(()),
        PrincipalKind::Citizen { .. } => Err(ApiError::NotFound("client")),
        _ => require(who, Action::ChooseOnBehalf),
    }
}

/// The rows `who` may see: a provider sees only the rows naming itself.
pub fn visible(who: &Principal, choices: Vec<Choice>) -> Vec<Choice> {
    match &who.kind {
        PrincipalKind::Provider { provider_id } => choices.into_iter().filter(|c| &c.provider_id == provider_id).collect(),
        _ => choices,
    }
}

/// Where a client stands in one service group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupState {
    pub service_group: String,
    /// The provider today.
    pub current: Option<Choice>,
    /// A switch registered but not yet in effect.
    pub pending: Option<Choice>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientChoices {
    pub client_id: String,
    pub groups: Vec<GroupState>,
    /// Every choice, cancelled ones included, by group and newest first.
    pub history: Vec<Choice>,
}

pub fn group_states(history: &[Choice]) -> Vec<GroupState> {
    let mut out: Vec<GroupState> = Vec::new();
    for g in super::CHOICE_GROUPS {
        let current = history.iter().find(|c| c.service_group == *g && c.state == "current").cloned();
        let pending = history.iter().find(|c| c.service_group == *g && c.state == "pending").cloned();
        if current.is_some() || pending.is_some() {
            out.push(GroupState { service_group: g.to_string(), current, pending });
        }
    }
    out
}

async fn audit_read(
    state: &AppState,
    who: &Principal,
    subject_type: &str,
    subject_id: &str,
    client_id: &str,
    detail: &str,
) -> ApiResult<()> {
    audit::record(
        state,
        who,
        Event { action: AuditAction::Read, subject_type, subject_id, client_id: Some(client_id), detail: detail.into() },
    )
    .await
}

/// The client's choices: the provider per service group today, pending
/// switches and the full history.
#[utoipa::path(get, path = "/clients/{id}/choices", tag = "choices", params(("id" = String, Path)),
    responses((status = 200, body = ClientChoices), (status = 404, body = Problem), (status = 401, body = Problem)))]
async fn list_choices(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<ClientChoices>> {
    require_choice_read(&state, &who, &id).await?;
    super::load_client(&state, &id).await?;
    let history = visible(&who, super::history(&state, &id).await?);
    audit_read(&state, &who, "choices", &id, &id, "choices via API").await?;
    Ok(Json(ClientChoices { client_id: id, groups: group_states(&history), history }))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewChoiceRequest {
    /// service, personal_care, health_care, escort, respite or meals.
    pub service_group: String,
    pub provider_id: String,
}

/// Registers a choice. The first choice takes effect today; a switch after
/// the choice system's notice period. A provider that may not take new
/// clients there is refused with 422 and the rule's code (`not_active`,
/// `not_approved_for_service`, `not_approved_for_area`,
/// `closed_for_new_clients`, `area_closed_to_private`, `at_capacity`);
/// two simultaneous choices yield one, the other gets 409 `choice_conflict`.
#[utoipa::path(post, path = "/clients/{id}/choices", tag = "choices", params(("id" = String, Path)), request_body = NewChoiceRequest,
    responses((status = 201, body = Choice), (status = 404, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn make_choice(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewChoiceRequest>,
) -> ApiResult<(StatusCode, Json<Choice>)> {
    require_choose(&who, &id)?;
    let choice = super::choose(&state, &Actor::of(&who), &id, &req.service_group, &req.provider_id).await?;
    audit_change(&state, &who, &choice).await?;
    Ok((StatusCode::CREATED, Json(choice)))
}

pub async fn audit_change(state: &AppState, who: &Principal, c: &Choice) -> ApiResult<()> {
    audit::record(
        state,
        who,
        Event {
            action: AuditAction::Create,
            subject_type: "choice",
            subject_id: &c.id,
            client_id: Some(&c.client_id),
            detail: format!(
                "{} {} {}: {} from {}{}",
                c.kind,
                c.reason,
                c.service_group,
                c.provider_id,
                c.valid_from,
                if c.on_behalf { " (on the client's behalf)" } else { "" }
            ),
        },
    )
    .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DefaultRequest {
    pub service_group: String,
}

/// Gives a client who has not chosen the default provider for a service
/// group, by the choice system's rule (`municipal`, `rotation` or
/// `lou_share`), from today. Case officer or admin.
#[utoipa::path(post, path = "/clients/{id}/choices/default", tag = "choices", params(("id" = String, Path)), request_body = DefaultRequest,
    responses((status = 201, body = Choice), (status = 404, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn give_default(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DefaultRequest>,
) -> ApiResult<(StatusCode, Json<Choice>)> {
    require(&who, Action::ChooseOnBehalf)?;
    let choice = super::assign_default(&state, &Actor::of(&who), &id, &req.service_group).await?;
    audit_change(&state, &who, &choice).await?;
    Ok((StatusCode::CREATED, Json(choice)))
}

/// A provider as an option for one client and group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderOption {
    pub provider_id: String,
    pub name: String,
    pub ownership: String,
    pub languages: Vec<String>,
    pub specialities: Vec<String>,
    pub phone: String,
    pub eligible: bool,
    /// Why not, when not eligible (a rule code).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupOptions {
    #[serde(flatten)]
    pub context: GroupContext,
    /// The day a choice registered now would take effect.
    pub takes_effect: String,
    pub current: Option<Choice>,
    pub pending: Option<Choice>,
    /// Every provider with a contract in the choice system, eligible ones first.
    pub providers: Vec<ProviderOption>,
}

/// The options for every service group offered in the client's area.
pub async fn options(state: &AppState, client: &crate::clients::Client) -> ApiResult<Vec<GroupOptions>> {
    let today = state.today();
    let history = super::history(state, &client.id).await?;
    let providers = crate::providers::list(state).await?;
    let mut out = Vec::new();
    for g in super::CHOICE_GROUPS {
        let Some(ctx) = super::group_context(state, client, g).await? else { continue };
        let timeline = {
            let mut c = state.db.pool.acquire().await?;
            super::load_timeline(&mut c, &client.id, g).await?
        };
        let on = super::rules::takes_effect(today, ctx.notice_days, &timeline.segments);
        let contracted = contracted_providers(state, &ctx.choice_system_id).await?;
        let mut opts = Vec::new();
        for p in providers.iter().filter(|p| contracted.contains(&p.id)) {
            let verdict = super::eligibility(state, &p.id, &ctx, &client.area_code, on).await?;
            opts.push(ProviderOption {
                provider_id: p.id.clone(),
                name: p.name.clone(),
                ownership: p.ownership.clone(),
                languages: p.languages.clone(),
                specialities: p.specialities.clone(),
                phone: p.phone.clone(),
                eligible: verdict.is_ok(),
                reason: verdict.err().map(str::to_string),
            });
        }
        // Eligible first; otherwise the neutral alphabetical order of the list.
        opts.sort_by_key(|o| !o.eligible);
        out.push(GroupOptions {
            takes_effect: on.to_string(),
            current: history.iter().find(|c| c.service_group == *g && c.state == "current").cloned(),
            pending: history.iter().find(|c| c.service_group == *g && c.state == "pending").cloned(),
            context: ctx,
            providers: opts,
        });
    }
    Ok(out)
}

/// Providers with a contract of any status but rejected in the system: the
/// ones worth naming to a citizen, even when they cannot take them now.
async fn contracted_providers(state: &AppState, system: &str) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT provider_id FROM contracts WHERE choice_system_id = $1 AND status IN ('active', 'paused', 'approved')",
    )
    .bind(system)
    .fetch_all(&state.db.pool)
    .await?)
}

/// The providers the client can choose between, per service group, with
/// the reason for any that cannot take them, and the date a choice made
/// now would take effect. The client themself, case officers and admin.
#[utoipa::path(get, path = "/clients/{id}/choice-options", tag = "choices", params(("id" = String, Path)),
    responses((status = 200, body = Vec<GroupOptions>), (status = 404, body = Problem)))]
async fn choice_options(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<Vec<GroupOptions>>> {
    require_choose(&who, &id)?;
    let client = super::load_client(&state, &id).await?;
    let out = options(&state, &client).await?;
    audit_read(&state, &who, "choices", &id, &id, "choice options via API").await?;
    Ok(Json(out))
}

/// One choice.
#[utoipa::path(get, path = "/choices/{id}", tag = "choices", params(("id" = String, Path)),
    responses((status = 200, body = Choice), (status = 404, body = Problem)))]
async fn get_choice(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<Choice>> {
    let choice = readable_choice(&state, &who, &id).await?;
    audit_read(&state, &who, "choice", &id, &choice.client_id, "choice via API").await?;
    Ok(Json(choice))
}

/// A choice `who` may read, or 404 (whether it exists or not).
pub async fn readable_choice(state: &AppState, who: &Principal, id: &str) -> ApiResult<Choice> {
    let choice = super::get(state, id).await?.ok_or(ApiError::NotFound("choice"))?;
    require_choice_read(state, who, &choice.client_id).await.map_err(|_| ApiError::NotFound("choice"))?;
    if visible(who, vec![choice.clone()]).is_empty() {
        return Err(ApiError::NotFound("choice"));
    }
    Ok(choice)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TaskQuery {
    /// `open` (default), `done` or `all`.
    pub status: Option<String>,
    pub client_id: Option<String>,
    /// At most this many (default 200, max 1000).
    pub limit: Option<i64>,
    /// Skip this many first (default 0): the next page is at `offset + limit`.
    pub offset: Option<i64>,
}

/// Re-choice tasks for the case officers, earliest due first.
#[utoipa::path(get, path = "/tasks", tag = "choices", params(TaskQuery),
    responses((status = 200, body = Vec<Task>), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_tasks(State(state): State<AppState>, who: Principal, Query(q): Query<TaskQuery>) -> ApiResult<Json<Vec<Task>>> {
    require(&who, Action::ManageChoiceTasks)?;
    let status = match q.status.as_deref().unwrap_or("open") {
        "all" => None,
        s @ ("open" | "done") => Some(s),
        _ => return Err(ApiError::field("status", "not_allowed", "open, done or all")),
    };
    let window = (crate::api::offset(q.offset)?, q.limit.unwrap_or(200).clamp(1, 1000));
    let tasks = super::tasks::list(&state, status, q.client_id.as_deref(), window).await?;
    let mut ids: Vec<String> = tasks.iter().map(|t| t.client_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    audit::record_client_list(&state, &who, &ids, "re-choice tasks via API").await?;
    Ok(Json(tasks))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TaskDone {
    /// What was done, e.g. "the client keeps the default provider".
    #[serde(default)]
    pub outcome: String,
}

/// Marks a task done; 409 `task_done` if it already is.
#[utoipa::path(post, path = "/tasks/{id}/done", tag = "choices", params(("id" = String, Path)), request_body = TaskDone,
    responses((status = 200, body = Task), (status = 404, body = Problem), (status = 409, body = Problem), (status = 403, body = Problem)))]
async fn task_done(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TaskDone>,
) -> ApiResult<Json<Task>> {
    require(&who, Action::ManageChoiceTasks)?;
    let outcome = b.outcome.trim();
    if outcome.chars().count() > 500 {
        return Err(ApiError::field("outcome", "too_long", "at most 500 characters"));
    }
    let task = super::tasks::mark_done(&state, &who.username, &id, if outcome.is_empty() { "done" } else { outcome }).await?;
    audit::record(
        &state,
        &who,
        Event {
            action: AuditAction::Update,
            subject_type: "choice_task",
            subject_id: &id,
            client_id: Some(&task.client_id),
            detail: "re-choice task done".into(),
        },
    )
    .await?;
    Ok(Json(task))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShareTarget {
    pub provider_id: String,
    /// Per mille of all granted hours in the choice system (150 = 15 %).
    pub share_permille: i64,
    #[serde(default, skip_deserializing)]
    pub provider_name: String,
    #[serde(default, skip_deserializing)]
    pub valid_from: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShareTargets {
    pub choice_system_id: String,
    /// Targets in force on `on`.
    pub on: String,
    pub in_force: Vec<ShareTarget>,
    /// Every version, oldest first.
    pub history: Vec<ShareTarget>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OnQuery {
    /// The date (YYYY-MM-DD); default today.
    pub on: Option<String>,
}

async fn share_targets(state: &AppState, system: &str, on: Date) -> ApiResult<ShareTargets> {
    let rows = sqlx::query(
        "SELECT s.provider_id, p.name, s.valid_from, s.share_permille FROM share_targets s JOIN providers p ON p.id = s.provider_id \
         WHERE s.choice_system_id = $1 ORDER BY s.valid_from, p.name, s.provider_id",
    )
    .bind(system)
    .fetch_all(&state.db.pool)
    .await?;
    let history: Vec<ShareTarget> = rows
        .iter()
        .map(|r| {
            let s = |c: &str| r.try_get::<String, _>(c).map_err(|e| ApiError::Internal(e.into()));
            Ok(ShareTarget {
                provider_id: s("provider_id")?,
                provider_name: s("name")?,
                valid_from: s("valid_from")?,
                share_permille: r.try_get::<i64, _>("share_permille").map_err(|e| ApiError::Internal(e.into()))?,
            })
        })
        .collect::<ApiResult<_>>()?;
    let on_s = on.to_string();
    let mut latest: std::collections::BTreeMap<String, ShareTarget> = std::collections::BTreeMap::new();
    for t in history.iter().filter(|t| t.valid_from <= on_s) {
        latest.insert(t.provider_id.clone(), t.clone());
    }
    let mut in_force: Vec<ShareTarget> = latest.into_values().filter(|t| t.share_permille > 0).collect();
    in_force.sort_by(|a, b| a.provider_name.cmp(&b.provider_name));
    Ok(ShareTargets { choice_system_id: system.into(), on: on_s, in_force, history })
}

async fn system_exists(state: &AppState, id: &str) -> ApiResult<()> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM choice_systems WHERE id = $1").bind(id).fetch_one(&state.db.pool).await?;
    if n == 0 {
        Err(ApiError::NotFound("choice system"))
    } else {
        Ok(())
    }
}

/// The LOU target shares of a choice system (the `lou_share` default rule
/// gives a client who does not choose to the provider furthest below its share).
#[utoipa::path(get, path = "/choice-systems/{id}/share-targets", tag = "choices", params(("id" = String, Path), OnQuery),
    responses((status = 200, body = ShareTargets), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_share_targets(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Query(q): Query<OnQuery>,
) -> ApiResult<Json<ShareTargets>> {
    require(&who, Action::ReadSetup)?;
    system_exists(&state, &id).await?;
    let on = match q.on.as_deref() {
        None => state.today(),
        Some(s) => {
            let mut f = Fields::new();
            let d = crate::setup::model::parse_date(&mut f, "on", s);
            f.finish()?;
            d.ok_or_else(|| ApiError::field("on", "invalid_date", "a date is written YYYY-MM-DD"))?
        }
    };
    Ok(Json(share_targets(&state, &id, on).await?))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewShareTargets {
    /// The date the new targets apply from.
    pub valid_from: String,
    /// The complete set: a provider with a share before and missing here gets 0.
    pub targets: Vec<ShareTarget>,
}

/// Sets the target shares from a date, as a new version (earlier versions
/// stay). The shares may add up to at most 1000 ‰. Admin.
#[utoipa::path(put, path = "/choice-systems/{id}/share-targets", tag = "choices", params(("id" = String, Path)), request_body = NewShareTargets,
    responses((status = 200, body = ShareTargets), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn put_share_targets(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<NewShareTargets>,
) -> ApiResult<Json<ShareTargets>> {
    require(&who, Action::ChangeSetup)?;
    system_exists(&state, &id).await?;
    let mut f = Fields::new();
    let from = crate::setup::model::parse_date(&mut f, "valid_from", &b.valid_from);
    let mut seen = std::collections::HashSet::new();
    let mut sum = 0;
    for (i, t) in b.targets.iter().enumerate() {
        if !(0..=1000).contains(&t.share_permille) {
            f.push(&format!("targets[{i}].share_permille"), "out_of_range", "between 0 and 1000 (per mille)");
        }
        sum += t.share_permille.clamp(0, 1000);
        if !seen.insert(t.provider_id.clone()) {
            f.push(&format!("targets[{i}].provider_id"), "duplicate", "each provider appears once");
        } else if crate::providers::get(&state, &t.provider_id).await?.is_none() {
            f.push(&format!("targets[{i}].provider_id"), "unknown_provider", "no such provider");
        }
    }
    if sum > 1000 {
        f.push("targets", "shares_exceed_whole", format!("the shares add up to {sum} ‰, more than 1000 ‰"));
    }
    f.finish()?;
    let Some(from) = from else { return Err(ApiError::field("valid_from", "invalid_date", "a date is written YYYY-MM-DD")) };
    let before = share_targets(&state, &id, from).await?;
    let mut rows: Vec<(String, i64)> = b.targets.iter().map(|t| (t.provider_id.clone(), t.share_permille)).collect();
    for t in &before.in_force {
        if !seen.contains(&t.provider_id) {
            rows.push((t.provider_id.clone(), 0));
        }
    }
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    for (provider, share) in &rows {
        let done = sqlx::query(
            "INSERT INTO share_targets (choice_system_id, provider_id, valid_from, share_permille, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (choice_system_id, provider_id, valid_from) DO NOTHING",
        )
        .bind(&id)
        .bind(provider)
        .bind(from.to_string())
        .bind(share)
        .bind(&now)
        .bind(&who.username)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let existing: i64 = sqlx::query_scalar(
                "SELECT share_permille FROM share_targets WHERE choice_system_id = $1 AND provider_id = $2 AND valid_from = $3",
            )
            .bind(&id)
            .bind(provider)
            .bind(from.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if existing != *share {
                return Err(ApiError::conflict(
                    "version_exists",
                    format!("a different target for provider {provider} from {from} exists; add a version from a later date"),
                ));
            }
        }
    }
    tx.commit().await?;
    audit::record(
        &state,
        &who,
        Event {
            action: AuditAction::Update,
            subject_type: "share_targets",
            subject_id: &id,
            client_id: None,
            detail: format!("target shares from {from}: {}", rows.iter().map(|(p, s)| format!("{p}={s}")).collect::<Vec<_>>().join(", ")),
        },
    )
    .await?;
    Ok(Json(share_targets(&state, &id, from).await?))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct HandOverRequest {
    pub provider_id: String,
    /// Only clients in this area (default: every area).
    pub area_code: Option<String>,
    /// Only this service's group (default: every service).
    pub service_type: Option<String>,
    /// The first day the provider no longer serves them (YYYY-MM-DD).
    pub effective_date: String,
    pub reason: super::HandOverReason,
    /// List who would be affected, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Hands a departing provider's clients over: each gets a re-choice task
/// and the default provider from the date unless they choose before. The
/// contract endpoints do this on termination; this route runs it (again)
/// by hand and is idempotent. Admin.
#[utoipa::path(post, path = "/hand-overs", tag = "choices", request_body = HandOverRequest,
    responses((status = 200, body = HandOverReport), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn post_hand_over(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<HandOverRequest>,
) -> ApiResult<Json<HandOverReport>> {
    require(&who, Action::DecideContracts)?;
    let mut f = Fields::new();
    let date = crate::setup::model::parse_date(&mut f, "effective_date", &b.effective_date);
    f.finish()?;
    let Some(effective_date) = date else { return Err(ApiError::field("effective_date", "invalid_date", "a date is written YYYY-MM-DD")) };
    let scope = super::HandOverScope {
        provider_id: b.provider_id,
        area_code: b.area_code.filter(|a| !a.is_empty()),
        service_type: b.service_type.filter(|s| !s.is_empty()),
        effective_date,
        reason: b.reason,
    };
    if b.dry_run {
        return Ok(Json(HandOverReport { affected: super::hand_over_preview(&state, &who, &scope).await? }));
    }
    Ok(Json(super::hand_over(&state, &who, &scope).await?))
}
