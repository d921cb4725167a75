//! The main job end to end: order files in, tickets in EasyVista, provisioning states out.

use easyvista_sim::StatusKind;

use crate::harness::{CONNECTION, Setup, badge_order};

#[tokio::test]
async fn the_whole_flow_goes_from_order_files_to_a_results_csv() {
    let setup = Setup::new().await;
    setup.drop_example_orders();

    let out = setup.ok(&["fulfill"]).await;
    assert!(out.contains("tickets opened 6"), "{out}");

    let admin = setup.sim.admin();
    let tickets = admin.tickets();
    assert_eq!(tickets.len(), 6);
    // Each order's ticket, found by the assignment in its external reference.
    let ticket_of = |prefix: &str| {
        tickets
            .iter()
            .find(|t| t.external_reference.starts_with(prefix))
            .map(|t| t.rfc.clone())
            .unwrap()
    };
    let payroll_added = ticket_of("TA-A-3940001-");
    let badge_canceled = ticket_of("TA-A-3930001-");
    let badge_closed = ticket_of("TA-A-3930002-");
    assert!(
        payroll_added.starts_with('I') && badge_closed.starts_with('S'),
        "incident and request by catalog"
    );
    admin.close_ticket(&payroll_added).unwrap();
    admin.cancel_ticket(&badge_canceled).unwrap();
    admin.close_ticket(&badge_closed).unwrap();
    admin.set_ticket_status(&ticket_of("TA-M-3930003-"), StatusKind::Solved).unwrap();

    let out = setup.ok(&["sync"]).await;
    assert!(out.contains("finished: 1 canceled, 2 closed"), "{out}");

    let mut rows: Vec<Vec<String>> = setup
        .result_rows()
        .into_iter()
        .map(|(_, r)| r.iter().map(str::to_owned).collect())
        .collect();
    rows.sort();
    let row = |fields: [&str; 6]| fields.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        rows,
        vec![
            row([
                "3930001",
                "Error",
                &format!("ticket {badge_canceled} was canceled in EasyVista"),
                "Added",
                "21511",
                "51"
            ]),
            row([
                "3930002",
                "Executed",
                &format!("ticket {badge_closed} closed"),
                "Added",
                "21512",
                "51"
            ]),
            row([
                "3940001",
                "Verified",
                &format!("ticket {payroll_added} closed; resource type is not synchronized"),
                "Added",
                "21516",
                "51"
            ]),
        ]
    );

    let status = setup.ok(&["status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status.as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn tickets_carry_the_mapping_fields_and_the_rendered_text() {
    let setup = Setup::new().await;
    setup.drop_example_orders();
    setup.ok(&["fulfill"]).await;

    let tickets = setup.sim.admin().tickets();
    let gaby =
        tickets.iter().find(|t| t.title.contains("Morley, Gaby")).expect("Gaby's badge ticket");
    assert_eq!(gaby.title, "Create building badge for Morley, Gaby");
    assert!(gaby.rfc.starts_with('S'), "catalog 27 is a service request: {}", gaby.rfc);
    assert_eq!(gaby.catalog_code, "27");
    assert_eq!(gaby.recipient_id, "2");
    assert_eq!(
        (gaby.urgency_id.as_str(), gaby.severity_id.as_str(), gaby.impact_id.as_str()),
        ("3", "3", "4")
    );
    assert!(gaby.description.contains("\t- badgeNumber: B-7731"), "{}", gaby.description);
    assert!(gaby.description.contains("Paris, 4th floor (P4)"), "{}", gaby.description);
    assert!(gaby.external_reference.starts_with("TA-A-3930001-"), "{}", gaby.external_reference);

    let revoke =
        tickets.iter().find(|t| t.title.starts_with("Revoke")).expect("the badge revocation");
    assert_eq!(revoke.catalog_code, "26", "Deleted takes the third code of 27¤25¤26");
}

#[tokio::test]
async fn a_second_run_over_the_same_folder_opens_nothing_new() {
    let setup = Setup::new().await;
    setup.drop_example_orders();
    setup.ok(&["fulfill"]).await;
    let before = setup.sim.admin().counters().tickets_created;

    // The folder as the first run left it: nothing waits, nothing is opened.
    let out = setup.ok(&["fulfill"]).await;
    assert!(out.contains("took 0 order file(s)") && out.contains("tickets opened 0"), "{out}");
    assert_eq!(setup.sim.admin().counters().tickets_created, before);
    let completed = std::fs::read_dir(setup.orders().join("Completed")).unwrap().count();
    assert_eq!(completed, 3);

    // The same files delivered again (a copy put back, a redelivery): the same orders, known
    // to the ledger by their references, so still nothing is opened.
    setup.drop_example_orders();
    let out = setup.ok(&["fulfill"]).await;
    assert!(out.contains("recorded 0 new order(s)") && out.contains("tickets opened 0"), "{out}");
    assert_eq!(setup.sim.admin().counters().tickets_created, before);
}

#[tokio::test]
async fn the_demo_runs_the_whole_flow_against_its_own_simulator() {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("demo");
    let output = tokio::process::Command::new(crate::harness::BIN)
        .args(["demo", "--work"])
        .arg(&folder)
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));

    assert!(stdout.contains("tickets opened 6"), "{stdout}");
    assert!(stdout.contains("finished: 1 canceled, 3 closed"), "{stdout}");
    assert!(stdout.contains("6 order(s)"), "{stdout}");
    let results: Vec<_> = std::fs::read_dir(folder.join("work/results").join(CONNECTION))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(results.len(), 1, "one results file");
    let csv = std::fs::read_to_string(results[0].path()).unwrap();
    assert!(stdout.contains(&results[0].path().display().to_string()), "its path is printed");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("AssignmentId,ProvisioningState,Message,ChangeType,OwnerId,OwnerType")
    );
    let states: Vec<&str> = lines.map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(states, ["Error", "Executed", "Verified", "Verified"], "{csv}");
    let rejected = folder.join("work/orders").join(CONNECTION).join("Rejected");
    assert!(
        std::fs::read_dir(rejected)
            .unwrap()
            .flatten()
            .any(|e| { e.file_name().to_string_lossy().ends_with(".error.txt") })
    );
}

#[tokio::test]
async fn every_command_explains_itself_with_help() {
    for command in
        ["fulfill", "sync", "run", "render", "check", "status", "demo", "protect", "export"]
    {
        let output = tokio::process::Command::new(crate::harness::BIN)
            .args([command, "--help"])
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command} --help: {text}");
        assert!(text.contains("Usage: ticket-agent") && text.contains(command), "{text}");
        assert!(text.contains("--config"), "{command} --help names the config folder: {text}");
    }
}

#[tokio::test]
async fn a_broken_file_lands_in_rejected_with_its_reason_while_the_others_are_ticketed() {
    let setup = Setup::new().await;
    setup.drop_orders("a.json", &[badge_order(1, "Added", 2)]);
    std::fs::write(setup.orders().join("b.json"), "{\"ProvisioningOrdersList\": [ {").unwrap();
    std::fs::write(setup.orders().join("c.json"), "{\"Orders\": []}").unwrap();
    setup.drop_orders("d.json", &[badge_order(2, "Added", 3), badge_order(3, "Renamed", 3)]);

    let out = setup.ok(&["fulfill"]).await;

    assert!(out.contains("took 2 order file(s) and rejected 2"), "{out}");
    assert_eq!(setup.sim.admin().tickets().len(), 2);
    let rejected = setup.orders().join("Rejected");
    let reason = std::fs::read_to_string(rejected.join("b.json.error.txt")).unwrap();
    assert!(reason.starts_with("b.json: not valid JSON"), "{reason}");
    let reason = std::fs::read_to_string(rejected.join("c.json.error.txt")).unwrap();
    assert!(reason.contains("no ProvisioningOrdersList property"), "{reason}");
    assert!(rejected.join("b.json").exists() && rejected.join("c.json").exists());

    // The invalid order inside a valid file is reported as an error, naming the file and order.
    let rows = setup.result_rows();
    assert_eq!(rows.len(), 1);
    let row = &rows[0].1;
    assert_eq!(&row[0], "3");
    assert_eq!(&row[1], "Error");
    assert!(
        row[2].contains("d.json: order #2") && row[2].contains("unknown ChangeType \"Renamed\""),
        "{:?}",
        row
    );
}

#[tokio::test]
async fn render_shows_the_tickets_of_an_order_file_without_contacting_anything() {
    let setup = Setup::new().await;
    setup.drop_example_orders();
    let file = setup.orders().join("2026-12-03T080500_Payroll.json");

    let out = setup.ok(&["render", file.to_str().unwrap()]).await;

    assert!(
        out.contains("title:       Payroll administrator account: Added for Nguyen, Linh"),
        "{out}"
    );
    assert!(out.contains("catalog:     catalog_code 42"), "{out}");
    assert!(out.contains("- costCenter: FIN-210"), "{out}");
    assert_eq!(setup.sim.admin().counters().total("*"), 0, "render sent no request");
}

#[tokio::test]
async fn check_tests_the_connection_and_names_a_refused_password() {
    let setup = Setup::new().await;
    let out = setup.ok(&["check"]).await;
    assert!(out.contains(&format!("{CONNECTION}: EasyVista answers")), "{out}");

    let mut settings = setup.settings();
    settings["Connections"][CONNECTION]["Password"] = serde_json::json!("wrong");
    setup.write_settings(settings);
    let output = setup.run(&["check"]).await;
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("authentication refused"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("EasyVista check failed for {CONNECTION}"))
            && stderr.contains("authentication refused"),
        "the error line says why: {stderr}"
    );
    assert!(
        !stdout.contains("wrong") && !String::from_utf8_lossy(&output.stderr).contains("wrong")
    );
}

#[tokio::test]
async fn bad_settings_stop_with_status_2_naming_the_file() {
    let setup = Setup::new().await;
    std::fs::write(setup.dir.path().join("appsettings.agent.json"), "{ \"Connections\": ").unwrap();
    let output = setup.run(&["fulfill"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("appsettings.agent.json") && stderr.contains("not valid JSON"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_mapping_naming_an_unknown_connection_is_a_configuration_error() {
    let setup = Setup::new().await;
    let mappings = std::fs::read_to_string(setup.dir.path().join("mappings.xml")).unwrap();
    std::fs::write(
        setup.dir.path().join("mappings.xml"),
        mappings.replacen("Connection=\"EasyVistaManual\"", "Connection=\"Nowhere\"", 1),
    )
    .unwrap();
    let output = setup.run(&["fulfill"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("mapping Badge_User_NominativeUser names connection Nowhere"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_template_names_the_mapping_and_the_path() {
    let setup = Setup::new().await;
    std::fs::remove_file(setup.dir.path().join("templates/PayrollTitle.txt")).unwrap();
    let output = setup.run(&["fulfill"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Payroll_User_Administrator")
            && stderr.contains("templates/PayrollTitle.txt"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_demo_refuses_a_folder_that_is_not_empty() {
    let setup = Setup::new().await;
    let before = std::fs::read_to_string(setup.dir.path().join("appsettings.agent.json")).unwrap();
    let output = setup.run(&["demo", "--work", setup.dir.path().to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the folder is not empty"));
    let after = std::fs::read_to_string(setup.dir.path().join("appsettings.agent.json")).unwrap();
    assert_eq!(before, after, "the user's settings are untouched");
}

#[tokio::test]
async fn a_reader_that_goes_away_ends_the_output_quietly() {
    let setup = Setup::new().await;
    setup.drop_example_orders();
    setup.ok(&["fulfill"]).await;
    let mut child = tokio::process::Command::new(crate::harness::BIN)
        .arg("--config")
        .arg(setup.dir.path())
        .arg("status")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn orders_easyvista_did_not_take_make_fulfill_exit_1() {
    let setup = Setup::new().await;
    let mut settings = setup.settings();
    settings["Connections"][CONNECTION]["Server"] = serde_json::json!("http://127.0.0.1:9");
    setup.write_settings(settings);
    setup.drop_orders("a.json", &[badge_order(1, "Added", 2)]);

    let output = setup.run(&["fulfill"]).await;

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 order(s) could not be sent to EasyVista yet"), "{stderr}");
    assert!(
        setup.orders().join("Completed/a.json").exists(),
        "the order is recorded, its file acknowledged"
    );
}

#[tokio::test]
async fn check_renders_every_mapping_and_refuses_an_unknown_helper() {
    let setup = Setup::new().await;
    std::fs::write(
        setup.dir.path().join("templates/PayrollTitle.txt"),
        "{{nosuchhelper Username}}",
    )
    .unwrap();
    let output = setup.run(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("mapping Payroll_User_Administrator (Added order)")
            && stdout.contains("nosuchhelper"),
        "{stdout}"
    );
}

#[tokio::test]
async fn status_of_an_unknown_connection_is_a_configuration_error() {
    let setup = Setup::new().await;
    setup.drop_example_orders();
    setup.ok(&["fulfill"]).await;
    let output = setup.run(&["status", "--connection", "Nope"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--connection Nope: no such connection")
    );
}

#[tokio::test]
async fn render_drafts_each_order_with_its_own_connections_settings() {
    let setup = Setup::new().await;
    let mut settings = setup.settings();
    settings["Connections"]["PayrollDesk"] = settings["Connections"][CONNECTION].clone();
    settings["TicketAgent"]["Connections"]["PayrollDesk"] = serde_json::json!({
        "OrdersPath": "work/orders/PayrollDesk", "ResultsPath": "work/results/PayrollDesk",
        "RecipientField": "Mail"
    });
    setup.write_settings(settings);
    let mappings = std::fs::read_to_string(setup.dir.path().join("mappings.xml")).unwrap();
    let mappings = mappings.replace(
        "Identifier=\"Payroll_User_Administrator\" Connection=\"EasyVistaManual\"",
        "Identifier=\"Payroll_User_Administrator\" Connection=\"PayrollDesk\"",
    );
    std::fs::write(setup.dir.path().join("mappings.xml"), mappings).unwrap();
    setup.drop_example_orders();

    let payroll = setup.orders().join("2026-12-03T080500_Payroll.json");
    let out = setup.ok(&["render", payroll.to_str().unwrap()]).await;
    assert!(out.contains("connection:  PayrollDesk") && out.contains("(Mail)"), "{out}");
    let badge = setup.orders().join("2026-12-03T080000_Badge.json");
    let out = setup.ok(&["render", badge.to_str().unwrap()]).await;
    assert!(
        out.contains("connection:  EasyVistaManual")
            && out.contains("(Id)")
            && !out.contains("(Mail)"),
        "{out}"
    );
}

#[tokio::test]
async fn the_log_level_comes_from_serilogs_minimum_level_in_the_settings() {
    let setup = Setup::new().await;
    let run = std::cell::Cell::new(0);
    let stderr_at = |level: serde_json::Value| {
        run.set(run.get() + 1);
        let name = format!("orders-{}.json", run.get());
        setup.drop_orders(&name, &[badge_order(run.get(), "Added", 2)]);
        let mut settings = setup.settings();
        settings["Serilog"] = serde_json::json!({ "MinimumLevel": level });
        setup.write_settings(settings);
        async {
            let output = setup.run(&["fulfill"]).await;
            assert!(output.status.success());
            String::from_utf8_lossy(&output.stderr).into_owned()
        }
    };
    let quiet = stderr_at(serde_json::json!({ "Default": "Warning" })).await;
    assert!(!quiet.contains(" INFO "), "{quiet}");
    let chatty = stderr_at(serde_json::json!("Debug")).await;
    assert!(chatty.contains(" DEBUG "), "{chatty}");
    let overridden = stderr_at(serde_json::json!({
        "Default": "Error",
        "Override": { "ta_usecases": "Information" }
    }))
    .await;
    assert!(overridden.contains(" INFO ") && overridden.contains("order received"), "{overridden}");
    assert!(!overridden.contains("environment variables applied"), "{overridden}");
}

#[tokio::test]
async fn check_fails_on_misspelled_settings_or_mapping_attributes_and_a_missing_orders_folder() {
    let setup = Setup::new().await;
    let mut settings = setup.settings();
    settings["TicketAgent"]["FulfilIntervalSeconds"] = serde_json::json!(30);
    setup.write_settings(settings);
    std::fs::remove_dir(setup.orders()).unwrap();
    let mappings = setup.dir.path().join("mappings.xml");
    let xml = std::fs::read_to_string(&mappings).unwrap();
    std::fs::write(&mappings, xml.replacen("UrgencyId=", "UrgencyID=", 1)).unwrap();

    let output = setup.run(&["check"]).await;

    assert_eq!(output.status.code(), Some(2));
    // Logged as warnings while loading, then said again together on the one error line.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(stderr.contains("TicketAgent:FulfilIntervalSeconds is not a setting"), "{stderr}");
    assert!(stderr.contains("orders folder") && stderr.contains("OrdersPath"), "{stderr}");
    assert!(
        stderr.contains("mappings.xml, line ") && stderr.contains("attribute UrgencyID"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("EasyVista answers"), "the connection is still checked: {stdout}");
}

#[tokio::test]
async fn render_json_keeps_what_it_can_read_of_an_invalid_order() {
    let setup = Setup::new().await;
    let mut upgraded = badge_order(3930009, "Added", 2);
    upgraded["ChangeType"] = serde_json::json!("Upgraded");
    setup.drop_orders("odd.json", &[upgraded, badge_order(3930010, "Added", 3)]);

    let out =
        setup.ok(&["render", "--json", setup.orders().join("odd.json").to_str().unwrap()]).await;

    let rendered: serde_json::Value = serde_json::from_str(&out).unwrap();
    let invalid = &rendered[0];
    assert_eq!(invalid["assignment_id"], "3930009", "{out}");
    assert_eq!(invalid["change_type"], "Upgraded", "{out}");
    assert_eq!(invalid["resource_type"], "Badge_User_NominativeUser", "{out}");
    assert_eq!(invalid["connection"], CONNECTION, "{out}");
    assert!(invalid.to_string().contains("Upgraded"), "the reason is given: {out}");
    assert_eq!(rendered[1]["assignment_id"], "3930010", "the next order is still drafted");
}
