//! The journal's tests: actions and transactions recorded on every backend.

use super::*;
use crate::storage::Store;

#[test]
fn records_an_action_with_its_transactions() {
    for store in Store::each_backend() {
        let id = store
            .begin_action(
                "pause",
                "pauser 0x00",
                Some("drill"),
                &serde_json::json!({"targets": ["registry"]}),
            )
            .expect("begin");
        let hash = TxHash::repeat_byte(7);
        let tx = NewTx {
            chain_id: 31337,
            sender: Address::repeat_byte(1),
            nonce: 4,
            label: "pause registry",
            target: Some(Address::repeat_byte(2)),
            tx_hash: hash,
            fees: Some((2_000_000_000, 1_000_000_000, "ordinary")),
        };
        store.record_sent(id, &tx).expect("sent");
        assert_eq!(
            store
                .unconfirmed(31337, Address::repeat_byte(1))
                .expect("q")
                .len(),
            1
        );
        store
            .record_receipt(hash, 12, 30_000, None)
            .expect("receipt");
        assert!(
            store
                .unconfirmed(31337, Address::repeat_byte(1))
                .expect("q")
                .is_empty()
        );
        store.finish_action(id, true, "1 paused").expect("finish");

        let actions = store.actions().expect("actions");
        assert_eq!(actions[0].status, Status::Succeeded);
        assert_eq!(actions[0].reason.as_deref(), Some("drill"));
        let txs = store.transactions(id).expect("txs");
        assert_eq!(
            (txs[0].block_number, txs[0].status, txs[0].nonce),
            (Some(12), Status::Mined, 4)
        );
        assert_eq!(store.last_action("pause").expect("last"), Some(id));
    }
}

#[test]
fn a_hash_is_recorded_once() {
    for store in Store::each_backend() {
        let id = store
            .begin_action("pause", "a", None, &serde_json::json!({}))
            .expect("begin");
        let tx = NewTx {
            chain_id: 1,
            sender: Address::ZERO,
            nonce: 0,
            label: "x",
            target: None,
            tx_hash: TxHash::repeat_byte(1),
            fees: None,
        };
        store.record_sent(id, &tx).expect("first");
        assert!(store.record_sent(id, &tx).is_err());
    }
}
