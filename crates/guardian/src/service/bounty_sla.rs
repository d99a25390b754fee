//! The built-in `bounty-sla` rule: while the monitor runs (at start, then every
//! [`EVERY`]; with `--once`, once after the chains), each bug bounty report whose
//! acknowledgement clock ran out raises one alert (critical for a critical report, high
//! otherwise) through the monitor's channels, naming the report and the command that
//! acknowledges it.
//!
//! A report belongs to no block, but an alert has a chain and a block: like a failing contact's
//! `monitor-health`, it is filed at the cursor of the chain of the report's first contract (else
//! the manifest's first chain the monitor has processed), and a reorganisation of that block
//! does not retract it. The alert and the report's `sla_alerted_at` are written in one
//! transaction, so a restarted monitor never raises it twice.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use tokio::sync::{mpsc, watch};

use crate::{
    alert::{Alert, NewAlert, Severity as AlertSeverity},
    bounty::{
        Severity,
        sla::{KEY_PREFIX, OverdueReport, RULE},
    },
    config::{BountySettings, Manifest},
    monitor::{MonitorEvent, metrics::Metrics},
    notify::{self, AlertEvent, Contacts},
    storage::{StorageError, Store, now_ms},
};

/// How often the running monitor looks for overdue reports.
pub const EVERY: Duration = Duration::from_secs(60);

/// How soon it looks again when no chain had a cursor to file an alert at yet.
const RETRY: Duration = Duration::from_secs(2);

/// What one look for overdue reports did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Alerts raised.
    pub raised: usize,
    /// Overdue reports left unalerted because no chain has been processed yet to file at.
    pub waiting: usize,
}

/// Raises `bounty-sla` for the overdue reports of the deployment's database.
pub struct SlaWatch {
    store: Arc<Store>,
    contacts: Arc<Contacts>,
    settings: BountySettings,
    chains: Vec<(String, u64)>,
    contract_chains: BTreeMap<String, String>,
    events: Option<mpsc::WeakUnboundedSender<MonitorEvent>>,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for SlaWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlaWatch")
            .field("chains", &self.chains)
            .finish_non_exhaustive()
    }
}

impl SlaWatch {
    /// A watch reading reports from `store` and queueing its alerts to `contacts`.
    pub fn new(store: Arc<Store>, contacts: Arc<Contacts>, manifest: &Manifest) -> Self {
        Self {
            store,
            contacts,
            settings: manifest.bounty.clone(),
            chains: manifest
                .chains
                .iter()
                .map(|(name, c)| (name.clone(), c.chain_id))
                .collect(),
            contract_chains: manifest
                .contracts
                .iter()
                .map(|c| (c.name().to_string(), c.chain().to_string()))
                .collect(),
            events: None,
            metrics: None,
        }
    }

    /// Hands alerts to the monitor's dispatcher while it runs (it queues, prints and counts them
    /// like any other); once it is gone they are queued directly.
    pub fn with_events(mut self, events: mpsc::WeakUnboundedSender<MonitorEvent>) -> Self {
        self.events = Some(events);
        self
    }

    /// Counts the alerts raised in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Raises one alert for each report overdue at `now` and not yet alerted.
    pub fn pass(&self, now: i64) -> Result<Pass, StorageError> {
        let mut pass = Pass::default();
        for report in self.store.overdue_bounty_reports(&self.settings, now)? {
            let Some(at) = self.filed_at(&report)? else {
                pass.waiting += 1;
                continue;
            };
            let alert = sla_alert(&report, &self.settings, at);
            if let Some(stored) = self.store.raise_bounty_sla(report.id, &alert, now)? {
                tracing::warn!(report = report.id, "{}", stored.found.summary);
                pass.raised += 1;
                self.hand_on(stored);
            }
        }
        if pass.waiting > 0 {
            tracing::info!(
                waiting = pass.waiting,
                "overdue bounty reports wait for a chain to be processed to file bounty-sla at"
            );
        }
        Ok(pass)
    }

    /// Looks at once, then every [`EVERY`] (sooner while alerts wait for a chain cursor), until
    /// `stop` turns `true`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let next = match self.pass(now_ms()) {
                Ok(p) if p.waiting > 0 => RETRY,
                Ok(_) => EVERY,
                Err(e) => {
                    tracing::warn!("cannot check the bounty reports' clocks: {e}");
                    EVERY
                }
            };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(next) => {}
            }
        }
    }

    /// The cursor of the chain of the report's first contract, else of the manifest's first
    /// chain with one.
    fn filed_at(&self, report: &OverdueReport) -> Result<Option<FiledAt>, StorageError> {
        let own = report
            .contracts
            .iter()
            .filter_map(|c| self.contract_chains.get(c))
            .filter_map(|chain| self.chains.iter().find(|(name, _)| name == chain));
        for (chain, chain_id) in own.chain(self.chains.iter()) {
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

    fn hand_on(&self, alert: Alert) {
        if let Some(m) = &self.metrics {
            m.alert_raised(&alert);
        }
        let alert = match self.events.as_ref().and_then(|w| w.upgrade()) {
            Some(tx) => match tx.send(MonitorEvent::Raised(alert)) {
                Ok(()) => return,
                Err(mpsc::error::SendError(
                    MonitorEvent::Raised(a) | MonitorEvent::Retracted(a) | MonitorEvent::Owed(a),
                )) => a,
            },
            None => alert,
        };
        if let Err(e) =
            notify::enqueue_alert(&self.store, &self.contacts, &alert, AlertEvent::Raised)
        {
            tracing::warn!(alert = alert.id, "cannot queue notifications: {e}");
        }
    }
}

/// Where an alert is filed.
#[derive(Debug, Clone)]
struct FiledAt {
    chain: String,
    chain_id: u64,
    number: u64,
    hash: alloy::primitives::B256,
}

/// The alert: `bounty report 7 "Title" (critical) not acknowledged: OVERDUE by 2h ...`.
fn sla_alert(report: &OverdueReport, settings: &BountySettings, at: FiledAt) -> NewAlert {
    let (severity, hours) = match report.severity {
        Severity::Critical => (AlertSeverity::Critical, settings.ack_hours_critical),
        _ => (AlertSeverity::High, settings.ack_hours_other),
    };
    let overdue = report.clock.human(report.submitted_at);
    let command = format!("guardian bounty ack {}", report.id);
    NewAlert {
        rule: RULE.into(),
        kind: RULE.into(),
        severity,
        chain: at.chain,
        chain_id: at.chain_id,
        contract: None,
        address: None,
        block_number: at.number,
        block_hash: at.hash,
        tx_hashes: Vec::new(),
        summary: format!(
            "bounty report {} \"{}\" ({}) not acknowledged: {overdue} (due within {hours}h of submission); acknowledge it with {command}",
            report.id, report.title, report.severity
        ),
        evidence: serde_json::json!({
            "report": report.id,
            "title": report.title,
            "severity": report.severity,
            "contracts": report.contracts,
            "submitted_at": report.submitted_at,
            "due_at": report.clock.due_at,
            "overdue_ms": -report.clock.remaining_ms,
            "ack_hours": hours,
            "command": command,
        }),
        dedup_key: format!("{KEY_PREFIX}{}", report.id),
    }
}

/// The report a `bounty-sla` alert is about.
pub fn report_of(alert: &Alert) -> Option<i64> {
    alert.overdue_report()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounty::{NewReport, crypto};

    const HOUR: i64 = 3_600_000;

    fn manifest() -> Manifest {
        let text = r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1"]

[[contacts]]
name = "chat"
channel = "slack"
webhook_url_env = "CHAT"
"#;
        Manifest::parse_with_env(text, std::path::Path::new("guardian.toml"), &|_| None)
            .expect("manifest")
    }

    fn report(store: &Store, severity: Severity, title: &str, submitted_at: i64) -> i64 {
        let r = NewReport {
            title: title.into(),
            severity,
            impact: "griefing",
            contracts: vec!["escrow".into()],
            description: "d".into(),
            proof_of_concept: None,
            contact: "c".into(),
            payout_address: None,
            credit_as: None,
        };
        let token = crypto::new_token().expect("token");
        store
            .insert_bounty_report(&r, None, &crypto::token_hash(&token), submitted_at)
            .expect("insert")
    }

    fn sla_alerts(store: &Store) -> Vec<Alert> {
        store
            .alerts(&crate::storage::AlertFilter {
                rule: Some(RULE.into()),
                ..Default::default()
            })
            .expect("alerts")
    }

    #[test]
    fn each_overdue_report_raises_one_alert_once_a_chain_is_processed() {
        let store = Arc::new(Store::in_memory().expect("db"));
        let m = manifest();
        let contacts = Arc::new(Contacts::load(&m, &|_| None));
        let now = 1_700_000_000_000;
        let critical = report(&store, Severity::Critical, "Drain", now - 49 * HOUR);
        let high = report(&store, Severity::High, "Freeze", now - 100 * HOUR);
        report(&store, Severity::Medium, "Grief", now - 50 * HOUR);

        let watch = SlaWatch::new(store.clone(), contacts.clone(), &m);
        assert_eq!(
            watch.pass(now).expect("pass"),
            Pass {
                raised: 0,
                waiting: 2
            },
            "no cursor yet: nowhere to file them"
        );
        let block = crate::storage::BlockRecord {
            chain: "local",
            chain_id: 31337,
            number: 4,
            hash: alloy::primitives::B256::repeat_byte(4),
            parent_hash: alloy::primitives::B256::repeat_byte(3),
            fence: None,
        };
        store.commit_block(&block, &[], 2).expect("cursor");
        assert_eq!(watch.pass(now).expect("pass").raised, 2);
        let alerts = sla_alerts(&store);
        assert_eq!(alerts.len(), 2);
        let by_report: BTreeMap<i64, &Alert> = alerts
            .iter()
            .map(|a| (report_of(a).expect("a report"), a))
            .collect();
        let c = by_report[&critical];
        assert_eq!(c.found.severity, AlertSeverity::Critical);
        assert_eq!(
            c.found.summary,
            format!(
                "bounty report {critical} \"Drain\" (critical) not acknowledged: OVERDUE by 1h (due within 48h of submission); acknowledge it with guardian bounty ack {critical}"
            )
        );
        assert_eq!((c.found.chain_id, c.found.block_number), (31337, 4));
        let h = by_report[&high];
        assert_eq!(h.found.severity, AlertSeverity::High);
        assert!(
            h.found.summary.contains("OVERDUE by 4h"),
            "{}",
            h.found.summary
        );
        assert_eq!(
            store.deliveries(Some(c.id)).expect("rows").len(),
            1,
            "queued to the contacts"
        );
        // The message asks for the acknowledgement, not for an incident or a pause.
        let text = notify::Message::alert(c, AlertEvent::Raised, None).text();
        assert!(
            text.contains(&format!("next: guardian bounty ack {critical} ")),
            "{text}"
        );
        assert!(
            text.contains(&format!("the bug bounty desk, report {critical}")),
            "{text}"
        );
        assert!(
            !text.contains("guardian pause") && !text.contains("guardian incident open"),
            "{text}"
        );

        // Another pass, or another process, raises nothing more.
        assert_eq!(watch.pass(now + HOUR).expect("pass").raised, 0);
        let again = SlaWatch::new(store.clone(), contacts, &m);
        assert_eq!(again.pass(now + HOUR).expect("pass"), Pass::default());
        assert_eq!(sla_alerts(&store).len(), 2);
    }
}
