//! The `easyvista-sim` binary: started on a free port, it prints what a client needs, and a
//! client using what it printed is served.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and reads its `name: value` lines up to the token.
fn start(args: &[&str]) -> (Running, HashMap<String, String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_easyvista-sim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let last = line.starts_with("token:");
            if tx.send(line).is_err() || last {
                break;
            }
        }
    });
    let mut printed = HashMap::new();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("the binary prints its token");
        let (name, value) = line.split_once(':').expect("name: value");
        printed.insert(name.trim().to_string(), value.trim().to_string());
        if name == "token" {
            break;
        }
    }
    (running, printed)
}

#[tokio::test]
async fn the_binary_prints_what_a_client_needs_and_serves_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (_running, printed) =
        start(&["--listen", "127.0.0.1:0", "--employees", "25", "--account", "50123"]);
    let base = &printed["base url"];
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.starts_with("http://127.0.0.1:0/"), "the real port is printed: {base}");
    assert!(base.ends_with("/api/v1/50123/"), "{base}");
    assert_eq!(printed["account"], "50123");
    let (login, password, token) = (&printed["login"], &printed["password"], &printed["token"]);

    let http = reqwest::Client::new();
    let response = http
        .get(format!("{base}employees?max_rows=1"))
        .basic_auth(login, Some(password))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["total_record_count"], "31", "6 named and 25 synthetic employees: {body}");

    let response =
        http.get(format!("{base}license")).bearer_auth(token).send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);

    let response = http
        .get(format!("{base}license"))
        .basic_auth(login, Some("not-the-password"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let admin = printed["admin"].clone();
    let response = http.get(format!("{admin}counters")).send().await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    let counters: serde_json::Value = response.json().await.expect("json");
    assert_eq!(counters["requests"]["GET /license"]["200"], 1, "{counters}");
}
