//! Affected users: every document owner, token holder and escrow payer/payee of an incident's
//! contracts, with what they had at stake at the incident's start and what they have now, read
//! from the contracts' logs since deployment and their state at both blocks.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    eips::BlockId,
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
use bindings::{DocumentRegistry, OwnershipTokenizer, PaymentEscrow};
use futures::{StreamExt, stream};
use serde::Serialize;

use super::{
    Entry, Incident,
    party_status::{self, PartyStatus},
    warroom,
};
use crate::{
    chain::{ChainClient, ChainError, logs::logs},
    config::{ContractConfig, ContractKind},
    deployment::Deployment,
    funds::{metadata, show_amount},
    response::contract_err,
    storage::StorageError,
};

/// How many `payments(id)` reads run at once per escrow.
const CONCURRENT_READS: usize = 16;

/// Why the affected list could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AffectedError {
    /// The incident's records could not be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A chain of an affected contract is not reachable: the list would miss its parties.
    #[error(
        "chain `{chain}` (contract `{contract}`) is unreachable: {reason}; the affected list would be incomplete, so none is given"
    )]
    Unreachable {
        /// Chain name.
        chain: String,
        /// The contract on it.
        contract: String,
        /// Why it could not be reached.
        reason: String,
    },
    /// Reading logs or state failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// What a party is to the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[schema(as = AffectedRole)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Owns documents in a `DocumentRegistry`.
    DocumentOwner,
    /// Holds tokens of an `OwnershipTokenizer`.
    TokenHolder,
    /// Deposited payments into a `PaymentEscrow` (refunded to them if the payee refunds).
    EscrowPayer,
    /// Is paid by payments in a `PaymentEscrow` (released to them by the payer).
    EscrowPayee,
}

impl Role {
    /// The printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DocumentOwner => "document-owner",
            Self::TokenHolder => "token-holder",
            Self::EscrowPayer => "escrow-payer",
            Self::EscrowPayee => "escrow-payee",
        }
    }

    /// Whether the role is a party to escrowed payments.
    pub fn is_escrow(self) -> bool {
        matches!(self, Self::EscrowPayer | Self::EscrowPayee)
    }
}

/// Where the amounts at the start block were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AmountSource)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The contract's state at the start block (an archive node, or anvil).
    State,
    /// The logs up to the start block: the node keeps no state that old. A payment settled
    /// without its event (a buggy implementation) would still show as open.
    Logs,
}

/// An amount of one asset (or a count of documents or tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Amount {
    /// Base units (or the count), as a decimal string.
    pub amount: String,
    /// The asset's symbol, or `documents` / `tokens`.
    pub symbol: String,
    /// The asset's decimals (0 for counts).
    pub decimals: u8,
}

impl Amount {
    fn new(amount: U256, symbol: &str, decimals: u8) -> Self {
        Self {
            amount: amount.to_string(),
            symbol: symbol.to_string(),
            decimals,
        }
    }

    /// The amount for people: `1.5 ETH`, `2 documents`.
    pub fn show(&self) -> String {
        let base = self.amount.parse::<U256>().unwrap_or_default();
        show_amount(base, self.decimals, &self.symbol)
    }
}

/// One affected party of one contract in one role.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AffectedParty {
    /// Their address.
    #[schema(value_type = String)]
    pub address: Address,
    /// Chain name.
    pub chain: String,
    /// Contract name.
    pub contract: String,
    /// What they are to the contract.
    pub role: Role,
    /// The documents (integra hashes), token ids or payment ids concerned.
    pub detail: Vec<String>,
    /// What they had at stake at the incident's start: per asset, the unsettled payments they
    /// would receive or have refunded; for documents and tokens, how many they held.
    pub at_stake_start: Vec<Amount>,
    /// The same, now.
    pub at_stake_now: Vec<Amount>,
    /// The incident's start block on the chain.
    pub start_block: u64,
    /// The block read as "now".
    pub now_block: u64,
    /// Where the start amounts came from.
    pub start_source: Source,
    /// Where it stands: at risk, impacted, saved, or needs review.
    pub status: PartyStatus,
}

/// Every affected party of `incident`'s contracts, sorted by chain, contract, role and address.
pub async fn affected(
    deployment: &Deployment,
    incident: &Incident,
) -> Result<Vec<AffectedParty>, AffectedError> {
    let (timeline, _) = deployment.store.timeline(incident.id)?;
    let starts = start_blocks(&timeline);
    let mut out = Vec::new();
    for c in warroom::scope(&deployment.manifest, incident) {
        let reader = match c.kind {
            ContractKind::DocumentRegistry
            | ContractKind::OwnershipTokenizer
            | ContractKind::PaymentEscrow => c.kind,
            _ => continue,
        };
        let Some(client) = deployment.clients.get(c.chain()) else {
            return Err(AffectedError::Unreachable {
                chain: c.chain().to_string(),
                contract: c.name().to_string(),
                reason: deployment
                    .unreachable
                    .get(c.chain())
                    .map_or_else(|| "not connected".to_string(), |e| e.to_string()),
            });
        };
        let head = client
            .provider()
            .get_block_number()
            .await
            .map_err(|e| client.rpc_err(e))?;
        let window = Window {
            from: c.deployed_block.unwrap_or(0),
            start: starts.get(c.chain()).copied().unwrap_or(head).min(head),
            now: head,
        };
        let mut parties = match reader {
            ContractKind::DocumentRegistry => documents(client, c, window).await?,
            ContractKind::OwnershipTokenizer => tokens(client, c, window).await?,
            _ => escrow(client, c, window).await?,
        };
        // Each address's status: an escrow that holds less than it owes now leaves its payers
        // and payees impacted; the contract is safe once the incident is no longer open.
        let short = c.kind == ContractKind::PaymentEscrow
            && crate::funds::read_holdings(client, c)
                .await?
                .iter()
                .any(|h| h.shortfall() > U256::ZERO);
        let safe = incident.status != super::IncidentStatus::Open;
        for p in &mut parties {
            p.status = party_status::status(p, short, safe);
        }
        out.extend(parties);
    }
    out.sort_by(|a, b| {
        (&a.chain, &a.contract, a.role, a.address).cmp(&(&b.chain, &b.contract, b.role, b.address))
    });
    Ok(out)
}

/// The head block of each chain when the incident opened, from its `funds` entry of `opened`.
pub fn start_blocks(timeline: &[Entry]) -> BTreeMap<String, u64> {
    timeline
        .iter()
        .find(|e| e.kind == "funds" && e.details["when"] == "opened")
        .and_then(|e| e.details["blocks"].as_object())
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|(chain, b)| Some((chain.clone(), b.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The blocks one contract is read over.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Its deployment block: history starts here.
    from: u64,
    /// The incident's start.
    start: u64,
    /// Now.
    now: u64,
}

async fn history(
    client: &ChainClient,
    c: &ContractConfig,
    window: Window,
    events: Vec<B256>,
) -> Result<Vec<Log>, ChainError> {
    if window.from > window.now {
        return Ok(Vec::new());
    }
    let filter = Filter::new().address(c.address).event_signature(events);
    logs(client, &filter, window.from, window.now).await
}

/// Parties holding countable things (documents, tokens): who held which at start and now, from
/// the ownership changes in the logs. Only holders at one of the two moments are listed.
fn holders(
    c: &ContractConfig,
    role: Role,
    unit: &str,
    window: Window,
    changes: impl IntoIterator<Item = (u64, String, Address)>,
) -> Vec<AffectedParty> {
    let mut at_start: BTreeMap<String, Address> = BTreeMap::new();
    let mut now: BTreeMap<String, Address> = BTreeMap::new();
    for (block, item, owner) in changes {
        if block <= window.start {
            at_start.insert(item.clone(), owner);
        }
        now.insert(item, owner);
    }
    let by_owner = |m: &BTreeMap<String, Address>| {
        let mut out: BTreeMap<Address, BTreeSet<String>> = BTreeMap::new();
        for (item, owner) in m.iter().filter(|(_, o)| **o != Address::ZERO) {
            out.entry(*owner).or_default().insert(item.clone());
        }
        out
    };
    let (start, now) = (by_owner(&at_start), by_owner(&now));
    let owners: BTreeSet<Address> = start.keys().chain(now.keys()).copied().collect();
    let count = |m: &BTreeMap<Address, BTreeSet<String>>, a| {
        m.get(&a).map_or(0, |s: &BTreeSet<String>| s.len())
    };
    owners
        .into_iter()
        .map(|address| {
            let detail: BTreeSet<String> = start
                .get(&address)
                .into_iter()
                .chain(now.get(&address))
                .flatten()
                .cloned()
                .collect();
            AffectedParty {
                address,
                chain: c.chain().to_string(),
                contract: c.name().to_string(),
                role,
                detail: detail.into_iter().collect(),
                at_stake_start: vec![Amount::new(U256::from(count(&start, address)), unit, 0)],
                at_stake_now: vec![Amount::new(U256::from(count(&now, address)), unit, 0)],
                start_block: window.start,
                now_block: window.now,
                start_source: Source::Logs,
                status: PartyStatus::default(),
            }
        })
        .collect()
}

async fn documents(
    client: &ChainClient,
    c: &ContractConfig,
    window: Window,
) -> Result<Vec<AffectedParty>, ChainError> {
    use DocumentRegistry::{DocumentOwnershipTransferred, DocumentRegistered};
    let logs = history(
        client,
        c,
        window,
        vec![
            DocumentRegistered::SIGNATURE_HASH,
            DocumentOwnershipTransferred::SIGNATURE_HASH,
        ],
    )
    .await?;
    let changes = logs.iter().filter_map(|log| {
        let block = log.block_number?;
        if let Ok(r) = DocumentRegistered::decode_log(&log.inner) {
            Some((block, r.integraHash.to_string(), r.owner))
        } else {
            let t = DocumentOwnershipTransferred::decode_log(&log.inner).ok()?;
            Some((block, t.integraHash.to_string(), t.to))
        }
    });
    Ok(holders(
        c,
        Role::DocumentOwner,
        "documents",
        window,
        changes,
    ))
}

async fn tokens(
    client: &ChainClient,
    c: &ContractConfig,
    window: Window,
) -> Result<Vec<AffectedParty>, ChainError> {
    use OwnershipTokenizer::Transfer;
    let logs = history(client, c, window, vec![Transfer::SIGNATURE_HASH]).await?;
    let changes = logs.iter().filter_map(|log| {
        let t = Transfer::decode_log(&log.inner).ok()?;
        Some((log.block_number?, t.tokenId.to_string(), t.to))
    });
    Ok(holders(c, Role::TokenHolder, "tokens", window, changes))
}

/// One payment, from its deposit log, with whether it was open at the start and is open now.
#[derive(Debug, Clone)]
struct Payment {
    id: U256,
    payer: Address,
    payee: Address,
    token: Address,
    amount: U256,
    open_at_start: bool,
    open_now: bool,
}

async fn escrow(
    client: &ChainClient,
    c: &ContractConfig,
    window: Window,
) -> Result<Vec<AffectedParty>, ChainError> {
    use PaymentEscrow::{PaymentDeposited, PaymentRefunded, PaymentReleased};
    let logs = history(
        client,
        c,
        window,
        vec![
            PaymentDeposited::SIGNATURE_HASH,
            PaymentReleased::SIGNATURE_HASH,
            PaymentRefunded::SIGNATURE_HASH,
        ],
    )
    .await?;
    // Per payment: its deposit (with block) and the block its settlement was logged in.
    let mut deposits: Vec<(u64, PaymentDeposited)> = Vec::new();
    let mut settled_in: BTreeMap<U256, u64> = BTreeMap::new();
    for log in &logs {
        let Some(block) = log.block_number else {
            continue;
        };
        if let Ok(d) = PaymentDeposited::decode_log(&log.inner) {
            deposits.push((block, d.data));
        } else if let Ok(r) = PaymentReleased::decode_log(&log.inner) {
            settled_in.entry(r.paymentId).or_insert(block);
        } else if let Ok(r) = PaymentRefunded::decode_log(&log.inner) {
            settled_in.entry(r.paymentId).or_insert(block);
        }
    }

    let contract = PaymentEscrow::new(c.address, client.provider());
    let settled_at = |id: U256, block: u64| {
        let contract = &contract;
        async move {
            contract
                .payments(id)
                .block(BlockId::number(block))
                .call()
                .await
                .map(|p| p.settled)
        }
    };
    let reads: Vec<_> = stream::iter(deposits.iter().map(|(block, d)| {
        let (id, deposited) = (d.paymentId, *block);
        async move {
            let start = if deposited > window.start {
                Ok(None)
            } else {
                settled_at(id, window.start).await.map(Some)
            };
            let now = settled_at(id, window.now).await;
            (start, now)
        }
    }))
    .buffered(CONCURRENT_READS)
    .collect()
    .await;

    let mut source = Source::State;
    let mut payments = Vec::with_capacity(deposits.len());
    for ((deposited, d), (start, now)) in deposits.iter().zip(reads) {
        let settled_now = now.map_err(|e| contract_err(client, e))?;
        let open_at_start = match start {
            Ok(None) => false,
            Ok(Some(settled)) => !settled,
            // No state that old on this node: the logs say whether it was settled by then.
            Err(e) => {
                tracing::debug!(chain = %client.name, "payments() at block {} refused ({e}); reading logs", window.start);
                source = Source::Logs;
                *deposited <= window.start
                    && settled_in
                        .get(&d.paymentId)
                        .is_none_or(|b| *b > window.start)
            }
        };
        payments.push(Payment {
            id: d.paymentId,
            payer: d.payer,
            payee: d.payee,
            token: d.token,
            amount: d.amount,
            open_at_start,
            open_now: !settled_now,
        });
    }
    let tokens: BTreeSet<Address> = payments.iter().map(|p| p.token).collect();
    let mut units: BTreeMap<Address, (String, u8)> = BTreeMap::new();
    for t in tokens {
        units.insert(t, metadata(client, (t != Address::ZERO).then_some(t)).await);
    }
    Ok(escrow_parties(c, window, source, &payments, &units))
}

/// Rows per (address, role) from the payments: the open amounts per asset at start and now.
fn escrow_parties(
    c: &ContractConfig,
    window: Window,
    source: Source,
    payments: &[Payment],
    units: &BTreeMap<Address, (String, u8)>,
) -> Vec<AffectedParty> {
    #[derive(Default)]
    struct Stakes {
        ids: Vec<String>,
        start: BTreeMap<Address, U256>,
        now: BTreeMap<Address, U256>,
    }
    let mut by_party: BTreeMap<(Role, Address), Stakes> = BTreeMap::new();
    for p in payments {
        for key in [(Role::EscrowPayer, p.payer), (Role::EscrowPayee, p.payee)] {
            let s = by_party.entry(key).or_default();
            s.ids.push(p.id.to_string());
            let open = |yes: bool| if yes { p.amount } else { U256::ZERO };
            *s.start.entry(p.token).or_default() += open(p.open_at_start);
            *s.now.entry(p.token).or_default() += open(p.open_now);
        }
    }
    let amounts = |m: &BTreeMap<Address, U256>| {
        m.iter()
            .map(|(token, amount)| {
                let (symbol, decimals) = units
                    .get(token)
                    .cloned()
                    .unwrap_or_else(|| (token.to_string(), 0));
                Amount::new(*amount, &symbol, decimals)
            })
            .collect::<Vec<_>>()
    };
    by_party
        .into_iter()
        .map(|((role, address), s)| AffectedParty {
            address,
            chain: c.chain().to_string(),
            contract: c.name().to_string(),
            role,
            detail: s.ids,
            at_stake_start: amounts(&s.start),
            at_stake_now: amounts(&s.now),
            start_block: window.start,
            now_block: window.now,
            start_source: source,
            status: PartyStatus::default(),
        })
        .collect()
}

/// How many distinct addresses the list names.
pub fn distinct_addresses(parties: &[AffectedParty]) -> usize {
    parties
        .iter()
        .map(|p| p.address)
        .collect::<BTreeSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> ContractConfig {
        toml::from_str(
            r#"name = "registry"
chain = "local"
kind = "DocumentRegistry"
address = "0x0000000000000000000000000000000000000001""#,
        )
        .expect("contract")
    }

    #[test]
    fn holders_count_what_each_owned_at_start_and_now() {
        let (a, b) = (Address::repeat_byte(0xa), Address::repeat_byte(0xb));
        let window = Window {
            from: 0,
            start: 10,
            now: 20,
        };
        let changes = vec![
            (5, "d1".to_string(), a),
            (6, "d2".to_string(), a),
            (15, "d2".to_string(), b),
            (16, "d3".to_string(), b),
        ];
        let rows = holders(
            &contract(),
            Role::DocumentOwner,
            "documents",
            window,
            changes,
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].address, a);
        assert_eq!(rows[0].at_stake_start[0].amount, "2");
        assert_eq!(rows[0].at_stake_now[0].amount, "1");
        assert_eq!(rows[0].detail, ["d1", "d2"]);
        assert_eq!(rows[1].at_stake_start[0].amount, "0");
        assert_eq!(rows[1].at_stake_now[0].show(), "2 documents");
    }

    #[test]
    fn the_start_is_the_opening_snapshot_s_head() {
        let entry = |kind: &str, details: serde_json::Value| Entry {
            id: 1,
            incident_id: 1,
            at: 0,
            actor: "guardian".into(),
            kind: kind.into(),
            details,
            prev_hash: String::new(),
            hash: String::new(),
        };
        let timeline = [
            entry("opened", serde_json::json!({})),
            entry(
                "funds",
                serde_json::json!({"when": "opened", "blocks": {"local": 7}}),
            ),
            entry(
                "funds",
                serde_json::json!({"when": "paused", "blocks": {"local": 9}}),
            ),
        ];
        assert_eq!(start_blocks(&timeline)["local"], 7);
        assert!(start_blocks(&timeline[..1]).is_empty());
    }
}
