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

/// The native transfers in a `callTracer` frame and the frames under it. A frame that failed
/// (reverted) moved nothing, nor did the frames under it; a delegate or static call moves no
/// value of its own.
pub fn transfers_in_trace(frame: &Value) -> Vec<Transfer> {
    let mut out = Vec::new();
    walk(frame, &mut out);
    out
}

fn walk(frame: &Value, out: &mut Vec<Transfer>) {
    if frame.get("error").is_some_and(|e| !e.is_null()) {
        return;
    }
    let kind = frame["type"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let moves_value = !matches!(kind.as_str(), "DELEGATECALL" | "STATICCALL" | "CALLCODE");
    let value = frame["value"]
        .as_str()
        .and_then(|v| v.parse::<U256>().ok())
        .unwrap_or_default();
    let address = |k: &str| frame[k].as_str().and_then(|a| a.parse::<Address>().ok());
    if moves_value
        && !value.is_zero()
        && let Some(from) = address("from")
    {
        out.push(Transfer {
            token: None,
            from,
            to: address("to"),
            amount: value,
        });
    }
    for call in frame["calls"].as_array().into_iter().flatten() {
        walk(call, out);
    }
}

/// The ERC-20 `Transfer` events among `logs` (three topics and a 32-byte amount; an ERC-721
/// `Transfer`, with four topics, is not a fungible amount).
pub fn token_transfers(logs: &[Log]) -> Vec<Transfer> {
    let topic = keccak256("Transfer(address,address,uint256)");
    logs.iter()
        .filter_map(|log| {
            let topics = log.topics();
            let data = &log.data().data;
            if topics.len() != 3 || topics[0] != topic || data.len() != 32 {
                return None;
            }
            Some(Transfer {
                token: Some(log.address()),
                from: Address::from_word(topics[1]),
                to: Some(Address::from_word(topics[2])),
                amount: U256::from_be_slice(data),
            })
        })
        .collect()
}

/// The attacker's addresses on each chain: the senders of the attack transactions, and the
/// addresses that received funds from the incident's `contracts` in them when a sender sent,
/// called or (per `created_by`) created them. A sender's address comes first.
pub fn attackers_of(
    flows: &[TxFlows],
    contracts: &BTreeMap<(String, Address), String>,
    created_by: &BTreeMap<(String, Address), Address>,
) -> Vec<(String, Address, &'static str)> {
    let mut senders = BTreeSet::new();
    let mut takers = BTreeSet::new();
    for f in flows.iter().filter(|f| !f.rescue) {
        senders.insert((f.chain.clone(), f.sender));
        for t in &f.transfers {
            let Some(to) = t.to else { continue };
            let key = (f.chain.clone(), to);
            if !contracts.contains_key(&(f.chain.clone(), t.from)) || contracts.contains_key(&key) {
                continue;
            }
            if to == f.sender || Some(to) == f.called || created_by.get(&key) == Some(&f.sender) {
                takers.insert(key);
            }
        }
    }
    let mut out: Vec<_> = senders
        .iter()
        .map(|(c, a)| (c.clone(), *a, "sender"))
        .collect();
    out.extend(
        takers
            .into_iter()
            .filter(|k| !senders.contains(k))
            .map(|(c, a)| (c, a, "contract")),
    );
    out
}

/// The movements out of the incident's `contracts` in `flows`, in their order, each with what
/// became of it: rescued by the incident's withdrawals, with the attacker when it went to one of
/// `attackers`. `assets` names the tokens (the native coin is `ETH`, 18 decimals, unless named).
pub fn rows(
    flows: &[TxFlows],
    contracts: &BTreeMap<(String, Address), String>,
    attackers: &BTreeSet<(String, Address)>,
    assets: &BTreeMap<(String, Option<Address>), (String, u8)>,
) -> Vec<Movement> {
    let mut out = Vec::new();
    for f in flows {
        for t in &f.transfers {
            let Some(contract) = contracts.get(&(f.chain.clone(), t.from)) else {
                continue;
            };
            let (symbol, decimals) = assets
                .get(&(f.chain.clone(), t.token))
                .cloned()
                .unwrap_or_else(|| match t.token {
                    None => (crate::funds::NATIVE_SYMBOL.to_string(), 18),
                    Some(token) => (token.to_string(), 0),
                });
            let recovery = match t.to {
                _ if f.rescue => Recovery::Rescued,
                None => Recovery::RecipientUnknown,
                Some(to) if attackers.contains(&(f.chain.clone(), to)) => Recovery::WithTheAttacker,
                Some(_) => Recovery::Elsewhere,
            };
            out.push(Movement {
                chain: f.chain.clone(),
                contract: contract.clone(),
                from: t.from,
                transaction: f.hash,
                block: f.block,
                shown: show_amount(t.amount, decimals, &symbol),
                asset: Asset {
                    token: t.token,
                    symbol,
                    decimals,
                },
                amount: t.amount.to_string(),
                to: t.to,
                recovery,
            });
        }
    }
    out
}

/// The first transaction in `txs` (JSON transactions, as `eth_getBlockByNumber` and the
/// Otterscan search give them) that sends value to `address`: its sender and hash.
pub fn first_funding(txs: &[Value], address: Address) -> Option<(Address, TxHash)> {
    let num = |v: &Value| {
        v.as_str()
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    };
    txs.iter()
        .filter(|t| t["to"].as_str().and_then(|a| a.parse::<Address>().ok()) == Some(address))
        .filter(|t| {
            t["value"]
                .as_str()
                .and_then(|v| v.parse::<U256>().ok())
                .is_some_and(|v| !v.is_zero())
        })
        .min_by_key(|t| (num(&t["blockNumber"]), num(&t["transactionIndex"])))
        .and_then(|t| {
            Some((
                t["from"].as_str()?.parse().ok()?,
                t["hash"].as_str()?.parse().ok()?,
            ))
        })
}

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

async fn read_chains(
    deployment: &Deployment,
    incident: &Incident,
    timeline: &[Entry],
) -> Result<Movements, IncidentError> {
    let txs = transactions(deployment, incident, timeline)?;
    let scope = warroom::scope(&deployment.manifest, incident);
    let contracts: BTreeMap<(String, Address), String> = scope
        .iter()
        .map(|c| ((c.chain().to_string(), c.address), c.name().to_string()))
        .collect();
    let mut flows = Vec::new();
    let mut source = Source::Traces;
    let mut clients: BTreeMap<String, &ChainClient> = BTreeMap::new();
    for (name, chain) in &deployment.manifest.chains {
        let mine: Vec<_> = txs
            .iter()
            .filter(|(id, _, _)| *id == chain.chain_id)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let client = deployment
            .clients
            .get(name)
            .ok_or_else(|| IncidentError::Unreachable {
                chain: name.clone(),
            })?;
        clients.insert(name.clone(), client);
        let holders: Vec<Address> = scope
            .iter()
            .filter(|c| c.chain() == name && c.kind.holds_funds())
            .map(|c| c.address)
            .collect();
        let (chain_flows, traced) = read_chain(client, &mine, &holders).await?;
        if !traced {
            source = Source::LogsAndBalances;
        }
        flows.extend(chain_flows);
    }
    flows.sort_by_key(|f| f.block);

    // Who created the recipients the senders neither sent nor called, where the node says.
    let mut created_by = BTreeMap::new();
    for f in flows.iter().filter(|f| !f.rescue) {
        for t in &f.transfers {
            let Some(to) = t.to else { continue };
            let key = (f.chain.clone(), to);
            if to == f.sender
                || Some(to) == f.called
                || created_by.contains_key(&key)
                || !contracts.contains_key(&(f.chain.clone(), t.from))
            {
                continue;
            }
            if let Some(creator) = creator(clients[&f.chain], to).await {
                created_by.insert(key, creator);
            }
        }
    }
    let found = attackers_of(&flows, &contracts, &created_by);
    let attacker_set: BTreeSet<_> = found.iter().map(|(c, a, _)| (c.clone(), *a)).collect();

    let mut assets = BTreeMap::new();
    for f in &flows {
        for t in &f.transfers {
            let key = (f.chain.clone(), t.token);
            if t.token.is_some() && !assets.contains_key(&key) {
                assets.insert(key, metadata(clients[&f.chain], t.token).await);
            }
        }
    }
    let movements = rows(&flows, &contracts, &attacker_set, &assets);

    let mut attackers = Vec::new();
    for (chain, address, role) in found {
        let (funded_by, funding_tx, funding) = funding(clients[&chain], address).await;
        attackers.push(Attacker {
            chain,
            address,
            role: role.to_string(),
            funded_by,
            funding_tx,
            funding,
        });
    }
    Ok(Movements {
        incident: incident.id,
        source,
        attack_transactions: txs.iter().filter(|t| !t.2).map(|t| t.1).collect(),
        rescue_transactions: txs.iter().filter(|t| t.2).map(|t| t.1).collect(),
        movements,
        attackers,
        recorded_at: None,
    })
}

/// The flows of `txs` on one chain, and whether they came from traces (else from logs and the
/// `holders`' balances, when the node serves no trace of one of them).
async fn read_chain(
    client: &ChainClient,
    txs: &[&(u64, TxHash, bool)],
    holders: &[Address],
) -> Result<(Vec<TxFlows>, bool), IncidentError> {
    let provider = client.provider();
    let mut flows = Vec::new();
    let mut traces = Vec::new();
    for (_, hash, rescue) in txs {
        let receipt = provider
            .get_transaction_receipt(*hash)
            .await
            .map_err(|e| client.rpc_err(e))?
            .ok_or_else(|| {
                IncidentError::invalid(
                    "tx",
                    format!("chain `{}` has no receipt of {hash}", client.name),
                )
            })?;
        let transfers = if receipt.status() {
            token_transfers(receipt.inner.logs())
        } else {
            Vec::new()
        };
        traces.push(
            provider
                .raw_request::<_, Value>(
                    "debug_traceTransaction".into(),
                    (*hash, json!({"tracer": "callTracer"})),
                )
                .await
                .ok(),
        );
        flows.push(TxFlows {
            chain: client.name.clone(),
            hash: *hash,
            block: receipt.block_number.unwrap_or_default(),
            sender: receipt.from,
            called: receipt.to,
            rescue: *rescue,
            transfers,
        });
    }
    let traced = traces.iter().all(Option::is_some);
    if traced {
        for (f, trace) in flows.iter_mut().zip(traces.iter().flatten()) {
            let mut native = transfers_in_trace(trace);
            native.append(&mut f.transfers);
            f.transfers = native;
        }
        return Ok((flows, true));
    }
    // No traces: what each holder's native balance lost in each block, on that block's first
    // transaction read.
    let mut seen = BTreeSet::new();
    for f in flows.iter_mut() {
        if !seen.insert(f.block) {
            continue;
        }
        for holder in holders {
            let at = |b: u64| provider.get_balance(*holder).block_id(BlockId::number(b));
            let before = at(f.block.saturating_sub(1))
                .await
                .map_err(|e| client.rpc_err(e))?;
            let after = at(f.block).await.map_err(|e| client.rpc_err(e))?;
            if before > after {
                f.transfers.push(Transfer {
                    token: None,
                    from: *holder,
                    to: None,
                    amount: before - after,
                });
            }
        }
    }
    Ok((flows, false))
}

/// Who created contract `address`, where the node serves Otterscan's `ots_getContractCreator`.
async fn creator(client: &ChainClient, address: Address) -> Option<Address> {
    let found: Value = client
        .provider()
        .raw_request("ots_getContractCreator".into(), (address,))
        .await
        .ok()?;
    found["creator"].as_str()?.parse().ok()
}

/// What is known of `address`'s first funding: held value at genesis; else the first
/// transaction sending it value, from Otterscan's search or, on a chain of at most
/// [`SCAN_LIMIT`] blocks, a scan of every block; else not available from this node.
async fn funding(
    client: &ChainClient,
    address: Address,
) -> (Option<Address>, Option<TxHash>, String) {
    let provider = client.provider();
    let found = |(from, tx): (Address, TxHash)| {
        (
            Some(from),
            Some(tx),
            format!("first funded by {from} in {tx}"),
        )
    };
    if provider
        .get_balance(address)
        .block_id(BlockId::number(0))
        .await
        .is_ok_and(|b| !b.is_zero())
    {
        return (None, None, "funded at genesis".to_string());
    }
    let searched: Result<Value, _> = provider
        .raw_request(
            "ots_searchTransactionsAfter".into(),
            (address, 0u64, SEARCH_PAGE),
        )
        .await;
    if let Ok(page) = searched {
        let txs = page["txs"].as_array().cloned().unwrap_or_default();
        if let Some(first) = first_funding(&txs, address) {
            return found(first);
        }
        // A full page without one: the funding may be further on; the scan below can tell.
        if txs.len() < SEARCH_PAGE as usize {
            return (
                None,
                None,
                "no transaction sending it value found".to_string(),
            );
        }
    }
    let Ok(head) = provider.get_block_number().await else {
        return (None, None, "not available from this node".to_string());
    };
    if head > SCAN_LIMIT {
        return (None, None, "not available from this node".to_string());
    }
    for n in 0..=head {
        let block: Result<Value, _> = provider
            .raw_request("eth_getBlockByNumber".into(), (format!("{n:#x}"), true))
            .await;
        let Ok(block) = block else {
            return (None, None, "not available from this node".to_string());
        };
        let txs = block["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(first) = first_funding(&txs, address) {
            return found(first);
        }
    }
    (
        None,
        None,
        "no transaction sending it value found".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{B256, Bytes, LogData, address, b256};

    const ESCROW: Address = address!("0x00000000000000000000000000000000000000e5");
    const ATTACKER: Address = address!("0x00000000000000000000000000000000000000a1");
    const DRAINER: Address = address!("0x00000000000000000000000000000000000000d1");
    const SAFE: Address = address!("0x00000000000000000000000000000000000000fe");
    const PAYEE: Address = address!("0x00000000000000000000000000000000000000b0");
    const TOKEN: Address = address!("0x00000000000000000000000000000000000000c0");
    const EXPLOIT: TxHash =
        b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
    const RESCUE: TxHash =
        b256!("0x2222222222222222222222222222222222222222222222222222222222222222");

    fn eth(n: u64) -> U256 {
        U256::from(n) * U256::from(10u64).pow(U256::from(18))
    }

    fn hex(v: U256) -> String {
        format!("{v:#x}")
    }

    /// The drill's exploit, as anvil's `callTracer` gives it: the attacker calls its drainer
    /// with 1 ETH, the drainer deposits it and releases it three times; a fourth release
    /// reverted inside a failed sub-call and moved nothing.
    fn drill_trace() -> Value {
        let call = |from: Address, to: Address, value: U256| json!({"type": "CALL", "from": from, "to": to, "value": hex(value)});
        let release = || {
            json!({"type": "CALL", "from": DRAINER, "to": ESCROW, "value": "0x0",
                   "calls": [call(ESCROW, DRAINER, eth(1))]})
        };
        let mut failed = release();
        failed["error"] = json!("execution reverted");
        json!({
            "type": "CALL", "from": ATTACKER, "to": DRAINER, "value": hex(eth(1)),
            "calls": [
                call(DRAINER, ESCROW, eth(1)),
                release(), release(), release(),
                {"type": "CALL", "from": DRAINER, "to": ESCROW, "value": "0x0", "calls": [failed]},
                {"type": "DELEGATECALL", "from": ESCROW, "to": PAYEE, "value": hex(eth(1))},
            ]
        })
    }

    fn contracts() -> BTreeMap<(String, Address), String> {
        BTreeMap::from([(("devnet".to_string(), ESCROW), "escrow".to_string())])
    }

    fn flows(trace: &Value) -> Vec<TxFlows> {
        vec![
            TxFlows {
                chain: "devnet".into(),
                hash: EXPLOIT,
                block: 40,
                sender: ATTACKER,
                called: Some(DRAINER),
                rescue: false,
                transfers: transfers_in_trace(trace),
            },
            TxFlows {
                chain: "devnet".into(),
                hash: RESCUE,
                block: 43,
                sender: PAYEE,
                called: Some(ESCROW),
                rescue: true,
                transfers: vec![Transfer {
                    token: None,
                    from: ESCROW,
                    to: Some(SAFE),
                    amount: eth(17),
                }],
            },
        ]
    }

    #[test]
    fn a_trace_gives_each_value_transfer_but_none_of_a_reverted_or_delegate_call() {
        let t = transfers_in_trace(&drill_trace());
        let out: Vec<_> = t.iter().filter(|t| t.from == ESCROW).collect();
        assert_eq!(out.len(), 3, "{t:?}");
        assert!(
            out.iter()
                .all(|t| t.to == Some(DRAINER) && t.amount == eth(1))
        );
        // The attacker's deposit and the drainer's into the escrow are there too.
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn the_drill_s_take_is_with_the_attacker_and_the_withdrawal_is_rescued() {
        let flows = flows(&drill_trace());
        let found = attackers_of(&flows, &contracts(), &BTreeMap::new());
        assert_eq!(
            found,
            vec![
                ("devnet".to_string(), ATTACKER, "sender"),
                ("devnet".to_string(), DRAINER, "contract")
            ]
        );
        let set = found.iter().map(|(c, a, _)| (c.clone(), *a)).collect();
        let rows = rows(&flows, &contracts(), &set, &BTreeMap::new());
        // Only what left the escrow: three releases to the drainer, then the rescue.
        assert_eq!(rows.len(), 4, "{rows:#?}");
        for r in &rows[..3] {
            assert_eq!(
                (r.to, r.recovery, r.transaction),
                (Some(DRAINER), Recovery::WithTheAttacker, EXPLOIT)
            );
            assert_eq!(
                (r.amount.as_str(), r.shown.as_str()),
                ("1000000000000000000", "1.0 ETH")
            );
            assert_eq!(r.contract, "escrow");
        }
        assert_eq!(
            (rows[3].to, rows[3].recovery, rows[3].shown.as_str()),
            (Some(SAFE), Recovery::Rescued, "17.0 ETH")
        );
    }

    #[test]
    fn a_recipient_no_sender_called_or_created_is_elsewhere_and_a_balance_drop_has_none() {
        let mut f = flows(&drill_trace());
        f[0].transfers = vec![
            Transfer {
                token: None,
                from: ESCROW,
                to: Some(PAYEE),
                amount: eth(2),
            },
            Transfer {
                token: None,
                from: ESCROW,
                to: None,
                amount: eth(3),
            },
        ];
        let found = attackers_of(&f, &contracts(), &BTreeMap::new());
        assert_eq!(found, vec![("devnet".to_string(), ATTACKER, "sender")]);
        let set = found.iter().map(|(c, a, _)| (c.clone(), *a)).collect();
        let rows = rows(&f, &contracts(), &set, &BTreeMap::new());
        assert_eq!(rows[0].recovery, Recovery::Elsewhere);
        assert_eq!(rows[1].recovery, Recovery::RecipientUnknown);
        // A contract the attacker created is theirs, though it was neither called nor the sender.
        let created = BTreeMap::from([(("devnet".to_string(), PAYEE), ATTACKER)]);
        assert_eq!(attackers_of(&f, &contracts(), &created).len(), 2);
    }

    #[test]
    fn token_transfers_come_from_erc20_logs_with_their_symbol() {
        let transfer = keccak256("Transfer(address,address,uint256)");
        let log = |topics: Vec<B256>| Log {
            inner: alloy::primitives::Log {
                address: TOKEN,
                data: LogData::new_unchecked(topics, Bytes::from(eth(5).to_be_bytes::<32>())),
            },
            ..Default::default()
        };
        let logs = [
            log(vec![transfer, ESCROW.into_word(), DRAINER.into_word()]),
            // An ERC-721 transfer: the token id is a topic, not an amount.
            log(vec![
                transfer,
                ESCROW.into_word(),
                DRAINER.into_word(),
                B256::ZERO,
            ]),
        ];
        let mut f = flows(&drill_trace());
        f[0].transfers = token_transfers(&logs);
        assert_eq!(f[0].transfers.len(), 1);
        let set = BTreeSet::from([("devnet".to_string(), DRAINER)]);
        let assets =
            BTreeMap::from([(("devnet".to_string(), Some(TOKEN)), ("TT".to_string(), 18))]);
        let rows = rows(&f[..1], &contracts(), &set, &assets);
        assert_eq!(rows[0].shown, "5.0 TT");
        assert_eq!(rows[0].asset.token, Some(TOKEN));
        assert_eq!(rows[0].recovery, Recovery::WithTheAttacker);
    }

    #[test]
    fn the_first_funding_is_the_earliest_value_sent_to_the_address() {
        let tx = |block: &str, idx: &str, from: Address, value: &str, hash: TxHash| {
            json!({"blockNumber": block, "transactionIndex": idx, "from": from, "to": DRAINER,
                   "value": value, "hash": hash})
        };
        let txs = [
            tx("0x9", "0x0", PAYEE, "0x1", RESCUE),
            tx("0x5", "0x1", ATTACKER, "0x1", EXPLOIT),
            tx("0x5", "0x0", SAFE, "0x0", RESCUE),
        ];
        assert_eq!(first_funding(&txs, DRAINER), Some((ATTACKER, EXPLOIT)));
        assert_eq!(first_funding(&txs, ATTACKER), None);
    }
    #[test]
    fn the_last_recorded_read_is_given_with_when_it_was_recorded() {
        let m = Movements {
            incident: 1,
            source: Source::Traces,
            attack_transactions: vec![EXPLOIT],
            rescue_transactions: vec![RESCUE],
            movements: Vec::new(),
            attackers: Vec::new(),
            recorded_at: None,
        };
        let entry = |kind: &str, at: i64, details: Value| Entry {
            id: at,
            incident_id: 1,
            at,
            actor: "drill".into(),
            kind: kind.into(),
            details,
            prev_hash: String::new(),
            hash: String::new(),
        };
        let json = serde_json::to_value(&m).expect("json");
        assert_eq!(json["source"], "traces");
        let older = Movements {
            source: Source::LogsAndBalances,
            ..m.clone()
        };
        let timeline = [
            entry(KIND, 5, serde_json::to_value(&older).expect("json")),
            entry(KIND, 7, json),
            entry("note", 9, json!({"text": "later"})),
        ];
        let found = recorded(&timeline).expect("recorded");
        assert_eq!(found.recorded_at, Some(7));
        assert_eq!(found.source, Source::Traces);
        assert_eq!(recorded(&timeline[2..]), None);
    }
}
