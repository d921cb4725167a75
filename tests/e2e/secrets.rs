//! Secrets through the built binary: every settings source supplying the EasyVista password
//! alone and all together, `protect` output read back, each source's start-up failure, and a
//! scan of everything the agent prints at trace level for any known secret value.
//!
//! Key Vault and CyberArk are local HTTPS fakes (ta-fakes). The vault answers as
//! `vault.localhost`, which need not resolve on the machine: the binary reaches it through
//! `HTTPS_PROXY`, a CONNECT proxy that sends every tunnel to the fake.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine;
use easyvista_sim::SimulatorConfig;
use serde_json::{Value, json};
use ta_fakes::cyberark::{APP_ID, CA_FILE, CLIENT_PFX_FILE, FakeCcp, SAFE};
use ta_fakes::keyvault::{self, FakeVault, VaultSecret};
use ta_fakes::proxy::ConnectProxy;

use crate::harness::{BIN, CONNECTION, Setup, badge_order};

const PW_JSON: &str = "pw-json-7f3a91e2";
const PW_ENC: &str = "pw-enc-2b8c44d0";
const PW_KV: &str = "pw-kv-5e1d07a9";
const PW_CYBERARK: &str = "pw-cyberark-9a6f13c4";
const PW_ENV: &str = "pw-env-c3d258b7";
/// Tokens of a connection no mapping serves: read into the settings, never used, never shown.
const TOKEN_JSON: &str = "tok-json-41aa9c";
const TOKEN_ENC: &str = "tok-enc-8d02f1";
const TOKEN_KV: &str = "tok-kv-6b77e3";
/// The CyberArk client certificate's password.
const PFX_CYBERARK: &str = "pfx-cyberark-0e5f62";
/// The password of the ta-rsa test certificates (see their regenerate.sh).
const PFX_SETTINGS: &str = "fixture-password";
const PASSWORD: &str = "Connections:EasyVistaManual:Password";
const CERTIFICATE: &str = "certificates/agent.pfx";
const ENCRYPTED_FILE: &str = "appsettings.encrypted.agent.json";

/// Which sources a configuration folder uses for the EasyVista password.
#[derive(Clone, Copy, Default)]
struct Sources {
    json: bool,
    encrypted: bool,
    key_vault: bool,
    cyberark: bool,
    env: bool,
}

const ALL: Sources =
    Sources { json: true, encrypted: true, key_vault: true, cyberark: true, env: true };

/// A configuration folder, the simulator, the vault fakes and the environment to run with.
struct Case {
    setup: Setup,
    vault: FakeVault,
    ccp: FakeCcp,
    _proxy: ConnectProxy,
    env: Vec<(String, String)>,
}

impl Case {
    /// `accepted` is the only password the simulator takes.
    async fn new(sources: Sources, accepted: &str) -> Case {
        let config = SimulatorConfig { password: accepted.into(), ..SimulatorConfig::default() };
        let setup = Setup::with_simulator(config).await;
        let vault = FakeVault::start(vec![
            VaultSecret::new("Connections--EasyVistaManual--Password", PW_KV),
            VaultSecret::new("Connections--Unused--Token", TOKEN_KV),
        ])
        .await;
        let accounts = json!({ "EasyVistaApi": { "UserName": "svc", "Content": PW_CYBERARK,
                                                 "Address": "https://ev.invalid/" } });
        let ccp = FakeCcp::start(accounts, PFX_CYBERARK).await;
        let proxy = ConnectProxy::start(vault.address).await;
        let env = vec![
            ("RUST_LOG".into(), "trace".into()),
            ("HTTPS_PROXY".into(), proxy.url()),
            ("NO_PROXY".into(), "127.0.0.1".into()),
        ];
        let mut case = Case { setup, vault, ccp, _proxy: proxy, env };
        case.configure(sources).await;
        case
    }

    fn dir(&self) -> &Path {
        self.setup.dir.path()
    }

    fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.into(), value.into()));
    }

    async fn configure(&mut self, sources: Sources) {
        let dir = self.dir().to_owned();
        let mut settings = self.setup.settings();
        let connection = settings["Connections"][CONNECTION].as_object_mut().unwrap();
        connection.remove("Password");
        if sources.json {
            connection.insert("Password".into(), json!(PW_JSON));
        }
        settings["Connections"]["Unused"] = json!({ "Token": TOKEN_JSON });

        std::fs::create_dir_all(dir.join("certificates")).unwrap();
        std::fs::copy(fixture("agent.pfx"), dir.join(CERTIFICATE)).unwrap();
        if sources.encrypted {
            let plain = dir.join("plain.json");
            let values = json!({ "Connections": { CONNECTION: { "Password": PW_ENC },
                                                  "Unused": { "Token": TOKEN_ENC } } });
            std::fs::write(&plain, values.to_string()).unwrap();
            let output = self
                .run(&[
                    "protect",
                    "--certificate",
                    CERTIFICATE,
                    "--password-env",
                    "TA_PFX_PASSWORD",
                    "--file",
                    "plain.json",
                    "--output",
                    ENCRYPTED_FILE,
                ])
                .await;
            assert!(output.status.success(), "protect --file failed: {}", text(&output));
            std::fs::remove_file(plain).unwrap();
            settings["EncryptionCertificate"] =
                json!({ "UseEncryptedAppsettings": true, "File": CERTIFICATE });
            self.set_env("TICKETAGENT_EncryptionCertificate__Password", PFX_SETTINGS);
        }
        if sources.key_vault {
            std::fs::write(dir.join("vault-ca.pem"), self.vault.ca_pem()).unwrap();
            settings["AzureKeyVault"] =
                json!({ "Vault": self.vault.vault_url(), "CaFile": dir.join("vault-ca.pem") });
            self.set_env("AZURE_TENANT_ID", keyvault::TENANT);
            self.set_env("AZURE_CLIENT_ID", keyvault::CLIENT_ID);
            self.set_env("AZURE_CLIENT_SECRET", keyvault::CLIENT_SECRET);
            self.set_env("AZURE_AUTHORITY_HOST", &self.vault.authority_host());
        }
        if sources.cyberark {
            self.ccp.write_files(&dir);
            write_json(
                &dir.join("appsettings.cyberArk.agent.json"),
                &json!({ "Connections": { CONNECTION: { "Password": "EasyVistaApi" } } }),
            );
            settings["CyberArk"] = json!({
                "UseCyberArkSetting": true, "SafeName": SAFE, "ApplicationId": APP_ID,
                "Server": self.ccp.ip_url(), "File": CLIENT_PFX_FILE, "CaFile": CA_FILE,
            });
            self.set_env("TICKETAGENT_CyberArk__Password", PFX_CYBERARK);
        }
        if sources.env {
            self.set_env("Connections__EasyVistaManual__Password", PW_ENV);
        }
        self.setup.write_settings(settings);
    }

    /// Runs the binary with this case's environment only (nothing inherited), plus `extra`.
    async fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        self.command(args, extra).output().await.expect("the binary runs")
    }

    /// Like [`Case::run_with`] at the default log level (no `RUST_LOG`).
    async fn run_quiet(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut command = self.command(args, extra);
        command.env_remove("RUST_LOG");
        command.output().await.expect("the binary runs")
    }

    fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(BIN);
        command
            .current_dir(self.dir())
            .arg("--config")
            .arg(self.dir())
            .args(args)
            .env_clear()
            .env("TA_PFX_PASSWORD", PFX_SETTINGS)
            .envs(self.env.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .envs(extra.iter().copied());
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[]).await
    }

    async fn ok(&self, args: &[&str]) -> Output {
        let output = self.run(args).await;
        assert!(output.status.success(), "ticket-agent {args:?}: {}", text(&output));
        output
    }

    /// Every known secret, and the Basic header each password would make.
    fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = [
            PW_JSON,
            PW_ENC,
            PW_KV,
            PW_CYBERARK,
            PW_ENV,
            TOKEN_JSON,
            TOKEN_ENC,
            TOKEN_KV,
            PFX_CYBERARK,
            PFX_SETTINGS,
            keyvault::CLIENT_SECRET,
            keyvault::TOKEN,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let login = self.setup.sim.login();
        for password in [PW_JSON, PW_ENC, PW_KV, PW_CYBERARK, PW_ENV, "wrong-pw-0d9e"] {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
            secrets.push(basic);
        }
        secrets
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rsa-settings/tests/fixtures").join(name)
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

fn text(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// No known secret anywhere in what a run printed.
fn assert_no_secret(case: &Case, what: &str, output: &Output) {
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in case.secrets() {
        if let Some(at) = printed.find(&secret) {
            let line = printed[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = printed[at..].find('\n').map_or(printed.len(), |i| at + i);
            panic!("{what}: the secret {secret} was printed:\n{}", &printed[line..end]);
        }
    }
}

fn origin_line(stdout: &str) -> &str {
    let wanted = format!("{CONNECTION}: {PASSWORD} (from ");
    stdout.lines().find(|line| line.starts_with(&wanted)).unwrap_or_else(|| {
        panic!("check shows no origin for {PASSWORD}:\n{stdout}");
    })
}

/// Runs `check` against a simulator that takes only `accepted`; returns the password's origin.
async fn winning_source(sources: Sources, accepted: &str) -> String {
    let case = Case::new(sources, accepted).await;
    let output = case.ok(&["check"]).await;
    assert_no_secret(&case, "check", &output);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = origin_line(&stdout);
    line.rsplit_once("(from ").unwrap().1.trim_end_matches(')').to_owned()
}

#[tokio::test]
async fn each_source_alone_supplies_the_easyvista_password() {
    let alone = [
        (Sources { json: true, ..Sources::default() }, PW_JSON, "appsettings.agent.json"),
        (Sources { encrypted: true, ..Sources::default() }, PW_ENC, ENCRYPTED_FILE),
        (
            Sources { key_vault: true, ..Sources::default() },
            PW_KV,
            "Azure Key Vault https://vault.localhost:",
        ),
        (
            Sources { cyberark: true, ..Sources::default() },
            PW_CYBERARK,
            "CyberArk https://127.0.0.1:",
        ),
        (
            Sources { env: true, ..Sources::default() },
            PW_ENV,
            "environment variable Connections__EasyVistaManual__Password",
        ),
    ];
    for (sources, password, origin) in alone {
        let found = winning_source(sources, password).await;
        assert!(found.starts_with(origin), "expected {origin}, got {found}");
    }
}

#[tokio::test]
async fn together_each_later_source_wins_json_encrypted_key_vault_cyberark_environment() {
    let layers = [
        (Sources { json: true, encrypted: true, ..Sources::default() }, PW_ENC, ENCRYPTED_FILE),
        (
            Sources { json: true, encrypted: true, key_vault: true, ..Sources::default() },
            PW_KV,
            "Azure Key Vault",
        ),
        (Sources { env: false, ..ALL }, PW_CYBERARK, "CyberArk"),
        (ALL, PW_ENV, "environment variable"),
    ];
    for (sources, password, origin) in layers {
        let found = winning_source(sources, password).await;
        assert!(found.starts_with(origin), "expected {origin}, got {found}");
    }
}

#[tokio::test]
async fn no_secret_of_any_source_is_printed_at_trace_level_in_text_or_json() {
    let case = Case::new(ALL, PW_ENV).await;
    let mut assignment = 7100;
    for format in ["text", "json"] {
        let check = case.ok(&["--log-format", format, "check"]).await;
        assert_no_secret(&case, &format!("check ({format})"), &check);
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(
            origin_line(&stdout)
                .ends_with("(from environment variable Connections__EasyVistaManual__Password)"),
            "{stdout}"
        );
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert!(
            stderr.contains("Key Vault secrets read"),
            "the scan must see the logs of settings loading too ({format}):\n{stderr}"
        );

        assignment += 1;
        let orders =
            [badge_order(assignment, "Added", 1), badge_order(assignment + 50, "Added", 2)];
        case.setup.drop_orders(&format!("orders-{format}.json"), &orders);
        let fulfill = case.ok(&["--log-format", format, "fulfill"]).await;
        assert_no_secret(&case, &format!("fulfill ({format})"), &fulfill);
        // The json round also opens the ticket the text round's refused run left to retry.
        let opened = String::from_utf8_lossy(&fulfill.stdout)
            .split("tickets opened ")
            .nth(1)
            .and_then(|rest| rest.split(',').next()?.parse::<usize>().ok());
        assert!(
            opened.is_some_and(|n| n >= orders.len()),
            "tickets were opened: {}",
            text(&fulfill)
        );

        let sync = case.ok(&["--log-format", format, "sync"]).await;
        assert_no_secret(&case, &format!("sync ({format})"), &sync);
        let status = case.ok(&["--log-format", format, "status"]).await;
        assert_no_secret(&case, &format!("status ({format})"), &status);

        // The wrong password wins: EasyVista answers 401.
        case.setup.drop_orders(
            &format!("refused-{format}.json"),
            &[badge_order(assignment + 500, "Added", 3)],
        );
        let refused = case
            .run_with(
                &["--log-format", format, "fulfill"],
                &[("TICKETAGENT_Connections__EasyVistaManual__Password", "wrong-pw-0d9e")],
            )
            .await;
        assert!(!refused.status.success(), "a refused password fails the run: {}", text(&refused));
        assert!(
            text(&refused).contains("401"),
            "the failure says EasyVista refused: {}",
            text(&refused)
        );
        assert_no_secret(&case, &format!("refused fulfill ({format})"), &refused);
    }
}

#[tokio::test]
async fn protected_file_and_protected_values_are_read_back_by_the_agent() {
    // protect --file, then the agent with UseEncryptedAppsettings: done by Case itself.
    let case = Case::new(Sources { encrypted: true, ..Sources::default() }, PW_ENC).await;
    let protected = std::fs::read_to_string(case.dir().join(ENCRYPTED_FILE)).unwrap();
    assert!(!protected.contains(PW_ENC) && protected.contains("TAENC1:"), "{protected}");
    let output = case.ok(&["check"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(origin_line(&stdout).ends_with(&format!("(from {ENCRYPTED_FILE})")), "{stdout}");

    // protect --value, pasted into the file by hand.
    let output = case
        .ok(&[
            "protect",
            "--certificate",
            CERTIFICATE,
            "--password-env",
            "TA_PFX_PASSWORD",
            "--value",
            PW_ENC,
        ])
        .await;
    let value = String::from_utf8(output.stdout.clone()).unwrap().trim().to_owned();
    assert!(value.starts_with("TAENC1:") && !value.contains(PW_ENC), "{value}");
    assert_no_secret(&case, "protect --value", &output);
    write_json(
        &case.dir().join(ENCRYPTED_FILE),
        &json!({ "Connections": { CONNECTION: { "Password": value } } }),
    );
    case.ok(&["check"]).await;
}

/// Runs `fulfill` on a broken configuration: exit status 2, one line on standard error, and
/// nothing done (the order file stays, no ledger, no results).
async fn refused_at_start_up(case: &Case, extra: &[(&str, &str)]) -> String {
    case.setup.drop_orders("waiting.json", &[badge_order(7900, "Added", 1)]);
    let output = case.run_quiet(&["fulfill"], extra).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(output.stdout.is_empty(), "{}", text(&output));
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on standard error: {stderr}");
    assert!(case.setup.orders().join("waiting.json").exists(), "the order file was taken");
    assert!(!case.dir().join("work/ticket-agent.db").exists() && !case.setup.results().exists());
    assert_no_secret(case, "start-up failure", &output);
    lines[0].to_owned()
}

fn assert_names(line: &str, parts: &[&str]) {
    for part in parts {
        assert!(line.contains(part), "{part:?} missing from: {line}");
    }
}

#[tokio::test]
async fn a_missing_certificate_file_stops_start_up_naming_the_setting_and_the_source() {
    let case =
        Case::new(Sources { json: true, encrypted: true, ..Sources::default() }, PW_ENC).await;
    std::fs::remove_file(case.dir().join(CERTIFICATE)).unwrap();
    let line = refused_at_start_up(&case, &[]).await;
    assert_names(&line, &[ENCRYPTED_FILE, "EncryptionCertificate:File", "not found", "agent.pfx"]);
}

#[tokio::test]
async fn a_wrong_certificate_password_stops_start_up_naming_the_setting_and_the_source() {
    let case =
        Case::new(Sources { json: true, encrypted: true, ..Sources::default() }, PW_ENC).await;
    let line = refused_at_start_up(
        &case,
        &[("TICKETAGENT_EncryptionCertificate__Password", "not-the-pfx-password")],
    )
    .await;
    assert_names(
        &line,
        &[ENCRYPTED_FILE, "EncryptionCertificate:Password", "wrong password", "agent.pfx"],
    );
    assert!(!line.contains("not-the-pfx-password"), "{line}");
}

#[tokio::test]
async fn corrupt_ciphertext_stops_start_up_naming_the_setting_and_the_file() {
    let case =
        Case::new(Sources { json: true, encrypted: true, ..Sources::default() }, PW_ENC).await;
    let file = case.dir().join(ENCRYPTED_FILE);
    let mut document: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let value = document["Connections"][CONNECTION]["Password"].as_str().unwrap().to_owned();
    // One character of the AES-GCM part changed: the tag no longer verifies.
    let at = value.len() - 10;
    let flipped = if &value[at..=at] == "A" { "B" } else { "A" };
    let corrupt = format!("{}{flipped}{}", &value[..at], &value[at + 1..]);
    document["Connections"][CONNECTION]["Password"] = json!(corrupt);
    write_json(&file, &document);

    let line = refused_at_start_up(&case, &[]).await;
    assert_names(&line, &[PASSWORD, ENCRYPTED_FILE, "corrupt protected value"]);
}

#[tokio::test]
async fn an_unreachable_vault_stops_start_up_naming_the_vault_setting() {
    let mut case =
        Case::new(Sources { json: true, key_vault: true, ..Sources::default() }, PW_KV).await;
    // The proxy now tunnels to a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dead = ConnectProxy::start(closed).await;
    case.set_env("HTTPS_PROXY", &dead.url());
    let line = refused_at_start_up(&case, &[]).await;
    assert_names(&line, &["Azure Key Vault", "AzureKeyVault:Vault", "cannot list the secrets"]);
}

#[tokio::test]
async fn a_cyberark_account_not_found_stops_start_up_naming_the_setting() {
    let case =
        Case::new(Sources { json: true, cyberark: true, ..Sources::default() }, PW_CYBERARK).await;
    write_json(
        &case.dir().join("appsettings.cyberArk.agent.json"),
        &json!({ "Connections": { CONNECTION: { "Password": "NoSuchAccount" } } }),
    );
    let line = refused_at_start_up(&case, &[]).await;
    assert_names(&line, &["CyberArk", PASSWORD, "NoSuchAccount", "APPAP004E"]);
}

#[tokio::test]
async fn what_the_secret_sources_log_while_settings_load_reaches_standard_error() {
    let sources = Sources { key_vault: true, cyberark: true, ..Sources::default() };
    let case = Case::new(sources, PW_CYBERARK).await;

    // No RUST_LOG: the level is the settings file's (Information).
    let output = case.run_quiet(&["check"], &[]).await;

    assert!(output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Key Vault secrets read"), "{stderr}");
    assert!(stderr.contains("CyberArk accounts read"), "{stderr}");
    assert_no_secret(&case, "check at the default level", &output);
}
