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
