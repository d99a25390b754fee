//! `--from-block` far behind the head: the history is read in large `eth_getLogs` ranges and
//! evaluated in block order by rules of its own, while the follower follows the head.
//!
//! What a backfill reads, and so what it sees:
//! - every log of the chain's manifest contracts, one request per range for all of them (a
//!   range the endpoint refuses is narrowed, as `guardian status` does);
//! - holdings only of the contracts a rule reads them for (escrows for `insolvent`, `outflow`
//!   targets), only at the blocks where one of those emitted a log, at the first block and at
//!   the end of each range: a balance that changes without an event (a drain through a bug)
//!   shows at the next of those blocks, so `outflow` and `insolvent` see it later than the
//!   follower would, and an outflow spread over more than a window between two readings is not
//!   seen as one;
//! - receipts (for `actor-burst` and `failed-share`) only of blocks where the suite emitted a
//!   log: a failed transaction emits none, so failures in blocks without any suite log are not
//!   counted.
//!
//! Blocks without a suite log are fed to the rules as empty blocks without being fetched, so
//! windows and baselines count them.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    primitives::{Address, B256, TxHash},
    providers::Provider,
    rpc::types::{Filter, Log, TransactionReceipt},
};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::{mpsc, watch};

use super::{
    ChainRules, MonitorError, MonitorEvent,
    block::{BalanceAt, BlockData, SuiteTx},
    holdings,
    insolvent::Insolvency,
    metrics::Metrics,
    privileged,
};
use crate::{
    alert::NewAlert,
    chain::{ChainClient, logs::logs},
    config::{ContractConfig, ContractKind},
    storage::{BackfillCursor, Store},
};

/// `--from-block` more than this many blocks behind the head is backfilled in ranges (below
/// it, the follower reads the few blocks one by one, as it does at the head).
pub const BACKFILL_THRESHOLD: u64 = 64;

/// Blocks per `eth_getLogs` range (narrowed when refused) and per committed stretch.
const RANGE_BLOCKS: u64 = 2_000;

/// Reads (holdings, receipts, senders, headers) in flight at once.
const CONCURRENT_READS: usize = 16;

/// What a backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Backfilled {
    pub(super) blocks: u64,
    pub(super) events: u64,
    pub(super) raised: u64,
}

/// The blocks a backfill covers, when `from` is far enough behind `head` to take one: from
/// `from` to the block before `head` (the follower starts at `head`).
pub(super) fn range(from: Option<u64>, head: u64) -> Option<(u64, u64)> {
    let from = from?;
    (head.saturating_sub(from) > BACKFILL_THRESHOLD).then(|| (from, head - 1))
}

/// One chain's backfill.
pub(super) struct Backfill<'a> {
    pub(super) client: &'a ChainClient,
    pub(super) store: &'a Store,
    pub(super) contracts: Vec<ContractConfig>,
    pub(super) names: BTreeMap<Address, String>,
    pub(super) expected: privileged::Expected,
    pub(super) rules: Option<Box<dyn ChainRules>>,
    pub(super) events: Option<mpsc::UnboundedSender<MonitorEvent>>,
    pub(super) metrics: Option<std::sync::Arc<Metrics>>,
    pub(super) confirmations: u64,
}

/// One range's logs, grouped by block.
struct Stretch {
    lo: u64,
    hi: u64,
    logs: BTreeMap<u64, Vec<Log>>,
    events: u64,
}

impl<'a> Backfill<'a> {
    /// Processes blocks `from..=to` (resuming after an interrupted run over the same `from`),
    /// until done or `stop`; with `retry`, a failing endpoint is waited out instead of ending it.
    pub(super) async fn run(
        mut self,
        from: u64,
        to: u64,
        retry: bool,
        stop: Option<watch::Receiver<bool>>,
    ) -> Result<Backfilled, MonitorError> {
        let mut done = Backfilled::default();
        loop {
            match self.pass(from, to, stop.as_ref(), &mut done).await {
                Ok(()) => return Ok(done),
                Err(e) if retry => {
                    tracing::warn!(chain = %self.client.name, "backfill: {e}; retrying in 5 s");
                    if let Some(m) = &self.metrics {
                        m.rpc_error(&self.client.name);
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    if stopped(stop.as_ref()) {
                        return Ok(done);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt: from the stored progress (or `from`) to `to`.
    async fn pass(
        &mut self,
        from: u64,
        to: u64,
        stop: Option<&watch::Receiver<bool>>,
        done: &mut Backfilled,
    ) -> Result<(), MonitorError> {
        let chain_id = self.client.chain_id;
        // Alerts of blocks up to `committed` are stored already: a resumed run replays the rules'
        // horizon before it (their windows need it) but stores nothing from there again.
        let committed = self
            .store
            .backfill_cursor(chain_id)?
            .filter(|c| c.from == from && c.through >= from)
            .map(|c| c.through);
        if committed.is_some_and(|c| c >= to) {
            return Ok(());
        }
        let horizon = self.rules.as_ref().map_or(0, |r| r.horizon());
        let start = committed.map_or(from, |c| (c + 1).saturating_sub(horizon).max(from));
        let mut insolvency = Insolvency::default();
        if let Some(before) = committed.and(start.checked_sub(1)) {
            insolvency.reset(&holdings::at_block(self.client, &self.contracts, before).await?);
        }
        if let (Some(rules), Some(before)) = (self.rules.as_mut(), start.checked_sub(1)) {
            // A fresh history for the rules: the blocks before `start` are not theirs.
            rules.rewind(before);
        }
        tracing::info!(chain = %self.client.name, "backfill: blocks {start}..={to}");
        let filter =
            Filter::new().address(self.contracts.iter().map(|c| c.address).collect::<Vec<_>>());
        let client = self.client;
        let fetch = |lo: u64| {
            let filter = filter.clone();
            async move {
                let hi = lo.saturating_add(RANGE_BLOCKS - 1).min(to);
                let found = logs(client, &filter, lo, hi).await?;
                let events = found.len() as u64;
                let mut by_block: BTreeMap<u64, Vec<Log>> = BTreeMap::new();
                for log in found {
                    if let Some(n) = log.block_number {
                        by_block.entry(n).or_default().push(log);
                    }
                }
                Ok::<_, MonitorError>(Stretch {
                    lo,
                    hi,
                    logs: by_block,
                    events,
                })
            }
        };
        let mut next = fetch(start).await?;
        loop {
            let stretch = next;
            let more = stretch.hi < to;
            // The next range is read while this one is evaluated.
            let (result, prefetched) = tokio::join!(
                self.stretch(&stretch, (from, start, to), &mut insolvency, committed),
                async {
                    if more {
                        Some(fetch(stretch.hi + 1).await)
                    } else {
                        None
                    }
                }
            );
            let raised = result?;
            done.blocks += stretch.hi - stretch.lo + 1;
            done.events += stretch.events;
            done.raised += raised;
            tracing::info!(
                chain = %self.client.name,
                "backfill: through block {} of {to} ({} events, {raised} alerts)",
                stretch.hi,
                stretch.events
            );
            match prefetched {
                Some(n) if !stopped(stop) => next = n?,
                _ => return Ok(()),
            }
        }
    }

    /// Reads what one range needs beyond its logs, evaluates its blocks in order and commits
    /// their alerts with the progress (of the backfill from `from`, this pass starting at
    /// `start`, up to `to`). Returns how many alerts were stored.
    async fn stretch(
        &mut self,
        s: &Stretch,
        (from, start, to): (u64, u64, u64),
        insolvency: &mut Insolvency,
        committed: Option<u64>,
    ) -> Result<u64, MonitorError> {
        let client = self.client;
        let ruled: BTreeSet<Address> = self
            .rules
            .as_ref()
            .map(|r| r.holdings_of().into_iter().collect())
            .unwrap_or_default();
        // Holdings are read only where a rule reads them: escrows (`insolvent`), `outflow` targets.
        let watched: Vec<ContractConfig> = self
            .contracts
            .iter()
            .filter(|c| c.kind.holds_funds())
            .filter(|c| c.kind == ContractKind::PaymentEscrow || ruled.contains(&c.address))
            .cloned()
            .collect();
        let holders: BTreeSet<Address> = watched.iter().map(|c| c.address).collect();
        let mut read_at: BTreeSet<u64> = BTreeSet::new();
        if !holders.is_empty() {
            read_at.extend(
                s.logs
                    .iter()
                    .filter(|(_, logs)| logs.iter().any(|l| holders.contains(&l.address())))
                    .map(|(n, _)| *n),
            );
            read_at.insert(s.hi);
            if s.lo == start {
                read_at.insert(start);
            }
        }
        let hashes: BTreeMap<u64, B256> = s
            .logs
            .iter()
            .filter_map(|(n, logs)| Some((*n, logs.first()?.block_hash?)))
            .collect();
        let contracts = &watched;
        let balances = futures::stream::iter(read_at.iter().copied())
            .map(|n| async move {
                Ok::<_, MonitorError>((n, holdings::at_block(client, contracts, n).await?))
            })
            .buffered(CONCURRENT_READS)
            .try_collect::<BTreeMap<u64, Vec<BalanceAt>>>();
        let needs_txs = self.rules.as_ref().is_some_and(|r| r.needs_transactions());
        let receipts = async {
            if !needs_txs {
                return Ok(BTreeMap::new());
            }
            futures::stream::iter(hashes.iter().map(|(n, h)| (*n, *h)))
                .map(|(n, h)| async move {
                    let r = client
                        .provider()
                        .get_block_receipts(BlockId::hash(h))
                        .await
                        .map_err(|e| client.rpc_err(e))?;
                    Ok::<_, MonitorError>((n, r.unwrap_or_default()))
                })
                .buffered(CONCURRENT_READS)
                .try_collect::<BTreeMap<u64, Vec<TransactionReceipt>>>()
                .await
        };
        // Blocks read for holdings only: their hashes, for the alerts filed at them.
        let edges = futures::stream::iter(read_at.iter().filter(|n| !hashes.contains_key(n)))
            .map(|n| header_hash(client, *n))
            .buffered(CONCURRENT_READS)
            .try_collect::<Vec<(u64, B256)>>();
        let (balances, receipts, edges) = tokio::join!(balances, receipts, edges);
        let (mut balances, receipts) = (balances?, receipts?);
        let mut hashes = hashes;
        hashes.extend(edges?);
        let transactions: BTreeMap<u64, Vec<SuiteTx>> = receipts
            .iter()
            .map(|(n, rs)| {
                (
                    *n,
                    rs.iter()
                        .filter_map(|r| SuiteTx::of(r, &self.names))
                        .collect(),
                )
            })
            .collect();
        let senders = self.senders(s, &transactions).await?;

        let mut alerts: Vec<NewAlert> = Vec::new();
        let mut block = BlockData {
            chain: self.client.name.clone(),
            chain_id: self.client.chain_id,
            ..BlockData::default()
        };
        let empty: Vec<Log> = Vec::new();
        for n in s.lo..=s.hi {
            let logs = s.logs.get(&n).unwrap_or(&empty);
            block.number = n;
            block.hash = hashes.get(&n).copied().unwrap_or_default();
            block.timestamp = logs.first().and_then(|l| l.block_timestamp).unwrap_or(0);
            block.logs.clone_from(logs);
            block.balances = balances.remove(&n).unwrap_or_default();
            block.transactions = transactions.get(&n).cloned().unwrap_or_default();
            if !block.logs.is_empty() {
                alerts.extend(privileged::evaluate(
                    &block,
                    &self.expected,
                    &self.names,
                    &senders,
                ));
            }
            if !block.balances.is_empty() {
                alerts.extend(insolvency.evaluate(&block));
            }
            if let Some(rules) = self.rules.as_mut() {
                alerts.extend(rules.on_block(&block));
            }
        }
        alerts.retain(|a| committed.is_none_or(|c| a.block_number > c));
        // A rule may fire at a block read for nothing (no log, no holdings): its hash, now.
        let unknown: BTreeSet<u64> = alerts
            .iter()
            .filter(|a| a.block_hash.is_zero())
            .map(|a| a.block_number)
            .collect();
        let found: BTreeMap<u64, B256> = futures::stream::iter(unknown)
            .map(|n| header_hash(client, n))
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await?;
        for a in alerts.iter_mut().filter(|a| a.block_hash.is_zero()) {
            if let Some(h) = found.get(&a.block_number) {
                a.block_hash = *h;
            }
        }
        // Deeper than `confirmations` below the head the backfill started from: final at once.
        let final_through = (to + 1).checked_sub(self.confirmations);
        let stored = self.store.commit_backfill(
            &self.client.name,
            self.client.chain_id,
            BackfillCursor {
                from,
                through: s.hi,
            },
            &alerts,
            final_through,
        )?;
        let raised = stored.len() as u64;
        super::announce(
            &self.client.name,
            self.metrics.as_deref(),
            self.events.as_ref(),
            stored,
            " (backfill)",
        );
        Ok(raised)
    }

    /// The senders of the range's transactions whose privileged events name no actor.
    async fn senders(
        &self,
        s: &Stretch,
        transactions: &BTreeMap<u64, Vec<SuiteTx>>,
    ) -> Result<BTreeMap<TxHash, Address>, MonitorError> {
        let known: BTreeMap<TxHash, Address> = transactions
            .values()
            .flatten()
            .map(|t| (t.hash, t.from))
            .collect();
        let wanted: BTreeSet<TxHash> = s
            .logs
            .values()
            .flatten()
            .filter(|l| privileged::needs_sender(l))
            .filter_map(|l| l.transaction_hash)
            .filter(|h| !known.contains_key(h))
            .collect();
        let client = self.client;
        let mut senders: BTreeMap<TxHash, Address> = futures::stream::iter(wanted)
            .map(|h| async move {
                let t = client
                    .provider()
                    .get_transaction_by_hash(h)
                    .await
                    .map_err(|e| client.rpc_err(e))?;
                Ok::<_, MonitorError>(t.map(|t| (h, t.inner.signer())))
            })
            .buffered(CONCURRENT_READS)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await?;
        senders.extend(known);
        Ok(senders)
    }
}

/// Block `number`'s hash.
async fn header_hash(client: &ChainClient, number: u64) -> Result<(u64, B256), MonitorError> {
    let block = client
        .provider()
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(|e| client.rpc_err(e))?
        .ok_or_else(|| MonitorError::MissingBlock {
            chain: client.name.clone(),
            number,
        })?;
    Ok((number, block.header.hash))
}

fn stopped(stop: Option<&watch::Receiver<bool>>) -> bool {
    stop.is_some_and(|rx| *rx.borrow())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfills_only_far_behind_the_head() {
        assert_eq!(range(None, 1_000), None);
        assert_eq!(range(Some(990), 1_000), None);
        assert_eq!(range(Some(1_000 - BACKFILL_THRESHOLD), 1_000), None);
        assert_eq!(range(Some(10), 1_000), Some((10, 999)));
        assert_eq!(range(Some(2_000), 1_000), None);
    }
}
