//! `/employees` reads and writes, `/internalqueries`.

use reqwest::StatusCode;
use serde_json::json;

use super::common::{Harness, column, records, rejection, rfc_of};

#[tokio::test]
async fn an_employee_reads_with_its_columns_and_nested_location() {
    let h = Harness::start().await;
    let (status, e) = h.get("employees/3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(e["LAST_NAME"], "Seagal, Steven");
    assert_eq!(e["IDENTIFICATION"], "000103");
    assert_eq!(e["LOGIN"], "sseagal");
    assert_eq!(e["LOCATION_ID"], "2");
    assert_eq!(e["LOCATION"]["LOCATION_CODE"], "LYS");
    assert_eq!(e["DEPARTMENT"]["DEPARTMENT_PATH"], "Human Resources");
    assert!(e["LAST_UPDATE"].as_str().is_some_and(|s| s.len() == 29));
    let (status, synthetic) = h.get("employees/100010").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(synthetic["IDENTIFICATION"], "SYN0000010");
    for missing in ["employees/99999999", "employees/abc"] {
        let (status, body) = h.get(missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "Resource not found");
    }
}

#[tokio::test]
async fn post_creates_an_employee_and_put_updates_one() {
    let h = Harness::start().await;
    let body = json!({"employees": [{
        "identification": "123458", "last_name": "Doe, Jane", "login": "jdoe", "e_mail": "jdoe@example.test",
        "begin_of_contract": "12/01/2020", "location_id": 3, "department_id": 4, "location_path": "ignored",
    }]});
    let (status, created) = h.post("employees", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = rfc_of(&created);
    let (_, e) = h.get(&format!("employees/{id}")).await;
    assert_eq!(e["LAST_NAME"], "Doe, Jane");
    assert_eq!(e["BEGIN_OF_CONTRACT"], "2020-12-01");
    assert_eq!(e["LOCATION"]["LOCATION_CODE"], "NYC");

    let before = e["LAST_UPDATE"].as_str().expect("stamp").to_string();
    let (status, _) =
        h.put(&format!("employees/{id}"), json!({"END_OF_CONTRACT": "12/31/2023"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, e) = h.get(&format!("employees/{id}")).await;
    assert_eq!(e["END_OF_CONTRACT"], "2023-12-31");
    assert!(e["LAST_UPDATE"].as_str().expect("stamp") > before.as_str());
    let (status, _) = h.put(&format!("employees/{id}"), json!({"END_OF_CONTRACT": ""})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, e) = h.get(&format!("employees/{id}")).await;
    assert_eq!(e["END_OF_CONTRACT"], "");
}

#[tokio::test]
async fn a_synthetic_employee_can_be_changed_and_found_by_its_new_value() {
    let h = Harness::start().await;
    let (status, _) = h.put("employees/100020", json!({"e_mail": "renamed@example.test"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, found) = h.get(r#"employees?search=e_mail:"renamed@example.test""#).await;
    assert_eq!(column(&found, "EMPLOYEE_ID"), vec!["100020"]);
    let (_, old) =
        h.get(r#"employees?search=e_mail:"employee0000020@synthetic.example.test""#).await;
    assert_eq!(old["total_record_count"], "0");
    let (_, page) = h.get("employees?max_rows=1&offset=26").await;
    assert_eq!(records(&page)[0]["E_MAIL"], "renamed@example.test");
}

#[tokio::test]
async fn employee_writes_are_checked() {
    let h = Harness::start().await;
    let (status, body) = h.put("employees/2", json!({"nonsense": 1})).await;
    assert_eq!(status.as_u16(), 590);
    assert!(rejection(&body).starts_with("Nothing to update"));
    let (status, body) = h.put("employees/2", json!({"location_id": 77})).await;
    assert_eq!(status.as_u16(), 590);
    assert!(rejection(&body).contains("FOREIGN KEY"));
    let (status, _) = h.put("employees/2", json!({"begin_of_contract": "2020-12-01"})).await;
    assert_eq!(status.as_u16(), 590, "ISO is not the user's date format");
    let (status, _) = h.put("employees/99999999", json!({"login": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn internal_queries_serve_configured_views() {
    let h = Harness::start().await;
    let (status, body) = h
        .get("internalqueries?queryguid=9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D&filterguid={F}&viewguid={V}&max_rows=2")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total_record_count"], "3");
    assert_eq!(column(&body, "E_NAME"), vec!["Payroll", "CRM"]);
    assert!(body["@next"].is_string());
    let (status, _) =
        h.get("internalqueries?queryguid={00000000-0000-0000-0000-000000000000}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A `LAST_UPDATE` range over a million synthetic employees finds the changed ones and the
/// synthetic rows inside it, and nothing else (synthetic employee i was last updated i ms after
/// the seed stamp).
#[tokio::test]
async fn last_update_ranges_over_a_million_employees_find_exactly_the_rows_inside() {
    let config = easyvista_sim::SimulatorConfig {
        synthetic_employees: 1_000_000,
        ..easyvista_sim::SimulatorConfig::default()
    };
    let h = Harness::with(config).await;
    let (status, _) = h.put("employees/2", json!({"login": "gaby"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = h.put("employees/765432", json!({"login": "changed"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, changed) = h.get("employees/765432").await;
    let stamp = changed["LAST_UPDATE"].as_str().expect("stamp").to_string();

    let (_, since) = h
        .get(&format!(
            "employees?search=last_update:({};)&fields=employee_id,login",
            super::lists::urlencode(&stamp)
        ))
        .await;
    assert_eq!(since["total_record_count"], "1", "{since}");
    assert_eq!(column(&since, "LOGIN"), vec!["changed"]);

    let after_seed =
        "last_update:(2024-01-01T09:00:00.500%2B01:00;2024-01-01T09:00:00.502%2B01:00)";
    let (_, inside) = h.get(&format!("employees?search={after_seed}&fields=employee_id")).await;
    assert_eq!(column(&inside, "EMPLOYEE_ID"), vec!["100500", "100501", "100502"]);

    let both = "last_update:(2024-01-01T09:00:00.000%2B01:00;2024-01-01T09:00:00.001%2B01:00)";
    let (_, sorted) =
        h.get(&format!("employees?search={both}&sort=employee_id+desc&fields=employee_id")).await;
    // Named employees 1 and 3-6 keep the seed stamp (2 was changed); synthetic 0 and 1 follow it.
    assert_eq!(column(&sorted, "EMPLOYEE_ID"), vec!["100001", "100000", "6", "5", "4", "3", "1"]);
    let (_, located) =
        h.get(&format!("employees?search={both},location_id:is_not_null&fields=location_id")).await;
    assert!(column(&located, "LOCATION_ID").iter().all(|l| !l.is_empty()), "{located}");
    assert_ne!(located["total_record_count"], "0");

    let (_, relative) = h.get("employees?search=last_update:today&fields=login").await;
    let mut logins = column(&relative, "LOGIN");
    logins.sort();
    assert_eq!(logins, vec!["changed", "gaby"]);
}
