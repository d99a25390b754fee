//! A rescue whose `EMERGENCY_ROLE` a Safe holds: each contract's whole balance of each asset
//! asked for, moved by `emergencyWithdraw` to the safe recipient, proposed to the Safe's owners
//! (one proposal per chain and Safe).

use alloy::{primitives::Address, sol_types::SolCall};
use bindings::interfaces::IIntegraVault;

use super::{Proposed, call, propose, safe_holders};
use crate::{
    chain::ChainClient,
    config::ContractConfig,
    deployment::{Deployment, SafeSigner},
    funds::{balance_of, metadata, show_amount},
    response::{
        ResponseError,
        withdraw::{Amount, Asset, WithdrawRequest},
    },
    roles::Role,
    safe::SafeCall,
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
    let reads: Vec<(&ChainClient, Address)> = wanted.iter().map(|w| (w.2, w.1.address)).collect();
    let holders = safe_holders(deployment, Role::Emergency, &reads).await;
    let mut groups: Vec<(&ChainClient, &SafeSigner, Vec<usize>, Vec<SafeCall>)> = Vec::new();
    for ((k, contract, client), holder) in wanted.into_iter().zip(holders) {
        let Some(s) = holder else { continue };
        let assets: Vec<Option<Address>> = match request.asset {
            Asset::Native => vec![None],
            Asset::Token(t) => vec![Some(t)],
            Asset::Everything => std::iter::once(None)
                .chain(contract.tokens.iter().copied().map(Some))
                .collect(),
        };
        let mut calls = Vec::new();
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
            calls.push(call(
                format!(
                    "withdraw {} from {} to {to}",
                    show_amount(amount, decimals, &symbol),
                    contract.name()
                ),
                contract.address,
                data,
            ));
        }
        if calls.is_empty() {
            continue;
        }
        match groups
            .iter_mut()
            .find(|g| g.0.chain_id == client.chain_id && g.1.name == s.name)
        {
            Some(g) => {
                g.2.push(k);
                g.3.extend(calls);
            }
            None => groups.push((client, s, vec![k], calls)),
        }
    }
    let actor = crate::operator::operator(None, &crate::config::env::process_env);
    let mut covered = Vec::new();
    let mut made = Vec::new();
    for (client, s, indexes, calls) in groups {
        let title = format!(
            "rescue: {}",
            calls
                .iter()
                .map(|c| c.label.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        made.push(propose(deployment, client, s, &title, calls, &actor, None).await?);
        covered.extend(indexes);
    }
    Ok((covered, made))
}
