//! `actor-burst`: one account behind more than `max_calls` transactions to the rule's contracts
//! in the window.

use std::collections::BTreeMap;

use alloy::primitives::{Address, TxHash};
use serde_json::json;

use super::{At, Finding, Series, Target};
use crate::config::RuleConfig;

/// An `actor-burst` rule on one chain.
#[derive(Debug)]
pub(super) struct ActorBurst {
    max_calls: u64,
    targets: BTreeMap<Address, String>,
    /// Per block with calls: (sender, contract called, transaction).
    calls: Series<Vec<(Address, Address, TxHash)>>,
}

impl ActorBurst {
    pub(super) fn new(config: &RuleConfig, targets: &[Target]) -> Self {
        Self {
            max_calls: config.max_calls.as_ref().map_or(u64::MAX, |m| *m.get_ref()),
            targets: targets
                .iter()
                .map(|t| (t.address, t.name.clone()))
                .collect(),
            calls: Series::default(),
        }
    }

    pub(super) fn on_block(&mut self, at: &At<'_>) -> Vec<Finding> {
        let number = at.block.number;
        let calls: Vec<(Address, Address, TxHash)> = at
            .block
            .transactions
            .iter()
            .filter(|t| self.targets.contains_key(&t.to))
            .map(|t| (t.from, t.to, t.hash))
            .collect();
        if calls.is_empty() {
            return Vec::new();
        }
        self.calls.push(number, calls);
        // Only accounts that called in this block can have crossed the limit now.
        let mut by_actor: BTreeMap<Address, Vec<(Address, TxHash)>> = BTreeMap::new();
        for (_, block_calls) in self.calls.range(at.window_start(), number) {
            for (from, to, hash) in block_calls {
                by_actor.entry(*from).or_default().push((*to, *hash));
            }
        }
        let mut found = Vec::new();
        for (actor, calls) in by_actor {
            let count = calls.len() as u64;
            if count <= self.max_calls {
                continue;
            }
            let mut affected: Vec<String> = Vec::new();
            for (to, _) in &calls {
                let name = self.targets.get(to).cloned().unwrap_or_default();
                if !affected.contains(&name) {
                    affected.push(name);
                }
            }
            let contract = match affected.as_slice() {
                [only] => calls.first().map(|(to, _)| (only.clone(), *to)),
                _ => None,
            };
            let actor_text = actor.to_checksum(None);
            found.push(Finding {
                scope: format!("chain={}:{actor_text}", at.meta.chain),
                contract,
                summary: format!(
                    "{}: {actor_text} sent {count} transactions to {} in {} blocks (max_calls {})",
                    at.meta.chain,
                    affected.join(", "),
                    at.meta.window,
                    self.max_calls
                ),
                evidence: json!({
                    "actor": actor_text,
                    "calls": count,
                    "max_calls": self.max_calls,
                }),
                affected,
                tx_hashes: calls.into_iter().map(|(_, h)| h).collect(),
            });
        }
        found
    }

    pub(super) fn rewind(&mut self, to: Option<u64>) {
        self.calls.rewind(to);
    }

    pub(super) fn prune(&mut self, from: u64) {
        self.calls.prune(from);
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, address};

    use crate::monitor::{
        block::BlockData,
        rules::testing::{ESCROW, REGISTRY, block, engine, feed, suite_tx, tx},
    };

    const BURST: &str = r#"
[[rules]]
name = "one-actor"
kind = "actor-burst"
window_blocks = 5
max_calls = 3
severity = "high"
respond = "pause-affected"
"#;

    const ALICE: Address = address!("0x00000000000000000000000000000000000a11ce");
    const BOB: Address = address!("0x0000000000000000000000000000000000000b0b");

    /// Block `number` with one call from each of `calls` (sender, contract).
    fn calls(number: u64, calls: &[(Address, Address)]) -> BlockData {
        let mut b = block(number, 0);
        b.transactions = calls
            .iter()
            .enumerate()
            .map(|(i, (from, to))| suite_tx(tx(number, i as u64), *from, *to, true))
            .collect();
        b
    }

    #[test]
    fn one_account_over_max_calls_fires_and_several_accounts_do_not() {
        let mut rules = engine(BURST);
        assert!(rules.needs_transactions());
        // Three calls each from two accounts: six calls, but no one account over three.
        let normal = [
            calls(1, &[(ALICE, REGISTRY), (BOB, REGISTRY)]),
            calls(2, &[(ALICE, REGISTRY), (BOB, ESCROW)]),
            calls(3, &[(ALICE, REGISTRY), (BOB, REGISTRY)]),
        ];
        assert!(feed(&mut rules, &normal).is_empty());
        let alerts = rules.on_block(&calls(4, &[(ALICE, REGISTRY)]));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            a.summary,
            format!("local: {ALICE} sent 4 transactions to registry in 5 blocks (max_calls 3)")
        );
        assert_eq!(a.contract.as_deref(), Some("registry"));
        assert_eq!(a.tx_hashes, [tx(1, 0), tx(2, 0), tx(3, 0), tx(4, 0)]);
        assert_eq!(a.dedup_key, format!("one-actor:chain=local:{ALICE}:0"));
        // The calls leave the window: two more are quiet, past the cooldown a fourth fires again,
        // over two contracts, so none is named and both are affected.
        let later = [calls(10, &[(ALICE, ESCROW)]), calls(11, &[(ALICE, ESCROW)])];
        assert!(feed(&mut rules, &later).is_empty());
        let burst = calls(12, &[(ALICE, REGISTRY), (ALICE, REGISTRY)]);
        let alerts = rules.on_block(&burst);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].contract, None);
        assert_eq!(
            alerts[0].evidence["affected"],
            serde_json::json!(["escrow", "registry"])
        );
    }

    #[test]
    fn a_rewind_forgets_orphaned_calls() {
        let mut rules = engine(BURST);
        let blocks = [
            calls(1, &[(ALICE, REGISTRY), (ALICE, REGISTRY)]),
            calls(2, &[(ALICE, REGISTRY)]),
        ];
        assert!(feed(&mut rules, &blocks).is_empty());
        rules.rewind(1);
        assert!(rules.on_block(&calls(2, &[(BOB, REGISTRY)])).is_empty());
        // Three calls in the window with the orphaned one gone; four would have fired.
        assert!(rules.on_block(&calls(3, &[(ALICE, REGISTRY)])).is_empty());
        assert_eq!(rules.on_block(&calls(4, &[(ALICE, REGISTRY)])).len(), 1);
    }
}
