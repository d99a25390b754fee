//! The team's notice of a new report: queued with the report itself, to the contacts of
//! audience `team` whose `min_severity` the claim reaches (a claimed critical is `high`: it is a
//! claim, not yet an incident). It carries only what the server validated against fixed lists
//! (the id, the claimed severity and impact, the manifest's contract names), never the
//! researcher's free text, so a title cannot ping a channel or forge a line.

use super::{NewReport, Severity};
use crate::{
    alert::Severity as Level,
    config::BountySettings,
    notify::{
        Contacts, Message,
        outbox::{NewDelivery, enqueue_in},
    },
};

/// How loudly a claimed severity is announced.
pub fn level_of_claim(claim: Severity) -> Level {
    match claim {
        Severity::Critical => Level::High,
        Severity::High => Level::Warning,
        Severity::Medium | Severity::Low => Level::Info,
    }
}

/// The notice of report `id`.
pub fn message(id: i64, report: &NewReport, ack_hours: u32) -> Message {
    let title = format!(
        "[Bug bounty] New report #{id}: claimed {} ({})",
        report.severity, report.impact
    );
    Message {
        severity: level_of_claim(report.severity),
        title: title.clone(),
        lines: vec![
            format!("contracts: {}", report.contracts.join(", ")),
            format!(
                "next: guardian bounty show {id}, then acknowledge within {ack_hours}h: guardian bounty ack {id}"
            ),
        ],
        links: Vec::new(),
        resolves: false,
        dedup_key: format!("guardian-bounty-{id}-reported"),
        source: format!("bounty/{id}"),
        body: serde_json::json!({"bounty": {
            "report": id,
            "event": "reported",
            "claimed_severity": report.severity,
            "impact": report.impact,
            "contracts": report.contracts,
        }}),
        recipient: None,
    }
}

/// Queues the notice of report `id` inside the caller's transaction.
pub(crate) fn enqueue_new_report(
    tx: &rusqlite::Transaction<'_>,
    contacts: &Contacts,
    id: i64,
    report: &NewReport,
    settings: &BountySettings,
) -> rusqlite::Result<usize> {
    let hours = if report.severity == Severity::Critical {
        settings.ack_hours_critical
    } else {
        settings.ack_hours_other
    };
    let message = message(id, report, hours);
    let level = message.severity;
    let rows: Vec<NewDelivery<'_>> = contacts
        .iter()
        .filter(|c| c.config.wants(level, crate::config::contacts::TEAM))
        .map(|c| NewDelivery {
            delivery_id: crate::notify::delivery_id(),
            contact: c.name(),
            channel: c.channel().as_str(),
            topic: "bounty.reported",
            alert_id: None,
            incident_id: None,
            message: &message,
        })
        .collect();
    enqueue_in(tx, &rows)
}
