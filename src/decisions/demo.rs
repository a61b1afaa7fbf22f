//! The demo's decisions: every demo client gets a decision behind the
//! assignment it already has (hours of personal care or service, some with
//! double staffing, often meals and a safety alarm too), and the assignments
//! follow. A few decisions change or end next month (so providers have
//! something in their inbox), and a handful have waited more than three
//! months without being executed (so the IVO report has rows).
//!
//! Runs after the demo clients, their assignments and the users exist, and
//! before the choices are recorded from the assignments.

use super::{DecisionChange, DecisionEnd, NewDecision, ServiceGrant};
use crate::app::AppState;
use crate::assignments::ProviderPeriod;
use crate::auth::{Principal, PrincipalKind};
use crate::error::ApiError;
use jiff::civil::Date;
use jiff::ToSpan;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Row;

fn api_err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code(), e.problem().detail)
}

/// Granted personal care per month, in minutes, in quarter hours: most
/// clients a few hours a week, some a lot (about one in eight of all
/// clients has more than 80 hours).
fn personal_care_minutes(rng: &mut StdRng) -> i64 {
    let hours = match rng.gen_range(0..100) {
        0..=11 => rng.gen_range(80..160),
        12..=39 => rng.gen_range(25..80),
        _ => rng.gen_range(4..25),
    };
    hours * 60 + 15 * rng.gen_range(0..4)
}

fn service_minutes(rng: &mut StdRng) -> i64 {
    rng.gen_range(2..10) * 60 + 30 * rng.gen_range(0..2)
}

struct Existing {
    assignment_id: String,
    client_id: String,
    provider_id: String,
    service_type: String,
    start: Date,
}

pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(3);
    let today = state.today();
    let now = state.clock.now();
    let officer_row = sqlx::query("SELECT id, username, display_name FROM users WHERE role = 'case_officer' ORDER BY username LIMIT 1")
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo needs a case officer"))?;
    let officer = Principal {
        user_id: officer_row.try_get("id")?,
        username: officer_row.try_get("username")?,
        display_name: officer_row.try_get("display_name")?,
        kind: PrincipalKind::CaseOfficer,
    };
    let types: Vec<String> = sqlx::query_scalar("SELECT code FROM service_types").fetch_all(&state.db.pool).await?;
    let has = |code: &str| types.iter().any(|t| t == code);
    let rows = sqlx::query(
        "SELECT id, client_id, provider_id, service_type, start_date FROM assignments WHERE decision_id IS NULL AND end_date IS NULL \
         ORDER BY client_id, start_date",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let mut existing = Vec::with_capacity(rows.len());
    for r in &rows {
        existing.push(Existing {
            assignment_id: r.try_get("id")?,
            client_id: r.try_get("client_id")?,
            provider_id: r.try_get("provider_id")?,
            service_type: r.try_get("service_type")?,
            start: r.try_get::<String, _>("start_date")?.parse()?,
        });
    }
    existing.dedup_by(|b, a| a.client_id == b.client_id);

    let mut decisions: Vec<(String, String, Date, i64)> = Vec::new();
    for batch in existing.chunks(100) {
        let mut tx = state.db.pool.begin().await?;
        for e in batch {
            let from = e.start.checked_sub(rng.gen_range(0..21).days())?;
            let main = if e.service_type == "personal_care" { personal_care_minutes(&mut rng) } else { service_minutes(&mut rng) };
            let double = e.service_type == "personal_care" && main >= 40 * 60 && rng.gen_ratio(1, 6);
            let mut services = vec![ServiceGrant { service_type: e.service_type.clone(), monthly_amount: main, double_staffing: double }];
            if e.service_type == "personal_care" && has("service") && rng.gen_ratio(1, 2) {
                services.push(ServiceGrant {
                    service_type: "service".into(),
                    monthly_amount: service_minutes(&mut rng),
                    double_staffing: false,
                });
            }
            if has("meals") && rng.gen_ratio(3, 10) {
                services.push(ServiceGrant {
                    service_type: "meals".into(),
                    monthly_amount: rng.gen_range(4..9) * 5,
                    double_staffing: false,
                });
            }
            if has("safety_alarm") && rng.gen_ratio(11, 20) {
                services.push(ServiceGrant { service_type: "safety_alarm".into(), monthly_amount: 1, double_staffing: false });
            }
            if has("night_patrol") && main >= 60 * 60 && rng.gen_ratio(1, 4) {
                services.push(ServiceGrant {
                    service_type: "night_patrol".into(),
                    monthly_amount: 30 * rng.gen_range(1..3),
                    double_staffing: false,
                });
            }
            let id = uuid::Uuid::now_v7().to_string();
            let decided_at = format!("{}T08:30:00Z", from.checked_sub(rng.gen_range(0..10).days())?);
            sqlx::query("INSERT INTO decisions (id, client_id, created_at, created_by) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind(&e.client_id)
                .bind(&decided_at)
                .bind(&officer.user_id)
                .execute(&mut *tx)
                .await?;
            let version_id = uuid::Uuid::now_v7().to_string();
            sqlx::query(
                "INSERT INTO decision_versions (id, decision_id, version, valid_from, valid_to, state, decided_by, decided_at, note) \
                 VALUES ($1, $2, 1, $3, NULL, 'current', $4, $5, '')",
            )
            .bind(&version_id)
            .bind(&id)
            .bind(from.to_string())
            .bind(&officer.user_id)
            .bind(&decided_at)
            .execute(&mut *tx)
            .await?;
            for s in &services {
                sqlx::query(
                    "INSERT INTO decision_services (version_id, service_type, monthly_amount, double_staffing) VALUES ($1, $2, $3, $4)",
                )
                .bind(&version_id)
                .bind(&s.service_type)
                .bind(s.monthly_amount)
                .bind(crate::db::flag(s.double_staffing))
                .execute(&mut *tx)
                .await?;
            }
            // The assignment the client already has now carries the decision.
            sqlx::query(
                "UPDATE assignments SET decision_id = $1, monthly_amount = $2, double_staffing = $3, status = 'acknowledged', notice = 'new', \
                 acknowledged_at = created_at, updated_at = created_at WHERE id = $4",
            )
            .bind(&id)
            .bind(main)
            .bind(crate::db::flag(double))
            .bind(&e.assignment_id)
            .execute(&mut *tx)
            .await?;
            // The client's provider does the home care and the meals; the safety alarm and night
            // patrol are outside free choice and go to the municipal unit by themselves.
            let mut periods = vec![ProviderPeriod {
                service_group: e.service_type.clone(),
                provider_id: e.provider_id.clone(),
                from: e.start,
                to: None,
                choice_id: None,
            }];
            if services.iter().any(|s| s.service_type == "service") && e.service_type != "service" {
                periods.push(ProviderPeriod {
                    service_group: "service".into(),
                    provider_id: e.provider_id.clone(),
                    from: e.start,
                    to: None,
                    choice_id: None,
                });
            }
            if services.iter().any(|s| s.service_type == "meals") {
                periods.push(ProviderPeriod {
                    service_group: "meals".into(),
                    provider_id: e.provider_id.clone(),
                    from: e.start,
                    to: None,
                    choice_id: None,
                });
            }
            crate::assignments::sync_client(&mut tx, &e.client_id, &periods, now).await.map_err(api_err)?;
            decisions.push((id, e.client_id.clone(), from, main));
        }
        tx.commit().await?;
    }
    // What the sync started long ago was seen long ago; the last three weeks are still in the inboxes.
    let seen_before = today.checked_sub(21.days())?.to_string();
    sqlx::query(
        "UPDATE assignments SET status = 'acknowledged', acknowledged_at = created_at WHERE acknowledged_at IS NULL AND status = 'pending' \
         AND start_date < $1",
    )
    .bind(&seen_before)
    .execute(&state.db.pool)
    .await?;

    let first_of_next = valfri_core::Month::of(today).next().first_day();
    // More hours from next month for some clients, and some decisions ending.
    let mut changed = std::collections::HashSet::new();
    for (id, _, from, main) in decisions.iter().skip(3).step_by(83).take(15) {
        if *from >= today {
            continue;
        }
        changed.insert(id.clone());
        let current = super::get(state, id).await.map_err(api_err)?.ok_or_else(|| anyhow::anyhow!("demo decision {id} missing"))?;
        let services = current
            .current
            .services
            .iter()
            .map(|s| ServiceGrant {
                service_type: s.service_type.clone(),
                monthly_amount: if s.monthly_amount == *main && s.amount_unit == "minutes" {
                    main + main / 4 / 15 * 15 + 60
                } else {
                    s.monthly_amount
                },
                double_staffing: s.double_staffing,
            })
            .collect();
        let change = DecisionChange {
            valid_from: first_of_next.to_string(),
            valid_to: None,
            services,
            note: "Utökat behov efter uppföljning".into(),
            expected_version: Some(current.current.version),
        };
        super::change(state, &officer, id, &change).await.map_err(api_err)?;
    }
    let last_of_month = first_of_next.yesterday()?;
    for (id, _, from, _) in decisions.iter().skip(41).step_by(149).take(8) {
        if *from > last_of_month || changed.contains(id) {
            continue;
        }
        let end = DecisionEnd { end_date: last_of_month.to_string(), reason: "Flyttar till särskilt boende".into() };
        super::end(state, &officer, id, &end).await.map_err(api_err)?;
    }

    // Not executed in time: respite granted 4–7 months ago that no provider has taken on, and
    // two escort decisions executed late.
    let unexecuted_service = if has("respite") { "respite" } else { "service" };
    for (i, (_, client_id, _, _)) in decisions.iter().skip(11).step_by(173).take(8).enumerate() {
        let from = today.checked_sub((120 + 11 * i as i64).days())?;
        let d = NewDecision {
            valid_from: from.to_string(),
            valid_to: None,
            services: vec![ServiceGrant { service_type: unexecuted_service.into(), monthly_amount: 8 * 60, double_staffing: false }],
            note: "Avlösning i hemmet för anhörig".into(),
        };
        match super::create(state, &officer, client_id, &d).await {
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(e) => return Err(api_err(e)),
        }
    }
    if has("escort") {
        for (i, (_, client_id, _, _)) in decisions.iter().skip(29).step_by(311).take(2).enumerate() {
            let from = today.checked_sub((150 + 20 * i as i64).days())?;
            let d = NewDecision {
                valid_from: from.to_string(),
                valid_to: None,
                services: vec![ServiceGrant { service_type: "escort".into(), monthly_amount: 4 * 60, double_staffing: false }],
                note: "Ledsagning till aktiviteter".into(),
            };
            super::create(state, &officer, client_id, &d).await.map_err(api_err)?;
            // A provider took it on only after four months.
            let mut tx = state.db.pool.begin().await?;
            let mut periods = crate::assignments::load_periods(&mut tx, client_id).await.map_err(api_err)?;
            let provider: String =
                sqlx::query_scalar("SELECT provider_id FROM assignments WHERE client_id = $1 ORDER BY start_date LIMIT 1")
                    .bind(client_id)
                    .fetch_one(&mut *tx)
                    .await?;
            periods.push(ProviderPeriod {
                service_group: "escort".into(),
                provider_id: provider,
                from: from.checked_add(4.months())?,
                to: None,
                choice_id: None,
            });
            crate::assignments::sync_client(&mut tx, client_id, &periods, now).await.map_err(api_err)?;
            tx.commit().await?;
        }
    }
    Ok(())
}
