//! The public comparison and provider profiles: no sign-in, every eligible
//! provider, neutral order, filters, and the pages that work without JavaScript.

use crate::common::*;
use crate::contracts::{application, apply, approve_and_activate, municipal_provider, world};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The municipal provider everywhere; A in centrum and Lit (personal care and
/// service); B only service in centrum; Lit closed to private personal care.
async fn market() -> (crate::contracts::World, String) {
    let w = world().await;
    let muni = municipal_provider(&w.app, &w.admin).await;
    let mut m = application(&["personal_care", "service", "meals"], &["centrum", "lit", "brunflo"]);
    m["provider_id"] = json!(muni);
    let (s, b) = w.app.post("/api/v1/contracts", &w.admin, m).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    approve_and_activate(&w.app, &w.admin, b["id"].as_str().unwrap(), json!({})).await;
    let a = apply(&w.app, &w.a_token, &["personal_care", "service"], &["centrum", "lit"]).await;
    approve_and_activate(&w.app, &w.admin, &a, json!({})).await;
    let b = apply(&w.app, &w.b_token, &["service"], &["centrum"]).await;
    approve_and_activate(&w.app, &w.admin, &b, json!({})).await;
    let (s, _) = w
        .app
        .post(
            "/api/v1/area-closures",
            &w.admin,
            json!({"area_code": "lit", "service_type": "personal_care", "from_date": "2026-01-01", "reason": "Beslut KF"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    (w, muni)
}

async fn public(app: &TestApp, path: &str) -> (StatusCode, serde_json::Value) {
    app.call(Method::GET, path, None, None).await
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v["providers"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn every_eligible_provider_for_all_services_at_the_postcode() {
    let (w, muni) = market().await;
    let (s, b) = public(&w.app, "/api/v1/compare?postcode=83130&services=service").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["area_code"], "centrum");
    assert_eq!(b["postcode"], "831 30");
    assert_eq!(ids(&b), sorted(vec![muni.clone(), w.a.clone(), w.b.clone()]));
    // Both services: B offers only service.
    let (_, b) = public(&w.app, "/api/v1/compare?postcode=831%2030&services=service,personal_care").await;
    assert_eq!(ids(&b), sorted(vec![muni.clone(), w.a.clone()]));
    let entry = b["providers"].as_array().unwrap().iter().find(|p| p["id"] == w.a.as_str()).unwrap();
    assert_eq!(entry["ownership"], "private");
    assert_eq!(entry["languages"], json!(["sv", "fi"]));
    assert_eq!(entry["areas"], json!(["Centrum", "Lit"]));
    assert_eq!(entry["services_here"], json!(["personal_care", "service"]));
    assert_eq!(entry["quality"], json!([]));
    // Lit is closed to private personal care: only the municipal provider.
    let (_, b) = public(&w.app, "/api/v1/compare?postcode=836%2031&services=personal_care").await;
    assert_eq!(ids(&b), vec![muni.clone()]);
    let (_, b) = public(&w.app, "/api/v1/compare?postcode=836%2031&services=service").await;
    assert_eq!(ids(&b), sorted(vec![muni.clone(), w.a.clone()]));
    // A provider that closes itself disappears.
    let (_, list) = w.app.get("/api/v1/contracts", &w.a_token).await;
    let a_contract = list[0]["id"].as_str().unwrap().to_string();
    let (s, _) = w.app.post(&format!("/api/v1/contracts/{a_contract}/intake"), &w.a_token, json!({"open": false, "reason": "Fullt"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, b) = public(&w.app, "/api/v1/compare?postcode=83130&services=service").await;
    assert_eq!(ids(&b), sorted(vec![muni.clone(), w.b.clone()]));
}

#[tokio::test]
async fn filters_by_language_and_speciality() {
    let (w, muni) = market().await;
    let (_, b) = public(&w.app, "/api/v1/compare?postcode=83130&services=service&language=fi").await;
    assert_eq!(ids(&b), sorted(vec![w.a.clone(), w.b.clone()]), "the registered providers speak Finnish");
    assert_eq!(b["eligible_count"], 3);
    assert!(b["languages"].as_array().unwrap().contains(&json!("fi")));
    let (_, b) = public(&w.app, "/api/v1/compare?postcode=83130&services=service&speciality=dementia&language=sv").await;
    assert_eq!(ids(&b), sorted(vec![w.a.clone(), w.b.clone()]));
    let (_, b) = public(&w.app, "/api/v1/compare?postcode=83130&services=service&language=ar").await;
    assert_eq!(ids(&b), Vec::<String>::new());
    let _ = muni;
}

#[tokio::test]
async fn the_order_is_neutral_and_reproducible() {
    let (w, _) = market().await;
    let order = |b: &serde_json::Value| -> Vec<String> {
        b["providers"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
    };
    let (_, b) = public(&w.app, "/api/v1/compare?postcode=83130&services=service&order=name").await;
    assert_eq!(order(&b), ["Kommunens hemtjänst", "Omsorg A AB", "Omsorg B AB"]);
    assert_eq!(b["order"], "name");
    let (_, first) = public(&w.app, "/api/v1/compare?postcode=83130&services=service").await;
    assert_eq!(first["order"], "random");
    let seed = first["seed"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let (_, again) = public(&w.app, &format!("/api/v1/compare?postcode=83130&services=service&seed={seed}")).await;
        assert_eq!(order(&again), order(&first));
    }
    // Different seeds give different orders (of three providers, some of 20 seeds must differ).
    let mut seen = std::collections::HashSet::new();
    for s in 0..20 {
        let (_, b) = public(&w.app, &format!("/api/v1/compare?postcode=83130&services=service&seed=s{s}")).await;
        seen.insert(order(&b));
    }
    assert!(seen.len() > 1, "the seed changes nothing: {seen:?}");
}

#[tokio::test]
async fn an_unknown_postcode_is_a_clear_error() {
    let (w, _) = market().await;
    let (s, b) = public(&w.app, "/api/v1/compare?postcode=99999&services=service").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!((b["errors"][0]["field"].as_str(), b["errors"][0]["code"].as_str()), (Some("postcode"), Some("unknown_postcode")));
    let (s, b) = public(&w.app, "/api/v1/compare?postcode=abc&services=").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["errors"][0]["code"], "invalid_format");
    let (s, b) = public(&w.app, "/api/v1/compare?postcode=83130&services=").await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("services")));
    let (s, b) = public(&w.app, "/api/v1/compare?postcode=83130&services=flying").await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_service_type")));
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = app.http.get(format!("{}{path}", app.url)).send().await.unwrap();
    let s = res.status();
    (s, res.text().await.unwrap())
}

#[tokio::test]
async fn the_comparison_pages_work_without_signing_in() {
    let (w, muni) = market().await;
    let (s, html) = page(&w.app, "/compare").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<html lang=\"sv\">") && html.contains("Jämför utförare"));
    assert!(html.contains("name=\"services\" value=\"personal_care\""));
    let (s, html) = page(&w.app, "/compare?postcode=831+30&services=service&services=personal_care&order=name").await;
    assert_eq!(s, StatusCode::OK);
    let a = html.find("Omsorg A AB").unwrap();
    let k = html.find("Kommunens hemtjänst").unwrap();
    assert!(k < a, "alphabetical");
    assert!(!html.contains("Omsorg B AB"), "B offers no personal care");
    let print_link = html.replace("&#38;", "&").replace("&amp;", "&");
    assert!(print_link.contains("/compare/print?postcode=831%2030&services=service&services=personal_care&order=name&seed="), "{html}");
    // Another language keeps the comparison (and a second switch replaces
    // the first).
    assert!(print_link.contains(r#"href="/compare?postcode=831+30&services=service&services=personal_care&order=name&lang=en""#), "{html}");
    let (_, english) = page(&w.app, "/compare?lang=en&postcode=831+30&services=service").await;
    assert!(english.contains("<html lang=\"en\">"));
    let links = english.replace("&#38;", "&").replace("&amp;", "&");
    assert!(links.contains(r#"href="/compare?postcode=831+30&services=service&lang=nb""#), "{english}");
    assert!(html.contains("Kvalitetsuppgifter"), "the place for quality figures");
    // Unknown postcode: the page says so next to the field.
    let (s, html) = page(&w.app, "/compare?postcode=999+99&services=service").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Postnumret finns inte i kommunen"), "{html}");
    assert!(html.contains("aria-invalid=\"true\""));
    let (_, html) = page(&w.app, "/compare?postcode=999+99&services=service&lang=en").await;
    assert!(html.contains("The postcode is not in the municipality"));
    let (_, html) = page(&w.app, "/compare?postcode=999+99&services=service&lang=nb").await;
    assert!(html.contains("Postnummeret finnes ikke i kommunen"));
    // The printable version keeps the order of the seed.
    let (_, html) = page(&w.app, "/compare?postcode=83130&services=service&seed=42").await;
    let pos = |h: &str, n: &str| h.find(n).unwrap();
    let (_, print) = page(&w.app, "/compare/print?postcode=83130&services=service&seed=42").await;
    assert!(print.contains("large-print"));
    let names = ["Kommunens hemtjänst", "Omsorg A AB", "Omsorg B AB"];
    let mut on_page = names.to_vec();
    on_page.sort_by_key(|n| pos(&html, n));
    let mut on_print = names.to_vec();
    on_print.sort_by_key(|n| pos(&print, n));
    assert_eq!(on_page, on_print);
    let (s, _) = page(&w.app, "/compare/print?postcode=99999&services=service").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // The provider's profile.
    let (s, html) = page(&w.app, &format!("/providers/{}", w.a)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Omsorg A AB") && html.contains("finska") && html.contains("Demens"), "{html}");
    assert!(html.contains("Centrum") && html.contains("Lit"));
    let (s, p) = public(&w.app, &format!("/api/v1/providers/{muni}/profile")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["ownership"], "municipal");
    assert_eq!(p["open_for_new_clients"], true);
    let lit = p["areas"].as_array().unwrap().iter().find(|a| a["code"] == "lit").unwrap();
    assert_eq!(lit["services"], json!(["meals", "personal_care", "service"]));
    let (_, p) = public(&w.app, &format!("/api/v1/providers/{}/profile", w.a)).await;
    let lit = p["areas"].as_array().unwrap().iter().find(|a| a["code"] == "lit").unwrap();
    assert_eq!(lit["services"], json!(["service"]), "Lit is closed to private personal care");
    let (s, _) = page(&w.app, "/providers/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_provider_keeps_its_own_profile_up_to_date() {
    let (w, muni) = market().await;
    let body = json!({"name": "Omsorg A AB", "ownership": "private", "owner_name": "Nya ägare AB", "description": "Nu även kvällar.",
        "languages": ["sv", "ar"], "specialities": ["palliative"], "phone": "063-10 10 10"});
    let (s, p) = w.app.call(Method::PUT, &format!("/api/v1/providers/{}", w.a), Some(&w.a_token), Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!((p["owner_name"].as_str(), p["org_nr"].as_str()), (Some("Nya ägare AB"), Some(ORG_A)));
    let (_, c) = public(&w.app, "/api/v1/compare?postcode=83130&services=service&language=ar").await;
    assert_eq!(ids(&c), vec![w.a.clone()]);
    // Not another provider's, and not to become the municipal unit.
    let (s, _) = w.app.call(Method::PUT, &format!("/api/v1/providers/{}", w.a), Some(&w.b_token), Some(body.clone())).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let mut municipal = body.clone();
    municipal["ownership"] = json!("municipal");
    let (s, b) = w.app.call(Method::PUT, &format!("/api/v1/providers/{}", w.a), Some(&w.a_token), Some(municipal)).await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("ownership")));
    let (s, _) = w
        .app
        .call(
            Method::PUT,
            &format!("/api/v1/providers/{muni}"),
            Some(&w.admin),
            Some(json!({"name": "Kommunens hemtjänst", "ownership": "municipal"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}
