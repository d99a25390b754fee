//! The configurable rules (`[[rules]]`) evaluated block by block on one chain: pure and
//! deterministic, fed one [`BlockData`] per block in order, able to rewind after a reorg.
//!
//! Every rule keeps what each block contributed (event counts, balance steps, transactions), so a
//! window is a sum over recorded blocks and a rewind drops exactly the orphaned blocks' share.

mod actor_burst;
mod failed_share;
mod outflow;
mod rate;

use std::collections::{BTreeMap, VecDeque};

use alloy::primitives::{Address, B256, TxHash};
use serde_json::Value;

pub use crate::config::rules::{Asset, Respond, RuleKind};
use crate::{
    alert::{NewAlert, Severity},
    config::{Manifest, RuleConfig},
    monitor::block::BlockData,
};

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

/// What every alert of a rule shares.
#[derive(Debug)]
struct Meta {
    name: String,
    kind: RuleKind,
    severity: Severity,
    respond: Respond,
    window: u64,
    cooldown: u64,
    chain: String,
}

impl Meta {
    fn new(config: &RuleConfig, chain: &str) -> Self {
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
    fn window_start(&self, number: u64) -> u64 {
        number.saturating_sub(self.window - 1)
    }
}

/// One rule evaluated on one block.
struct At<'a> {
    meta: &'a Meta,
    block: &'a BlockData,
    /// The first block of the engine's history.
    first: u64,
}

impl At<'_> {
    /// The first block of the current window.
    fn window_start(&self) -> u64 {
        self.meta.window_start(self.block.number)
    }

    /// How many blocks of the current window were seen.
    fn blocks_seen(&self) -> u64 {
        self.block.number - self.window_start().max(self.first) + 1
    }

    fn alert(&self, finding: Finding) -> NewAlert {
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
struct Finding {
    /// What the cooldown and deduplication are per: a contract's name, `chain=NAME`, or
    /// `chain=NAME:0xACTOR`.
    scope: String,
    /// The contract the alert is about, when there is one.
    contract: Option<(String, Address)>,
    /// The contracts a `pause-affected` response pauses.
    affected: Vec<String>,
    tx_hashes: Vec<TxHash>,
    summary: String,
    evidence: Value,
}

/// The blocks after which each scope of a rule last fired, for its cooldown.
#[derive(Debug, Default)]
struct Cooldowns {
    fired: BTreeMap<String, Vec<u64>>,
}

impl Cooldowns {
    /// Whether `scope` may fire at `number`: it has not fired in the `cooldown` blocks before.
    fn allows(&self, scope: &str, number: u64, cooldown: u64) -> bool {
        self.fired
            .get(scope)
            .and_then(|f| f.last())
            .is_none_or(|&last| number > last && number - last >= cooldown)
    }

    fn record(&mut self, scope: &str, number: u64) {
        self.fired
            .entry(scope.to_string())
            .or_default()
            .push(number);
    }

    fn rewind(&mut self, to: u64) {
        for fired in self.fired.values_mut() {
            fired.retain(|&n| n <= to);
        }
        self.fired.retain(|_, f| !f.is_empty());
    }

    fn prune(&mut self, from: u64) {
        for fired in self.fired.values_mut() {
            // The last one stays: it is what the cooldown compares with.
            let keep = fired.iter().rposition(|&n| n < from).unwrap_or(0);
            fired.drain(..keep);
        }
    }
}

/// What some blocks contributed, in block order (blocks that contributed nothing may be absent).
#[derive(Debug, Clone)]
struct Series<T> {
    entries: VecDeque<(u64, T)>,
}

impl<T> Default for Series<T> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }
}

impl<T> Series<T> {
    fn push(&mut self, number: u64, value: T) {
        self.entries.push_back((number, value));
    }

    fn last_block(&self) -> Option<u64> {
        self.entries.back().map(|(n, _)| *n)
    }

    fn last(&self) -> Option<&T> {
        self.entries.back().map(|(_, v)| v)
    }

    fn at(&self, number: u64) -> Option<&T> {
        self.entries
            .iter()
            .rev()
            .find(|(n, _)| *n == number)
            .map(|(_, v)| v)
    }

    /// Entries of blocks `from..=to`.
    fn range(&self, from: u64, to: u64) -> impl Iterator<Item = &(u64, T)> {
        self.entries
            .iter()
            .skip_while(move |(n, _)| *n < from)
            .take_while(move |(n, _)| *n <= to)
    }

    /// The last entry at or before `number`.
    fn at_or_before(&self, number: u64) -> Option<&(u64, T)> {
        self.entries.iter().rev().find(|(n, _)| *n <= number)
    }

    /// Drops the blocks after `to` (`None`: everything).
    fn rewind(&mut self, to: Option<u64>) {
        match to {
            Some(to) => {
                while self.entries.back().is_some_and(|(n, _)| *n > to) {
                    self.entries.pop_back();
                }
            }
            None => self.entries.clear(),
        }
    }

    /// Drops the blocks before `from`.
    fn prune(&mut self, from: u64) {
        while self.entries.front().is_some_and(|(n, _)| *n < from) {
            self.entries.pop_front();
        }
    }
}

/// The transaction hashes of `hashes` without repeats, in order.
fn unique(hashes: impl IntoIterator<Item = TxHash>) -> Vec<TxHash> {
    let mut seen = std::collections::HashSet::new();
    hashes.into_iter().filter(|h| seen.insert(*h)).collect()
}

/// A share as a percentage for people: `0.3` is `30%`.
fn percent(share: f64) -> String {
    let p = share * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{}%", p.round())
    } else {
        format!("{p:.1}%")
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
pub(crate) mod testing {
    //! Synthetic blocks and manifests for the rules' unit tests.

    use std::path::Path;

    use alloy::{
        primitives::{Address, B256, Bytes, LogData, TxHash, U256, address},
        rpc::types::Log,
    };

    use super::RuleEngine;
    use crate::{
        alert::NewAlert,
        config::Manifest,
        monitor::block::{BalanceAt, BlockData, SuiteTx},
    };

    pub const REGISTRY: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    pub const ESCROW: Address = address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
    pub const TOKEN: Address = address!("0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0");

    /// A manifest with a registry and an escrow on chain `local`, and `rules` appended.
    pub fn manifest(rules: &str) -> Manifest {
        Manifest::parse(&manifest_text(rules), Path::new("guardian.toml"))
            .unwrap_or_else(|e| panic!("valid manifest: {e}"))
    }

    /// The engine for chain `local` of [`manifest`]; tokens are `TT` with 6 decimals.
    pub fn engine(rules: &str) -> RuleEngine {
        RuleEngine::new(&manifest(rules), "local", |_| ("TT".to_string(), 6)).expect("engine")
    }

    /// Feeds `blocks` in order and returns every alert raised.
    pub fn feed(engine: &mut RuleEngine, blocks: &[BlockData]) -> Vec<NewAlert> {
        blocks.iter().flat_map(|b| engine.on_block(b)).collect()
    }

    pub fn manifest_text(rules: &str) -> String {
        format!(
            r#"[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]

[[contracts]]
name = "registry"
chain = "local"
kind = "DocumentRegistry"
address = "{REGISTRY}"

[[contracts]]
name = "escrow"
chain = "local"
kind = "PaymentEscrow"
address = "{ESCROW}"
tokens = ["{TOKEN}"]
{rules}"#
        )
    }

    /// An empty block `number` of chain `local`, with a hash derived from `number` and `fork`.
    pub fn block(number: u64, fork: u8) -> BlockData {
        BlockData {
            chain: "local".into(),
            chain_id: 31337,
            number,
            hash: hash(number, fork),
            parent_hash: hash(number.saturating_sub(1), fork),
            timestamp: number * 12,
            ..BlockData::default()
        }
    }

    pub fn hash(number: u64, fork: u8) -> B256 {
        let mut h = B256::left_padding_from(&number.to_be_bytes());
        h.0[0] = fork;
        h
    }

    /// A transaction hash made from two numbers.
    pub fn tx(a: u64, b: u64) -> TxHash {
        let mut h = B256::left_padding_from(&b.to_be_bytes());
        h.0[..8].copy_from_slice(&a.to_be_bytes());
        h
    }

    /// A log of `address` with event `topic0`, in transaction `tx_hash`.
    pub fn log(address: Address, topic0: B256, tx_hash: TxHash) -> Log {
        Log {
            inner: alloy::primitives::Log {
                address,
                data: LogData::new_unchecked(vec![topic0], Bytes::new()),
            },
            transaction_hash: Some(tx_hash),
            ..Log::default()
        }
    }

    /// The escrow's holding of `token` at a block.
    pub fn balance(token: Option<Address>, amount: U256) -> BalanceAt {
        BalanceAt {
            contract: "escrow".into(),
            address: ESCROW,
            token,
            amount,
            owed: Some(U256::ZERO),
        }
    }

    /// A transaction to `to`.
    pub fn suite_tx(hash: TxHash, from: Address, to: Address, success: bool) -> SuiteTx {
        SuiteTx {
            hash,
            from,
            to,
            success,
        }
    }

    /// One ether.
    pub fn ether(n: u64) -> U256 {
        U256::from(n) * U256::from(10).pow(U256::from(18))
    }
}
