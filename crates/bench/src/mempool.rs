//! `cargo run --release -p bench -- mempool`: on anvil with mining held, how long each simulator
//! takes for a pending escrow release (`debug_traceCall` beside `eth_simulateV1`), and how long a
//! sent transaction takes to come out of each mempool source (the WebSocket subscription and
//! `txpool_content` polling). Prints one line per simulator and per source.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, TxHash, U256},
    providers::{DynProvider, Provider as _},
    rpc::types::TransactionRequest,
};
use anyhow::{Context as _, bail};
use bindings::{DocumentRegistry, PaymentEscrow};
use guardian::{
    config::ContractKind,
    mempool::{self, Capabilities, PendingTx, Simulator, Source, simulate},
    secret::RpcUrl,
};
use tokio::sync::{mpsc, watch};

use crate::gas::{Net, doc, send_ok};

const ETH: u64 = 1_000_000_000_000_000_000;
/// Simulations timed per simulator.
const SIMULATIONS: usize = 200;
/// Transfers timed per source.
const ARRIVALS: usize = 100;
/// How often the sources poll (`txpool_content`; the subscription's fallback).
const POLL: Duration = Duration::from_millis(50);

/// `cargo run --release -p bench -- mempool`.
#[derive(Debug, clap::Args)]
pub struct MempoolArgs {
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
}

impl MempoolArgs {
    /// Starts a devnet, measures and prints the lines.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let net = Net::start(self.anvil.as_deref()).await?;
        let result = measure(&net).await;
        net.devnet.stop().await;
        result?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// Simulation latency of a pending release, then send → seen latency of each source.
async fn measure(net: &Net) -> anyhow::Result<()> {
    let payer = net.as_signer(&Net::account(6)?);
    register(net, &payer).await?;
    let escrow = PaymentEscrow::new(net.addr(ContractKind::PaymentEscrow)?, payer.clone());
    let payee = Net::account(7)?.address();
    let one = U256::from(ETH);
    send_ok!(escrow.deposit(doc(1), Address::ZERO, one, payee).value(one));
    hold(net).await?;
    let hash = *escrow
        .release(U256::from(1))
        .send()
        .await
        .context("send release")?
        .tx_hash();
    let tx = pending(net, hash).await?;
    for simulator in [Simulator::TraceCall, Simulator::SimulateV1] {
        let mut samples = Vec::new();
        for _ in 0..SIMULATIONS {
            let start = Instant::now();
            simulate(&net.client, simulator, &tx)
                .await
                .with_context(|| format!("simulate with {simulator:?}"))?;
            samples.push(start.elapsed());
        }
        println!("simulate {simulator:?}: {}", percentiles(samples));
    }
    mine(net).await?;
    for (source, poll) in [(Source::Subscription, POLL), (Source::TxPool, POLL)] {
        let caps = Capabilities {
            source: Some(source),
            ..Capabilities::default()
        };
        let (_stop_tx, stop) = watch::channel(false);
        let mut stream = mempool::watch(net.client.clone(), Some(ws_url(net)?), &caps, poll, stop);
        if source == Source::Subscription {
            // The subscription only sees what arrives after it is made.
            warm_up(net, &mut stream).await?;
        }
        let sender_key = Net::account(5)?;
        let sender = net.as_signer(&sender_key);
        let me = sender_key.address();
        let mut samples = Vec::new();
        for _ in 0..ARRIVALS {
            let request = TransactionRequest::default().to(me).value(U256::from(1));
            let start = Instant::now();
            let _pending = sender
                .send_transaction(request)
                .await
                .context("send transfer")?;
            let got = next_from(&mut stream, me).await?;
            samples.push(got.seen_at.duration_since(start));
        }
        println!(
            "{source:?} (poll {poll:?}) send -> seen: {}",
            percentiles(samples)
        );
        mine(net).await?;
    }
    Ok(())
}

/// `p50 … p99 … (n=…)` of the samples.
fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len().saturating_sub(1)) as f64 * q) as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    format!("p50 {:?} p99 {:?} (n={})", at(0.5), at(0.99), samples.len())
}

/// The chain's WebSocket endpoint (anvil answers both on its one port).
fn ws_url(net: &Net) -> anyhow::Result<RpcUrl> {
    let port = net.devnet.anvils.first().context("no anvil")?.port;
    format!("ws://127.0.0.1:{port}")
        .parse()
        .map_err(|e| anyhow::anyhow!("WebSocket URL: {e}"))
}

/// A raw JSON-RPC call to the node.
async fn rpc(net: &Net, method: &'static str, params: serde_json::Value) -> anyhow::Result<()> {
    let _: serde_json::Value = net
        .client
        .provider()
        .raw_request(method.into(), params)
        .await
        .context(method)?;
    Ok(())
}

/// Stops mining: transactions sent from now on wait in the pool until [`mine`].
async fn hold(net: &Net) -> anyhow::Result<()> {
    rpc(net, "evm_setAutomine", serde_json::json!([false])).await
}

/// Mines one block.
async fn mine(net: &Net) -> anyhow::Result<()> {
    rpc(net, "evm_mine", serde_json::json!([])).await
}

/// Registers document 1 (paid by `payer`).
async fn register(net: &Net, payer: &DynProvider) -> anyhow::Result<()> {
    let registry = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry)?, payer.clone());
    let fee = registry
        .registrationFee()
        .call()
        .await
        .context("registration fee")?;
    send_ok!(
        registry
            .registerDocument(doc(1), doc(100), Address::ZERO)
            .value(fee)
    );
    Ok(())
}

/// The pending transaction `hash` as the node has it.
async fn pending(net: &Net, hash: TxHash) -> anyhow::Result<PendingTx> {
    let tx = net
        .client
        .provider()
        .get_transaction_by_hash(hash)
        .await
        .context("get transaction")?
        .with_context(|| format!("the node does not know {hash}"))?;
    if tx.block_number.is_some() {
        bail!("{hash} was mined: mining is not held");
    }
    Ok(PendingTx::from_rpc(&tx, Instant::now()))
}

/// The next pending transaction from `stream`, within 20 s.
async fn next(stream: &mut mpsc::Receiver<PendingTx>) -> anyhow::Result<PendingTx> {
    tokio::time::timeout(Duration::from_secs(20), stream.recv())
        .await
        .context("no pending transaction within 20 s")?
        .context("the mempool stream ended")
}

/// The next pending transaction from `who` (others, the warm-up's, are skipped).
async fn next_from(
    stream: &mut mpsc::Receiver<PendingTx>,
    who: Address,
) -> anyhow::Result<PendingTx> {
    loop {
        let got = next(stream).await?;
        if got.from == who {
            return Ok(got);
        }
    }
}

/// Sends a transfer from account 9 until one comes out of `stream` (the subscription is made).
async fn warm_up(net: &Net, stream: &mut mpsc::Receiver<PendingTx>) -> anyhow::Result<()> {
    let key = Net::account(9)?;
    let sender = net.as_signer(&key);
    let me = key.address();
    for _ in 0..50 {
        let tx = TransactionRequest::default().to(me).value(U256::from(1));
        let _pending = sender
            .send_transaction(tx)
            .await
            .context("send warm-up transfer")?;
        if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(400), stream.recv()).await
        {
            if got.from != me {
                bail!("the warm-up saw a transfer from {}, not {me}", got.from);
            }
            return Ok(());
        }
    }
    bail!("the subscription delivered none of 50 transfers")
}
