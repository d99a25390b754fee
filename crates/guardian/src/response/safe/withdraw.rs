//! A rescue whose `EMERGENCY_ROLE` a Safe holds: each contract's whole balance of each asset
//! asked for, moved by `emergencyWithdraw` to the safe recipient, proposed to the Safe's owners
//! (one proposal per chain and Safe).

use alloy::{primitives::Address, sol_types::SolCall};
use bindings::interfaces::IIntegraVault;

use super::{Proposed, call, propose_calls};
use crate::{
    chain::ChainClient,
    config::ContractConfig,
    deployment::Deployment,
    funds::{balance_of, metadata, show_amount},
    response::{
        ResponseError,
        withdraw::{Amount, Asset, WithdrawRequest},
    },
    roles::Role,
};

/// Withdrawals (as `request` asks: its asset, its amount or each whole balance, to its
/// recipient) from (index, contract, chain) no key can sign for, through the Safes that hold
/// `EMERGENCY_ROLE` there. The indexes proposed and the proposals.
pub async fn propose_withdraw(
    deployment: &Deployment,
    wanted: Vec<(usize, &ContractConfig, &ChainClient)>,
    request: &WithdrawRequest,
) -> Result<(Vec<usize>, Vec<Proposed>), ResponseError> {
    let to = request.to;
    if deployment.safes.is_empty() || wanted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut wanted_calls = Vec::new();
    for (k, contract, client) in wanted {
        let assets: Vec<Option<Address>> = match request.asset {
            Asset::Native => vec![None],
            Asset::Token(t) => vec![Some(t)],
            Asset::Everything => std::iter::once(None)
                .chain(contract.tokens.iter().copied().map(Some))
                .collect(),
        };
        for token in assets {
            let amount = match request.amount {
                Amount::All => balance_of(client, contract.address, token).await?,
                Amount::Exact(a) => a,
            };
            if amount.is_zero() {
                continue;
            }
            let (symbol, decimals) = metadata(client, token).await;
            let data = IIntegraVault::emergencyWithdrawCall {
                token: token.unwrap_or(Address::ZERO),
                recipient: to,
                amount,
            }
            .abi_encode();
            let c = call(
                // The words for people, then the exact withdrawal (the report counts it).
                format!(
                    "withdraw {} from {} to {to} ({})",
                    show_amount(amount, decimals, &symbol),
                    contract.name(),
                    crate::response::withdraw::label(contract.name(), amount, token)
                ),
                contract.address,
                data,
            );
            wanted_calls.push((k, client, contract.address, c));
        }
    }
    let (covered, made) =
        propose_calls(deployment, Role::Emergency, "rescue", wanted_calls).await?;
    let mut indexes: Vec<usize> = covered.into_iter().map(|(k, _)| k).collect();
    indexes.dedup();
    Ok((indexes, made))
}
