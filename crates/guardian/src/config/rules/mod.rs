//! The manifest's `[[rules]]`: configurable monitor rules (`rate`, `outflow`, `actor-burst`,
//! `failed-share`), the keys each kind takes, and their validation against the contracts' ABIs.

use std::fmt;

use alloy::{
    json_abi::JsonAbi,
    primitives::{Address, B256},
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::Spanned;

mod amount;
mod targets;
mod validate;

pub use self::amount::parse_amount;
use self::targets::resolve_targets;
pub(super) use self::validate::validate;
use super::{ContractConfig, ContractKind, Manifest};
use crate::alert::Severity;

/// Rule names the monitor uses for its built-in rules; `[[rules]]` may not take them.
pub const BUILT_IN_RULES: [&str; 4] = ["privileged", "insolvent", "monitor-health", "bounty-sla"];

/// How many past windows make a `rate` rule's baseline when `baseline_windows` is not given.
pub const DEFAULT_BASELINE_WINDOWS: u64 = 20;

/// The longest window a rule may take, in blocks.
pub const MAX_WINDOW_BLOCKS: u64 = 100_000;

/// The most past windows a `rate` baseline may average.
pub const MAX_BASELINE_WINDOWS: u64 = 1_000;

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// Event count per contract per window, over a threshold or a multiple of its baseline.
    Rate,
    /// Value leaving a fund-holding contract per window, from its balance at each block.
    Outflow,
    /// One account behind more than `max_calls` transactions to the suite per window.
    ActorBurst,
    /// The share of failed transactions to the suite per window.
    FailedShare,
}

impl RuleKind {
    /// The name used in the manifest and in alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::Outflow => "outflow",
            Self::ActorBurst => "actor-burst",
            Self::FailedShare => "failed-share",
        }
    }

    /// The keys a rule of this kind takes besides the common ones.
    fn own_keys(self) -> &'static [&'static str] {
        match self {
            Self::Rate => &["event", "threshold", "baseline_factor", "baseline_windows"],
            Self::Outflow => &["asset", "max_share", "max_amount"],
            Self::ActorBurst => &["max_calls"],
            Self::FailedShare => &["max_share", "min_transactions"],
        }
    }

    /// Whether a rule of this kind can watch a contract of `kind`.
    pub fn applies_to(self, kind: ContractKind) -> bool {
        match self {
            Self::Outflow => kind.holds_funds(),
            Self::Rate | Self::ActorBurst | Self::FailedShare => true,
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the monitor does when a rule fires, besides raising the alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Respond {
    /// Nothing: the alert is raised and notified.
    #[default]
    None,
    /// Pause the contracts the alert is about (its evidence's `affected`).
    PauseAffected,
    /// Pause every contract on every chain.
    PauseAll,
}

impl Respond {
    /// Whether this is [`Respond::None`] (serde's `skip_serializing_if`).
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }
}

/// The asset an `outflow` rule watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Asset {
    /// The chain's native coin.
    #[default]
    Native,
    /// An ERC-20 token.
    Token(Address),
}

impl Asset {
    /// The token address (`None` for the native coin), as in [`crate::monitor::block::BalanceAt`].
    pub fn token(self) -> Option<Address> {
        match self {
            Self::Native => None,
            Self::Token(t) => Some(t),
        }
    }
}

impl<'de> Deserialize<'de> for Asset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "native" {
            return Ok(Self::Native);
        }
        text.parse::<Address>().map(Self::Token).map_err(|_| {
            serde::de::Error::custom(
                "asset must be \"native\" or a token address (0x and 40 hex digits)",
            )
        })
    }
}

impl Serialize for Asset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Native => serializer.serialize_str("native"),
            Self::Token(t) => serializer.serialize_str(&t.to_checksum(None)),
        }
    }
}

/// One `[[rules]]` entry. Every kind's keys are accepted by the parser; [`validate`] then refuses,
/// by name and line, the keys that do not belong to the rule's kind.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name; used in alerts and deduplication keys.
    pub name: Spanned<String>,
    /// What the rule measures.
    pub kind: RuleKind,
    /// Contract names or kinds; default every contract of the manifest the kind applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contracts: Option<Vec<Spanned<String>>>,
    /// `rate`: the event counted (any event of the contract when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Spanned<String>>,
    /// The sliding window: the last N blocks.
    pub window_blocks: Spanned<u64>,
    /// `rate`: fires when the window's count exceeds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Spanned<u64>>,
    /// `rate`: fires when the window's count exceeds this × the rolling baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_factor: Option<Spanned<f64>>,
    /// `rate`: how many past windows make the baseline (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_windows: Option<Spanned<u64>>,
    /// Blocks after an alert during which the rule raises no other for the same contract
    /// (default: the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_blocks: Option<Spanned<u64>>,
    /// The alerts' severity.
    pub severity: Severity,
    /// What the monitor does when the rule fires.
    #[serde(default, skip_serializing_if = "Respond::is_none")]
    pub respond: Respond,
    /// `outflow` with `respond`: also answer a pending transaction whose simulated effect breaks
    /// the rule, with a pause priced to be mined ahead of it (`guardian monitor --mempool`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preempt: bool,
    /// `outflow`: `native` or a token address (default native).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<Spanned<Asset>>,
    /// `outflow`: the largest share of the window's starting balance that may leave;
    /// `failed-share`: the largest share of failed transactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_share: Option<Spanned<f64>>,
    /// `outflow`: the largest amount that may leave, in the asset's units (`"10 ether"`, `"2.5"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<Spanned<String>>,
    /// `actor-burst`: the most transactions one account may send to the suite per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<Spanned<u64>>,
    /// `failed-share`: no verdict on fewer transactions than this in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_transactions: Option<Spanned<u64>>,
}

impl RuleConfig {
    /// The rule's name.
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    /// The window, in blocks.
    pub fn window(&self) -> u64 {
        *self.window_blocks.get_ref()
    }

    /// The cooldown, in blocks (the window when not given).
    pub fn cooldown(&self) -> u64 {
        self.cooldown_blocks
            .as_ref()
            .map_or(self.window(), |c| *c.get_ref())
    }

    /// How many past windows make the baseline.
    pub fn baseline_windows(&self) -> u64 {
        self.baseline_windows
            .as_ref()
            .map_or(DEFAULT_BASELINE_WINDOWS, |b| *b.get_ref())
    }

    /// The `outflow` rule's asset (native when not given).
    pub fn asset(&self) -> Asset {
        self.asset
            .as_ref()
            .map(|a| *a.get_ref())
            .unwrap_or_default()
    }

    /// The `rate` rule's event name, if any.
    pub fn event(&self) -> Option<&str> {
        self.event.as_ref().map(|e| e.get_ref().as_str())
    }

    /// The keys present in this entry that are specific to some kind, with their offset.
    fn kind_keys(&self) -> Vec<(&'static str, usize)> {
        let mut keys = Vec::new();
        let mut add = |key: &'static str, span: Option<std::ops::Range<usize>>| {
            if let Some(s) = span {
                keys.push((key, s.start));
            }
        };
        add("event", self.event.as_ref().map(Spanned::span));
        add("threshold", self.threshold.as_ref().map(Spanned::span));
        add(
            "baseline_factor",
            self.baseline_factor.as_ref().map(Spanned::span),
        );
        add(
            "baseline_windows",
            self.baseline_windows.as_ref().map(Spanned::span),
        );
        add("asset", self.asset.as_ref().map(Spanned::span));
        add("max_share", self.max_share.as_ref().map(Spanned::span));
        add("max_amount", self.max_amount.as_ref().map(Spanned::span));
        add("max_calls", self.max_calls.as_ref().map(Spanned::span));
        add(
            "min_transactions",
            self.min_transactions.as_ref().map(Spanned::span),
        );
        keys
    }

    /// The manifest contracts this rule watches (all chains), as validated at load.
    pub fn targets<'m>(&self, manifest: &'m Manifest) -> Vec<&'m ContractConfig> {
        resolve_targets(self, manifest).unwrap_or_default()
    }
}

/// The ABI of a contract kind, from the bindings.
pub fn abi_of(kind: ContractKind) -> JsonAbi {
    match kind {
        ContractKind::DocumentRegistry => bindings::DocumentRegistry::abi::contract(),
        ContractKind::OwnershipTokenizer => bindings::OwnershipTokenizer::abi::contract(),
        ContractKind::PaymentEscrow => bindings::PaymentEscrow::abi::contract(),
        ContractKind::AuditResolver => bindings::AuditResolver::abi::contract(),
        ContractKind::EmergencyBrake => bindings::EmergencyBrake::abi::contract(),
        ContractKind::TestToken => bindings::TestToken::abi::contract(),
    }
}

/// The topic-0 hashes of the events called `name` in a contract of `kind` (empty when it has none).
pub fn event_selectors(kind: ContractKind, name: &str) -> Vec<B256> {
    abi_of(kind)
        .events
        .get(name)
        .map(|events| {
            events
                .iter()
                .filter(|e| !e.anonymous)
                .map(|e| e.selector())
                .collect()
        })
        .unwrap_or_default()
}
