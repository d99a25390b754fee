//! A researcher's submission: its fields as sent, their limits, and [`validate`], which checks
//! every field against the program (severities, impact ids, the manifest's contracts) and names
//! each bad one, not only the first.

use alloy::primitives::Address;
use serde::Serialize;

use super::{Severity, impact_by_id};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounty::IMPACTS;

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
