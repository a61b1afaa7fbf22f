//! Time reports: the API (single, batch, CSV), idempotent re-imports and
//! corrections, the approved-month lock, DST, the import-time flags, who
//! may report and read what, and the audit trail.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use valfri::auth::Role;

pub struct W {
    pub app: TestApp,
    pub admin: String,
    pub admin_id: String,
    pub a: String,
    pub b: String,
    pub prov_a: String,
    pub prov_b: String,
    pub c1: String,
    pub c2: String,
    pub c3: String,
}

/// Providers A and B; clients c1 (PNR_A) and c2 (PNR_B) with A, c3 (PNR_C)
/// with B; c1 switches to B on 16 March. Decisions: c1 10 h/month, c2 10 h
/// with double staffing, c3 a decision that ended on 5 March.
pub async fn world() -> W {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let admin_id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = 'admin'").fetch_one(&app.state.db.pool).await.unwrap();
    let a = app.create_provider(&admin, "Omsorg A", ORG_A).await;
    let b = app.create_provider(&admin, "Omsorg B", ORG_B).await;
    app.add_user("prov_a", Role::Provider, Some(&a), None).await;
    app.add_user("prov_b", Role::Provider, Some(&b), None).await;
    let c1 = app.create_client(&admin, PNR_A, "831 30").await;
    let c2 = app.create_client(&admin, PNR_B, "831 30").await;
    let c3 = app.create_client(&admin, PNR_C, "831 30").await;
    let w = W { prov_a: app.token("prov_a").await, prov_b: app.token("prov_b").await, app, admin, admin_id, a, b, c1, c2, c3 };
    w.assign(&w.c1, &w.a, "personal_care", "2026-01-01", Some("2026-03-15")).await;
    w.assign(&w.c1, &w.b, "personal_care", "2026-03-16", None).await;
    w.assign(&w.c2, &w.a, "personal_care", "2026-01-01", None).await;
    w.assign(&w.c3, &w.b, "personal_care", "2026-01-01", None).await;
    w.decision(&w.c1, "personal_care", "2026-01-01", None, 600, false).await;
    w.decision(&w.c2, "personal_care", "2026-01-01", None, 600, true).await;
    w.decision(&w.c3, "personal_care", "2026-01-01", Some("2026-03-05"), 600, false).await;
    w
}

impl W {
    pub async fn assign(&self, client: &str, provider: &str, service: &str, from: &str, to: Option<&str>) {
        self.app.insert_assignment(client, provider, service, from, to).await;
    }

    pub async fn decision(&self, client: &str, service: &str, from: &str, to: Option<&str>, minutes: i64, double: bool) {
        self.app.insert_decision(&self.admin_id, client, service, (from, to), minutes, double).await;
    }

    pub async fn batch(&self, token: &str, visits: Vec<Value>) -> Value {
        let (s, r) = self.app.post("/api/v1/visits/batch", token, json!({ "visits": visits })).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        r
    }

    pub async fn csv(&self, token: &str, query: &str, body: impl AsRef<[u8]>) -> (StatusCode, Value) {
        let res = self
            .app
            .http
            .post(format!("{}/api/v1/visits/import{query}", self.app.url))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(body.as_ref().to_vec())
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }

    pub async fn flags(&self, token: &str, month: &str) -> Vec<(String, String, String)> {
        let (s, b) = self.app.get(&format!("/api/v1/visits/flags?month={month}"), token).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let mut out: Vec<(String, String, String)> = b["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["external_id"].as_str().unwrap().into(), f["code"].as_str().unwrap().into(), f["detail"].as_str().unwrap().into()))
            .collect();
        out.sort();
        out
    }
}

/// A performed visit on a day of March 2026, local times.
pub fn v(ext: &str, client: &str, day: &str, from: &str, to: &str, staff: &str) -> Value {
    json!({
        "external_id": ext, "client": client, "service_type": "personal_care", "status": "performed",
        "planned_start": format!("{day} {from}"), "planned_end": format!("{day} {to}"),
        "actual_start": format!("{day} {from}"), "actual_end": format!("{day} {to}"), "staff_ref": staff
    })
}

fn rejections(r: &Value) -> Vec<(u64, String, String)> {
    r["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["line"].as_u64().unwrap(), x["field"].as_str().unwrap().to_string(), x["code"].as_str().unwrap().to_string()))
        .collect()
}

fn counts(r: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| r[k].as_u64().unwrap();
    (n("new"), n("replaced"), n("unchanged"), n("rejected_rows"))
}

#[tokio::test]
async fn a_batch_keeps_the_good_rows_and_a_reimport_changes_nothing() {
    let w = world().await;
    let mut bad = v("a2", PNR_A, "2026-03-02", "10:00", "10:30", "S1");
    bad["status"] = json!("done");
    let batch = vec![v("a1", PNR_A, "2026-03-02", "08:00", "08:45", "S1"), bad, v("a3", &w.c2, "2026-03-02", "09:00", "09:30", "S1")];
    let r = w.batch(&w.prov_a, batch.clone()).await;
    assert_eq!(counts(&r), (2, 0, 0, 1), "{r}");
    assert_eq!(rejections(&r), [(2, "status".into(), "invalid_status".into())]);
    assert_eq!(r["months"], json!(["2026-03"]));
    assert_eq!(r["stored"], true);

    // The same batch again: nothing new, nothing changed.
    let r = w.batch(&w.prov_a, batch.clone()).await;
    assert_eq!(counts(&r), (0, 0, 2, 1), "{r}");
    let written: Vec<String> = sqlx::query_scalar("SELECT DISTINCT import_id FROM visits").fetch_all(&w.app.state.db.pool).await.unwrap();
    assert_eq!(written.len(), 1);
    assert!(!written.contains(&r["import_id"].as_str().unwrap().to_string()), "an unchanged row is not rewritten");

    // A corrected row replaces the earlier one.
    let mut fixed = batch.clone();
    fixed[0]["actual_end"] = json!("2026-03-02 08:50");
    fixed.remove(1);
    let r = w.batch(&w.prov_a, fixed).await;
    assert_eq!(counts(&r), (0, 1, 1, 0), "{r}");
    let (s, one) = w.app.get("/api/v1/visits/a1", &w.prov_a).await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["minutes"], 50);
    assert_eq!(one["actual_end"], "2026-03-02T07:50:00Z", "stored in UTC");
    assert_eq!(one["client_id"], json!(w.c1), "the client named by personnummer is stored by id");
    assert_eq!(one["local_date"], "2026-03-02");
    assert_eq!(one["month"], "2026-03");
}

/// SQLite keeps `visits` clustered by (month, client) (src/db.rs,
/// `cluster_visits`); a database whose table predates that is rebuilt on
/// start with every visit and flag kept.
#[tokio::test]
async fn visits_stored_before_the_clustered_layout_are_kept() {
    let w = world().await;
    let rows = vec![
        v("two-1", PNR_A, "2026-03-02", "08:00", "09:00", "S1"),
        v("two-2", PNR_B, "2026-03-02", "08:30", "09:15", "S1"),
        v("a3", PNR_A, "2026-03-03", "08:00", "08:30", "S2"),
    ];
    assert_eq!(counts(&w.batch(&w.prov_a, rows.clone()).await), (3, 0, 0, 0));
    let flags = w.flags(&w.prov_a, "2026-03").await;
    assert_eq!(flags.len(), 2, "{flags:?}");
    let (_, page) = w.app.get("/api/v1/visits?month=2026-03", &w.prov_a).await;
    if backend() != "sqlite" {
        return;
    }
    let db = &w.app.state.db;
    let layout = || async {
        let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'visits'").fetch_one(&db.pool).await.unwrap();
        sql.contains("WITHOUT ROWID")
    };
    assert!(layout().await, "a new database is clustered from the start");
    let indexes = || async {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'visits' AND sql IS NOT NULL ORDER BY name",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        names
    };
    assert_eq!(indexes().await, ["visits_provider_date"]);
    // Back to the rowid table migrations 0005-0007 create, with its indexes.
    let migration = include_str!("../../migrations/0005_visits.sql");
    let start = migration.find("CREATE TABLE visits (").unwrap();
    let end = start + migration[start..].find("\n);").unwrap() + 3;
    let rowid_table = migration[start..end].replace("CREATE TABLE visits (", "CREATE TABLE visits_rowid (");
    let mut conn = db.pool.acquire().await.unwrap();
    for sql in [
        "PRAGMA foreign_keys = OFF",
        &rowid_table,
        "INSERT INTO visits_rowid SELECT * FROM visits",
        "DROP TABLE visits",
        "ALTER TABLE visits_rowid RENAME TO visits",
        "CREATE INDEX visits_provider_date ON visits (provider_id, local_date)",
        "CREATE INDEX settlement_visits_month ON visits (month, client_id)",
        "PRAGMA foreign_keys = ON",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    assert!(!layout().await);
    db.migrate().await.unwrap();
    assert!(layout().await);
    assert_eq!(indexes().await, ["visits_provider_date"], "the (month, client) index is the key now");
    assert_eq!(w.flags(&w.prov_a, "2026-03").await, flags);
    assert_eq!(w.app.get("/api/v1/visits?month=2026-03", &w.prov_a).await.1, page);
    assert_eq!(counts(&w.batch(&w.prov_a, rows).await), (0, 0, 3, 0), "the re-import finds every row");
}

#[tokio::test]
async fn a_csv_file_reports_every_bad_row_by_line_column_and_reason() {
    let w = world().await;
    let csv = "\u{feff}external_id;client;service_type;status;planned_start;planned_end;actual_start;actual_end;staff_ref;staff_count\n\
               c-1;19121212-1212;personal_care;performed;2026-03-03 08:00;2026-03-03 08:30;2026-03-03 08:02;2026-03-03 08:31;S7;1\n\
               c-2;19121212-1212;personal_care;performed;2026-03-03 12:00;2026-03-03 12:30;2026-03-03 12:00;2026-03-03 25:00;S7;1\n\
               \n\
               c-3;19350505-5552;personal_care;performed;2026-03-03 13:00;2026-03-03 13:30;2026-03-03 13:00;2026-03-03 13:30;S7;1\n\
               c-4;19400101-0018;personal_care;cancelled_late;2026-03-04 08:00;2026-03-04 08:30;;;;\n\
               c-5;19400101-0018;personal_care;performed;2026-03-04 09:00\n\
               c-1;19121212-1212;personal_care;performed;2026-03-05 08:00;2026-03-05 08:30;2026-03-05 08:00;2026-03-05 08:30;S7;1\n";
    let (s, r) = w.csv(&w.prov_a, "?file_name=mars.csv", csv).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(counts(&r), (2, 0, 0, 4), "{r}");
    assert_eq!(r["rows"], 6, "the blank line is not a row");
    assert_eq!(
        rejections(&r),
        [
            (3, "actual_end".into(), "invalid_time".into()),
            (5, "client".into(), "unknown_client".into()),
            (7, "line".into(), "wrong_field_count".into()),
            (8, "external_id".into(), "duplicate_external_id".into()),
        ],
        "{r}"
    );
    assert_eq!(r["file_name"], "mars.csv");
    // The report is stored and can be read again.
    let (s, again) = w.app.get(&format!("/api/v1/visits/imports/{}", r["import_id"].as_str().unwrap()), &w.prov_a).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rejections(&again), rejections(&r));
    let (s, _) = w.app.get(&format!("/api/v1/visits/imports/{}", r["import_id"].as_str().unwrap()), &w.prov_b).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another provider's import is not found");

    // A header with a typo refuses the whole file before any row.
    let (s, p) = w.csv(&w.prov_a, "", "external_id,client,service_type,statsu\n1,2,3,4\n").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let codes: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["unknown_column", "missing_column"]);
    // A file that is not CSV: its "header" is echoed printably, cut short,
    // and only the first twenty unknown columns are named.
    let mut junk = b"MZ\x90\x00".to_vec();
    junk.extend(std::iter::repeat_n(b'x', 5000));
    junk.extend(std::iter::repeat_n(b';', 100));
    junk.extend_from_slice(b"\n1;2\n");
    let (s, p) = w.csv(&w.prov_a, "", junk).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let errors = p["errors"].as_array().unwrap();
    let reasons: Vec<&str> = errors.iter().filter(|e| e["code"] == "unknown_column").map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.len(), 21, "{p}");
    assert!(reasons[0].starts_with("column 1 of the header, 'mz\u{fffd}\\0xxx") && reasons[0].contains("x…'"), "{}", reasons[0]);
    assert!(reasons[0].len() < 400 && reasons[20] == "81 more columns of the header are not known", "{p}");
    let (s, p) = w.csv(&w.prov_a, "", "").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
}

#[tokio::test]
async fn all_or_nothing_stores_nothing_when_a_row_is_bad() {
    let w = world().await;
    let mut bad = v("x2", PNR_A, "2026-03-02", "10:00", "10:30", "S1");
    bad["actual_end"] = json!("2026-03-02 09:00");
    let (s, p) = w
        .app
        .post(
            "/api/v1/visits/batch",
            &w.prov_a,
            json!({"all_or_nothing": true, "visits": [v("x1", PNR_A, "2026-03-02", "08:00", "08:45", "S1"), bad]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "visits[1].actual_end");
    assert_eq!(p["errors"][0]["code"], "end_before_start");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM visits").fetch_one(&w.app.state.db.pool).await.unwrap();
    assert_eq!(n, 0);

    let csv = "external_id,client,service_type,status,actual_start,actual_end,staff_ref\n\
               y1,19121212-1212,personal_care,performed,2026-03-02 08:00,2026-03-02 08:30,S1\n\
               y2,19121212-1212,personal_care,performed,2026-03-02 09:00,,S1\n";
    let (s, r) = w.csv(&w.prov_a, "?all_or_nothing=true", csv).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["stored"], false);
    assert_eq!(counts(&r), (0, 0, 0, 1));
    assert_eq!(rejections(&r), [(3, "actual_end".into(), "required".into())]);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM visits").fetch_one(&w.app.state.db.pool).await.unwrap();
    assert_eq!(n, 0, "nothing stored");
    let (s, r) = w.csv(&w.prov_a, "", csv).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(counts(&r), (1, 0, 0, 1), "without the flag the good row is kept");
}

#[tokio::test]
async fn a_single_visit_is_created_replaced_or_refused_with_every_field_named() {
    let w = world().await;
    let (s, r) = w.app.post("/api/v1/visits", &w.prov_a, v("s1", PNR_A, "2026-03-02", "08:00", "08:45", "S1")).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["result"], "new");
    assert_eq!(r["visit"]["minutes"], 45);
    let (s, r) = w.app.post("/api/v1/visits", &w.prov_a, v("s1", PNR_A, "2026-03-02", "08:00", "08:45", "S1")).await;
    assert_eq!((s, r["result"].as_str()), (StatusCode::OK, Some("unchanged")));
    let (s, r) = w.app.post("/api/v1/visits", &w.prov_a, v("s1", PNR_A, "2026-03-02", "08:00", "09:00", "S1")).await;
    assert_eq!((s, r["result"].as_str()), (StatusCode::OK, Some("replaced")));

    let bad = json!({"external_id": "s2", "client": "19121212-1213", "service_type": "dance", "status": "performed",
                     "actual_start": "2026-03-02 08:00", "staff_ref": "19121212-1212", "staff_count": 3});
    let (s, p) = w.app.post("/api/v1/visits", &w.prov_a, bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let mut fields: Vec<(&str, &str)> =
        p["errors"].as_array().unwrap().iter().map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap())).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            ("actual_end", "required"),
            ("client", "invalid_person_id"),
            ("service_type", "unknown_service_type"),
            ("staff_count", "invalid_staff_count"),
            ("staff_ref", "staff_ref_not_pseudonymous"),
        ]
    );
    let (s, p) = w.app.post("/api/v1/visits", &w.prov_a, json!({"external_id": "s3", "actual_strat": "x"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused: {p}");
}

#[tokio::test]
async fn providers_report_and_read_only_their_own_visits() {
    let w = world().await;
    // A may not report for B, nor for B's client.
    let mut other = v("p1", PNR_A, "2026-03-02", "08:00", "08:45", "S1");
    other["provider_id"] = json!(w.b);
    let (s, _) = w.app.post("/api/v1/visits", &w.prov_a, other).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, p) = w.app.post("/api/v1/visits", &w.prov_a, v("p1", PNR_C, "2026-03-02", "08:00", "08:45", "S1")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "unknown_client", "a client A never had looks like no client at all");
    let (s, p) = w.app.post("/api/v1/visits", &w.prov_a, v("p1", "19450202-3346", "2026-03-02", "08:00", "08:45", "S1")).await;
    assert_eq!((s, p["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_client")));

    // The admin reports for any provider, named by organisation number, and must name one.
    let mut by_admin = v("adm1", PNR_C, "2026-03-02", "08:00", "08:45", "S1");
    by_admin["provider_id"] = json!(ORG_B);
    let (s, r) = w.app.post("/api/v1/visits", &w.admin, by_admin).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["visit"]["provider_id"], json!(w.b));
    let (s, p) = w.app.post("/api/v1/visits", &w.admin, v("adm2", PNR_C, "2026-03-02", "08:00", "08:45", "S1")).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("provider_id")));

    w.batch(&w.prov_a, vec![v("a1", PNR_A, "2026-03-02", "08:00", "08:45", "S1")]).await;
    let (s, page) = w.app.get("/api/v1/visits?month=2026-03", &w.prov_a).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["visits"][0]["external_id"], "a1");
    assert_eq!(page["visits"][0]["client_name"], "Test Person");
    let (s, page) = w.app.get("/api/v1/visits?month=2026-03", &w.prov_b).await;
    assert_eq!((s, page["total"].as_i64()), (StatusCode::OK, Some(1)), "B sees its own visit only: {page}");
    assert_eq!(page["visits"][0]["external_id"], "adm1");
    let (s, _) = w.app.get(&format!("/api/v1/visits?month=2026-03&provider_id={}", w.a), &w.prov_b).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.app.get("/api/v1/visits/a1", &w.prov_b).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, page) = w.app.get(&format!("/api/v1/visits?month=2026-03&provider_id={ORG_A}"), &w.admin).await;
    assert_eq!((s, page["total"].as_i64()), (StatusCode::OK, Some(1)));
    let (s, p) = w.app.get("/api/v1/visits?month=2026-13", &w.prov_a).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("month")));

    // Neither case officers nor citizens read or report time.
    w.app.add_user("officer", Role::CaseOfficer, None, None).await;
    w.app.add_user("citizen", Role::Citizen, None, Some(&w.c1)).await;
    for u in ["officer", "citizen"] {
        let t = w.app.token(u).await;
        let (s, _) = w.app.get("/api/v1/visits?month=2026-03", &t).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{u}");
        let (s, _) = w.app.get("/api/v1/visits/flags?month=2026-03", &t).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{u}");
        let (s, _) = w.app.post("/api/v1/visits/batch", &t, json!({"visits": []})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{u}");
    }
    let (s, _) = w.app.call(Method::GET, "/api/v1/visits?month=2026-03", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn stored_rows_that_break_a_rule_are_flagged_for_the_provider_and_the_admin() {
    let w = world().await;
    let mut double = v("dbl", PNR_A, "2026-03-03", "10:00", "10:30", "S2");
    double["staff_count"] = json!(2);
    let mut granted_double = v("dbl-ok", PNR_B, "2026-03-03", "11:00", "11:30", "S2");
    granted_double["staff_count"] = json!(2);
    let r = w
        .batch(
            &w.prov_a,
            vec![
                // S1 at c1 08:00–09:00 and at c2 08:30–09:15: two homes at once.
                v("two-1", PNR_A, "2026-03-02", "08:00", "09:00", "S1"),
                v("two-2", PNR_B, "2026-03-02", "08:30", "09:15", "S1"),
                // Back to back is fine.
                v("b2b", PNR_B, "2026-03-02", "09:15", "09:45", "S1"),
                // Two staff at c1 at overlapping times.
                v("ov-1", PNR_A, "2026-03-04", "08:00", "09:00", "S3"),
                v("ov-2", PNR_A, "2026-03-04", "08:50", "09:30", "S4"),
                double,
                granted_double,
                // c1 moved to provider B on the 16th: A's visit on the 17th is outside its assignment.
                v("late", PNR_A, "2026-03-17", "08:00", "08:30", "S1"),
            ],
        )
        .await;
    assert_eq!(counts(&r), (8, 0, 0, 0), "flagged rows are stored: {r}");
    assert_eq!(r["flagged"], 6, "{r}");
    let expected: Vec<(String, String, String)> = vec![
        ("dbl".into(), "double_staffing_not_granted".into(), "".into()),
        ("late".into(), "outside_assignment".into(), "".into()),
        ("ov-1".into(), "client_overlap".into(), "ov-2".into()),
        ("ov-2".into(), "client_overlap".into(), "ov-1".into()),
        ("two-1".into(), "staff_overlap".into(), "two-2".into()),
        ("two-2".into(), "staff_overlap".into(), "two-1".into()),
    ];
    assert_eq!(w.flags(&w.prov_a, "2026-03").await, expected);
    // B reports for c3, whose decision ended on the 5th, and sees only its own flags.
    w.batch(&w.prov_b, vec![v("after", PNR_C, "2026-03-06", "08:00", "08:30", "B1")]).await;
    assert_eq!(w.flags(&w.prov_b, "2026-03").await, [("after".to_string(), "after_decision_end".to_string(), "2026-03-05".to_string())]);
    // The admin sees every provider's.
    assert_eq!(w.flags(&w.admin, "2026-03").await.len(), 7);
    let (s, b) = w.app.get(&format!("/api/v1/visits/flags?month=2026-03&provider_id={}", w.b), &w.admin).await;
    assert_eq!((s, b["total"].as_i64()), (StatusCode::OK, Some(1)));
    // Flags show on the visit too.
    let (_, page) = w.app.get("/api/v1/visits?month=2026-03&flagged=true", &w.prov_a).await;
    assert_eq!(page["total"], 6, "{page}");

    // Correcting the overlap removes its flags on the next import.
    w.batch(&w.prov_a, vec![v("ov-2", PNR_A, "2026-03-04", "09:00", "09:30", "S4")]).await;
    let now = w.flags(&w.prov_a, "2026-03").await;
    assert!(!now.iter().any(|f| f.1 == "client_overlap"), "{now:?}");
    assert_eq!(now.len(), 4);
}

#[tokio::test]
async fn time_beyond_granted_is_flagged_across_providers_on_the_last_minutes() {
    let w = world().await;
    // c1 is granted 600 min/month (+10 % = 660). A reports 8 × 60 min before the
    // switch, B 4 × 60 min after: the last 60 min go beyond, and they are B's.
    let a: Vec<Value> = (2..10).map(|d| v(&format!("a{d}"), PNR_A, &format!("2026-03-{d:02}"), "08:00", "09:00", "S1")).collect();
    w.batch(&w.prov_a, a).await;
    assert!(w.flags(&w.prov_a, "2026-03").await.is_empty());
    let b: Vec<Value> = (16..20).map(|d| v(&format!("b{d}"), PNR_A, &format!("2026-03-{d:02}"), "08:00", "09:00", "B1")).collect();
    let r = w.batch(&w.prov_b, b).await;
    assert_eq!(r["flagged"], 1, "{r}");
    assert_eq!(w.flags(&w.prov_b, "2026-03").await, [("b19".to_string(), "beyond_granted".to_string(), "720/600+10%".to_string())]);
    assert!(w.flags(&w.prov_a, "2026-03").await.is_empty(), "A's earlier minutes are within the limit");
    // A late report by A pushes the total further: the flags follow the chronology,
    // so B's last two visits are beyond now (780 in all; B's third ends at 720 > 660).
    w.batch(&w.prov_a, vec![v("a10", PNR_A, "2026-03-10", "08:00", "09:00", "S1")]).await;
    let b_flags: Vec<String> = w.flags(&w.prov_b, "2026-03").await.into_iter().map(|f| f.0).collect();
    assert_eq!(b_flags, ["b18", "b19"]);
    assert!(w.flags(&w.prov_a, "2026-03").await.is_empty());
}

#[tokio::test]
async fn an_approved_month_is_locked() {
    let w = world().await;
    w.batch(&w.prov_a, vec![v("m1", PNR_A, "2026-02-02", "08:00", "08:45", "S1"), v("m2", PNR_A, "2026-03-02", "08:00", "08:45", "S1")])
        .await;
    // The settlement module approves February (through its own API).
    let (s, run) = w.app.post("/api/v1/settlements/compute", &w.admin, json!({"month": "2026-02", "approve": true})).await;
    assert_eq!(s, StatusCode::OK, "{run}");
    let status: String = sqlx::query_scalar("SELECT status FROM settlements WHERE provider_id = $1 AND month = '2026-02'")
        .bind(&w.a)
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "approved", "{run}");
    let r = w
        .batch(
            &w.prov_a,
            vec![
                // Unchanged: fine.
                v("m1", PNR_A, "2026-02-02", "08:00", "08:45", "S1"),
                // A correction in the approved month: refused.
                v("m2", PNR_A, "2026-02-03", "08:00", "08:45", "S1"),
                // A new visit in the approved month: refused.
                v("m3", PNR_A, "2026-02-04", "08:00", "08:45", "S1"),
                // March is open.
                v("m4", PNR_A, "2026-03-04", "08:00", "08:45", "S1"),
            ],
        )
        .await;
    assert_eq!(counts(&r), (1, 0, 1, 2), "{r}");
    assert_eq!(rejections(&r), [(2, "line".into(), "month_approved".into()), (3, "line".into(), "month_approved".into())]);
    assert!(r["rejections"][0]["reason"].as_str().unwrap().contains("2026-02"));
    let (s, p) = w.app.post("/api/v1/visits", &w.prov_a, v("m1", PNR_A, "2026-02-02", "08:00", "08:50", "S1")).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("month_approved")), "{p}");
    let (_, one) = w.app.get("/api/v1/visits/m2", &w.prov_a).await;
    assert_eq!(one["local_date"], "2026-03-02", "the stored visit is untouched");
}

#[tokio::test]
async fn local_times_in_the_dst_changes_are_handled_explicitly() {
    let w = world().await;
    w.assign(&w.c2, &w.a, "personal_care", "2026-10-01", None).await;
    let night = |ext: &str, s: &str, e: &str| {
        json!({"external_id": ext, "client": PNR_B, "service_type": "personal_care", "status": "performed",
               "actual_start": s, "actual_end": e, "staff_ref": "N1"})
    };
    let r = w
        .batch(
            &w.prov_a,
            vec![
                // 02:30 happens twice on 25 October.
                night("fold", "2026-10-25 01:30", "2026-10-25 02:30"),
                // With offsets it is clear: 01:30 CEST to 03:30 CET is three hours.
                night("fold-ok", "2026-10-25 01:30+02:00", "2026-10-25 03:30+01:00"),
                // 02:30 does not exist on 29 March.
                night("gap", "2026-03-29 02:30", "2026-03-29 03:30"),
                // 01:30 to 03:30 across the spring change is one hour.
                night("spring", "2026-03-29 01:30", "2026-03-29 03:30"),
            ],
        )
        .await;
    assert_eq!(
        rejections(&r),
        [(1, "actual_end".into(), "ambiguous_local_time".into()), (3, "actual_start".into(), "nonexistent_local_time".into())]
    );
    let (_, fold) = w.app.get("/api/v1/visits/fold-ok", &w.prov_a).await;
    assert_eq!((fold["minutes"].as_i64(), fold["actual_start"].as_str()), (Some(180), Some("2026-10-24T23:30:00Z")));
    let (_, spring) = w.app.get("/api/v1/visits/spring", &w.prov_a).await;
    assert_eq!(spring["minutes"], 60);
}

#[tokio::test]
async fn each_client_whose_visits_changed_gets_an_audit_event() {
    let w = world().await;
    let r = w
        .batch(&w.prov_a, vec![v("a1", PNR_A, "2026-03-02", "08:00", "08:45", "S1"), v("a2", PNR_B, "2026-03-02", "09:00", "09:30", "S1")])
        .await;
    let import_id = r["import_id"].as_str().unwrap().to_string();
    let rows: Vec<(String, Option<String>, String, String)> =
        sqlx::query_as("SELECT action, client_id, subject_type, actor_username FROM audit_log WHERE subject_id = $1 ORDER BY client_id")
            .bind(&import_id)
            .fetch_all(&w.app.state.db.pool)
            .await
            .unwrap();
    let mut clients: Vec<Option<String>> = rows.iter().map(|r| r.1.clone()).collect();
    clients.sort();
    let mut want = vec![None, Some(w.c1.clone()), Some(w.c2.clone())];
    want.sort();
    assert_eq!(clients, want, "one event per client and one summary: {rows:?}");
    assert!(rows.iter().all(|r| r.3 == "prov_a"));
    // An unchanged re-import changes no one's data: only the summary.
    let r = w.batch(&w.prov_a, vec![v("a1", PNR_A, "2026-03-02", "08:00", "08:45", "S1")]).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE subject_id = $1 AND client_id IS NOT NULL")
        .bind(r["import_id"].as_str().unwrap())
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // Listing the month is audited per client seen.
    w.app.get("/api/v1/visits?month=2026-03", &w.prov_a).await;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'list' AND actor_username = 'prov_a' AND detail LIKE 'visits of%'",
    )
    .fetch_one(&w.app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn cancellations_units_and_quantities() {
    let w = world().await;
    w.assign(&w.c2, &w.a, "meals", "2026-01-01", None).await;
    let r = w
        .batch(
            &w.prov_a,
            vec![
                json!({"external_id": "late", "client": PNR_A, "service_type": "personal_care", "status": "cancelled_late",
                       "planned_start": "2026-03-05 08:00", "planned_end": "2026-03-05 08:45", "cancelled_at": "2026-03-04 20:00"}),
                json!({"external_id": "missed", "client": PNR_A, "service_type": "personal_care", "status": "missed",
                       "planned_start": "2026-03-06 08:00", "planned_end": "2026-03-06 08:45"}),
                json!({"external_id": "meal", "client": PNR_B, "service_type": "meals", "status": "performed",
                       "actual_start": "2026-03-05 11:30", "actual_end": "2026-03-05 11:30", "staff_ref": "M1", "quantity": 2}),
                json!({"external_id": "bad-late", "client": PNR_A, "service_type": "personal_care", "status": "cancelled_late",
                       "planned_start": "2026-03-07 08:00", "planned_end": "2026-03-07 08:45", "actual_start": "2026-03-07 08:00",
                       "actual_end": "2026-03-07 08:30"}),
            ],
        )
        .await;
    assert_eq!(counts(&r), (3, 0, 0, 1), "{r}");
    let (_, late) = w.app.get("/api/v1/visits/late", &w.prov_a).await;
    assert_eq!((late["minutes"].as_i64(), late["cancelled_at"].as_str()), (Some(45), Some("2026-03-04T19:00:00Z")));
    assert_eq!(late["start_at"], "2026-03-05T07:00:00Z", "a cancelled visit is timed by its planned times");
    let (_, meal) = w.app.get("/api/v1/visits/meal", &w.prov_a).await;
    assert_eq!((meal["quantity"].as_i64(), meal["minutes"].as_i64()), (Some(2), Some(0)));
}

/// A provider's CSV file of `days` days of morning visits to `clients`
/// in March, the morning visit of `changed` (if any) ending five minutes later.
fn month_file(prefix: &str, clients: &[(&str, u32)], days: std::ops::RangeInclusive<u32>, changed: Option<u32>) -> String {
    let mut csv = String::from("external_id,client,service_type,status,actual_start,actual_end,staff_ref\n");
    for day in days {
        for (k, (pnr, hour)) in clients.iter().enumerate() {
            let end = if changed == Some(day) && k == 0 { 35 } else { 30 };
            csv.push_str(&format!(
                "{prefix}-{day}-{k},{pnr},personal_care,performed,2026-03-{day:02} {hour:02}:00,2026-03-{day:02} {hour:02}:{end},S{k}\n"
            ));
        }
    }
    csv
}

/// The server runs on tokio's multi-thread runtime, where an import's rows
/// are written on SQLite's own handle from a worker the runtime is told is
/// blocked; the other tests run on one thread. Two providers import at the
/// same time, again unchanged, then with one row corrected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_at_the_same_time_on_the_servers_runtime_are_idempotent() {
    let w = world().await;
    let file_a = month_file("a", &[(PNR_A, 8), (PNR_B, 9)], 1..=15, None);
    let file_b = month_file("b", &[(PNR_C, 10), (PNR_A, 11)], 16..=31, None);
    let both = |a: String, b: String| {
        let w = &w;
        async move { tokio::join!(w.csv(&w.prov_a, "", &a), w.csv(&w.prov_b, "", &b)) }
    };
    let ((sa, ra), (sb, rb)) = both(file_a.clone(), file_b.clone()).await;
    assert_eq!((sa, sb), (StatusCode::OK, StatusCode::OK), "{ra} {rb}");
    assert_eq!(counts(&ra), (30, 0, 0, 0), "{ra}");
    assert_eq!(counts(&rb), (32, 0, 0, 0), "{rb}");

    let ((_, ra), (_, rb)) = both(file_a.clone(), file_b).await;
    assert_eq!((counts(&ra), counts(&rb)), ((0, 0, 30, 0), (0, 0, 32, 0)));

    // One provider's two uploads at once are taken one after the other:
    // the second sees what the first stored.
    let novel = month_file("n", &[(PNR_A, 13), (PNR_B, 14)], 1..=10, None);
    let (first, second) = tokio::join!(w.csv(&w.prov_a, "", &novel), w.csv(&w.prov_a, "", &novel));
    let mut reports = [counts(&first.1), counts(&second.1)];
    reports.sort();
    assert_eq!(reports, [(0, 0, 20, 0), (20, 0, 0, 0)], "{} {}", first.1, second.1);

    let corrected = month_file("a", &[(PNR_A, 8), (PNR_B, 9)], 1..=15, Some(3));
    let (s, r) = w.csv(&w.prov_a, "", &corrected).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(counts(&r), (0, 1, 29, 0), "{r}");
    let mut stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT external_id, minutes FROM visits WHERE external_id = 'a-3-0' OR external_id = 'b-16-0'")
            .fetch_all(&w.app.state.db.pool)
            .await
            .unwrap();
    stored.sort();
    assert_eq!(stored, [("a-3-0".to_string(), 35), ("b-16-0".to_string(), 30)]);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM visits").fetch_one(&w.app.state.db.pool).await.unwrap();
    assert_eq!(n, 82);
}

#[tokio::test]
async fn a_quote_that_runs_over_lines_is_reported_with_the_lines_it_swallowed() {
    let w = world().await;
    let csv = "external_id,client,service_type,status,actual_start,actual_end,staff_ref\n\
               q1,19121212-1212,personal_care,performed,2026-03-02 08:00,2026-03-02 08:30,S1\n\
               q2,19121212-1212,personal_care,performed,2026-03-02 09:00,2026-03-02 09:30,\"S1\n\
               q3,19121212-1212,personal_care,performed,2026-03-02 10:00,2026-03-02 10:30,S1\n\
               q4,19121212-1212,personal_care,performed,2026-03-02 11:00,2026-03-02 11:30,S1\n";
    let (s, r) = w.csv(&w.prov_a, "", csv).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(counts(&r), (1, 0, 0, 1), "{r}");
    assert_eq!(rejections(&r), [(3, "line".into(), "quote_spans_lines".into())]);
    let reason = r["rejections"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("lines 3–5"), "the report names every line the quote took: {reason}");
}

#[tokio::test]
async fn a_nul_or_a_huge_field_is_rejected_with_its_name_and_echoed_printably() {
    let w = world().await;
    let mut bad = v("n2", PNR_A, "2026-03-02", "10:00", "10:30", "S1");
    bad["staff_ref"] = json!("S\u{0}1");
    let (s, p) = w
        .app
        .post("/api/v1/visits/batch", &w.prov_a, json!({ "visits": [v("n1", PNR_A, "2026-03-02", "08:00", "08:30", "S1"), bad] }))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(
        (p["errors"][0]["field"].as_str(), p["errors"][0]["code"].as_str()),
        (Some("visits[1].staff_ref"), Some("invalid_character"))
    );
    let (s, p) =
        w.app.post("/api/v1/providers", &w.admin, json!({"name": "Omsorg\u{0}", "org_nr": "556036-0793", "ownership": "private"})).await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")), "{p}");

    // In a CSV file the row is rejected, and what the report echoes of it
    // is printable and short, on both databases.
    let long = "x".repeat(5000);
    let csv = format!(
        "external_id,client,service_type,status,actual_start,actual_end,staff_ref\n\
         n3\u{0},19121212-1212,personal_care,performed,2026-03-02 08:00,2026-03-02 08:30,S1\n\
         {long},19121212-1212,personal_care,performed,2026-03-02 09:00,2026-03-02 09:30,S1\n\
         n5,19121212-1212,personal_care,performed,2026-03-02 10:00,2026-03-02 10:30\u{0},S1\n\
         n6,19121212-1212,personal_care,performed,2026-03-02 11:00,2026-03-02 11:30,S1\n"
    );
    let (s, r) = w.csv(&w.prov_a, "?file_name=mars%00.csv", &csv).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(counts(&r), (1, 0, 0, 3), "{r}");
    assert_eq!(r["file_name"], "mars\\0.csv");
    let echoed: Vec<&str> = r["rejections"].as_array().unwrap().iter().map(|x| x["external_id"].as_str().unwrap()).collect();
    assert_eq!(echoed[0], "n3\\0");
    assert_eq!(echoed[1].chars().count(), 101, "cut at 100 characters and marked");
    assert!(r["rejections"].as_array().unwrap().iter().all(|x| !x["reason"].as_str().unwrap().contains('\0')), "{r}");
    let (s, again) = w.app.get(&format!("/api/v1/visits/imports/{}", r["import_id"].as_str().unwrap()), &w.prov_a).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rejections(&again), rejections(&r));
}

/// One generated CSV row: its fields as bytes, and whether it must be
/// rejected whatever else it holds (a field that is not UTF-8, or a field
/// too many or too few).
#[derive(Debug, Clone)]
struct GenRow {
    fields: Vec<Vec<u8>>,
    must_reject: bool,
}

fn gen_rows() -> impl proptest::strategy::Strategy<Value = (u8, bool, Vec<GenRow>)> {
    use proptest::prelude::*;
    let time =
        || (1u32..=9, 0u32..24, prop::sample::select(vec![0u32, 15, 30, 45])).prop_map(|(d, h, m)| format!("2026-03-0{d} {h:02}:{m:02}"));
    let nasty = prop_oneof![
        Just(String::new()),
        "\\PC{0,12}",
        "[ -~]{0,24}",
        "[\\s\"';,]{0,4}",
        "x{65,80}",
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("2026-02-30 08:00".to_string()),
        Just("2026-03-29 02:30".to_string()),
        Just("2026-10-25 02:30".to_string()),
        Just("2026-03-02 08:00+02:00".to_string()),
        Just("19121212-1213".to_string()),
        Just("a\u{0}b".to_string()),
        Just("=HYPERLINK(\"x\")".to_string()),
        Just("multi\nline".to_string()),
    ];
    let valid = (
        prop::sample::select(vec!["", "", ORG_A, ORG_A, ORG_B]),
        0u32..8,
        prop::sample::select(vec![PNR_A, PNR_B, PNR_A, PNR_B, "19350505-5552"]),
        prop::sample::select(vec!["personal_care", "personal_care", "personal_care", "meals"]),
        prop::sample::select(vec!["performed", "performed", "cancelled_late", "cancelled_in_time", "missed"]),
        time(),
        10i64..90,
        -5i64..6,
        prop::sample::select(vec!["S1", "S2", "S3"]),
        prop::sample::select(vec!["", "1", "2"]),
        prop::sample::select(vec!["", "2"]),
    )
        .prop_map(|(provider, ext, client, service, status, start, len, skew, staff, count, quantity)| {
            let at = |s: &str, plus: i64| {
                let t: jiff::civil::DateTime = format!("{s}:00").replace(' ', "T").parse().unwrap();
                t.checked_add(jiff::Span::new().minutes(plus)).unwrap().strftime("%Y-%m-%d %H:%M").to_string()
            };
            let performed = status == "performed";
            vec![
                provider.to_string(),
                format!("e{ext}"),
                client.to_string(),
                service.to_string(),
                status.to_string(),
                start.clone(),
                at(&start, len),
                if performed { at(&start, skew) } else { String::new() },
                if performed { at(&start, len + skew) } else { String::new() },
                if status.starts_with("cancelled") { at(&start, -60 * 30) } else { String::new() },
                staff.to_string(),
                count.to_string(),
                if service == "meals" { quantity.to_string() } else { String::new() },
            ]
        });
    let row = (valid, prop_oneof![3 => Just(vec![]), 2 => prop::collection::vec((0usize..13, nasty), 1..3)], 0u8..20, 0usize..13).prop_map(
        |(mut fields, bad, shape, at)| {
            for (i, v) in bad {
                fields[i] = v;
            }
            let mut fields: Vec<Vec<u8>> = fields.into_iter().map(String::into_bytes).collect();
            let must_reject = match shape {
                0 => {
                    fields.pop();
                    true
                }
                1 => {
                    fields.push(b"extra".to_vec());
                    true
                }
                2 => {
                    fields[at] = vec![b'S', 0xff, 0xfe];
                    true
                }
                _ => false,
            };
            // No field of a visit holds a line break: such a row is reported
            // as one, with the lines it spans.
            let must_reject = must_reject || fields.iter().any(|f| f.contains(&b'\n'));
            GenRow { fields, must_reject }
        },
    );
    (prop::sample::select(vec![b',', b';']), any::<bool>(), prop::collection::vec(row, 1..10))
}

/// Whatever a provider's file holds, the answer accounts for every row:
/// accepted or rejected with its own line, never a server error, and the
/// same file again changes nothing ("bad input gets a clear error and
/// loses nothing"). Generated files: valid rows with fields replaced by
/// odd text (quotes, delimiters, line breaks, control characters, long,
/// impossible or ambiguous times, other providers), rows with a field
/// too many or too few, and fields that are not UTF-8. The rows JSON can
/// carry are then sent as a batch too, and must get the same verdicts.
#[tokio::test]
async fn any_csv_file_is_answered_row_by_row_and_a_second_upload_changes_nothing() {
    use proptest::strategy::{Strategy, ValueTree};
    let w = world().await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = gen_rows();
    let visits = || async { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM visits").fetch_one(&w.app.state.db.pool).await.unwrap() };
    let mut codes_seen = std::collections::BTreeSet::new();
    for case in 0..64 {
        let (delimiter, all_or_nothing, rows) = strategy.new_tree(&mut runner).unwrap().current();
        let mut body = Vec::new();
        let mut starts = Vec::new();
        {
            let mut out = csv::WriterBuilder::new().delimiter(delimiter).flexible(true).from_writer(&mut body);
            out.write_record(valfri::visits::COLUMNS).unwrap();
            out.flush().unwrap();
            for r in &rows {
                starts.push(out.get_ref().iter().filter(|b| **b == b'\n').count() as u64 + 1);
                out.write_record(&r.fields).unwrap();
                out.flush().unwrap();
            }
        }
        let shown = String::from_utf8_lossy(&body).to_string();
        let query = if all_or_nothing { "?all_or_nothing=true" } else { "" };
        let before = visits().await;
        let (s, first) = w.csv(&w.prov_a, query, &body).await;
        assert_eq!(s, StatusCode::OK, "case {case}: {first}\n{shown}");
        let n = rows.len() as u64;
        let (new, replaced, unchanged, rejected) = counts(&first);
        assert_eq!(first["rows"], n, "case {case}: every row is read\n{first}\n{shown}");
        let rejected_first = rejections(&first);
        let lines: std::collections::BTreeSet<u64> = rejected_first.iter().map(|x| x.0).collect();
        codes_seen.extend(rejected_first.iter().map(|x| x.2.clone()));
        assert_eq!(lines.len() as u64, rejected, "case {case}: each rejected row has its own line\n{first}\n{shown}");
        assert!(
            lines.iter().all(|l| starts.contains(l)),
            "case {case}: rejections name the lines rows start on {starts:?}\n{first}\n{shown}"
        );
        for (r, line) in rows.iter().zip(&starts) {
            assert!(!r.must_reject || lines.contains(line), "case {case}: line {line} must be rejected\n{first}\n{shown}");
        }
        if all_or_nothing && rejected > 0 {
            assert_eq!((first["stored"].as_bool(), new + replaced + unchanged), (Some(false), 0), "case {case}: {first}");
            assert_eq!(visits().await, before, "case {case}: an all-or-nothing import with a bad row stores nothing");
        } else {
            assert_eq!(new + replaced + unchanged + rejected, n, "case {case}: accepted and rejected add up\n{first}\n{shown}");
            assert_eq!(visits().await, before + new as i64, "case {case}: new rows are stored, replaced ones replaced");
            let (s, second) = w.csv(&w.prov_a, query, &body).await;
            assert_eq!(s, StatusCode::OK, "case {case}: {second}");
            assert_eq!(
                counts(&second),
                (0, 0, new + replaced + unchanged, rejected),
                "case {case}: the same file again\n{second}\n{shown}"
            );
            assert_eq!(rejections(&second), rejected_first, "case {case}");
        }

        // The rows JSON can carry as a batch: each gets the same verdict
        // as in the file.
        let (picked, batch): (Vec<usize>, Vec<Value>) = rows.iter().enumerate().filter_map(|(i, r)| Some((i, as_json(r)?))).unzip();
        if batch.is_empty() {
            continue;
        }
        let (s, r) = w.app.post("/api/v1/visits/batch", &w.prov_a, json!({ "visits": batch })).await;
        assert_eq!(s, StatusCode::OK, "case {case}: {r}\n{shown}");
        let verdicts = |report: &Value, line_of: &dyn Fn(usize) -> u64| -> Vec<Vec<(String, String)>> {
            let all = rejections(report);
            (0..picked.len()).map(|j| all.iter().filter(|x| x.0 == line_of(j)).map(|x| (x.1.clone(), x.2.clone())).collect()).collect()
        };
        assert_eq!(
            verdicts(&r, &|j| j as u64 + 1),
            verdicts(&first, &|j| starts[picked[j]]),
            "case {case}: the batch and the file agree row by row\n{r}\n{first}\n{shown}"
        );
    }
    // The upload page names each rejection in the user's language.
    let i18n = valfri::web::i18n::I18n::load().unwrap();
    for lang in [valfri::web::i18n::Lang::Sv, valfri::web::i18n::Lang::En, valfri::web::i18n::Lang::Nb] {
        let keys = i18n.keys(lang);
        let missing: Vec<_> = codes_seen.iter().filter(|c| !keys.contains(&format!("visits-code-{c}"))).collect();
        assert!(missing.is_empty(), "{} has no message for {missing:?}", lang.code());
    }
}

/// A generated row as a visit of a JSON batch, when JSON can carry the
/// same: text fields, whole numbers as numbers, no line breaks (a CSV
/// record with one is refused as a whole) and no NUL (a batch with one is
/// refused as a whole).
fn as_json(r: &GenRow) -> Option<Value> {
    let f: Vec<&str> = r.fields.iter().map(|b| std::str::from_utf8(b).ok()).collect::<Option<_>>()?;
    if f.len() != 13 || f.iter().any(|x| x.contains(['\n', '\0'])) {
        return None;
    }
    let number = |s: &str| -> Option<Value> {
        let t = s.trim();
        if t.is_empty() {
            return Some(Value::Null);
        }
        t.parse::<i64>().ok().filter(|n| n.to_string() == t).map(Value::from)
    };
    let text = |s: &str| if s.trim().is_empty() { Value::Null } else { json!(s) };
    Some(json!({
        "provider_id": text(f[0]), "external_id": f[1], "client": f[2], "service_type": f[3], "status": f[4],
        "planned_start": text(f[5]), "planned_end": text(f[6]), "actual_start": text(f[7]), "actual_end": text(f[8]),
        "cancelled_at": text(f[9]), "staff_ref": text(f[10]), "staff_count": number(f[11])?, "quantity": number(f[12])?
    }))
}

/// A double click, or two systems sending at once: the same file uploaded
/// four times at the same moment and twice more in the reverse row order,
/// then the month's settlement computed three times at once. Each request
/// gets an answer that is not a server error, and the end state is what one
/// upload and one settlement give.
#[tokio::test]
async fn concurrent_uploads_and_settlements_end_as_one_would() {
    let w = world().await;
    let header = "external_id;client;service_type;status;actual_start;actual_end;staff_ref";
    let rows: Vec<String> = (0..300)
        .map(|k| {
            let (client, day, hour) = ([PNR_A, PNR_B][k % 2], 1 + k % 15, 6 + (k / 15) % 12);
            format!("v{k};{client};personal_care;performed;2026-03-{day:02} {hour:02}:00;2026-03-{day:02} {hour:02}:40;S{}", k % 2)
        })
        .collect();
    let file = format!("{header}\n{}\n", rows.join("\n"));
    let reversed = format!("{header}\n{}\n", rows.iter().rev().cloned().collect::<Vec<_>>().join("\n"));
    let send = |body: String, path: &'static str, content_type: &'static str, token: String| {
        let (http, url) = (w.app.http.clone(), w.app.url.clone());
        async move {
            let res =
                http.post(format!("{url}{path}")).bearer_auth(token).header("content-type", content_type).body(body).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let mut uploads = tokio::task::JoinSet::new();
    for k in 0..6 {
        let body = if k < 4 { file.clone() } else { reversed.clone() };
        uploads.spawn(send(body, "/api/v1/visits/import", "text/csv", w.prov_a.clone()));
    }
    let mut new = 0;
    while let Some(done) = uploads.join_next().await {
        let (status, body) = done.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        let r: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(r["rejected_rows"], 0, "{}", &body[..body.len().min(600)]);
        new += r["new"].as_u64().unwrap();
    }
    assert_eq!(new, 300, "each visit is new in exactly one of the uploads");
    let (_, again) = w.csv(&w.prov_a, "", &file).await;
    assert_eq!(counts(&again), (0, 0, 300, 0), "{again}");

    let mut settles = tokio::task::JoinSet::new();
    for _ in 0..3 {
        settles.spawn(send(json!({"month": "2026-03"}).to_string(), "/api/v1/settlements/compute", "application/json", w.admin.clone()));
    }
    while let Some(done) = settles.join_next().await {
        let (status, body) = done.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, list) = w.app.get("/api/v1/settlements?month=2026-03", &w.admin).await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "one settlement per provider: {list:?}");
    let totals: Vec<(String, i64)> =
        list.iter().map(|s| (s["provider_id"].as_str().unwrap().into(), s["total_ore"].as_i64().unwrap())).collect();
    let (s, once_more) = w.app.post("/api/v1/settlements/compute", &w.admin, json!({"month": "2026-03"})).await;
    assert_eq!(s, StatusCode::OK, "{once_more}");
    let (_, list) = w.app.get("/api/v1/settlements?month=2026-03", &w.admin).await;
    let again: Vec<(String, i64)> =
        list.as_array().unwrap().iter().map(|s| (s["provider_id"].as_str().unwrap().into(), s["total_ore"].as_i64().unwrap())).collect();
    assert_eq!(totals, again);
    assert!(totals.iter().any(|(_, t)| *t > 0), "{totals:?}");
}

/// A body over the 64 MiB limit is refused before any handler: through the
/// API with a problem body like every other error, on the upload page with
/// a page in the user's language that says what to do.
#[tokio::test]
async fn a_file_over_the_size_limit_gets_a_problem_or_a_page() {
    let w = world().await;
    let big = vec![b'x'; 65 << 20];
    let res = w
        .app
        .http
        .post(format!("{}/api/v1/visits/import?provider_id={}", w.app.url, w.a))
        .bearer_auth(&w.admin)
        .header("content-type", "text/csv")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let p: Value = res.json().await.unwrap();
    assert_eq!((p["code"].as_str(), p["detail"].as_str()), (Some("payload_too_large"), Some("a request body is at most 64 MiB")));

    let boundary = "b0undary";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n")
            .into_bytes();
    body.extend(big);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = w
        .app
        .http
        .post(format!("{}/provider/visits/import", w.app.url))
        .bearer_auth(&w.prov_a)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("referer", format!("{}/provider/visits", w.app.url))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"<html lang="sv">"#) && html.contains("Filen är för stor: högst 64 MB tas emot."), "{html}");
    assert!(html.contains(r#"<a href="/provider/visits">Tillbaka till formuläret</a>"#), "{html}");
    assert!(html.contains("Inloggad som <strong>prov_a</strong>"), "the page knows who is signed in: {html}");
    // Its other languages are the form's page in them (the upload's own
    // address takes only posts).
    assert!(html.contains(r#"<a href="/provider/visits?lang=en" hreflang="en""#), "{html}");
}

#[tokio::test]
async fn every_providers_flags_come_in_the_order_of_one_query_over_the_month() {
    let app = spawn_app().await;
    let g = crate::bench_smoke::generated_month(&app, valfri::bench::Spec::small(80, 5)).await;
    let month = g.spec.month.to_string();
    // The reference: the whole month in one query, sorted by provider name and time.
    let all: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT f.provider_id, f.external_id, f.code FROM visit_flags f \
         JOIN visits v ON v.provider_id = f.provider_id AND v.external_id = f.external_id \
         JOIN providers pr ON pr.id = f.provider_id WHERE f.month = $1 \
         ORDER BY pr.name, f.provider_id, v.start_at, f.external_id, f.code",
    )
    .bind(&month)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    let providers: std::collections::BTreeSet<&str> = all.iter().map(|(p, _, _)| p.as_str()).collect();
    assert!(all.len() > 20 && providers.len() > 1, "{} flags of {} providers", all.len(), providers.len());
    app.add_user("boss", Role::Admin, None, None).await;
    let token = app.token("boss").await;
    let codes = |page: &Value| -> Vec<(String, String, String)> {
        page["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let t = |k: &str| f[k].as_str().unwrap().to_string();
                (t("provider_id"), t("external_id"), t("code"))
            })
            .collect()
    };
    // Limits that end inside a provider, at a provider's end, and beyond the month.
    let first_provider = all.iter().take_while(|(p, _, _)| *p == all[0].0).count();
    for limit in [1, 7, first_provider, first_provider + 1, all.len() - 1, all.len() + 5] {
        let (s, page) = app.get(&format!("/api/v1/visits/flags?month={month}&limit={limit}"), &token).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(page["total"].as_u64(), Some(all.len() as u64));
        assert_eq!(codes(&page), all[..limit.min(all.len())], "limit {limit}");
    }
    // Page after page, with offsets that start inside a provider, at a
    // provider's start, and past the end.
    for limit in [7, first_provider] {
        let mut got = Vec::new();
        for offset in (0..all.len() + limit).step_by(limit) {
            let (s, page) = app.get(&format!("/api/v1/visits/flags?month={month}&limit={limit}&offset={offset}"), &token).await;
            assert_eq!((s, page["total"].as_u64(), page["offset"].as_u64()), (StatusCode::OK, Some(all.len() as u64), Some(offset as u64)));
            got.extend(codes(&page));
        }
        assert_eq!(got, all, "limit {limit}");
    }
    for offset in [first_provider - 1, first_provider, first_provider + 3] {
        let (_, page) = app.get(&format!("/api/v1/visits/flags?month={month}&limit=5&offset={offset}"), &token).await;
        assert_eq!(codes(&page), all[offset..(offset + 5).min(all.len())], "offset {offset}");
    }
    let (s, page) = app.get(&format!("/api/v1/visits/flags?month={month}&offset={}", i64::MAX), &token).await;
    assert_eq!((s, page["flags"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{page}");
    let (s, page) = app.get(&format!("/api/v1/visits/flags?month={month}&offset=-1"), &token).await;
    assert_eq!((s, page["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("offset")), "{page}");
}

#[tokio::test]
async fn the_flags_page_shows_every_flag_a_page_at_a_time() {
    let app = spawn_app().await;
    let g = crate::bench_smoke::generated_month(&app, valfri::bench::Spec::small(80, 5)).await;
    let month = g.spec.month.to_string();
    let pool = &app.state.db.pool;
    // More flags than two pages hold: a second code on visits that have none.
    sqlx::query(
        "INSERT INTO visit_flags (provider_id, external_id, code, client_id, month, detail) \
         SELECT v.provider_id, v.external_id, 'client_overlap', v.client_id, v.month, 'test' FROM visits v \
         WHERE v.month = $1 AND NOT EXISTS (SELECT 1 FROM visit_flags f WHERE f.provider_id = v.provider_id AND f.external_id = v.external_id) \
         ORDER BY v.provider_id, v.external_id LIMIT 1100",
    )
    .bind(&month)
    .execute(pool)
    .await
    .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM visit_flags WHERE month = $1").bind(&month).fetch_one(pool).await.unwrap();
    assert!(total > 1100, "{total}");
    app.add_user("boss", Role::Admin, None, None).await;
    let token = app.token("boss").await;
    let page = |query: String| {
        let (app, token, month) = (&app, &token, &month);
        async move {
            let res = app.http.get(format!("{}/admin/visits/flags?month={month}{query}", app.url)).bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.text().await.unwrap()
        }
    };
    let rows = |html: &str| html.split("<tbody>").nth(1).map_or(0, |b| b.split("</tbody>").next().unwrap().matches("<tr>").count());
    let n = valfri::web::pager::thousands(total.unsigned_abs());
    let last_page = (total + 499) / 500;
    let first = page(String::new()).await;
    assert_eq!(rows(&first), 500);
    assert!(first.contains(&format!("Flagga 1–500 av {n}.")), "{first}");
    assert!(first.contains(&format!("href=\"/admin/visits/flags?month={month}&#38;page=2#flags-table\">Nästa 500 flaggor</a>")), "{first}");
    assert!(!first.contains("Föregående 500 flaggor"));
    // The second page is the API's flags 501–1 000, in the same order.
    let second = page("&page=2".into()).await;
    assert_eq!(rows(&second), 500);
    assert!(second.contains(&format!("Flagga 501–1{}000 av {n}.", '\u{202f}')) && second.contains("Föregående 500 flaggor"), "{second}");
    let (_, api) = app.get(&format!("/api/v1/visits/flags?month={month}&offset=500&limit=500"), &token).await;
    let ids: Vec<&str> = api["flags"].as_array().unwrap().iter().map(|f| f["external_id"].as_str().unwrap()).collect();
    let body = second.split("<tbody>").nth(1).unwrap();
    let mut at = 0;
    for id in &ids {
        at += body[at..].find(&format!("<td>{id}</td>")).unwrap_or_else(|| panic!("{id} in order on the second page"));
    }
    // A page beyond the last is the last; one that is not a number, the first.
    let last = page("&page=999".into()).await;
    assert_eq!(rows(&last) as i64, total - (last_page - 1) * 500);
    assert!(last.contains(&format!("av {n}.")) && !last.contains("Nästa 500 flaggor"), "{last}");
    assert_eq!(rows(&page("&page=abc".into()).await), 500);
    assert_eq!(rows(&page(format!("&page={}", i64::MAX)).await), rows(&last));
    // English and Norwegian say the same.
    let en = page("&page=2&lang=en".into()).await;
    assert!(
        en.contains(&format!("Flags 501–1{}000 of {n}.", '\u{202f}')) && en.contains("Next 500 flags") && en.contains("Previous 500 flags")
    );
    let nb = page("&page=2&lang=nb".into()).await;
    assert!(
        nb.contains(&format!("Flagg 501–1{}000 av {n}.", '\u{202f}')) && nb.contains("Neste 500 flagg") && nb.contains("Forrige 500 flagg")
    );
    // One provider, chosen by the admin: the links keep the choice.
    let (provider, own): (String, i64) = sqlx::query_as(
        "SELECT provider_id, COUNT(*) FROM visit_flags WHERE month = $1 GROUP BY provider_id ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .bind(&month)
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(own > 500, "{own}");
    let one = page(format!("&provider={provider}")).await;
    assert!(one.contains(&format!("href=\"/admin/visits/flags?month={month}&#38;provider={provider}&#38;page=2#flags-table\"")), "{one}");
    // The provider's own page: its flags only, and links to its own address.
    app.add_user("own", Role::Provider, Some(&provider), None).await;
    let own_token = app.token("own").await;
    let res = app.http.get(format!("{}/provider/visits/flags?month={month}&page=2", app.url)).bearer_auth(&own_token).send().await.unwrap();
    let html = res.text().await.unwrap();
    let own_n = valfri::web::pager::thousands(own.unsigned_abs());
    assert!(html.contains("Flagga 501–") && html.contains(&format!(" av {own_n}.")), "{html}");
    assert!(html.contains(&format!("href=\"/provider/visits/flags?month={month}&#38;page=1#flags-table\"")), "{html}");
}

#[tokio::test]
async fn a_providers_visits_come_a_page_at_a_time_by_start_time_with_their_flags() {
    let app = spawn_app().await;
    let g = crate::bench_smoke::generated_month(&app, valfri::bench::Spec::small(60, 2)).await;
    let month = g.spec.month.to_string();
    let pool = &app.state.db.pool;
    let (provider,): (String,) =
        sqlx::query_as("SELECT provider_id FROM visits WHERE month = $1 GROUP BY provider_id ORDER BY COUNT(*) DESC LIMIT 1")
            .bind(&month)
            .fetch_one(pool)
            .await
            .unwrap();
    // The reference: the month's visits by start time, and every flag of the provider.
    let (first, last) = (format!("{month}-01"), format!("{month}-30"));
    let want: Vec<(String,)> = sqlx::query_as(
        "SELECT external_id FROM visits WHERE provider_id = $1 AND local_date >= $2 AND local_date <= $3 ORDER BY start_at, external_id",
    )
    .bind(&provider)
    .bind(&first)
    .bind(&last)
    .fetch_all(pool)
    .await
    .unwrap();
    let flags: Vec<(String, String)> =
        sqlx::query_as("SELECT external_id, code FROM visit_flags WHERE provider_id = $1 ORDER BY external_id, code")
            .bind(&provider)
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(want.len() > 600 && !flags.is_empty(), "{} visits, {} flags", want.len(), flags.len());
    app.add_user("boss", Role::Admin, None, None).await;
    let token = app.token("boss").await;
    let mut got = Vec::new();
    let mut got_flags = Vec::new();
    for offset in (0..want.len() + 1).step_by(250) {
        let (s, page) = app.get(&format!("/api/v1/visits?month={month}&provider_id={provider}&limit=250&offset={offset}"), &token).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(page["total"].as_u64(), Some(want.len() as u64));
        for v in page["visits"].as_array().unwrap() {
            let ext = v["external_id"].as_str().unwrap().to_string();
            for f in v["flags"].as_array().unwrap() {
                got_flags.push((ext.clone(), f["code"].as_str().unwrap().to_string()));
            }
            got.push((ext,));
        }
    }
    assert_eq!(got, want);
    let all_ids: Vec<String> = want.iter().map(|(e,)| e.clone()).collect();
    got_flags.sort();
    // April has 30 days: every flag of the provider is on a visit of the month.
    assert_eq!(got_flags, flags);
    // Only the flagged ones: the same order, the visits without a flag left out.
    let flagged: std::collections::HashSet<&str> = flags.iter().map(|(e, _)| e.as_str()).collect();
    let want: Vec<&str> = want.iter().map(|(e,)| e.as_str()).filter(|e| flagged.contains(e)).collect();
    let mut got = Vec::new();
    for offset in (0..want.len() + 1).step_by(7) {
        let url = format!("/api/v1/visits?month={month}&provider_id={provider}&flagged=true&limit=7&offset={offset}");
        let (s, page) = app.get(&url, &token).await;
        assert_eq!((s, page["total"].as_u64()), (StatusCode::OK, Some(want.len() as u64)), "{page}");
        got.extend(page["visits"].as_array().unwrap().iter().map(|v| v["external_id"].as_str().unwrap().to_string()));
    }
    assert_eq!(got, want);

    // After a visit instead of an offset: the same pages, in full and flagged only.
    for (flagged, want) in [("false", all_ids.clone()), ("true", want.iter().map(|e| e.to_string()).collect())] {
        let mut got: Vec<String> = Vec::new();
        let mut after = String::new();
        loop {
            let url = format!("/api/v1/visits?month={month}&provider_id={provider}&flagged={flagged}&limit=97&after={after}");
            let (s, page) = app.get(&url, &token).await;
            assert_eq!((s, page["total"].as_u64()), (StatusCode::OK, Some(want.len() as u64)), "{page}");
            got.extend(page["visits"].as_array().unwrap().iter().map(|v| v["external_id"].as_str().unwrap().to_string()));
            match page["next_after"].as_str() {
                Some(next) => {
                    assert_eq!(Some(next), got.last().map(String::as_str));
                    after = next.to_string();
                }
                None => break,
            }
        }
        assert_eq!(got, want, "flagged {flagged}");
    }
    // The last page says there is nothing after it, also when it is full.
    let (_, page) = app.get(&format!("/api/v1/visits?month={month}&provider_id={provider}&limit={}", all_ids.len()), &token).await;
    assert_eq!((page["visits"].as_array().unwrap().len(), page["next_after"].is_null()), (all_ids.len(), true));
    let (_, page) = app.get(&format!("/api/v1/visits?month={month}&provider_id={provider}&limit={}", all_ids.len() - 1), &token).await;
    assert_eq!(page["next_after"].as_str(), Some(all_ids[all_ids.len() - 2].as_str()));
    // Past the end: nothing, and nothing after it.
    let (s, page) = app.get(&format!("/api/v1/visits?month={month}&provider_id={provider}&offset={}", i64::MAX), &token).await;
    assert_eq!((s, page["visits"].as_array().map(Vec::len), page["next_after"].is_null()), (StatusCode::OK, Some(0), true), "{page}");
    // A visit the provider does not have, both ways at once, or a negative offset.
    for (query, field) in [("after=nope", "after"), (&format!("after={}&offset=5", all_ids[0]), "after"), ("offset=-1", "offset")] {
        let (s, p) = app.get(&format!("/api/v1/visits?month={month}&provider_id={provider}&{query}"), &token).await;
        assert_eq!((s, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{query}: {p}");
    }
}

#[tokio::test]
async fn the_month_page_shows_the_visits_a_page_at_a_time() {
    let app = spawn_app().await;
    let g = crate::bench_smoke::generated_month(&app, valfri::bench::Spec::small(60, 2)).await;
    let month = g.spec.month.to_string();
    let pool = &app.state.db.pool;
    let (provider, total): (String, i64) =
        sqlx::query_as("SELECT provider_id, COUNT(*) FROM visits WHERE month = $1 GROUP BY provider_id ORDER BY COUNT(*) DESC LIMIT 1")
            .bind(&month)
            .fetch_one(pool)
            .await
            .unwrap();
    let ids: Vec<(String,)> =
        sqlx::query_as("SELECT external_id FROM visits WHERE provider_id = $1 AND month = $2 ORDER BY local_date, start_at, external_id")
            .bind(&provider)
            .bind(&month)
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(total > 600, "{total} visits: four pages or more");
    app.add_user("boss", Role::Admin, None, None).await;
    let token = app.token("boss").await;
    let page = |query: String| {
        let (app, token, month, provider) = (&app, &token, &month, &provider);
        async move {
            let url = format!("{}/provider/visits?month={month}&provider={provider}{query}", app.url);
            let res = app.http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.text().await.unwrap()
        }
    };
    let table = |html: &str| -> String {
        let t = html.split("id=\"visits-table\"").nth(1).expect("the visits table");
        t.split("<tbody>").nth(1).unwrap().split("</tbody>").next().unwrap().to_string()
    };
    let rows = |html: &str| table(html).matches("<tr>").count();
    let n = valfri::web::pager::thousands(total.unsigned_abs());
    let link = |p: i64| format!("href=\"/provider/visits?month={month}&#38;provider={provider}&#38;page={p}#visits-table\"");
    let first = page(String::new()).await;
    assert_eq!(rows(&first), 200);
    assert!(first.contains(&format!("Besök 1–200 av {n}.")) && first.contains(&format!("{n} besök, i tidsordning")), "{first}");
    assert!(first.contains(&format!("{}>Nästa 200 besök</a>", link(2))) && !first.contains("Föregående 200 besök"), "{first}");
    // The second page is the month's visits 201–400 in time order.
    let second = page("&page=2".into()).await;
    assert!(second.contains("Besök 201–400 av") && second.contains(&format!("{}>Föregående 200 besök</a>", link(1))));
    let body = table(&second);
    assert!(body.contains(&format!("<td>{}</td>", ids[200].0)) && body.contains(&format!("<td>{}</td>", ids[399].0)));
    assert!(!body.contains(&format!("<td>{}</td>", ids[199].0)));
    // A page beyond the last is the last; one that is not a number, the first.
    let last = page("&page=999".into()).await;
    assert_eq!(rows(&last) as i64, total - (total - 1) / 200 * 200);
    assert!(last.contains(&format!("<td>{}</td>", ids[ids.len() - 1].0)) && !last.contains("Nästa 200 besök"));
    assert_eq!(rows(&page("&page=zwei".into()).await), 200);
    assert_eq!(rows(&page(format!("&page={}", i64::MAX)).await), rows(&last));
    // The flagged ones only: the links keep the choice.
    let flagged_n: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT f.external_id) FROM visit_flags f JOIN visits v ON v.provider_id = f.provider_id AND v.external_id = f.external_id \
         WHERE f.provider_id = $1 AND v.month = $2",
    )
    .bind(&provider)
    .bind(&month)
    .fetch_one(pool)
    .await
    .unwrap();
    let flagged = page("&flagged=1".into()).await;
    assert_eq!(rows(&flagged) as i64, flagged_n.min(200));
    assert_eq!(flagged.contains("&#38;flagged=1&#38;page=2#visits-table"), flagged_n > 200, "{flagged_n}: {flagged}");
    // English and Norwegian say the same.
    let en = page("&page=2&lang=en".into()).await;
    assert!(en.contains("Visits 201–400 of") && en.contains("Next 200 visits") && en.contains("Previous 200 visits"));
    let nb = page("&page=2&lang=nb".into()).await;
    assert!(nb.contains("Besøk 201–400 av") && nb.contains("Neste 200 besøk") && nb.contains("Forrige 200 besøk"));
}
