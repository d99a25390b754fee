//! Returning funds from a treasury that is a Safe: the `replenish` call (with the native coin
//! it returns, or after an `approve` of the token when the allowance is short), proposed to the
//! Safe's owners as one transaction. The Safe must hold the amount.

use alloy::{primitives::Address, sol_types::SolCall};
use bindings::interfaces::{IERC20Metadata, IIntegraVault};

use super::{call, propose};
use crate::{
    chain::ChainClient,
    config::ContractConfig,
    deployment::{Deployment, SafeSigner},
    response::{
        ResponseError, contract_err,
        replenish::{ReplenishReport, ReplenishRequest},
    },
};

/// Proposes returning `books.amount` to `contract` from `safe`; `books` is the report so far
/// (the asset and the contract's books), completed with the proposal.
pub async fn propose_replenish(
    deployment: &Deployment,
    client: &ChainClient,
    contract: &ContractConfig,
    safe: &SafeSigner,
    request: &ReplenishRequest,
    books: ReplenishReport,
) -> Result<ReplenishReport, ResponseError> {
    let refuse = ResponseError::Replenish;
    let treasury = safe.at(&client.name).ok_or_else(|| {
        refuse(format!(
            "the Safe `{}` has no address on {}",
            safe.name, client.name
        ))
    })?;
    let amount = books.amount;
    let have = crate::funds::balance_of(client, treasury, request.token).await?;
    if have < amount {
        return Err(refuse(format!(
            "the Safe `{}` ({treasury}) holds {}, less than the {} to return",
            safe.name,
            books.show(have),
            books.show(amount)
        )));
    }
    let mut calls = Vec::new();
    if let Some(token) = request.token {
        let allowed = IERC20Metadata::new(token, client.provider())
            .allowance(treasury, contract.address)
            .call()
            .await
            .map_err(|e| contract_err(client, e))?;
        if allowed < amount {
            let data = IERC20Metadata::approveCall {
                spender: contract.address,
                value: amount,
            }
            .abi_encode();
            calls.push(call(
                format!("approve {} to take {}", contract.name(), books.show(amount)),
                token,
                data,
            ));
        }
    }
    let data = IIntegraVault::replenishCall {
        token: request.token.unwrap_or(Address::ZERO),
        amount,
    }
    .abi_encode();
    let mut replenish = call(
        format!("replenish {} with {}", contract.name(), books.show(amount)),
        contract.address,
        data,
    );
    if request.token.is_none() {
        replenish.value = amount;
    }
    calls.push(replenish);
    let action_id = deployment.store.begin_action(
        "replenish",
        &format!("{} {treasury}", safe.name),
        request.reason.as_deref(),
        &serde_json::json!({
            "contract": contract.name(), "token": request.token,
            "amount": amount.to_string(), "dry_run": request.dry_run, "safe": treasury,
        }),
    )?;
    let mut report = ReplenishReport {
        action_id,
        signer: safe.name.clone(),
        ..books
    };
    if request.dry_run {
        deployment.store.finish_action(action_id, true, "dry run")?;
        return Ok(report);
    }
    let actor = crate::operator::operator(None, &crate::config::env::process_env);
    let title = format!("replenish {} with {}", contract.name(), report.show(amount));
    match propose(deployment, client, safe, &title, calls, &actor, None).await {
        Ok(p) => {
            deployment.store.finish_action(
                action_id,
                true,
                &format!("proposed to the Safe `{}`: proposal {}", safe.name, p.id),
            )?;
            report.proposal = Some(p);
            Ok(report)
        }
        Err(e) => {
            deployment
                .store
                .finish_action(action_id, false, &e.to_string())?;
            Err(e)
        }
    }
}
