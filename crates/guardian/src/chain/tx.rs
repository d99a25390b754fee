//! The one path for state-changing calls: simulate all, sign with local nonces, record, send all
//! at once, follow the chain block by block until every receipt is in (replacing transactions
//! that wait too long with a higher fee on the same nonce), check status, decode reverts by name.

use std::time::Instant;

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, U64, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};

use super::{
    ChainClient, ChainError, Signer, batch,
    call::{Call, Confirmed, Journal, Preflight},
    follow::{Pending, broadcast_all, follow, record_latest},
    revert::simulation_error,
};

pub use super::follow::await_sent;

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
    let (nonce, mut fees, balance, start_block) = chain_state.map_err(|e| client.rpc_err(e))?;
    // An emergency pause outbids ordinary traffic for its place in the block: at least the
    // configured tip, the max fee raised by as much (within the fee cap).
    let floor = client.settings.pause_tip_wei();
    if calls.iter().any(|c| c.urgent) && fees.max_priority_fee_per_gas < floor {
        let raise = floor - fees.max_priority_fee_per_gas;
        fees.max_priority_fee_per_gas = floor;
        fees.max_fee_per_gas = fees
            .max_fee_per_gas
            .saturating_add(raise)
            .min(client.settings.fee_cap_wei().max(floor));
    }
    // A pre-emptive pause outbids the pending transaction it answers: a higher priority fee and
    // a higher fee cap (by an eighth, at least 1 gwei), within [rpc] fee_cap_gwei.
    if let Some(o) = calls
        .iter()
        .filter_map(|c| c.outbid)
        .max_by_key(|o| o.max_priority_fee_per_gas)
    {
        let cap = client.settings.fee_cap_wei();
        let above = |x: u128| x.saturating_add((x / 8).max(1_000_000_000));
        fees.max_priority_fee_per_gas = fees
            .max_priority_fee_per_gas
            .max(above(o.max_priority_fee_per_gas))
            .min(cap);
        fees.max_fee_per_gas = fees
            .max_fee_per_gas
            .max(above(o.max_fee_per_gas))
            .max(fees.max_priority_fee_per_gas)
            .min(cap);
    }
    let mut gas: Vec<Result<u64, ChainError>> = calls
        .iter()
        .zip(estimates)
        .map(|(call, estimate)| {
            estimate
                .map(|g| g.saturating_to::<u64>().saturating_mul(13) / 10 + 10_000) // headroom for the 63/64 rule around capped hooks
                .map_err(|e| simulation_error(client, &call.label, e))
        })
        .collect();
    if preflight == Preflight::AllOrNothing
        && let Some(first) = gas.iter().position(Result::is_err)
        && let Err(e) = gas.swap_remove(first)
    {
        return Err(e);
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
                Err(ChainError::NoAnswer {
                    chain: client.name.clone(),
                    what: "a call of this batch".into(),
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
