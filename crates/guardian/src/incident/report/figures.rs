//! The report's figures from the records: the level's history, the response's durations, the
//! funds at risk, lost, rescued, returned and still short, and the fix.

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

pub(super) fn durations(
    r: &Records<'_>,
    exploit: Option<super::Exploit>,
    opened: Option<&Snapshot>,
) -> Durations {
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
    let detect = match (first_alert, &alert_mark, exploit) {
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

/// The snapshots the funds figures are read from: the start (in the block before the
/// exploit, else at the opening) and the end (after the pause).
pub(super) struct Snapshots<'a> {
    pub before: Option<&'a Snapshot>,
    pub opened: Option<&'a Snapshot>,
    pub paused: Option<&'a Snapshot>,
}

impl<'a> Snapshots<'a> {
    /// The latest snapshot of each kind in the timeline (a later `before`, from an exploit
    /// recorded by hand, replaces the opening's).
    pub fn of(all: &'a [Snapshot]) -> Self {
        let last = |when: &str| all.iter().rev().find(|s| s.when == when);
        Self {
            before: last("before"),
            opened: last("opened"),
            paused: last("paused"),
        }
    }
}

/// Funds per (contract, chain, asset), and how they were read (one line per fact). The one
/// definition of each figure, which the drill's summary, `incident show`, the report and the war
/// room all show:
///
/// - at risk: what the contract held in the block before the exploit's first transaction (else
///   at the incident's opening), with what it owed then beside it;
/// - lost: what it held then less what it held after the pause: what left to the attacker, net of
///   what the attacker put in;
/// - rescued: moved to a safe address by withdrawals mined under the incident;
/// - returned: put back by `replenish` under the incident;
/// - still short: lost, less what was returned beyond what was rescued.
pub(super) fn funds(r: &Records<'_>, snaps: &Snapshots<'_>) -> (Vec<Funds>, Vec<String>) {
    type Key = (String, String, Option<Address>);
    #[derive(Default)]
    struct Acc {
        symbol: Option<(String, u8)>,
        at_risk: Option<U256>,
        owed: Option<U256>,
        after: Option<U256>,
        rescued: U256,
        returned: U256,
    }
    let v = |x: &str| x.parse::<U256>().unwrap_or_default();
    let mut rows: BTreeMap<Key, Acc> = BTreeMap::new();
    let mut chain_of: BTreeMap<String, String> = BTreeMap::new();
    let mut basis = Vec::new();
    // The start: the `before` snapshot where it read the contract, else the opening's.
    for snap in [snaps.before, snaps.opened].into_iter().flatten() {
        for s in &snap.stakes {
            chain_of.insert(s.contract.clone(), s.chain.clone());
            let acc = rows
                .entry((s.contract.clone(), s.chain.clone(), s.token))
                .or_default();
            if acc.at_risk.is_none() {
                acc.symbol = Some((s.symbol.clone(), s.decimals));
                acc.at_risk = Some(v(&s.held));
                acc.owed = s.owed.as_deref().map(v);
            }
        }
    }
    let chains: std::collections::BTreeSet<&String> = chain_of.values().collect();
    for chain in chains {
        let block = |s: Option<&Snapshot>| s.and_then(|s| s.blocks.get(chain.as_str()).copied());
        basis.push(match (block(snaps.before), block(snaps.opened)) {
            (Some(b), _) => format!(
                "at risk on {chain}: held in block {b}, the block before the exploit's first transaction"
            ),
            (None, Some(b)) => format!(
                "at risk on {chain}: held at the incident's opening (block {b}); the block before the exploit was not read"
            ),
            (None, None) => format!("at risk on {chain}: held at the incident's opening"),
        });
        basis.push(match block(snaps.paused) {
            Some(b) => format!(
                "lost on {chain}: held then, less held after the pause (block {b}): what left, net of what came in"
            ),
            None => format!("lost on {chain}: not measured (nothing was paused)"),
        });
    }
    for s in snaps
        .paused
        .map(|s| s.stakes.as_slice())
        .unwrap_or_default()
    {
        if let Some(acc) = rows.get_mut(&(s.contract.clone(), s.chain.clone(), s.token)) {
            acc.after = Some(v(&s.held));
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
    // Withdrawals a Safe executed: each call of the executed proposal names its exact amount.
    for executed in r
        .timeline
        .iter()
        .filter(|e| crate::incident::recovery::executed_proposal_of(e, r.timeline, "withdraw "))
    {
        let Some(proposed) = r.timeline.iter().find(|p| {
            p.kind == "safe"
                && p.details["event"] == "proposed"
                && p.details["proposal"] == executed.details["proposal"]
        }) else {
            continue;
        };
        let chain = proposed.details["chain"].as_str().unwrap_or_default();
        let calls = proposed.details["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for call in calls.iter().filter_map(|c| c.as_str()) {
            let Some((contract, what, value)) = crate::response::withdraw::find_label(call) else {
                continue;
            };
            let token = if what == "native" {
                None
            } else {
                what.parse().ok()
            };
            let acc = rows
                .entry((contract, chain.to_string(), token))
                .or_default();
            acc.rescued = acc.rescued.saturating_add(value);
        }
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
    let rows = rows
        .into_iter()
        .map(|((contract, chain, token), acc)| {
            let (symbol, decimals) = acc.symbol.unwrap_or_else(|| match token {
                None => (NATIVE_SYMBOL.to_string(), 18),
                Some(t) => (format!("units of {t}"), 0),
            });
            let at_risk = acc.at_risk.unwrap_or_default();
            let lost = acc
                .after
                .map(|after| at_risk.saturating_sub(after))
                .unwrap_or_default();
            let covered = acc.returned.saturating_sub(acc.rescued);
            let show = |x: U256| amount(x, decimals, &symbol);
            Funds {
                contract: Some(contract),
                chain,
                token,
                at_risk: show(at_risk),
                owed: acc.owed.map(show),
                lost: show(lost),
                rescued: show(acc.rescued),
                returned: show(acc.returned),
                still_short: show(lost.saturating_sub(covered)),
                symbol,
                decimals,
            }
        })
        .collect();
    (rows, basis)
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
