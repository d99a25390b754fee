//! `failed-share`: the share of failed transactions to the rule's contracts in the window, with
//! no verdict on fewer than `min_transactions`.

use std::collections::BTreeMap;

use alloy::primitives::{Address, TxHash};
use serde_json::json;

use super::{At, Finding, Series, Target, percent};
use crate::config::RuleConfig;

/// A `failed-share` rule on one chain.
#[derive(Debug)]
pub(super) struct FailedShare {
    max_share: f64,
    min_transactions: u64,
    targets: BTreeMap<Address, String>,
    /// Per block with transactions: (contract called, transaction, succeeded).
    txs: Series<Vec<(Address, TxHash, bool)>>,
}

impl FailedShare {
    pub(super) fn new(config: &RuleConfig, targets: &[Target]) -> Self {
        Self {
            max_share: config.max_share.as_ref().map_or(1.0, |s| *s.get_ref()),
            min_transactions: config.min_transactions.as_ref().map_or(1, |m| *m.get_ref()),
            targets: targets
                .iter()
                .map(|t| (t.address, t.name.clone()))
                .collect(),
            txs: Series::default(),
        }
    }

    pub(super) fn on_block(&mut self, at: &At<'_>) -> Vec<Finding> {
        let number = at.block.number;
        let txs: Vec<(Address, TxHash, bool)> = at
            .block
            .transactions
            .iter()
            .filter(|t| self.targets.contains_key(&t.to))
            .map(|t| (t.to, t.hash, t.success))
            .collect();
        if txs.is_empty() {
            return Vec::new();
        }
        self.txs.push(number, txs);
        let (mut total, mut failed) = (0u64, Vec::new());
        for (_, block_txs) in self.txs.range(at.window_start(), number) {
            total += block_txs.len() as u64;
            failed.extend(
                block_txs
                    .iter()
                    .filter(|(_, _, ok)| !ok)
                    .map(|(to, h, _)| (*to, *h)),
            );
        }
        let share = failed.len() as f64 / total as f64;
        if total < self.min_transactions || share <= self.max_share {
            return Vec::new();
        }
        let mut affected: Vec<String> = Vec::new();
        for (to, _) in &failed {
            let name = self.targets.get(to).cloned().unwrap_or_default();
            if !affected.contains(&name) {
                affected.push(name);
            }
        }
        let contract = match affected.as_slice() {
            [only] => failed.first().map(|(to, _)| (only.clone(), *to)),
            _ => None,
        };
        vec![Finding {
            scope: format!("chain={}", at.meta.chain),
            contract,
            summary: format!(
                "{}: {} of {total} transactions to {} failed in {} blocks ({}, max {})",
                at.meta.chain,
                failed.len(),
                affected.join(", "),
                at.meta.window,
                percent(share),
                percent(self.max_share)
            ),
            evidence: json!({
                "transactions": total,
                "failed": failed.len(),
                "share": share,
                "max_share": self.max_share,
                "min_transactions": self.min_transactions,
            }),
            affected,
            tx_hashes: failed.into_iter().map(|(_, h)| h).collect(),
        }]
    }

    pub(super) fn rewind(&mut self, to: Option<u64>) {
        self.txs.rewind(to);
    }

    pub(super) fn prune(&mut self, from: u64) {
        self.txs.prune(from);
    }
}
