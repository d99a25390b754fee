//! Incident communication: a message about an incident to the contacts of one audience (`team`,
//! `partners`, `users`, `public`), through the same outbox as alerts.

use super::Incident;
use crate::{
    alert::Severity,
    notify::{Contact, Contacts, Message, NotifyError, delivery_id, message::rfc3339, outbox},
    storage::{Store, now_ms},
};

/// What to tell one audience about an incident.
#[derive(Debug, Clone)]
pub struct IncidentNotice<'a> {
    /// The incident, as it is now.
    pub incident: &'a Incident,
    /// What happened: `opened`, `escalated`, `mitigated`, `update`, ...
    pub event: &'a str,
    /// Who is told: contacts whose `audiences` include it.
    pub audience: &'a str,
    /// The first line.
    pub headline: String,
    /// A few short lines after it.
    pub lines: Vec<String>,
}

/// The severity an incident's messages carry (routes them by `min_severity`): level 1 →
/// warning, 2 → high, 3 → critical.
pub fn severity_of_level(level: u8) -> Severity {
    match level {
        1 => Severity::Warning,
        2 => Severity::High,
        _ => Severity::Critical,
    }
}

impl Message {
    /// The message of `notice`.
    pub fn incident(notice: &IncidentNotice<'_>) -> Self {
        let i = notice.incident;
        let now = now_ms();
        Self {
            severity: severity_of_level(i.level),
            title: format!(
                "[INCIDENT {} · LEVEL {}] {}",
                i.id, i.level, notice.headline
            ),
            lines: notice.lines.clone(),
            links: Vec::new(),
            resolves: false,
            dedup_key: format!("guardian-incident-{}-{}-{now}", i.id, notice.event),
            source: format!("incident/{}", i.id),
            body: serde_json::json!({"incident": {
                "id": i.id,
                "level": i.level,
                "title": i.title,
                "status": i.status,
                "event": notice.event,
                "audience": notice.audience,
                "contracts": i.contracts,
                "commander": i.commander,
                "headline": notice.headline,
                "lines": notice.lines,
                "sent_at": rfc3339(now),
            }}),
            recipient: None,
        }
    }
}

/// Writes one outbox row per contact whose `audiences` include the notice's and whose
/// `min_severity` the incident's level reaches; returns the contacts told.
pub fn enqueue_incident(
    store: &Store,
    contacts: &Contacts,
    notice: &IncidentNotice<'_>,
) -> Result<Vec<String>, NotifyError> {
    let severity = severity_of_level(notice.incident.level);
    let chosen: Vec<&Contact> = contacts
        .iter()
        .filter(|c| c.config.wants(severity, notice.audience))
        .collect();
    let mut message = Message::incident(notice);
    // Only the team's messages link to the team's pages.
    if notice.audience == "team" {
        message
            .links
            .extend(contacts.page(&format!("/incidents/{}", notice.incident.id)));
    }
    let topic = format!("incident.{}.{}", notice.event, notice.audience);
    let rows: Vec<_> = chosen
        .iter()
        .map(|c| outbox::NewDelivery {
            delivery_id: delivery_id(),
            contact: c.name(),
            channel: c.channel().as_str(),
            topic: &topic,
            alert_id: None,
            incident_id: Some(notice.incident.id),
            message: &message,
        })
        .collect();
    store.enqueue(&rows)?;
    Ok(chosen.iter().map(|c| c.name().to_string()).collect())
}
