//! A proposal shared beyond guardian: signed at once by the Safe's proposer key (an owner's,
//! never enough alone), and, where `[safe] service_url` is set, put on the Safe Transaction
//! Service, where Safe{Wallet} shows it to the owners. Confirmations made there are read back,
//! each recovered and checked against the owners before it is kept. The service is a
//! convenience: when it cannot be reached, the proposal stands in guardian and the reason is
//! reported, never an error.

use alloy::{
    primitives::{Address, Bytes},
    signers::SignerSync,
};

use super::ResponseError;
use crate::{
    deployment::{Deployment, SafeSigner},
    safe::{self, SafeInfo, SafeTx, Service},
    storage::ProposalRecord,
};

/// The service of `chain`, if one is configured.
fn service_on(deployment: &Deployment, chain: &str) -> Option<Result<Service, String>> {
    let settings = &deployment.manifest.safe;
    let url = settings.service_url.as_ref()?.on(chain)?;
    Some(
        Service::new(url, settings.service_api_key.as_ref().map(|k| k.secret()))
            .map_err(|e| e.to_string()),
    )
}

/// Shares `record` (transaction `tx`) on the service with `sender`'s `signature`: proposed
/// when the service does not hold it yet, else a confirmation added. What happened, in words;
/// `None` without a service.
pub(super) async fn share(
    deployment: &Deployment,
    record: &ProposalRecord,
    tx: &SafeTx,
    sender: Address,
    signature: &Bytes,
) -> Option<String> {
    let service = match service_on(deployment, &record.chain)? {
        Ok(s) => s,
        Err(e) => return Some(format!("not shared with the Safe Transaction Service: {e}")),
    };
    let hash = record.safe_tx_hash;
    let done = match service.holds(hash).await {
        Ok(true) => service
            .confirm(hash, signature)
            .await
            .map(|()| "confirmation added on the Safe Transaction Service"),
        Ok(false) => service
            .propose(record.safe, tx, hash, sender, signature)
            .await
            .map(|()| "proposed on the Safe Transaction Service (Safe{Wallet} lists it)"),
        Err(e) => Err(e),
    };
    Some(match done {
        Ok(what) => what.to_string(),
        Err(e) => format!("not shared with the Safe Transaction Service: {e}"),
    })
}

/// Keeps the confirmations of `record` that its owners made on the service (each signature
/// recovered and checked against `info`'s owners; other kinds are ignored: an `approveHash` is
/// read from the chain). The owners kept, or why the service could not be read; `Ok` of
/// nothing without a service.
pub(super) async fn pull(
    deployment: &Deployment,
    record: &ProposalRecord,
    info: &SafeInfo,
) -> Result<Vec<Address>, String> {
    let Some(service) = service_on(deployment, &record.chain) else {
        return Ok(Vec::new());
    };
    let listed = service?
        .confirmations(record.safe_tx_hash)
        .await
        .map_err(|e| e.to_string())?;
    let have = deployment
        .store
        .confirmations(record.id)
        .map_err(|e| e.to_string())?;
    let mut kept = Vec::new();
    for c in listed {
        let Ok(owner) = safe::tx::recover(record.safe_tx_hash, &c.signature) else {
            continue;
        };
        if !info.owners.contains(&owner) || have.iter().any(|h| h.owner == owner) {
            continue;
        }
        deployment
            .store
            .confirm(record.id, owner, Some(&c.signature), "service")
            .map_err(|e| e.to_string())?;
        kept.push(owner);
    }
    Ok(kept)
}

/// The proposer's part in a proposal just made: its signature kept as a confirmation when it
/// owns the Safe (unless one confirmation is enough: then it never signs), and the proposal
/// shared on the service with it (an owner's or a delegate's). What happened, in words.
pub(super) async fn proposer_signs(
    deployment: &Deployment,
    safe: &SafeSigner,
    record: &ProposalRecord,
    tx: &SafeTx,
    info: &SafeInfo,
) -> Result<Vec<String>, ResponseError> {
    let Some(name) = &safe.proposer else {
        return Ok(Vec::new());
    };
    let Some(key) = deployment.signers.iter().find(|s| &s.name == name) else {
        let why = deployment
            .unloaded
            .iter()
            .find(|(n, _)| n == name)
            .map_or("it has no key".to_string(), |(_, e)| e.to_string());
        return Ok(vec![format!("the proposer `{name}` did not sign: {why}")]);
    };
    let owner = info.owners.contains(&key.address());
    if owner && info.threshold <= 1 {
        return Ok(vec![format!(
            "the proposer `{name}` did not sign, nor share it: one confirmation is enough on this Safe, and a server key never acts alone"
        )]);
    }
    let signature = key
        .key()
        .sign_hash_sync(&record.safe_tx_hash)
        .map_err(|e| {
            ResponseError::from(safe::SafeError::Unreadable(format!(
                "the proposer `{name}` cannot sign: {e}"
            )))
        })?;
    let signature = Bytes::from(signature.as_bytes().to_vec());
    let mut notes = Vec::new();
    if owner {
        deployment.store.confirm(
            record.id,
            key.address(),
            Some(&signature),
            &format!("proposer:{name}"),
        )?;
        notes.push(format!(
            "signed by the proposer `{name}` ({}): 1 of {}",
            key.address(),
            info.threshold
        ));
    }
    notes.extend(share(deployment, record, tx, key.address(), &signature).await);
    Ok(notes)
}
