//! Connection settings of one EasyVista connection and the rules that turn them into an API root
//! URL and an HTTP client. It never lets a secret reach a message or a log line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use ta_domain::{RecipientKind, StatusClassifier};
use url::{Host, Url};

use crate::error::EasyVistaError;

/// Everything one EasyVista connection needs, as the binary reads it from its settings.
#[derive(Debug, Clone)]
pub struct EasyVistaConfig {
    /// `Server`: a host name or URL, with or without `/api/v1`; https is assumed when no scheme.
    pub server: String,
    /// `Account`: the instance number in the API root (e.g. `50004`), not a user.
    pub account: String,
    pub credentials: Credentials,
    /// `AllowInsecureHttp`: accept `http://` for a host that is not a loopback address.
    pub allow_insecure_http: bool,
    /// `CaBundle`: PEM certificates trusted in addition to the system's roots.
    pub ca_bundle: Option<PathBuf>,
    /// `ConnectTimeoutSeconds`.
    pub connect_timeout: Duration,
    /// `RequestTimeoutSeconds`: the whole exchange, answer body included.
    pub request_timeout: Duration,
    /// `RecipientField`: when set, how every draft's recipient is sent, whatever the draft says.
    pub recipient_kind: Option<RecipientKind>,
    /// `Origin`: when set, sent as `origin` on every create, whatever the draft says.
    pub origin: Option<String>,
    /// `ClosedStatusGuids`, `CanceledStatusGuids`, `RejectedStatusGuids`.
    pub classifier: StatusClassifier,
    pub read_retries: ReadRetries,
    /// How many times one `open_ticket` call may send the create, each resend only after a
    /// search proved the ticket absent.
    pub create_attempts: u32,
    /// After a create timed out or lost its connection, how long to wait before the search
    /// that decides whether it landed (the server may still be processing it).
    pub reconcile_delay: Duration,
    /// `PageSize`: records per page of every list read (`max_rows`).
    pub page_size: usize,
    /// RFC numbers per batched search; 100 keeps the URL near 4 KB.
    pub batch_size: usize,
    /// How far before the watermark a delta search starts, so an update at the boundary is
    /// read again rather than missed.
    pub delta_overlap: Duration,
}

/// How the agent proves who it is.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// `Login` and `Password`, sent as HTTP Basic.
    Basic { login: String, password: SecretString },
    /// `Token`: an EasyVista access token, sent as a Bearer token.
    Bearer(SecretString),
}

/// Bounds on retrying a read: never more than `max_attempts` sends, never starting a new one
/// after `max_elapsed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRetries {
    pub max_attempts: u32,
    pub max_elapsed: Duration,
    /// First backoff delay; each next one doubles, with jitter, up to `max_delay`.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured, on reads and on creates: a server asking for longer
    /// is sent the request again after this. It may exceed `max_delay` (a throttled server is
    /// waited for as it asks); a read still never starts a new attempt after `max_elapsed`.
    pub max_retry_after: Duration,
}

// === EasyVistaConfig ===

impl EasyVistaConfig {
    /// Settings with every optional value at its default.
    pub fn new(
        server: impl Into<String>,
        account: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        EasyVistaConfig {
            server: server.into(),
            account: account.into(),
            credentials,
            allow_insecure_http: false,
            ca_bundle: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            recipient_kind: None,
            origin: None,
            classifier: StatusClassifier::default(),
            read_retries: ReadRetries::default(),
            create_attempts: 4,
            reconcile_delay: Duration::from_secs(3),
            page_size: 100,
            batch_size: 100,
            delta_overlap: Duration::from_secs(2),
        }
    }
}

impl Default for ReadRetries {
    fn default() -> Self {
        ReadRetries {
            max_attempts: 6,
            max_elapsed: Duration::from_secs(60),
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

// === Validation ===

/// The account's API root, `https://{host}[/prefix]/api/v1/{account}/`, from the `Server` and
/// `Account` settings however they were written.
pub(crate) fn api_root(config: &EasyVistaConfig) -> Result<Url, EasyVistaError> {
    let raw = config.server.trim();
    let server_error = |reason: &str| EasyVistaError::config("Server", Some(raw), reason);
    if raw.is_empty() {
        return Err(EasyVistaError::config("Server", None, "is empty"));
    }
    let with_scheme = if raw.contains("://") { raw.to_owned() } else { format!("https://{raw}") };
    let mut url = Url::parse(&with_scheme).map_err(|e| server_error(&format!("not a URL: {e}")))?;

    if !matches!(url.scheme(), "https" | "http") {
        return Err(server_error("only https (or http on loopback) is supported"));
    }
    if url.host().is_none() {
        return Err(server_error("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(server_error("must not carry credentials; set Login and Password instead"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(server_error("must not have a query or fragment"));
    }
    if url.scheme() == "http" && !config.allow_insecure_http && !is_loopback(&url) {
        return Err(server_error(
            "plain http is refused for a non-loopback host; set AllowInsecureHttp to allow it",
        ));
    }

    let account = config.account.trim().trim_matches('/');
    if account.is_empty() {
        return Err(EasyVistaError::config("Account", None, "is empty"));
    }
    if account.contains(['/', '?', '#', '\\']) || account.chars().any(char::is_whitespace) {
        return Err(EasyVistaError::config(
            "Account",
            Some(account),
            "must be one path segment (the instance number)",
        ));
    }

    let mut segments: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let ends_with_api = |segments: &[String]| {
        let n = segments.len();
        n >= 2
            && segments[n - 2].eq_ignore_ascii_case("api")
            && segments[n - 1].eq_ignore_ascii_case("v1")
    };
    if segments.last().is_some_and(|last| last == account)
        && ends_with_api(&segments[..segments.len() - 1])
    {
        segments.truncate(segments.len() - 3);
    } else if ends_with_api(&segments) {
        segments.truncate(segments.len() - 2);
    }
    segments.extend(["api".to_owned(), "v1".to_owned(), account.to_owned()]);
    url.set_path(&format!("/{}/", segments.join("/")));
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            let name = name.to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The `Authorization` header value, marked sensitive so no debug output shows it.
pub(crate) fn authorization(credentials: &Credentials) -> Result<HeaderValue, EasyVistaError> {
    let (text, setting) = match credentials {
        Credentials::Basic { login, password } => {
            if login.trim().is_empty() {
                return Err(EasyVistaError::config("Login", None, "is empty"));
            }
            if password.expose_secret().is_empty() {
                return Err(EasyVistaError::config("Password", None, "is empty"));
            }
            let pair = format!("{login}:{}", password.expose_secret());
            (
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)),
                "Password",
            )
        }
        Credentials::Bearer(token) => {
            let token = token.expose_secret().trim();
            if token.is_empty() {
                return Err(EasyVistaError::config("Token", None, "is empty"));
            }
            (format!("Bearer {token}"), "Token")
        }
    };
    let mut value = HeaderValue::from_str(&text).map_err(|_| {
        EasyVistaError::config(setting, None, "holds characters an HTTP header cannot carry")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The HTTP client: verified TLS (plus the custom CA bundle), the configured timeouts, no
/// redirects (credentials are never sent anywhere but the configured server).
pub(crate) fn http_client(
    config: &EasyVistaConfig,
    root: &Url,
) -> Result<reqwest::Client, EasyVistaError> {
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .https_only(root.scheme() == "https")
        .user_agent(concat!("ticket-agent/", env!("CARGO_PKG_VERSION")));

    if let Some(path) = &config.ca_bundle {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| {
            EasyVistaError::config("CaBundle", Some(&shown), &format!("cannot be read: {e}"))
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            EasyVistaError::config("CaBundle", Some(&shown), &format!("is not a PEM bundle: {e}"))
        })?;
        if certificates.is_empty() {
            return Err(EasyVistaError::config("CaBundle", Some(&shown), "holds no certificate"));
        }
        builder = builder.tls_certs_merge(certificates);
    }

    builder.build().map_err(|e| {
        EasyVistaError::config("Server", Some(root.as_str()), &format!("no HTTP client: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server: &str) -> EasyVistaConfig {
        let credentials =
            Credentials::Basic { login: "rest".into(), password: SecretString::from("pw") };
        EasyVistaConfig::new(server, "50004", credentials)
    }

    fn root(server: &str) -> String {
        api_root(&config(server)).unwrap().to_string()
    }

    #[test]
    fn api_root_is_built_from_any_way_of_writing_the_server() {
        let expected = "https://ev.example.com/api/v1/50004/";
        for server in [
            "ev.example.com",
            "https://ev.example.com",
            "https://ev.example.com/",
            "https://ev.example.com//",
            "https://ev.example.com/api/v1",
            "https://ev.example.com/api/v1/",
            "https://ev.example.com/API/V1/",
            "https://ev.example.com/api/v1/50004/",
            " https://ev.example.com ",
        ] {
            assert_eq!(root(server), expected, "{server}");
        }
        assert_eq!(
            root("https://ev.example.com:8443/easyvista/"),
            "https://ev.example.com:8443/easyvista/api/v1/50004/"
        );
    }

    #[test]
    fn plain_http_is_refused_unless_loopback_or_allowed() {
        let refused = api_root(&config("http://ev.example.com")).unwrap_err().to_string();
        assert_eq!(
            refused,
            "Server \"http://ev.example.com\": plain http is refused for a non-loopback host; set AllowInsecureHttp to allow it"
        );
        assert_eq!(root("http://127.0.0.1:8080"), "http://127.0.0.1:8080/api/v1/50004/");
        assert_eq!(root("http://localhost/api/v1"), "http://localhost/api/v1/50004/");
        assert_eq!(root("http://[::1]:9000"), "http://[::1]:9000/api/v1/50004/");

        let allowed =
            EasyVistaConfig { allow_insecure_http: true, ..config("http://ev.example.com") };
        assert_eq!(api_root(&allowed).unwrap().as_str(), "http://ev.example.com/api/v1/50004/");
    }

    #[test]
    fn bad_server_or_account_names_the_setting() {
        assert!(api_root(&config("")).unwrap_err().to_string().starts_with("Server"));
        assert!(
            api_root(&config("ftp://ev.example.com"))
                .unwrap_err()
                .to_string()
                .contains("only https")
        );
        assert!(
            api_root(&config("https://u:p@ev.example.com"))
                .unwrap_err()
                .to_string()
                .contains("credentials")
        );
        let no_account = EasyVistaConfig { account: " ".into(), ..config("ev.example.com") };
        assert_eq!(api_root(&no_account).unwrap_err().to_string(), "Account: is empty");
    }

    #[test]
    fn authorization_is_sensitive_and_never_shown() {
        let basic = authorization(&config("x").credentials).unwrap();
        assert!(basic.is_sensitive());
        assert_eq!(basic.to_str().unwrap(), "Basic cmVzdDpwdw==");
        let bearer = authorization(&Credentials::Bearer(SecretString::from("tok"))).unwrap();
        assert_eq!(bearer.to_str().unwrap(), "Bearer tok");
        let shown = format!("{:?}", config("x"));
        assert!(!shown.contains("pw\""), "{shown}");
        assert!(!format!("{basic:?}").contains("cmVzdDpwdw"), "{basic:?}");

        let token = "tok-4f1c9e-secret";
        let with_token = EasyVistaConfig {
            credentials: Credentials::Bearer(SecretString::from(token)),
            ..config("x")
        };
        let shown = format!("{with_token:?}");
        assert!(shown.contains("Bearer"), "{shown}");
        assert!(!shown.contains(token), "{shown}");
        let header = authorization(&with_token.credentials).unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains(token), "{header:?}");
        let client = crate::EasyVistaClient::new(with_token).unwrap();
        assert!(!format!("{client:?}").contains(token), "{client:?}");
        assert!(authorization(&Credentials::Bearer(SecretString::from(" "))).is_err());
    }
}
