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
        if level < 2 || self.deployment.safes.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = pause
            .targets
            .iter()
            .filter(|t| t.paused == Some(true))
            .filter(|t| level >= 3 || incident.contracts.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        match self.rescue_of(incident, &names).await {
            Ok(proposals) => Ok(proposals),
            Err(Unprepared::Records(e)) => Err(e),
            Err(Unprepared::Why(error)) => {
                self.store().record(
                    incident.id,
                    &self.actor,
                    Some(("rescue-not-prepared", json!({ "error": error }))),
                    &[],
                )?;
                Ok(Vec::new())
            }
        }
    }

    /// Proposes, on a person's request (the war room's button), the rescue of the fund-holding
    /// contracts incident `id` paused whose `EMERGENCY_ROLE` a Safe holds and that no pending
    /// proposal rescues already. Refused, with what to do, when there is nothing to propose.
    pub async fn propose_rescue(&self, id: i64) -> Result<Vec<Proposed>, IncidentError> {
        let incident = self.get(id)?;
        if !incident.status.active() {
            return Err(IncidentError::wrong_state(
                id,
                incident.status,
                format!(
                    "incident {id} is {}: nothing to rescue under it",
                    incident.status
                ),
            ));
        }
        let (timeline, _) = self.store().timeline(id)?;
        let names = super::recovery::paused_by(&timeline);
        match self.rescue_of(&incident, &names).await {
            Ok(proposals) if proposals.is_empty() => Err(IncidentError::step_missing(
                id,
                format!(
                    "nothing to propose: no fund-holding contract incident {id} paused holds funds and has its EMERGENCY_ROLE in a Safe without a rescue already pending (guardian safe list; guardian withdraw for a key)"
                ),
            )),
            Ok(proposals) => Ok(proposals),
            Err(Unprepared::Records(e)) => Err(e),
            Err(Unprepared::Why(error)) => Err(IncidentError::step_missing(id, error)),
        }
    }

    /// The rescue proposals of `names` (fund holders among them, not already being rescued).
    async fn rescue_of(
        &self,
        incident: &Incident,
        names: &[String],
    ) -> Result<Vec<Proposed>, Unprepared> {
        let deployment = self.deployment;
        let pending: Vec<serde_json::Value> = deployment
            .store
            .proposals(true)
            .map_err(|e| Unprepared::Records(e.into()))?
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
        let wanted: Vec<_> = names
            .iter()
            .filter_map(|n| deployment.manifest.contract(n))
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
            return Err(Unprepared::Why(
                "no [emergency] safe_recipients: a rescue has nowhere to go".into(),
            ));
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
        let (_, proposals) = propose_withdraw(deployment, wanted, &request)
            .await
            .map_err(|e| Unprepared::Why(e.to_string()))?;
        super::recovery::record_proposals(self.store(), incident.id, &self.actor, &proposals)
            .map_err(|e| Unprepared::Records(e.into()))?;
        Ok(proposals)
    }
}

/// Why a rescue was not proposed.
enum Unprepared {
    /// The records failed.
    Records(IncidentError),
    /// What stands in the way (no recipient, the Safe or the chain refused).
    Why(String),
}
