//! What a transaction pays. Routine sends pay the node's ordinary fees; an emergency pause is
//! priced to be in the next block whichever way the pool orders it (by effective tip, as real
//! nodes and builders do, or by max fee, as anvil does), and re-priced every block it waits.
//!
//! The pricing ([`urgent`], [`replacement`]) is a pure function of what the node showed
//! ([`Market`]), so it is tested over recorded fee histories; [`read_market`] takes the reading.

use alloy::{
    eips::BlockNumberOrTag, network::TransactionResponse, primitives::Address, providers::Provider,
};
use serde::Serialize;

use super::{ChainClient, ChainError, Outbid};
use crate::config::{FeeMarket, RpcSettings};

const GWEI: u128 = 1_000_000_000;

/// How many recent blocks' tips an emergency pause looks at.
pub const HISTORY_BLOCKS: u64 = 10;

/// The percentile of each recent block's tips an emergency pause must beat.
pub const TIP_PERCENTILE: f64 = 99.0;

/// What the node showed of its fee market at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Market {
    /// The latest block when it was read.
    pub block: u64,
    /// The next block's base fee; `None` on a chain priced by one gas price.
    pub base_fee: Option<u128>,
    /// The node's own suggestion (`eth_gasPrice`).
    pub gas_price: u128,
    /// The highest tip at the [`TIP_PERCENTILE`] of each of the last blocks.
    pub recent_tip: u128,
    /// How many recent blocks `recent_tip` covers.
    pub recent_blocks: u64,
    /// The highest effective tip among the other senders' transactions of the pending block.
    pub pending_tip: u128,
    /// The highest max fee per gas (gas price, for legacy) among them.
    pub pending_max_fee: u128,
    /// How many such transactions the node showed.
    pub pending_txs: usize,
}

/// The fees of one transaction, and why they were chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fees {
    /// A legacy transaction: one gas price (`max_fee_per_gas`, equal to the tip).
    pub legacy: bool,
    /// Max fee per gas, or the gas price of a legacy transaction.
    pub max_fee_per_gas: u128,
    /// Priority fee per gas (the gas price, for legacy).
    pub max_priority_fee_per_gas: u128,
    /// Why, in words, for the journal and `--dry-run`.
    pub reason: String,
}

impl Fees {
    /// Ordinary fees (alloy's estimate, or the node's gas price), without further reasons.
    pub fn ordinary(legacy: bool, max_fee: u128, tip: u128) -> Self {
        Self {
            legacy,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: if legacy { max_fee } else { tip },
            reason: if legacy {
                "ordinary: the node's gas price".into()
            } else {
                "ordinary: the node's estimate".into()
            },
        }
    }

    /// One line for people: `tip 22.5 gwei, max fee 562.5 gwei`.
    pub fn summary(&self) -> String {
        if self.legacy {
            format!("gas price {}", gwei(self.max_fee_per_gas))
        } else {
            format!(
                "tip {}, max fee {}",
                gwei(self.max_priority_fee_per_gas),
                gwei(self.max_fee_per_gas)
            )
        }
    }
}

/// The bounds an emergency price stays within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The least tip (`[rpc] pause_tip_gwei`).
    pub floor: u128,
    /// The most any fee may be (`[rpc] fee_cap_gwei`).
    pub cap: u128,
}

impl Limits {
    /// The limits `[rpc]` sets: `pause_tip_gwei` and `fee_cap_gwei`.
    pub fn of(settings: &RpcSettings) -> Self {
        Self {
            floor: settings.pause_tip_wei(),
            cap: settings.fee_cap_wei().max(settings.pause_tip_wei()),
        }
    }
}

/// Wei per gas as gwei for people (`22.5 gwei`).
pub fn gwei(wei: u128) -> String {
    let whole = wei / GWEI;
    let frac = wei % GWEI;
    if frac == 0 {
        format!("{whole} gwei")
    } else {
        let digits = format!("{frac:09}");
        let digits = digits.trim_end_matches('0');
        let digits = &digits[..digits.len().min(3)];
        if digits.trim_end_matches('0').is_empty() {
            format!("{whole} gwei")
        } else {
            format!("{whole}.{} gwei", digits.trim_end_matches('0'))
        }
    }
}

/// Strictly above a competitor's fee: an eighth more, at least 1 gwei (0 stays 0).
fn above(x: u128) -> u128 {
    if x == 0 {
        0
    } else {
        x.saturating_add((x / 8).max(GWEI))
    }
}

/// The least a replacement must offer over `fee`: nodes require 10 %, an eighth is used.
pub fn bump(fee: u128) -> u128 {
    (fee + fee / 8).max(fee + 1)
}

/// The price of an emergency pause: ahead of everything the node showed, within the cap.
///
/// The tip beats the highest tip recent blocks paid at their 99th percentile, the pending block's
/// highest effective tip and the transaction it must outbid (by an eighth, at least 1 gwei), and
/// is never below the floor: that wins where pools order by effective tip. The max fee leaves room
/// for the base fee to double (six full blocks) and beats the pending block's highest max fee:
/// that wins where pools order by max fee, and an EIP-1559 transaction pays only the base fee
/// plus its tip whatever its max fee. When the cap binds it pays the cap.
pub fn urgent(market: &Market, limits: Limits, outbid: Option<Outbid>) -> Fees {
    let rival_tip = market
        .recent_tip
        .max(market.pending_tip)
        .max(outbid.map_or(0, |o| o.max_priority_fee_per_gas));
    let rival_max = market
        .pending_max_fee
        .max(outbid.map_or(0, |o| o.max_fee_per_gas));
    let mut why = Vec::new();
    match market.base_fee {
        Some(base) => {
            let mut tip = above(rival_tip).max(limits.floor);
            if tip == limits.floor {
                why.push(format!(
                    "tip: the floor [rpc] pause_tip_gwei ({})",
                    gwei(tip)
                ));
            } else {
                why.push(format!(
                    "tip: above the highest tip seen ({}: {} at p{TIP_PERCENTILE} of {} block(s), {} in the pending block{})",
                    gwei(rival_tip),
                    gwei(market.recent_tip),
                    market.recent_blocks,
                    gwei(market.pending_tip),
                    outbid
                        .map(|o| format!(", {} to outbid", gwei(o.max_priority_fee_per_gas)))
                        .unwrap_or_default()
                ));
            }
            let room = base.saturating_mul(2).saturating_add(tip);
            let mut max_fee = room.max(above(rival_max));
            if max_fee == room {
                why.push(format!(
                    "max fee: twice the next base fee ({}) plus the tip",
                    gwei(base)
                ));
            } else {
                why.push(format!(
                    "max fee: above the highest max fee pending ({})",
                    gwei(rival_max)
                ));
            }
            if max_fee > limits.cap {
                max_fee = limits.cap;
                why.push(format!(
                    "the cap [rpc] fee_cap_gwei binds ({})",
                    gwei(limits.cap)
                ));
            }
            if tip > max_fee {
                tip = max_fee;
            }
            if max_fee < base.saturating_add(1) {
                why.push(format!(
                    "below the next base fee {}: it cannot be mined until the base fee falls or the cap is raised",
                    gwei(base)
                ));
            }
            Fees {
                legacy: false,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
                reason: why.join("; "),
            }
        }
        None => {
            let mut price = market.gas_price.saturating_add(limits.floor);
            why.push(format!(
                "gas price: the node's ({}) plus the floor ({})",
                gwei(market.gas_price),
                gwei(limits.floor)
            ));
            let rival = rival_max.max(rival_tip);
            if above(rival) > price {
                price = above(rival);
                why = vec![format!(
                    "gas price: above the highest pending or recent price ({})",
                    gwei(rival)
                )];
            }
            if price > limits.cap {
                price = limits.cap;
                why.push(format!(
                    "the cap [rpc] fee_cap_gwei binds ({})",
                    gwei(limits.cap)
                ));
            }
            Fees {
                legacy: true,
                max_fee_per_gas: price,
                max_priority_fee_per_gas: price,
                reason: why.join("; "),
            }
        }
    }
}

/// The fees of a replacement for a transaction that a block passed by: re-priced from the new
/// market, at least a bump over what it offered, the cap paid when it binds. `None` when it
/// already offers the cap (nothing higher can be sent).
pub fn replacement(
    previous: &Fees,
    market: &Market,
    limits: Limits,
    outbid: Option<Outbid>,
    urgent_price: bool,
) -> Option<Fees> {
    if previous.max_fee_per_gas >= limits.cap {
        return None;
    }
    let fresh = if urgent_price {
        urgent(market, limits, outbid)
    } else {
        previous.clone()
    };
    let mut max_fee = fresh.max_fee_per_gas.max(bump(previous.max_fee_per_gas));
    let mut tip = fresh
        .max_priority_fee_per_gas
        .max(bump(previous.max_priority_fee_per_gas));
    let mut reason = if urgent_price {
        format!(
            "replacement, re-priced at block {}: {}",
            market.block, fresh.reason
        )
    } else {
        "replacement: the previous fees raised by an eighth".to_string()
    };
    if max_fee > limits.cap {
        max_fee = limits.cap;
        reason.push_str(&format!(
            "; the cap binds: paying the cap ({})",
            gwei(limits.cap)
        ));
    }
    if previous.legacy {
        tip = max_fee;
    }
    Some(Fees {
        legacy: previous.legacy,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip.min(max_fee),
        reason,
    })
}

/// Whether `client`'s chain is priced by one gas price: as configured, or (auto) when its latest
/// block carries no base fee.
pub async fn is_legacy(client: &ChainClient) -> Result<bool, ChainError> {
    match client.route.fee_market {
        FeeMarket::Legacy => Ok(true),
        FeeMarket::Eip1559 => Ok(false),
        FeeMarket::Auto => {
            let block = client
                .provider()
                .get_block_by_number(BlockNumberOrTag::Latest)
                .await
                .map_err(|e| client.rpc_err(e))?;
            Ok(block.is_none_or(|b| b.header.base_fee_per_gas.is_none()))
        }
    }
}

/// Reads the fee market (priced by one gas price when `[chains.NAME] fee_market` says so, or
/// when the latest block carries no base fee): the next base fee, the node's gas price, recent blocks' high tips and
/// the pending block's transactions of senders other than `exclude`. Fee history and the pending
/// block are optional (not every node serves them); the gas price and a block are not.
pub async fn read_market(client: &ChainClient, exclude: Address) -> Result<Market, ChainError> {
    let provider = client.provider();
    let (latest, gas_price, history, pending) = tokio::join!(
        provider.get_block_by_number(BlockNumberOrTag::Latest),
        provider.get_gas_price(),
        provider.get_fee_history(HISTORY_BLOCKS, BlockNumberOrTag::Latest, &[TIP_PERCENTILE]),
        provider
            .get_block_by_number(BlockNumberOrTag::Pending)
            .full(),
    );
    let latest = latest
        .map_err(|e| client.rpc_err(e))?
        .ok_or_else(|| ChainError::NoAnswer {
            chain: client.name.clone(),
            what: "the latest block".into(),
        })?;
    let gas_price = gas_price.map_err(|e| client.rpc_err(e))?;
    let legacy = match client.route.fee_market {
        FeeMarket::Legacy => true,
        FeeMarket::Eip1559 => false,
        FeeMarket::Auto => latest.header.base_fee_per_gas.is_none(),
    };
    let mut market = Market {
        block: latest.header.number,
        gas_price,
        ..Market::default()
    };
    if !legacy {
        market.base_fee = Some(u128::from(
            latest.header.base_fee_per_gas.unwrap_or_default(),
        ));
    }
    match history {
        Ok(h) => {
            if !legacy && let Some(next) = h.base_fee_per_gas.last().copied() {
                market.base_fee = Some(next);
            }
            let rewards = h.reward.unwrap_or_default();
            market.recent_blocks = rewards.len() as u64;
            market.recent_tip = rewards
                .iter()
                .filter_map(|r| r.first().copied())
                .max()
                .unwrap_or_default();
        }
        Err(e) => tracing::debug!(chain = %client.name, "no fee history: {e}"),
    }
    match pending {
        Ok(Some(block)) => {
            let base = market.base_fee;
            if let (Some(b), Some(next)) = (base, block.header.base_fee_per_gas) {
                market.base_fee = Some(b.max(u128::from(next)));
            }
            for tx in block.transactions.txns() {
                if tx.from() == exclude {
                    continue;
                }
                use alloy::consensus::Transaction as Tx;
                let max_fee = Tx::max_fee_per_gas(tx);
                let tip = match (Tx::max_priority_fee_per_gas(tx), market.base_fee) {
                    (Some(t), Some(b)) => t.min(max_fee.saturating_sub(b)),
                    (None, Some(b)) => max_fee.saturating_sub(b),
                    (_, None) => max_fee,
                };
                market.pending_txs += 1;
                market.pending_tip = market.pending_tip.max(tip);
                market.pending_max_fee = market.pending_max_fee.max(max_fee);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::debug!(chain = %client.name, "no pending block: {e}"),
    }
    Ok(market)
}

/// The fees an emergency pause on `client` would pay now, signed by `from`.
pub async fn quote_urgent(
    client: &ChainClient,
    from: Address,
    outbid: Option<Outbid>,
) -> Result<Fees, ChainError> {
    let market = read_market(client, from).await?;
    Ok(urgent(&market, Limits::of(&client.settings), outbid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        floor: 3 * GWEI,
        cap: 1_000 * GWEI,
    };

    /// The stuffed chain of the congestion report, 20 blocks in: every block full of transfers
    /// paying a 20 gwei tip with a 500 gwei max fee; the base fee climbing an eighth a block.
    fn stuffed(base: u128) -> Market {
        Market {
            block: 120,
            base_fee: Some(base),
            gas_price: base + GWEI,
            recent_tip: 20 * GWEI,
            recent_blocks: 10,
            pending_tip: 20 * GWEI,
            pending_max_fee: 500 * GWEI,
            pending_txs: 71,
        }
    }

    /// Whether `ours` is ordered ahead of a rival under either pool ordering.
    fn wins(ours: &Fees, rival_tip: u128, rival_max: u128, base: u128) -> (bool, bool) {
        let effective = |tip: u128, max: u128| tip.min(max.saturating_sub(base));
        (
            effective(ours.max_priority_fee_per_gas, ours.max_fee_per_gas)
                > effective(rival_tip, rival_max),
            ours.max_fee_per_gas > rival_max,
        )
    }

    #[test]
    fn a_stuffed_chain_is_outbid_under_both_orderings_within_the_cap() {
        // The base fee of the recorded run: 1.7 gwei rising an eighth per block for 40 blocks.
        let mut base = 1_700_000_000u128;
        for _ in 0..40 {
            let fees = urgent(&stuffed(base), LIMITS, None);
            assert_eq!(
                wins(&fees, 20 * GWEI, 500 * GWEI, base),
                (true, true),
                "base {base}: {fees:?}"
            );
            assert!(fees.max_fee_per_gas <= LIMITS.cap);
            assert!(fees.max_priority_fee_per_gas >= LIMITS.floor);
            base += base / 8;
        }
    }

    #[test]
    fn the_old_estimate_loses_where_the_new_price_wins() {
        // What alloy's estimator gave (a low percentile tip, 2 x base + tip), floored at 3 gwei.
        let base = 30 * GWEI;
        let old = Fees::ordinary(false, 2 * base + 3 * GWEI, 3 * GWEI);
        assert_eq!(wins(&old, 20 * GWEI, 500 * GWEI, base), (false, false));
        let new = urgent(&stuffed(base), LIMITS, None);
        assert_eq!(wins(&new, 20 * GWEI, 500 * GWEI, base), (true, true));
    }

    #[test]
    fn a_quiet_chain_pays_the_floor_and_room_for_the_base_fee() {
        let quiet = Market {
            block: 5,
            base_fee: Some(GWEI),
            gas_price: 2 * GWEI,
            recent_tip: GWEI,
            recent_blocks: 10,
            ..Market::default()
        };
        let fees = urgent(&quiet, LIMITS, None);
        assert_eq!(fees.max_priority_fee_per_gas, 3 * GWEI, "{}", fees.reason);
        assert_eq!(fees.max_fee_per_gas, 5 * GWEI, "2 x base + tip");
        assert!(fees.reason.contains("floor"), "{}", fees.reason);
    }

    #[test]
    fn when_the_cap_binds_the_cap_is_paid() {
        // Rivals offering more than the cap: pay the cap, never skip.
        let mut m = stuffed(100 * GWEI);
        m.pending_max_fee = 2_000 * GWEI;
        m.pending_tip = 1_500 * GWEI;
        let fees = urgent(&m, LIMITS, None);
        assert_eq!(fees.max_fee_per_gas, LIMITS.cap);
        assert_eq!(fees.max_priority_fee_per_gas, LIMITS.cap);
        assert!(fees.reason.contains("cap"), "{}", fees.reason);
        // A base fee above the cap: still the cap, and the reason says it cannot be mined yet.
        let fees = urgent(&stuffed(1_200 * GWEI), LIMITS, None);
        assert_eq!(fees.max_fee_per_gas, LIMITS.cap);
        assert!(fees.reason.contains("cannot be mined"), "{}", fees.reason);
    }

    #[test]
    fn a_replacement_follows_a_rising_base_fee_and_bumps_both_fees() {
        let first = urgent(&stuffed(10 * GWEI), LIMITS, None);
        // The base fee jumped past the first max fee: re-priced from it, not just an eighth more.
        let jumped = stuffed(600 * GWEI);
        let next = replacement(&first, &jumped, LIMITS, None, true).expect("room under the cap");
        assert!(next.max_fee_per_gas > 600 * GWEI, "{next:?}");
        assert!(next.max_fee_per_gas * 10 >= first.max_fee_per_gas * 11);
        assert!(next.max_priority_fee_per_gas * 10 >= first.max_priority_fee_per_gas * 11);
        assert!(
            next.reason
                .starts_with("replacement, re-priced at block 120")
        );
        // Near the cap: the cap is paid rather than the replacement skipped.
        let near = Fees {
            max_fee_per_gas: 950 * GWEI,
            ..first.clone()
        };
        let capped = replacement(&near, &stuffed(10 * GWEI), LIMITS, None, true).expect("cap");
        assert_eq!(capped.max_fee_per_gas, LIMITS.cap);
        // At the cap nothing higher can be sent.
        let at = Fees {
            max_fee_per_gas: LIMITS.cap,
            ..first
        };
        assert_eq!(replacement(&at, &jumped, LIMITS, None, true), None);
    }

    #[test]
    fn an_ordinary_replacement_only_bumps() {
        let ord = Fees::ordinary(false, 10 * GWEI, GWEI);
        let next = replacement(&ord, &stuffed(600 * GWEI), LIMITS, None, false).expect("bump");
        assert_eq!(next.max_fee_per_gas, bump(10 * GWEI));
        assert_eq!(next.max_priority_fee_per_gas, bump(GWEI));
    }

    #[test]
    fn a_legacy_chain_gets_one_gas_price_above_the_pending_ones() {
        let m = Market {
            block: 9,
            base_fee: None,
            gas_price: 2 * GWEI,
            pending_max_fee: 40 * GWEI,
            pending_tip: 40 * GWEI,
            pending_txs: 3,
            ..Market::default()
        };
        let fees = urgent(&m, LIMITS, None);
        assert!(fees.legacy);
        assert_eq!(fees.max_fee_per_gas, 45 * GWEI);
        assert_eq!(fees.max_priority_fee_per_gas, fees.max_fee_per_gas);
        let quiet = Market {
            pending_max_fee: 0,
            pending_tip: 0,
            ..m
        };
        assert_eq!(urgent(&quiet, LIMITS, None).max_fee_per_gas, 5 * GWEI);
    }

    #[test]
    fn a_pre_emptive_pause_outbids_its_transaction() {
        let o = Outbid {
            max_priority_fee_per_gas: 80 * GWEI,
            max_fee_per_gas: 700 * GWEI,
        };
        let fees = urgent(&stuffed(10 * GWEI), LIMITS, Some(o));
        assert_eq!(fees.max_priority_fee_per_gas, 90 * GWEI);
        assert_eq!(fees.max_fee_per_gas, 787_500_000_000);
    }

    #[test]
    fn gwei_reads_well() {
        assert_eq!(gwei(22_500_000_000), "22.5 gwei");
        assert_eq!(gwei(3 * GWEI), "3 gwei");
        assert_eq!(gwei(1_700_000_000), "1.7 gwei");
        assert_eq!(gwei(1), "0 gwei");
    }
}
