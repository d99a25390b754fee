//! Following sent transactions until mined: block by block (whole blocks of receipts at once),
//! with a per-hash sweep and re-broadcast as a safety net, and replacement on the same nonce of
//! transactions that wait: an emergency pause every block it is not in, re-priced from the new
//! market; anything else after `[rpc] replace_after_blocks`, an eighth higher. Where each
//! signature is sent is `route`'s.

use std::{
    collections::HashMap,
    future::IntoFuture,
    time::{Duration, Instant},
};

use alloy::{
    eips::{BlockId, eip2718::Encodable2718},
    network::{EthereumWallet, NetworkTransactionBuilder},
    primitives::{Address, Bytes, TxHash},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
};
use futures::future::join_all;

use super::{
    ChainClient, ChainError, Fees, Outbid,
    call::{Confirmed, Journal},
    fees::{self, Limits, Market, read_market},
    revert::revert_reason,
    route::{broadcast_all, go_public, rebroadcast},
};
use crate::storage::{MinedTx, NewTx, Status};

/// A signed transaction being followed until mined; `hashes` holds it and its replacements.
pub(super) struct Pending {
    /// Its call's place in the batch; [`NOT_A_CALL`] for a stuck transaction sped up.
    pub(super) index: usize,
    pub(super) label: String,
    pub(super) target: Option<Address>,
    pub(super) req: TransactionRequest,
    pub(super) hashes: Vec<TxHash>,
    /// The head when it was last broadcast (after the broadcast): a later block passed it by.
    pub(super) sent_block: u64,
    /// Broadcast since the last head was read: `sent_block` is set at the next read.
    pub(super) fresh: bool,
    pub(super) sent_at: Instant,
    pub(super) replacements: u32,
    pub(super) broadcast_error: Option<String>,
    pub(super) raw: Option<Bytes>,
    /// The newest signed bytes, kept for re-broadcasts.
    pub(super) signed: Bytes,
    /// An emergency transaction: urgent prices, replaced every block, private endpoints.
    pub(super) urgent: bool,
    /// The pending transaction it must outbid, for a pre-emptive pause.
    pub(super) outbid: Option<Outbid>,
    /// What the newest signature pays, and why.
    pub(super) fees: Fees,
    /// The head when it was first broadcast: the private-only fallback counts from here.
    pub(super) first_block: u64,
    /// Whether it has been given to the public endpoints (always, unless private-only).
    pub(super) public: bool,
}

/// The index of a transaction followed that is not one of the batch's calls.
pub(super) const NOT_A_CALL: usize = usize::MAX;

impl Pending {
    /// Sets the request's fees (a gas price for a legacy transaction) and remembers why.
    pub(super) fn set_fees(&mut self, fees: Fees) {
        if fees.legacy {
            self.req.gas_price = Some(fees.max_fee_per_gas);
            self.req.max_fee_per_gas = None;
            self.req.max_priority_fee_per_gas = None;
        } else {
            self.req.gas_price = None;
            self.req.max_fee_per_gas = Some(fees.max_fee_per_gas);
            self.req.max_priority_fee_per_gas = Some(fees.max_priority_fee_per_gas);
        }
        self.fees = fees;
    }

    /// Signs the current request and returns the raw bytes to broadcast.
    pub(super) async fn sign(
        &mut self,
        wallet: &EthereumWallet,
        client: &ChainClient,
    ) -> Result<Bytes, ChainError> {
        let envelope = self
            .req
            .clone()
            .build(wallet)
            .await
            .map_err(|e| ChainError::Signing {
                chain: client.name.clone(),
                label: self.label.clone(),
                reason: e.to_string(),
            })?;
        self.hashes.push(*envelope.tx_hash());
        Ok(Bytes::from(envelope.encoded_2718()))
    }
}

/// Records the newest signature of each pending transaction, all in one database transaction,
/// before any of them is broadcast.
pub(super) fn record_latest<'p>(
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
                fees: Some((
                    p.fees.max_fee_per_gas,
                    p.fees.max_priority_fee_per_gas,
                    p.fees.reason.as_str(),
                )),
            })
        })
        .collect();
    j.store.record_sent_all(j.action, &rows)?;
    Ok(())
}

/// Follows the chain block by block until every pending transaction has a receipt, replacing
/// those that wait longer than the configured number of blocks.
pub(super) async fn follow(
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
            let (mined, still): (Vec<Pending>, Vec<Pending>) = pending
                .into_iter()
                .partition(|p| p.hashes.iter().any(|h| receipts.contains_key(h)));
            pending = still;
            done.extend(finish(client, mined, &receipts, journal, started.elapsed()).await?);
        }
        seen = seen.max(head);
        for p in pending.iter_mut().filter(|p| p.fresh) {
            p.fresh = false;
            p.sent_block = p.sent_block.max(head);
            if p.first_block == 0 {
                p.first_block = head;
            }
        }
        go_public(client, &mut pending, journal, head).await;
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

/// Replaces what waits: an urgent transaction as soon as a block passes it by, re-priced from
/// the market of that block; anything else after `replace_after_blocks` blocks (and as many
/// seconds), an eighth higher. When the cap binds the cap is paid; a transaction already at the
/// cap is left as it is.
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
    let limits = Limits::of(&client.settings);
    let mut market: Option<Market> = None;
    for p in pending.iter_mut() {
        if p.fresh {
            continue;
        }
        let due = if p.urgent {
            head > p.sent_block
        } else {
            // Blocks alone are not enough: on a chain that mines a block per transaction they
            // pass in milliseconds. A replacement also waits one second per block asked for.
            head >= p.sent_block + after && p.sent_at.elapsed() >= Duration::from_secs(after)
        };
        if !due {
            continue;
        }
        if p.urgent && market.is_none() {
            match read_market(client, from).await {
                Ok(m) => market = Some(m),
                Err(e) => {
                    tracing::warn!(chain = %client.name, "cannot read the fee market ({e}); bumping by an eighth");
                }
            }
        }
        let fresh = market.as_ref().filter(|_| p.urgent);
        let next = fees::replacement(
            &p.fees,
            fresh.unwrap_or(&Market::default()),
            limits,
            p.outbid,
            fresh.is_some(),
        );
        let Some(next) = next else {
            // Already at the cap: nothing higher can be sent; it waits as it is.
            p.sent_block = head;
            tracing::warn!(chain = %client.name, label = %p.label, "waiting at the fee cap ({}); raise [rpc] fee_cap_gwei to pay more", fees::gwei(limits.cap));
            continue;
        };
        p.set_fees(next);
        p.sent_block = head;
        p.replacements += 1;
        tracing::warn!(chain = %client.name, label = %p.label, fees = %p.fees.summary(), "replacing a transaction a block passed by");
        p.raw = Some(p.sign(wallet, client).await?);
    }
    if pending.iter().any(|p| p.raw.is_some()) {
        record_latest(
            journal,
            client,
            from,
            pending.iter().filter(|p| p.raw.is_some()),
        )?;
        broadcast_all(client, pending, journal).await;
        for p in pending.iter_mut() {
            if let Some(e) = p.broadcast_error.take() {
                tracing::warn!(chain = %client.name, label = %p.label, "replacement refused: {e}");
            }
        }
    }
    Ok(())
}

/// The outcomes of transactions whose receipts arrived, recorded in the journal together.
async fn finish(
    client: &ChainClient,
    mined: Vec<Pending>,
    receipts: &HashMap<TxHash, TransactionReceipt>,
    journal: Option<Journal<'_>>,
    latency: Duration,
) -> Result<Vec<(usize, Result<Confirmed, ChainError>)>, ChainError> {
    let found: Vec<(Pending, &TransactionReceipt)> = mined
        .into_iter()
        .filter_map(|p| {
            let receipt = p.hashes.iter().find_map(|h| receipts.get(h))?;
            Some((p, receipt))
        })
        .collect();
    let reasons: Vec<Option<String>> = join_all(found.iter().map(|(p, receipt)| async move {
        if receipt.status() {
            None
        } else {
            let block = receipt.block_number.unwrap_or_default();
            Some(replay_reason(client, p.req.clone(), block).await)
        }
    }))
    .await;
    if let Some(j) = journal {
        let rows: Vec<MinedTx> = found
            .iter()
            .zip(&reasons)
            .map(|((p, receipt), reason)| MinedTx {
                tx_hash: receipt.transaction_hash,
                block: receipt.block_number.unwrap_or_default(),
                gas_used: receipt.gas_used,
                error: reason.as_deref(),
                replaced: &p.hashes,
            })
            .collect();
        j.store.record_receipts(&rows)?;
    }
    Ok(found
        .into_iter()
        .zip(reasons)
        .map(|((p, receipt), reason)| {
            let block = receipt.block_number.unwrap_or_default();
            let tx = receipt.transaction_hash;
            let outcome = match reason {
                None => Ok(Confirmed {
                    label: p.label,
                    tx_hash: tx,
                    block,
                    gas_used: receipt.gas_used,
                    contract_address: receipt.contract_address,
                    latency,
                    replacements: p.replacements,
                }),
                Some(reason) => Err(ChainError::Reverted {
                    chain: client.name.clone(),
                    label: p.label,
                    tx,
                    block,
                    reason,
                }),
            };
            (p.index, outcome)
        })
        .collect())
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
            fresh: false,
            sent_at: Instant::now(),
            replacements: 0,
            broadcast_error: None,
            raw: None,
            signed: Bytes::new(),
            urgent: false,
            outbid: None,
            fees: Fees::ordinary(false, 0, 0),
            first_block: 0,
            public: true,
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

#[cfg(test)]
mod tests {
    use super::fees::bump;

    #[test]
    fn a_bump_is_at_least_ten_percent() {
        assert_eq!(bump(1_000_000_000), 1_125_000_000);
        assert!(bump(1) >= 2);
        assert!(bump(80) * 10 >= 80 * 11);
    }
}
