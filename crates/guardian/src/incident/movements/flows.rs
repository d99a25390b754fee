//! The pure part: transfers out of a trace or a receipt's logs, the rows, the attacker's
//! addresses and the first funding, with no chain access.

use super::*;

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
