//! JSON-RPC batches: many requests to one chain in a few HTTP round trips.
//!
//! Pausing 200 contracts reads 400 values and sends 200 transactions per chain. One HTTP request
//! each costs both the tool and the node far more than the work itself; batches of
//! `[rpc] batch_size` do the same in a handful, so everything is signed and sent sooner and more
//! of it makes the next block.

use std::collections::BTreeMap;

use alloy::{
    eips::BlockId,
    network::TransactionBuilder,
    primitives::{Address, Bytes},
    providers::Provider,
    rpc::{
        client::BatchRequest,
        json_rpc::{RpcRecv, RpcSend},
        types::TransactionRequest,
    },
    sol_types::SolCall,
    transports::{RpcError, TransportErrorKind, TransportResult},
};
use futures::future::join_all;

use super::{ChainClient, ChainError, revert::simulation_error};

/// Calls `method` once per entry of `params`, in batches of at most `[rpc] batch_size` requests
/// sent at once; each result is in the order of `params`.
///
/// A node that refuses a batch (some hosted endpoints cap or forbid them) gets the same calls one
/// request each.
pub async fn call_each<P, R>(
    client: &ChainClient,
    method: &'static str,
    params: &[P],
) -> Vec<TransportResult<R>>
where
    P: RpcSend,
    R: RpcRecv,
{
    let size = client.settings.batch_size.max(1);
    if size == 1 || params.len() <= 1 {
        return one_by_one(client, method, params).await;
    }
    join_all(
        params
            .chunks(size)
            .map(|chunk| one_batch(client, method, chunk)),
    )
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Calls a view function on every `(chain, contract, call)`, one set of batches per chain, all
/// chains at once; each result is in the order given. A revert is reported by its decoded name.
pub async fn view_all<C: SolCall>(
    reads: &[(&ChainClient, Address, C)],
) -> Vec<Result<C::Return, ChainError>> {
    let mut by_chain: BTreeMap<&str, (&ChainClient, Vec<usize>)> = BTreeMap::new();
    for (i, (client, _, _)) in reads.iter().enumerate() {
        by_chain
            .entry(client.name.as_str())
            .or_insert_with(|| (*client, Vec::new()))
            .1
            .push(i);
    }
    let answers = join_all(by_chain.into_values().map(|(client, indexes)| async move {
        let params: Vec<(TransactionRequest, BlockId)> = indexes
            .iter()
            .map(|i| {
                let (_, to, call) = &reads[*i];
                (
                    TransactionRequest::default()
                        .with_to(*to)
                        .with_input(call.abi_encode()),
                    BlockId::latest(),
                )
            })
            .collect();
        let results = call_each::<_, Bytes>(client, "eth_call", &params).await;
        indexes
            .into_iter()
            .zip(results)
            .map(|(i, r)| {
                let decoded =
                    r.map_err(|e| simulation_error(client, "read", e))
                        .and_then(|bytes| {
                            C::abi_decode_returns(&bytes).map_err(|e| ChainError::BadAnswer {
                                chain: client.name.clone(),
                                what: format!("{} at {}", C::SIGNATURE, reads[i].1),
                                reason: e.to_string(),
                            })
                        });
                (i, decoded)
            })
            .collect::<Vec<_>>()
    }))
    .await;
    let mut ordered: Vec<Option<Result<C::Return, ChainError>>> =
        (0..reads.len()).map(|_| None).collect();
    for (i, r) in answers.into_iter().flatten() {
        ordered[i] = Some(r);
    }
    ordered
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(ChainError::NoAnswer {
                    chain: String::new(),
                    what: "a read".into(),
                })
            })
        })
        .collect()
}

/// JSON-RPC error codes with which nodes refuse a batch, or parts of it, for its size or rate
/// rather than for the call itself (geth: batch too large, response too large, batch timeout;
/// hosted endpoints: limit exceeded, too many requests).
const BATCH_REFUSALS: [i64; 5] = [-32600, -32005, -32003, -32002, 429];

/// Whether a call of a batch came back unanswered or refused for the batch's sake.
fn refused_in_batch<R>(result: &TransportResult<R>) -> bool {
    match result {
        Err(RpcError::Transport(TransportErrorKind::MissingBatchResponse(_))) => true,
        Err(RpcError::ErrorResp(e)) => BATCH_REFUSALS.contains(&e.code),
        _ => false,
    }
}

async fn one_batch<P, R>(
    client: &ChainClient,
    method: &'static str,
    chunk: &[P],
) -> Vec<TransportResult<R>>
where
    P: RpcSend,
    R: RpcRecv,
{
    let mut batch = BatchRequest::new(client.provider().client());
    let waiters: Vec<_> = chunk
        .iter()
        .map(|p| batch.add_call::<P, R>(method, p))
        .collect();
    match batch.send().await {
        Ok(()) => {
            let mut results: Vec<TransportResult<R>> =
                join_all(waiters.into_iter().map(|w| async move { w?.await })).await;
            // A node that refuses a batch may answer with one error object (every call is left
            // unanswered) or with an error for the first call only (geth's "batch too large").
            let refused: Vec<usize> = (0..results.len())
                .filter(|i| refused_in_batch(&results[*i]))
                .collect();
            if !refused.is_empty() {
                tracing::warn!(
                    chain = %client.name,
                    "the endpoint refused {} of a batch of {} {method}; sending them one by one",
                    refused.len(),
                    chunk.len()
                );
                let retry: Vec<P> = refused.iter().map(|i| chunk[*i].clone()).collect();
                for (i, r) in refused.iter().zip(one_by_one(client, method, &retry).await) {
                    results[*i] = r;
                }
            }
            results
        }
        // Refused outright (an HTTP error status, an answer that is not a batch), or every
        // endpoint failed: one by one, the calls either pass or fail each with its own error.
        Err(e) => {
            tracing::warn!(
                chain = %client.name,
                "the endpoint refused a batch of {} {method} ({e}); sending them one by one",
                chunk.len()
            );
            one_by_one(client, method, chunk).await
        }
    }
}

/// Calls `method` once per entry of `params`, each in its own request, all at once.
pub async fn one_by_one<P, R>(
    client: &ChainClient,
    method: &'static str,
    params: &[P],
) -> Vec<TransportResult<R>>
where
    P: RpcSend,
    R: RpcRecv,
{
    let rpc = client.provider().client();
    join_all(
        params
            .iter()
            .map(|p| async move { rpc.request::<P, R>(method, p.clone()).await }),
    )
    .await
}
