//! The admin side, in process and over HTTP.

use easyvista_sim::{
    CANCELED_GUID, CLOSED_GUID, EmployeeSeed, FaultSpec, REJECTED_GUID, SOLVED_GUID, StatusKind,
    TicketSeed, routes,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::{Harness, column};

#[tokio::test]
async fn tickets_move_to_any_status_and_final_ones_get_an_end_date() {
    let h = Harness::start().await;
    let admin = h.sim.admin();
    let rfc = h.create(json!({"catalog_code": "25", "external_reference": "order-9"})).await;
    let solved = admin.solve_ticket(&rfc).expect("moves");
    assert_eq!(solved.status_guid, SOLVED_GUID);
    assert_eq!(solved.end_date, None);
    assert!(!solved.closed);
    let t = h.ticket(&rfc).await;
    assert_eq!(t["STATUS"]["STATUS_GUID"], SOLVED_GUID);
    assert_eq!(t["END_DATE_UT"], "");

    for (kind, guid) in [
        (StatusKind::Canceled, CANCELED_GUID),
        (StatusKind::Rejected, REJECTED_GUID),
        (StatusKind::Closed, CLOSED_GUID),
    ] {
        let moved = admin.set_ticket_status(&rfc, kind).expect("moves");
        assert_eq!(moved.status_guid, guid);
        assert!(moved.closed && moved.end_date.is_some());
        let t = h.ticket(&rfc).await;
        assert_eq!(t["STATUS"]["STATUS_GUID"], guid);
        assert_eq!(t["END_DATE_UT"].as_str(), moved.end_date.as_deref());
    }
    let by_guid = admin
        .set_ticket_status(&rfc, "dc97dd1d-0f35-4153-b0e1-0f2e0155365d")
        .expect("guid in any case");
    assert_eq!(by_guid.status_id, 7);
    assert!(admin.set_ticket_status(&rfc, "{00000000-0000-0000-0000-000000000000}").is_err());
    assert!(admin.set_ticket_status("I000000_000000", StatusKind::Closed).is_err());
    let snapshot = admin.tickets();
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[0].external_reference, "order-9");
}

#[tokio::test]
async fn delete_seed_and_reset() {
    let h = Harness::start().await;
    let admin = h.sim.admin();
    let rfc = admin
        .seed_ticket(TicketSeed {
            catalog_code: "42".into(),
            title: "seeded".into(),
            ..TicketSeed::default()
        })
        .expect("seeds");
    assert!(rfc.starts_with('I'));
    assert_eq!(h.ticket(&rfc).await["TITLE"], "seeded");
    admin.delete_ticket(&rfc).expect("deletes");
    let (status, _) = h.get(&format!("requests/{rfc}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let ids = admin
        .seed_employees(vec![
            EmployeeSeed {
                last_name: "New, One".into(),
                login: "new1".into(),
                ..EmployeeSeed::default()
            },
            EmployeeSeed {
                id: Some(7),
                last_name: "Seven, Agent".into(),
                ..EmployeeSeed::default()
            },
        ])
        .expect("seeds");
    assert_eq!(ids[1], 7);
    let (_, found) = h.get(r#"employees?search=login:"new1""#).await;
    assert_eq!(column(&found, "EMPLOYEE_ID"), vec![ids[0].to_string()]);

    h.create(json!({"catalog_code": "25"})).await;
    admin.set_fault(routes::LICENSE, FaultSpec::errors(1.0, 500)).expect("valid");
    admin.reset();
    assert!(admin.tickets().is_empty());
    assert_eq!(admin.counters().tickets_created, 0);
    let (status, _) = h.get("employees/7").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.get("license").await;
    assert_eq!(status, StatusCode::OK, "reset clears faults");
}

#[tokio::test]
async fn counters_count_per_route_and_status() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    h.get(&format!("requests/{rfc}")).await;
    h.get("requests/I000000_000000").await;
    h.post("requests", json!({"requests": [{"catalog_code": "25", "urgency_id": 9}]})).await;
    h.http.get(h.url("requests")).send().await.expect("answered");
    let counters = h.sim.admin().counters();
    assert_eq!(counters.get(routes::CREATE_REQUEST, 201), 1);
    assert_eq!(counters.get(routes::CREATE_REQUEST, 590), 1);
    assert_eq!(counters.get(routes::GET_REQUEST, 200), 1);
    assert_eq!(counters.get(routes::GET_REQUEST, 404), 1);
    assert_eq!(counters.get(routes::LIST_REQUESTS, 401), 1);
    assert_eq!(counters.total(routes::GET_REQUEST), 2);
    assert_eq!(counters.tickets_created, 1);
}

#[tokio::test]
async fn the_admin_side_works_over_http() {
    let h = Harness::start().await;
    let (http, admin) = (&h.http, |p: &str| h.admin_url(p));
    let seeded: Value = http
        .post(admin("tickets"))
        .json(&json!({"catalog_code": "26", "title": "over http"}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    let rfc = seeded["rfc"].as_str().expect("rfc").to_string();
    let moved = http
        .put(admin(&format!("tickets/{rfc}/status")))
        .json(&json!({"kind": "canceled"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(h.ticket(&rfc).await["STATUS"]["STATUS_GUID"], CANCELED_GUID);
    let moved = http
        .put(admin(&format!("tickets/{rfc}/status")))
        .json(&json!({"guid": SOLVED_GUID}))
        .send()
        .await
        .expect("answered");
    assert_eq!(moved.status(), StatusCode::OK);

    let list: Value =
        http.get(admin("tickets")).send().await.expect("answered").json().await.expect("json");
    assert_eq!(list[0]["rfc"], rfc.as_str());
    let fault = json!({"route": "GET /license", "fault": {"error_rate": 1.0, "error_status": 429, "retry_after_secs": 7}});
    assert_eq!(
        http.put(admin("faults")).json(&fault).send().await.expect("answered").status(),
        StatusCode::NO_CONTENT
    );
    let limited = http
        .get(h.url("license"))
        .basic_auth("agent", Some("secret"))
        .send()
        .await
        .expect("answered");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "7");
    let bad = json!({"route": "GET /nowhere", "fault": {}});
    assert_eq!(
        http.put(admin("faults")).json(&bad).send().await.expect("answered").status(),
        StatusCode::BAD_REQUEST
    );
    http.delete(admin("faults")).send().await.expect("answered");
    let counters: Value =
        http.get(admin("counters")).send().await.expect("answered").json().await.expect("json");
    assert_eq!(counters["requests"]["GET /license"]["429"], 1);

    let employees = json!([{"id": 9, "last_name": "Nine, Employee", "login": "nine"}]);
    let seeded = http.post(admin("employees")).json(&employees).send().await.expect("answered");
    assert_eq!(seeded.status(), StatusCode::CREATED);
    assert_eq!(h.get("employees/9").await.1["LOGIN"], "nine");
    assert_eq!(
        http.delete(admin(&format!("tickets/{rfc}"))).send().await.expect("answered").status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        http.get(admin(&format!("tickets/{rfc}"))).send().await.expect("answered").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.post(admin("reset")).send().await.expect("answered").status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.get("license").await.0, StatusCode::OK);
}
