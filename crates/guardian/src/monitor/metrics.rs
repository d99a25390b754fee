//! Prometheus metrics of `guardian monitor` (`--metrics-addr`): blocks processed, head lag,
//! alerts raised and retracted, RPC errors, notification results, detection latency and the time
//! each stage of a block takes, served as `GET /metrics` in the text exposition format by a tiny
//! HTTP listener.

use std::{future::Future, time::Duration};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::alert::Alert;

/// A failure to build the metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A metric could not be defined or registered.
    #[error("cannot set up the monitor's metrics: {0}")]
    Prometheus(#[from] prometheus::Error),
}

/// A stage of a block's way from the node to its alerts' messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The block's logs (and, when a rule needs them, receipts and senders) read.
    FetchLogs,
    /// The fund-holding contracts' balances and debts read.
    ReadHoldings,
    /// Every rule evaluated.
    Rules,
    /// The block and its alerts committed.
    Store,
    /// An alert's messages queued for its contacts.
    Notify,
}

impl Stage {
    /// Every stage, in the order a block goes through them.
    pub const ALL: [Stage; 5] = [
        Stage::FetchLogs,
        Stage::ReadHoldings,
        Stage::Rules,
        Stage::Store,
        Stage::Notify,
    ];

    /// Its `stage` label.
    pub fn name(self) -> &'static str {
        match self {
            Stage::FetchLogs => "fetch_logs",
            Stage::ReadHoldings => "read_holdings",
            Stage::Rules => "rules",
            Stage::Store => "store",
            Stage::Notify => "notify",
        }
    }
}

/// The monitor's metrics; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    blocks: IntCounterVec,
    lag: IntGaugeVec,
    raised: IntCounterVec,
    retracted: IntCounterVec,
    rpc_errors: IntCounterVec,
    notifications: IntCounterVec,
    latency: HistogramVec,
    stages: HistogramVec,
    lease_epoch: IntGaugeVec,
    takeovers: IntCounterVec,
}

impl Metrics {
    /// Every metric, registered, at zero.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let blocks = counter(
            "guardian_monitor_blocks_processed_total",
            "Blocks processed, per chain (a block processed again after a reorganisation counts twice).",
            &["chain"],
        )?;
        let raised = counter(
            "guardian_monitor_alerts_raised_total",
            "Alerts raised (stored), by rule and severity.",
            &["rule", "severity"],
        )?;
        let retracted = counter(
            "guardian_monitor_alerts_retracted_total",
            "Alerts retracted because their block was orphaned, per chain.",
            &["chain"],
        )?;
        let rpc_errors = counter(
            "guardian_monitor_rpc_errors_total",
            "Failed reads of a chain (every endpoint of it failed), per chain.",
            &["chain"],
        )?;
        let notifications = counter(
            "guardian_notifications_total",
            "Notification attempts, per contact and channel, by result (delivered or failed).",
            &["contact", "channel", "result"],
        )?;
        let lag = IntGaugeVec::new(
            Opts::new(
                "guardian_monitor_head_lag_blocks",
                "Blocks between the chain's head and the last block processed, per chain.",
            ),
            &["chain"],
        )?;
        registry.register(Box::new(lag.clone()))?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "guardian_monitor_detection_latency_seconds",
                "From the moment the monitor learned of a block to its alerts stored, per chain.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["chain"],
        )?;
        registry.register(Box::new(latency.clone()))?;
        let stages = HistogramVec::new(
            HistogramOpts::new(
                "guardian_monitor_stage_seconds",
                "Time one block spends in each stage, per chain: fetch_logs (its logs, receipts \
                 and senders), read_holdings (balances and debts; side by side with fetch_logs), \
                 rules, store (the block and its alerts committed) and notify (an alert's \
                 messages queued).",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["chain", "stage"],
        )?;
        registry.register(Box::new(stages.clone()))?;
        let takeovers = counter(
            "guardian_ha_takeovers_total",
            "Chains this instance took from another holder (or from nobody after a lapse), per chain.",
            &["chain"],
        )?;
        let lease_epoch = IntGaugeVec::new(
            Opts::new(
                "guardian_ha_lease_epoch",
                "The epoch of the chain's lease while this instance holds it; 0 while it does not.",
            ),
            &["chain"],
        )?;
        registry.register(Box::new(lease_epoch.clone()))?;
        Ok(Self {
            registry,
            blocks,
            lag,
            raised,
            retracted,
            rpc_errors,
            notifications,
            latency,
            stages,
            lease_epoch,
            takeovers,
        })
    }

    /// A block of `chain` was processed; `learned` is how long ago the monitor learned of it
    /// (observed in the latency histogram when the block raised alerts).
    pub fn block_processed(&self, chain: &str, alerts: usize, learned: Duration) {
        self.blocks.with_label_values(&[chain]).inc();
        if alerts > 0 {
            self.latency
                .with_label_values(&[chain])
                .observe(learned.as_secs_f64());
        }
    }

    /// One block of `chain` (or, for `notify`, one alert) spent `took` in `stage`.
    pub fn stage(&self, chain: &str, stage: Stage, took: Duration) {
        self.stages
            .with_label_values(&[chain, stage.name()])
            .observe(took.as_secs_f64());
    }

    /// This instance holds `chain`'s lease at `epoch` (0: it does not); `takeover` when it took
    /// the chain from a lease that lapsed or was released.
    pub fn lease(&self, chain: &str, epoch: i64, takeover: bool) {
        self.lease_epoch.with_label_values(&[chain]).set(epoch);
        if takeover {
            self.takeovers.with_label_values(&[chain]).inc();
        }
    }

    /// The chain's head is `lag` blocks ahead of the last block processed.
    pub fn head_lag(&self, chain: &str, lag: u64) {
        self.lag
            .with_label_values(&[chain])
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    /// An alert was stored.
    pub fn alert_raised(&self, alert: &Alert) {
        self.raised
            .with_label_values(&[alert.found.rule.as_str(), alert.found.severity.as_str()])
            .inc();
    }

    /// Alerts of `chain` were retracted.
    pub fn alerts_retracted(&self, chain: &str, count: u64) {
        self.retracted.with_label_values(&[chain]).inc_by(count);
    }

    /// A read of `chain` failed.
    pub fn rpc_error(&self, chain: &str) {
        self.rpc_errors.with_label_values(&[chain]).inc();
    }

    /// A notification attempt to `contact` (over `channel`) ended.
    pub fn notification(&self, contact: &str, channel: &str, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        self.notifications
            .with_label_values(&[contact, channel, result])
            .inc();
    }

    /// Every metric in the text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("cannot encode the metrics: {e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Serves `GET /metrics` on `listener` until `shutdown` completes; any other path is 404.
    /// Each connection is answered once and closed.
    pub async fn serve(
        self: std::sync::Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let me = self.clone();
                        tokio::spawn(async move { me.answer(stream).await });
                    }
                    Err(e) => tracing::warn!("metrics listener: {e}"),
                },
            }
        }
    }

    async fn answer(&self, mut stream: TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        let read = async {
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .is_err()
        {
            return;
        }
        let line = String::from_utf8_lossy(&head);
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, body) = match (method, path.split('?').next().unwrap_or("")) {
            ("GET", "/metrics") => ("200 OK", self.render()),
            ("GET", _) => ("404 Not Found", "not found: try /metrics\n".to_string()),
            _ => ("405 Method Not Allowed", "only GET\n".to_string()),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

impl crate::notify::outbox::DeliveryObserver for Metrics {
    fn attempted(
        &self,
        contact: &str,
        channel: &str,
        attempt: crate::notify::outbox::Attempt<'_>,
    ) -> bool {
        self.notification(
            contact,
            channel,
            matches!(attempt, crate::notify::outbox::Attempt::Delivered),
        );
        false
    }
}
