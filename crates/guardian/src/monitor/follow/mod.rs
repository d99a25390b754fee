//! One chain's follower: new heads by polling, each block read, checked against its stored parent,
//! evaluated and committed with its alerts; reorganisations walked back to the common ancestor.

use std::collections::BTreeMap;

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
    providers::Provider,
};
use tokio::sync::{mpsc, watch};

use super::{
    ChainRules, ChainSummary, MonitorError, MonitorEvent,
    heads::{self, Heads, POLL_FACTOR_WITH_SUBSCRIPTION, RESUBSCRIBE_AFTER, next_head},
    health::{At, HealthBoard, HealthWatch},
    holdings,
    insolvent::Insolvency,
    metrics::{Metrics, Stage},
    privileged,
};
use crate::{
    chain::{ChainClient, ws},
    config::ContractConfig,
    deployment::Deployment,
    secret::RpcUrl,
    storage::{BlockRecord, Cursor, Fence, KEPT_BLOCKS, StorageError, Store},
};

mod read;

// The stop signal's helpers live with the heads; lease.rs and offline.rs reach them through here.
pub(super) use super::heads::{changed, stopped};

/// A block's identity: what reorganisations are detected with.
#[derive(Debug, Clone, Copy)]
struct Head {
    number: u64,
    hash: B256,
    parent_hash: B256,
    timestamp: u64,
}

pub(super) struct Follower<'a> {
    client: &'a ChainClient,
    store: &'a Store,
    contracts: Vec<ContractConfig>,
    names: BTreeMap<Address, String>,
    /// The manifest's Safes (address → signer name), watched for their own events.
    safes: BTreeMap<Address, String>,
    expected: privileged::Expected,
    insolvency: Insolvency,
    rules: Option<Box<dyn ChainRules>>,
    events: Option<mpsc::UnboundedSender<MonitorEvent>>,
    confirmations: u64,
    poll: std::time::Duration,
    /// The chain's WebSocket endpoints: new heads are subscribed to there.
    ws_urls: Vec<RpcUrl>,
    summary: ChainSummary,
    metrics: Option<std::sync::Arc<Metrics>>,
    health: HealthWatch,
    /// The lease this instance holds on the chain (`[ha]`): every block is committed under it.
    fence: Option<Fence>,
    /// Set to each block number committed (`[ha]`: where following on the local store begins
    /// should the database become unreachable).
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// The balances last recorded per contract, and each asset's symbol, for the team's pages.
    recorded: super::state::Recorded,
    /// The head read by the last poll, written with the next block processed (one commit a
    /// block), or alone when there is none.
    head_read: Option<u64>,
}

impl<'a> Follower<'a> {
    pub(super) fn new(
        deployment: &'a Deployment,
        client: &'a ChainClient,
        expected: privileged::Expected,
        rules: Option<Box<dyn ChainRules>>,
        events: Option<mpsc::UnboundedSender<MonitorEvent>>,
        metrics: Option<std::sync::Arc<Metrics>>,
        board: Option<std::sync::Arc<HealthBoard>>,
    ) -> Self {
        let contracts: Vec<ContractConfig> = deployment
            .manifest
            .contracts
            .iter()
            .filter(|c| c.chain() == client.name)
            .cloned()
            .collect();
        let names = contracts
            .iter()
            .map(|c| (c.address, c.name().to_string()))
            .collect();
        Self {
            client,
            store: &deployment.store,
            contracts,
            names,
            safes: deployment
                .safes
                .iter()
                .filter_map(|s| s.at(&client.name).map(|a| (a, s.name.clone())))
                .collect(),
            expected,
            insolvency: Insolvency::default(),
            rules,
            events,
            confirmations: deployment.manifest.monitor.confirmations,
            poll: deployment.manifest.monitor.poll_interval(),
            ws_urls: deployment
                .manifest
                .chains
                .get(&client.name)
                .map(|c| {
                    c.rpc_urls
                        .iter()
                        .filter(|u| ws::is_websocket(u))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
            summary: ChainSummary {
                chain: client.name.clone(),
                ..ChainSummary::default()
            },
            metrics,
            health: HealthWatch::new(
                &client.name,
                client.chain_id,
                deployment.manifest.monitor.max_lag_blocks,
                board,
            ),
            fence: None,
            progress: None,
            recorded: super::state::Recorded::default(),
            head_read: None,
        }
    }

    /// Keeps the chain's records in `store` instead of the deployment's (the local file a
    /// chain is followed on while the database is unreachable).
    pub(super) fn on_store(mut self, store: &'a Store) -> Self {
        self.store = store;
        self
    }

    /// Sets `progress` to each block number committed.
    pub(super) fn progress(
        mut self,
        progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Raises the `monitor-health` alert of a takeover at the chain's cursor (none before the
    /// chain's first block).
    pub(super) fn raise_takeover(
        &self,
        epoch: i64,
        instance: &str,
        unwatched_ms: i64,
        lease_ms: u64,
    ) {
        if let Some(at) = self.at() {
            let alert = self
                .health
                .takeover(at, epoch, instance, unwatched_ms, lease_ms);
            self.raise_health(alert);
        }
    }

    /// Commits every block under `fence`: once another instance takes the chain, the next
    /// block is refused whole and the follower stops.
    pub(super) fn fenced(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }

    /// Follows the chain until `stop` turns true (or, with `once`, up to the head): at each new
    /// head of a WebSocket subscription where the chain has a ws(s):// endpoint, else every
    /// `poll_interval_ms`.
    pub(super) async fn run(
        mut self,
        from_block: Option<u64>,
        once: bool,
        mut stop: Option<watch::Receiver<bool>>,
    ) -> Result<ChainSummary, MonitorError> {
        let mut next = self.start(from_block).await?;
        let mut heads: Option<Heads> = None;
        let mut subscribed_at: Option<std::time::Instant> = None;
        loop {
            if !once
                && heads.is_none()
                && !self.ws_urls.is_empty()
                && subscribed_at.is_none_or(|t| t.elapsed() >= RESUBSCRIBE_AFTER)
            {
                subscribed_at = Some(std::time::Instant::now());
                heads = heads::subscribe(&self.client.name, &self.ws_urls).await;
            }
            match self.sync(&mut next, stop.as_ref()).await {
                Ok(()) => {}
                // The chain is another instance's now: nothing more is written or raised here.
                Err(e @ MonitorError::Storage(StorageError::Fenced { .. })) => return Err(e),
                Err(e) if once => {
                    self.count_error(&e);
                    return Err(e);
                }
                // A following monitor outlives a failing endpoint: warn, and try again.
                Err(e) => {
                    tracing::warn!(chain = %self.client.name, "{e}; retrying");
                    self.count_error(&e);
                    if matches!(
                        e,
                        MonitorError::Chain(_) | MonitorError::MissingBlock { .. }
                    ) {
                        let at = self.at();
                        if let Some(alert) = self.health.on_failure(at, &e.to_string()) {
                            self.raise_health(alert);
                        }
                    }
                }
            }
            if once || stopped(stop.as_ref()) {
                break;
            }
            let wait = if heads.is_some() {
                self.poll * POLL_FACTOR_WITH_SUBSCRIPTION
            } else {
                self.poll
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                alive = next_head(&mut heads) => {
                    if !alive {
                        tracing::warn!(chain = %self.client.name, "the newHeads subscription closed; polling until it is back");
                        heads = None;
                    }
                }
                _ = changed(&mut stop) => {}
            }
            if stopped(stop.as_ref()) {
                break;
            }
        }
        self.summary.cursor = self.store.cursor(self.client.chain_id)?.map(|c| c.number);
        Ok(self.summary)
    }

    /// The first block to process, with the rules' state set for it.
    async fn start(&mut self, from_block: Option<u64>) -> Result<u64, MonitorError> {
        let cursor = self.store.cursor(self.client.chain_id)?;
        let next = match (from_block, cursor) {
            (Some(from), _) => from,
            (None, Some(c)) => c.number + 1,
            (None, None) => self.head_number().await?,
        };
        // What was short at the block before is an episode already raised (or older than the
        // monitor): only a new shortfall is an alert.
        if let (Some(before), Some(_)) = (next.checked_sub(1), cursor) {
            let balances = holdings::at_block(self.client, &self.contracts, before).await?;
            self.insolvency.reset(&balances);
        }
        if let Some(before) = next.checked_sub(1) {
            super::state::read_paused(self.client, self.store, &self.contracts, before).await;
            self.recorded
                .read_assets(self.client, &self.contracts)
                .await;
        }
        Ok(next)
    }

    async fn head_number(&self) -> Result<u64, MonitorError> {
        Ok(self
            .client
            .provider()
            .get_block_number()
            .await
            .map_err(|e| self.client.rpc_err(e))?)
    }

    async fn header(&self, number: u64) -> Result<Head, MonitorError> {
        let block = self
            .client
            .provider()
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| self.client.rpc_err(e))?
            .ok_or_else(|| MonitorError::MissingBlock {
                chain: self.client.name.clone(),
                number,
            })?;
        Ok(Head {
            number,
            hash: block.header.hash,
            parent_hash: block.header.parent_hash,
            timestamp: block.header.timestamp,
        })
    }

    /// Processes every block from `next` to the head; a reorganisation met on the way is
    /// walked back first.
    async fn sync(
        &mut self,
        next: &mut u64,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Result<(), MonitorError> {
        let chain_id = self.client.chain_id;
        let head = self.head_number().await?;
        self.head_read = Some(head);
        let at = self.at();
        if let Some(m) = &self.metrics {
            m.head_lag(
                &self.client.name,
                at.map_or(0, |a| head.saturating_sub(a.number)),
            );
        }
        if let Some(alert) = self.health.on_head(head, at) {
            self.raise_health(alert);
        }
        // The last block processed may have been replaced at the same height, or the chain
        // may have become shorter: both are reorganisations no new block's parent would show.
        if let Some(c) = self.store.cursor(chain_id)?
            && c.number + 1 == *next
        {
            let still_there = c.number <= head && self.header(c.number).await?.hash == c.hash;
            if !still_there {
                *next = self.reorg(c.number.min(head)).await? + 1;
            }
        }
        while *next <= head {
            if stopped(stop) {
                return Ok(());
            }
            let h = self.header(*next).await?;
            let learned = std::time::Instant::now();
            if let Some(parent) = next.checked_sub(1)
                && let Some(stored) = self.store.block_hash(chain_id, parent)?
                && stored != h.parent_hash
            {
                *next = self.reorg(parent).await? + 1;
                continue;
            }
            self.process(h, learned).await?;
            if let Some(m) = &self.metrics {
                m.head_lag(&self.client.name, head.saturating_sub(*next));
            }
            *next += 1;
        }
        // No block took the head along: it is written alone (the overview's lag).
        if let Some(head) = self.head_read.take() {
            super::state::note_head(self.store, &self.client.name, chain_id, head);
        }
        Ok(())
    }

    /// Walks back from block `from` to the newest block whose stored hash is still canonical,
    /// retracts what the blocks after it raised and returns its number.
    async fn reorg(&mut self, from: u64) -> Result<u64, MonitorError> {
        let chain_id = self.client.chain_id;
        let mut number = from;
        let ancestor = loop {
            let Some(stored) = self.store.block_hash(chain_id, number)? else {
                return Err(MonitorError::DeepReorg {
                    chain: self.client.name.clone(),
                    oldest: number + 1,
                });
            };
            let canonical = self.header(number).await?;
            if canonical.hash == stored {
                break Cursor {
                    number,
                    hash: stored,
                };
            }
            match number.checked_sub(1) {
                Some(n) if from - n < KEPT_BLOCKS => number = n,
                _ => {
                    return Err(MonitorError::DeepReorg {
                        chain: self.client.name.clone(),
                        oldest: number,
                    });
                }
            }
        };
        tracing::warn!(
            chain = %self.client.name,
            "reorganisation: blocks after {} were replaced; retracting their alerts",
            ancestor.number
        );
        let retracted = self
            .store
            .rewind_under(chain_id, ancestor, self.fence.as_ref())?;
        self.summary.reorgs += 1;
        self.summary.retracted += retracted.len() as u64;
        if let Some(m) = &self.metrics {
            m.alerts_retracted(&self.client.name, retracted.len() as u64);
        }
        if let Some(rules) = self.rules.as_mut() {
            rules.rewind(ancestor.number);
        }
        let balances = holdings::at_block(self.client, &self.contracts, ancestor.number).await?;
        self.insolvency.reset(&balances);
        for alert in retracted {
            self.emit(MonitorEvent::Retracted(alert));
        }
        Ok(ancestor.number)
    }

    /// Reads one block, evaluates the rules and commits it with its alerts.
    async fn process(&mut self, h: Head, learned: std::time::Instant) -> Result<(), MonitorError> {
        let block = self.read(h).await?;
        let senders = self.senders(&block).await?;
        let started = std::time::Instant::now();
        let mut alerts = privileged::evaluate(&block, &self.expected, &self.names, &senders);
        alerts.extend(self.insolvency.evaluate(&block));
        alerts.extend(super::safes::evaluate(&block, &self.safes, || {
            self.store.proposal_hashes().unwrap_or_default()
        }));
        alerts.extend(super::safes::singleton_changes(self.client, &block, &self.safes).await);
        // The configured rules (`[[rules]]`): the rules engine is evaluated here.
        if let Some(rules) = self.rules.as_mut() {
            alerts.extend(rules.on_block(&block));
        }
        self.stage(Stage::Rules, started);
        let started = std::time::Instant::now();
        let record = BlockRecord {
            chain: &self.client.name,
            chain_id: self.client.chain_id,
            number: h.number,
            hash: h.hash,
            parent_hash: h.parent_hash,
            fence: self.fence.as_ref(),
        };
        let notes = super::state::notes(&block, &self.recorded, self.head_read.take());
        let stored =
            self.store
                .commit_block_noting(&record, &alerts, self.confirmations, &notes)?;
        self.recorded.accept(notes);
        self.stage(Stage::Store, started);
        self.summary.blocks += 1;
        self.summary.raised += stored.len() as u64;
        if let Some(p) = &self.progress {
            p.store(h.number, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(m) = &self.metrics {
            m.block_processed(&self.client.name, stored.len(), learned.elapsed());
        }
        self.announce(stored);
        Ok(())
    }

    /// Logs, counts and hands on alerts just stored.
    fn announce(&self, stored: Vec<crate::alert::Alert>) {
        super::announce(
            &self.client.name,
            self.metrics.as_deref(),
            self.events.as_ref(),
            stored,
            "",
        );
    }

    /// The last block processed (where the chain's health alerts are filed), if any.
    fn at(&self) -> Option<At> {
        match self.store.cursor(self.client.chain_id) {
            Ok(c) => c.map(|c| At {
                number: c.number,
                hash: c.hash,
            }),
            Err(e) => {
                tracing::warn!(chain = %self.client.name, "cannot read the cursor: {e}");
                None
            }
        }
    }

    /// Stores a `monitor-health` alert at the cursor (the block is committed again unchanged,
    /// with the alert) and hands it on like any other.
    fn raise_health(&self, alert: crate::alert::NewAlert) {
        let chain_id = self.client.chain_id;
        let stored = (|| {
            let parent_hash = alert
                .block_number
                .checked_sub(1)
                .map(|p| self.store.block_hash(chain_id, p))
                .transpose()?
                .flatten()
                .unwrap_or_default();
            let record = BlockRecord {
                chain: &self.client.name,
                chain_id,
                number: alert.block_number,
                hash: alert.block_hash,
                parent_hash,
                fence: self.fence.as_ref(),
            };
            self.store
                .commit_block(&record, std::slice::from_ref(&alert), self.confirmations)
        })();
        match stored {
            Ok(stored) => self.announce(stored),
            Err(e) => {
                tracing::warn!(chain = %self.client.name, "cannot store a monitor-health alert: {e}")
            }
        }
    }

    fn count_error(&self, e: &MonitorError) {
        if let (Some(m), MonitorError::Chain(_) | MonitorError::MissingBlock { .. }) =
            (&self.metrics, e)
        {
            m.rpc_error(&self.client.name);
        }
    }

    fn emit(&self, event: MonitorEvent) {
        if let Some(tx) = &self.events {
            // A receiver that went away does not stop the monitor: the alerts are stored.
            let _ = tx.send(event);
        }
    }
}
