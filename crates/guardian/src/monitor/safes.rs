//! The Safes that hold the suite's roles, watched as part of the `privileged` rule: a change of
//! owners, threshold, guard, fallback handler or modules, a module's execution, and any
//! transaction the Safe executes, critical unless a proposal guardian made explains it (the same
//! transaction executed that proposal's hash).

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    primitives::{Address, B256, TxHash},
    rpc::types::Log,
    sol_types::SolEvent,
};
use bindings::safe::Safe;
use serde_json::json;

use super::{block::BlockData, privileged::RULE};
use crate::alert::{NewAlert, Severity};

/// What one event of a Safe says.
fn describe(log: &Log) -> Option<(&'static str, String, serde_json::Value)> {
    let topic = *log.topic0()?;
    let inner = &log.inner;
    let d = if topic == Safe::AddedOwner::SIGNATURE_HASH {
        let e = Safe::AddedOwner::decode_log(inner).ok()?.data;
        (
            "AddedOwner",
            format!("owner {} added", e.owner),
            json!({"owner": e.owner}),
        )
    } else if topic == Safe::RemovedOwner::SIGNATURE_HASH {
        let e = Safe::RemovedOwner::decode_log(inner).ok()?.data;
        (
            "RemovedOwner",
            format!("owner {} removed", e.owner),
            json!({"owner": e.owner}),
        )
    } else if topic == Safe::ChangedThreshold::SIGNATURE_HASH {
        let e = Safe::ChangedThreshold::decode_log(inner).ok()?.data;
        (
            "ChangedThreshold",
            format!("threshold changed to {}", e.threshold),
            json!({"threshold": e.threshold.to_string()}),
        )
    } else if topic == Safe::ChangedGuard::SIGNATURE_HASH {
        let e = Safe::ChangedGuard::decode_log(inner).ok()?.data;
        (
            "ChangedGuard",
            format!("guard set to {}", e.guard),
            json!({"guard": e.guard}),
        )
    } else if topic == Safe::ChangedFallbackHandler::SIGNATURE_HASH {
        let e = Safe::ChangedFallbackHandler::decode_log(inner).ok()?.data;
        (
            "ChangedFallbackHandler",
            format!("fallback handler set to {}", e.handler),
            json!({"handler": e.handler}),
        )
    } else if topic == Safe::EnabledModule::SIGNATURE_HASH {
        let e = Safe::EnabledModule::decode_log(inner).ok()?.data;
        (
            "EnabledModule",
            format!("module {} enabled", e.module),
            json!({"module": e.module}),
        )
    } else if topic == Safe::DisabledModule::SIGNATURE_HASH {
        let e = Safe::DisabledModule::decode_log(inner).ok()?.data;
        (
            "DisabledModule",
            format!("module {} disabled", e.module),
            json!({"module": e.module}),
        )
    } else if topic == Safe::ExecutionFromModuleSuccess::SIGNATURE_HASH
        || topic == Safe::ExecutionFromModuleFailure::SIGNATURE_HASH
    {
        let module = Address::from_word(*log.topics().get(1)?);
        (
            "ExecutionFromModule",
            format!("transaction executed by module {module}"),
            json!({"module": module}),
        )
    } else if topic == Safe::ExecutionSuccess::SIGNATURE_HASH {
        let e = Safe::ExecutionSuccess::decode_log(inner).ok()?.data;
        (
            "ExecutionSuccess",
            format!("executed Safe transaction {}", e.txHash),
            json!({"safe_tx_hash": e.txHash}),
        )
    } else {
        return None;
    };
    Some(d)
}

/// The `safeTxHash` an `ExecutionSuccess` log names.
fn executed_hash(log: &Log) -> Option<B256> {
    (log.topic0() == Some(&Safe::ExecutionSuccess::SIGNATURE_HASH))
        .then(|| log.topics().get(1).copied())
        .flatten()
}

/// One alert per event of a watched Safe (`safes`: address → its signer's name) in `block`.
/// `proposed` gives the hashes of guardian's proposals (read only when a Safe executed
/// something): what a transaction executing one of them did is `info`, all else `critical`.
pub fn evaluate(
    block: &BlockData,
    safes: &BTreeMap<Address, String>,
    proposed: impl FnOnce() -> BTreeSet<B256>,
) -> Vec<NewAlert> {
    let ours: Vec<&Log> = block
        .logs
        .iter()
        .filter(|l| safes.contains_key(&l.address()))
        .collect();
    if ours.is_empty() {
        return Vec::new();
    }
    let known = if ours.iter().any(|l| executed_hash(l).is_some()) {
        proposed()
    } else {
        BTreeSet::new()
    };
    // Transactions that executed one of guardian's proposals: what they did was proposed.
    let explained: BTreeSet<TxHash> = ours
        .iter()
        .filter(|l| executed_hash(l).is_some_and(|h| known.contains(&h)))
        .filter_map(|l| l.transaction_hash)
        .collect();
    let mut alerts = Vec::new();
    for log in ours {
        let Some((event, what, args)) = describe(log) else {
            continue;
        };
        let tx = log.transaction_hash;
        let proposal = tx.is_some_and(|t| explained.contains(&t));
        let severity = if proposal {
            Severity::Info
        } else {
            Severity::Critical
        };
        let name = &safes[&log.address()];
        let log_index = log.log_index.unwrap_or_default();
        alerts.push(NewAlert {
            rule: RULE.into(),
            kind: RULE.into(),
            severity,
            chain: block.chain.clone(),
            chain_id: block.chain_id,
            contract: Some(name.clone()),
            address: Some(log.address()),
            block_number: block.number,
            block_hash: block.hash,
            tx_hashes: tx.into_iter().collect(),
            summary: format!(
                "Safe {name} on {}: {what}{}",
                block.chain,
                if proposal {
                    " (a proposal made through guardian)"
                } else {
                    " (not proposed through guardian)"
                }
            ),
            evidence: json!({"event": event, "safe": log.address(), "proposed": proposal,
                "log_index": log_index, "args": args}),
            dedup_key: format!("{RULE}:{}:{}:{log_index}", block.chain_id, block.hash),
        });
    }
    alerts
}

/// Whether `log` says a Safe ran code as itself: an executed transaction (success or failure)
/// or a module's execution. Only these can rewrite its storage, singleton included.
fn executed(log: &Log) -> bool {
    log.topic0().is_some_and(|t| {
        [
            Safe::ExecutionSuccess::SIGNATURE_HASH,
            Safe::ExecutionFailure::SIGNATURE_HASH,
            Safe::ExecutionFromModuleSuccess::SIGNATURE_HASH,
            Safe::ExecutionFromModuleFailure::SIGNATURE_HASH,
        ]
        .contains(t)
    })
}

/// A critical alert for each watched Safe whose singleton (storage slot 0, the implementation
/// its proxy runs) changed in `block`. A change emits no event, and only an execution of the
/// Safe can make one, so the slot is read before and after the blocks where a Safe executed
/// something, and nowhere else. Guardian never proposes such a change (it DELEGATECALLs only the
/// batch library), so it is never explained by a proposal.
pub async fn singleton_changes(
    client: &crate::chain::ChainClient,
    block: &BlockData,
    safes: &BTreeMap<Address, String>,
) -> Vec<NewAlert> {
    use alloy::{eips::BlockId, primitives::U256, providers::Provider};
    let ran: BTreeSet<Address> = block
        .logs
        .iter()
        .filter(|l| safes.contains_key(&l.address()) && executed(l))
        .map(Log::address)
        .collect();
    let mut alerts = Vec::new();
    for safe in ran {
        let read = |number: u64| async move {
            client
                .provider()
                .get_storage_at(safe, U256::ZERO)
                .block_id(BlockId::number(number))
                .await
                .map(|v| Address::from_word(v.into()))
        };
        let (before, after) = match (
            read(block.number.saturating_sub(1)).await,
            read(block.number).await,
        ) {
            (Ok(b), Ok(a)) => (b, a),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(chain = %block.chain, %safe, "cannot read the Safe's singleton: {e}");
                continue;
            }
        };
        if before == after {
            continue;
        }
        let name = &safes[&safe];
        let tx = block
            .logs
            .iter()
            .filter(|l| l.address() == safe && executed(l))
            .filter_map(|l| l.transaction_hash)
            .collect();
        alerts.push(NewAlert {
            rule: RULE.into(),
            kind: RULE.into(),
            severity: Severity::Critical,
            chain: block.chain.clone(),
            chain_id: block.chain_id,
            contract: Some(name.clone()),
            address: Some(safe),
            block_number: block.number,
            block_hash: block.hash,
            tx_hashes: tx,
            summary: format!(
                "Safe {name} on {}: its singleton changed from {before} to {after} (the code that holds the roles is replaced)",
                block.chain
            ),
            evidence: json!({"event": "SingletonChanged", "safe": safe, "before": before,
                "after": after}),
            dedup_key: format!("{RULE}:{}:{}:singleton:{safe}", block.chain_id, block.hash),
        });
    }
    alerts
}
