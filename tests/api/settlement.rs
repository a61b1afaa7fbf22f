//! Monthly settlement over HTTP, on a real database. Every expected amount
//! is computed by hand in the comment next to it, from the rates below:
//!
//! | service | zone | class | öre/h | öre/min |
//! |---|---|---|---|---|
//! | personal_care | town | day | 42 000 | 700 |
//! | personal_care | town | evening | 48 000 | 800 |
//! | personal_care | town | night | 54 000 | 900 |
//! | personal_care | town | weekend | 51 000 | 850 |
//! | personal_care | rural | day | 60 000 | 1 000 |
//! | service | town | day | 36 000 | 600 |
//! | escort (granted) | town | day | 30 000 | 500 |
//! | meals | town | unit | 5 000 per portion | |
//! | night_patrol | town | unit | 12 000 per visit | |
//! | safety_alarm | town | month | 31 000 per month | |
//!
//! Conditions: tolerance 10 %, late cancellation < 24 h, factor 1.0 (one
//! test uses 0.5), VAT compensation 6 % for private providers.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use valfri::auth::Role;

fn setup(factor_permille: i64) -> Value {
    let rate = |service: &str, zone: &str, class: &str, from: &str, ore: i64| json!({"service_type": service, "zone": zone, "time_class": class, "valid_from": from, "amount_ore": ore});
    json!({
        "municipality": {"country": "se", "code": "2380", "name": "Östersunds testkommun", "time_zone": "Europe/Stockholm"},
        "zones": [{"code": "town", "name": "Tätort"}, {"code": "rural", "name": "Landsbygd"}],
        "areas": [
            {"code": "centrum", "name": "Centrum", "zone": "town", "postcodes": ["831 30"]},
            {"code": "lit", "name": "Lit", "zone": "rural", "postcodes": ["836 31"]}
        ],
        "service_types": [
            {"code": "personal_care", "name_sv": "Personlig omvårdnad", "name_en": "Personal care", "group": "personal_care", "unit": "hour", "basis": "performed"},
            {"code": "service", "name_sv": "Service", "name_en": "Service", "group": "service", "unit": "hour", "basis": "performed"},
            {"code": "escort", "name_sv": "Ledsagning", "name_en": "Escort", "group": "escort", "unit": "hour", "basis": "granted"},
            {"code": "meals", "name_sv": "Matdistribution", "name_en": "Meals", "group": "meals", "unit": "portion", "basis": "per_unit"},
            {"code": "night_patrol", "name_sv": "Nattpatrull", "name_en": "Night patrol", "group": "night_patrol", "unit": "visit", "basis": "per_unit"},
            {"code": "safety_alarm", "name_sv": "Trygghetslarm", "name_en": "Safety alarm", "group": "safety_alarm", "unit": "month", "basis": "per_month"}
        ],
        "choice_systems": [{
            "id": "hemtjanst", "name": "Hemtjänst LOV", "legal_model": "lov", "default_rule": "municipal",
            "services": ["personal_care", "service", "escort", "meals", "night_patrol", "safety_alarm"], "areas": ["centrum", "lit"],
            "conditions": [{"valid_from": "2026-01-01", "requirements": [], "tolerance_permille": 100, "late_cancel_hours": 24,
                            "late_cancel_factor_permille": factor_permille, "vat_compensation_basis_points": 600}]
        }],
        "rates": [
            rate("personal_care", "town", "day", "2026-01-01", 42000),
            rate("personal_care", "town", "evening", "2026-01-01", 48000),
            rate("personal_care", "town", "night", "2026-01-01", 54000),
            rate("personal_care", "town", "weekend", "2026-01-01", 51000),
            rate("personal_care", "rural", "day", "2026-01-01", 60000),
            rate("service", "town", "day", "2026-01-01", 36000),
            rate("escort", "town", "day", "2026-01-01", 30000),
            rate("meals", "town", "unit", "2026-01-01", 5000),
            rate("night_patrol", "town", "unit", "2026-01-01", 12000),
            rate("safety_alarm", "town", "month", "2026-01-01", 31000)
        ]
    })
}

pub struct W {
    pub app: TestApp,
    pub admin: String,
    admin_id: String,
    pub a: String,
    pub b: String,
    clients: u32,
}

pub async fn world() -> W {
    world_with(1000).await
}

/// Admin, the setup above, private providers A and B (VAT compensated).
pub async fn world_with(factor_permille: i64) -> W {
    let app = spawn_app().await;
    app.add_user("admin", Role::Admin, None, None).await;
    let admin = app.token("admin").await;
    let (s, body) = app.call(Method::PUT, "/api/v1/setup", Some(&admin), Some(setup(factor_permille))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let a = app.create_provider(&admin, "Omsorg A AB", ORG_A).await;
    let b = app.create_provider(&admin, "Omsorg B AB", ORG_B).await;
    let admin_id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = 'admin'").fetch_one(&app.state.db.pool).await.unwrap();
    W { app, admin, admin_id, a, b, clients: 0 }
}

/// A time as UTC text: `...Z` is taken as UTC, anything else as local time in Stockholm.
fn utc(s: &str) -> String {
    let t: jiff::Timestamp = if s.ends_with('Z') {
        s.parse().unwrap()
    } else {
        s.parse::<jiff::civil::DateTime>().unwrap().to_zoned(jiff::tz::TimeZone::get("Europe/Stockholm").unwrap()).unwrap().timestamp()
    };
    valfri::clock::stamp(t)
}

#[derive(Clone, Copy)]
pub struct V<'a> {
    pub provider: &'a str,
    pub ext: &'a str,
    pub client: &'a str,
    pub service: &'a str,
    pub status: &'a str,
    pub start: &'a str,
    pub end: &'a str,
    pub staff: i64,
    pub quantity: Option<i64>,
    pub cancelled_at: Option<&'a str>,
}

pub fn v<'a>(provider: &'a str, ext: &'a str, client: &'a str, start: &'a str, end: &'a str) -> V<'a> {
    V { provider, ext, client, service: "personal_care", status: "performed", start, end, staff: 1, quantity: None, cancelled_at: None }
}

impl W {
    /// A client in `postcode` (831 30 town, 836 31 rural), inserted directly.
    pub async fn client(&mut self, postcode: &str) -> String {
        self.clients += 1;
        let id = uuid::Uuid::now_v7().to_string();
        let area = if postcode == "836 31" { "lit" } else { "centrum" };
        sqlx::query(
            "INSERT INTO clients (id, person_id, name, address, postcode, area_code, preferred_language, protected_identity, representative, created_at) \
             VALUES ($1, $2, $3, 'Storgatan 1', $4, $5, 'sv', 0, '', '2026-01-01T00:00:00Z')",
        )
        .bind(&id)
        .bind(format!("19400101-{:04}", self.clients))
        .bind(format!("Klient {}", self.clients))
        .bind(postcode)
        .bind(area)
        .execute(&self.app.state.db.pool)
        .await
        .unwrap();
        id
    }

    pub async fn assign(&self, client: &str, provider: &str, service: &str, from: &str, to: Option<&str>) {
        self.app.insert_assignment(client, provider, service, from, to).await;
    }

    pub async fn decision(&self, client: &str, service: &str, from: &str, to: Option<&str>, minutes: i64, double: bool) {
        self.app.insert_decision(&self.admin_id, client, service, (from, to), minutes, double).await;
    }

    /// A client of `provider` with 100 h of personal care a month granted, from 2026-01-01.
    pub async fn care_client(&mut self, provider: &str) -> String {
        let c = self.client("831 30").await;
        self.decision(&c, "personal_care", "2026-01-01", None, 6000, false).await;
        self.assign(&c, provider, "personal_care", "2026-01-01", None).await;
        c
    }

    /// Stores a visit the way the visits module does, with its derived columns.
    pub async fn visit(&self, x: V<'_>) {
        let (start, end) = (utc(x.start), utc(x.end));
        let performed = x.status == "performed";
        let ts: jiff::Timestamp = start.parse().unwrap();
        let local = ts.to_zoned(jiff::tz::TimeZone::get("Europe/Stockholm").unwrap()).date();
        let secs = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second();
        let minutes = secs(&end).div_euclid(60) - secs(&start).div_euclid(60);
        sqlx::query(
            "INSERT INTO visits (provider_id, external_id, client_id, service_type, status, planned_start, planned_end, actual_start, actual_end, \
             cancelled_at, staff_ref, staff_count, quantity, start_at, end_at, minutes, local_date, month, content_hash, import_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'staff-1', $11, $12, $6, $7, $13, $14, $15, 0, 'test')",
        )
        .bind(x.provider)
        .bind(x.ext)
        .bind(x.client)
        .bind(x.service)
        .bind(x.status)
        .bind(&start)
        .bind(&end)
        .bind(if performed { Some(start.clone()) } else { None })
        .bind(if performed { Some(end.clone()) } else { None })
        .bind(x.cancelled_at.map(utc))
        .bind(x.staff)
        .bind(x.quantity)
        .bind(minutes)
        .bind(local.to_string())
        .bind(format!("{:04}-{:02}", local.year(), local.month()))
        .execute(&self.app.state.db.pool)
        .await
        .unwrap();
    }

    pub async fn settle(&self, month: &str) -> Value {
        let (s, body) = self.app.post("/api/v1/settlements/compute", &self.admin, json!({"month": month})).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body
    }

    pub async fn id_of(&self, provider: &str, month: &str) -> String {
        let (s, body) = self.app.get(&format!("/api/v1/settlements?month={month}&provider_id={provider}"), &self.admin).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body.as_array().unwrap().len(), 1, "{body}");
        body[0]["id"].as_str().unwrap().to_string()
    }

    pub async fn detail(&self, provider: &str, month: &str) -> Value {
        let id = self.id_of(provider, month).await;
        let (s, body) = self.app.get(&format!("/api/v1/settlements/{id}"), &self.admin).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body
    }

    pub async fn bytes(&self, path: &str, token: &str) -> (StatusCode, Vec<u8>) {
        let res = self.app.http.get(format!("{}{path}", self.app.url)).bearer_auth(token).send().await.unwrap();
        (res.status(), res.bytes().await.unwrap().to_vec())
    }
}

/// (class, rate_valid_from, quantity num/den, amount) of the lines of one client and service.
fn lines_of(d: &Value, client: &str, service: &str) -> Vec<(String, String, String, i64)> {
    d["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["client_id"] == client && l["service_type"] == service)
        .map(|l| {
            (
                l["time_class"].as_str().unwrap().to_string(),
                l["rate_valid_from"].as_str().unwrap().to_string(),
                format!("{}/{}", l["quantity_num"], l["quantity_den"]),
                l["amount_ore"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn t(class: &str, from: &str, q: &str, amount: i64) -> (String, String, String, i64) {
    (class.into(), from.into(), q.into(), amount)
}

fn totals(d: &Value) -> (i64, i64, i64, i64) {
    (
        d["lines_total_ore"].as_i64().unwrap(),
        d["vat_ore"].as_i64().unwrap(),
        d["adjustments_total_ore"].as_i64().unwrap(),
        d["total_ore"].as_i64().unwrap(),
    )
}

fn flag_codes(d: &Value) -> Vec<(String, Option<String>)> {
    d["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap().to_string(), f["external_id"].as_str().map(String::from)))
        .collect()
}

#[tokio::test]
async fn a_day_visit_with_vat_and_a_municipal_provider_without() {
    let mut w = world().await;
    let (s, body) = w
        .app
        .post("/api/v1/providers", &w.admin, json!({"name": "Kommunens hemtjänst", "org_nr": "212000-2411", "ownership": "municipal"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let m = body["id"].as_str().unwrap().to_string();
    let c1 = w.care_client(&w.a.clone()).await;
    let c2 = w.client("836 31").await;
    w.decision(&c2, "personal_care", "2026-01-01", None, 6000, false).await;
    w.assign(&c2, &m, "personal_care", "2026-01-01", None).await;
    // Tuesday 09:00–10:30: 90 day minutes × 700 = 63 000.
    w.visit(v(&w.a, "a-1", &c1, "2026-03-10T09:00", "2026-03-10T10:30")).await;
    // Wednesday 09:00–09:45 in the rural zone: 45 × 1 000 = 45 000.
    w.visit(v(&m, "m-1", &c2, "2026-03-11T09:00", "2026-03-11T09:45")).await;
    let report = w.settle("2026-03").await;
    assert_eq!(report["visits"], 2);
    // Every provider gets a settlement, B an empty one.
    assert_eq!(report["written"].as_array().unwrap().len(), 3, "{report}");

    let a = w.detail(&w.a, "2026-03").await;
    assert_eq!(lines_of(&a, &c1, "personal_care"), vec![t("day", "2026-01-01", "90/1", 63000)]);
    // VAT 6 % of 63 000 = 3 780.
    assert_eq!(totals(&a), (63000, 3780, 0, 66780));
    assert_eq!(a["vat_basis_points"], 600);
    let m = w.detail(&m, "2026-03").await;
    assert_eq!(lines_of(&m, &c2, "personal_care"), vec![t("day", "2026-01-01", "45/1", 45000)]);
    assert_eq!(m["lines"][0]["zone"], "rural");
    // A municipal provider gets no VAT compensation.
    assert_eq!(totals(&m), (45000, 0, 0, 45000));
    let b = w.detail(&w.b, "2026-03").await;
    assert_eq!(totals(&b), (0, 0, 0, 0));
    assert_eq!(b["status"], "draft");
}

#[tokio::test]
async fn a_rate_change_in_the_middle_of_the_month_applies_from_its_date() {
    let mut w = world().await;
    let (s, body) = w
        .app
        .post(
            "/api/v1/setup/rates",
            &w.admin,
            json!({"service_type": "personal_care", "zone": "town", "time_class": "day", "valid_from": "2026-03-16", "amount_ore": 45000}),
        )
        .await;
    assert!(s.is_success(), "{body}");
    let c = w.care_client(&w.a.clone()).await;
    // Friday 13th 09:00–10:00 at the old day rate: 60 × 700 = 42 000.
    w.visit(v(&w.a, "1", &c, "2026-03-13T09:00", "2026-03-13T10:00")).await;
    // Sunday 23:30 – Monday 00:30: night both sides of midnight, night rate unchanged: 60 × 900 = 54 000.
    w.visit(v(&w.a, "2", &c, "2026-03-15T23:30", "2026-03-16T00:30")).await;
    // Monday 16th 09:00–10:00 at the new rate 450 kr/h: 60 × 750 = 45 000.
    w.visit(v(&w.a, "3", &c, "2026-03-16T09:00", "2026-03-16T10:00")).await;
    w.settle("2026-03").await;
    let d = w.detail(&w.a, "2026-03").await;
    assert_eq!(
        lines_of(&d, &c, "personal_care"),
        vec![t("day", "2026-01-01", "60/1", 42000), t("day", "2026-03-16", "60/1", 45000), t("night", "2026-01-01", "60/1", 54000)]
    );
    // 141 000 + 6 % (8 460) = 149 460.
    assert_eq!(totals(&d), (141000, 8460, 0, 149460));
}

#[tokio::test]
async fn a_switch_of_provider_in_the_middle_of_the_month_splits_the_pay() {
    let mut w = world().await;
    let (a, b) = (w.a.clone(), w.b.clone());
    let c = w.client("831 30").await;
    w.decision(&c, "personal_care", "2026-01-01", None, 6000, false).await;
    w.assign(&c, &a, "personal_care", "2026-01-01", Some("2026-03-15")).await;
    w.assign(&c, &b, "personal_care", "2026-03-16", None).await;
    w.assign(&c, &a, "safety_alarm", "2026-01-01", Some("2026-03-15")).await;
    w.assign(&c, &b, "safety_alarm", "2026-03-16", None).await;
    // A on Tuesday 10th 09:00–10:00: 42 000.
    w.visit(v(&a, "a-1", &c, "2026-03-10T09:00", "2026-03-10T10:00")).await;
    // B on Friday 20th 09:00–10:00: 42 000.
    w.visit(v(&b, "b-1", &c, "2026-03-20T09:00", "2026-03-20T10:00")).await;
    // A again on the 20th, after its assignment ended: not covered, not paid.
    w.visit(v(&a, "a-2", &c, "2026-03-20T10:00", "2026-03-20T11:00")).await;
    w.settle("2026-03").await;

    let da = w.detail(&a, "2026-03").await;
    assert_eq!(lines_of(&da, &c, "personal_care"), vec![t("day", "2026-01-01", "60/1", 42000)]);
    // The alarm for 1–15 March: 15/31 of 31 000 = 15 000.
    assert_eq!(lines_of(&da, &c, "safety_alarm"), vec![t("month", "2026-01-01", "15/31", 15000)]);
    // 57 000 + 6 % (3 420) = 60 420.
    assert_eq!(totals(&da), (57000, 3420, 0, 60420));
    assert_eq!(flag_codes(&da), vec![("not_covered".to_string(), Some("a-2".to_string()))]);

    let db = w.detail(&b, "2026-03").await;
    assert_eq!(lines_of(&db, &c, "personal_care"), vec![t("day", "2026-01-01", "60/1", 42000)]);
    // 16–31 March: 16/31 of 31 000 = 16 000.
    assert_eq!(lines_of(&db, &c, "safety_alarm"), vec![t("month", "2026-01-01", "16/31", 16000)]);
    // 58 000 + 6 % (3 480) = 61 480.
    assert_eq!(totals(&db), (58000, 3480, 0, 61480));
}

#[tokio::test]
async fn decisions_starting_and_ending_mid_month() {
    let mut w = world().await;
    let a = w.a.clone();
    // Escort, paid by granted time: 600 min a month granted from the 11th to the 20th.
    let c = w.client("831 30").await;
    w.decision(&c, "escort", "2026-03-11", Some("2026-03-20"), 600, false).await;
    w.assign(&c, &a, "escort", "2026-01-01", None).await;
    // Personal care granted until the 20th; its assignment ends with it.
    w.decision(&c, "personal_care", "2026-01-01", Some("2026-03-20"), 6000, false).await;
    w.assign(&c, &a, "personal_care", "2026-01-01", Some("2026-03-20")).await;
    // Thursday 19th 09:00–10:00: paid, 42 000.
    w.visit(v(&a, "1", &c, "2026-03-19T09:00", "2026-03-19T10:00")).await;
    // Wednesday 25th, after the decision and assignment ended: not paid.
    // (A backslash in the id: PostgreSQL's read escapes it.)
    w.visit(v(&a, r"2\b", &c, "2026-03-25T09:00", "2026-03-25T10:00")).await;
    w.settle("2026-03").await;
    let d = w.detail(&a, "2026-03").await;
    // 10 days × 600/31 min = 6 000/31 min at 500 öre/min = 3 000 000/31 = 96 774.19… → 96 774.
    assert_eq!(lines_of(&d, &c, "escort"), vec![t("granted", "2026-01-01", "6000/31", 96774)]);
    assert_eq!(lines_of(&d, &c, "personal_care"), vec![t("day", "2026-01-01", "60/1", 42000)]);
    // 138 774 + 6 % (8 326.44 → 8 326) = 147 100.
    assert_eq!(totals(&d), (138774, 8326, 0, 147100));
    let flags = d["flags"].as_array().unwrap();
    let no_decision = flags.iter().find(|f| f["code"] == "no_decision").unwrap();
    // 1–10 and 21–31 March: 21 assignment days without a decision.
    assert_eq!(no_decision["detail"], json!({"kind": "days", "first": "2026-03-01", "count": 21}));
    assert!(flags.iter().any(|f| f["code"] == "not_covered" && f["external_id"] == r"2\b"), "{flags:?}");
}

#[tokio::test]
async fn swedish_public_holidays_incl_easter_pay_the_weekend_rate() {
    let mut w = world().await;
    let a = w.a.clone();
    let c = w.care_client(&a).await;
    // Easter Sunday 2026 is 5 April.
    // Maundy Thursday 2 April is not a Swedish holiday: day, 60 × 700 = 42 000.
    w.visit(v(&a, "1", &c, "2026-04-02T09:00", "2026-04-02T10:00")).await;
    // Good Friday (långfredagen) 3 April 09–10 and 19–20: weekend (07–22), 2 × 60 × 850 = 102 000.
    w.visit(v(&a, "2", &c, "2026-04-03T09:00", "2026-04-03T10:00")).await;
    w.visit(v(&a, "3", &c, "2026-04-03T19:00", "2026-04-03T20:00")).await;
    // Easter Monday (annandag påsk) 6 April: weekend, 60 × 850 = 51 000.
    w.visit(v(&a, "4", &c, "2026-04-06T09:00", "2026-04-06T10:00")).await;
    // Tuesday 7 April: day again, 42 000.
    w.visit(v(&a, "5", &c, "2026-04-07T09:00", "2026-04-07T10:00")).await;
    w.settle("2026-04").await;
    let d = w.detail(&a, "2026-04").await;
    assert_eq!(
        lines_of(&d, &c, "personal_care"),
        vec![t("day", "2026-01-01", "120/1", 84000), t("weekend", "2026-01-01", "180/1", 153000)]
    );
    // 237 000 + 6 % (14 220) = 251 220.
    assert_eq!(totals(&d), (237000, 14220, 0, 251220));
}

#[tokio::test]
async fn dst_weekends_pay_elapsed_minutes() {
    let mut w = world().await;
    let a = w.a.clone();
    let c = w.care_client(&a).await;
    // 29 March 2026, clocks go 02:00 → 03:00. 01:30–03:30 on the wall is
    // 00:30–01:30 UTC: 60 elapsed minutes, all night: 60 × 900 = 54 000.
    w.visit(v(&a, "spring", &c, "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z")).await;
    // 25 October 2026, clocks go 03:00 → 02:00. 01:30 summer time (23:30
    // UTC) to 03:30 winter time (02:30 UTC): 180 elapsed minutes, all night:
    // 180 × 900 = 162 000.
    w.visit(v(&a, "autumn", &c, "2026-10-24T23:30:00Z", "2026-10-25T02:30:00Z")).await;
    // The same Sunday 06:30–07:30 (05:30–06:30 UTC) crosses night → weekend:
    // 30 × 900 + 30 × 850 = 27 000 + 25 500.
    w.visit(v(&a, "morning", &c, "2026-10-25T05:30:00Z", "2026-10-25T06:30:00Z")).await;
    w.settle("2026-03").await;
    w.settle("2026-10").await;
    let march = w.detail(&a, "2026-03").await;
    assert_eq!(lines_of(&march, &c, "personal_care"), vec![t("night", "2026-01-01", "60/1", 54000)]);
    // 54 000 + 3 240.
    assert_eq!(totals(&march), (54000, 3240, 0, 57240));
    let october = w.detail(&a, "2026-10").await;
    assert_eq!(
        lines_of(&october, &c, "personal_care"),
        vec![t("night", "2026-01-01", "210/1", 189000), t("weekend", "2026-01-01", "30/1", 25500)]
    );
    // 214 500 + 6 % (12 870) = 227 370.
    assert_eq!(totals(&october), (214500, 12870, 0, 227370));
}

#[tokio::test]
async fn visits_crossing_midnight_class_boundaries_and_the_month_end() {
    let mut w = world().await;
    let a = w.a.clone();
    let c = w.care_client(&a).await;
    // Tuesday 21:30 – Wednesday 00:30: evening 30 (24 000) + night 150 (135 000).
    w.visit(v(&a, "1", &c, "2026-03-10T21:30", "2026-03-11T00:30")).await;
    // Friday 18:30–19:30: day 30 (21 000) + evening 30 (24 000).
    w.visit(v(&a, "2", &c, "2026-03-13T18:30", "2026-03-13T19:30")).await;
    // Saturday 06:00–08:00: night 60 (54 000) + weekend 60 (51 000).
    w.visit(v(&a, "3", &c, "2026-03-14T06:00", "2026-03-14T08:00")).await;
    // Tuesday 31 March 23:00 – 1 April 01:00: starts in March, so all of it
    // is March's: night 120 (108 000).
    w.visit(v(&a, "4", &c, "2026-03-31T23:00", "2026-04-01T01:00")).await;
    w.settle("2026-03").await;
    w.settle("2026-04").await;
    let d = w.detail(&a, "2026-03").await;
    assert_eq!(
        lines_of(&d, &c, "personal_care"),
        vec![
            t("day", "2026-01-01", "30/1", 21000),
            t("evening", "2026-01-01", "60/1", 48000),
            // 150 + 60 + 120 = 330 night minutes × 900.
            t("night", "2026-01-01", "330/1", 297000),
            t("weekend", "2026-01-01", "60/1", 51000),
        ]
    );
    // 417 000 + 6 % (25 020) = 442 020.
    assert_eq!(totals(&d), (417000, 25020, 0, 442020));
    let april = w.detail(&a, "2026-04").await;
    assert_eq!(totals(&april), (0, 0, 0, 0));
}

#[tokio::test]
async fn late_cancellations_are_paid_by_the_factor() {
    // Conditions with a late-cancellation factor of 0.5 (500 ‰).
    let mut w = world_with(500).await;
    let a = w.a.clone();
    let c = w.care_client(&a).await;
    let cancelled = |ext: &'static str, status: &'static str, start: &'static str, end: &'static str, at: Option<&'static str>| V {
        status,
        cancelled_at: at,
        ..v("", ext, "", start, end)
    };
    let mut visits: Vec<V<'_>> = vec![
        // Cancelled 22 h before: late, 60 min × 0.5 = 30 min × 700 = 21 000.
        cancelled("late", "cancelled_late", "2026-03-12T10:00", "2026-03-12T11:00", Some("2026-03-11T12:00")),
        // 49 h before: in time, not paid.
        cancelled("in-time", "cancelled_in_time", "2026-03-13T10:00", "2026-03-13T11:00", Some("2026-03-11T09:00")),
        // Reported late but cancelled 25 h before: reclassified, not paid.
        cancelled("said-late", "cancelled_late", "2026-03-16T10:00", "2026-03-16T11:00", Some("2026-03-15T09:00")),
        // Reported late without a time: taken as given, 21 000.
        cancelled("late-no-time", "cancelled_late", "2026-03-17T10:00", "2026-03-17T11:00", None),
        // Exactly 24 h is in time: reclassified, not paid.
        cancelled("exactly-24h", "cancelled_late", "2026-03-19T10:00", "2026-03-19T11:00", Some("2026-03-18T10:00")),
        // Missed by the provider: not paid.
        cancelled("missed", "missed", "2026-03-18T10:00", "2026-03-18T11:00", None),
    ];
    for x in visits.iter_mut() {
        x.provider = &a;
        x.client = &c;
    }
    for x in visits {
        w.visit(x).await;
    }
    w.settle("2026-03").await;
    let d = w.detail(&a, "2026-03").await;
    assert_eq!(lines_of(&d, &c, "personal_care"), vec![t("day", "2026-01-01", "60/1", 42000)]);
    // 42 000 + 2 520.
    assert_eq!(totals(&d), (42000, 2520, 0, 44520));
    let mut codes = flag_codes(&d);
    codes.sort();
    assert_eq!(
        codes,
        vec![
            ("cancellation_reclassified".to_string(), Some("exactly-24h".to_string())),
            ("cancellation_reclassified".to_string(), Some("said-late".to_string())),
        ]
    );
}

#[tokio::test]
async fn double_staffing_is_paid_twice_only_when_granted() {
    let mut w = world().await;
    let a = w.a.clone();
    let c1 = w.client("831 30").await;
    w.decision(&c1, "personal_care", "2026-01-01", None, 6000, true).await;
    w.assign(&c1, &a, "personal_care", "2026-01-01", None).await;
    let c2 = w.care_client(&a).await;
    // Two staff, granted: 2 × 60 × 700 = 84 000.
    w.visit(V { staff: 2, ..v(&a, "double-ok", &c1, "2026-03-10T09:00", "2026-03-10T10:00") }).await;
    // Two staff, not granted: paid once, 42 000, and flagged.
    w.visit(V { staff: 2, ..v(&a, "double-no", &c2, "2026-03-10T11:00", "2026-03-10T12:00") }).await;
    w.settle("2026-03").await;
    let d = w.detail(&a, "2026-03").await;
    assert_eq!(lines_of(&d, &c1, "personal_care"), vec![t("day", "2026-01-01", "120/1", 84000)]);
    assert_eq!(lines_of(&d, &c2, "personal_care"), vec![t("day", "2026-01-01", "60/1", 42000)]);
    // 126 000 + 7 560.
    assert_eq!(totals(&d), (126000, 7560, 0, 133560));
    assert_eq!(flag_codes(&d), vec![("double_staffing_not_granted".to_string(), Some("double-no".to_string()))]);
}

#[tokio::test]
async fn time_beyond_granted_plus_tolerance_is_not_paid_until_accepted() {
    let mut w = world().await;
    let a = w.a.clone();
    let c = w.client("831 30").await;
    // 120 min a month granted from the 16th: the month's granted time is
    // the monthly amount, not prorated. Limit: 120 × 1.1 = 132 min.
    w.decision(&c, "personal_care", "2026-03-16", None, 120, false).await;
    w.assign(&c, &a, "personal_care", "2026-01-01", None).await;
    w.visit(v(&a, "1", &c, "2026-03-10T09:00", "2026-03-10T10:00")).await;
    w.visit(v(&a, "2", &c, "2026-03-17T09:00", "2026-03-17T10:00")).await;
    w.visit(v(&a, "3", &c, "2026-03-18T09:00", "2026-03-18T09:30")).await;
    w.settle("2026-03").await;
    let d = w.detail(&a, "2026-03").await;
    // 150 reported, 132 paid: the last 18 minutes (of visit 3) go. 132 × 700 = 92 400.
    assert_eq!(lines_of(&d, &c, "personal_care"), vec![t("day", "2026-01-01", "132/1", 92400)]);
    // VAT 6 % of 92 400 = 5 544.
    assert_eq!(totals(&d), (92400, 5544, 0, 97944));
    let flags = d["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["code"], "excess");
    assert_eq!(flags[0]["external_id"], "3");
    // 18 min × 700 = 12 600.
    assert_eq!(flags[0]["excess_ore"], 12600);
    assert_eq!(flags[0]["detail"]["minutes"], json!({"num": 18, "den": 1}));

    // The admin accepts the excess: it becomes an adjustment; VAT is not added to it.
    let id = d["id"].as_str().unwrap();
    let seq = flags[0]["seq"].as_i64().unwrap();
    let (s, adj) = w.app.post(&format!("/api/v1/settlements/{id}/flags/{seq}/accept"), &w.admin, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{adj}");
    assert_eq!(adj["amount_ore"], 12600);
    assert_eq!(adj["source"], "excess:3");
    let (s, again) = w.app.post(&format!("/api/v1/settlements/{id}/flags/{seq}/accept"), &w.admin, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{again}");
    let d = w.detail(&a, "2026-03").await;
    // 92 400 + 5 544 + 12 600 = 110 544.
    assert_eq!(totals(&d), (92400, 5544, 12600, 110544));
    // A recompute keeps the adjustment.
    w.settle("2026-03").await;
    let d = w.detail(&a, "2026-03").await;
    assert_eq!(totals(&d), (92400, 5544, 12600, 110544));
}

#[tokio::test]
async fn meals_night_patrol_and_safety_alarm_are_paid_per_unit_and_month() {
    let mut w = world().await;
    let a = w.a.clone();
    let c = w.client("831 30").await;
    for s in ["meals", "night_patrol", "safety_alarm"] {
        w.assign(&c, &a, s, "2026-01-01", None).await;
    }
    let meal = |ext: &'static str, day: &'static str, q: Option<i64>| V { service: "meals", quantity: q, ..v("", ext, "", day, day) };
    let mut visits: Vec<V<'_>> = vec![
        // 2 + 1 + 3 = 6 portions × 5 000 = 30 000.
        meal("m1", "2026-03-02T11:00", Some(2)),
        meal("m2", "2026-03-03T11:00", None),
        meal("m3", "2026-03-04T11:00", Some(3)),
        // A cancelled meal is not paid, late or not.
        V { status: "cancelled_late", ..meal("m4", "2026-03-05T11:00", Some(1)) },
    ];
    // Four night-patrol visits: 4 × 12 000 = 48 000.
    let patrols = ["p1", "p2", "p3", "p4"];
    let starts = ["2026-03-02T23:00", "2026-03-03T23:00", "2026-03-04T23:00", "2026-03-05T23:00"];
    let ends = ["2026-03-02T23:10", "2026-03-03T23:10", "2026-03-04T23:10", "2026-03-05T23:10"];
    for k in 0..4 {
        visits.push(V { service: "night_patrol", ..v("", patrols[k], "", starts[k], ends[k]) });
    }
    for x in visits.iter_mut() {
        x.provider = &a;
        x.client = &c;
    }
    for x in visits {
        w.visit(x).await;
    }
    w.settle("2026-03").await;
    let d = w.detail(&a, "2026-03").await;
    assert_eq!(lines_of(&d, &c, "meals"), vec![t("unit", "2026-01-01", "6/1", 30000)]);
    assert_eq!(lines_of(&d, &c, "night_patrol"), vec![t("unit", "2026-01-01", "4/1", 48000)]);
    // The whole month: 31/31 = 1 month × 31 000.
    assert_eq!(lines_of(&d, &c, "safety_alarm"), vec![t("month", "2026-01-01", "1/1", 31000)]);
    // 109 000 + 6 % (6 540) = 115 540.
    assert_eq!(totals(&d), (109000, 6540, 0, 115540));
}

#[tokio::test]
async fn approval_immutability_access_statement_and_sie_export() {
    let mut w = world().await;
    let (a, b) = (w.a.clone(), w.b.clone());
    let c = w.care_client(&a).await;
    w.decision(&c, "service", "2026-01-01", None, 600, false).await;
    w.assign(&c, &a, "service", "2026-01-01", None).await;
    // 90 day minutes: 63 000.
    w.visit(v(&a, "care-1", &c, "2026-03-10T09:00", "2026-03-10T10:30")).await;
    // Service on a Tuesday evening, and there is no evening rate for service.
    w.visit(V { service: "service", ..v(&a, "svc-1", &c, "2026-03-10T20:00", "2026-03-10T21:00") }).await;
    w.settle("2026-03").await;
    let d = w.detail(&a, "2026-03").await;
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["no_rate_flags"], 1);
    assert_eq!(d["flags"][0]["detail"], json!({"kind": "rate", "date": "2026-03-10", "class": "evening"}));
    let (s, body) = w.app.post(&format!("/api/v1/settlements/{id}/approve"), &w.admin, json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "no_rate_flags");

    // The missing rate is added and the month recomputed: 60 × 700 = 42 000.
    let (s, body) = w
        .app
        .post(
            "/api/v1/setup/rates",
            &w.admin,
            json!({"service_type": "service", "zone": "town", "time_class": "evening", "valid_from": "2026-01-01", "amount_ore": 42000}),
        )
        .await;
    assert!(s.is_success(), "{body}");
    w.settle("2026-03").await;
    let d = w.detail(&a, "2026-03").await;
    assert_eq!(d["id"], id.as_str(), "a recompute replaces the draft in place");
    assert_eq!(d["no_rate_flags"], 0);
    assert_eq!(lines_of(&d, &c, "service"), vec![t("evening", "2026-01-01", "60/1", 42000)]);
    // 105 000 + 6 300.
    assert_eq!(totals(&d), (105000, 6300, 0, 111300));

    // A manual adjustment of −5 kr: 111 300 − 500 = 110 800.
    let (s, body) = w.app.post(&format!("/api/v1/settlements/{id}/adjustments"), &w.admin, json!({"amount_ore": 0, "reason": ""})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, adj) =
        w.app.post(&format!("/api/v1/settlements/{id}/adjustments"), &w.admin, json!({"amount_ore": -500, "reason": "Felaktig tid"})).await;
    assert_eq!(s, StatusCode::CREATED, "{adj}");
    let d = w.detail(&a, "2026-03").await;
    assert_eq!(totals(&d), (105000, 6300, -500, 110800));
    let revision = d["revision"].as_i64().unwrap();

    // Approval names the revision reviewed.
    let (s, body) = w.app.post(&format!("/api/v1/settlements/{id}/approve"), &w.admin, json!({"revision": revision - 1})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "settlement_changed");
    let (s, approved) = w.app.post(&format!("/api/v1/settlements/{id}/approve"), &w.admin, json!({"revision": revision})).await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["checksum"], d["checksum"]);
    assert!(valfri::settlement::is_month_approved(&w.app.state.db, &a, "2026-03".parse().unwrap()).await.unwrap());
    assert!(!valfri::settlement::is_month_approved(&w.app.state.db, &b, "2026-03".parse().unwrap()).await.unwrap());

    // Approved is immutable: a recompute keeps it, adjustments are refused.
    w.visit(v(&a, "care-2", &c, "2026-03-11T09:00", "2026-03-11T10:00")).await;
    let report = w.settle("2026-03").await;
    assert_eq!(report["kept_approved"], json!([a.clone()]));
    let after = w.detail(&a, "2026-03").await;
    assert_eq!(totals(&after), (105000, 6300, -500, 110800));
    assert_eq!(after["checksum"], d["checksum"]);
    let (s, body) = w.app.post(&format!("/api/v1/settlements/{id}/adjustments"), &w.admin, json!({"amount_ore": 100, "reason": "x"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "settlement_not_draft");
    let (s, _) = w.app.post(&format!("/api/v1/settlements/{id}/approve"), &w.admin, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Who sees what.
    w.app.add_user("prov_a", Role::Provider, Some(&a), None).await;
    w.app.add_user("prov_b", Role::Provider, Some(&b), None).await;
    w.app.add_user("officer", Role::CaseOfficer, None, None).await;
    let (pa, pb, officer) = (w.app.token("prov_a").await, w.app.token("prov_b").await, w.app.token("officer").await);
    let (s, list) = w.app.get("/api/v1/settlements", &pa).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (s, own) = w.app.get(&format!("/api/v1/settlements/{id}"), &pa).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(own["lines"].as_array().unwrap().len(), 2);
    let (s, _) = w.app.get(&format!("/api/v1/settlements/{id}"), &pb).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "provider B must not see A's settlement");
    let (s, _) = w.bytes(&format!("/api/v1/settlements/{id}/statement.csv"), &pb).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // B's own month is still a draft: not shown to B.
    let (s, list) = w.app.get("/api/v1/settlements", &pb).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list, json!([]));
    let b_id = w.id_of(&b, "2026-03").await;
    let (s, _) = w.app.get(&format!("/api/v1/settlements/{b_id}"), &pb).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.app.get("/api/v1/settlements", &officer).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w.app.post("/api/v1/settlements/compute", &pa, json!({"month": "2026-03"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w.app.post(&format!("/api/v1/settlements/{id}/approve"), &pa, json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The statement, as the provider downloads it.
    let (s, csv) = w.bytes(&format!("/api/v1/settlements/{id}/statement.csv"), &pa).await;
    assert_eq!(s, StatusCode::OK);
    let csv = String::from_utf8(csv).unwrap();
    let rows: Vec<&str> = csv.strip_prefix('\u{feff}').unwrap().split("\r\n").collect();
    assert_eq!(
        rows[0],
        "record;month;provider_id;provider_org_nr;status;line_no;client_id;person_id;service_type;basis;time_class;zone;rate_valid_from;\
         rate_per;rate_kr;rate_ore;quantity_unit;quantity;quantity_num;quantity_den;amount_kr;amount_ore;note"
    );
    assert_eq!(
        rows[1],
        format!("line;2026-03;{a};556677-8899;approved;1;{c};19400101-0001;personal_care;performed;day;town;2026-01-01;hour;420,00;42000;minute;90;90;1;630,00;63000;")
    );
    assert_eq!(rows[3], format!("lines_total;2026-03;{a};556677-8899;approved;;;;;;;;;;;;;;;;1050,00;105000;"));
    assert_eq!(rows[4], format!("vat;2026-03;{a};556677-8899;approved;;;;;;;;;;;;;;;;63,00;6300;vat_basis_points=600"));
    assert_eq!(rows[5], format!("adjustment;2026-03;{a};556677-8899;approved;1;;;;;;;;;;;;;;;-5,00;-500;Felaktig tid"));
    assert_eq!(
        rows[6],
        format!("total;2026-03;{a};556677-8899;approved;;;;;;;;;;;;;;;;1108,00;110800;checksum={}", d["checksum"].as_str().unwrap())
    );
    assert_eq!(rows[7], "");
    // Reading the statement is in the audit log for the client.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE client_id = $1 AND actor_username = 'prov_a'")
        .bind(&c)
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);

    // Export to accounting: a batch, then its SIE file.
    w.app.clock.set("2026-04-05T08:00:00Z".parse().unwrap());
    // Tokens live a day: sign in again after the clock moved.
    w.admin = w.app.token("admin").await;
    let pa = w.app.token("prov_a").await;
    let (s, batch) = w.app.post("/api/v1/settlements/export", &w.admin, json!({"month": "2026-03"})).await;
    assert_eq!(s, StatusCode::OK, "{batch}");
    assert_eq!(batch["batch"], 1);
    assert_eq!(batch["settlements"], json!([id.clone()]));
    let (s, body) = w.app.post("/api/v1/settlements/export", &w.admin, json!({"month": "2026-03"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(w.detail(&a, "2026-03").await["status"], "exported");
    let (s, sie) = w.bytes("/api/v1/settlements/sie?month=2026-03&batch=1", &w.admin).await;
    assert_eq!(s, StatusCode::OK);
    let expected = "#FLAGGA 0\r\n#FORMAT PC8\r\n#SIETYP 4\r\n#PROGRAM \"valfri\" \"0.1.0\"\r\n#GEN 20260405\r\n\
        #FNAMN \"Östersunds testkommun\"\r\n#RAR 0 20260101 20261231\r\n#VALUTA SEK\r\n\
        #KONTO 2540 \"Leverantörsskulder\"\r\n#KONTO 4540 \"Köp av huvudverksamhet, valfrihetssystem\"\r\n\
        #KONTO 4541 \"Momskompensation till privata utförare\"\r\n#KONTO 4549 \"Justeringar av avräkning\"\r\n\
        #VER \"A\" \"\" 20260331 \"Avräkning 2026-03 Omsorg A AB 556677-8899\" 20260405\r\n{\r\n\
        \x20  #TRANS 4540 {} 1050.00 20260331 \"Omsorg A AB 556677-8899\"\r\n\
        \x20  #TRANS 4541 {} 63.00 20260331 \"Omsorg A AB 556677-8899\"\r\n\
        \x20  #TRANS 4549 {} -5.00 20260331 \"Omsorg A AB 556677-8899\"\r\n\
        \x20  #TRANS 2540 {} -1108.00 20260331 \"Omsorg A AB 556677-8899\"\r\n}\r\n";
    // Code page 437: Ö = 0x99, ä = 0x84, ö = 0x94, å = 0x86.
    let pc8: Vec<u8> = expected
        .chars()
        .map(|ch| match ch {
            'Ö' => 0x99,
            'ä' => 0x84,
            'ö' => 0x94,
            'å' => 0x86,
            c => c as u8,
        })
        .collect();
    assert_eq!(String::from_utf8_lossy(&sie), String::from_utf8_lossy(&pc8));
    assert_eq!(sie, pc8);
    let (_, again) = w.bytes("/api/v1/settlements/sie?month=2026-03", &w.admin).await;
    assert_eq!(again, sie, "the same export gives the same bytes");
    let (s, _) = w.bytes("/api/v1/settlements/sie?month=2026-03&batch=2", &w.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.bytes("/api/v1/settlements/sie?month=2026-03", &pa).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A correction after approval is an adjustment in a later month naming the original.
    w.settle("2026-04").await;
    let april = w.id_of(&a, "2026-04").await;
    let (s, body) = w
        .app
        .post(
            &format!("/api/v1/settlements/{april}/adjustments"),
            &w.admin,
            json!({"amount_ore": 700, "reason": "Rättelse mars", "corrects": b_id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a draft of another provider cannot be corrected: {body}");
    let (s, body) = w
        .app
        .post(
            &format!("/api/v1/settlements/{april}/adjustments"),
            &w.admin,
            json!({"amount_ore": 700, "reason": "Rättelse mars", "corrects": id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(totals(&w.detail(&a, "2026-04").await), (0, 0, 700, 700));
}

#[tokio::test]
async fn the_same_input_gives_byte_identical_statements() {
    let mut w = world().await;
    let a = w.a.clone();
    let c1 = w.care_client(&a).await;
    let c2 = w.care_client(&a).await;
    for (k, day) in ["02", "05", "09", "14", "21", "28"].iter().enumerate() {
        let ext = format!("x{k}");
        w.visit(v(&a, &ext, &c1, &format!("2026-03-{day}T07:40"), &format!("2026-03-{day}T19:20"))).await;
        w.visit(v(&a, &format!("y{k}"), &c2, &format!("2026-03-{day}T21:10"), &format!("2026-03-{day}T23:55"))).await;
    }
    w.settle("2026-03").await;
    let id = w.id_of(&a, "2026-03").await;
    let (_, first) = w.bytes(&format!("/api/v1/settlements/{id}/statement.csv"), &w.admin).await;
    // Change the month and change it back: the draft is rewritten twice.
    w.visit(v(&a, "extra", &c1, "2026-03-30T10:00", "2026-03-30T11:00")).await;
    let report = w.settle("2026-03").await;
    assert_eq!(report["written"], json!([a.clone()]));
    sqlx::query("DELETE FROM visits WHERE external_id = 'extra'").execute(&w.app.state.db.pool).await.unwrap();
    w.settle("2026-03").await;
    let (_, second) = w.bytes(&format!("/api/v1/settlements/{id}/statement.csv"), &w.admin).await;
    assert_eq!(first, second);
    // Computing an unchanged month again changes nothing.
    let report = w.settle("2026-03").await;
    assert_eq!(report["unchanged"].as_array().unwrap().len(), 2, "{report}");
    let (_, third) = w.bytes(&format!("/api/v1/settlements/{id}/statement.csv"), &w.admin).await;
    assert_eq!(first, third);
}

/// The month's visits are read in two halves at once, on two connections
/// that share a snapshot; on SQLite, while another writer holds the write
/// lock, on one. Both reads give the same settlement.
#[tokio::test]
async fn one_reader_and_two_readers_settle_a_month_alike() {
    use valfri::settlement::{compute, store};
    let mut w = world().await;
    let (a, b) = (w.a.clone(), w.b.clone());
    for k in 0..8 {
        let p = if k % 2 == 0 { &a } else { &b };
        let client = w.care_client(p).await;
        for (d, day) in ["03", "11", "17", "24"].iter().enumerate() {
            let ext = format!("r{k}-{d}");
            w.visit(v(p, &ext, &client, &format!("2026-03-{day}T08:00"), &format!("2026-03-{day}T{:02}:30", 9 + k % 3))).await;
        }
    }
    let db = &w.app.state.db;
    let month: valfri_core::Month = "2026-03".parse().unwrap();
    let rows = |c: &compute::Computed| c.providers.iter().map(|p| format!("{:?}", store::rows_of(c, p))).collect::<Vec<_>>();
    let two = compute::compute(db, month).await.unwrap();
    assert_eq!(two.timings.readers, 2);
    assert_eq!(two.visits, 32);
    let mut held = db.pool.acquire().await.unwrap();
    if backend() == "sqlite" {
        sqlx::Executor::execute(&mut *held, "BEGIN IMMEDIATE").await.unwrap();
    }
    let one = compute::compute(db, month).await.unwrap();
    if backend() == "sqlite" {
        sqlx::Executor::execute(&mut *held, "ROLLBACK").await.unwrap();
        assert_eq!(one.timings.readers, 1);
    }
    drop(held);
    assert_eq!(one.visits, two.visits);
    assert_eq!(rows(&one), rows(&two));
    let totals = |c: &compute::Computed| c.providers.iter().map(|p| (p.lines_total, p.vat)).collect::<Vec<_>>();
    assert_eq!(totals(&one), totals(&two));
}

/// The server's settlement equals the engine run directly on an input built
/// here, independently, from the same random data (other index numbering,
/// other insertion order).
#[tokio::test]
async fn stored_settlements_equal_the_engine_on_independently_built_input() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::num::NonZeroU32;
    use valfri_core::compensation as c;
    use valfri_core::Money;

    let mut w = world().await;
    let providers = {
        let mut p = vec![w.a.clone(), w.b.clone()];
        p.sort();
        p
    };
    let mut rng = StdRng::seed_from_u64(2026);
    let mut clients = Vec::new();
    let mut decisions = Vec::new();
    let mut assignments = Vec::new();
    for k in 0..8 {
        let postcode = if k % 3 == 0 { "836 31" } else { "831 30" };
        let client = w.client(postcode).await;
        let granted = [300, 900, 3000][k % 3];
        let double = k % 4 == 0;
        w.decision(&client, "personal_care", "2026-01-01", None, granted, double).await;
        decisions.push((client.clone(), "personal_care", granted, double));
        let p = providers[k % 2].clone();
        let q = providers[(k + 1) % 2].clone();
        if k % 3 == 1 {
            // A switch on the 16th.
            w.assign(&client, &p, "personal_care", "2026-01-01", Some("2026-03-15")).await;
            w.assign(&client, &q, "personal_care", "2026-03-16", None).await;
            assignments.push((client.clone(), p.clone(), "personal_care", "2026-01-01", Some("2026-03-15")));
            assignments.push((client.clone(), q.clone(), "personal_care", "2026-03-16", None));
        } else {
            w.assign(&client, &p, "personal_care", "2026-01-01", None).await;
            assignments.push((client.clone(), p.clone(), "personal_care", "2026-01-01", None));
        }
        w.assign(&client, &p, "meals", "2026-01-01", None).await;
        assignments.push((client.clone(), p.clone(), "meals", "2026-01-01", None));
        clients.push((client, if postcode == "836 31" { "rural" } else { "town" }));
    }
    struct RV {
        provider: String,
        ext: String,
        client: String,
        service: &'static str,
        status: &'static str,
        start: i64,
        end: i64,
        staff: i64,
        quantity: Option<i64>,
        cancelled_at: Option<i64>,
    }
    let march = "2026-02-28T23:00:00Z".parse::<jiff::Timestamp>().unwrap().as_second();
    let mut visits = Vec::new();
    for k in 0..300 {
        let (client, _) = &clients[rng.gen_range(0..clients.len())];
        let start = march + rng.gen_range(0..31 * 1440) * 60 + rng.gen_range(0..60);
        let service = if rng.gen_ratio(1, 6) { "meals" } else { "personal_care" };
        let status =
            ["performed", "performed", "performed", "performed", "cancelled_late", "cancelled_in_time", "missed"][rng.gen_range(0..7)];
        visits.push(RV {
            provider: providers[rng.gen_range(0..2)].clone(),
            ext: format!("e{}", rng.gen_range(0..1_000_000) * 1000 + k),
            client: client.clone(),
            service,
            status,
            start,
            end: start + rng.gen_range(0..150) * 60 + rng.gen_range(0..60),
            staff: if rng.gen_ratio(1, 5) { 2 } else { 1 },
            quantity: if service == "meals" { Some(rng.gen_range(1..4)) } else { None },
            cancelled_at: if status != "performed" && rng.gen_ratio(1, 2) { Some(start - rng.gen_range(0..60) * 1800) } else { None },
        });
    }
    for x in &visits {
        let at = |s: i64| valfri::clock::stamp(jiff::Timestamp::from_second(s).unwrap());
        let (start, end, cancelled) = (at(x.start), at(x.end), x.cancelled_at.map(at));
        w.visit(V {
            provider: &x.provider,
            ext: &x.ext,
            client: &x.client,
            service: x.service,
            status: x.status,
            start: &start,
            end: &end,
            staff: x.staff,
            quantity: x.quantity,
            cancelled_at: cancelled.as_deref(),
        })
        .await;
    }
    w.settle("2026-03").await;

    // The engine's input, numbered here: services and zones by code, the
    // rest by id; external ids globally by (provider, external id).
    let services = ["escort", "meals", "night_patrol", "personal_care", "safety_alarm", "service"];
    let basis = [c::Basis::Granted, c::Basis::PerUnit, c::Basis::PerUnit, c::Basis::Performed, c::Basis::PerMonth, c::Basis::Performed];
    let sidx = |s: &str| services.iter().position(|x| *x == s).unwrap() as u32;
    let zones = ["rural", "town"];
    let mut client_ids: Vec<&String> = clients.iter().map(|(c, _)| c).collect();
    client_ids.sort();
    let cidx = |id: &str| client_ids.iter().position(|x| x.as_str() == id).unwrap() as u32;
    let pidx = |id: &str| providers.iter().position(|x| x == id).unwrap() as u32;
    let date = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    let mut ext_order: Vec<(u32, &str)> = visits.iter().map(|x| (pidx(&x.provider), x.ext.as_str())).collect();
    ext_order.sort();
    let rate = |s: &str, z: &str, class: c::Class, ore: i64| c::Rate {
        service: sidx(s),
        zone: zones.iter().position(|x| *x == z).unwrap() as u32,
        class,
        valid_from: date("2026-01-01"),
        amount: Money::from_ore(ore),
    };
    let mut info = vec![c::ClientInfo { zone: 0 }; client_ids.len()];
    for (id, zone) in &clients {
        info[cidx(id) as usize].zone = zones.iter().position(|x| x == zone).unwrap() as u32;
    }
    let input = c::SettlementInput {
        context: c::SettlementContext {
            month: "2026-03".parse().unwrap(),
            settings: c::Settings::with_defaults(
                "Europe/Stockholm",
                valfri_core::calendar::Country::Sweden,
                (0..6).map(|k| c::ServiceSettings { basis: basis[k], group: Some(k as u32) }).collect(),
            ),
            providers: vec![c::ProviderInfo { vat_entitled: true }; 2],
            clients: info,
            rates: vec![
                rate("personal_care", "town", c::Class::Day, 42000),
                rate("personal_care", "town", c::Class::Evening, 48000),
                rate("personal_care", "town", c::Class::Night, 54000),
                rate("personal_care", "town", c::Class::Weekend, 51000),
                rate("personal_care", "rural", c::Class::Day, 60000),
                rate("service", "town", c::Class::Day, 36000),
                rate("escort", "town", c::Class::Day, 30000),
                rate("meals", "town", c::Class::Unit, 5000),
                rate("night_patrol", "town", c::Class::Unit, 12000),
                rate("safety_alarm", "town", c::Class::Month, 31000),
            ],
            decisions: decisions
                .iter()
                .map(|(cl, s, g, d)| c::Decision {
                    client: cidx(cl),
                    service: sidx(s),
                    from: date("2026-01-01"),
                    to: None,
                    granted_minutes_per_month: *g as u32,
                    double_staffing: *d,
                })
                .collect(),
            assignments: assignments
                .iter()
                .map(|(cl, p, s, from, to)| c::Assignment {
                    client: cidx(cl),
                    service: sidx(s),
                    provider: pidx(p),
                    from: date(from),
                    to: to.map(date),
                })
                .collect(),
        },
        visits: visits
            .iter()
            .map(|x| c::Visit {
                client: cidx(&x.client),
                start: x.start,
                provider: pidx(&x.provider),
                external_id: ext_order.binary_search(&(pidx(&x.provider), x.ext.as_str())).unwrap() as u32,
                service: sidx(x.service),
                end: x.end,
                status: match x.status {
                    "performed" => c::VisitStatus::Performed,
                    "cancelled_late" => c::VisitStatus::CancelledLate,
                    "cancelled_in_time" => c::VisitStatus::CancelledInTime,
                    _ => c::VisitStatus::Missed,
                },
                double_staffed: x.staff == 2,
                cancelled_at: x.cancelled_at,
                quantity: x.quantity.and_then(|q| NonZeroU32::new(q as u32)),
            })
            .collect(),
        adjustments: vec![],
    };
    let expected = c::settle(input).unwrap();
    let mut flagged = 0;
    for ps in &expected.providers {
        let id = &providers[ps.provider as usize];
        let d = w.detail(id, "2026-03").await;
        assert_eq!(totals(&d), (ps.lines_total.ore(), ps.vat.ore(), 0, ps.total.ore()));
        let got: Vec<(String, String, String, String, String, i64)> = d["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["client_id"].as_str().unwrap().to_string(),
                    l["service_type"].as_str().unwrap().to_string(),
                    l["time_class"].as_str().unwrap().to_string(),
                    l["zone"].as_str().unwrap().to_string(),
                    format!("{}/{}", l["quantity_num"], l["quantity_den"]),
                    l["amount_ore"].as_i64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, String, String, String, String, i64)> = ps
            .lines
            .iter()
            .map(|l| {
                (
                    client_ids[l.client as usize].clone(),
                    services[l.service as usize].to_string(),
                    l.class.as_str().to_string(),
                    zones[l.zone as usize].to_string(),
                    format!("{}/{}", l.quantity.num, l.quantity.den),
                    l.amount.ore(),
                )
            })
            .collect();
        assert_eq!(got, want);
        // Flags name the same visits.
        let mut got_flags: Vec<(String, Option<String>)> = flag_codes(&d);
        let mut want_flags: Vec<(String, Option<String>)> =
            ps.flags.iter().map(|f| (f.code.as_str().to_string(), f.visit.map(|v| ext_order[v as usize].1.to_string()))).collect();
        got_flags.sort();
        want_flags.sort();
        assert_eq!(got_flags, want_flags);
        flagged += want_flags.len();
        // The total is the sum of the lines, VAT and adjustments.
        let sum: i64 = got.iter().map(|l| l.5).sum();
        assert_eq!(sum, ps.lines_total.ore());
    }
    assert!(flagged > 0, "the random month should exercise some flags");
}

/// Reads the peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(0, |kb| kb / 1024)
}

/// A synthetic month written straight into the database, then settled:
/// `VALFRI_SETTLE_CLIENTS=25000 cargo test --release --test api settlement::timing -- --ignored --nocapture`.
/// 100 visits per client, 150 providers per 25 000 clients. Not an assertion on time.
#[tokio::test]
#[ignore = "timing run; use --release"]
async fn timing_of_a_large_month() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let clients: usize = std::env::var("VALFRI_SETTLE_CLIENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(25_000);
    let providers = (clients * 150 / 25_000).max(2);
    let w = world().await;
    let pool = &w.app.state.db.pool;
    let t = std::time::Instant::now();
    let provider_ids: Vec<String> = (0..providers).map(|k| format!("p{k:05}")).collect();
    for (k, p) in provider_ids.iter().enumerate() {
        sqlx::query(
            "INSERT INTO providers (id, name, org_nr, ownership, owner_name, description, languages, specialities, phone, email, website, vat_compensation, created_at) \
             VALUES ($1, $2, $3, 'private', '', '', 'sv', '', '', '', '', 1, '2026-01-01T00:00:00Z')",
        )
        .bind(p)
        .bind(format!("Utförare {k}"))
        .bind(format!("55{k:08}"))
        .execute(pool)
        .await
        .unwrap();
    }
    let client_id = |c: usize| format!("c{c:07}");
    let mut rng = StdRng::seed_from_u64(1);
    let mut tx = pool.begin().await.unwrap();
    for chunk in (0..clients).collect::<Vec<_>>().chunks(500) {
        let mut sql = String::from("INSERT INTO clients (id, person_id, name, address, postcode, area_code, preferred_language, protected_identity, representative, created_at) VALUES ");
        for (k, &c) in chunk.iter().enumerate() {
            if k > 0 {
                sql.push(',');
            }
            let area = if c % 3 == 0 { "lit" } else { "centrum" };
            sql.push_str(&format!("('{}', 'P{c}', 'K', 'A', '831 30', '{area}', 'sv', 0, '', '2026-01-01T00:00:00Z')", client_id(c)));
        }
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
        let mut sql = String::from("INSERT INTO decisions (id, client_id, created_at, created_by) VALUES ");
        let mut vs = String::from(
            "INSERT INTO decision_versions (id, decision_id, version, valid_from, valid_to, state, decided_by, decided_at, note) VALUES ",
        );
        let mut ss = String::from("INSERT INTO decision_services (version_id, service_type, monthly_amount, double_staffing) VALUES ");
        let mut asg = String::from("INSERT INTO assignments (id, client_id, provider_id, service_type, start_date, end_date, monthly_amount, created_at, status) VALUES ");
        let mut first_asg = true;
        for (k, &c) in chunk.iter().enumerate() {
            let sep = if k > 0 { "," } else { "" };
            let granted = if c % 10 == 0 { 1200 } else { 6000 };
            sql.push_str(&format!("{sep}('d{c}', '{}', '2026-01-01T00:00:00Z', '{}')", client_id(c), w.admin_id));
            vs.push_str(&format!("{sep}('v{c}', 'd{c}', 1, '2025-06-01', NULL, 'current', '{}', '2026-01-01T00:00:00Z', '')", w.admin_id));
            ss.push_str(&format!("{sep}('v{c}', 'personal_care', {granted}, {})", i64::from(c % 50 == 0)));
            let p = &provider_ids[c % providers];
            let q = &provider_ids[(c + 1) % providers];
            let mut add = |text: String| {
                if !first_asg {
                    asg.push(',');
                }
                first_asg = false;
                asg.push_str(&text);
            };
            for s in ["personal_care", "meals"] {
                let end = if c % 40 == 0 && s == "personal_care" { "'2026-03-15'" } else { "NULL" };
                add(format!(
                    "('a{c}{s}', '{}', '{p}', '{s}', '2025-06-01', {end}, 0, '2026-01-01T00:00:00Z', 'acknowledged')",
                    client_id(c)
                ));
            }
            if c % 40 == 0 {
                add(format!(
                    "('b{c}', '{}', '{q}', 'personal_care', '2026-03-16', NULL, 0, '2026-01-01T00:00:00Z', 'acknowledged')",
                    client_id(c)
                ));
            }
        }
        for q in [sql, vs, ss, asg] {
            sqlx::query(&q).execute(&mut *tx).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    // Visits: 100 per client, mostly daytime personal care.
    let march = "2026-02-28T23:00:00Z".parse::<jiff::Timestamp>().unwrap().as_second();
    let stamp = |s: i64| valfri::clock::stamp(jiff::Timestamp::from_second(s).unwrap());
    let mut tx = pool.begin().await.unwrap();
    let mut rows: Vec<String> = Vec::with_capacity(1000);
    let mut n = 0u64;
    for c in 0..clients {
        let p = &provider_ids[c % providers];
        for k in 0..100 {
            let day = rng.gen_range(0..31i64);
            let minute = if rng.gen_ratio(1, 10) { rng.gen_range(0..1440) } else { 420 + rng.gen_range(0..900) };
            let start = march + (day * 1440 + minute) * 60;
            let end = start + rng.gen_range(10..90i64) * 60;
            let meals = rng.gen_ratio(1, 10);
            let (service, quantity) = if meals { ("meals", "1") } else { ("personal_care", "NULL") };
            let prov = if c % 40 == 0 && day >= 15 { &provider_ids[(c + 1) % providers] } else { p };
            let status = if rng.gen_ratio(1, 20) { "cancelled_late" } else { "performed" };
            let (s, e) = (stamp(start), stamp(end));
            let actual = if status == "performed" { format!("'{s}', '{e}'") } else { "NULL, NULL".into() };
            let local = jiff::Timestamp::from_second(start).unwrap().to_zoned(jiff::tz::TimeZone::get("Europe/Stockholm").unwrap()).date();
            rows.push(format!(
                "('{prov}', 'e{c}-{k}', '{}', '{service}', '{status}', '{s}', '{e}', {actual}, NULL, 's', {}, {quantity}, '{s}', '{e}', {}, '{local}', '2026-03', 0, 'i')",
                client_id(c),
                if rng.gen_ratio(1, 30) { 2 } else { 1 },
                (end - start) / 60
            ));
            n += 1;
            if rows.len() == 1000 {
                let sql = format!(
                    "INSERT INTO visits (provider_id, external_id, client_id, service_type, status, planned_start, planned_end, actual_start, actual_end, \
                     cancelled_at, staff_ref, staff_count, quantity, start_at, end_at, minutes, local_date, month, content_hash, import_id) VALUES {}",
                    rows.join(",")
                );
                sqlx::query(&sql).execute(&mut *tx).await.unwrap();
                rows.clear();
            }
        }
    }
    if !rows.is_empty() {
        let sql = format!(
            "INSERT INTO visits (provider_id, external_id, client_id, service_type, status, planned_start, planned_end, actual_start, actual_end, \
             cancelled_at, staff_ref, staff_count, quantity, start_at, end_at, minutes, local_date, month, content_hash, import_id) VALUES {}",
            rows.join(",")
        );
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    eprintln!("generated {clients} clients, {providers} providers, {n} visits in {:?}; peak {} MiB", t.elapsed(), peak_rss_mib());
    if let (Ok(path), "sqlite") = (std::env::var("VALFRI_SETTLE_KEEP"), backend()) {
        sqlx::query(&format!("VACUUM INTO '{path}'")).execute(pool).await.unwrap();
    }
    for round in 0..2 {
        let t = std::time::Instant::now();
        let report = valfri::settlement::run_month(&w.app.state.db, "2026-03".parse().unwrap(), "bench", "2026-04-01T00:00:00Z", false)
            .await
            .unwrap();
        eprintln!(
            "round {round}: {:?} in all; {:?}, store {} ms; {} written, {} unchanged; total {} öre; peak {} MiB",
            t.elapsed(),
            report.timings,
            report.store_ms,
            report.saved.written.len(),
            report.saved.unchanged.len(),
            report.total_ore,
            peak_rss_mib()
        );
    }
}

#[tokio::test]
async fn a_large_settlement_is_shown_a_page_of_lines_at_a_time() {
    let app = spawn_app().await;
    let g = crate::bench_smoke::generated_month(&app, valfri::bench::Spec::small(250, 2)).await;
    valfri::settlement::run_month(&app.state.db, g.spec.month, "test", "2026-05-05T09:00:00Z", false).await.unwrap();
    let pool = &app.state.db.pool;
    let (id, lines): (String, i64) =
        sqlx::query_as("SELECT id, line_count FROM settlements ORDER BY line_count DESC LIMIT 1").fetch_one(pool).await.unwrap();
    assert!(lines > 1000, "{lines} lines: three pages or more");
    app.add_user("boss", Role::Admin, None, None).await;
    let token = app.token("boss").await;
    let audited = || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE detail LIKE 'settlement %'").fetch_one(pool).await.unwrap();
        n
    };
    let page = |query: String| {
        let (app, token, id) = (&app, &token, &id);
        async move {
            let res = app.http.get(format!("{}/settlements/{id}{query}", app.url)).bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.text().await.unwrap()
        }
    };
    let row = |seq: i64| format!("<tr><td>{seq}</td>");
    let (next, prev) = ("Nästa 500 rader", "Föregående 500 rader");

    let before = audited().await;
    let first = page(String::new()).await;
    assert!(first.contains(&format!("Rad 1–500 av {}.", valfri::web::pager::thousands(lines.unsigned_abs()))), "{first}");
    assert!(first.contains(&row(1)) && first.contains(&row(500)) && !first.contains(&row(501)));
    assert!(first.contains(&format!("href=\"/settlements/{id}?lines=2&#38;flags=1#lines-h\">{next}</a>")), "{first}");
    assert!(!first.contains(prev));
    // What the page shows is what is audited: the clients of its 500 lines.
    let on_page: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT client_id FROM settlement_lines WHERE settlement_id = $1 AND seq <= 500 \
         UNION SELECT client_id FROM settlement_flags WHERE settlement_id = $1 AND seq <= 500) x",
    )
    .bind(&id)
    .fetch_one(pool)
    .await
    .unwrap();
    let all: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT client_id) FROM settlement_lines WHERE settlement_id = $1")
        .bind(&id)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(audited().await - before, on_page);
    assert!(on_page < all, "{on_page} of {all} clients");

    let second = page("?lines=2".into()).await;
    assert!(second.contains(&format!("Rad 501–1{}000 av", '\u{202f}')) && second.contains(&row(501)) && !second.contains(&row(500)));
    assert!(second.contains(&format!("href=\"/settlements/{id}?lines=1&#38;flags=1#lines-h\">{prev}</a>")), "{second}");
    // A page beyond the last is the last; one that is not a number, the first.
    let last = page("?lines=100000".into()).await;
    assert!(last.contains(&row(lines)) && last.contains(prev) && !last.contains(next), "{last}");
    let odd = page("?lines=abc&flags=-2".into()).await;
    assert!(odd.contains(&row(1)) && odd.contains(next));
    // English and Norwegian say the same.
    let en = page("?lines=2&lang=en".into()).await;
    assert!(en.contains(&format!("Lines 501–1{}000 of", '\u{202f}')) && en.contains("Next 500 lines") && en.contains("Previous 500 lines"));
    let nb = page("?lines=2&lang=nb".into()).await;
    assert!(nb.contains("Linje 501–1") && nb.contains("Neste 500 linjer") && nb.contains("Forrige 500 linjer"));
    // The statement has every line.
    let res = app.http.get(format!("{}/api/v1/settlements/{id}/statement.csv", app.url)).bearer_auth(&token).send().await.unwrap();
    let csv = res.text().await.unwrap();
    assert_eq!(csv.lines().filter(|l| l.starts_with("line;")).count() as i64, lines);

    // Through the API: everything up to 10 000, or a range of lines and flags by number.
    let seqs = |d: &Value, what: &str| d[what].as_array().unwrap().iter().map(|x| x["seq"].as_i64().unwrap()).collect::<Vec<_>>();
    let (s, whole) = app.get(&format!("/api/v1/settlements/{id}"), &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(seqs(&whole, "lines"), (1..=lines).collect::<Vec<_>>());
    assert_eq!(whole["line_count"].as_i64(), Some(lines));
    let (s, part) = app.get(&format!("/api/v1/settlements/{id}?lines_from=999&lines_limit=5&flags_from=2&flags_limit=1"), &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((seqs(&part, "lines"), seqs(&part, "flags")), ((999..=1003).collect(), vec![2]));
    assert_eq!(part["lines"][0], whole["lines"][998]);
    let (s, past) = app.get(&format!("/api/v1/settlements/{id}?lines_from={}", lines + 1), &token).await;
    assert_eq!((s, seqs(&past, "lines").len()), (StatusCode::OK, 0));
    for bad in ["lines_from=0", "lines_limit=0", "flags_limit=100001", "flags_from=-4"] {
        let (s, b) = app.get(&format!("/api/v1/settlements/{id}?{bad}"), &token).await;
        let field = bad.split('=').next().unwrap();
        assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{bad}: {b}");
    }
}
