//! `guardian monitor --from-block N` far behind the head: the history is backfilled in log
//! ranges beside the follower, its alerts stored once, through endpoints that cap log ranges too.

use std::path::Path;

use alloy::primitives::{Address, U256};
use bindings::DocumentRegistry;
use guardian::{
    alert::{Alert, AlertStatus, Severity},
    config::ContractKind,
    deployment::Deployment,
    monitor::{self, ChainSummary, MonitorEvent, MonitorOptions, backfill::BACKFILL_THRESHOLD},
    storage::AlertFilter,
};
use tokio::sync::mpsc;

use crate::{
    response::rpc,
    send_ok,
    support::{
        TestNet, doc,
        proxy::{self, Behaviour, Counts},
        testnet,
    },
};

const BURST: &str = "\n[[rules]]\nname = \"registration-burst\"\nkind = \"rate\"\ncontracts = [\"registry\"]\nevent = \"DocumentRegistered\"\nwindow_blocks = 10\nthreshold = 5\nseverity = \"warning\"\n";

/// The devnet's manifest with the burst rule, written into `dir`, at `rpc_url` when given.
async fn deployment(net: &TestNet, dir: &Path, rpc_url: Option<&str>) -> Deployment {
    let mut manifest = net.devnet.manifest.clone();
    if let Some(url) = rpc_url {
        manifest.chains.get_mut("local").expect("chain").rpc_urls = vec![url.parse().expect("url")];
    }
    let path = dir.join("guardian.toml");
    manifest.write(&path, true).expect("write");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("{text}{BURST}")).expect("append");
    Deployment::open(&path, None, &|_| None)
        .await
        .expect("open")
}

/// Eight registrations, one a block, from block `start`: the sixth exceeds the threshold of 5.
async fn burst(net: &TestNet) -> u64 {
    let start = net.block_number().await + 1;
    let registry = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.account(6)),
    );
    let fee: U256 = registry.registrationFee().call().await.expect("fee");
    for n in 0..8 {
        send_ok!(
            registry
                .registerDocument(doc(500 + n), doc(n), Address::ZERO)
                .value(fee)
        );
    }
    start
}

/// `monitor --once --from-block from` with the configured rules for the head and the backfill.
async fn once(d: &Deployment, from: u64) -> (ChainSummary, Vec<MonitorEvent>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let results = monitor::run(
        d,
        MonitorOptions {
            from_block: Some(from),
            once: true,
            events: Some(tx),
            rules: monitor::configured_rules(d).await.expect("rules"),
            backfill_rules: monitor::configured_rules(d).await.expect("rules"),
            ..MonitorOptions::default()
        },
    )
    .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let (_, result) = results.into_iter().next().expect("one chain");
    (result.expect("monitor --once"), events)
}

fn alerts(d: &Deployment, rule: &str) -> Vec<Alert> {
    let mut found = d
        .store
        .alerts(&AlertFilter {
            rule: Some(rule.into()),
            ..AlertFilter::default()
        })
        .expect("alerts");
    found.reverse();
    found
}

#[tokio::test]
async fn a_past_burst_is_backfilled_into_one_alert_and_a_rerun_adds_none() {
    let net = testnet().await;
    let start = burst(&net).await;
    rpc(&net, "anvil_mine", serde_json::json!([200])).await;
    let head = net.block_number().await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = deployment(&net, dir.path(), None).await;

    let (summary, events) = once(&d, start).await;
    assert_eq!(
        summary.backfilled_blocks,
        head - start,
        "everything before the head was backfilled: {summary:?}"
    );
    assert_eq!(summary.backfilled_events, 8, "{summary:?}");
    assert!(
        summary.blocks <= 1,
        "the follower began at the head: {summary:?}"
    );
    let found = alerts(&d, "registration-burst");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].found.severity, found[0].found.block_number),
        (Severity::Warning, start + 5)
    );
    assert_eq!(found[0].status, AlertStatus::Final, "200 blocks deep");
    assert_eq!(
        found[0].found.tx_hashes.len(),
        6,
        "the window's registrations"
    );
    let raised: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            MonitorEvent::Raised(a) => Some(a.found.rule.as_str()),
            MonitorEvent::Retracted(_) | MonitorEvent::Owed(_) => None,
        })
        .collect();
    assert_eq!(raised, ["registration-burst"], "handed on like any alert");

    // Run again over the same history: nothing new is stored or handed on.
    let (_, again) = once(&d, start).await;
    assert!(again.is_empty(), "{again:#?}");
    assert_eq!(alerts(&d, "registration-burst").len(), 1);

    // Later, the binary resumes where the backfill stopped (the rules replay their windows
    // before it) and says so; the alert is still not stored twice.
    rpc(&net, "anvil_mine", serde_json::json!([20])).await;
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .args(["monitor", "--once", "--from-block", &start.to_string()])
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("local: backfilled 30 blocks (0 events)"),
        "the 20 new blocks and the rate rule's window of 10 replayed before them: {out}"
    );
    assert_eq!(alerts(&d, "registration-burst").len(), 1);
    net.devnet.stop().await;
}

#[tokio::test]
async fn an_endpoint_capping_log_ranges_yields_the_same_backfilled_alerts() {
    let net = testnet().await;
    let start = burst(&net).await;
    rpc(&net, "anvil_mine", serde_json::json!([150])).await;
    let direct_dir = tempfile::tempdir().expect("tmp");
    let direct = deployment(&net, direct_dir.path(), None).await;
    once(&direct, start).await;

    let upstream = net.devnet.anvils[0].url.expose().to_string();
    let proxy = proxy::start_with(
        &upstream,
        Behaviour {
            max_log_range: Some(7),
            ..Behaviour::default()
        },
    )
    .await;
    let capped_dir = tempfile::tempdir().expect("tmp");
    let capped = deployment(&net, capped_dir.path(), Some(&proxy.url)).await;
    let (summary, _) = once(&capped, start).await;
    assert!(
        summary.backfilled_blocks > BACKFILL_THRESHOLD,
        "{summary:?}"
    );
    assert!(
        Counts::get(&proxy.counts.refused_logs) > 0,
        "ranges were refused and narrowed"
    );
    let key = |d: &Deployment| -> Vec<(String, u64, String)> {
        alerts(d, "registration-burst")
            .into_iter()
            .map(|a| (a.found.rule, a.found.block_number, a.found.dedup_key))
            .collect()
    };
    assert_eq!(key(&direct).len(), 1);
    assert_eq!(key(&capped), key(&direct));
    net.devnet.stop().await;
}

#[tokio::test]
async fn the_head_is_followed_while_a_long_history_is_backfilled() {
    let net = testnet().await;
    let start = burst(&net).await;
    // Mined in small steps: anvil takes seconds per thousand blocks, longer on a loaded
    // machine, and each request must answer within the client's timeout.
    for _ in 0..30 {
        rpc(&net, "anvil_mine", serde_json::json!([100])).await;
    }
    let backfill_to = net.block_number().await - 1;
    let dir = tempfile::tempdir().expect("tmp");
    let d = deployment(&net, dir.path(), None).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let following = monitor::run(
        &d,
        MonitorOptions {
            from_block: Some(start),
            rules: monitor::configured_rules(&d).await.expect("rules"),
            backfill_rules: monitor::configured_rules(&d).await.expect("rules"),
            stop: Some(stop_rx),
            ..MonitorOptions::default()
        },
    );
    let driver = async {
        // An unexpected pauser at the head: a critical privileged alert from the follower.
        let registry = DocumentRegistry::new(
            net.addr(ContractKind::DocumentRegistry),
            net.as_signer(&net.admin),
        );
        let granted = send_ok!(
            registry.grantRole(guardian::roles::Role::Pauser.id(), net.outsider.address())
        );
        let granted_at = granted.block_number.expect("mined");
        tokio::time::timeout(std::time::Duration::from_secs(120), async {
            loop {
                let head_seen = alerts(&d, "privileged")
                    .iter()
                    .any(|a| a.found.block_number == granted_at);
                let backfilled = d
                    .store
                    .backfill_cursor(31337)
                    .expect("cursor")
                    .is_some_and(|c| c.through >= backfill_to);
                if head_seen && backfilled {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the head's alert and the whole backfill");
        let _ = stop_tx.send(true);
        granted_at
    };
    let (results, granted_at) = tokio::join!(following, driver);
    let summary = results[0].1.as_ref().expect("monitor");
    assert!(
        summary.blocks < 100,
        "the follower did not read the history block by block: {summary:?}"
    );
    assert!(
        summary.backfilled_blocks > backfill_to - start,
        "{summary:?}"
    );
    let privileged = alerts(&d, "privileged");
    let at_head = privileged
        .iter()
        .find(|a| a.found.block_number == granted_at)
        .expect("the grant at the head");
    assert_eq!(at_head.found.severity, Severity::Critical);
    assert_eq!(
        alerts(&d, "registration-burst").len(),
        1,
        "and the past burst"
    );
    net.devnet.stop().await;
}
