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
