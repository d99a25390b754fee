//! `[bounty]`: the bug bounty desk's settings (the team's age key for proofs of concept, the
//! security e-mail, acknowledgement clocks, and the public endpoint's limits).

use serde::{Deserialize, Serialize};

/// `[bounty]`: how `guardian serve` takes researchers' reports.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BountySettings {
    /// The team's age X25519 public key (`age1...`, from `guardian bounty keygen`): proofs of
    /// concept are encrypted to it before they are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_public_key: Option<String>,
    /// Where researchers may write; default `[incident] security_email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_email: Option<String>,
    /// Hours to acknowledge a critical report.
    #[serde(default = "BountySettings::default_ack_hours_critical")]
    pub ack_hours_critical: u32,
    /// Hours to acknowledge any other report.
    #[serde(default = "BountySettings::default_ack_hours_other")]
    pub ack_hours_other: u32,
    /// Submissions (and replies) one client address may make per hour.
    #[serde(default = "BountySettings::default_rate_limit_per_hour")]
    pub rate_limit_per_hour: u32,
    /// The largest request body accepted, in bytes.
    #[serde(default = "BountySettings::default_max_body_bytes")]
    pub max_body_bytes: usize,
}

impl BountySettings {
    fn default_ack_hours_critical() -> u32 {
        48
    }
    fn default_ack_hours_other() -> u32 {
        96
    }
    fn default_rate_limit_per_hour() -> u32 {
        10
    }
    fn default_max_body_bytes() -> usize {
        64 * 1024
    }

    /// Whether these are the defaults (then `[bounty]` is not written to a manifest).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// What is wrong with these settings, if anything (checked when the manifest is loaded).
    pub fn problem(&self) -> Option<&'static str> {
        if self.ack_hours_critical == 0 || self.ack_hours_other == 0 {
            return Some("[bounty] ack_hours_critical and ack_hours_other must be at least 1");
        }
        if self.rate_limit_per_hour == 0 {
            return Some("[bounty] rate_limit_per_hour must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            return Some("[bounty] max_body_bytes must be at least 1024");
        }
        None
    }
}

impl Default for BountySettings {
    fn default() -> Self {
        Self {
            team_public_key: None,
            security_email: None,
            ack_hours_critical: Self::default_ack_hours_critical(),
            ack_hours_other: Self::default_ack_hours_other(),
            rate_limit_per_hour: Self::default_rate_limit_per_hour(),
            max_body_bytes: Self::default_max_body_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_unknown_keys_are_refused() {
        let s: BountySettings = toml::from_str("team_public_key = \"age1x\"").expect("parse");
        assert_eq!(s.ack_hours_critical, 48);
        assert_eq!(s.ack_hours_other, 96);
        assert_eq!(s.rate_limit_per_hour, 10);
        assert_eq!(s.max_body_bytes, 64 * 1024);
        assert!(s.problem().is_none());
        assert!(toml::from_str::<BountySettings>("team_key = \"x\"").is_err());
        let zero: BountySettings = toml::from_str("rate_limit_per_hour = 0").expect("parse");
        assert!(zero.problem().is_some());
        assert!(BountySettings::default().is_default());
    }
}
