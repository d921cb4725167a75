//! `POST /requests`: what a create needs, how it is checked, and what it answers.

use easyvista_sim::{Realism, SimulatorConfig};
use reqwest::StatusCode;
use serde_json::json;

use super::common::{Harness, rejection, rfc_of};

fn is_rfc(rfc: &str, letter: char) -> bool {
    let bytes = rfc.as_bytes();
    rfc.len() == 14
        && rfc.starts_with(letter)
        && bytes[1..7].iter().all(u8::is_ascii_digit)
        && bytes[7] == b'_'
        && bytes[8..].iter().all(u8::is_ascii_digit)
}

/// Quirk 10: 201 with only an HREF; the RFC number is its last segment.
#[tokio::test]
async fn create_answers_201_with_href_only() {
    let h = Harness::start().await;
    let (status, body) =
        h.post("requests", json!({"requests": [{"catalog_code": "25", "title": "t"}]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let object = body.as_object().expect("object");
    assert_eq!(object.keys().collect::<Vec<_>>(), vec!["HREF"]);
    let href = body["HREF"].as_str().expect("string");
    assert!(href.starts_with(&format!("{}requests/", h.sim.base_url())), "{href}");
    assert!(is_rfc(&rfc_of(&body), 'S'), "{href}");
}

#[tokio::test]
async fn the_catalog_type_picks_the_letter() {
    let h = Harness::start().await;
    let incident = h.create(json!({"catalog_code": "42"})).await;
    let request = h.create(json!({"catalog_guid": "2B4D6F8A-0C2E-4F6A-8B1D-4F6A8C0E2B4D"})).await;
    assert!(is_rfc(&incident, 'I'), "{incident}");
    assert!(is_rfc(&request, 'S'), "{request}");
    assert_ne!(incident[8..], request[8..], "the counter moves on");
}

#[tokio::test]
async fn keys_are_case_insensitive_and_unknown_keys_are_ignored() {
    let h = Harness::start().await;
    let rfc = h
        .create(json!({
            "Catalog_Code": "25", "TITLE": "Mixed", "Urgency_ID": "2", "Recipient_Mail": "GMORLEY@example.test",
            "requester_name": "ignored (quirk 13)", "e_unknown": "x",
        }))
        .await;
    let ticket = h.ticket(&rfc).await;
    assert_eq!(ticket["TITLE"], "Mixed");
    assert_eq!(ticket["URGENCY_ID"], "2");
    assert_eq!(ticket["RECIPIENT"]["E_MAIL"], "gmorley@example.test");
}

/// Quirk 17: only the first element is created.
#[tokio::test]
async fn only_the_first_item_is_created() {
    let h = Harness::start().await;
    let body = json!({"requests": [{"catalog_code": "25", "title": "one"}, {"catalog_code": "25", "title": "two"}]});
    let (status, _) = h.post("requests", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let tickets = h.sim.admin().tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].title, "one");
}

#[tokio::test]
async fn a_catalog_is_required_and_a_wrong_guid_stops_the_create() {
    let h = Harness::start().await;
    let (status, body) = h.post("requests", json!({"requests": [{"title": "no catalog"}]})).await;
    assert_eq!(status.as_u16(), 590, "{body}");
    let wrong_guid = json!({"requests": [{"catalog_guid": "{00000000-0000-0000-0000-000000000000}", "catalog_code": "25"}]});
    let (status, _) = h.post("requests", wrong_guid).await;
    assert_eq!(status.as_u16(), 590);
    let braces_and_case =
        json!({"requests": [{"catalog_guid": "{61e17eff-5ed7-4b20-b26f-4fac57555ebc}"}]});
    let (status, _) = h.post("requests", braces_and_case).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(h.sim.admin().tickets().len(), 1);
}

/// Quirk 11: a bad urgency or impact is a foreign-key violation answered 590.
#[tokio::test]
async fn bad_reference_ids_answer_590_with_the_fk_body() {
    let h = Harness::start().await;
    for (field, constraint) in [
        ("urgency_id", "FK_SD_REQUEST_SD_URGENCY"),
        ("impact_id", "FK_SD_REQUEST_SD_IMPACT"),
        ("severity_id", "FK_SD_REQUEST_SD_SEVERITY"),
    ] {
        let (status, body) =
            h.post("requests", json!({"requests": [{"catalog_code": "25", field: "99"}]})).await;
        assert_eq!(status.as_u16(), 590);
        assert!(body["correlationId"].as_str().is_some_and(|c| !c.is_empty()));
        assert_eq!(body["dataError"], "");
        assert_eq!(body["exception"], json!([]));
        let error = rejection(&body);
        assert!(error.contains(constraint), "{error}");
        assert!(error.contains("EVO_DATA50004"), "{error}");
    }
    assert!(h.sim.admin().tickets().is_empty());
}

/// Quirk 18: an unknown recipient is 406.
#[tokio::test]
async fn recipients_are_found_in_priority_order_and_unknown_ones_are_406() {
    let h = Harness::start().await;
    let by_id = h.create(json!({"catalog_code": "25", "recipient_id": "3", "recipient_mail": "gmorley@example.test"})).await;
    assert_eq!(h.ticket(&by_id).await["RECIPIENT_ID"], "3");
    let by_identification =
        h.create(json!({"catalog_code": "25", "recipient_identification": "000104"})).await;
    assert_eq!(h.ticket(&by_identification).await["RECIPIENT_ID"], "4");
    let by_name =
        h.create(json!({"catalog_code": "25", "recipient_name": "Morley, Frédérique"})).await;
    assert_eq!(h.ticket(&by_name).await["RECIPIENT_ID"], "5");
    let synthetic = h.create(json!({"catalog_code": "25", "recipient_mail": "employee0000042@synthetic.example.test"})).await;
    assert_eq!(h.ticket(&synthetic).await["RECIPIENT_ID"], "100042");
    let (status, _) = h
        .post(
            "requests",
            json!({"requests": [{"catalog_code": "25", "recipient_mail": "who@nowhere.test"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let (status, _) = h
        .post("requests", json!({"requests": [{"catalog_code": "25", "recipient_id": "3999999"}]}))
        .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

/// After `recipient_id`, identification beats mail, and mail beats name; the first key given
/// decides, so an unknown identification is 406 even beside a known mail.
#[tokio::test]
async fn recipient_identification_beats_mail_which_beats_name() {
    let h = Harness::start().await;
    let all_three = h
        .create(json!({
            "catalog_code": "25",
            "recipient_name": "Nguyen, Linh",
            "recipient_mail": "gmorley@example.test",
            "recipient_identification": "000104",
        }))
        .await;
    assert_eq!(h.ticket(&all_three).await["RECIPIENT_ID"], "4");
    let mail_and_name = h
        .create(json!({
            "catalog_code": "25",
            "recipient_name": "Nguyen, Linh",
            "recipient_mail": "gmorley@example.test",
        }))
        .await;
    assert_eq!(h.ticket(&mail_and_name).await["RECIPIENT_ID"], "2");
    let name_only = h.create(json!({"catalog_code": "25", "recipient_name": "Nguyen, Linh"})).await;
    assert_eq!(h.ticket(&name_only).await["RECIPIENT_ID"], "6");
    let (status, _) = h
        .post(
            "requests",
            json!({"requests": [{
                "catalog_code": "25",
                "recipient_identification": "999999",
                "recipient_mail": "gmorley@example.test",
            }]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

/// Quirk 16: 50 characters fit, 51 are refused.
#[tokio::test]
async fn external_reference_is_capped_at_50_characters() {
    let h = Harness::start().await;
    let fits = "r".repeat(50);
    let rfc = h.create(json!({"catalog_code": "25", "external_reference": fits})).await;
    assert_eq!(h.ticket(&rfc).await["EXTERNAL_REFERENCE"], fits);
    let (status, body) = h
        .post(
            "requests",
            json!({"requests": [{"catalog_code": "25", "external_reference": "r".repeat(51)}]}),
        )
        .await;
    assert_eq!(status.as_u16(), 590);
    assert!(rejection(&body).contains("EXTERNAL_REFERENCE"));
}

/// Quirk 15: some catalogs need classification, and say so with a parser message naming no field.
#[tokio::test]
async fn an_under_specified_create_on_a_demanding_catalog_is_590() {
    let h = Harness::start().await;
    let (status, body) =
        h.post("requests", json!({"requests": [{"catalog_code": "47", "title": "laptop"}]})).await;
    assert_eq!(status.as_u16(), 590);
    let error = rejection(&body);
    assert!(!error.to_ascii_lowercase().contains("urgency"), "{error}");
    let full = json!({"catalog_code": "47", "urgency_id": 1, "impact_id": 2, "department_id": 3});
    let rfc = h.create(full).await;
    assert_eq!(h.ticket(&rfc).await["DEPARTMENT_ID"], "3");
}

#[tokio::test]
async fn the_requestor_is_the_caller_unless_one_is_named() {
    let h = Harness::start().await;
    let default = h.create(json!({"catalog_code": "25"})).await;
    assert_eq!(h.ticket(&default).await["REQUESTOR"]["EMPLOYEE_ID"], "1");
    let named =
        h.create(json!({"catalog_code": "25", "requestor_mail": "sseagal@example.test"})).await;
    assert_eq!(h.ticket(&named).await["REQUESTOR_ID"], "3");
}

/// Quirk 19: on some instances `requestor_*` is ignored in favour of the authenticated user.
#[tokio::test]
async fn the_requestor_can_be_forced_to_the_caller() {
    let realism = Realism { requestor_is_caller: true, ..Realism::default() };
    let h = Harness::with(SimulatorConfig { realism, ..SimulatorConfig::default() }).await;
    let rfc =
        h.create(json!({"catalog_code": "25", "requestor_mail": "sseagal@example.test"})).await;
    assert_eq!(h.ticket(&rfc).await["REQUESTOR_ID"], "1");
}

/// Quirk 20: the description lands in DESCRIPTION, or in COMMENT on instances configured so.
#[tokio::test]
async fn the_description_memo_depends_on_the_instance() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25", "description": "<p>Grant Payroll</p>"})).await;
    let (_, memo) = h.get(&format!("requests/{rfc}/description")).await;
    assert_eq!(memo["DESCRIPTION"], "<p>Grant Payroll</p>");

    let realism = Realism { description_in_comment: true, ..Realism::default() };
    let h = Harness::with(SimulatorConfig { realism, ..SimulatorConfig::default() }).await;
    let rfc = h.create(json!({"catalog_code": "25", "description": "body"})).await;
    let (_, comment) = h.get(&format!("requests/{rfc}/comment")).await;
    let (_, description) = h.get(&format!("requests/{rfc}/description")).await;
    assert_eq!(comment["COMMENT"], "body");
    assert_eq!(description["DESCRIPTION"], "");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_without_a_ticket() {
    let h = Harness::start().await;
    let response = h
        .http
        .post(h.url("requests"))
        .basic_auth("agent", Some("secret"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answered");
    assert!(response.status().is_client_error());
    assert!(h.sim.admin().tickets().is_empty());
}
