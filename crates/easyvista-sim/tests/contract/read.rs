//! `GET /requests/{rfc}` and its memo sub-resources.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::Harness;

fn is_stamp(s: &str) -> bool {
    // YYYY-MM-DDTHH:MM:SS.mmm+HH:MM
    let b = s.as_bytes();
    s.len() == 29
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[20..23].iter().all(u8::is_ascii_digit)
        && (b[23] == b'+' || b[23] == b'-')
        && b[26] == b':'
}

fn every_leaf_is_a_string(value: &Value, path: &str) {
    match value {
        Value::String(_) => {}
        Value::Object(map) => {
            map.iter().for_each(|(k, v)| every_leaf_is_a_string(v, &format!("{path}.{k}")))
        }
        other => panic!("{path} is {other}, not a string"),
    }
}

#[tokio::test]
async fn the_full_record_has_strings_everywhere_and_nested_objects() {
    let h = Harness::start().await;
    let rfc = h
        .create(
            json!({"catalog_code": "42", "title": "Printer", "urgency_id": 2, "recipient_id": 2}),
        )
        .await;
    let t = h.ticket(&rfc).await;
    every_leaf_is_a_string(&t, "ticket");
    assert_eq!(t["RFC_NUMBER"], rfc.as_str());
    assert_eq!(t["URGENCY_ID"], "2");
    assert_eq!(t["END_DATE_UT"], "");
    assert_eq!(t["OWNER_ID"], "");
    for stamp in ["LAST_UPDATE", "CREATION_DATE_UT", "SUBMIT_DATE_UT", "MAX_RESOLUTION_DATE_UT"] {
        assert!(t[stamp].as_str().is_some_and(is_stamp), "{stamp}: {}", t[stamp]);
    }
    assert_eq!(t["STATUS"]["STATUS_ID"], "2");
    assert_eq!(t["STATUS"]["STATUS_EN"], "In Progress");
    let guid = t["STATUS"]["STATUS_GUID"].as_str().expect("guid");
    assert!(guid.starts_with('{') && guid.ends_with('}') && guid == guid.to_uppercase(), "{guid}");
    assert!(t["STATUS"]["HREF"].as_str().is_some_and(|h| h.ends_with("/status/2")));
    assert_eq!(t["RECIPIENT"]["LAST_NAME"], "Morley, Gaby");
    assert_eq!(t["REQUESTOR"]["EMPLOYEE_ID"], "1");
    assert_eq!(t["CATALOG_REQUEST"]["CODE"], "42");
    assert_eq!(t["CATALOG_REQUEST"]["TITLE_EN"], "Account problem");
    assert_eq!(t["LOCATION"]["LOCATION_PATH"], "Europe/France/Paris");
    assert_eq!(t["DEPARTMENT"]["DEPARTMENT_PATH"], "IT/Support");
    assert!(t["KNOWNERROR"].is_object());
    let comment = t["COMMENT"].as_object().expect("memo is an object");
    assert_eq!(comment.len(), 1);
    assert_eq!(
        t["COMMENT"]["HREF"],
        format!("{}requests/{rfc}/comment", h.sim.base_url()).as_str()
    );
    assert_eq!(
        t["DESCRIPTION"]["HREF"],
        format!("{}requests/{rfc}/description", h.sim.base_url()).as_str()
    );
}

#[tokio::test]
async fn memo_sub_resources_carry_the_text_and_links() {
    let h = Harness::start().await;
    let rfc = h
        .create(
            json!({"catalog_code": "25", "description": "Hébergement\nligne 2", "comment": "c1"}),
        )
        .await;
    let (status, memo) = h.get(&format!("requests/{rfc}/description")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(memo["DESCRIPTION"], "Hébergement\nligne 2");
    assert_eq!(memo["PARENT_HREF"], format!("{}requests/{rfc}", h.sim.base_url()).as_str());
    assert_eq!(memo["HREF"], format!("{}requests/{rfc}/description", h.sim.base_url()).as_str());
    let (_, comment) = h.get(&format!("requests/{rfc}/comment")).await;
    assert_eq!(comment["COMMENT"], "c1");
    let (status, _) = h.get(&format!("requests/{rfc}/not_a_memo")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Quirk 31: "Resource not found" in the body.
#[tokio::test]
async fn an_unknown_rfc_is_404_resource_not_found() {
    let h = Harness::start().await;
    for path in ["requests/I000000_000000", "requests/I000000_000000/comment"] {
        let (status, body) = h.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({"error": "Resource not found"}));
    }
}

#[tokio::test]
async fn the_language_suffix_is_configurable() {
    let config = easyvista_sim::SimulatorConfig { language: "FR".into(), ..Default::default() };
    let h = Harness::with(config).await;
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    let t = h.ticket(&rfc).await;
    assert!(t["STATUS"]["STATUS_FR"].is_string());
    assert!(t["STATUS"].get("STATUS_EN").is_none());
    assert!(t["LOCATION"]["LOCATION_FR"].is_string());
}

#[tokio::test]
async fn fields_narrows_the_item_get() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25", "external_reference": "ord-7"})).await;
    let t = h.ticket(&format!("{rfc}?fields=external_reference,status.status_guid")).await;
    assert_eq!(t["EXTERNAL_REFERENCE"], "ord-7");
    assert!(t["STATUS"]["STATUS_GUID"].is_string());
    assert!(t.get("TITLE").is_none());
    assert_eq!(t["RFC_NUMBER"], rfc.as_str());
}
