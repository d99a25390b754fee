//! The alert records' tests: commit, dedup, finalise, rewind, acknowledge, on both backends.

use alloy::primitives::{Address, TxHash};

use super::*;

fn alert(rule: &str, severity: Severity, block: u64, key: &str) -> NewAlert {
    NewAlert {
        rule: rule.into(),
        kind: rule.into(),
        severity,
        chain: "local".into(),
        chain_id: 31337,
        contract: Some("registry".into()),
        address: Some(Address::repeat_byte(1)),
        block_number: block,
        block_hash: B256::repeat_byte(block as u8),
        tx_hashes: vec![TxHash::repeat_byte(9)],
        summary: format!("{rule} at {block}"),
        evidence: serde_json::json!({"n": block}),
        dedup_key: key.into(),
    }
}

fn block(number: u64) -> BlockRecord<'static> {
    BlockRecord {
        chain: "local",
        chain_id: 31337,
        number,
        hash: B256::repeat_byte(number as u8),
        parent_hash: B256::repeat_byte(number as u8 - 1),
        fence: None,
    }
}

#[test]
fn commits_dedups_finalises_rewinds_and_acknowledges() {
    for store in Store::each_backend() {
        assert_eq!(store.cursor(31337).expect("cursor"), None);
        let first = store
            .commit_block(
                &block(10),
                &[alert("privileged", Severity::Info, 10, "a")],
                2,
            )
            .expect("commit");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].status, AlertStatus::Open);
        assert_eq!(first[0].found, alert("privileged", Severity::Info, 10, "a"));
        // The same dedup key again is not a second alert.
        let again = store
            .commit_block(
                &block(11),
                &[
                    alert("privileged", Severity::Info, 11, "a"),
                    alert("insolvent", Severity::Critical, 11, "b"),
                ],
                2,
            )
            .expect("commit");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].found.dedup_key, "b");
        store.commit_block(&block(12), &[], 2).expect("commit");
        let status = |id| store.alert(id).expect("q").expect("exists").status;
        assert_eq!(status(first[0].id), AlertStatus::Final, "two blocks on top");
        assert_eq!(status(again[0].id), AlertStatus::Open);
        assert_eq!(
            store.cursor(31337).expect("cursor"),
            Some(Cursor {
                number: 12,
                hash: B256::repeat_byte(12)
            })
        );

        let retracted = store
            .rewind(
                31337,
                Cursor {
                    number: 10,
                    hash: B256::repeat_byte(10),
                },
            )
            .expect("rewind");
        assert_eq!(retracted.len(), 1);
        assert_eq!(retracted[0].id, again[0].id);
        assert_eq!(retracted[0].status, AlertStatus::Retracted);
        assert_eq!(status(again[0].id), AlertStatus::Retracted);
        assert_eq!(store.block_hash(31337, 11).expect("q"), None);
        assert_eq!(
            store.block_hash(31337, 9).expect("q"),
            Some(B256::repeat_byte(9)),
            "the parent of the oldest block kept"
        );
        assert_eq!(store.cursor(31337).expect("q").map(|c| c.number), Some(10));
        // The freed key can be raised again by the new canonical block.
        let raised = store
            .commit_block(
                &block(11),
                &[alert("insolvent", Severity::Critical, 11, "b")],
                2,
            )
            .expect("commit");
        assert_eq!(raised.len(), 1);

        let critical = store
            .alerts(&AlertFilter {
                min_severity: Some(Severity::High),
                ..AlertFilter::default()
            })
            .expect("list");
        assert_eq!(critical.len(), 2, "the retracted one is still listed");
        assert!(critical[0].id > critical[1].id, "newest first");
        let by_rule = store
            .alerts(&AlertFilter {
                rule: Some("privileged".into()),
                ..AlertFilter::default()
            })
            .expect("list");
        assert_eq!(by_rule.len(), 1);

        let acked = store
            .acknowledge(first[0].id, "alice", Some("expected drill"))
            .expect("ack")
            .expect("exists");
        let ack = acked.acknowledged.expect("acknowledged");
        assert_eq!(
            (ack.by.as_str(), ack.note.as_deref()),
            ("alice", Some("expected drill"))
        );
        assert!(
            store
                .acknowledge(999, "alice", None)
                .expect("ack")
                .is_none()
        );
    }
}
