//! Decisions (biståndsbeslut): granting, versions, ending, the rules that
//! refuse bad input, who may read them, and the IVO report.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use valfri::assignments::ProviderPeriod;
use valfri::auth::Role;

pub struct World {
    pub app: TestApp,
    pub admin: String,
    pub officer: String,
    pub provider_a: String,
    pub provider_b: String,
    pub client: String,
}

/// A municipality, two providers (users prov_a, prov_b), a case officer and one client in Centrum.
pub async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let provider_a = app.create_provider(&admin, "Omsorg A AB", ORG_A).await;
    let provider_b = app.create_provider(&admin, "Omsorg B AB", ORG_B).await;
    app.add_user("officer", Role::CaseOfficer, None, None).await;
    app.add_user("prov_a", Role::Provider, Some(&provider_a), None).await;
    app.add_user("prov_b", Role::Provider, Some(&provider_b), None).await;
    let officer = app.token("officer").await;
    let client = app.create_client(&officer, PNR_A, "831 30").await;
    World { app, admin, officer, provider_a, provider_b, client }
}

pub fn period(group: &str, provider: &str, from: &str, to: Option<&str>) -> ProviderPeriod {
    ProviderPeriod {
        service_group: group.into(),
        provider_id: provider.into(),
        from: from.parse().unwrap(),
        to: to.map(|t| t.parse().unwrap()),
        choice_id: None,
    }
}

/// What the choice module does when a choice takes effect.
pub async fn set_periods(app: &TestApp, client: &str, periods: &[ProviderPeriod]) -> valfri::assignments::SyncReport {
    let mut tx = app.state.db.pool.begin().await.unwrap();
    let report = valfri::assignments::sync_client(&mut tx, client, periods, app.clock_now()).await.unwrap();
    tx.commit().await.unwrap();
    report
}

trait Now {
    fn clock_now(&self) -> jiff::Timestamp;
}

impl Now for TestApp {
    fn clock_now(&self) -> jiff::Timestamp {
        use valfri::clock::Clock;
        self.clock.now()
    }
}

pub async fn grant(w: &World, body: Value) -> (StatusCode, Value) {
    w.app.post(&format!("/api/v1/clients/{}/decisions", w.client), &w.officer, body).await
}

pub fn care(minutes: i64) -> Value {
    json!({"service_type": "personal_care", "monthly_amount": minutes})
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| format!("{}:{}", e["field"].as_str().unwrap(), e["code"].as_str().unwrap())).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_case_officer_grants_services_and_reads_them_back() {
    let w = world().await;
    let (s, d) = grant(
        &w,
        json!({"valid_from": "2026-03-01", "services": [
            {"service_type": "personal_care", "monthly_amount": 1320, "double_staffing": true},
            {"service_type": "meals", "monthly_amount": 30}
        ], "note": "Behov av stöd morgon och kväll"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(d["status"], "active");
    assert_eq!(d["start_date"], "2026-03-01");
    assert_eq!(d["end_date"], Value::Null);
    assert_eq!(d["current"]["version"], 1);
    assert_eq!(d["current"]["decided_by_name"], "officer");
    let services = d["current"]["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    let meals = services.iter().find(|s| s["service_type"] == "meals").unwrap();
    assert_eq!(meals["amount_unit"], "portions");
    let care = services.iter().find(|s| s["service_type"] == "personal_care").unwrap();
    assert_eq!(
        (care["monthly_amount"].as_i64(), care["amount_unit"].as_str(), care["double_staffing"].as_bool()),
        (Some(1320), Some("minutes"), Some(true))
    );

    let (s, list) = w.app.get(&format!("/api/v1/clients/{}/decisions", w.client), &w.officer).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let id = d["id"].as_str().unwrap();
    let (s, one) = w.app.get(&format!("/api/v1/decisions/{id}"), &w.officer).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["id"], id);

    // Every read and change of the client's decisions is in the audit log.
    let (s, log) = w.app.get(&format!("/api/v1/audit?client_id={}", w.client), &w.admin).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let entries: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_string(), e["subject_type"].as_str().unwrap().to_string()))
        .collect();
    assert!(entries.contains(&("create".into(), "decision".into())), "{entries:?}");
    assert!(entries.contains(&("read".into(), "decision".into())), "{entries:?}");
    assert!(entries.contains(&("read".into(), "client".into())), "{entries:?}");
}

#[tokio::test]
async fn bad_decisions_are_refused_with_every_field_named() {
    let w = world().await;
    let (s, b) = grant(
        &w,
        json!({"valid_from": "2026-13-01", "valid_to": "2026-01-01", "services": [
            {"service_type": "personal_care", "monthly_amount": 0},
            {"service_type": "meals", "monthly_amount": 30, "double_staffing": true},
            {"service_type": "sauna", "monthly_amount": 5}
        ]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let c = codes(&b);
    for expected in [
        "valid_from:invalid_date",
        "services[0].monthly_amount:amount_out_of_range",
        "services[1].double_staffing:double_staffing_not_applicable",
        "services[2].service_type:unknown_service_type",
    ] {
        assert!(c.contains(&expected.to_string()), "{expected} missing in {c:?}");
    }
    let (s, b) = grant(&w, json!({"valid_from": "2026-03-01", "valid_to": "2026-02-01", "services": [care(60)]})).await;
    assert_eq!((s, codes(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["valid_to:end_before_start".to_string()]));
    let (s, b) = grant(&w, json!({"valid_from": "2026-03-01", "services": []})).await;
    assert_eq!((s, codes(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["services:required".to_string()]));
    let (s, b) = grant(&w, json!({"valid_from": "2026-03-01"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = w
        .app
        .post("/api/v1/clients/no-such-client/decisions", &w.officer, json!({"valid_from": "2026-03-01", "services": [care(60)]}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
}

#[tokio::test]
async fn only_the_municipality_grants_and_only_it_and_the_client_read_decisions() {
    let w = world().await;
    let (s, d) = grant(&w, json!({"valid_from": "2026-03-01", "services": [care(600)]})).await;
    assert_eq!(s, StatusCode::CREATED);
    let id = d["id"].as_str().unwrap();
    w.app.add_user("citizen", Role::Citizen, None, Some(&w.client)).await;
    let other = w.app.create_client(&w.officer, PNR_B, "836 31").await;
    w.app.add_user("other_citizen", Role::Citizen, None, Some(&other)).await;
    let prov = w.app.token("prov_a").await;
    let citizen = w.app.token("citizen").await;
    let other_citizen = w.app.token("other_citizen").await;

    let body = json!({"valid_from": "2026-03-01", "services": [care(60)]});
    for t in [&prov, &citizen] {
        let (s, b) = w.app.post(&format!("/api/v1/clients/{}/decisions", w.client), t, body.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        let (s, _) = w.app.post(&format!("/api/v1/decisions/{id}/end"), t, json!({"end_date": "2026-04-01", "reason": "x"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (s, _) = w.app.get(&format!("/api/v1/clients/{}/decisions", w.client), &citizen).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = w.app.get(&format!("/api/v1/decisions/{id}"), &citizen).await;
    assert_eq!(s, StatusCode::OK);
    for t in [&prov, &other_citizen] {
        let (s, _) = w.app.get(&format!("/api/v1/clients/{}/decisions", w.client), t).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = w.app.get(&format!("/api/v1/decisions/{id}"), t).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, _) = w.app.get("/api/v1/reports/unexecuted-decisions", &prov).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w.app.get("/api/v1/reports/unexecuted-decisions", &citizen).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_change_is_a_new_version_and_the_old_one_ends_the_day_before() {
    let w = world().await;
    let (_, d) = grant(&w, json!({"valid_from": "2026-01-01", "services": [care(1320)]})).await;
    let id = d["id"].as_str().unwrap();
    let (s, d2) = w
        .app
        .post(
            &format!("/api/v1/decisions/{id}/versions"),
            &w.officer,
            json!({"valid_from": "2026-04-01", "services": [care(1800)], "expected_version": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d2}");
    assert_eq!(d2["id"], id, "the decision keeps its id");
    assert_eq!(d2["current"]["version"], 2);
    assert_eq!(d2["current"]["services"][0]["monthly_amount"], 1800);
    assert_eq!(d2["start_date"], "2026-01-01");
    let v1 = &d2["versions"][1];
    assert_eq!((v1["version"].as_i64(), v1["state"].as_str(), v1["valid_to"].as_str()), (Some(1), Some("replaced"), Some("2026-03-31")));
    assert_eq!(v1["services"][0]["monthly_amount"], 1320, "history keeps what was granted");

    // A correction from the current version's own first day supersedes it.
    let (s, d3) = w
        .app
        .post(&format!("/api/v1/decisions/{id}/versions"), &w.officer, json!({"valid_from": "2026-04-01", "services": [care(1700)]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d3}");
    let states: Vec<(i64, String)> = d3["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["state"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(states, vec![(3, "current".into()), (2, "superseded".into()), (1, "replaced".into())]);

    // A change made against an old version, or before the current version, is refused.
    let (s, b) = w
        .app
        .post(
            &format!("/api/v1/decisions/{id}/versions"),
            &w.officer,
            json!({"valid_from": "2026-05-01", "services": [care(60)], "expected_version": 2}),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")));
    let (s, b) = w
        .app
        .post(&format!("/api/v1/decisions/{id}/versions"), &w.officer, json!({"valid_from": "2026-03-01", "services": [care(60)]}))
        .await;
    assert_eq!((s, codes(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["valid_from:change_before_current_version".to_string()]));
}

#[tokio::test]
async fn ending_a_decision_is_idempotent_and_cannot_extend_it() {
    let w = world().await;
    let (_, d) = grant(&w, json!({"valid_from": "2026-01-01", "services": [care(600)]})).await;
    let id = d["id"].as_str().unwrap();
    let path = format!("/api/v1/decisions/{id}/end");
    let (s, e) = w.app.post(&path, &w.officer, json!({"end_date": "2026-03-31", "reason": "Flyttat till särskilt boende"})).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["end_date"], "2026-03-31");
    assert_eq!(e["current"]["end_reason"], "Flyttat till särskilt boende");
    let (s, again) = w.app.post(&path, &w.officer, json!({"end_date": "2026-03-31", "reason": "again"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["current"]["end_reason"], "Flyttat till särskilt boende");
    let (s, b) = w.app.post(&path, &w.officer, json!({"end_date": "2026-04-30", "reason": "later"})).await;
    assert_eq!((s, codes(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["end_date:end_after_end".to_string()]));
    let (s, b) = w.app.post(&path, &w.officer, json!({"end_date": "2025-12-31", "reason": "before"})).await;
    assert_eq!((s, codes(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["end_date:end_before_start".to_string()]));
    let (s, b) = w.app.post(&path, &w.officer, json!({"end_date": "2026-03-15", "reason": ""})).await;
    assert_eq!((s, codes(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["reason:required".to_string()]));
    // Shortening is allowed.
    let (s, e) = w.app.post(&path, &w.officer, json!({"end_date": "2026-03-15", "reason": "Avliden"})).await;
    assert_eq!((s, e["end_date"].as_str()), (StatusCode::OK, Some("2026-03-15")));
    w.app.clock.set("2026-03-20T09:00:00Z".parse().unwrap());
    let (_, e) = w.app.get(&format!("/api/v1/decisions/{id}"), &w.app.token("officer").await).await;
    assert_eq!(e["status"], "ended");
}

#[tokio::test]
async fn a_service_cannot_be_granted_twice_for_the_same_days() {
    let w = world().await;
    let (s, first) = grant(&w, json!({"valid_from": "2026-01-01", "valid_to": "2026-06-30", "services": [care(600)]})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = grant(&w, json!({"valid_from": "2026-06-01", "services": [care(900)]})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("service_already_granted")), "{b}");
    // Another service, or the same one after the first decision ends, is fine.
    let (s, _) = grant(&w, json!({"valid_from": "2026-06-01", "services": [{"service_type": "meals", "monthly_amount": 20}]})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = grant(&w, json!({"valid_from": "2026-07-01", "services": [care(900)]})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Extending the first decision into the second one's months is refused too.
    let id = first["id"].as_str().unwrap();
    let (s, b) = w
        .app
        .post(&format!("/api/v1/decisions/{id}/versions"), &w.officer, json!({"valid_from": "2026-05-01", "services": [care(700)]}))
        .await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("service_already_granted")), "{b}");
}

#[tokio::test]
async fn two_simultaneous_changes_make_exactly_one_new_version() {
    let w = world().await;
    let (_, d) = grant(&w, json!({"valid_from": "2026-01-01", "services": [care(600)]})).await;
    let id = d["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/decisions/{id}/versions");
    let mut tasks = Vec::new();
    for minutes in [700, 800, 900, 1000] {
        let (url, token, path) = (w.app.url.clone(), w.officer.clone(), path.clone());
        let http = w.app.http.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"valid_from": "2026-04-01", "services": [care(minutes)], "expected_version": 1});
            http.post(format!("{url}{path}")).bearer_auth(token).json(&body).send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
    let (_, d) = w.app.get(&format!("/api/v1/decisions/{id}"), &w.officer).await;
    assert_eq!(d["versions"].as_array().unwrap().len(), 2);
    assert_eq!(d["current"]["version"], 2);
}

#[tokio::test]
async fn the_ivo_report_lists_decisions_not_executed_within_three_months() {
    let w = world().await;
    // Waiting since 1 November: deadline 1 February, long past on 10 March.
    let (_, waiting) = grant(&w, json!({"valid_from": "2025-11-01", "services": [care(600)]})).await;
    // Started 1 December but executed at once.
    let c2 = w.app.create_client(&w.officer, PNR_B, "836 31").await;
    let (s, executed) = w
        .app
        .post(&format!("/api/v1/clients/{c2}/decisions"), &w.officer, json!({"valid_from": "2025-12-01", "services": [care(600)]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{executed}");
    set_periods(&w.app, &c2, &[period("personal_care", &w.provider_a, "2025-12-01", None)]).await;
    // Started 1 November, executed late on 1 March.
    let c3 = w.app.create_client(&w.officer, PNR_C, "834 31").await;
    let (_, late) = w
        .app
        .post(&format!("/api/v1/clients/{c3}/decisions"), &w.officer, json!({"valid_from": "2025-11-01", "services": [care(600)]}))
        .await;
    set_periods(&w.app, &c3, &[period("personal_care", &w.provider_b, "2026-03-01", None)]).await;
    // Recent: not yet three months.
    let c4 = w.app.create_client(&w.officer, "19450303-3336", "831 30").await;
    w.app.post(&format!("/api/v1/clients/{c4}/decisions"), &w.officer, json!({"valid_from": "2026-01-15", "services": [care(600)]})).await;

    let (s, rows) = w.app.get("/api/v1/reports/unexecuted-decisions", &w.officer).await;
    assert_eq!(s, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["decision_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{rows:?}");
    assert!(ids.contains(&waiting["id"].as_str().unwrap()));
    assert!(ids.contains(&late["id"].as_str().unwrap()));
    let w_row = rows.iter().find(|r| r["decision_id"] == waiting["id"]).unwrap();
    assert_eq!(
        (w_row["deadline"].as_str(), w_row["executed_on"].as_str(), w_row["days_waiting"].as_i64()),
        (Some("2026-02-01"), None, Some(129))
    );
    assert_eq!(w_row["services"], json!(["personal_care"]));
    let l_row = rows.iter().find(|r| r["decision_id"] == late["id"]).unwrap();
    assert_eq!((l_row["executed_on"].as_str(), l_row["days_waiting"].as_i64()), (Some("2026-03-01"), Some(120)));

    // Three months after 15 January the recent one is due too.
    w.app.clock.set("2026-04-16T09:00:00Z".parse().unwrap());
    let (_, rows) = w.app.get("/api/v1/reports/unexecuted-decisions", &w.app.token("admin").await).await;
    assert_eq!(rows.as_array().unwrap().len(), 3);
}

/// The demo municipality: decisions behind every assignment, inboxes with
/// something in them, and rows in the IVO report.
#[tokio::test]
async fn the_demo_has_decisions_assignments_and_ivo_rows() {
    let app = spawn_app().await;
    valfri::demo::ensure(&app.state).await.unwrap();
    let pool = &app.state.db.pool;
    let clients: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients").fetch_one(pool).await.unwrap();
    let with_decision: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT client_id) FROM decisions").fetch_one(pool).await.unwrap();
    assert_eq!(with_decision, clients);
    let without: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assignments WHERE decision_id IS NULL").fetch_one(pool).await.unwrap();
    assert_eq!(without, 0, "every demo assignment follows a decision");
    let double: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM decision_services WHERE double_staffing = 1").fetch_one(pool).await.unwrap();
    assert!(double > 10, "{double}");
    let alarms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assignments a JOIN providers p ON p.id = a.provider_id WHERE a.service_type = 'safety_alarm' AND p.ownership = 'municipal'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(alarms > 500, "{alarms}");
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assignments WHERE acknowledged_at IS NULL").fetch_one(pool).await.unwrap();
    assert!(pending > 10, "{pending}");
    let token = app.token_for_demo("handlaggare").await;
    let (s, rows) = app.get("/api/v1/reports/unexecuted-decisions", &token).await;
    assert_eq!(s, StatusCode::OK);
    assert!(rows.as_array().unwrap().len() >= 5, "{rows}");
}

/// A token for one of the demo's users.
pub async fn demo_token(app: &TestApp, username: &str) -> String {
    app.token_for_demo(username).await
}

trait DemoToken {
    async fn token_for_demo(&self, username: &str) -> String;
}

impl DemoToken for TestApp {
    async fn token_for_demo(&self, username: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/token",
                None,
                Some(json!({"username": username, "password": valfri::demo::DEMO_PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_string()
    }
}

/// A server-rendered page or form post, as a browser without JavaScript sends it.
pub async fn page(app: &TestApp, path: &str, token: &str, form: Option<&[(&str, &str)]>) -> (StatusCode, String, String) {
    let url = format!("{}{path}", app.url);
    let req = match form {
        Some(f) => app.http.post(url).form(f),
        None => app.http.get(url),
    };
    let res = req.bearer_auth(token).send().await.unwrap();
    let status = res.status();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, res.text().await.unwrap(), location)
}

#[tokio::test]
async fn a_case_officer_registers_a_client_and_a_decision_on_the_web() {
    let w = world().await;
    let (s, html, _) = page(&w.app, "/clients/new", &w.officer, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"<html lang="sv">"#) && html.contains(r#"for="person_id""#), "{html}");

    // Bad input: the form comes back with each error next to its field.
    let bad =
        [("person_id", "19121212-1213"), ("name", ""), ("address", "Storgatan 2"), ("postcode", "999 99"), ("preferred_language", "sv")];
    let (s, html, _) = page(&w.app, "/clients/new", &w.officer, Some(&bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for id in ["person_id", "name", "postcode"] {
        assert!(html.contains(&format!(r#"id="{id}-error""#)), "no error for {id}: {html}");
    }
    assert!(html.contains("Kontrollsiffran stämmer inte"), "{html}");
    assert!(html.contains(r#"value="Storgatan 2""#), "what was typed is kept");

    let good = [
        ("person_id", PNR_C),
        ("name", "Greta Jämtlund"),
        ("address", "Storgatan 2"),
        ("postcode", "831 30"),
        ("preferred_language", "fi"),
        ("protected_identity", "1"),
    ];
    let (s, _, location) = page(&w.app, "/clients/new", &w.officer, Some(&good)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let client_path = location.split('?').next().unwrap().to_string();
    let id = client_path.trim_start_matches("/clients/").to_string();
    let (s, html, _) = page(&w.app, &location, &w.officer, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Greta Jämtlund") && html.contains("Skyddad identitet"));
    assert!(html.contains(&format!(r#"href="/clients/{id}/choose""#)), "links to the choice page");

    // A decision in hours as people write them.
    let (s, html, _) = page(
        &w.app,
        &format!("/clients/{id}/decisions"),
        &w.officer,
        Some(&[("valid_from", "2026-03-01"), ("amount_personal_care", "22,5x"), ("amount_meals", "30")]),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="amount_personal_care-error""#) && html.contains(r#"aria-invalid="true""#), "{html}");
    let (s, _, location) = page(
        &w.app,
        &format!("/clients/{id}/decisions"),
        &w.officer,
        Some(&[
            ("valid_from", "2026-03-01"),
            ("valid_to", ""),
            ("amount_personal_care", "22,5"),
            ("double_personal_care", "on"),
            ("amount_meals", "30"),
            ("note", ""),
        ]),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{location}");
    let (_, ds) = w.app.get(&format!("/api/v1/clients/{id}/decisions"), &w.officer).await;
    let pc = ds[0]["current"]["services"].as_array().unwrap().iter().find(|s| s["service_type"] == "personal_care").unwrap().clone();
    assert_eq!((pc["monthly_amount"].as_i64(), pc["double_staffing"].as_bool()), (Some(1350), Some(true)));
    let did = ds[0]["id"].as_str().unwrap();
    let (s, html, _) = page(&w.app, &format!("/clients/{id}"), &w.officer, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("22,5 tim/mån") && html.contains("30 portioner/mån"), "{html}");

    // The decision page: change from April, then end.
    let (s, html, _) = page(&w.app, &format!("/decisions/{did}?lang=en"), &w.officer, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"<html lang="en">"#) && html.contains(r#"value="22.5""#), "prefilled with the current amounts");
    let (s, _, _) = page(
        &w.app,
        &format!("/decisions/{did}/change"),
        &w.officer,
        Some(&[("valid_from", "2026-04-01"), ("amount_personal_care", "30"), ("expected_version", "1")]),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, html, _) =
        page(&w.app, &format!("/decisions/{did}/end"), &w.officer, Some(&[("end_date", "2026-01-01"), ("reason", "x")])).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="end_date-error""#));
    let (s, _, _) =
        page(&w.app, &format!("/decisions/{did}/end"), &w.officer, Some(&[("end_date", "2026-06-30"), ("reason", "Flyttar")])).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, d) = w.app.get(&format!("/api/v1/decisions/{did}"), &w.officer).await;
    assert_eq!((d["current"]["version"].as_i64(), d["end_date"].as_str()), (Some(2), Some("2026-06-30")));

    // Search finds the client; the IVO page renders.
    let (s, html, _) = page(&w.app, "/clients?q=jämt", &w.officer, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("/clients/{id}")));
    let (s, _, _) = page(&w.app, "/reports/unexecuted-decisions", &w.officer, None).await;
    assert_eq!(s, StatusCode::OK);
}

/// A form the page cannot read is answered with a page in the user's
/// language that names the field, and nothing is stored: a control
/// character (NUL is refused by PostgreSQL and would be stored by SQLite, so
/// both refuse it alike), a missing or mistyped field, a body that is not a
/// form.
#[tokio::test]
async fn an_unreadable_form_gets_a_page_naming_the_field_and_stores_nothing() {
    let w = world().await;
    let count = || async { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM clients").fetch_one(&w.app.state.db.pool).await.unwrap() };
    let before = count().await;
    let form = |name: &'static str| {
        [("person_id", PNR_C), ("name", name), ("address", "Storgatan 2"), ("postcode", "831 30"), ("preferred_language", "sv")]
    };
    for (name, field) in [("Greta\0Jämtlund", "name"), ("Greta\u{1b}[31m", "name")] {
        let (s, html, _) = page(&w.app, "/clients/new", &w.officer, Some(&form(name))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
        assert!(html.contains(r#"<html lang="sv">"#) && html.contains(&format!("Fältet ”{field}” innehåller ett styrtecken")), "{html}");
    }
    // With a link back to the form the browser came from (on this site only).
    let host = w.app.url.trim_start_matches("http://").to_string();
    for (referer, back) in [
        (format!("http://{host}/clients/new?lang=sv"), Some("/clients/new?lang=sv")),
        ("http://elsewhere.example/clients/new".into(), None),
        (format!("http://{host}//elsewhere.example/x"), None),
    ] {
        let res = w
            .app
            .http
            .post(format!("{}/clients/new", w.app.url))
            .bearer_auth(&w.officer)
            .header("referer", referer)
            .form(&form("a\0b"))
            .send()
            .await
            .unwrap();
        let html = res.text().await.unwrap();
        let link = back.map(|b| format!(r#"<a href="{b}">Tillbaka till formuläret</a>"#));
        assert_eq!(link.as_ref().is_some_and(|l| html.contains(l)), back.is_some(), "{html}");
        assert_eq!(html.contains("Tillbaka till formuläret"), back.is_some(), "{html}");
    }
    assert_eq!(count().await, before, "nothing stored");

    // In English, and a field that must be a number.
    let (s, html, _) = page(&w.app, "/clients/new?lang=en", &w.officer, Some(&[("name\0", "x")])).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"<html lang="en">"#) && html.contains("The field “name\\0” contains a control character"), "{html}");
    let (s, html, _) = page(&w.app, "/settlements/none/approve?lang=en", &w.admin, Some(&[("revision", "två")])).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("The field “revision” is missing or has a value the page cannot read"), "{html}");

    // Signing in without a password; a body that is not a form.
    let res = w.app.http.post(format!("{}/login", w.app.url)).form(&[("username", "officer")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Fältet ”password” saknas"));
    let res = w.app.http.post(format!("{}/clients/new", w.app.url)).bearer_auth(&w.officer).body("name=x").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(res.text().await.unwrap().contains("Sidan tog inte emot något formulär"));
    assert_eq!(count().await, before);
}

#[tokio::test]
async fn providers_and_citizens_do_not_get_the_case_officer_pages() {
    let w = world().await;
    let prov = w.app.token("prov_a").await;
    for path in ["/clients", "/clients/new", &format!("/clients/{}", w.client), "/reports/unexecuted-decisions"] {
        let (s, _, _) = page(&w.app, path, &prov, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _, _) =
        page(&w.app, &format!("/clients/{}/decisions", w.client), &prov, Some(&[("valid_from", "2026-03-01"), ("amount_meals", "3")]))
            .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let res = w.app.http.get(format!("{}/clients", w.app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "not signed in: to the sign-in page");
}

/// The client search shows what it finds and logs exactly that: nothing
/// before a search, and when more match than it shows, it says so.
#[tokio::test]
async fn the_client_search_logs_only_what_it_shows_and_says_when_there_is_more() {
    let app = spawn_app().await;
    crate::bench_smoke::generated_month(&app, valfri::bench::Spec::small(130, 2)).await;
    app.add_user("officer", Role::CaseOfficer, None, None).await;
    let officer = app.token("officer").await;
    let pool = &app.state.db.pool;
    let logged = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE detail = 'client search page'").fetch_one(pool).await.unwrap()
    };
    let rows = |html: &str| html.split("<tbody>").nth(1).map_or(0, |b| b.split("</tbody>").next().unwrap().matches("<tr>").count());

    // The page before a search lists nobody, so it logs nobody.
    let (s, html, _) = page(&app, "/clients", &officer, None).await;
    assert_eq!((s, rows(&html)), (StatusCode::OK, 0));
    assert_eq!(logged().await, 0, "a page that showed no client logged clients");

    // Every generated personnummer has a hyphen: more match than the page shows.
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients WHERE person_id LIKE '%-%'").fetch_one(pool).await.unwrap();
    assert!(all > 100, "{all}");
    let (s, html, _) = page(&app, "/clients?q=-", &officer, None).await;
    assert_eq!((s, rows(&html)), (StatusCode::OK, 100));
    assert!(html.contains("Fler än 100 brukare matchar. De 100 första visas: skriv mer av namnet, personnumret eller adressen."), "{html}");
    assert_eq!(logged().await, 100);
    let (_, en, _) = page(&app, "/clients?q=-&lang=en", &officer, None).await;
    assert!(
        en.contains("More than 100 clients match. The first 100 are shown: type more of the name, personal identity number or address.")
    );

    // A narrower search shows every match, and says nothing more.
    let (name,): (String,) = sqlx::query_as("SELECT name FROM clients ORDER BY name LIMIT 1").fetch_one(pool).await.unwrap();
    let (_, html, _) = page(&app, &format!("/clients?q={}", urlencoding::encode(&name)), &officer, None).await;
    assert!(rows(&html) >= 1 && !html.contains("Fler än 100"), "{html}");
}

/// A provider with more clients than one answer holds reads them all, page
/// by page, and only its own.
#[tokio::test]
async fn a_provider_pages_through_all_of_its_clients() {
    let app = spawn_app().await;
    crate::bench_smoke::generated_month(&app, valfri::bench::Spec::small(80, 3)).await;
    let pool = &app.state.db.pool;
    let (provider, n): (String, i64) = sqlx::query_as(
        "SELECT provider_id, COUNT(DISTINCT client_id) FROM assignments GROUP BY provider_id ORDER BY COUNT(DISTINCT client_id) DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(n > 20, "{n}");
    app.add_user("prov", Role::Provider, Some(&provider), None).await;
    let token = app.token("prov").await;
    let ids = |v: &Value| v.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (s, whole) = app.get("/api/v1/clients?limit=500", &token).await;
    assert_eq!(s, StatusCode::OK);
    let whole = ids(&whole);
    assert!(whole.len() > 20, "{}", whole.len());
    let paged = app.ids_page_by_page("/api/v1/clients?q=", &token, 7).await;
    assert_eq!(paged, whole);
    let (s, p) = app.get("/api/v1/clients?offset=-1", &token).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("offset")), "{p}");
}
