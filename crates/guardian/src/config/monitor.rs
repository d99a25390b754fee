//! `[monitor]`: how `guardian monitor` follows the chains (poll interval, confirmations, lag,
//! heartbeat, the signer of automatic responses, how long alerts and delivered messages are
//! kept).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::env::is_variable_name;

/// The longest retention accepted (about 270 years): keeps the cutoff's arithmetic far from
/// overflow.
const MAX_KEEP_DAYS: i64 = 100_000;

/// `n` days; `n` was checked to be positive.
fn days(n: i64) -> Duration {
    Duration::from_secs(n.unsigned_abs() * 86_400)
}

/// How `guardian monitor` follows the chains.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// How often each chain is asked for a new head when it has no subscription, in milliseconds.
    #[serde(default = "MonitorConfig::default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Blocks on top of an alert's block before the alert is `final`.
    #[serde(default = "MonitorConfig::default_confirmations")]
    pub confirmations: u64,
    /// How far behind the head the monitor may fall before it warns about itself.
    #[serde(default = "MonitorConfig::default_max_lag_blocks")]
    pub max_lag_blocks: u64,
    /// Name of an environment variable holding a URL the monitor calls every `heartbeat_secs`
    /// (an outside dead man's switch notices when the calls stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_url_env: Option<String>,
    /// Seconds between heartbeats.
    #[serde(default = "MonitorConfig::default_heartbeat_secs")]
    pub heartbeat_secs: u64,
    /// The `[signers]` entry automatic responses are sent as (default: whichever holds the role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Days an alert is kept before the running monitor deletes it (absent: forever). Alerts
    /// an incident holds, or a message in the outbox names, are kept whatever their age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alerts_days: Option<i64>,
    /// Days a delivered message is kept in the outbox (absent: forever). Messages not yet
    /// delivered, or given up on, are never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_delivered_days: Option<i64>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: Self::default_poll_interval_ms(),
            confirmations: Self::default_confirmations(),
            max_lag_blocks: Self::default_max_lag_blocks(),
            heartbeat_url_env: None,
            heartbeat_secs: Self::default_heartbeat_secs(),
            signer: None,
            keep_alerts_days: None,
            keep_delivered_days: None,
        }
    }
}

impl MonitorConfig {
    fn default_poll_interval_ms() -> u64 {
        200
    }
    fn default_confirmations() -> u64 {
        2
    }
    fn default_max_lag_blocks() -> u64 {
        10
    }
    fn default_heartbeat_secs() -> u64 {
        60
    }

    /// Whether every setting is its default (the manifest then omits the section).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// How long alerts are kept (`None`: forever).
    pub fn keep_alerts(&self) -> Option<Duration> {
        self.keep_alerts_days.map(days)
    }

    /// How long delivered messages are kept (`None`: forever).
    pub fn keep_delivered(&self) -> Option<Duration> {
        self.keep_delivered_days.map(days)
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// What is wrong with the section, if anything; `signers` are the manifest's signer names.
    pub(super) fn problem<'a>(
        &self,
        mut signers: impl Iterator<Item = &'a String>,
    ) -> Option<String> {
        if self.poll_interval_ms == 0 || self.heartbeat_secs == 0 {
            return Some("[monitor] poll_interval_ms and heartbeat_secs must be at least 1".into());
        }
        if self.max_lag_blocks == 0 {
            return Some("[monitor] max_lag_blocks must be at least 1".into());
        }
        for (key, days) in [
            ("keep_alerts_days", self.keep_alerts_days),
            ("keep_delivered_days", self.keep_delivered_days),
        ] {
            if let Some(days) = days
                && !(1..=MAX_KEEP_DAYS).contains(&days)
            {
                return Some(format!(
                    "[monitor] {key} = {days}: give a whole number of days from 1 to {MAX_KEEP_DAYS}, or leave it out to keep everything"
                ));
            }
        }
        if let Some(var) = &self.heartbeat_url_env
            && !is_variable_name(var)
        {
            // Not quoted: it may be the URL itself, pasted in.
            return Some(
                "[monitor] heartbeat_url_env takes the name of an environment variable (letters, digits and _), never the URL itself".into(),
            );
        }
        if let Some(name) = &self.signer
            && !signers.any(|s| s == name)
        {
            return Some(format!(
                "[monitor] signer `{name}` is not declared: add [signers.{name}] or fix the name"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Manifest;

    const BASE: &str = r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]

[signers.pauser]
dev_account = 1
"#;

    fn parse(extra: &str) -> Result<Manifest, String> {
        Manifest::parse(&format!("{BASE}{extra}"), Path::new("guardian.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_apply_and_stay_out_of_written_manifests() {
        let m = parse("").expect("valid");
        assert_eq!(
            (
                m.monitor.poll_interval_ms,
                m.monitor.confirmations,
                m.monitor.max_lag_blocks
            ),
            (200, 2, 10)
        );
        assert!(!m.to_toml().contains("[monitor]"));
        let m =
            parse("\n[monitor]\npoll_interval_ms = 50\nconfirmations = 0\nsigner = \"pauser\"\n")
                .expect("valid");
        assert_eq!(m.monitor.poll_interval_ms, 50);
        assert_eq!(m.monitor.signer.as_deref(), Some("pauser"));
        assert!(m.to_toml().contains("[monitor]"));
    }

    #[test]
    fn mistakes_are_refused_with_their_line() {
        let err = parse("\n[monitor]\npoll_interval = 5\n").expect_err("unknown key");
        assert!(
            err.starts_with("guardian.toml:10:") && err.contains("poll_interval"),
            "{err}"
        );
        let err = parse("\n[monitor]\nsigner = \"nobody\"\n").expect_err("unknown signer");
        assert!(
            err.starts_with("guardian.toml:9:") && err.contains("nobody"),
            "{err}"
        );
        let err = parse("\n[monitor]\npoll_interval_ms = 0\n").expect_err("zero");
        assert!(err.contains("poll_interval_ms"), "{err}");
        let err = parse("\n[monitor]\nheartbeat_url_env = \"https://hc.example/ping/SECRET\"\n")
            .expect_err("a URL, not a name");
        assert!(
            err.contains("never the URL") && !err.contains("SECRET"),
            "{err}"
        );
    }

    #[test]
    fn retention_takes_a_positive_whole_number_of_days() {
        let m =
            parse("\n[monitor]\nkeep_alerts_days = 30\nkeep_delivered_days = 7\n").expect("valid");
        assert_eq!(
            m.monitor.keep_alerts(),
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            m.monitor.keep_delivered(),
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        assert!(m.to_toml().contains("keep_alerts_days = 30"));
        let m = parse("").expect("valid");
        assert_eq!(
            (m.monitor.keep_alerts(), m.monitor.keep_delivered()),
            (None, None)
        );
        for (line, key) in [
            ("keep_alerts_days = 0", "keep_alerts_days"),
            ("keep_alerts_days = -3", "keep_alerts_days"),
            ("keep_delivered_days = 0", "keep_delivered_days"),
        ] {
            let err = parse(&format!("\n[monitor]\n{line}\n")).expect_err(line);
            assert!(
                err.contains(key) && err.contains("whole number of days from 1"),
                "{line}: {err}"
            );
        }
        for line in ["keep_alerts_days = 1.5", "keep_delivered_days = \"30d\""] {
            let err = parse(&format!("\n[monitor]\n{line}\n")).expect_err(line);
            assert!(err.starts_with("guardian.toml:10:"), "{line}: {err}");
        }
    }
}
