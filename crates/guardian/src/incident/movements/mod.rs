//! Where an incident's funds went: every transfer out of its contracts in the attack
//! transactions (the exploit's and its alerts') and in its own rescue withdrawals, with the
//! attacker's addresses and the address that first funded each. Read from the transactions'
//! call traces where the node serves them, else from their logs and the contracts' balances.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    eips::BlockId,
    primitives::{Address, TxHash, U256, keccak256},
    providers::Provider,
    rpc::types::Log,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Entry, Incident, IncidentError, report::Exploit, warroom};
use crate::{
    chain::ChainClient,
    deployment::Deployment,
    funds::{metadata, show_amount},
};

/// The timeline entry's kind under which a read of the movements is recorded as evidence.
pub const KIND: &str = "movements";

/// The most blocks scanned, first to last, for an address's first funding when the node has no
/// Otterscan search: a devnet's, not a public chain's.
pub const SCAN_LIMIT: u64 = 10_000;

/// Transactions asked of the Otterscan search per address.
const SEARCH_PAGE: u64 = 25;

/// Where the movements were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The transactions' call traces (`debug_traceTransaction`, `callTracer`) and their receipts'
    /// ERC-20 `Transfer` logs: every native transfer with its recipient.
    #[serde(rename = "traces")]
    Traces,
    /// The receipts' ERC-20 `Transfer` logs, and each contract's native balance in the block
    /// before and the block of each transaction: the native recipient is not known.
    #[serde(rename = "logs and balances")]
    LogsAndBalances,
}

impl Source {
    /// The printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::LogsAndBalances => "logs and balances",
        }
    }
}

/// What became of the funds of one movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recovery {
    /// Sent to one of the attacker's addresses in an attack transaction.
    #[serde(rename = "with the attacker")]
    WithTheAttacker,
    /// Moved by one of the incident's own withdrawals (to a safe recipient).
    #[serde(rename = "rescued")]
    Rescued,
    /// Sent in an attack transaction to an address not known as the attacker's.
    #[serde(rename = "elsewhere")]
    Elsewhere,
    /// Left the contract in an attack transaction's block, read from balances: the recipient is
    /// not known.
    #[serde(rename = "recipient unknown")]
    RecipientUnknown,
}

impl Recovery {
    /// The printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WithTheAttacker => "with the attacker",
            Self::Rescued => "rescued",
            Self::Elsewhere => "elsewhere",
            Self::RecipientUnknown => "recipient unknown",
        }
    }
}

/// The asset moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// The token, or `null` for the native coin.
    pub token: Option<Address>,
    /// Its symbol.
    pub symbol: String,
    /// Its decimals.
    pub decimals: u8,
}

/// One movement of funds out of one of the incident's contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// Chain name.
    pub chain: String,
    /// The contract's manifest name.
    pub contract: String,
    /// The contract's address.
    pub from: Address,
    /// The transaction that moved it.
    pub transaction: TxHash,
    /// Its block.
    pub block: u64,
    /// What moved.
    pub asset: Asset,
    /// How much, base units as a decimal string.
    pub amount: String,
    /// How much, for people (`1.5 ETH`).
    pub shown: String,
    /// Where it went (`null`: read from balances, the recipient is not known).
    pub to: Option<Address>,
    /// What became of it.
    pub recovery: Recovery,
}

/// One of the attacker's addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attacker {
    /// Chain name.
    pub chain: String,
    /// The address.
    pub address: Address,
    /// `sender` (sent an attack transaction) or `contract` (called or created by a sender and
    /// received the incident's funds).
    pub role: String,
    /// The address that first sent it value, when the node can tell.
    pub funded_by: Option<Address>,
    /// That first funding transaction.
    pub funding_tx: Option<TxHash>,
    /// What is known of its funding, in words: `funded at genesis`, `first funded by 0x… in
    /// 0x…`, `no transaction sending it value found`, `not available from this node`.
    pub funding: String,
}

/// Where an incident's funds went, and who took them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movements {
    /// The incident's id.
    pub incident: i64,
    /// Where the movements were read from (`logs and balances` if any chain lacked traces).
    pub source: Source,
    /// The attack transactions: the exploit's and its alerts'.
    pub attack_transactions: Vec<TxHash>,
    /// The incident's mined rescue (withdrawal) transactions.
    pub rescue_transactions: Vec<TxHash>,
    /// Every movement out of the incident's contracts in them, in block order.
    pub movements: Vec<Movement>,
    /// The attacker's addresses.
    pub attackers: Vec<Attacker>,
    /// When read from the incident's timeline (the chain no longer answering), when that read
    /// was recorded, Unix milliseconds; `null` when read from the chain now.
    pub recorded_at: Option<i64>,
}

/// A value transfer seen in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The token, or `None` for the native coin.
    pub token: Option<Address>,
    /// Who sent it.
    pub from: Address,
    /// Who received it (`None`: seen only as a balance going down).
    pub to: Option<Address>,
    /// How much, base units.
    pub amount: U256,
}

/// What one transaction moved, as read from the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFlows {
    /// Chain name.
    pub chain: String,
    /// Its hash.
    pub hash: TxHash,
    /// Its block.
    pub block: u64,
    /// Who sent it.
    pub sender: Address,
    /// The contract it called (`None`: a creation).
    pub called: Option<Address>,
    /// One of the incident's own withdrawals (else an attack transaction).
    pub rescue: bool,
    /// The transfers in it.
    pub transfers: Vec<Transfer>,
}

mod chain;
mod flows;

use chain::read_chains;
pub use flows::{attackers_of, first_funding, rows, token_transfers, transfers_in_trace};

/// The movements as last recorded in the incident's timeline (an entry of kind [`KIND`]).
pub fn recorded(timeline: &[Entry]) -> Option<Movements> {
    timeline
        .iter()
        .rev()
        .find(|e| e.kind == KIND)
        .and_then(|e| {
            let mut m: Movements = serde_json::from_value(e.details.clone()).ok()?;
            m.recorded_at = Some(e.at);
            Some(m)
        })
}

/// Reads where `incident`'s funds went from its chains now; when a chain cannot be read (a
/// drill's chains are gone once it ends), the movements last recorded in its timeline.
pub async fn read(
    deployment: &Deployment,
    incident: &Incident,
) -> Result<Movements, IncidentError> {
    let (timeline, _) = deployment.store.timeline(incident.id)?;
    match read_chains(deployment, incident, &timeline).await {
        Ok(m) => Ok(m),
        Err(e) => recorded(&timeline).ok_or(e),
    }
}

/// The transactions to read: (chain id, hash, rescue). The incident's mined withdrawals, and
/// the withdrawals a Safe executed under it, are its rescues; the exploit's transaction and its alerts' are the attack, except guardian's own (any
/// transaction of the journal: a rescue or a return of funds can raise an alert too).
fn transactions(
    deployment: &Deployment,
    incident: &Incident,
    timeline: &[Entry],
) -> Result<Vec<(u64, TxHash, bool)>, IncidentError> {
    let mut ours = BTreeSet::new();
    let mut rescues = Vec::new();
    for action in deployment.store.actions()? {
        let rescue = action.kind == "withdraw" && incident.actions.contains(&action.id);
        for tx in deployment.store.transactions(action.id)? {
            ours.insert((tx.chain_id, tx.tx_hash));
            if rescue && tx.block_number.is_some() {
                rescues.push((tx.chain_id, tx.tx_hash, true));
            }
        }
    }
    let mut txs: Vec<(u64, TxHash, bool)> = Vec::new();
    let mut attack = |chain_id: u64, hash: TxHash| {
        if !ours.contains(&(chain_id, hash))
            && !txs.iter().any(|(c, h, _)| *c == chain_id && *h == hash)
        {
            txs.push((chain_id, hash, false));
        }
    };
    if let Some(exploit) = timeline
        .iter()
        .rev()
        .find(|e| e.kind == "exploit")
        .and_then(|e| serde_json::from_value::<Exploit>(e.details.clone()).ok())
        && let Some(tx) = exploit.tx
    {
        attack(exploit.chain_id, tx);
    }
    for id in &incident.alerts {
        if let Some(alert) = deployment.store.alert(*id)? {
            for tx in &alert.found.tx_hashes {
                attack(alert.found.chain_id, *tx);
            }
        }
    }
    // Withdrawals a Safe executed: the execution's transaction, on the proposal's chain.
    for executed in timeline
        .iter()
        .filter(|e| super::recovery::executed_proposal_of(e, timeline, "withdraw "))
    {
        let chain_id = timeline
            .iter()
            .find(|p| {
                p.kind == "safe"
                    && p.details["event"] == "proposed"
                    && p.details["proposal"] == executed.details["proposal"]
            })
            .and_then(|p| p.details["chain"].as_str())
            .and_then(|name| deployment.manifest.chains.get(name))
            .map(|c| c.chain_id);
        let tx = executed.details["tx"].as_str().and_then(|t| t.parse().ok());
        if let (Some(chain_id), Some(tx)) = (chain_id, tx)
            && !rescues.iter().any(|(c, h, _)| *c == chain_id && *h == tx)
        {
            rescues.push((chain_id, tx, true));
        }
    }
    txs.retain(|(c, h, _)| !rescues.iter().any(|(rc, rh, _)| rc == c && rh == h));
    txs.extend(rescues);
    Ok(txs)
}

#[cfg(test)]
mod tests;
