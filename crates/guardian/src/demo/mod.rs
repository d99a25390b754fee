//! `guardian demo`: the whole incident drill on local chains, in one process.
//!
//! Two chains with 1 s blocks and the suite deployed; the monitor following them with a rule
//! that responds to a drain; a local webhook receiver checking signatures; ordinary traffic; then
//! an escrow upgrade that ships a bug and an attacker draining other people's deposits through it,
//! one transaction per block. The drill shows what the tool does about it: detection, a level 3
//! incident opened by itself, everything paused in the next block, the attacker's later
//! transactions reverting, the rest rescued, the fix shipped and verified, the funds returned,
//! everything resumed, the checklist complete and the post-mortem written.

mod closing;
mod multisig;
mod preempt;
mod progress;
mod scene;
mod sink;
mod steps;

pub use preempt::PreemptReport;
pub use progress::Progress;
pub use scene::{ATTACK_DEPOSIT_ETH, AttackTx, Scene, SceneError};

use std::{path::PathBuf, sync::Arc};

use serde::Serialize;

use crate::{
    config::{DEFAULT_MANIFEST, Manifest},
    deployment::Deployment,
    devnet::{Devnet, DevnetOptions},
    monitor::{self, MonitorOptions},
    notify::Contacts,
    service::Service,
};

/// The variable the drill's webhook secret is passed in (the manifest names it, as a real one
/// would; the value never appears in the file).
pub const SECRET_VAR: &str = "GUARDIAN_DEMO_WEBHOOK_SECRET";

/// Why the drill could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A step failed; the message says which and why.
    #[error("{step}: {message}")]
    Step {
        /// The step.
        step: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Wraps any error as the failure of `step`.
pub(crate) fn at<E: std::fmt::Display>(step: &'static str) -> impl Fn(E) -> DemoError {
    move |e| DemoError::Step {
        step,
        message: e.to_string(),
    }
}

/// How to run the drill.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the manifest, the database and the post-mortem are written (emptied of an earlier
    /// drill's records first).
    pub dir: PathBuf,
    /// The anvil binary.
    pub anvil: PathBuf,
    /// Who runs the drill (the operator named in the timeline).
    pub operator: String,
    /// Show nothing while it runs (`--json`).
    pub quiet: bool,
    /// Hand the admin, upgrade and rescue roles to a 2-of-3 Safe first: the releases, the rescue
    /// and the fix become proposals two owners sign (`--safe`).
    pub safe: bool,
}

/// What the drill measured and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoReport {
    /// Whether the drill went as it must: paused in the block after the exploit's first, every
    /// later attacker transaction reverted, less lost than rescued, the incident closed.
    pub ok: bool,
    /// The exploit's chain.
    pub chain: String,
    /// Its chain id.
    pub chain_id: u64,
    /// The block of the exploit's first transaction.
    pub exploit_block: u64,
    /// The block the first alert was raised from.
    pub alert_block: Option<u64>,
    /// The block the pause was mined in, on the exploit's chain.
    pub paused_block: Option<u64>,
    /// The post-mortem's funds on the exploit's chain, native coin, in wei (decimal strings);
    /// each defined once, in `incident::report` (docs/incidents.md). At risk: held by the
    /// incident's contracts in the block before the exploit's first transaction.
    pub at_risk_wei: String,
    /// What they owed then to open payments.
    pub owed_wei: Option<String>,
    /// Held then, less held after the pause: what the attacker took net of its own deposit.
    pub lost_wei: String,
    /// What was moved to the safe address.
    pub rescued_wei: String,
    /// What was returned with `replenish` (the rescue plus the treasury's share).
    pub returned_wei: String,
    /// Lost, less what was returned beyond what was rescued.
    pub still_short_wei: String,
    /// The post-mortem's time to detect, pause, rescue and resume, each on one clock.
    pub durations: Option<crate::incident::report::Durations>,
    /// Milliseconds from the exploit's block reaching the node to the alert stored.
    pub detect_ms: Option<i64>,
    /// Milliseconds from the same moment to the pause broadcast.
    pub pause_sent_ms: Option<i64>,
    /// Milliseconds from the same moment to the pause seen mined.
    pub pause_ms: Option<i64>,
    /// Every attacker transaction, in order.
    pub attacker_txs: Vec<AttackTx>,
    /// The incident's id.
    pub incident: Option<i64>,
    /// The post-mortem (Markdown).
    pub report: Option<PathBuf>,
    /// The post-mortem (HTML).
    pub report_html: Option<PathBuf>,
    /// Notifications the local webhook received, and whether every one was signed.
    pub notifications: usize,
    /// Whether every notification's signature checked.
    pub notifications_signed: bool,
    /// Of them: alerts (`{"alert": ...}`) and incident messages (`{"incident": ...}`).
    pub alert_messages: usize,
    /// Incident messages (opening, users, public).
    pub incident_messages: usize,
    /// Whether the incident was closed (its checklist complete).
    pub closed: bool,
    /// The second run, pre-emptive: the same exploit on the second chain, answered from the
    /// mempool.
    pub preempt: Option<PreemptReport>,
    /// Everything that did not go as it must.
    pub problems: Vec<String>,
    /// With `--safe`: the Safe that held the admin, upgrade and rescue roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe: Option<alloy::primitives::Address>,
}

/// Runs the drill.
pub async fn run(opts: &DemoOptions, progress: &Progress) -> Result<DemoReport, DemoError> {
    std::fs::create_dir_all(&opts.dir).map_err(at("creating the drill's directory"))?;
    for stale in ["guardian.db", "guardian.db-wal", "guardian.db-shm"] {
        let _ = std::fs::remove_file(opts.dir.join(stale));
    }
    progress.step("starting two local chains and deploying the suite");
    let mut devnet = Devnet::start(
        &DevnetOptions {
            anvil: opts.anvil.clone(),
            port: 0,
            block_time: None,
            chains: 2,
            copies: 1,
        },
        None,
    )
    .await
    .map_err(at("starting the chains"))?;
    let mut safe = None;
    if opts.safe {
        let d = devnet
            .hand_roles_to_safe(2, 3)
            .await
            .map_err(at("handing the roles to a Safe"))?;
        progress.done(&format!(
            "a 2-of-3 Safe ({}) holds the admin, upgrade and rescue roles; the pause key and the brake pause",
            d.safe
        ));
        safe = Some(d.safe);
    }
    // Deployed at a block per transaction; from now on, a block every second, as on a real chain.
    for anvil in &devnet.anvils {
        steps::interval_mining(anvil.url.expose(), 1).await?;
    }
    let secret = format!("drill-{:016x}", crate::notify::outbox::random_u64());
    crate::secret::register(&secret);
    let sink = sink::Sink::start(&secret)
        .await
        .map_err(at("starting the local webhook receiver"))?;
    let path = opts.dir.join(DEFAULT_MANIFEST);
    write_manifest(&mut devnet.manifest, &path, &sink.url)?;
    progress.done(&format!(
        "2 chains with 1 s blocks, {} contracts, monitor rules and a signed webhook ({})",
        devnet.manifest.contracts.len(),
        path.display()
    ));

    let env = {
        let secret = secret.clone();
        move |name: &str| {
            if name == SECRET_VAR {
                Some(secret.clone())
            } else {
                crate::chain::signer::process_env(name)
            }
        }
    };
    let deployment = Deployment::open(&path, None, &env)
        .await
        .map_err(at("opening the drill's deployment"))?;
    let contacts = Arc::new(Contacts::load(&deployment.manifest, &env));
    let rules = monitor::configured_rules(&deployment)
        .await
        .map_err(at("loading the monitor's rules"))?;
    // The mempool is watched on the second chain only: the first run shows the reactive answer.
    let second = deployment
        .manifest
        .chains
        .keys()
        .nth(1)
        .cloned()
        .unwrap_or_default();
    let mempool: Vec<_> = monitor::preempt::plan(&deployment)
        .await
        .map_err(at("probing the mempool"))?
        .into_iter()
        .filter(|p| p.chain == second)
        .collect();
    let service = Service::new(&deployment, contacts.clone())
        .await
        .map_err(at("opening the database"))?
        .monitor(MonitorOptions {
            rules,
            mempool,
            ..MonitorOptions::default()
        })
        .delivering()
        .map_err(at("the outbox"))?;
    let drill = async {
        let mut result = steps::play(&deployment, &contacts, opts, progress).await;
        if let Ok(report) = &mut result {
            match preempt::play(&deployment, &second, progress).await {
                Ok(p) => {
                    if !p.exploit_reverted
                        || p.lost_wei != "0"
                        || p.paused_block != Some(p.exploit_block)
                    {
                        report.problems.push(format!(
                            "the pre-emptive run did not stop the exploit in its own block: {p:?}"
                        ));
                        report.ok = false;
                    }
                    report.preempt = Some(p);
                }
                Err(e) => {
                    report
                        .problems
                        .push(format!("the pre-emptive run failed: {e}"));
                    report.ok = false;
                }
            }
        }
        result
    };
    // The drill ends the monitor; its last messages go out before the service returns.
    let ran = service.run(None, |_, _| {}, drill).await;
    let result = ran.body.ok_or_else(|| DemoError::Step {
        step: "running the monitor",
        message: "the monitor stopped before the drill finished".into(),
    })?;
    let mut report = result?;
    report.safe = safe;
    let received = sink.received();
    report.notifications = received.len();
    report.alert_messages = received
        .iter()
        .filter(|r| r.body.get("alert").is_some())
        .count();
    report.incident_messages = received
        .iter()
        .filter(|r| r.body.get("incident").is_some())
        .count();
    report.notifications_signed = !received.is_empty() && received.iter().all(|r| r.signed);
    if !report.notifications_signed {
        report
            .problems
            .push("the local webhook received no notification, or one with a bad signature".into());
        report.ok = false;
    }
    progress.finish();
    devnet.stop().await;
    Ok(report)
}

/// The devnet's manifest with the drill's monitor rules, its webhook contact (audiences team,
/// partners, users and public) and a WebSocket endpoint per chain for new heads.
fn write_manifest(
    manifest: &mut Manifest,
    path: &std::path::Path,
    sink: &str,
) -> Result<(), DemoError> {
    for chain in manifest.chains.values_mut() {
        let ws: Vec<_> = chain
            .rpc_urls
            .iter()
            .filter_map(|u| {
                let text = u.expose().as_str().replacen("http://", "ws://", 1);
                text.parse().ok()
            })
            .collect();
        chain.rpc_urls.extend(ws);
    }
    manifest
        .write(path, true)
        .map_err(at("writing the drill's manifest"))?;
    let escrows: Vec<String> = manifest
        .contracts
        .iter()
        .filter(|c| c.kind == crate::config::ContractKind::PaymentEscrow)
        .map(|c| c.name().to_string())
        .collect();
    let (first_escrow, second_escrow) = match escrows.as_slice() {
        [a, b, ..] => (a.clone(), b.clone()),
        _ => {
            return Err(DemoError::Step {
                step: "writing the drill's manifest",
                message: "the drill needs an escrow on each of two chains".into(),
            });
        }
    };
    let rules = format!(
        r#"
# The drill's rules: value leaving an escrow faster than 1 ETH in 3 blocks is a drain, and the
# monitor answers it with a level 3 incident (everything paused) on its own.
[[rules]]
name = "escrow-drain"
kind = "outflow"
contracts = ["{first_escrow}"]
window_blocks = 3
asset = "native"
max_amount = "1 ether"
severity = "critical"
respond = "pause-all"

# On the second chain the same rule also answers a pending drain, ahead of it.
[[rules]]
name = "escrow-drain-preempt"
kind = "outflow"
contracts = ["{second_escrow}"]
window_blocks = 3
asset = "native"
max_amount = "1 ether"
severity = "critical"
respond = "pause-all"
preempt = true

[[rules]]
name = "registration-burst"
kind = "rate"
contracts = ["DocumentRegistry"]
event = "DocumentRegistered"
window_blocks = 10
threshold = 20
severity = "warning"

# The war room's webhook (a local receiver that checks every signature).
[[contacts]]
name = "war-room"
channel = "webhook"
url = "{sink}/hook"
secret_env = "{SECRET_VAR}"
min_severity = "info"
audiences = ["team", "partners", "users", "public"]
"#
    );
    let mut text = std::fs::read_to_string(path).map_err(at("reading the drill's manifest"))?;
    text.push_str(&rules);
    std::fs::write(path, text).map_err(at("writing the drill's manifest"))
}
