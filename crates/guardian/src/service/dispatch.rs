//! What happens to an alert once it is stored: its contacts are told (through the outbox), and a
//! rule with `respond` gets its automatic response through the operator's own pause path.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::{
    alert::{Alert, AlertStatus},
    config::rules::Respond,
    deployment::Deployment,
    incident::{
        Change,
        automatic::{self, Responded},
        playbook::GUARDIAN,
    },
    monitor::{
        MonitorEvent,
        lease::Held,
        metrics::{Metrics, Stage},
    },
    notify::{self, AlertEvent, Contacts, Outbox},
    storage::{Store, acting_under},
};

/// What dispatching one event did.
#[derive(Debug, Serialize)]
pub struct Dispatched {
    /// The alert.
    pub alert_id: i64,
    /// Outbox rows written (one per contact told).
    pub notified: usize,
    /// Why the contacts could not be told, if so.
    pub notify_error: Option<String>,
    /// The automatic response, when the alert's rule asks for one.
    pub response: Option<Result<Responded, String>>,
}

/// Tells contacts and runs automatic responses for the monitor's events.
pub struct Dispatcher<'a> {
    deployment: &'a Deployment,
    store: Arc<Store>,
    contacts: Arc<Contacts>,
    outbox: Option<Outbox>,
    /// `[ha]`: the leases this instance holds; an alert is answered under its chain's.
    held: Option<Held>,
    /// Where the time to queue an alert's messages is observed (the `notify` stage).
    metrics: Option<Arc<Metrics>>,
}

impl<'a> Dispatcher<'a> {
    /// A dispatcher writing to `store` (the deployment's database, opened once more for the
    /// outbox) for the manifest's `[[contacts]]`; `outbox` delivers what is written.
    pub fn new(
        deployment: &'a Deployment,
        store: Arc<Store>,
        contacts: Arc<Contacts>,
        outbox: Option<Outbox>,
    ) -> Self {
        Self {
            deployment,
            store,
            contacts,
            outbox,
            held: None,
            metrics: None,
        }
    }

    /// Observes the time each alert's messages take to queue in `metrics` (stage `notify`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// `[ha]`: answers an alert only while this instance holds its chain's lease, and under it
    /// (its transactions are journalled, so broadcast, only while the lease is held). An alert
    /// of a chain it does not hold is left to that chain's holder.
    pub fn under_leases(mut self, held: Held) -> Self {
        self.held = Some(held);
        self
    }

    /// The rule's response, for a configured rule that has one: none for an alert about a
    /// pending transaction unless the rule says `preempt = true`.
    fn response_of(&self, alert: &Alert) -> Respond {
        let rule = self
            .deployment
            .manifest
            .rules
            .iter()
            .find(|r| *r.name.get_ref() == alert.found.rule);
        match rule {
            Some(r) if alert.status != AlertStatus::Pending || r.preempt => r.respond,
            _ => Respond::None,
        }
    }

    /// Tells the contacts about `event` and, for a raised alert whose rule says so, responds.
    pub async fn dispatch(&self, event: &MonitorEvent) -> Dispatched {
        let (alert, kind) = match event {
            MonitorEvent::Raised(a) | MonitorEvent::Owed(a) => (a, AlertEvent::Raised),
            MonitorEvent::Retracted(a) => (a, AlertEvent::Retracted),
        };
        let respond = self.response_of(alert);
        let raised = matches!(event, MonitorEvent::Raised(_) | MonitorEvent::Owed(_));
        // Owed twice (a holder's rescan while it was queued): dispatched once.
        if matches!(event, MonitorEvent::Owed(_))
            && self.store.dispatched(alert.id).unwrap_or(false)
        {
            return Dispatched {
                alert_id: alert.id,
                notified: 0,
                notify_error: None,
                response: None,
            };
        }
        // `[ha]`: the lease the alert is answered under; none when this instance no longer
        // holds the chain (the holder answers it).
        let fence = self.held.as_ref().map(|h| h.of(alert.found.chain_id));
        if let MonitorEvent::Raised(a) | MonitorEvent::Owed(a) = event {
            self.link_to_incidents(a);
        }
        let responding =
            automatic::response_level(respond).map(|l| l.max(alert.found.severity.level()));
        let queueing = std::time::Instant::now();
        let (notified, notify_error) = match notify::enqueue_alert_responding(
            &self.store,
            &self.contacts,
            alert,
            kind,
            responding,
        ) {
            Ok(n) => (n, None),
            Err(e) => {
                tracing::warn!(alert = alert.id, "cannot queue notifications: {e}");
                (0, Some(e.to_string()))
            }
        };
        if let Some(m) = &self.metrics {
            m.stage(&alert.found.chain, Stage::Notify, queueing.elapsed());
        }
        if let Some(outbox) = &self.outbox {
            outbox.wake();
        }
        let response = match event {
            // A backfilled alert already final is history, not an attack in progress.
            // An owed alert was never answered: news, whatever its depth by now.
            MonitorEvent::Raised(a) | MonitorEvent::Owed(a)
                if respond != Respond::None
                    && (a.status != AlertStatus::Final
                        || matches!(event, MonitorEvent::Owed(_))) =>
            {
                if let Some(None) = fence {
                    tracing::warn!(
                        alert = a.id,
                        chain = %a.found.chain,
                        "this instance no longer holds the chain: its holder answers the alert"
                    );
                    return Dispatched {
                        alert_id: alert.id,
                        notified,
                        notify_error,
                        response: None,
                    };
                }
                let signer = self.deployment.manifest.monitor.signer.as_deref();
                let adopt = matches!(event, MonitorEvent::Owed(_));
                let r = acting_under(
                    fence.clone().flatten(),
                    automatic::respond_adopting(
                        self.deployment,
                        &self.contacts,
                        a,
                        respond,
                        signer,
                        adopt,
                    ),
                )
                .await;
                if let Err(e) = &r {
                    tracing::error!(alert = a.id, "automatic response failed: {e}");
                }
                Some(r.map_err(|e| e.to_string()))
            }
            _ => None,
        };
        // Dispatched: a later holder of the chain need not do it again. An alert whose messages
        // could not be queued stays undispatched, for the next holder.
        // Answered under a lease lost meanwhile: the new holder adopts what was left undone.
        let fenced_off = match &fence {
            Some(Some(f)) if response.is_some() => !self.store.still_holds(f).unwrap_or(false),
            _ => false,
        };
        if fenced_off {
            tracing::warn!(
                alert = alert.id,
                "the chain's lease was lost while answering the alert: left to the new holder"
            );
        }
        if raised
            && notify_error.is_none()
            && !fenced_off
            && let Err(e) = self.store.mark_dispatched(alert.id)
        {
            tracing::warn!(alert = alert.id, "cannot mark the alert dispatched: {e}");
        }
        Dispatched {
            alert_id: alert.id,
            notified,
            notify_error,
            response,
        }
    }

    /// Links a raised alert to every active incident watching its contract (a level 1 incident
    /// "watches the affected contracts": their alerts join its timeline).
    fn link_to_incidents(&self, alert: &Alert) {
        let Some(contract) = &alert.found.contract else {
            return;
        };
        let linked = self
            .deployment
            .store
            .incidents_watching(contract)
            .and_then(|ids| {
                ids.into_iter().try_for_each(|id| {
                    self.deployment
                        .store
                        .record(id, GUARDIAN, None, &[Change::Alert(alert.id)])
                })
            });
        if let Err(e) = linked {
            tracing::warn!(
                alert = alert.id,
                "cannot link the alert to its incident: {e}"
            );
        }
    }

    /// Dispatches every event until the channel closes, handing each result to `seen`.
    pub async fn run(
        &self,
        mut events: mpsc::UnboundedReceiver<MonitorEvent>,
        seen: impl Fn(&MonitorEvent, &Dispatched),
    ) {
        while let Some(event) = events.recv().await {
            let done = self.dispatch(&event).await;
            seen(&event, &done);
        }
    }
}
