//! Pausing when the network gets in the way: an interrupted run, dead or hanging endpoints, a
//! stuck transaction, ordinary traffic competing for the block.

use std::time::Instant;

use alloy::providers::Provider;
use guardian::{
    config::ContractKind,
    deployment::Deployment,
    response::pause::{self, Outcome},
    storage::Status,
};

use super::{is_paused, named, no_env, open, request, rpc, run, wait_until_in_pool};
use crate::support::testnet;

#[tokio::test]
async fn an_interrupted_run_is_finished_without_duplicates() {
    let net = testnet().await;
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let (d, dir) = open(&net.devnet.manifest, |_| {}).await;
    let path = dir.path().join("guardian.toml");
    let nonce = net.nonce(net.pauser.address()).await;

    // First run: sends, then is killed while the transaction waits in the pool.
    let first = tokio::spawn(async move {
        let d = Deployment::open(&path, None, &no_env).await.expect("open");
        let _ = pause::run(
            &d,
            &request(true, named(&["registry"])),
            Instant::now(),
            &|_| {},
        )
        .await;
    });
    wait_until_in_pool(&net, &d, net.pauser.address()).await;
    first.abort();
    let _ = first.await;
    assert!(
        !is_paused(&net, ContractKind::DocumentRegistry).await,
        "not mined yet"
    );

    // Second run: finds the pending transaction and waits for it instead of sending another.
    let mine = async {
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            rpc(&net, "evm_mine", serde_json::json!([])).await;
        }
    };
    let req = request(true, named(&["registry"]));
    let (report, _) = tokio::join!(run(&d, &req), mine);
    let report = report.expect("re-run");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.targets[0].outcome, Outcome::Changed);
    assert_eq!(report.transactions, 0, "the re-run sent nothing new");
    assert_eq!(
        net.nonce(net.pauser.address()).await,
        nonce + 1,
        "exactly one transaction was ever sent"
    );
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
}

/// Waits until a transaction `sender` journaled has reached the node's pool (the node is polled,
/// not guessed at with a sleep).
async fn hanging_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

#[tokio::test]
async fn a_hanging_first_endpoint_is_hedged_long_before_its_timeout() {
    let net = testnet().await;
    let (hanging, _task) = hanging_endpoint().await;
    let connect_and_pause = async {
        let (d, dir) = open(&net.devnet.manifest, |m| {
            // Without hedging, connecting and the first requests would wait out this minute.
            m.rpc.request_timeout_ms = 60_000;
            m.rpc.hedge_after_ms = Some(100);
            let chain = m.chains.get_mut("local").expect("chain");
            chain.rpc_urls.insert(0, hanging.parse().expect("url"));
        })
        .await;
        assert!(d.unreachable.is_empty(), "the second endpoint answers");
        let report = run(&d, &request(true, named(&["registry", "escrow"]))).await;
        (report, dir)
    };
    let (report, _dir) =
        tokio::time::timeout(std::time::Duration::from_secs(30), connect_and_pause)
            .await
            .expect("done long before the 60 s request timeout");
    let report = report.expect("pause");
    assert!(report.ok(), "{report:#?}");
}

#[tokio::test]
async fn a_dead_or_hanging_first_endpoint_costs_one_timeout() {
    let net = testnet().await;
    let (hanging, _task) = hanging_endpoint().await;
    for dead in [hanging.as_str(), "http://127.0.0.1:9"] {
        let (d, _dir) = open(&net.devnet.manifest, |m| {
            m.rpc.request_timeout_ms = 300;
            let chain = m.chains.get_mut("local").expect("chain");
            chain.rpc_urls.insert(0, dead.parse().expect("url"));
        })
        .await;
        assert!(d.unreachable.is_empty(), "the second endpoint answers");
        let report = run(&d, &request(true, named(&["registry", "escrow"])))
            .await
            .expect("pause");
        assert!(report.ok(), "{report:#?}");
        let report = run(&d, &request(false, named(&["registry", "escrow"])))
            .await
            .expect("unpause");
        assert!(report.ok(), "{report:#?}");
    }
    // Every endpoint dead: a clear error naming none of the secrets in the URL.
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        m.rpc.request_timeout_ms = 200;
        m.chains.get_mut("local").expect("chain").rpc_urls =
            vec!["http://127.0.0.1:9/v2/APIKEY123".parse().expect("url")];
    })
    .await;
    let err = d.unreachable.get("local").expect("unreachable").to_string();
    assert!(
        err.contains("no RPC endpoint answered") && !err.contains("APIKEY123"),
        "{err}"
    );
    let report = run(&d, &request(true, named(&["registry"])))
        .await
        .expect("runs");
    assert!(!report.ok(), "an unreachable chain is a failure");
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_a_higher_fee() {
    let net = testnet().await;
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let (d, _dir) = open(&net.devnet.manifest, |m| m.rpc.replace_after_blocks = 1).await;
    let pauser = net.pauser.address();

    let pool_fee = || async {
        let content = rpc(&net, "txpool_content", serde_json::json!([])).await;
        let txs = content["pending"][pauser.to_string().to_lowercase()]
            .as_object()
            .cloned()
            .unwrap_or_default();
        txs.values().next().and_then(|tx| {
            tx["maxFeePerGas"]
                .as_str()
                .map(|s| u128::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex"))
        })
    };
    let driver = async {
        let mut original = None;
        for _ in 0..200 {
            if let Some(fee) = pool_fee().await {
                original = Some(fee);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let m = original.expect("the pause reached the pool");
        // A block whose base fee is just above the offered max fee: the transaction is stuck.
        rpc(
            &net,
            "anvil_setNextBlockBaseFeePerGas",
            serde_json::json!([format!("0x{:x}", m + 1)]),
        )
        .await;
        rpc(&net, "evm_mine", serde_json::json!([])).await;
        let mut replaced = None;
        for _ in 0..200 {
            match pool_fee().await {
                Some(fee) if fee > m => {
                    replaced = Some(fee);
                    break;
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        let r = replaced.expect("a replacement with a higher fee");
        assert!(r * 10 >= m * 11, "at least a 10% bump: {m} -> {r}");
        rpc(
            &net,
            "anvil_setNextBlockBaseFeePerGas",
            serde_json::json!([format!("0x{:x}", m + 1)]),
        )
        .await;
        rpc(&net, "evm_mine", serde_json::json!([])).await;
    };
    let req = request(true, named(&["registry"]));
    let (report, ()) = tokio::join!(run(&d, &req), driver);
    let report = report.expect("pause");
    assert!(report.ok(), "{report:#?}");
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert_eq!(txs.len(), 2, "the original and its replacement: {txs:#?}");
    assert_eq!(txs[0].nonce, txs[1].nonce, "same nonce");
    assert_eq!(txs[0].status, Status::Replaced);
    assert_eq!(txs[1].status, Status::Mined);
    assert_eq!(report.targets[0].tx, Some(txs[1].tx_hash));
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
}

#[tokio::test]
async fn a_pause_outbids_ordinary_traffic_and_an_unpause_does_not() {
    use alloy::consensus::Transaction as _;
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let tip_of = |hash| {
        let reader = net.reader();
        async move {
            reader
                .get_transaction_by_hash(hash)
                .await
                .expect("rpc")
                .expect("tx")
                .inner
                .max_priority_fee_per_gas()
                .expect("eip-1559")
        }
    };
    let floor = d.manifest.rpc.pause_tip_wei();
    let paused = run(&d, &request(true, named(&["registry"])))
        .await
        .expect("pause");
    let tip = tip_of(paused.targets[0].tx.expect("sent")).await;
    assert!(tip >= floor, "pause tip {tip} below the floor {floor}");
    let resumed = run(&d, &request(false, named(&["registry"])))
        .await
        .expect("unpause");
    let tip = tip_of(resumed.targets[0].tx.expect("sent")).await;
    assert!(
        tip < floor,
        "an unpause is not urgent: it pays the ordinary tip, got {tip}"
    );
}
