//! The configurable rules (`[[rules]]`) evaluated block by block on one chain: pure and
//! deterministic, fed one [`BlockData`] per block in order, able to rewind after a reorg.
//!
//! Every rule keeps what each block contributed (event counts, balance steps, transactions), so a
//! window is a sum over recorded blocks and a rewind drops exactly the orphaned blocks' share.

mod actor_burst;
mod failed_share;
mod finding;
mod history;
mod outflow;
mod rate;

use alloy::primitives::{Address, B256};

use self::{
    finding::{At, Finding, Meta, percent, unique},
    history::{Cooldowns, Series},
};
pub use crate::config::rules::{Asset, Respond, RuleKind};
use crate::{alert::NewAlert, config::Manifest, monitor::block::BlockData};

/// How many blocks beyond its windows each rule keeps, so a reorg up to this deep rewinds
/// exactly; a deeper one clears the engine's history (baselines then rebuild).
pub const KEPT_FOR_REORGS: u64 = 256;

/// The most transaction hashes an alert lists (its evidence counts them all).
pub const MAX_TX_HASHES: usize = 50;

/// Why the rules could not be set up for a chain.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A rule's `max_amount` does not fit its token's decimals (read from the chain).
    #[error(
        "rule `{rule}`: max_amount `{amount}` is not an amount of {symbol} ({reason}): fix it in the manifest"
    )]
    Amount {
        /// The rule's name.
        rule: String,
        /// The amount as written.
        amount: String,
        /// The token's symbol (or address).
        symbol: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The configurable rules of one chain, with the history their windows need.
#[derive(Debug)]
pub struct RuleEngine {
    chain: String,
    rules: Vec<Rule>,
    /// Hashes of the blocks seen, for duplicates and reorgs.
    hashes: Series<B256>,
    /// The first block of the current history (nothing before it was seen).
    first: Option<u64>,
    /// The most blocks any rule looks back.
    horizon: u64,
}

impl RuleEngine {
    /// The rules of `manifest` that watch contracts on `chain`. `units` gives a token's symbol
    /// and decimals (as [`crate::funds::metadata`] reads them), for `outflow` rules on a token
    /// (see [`RuleEngine::tokens`]); the native coin is ETH with 18 decimals.
    pub fn new(
        manifest: &Manifest,
        chain: &str,
        units: impl Fn(Address) -> (String, u8),
    ) -> Result<Self, RuleError> {
        let mut rules = Vec::new();
        for config in &manifest.rules {
            let targets: Vec<Target> = config
                .targets(manifest)
                .into_iter()
                .filter(|c| c.chain() == chain)
                .map(|c| Target {
                    name: c.name().to_string(),
                    address: c.address,
                    kind: c.kind,
                })
                .collect();
            if targets.is_empty() {
                continue;
            }
            let eval = match config.kind {
                RuleKind::Rate => Eval::Rate(rate::Rate::new(config, &targets)),
                RuleKind::Outflow => {
                    Eval::Outflow(outflow::Outflow::new(config, &targets, &units)?)
                }
                RuleKind::ActorBurst => {
                    Eval::ActorBurst(actor_burst::ActorBurst::new(config, &targets))
                }
                RuleKind::FailedShare => {
                    Eval::FailedShare(failed_share::FailedShare::new(config, &targets))
                }
            };
            rules.push(Rule {
                meta: Meta::new(config, chain),
                cooldowns: Cooldowns::default(),
                eval,
            });
        }
        let horizon = rules.iter().map(Rule::horizon).max().unwrap_or(1);
        Ok(Self {
            chain: chain.to_string(),
            rules,
            hashes: Series::default(),
            first: None,
            horizon,
        })
    }

    /// The tokens whose symbol and decimals [`RuleEngine::new`] asks `units` for on `chain`.
    pub fn tokens(manifest: &Manifest, chain: &str) -> Vec<Address> {
        let mut tokens: Vec<Address> = manifest
            .rules
            .iter()
            .filter(|r| r.kind == RuleKind::Outflow)
            .filter(|r| r.targets(manifest).iter().any(|c| c.chain() == chain))
            .filter_map(|r| r.asset().token())
            .collect();
        tokens.sort();
        tokens.dedup();
        tokens
    }

    /// Whether any rule on this chain needs [`BlockData::transactions`] (`actor-burst`,
    /// `failed-share`).
    pub fn needs_transactions(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.eval, Eval::ActorBurst(_) | Eval::FailedShare(_)))
    }

    /// The contracts whose holdings the rules read (`outflow` targets).
    pub fn holdings_of(&self) -> Vec<Address> {
        self.rules
            .iter()
            .filter_map(|r| match &r.eval {
                Eval::Outflow(o) => Some(o.addresses()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// How many blocks back from the current one the rules read (windows and baselines).
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    /// Whether no configured rule watches this chain.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What the monitor does when `rule` fires ([`Respond::None`] for a rule it does not know).
    pub fn response(&self, rule: &str) -> Respond {
        self.rules
            .iter()
            .find(|r| r.meta.name == rule)
            .map_or(Respond::None, |r| r.meta.respond)
    }

    /// Evaluates every rule on the next block and returns the alerts it raises. A block already
    /// seen (same number and hash) raises nothing again; a different block at a height already
    /// seen is taken as a reorg: the engine rewinds to its parent first.
    pub fn on_block(&mut self, block: &BlockData) -> Vec<NewAlert> {
        if block.chain != self.chain {
            return Vec::new();
        }
        if let Some(last) = self.hashes.last_block()
            && block.number <= last
        {
            if self.hashes.at(block.number) == Some(&block.hash) {
                return Vec::new();
            }
            self.rewind(block.number.saturating_sub(1));
        }
        let first = *self.first.get_or_insert(block.number);
        self.hashes.push(block.number, block.hash);
        let mut alerts = Vec::new();
        for rule in &mut self.rules {
            let at = At {
                meta: &rule.meta,
                block,
                first,
            };
            let found = match &mut rule.eval {
                Eval::Rate(r) => r.on_block(&at),
                Eval::Outflow(r) => r.on_block(&at),
                Eval::ActorBurst(r) => r.on_block(&at),
                Eval::FailedShare(r) => r.on_block(&at),
            };
            for finding in found {
                if rule
                    .cooldowns
                    .allows(&finding.scope, block.number, rule.meta.cooldown)
                {
                    rule.cooldowns.record(&finding.scope, block.number);
                    alerts.push(at.alert(finding));
                }
            }
        }
        self.prune(block.number);
        alerts
    }

    /// Forgets every block after `to_block` (orphaned by a reorg): their contributions to the
    /// windows and baselines, and the alerts they raised for the cooldowns. Exact up to
    /// [`KEPT_FOR_REORGS`] blocks deep; a deeper rewind clears the history.
    pub fn rewind(&mut self, to_block: u64) {
        let (Some(first), Some(last)) = (self.first, self.hashes.last_block()) else {
            return;
        };
        if to_block >= last {
            return;
        }
        if to_block < first || last - to_block > KEPT_FOR_REORGS {
            self.hashes = Series::default();
            self.first = None;
            for rule in &mut self.rules {
                rule.cooldowns = Cooldowns::default();
                rule.eval.rewind(None);
            }
            return;
        }
        self.hashes.rewind(Some(to_block));
        for rule in &mut self.rules {
            rule.cooldowns.rewind(to_block);
            rule.eval.rewind(Some(to_block));
        }
    }

    fn prune(&mut self, number: u64) {
        let keep_from = number.saturating_sub(self.horizon + KEPT_FOR_REORGS);
        self.hashes.prune(keep_from);
        for rule in &mut self.rules {
            let cooldown_from = number.saturating_sub(rule.meta.cooldown + KEPT_FOR_REORGS);
            rule.cooldowns.prune(cooldown_from);
            let from = number.saturating_sub(rule.horizon() + KEPT_FOR_REORGS);
            rule.eval.prune(from);
        }
    }
}

/// A manifest contract a rule watches on this chain.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    address: Address,
    kind: crate::config::ContractKind,
}

/// One configured rule on this chain.
#[derive(Debug)]
struct Rule {
    meta: Meta,
    cooldowns: Cooldowns,
    eval: Eval,
}

impl Rule {
    /// How many blocks back (from the current one) the rule reads.
    fn horizon(&self) -> u64 {
        match &self.eval {
            Eval::Rate(r) => r.horizon(self.meta.window),
            // The balance just before the window, too.
            Eval::Outflow(_) => self.meta.window + 1,
            Eval::ActorBurst(_) | Eval::FailedShare(_) => self.meta.window,
        }
    }
}

#[derive(Debug)]
enum Eval {
    Rate(rate::Rate),
    Outflow(outflow::Outflow),
    ActorBurst(actor_burst::ActorBurst),
    FailedShare(failed_share::FailedShare),
}

impl Eval {
    /// Drops the blocks after `to` (`None`: everything).
    fn rewind(&mut self, to: Option<u64>) {
        match self {
            Self::Rate(r) => r.rewind(to),
            Self::Outflow(r) => r.rewind(to),
            Self::ActorBurst(r) => r.rewind(to),
            Self::FailedShare(r) => r.rewind(to),
        }
    }

    /// Drops the blocks before `from`.
    fn prune(&mut self, from: u64) {
        match self {
            Self::Rate(r) => r.prune(from),
            Self::Outflow(r) => r.prune(from),
            Self::ActorBurst(r) => r.prune(from),
            Self::FailedShare(r) => r.prune(from),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolEvent;
    use bindings::DocumentRegistry::DocumentRegistered;

    use super::{Respond, RuleEngine, testing::*};

    const OTHER_CHAIN: &str = r#"
[chains.other]
chain_id = 5
rpc_urls = ["http://127.0.0.1:8546"]

[[contracts]]
name = "registry-other"
chain = "other"
kind = "DocumentRegistry"
address = "0x0000000000000000000000000000000000000abc"

[[rules]]
name = "elsewhere"
kind = "rate"
contracts = ["registry-other"]
window_blocks = 3
threshold = 0
severity = "info"
respond = "pause-affected"

[[rules]]
name = "here"
kind = "rate"
contracts = ["DocumentRegistry"]
window_blocks = 3
threshold = 0
baseline_factor = 2.0
baseline_windows = 2
severity = "info"
"#;

    fn registration(number: u64, fork: u8) -> crate::monitor::block::BlockData {
        let mut b = block(number, fork);
        b.logs = vec![log(
            REGISTRY,
            DocumentRegistered::SIGNATURE_HASH,
            tx(number, 0),
        )];
        b
    }

    #[test]
    fn an_engine_runs_its_chains_rules_only() {
        let m = manifest(OTHER_CHAIN);
        let mut local = RuleEngine::new(&m, "local", |_| ("TT".into(), 6)).expect("engine");
        assert_eq!(
            local.response("elsewhere"),
            Respond::None,
            "not on this chain"
        );
        assert_eq!(local.response("unknown"), Respond::None);
        let alerts = local.on_block(&registration(1, 0));
        assert_eq!(alerts.len(), 1, "the registry of `local` only: {alerts:#?}");
        assert_eq!(alerts[0].rule, "here");
        let other = RuleEngine::new(&m, "other", |_| ("TT".into(), 6)).expect("engine");
        assert_eq!(other.response("elsewhere"), Respond::PauseAffected);
        let mut other = other;
        assert!(
            other.on_block(&registration(2, 0)).is_empty(),
            "a block of `local`"
        );
        assert!(!other.needs_transactions() && !other.is_empty());
    }

    #[test]
    fn a_rewind_deeper_than_what_is_kept_starts_the_history_again() {
        let mut rules = engine(
            &OTHER_CHAIN[OTHER_CHAIN
                .find("[[rules]]\nname = \"here\"")
                .expect("rule")..],
        );
        let blocks: Vec<_> = (1..=400).map(|n| registration(n, 0)).collect();
        let last = feed(&mut rules, &blocks).pop().expect("alerts");
        assert_eq!(last.evidence["baseline"], 3.0, "one a block");
        rules.rewind(400 - super::KEPT_FOR_REORGS - 1);
        let again = rules.on_block(&registration(400 - super::KEPT_FOR_REORGS, 1));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].evidence["baseline"], serde_json::Value::Null);
        assert_eq!(again[0].evidence["blocks_seen"], 1);
    }
}

#[cfg(test)]
pub(crate) mod testing;
