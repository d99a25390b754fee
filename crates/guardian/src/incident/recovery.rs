//! Recovery under an incident: unpausing only what the incident paused, once the fix is
//! deployed and verified (or a person overrides, with a reason that is recorded), and only when
//! every escrow among them holds what it owes (as `guardian unpause` checks).

use std::time::Instant;

use serde_json::json;

use super::{
    Entry, IncidentError,
    playbook::{Responder, record_action},
};
use crate::{
    response::{
        pause::{self, PauseReport, PauseRequest, Selection},
        safe::Proposed,
    },
    storage::{StorageError, Store},
};

/// Writes `event` of Safe proposal `proposal` into incident `id`'s timeline (a `safe` entry);
/// the first makes the proposal the incident's.
pub fn record_proposal_event(
    store: &Store,
    id: i64,
    actor: &str,
    proposal: i64,
    event: &str,
    details: serde_json::Value,
) -> Result<(), StorageError> {
    store.record(
        id,
        actor,
        None,
        &[super::Change::Proposal {
            id: proposal,
            event: event.to_string(),
            details,
        }],
    )
}

/// Records `proposals` as incident `id`'s: each proposed, with the confirmations it already
/// has (its proposer's).
pub fn record_proposals(
    store: &Store,
    id: i64,
    actor: &str,
    proposals: &[Proposed],
) -> Result<(), StorageError> {
    for p in proposals {
        record_proposal_event(
            store,
            id,
            actor,
            p.id,
            "proposed",
            json!({
                "chain": p.chain, "safe": p.safe, "nonce": p.tx.nonce.to_string(),
                "safe_tx_hash": p.hashes.safe_tx_hash, "threshold": p.threshold,
                "calls": p.calls.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
            }),
        )?;
        for c in store.confirmations(p.id)? {
            record_proposal_event(
                store,
                id,
                actor,
                p.id,
                "confirmed",
                json!({"owner": c.owner, "via": c.via}),
            )?;
        }
    }
    Ok(())
}

/// The contracts incident pauses changed (the `changing` of each pause recorded in its
/// timeline), in order, without repeats.
pub fn paused_by(timeline: &[Entry]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in timeline.iter().filter(|e| e.kind == "pause") {
        for n in e.details["params"]["changing"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(n) = n.as_str()
                && !names.iter().any(|x| x == n)
            {
                names.push(n.to_string());
            }
        }
    }
    names
}

/// Whether the timeline proves the fix: an upgrade that succeeded and a verification after it.
pub fn fix_verified(timeline: &[Entry]) -> bool {
    let upgraded = timeline
        .iter()
        .position(|e| e.kind == "upgrade" && e.details["status"] == "succeeded");
    upgraded.is_some_and(|u| timeline.iter().skip(u).any(|e| e.kind == "fix-verified"))
}

impl Responder<'_> {
    /// Unpauses the contracts incident `id` paused. Refused until the fix is deployed and
    /// verified unless `force` gives a reason (recorded); refused while an escrow among them is
    /// short (the message says what to `replenish`).
    pub async fn unpause(
        &self,
        id: i64,
        force: Option<&str>,
    ) -> Result<PauseReport, IncidentError> {
        let incident = self.get(id)?;
        if !incident.status.active() {
            return Err(IncidentError::wrong_state(
                id,
                incident.status,
                format!(
                    "incident {id} is {}: nothing to resume under it",
                    incident.status
                ),
            ));
        }
        let (timeline, _) = self.deployment.store.timeline(id)?;
        let names = paused_by(&timeline);
        if names.is_empty() {
            return Err(IncidentError::wrong_state(
                id,
                incident.status,
                format!(
                    "incident {id} paused nothing; contracts paused otherwise are unpaused with guardian unpause"
                ),
            ));
        }
        if !fix_verified(&timeline) {
            match force {
                Some(reason) if !reason.trim().is_empty() => {
                    self.deployment.store.record(
                        id,
                        &self.actor,
                        Some((
                            "unpause-forced",
                            json!({"reason": reason, "contracts": names}),
                        )),
                        &[],
                    )?;
                }
                _ => {
                    return Err(IncidentError::step_missing(
                        id,
                        format!(
                            "the fix of incident {id} is not deployed and verified yet: guardian upgrade NAME --artifact FILE --incident {id}, then guardian incident verify-fix {id} --note TEXT (or --force --reason TEXT, recorded)"
                        ),
                    ));
                }
            }
        }
        let request = PauseRequest {
            pause: false,
            selection: Selection::Named(names),
            chain: None,
            signer: self.signer.clone(),
            dry_run: false,
            reason: Some(format!("incident {id}: resume after the fix")),
            strict: true,
            allow_insolvent: false,
            outbid: None,
        };
        let report = pause::run(self.deployment, &request, Instant::now(), &|_| {}).await?;
        record_action(&self.deployment.store, id, &self.actor, report.action_id)?;
        record_proposals(&self.deployment.store, id, &self.actor, &report.proposals)?;
        Ok(report)
    }
}
