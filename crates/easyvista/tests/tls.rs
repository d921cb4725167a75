//! TLS: a server whose certificate comes from a private CA is trusted only when that CA is in
//! the CaBundle setting.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use secrecy::SecretString;
use ta_easyvista::{Credentials, EasyVistaClient, EasyVistaConfig};
use ta_ports::{TicketingBackend, TicketingError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Starts a one-route HTTPS server for `localhost`; returns its port and the CA's PEM.
async fn https_server() -> (u16, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "ticket-agent test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();

    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();

    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = r#"{"record_count":"1","total_record_count":"7","records":[{"RFC_NUMBER":"I260101_000001"}]}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca.pem())
}

fn config(port: u16) -> EasyVistaConfig {
    let credentials =
        Credentials::Basic { login: "agent".into(), password: SecretString::from("secret") };
    EasyVistaConfig::new(format!("https://localhost:{port}"), "50004", credentials)
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_given_as_ca_bundle() {
    let (port, ca_pem) = https_server().await;

    let refused = EasyVistaClient::new(config(port)).unwrap().check_connection().await.unwrap_err();
    assert!(matches!(refused, TicketingError::Unreachable(_)), "{refused}");
    assert!(refused.to_string().contains("TLS refused"), "{refused}");
    assert!(refused.to_string().contains("CaBundle"), "{refused}");

    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), ca_pem).unwrap();
    let trusting = EasyVistaConfig { ca_bundle: Some(bundle.path().to_owned()), ..config(port) };
    let answer = EasyVistaClient::new(trusting).unwrap().check_connection().await.unwrap();
    assert!(answer.contains("7 tickets"), "{answer}");
}

#[tokio::test]
async fn an_unreadable_ca_bundle_names_the_setting() {
    let missing = EasyVistaConfig { ca_bundle: Some("/nonexistent/ca.pem".into()), ..config(443) };
    let error = EasyVistaClient::new(missing).unwrap_err().to_string();
    assert!(error.starts_with("CaBundle \"/nonexistent/ca.pem\": cannot be read"), "{error}");

    let not_pem = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_pem.path(), "hello").unwrap();
    let garbage = EasyVistaConfig { ca_bundle: Some(not_pem.path().to_owned()), ..config(443) };
    assert!(EasyVistaClient::new(garbage).unwrap_err().to_string().starts_with("CaBundle"));
}
