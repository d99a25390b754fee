//! `guardian monitor`: follow every chain, store alerts, print them as they are raised.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;

use tokio::sync::watch;

use crate::{
    chain::signer::process_env,
    config::manifest_path,
    deployment::Deployment,
    incident::automatic::Responded,
    monitor::{self, MonitorEvent, MonitorOptions},
    notify::Contacts,
    output::{Table, print_json},
    response::pause::Outcome,
    service::{Service, dispatch::Dispatched},
};

/// Watch every contract of the manifest block by block: privileged events (role changes,
/// upgrades, pauses, withdrawals), escrows owing more than they hold and the manifest's
/// [[rules]] (rate, outflow, actor-burst, failed-share) raise alerts, stored in
/// guardian.db beside the manifest (`guardian alerts` lists them), sent to the [[contacts]]
/// through a retrying outbox, and answered by a rule's `respond` (pause the affected contracts,
/// or everything) through the same path as `guardian pause`. Resumes after the last block it
/// processed. Ctrl-C or SIGTERM finishes the block in hand and exits. The monitor watches
/// itself too: a head lag above [monitor] max_lag_blocks, a chain's endpoints failing 3 polls
/// in a row, or a contact failing 3 deliveries in a row (or giving one up) raise one
/// `monitor-health` warning per episode (a contact's goes to the other contacts; its next
/// delivery ends the episode); with [monitor] heartbeat_url_env, the URL in that variable gets a
/// GET every heartbeat_secs while every chain and contact is healthy (with --once: one GET after
/// a run that fully succeeded). A bug bounty report not acknowledged in time ([bounty]
/// ack_hours_critical, ack_hours_other) raises one `bounty-sla` alert (critical for a critical
/// report, else high), checked at start and every minute (with --once, after the chains).
/// With [monitor] keep_alerts_days or keep_delivered_days, older alerts (not those an incident
/// holds or an outbox message names) and delivered messages are deleted at start and hourly.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Start at this block, even if the monitor already went further. More than 64 blocks behind
    /// the head, the blocks up to the head are backfilled in large eth_getLogs ranges (narrowed
    /// when the endpoint refuses) while the head is followed at once; the backfill's rules keep
    /// windows of their own. A backfill reads holdings (of escrows and outflow targets) only
    /// where those contracts emitted an event and at range ends (a drain without events shows later, and an outflow
    /// spread between readings is not seen as one), and receipts only of blocks with suite
    /// events (failed transactions elsewhere are not counted). Its alerts deeper than [monitor]
    /// confirmations are stored final, notified, and never answered by a `respond` (history is
    /// not an attack in progress). Interrupted, a rerun with the same N resumes where it stopped
    /// and raises nothing twice.
    #[arg(long, value_name = "N")]
    from_block: Option<u64>,
    /// Process up to each chain's head, then exit (for cron jobs).
    #[arg(long)]
    once: bool,
    /// Also watch each chain's pending transactions (eth_subscribe newPendingTransactions over a
    /// ws(s):// endpoint, else txpool_content), simulate those that touch the suite
    /// (debug_traceCall with a call tracer, else eth_simulateV1) on the pending state, and run
    /// the outflow and privileged rules on their effect: alerts marked `pending`. An outflow
    /// rule with `respond` and `preempt = true` answers at once with a pause paying a higher
    /// priority fee and fee cap than the pending transaction (within [rpc] fee_cap_gwei), to be
    /// mined ahead of it. A failed or ambiguous simulation is never acted on. Chains whose node
    /// lacks the methods are named at start and followed block by block only.
    #[arg(long, conflicts_with = "once")]
    mempool: bool,
    /// Check instead of watching: the rules are built against the chains, and every contact is
    /// sent one test message now; exit 1 if anything fails.
    #[arg(long, conflicts_with_all = ["once", "from_block"])]
    check: bool,
    /// Serve Prometheus metrics (`GET /metrics`) on this address, e.g. 127.0.0.1:9464, while the
    /// monitor runs.
    #[arg(long, value_name = "ADDR", conflicts_with = "check")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Print alerts and the final summary as JSON lines.
    #[arg(long)]
    json: bool,
}

/// The manifest's `[ha]` as the monitor runs it; refused on SQLite, and with a one-instance
/// option (`single`: --once, --from-block, --mempool).
pub(super) fn ha_of(
    deployment: &Deployment,
    single: bool,
) -> anyhow::Result<Option<monitor::lease::Ha>> {
    let Some(h) = &deployment.manifest.ha else {
        return Ok(None);
    };
    if deployment.store.backend() == crate::storage::sql::Backend::Sqlite {
        anyhow::bail!(
            "[ha] needs the records in PostgreSQL ([storage] url, or GUARDIAN_DATABASE_URL): one SQLite file cannot be shared by several instances; remove [ha] to run one instance on SQLite"
        );
    }
    if single {
        anyhow::bail!(
            "[ha] instances keep running and resume from the stored cursors: --once, --from-block and --mempool are for one instance (run them without [ha])"
        );
    }
    Ok(Some(monitor::lease::Ha::new(
        h.instance.clone().unwrap_or_else(default_instance),
        h.lease_ms,
    )))
}

impl Args {
    /// Runs the monitor until stopped (or, with --once, up to the heads).
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let path = manifest_path(ctx.config.clone());
        let deployment = Deployment::open(&path, None, &process_env).await?;
        let rules = monitor::configured_rules(&deployment).await?;
        if self.check {
            return check(&deployment, rules.len(), self.json).await;
        }
        // The backfill's rules keep windows and baselines of their own, apart from the head's.
        let backfill_rules = match self.from_block {
            Some(_) => monitor::configured_rules(&deployment).await?,
            None => Default::default(),
        };
        let ha = ha_of(
            &deployment,
            self.once || self.from_block.is_some() || self.mempool,
        )?;
        if let Some(ha) = &ha {
            println!(
                "instance {}: following the chains whose lease it holds (lease {} ms)",
                ha.instance, ha.lease_ms
            );
        }
        let mempool = if self.mempool {
            monitor::preempt::plan(&deployment).await?
        } else {
            Vec::new()
        };
        report_mempool(&deployment, self.mempool, &mempool);
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let json = self.json;
        let contacts = Arc::new(Contacts::load(&deployment.manifest, &process_env));
        let metrics = Arc::new(monitor::metrics::Metrics::new()?);
        let listener = match self.metrics_addr {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot serve metrics on {addr}"))?;
                tracing::info!("metrics on http://{addr}/metrics");
                Some(listener)
            }
            None => None,
        };
        let mut service = Service::new(&deployment, contacts)
            .await?
            .monitor(MonitorOptions {
                rules,
                backfill_rules,
                from_block: self.from_block,
                once: self.once,
                mempool,
                ha,
                ..MonitorOptions::default()
            })
            .delivering()?
            .bounty_clock()
            .metrics(metrics, listener);
        let monitor_config = &deployment.manifest.monitor;
        if let Some(var) = &monitor_config.heartbeat_url_env {
            let every = std::time::Duration::from_secs(monitor_config.heartbeat_secs);
            match process_env(var) {
                Some(url) => {
                    if let Some(hb) =
                        monitor::health::Heartbeat::new(url, every.min(HEARTBEAT_TIMEOUT))
                    {
                        service = service.heartbeat(hb, every);
                    }
                }
                None => tracing::warn!(
                    "[monitor] heartbeat_url_env names `{var}`, which is not set: no heartbeat"
                ),
            }
        }
        let ran = service
            .run(
                Some(stop_rx),
                |event, done| print_event(event, done, json),
                std::future::pending::<()>(),
            )
            .await;
        for f in &ran.undelivered {
            eprintln!("warning: notification not delivered yet (retried on the next run): {f:?}");
        }
        let ok = ran.ok();
        let results = ran.chains;
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|(chain, r)| match r {
                Ok(s) => serde_json::json!({"chain": chain, "ok": true, "summary": s}),
                Err(e) => serde_json::json!({"chain": chain, "ok": false, "error": e.to_string()}),
            })
            .collect();
        if json {
            print_json(&rows);
        } else {
            let mut t = Table::new(["CHAIN", "BLOCKS", "CURSOR", "RAISED", "RETRACTED", "REORGS"]);
            for (chain, r) in &results {
                match r {
                    Ok(s) => t.row(vec![
                        chain.clone(),
                        s.blocks.to_string(),
                        s.cursor.map_or_else(|| "-".into(), |c| c.to_string()),
                        s.raised.to_string(),
                        s.retracted.to_string(),
                        s.reorgs.to_string(),
                    ]),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            if !t.is_empty() {
                println!("{t}");
            }
            for (chain, r) in &results {
                if let Ok(s) = r
                    && s.backfilled_blocks > 0
                {
                    println!(
                        "{chain}: backfilled {} blocks ({} events)",
                        s.backfilled_blocks, s.backfilled_events
                    );
                }
            }
        }
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn print_event(event: &MonitorEvent, done: &Dispatched, json: bool) {
    if json {
        let line = match event {
            MonitorEvent::Raised(a) | MonitorEvent::Owed(a) => {
                serde_json::json!({"event": "raised", "alert": a, "dispatched": done})
            }
            MonitorEvent::Retracted(a) => {
                serde_json::json!({"event": "retracted", "alert": a, "dispatched": done})
            }
        };
        println!("{line}");
        return;
    }
    let (verb, a) = match event {
        MonitorEvent::Raised(a) | MonitorEvent::Owed(a) => ("ALERT", a),
        MonitorEvent::Retracted(a) => ("RETRACTED", a),
    };
    println!(
        "{verb} {} [{} → level {}] {} block {}: {} (told {} contact(s))",
        a.id,
        a.found.severity,
        a.found.severity.level(),
        a.found.rule,
        a.found.block_number,
        a.found.summary,
        done.notified,
    );
    match &done.response {
        Some(Ok(
            r @ Responded::Incident {
                incident,
                opened,
                level,
                ..
            },
        )) => println!(
            "  automatic response: incident {incident} {} at level {level}; {}",
            if *opened { "opened" } else { "joined" },
            match r.pause() {
                Some(report) => format!(
                    "{} target(s) paused, {} failed (action {})",
                    report
                        .targets
                        .iter()
                        .filter(|t| t.paused == Some(true))
                        .count(),
                    report
                        .targets
                        .iter()
                        .filter(|t| t.outcome == Outcome::Failed)
                        .count(),
                    report.action_id
                ),
                None => "nothing paused".to_string(),
            }
        ),
        Some(Ok(other)) => println!("  automatic response: {other:?}"),
        Some(Err(e)) => println!("  automatic response FAILED: {e}"),
        None => {}
    }
}

/// `monitor --check`: what would be watched, and one test message to every contact.
async fn check(deployment: &Deployment, engines: usize, json: bool) -> anyhow::Result<ExitCode> {
    let contacts = Contacts::load(&deployment.manifest, &process_env);
    let mut results = Vec::new();
    for contact in contacts.iter() {
        let outcome = match contact.problem() {
            Some(problem) => Err(problem.to_string()),
            None => crate::notify::send_test(contact)
                .await
                .map_err(|e| e.to_string()),
        };
        results.push((contact.name().to_string(), outcome));
    }
    let unreachable: Vec<String> = deployment
        .unreachable
        .iter()
        .map(|(chain, e)| format!("{chain}: {e}"))
        .collect();
    let ok = unreachable.is_empty() && results.iter().all(|(_, r)| r.is_ok());
    if json {
        print_json(&serde_json::json!({
            "ok": ok,
            "chains": deployment.clients.keys().collect::<Vec<_>>(),
            "unreachable": unreachable,
            "rules": deployment.manifest.rules.len(),
            "rule_engines": engines,
            "contacts": results.iter().map(|(name, r)| serde_json::json!({
                "contact": name,
                "ok": r.is_ok(),
                "delivery": r.as_ref().ok(),
                "error": r.as_ref().err(),
            })).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "chains: {} reachable{}; rules: {} configured (+ privileged, insolvent, monitor-health built in)",
            deployment.clients.len(),
            if unreachable.is_empty() {
                String::new()
            } else {
                format!(", UNREACHABLE: {}", unreachable.join("; "))
            },
            deployment.manifest.rules.len()
        );
        let mut t = Table::new(["CONTACT", "TEST MESSAGE"]);
        for (name, r) in &results {
            t.row(vec![
                name.clone(),
                match r {
                    Ok(id) => format!("delivered ({id})"),
                    Err(e) => format!("FAILED: {e}"),
                },
            ]);
        }
        if results.is_empty() {
            println!("no [[contacts]]: alerts are stored and listed by `guardian alerts` only");
        } else {
            println!("{t}");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The longest a heartbeat call may take.
const HEARTBEAT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Ctrl-C, or SIGTERM where there is one.
pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Says at start, on stderr, which chains' mempools are watched and how, which are not and why,
/// and which `preempt = true` rules cannot pre-empt for that.
fn report_mempool(deployment: &Deployment, asked: bool, plans: &[monitor::preempt::Plan]) {
    for p in plans {
        let c = &p.capabilities;
        if c.usable() {
            eprintln!(
                "mempool of {}: watched ({:?}), pending transactions simulated with {:?}",
                p.chain, c.source, c.simulator
            );
        } else {
            eprintln!(
                "mempool of {}: NOT watched ({}); this chain is followed block by block only",
                p.chain,
                c.missing.join("; ")
            );
        }
    }
    for rule in deployment.manifest.rules.iter().filter(|r| r.preempt) {
        let chains: Vec<&str> = rule
            .targets(&deployment.manifest)
            .iter()
            .map(|c| c.chain())
            .filter(|chain| {
                !asked
                    || !plans
                        .iter()
                        .any(|p| p.chain == *chain && p.capabilities.usable())
            })
            .collect();
        if !chains.is_empty() {
            eprintln!(
                "warning: rule `{}` has preempt = true but the mempool of {} is not watched{}: it answers mined blocks only there",
                rule.name(),
                chains.join(", "),
                if asked { "" } else { " (run with --mempool)" }
            );
        }
    }
}

/// This instance's name in the leases when `[ha] instance` is not set: the host's name and the
/// process id.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}:{}", std::process::id())
}
