//! A provider leaves (terminated, or it withdraws from an area or a service):
//! each client it serves on or after the date gets a re-choice task for the
//! case officers and moves to the default provider on that date, unless they
//! choose before. A client who already chose someone else starts with them
//! on that date instead of later.

use super::rules::{self, Plan};
use super::{Actor, Change, Committed, Lost, NewChoice, NewTask, Timeline};
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::Principal;
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandOverReason {
    ProviderTerminated,
    AreaWithdrawn,
    ServiceWithdrawn,
}

impl HandOverReason {
    pub fn code(self) -> &'static str {
        match self {
            HandOverReason::ProviderTerminated => "provider_terminated",
            HandOverReason::AreaWithdrawn => "area_withdrawn",
            HandOverReason::ServiceWithdrawn => "service_withdrawn",
        }
    }
}

/// Which clients a departing provider hands over, and from when.
#[derive(Debug, Clone)]
pub struct HandOverScope {
    pub provider_id: String,
    /// Only clients in this area; None = every area.
    pub area_code: Option<String>,
    /// Only this service (its whole service group); None = every service.
    pub service_type: Option<String>,
    /// The first day the provider no longer serves them.
    pub effective_date: Date,
    pub reason: HandOverReason,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AffectedClient {
    pub client_id: String,
    pub client_name: String,
    pub service_group: String,
    /// The day the client leaves the provider.
    pub from: String,
    pub default_provider_id: Option<String>,
    pub default_choice_id: Option<String>,
    pub task_id: Option<String>,
    /// `moved_to_default`, `switch_brought_forward` (the client had already
    /// chosen another provider; that switch now starts on the date), or
    /// `no_default_provider` (only a task: no provider could be given).
    pub outcome: String,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct HandOverReport {
    pub affected: Vec<AffectedClient>,
}

/// The (client, group) pairs in scope that have the provider on or after the date.
async fn candidates(state: &AppState, scope: &HandOverScope, group: Option<&str>, from: Date) -> ApiResult<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT DISTINCT c.client_id, c.service_group, cl.name FROM choices c JOIN clients cl ON cl.id = c.client_id \
         WHERE c.provider_id = $1 AND c.status = 'active' AND (c.valid_to IS NULL OR c.valid_to >= $2) \
         AND ($3 = '' OR cl.area_code = $3) AND ($4 = '' OR c.service_group = $4) ORDER BY cl.name, c.client_id, c.service_group",
    )
    .bind(&scope.provider_id)
    .bind(from.to_string())
    .bind(scope.area_code.as_deref().unwrap_or(""))
    .bind(group.unwrap_or(""))
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let g = |c: &str| r.try_get::<String, _>(c).map_err(|e| ApiError::Internal(e.into()));
            Ok((g("client_id")?, g("service_group")?, g("name")?))
        })
        .collect()
}

/// Clients in scope who have the provider only through an assignment made
/// before choices were recorded: (client, group, name, first day).
async fn unrecorded(
    state: &AppState,
    scope: &HandOverScope,
    group: Option<&str>,
    from: Date,
) -> ApiResult<Vec<(String, String, String, String)>> {
    let rows = sqlx::query(&format!(
        "SELECT a.client_id, st.service_group, cl.name, MIN(a.start_date) AS start_date FROM assignments a \
         JOIN clients cl ON cl.id = a.client_id JOIN service_types st ON st.code = a.service_type \
         WHERE a.provider_id = $1 AND (a.end_date IS NULL OR a.end_date >= $2) {} \
         AND ($3 = '' OR cl.area_code = $3) AND ($4 = '' OR st.service_group = $4) \
         AND NOT EXISTS (SELECT 1 FROM current_choice cc WHERE cc.client_id = a.client_id AND cc.service_group = st.service_group) \
         GROUP BY a.client_id, st.service_group, cl.name ORDER BY cl.name, a.client_id",
        super::deps::LIVE_ASSIGNMENT
    ))
    .bind(&scope.provider_id)
    .bind(from.to_string())
    .bind(scope.area_code.as_deref().unwrap_or(""))
    .bind(group.unwrap_or(""))
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .filter(|r| r.try_get::<String, _>("service_group").is_ok_and(|g| super::CHOICE_GROUPS.contains(&g.as_str())))
        .map(|r| {
            let g = |c: &str| r.try_get::<String, _>(c).map_err(|e| ApiError::Internal(e.into()));
            Ok((g("client_id")?, g("service_group")?, g("name")?, g("start_date")?))
        })
        .collect()
}

/// Records those assignments as choices first, so the hand-over finds them.
async fn adopt_in_scope(state: &AppState, scope: &HandOverScope, group: Option<&str>, from: Date) -> ApiResult<()> {
    let mut done = std::collections::HashSet::new();
    for (id, ..) in unrecorded(state, scope, group, from).await? {
        if done.insert(id.clone()) {
            if let Some(client) = crate::clients::get(state, &id).await? {
                super::adopt_assignments(state, &client).await?;
            }
        }
    }
    Ok(())
}

/// What happens to one client's timeline.
enum Step {
    /// Nothing: the provider is gone before the date anyway.
    Skip,
    /// A default from `from` (a re-choice task with it).
    Default { from: Date },
    /// The pending switch `head` moves to `from`; `prev` (the leaving provider's row) ends the day before.
    BringForward { from: Date },
}

fn step(timeline: &Timeline, provider: &str, from: Date) -> Step {
    let Some(head) = timeline.head() else { return Step::Skip };
    if head.provider_id == provider {
        return Step::Default { from: from.max(head.from) };
    }
    let prev = timeline.segments.iter().filter(|s| s.from < head.from).max_by_key(|s| s.from);
    if prev.is_some_and(|p| p.provider_id == provider) && head.from > from {
        return Step::BringForward { from };
    }
    Step::Skip
}

fn scope_group(state_types: &[crate::setup::model::ServiceType], scope: &HandOverScope) -> ApiResult<Option<String>> {
    match &scope.service_type {
        None => Ok(None),
        Some(st) => state_types
            .iter()
            .find(|t| &t.code == st)
            .map(|t| Some(t.group.clone()))
            .ok_or_else(|| ApiError::field("service_type", "unknown_service_type", format!("no service type {st}"))),
    }
}

async fn prepare(state: &AppState, scope: &HandOverScope) -> ApiResult<(Option<String>, Date)> {
    if crate::providers::get(state, &scope.provider_id).await?.is_none() {
        return Err(ApiError::NotFound("provider"));
    }
    let types = {
        let mut c = state.db.pool.acquire().await?;
        crate::setup::store::service_types(&mut c).await?
    };
    let group = scope_group(&types, scope)?;
    Ok((group, scope.effective_date.max(state.today())))
}

/// Who would be affected, and how, without changing anything. Audited as a
/// list of the clients shown.
pub async fn hand_over_preview(state: &AppState, who: &Principal, scope: &HandOverScope) -> ApiResult<Vec<AffectedClient>> {
    let (group, from) = prepare(state, scope).await?;
    // Unrecorded assignments count as a timeline of one row, as they will once recorded.
    let mut todo: Vec<(String, String, String, Option<Timeline>)> =
        candidates(state, scope, group.as_deref(), from).await?.into_iter().map(|(c, g, n)| (c, g, n, None)).collect();
    for (c, g, n, start) in unrecorded(state, scope, group.as_deref(), from).await? {
        let segment = rules::Segment {
            id: String::new(),
            provider_id: scope.provider_id.clone(),
            from: super::parse_date(&start)?,
            to: None,
            hand_over: false,
            default: false,
        };
        todo.push((c, g, n, Some(Timeline { segments: vec![segment], ..Timeline::default() })));
    }
    let mut out = Vec::new();
    for (client_id, g, name, virtual_timeline) in todo {
        let Some(client) = crate::clients::get(state, &client_id).await? else { continue };
        let timeline = match virtual_timeline {
            Some(t) => t,
            None => {
                let mut c = state.db.pool.acquire().await?;
                super::load_timeline(&mut c, &client_id, &g).await?
            }
        };
        let (outcome, on, default_provider_id) = match step(&timeline, &scope.provider_id, from) {
            Step::Skip => continue,
            Step::BringForward { from } => ("switch_brought_forward", from, None),
            Step::Default { from } => match super::group_context(state, &client, &g).await? {
                Some(ctx) => match super::pick_default(state, &client, &ctx, from, Some(&scope.provider_id)).await {
                    Ok(p) => ("moved_to_default", from, Some(p.provider_id)),
                    Err(ApiError::Rule { .. }) => ("no_default_provider", from, None),
                    Err(e) => return Err(e),
                },
                None => ("no_default_provider", from, None),
            },
        };
        out.push(AffectedClient {
            client_id,
            client_name: name,
            service_group: g,
            from: on.to_string(),
            default_provider_id,
            default_choice_id: None,
            task_id: None,
            outcome: outcome.into(),
        });
    }
    let mut ids: Vec<String> = out.iter().map(|a| a.client_id.clone()).collect();
    ids.sort();
    ids.dedup();
    audit::record_client_list(state, who, &ids, &format!("hand-over preview of provider {}", scope.provider_id)).await?;
    Ok(out)
}

/// Hands the provider's clients in scope over (see the module comment).
/// Idempotent: a second call for the same scope and date changes nothing.
/// Call it after your own transaction has committed.
pub async fn hand_over(state: &AppState, who: &Principal, scope: &HandOverScope) -> ApiResult<HandOverReport> {
    let (group, from) = prepare(state, scope).await?;
    adopt_in_scope(state, scope, group.as_deref(), from).await?;
    let actor =
        Actor { user_id: Some(who.user_id.clone()), username: who.username.clone(), role: who.role().as_str().into(), on_behalf: true };
    let mut report = HandOverReport::default();
    for (client_id, g, name) in candidates(state, scope, group.as_deref(), from).await? {
        if let Some(a) = hand_over_one(state, &actor, scope, &client_id, &g, from).await? {
            audit::record(
                state,
                who,
                Event {
                    action: AuditAction::Update,
                    subject_type: "choice",
                    subject_id: a.default_choice_id.as_deref().unwrap_or(&client_id),
                    client_id: Some(&client_id),
                    detail: format!(
                        "hand-over from provider {} ({}): {} from {}",
                        scope.provider_id,
                        scope.reason.code(),
                        a.outcome,
                        a.from
                    ),
                },
            )
            .await?;
            report.affected.push(AffectedClient { client_name: name, ..a });
        }
    }
    Ok(report)
}

async fn hand_over_one(
    state: &AppState,
    actor: &Actor,
    scope: &HandOverScope,
    client_id: &str,
    group: &str,
    from: Date,
) -> ApiResult<Option<AffectedClient>> {
    let Some(client) = crate::clients::get(state, client_id).await? else { return Ok(None) };
    let ctx = super::group_context(state, &client, group).await?;
    for _ in 0..super::RETRIES {
        let timeline = {
            let mut c = state.db.pool.acquire().await?;
            super::load_timeline(&mut c, client_id, group).await?
        };
        let affected = |on: Date, outcome: &str| AffectedClient {
            client_id: client_id.into(),
            client_name: client.name.clone(),
            service_group: group.into(),
            from: on.to_string(),
            default_provider_id: None,
            default_choice_id: None,
            task_id: None,
            outcome: outcome.into(),
        };
        match step(&timeline, &scope.provider_id, from) {
            Step::Skip => return Ok(None),
            Step::BringForward { from: on } => {
                if bring_forward(state, client_id, group, &timeline, on).await? {
                    return Ok(Some(affected(on, "switch_brought_forward")));
                }
            }
            Step::Default { from: on } => {
                let task = NewTask { reason: scope.reason.code(), from_provider_id: scope.provider_id.clone(), due_date: on };
                let pick = match &ctx {
                    Some(ctx) => match super::pick_default(state, &client, ctx, on, Some(&scope.provider_id)).await {
                        Ok(p) => Some((ctx, p)),
                        Err(ApiError::Rule { .. }) => None,
                        Err(e) => return Err(e),
                    },
                    None => None,
                };
                let Some((ctx, pick)) = pick else {
                    // No one can take them: the case officers must find a provider.
                    let task_id = task_only(state, client_id, group, &task).await?;
                    return Ok(Some(AffectedClient { task_id: Some(task_id), ..affected(on, "no_default_provider") }));
                };
                let plan: Plan = rules::plan_start(&timeline.segments, on, false);
                let new = NewChoice {
                    provider_id: pick.provider_id.clone(),
                    kind: "default",
                    reason: "hand_over",
                    default_rule: Some(pick.rule.clone()),
                };
                let change = Change {
                    client_id,
                    ctx,
                    timeline: &timeline,
                    plan: &plan,
                    new: &new,
                    actor,
                    rotation: pick.rotation.as_ref(),
                    task: Some(&task),
                };
                match super::commit(state, &change).await? {
                    Committed::Done { choice_id, task_id } => {
                        return Ok(Some(AffectedClient {
                            default_provider_id: Some(pick.provider_id),
                            default_choice_id: Some(choice_id),
                            task_id,
                            ..affected(on, "moved_to_default")
                        }))
                    }
                    // Someone chose or took the rotation turn meanwhile: look again.
                    Committed::Lost(Lost::Head | Lost::Rotation) => continue,
                }
            }
        }
    }
    Err(ApiError::conflict(
        "choice_conflict",
        format!("the choices of client {client_id} kept changing during the hand-over; run it again"),
    ))
}

/// Moves a pending switch to start on `on`, ending the leaving provider's
/// row the day before. False when the timeline changed meanwhile.
async fn bring_forward(state: &AppState, client_id: &str, group: &str, timeline: &Timeline, on: Date) -> ApiResult<bool> {
    let Some(head) = timeline.head() else { return Ok(false) };
    let prev = timeline.segments.iter().filter(|s| s.from < head.from).max_by_key(|s| s.from);
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    sqlx::query("UPDATE choices SET valid_from = $1 WHERE id = $2 AND status = 'active'")
        .bind(on.to_string())
        .bind(&head.id)
        .execute(&mut *tx)
        .await?;
    if let Some(p) = prev {
        let to = rules::prev_day(on);
        if to < p.from {
            sqlx::query("UPDATE choices SET status = 'cancelled', cancelled_at = $1 WHERE id = $2")
                .bind(&now)
                .bind(&p.id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("UPDATE choices SET valid_to = $1 WHERE id = $2").bind(to.to_string()).bind(&p.id).execute(&mut *tx).await?;
        }
    }
    if !super::move_head(&mut tx, client_id, group, &head.id, timeline.version, &now).await? {
        return Ok(false);
    }
    super::sync_assignments(&mut tx, client_id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(true)
}

async fn task_only(state: &AppState, client_id: &str, group: &str, t: &NewTask) -> ApiResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO choice_tasks (id, client_id, service_group, reason, from_provider_id, default_choice_id, due_date, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6, 'open', $7) ON CONFLICT (client_id, service_group, from_provider_id, due_date) DO NOTHING",
    )
    .bind(&id)
    .bind(client_id)
    .bind(group)
    .bind(t.reason)
    .bind(&t.from_provider_id)
    .bind(t.due_date.to_string())
    .bind(stamp(state.clock.now()))
    .execute(&state.db.pool)
    .await?;
    let existing: String = sqlx::query_scalar(
        "SELECT id FROM choice_tasks WHERE client_id = $1 AND service_group = $2 AND from_provider_id = $3 AND due_date = $4",
    )
    .bind(client_id)
    .bind(group)
    .bind(&t.from_provider_id)
    .bind(t.due_date.to_string())
    .fetch_one(&state.db.pool)
    .await?;
    Ok(existing)
}
