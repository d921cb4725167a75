//! The list machinery shared by every collection: paging, envelope, sort, projection, search.

use easyvista_sim::{Realism, SimulatorConfig};
use reqwest::StatusCode;
use serde_json::json;

use super::common::{Harness, column, records, rejection};

fn with_employees(n: u64) -> SimulatorConfig {
    SimulatorConfig { synthetic_employees: n, ..SimulatorConfig::default() }
}

/// Quirks 1 and 9: 100 rows unless `max_rows` says otherwise; counts are strings.
#[tokio::test]
async fn lists_default_to_100_rows_with_string_counts_and_next_links() {
    let h = Harness::with(with_employees(250)).await;
    let (status, body) = h.get("employees").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(records(&body).len(), 100);
    assert_eq!(body["record_count"], "100");
    assert_eq!(body["total_record_count"], "256");
    assert_eq!(body["HREF"], h.url("employees").as_str());
    let next = body["@next"].as_str().expect("more pages follow");
    assert!(next.contains("offset=100") && next.contains("max_rows=100"), "{next}");
    assert!(body.get("@previous").is_none());

    let (_, last) = h.get("employees?max_rows=100&offset=200").await;
    assert_eq!(last["record_count"], "56");
    assert!(last.get("@next").is_none());
    assert!(last["@previous"].is_string());
}

#[tokio::test]
async fn following_next_visits_every_row_once() {
    let h = Harness::with(with_employees(45)).await;
    let mut url = h.url("employees?max_rows=7");
    let mut ids = Vec::new();
    loop {
        let body: serde_json::Value = h
            .http
            .get(&url)
            .basic_auth("agent", Some("secret"))
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("json");
        ids.extend(column(&body, "EMPLOYEE_ID"));
        match body["@next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 51);
    assert_eq!(unique.len(), 51, "no row twice");
}

#[tokio::test]
async fn an_empty_result_counts_zero() {
    let h = Harness::start().await;
    let (status, body) = h.get(r#"requests?search=rfc_number:"I000000_000000""#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["record_count"], "0");
    assert_eq!(body["total_record_count"], "0");
    assert_eq!(body["records"], json!([]));
}

/// Quirk 7: `+desc` works, other spellings are ignored silently.
#[tokio::test]
async fn sort_accepts_plus_asc_desc_and_ignores_other_spellings() {
    let h = Harness::start().await;
    let (_, desc) = h.get("employees?max_rows=3&sort=employee_id+desc").await;
    assert_eq!(column(&desc, "EMPLOYEE_ID"), vec!["100999", "100998", "100997"]);
    let (_, two_keys) = h.get("employees?max_rows=3&sort=location_id+desc,employee_id+asc").await;
    assert_eq!(column(&two_keys, "LOCATION_ID"), vec!["4", "4", "4"]);
    let ids = column(&two_keys, "EMPLOYEE_ID");
    assert!(ids[0].parse::<u64>().expect("id") < ids[1].parse::<u64>().expect("id"));
    for ignored in ["employee_id:desc", "-employee_id", "desc(employee_id)"] {
        let (status, body) = h.get(&format!("employees?max_rows=2&sort={ignored}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(column(&body, "EMPLOYEE_ID"), vec!["1", "2"], "{ignored}");
    }
}

#[tokio::test]
async fn fields_projects_with_dotted_names() {
    let h = Harness::start().await;
    let (_, body) =
        h.get("employees?max_rows=1&fields=last_name,location.location_code,nonexistent").await;
    let row = &records(&body)[0];
    let keys: Vec<&String> = row.as_object().expect("object").keys().collect();
    assert_eq!(keys, vec!["HREF", "LAST_NAME", "LOCATION"]);
    assert_eq!(row["LOCATION"], json!({"LOCATION_CODE": "PAR"}));
}

#[tokio::test]
async fn the_request_list_shows_the_extract_and_always_the_rfc() {
    let h = Harness::start().await;
    h.create(json!({"catalog_code": "25", "external_reference": "x"})).await;
    let (_, body) = h.get("requests").await;
    let row = &records(&body)[0];
    assert!(row["RFC_NUMBER"].is_string() && row["HREF"].is_string() && row["STATUS"].is_object());
    assert!(row.get("STATUS_ID").is_none(), "the extract has no top-level STATUS_ID");
    let (_, body) = h.get("requests?fields=status_id,external_reference").await;
    let row = &records(&body)[0];
    assert_eq!(row["STATUS_ID"], "2");
    assert_eq!(row["EXTERNAL_REFERENCE"], "x");
    assert!(row["RFC_NUMBER"].is_string());
}

#[tokio::test]
async fn search_equality_or_on_one_field_and_and_across_fields() {
    let h = Harness::start().await;
    let (_, one) = h.get(r#"employees?search=e_mail:"GMORLEY@example.test""#).await;
    assert_eq!(column(&one, "EMPLOYEE_ID"), vec!["2"]);
    let (_, either) =
        h.get("employees?search=employee_id:2,employee_id:3&fields=employee_id").await;
    assert_eq!(column(&either, "EMPLOYEE_ID"), vec!["2", "3"]);
    let (_, both) = h
        .get("employees?search=location_id:1,department_id:2&max_rows=1000&fields=employee_id")
        .await;
    let ids = column(&both, "EMPLOYEE_ID");
    assert!(
        ids.contains(&"2".to_string())
            && ids.contains(&"6".to_string())
            && !ids.contains(&"3".to_string())
    );
    assert!(ids.len() < 1006);
}

/// Quirk 6: `~` needs explicit wildcards.
#[tokio::test]
async fn like_needs_wildcards_and_negations_work() {
    let h = Harness::start().await;
    let (_, bare) = h.get(r#"employees?search=last_name~"Morley""#).await;
    assert_eq!(bare["total_record_count"], "0");
    let (_, wild) = h.get(r#"employees?search=last_name~"Morley*""#).await;
    assert_eq!(column(&wild, "EMPLOYEE_ID"), vec!["2", "5"]);
    let (_, not_like) = h.get(r#"employees?search=last_name!~"Employee*",employee_id!"1""#).await;
    assert_eq!(column(&not_like, "EMPLOYEE_ID"), vec!["2", "3", "4", "5", "6"]);
    let (_, not_equal) = h.get(r#"locations?search=location_code:!"PAR""#).await;
    assert_eq!(column(&not_equal, "LOCATION_CODE"), vec!["LYS", "NYC", "LON"]);
}

#[tokio::test]
async fn is_null_and_is_not_null() {
    let h = Harness::start().await;
    let (_, null) =
        h.get("employees?search=manager_id:is_null,last_name~\"*Synthetic\"&max_rows=1000").await;
    assert_eq!(null["total_record_count"], "20", "one manager per 50 synthetic employees");
    let (_, not_null) = h.get("employees?search=end_of_contract:is_not_null&max_rows=1000").await;
    assert_eq!(not_null["total_record_count"], "10");
}

/// Quirk 25 and §4.6: ranges need millisecond precision with an offset; the lower bound is
/// inclusive; a bound without offset is read as UTC.
#[tokio::test]
async fn range_search_on_last_update() {
    let h = Harness::start().await;
    let first = h.create(json!({"catalog_code": "25"})).await;
    let second = h.create(json!({"catalog_code": "25"})).await;
    let stamp = h.ticket(&second).await["LAST_UPDATE"].as_str().expect("stamp").to_string();
    let (status, body) =
        h.get(&format!("requests?search=last_update:({};)", urlencode(&stamp))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(column(&body, "RFC_NUMBER"), vec![second.clone()]);
    let (_, before) = h.get(&format!("requests?search=last_update:(;{})", urlencode(&stamp))).await;
    assert_eq!(column(&before, "RFC_NUMBER"), vec![first, second]);

    let seconds_only = format!("{}{}", &stamp[..19], &stamp[23..]);
    let (status, body) =
        h.get(&format!("requests?search=last_update:({};)", urlencode(&seconds_only))).await;
    assert_eq!(status.as_u16(), 590, "{body}");

    // The same wall-clock digits without an offset are read as UTC, an hour later than +01:00.
    let naive = &stamp[..23];
    let (_, shifted) = h.get(&format!("requests?search=last_update:({naive};)")).await;
    assert_eq!(shifted["total_record_count"], "0");
}

#[tokio::test]
async fn relative_dates_are_understood() {
    let h = Harness::start().await;
    h.create(json!({"catalog_code": "25"})).await;
    let (_, today) = h.get("requests?search=submit_date_ut:today").await;
    assert_eq!(today["total_record_count"], "1");
    let (_, last_year) = h.get("requests?search=submit_date_ut:last_year").await;
    assert_eq!(last_year["total_record_count"], "0");
}

#[tokio::test]
async fn a_type_mismatch_is_590() {
    let h = Harness::start().await;
    h.create(json!({"catalog_code": "25"})).await;
    let (status, body) = h.get(r#"requests?search=status_id:"Open""#).await;
    assert_eq!(status.as_u16(), 590);
    assert!(rejection(&body).contains("Open"));
}

/// Quirk 5: what cannot be parsed is ignored and the whole table comes back.
#[tokio::test]
async fn an_unparseable_search_returns_the_whole_table_unless_strict() {
    let h = Harness::start().await;
    for bad in [r#"last_name:"unterminated"#, "garbage", "no_such_field:1"] {
        let (status, body) = h.get(&format!("locations?search={}", urlencode(bad))).await;
        assert_eq!(status, StatusCode::OK, "{bad}");
        assert_eq!(body["total_record_count"], "4", "{bad}");
    }
    let h =
        Harness::with(SimulatorConfig { strict_search: true, ..SimulatorConfig::default() }).await;
    for bad in [r#"last_name:"unterminated"#, "no_such_field:1"] {
        let (status, _) = h.get(&format!("locations?search={}", urlencode(bad))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// Quirks 2 and 3: path and nested filters are honoured by default and ignored by switches.
#[tokio::test]
async fn path_and_nested_filters_follow_the_realism_switches() {
    let h = Harness::start().await;
    let (_, path) = h.get(r#"locations?search=location_path:"Europe/France/Lyon""#).await;
    assert_eq!(column(&path, "LOCATION_CODE"), vec!["LYS"]);
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    h.create(json!({"catalog_code": "25"})).await;
    h.sim.admin().close_ticket(&rfc).expect("closes");
    let (_, nested) = h.get(r#"requests?search=status.status_en:"Closed""#).await;
    assert_eq!(column(&nested, "RFC_NUMBER"), vec![rfc.clone()]);
    let (_, by_id) = h.get("requests?search=status_id:8").await;
    assert_eq!(column(&by_id, "RFC_NUMBER"), vec![rfc]);

    let realism =
        Realism { ignore_path_filters: true, ignore_nested_filters: true, ..Realism::default() };
    let h = Harness::with(SimulatorConfig { realism, ..SimulatorConfig::default() }).await;
    let (_, path) = h.get(r#"locations?search=location_path:"Europe/France/Lyon""#).await;
    assert_eq!(path["total_record_count"], "4");
    let rfc = h.create(json!({"catalog_code": "25"})).await;
    h.create(json!({"catalog_code": "25"})).await;
    h.sim.admin().close_ticket(&rfc).expect("closes");
    let (_, nested) = h.get(r#"requests?search=status.status_en:"Closed""#).await;
    assert_eq!(nested["total_record_count"], "2");
}

/// Quirk 4: the simulator does filter on the recipient's name (the real one may not).
#[tokio::test]
async fn requests_can_be_searched_by_recipient() {
    let h = Harness::start().await;
    h.create(json!({"catalog_code": "25", "recipient_id": 2})).await;
    let mine = h.create(json!({"catalog_code": "25", "recipient_id": 3})).await;
    let (_, body) = h.get(r#"requests?search=recipient.last_name:"Seagal, Steven""#).await;
    assert_eq!(column(&body, "RFC_NUMBER"), vec![mine]);
}

/// Quirks 28 and 30: `/urgency` and `/urgencies` both answer; the catalog GUID is only on the item.
#[tokio::test]
async fn every_reference_list_answers_with_the_envelope() {
    let h = Harness::start().await;
    for (resource, total) in [
        ("locations", "4"),
        ("departments", "4"),
        ("catalog-requests", "7"),
        ("status", "6"),
        ("urgency", "4"),
        ("urgencies", "4"),
    ] {
        let (status, body) = h.get(resource).await;
        assert_eq!(status, StatusCode::OK, "{resource}");
        assert_eq!(body["total_record_count"], total, "{resource}");
        assert!(records(&body).iter().all(|r| r["HREF"].is_string()), "{resource}");
    }
    let (_, catalog) = h.get(r#"catalog-requests?search=code:"42""#).await;
    let entry = &records(&catalog)[0];
    assert!(entry.get("CATALOG_GUID").is_none());
    let (_, item) =
        h.get(&format!("catalog-requests/{}", entry["SD_CATALOG_ID"].as_str().expect("id"))).await;
    assert_eq!(item["CATALOG_GUID"], "{61E17EFF-5ED7-4B20-B26F-4FAC57555EBC}");
    let (_, statuses) = h.get("status?search=status_id:8").await;
    assert_eq!(records(&statuses)[0]["STATUS_GUID"], "{C3D9DFA7-7A21-46C2-B3A3-8BC50C9FF4F3}");
    for item in ["locations/1", "departments/2", "status/7"] {
        let (status, body) = h.get(item).await;
        assert_eq!(status, StatusCode::OK, "{item}");
        assert!(body["HREF"].as_str().is_some_and(|h| h.ends_with(item)));
    }
    let (status, _) = h.get("locations/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_million_employees_page_and_are_found_by_key() {
    let h = Harness::with(with_employees(1_000_000)).await;
    let (_, tail) = h.get("employees?offset=1000000&max_rows=100").await;
    assert_eq!(tail["total_record_count"], "1000006");
    assert_eq!(tail["record_count"], "6");
    let (_, found) =
        h.get(r#"employees?search=e_mail:"employee0765432@synthetic.example.test""#).await;
    assert_eq!(column(&found, "EMPLOYEE_ID"), vec!["865432"]);
    let (_, by_login) = h.get(r#"employees?search=login:"emp0000005",location_id:2"#).await;
    assert_eq!(column(&by_login, "IDENTIFICATION"), vec!["SYN0000005"]);
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Some servers ignore `max_rows`: the whole rest of the table comes in one page, without `@next`.
#[tokio::test]
async fn a_server_ignoring_max_rows_answers_everything_from_the_offset() {
    let realism = Realism { ignore_max_rows: true, ..Realism::default() };
    let config =
        SimulatorConfig { realism, synthetic_employees: 300, ..SimulatorConfig::default() };
    let h = Harness::with(config).await;
    let (_, body) = h.get("employees?max_rows=10&offset=5").await;
    let total = body["total_record_count"].as_str().unwrap().parse::<usize>().unwrap();
    assert_eq!(body["records"].as_array().unwrap().len(), total - 5);
    assert_eq!(body["record_count"], (total - 5).to_string());
    assert!(body.get("@next").is_none());
    let (_, locations) = h.get("locations?max_rows=1").await;
    assert_eq!(locations["records"].as_array().unwrap().len(), 4);
}

/// Quirk 8: offset paging drifts while data changes. A change moves a row up a descending
/// `LAST_UPDATE` sort, so the next page repeats a row already seen; a deletion shifts the rows
/// after it, so the next page skips one.
#[tokio::test]
async fn offset_paging_drifts_when_data_changes() {
    let h = Harness::start().await;
    let mut rfcs = Vec::new();
    for i in 0..5 {
        rfcs.push(h.create(json!({"catalog_code": "25", "title": format!("t{i}")})).await);
    }
    let page = |offset: usize| {
        format!("requests?fields=rfc_number&sort=last_update+desc&max_rows=2&offset={offset}")
    };
    let (_, first) = h.get(&page(0)).await;
    assert_eq!(column(&first, "RFC_NUMBER"), vec![rfcs[4].clone(), rfcs[3].clone()]);
    let (status, _) = h.put(&format!("requests/{}", rfcs[1]), json!({"title": "changed"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, second) = h.get(&page(2)).await;
    // Without the change this page would be t2, t1; now t3 comes again and t1 is not on it.
    assert_eq!(column(&second, "RFC_NUMBER"), vec![rfcs[3].clone(), rfcs[2].clone()]);

    let plain = |offset: usize| format!("requests?fields=rfc_number&max_rows=2&offset={offset}");
    let (_, first) = h.get(&plain(0)).await;
    assert_eq!(column(&first, "RFC_NUMBER"), vec![rfcs[0].clone(), rfcs[1].clone()]);
    h.sim.admin().delete_ticket(&rfcs[0]).expect("deletes");
    let (_, second) = h.get(&plain(2)).await;
    // t2 moved up to the first page after it was read: nobody sees it.
    assert_eq!(column(&second, "RFC_NUMBER"), vec![rfcs[3].clone(), rfcs[4].clone()]);
}
