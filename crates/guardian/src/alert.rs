//! What the monitor raises and everything downstream (notifications, incidents, the server)
//! consumes: an alert, its severity and its lifecycle. Shared types only; alerts are stored by
//! `storage` and raised by `monitor`.

use std::{fmt, str::FromStr};

use alloy::primitives::{Address, B256, TxHash};
use serde::{Deserialize, Serialize};

/// How serious an alert is. Ordered: `Info < Warning < High < Critical`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing (an expected privileged action).
    Info,
    /// Unusual; someone should look.
    Warning,
    /// An exploitable bug or a limited loss.
    High,
    /// An active exploit or significant fund risk.
    Critical,
}

impl Severity {
    /// The incident level this severity suggests: info/warning → 1, high → 2, critical → 3.
    pub fn level(self) -> u8 {
        match self {
            Self::Info | Self::Warning => 1,
            Self::High => 2,
            Self::Critical => 3,
        }
    }

    /// The lowercase name used in the manifest, the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Self::Info),
            "warning" => Ok(Self::Warning),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            other => Err(format!(
                "unknown severity `{other}`: use info, warning, high or critical"
            )),
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// About a transaction not yet mined (pre-emptive detection).
    Pending,
    /// Raised from a block that may still be reorganised away.
    Open,
    /// Its block is `[monitor] confirmations` deep.
    Final,
    /// Its block was orphaned by a reorganisation.
    Retracted,
}

impl AlertStatus {
    /// The lowercase name used in the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Open => "open",
            Self::Final => "final",
            Self::Retracted => "retracted",
        }
    }
}

impl FromStr for AlertStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "open" => Ok(Self::Open),
            "final" => Ok(Self::Final),
            "retracted" => Ok(Self::Retracted),
            other => Err(format!("unknown alert status `{other}`")),
        }
    }
}

/// The rule (and kind) of the monitor's own health alerts: an outage, a failing contact.
pub const HEALTH_RULE: &str = "monitor-health";

/// The rule (and kind) of an overdue bug bounty report's alert.
pub const BOUNTY_SLA_RULE: &str = "bounty-sla";

/// The dedup-key prefix of a contact's failing-delivery alert: `monitor-health:contact:<name>:<ms>`.
pub const CONTACT_KEY_PREFIX: &str = "monitor-health:contact:";

/// The dedup-key prefix of an overdue bounty report's alert: `bounty-sla:report:<id>`.
pub const OVERDUE_REPORT_KEY_PREFIX: &str = "bounty-sla:report:";

/// The dedup-key prefixes of alerts about something other than the block they were filed at (a
/// contact failing, a report overdue): a reorganisation does not retract them.
pub const NOT_ABOUT_A_BLOCK: [&str; 2] = [CONTACT_KEY_PREFIX, OVERDUE_REPORT_KEY_PREFIX];

/// An alert about to be stored: what a rule found in a block.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NewAlert {
    /// The rule's name (`privileged`, `insolvent`, or a `[[rules]]` name).
    pub rule: String,
    /// The rule's kind (`privileged`, `insolvent`, `rate`, `outflow`, ...).
    pub kind: String,
    /// How serious.
    pub severity: Severity,
    /// The chain's name in the manifest.
    pub chain: String,
    /// Its chain id.
    pub chain_id: u64,
    /// The contract's name in the manifest, when the alert is about one.
    pub contract: Option<String>,
    /// That contract's address.
    #[schema(value_type = Option<String>)]
    pub address: Option<Address>,
    /// The block it was raised from.
    pub block_number: u64,
    /// That block's hash.
    #[schema(value_type = String)]
    pub block_hash: B256,
    /// The transactions behind it.
    #[schema(value_type = Vec<String>)]
    pub tx_hashes: Vec<TxHash>,
    /// One line for people.
    pub summary: String,
    /// What the rule measured (counts, amounts, baseline), as JSON.
    pub evidence: serde_json::Value,
    /// Deduplication key: the same rule, contract and window never raise two alerts.
    pub dedup_key: String,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Alert {
    /// Row id.
    pub id: i64,
    /// Where it is in its life.
    pub status: AlertStatus,
    /// When it was stored, Unix milliseconds.
    pub detected_at: i64,
    /// Who acknowledged it, and when (Unix milliseconds), with their note.
    pub acknowledged: Option<Acknowledgement>,
    /// What was found.
    #[serde(flatten)]
    pub found: NewAlert,
}

/// An operator's acknowledgement of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Acknowledgement {
    /// The operator (`--as`, `GUARDIAN_OPERATOR`, or the OS user).
    pub by: String,
    /// Unix milliseconds.
    pub at: i64,
    /// Their note.
    pub note: Option<String>,
}

impl NewAlert {
    /// Whether it is about the content of the block it is filed at (and so undone when a
    /// reorganisation orphans that block): every alert but those [`NOT_ABOUT_A_BLOCK`] names.
    pub fn about_block(&self) -> bool {
        !NOT_ABOUT_A_BLOCK
            .iter()
            .any(|p| self.dedup_key.starts_with(p))
    }
}

impl Alert {
    /// The contact a failing-delivery `monitor-health` alert is about (it is never told of its
    /// own failure).
    pub fn failing_contact(&self) -> Option<&str> {
        let a = &self.found;
        if a.rule != HEALTH_RULE || !a.dedup_key.starts_with(CONTACT_KEY_PREFIX) {
            return None;
        }
        a.evidence.get("contact")?.as_str()
    }

    /// The bug bounty report a `bounty-sla` alert is about.
    pub fn overdue_report(&self) -> Option<i64> {
        let a = &self.found;
        (a.rule == BOUNTY_SLA_RULE && a.dedup_key.starts_with(OVERDUE_REPORT_KEY_PREFIX))
            .then(|| a.evidence.get("report")?.as_i64())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_map_to_incident_levels() {
        assert!(Severity::Info < Severity::Warning);
        assert!(Severity::High < Severity::Critical);
        let levels: Vec<u8> = ["info", "warning", "high", "critical"]
            .iter()
            .map(|s| s.parse::<Severity>().expect("known").level())
            .collect();
        assert_eq!(levels, [1, 1, 2, 3]);
        assert!("severe".parse::<Severity>().is_err());
    }
}
