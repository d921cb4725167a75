//! The CyberArk source against a local fake Central Credential Provider over HTTPS that
//! demands a client certificate signed by a test CA made at test time.

use std::path::Path;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use ta_cyberark::{CyberArkSettings, CyberArkSource};
use ta_fakes::cyberark::{CA_FILE, CLIENT_PFX_FILE, FakeCcp};
use ta_ports::{SecretSetting, SecretSource};

const PFX_PASSWORD: &str = "client-pfx-pass";

/// The fake provider, with its client certificate and CA written to a configuration folder.
async fn start_fake_ccp(accounts: Value) -> (FakeCcp, tempfile::TempDir) {
    let fake = FakeCcp::start(accounts, PFX_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    fake.write_files(dir.path());
    (fake, dir)
}

fn settings(server: &str, with_certificate: bool) -> CyberArkSettings {
    let mut section = json!({
        "UseCyberArkSetting": "true", "SafeName": "Agents", "ApplicationId": "TicketAgent",
        "Server": server, "CaFile": CA_FILE
    });
    if with_certificate {
        section["File"] = json!(CLIENT_PFX_FILE);
        section["Password"] = json!(PFX_PASSWORD);
    }
    serde_json::from_value(section).unwrap()
}

fn write_mapping(dir: &Path, mapping: Value) {
    std::fs::write(dir.join("appsettings.cyberArk.agent.json"), mapping.to_string()).unwrap();
}

fn easyvista_accounts() -> Value {
    json!({
        "EasyVistaApi": { "UserName": "svc-ticket-agent", "Content": "s3cr3t-content", "Address": "https://ev.contoso.com/",
                           "Safe": "Agents", "Folder": "Root", "Name": "EasyVistaApi" }
    })
}

fn values(settings: &[SecretSetting]) -> Vec<(String, String)> {
    settings.iter().map(|s| (s.path.join(":"), s.value.expose_secret().to_string())).collect()
}

#[tokio::test]
async fn accounts_feed_login_password_and_server_over_mutual_tls() {
    let (fake, dir) = start_fake_ccp(easyvista_accounts()).await;
    write_mapping(
        dir.path(),
        json!({ "Connections": { "EasyVistaManual": {
            "Login": "EasyVistaApi", "Password": "EasyVistaApi", "Server": "EasyVistaApi" } } }),
    );
    let source = CyberArkSource::new(settings(&fake.url(), true), dir.path()).unwrap();

    let fetched = source.fetch().await.unwrap();

    assert_eq!(
        values(&fetched),
        vec![
            ("Connections:EasyVistaManual:Login".to_string(), "svc-ticket-agent".to_string()),
            ("Connections:EasyVistaManual:Password".to_string(), "s3cr3t-content".to_string()),
            (
                "Connections:EasyVistaManual:Server".to_string(),
                "https://ev.contoso.com/".to_string()
            ),
        ]
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "one request per distinct account: {seen:?}");
    assert_eq!(seen[0]["Safe"], "Agents");
    assert_eq!(seen[0]["Object"], "EasyVistaApi");
}

#[tokio::test]
async fn account_names_are_url_encoded() {
    let accounts =
        json!({ "Ticket Agent & Co/1": { "UserName": "u", "Content": "c", "Address": "a" } });
    let (fake, dir) = start_fake_ccp(accounts).await;
    write_mapping(
        dir.path(),
        json!({ "Connections": { "X": { "ClientSecret": "Ticket Agent & Co/1" } } }),
    );
    let source = CyberArkSource::new(settings(&fake.url(), true), dir.path()).unwrap();

    let fetched = source.fetch().await.unwrap();

    assert_eq!(values(&fetched), vec![("Connections:X:ClientSecret".to_string(), "c".to_string())]);
    assert_eq!(fake.seen()[0]["Object"], "Ticket Agent & Co/1");
}

#[tokio::test]
async fn without_the_client_certificate_the_provider_refuses_the_connection() {
    let (fake, dir) = start_fake_ccp(easyvista_accounts()).await;
    write_mapping(
        dir.path(),
        json!({ "Connections": { "EasyVistaManual": { "Login": "EasyVistaApi" } } }),
    );
    let source = CyberArkSource::new(settings(&fake.url(), false), dir.path()).unwrap();

    let error = source.fetch().await.unwrap_err();

    assert_eq!(error.setting, "setting CyberArk:Server: ");
    assert!(error.reason.starts_with("cannot reach the Central Credential Provider"), "{error}");
    assert!(fake.seen().is_empty(), "no request may pass the handshake");
}

#[tokio::test]
async fn a_missing_account_is_reported_as_not_found_naming_the_setting() {
    let (fake, dir) = start_fake_ccp(easyvista_accounts()).await;
    write_mapping(
        dir.path(),
        json!({ "Connections": { "EasyVistaManual": { "Login": "EasyVistaApi", "Password": "NoSuchAccount" } } }),
    );
    let source = CyberArkSource::new(settings(&fake.url(), true), dir.path()).unwrap();

    let error = source.fetch().await.unwrap_err();

    let line = error.to_string();
    assert!(
        line.starts_with(&format!(
            "CyberArk https://localhost:{}: setting Connections:EasyVistaManual:Password: ",
            fake.address.port()
        )),
        "{line}"
    );
    assert!(
        line.contains("account \"NoSuchAccount\" not found in safe \"Agents\" (APPAP004E"),
        "{line}"
    );
    assert!(!line.contains('\n'), "one line: {line}");
}

#[tokio::test]
async fn other_provider_errors_are_surfaced_with_code_and_message() {
    let (fake, dir) = start_fake_ccp(easyvista_accounts()).await;
    write_mapping(dir.path(), json!({ "Connections": { "X": { "Login": "EasyVistaApi" } } }));
    let mut settings = settings(&fake.url(), true);
    settings.application_id = Some("SomeoneElse".into());
    let source = CyberArkSource::new(settings, dir.path()).unwrap();

    let error = source.fetch().await.unwrap_err();

    assert!(
        error.reason.contains("APPAP306E: Failed to authenticate the application (HTTP 403)"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_reported_against_cyberark_server() {
    let (_fake, dir) = start_fake_ccp(json!({})).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    write_mapping(dir.path(), json!({ "Connections": { "X": { "Login": "EasyVistaApi" } } }));
    let source =
        CyberArkSource::new(settings(&format!("https://127.0.0.1:{port}"), true), dir.path())
            .unwrap();

    let error = source.fetch().await.unwrap_err();

    assert_eq!(error.setting, "setting CyberArk:Server: ");
    assert!(
        error.reason.contains(&format!("https://127.0.0.1:{port}/AIMWebService/api/Accounts")),
        "{error}"
    );
}

#[tokio::test]
async fn a_wrong_certificate_password_stops_construction_naming_the_password_setting() {
    let (_fake, dir) = start_fake_ccp(json!({})).await;
    write_mapping(dir.path(), json!({ "Connections": { "X": { "Login": "EasyVistaApi" } } }));
    let mut settings = settings("https://localhost:1", true);
    settings.password = Some("wrong-pfx-pass".into());

    let error = CyberArkSource::new(settings, dir.path()).unwrap_err();

    assert_eq!(error.setting, "setting CyberArk:Password: ");
    assert!(error.reason.starts_with("wrong password for the PKCS#12 file"), "{error}");
    assert!(error.reason.contains(CLIENT_PFX_FILE), "{error}");
    assert!(!error.to_string().contains("wrong-pfx-pass"), "{error}");
}

#[tokio::test]
async fn a_missing_certificate_file_stops_construction_naming_the_file_setting() {
    let (_fake, dir) = start_fake_ccp(json!({})).await;
    write_mapping(dir.path(), json!({ "Connections": { "X": { "Login": "EasyVistaApi" } } }));
    std::fs::remove_file(dir.path().join(CLIENT_PFX_FILE)).unwrap();

    let error = CyberArkSource::new(settings("https://localhost:1", true), dir.path()).unwrap_err();

    assert_eq!(error.setting, "setting CyberArk:File: ");
    assert!(error.reason.starts_with("cannot read"), "{error}");
    assert!(error.reason.contains(CLIENT_PFX_FILE), "{error}");
}

#[tokio::test]
async fn a_windows_store_certificate_is_refused_naming_the_store_setting() {
    let (_fake, dir) = start_fake_ccp(json!({})).await;
    write_mapping(dir.path(), json!({ "Connections": { "X": { "Login": "EasyVistaApi" } } }));
    let store = |keys: Value| {
        let mut section = json!({
            "UseCyberArkSetting": "true", "SafeName": "Agents", "ApplicationId": "TicketAgent",
            "Server": "https://localhost:1"
        });
        section.as_object_mut().unwrap().extend(keys.as_object().unwrap().clone());
        serde_json::from_value::<CyberArkSettings>(section).unwrap()
    };

    let by_location = CyberArkSource::new(
        store(json!({ "StoreLocation": "LocalMachine", "StoreName": "My" })),
        dir.path(),
    )
    .unwrap_err();
    let by_name = CyberArkSource::new(store(json!({ "StoreName": "My" })), dir.path()).unwrap_err();
    let by_thumbprint =
        CyberArkSource::new(store(json!({ "Thumbprint": "ab12" })), dir.path()).unwrap_err();

    assert_eq!(by_location.setting, "setting CyberArk:StoreLocation: ");
    assert_eq!(by_name.setting, "setting CyberArk:StoreName: ");
    assert_eq!(by_thumbprint.setting, "setting CyberArk:Thumbprint: ");
    for error in [&by_location, &by_name, &by_thumbprint] {
        assert!(error.reason.contains("Windows certificate store"), "{error}");
        assert!(error.reason.contains("not available on this system"), "{error}");
        assert!(error.reason.contains("set CyberArk:File"), "{error}");
    }
}

#[tokio::test]
async fn a_missing_mapping_file_and_missing_required_settings_stop_construction() {
    let (_fake, dir) = start_fake_ccp(json!({})).await;

    let no_mapping =
        CyberArkSource::new(settings("https://localhost:1", true), dir.path()).unwrap_err();
    assert!(
        no_mapping.reason.contains("appsettings.cyberArk.agent.json is missing"),
        "{no_mapping}"
    );

    let mut no_safe = settings("https://localhost:1", true);
    no_safe.safe_name = None;
    let error = CyberArkSource::new(no_safe, dir.path()).unwrap_err();
    assert_eq!(error.setting, "setting CyberArk:SafeName: ");
}

#[tokio::test]
async fn debug_of_the_source_and_its_output_shows_no_secret() {
    let (fake, dir) = start_fake_ccp(easyvista_accounts()).await;
    write_mapping(dir.path(), json!({ "Connections": { "E": { "Password": "EasyVistaApi" } } }));
    let source = CyberArkSource::new(settings(&fake.url(), true), dir.path()).unwrap();

    let fetched = source.fetch().await.unwrap();

    let shown = format!("{source:?} {fetched:?}");
    assert!(!shown.contains("s3cr3t-content") && !shown.contains(PFX_PASSWORD), "{shown}");
}
