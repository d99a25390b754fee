//! `cargo run --release -p bench -- preempt`: the pre-emptive pause against the drill's exploit,
//! alone, many times. One devnet with 1 s blocks, the monitor in-process watching its mempool with
//! a `preempt = true` outflow rule; per trial the exploit's first transaction is sent at an offset
//! spread evenly over the block interval, and the bench records whether the pause was mined ahead
//! of it in the same block, what was lost, and how long the monitor took from first seeing the
//! pending transaction to broadcasting the pause.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, TxHash, U256, keccak256, utils::parse_ether},
    providers::Provider,
};
use anyhow::{Context as _, bail};
use bindings::{PaymentEscrow, drill::PaymentEscrowBuggy, interfaces::IPausable};
use guardian::{
    alert::AlertStatus,
    chain::signer::process_env,
    config::ContractKind,
    demo::{ATTACK_DEPOSIT_ETH, Scene},
    deployment::{Deployment, db_path},
    devnet::{Devnet, DevnetOptions},
    monitor::{self, MonitorEvent, MonitorOptions},
    notify::Contacts,
    response::{
        pause::{PauseRequest, Selection},
        upgrade::{self, Implementation, UpgradeRequest},
    },
    service::dispatch::Dispatcher,
    storage::Store,
};
use tokio::sync::{mpsc, watch};

mod report;

/// The heading of this benchmark's section in docs/performance.md.
pub const SECTION: &str = "## Pre-emptive pause (mempool)";

/// The drill's victims, their merchant and the attacker (dev accounts, as in `guardian demo`).
const VICTIMS: [u32; 3] = [5, 6, 7];
const MERCHANT: u32 = 8;
const ATTACKER: u32 = 9;
/// The escrow is topped up by the victims when a missed trial left it below this (ETH).
const REFILL_BELOW_ETH: &str = "8";

/// `cargo run --release -p bench -- preempt`.
#[derive(Debug, clap::Args)]
pub struct PreemptArgs {
    /// Exploit trials; trial i is sent i × 1000 / N ms after a new head arrived.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    trials: u64,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// The report whose pre-emption section is replaced; `-` prints the table only.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
}

/// One exploit trial, as measured.
#[derive(Debug, Clone, Default)]
struct Trial {
    /// Milliseconds after the head's arrival the exploit was sent.
    offset_ms: u64,
    exploit_block: u64,
    exploit_reverted: bool,
    /// The block of the pause transaction that stops the escrow, if one was sent for this exploit.
    pause_block: Option<u64>,
    /// Pause mined in the exploit's block, ahead of it.
    pause_first: bool,
    lost: U256,
    /// Evidence `seen_at` to the journal `sent_at` of the pause transaction that stops the escrow.
    seen_to_broadcast: Option<i64>,
    /// Of it: seen to the pending alert stored (simulation, head and holdings reads, rules).
    seen_to_stored: Option<i64>,
    /// Alert stored to the event handed to the dispatcher.
    stored_to_dispatched: Option<i64>,
    /// Event handed to the dispatcher to the first pause transaction broadcast (incident record,
    /// pause request, fees, signing).
    dispatched_to_first_sent: Option<i64>,
    /// Pause transactions of the response, and the label of the one that stops the escrow.
    pause_txs: usize,
    pause_label: Option<String>,
}

impl Trial {
    fn ok(&self) -> bool {
        self.lost.is_zero() && self.exploit_reverted
    }
}

/// A pending alert as the dispatcher received it.
#[derive(Debug, Clone, Copy)]
struct Raised {
    id: i64,
    seen_at: i64,
    stored_at: i64,
    /// When the event passed to the dispatcher (Unix ms).
    dispatched_at: i64,
}

type RaisedByTx = Arc<Mutex<BTreeMap<TxHash, Raised>>>;

impl PreemptArgs {
    /// Runs the trials and writes the section.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let anvil = guardian::anvil::find_anvil(self.anvil.as_deref(), &process_env)?;
        let started = Instant::now();
        eprintln!("starting anvil and deploying the suite (automine) ...");
        let devnet = Devnet::start(
            &DevnetOptions {
                anvil: anvil.clone(),
                port: 0,
                block_time: None,
                chains: 1,
                copies: 1,
            },
            None,
        )
        .await?;
        let dir = tempfile::tempdir()?;
        let result = self.measure(&devnet, dir.path()).await;
        devnet.stop().await;
        let (trials, simulator) = result?;
        if trials.is_empty() {
            bail!("nothing was measured");
        }
        let section = self.section(&trials, &simulator, &anvil, started.elapsed());
        println!("{section}");
        if self.out != std::path::Path::new("-") {
            let old = std::fs::read_to_string(&self.out).unwrap_or_default();
            std::fs::write(
                &self.out,
                crate::bench::replace_section(&old, SECTION, &section),
            )
            .with_context(|| format!("cannot write {}", self.out.display()))?;
            eprintln!("wrote {}", self.out.display());
        }
        Ok(std::process::ExitCode::SUCCESS)
    }

    /// Sets the scene, starts the monitor and plays every trial.
    async fn measure(
        &self,
        devnet: &Devnet,
        dir: &std::path::Path,
    ) -> anyhow::Result<(Vec<Trial>, String)> {
        let path = dir.join("guardian.toml");
        let mut manifest = devnet.manifest.clone();
        // A WebSocket endpoint beside the HTTP one: new heads and pending transactions.
        for chain in manifest.chains.values_mut() {
            let ws: Vec<_> = chain
                .rpc_urls
                .iter()
                .filter_map(|u| {
                    u.expose()
                        .as_str()
                        .replacen("http://", "ws://", 1)
                        .parse()
                        .ok()
                })
                .collect();
            chain.rpc_urls.extend(ws);
        }
        manifest.write(&path, true)?;
        let find = |kind| {
            manifest
                .contracts
                .iter()
                .find(|c| c.kind == kind)
                .with_context(|| format!("the devnet has no {kind:?}"))
        };
        let escrow = find(ContractKind::PaymentEscrow)?;
        let registry = find(ContractKind::DocumentRegistry)?;
        let mut text = std::fs::read_to_string(&path)?;
        text.push_str(&format!(
            r#"
[[rules]]
name = "escrow-drain-preempt"
kind = "outflow"
contracts = ["{}"]
window_blocks = 3
asset = "native"
max_amount = "1 ether"
severity = "critical"
respond = "pause-all"
preempt = true
"#,
            escrow.name()
        ));
        std::fs::write(&path, text)?;
        let (escrow, registry) = (escrow.address, registry.address);

        let deployment = Deployment::open(&path, None, &process_env).await?;
        let (chain, client) = deployment
            .clients
            .iter()
            .next()
            .context("the devnet's chain is unreachable")?;
        let http = devnet.anvils[0].url.expose().clone();
        let scene = Scene::new(http.clone(), registry, escrow);

        eprintln!("the scene: victims' deposits, the buggy upgrade, the attacker's drainer ...");
        scene.traffic(&VICTIMS, MERCHANT).await?;
        let escrow_name = deployment
            .manifest
            .contracts
            .iter()
            .find(|c| c.address == escrow)
            .map(|c| c.name().to_string())
            .context("no escrow")?;
        upgrade::run(
            &deployment,
            &UpgradeRequest {
                contract: escrow_name,
                implementation: Implementation::InitCode(PaymentEscrowBuggy::BYTECODE.clone()),
                chain: None,
                signer: None,
                dry_run: false,
                reason: Some("benchmark: the drill's buggy release".into()),
            },
            &|_| {},
        )
        .await?;
        let drainer = scene.prepare_attacker(ATTACKER).await?;
        crate::bench::set_interval_mining(client, 1).await?;

        let rules = monitor::configured_rules(&deployment).await?;
        let mempool: Vec<_> = monitor::preempt::plan(&deployment)
            .await?
            .into_iter()
            .filter(|p| &p.chain == chain)
            .collect();
        let caps = &mempool.first().context("no mempool plan")?.capabilities;
        if caps.simulator.is_none() || caps.source.is_none() {
            bail!("the node cannot be watched: {}", caps.missing.join("; "));
        }
        let simulator = format!(
            "pending transactions by {:?}, simulated by {:?}",
            caps.source.context("no source")?,
            caps.simulator.context("no simulator")?
        );
        eprintln!("mempool: {simulator}");

        let store = Arc::new(Store::open(&db_path(&path))?);
        let contacts = Arc::new(Contacts::load(&deployment.manifest, &process_env));
        let dispatcher = Dispatcher::new(&deployment, store, contacts, None);
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<MonitorEvent>();
        let (fwd_tx, fwd_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let raised: RaisedByTx = Arc::default();
        let noted = raised.clone();
        let forward = async move {
            while let Some(event) = events_rx.recv().await {
                if let MonitorEvent::Raised(a) = &event
                    && a.status == AlertStatus::Pending
                {
                    let tx = &a.found.evidence["pending_tx"];
                    if let (Some(hash), Some(seen_at)) = (
                        tx["hash"].as_str().and_then(|h| h.parse::<TxHash>().ok()),
                        tx["seen_at"].as_i64(),
                    ) && let Ok(mut m) = noted.lock()
                    {
                        m.entry(hash).or_insert(Raised {
                            id: a.id,
                            seen_at,
                            stored_at: a.detected_at,
                            dispatched_at: guardian::storage::now_ms(),
                        });
                    }
                }
                let _ = fwd_tx.send(event);
            }
        };
        let ws = monitor::preempt::ws_of(&deployment, chain).context("no ws endpoint")?;
        let ctx = Ctx {
            deployment: &deployment,
            scene: &scene,
            drainer,
            escrow,
            raised,
            trials: self.trials,
        };
        let drive = async {
            let result = ctx.play(&ws).await;
            let _ = stop_tx.send(true);
            result
        };
        let following = monitor::run(
            &deployment,
            MonitorOptions {
                events: Some(events_tx),
                stop: Some(stop_rx),
                rules,
                mempool,
                ..MonitorOptions::default()
            },
        );
        let dispatching = dispatcher.run(fwd_rx, |_, _| {});
        let (_, (), (), trials) = tokio::join!(following, forward, dispatching, drive);
        Ok((trials?, simulator))
    }
}

/// What every trial needs.
struct Ctx<'a> {
    deployment: &'a Deployment,
    scene: &'a Scene,
    drainer: Address,
    escrow: Address,
    raised: RaisedByTx,
    trials: u64,
}

impl Ctx<'_> {
    /// Every trial, after the monitor has settled.
    async fn play(&self, ws: &guardian::secret::RpcUrl) -> anyhow::Result<Vec<Trial>> {
        let heads = guardian::chain::ws::pubsub_provider(ws).await?;
        let mut sub = heads.subscribe_blocks().await?;
        let (head_tx, mut head_rx) = watch::channel((0u64, Instant::now()));
        let watching = tokio::spawn(async move {
            while let Ok(h) = sub.recv().await {
                let _ = head_tx.send((h.number, Instant::now()));
            }
        });
        // Let the monitor reach the head and its pending watch subscribe.
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.unpause().await?;
        let mut trials = Vec::new();
        for i in 0..self.trials {
            self.refill().await?;
            let offset_ms = i * 1000 / self.trials;
            head_rx.borrow_and_update();
            head_rx.changed().await?;
            let (_, arrived) = *head_rx.borrow();
            tokio::time::sleep_until((arrived + Duration::from_millis(offset_ms)).into()).await;
            let trial = self.trial(offset_ms).await?;
            eprintln!(
                "trial {}/{} at +{offset_ms} ms: exploit block {}, pause block {}, pause first {}, reverted {}, lost {} wei, seen→broadcast {}",
                i + 1,
                self.trials,
                trial.exploit_block,
                trial.pause_block.map_or("-".into(), |b| b.to_string()),
                trial.pause_first,
                trial.exploit_reverted,
                trial.lost,
                trial
                    .seen_to_broadcast
                    .map_or("-".into(), |ms| format!("{ms} ms")),
            );
            trials.push(trial);
            self.unpause().await?;
        }
        watching.abort();
        Ok(trials)
    }

    /// One exploit, its pause and its outcome.
    async fn trial(&self, offset_ms: u64) -> anyhow::Result<Trial> {
        let before = self.scene.balance(self.drainer, None).await?;
        let exploit = self.scene.first_strike(ATTACKER, self.drainer).await?;
        let after = self.scene.balance(self.drainer, None).await?;
        let deposit = parse_ether(ATTACK_DEPOSIT_ETH)?;
        let mut trial = Trial {
            offset_ms,
            exploit_block: exploit.block,
            exploit_reverted: exploit.reverted,
            lost: after.saturating_sub(before).saturating_sub(deposit),
            ..Trial::default()
        };
        let store = &self.deployment.store;
        let provider = self.scene.reader.clone();
        // The pending alert about this exploit and the pause that answered it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let raised = loop {
            let found = self
                .raised
                .lock()
                .ok()
                .and_then(|m| m.get(&exploit.hash).copied());
            if found.is_some() || Instant::now() > deadline {
                break found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let Some(raised) = raised else {
            // Not seen pending (or not alerted): the reactive answer follows in a later block.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            return Ok(trial);
        };
        trial.seen_to_stored = Some(raised.stored_at - raised.seen_at);
        // The automatic response's once-key (incident::automatic): `respond:alert:{id}`.
        let key = format!("respond:alert:{}", raised.id);
        let mut txs = Vec::new();
        while Instant::now() < deadline + Duration::from_secs(5) {
            if let Some(action) = store.action_with_key(&key)? {
                txs = store.transactions(action)?;
                if txs.iter().all(|t| t.block_number.is_some()) && !txs.is_empty() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        trial.pause_txs = txs.len();
        trial.stored_to_dispatched = Some(raised.dispatched_at - raised.stored_at);
        trial.dispatched_to_first_sent = txs
            .iter()
            .map(|t| t.sent_at)
            .min()
            .map(|s| s - raised.dispatched_at);
        // The escrow's own pause, else the one that stops it with the rest (the brake's
        // `pauseAll`).
        let Some(pause) = txs
            .iter()
            .find(|t| t.target == Some(self.escrow))
            .or_else(|| txs.first())
        else {
            return Ok(trial);
        };
        trial.pause_label = Some(pause.label.clone());
        trial.seen_to_broadcast = Some(pause.sent_at - raised.seen_at);
        let receipt = |h: TxHash| {
            let p = provider.clone();
            async move {
                for _ in 0..100 {
                    if let Ok(Some(r)) = p.get_transaction_receipt(h).await {
                        return Some(r);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None
            }
        };
        let (p, e) = tokio::join!(receipt(pause.tx_hash), receipt(exploit.hash));
        if let (Some(p), Some(e)) = (p, e) {
            trial.pause_block = p.block_number;
            trial.pause_first = p.block_number == e.block_number
                && matches!((p.transaction_index, e.transaction_index), (Some(a), Some(b)) if a < b);
        }
        Ok(trial)
    }

    /// Unpauses everything (untimed) and checks the escrow is open again.
    async fn unpause(&self) -> anyhow::Result<()> {
        let request = PauseRequest {
            pause: false,
            selection: Selection::All,
            chain: None,
            signer: None,
            dry_run: false,
            reason: Some("benchmark reset".into()),
            strict: false,
            // A missed trial leaves the escrow short (its loss is recorded); the next trial
            // still needs it open.
            allow_insolvent: true,
            outbid: None,
        };
        let paused = IPausable::new(self.escrow, self.scene.reader.clone());
        for attempt in 1..=3 {
            if let Err(e) =
                guardian::response::pause::run(self.deployment, &request, Instant::now(), &|_| {})
                    .await
            {
                eprintln!("unpausing failed (attempt {attempt}): {e}");
            }
            if !paused.paused().call().await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        bail!("the escrow stays paused between trials")
    }

    /// Tops the escrow up with the victims' deposits when missed trials have drained it.
    async fn refill(&self) -> anyhow::Result<()> {
        let held = self.scene.balance(self.escrow, None).await?;
        if held >= parse_ether(REFILL_BELOW_ETH)? {
            return Ok(());
        }
        let five = parse_ether("5")?;
        let (merchant, _) = self.scene.account(MERCHANT)?;
        for (i, index) in VICTIMS.iter().enumerate() {
            let (_, p) = self.scene.account(*index)?;
            let d: B256 = keccak256(format!("integra-demo-document-{}", i + 1));
            PaymentEscrow::new(self.escrow, p)
                .deposit(d, Address::ZERO, five, merchant)
                .value(five)
                .send()
                .await?
                .get_receipt()
                .await?;
        }
        Ok(())
    }
}
