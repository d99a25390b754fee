//! What assets are worth for a reward assessment: the USD price of one whole unit, from a
//! Chainlink-style feed read on chain (`[bounty.price_feeds]`) or a fixed price (`[bounty]
//! native_usd`, `[bounty.native_usd_by_chain]`, `[bounty.token_usd]`), and the integer
//! arithmetic of worth and reward in millionths of a dollar.

use alloy::{
    eips::BlockId,
    primitives::{Address, U256},
};
use bindings::interfaces::IAggregatorV3;

use crate::{chain::ChainClient, config::BountySettings, funds::Holding};

/// USD amounts are computed in millionths of a dollar, in integers: prices are decimals, and a
/// float product of a balance and a price would not give the same cents every time.
pub const MICRO: u64 = 1_000_000;

/// A feed not updated for this long before the block read is reported as stale (Chainlink's
/// ETH/USD heartbeat is one hour; most feeds' at most a day).
const STALE_AFTER_SECS: u64 = 24 * 3600;

/// A price of one whole unit of an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPrice {
    /// USD per whole unit, in millionths of a dollar.
    pub micro: U256,
    /// Where it came from: `feed 0x…` or the setting's name.
    pub from: String,
}

/// A fixed price in USD as millionths of a dollar (validated finite and non-negative; `as`
/// saturates).
pub fn fixed_micro(price: f64) -> U256 {
    U256::from((price * MICRO as f64).round() as u128)
}

/// The worth of `amount` base units of an asset with `decimals` at `unit_micro` millionths of a
/// dollar per whole unit, in millionths of a dollar (rounded down).
pub fn worth_micro(amount: U256, decimals: u8, unit_micro: U256) -> U256 {
    amount.saturating_mul(unit_micro) / U256::from(10).pow(U256::from(decimals))
}

/// Millionths of a dollar as dollars, rounded down to whole cents.
pub fn dollars(micro: U256) -> f64 {
    let cents = micro / U256::from(MICRO / 100);
    cents.to_string().parse::<f64>().unwrap_or(f64::INFINITY) / 100.0
}

/// Millionths of a dollar as dollars, to the millionth (for a unit price).
pub fn dollars_exact(micro: U256) -> f64 {
    micro.to_string().parse::<f64>().unwrap_or(f64::INFINITY) / MICRO as f64
}

/// The reward of a critical or high report from the funds at risk, all in millionths of a
/// dollar: `share_percent` of `at_risk`, at least `min_usd`, at most `cap_usd`. Returns the
/// reward and the rule that set it (`share`, `min_usd` or `cap`).
pub fn share_reward(
    at_risk_micro: U256,
    share_percent: u32,
    min_usd: u64,
    cap_usd: u64,
) -> (U256, &'static str) {
    let share = at_risk_micro.saturating_mul(U256::from(share_percent)) / U256::from(100);
    let min = U256::from(min_usd) * U256::from(MICRO);
    let cap = U256::from(cap_usd) * U256::from(MICRO);
    if share > cap {
        (cap, "cap")
    } else if share < min {
        (min.min(cap), "min_usd")
    } else {
        (share, "share")
    }
}

/// The price of one whole unit of `holding` on `client`'s chain at `block` (whose timestamp is
/// `block_ts`): its feed if `[bounty.price_feeds]` names one and it answers, else its fixed
/// price, else none. What the team should know (a feed that failed or is stale, a missing
/// price) is pushed to `warnings`.
pub async fn unit_price(
    settings: &BountySettings,
    client: &ChainClient,
    block: u64,
    block_ts: u64,
    holding: &Holding,
    warnings: &mut Vec<String>,
) -> Option<UnitPrice> {
    let chain = client.name.as_str();
    let token = holding.token.map(|t| t.to_checksum(None));
    let symbol = holding.symbol.as_str();
    let feed = settings.price_feed(token.as_deref(), symbol);
    let fixed = match &token {
        None => settings
            .native_price(chain)
            .map(|p| (p, "[bounty] native_usd")),
        Some(t) => settings
            .token_price(t, symbol)
            .map(|p| (p, "[bounty.token_usd]")),
    };
    if let Some(feed) = feed {
        match read_feed(client, feed, block).await {
            Ok((micro, updated_at)) => {
                if updated_at.saturating_add(STALE_AFTER_SECS) < block_ts {
                    warnings.push(format!(
                        "price feed {feed} for {symbol} on chain `{chain}` was last updated {} h before block {block}: check it is still maintained",
                        (block_ts - updated_at) / 3600
                    ));
                }
                return Some(UnitPrice {
                    micro,
                    from: format!("feed {feed}"),
                });
            }
            Err(why) => warnings.push(format!(
                "price feed {feed} for {symbol} on chain `{chain}` could not be read at block {block} ({why}){}",
                if fixed.is_some() {
                    ": the fixed price is used"
                } else {
                    ""
                }
            )),
        }
    }
    match (fixed, &token) {
        (Some((price, from)), _) => Some(UnitPrice {
            micro: fixed_micro(price),
            from: from.to_string(),
        }),
        (None, None) => {
            warnings.push(format!(
                "no price for chain `{chain}`'s native coin ({symbol}): set [bounty] native_usd (or [bounty.native_usd_by_chain] {chain}, or a [bounty.price_feeds] native feed); counted as 0"
            ));
            None
        }
        (None, Some(t)) => {
            warnings.push(format!(
                "no price for {symbol} ({t}): add it to [bounty.token_usd] or [bounty.price_feeds] (by symbol or address); counted as 0"
            ));
            None
        }
    }
}

/// A feed's latest answer at `block` as millionths of a dollar, and when it was updated.
async fn read_feed(client: &ChainClient, feed: Address, block: u64) -> Result<(U256, u64), String> {
    let aggregator = IAggregatorV3::new(feed, client.provider());
    let at = BlockId::number(block);
    let (decimals_call, round_call) = (
        aggregator.decimals().block(at),
        aggregator.latestRoundData().block(at),
    );
    let (decimals, round) = tokio::join!(decimals_call.call(), round_call.call());
    let decimals = decimals.map_err(|e| short(&e.to_string()))?;
    let round = round.map_err(|e| short(&e.to_string()))?;
    if round.answer.is_negative() || round.answer.is_zero() {
        return Err(format!("its answer is {}", round.answer));
    }
    let answer = round.answer.into_raw();
    let micro = answer.saturating_mul(U256::from(MICRO)) / U256::from(10).pow(U256::from(decimals));
    let updated_at = u64::try_from(round.updatedAt).unwrap_or(u64::MAX);
    Ok((micro, updated_at))
}

/// The first line of an error, at most 200 characters (a node's answer may be long).
fn short(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(n: u64) -> U256 {
        U256::from(n) * U256::from(MICRO)
    }

    #[test]
    fn the_reward_is_the_share_between_the_floor_and_the_cap() {
        // 10 % of $90,000.
        assert_eq!(
            share_reward(usd(90_000), 10, 1_000, 100_000),
            (usd(9_000), "share")
        );
        // 10 % of $1.2M is above the critical cap.
        assert_eq!(
            share_reward(usd(1_200_000), 10, 1_000, 100_000),
            (usd(100_000), "cap")
        );
        // 10 % of $3,000 is below the floor.
        assert_eq!(
            share_reward(usd(3_000), 10, 1_000, 100_000),
            (usd(1_000), "min_usd")
        );
        assert_eq!(
            share_reward(U256::ZERO, 10, 1_000, 25_000),
            (usd(1_000), "min_usd")
        );
        // The high tier's cap.
        assert_eq!(
            share_reward(usd(500_000), 10, 1_000, 25_000),
            (usd(25_000), "cap")
        );
        // Exactly at the cap is the share.
        assert_eq!(
            share_reward(usd(1_000_000), 10, 1_000, 100_000),
            (usd(100_000), "share")
        );
        // A huge balance does not overflow.
        assert_eq!(share_reward(U256::MAX, 10, 1_000, 100_000).1, "cap");
    }

    #[test]
    fn worth_is_exact_in_millionths_and_shown_in_cents() {
        let eth = U256::from(10).pow(U256::from(18));
        let p = fixed_micro(3000.0);
        assert_eq!(worth_micro(eth * U256::from(30), 18, p), usd(90_000));
        // 1.5 units of a 6-decimal token at $0.999999.
        assert_eq!(
            worth_micro(U256::from(1_500_000), 6, fixed_micro(0.999_999)),
            U256::from(1_499_998)
        );
        assert_eq!(dollars(U256::from(1_499_998)), 1.49);
        assert_eq!(dollars(usd(9_000)), 9000.0);
        assert_eq!(dollars_exact(U256::from(1_499_998)), 1.499998);
        assert_eq!(worth_micro(U256::from(1), 18, p), U256::ZERO);
        assert_eq!(worth_micro(eth, 18, fixed_micro(0.0)), U256::ZERO);
    }
}
