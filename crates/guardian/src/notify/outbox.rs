//! The outbox: every notification is a row written before it is sent, one per contact per
//! message, delivered, and retried with exponential backoff and jitter until delivered or
//! `[notify] max_attempts` is reached, across restarts too (a new process picks up what an
//! earlier one left undelivered).
//!
//! A pass claims the due rows by pushing their next attempt past the attempt's timeout (a lease,
//! so two passes, or two processes, never send the same attempt), sends them all concurrently,
//! and records each outcome. Messages about one alert reach a contact in the order they were
//! written: a retraction waits for its alert's delivery.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use tokio::{sync::Notify, task::JoinSet};

use super::{Contacts, NotifyError, message::Message};
use crate::{
    secret::redact,
    storage::{
        KeptBy, Prune, StorageError, Store, now_ms,
        sql::{Conn, OptionalExt as _, SqlError, SqlResult, params},
    },
};

/// A message names its alert: retention keeps an alert while a message names it.
pub const NAMES_ALERT: KeptBy = KeptBy {
    table: "outbox",
    column: "alert_id",
};

/// Delivered messages, aged from delivery; undelivered or given-up ones are never pruned.
pub const DELIVERED: Prune<'static> = Prune {
    table: "outbox",
    age_column: "delivered_at",
    kept_by: &[],
};

/// Rows one pass claims at most.
const PASS_LIMIT: i64 = 256;

/// A row about to be written.
#[derive(Debug, Clone)]
pub(crate) struct NewDelivery<'a> {
    pub delivery_id: String,
    pub contact: &'a str,
    pub channel: &'a str,
    pub topic: &'a str,
    pub alert_id: Option<i64>,
    pub incident_id: Option<i64>,
    pub message: &'a Message,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; will be tried (again).
    Pending,
    /// The channel accepted it.
    Delivered,
    /// `max_attempts` failed, or the channel refused it for good.
    GaveUp,
}

/// One row of the outbox, for people (`guardian alerts`) and the monitor's health rule.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// Unique per delivery, the same on every attempt (`X-Guardian-Delivery`).
    pub delivery_id: String,
    /// The contact's name.
    pub contact: String,
    /// Its channel.
    pub channel: String,
    /// `alert.raised`, `alert.retracted`, ...
    pub topic: String,
    /// The alert it is about.
    pub alert_id: Option<i64>,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure, redacted.
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub delivered_at: Option<i64>,
    /// When the next attempt is due (pending only), Unix milliseconds.
    pub next_attempt_at: Option<i64>,
}

/// Writes `rows` inside the caller's transaction (so a record and the messages about it are
/// written together or not at all); returns how many were written.
pub(crate) fn enqueue_in(conn: &Conn<'_>, rows: &[NewDelivery<'_>]) -> SqlResult<usize> {
    let now = now_ms();
    let mut written = 0;
    for r in rows {
        let message = serde_json::to_string(r.message).map_err(|e| SqlError::conversion(5, e))?;
        written += conn.execute(
            "INSERT INTO outbox (delivery_id, contact, channel, topic, alert_id, message, next_attempt_at, created_at, incident_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) ON CONFLICT DO NOTHING",
            params![
                r.delivery_id,
                r.contact,
                r.channel,
                r.topic,
                r.alert_id,
                message,
                now,
                r.incident_id
            ],
        )?;
    }
    Ok(written)
}

/// A claimed row.
struct Due {
    id: i64,
    delivery_id: String,
    contact: String,
    attempts: u32,
    message: String,
}

impl Store {
    /// Writes `rows` in one transaction; a message already written for the same contact, topic
    /// and alert is not written again. Returns how many were written.
    pub(crate) fn enqueue(&self, rows: &[NewDelivery<'_>]) -> Result<usize, StorageError> {
        self.write(|tx| enqueue_in(tx, rows))
    }

    /// Claims up to `limit` due rows, leasing them until `lease_until`.
    fn claim_due(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<Due>, StorageError> {
        // One serialized write transaction: another process's pass waits for this claim
        // instead of reading the same rows as due.
        self.write(|tx| {
            let due = tx.query_map(
                "SELECT id, delivery_id, contact, attempts, message FROM outbox o
                 WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ?1
                   AND NOT EXISTS (
                     SELECT 1 FROM outbox e WHERE e.alert_id = o.alert_id AND e.contact = o.contact
                       AND e.id < o.id AND e.delivered_at IS NULL AND e.gave_up_at IS NULL)
                 ORDER BY id LIMIT ?2",
                params![now, limit],
                |r| {
                    Ok(Due {
                        id: r.get(0)?,
                        delivery_id: r.get(1)?,
                        contact: r.get(2)?,
                        attempts: r.get(3)?,
                        message: r.get(4)?,
                    })
                },
            )?;
            for d in &due {
                tx.execute(
                    "UPDATE outbox SET next_attempt_at = ?1 WHERE id = ?2",
                    params![lease_until, d.id],
                )?;
            }
            Ok(due)
        })
    }

    /// Records one attempt: delivered, to be retried at `retry_at`, or given up (`retry_at`
    /// `None` with an error).
    fn record_attempt(
        &self,
        id: i64,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        self.with(|c| {
            match (error, retry_at) {
                (None, _) => c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?1, delivered_at = ?1 WHERE id = ?2",
                    params![now, id],
                ),
                (Some(e), Some(at)) => c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?4",
                    params![now, e, at, id],
                ),
                (Some(e), None) => c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?1, last_error = ?2, gave_up_at = ?1 WHERE id = ?3",
                    params![now, e, id],
                ),
            }
            .map(|_| ())
        })
    }

    /// The contacts that were sent (or are being sent) `topic` about `alert`.
    pub(crate) fn contacts_told(
        &self,
        alert: i64,
        topic: &str,
    ) -> Result<Vec<String>, StorageError> {
        self.with(|c| {
            c.query_map(
                "SELECT contact FROM outbox WHERE alert_id = ?1 AND topic = ?2 ORDER BY id",
                params![alert, topic],
                |r| r.get(0),
            )
        })
    }

    /// When `contact` last accepted a message (Unix milliseconds), and how many of its messages
    /// are undelivered since: pending, or given up after that delivery.
    pub fn contact_deliveries(&self, contact: &str) -> Result<(Option<i64>, u64), StorageError> {
        self.with(|c| {
            let last: Option<i64> = c.query_row(
                "SELECT MAX(delivered_at) FROM outbox WHERE contact = ?1",
                params![contact],
                |r| r.get(0),
            )?;
            let undelivered: i64 = c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE contact = ?1 AND delivered_at IS NULL
                   AND (gave_up_at IS NULL OR gave_up_at >= ?2)",
                params![contact, last.unwrap_or(0)],
                |r| r.get(0),
            )?;
            Ok((last, undelivered.max(0) as u64))
        })
    }

    /// Every delivery about `alert` (all of them when `None`), oldest first.
    pub fn deliveries(&self, alert: Option<i64>) -> Result<Vec<DeliveryRecord>, StorageError> {
        self.with(|c| {
            c.query_map(
                "SELECT delivery_id, contact, channel, topic, alert_id, attempts, last_error, created_at, delivered_at, gave_up_at, next_attempt_at
                 FROM outbox WHERE CAST(?1 AS BIGINT) IS NULL OR alert_id = ?1 ORDER BY id",
                params![alert],
                |r| {
                let delivered_at: Option<i64> = r.get(8)?;
                let gave_up_at: Option<i64> = r.get(9)?;
                let state = match (delivered_at, gave_up_at) {
                    (Some(_), _) => DeliveryState::Delivered,
                    (None, Some(_)) => DeliveryState::GaveUp,
                    (None, None) => DeliveryState::Pending,
                };
                Ok(DeliveryRecord {
                    delivery_id: r.get(0)?,
                    contact: r.get(1)?,
                    channel: r.get(2)?,
                    topic: r.get(3)?,
                    alert_id: r.get(4)?,
                    attempts: r.get(5)?,
                    last_error: r.get(6)?,
                    created_at: r.get(7)?,
                    delivered_at,
                    next_attempt_at: (state == DeliveryState::Pending)
                        .then(|| r.get(10))
                        .transpose()?,
                    state,
                })
                },
            )
        })
    }

    /// The delivery with this id.
    pub fn delivery(&self, delivery_id: &str) -> Result<Option<DeliveryRecord>, StorageError> {
        let alert: Option<Option<i64>> = self.with(|c| {
            c.query_row(
                "SELECT alert_id FROM outbox WHERE delivery_id = ?1",
                params![delivery_id],
                |r| r.get(0),
            )
            .optional()
        })?;
        let Some(alert) = alert else { return Ok(None) };
        Ok(self
            .deliveries(alert)?
            .into_iter()
            .find(|d| d.delivery_id == delivery_id))
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    /// Attempts made.
    pub attempted: usize,
    /// Accepted by their channel.
    pub delivered: usize,
    /// Failed, to be retried.
    pub retrying: usize,
    /// Failed for the last time.
    pub gave_up: usize,
    /// Each failure: contact, channel and the (redacted) error.
    pub failures: Vec<Failure>,
}

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The contact's name.
    pub contact: String,
    /// The delivery.
    pub delivery_id: String,
    /// Why, redacted.
    pub error: String,
}

/// How one delivery attempt to a contact ended.
#[derive(Debug, Clone, Copy)]
pub enum Attempt<'a> {
    /// The channel accepted the message.
    Delivered,
    /// It failed.
    Failed {
        /// Why, already redacted.
        error: &'a str,
        /// Whether the message is given up (no further attempt).
        gave_up: bool,
    },
}

/// Whoever watches deliveries is told of every attempt (the monitor's metrics count them; its
/// channel watch raises `monitor-health` when a contact keeps failing): notify knows neither.
pub trait DeliveryObserver: Send + Sync {
    /// One attempt to `contact` over `channel`, already recorded. Returns whether the observer
    /// queued something new, so that the outbox runs again at once.
    fn attempted(&self, contact: &str, channel: &str, attempt: Attempt<'_>) -> bool;
}

/// Delivers the outbox: one pass with [`Outbox::deliver_due`], or a loop with [`Outbox::run`].
#[derive(Clone)]
pub struct Outbox {
    store: Arc<Store>,
    contacts: Arc<Contacts>,
    client: reqwest::Client,
    wake: Arc<Notify>,
    poll_interval: Duration,
    observers: Vec<Arc<dyn DeliveryObserver>>,
    /// Whether the last pass could not read the outbox (told once per outage, not each pass).
    unreadable: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("contacts", &self.contacts.list.len())
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An outbox delivering `store`'s rows to `contacts`.
    pub fn new(store: Arc<Store>, contacts: Arc<Contacts>) -> Result<Self, NotifyError> {
        let client = super::http::client(contacts.settings.timeout())?;
        Ok(Self {
            store,
            contacts,
            client,
            wake: Arc::new(Notify::new()),
            poll_interval: Duration::from_millis(100),
            observers: Vec::new(),
            unreadable: Arc::default(),
        })
    }

    /// How often [`Outbox::run`] looks for due rows when nobody wakes it (default 100 ms).
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// Counts every attempt's result in `metrics` (per contact and channel).
    pub fn with_metrics(self, metrics: Arc<dyn DeliveryObserver>) -> Self {
        self.with_observer(metrics)
    }

    /// Tells `watch` the outcome of every attempt, so that a contact whose deliveries keep
    /// failing raises `monitor-health` (told to the other contacts).
    pub fn with_channel_watch(self, watch: Arc<dyn DeliveryObserver>) -> Self {
        self.with_observer(watch)
    }

    /// Tells `observer` the outcome of every attempt.
    pub fn with_observer(mut self, observer: Arc<dyn DeliveryObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Makes a running [`Outbox::run`] look for due rows now (call after enqueueing).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// One pass: every due row, all concurrently, each attempt bounded by `[notify] timeout_ms`.
    pub async fn deliver_due(&self) -> DeliveryStats {
        let settings = &self.contacts.settings;
        let now = now_ms();
        let lease = now + settings.timeout_ms as i64 + 5_000;
        let due = match self.store.claim_due(now, lease, PASS_LIMIT) {
            Ok(due) => {
                if self
                    .unreadable
                    .swap(false, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::info!("the notification outbox is readable again");
                }
                due
            }
            Err(e) => {
                if self
                    .unreadable
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::debug!(error = %e, "cannot read the notification outbox");
                } else {
                    tracing::warn!(error = %e, "cannot read the notification outbox (said once until it is readable again)");
                }
                return DeliveryStats::default();
            }
        };
        let outcomes =
            futures::future::join_all(due.into_iter().map(|row| self.attempt(row))).await;
        let mut stats = DeliveryStats::default();
        for outcome in outcomes {
            stats.attempted += 1;
            match outcome {
                Outcome::Delivered => stats.delivered += 1,
                Outcome::Retrying(f) => {
                    stats.retrying += 1;
                    stats.failures.push(f);
                }
                Outcome::GaveUp(f) => {
                    stats.gave_up += 1;
                    stats.failures.push(f);
                }
            }
        }
        stats
    }

    /// Delivers until `shutdown` completes: a pass whenever woken or every poll interval, each
    /// in its own task so that a slow channel never holds back the next pass (its rows stay
    /// leased meanwhile). On shutdown, attempts in flight are finished.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut passes = JoinSet::new();
        loop {
            let me = self.clone();
            passes.spawn(async move { me.deliver_due().await });
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll_interval) => {}
            }
            while passes.try_join_next().is_some() {}
        }
        while passes.join_next().await.is_some() {}
    }

    async fn attempt(&self, row: Due) -> Outcome {
        let attempts = row.attempts + 1;
        let result = match self.contacts.get(&row.contact) {
            None => Err(NotifyError::UnknownContact(row.contact.clone())),
            Some(contact) => match serde_json::from_str::<Message>(&row.message) {
                Err(e) => Err(NotifyError::Json(e)),
                Ok(message) => {
                    super::deliver(&self.client, contact, &row.delivery_id, &message).await
                }
            },
        };
        let (error, retry_at) = match &result {
            Ok(()) => (None, None),
            Err(e) => {
                let settings = &self.contacts.settings;
                let retry = !e.is_permanent() && attempts < settings.max_attempts;
                let delay = backoff(settings, attempts, e.retry_after());
                let text = redact(&e.to_string()).into_owned();
                (
                    Some(text),
                    retry.then(|| now_ms() + delay.as_millis() as i64),
                )
            }
        };
        if let Err(e) = self
            .store
            .record_attempt(row.id, error.as_deref(), retry_at)
        {
            tracing::warn!(delivery = %row.delivery_id, error = %e, "cannot record a notification attempt");
        }
        if !self.observers.is_empty() {
            let channel = self
                .contacts
                .get(&row.contact)
                .map_or("unknown", |c| c.channel().as_str());
            let attempt = match &error {
                None => Attempt::Delivered,
                Some(e) => Attempt::Failed {
                    error: e,
                    gave_up: retry_at.is_none(),
                },
            };
            let mut queued = false;
            for o in &self.observers {
                queued |= o.attempted(&row.contact, channel, attempt);
            }
            // A health alert queued straight to the other contacts goes out in the next pass.
            if queued {
                self.wake();
            }
        }
        match error {
            None => {
                tracing::info!(contact = %row.contact, delivery = %row.delivery_id, attempts, "notification delivered");
                Outcome::Delivered
            }
            Some(error) => {
                let failure = Failure {
                    contact: row.contact.clone(),
                    delivery_id: row.delivery_id.clone(),
                    error,
                };
                if retry_at.is_some() {
                    tracing::warn!(contact = %row.contact, delivery = %row.delivery_id, attempts, error = %failure.error, "notification failed; will retry");
                    Outcome::Retrying(failure)
                } else {
                    tracing::error!(contact = %row.contact, delivery = %row.delivery_id, attempts, error = %failure.error, "notification given up");
                    Outcome::GaveUp(failure)
                }
            }
        }
    }
}

enum Outcome {
    Delivered,
    Retrying(Failure),
    GaveUp(Failure),
}

/// The delay after the `failures`-th failure: `backoff_ms × 2^(failures-1)`, at most
/// `max_backoff_ms`, drawn uniformly from its upper half (jitter, so that many failed
/// deliveries do not retry in lockstep); never shorter than a server's `Retry-After`.
fn backoff(
    settings: &crate::config::NotifySettings,
    failures: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = failures.saturating_sub(1).min(32);
    let full = settings
        .backoff_ms
        .saturating_mul(1u64 << exp)
        .min(settings.max_backoff_ms);
    let half = full / 2;
    let jitter = random_u64() % (full - half + 1);
    let delay = Duration::from_millis(half + jitter);
    retry_after.map_or(delay, |r| {
        delay.max(r.min(Duration::from_millis(settings.max_backoff_ms)))
    })
}

/// A random number for jitter and delivery ids.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    RandomState::new().hash_one(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotifySettings;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let s = NotifySettings {
            backoff_ms: 1_000,
            max_backoff_ms: 10_000,
            ..NotifySettings::default()
        };
        for _ in 0..50 {
            let first = backoff(&s, 1, None).as_millis();
            assert!((500..=1_000).contains(&first), "{first}");
            let third = backoff(&s, 3, None).as_millis();
            assert!((2_000..=4_000).contains(&third), "{third}");
            let late = backoff(&s, 30, None).as_millis();
            assert!((5_000..=10_000).contains(&late), "{late}");
        }
        let told = backoff(&s, 1, Some(Duration::from_secs(7)));
        assert_eq!(told, Duration::from_secs(7), "Retry-After is respected");
        let spread: std::collections::BTreeSet<_> = (0..20).map(|_| backoff(&s, 4, None)).collect();
        assert!(spread.len() > 1, "jittered");
    }
}
