//! Providers register and apply, the municipality reviews and decides, the
//! contract moves through its status machine, and eligibility names the
//! rule that keeps a provider from taking a new client.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use valfri::auth::Role;

pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n";
pub const ORG_MUNI: &str = "212000-2411";

/// Conditions with three requirements from 2026-02-01 (on top of `small_setup`).
pub fn conditions_v2() -> Value {
    let mut setup = small_setup();
    setup["choice_systems"][0]["conditions"].as_array_mut().unwrap().push(json!({
        "valid_from": "2026-02-01",
        "capacity_change_day": 15,
        "requirements": [
            {"code": "insurance", "text": "Ansvarsförsäkring"},
            {"code": "staff", "text": "Personalens kompetens"},
            {"code": "continuity", "text": "Kontinuitet för brukaren"}
        ]
    }));
    setup
}

pub struct World {
    pub app: TestApp,
    pub admin: String,
    /// Provider A, self-registered, with its token.
    pub a: String,
    pub a_token: String,
    pub b: String,
    pub b_token: String,
}

pub async fn register(app: &TestApp, name: &str, org_nr: &str, username: &str) -> (String, String) {
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/provider-registrations",
            None,
            Some(json!({
                "provider": {"name": name, "org_nr": org_nr, "ownership": "private", "owner_name": "Ägare AB",
                    "languages": ["sv", "fi"], "specialities": ["dementia"], "email": "info@example.se"},
                "username": username, "display_name": name, "password": PASSWORD
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["provider"]["id"].as_str().unwrap().to_string();
    (id, app.token(username).await)
}

pub async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let (s, b) = app.call(Method::PUT, "/api/v1/setup", Some(&admin), Some(conditions_v2())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (a, a_token) = register(&app, "Omsorg A AB", ORG_A, "prov_a").await;
    let (b, b_token) = register(&app, "Omsorg B AB", ORG_B, "prov_b").await;
    World { app, admin, a, a_token, b, b_token }
}

pub fn application(services: &[&str], areas: &[&str]) -> Value {
    json!({
        "choice_system_id": "hemtjanst",
        "services": services,
        "areas": areas,
        "answers": [
            {"requirement_code": "insurance", "answer": "Vi har ansvarsförsäkring hos Försäkrings AB."},
            {"requirement_code": "staff", "answer": "All personal är undersköterskor."},
            {"requirement_code": "continuity", "answer": "Fasta team om högst fem personer."}
        ]
    })
}

pub async fn apply(app: &TestApp, token: &str, services: &[&str], areas: &[&str]) -> String {
    let (s, b) = app.post("/api/v1/contracts", token, application(services, areas)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["status"], "applied");
    b["id"].as_str().unwrap().to_string()
}

/// A multipart body by hand (reqwest's multipart feature is not enabled).
pub async fn upload(app: &TestApp, token: &str, contract: &str, code: &str, name: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let boundary = "valfri-test-boundary-7d1";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"requirement_code\"\r\n\r\n{code}\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = app
        .http
        .post(format!("{}/api/v1/contracts/{contract}/evidence", app.url))
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = res.text().await.unwrap();
    if status.is_client_error() {
        assert!(ct.starts_with("application/problem+json"), "{status} {ct} {text}");
    }
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub async fn to(app: &TestApp, token: &str, contract: &str, status: &str, reason: &str) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/contracts/{contract}/transitions"), token, json!({"to": status, "reason": reason})).await
}

pub async fn verdict_all(app: &TestApp, admin: &str, contract: &str) {
    for code in ["insurance", "staff", "continuity"] {
        let (s, b) = app
            .call(
                Method::PUT,
                &format!("/api/v1/contracts/{contract}/answers/{code}/verdict"),
                Some(admin),
                Some(json!({"verdict": "met"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
}

/// Review, approve (with `terms` merged into the defaults) and activate.
pub async fn approve_and_activate(app: &TestApp, admin: &str, contract: &str, terms: Value) {
    let (s, b) = to(app, admin, contract, "under_review", "").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    verdict_all(app, admin, contract).await;
    let mut body = json!({"start_date": "2026-03-01", "reason": "Alla krav uppfyllda."});
    for (k, v) in terms.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, b) = app.post(&format!("/api/v1/contracts/{contract}/approve"), admin, body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = to(app, admin, contract, "active", "Avtalet undertecknat.").await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

pub async fn eligible(app: &TestApp, token: &str, provider: &str, service: &str, area: &str) -> Value {
    let (s, b) = app.get(&format!("/api/v1/eligibility?provider_id={provider}&service_type={service}&area_code={area}"), token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

pub async fn rule(app: &TestApp, token: &str, provider: &str, service: &str, area: &str) -> String {
    let b = eligible(app, token, provider, service, area).await;
    if b["eligible"] == true {
        "eligible".into()
    } else {
        b["rule"].as_str().unwrap().to_string()
    }
}

pub async fn municipal_provider(app: &TestApp, admin: &str) -> String {
    let (s, b) =
        app.post("/api/v1/providers", admin, json!({"name": "Kommunens hemtjänst", "org_nr": ORG_MUNI, "ownership": "municipal"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_provider_registers_itself_with_a_user() {
    let app = spawn_app().await;
    let admin = app.with_setup().await;
    let (id, token) = register(&app, "Omsorg A AB", ORG_A, "prov_a").await;
    let (s, me) = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["role"], "provider");
    assert_eq!(me["provider_id"], id.as_str());
    let (_, p) = app.call(Method::GET, &format!("/api/v1/providers/{id}"), None, None).await;
    assert_eq!(p["languages"], json!(["sv", "fi"]));
    assert_eq!(p["vat_compensation"], true);

    // Every bad field at once; nothing is created.
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/provider-registrations",
            None,
            Some(json!({"provider": {"name": "", "org_nr": "556677-8898", "ownership": "municipal"},
                "username": "has space", "display_name": "X", "password": "short"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for f in ["provider.name", "provider.org_nr", "provider.ownership", "username", "password", "provider.email"] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
    // A taken username rolls the provider back too.
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/provider-registrations",
            None,
            Some(json!({"provider": {"name": "Omsorg B AB", "org_nr": ORG_B, "ownership": "private", "phone": "063-12 34 56"},
                "username": "prov_a", "display_name": "B", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["code"], "username_taken");
    let (_, list) = app.get("/api/v1/providers", &admin).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // The same organisation number twice is a conflict.
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/provider-registrations",
            None,
            Some(json!({"provider": {"name": "Kopia AB", "org_nr": ORG_A, "ownership": "private", "phone": "1"},
                "username": "kopia", "display_name": "K", "password": PASSWORD})),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("provider_exists")));
}

#[tokio::test]
async fn an_application_answers_every_requirement_of_the_conditions_in_force() {
    let w = world().await;
    let mut bad = application(&["personal_care", "night_patrol"], &[]);
    bad["answers"].as_array_mut().unwrap().remove(1);
    bad["answers"].as_array_mut().unwrap().push(json!({"requirement_code": "made_up", "answer": "x"}));
    bad["capacity"] = json!({"unit": "hours"});
    let (s, b) = w.app.post("/api/v1/contracts", &w.a_token, bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let codes: Vec<(String, String)> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_string(), e["code"].as_str().unwrap().to_string()))
        .collect();
    for expected in [
        ("services[1]", "not_in_choice_system"),
        ("areas", "required"),
        ("capacity.amount", "required"),
        ("answers.staff", "required"),
        ("answers.made_up", "unknown_requirement"),
    ] {
        assert!(codes.iter().any(|(f, c)| f == expected.0 && c == expected.1), "{expected:?} not in {codes:?}");
    }
    let id = apply(&w.app, &w.a_token, &["personal_care", "service"], &["centrum"]).await;
    let (s, d) = w.app.get(&format!("/api/v1/contracts/{id}"), &w.a_token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["conditions_from"], "2026-02-01");
    assert_eq!(d["provider_id"], w.a.as_str());
    assert_eq!(d["applied"]["services"], json!(["personal_care", "service"]));
    let codes: Vec<&str> = d["answers"].as_array().unwrap().iter().map(|a| a["requirement_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["insurance", "staff", "continuity"], "the order of the conditions");
    assert_eq!(d["answers"][0]["verdict"], "pending");
    assert_eq!(d["events"][0]["to_status"], "applied");
    assert_eq!(d["events"][0]["actor"], "prov_a");
    // A second open application to the same choice system is refused.
    let (s, b) = w.app.post("/api/v1/contracts", &w.a_token, application(&["service"], &["lit"])).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("application_exists")));
    // A provider applies only for itself; case officers and citizens not at all.
    let mut other = application(&["service"], &["lit"]);
    other["provider_id"] = json!(w.b);
    let (s, _) = w.app.post("/api/v1/contracts", &w.a_token, other.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    w.app.add_user("officer", Role::CaseOfficer, None, None).await;
    let officer = w.app.token("officer").await;
    let (s, _) = w.app.post("/api/v1/contracts", &officer, other.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Admin may apply on the provider's behalf.
    let (s, b) = w.app.post("/api/v1/contracts", &w.admin, other).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["applied_by"], "admin");
}

#[tokio::test]
async fn evidence_is_type_checked_size_limited_and_private_to_its_provider() {
    let w = world().await;
    let id = apply(&w.app, &w.a_token, &["personal_care"], &["centrum"]).await;
    let (s, ev) = upload(&w.app, &w.a_token, &id, "insurance", "försäkring.pdf", PDF).await;
    assert_eq!(s, StatusCode::CREATED, "{ev}");
    assert_eq!(ev["content_type"], "application/pdf");
    assert_eq!(ev["filename"], "försäkring.pdf");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let (s, b) = upload(&w.app, &w.a_token, &id, "staff", "intyg.png", png).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["content_type"], "image/png");
    // A renamed executable is refused by its bytes.
    let (s, b) = upload(&w.app, &w.a_token, &id, "staff", "intyg.pdf", b"MZ\x90\0 not a pdf").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input")));
    assert_eq!(b["errors"][0]["code"], "unsupported_file_type");
    let big = [PDF, &vec![b'x'; 5 * 1024 * 1024]].concat();
    let (s, b) = upload(&w.app, &w.a_token, &id, "staff", "stor.pdf", &big).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::PAYLOAD_TOO_LARGE, "{s} {b}");
    let (s, b) = upload(&w.app, &w.a_token, &id, "nope", "x.pdf", PDF).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    let file = format!("/api/v1/contracts/{id}/evidence/{}", ev["id"].as_str().unwrap());
    let res = w.app.http.get(format!("{}{file}", w.app.url)).bearer_auth(&w.a_token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), PDF);
    let res = w.app.http.get(format!("{}{file}", w.app.url)).bearer_auth(&w.admin).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Provider B sees neither A's application nor its evidence, nor can it add any.
    let (s, _) = w.app.get(&format!("/api/v1/contracts/{id}"), &w.b_token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.app.get(&file, &w.b_token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = upload(&w.app, &w.b_token, &id, "staff", "x.pdf", PDF).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, list) = w.app.get("/api/v1/contracts", &w.b_token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list, json!([]));
    // Case officers read the contract but not the answers or the evidence.
    w.app.add_user("officer", Role::CaseOfficer, None, None).await;
    let officer = w.app.token("officer").await;
    let (s, d) = w.app.get(&format!("/api/v1/contracts/{id}"), &officer).await;
    assert_eq!(s, StatusCode::OK);
    assert!(d.get("answers").is_none(), "{d}");
    let (s, _) = w.app.get(&file, &officer).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Citizens see nothing of it.
    let client = w.app.create_client(&w.admin, PNR_A, "831 30").await;
    w.app.add_user("citizen", Role::Citizen, None, Some(&client)).await;
    let citizen = w.app.token("citizen").await;
    let (s, _) = w.app.get("/api/v1/contracts", &citizen).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w.app.get(&format!("/api/v1/contracts/{id}"), &citizen).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Once decided, no more evidence.
    approve_and_activate(&w.app, &w.admin, &id, json!({})).await;
    let (s, b) = upload(&w.app, &w.a_token, &id, "staff", "sen.pdf", PDF).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("evidence_closed")));
    let (_, d) = w.app.get(&format!("/api/v1/contracts/{id}"), &w.a_token).await;
    assert_eq!(d["answers"][0]["evidence"].as_array().unwrap().len(), 1);
    assert!(d["events"].as_array().unwrap().iter().any(|e| e["kind"] == "evidence"));
}

#[tokio::test]
async fn the_review_goes_requirement_by_requirement_and_every_transition_is_recorded() {
    let w = world().await;
    let id = apply(&w.app, &w.a_token, &["personal_care", "service"], &["centrum", "lit"]).await;
    // Not reviewable before the review starts, and only admin reviews.
    let verdict = format!("/api/v1/contracts/{id}/answers/staff/verdict");
    let (s, b) = w.app.call(Method::PUT, &verdict, Some(&w.admin), Some(json!({"verdict": "met"}))).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("not_under_review")));
    let (s, _) = to(&w.app, &w.a_token, &id, "under_review", "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) =
        w.app.post(&format!("/api/v1/contracts/{id}/approve"), &w.admin, json!({"start_date": "2026-04-01", "reason": "ok"})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("invalid_transition")));
    let (s, b) = to(&w.app, &w.admin, &id, "active", "").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("invalid_transition")), "{b}");
    assert!(b["detail"].as_str().unwrap().contains("under_review"), "{b}");

    let (s, b) = to(&w.app, &w.admin, &id, "under_review", "").await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("under_review")));
    let (s, b) = w.app.call(Method::PUT, &verdict, Some(&w.admin), Some(json!({"verdict": "not_met"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a not-met verdict needs a note: {b}");
    let (s, b) = w.app.call(Method::PUT, &verdict, Some(&w.admin), Some(json!({"verdict": "not_met", "note": "Intyg saknas."}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["reviewed_by"], "admin");
    let (s, b) = w.app.call(Method::PUT, &verdict, Some(&w.a_token), Some(json!({"verdict": "met"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _) = w
        .app
        .call(Method::PUT, &format!("/api/v1/contracts/{id}/answers/nope/verdict"), Some(&w.admin), Some(json!({"verdict": "met"})))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Approval needs every answer met.
    let (s, b) =
        w.app.post(&format!("/api/v1/contracts/{id}/approve"), &w.admin, json!({"start_date": "2026-04-01", "reason": "ok"})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("requirements_not_met")), "{b}");
    assert!(b["detail"].as_str().unwrap().contains("staff"));
    verdict_all(&w.app, &w.admin, &id).await;
    // Approval may narrow what was applied for, but not widen it beyond the system.
    let (s, b) = w
        .app
        .post(&format!("/api/v1/contracts/{id}/approve"), &w.admin, json!({"start_date": "2026-04-01", "areas": ["nowhere"], "reason": ""}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["areas[0]", "reason"]);
    let (s, c) = w
        .app
        .post(
            &format!("/api/v1/contracts/{id}/approve"),
            &w.admin,
            json!({"start_date": "2026-04-01", "end_date": "2029-03-31", "areas": ["centrum"],
                   "capacity": {"unit": "hours", "amount": 400}, "reason": "Samtliga krav uppfyllda."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "approved");
    assert_eq!(c["start_date"], "2026-04-01");
    assert_eq!(c["areas"], json!([{"code": "centrum", "valid_from": "2026-04-01", "valid_to": null}]));
    assert_eq!(c["services"].as_array().unwrap().len(), 2);
    assert_eq!(c["capacity"][0]["unit"], "hours");
    assert_eq!(c["decided_by"], "admin");
    // Approved is not active: no new clients yet.
    assert_eq!(rule(&w.app, &w.admin, &w.a, "personal_care", "centrum").await, "not_active");
    let (s, _) = to(&w.app, &w.admin, &id, "active", "Avtal undertecknat 2026-03-10.").await;
    assert_eq!(s, StatusCode::OK);
    // The contract starts 2026-04-01; today is 2026-03-10.
    assert_eq!(rule(&w.app, &w.admin, &w.a, "personal_care", "centrum").await, "not_active");
    w.app.clock.set("2026-04-01T08:00:00Z".parse().unwrap());
    // Tokens last a day; sign in again after moving the clock.
    let admin = w.app.token("admin").await;
    let a_token = w.app.token("prov_a").await;
    let w = World { admin, a_token, ..w };
    assert_eq!(rule(&w.app, &w.admin, &w.a, "personal_care", "centrum").await, "eligible");
    assert_eq!(rule(&w.app, &w.admin, &w.a, "personal_care", "lit").await, "not_approved_for_area");
    assert_eq!(rule(&w.app, &w.admin, &w.a, "meals", "centrum").await, "not_approved_for_service");

    // Pause needs a reason; paused providers take no new clients.
    let (s, b) = to(&w.app, &w.admin, &id, "paused", "").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, _) = to(&w.app, &w.admin, &id, "paused", "Utredning av avvikelser.").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rule(&w.app, &w.admin, &w.a, "personal_care", "centrum").await, "not_active");
    let (s, _) = to(&w.app, &w.admin, &id, "active", "Utredningen avslutad.").await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = w
        .app
        .post(
            &format!("/api/v1/contracts/{id}/transitions"),
            &w.admin,
            json!({"to": "terminated", "reason": "Uppsagt av utföraren.", "date": "2026-06-30"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["end_date"], "2026-06-30");
    assert_eq!(rule(&w.app, &w.admin, &w.a, "personal_care", "centrum").await, "not_active");
    let (s, b) = to(&w.app, &w.admin, &id, "active", "ångrat").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("invalid_transition")));
    let (s, b) = to(&w.app, &w.admin, &id, "bogus", "x").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    let (_, d) = w.app.get(&format!("/api/v1/contracts/{id}"), &w.a_token).await;
    let steps: Vec<(String, String)> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "status")
        .map(|e| (e["to_status"].as_str().unwrap().to_string(), e["actor"].as_str().unwrap().to_string()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("applied", "prov_a"),
        ("under_review", "admin"),
        ("approved", "admin"),
        ("active", "admin"),
        ("paused", "admin"),
        ("active", "admin"),
        ("terminated", "admin"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(steps, expected);
    let paused = d["events"].as_array().unwrap().iter().find(|e| e["to_status"] == "paused").unwrap();
    assert_eq!(paused["reason"], "Utredning av avvikelser.");
    assert_eq!(paused["from_status"], "active");
    let reviews = d["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "review").count();
    assert_eq!(reviews, 4);
    // The choice module learns of terminations.
    let t = valfri::contracts::terminations_since(&w.app.state.db, "2026-04-01").await.unwrap();
    assert_eq!(t, vec![(id.clone(), w.a.clone(), "2026-06-30".to_string())]);
}

#[tokio::test]
async fn a_rejection_needs_a_written_reason() {
    let w = world().await;
    let id = apply(&w.app, &w.a_token, &["service"], &["lit"]).await;
    to(&w.app, &w.admin, &id, "under_review", "").await;
    let (s, _) = to(&w.app, &w.admin, &id, "rejected", "  ").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = to(&w.app, &w.admin, &id, "rejected", "Försäkringsbevis saknas.").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["decision_reason"], "Försäkringsbevis saknas.");
    // A rejected provider may apply again.
    apply(&w.app, &w.a_token, &["service"], &["lit"]).await;
    let (_, list) = w.app.get("/api/v1/contracts?status=rejected", &w.a_token).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, _) = w.app.get("/api/v1/contracts?status=nonsense", &w.admin).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn simultaneous_applications_and_decisions_yield_exactly_one() {
    let w = world().await;
    let body = application(&["service"], &["centrum"]);
    let (r1, r2) =
        tokio::join!(w.app.post("/api/v1/contracts", &w.a_token, body.clone()), w.app.post("/api/v1/contracts", &w.a_token, body.clone()));
    let mut statuses = [r1.0, r2.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "{} / {}", r1.1, r2.1);
    let id = if r1.0 == StatusCode::CREATED { r1.1["id"].clone() } else { r2.1["id"].clone() };
    let id = id.as_str().unwrap().to_string();
    to(&w.app, &w.admin, &id, "under_review", "").await;
    verdict_all(&w.app, &w.admin, &id).await;
    let approve = json!({"start_date": "2026-03-01", "reason": "ok"});
    let reject = json!({"to": "rejected", "reason": "nej"});
    let (approve_url, transition_url) = (format!("/api/v1/contracts/{id}/approve"), format!("/api/v1/contracts/{id}/transitions"));
    let (a, b) = tokio::join!(w.app.post(&approve_url, &w.admin, approve), w.app.post(&transition_url, &w.admin, reject));
    let oks = [a.0, b.0].iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(oks, 1, "{} / {}", a.1, b.1);
    let loser = if a.0 == StatusCode::OK { &b } else { &a };
    assert_eq!(loser.0, StatusCode::CONFLICT, "{}", loser.1);
    let (_, d) = w.app.get(&format!("/api/v1/contracts/{id}"), &w.admin).await;
    let decided = d["events"].as_array().unwrap().iter().filter(|e| e["from_status"] == "under_review").count();
    assert_eq!(decided, 1);
    // Two simultaneous activations: one wins.
    if d["status"] == "approved" {
        let (x, y) = tokio::join!(to(&w.app, &w.admin, &id, "active", ""), to(&w.app, &w.admin, &id, "active", ""));
        let mut s = [x.0, y.0];
        s.sort();
        assert_eq!(s, [StatusCode::OK, StatusCode::CONFLICT]);
    }
}

#[tokio::test]
async fn capacity_changes_take_effect_from_the_first_of_a_month() {
    let w = world().await;
    let id = apply(&w.app, &w.a_token, &["personal_care"], &["centrum"]).await;
    approve_and_activate(&w.app, &w.admin, &id, json!({"capacity": {"unit": "clients", "amount": 2}})).await;
    let c1 = w.app.create_client(&w.admin, PNR_A, "831 30").await;
    let c2 = w.app.create_client(&w.admin, PNR_B, "831 30").await;
    w.app.assign(&c1, &w.a, "2026-03-01", None).await;
    assert_eq!(rule(&w.app, &w.a_token, &w.a, "personal_care", "centrum").await, "eligible");
    w.app.assign(&c2, &w.a, "2026-03-05", Some("2026-04-30")).await;
    let b = eligible(&w.app, &w.a_token, &w.a, "personal_care", "centrum").await;
    assert_eq!(b["rule"], "at_capacity", "{b}");
    assert_eq!(b["reason"], "the provider has reached its capacity ceiling");
    // Reported on the 10th with a change day of 15: from April 1st.
    let (s, v) = w.app.post(&format!("/api/v1/contracts/{id}/capacity"), &w.a_token, json!({"unit": "clients", "amount": 5})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["valid_from"], "2026-04-01");
    assert_eq!(rule(&w.app, &w.a_token, &w.a, "personal_care", "centrum").await, "at_capacity");
    let on = |d: &str| format!("/api/v1/eligibility?provider_id={}&service_type=personal_care&area_code=centrum&on={d}", w.a);
    let (_, b) = w.app.get(&on("2026-04-01"), &w.a_token).await;
    assert_eq!(b["eligible"], true, "{b}");
    // Reported after the 15th: from the 1st of the month after next.
    w.app.clock.set("2026-03-20T09:00:00Z".parse().unwrap());
    let w = World { admin: w.app.token("admin").await, a_token: w.app.token("prov_a").await, b_token: w.app.token("prov_b").await, ..w };
    let (s, v) = w.app.post(&format!("/api/v1/contracts/{id}/capacity"), &w.admin, json!({"unit": "none"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["valid_from"], "2026-05-01");
    let (_, d) = w.app.get(&format!("/api/v1/contracts/{id}"), &w.a_token).await;
    let froms: Vec<&str> = d["capacity"].as_array().unwrap().iter().map(|c| c["valid_from"].as_str().unwrap()).collect();
    assert_eq!(froms, ["2026-03-01", "2026-04-01", "2026-05-01"]);
    assert_eq!(d["capacity_today"], json!({"unit": "clients", "amount": 2}));
    // Another provider cannot report for A; bad input names the field.
    let (s, _) = w.app.post(&format!("/api/v1/contracts/{id}/capacity"), &w.b_token, json!({"unit": "none"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = w.app.post(&format!("/api/v1/contracts/{id}/capacity"), &w.a_token, json!({"unit": "beds", "amount": 3})).await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unit")));
}

#[tokio::test]
async fn a_ceiling_in_hours_sums_granted_time() {
    let w = world().await;
    let id = apply(&w.app, &w.a_token, &["personal_care", "meals"], &["centrum"]).await;
    approve_and_activate(&w.app, &w.admin, &id, json!({"capacity": {"unit": "hours", "amount": 30}})).await;
    let c1 = w.app.create_client(&w.admin, PNR_A, "831 30").await;
    let insert = |client: String, service: &'static str, minutes: i64| {
        let pool = w.app.state.db.pool.clone();
        let provider = w.a.clone();
        async move {
            sqlx::query("INSERT INTO assignments (id, client_id, provider_id, service_type, start_date, monthly_amount, created_at) VALUES ($1, $2, $3, $4, '2026-03-01', $5, '2026-03-01T00:00:00Z')")
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(client)
                .bind(provider)
                .bind(service)
                .bind(minutes)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    insert(c1.clone(), "personal_care", 22 * 60).await;
    // Portions are not hours.
    insert(c1.clone(), "meals", 3000).await;
    assert_eq!(rule(&w.app, &w.admin, &w.a, "personal_care", "centrum").await, "eligible");
    let c2 = w.app.create_client(&w.admin, PNR_B, "831 30").await;
    insert(c2, "personal_care", 8 * 60).await;
    assert_eq!(rule(&w.app, &w.admin, &w.a, "personal_care", "centrum").await, "at_capacity");
}

#[tokio::test]
async fn a_provider_closes_itself_for_new_clients_from_a_date() {
    let w = world().await;
    let id = apply(&w.app, &w.a_token, &["personal_care"], &["centrum"]).await;
    approve_and_activate(&w.app, &w.admin, &id, json!({})).await;
    let intake = format!("/api/v1/contracts/{id}/intake");
    let (s, b) = w.app.post(&intake, &w.a_token, json!({"open": false, "from": "2026-03-01", "reason": "Fullt"})).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("in_the_past")));
    let (s, b) = w.app.post(&intake, &w.a_token, json!({"open": false, "from": "2026-03-16"})).await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")), "closing needs a reason");
    let (s, b) = w.app.post(&intake, &w.a_token, json!({"open": false, "from": "2026-03-16", "reason": "Personalbrist i sommar."})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = w.app.post(&intake, &w.a_token, json!({"open": true, "from": "2026-09-01"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let at = |d: &str| format!("/api/v1/eligibility?provider_id={}&service_type=personal_care&area_code=centrum&on={d}", w.a);
    for (d, expected) in [("2026-03-15", true), ("2026-03-16", false), ("2026-08-31", false), ("2026-09-01", true)] {
        let (_, b) = w.app.get(&at(d), &w.admin).await;
        assert_eq!(b["eligible"], expected, "{d}: {b}");
        if !expected {
            assert_eq!(b["rule"], "closed_for_new_clients");
        }
    }
    let (s, _) = w.app.post(&intake, &w.b_token, json!({"open": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, d) = w.app.get(&format!("/api/v1/contracts/{id}"), &w.admin).await;
    assert!(d["events"].as_array().unwrap().iter().any(|e| e["kind"] == "intake" && e["reason"] == "Personalbrist i sommar."));
}

#[tokio::test]
async fn the_municipality_closes_an_area_to_private_providers_but_not_to_itself() {
    let w = world().await;
    let muni = municipal_provider(&w.app, &w.admin).await;
    let (s, m) = w
        .app
        .post("/api/v1/contracts", &w.admin, {
            let mut a = application(&["personal_care", "service"], &["centrum", "lit", "brunflo"]);
            a["provider_id"] = json!(muni);
            a
        })
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    approve_and_activate(&w.app, &w.admin, m["id"].as_str().unwrap(), json!({})).await;
    let id = apply(&w.app, &w.a_token, &["personal_care", "service"], &["centrum", "lit", "brunflo"]).await;
    approve_and_activate(&w.app, &w.admin, &id, json!({})).await;

    let (s, _) =
        w.app.post("/api/v1/area-closures", &w.a_token, json!({"area_code": "lit", "from_date": "2026-04-01", "reason": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = w
        .app
        .post(
            "/api/v1/area-closures",
            &w.admin,
            json!({"area_code": "nowhere", "service_type": "nothing", "from_date": "2026-4-1", "reason": ""}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["errors"].as_array().unwrap().len(), 4, "{b}");
    // Lit: personal care only; Brunflo: every service.
    let (s, lit) = w
        .app
        .post("/api/v1/area-closures", &w.admin, json!({"area_code": "lit", "service_type": "personal_care", "from_date": "2026-04-01", "reason": "Kommunfullmäktige 2026-02-20 § 12"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{lit}");
    let (s, _) = w
        .app
        .post("/api/v1/area-closures", &w.admin, json!({"area_code": "brunflo", "from_date": "2026-03-10", "reason": "Samma beslut"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, list) = w.app.get("/api/v1/area-closures", &w.a_token).await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    let at =
        |p: &str, svc: &str, area: &str, d: &str| format!("/api/v1/eligibility?provider_id={p}&service_type={svc}&area_code={area}&on={d}");
    let check = |url: String| {
        let app = &w.app;
        let admin = w.admin.clone();
        async move {
            let (_, b) = app.get(&url, &admin).await;
            if b["eligible"] == true {
                "eligible".to_string()
            } else {
                b["rule"].as_str().unwrap().to_string()
            }
        }
    };
    assert_eq!(check(at(&w.a, "personal_care", "lit", "2026-03-31")).await, "eligible");
    assert_eq!(check(at(&w.a, "personal_care", "lit", "2026-04-01")).await, "area_closed_to_private");
    assert_eq!(check(at(&w.a, "service", "lit", "2026-04-01")).await, "eligible");
    assert_eq!(check(at(&w.a, "service", "brunflo", "2026-03-10")).await, "area_closed_to_private");
    assert_eq!(check(at(&w.a, "personal_care", "centrum", "2026-04-01")).await, "eligible");
    assert_eq!(check(at(&muni, "personal_care", "lit", "2026-04-01")).await, "eligible");
    assert_eq!(check(at(&muni, "service", "brunflo", "2026-04-01")).await, "eligible");
    let ids = valfri::contracts::eligibility::eligible_providers(&w.app.state.db, "personal_care", "lit", "2026-04-02".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(ids, vec![muni.clone()]);

    // Reopening Lit from June.
    let reopen = format!("/api/v1/area-closures/{}/reopen", lit["id"].as_str().unwrap());
    let (s, b) = w.app.post(&reopen, &w.admin, json!({"from_date": "2026-04-01"})).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("before_closure")));
    let (s, b) = w.app.post(&reopen, &w.admin, json!({"from_date": "2026-06-01", "reason": "Nytt beslut"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["to_date"], "2026-05-31");
    let (s, b) = w.app.post(&reopen, &w.admin, json!({"from_date": "2026-07-01"})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("already_reopened")));
    assert_eq!(check(at(&w.a, "personal_care", "lit", "2026-05-31")).await, "area_closed_to_private");
    assert_eq!(check(at(&w.a, "personal_care", "lit", "2026-06-01")).await, "eligible");
}

#[tokio::test]
async fn eligibility_is_callable_as_a_function() {
    use valfri::contracts::eligibility::{check, Ineligible};
    let w = world().await;
    let db = &w.app.state.db;
    let today: jiff::civil::Date = "2026-03-10".parse().unwrap();
    assert_eq!(check(db, &w.a, "personal_care", "centrum", today).await.unwrap(), Err(Ineligible::NotActive));
    assert_eq!(check(db, "no-such-provider", "personal_care", "centrum", today).await.unwrap(), Err(Ineligible::NotActive));
    let id = apply(&w.app, &w.a_token, &["personal_care"], &["centrum"]).await;
    approve_and_activate(&w.app, &w.admin, &id, json!({})).await;
    assert_eq!(check(db, &w.a, "personal_care", "centrum", today).await.unwrap(), Ok(()));
    assert_eq!(check(db, &w.a, "personal_care", "centrum", "2026-02-28".parse().unwrap()).await.unwrap(), Err(Ineligible::NotActive));
    let err: valfri::error::ApiError = Ineligible::AtCapacity.into();
    assert_eq!((err.status().as_u16(), err.code()), (422, "at_capacity"));
    let (s, b) = w.app.get("/api/v1/eligibility?provider_id=x&service_type=y&area_code=z&on=igår", &w.admin).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, _) = w.app.call(Method::GET, "/api/v1/eligibility?provider_id=x&service_type=y&area_code=z", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// A browser-like client: cookies, no redirects followed.
async fn browser(app: &TestApp, username: Option<&str>) -> reqwest::Client {
    let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    if let Some(u) = username {
        let res = http
            .post(format!("{}/login", app.url))
            .form(&[("username", u), ("password", PASSWORD), ("next", "/contracts")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in of {u}");
    }
    http
}

async fn form(http: &reqwest::Client, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let res = http.post(format!("{}{path}", app.url)).form(fields).send().await.unwrap();
    let status = res.status();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, location, res.text().await.unwrap())
}

/// Posts a multipart form as a browser does: text fields, then files as
/// (field, file name, content type, bytes).
async fn multipart(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    texts: &[(&str, &str)],
    files: &[(&str, &str, &str, &[u8])],
) -> reqwest::Response {
    let boundary = "----valfriFormBoundary";
    let mut body = Vec::new();
    for (name, value) in texts {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    for (name, file, kind, bytes) in files {
        let head =
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: {kind}\r\n\r\n");
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let res =
        http.post(format!("{}{path}", app.url)).header("content-type", format!("multipart/form-data; boundary={boundary}")).body(body);
    res.send().await.unwrap()
}

async fn html(http: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = http.get(format!("{}{path}", app.url)).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_web_forms_work_without_javascript() {
    let app = spawn_app().await;
    let admin_token = app.with_setup().await;
    let (s, b) = app.call(Method::PUT, "/api/v1/setup", Some(&admin_token), Some(conditions_v2())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Registration: errors first, then success signs the provider in.
    let anon = browser(&app, None).await;
    let (s, _, page) = form(
        &anon,
        &app,
        "/contracts/register",
        &[("name", "Omsorg Webb AB"), ("org_nr", "123"), ("ownership", "private"), ("username", "webb"), ("password", "kort")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("href=\"#f-org-nr\"") && page.contains("href=\"#f-password\""), "{page}");
    assert!(page.contains("value=\"Omsorg Webb AB\""), "kept what was typed");
    let (s, loc, _) = form(
        &anon,
        &app,
        "/contracts/register",
        &[
            ("name", "Omsorg Webb AB"),
            ("org_nr", ORG_A),
            ("ownership", "private"),
            ("languages", "sv, fi"),
            ("specialities", "dementia"),
            ("email", "a@example.se"),
            ("username", "webb"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!((s, loc.as_str()), (StatusCode::SEE_OTHER, "/contracts/apply?registered=1"));
    let (s, page) = html(&anon, &app, "/contracts/apply?registered=1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("name=\"answer.continuity\"") && page.contains("enctype=\"multipart/form-data\""));

    // The application with a file, as a browser sends it.
    let res = multipart(
        &anon,
        &app,
        "/contracts/apply",
        &[
            ("choice_system_id", "hemtjanst"),
            ("services", "personal_care"),
            ("areas", "centrum"),
            ("capacity_unit", "clients"),
            ("capacity_amount", "25"),
            ("answer.insurance", "Försäkrade hos Länsförsäkringar."),
            ("answer.staff", "Undersköterskor."),
            ("answer.continuity", "Fasta team."),
        ],
        &[("file.insurance", "intyg.pdf", "application/pdf", PDF), ("file.staff", "", "application/octet-stream", b"")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.ends_with("?done=applied"), "{loc}");
    let detail = loc.split('?').next().unwrap().to_string();
    let (s, page) = html(&anon, &app, &loc).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("intyg.pdf") && page.contains("Ansökan är skickad"), "{page}");
    // Evidence for a requirement the page never offered (a tampered form):
    // the page says so, at the top, without a link to a form that is not there.
    let res = multipart(
        &anon,
        &app,
        &format!("{detail}/evidence"),
        &[("requirement_code", "no_such")],
        &[("file", "x.pdf", "application/pdf", PDF)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("<li>Kravet finns inte i förfrågningsunderlaget.</li>"), "{page}");
    assert!(!page.contains("href=\"#f-evidence-no-such\"") && !page.contains("href=\"#f-form\""), "{page}");

    // The municipality reviews and decides through its forms.
    let admin = browser(&app, Some("admin")).await;
    let (_, list) = html(&admin, &app, "/contracts").await;
    assert!(list.contains("Omsorg Webb AB") && list.contains("Ansökt"));
    let (s, loc, _) = form(&admin, &app, &format!("{detail}/transition"), &[("to", "under_review")]).await;
    assert_eq!((s, loc.ends_with("done=to_under_review")), (StatusCode::SEE_OTHER, true));
    let (s, _, page) =
        form(&admin, &app, &format!("{detail}/verdict"), &[("requirement_code", "staff"), ("verdict", "not_met"), ("note", "")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("href=\"#f-verdict-staff\""), "{page}");
    for code in ["insurance", "staff", "continuity"] {
        let (s, _, _) =
            form(&admin, &app, &format!("{detail}/verdict"), &[("requirement_code", code), ("verdict", "met"), ("note", "")]).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
    }
    let (s, _, page) = form(
        &admin,
        &app,
        &format!("{detail}/approve"),
        &[("start_date", "2026-03-01"), ("services", "personal_care"), ("areas", "centrum"), ("reason", "")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("href=\"#f-approve-reason\""), "{page}");
    let (s, _, _) = form(
        &admin,
        &app,
        &format!("{detail}/approve"),
        &[
            ("start_date", "2026-03-01"),
            ("services", "personal_care"),
            ("areas", "centrum"),
            ("areas", "lit"),
            ("capacity_unit", "clients"),
            ("capacity_amount", "25"),
            ("reason", "Uppfyller kraven."),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _) = form(&admin, &app, &format!("{detail}/transition"), &[("to", "active"), ("reason", "")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, page) = form(&admin, &app, &format!("{detail}/transition"), &[("to", "applied"), ("reason", "x")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (_, page) = html(&admin, &app, &detail).await;
    assert!(page.contains("status-active") && page.contains("Uppfyller kraven.") && page.contains("25 brukare"), "{page}");
    assert!(page.contains("Centrum, Lit"));
    // The provider closes itself for new clients from its page.
    let (s, _, _) =
        form(&anon, &app, &format!("{detail}/intake"), &[("open", "0"), ("from", "2026-03-10"), ("reason", "Fullt i vår")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _) = form(&anon, &app, &format!("{detail}/capacity"), &[("unit", "hours"), ("amount", "300")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = html(&anon, &app, &detail).await;
    assert!(page.contains("Stängt för nya brukare") && page.contains("300 timmar per månad"), "{page}");
    // Area closures: admin only.
    let (s, _) = html(&anon, &app, "/contracts/areas").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, loc, _) = form(
        &admin,
        &app,
        "/contracts/areas",
        &[("area_code", "lit"), ("service_type", "personal_care"), ("from_date", "2026-04-01"), ("reason", "KF 2026-02-20")],
    )
    .await;
    assert_eq!((s, loc.as_str()), (StatusCode::SEE_OTHER, "/contracts/areas?done=closed"));
    let (_, page) = html(&admin, &app, "/contracts/areas?lang=en").await;
    assert!(page.contains("KF 2026-02-20") && page.contains("Closed areas"));
    // Another provider's contract is not there for it.
    let (_id, _) = register(&app, "Omsorg B AB", ORG_B, "prov_b").await;
    let other = browser(&app, Some("prov_b")).await;
    let (s, _) = html(&other, &app, &detail).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, page) = html(&other, &app, "/contracts").await;
    assert!(!page.contains("Omsorg Webb AB"));
}

#[tokio::test]
async fn terminating_a_contract_hands_its_clients_over_to_a_new_choice() {
    let w = world().await;
    let muni = municipal_provider(&w.app, &w.admin).await;
    let mut m = application(&["personal_care", "service"], &["centrum", "lit", "brunflo"]);
    m["provider_id"] = json!(muni);
    let (_, mb) = w.app.post("/api/v1/contracts", &w.admin, m).await;
    approve_and_activate(&w.app, &w.admin, mb["id"].as_str().unwrap(), json!({})).await;
    let id = apply(&w.app, &w.a_token, &["personal_care"], &["centrum"]).await;
    approve_and_activate(&w.app, &w.admin, &id, json!({})).await;
    let client = w.app.create_client(&w.admin, PNR_A, "831 30").await;
    w.app.assign(&client, &w.a, "2026-01-01", None).await;
    let (s, b) = w
        .app
        .post(
            &format!("/api/v1/contracts/{id}/transitions"),
            &w.admin,
            json!({"to": "terminated", "reason": "Allvarliga brister.", "date": "2026-04-30"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "terminated");
    let handed = b["handed_over"].as_array().unwrap();
    assert_eq!(handed.len(), 1, "{b}");
    assert_eq!(handed[0]["client_id"], client.as_str());
    assert_eq!(handed[0]["from"], "2026-05-01");
    assert_eq!(handed[0]["outcome"], "moved_to_default");
    assert_eq!(handed[0]["default_provider_id"], muni.as_str());
}

#[tokio::test]
async fn a_provider_withdraws_from_an_area_with_notice_and_its_clients_choose_again() {
    let w = world().await;
    let muni = municipal_provider(&w.app, &w.admin).await;
    let mut m = application(&["personal_care", "service"], &["centrum", "lit", "brunflo"]);
    m["provider_id"] = json!(muni);
    let (_, mb) = w.app.post("/api/v1/contracts", &w.admin, m).await;
    approve_and_activate(&w.app, &w.admin, mb["id"].as_str().unwrap(), json!({})).await;
    let id = apply(&w.app, &w.a_token, &["personal_care", "service"], &["centrum", "lit"]).await;
    approve_and_activate(&w.app, &w.admin, &id, json!({})).await;
    let in_lit = w.app.create_client(&w.admin, PNR_A, "836 31").await;
    let in_centrum = w.app.create_client(&w.admin, PNR_B, "831 30").await;
    w.app.assign(&in_lit, &w.a, "2026-01-01", None).await;
    w.app.assign(&in_centrum, &w.a, "2026-01-01", None).await;
    let url = format!("/api/v1/contracts/{id}/coverage");
    let (s, b) = w.app.post(&url, &w.a_token, json!({"from": "2026-03-10", "remove_areas": ["lit"], "reason": "För långa resor"})).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("notice_required")), "{b}");
    let (s, b) = w
        .app
        .post(&url, &w.a_token, json!({"from": "2026-04-01", "add_areas": ["brunflo"], "remove_areas": ["brunflo"], "reason": "x"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"not_allowed") && codes.contains(&"not_covered"), "{codes:?}");
    let (s, b) = w.app.post(&url, &w.b_token, json!({"from": "2026-04-01", "remove_areas": ["lit"], "reason": "x"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = w.app.post(&url, &w.a_token, json!({"from": "2026-04-01", "remove_areas": ["lit"], "reason": "För långa resor"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let handed = b["handed_over"].as_array().unwrap();
    assert_eq!(handed.len(), 1, "only the client in Lit: {b}");
    assert_eq!((handed[0]["client_id"].as_str(), handed[0]["from"].as_str()), (Some(in_lit.as_str()), Some("2026-04-01")));
    let lit: Vec<&Value> = b["areas"].as_array().unwrap().iter().filter(|a| a["code"] == "lit").collect();
    assert_eq!(lit[0]["valid_to"], "2026-03-31");
    let at = |d: &str| format!("/api/v1/eligibility?provider_id={}&service_type=service&area_code=lit&on={d}", w.a);
    let (_, e) = w.app.get(&at("2026-03-31"), &w.admin).await;
    assert_eq!(e["eligible"], true);
    let (_, e) = w.app.get(&at("2026-04-01"), &w.admin).await;
    assert_eq!(e["rule"], "not_approved_for_area");
    // Withdrawing twice from the same area is refused; admin may widen.
    let (s, _) = w.app.post(&url, &w.a_token, json!({"from": "2026-05-01", "remove_areas": ["lit"], "reason": "igen"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = w.app.post(&url, &w.admin, json!({"from": "2026-05-01", "add_areas": ["brunflo"], "reason": "Utökat avtal"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["handed_over"], json!([]));
    let (_, e) =
        w.app.get(&format!("/api/v1/eligibility?provider_id={}&service_type=service&area_code=brunflo&on=2026-05-01", w.a), &w.admin).await;
    assert_eq!(e["eligible"], true, "{e}");
    let (_, d) = w.app.get(&format!("/api/v1/contracts/{id}"), &w.a_token).await;
    let coverage_events = d["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "coverage").count();
    assert_eq!(coverage_events, 2);
    let _ = muni;
}
