//! The built-in `monitor-health` rule for notification channels: a contact whose deliveries
//! keep failing raises one `warning` per episode, told to the other contacts; the contact's next
//! delivery ends the episode.
//!
//! An episode starts at the [`FAILED_ATTEMPTS`]th failed attempt in a row to one contact, or at
//! once when a message to it is given up (refused for good, or `[notify] max_attempts` spent).
//! It ends when the contact accepts a message again; a later failure starts a new one. The
//! episode is kept in the database (the contact's last alert against its last delivery), so a
//! restarted monitor does not raise it twice. The alert is never queued to the failing contact
//! itself ([`failing_contact`]), is routed to the others by `min_severity` as usual, and holds
//! the heartbeat back while it lasts.
//!
//! A channel belongs to no chain, but an alert has a chain and a block: it is filed at the
//! cursor of the manifest's first chain the monitor has processed (the chain position the
//! monitor had reached when the channel failed), as endpoint health is, and a reorganisation of
//! that block does not retract it.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use tokio::sync::mpsc;

use super::{MonitorEvent, health::HealthBoard, health::RULE, metrics::Metrics};
use crate::{
    alert::{Alert, NewAlert, Severity},
    config::Manifest,
    notify::{self, AlertEvent, Contacts},
    secret,
    storage::{Store, now_ms},
};

/// Failed attempts in a row to one contact that start an episode.
pub const FAILED_ATTEMPTS: u32 = 3;

/// The dedup-key prefix of every channel alert: `monitor-health:contact:<name>:<start ms>`.
pub const KEY_PREFIX: &str = crate::alert::CONTACT_KEY_PREFIX;

/// The contact a channel `monitor-health` alert is about (it is never told of its own failure).
pub fn failing_contact(alert: &Alert) -> Option<&str> {
    alert.failing_contact()
}

pub use crate::notify::outbox::Attempt;

impl crate::notify::outbox::DeliveryObserver for ChannelWatch {
    fn attempted(&self, contact: &str, _channel: &str, attempt: Attempt<'_>) -> bool {
        self.observe(contact, attempt)
    }
}

/// One contact's run of failures, as this process saw it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Streak {
    failed: u32,
    failing: bool,
}

/// What an attempt means for the contact's episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Nothing changes.
    Same,
    /// The contact is failing: an episode starts, unless one is already open.
    Start,
    /// It delivered while failing: the episode ends.
    End,
}

impl Streak {
    fn on(&mut self, attempt: Attempt<'_>) -> Turn {
        match attempt {
            Attempt::Delivered => {
                self.failed = 0;
                if std::mem::take(&mut self.failing) {
                    Turn::End
                } else {
                    Turn::Same
                }
            }
            Attempt::Failed { gave_up, .. } => {
                self.failed = self.failed.saturating_add(1);
                if !self.failing && (gave_up || self.failed >= FAILED_ATTEMPTS) {
                    Turn::Start
                } else {
                    Turn::Same
                }
            }
        }
    }
}

/// Watches every attempt of the outbox ([`notify::Outbox::with_channel_watch`]) and raises a
/// contact's `monitor-health` episodes.
pub struct ChannelWatch {
    store: Arc<Store>,
    contacts: Arc<Contacts>,
    chains: Vec<(String, u64)>,
    events: Option<mpsc::WeakUnboundedSender<MonitorEvent>>,
    board: Option<Arc<HealthBoard>>,
    metrics: Option<Arc<Metrics>>,
    streaks: Mutex<BTreeMap<String, Streak>>,
}

impl std::fmt::Debug for ChannelWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelWatch")
            .field("chains", &self.chains)
            .finish_non_exhaustive()
    }
}

impl ChannelWatch {
    /// A watch storing its alerts in `store` and queueing them to `contacts` (the outbox's own).
    pub fn new(store: Arc<Store>, contacts: Arc<Contacts>, manifest: &Manifest) -> Self {
        Self {
            store,
            contacts,
            chains: manifest
                .chains
                .iter()
                .map(|(name, c)| (name.clone(), c.chain_id))
                .collect(),
            events: None,
            board: None,
            metrics: None,
            streaks: Mutex::new(BTreeMap::new()),
        }
    }

    /// Hands alerts to the monitor's dispatcher (which queues, prints and counts them like any
    /// other) while it runs; once it is gone they are queued directly. A weak sender, so the
    /// watch never keeps the dispatcher waiting for more events.
    pub fn with_events(mut self, events: mpsc::WeakUnboundedSender<MonitorEvent>) -> Self {
        self.events = Some(events);
        self
    }

    /// Tells `board` which contacts are failing (the heartbeat waits while any is).
    pub fn with_board(mut self, board: Arc<HealthBoard>) -> Self {
        self.board = Some(board);
        self
    }

    /// Counts the alerts raised in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Takes one attempt's outcome; returns whether it queued outbox rows itself (the outbox
    /// should then look for due rows).
    pub fn observe(&self, contact: &str, attempt: Attempt<'_>) -> bool {
        let mut streaks = self.streaks.lock().unwrap_or_else(|p| p.into_inner());
        let streak = streaks.entry(contact.to_string()).or_default();
        match streak.on(attempt) {
            Turn::Same => {
                // A delivery clears the board even with no episode raised in this process (one
                // that found no chain to be filed at, say).
                if matches!(attempt, Attempt::Delivered) {
                    self.board(contact, false);
                }
                false
            }
            Turn::End => {
                tracing::info!(
                    contact,
                    "the contact accepts messages again: its monitor-health episode is over"
                );
                self.board(contact, false);
                false
            }
            Turn::Start => {
                let Attempt::Failed { error, .. } = attempt else {
                    return false;
                };
                let failed = streak.failed;
                match self.start(contact, error, failed) {
                    Ok(Started::Already) => {
                        streak.failing = true;
                        self.board(contact, true);
                        false
                    }
                    Ok(Started::Raised(alert)) => {
                        streak.failing = true;
                        self.board(contact, true);
                        self.hand_on(*alert)
                    }
                    // Tried again at the next failure.
                    Ok(Started::Nowhere) => {
                        self.board(contact, true);
                        false
                    }
                    Err(e) => {
                        tracing::warn!(
                            contact,
                            "cannot raise monitor-health for a failing contact: {e}"
                        );
                        self.board(contact, true);
                        false
                    }
                }
            }
        }
    }

    fn board(&self, contact: &str, failing: bool) {
        if let Some(b) = &self.board {
            b.set_contact(contact, failing);
        }
    }

    /// Stores the episode's alert unless the database holds one still open (from before a
    /// restart).
    fn start(
        &self,
        contact: &str,
        error: &str,
        failed: u32,
    ) -> Result<Started, crate::storage::StorageError> {
        let prefix = format!("{KEY_PREFIX}{contact}:");
        let (last_delivery, undelivered) = self.store.contact_deliveries(contact)?;
        if let Some(open) = self.store.last_alert_with_key_prefix(&prefix)?
            && last_delivery.is_none_or(|t| t < open.detected_at)
        {
            return Ok(Started::Already);
        }
        let Some(at) = self.at()? else {
            tracing::warn!(
                contact,
                "the contact is failing, but no chain has been processed yet to file monitor-health at"
            );
            return Ok(Started::Nowhere);
        };
        let channel = self
            .contacts
            .get(contact)
            .map_or("unknown", |c| c.channel().as_str());
        let alert = episode_alert(contact, channel, error, failed, undelivered, at);
        tracing::warn!(contact, channel, "{}", alert.summary);
        Ok(match self.store.store_alert(&alert)? {
            Some(stored) => Started::Raised(Box::new(stored)),
            None => Started::Already,
        })
    }

    /// The manifest's first chain with a cursor, and that cursor.
    fn at(&self) -> Result<Option<FiledAt>, crate::storage::StorageError> {
        for (chain, chain_id) in &self.chains {
            if let Some(c) = self.store.cursor(*chain_id)? {
                return Ok(Some(FiledAt {
                    chain: chain.clone(),
                    chain_id: *chain_id,
                    number: c.number,
                    hash: c.hash,
                }));
            }
        }
        Ok(None)
    }

    /// Gives the stored alert to the dispatcher, or queues it directly; returns whether it
    /// queued rows itself.
    fn hand_on(&self, alert: Alert) -> bool {
        if let Some(m) = &self.metrics {
            m.alert_raised(&alert);
        }
        let alert = match self.events.as_ref().and_then(|w| w.upgrade()) {
            Some(tx) => match tx.send(MonitorEvent::Raised(alert)) {
                Ok(()) => return false,
                Err(mpsc::error::SendError(
                    MonitorEvent::Raised(a) | MonitorEvent::Retracted(a) | MonitorEvent::Owed(a),
                )) => a,
            },
            None => alert,
        };
        match notify::enqueue_alert(&self.store, &self.contacts, &alert, AlertEvent::Raised) {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(alert = alert.id, "cannot queue notifications: {e}");
                false
            }
        }
    }
}

/// What starting an episode did.
enum Started {
    /// The alert was stored.
    Raised(Box<Alert>),
    /// An episode is open already (raised before a restart, or just now by another pass).
    Already,
    /// No chain has a cursor yet: nowhere to file the alert.
    Nowhere,
}

/// Where a channel alert is filed.
#[derive(Debug, Clone)]
struct FiledAt {
    chain: String,
    chain_id: u64,
    number: u64,
    hash: alloy::primitives::B256,
}

/// The episode's alert: "contact ops-hook (webhook) failing: <error>, N messages undelivered".
fn episode_alert(
    contact: &str,
    channel: &str,
    error: &str,
    failed: u32,
    undelivered: u64,
    at: FiledAt,
) -> NewAlert {
    // The outbox's errors start with the contact's name; the summary already says it.
    let error = secret::redact(error);
    let reason = error
        .strip_prefix(&format!("contact `{contact}`: "))
        .unwrap_or(&error);
    let messages = if undelivered == 1 {
        "message"
    } else {
        "messages"
    };
    NewAlert {
        rule: RULE.into(),
        kind: RULE.into(),
        severity: Severity::Warning,
        chain: at.chain,
        chain_id: at.chain_id,
        contract: None,
        address: None,
        block_number: at.number,
        block_hash: at.hash,
        tx_hashes: Vec::new(),
        summary: format!(
            "contact {contact} ({channel}) failing: {reason}, {undelivered} {messages} undelivered (guardian alerts shows them; guardian monitor --check tests the contact)"
        ),
        evidence: serde_json::json!({
            "contact": contact,
            "channel": channel,
            "failed_attempts": failed,
            "undelivered": undelivered,
            "error": reason,
        }),
        dedup_key: format!("{KEY_PREFIX}{contact}:{}", now_ms()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAIL: Attempt<'static> = Attempt::Failed {
        error: "contact `ops-hook`: the service answered HTTP 500: try again later",
        gave_up: false,
    };

    #[test]
    fn an_episode_starts_after_failures_in_a_row_and_ends_at_a_delivery() {
        let mut s = Streak::default();
        for _ in 1..FAILED_ATTEMPTS {
            assert_eq!(s.on(FAIL), Turn::Same);
        }
        assert_eq!(s.on(FAIL), Turn::Start);
        // The watch marks it failing once the alert is stored (or found open).
        s.failing = true;
        assert_eq!(s.on(FAIL), Turn::Same, "one alert per episode");
        assert_eq!(s.on(Attempt::Delivered), Turn::End);
        assert_eq!(s.on(Attempt::Delivered), Turn::Same);
        assert_eq!(s.on(FAIL), Turn::Same, "the count restarted");
        let given_up = Attempt::Failed {
            error: "contact `ops-hook`: the service answered HTTP 404: no",
            gave_up: true,
        };
        assert_eq!(s.on(given_up), Turn::Start, "a message given up starts one");
    }

    #[test]
    fn a_delivery_between_failures_breaks_the_run() {
        let mut s = Streak::default();
        assert_eq!(s.on(FAIL), Turn::Same);
        assert_eq!(s.on(FAIL), Turn::Same);
        assert_eq!(s.on(Attempt::Delivered), Turn::Same);
        assert_eq!(s.on(FAIL), Turn::Same);
        assert_eq!(s.on(FAIL), Turn::Same);
        assert_eq!(s.on(FAIL), Turn::Start);
    }

    fn watch(store: &Arc<Store>) -> ChannelWatch {
        let text = r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1"]

[[contacts]]
name = "ops-hook"
channel = "webhook"
url = "http://127.0.0.1:1/hook"
secret_env = "K"

[[contacts]]
name = "chat"
channel = "slack"
webhook_url_env = "CHAT"
"#;
        let m = Manifest::parse_with_env(text, std::path::Path::new("guardian.toml"), &|_| None)
            .expect("manifest");
        let contacts = Arc::new(Contacts::load(&m, &|_| None));
        ChannelWatch::new(store.clone(), contacts, &m).with_board(Arc::new(HealthBoard::default()))
    }

    fn fail_three(w: &ChannelWatch) -> Vec<bool> {
        (0..FAILED_ATTEMPTS)
            .map(|_| w.observe("ops-hook", FAIL))
            .collect()
    }

    fn health_alerts(store: &Store) -> Vec<Alert> {
        store
            .alerts(&crate::storage::AlertFilter {
                rule: Some(RULE.into()),
                ..Default::default()
            })
            .expect("alerts")
    }

    #[test]
    fn the_episode_is_kept_in_the_database_across_a_restart_and_a_delivery_ends_it() {
        let store = Arc::new(Store::in_memory().expect("db"));
        let w = watch(&store);
        assert_eq!(
            fail_three(&w),
            [false; 3],
            "no chain processed: nowhere to file it"
        );
        assert!(health_alerts(&store).is_empty());
        let block = crate::storage::BlockRecord {
            chain: "local",
            chain_id: 31337,
            number: 9,
            hash: alloy::primitives::B256::repeat_byte(9),
            parent_hash: alloy::primitives::B256::repeat_byte(8),
            fence: None,
        };
        store.commit_block(&block, &[], 2).expect("cursor");
        assert!(w.observe("ops-hook", FAIL), "queued to the other contact");
        let raised = health_alerts(&store);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].found.block_number, 9, "filed at the cursor");
        assert_eq!(failing_contact(&raised[0]), Some("ops-hook"));
        let told: Vec<String> = store
            .deliveries(Some(raised[0].id))
            .expect("rows")
            .into_iter()
            .map(|d| d.contact)
            .collect();
        assert_eq!(told, ["chat"], "never the failing contact");

        // A restarted monitor finds the episode open: no second alert.
        let again = watch(&store);
        assert_eq!(fail_three(&again), [false; 3]);
        assert_eq!(health_alerts(&store).len(), 1);
        assert!(!again.board.as_ref().expect("board").healthy());

        // ops-hook delivered something after the alert (recorded by another process): the
        // episode is over, and the next run of failures is a new one.
        std::thread::sleep(std::time::Duration::from_millis(2));
        store
            .with(|c| {
                c.execute(
                    "INSERT INTO outbox (delivery_id, contact, channel, topic, message, next_attempt_at, created_at, delivered_at, attempts)
                     VALUES ('d1', 'ops-hook', 'webhook', 'test', '{}', 0, 0, ?1, 1)",
                    crate::storage::sql::params![now_ms()],
                )
            })
            .expect("a delivery");
        let after = watch(&store);
        assert_eq!(fail_three(&after), [false, false, true]);
        let both = health_alerts(&store);
        assert_eq!(both.len(), 2);
        assert_ne!(both[0].found.dedup_key, both[1].found.dedup_key);
        // In-process, a delivery ends it too.
        after.observe("ops-hook", Attempt::Delivered);
        assert!(after.board.as_ref().expect("board").healthy());

        // A reorganisation of the block they were filed at does not undo a contact's failure.
        let ancestor = crate::storage::Cursor {
            number: 8,
            hash: alloy::primitives::B256::repeat_byte(8),
        };
        assert!(store.rewind(31337, ancestor).expect("rewind").is_empty());
        assert!(
            health_alerts(&store)
                .iter()
                .all(|a| a.status != crate::alert::AlertStatus::Retracted)
        );
    }

    #[test]
    fn a_delivery_clears_the_board_even_when_nothing_could_be_raised() {
        let store = Arc::new(Store::in_memory().expect("db"));
        let w = watch(&store);
        fail_three(&w);
        let board = w.board.clone().expect("board");
        assert!(!board.healthy(), "failing: the heartbeat waits");
        w.observe("ops-hook", Attempt::Delivered);
        assert!(board.healthy());
    }

    #[test]
    fn the_summary_names_the_contact_and_redacts_the_error() {
        let url = "https://hooks.example/guardian/SECRET-chan-1f2e3d";
        secret::register(url);
        let at = FiledAt {
            chain: "local".into(),
            chain_id: 31337,
            number: 7,
            hash: alloy::primitives::B256::repeat_byte(7),
        };
        let a = episode_alert(
            "ops-hook",
            "webhook",
            &format!("contact `ops-hook`: request failed: error sending request for url ({url})"),
            3,
            2,
            at,
        );
        assert!(
            a.summary.starts_with(
                "contact ops-hook (webhook) failing: request failed: error sending request"
            ),
            "{}",
            a.summary
        );
        assert!(
            a.summary.contains("2 messages undelivered"),
            "{}",
            a.summary
        );
        assert!(!a.summary.contains("SECRET-chan"), "{}", a.summary);
        assert!(!a.evidence.to_string().contains("SECRET-chan"));
        assert!(a.dedup_key.starts_with("monitor-health:contact:ops-hook:"));
        assert_eq!((a.chain_id, a.block_number), (31337, 7));
    }
}
