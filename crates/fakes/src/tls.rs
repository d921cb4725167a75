//! A throw-away certificate authority and an HTTPS server for an axum router. The keys live in
//! memory only; nothing here is fit to protect anything real.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A certificate authority made at test time, which signs server and client certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        TestCa { issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate") }
    }

    /// The CA certificate in PEM, for a client's trust store (`CaFile` settings).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A server configuration for these names (DNS names or IP addresses); with
    /// `require_client_certificate`, handshakes without a client certificate of this CA fail.
    pub fn server_config(
        &self,
        names: &[&str],
        require_client_certificate: bool,
    ) -> rustls::ServerConfig {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let certificate = CertificateParams::new(names)
            .expect("server names")
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        let chain = vec![certificate.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));

        let builder = rustls::ServerConfig::builder();
        let builder = if require_client_certificate {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.der()).expect("CA as root");
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        builder.with_single_cert(chain, key).expect("server configuration")
    }

    /// A client certificate of this CA with its key, as a PKCS#12 file opened by `password`.
    pub fn client_pfx(&self, common_name: &str, password: &str) -> Vec<u8> {
        let key = KeyPair::generate().expect("client key");
        let certificate = CertificateParams::new(vec![common_name.to_owned()])
            .expect("client name")
            .signed_by(&key, &self.issuer)
            .expect("client certificate");
        let chain = PrivateKeyChain::new(
            vec![1u8, 2, 3, 4],
            PrivateKey::from_der(&key.serialize_der()).expect("client key in PKCS#12"),
            [
                Certificate::from_der(certificate.der()).expect("client certificate in PKCS#12"),
                Certificate::from_der(self.issuer.der()).expect("CA in PKCS#12"),
            ],
        );
        let mut store = KeyStore::new();
        store.add_entry(common_name, KeyStoreEntry::PrivateKeyChain(chain));
        // Few key-derivation rounds: the default count takes seconds in debug builds.
        store
            .writer(password)
            .encryption_iterations(16)
            .mac_iterations(16)
            .write()
            .expect("PKCS#12 file")
    }
}

/// A fresh port of 127.0.0.1, bound before the server starts so its links can name the port.
pub(crate) async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("bound address");
    (listener, address)
}

/// Serves `app` over TLS on `listener` until the runtime ends.
pub(crate) fn serve(listener: TcpListener, config: rustls::ServerConfig, app: axum::Router) {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
}
