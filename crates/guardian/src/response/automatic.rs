//! The automatic response: what a rule with `respond` does when it fires. One call, the same pause
//! path an operator runs (`pause::run`), recorded against the alert so it never runs twice for
//! one alert. The incident protocol will route through this same call.

use std::time::Instant;

use serde::Serialize;

use super::{
    ResponseError,
    pause::{self, PauseReport, PauseRequest, Selection},
};
use crate::{
    alert::{Alert, AlertStatus},
    config::rules::Respond,
    deployment::Deployment,
    storage::StorageError,
};

/// What became of an automatic response to one alert.
#[derive(Debug, Clone, Serialize)]
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
    /// Sent now.
    Paused(PauseReport),
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

/// Runs `respond` for `alert` through the pause path, as `signer` (default: whichever configured
/// signer holds the role, the brakes first), unless it was retracted or already answered.
pub async fn respond(
    deployment: &Deployment,
    alert: &Alert,
    respond: Respond,
    signer: Option<&str>,
) -> Result<Responded, ResponseError> {
    let selection = match respond {
        Respond::None => return Ok(Responded::NotAsked),
        Respond::PauseAll => Selection::All,
        Respond::PauseAffected => {
            let names = affected(alert);
            if names.is_empty() {
                // Nothing named: pausing nothing would be no response at all.
                Selection::All
            } else {
                Selection::Named(names)
            }
        }
    };
    if alert.status == AlertStatus::Retracted {
        return Ok(Responded::Retracted);
    }
    let key = response_key(alert.id);
    if let Some(action_id) = deployment.store.action_with_key(&key)? {
        return Ok(Responded::AlreadyDone { action_id });
    }
    let request = PauseRequest {
        pause: true,
        selection,
        chain: None,
        signer: signer.map(String::from),
        dry_run: false,
        reason: Some(format!(
            "automatic response to alert {} ({}, {}): {}",
            alert.id, alert.found.rule, alert.found.severity, alert.found.summary
        )),
        strict: false,
        allow_insolvent: false,
    };
    match pause::run_keyed(deployment, &request, Instant::now(), &|_| {}, &key).await {
        Ok(report) => Ok(Responded::Paused(report)),
        // Another process answered the same alert between the check and now.
        Err(ResponseError::Storage(StorageError::AlreadyDone(_))) => Ok(Responded::AlreadyDone {
            action_id: deployment.store.action_with_key(&key)?.unwrap_or_default(),
        }),
        Err(e) => Err(e),
    }
}

/// The journal key that makes a response to one alert happen once.
fn response_key(alert_id: i64) -> String {
    format!("respond:alert:{alert_id}")
}
