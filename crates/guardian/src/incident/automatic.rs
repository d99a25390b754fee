//! The automatic response: what a rule with `respond` does when it fires. It opens an incident
//! (or joins the active one about the same contracts) at the higher of the alert's severity level
//! and the response's (`pause-affected` → 2, `pause-all` → 3), and that level's playbook performs
//! the pause — the same pause path an operator runs, keyed by the alert so that it never runs
//! twice for one alert, and never for a retracted one.

use serde::Serialize;

use crate::response::pause::PauseReport;
use crate::{
    alert::{Alert, AlertStatus},
    chain::Outbid,
    config::rules::Respond,
    deployment::Deployment,
    incident::{
        Change, IncidentError, NewIncident,
        playbook::{GUARDIAN, PlaybookRun, Responder},
    },
    notify::Contacts,
};

/// What became of an automatic response to one alert.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Responded {
    /// The rule asks for no response.
    NotAsked,
    /// The alert was retracted before anything was sent.
    Retracted,
    /// An earlier run already responded to this alert (the journal's action id).
    AlreadyDone {
        /// The action that responded.
        action_id: i64,
    },
    /// An incident was opened (or joined) and its playbook ran.
    Incident {
        /// The incident.
        incident: i64,
        /// Whether this response opened it (else it joined an active one).
        opened: bool,
        /// Its level after the response.
        level: u8,
        /// What the playbook did (its pause, who was told).
        run: Box<PlaybookRun>,
    },
}

impl Responded {
    /// The pause this response sent, if any.
    pub fn pause(&self) -> Option<&PauseReport> {
        match self {
            Self::Incident { run, .. } => run.pause.as_ref(),
            _ => None,
        }
    }
}

/// The contracts a `pause-affected` response pauses: the alert's evidence `affected`, else its
/// contract.
pub fn affected(alert: &Alert) -> Vec<String> {
    let listed: Vec<String> = alert.found.evidence["affected"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if listed.is_empty() {
        alert.found.contract.iter().cloned().collect()
    } else {
        listed
    }
}

/// The incident level a response asks for: `pause-affected` → 2, `pause-all` → 3.
pub fn response_level(respond: Respond) -> Option<u8> {
    match respond {
        Respond::None => None,
        Respond::PauseAffected => Some(2),
        Respond::PauseAll => Some(3),
    }
}

/// Runs `respond` for `alert` through the incident protocol, as `signer` (default: whichever
/// configured signer holds the role, the brakes first), unless it was retracted or already
/// answered.
pub async fn respond(
    deployment: &Deployment,
    contacts: &Contacts,
    alert: &Alert,
    respond: Respond,
    signer: Option<&str>,
) -> Result<Responded, IncidentError> {
    respond_adopting(deployment, contacts, alert, respond, signer, false).await
}

/// As [`respond`]; with `adopt` (an alert whose previous holder died before dispatching it), a
/// response that holder journalled but never finished is run again under a key of its own:
/// the pause reads what is paused already and follows what the journal says was sent, so at
/// worst it sends a redundant transaction, never misses one.
pub async fn respond_adopting(
    deployment: &Deployment,
    contacts: &Contacts,
    alert: &Alert,
    respond: Respond,
    signer: Option<&str>,
    adopt: bool,
) -> Result<Responded, IncidentError> {
    let Some(asked) = response_level(respond) else {
        return Ok(Responded::NotAsked);
    };
    if alert.status == AlertStatus::Retracted {
        return Ok(Responded::Retracted);
    }
    let mut key = response_key(alert.id);
    if let Some(action_id) = deployment.store.action_with_key(&key)? {
        // Interrupted, or ended short (a holder fenced off mid-pause): adopted.
        let unfinished = deployment
            .store
            .action(action_id)?
            .is_some_and(|a| a.status != crate::storage::Status::Succeeded);
        if !(adopt && unfinished) {
            return Ok(Responded::AlreadyDone { action_id });
        }
        tracing::warn!(
            alert = alert.id,
            action = action_id,
            "the previous holder journalled this response but never finished it: running it again"
        );
        key = format!("{key}:adopted");
        if let Some(action_id) = deployment.store.action_with_key(&key)? {
            return Ok(Responded::AlreadyDone { action_id });
        }
    }
    let level = asked.max(alert.found.severity.level());
    // Only names the manifest knows: an alert's evidence may name what is not a contract.
    let contracts: Vec<String> = affected(alert)
        .into_iter()
        .filter(|n| deployment.manifest.contracts.iter().any(|c| c.name() == n))
        .collect();
    // An alert about a pending transaction is answered ahead of it: the pause outbids its fees.
    let outbid = (alert.status == AlertStatus::Pending)
        .then(|| pending_fees(alert))
        .flatten();
    if alert.status == AlertStatus::Pending && outbid.is_none() {
        return Err(IncidentError::invalid(
            "alert",
            format!(
                "alert {} is about a pending transaction but does not say its fees: not pre-empted",
                alert.id
            ),
        ));
    }
    let responder = Responder {
        deployment,
        contacts,
        actor: GUARDIAN.to_string(),
        signer: signer.map(String::from),
        outbid,
    };
    let store = &deployment.store;
    // The incident already holding this alert (a crash between opening and pausing), else the
    // oldest active one about any of the same contracts.
    let joined = store.incident_of_alert(alert.id)?;
    let new = NewIncident {
        level,
        title: format!("{}: {}", alert.found.rule, alert.found.summary),
        commander: None,
        contracts,
        from_alert: Some(alert.id),
        evidence: None,
    };
    let outcome = responder
        .open_or_join(new, joined, vec![Change::Alert(alert.id)], Some(&key))
        .await;
    if let (Ok((incident, _, run)), Some(o)) = (&outcome, outbid) {
        // The pre-emption's evidence: the pending transaction, its simulated effect, the pause.
        store.record(
            *incident,
            GUARDIAN,
            Some((
                "preemption",
                serde_json::json!({
                    "alert": alert.id,
                    "pending_tx": alert.found.evidence["pending_tx"],
                    "effect": alert.found.evidence["effect"],
                    "outbid": o,
                    "pause_action": run.pause.as_ref().map(|p| p.action_id),
                }),
            )),
            &[],
        )?;
    }
    match outcome {
        Ok((incident, opened, run)) => Ok(Responded::Incident {
            incident,
            opened,
            level: responder.get(incident)?.level,
            run: Box::new(run),
        }),
        // Another process answered the same alert between the check and now.
        Err(e) if e.is_already_done() => Ok(Responded::AlreadyDone {
            action_id: store.action_with_key(&key)?.unwrap_or_default(),
        }),
        Err(e) => Err(e),
    }
}

/// The journal key that makes a response to one alert happen once.
fn response_key(alert_id: i64) -> String {
    format!("respond:alert:{alert_id}")
}

/// The fees of the pending transaction a pending alert is about (its evidence `pending_tx`).
fn pending_fees(alert: &Alert) -> Option<Outbid> {
    let tx = &alert.found.evidence["pending_tx"];
    let fee = |k: &str| tx[k].as_str().and_then(|v| v.parse::<u128>().ok());
    Some(Outbid {
        max_priority_fee_per_gas: fee("max_priority_fee_per_gas")?,
        max_fee_per_gas: fee("max_fee_per_gas")?,
    })
}
