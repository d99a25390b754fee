//! TLS for `https://` and `wss://` endpoints and for PostgreSQL: rustls with the ring provider,
//! certificates checked
//! against the platform's trust store, plus the certificates in `SSL_CERT_FILE` / `SSL_CERT_DIR`
//! when one of them is set (for a private CA).

use std::{
    path::Path,
    sync::{Arc, OnceLock},
};

use rustls::{
    ClientConfig, RootCertStore,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, pem::PemObject},
};

/// Installs ring as the process's rustls provider, once; every TLS user in the process (reqwest,
/// the WebSocket client) then agrees on it. The library calls it before it connects anywhere,
/// so a program or test that only calls the library gets TLS too; code that builds an HTTP
/// client of its own first (reqwest's `Client::new`, alloy's `connect_http`) must call it
/// before, or reqwest panics for want of a provider.
pub fn install_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Err means another provider was installed first, which works just as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The TLS settings every endpoint uses, and why certificates cannot be checked when the trusted
/// ones could not be loaded.
///
/// Without any trusted certificate (no CA bundle on the machine, or `SSL_CERT_FILE` naming a
/// file that holds none) the settings trust nothing: `http://` endpoints still work, and every
/// `https://` or `wss://` one fails with the reason given here.
pub fn client_config() -> (ClientConfig, Option<String>) {
    static CONFIG: OnceLock<(Arc<ClientConfig>, Option<String>)> = OnceLock::new();
    let (config, problem) = CONFIG.get_or_init(|| {
        install_provider();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let file = std::env::var_os("SSL_CERT_FILE");
        let file_problem = cert_file_problem(file.as_deref());
        let overridden = file.is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
        let extra = system_roots_besides(overridden, SYSTEM_BUNDLES);
        match platform(provider.clone(), extra) {
            Ok(config) => (Arc::new(config), file_problem),
            Err(e) => {
                let problem = file_problem.unwrap_or_else(|| format!(
                    "no trusted CA certificate was found on this machine ({e}): install the CA bundle (ca-certificates), or set SSL_CERT_FILE to a PEM file of trusted certificates"
                ));
                tracing::warn!("{problem}; https:// and wss:// endpoints will fail");
                let config = ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map(|b| {
                        b.with_root_certificates(RootCertStore::empty())
                            .with_no_client_auth()
                    });
                match config {
                    Ok(c) => (Arc::new(c), Some(problem)),
                    // The ring provider supports the default versions; this cannot happen, but
                    // the default settings are as good a fallback as any.
                    Err(_) => (
                        Arc::new(
                            ClientConfig::builder()
                                .with_root_certificates(RootCertStore::empty())
                                .with_no_client_auth(),
                        ),
                        Some(problem),
                    ),
                }
            }
        }
    });
    (ClientConfig::clone(config), problem.clone())
}

/// Settings that verify servers through the platform verifier (which reads `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` on Linux, like OpenSSL does), trusting `extra` roots as well.
fn platform(
    provider: Arc<CryptoProvider>,
    extra: Vec<CertificateDer<'static>>,
) -> Result<ClientConfig, rustls::Error> {
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Where Linux distributions keep their CA bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The system's CA certificates (from the first of `bundles` that holds any) when the trust store
/// is `overridden` by `SSL_CERT_FILE` or `SSL_CERT_DIR`, else none.
///
/// The platform verifier, like OpenSSL, trusts only those variables' certificates when one is
/// set; a private CA for one node would then make every public provider untrusted. Adding the
/// system's back makes the variable add a CA rather than replace them all.
fn system_roots_besides(overridden: bool, bundles: &[&str]) -> Vec<CertificateDer<'static>> {
    if !overridden {
        return Vec::new();
    }
    bundles
        .iter()
        .find_map(|path| {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .ok()?
                .filter_map(Result::ok)
                // One certificate the store would refuse must not cost all the others.
                .filter(|c| RootCertStore::empty().add(c.clone()).is_ok())
                .collect();
            (!certs.is_empty()).then_some(certs)
        })
        .unwrap_or_default()
}

/// Why `SSL_CERT_FILE`, when set, trusts nothing: it cannot be read, or holds no certificate.
fn cert_file_problem(file: Option<&std::ffi::OsStr>) -> Option<String> {
    let file = Path::new(file?);
    let shown = file.display();
    match CertificateDer::pem_file_iter(file) {
        Err(e) => Some(format!("SSL_CERT_FILE={shown} cannot be read ({e})")),
        Ok(certs) => {
            let found = certs.filter_map(Result::ok).count();
            (found == 0).then(|| format!("SSL_CERT_FILE={shown} holds no PEM certificate"))
        }
    }
}

/// Adds to a certificate error what the user can do about it: why no certificate is trusted
/// (`problem`, from [`client_config`]), or how to trust a private CA.
pub fn advise(message: &mut String, problem: Option<&str>) {
    if !is_certificate_error(message) {
        return;
    }
    message.push_str(": ");
    message.push_str(problem.unwrap_or(
        "if the endpoint uses a private CA, set SSL_CERT_FILE to a PEM file with its certificate",
    ));
}

/// Whether an error message is about a certificate.
pub fn is_certificate_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("certificate") || m.contains("unknownissuer") || m.contains("unknown issuer")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_file(dir: &Path, name: &str) -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["ca.test".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let path = dir.join(name);
        std::fs::write(&path, cert.pem()).expect("write");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn a_cert_file_adds_to_the_system_roots_instead_of_replacing_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let system = pem_file(dir.path(), "system.pem");
        let bundles = ["/nonexistent/bundle.crt", system.as_str()];
        assert_eq!(system_roots_besides(true, &bundles).len(), 1);
        assert!(
            system_roots_besides(false, &bundles).is_empty(),
            "without the variables the platform verifier loads the system's roots itself"
        );
    }

    #[test]
    fn an_unusable_cert_file_is_named_with_the_reason() {
        let dir = tempfile::tempdir().expect("tmp");
        let good = pem_file(dir.path(), "ca.pem");
        assert_eq!(cert_file_problem(Some(good.as_ref())), None);
        let missing = dir.path().join("missing.pem");
        let problem = cert_file_problem(Some(missing.as_os_str())).expect("problem");
        assert!(problem.contains("cannot be read"), "{problem}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").expect("write");
        let problem = cert_file_problem(Some(empty.as_os_str())).expect("problem");
        assert!(problem.contains("holds no PEM certificate"), "{problem}");
        assert_eq!(cert_file_problem(None), None);
    }
}
