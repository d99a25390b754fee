//! Retention: while the guardian runs, alerts and delivered messages older than `[monitor]
//! keep_alerts_days` and `keep_delivered_days` are deleted, once at start and then every hour,
//! on the blocking pool so that the followers never wait for it.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{
    config::MonitorConfig,
    incident,
    notify::outbox,
    storage::{StorageError, Store, now_ms},
};

/// How often a running guardian prunes.
pub const EVERY: Duration = Duration::from_secs(60 * 60);

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Alerts deleted.
    pub alerts: u64,
    /// Delivered messages deleted from the outbox.
    pub delivered: u64,
}

/// Whether `settings` ask for any pruning.
pub fn wanted(settings: &MonitorConfig) -> bool {
    settings.keep_alerts().is_some() || settings.keep_delivered().is_some()
}

/// Deletes what `settings` no longer keep as of `now_ms`. Delivered messages go first, so an
/// alert whose last message goes now may go in the same pass. An alert an incident holds, or a
/// message still names, stays; the incident timeline is never touched.
pub fn pass(store: &Store, settings: &MonitorConfig, now_ms: i64) -> Result<Pruned, StorageError> {
    let cutoff = |keep: Duration| now_ms.saturating_sub(keep.as_millis() as i64);
    let mut pruned = Pruned::default();
    if let Some(keep) = settings.keep_delivered() {
        pruned.delivered = store.prune(&outbox::DELIVERED, cutoff(keep))?;
    }
    if let Some(keep) = settings.keep_alerts() {
        pruned.alerts =
            store.prune_alerts(cutoff(keep), &[incident::HOLDS_ALERT, outbox::NAMES_ALERT])?;
    }
    Ok(pruned)
}

/// Runs [`pass`] now and then every `every` until `stop` turns true, each on the blocking pool,
/// logging what it deleted. Returns at once when `settings` keep everything.
pub async fn run(
    store: Arc<Store>,
    settings: MonitorConfig,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if !wanted(&settings) {
        return;
    }
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let (s, keep) = (store.clone(), settings.clone());
        match tokio::task::spawn_blocking(move || pass(&s, &keep, now_ms())).await {
            Ok(Ok(p)) => tracing::info!(
                alerts = p.alerts,
                delivered = p.delivered,
                "retention: deleted {} alerts and {} delivered messages past their keep",
                p.alerts,
                p.delivered
            ),
            Ok(Err(e)) => {
                tracing::warn!("retention: cannot delete old records (tried again next pass): {e}")
            }
            Err(e) => tracing::warn!("retention: the pass stopped: {e}"),
        }
    }
}
