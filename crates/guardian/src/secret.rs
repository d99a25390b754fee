//! Values that must never reach logs or output: private keys and RPC URLs that may carry API keys.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret string whose `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
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

/// A JSON-RPC endpoint. Its path and query often hold an API key, so only scheme, host and port are shown.
#[derive(Clone, PartialEq, Eq)]
pub struct RpcUrl(url::Url);

impl RpcUrl {
    /// The full URL, for the HTTP client only.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// Whether the endpoint is on this machine (a local dev chain).
    pub fn is_loopback(&self) -> bool {
        match self.0.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
    }
}

impl fmt::Display for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.0;
        write!(f, "{}://{}", u.scheme(), u.host_str().unwrap_or("?"))?;
        if let Some(port) = u.port() {
            write!(f, ":{port}")?;
        }
        let hidden = (u.path() != "/" && !u.path().is_empty())
            || u.query().is_some()
            || !u.username().is_empty();
        if hidden {
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
            "http" | "https" | "ws" | "wss" => Ok(Self(url)),
            other => Err(format!(
                "unsupported RPC URL scheme `{other}`: use http, https, ws or wss"
            )),
        }
    }
}

impl Serialize for RpcUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
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
}
