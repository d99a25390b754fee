//! The manifest's `[[rules]]`: configurable monitor rules (`rate`, `outflow`, `actor-burst`,
//! `failed-share`), the keys each kind takes, and their validation against the contracts' ABIs.

use std::{collections::BTreeMap, fmt, str::FromStr};

use alloy::{
    json_abi::JsonAbi,
    primitives::{Address, B256, U256, utils::Unit},
};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::IntoDeserializer};
use toml::Spanned;

use super::{ConfigError, ContractConfig, ContractKind, Manifest, line_of};
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

/// Parses an amount written in an asset's units: `"2.5"`, or for the native coin also with a unit
/// (`"10 ether"`, `"30 gwei"`). Refuses negative and zero amounts and more decimals than the unit has.
pub fn parse_amount(text: &str, decimals: u8, native: bool) -> Result<U256, String> {
    let (number, unit) = amount_shape(text, native)?;
    let unit = unit.unwrap_or(decimals);
    let fraction = number.split_once('.').map_or("", |(_, f)| f);
    if fraction.len() > usize::from(unit) {
        return Err(format!("at most {unit} decimal places here"));
    }
    let amount: U256 = alloy::primitives::utils::parse_units(number, unit)
        .map_err(|e| e.to_string())?
        .get_absolute();
    if amount.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(amount)
}

/// Splits an amount into its number (checked to be a non-negative decimal) and, for the native
/// coin, the decimals of its unit word when it has one.
fn amount_shape(text: &str, native: bool) -> Result<(&str, Option<u8>), String> {
    let mut words = text.split_whitespace();
    let number = words.next().unwrap_or_default();
    let unit = match (words.next(), words.next()) {
        (None, _) => None,
        (Some(word), None) if native && !word.chars().all(|c| c.is_ascii_digit()) => Some(
            Unit::from_str(word)
                .map_err(|_| format!("unknown unit `{word}`: use ether, gwei or wei"))?
                .get(),
        ),
        (Some(_), None) if !native => {
            return Err(
                "a token amount is written in the token's own units, without a unit word, e.g. \"2.5\""
                    .into(),
            );
        }
        _ => {
            return Err("write a number and at most one unit, e.g. \"10 ether\" or \"2.5\"".into());
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err("not a positive decimal number".into());
    }
    Ok((number, unit))
}

/// The contracts `rule` watches, or what is wrong with its `contracts`/`event`/`asset`, with the
/// offset of the key at fault.
fn resolve_targets<'m>(
    rule: &RuleConfig,
    manifest: &'m Manifest,
) -> Result<Vec<&'m ContractConfig>, (usize, String)> {
    let name = rule.name();
    let kind = rule.kind;
    let event = rule.event();
    let has_event =
        |c: &ContractConfig| event.is_none_or(|e| !event_selectors(c.kind, e).is_empty());
    let token = rule.asset().token();
    let lists_token = |c: &ContractConfig| token.is_none_or(|t| c.tokens.contains(&t));
    let Some(entries) = &rule.contracts else {
        let all: Vec<&ContractConfig> = manifest
            .contracts
            .iter()
            .filter(|c| kind.applies_to(c.kind) && has_event(c) && lists_token(c))
            .collect();
        if all.is_empty() {
            let what = match (kind, event, token) {
                (RuleKind::Rate, Some(e), _) => {
                    format!("no contract of the manifest has an event `{e}`")
                }
                (RuleKind::Outflow, _, Some(t)) => {
                    format!("no fund-holding contract lists token {t} in its `tokens`")
                }
                _ => format!("no contract of the manifest is one a `{kind}` rule applies to"),
            };
            return Err((rule.name.span().start, format!("rule `{name}`: {what}")));
        }
        return Ok(all);
    };
    if entries.is_empty() {
        return Err((
            rule.name.span().start,
            format!(
                "rule `{name}`: `contracts` is empty: list contract names or kinds, or leave it out for all"
            ),
        ));
    }
    let mut targets: Vec<&ContractConfig> = Vec::new();
    for entry in entries {
        let at = entry.span().start;
        let wanted = entry.get_ref().as_str();
        let by_kind = ContractKind::deserialize(
            IntoDeserializer::<serde::de::value::Error>::into_deserializer(wanted),
        )
        .ok();
        let matched: Vec<&ContractConfig> = match manifest.contract(wanted) {
            Some(c) => vec![c],
            None => manifest
                .contracts
                .iter()
                .filter(|c| Some(c.kind) == by_kind)
                .collect(),
        };
        if matched.is_empty() {
            return Err((
                at,
                format!(
                    "rule `{name}`: `{wanted}` is neither a contract of the manifest nor a kind of one (contracts: {})",
                    manifest
                        .contracts
                        .iter()
                        .map(ContractConfig::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for c in matched {
            if !kind.applies_to(c.kind) {
                return Err((
                    at,
                    format!(
                        "rule `{name}`: a `{kind}` rule watches fund-holding contracts, and `{}` ({}) holds none",
                        c.name(),
                        c.kind
                    ),
                ));
            }
            if !has_event(c) {
                let e = event.unwrap_or_default();
                let offset = rule.event.as_ref().map_or(at, |e| e.span().start);
                return Err((
                    offset,
                    format!(
                        "rule `{name}`: unknown event `{e}` for `{}` ({}); its events: {}",
                        c.name(),
                        c.kind,
                        abi_of(c.kind)
                            .events
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !lists_token(c) {
                let offset = rule.asset.as_ref().map_or(at, |a| a.span().start);
                return Err((
                    offset,
                    format!(
                        "rule `{name}`: `{}` does not list the rule's token in its `tokens`, so its balance is not read: add it there",
                        c.name()
                    ),
                ));
            }
            if !targets.iter().any(|t| t.name() == c.name()) {
                targets.push(c);
            }
        }
    }
    Ok(targets)
}

/// Checks every `[[rules]]` entry of `manifest`: unique names that are not built in, only the
/// keys of the rule's kind, sensible numbers, contracts and events that exist, amounts that parse.
pub(super) fn validate(
    manifest: &Manifest,
    text: &str,
    path: &std::path::Path,
) -> Result<(), ConfigError> {
    let invalid = |offset: usize, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, offset),
        message,
    };
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for rule in &manifest.rules {
        let name = rule.name();
        let at = rule.name.span().start;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                at,
                format!("rule name `{name}`: use letters, digits, - and _ only"),
            ));
        }
        if BUILT_IN_RULES.contains(&name) {
            return Err(invalid(
                at,
                format!(
                    "rule name `{name}` is taken by a built-in rule ({}): choose another",
                    BUILT_IN_RULES.join(", ")
                ),
            ));
        }
        if let Some(first) = names.insert(name, at) {
            return Err(invalid(
                at,
                format!(
                    "duplicate rule name `{name}` (first used on line {}): names must be unique",
                    line_of(text, first)
                ),
            ));
        }
        let kind = rule.kind;
        if let Some((key, offset)) = rule
            .kind_keys()
            .into_iter()
            .find(|(key, _)| !kind.own_keys().contains(key))
        {
            return Err(invalid(
                offset,
                format!(
                    "rule `{name}`: `{key}` does not apply to kind `{kind}` (it takes {}, and contracts, window_blocks, cooldown_blocks, severity, respond)",
                    kind.own_keys().join(", ")
                ),
            ));
        }
        if rule.preempt && (rule.respond == Respond::None || kind != RuleKind::Outflow) {
            return Err(invalid(
                at,
                format!(
                    "rule `{name}`: preempt = true needs an `outflow` rule with respond (pause-affected or pause-all): a pre-emption is a pause answering a pending drain"
                ),
            ));
        }
        let window = rule.window();
        if !(1..=MAX_WINDOW_BLOCKS).contains(&window) {
            return Err(invalid(
                rule.window_blocks.span().start,
                format!("rule `{name}`: window_blocks must be between 1 and {MAX_WINDOW_BLOCKS}"),
            ));
        }
        let share = |bounds: &str, ok: fn(f64) -> bool| -> Result<(), ConfigError> {
            match &rule.max_share {
                Some(s) if !ok(*s.get_ref()) => Err(invalid(
                    s.span().start,
                    format!("rule `{name}`: max_share is a fraction {bounds} (0.2 is 20 %)"),
                )),
                _ => Ok(()),
            }
        };
        match kind {
            RuleKind::Rate => {
                if rule.threshold.is_none() && rule.baseline_factor.is_none() {
                    return Err(invalid(
                        at,
                        format!(
                            "rule `{name}`: a `rate` rule needs threshold, baseline_factor, or both"
                        ),
                    ));
                }
                if let Some(f) = &rule.baseline_factor {
                    let f_value = *f.get_ref();
                    if !f_value.is_finite() || f_value < 1.0 {
                        return Err(invalid(
                            f.span().start,
                            format!(
                                "rule `{name}`: baseline_factor must be a number of at least 1.0 (5.0 fires at five times the usual count)"
                            ),
                        ));
                    }
                }
                if let Some(b) = &rule.baseline_windows {
                    if !(1..=MAX_BASELINE_WINDOWS).contains(b.get_ref()) {
                        return Err(invalid(
                            b.span().start,
                            format!(
                                "rule `{name}`: baseline_windows must be between 1 and {MAX_BASELINE_WINDOWS}"
                            ),
                        ));
                    }
                    if rule.baseline_factor.is_none() {
                        return Err(invalid(
                            b.span().start,
                            format!(
                                "rule `{name}`: baseline_windows is used only with baseline_factor"
                            ),
                        ));
                    }
                }
            }
            RuleKind::Outflow => {
                if rule.max_share.is_none() && rule.max_amount.is_none() {
                    return Err(invalid(
                        at,
                        format!(
                            "rule `{name}`: an `outflow` rule needs max_share, max_amount, or both"
                        ),
                    ));
                }
                share("above 0 and at most 1", |s| s > 0.0 && s <= 1.0)?;
                if let (Some(amount), Asset::Native) = (&rule.max_amount, rule.asset()) {
                    parse_amount(amount.get_ref(), 18, true).map_err(|e| {
                        invalid(
                            amount.span().start,
                            format!("rule `{name}`: max_amount `{}`: {e}", amount.get_ref()),
                        )
                    })?;
                } else if let Some(amount) = &rule.max_amount {
                    // The token's decimals come from the chain: check the shape now, the
                    // decimals when the monitor starts.
                    amount_shape(amount.get_ref(), false).map_err(|e| {
                        invalid(
                            amount.span().start,
                            format!("rule `{name}`: max_amount `{}`: {e}", amount.get_ref()),
                        )
                    })?;
                }
            }
            RuleKind::ActorBurst => match &rule.max_calls {
                None => {
                    return Err(invalid(
                        at,
                        format!(
                            "rule `{name}`: an `actor-burst` rule needs max_calls (per account per window)"
                        ),
                    ));
                }
                Some(m) if *m.get_ref() == 0 => {
                    return Err(invalid(
                        m.span().start,
                        format!("rule `{name}`: max_calls must be at least 1"),
                    ));
                }
                Some(_) => {}
            },
            RuleKind::FailedShare => {
                if rule.max_share.is_none() || rule.min_transactions.is_none() {
                    return Err(invalid(
                        at,
                        format!(
                            "rule `{name}`: a `failed-share` rule needs max_share and min_transactions (no verdict on fewer)"
                        ),
                    ));
                }
                share("from 0 and below 1", |s| (0.0..1.0).contains(&s))?;
                if let Some(m) = rule.min_transactions.as_ref().filter(|m| *m.get_ref() == 0) {
                    return Err(invalid(
                        m.span().start,
                        format!("rule `{name}`: min_transactions must be at least 1"),
                    ));
                }
            }
        }
        resolve_targets(rule, manifest).map_err(|(offset, message)| invalid(offset, message))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::monitor::rules::testing::{TOKEN, manifest_text};

    /// The issue's two examples.
    const EXAMPLE: &str = r#"
[[rules]]
name = "registration-burst"
kind = "rate"
contracts = ["registry"]
event = "DocumentRegistered"
window_blocks = 10
threshold = 20
baseline_factor = 5.0
baseline_windows = 20
cooldown_blocks = 10
severity = "warning"
respond = "none"

[[rules]]
name = "escrow-drain"
kind = "outflow"
contracts = ["PaymentEscrow"]
window_blocks = 5
asset = "native"
max_share = 0.2
max_amount = "10 ether"
severity = "critical"
respond = "pause-all"
"#;

    fn parse(rules: &str) -> Result<Manifest, ConfigError> {
        Manifest::parse(&manifest_text(rules), Path::new("guardian.toml"))
    }

    /// The error for `rules`, checked to name line `line` of the manifest.
    fn refused(rules: &str, line: usize) -> String {
        let err = parse(rules).expect_err("refused").to_string();
        assert!(
            err.starts_with(&format!("guardian.toml:{line}:")),
            "expected line {line}: {err}"
        );
        err
    }

    /// The line of the manifest on which `needle` (in the rules) first appears.
    fn line(rules: &str, needle: &str) -> usize {
        let text = manifest_text(rules);
        line_of(&text, text.find(needle).expect("needle"))
    }

    #[test]
    fn preempt_needs_an_outflow_rule_that_responds() {
        let ok = EXAMPLE.replace(
            "respond = \"pause-all\"",
            "respond = \"pause-all\"\npreempt = true",
        );
        let m = parse(&ok).expect("an outflow rule with respond may pre-empt");
        assert!(m.rules[1].preempt && !m.rules[0].preempt);
        let silent = EXAMPLE.replace("respond = \"pause-all\"", "preempt = true");
        let err = refused(&silent, line(&silent, "name = \"escrow-drain\""));
        assert!(
            err.contains("preempt = true needs an `outflow` rule with respond"),
            "{err}"
        );
        let rate = EXAMPLE.replace(
            "respond = \"none\"",
            "respond = \"pause-all\"\npreempt = true",
        );
        let err = refused(&rate, line(&rate, "name = \"registration-burst\""));
        assert!(err.contains("preempt"), "{err}");
    }

    #[test]
    fn the_documented_example_parses_and_round_trips() {
        let m = parse(EXAMPLE).expect("valid");
        let [burst, drain] = &m.rules[..] else {
            panic!("two rules")
        };
        assert_eq!((burst.kind, burst.cooldown()), (RuleKind::Rate, 10));
        assert_eq!(burst.event(), Some("DocumentRegistered"));
        assert_eq!(
            burst
                .targets(&m)
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>(),
            ["registry"]
        );
        assert_eq!(
            (drain.respond, drain.asset()),
            (Respond::PauseAll, Asset::Native)
        );
        assert_eq!(drain.targets(&m)[0].name(), "escrow");
        let again = Manifest::parse(&m.to_toml(), Path::new("again.toml")).expect("round trip");
        assert_eq!(again.rules.len(), 2);
        assert_eq!(
            again.rules[1]
                .max_amount
                .as_ref()
                .map(|a| a.get_ref().as_str()),
            Some("10 ether")
        );
        // A manifest without rules writes none.
        let none = parse("").expect("valid");
        assert!(!none.to_toml().contains("rules"), "{}", none.to_toml());
    }

    #[test]
    fn defaults_apply_to_every_contract_the_kind_fits() {
        let rules = r#"
[[rules]]
name = "all-events"
kind = "rate"
window_blocks = 4
threshold = 1
severity = "info"

[[rules]]
name = "any-drain"
kind = "outflow"
window_blocks = 4
max_share = 0.5
severity = "high"

[[rules]]
name = "token-drain"
kind = "outflow"
window_blocks = 4
asset = "TOKEN"
max_amount = "5"
severity = "high"
"#
        .replace("TOKEN", &TOKEN.to_string());
        let m = parse(&rules).expect("valid");
        let names = |r: &RuleConfig| {
            r.targets(&m)
                .iter()
                .map(|c| c.name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&m.rules[0]), ["registry", "escrow"]);
        assert_eq!(m.rules[0].cooldown(), 4, "the window");
        assert_eq!(m.rules[0].baseline_windows(), DEFAULT_BASELINE_WINDOWS);
        assert_eq!(names(&m.rules[1]), ["registry", "escrow"]);
        assert_eq!(
            names(&m.rules[2]),
            ["escrow"],
            "only the escrow lists the token"
        );
        assert_eq!(m.rules[2].asset(), Asset::Token(TOKEN));
    }

    #[test]
    fn a_key_of_another_kind_is_refused_by_name_and_line() {
        let rules = EXAMPLE.replace("threshold = 20", "threshold = 20\nmax_calls = 3");
        let err = refused(&rules, line(&rules, "max_calls"));
        assert!(
            err.contains("`max_calls` does not apply to kind `rate`"),
            "{err}"
        );
        let rules = EXAMPLE.replace("max_share = 0.2", "max_share = 0.2\nevent = \"Paused\"");
        let err = refused(&rules, line(&rules, "event = \"Paused\""));
        assert!(
            err.contains("`event` does not apply to kind `outflow`"),
            "{err}"
        );
        // A key of no kind at all: the parser's own error, with its line.
        let rules = EXAMPLE.replace("respond = \"none\"", "respond = \"none\"\ncolour = 1");
        let err = refused(&rules, line(&rules, "colour"));
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn an_unknown_event_or_contract_is_refused_with_its_line() {
        let rules = EXAMPLE.replace("\"DocumentRegistered\"", "\"DocumentBurned\"");
        let err = refused(&rules, line(&rules, "DocumentBurned"));
        assert!(
            err.contains("unknown event `DocumentBurned` for `registry`")
                && err.contains("DocumentRegistered"),
            "{err}"
        );
        // Without contracts: no contract has it.
        let rules = rules.replace("contracts = [\"registry\"]\n", "");
        let err = refused(&rules, line(&rules, "registration-burst"));
        assert!(
            err.contains("no contract of the manifest has an event `DocumentBurned`"),
            "{err}"
        );
        let rules = EXAMPLE.replace("[\"registry\"]", "[\"registry\", \"vault\"]");
        let err = refused(&rules, line(&rules, "vault"));
        assert!(err.contains("`vault` is neither a contract"), "{err}");
        // An escrow-only event on the registry.
        let rules = EXAMPLE.replace("\"DocumentRegistered\"", "\"PaymentDeposited\"");
        refused(&rules, line(&rules, "PaymentDeposited"));
    }

    #[test]
    fn amounts_must_parse_in_the_assets_units() {
        for bad in [
            "10 bananas",
            "-1",
            "ten",
            "0",
            "1.5 wei",
            "1 ether extra",
            "",
        ] {
            let rules = EXAMPLE.replace("\"10 ether\"", &format!("\"{bad}\""));
            let err = refused(&rules, line(&rules, "max_amount"));
            assert!(err.contains("max_amount"), "{bad}: {err}");
        }
        let eth = U256::from(10).pow(U256::from(18));
        assert_eq!(parse_amount("10 ether", 18, true), Ok(U256::from(10) * eth));
        assert_eq!(
            parse_amount("2.5", 18, true),
            Ok(U256::from(25) * eth / U256::from(10))
        );
        assert_eq!(
            parse_amount("30 gwei", 18, true),
            Ok(U256::from(30_000_000_000u64))
        );
        assert_eq!(parse_amount("2.5", 6, false), Ok(U256::from(2_500_000)));
        assert!(
            parse_amount("2.1234567", 6, false).is_err(),
            "never truncated"
        );
        assert!(parse_amount("2 USDC", 6, false).is_err());
        // A token's amount is checked for shape at load; its decimals come from the chain.
        let token = EXAMPLE
            .replace("asset = \"native\"", &format!("asset = \"{TOKEN}\""))
            .replace(
                "contracts = [\"PaymentEscrow\"]",
                "contracts = [\"escrow\"]",
            );
        refused(&token, line(&token, "max_amount"));
        parse(&token.replace("\"10 ether\"", "\"2.5\"")).expect("a token amount");
    }

    #[test]
    fn names_are_unique_and_not_built_in() {
        let twice = format!(
            "{EXAMPLE}{}",
            &EXAMPLE[..EXAMPLE.find("[[rules]]\nname = \"escrow").expect("second")]
        );
        let err = parse(&twice).expect_err("duplicate").to_string();
        assert!(
            err.contains("duplicate rule name `registration-burst` (first used on line 19)"),
            "{err}"
        );
        for name in BUILT_IN_RULES {
            let rules = EXAMPLE.replace("escrow-drain", name);
            let err = refused(&rules, line(&rules, &format!("\"{name}\"")));
            assert!(err.contains("taken by a built-in rule"), "{err}");
        }
        let rules = EXAMPLE.replace("escrow-drain", "escrow drain");
        refused(&rules, line(&rules, "escrow drain"));
    }

    #[test]
    fn each_kind_needs_its_limits() {
        let rules = EXAMPLE
            .replace("threshold = 20\n", "")
            .replace("baseline_factor = 5.0\n", "")
            .replace("baseline_windows = 20\n", "");
        let err = refused(&rules, line(&rules, "registration-burst"));
        assert!(
            err.contains("needs threshold, baseline_factor, or both"),
            "{err}"
        );
        let rules = EXAMPLE
            .replace("max_share = 0.2\n", "")
            .replace("max_amount = \"10 ether\"\n", "");
        refused(&rules, line(&rules, "escrow-drain"));
        for (from, to) in [
            ("max_share = 0.2", "max_share = 1.5"),
            ("baseline_factor = 5.0", "baseline_factor = 0.5"),
            ("window_blocks = 10", "window_blocks = 0"),
        ] {
            let rules = EXAMPLE.replace(from, to);
            refused(&rules, line(&rules, to));
        }
        let actor = "[[rules]]\nname = \"a\"\nkind = \"actor-burst\"\nwindow_blocks = 5\nseverity = \"high\"\n";
        let err = refused(actor, line(actor, "name = \"a\""));
        assert!(err.contains("needs max_calls"), "{err}");
        let failed = "[[rules]]\nname = \"f\"\nkind = \"failed-share\"\nwindow_blocks = 5\nmax_share = 0.5\nseverity = \"high\"\n";
        let err = refused(failed, line(failed, "name = \"f\""));
        assert!(err.contains("min_transactions"), "{err}");
        parse(&failed.replace("severity", "min_transactions = 3\nseverity")).expect("valid");
        // An outflow rule on a contract that holds no funds.
        let drain = &EXAMPLE[EXAMPLE.find("[[rules]]\nname = \"escrow").expect("second")..];
        let text = manifest_text(drain).replace(
            "kind = \"DocumentRegistry\"",
            "kind = \"OwnershipTokenizer\"",
        );
        let text = text.replace(
            "contracts = [\"PaymentEscrow\"]",
            "contracts = [\"registry\"]",
        );
        let err = Manifest::parse(&text, Path::new("guardian.toml"))
            .expect_err("tokenizer holds no funds")
            .to_string();
        assert!(err.contains("holds none"), "{err}");
    }
}
