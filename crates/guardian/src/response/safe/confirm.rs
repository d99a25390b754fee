//! A proposal's life after it is made: owners' confirmations (a key of the manifest, a
//! signature made elsewhere, an on-chain `approveHash`), its execution once the threshold is
//! met, what happened at its nonce meanwhile (executed from the Safe app, superseded), and its
//! cancellation (the no-op at the same nonce).

use alloy::{
    primitives::{Address, B256, Bytes},
    providers::Provider,
    rpc::types::Filter,
    signers::SignerSync,
    sol_types::SolEvent,
};
use serde::Serialize;

use super::{Proposed, ResponseError, Stored, confirmation_of, propose_at, write_files};
use crate::{
    chain::{ChainClient, Journal, Signer},
    deployment::Deployment,
    safe::{self, Confirmation, SafeCall, SafeError, SafeInfo, SafeTx},
    storage::{ProposalRecord, ProposalStatus},
};

/// How an owner confirms.
#[derive(Debug, Clone)]
pub enum How<'a> {
    /// With a key of the manifest (it must be an owner's).
    Signer(&'a Signer),
    /// With a signature made elsewhere (a hardware wallet through any EIP-712 tool).
    Signature(Bytes),
}

/// A confirmation kept.
#[derive(Debug, Clone, Serialize)]
pub struct Signed {
    /// The proposal.
    pub id: i64,
    /// The owner.
    pub owner: Address,
    /// How it came.
    pub via: String,
    /// Confirmations now.
    pub confirmations: usize,
    /// Needed.
    pub threshold: u64,
    /// Whether it was shared on the Safe Transaction Service.
    pub shared: Option<String>,
}

/// A proposal executed.
#[derive(Debug, Clone, Serialize)]
pub struct Executed {
    /// The proposal.
    pub id: i64,
    /// The transaction.
    pub tx: String,
    /// Its block.
    pub block: u64,
    /// The checks of each upgrade it made (as `guardian upgrade` checks its own).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upgrades: Vec<crate::response::upgrade::executed::UpgradeChecked>,
}

impl Executed {
    /// Whether every upgrade it made checks out.
    pub fn ok(&self) -> bool {
        self.upgrades.iter().all(|u| u.ok())
    }
}

/// A proposal with its confirmations and who it waits for.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalState {
    /// The record (status brought up to date with the chain).
    pub proposal: ProposalRecord,
    /// Owners who confirmed, and how.
    pub confirmed: Vec<(Address, String)>,
    /// Confirmations needed.
    pub threshold: u64,
    /// Owners who have not confirmed.
    pub waiting: Vec<Address>,
    /// The Safe's nonce now.
    pub safe_nonce: u64,
    /// Why the Safe Transaction Service could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// A pending proposal, its transaction and calls (hash checked), its chain and its Safe now.
type Opened<'d> = (
    ProposalRecord,
    Stored,
    Vec<SafeCall>,
    &'d ChainClient,
    SafeInfo,
);

async fn open(deployment: &Deployment, id: i64) -> Result<Opened<'_>, ResponseError> {
    let record = deployment
        .store
        .proposal(id)?
        .ok_or_else(|| ResponseError::NothingSelected(format!(" (no Safe proposal {id})")))?;
    if record.status != ProposalStatus::Pending {
        return Err(ResponseError::from(SafeError::Unreadable(format!(
            "proposal {id} is {}, not pending",
            format!("{:?}", record.status).to_lowercase()
        ))));
    }
    let (stored, calls) = Stored::of(&record)?;
    stored.tx.check(stored.multisend)?;
    let client = deployment
        .clients
        .get(&record.chain)
        .ok_or_else(|| ResponseError::UnknownChain(record.chain.clone()))?;
    let info = safe::read(client, record.safe).await?;
    let nonce = record.nonce;
    if nonce < info.nonce {
        return Err(ResponseError::from(SafeError::NonceUsed {
            nonce,
            current: info.nonce,
        }));
    }
    Ok((record, stored, calls, client, info))
}

/// Keeps an owner's confirmation of proposal `id`: refused for a proposal that is not pending,
/// whose nonce was used, whose fields no longer hash to what was recorded, that breaks
/// guardian's rules, or from an address that does not own the Safe.
pub async fn sign(deployment: &Deployment, id: i64, how: How<'_>) -> Result<Signed, ResponseError> {
    let (record, stored, _, _, info) = open(deployment, id).await?;
    let hash = record.safe_tx_hash;
    let (signature, via) = match how {
        How::Signer(s) => {
            let sig = s.key().sign_hash_sync(&hash).map_err(|e| {
                ResponseError::from(SafeError::Unreadable(format!("cannot sign: {e}")))
            })?;
            (
                Bytes::from(sig.as_bytes().to_vec()),
                format!("signer:{}", s.name),
            )
        }
        How::Signature(b) => (b, "--signature".to_string()),
    };
    let owner = safe::tx::recover(hash, &signature).map_err(SafeError::from)?;
    if !info.owners.contains(&owner) {
        return Err(ResponseError::from(SafeError::NotOwner(owner)));
    }
    deployment
        .store
        .confirm(id, owner, Some(&signature), &via)?;
    let shared = super::shared::share(deployment, &record, &stored.tx, owner, &signature).await;
    let kept = deployment.store.confirmations(id)?;
    write_files(deployment, &record, &kept)?;
    Ok(Signed {
        id,
        owner,
        via,
        confirmations: kept.len(),
        threshold: info.threshold,
        shared,
    })
}

/// The kept confirmations of `record`, with the on-chain approvals (`approveHash`) of owners
/// who gave none, which are kept as well.
async fn gather(
    deployment: &Deployment,
    record: &ProposalRecord,
    client: &ChainClient,
    info: &SafeInfo,
) -> Result<Vec<(Address, Confirmation)>, ResponseError> {
    if let Err(why) = super::shared::pull(deployment, record, info).await {
        tracing::warn!(proposal = record.id, "{why}");
    }
    let mut kept: Vec<(Address, Confirmation)> = deployment
        .store
        .confirmations(record.id)?
        .iter()
        .filter(|c| info.owners.contains(&c.owner))
        .map(|c| (c.owner, confirmation_of(c)))
        .collect();
    for owner in &info.owners {
        if kept.iter().any(|(o, _)| o == owner) {
            continue;
        }
        if safe::approved(client, record.safe, *owner, record.safe_tx_hash).await? {
            deployment
                .store
                .confirm(record.id, *owner, None, "approveHash")?;
            kept.push((*owner, Confirmation::ApprovedHash));
        }
    }
    Ok(kept)
}

/// Executes proposal `id` with its confirmations, paid by `payer`; refused, with nothing sent,
/// below the threshold, on a used nonce, or when it would revert.
pub async fn execute(
    deployment: &Deployment,
    id: i64,
    payer: &Signer,
) -> Result<Executed, ResponseError> {
    let (record, stored, calls, client, info) = open(deployment, id).await?;
    let confirmations = gather(deployment, &record, client, &info).await?;
    if record.nonce == info.nonce {
        safe::simulate(client, record.safe, stored.multisend, &calls).await?;
    }
    let upgrades = crate::response::upgrade::executed::before(deployment, client, &calls)
        .await
        .map_err(ResponseError::Chain)?;
    let action = deployment.store.begin_action(
        "safe-execute",
        &payer.name,
        Some(&record.title),
        &serde_json::json!({"proposal": id, "safe": record.safe, "nonce": record.nonce,
            "safe_tx_hash": record.safe_tx_hash}),
    )?;
    let done = safe::execute(
        client,
        payer,
        record.safe,
        stored.multisend,
        &stored.tx,
        &confirmations,
        Some(Journal {
            store: &deployment.store,
            action,
        }),
    )
    .await;
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            deployment
                .store
                .finish_action(action, false, &e.to_string())?;
            return Err(e.into());
        }
    };
    let tx = done.tx_hash.to_string();
    deployment
        .store
        .close_proposal(id, ProposalStatus::Executed, Some(&tx), Some(done.block))?;
    deployment.store.finish_action(
        action,
        true,
        &format!("proposal {id} executed in block {}", done.block),
    )?;
    if let Some(r) = deployment.store.proposal(id)? {
        write_files(deployment, &r, &deployment.store.confirmations(id)?)?;
    }
    let upgrades = crate::response::upgrade::executed::after(deployment, client, upgrades).await;
    Ok(Executed {
        id,
        tx,
        block: done.block,
        upgrades,
    })
}

/// Proposes the no-op at proposal `id`'s nonce: once executed (it needs the threshold too), the
/// proposal can never be.
pub async fn cancel(
    deployment: &Deployment,
    id: i64,
    actor: &str,
) -> Result<Proposed, ResponseError> {
    let (record, stored, _, client, _) = open(deployment, id).await?;
    let s = deployment
        .safes
        .iter()
        .find(|s| s.at(&record.chain) == Some(record.safe))
        .ok_or_else(|| {
            ResponseError::NothingSelected(format!(
                " (no signer of the manifest is the Safe {})",
                record.safe
            ))
        })?;
    let noop = SafeTx::cancel(record.safe, record.nonce);
    let call = SafeCall {
        label: format!("cancel proposal {id}"),
        to: noop.to,
        value: noop.value,
        data: noop.data,
    };
    let _ = stored;
    propose_at(
        deployment,
        client,
        s,
        &format!("cancel proposal {id} ({})", record.title),
        vec![call],
        actor,
        record.incident_id,
        Some(record.nonce),
    )
    .await
}

/// Every proposal (only pending ones with `pending_only`), its status brought up to date with
/// the chain first: a pending proposal whose nonce the Safe passed was executed (by anyone:
/// the Safe's `ExecutionSuccess` names its hash) or superseded by another transaction.
pub async fn states(
    deployment: &Deployment,
    pending_only: bool,
) -> Result<Vec<ProposalState>, ResponseError> {
    let mut out = Vec::new();
    for record in deployment.store.proposals(false)? {
        let Some(client) = deployment.clients.get(&record.chain) else {
            continue;
        };
        let info = safe::read(client, record.safe).await?;
        let mut record = record;
        if record.status == ProposalStatus::Pending && record.nonce < info.nonce {
            let (status, tx, block) =
                match executed_at(client, record.safe, record.safe_tx_hash).await? {
                    Some((tx, block)) => (ProposalStatus::Executed, Some(tx), Some(block)),
                    None => (ProposalStatus::Superseded, None, None),
                };
            deployment
                .store
                .close_proposal(record.id, status, tx.as_deref(), block)?;
            record = deployment.store.proposal(record.id)?.unwrap_or(record);
        }
        if pending_only && record.status != ProposalStatus::Pending {
            continue;
        }
        let confirmed: Vec<(Address, String)> = deployment
            .store
            .confirmations(record.id)?
            .into_iter()
            .map(|c| (c.owner, c.via))
            .collect();
        let mut confirmed = confirmed;
        let mut service = None;
        if record.status == ProposalStatus::Pending {
            match super::shared::pull(deployment, &record, &info).await {
                Ok(owners) => confirmed.extend(owners.into_iter().map(|o| (o, "service".into()))),
                Err(why) => service = Some(why),
            }
            for owner in &info.owners {
                if !confirmed.iter().any(|(o, _)| o == owner)
                    && safe::approved(client, record.safe, *owner, record.safe_tx_hash).await?
                {
                    deployment
                        .store
                        .confirm(record.id, *owner, None, "approveHash")?;
                    confirmed.push((*owner, "approveHash".into()));
                }
            }
        }
        let waiting = info
            .owners
            .iter()
            .filter(|o| !confirmed.iter().any(|(c, _)| c == *o))
            .copied()
            .collect();
        out.push(ProposalState {
            proposal: record,
            confirmed,
            threshold: info.threshold,
            waiting,
            safe_nonce: info.nonce,
            service,
        });
    }
    Ok(out)
}

/// The transaction (and block) in which `safe` executed `hash`, if it did.
async fn executed_at(
    client: &ChainClient,
    safe: Address,
    hash: B256,
) -> Result<Option<(String, u64)>, ResponseError> {
    let filter = Filter::new()
        .address(safe)
        .event_signature(bindings::safe::Safe::ExecutionSuccess::SIGNATURE_HASH)
        .topic1(hash)
        .from_block(0u64);
    let logs = client
        .provider()
        .get_logs(&filter)
        .await
        .map_err(|e| ResponseError::Chain(client.rpc_err(e)))?;
    Ok(logs.first().map(|l| {
        (
            l.transaction_hash
                .map(|h| h.to_string())
                .unwrap_or_default(),
            l.block_number.unwrap_or_default(),
        )
    }))
}
