//! What the fund-holding contracts of one chain hold (and escrows owe) at one block, read in
//! JSON-RPC batches.

use alloy::{
    eips::BlockId,
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use bindings::{PaymentEscrow, interfaces::IERC20Metadata};

use super::block::BalanceAt;
use crate::{
    chain::{ChainClient, ChainError, batch::call_each},
    config::{ContractConfig, ContractKind},
};

/// The native and listed-token balances of every fund-holding contract in `contracts`, and for
/// escrows `outstanding(asset)`, all at block `number`.
pub async fn at_block(
    client: &ChainClient,
    contracts: &[ContractConfig],
    number: u64,
) -> Result<Vec<BalanceAt>, ChainError> {
    let at = BlockId::number(number);
    let holders: Vec<&ContractConfig> = contracts.iter().filter(|c| c.kind.holds_funds()).collect();
    let mut slots: Vec<(&ContractConfig, Option<Address>)> = Vec::new();
    for c in &holders {
        slots.push((c, None));
        slots.extend(c.tokens.iter().map(|t| (*c, Some(*t))));
    }
    let native: Vec<(Address, BlockId)> = holders.iter().map(|c| (c.address, at)).collect();
    // One eth_call per token balance, then one per escrow debt, in `slots` order.
    let mut calls: Vec<(TransactionRequest, BlockId)> = Vec::new();
    for (c, token) in &slots {
        if let Some(t) = token {
            let input = IERC20Metadata::balanceOfCall { account: c.address }.abi_encode();
            calls.push((
                TransactionRequest::default().with_to(*t).with_input(input),
                at,
            ));
        }
    }
    for (c, token) in &slots {
        if c.kind == ContractKind::PaymentEscrow {
            let input = PaymentEscrow::outstandingCall {
                token: token.unwrap_or_default(),
            }
            .abi_encode();
            calls.push((
                TransactionRequest::default()
                    .with_to(c.address)
                    .with_input(input),
                at,
            ));
        }
    }
    let (native, answers) = tokio::join!(
        call_each::<_, U256>(client, "eth_getBalance", &native),
        call_each::<_, Bytes>(client, "eth_call", &calls)
    );
    let mut native = native.into_iter();
    let mut answers = answers.into_iter();
    let bad = |what: String, reason: String| ChainError::BadAnswer {
        chain: client.name.clone(),
        what,
        reason,
    };
    let missing = |what: &str| ChainError::NoAnswer {
        chain: client.name.clone(),
        what: what.to_string(),
    };
    let mut out: Vec<BalanceAt> = Vec::with_capacity(slots.len());
    for (c, token) in &slots {
        let amount = match token {
            None => native
                .next()
                .ok_or_else(|| missing("eth_getBalance"))?
                .map_err(|e| client.rpc_err(e))?,
            Some(t) => {
                let bytes = answers
                    .next()
                    .ok_or_else(|| missing("balanceOf"))?
                    .map_err(|e| client.rpc_err(e))?;
                IERC20Metadata::balanceOfCall::abi_decode_returns(&bytes).map_err(|e| {
                    bad(
                        format!("balanceOf({}) on token {t} at block {number}", c.address),
                        e.to_string(),
                    )
                })?
            }
        };
        out.push(BalanceAt {
            contract: c.name().to_string(),
            address: c.address,
            token: *token,
            amount,
            owed: None,
        });
    }
    for b in out.iter_mut() {
        let escrow = holders
            .iter()
            .any(|c| c.address == b.address && c.kind == ContractKind::PaymentEscrow);
        if !escrow {
            continue;
        }
        let bytes = answers
            .next()
            .ok_or_else(|| missing("outstanding"))?
            .map_err(|e| client.rpc_err(e))?;
        let owed = PaymentEscrow::outstandingCall::abi_decode_returns(&bytes).map_err(|e| {
            bad(
                format!("outstanding() on {} at block {number}", b.contract),
                e.to_string(),
            )
        })?;
        b.owed = Some(owed);
    }
    Ok(out)
}
