//! Authentication, the account in the URL, and what unknown routes answer.

use reqwest::StatusCode;
use serde_json::json;

use super::common::Harness;

#[tokio::test]
async fn basic_and_bearer_are_both_accepted() {
    let h = Harness::start().await;
    let basic = h
        .http
        .get(h.url("license"))
        .basic_auth("agent", Some("secret"))
        .send()
        .await
        .expect("answered");
    assert_eq!(basic.status(), StatusCode::OK);
    let bearer =
        h.http.get(h.url("license")).bearer_auth(h.sim.token()).send().await.expect("answered");
    assert_eq!(bearer.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_credentials_or_account_answer_401_invalid_login() {
    let h = Harness::start().await;
    let wrong_account = format!("{}api/v1/50005/license", h.sim.server_url());
    let attempts = [
        h.http.get(h.url("license")).basic_auth("agent", Some("wrong")),
        h.http.get(h.url("license")).basic_auth("nobody", Some("secret")),
        h.http.get(h.url("license")).bearer_auth("not-the-token"),
        h.http.get(h.url("requests")),
        h.http.get(wrong_account).basic_auth("agent", Some("secret")),
    ];
    for attempt in attempts {
        let response = attempt.send().await.expect("answered");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body, json!({"error": "Invalid Login / Password"}));
    }
}

/// Quirk 26: a missing route answers 403 like a forbidden one, and the swagger GET answers 201.
#[tokio::test]
async fn unknown_routes_answer_403_and_swagger_201() {
    let h = Harness::start().await;
    let (status, body) = h.get("no-such-resource").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "Unauthorized Method for your profile");
    let (status, _) = h.call(reqwest::Method::DELETE, "requests", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = h.get("swagger").await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body["openapi"].is_string());
}

/// Quirk 29: without the account segment nothing is served.
#[tokio::test]
async fn a_url_without_the_account_is_refused() {
    let h = Harness::start().await;
    let url = format!("{}api/v1/requests", h.sim.server_url());
    let response =
        h.http.get(url).basic_auth("agent", Some("secret")).send().await.expect("answered");
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn license_answers_the_connection_test_shape() {
    let h = Harness::start().await;
    let (status, body) = h.get("license").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["License"]["Account"], "40000");
    assert_eq!(body["License"]["MaxConnexions"], "9999");
    assert!(body["HREF"].as_str().is_some_and(|h| h.ends_with("/license")));
}
