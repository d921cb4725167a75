//! `ticket-agent export` against the simulator: the files Identity Manager reads, their columns
//! and quoting, incremental runs, and what a failure leaves behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use easyvista_sim::{
    EmployeeSeed, FaultSpec, InternalQueryView, Realism, SimulatorConfig, default_employees,
    default_internal_queries, routes,
};
use serde_json::json;

use crate::harness::{CONNECTION, Setup};

const APPLICATIONS_QUERY: &str = "{9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D}";
const EMPTY_QUERY: &str = "{11111111-2222-4333-8444-555555555555}";

fn simulator(synthetic_employees: u64) -> SimulatorConfig {
    let mut queries = default_internal_queries();
    queries.push(InternalQueryView {
        query_guid: EMPTY_QUERY.into(),
        filter_guid: None,
        view_guid: None,
        rows: Vec::new(),
    });
    SimulatorConfig { synthetic_employees, internal_queries: queries, ..SimulatorConfig::default() }
}

/// Export settings: employee columns chosen, two views (one empty), small pages.
fn configure(setup: &Setup, employee_columns: Option<&[&str]>) {
    let mut settings = setup.settings();
    let views = format!("{}api/v1/{}/internalqueries", setup.sim.server_url(), setup.sim.account());
    settings["Connections"][CONNECTION]["ExportSettingsOptions"] = json!({
        "Applications": format!("{views}?queryguid={APPLICATIONS_QUERY}&filterguid={{F}}&viewguid={{V}}"),
        "Nothing": format!("{views}?queryguid={EMPTY_QUERY}"),
    });
    let mut export = json!({
        "OutputPath": "export",
        "PageSize": 7,
        "Columns": { "Nothing": ["E_NAME", "E_OWNER_LOGIN"] },
    });
    if let Some(columns) = employee_columns {
        export["EmployeeColumns"] = json!(columns);
    }
    settings["TicketAgent"]["Export"] = export;
    settings["TicketAgent"]["AllowInsecureHttp"] = json!(true);
    setup.write_settings(settings);
}

fn output(setup: &Setup) -> PathBuf {
    setup.dir.path().join("export")
}

fn read(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(path).unwrap();
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

fn names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn export_writes_chosen_employee_columns_and_every_view() {
    let setup = Setup::with_simulator(simulator(20)).await;
    setup
        .sim
        .admin()
        .seed_employees(vec![EmployeeSeed {
            identification: "Q1".into(),
            last_name: "O\"Brien, Zoë\nsecond line".into(),
            login: "zobrien".into(),
            location_id: Some(3),
            ..EmployeeSeed::default()
        }])
        .unwrap();
    configure(&setup, Some(&["EMPLOYEE_ID", "LAST_NAME", "LOCATION.LOCATION_PATH"]));

    let stdout = setup.ok(&["export"]).await;
    assert!(stdout.contains("Employees 27 rows (complete)"), "{stdout}");

    let folder = output(&setup);
    assert_eq!(
        names(&folder),
        [
            "EasyVistaManual_Applications.cookie.json",
            "EasyVistaManual_Applications.csv",
            "EasyVistaManual_Employees.cookie.json",
            "EasyVistaManual_Employees.csv",
            "EasyVistaManual_Nothing.cookie.json",
            "EasyVistaManual_Nothing.csv",
        ]
    );
    let employees = read(&folder.join("EasyVistaManual_Employees.csv"));
    assert_eq!(employees[0], ["EMPLOYEE_ID", "LAST_NAME", "LOCATION.LOCATION_PATH"]);
    assert_eq!(employees.len(), 1 + 27);
    assert!(employees.contains(&vec![
        "5".into(),
        "Morley, Frédérique".into(),
        "Europe/United Kingdom/London".into()
    ]));
    assert!(employees.iter().any(
        |row| row[1] == "O\"Brien, Zoë\nsecond line" && row[2] == "North America/USA/New York"
    ));
    let text = std::fs::read_to_string(folder.join("EasyVistaManual_Employees.csv")).unwrap();
    assert!(text.contains("\"O\"\"Brien, Zoë\nsecond line\""), "{text}");

    let applications = read(&folder.join("EasyVistaManual_Applications.csv"));
    // A view's columns are those of its first record, LAST_UPDATE included.
    assert_eq!(applications[0], ["E_APPLICATION_ID", "E_NAME", "E_OWNER_LOGIN", "LAST_UPDATE"]);
    assert_eq!(applications.len(), 4);
    assert_eq!(applications[1][..3], ["1", "Payroll", "gmorley"]);
    assert!(applications[1][3].starts_with("20"), "{:?}", applications[1]);

    let nothing = std::fs::read_to_string(folder.join("EasyVistaManual_Nothing.csv")).unwrap();
    assert_eq!(nothing, "E_NAME,E_OWNER_LOGIN\r\n");
}

#[tokio::test]
async fn unchosen_columns_come_from_the_first_record_flattened() {
    let setup = Setup::with_simulator(simulator(3)).await;
    configure(&setup, None);
    setup.ok(&["export", "--connection", CONNECTION]).await;
    let employees = read(&output(&setup).join("EasyVistaManual_Employees.csv"));
    assert!(employees[0].contains(&"LAST_UPDATE".to_owned()), "{:?}", employees[0]);
    assert!(employees[0].contains(&"LOCATION_PATH".to_owned()), "{:?}", employees[0]);
    assert!(employees[1..].iter().all(|row| row.len() == employees[0].len()));
    assert_eq!(employees.len(), 1 + 9);
}

#[tokio::test]
async fn a_server_ignoring_max_rows_is_read_once_and_completely() {
    let mut config = simulator(40);
    config.realism = Realism { ignore_max_rows: true, ..Realism::default() };
    let setup = Setup::with_simulator(config).await;
    configure(&setup, Some(&["EMPLOYEE_ID"]));
    setup.ok(&["export"]).await;
    let employees = read(&output(&setup).join("EasyVistaManual_Employees.csv"));
    assert_eq!(employees.len(), 1 + 46);
    let mut ids: Vec<&String> = employees[1..].iter().map(|r| &r[0]).collect();
    ids.dedup();
    assert_eq!(ids.len(), 46, "no row twice");
    assert_eq!(setup.sim.admin().counters().get(routes::LIST_EMPLOYEES, 200), 1);
}

#[tokio::test]
async fn failing_pages_are_retried() {
    let setup = Setup::with_simulator(simulator(60)).await;
    configure(&setup, Some(&["EMPLOYEE_ID"]));
    setup.sim.admin().set_fault(routes::LIST_EMPLOYEES, FaultSpec::errors(0.3, 500)).unwrap();
    setup.ok(&["export", "--output", output(&setup).to_str().unwrap()]).await;
    let employees = read(&output(&setup).join("EasyVistaManual_Employees.csv"));
    assert_eq!(employees.len(), 1 + 66);
    assert!(setup.sim.admin().counters().get(routes::LIST_EMPLOYEES, 500) > 0);
}

#[tokio::test]
async fn a_failed_export_leaves_the_previous_file_and_cookie_untouched() {
    let setup = Setup::with_simulator(simulator(200)).await;
    configure(&setup, Some(&["EMPLOYEE_ID", "LAST_NAME"]));
    setup.ok(&["export"]).await;
    let folder = output(&setup);
    let table = folder.join("EasyVistaManual_Employees.csv");
    let cookie = folder.join("EasyVistaManual_Employees.cookie.json");
    let (before, cookie_before) = (std::fs::read(&table).unwrap(), std::fs::read(&cookie).unwrap());

    // The next run fails after a few pages: the server starts refusing mid-way.
    let admin = setup.sim.admin();
    admin
        .set_fault(routes::LIST_EMPLOYEES, FaultSpec { latency_ms: 30, ..FaultSpec::default() })
        .unwrap();
    let run = setup.run(&["export", "--full"]);
    let flip = async {
        while admin.counters().get(routes::LIST_EMPLOYEES, 200) < 30 + 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        admin.set_fault(routes::LIST_EMPLOYEES, FaultSpec::errors(1.0, 400)).unwrap();
    };
    let (output, ()) = tokio::join!(run, flip);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("employees"));

    assert_eq!(std::fs::read(&table).unwrap(), before);
    assert_eq!(std::fs::read(&cookie).unwrap(), cookie_before);
    assert!(names(&folder).iter().all(|n| !n.ends_with(".tmp")), "{:?}", names(&folder));
}

#[tokio::test]
async fn an_incremental_run_after_one_change_writes_only_that_row() {
    let setup = Setup::with_simulator(simulator(100)).await;
    configure(&setup, Some(&["EMPLOYEE_ID", "LOGIN", "LOCATION.LOCATION_PATH"]));
    setup.ok(&["export"]).await;
    let table = output(&setup).join("EasyVistaManual_Employees.csv");
    assert_eq!(read(&table).len(), 1 + 106);

    // Nothing changed: the table is its header.
    let stdout = setup.ok(&["export"]).await;
    assert!(stdout.contains("Employees 0 rows (incremental)"), "{stdout}");
    assert_eq!(read(&table), [["EMPLOYEE_ID", "LOGIN", "LOCATION.LOCATION_PATH"]]);

    let mut seagal = default_employees()[2].clone();
    assert_eq!(seagal.id, Some(3));
    seagal.login = "sseagal2".into();
    seagal.location_id = Some(4);
    setup.sim.admin().seed_employees(vec![seagal]).unwrap();

    let stdout = setup.ok(&["export"]).await;
    assert!(stdout.contains("Employees 1 rows (incremental)"), "{stdout}");
    assert_eq!(
        read(&table),
        [
            ["EMPLOYEE_ID", "LOGIN", "LOCATION.LOCATION_PATH"],
            ["3", "sseagal2", "Europe/United Kingdom/London"]
        ]
    );

    setup.ok(&["export", "--full"]).await;
    assert_eq!(read(&table).len(), 1 + 106);
}
