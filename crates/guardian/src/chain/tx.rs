//! The one path for state-changing calls: simulate all, price them (an emergency pause to win
//! the next block), sign with local nonces, record, send all at once, follow the chain block by
//! block until every receipt is in (replacing transactions that wait on the same nonce), check
//! status, decode reverts by name.

use std::time::Instant;

use alloy::{
    consensus::Transaction as _,
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, TxHash, U64, U256},
    providers::Provider,
    rpc::types::{Transaction, TransactionRequest},
};
use futures::future::join_all;

use super::{
    ChainClient, ChainError, Fees, Signer, batch,
    call::{Call, Confirmed, Journal, Preflight},
    fees::{self, Limits, Market, is_legacy, read_market},
    follow::{NOT_A_CALL, Pending, follow, record_latest},
    revert::simulation_error,
    route::broadcast_all,
};

pub use super::follow::await_sent;

/// Simulates every call, then signs them with consecutive local nonces, records and broadcasts
/// them all at once, and waits for all receipts.
///
/// A batch with an urgent call (an emergency pause) is priced by [`fees::urgent`]; before it is
/// sent, any transaction of the same key stuck in the pool at a lower nonce is replaced at that
/// price (the same call again, or a no-op transfer when the node does not show it), so that
/// nothing of ours waits ahead of the pause.
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
    let urgent = calls.iter().any(|c| c.urgent);
    let outbid = calls
        .iter()
        .filter_map(|c| c.outbid)
        .max_by_key(|o| o.max_priority_fee_per_gas);

    // Calls an earlier run already broadcast, as the node still has them.
    let in_flight: Vec<Option<Transaction>> = join_all(calls.iter().map(|c| async move {
        let hash = c.in_flight?;
        provider.get_transaction_by_hash(hash).await.ok().flatten()
    }))
    .await;
    let fresh: Vec<usize> = (0..calls.len())
        .filter(|i| in_flight[*i].is_none())
        .collect();
    let requests: Vec<TransactionRequest> = calls.iter().map(|c| request(c, from)).collect();
    let estimate_params: Vec<(TransactionRequest,)> =
        fresh.iter().map(|i| (requests[*i].clone(),)).collect();
    let limits = Limits::of(&client.settings);
    let (estimates, chain_state, pricing) = tokio::join!(
        // One request each: anvil, estimating a batch's calls concurrently, was seen to leave
        // transactions of the batch unminable.
        batch::one_by_one::<_, U64>(client, "eth_estimateGas", &estimate_params),
        async {
            tokio::try_join!(
                async { provider.get_transaction_count(from).latest().await },
                async { provider.get_transaction_count(from).pending().await },
                async { provider.get_balance(from).await },
                async { provider.get_block_number().await },
            )
            .map_err(|e| client.rpc_err(e))
        },
        async {
            if urgent {
                let market = read_market(client, from).await?;
                Ok::<_, ChainError>((fees::urgent(&market, limits, outbid), Some(market)))
            } else {
                Ok((ordinary(client).await?, None))
            }
        }
    );
    let (mined_nonce, nonce, balance, start_block) = chain_state?;
    let (mut price, market): (Fees, Option<Market>) = pricing?;
    let mut gas: Vec<Option<Result<u64, ChainError>>> = (0..calls.len()).map(|_| None).collect();
    for (i, estimate) in fresh.iter().zip(estimates) {
        gas[*i] = Some(
            estimate
                .map(|g| g.saturating_to::<u64>().saturating_mul(13) / 10 + 10_000) // headroom for the 63/64 rule around capped hooks
                .map_err(|e| simulation_error(client, &calls[*i].label, e)),
        );
    }
    if preflight == Preflight::AllOrNothing
        && let Some(first) = gas.iter().position(|g| matches!(g, Some(Err(_))))
        && let Some(Err(e)) = gas[first].take()
    {
        return Err(e);
    }

    // What of ours waits in the pool ahead of the new nonces: this batch's own earlier sends, and
    // (for an emergency) anything else, which is sped up rather than left to block the pause.
    let owned: Vec<u64> = in_flight.iter().flatten().map(|t| t.nonce()).collect();
    let (stuck, unseen) = if urgent && nonce > mined_nonce {
        stuck_ahead(client, journal, from, mined_nonce..nonce, &owned).await
    } else {
        (Vec::new(), Vec::new())
    };

    let mut pending: Vec<Pending> = Vec::new();
    let mut outcomes: Vec<Option<Result<Confirmed, ChainError>>> =
        (0..calls.len()).map(|_| None).collect();
    let mut next_nonce = nonce;
    for (i, call) in calls.iter().enumerate() {
        if let Some(tx) = in_flight[i].clone() {
            pending.push(adopted(client, call, tx, i, start_block));
            continue;
        }
        match gas[i].take() {
            Some(Err(e)) => outcomes[i] = Some(Err(e)),
            Some(Ok(gas)) => {
                let req = requests[i]
                    .clone()
                    .with_nonce(next_nonce)
                    .with_chain_id(client.chain_id)
                    .with_gas_limit(gas);
                next_nonce += 1;
                pending.push(new_pending(client, call, req, i, start_block, &price));
            }
            None => {}
        }
    }
    for tx in stuck {
        let label = format!(
            "speed up nonce {} of {from} (stuck ahead of the pause)",
            tx.nonce()
        );
        let call = Call {
            label,
            to: tx.to(),
            input: tx.input().clone(),
            value: tx.value(),
            urgent: true,
            outbid: None,
            in_flight: None,
        };
        pending.push(adopted(client, &call, tx, NOT_A_CALL, start_block));
    }
    for n in unseen {
        // The node holds something at this nonce but does not show it: a no-op transfer to
        // ourselves at the emergency price takes the nonce, if it pays more.
        let call = Call {
            label: format!(
                "cancel nonce {n} of {from} (stuck ahead of the pause, not shown by the node)"
            ),
            to: Some(from),
            input: Bytes::new(),
            value: U256::ZERO,
            urgent: true,
            outbid: None,
            in_flight: None,
        };
        let req = request(&call, from)
            .with_nonce(n)
            .with_chain_id(client.chain_id)
            .with_gas_limit(21_000);
        pending.push(new_pending(
            client,
            &call,
            req,
            NOT_A_CALL,
            start_block,
            &price,
        ));
    }

    // Affordability: what every signature could cost at its max fee.
    let needed = |pending: &[Pending], price: &Fees| {
        pending.iter().fold(U256::ZERO, |acc, p| {
            let fee = if p.raw.is_none() && p.hashes.is_empty() {
                price.max_fee_per_gas
            } else {
                p.fees.max_fee_per_gas.max(price.max_fee_per_gas)
            };
            let value = p.req.value.unwrap_or_default();
            acc + value + U256::from(p.req.gas.unwrap_or_default()) * U256::from(fee)
        })
    };
    let mut cost = needed(&pending, &price);
    if balance < cost
        && let Some(m) = &market
        && let Some(lower) = affordable(&pending, balance, m, &price)
    {
        // An emergency that the key cannot pay at the cap still goes out at what it can pay.
        tracing::warn!(chain = %client.name, "signer {from} cannot pay the emergency price for every transaction; offering what its balance allows");
        price = lower;
        cost = needed(&pending, &price);
    }
    if balance < cost {
        return Err(ChainError::InsufficientFunds {
            chain: client.name.clone(),
            address: from,
            balance,
            needed: cost,
        });
    }

    let wallet = EthereumWallet::from(signer.key().clone());
    for p in &mut pending {
        let resign = if p.hashes.is_empty() {
            Some(price.clone())
        } else if p.urgent && p.fees.max_fee_per_gas < price.max_fee_per_gas {
            // Sent earlier for less than an emergency pays now: replaced before anything else.
            let m = market.clone().unwrap_or_default();
            fees::replacement(&p.fees, &m, limits, p.outbid, market.is_some())
        } else {
            None
        };
        if let Some(f) = resign {
            let replacing = !p.hashes.is_empty();
            p.set_fees(f);
            if replacing {
                p.replacements += 1;
            }
            p.raw = Some(p.sign(&wallet, client).await?);
            // Let other chains' batches run between signatures.
            tokio::task::yield_now().await;
        }
    }
    record_latest(
        journal,
        client,
        from,
        pending.iter().filter(|p| p.raw.is_some()),
    )?;
    let started = Instant::now();
    broadcast_all(client, &mut pending, journal).await;
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
        if index == NOT_A_CALL {
            if let Err(e) = result {
                tracing::warn!(chain = %client.name, "a stuck transaction ahead of the pause: {e}");
            }
            continue;
        }
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

/// The node's ordinary fees: alloy's EIP-1559 estimate, or the gas price on a legacy chain.
async fn ordinary(client: &ChainClient) -> Result<Fees, ChainError> {
    let provider = client.provider();
    if is_legacy(client).await? {
        let price = provider
            .get_gas_price()
            .await
            .map_err(|e| client.rpc_err(e))?;
        Ok(Fees::ordinary(true, price, price))
    } else {
        let f = provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| client.rpc_err(e))?;
        Ok(Fees::ordinary(
            false,
            f.max_fee_per_gas,
            f.max_priority_fee_per_gas,
        ))
    }
}

/// The highest max fee the key can pay for every transaction, when that still clears the next
/// base fee (and the gas price of a legacy chain): the emergency price lowered to it.
fn affordable(pending: &[Pending], balance: U256, market: &Market, price: &Fees) -> Option<Fees> {
    let values = pending
        .iter()
        .fold(U256::ZERO, |acc, p| acc + p.req.value.unwrap_or_default());
    let gas = pending.iter().fold(U256::ZERO, |acc, p| {
        acc + U256::from(p.req.gas.unwrap_or_default())
    });
    if gas.is_zero() || balance <= values {
        return None;
    }
    let max: u128 = ((balance - values) / gas).try_into().ok()?;
    let floor = market.base_fee.unwrap_or(market.gas_price);
    if max <= floor {
        return None;
    }
    let mut lower = price.clone();
    lower.max_fee_per_gas = max.min(price.max_fee_per_gas);
    lower.max_priority_fee_per_gas = if lower.legacy {
        lower.max_fee_per_gas
    } else {
        price.max_priority_fee_per_gas.min(max - floor)
    };
    lower.reason = format!(
        "{}; lowered to what the signer's balance pays for every transaction ({})",
        price.reason,
        fees::gwei(lower.max_fee_per_gas)
    );
    Some(lower)
}

/// A new call, to be signed at `price`.
fn new_pending(
    client: &ChainClient,
    call: &Call,
    req: TransactionRequest,
    index: usize,
    start_block: u64,
    price: &Fees,
) -> Pending {
    let mut p = Pending {
        index,
        label: call.label.clone(),
        target: call.to,
        req,
        hashes: Vec::new(),
        sent_block: start_block,
        fresh: false,
        sent_at: Instant::now(),
        replacements: 0,
        broadcast_error: None,
        raw: None,
        signed: Bytes::new(),
        urgent: call.urgent,
        outbid: call.outbid,
        fees: price.clone(),
        first_block: 0,
        public: !(call.urgent && client.route.private_only),
    };
    p.set_fees(price.clone());
    p
}

/// A transaction already in the pool, followed under `index` (and replaced when it waits).
fn adopted(
    client: &ChainClient,
    call: &Call,
    tx: Transaction,
    index: usize,
    start_block: u64,
) -> Pending {
    let hash = *tx.inner.tx_hash();
    let signed = Bytes::from(tx.inner.inner().encoded_2718());
    let legacy = tx.max_priority_fee_per_gas().is_none();
    let fees = Fees {
        legacy,
        max_fee_per_gas: tx.max_fee_per_gas(),
        max_priority_fee_per_gas: tx
            .max_priority_fee_per_gas()
            .unwrap_or(tx.max_fee_per_gas()),
        reason: "sent earlier".into(),
    };
    let chain_id = client.chain_id;
    let mut req = tx.into_request();
    req.chain_id = Some(chain_id);
    req.from = None;
    Pending {
        index,
        label: call.label.clone(),
        target: call.to,
        req,
        hashes: vec![hash],
        sent_block: start_block,
        fresh: true,
        sent_at: Instant::now(),
        replacements: 0,
        broadcast_error: None,
        raw: None,
        signed,
        urgent: call.urgent,
        outbid: call.outbid,
        fees,
        first_block: start_block.max(1),
        public: true,
    }
}

/// The transactions of `from` waiting in the pool at `nonces` (other than `owned`): found by
/// the hashes the journal holds for them, else in the node's `txpool_content`; and the nonces
/// whose transaction the node does not show.
async fn stuck_ahead(
    client: &ChainClient,
    journal: Option<Journal<'_>>,
    from: Address,
    nonces: std::ops::Range<u64>,
    owned: &[u64],
) -> (Vec<Transaction>, Vec<u64>) {
    let provider = client.provider();
    let wanted: Vec<u64> = nonces.filter(|n| !owned.contains(n)).collect();
    if wanted.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut found: Vec<Transaction> = Vec::new();
    if let Some(j) = journal
        && let Ok(rows) = j.store.unconfirmed(client.chain_id, from)
    {
        let hashes: Vec<TxHash> = rows
            .iter()
            .filter(|r| wanted.contains(&r.nonce))
            .map(|r| r.tx_hash)
            .collect();
        for tx in join_all(hashes.iter().map(|h| provider.get_transaction_by_hash(*h))).await {
            if let Ok(Some(tx)) = tx
                && tx.block_number.is_none()
                && !found.iter().any(|f| f.nonce() == tx.nonce())
            {
                found.push(tx);
            }
        }
    }
    if wanted
        .iter()
        .any(|n| !found.iter().any(|f| f.nonce() == *n))
    {
        match provider
            .raw_request::<_, serde_json::Value>("txpool_content".into(), ())
            .await
        {
            Ok(content) => {
                let mine = ["pending", "queued"].into_iter().filter_map(|k| {
                    content[k]
                        .as_object()?
                        .iter()
                        .find(|(a, _)| a.parse::<Address>().ok() == Some(from))
                        .map(|(_, txs)| txs.clone())
                });
                for txs in mine {
                    for tx in txs.as_object().into_iter().flat_map(|o| o.values()) {
                        if let Ok(tx) = serde_json::from_value::<Transaction>(tx.clone())
                            && wanted.contains(&tx.nonce())
                            && !found.iter().any(|f| f.nonce() == tx.nonce())
                        {
                            found.push(tx);
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(chain = %client.name, "no txpool_content: {e}"),
        }
    }
    let missing: Vec<u64> = wanted
        .into_iter()
        .filter(|n| !found.iter().any(|f| f.nonce() == *n))
        .collect();
    found.sort_by_key(|t| t.nonce());
    (found, missing)
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
