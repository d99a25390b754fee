//! The mempool library on a real anvil with mining held (automine off, blocks mined by the test):
//! what the node offers, pending transactions streamed once, and their simulated effect.

use std::time::{Duration, Instant};

use alloy::{
    primitives::{Address, TxHash, U256},
    providers::{DynProvider, Provider},
    sol_types::SolEvent,
};
use bindings::{DocumentRegistry, PaymentEscrow, drill::EscrowDrainer};
use guardian::{
    chain::ChainClient,
    config::{ContractKind, RpcSettings},
    mempool::{
        self, Capabilities, Effect, PendingTx, SimError, Simulator, Source, simulate, simulate_at,
    },
    secret::RpcUrl,
};
use tokio::sync::{mpsc, watch};

use crate::{
    response::rpc,
    send_ok,
    support::{
        TestNet, doc,
        proxy::{self, Behaviour},
        testnet,
    },
};

const ETH: u64 = 1_000_000_000_000_000_000;

pub(crate) fn ws_url(net: &TestNet) -> RpcUrl {
    format!("ws://127.0.0.1:{}", net.devnet.anvils[0].port)
        .parse()
        .expect("url")
}

/// Stops mining: transactions sent from now on wait in the pool until [`mine`].
pub(crate) async fn hold(net: &TestNet) {
    rpc(net, "evm_setAutomine", serde_json::json!([false])).await;
}

pub(crate) async fn mine(net: &TestNet) {
    rpc(net, "evm_mine", serde_json::json!([])).await;
}

/// Registers document 1 (paid by `payer`).
pub(crate) async fn register(net: &TestNet, payer: &DynProvider) {
    let registry = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), payer.clone());
    let fee = registry.registrationFee().call().await.expect("fee");
    send_ok!(
        registry
            .registerDocument(doc(1), doc(100), Address::ZERO)
            .value(fee)
    );
}

/// The pending transaction `hash` as the node has it.
async fn pending(net: &TestNet, hash: TxHash) -> PendingTx {
    let tx = net
        .client
        .provider()
        .get_transaction_by_hash(hash)
        .await
        .expect("get tx")
        .expect("tx known");
    assert!(tx.block_number.is_none(), "still pending");
    PendingTx::from_rpc(&tx, Instant::now())
}

/// The next pending transaction from `stream`, within 20 s.
async fn next(stream: &mut mpsc::Receiver<PendingTx>) -> PendingTx {
    tokio::time::timeout(Duration::from_secs(20), stream.recv())
        .await
        .expect("a pending transaction within 20 s")
        .expect("stream open")
}

/// The next pending transaction from `who` (others, the warm-up's, are skipped).
async fn next_from(stream: &mut mpsc::Receiver<PendingTx>, who: Address) -> PendingTx {
    loop {
        let got = next(stream).await;
        if got.from == who {
            return got;
        }
    }
}

fn released(effect: &Effect) -> Vec<U256> {
    effect
        .logs
        .iter()
        .filter_map(|l| PaymentEscrow::PaymentReleased::decode_log(l).ok())
        .map(|l| l.data.paymentId)
        .collect()
}

#[tokio::test]
async fn detect_finds_both_sources_and_prefers_the_call_tracer() {
    let net = testnet().await;
    let ws = ws_url(&net);
    let caps = mempool::detect(&net.client, Some(&ws)).await;
    assert_eq!(caps.source, Some(Source::Subscription), "{caps:?}");
    // The call tracer sees calls made through other contracts; simulateV1 only their logs.
    assert_eq!(caps.simulator, Some(Simulator::TraceCall), "{caps:?}");
    assert_eq!(
        caps.simulators,
        [Simulator::TraceCall, Simulator::SimulateV1]
    );
    assert!(caps.missing.is_empty() && caps.usable(), "{caps:?}");

    let caps = mempool::detect(&net.client, None).await;
    assert_eq!(caps.source, Some(Source::TxPool), "{caps:?}");
    assert!(caps.usable() && caps.missing.is_empty(), "{caps:?}");
}

#[tokio::test]
async fn watch_yields_a_pending_escrow_deposit_once_by_polling_and_by_subscription() {
    let net = testnet().await;
    let payer = net.as_signer(&net.account(6));
    register(&net, &payer).await;
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let escrow = PaymentEscrow::new(escrow_addr, payer.clone());
    let payee = net.account(7).address();
    hold(&net).await;
    for source in [Source::TxPool, Source::Subscription] {
        let caps = Capabilities {
            source: Some(source),
            simulator: Some(Simulator::TraceCall),
            ..Capabilities::default()
        };
        let (stop_tx, stop) = watch::channel(false);
        let mut stream = mempool::watch(
            net.client.clone(),
            Some(ws_url(&net)),
            &caps,
            Duration::from_millis(50),
            stop,
        );
        if source == Source::Subscription {
            // The subscription only sees what arrives after it is made: until one of these
            // transfers comes through, it may not be there yet.
            warm_up(&net, &mut stream).await;
        }
        let mut sent = Vec::new();
        for n in 1..=2u64 {
            let amount = U256::from(n * ETH);
            let call = escrow
                .deposit(doc(1), Address::ZERO, amount, payee)
                .value(amount);
            let calldata = call.calldata().clone();
            let hash = *call.send().await.expect("send").tx_hash();
            let got = next_from(&mut stream, net.account(6).address()).await;
            assert_eq!(got.hash, hash, "{source:?}: the transaction just sent");
            assert_eq!(got.from, net.account(6).address());
            assert_eq!(got.to, Some(escrow_addr));
            assert_eq!(got.value, amount);
            assert_eq!(got.input, calldata);
            assert_eq!(got.nonce, net.nonce(got.from).await + sent.len() as u64);
            assert!(got.gas > 21_000);
            assert!(got.max_fee_per_gas >= got.max_priority_fee_per_gas);
            assert!(got.max_priority_fee_per_gas > 0);
            sent.push(hash);
        }
        // The first deposit stayed in the pool through many polls: it was still handed out once
        // (the second one came next). Mined, both leave the pool and never come again.
        mine(&net).await;
        stop_tx.send(true).expect("stop");
        while let Some(late) = tokio::time::timeout(Duration::from_secs(10), stream.recv())
            .await
            .expect("the stream ends when stopped")
        {
            assert!(!sent.contains(&late.hash), "{source:?}: {late:?} again");
        }
    }
}

/// Sends a transfer from account 9 until one comes out of `stream` (the subscription is made).
async fn warm_up(net: &TestNet, stream: &mut mpsc::Receiver<PendingTx>) {
    let sender = net.as_signer(&net.account(9));
    let me = net.account(9).address();
    for _ in 0..50 {
        let tx = alloy::rpc::types::TransactionRequest::default()
            .to(me)
            .value(U256::from(1));
        let _pending = sender.send_transaction(tx).await.expect("send transfer");
        if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(400), stream.recv()).await
        {
            assert_eq!(got.from, me);
            return;
        }
    }
    panic!("the subscription delivered none of 50 transfers");
}

#[tokio::test]
async fn simulate_a_pending_release_shows_the_escrow_paying_out() {
    let net = testnet().await;
    let payer = net.as_signer(&net.account(6));
    register(&net, &payer).await;
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let escrow = PaymentEscrow::new(escrow_addr, payer.clone());
    let payee = net.account(7).address();
    let five = U256::from(5 * ETH);
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, five, payee)
            .value(five)
    );
    hold(&net).await;
    let hash = *escrow
        .release(U256::from(1))
        .send()
        .await
        .expect("send release")
        .tx_hash();
    let tx = pending(&net, hash).await;
    for simulator in [Simulator::TraceCall, Simulator::SimulateV1] {
        let effect = simulate(&net.client, simulator, &tx)
            .await
            .expect("simulate");
        assert!(!effect.reverted, "{simulator:?}: {effect:?}");
        assert_eq!(
            effect.net_native_outflow(escrow_addr),
            five,
            "{simulator:?}"
        );
        assert_eq!(effect.native_in.get(&payee), Some(&five), "{simulator:?}");
        assert_eq!(released(&effect), [U256::from(1)], "{simulator:?}");
        assert!(effect.calls.contains(&escrow_addr), "{simulator:?}");
    }
    // Why `simulate` does not use the "pending" block: anvil builds it with the release in it,
    // so simulating the release there finds the payment settled already.
    let twice = simulate_at(
        &net.client,
        Simulator::TraceCall,
        &tx,
        alloy::eips::BlockNumberOrTag::Pending,
    )
    .await
    .expect("simulate at pending");
    assert!(twice.reverted, "{twice:?}");

    let before = net.balance(escrow_addr).await;
    mine(&net).await;
    assert_eq!(
        before - net.balance(escrow_addr).await,
        five,
        "as simulated"
    );
}

#[tokio::test]
async fn calls_through_another_contract_are_seen_and_reverts_have_no_effect() {
    let net = testnet().await;
    let attacker = net.as_signer(&net.account(8));
    register(&net, &attacker).await;
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let drainer = EscrowDrainer::deploy(attacker.clone(), escrow_addr)
        .await
        .expect("deploy drainer");
    let drainer_addr = *drainer.address();
    hold(&net).await;

    // One round on the ordinary escrow: deposit then release to itself, through the drainer.
    let one = U256::from(ETH);
    let hash = *drainer
        .attack(doc(1), U256::from(1))
        .value(one)
        .send()
        .await
        .expect("send attack")
        .tx_hash();
    let tx = pending(&net, hash).await;
    for simulator in [Simulator::TraceCall, Simulator::SimulateV1] {
        let effect = simulate(&net.client, simulator, &tx)
            .await
            .expect("simulate");
        assert!(!effect.reverted, "{simulator:?}: {effect:?}");
        assert_eq!(effect.calls[0], drainer_addr, "{simulator:?}");
        assert!(
            effect.calls.contains(&escrow_addr),
            "{simulator:?}: {effect:?}"
        );
        assert_eq!(released(&effect), [U256::from(1)], "{simulator:?}");
        assert_eq!(effect.net_native_outflow(escrow_addr), U256::ZERO);
        assert_eq!(effect.native_in.get(&escrow_addr), Some(&one));
        assert_eq!(effect.native_out.get(&escrow_addr), Some(&one));
    }
    mine(&net).await;

    // A second release of the same payment reverts the whole transaction: no logs, no value,
    // but the call tree still shows where it reached.
    let hash = *drainer
        .again(U256::from(1))
        .gas(1_000_000)
        .send()
        .await
        .expect("send again")
        .tx_hash();
    let tx = pending(&net, hash).await;
    let effect = simulate(&net.client, Simulator::TraceCall, &tx)
        .await
        .expect("simulate");
    assert!(effect.reverted, "{effect:?}");
    assert_eq!(effect.calls[..2], [drainer_addr, escrow_addr], "{effect:?}");
    assert!(effect.logs.is_empty() && effect.native_out.is_empty() && effect.native_in.is_empty());
    let effect = simulate(&net.client, Simulator::SimulateV1, &tx)
        .await
        .expect("simulate");
    assert!(effect.reverted, "{effect:?}");
    assert!(effect.logs.is_empty() && effect.native_out.is_empty());
    mine(&net).await;
    let receipt = net
        .client
        .provider()
        .get_transaction_receipt(hash)
        .await
        .expect("receipt")
        .expect("mined");
    assert!(!receipt.status(), "reverted as simulated");
}

#[tokio::test]
async fn a_pending_drain_through_the_buggy_escrow_shows_others_deposits_leaving() {
    use crate::contracts::{deposit_native, ether};
    use guardian::response::upgrade::{self, Implementation, UpgradeRequest};

    let net = testnet().await;
    let (alice, bob) = (net.account(6), net.account(7));
    let attacker_signer = net.account(8);
    let attacker = net.as_signer(&attacker_signer);
    register(&net, &net.as_signer(&alice)).await;
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    deposit_native(&net, &alice, bob.address(), doc(1), ether(3)).await;
    let (d, _dir) = crate::response::open(&net.devnet.manifest, |_| {}).await;
    let shipped = upgrade::run(
        &d,
        &UpgradeRequest {
            contract: "escrow".into(),
            implementation: Implementation::InitCode(
                bindings::drill::PaymentEscrowBuggy::BYTECODE.clone(),
            ),
            chain: None,
            signer: None,
            dry_run: false,
            reason: Some("the drill's bug".into()),
        },
        &|_| {},
    )
    .await
    .expect("upgrade");
    assert!(shipped.ok(), "{shipped:#?}");
    let drainer = EscrowDrainer::deploy(attacker.clone(), escrow_addr)
        .await
        .expect("deploy drainer");
    hold(&net).await;

    // Deposit 1, release it 4 times: 3 of the 4 ether paid out are alice's.
    let hash = *drainer
        .attack(doc(1), U256::from(4))
        .value(ether(1))
        .gas(1_000_000)
        .send()
        .await
        .expect("send attack")
        .tx_hash();
    let tx = pending(&net, hash).await;
    for simulator in [Simulator::TraceCall, Simulator::SimulateV1] {
        let effect = simulate(&net.client, simulator, &tx)
            .await
            .expect("simulate");
        assert!(!effect.reverted, "{simulator:?}: {effect:?}");
        assert_eq!(
            effect.net_native_outflow(escrow_addr),
            ether(3),
            "{simulator:?}"
        );
        assert_eq!(released(&effect).len(), 4, "{simulator:?}");
        assert!(effect.calls.contains(&escrow_addr), "{simulator:?}");
    }
    let before = net.balance(escrow_addr).await;
    mine(&net).await;
    assert_eq!(
        before - net.balance(escrow_addr).await,
        ether(3),
        "as simulated"
    );
}

#[tokio::test]
async fn a_node_without_the_methods_is_reported_and_simulation_is_unsupported() {
    let net = testnet().await;
    let proxy = proxy::start_with(
        net.devnet.anvils[0].url.expose().as_str(),
        Behaviour {
            missing_methods: &["txpool_content", "debug_traceCall", "eth_simulateV1"],
            ..Behaviour::default()
        },
    )
    .await;
    let url: RpcUrl = proxy.url.parse().expect("url");
    let client = ChainClient::connect("bare", &[url], Some(31337), &RpcSettings::default())
        .await
        .expect("connect");
    let caps = mempool::detect(&client, None).await;
    assert_eq!((caps.source, caps.simulator), (None, None), "{caps:?}");
    assert!(!caps.usable());
    assert_eq!(caps.missing.len(), 2, "{caps:?}");
    assert!(caps.missing[0].contains("txpool_content"), "{caps:?}");
    assert!(caps.missing[1].contains("debug_traceCall"), "{caps:?}");

    let (_stop_tx, stop) = watch::channel(false);
    let mut stream = mempool::watch(client.clone(), None, &caps, Duration::from_millis(50), stop);
    assert!(stream.recv().await.is_none(), "no source: nothing to watch");

    let tx = PendingTx {
        hash: TxHash::ZERO,
        from: net.account(6).address(),
        to: Some(net.addr(ContractKind::PaymentEscrow)),
        input: Default::default(),
        value: U256::ZERO,
        nonce: 0,
        gas: 100_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        seen_at: Instant::now(),
    };
    for simulator in [Simulator::TraceCall, Simulator::SimulateV1] {
        let err = simulate(&client, simulator, &tx)
            .await
            .expect_err("no method");
        assert!(
            matches!(err, SimError::Unsupported(_)),
            "{simulator:?}: {err}"
        );
    }
    // A node that answers with an error (here: the sender cannot pay) is a failure, not a
    // missing method and not an effect.
    let broke = PendingTx {
        from: Address::repeat_byte(0x42),
        value: U256::from(ETH),
        ..tx.clone()
    };
    for simulator in [Simulator::TraceCall, Simulator::SimulateV1] {
        let err = simulate(&net.client, simulator, &broke)
            .await
            .expect_err("refused");
        assert!(matches!(err, SimError::Failed(_)), "{simulator:?}: {err}");
    }
    // Through the real node the same call is simulated; against the escrow with no calldata it
    // reverts (the escrow has no fallback), and says so.
    let effect = simulate(&net.client, Simulator::TraceCall, &tx)
        .await
        .expect("simulate");
    assert!(effect.reverted, "{effect:?}");
}
