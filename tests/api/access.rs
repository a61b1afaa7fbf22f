//! The authorization matrix over HTTP: who may read and change what.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use valfri::auth::Role;

struct World {
    app: TestApp,
    admin: String,
    provider_a: String,
    provider_b: String,
    client_a: String,
    client_b: String,
}

/// Provider A serves client A, provider B serves client B; one user of each role.
async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let provider_a = app.create_provider(&admin, "Omsorg A AB", ORG_A).await;
    let provider_b = app.create_provider(&admin, "Omsorg B AB", ORG_B).await;
    let client_a = app.create_client(&admin, PNR_A, "831 30").await;
    let client_b = app.create_client(&admin, PNR_B, "836 31").await;
    app.assign(&client_a, &provider_a, "2026-01-01", None).await;
    app.assign(&client_b, &provider_b, "2026-01-01", None).await;
    app.add_user("prov_a", Role::Provider, Some(&provider_a), None).await;
    app.add_user("prov_b", Role::Provider, Some(&provider_b), None).await;
    app.add_user("officer", Role::CaseOfficer, None, None).await;
    app.add_user("citizen_a", Role::Citizen, None, Some(&client_a)).await;
    World { app, admin, provider_a, provider_b, client_a, client_b }
}

#[tokio::test]
async fn a_provider_sees_only_its_own_clients() {
    let w = world().await;
    let t = w.app.token("prov_a").await;
    let (s, _) = w.app.get(&format!("/api/v1/clients/{}", w.client_a), &t).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = w.app.get(&format!("/api/v1/clients/{}", w.client_b), &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, body) = w.app.get("/api/v1/clients", &t).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = body.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![w.client_a.as_str()]);
}

#[tokio::test]
async fn a_provider_cannot_read_another_providers_data() {
    let w = world().await;
    let t = w.app.token("prov_a").await;
    let (s, _) = w.app.get(&format!("/api/v1/providers/{}/clients", w.provider_a), &t).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = w.app.get(&format!("/api/v1/providers/{}/clients", w.provider_b), &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The public profile stays public.
    let (s, body) = w.app.call(Method::GET, &format!("/api/v1/providers/{}", w.provider_b), None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["name"], "Omsorg B AB");
}

#[tokio::test]
async fn a_provider_loses_access_90_days_after_the_assignment_ends() {
    let w = world().await;
    let client = w.app.create_client(&w.admin, PNR_C, "834 31").await;
    w.app.assign(&client, &w.provider_a, "2025-01-01", Some("2025-12-01")).await;
    let t = w.app.token("prov_a").await;
    // 2026-03-10 is 99 days after 2025-12-01.
    let (s, _) = w.app.get(&format!("/api/v1/clients/{client}"), &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    w.app.clock.set("2026-02-20T09:00:00Z".parse().unwrap());
    let t = w.app.token("prov_a").await;
    let (s, _) = w.app.get(&format!("/api/v1/clients/{client}"), &t).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_citizen_sees_only_themself() {
    let w = world().await;
    let t = w.app.token("citizen_a").await;
    let (s, body) = w.app.get(&format!("/api/v1/clients/{}", w.client_a), &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["person_id"], PNR_A);
    let (s, _) = w.app.get(&format!("/api/v1/clients/{}", w.client_b), &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = w.app.get("/api/v1/clients", &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body.as_array().unwrap().len(), 1);
    let (s, _) = w.app.get(&format!("/api/v1/providers/{}/clients", w.provider_a), &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_admin_changes_setup_users_and_reads_the_audit_log() {
    let w = world().await;
    for user in ["officer", "prov_a", "citizen_a"] {
        let t = w.app.token(user).await;
        let (s, b) = w.app.call(Method::PUT, "/api/v1/setup/zones/x", Some(&t), Some(json!({"code": "x", "name": "X"}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{user}: {b}");
        assert_eq!(b["code"], "forbidden");
        let (s, _) = w.app.get("/api/v1/audit", &t).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{user}");
        let (s, _) = w.app.get("/api/v1/users", &t).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{user}");
        // Everyone signed in may read the setup.
        let (s, _) = w.app.get("/api/v1/setup/rates", &t).await;
        assert_eq!(s, StatusCode::OK, "{user}");
    }
    let (s, _) = w.app.get("/api/v1/audit", &w.admin).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn providers_and_citizens_cannot_register_clients_or_providers() {
    let w = world().await;
    for user in ["prov_a", "citizen_a"] {
        let t = w.app.token(user).await;
        let (s, _) =
            w.app.post("/api/v1/clients", &t, json!({"person_id": PNR_C, "name": "X", "address": "Y", "postcode": "831 30"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{user}");
        let (s, _) = w.app.post("/api/v1/providers", &t, json!({"name": "X", "org_nr": "556036-0793", "ownership": "private"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{user}");
    }
    let t = w.app.token("officer").await;
    let (s, _) = w.app.post("/api/v1/clients", &t, json!({"person_id": PNR_C, "name": "X", "address": "Y", "postcode": "831 30"})).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn every_route_without_a_token_is_refused() {
    let w = world().await;
    for (method, path) in [
        (Method::GET, "/api/v1/setup".to_string()),
        (Method::GET, "/api/v1/setup/rates".to_string()),
        (Method::GET, "/api/v1/clients".to_string()),
        (Method::GET, format!("/api/v1/clients/{}", w.client_a)),
        (Method::GET, format!("/api/v1/providers/{}/clients", w.provider_a)),
        (Method::GET, "/api/v1/audit".to_string()),
        (Method::GET, "/api/v1/users".to_string()),
        (Method::GET, "/api/v1/auth/me".to_string()),
    ] {
        let (s, b) = w.app.call(method.clone(), &path, None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}: {b}");
        assert_eq!(b["code"], "unauthenticated");
        let (s, _) = w.app.call(method.clone(), &path, Some("not-a-token"), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} with a bad token");
    }
}

#[tokio::test]
async fn every_read_of_a_client_is_audited() {
    let w = world().await;
    let t = w.app.token("prov_a").await;
    w.app.get(&format!("/api/v1/clients/{}", w.client_a), &t).await;
    w.app.get("/api/v1/clients", &t).await;
    let (s, log) = w.app.get(&format!("/api/v1/audit?client_id={}", w.client_a), &w.admin).await;
    assert_eq!(s, StatusCode::OK);
    let entries = log.as_array().unwrap();
    let by_prov: Vec<&str> = entries.iter().filter(|e| e["actor_username"] == "prov_a").map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(by_prov, vec!["list", "read"], "newest first: {log}");
    assert!(entries.iter().any(|e| e["action"] == "create" && e["actor_username"] == "admin"));
    // A refused read leaves no trace of data shown, and shows nothing.
    let (s, _) = w.app.get(&format!("/api/v1/clients/{}", w.client_b), &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, log_b) = w.app.get(&format!("/api/v1/audit?client_id={}", w.client_b), &w.admin).await;
    assert!(log_b.as_array().unwrap().iter().all(|e| e["actor_username"] != "prov_a"));
}

#[tokio::test]
async fn the_audit_log_cannot_be_changed() {
    let w = world().await;
    // No route: only GET exists.
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
        let (s, b) = w.app.call(method.clone(), "/api/v1/audit", Some(&w.admin), Some(json!({}))).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{method}: {b}");
    }
    // And the database refuses it even to our own code.
    let pool = &w.app.state.db.pool;
    assert!(sqlx::query("UPDATE audit_log SET detail = 'x'").execute(pool).await.is_err());
    assert!(sqlx::query("DELETE FROM audit_log").execute(pool).await.is_err());
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(pool).await.unwrap();
    assert!(n > 0);
}
