//! What the follower records of each contract for the team's pages: paused or not (read once
//! when it starts, then from each `Paused`/`Unpaused` event) and the fund holders' balances with
//! what they owe (written when they change). A failure to record is logged, never an error of
//! the follower: detection does not wait on the pages.

use std::collections::BTreeMap;

use alloy::{eips::BlockId, primitives::Address, sol_types::SolEvent};
use bindings::{DocumentRegistry, interfaces::IPausable};

use super::block::BlockData;
use crate::{chain::ChainClient, config::ContractConfig, storage::Store};

/// Reads and records whether each pausable contract is paused at `block`.
pub(super) async fn read_paused(
    client: &ChainClient,
    store: &Store,
    contracts: &[ContractConfig],
    block: u64,
) {
    for c in contracts.iter().filter(|c| c.kind.is_pausable()) {
        let read = IPausable::new(c.address, client.provider())
            .paused()
            .block(BlockId::number(block))
            .call()
            .await;
        match read {
            Ok(paused) => {
                if let Err(e) = store.note_paused(client.chain_id, c.address, paused, block) {
                    tracing::warn!(contract = %c.name(), "cannot record its paused state: {e}");
                }
            }
            Err(e) => tracing::debug!(contract = %c.name(), "cannot read paused(): {e}"),
        }
    }
}

/// Records what `block` changed: each `Paused`/`Unpaused` event, and the balances of each fund
/// holder that differ from `last` (which is brought up to date).
pub(super) fn note_block(
    store: &Store,
    block: &BlockData,
    last: &mut BTreeMap<Address, serde_json::Value>,
) {
    for log in &block.logs {
        let paused = match log.topic0() {
            Some(t) if *t == DocumentRegistry::Paused::SIGNATURE_HASH => true,
            Some(t) if *t == DocumentRegistry::Unpaused::SIGNATURE_HASH => false,
            _ => continue,
        };
        if let Err(e) = store.note_paused(block.chain_id, log.address(), paused, block.number) {
            tracing::warn!("cannot record a paused state: {e}");
        }
    }
    let mut now: BTreeMap<Address, Vec<serde_json::Value>> = BTreeMap::new();
    for b in &block.balances {
        now.entry(b.address).or_default().push(serde_json::json!({
            "token": b.token, "amount": b.amount.to_string(),
            "owed": b.owed.map(|o| o.to_string()),
        }));
    }
    for (address, list) in now {
        let value = serde_json::Value::Array(list);
        if last.get(&address) == Some(&value) {
            continue;
        }
        match store.note_balances(block.chain_id, address, &value, block.number) {
            Ok(()) => {
                last.insert(address, value);
            }
            Err(e) => tracing::warn!("cannot record balances: {e}"),
        }
    }
}
