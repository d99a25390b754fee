//! `[ha]` with the database unreachable: protection does not stop. Every instance follows the
//! chain on a local SQLite file of its own, from where it last knew the chain was followed; its
//! alerts go to the service, which answers a `respond` rule on that file (a pause is idempotent:
//! at worst a redundant transaction from two instances, never a missed one). Once the database
//! answers again, the follower stops, what the file holds is written into the database, and the
//! alerts new to it are dispatched from there: their contacts told once, with their records.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::{mpsc, watch};

use super::{
    MonitorEvent,
    follow::{Follower, changed, stopped},
    lease::{Ha, Parts},
};
use crate::storage::{Store, Taken};

/// Where the chains are followed while the database cannot be reached.
#[derive(Clone)]
pub struct Fallback {
    /// This instance's local file.
    pub store: Arc<Store>,
    /// Where the alerts stored there go (the service answers them on the same file).
    pub events: mpsc::UnboundedSender<MonitorEvent>,
}

/// Follows the chain on the local file until the database answers again: then the lease, if
/// this instance could take it (`None` when another instance holds it, or on `stop`).
pub(super) async fn follow_until_reachable(
    parts: &Parts<'_>,
    fallback: &Fallback,
    ha: &Ha,
    progress: &Arc<AtomicU64>,
    global: &mut Option<watch::Receiver<bool>>,
) -> Option<Taken> {
    let name = &parts.client.name;
    let chain_id = parts.client.chain_id;
    let every = std::time::Duration::from_millis((ha.lease_ms / 3).max(50));
    let local = &*fallback.store;
    // The file's cursor is of an earlier outage: this one starts where the chain was followed.
    if let Err(e) = local.forget_chain(chain_id) {
        tracing::error!(chain = %name, "cannot use the local file: {e}");
    }
    let (halt, halted) = watch::channel(false);
    let following = async {
        let mut from = match progress.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n + 1),
        };
        loop {
            let rules = match super::configured_rules(parts.deployment).await {
                Ok(mut all) => all.remove(name),
                Err(e) => {
                    tracing::error!(chain = %name, "cannot build the chain's rules: {e}; following with the built-in rules only");
                    None
                }
            };
            let follower = Follower::new(
                parts.deployment,
                parts.client,
                parts.expected.clone(),
                rules,
                Some(fallback.events.clone()),
                parts.metrics.clone(),
                parts.health.clone(),
            )
            .on_store(local)
            .progress(progress.clone());
            match follower.run(from, false, Some(halted.clone())).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(chain = %name, "following on the local file stopped: {e}; starting again")
                }
            }
            if *halted.borrow() {
                return;
            }
            tokio::time::sleep(every).await;
            from = Some(progress.load(Ordering::Relaxed) + 1).filter(|n| *n > 1);
        }
    };
    tokio::pin!(following);
    let mut done = false;
    let taken = loop {
        tokio::select! {
            () = &mut following, if !done => done = true,
            _ = tokio::time::sleep(every) => {
                match super::lease::once_more(|| parts.deployment.store.take_lease(chain_id, &ha.instance, ha.lease_ms)) {
                    Ok(taken) => break taken,
                    Err(e) if e.is_unreachable() => {}
                    // It answers (and refused): reachable again.
                    Err(e) => {
                        tracing::warn!(chain = %name, "cannot take the chain's lease: {e}");
                        break None;
                    }
                }
            }
            _ = changed(global) => {
                if stopped(global.as_ref()) {
                    let _ = halt.send(true);
                    if !done {
                        following.await;
                    }
                    return None;
                }
            }
        }
    };
    let _ = halt.send(true);
    if !done {
        following.await;
    }
    tracing::warn!(chain = %name, "the database is reachable again: writing in what was kept on the local file");
    absorb(parts, fallback);
    taken
}

/// Writes what the local file holds into the database, and dispatches the alerts new to it.
pub(super) fn absorb(parts: &Parts<'_>, fallback: &Fallback) {
    let store = &parts.deployment.store;
    match store.absorb_offline(&fallback.store) {
        Ok(absorbed) => {
            if absorbed.alerts.is_empty() && absorbed.actions == 0 {
                return;
            }
            tracing::warn!(
                "wrote {} alert(s) and {} action(s) kept while the database was unreachable",
                absorbed.alerts.len(),
                absorbed.actions
            );
            for id in absorbed.alerts {
                match (store.alert(id), &parts.events) {
                    (Ok(Some(alert)), Some(events)) => {
                        let _ = events.send(MonitorEvent::Owed(alert));
                    }
                    (Ok(_), _) => {}
                    (Err(e), _) => tracing::warn!(alert = id, "cannot read an absorbed alert: {e}"),
                }
            }
        }
        Err(e) => tracing::error!(
            "cannot write in what was kept while the database was unreachable: {e}; trying again at the next outage's end or start"
        ),
    }
}
