//! The drill through a Safe (`guardian demo --safe`): a 2-of-3 Safe holds the admin, upgrade and
//! rescue roles, the pause key and the brake keep pausing. The releases are proposals two owners
//! sign; the rescue is the one the level 3 playbook prepared; a rescue prepared for a contract
//! that lost nothing is cancelled the same way.

use std::time::Duration;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use serde_json::json;

use super::{DemoError, Progress, at, steps::eth};
use crate::{
    config::ContractConfig,
    deployment::Deployment,
    incident::recovery::{record_if_incident, record_proposals},
    response::safe::{self, Executed, How},
    storage::{ProposalRecord, ProposalStatus},
};

/// The owners whose keys sign (two of the Safe's three).
const SIGNERS: [&str; 2] = ["owner-1", "owner-2"];
/// How long the drill waits for the playbook to prepare the rescue.
const PREPARED_WITHIN: Duration = Duration::from_secs(60);

/// Two owners sign proposal `id`, the first pays for its execution; each step joins the
/// proposal's incident timeline, when it has one.
pub(super) async fn sign_and_execute(
    d: &Deployment,
    id: i64,
    operator: &str,
) -> Result<Executed, DemoError> {
    for name in SIGNERS {
        let key = d.signer(name).map_err(at("the owners' keys"))?;
        let signed = safe::sign(d, id, How::Signer(key))
            .await
            .map_err(at("an owner's signature"))?;
        record_if_incident(
            &d.store,
            operator,
            id,
            "confirmed",
            json!({"owner": signed.owner, "via": signed.via}),
        )
        .map_err(at("recording a confirmation"))?;
    }
    let payer = d.signer(SIGNERS[0]).map_err(at("the owners' keys"))?;
    let done = safe::execute(d, id, payer)
        .await
        .map_err(at("executing a Safe proposal"))?;
    record_if_incident(
        &d.store,
        operator,
        id,
        "executed",
        json!({"tx": done.tx, "block": done.block}),
    )
    .map_err(at("recording an execution"))?;
    Ok(done)
}

/// Proposal `proposal` (made under incident `id`) executed by two owners.
pub(super) async fn under_incident(
    d: &Deployment,
    id: i64,
    proposal: &safe::Proposed,
    operator: &str,
) -> Result<Executed, DemoError> {
    record_proposals(&d.store, id, operator, std::slice::from_ref(proposal))
        .map_err(at("recording a proposal"))?;
    sign_and_execute(d, proposal.id, operator).await
}

/// Pending rescue proposals of incident `id`.
fn rescues(d: &Deployment, id: i64) -> Result<Vec<ProposalRecord>, DemoError> {
    Ok(d.store
        .proposals(true)
        .map_err(at("reading the Safe proposals"))?
        .into_iter()
        .filter(|p| {
            p.incident_id == Some(id)
                && p.status == ProposalStatus::Pending
                && p.title.starts_with("rescue")
        })
        .collect())
}

/// Whether `p` moves funds out of `contract`.
fn rescues_from(p: &ProposalRecord, contract: &ContractConfig) -> bool {
    p.chain == contract.chain()
        && p.calls.as_array().into_iter().flatten().any(|c| {
            c["to"].as_str().and_then(|t| t.parse::<Address>().ok()) == Some(contract.address)
        })
}

/// The rescue of `escrow` that incident `id`'s playbook prepared, signed by two owners and
/// executed; every other rescue it prepared (a contract nothing was taken from) cancelled the
/// same way. What left the escrow.
pub(super) async fn rescue(
    d: &Deployment,
    id: i64,
    escrow: &ContractConfig,
    operator: &str,
    progress: &Progress,
) -> Result<U256, DemoError> {
    let waited = std::time::Instant::now();
    let prepared = loop {
        if let Some(p) = rescues(d, id)?
            .into_iter()
            .find(|p| rescues_from(p, escrow))
        {
            break p;
        }
        if waited.elapsed() > PREPARED_WITHIN {
            return Err(DemoError::Step {
                step: "rescue",
                message: format!("the playbook prepared no rescue of {}", escrow.name()),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    progress.done(&format!(
        "the playbook prepared the rescue for the Safe's owners: proposal {} ({})",
        prepared.id, prepared.title
    ));
    let client = d
        .clients
        .get(escrow.chain())
        .ok_or_else(|| DemoError::Step {
            step: "rescue",
            message: format!("chain {} unreachable", escrow.chain()),
        })?;
    let balance = || async {
        client
            .provider()
            .get_balance(escrow.address)
            .await
            .map_err(at("balances"))
    };
    let before = balance().await?;
    let done = sign_and_execute(d, prepared.id, operator).await?;
    let rescued = before.saturating_sub(balance().await?);
    progress.done(&format!(
        "two owners signed; the Safe moved {} out in block {}",
        eth(rescued),
        done.block
    ));
    for other in rescues(d, id)? {
        let cancel = safe::cancel(d, other.id, operator)
            .await
            .map_err(at("cancelling a rescue not needed"))?;
        record_if_incident(
            &d.store,
            operator,
            other.id,
            "cancel proposed",
            json!({"cancelled_by": cancel.id}),
        )
        .map_err(at("recording a cancellation"))?;
        under_incident(d, id, &cancel, operator).await?;
        progress.done(&format!(
            "the rescue prepared on {} (proposal {}) is not needed: cancelled by proposal {}",
            other.chain, other.id, cancel.id
        ));
    }
    Ok(rescued)
}
