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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        alert::{NewAlert, Severity},
        storage::sql::params,
    };

    /// An alert stored through the monitor's path, then aged by `days`.
    fn aged_alert(store: &Store, key: &str, days: i64) -> i64 {
        let id = store
            .store_alert(&NewAlert {
                rule: "privileged".into(),
                kind: "privileged".into(),
                severity: Severity::Info,
                chain: "local".into(),
                chain_id: 31337,
                contract: None,
                address: None,
                block_number: 1,
                block_hash: alloy::primitives::B256::repeat_byte(1),
                tx_hashes: Vec::new(),
                summary: key.into(),
                evidence: serde_json::json!({}),
                dedup_key: key.into(),
            })
            .expect("store")
            .expect("stored")
            .id;
        store
            .write(|c| {
                c.execute(
                    "UPDATE alerts SET detected_at = ?1 WHERE id = ?2",
                    params![now_ms() - days * 86_400_000, id],
                )
            })
            .expect("age");
        id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_running_task_prunes_at_start_and_ends_when_told() {
        let store = Arc::new(Store::in_memory().expect("sqlite"));
        let old = aged_alert(&store, "old", 10);
        let recent = aged_alert(&store, "recent", 0);
        let keep = MonitorConfig {
            keep_alerts_days: Some(2),
            ..MonitorConfig::default()
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        // An interval far longer than the test: only the pass at start can delete.
        let task = tokio::spawn(run(store.clone(), keep, EVERY, stop_rx));
        // Waits for the pass (bounded, so a broken task fails instead of hanging).
        let gone = tokio::time::timeout(Duration::from_secs(30), async {
            while store.alert(old).expect("read").is_some() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(gone.is_ok(), "the old alert was not pruned at start");
        assert!(store.alert(recent).expect("read").is_some());
        stop_tx.send(true).expect("stop");
        task.await.expect("the task ends when told");
    }

    #[tokio::test]
    async fn keeping_everything_starts_nothing() {
        let store = Arc::new(Store::in_memory().expect("sqlite"));
        let old = aged_alert(&store, "old", 10_000);
        let (_stop_tx, stop_rx) = watch::channel(false);
        // Returns without being stopped: no task runs when nothing is to be pruned.
        run(store.clone(), MonitorConfig::default(), EVERY, stop_rx).await;
        assert!(store.alert(old).expect("read").is_some());
    }
}
