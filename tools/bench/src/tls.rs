//! A TLS front for DynamoDB Local, so that a cold start pays what it pays on AWS before its
//! first request: resolving the endpoint's name (`localhost`), a TCP connection and a TLS
//! handshake, with certificate verification against a trust store. The certificate is issued
//! for `localhost` by a throwaway CA that the function trusts through the standard environment
//! (`SSL_CERT_FILE`, read by rustls-native-certs), so the function's own code path is the one it
//! runs in AWS, unchanged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A running front: `https://localhost:PORT`, and the CA certificate that verifies it.
pub struct TlsFront {
    pub url: String,
    pub ca_file: PathBuf,
    task: JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a front that terminates TLS and passes the bytes on to `upstream` (`host:port`),
/// writing its CA certificate into `dir`.
pub async fn start(upstream: String, dir: &Path) -> Result<TlsFront, String> {
    fn fail(what: &'static str) -> impl Fn(rcgen::Error) -> String {
        move |e| format!("{what}: {e}")
    }
    let ca_key = KeyPair::generate().map_err(fail("CA key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail("CA"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    (ca.distinguished_name).push(DnType::CommonName, "cart-api bench throwaway CA");
    let ca = ca.self_signed(&ca_key).map_err(fail("CA certificate"))?;
    let key = KeyPair::generate().map_err(fail("key"))?;
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).map_err(fail("leaf"))?;
    let leaf = (leaf.signed_by(&key, &ca, &ca_key)).map_err(fail("leaf certificate"))?;

    let ca_file = dir.join("bench-ca.pem");
    std::fs::write(&ca_file, ca.pem()).map_err(|e| format!("{}: {e}", ca_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|c| {
            let key = PrivatePkcs8KeyDer::from(key.serialize_der());
            (c.with_no_client_auth()).with_single_cert(vec![leaf.der().clone()], key.into())
        })
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut client) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    let url = format!("https://localhost:{port}");
    Ok(TlsFront { url, ca_file, task })
}
