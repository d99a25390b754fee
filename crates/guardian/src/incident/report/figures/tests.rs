//! Tests of the report's figures, and the incident fixture the HTML and Markdown tests share.

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
        max_fee_per_gas: None,
        max_priority_fee_per_gas: None,
        fee_reason: None,
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
                owner: Some("bob".into()),
                done_by: Some("bob".into()),
                done_at: Some(1_050_000),
            },
            Task {
                id: "post-incident-review".into(),
                title: "post-incident review".into(),
                owner: None,
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
        tx: None,
    };
    // The exploit's time is its block's timestamp, the chain's clock; the alert's is guardian's:
    // two clocks, so blocks only (mixing them gave negative durations).
    let detect = report(&f, Some(exploit)).durations.detect.expect("detect");
    assert_eq!((detect.blocks, detect.ms), (Some(0), None));
    assert_eq!(detect.clock, None);
    assert_eq!(pause.clock.as_deref(), Some("local time"));
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
    // No snapshot before the exploit: at risk is what was held at the opening, and it says so.
    assert_eq!(total.at_risk.base, (10 * ETH).to_string());
    assert_eq!(total.at_risk.shown, "10.0 ETH");
    assert_eq!(
        total.owed.as_ref().map(|o| o.shown.as_str()),
        Some("10.0 ETH")
    );
    assert!(
        r.funds_basis[0].contains("held at the incident's opening (block 100)"),
        "{:?}",
        r.funds_basis
    );
    // Held 10 then, 7 after the pause: 3 left (net of anything put in).
    assert_eq!(total.lost.base, (3 * ETH).to_string());
    assert!(r.funds_basis[1].contains("after the pause (block 101)"));
    // Only the mined withdrawal counts, not the reverted one.
    assert_eq!(total.rescued.base, (3 * ETH).to_string());
    assert_eq!(total.returned.shown, "2.0 ETH");
    // Nothing returned beyond the rescue: all that was lost is still short.
    assert_eq!(total.still_short.shown, "3.0 ETH");
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(
        json["funds_total"][0]["lost"]["base"],
        "3000000000000000000"
    );
}

#[test]
fn at_risk_is_read_in_the_block_before_the_exploit_and_lost_is_net_of_what_came_in() {
    let mut f = fixture();
    // The block before the exploit: 12 held, 12 owed; the attacker's 1 deposit is in both. After
    // the pause 7 are held: 5 left, whatever the escrow still owes the attacker.
    let at = f.timeline[0].at;
    f.timeline.push(entry(
        90,
        at,
        "funds",
        json!({"when": "before", "blocks": {"local": 99}, "stakes": [stake(12 * ETH, 12 * ETH)]}),
    ));
    f.timeline.push(entry(
        91,
        at,
        "exploit",
        json!({"chain_id": 31337, "block": 100, "at": null, "tx": null}),
    ));
    // A rescue a Safe executed counts as rescued, by the exact amount its call names.
    for (id, event) in [(92, "proposed"), (93, "executed")] {
        f.timeline.push(entry(
            id,
            at,
            "safe",
            json!({"proposal": 7, "event": event, "chain": "local", "tx": "0x01",
                   "calls": ["withdraw 1.0 ETH from escrow to 0x00 (emergencyWithdraw escrow 1000000000000000000 native)"]}),
        ));
    }
    let r = report(&f, None);
    let total = &r.funds_total[0];
    assert_eq!(total.rescued.shown, "4.0 ETH");
    assert_eq!(total.at_risk.shown, "12.0 ETH");
    assert_eq!(total.lost.shown, "5.0 ETH");
    assert!(r.funds_basis[0].contains("held in block 99, the block before"));
    // Returned 2 against 4 rescued covers nothing beyond the rescue: 5 still short.
    assert_eq!(total.still_short.shown, "5.0 ETH");
    // The recorded exploit starts the time to detect.
    assert_eq!(r.exploit.map(|x| x.block), Some(100));
    let detect = r.durations.detect.expect("detect");
    assert_eq!(detect.from, "exploit's first transaction");
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

#[test]
fn a_report_of_an_incident_not_closed_says_draft_at_its_top() {
    let mut f = fixture();
    let draft = report(&f, None);
    for text in [
        super::super::to_markdown(&draft),
        super::super::to_html(&draft),
    ] {
        // At the top: after the title, before the summary.
        let draft = text
            .find("DRAFT: incident 1 is resolved")
            .expect("the notice");
        let summary = text.find("Summary").expect("the summary");
        assert!(draft < summary, "{text}");
    }
    f.incident.status = IncidentStatus::Closed;
    let closed = report(&f, None);
    assert!(!super::super::to_markdown(&closed).contains("DRAFT"));
    assert!(!super::super::to_html(&closed).contains("DRAFT"));
}
