//! `[ha]`: an instance follows (and answers) a chain only while it holds the chain's lease.
//! It waits for the lease, follows with every block committed under it, renews it at a third of
//! its length, and stops the moment it is lost: a renewal refused, or no renewal for a whole
//! lease by its own clock (an instance frozen past its lease stops as soon as it wakes, and the
//! database refuses its next block anyway). Then it waits for the lease again. On taking a
//! chain it dispatches what the previous holder stored but never dispatched, and raises a
//! `monitor-health` alert when it took the chain over from another.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::{
    ChainRules, ChainSummary, MonitorError, MonitorEvent,
    follow::{Follower, changed, stopped},
    health::HealthBoard,
    metrics::Metrics,
    privileged,
};
use crate::{
    chain::ChainClient,
    deployment::Deployment,
    storage::{Fence, Lease, StorageError},
};

/// How this instance shares the chains with others.
#[derive(Debug, Clone)]
pub struct Ha {
    /// Its name in the leases.
    pub instance: String,
    /// A lease's length.
    pub lease_ms: u64,
    /// The leases it holds now, told to whoever answers its alerts.
    pub held: Held,
}

impl Ha {
    /// Instance `instance` with leases of `lease_ms`, holding none yet.
    pub fn new(instance: String, lease_ms: u64) -> Self {
        Ha {
            instance,
            lease_ms,
            held: Held::default(),
        }
    }
}

/// The leases this instance holds, by chain id: an alert is answered under its chain's lease
/// (its transactions journalled only while that lease is held), and not at all once it is lost
/// (the new holder answers it).
#[derive(Debug, Clone, Default)]
pub struct Held(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<u64, Fence>>>);

impl Held {
    /// The lease held on chain `chain_id`, if any.
    pub fn of(&self, chain_id: u64) -> Option<Fence> {
        self.0.lock().ok()?.get(&chain_id).cloned()
    }

    fn set(&self, chain_id: u64, fence: Option<Fence>) {
        if let Ok(mut held) = self.0.lock() {
            match fence {
                Some(f) => held.insert(chain_id, f),
                None => held.remove(&chain_id),
            };
        }
    }
}

/// What a chain's follower is made of, for each term of holding it.
pub(super) struct Parts<'a> {
    pub deployment: &'a Deployment,
    pub client: &'a ChainClient,
    pub expected: privileged::Expected,
    pub events: Option<mpsc::UnboundedSender<MonitorEvent>>,
    pub metrics: Option<std::sync::Arc<Metrics>>,
    pub health: Option<std::sync::Arc<HealthBoard>>,
    /// Where the chain is followed while the database is unreachable.
    pub fallback: Option<super::offline::Fallback>,
}

/// Follows the chain in terms, each while this instance holds its lease, until `stop`.
pub(super) async fn follow_held(
    parts: Parts<'_>,
    ha: &Ha,
    mut rules: Option<Box<dyn ChainRules>>,
    stop: Option<watch::Receiver<bool>>,
) -> Result<ChainSummary, MonitorError> {
    let store = &parts.deployment.store;
    let name = parts.client.name.clone();
    let chain_id = parts.client.chain_id;
    let every = Duration::from_millis((ha.lease_ms / 3).max(50));
    let lease_len = Duration::from_millis(ha.lease_ms);
    let mut total = ChainSummary {
        chain: name.clone(),
        ..ChainSummary::default()
    };
    let mut global = stop;
    let mut first = true;
    // The last block known to be followed (by us or the holder): where following on the local
    // file begins should the database become unreachable.
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    loop {
        // Wait for the lease.
        let taken = loop {
            if stopped(global.as_ref()) {
                return Ok(total);
            }
            match once_more(|| store.take_lease(chain_id, &ha.instance, ha.lease_ms)) {
                Ok(Some(taken)) => break taken,
                Ok(None) => {
                    if parts.fallback.is_some()
                        && let Ok(Some(c)) = store.cursor(chain_id)
                    {
                        progress.store(c.number, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Err(e) if e.is_unreachable() && parts.fallback.is_some() => {
                    tracing::error!(chain = %name, "the database is unreachable ({e}): following the chain on this instance's local file, and answering its alerts, until it is back");
                    let fallback = parts.fallback.as_ref().expect("checked");
                    match super::offline::follow_until_reachable(
                        &parts,
                        fallback,
                        ha,
                        &progress,
                        &mut global,
                    )
                    .await
                    {
                        Some(taken) => break taken,
                        None => continue,
                    }
                }
                Err(e) => tracing::warn!(chain = %name, "cannot take the chain's lease: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = changed(&mut global) => {}
            }
        };
        let mut renewed = Instant::now();
        let mut lease: Lease = taken.lease.clone();
        // Taken from another instance (a term of our own that ended in an error released it).
        let takeover = taken
            .previous
            .as_ref()
            .is_some_and(|p| p.holder != ha.instance);
        tracing::info!(chain = %name, epoch = lease.epoch, "this instance ({}) holds the chain", ha.instance);
        if let Some(m) = &parts.metrics {
            m.lease(&name, lease.epoch, takeover);
        }
        ha.held.set(chain_id, Some(lease.fence()));
        // A new term of the same rules keeps their windows; after a lost term they start over.
        let term_rules = match rules.take() {
            Some(r) => Some(r),
            None if !first => match super::configured_rules(parts.deployment).await {
                Ok(mut all) => all.remove(&name),
                Err(e) => {
                    tracing::error!(chain = %name, "cannot build the chain's rules again: {e}; following with the built-in rules only");
                    None
                }
            },
            None => None,
        };
        first = false;
        let follower = Follower::new(
            parts.deployment,
            parts.client,
            parts.expected.clone(),
            term_rules,
            parts.events.clone(),
            parts.metrics.clone(),
            parts.health.clone(),
        )
        .fenced(lease.fence())
        .progress(progress.clone());
        // What the previous holder stored but did not live to dispatch (our own are in our
        // dispatcher's hands already).
        if let (Some(events), true) = (&parts.events, takeover) {
            match store.undispatched(chain_id) {
                Ok(owed) => {
                    for alert in owed {
                        tracing::warn!(chain = %name, alert = alert.id, "dispatching an alert the previous holder stored but did not dispatch");
                        let _ = events.send(MonitorEvent::Owed(alert));
                    }
                }
                Err(e) => tracing::warn!(chain = %name, "cannot read undispatched alerts: {e}"),
            }
        }

        if takeover {
            follower.raise_takeover(lease.epoch, &ha.instance, taken.unwatched_ms(), ha.lease_ms);
        }
        let (term_tx, term_rx) = watch::channel(false);
        let following = follower.run(None, false, Some(term_rx));
        tokio::pin!(following);
        let mut lost = false;
        let mut ticks = 0u64;
        let followed = loop {
            tokio::select! {
                r = &mut following => break r,
                _ = tokio::time::sleep(every), if !lost => {
                    if renewed.elapsed() >= lease_len {
                        tracing::warn!(chain = %name, epoch = lease.epoch, "no renewal for a whole lease (was this process frozen?): stopping");
                        lost = true;
                        let _ = term_tx.send(true);
                        continue;
                    }
                    let asked = Instant::now();
                    match once_more(|| store.renew_lease(&lease, ha.lease_ms)) {
                        Ok(Some(l)) => {
                            lease = l;
                            renewed = asked;
                            ticks += 1;
                            if ticks.is_multiple_of(3) {
                                rescan(&parts, ha.lease_ms);
                            }
                        }
                        Ok(None) => {
                            tracing::warn!(chain = %name, epoch = lease.epoch, "the chain's lease was lost: stopping");
                            lost = true;
                            let _ = term_tx.send(true);
                        }
                        // Protection does not wait for the database: the chain is followed on
                        // the local file until it is back.
                        Err(e) if e.is_unreachable() && parts.fallback.is_some() => {
                            tracing::warn!(chain = %name, "cannot renew the chain's lease: {e}; stopping this term");
                            lost = true;
                            let _ = term_tx.send(true);
                        }
                        Err(e) => tracing::warn!(chain = %name, "cannot renew the chain's lease: {e}"),
                    }
                }
                _ = changed(&mut global) => {
                    if stopped(global.as_ref()) {
                        let _ = term_tx.send(true);
                    }
                }
            }
        };
        ha.held.set(chain_id, None);
        if let Some(m) = &parts.metrics {
            m.lease(&name, 0, false);
        }
        match followed {
            Ok(s) => {
                total.blocks += s.blocks;
                total.raised += s.raised;
                total.retracted += s.retracted;
                total.reorgs += s.reorgs;
                total.cursor = s.cursor;
            }
            Err(MonitorError::Storage(StorageError::Fenced { .. })) => {
                tracing::warn!(chain = %name, "another instance holds the chain now")
            }
            Err(e) => {
                // Not fenced: hand the chain back at once (to us again or to another instance)
                // rather than leave it unwatched until the lease runs out.
                tracing::warn!(chain = %name, "following stopped: {e}");
                if !lost && let Err(e) = store.release_lease(&lease) {
                    tracing::warn!(chain = %name, "cannot release the chain's lease: {e}");
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = changed(&mut global) => {}
                }
            }
        }
        if stopped(global.as_ref()) {
            // A clean stop hands the chain over at once.
            if !lost && let Err(e) = store.release_lease(&lease) {
                tracing::warn!(chain = %name, "cannot release the chain's lease: {e}");
            }
            return Ok(total);
        }
    }
}

/// Once a lease, the holder dispatches its chain's alerts stored more than a lease ago and
/// still not dispatched: written in from an instance's local file after an outage, or whose
/// messages could not be queued (its dispatcher skips those it is dispatching already).
fn rescan(parts: &Parts<'_>, lease_ms: u64) {
    let Some(events) = &parts.events else {
        return;
    };
    let before = crate::storage::now_ms() - lease_ms as i64;
    match parts.deployment.store.undispatched(parts.client.chain_id) {
        Ok(owed) => {
            for alert in owed.into_iter().filter(|a| a.detected_at < before) {
                tracing::warn!(chain = %parts.client.name, alert = alert.id, "dispatching an alert stored but not dispatched");
                let _ = events.send(MonitorEvent::Owed(alert));
            }
        }
        Err(e) => {
            tracing::warn!(chain = %parts.client.name, "cannot read undispatched alerts: {e}")
        }
    }
}

/// `f`, and once more when it failed for want of a connection: a connection the server closed
/// (this process was frozen past its idle limit, the server restarted) is only noticed by the
/// call that finds it closed, and the next one connects again. Only a database that stays
/// unreachable counts as down.
pub(super) fn once_more<T>(f: impl Fn() -> Result<T, StorageError>) -> Result<T, StorageError> {
    match f() {
        Err(e) if e.is_unreachable() => f(),
        other => other,
    }
}
