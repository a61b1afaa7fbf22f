//! The demo's choices: every demo client's provider is recorded as a choice
//! (most chose, some got the municipal unit as the default), a few have a
//! switch pending, and one provider withdraws from Lit so the case officers
//! have re-choice tasks. Runs after the clients, assignments, decisions and
//! contracts exist.

use super::{Actor, HandOverReason, HandOverScope};
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::stamp;
use crate::error::ApiError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Row;

fn api_err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code(), e.problem().detail)
}

pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(4);
    let now = stamp(state.clock.now());
    let today = state.today();
    // The provider each client has per group: that of the earliest assignment
    // (ended ones too, so the history the assignments carry stays covered).
    let rows = sqlx::query(&format!(
        "SELECT a.client_id, st.service_group, a.provider_id, p.ownership, MIN(a.start_date) AS start_date FROM assignments a \
         JOIN service_types st ON st.code = a.service_type JOIN providers p ON p.id = a.provider_id \
         WHERE 1 = 1 {} \
         AND NOT EXISTS (SELECT 1 FROM current_choice cc WHERE cc.client_id = a.client_id AND cc.service_group = st.service_group) \
         GROUP BY a.client_id, st.service_group, a.provider_id, p.ownership ORDER BY a.client_id, st.service_group, start_date",
        super::deps::LIVE_ASSIGNMENT
    ))
    .fetch_all(&state.db.pool)
    .await?;
    let systems: Vec<(String, String)> =
        sqlx::query_as("SELECT service_type, choice_system_id FROM choice_system_services").fetch_all(&state.db.pool).await?;
    let group_system: std::collections::HashMap<String, String> = {
        let types: Vec<(String, String)> =
            sqlx::query_as("SELECT code, service_group FROM service_types").fetch_all(&state.db.pool).await?;
        types.into_iter().filter_map(|(code, g)| systems.iter().find(|(st, _)| *st == code).map(|(_, s)| (g, s.clone()))).collect()
    };
    let mut clients = Vec::new();
    let mut tx = state.db.pool.begin().await?;
    let mut last_key = None;
    for r in &rows {
        let client_id: String = r.try_get("client_id")?;
        let group: String = r.try_get("service_group")?;
        if !super::CHOICE_GROUPS.contains(&group.as_str()) || last_key.as_ref() == Some(&(client_id.clone(), group.clone())) {
            continue;
        }
        last_key = Some((client_id.clone(), group.clone()));
        let municipal = r.try_get::<String, _>("ownership")? == "municipal";
        // About four in ten of the municipal unit's clients never chose: they got it as the default.
        let default = municipal && rng.gen_ratio(2, 5);
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO choices (id, client_id, service_group, provider_id, choice_system_id, kind, reason, default_rule, valid_from, valid_to, \
             status, replaces_id, chosen_by_user_id, chosen_by_username, chosen_by_role, on_behalf, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, 'active', NULL, NULL, $10, $11, $12, $13)",
        )
        .bind(&id)
        .bind(&client_id)
        .bind(&group)
        .bind(r.try_get::<String, _>("provider_id")?)
        .bind(group_system.get(&group))
        .bind(if default { "default" } else { "chosen" })
        .bind(if default { "no_choice" } else { "choice" })
        .bind(if default { Some("municipal") } else { None })
        .bind(r.try_get::<String, _>("start_date")?)
        .bind(if default { "valfri" } else { "handlaggare" })
        .bind(if default { "system" } else { "case_officer" })
        .bind(crate::db::flag(!default))
        .bind(format!("{}T09:00:00Z", r.try_get::<String, _>("start_date")?))
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO current_choice (client_id, service_group, choice_id, version, updated_at) VALUES ($1, $2, $3, 1, $4)")
            .bind(&client_id)
            .bind(&group)
            .bind(&id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        if clients.last() != Some(&client_id) {
            clients.push(client_id);
        }
    }
    tx.commit().await?;
    // The assignments module keeps the provider periods: hand them over, a
    // batch of clients per transaction.
    for batch in clients.chunks(100) {
        let mut tx = state.db.pool.begin().await?;
        for c in batch {
            super::sync_assignments(&mut tx, c, state.clock.now()).await.map_err(api_err)?;
        }
        tx.commit().await?;
    }

    let officer = principal(state, "handlaggare").await?;
    let admin = principal(state, "admin").await?;
    // A few switches registered lately, still within the notice period.
    let mut switched = 0;
    for client_id in clients.iter().skip(7).step_by(97) {
        if switched >= 12 {
            break;
        }
        let Some(client) = crate::clients::get(state, client_id).await.map_err(api_err)? else { continue };
        let history = super::history(state, client_id).await.map_err(api_err)?;
        let Some(current) = history.iter().find(|c| c.state == "current") else { continue };
        let Some(ctx) = super::group_context(state, &client, &current.service_group).await.map_err(api_err)? else { continue };
        let on = super::rules::takes_effect(
            today,
            ctx.notice_days,
            &[super::rules::Segment {
                id: current.id.clone(),
                provider_id: current.provider_id.clone(),
                from: super::parse_date(&current.valid_from).map_err(api_err)?,
                to: None,
                hand_over: false,
                default: false,
            }],
        );
        let eligible = super::eligible_providers(state, &ctx, &client.area_code, on).await.map_err(api_err)?;
        let others: Vec<&String> = eligible.iter().filter(|p| **p != current.provider_id).collect();
        if others.is_empty() {
            continue;
        }
        let pick = others[rng.gen_range(0..others.len())];
        if super::choose(state, &Actor::of(&officer), client_id, &current.service_group, pick).await.is_ok() {
            switched += 1;
        }
    }
    // Brunflo Omsorg AB stops serving Lit at the start of next month.
    let brunflo: Option<String> =
        sqlx::query_scalar("SELECT id FROM providers WHERE name = 'Brunflo Omsorg AB'").fetch_optional(&state.db.pool).await?;
    if let Some(provider_id) = brunflo {
        let first_of_next = valfri_core::Month::of(today).next().first_day();
        let scope = HandOverScope {
            provider_id,
            area_code: Some("lit".into()),
            service_type: None,
            effective_date: first_of_next.max(today.checked_add(jiff::ToSpan::days(14)).unwrap_or(today)),
            reason: HandOverReason::AreaWithdrawn,
        };
        super::hand_over(state, &admin, &scope).await.map_err(api_err)?;
    }
    Ok(())
}

async fn principal(state: &AppState, username: &str) -> anyhow::Result<Principal> {
    let row = sqlx::query("SELECT id, username, display_name, role, provider_id, client_id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&state.db.pool)
        .await?;
    match row {
        Some(r) => crate::auth::principal_from_row(&r).map_err(api_err),
        None => anyhow::bail!("the demo user {username} is missing"),
    }
}
