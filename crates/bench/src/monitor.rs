//! `cargo run --release -p bench -- monitor`: detection latency of `guardian monitor`, from a
//! block being available at the node (its `evm_mine` answered) to the alert stored and to the
//! signed webhook delivered, over many triggering blocks, on WebSocket and on polling, with the
//! records in SQLite and (WebSocket) in PostgreSQL.

#[path = "../../guardian/tests/it/support/postgres.rs"]
pub(crate) mod pg;
pub mod takeover;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::providers::Provider;
use anyhow::Context as _;
use guardian::{
    chain::{ChainClient, Signer, signer::process_env},
    config::RpcSettings,
    deployment::{Deployment, store_location},
    devnet::{Devnet, DevnetOptions, accounts},
    monitor::{self, MonitorEvent, MonitorOptions},
    notify::{Contacts, Outbox},
    service::dispatch::Dispatcher,
    storage::Store,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::{mpsc, watch},
};

/// The heading of the monitor's section in docs/performance.md.
pub const SECTION: &str = "## Monitor: detection latency";

/// `cargo run --release -p bench -- monitor`.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// Triggering blocks per mode (each carries one privileged event, so each raises an alert).
    #[arg(long, default_value_t = 200)]
    blocks: usize,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// The report whose monitor section is replaced; `-` prints the table only.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
}

/// Arrival instants of webhook deliveries, by the alert's block number.
type Arrivals = Arc<Mutex<BTreeMap<u64, Instant>>>;

/// A local webhook receiver: answers 200 and notes when each alert's delivery arrived.
pub(crate) async fn webhook_sink() -> anyhow::Result<(String, Arrivals)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() < head_end + 4 + length {
                        continue;
                    }
                    let at = Instant::now();
                    let body: serde_json::Value =
                        serde_json::from_slice(&buf[head_end + 4..head_end + 4 + length])
                            .unwrap_or_default();
                    if let (Some(block), Ok(mut map)) =
                        (body["alert"]["block_number"].as_u64(), seen.lock())
                    {
                        map.entry(block).or_insert(at);
                    }
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    buf.clear();
                }
            });
        }
    });
    Ok((url, arrivals))
}

/// Latencies of one mode, in milliseconds.
struct ModeResult {
    mode: &'static str,
    records: &'static str,
    stored: Vec<f64>,
    delivered: Vec<f64>,
}

/// The `p`-th percentile of `sorted` (nearest rank); NaN when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

impl MonitorArgs {
    /// Runs both modes and prints the table.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let anvil = guardian::anvil::find_anvil(self.anvil.as_deref(), &|n| std::env::var(n).ok())?;
        let mut results = Vec::new();
        for (mode, postgres) in [
            ("websocket", false),
            ("polling (200 ms)", false),
            ("websocket", true),
        ] {
            results.push(self.measure(&anvil, mode, postgres).await?);
        }
        let mut table = String::from(
            "| mode | records in | blocks | alert stored p50 | p99 | max | webhook delivered p50 | p99 | max |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &results {
            let mut s = r.stored.clone();
            let mut d = r.delivered.clone();
            s.sort_by(f64::total_cmp);
            d.sort_by(f64::total_cmp);
            table.push_str(&format!(
                "| {} | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |\n",
                r.mode,
                r.records,
                s.len(),
                percentile(&s, 50.0),
                percentile(&s, 99.0),
                s.last().copied().unwrap_or(f64::NAN),
                percentile(&d, 50.0),
                percentile(&d, 99.0),
                d.last().copied().unwrap_or(f64::NAN),
            ));
        }
        println!("{table}");
        if self.out != std::path::Path::new("-") {
            let old = std::fs::read_to_string(&self.out).unwrap_or_default();
            let args: Vec<String> = std::env::args().skip(1).collect();
            let section = format!(
                "{SECTION}\n\nGenerated by `cargo run --release -p bench -- {}`; do not edit by hand.\n\n\
                 One anvil chain mined by hand (automine off); each block carries one privileged event (the\n\
                 pauser toggling the registry's pause), so each raises one alert, delivered to a local\n\
                 signed-webhook receiver. Latency is measured from `evm_mine` answering (the block exists at\n\
                 the node) to the alert stored in SQLite or PostgreSQL (the monitor's commit of the\n\
                 block) and to the webhook request received. The next block is mined only after both, so\n\
                 every figure is one alert's own, not a queue's. *Records in* names the store: SQLite is\n\
                 `guardian.db` beside the manifest; PostgreSQL is a fresh database on a throwaway local\n\
                 server (`[storage] url`, password authentication over TCP on 127.0.0.1; `fsync`,\n\
                 `synchronous_commit` and `full_page_writes` turned back on, so each commit reaches the\n\
                 disk as SQLite's does), used by the monitor, the dispatcher and the outbox alike. The\n\
                 first two rows are WebSocket and polling on SQLite; the third is the first row's\n\
                 WebSocket mode with the records in PostgreSQL. Targets on WebSocket: stored < 200 ms\n\
                 p99, delivered < 300 ms p99; on polling the interval adds to both (here almost all of\n\
                 it: the next block is mined right after an alert, that is right after a poll, so it\n\
                 waits nearly a whole interval: the worst case).\n\n{table}",
                args.join(" ")
            );
            std::fs::write(
                &self.out,
                crate::bench::replace_section(&old, SECTION, &section),
            )
            .with_context(|| format!("cannot write {}", self.out.display()))?;
            eprintln!("wrote {}", self.out.display());
        }
        Ok(std::process::ExitCode::SUCCESS)
    }

    async fn measure(
        &self,
        anvil: &std::path::Path,
        mode: &'static str,
        postgres: bool,
    ) -> anyhow::Result<ModeResult> {
        let records = if postgres { "PostgreSQL" } else { "SQLite" };
        let devnet = Devnet::start(
            &DevnetOptions {
                anvil: anvil.to_path_buf(),
                port: 0,
                block_time: None,
                chains: 1,
                copies: 1,
            },
            None,
        )
        .await?;
        let (hook, arrivals) = webhook_sink().await?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("guardian.toml");
        let mut manifest = devnet.manifest.clone();
        let http = devnet.anvils[0].url.clone();
        if mode.starts_with("websocket") {
            let ws = http.expose().as_str().replacen("http://", "ws://", 1);
            for chain in manifest.chains.values_mut() {
                chain.rpc_urls = vec![ws.parse().map_err(anyhow::Error::msg)?];
            }
        }
        manifest.write(&path, true)?;
        let mut text = std::fs::read_to_string(&path)?;
        if postgres {
            let cluster = pg::cluster();
            durable(cluster)?;
            let url = cluster.fresh_database();
            let database = url.rsplit('/').next().context("database name")?;
            text.push_str(&format!(
                "\n[storage]\nurl = \"postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{}/{database}\"\n",
                cluster.port
            ));
        }
        text.push_str(&format!(
            "\n[[contacts]]\nname = \"bench-hook\"\nchannel = \"webhook\"\nurl = \"{hook}\"\nsecret_env = \"BENCH_HOOK_KEY\"\n"
        ));
        std::fs::write(&path, text)?;
        let env = |name: &str| match name {
            "BENCH_HOOK_KEY" => Some("bench-hmac-key".to_string()),
            "PG_PASSWORD" => Some(pg::PASSWORD.to_string()),
            _ => process_env(name),
        };
        let deployment = Deployment::open(&path, None, &env).await?;
        let store = Arc::new(Store::open_at(&store_location(
            &path,
            Some(&deployment.manifest),
            &env,
        ))?);
        let contacts = Arc::new(Contacts::load(&deployment.manifest, &env));
        let outbox = Outbox::new(store.clone(), contacts.clone())?
            .with_poll_interval(Duration::from_millis(50));
        let dispatcher = Dispatcher::new(&deployment, store, contacts, Some(outbox.clone()));

        // The driver: the pauser toggles pause on the registry, one transaction per block,
        // mined by hand so the moment the block exists is known.
        let client = ChainClient::connect(
            "bench",
            std::slice::from_ref(&http),
            None,
            &RpcSettings::default(),
        )
        .await?;
        let provider = client.provider().clone();
        let _: serde_json::Value = provider
            .raw_request("evm_setAutomine".into(), (false,))
            .await?;
        let pauser = Signer::dev_account("pauser", accounts::PAUSER)?;
        let registry = deployment
            .manifest
            .contracts
            .iter()
            .find(|c| c.kind == guardian::config::ContractKind::DocumentRegistry)
            .context("no registry")?
            .address;
        let wallet_provider = alloy::providers::ProviderBuilder::new()
            .wallet(alloy::network::EthereumWallet::from(pauser.key().clone()))
            .connect_http(http.expose().clone());
        let registry = bindings::interfaces::IPausable::new(registry, wallet_provider);

        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<MonitorEvent>();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (outbox_stop_tx, mut outbox_stop_rx) = watch::channel(false);
        let stored: Arc<Mutex<BTreeMap<u64, Instant>>> = Arc::default();
        let (fwd_tx, fwd_rx) = mpsc::unbounded_channel();
        let stored_in = stored.clone();
        let forward = async move {
            while let Some(event) = events_rx.recv().await {
                if let (MonitorEvent::Raised(a), Ok(mut m)) = (&event, stored_in.lock()) {
                    m.entry(a.found.block_number).or_insert_with(Instant::now);
                }
                let _ = fwd_tx.send(event);
            }
        };
        let mined: Arc<Mutex<BTreeMap<u64, Instant>>> = Arc::default();
        let mined_in = mined.clone();
        let stored_seen = stored.clone();
        let arrivals_seen = arrivals.clone();
        let blocks = self.blocks;
        let drive = async move {
            // Let the monitor reach the head first.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            for i in 0..blocks {
                let sent = if i % 2 == 0 {
                    registry.pause().send().await
                } else {
                    registry.unpause().send().await
                };
                let pending = sent.context("send")?;
                let _: String = provider.raw_request("evm_mine".into(), ()).await?;
                let at = Instant::now();
                let receipt = pending.get_receipt().await.context("receipt")?;
                if let Some(n) = receipt.block_number {
                    mined_in
                        .lock()
                        .map_err(|_| anyhow::anyhow!("lock"))?
                        .insert(n, at);
                }
                // One block at a time: the next is mined once this one's alert is stored and
                // delivered, so each latency is the alert's own, not a queue's.
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    let has = |m: &Arc<Mutex<BTreeMap<u64, Instant>>>| {
                        m.lock()
                            .map(|m| receipt.block_number.is_some_and(|n| m.contains_key(&n)))
                            .unwrap_or(false)
                    };
                    let done = has(&stored_seen) && has(&arrivals_seen);
                    if done {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let _ = stop_tx.send(true);
            Ok::<_, anyhow::Error>(())
        };
        let following = monitor::run(
            &deployment,
            MonitorOptions {
                events: Some(events_tx),
                stop: Some(stop_rx),
                rules: BTreeMap::new(),
                from_block: None,
                once: false,
                ..MonitorOptions::default()
            },
        );
        let delivering = outbox.clone().run(async move {
            let _ = outbox_stop_rx.wait_for(|s| *s).await;
        });
        let dispatching = dispatcher.run(fwd_rx, |_, _| {});
        let (_, _, driven, (), ()) = tokio::join!(following, forward, drive, delivering, async {
            dispatching.await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = outbox_stop_tx.send(true);
        });
        driven?;

        let mined = mined.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
        let stored = stored_latencies(&mined, &stored)?;
        let arrivals = arrivals
            .lock()
            .map_err(|_| anyhow::anyhow!("lock"))?
            .clone();
        let delivered = mined
            .iter()
            .filter_map(|(n, t0)| {
                arrivals
                    .get(n)
                    .map(|t| t.duration_since(*t0).as_secs_f64() * 1e3)
            })
            .collect();
        eprintln!("{mode}, {records}: {} blocks mined", mined.len());
        Ok(ModeResult {
            mode,
            records,
            stored,
            delivered,
        })
    }
}

/// The test server trades durability for speed (`fsync`, `synchronous_commit` and
/// `full_page_writes` off); measured here, each commit flushes to disk as SQLite's does (WAL,
/// `synchronous` at its default, FULL).
fn durable(cluster: &pg::Cluster) -> anyhow::Result<()> {
    for sql in [
        "ALTER SYSTEM SET fsync = on",
        "ALTER SYSTEM SET synchronous_commit = on",
        "ALTER SYSTEM SET full_page_writes = on",
        "SELECT pg_reload_conf()",
    ] {
        cluster.admin(sql).map_err(anyhow::Error::msg)?;
    }
    // The reload is a signal: new sessions see it a moment later.
    for _ in 0..50 {
        if cluster.admin("SHOW fsync").map_err(anyhow::Error::msg)? == "on" {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("PostgreSQL did not turn fsync on")
}

fn stored_latencies(
    mined: &BTreeMap<u64, Instant>,
    stored: &Arc<Mutex<BTreeMap<u64, Instant>>>,
) -> anyhow::Result<Vec<f64>> {
    let stored = stored.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    Ok(mined
        .iter()
        .filter_map(|(n, t0)| {
            stored
                .get(n)
                .map(|t| t.duration_since(*t0).as_secs_f64() * 1e3)
        })
        .collect())
}
