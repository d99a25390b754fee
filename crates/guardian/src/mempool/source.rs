//! The two ways pending transactions arrive: a WebSocket subscription to full pending
//! transactions, or polling the node's pool (`txpool_content`).

use std::{
    collections::{HashSet, VecDeque},
    time::{Duration, Instant},
};

use alloy::pubsub::SubscriptionItem;
use alloy::{primitives::TxHash, providers::Provider, rpc::types::Transaction};
use serde_json::Value;
use tokio::sync::{broadcast::error::RecvError, mpsc, watch};

use super::PendingTx;
use crate::{
    chain::{ChainClient, ws},
    secret::RpcUrl,
};

/// Pending transactions buffered for a slow reader before the source waits for it.
pub(super) const CHANNEL: usize = 4096;

/// Hashes remembered by the subscription to hand each out once (a node may announce a
/// transaction again, e.g. after a reconnection); the oldest are forgotten first.
const REMEMBERED: usize = 100_000;

/// Wait before subscribing again after the subscription (or its connection) failed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// Hashes already handed out, the oldest forgotten past [`REMEMBERED`].
#[derive(Default)]
struct Seen {
    set: HashSet<TxHash>,
    order: VecDeque<TxHash>,
}

impl Seen {
    /// Whether `hash` is new (and remembers it).
    fn first(&mut self, hash: TxHash) -> bool {
        if !self.set.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// Resolves once `stop` holds true. A dropped sender never stops the source (only dropping the
/// receiver of pending transactions does), so it is never mistaken for a stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Streams the subscription on `url` into `sender` until `stop` or the receiver is dropped;
/// subscribes again whenever the subscription closes.
pub(super) async fn subscription(
    client: ChainClient,
    url: RpcUrl,
    sender: mpsc::Sender<PendingTx>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen = Seen::default();
    while !*stop.borrow_and_update() && !sender.is_closed() {
        let subscribed = async {
            let provider = ws::pubsub_provider(&url).await.map_err(|e| e.to_string())?;
            let sub = provider
                .subscribe_full_pending_transactions()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((provider, sub))
        };
        let (_provider, mut sub) = tokio::select! {
            () = stopped(&mut stop) => return,
            answer = subscribed => match answer {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!(chain = %client.name, "cannot subscribe to pending transactions at {url}: {e}");
                    tokio::select! {
                        () = stopped(&mut stop) => return,
                        () = tokio::time::sleep(RESUBSCRIBE_AFTER) => continue,
                    }
                }
            },
        };
        tracing::info!(chain = %client.name, "watching pending transactions through {url}");
        loop {
            let tx = tokio::select! {
                () = stopped(&mut stop) => return,
                () = sender.closed() => return,
                tx = sub.recv_any() => tx,
            };
            let tx = match tx {
                Ok(SubscriptionItem::Item(tx)) => tx,
                // A node that ignores the full-transaction flag sends hashes: fetch each one.
                Ok(SubscriptionItem::Other(raw)) => match by_hash(&client, raw.get()).await {
                    Some(tx) => tx,
                    None => continue,
                },
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(chain = %client.name, "{missed} pending transactions were announced faster than read and are missed");
                    continue;
                }
                Err(RecvError::Closed) => {
                    tracing::warn!(chain = %client.name, "pending transaction subscription closed; subscribing again");
                    break;
                }
            };
            let pending = PendingTx::from_rpc(&tx, Instant::now());
            if seen.first(pending.hash) && sender.send(pending).await.is_err() {
                return;
            }
        }
    }
}

/// The transaction whose hash is the JSON string `raw`, if the node still has it.
async fn by_hash(client: &ChainClient, raw: &str) -> Option<Transaction> {
    let hash: TxHash = serde_json::from_str(raw).ok()?;
    match client.provider().get_transaction_by_hash(hash).await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::warn!(chain = %client.name, "cannot read pending transaction {hash}: {e}");
            None
        }
    }
}

/// Polls `txpool_content` every `poll` into `sender` until `stop` or the receiver is dropped.
/// Only the pool's `pending` part (executable now) is read, not `queued` (nonce gaps).
pub(super) async fn txpool(
    client: ChainClient,
    poll: Duration,
    sender: mpsc::Sender<PendingTx>,
    mut stop: watch::Receiver<bool>,
) {
    // The hashes handed out that are still in the pool: a transaction that leaves it (mined,
    // replaced) is forgotten, so memory follows the pool's size.
    let mut in_pool: HashSet<TxHash> = HashSet::new();
    let mut warned = false;
    while !*stop.borrow_and_update() && !sender.is_closed() {
        let answer = tokio::select! {
            () = stopped(&mut stop) => return,
            () = sender.closed() => return,
            answer = client.provider().raw_request::<_, Value>("txpool_content".into(), ()) => answer,
        };
        match answer {
            Ok(content) => {
                warned = false;
                let seen_at = Instant::now();
                let mut now_in_pool = HashSet::with_capacity(in_pool.len());
                for tx in pending_of(&content) {
                    let pending = PendingTx::from_rpc(&tx, seen_at);
                    now_in_pool.insert(pending.hash);
                    if !in_pool.contains(&pending.hash) && sender.send(pending).await.is_err() {
                        return;
                    }
                }
                in_pool = now_in_pool;
            }
            // Said once per outage, not once per poll.
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(chain = %client.name, "txpool_content failed: {e}");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = stopped(&mut stop) => return,
            () = sender.closed() => return,
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// The transactions of a `txpool_content` answer's `pending` part, each sender's in nonce
/// order. Objects that do not parse are skipped with a warning.
fn pending_of(content: &Value) -> Vec<Transaction> {
    let Some(senders) = content.get("pending").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut all = Vec::new();
    for by_nonce in senders.values().filter_map(Value::as_object) {
        // Nonces are decimal strings keys; JSON object order is not numeric order.
        let mut txs: Vec<(u64, &Value)> = by_nonce
            .iter()
            .filter_map(|(nonce, tx)| Some((nonce.parse().ok()?, tx)))
            .collect();
        txs.sort_by_key(|(nonce, _)| *nonce);
        for (_, tx) in txs {
            match serde_json::from_value::<Transaction>(tx.clone()) {
                Ok(tx) => all.push(tx),
                Err(e) => tracing::warn!("skipping a txpool_content entry: {e}"),
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hash_is_new_once() {
        let mut seen = Seen::default();
        let hash = TxHash::repeat_byte(7);
        assert!(seen.first(hash));
        assert!(!seen.first(hash));
        assert!(seen.first(TxHash::repeat_byte(8)));
    }

    #[test]
    fn pool_entries_come_in_nonce_order_and_bad_ones_are_skipped() {
        let tx = |nonce: u64, hash: u8| {
            serde_json::json!({
                "type": "0x2", "chainId": "0x7a69", "nonce": format!("{nonce:#x}"), "gas": "0x5208",
                "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x3b9aca00",
                "to": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "value": "0x1000",
                "accessList": [], "input": "0x", "r": "0x1", "s": "0x1", "yParity": "0x1",
                "hash": format!("0x{}", hex_byte(hash)), "blockHash": null, "blockNumber": null,
                "transactionIndex": null, "from": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                "gasPrice": "0x77359400"
            })
        };
        let content = serde_json::json!({
            "pending": {"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266": {
                "10": tx(10, 2), "9": tx(9, 1), "11": {"nonsense": true}
            }},
            "queued": {"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266": {"13": tx(13, 3)}}
        });
        let txs = pending_of(&content);
        let nonces: Vec<_> = txs
            .iter()
            .map(|t| PendingTx::from_rpc(t, Instant::now()).nonce)
            .collect();
        assert_eq!(nonces, [9, 10]);
        let first = PendingTx::from_rpc(&txs[0], Instant::now());
        assert_eq!(first.hash, TxHash::repeat_byte(1));
        assert_eq!(first.max_priority_fee_per_gas, 1_000_000_000);
        assert_eq!(first.max_fee_per_gas, 2_000_000_000);
    }

    fn hex_byte(byte: u8) -> String {
        format!("{byte:02x}").repeat(32)
    }
}
