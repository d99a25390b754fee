//! The monitor's own health: the built-in `monitor-health` rule (head lag above
//! `[monitor] max_lag_blocks`, or a chain's endpoints failing poll after poll, raise one
//! `warning` per chain and episode; a failing contact is `channels`'s) and the heartbeat an
//! outside dead man's switch listens for.

use std::{
    collections::BTreeSet,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::primitives::B256;

use crate::{
    alert::{NewAlert, Severity},
    secret,
};

/// The rule's name (and kind).
pub const RULE: &str = crate::alert::HEALTH_RULE;

/// Consecutive failed polls of a chain (every endpoint failing) that make an outage episode.
pub const FAILED_POLLS: u32 = 3;

/// Which chains and which contacts are in trouble now; the heartbeat beats only while none is
/// (a monitor that cannot tell anyone is not a healthy monitor: the dead man's switch is then
/// the one alarm left).
#[derive(Debug, Default)]
pub struct HealthBoard {
    troubled: Mutex<BTreeSet<String>>,
    failing_contacts: Mutex<BTreeSet<String>>,
}

impl HealthBoard {
    /// Whether every chain and every contact is healthy.
    pub fn healthy(&self) -> bool {
        self.troubled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
            && self
                .failing_contacts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }

    /// Records whether `contact`'s deliveries are failing (a `monitor-health` episode).
    pub fn set_contact(&self, contact: &str, failing: bool) {
        let mut set = self
            .failing_contacts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if failing {
            set.insert(contact.to_string());
        } else {
            set.remove(contact);
        }
    }

    fn set(&self, chain: &str, troubled: bool) {
        let mut set = self.troubled.lock().unwrap_or_else(|p| p.into_inner());
        if troubled {
            set.insert(chain.to_string());
        } else {
            set.remove(chain);
        }
    }
}

/// One chain's `monitor-health` state: the episodes open now.
#[derive(Debug)]
pub struct HealthWatch {
    chain: String,
    chain_id: u64,
    max_lag: u64,
    failures: u32,
    lagging: bool,
    outage: bool,
    outages: u64,
    board: Option<Arc<HealthBoard>>,
}

/// The block a health alert is filed at (the chain's cursor: the last block processed).
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
}

impl HealthWatch {
    /// The watch of one chain; `board` (when given) learns of its episodes.
    pub fn new(chain: &str, chain_id: u64, max_lag: u64, board: Option<Arc<HealthBoard>>) -> Self {
        Self {
            chain: chain.to_string(),
            chain_id,
            max_lag,
            failures: 0,
            lagging: false,
            outage: false,
            outages: 0,
            board,
        }
    }

    fn publish(&self) {
        if let Some(b) = &self.board {
            b.set(&self.chain, self.lagging || self.outage);
        }
    }

    /// A poll read the head: the endpoints work again (an outage ends), and a lag above the
    /// threshold starts an episode (one alert), a lag within it ends one.
    pub fn on_head(&mut self, head: u64, at: Option<At>) -> Option<NewAlert> {
        self.failures = 0;
        if self.outage {
            tracing::info!(chain = %self.chain, "the chain's endpoints answer again");
            self.outage = false;
        }
        let processed = at.map(|a| a.number);
        let lag = processed.map_or(0, |p| head.saturating_sub(p));
        let alert = match (lag > self.max_lag, self.lagging, at) {
            (true, false, Some(at)) => {
                self.lagging = true;
                tracing::warn!(chain = %self.chain, lag, "the monitor is {lag} blocks behind the head");
                Some(self.alert(
                    at,
                    format!("lag:{head}"),
                    format!(
                        "monitor is {lag} blocks behind the head of {} (max_lag_blocks = {}): alerts come late",
                        self.chain, self.max_lag
                    ),
                    serde_json::json!({"head": head, "processed": at.number, "lag": lag, "max_lag_blocks": self.max_lag}),
                ))
            }
            (false, true, _) => {
                tracing::info!(chain = %self.chain, lag, "the monitor caught up with the head");
                self.lagging = false;
                None
            }
            _ => None,
        };
        self.publish();
        alert
    }

    /// A poll failed to read the chain: the [`FAILED_POLLS`]th failure in a row starts an outage
    /// episode (one alert).
    pub fn on_failure(&mut self, at: Option<At>, error: &str) -> Option<NewAlert> {
        self.failures = self.failures.saturating_add(1);
        if self.outage || self.failures < FAILED_POLLS {
            return None;
        }
        self.outage = true;
        self.outages += 1;
        self.publish();
        let at = at?;
        Some(self.alert(
            at,
            format!("endpoints:{}-{}", crate::storage::now_ms(), self.outages),
            format!(
                "every endpoint of {} failed {} polls in a row: the chain is not watched ({})",
                self.chain,
                self.failures,
                secret::redact(error)
            ),
            serde_json::json!({"failed_polls": self.failures, "error": secret::redact(error)}),
        ))
    }

    /// The alert of a takeover: this instance took the chain at `epoch`, after it had had no
    /// holder for `unwatched_ms` (more than two leases: a warning that nothing watched it).
    pub fn takeover(
        &self,
        at: At,
        epoch: i64,
        instance: &str,
        unwatched_ms: i64,
        lease_ms: u64,
    ) -> NewAlert {
        let gap = if unwatched_ms > 2 * lease_ms as i64 {
            format!(
                "; nothing watched it for {:.1} s (more than two leases)",
                unwatched_ms as f64 / 1000.0
            )
        } else {
            String::new()
        };
        self.alert(
            at,
            format!("takeover:{epoch}"),
            format!(
                "chain `{}`: instance {instance} took over following it (lease epoch {epoch}){gap}",
                self.chain
            ),
            serde_json::json!({"epoch": epoch, "instance": instance, "unwatched_ms": unwatched_ms}),
        )
    }

    fn alert(
        &self,
        at: At,
        episode: String,
        summary: String,
        evidence: serde_json::Value,
    ) -> NewAlert {
        NewAlert {
            rule: RULE.into(),
            kind: RULE.into(),
            severity: Severity::Warning,
            chain: self.chain.clone(),
            chain_id: self.chain_id,
            contract: None,
            address: None,
            block_number: at.number,
            block_hash: at.hash,
            tx_hashes: Vec::new(),
            summary,
            evidence,
            dedup_key: format!("{RULE}:{}:{episode}", self.chain_id),
        }
    }
}

/// The heartbeat: a GET of a secret URL (an outside dead man's switch, such as healthchecks.io,
/// raises the alarm when the calls stop).
pub struct Heartbeat {
    url: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartbeat").finish_non_exhaustive()
    }
}

impl Heartbeat {
    /// A heartbeat to `url`, registered as a secret (it never appears in logs or output); `None`
    /// (logged) when no HTTP client can be built.
    pub fn new(url: String, timeout: Duration) -> Option<Self> {
        secret::register(&url);
        crate::tls::install_provider();
        match reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("guardian/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => Some(Self { url, client }),
            Err(e) => {
                tracing::warn!(
                    "heartbeat disabled: {}",
                    secret::redact(&e.without_url().to_string())
                );
                None
            }
        }
    }

    /// One call; whether it was answered with a 2xx. A failure is logged (redacted), never fatal.
    pub async fn beat(&self) -> bool {
        match self.client.get(&self.url).send().await {
            Ok(r) if r.status().is_success() => {
                tracing::debug!("heartbeat sent");
                true
            }
            Ok(r) => {
                tracing::warn!("heartbeat refused: HTTP {}", r.status());
                false
            }
            Err(e) => {
                tracing::warn!(
                    "heartbeat failed: {}",
                    secret::redact(&e.without_url().to_string())
                );
                false
            }
        }
    }

    /// Beats every `every` while `board` says every chain and contact is healthy, until `shutdown`; the
    /// first beat goes out at once.
    pub async fn run(
        self,
        every: Duration,
        board: Arc<HealthBoard>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            if board.healthy() {
                self.beat().await;
            } else {
                tracing::info!(
                    "heartbeat withheld: a chain or a contact is in trouble (monitor-health)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(number: u64) -> Option<At> {
        Some(At {
            number,
            hash: B256::repeat_byte(number as u8),
        })
    }

    #[test]
    fn lag_raises_once_per_episode_and_recovery_ends_it() {
        let board = Arc::new(HealthBoard::default());
        let mut w = HealthWatch::new("local", 31337, 10, Some(board.clone()));
        assert!(w.on_head(110, at(100)).is_none(), "a lag of 10 is allowed");
        assert!(board.healthy());
        let first = w.on_head(120, at(100)).expect("lag 20 starts an episode");
        assert_eq!(
            (first.rule.as_str(), first.severity, first.block_number),
            (RULE, Severity::Warning, 100)
        );
        assert!(!board.healthy(), "the heartbeat is withheld meanwhile");
        assert!(
            w.on_head(140, at(120)).is_none(),
            "same episode: no second alert"
        );
        assert!(
            w.on_head(141, at(140)).is_none(),
            "caught up: the episode ends"
        );
        assert!(board.healthy());
        let second = w.on_head(160, at(141)).expect("a new episode");
        assert_ne!(first.dedup_key, second.dedup_key);
        assert!(second.dedup_key.starts_with("monitor-health:31337:"));
    }

    #[test]
    fn failing_polls_raise_once_after_the_threshold_and_a_head_ends_the_outage() {
        let board = Arc::new(HealthBoard::default());
        let mut w = HealthWatch::new("local", 31337, 10, Some(board.clone()));
        let secret_url = "https://rpc.example/v1/SECRET-KEY-hw";
        secret::register(secret_url);
        let error = format!("error sending request for url ({secret_url})");
        for _ in 1..FAILED_POLLS {
            assert!(w.on_failure(at(5), &error).is_none());
        }
        let alert = w.on_failure(at(5), &error).expect("sustained failure");
        assert!(
            !alert.summary.contains("SECRET-KEY-hw"),
            "{}",
            alert.summary
        );
        assert!(!alert.evidence.to_string().contains("SECRET-KEY-hw"));
        assert!(!board.healthy());
        assert!(w.on_failure(at(5), &error).is_none(), "once per episode");
        assert!(w.on_head(5, at(5)).is_none());
        assert!(board.healthy(), "the endpoints answer again");
        for _ in 1..FAILED_POLLS {
            assert!(w.on_failure(at(5), &error).is_none(), "the count restarted");
        }
        assert!(w.on_failure(at(5), &error).is_some(), "a new outage");
    }
}
