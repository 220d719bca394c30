//! TLS for the DynamoDB proxy, so that a function reaches it as it reaches DynamoDB on AWS:
//! resolving the endpoint's name (`localhost`), a TCP connection and a TLS handshake, with
//! certificate verification against a trust store. The certificate is issued for `localhost` by
//! a throwaway CA that the function trusts through the standard environment (`SSL_CERT_FILE`,
//! read by rustls-native-certs), so the function's own code path is the one it runs in AWS,
//! unchanged. `DynamoDbProxy::start_tls` serves with it (the bench's cold start, the test that
//! the functions' client speaks TLS).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use tokio_rustls::TlsAcceptor;

/// The system's trust store, where Debian and Amazon Linux keep it: the front's CA is added to
/// it, so that a function loads as many certificates as it does on AWS.
const SYSTEM_ROOTS: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// An acceptor for `localhost` with a certificate of a fresh throwaway CA, and the file of the
/// roots that trust it (the system's and that CA), written into `dir`.
pub(crate) fn localhost_acceptor(dir: &Path) -> Result<(TlsAcceptor, PathBuf), String> {
    fn fail(what: &'static str) -> impl Fn(rcgen::Error) -> String {
        move |e| format!("{what}: {e}")
    }
    let ca_key = KeyPair::generate().map_err(fail("CA key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail("CA"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    (ca.distinguished_name).push(DnType::CommonName, "cart-api test kit throwaway CA");
    let ca = ca.self_signed(&ca_key).map_err(fail("CA certificate"))?;
    let key = KeyPair::generate().map_err(fail("key"))?;
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).map_err(fail("leaf"))?;
    let leaf = (leaf.signed_by(&key, &ca, &ca_key)).map_err(fail("leaf certificate"))?;

    let roots_file = dir.join(format!("tls-roots-{}.pem", uuid::Uuid::new_v4().simple()));
    let system = SYSTEM_ROOTS
        .iter()
        .find_map(|f| std::fs::read_to_string(f).ok());
    let roots = system.unwrap_or_default() + &ca.pem();
    std::fs::write(&roots_file, roots).map_err(|e| format!("{}: {e}", roots_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|c| {
            let key = PrivatePkcs8KeyDer::from(key.serialize_der());
            (c.with_no_client_auth()).with_single_cert(vec![leaf.der().clone()], key.into())
        })
        .map_err(|e| format!("TLS configuration: {e}"))?;
    Ok((TlsAcceptor::from(Arc::new(config)), roots_file))
}
