//! Shared set-up: a simulator, a configuration folder pointing at it, order files, and a way to
//! run the binary and read what it left behind.

use std::path::{Path, PathBuf};
use std::process::Output;

use easyvista_sim::{RunningSimulator, Simulator, SimulatorConfig};
use serde_json::json;

pub const BIN: &str = env!("CARGO_BIN_EXE_ticket-agent");
pub const CONNECTION: &str = "EasyVistaManual";

/// A simulator and a configuration folder wired to it.
pub struct Setup {
    pub sim: RunningSimulator,
    pub dir: tempfile::TempDir,
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

impl Setup {
    pub async fn new() -> Setup {
        Setup::with_simulator(SimulatorConfig::default()).await
    }

    pub async fn with_simulator(config: SimulatorConfig) -> Setup {
        let sim = Simulator::start(config).await.expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "mappings.xml",
            "templates/BadgeTitle.txt",
            "templates/BadgeDescription.txt",
            "templates/PayrollTitle.txt",
            "templates/PayrollDescription.txt",
        ] {
            let target = dir.path().join(file);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(examples().join(file), &target).unwrap();
        }
        let setup = Setup { sim, dir };
        setup.write_settings(setup.settings());
        // Identity Manager's side: the folder it writes order files into.
        std::fs::create_dir_all(setup.orders()).unwrap();
        setup
    }

    /// The example settings, pointed at the simulator.
    pub fn settings(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(examples().join("appsettings.agent.json")).unwrap();
        let mut settings: serde_json::Value = serde_json::from_str(&text).unwrap();
        settings["Connections"][CONNECTION] = json!({
            "Server": self.sim.server_url(),
            "Account": self.sim.account(),
            "Login": self.sim.login(),
            "Password": self.sim.password(),
        });
        settings["TicketAgent"]["Concurrency"] = json!(8);
        settings
    }

    pub fn write_settings(&self, settings: serde_json::Value) {
        std::fs::write(
            self.dir.path().join("appsettings.agent.json"),
            serde_json::to_string_pretty(&settings).unwrap(),
        )
        .unwrap();
    }

    pub fn orders(&self) -> PathBuf {
        self.dir.path().join("work/orders").join(CONNECTION)
    }

    pub fn results(&self) -> PathBuf {
        self.dir.path().join("work/results").join(CONNECTION)
    }

    pub fn drop_example_orders(&self) {
        std::fs::create_dir_all(self.orders()).unwrap();
        for entry in std::fs::read_dir(examples().join("orders")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, self.orders().join(path.file_name().unwrap())).unwrap();
        }
    }

    pub fn drop_orders(&self, name: &str, orders: &[serde_json::Value]) {
        std::fs::create_dir_all(self.orders()).unwrap();
        let text =
            serde_json::to_string_pretty(&json!({ "ProvisioningOrdersList": orders })).unwrap();
        // Written aside and renamed, as Identity Manager's files should be.
        let temporary = self.orders().join(format!("{name}.tmp"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(temporary, self.orders().join(name)).unwrap();
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(BIN);
        command.arg("--config").arg(self.dir.path()).args(args).env_remove("RUST_LOG");
        command.output().await.expect("the binary runs")
    }

    /// Runs a command that must succeed, and returns its standard output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        assert!(
            output.status.success(),
            "ticket-agent {args:?} failed with {}:\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Every row of every results file, as (file, row).
    pub fn result_rows(&self) -> Vec<(String, csv::StringRecord)> {
        let mut rows = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.results()) else { return rows };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        for file in files {
            let mut reader = csv::Reader::from_path(&file).unwrap();
            assert_eq!(
                reader.headers().unwrap(),
                vec![
                    "AssignmentId",
                    "ProvisioningState",
                    "Message",
                    "ChangeType",
                    "OwnerId",
                    "OwnerType"
                ]
            );
            for record in reader.records() {
                rows.push((file.display().to_string(), record.unwrap()));
            }
        }
        rows
    }
}

/// A Badge order for the example mapping.
pub fn badge_order(assignment: u32, change: &str, employee: u32) -> serde_json::Value {
    json!({
        "AssignedResourceTypeId": assignment.to_string(),
        "ChangeType": change,
        "WorkflowInstanceId": (assignment % 1000).to_string(),
        "Owner": { "Id": (20000 + assignment).to_string(), "InternalDisplayName": format!("User {assignment}"), "EVEmployeeId": employee.to_string() },
        "ResourceType": {
            "Id": "-41",
            "SourceEntityType": { "Id": "51", "Identifier": "Directory_User" },
            "TargetEntityType": { "Id": "70", "Identifier": "Badge_User" },
            "Identifier": "Badge_User_NominativeUser"
        },
        "Changes": { "badgeNumber": format!("B-{assignment}"), "site": "Paris" },
        "Resource": {}
    })
}
