//! `outflow`: value leaving a fund-holding contract in the window, read from its balance at each
//! block (the sum of its decreases), so a drain by any path counts and deposits do not hide it.

use alloy::primitives::{Address, TxHash, U256};
use serde_json::json;

use super::{At, Finding, RuleError, Series, Target, percent, unique};
use crate::{
    config::{RuleConfig, rules::parse_amount},
    funds::{NATIVE_SYMBOL, show_amount},
};

/// Shares are compared in parts per million, in integers.
const PPM: u64 = 1_000_000;

/// An `outflow` rule on one chain.
#[derive(Debug)]
pub(super) struct Outflow {
    token: Option<Address>,
    symbol: String,
    decimals: u8,
    max_share: Option<f64>,
    max_amount: Option<U256>,
    targets: Vec<Watched>,
}

/// One contract whose holding an `outflow` rule follows.
#[derive(Debug)]
struct Watched {
    target: Target,
    /// Per block with a known holding: the holding, how much it fell from the previous one, and
    /// the transactions that touched the contract in that block (kept only when it fell).
    steps: Series<Step>,
}

#[derive(Debug)]
struct Step {
    amount: U256,
    decrease: U256,
    txs: Vec<TxHash>,
}

impl Outflow {
    pub(super) fn new(
        config: &RuleConfig,
        targets: &[Target],
        units: &impl Fn(Address) -> (String, u8),
    ) -> Result<Self, RuleError> {
        let token = config.asset().token();
        let (symbol, decimals) = match token {
            None => (NATIVE_SYMBOL.to_string(), 18),
            Some(t) => units(t),
        };
        let max_amount = match &config.max_amount {
            None => None,
            Some(text) => Some(
                parse_amount(text.get_ref(), decimals, token.is_none()).map_err(|reason| {
                    RuleError::Amount {
                        rule: config.name().to_string(),
                        amount: text.get_ref().clone(),
                        symbol: symbol.clone(),
                        reason,
                    }
                })?,
            ),
        };
        Ok(Self {
            token,
            symbol,
            decimals,
            max_share: config.max_share.as_ref().map(|s| *s.get_ref()),
            max_amount,
            targets: targets
                .iter()
                .map(|t| Watched {
                    target: t.clone(),
                    steps: Series::default(),
                })
                .collect(),
        })
    }

    /// The contracts whose holdings the rule reads.
    pub(super) fn addresses(&self) -> impl Iterator<Item = Address> + '_ {
        self.targets.iter().map(|w| w.target.address)
    }

    pub(super) fn on_block(&mut self, at: &At<'_>) -> Vec<Finding> {
        let block = at.block;
        let number = block.number;
        let start = at.window_start();
        let show = |a: U256| show_amount(a, self.decimals, &self.symbol);
        let mut found = Vec::new();
        for w in &mut self.targets {
            let address = w.target.address;
            let Some(held) = block
                .balances
                .iter()
                .find(|b| b.address == address && b.token == self.token)
            else {
                continue;
            };
            let decrease = w
                .steps
                .last()
                .map(|prev| prev.amount.saturating_sub(held.amount))
                .unwrap_or_default();
            let txs = if decrease.is_zero() {
                Vec::new()
            } else {
                unique(
                    block
                        .logs
                        .iter()
                        .filter(|l| l.address() == address)
                        .filter_map(|l| l.transaction_hash)
                        .chain(
                            block
                                .transactions
                                .iter()
                                .filter(|t| t.to == address)
                                .map(|t| t.hash),
                        ),
                )
            };
            w.steps.push(
                number,
                Step {
                    amount: held.amount,
                    decrease,
                    txs,
                },
            );
            let outflow = w
                .steps
                .range(start, number)
                .fold(U256::ZERO, |sum, (_, s)| sum.saturating_add(s.decrease));
            if outflow.is_zero() {
                continue;
            }
            // The holding just before the window; when the window reaches back before the first
            // block seen, the holding before the first step in it.
            let at_start = match w
                .steps
                .at_or_before(start.saturating_sub(1))
                .filter(|_| start > 0)
            {
                Some((_, s)) => s.amount,
                None => w
                    .steps
                    .range(start, number)
                    .next()
                    .map(|(_, s)| s.amount.saturating_add(s.decrease))
                    .unwrap_or_default(),
            };
            let share_ppm = self.max_share.map(|s| (s * PPM as f64).round() as u64);
            let over_share = share_ppm.is_some_and(|ppm| {
                outflow.saturating_mul(U256::from(PPM)) > at_start.saturating_mul(U256::from(ppm))
            });
            let over_amount = self.max_amount.is_some_and(|max| outflow > max);
            if !over_share && !over_amount {
                continue;
            }
            let share = (!at_start.is_zero()).then(|| ratio(outflow, at_start));
            let mut limits = Vec::new();
            if let Some(s) = self.max_share.filter(|_| over_share) {
                limits.push(format!("max {}", percent(s)));
            }
            if let Some(m) = self.max_amount.filter(|_| over_amount) {
                limits.push(format!("max {}", show(m)));
            }
            let of_start = match share {
                Some(s) => format!("{} of {}", percent(s), show(at_start)),
                None => format!("the window began with {}", show(at_start)),
            };
            found.push(Finding {
                scope: w.target.name.clone(),
                contract: Some((w.target.name.clone(), address)),
                affected: vec![w.target.name.clone()],
                summary: format!(
                    "{}: {} left in {} blocks, {of_start} ({})",
                    w.target.name,
                    show(outflow),
                    at.meta.window,
                    limits.join(", ")
                ),
                evidence: json!({
                    "asset": self.token.map_or_else(|| "native".to_string(), |t| t.to_checksum(None)),
                    "symbol": self.symbol,
                    "decimals": self.decimals,
                    "outflow": outflow.to_string(),
                    "outflow_shown": show(outflow),
                    "balance_at_start": at_start.to_string(),
                    "balance_at_start_shown": show(at_start),
                    "balance_now": held.amount.to_string(),
                    "share": share,
                    "max_share": self.max_share,
                    "max_amount": self.max_amount.map(|m| m.to_string()),
                    "over_share": over_share,
                    "over_amount": over_amount,
                }),
                tx_hashes: unique(
                    w.steps
                        .range(start, number)
                        .flat_map(|(_, s)| s.txs.iter().copied()),
                ),
            });
        }
        found
    }

    pub(super) fn rewind(&mut self, to: Option<u64>) {
        for w in &mut self.targets {
            w.steps.rewind(to);
        }
    }

    pub(super) fn prune(&mut self, from: u64) {
        for w in &mut self.targets {
            w.steps.prune(from);
        }
    }
}

/// `part / whole` as a float (for people and evidence; the verdict is taken in integers).
fn ratio(part: U256, whole: U256) -> f64 {
    let scaled = part.saturating_mul(U256::from(PPM)) / whole;
    u64::try_from(scaled).map_or(f64::INFINITY, |s| s as f64 / PPM as f64)
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;

    use crate::monitor::{
        block::BlockData,
        rules::{
            RuleEngine, RuleError,
            testing::{ESCROW, TOKEN, balance, block, engine, ether, feed, manifest, suite_tx, tx},
        },
    };

    const DRAIN: &str = r#"
[[rules]]
name = "escrow-drain"
kind = "outflow"
contracts = ["PaymentEscrow"]
window_blocks = 5
asset = "native"
max_share = 0.2
severity = "critical"
respond = "pause-all"
"#;

    /// Block `number` at which the escrow holds `native` wei and `tokens` token base units.
    fn holding(number: u64, native: U256, tokens: U256) -> BlockData {
        let mut b = block(number, 0);
        b.balances = vec![balance(None, native), balance(Some(TOKEN), tokens)];
        b.transactions = vec![suite_tx(tx(number, 0), ESCROW, ESCROW, true)];
        b
    }

    fn milli(n: u64) -> U256 {
        ether(n) / U256::from(1000)
    }

    #[test]
    fn a_drain_over_the_share_fires_and_normal_payments_do_not() {
        let mut rules = engine(DRAIN);
        assert_eq!(
            rules.response("escrow-drain"),
            crate::config::rules::Respond::PauseAll
        );
        // 10 ETH; deposits, and releases of 0.5 ETH now and then: at most 1 ETH (10 %) a window.
        let normal: Vec<BlockData> = [
            10_000, 10_500, 10_000, 11_000, 10_500, 10_500, 10_000, 10_000,
        ]
        .iter()
        .enumerate()
        .map(|(i, m)| holding(i as u64 + 1, milli(*m), U256::ZERO))
        .collect();
        assert!(feed(&mut rules, &normal).is_empty());
        // Block 9 takes 3 ETH: with the 0.5 ETH of blocks 5 and 7, 4 ETH left in the 5 blocks
        // since block 4, which ended with 11 ETH.
        let alerts = rules.on_block(&holding(9, milli(7_000), U256::ZERO));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            a.summary,
            "escrow: 4.0 ETH left in 5 blocks, 36.4% of 11.0 ETH (max 20%)"
        );
        assert_eq!(
            (a.contract.as_deref(), a.address),
            (Some("escrow"), Some(ESCROW))
        );
        assert_eq!(a.evidence["outflow"], milli(4_000).to_string());
        assert_eq!(a.evidence["balance_at_start"], milli(11_000).to_string());
        assert_eq!(a.tx_hashes, [tx(5, 0), tx(7, 0), tx(9, 0)]);
        assert_eq!(a.dedup_key, "escrow-drain:escrow:5");
    }

    #[test]
    fn deposits_do_not_offset_withdrawals() {
        let mut rules = engine(DRAIN);
        let blocks = [
            holding(1, ether(10), U256::ZERO),
            // +5, then -3: the holding ends above where it began, yet 3 of 10 ETH left.
            holding(2, ether(15), U256::ZERO),
            holding(3, ether(12), U256::ZERO),
        ];
        let alerts = feed(&mut rules, &blocks);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].evidence["share"], 0.3);
    }

    #[test]
    fn an_absolute_limit_in_units_fires() {
        let rule = DRAIN.replace("max_share = 0.2", "max_amount = \"2 ether\"");
        let mut rules = engine(&rule);
        let quiet = [
            holding(1, ether(100), U256::ZERO),
            holding(2, ether(98), U256::ZERO),
        ];
        assert!(
            feed(&mut rules, &quiet).is_empty(),
            "2 ETH is not over 2 ETH"
        );
        let alerts = rules.on_block(&holding(3, milli(97_500), U256::ZERO));
        assert_eq!(alerts.len(), 1);
        assert!(
            alerts[0].summary.ends_with("(max 2.0 ETH)"),
            "{}",
            alerts[0].summary
        );
    }

    #[test]
    fn a_token_rule_reads_the_token_in_its_own_units() {
        let rule = DRAIN
            .replace("asset = \"native\"", &format!("asset = \"{TOKEN}\""))
            .replace("max_share = 0.2", "max_amount = \"100\"");
        let mut rules = engine(&rule);
        let six = |n: u64| U256::from(n) * U256::from(1_000_000);
        let blocks = [
            holding(1, ether(10), six(1_000)),
            // The native coin leaving is not this rule's business.
            holding(2, ether(1), six(1_000)),
            holding(3, ether(1), six(850)),
        ];
        let alerts = feed(&mut rules, &blocks);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].block_number, 3);
        assert_eq!(
            alerts[0].summary,
            "escrow: 150.0 TT left in 5 blocks, 15% of 1000.0 TT (max 100.0 TT)"
        );
        // The token's decimals come from the chain: too many decimals for them is refused.
        let fine = rule.replace("\"100\"", "\"100.1234567\"");
        let err = RuleEngine::new(&manifest(&fine), "local", |_| ("TT".to_string(), 6))
            .expect_err("7 decimals for a 6-decimal token");
        assert!(matches!(err, RuleError::Amount { .. }));
        assert!(
            err.to_string().contains("max_amount `100.1234567`"),
            "{err}"
        );
        assert_eq!(RuleEngine::tokens(&manifest(&rule), "local"), [TOKEN]);
    }

    #[test]
    fn a_rewind_drops_an_orphaned_drain() {
        let mut rules = engine(DRAIN);
        assert!(
            feed(
                &mut rules,
                &[
                    holding(1, ether(10), U256::ZERO),
                    holding(2, ether(10), U256::ZERO)
                ]
            )
            .is_empty()
        );
        assert_eq!(rules.on_block(&holding(3, ether(5), U256::ZERO)).len(), 1);
        rules.rewind(2);
        // On the new branch block 3 takes 1 ETH: had the orphaned 5 stayed, 6 ETH would fire.
        assert!(rules.on_block(&holding(3, ether(9), U256::ZERO)).is_empty());
        assert!(
            rules
                .on_block(&holding(4, milli(8_500), U256::ZERO))
                .is_empty()
        );
    }
}
