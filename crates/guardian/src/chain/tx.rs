//! The one path for state-changing calls: simulate all, sign with local nonces, record, send all
//! at once, follow the chain block by block until every receipt is in (replacing transactions
//! that wait too long with a higher fee on the same nonce), check status, decode reverts by name.

use std::time::{Duration, Instant};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, TxHash, U64, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::SolCall,
    transports::{RpcError, TransportErrorKind},
};

use super::{
    ChainClient, ChainError, Signer, batch,
    follow::{Pending, broadcast_all, follow, record_latest},
    revert,
};
use crate::storage::{ActionId, Store};

pub use super::follow::await_sent;

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
}

/// A mined, successful transaction.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// What it did.
    pub label: String,
    /// Its hash (of the replacement, if one was mined).
    pub tx_hash: TxHash,
    /// The block it was mined in.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
    /// The created contract, for deployments.
    pub contract_address: Option<Address>,
    /// Time from broadcast to receipt seen.
    pub latency: Duration,
    /// How many times it was re-sent with a higher fee.
    pub replacements: u32,
}

/// Where to record transactions: every hash is written before its broadcast.
#[derive(Clone, Copy)]
pub struct Journal<'a> {
    /// The database.
    pub store: &'a Store,
    /// The action the transactions belong to.
    pub action: ActionId,
}

/// How a batch treats a call whose simulation reverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preflight {
    /// Send nothing if any call would revert (deployments).
    AllOrNothing,
    /// Send the calls that simulate cleanly; the others fail on their own (emergency actions).
    BestEffort,
}

/// Simulates every call, then signs them with consecutive local nonces, records and broadcasts
/// them all at once, and waits for all receipts.
///
/// The outer error means nothing was sent (with [`Preflight::AllOrNothing`], a simulation
/// reverted; or the signer cannot pay; or the journal cannot be written). Otherwise each call has
/// its own outcome, in the order given.
pub async fn send_all(
    client: &ChainClient,
    signer: &Signer,
    calls: Vec<Call>,
    journal: Option<Journal<'_>>,
    preflight: Preflight,
) -> Result<Vec<Result<Confirmed, ChainError>>, ChainError> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let provider = client.provider();
    let from = signer.address();
    let requests: Vec<TransactionRequest> = calls.iter().map(|c| request(c, from)).collect();

    let estimate_params: Vec<(TransactionRequest,)> =
        requests.iter().map(|r| (r.clone(),)).collect();
    let (estimates, chain_state) = tokio::join!(
        // One request each: anvil, estimating a batch's calls concurrently, was seen to leave
        // transactions of the batch unminable.
        batch::one_by_one::<_, U64>(client, "eth_estimateGas", &estimate_params),
        async {
            tokio::try_join!(
                async { provider.get_transaction_count(from).pending().await },
                provider.estimate_eip1559_fees(),
                async { provider.get_balance(from).await },
                async { provider.get_block_number().await },
            )
        }
    );
    let (nonce, fees, balance, start_block) = chain_state.map_err(|e| client.rpc_err(e))?;
    let gas: Vec<Result<u64, ChainError>> = calls
        .iter()
        .zip(estimates)
        .map(|(call, estimate)| {
            estimate
                .map(|g| g.saturating_to::<u64>().saturating_mul(13) / 10 + 10_000) // headroom for the 63/64 rule around capped hooks
                .map_err(|e| simulation_error(client, &call.label, e))
        })
        .collect();
    if preflight == Preflight::AllOrNothing
        && let Some(Err(e)) = gas.iter().find(|g| g.is_err())
    {
        return Err(clone_simulation(e));
    }

    let needed = calls
        .iter()
        .zip(&gas)
        .fold(U256::ZERO, |acc, (c, g)| match g {
            Ok(g) => acc + c.value + U256::from(*g) * U256::from(fees.max_fee_per_gas),
            Err(_) => acc,
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
    let mut outcomes: Vec<Option<Result<Confirmed, ChainError>>> = Vec::with_capacity(calls.len());
    let mut pending = Vec::new();
    let mut next_nonce = nonce;
    for (i, g) in gas.into_iter().enumerate() {
        match g {
            Err(e) => outcomes.push(Some(Err(e))),
            Ok(gas) => {
                outcomes.push(None);
                let req = requests[i]
                    .clone()
                    .with_nonce(next_nonce)
                    .with_chain_id(client.chain_id)
                    .with_gas_limit(gas)
                    .with_max_fee_per_gas(fees.max_fee_per_gas)
                    .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
                next_nonce += 1;
                pending.push(Pending {
                    index: i,
                    label: calls[i].label.clone(),
                    target: calls[i].to,
                    req,
                    hashes: Vec::new(),
                    sent_block: start_block,
                    sent_at: Instant::now(),
                    replacements: 0,
                    broadcast_error: None,
                    raw: None,
                    signed: Bytes::new(),
                });
            }
        }
    }
    for p in &mut pending {
        p.raw = Some(p.sign(&wallet, client).await?);
        // Let other chains' batches run between signatures.
        tokio::task::yield_now().await;
    }
    record_latest(journal, client, from, pending.iter())?;
    let started = Instant::now();
    broadcast_all(client, &mut pending).await;
    let done = follow(
        client,
        &wallet,
        from,
        pending,
        journal,
        start_block,
        started,
    )
    .await?;
    for (index, result) in done {
        outcomes[index] = Some(result);
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                Err(ChainError::Simulation {
                    chain: client.name.clone(),
                    label: "unknown".into(),
                    reason: "lost track of the call".into(),
                })
            })
        })
        .collect())
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

/// A failed simulation or read: a revert by its decoded name, anything else as the chain's RPC
/// error.
pub(super) fn simulation_error(
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

fn clone_simulation(e: &ChainError) -> ChainError {
    match e {
        ChainError::Simulation {
            chain,
            label,
            reason,
        } => ChainError::Simulation {
            chain: chain.clone(),
            label: label.clone(),
            reason: reason.clone(),
        },
        other => ChainError::Simulation {
            chain: String::new(),
            label: String::new(),
            reason: other.to_string(),
        },
    }
}
