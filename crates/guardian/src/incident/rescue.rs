//! The rescue a level 2 or 3 playbook prepares once its pause is done: where a Safe holds
//! `EMERGENCY_ROLE` on a fund-holding contract the pause covered, the withdrawal of each whole
//! balance to the first safe recipient is proposed to the Safe's owners. Nothing moves until
//! they sign; a rescue a key could send stays the operator's decision (`guardian withdraw`).
//! It runs after the pause and the messages, so it never delays either; what cannot be
//! prepared is recorded in the timeline, never an error of the playbook.

use serde_json::json;

use super::{Incident, IncidentError, playbook::Responder};
use crate::{
    response::{
        pause::PauseReport,
        safe::{Proposed, propose_withdraw},
        withdraw::{Amount, Asset, WithdrawRequest},
    },
    storage::ProposalStatus,
};

impl Responder<'_> {
    /// Proposes the rescue of the fund-holding contracts `pause` left paused (for a level 2
    /// incident, only those it names) whose `EMERGENCY_ROLE` a Safe holds and that no pending
    /// proposal of the incident rescues already. The proposals, recorded in the timeline.
    pub(super) async fn prepare_rescue(
        &self,
        incident: &Incident,
        level: u8,
        pause: &PauseReport,
    ) -> Result<Vec<Proposed>, IncidentError> {
        let deployment = self.deployment;
        if level < 2 || deployment.safes.is_empty() {
            return Ok(Vec::new());
        }
        let pending: Vec<serde_json::Value> = deployment
            .store
            .proposals(true)?
            .into_iter()
            .filter(|p| p.incident_id == Some(incident.id) && p.status == ProposalStatus::Pending)
            .map(|p| p.calls)
            .collect();
        let rescued = |address: &alloy::primitives::Address| {
            pending.iter().any(|calls| {
                calls.as_array().into_iter().flatten().any(|c| {
                    c["to"].as_str().and_then(|t| t.parse().ok()) == Some(*address)
                        && c["label"]
                            .as_str()
                            .is_some_and(|l| l.starts_with("withdraw"))
                })
            })
        };
        let wanted: Vec<_> = pause
            .targets
            .iter()
            .filter(|t| t.paused == Some(true))
            .filter(|t| level >= 3 || incident.contracts.contains(&t.name))
            .filter_map(|t| deployment.manifest.contract(&t.name))
            .filter(|c| c.kind.holds_funds() && !rescued(&c.address))
            .filter_map(|c| deployment.clients.get(c.chain()).map(|client| (c, client)))
            .enumerate()
            .map(|(k, (c, client))| (k, c, client))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let Some(to) = deployment
            .manifest
            .emergency
            .safe_recipients
            .first()
            .copied()
        else {
            self.store().record(
                incident.id,
                &self.actor,
                Some((
                    "rescue-not-prepared",
                    json!({"error": "no [emergency] safe_recipients: a rescue has nowhere to go"}),
                )),
                &[],
            )?;
            return Ok(Vec::new());
        };
        let request = WithdrawRequest {
            contract: None,
            asset: Asset::Everything,
            amount: Amount::All,
            to,
            signer: None,
            dry_run: false,
            reason: Some(format!("incident {}: rescue", incident.id)),
        };
        match propose_withdraw(deployment, wanted, &request).await {
            Ok((_, proposals)) => {
                super::recovery::record_proposals(
                    self.store(),
                    incident.id,
                    &self.actor,
                    &proposals,
                )?;
                Ok(proposals)
            }
            Err(e) => {
                self.store().record(
                    incident.id,
                    &self.actor,
                    Some(("rescue-not-prepared", json!({"error": e.to_string()}))),
                    &[],
                )?;
                Ok(Vec::new())
            }
        }
    }
}
