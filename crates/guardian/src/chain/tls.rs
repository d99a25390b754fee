//! TLS for `https://` and `wss://` endpoints: rustls with the ring provider, certificates checked
//! against the platform's trust store, or the certificates in `SSL_CERT_FILE` / `SSL_CERT_DIR`
//! when one of them is set (for a private CA).

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, RootCertStore, crypto::CryptoProvider};

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
        match platform(provider.clone()) {
            Ok(config) => (Arc::new(config), None),
            Err(e) => {
                let problem = match std::env::var_os("SSL_CERT_FILE") {
                    Some(file) => format!(
                        "no trusted CA certificate could be loaded from SSL_CERT_FILE={}: check it names a PEM file of certificates",
                        std::path::Path::new(&file).display()
                    ),
                    None => format!(
                        "no trusted CA certificate was found on this machine ({e}): install the CA bundle (ca-certificates), or set SSL_CERT_FILE to a PEM file of trusted certificates"
                    ),
                };
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
/// `SSL_CERT_DIR` on Linux, like OpenSSL does).
fn platform(provider: Arc<CryptoProvider>) -> Result<ClientConfig, rustls::Error> {
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
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
