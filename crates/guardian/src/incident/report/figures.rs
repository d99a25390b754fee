//! The report's figures from the records: the level's history, the response's durations, the
//! funds at risk, lost, rescued and returned, and the fix.

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};

use super::super::{Entry, funds::Snapshot};
use super::{Durations, Fix, Funds, LevelChange, Records, Span, TxLine, amount, utc};
use crate::{funds::NATIVE_SYMBOL, storage::Status};

/// The level at opening, then each change.
pub(super) fn levels(timeline: &[Entry]) -> Vec<LevelChange> {
    timeline
        .iter()
        .filter_map(|e| {
            let level = |k: &str| e.details[k].as_u64().and_then(|l| u8::try_from(l).ok());
            match e.kind.as_str() {
                "opened" => Some((None, level("level")?)),
                "level" => Some((level("from"), level("to")?)),
                _ => None,
            }
            .map(|(from, to)| LevelChange {
                at: utc(e.at),
                actor: e.actor.clone(),
                from,
                to,
            })
        })
        .collect()
}

/// Which clock a moment's time was read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// Guardian's own records (the machine's clock).
    Local,
    /// A block's timestamp (the chain's clock, in seconds).
    Chain,
}

/// A moment with, where known, a block on a chain.
struct Mark {
    what: String,
    at: Option<i64>,
    clock: Clock,
    block: Option<(u64, u64)>,
}

/// The interval from `from` to `to`: in blocks when both are on one chain, in time only when
/// both were read on one clock (a block's timestamp against a local time would mix two clocks,
/// and gave negative durations); never negative.
fn span(from: &Mark, to: &Mark, chains: &BTreeMap<u64, String>) -> Span {
    let same_chain = match (from.block, to.block) {
        (Some((c1, b1)), Some((c2, b2))) if c1 == c2 => Some((c1, b1, b2)),
        _ => None,
    };
    let one_clock = from.clock == to.clock;
    Span {
        from: from.what.clone(),
        to: to.what.clone(),
        ms: from
            .at
            .zip(to.at)
            .filter(|_| one_clock)
            .map(|(a, b)| (b - a).max(0)),
        clock: match (one_clock, from.clock) {
            (true, Clock::Local) => Some("local time".into()),
            (true, Clock::Chain) => Some("block timestamps".into()),
            (false, _) => None,
        },
        blocks: same_chain.map(|(_, b1, b2)| b2.saturating_sub(b1)),
        chain: same_chain.map(|(c, _, _)| chains.get(&c).cloned().unwrap_or(c.to_string())),
        from_block: same_chain.map(|(_, b, _)| b),
        to_block: same_chain.map(|(_, _, b)| b),
    }
}

pub(super) fn durations(r: &Records<'_>, opened: Option<&Snapshot>) -> Durations {
    let first_alert = r.alerts.iter().min_by_key(|a| (a.detected_at, a.id));
    let opening = |chain_id: Option<u64>| Mark {
        what: "incident opened".into(),
        at: Some(r.incident.opened_at),
        clock: Clock::Local,
        block: chain_id.and_then(|c| {
            let name = r.chains.get(&c)?;
            Some((c, *opened?.blocks.get(name)?))
        }),
    };
    let alert_mark = first_alert.map(|a| Mark {
        what: format!("alert {} detected", a.id),
        at: Some(a.detected_at),
        clock: Clock::Local,
        block: Some((a.found.chain_id, a.found.block_number)),
    });
    let detect = match (first_alert, &alert_mark, r.exploit) {
        (Some(_), Some(alert), Some(x)) => Some(span(
            &Mark {
                what: "exploit's first transaction".into(),
                at: x.at,
                clock: Clock::Chain,
                block: Some((x.chain_id, x.block)),
            },
            alert,
            r.chains,
        )),
        (Some(a), Some(alert), None) => {
            Some(span(alert, &opening(Some(a.found.chain_id)), r.chains))
        }
        _ => None,
    };
    // The first transaction mined by an action of `kind`, in time (else block) order.
    let first_mined = |kind: &str| {
        r.transactions
            .iter()
            .filter(|t| t.status == Status::Mined && t.block_number.is_some())
            .filter(|t| {
                r.actions
                    .iter()
                    .any(|a| a.id == t.action_id && a.kind == kind)
            })
            .min_by_key(|t| (t.mined_at.unwrap_or(i64::MAX), t.block_number))
    };
    let to = |kind: &str, what: &str| {
        let tx = first_mined(kind)?;
        let start = match &alert_mark {
            Some(a) => Mark {
                what: a.what.clone(),
                at: a.at,
                clock: a.clock,
                block: a.block,
            },
            None => opening(Some(tx.chain_id)),
        };
        let end = Mark {
            what: format!("{what} {} mined", tx.tx_hash),
            at: tx.mined_at,
            clock: Clock::Local,
            block: tx.block_number.map(|b| (tx.chain_id, b)),
        };
        Some(span(&start, &end, r.chains))
    };
    Durations {
        detect,
        pause: to("pause", "pause"),
        rescue: to("withdraw", "withdrawal"),
        resume: to("unpause", "unpause"),
    }
}

/// Funds per (contract, chain, asset), from the snapshots and the journal.
pub(super) fn funds(
    r: &Records<'_>,
    opened: Option<&Snapshot>,
    paused: Option<&Snapshot>,
) -> Vec<Funds> {
    type Key = (String, String, Option<Address>);
    #[derive(Default)]
    struct Acc {
        symbol: Option<(String, u8)>,
        at_risk: U256,
        lost: U256,
        rescued: U256,
        returned: U256,
    }
    let mut rows: BTreeMap<Key, Acc> = BTreeMap::new();
    let mut chain_of: BTreeMap<String, String> = BTreeMap::new();
    for (snap, opening) in [(opened, true), (paused, false)] {
        for s in snap.map(|s| s.stakes.as_slice()).unwrap_or_default() {
            chain_of.insert(s.contract.clone(), s.chain.clone());
            let acc = rows
                .entry((s.contract.clone(), s.chain.clone(), s.token))
                .or_default();
            acc.symbol = Some((s.symbol.clone(), s.decimals));
            let v = |x: &str| x.parse::<U256>().unwrap_or_default();
            if opening {
                acc.at_risk = v(&s.held);
            } else {
                acc.lost = v(&s.shortfall);
            }
        }
    }
    for tx in r.transactions.iter().filter(|t| t.status == Status::Mined) {
        let withdraw = r
            .actions
            .iter()
            .any(|a| a.id == tx.action_id && a.kind == "withdraw");
        let Some((contract, what, value)) = withdraw
            .then(|| crate::response::withdraw::parse_label(&tx.label))
            .flatten()
        else {
            continue;
        };
        let token = if what == "native" {
            None
        } else {
            what.parse().ok()
        };
        let chain = r
            .chains
            .get(&tx.chain_id)
            .cloned()
            .unwrap_or(tx.chain_id.to_string());
        let acc = rows.entry((contract, chain, token)).or_default();
        acc.rescued = acc.rescued.saturating_add(value);
    }
    for a in r
        .actions
        .iter()
        .filter(|a| a.kind == "replenish" && a.status == Status::Succeeded)
    {
        let p = &a.params;
        if p["dry_run"] == true {
            continue;
        }
        let (Some(contract), Some(value)) = (
            p["contract"].as_str(),
            p["amount"].as_str().and_then(|v| v.parse::<U256>().ok()),
        ) else {
            continue;
        };
        let token = p["token"].as_str().and_then(|t| t.parse().ok());
        let chain = chain_of.get(contract).cloned().unwrap_or_default();
        let acc = rows
            .entry((contract.to_string(), chain, token))
            .or_default();
        acc.returned = acc.returned.saturating_add(value);
    }
    rows.into_iter()
        .map(|((contract, chain, token), acc)| {
            let (symbol, decimals) = acc.symbol.unwrap_or_else(|| match token {
                None => (NATIVE_SYMBOL.to_string(), 18),
                Some(t) => (format!("units of {t}"), 0),
            });
            Funds {
                contract: Some(contract),
                chain,
                token,
                at_risk: amount(acc.at_risk, decimals, &symbol),
                lost: amount(acc.lost, decimals, &symbol),
                rescued: amount(acc.rescued, decimals, &symbol),
                returned: amount(acc.returned, decimals, &symbol),
                symbol,
                decimals,
            }
        })
        .collect()
}

/// The upgrades done under the incident.
pub(super) fn fixes(r: &Records<'_>) -> Vec<Fix> {
    r.actions
        .iter()
        .filter(|a| a.kind == "upgrade")
        .map(|a| {
            // The summary names the implementation actually deployed ("X upgraded to 0x..; ...");
            // the parameters name what the operator gave (an address or an artifact's path).
            let deployed = a
                .summary
                .as_deref()
                .and_then(|s| s.split_once(" upgraded to "))
                .and_then(|(_, rest)| rest.split(';').next())
                .map(str::to_string);
            Fix {
                action_id: a.id,
                contract: a.params["contract"].as_str().map(str::to_string),
                implementation: deployed
                    .or_else(|| a.params["implementation"].as_str().map(str::to_string)),
                status: a.status,
                summary: a.summary.clone(),
                transactions: r
                    .transactions
                    .iter()
                    .filter(|t| t.action_id == a.id)
                    .map(|t| TxLine {
                        label: t.label.clone(),
                        chain: r
                            .chains
                            .get(&t.chain_id)
                            .cloned()
                            .unwrap_or(t.chain_id.to_string()),
                        hash: t.tx_hash.to_string(),
                        block: t.block_number,
                        status: t.status,
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests;
