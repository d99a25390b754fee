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

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, address};

    use crate::monitor::{
        block::BlockData,
        rules::testing::{ESCROW, REGISTRY, block, engine, feed, suite_tx, tx},
    };

    const FAILING: &str = r#"
[[rules]]
name = "failing"
kind = "failed-share"
contracts = ["escrow"]
window_blocks = 4
max_share = 0.5
min_transactions = 4
severity = "warning"
"#;

    const SENDER: Address = address!("0x00000000000000000000000000000000000a11ce");

    /// Block `number` with transactions to `to` that succeed or not.
    fn outcomes(number: u64, to: Address, ok: &[bool]) -> BlockData {
        let mut b = block(number, 0);
        b.transactions = ok
            .iter()
            .enumerate()
            .map(|(i, ok)| suite_tx(tx(number, i as u64), SENDER, to, *ok))
            .collect();
        b
    }

    #[test]
    fn a_high_failed_share_fires_only_with_enough_transactions() {
        let mut rules = engine(FAILING);
        assert!(rules.needs_transactions());
        // Three failures of three: too few for a verdict.
        let few = [
            outcomes(1, ESCROW, &[false, false]),
            outcomes(2, ESCROW, &[false]),
        ];
        assert!(feed(&mut rules, &few).is_empty());
        // A fourth, which succeeds: 3 of 4 failed. The registry's failures are not this rule's.
        let mut fourth = outcomes(3, ESCROW, &[true]);
        fourth
            .transactions
            .extend(outcomes(3, REGISTRY, &[false, false, false]).transactions);
        let alerts = rules.on_block(&fourth);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            a.summary,
            "local: 3 of 4 transactions to escrow failed in 4 blocks (75%, max 50%)"
        );
        assert_eq!(
            (a.contract.as_deref(), a.address),
            (Some("escrow"), Some(ESCROW))
        );
        assert_eq!(a.tx_hashes, [tx(1, 0), tx(1, 1), tx(2, 0)]);
        assert_eq!(a.dedup_key, "failing:chain=local:0");
        assert_eq!(
            (
                a.evidence["transactions"].as_u64(),
                a.evidence["failed"].as_u64()
            ),
            (Some(4), Some(3))
        );
    }

    #[test]
    fn normal_failures_stay_quiet_and_a_spike_fires() {
        let mut rules = engine(FAILING);
        let normal: Vec<BlockData> = (1..=8)
            .map(|n| outcomes(n, ESCROW, &[true, n % 4 != 0]))
            .collect();
        assert!(feed(&mut rules, &normal).is_empty(), "1 of 8 failed");
        // Window 6..=9: block 8's one failure and block 9's five, of 11.
        let alerts = rules.on_block(&outcomes(9, ESCROW, &[false; 5]));
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alerts[0].summary,
            "local: 6 of 11 transactions to escrow failed in 4 blocks (54.5%, max 50%)"
        );
    }
}
