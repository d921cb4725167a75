//! `PUT /requests/{rfc}`: close, suspend, restart, flat updates, and `LAST_UPDATE`.

use easyvista_sim::{CLOSED_GUID, SOLVED_GUID, SUSPENDED_GUID};
use reqwest::StatusCode;
use serde_json::json;

use super::common::{Harness, column, rejection, rfc_of};

#[tokio::test]
async fn closing_sets_the_end_date_and_the_closed_meta_status() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    let (status, body) = h.put(&format!("requests/{rfc}"), json!({"closed": {}})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(rfc_of(&body), rfc);
    let t = h.ticket(&rfc).await;
    assert_eq!(t["STATUS"]["STATUS_GUID"], CLOSED_GUID);
    assert_eq!(t["STATUS_ID"], "8");
    assert_eq!(t["STATUS"]["STATUS_EN"], "Closed");
    let end = t["END_DATE_UT"].as_str().expect("string");
    assert!(!end.is_empty());
    assert_eq!(end, t["LAST_UPDATE"].as_str().expect("string"));
}

/// Quirk 22: closing with a non-final status still ends the workflow for good.
#[tokio::test]
async fn a_closed_ticket_refuses_every_later_write() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    let close = json!({"Closed": {"Status_GUID": SOLVED_GUID.trim_matches(|c| c == '{' || c == '}'), "comment": "done"}});
    let (status, _) = h.put(&format!("requests/{rfc}"), close).await;
    assert_eq!(status, StatusCode::CREATED);
    let t = h.ticket(&rfc).await;
    assert_eq!(t["STATUS"]["STATUS_GUID"], SOLVED_GUID);
    assert_ne!(t["END_DATE_UT"], "");
    let (_, comment) = h.get(&format!("requests/{rfc}/comment")).await;
    assert_eq!(comment["COMMENT"], "done");
    for body in [json!({"title": "again"}), json!({"closed": {}}), json!({"suspended": {}})] {
        let (status, answer) = h.put(&format!("requests/{rfc}"), body).await;
        assert_eq!(status.as_u16(), 590);
        assert!(rejection(&answer).contains("closed"));
    }
    assert_eq!(h.ticket(&rfc).await["LAST_UPDATE"], t["LAST_UPDATE"]);
}

/// Quirk 24: dates are written in the user's format; ISO is refused.
#[tokio::test]
async fn end_date_follows_the_user_date_format() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    let (status, body) = h
        .put(&format!("requests/{rfc}"), json!({"closed": {"end_date": "2025-01-02T10:00:00Z"}}))
        .await;
    assert_eq!(status.as_u16(), 590);
    assert!(rejection(&body).contains("Invalid End Date"));
    let (status, _) = h
        .put(&format!("requests/{rfc}"), json!({"closed": {"end_date": "01/02/2025 10:00:00"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_unknown_status_guid_on_close_is_590_and_changes_nothing() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    let (status, _) = h
        .put(
            &format!("requests/{rfc}"),
            json!({"closed": {"status_guid": "{00000000-0000-0000-0000-000000000001}"}}),
        )
        .await;
    assert_eq!(status.as_u16(), 590);
    assert_eq!(h.ticket(&rfc).await["END_DATE_UT"], "");
}

#[tokio::test]
async fn suspend_and_restart() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    let (status, _) = h
        .put(
            &format!("requests/{rfc}"),
            json!({"suspended": {"comment": "waiting", "done_by_id": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(h.ticket(&rfc).await["STATUS"]["STATUS_GUID"], SUSPENDED_GUID);
    let (status, _) = h.put(&format!("requests/{rfc}"), json!({"suspended": {}})).await;
    assert_eq!(status.as_u16(), 590, "already suspended");
    let (status, _) = h.put(&format!("requests/{rfc}"), json!({"restarted": {}})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(h.ticket(&rfc).await["STATUS_ID"], "2");
    let (status, _) = h.put(&format!("requests/{rfc}"), json!({"restarted": {}})).await;
    assert_eq!(status.as_u16(), 590, "not suspended");
}

/// Quirks 12 and 21: `status_id` is not a way to change status.
#[tokio::test]
async fn flat_updates_and_nothing_to_update() {
    let h = Harness::start().await;
    let rfc = h.create(json!({"catalog_code": "25", "title": "before"})).await;
    let (status, body) = h.put(&format!("requests/{rfc}"), json!({"status_id": 8})).await;
    assert_eq!(status.as_u16(), 590);
    assert!(rejection(&body).starts_with("Nothing to update"));
    let (status, _) = h.put(&format!("requests/{rfc}"), json!({"no_such_column": 1})).await;
    assert_eq!(status.as_u16(), 590);
    let (status, _) = h
        .put(&format!("requests/{rfc}"), json!({"Title": "after", "status_id": 8, "impact_id": 3}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let t = h.ticket(&rfc).await;
    assert_eq!(t["TITLE"], "after");
    assert_eq!(t["IMPACT_ID"], "3");
    assert_eq!(t["STATUS_ID"], "2", "status_id beside other fields is ignored");
    let (status, body) = h.put(&format!("requests/{rfc}"), json!({"urgency_id": 42})).await;
    assert_eq!(status.as_u16(), 590);
    assert_eq!(rejection(&body), "Urgency ID doesn't exist - ");
    let (status, _) = h.put("requests/I000000_000000", json!({"title": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn last_update_moves_forward_on_every_change_and_range_search_sees_it() {
    let h = Harness::start().await;
    // Tickets changed before the one under test lie outside each range below.
    let older = h.create(json!({"catalog_code": "25", "title": "older"})).await;
    let untouched = h.create(json!({"catalog_code": "25", "title": "untouched"})).await;
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    let stamp_of = |t: serde_json::Value| t["LAST_UPDATE"].as_str().expect("stamp").to_string();
    let since = |stamp: &str| {
        format!(
            "requests?search=last_update:({};)&fields=rfc_number&sort=rfc_number+asc",
            super::lists::urlencode(stamp)
        )
    };
    let mut seen = vec![stamp_of(h.ticket(&rfc).await)];
    for i in 0..5 {
        let (status, _) =
            h.put(&format!("requests/{older}"), json!({"title": format!("o{i}")})).await;
        assert_eq!(status, StatusCode::CREATED);
        let older_stamp = stamp_of(h.ticket(&older).await);
        let (status, _) =
            h.put(&format!("requests/{rfc}"), json!({"title": format!("t{i}")})).await;
        assert_eq!(status, StatusCode::CREATED);
        let stamp = stamp_of(h.ticket(&rfc).await);
        let before = seen.last().expect("one stamp at least");
        assert!(stamp.as_str() > before.as_str(), "{stamp} after {before}");
        assert!(stamp > older_stamp, "{stamp} after {older_stamp}");

        let (_, found) = h.get(&since(&stamp)).await;
        assert_eq!(found["total_record_count"], "1", "{found}");
        assert_eq!(column(&found, "RFC_NUMBER"), vec![rfc.clone()]);
        let (_, both) = h.get(&since(&older_stamp)).await;
        assert_eq!(column(&both, "RFC_NUMBER"), vec![older.clone(), rfc.clone()]);
        seen.push(stamp);
    }
    let (_, all) = h.get("requests").await;
    assert_eq!(all["total_record_count"], "3", "{untouched} is there, only outside the ranges");
}
