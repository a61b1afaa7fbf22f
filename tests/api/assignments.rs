//! Assignments: derived from decisions × the provider per service group
//! (what the choice module hands to `sync_client`), the provider's inbox and
//! acknowledgements, and protected identity.

use crate::common::*;
use crate::decisions::{care, grant, period, set_periods, world, World};
use reqwest::StatusCode;
use serde_json::{json, Value};
use valfri::auth::Role;

async fn client_assignments(w: &World, client: &str) -> Vec<Value> {
    let (s, list) = w.app.get(&format!("/api/v1/assignments?client_id={client}"), &w.officer).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let mut v = list.as_array().unwrap().clone();
    v.sort_by_key(|a| (a["start_date"].as_str().unwrap().to_string(), a["service_type"].as_str().unwrap().to_string()));
    v
}

fn summary(list: &[Value]) -> Vec<(String, i64, String, Option<String>, String, String)> {
    list.iter()
        .map(|a| {
            (
                a["service_type"].as_str().unwrap().to_string(),
                a["monthly_amount"].as_i64().unwrap(),
                a["start_date"].as_str().unwrap().to_string(),
                a["end_date"].as_str().map(str::to_string),
                a["status"].as_str().unwrap().to_string(),
                a["notice"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

#[tokio::test]
async fn a_decision_and_a_provider_make_assignments_and_a_second_sync_changes_nothing() {
    let w = world().await;
    let (st, d) = grant(
        &w,
        json!({"valid_from": "2026-03-01", "services": [
            {"service_type": "personal_care", "monthly_amount": 1320, "double_staffing": true},
            {"service_type": "meals", "monthly_amount": 30}
        ]}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert!(client_assignments(&w, &w.client).await.is_empty(), "no provider yet, so nothing to assign");
    let periods = [period("personal_care", &w.provider_a, "2026-03-15", None), period("meals", &w.provider_b, "2026-03-01", None)];
    let report = set_periods(&w.app, &w.client, &periods).await;
    assert_eq!(report.created.len(), 2);
    let list = client_assignments(&w, &w.client).await;
    assert_eq!(
        summary(&list),
        vec![
            (s("meals"), 30, s("2026-03-01"), None, s("pending"), s("new")),
            (s("personal_care"), 1320, s("2026-03-15"), None, s("pending"), s("new"))
        ]
    );
    let pc = &list[1];
    assert_eq!(
        (pc["decision_id"].as_str(), pc["double_staffing"].as_bool(), pc["amount_unit"].as_str()),
        (d["id"].as_str(), Some(true), Some("minutes"))
    );
    assert_eq!(pc["provider_id"], w.provider_a.as_str());
    assert_eq!(pc["provider_name"], "Omsorg A AB");
    assert!(set_periods(&w.app, &w.client, &periods).await.is_empty(), "sync is idempotent");

    let bad = [period("personal_care", &w.provider_a, "2026-03-01", None), period("personal_care", &w.provider_b, "2026-04-01", None)];
    let mut tx = w.app.state.db.pool.begin().await.unwrap();
    let err = valfri::assignments::sync_client(&mut tx, &w.client, &bad, "2026-03-10T09:00:00Z".parse().unwrap()).await.unwrap_err();
    assert_eq!(err.code(), "invalid_input");
}

#[tokio::test]
async fn changes_to_the_decision_and_the_provider_move_the_assignments_on_the_right_dates() {
    let w = world().await;
    let (_, d) = grant(&w, json!({"valid_from": "2026-01-01", "services": [care(1320)]})).await;
    let id = d["id"].as_str().unwrap();
    set_periods(&w.app, &w.client, &[period("personal_care", &w.provider_a, "2026-01-01", None)]).await;
    let first = client_assignments(&w, &w.client).await[0]["id"].as_str().unwrap().to_string();

    // More hours from 1 April: the running assignment ends on 31 March, a new one continues it.
    let (st, _) = w
        .app
        .post(&format!("/api/v1/decisions/{id}/versions"), &w.officer, json!({"valid_from": "2026-04-01", "services": [care(1800)]}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let list = client_assignments(&w, &w.client).await;
    assert_eq!(
        summary(&list),
        vec![
            (s("personal_care"), 1320, s("2026-01-01"), Some(s("2026-03-31")), s("pending"), s("ended")),
            (s("personal_care"), 1800, s("2026-04-01"), None, s("pending"), s("changed"))
        ]
    );
    assert_eq!(list[0]["end_reason"], "decision_changed");
    assert_eq!(list[1]["previous_id"], first.as_str());

    // The client switches to provider B from 24 March (the choice module's call).
    set_periods(
        &w.app,
        &w.client,
        &[
            period("personal_care", &w.provider_a, "2026-01-01", Some("2026-03-23")),
            period("personal_care", &w.provider_b, "2026-03-24", None),
        ],
    )
    .await;
    let list = client_assignments(&w, &w.client).await;
    let live: Vec<_> = list.iter().filter(|a| a["status"] != "cancelled").collect();
    let by: Vec<(String, i64, String, Option<String>)> = live
        .iter()
        .map(|a| {
            let who = if a["provider_id"] == w.provider_a.as_str() { "A" } else { "B" };
            (
                s(who),
                a["monthly_amount"].as_i64().unwrap(),
                s(a["start_date"].as_str().unwrap()),
                a["end_date"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        by,
        vec![
            (s("A"), 1320, s("2026-01-01"), Some(s("2026-03-23"))),
            (s("B"), 1320, s("2026-03-24"), Some(s("2026-03-31"))),
            (s("B"), 1800, s("2026-04-01"), None)
        ]
    );
    let cancelled: Vec<_> = list.iter().filter(|a| a["status"] == "cancelled").collect();
    assert_eq!(cancelled.len(), 1, "A's future segment never applies");
    assert_eq!((cancelled[0]["notice"].as_str(), cancelled[0]["end_reason"].as_str()), (Some("cancelled"), Some("provider_changed")));

    // Ending the decision ends its assignments on the same day.
    let (st, _) =
        w.app.post(&format!("/api/v1/decisions/{id}/end"), &w.officer, json!({"end_date": "2026-05-15", "reason": "Flyttat"})).await;
    assert_eq!(st, StatusCode::OK);
    let list = client_assignments(&w, &w.client).await;
    let open: Vec<_> = list.iter().filter(|a| a["status"] != "cancelled" && a["end_date"].is_null()).collect();
    assert!(open.is_empty(), "{list:?}");
    let last = list.iter().find(|a| a["monthly_amount"] == 1800 && a["status"] != "cancelled").unwrap();
    assert_eq!(
        (last["end_date"].as_str(), last["notice"].as_str(), last["end_reason"].as_str()),
        (Some("2026-05-15"), Some("ended"), Some("decision_ended"))
    );
}

#[tokio::test]
async fn a_provider_sees_only_its_own_assignments_and_acknowledges_them() {
    let w = world().await;
    grant(&w, json!({"valid_from": "2026-03-01", "services": [care(600)]})).await;
    set_periods(&w.app, &w.client, &[period("personal_care", &w.provider_a, "2026-03-01", None)]).await;
    let other = w.app.create_client(&w.officer, PNR_B, "836 31").await;
    w.app
        .post(&format!("/api/v1/clients/{other}/decisions"), &w.officer, json!({"valid_from": "2026-03-01", "services": [care(900)]}))
        .await;
    set_periods(&w.app, &other, &[period("personal_care", &w.provider_b, "2026-03-01", None)]).await;

    let a = w.app.token("prov_a").await;
    let b = w.app.token("prov_b").await;
    let (st, inbox) = w.app.get("/api/v1/assignments/inbox", &a).await;
    assert_eq!(st, StatusCode::OK);
    let inbox = inbox.as_array().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["client_id"], w.client.as_str());
    assert_eq!(inbox[0]["client_name"], "Test Person");
    let id = inbox[0]["id"].as_str().unwrap().to_string();
    let (_, b_inbox) = w.app.get("/api/v1/assignments/inbox", &b).await;
    assert_eq!(b_inbox.as_array().unwrap().len(), 1);
    assert_ne!(b_inbox[0]["id"], id.as_str());

    // B can neither see nor acknowledge A's assignment, not even by asking for A's.
    let (st, _) = w.app.get(&format!("/api/v1/assignments/{id}"), &b).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = w.app.post(&format!("/api/v1/assignments/{id}/acknowledge"), &b, json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = w.app.get(&format!("/api/v1/assignments?provider_id={}", w.provider_a), &b).await;
    assert_eq!(list, json!([]));
    let (_, list) = w.app.get(&format!("/api/v1/assignments?client_id={}", w.client), &b).await;
    assert_eq!(list, json!([]));
    let (_, inbox) = w.app.get(&format!("/api/v1/assignments/inbox?provider_id={}", w.provider_a), &b).await;
    assert!(inbox.as_array().unwrap().iter().all(|x| x["provider_id"] == w.provider_b.as_str()));
    // The case officer sees everything but does not acknowledge for the provider.
    let (_, all) = w.app.get("/api/v1/assignments", &w.officer).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (st, _) = w.app.post(&format!("/api/v1/assignments/{id}/acknowledge"), &w.officer, json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // A stale revision is refused; the current one is acknowledged; again is a no-op.
    let (st, body) = w.app.post(&format!("/api/v1/assignments/{id}/acknowledge"), &a, json!({"revision": 7})).await;
    assert_eq!((st, body["code"].as_str()), (StatusCode::CONFLICT, Some("assignment_changed")));
    let (st, acked) = w.app.post(&format!("/api/v1/assignments/{id}/acknowledge"), &a, json!({"revision": 1})).await;
    assert_eq!(st, StatusCode::OK, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    let at = acked["acknowledged_at"].clone();
    assert!(at.is_string());
    w.app.clock.set("2026-03-10T15:00:00Z".parse().unwrap());
    let (st, again) = w.app.post(&format!("/api/v1/assignments/{id}/acknowledge"), &a, json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again["acknowledged_at"], at, "the first acknowledgement stands");
    let (_, inbox) = w.app.get("/api/v1/assignments/inbox", &a).await;
    assert_eq!(inbox, json!([]));

    // A change puts it back in the inbox with a new revision.
    let (_, ds) = w.app.get(&format!("/api/v1/clients/{}/decisions", w.client), &w.officer).await;
    let did = ds[0]["id"].as_str().unwrap();
    w.app.post(&format!("/api/v1/decisions/{did}/end"), &w.officer, json!({"end_date": "2026-06-30", "reason": "Tidsbegränsat"})).await;
    let (_, inbox) = w.app.get("/api/v1/assignments/inbox", &a).await;
    let inbox = inbox.as_array().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        (inbox[0]["notice"].as_str(), inbox[0]["revision"].as_i64(), inbox[0]["status"].as_str()),
        (Some("ended"), Some(2), Some("pending"))
    );
    let (st, _) = w.app.post(&format!("/api/v1/assignments/{id}/acknowledge"), &a, json!({"revision": 1})).await;
    assert_eq!(st, StatusCode::CONFLICT);
}

#[tokio::test]
async fn protected_identity_is_shown_only_to_the_municipality_the_client_and_the_assigned_provider() {
    let w = world().await;
    let (st, c) = w
        .app
        .post(
            "/api/v1/clients",
            &w.officer,
            json!({"person_id": PNR_B, "name": "Skyddad Person", "address": "Hemlig väg 1", "postcode": "831 30",
                   "protected_identity": true, "representative": "God man: Eva"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let client = c["id"].as_str().unwrap().to_string();
    w.app.add_user("skyddad", Role::Citizen, None, Some(&client)).await;
    // A had the client until 28 February (still readable for late reports); B has it now.
    w.app
        .post(&format!("/api/v1/clients/{client}/decisions"), &w.officer, json!({"valid_from": "2026-01-01", "services": [care(600)]}))
        .await;
    set_periods(
        &w.app,
        &client,
        &[
            period("personal_care", &w.provider_a, "2026-01-01", Some("2026-02-28")),
            period("personal_care", &w.provider_b, "2026-03-01", None),
        ],
    )
    .await;

    let a = w.app.token("prov_a").await;
    let b = w.app.token("prov_b").await;
    let citizen = w.app.token("skyddad").await;
    for (who, token, visible) in
        [("officer", &w.officer, true), ("admin", &w.admin, true), ("citizen", &citizen, true), ("B", &b, true), ("A", &a, false)]
    {
        let (st, body) = w.app.get(&format!("/api/v1/clients/{client}"), token).await;
        assert_eq!(st, StatusCode::OK, "{who}: {body}");
        let (name, address, postcode) =
            (body["name"].as_str().unwrap(), body["address"].as_str().unwrap(), body["postcode"].as_str().unwrap());
        if visible {
            assert_eq!((name, address, postcode), ("Skyddad Person", "Hemlig väg 1", "831 30"), "{who}");
        } else {
            assert_eq!((name, address, postcode), ("***", "***", "***"), "{who}");
            assert_eq!(body["representative"], "***");
            assert_eq!(body["area_code"], "centrum", "the area stays");
        }
        let (_, list) = w.app.get("/api/v1/clients?q=", token).await;
        let me = list.as_array().unwrap().iter().find(|x| x["id"] == client.as_str()).cloned();
        assert_eq!(me.map(|m| m["name"] != "***"), Some(visible), "{who} list");
        let (_, assignments) = w.app.get(&format!("/api/v1/assignments?client_id={client}"), token).await;
        for x in assignments.as_array().unwrap() {
            assert_eq!(x["client_name"] != "***", visible, "{who} assignments");
        }
    }
    // Once B's assignment has ended too, B sees masked values.
    w.app.clock.set("2026-08-01T09:00:00Z".parse().unwrap());
    let (officer, b) = (w.app.token("officer").await, w.app.token("prov_b").await);
    let (_, ds) = w.app.get(&format!("/api/v1/clients/{client}/decisions"), &officer).await;
    let (st, _) = w
        .app
        .post(
            &format!("/api/v1/decisions/{}/end", ds[0]["id"].as_str().unwrap()),
            &officer,
            json!({"end_date": "2026-07-31", "reason": "x"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = w.app.get(&format!("/api/v1/clients/{client}"), &b).await;
    assert_eq!((st, body["name"].as_str()), (StatusCode::OK, Some("***")));
}

#[tokio::test]
async fn a_provider_whose_assignment_ended_sees_a_protected_client_masked_in_its_client_list() {
    let w = world().await;
    let (_, c) = w
        .app
        .post(
            "/api/v1/clients",
            &w.officer,
            json!({"person_id": PNR_B, "name": "Skyddad Person", "address": "Hemlig väg 1", "postcode": "831 30", "protected_identity": true}),
        )
        .await;
    let client = c["id"].as_str().unwrap().to_string();
    w.app
        .post(&format!("/api/v1/clients/{client}/decisions"), &w.officer, json!({"valid_from": "2026-01-01", "services": [care(600)]}))
        .await;
    set_periods(
        &w.app,
        &client,
        &[
            period("personal_care", &w.provider_a, "2026-01-01", Some("2026-02-28")),
            period("personal_care", &w.provider_b, "2026-03-01", None),
        ],
    )
    .await;
    for (user, provider, name) in [("prov_a", &w.provider_a, "***"), ("prov_b", &w.provider_b, "Skyddad Person")] {
        let t = w.app.token(user).await;
        let (st, list) = w.app.get(&format!("/api/v1/providers/{provider}/clients"), &t).await;
        assert_eq!(st, StatusCode::OK, "{list}");
        let me = list.as_array().unwrap().iter().find(|x| x["id"] == client.as_str()).cloned().unwrap();
        assert_eq!(me["name"], name, "{user}");
    }
}

#[tokio::test]
async fn a_service_outside_free_choice_goes_to_the_municipal_unit_without_a_choice() {
    let w = world().await;
    let mut setup = small_setup();
    setup["service_types"].as_array_mut().unwrap().push(json!({
        "code": "safety_alarm", "name_sv": "Trygghetslarm", "name_en": "Safety alarm", "group": "safety_alarm", "unit": "month", "basis": "per_month"
    }));
    let (st, body) = w.app.call(reqwest::Method::PUT, "/api/v1/setup", Some(&w.admin), Some(setup)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, m) = w
        .app
        .post("/api/v1/providers", &w.admin, json!({"name": "Kommunens hemtjänst", "org_nr": "212000-2411", "ownership": "municipal"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    let (st, d) =
        grant(&w, json!({"valid_from": "2026-03-01", "services": [care(600), {"service_type": "safety_alarm", "monthly_amount": 1}]}))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{d}");
    let list = client_assignments(&w, &w.client).await;
    assert_eq!(
        summary(&list),
        vec![(s("safety_alarm"), 1, s("2026-03-01"), None, s("pending"), s("new"))],
        "personal care waits for a choice"
    );
    assert_eq!((list[0]["provider_id"].as_str(), list[0]["amount_unit"].as_str()), (m["id"].as_str(), Some("months")));
    // A choice for personal care leaves the alarm where it is.
    set_periods(&w.app, &w.client, &[period("personal_care", &w.provider_a, "2026-03-05", None)]).await;
    let list = client_assignments(&w, &w.client).await;
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|a| a["status"] == "pending" && a["revision"] == 1));
}

#[tokio::test]
async fn the_provider_acknowledges_in_its_inbox_page() {
    let w = world().await;
    grant(&w, json!({"valid_from": "2026-03-01", "services": [care(1320)]})).await;
    set_periods(&w.app, &w.client, &[period("personal_care", &w.provider_a, "2026-03-01", None)]).await;
    let a = w.app.token("prov_a").await;
    let b = w.app.token("prov_b").await;
    let (st, html, _) = crate::decisions::page(&w.app, "/provider/assignments", &a, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Test Person") && html.contains("22 tim/mån") && html.contains("Kvittera"), "{html}");
    let (_, html_b, _) = crate::decisions::page(&w.app, "/provider/assignments", &b, None).await;
    assert!(!html_b.contains("Test Person"), "B does not see A's client");
    let (_, list) = w.app.get("/api/v1/assignments/inbox", &a).await;
    let id = list[0]["id"].as_str().unwrap();
    // B cannot acknowledge A's assignment from the web either.
    let (st, _, _) =
        crate::decisions::page(&w.app, &format!("/provider/assignments/{id}/acknowledge"), &b, Some(&[("revision", "1")])).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, location) =
        crate::decisions::page(&w.app, &format!("/provider/assignments/{id}/acknowledge"), &a, Some(&[("revision", "1")])).await;
    assert_eq!((st, location.as_str()), (StatusCode::SEE_OTHER, "/provider/assignments?acked=1"));
    let (_, html, _) = crate::decisions::page(&w.app, "/provider/assignments?acked=1", &a, None).await;
    assert!(html.contains("Uppdraget är kvitterat") && html.contains("Inga nya händelser"), "{html}");
}
