//! What the monitor last read of each contract: paused or not (from its `Paused`/`Unpaused`
//! events, and read once when a follower starts) and its balances with what it owes, each at
//! the block it was read. The team's pages show them without asking a chain.

use alloy::primitives::Address;
use serde::Serialize;

use super::{
    StorageError, Store, now_ms,
    sql::{Conn, SqlResult, params},
};

/// Migration 20: the contracts' state as the monitor last read it.
pub(super) const MIGRATION: &str = "
CREATE TABLE monitor_contracts (
    chain_id   INTEGER NOT NULL,
    address    TEXT    NOT NULL,
    paused     INTEGER,
    paused_at  INTEGER,
    balances   TEXT,
    block      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (chain_id, address)
);
";

/// Migration 21: each chain's head as the monitor last read it (the overview's lag).
pub(super) const MIGRATION_HEADS: &str = "
CREATE TABLE monitor_heads (
    chain_id   INTEGER PRIMARY KEY,
    head       INTEGER NOT NULL,
    read_at    INTEGER NOT NULL
);
";

/// A contract's state as the monitor last read it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = MonitoredContract)]
pub struct ContractState {
    /// Its chain.
    pub chain_id: u64,
    /// The contract.
    #[schema(value_type = String)]
    pub address: Address,
    /// Paused, when read.
    pub paused: Option<bool>,
    /// The block its paused state was read at.
    pub paused_at: Option<u64>,
    /// Its balances (JSON: token, amount, owed), when read.
    pub balances: Option<serde_json::Value>,
    /// The last block anything of it was read at.
    pub block: u64,
    /// When (Unix ms).
    pub updated_at: i64,
}

/// What a processed block changed of what the pages show, written in the block's own
/// transaction (`Store::commit_block_noting`): one commit a block, not one per change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockNotes {
    /// The chain's head as read before the block was processed.
    pub head: Option<u64>,
    /// Each `Paused`/`Unpaused` event's contract and the state it set, in order.
    pub paused: Vec<(Address, bool)>,
    /// Each fund holder whose balances changed, with them now.
    pub balances: Vec<(Address, serde_json::Value)>,
}

/// Writes `notes` of block `block` of `chain_id` in transaction `tx`.
pub(super) fn write_notes(
    tx: &Conn<'_>,
    chain_id: u64,
    block: u64,
    notes: &BlockNotes,
) -> SqlResult<()> {
    if let Some(head) = notes.head {
        head_row(tx, chain_id, head)?;
    }
    for (address, paused) in &notes.paused {
        paused_row(tx, chain_id, *address, *paused, block)?;
    }
    for (address, balances) in &notes.balances {
        balances_row(tx, chain_id, *address, balances, block)?;
    }
    Ok(())
}

fn paused_row(
    tx: &Conn<'_>,
    chain_id: u64,
    address: Address,
    paused: bool,
    block: u64,
) -> SqlResult<()> {
    tx.execute(
        "INSERT INTO monitor_contracts (chain_id, address, paused, paused_at, block, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)
         ON CONFLICT (chain_id, address) DO UPDATE SET paused = excluded.paused,
           paused_at = excluded.paused_at, block = excluded.block, updated_at = excluded.updated_at",
        params![chain_id as i64, address.to_string(), i64::from(paused), block as i64, now_ms()],
    )?;
    Ok(())
}

fn balances_row(
    tx: &Conn<'_>,
    chain_id: u64,
    address: Address,
    balances: &serde_json::Value,
    block: u64,
) -> SqlResult<()> {
    tx.execute(
        "INSERT INTO monitor_contracts (chain_id, address, balances, block, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (chain_id, address) DO UPDATE SET balances = excluded.balances,
           block = excluded.block, updated_at = excluded.updated_at",
        params![
            chain_id as i64,
            address.to_string(),
            balances.to_string(),
            block as i64,
            now_ms()
        ],
    )?;
    Ok(())
}

fn head_row(tx: &Conn<'_>, chain_id: u64, head: u64) -> SqlResult<()> {
    tx.execute(
        "INSERT INTO monitor_heads (chain_id, head, read_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (chain_id) DO UPDATE SET head = excluded.head, read_at = excluded.read_at",
        params![chain_id as i64, head as i64, now_ms()],
    )?;
    Ok(())
}

impl Store {
    /// Records that `address` on `chain_id` is paused (or not) as of `block`.
    pub fn note_paused(
        &self,
        chain_id: u64,
        address: Address,
        paused: bool,
        block: u64,
    ) -> Result<(), StorageError> {
        self.write(|tx| paused_row(tx, chain_id, address, paused, block))?;
        Ok(())
    }

    /// Records `address`'s balances on `chain_id` as of `block`.
    pub fn note_balances(
        &self,
        chain_id: u64,
        address: Address,
        balances: &serde_json::Value,
        block: u64,
    ) -> Result<(), StorageError> {
        self.write(|tx| balances_row(tx, chain_id, address, balances, block))?;
        Ok(())
    }

    /// Records that `chain_id`'s head was `head` when the monitor last asked.
    pub fn note_head(&self, chain_id: u64, head: u64) -> Result<(), StorageError> {
        self.write(|tx| head_row(tx, chain_id, head))?;
        Ok(())
    }

    /// Each chain's head as last read: chain id, head, when (Unix ms).
    pub fn heads(&self) -> Result<Vec<(u64, u64, i64)>, StorageError> {
        self.with(|c| {
            c.query_map(
                "SELECT chain_id, head, read_at FROM monitor_heads",
                params![],
                |r| {
                    let id: i64 = r.get(0)?;
                    let head: i64 = r.get(1)?;
                    Ok((id as u64, head as u64, r.get(2)?))
                },
            )
        })
    }

    /// Every contract's state as last read.
    pub fn contract_states(&self) -> Result<Vec<ContractState>, StorageError> {
        self.with(|c| {
            c.query_map(
                "SELECT chain_id, address, paused, paused_at, balances, block, updated_at FROM monitor_contracts",
                params![],
                |r| {
                    let chain_id: i64 = r.get(0)?;
                    let address: String = r.get(1)?;
                    let paused: Option<i64> = r.get(2)?;
                    let paused_at: Option<i64> = r.get(3)?;
                    let balances: Option<String> = r.get(4)?;
                    let block: i64 = r.get(5)?;
                    Ok(ContractState {
                        chain_id: chain_id as u64,
                        address: address.parse().unwrap_or_default(),
                        paused: paused.map(|p| p != 0),
                        paused_at: paused_at.map(|b| b as u64),
                        balances: balances.and_then(|b| serde_json::from_str(&b).ok()),
                        block: block as u64,
                        updated_at: r.get(6)?,
                    })
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_read_state_of_a_contract_is_kept_on_both_backends() {
        for store in Store::each_backend() {
            let a = Address::repeat_byte(0xaa);
            store.note_paused(1, a, false, 10).expect("paused");
            store
                .note_balances(1, a, &serde_json::json!([{"amount": "5"}]), 11)
                .expect("balances");
            store.note_paused(1, a, true, 12).expect("paused again");
            let states = store.contract_states().expect("read");
            assert_eq!(states.len(), 1);
            let s = &states[0];
            assert_eq!((s.paused, s.paused_at, s.block), (Some(true), Some(12), 12));
            assert_eq!(s.balances, Some(serde_json::json!([{"amount": "5"}])));
            store.note_head(1, 20).expect("head");
            store.note_head(1, 21).expect("head again");
            let heads = store.heads().expect("heads");
            assert_eq!(
                heads.iter().map(|h| (h.0, h.1)).collect::<Vec<_>>(),
                [(1, 21)]
            );
        }
    }

    #[test]
    fn a_blocks_notes_are_written_with_it_and_not_at_all_when_it_is_refused() {
        use crate::storage::{BlockRecord, Fence};
        use alloy::primitives::B256;
        for store in Store::each_backend() {
            let a = Address::repeat_byte(0xaa);
            let notes = BlockNotes {
                head: Some(12),
                paused: vec![(a, true)],
                balances: vec![(a, serde_json::json!([{"amount": "7"}]))],
            };
            let record = |fence| BlockRecord {
                chain: "local",
                chain_id: 1,
                number: 10,
                hash: B256::repeat_byte(10),
                parent_hash: B256::repeat_byte(9),
                fence,
            };
            // Under a lease this instance does not hold: refused, and nothing of it written.
            let lost = Fence {
                chain_id: 1,
                holder: "other".into(),
                epoch: 3,
            };
            assert!(
                store
                    .commit_block_noting(&record(Some(&lost)), &[], 2, &notes)
                    .is_err()
            );
            assert!(store.contract_states().expect("read").is_empty());
            assert!(store.heads().expect("heads").is_empty());
            store
                .commit_block_noting(&record(None), &[], 2, &notes)
                .expect("commit");
            let s = &store.contract_states().expect("read")[0];
            assert_eq!((s.paused, s.paused_at, s.block), (Some(true), Some(10), 10));
            assert_eq!(s.balances, Some(serde_json::json!([{"amount": "7"}])));
            assert_eq!(store.cursor(1).expect("cursor").map(|c| c.number), Some(10));
            let heads = store.heads().expect("heads");
            assert_eq!(
                heads.iter().map(|h| (h.0, h.1)).collect::<Vec<_>>(),
                [(1, 12)]
            );
        }
    }
}
