//! Running one cell: its chains and monitor made ready, the load sent, the probes read over the
//! measured window, and what they read turned into a [`Measured`].

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::providers::{Provider, ProviderBuilder};
use tokio::sync::watch;

use super::{
    Cell, load,
    measured::{Measured, SoakSample, Usage},
    probe, setup,
};

/// What every cell shares: the binaries and the webhook sink.
pub(super) struct Context {
    anvil: PathBuf,
    guardian: PathBuf,
    hook: String,
}

impl Context {
    pub(super) async fn new(anvil: Option<&Path>) -> anyhow::Result<Self> {
        let guardian = std::env::current_exe()?.with_file_name("guardian");
        anyhow::ensure!(
            guardian.is_file(),
            "{} is missing: this bench runs the real binary; build it first with `cargo build --release -p guardian`",
            guardian.display()
        );
        let anvil = guardian::anvil::find_anvil(anvil, &|n| std::env::var(n).ok())?;
        let (hook, _) = crate::monitor::webhook_sink().await?;
        Ok(Self {
            anvil,
            guardian,
            hook,
        })
    }

    /// Runs `cell` for `window` once the monitor follows every chain; with `every`, samples the
    /// monitor's memory, descriptors, database and outbox that often.
    pub(super) async fn run(
        &self,
        cell: Cell,
        window: Duration,
        every: Option<Duration>,
    ) -> anyhow::Result<Measured> {
        eprintln!(
            "cell {}x{}x{}: deploying ...",
            cell.chains, cell.contracts, cell.events
        );
        let prepared = setup::prepare(&self.anvil, &self.guardian, cell, &self.hook).await?;
        let measured = self.measure(&prepared, cell, window, every).await;
        prepared.stop().await;
        measured
    }

    async fn measure(
        &self,
        p: &setup::Prepared,
        cell: Cell,
        window: Duration,
        every: Option<Duration>,
    ) -> anyhow::Result<Measured> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let seen: probe::Seen = Arc::default();
        let watching = tokio::spawn(probe::watch_alerts(
            p.db(),
            Duration::from_millis(5),
            seen.clone(),
            stop_rx.clone(),
        ));
        let arrived: load::Arrived = Arc::default();
        let mut loads = Vec::new();
        let mut urls = Vec::new();
        for l in &p.loads {
            urls.push((l.chain_id, l.http.clone(), l.events.div_ceil(load::PER_TX)));
        }
        for l in p.loads.iter().cloned() {
            loads.push(tokio::spawn(l.run(arrived.clone(), stop_rx.clone())));
        }
        let http = reqwest::Client::new();
        let monitor_pid = p.monitor.id();
        // The monitor follows every chain once each has a processed block.
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let text = probe::scrape(&http, &p.metrics_addr)
                .await
                .unwrap_or_default();
            let following = probe::samples(&text, "guardian_monitor_blocks_processed_total")
                .iter()
                .filter(|(_, v)| *v > 0.0)
                .count();
            if following >= cell.chains as usize {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the monitor did not follow every chain within 180 s; its log is in {}",
                p.dir.path().join("monitor.log").display()
            );
            anyhow::ensure!(
                probe::read_proc(monitor_pid).is_some(),
                "the monitor exited; its log is in {}",
                p.dir.path().join("monitor.log").display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;

        let me = std::process::id();
        let anvils = p.anvil_pids();
        let heads = |arrived: &load::Arrived| -> BTreeMap<u64, u64> {
            let mut out = BTreeMap::new();
            for (chain, n) in arrived
                .lock()
                .map(|m| m.keys().copied().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let e = out.entry(chain).or_insert(n);
                *e = (*e).max(n);
            }
            out
        };
        let first = heads(&arrived);
        let text0 = probe::scrape(&http, &p.metrics_addr)
            .await
            .unwrap_or_default();
        let started = Instant::now();
        let cpu0 = (
            probe::read_all(&[monitor_pid]),
            probe::read_all(&[me]),
            probe::read_all(&anvils),
        );
        let mut rss = (0f64, 0f64, 0f64);
        let mut behind = 0f64;
        let mut samples = Vec::new();
        let mut next_sample = every.map(|e| started + e);
        while started.elapsed() < window {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let text = probe::scrape(&http, &p.metrics_addr)
                .await
                .unwrap_or_default();
            let lag = probe::max_lag(&text).unwrap_or(0.0);
            behind = behind.max(lag);
            let m = probe::read_all(&[monitor_pid]);
            rss.0 = rss.0.max(m.rss_mib);
            rss.1 = rss.1.max(probe::read_all(&[me]).rss_mib);
            rss.2 = rss.2.max(probe::read_all(&anvils).rss_mib);
            if let (Some(at), Some(e)) = (next_sample, every)
                && Instant::now() >= at
            {
                let s = SoakSample {
                    minute: (started.elapsed().as_secs_f64() / 60.0).round() as u64,
                    rss_mib: m.rss_mib,
                    fds: probe::open_fds(monitor_pid).unwrap_or(0),
                    db_mib: probe::db_size_mib(&p.db()),
                    outbox: probe::outbox_depth(&p.db()).unwrap_or(-1),
                    behind: lag,
                };
                eprintln!("{s:?}");
                samples.push(s);
                next_sample = Some(at + e);
            }
        }
        let took = started.elapsed().as_secs_f64();
        let cpu1 = (
            probe::read_all(&[monitor_pid]),
            probe::read_all(&[me]),
            probe::read_all(&anvils),
        );
        let text1 = probe::scrape(&http, &p.metrics_addr)
            .await
            .unwrap_or_default();
        let last = heads(&arrived);
        let _ = stop_tx.send(true);
        for l in loads {
            if let Ok(Err(e)) = l.await {
                eprintln!("load: {e:#}");
            }
        }
        // The last blocks' alerts have a moment to be stored.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let _ = watching.await;

        let (seen, arrived) = (
            seen.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone(),
            arrived.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone(),
        );
        let mut stored = Vec::new();
        let mut missing = 0;
        let mut blocks = 0;
        let mut full = 0;
        for (chain_id, url, load_txs) in &urls {
            let (Some(from), Some(to)) = (first.get(chain_id), last.get(chain_id)) else {
                continue;
            };
            let provider = ProviderBuilder::new().connect_http(url.expose().clone());
            // Blocks after the first seen: their toggles were sent once the window began.
            for n in from + 1..=*to {
                blocks += 1;
                match (arrived.get(&(*chain_id, n)), seen.get(&(*chain_id, n))) {
                    (Some(a), Some(s)) => {
                        stored.push(s.saturating_duration_since(*a).as_secs_f64() * 1e3)
                    }
                    _ => missing += 1,
                }
                let txs = provider
                    .get_block_by_number(n.into())
                    .await?
                    .map_or(0, |b| b.transactions.len() as u64);
                if txs > *load_txs {
                    full += 1;
                }
            }
        }
        let chain_blocks = last
            .iter()
            .map(|(c, n)| n.saturating_sub(*first.get(c).unwrap_or(n)))
            .sum::<u64>()
            .max(1) as f64
            / f64::from(cell.chains);
        let cores = |a: probe::ProcReading, b: probe::ProcReading| (b.cpu_secs - a.cpu_secs) / took;
        let totals0 = probe::stage_totals(&text0);
        let stages = probe::stage_totals(&text1)
            .into_iter()
            .map(|(stage, (sum, count))| {
                let (s0, c0) = totals0.get(&stage).copied().unwrap_or_default();
                let n = (count - c0).max(1.0);
                (stage, (sum - s0) / n * 1e3)
            })
            .collect();
        Ok(Measured {
            cell,
            stored,
            missing,
            blocks,
            behind,
            full: if blocks == 0 {
                0.0
            } else {
                f64::from(full) / blocks as f64
            },
            block_secs: took / chain_blocks,
            monitor: Usage {
                cores: cores(cpu0.0, cpu1.0),
                rss_mib: rss.0,
            },
            generator: Usage {
                cores: cores(cpu0.1, cpu1.1),
                rss_mib: rss.1,
            },
            anvils: Usage {
                cores: cores(cpu0.2, cpu1.2),
                rss_mib: rss.2,
            },
            stages,
            samples,
        })
    }
}
