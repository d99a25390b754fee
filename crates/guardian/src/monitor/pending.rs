//! The rules on a pending transaction's simulated effect (`guardian monitor --mempool`): each
//! `outflow` rule asks whether this transaction alone would take more than its `max_amount`, or
//! more than its `max_share` of what the contract holds now; the built-in `privileged` rule reads
//! the events it would emit. The alerts are `pending` (their transaction is not mined), and carry
//! the transaction and its simulated effect as evidence.

use std::collections::BTreeMap;

use alloy::{
    primitives::{Address, B256, U256},
    rpc::types::Log,
    sol_types::SolEvent,
};
use bindings::interfaces::IERC20Metadata;
use serde_json::json;

use super::{
    block::BlockData,
    privileged::{self, Expected},
    rules::RuleError,
};
use crate::{
    alert::{NewAlert, Severity},
    config::{
        Manifest,
        rules::{RuleKind, parse_amount},
    },
    funds::{NATIVE_SYMBOL, show_amount},
    mempool::{Effect, PendingTx},
};

/// One `outflow` rule, as pending transactions are checked against it.
#[derive(Debug, Clone)]
struct Outflow {
    rule: String,
    severity: Severity,
    preempt: bool,
    token: Option<Address>,
    symbol: String,
    decimals: u8,
    max_amount: Option<U256>,
    max_share: Option<f64>,
    targets: Vec<(Address, String)>,
}

/// The pending-transaction rules of one chain.
#[derive(Debug, Clone)]
pub struct PendingRules {
    chain: String,
    chain_id: u64,
    contracts: BTreeMap<Address, String>,
    outflows: Vec<Outflow>,
    expected: Expected,
}

/// What a pending transaction would take from one contract of one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The contract.
    pub contract: Address,
    /// `None` for the native coin.
    pub token: Option<Address>,
    /// Net outflow, base units.
    pub amount: U256,
}

impl PendingRules {
    /// The rules of `manifest` on `chain` (`units` as for [`super::rules::RuleEngine::new`]).
    pub fn new(
        manifest: &Manifest,
        chain: &str,
        chain_id: u64,
        expected: Expected,
        units: impl Fn(Address) -> (String, u8),
    ) -> Result<Self, RuleError> {
        let mut outflows = Vec::new();
        for config in manifest
            .rules
            .iter()
            .filter(|r| r.kind == RuleKind::Outflow)
        {
            let targets: Vec<(Address, String)> = config
                .targets(manifest)
                .into_iter()
                .filter(|c| c.chain() == chain)
                .map(|c| (c.address, c.name().to_string()))
                .collect();
            if targets.is_empty() {
                continue;
            }
            let token = config.asset().token();
            let (symbol, decimals) = match token {
                None => (NATIVE_SYMBOL.to_string(), 18),
                Some(t) => units(t),
            };
            let max_amount = match &config.max_amount {
                None => None,
                Some(text) => Some(
                    parse_amount(text.get_ref(), decimals, token.is_none()).map_err(|reason| {
                        RuleError::Amount {
                            rule: config.name().to_string(),
                            amount: text.get_ref().clone(),
                            symbol: symbol.clone(),
                            reason,
                        }
                    })?,
                ),
            };
            outflows.push(Outflow {
                rule: config.name().to_string(),
                severity: config.severity,
                preempt: config.preempt,
                token,
                symbol,
                decimals,
                max_amount,
                max_share: config.max_share.as_ref().map(|s| *s.get_ref()),
                targets,
            });
        }
        Ok(Self {
            chain: chain.to_string(),
            chain_id,
            contracts: manifest
                .contracts
                .iter()
                .filter(|c| c.chain() == chain)
                .map(|c| (c.address, c.name().to_string()))
                .collect(),
            outflows,
            expected,
        })
    }

    /// Whether any rule here answers with a pre-emptive pause.
    pub fn preempts(&self) -> bool {
        self.outflows.iter().any(|o| o.preempt)
    }

    /// Whether `effect` touches the suite: it calls a manifest contract anywhere in its tree.
    pub fn touches(&self, tx: &PendingTx, effect: &Effect) -> bool {
        tx.to.is_some_and(|to| self.contracts.contains_key(&to))
            || effect.calls.iter().any(|a| self.contracts.contains_key(a))
            || effect
                .logs
                .iter()
                .any(|l| self.contracts.contains_key(&l.address))
    }

    /// The contracts whose holdings the outflow rules compare shares against.
    pub fn share_targets(&self) -> Vec<Address> {
        let mut out: Vec<Address> = self
            .outflows
            .iter()
            .filter(|o| o.max_share.is_some())
            .flat_map(|o| o.targets.iter().map(|t| t.0))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The alerts `tx` would raise, from its simulated `effect`. `held` gives what each contract
    /// holds of each asset now (for `max_share`); `head` is the block the simulation ran on top of.
    pub fn evaluate(
        &self,
        tx: &PendingTx,
        effect: &Effect,
        held: &BTreeMap<(Address, Option<Address>), U256>,
        head: (u64, B256),
    ) -> Vec<NewAlert> {
        if effect.reverted {
            return Vec::new();
        }
        let evidence_tx = json!({
            "hash": tx.hash,
            "from": tx.from,
            "to": tx.to,
            "value": tx.value.to_string(),
            "nonce": tx.nonce,
            "max_fee_per_gas": tx.max_fee_per_gas.to_string(),
            "max_priority_fee_per_gas": tx.max_priority_fee_per_gas.to_string(),
            // When the monitor first saw it, Unix milliseconds.
            "seen_at": crate::storage::now_ms() - tx.seen_at.elapsed().as_millis() as i64,
        });
        let mut alerts = Vec::new();
        for o in &self.outflows {
            for (address, name) in &o.targets {
                let taken = taken(effect, *address, o.token);
                if taken.is_zero() {
                    continue;
                }
                let before = held.get(&(*address, o.token)).copied().unwrap_or_default();
                let over_amount = o.max_amount.is_some_and(|m| taken > m);
                let over_share = o.max_share.is_some_and(|s| {
                    !before.is_zero()
                        && taken.saturating_mul(U256::from(1_000_000u64))
                            > before.saturating_mul(U256::from((s * 1_000_000.0) as u64))
                });
                if !(over_amount || over_share) {
                    continue;
                }
                let shown = show_amount(taken, o.decimals, &o.symbol);
                alerts.push(NewAlert {
                    rule: o.rule.clone(),
                    kind: "outflow".into(),
                    severity: o.severity,
                    chain: self.chain.clone(),
                    chain_id: self.chain_id,
                    contract: Some(name.clone()),
                    address: Some(*address),
                    block_number: head.0,
                    block_hash: head.1,
                    tx_hashes: vec![tx.hash],
                    summary: format!(
                        "pending transaction {} would take {shown} from {name} (holding {})",
                        tx.hash,
                        show_amount(before, o.decimals, &o.symbol)
                    ),
                    evidence: json!({
                        "pending": true,
                        "pending_tx": evidence_tx,
                        "affected": [name],
                        "effect": {
                            "taken": taken.to_string(),
                            "held": before.to_string(),
                            "asset": o.token,
                            "calls": effect.calls,
                            "logs": effect.logs.len(),
                        },
                        "max_amount": o.max_amount.map(|m| m.to_string()),
                        "max_share": o.max_share,
                    }),
                    dedup_key: format!("pending:{}:{name}:{}", o.rule, tx.hash),
                });
            }
        }
        // The privileged events it would emit, as the block rule reads them.
        let block = BlockData {
            chain: self.chain.clone(),
            chain_id: self.chain_id,
            number: head.0,
            hash: head.1,
            logs: effect
                .logs
                .iter()
                .filter(|l| self.contracts.contains_key(&l.address))
                .map(|l| Log {
                    inner: l.clone(),
                    transaction_hash: Some(tx.hash),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let senders = BTreeMap::from([(tx.hash, tx.from)]);
        for mut a in privileged::evaluate(&block, &self.expected, &self.contracts, &senders) {
            a.dedup_key = format!("pending:{}", a.dedup_key);
            a.summary = format!("pending: {}", a.summary);
            if let Some(map) = a.evidence.as_object_mut() {
                map.insert("pending".into(), json!(true));
                map.insert("pending_tx".into(), evidence_tx.clone());
            }
            alerts.push(a);
        }
        alerts
    }
}

/// What `effect` takes from `contract` of `token` (native for `None`), net of what it brings.
pub fn taken(effect: &Effect, contract: Address, token: Option<Address>) -> U256 {
    match token {
        None => effect.net_native_outflow(contract),
        Some(t) => {
            let (mut out, mut inn) = (U256::ZERO, U256::ZERO);
            for l in effect.logs.iter().filter(|l| l.address == t) {
                if let Ok(ev) = IERC20Metadata::Transfer::decode_log_data(&l.data) {
                    if ev.from == contract {
                        out += ev.value;
                    }
                    if ev.to == contract {
                        inn += ev.value;
                    }
                }
            }
            out.saturating_sub(inn)
        }
    }
}
