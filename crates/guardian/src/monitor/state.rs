//! What the follower records of each contract for the team's pages: paused or not (read once
//! when it starts, then from each `Paused`/`Unpaused` event) and the fund holders' balances with
//! what they owe (written when they change, in the block's own transaction).

use std::collections::BTreeMap;

use alloy::{eips::BlockId, primitives::Address, sol_types::SolEvent};
use bindings::{DocumentRegistry, interfaces::IPausable};

use super::block::BlockData;
use crate::{
    chain::ChainClient,
    config::ContractConfig,
    storage::{BlockNotes, Store},
};

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

/// What the follower recorded last: each fund holder's balances, and the symbol and decimals
/// of each asset they hold (read once when it starts), so the pages show units.
#[derive(Debug, Default)]
pub(super) struct Recorded {
    balances: BTreeMap<Address, serde_json::Value>,
    assets: BTreeMap<Option<Address>, (String, u8)>,
}

impl Recorded {
    /// Reads the symbol and decimals of the native coin and of each token a fund holder lists.
    pub(super) async fn read_assets(&mut self, client: &ChainClient, contracts: &[ContractConfig]) {
        let tokens = contracts
            .iter()
            .filter(|c| c.kind.holds_funds())
            .flat_map(|c| c.tokens.iter().copied().map(Some));
        for token in std::iter::once(None).chain(tokens) {
            if let std::collections::btree_map::Entry::Vacant(v) = self.assets.entry(token) {
                v.insert(crate::funds::metadata(client, token).await);
            }
        }
    }
}

/// Records `chain`'s head as read now (the overview's lag); a failure is logged.
pub(super) fn note_head(store: &Store, chain: &str, chain_id: u64, head: u64) {
    if let Err(e) = store.note_head(chain_id, head) {
        tracing::warn!(chain = %chain, "cannot record the head: {e}");
    }
}

/// What `block` changed of the pages: each `Paused`/`Unpaused` event, and the balances of each
/// fund holder that differ from the last recorded; with `head`, the chain's head as read before
/// it. Written with the block (`Store::commit_block_noting`), then [`Recorded::accept`]ed.
pub(super) fn notes(block: &BlockData, recorded: &Recorded, head: Option<u64>) -> BlockNotes {
    let mut notes = BlockNotes {
        head,
        ..BlockNotes::default()
    };
    for log in &block.logs {
        let paused = match log.topic0() {
            Some(t) if *t == DocumentRegistry::Paused::SIGNATURE_HASH => true,
            Some(t) if *t == DocumentRegistry::Unpaused::SIGNATURE_HASH => false,
            _ => continue,
        };
        notes.paused.push((log.address(), paused));
    }
    let mut now: BTreeMap<Address, Vec<serde_json::Value>> = BTreeMap::new();
    for b in &block.balances {
        let mut entry = serde_json::json!({
            "token": b.token, "amount": b.amount.to_string(),
            "owed": b.owed.map(|o| o.to_string()),
        });
        if let Some((symbol, decimals)) = recorded.assets.get(&b.token) {
            entry["symbol"] = symbol.clone().into();
            entry["decimals"] = (*decimals).into();
        }
        now.entry(b.address).or_default().push(entry);
    }
    for (address, list) in now {
        let value = serde_json::Value::Array(list);
        if recorded.balances.get(&address) != Some(&value) {
            notes.balances.push((address, value));
        }
    }
    notes
}

impl Recorded {
    /// `notes` were written: their balances are the last recorded.
    pub(super) fn accept(&mut self, notes: BlockNotes) {
        self.balances.extend(notes.balances);
    }
}
