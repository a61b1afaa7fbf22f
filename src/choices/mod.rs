//! The choice itself (step 4 of the domain): a client, or a case officer on
//! their behalf, chooses a provider per service group; whoever does not
//! choose gets the default provider by the choice system's rule; a switch
//! takes effect after the notice period; a provider that leaves hands its
//! clients over to a new choice.
//!
//! History: every choice is a row in `choices`, never deleted. The rows of
//! one client and group form a timeline (see `rules::Segment`); the head of
//! the timeline is `current_choice`, whose primary key and `version` make
//! two simultaneous choices end in exactly one (the loser gets 409
//! `choice_conflict`). Every change hands all of the client's provider
//! periods to `assignments::sync_client` in the same transaction, so an
//! effective choice and a decision always yield an assignment.
//!
//! Transactions here start with a write (on SQLite a read-then-write
//! transaction can fail at once instead of waiting for the lock); every read
//! that decides something happens before, and a conditional write checks
//! that nothing changed in between.

pub mod api;
pub mod demo;
mod deps;
pub mod handover;
pub mod rules;
pub mod tasks;
pub mod web;

pub use handover::{hand_over, hand_over_preview, AffectedClient, HandOverReason, HandOverReport, HandOverScope};

use crate::app::AppState;
use crate::auth::{Principal, PrincipalKind};
use crate::clients::Client;
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult};
use jiff::civil::Date;
use rules::{Plan, Segment};
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

/// The service groups a client chooses a provider for. Night patrol and
/// safety alarms are run by the municipality and not chosen.
pub const CHOICE_GROUPS: &[&str] = &["service", "personal_care", "health_care", "escort", "respite", "meals"];

/// How many times a change that lost a race on a shared pointer (the
/// rotation) is recomputed before giving up with 409.
const RETRIES: usize = 8;

/// One choice or default assignment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Choice {
    pub id: String,
    pub client_id: String,
    /// service, personal_care, health_care, escort, respite or meals.
    pub service_group: String,
    pub provider_id: String,
    pub provider_name: String,
    pub choice_system_id: Option<String>,
    /// `chosen` (by the client, or a case officer for them) or `default`.
    pub kind: String,
    /// `choice` (first), `switch`, `no_choice` (default), `hand_over` (default
    /// because the provider left) or `recorded` (taken over from an existing assignment).
    pub reason: String,
    /// The rule that picked a default: municipal, rotation or lou_share.
    pub default_rule: Option<String>,
    /// First day with this provider.
    pub valid_from: String,
    /// Last day (inclusive); null while open-ended.
    pub valid_to: Option<String>,
    /// `active` or `cancelled` (replaced before it took effect).
    pub status: String,
    /// Today: `pending`, `current`, `ended` or `cancelled`.
    pub state: String,
    pub replaces_id: Option<String>,
    pub chosen_by: String,
    pub chosen_by_role: String,
    /// A case officer registered it for the client.
    pub on_behalf: bool,
    pub created_at: String,
    /// The confirmation letter (printable HTML).
    pub letter_url: String,
}

const CHOICE_SELECT: &str = "SELECT c.id, c.client_id, c.service_group, c.provider_id, p.name AS provider_name, c.choice_system_id, \
     c.kind, c.reason, c.default_rule, c.valid_from, c.valid_to, c.status, c.replaces_id, c.chosen_by_username, c.chosen_by_role, \
     c.on_behalf, c.created_at FROM choices c JOIN providers p ON p.id = c.provider_id";

fn col(r: &crate::db::Row, c: &str) -> ApiResult<String> {
    Ok(r.try_get::<String, _>(c).map_err(anyhow::Error::from)?)
}

fn opt(r: &crate::db::Row, c: &str) -> ApiResult<Option<String>> {
    Ok(r.try_get::<Option<String>, _>(c).map_err(anyhow::Error::from)?)
}

pub fn parse_date(s: &str) -> ApiResult<Date> {
    s.parse::<Date>().map_err(|e| ApiError::Internal(anyhow::anyhow!("stored date {s:?}: {e}")))
}

fn choice_from_row(r: &crate::db::Row, today: Date) -> ApiResult<Choice> {
    let id = col(r, "id")?;
    let status = col(r, "status")?;
    let valid_from = col(r, "valid_from")?;
    let valid_to = opt(r, "valid_to")?;
    let today_s = today.to_string();
    let state = if status == "cancelled" {
        "cancelled"
    } else if valid_from > today_s {
        "pending"
    } else if valid_to.as_ref().is_some_and(|t| *t < today_s) {
        "ended"
    } else {
        "current"
    };
    Ok(Choice {
        letter_url: format!("/letters/choice/{id}"),
        id,
        client_id: col(r, "client_id")?,
        service_group: col(r, "service_group")?,
        provider_id: col(r, "provider_id")?,
        provider_name: col(r, "provider_name")?,
        choice_system_id: opt(r, "choice_system_id")?,
        kind: col(r, "kind")?,
        reason: col(r, "reason")?,
        default_rule: opt(r, "default_rule")?,
        valid_from,
        valid_to,
        status,
        state: state.into(),
        replaces_id: opt(r, "replaces_id")?,
        chosen_by: col(r, "chosen_by_username")?,
        chosen_by_role: col(r, "chosen_by_role")?,
        on_behalf: crate::db::get_flag(r, "on_behalf").map_err(anyhow::Error::from)?,
        created_at: col(r, "created_at")?,
    })
}

pub async fn get(state: &AppState, id: &str) -> ApiResult<Option<Choice>> {
    let row = sqlx::query(&format!("{CHOICE_SELECT} WHERE c.id = $1")).bind(id).fetch_optional(&state.db.pool).await?;
    row.as_ref().map(|r| choice_from_row(r, state.today())).transpose()
}

/// Every choice of a client, newest first (by start, then registration).
pub async fn history(state: &AppState, client_id: &str) -> ApiResult<Vec<Choice>> {
    let rows = sqlx::query(&format!(
        "{CHOICE_SELECT} WHERE c.client_id = $1 ORDER BY c.service_group, c.valid_from DESC, c.created_at DESC, c.id DESC"
    ))
    .bind(client_id)
    .fetch_all(&state.db.pool)
    .await?;
    let today = state.today();
    rows.iter().map(|r| choice_from_row(r, today)).collect()
}

/// Who registered a change, recorded on the row.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<String>,
    pub username: String,
    pub role: String,
    pub on_behalf: bool,
}

impl Actor {
    pub fn of(who: &Principal) -> Actor {
        Actor {
            user_id: Some(who.user_id.clone()),
            username: who.username.clone(),
            role: who.role().as_str().into(),
            on_behalf: !matches!(who.kind, PrincipalKind::Citizen { .. }),
        }
    }
}

/// What a group means for one client: the service types that must be
/// covered, the choice system offering them in the client's area, its
/// default rule and notice period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupContext {
    pub service_group: String,
    /// The types the chosen provider must be eligible for: those granted by
    /// the client's decisions in this group, or (with no decision yet) every
    /// type of the group offered in the area.
    pub service_types: Vec<String>,
    /// The client has a decision granting a service in this group.
    pub granted: bool,
    pub choice_system_id: String,
    pub default_rule: String,
    pub notice_days: i64,
}

/// The group as offered to this client; None when no choice system covers
/// it in the client's area.
pub async fn group_context(state: &AppState, client: &Client, group: &str) -> ApiResult<Option<GroupContext>> {
    let mut c = state.db.pool.acquire().await?;
    let rows = sqlx::query(
        "SELECT st.code, css.choice_system_id, cs.default_rule FROM service_types st \
         JOIN choice_system_services css ON css.service_type = st.code \
         JOIN choice_system_areas csa ON csa.choice_system_id = css.choice_system_id AND csa.area_code = $2 \
         JOIN choice_systems cs ON cs.id = css.choice_system_id \
         WHERE st.service_group = $1 ORDER BY st.code",
    )
    .bind(group)
    .bind(&client.area_code)
    .fetch_all(&mut *c)
    .await?;
    let offered: Vec<(String, String, String)> =
        rows.iter().map(|r| Ok((col(r, "code")?, col(r, "choice_system_id")?, col(r, "default_rule")?))).collect::<ApiResult<_>>()?;
    if offered.is_empty() {
        return Ok(None);
    }
    let granted: Vec<String> = deps::granted_types(&mut c, &client.id, state.today())
        .await?
        .into_iter()
        .filter(|t| offered.iter().any(|(code, _, _)| code == t))
        .collect();
    let is_granted = !granted.is_empty();
    let service_types = if is_granted { granted } else { offered.iter().map(|(c, _, _)| c.clone()).collect() };
    let (_, system, rule) = offered.iter().find(|(code, _, _)| *code == service_types[0]).cloned().unwrap_or_else(|| offered[0].clone());
    let notice_days = notice_days(&mut c, &system, state.today()).await?;
    Ok(Some(GroupContext {
        service_group: group.into(),
        service_types,
        granted: is_granted,
        choice_system_id: system,
        default_rule: rule,
        notice_days,
    }))
}

/// The notice period of the conditions in force (the first version when
/// none is in force yet; 14 days when the system has no conditions at all).
async fn notice_days(c: &mut AnyConnection, system: &str, today: Date) -> ApiResult<i64> {
    let in_force: Option<i64> = sqlx::query_scalar(
        "SELECT notice_days FROM choice_system_versions WHERE choice_system_id = $1 AND valid_from <= $2 ORDER BY valid_from DESC LIMIT 1",
    )
    .bind(system)
    .bind(today.to_string())
    .fetch_optional(&mut *c)
    .await?;
    if let Some(n) = in_force {
        return Ok(n);
    }
    let first: Option<i64> =
        sqlx::query_scalar("SELECT notice_days FROM choice_system_versions WHERE choice_system_id = $1 ORDER BY valid_from LIMIT 1")
            .bind(system)
            .fetch_optional(&mut *c)
            .await?;
    Ok(first.unwrap_or(14))
}

/// Is `provider_id` eligible for every service type of the group on `on`?
/// Err carries the code of the first rule that failed.
pub async fn eligibility(
    state: &AppState,
    provider_id: &str,
    ctx: &GroupContext,
    area_code: &str,
    on: Date,
) -> ApiResult<Result<(), &'static str>> {
    for st in &ctx.service_types {
        if let Err(code) = deps::check(state, provider_id, st, area_code, on).await? {
            return Ok(Err(code));
        }
    }
    Ok(Ok(()))
}

/// The providers eligible for every service type of the group on `on`.
pub async fn eligible_providers(state: &AppState, ctx: &GroupContext, area_code: &str, on: Date) -> ApiResult<Vec<String>> {
    let mut out: Option<Vec<String>> = None;
    for st in &ctx.service_types {
        let these = deps::eligible(state, st, area_code, on).await?;
        out = Some(match out {
            None => these,
            Some(prev) => prev.into_iter().filter(|p| these.contains(p)).collect(),
        });
    }
    Ok(out.unwrap_or_default())
}

/// The timeline of one client and group, and the head's version.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub segments: Vec<Segment>,
    pub version: Option<i64>,
    pub head_id: Option<String>,
}

impl Timeline {
    /// The latest row: the pending one if there is one, else the current.
    pub fn head(&self) -> Option<&Segment> {
        self.segments.iter().max_by_key(|s| s.from)
    }
}

pub async fn load_timeline(c: &mut AnyConnection, client_id: &str, group: &str) -> ApiResult<Timeline> {
    // The version first: a change in between shows up as a lost conditional update.
    let head = sqlx::query("SELECT choice_id, version FROM current_choice WHERE client_id = $1 AND service_group = $2")
        .bind(client_id)
        .bind(group)
        .fetch_optional(&mut *c)
        .await?;
    let (head_id, version) = match head {
        Some(r) => (Some(col(&r, "choice_id")?), Some(r.try_get::<i64, _>("version").map_err(anyhow::Error::from)?)),
        None => (None, None),
    };
    let rows = sqlx::query(
        "SELECT id, provider_id, valid_from, valid_to, reason, kind FROM choices \
         WHERE client_id = $1 AND service_group = $2 AND status = 'active' ORDER BY valid_from",
    )
    .bind(client_id)
    .bind(group)
    .fetch_all(&mut *c)
    .await?;
    let segments = rows
        .iter()
        .map(|r| {
            Ok(Segment {
                id: col(r, "id")?,
                provider_id: col(r, "provider_id")?,
                from: parse_date(&col(r, "valid_from")?)?,
                to: opt(r, "valid_to")?.map(|t| parse_date(&t)).transpose()?,
                hand_over: col(r, "reason")? == "hand_over",
                default: col(r, "kind")? == "default",
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(Timeline { segments, version, head_id })
}

/// A new row for the timeline.
#[derive(Debug, Clone)]
pub struct NewChoice {
    pub provider_id: String,
    pub kind: &'static str,
    pub reason: &'static str,
    pub default_rule: Option<String>,
}

/// A rotation turn to take in the same transaction (first, as its write).
#[derive(Debug, Clone)]
pub struct RotationTurn {
    pub choice_system_id: String,
    pub service_group: String,
    pub area_code: String,
    pub seen_turns: Option<i64>,
    pub provider_id: String,
}

/// A change lost a race: the head or the rotation pointer moved since it was read.
#[derive(Debug)]
pub enum Lost {
    Head,
    Rotation,
}

pub enum Committed {
    Done { choice_id: String, task_id: Option<String> },
    Lost(Lost),
}

/// A re-choice task written with a hand-over default.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub reason: &'static str,
    pub from_provider_id: String,
    pub due_date: Date,
}

/// One planned change of one client's timeline for one group.
pub struct Change<'a> {
    pub client_id: &'a str,
    pub ctx: &'a GroupContext,
    pub timeline: &'a Timeline,
    pub plan: &'a Plan,
    pub new: &'a NewChoice,
    pub actor: &'a Actor,
    pub rotation: Option<&'a RotationTurn>,
    pub task: Option<&'a NewTask>,
}

/// Writes a planned change in one transaction: the rotation turn (if any),
/// the new row, the rows it cancels or ends, the head (conditional on the
/// version read with the timeline), the re-choice task or the closing of
/// open ones when the client chose, and re-derives the client's assignments.
pub async fn commit(state: &AppState, ch: &Change<'_>) -> ApiResult<Committed> {
    let now = stamp(state.clock.now());
    let group = &ch.ctx.service_group;
    let mut tx = state.db.pool.begin().await?;
    if let Some(t) = ch.rotation {
        if !take_turn(&mut tx, t, &now).await? {
            return Ok(Committed::Lost(Lost::Rotation));
        }
    }
    let head_id = match ch.plan {
        Plan::Refuse(code) => return Err(ApiError::rule(code, rule_detail(code))),
        Plan::StayWithCurrent { cancel, reopen } => {
            sqlx::query("UPDATE choices SET valid_to = NULL WHERE id = $1 AND status = 'active'").bind(reopen).execute(&mut *tx).await?;
            cancel_rows(&mut tx, std::slice::from_ref(cancel), &now).await?;
            reopen.clone()
        }
        Plan::Start { from, cancel, end, .. } => {
            let id = uuid::Uuid::now_v7().to_string();
            sqlx::query(
                "INSERT INTO choices (id, client_id, service_group, provider_id, choice_system_id, kind, reason, default_rule, \
                 valid_from, valid_to, status, replaces_id, chosen_by_user_id, chosen_by_username, chosen_by_role, on_behalf, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, 'active', $10, $11, $12, $13, $14, $15)",
            )
            .bind(&id)
            .bind(ch.client_id)
            .bind(group)
            .bind(&ch.new.provider_id)
            .bind(&ch.ctx.choice_system_id)
            .bind(ch.new.kind)
            .bind(ch.new.reason)
            .bind(ch.new.default_rule.as_deref())
            .bind(from.to_string())
            .bind(ch.timeline.head_id.as_deref())
            .bind(ch.actor.user_id.as_deref())
            .bind(&ch.actor.username)
            .bind(&ch.actor.role)
            .bind(crate::db::flag(ch.actor.on_behalf))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            cancel_rows(&mut tx, cancel, &now).await?;
            if let Some((end_id, to)) = end {
                sqlx::query("UPDATE choices SET valid_to = $1 WHERE id = $2 AND status = 'active'")
                    .bind(to.to_string())
                    .bind(end_id)
                    .execute(&mut *tx)
                    .await?;
            }
            id
        }
    };
    if !move_head(&mut tx, ch.client_id, group, &head_id, ch.timeline.version, &now).await? {
        return Ok(Committed::Lost(Lost::Head));
    }
    let mut task_id = None;
    if let Some(t) = ch.task {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO choice_tasks (id, client_id, service_group, reason, from_provider_id, default_choice_id, due_date, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) ON CONFLICT (client_id, service_group, from_provider_id, due_date) DO NOTHING",
        )
        .bind(&id)
        .bind(ch.client_id)
        .bind(group)
        .bind(t.reason)
        .bind(&t.from_provider_id)
        .bind(&head_id)
        .bind(t.due_date.to_string())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        task_id = sqlx::query_scalar(
            "SELECT id FROM choice_tasks WHERE client_id = $1 AND service_group = $2 AND from_provider_id = $3 AND due_date = $4",
        )
        .bind(ch.client_id)
        .bind(group)
        .bind(&t.from_provider_id)
        .bind(t.due_date.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    }
    if ch.new.kind == "chosen" && ch.new.reason != "recorded" {
        sqlx::query(
            "UPDATE choice_tasks SET status = 'done', done_at = $1, done_by = $2, outcome = 'chosen' \
             WHERE client_id = $3 AND service_group = $4 AND status = 'open'",
        )
        .bind(&now)
        .bind(&ch.actor.username)
        .bind(ch.client_id)
        .bind(group)
        .execute(&mut *tx)
        .await?;
    }
    sync_assignments(&mut tx, ch.client_id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Committed::Done { choice_id: head_id, task_id })
}

async fn cancel_rows(c: &mut AnyConnection, ids: &[String], now: &str) -> ApiResult<()> {
    for id in ids {
        sqlx::query("UPDATE choices SET status = 'cancelled', cancelled_at = $1 WHERE id = $2 AND status = 'active'")
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// Moves the head if it is still at the version read; false when someone
/// else moved it first.
pub async fn move_head(
    c: &mut AnyConnection,
    client_id: &str,
    group: &str,
    choice_id: &str,
    seen: Option<i64>,
    now: &str,
) -> ApiResult<bool> {
    let done = match seen {
        Some(v) => {
            sqlx::query(
                "UPDATE current_choice SET choice_id = $1, version = version + 1, updated_at = $2 \
                 WHERE client_id = $3 AND service_group = $4 AND version = $5",
            )
            .bind(choice_id)
            .bind(now)
            .bind(client_id)
            .bind(group)
            .bind(v)
            .execute(&mut *c)
            .await?
        }
        None => {
            sqlx::query(
                "INSERT INTO current_choice (client_id, service_group, choice_id, version, updated_at) VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT (client_id, service_group) DO NOTHING",
            )
            .bind(client_id)
            .bind(group)
            .bind(choice_id)
            .bind(now)
            .execute(&mut *c)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

async fn take_turn(c: &mut AnyConnection, t: &RotationTurn, now: &str) -> ApiResult<bool> {
    let done = match t.seen_turns {
        Some(turns) => {
            sqlx::query(
                "UPDATE default_rotation SET last_provider_id = $1, turns = turns + 1, updated_at = $2 \
                 WHERE choice_system_id = $3 AND service_group = $4 AND area_code = $5 AND turns = $6",
            )
            .bind(&t.provider_id)
            .bind(now)
            .bind(&t.choice_system_id)
            .bind(&t.service_group)
            .bind(&t.area_code)
            .bind(turns)
            .execute(&mut *c)
            .await?
        }
        None => {
            sqlx::query(
                "INSERT INTO default_rotation (choice_system_id, service_group, area_code, last_provider_id, turns, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (choice_system_id, service_group, area_code) DO NOTHING",
            )
            .bind(&t.choice_system_id)
            .bind(&t.service_group)
            .bind(&t.area_code)
            .bind(&t.provider_id)
            .bind(now)
            .execute(&mut *c)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// Every provider period of the client (all groups), from the rows that
/// are not cancelled, handed to the assignments module.
pub async fn sync_assignments(c: &mut AnyConnection, client_id: &str, now: jiff::Timestamp) -> ApiResult<()> {
    let rows = sqlx::query(
        "SELECT id, service_group, provider_id, valid_from, valid_to FROM choices WHERE client_id = $1 AND status = 'active' \
         ORDER BY service_group, valid_from",
    )
    .bind(client_id)
    .fetch_all(&mut *c)
    .await?;
    let mut periods = Vec::with_capacity(rows.len());
    for r in &rows {
        periods.push(deps::Period {
            service_group: col(r, "service_group")?,
            provider_id: col(r, "provider_id")?,
            from: parse_date(&col(r, "valid_from")?)?,
            to: opt(r, "valid_to")?.map(|t| parse_date(&t)).transpose()?,
            choice_id: Some(col(r, "id")?),
        });
    }
    deps::sync(c, client_id, &periods, now).await
}

/// English detail for a rule code of this module or of eligibility.
pub fn rule_detail(code: &str) -> String {
    match code {
        "already_chosen" => "this provider is already the client's choice for the service group".into(),
        "provider_leaving" => "the current provider stops serving the client; choose another provider".into(),
        "group_not_offered" => "no choice system offers this service group in the client's area".into(),
        "no_default_provider" => "no provider can be given as default for this service group in the client's area".into(),
        "already_has_provider" => {
            "the client already has a provider for this service group; a default is only for those who have none".into()
        }
        "not_active" => "the provider has no active contract for this service on that date".into(),
        "not_approved_for_service" => "the provider is not approved for this service".into(),
        "not_approved_for_area" => "the provider is not approved for the client's area".into(),
        "closed_for_new_clients" => "the provider is closed for new clients".into(),
        "area_closed_to_private" => "the municipality has closed the client's area to private providers for this service".into(),
        "at_capacity" => "the provider has reached its capacity ceiling".into(),
        other => format!("refused by rule {other}"),
    }
}

pub async fn load_client(state: &AppState, client_id: &str) -> ApiResult<Client> {
    crate::clients::get(state, client_id).await?.ok_or(ApiError::NotFound("client"))
}

fn check_group(group: &str) -> ApiResult<()> {
    if CHOICE_GROUPS.contains(&group) {
        Ok(())
    } else {
        Err(ApiError::field("service_group", "not_allowed", format!("must be one of: {}", CHOICE_GROUPS.join(", "))))
    }
}

/// A client's choice of `provider_id` for `group`, registered by `actor`.
/// Access is the caller's business.
pub async fn choose(state: &AppState, actor: &Actor, client_id: &str, group: &str, provider_id: &str) -> ApiResult<Choice> {
    check_group(group)?;
    let client = load_client(state, client_id).await?;
    if crate::providers::get(state, provider_id).await?.is_none() {
        return Err(ApiError::field("provider_id", "unknown_provider", "no such provider"));
    }
    let ctx =
        group_context(state, &client, group).await?.ok_or_else(|| ApiError::rule("group_not_offered", rule_detail("group_not_offered")))?;
    adopt_assignments(state, &client).await?;
    let today = state.today();
    let timeline = {
        let mut c = state.db.pool.acquire().await?;
        load_timeline(&mut c, client_id, group).await?
    };
    let plan = rules::plan_choice(today, ctx.notice_days, &timeline.segments, provider_id);
    let reason = match &plan {
        Plan::Refuse(code) => return Err(ApiError::rule(code, rule_detail(code))),
        Plan::StayWithCurrent { .. } => "switch",
        Plan::Start { from, first, .. } => {
            // Choosing the provider one already has by default is no new client for it.
            let same = timeline.head().is_some_and(|h| h.provider_id == provider_id);
            if !same {
                if let Err(code) = eligibility(state, provider_id, &ctx, &client.area_code, *from).await? {
                    return Err(ApiError::rule(code, rule_detail(code)));
                }
            }
            if *first || same {
                "choice"
            } else {
                "switch"
            }
        }
    };
    let new = NewChoice { provider_id: provider_id.into(), kind: "chosen", reason, default_rule: None };
    let change = Change { client_id, ctx: &ctx, timeline: &timeline, plan: &plan, new: &new, actor, rotation: None, task: None };
    match commit(state, &change).await? {
        Committed::Done { choice_id, .. } => get(state, &choice_id).await?.ok_or(ApiError::NotFound("choice")),
        Committed::Lost(_) => Err(ApiError::conflict(
            "choice_conflict",
            "another choice for this client and service group was registered at the same time; reload and try again",
        )),
    }
}

/// The default provider for a client and group on `on`, and the rotation
/// turn to take if the rotation rule picked it.
pub struct DefaultPick {
    pub provider_id: String,
    pub rule: String,
    pub rotation: Option<RotationTurn>,
}

pub async fn pick_default(
    state: &AppState,
    client: &Client,
    ctx: &GroupContext,
    on: Date,
    exclude: Option<&str>,
) -> ApiResult<DefaultPick> {
    let mut eligible = eligible_providers(state, ctx, &client.area_code, on).await?;
    if let Some(x) = exclude {
        eligible.retain(|p| p != x);
    }
    let mut c = state.db.pool.acquire().await?;
    match ctx.default_rule.as_str() {
        "rotation" => {
            let row = sqlx::query(
                "SELECT last_provider_id, turns FROM default_rotation WHERE choice_system_id = $1 AND service_group = $2 AND area_code = $3",
            )
            .bind(&ctx.choice_system_id)
            .bind(&ctx.service_group)
            .bind(&client.area_code)
            .fetch_optional(&mut *c)
            .await?;
            let (last, seen) = match row {
                Some(r) => (opt(&r, "last_provider_id")?, Some(r.try_get::<i64, _>("turns").map_err(anyhow::Error::from)?)),
                None => (None, None),
            };
            if let Some(p) = rules::rotation(&eligible, last.as_deref()) {
                return Ok(DefaultPick {
                    provider_id: p.into(),
                    rule: "rotation".into(),
                    rotation: Some(RotationTurn {
                        choice_system_id: ctx.choice_system_id.clone(),
                        service_group: ctx.service_group.clone(),
                        area_code: client.area_code.clone(),
                        seen_turns: seen,
                        provider_id: p.into(),
                    }),
                });
            }
        }
        "lou_share" => {
            let holders = share_holders(&mut c, &ctx.choice_system_id, on, &eligible).await?;
            let market = market_minutes(&mut c, &ctx.choice_system_id, on).await?;
            let incoming = incoming_minutes(&mut c, &client.id, ctx, on).await?;
            if let Some(p) = rules::lou_share(&holders, market, incoming) {
                return Ok(DefaultPick { provider_id: p.into(), rule: "lou_share".into(), rotation: None });
            }
        }
        _ => {}
    }
    // The municipal rule, and the fallback of the others when no one qualifies.
    let mut units: Vec<String> =
        sqlx::query_scalar("SELECT id FROM providers WHERE ownership = 'municipal' ORDER BY id").fetch_all(&mut *c).await?;
    if let Some(x) = exclude {
        units.retain(|p| p != x);
    }
    match rules::municipal(&units, &eligible) {
        Some(p) => Ok(DefaultPick { provider_id: p.into(), rule: "municipal".into(), rotation: None }),
        None => Err(ApiError::rule("no_default_provider", rule_detail("no_default_provider"))),
    }
}

/// Target shares in force on `on`, with each holder's current granted minutes.
async fn share_holders(c: &mut AnyConnection, system: &str, on: Date, eligible: &[String]) -> ApiResult<Vec<rules::ShareHolder>> {
    let targets = share_targets_on(c, system, on).await?;
    let minutes = provider_minutes(c, system, on).await?;
    Ok(targets
        .into_iter()
        .map(|(provider_id, target_permille)| rules::ShareHolder {
            current_minutes: minutes.get(&provider_id).copied().unwrap_or(0),
            eligible: eligible.contains(&provider_id),
            provider_id,
            target_permille,
        })
        .collect())
}

/// (provider, share ‰) in force on `on`, shares of 0 left out.
pub async fn share_targets_on(c: &mut AnyConnection, system: &str, on: Date) -> ApiResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT provider_id, share_permille FROM share_targets WHERE choice_system_id = $1 AND valid_from <= $2 ORDER BY provider_id, valid_from",
    )
    .bind(system)
    .bind(on.to_string())
    .fetch_all(&mut *c)
    .await?;
    let mut latest: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for r in &rows {
        latest.insert(col(r, "provider_id")?, r.try_get::<i64, _>("share_permille").map_err(anyhow::Error::from)?);
    }
    Ok(latest.into_iter().filter(|(_, s)| *s > 0).collect())
}

/// Granted minutes per month each provider carries in the system's hourly
/// services on `on`.
pub async fn provider_minutes(c: &mut AnyConnection, system: &str, on: Date) -> ApiResult<std::collections::HashMap<String, i64>> {
    let rows = sqlx::query(&format!(
        "SELECT a.provider_id, CAST(SUM(a.monthly_amount) AS BIGINT) AS minutes FROM assignments a \
         JOIN service_types st ON st.code = a.service_type \
         JOIN choice_system_services css ON css.service_type = a.service_type \
         WHERE css.choice_system_id = $1 AND st.unit = 'hour' AND a.start_date <= $2 AND (a.end_date IS NULL OR a.end_date >= $2) {} \
         GROUP BY a.provider_id",
        deps::LIVE_ASSIGNMENT
    ))
    .bind(system)
    .bind(on.to_string())
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| Ok((col(r, "provider_id")?, r.try_get::<Option<i64>, _>("minutes").map_err(anyhow::Error::from)?.unwrap_or(0))))
        .collect()
}

/// The granted minutes per month the client brings to this group's
/// provider (hourly services only), counted in the market by the LOU rule.
async fn incoming_minutes(c: &mut AnyConnection, client_id: &str, ctx: &GroupContext, on: Date) -> ApiResult<i64> {
    let hourly: Vec<String> = sqlx::query_scalar("SELECT code FROM service_types WHERE unit = 'hour'").fetch_all(&mut *c).await?;
    Ok(deps::granted(c, client_id, on)
        .await?
        .into_iter()
        .filter(|(t, _)| ctx.service_types.contains(t) && hourly.contains(t))
        .map(|(_, m)| m)
        .sum())
}

async fn market_minutes(c: &mut AnyConnection, system: &str, on: Date) -> ApiResult<i64> {
    Ok(provider_minutes(c, system, on).await?.values().sum())
}

/// Gives a client with no provider for the group the default provider from
/// today (they did not choose).
pub async fn assign_default(state: &AppState, actor: &Actor, client_id: &str, group: &str) -> ApiResult<Choice> {
    check_group(group)?;
    let client = load_client(state, client_id).await?;
    let ctx =
        group_context(state, &client, group).await?.ok_or_else(|| ApiError::rule("group_not_offered", rule_detail("group_not_offered")))?;
    adopt_assignments(state, &client).await?;
    let today = state.today();
    for _ in 0..RETRIES {
        let timeline = {
            let mut c = state.db.pool.acquire().await?;
            load_timeline(&mut c, client_id, group).await?
        };
        if !timeline.segments.is_empty() {
            return Err(ApiError::rule("already_has_provider", rule_detail("already_has_provider")));
        }
        let pick = pick_default(state, &client, &ctx, today, None).await?;
        let plan = rules::plan_start(&timeline.segments, today, true);
        let new = NewChoice {
            provider_id: pick.provider_id.clone(),
            kind: "default",
            reason: "no_choice",
            default_rule: Some(pick.rule.clone()),
        };
        let change = Change {
            client_id,
            ctx: &ctx,
            timeline: &timeline,
            plan: &plan,
            new: &new,
            actor,
            rotation: pick.rotation.as_ref(),
            task: None,
        };
        match commit(state, &change).await? {
            Committed::Done { choice_id, .. } => return get(state, &choice_id).await?.ok_or(ApiError::NotFound("choice")),
            // Someone else took this rotation turn: pick again.
            Committed::Lost(Lost::Rotation) => continue,
            Committed::Lost(Lost::Head) => {
                return Err(ApiError::conflict(
                    "choice_conflict",
                    "another choice for this client and service group was registered at the same time",
                ))
            }
        }
    }
    Err(ApiError::conflict("choice_conflict", "the default rotation was busy; try again"))
}

/// Clients whose provider came from an assignment made before they had a
/// choice (imported data, or assignments made by hand) get that provider
/// recorded as their choice, so the timeline starts from what is true.
pub async fn adopt_assignments(state: &AppState, client: &Client) -> ApiResult<()> {
    let today = state.today().to_string();
    let rows = sqlx::query(&format!(
        "SELECT a.provider_id, st.service_group, MIN(a.start_date) AS start_date FROM assignments a \
         JOIN service_types st ON st.code = a.service_type \
         WHERE a.client_id = $1 AND (a.end_date IS NULL OR a.end_date >= $2) {} \
         AND NOT EXISTS (SELECT 1 FROM current_choice cc WHERE cc.client_id = a.client_id AND cc.service_group = st.service_group) \
         GROUP BY a.provider_id, st.service_group ORDER BY st.service_group, start_date",
        deps::LIVE_ASSIGNMENT
    ))
    .bind(&client.id)
    .bind(&today)
    .fetch_all(&state.db.pool)
    .await?;
    let mut seen_groups = std::collections::HashSet::new();
    for r in &rows {
        let group = col(r, "service_group")?;
        // One provider per group: the earliest assignment is the one the client has.
        if !CHOICE_GROUPS.contains(&group.as_str()) || !seen_groups.insert(group.clone()) {
            continue;
        }
        let Some(ctx) = group_context(state, client, &group).await? else { continue };
        let from = parse_date(&col(r, "start_date")?)?;
        let timeline = Timeline::default();
        let plan = rules::plan_start(&[], from, true);
        let new = NewChoice { provider_id: col(r, "provider_id")?, kind: "chosen", reason: "recorded", default_rule: None };
        let actor = Actor { user_id: None, username: "valfri".into(), role: "system".into(), on_behalf: false };
        // Losing here means someone else recorded or chose first: nothing to do.
        let change = Change {
            client_id: &client.id,
            ctx: &ctx,
            timeline: &timeline,
            plan: &plan,
            new: &new,
            actor: &actor,
            rotation: None,
            task: None,
        };
        commit(state, &change).await?;
    }
    Ok(())
}
