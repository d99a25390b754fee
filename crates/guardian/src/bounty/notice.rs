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
    storage::sql::{Conn, SqlError, SqlResult, params},
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

/// The topic of the digest of one minute's reports beyond `[bounty] page_per_minute`.
pub const DIGEST_TOPIC: &str = "bounty.digest";

/// Lines of report a digest names before it says how many more there are.
const DIGEST_LINES: usize = 30;

/// Queues the team's notice of report `id`, submitted at `now`, inside the caller's transaction:
/// its own page while the minute has had fewer than `[bounty] page_per_minute` reports, else its
/// line in that minute's digest (one message per contact, sent when the minute ends).
pub(crate) fn enqueue_new_report(
    tx: &Conn<'_>,
    contacts: &Contacts,
    id: i64,
    report: &NewReport,
    settings: &BountySettings,
    now: i64,
) -> SqlResult<usize> {
    let minute = now - now.rem_euclid(60_000);
    let earlier: i64 = tx.query_row(
        "SELECT COUNT(*) FROM bounty_reports WHERE submitted_at >= ?1 AND submitted_at < ?2 AND id < ?3",
        params![minute, minute + 60_000, id],
        |r| r.get(0),
    )?;
    if earlier >= i64::from(settings.page_per_minute) {
        return enqueue_digest(tx, contacts, minute, settings);
    }
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

/// Writes (or rewrites, while it waits) the digest of the reports of `minute` beyond the first
/// `page_per_minute`, for each team contact its loudest claim reaches; due when the minute ends.
fn enqueue_digest(
    tx: &Conn<'_>,
    contacts: &Contacts,
    minute: i64,
    settings: &BountySettings,
) -> SqlResult<usize> {
    // No limit, past the offset: PostgreSQL has no `LIMIT -1`, SQLite no `OFFSET` alone.
    let held: Vec<(i64, String, String)> = tx.query_map(
        "SELECT id, severity, impact FROM bounty_reports
         WHERE submitted_at >= ?1 AND submitted_at < ?2 ORDER BY id
         LIMIT 9223372036854775807 OFFSET ?3",
        params![minute, minute + 60_000, settings.page_per_minute],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let claims: Vec<Severity> = held
        .iter()
        .filter_map(|(_, severity, _)| severity.parse().ok())
        .collect();
    let Some(level) = claims.iter().map(|c| level_of_claim(*c)).max() else {
        return Ok(0);
    };
    let at = chrono::DateTime::from_timestamp_millis(minute)
        .map(|t| t.format("%H:%M UTC").to_string())
        .unwrap_or_default();
    let mut lines: Vec<String> = held
        .iter()
        .take(DIGEST_LINES)
        .map(|(id, severity, impact)| format!("#{id}: claimed {severity} ({impact})"))
        .collect();
    if held.len() > DIGEST_LINES {
        lines.push(format!("and {} more", held.len() - DIGEST_LINES));
    }
    lines.push("next: guardian bounty list, then acknowledge each: guardian bounty ack ID".into());
    let message = Message {
        severity: level,
        title: format!(
            "[Bug bounty] {} more new reports in the minute from {at} (beyond {} paged one by one)",
            held.len(),
            settings.page_per_minute
        ),
        lines,
        links: Vec::new(),
        resolves: false,
        dedup_key: format!("guardian-bounty-digest-{minute}"),
        source: "bounty/digest".into(),
        body: serde_json::json!({"bounty": {
            "event": "digest",
            "minute": minute,
            "reports": held.iter().map(|(id, ..)| id).collect::<Vec<_>>(),
        }}),
        recipient: None,
    };
    let text = serde_json::to_string(&message).map_err(|e| SqlError::conversion(4, e))?;
    let mut written = 0;
    for c in contacts
        .iter()
        .filter(|c| c.config.wants(level, crate::config::contacts::TEAM))
    {
        // One row per contact and minute: rewritten with each report while it waits, never
        // after its first attempt (a receiver never gets two versions of one digest).
        written += tx.execute(
            "INSERT INTO outbox (delivery_id, contact, channel, topic, alert_id, message, next_attempt_at, created_at, incident_id)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, NULL)
             ON CONFLICT(delivery_id) DO UPDATE SET message = excluded.message
               WHERE outbox.attempts = 0 AND outbox.delivered_at IS NULL",
            params![
                format!("bounty-digest-{minute}-{}", c.name()),
                c.name(),
                c.channel().as_str(),
                DIGEST_TOPIC,
                text,
                minute + 60_000,
                crate::storage::now_ms(),
            ],
        )?;
    }
    Ok(written)
}
