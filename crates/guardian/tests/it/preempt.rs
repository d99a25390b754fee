//! Pre-emptive pausing with mining held (automine off, blocks mined by the test): a pending
//! drain is answered by a pause mined ahead of it in the same block; ordinary pending traffic
//! and a transaction whose simulation fails are never pre-empted.

use std::time::Duration;

use alloy::{
    primitives::{Address, TxHash, U256},
    providers::Provider,
};
use bindings::PaymentEscrow;
use guardian::{
    alert::AlertStatus,
    config::ContractKind,
    deployment::Deployment,
    monitor::{self, MonitorOptions},
    notify::Contacts,
    service::Service,
};

use crate::{
    mempool::{hold, mine, register, ws_url},
    response::{no_env, rpc},
    send_ok,
    support::{
        TestNet, doc,
        proxy::{self, Behaviour},
        testnet,
    },
};

const ETH: u64 = 1_000_000_000_000_000_000;

/// The testnet's manifest with a WebSocket endpoint and a pre-empting drain rule, opened.
async fn deployment(net: &TestNet, dir: &std::path::Path) -> Deployment {
    let mut manifest = net.devnet.manifest.clone();
    for chain in manifest.chains.values_mut() {
        chain.rpc_urls.push(ws_url(net));
    }
    deployment_of(&manifest, dir).await
}

/// `manifest` with a pre-empting drain rule, written to `dir` and opened.
async fn deployment_of(manifest: &guardian::config::Manifest, dir: &std::path::Path) -> Deployment {
    let path = dir.join("guardian.toml");
    manifest.write(&path, true).expect("write");
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str(
        r#"
[[rules]]
name = "escrow-drain"
kind = "outflow"
contracts = ["PaymentEscrow"]
window_blocks = 3
max_amount = "1 ether"
severity = "critical"
respond = "pause-all"
preempt = true
"#,
    );
    std::fs::write(&path, text).expect("write rules");
    Deployment::open(&path, None, &no_env).await.expect("open")
}

/// The pool's pending transactions, by hash.
async fn pool(net: &TestNet) -> Vec<(TxHash, Address)> {
    let content = rpc(net, "txpool_content", serde_json::json!([])).await;
    let mut out = Vec::new();
    for (from, by_nonce) in content["pending"].as_object().into_iter().flatten() {
        for tx in by_nonce.as_object().into_iter().flatten().map(|(_, t)| t) {
            let hash = tx["hash"]
                .as_str()
                .and_then(|h| h.parse().ok())
                .expect("hash");
            out.push((hash, from.parse().expect("from")));
        }
    }
    out
}

/// Waits up to `within` for the pool to hold at least `n` transactions.
async fn pool_reaches(net: &TestNet, n: usize, within: Duration) -> Vec<(TxHash, Address)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let p = pool(net).await;
        if p.len() >= n || tokio::time::Instant::now() > deadline {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs `script` while the monitor follows `d` with its mempool watched.
async fn with_monitor<F: std::future::Future<Output = ()>>(d: &Deployment, script: F) {
    let plan = monitor::preempt::plan(d).await.expect("plan");
    assert!(
        plan.iter().all(|p| p.capabilities.usable()),
        "anvil offers it all"
    );
    let rules = monitor::configured_rules(d).await.expect("rules");
    let contacts = std::sync::Arc::new(Contacts::load(&d.manifest, &no_env));
    let service = Service::new(d, contacts)
        .await
        .expect("service")
        .monitor(MonitorOptions {
            rules,
            mempool: plan,
            ..MonitorOptions::default()
        });
    let ran = service.run(None, |_, _| {}, script).await;
    assert!(
        ran.body.is_some(),
        "the script ran to its end: {:?}",
        ran.chains
    );
}

#[tokio::test]
async fn a_pending_drain_is_paused_ahead_of_it_and_ordinary_traffic_is_not() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = deployment(&net, dir.path()).await;
    let user = net.as_signer_uncached(&net.account(6));
    register(&net, &user).await;
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let escrow = PaymentEscrow::new(escrow_addr, user.clone());
    let payee = net.account(7).address();
    let (five, small) = (U256::from(5 * ETH), U256::from(ETH / 5));
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, five, payee)
            .value(five)
    );
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, small, payee)
            .value(small)
    );
    let held_before = net.balance(escrow_addr).await;

    with_monitor(&d, async {
        hold(&net).await;
        // Ordinary traffic: a small release (within the rule) waits in the pool, unanswered.
        let small_release = escrow
            .release(U256::from(2))
            .send()
            .await
            .expect("send")
            .tx_hash()
            .to_owned();
        let p = pool_reaches(&net, 2, Duration::from_millis(1500)).await;
        assert_eq!(
            p.iter().map(|x| x.0).collect::<Vec<_>>(),
            [small_release],
            "nothing answers ordinary traffic"
        );
        mine(&net).await;

        // The drain: the 5 ETH release is answered while it is still pending.
        let drain = escrow
            .release(U256::from(1))
            .gas(300_000)
            .send()
            .await
            .expect("send")
            .tx_hash()
            .to_owned();
        let p = pool_reaches(&net, 2, Duration::from_secs(15)).await;
        assert_eq!(p.len(), 2, "the pause joined the drain in the pool: {p:?}");
        mine(&net).await;
        let receipt = |h| {
            let r = net.reader();
            async move {
                r.get_transaction_receipt(h)
                    .await
                    .expect("rpc")
                    .expect("mined")
            }
        };
        let drained = receipt(drain).await;
        let pause = p.iter().find(|x| x.0 != drain).expect("pause").0;
        let paused = receipt(pause).await;
        assert_eq!(paused.block_number, drained.block_number, "the same block");
        assert!(
            paused.transaction_index < drained.transaction_index,
            "the pause first"
        );
        assert!(paused.status() && !drained.status(), "the drain reverted");
        // No wait here: the service dispatches every event (the response records its evidence)
        // before it returns.
    })
    .await;

    assert_eq!(
        net.balance(escrow_addr).await,
        held_before - small,
        "only the small release left"
    );
    let alerts = d.store.alerts(&Default::default()).expect("alerts");
    let pending: Vec<_> = alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Pending)
        .collect();
    assert_eq!(pending.len(), 1, "one pending alert: {alerts:#?}");
    assert_eq!(pending[0].found.rule, "escrow-drain");
    let incident = d
        .store
        .incidents(false)
        .expect("incidents")
        .pop()
        .expect("an incident");
    assert_eq!(incident.level, 3);
    let (timeline, _) = d.store.timeline(incident.id).expect("timeline");
    let evidence = timeline
        .iter()
        .find(|e| e.kind == "preemption")
        .expect("preemption recorded");
    assert_eq!(evidence.details["effect"]["taken"], (5 * ETH).to_string());
    assert!(evidence.details["pending_tx"]["hash"].is_string());
}

#[tokio::test]
async fn a_transaction_whose_simulation_fails_is_never_pre_empted() {
    let net = testnet().await;
    // Reads and sends go through a proxy whose simulations fail (the capability probes pass);
    // the pending transactions still arrive over anvil's WebSocket.
    let proxy = proxy::start_with(
        net.devnet.anvils[0].url.expose().as_str(),
        Behaviour {
            failing_simulations: true,
            ..Behaviour::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut net_via_proxy = net.devnet.manifest.clone();
    for chain in net_via_proxy.chains.values_mut() {
        chain.rpc_urls = vec![proxy.url.parse().expect("url"), ws_url(&net)];
    }
    let d = deployment_of(&net_via_proxy, dir.path()).await;
    let user = net.as_signer_uncached(&net.account(6));
    register(&net, &user).await;
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let escrow = PaymentEscrow::new(escrow_addr, user.clone());
    let five = U256::from(5 * ETH);
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, five, net.account(7).address())
            .value(five)
    );

    with_monitor(&d, async {
        hold(&net).await;
        let drain = escrow
            .release(U256::from(1))
            .gas(300_000)
            .send()
            .await
            .expect("send")
            .tx_hash()
            .to_owned();
        let p = pool_reaches(&net, 2, Duration::from_millis(2000)).await;
        assert_eq!(
            p.iter().map(|x| x.0).collect::<Vec<_>>(),
            [drain],
            "no pause joined it: {p:?}"
        );
    })
    .await;
    let alerts = d.store.alerts(&Default::default()).expect("alerts");
    assert!(
        alerts.iter().all(|a| a.status != AlertStatus::Pending),
        "{alerts:#?}"
    );
    assert!(d.store.incidents(false).expect("incidents").is_empty());
}

#[tokio::test]
async fn a_node_without_the_methods_is_named_at_start_and_followed_block_by_block() {
    use tokio::io::AsyncBufReadExt;
    let net = testnet().await;
    let proxy = proxy::start_with(
        net.devnet.anvils[0].url.expose().as_str(),
        Behaviour {
            missing_methods: &["txpool_content", "debug_traceCall", "eth_simulateV1"],
            ..Behaviour::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut manifest = net.devnet.manifest.clone();
    for chain in manifest.chains.values_mut() {
        chain.rpc_urls = vec![proxy.url.parse().expect("url")];
    }
    let d = deployment_of(&manifest, dir.path()).await;
    drop(d);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .args(["monitor", "--mempool"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("guardian runs");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
            if seen.iter().any(|l| l.contains("preempt = true")) {
                break;
            }
        }
    })
    .await;
    let _ = child.kill().await;
    assert!(read.is_ok(), "no start report: {seen:?}");
    let text = seen.join("\n");
    assert!(text.contains("mempool of local: NOT watched"), "{text}");
    assert!(text.contains("followed block by block only"), "{text}");
    assert!(
        text.contains(
            "rule `escrow-drain` has preempt = true but the mempool of local is not watched"
        ),
        "{text}"
    );
}
