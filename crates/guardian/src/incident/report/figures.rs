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

/// A moment with, where known, a block on a chain.
struct Mark {
    what: String,
    at: Option<i64>,
    block: Option<(u64, u64)>,
}

fn span(from: &Mark, to: &Mark, chains: &BTreeMap<u64, String>) -> Span {
    let same_chain = match (from.block, to.block) {
        (Some((c1, b1)), Some((c2, b2))) if c1 == c2 => Some((c1, b1, b2)),
        _ => None,
    };
    Span {
        from: from.what.clone(),
        to: to.what.clone(),
        ms: from.at.zip(to.at).map(|(a, b)| b - a),
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
        block: chain_id.and_then(|c| {
            let name = r.chains.get(&c)?;
            Some((c, *opened?.blocks.get(name)?))
        }),
    };
    let alert_mark = first_alert.map(|a| Mark {
        what: format!("alert {} detected", a.id),
        at: Some(a.detected_at),
        block: Some((a.found.chain_id, a.found.block_number)),
    });
    let detect = match (first_alert, &alert_mark, r.exploit) {
        (Some(_), Some(alert), Some(x)) => Some(span(
            &Mark {
                what: "exploit's first transaction".into(),
                at: x.at,
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
                block: a.block,
            },
            None => opening(Some(tx.chain_id)),
        };
        let end = Mark {
            what: format!("{what} {} mined", tx.tx_hash),
            at: tx.mined_at,
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
pub(super) mod tests {
    use alloy::primitives::{Address, B256, TxHash};
    use serde_json::{Value, json};

    use super::super::{Exploit, Records, Report, build};
    use crate::{
        alert::{Alert, AlertStatus, NewAlert, Severity},
        incident::{CHECKLIST, CheckItem, Entry, Incident, IncidentStatus, Integrity, Task},
        storage::{ActionRecord, Status, TxRecord},
    };

    const ETH: u128 = 1_000_000_000_000_000_000;

    fn entry(id: i64, at: i64, kind: &str, details: Value) -> Entry {
        Entry {
            id,
            incident_id: 1,
            at,
            actor: "alice".into(),
            kind: kind.into(),
            details,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn stake(held: u128, owed: u128) -> Value {
        json!({"contract": "escrow", "chain": "local", "token": null, "symbol": "ETH",
               "decimals": 18, "held": held.to_string(), "owed": owed.to_string(),
               "shortfall": owed.saturating_sub(held).to_string()})
    }

    fn action(id: i64, kind: &str, status: Status, params: Value, summary: &str) -> ActionRecord {
        ActionRecord {
            id,
            kind: kind.into(),
            actor: "ops 0x00".into(),
            reason: None,
            params,
            status,
            started_at: 0,
            finished_at: None,
            summary: Some(summary.into()),
        }
    }

    fn tx(action_id: i64, n: u8, label: &str, status: Status, block: u64, at: i64) -> TxRecord {
        TxRecord {
            action_id,
            chain_id: 31337,
            sender: Address::ZERO,
            nonce: n.into(),
            label: label.into(),
            target: None,
            tx_hash: TxHash::repeat_byte(n),
            status,
            block_number: Some(block),
            gas_used: Some(21_000),
            error: None,
            sent_at: at - 10,
            mined_at: Some(at),
        }
    }

    /// An incident whose records hold: alert 7 (block 100), opened at level 2 and raised to 3,
    /// the pause mined in block 101, a withdrawal of 3 ETH mined in 103 (and one reverted), an
    /// upgrade, a replenish of 2 ETH, the unpause in 200; 10 ETH held at the opening, and 2 ETH
    /// owed beyond what was held after the pause.
    pub(in crate::incident::report) struct Fixture {
        pub incident: Incident,
        pub timeline: Vec<Entry>,
        pub alerts: Vec<Alert>,
        pub actions: Vec<ActionRecord>,
        pub txs: Vec<TxRecord>,
        pub chains: std::collections::BTreeMap<u64, String>,
    }

    pub(in crate::incident::report) fn fixture() -> Fixture {
        let opened_at = 999_500;
        let incident = Incident {
            id: 1,
            level: 3,
            title: "escrow drain".into(),
            status: IncidentStatus::Resolved,
            commander: Some("carol".into()),
            opened_by: "alice".into(),
            opened_at,
            updated_at: 1_200_000,
            contracts: vec!["escrow".into()],
            alerts: vec![7],
            actions: vec![2, 3, 4, 5, 6],
            tasks: vec![
                Task {
                    id: "investigate-root-cause".into(),
                    title: "investigate root cause".into(),
                    done_by: Some("bob".into()),
                    done_at: Some(1_050_000),
                },
                Task {
                    id: "post-incident-review".into(),
                    title: "post-incident review".into(),
                    done_by: None,
                    done_at: None,
                },
            ],
            checklist: CHECKLIST
                .iter()
                .map(|(id, title)| {
                    let root = *id == "root-cause-documented";
                    CheckItem {
                        id: id.to_string(),
                        title: title.to_string(),
                        ticked_by: root.then(|| "bob".into()),
                        evidence: root.then(|| "release() paid without settling".into()),
                        ticked_at: root.then_some(1_060_000),
                    }
                })
                .collect(),
        };
        let timeline = vec![
            entry(
                1,
                opened_at,
                "opened",
                json!({"level": 2, "title": "escrow drain"}),
            ),
            entry(
                2,
                opened_at,
                "alert",
                json!({"alert": 7, "rule": "outflow"}),
            ),
            entry(3, opened_at + 1, "level", json!({"from": 2, "to": 3})),
            entry(
                4,
                1_000_400,
                "pause",
                json!({"action_id": 2, "status": "succeeded"}),
            ),
            entry(
                5,
                1_000_401,
                "transaction",
                json!({"action_id": 2, "hash": "0x01"}),
            ),
            entry(
                6,
                1_000_402,
                "funds",
                json!({"when": "opened", "blocks": {"local": 100}, "stakes": [stake(10 * ETH, 10 * ETH)]}),
            ),
            entry(
                7,
                1_000_403,
                "funds",
                json!({"when": "paused", "blocks": {"local": 101}, "stakes": [stake(7 * ETH, 9 * ETH)]}),
            ),
            entry(
                8,
                1_001_000,
                "note",
                json!({"text": "<script>alert(1)</script> in release()"}),
            ),
            entry(
                9,
                1_090_000,
                "fix-verified",
                json!({"note": "replayed the exploit: reverts"}),
            ),
            entry(10, 1_002_001, "withdraw", json!({"action_id": 3})),
            entry(11, 1_081_001, "upgrade", json!({"action_id": 4})),
            entry(12, 1_095_000, "replenish", json!({"action_id": 5})),
            entry(13, 1_100_001, "unpause", json!({"action_id": 6})),
        ];
        let alert = Alert {
            id: 7,
            status: AlertStatus::Final,
            detected_at: 999_400,
            acknowledged: None,
            found: NewAlert {
                rule: "outflow".into(),
                kind: "outflow".into(),
                severity: Severity::Critical,
                chain: "local".into(),
                chain_id: 31337,
                contract: Some("escrow".into()),
                address: None,
                block_number: 100,
                block_hash: B256::ZERO,
                tx_hashes: Vec::new(),
                summary: "escrow paid out 3 ETH in one block".into(),
                evidence: json!({}),
                dedup_key: "k".into(),
            },
        };
        let impl_addr = "0x00000000000000000000000000000000000000aa";
        let actions = vec![
            action(2, "pause", Status::Succeeded, json!({}), "1 changed"),
            action(
                3,
                "withdraw",
                Status::Failed,
                json!({}),
                "1 of 2 movements done",
            ),
            action(
                4,
                "upgrade",
                Status::Succeeded,
                json!({"contract": "escrow", "implementation": "fixed.json"}),
                &format!("escrow upgraded to {impl_addr}; every check holds"),
            ),
            action(
                5,
                "replenish",
                Status::Succeeded,
                json!({"contract": "escrow", "token": null, "amount": (2 * ETH).to_string(), "dry_run": false}),
                "replenished",
            ),
            action(6, "unpause", Status::Succeeded, json!({}), "1 changed"),
        ];
        let txs = vec![
            tx(2, 1, "pauseAll via brake", Status::Mined, 101, 1_000_400),
            tx(
                3,
                2,
                &format!("emergencyWithdraw escrow {} native", 3 * ETH),
                Status::Mined,
                103,
                1_002_000,
            ),
            tx(
                3,
                3,
                "emergencyWithdraw escrow 5 native",
                Status::Reverted,
                103,
                1_002_000,
            ),
            tx(
                4,
                4,
                "deploy implementation of escrow",
                Status::Mined,
                150,
                1_080_000,
            ),
            tx(
                4,
                5,
                "upgradeToAndCall escrow",
                Status::Mined,
                151,
                1_081_000,
            ),
            tx(6, 6, "unpause escrow", Status::Mined, 200, 1_100_000),
        ];
        Fixture {
            incident,
            timeline,
            alerts: vec![alert],
            actions,
            txs,
            chains: [(31337, "local".to_string())].into(),
        }
    }

    pub(in crate::incident::report) fn report(f: &Fixture, exploit: Option<Exploit>) -> Report {
        build(&Records {
            incident: &f.incident,
            timeline: &f.timeline,
            integrity: &Integrity::Intact { entries: 9 },
            alerts: &f.alerts,
            actions: &f.actions,
            transactions: &f.txs,
            contracts: &[],
            chains: &f.chains,
            exploit,
            now: 1_200_000,
        })
    }

    #[test]
    fn response_times_come_from_the_recorded_blocks_and_receipts() {
        let f = fixture();
        let r = report(&f, None);
        let pause = r.durations.pause.expect("pause measured");
        // From the alert's block and time to the pause's block and receipt time.
        assert_eq!(pause.from, "alert 7 detected");
        assert_eq!((pause.from_block, pause.to_block), (Some(100), Some(101)));
        assert_eq!(pause.blocks, Some(1));
        assert_eq!(pause.ms, Some(1_000_400 - 999_400));
        assert_eq!(pause.chain.as_deref(), Some("local"));
        let rescue = r.durations.rescue.expect("rescue measured");
        assert_eq!((rescue.blocks, rescue.ms), (Some(3), Some(2_600)));
        let resume = r.durations.resume.expect("resume measured");
        assert_eq!(resume.blocks, Some(100));
        // Without the exploit's block: from the alert to the opening.
        let detect = r.durations.detect.expect("detect");
        assert_eq!(
            (detect.to.as_str(), detect.ms),
            ("incident opened", Some(100))
        );
        // With it: from the exploit's block to the alert's.
        let exploit = Exploit {
            chain_id: 31337,
            block: 100,
            at: Some(999_000),
        };
        let detect = report(&f, Some(exploit)).durations.detect.expect("detect");
        assert_eq!((detect.blocks, detect.ms), (Some(0), Some(400)));
    }

    #[test]
    fn without_an_alert_the_pause_is_timed_from_the_opening_snapshot() {
        let mut f = fixture();
        f.alerts.clear();
        let pause = report(&f, None).durations.pause.expect("pause measured");
        assert_eq!(pause.from, "incident opened");
        // The opening snapshot read block 100 on `local`.
        assert_eq!(
            (pause.blocks, pause.ms),
            (Some(1), Some(1_000_400 - 999_500))
        );
        assert!(report(&f, None).durations.detect.is_none());
    }

    #[test]
    fn funds_at_risk_lost_rescued_and_returned_are_summed_from_the_evidence() {
        let f = fixture();
        let r = report(&f, None);
        let total = &r.funds_total[0];
        assert_eq!(r.funds_total.len(), 1);
        assert_eq!(total.at_risk.base, (10 * ETH).to_string());
        assert_eq!(total.at_risk.shown, "10.0 ETH");
        // Owed 9, held 7 after the pause: 2 lost.
        assert_eq!(total.lost.base, (2 * ETH).to_string());
        // Only the mined withdrawal counts, not the reverted one.
        assert_eq!(total.rescued.base, (3 * ETH).to_string());
        assert_eq!(total.returned.shown, "2.0 ETH");
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(
            json["funds_total"][0]["lost"]["base"],
            "2000000000000000000"
        );
    }

    #[test]
    fn the_fix_levels_root_cause_and_owners_are_reported() {
        let r = report(&fixture(), None);
        assert_eq!(
            r.levels.iter().map(|l| (l.from, l.to)).collect::<Vec<_>>(),
            [(None, 2), (Some(2), 3)]
        );
        let fix = &r.fixes[0];
        assert_eq!(
            fix.implementation.as_deref(),
            Some("0x00000000000000000000000000000000000000aa")
        );
        assert_eq!(fix.transactions.len(), 2);
        assert_eq!(r.verifications[0].text, "replayed the exploit: reverts");
        assert_eq!(
            r.root_cause.evidence.as_deref(),
            Some("release() paid without settling")
        );
        let owners: Vec<_> = r
            .action_items
            .iter()
            .map(|a| (a.task.as_str(), a.owner.as_deref(), a.done))
            .collect();
        assert_eq!(
            owners,
            [
                ("post-incident-review", Some("carol"), false),
                ("investigate-root-cause", Some("bob"), true)
            ]
        );
        let pause_tx = r.timeline.iter().find(|l| l.kind == "transaction");
        assert_eq!(pause_tx.map(|l| l.category), Some("pause"));
    }
}
