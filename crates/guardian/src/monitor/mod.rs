//! `guardian monitor`: follows every chain of the manifest block by block, evaluates the rules,
//! stores the alerts with each chain's cursor and hands them on.
//!
//! One task per chain. Each block is read (its logs by block hash, the fund-holding contracts'
//! holdings at it, and its receipts when a rule needs them), checked against the stored parent
//! (a reorganisation walks back to the common ancestor and retracts what the orphaned blocks
//! raised), evaluated by the built-in rules (`privileged`, `insolvent`) and the configured ones,
//! and committed with its alerts in one SQLite transaction.

pub mod backfill;
pub mod block;
pub mod channels;
mod follow;
mod heads;
pub mod health;
pub mod holdings;
pub mod insolvent;
pub mod lease;
pub mod metrics;
pub mod offline;
pub mod pending;
pub mod preempt;
pub mod privileged;
pub mod rules;
pub mod safes;
mod state;

use std::{collections::BTreeMap, sync::Arc};

use tokio::sync::{mpsc, watch};

use alloy::providers::Provider;

use crate::{
    alert::{Alert, NewAlert},
    chain::{self, ChainError},
    deployment::Deployment,
    storage::StorageError,
};

pub use block::BlockData;

/// A failure of the monitor on one chain.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The chain could not be read.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The alerts or the cursor could not be stored.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The chain could not be reached when the monitor started.
    #[error("chain `{chain}` is unreachable: {reason}")]
    Unreachable {
        /// Chain name.
        chain: String,
        /// Why.
        reason: String,
    },
    /// The node does not know a block it said exists (it is syncing, or behind a balancer).
    #[error(
        "chain `{chain}`: the endpoint does not return block {number}; it may be syncing or behind a load balancer, try again"
    )]
    MissingBlock {
        /// Chain name.
        chain: String,
        /// Block number.
        number: u64,
    },
    /// A reorganisation reaches below the block hashes the monitor keeps.
    #[error(
        "chain `{chain}`: a reorganisation reaches below block {oldest} (the oldest block hash kept); alerts from before it cannot be checked: run `guardian monitor --from-block N` from a block before the fork"
    )]
    DeepReorg {
        /// Chain name.
        chain: String,
        /// The oldest block whose hash is kept.
        oldest: u64,
    },
}

/// What the monitor hands on as it goes: alerts as they are stored, and retractions.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// An alert was raised (stored, status `open`).
    Raised(Alert),
    /// An alert's block was orphaned by a reorganisation; it is now `retracted`.
    Retracted(Alert),
    /// An alert the chain's previous holder (`[ha]`) stored but did not live to dispatch: it is
    /// dispatched as raised, and a response the previous holder journalled but never finished
    /// is run again (the pause finds what is paused already, and follows what it sent).
    Owed(Alert),
}

impl MonitorEvent {
    /// The alert it is about.
    pub fn alert(&self) -> &Alert {
        match self {
            MonitorEvent::Raised(a) | MonitorEvent::Retracted(a) | MonitorEvent::Owed(a) => a,
        }
    }
}

/// The configured rules of one chain (the `[[rules]]` engine), evaluated on every block after
/// the built-in ones.
pub trait ChainRules: Send {
    /// The alerts this block raises.
    fn on_block(&mut self, block: &BlockData) -> Vec<NewAlert>;
    /// Forgets every block after `to_block` (they were orphaned by a reorganisation).
    fn rewind(&mut self, to_block: u64);
    /// Whether the rules read the block's transactions (`BlockData::transactions`); the monitor
    /// then reads the block's receipts as well.
    fn needs_transactions(&self) -> bool {
        false
    }
    /// How many blocks back the rules read: what a resumed backfill replays before where it
    /// stopped.
    fn horizon(&self) -> u64 {
        0
    }
    /// The contracts whose holdings the rules read (a backfill reads no others').
    fn holdings_of(&self) -> Vec<alloy::primitives::Address> {
        Vec::new()
    }
}

impl ChainRules for rules::RuleEngine {
    fn on_block(&mut self, block: &BlockData) -> Vec<NewAlert> {
        rules::RuleEngine::on_block(self, block)
    }

    fn rewind(&mut self, to_block: u64) {
        rules::RuleEngine::rewind(self, to_block);
    }

    fn needs_transactions(&self) -> bool {
        rules::RuleEngine::needs_transactions(self)
    }

    fn horizon(&self) -> u64 {
        rules::RuleEngine::horizon(self)
    }

    fn holdings_of(&self) -> Vec<alloy::primitives::Address> {
        rules::RuleEngine::holdings_of(self)
    }
}

/// The `[[rules]]` of every reachable chain of `deployment` that has any, ready for
/// [`MonitorOptions::rules`]; token units for `outflow` amounts are read from the chain.
pub async fn configured_rules(
    deployment: &Deployment,
) -> Result<BTreeMap<String, Box<dyn ChainRules>>, rules::RuleError> {
    let mut engines: BTreeMap<String, Box<dyn ChainRules>> = BTreeMap::new();
    for (name, client) in &deployment.clients {
        let tokens = rules::RuleEngine::tokens(&deployment.manifest, name);
        let units: BTreeMap<_, _> = futures::future::join_all(
            tokens
                .iter()
                .map(|t| async move { (*t, crate::funds::metadata(client, Some(*t)).await) }),
        )
        .await
        .into_iter()
        .collect();
        let engine = rules::RuleEngine::new(&deployment.manifest, name, |t| {
            units
                .get(&t)
                .cloned()
                .unwrap_or_else(|| (format!("units of {t}"), 0))
        })?;
        if !engine.is_empty() {
            engines.insert(name.clone(), Box::new(engine));
        }
    }
    Ok(engines)
}

/// How to run the monitor.
#[derive(Default)]
pub struct MonitorOptions {
    /// Start at this block, even if the chain's cursor is further (blocks already processed are
    /// evaluated again; their alerts are not stored twice). Without it a chain resumes after its
    /// cursor, or starts at its head the first time. More than
    /// [`backfill::BACKFILL_THRESHOLD`] blocks behind the head, the blocks up to the head are
    /// backfilled in large log ranges while the follower starts at the head.
    pub from_block: Option<u64>,
    /// Process up to each chain's head, then return.
    pub once: bool,
    /// Where stored alerts and retractions are sent (notifications, automatic response).
    pub events: Option<mpsc::UnboundedSender<MonitorEvent>>,
    /// The configured rules, by chain name.
    pub rules: BTreeMap<String, Box<dyn ChainRules>>,
    /// A second instance of the configured rules, by chain name, for the backfill (its windows
    /// and baselines are its own); without one a backfill runs the built-in rules only.
    pub backfill_rules: BTreeMap<String, Box<dyn ChainRules>>,
    /// When it turns `true`, each chain finishes the block in hand and stops.
    pub stop: Option<watch::Receiver<bool>>,
    /// Where the monitor counts what it does (`--metrics-addr`).
    pub metrics: Option<Arc<metrics::Metrics>>,
    /// `--mempool`: each chain's pending-transaction watch (see [`preempt::plan`]); chains whose
    /// node lacks a method are followed block by block only.
    pub mempool: Vec<preempt::Plan>,
    /// Told which chains are in trouble (`monitor-health` episodes), for the heartbeat (the
    /// outbox's [`channels::ChannelWatch`] tells it of failing contacts).
    pub health: Option<Arc<health::HealthBoard>>,
    /// `[ha]`: follow only the chains this instance holds the lease of.
    pub ha: Option<lease::Ha>,
    /// `[ha]`: where every chain is followed while the database cannot be reached.
    pub fallback: Option<offline::Fallback>,
}

/// What the monitor did on one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChainSummary {
    /// Chain name.
    pub chain: String,
    /// Blocks processed (a block processed again after a reorganisation counts twice).
    pub blocks: u64,
    /// The last block processed.
    pub cursor: Option<u64>,
    /// Alerts raised.
    pub raised: u64,
    /// Alerts retracted.
    pub retracted: u64,
    /// Reorganisations seen.
    pub reorgs: u64,
    /// Blocks backfilled in log ranges (`from_block` far behind the head).
    pub backfilled_blocks: u64,
    /// Suite events read by the backfill.
    pub backfilled_events: u64,
}

/// Follows every reachable chain of `deployment` until `stop` (or, with `once`, up to each
/// head). Returns each chain's summary, or its error, in chain-name order.
pub async fn run(
    deployment: &Deployment,
    mut options: MonitorOptions,
) -> Vec<(String, Result<ChainSummary, MonitorError>)> {
    let expected = privileged::Expected::new(
        &deployment.manifest,
        deployment.signers.iter().map(|s| s.address()),
    );
    let mut tasks = Vec::new();
    let mut results = Vec::new();
    for name in deployment.manifest.chains.keys() {
        let Some(client) = deployment.clients.get(name) else {
            let reason = deployment
                .unreachable
                .get(name)
                .map_or_else(|| "not connected".to_string(), |e| e.to_string());
            results.push((
                name.clone(),
                Err(MonitorError::Unreachable {
                    chain: name.clone(),
                    reason,
                }),
            ));
            continue;
        };
        if let Some(ha) = options.ha.clone() {
            let parts = lease::Parts {
                deployment,
                client,
                expected: expected.clone(),
                events: options.events.clone(),
                metrics: options.metrics.clone(),
                health: options.health.clone(),
                fallback: options.fallback.clone(),
            };
            let rules = options.rules.remove(name);
            let stop = options.stop.clone();
            tasks.push(Box::pin(async move {
                let r = lease::follow_held(parts, &ha, rules, stop).await;
                (name.clone(), r)
            })
                as std::pin::Pin<Box<dyn Future<Output = _> + '_>>);
            continue;
        }
        let follower = follow::Follower::new(
            deployment,
            client,
            expected.clone(),
            options.rules.remove(name),
            options.events.clone(),
            options.metrics.clone(),
            options.health.clone(),
        );
        let backfill = backfill::Backfill {
            client,
            store: &deployment.store,
            contracts: deployment
                .manifest
                .contracts
                .iter()
                .filter(|c| c.chain() == client.name)
                .cloned()
                .collect(),
            names: deployment
                .manifest
                .contracts
                .iter()
                .filter(|c| c.chain() == client.name)
                .map(|c| (c.address, c.name().to_string()))
                .collect(),
            expected: expected.clone(),
            rules: options.backfill_rules.remove(name),
            events: options.events.clone(),
            metrics: options.metrics.clone(),
            confirmations: deployment.manifest.monitor.confirmations,
        };
        let stop = options.stop.clone();
        let (from, once) = (options.from_block, options.once);
        tasks.push(Box::pin(async move {
            let r = follow_chain(client, follower, backfill, from, once, stop).await;
            (name.clone(), r)
        }));
    }
    // The mempool watches run beside the followers until the same stop.
    let mut watches = Vec::new();
    if let (Some(events), Some(stop)) = (&options.events, &options.stop) {
        for plan in std::mem::take(&mut options.mempool) {
            let Some(client) = deployment.clients.get(&plan.chain) else {
                continue;
            };
            if !plan.capabilities.usable() {
                continue;
            }
            watches.push(preempt::watch_chain(
                deployment,
                client,
                plan.rules,
                plan.capabilities,
                events.clone(),
                stop.clone(),
            ));
        }
    }
    let (followed, _) = tokio::join!(
        futures::future::join_all(tasks),
        futures::future::join_all(watches)
    );
    results.extend(followed);
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}

/// One chain: the follower from `from` (or its cursor), or, with `from` far behind the head, a
/// backfill up to the head running beside the follower, which starts at the head.
async fn follow_chain(
    client: &chain::ChainClient,
    follower: follow::Follower<'_>,
    backfill: backfill::Backfill<'_>,
    from: Option<u64>,
    once: bool,
    stop: Option<watch::Receiver<bool>>,
) -> Result<ChainSummary, MonitorError> {
    // Without the head, the follower starts at `from` and reads block by block (and retries).
    let head = match from {
        Some(_) => match client.provider().get_block_number().await {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(chain = %client.name, "cannot read the head to plan a backfill: {}", client.rpc_err(e));
                None
            }
        },
        None => None,
    };
    let Some((lo, hi)) = head.and_then(|h| backfill::range(from, h)) else {
        return follower.run(from, once, stop).await;
    };
    let (followed, backfilled) = tokio::join!(
        follower.run(Some(hi + 1), once, stop.clone()),
        backfill.run(lo, hi, !once, stop)
    );
    let (mut summary, done) = (followed?, backfilled?);
    summary.backfilled_blocks = done.blocks;
    summary.backfilled_events = done.events;
    summary.raised += done.raised;
    Ok(summary)
}

/// Counts, logs and hands on alerts `chain` just stored (`how`: how they were found, e.g.
/// "backfill", or empty). A receiver that went away stops nothing: the alerts are stored.
pub(crate) fn announce(
    chain: &str,
    metrics: Option<&metrics::Metrics>,
    events: Option<&mpsc::UnboundedSender<MonitorEvent>>,
    stored: Vec<crate::alert::Alert>,
    how: &str,
) {
    for alert in stored {
        if let Some(m) = metrics {
            m.alert_raised(&alert);
        }
        tracing::info!(
            chain = %chain,
            rule = %alert.found.rule,
            severity = %alert.found.severity,
            "alert {}{how}: {}",
            alert.id,
            alert.found.summary
        );
        if let Some(tx) = events {
            let _ = tx.send(MonitorEvent::Raised(alert));
        }
    }
}
