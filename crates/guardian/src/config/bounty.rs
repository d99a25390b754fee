//! `[bounty]`: the bug bounty desk's settings (the team's age key for proofs of concept, the
//! security e-mail, acknowledgement clocks, the public endpoint's limits, and how rewards are
//! assessed: prices, the share of the funds at risk, the floor and the fixed amounts).

use std::collections::BTreeMap;

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use std::{fmt, str::FromStr};

/// How severe a bug bounty report is (as claimed by the researcher, later as confirmed by the
/// team): the seed's reward tiers. `crate::bounty::Severity` is this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Funds stolen, frozen for good, or the protocol made insolvent.
    Critical,
    /// Yield stolen or frozen, funds frozen for a while.
    High,
    /// The protocol unable to operate, griefing, gas theft.
    Medium,
    /// Promised returns not delivered.
    Low,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 4] = [Self::Critical, Self::High, Self::Medium, Self::Low];

    /// The lowercase name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }

    /// The most this severity pays, in US dollars (the seed's tiers).
    pub fn cap_usd(self) -> u64 {
        match self {
            Self::Critical => 100_000,
            Self::High => 25_000,
            Self::Medium => 5_000,
            Self::Low => 1_000,
        }
    }

    /// Whether a report of this severity must come with a proof of concept.
    pub fn needs_proof_of_concept(self) -> bool {
        matches!(self, Self::Critical | Self::High)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| "must be one of critical, high, medium, low".to_string())
    }
}

/// `[bounty]`: how `guardian serve` takes researchers' reports.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BountySettings {
    /// The team's age X25519 public key (`age1...`, from `guardian bounty keygen`): proofs of
    /// concept are encrypted to it before they are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_public_key: Option<String>,
    /// Where researchers may write; default `[incident] security_email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_email: Option<String>,
    /// Hours to acknowledge a critical report.
    #[serde(default = "BountySettings::default_ack_hours_critical")]
    pub ack_hours_critical: u32,
    /// Hours to acknowledge any other report.
    #[serde(default = "BountySettings::default_ack_hours_other")]
    pub ack_hours_other: u32,
    /// New reports one client (an IPv4 address or an IPv6 /64) may make per hour; only
    /// accepted ones count.
    #[serde(default = "BountySettings::default_rate_limit_per_hour")]
    pub rate_limit_per_hour: u32,
    /// Replies one client may post per hour, counted apart from reports.
    #[serde(default = "BountySettings::default_replies_per_hour")]
    pub replies_per_hour: u32,
    /// New reports the desk accepts per minute from everyone together.
    #[serde(default = "BountySettings::default_reports_per_minute")]
    pub reports_per_minute: u32,
    /// New reports in one minute that page the team one by one; the rest of that minute's are
    /// told in one digest when the minute ends.
    #[serde(default = "BountySettings::default_page_per_minute")]
    pub page_per_minute: u32,
    /// The largest request body accepted, in bytes.
    #[serde(default = "BountySettings::default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// The USD price of one native coin (ETH), for `bounty assess`; unset: native balances are
    /// listed unpriced and count 0, with a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_usd: Option<f64>,
    /// `[bounty.native_usd_by_chain]`: chain name → the USD price of that chain's native coin,
    /// where it differs from `native_usd` (a chain whose coin is not ETH).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub native_usd_by_chain: BTreeMap<String, f64>,
    /// `[bounty.token_usd]`: token → USD price of one whole token, the token named by its
    /// address (any case) or its `symbol()`; the address wins when both are listed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_usd: BTreeMap<String, f64>,
    /// `[bounty.price_feeds]`: asset → address of a Chainlink-style feed (AggregatorV3:
    /// `latestRoundData`, `decimals`) giving its USD price, read on the chain of the contract
    /// holding the asset at the block its balance is read. The asset is named like in
    /// `token_usd`, the native coin as `native` (or its symbol). A feed wins over a fixed price;
    /// the fixed price is used, with a warning, when the feed cannot be read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub price_feeds: BTreeMap<String, Address>,
    /// The least a critical or high report is paid, in USD (default 1000).
    #[serde(default = "BountySettings::default_min_usd")]
    pub min_usd: u64,
    /// The share of the funds at risk a critical or high report is paid, in percent (default 10).
    #[serde(default = "BountySettings::default_share_percent")]
    pub share_percent: u32,
    /// What a medium report is paid, in USD (default 5000, at most its tier's 5000).
    #[serde(default = "BountySettings::default_medium_usd")]
    pub medium_usd: u64,
    /// What a low report is paid, in USD (default 1000, at most its tier's 1000).
    #[serde(default = "BountySettings::default_low_usd")]
    pub low_usd: u64,
}

impl BountySettings {
    fn default_ack_hours_critical() -> u32 {
        48
    }
    fn default_ack_hours_other() -> u32 {
        96
    }
    fn default_rate_limit_per_hour() -> u32 {
        10
    }
    fn default_replies_per_hour() -> u32 {
        30
    }
    fn default_reports_per_minute() -> u32 {
        20
    }
    fn default_page_per_minute() -> u32 {
        3
    }
    fn default_max_body_bytes() -> usize {
        64 * 1024
    }
    fn default_min_usd() -> u64 {
        1_000
    }
    fn default_share_percent() -> u32 {
        10
    }
    fn default_medium_usd() -> u64 {
        Severity::Medium.cap_usd()
    }
    fn default_low_usd() -> u64 {
        Severity::Low.cap_usd()
    }

    /// The USD price of `chain`'s native coin: its `[bounty.native_usd_by_chain]` entry, else
    /// `native_usd`.
    pub fn native_price(&self, chain: &str) -> Option<f64> {
        self.native_usd_by_chain
            .get(chain)
            .copied()
            .or(self.native_usd)
    }

    /// The USD price of one whole `token` whose `symbol()` is `symbol`, from
    /// `[bounty.token_usd]`: by address (any case) first, then by symbol (any case).
    pub fn token_price(&self, token: &str, symbol: &str) -> Option<f64> {
        lookup(&self.token_usd, &[token, symbol])
    }

    /// The price feed of an asset from `[bounty.price_feeds]`: for a token (`token` its
    /// address) by address then symbol, for the native coin (`token` `None`) by `native` then
    /// symbol; any case.
    pub fn price_feed(&self, token: Option<&str>, symbol: &str) -> Option<Address> {
        lookup(&self.price_feeds, &[token.unwrap_or("native"), symbol])
    }

    /// Whether these are the defaults (then `[bounty]` is not written to a manifest).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// What is wrong with these settings, if anything (checked when the manifest is loaded).
    pub fn problem(&self) -> Option<&'static str> {
        if self.ack_hours_critical == 0 || self.ack_hours_other == 0 {
            return Some("[bounty] ack_hours_critical and ack_hours_other must be at least 1");
        }
        if self.rate_limit_per_hour == 0
            || self.replies_per_hour == 0
            || self.reports_per_minute == 0
            || self.page_per_minute == 0
        {
            return Some(
                "[bounty] rate_limit_per_hour, replies_per_hour, reports_per_minute and page_per_minute must be at least 1",
            );
        }
        if self.max_body_bytes < 1024 {
            return Some("[bounty] max_body_bytes must be at least 1024");
        }
        let bad_price = |p: f64| !p.is_finite() || p < 0.0;
        if self.native_usd.is_some_and(bad_price)
            || self.native_usd_by_chain.values().copied().any(bad_price)
        {
            return Some("[bounty] native prices must be finite numbers of USD, at least 0");
        }
        if self.token_usd.values().copied().any(bad_price) {
            return Some("[bounty.token_usd] prices must be finite numbers of USD, at least 0");
        }
        if self.share_percent == 0 || self.share_percent > 100 {
            return Some("[bounty] share_percent must be between 1 and 100");
        }
        if self.min_usd > Severity::High.cap_usd() {
            return Some("[bounty] min_usd must not exceed the high tier's cap (25000)");
        }
        if self.medium_usd > Severity::Medium.cap_usd() {
            return Some("[bounty] medium_usd must not exceed the medium tier's cap (5000)");
        }
        if self.low_usd > Severity::Low.cap_usd() {
            return Some("[bounty] low_usd must not exceed the low tier's cap (1000)");
        }
        None
    }
}

/// The value of the first of `keys` found in `map`, keys compared in any case.
fn lookup<T: Copy>(map: &BTreeMap<String, T>, keys: &[&str]) -> Option<T> {
    keys.iter().find_map(|key| {
        map.iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    })
}

impl Default for BountySettings {
    fn default() -> Self {
        Self {
            team_public_key: None,
            security_email: None,
            ack_hours_critical: Self::default_ack_hours_critical(),
            ack_hours_other: Self::default_ack_hours_other(),
            rate_limit_per_hour: Self::default_rate_limit_per_hour(),
            replies_per_hour: Self::default_replies_per_hour(),
            reports_per_minute: Self::default_reports_per_minute(),
            page_per_minute: Self::default_page_per_minute(),
            max_body_bytes: Self::default_max_body_bytes(),
            native_usd: None,
            native_usd_by_chain: BTreeMap::new(),
            token_usd: BTreeMap::new(),
            price_feeds: BTreeMap::new(),
            min_usd: Self::default_min_usd(),
            share_percent: Self::default_share_percent(),
            medium_usd: Self::default_medium_usd(),
            low_usd: Self::default_low_usd(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_unknown_keys_are_refused() {
        let s: BountySettings = toml::from_str("team_public_key = \"age1x\"").expect("parse");
        assert_eq!(s.ack_hours_critical, 48);
        assert_eq!(s.ack_hours_other, 96);
        assert_eq!(s.rate_limit_per_hour, 10);
        assert_eq!(s.max_body_bytes, 64 * 1024);
        assert!(s.problem().is_none());
        assert!(toml::from_str::<BountySettings>("team_key = \"x\"").is_err());
        let zero: BountySettings = toml::from_str("rate_limit_per_hour = 0").expect("parse");
        assert!(zero.problem().is_some());
        assert!(BountySettings::default().is_default());
    }

    #[test]
    fn reward_settings_default_validate_and_price_by_address_or_symbol() {
        let s = BountySettings::default();
        assert_eq!(
            (s.min_usd, s.share_percent, s.medium_usd, s.low_usd),
            (1000, 10, 5000, 1000)
        );
        let s: BountySettings = toml::from_str(
            "native_usd = 3000.5\nmin_usd = 500\n[native_usd_by_chain]\npolygon = 0.4\n\
             [token_usd]\nUSDC = 1\n\"0xABCdef0000000000000000000000000000000001\" = 2.5\n",
        )
        .expect("parse");
        assert!(s.problem().is_none());
        assert_eq!(s.native_price("local"), Some(3000.5));
        assert_eq!(s.native_price("polygon"), Some(0.4));
        assert_eq!(s.token_price("0xdead", "usdc"), Some(1.0));
        let addr = "0xabcdef0000000000000000000000000000000001";
        assert_eq!(s.token_price(addr, "USDC"), Some(2.5), "the address wins");
        assert_eq!(s.token_price("0xdead", "DAI"), None);
        let f: BountySettings = toml::from_str(
            "[price_feeds]\nnative = \"0x0000000000000000000000000000000000000001\"\n\
             usdc = \"0x0000000000000000000000000000000000000002\"\n",
        )
        .expect("parse");
        let one = |n: u8| Address::with_last_byte(n);
        assert_eq!(f.price_feed(None, "ETH"), Some(one(1)));
        assert_eq!(f.price_feed(Some("0xabc"), "USDC"), Some(one(2)));
        assert_eq!(f.price_feed(Some("0xabc"), "DAI"), None);
        assert!(toml::from_str::<BountySettings>("[price_feeds]\nX = \"0x12\"").is_err());
        for bad in [
            "medium_usd = 5001",
            "low_usd = 1001",
            "min_usd = 25001",
            "share_percent = 0",
            "share_percent = 101",
            "native_usd = -1",
            "native_usd = nan",
            "[token_usd]\nX = inf",
        ] {
            let s: BountySettings = toml::from_str(bad).expect(bad);
            assert!(s.problem().is_some(), "{bad}");
        }
    }
}
