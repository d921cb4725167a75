//! `demo`: the whole flow against a built-in EasyVista simulator, with the example files of
//! `examples/` (compiled into the binary, so it runs from anywhere): order files in, tickets
//! opened, some closed and one canceled in the simulator, states synced, results written.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use easyvista_sim::{Simulator, SimulatorConfig};
use serde_json::json;
use ta_ports::Ledger;

use crate::config::{Config, Sources, load_settings};
use crate::output::{describe_fulfill, describe_sync, print_table};
use crate::wiring::Agent;
use crate::{Failure, work_error};

/// The example configuration, as files relative to the configuration folder.
const EXAMPLE_FILES: &[(&str, &str)] = &[
    ("appsettings.agent.json", include_str!("../../../examples/appsettings.agent.json")),
    ("mappings.xml", include_str!("../../../examples/mappings.xml")),
    ("templates/BadgeTitle.txt", include_str!("../../../examples/templates/BadgeTitle.txt")),
    (
        "templates/BadgeDescription.txt",
        include_str!("../../../examples/templates/BadgeDescription.txt"),
    ),
    ("templates/PayrollTitle.txt", include_str!("../../../examples/templates/PayrollTitle.txt")),
    (
        "templates/PayrollDescription.txt",
        include_str!("../../../examples/templates/PayrollDescription.txt"),
    ),
];

/// The example order files, dropped into the connection's orders folder.
const EXAMPLE_ORDERS: &[(&str, &str)] = &[
    (
        "2026-12-03T080000_Badge.json",
        include_str!("../../../examples/orders/2026-12-03T080000_Badge.json"),
    ),
    (
        "2026-12-03T080500_Payroll.json",
        include_str!("../../../examples/orders/2026-12-03T080500_Payroll.json"),
    ),
    (
        "2026-12-03T081000_Badge.json",
        include_str!("../../../examples/orders/2026-12-03T081000_Badge.json"),
    ),
    (
        "2026-12-03T081500_Truncated.json",
        include_str!("../../../examples/orders/2026-12-03T081500_Truncated.json"),
    ),
];

pub async fn run(work: Option<PathBuf>) -> Result<(), Failure> {
    let dir = match work {
        Some(dir) => dir,
        None => std::env::temp_dir()
            .join(format!("ticket-agent-demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%3f"))),
    };
    // The demo writes its own settings, mappings and templates: never over someone's files.
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(crate::config_error(anyhow!(
            "--work {}: the folder is not empty; the demo needs a new or empty folder, as it writes its own settings there",
            dir.display()
        )));
    }
    write_examples(&dir).map_err(work_error)?;
    say!("demo folder: {}", dir.display());

    let simulator = Simulator::start(SimulatorConfig::default()).await.map_err(work_error)?;
    say!("EasyVista simulator: {} (account {})", simulator.base_url(), simulator.account());

    let mut settings = load_settings(&dir, Sources::Local).await.map_err(work_error)?;
    settings.apply_json_value(
        "demo",
        &json!({"Connections": {"EasyVistaManual": {
            "Server": simulator.server_url(),
            "Account": simulator.account(),
            "Login": simulator.login(),
            "Password": simulator.password(),
        }}}),
    );
    let config = Config::from_settings(&dir, settings).map_err(work_error)?;
    let agent = Agent::build(config, ta_usecases::StopSignal::new())?;
    let connection = &agent.connections[0];
    let orders_folder = connection.plan.orders_path.clone();
    for (name, text) in EXAMPLE_ORDERS {
        write(&orders_folder.join(name), text).map_err(work_error)?;
    }

    say!(
        "\n1. fulfill: {} order files waiting in {}",
        EXAMPLE_ORDERS.len(),
        orders_folder.display()
    );
    let report = connection.fulfill.run_cycle().await.map_err(work_error)?;
    say!("   {}", describe_fulfill(&connection.plan.id, &report));

    say!("\n2. the service desk works on the tickets (in the simulator):");
    let admin = simulator.admin();
    // What happens to each ticket is decided by its order's assignment (the external reference
    // is `TA-<change>-<assignment>-<digest>`), not by ticket numbers, which follow the order in
    // which concurrent creates happened to arrive.
    let assignment = |reference: &str| reference.split('-').nth(2).unwrap_or_default().to_owned();
    let mut tickets = admin.tickets();
    tickets.sort_by_key(|t| assignment(&t.external_reference));
    for ticket in &tickets {
        let (verb, result) = match assignment(&ticket.external_reference).as_str() {
            "3930001" => ("canceled", admin.cancel_ticket(&ticket.rfc)),
            "3930002" | "3940001" | "3940002" => ("closed", admin.close_ticket(&ticket.rfc)),
            "3930003" => ("solved, not yet closed", admin.solve_ticket(&ticket.rfc)),
            _ => ("left in progress", Ok(ticket.clone())),
        };
        result.map_err(|e| work_error(anyhow!("simulator: {e}")))?;
        say!("   {} (assignment {}) {verb}", ticket.rfc, assignment(&ticket.external_reference));
    }

    say!("\n3. sync: follow the tickets and report provisioning states");
    let report = connection.sync.run_cycle(chrono::Utc::now()).await.map_err(work_error)?;
    say!("   {}", describe_sync(&connection.plan.id, &report));

    say!("\n4. a second fulfill finds nothing new to open:");
    let report = connection.fulfill.run_cycle().await.map_err(work_error)?;
    say!("   {}", describe_fulfill(&connection.plan.id, &report));

    say!("\nOrders in the ledger ({}):", agent.config.ledger_path().display());
    let orders = agent.ledger.orders(None).await.map_err(work_error)?;
    print_table(&orders);

    let rejected = orders_folder.join(ta_usercube::REJECTED_FOLDER);
    say!("\nRejected order files (with their reasons): {}", rejected.display());
    for file in list_files(&rejected, "txt").map_err(work_error)? {
        let reason = std::fs::read_to_string(&file).unwrap_or_default();
        say!("   {}: {}", file.file_name().unwrap_or_default().to_string_lossy(), reason.trim());
    }
    say!("\nResults for Identity Manager:");
    for file in list_files(&connection.plan.results_path, "csv").map_err(work_error)? {
        say!("   {}", file.display());
        for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
            say!("     {line}");
        }
    }
    say!("\nTry next: cargo run -p ticket-agent -- --config {} status", dir.display());
    simulator.shutdown().await;
    Ok(())
}

fn write_examples(dir: &Path) -> anyhow::Result<()> {
    for (name, text) in EXAMPLE_FILES {
        write(&dir.join(name), text)?;
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn list_files(dir: &Path, extension: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    files.sort();
    Ok(files)
}
