//! Endpoints as hosted providers run them: rate limits that pass, reverts that do not, broadcasts
//! a node already has, `https://` and `wss://` behind a private CA (trusted through
//! `SSL_CERT_FILE`), and WebSocket endpoints for reads, transactions and new-head subscriptions.

use std::time::Duration;

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder as _, TransactionBuilder as _},
    primitives::{U256, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use bindings::DocumentRegistry;
use futures::StreamExt;
use guardian::{
    chain::{ChainClient, ws::pubsub_provider},
    config::{ContractKind, Manifest, RpcSettings, SignerConfig},
    response::pause::Selection,
    secret::RpcUrl,
    status,
};

use crate::{
    response::{is_paused, open, request, run},
    support::{
        proxy::{self, Behaviour, Counts},
        testnet, tls,
    },
};

/// Points the only chain of `manifest` at `urls`, in that order.
fn through(urls: &[&str]) -> impl FnOnce(&mut Manifest) {
    let urls: Vec<RpcUrl> = urls.iter().map(|u| u.parse().expect("url")).collect();
    move |m: &mut Manifest| {
        m.chains.get_mut("local").expect("chain").rpc_urls = urls;
    }
}

async fn connect(urls: &[&str]) -> ChainClient {
    let urls: Vec<RpcUrl> = urls.iter().map(|u| u.parse().expect("url")).collect();
    ChainClient::connect("local", &urls, Some(31337), &RpcSettings::default())
        .await
        .expect("connect")
}

#[tokio::test]
async fn a_rate_limited_first_endpoint_still_gets_everything_paused() {
    let net = testnet().await;
    let upstream = net.devnet.anvils[0].url.expose().to_string();
    let limited = proxy::start_with(
        &upstream,
        Behaviour {
            rate_limit_first: usize::MAX,
            ..Behaviour::default()
        },
    )
    .await;
    let healthy = proxy::start(&upstream, Default::default()).await;
    let (d, _dir) = open(&net.devnet.manifest, through(&[&limited.url, &healthy.url])).await;
    assert!(d.unreachable.is_empty(), "{:?}", d.unreachable);
    let report = run(&d, &request(true, Selection::All))
        .await
        .expect("pause --all");
    assert!(report.ok(), "{report:#?}");
    for kind in [
        ContractKind::DocumentRegistry,
        ContractKind::OwnershipTokenizer,
        ContractKind::PaymentEscrow,
    ] {
        assert!(is_paused(&net, kind).await, "{kind:?} paused");
    }
    assert!(Counts::get(&limited.counts.rate_limited) > 0);
}

#[tokio::test]
async fn an_only_endpoint_that_rate_limits_a_few_requests_is_asked_again() {
    let net = testnet().await;
    let upstream = net.devnet.anvils[0].url.expose().to_string();
    let flaky = proxy::start_with(
        &upstream,
        Behaviour {
            rate_limit_first: 3,
            ..Behaviour::default()
        },
    )
    .await;
    let started = std::time::Instant::now();
    // Connecting reads the chain id: refused three times, then answered.
    let client = connect(&[&flaky.url]).await;
    assert_eq!(client.chain_id, 31337);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the pauses stay short: {:?}",
        started.elapsed()
    );
    assert_eq!(Counts::get(&flaky.counts.rate_limited), 3);
    assert_eq!(Counts::get(&flaky.counts.requests), 4);
    let head = client.provider().get_block_number().await.expect("read");
    assert!(head > 0);
}

#[tokio::test]
async fn a_revert_is_answered_at_once_and_never_asked_again() {
    let net = testnet().await;
    let upstream = net.devnet.anvils[0].url.expose().to_string();
    let first = proxy::start(&upstream, Default::default()).await;
    let second = proxy::start(&upstream, Default::default()).await;
    let client = connect(&[&first.url, &second.url]).await;
    let before = Counts::get(&first.counts.requests);
    // An outsider may not pause: the node answers with a revert.
    let registry = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        client.provider().clone(),
    );
    let err = registry
        .pause()
        .from(net.outsider.address())
        .call()
        .await
        .expect_err("reverts");
    assert!(
        err.as_revert_data().is_some(),
        "the revert comes back as itself: {err}"
    );
    assert_eq!(
        Counts::get(&first.counts.requests),
        before + 1,
        "asked once"
    );
    assert_eq!(
        Counts::get(&second.counts.requests),
        0,
        "the next endpoint is not asked"
    );
}

#[tokio::test]
async fn a_broadcast_the_node_already_has_is_accepted() {
    let net = testnet().await;
    let upstream = net.devnet.anvils[0].url.expose().to_string();
    let knowing = proxy::start_with(
        &upstream,
        Behaviour {
            already_known: true,
            ..Behaviour::default()
        },
    )
    .await;
    let client = connect(&[&knowing.url]).await;
    let sender = net.account(7);
    let tx = TransactionRequest::default()
        .with_from(sender.address())
        .with_to(net.outsider.address())
        .with_value(U256::from(1))
        .with_nonce(net.nonce(sender.address()).await)
        .with_chain_id(31337)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(100_000_000_000)
        .with_max_priority_fee_per_gas(1_000_000_000);
    let signed = tx
        .build(&EthereumWallet::from(sender.key().clone()))
        .await
        .expect("sign");
    let raw = signed.encoded_2718();
    let pending = client
        .provider()
        .send_raw_transaction(&raw)
        .await
        .expect("\"already known\" means accepted");
    assert_eq!(*pending.tx_hash(), keccak256(&raw));
    // And the node does have it: it gets mined.
    let receipt = pending
        .with_timeout(Some(Duration::from_secs(10)))
        .get_receipt()
        .await
        .expect("mined");
    assert!(receipt.status());
}

fn guardian(dir: &std::path::Path) -> std::process::Command {
    crate::support::bin::command(dir)
}

fn output(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn status_and_pause_work_over_https_with_a_certificate_trusted_through_ssl_cert_file() {
    let net = testnet().await;
    let anvil = format!("127.0.0.1:{}", net.devnet.anvils[0].port);
    let endpoint = tls::start(anvil.parse().expect("addr")).await;
    let key = alloy::hex::encode(net.pauser.key().to_bytes());
    let write = |url: &str| {
        let dir = tempfile::tempdir().expect("tmp");
        let mut m = net.devnet.manifest.clone();
        through(&[url])(&mut m);
        m.signers.clear();
        m.signers.insert(
            "oncall".into(),
            SignerConfig {
                private_key_env: Some("GUARDIAN_PAUSER_KEY".into()),
                ..Default::default()
            },
        );
        m.write(&dir.path().join("guardian.toml"), true)
            .expect("write");
        dir
    };

    // Not trusted: a clear certificate error, no panic, nothing of the URL's path or query.
    let secret = "SECRETPATH";
    let dir = write(&format!("{}/v2/{secret}?key={secret}", endpoint.url));
    let o = tokio::task::spawn_blocking({
        let mut cmd = guardian(dir.path());
        cmd.env("GUARDIAN_PAUSER_KEY", &key)
            .args(["pause", "--all", "--reason", "drill"]);
        move || cmd.output().expect("run")
    })
    .await
    .expect("join");
    let out = output(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("certificate"), "{out}");
    assert!(out.contains("SSL_CERT_FILE"), "says what to do: {out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(!out.contains(secret), "the URL's path leaked: {out}");
    assert!(!is_paused(&net, ContractKind::DocumentRegistry).await);

    // SSL_CERT_FILE naming no file: https:// fails saying why, http:// still works.
    let missing = dir.path().join("no-such-ca.pem");
    let run_with = |dir: &std::path::Path, ca: &std::path::Path, args: &'static [&'static str]| {
        let mut cmd = guardian(dir);
        cmd.env("GUARDIAN_PAUSER_KEY", &key)
            .env("SSL_CERT_FILE", ca)
            .args(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("run"))
    };
    let o = run_with(dir.path(), &missing, &["status"])
        .await
        .expect("join");
    let out = output(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("SSL_CERT_FILE=") && out.contains("cannot be read"),
        "{out}"
    );
    assert!(!out.contains("panicked") && !out.contains(secret), "{out}");
    let plain = write(net.devnet.anvils[0].url.expose().as_str());
    let o = run_with(plain.path(), &missing, &["status"])
        .await
        .expect("join");
    assert!(o.status.success(), "{}", output(&o));

    // Trusted through SSL_CERT_FILE: status reads, pause --all pauses.
    let dir = write(&endpoint.url);
    let run_with_ca = |args| run_with(dir.path(), &endpoint.ca_file, args);
    let o = run_with_ca(&["status", "--json"]).await.expect("join");
    assert!(o.status.success(), "{}", output(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        json["contracts"]
            .as_array()
            .expect("contracts")
            .iter()
            .any(|c| c["paused"] == false),
        "{json}"
    );
    // wss:// checks certificates the same way (alloy's own WebSocket client would not read
    // SSL_CERT_FILE).
    let wss = write(&endpoint.url.replace("https://", "wss://"));
    let o = run_with(wss.path(), &endpoint.ca_file, &["status"])
        .await
        .expect("join");
    assert!(o.status.success(), "status over wss: {}", output(&o));
    let o = run_with_ca(&["pause", "--all", "--reason", "drill"])
        .await
        .expect("join");
    assert!(o.status.success(), "{}", output(&o));
    for kind in [
        ContractKind::DocumentRegistry,
        ContractKind::OwnershipTokenizer,
        ContractKind::PaymentEscrow,
    ] {
        assert!(is_paused(&net, kind).await, "{kind:?} paused");
    }
}

#[tokio::test]
async fn a_websocket_only_endpoint_reads_and_pauses() {
    let net = testnet().await;
    let ws = format!("ws://127.0.0.1:{}", net.devnet.anvils[0].port);
    let (d, _dir) = open(&net.devnet.manifest, through(&[&ws])).await;
    assert!(d.unreachable.is_empty(), "{:?}", d.unreachable);
    let st = status::read(&d).await;
    let registry = st
        .contracts
        .iter()
        .find(|c| c.kind == ContractKind::DocumentRegistry)
        .expect("registry");
    assert_eq!(registry.paused, Some(false), "{st:#?}");
    let report = run(&d, &request(true, Selection::All))
        .await
        .expect("pause --all");
    assert!(report.ok(), "{report:#?}");
    let st = status::read(&d).await;
    for c in st.contracts.iter().filter(|c| c.kind.is_pausable()) {
        assert_eq!(c.paused, Some(true), "{} read over ws", c.name);
    }
    assert!(is_paused(&net, ContractKind::PaymentEscrow).await);
}

#[tokio::test]
async fn new_heads_arrive_through_a_websocket_subscription() {
    let net = testnet().await;
    let ws: RpcUrl = format!("ws://127.0.0.1:{}", net.devnet.anvils[0].port)
        .parse()
        .expect("url");
    let provider = pubsub_provider(&ws).await.expect("connect");
    let mut heads = provider
        .subscribe_blocks()
        .await
        .expect("eth_subscribe newHeads")
        .into_stream();
    let before = net.block_number().await;
    let _: serde_json::Value = net
        .client
        .provider()
        .raw_request("evm_mine".into(), ())
        .await
        .expect("mine");
    let head = tokio::time::timeout(Duration::from_secs(10), heads.next())
        .await
        .expect("a head within 10 s")
        .expect("stream open");
    assert_eq!(head.number, before + 1);

    let http = net.devnet.anvils[0].url.clone();
    assert!(
        pubsub_provider(&http).await.is_err(),
        "subscriptions need a WebSocket URL"
    );
}
