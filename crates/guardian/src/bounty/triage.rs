//! The team's triage of a report: the decisions (`ack`, `ask`, `confirm`, `duplicate`, `close`,
//! `fixed`, `pay`), which status each may be taken from, and [`decide`], the one function the
//! command line and the team API both call. A decision is written with its event (operator and
//! time) and the e-mail that tells the researcher in one transaction: all of it or none.

use alloy::primitives::B256;
use lettre::message::Mailbox;
use serde::Serialize;

use super::{Severity, Status, StoredReport, impact_by_id};
use crate::{
    notify::{
        Contacts, Message,
        outbox::{NewDelivery, enqueue_in},
    },
    storage::{
        StorageError, Store,
        sql::{Conn, SqlResult, ToValue, params},
    },
};

/// The audience of the e-mail contacts that write to researchers.
pub const RESEARCHERS: &str = "researchers";

/// Why a report is closed without a reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CloseReason {
    /// The contract or the impact is not in the program's scope.
    OutOfScope,
    /// The impact does not reach any severity of the program.
    Severity,
    /// It does not work as described.
    TechnicalValidity,
    /// The behaviour is what the contracts are meant to do.
    IntendedBehaviour,
    /// The team knew of it already.
    KnownIssue,
    /// Not a report.
    Spam,
}

impl CloseReason {
    /// Every reason.
    pub const ALL: [CloseReason; 6] = [
        Self::OutOfScope,
        Self::Severity,
        Self::TechnicalValidity,
        Self::IntendedBehaviour,
        Self::KnownIssue,
        Self::Spam,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfScope => "out-of-scope",
            Self::Severity => "severity",
            Self::TechnicalValidity => "technical-validity",
            Self::IntendedBehaviour => "intended-behaviour",
            Self::KnownIssue => "known-issue",
            Self::Spam => "spam",
        }
    }

    /// The reason named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One decision of the team about a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The team has read it.
    Acknowledge,
    /// The team needs more from the researcher.
    AskInfo {
        /// The question.
        message: String,
    },
    /// It is real, with this severity and impact.
    Confirm {
        /// The confirmed severity.
        severity: Severity,
        /// The confirmed impact id.
        impact: String,
    },
    /// An earlier report found the same.
    Duplicate {
        /// The earlier report.
        of: i64,
    },
    /// Not valid, for this reason, shown by this evidence.
    Close {
        /// Why.
        reason: CloseReason,
        /// What shows it.
        evidence: String,
    },
    /// The fix is deployed.
    Fixed,
    /// The reward is paid.
    Pay {
        /// How much, in US dollars.
        amount_usd: u64,
        /// The payment's transaction.
        tx: B256,
    },
}

impl Decision {
    /// The status it leads to.
    pub fn to(&self) -> Status {
        match self {
            Self::Acknowledge => Status::Acknowledged,
            Self::AskInfo { .. } => Status::NeedsInfo,
            Self::Confirm { .. } => Status::Confirmed,
            Self::Duplicate { .. } => Status::Duplicate,
            Self::Close { .. } => Status::Closed,
            Self::Fixed => Status::Fixed,
            Self::Pay { .. } => Status::Paid,
        }
    }

    /// The command that takes it (for errors).
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Acknowledge => "ack",
            Self::AskInfo { .. } => "ask",
            Self::Confirm { .. } => "confirm",
            Self::Duplicate { .. } => "duplicate",
            Self::Close { .. } => "close",
            Self::Fixed => "fixed",
            Self::Pay { .. } => "pay",
        }
    }

    /// The statuses it may be taken from.
    pub fn from(&self) -> &'static [Status] {
        use Status::*;
        match self {
            Self::Acknowledge => &[Reported],
            Self::AskInfo { .. } => &[Reported, Acknowledged, NeedsInfo],
            Self::Confirm { .. } | Self::Duplicate { .. } => &[Reported, Acknowledged, NeedsInfo],
            Self::Close { .. } => &[Reported, Acknowledged, NeedsInfo, Confirmed],
            Self::Fixed => &[Confirmed],
            Self::Pay { .. } => &[Fixed],
        }
    }

    /// What the researcher is told, in their report's thread and by e-mail: the report is
    /// named by its public id (`id`), never by the team's number, nor is the earlier report a
    /// duplicate defers to.
    fn tell(&self, id: &str) -> String {
        match self {
            Self::Acknowledge => format!("Report {id} is acknowledged: the team is reading it."),
            Self::AskInfo { message } => format!(
                "Report {id}: the team needs more information. {message}\nReply to the report with your follow-up token (POST /bounty/reports/{id})."
            ),
            Self::Confirm { severity, impact } => {
                format!("Report {id} is confirmed: severity {severity}, impact {impact}.")
            }
            Self::Duplicate { .. } => {
                format!("Report {id} duplicates an earlier report, which has precedence.")
            }
            Self::Close { reason, evidence } => {
                format!("Report {id} is closed ({}): {evidence}", reason.as_str())
            }
            Self::Fixed => format!("Report {id}: the fix is deployed."),
            Self::Pay { amount_usd, tx } => {
                format!("Report {id}: the reward of ${amount_usd} is paid in transaction {tx}.")
            }
        }
    }
}

/// A decision taken.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    /// The report.
    pub report: i64,
    /// Its status before.
    pub from: Status,
    /// Its status now.
    pub to: Status,
    /// Who decided.
    pub by: String,
    /// When (Unix milliseconds).
    pub at: i64,
    /// The e-mail contacts that will write to the researcher (empty: the thread only).
    pub researcher_emailed_via: Vec<String>,
    /// Why the researcher was not e-mailed, if not.
    pub researcher_not_emailed: Option<String>,
}

/// Why a decision could not be taken (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// No report with that id.
    #[error("no bounty report {0} (guardian bounty list shows them)")]
    NotFound(i64),
    /// The report is not in a status the decision applies to (or it changed while the decision
    /// was being taken): look at it again.
    #[error("{message}")]
    WrongState {
        /// The report.
        id: i64,
        /// What is wrong, and what to do.
        message: String,
    },
    /// An argument of the decision is missing or not allowed; nothing depends on the report's
    /// status.
    #[error("{message}")]
    Invalid {
        /// The argument, as the team API names it (`message`, `impact`, `of`, `evidence`,
        /// `amount_usd`).
        field: &'static str,
        /// What is wrong, and what to do.
        message: String,
    },
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn invalid(field: &'static str, message: String) -> TriageError {
    TriageError::Invalid { field, message }
}

/// Checks `decision` against report `report` (its status and the decision's own arguments).
fn check(store: &Store, report: &StoredReport, decision: &Decision) -> Result<Status, TriageError> {
    let id = report.id;
    let from = Status::parse(&report.view.status).ok_or_else(|| TriageError::WrongState {
        id,
        message: format!("report {id} has an unknown status {:?}", report.view.status),
    })?;
    if !decision.from().contains(&from) {
        let allowed: Vec<&str> = decision.from().iter().map(|s| s.as_str()).collect();
        return Err(TriageError::WrongState {
            id,
            message: format!(
                "report {id} is {from}: `bounty {}` applies to a report that is {}",
                decision.verb(),
                allowed.join(" or ")
            ),
        });
    }
    match decision {
        Decision::AskInfo { message } if message.trim().is_empty() => Err(invalid(
            "message",
            "ask needs --message: what the researcher should send".into(),
        )),
        Decision::Confirm { impact, .. } if impact_by_id(impact).is_none() => Err(invalid(
            "impact",
            format!(
                "--impact {impact:?} is not an impact id; the ids are: {}",
                super::IMPACTS
                    .iter()
                    .map(|i| i.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Decision::Confirm { severity, impact } => match super::impact_mismatch(*severity, impact) {
            Some(why) => Err(invalid("impact", format!("--impact {impact} {why}"))),
            None => Ok(from),
        },
        Decision::Duplicate { of } if *of == id => {
            Err(invalid("of", "a report cannot duplicate itself".into()))
        }
        Decision::Duplicate { of } => match store.bounty_report(*of)? {
            None => Err(TriageError::NotFound(*of)),
            Some(earlier) if earlier.view.submitted_at > report.view.submitted_at => Err(invalid(
                "of",
                format!(
                    "report {of} came after report {id}: the earlier report has precedence (mark {of} a duplicate of {id} instead)"
                ),
            )),
            Some(_) => Ok(from),
        },
        Decision::Close { evidence, .. } if evidence.trim().is_empty() => Err(invalid(
            "evidence",
            "close needs --evidence: what shows the reason".into(),
        )),
        Decision::Pay { amount_usd, .. } => {
            let severity = report
                .view
                .triage
                .confirmed_severity
                .as_deref()
                .and_then(|s| s.parse::<Severity>().ok())
                .ok_or_else(|| TriageError::WrongState {
                    id,
                    message: format!("report {id} has no confirmed severity"),
                })?;
            if *amount_usd == 0 || *amount_usd > severity.cap_usd() {
                return Err(invalid(
                    "amount_usd",
                    format!(
                        "--amount-usd {amount_usd} is outside the {severity} tier: from 1 to {} (guardian bounty assess {id} proposes an amount)",
                        severity.cap_usd()
                    ),
                ));
            }
            Ok(from)
        }
        _ => Ok(from),
    }
}

/// The researcher's contact as an e-mail address, if it is one.
pub fn contact_mailbox(contact: &str) -> Option<Mailbox> {
    let contact = contact.trim();
    if contact.contains(char::is_whitespace) || !contact.contains('@') {
        return None;
    }
    contact.parse().ok()
}

/// Takes `decision` on report `id` as `operator` at `now`: checks it, then writes the new status,
/// what the decision records, its event and the researcher's e-mail (through the e-mail contacts
/// whose audiences include `researchers`) in one transaction.
pub fn decide(
    store: &Store,
    contacts: &Contacts,
    id: i64,
    decision: &Decision,
    operator: &str,
    now: i64,
) -> Result<Transition, TriageError> {
    let report = store.bounty_report(id)?.ok_or(TriageError::NotFound(id))?;
    let from = check(store, &report, decision)?;
    let to = decision.to();
    let public_id = report.view.public_id.as_str();
    let told = decision.tell(public_id);
    let mailbox = contact_mailbox(&report.view.contact);
    let relays: Vec<_> = contacts
        .iter()
        .filter(|c| {
            c.channel() == crate::config::Channel::Email
                && c.config.audiences.iter().any(|a| a == RESEARCHERS)
        })
        .collect();
    let (via, not_emailed) = match (&mailbox, relays.is_empty()) {
        (None, _) => (
            Vec::new(),
            Some("the contact is not an e-mail address: the researcher reads the thread".into()),
        ),
        (Some(_), true) => (
            Vec::new(),
            Some(format!(
                "no e-mail contact has audience \"{RESEARCHERS}\": the researcher reads the thread"
            )),
        ),
        (Some(_), false) => (relays.iter().map(|c| c.name().to_string()).collect(), None),
    };
    let message = Message {
        severity: crate::alert::Severity::Info,
        title: format!("[Bug bounty] Report {public_id}: {to}"),
        lines: vec![told.clone()],
        links: Vec::new(),
        resolves: false,
        dedup_key: format!("guardian-bounty-{id}-{}", to.as_str()),
        source: format!("bounty/{id}"),
        body: serde_json::json!({"bounty": {"report": public_id, "status": to, "message": told}}),
        recipient: mailbox.as_ref().map(ToString::to_string),
    };
    let topic = format!("bounty.{}", to.as_str());
    let rows: Vec<NewDelivery<'_>> = if via.is_empty() {
        Vec::new()
    } else {
        relays
            .iter()
            .map(|c| NewDelivery {
                delivery_id: crate::notify::delivery_id(),
                contact: c.name(),
                channel: c.channel().as_str(),
                topic: &topic,
                alert_id: None,
                incident_id: None,
                message: &message,
            })
            .collect()
    };
    let updated = store.write(|tx| {
        let changed = update(tx, id, from, decision, now)?;
        if changed == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO bounty_events (report_id, kind, from_status, to_status, author, message, public, at)
             VALUES (?1, 'status', ?2, ?3, ?4, ?5, 1, ?6)",
            params![id, from.as_str(), to.as_str(), operator, told, now],
        )?;
        enqueue_in(tx, &rows)?;
        Ok(true)
    })?;
    if !updated {
        return Err(TriageError::WrongState {
            id,
            message: format!(
                "report {id} changed while this decision was being taken: look again (guardian bounty show {id})"
            ),
        });
    }
    Ok(Transition {
        report: id,
        from,
        to,
        by: operator.to_string(),
        at: now,
        researcher_emailed_via: via,
        researcher_not_emailed: not_emailed,
    })
}

/// Writes the status and what `decision` records, only if the report is still `from`; returns
/// the rows changed (0: someone else changed it meanwhile).
fn update(tx: &Conn<'_>, id: i64, from: Status, decision: &Decision, now: i64) -> SqlResult<usize> {
    let to = decision.to().as_str();
    let (sql, extra): (&str, Vec<Box<dyn ToValue>>) = match decision {
        Decision::Acknowledge | Decision::AskInfo { .. } => ("", Vec::new()),
        Decision::Confirm { severity, impact } => (
            ", confirmed_severity = ?5, confirmed_impact = ?6, confirmed_at = ?4",
            vec![Box::new(severity.as_str()), Box::new(impact.clone())],
        ),
        Decision::Duplicate { of } => (", duplicate_of = ?5", vec![Box::new(*of)]),
        Decision::Close { reason, evidence } => (
            ", close_reason = ?5, close_evidence = ?6",
            vec![Box::new(reason.as_str()), Box::new(evidence.clone())],
        ),
        Decision::Fixed => (", fixed_at = ?4", Vec::new()),
        Decision::Pay { amount_usd, tx } => (
            ", reward_usd = ?5, paid_tx = ?6, paid_at = ?4",
            vec![
                Box::new(i64::try_from(*amount_usd).unwrap_or(i64::MAX)),
                Box::new(tx.to_string()),
            ],
        ),
    };
    let statement = format!(
        "UPDATE bounty_reports SET status = ?3, updated_at = ?4,
                acknowledged_at = COALESCE(acknowledged_at, ?4){sql}
         WHERE id = ?1 AND status = ?2"
    );
    let from = from.as_str();
    let mut values: Vec<&dyn ToValue> = vec![&id, &from, &to, &now];
    values.extend(extra.iter().map(|b| b.as_ref()));
    tx.execute(&statement, values.as_slice())
}

/// When the researcher may publish, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Disclosure {
    /// From when (Unix milliseconds), if the program's terms give a date yet.
    pub may_publish_from: Option<i64>,
    /// Why that date (or why none yet).
    pub rule: String,
}

/// Days after confirmation after which the researcher may publish even if unfixed or unpaid.
pub const DISCLOSURE_DAYS: i64 = 90;

/// When the researcher of `report` may publish: once it is fixed and paid, or
/// [`DISCLOSURE_DAYS`] after its confirmation, whichever comes first.
pub fn disclosure(report: &super::ReportView) -> Disclosure {
    let t = &report.triage;
    let Some(confirmed) = t.confirmed_at else {
        return Disclosure {
            may_publish_from: None,
            rule: match Status::parse(&report.status) {
                Some(Status::Duplicate | Status::Closed) => {
                    "not confirmed: the program's disclosure terms do not apply; ask the team"
                        .into()
                }
                _ => format!(
                    "not before confirmation; then once fixed and paid, or {DISCLOSURE_DAYS} days after confirmation"
                ),
            },
        };
    };
    let deadline = confirmed + DISCLOSURE_DAYS * 86_400_000;
    match t.paid_at {
        Some(paid) if paid < deadline => Disclosure {
            may_publish_from: Some(paid),
            rule: "fixed and paid".into(),
        },
        _ => Disclosure {
            may_publish_from: Some(deadline),
            rule: format!(
                "{DISCLOSURE_DAYS} days after confirmation (earlier once fixed and paid)"
            ),
        },
    }
}

#[cfg(test)]
mod tests;
