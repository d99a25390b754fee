//! The emergency pause through congestion, with mining held (automine off, `evm_mine` from the
//! test) and order asserted: a pool stuffed by transactions paying more than the node suggests, a
//! base fee that jumps between blocks, a stuck lower-nonce transaction of the pause key, a chain
//! without EIP-1559, and private endpoints that an attacker watching the public pool cannot see.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    consensus::Transaction as _,
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use guardian::{
    anvil::{Anvil, AnvilOptions},
    chain::{Call, ChainClient, Preflight, Signer, send_all},
    config::{ContractKind, RpcSettings},
};

use super::{is_paused, named, open, request, rpc, run, wait_until_in_pool};
use crate::support::{TestNet, anvil_path, testnet};

const GWEI: u128 = 1_000_000_000;

/// Fills the pool with `n` plain transfers from a dev account paying `tip` and `max_fee`.
async fn stuff(net: &TestNet, n: u64, tip: u128, max_fee: u128) {
    let loader = net.account(7);
    let p = net.as_signer_uncached(&loader);
    let first = net.nonce(loader.address()).await;
    for k in 0..n {
        let tx = TransactionRequest::default()
            .with_to(Address::repeat_byte(0x11))
            .with_value(U256::from(1))
            .with_nonce(first + k)
            .with_gas_limit(21_000)
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(tip);
        let _ = p.send_transaction(tx).await.expect("load transaction");
    }
}

/// How many transactions of `sender` wait in the node's pool.
async fn in_pool(net: &TestNet, sender: Address) -> usize {
    let content = rpc(net, "txpool_content", serde_json::json!([])).await;
    content["pending"][sender.to_string().to_lowercase()]
        .as_object()
        .map_or(0, |o| o.len())
}

/// The max fee of `sender`'s lowest-nonce transaction in the pool, once it is there and above
/// `above`.
async fn pool_max_fee_above(net: &TestNet, sender: Address, above: u128) -> u128 {
    for _ in 0..500 {
        let content = rpc(net, "txpool_content", serde_json::json!([])).await;
        let fee = content["pending"][sender.to_string().to_lowercase()]
            .as_object()
            .and_then(|o| {
                o.iter()
                    .min_by_key(|(nonce, _)| nonce.parse::<u64>().unwrap_or(u64::MAX))
                    .map(|(_, tx)| tx.clone())
            })
            .and_then(|tx| tx["maxFeePerGas"].as_str().map(str::to_string))
            .map(|s| u128::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex"));
        if let Some(fee) = fee.filter(|f| *f > above) {
            return fee;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no transaction of {sender} above {above} reached the pool");
}

async fn mine(net: &TestNet) -> u64 {
    rpc(net, "evm_mine", serde_json::json!([])).await;
    net.block_number().await
}

#[tokio::test]
async fn a_pause_into_a_pool_stuffed_above_the_suggested_fees_is_in_the_next_block() {
    let net = testnet().await;
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    // Blocks of 1.5M gas: 71 transfers fill one; 150 wait, paying a 20 gwei tip and 500 gwei max
    // fee, far above what the node suggests.
    rpc(
        &net,
        "evm_setBlockGasLimit",
        serde_json::json!(["0x16e360"]),
    )
    .await;
    stuff(&net, 150, 20 * GWEI, 500 * GWEI).await;
    let suggested = net.client.provider().get_gas_price().await.expect("price");
    assert!(suggested < 20 * GWEI, "the load outbids the suggestion");

    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let req = request(true, named(&["registry"]));
    let pauser = net.pauser.address();
    let driver = async {
        wait_until_in_pool(&net, &d, pauser).await;
        mine(&net).await
    };
    let (report, block) = tokio::join!(run(&d, &req), driver);
    let report = report.expect("pause");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(
        report.targets[0].block,
        Some(block),
        "in the very next block"
    );
    assert!(
        in_pool(&net, net.account(7).address()).await > 0,
        "the block was full: load still waits behind the pause"
    );
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert_eq!(txs.len(), 1, "no replacement was needed: {txs:#?}");
    let (tip, max_fee) = (
        txs[0].max_priority_fee_per_gas.expect("tip journalled"),
        txs[0].max_fee_per_gas.expect("max fee journalled"),
    );
    assert!(tip > 20 * GWEI && max_fee > 500 * GWEI, "{tip} {max_fee}");
    let reason = txs[0].fee_reason.clone().expect("reason journalled");
    assert!(reason.contains("above the highest"), "{reason}");
}

#[tokio::test]
async fn a_base_fee_that_jumps_past_the_pause_is_followed_the_next_block() {
    let net = testnet().await;
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let pauser = net.pauser.address();
    let req = request(true, named(&["registry"]));
    let driver = async {
        let first = pool_max_fee_above(&net, pauser, 0).await;
        // The next block's base fee jumps fifty-fold past what the pause offers: it is left out.
        let base = first * 50;
        assert!(base < 1_000 * GWEI, "still under the cap");
        rpc(
            &net,
            "anvil_setNextBlockBaseFeePerGas",
            serde_json::json!([format!("0x{base:x}")]),
        )
        .await;
        let skipped = mine(&net).await;
        // Re-priced from the new base fee, not raised by an eighth.
        let replaced = pool_max_fee_above(&net, pauser, base).await;
        (skipped, mine(&net).await, first, replaced)
    };
    let (report, (skipped, next, first, replaced)) = tokio::join!(run(&d, &req), driver);
    let report = report.expect("pause");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.targets[0].block, Some(next));
    assert_eq!(next, skipped + 1, "mined the block after the one it missed");
    assert!(replaced > first * 8, "{first} -> {replaced}");
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert_eq!(txs.len(), 2, "{txs:#?}");
    let why = txs[1].fee_reason.clone().unwrap_or_default();
    assert!(why.starts_with("replacement, re-priced at block"), "{why}");
}

#[tokio::test]
async fn a_stuck_lower_nonce_transaction_of_the_pause_key_is_replaced_first() {
    let net = testnet().await;
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let pauser = net.pauser.address();
    let before = net.nonce(pauser).await;
    // Blocks of 1.5M gas and a pool of transfers paying more than an earlier, cheap transaction of
    // the pause key: it waits behind them, block after block.
    rpc(
        &net,
        "evm_setBlockGasLimit",
        serde_json::json!(["0x16e360"]),
    )
    .await;
    stuff(&net, 150, 20 * GWEI, 500 * GWEI).await;
    let p = net.as_signer_uncached(&net.pauser);
    let cheap = TransactionRequest::default()
        .with_to(Address::repeat_byte(0x22))
        .with_value(U256::from(1))
        .with_nonce(before)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(10 * GWEI)
        .with_max_priority_fee_per_gas(GWEI);
    let _ = p.send_transaction(cheap).await.expect("cheap transaction");
    mine(&net).await;
    assert_eq!(net.nonce(pauser).await, before, "it is stuck");
    assert_eq!(in_pool(&net, pauser).await, 1);

    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let req = request(true, named(&["registry"]));
    let driver = async {
        // The stuck nonce re-sent at the emergency price and the pause behind it reach the
        // pool, then one block is mined.
        for _ in 0..500 {
            let sped_up = pool_max_fee_above(&net, pauser, 10 * GWEI).await > 10 * GWEI;
            if sped_up && in_pool(&net, pauser).await >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        mine(&net).await
    };
    let (report, block) = tokio::join!(run(&d, &req), driver);
    let report = report.expect("pause");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.targets[0].block, Some(block), "in the next block");
    assert_eq!(
        net.nonce(pauser).await,
        before + 2,
        "the stuck nonce went first"
    );
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert!(
        txs.iter()
            .any(|t| t.nonce == before && t.label.starts_with("speed up nonce")),
        "{txs:#?}"
    );
}

/// A local endpoint standing in for a builder or protection RPC: it records every transaction
/// sent to it and answers with its hash, and includes nothing.
async fn recording_endpoint() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let seen: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let store = store.clone();
            async move {
                let raw: Bytes = body["params"][0]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_default();
                let hash = keccak256(&raw);
                store.lock().expect("lock").push(raw);
                axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": body["id"], "result": hash}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn a_private_only_pause_reaches_the_private_endpoint_and_nothing_else_until_the_fallback() {
    let net = testnet().await;
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let (url, seen) = recording_endpoint().await;
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        let chain = m.chains.get_mut("local").expect("chain");
        chain.private_send_urls = vec![url.parse().expect("url")];
        chain.private_only = true;
        chain.private_fallback_blocks = 2;
    })
    .await;
    let pauser = net.pauser.address();
    let req = request(true, named(&["registry"]));
    let driver = async {
        for _ in 0..500 {
            if !seen.lock().expect("lock").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!seen.lock().expect("lock").is_empty(), "sent privately");
        assert_eq!(
            in_pool(&net, pauser).await,
            0,
            "the public pool never saw it"
        );
        mine(&net).await;
        assert_eq!(in_pool(&net, pauser).await, 0, "one block: still private");
        assert!(!is_paused(&net, ContractKind::DocumentRegistry).await);
        mine(&net).await;
        // Two blocks without it: it falls back to the public endpoints.
        for _ in 0..500 {
            if in_pool(&net, pauser).await > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        mine(&net).await
    };
    let (report, block) = tokio::join!(run(&d, &req), driver);
    let report = report.expect("pause");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.targets[0].block, Some(block));
    // Everything the private endpoint received is a signed pause of this key.
    let mined = report.targets[0].tx.expect("tx");
    let received: Vec<_> = seen.lock().expect("lock").iter().map(keccak256).collect();
    assert!(received.contains(&mined), "{received:?} lacks {mined}");
    // The journal holds what every endpoint answered, for every signature: the first public
    // broadcast is the fallback.
    let mut answers = Vec::new();
    for t in d.store.transactions(report.action_id).expect("journal") {
        answers.extend(d.store.broadcasts(t.tx_hash).expect("journal"));
    }
    answers.sort_by_key(|a| a.at);
    assert!(
        answers
            .iter()
            .any(|a| a.tx_hash == mined && a.endpoint.starts_with("private http://127.0.0.1")),
        "{answers:#?}"
    );
    let first_public = answers
        .iter()
        .find(|a| a.endpoint.starts_with("public"))
        .expect("public in the end");
    assert_eq!(
        first_public.endpoint, "public (fallback after 2 block(s))",
        "{answers:#?}"
    );
}

#[tokio::test]
async fn a_pause_goes_to_the_private_endpoints_and_the_public_ones_and_an_unpause_only_public() {
    let net = testnet().await;
    let (url, seen) = recording_endpoint().await;
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        let chain = m.chains.get_mut("local").expect("chain");
        chain.private_send_urls = vec![url.parse().expect("url")];
    })
    .await;
    let paused = run(&d, &request(true, named(&["registry"])))
        .await
        .expect("pause");
    assert!(paused.ok(), "{paused:#?}");
    let tx = paused.targets[0].tx.expect("tx");
    let answers = d.store.broadcasts(tx).expect("journal");
    assert_eq!(answers.len(), 2, "{answers:#?}");
    assert!(
        answers.iter().all(|a| a.answer == "accepted"),
        "{answers:#?}"
    );
    assert_eq!(seen.lock().expect("lock").len(), 1);
    let resumed = run(&d, &request(false, named(&["registry"])))
        .await
        .expect("unpause");
    assert!(resumed.ok(), "{resumed:#?}");
    assert_eq!(
        seen.lock().expect("lock").len(),
        1,
        "an unpause is not an emergency: public endpoints only"
    );
}

/// The gas price of mined transaction `hash`, which must be a legacy one.
async fn legacy_price(client: &ChainClient, hash: alloy::primitives::TxHash) -> u128 {
    let tx = client
        .provider()
        .get_transaction_by_hash(hash)
        .await
        .expect("rpc")
        .expect("tx");
    assert!(
        tx.max_priority_fee_per_gas().is_none(),
        "a legacy transaction"
    );
    tx.gas_price().expect("gas price")
}

#[tokio::test]
async fn a_chain_without_eip1559_gets_legacy_gas_prices() {
    let anvil = Anvil::spawn(&AnvilOptions {
        binary: anvil_path(),
        port: 0,
        chain_id: 31337,
        block_time: None,
        hardfork: Some("berlin".into()),
        pruned: false,
    })
    .await
    .expect("anvil --hardfork berlin");
    let settings = RpcSettings::default();
    let client = ChainClient::connect("old", std::slice::from_ref(&anvil.url), None, &settings)
        .await
        .expect("connect");
    let signer = Signer::dev_account("pauser", 1).expect("dev key");
    let node_price = client.provider().get_gas_price().await.expect("price");
    let to = Address::repeat_byte(0x33);
    let call = |urgent: bool| {
        let c = Call {
            label: "transfer".into(),
            to: Some(to),
            input: Bytes::new(),
            value: U256::from(1),
            urgent: false,
            outbid: None,
            in_flight: None,
        };
        if urgent { c.urgent() } else { c }
    };
    let sent = send_all(
        &client,
        &signer,
        vec![call(true), call(false)],
        None,
        Preflight::BestEffort,
    )
    .await
    .expect("legacy sends");
    // Urgent and ordinary calls of one batch share its emergency price.
    for outcome in sent {
        let price = legacy_price(&client, outcome.expect("mined").tx_hash).await;
        assert!(
            price >= node_price + settings.pause_tip_wei(),
            "the emergency price: the node's plus the floor"
        );
    }
    let ordinary = send_all(
        &client,
        &signer,
        vec![call(false)],
        None,
        Preflight::BestEffort,
    )
    .await
    .expect("legacy send")
    .pop()
    .expect("one")
    .expect("mined");
    assert!(
        legacy_price(&client, ordinary.tx_hash).await < node_price + settings.pause_tip_wei(),
        "an ordinary send pays the node's price"
    );
}

#[tokio::test]
async fn status_warns_when_a_pause_key_cannot_pay_for_pausing_everything_at_the_cap() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let short = |st: &guardian::status::StatusReport| {
        st.findings
            .iter()
            .filter(|f| f.message.contains("at the fee cap"))
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
    };
    assert!(short(&guardian::status::read(&d).await).is_empty());
    // A cap of 1 ETH per gas: no dev account can pay 60,000 gas of pausing at it.
    let (d, _dir) = open(&net.devnet.manifest, |m| m.rpc.fee_cap_gwei = 1_000_000_000).await;
    let found = short(&guardian::status::read(&d).await);
    assert!(
        found
            .iter()
            .any(|m| m.contains(&net.pauser.address().to_string()) && m.contains("fund it")),
        "{found:#?}"
    );
}
