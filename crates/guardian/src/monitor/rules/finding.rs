//! A rule evaluated on one block: what every alert of the rule shares, what it found, and
//! the alert that finding becomes.

use alloy::primitives::{Address, TxHash};
use serde_json::Value;

use super::{MAX_TX_HASHES, Respond, RuleKind};
use crate::{
    alert::{NewAlert, Severity},
    config::RuleConfig,
    monitor::block::BlockData,
};

/// What every alert of a rule shares.
#[derive(Debug)]
pub(super) struct Meta {
    pub(super) name: String,
    pub(super) kind: RuleKind,
    pub(super) severity: Severity,
    pub(super) respond: Respond,
    pub(super) window: u64,
    pub(super) cooldown: u64,
    pub(super) chain: String,
}

impl Meta {
    pub(super) fn new(config: &RuleConfig, chain: &str) -> Self {
        Self {
            name: config.name().to_string(),
            kind: config.kind,
            severity: config.severity,
            respond: config.respond,
            window: config.window(),
            cooldown: config.cooldown(),
            chain: chain.to_string(),
        }
    }

    /// The first block of the window ending at `number`.
    pub(super) fn window_start(&self, number: u64) -> u64 {
        number.saturating_sub(self.window - 1)
    }
}

/// One rule evaluated on one block.
pub(super) struct At<'a> {
    pub(super) meta: &'a Meta,
    pub(super) block: &'a BlockData,
    /// The first block of the engine's history.
    pub(super) first: u64,
}

impl At<'_> {
    /// The first block of the current window.
    pub(super) fn window_start(&self) -> u64 {
        self.meta.window_start(self.block.number)
    }

    /// How many blocks of the current window were seen.
    pub(super) fn blocks_seen(&self) -> u64 {
        self.block.number - self.window_start().max(self.first) + 1
    }

    pub(super) fn alert(&self, finding: Finding) -> NewAlert {
        let meta = self.meta;
        let start = self.window_start();
        let mut evidence = finding.evidence;
        if let Value::Object(map) = &mut evidence {
            map.insert("window_blocks".into(), meta.window.into());
            map.insert("window_start".into(), start.into());
            map.insert("window_end".into(), self.block.number.into());
            map.insert("blocks_seen".into(), self.blocks_seen().into());
            map.insert("tx_count".into(), finding.tx_hashes.len().into());
            map.insert("affected".into(), finding.affected.clone().into());
        }
        let mut tx_hashes = finding.tx_hashes;
        tx_hashes.truncate(MAX_TX_HASHES);
        NewAlert {
            rule: meta.name.clone(),
            kind: meta.kind.as_str().to_string(),
            severity: meta.severity,
            chain: meta.chain.clone(),
            chain_id: self.block.chain_id,
            contract: finding.contract.as_ref().map(|(n, _)| n.clone()),
            address: finding.contract.as_ref().map(|(_, a)| *a),
            block_number: self.block.number,
            block_hash: self.block.hash,
            tx_hashes,
            summary: finding.summary,
            evidence,
            // Unclipped, so the windows of the chain's first blocks keep distinct keys.
            dedup_key: format!(
                "{}:{}:{}",
                meta.name,
                finding.scope,
                i128::from(self.block.number) - i128::from(meta.window) + 1
            ),
        }
    }
}

/// What a rule found in a window, before the cooldown decides whether it becomes an alert.
pub(super) struct Finding {
    /// What the cooldown and deduplication are per: a contract's name, `chain=NAME`, or
    /// `chain=NAME:0xACTOR`.
    pub(super) scope: String,
    /// The contract the alert is about, when there is one.
    pub(super) contract: Option<(String, Address)>,
    /// The contracts a `pause-affected` response pauses.
    pub(super) affected: Vec<String>,
    pub(super) tx_hashes: Vec<TxHash>,
    pub(super) summary: String,
    pub(super) evidence: Value,
}

/// The transaction hashes of `hashes` without repeats, in order.
pub(super) fn unique(hashes: impl IntoIterator<Item = TxHash>) -> Vec<TxHash> {
    let mut seen = std::collections::HashSet::new();
    hashes.into_iter().filter(|h| seen.insert(*h)).collect()
}

/// A share as a percentage for people: `0.3` is `30%`.
pub(super) fn percent(share: f64) -> String {
    let p = share * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{}%", p.round())
    } else {
        format!("{p:.1}%")
    }
}
