//! The bug bounty desk: severities and their reward caps (the seed's tiers), the impact
//! categories researchers claim (Immunefi's classification for smart contracts), and the
//! statuses a report goes through. A submission is checked in [`submission`] (every researcher's
//! text, replies too, through [`text`]), stored in
//! [`store`] (the proof of concept encrypted by [`crypto`]), announced to the team by
//! [`notice`], triaged by [`triage`] and, once confirmed, taken into the incident protocol by
//! [`protocol`]; [`sla`] keeps the acknowledgement clocks, [`similar`] flags duplicates,
//! [`assess`] and [`price`] propose rewards from the chain; [`list`] pages the team's list.
//! The HTTP side is `crate::serve`.

pub mod assess;
pub mod crypto;
pub mod list;
pub mod notice;
pub mod price;
pub mod protocol;
pub mod sessions;
pub mod similar;
pub mod sla;
pub mod store;
pub mod submission;
pub mod text;
pub mod tokens;
pub mod triage;

pub use store::{ReportView, StoredReport, ThreadEntry, Triage};
pub use submission::{
    FieldError, MAX_CONTACT, MAX_CONTRACTS, MAX_CREDIT, MAX_DESCRIPTION, MAX_MESSAGE,
    MAX_PROOF_OF_CONCEPT, MAX_TITLE, NewReport, Submission, validate,
};

use std::fmt;

use serde::Serialize;

pub use crate::config::BountySeverity as Severity;

impl Severity {
    /// The impact categories of this severity.
    pub fn impacts(self) -> impl Iterator<Item = &'static Impact> {
        IMPACTS.iter().filter(move |i| i.severity == self)
    }

    /// The ids of this severity's impacts, comma-separated (for the errors that list them).
    pub fn impact_ids(self) -> String {
        self.impacts().map(|i| i.id).collect::<Vec<_>>().join(", ")
    }
}

/// Why `impact` may not be claimed (or confirmed) with `severity`: `None` when it belongs to
/// that severity's list, or is not a known impact at all (the caller names that separately).
pub fn impact_mismatch(severity: Severity, impact: &str) -> Option<String> {
    let found = impact_by_id(impact)?;
    (found.severity != severity).then(|| {
        format!(
            "is a {} impact, not a {severity} one: the {severity} impacts are {}",
            found.severity,
            severity.impact_ids()
        )
    })
}

/// One impact category a report may claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impact {
    /// The id used in the API (`direct-theft-of-funds`).
    pub id: &'static str,
    /// The severity it belongs to.
    pub severity: Severity,
    /// What it means, for the program page.
    pub description: &'static str,
}

const fn impact(id: &'static str, severity: Severity, description: &'static str) -> Impact {
    Impact {
        id,
        severity,
        description,
    }
}

/// Every impact category, by severity (Immunefi's classification for smart contracts).
pub const IMPACTS: &[Impact] = &[
    impact(
        "direct-theft-of-funds",
        Severity::Critical,
        "Direct theft of any user funds, at rest or in motion, other than unclaimed yield",
    ),
    impact(
        "permanent-freezing-of-funds",
        Severity::Critical,
        "Permanent freezing of funds",
    ),
    impact(
        "protocol-insolvency",
        Severity::Critical,
        "Protocol insolvency",
    ),
    impact(
        "unauthorized-minting",
        Severity::Critical,
        "Unauthorized minting of tokens or NFTs",
    ),
    impact(
        "governance-manipulation",
        Severity::Critical,
        "Direct manipulation of governance or of privileged roles",
    ),
    impact(
        "theft-of-nfts",
        Severity::Critical,
        "Theft of NFTs (the ownership tokens)",
    ),
    impact(
        "unintended-nft-alteration",
        Severity::Critical,
        "Unintended alteration of what an NFT represents",
    ),
    impact(
        "theft-of-unclaimed-yield",
        Severity::High,
        "Theft of unclaimed yield",
    ),
    impact(
        "permanent-freezing-of-unclaimed-yield",
        Severity::High,
        "Permanent freezing of unclaimed yield",
    ),
    impact(
        "temporary-freezing-of-funds",
        Severity::High,
        "Temporary freezing of funds",
    ),
    impact(
        "unable-to-operate",
        Severity::Medium,
        "Smart contract unable to operate due to lack of token funds",
    ),
    impact(
        "griefing",
        Severity::Medium,
        "Griefing (no profit for the attacker, damage to users or the protocol)",
    ),
    impact("theft-of-gas", Severity::Medium, "Theft of gas"),
    impact(
        "unbounded-gas-consumption",
        Severity::Medium,
        "Unbounded gas consumption",
    ),
    impact("block-stuffing", Severity::Medium, "Block stuffing"),
    impact(
        "fails-to-deliver-promised-returns",
        Severity::Low,
        "Contract fails to deliver promised returns, without losing value",
    ),
];

/// The impact category with this id.
pub fn impact_by_id(id: &str) -> Option<&'static Impact> {
    IMPACTS.iter().find(|i| i.id == id)
}

/// One report as the team's lists show it (CLI and API alike): its number (`id`) and the public
/// id its researcher knows it by, no thread, no proof, with the acknowledgement clock at `now`.
pub fn listing(
    r: &ReportView,
    settings: &crate::config::BountySettings,
    now: i64,
) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "public_id": r.public_id, "status": r.status, "title": r.title,
        "severity": r.severity,
        "confirmed_severity": r.triage.confirmed_severity,
        "impact": r.impact, "contracts": r.contracts,
        "submitted_at": r.submitted_at,
        "clock": sla::report_clock(r, settings, now),
    })
}

/// The status of a new report.
pub const STATUS_REPORTED: &str = Status::Reported.as_str();

/// Where a report stands: reported → acknowledged → needs-info → confirmed | duplicate |
/// closed → fixed → paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Submitted, not yet acknowledged by the team (its clock runs).
    Reported,
    /// The team has read it.
    Acknowledged,
    /// The team asked the researcher for more.
    NeedsInfo,
    /// The team confirmed it, with a severity and an impact.
    Confirmed,
    /// An earlier report found the same thing.
    Duplicate,
    /// Not a valid report (with a reason and evidence).
    Closed,
    /// The fix is deployed.
    Fixed,
    /// The reward is paid.
    Paid,
}

impl Status {
    /// Every status, in the order of the lifecycle.
    pub const ALL: [Status; 8] = [
        Self::Reported,
        Self::Acknowledged,
        Self::NeedsInfo,
        Self::Confirmed,
        Self::Duplicate,
        Self::Closed,
        Self::Fixed,
        Self::Paid,
    ];

    /// The stored and displayed name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Acknowledged => "acknowledged",
            Self::NeedsInfo => "needs-info",
            Self::Confirmed => "confirmed",
            Self::Duplicate => "duplicate",
            Self::Closed => "closed",
            Self::Fixed => "fixed",
            Self::Paid => "paid",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the team still owes the researcher an acknowledgement (the clock runs).
    pub fn awaits_acknowledgement(self) -> bool {
        self == Self::Reported
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bounty failure outside validation.
#[derive(Debug, thiserror::Error)]
pub enum BountyError {
    /// `[bounty] team_public_key` is not set.
    #[error(
        "[bounty] team_public_key is not set: run `guardian bounty keygen`, put the public key in the manifest's [bounty] team_public_key and keep the secret (GUARDIAN_BOUNTY_KEY) off this machine"
    )]
    NoTeamKey,
    /// `[bounty] team_public_key` is not an age X25519 recipient.
    #[error(
        "[bounty] team_public_key is not an age X25519 public key (age1...): run `guardian bounty keygen` for a new pair"
    )]
    BadTeamKey,
    /// Encryption failed.
    #[error("cannot encrypt the proof of concept: {0}")]
    Encrypt(String),
    /// Decryption failed (wrong key or damaged ciphertext).
    #[error(
        "cannot decrypt the proof of concept: {0} (is GUARDIAN_BOUNTY_KEY the secret of [bounty] team_public_key?)"
    )]
    Decrypt(String),
    /// The system's random source failed.
    #[error("no randomness for the follow-up token: {0}")]
    Random(String),
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}
