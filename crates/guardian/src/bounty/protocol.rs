//! Into the incident protocol: a confirmed critical report opens (or joins) a level-3 incident,
//! a confirmed high one a level-2 incident on the report's contracts, through the same playbooks
//! as every other incident, with the report as the incident's first evidence. The proof of
//! concept never goes into the incident: the timeline names the report, the team reads the
//! proof with `guardian bounty show`.

use serde_json::json;

use super::{Severity, StoredReport};
use crate::{
    incident::{
        IncidentError, IncidentStatus, NewIncident,
        playbook::{PlaybookRun, Responder},
    },
    storage::{StorageError, Store, sql::params},
};

/// The incident level a confirmed severity calls for (`None`: no incident).
pub fn level_for(severity: Severity) -> Option<u8> {
    match severity {
        Severity::Critical => Some(3),
        Severity::High => Some(2),
        Severity::Medium | Severity::Low => None,
    }
}

/// The timeline entry kind of a bounty report's evidence.
pub const EVIDENCE_KIND: &str = crate::incident::timeline::REPORT_EVIDENCE_KIND;

/// What the incident's timeline records of a report: never the proof of concept, and the
/// researcher's name only where they agreed to be credited.
pub fn evidence(report: &StoredReport) -> serde_json::Value {
    let v = &report.view;
    json!({
        "report": report.id,
        "public_id": v.public_id,
        "title": v.title,
        "severity": v.triage.confirmed_severity.as_deref().unwrap_or(&v.severity),
        "impact": v.triage.confirmed_impact.as_deref().unwrap_or(&v.impact),
        "contracts": v.contracts,
        "submitted_at": v.submitted_at,
        "credit_as": v.credit_as,
    })
}

/// The incident a confirmed report opened or joined.
#[derive(Debug, serde::Serialize)]
pub struct Escalation {
    /// The incident.
    pub incident: i64,
    /// Whether the confirmation opened it (else it joined an active one).
    pub opened: bool,
    /// What its playbook did (the pause, the contacts told).
    pub run: PlaybookRun,
}

/// Opens or joins the incident a confirmed `report` calls for, if its confirmed severity calls
/// for one; records it on the report. Joins, in order: the incident this report already opened
/// (a retry), the oldest active incident watching one of its contracts, and for a critical
/// report the oldest active level-3 incident. The pause is keyed to the report, so a retry
/// never pauses twice.
pub async fn escalate(
    responder: &Responder<'_>,
    report: &StoredReport,
) -> Result<Option<Escalation>, IncidentError> {
    let Some(level) = report
        .view
        .triage
        .confirmed_severity
        .as_deref()
        .and_then(|s| s.parse::<Severity>().ok())
        .and_then(level_for)
    else {
        return Ok(None);
    };
    let store = &responder.deployment.store;
    let active = |id: i64| -> Result<bool, StorageError> {
        Ok(store
            .incident(id)?
            .is_some_and(|i| i.status != IncidentStatus::Closed))
    };
    let mut joined = match report.view.triage.incident_id {
        Some(id) if active(id)? => Some(id),
        _ => None,
    };
    if joined.is_none() {
        for c in &report.view.contracts {
            if let Some(id) = store.incidents_watching(c)?.first() {
                joined = Some(*id);
                break;
            }
        }
    }
    if joined.is_none() && level == 3 {
        joined = store
            .incidents(true)?
            .into_iter()
            .filter(|i| i.level == 3)
            .map(|i| i.id)
            .min();
    }
    let new = NewIncident {
        level,
        // The title is published with the post-mortem: the id the researcher knows, not the number.
        title: format!(
            "Bug bounty report {}: {}",
            report.view.public_id, report.view.title
        ),
        commander: None,
        contracts: report.view.contracts.clone(),
        from_alert: None,
        evidence: Some((EVIDENCE_KIND.to_string(), evidence(report))),
    };
    let key = format!("respond:bounty:{}", report.id);
    let (incident, opened, run) = responder
        .open_or_join(new, joined, Vec::new(), Some(&key))
        .await?;
    store.link_bounty_incident(report.id, incident)?;
    Ok(Some(Escalation {
        incident,
        opened,
        run,
    }))
}

impl Store {
    /// Records that report `id`'s confirmation opened or joined `incident` (a team-only event).
    pub fn link_bounty_incident(&self, id: i64, incident: i64) -> Result<(), StorageError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE bounty_reports SET incident_id = ?2 WHERE id = ?1 AND incident_id IS DISTINCT FROM ?2",
                params![id, incident],
            )?;
            if changed > 0 {
                tx.execute(
                    "INSERT INTO bounty_events (report_id, kind, author, message, public, at)
                     VALUES (?1, 'incident', 'guardian', ?2, 0, ?3)",
                    params![
                        id,
                        format!("incident {incident}"),
                        crate::storage::now_ms()
                    ],
                )?;
            }
            Ok(())
        })
    }
}

/// A decision taken, with the incident a confirmation opened or joined.
#[derive(Debug, serde::Serialize)]
pub struct Taken {
    /// The status change.
    #[serde(flatten)]
    pub transition: super::triage::Transition,
    /// The incident, for a confirmed critical or high report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<Escalation>,
    /// Why the incident it calls for could not be opened, if so (the confirmation stands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_error: Option<String>,
}

/// Takes `decision` on report `id` ([`super::triage::decide`]) and, for a confirmation that
/// calls for an incident, opens or joins it through `responder`'s playbooks. The command line
/// and the team API both come here.
pub async fn take(
    responder: &Responder<'_>,
    id: i64,
    decision: &super::triage::Decision,
) -> Result<Taken, super::triage::TriageError> {
    let store = &responder.deployment.store;
    let transition = super::triage::decide(
        store,
        responder.contacts,
        id,
        decision,
        &responder.actor,
        crate::storage::now_ms(),
    )?;
    let mut taken = Taken {
        transition,
        incident: None,
        incident_error: None,
    };
    if matches!(decision, super::triage::Decision::Confirm { .. }) {
        let report = store
            .bounty_report(id)?
            .ok_or(super::triage::TriageError::NotFound(id))?;
        match escalate(responder, &report).await {
            Ok(e) => taken.incident = e,
            Err(e) => taken.incident_error = Some(e.to_string()),
        }
    }
    Ok(taken)
}
