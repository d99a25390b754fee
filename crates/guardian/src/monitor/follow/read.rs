//! Reading one block as the rules see it: the manifest contracts' logs, the fund-holding
//! contracts' holdings and (when a rule needs them) the suite's transactions and senders, each
//! stage timed in the metrics.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use alloy::{
    eips::BlockId,
    primitives::{Address, TxHash},
    providers::Provider,
    rpc::types::Filter,
};

use futures::future::join_all;

use super::{Follower, Head};
use crate::monitor::{
    MonitorError,
    block::{BlockData, SuiteTx},
    holdings,
    metrics::Stage,
    privileged,
};

impl Follower<'_> {
    /// Observes how long `stage` took since `started`, where metrics are kept.
    pub(super) fn stage(&self, stage: Stage, started: Instant) {
        if let Some(m) = &self.metrics {
            m.stage(&self.client.name, stage, started.elapsed());
        }
    }

    /// The block as the rules see it: its logs, holdings and (when needed) suite transactions.
    pub(super) async fn read(&self, h: Head) -> Result<BlockData, MonitorError> {
        let provider = self.client.provider();
        let filter = Filter::new().at_block_hash(h.hash).address(
            self.contracts
                .iter()
                .map(|c| c.address)
                .chain(self.safes.keys().copied())
                .collect::<Vec<_>>(),
        );
        let needs_txs = self.rules.as_ref().is_some_and(|r| r.needs_transactions());
        let receipts = async {
            if !needs_txs {
                return Ok(None);
            }
            provider
                .get_block_receipts(BlockId::hash(h.hash))
                .await
                .map_err(|e| self.client.rpc_err(e))
        };
        // Each read is timed on its own: they run side by side, and the slower one is the stage
        // the block waits for.
        let logs = async {
            let started = Instant::now();
            let (logs, receipts) = tokio::join!(provider.get_logs(&filter), receipts);
            self.stage(Stage::FetchLogs, started);
            (logs, receipts)
        };
        let balances = async {
            let started = Instant::now();
            let read = holdings::at_block(self.client, &self.contracts, h.number).await;
            self.stage(Stage::ReadHoldings, started);
            read
        };
        let ((logs, receipts), balances) = tokio::join!(logs, balances);
        let mut logs = logs.map_err(|e| self.client.rpc_err(e))?;
        logs.sort_by_key(|l| l.log_index);
        Ok(BlockData {
            chain: self.client.name.clone(),
            chain_id: self.client.chain_id,
            number: h.number,
            hash: h.hash,
            parent_hash: h.parent_hash,
            timestamp: h.timestamp,
            logs,
            balances: balances?,
            transactions: receipts?
                .unwrap_or_default()
                .iter()
                .filter_map(|r| SuiteTx::of(r, &self.names))
                .collect(),
        })
    }

    /// The senders of the transactions whose privileged events name no actor of their own.
    pub(super) async fn senders(
        &self,
        block: &BlockData,
    ) -> Result<BTreeMap<TxHash, Address>, MonitorError> {
        let wanted: BTreeSet<TxHash> = block
            .logs
            .iter()
            .filter(|l| privileged::needs_sender(l))
            .filter_map(|l| l.transaction_hash)
            .collect();
        let started = Instant::now();
        let known: BTreeMap<TxHash, Address> = block
            .transactions
            .iter()
            .filter(|t| wanted.contains(&t.hash))
            .map(|t| (t.hash, t.from))
            .collect();
        // The rest read side by side (a block of many privileged transactions waits for one
        // round trip, not one each).
        let found = join_all(wanted.iter().filter(|tx| !known.contains_key(*tx)).map(
            |tx| async move {
                let found = self.client.provider().get_transaction_by_hash(*tx).await;
                (*tx, found.map_err(|e| self.client.rpc_err(e)))
            },
        ))
        .await;
        let mut senders = known;
        for (tx, found) in found {
            if let Some(t) = found? {
                senders.insert(tx, t.inner.signer());
            }
        }
        if !wanted.is_empty() {
            self.stage(Stage::FetchLogs, started);
        }
        Ok(senders)
    }
}
