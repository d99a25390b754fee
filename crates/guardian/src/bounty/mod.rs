//! The bug bounty desk: severities and their reward caps (the seed's tiers), the impact
//! categories researchers claim (Immunefi's classification for smart contracts), and the
//! validation of a submitted report. Storage is in [`store`], encryption of the proof of
//! concept in [`crypto`]; the HTTP side is `crate::serve`.

pub mod assess;
pub mod crypto;
pub mod notice;
pub mod price;
pub mod protocol;
pub mod similar;
pub mod sla;
pub mod store;
pub mod tokens;
pub mod triage;

pub use store::{MIGRATION, ReportView, StoredReport, ThreadEntry, Triage};

use std::{fmt, str::FromStr};

use alloy::primitives::Address;
use serde::Serialize;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 20_000;
/// Longest proof of concept, in characters.
pub const MAX_PROOF_OF_CONCEPT: usize = 50_000;
/// Longest contact, in characters.
pub const MAX_CONTACT: usize = 200;
/// Longest reply in a report's thread, in characters.
pub const MAX_MESSAGE: usize = 10_000;
/// Longest credit name, in characters.
pub const MAX_CREDIT: usize = 100;
/// Most contracts one report may name.
pub const MAX_CONTRACTS: usize = 50;

/// How severe a report is (as claimed by the researcher, later as confirmed by the team).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Funds stolen, frozen for good, or the protocol made insolvent.
    Critical,
    /// Yield stolen or frozen, funds frozen for a while.
    High,
    /// The protocol unable to operate, griefing, gas theft.
    Medium,
    /// Promised returns not delivered.
    Low,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 4] = [Self::Critical, Self::High, Self::Medium, Self::Low];

    /// The lowercase name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }

    /// The most this severity pays, in US dollars (the seed's tiers).
    pub fn cap_usd(self) -> u64 {
        match self {
            Self::Critical => 100_000,
            Self::High => 25_000,
            Self::Medium => 5_000,
            Self::Low => 1_000,
        }
    }

    /// Whether a report of this severity must come with a proof of concept.
    pub fn needs_proof_of_concept(self) -> bool {
        matches!(self, Self::Critical | Self::High)
    }

    /// The impact categories of this severity.
    pub fn impacts(self) -> impl Iterator<Item = &'static Impact> {
        IMPACTS.iter().filter(move |i| i.severity == self)
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
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| "must be one of critical, high, medium, low".to_string())
    }
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

/// A bad field of a submission, as the API names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name (`title`, `severity`, ..., or `body`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A bad `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A report as submitted, before validation: every field as text (absent = empty).
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// One line saying what is wrong.
    pub title: String,
    /// The claimed severity.
    pub severity: String,
    /// The claimed impact id.
    pub impact: String,
    /// The affected contracts' manifest names.
    pub contracts: Vec<String>,
    /// The vulnerability, in words.
    pub description: String,
    /// How to reproduce it.
    pub proof_of_concept: String,
    /// How to reach the researcher.
    pub contact: String,
    /// Where a reward goes, if given.
    pub payout_address: String,
    /// The name the researcher agrees to be credited by in the post-mortem (empty: no credit).
    pub credit_as: String,
}

/// A valid report, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    /// One line saying what is wrong.
    pub title: String,
    /// The claimed severity.
    pub severity: Severity,
    /// The claimed impact id.
    pub impact: &'static str,
    /// The affected contracts' manifest names, as listed.
    pub contracts: Vec<String>,
    /// The vulnerability, in words.
    pub description: String,
    /// How to reproduce it (stored encrypted), if given.
    pub proof_of_concept: Option<String>,
    /// How to reach the researcher.
    pub contact: String,
    /// Where a reward goes, if given.
    pub payout_address: Option<Address>,
    /// The name to credit in the post-mortem, if the researcher agreed to be credited.
    pub credit_as: Option<String>,
}

/// Checks a text field: required or not, and its length in characters.
fn text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    required: bool,
    max: usize,
) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        if required {
            errors.push(FieldError::new(field, "is required"));
        }
        return None;
    }
    let chars = value.chars().count();
    if chars > max {
        errors.push(FieldError::new(
            field,
            format!("is too long ({chars} characters; at most {max})"),
        ));
        return None;
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(FieldError::new(field, "contains control characters"));
        return None;
    }
    Some(value.to_string())
}

/// Validates a submission against the program's scope (`in_scope`: the manifest's contract
/// names). Every bad field is named, not only the first.
pub fn validate(s: &Submission, in_scope: &[&str]) -> Result<NewReport, Vec<FieldError>> {
    let mut errors = Vec::new();
    let title = text(&mut errors, "title", &s.title, true, MAX_TITLE);
    if title.as_deref().is_some_and(|t| t.contains(['\n', '\r'])) {
        errors.push(FieldError::new("title", "must be one line"));
    }
    let severity = match s.severity.trim() {
        "" => {
            errors.push(FieldError::new(
                "severity",
                "is required (critical, high, medium or low)",
            ));
            None
        }
        v => match v.parse::<Severity>() {
            Ok(sev) => Some(sev),
            Err(e) => {
                errors.push(FieldError::new("severity", e));
                None
            }
        },
    };
    let impact = match s.impact.trim() {
        "" => {
            errors.push(FieldError::new(
                "impact",
                "is required (one of the ids on /bounty)",
            ));
            None
        }
        v => match impact_by_id(v) {
            Some(i) => Some(i.id),
            None => {
                errors.push(FieldError::new(
                    "impact",
                    "is not a known impact id (the program page /bounty lists them)",
                ));
                None
            }
        },
    };
    let mut contracts: Vec<String> = Vec::new();
    for name in s
        .contracts
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
    {
        if !in_scope.contains(&name) {
            // The name is not echoed: it is the researcher's text and the answer may be HTML.
            errors.push(FieldError::new(
                "contracts",
                "names a contract that is not in scope (the program page /bounty lists them)",
            ));
            break;
        }
        if !contracts.iter().any(|c| c == name) {
            contracts.push(name.to_string());
        }
    }
    if contracts.is_empty() && !errors.iter().any(|e| e.field == "contracts") {
        errors.push(FieldError::new(
            "contracts",
            "name at least one contract in scope",
        ));
    }
    if contracts.len() > MAX_CONTRACTS {
        errors.push(FieldError::new(
            "contracts",
            format!("names too many contracts (at most {MAX_CONTRACTS})"),
        ));
    }
    let description = text(
        &mut errors,
        "description",
        &s.description,
        true,
        MAX_DESCRIPTION,
    );
    let poc_required = severity.is_some_and(Severity::needs_proof_of_concept);
    let proof_of_concept = if poc_required && s.proof_of_concept.trim().is_empty() {
        errors.push(FieldError::new(
            "proof_of_concept",
            "is required for critical and high reports",
        ));
        None
    } else {
        text(
            &mut errors,
            "proof_of_concept",
            &s.proof_of_concept,
            false,
            MAX_PROOF_OF_CONCEPT,
        )
    };
    let contact = text(&mut errors, "contact", &s.contact, true, MAX_CONTACT);
    let payout_address = match s.payout_address.trim() {
        "" => None,
        v => match (v.len(), v.parse::<Address>()) {
            (42, Ok(a)) if v.starts_with("0x") => Some(a),
            _ => {
                errors.push(FieldError::new(
                    "payout_address",
                    "must be a 0x-prefixed 20-byte hex address",
                ));
                None
            }
        },
    };
    let credit_as = text(&mut errors, "credit_as", &s.credit_as, false, MAX_CREDIT);
    if credit_as
        .as_deref()
        .is_some_and(|t| t.contains(['\n', '\r']))
    {
        errors.push(FieldError::new("credit_as", "must be one line"));
    }
    match (title, severity, impact, description, contact) {
        (Some(title), Some(severity), Some(impact), Some(description), Some(contact))
            if errors.is_empty() =>
        {
            Ok(NewReport {
                title,
                severity,
                impact,
                contracts,
                description,
                proof_of_concept,
                contact,
                payout_address,
                credit_as,
            })
        }
        _ => Err(errors),
    }
}

/// One report as the team's lists show it (CLI and API alike): no thread, no proof, with the
/// acknowledgement clock at `now`.
pub fn listing(
    r: &ReportView,
    settings: &crate::config::BountySettings,
    now: i64,
) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "status": r.status, "title": r.title,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Submission {
        Submission {
            title: "Drain".into(),
            severity: "critical".into(),
            impact: "direct-theft-of-funds".into(),
            contracts: vec!["escrow".into()],
            description: "d".into(),
            proof_of_concept: "p".into(),
            contact: "r@example.org".into(),
            payout_address: String::new(),
            credit_as: String::new(),
        }
    }

    #[test]
    fn every_impact_id_is_unique_and_each_severity_has_some() {
        for (i, a) in IMPACTS.iter().enumerate() {
            assert!(IMPACTS[i + 1..].iter().all(|b| b.id != a.id), "{}", a.id);
        }
        for s in Severity::ALL {
            assert!(s.impacts().count() > 0, "{s}");
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(validate(&valid(), &["escrow"]).is_ok());
        let bad = Submission {
            title: String::new(),
            severity: "huge".into(),
            impact: "nope".into(),
            contracts: vec!["other".into()],
            description: "x".repeat(MAX_DESCRIPTION + 1),
            proof_of_concept: String::new(),
            contact: String::new(),
            payout_address: "0x12".into(),
            credit_as: "a\nb".into(),
        };
        let errors = validate(&bad, &["escrow"]).expect_err("bad");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "title",
            "severity",
            "impact",
            "contracts",
            "description",
            "contact",
            "payout_address",
            "credit_as",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        let mut high = valid();
        high.severity = "high".into();
        high.proof_of_concept = " ".into();
        let errors = validate(&high, &["escrow"]).expect_err("no poc");
        assert_eq!(errors[0].field, "proof_of_concept");
        assert!(errors[0].message.contains("required"), "{:?}", errors[0]);
    }
}
