//! The choice itself: choosing and switching with the notice period, the
//! eligibility rules, simultaneous choices, the default rules, hand-overs
//! with re-choice tasks, letters, the pages, and who may do what.

use crate::common::*;
use crate::contracts::{application, apply, approve_and_activate, conditions_v2, municipal_provider, register};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use valfri::auth::Role;
use valfri::choices::{HandOverReason, HandOverScope};

struct World {
    app: TestApp,
    admin: String,
    officer: String,
    citizen: String,
    muni: String,
    a: String,
    a_token: String,
    b: String,
    b_token: String,
    /// In Centrum, with a decision of 22 h personal care a month; user `citizen_a`.
    client: String,
}

/// The municipal unit (personal care, service and meals everywhere), A
/// (personal care and service in Centrum and Lit) and B (personal care in
/// Centrum), all active from 2026-03-01; today is 2026-03-10.
async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let (s, b) = app.call(Method::PUT, "/api/v1/setup", Some(&admin), Some(conditions_v2())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let muni = municipal_provider(&app, &admin).await;
    let (s, m) = app
        .post("/api/v1/contracts", &admin, {
            let mut a = application(&["personal_care", "service", "meals"], &["centrum", "lit", "brunflo"]);
            a["provider_id"] = json!(muni);
            a
        })
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    approve_and_activate(&app, &admin, m["id"].as_str().unwrap(), json!({})).await;
    let (a, a_token) = register(&app, "Omsorg A AB", ORG_A, "prov_a").await;
    let ca = apply(&app, &a_token, &["personal_care", "service"], &["centrum", "lit"]).await;
    approve_and_activate(&app, &admin, &ca, json!({})).await;
    let (b, b_token) = register(&app, "Omsorg B AB", ORG_B, "prov_b").await;
    let cb = apply(&app, &b_token, &["personal_care"], &["centrum"]).await;
    approve_and_activate(&app, &admin, &cb, json!({})).await;
    app.add_user("officer", Role::CaseOfficer, None, None).await;
    let officer = app.token("officer").await;
    let client = app.create_client(&officer, PNR_A, "831 30").await;
    grant(&app, &officer, &client, 1320).await;
    app.add_user("citizen_a", Role::Citizen, None, Some(&client)).await;
    let citizen = app.token("citizen_a").await;
    World { app, admin, officer, citizen, muni, a, a_token, b, b_token, client }
}

/// A valid personnummer for a made-up person born on 1 Jan of 1930 + n.
fn pnr(n: u32) -> String {
    let s = format!("{:02}0101{:03}", 30 + n % 60, 100 + n);
    let sum: u32 = s
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            if v > 9 {
                v - 9
            } else {
                v
            }
        })
        .sum();
    format!("19{}-{}{}", &s[..6], &s[6..], (10 - sum % 10) % 10)
}

async fn grant(app: &TestApp, officer: &str, client: &str, minutes: i64) {
    let (s, d) = app
        .post(
            &format!("/api/v1/clients/{client}/decisions"),
            officer,
            json!({"valid_from": "2026-03-01", "services": [{"service_type": "personal_care", "monthly_amount": minutes}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
}

async fn choose(app: &TestApp, token: &str, client: &str, group: &str, provider: &str) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/clients/{client}/choices"), token, json!({"service_group": group, "provider_id": provider})).await
}

/// (provider, start, end) of the client's live assignments, by start.
async fn assignments(app: &TestApp, client: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query("SELECT provider_id, start_date, end_date FROM assignments WHERE client_id = $1 AND status <> 'cancelled' ORDER BY start_date, provider_id")
        .bind(client)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("provider_id"), r.get("start_date"), r.get("end_date")))
        .collect()
}

/// (provider, from, to, status) of every row of a client's group, oldest first.
async fn rows(app: &TestApp, client: &str, group: &str) -> Vec<(String, String, Option<String>, String)> {
    sqlx::query(
        "SELECT provider_id, valid_from, valid_to, status FROM choices WHERE client_id = $1 AND service_group = $2 ORDER BY created_at, id",
    )
    .bind(client)
    .bind(group)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("provider_id"), r.get("valid_from"), r.get("valid_to"), r.get("status")))
    .collect()
}

/// One head per client and group, and the live rows never overlap.
async fn assert_one_timeline(app: &TestApp, client: &str, group: &str) {
    let heads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM current_choice WHERE client_id = $1 AND service_group = $2")
        .bind(client)
        .bind(group)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(heads, 1);
    let live: Vec<_> = rows(app, client, group).await.into_iter().filter(|r| r.3 == "active").collect();
    let mut sorted = live.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    for pair in sorted.windows(2) {
        let end = pair[0].2.clone().expect("only the last row is open-ended");
        assert!(end < pair[1].1, "overlap: {sorted:?}");
    }
    assert_eq!(sorted.iter().filter(|r| r.2.is_none()).count(), 1, "{sorted:?}");
}

#[tokio::test]
async fn a_citizen_chooses_and_the_provider_starts_today_with_an_assignment() {
    let w = world().await;
    let (s, c) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.a).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        (c["valid_from"].as_str(), c["state"].as_str(), c["reason"].as_str()),
        (Some("2026-03-10"), Some("current"), Some("choice"))
    );
    assert_eq!((c["kind"].as_str(), c["on_behalf"].as_bool(), c["chosen_by"].as_str()), (Some("chosen"), Some(false), Some("citizen_a")));
    assert_eq!(c["provider_name"], "Omsorg A AB");
    assert_eq!(c["letter_url"], format!("/letters/choice/{}", c["id"].as_str().unwrap()));
    assert_eq!(assignments(&w.app, &w.client).await, vec![(w.a.clone(), "2026-03-10".into(), None)]);

    let (s, all) = w.app.get(&format!("/api/v1/clients/{}/choices", w.client), &w.citizen).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    assert_eq!(all["groups"][0]["service_group"], "personal_care");
    assert_eq!(all["groups"][0]["current"]["provider_id"], w.a.as_str());
    assert_eq!(all["groups"][0]["pending"], Value::Null);
    // The same provider again is refused, naming the rule.
    let (s, e) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.a).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("already_chosen")));

    let (_, log) = w.app.get(&format!("/api/v1/audit?client_id={}", w.client), &w.admin).await;
    let kinds: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().into(), e["subject_type"].as_str().unwrap().into()))
        .collect();
    assert!(kinds.contains(&("create".into(), "choice".into())), "{kinds:?}");
    assert!(kinds.contains(&("read".into(), "choices".into())), "{kinds:?}");
}

#[tokio::test]
async fn a_switch_waits_for_the_notice_period_and_every_row_is_kept() {
    let w = world().await;
    let (s, first) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.a).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    // A case officer switches for the client: B from 14 days on.
    let (s, to_b) = choose(&w.app, &w.officer, &w.client, "personal_care", &w.b).await;
    assert_eq!(s, StatusCode::CREATED, "{to_b}");
    assert_eq!(
        (to_b["valid_from"].as_str(), to_b["state"].as_str(), to_b["reason"].as_str()),
        (Some("2026-03-24"), Some("pending"), Some("switch"))
    );
    assert_eq!(
        (to_b["on_behalf"].as_bool(), to_b["chosen_by"].as_str(), to_b["chosen_by_role"].as_str()),
        (Some(true), Some("officer"), Some("case_officer"))
    );
    assert_eq!(to_b["replaces_id"], first["id"]);
    assert_eq!(
        assignments(&w.app, &w.client).await,
        vec![(w.a.clone(), "2026-03-10".into(), Some("2026-03-23".into())), (w.b.clone(), "2026-03-24".into(), None)]
    );
    // Another switch before B starts replaces it, from the same day.
    w.app.clock.set("2026-03-12T09:00:00Z".parse().unwrap());
    let w = w.signed_in_again().await;
    let (s, to_m) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.muni).await;
    assert_eq!(s, StatusCode::CREATED, "{to_m}");
    assert_eq!(to_m["valid_from"], "2026-03-24");
    // Taking the switch back: A continues.
    let (s, back) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.a).await;
    assert_eq!(s, StatusCode::CREATED, "{back}");
    assert_eq!((back["id"].as_str(), back["valid_to"].as_str()), (first["id"].as_str(), None));
    assert_eq!(
        rows(&w.app, &w.client, "personal_care").await,
        vec![
            (w.a.clone(), "2026-03-10".into(), None, "active".into()),
            (w.b.clone(), "2026-03-24".into(), None, "cancelled".into()),
            (w.muni.clone(), "2026-03-24".into(), None, "cancelled".into()),
        ]
    );
    assert_eq!(assignments(&w.app, &w.client).await, vec![(w.a.clone(), "2026-03-10".into(), None)]);
    assert_one_timeline(&w.app, &w.client, "personal_care").await;
    // The history shows all of it, newest first, with who and when.
    let (_, all) = w.app.get(&format!("/api/v1/clients/{}/choices", w.client), &w.officer).await;
    let states: Vec<&str> = all["history"].as_array().unwrap().iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["cancelled", "cancelled", "current"]);

    // Once the switch has taken effect the old provider's row has ended.
    let (s, _) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.b).await;
    assert_eq!(s, StatusCode::CREATED);
    w.app.clock.set("2026-04-01T09:00:00Z".parse().unwrap());
    let w = w.signed_in_again().await;
    let (_, all) = w.app.get(&format!("/api/v1/clients/{}/choices", w.client), &w.citizen).await;
    assert_eq!(all["groups"][0]["current"]["provider_id"], w.b.as_str());
    let a_row = all["history"].as_array().unwrap().iter().find(|c| c["id"] == first["id"]).unwrap().clone();
    assert_eq!((a_row["state"].as_str(), a_row["valid_to"].as_str()), (Some("ended"), Some("2026-03-25")));
}

#[tokio::test]
async fn an_ineligible_provider_is_refused_naming_the_rule() {
    let w = world().await;
    let lit = w.app.create_client(&w.officer, PNR_B, "836 31").await;
    let (s, e) = choose(&w.app, &w.officer, &lit, "personal_care", &w.b).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_approved_for_area")), "{e}");
    let (s, e) = choose(&w.app, &w.officer, &lit, "service", &w.b).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_approved_for_service")), "{e}");
    let c = w.app.create_provider(&w.admin, "Utan Avtal AB", "556036-0793").await;
    let (s, e) = choose(&w.app, &w.officer, &lit, "personal_care", &c).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_active")), "{e}");
    // B closes for new clients from the 20th: a first choice today is fine for
    // someone else, but a switch (from the 24th) is refused.
    let contract: String =
        sqlx::query_scalar("SELECT id FROM contracts WHERE provider_id = $1").bind(&w.b).fetch_one(&w.app.state.db.pool).await.unwrap();
    let (s, b) = w
        .app
        .post(&format!("/api/v1/contracts/{contract}/intake"), &w.b_token, json!({"open": false, "from": "2026-03-20", "reason": "Fullt"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.a).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, e) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.b).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("closed_for_new_clients")), "{e}");
    // Bad input names the field.
    let (s, e) = choose(&w.app, &w.citizen, &w.client, "night_patrol", &w.a).await;
    assert_eq!((s, e["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("service_group")), "{e}");
    let (s, e) = choose(&w.app, &w.citizen, &w.client, "personal_care", "nobody").await;
    assert_eq!((s, e["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_provider")), "{e}");
    let (s, e) = choose(&w.app, &w.citizen, &w.client, "escort", &w.a).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("group_not_offered")), "{e}");
    let (s, e) = w.app.post(&format!("/api/v1/clients/{}/choices", w.client), &w.citizen, json!({"service_group": "personal_care"})).await;
    assert_eq!((s, e["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{e}");

    // The options say the same, per provider, with the date a choice would start.
    let (s, opts) = w.app.get(&format!("/api/v1/clients/{}/choice-options", w.client), &w.citizen).await;
    assert_eq!(s, StatusCode::OK, "{opts}");
    let care = opts.as_array().unwrap().iter().find(|g| g["service_group"] == "personal_care").unwrap();
    assert_eq!((care["takes_effect"].as_str(), care["granted"].as_bool()), (Some("2026-03-24"), Some(true)));
    let b = care["providers"].as_array().unwrap().iter().find(|p| p["provider_id"] == w.b.as_str()).unwrap();
    assert_eq!((b["eligible"].as_bool(), b["reason"].as_str()), (Some(false), Some("closed_for_new_clients")));
}

#[tokio::test]
async fn simultaneous_choices_for_one_client_end_in_exactly_one() {
    let w = world().await;
    for i in 0..3u32 {
        let client = if i == 2 { w.client.clone() } else { w.app.create_client(&w.officer, &pnr(i), "831 30").await };
        // Two different providers at once.
        let second = w.citizen_or_officer(&client);
        let (x, y) = tokio::join!(
            choose(&w.app, &w.officer, &client, "personal_care", &w.a),
            choose(&w.app, &second, &client, "personal_care", &w.b)
        );
        let statuses = [x.0, y.0];
        assert!(statuses.contains(&StatusCode::CREATED), "{x:?} {y:?}");
        for (s, body) in [&x, &y] {
            assert!(*s == StatusCode::CREATED || (*s == StatusCode::CONFLICT && body["code"] == "choice_conflict"), "{s} {body}");
        }
        assert_one_timeline(&w.app, &client, "personal_care").await;
        if statuses == [StatusCode::CREATED, StatusCode::CREATED] {
            // They did not overlap in time: the later one is a switch.
            let later = if x.1["valid_from"] == "2026-03-10" { &y.1 } else { &x.1 };
            assert_eq!(later["valid_from"], "2026-03-24");
        }
        // The same provider twice at once: exactly one row.
        let other = w.app.create_client(&w.officer, &pnr(10 + i), "831 30").await;
        let (x, y) = tokio::join!(
            choose(&w.app, &w.officer, &other, "personal_care", &w.muni),
            choose(&w.app, &w.admin, &other, "personal_care", &w.muni)
        );
        let created = [&x, &y].iter().filter(|r| r.0 == StatusCode::CREATED).count();
        assert_eq!(created, 1, "{x:?} {y:?}");
        let loser = if x.0 == StatusCode::CREATED { &y } else { &x };
        assert!(["choice_conflict", "already_chosen"].contains(&loser.1["code"].as_str().unwrap()), "{loser:?}");
        assert_eq!(rows(&w.app, &other, "personal_care").await.len(), 1);
        assert_one_timeline(&w.app, &other, "personal_care").await;
    }
}

impl World {
    /// Fresh tokens after the clock has moved past their lifetime.
    async fn signed_in_again(self) -> World {
        let admin = self.app.token("admin").await;
        let officer = self.app.token("officer").await;
        let citizen = self.app.token("citizen_a").await;
        let a_token = self.app.token("prov_a").await;
        let b_token = self.app.token("prov_b").await;
        World { admin, officer, citizen, a_token, b_token, ..self }
    }

    /// The citizen's token for their own client, else the case officer's.
    fn citizen_or_officer(&self, client: &str) -> String {
        if client == self.client {
            self.citizen.clone()
        } else {
            self.officer.clone()
        }
    }
}

async fn set_rule(w: &World, legal_model: &str, rule: &str) {
    let mut setup = conditions_v2();
    setup["choice_systems"][0]["legal_model"] = json!(legal_model);
    setup["choice_systems"][0]["default_rule"] = json!(rule);
    let (s, b) = w.app.call(Method::PUT, "/api/v1/setup", Some(&w.admin), Some(setup)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn give_default(w: &World, client: &str) -> (StatusCode, Value) {
    w.app.post(&format!("/api/v1/clients/{client}/choices/default"), &w.officer, json!({"service_group": "personal_care"})).await
}

#[tokio::test]
async fn the_municipal_rule_gives_the_municipal_unit() {
    let w = world().await;
    let (s, d) = give_default(&w, &w.client).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(
        (d["provider_id"].as_str(), d["kind"].as_str(), d["default_rule"].as_str()),
        (Some(w.muni.as_str()), Some("default"), Some("municipal"))
    );
    assert_eq!((d["reason"].as_str(), d["valid_from"].as_str()), (Some("no_choice"), Some("2026-03-10")));
    assert_eq!(assignments(&w.app, &w.client).await, vec![(w.muni.clone(), "2026-03-10".into(), None)]);
    // Only for someone without a provider.
    let (s, e) = give_default(&w, &w.client).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("already_has_provider")));
    // Choosing the default provider makes it the client's own choice, at once.
    let (s, own) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.muni).await;
    assert_eq!(s, StatusCode::CREATED, "{own}");
    assert_eq!(
        (own["kind"].as_str(), own["reason"].as_str(), own["valid_from"].as_str()),
        (Some("chosen"), Some("choice"), Some("2026-03-10"))
    );
    assert_eq!(assignments(&w.app, &w.client).await, vec![(w.muni.clone(), "2026-03-10".into(), None)]);
    let (s, e) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.muni).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("already_chosen")));
    // Choosing another is a switch with notice, like any other.
    let (s, c) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.a).await;
    assert_eq!((s, c["valid_from"].as_str()), (StatusCode::CREATED, Some("2026-03-24")));
    let (s, _) =
        w.app.post(&format!("/api/v1/clients/{}/choices/default", w.client), &w.citizen, json!({"service_group": "personal_care"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_rotation_rule_takes_turns_even_when_defaults_come_at_once() {
    let w = world().await;
    set_rule(&w, "lov", "rotation").await;
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(w.app.create_client(&w.officer, &pnr(20 + i), "831 30").await);
    }
    // Six defaults at the same time: each of the three providers gets two.
    let results = futures_join_all(clients.iter().map(|c| give_default(&w, c)).collect()).await;
    let mut counts = std::collections::HashMap::new();
    for (s, d) in &results {
        assert_eq!(*s, StatusCode::CREATED, "{d}");
        assert_eq!(d["default_rule"], "rotation");
        *counts.entry(d["provider_id"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|n| *n == 2), "{counts:?}");
    let turns: i64 = sqlx::query_scalar("SELECT turns FROM default_rotation").fetch_one(&w.app.state.db.pool).await.unwrap();
    assert_eq!(turns, 6);
    // In Lit only the municipal unit and A serve personal care: they alternate.
    let mut lit = Vec::new();
    for i in 0..4 {
        let c = w.app.create_client(&w.officer, &pnr(30 + i), "836 31").await;
        let (s, d) = give_default(&w, &c).await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
        lit.push(d["provider_id"].as_str().unwrap().to_string());
    }
    assert_eq!(lit[0], lit[2]);
    assert_eq!(lit[1], lit[3]);
    assert_ne!(lit[0], lit[1]);
}

/// Runs futures concurrently (tokio::join! takes a fixed number).
async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn the_lou_share_rule_gives_the_provider_furthest_below_its_share() {
    let w = world().await;
    set_rule(&w, "lou_share", "lou_share").await;
    let targets = "/api/v1/choice-systems/hemtjanst/share-targets".to_string();
    let (s, e) = w
        .app
        .call(Method::PUT, &targets, Some(&w.admin), Some(json!({"valid_from": "2026-03-01", "targets": [
            {"provider_id": w.muni, "share_permille": 700}, {"provider_id": w.a, "share_permille": 200}, {"provider_id": w.b, "share_permille": 150}]})))
        .await;
    assert_eq!((s, e["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("shares_exceed_whole")), "{e}");
    let body = json!({"valid_from": "2026-03-01", "targets": [
        {"provider_id": w.muni, "share_permille": 700}, {"provider_id": w.a, "share_permille": 150}, {"provider_id": w.b, "share_permille": 150}]});
    let (s, t) = w.app.call(Method::PUT, &targets, Some(&w.admin), Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["in_force"].as_array().unwrap().len(), 3);
    let (s, _) = w.app.call(Method::PUT, &targets, Some(&w.admin), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "the same version again changes nothing");
    let (s, e) = w
        .app
        .call(
            Method::PUT,
            &targets,
            Some(&w.admin),
            Some(json!({"valid_from": "2026-03-01", "targets": [{"provider_id": w.a, "share_permille": 300}]})),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("version_exists")));
    let (s, _) = w.app.call(Method::PUT, &targets, Some(&w.officer), Some(json!({"valid_from": "2026-03-01", "targets": []}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // No hours yet: the largest share.
    let (s, d) = give_default(&w, &w.client).await;
    assert_eq!(
        (s, d["provider_id"].as_str(), d["default_rule"].as_str()),
        (StatusCode::CREATED, Some(w.muni.as_str()), Some("lou_share")),
        "{d}"
    );
    // The municipal unit now has 22 h. B gets 10 h by choice: market 32 h.
    let second = w.app.create_client(&w.officer, PNR_B, "831 30").await;
    grant(&w.app, &w.officer, &second, 600).await;
    let (s, _) = choose(&w.app, &w.officer, &second, "personal_care", &w.b).await;
    assert_eq!(s, StatusCode::CREATED);
    // Municipal 22/32 = 69 % of 70 %; A 0 % of 15 %; B 31 % of 15 %: A is furthest below.
    let third = w.app.create_client(&w.officer, PNR_C, "831 30").await;
    let (s, d) = give_default(&w, &third).await;
    assert_eq!((s, d["provider_id"].as_str()), (StatusCode::CREATED, Some(w.a.as_str())), "{d}");
    let (_, t) = w.app.get(&format!("{targets}?on=2026-02-01"), &w.officer).await;
    assert_eq!(t["in_force"].as_array().unwrap().len(), 0, "{t}");
}

#[tokio::test]
async fn a_departing_provider_hands_its_clients_over_with_re_choice_tasks() {
    let w = world().await;
    let lit = w.app.create_client(&w.officer, PNR_B, "836 31").await;
    let switching = w.app.create_client(&w.officer, PNR_C, "831 30").await;
    for c in [&w.client, &lit, &switching] {
        let (s, b) = choose(&w.app, &w.officer, c, "personal_care", &w.a).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    // This one has already chosen B from the 24th.
    let (s, _) = choose(&w.app, &w.officer, &switching, "personal_care", &w.b).await;
    assert_eq!(s, StatusCode::CREATED);
    let admin = principal(&w.app, "admin").await;
    let scope = HandOverScope {
        provider_id: w.a.clone(),
        area_code: None,
        service_type: Some("personal_care".into()),
        effective_date: "2026-03-20".parse().unwrap(),
        reason: HandOverReason::ProviderTerminated,
    };
    let preview = valfri::choices::hand_over_preview(&w.app.state, &admin, &scope).await.unwrap();
    assert_eq!(preview.len(), 3);
    let report = valfri::choices::hand_over(&w.app.state, &admin, &scope).await.unwrap();
    let outcome = |c: &str| report.affected.iter().find(|a| a.client_id == c).map(|a| a.outcome.clone());
    assert_eq!(outcome(&w.client).as_deref(), Some("moved_to_default"));
    assert_eq!(outcome(&lit).as_deref(), Some("moved_to_default"));
    assert_eq!(outcome(&switching).as_deref(), Some("switch_brought_forward"));
    for c in [&w.client, &lit] {
        let a = report.affected.iter().find(|a| &a.client_id == c).unwrap();
        assert_eq!((a.default_provider_id.as_deref(), a.from.as_str()), (Some(w.muni.as_str()), "2026-03-20"));
        assert!(a.task_id.is_some());
    }
    assert_eq!(
        assignments(&w.app, &w.client).await,
        vec![(w.a.clone(), "2026-03-10".into(), Some("2026-03-19".into())), (w.muni.clone(), "2026-03-20".into(), None)]
    );
    let switched = rows(&w.app, &switching, "personal_care").await;
    assert_eq!(switched[1], (w.b.clone(), "2026-03-20".into(), None, "active".into()));
    // Idempotent.
    let again = valfri::choices::hand_over(&w.app.state, &admin, &scope).await.unwrap();
    assert!(again.affected.is_empty(), "{:?}", again.affected);

    // The case officers see two open tasks, due on the date.
    let (s, tasks) = w.app.get("/api/v1/tasks", &w.officer).await;
    assert_eq!(s, StatusCode::OK, "{tasks}");
    let tasks = tasks.as_array().unwrap().clone();
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t["due_date"] == "2026-03-20" && t["reason"] == "provider_terminated" && t["status"] == "open"));
    assert!(tasks.iter().all(|t| t["default_provider_name"] == "Kommunens hemtjänst" && t["from_provider_name"] == "Omsorg A AB"));
    for token in [&w.citizen, &w.a_token] {
        let (s, _) = w.app.get("/api/v1/tasks", token).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    // The client may not keep the leaving provider, but chooses B before the
    // date: B starts on the date (not after the notice period) and the task closes.
    w.app.clock.set("2026-03-12T09:00:00Z".parse().unwrap());
    let w = w.signed_in_again().await;
    let (s, e) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.a).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("provider_leaving")));
    let (s, c) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.b).await;
    assert_eq!((s, c["valid_from"].as_str()), (StatusCode::CREATED, Some("2026-03-20")), "{c}");
    assert_eq!(
        assignments(&w.app, &w.client).await,
        vec![(w.a.clone(), "2026-03-10".into(), Some("2026-03-19".into())), (w.b.clone(), "2026-03-20".into(), None)]
    );
    let (_, open) = w.app.get("/api/v1/tasks", &w.officer).await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    let (_, done) = w.app.get("/api/v1/tasks?status=done", &w.officer).await;
    assert_eq!((done[0]["client_id"].as_str(), done[0]["outcome"].as_str()), (Some(w.client.as_str()), Some("chosen")));
    // The officer closes the other one by hand; twice is a conflict.
    let id = open[0]["id"].as_str().unwrap();
    let (s, t) = w.app.post(&format!("/api/v1/tasks/{id}/done"), &w.officer, json!({"outcome": "Nöjd med kommunen"})).await;
    assert_eq!((s, t["status"].as_str(), t["outcome"].as_str()), (StatusCode::OK, Some("done"), Some("Nöjd med kommunen")));
    let (s, t) = w.app.post(&format!("/api/v1/tasks/{id}/done"), &w.officer, json!({})).await;
    assert_eq!((s, t["code"].as_str()), (StatusCode::CONFLICT, Some("task_done")));
    assert_one_timeline(&w.app, &w.client, "personal_care").await;
}

async fn principal(app: &TestApp, username: &str) -> valfri::auth::Principal {
    let row = sqlx::query("SELECT id, username, display_name, role, provider_id, client_id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    valfri::auth::principal_from_row(&row).unwrap()
}

#[tokio::test]
async fn an_area_withdrawal_hands_over_only_that_area_and_a_recorded_assignment_counts() {
    let w = world().await;
    let lit = w.app.create_client(&w.officer, PNR_B, "836 31").await;
    // Made before choices were recorded: the hand-over still finds it.
    w.app.assign(&lit, &w.a, "2026-01-01", None).await;
    let (s, _) = choose(&w.app, &w.officer, &w.client, "personal_care", &w.a).await;
    assert_eq!(s, StatusCode::CREATED);
    // Over HTTP this time: admin only, a dry run first.
    let body = json!({"provider_id": w.a, "area_code": "lit", "effective_date": "2026-04-01", "reason": "area_withdrawn", "dry_run": true});
    let (s, _) = w.app.post("/api/v1/hand-overs", &w.officer, body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, dry) = w.app.post("/api/v1/hand-overs", &w.admin, body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!((dry["affected"].as_array().unwrap().len(), dry["affected"][0]["default_provider_id"].as_str()), (1, Some(w.muni.as_str())));
    assert_eq!(dry["affected"][0]["default_choice_id"], Value::Null);
    let mut real = body.clone();
    real["dry_run"] = json!(false);
    let (s, report) = w.app.post("/api/v1/hand-overs", &w.admin, real).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let affected = report["affected"].as_array().unwrap();
    assert_eq!(affected.len(), 1, "{report}");
    assert_eq!((affected[0]["client_id"].as_str(), affected[0]["outcome"].as_str()), (Some(lit.as_str()), Some("moved_to_default")));
    let (s, e) = w
        .app
        .post("/api/v1/hand-overs", &w.admin, json!({"provider_id": w.a, "effective_date": "1 april", "reason": "area_withdrawn"}))
        .await;
    assert_eq!((s, e["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("effective_date")));
    let (s, _) = w
        .app
        .post("/api/v1/hand-overs", &w.admin, json!({"provider_id": "nobody", "effective_date": "2026-04-01", "reason": "area_withdrawn"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let r = rows(&w.app, &lit, "personal_care").await;
    assert_eq!(r[0], (w.a.clone(), "2026-01-01".into(), Some("2026-03-31".into()), "active".into()));
    assert_eq!(r[1], (w.muni.clone(), "2026-04-01".into(), None, "active".into()));
    let (_, tasks) = w.app.get("/api/v1/tasks", &w.officer).await;
    assert_eq!(tasks[0]["reason"], "area_withdrawn");
    // Centrum is untouched.
    assert_eq!(rows(&w.app, &w.client, "personal_care").await.len(), 1);
}

#[tokio::test]
async fn who_may_see_and_make_choices() {
    let w = world().await;
    let (s, c) = choose(&w.app, &w.citizen, &w.client, "personal_care", &w.a).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let other = w.app.create_client(&w.officer, PNR_B, "831 30").await;
    grant(&w.app, &w.officer, &other, 600).await;
    let (s, _) = choose(&w.app, &w.officer, &other, "personal_care", &w.b).await;
    assert_eq!(s, StatusCode::CREATED);
    w.app.add_user("prov_b2", Role::Provider, Some(&w.b), None).await;
    let choices = |c: &str| format!("/api/v1/clients/{c}/choices");
    let id = c["id"].as_str().unwrap();
    // Reads: admin and case officer all; the citizen self; a provider its own clients.
    for (token, client, expected) in [
        (&w.admin, &w.client, StatusCode::OK),
        (&w.officer, &w.client, StatusCode::OK),
        (&w.citizen, &w.client, StatusCode::OK),
        (&w.citizen, &other, StatusCode::NOT_FOUND),
        (&w.a_token, &w.client, StatusCode::OK),
        (&w.a_token, &other, StatusCode::NOT_FOUND),
        (&w.b_token, &w.client, StatusCode::NOT_FOUND),
        (&w.b_token, &other, StatusCode::OK),
    ] {
        let (s, b) = w.app.get(&choices(client), token).await;
        assert_eq!(s, expected, "{b}");
    }
    for (token, expected) in
        [(&w.admin, StatusCode::OK), (&w.citizen, StatusCode::OK), (&w.a_token, StatusCode::OK), (&w.b_token, StatusCode::NOT_FOUND)]
    {
        let (s, _) = w.app.get(&format!("/api/v1/choices/{id}"), token).await;
        assert_eq!(s, expected);
    }
    // B, switching in, sees only its own row of the client, not A's.
    let (s, _) = choose(&w.app, &w.officer, &w.client, "personal_care", &w.b).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b_view) = w.app.get(&choices(&w.client), &w.b_token).await;
    assert_eq!(s, StatusCode::OK, "{b_view}");
    let seen: Vec<&str> = b_view["history"].as_array().unwrap().iter().map(|c| c["provider_id"].as_str().unwrap()).collect();
    assert_eq!(seen, vec![w.b.as_str()]);
    let (s, _) = w.app.get(&format!("/api/v1/choices/{id}"), &w.b_token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Changes: a provider never; a citizen only for themself.
    let (s, _) = choose(&w.app, &w.a_token, &w.client, "personal_care", &w.muni).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = choose(&w.app, &w.citizen, &other, "personal_care", &w.muni).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.app.get(&format!("/api/v1/clients/{other}/choice-options"), &w.citizen).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.app.get(&format!("/api/v1/clients/{other}/choice-options"), &w.a_token).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w.app.call(Method::GET, &choices(&w.client), None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Letters follow the reads.
    for (token, expected) in [(&w.citizen, StatusCode::OK), (&w.a_token, StatusCode::OK), (&w.b_token, StatusCode::NOT_FOUND)] {
        let (s, _) = page(&w.app, &format!("/letters/choice/{id}"), Some(token)).await;
        assert_eq!(s, expected);
    }
    // Every read of the client's choices is in the audit log, by whom.
    let (_, log) = w.app.get(&format!("/api/v1/audit?client_id={}", w.client), &w.admin).await;
    let readers: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "read"
                && (e["subject_type"] == "choices" || e["subject_type"] == "choice" || e["subject_type"] == "choice_letter")
        })
        .map(|e| e["actor_username"].as_str().unwrap())
        .collect();
    for who in ["admin", "officer", "citizen_a", "prov_a", "prov_b"] {
        assert!(readers.contains(&who), "{who} missing in {readers:?}");
    }
}

/// A server-rendered page: status and HTML.
async fn page(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = app.http.get(format!("{}{path}", app.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn form(app: &TestApp, path: &str, token: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let res = app.http.post(format!("{}{path}", app.url)).bearer_auth(token).form(fields).send().await.unwrap();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (res.status(), location, res.text().await.unwrap())
}

#[tokio::test]
async fn the_pages_choose_without_javascript_and_print_a_letter() {
    let w = world().await;
    let (s, html) = page(&w.app, "/my/choose", Some(&w.citizen)).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("<html lang=\"sv\""));
    assert!(html.contains("type=\"radio\"") && html.contains(&format!("value=\"{}\"", w.a)));
    assert!(html.contains("/compare?postcode=83130"), "links to the comparison");
    // Ineligible: the page says why, in the page's language.
    let contract: String =
        sqlx::query_scalar("SELECT id FROM contracts WHERE provider_id = $1").bind(&w.b).fetch_one(&w.app.state.db.pool).await.unwrap();
    let (s, _) = w
        .app
        .post(&format!("/api/v1/contracts/{contract}/intake"), &w.b_token, json!({"open": false, "from": "2026-03-10", "reason": "Fullt"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, html) = form(&w.app, "/my/choose?lang=en", &w.citizen, &[("service_group", "personal_care"), ("provider_id", &w.b)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("The provider is not taking new clients right now."), "{html}");
    let (s, _, html) = form(&w.app, "/my/choose", &w.citizen, &[("service_group", "personal_care")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Välj en utförare i listan först."));
    // A real choice: redirect, then the effective date and the letter.
    let (s, location, _) = form(&w.app, "/my/choose", &w.citizen, &[("service_group", "personal_care"), ("provider_id", &w.a)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/my/choose?chosen="), "{location}");
    let (s, html) = page(&w.app, &location, Some(&w.citizen)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Utföraren börjar den 10 mars 2026"), "{html}");
    let id = location.trim_start_matches("/my/choose?chosen=");
    assert!(html.contains(&format!("/letters/choice/{id}")));
    let (s, letter) = page(&w.app, &format!("/letters/choice/{id}"), Some(&w.citizen)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        letter.contains("Bekräftelse av ditt val av utförare") && letter.contains("Omsorg A AB") && letter.contains("10 mars 2026"),
        "{letter}"
    );
    let (s, letter) = page(&w.app, &format!("/letters/choice/{id}?lang=nb"), Some(&w.citizen)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(letter.contains("<html lang=\"nb\"") && letter.contains("Bekreftelse av ditt valg av leverandør"), "{letter}");
    let (s, my) = page(&w.app, "/my", Some(&w.citizen)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(my.contains("Omsorg A AB") && my.contains(&format!("/letters/choice/{id}")));

    // A case officer chooses for a client who reads English: the letter is in English.
    let (s, en) = w
        .app
        .post(
            "/api/v1/clients",
            &w.officer,
            json!({"person_id": PNR_B, "name": "Mary Smith", "address": "Storgatan 2", "postcode": "831 30", "preferred_language": "en"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{en}");
    let en = en["id"].as_str().unwrap();
    let (s, html) = page(&w.app, &format!("/clients/{en}/choose"), Some(&w.officer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Välj utförare för Mary Smith"));
    let (s, location, _) = form(&w.app, &format!("/clients/{en}/choose/default"), &w.officer, &[("service_group", "personal_care")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{location}");
    let id = location.split("chosen=").nth(1).unwrap();
    let (s, letter) = page(&w.app, &format!("/letters/choice/{id}"), Some(&w.officer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(letter.contains("<html lang=\"en\"") && letter.contains("you can still choose yourself"), "{letter}");
    assert!(letter.contains("Kommunens hemtjänst"));
    // A citizen cannot use the officer's page, a provider has no /my.
    let (s, _) = page(&w.app, &format!("/clients/{en}/choose"), Some(&w.citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = page(&w.app, "/my", Some(&w.a_token)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = page(&w.app, "/tasks", Some(&w.officer)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = page(&w.app, "/tasks", Some(&w.citizen)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let res = w.app.http.get(format!("{}/my", w.app.url)).send().await.unwrap();
    assert!(res.status().is_redirection());
}

#[tokio::test]
async fn a_recorded_assignment_becomes_the_starting_point_of_a_switch() {
    let w = world().await;
    let client = w.app.create_client(&w.officer, PNR_B, "831 30").await;
    w.app.assign(&client, &w.muni, "2026-01-15", None).await;
    let (s, c) = choose(&w.app, &w.officer, &client, "personal_care", &w.a).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!((c["reason"].as_str(), c["valid_from"].as_str()), (Some("switch"), Some("2026-03-24")));
    let r = rows(&w.app, &client, "personal_care").await;
    assert_eq!(r[0], (w.muni.clone(), "2026-01-15".into(), Some("2026-03-23".into()), "active".into()));
    let reason: String = sqlx::query_scalar("SELECT reason FROM choices WHERE client_id = $1 ORDER BY created_at LIMIT 1")
        .bind(&client)
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(reason, "recorded");
}

/// The task list and the assignment inbox show at most 500 and say when
/// there are more (a provider leaving can give thousands of clients a task,
/// and a hand-over can send a provider hundreds of assignments at once);
/// only the clients shown are logged.
#[tokio::test]
async fn long_task_and_assignment_lists_say_when_they_show_only_the_first_and_come_in_pages() {
    let app = spawn_app().await;
    crate::bench_smoke::generated_month(&app, valfri::bench::Spec::small(250, 2)).await;
    app.add_user("officer", Role::CaseOfficer, None, None).await;
    let officer = app.token("officer").await;
    let pool = &app.state.db.pool;
    let get = |path: &'static str, token: String| {
        let app = &app;
        async move {
            let res = app.http.get(format!("{}{path}", app.url)).bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.text().await.unwrap()
        }
    };
    let rows = |html: &str, table: &str| {
        let t = html.split(table).nth(1).expect(table);
        t.split("<tbody>").nth(1).unwrap().split("</tbody>").next().unwrap().matches("<tr>").count()
    };
    let logged = |what: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE detail = $1").bind(what).fetch_one(pool).await.unwrap()
    };

    // 520 open tasks: one per client and due date.
    let clients: Vec<(String,)> = sqlx::query_as("SELECT id FROM clients ORDER BY id LIMIT 5").fetch_all(pool).await.unwrap();
    let (provider,): (String,) = sqlx::query_as("SELECT id FROM providers ORDER BY id LIMIT 1").fetch_one(pool).await.unwrap();
    let start = jiff::civil::date(2026, 6, 1);
    for k in 0..520 {
        let due = start.checked_add(jiff::Span::new().days(k / 5)).unwrap().to_string();
        sqlx::query(
            "INSERT INTO choice_tasks (id, client_id, service_group, reason, from_provider_id, due_date, status, created_at) \
             VALUES ($1, $2, 'personal_care', 'provider_terminated', $3, $4, 'open', '2026-05-01T08:00:00Z')",
        )
        .bind(format!("task-{k}"))
        .bind(&clients[(k % 5) as usize].0)
        .bind(&provider)
        .bind(due)
        .execute(pool)
        .await
        .unwrap();
    }
    let html = get("/tasks", officer.clone()).await;
    assert_eq!(rows(&html, "<table>"), 500);
    assert!(html.contains("Fler än 500 uppgifter finns. De 500 första visas."), "{html}");
    assert_eq!(logged("re-choice task list").await, 5, "each client shown, once");
    let html = get("/tasks?status=done", officer.clone()).await;
    assert!(!html.contains("Fler än 500"));
    // Through the API, page by page: the same tasks as one answer.
    let ids = |v: &Value| v.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (_, whole) = app.get("/api/v1/tasks?limit=1000", &officer).await;
    let whole = ids(&whole);
    assert_eq!(whole.len(), 520);
    let paged = app.ids_page_by_page("/api/v1/tasks?status=open", &officer, 150).await;
    assert_eq!(paged, whole);

    // Every assignment of the month waiting to be acknowledged.
    sqlx::query("UPDATE assignments SET acknowledged_at = NULL").execute(pool).await.unwrap();
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assignments").fetch_one(pool).await.unwrap();
    assert!(waiting > 500, "{waiting}");
    let html = get("/provider/assignments", officer.clone()).await;
    assert_eq!(rows(&html, "id=\"inbox-table\""), 500);
    assert!(html.contains("Fler än 500 uppdrag väntar på kvittering. De 500 nyaste visas; kvittera dem för att se fler."), "{html}");
    let shown: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT client_id) FROM (SELECT client_id FROM assignments \
         ORDER BY COALESCE(updated_at, created_at) DESC, id DESC LIMIT 500) a",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(logged("assignment inbox page").await, shown);
    // Through the API, page by page: the same assignments as one answer.
    let (_, whole) = app.get("/api/v1/assignments?limit=1000", &officer).await;
    let whole = ids(&whole);
    assert_eq!(whole.len() as i64, waiting);
    let paged = app.ids_page_by_page("/api/v1/assignments?status=", &officer, 100).await;
    assert_eq!(paged, whole);
    for path in ["/api/v1/assignments?offset=-1", "/api/v1/tasks?offset=-1"] {
        let (s, p) = app.get(path, &officer).await;
        assert_eq!((s, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("offset")), "{path}: {p}");
    }
}
