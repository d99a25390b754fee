//! The one path for state-changing calls: simulate all, sign with local nonces, record, send all
//! at once, follow the chain block by block until every receipt is in (replacing transactions
//! that wait too long with a higher fee on the same nonce), check status, decode reverts by name.

use std::{
    collections::HashMap,
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
use crate::storage::{ActionId, NewTx, Status, Store};

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

    let (estimates, chain_state) = tokio::join!(
        join_all(
            requests
                .iter()
                .map(|r| provider.estimate_gas(r.clone()).into_future())
        ),
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
                .map(|g| g.saturating_mul(13) / 10 + 10_000) // headroom for the 63/64 rule around capped hooks
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

/// A signed transaction being followed until mined; `hashes` holds it and its replacements.
struct Pending {
    index: usize,
    label: String,
    target: Option<Address>,
    req: TransactionRequest,
    hashes: Vec<TxHash>,
    sent_block: u64,
    sent_at: Instant,
    replacements: u32,
    broadcast_error: Option<String>,
    raw: Option<Bytes>,
    /// The newest signed bytes, kept for re-broadcasts.
    signed: Bytes,
}

impl Pending {
    /// Signs the current request and returns the raw bytes to broadcast.
    async fn sign(
        &mut self,
        wallet: &EthereumWallet,
        client: &ChainClient,
    ) -> Result<Bytes, ChainError> {
        let envelope =
            self.req
                .clone()
                .build(wallet)
                .await
                .map_err(|e| ChainError::Simulation {
                    chain: client.name.clone(),
                    label: self.label.clone(),
                    reason: format!("cannot sign: {e}"),
                })?;
        self.hashes.push(*envelope.tx_hash());
        Ok(Bytes::from(envelope.encoded_2718()))
    }
}

/// Records the newest signature of each pending transaction, all in one database transaction,
/// before any of them is broadcast.
fn record_latest<'p>(
    journal: Option<Journal<'_>>,
    client: &ChainClient,
    from: Address,
    pending: impl Iterator<Item = &'p Pending>,
) -> Result<(), ChainError> {
    let Some(j) = journal else { return Ok(()) };
    let rows: Vec<NewTx> = pending
        .filter_map(|p| {
            p.hashes.last().map(|hash| NewTx {
                chain_id: client.chain_id,
                sender: from,
                nonce: p.req.nonce.unwrap_or_default(),
                label: &p.label,
                target: p.target,
                tx_hash: *hash,
            })
        })
        .collect();
    j.store.record_sent_all(j.action, &rows)?;
    Ok(())
}

async fn broadcast_all(client: &ChainClient, pending: &mut [Pending]) {
    let provider = client.provider();
    let results = join_all(pending.iter().map(|p| async move {
        let raw = p.raw.as_ref()?;
        match provider.send_raw_transaction(raw).await {
            Ok(_) => None,
            // A retried broadcast through a fallback endpoint may find the node already has it.
            Err(e) if e.to_string().contains("already known") => None,
            Err(e) => Some(e.to_string()),
        }
    }))
    .await;
    for (p, err) in pending.iter_mut().zip(results) {
        if let Some(raw) = p.raw.take() {
            p.signed = raw;
        }
        p.broadcast_error = err;
    }
}

/// Follows the chain block by block until every pending transaction has a receipt, replacing
/// those that wait longer than the configured number of blocks.
async fn follow(
    client: &ChainClient,
    wallet: &EthereumWallet,
    from: Address,
    mut pending: Vec<Pending>,
    journal: Option<Journal<'_>>,
    start_block: u64,
    started: Instant,
) -> Result<Vec<(usize, Result<Confirmed, ChainError>)>, ChainError> {
    let mut done = Vec::new();
    pending.retain_mut(|p| match p.broadcast_error.take() {
        Some(message) => {
            if let Some(j) = journal {
                for h in &p.hashes {
                    let _ = j.store.mark(*h, Status::Dropped);
                }
            }
            done.push((
                p.index,
                Err(ChainError::Rejected {
                    chain: client.name.clone(),
                    label: p.label.clone(),
                    tx: p.hashes.last().copied().unwrap_or_default(),
                    message,
                }),
            ));
            false
        }
        None => true,
    });
    let poll = if client.is_local() {
        Duration::from_millis(25)
    } else {
        Duration::from_millis(500)
    };
    let deadline = Instant::now() + client.settings.receipt_timeout();
    // Blocks up to and including `seen` have been searched.
    let mut seen = start_block.saturating_sub(1);
    let mut last_sweep = Instant::now();
    while !pending.is_empty() {
        let head = match client.provider().get_block_number().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(chain = %client.name, "block number poll failed: {e}");
                seen
            }
        };
        let mut receipts = if head > seen {
            receipts_between(client, seen + 1, head, &pending).await
        } else {
            HashMap::new()
        };
        // A safety net every couple of seconds: ask for each receipt directly, and re-broadcast
        // what is still unmined in case a node dropped it ("already known" is harmless).
        if last_sweep.elapsed() >= SWEEP {
            last_sweep = Instant::now();
            receipts.extend(receipts_of(client, &pending).await);
            rebroadcast(client, &pending, &receipts).await;
        }
        if !receipts.is_empty() {
            let mut still = Vec::with_capacity(pending.len());
            for p in pending {
                match p.hashes.iter().find_map(|h| receipts.get(h)) {
                    Some(receipt) => {
                        let result =
                            finish(client, &p, receipt.clone(), journal, started.elapsed()).await?;
                        done.push((p.index, result));
                    }
                    None => still.push(p),
                }
            }
            pending = still;
        }
        seen = seen.max(head);
        replace_stuck(client, wallet, from, &mut pending, journal, head).await?;
        if pending.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for p in pending.drain(..) {
                done.push((
                    p.index,
                    Err(ChainError::ReceiptTimeout {
                        chain: client.name.clone(),
                        label: p.label.clone(),
                        tx: p.hashes.last().copied().unwrap_or_default(),
                        secs: client.settings.receipt_timeout().as_secs(),
                    }),
                ));
            }
            break;
        }
        tokio::time::sleep(poll).await;
    }
    Ok(done)
}

/// Receipts of the pending hashes mined in blocks `from..=to`: whole blocks at once where the
/// node supports `eth_getBlockReceipts`, one receipt at a time otherwise.
async fn receipts_between(
    client: &ChainClient,
    from: u64,
    to: u64,
    pending: &[Pending],
) -> HashMap<TxHash, TransactionReceipt> {
    let provider = client.provider();
    let blocks =
        join_all((from..=to).map(|b| provider.get_block_receipts(b.into()).into_future())).await;
    if blocks.iter().all(|b| matches!(b, Ok(Some(_)))) {
        let mut found = HashMap::new();
        for receipts in blocks.into_iter().flatten().flatten() {
            found.extend(receipts.into_iter().map(|r| (r.transaction_hash, r)));
        }
        return found;
    }
    receipts_of(client, pending).await
}

/// How often receipts are also asked for one by one, and unmined transactions re-broadcast.
const SWEEP: Duration = Duration::from_secs(2);

/// The receipts of the pending hashes, asked for one by one.
async fn receipts_of(
    client: &ChainClient,
    pending: &[Pending],
) -> HashMap<TxHash, TransactionReceipt> {
    let provider = client.provider();
    let mut found = HashMap::new();
    let hashes: Vec<TxHash> = pending
        .iter()
        .flat_map(|p| p.hashes.iter().copied())
        .collect();
    let receipts = join_all(
        hashes
            .iter()
            .map(|h| provider.get_transaction_receipt(*h).into_future()),
    )
    .await;
    for (h, r) in hashes.into_iter().zip(receipts) {
        if let Ok(Some(r)) = r {
            found.insert(h, r);
        }
    }
    found
}

/// Broadcasts again the newest signature of every transaction that has no receipt yet.
async fn rebroadcast(
    client: &ChainClient,
    pending: &[Pending],
    mined: &HashMap<TxHash, TransactionReceipt>,
) {
    let provider = client.provider();
    join_all(
        pending
            .iter()
            .filter(|p| !p.signed.is_empty() && !p.hashes.iter().any(|h| mined.contains_key(h)))
            .map(|p| async move {
                if let Err(e) = provider.send_raw_transaction(&p.signed).await {
                    tracing::debug!(chain = %client.name, label = %p.label, "re-broadcast: {e}");
                }
            }),
    )
    .await;
}

/// Re-sends, with fees raised by 12.5% (nodes require at least 10%), every transaction that has
/// waited `replace_after_blocks` blocks, as long as the fee stays under the cap.
async fn replace_stuck(
    client: &ChainClient,
    wallet: &EthereumWallet,
    from: Address,
    pending: &mut [Pending],
    journal: Option<Journal<'_>>,
    head: u64,
) -> Result<(), ChainError> {
    let after = client.settings.replace_after_blocks;
    if after == 0 {
        return Ok(());
    }
    let cap = client.settings.fee_cap_wei();
    for p in pending.iter_mut() {
        // Blocks alone are not enough: on a chain that mines a block per transaction they pass
        // in milliseconds. A replacement also waits one second per block asked for.
        if head < p.sent_block + after || p.sent_at.elapsed() < Duration::from_secs(after) {
            continue;
        }
        let max_fee = p.req.max_fee_per_gas.unwrap_or_default();
        let tip = p.req.max_priority_fee_per_gas.unwrap_or_default();
        let bumped_fee = bump(max_fee);
        if bumped_fee > cap {
            continue;
        }
        p.req.max_fee_per_gas = Some(bumped_fee);
        p.req.max_priority_fee_per_gas = Some(bump(tip).min(bumped_fee));
        p.sent_block = head;
        p.sent_at = Instant::now();
        p.replacements += 1;
        tracing::warn!(chain = %client.name, label = %p.label, max_fee = bumped_fee, "replacing a stuck transaction");
        p.raw = Some(p.sign(wallet, client).await?);
    }
    if pending.iter().any(|p| p.raw.is_some()) {
        record_latest(
            journal,
            client,
            from,
            pending.iter().filter(|p| p.raw.is_some()),
        )?;
        broadcast_all(client, pending).await;
        for p in pending.iter_mut() {
            if let Some(e) = p.broadcast_error.take() {
                tracing::warn!(chain = %client.name, label = %p.label, "replacement refused: {e}");
            }
        }
    }
    Ok(())
}

fn bump(fee: u128) -> u128 {
    (fee + fee / 8).max(fee + 1)
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

async fn finish(
    client: &ChainClient,
    pending: &Pending,
    receipt: TransactionReceipt,
    journal: Option<Journal<'_>>,
    latency: Duration,
) -> Result<Result<Confirmed, ChainError>, ChainError> {
    let block = receipt.block_number.unwrap_or_default();
    let hash = receipt.transaction_hash;
    let reason = if receipt.status() {
        None
    } else {
        Some(replay_reason(client, pending.req.clone(), block).await)
    };
    if let Some(j) = journal {
        j.store
            .record_receipt(hash, block, receipt.gas_used, reason.as_deref())?;
        for other in pending.hashes.iter().filter(|h| **h != hash) {
            j.store.mark(*other, Status::Replaced)?;
        }
    }
    Ok(match reason {
        None => Ok(Confirmed {
            label: pending.label.clone(),
            tx_hash: hash,
            block,
            gas_used: receipt.gas_used,
            contract_address: receipt.contract_address,
            latency,
            replacements: pending.replacements,
        }),
        Some(reason) => Err(ChainError::Reverted {
            chain: client.name.clone(),
            label: pending.label.clone(),
            tx: hash,
            block,
            reason,
        }),
    })
}

/// Waits for already-broadcast transactions (found in the journal by a re-run) without
/// re-sending them; returns each hash's outcome.
pub async fn await_sent(
    client: &ChainClient,
    sent: Vec<(String, TxHash, TransactionRequest)>,
    journal: Option<Journal<'_>>,
) -> Result<Vec<Result<Confirmed, ChainError>>, ChainError> {
    let start = client
        .provider()
        .get_block_number()
        .await
        .map_err(|e| client.rpc_err(e))?;
    // Search a few blocks back: the transaction may have been mined while we were not looking.
    let from = start.saturating_sub(64);
    let pending: Vec<Pending> = sent
        .into_iter()
        .enumerate()
        .map(|(index, (label, hash, req))| Pending {
            index,
            label,
            target: req.to.and_then(|k| k.to().copied()),
            req,
            hashes: vec![hash],
            sent_block: u64::MAX / 2, // never replaced: we no longer hold its exact fee parameters
            sent_at: Instant::now(),
            replacements: 0,
            broadcast_error: None,
            raw: None,
            signed: Bytes::new(),
        })
        .collect();
    let n = pending.len();
    let wallet = EthereumWallet::default();
    let mut done = follow(
        client,
        &wallet,
        Address::ZERO,
        pending,
        journal,
        from + 1,
        Instant::now(),
    )
    .await?;
    done.sort_by_key(|(i, _)| *i);
    debug_assert_eq!(done.len(), n);
    Ok(done.into_iter().map(|(_, r)| r).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_is_at_least_ten_percent() {
        assert_eq!(bump(1_000_000_000), 1_125_000_000);
        assert!(bump(1) >= 2);
        assert!(bump(80) * 10 >= 80 * 11);
    }
}
