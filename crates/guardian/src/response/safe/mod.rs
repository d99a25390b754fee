//! Actions whose role a Safe holds: one proposal per chain (its calls batched), simulated from
//! the Safe and refused if it would revert, recorded (the database is the source of truth) and
//! written as two files beside the manifest: guardian's own (`proposals/<chain>-<safe>-<nonce>.json`,
//! every field and the confirmations so far) and a Safe{Wallet} Transaction Builder export.
//! Its owners confirm it (`guardian safe sign`, or `approveHash` from any wallet) and anyone
//! executes it once the threshold is met (`guardian safe execute`).

use std::path::PathBuf;

use alloy::primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};

mod confirm;
mod replenish;
mod shared;
mod withdraw;

pub use confirm::{Executed, How, ProposalState, Signed, cancel, execute, sign, states};
pub use replenish::propose_replenish;
pub use withdraw::propose_withdraw;

use super::{ResponseError, read_roles};
use crate::{
    chain::ChainClient,
    deployment::{Deployment, SafeSigner},
    roles::Role,
    safe::{self, Confirmation, Hashes, SafeCall, SafeError, SafeTx},
    storage::{ConfirmationRecord, NewProposal, ProposalRecord},
};

/// A proposal made, with what its signers must check.
#[derive(Debug, Clone, Serialize)]
pub struct Proposed {
    /// Its id (`guardian safe sign ID`).
    pub id: i64,
    /// The chain.
    pub chain: String,
    /// Its id.
    pub chain_id: u64,
    /// The Safe's signer name.
    pub signer: String,
    /// The Safe.
    pub safe: Address,
    /// The Safe transaction.
    pub tx: SafeTx,
    /// The calls it makes.
    pub calls: Vec<SafeCall>,
    /// What owners check on their hardware wallets.
    pub hashes: Hashes,
    /// Confirmations needed.
    pub threshold: u64,
    /// The Safe's owners.
    pub owners: Vec<Address>,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// What else happened: the proposer's signature, the Safe Transaction Service.
    pub notes: Vec<String>,
}

/// What a proposal keeps as its transaction: every `SafeTx` field and the batch library it may
/// DELEGATECALL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// The transaction.
    pub tx: SafeTx,
    /// The pinned `MultiSendCallOnly`.
    pub multisend: Address,
}

impl Stored {
    /// Reads a recorded proposal's transaction and calls back, checking that its hash is still
    /// the one recorded (a row or file edited after signing is refused).
    pub fn of(record: &ProposalRecord) -> Result<(Self, Vec<SafeCall>), ResponseError> {
        let bad = |why: String| ResponseError::from(SafeError::Unreadable(why));
        let stored: Stored = serde_json::from_value(record.safe_tx.clone())
            .map_err(|e| bad(format!("proposal {} cannot be read: {e}", record.id)))?;
        let calls: Vec<SafeCall> = serde_json::from_value(record.calls.clone())
            .map_err(|e| bad(format!("proposal {} cannot be read: {e}", record.id)))?;
        let hash = stored.tx.hashes(record.chain_id, record.safe).safe_tx_hash;
        if hash != record.safe_tx_hash {
            return Err(ResponseError::from(SafeError::HashMismatch {
                recorded: record.safe_tx_hash,
                computed: hash,
            }));
        }
        Ok((stored, calls))
    }
}

/// For each of `targets`, the manifest's Safe that holds `role` there (the first, by name).
pub async fn safe_holders<'a>(
    deployment: &'a Deployment,
    role: Role,
    targets: &[(&ChainClient, Address)],
) -> Vec<Option<&'a SafeSigner>> {
    let mut found: Vec<Option<&'a SafeSigner>> = vec![None; targets.len()];
    for s in &deployment.safes {
        if found.iter().all(Option::is_some) {
            break;
        }
        let open: Vec<(usize, Address)> = (0..targets.len())
            .filter(|i| found[*i].is_none())
            .filter_map(|i| s.at(&targets[i].0.name).map(|a| (i, a)))
            .collect();
        let checks: Vec<_> = open
            .iter()
            .map(|(i, safe)| (targets[*i].0, targets[*i].1, *safe))
            .collect();
        for (k, held) in read_roles(role, &checks).await.into_iter().enumerate() {
            if matches!(held, Ok(true)) {
                found[open[k].0] = Some(s);
            }
        }
    }
    found
}

/// Proposes `calls` through `safe` on `client`'s chain at its next free nonce (after the
/// Safe's own and every pending proposal's): simulated from the Safe first (nothing is
/// recorded if it would revert), recorded, and written to its two files.
pub async fn propose(
    deployment: &Deployment,
    client: &ChainClient,
    safe: &SafeSigner,
    title: &str,
    calls: Vec<SafeCall>,
    actor: &str,
    incident: Option<i64>,
) -> Result<Proposed, ResponseError> {
    propose_at(
        deployment, client, safe, title, calls, actor, incident, None,
    )
    .await
}

/// As [`propose`], at `nonce` when given (a cancellation takes its proposal's).
#[allow(clippy::too_many_arguments)]
pub(super) async fn propose_at(
    deployment: &Deployment,
    client: &ChainClient,
    safe: &SafeSigner,
    title: &str,
    calls: Vec<SafeCall>,
    actor: &str,
    incident: Option<i64>,
    nonce: Option<u64>,
) -> Result<Proposed, ResponseError> {
    let address = safe.at(&client.name).ok_or_else(|| {
        ResponseError::NothingSelected(format!(
            " (the Safe `{}` has no address on {})",
            safe.name, client.name
        ))
    })?;
    let info = safe::read(client, address).await?;
    let queued = deployment
        .store
        .proposals(true)?
        .into_iter()
        .filter(|p| p.chain_id == client.chain_id && p.safe == address)
        .map(|p| p.nonce + 1)
        .max()
        .unwrap_or(0);
    let nonce = nonce.unwrap_or(info.nonce.max(queued));
    let tx = SafeTx::batch(&calls, safe.multisend, nonce)?;
    tx.check(safe.multisend)?;
    safe::simulate(client, address, safe.multisend, &calls).await?;
    let hashes = tx.hashes(client.chain_id, address);
    let stored = Stored {
        tx: tx.clone(),
        multisend: safe.multisend,
    };
    let id = deployment.store.propose(&NewProposal {
        chain: &client.name,
        chain_id: client.chain_id,
        safe: address,
        nonce,
        title,
        safe_tx: serde_json::to_value(&stored).unwrap_or_default(),
        calls: serde_json::to_value(&calls).unwrap_or_default(),
        safe_tx_hash: hashes.safe_tx_hash,
        created_by: actor,
        incident_id: incident,
    })?;
    let record = deployment
        .store
        .proposal(id)?
        .ok_or_else(|| ResponseError::NothingSelected(format!(" (proposal {id} vanished)")))?;
    let notes = shared::proposer_signs(deployment, safe, &record, &tx, &info).await?;
    let files = write_files(deployment, &record, &deployment.store.confirmations(id)?)?;
    Ok(Proposed {
        id,
        chain: client.name.clone(),
        chain_id: client.chain_id,
        signer: safe.name.clone(),
        safe: address,
        tx,
        calls,
        hashes,
        threshold: info.threshold,
        owners: info.owners,
        files,
        notes,
    })
}

/// Calls (index, chain, contract, call) no key can sign for, through the Safes of the manifest
/// that hold `role` on each contract: one proposal per chain and Safe, titled `title` and its
/// calls. The indexes proposed, each with how, and the proposals.
pub async fn propose_calls(
    deployment: &Deployment,
    role: Role,
    title: &str,
    wanted: Vec<(usize, &ChainClient, Address, SafeCall)>,
) -> Result<(Vec<(usize, String)>, Vec<Proposed>), ResponseError> {
    if deployment.safes.is_empty() || wanted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let reads: Vec<(&ChainClient, Address)> = wanted.iter().map(|w| (w.1, w.2)).collect();
    let holders = safe_holders(deployment, role, &reads).await;
    // Grouped by chain and Safe, in the calls' order.
    let mut groups: Vec<(&ChainClient, &SafeSigner, Vec<usize>, Vec<SafeCall>)> = Vec::new();
    for ((i, client, _, c), holder) in wanted.into_iter().zip(holders) {
        let Some(s) = holder else { continue };
        match groups
            .iter_mut()
            .find(|g| g.0.chain_id == client.chain_id && g.1.name == s.name)
        {
            Some(g) => {
                g.2.push(i);
                g.3.push(c);
            }
            None => groups.push((client, s, vec![i], vec![c])),
        }
    }
    let actor = crate::operator::operator(None, &crate::config::env::process_env);
    let mut covered = Vec::new();
    let mut made = Vec::new();
    for (client, s, indexes, calls) in groups {
        let labels: Vec<&str> = calls.iter().map(|c| c.label.as_str()).collect();
        let title = format!("{title}: {}", labels.join("; "));
        let p = propose(deployment, client, s, &title, calls, &actor, None).await?;
        for i in indexes {
            covered.push((i, format!("Safe {} proposal {}", s.name, p.id)));
        }
        made.push(p);
    }
    Ok((covered, made))
}

/// Pauses (`pause`) or unpauses (index, chain, contract, name) whose `PAUSER_ROLE` a Safe of the
/// manifest holds: one proposal per chain and Safe. The indexes proposed, each with how, and
/// the proposals.
pub async fn propose_pausing(
    deployment: &Deployment,
    pause: bool,
    wanted: Vec<(usize, &ChainClient, Address, String)>,
) -> Result<(Vec<(usize, String)>, Vec<Proposed>), ResponseError> {
    use bindings::interfaces::IPausable;
    let (verb, data) = if pause {
        (
            "pause",
            alloy::sol_types::SolCall::abi_encode(&IPausable::pauseCall {}),
        )
    } else {
        (
            "unpause",
            alloy::sol_types::SolCall::abi_encode(&IPausable::unpauseCall {}),
        )
    };
    let calls = wanted
        .into_iter()
        .map(|(i, client, address, name)| {
            let c = call(format!("{verb} {name}"), address, data.clone());
            (i, client, address, c)
        })
        .collect();
    propose_calls(deployment, Role::Pauser, verb, calls).await
}

/// The two files of proposal `record` beside the manifest, rewritten with `confirmations`.
pub fn write_files(
    deployment: &Deployment,
    record: &ProposalRecord,
    confirmations: &[ConfirmationRecord],
) -> Result<Vec<PathBuf>, ResponseError> {
    let (stored, calls) = Stored::of(record)?;
    let dir = deployment
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .join("proposals");
    let io = |e: std::io::Error| ResponseError::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let stem = format!("{}-{}-{}", record.chain, record.safe, record.nonce);
    let hashes = stored.tx.hashes(record.chain_id, record.safe);
    let own = serde_json::json!({
        "format": "guardian-safe-proposal/1",
        "id": record.id,
        "title": record.title,
        "chain": record.chain,
        "chain_id": record.chain_id,
        "safe": record.safe,
        "multisend": stored.multisend,
        "safe_tx": stored.tx,
        "calls": calls,
        "hashes": hashes,
        "status": record.status,
        "confirmations": confirmations,
    });
    let builder = transaction_builder(record, &calls);
    let paths = [
        dir.join(format!("{stem}.json")),
        dir.join(format!("{stem}.tx-builder.json")),
    ];
    for (path, value) in paths.iter().zip([own, builder]) {
        let text = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
        std::fs::write(path, text).map_err(io)?;
    }
    Ok(paths.to_vec())
}

/// The Safe{Wallet} Transaction Builder's batch file (its published format, without
/// signatures): importing it creates the same calls there.
pub fn transaction_builder(record: &ProposalRecord, calls: &[SafeCall]) -> serde_json::Value {
    serde_json::json!({
        "version": "1.0",
        "chainId": record.chain_id.to_string(),
        "createdAt": record.created_at,
        "meta": {
            "name": record.title,
            "description": format!("guardian proposal {} (Safe nonce {})", record.id, record.nonce),
            "txBuilderVersion": "1.18.0",
            "createdFromSafeAddress": record.safe.to_checksum(None),
            "createdFromOwnerAddress": "",
        },
        "transactions": calls.iter().map(|c| serde_json::json!({
            "to": c.to.to_checksum(None),
            "value": c.value.to_string(),
            "data": c.data,
            "contractMethod": null,
            "contractInputsValues": null,
        })).collect::<Vec<_>>(),
    })
}

/// The owner's confirmation as the Safe reads it, from a recorded one.
pub fn confirmation_of(c: &ConfirmationRecord) -> Confirmation {
    match &c.signature {
        Some(signature) => Confirmation::Signature {
            signature: signature.clone(),
        },
        None => Confirmation::ApprovedHash,
    }
}

/// A hash, for messages.
pub fn short(hash: B256) -> String {
    let s = hash.to_string();
    format!("{}…{}", &s[..10], &s[s.len() - 8..])
}

/// Calldata as a `SafeCall` of `label` to `to`.
pub fn call(label: impl Into<String>, to: Address, data: impl Into<Bytes>) -> SafeCall {
    SafeCall {
        label: label.into(),
        to,
        value: alloy::primitives::U256::ZERO,
        data: data.into(),
    }
}
