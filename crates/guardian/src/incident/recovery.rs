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

/// Writes `event` of Safe proposal `proposal` into its incident's timeline, when it has one.
pub fn record_if_incident(
    store: &Store,
    actor: &str,
    proposal: i64,
    event: &str,
    details: serde_json::Value,
) -> Result<(), StorageError> {
    match store.proposal(proposal)?.and_then(|p| p.incident_id) {
        Some(id) => record_proposal_event(store, id, actor, proposal, event, details),
        None => Ok(()),
    }
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

/// Whether the timeline proves the fix: an upgrade that happened (sent, or its Safe proposal
/// executed; a proposal alone is not an upgrade) and a verification after it.
pub fn fix_verified(timeline: &[Entry]) -> bool {
    let upgraded = timeline.iter().position(|e| upgraded(e, timeline));
    upgraded.is_some_and(|u| timeline.iter().skip(u).any(|e| e.kind == "fix-verified"))
}

/// Whether `e` is an upgrade done: an `upgrade` action that succeeded and sent it, or the
/// execution of a Safe proposal whose calls upgrade.
fn upgraded(e: &Entry, timeline: &[Entry]) -> bool {
    match e.kind.as_str() {
        "upgrade" => {
            e.details["status"] == "succeeded"
                && !e.details["summary"]
                    .as_str()
                    .is_some_and(|s| s.contains(crate::response::upgrade::PROPOSED))
        }
        _ => executed_proposal_of(e, timeline, "upgrade "),
    }
}

/// Whether `e` is the execution of a Safe proposal of the timeline one of whose calls is
/// labelled `what…` (`withdraw `, `upgrade `).
pub fn executed_proposal_of(e: &Entry, timeline: &[Entry], what: &str) -> bool {
    e.kind == "safe"
        && e.details["event"] == "executed"
        && timeline.iter().any(|p| {
            p.kind == "safe"
                && p.details["event"] == "proposed"
                && p.details["proposal"] == e.details["proposal"]
                && p.details["calls"].as_array().is_some_and(|calls| {
                    calls
                        .iter()
                        .any(|c| c.as_str().is_some_and(|l| l.starts_with(what)))
                })
        })
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn entry(kind: &str, details: Value) -> Entry {
        Entry {
            id: 0,
            incident_id: 1,
            at: 0,
            actor: "t".into(),
            kind: kind.into(),
            details,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn an_upgrade_only_proposed_to_a_safe_is_no_fix_until_it_is_executed() {
        let proposed = entry(
            "upgrade",
            json!({"status": "succeeded",
                "summary": format!("escrow: upgrade to 0xabc {} 4)", crate::response::upgrade::PROPOSED)}),
        );
        let safe = |event: &str| {
            entry(
                "safe",
                json!({"proposal": 4, "event": event, "calls": ["upgrade escrow to 0xabc"]}),
            )
        };
        let verified = entry("fix-verified", json!({"note": "checked"}));
        let only_proposed = [proposed.clone(), safe("proposed"), verified.clone()];
        assert!(!fix_verified(&only_proposed));
        let executed = [
            proposed,
            safe("proposed"),
            safe("executed"),
            verified.clone(),
        ];
        assert!(fix_verified(&executed));
        let verified_before = [safe("proposed"), verified.clone(), safe("executed")];
        assert!(
            !fix_verified(&verified_before),
            "verified before it was done"
        );
        let sent = [
            entry(
                "upgrade",
                json!({"status": "succeeded", "summary": "escrow upgraded"}),
            ),
            verified,
        ];
        assert!(fix_verified(&sent));
    }
}
