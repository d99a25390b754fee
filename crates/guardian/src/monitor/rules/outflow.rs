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
            let (outflow, txs) = w.steps.range(start, number).fold(
                (U256::ZERO, Vec::new()),
                |(sum, mut txs), (_, s)| {
                    txs.extend(s.txs.iter().copied());
                    (sum.saturating_add(s.decrease), txs)
                },
            );
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
                tx_hashes: unique(txs),
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
