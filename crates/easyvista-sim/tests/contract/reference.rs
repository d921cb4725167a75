//! Reference tables: `LAST_UPDATE` on every row, and configured GUIDs shown canonically.

use easyvista_sim::{SimulatorConfig, StatusKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::{Harness, records};

/// `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM`.
fn is_stamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 29
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && (b[23] == b'+' || b[23] == b'-')
        && digits(24..26)
        && b[26] == b':'
        && digits(27..29)
}

#[test]
fn the_stamp_check_refuses_other_shapes() {
    assert!(is_stamp("2024-01-01T09:00:00.000+01:00"));
    assert!(!is_stamp("2024-01-01T09:00:00+01:00"));
    assert!(!is_stamp("2024-01-01T09:00:00.000Z"));
    assert!(!is_stamp("2024-01-01 09:00:00.000+01:00"));
    assert!(!is_stamp(""));
}

const SEED_STAMP: &str = "2024-01-01T09:00:00.000+01:00";

fn stamp_of(record: &Value) -> &str {
    record["LAST_UPDATE"].as_str().unwrap_or("<missing>")
}

#[tokio::test]
async fn every_reference_row_has_a_last_update_with_millis_and_offset() {
    let h = Harness::start().await;
    let lists = [
        ("locations", 4),
        ("departments", 4),
        ("catalog-requests", 7),
        ("status", 6),
        ("urgency", 4),
        ("urgencies", 4),
        ("internalqueries?queryguid={9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D}", 3),
    ];
    for (path, rows) in lists {
        let (status, body) = h.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(records(&body).len(), rows, "{path}");
        for record in records(&body) {
            let stamp = stamp_of(record);
            assert!(is_stamp(stamp), "{path}: {stamp}");
            assert_eq!(stamp, SEED_STAMP, "{path}");
        }
    }
    for path in ["locations/1", "departments/2", "catalog-requests/4701", "status/8"] {
        let (status, body) = h.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(stamp_of(&body), SEED_STAMP, "{path}");
    }
    // The same seed stamp as the seeded employees: nothing in the seed data is newer.
    let (_, employee) = h.get("employees/2").await;
    assert_eq!(stamp_of(&employee), SEED_STAMP);
}

#[tokio::test]
async fn reference_rows_answer_last_update_ranges_and_projections() {
    let h = Harness::start().await;
    let around = "last_update:(2024-01-01T08:59:59.999%2B01:00;2024-01-01T09:00:00.000%2B01:00)";
    let after = "last_update:(2024-01-01T09:00:00.001%2B01:00;)";
    for list in ["locations", "departments", "catalog-requests", "status", "urgency"] {
        let (_, inside) = h.get(&format!("{list}?search={around}")).await;
        assert_ne!(inside["total_record_count"], "0", "{list}");
        let (_, all) = h.get(list).await;
        assert_eq!(inside["total_record_count"], all["total_record_count"], "{list}");
        let (_, later) = h.get(&format!("{list}?search={after}")).await;
        assert_eq!(later["total_record_count"], "0", "{list}: {later}");
    }
    let (_, projected) = h.get("locations?fields=location_code,last_update").await;
    for record in records(&projected) {
        assert_eq!(stamp_of(record), SEED_STAMP);
        assert!(record.get("CITY").is_none(), "{record}");
    }
}

#[tokio::test]
async fn internal_query_rows_keep_a_configured_last_update() {
    let mut config = SimulatorConfig::default();
    config.internal_queries[0].rows[1]
        .push(("last_update".to_string(), "2025-06-01T12:00:00.123+02:00".to_string()));
    let h = Harness::with(config).await;
    let (_, body) = h.get("internalqueries?queryguid={9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D}").await;
    let stamps: Vec<&str> = records(&body).iter().map(stamp_of).collect();
    assert_eq!(stamps, [SEED_STAMP, "2025-06-01T12:00:00.123+02:00", SEED_STAMP]);
}

/// Configured in lower case or without braces, a GUID still comes out as `{UPPER-CASE}`.
#[tokio::test]
async fn configured_status_guids_are_shown_upper_case_in_braces() {
    let mut config = SimulatorConfig::default();
    let written = [
        (StatusKind::InProgress, "5b1a3e6c-7d2f-4a8b-9c0d-1e2f3a4b5c6d"),
        (StatusKind::Solved, " {dc97dd1d-0f35-4153-B0E1-0f2e0155365d} "),
        (StatusKind::Closed, "C3D9DFA7-7A21-46C2-B3A3-8BC50C9FF4F3"),
        (StatusKind::Canceled, "{aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee}"),
    ];
    for (kind, guid) in written {
        let status = config.statuses.iter_mut().find(|s| s.kind == kind).expect("configured");
        status.guid = guid.to_string();
    }
    for entry in &mut config.catalog {
        entry.guid = entry.guid.trim_matches(|c| c == '{' || c == '}').to_ascii_lowercase();
    }
    let h = Harness::with(config).await;
    let expected = [
        ("2", "{5B1A3E6C-7D2F-4A8B-9C0D-1E2F3A4B5C6D}"),
        ("5", "{B7C8D9E0-1F2A-4B3C-8D4E-5F6A7B8C9D0E}"),
        ("7", "{DC97DD1D-0F35-4153-B0E1-0F2E0155365D}"),
        ("8", "{C3D9DFA7-7A21-46C2-B3A3-8BC50C9FF4F3}"),
        ("9", "{AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE}"),
        ("10", "{F9D3B7A5-2E6C-4A1D-B8F4-7C3E9A5D1B62}"),
    ];
    let (_, list) = h.get("status?fields=status_id,status_guid").await;
    let shown: Vec<(String, String)> = records(&list)
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("<missing>").to_string();
            (text("STATUS_ID"), text("STATUS_GUID"))
        })
        .collect();
    let expected_owned: Vec<(String, String)> =
        expected.iter().map(|(id, g)| ((*id).to_string(), (*g).to_string())).collect();
    assert_eq!(shown, expected_owned);
    assert_eq!(h.get("status/9").await.1["STATUS_GUID"], expected[4].1);

    // New tickets, moved tickets and admin snapshots show the canonical form too.
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    assert_eq!(h.ticket(&rfc).await["STATUS"]["STATUS_GUID"], expected[0].1);
    let moved = h.sim.admin().set_ticket_status(&rfc, StatusKind::Canceled).expect("moves");
    assert_eq!(moved.status_guid, expected[4].1);
    assert_eq!(h.ticket(&rfc).await["STATUS"]["STATUS_GUID"], expected[4].1);
    let other = h.create(json!({"catalog_code": "25"})).await;
    let close = json!({"closed": {"status_guid": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"}});
    let (status, body) = h.put(&format!("requests/{other}"), close).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h.ticket(&other).await["STATUS"]["STATUS_GUID"], expected[4].1);
    let (_, catalog) = h.get("catalog-requests/4701").await;
    assert_eq!(catalog["CATALOG_GUID"], "{2B4D6F8A-0C2E-4F6A-8B1D-4F6A8C0E2B4D}");
    let by_guid = h.create(json!({"catalog_guid": "{2B4D6F8A-0C2E-4F6A-8B1D-4F6A8C0E2B4D}"})).await;
    assert!(by_guid.starts_with('S'), "{by_guid}");
}
