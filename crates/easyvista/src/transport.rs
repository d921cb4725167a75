//! One HTTP exchange with EasyVista, classified into [`EasyVistaError`] classes, and the retry
//! policy for reads. Writes are sent exactly once here; what to do after a failed write is
//! decided by the caller, never by this module.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tracing::debug;
use url::Url;

use crate::config::ReadRetries;
use crate::error::{EasyVistaError, server_message, snippet};

/// The HTTP side of a client: shared by every clone.
pub(crate) struct Transport {
    http: reqwest::Client,
    root: Url,
    authorization: HeaderValue,
    retries: ReadRetries,
    sent: AtomicU64,
}

/// Counts the HTTP requests one operation sends (a follow cycle, a create).
#[derive(Debug, Default)]
pub(crate) struct Cost(AtomicU64);

impl Cost {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, requests: u64) {
        self.0.fetch_add(requests, Ordering::Relaxed);
    }
}

impl Transport {
    pub(crate) fn new(
        http: reqwest::Client,
        root: Url,
        authorization: HeaderValue,
        retries: ReadRetries,
    ) -> Self {
        Transport { http, root, authorization, retries, sent: AtomicU64::new(0) }
    }

    pub(crate) fn root(&self) -> &Url {
        &self.root
    }

    /// Every HTTP request this client sent so far.
    pub(crate) fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// A URL under the account's API root; anything that would leave it is refused, so the
    /// credentials only ever go to the configured server.
    pub(crate) fn resource_url(&self, resource: &str) -> Result<Url, EasyVistaError> {
        let relative = resource.trim().trim_start_matches('/');
        let url = self.root.join(relative).map_err(|e| {
            EasyVistaError::config(
                "resource",
                Some(resource),
                &format!("not a path under the API root: {e}"),
            )
        })?;
        if !self.is_under_root(&url) {
            return Err(EasyVistaError::config(
                "resource",
                Some(resource),
                "leaves the account's API root",
            ));
        }
        Ok(url)
    }

    pub(crate) fn is_under_root(&self, url: &Url) -> bool {
        url.scheme() == self.root.scheme()
            && url.host_str().map(str::to_ascii_lowercase)
                == self.root.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == self.root.port_or_known_default()
            && url.path().starts_with(self.root.path())
    }

    /// A GET answered with JSON, retried as [`Transport::get_bytes`] is.
    pub(crate) async fn get(&self, url: &Url, cost: &Cost) -> Result<Value, EasyVistaError> {
        let body = self.get_bytes(url, cost).await?;
        parse_json(&self.describe(&Method::GET, url), StatusCode::OK, &body)
    }

    /// A GET whose successful body is handed back unparsed, for readers that go through it
    /// without building a [`Value`]. Retried with exponential backoff and jitter on 429, 5xx,
    /// timeouts and broken connections, within the configured bounds; Retry-After is honoured up to
    /// `max_retry_after` (and never past `max_elapsed`).
    pub(crate) async fn get_bytes(&self, url: &Url, cost: &Cost) -> Result<Bytes, EasyVistaError> {
        let bounds = self.retries;
        let started = Instant::now();
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(bounds.min_delay)
            .with_max_delay(bounds.max_delay)
            .with_max_times(bounds.max_attempts.saturating_sub(1) as usize)
            .with_total_delay(Some(bounds.max_elapsed));

        (|| self.exchange(Method::GET, url, None, cost))
            .retry(backoff)
            .when(|error| error.is_retryable() && started.elapsed() < bounds.max_elapsed)
            .adjust(|error, delay| match (error.retry_after(), delay) {
                (Some(asked), Some(_)) => Some(
                    asked
                        .min(bounds.max_retry_after)
                        .min(bounds.max_elapsed.saturating_sub(started.elapsed())),
                ),
                _ => delay,
            })
            .notify(
                |error, delay| debug!(path = url.path(), %error, ?delay, "read failed; retrying"),
            )
            .await
            .map(|(_, body)| body)
    }

    /// A POST, sent once.
    pub(crate) async fn post(
        &self,
        url: &Url,
        body: &Value,
        cost: &Cost,
    ) -> Result<Value, EasyVistaError> {
        self.send(Method::POST, url, Some(body), cost).await
    }

    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        cost: &Cost,
    ) -> Result<Value, EasyVistaError> {
        let what = self.describe(&method, url);
        let (status, bytes) = self.exchange(method, url, body, cost).await?;
        parse_json(&what, status, &bytes)
    }

    /// One request: counted, timed and classified; a success gives its status and body.
    async fn exchange(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        cost: &Cost,
    ) -> Result<(StatusCode, Bytes), EasyVistaError> {
        let what = self.describe(&method, url);
        let route = self.route(&method, url);
        cost.0.fetch_add(1, Ordering::Relaxed);
        self.sent.fetch_add(1, Ordering::Relaxed);

        let mut request = self
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let answer = async {
            let response = request.send().await.map_err(|e| transport_error(&what, e))?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let bytes = response.bytes().await.map_err(|e| transport_error(&what, e))?;
            Ok::<_, EasyVistaError>((status, bytes, retry_after))
        }
        .await;
        let outcome = match &answer {
            Ok((status, ..)) => status.as_u16().to_string(),
            Err(EasyVistaError::Timeout { .. }) => "timeout".to_owned(),
            Err(EasyVistaError::Tls { .. }) => "tls".to_owned(),
            Err(EasyVistaError::Unreachable { .. }) => "unreachable".to_owned(),
            Err(_) => "connection_lost".to_owned(),
        };
        metrics::histogram!("ta_easyvista_request_duration_seconds", "route" => route.clone())
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("ta_easyvista_requests_total", "route" => route, "status" => outcome)
            .increment(1);
        let (status, bytes, retry_after) = answer?;
        classify(what, status, &bytes, retry_after)?;
        Ok((status, bytes))
    }

    /// The route of a request for metrics, without ids or query: `GET requests/{id}`.
    fn route(&self, method: &Method, url: &Url) -> String {
        let path = url.path().strip_prefix(self.root.path()).unwrap_or(url.path());
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let resource = segments.next().unwrap_or("");
        match (segments.next(), segments.next()) {
            (None, _) => format!("{method} {resource}"),
            (Some(_), None) => format!("{method} {resource}/{{id}}"),
            (Some(_), Some(sub)) => format!("{method} {resource}/{{id}}/{sub}"),
        }
    }

    /// `GET requests`: the method and the path under the root, without the query.
    fn describe(&self, method: &Method, url: &Url) -> String {
        let path = url.path().strip_prefix(self.root.path()).unwrap_or(url.path());
        format!("{method} {path}")
    }
}

fn transport_error(what: &str, error: reqwest::Error) -> EasyVistaError {
    let what = what.to_owned();
    if error.is_timeout() {
        return EasyVistaError::Timeout { what };
    }
    let connect = error.is_connect();
    let tls = is_tls_failure(&error);
    let reason = causes(&error.without_url());
    if tls {
        EasyVistaError::Tls { what, reason }
    } else if connect {
        EasyVistaError::Unreachable { what, reason }
    } else {
        EasyVistaError::ConnectionLost { what, reason }
    }
}

/// A certificate or handshake failure: sending again will not help.
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if cause.downcast_ref::<std::io::Error>().is_some_and(io_is_tls) {
            return true;
        }
        source = cause.source();
    }
    false
}

/// tokio-rustls reports handshake failures as InvalidData I/O errors, sometimes wrapped in
/// another I/O error.
fn io_is_tls(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::InvalidData
        || io.get_ref().is_some_and(|inner| {
            inner.downcast_ref::<rustls::Error>().is_some()
                || inner.downcast_ref::<std::io::Error>().is_some_and(io_is_tls)
        })
}

/// The error and its causes on one line: reqwest's own text alone hides the useful part.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The JSON of a successful answer; an empty body is `null`.
fn parse_json(what: &str, status: StatusCode, body: &[u8]) -> Result<Value, EasyVistaError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        let shown = snippet(&String::from_utf8_lossy(body));
        let code = status.as_u16();
        EasyVistaError::protocol(
            what,
            format!("HTTP {code} with a body that is not JSON ({e}): {shown}"),
        )
    })
}

/// Ok for a success; otherwise the error class of the status.
fn classify(
    what: String,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<(), EasyVistaError> {
    let code = status.as_u16();
    if status.is_success() {
        return Ok(());
    }

    let message = server_message(body);
    Err(match code {
        401 => EasyVistaError::Authentication { what, status: code, message: message.text },
        403 => EasyVistaError::Authentication {
            what,
            status: code,
            message: format!(
                "{} (the REST profile does not allow this method, or the route does not exist)",
                message.text
            ),
        },
        404 => EasyVistaError::NotFound { what },
        429 | 500..=589 | 591..=599 => {
            EasyVistaError::Unavailable { what, status: code, message: message.text, retry_after }
        }
        _ => EasyVistaError::Rejected {
            what,
            status: code,
            message: message.text,
            field: message.field,
        },
    })
}

/// Retry-After in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = when.to_utc() - chrono::Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_into_their_classes() {
        let class = |code: u16, body: &str| {
            let status = StatusCode::from_u16(code).unwrap();
            classify("GET requests".into(), status, body.as_bytes(), None)
                .and_then(|()| parse_json("GET requests", status, body.as_bytes()))
        };
        assert!(matches!(
            class(401, r#"{"error":"Invalid Login / Password"}"#),
            Err(EasyVistaError::Authentication { .. })
        ));
        assert!(matches!(class(403, ""), Err(EasyVistaError::Authentication { .. })));
        assert!(matches!(
            class(404, r#"{"error":"Resource not found"}"#),
            Err(EasyVistaError::NotFound { .. })
        ));
        assert!(matches!(class(406, ""), Err(EasyVistaError::Rejected { status: 406, .. })));
        assert!(matches!(
            class(590, r#"{"message":"x"}"#),
            Err(EasyVistaError::Rejected { status: 590, .. })
        ));
        assert!(matches!(class(503, ""), Err(EasyVistaError::Unavailable { status: 503, .. })));
        assert!(matches!(class(429, ""), Err(EasyVistaError::Unavailable { status: 429, .. })));
        assert!(matches!(class(200, "<html>"), Err(EasyVistaError::Protocol { .. })));
        assert_eq!(class(201, r#"{"HREF":"x"}"#).unwrap()["HREF"], "x");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    }
}
