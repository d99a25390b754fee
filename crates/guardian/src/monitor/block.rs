//! What one block of one chain yields to the rules: the manifest contracts' logs, the balances
//! (and escrow debts) of fund-holding contracts at that block, and the suite's transactions.

use std::collections::BTreeMap;

use alloy::{
    primitives::{Address, B256, TxHash, U256},
    rpc::types::{Log, TransactionReceipt},
};

/// One block as the rules see it.
#[derive(Debug, Clone, Default)]
pub struct BlockData {
    /// The chain's name in the manifest.
    pub chain: String,
    /// Its chain id.
    pub chain_id: u64,
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Its parent's hash (reorg detection).
    pub parent_hash: B256,
    /// Block timestamp, Unix seconds.
    pub timestamp: u64,
    /// Every log the manifest's contracts emitted in this block, in order.
    pub logs: Vec<Log>,
    /// Fund-holding contracts' holdings at the end of this block.
    pub balances: Vec<BalanceAt>,
    /// Transactions of this block sent to a manifest contract (filled only when a rule needs
    /// them: `actor-burst`, `failed-share`).
    pub transactions: Vec<SuiteTx>,
}

/// What a fund-holding contract holds of one asset at the end of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceAt {
    /// The contract's name in the manifest.
    pub contract: String,
    /// Its address.
    pub address: Address,
    /// `None` for the native coin.
    pub token: Option<Address>,
    /// The amount held, in base units.
    pub amount: U256,
    /// For an escrow: what its open payments are owed in this asset (`outstanding(token)`).
    pub owed: Option<U256>,
}

/// A transaction of the block sent to one of the manifest's contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteTx {
    /// Its hash.
    pub hash: TxHash,
    /// The sender.
    pub from: Address,
    /// The manifest contract it called.
    pub to: Address,
    /// Whether it succeeded (receipt status).
    pub success: bool,
}

impl SuiteTx {
    /// The receipt's transaction, when it was sent to one of `names`' contracts.
    pub fn of(r: &TransactionReceipt, names: &BTreeMap<Address, String>) -> Option<Self> {
        let to = r.to.filter(|to| names.contains_key(to))?;
        Some(SuiteTx {
            hash: r.transaction_hash,
            from: r.from,
            to,
            success: r.status(),
        })
    }
}
