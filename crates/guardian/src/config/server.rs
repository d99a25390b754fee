//! `[server]`: how `guardian serve` holds up when it faces the internet: time limits on each
//! connection, caps on connections, the shutdown deadline, and which peers are trusted proxies.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `[server]`: the public server's limits. Every field has a default fit for a server on the
/// internet; a manifest without `[server]` gets them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Seconds a client has to send a request's headers, counted from the connection's start or
    /// from the end of its previous answer (so an idle keep-alive connection is closed too).
    #[serde(default = "ServerSettings::default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body.
    #[serde(default = "ServerSettings::default_body_timeout_secs")]
    pub body_timeout_secs: u64,
    /// Connections open at once, from everyone; further ones are closed as they arrive.
    #[serde(default = "ServerSettings::default_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one client (an IPv4 address, or an IPv6 /64).
    #[serde(default = "ServerSettings::default_max_connections_per_client")]
    pub max_connections_per_client: usize,
    /// Seconds the server waits, once told to stop, for requests in flight; then it closes what
    /// is left. A report being stored is stored whole or not at all either way.
    #[serde(default = "ServerSettings::default_shutdown_secs")]
    pub shutdown_secs: u64,
    /// Peers (reverse proxies) whose `X-Forwarded-For` names the client; from any other peer
    /// the header is ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<IpAddr>,
    /// The address people open the team's pages at (`https://guardian.example.org`): links in
    /// notifications point there, and an https address marks the session cookie Secure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_timeout_secs: Self::default_header_timeout_secs(),
            body_timeout_secs: Self::default_body_timeout_secs(),
            max_connections: Self::default_max_connections(),
            max_connections_per_client: Self::default_max_connections_per_client(),
            shutdown_secs: Self::default_shutdown_secs(),
            trusted_proxies: Vec::new(),
            public_url: None,
        }
    }
}

impl ServerSettings {
    fn default_header_timeout_secs() -> u64 {
        10
    }
    fn default_body_timeout_secs() -> u64 {
        20
    }
    fn default_max_connections() -> usize {
        1024
    }
    fn default_max_connections_per_client() -> usize {
        16
    }
    fn default_shutdown_secs() -> u64 {
        10
    }

    /// Whether these are the defaults (then `[server]` is not written to a manifest).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// What is wrong with these settings, if anything (checked when the manifest is loaded).
    pub fn problem(&self) -> Option<&'static str> {
        if self.header_timeout_secs == 0 || self.body_timeout_secs == 0 {
            return Some("[server] header_timeout_secs and body_timeout_secs must be at least 1");
        }
        if self.max_connections == 0 || self.max_connections_per_client == 0 {
            return Some(
                "[server] max_connections and max_connections_per_client must be at least 1",
            );
        }
        if self.max_connections_per_client > self.max_connections {
            return Some("[server] max_connections_per_client cannot exceed max_connections");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_hold_and_nonsense_is_refused() {
        let s: ServerSettings = toml::from_str("").expect("parse");
        assert!(s.is_default() && s.problem().is_none());
        for bad in [
            "header_timeout_secs = 0",
            "body_timeout_secs = 0",
            "max_connections = 0",
            "max_connections_per_client = 0",
            "max_connections = 4\nmax_connections_per_client = 5",
        ] {
            let s: ServerSettings = toml::from_str(bad).expect("parse");
            assert!(s.problem().is_some(), "{bad}");
        }
        let s: ServerSettings =
            toml::from_str("trusted_proxies = [\"10.0.0.1\", \"::1\"]").expect("parse");
        assert_eq!(s.trusted_proxies.len(), 2);
        assert!(toml::from_str::<ServerSettings>("trusted_proxies = [\"proxy\"]").is_err());
    }
}
