//! `cargo run --release -p bench -- congestion`: the emergency pause through full blocks (guardian's
//! urgent pricing beside a script paying the node's suggested fees), and against a bot that
//! watches the pool and answers a pause at double its fees (public sending, and a private stand-in).

use std::{
    collections::BTreeSet,
    io::{Read as _, Write as _},
    net::TcpListener,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, TxHash, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use anyhow::{Context as _, bail};
use bindings::interfaces::IPausable;
use futures::StreamExt as _;
use guardian::{
    anvil::find_anvil,
    chain::{Signer, signer::process_env},
    config::{ContractKind, Manifest},
    deployment::Deployment,
    devnet::{Devnet, DevnetOptions, accounts},
    response::pause::{self, PauseReport, PauseRequest, Selection},
    secret::RpcUrl,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

mod attacker;
mod report;

use attacker::*;
use report::*;

/// The heading of this benchmark's section in docs/performance.md (everything from it to the end
/// is replaced on a re-run).
pub const SECTION: &str = "# Congestion: the pause through full blocks";
const GWEI: u128 = 1_000_000_000;
/// Dev accounts that keep blocks full, the bot's account and where transfers go.
const STUFFERS: [u32; 2] = [7, 8];
const BOT: u32 = 9;
const SINK: u32 = 6;
/// Transfers kept queued per stuffing account.
const QUEUED: u64 = 150;

/// `cargo run --release -p bench -- congestion`.
#[derive(Debug, clap::Args)]
pub struct CongestionArgs {
    /// Blocks the stuffing runs before the pause (the base fee climbs meanwhile).
    #[arg(long, default_value_t = 10)]
    climb: u64,
    /// Blocks after the start at which a pause that is not mined counts as lost.
    #[arg(long, default_value_t = 40)]
    give_up: u64,
    /// Attacker trials per sending method.
    #[arg(long, default_value_t = 5)]
    trials: u64,
    /// Only these load settings (index 0..3), comma separated; all by default.
    #[arg(long, value_delimiter = ',')]
    loads: Vec<usize>,
    /// The report whose congestion section is appended or replaced; `-` prints only.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
}

/// The stuffing transfers' fees, in gwei.
#[derive(Debug, Clone, Copy)]
struct Load {
    tip: u128,
    max: u128,
}

const LOADS: [Load; 4] = [
    Load { tip: 5, max: 500 },
    Load { tip: 20, max: 500 },
    Load { tip: 100, max: 500 },
    Load { tip: 20, max: 2000 },
];

/// One line of the congestion table.
struct Row {
    setting: String,
    method: &'static str,
    blocks: Option<u64>,
    fee: String,
    note: String,
}

/// One line of the attacker table.
struct Attack {
    method: &'static str,
    trials: u64,
    bot_first: u64,
    notes: Vec<String>,
}

/// A started devnet and how to reach it.
struct Net {
    devnet: Devnet,
    url: RpcUrl,
    read: DynProvider,
    dir: PathBuf,
}

impl CongestionArgs {
    /// Runs both measurements, prints the tables and writes the section.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let anvil = find_anvil(self.anvil.as_deref(), &process_env)?;
        let anvil_v = crate::anvil_version(&anvil);
        let started = Instant::now();
        let work = std::env::temp_dir().join(format!("guardian-congestion-{}", std::process::id()));
        let loads: Vec<usize> = if self.loads.is_empty() {
            (0..LOADS.len()).collect()
        } else {
            self.loads.clone()
        };
        let mut rows = Vec::new();
        let mut stopped = None;
        for (k, &i) in loads.iter().enumerate() {
            let load = *LOADS.get(i).context("--loads takes 0..3")?;
            for guardian in [true, false] {
                let dir = work.join(format!("load{k}-{guardian}"));
                match self.congested(&anvil, &dir, load, guardian).await {
                    Ok(row) => {
                        eprintln!("{}", row_line(&row));
                        rows.push(row);
                    }
                    Err(e) => {
                        eprintln!("congestion run failed: {e:#}");
                        stopped.get_or_insert(format!("{e:#}"));
                    }
                }
            }
        }
        let attacks = match self.attacker(&anvil, &work.join("attacker")).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("attacker runs failed: {e:#}");
                stopped.get_or_insert(format!("{e:#}"));
                Vec::new()
            }
        };
        let _ = std::fs::remove_dir_all(&work);
        let section = render(&self, &anvil_v, &rows, &attacks, started.elapsed(), stopped);
        println!("{section}");
        if self.out != Path::new("-") {
            let old = std::fs::read_to_string(&self.out).unwrap_or_default();
            let kept = old.find(SECTION).map_or(old.as_str(), |at| &old[..at]);
            let text = format!("{}\n\n{section}", kept.trim_end());
            std::fs::write(&self.out, text)
                .with_context(|| format!("cannot write {}", self.out.display()))?;
            eprintln!("wrote {}", self.out.display());
        }
        Ok(std::process::ExitCode::SUCCESS)
    }

    /// One fresh devnet with full blocks at `load`: guardian's `pause --all`, or the script.
    async fn congested(
        &self,
        anvil: &Path,
        dir: &Path,
        load: Load,
        guardian: bool,
    ) -> anyhow::Result<Row> {
        let setting = format!("tip {} / max {} gwei", load.tip, load.max);
        eprintln!(
            "[{setting}] {}: starting a devnet ...",
            if guardian { "guardian" } else { "script" }
        );
        let net = start(anvil, dir).await?;
        let raw = |m: &'static str, p: Value| net.read.raw_request::<_, Value>(m.into(), p);
        raw("evm_setBlockGasLimit", json!(["0x16e360"])).await?;
        raw("evm_setIntervalMining", json!([1])).await?;
        let stuffing = tokio::spawn(stuff(net.url.clone(), net.read.clone(), load));
        let from = net.read.get_block_number().await?;
        wait_head(&net.read, from + self.climb).await?;
        let base = net
            .read
            .get_block_by_number(Default::default())
            .await?
            .and_then(|b| b.header.base_fee_per_gas)
            .unwrap_or_default();
        let head = net.read.get_block_number().await?;
        let result = if guardian {
            self.guardian_pause(&net, head).await
        } else {
            self.script_pause(&net, head).await
        };
        stuffing.abort();
        net.devnet.stop().await;
        let (blocks, fee, mut note) = result?;
        note.insert_str(
            0,
            &format!("base fee at start {}; ", gwei(u128::from(base))),
        );
        Ok(Row {
            setting,
            method: if guardian {
                "guardian pause --all"
            } else {
                "script, node's suggested fees"
            },
            blocks,
            fee,
            note,
        })
    }

    /// `guardian pause --all` through the library; blocks from `head` to the last target paused.
    async fn guardian_pause(
        &self,
        net: &Net,
        head: u64,
    ) -> anyhow::Result<(Option<u64>, String, String)> {
        let manifest = net.dir.join("guardian.toml");
        net.devnet.manifest.write(&manifest, true)?;
        let (report, _) = run_pause(&manifest, true, &net.read, head + self.give_up).await?;
        let Some(report) = report else {
            let offered = pool_pauses(&net.read).await?;
            let fee = offered
                .first()
                .map_or("-".into(), |p| format!("offered max {}", gwei(p.max_fee)));
            return Ok((
                None,
                fee,
                format!("not paused within {} blocks", self.give_up),
            ));
        };
        let last = report.blocks.values().map(|(_, b)| *b).max();
        let hashes: BTreeSet<TxHash> = report.targets.iter().filter_map(|t| t.tx).collect();
        let fee = paid(&net.read, hashes.into_iter().collect()).await?;
        let note = if report.ok() {
            format!("{} tx", report.transactions)
        } else {
            "not every target paused".into()
        };
        Ok((last.map(|b| b.saturating_sub(head)), fee, note))
    }

    /// `pause()` to every pausable contract at the node's suggested fees, consecutive nonces,
    /// all at once; then waits.
    async fn script_pause(
        &self,
        net: &Net,
        head: u64,
    ) -> anyhow::Result<(Option<u64>, String, String)> {
        let pauser = Signer::dev_account("pauser", accounts::PAUSER)?;
        let wallet = ProviderBuilder::new()
            .wallet(EthereumWallet::from(pauser.key().clone()))
            .connect_http(net.url.expose().clone());
        let fees = wallet.estimate_eip1559_fees().await?;
        let nonce = wallet
            .get_transaction_count(pauser.address())
            .pending()
            .await?;
        let targets: Vec<Address> = net
            .devnet
            .manifest
            .contracts
            .iter()
            .filter(|c| c.kind.is_pausable())
            .map(|c| c.address)
            .collect();
        let sends = targets.iter().enumerate().map(|(i, to)| {
            let tx = TransactionRequest::default()
                .with_to(*to)
                .with_input(IPausable::pauseCall {}.abi_encode())
                .with_nonce(nonce + i as u64)
                .with_max_fee_per_gas(fees.max_fee_per_gas)
                .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
            let wallet = &wallet;
            async move { wallet.send_transaction(tx).await.map(|p| *p.tx_hash()) }
        });
        let hashes = futures::future::try_join_all(sends).await?;
        let mut last = None;
        while net.read.get_block_number().await? < head + self.give_up {
            let mut blocks = Vec::new();
            for h in &hashes {
                if let Some(r) = net.read.get_transaction_receipt(*h).await? {
                    blocks.push(r.block_number.unwrap_or_default());
                }
            }
            if blocks.len() == hashes.len() {
                last = blocks.into_iter().max();
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let offered = format!(
            "offered tip {} / max {}",
            gwei(fees.max_priority_fee_per_gas),
            gwei(fees.max_fee_per_gas)
        );
        match last {
            Some(b) => Ok((Some(b - head), paid(&net.read, hashes).await?, offered)),
            None => Ok((
                None,
                "-".into(),
                format!("{offered}; not paused within {} blocks", self.give_up),
            )),
        }
    }

    /// The bot against `pause --all`, public then through the private stand-in.
    async fn attacker(&self, anvil: &Path, dir: &Path) -> anyhow::Result<Vec<Attack>> {
        eprintln!("[attacker] starting a devnet ...");
        let net = start(anvil, dir).await?;
        let result = self.attacks(&net).await;
        net.devnet.stop().await;
        result
    }

    async fn attacks(&self, net: &Net) -> anyhow::Result<Vec<Attack>> {
        net.read
            .raw_request::<_, Value>("evm_setIntervalMining".into(), json!([1]))
            .await?;
        let builder = Builder::start(net.read.clone())?;
        let public = net.dir.join("public.toml");
        net.devnet.manifest.write(&public, true)?;
        let private = net.dir.join("private").join("guardian.toml");
        std::fs::create_dir_all(net.dir.join("private"))?;
        let mut m: Manifest = net.devnet.manifest.clone();
        for chain in m.chains.values_mut() {
            chain.private_send_urls = vec![builder.url.clone()];
            chain.private_only = true;
        }
        m.write(&private, true)?;
        let watched: Vec<Address> = net
            .devnet
            .manifest
            .contracts
            .iter()
            .filter(|c| {
                matches!(
                    c.kind,
                    ContractKind::PaymentEscrow | ContractKind::EmergencyBrake
                )
            })
            .map(|c| c.address)
            .collect();
        let mut out = Vec::new();
        for (method, manifest) in [
            ("public sending", &public),
            ("private_only, local builder stand-in", &private),
        ] {
            let mut row = Attack {
                method,
                trials: 0,
                bot_first: 0,
                notes: Vec::new(),
            };
            for k in 0..self.trials {
                let from = net.read.get_block_number().await?;
                wait_head(&net.read, from + 1).await?;
                tokio::time::sleep(Duration::from_millis(k * 1000 / self.trials)).await;
                let stop = Arc::new(AtomicBool::new(false));
                let bot = tokio::spawn(bot(
                    net.url.clone(),
                    net.read.clone(),
                    watched.clone(),
                    stop.clone(),
                ));
                let head = net.read.get_block_number().await?;
                let (report, _) = run_pause(manifest, true, &net.read, head + self.give_up).await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                stop.store(true, Ordering::Relaxed);
                let answer = bot.await.context("the bot panicked")??;
                let pause_at = match &report {
                    Some(r) => match r.targets.iter().find_map(|t| t.tx) {
                        Some(h) => position(&net.read, h).await?,
                        None => None,
                    },
                    None => None,
                };
                let bot_at = match answer {
                    Some(h) => {
                        let deadline = Instant::now() + Duration::from_secs(10);
                        loop {
                            if let Some(p) = position(&net.read, h).await? {
                                break Some(p);
                            }
                            if Instant::now() > deadline {
                                break None;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    None => None,
                };
                let first = match (pause_at, bot_at) {
                    (Some(p), Some(b)) => b < p,
                    (None, Some(_)) => true,
                    _ => false,
                };
                row.trials += 1;
                row.bot_first += u64::from(first);
                let line = format!(
                    "pause at {}, bot {}",
                    pause_at.map_or("not mined".into(), |(b, i)| format!("block {b} #{i}")),
                    match (answer, bot_at) {
                        (None, _) => "never saw it".into(),
                        (Some(_), None) => "answered, not mined".into(),
                        (Some(_), Some((b, i))) => format!("at block {b} #{i}"),
                    }
                );
                eprintln!("[attacker] {method} trial {}: {line}", k + 1);
                row.notes.push(line);
                run_pause(&public, false, &net.read, u64::MAX).await?;
            }
            out.push(row);
        }
        eprintln!(
            "[attacker] the builder stand-in took {} transaction(s)",
            builder.taken.load(Ordering::Relaxed)
        );
        Ok(out)
    }
}

/// Starts a devnet (automine, one copy of the suite) in `dir`.
async fn start(anvil: &Path, dir: &Path) -> anyhow::Result<Net> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let devnet = crate::start_devnet(&DevnetOptions {
        anvil: anvil.to_path_buf(),
        port: 0,
        block_time: None,
        chains: 1,
        copies: 1,
    })
    .await?;
    let url = crate::chain_url(&devnet.manifest, "local")?;
    let read = ProviderBuilder::new()
        .connect_http(url.expose().clone())
        .erased();
    Ok(Net {
        devnet,
        url,
        read,
        dir: dir.to_path_buf(),
    })
}

/// Pauses (or unpauses) everything through the library; `None` when `give_up` came first.
async fn run_pause(
    manifest: &Path,
    pause: bool,
    read: &DynProvider,
    give_up: u64,
) -> anyhow::Result<(Option<PauseReport>, Duration)> {
    let request = PauseRequest {
        pause,
        selection: Selection::All,
        chain: None,
        signer: None,
        dry_run: false,
        reason: Some("bench".into()),
        strict: false,
        allow_insolvent: false,
        outbid: None,
    };
    let no_env = |_: &str| None;
    let started = Instant::now();
    let deployment = Deployment::open(manifest, None, &no_env).await?;
    tokio::select! {
        r = pause::run(&deployment, &request, started, &|_| {}) => Ok((Some(r?), started.elapsed())),
        r = wait_head(read, give_up) => { r?; Ok((None, started.elapsed())) }
    }
}

/// Waits until the head reaches `n`.
async fn wait_head(read: &DynProvider, n: u64) -> anyhow::Result<()> {
    while read.get_block_number().await? < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Keeps every block full: each stuffing account keeps [`QUEUED`] transfers waiting.
async fn stuff(url: RpcUrl, read: DynProvider, load: Load) -> anyhow::Result<()> {
    let sink = guardian::devnet::dev_address(SINK)?;
    let mut senders = Vec::new();
    for i in STUFFERS {
        let s = Signer::dev_account("stuffer", i)?;
        let wallet = ProviderBuilder::new()
            .wallet(EthereumWallet::from(s.key().clone()))
            .connect_http(url.expose().clone());
        let next = read.get_transaction_count(s.address()).pending().await?;
        senders.push((s.address(), wallet, next));
    }
    let chain_id = read.get_chain_id().await?;
    loop {
        for (address, wallet, next) in &mut senders {
            let mined = read.get_transaction_count(*address).await?;
            let want = mined + QUEUED;
            let sends = (*next..want).map(|nonce| {
                let tx = TransactionRequest::default()
                    .with_from(*address)
                    .with_to(sink)
                    .with_nonce(nonce)
                    .with_chain_id(chain_id)
                    .with_gas_limit(21_000)
                    .with_max_fee_per_gas(load.max * GWEI)
                    .with_max_priority_fee_per_gas(load.tip * GWEI);
                let wallet = &*wallet;
                async move { wallet.send_transaction(tx).await.map(|_| ()) }
            });
            let sent: Vec<_> = futures::stream::iter(sends)
                .buffer_unordered(16)
                .collect()
                .await;
            for r in sent {
                r?;
            }
            *next = want.max(*next);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The effective gas price the mined `hashes` paid (a range when they differ).
async fn paid(read: &DynProvider, hashes: Vec<TxHash>) -> anyhow::Result<String> {
    let mut prices = Vec::new();
    for h in hashes {
        if let Some(r) = read.get_transaction_receipt(h).await? {
            prices.push(r.effective_gas_price);
        }
    }
    prices.sort_unstable();
    Ok(match (prices.first(), prices.last()) {
        (Some(a), Some(b)) if a == b => gwei_num(*a),
        (Some(a), Some(b)) => format!("{}–{}", gwei_num(*a), gwei_num(*b)),
        _ => "-".into(),
    })
}

fn gwei(wei: u128) -> String {
    guardian::chain::fees::gwei(wei)
}

fn gwei_num(wei: u128) -> String {
    format!("{:.1}", wei as f64 / GWEI as f64)
}
