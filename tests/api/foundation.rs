//! The foundation over HTTP: setup versioning, sign-in and sessions, error
//! bodies, the web shell, the CLI and the OpenAPI snapshot.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use valfri::auth::Role;

fn codes(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| (e["field"].as_str().unwrap().to_string(), e["code"].as_str().unwrap().to_string())).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- setup

#[tokio::test]
async fn a_rate_change_is_a_new_version_and_history_is_kept() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let new =
        json!({"service_type": "personal_care", "zone": "town", "time_class": "day", "valid_from": "2026-07-01", "amount_ore": 43000});
    let (s, b) = app.post("/api/v1/setup/rates", &admin, new.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // A retried identical request changes nothing.
    let (s, _) = app.post("/api/v1/setup/rates", &admin, new).await;
    assert_eq!(s, StatusCode::OK);
    // A different amount for the same version is refused, not overwritten.
    let (s, b) = app
        .post(
            "/api/v1/setup/rates",
            &admin,
            json!({"service_type": "personal_care", "zone": "town", "time_class": "day", "valid_from": "2026-07-01", "amount_ore": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(b["code"], "version_exists");

    let (_, all) = app.get("/api/v1/setup/rates?service_type=personal_care&zone=town", &admin).await;
    let amounts: Vec<i64> = all.as_array().unwrap().iter().map(|r| r["amount_ore"].as_i64().unwrap()).collect();
    assert_eq!(amounts, vec![41480, 43000]);
    let (_, june) = app.get("/api/v1/setup/rates?service_type=personal_care&zone=town&on=2026-06-30", &admin).await;
    assert_eq!(june[0]["amount_ore"], 41480);
    let (_, july) = app.get("/api/v1/setup/rates?service_type=personal_care&zone=town&on=2026-07-01", &admin).await;
    assert_eq!(july[0]["amount_ore"], 43000);
    let (s, b) = app.get("/api/v1/setup/rates?on=tomorrow", &admin).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(codes(&b)[0].0, "on");
}

#[tokio::test]
async fn rate_errors_name_the_field() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    for (body, field, code) in [
        (
            json!({"service_type": "nope", "zone": "town", "time_class": "day", "valid_from": "2026-07-01", "amount_ore": 1}),
            "service_type",
            "unknown_service_type",
        ),
        (
            json!({"service_type": "personal_care", "zone": "moon", "time_class": "day", "valid_from": "2026-07-01", "amount_ore": 1}),
            "zone",
            "unknown_zone",
        ),
        (
            json!({"service_type": "meals", "zone": "town", "time_class": "day", "valid_from": "2026-07-01", "amount_ore": 1}),
            "time_class",
            "wrong_time_class",
        ),
    ] {
        let (s, b) = app.post("/api/v1/setup/rates", &admin, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(codes(&b), vec![(field.to_string(), code.to_string())], "{b}");
    }
    let (s, b) = app
        .post(
            "/api/v1/setup/rates",
            &admin,
            json!({"service_type": "personal_care", "zone": "town", "time_class": "day", "valid_from": "2026-02-30", "amount_ore": -5}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = codes(&b).into_iter().map(|(f, _)| f).collect();
    assert!(fields.contains(&"valid_from".to_string()) && fields.contains(&"amount_ore".to_string()), "{b}");
}

#[tokio::test]
async fn conditions_are_versioned_from_a_date() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let v2 = json!({"valid_from": "2026-09-01", "notice_days": 7, "requirements": [{"code": "insurance", "text": "Försäkring"}, {"code": "language", "text": "Svenska"}]});
    let (s, b) = app.post("/api/v1/setup/choice-systems/hemtjanst/conditions", &admin, v2.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = app.post("/api/v1/setup/choice-systems/hemtjanst/conditions", &admin, v2).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .post(
            "/api/v1/setup/choice-systems/hemtjanst/conditions",
            &admin,
            json!({"valid_from": "2026-09-01", "notice_days": 30, "requirements": []}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (_, cs) = app.get("/api/v1/setup/choice-systems", &admin).await;
    let versions = cs[0]["conditions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["notice_days"], 7);
    let (s, _) = app.post("/api/v1/setup/choice-systems/nope/conditions", &admin, json!({"valid_from": "2026-09-01"})).await;
    assert!(s == StatusCode::NOT_FOUND || s == StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_area_with_an_unknown_zone_is_refused_and_the_setup_is_unchanged() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let mut doc = small_setup();
    doc["areas"][0]["zone"] = json!("nowhere");
    let (s, b) = app.call(Method::PUT, "/api/v1/setup", Some(&admin), Some(doc)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(codes(&b).iter().any(|(f, _)| f.starts_with("areas[0].zone")), "{b}");
    let (_, areas) = app.get("/api/v1/setup/areas", &admin).await;
    assert_eq!(areas.as_array().unwrap().iter().find(|a| a["code"] == "centrum").unwrap()["zone"], "town");
}

#[tokio::test]
async fn concurrent_identical_rate_versions_make_one_row() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let body =
        json!({"service_type": "personal_care", "zone": "rural", "time_class": "day", "valid_from": "2026-08-01", "amount_ore": 52000});
    let calls = (0..8).map(|_| app.post("/api/v1/setup/rates", &admin, body.clone()));
    let results = futures_join_all(calls).await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|(s, _)| s.is_success()), "{results:?}");
    let (_, all) = app.get("/api/v1/setup/rates?service_type=personal_care&zone=rural", &admin).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
}

async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.collect();
    let mut out = Vec::new();
    // Polled together so the requests really overlap on the server.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
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
    out.extend(done.into_iter().map(|d| d.unwrap()));
    out
}

#[tokio::test]
async fn only_an_admin_changes_the_setup_but_everyone_signed_in_reads_it() {
    let app = spawn_app().await;
    let _admin = app.with_setup().await;
    app.add_user("officer", Role::CaseOfficer, None, None).await;
    let t = app.token("officer").await;
    let (s, _) = app.get("/api/v1/setup", &t).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.call(Method::PUT, "/api/v1/setup", Some(&t), Some(small_setup())).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(b["code"], "forbidden");
    let (s, _) = app.call(Method::GET, "/api/v1/setup", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------- sign-in

#[tokio::test]
async fn a_wrong_password_is_refused_and_audited() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let (s, b) =
        app.call(Method::POST, "/api/v1/auth/token", None, Some(json!({"username": "admin", "password": "wrong password!"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, b) =
        app.call(Method::POST, "/api/v1/auth/token", None, Some(json!({"username": "nobody", "password": "wrong password!"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (_, log) = app.get("/api/v1/audit", &admin).await;
    let failed = log.as_array().unwrap().iter().filter(|e| e["action"] == "sign_in_failed").count();
    assert!(failed >= 2, "{log}");
}

#[tokio::test]
async fn signing_out_revokes_the_token_and_tokens_expire() {
    let app = spawn_app().await;
    app.with_setup().await;
    let t = app.token("admin").await;
    let (s, _) = app.get("/api/v1/auth/me", &t).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.call(Method::DELETE, "/api/v1/auth/token", Some(&t), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get("/api/v1/auth/me", &t).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let t = app.token("admin").await;
    app.clock.advance_days(2);
    let (s, _) = app.get("/api/v1/auth/me", &t).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn users_are_created_by_admin_only_with_a_role_that_fits() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let (s, b) = app
        .post("/api/v1/users", &admin, json!({"username": "p", "display_name": "P", "password": "long enough pw", "role": "provider"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a provider user needs a provider: {b}");
    let (s, b) =
        app.post("/api/v1/users", &admin, json!({"username": "o", "display_name": "O", "password": "short", "role": "case_officer"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(codes(&b).iter().any(|(f, _)| f == "password"), "{b}");
    let ok = json!({"username": "o", "display_name": "O", "password": "long enough pw", "role": "case_officer"});
    let (s, b) = app.post("/api/v1/users", &admin, ok.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/users", &admin, ok).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let t = app.token_with("o", "long enough pw").await;
    let (s, _) = app.get("/api/v1/users", &t).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

impl TestApp {
    async fn token_with(&self, username: &str, password: &str) -> String {
        let (s, b) = self.call(Method::POST, "/api/v1/auth/token", None, Some(json!({"username": username, "password": password}))).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["token"].as_str().unwrap().to_string()
    }
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn bad_requests_get_problem_bodies_never_500() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let url = format!("{}/api/v1/clients", app.url);
    let cases: Vec<(reqwest::RequestBuilder, StatusCode)> = vec![
        (
            app.http.post(&url).bearer_auth(&admin).header("content-type", "application/json").body("{not json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (app.http.post(&url).bearer_auth(&admin).header("content-type", "text/plain").body("{}"), StatusCode::UNPROCESSABLE_ENTITY),
        (app.http.post(&url).bearer_auth(&admin).json(&json!({"person_id": 5})), StatusCode::UNPROCESSABLE_ENTITY),
        (app.http.delete(&url).bearer_auth(&admin), StatusCode::METHOD_NOT_ALLOWED),
        (app.http.get(format!("{}/api/v1/nothing-here", app.url)).bearer_auth(&admin), StatusCode::NOT_FOUND),
        (app.http.get(&url).bearer_auth("not-a-token"), StatusCode::UNAUTHORIZED),
    ];
    for (req, want) in cases {
        let res = req.send().await.unwrap();
        let status = res.status();
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, want, "{body}");
        assert!(ct.starts_with("application/problem+json"), "{ct}");
        assert_eq!(body["status"], want.as_u16());
        assert!(body["code"].as_str().is_some_and(|c| !c.is_empty()), "{body}");
    }
}

#[tokio::test]
async fn a_client_with_a_bad_personnummer_or_postcode_is_refused_field_by_field() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let (s, b) =
        app.post("/api/v1/clients", &admin, json!({"person_id": "19121212-1213", "name": "A", "address": "B", "postcode": "999 99"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let c = codes(&b);
    assert!(c.iter().any(|(f, _)| f == "person_id"), "{b}");
    let (s, b) = app.post("/api/v1/clients", &admin, json!({"person_id": PNR_A, "name": "A", "address": "B", "postcode": "999 99"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(codes(&b), vec![("postcode".to_string(), "unknown_postcode".to_string())]);
    app.create_client(&admin, PNR_A, "831 30").await;
    let (s, b) = app.post("/api/v1/clients", &admin, json!({"person_id": PNR_A, "name": "A", "address": "B", "postcode": "831 30"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
}

// ---------------------------------------------------------------- web

fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn web_sign_in_sets_a_session_cookie_and_admin_pages_check_the_role() {
    let app = spawn_app().await;
    app.with_setup().await;
    app.add_user("officer", Role::CaseOfficer, None, None).await;
    let web = cookie_client();

    let res = web.get(format!("{}/admin/setup", app.url)).send().await.unwrap();
    assert!(res.status().is_redirection());
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));

    let res = web.post(format!("{}/login", app.url)).form(&[("username", "admin"), ("password", "wrong")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = web.post(format!("{}/login", app.url)).form(&[("username", "admin"), ("password", PASSWORD)]).send().await.unwrap();
    assert!(res.status().is_redirection());
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let res = web.get(format!("{}/admin/setup", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("<html lang=\"sv\""), "Swedish by default");
    assert!(html.contains("414,80") || html.contains("414.80"), "the rate is shown");

    let res = web.get(format!("{}/admin/setup?lang=en", app.url)).send().await.unwrap();
    assert!(res.text().await.unwrap().contains("<html lang=\"en\""));

    let officer = cookie_client();
    officer.post(format!("{}/login", app.url)).form(&[("username", "officer"), ("password", PASSWORD)]).send().await.unwrap();
    let res = officer.get(format!("{}/admin/setup", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = officer.get(format!("{}/admin/audit", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    web.post(format!("{}/logout", app.url)).send().await.unwrap();
    let res = web.get(format!("{}/admin/setup", app.url)).send().await.unwrap();
    assert!(res.status().is_redirection());
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused() {
    let app = spawn_app().await;
    app.with_setup().await;
    let res = app
        .http
        .post(format!("{}/login", app.url))
        .header("origin", "https://evil.example")
        .form(&[("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn health_metrics_and_security_headers() {
    let app = spawn_app().await;
    let res = app.http.get(format!("{}/healthz", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("# TYPE"));
    let res = app.http.get(format!("{}/login", app.url)).send().await.unwrap();
    assert!(res.headers().contains_key("content-security-policy"));
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}

// ---------------------------------------------------------------- OpenAPI

/// Catches unintended API changes: a change to any route, schema or tag shows
/// up as a diff of `tests/snapshots/openapi.json`. Intended changes are
/// recorded with `UPDATE_SNAPSHOTS=1 cargo test --test api openapi`.
#[tokio::test]
async fn openapi_document_matches_the_snapshot() {
    let app = spawn_app().await;
    let res = app.http.get(format!("{}/api/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == pretty,
        "the OpenAPI document changed; review the diff and record it with UPDATE_SNAPSHOTS=1 cargo test --test api openapi"
    );
}

// ---------------------------------------------------------------- CLI

fn valfri(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_valfri")).args(args).env("VALFRI_LOG", "error").output().unwrap()
}

/// `setup apply` then `setup export` gives a file that applies again without
/// changing anything (the setup file round-trips). SQLite only: the CLI's
/// PostgreSQL path is the same code as the server's.
#[test]
fn the_setup_file_round_trips_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ostersund.toml");
    let out = valfri(&["setup", "apply", example, "--data", data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = valfri(&["setup", "export", "--data", data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported = dir.path().join("exported.toml");
    std::fs::write(&exported, &out.stdout).unwrap();
    let out = valfri(&["setup", "apply", exported.to_str().unwrap(), "--data", data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(report.contains("0 condition versions and 0 rate versions added"), "re-applying changed something: {report}");
    let again = valfri(&["setup", "export", "--data", data]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), String::from_utf8_lossy(&std::fs::read(&exported).unwrap()));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[municipality]\ncountry = \"se\"\ncode = 12\n").unwrap();
    let out = valfri(&["setup", "apply", bad.to_str().unwrap(), "--data", data]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line") || err.contains(":3"), "a setup file error names its line: {err}");
}

/// A new SQLite database is in WAL mode with 16 KiB pages (src/db.rs).
#[tokio::test]
async fn a_new_sqlite_database_has_wal_and_16_kib_pages() {
    if backend() != "sqlite" {
        return;
    }
    let app = spawn_app().await;
    let page: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&app.state.db.pool).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!((page, mode.as_str()), (16384, "wal"));
}

/// Input that carries a NUL past every check is still the user's mistake:
/// PostgreSQL refuses it in text (SQLSTATE 22021), and that is a 422, not
/// a 500. SQLite stores it, so there is nothing to map.
#[tokio::test]
async fn a_nul_that_postgresql_refuses_is_the_users_error() {
    let app = spawn_app().await;
    let stored = sqlx::query("SELECT CAST($1 AS TEXT)").bind("a\u{0}b").execute(&app.state.db.pool).await;
    match (backend(), stored) {
        ("postgres", Err(e)) => {
            let e = valfri::error::ApiError::from(e);
            assert_eq!((e.status(), e.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_character"));
        }
        ("postgres", Ok(_)) => panic!("PostgreSQL stored a NUL in text"),
        (_, r) => assert!(r.is_ok(), "{r:?}"),
    }
}
