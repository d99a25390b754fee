//! A running guardian, composed once: the monitor follows the chains, each stored alert is
//! dispatched (contacts told through the outbox, the automatic response run through the
//! incident protocol), the outbox delivers, and — as asked — the bounty clock's watch, a
//! failing contact's `monitor-health`, Prometheus metrics, the heartbeat and retention (old
//! records pruned) run beside them.
//! `guardian monitor`, the drill, the benchmarks and the tests all start it through [`Service`].

pub mod bounty_sla;
pub mod dispatch;
mod offline;
pub mod retention;

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::{mpsc, watch};

use crate::{
    deployment::{Deployment, store_location},
    monitor::{
        self, ChainSummary, MonitorError, MonitorEvent, MonitorOptions,
        channels::ChannelWatch,
        health::{HealthBoard, Heartbeat},
        metrics::Metrics,
    },
    notify::{Contacts, NotifyError, Outbox, outbox::Failure},
    storage::{StorageError, Store, now_ms},
};
use dispatch::{Dispatched, Dispatcher};

/// Why a service could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The database could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The outbox could not be built (its HTTP client).
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// What a service run did.
#[derive(Debug)]
pub struct Ran<T> {
    /// Each chain's summary, or its error, in chain-name order.
    pub chains: Vec<(String, Result<ChainSummary, MonitorError>)>,
    /// Notifications the last pass could not deliver (they stay queued for the next run).
    pub undelivered: Vec<Failure>,
    /// What the work run beside the monitor returned (`None`: the monitor ended first).
    pub body: Option<T>,
}

impl<T> Ran<T> {
    /// Whether every chain was followed without error.
    pub fn ok(&self) -> bool {
        self.chains.iter().all(|(_, r)| r.is_ok())
    }
}

/// A guardian to run on a deployment: the monitor and what serves it.
pub struct Service<'a> {
    deployment: &'a Deployment,
    contacts: Arc<Contacts>,
    store: Arc<Store>,
    options: MonitorOptions,
    outbox: Option<Outbox>,
    bounty_clock: bool,
    metrics: Option<Arc<Metrics>>,
    metrics_listener: Option<tokio::net::TcpListener>,
    heartbeat: Option<(Heartbeat, Duration)>,
    health: Option<Arc<HealthBoard>>,
}

impl<'a> Service<'a> {
    /// The monitor of `deployment` with its configured rules, telling `contacts`; its records
    /// through a handle of its own on the deployment's database (WAL: both write safely).
    pub async fn new(
        deployment: &'a Deployment,
        contacts: Arc<Contacts>,
    ) -> Result<Self, ServiceError> {
        let store = Arc::new(Store::open_at(&store_location(
            &deployment.path,
            Some(&deployment.manifest),
            &crate::config::env::process_env,
        ))?);
        Ok(Self {
            deployment,
            contacts,
            store,
            options: MonitorOptions::default(),
            outbox: None,
            bounty_clock: false,
            metrics: None,
            metrics_listener: None,
            heartbeat: None,
            health: None,
        })
    }

    /// The monitor's options (rules, start block, `once`, mempool); the service fills in where
    /// events go, when to stop, the metrics and the health board.
    pub fn monitor(mut self, options: MonitorOptions) -> Self {
        self.options = options;
        self
    }

    /// Delivers the outbox while it runs (without it alerts are stored and answered, and their
    /// messages wait in the outbox); a contact that keeps failing raises `monitor-health`.
    pub fn delivering(mut self) -> Result<Self, ServiceError> {
        self.outbox = Some(Outbox::new(self.store.clone(), self.contacts.clone())?);
        Ok(self)
    }

    /// Watches the bug bounty reports' acknowledgement clocks (`bounty-sla`).
    pub fn bounty_clock(mut self) -> Self {
        self.bounty_clock = true;
        self
    }

    /// Counts what the monitor and the outbox do in `metrics`, served on `listener` if given.
    pub fn metrics(
        mut self,
        metrics: Arc<Metrics>,
        listener: Option<tokio::net::TcpListener>,
    ) -> Self {
        self.metrics = Some(metrics);
        self.metrics_listener = listener;
        self
    }

    /// Beats `heartbeat` every `every` while every chain and contact is healthy (with `once`:
    /// once, after a run that fully succeeded).
    pub fn heartbeat(mut self, heartbeat: Heartbeat, every: Duration) -> Self {
        self.heartbeat = Some((heartbeat, every));
        self
    }

    /// Runs until `stop` turns true, `body` completes, or (with `once`) every chain is at its
    /// head; then dispatches what was raised, delivers what is due and stops. `on_event` sees
    /// each event as it is dispatched.
    pub async fn run<T>(
        self,
        stop: Option<watch::Receiver<bool>>,
        on_event: impl Fn(&MonitorEvent, &Dispatched),
        body: impl Future<Output = T>,
    ) -> Ran<T> {
        let Self {
            deployment,
            contacts,
            store,
            mut options,
            outbox,
            bounty_clock,
            metrics,
            metrics_listener,
            heartbeat,
            health,
        } = self;
        let once = options.once;
        let board = health.unwrap_or_default();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (halt_tx, halt_rx) = watch::channel(false);
        let outbox = outbox.map(|o| {
            let mut channels =
                ChannelWatch::new(store.clone(), contacts.clone(), &deployment.manifest)
                    .with_events(events_tx.downgrade())
                    .with_board(board.clone());
            let mut o = o;
            if let Some(m) = &metrics {
                channels = channels.with_metrics(m.clone());
                o = o.with_metrics(m.clone());
            }
            o.with_channel_watch(Arc::new(channels))
        });
        let sla = bounty_clock.then(|| {
            let sla =
                bounty_sla::SlaWatch::new(store.clone(), contacts.clone(), &deployment.manifest)
                    .with_events(events_tx.downgrade());
            match &metrics {
                Some(m) => sla.with_metrics(m.clone()),
                None => sla,
            }
        });
        let (services_stop_tx, services_stop_rx) = watch::channel(false);
        let mut services = tokio::task::JoinSet::new();
        if let (Some(m), Some(listener)) = (&metrics, metrics_listener) {
            let mut stop = services_stop_rx.clone();
            services.spawn(m.clone().serve(listener, async move {
                let _ = stop.wait_for(|s| *s).await;
            }));
        }
        // `[monitor] keep_*_days`: old records are pruned beside the followers, never in their way.
        if retention::wanted(&deployment.manifest.monitor) {
            services.spawn(retention::run(
                store.clone(),
                deployment.manifest.monitor.clone(),
                retention::EVERY,
                services_stop_rx.clone(),
            ));
        }
        let mut heartbeat_once = None;
        if let Some((hb, every)) = heartbeat {
            if once {
                heartbeat_once = Some(hb);
            } else {
                let mut stop = services_stop_rx.clone();
                services.spawn(hb.run(every, board.clone(), async move {
                    let _ = stop.wait_for(|s| *s).await;
                }));
            }
        }

        // The monitor stops when the caller says so, or when the work beside it is done.
        let mut outer = stop;
        let halt = halt_tx.clone();
        tokio::spawn(async move {
            if let Some(rx) = outer.as_mut() {
                let _ = rx.wait_for(|s| *s).await;
                let _ = halt.send(true);
            }
        });
        // `[ha]`: while the database is unreachable the chains are followed, and their alerts
        // answered, on this instance's local file; what earlier instances kept is written in.
        let ha = options.ha.clone();
        let offline = match &options.ha {
            Some(ha) => match offline::Offline::open(deployment, &store, ha) {
                Ok((o, owed)) => {
                    for id in owed {
                        if let Ok(Some(alert)) = store.alert(id) {
                            let _ = events_tx.send(MonitorEvent::Owed(alert));
                        }
                    }
                    Some(o)
                }
                Err(e) => {
                    tracing::error!(
                        "cannot open this instance's local file; with the database unreachable nothing will be followed: {e}"
                    );
                    None
                }
            },
            None => None,
        };
        let offline_events = offline.as_ref().map(|o| {
            let (fallback, rx) = o.fallback();
            options.fallback = Some(fallback);
            rx
        });
        options.events = Some(events_tx.clone());
        options.stop = Some(halt_rx.clone());
        options.metrics = metrics.clone();
        options.health = Some(board.clone());
        // With `once` the clocks are read after the chains, whose cursors the alerts are filed
        // at (the sender kept until then holds the dispatcher open for them).
        let sla_events = once.then(|| events_tx.clone());
        drop(events_tx);
        let following = monitor::run(deployment, options);
        let ended = halt_tx.clone();
        let following = async {
            let results = following_then_clock(following, sla, sla_events, halt_rx.clone()).await;
            let _ = ended.send(true);
            results
        };
        let mut dispatcher =
            Dispatcher::new(deployment, store.clone(), contacts.clone(), outbox.clone());
        if let Some(ha) = &ha {
            dispatcher = dispatcher.under_leases(ha.held.clone());
        }
        if let Some(m) = &metrics {
            dispatcher = dispatcher.with_metrics(m.clone());
        }
        let (outbox_stop_tx, mut outbox_stop_rx) = watch::channel(false);
        let delivering = async {
            if let Some(o) = outbox.clone() {
                o.run(async move {
                    let _ = outbox_stop_rx.wait_for(|s| *s).await;
                })
                .await;
            }
        };
        let dispatching = async {
            dispatcher.run(events_rx, on_event).await;
            // Every event is dispatched: what was queued last goes out before the end.
            let last = match &outbox {
                Some(o) => o.deliver_due().await.failures,
                None => Vec::new(),
            };
            let _ = outbox_stop_tx.send(true);
            last
        };
        // The work beside the monitor ends it; a monitor that ends first (`once`, a stop) ends
        // the work too.
        let mut halted = halt_rx.clone();
        let working = async {
            tokio::select! {
                out = body => {
                    let _ = halt_tx.send(true);
                    Some(out)
                }
                _ = halted.wait_for(|s| *s) => None,
            }
        };
        let answering = async {
            if let (Some(o), Some(rx)) = (&offline, offline_events) {
                o.answer(contacts.clone(), rx).await;
            }
        };
        let (chains, undelivered, (), out, ()) =
            tokio::join!(following, dispatching, delivering, working, answering);
        if let Some(o) = offline {
            o.close(&store);
        }
        let _ = services_stop_tx.send(true);
        while services.join_next().await.is_some() {}
        let ran = Ran {
            chains,
            undelivered,
            body: out,
        };
        if let Some(hb) = heartbeat_once
            && ran.ok()
            && board.healthy()
        {
            hb.beat().await;
        }
        ran
    }
}

/// Follows the chains; the bounty clock is read once after them (`once`: `events` holds the
/// dispatcher open until then), or watched for as long as some chain is followed.
async fn following_then_clock(
    following: impl Future<Output = Vec<(String, Result<ChainSummary, MonitorError>)>>,
    sla: Option<bounty_sla::SlaWatch>,
    events: Option<mpsc::UnboundedSender<MonitorEvent>>,
    halt: watch::Receiver<bool>,
) -> Vec<(String, Result<ChainSummary, MonitorError>)> {
    match (sla, events) {
        (Some(sla), Some(events)) => {
            let results = following.await;
            if let Err(e) = sla.pass(now_ms()) {
                tracing::warn!("cannot check the bounty reports' clocks: {e}");
            }
            drop(events);
            results
        }
        (Some(sla), None) => {
            let watching = sla.run(halt);
            tokio::pin!(following, watching);
            tokio::select! {
                results = &mut following => results,
                () = &mut watching => following.await,
            }
        }
        (None, events) => {
            let results = following.await;
            drop(events);
            results
        }
    }
}
