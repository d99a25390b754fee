//! A researcher's submission: its fields as sent, their limits, and [`validate`], which checks
//! every field against the program (severities, impact ids, the manifest's contracts) and names
//! each bad one, not only the first. Every field goes through [`researcher_text`] first, so no
//! control character but newline and tab is ever stored.

use alloy::primitives::Address;
use serde::Serialize;

use super::{Severity, impact_by_id, text::researcher_text};

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

/// A field with its `\r\n` made `\n`, or `None` with the error when it holds a control
/// character (see [`researcher_text`]).
fn clean(errors: &mut Vec<FieldError>, field: &str, value: &str) -> Option<String> {
    researcher_text(field, value)
        .map_err(|e| errors.push(e))
        .ok()
}

/// Checks a text field: no control character but newline and tab, required or not, and its
/// length in characters.
fn text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    required: bool,
    max: usize,
) -> Option<String> {
    let value = clean(errors, field, value)?;
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
    Some(value.to_string())
}

/// Validates a submission against the program's scope (`in_scope`: the manifest's contract
/// names). Every bad field is named, not only the first.
pub fn validate(s: &Submission, in_scope: &[&str]) -> Result<NewReport, Vec<FieldError>> {
    let mut errors = Vec::new();
    let title = text(&mut errors, "title", &s.title, true, MAX_TITLE);
    if title.as_deref().is_some_and(|t| t.contains('\n')) {
        errors.push(FieldError::new("title", "must be one line"));
    }
    let severity = clean(&mut errors, "severity", &s.severity);
    let severity = match severity.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            errors.push(FieldError::new(
                "severity",
                "is required (critical, high, medium or low)",
            ));
            None
        }
        Some(v) => match v.parse::<Severity>() {
            Ok(sev) => Some(sev),
            Err(e) => {
                errors.push(FieldError::new("severity", e));
                None
            }
        },
    };
    let impact = clean(&mut errors, "impact", &s.impact);
    let impact = match impact.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            errors.push(FieldError::new(
                "impact",
                "is required (one of the ids on /bounty)",
            ));
            None
        }
        Some(v) => match impact_by_id(v) {
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
    // The impact must be one of the claimed severity's: a low claim of a critical impact (or
    // the reverse) contradicts itself.
    let impact = match (severity, impact) {
        (Some(severity), Some(id)) => match super::impact_mismatch(severity, id) {
            Some(why) => {
                errors.push(FieldError::new("impact", why));
                None
            }
            None => Some(id),
        },
        (_, impact) => impact,
    };
    let mut contracts: Vec<String> = Vec::new();
    let names: Option<Vec<String>> = s
        .contracts
        .iter()
        .map(|c| researcher_text("contracts", c))
        .collect::<Result<_, _>>()
        .map_err(|e| errors.push(e))
        .ok();
    for name in names
        .iter()
        .flatten()
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
    let payout_address = clean(&mut errors, "payout_address", &s.payout_address);
    let payout_address = match payout_address.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => match (v.len(), v.parse::<Address>()) {
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
    if credit_as.as_deref().is_some_and(|t| t.contains('\n')) {
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
        high.impact = "temporary-freezing-of-funds".into();
        high.proof_of_concept = " ".into();
        let errors = validate(&high, &["escrow"]).expect_err("no poc");
        assert_eq!(errors[0].field, "proof_of_concept");
        assert!(errors[0].message.contains("required"), "{:?}", errors[0]);
    }

    #[test]
    fn the_impact_must_be_of_the_claimed_severity() {
        for severity in Severity::ALL {
            for impact in IMPACTS {
                let mut s = valid();
                s.severity = severity.as_str().into();
                s.impact = impact.id.into();
                match validate(&s, &["escrow"]) {
                    Ok(report) => {
                        assert_eq!(
                            impact.severity, severity,
                            "{severity} {} accepted",
                            impact.id
                        );
                        assert_eq!((report.severity, report.impact), (severity, impact.id));
                    }
                    Err(errors) => {
                        assert_ne!(
                            impact.severity, severity,
                            "{severity} {}: {errors:?}",
                            impact.id
                        );
                        assert_eq!(errors.len(), 1, "{errors:?}");
                        assert_eq!(errors[0].field, "impact");
                        for listed in severity.impacts() {
                            assert!(errors[0].message.contains(listed.id), "{errors:?}");
                        }
                    }
                }
            }
        }
        let mut low_theft = valid();
        low_theft.severity = "low".into();
        let errors = validate(&low_theft, &["escrow"]).expect_err("a low theft of funds");
        assert_eq!(
            errors[0].message,
            "is a critical impact, not a low one: the low impacts are fails-to-deliver-promised-returns"
        );
    }

    #[test]
    fn control_characters_are_refused_in_every_field_and_crlf_is_a_newline() {
        let mut ok = valid();
        ok.description = "line one\r\n\tline two".into();
        let report = validate(&ok, &["escrow"]).expect("crlf and tab pass");
        assert_eq!(report.description, "line one\n\tline two");
        type Set = fn(&mut Submission, String);
        let setters: [(&str, Set); 9] = [
            ("title", |s, v| s.title = v),
            ("severity", |s, v| s.severity = v),
            ("impact", |s, v| s.impact = v),
            ("contracts", |s, v| s.contracts = vec![v]),
            ("description", |s, v| s.description = v),
            ("proof_of_concept", |s, v| s.proof_of_concept = v),
            ("contact", |s, v| s.contact = v),
            ("payout_address", |s, v| s.payout_address = v),
            ("credit_as", |s, v| s.credit_as = v),
        ];
        for (field, set) in setters {
            for bad in ["a\u{1b}[2Jb", "a\0b", "a\u{7}b", "a\rb"] {
                let mut s = valid();
                set(&mut s, bad.to_string());
                let errors = validate(&s, &["escrow"]).expect_err(field);
                assert!(
                    errors.iter().any(|e| e.field == field
                        && e.message == crate::bounty::text::CONTROL_CHARACTERS),
                    "{field} {bad:?}: {errors:?}"
                );
            }
        }
    }
}
