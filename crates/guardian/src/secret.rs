//! Values that must never reach logs or output: private keys and RPC URLs that may carry API keys,
//! and the registry every log line and error message is redacted against before it is written.
//!
//! Types that hold secrets redact their own `Debug` and `Display`, but other code prints too:
//! alloy's transport spans carry the full endpoint URL, and error messages of HTTP clients quote
//! it. So every secret is also registered where it is loaded ([`Secret::new`], [`RpcUrl`]'s
//! constructors, keys as signers load them, the values of `${VAR}` references in the manifest),
//! and the log writer ([`RedactingStderr`]) and the error printer ([`redact`]) replace each
//! registered string with `[redacted]` before anything reaches the terminal.

use std::{
    borrow::Cow,
    fmt,
    io::Write,
    str::FromStr,
    sync::{PoisonError, RwLock},
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a registered secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Strings shorter than this are not registered: redacting every `1` or `eth` from the logs
/// would make them unreadable, and a value that short protects nothing.
pub const MIN_SECRET_LEN: usize = 6;

/// Every registered secret, longest first (so a URL is replaced whole before its path is).
/// Global because the log writer is: tracing's subscriber is installed once per process.
static REGISTERED: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers `secret` so that no log line or printed error shows it. Idempotent; values shorter
/// than [`MIN_SECRET_LEN`] are ignored.
pub fn register(secret: &str) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut all = REGISTERED.write().unwrap_or_else(PoisonError::into_inner);
    if all.iter().any(|s| s == secret) {
        return;
    }
    let at = all.partition_point(|s| s.len() >= secret.len());
    all.insert(at, secret.to_string());
}

/// `text` with every registered secret replaced by `[redacted]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let all = REGISTERED.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for secret in all.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

/// A `tracing_subscriber` writer to stderr that redacts every registered secret from each log
/// line before writing it: the last line of defence for spans and events of other crates
/// (alloy's `ReqwestTransport` span carries the endpoint's full URL at debug level).
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(Vec::new())
    }
}

/// One log record on its way to stderr: buffered whole, so a secret split across several
/// writes is still found, then redacted and written when dropped.
#[derive(Debug)]
pub struct RedactingWriter(Vec<u8>);

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        // A log line that cannot be written has nowhere else to go.
        let _ = std::io::stderr().lock().write_all(redact(&text).as_bytes());
    }
}

/// A secret string whose `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value and registers it (trimmed) for redaction.
    pub fn new(value: String) -> Self {
        register(value.trim());
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s.to_string()))
    }
}

/// A JSON-RPC endpoint. Its path and query often hold an API key, so only scheme, host and port
/// are shown, and its secret parts are registered for redaction as soon as it exists.
///
/// It may keep the template it was written as in the manifest (`https://host/v2/${KEY}`): that
/// is what is written back when a manifest is saved, never the expanded URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RpcUrl {
    url: url::Url,
    template: Option<String>,
}

impl RpcUrl {
    /// The full URL, for the HTTP client only.
    pub fn expose(&self) -> &url::Url {
        &self.url
    }

    /// The same endpoint, written to manifests as `template` (a string with `${VAR}`
    /// references that expands to this URL) instead of the URL itself.
    pub fn with_template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// The `${VAR}` template this URL was expanded from, if any.
    pub fn template(&self) -> Option<&str> {
        self.template.as_deref()
    }

    /// Whether the path, query or user info may hold a secret (an API key, a password).
    pub fn has_secret_parts(&self) -> bool {
        let u = &self.url;
        (u.path() != "/" && !u.path().is_empty()) || u.query().is_some() || !u.username().is_empty()
    }

    /// Registers every form in which this URL's secret parts could be printed.
    fn register_secrets(&self) {
        if !self.has_secret_parts() {
            return;
        }
        let u = &self.url;
        register(u.as_str());
        register(u.as_str().trim_end_matches('/'));
        let path_and_query = &u[url::Position::BeforePath..];
        register(path_and_query);
        if u.path() != "/" {
            register(u.path());
            register(u.path().trim_start_matches('/'));
        }
        if let Some(q) = u.query() {
            register(q);
        }
        register(u.username());
        if let Some(p) = u.password() {
            register(p);
        }
    }

    /// Whether the endpoint is on this machine (a local dev chain).
    pub fn is_loopback(&self) -> bool {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
    }
}

impl fmt::Display for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.url;
        write!(f, "{}://{}", u.scheme(), u.host_str().unwrap_or("?"))?;
        if let Some(port) = u.port() {
            write!(f, ":{port}")?;
        }
        if self.has_secret_parts() {
            f.write_str("/…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for RpcUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s).map_err(|e| format!("invalid RPC URL: {e}"))?;
        match url.scheme() {
            "http" | "https" | "ws" | "wss" => {
                let url = Self {
                    url,
                    template: None,
                };
                url.register_secrets();
                Ok(url)
            }
            other => Err(format!(
                "unsupported RPC URL scheme `{other}`: use http, https, ws or wss"
            )),
        }
    }
}

/// Writes the template when there is one, so a manifest never stores what `${VAR}` expanded to.
impl Serialize for RpcUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.template.as_deref().unwrap_or(self.url.as_str()))
    }
}

impl<'de> Deserialize<'de> for RpcUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new(
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".into(),
        );
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
    }

    #[test]
    fn rpc_url_hides_path_and_query() {
        let u: RpcUrl = "https://eth.example.org/v2/APIKEY?token=T"
            .parse()
            .expect("url");
        assert_eq!(u.to_string(), "https://eth.example.org/…");
        assert!(!format!("{u:?}").contains("APIKEY"));
        let local: RpcUrl = "http://127.0.0.1:8545".parse().expect("url");
        assert_eq!(local.to_string(), "http://127.0.0.1:8545");
        assert!(local.is_loopback());
        assert!("ftp://x".parse::<RpcUrl>().is_err());
        assert!("wss://x".parse::<RpcUrl>().is_ok());
    }

    #[test]
    fn an_rpc_url_registers_every_form_of_its_secret_parts() {
        let u: RpcUrl = "https://u:PW-8x7y6z@eth.example.org/v2/PATHKEY-4f3e?tok=QRYKEY-9a8b"
            .parse()
            .expect("url");
        let line = format!(
            "url={} path={:?} query=Some(\"tok=QRYKEY-9a8b\") bare=v2/PATHKEY-4f3e pw=PW-8x7y6z",
            u.expose(),
            u.expose().path()
        );
        let clean = redact(&line);
        for part in ["PATHKEY-4f3e", "QRYKEY-9a8b", "PW-8x7y6z"] {
            assert!(!clean.contains(part), "{part} in {clean}");
        }
        assert!(clean.starts_with("url=[redacted] "), "{clean}");
        // A local endpoint without a path is not a secret: logs keep it.
        let local: RpcUrl = "http://127.0.0.1:18545".parse().expect("url");
        assert_eq!(
            redact(&format!("{}", local.expose())),
            "http://127.0.0.1:18545/"
        );
    }

    #[test]
    fn secrets_are_registered_on_creation_and_short_values_are_not() {
        let s = Secret::new("  pw-registered-on-new \n".into());
        assert_eq!(redact("x pw-registered-on-new y"), "x [redacted] y");
        assert_eq!(s.expose(), "  pw-registered-on-new \n");
        register("abc");
        assert_eq!(redact("abc"), "abc");
    }

    #[test]
    fn the_log_writer_redacts_a_secret_split_across_writes() {
        register("split-secret-7c6b");
        let mut w = RedactingWriter(Vec::new());
        w.write_all(b"a=split-").expect("write");
        w.write_all(b"secret-7c6b\n").expect("write");
        w.flush().expect("flush");
        assert_eq!(redact(&String::from_utf8_lossy(&w.0)), "a=[redacted]\n");
        w.0.clear();
    }

    #[test]
    fn a_url_with_a_template_serialises_as_the_template() {
        let u: RpcUrl = "https://eth.example.org/v2/TEMPLATED-KEY1"
            .parse()
            .expect("url");
        let plain = serde_json::to_string(&u).expect("json");
        assert!(plain.contains("TEMPLATED-KEY1"));
        let u = u.with_template("https://eth.example.org/v2/${KEY}");
        let written = serde_json::to_string(&u).expect("json");
        assert_eq!(written, "\"https://eth.example.org/v2/${KEY}\"");
        assert!(!format!("{u} {u:?}").contains("TEMPLATED"));
    }
}
