//! The one path for state-changing calls: simulate all, sign with local nonces, record, send all
//! at once, wait for every receipt, check status, decode reverts by name.

use std::{
    future::IntoFuture,
    time::{Duration, Instant},
};

use alloy::{
    eips::{BlockId, eip2718::Encodable2718},
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, Bytes, TxHash, U256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::SolCall,
    transports::{RpcError, TransportErrorKind},
};
use futures::future::join_all;

use super::{ChainClient, ChainError, Signer, revert};
use crate::storage::{ActionId, NewTx, Store};

/// One state-changing call to make.
#[derive(Debug, Clone)]
pub struct Call {
    /// What it does, in words (`pause registry`).
    pub label: String,
    /// The contract called; `None` deploys `input` as init code.
    pub to: Option<Address>,
    /// Calldata or init code.
    pub input: Bytes,
    /// Native coin sent along.
    pub value: U256,
}

impl Call {
    /// A call of a typed contract function.
    pub fn new(label: impl Into<String>, to: Address, call: impl SolCall) -> Self {
        Self {
            label: label.into(),
            to: Some(to),
            input: call.abi_encode().into(),
            value: U256::ZERO,
        }
    }

    /// A contract creation from init code (bytecode followed by encoded constructor arguments).
    pub fn create(label: impl Into<String>, init_code: Bytes) -> Self {
        Self {
            label: label.into(),
            to: None,
            input: init_code,
            value: U256::ZERO,
        }
    }

    /// Sends `value` of the native coin along.
    pub fn with_value(mut self, value: U256) -> Self {
        self.value = value;
        self
    }
}

/// A mined, successful transaction.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// What it did.
    pub label: String,
    /// Its hash.
    pub tx_hash: TxHash,
    /// The block it was mined in.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
    /// The created contract, for deployments.
    pub contract_address: Option<Address>,
    /// Time from broadcast to receipt seen.
    pub latency: Duration,
}

/// Where to record transactions: every hash is written before its broadcast.
#[derive(Clone, Copy)]
pub struct Journal<'a> {
    /// The database.
    pub store: &'a Store,
    /// The action the transactions belong to.
    pub action: ActionId,
}

/// Simulates every call, then signs them with consecutive local nonces, records and broadcasts
/// them all at once, and waits for all receipts.
///
/// The outer error means nothing was sent (a simulation reverted, the signer cannot pay, the
/// journal cannot be written). Otherwise each call has its own outcome, in the order given.
pub async fn send_all(
    client: &ChainClient,
    signer: &Signer,
    calls: Vec<Call>,
    journal: Option<Journal<'_>>,
) -> Result<Vec<Result<Confirmed, ChainError>>, ChainError> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let provider = client.provider();
    let from = signer.address();
    let requests: Vec<TransactionRequest> = calls.iter().map(|c| request(c, from)).collect();

    let estimates = join_all(
        requests
            .iter()
            .map(|r| provider.estimate_gas(r.clone()).into_future()),
    )
    .await;
    let mut gas_limits = Vec::with_capacity(calls.len());
    for (call, estimate) in calls.iter().zip(estimates) {
        let gas = estimate.map_err(|e| simulation_error(client, &call.label, e))?;
        // Headroom for the 63/64 rule around the capped resolver hooks.
        gas_limits.push(gas.saturating_mul(13) / 10 + 10_000);
    }

    let (nonce, fees, balance) = tokio::try_join!(
        async { provider.get_transaction_count(from).pending().await },
        provider.estimate_eip1559_fees(),
        async { provider.get_balance(from).await },
    )
    .map_err(|e| client.rpc_err(e))?;

    let needed = calls
        .iter()
        .zip(&gas_limits)
        .fold(U256::ZERO, |acc, (c, g)| {
            acc + c.value + U256::from(*g) * U256::from(fees.max_fee_per_gas)
        });
    if balance < needed {
        return Err(ChainError::InsufficientFunds {
            chain: client.name.clone(),
            address: from,
            balance,
            needed,
        });
    }

    let wallet = EthereumWallet::from(signer.key().clone());
    let mut signed = Vec::with_capacity(calls.len());
    for (i, (req, gas)) in requests.into_iter().zip(gas_limits).enumerate() {
        let req = req
            .with_nonce(nonce + i as u64)
            .with_chain_id(client.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = req
            .build(&wallet)
            .await
            .map_err(|e| ChainError::Simulation {
                chain: client.name.clone(),
                label: calls[i].label.clone(),
                reason: format!("cannot sign: {e}"),
            })?;
        let hash = *envelope.tx_hash();
        if let Some(j) = journal {
            j.store.record_sent(
                j.action,
                &NewTx {
                    chain_id: client.chain_id,
                    sender: from,
                    nonce: nonce + i as u64,
                    label: &calls[i].label,
                    target: calls[i].to,
                    tx_hash: hash,
                },
            )?;
        }
        signed.push((hash, Bytes::from(envelope.encoded_2718())));
    }

    let started = Instant::now();
    let broadcasts = join_all(signed.iter().map(|(hash, raw)| async move {
        match provider.send_raw_transaction(raw).await {
            Ok(_) => Ok(()),
            // A retried broadcast through a fallback endpoint may find the node already has it.
            Err(e) if e.to_string().contains("already known") => Ok(()),
            Err(e) => Err((*hash, e.to_string())),
        }
    }))
    .await;

    let outcomes = join_all(calls.iter().zip(&signed).zip(broadcasts).enumerate().map(
        |(i, ((call, (hash, _)), broadcast))| {
            let req = request(call, from).with_nonce(nonce + i as u64);
            async move {
                if let Err((tx, message)) = broadcast {
                    return Err(ChainError::Rejected {
                        chain: client.name.clone(),
                        label: call.label.clone(),
                        tx,
                        message,
                    });
                }
                let receipt = wait_for_receipt(client, &call.label, *hash).await?;
                let latency = started.elapsed();
                finish(client, call, req, receipt, journal, latency).await
            }
        },
    ))
    .await;
    Ok(outcomes)
}

fn request(call: &Call, from: Address) -> TransactionRequest {
    let req = TransactionRequest::default()
        .with_from(from)
        .with_input(call.input.clone())
        .with_value(call.value);
    match call.to {
        Some(to) => req.with_to(to),
        None => req.into_create(),
    }
}

/// Polls for the receipt of `hash` until it arrives or the receipt timeout passes.
pub async fn wait_for_receipt(
    client: &ChainClient,
    label: &str,
    hash: TxHash,
) -> Result<TransactionReceipt, ChainError> {
    let poll = if client.is_local() {
        Duration::from_millis(50)
    } else {
        Duration::from_millis(500)
    };
    let deadline = Instant::now() + client.settings.receipt_timeout();
    loop {
        match client.provider().get_transaction_receipt(hash).await {
            Ok(Some(receipt)) => return Ok(receipt),
            Ok(None) => {}
            Err(e) => tracing::warn!(chain = %client.name, %hash, "receipt poll failed: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(ChainError::ReceiptTimeout {
                chain: client.name.clone(),
                label: label.to_string(),
                tx: hash,
                secs: client.settings.receipt_timeout().as_secs(),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

async fn finish(
    client: &ChainClient,
    call: &Call,
    req: TransactionRequest,
    receipt: TransactionReceipt,
    journal: Option<Journal<'_>>,
    latency: Duration,
) -> Result<Confirmed, ChainError> {
    let block = receipt.block_number.unwrap_or_default();
    let hash = receipt.transaction_hash;
    let reason = if receipt.status() {
        None
    } else {
        Some(replay_reason(client, req, block).await)
    };
    if let Some(j) = journal {
        j.store
            .record_receipt(hash, block, receipt.gas_used, reason.as_deref())?;
    }
    match reason {
        None => Ok(Confirmed {
            label: call.label.clone(),
            tx_hash: hash,
            block,
            gas_used: receipt.gas_used,
            contract_address: receipt.contract_address,
            latency,
        }),
        Some(reason) => Err(ChainError::Reverted {
            chain: client.name.clone(),
            label: call.label.clone(),
            tx: hash,
            block,
            reason,
        }),
    }
}

/// Replays a reverted transaction on the state before its block to learn the error's name.
async fn replay_reason(client: &ChainClient, req: TransactionRequest, block: u64) -> String {
    let at = BlockId::number(block.saturating_sub(1));
    match client.provider().call(req).block(at).await {
        Ok(_) => "reverted (the replay succeeded, so the state changed within the block)".into(),
        Err(e) => revert_reason(&e),
    }
}

/// The decoded custom error of a failed call, or the node's message.
pub fn revert_reason(e: &RpcError<TransportErrorKind>) -> String {
    match e.as_error_resp() {
        Some(payload) => match payload.as_revert_data() {
            Some(data) => revert::decode(&data),
            None => payload.message.to_string(),
        },
        None => e.to_string(),
    }
}

fn simulation_error(
    client: &ChainClient,
    label: &str,
    e: RpcError<TransportErrorKind>,
) -> ChainError {
    if e.as_error_resp().is_none() {
        return client.rpc_err(e);
    }
    ChainError::Simulation {
        chain: client.name.clone(),
        label: label.to_string(),
        reason: revert_reason(&e),
    }
}
