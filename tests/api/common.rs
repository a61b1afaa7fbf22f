//! The test harness: every test starts the real server on an ephemeral port
//! with a fresh database and talks to it over HTTP. `VALFRI_TEST_DATABASE=postgres`
//! (with `VALFRI_TEST_PG_URL`) runs the same tests on PostgreSQL; the
//! default is SQLite in a temporary directory.
#![allow(dead_code, clippy::unwrap_used)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use valfri::app::{self, AppState};
use valfri::auth::api::{insert_user, NewUser};
use valfri::auth::Role;
use valfri::clock::FixedClock;
use valfri::db::Db;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub clock: FixedClock,
    pub state: AppState,
    _dir: Option<tempfile::TempDir>,
}

pub fn backend() -> &'static str {
    match std::env::var("VALFRI_TEST_DATABASE").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

async fn fresh_db() -> (Db, Option<tempfile::TempDir>) {
    if backend() == "postgres" {
        let base = std::env::var("VALFRI_TEST_PG_URL").expect("VALFRI_TEST_DATABASE=postgres needs VALFRI_TEST_PG_URL");
        sqlx::any::install_default_drivers();
        let name = format!("valfri_test_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::AnyPool::connect(&base).await.expect("connecting to the test PostgreSQL server");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("creating a test database");
        admin.close().await;
        let (prefix, _) = base.rsplit_once('/').expect("a URL with a database name");
        (Db::connect(&format!("{prefix}/{name}")).await.expect("opening the test database"), None)
    } else {
        let dir = tempfile::tempdir().expect("temp dir");
        (Db::open_dir(dir.path()).await.expect("opening SQLite"), Some(dir))
    }
}

/// 2026-03-10 09:00 UTC, a Tuesday: tests move the clock from here.
pub fn start_time() -> jiff::Timestamp {
    "2026-03-10T09:00:00Z".parse().unwrap()
}

pub async fn spawn_app() -> TestApp {
    let (db, dir) = fresh_db().await;
    let clock = FixedClock::new(start_time());
    let state = AppState::new(db, Arc::new(clock.clone())).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app::router(state.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { url: format!("http://{addr}"), http, clock, state, _dir: dir }
}

/// A small municipality: two zones, three areas, three service types, one
/// choice system and rates.
pub fn small_setup() -> Value {
    json!({
        "municipality": {"country": "se", "code": "2380", "name": "Testkommun", "time_zone": "Europe/Stockholm"},
        "zones": [{"code": "town", "name": "Tätort"}, {"code": "rural", "name": "Landsbygd"}],
        "areas": [
            {"code": "centrum", "name": "Centrum", "zone": "town", "postcodes": ["831 30", "83131"]},
            {"code": "lit", "name": "Lit", "zone": "rural", "postcodes": ["836 31"]},
            {"code": "brunflo", "name": "Brunflo", "zone": "rural", "postcodes": ["834 31"]}
        ],
        "service_types": [
            {"code": "personal_care", "name_sv": "Personlig omvårdnad", "name_en": "Personal care", "group": "personal_care", "unit": "hour", "basis": "performed"},
            {"code": "service", "name_sv": "Service", "name_en": "Service", "group": "service", "unit": "hour", "basis": "performed"},
            {"code": "meals", "name_sv": "Matdistribution", "name_en": "Meals", "group": "meals", "unit": "portion", "basis": "per_unit"}
        ],
        "choice_systems": [{
            "id": "hemtjanst", "name": "Hemtjänst LOV", "legal_model": "lov", "default_rule": "municipal",
            "services": ["personal_care", "service", "meals"], "areas": ["centrum", "lit", "brunflo"],
            "conditions": [{"valid_from": "2026-01-01", "requirements": [{"code": "insurance", "text": "Försäkring"}]}]
        }],
        "rates": [
            {"service_type": "personal_care", "zone": "town", "time_class": "day", "valid_from": "2026-01-01", "amount_ore": 41480},
            {"service_type": "personal_care", "zone": "rural", "time_class": "day", "valid_from": "2026-01-01", "amount_ore": 50670},
            {"service_type": "meals", "zone": "town", "time_class": "unit", "valid_from": "2026-01-01", "amount_ore": 5025}
        ]
    })
}

impl TestApp {
    pub async fn add_user(&self, username: &str, role: Role, provider_id: Option<&str>, client_id: Option<&str>) {
        insert_user(
            &self.state,
            &NewUser {
                username: username.into(),
                display_name: username.into(),
                password: PASSWORD.into(),
                role,
                provider_id: provider_id.map(Into::into),
                client_id: client_id.map(Into::into),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("adding user {username}: {e:?}"));
    }

    /// Signs in over the API and returns the bearer token.
    pub async fn token(&self, username: &str) -> String {
        let (status, body) =
            self.call(Method::POST, "/api/v1/auth/token", None, Some(json!({"username": username, "password": PASSWORD}))).await;
        assert_eq!(status, StatusCode::CREATED, "sign-in of {username}: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// An admin user `admin`, signed in, with `small_setup` applied.
    pub async fn with_setup(&self) -> String {
        self.add_user("admin", Role::Admin, None, None).await;
        let token = self.token("admin").await;
        let (status, body) = self.call(Method::PUT, "/api/v1/setup", Some(&token), Some(small_setup())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let text = res.text().await.unwrap();
        if status.is_client_error() || status.is_server_error() {
            assert!(ct.starts_with("application/problem+json"), "error {status} without a problem body: {ct} {text}");
        }
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// The `id`s of a list read `limit` at a time by `offset` until an answer
    /// comes back short; `path` already has its query (`/api/v1/tasks?status=all`).
    pub async fn ids_page_by_page(&self, path: &str, token: &str, limit: usize) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let (s, page) = self.get(&format!("{path}&limit={limit}&offset={}", ids.len()), token).await;
            assert_eq!(s, StatusCode::OK, "{path} at {}: {page}", ids.len());
            let got = page.as_array().unwrap_or_else(|| panic!("{page}"));
            ids.extend(got.iter().map(|x| x["id"].as_str().unwrap().to_string()));
            if got.len() < limit {
                return ids;
            }
        }
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn create_provider(&self, token: &str, name: &str, org_nr: &str) -> String {
        let (s, b) = self.post("/api/v1/providers", token, json!({"name": name, "org_nr": org_nr, "ownership": "private"})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_str().unwrap().to_string()
    }

    pub async fn create_client(&self, token: &str, person_id: &str, postcode: &str) -> String {
        let (s, b) = self
            .post(
                "/api/v1/clients",
                token,
                json!({"person_id": person_id, "name": "Test Person", "address": "Storgatan 1", "postcode": postcode}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_str().unwrap().to_string()
    }

    /// Assigns a client to a provider directly in the database (the choice
    /// flow that normally creates assignments is tested on its own).
    pub async fn assign(&self, client_id: &str, provider_id: &str, start: &str, end: Option<&str>) {
        self.insert_assignment_row(client_id, provider_id, "personal_care", (start, end), "pending").await;
    }

    /// An acknowledged assignment of any service, inserted directly.
    pub async fn insert_assignment(&self, client: &str, provider: &str, service: &str, from: &str, to: Option<&str>) {
        self.insert_assignment_row(client, provider, service, (from, to), "acknowledged").await;
    }

    async fn insert_assignment_row(&self, client: &str, provider: &str, service: &str, (from, to): (&str, Option<&str>), status: &str) {
        sqlx::query(
            "INSERT INTO assignments (id, client_id, provider_id, service_type, start_date, end_date, monthly_amount, created_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, '2026-01-01T00:00:00Z', $7)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(client)
        .bind(provider)
        .bind(service)
        .bind(from)
        .bind(to)
        .bind(status)
        .execute(&self.state.db.pool)
        .await
        .unwrap();
    }

    /// A one-version decision granting one service, inserted directly.
    pub async fn insert_decision(
        &self,
        decided_by: &str,
        client: &str,
        service: &str,
        (from, to): (&str, Option<&str>),
        minutes: i64,
        double: bool,
    ) {
        let pool = &self.state.db.pool;
        let d = uuid::Uuid::now_v7().to_string();
        let ver = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO decisions (id, client_id, created_at, created_by) VALUES ($1, $2, '2026-01-01T00:00:00Z', $3)")
            .bind(&d)
            .bind(client)
            .bind(decided_by)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO decision_versions (id, decision_id, version, valid_from, valid_to, state, decided_by, decided_at, note) \
             VALUES ($1, $2, 1, $3, $4, 'current', $5, '2026-01-01T00:00:00Z', '')",
        )
        .bind(&ver)
        .bind(&d)
        .bind(from)
        .bind(to)
        .bind(decided_by)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO decision_services (version_id, service_type, monthly_amount, double_staffing) VALUES ($1, $2, $3, $4)")
            .bind(&ver)
            .bind(service)
            .bind(minutes)
            .bind(i64::from(double))
            .execute(pool)
            .await
            .unwrap();
    }
}

/// Valid identity numbers for tests (check digits computed, not real people).
pub const PNR_A: &str = "19121212-1212";
pub const PNR_B: &str = "19400101-0018";
pub const PNR_C: &str = "19350505-5552";
pub const ORG_A: &str = "556677-8899";
pub const ORG_B: &str = "556016-0680";
