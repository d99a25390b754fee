//! `guardian monitor` against a real anvil: the built-in rules, restarts, reorganisations, and
//! `guardian alerts` (library and binary).

mod alerts;

use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, U256};
use bindings::{DocumentRegistry, PaymentEscrow, interfaces::IAccessControl};
use guardian::{
    alert::{Alert, AlertStatus, NewAlert, Severity},
    config::ContractKind,
    deployment::Deployment,
    monitor::{self, BlockData, ChainRules, ChainSummary, MonitorEvent, MonitorOptions},
    roles::Role,
    storage::AlertFilter,
};
use tokio::sync::mpsc;

use crate::{
    response::{open, rpc},
    send_ok,
    support::{TestNet, doc, testnet},
};

/// One `monitor --once` (from `from` when given); its summary for the one chain and every event
/// it handed on, in order.
async fn once(
    d: &Deployment,
    from: Option<u64>,
    rules: Option<Box<dyn ChainRules>>,
) -> (ChainSummary, Vec<MonitorEvent>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let results = monitor::run(
        d,
        MonitorOptions {
            from_block: from,
            once: true,
            events: Some(tx),
            rules: rules
                .map(|r| [("local".to_string(), r)].into())
                .unwrap_or_default(),
            stop: None,
            ..MonitorOptions::default()
        },
    )
    .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let (chain, result) = results.into_iter().next().expect("one chain");
    assert_eq!(chain, "local");
    (result.expect("monitor --once"), events)
}

fn all(d: &Deployment, rule: &str) -> Vec<Alert> {
    let mut alerts = d
        .store
        .alerts(&AlertFilter {
            rule: Some(rule.into()),
            ..AlertFilter::default()
        })
        .expect("alerts");
    alerts.reverse();
    alerts
}

fn event_name(a: &Alert) -> String {
    a.found.evidence["event"].as_str().unwrap_or("").to_string()
}

async fn pause_registry(net: &TestNet, pause: bool) -> u64 {
    let registry = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.pauser),
    );
    let receipt = if pause {
        send_ok!(registry.pause())
    } else {
        send_ok!(registry.unpause())
    };
    receipt.block_number.expect("mined")
}

async fn grant_pauser(net: &TestNet, to: Address) -> u64 {
    let registry = IAccessControl::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.admin),
    );
    send_ok!(registry.grantRole(Role::Pauser.id(), to))
        .block_number
        .expect("mined")
}

#[tokio::test]
async fn privileged_events_are_info_when_expected_and_critical_for_a_stranger() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let start = net.block_number().await + 1;
    let paused_at = pause_registry(&net, true).await;
    let granted_at = grant_pauser(&net, net.outsider.address()).await;
    let granted_to_pauser_at = grant_pauser(&net, net.pauser.address()).await;

    let (summary, events) = once(&d, Some(start), None).await;
    assert_eq!(summary.blocks, granted_to_pauser_at - start + 1);
    let raised: Vec<&Alert> = events
        .iter()
        .map(|e| match e {
            MonitorEvent::Raised(a) => a,
            other => panic!("nothing to retract or owe: {other:?}"),
        })
        .collect();
    let seen: Vec<(String, u64, Severity)> = raised
        .iter()
        .map(|a| (event_name(a), a.found.block_number, a.found.severity))
        .collect();
    // Granting PAUSER_ROLE to an account that already holds it emits nothing.
    assert_eq!(
        seen,
        [
            ("Paused".to_string(), paused_at, Severity::Info),
            ("RoleGranted".to_string(), granted_at, Severity::Critical),
        ]
    );
    let stranger = raised[1];
    assert_eq!(stranger.found.contract.as_deref(), Some("registry"));
    assert!(
        stranger.found.summary.contains("PAUSER_ROLE granted to")
            && stranger.found.summary.contains("unexpected subject"),
        "{}",
        stranger.found.summary
    );
    assert_eq!(stranger.found.evidence["actor_expected"], true);
    assert_eq!(stranger.found.tx_hashes.len(), 1);
    // What was handed on is what was stored (the first is final by now: two blocks on top).
    let stored: Vec<(i64, AlertStatus)> = all(&d, "privileged")
        .iter()
        .map(|a| (a.id, a.status))
        .collect();
    assert_eq!(
        stored,
        [
            (raised[0].id, AlertStatus::Final),
            (raised[1].id, AlertStatus::Open)
        ]
    );
    net.devnet.stop().await;
}

#[tokio::test]
async fn an_escrow_made_insolvent_raises_insolvent_once() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let user = net.as_signer(&net.account(6));
    let fee = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), net.reader())
        .registrationFee()
        .call()
        .await
        .expect("fee");
    send_ok!(
        DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), user.clone())
            .registerDocument(doc(1), doc(2), Address::ZERO)
            .value(fee)
    );
    let escrow = net.addr(ContractKind::PaymentEscrow);
    let owed = U256::from(3_000_000_000_000_000_000u128);
    send_ok!(
        PaymentEscrow::new(escrow, user)
            .deposit(doc(1), Address::ZERO, owed, net.account(7).address())
            .value(owed)
    );
    let start = net.block_number().await + 1;
    let (first, events) = once(&d, Some(start), None).await;
    assert_eq!((first.blocks, events.len()), (0, 0), "solvent, nothing new");

    send_ok!(PaymentEscrow::new(escrow, net.as_signer(&net.pauser)).pause());
    let drained_at = send_ok!(
        PaymentEscrow::new(escrow, net.as_signer(&net.emergency)).emergencyWithdraw(
            Address::ZERO,
            net.safe.address(),
            owed
        )
    )
    .block_number
    .expect("mined");
    let (_, events) = once(&d, Some(start), None).await;
    // Still short in later blocks, and after a restart: no second alert.
    rpc(&net, "anvil_mine", serde_json::json!([3])).await;
    let (later, more) = once(&d, None, None).await;
    assert_eq!(later.blocks, 3);
    assert!(more.is_empty(), "{more:?}");

    let insolvent = all(&d, "insolvent");
    assert_eq!(insolvent.len(), 1, "{insolvent:#?}");
    let alert = &insolvent[0].found;
    assert_eq!(
        (
            alert.severity,
            alert.contract.as_deref(),
            alert.address,
            alert.block_number
        ),
        (Severity::Critical, Some("escrow"), Some(escrow), drained_at)
    );
    assert_eq!(alert.evidence["owed"], owed.to_string());
    assert_eq!(alert.evidence["held"], "0");
    // The pause and the withdrawal themselves were expected: info, raised before the shortfall.
    let order: Vec<(String, Severity)> = events
        .iter()
        .filter_map(|e| match e {
            MonitorEvent::Raised(a) => Some((
                if a.found.rule == "insolvent" {
                    "insolvent".to_string()
                } else {
                    event_name(a)
                },
                a.found.severity,
            )),
            MonitorEvent::Retracted(_) | MonitorEvent::Owed(_) => None,
        })
        .collect();
    assert_eq!(
        order,
        [
            ("Paused".to_string(), Severity::Info),
            ("EmergencyWithdrawal".to_string(), Severity::Info),
            ("insolvent".to_string(), Severity::Critical),
        ]
    );
    net.devnet.stop().await;
}

#[tokio::test]
async fn a_restart_resumes_after_its_cursor_with_no_gap_and_no_duplicate() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let start = net.block_number().await + 1;
    let paused_at = pause_registry(&net, true).await;
    let (first, events) = once(&d, Some(start), None).await;
    assert_eq!((first.cursor, events.len()), (Some(paused_at), 1));

    let unpaused_at = pause_registry(&net, false).await;
    rpc(&net, "anvil_mine", serde_json::json!([2])).await;
    let head = net.block_number().await;
    let (second, events) = once(&d, None, None).await;
    assert_eq!(
        (second.blocks, second.cursor),
        (head - paused_at, Some(head)),
        "every block after the cursor, once"
    );
    assert_eq!(events.len(), 1, "only the new block's alert: {events:?}");

    let (third, events) = once(&d, None, None).await;
    assert_eq!((third.blocks, events.len()), (0, 0), "nothing new");

    let alerts = all(&d, "privileged");
    let seen: Vec<(String, u64, AlertStatus)> = alerts
        .iter()
        .map(|a| (event_name(a), a.found.block_number, a.status))
        .collect();
    assert_eq!(
        seen,
        [
            // Two blocks on top of it: final.
            ("Paused".to_string(), paused_at, AlertStatus::Final),
            ("Unpaused".to_string(), unpaused_at, AlertStatus::Final),
        ]
    );
    // Backfilling blocks already processed stores nothing twice.
    let (again, events) = once(&d, Some(start), None).await;
    assert_eq!(again.blocks, head - start + 1);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(all(&d, "privileged").len(), 2);
    net.devnet.stop().await;
}

/// A configured rule that records what the monitor asked of it.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl ChainRules for Recorder {
    fn on_block(&mut self, block: &BlockData) -> Vec<NewAlert> {
        self.0
            .lock()
            .expect("lock")
            .push(format!("block {}", block.number));
        Vec::new()
    }

    fn rewind(&mut self, to_block: u64) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("rewind {to_block}"));
    }
}

#[tokio::test]
async fn a_reorg_retracts_the_orphaned_alert_then_raises_the_new_blocks_alert() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let start = net.block_number().await + 1;
    let paused_at = pause_registry(&net, true).await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (_, events) = once(&d, Some(start), Some(Box::new(Recorder(calls.clone())))).await;
    let [MonitorEvent::Raised(orphaned)] = events.as_slice() else {
        panic!("one alert: {events:?}");
    };
    assert_eq!(orphaned.found.block_number, paused_at);

    // The pause's block is replaced by an empty one; then the admin grants a role to a stranger.
    rpc(&net, "anvil_reorg", serde_json::json!([1, []])).await;
    assert_eq!(
        net.block_number().await,
        paused_at,
        "same height, new block"
    );
    let granted_at = grant_pauser(&net, net.outsider.address()).await;
    assert_eq!(granted_at, paused_at + 1);

    calls.lock().expect("lock").clear();
    let (summary, events) = once(&d, None, Some(Box::new(Recorder(calls.clone())))).await;
    assert_eq!(
        (summary.reorgs, summary.retracted, summary.raised),
        (1, 1, 1)
    );
    let order: Vec<(&str, String, u64)> = events
        .iter()
        .map(|e| match e {
            MonitorEvent::Retracted(a) => ("retracted", event_name(a), a.found.block_number),
            MonitorEvent::Raised(a) => ("raised", event_name(a), a.found.block_number),
            MonitorEvent::Owed(a) => ("owed", event_name(a), a.found.block_number),
        })
        .collect();
    assert_eq!(
        order,
        [
            ("retracted", "Paused".to_string(), paused_at),
            ("raised", "RoleGranted".to_string(), granted_at),
        ]
    );
    assert_eq!(
        *calls.lock().expect("lock"),
        [
            format!("rewind {}", paused_at - 1),
            format!("block {paused_at}"),
            format!("block {granted_at}"),
        ],
        "the rules forget the orphaned block, then see the new canonical ones"
    );
    let stored = d.store.alert(orphaned.id).expect("q").expect("kept");
    assert_eq!(stored.status, AlertStatus::Retracted);
    let alerts = all(&d, "privileged");
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1].status, AlertStatus::Open);
    assert_eq!(alerts[1].found.severity, Severity::Critical);
    let canonical = net.client.provider().clone();
    let block = alloy::providers::Provider::get_block_by_number(&canonical, paused_at.into())
        .await
        .expect("block")
        .expect("exists");
    assert_ne!(block.header.hash, orphaned.found.block_hash);
    net.devnet.stop().await;
}

#[tokio::test]
async fn a_following_monitor_raises_new_blocks_alerts_and_stops_when_told() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |m| m.monitor.poll_interval_ms = 20).await;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let following = monitor::run(
        &d,
        MonitorOptions {
            events: Some(events_tx),
            stop: Some(stop_rx),
            ..MonitorOptions::default()
        },
    );
    let driver = async {
        let paused_at = pause_registry(&net, true).await;
        // The first block it sees is the head it starts at (the last of the deployment): wait
        // for the pause's alert.
        let raised = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            loop {
                match events.recv().await.expect("an event") {
                    MonitorEvent::Raised(a) if a.found.block_number < paused_at => {}
                    other => break other,
                }
            }
        })
        .await
        .expect("an alert before the timeout");
        stop_tx.send(true).expect("stop");
        (paused_at, raised)
    };
    let (results, (paused_at, raised)) = tokio::join!(following, driver);
    let MonitorEvent::Raised(alert) = raised else {
        panic!("{raised:?}");
    };
    assert_eq!(
        (event_name(&alert), alert.found.block_number),
        ("Paused".to_string(), paused_at)
    );
    let summary = results[0].1.as_ref().expect("stopped cleanly");
    assert!(summary.cursor >= Some(paused_at), "{summary:?}");
    net.devnet.stop().await;
}

#[tokio::test]
async fn the_manifests_rules_are_evaluated_on_every_block_beside_the_built_in_ones() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&path, true).expect("write");
    let rules = "\n[[rules]]\nname = \"registration-burst\"\nkind = \"rate\"\ncontracts = [\"registry\"]\nevent = \"DocumentRegistered\"\nwindow_blocks = 10\nthreshold = 2\nseverity = \"warning\"\n";
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("{text}{rules}")).expect("append");
    let d = Deployment::open(&path, None, &|_| None)
        .await
        .expect("open");
    let engines = monitor::configured_rules(&d).await.expect("rules");
    assert_eq!(engines.keys().collect::<Vec<_>>(), ["local"]);

    let start = net.block_number().await + 1;
    let user = net.as_signer(&net.account(6));
    let registry = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), user);
    let fee = registry.registrationFee().call().await.expect("fee");
    for n in 0..3 {
        send_ok!(
            registry
                .registerDocument(doc(100 + n), doc(n), Address::ZERO)
                .value(fee)
        );
    }
    let results = monitor::run(
        &d,
        MonitorOptions {
            from_block: Some(start),
            once: true,
            rules: engines,
            ..MonitorOptions::default()
        },
    )
    .await;
    results[0].1.as_ref().expect("monitor --once");
    let burst = all(&d, "registration-burst");
    assert_eq!(burst.len(), 1, "{burst:#?}");
    assert_eq!(
        (burst[0].found.severity, burst[0].found.block_number),
        (Severity::Warning, start + 2),
        "the third registration exceeds the threshold of 2"
    );
    net.devnet.stop().await;
}

#[tokio::test]
async fn new_heads_arrive_through_a_websocket_subscription_where_the_chain_has_one() {
    let net = testnet().await;
    let ws = format!("ws://127.0.0.1:{}", net.devnet.anvils[0].port);
    // Polling alone would wait ten minutes for the next block: only the subscription is sooner.
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        let chain = m.chains.get_mut("local").expect("local");
        chain.rpc_urls = vec![ws.parse().expect("ws url")];
        m.monitor.poll_interval_ms = 600_000;
    })
    .await;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let following = monitor::run(
        &d,
        MonitorOptions {
            events: Some(events_tx),
            stop: Some(stop_rx),
            ..MonitorOptions::default()
        },
    );
    let driver = async {
        // The first pass (up to the head at start) is done once the cursor is stored.
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while d.store.cursor(31337).expect("cursor").is_none() {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the first pass finishes");
        let paused_at = pause_registry(&net, true).await;
        let raised = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            loop {
                match events.recv().await.expect("an event") {
                    MonitorEvent::Raised(a) if a.found.block_number < paused_at => {}
                    other => break other,
                }
            }
        })
        .await
        .expect("the pause's alert, woken by the subscription");
        stop_tx.send(true).expect("stop");
        (paused_at, raised)
    };
    let (results, (paused_at, raised)) = tokio::join!(following, driver);
    let MonitorEvent::Raised(alert) = raised else {
        panic!("{raised:?}");
    };
    assert_eq!(alert.found.block_number, paused_at);
    results[0].1.as_ref().expect("stopped cleanly");
    net.devnet.stop().await;
}
