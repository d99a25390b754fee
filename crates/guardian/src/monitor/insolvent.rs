//! The built-in `insolvent` rule: an escrow holding less of an asset than it owes is `critical`,
//! raised once when it becomes short and again only after it has been solvent in between.

use std::collections::BTreeSet;

use alloy::primitives::Address;
use serde_json::json;

use super::block::{BalanceAt, BlockData};
use crate::alert::{NewAlert, Severity};

/// The rule's name and kind.
pub const RULE: &str = "insolvent";

/// Which (escrow, asset) pairs are short right now; one alert per shortfall episode.
#[derive(Debug, Clone, Default)]
pub struct Insolvency {
    short: BTreeSet<(Address, Option<Address>)>,
}

impl Insolvency {
    /// Starts from what was already short at the last block processed (already alerted), so a
    /// restart or a rewind does not raise the same episode twice.
    pub fn reset(&mut self, balances: &[BalanceAt]) {
        self.short = balances
            .iter()
            .filter(|b| is_short(b))
            .map(|b| (b.address, b.token))
            .collect();
    }

    /// The rule on one block: an alert for each escrow and asset that became short in it.
    pub fn evaluate(&mut self, block: &BlockData) -> Vec<NewAlert> {
        let mut alerts = Vec::new();
        for b in &block.balances {
            let key = (b.address, b.token);
            if !is_short(b) {
                self.short.remove(&key);
                continue;
            }
            if !self.short.insert(key) {
                continue;
            }
            let owed = b.owed.unwrap_or_default();
            alerts.push(NewAlert {
                rule: RULE.into(),
                kind: RULE.into(),
                severity: Severity::Critical,
                chain: block.chain.clone(),
                chain_id: block.chain_id,
                contract: Some(b.contract.clone()),
                address: Some(b.address),
                block_number: block.number,
                block_hash: block.hash,
                tx_hashes: Vec::new(),
                summary: format!(
                    "{} on {} holds {} but owes {}: short by {}",
                    b.contract,
                    block.chain,
                    crate::funds::show_known(b.amount, b.token),
                    crate::funds::show_known(owed, b.token),
                    crate::funds::show_known(owed.saturating_sub(b.amount), b.token)
                ),
                evidence: json!({
                    "token": b.token,
                    "held": b.amount.to_string(),
                    "owed": owed.to_string(),
                    "shortfall": owed.saturating_sub(b.amount).to_string(),
                }),
                dedup_key: format!(
                    "{RULE}:{}:{}:{}:{}",
                    block.chain_id,
                    b.address,
                    b.token.unwrap_or_default(),
                    block.hash
                ),
            });
        }
        alerts
    }
}

fn is_short(b: &BalanceAt) -> bool {
    b.owed.is_some_and(|owed| owed > b.amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{B256, U256};

    fn block(n: u64, held: u64, owed: u64) -> BlockData {
        BlockData {
            chain: "local".into(),
            chain_id: 1,
            number: n,
            hash: B256::repeat_byte(n as u8),
            balances: vec![BalanceAt {
                contract: "escrow".into(),
                address: Address::repeat_byte(1),
                token: None,
                amount: U256::from(held),
                owed: Some(U256::from(owed)),
            }],
            ..BlockData::default()
        }
    }

    #[test]
    fn one_alert_per_shortfall_episode() {
        let mut rule = Insolvency::default();
        let fired: Vec<usize> = [(10, 5), (0, 5), (0, 5), (5, 5), (1, 5), (1, 5)]
            .iter()
            .enumerate()
            .map(|(i, (held, owed))| rule.evaluate(&block(i as u64 + 1, *held, *owed)).len())
            .collect();
        assert_eq!(fired, [0, 1, 0, 0, 1, 0]);
        // Restarted at a short block: that episode was already raised.
        let mut restarted = Insolvency::default();
        restarted.reset(&block(6, 1, 5).balances);
        assert!(restarted.evaluate(&block(7, 1, 5)).is_empty());
    }
}
