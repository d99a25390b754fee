//! The load of one chain: at each new head (seen over the bench's own WebSocket subscription, its
//! moment noted as "the block exists"), the next block's document updates are sent (`ResolverSet`
//! events, in transactions of at most [`PER_TX`]) and the pauser toggles the escrow's pause, one
//! privileged event a block whose alert is the one timed.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use anyhow::Context as _;
use bindings::{interfaces::IPausable, testing::RegistrationBatcher};
use futures::StreamExt as _;
use guardian::secret::RpcUrl;
use tokio::sync::watch;

/// Document updates per transaction (about 15,000 gas each, so one transaction stays well under
/// a block's gas limit).
pub const PER_TX: u64 = 1_000;

/// Gas of a batch of `n` updates, with room to spare.
pub fn batch_gas(n: u64) -> u64 {
    15_000 * n + 100_000
}

/// When each block of each chain was first announced, by (chain id, number).
pub type Arrived = Arc<Mutex<BTreeMap<(u64, u64), Instant>>>;

/// What one chain's load needs.
#[derive(Clone)]
pub struct ChainLoad {
    /// The chain id.
    pub chain_id: u64,
    /// Its HTTP endpoint (sends) and WebSocket endpoint (heads).
    pub http: RpcUrl,
    /// The WebSocket endpoint.
    pub ws: RpcUrl,
    /// The registry whose document the batcher updates.
    pub registry: Address,
    /// The batcher (test contract) and the document it registered.
    pub batcher: Address,
    /// The document updated.
    pub document: B256,
    /// The contract the pauser pauses and unpauses, one toggle a block.
    pub toggled: Address,
    /// Sends the updates.
    pub user: PrivateKeySigner,
    /// Holds `PAUSER_ROLE`.
    pub pauser: PrivateKeySigner,
    /// Updates per block.
    pub events: u64,
}

/// What a chain's load did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    /// Heads seen.
    pub heads: u64,
    /// Transactions the node refused.
    pub refused: u64,
}

impl ChainLoad {
    /// Sends each block's load until `stop`, noting every head's arrival in `arrived`.
    pub async fn run(self, arrived: Arrived, stop: watch::Receiver<bool>) -> anyhow::Result<Sent> {
        let mut wallet = EthereumWallet::from(self.user.clone());
        wallet.register_signer(self.pauser.clone());
        let provider = ProviderBuilder::new()
            .wallet(wallet)
            .connect_http(self.http.expose().clone());
        let subscriber = guardian::chain::ws::pubsub_provider(&self.ws)
            .await
            .context("cannot subscribe to the chain's heads")?;
        let mut heads = subscriber.subscribe_blocks().await?.into_stream();
        let (user, pauser) = (self.user.address(), self.pauser.address());
        let mut user_nonce = provider.get_transaction_count(user).pending().await?;
        let mut pauser_nonce = provider.get_transaction_count(pauser).pending().await?;
        let mut paused = IPausable::new(self.toggled, &provider)
            .paused()
            .call()
            .await?;
        let mut sent = Sent::default();
        let mut first = 1u64;
        loop {
            let header = tokio::select! {
                h = heads.next() => match h {
                    Some(h) => h,
                    None => break,
                },
                _ = changed(&stop) => break,
            };
            arrived
                .lock()
                .map_err(|_| anyhow::anyhow!("lock"))?
                .entry((self.chain_id, header.number))
                .or_insert_with(Instant::now);
            sent.heads += 1;
            let fees = |tx: TransactionRequest| {
                tx.with_chain_id(self.chain_id)
                    .with_max_fee_per_gas(50_000_000_000)
                    .with_max_priority_fee_per_gas(1_000_000_000)
            };
            let mut txs = Vec::new();
            let mut left = self.events;
            while left > 0 {
                let n = left.min(PER_TX);
                let input = RegistrationBatcher::updateManyCall {
                    registry: self.registry,
                    integraHash: self.document,
                    first: U256::from(first),
                    count: U256::from(n),
                }
                .abi_encode();
                txs.push(fees(
                    TransactionRequest::default()
                        .with_from(user)
                        .with_to(self.batcher)
                        .with_input(input)
                        .with_nonce(user_nonce)
                        .with_gas_limit(batch_gas(n)),
                ));
                user_nonce += 1;
                first += n;
                left -= n;
            }
            let toggle = if paused {
                IPausable::unpauseCall {}.abi_encode()
            } else {
                IPausable::pauseCall {}.abi_encode()
            };
            paused = !paused;
            txs.push(fees(
                TransactionRequest::default()
                    .with_from(pauser)
                    .with_to(self.toggled)
                    .with_input(toggle)
                    .with_nonce(pauser_nonce)
                    .with_gas_limit(100_000),
            ));
            pauser_nonce += 1;
            let results =
                futures::future::join_all(txs.into_iter().map(|tx| provider.send_transaction(tx)))
                    .await;
            if results.iter().any(Result::is_err) {
                sent.refused += results.iter().filter(|r| r.is_err()).count() as u64;
                // Start again from what the node has: a refused transaction leaves a gap.
                user_nonce = provider.get_transaction_count(user).pending().await?;
                pauser_nonce = provider.get_transaction_count(pauser).pending().await?;
                paused = IPausable::new(self.toggled, &provider)
                    .paused()
                    .call()
                    .await
                    .unwrap_or(paused);
            }
        }
        Ok(sent)
    }
}

async fn changed(stop: &watch::Receiver<bool>) {
    let mut stop = stop.clone();
    let _ = stop.wait_for(|s| *s).await;
}
