//! The mempool: what a node offers (pending transactions, simulation), the stream of pending
//! transactions, and the simulated effect of each one.
//!
//! [`detect`] probes the node once; [`watch`] streams its pending transactions; [`simulate`]
//! tells what one of them would do if mined.

pub mod effect;
mod simulate;
mod source;

use std::time::{Duration, Instant};

use alloy::{
    consensus::Transaction as _,
    network::TransactionResponse as _,
    primitives::{Address, Bytes, TxHash, U256},
    providers::Provider,
    rpc::types::Transaction,
};
use serde_json::json;

pub use effect::{Effect, SimError};
pub use simulate::{TRANSFER_EMITTER, simulate, simulate_at};

use crate::{
    chain::{ChainClient, ws},
    secret::RpcUrl,
};

/// One pending transaction as the node announced it (serialised as evidence, without `seen_at`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PendingTx {
    /// Its hash.
    pub hash: TxHash,
    /// The sender.
    pub from: Address,
    /// The called address; `None` for a contract creation.
    pub to: Option<Address>,
    /// The calldata.
    pub input: Bytes,
    /// Native value sent.
    pub value: U256,
    /// The sender's nonce.
    pub nonce: u64,
    /// The gas limit.
    pub gas: u64,
    /// The fee cap per gas (a legacy transaction's gas price).
    pub max_fee_per_gas: u128,
    /// The priority fee per gas (a legacy transaction's gas price).
    pub max_priority_fee_per_gas: u128,
    /// When it was first seen here.
    #[serde(skip)]
    pub seen_at: Instant,
}

impl PendingTx {
    /// The pending transaction of a node's transaction object, seen at `seen_at`.
    pub fn from_rpc(tx: &Transaction, seen_at: Instant) -> Self {
        let max_fee_per_gas = alloy::consensus::Transaction::max_fee_per_gas(tx);
        Self {
            hash: tx.tx_hash(),
            from: tx.from(),
            to: tx.to(),
            input: tx.input().clone(),
            value: tx.value(),
            nonce: tx.nonce(),
            gas: tx.gas_limit(),
            max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas().unwrap_or(max_fee_per_gas),
            seen_at,
        }
    }
}

/// Where pending transactions come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `eth_subscribe("newPendingTransactions", true)` over a WebSocket endpoint: each full
    /// transaction as the node admits it.
    Subscription,
    /// `txpool_content` polled over the client's endpoints.
    TxPool,
}

/// How a pending transaction is simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simulator {
    /// `eth_simulateV1` with `traceTransfers`: status, logs and native transfers, no call tree.
    SimulateV1,
    /// `debug_traceCall` with the call tracer (`withLog`): the whole call tree with values and
    /// logs, so calls reaching a contract through another contract are seen. Preferred.
    TraceCall,
}

/// What the node offers for watching the mempool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Where pending transactions come from: the subscription when it works, else the pool.
    pub source: Option<Source>,
    /// How they are simulated: [`Simulator::TraceCall`] when it answers (it sees the call
    /// tree), else [`Simulator::SimulateV1`].
    pub simulator: Option<Simulator>,
    /// Every simulator that answered, preferred first.
    pub simulators: Vec<Simulator>,
    /// Human lines on what is missing, e.g. "no newPendingTransactions subscription and no
    /// txpool_content".
    pub missing: Vec<String>,
}

impl Capabilities {
    /// Whether the mempool can be watched and simulated: a source and a simulator.
    pub fn usable(&self) -> bool {
        self.source.is_some() && self.simulator.is_some()
    }
}

/// Probes the node once with cheap calls; an error answer (method not found, unsupported, or
/// any other) means the capability is absent, and says why in [`Capabilities::missing`].
///
/// The subscription is tried on `ws` (when given); `txpool_content` only when the subscription
/// is not available, since on a busy chain its answer is the whole pool.
pub async fn detect(client: &ChainClient, ws: Option<&RpcUrl>) -> Capabilities {
    let mut caps = Capabilities::default();
    let subscription = match ws {
        Some(url) => probe_subscription(url).await,
        None => Err("no ws:// endpoint".to_string()),
    };
    match subscription {
        Ok(()) => caps.source = Some(Source::Subscription),
        Err(why) => match probe(client, "txpool_content", json!([])).await {
            Ok(()) => caps.source = Some(Source::TxPool),
            Err(pool) => caps.missing.push(format!(
                "no newPendingTransactions subscription ({why}) and no txpool_content ({pool})"
            )),
        },
    }
    // A call from and to the zero address: it exists on every chain and costs nothing.
    let call = json!({"from": Address::ZERO, "to": Address::ZERO, "value": "0x0"});
    let tracer = json!({"tracer": "callTracer", "tracerConfig": {"withLog": true}});
    let trace = probe(client, "debug_traceCall", json!([call, "latest", tracer])).await;
    let payload = json!({"blockStateCalls": [{"calls": [call]}], "traceTransfers": true});
    let simulate = probe(client, "eth_simulateV1", json!([payload, "latest"])).await;
    if trace.is_ok() {
        caps.simulators.push(Simulator::TraceCall);
    }
    if simulate.is_ok() {
        caps.simulators.push(Simulator::SimulateV1);
    }
    caps.simulator = caps.simulators.first().copied();
    if let (Err(trace), Err(simulate)) = (trace, simulate) {
        caps.missing.push(format!(
            "no debug_traceCall with callTracer ({trace}) and no eth_simulateV1 ({simulate})"
        ));
    }
    caps
}

/// `Ok` when `method` answers with a result.
async fn probe(
    client: &ChainClient,
    method: &'static str,
    params: serde_json::Value,
) -> Result<(), String> {
    simulate::request(client, method, params)
        .await
        .map(drop)
        .map_err(|e| match e {
            SimError::Unsupported(_) => "method not available".to_string(),
            other => other.to_string(),
        })
}

/// `Ok` when a full-transaction pending subscription is accepted at `url`.
async fn probe_subscription(url: &RpcUrl) -> Result<(), String> {
    let provider = ws::pubsub_provider(url)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let subscription = provider
        .subscribe_full_pending_transactions()
        .await
        .map_err(|e| e.to_string())?;
    // Dropping the subscription unsubscribes; the connection closes with the provider.
    drop(subscription);
    Ok(())
}

/// Streams pending transactions, each hash once, until the receiver is dropped or `stop` turns
/// true. From the subscription on `ws` when `caps.source` is [`Source::Subscription`]
/// (subscribing again whenever it closes), else from `txpool_content` every `poll`. Without a
/// source the receiver is closed at once.
pub fn watch(
    client: ChainClient,
    ws: Option<RpcUrl>,
    caps: &Capabilities,
    poll: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::sync::mpsc::Receiver<PendingTx> {
    let (sender, receiver) = tokio::sync::mpsc::channel(source::CHANNEL);
    match (caps.source, ws) {
        (Some(Source::Subscription), Some(url)) => {
            tokio::spawn(source::subscription(client, url, sender, stop));
        }
        (Some(_), _) => {
            tokio::spawn(source::txpool(client, poll, sender, stop));
        }
        (None, _) => {}
    }
    receiver
}
