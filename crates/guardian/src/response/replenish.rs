//! Returning rescued funds with `replenish`, so an escrow holds what it owes before it resumes.
//! Not an emergency action: every check passes before anything is sent.

use alloy::{
    primitives::{Address, TxHash, U256, utils::parse_units},
    providers::Provider,
};
use bindings::interfaces::{IERC20Metadata, IIntegraVault};
use serde::Serialize;

use super::{ResponseError, contract_err, find_contract};
use crate::{
    chain::{Call, ChainClient, Journal, Preflight, Signer, send_all},
    config::ContractKind,
    deployment::Deployment,
    funds::{metadata, read_holdings, show_amount},
};

/// A request to return funds to a fund-holding contract.
#[derive(Debug, Clone)]
pub struct ReplenishRequest {
    /// The contract to return funds to.
    pub contract: String,
    /// `None` for the native coin.
    pub token: Option<Address>,
    /// How much, in the asset's units as people write them (`10.5` is 10.5 ETH).
    pub amount: String,
    /// The signer that pays; may be left out when only one signer is configured.
    pub signer: Option<String>,
    /// Check and report, send nothing.
    pub dry_run: bool,
    /// Why, for the record.
    pub reason: Option<String>,
}

/// What was returned.
#[derive(Debug, Clone, Serialize)]
pub struct ReplenishReport {
    /// The journal's id for this run.
    pub action_id: i64,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Contract name.
    pub contract: String,
    /// Chain name.
    pub chain: String,
    /// `None` for the native coin.
    pub token: Option<Address>,
    /// The asset's symbol.
    pub symbol: String,
    /// The asset's decimals.
    pub decimals: u8,
    /// Amount returned, in base units.
    pub amount: U256,
    /// The signer that paid.
    pub signer: String,
    /// The approval sent first, for a token whose allowance was short.
    pub approve_tx: Option<TxHash>,
    /// The `replenish` transaction.
    pub tx: Option<TxHash>,
    /// Its block.
    pub block: Option<u64>,
    /// The contract's balance of the asset before, in base units.
    pub balance_before: U256,
    /// Its balance after (re-read), when sent.
    pub balance_after: Option<U256>,
    /// What its open payments are owed in this asset, for an escrow.
    pub owed: Option<U256>,
    /// When the treasury is a Safe (`--signer` names one): its proposal, nothing sent yet.
    pub proposal: Option<super::safe::Proposed>,
}

impl ReplenishReport {
    /// An amount of this report's asset for people.
    pub fn show(&self, amount: U256) -> String {
        show_amount(amount, self.decimals, &self.symbol)
    }
}

/// Why a replenish was refused before anything was sent.
fn refuse(message: String) -> ResponseError {
    ResponseError::Replenish(message)
}

/// Returns funds to a contract: checks the signer can pay, approves a token if needed, sends
/// `replenish`, and re-reads the books.
pub async fn run(
    deployment: &Deployment,
    request: &ReplenishRequest,
) -> Result<ReplenishReport, ResponseError> {
    let contract = find_contract(
        deployment,
        &request.contract,
        ContractKind::holds_funds,
        "holds no funds and has no replenish",
    )?;
    let client: &ChainClient = deployment.clients.get(contract.chain()).ok_or_else(|| {
        refuse(format!(
            "chain `{}` of {} is unreachable: {}",
            contract.chain(),
            contract.name(),
            deployment
                .unreachable
                .get(contract.chain())
                .map(|e| e.to_string())
                .unwrap_or_default()
        ))
    })?;
    let via_safe = request
        .signer
        .as_deref()
        .and_then(|n| deployment.safes.iter().find(|s| s.name == n));
    let signer: Option<&Signer> = match &request.signer {
        _ if via_safe.is_some() => None,
        Some(name) => Some(deployment.signer(name)?),
        None => match deployment.signers.as_slice() {
            [only] => Some(only),
            several => {
                return Err(refuse(format!(
                    "say which signer pays: --signer NAME (configured: {})",
                    several
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
    };
    let (symbol, decimals) = metadata(client, request.token).await;
    let amount: U256 = parse_units(request.amount.trim(), decimals)
        .map_err(|e| {
            refuse(format!(
                "--amount {}: not an amount of {symbol} ({e}); write it in {symbol}, e.g. 10.5",
                request.amount
            ))
        })?
        .get_absolute();
    if amount.is_zero() {
        return Err(refuse("--amount must be more than zero".into()));
    }
    let show = |a: U256| show_amount(a, decimals, &symbol);

    let holdings = read_holdings(client, contract).await?;
    let book = holdings.iter().find(|h| h.token == request.token);
    let balance_before = book.map(|h| h.amount).unwrap_or_default();
    let owed = book.and_then(|h| h.owed);
    let books = ReplenishReport {
        action_id: 0,
        dry_run: request.dry_run,
        contract: contract.name().to_string(),
        chain: contract.chain().to_string(),
        token: request.token,
        symbol: symbol.clone(),
        decimals,
        amount,
        signer: String::new(),
        approve_tx: None,
        tx: None,
        block: None,
        balance_before,
        balance_after: None,
        owed,
        proposal: None,
    };
    let (Some(signer), None) = (signer, via_safe) else {
        let safe = via_safe.ok_or_else(|| refuse("no signer to pay".into()))?;
        return super::safe::propose_replenish(deployment, client, contract, safe, request, books)
            .await;
    };

    // The payer must have the funds (and, for a token, have approved the contract).
    let from = signer.address();
    let mut calls = Vec::new();
    match request.token {
        None => {
            let have = client
                .provider()
                .get_balance(from)
                .await
                .map_err(|e| client.rpc_err(e))?;
            if have <= amount {
                return Err(refuse(format!(
                    "signer {} ({from}) holds {} on chain `{}`, not enough to return {} and pay gas",
                    signer.name,
                    show(have),
                    client.name,
                    show(amount)
                )));
            }
        }
        Some(token) => {
            let erc20 = IERC20Metadata::new(token, client.provider());
            let have = erc20
                .balanceOf(from)
                .call()
                .await
                .map_err(|e| contract_err(client, e))?;
            if have < amount {
                return Err(refuse(format!(
                    "signer {} ({from}) holds {}, less than the {} to return",
                    signer.name,
                    show(have),
                    show(amount)
                )));
            }
            let allowed = erc20
                .allowance(from, contract.address)
                .call()
                .await
                .map_err(|e| contract_err(client, e))?;
            if allowed < amount {
                calls.push(Call::new(
                    format!("approve {} {amount} {token}", contract.name()),
                    token,
                    IERC20Metadata::approveCall {
                        spender: contract.address,
                        value: amount,
                    },
                ));
            }
        }
    }
    let mut replenish = Call::new(
        format!(
            "replenish {} {amount} {}",
            contract.name(),
            request
                .token
                .map(|t| t.to_string())
                .unwrap_or_else(|| "native".into())
        ),
        contract.address,
        IIntegraVault::replenishCall {
            token: request.token.unwrap_or(Address::ZERO),
            amount,
        },
    );
    if request.token.is_none() {
        replenish.value = amount;
    }

    let action_id = deployment.store.begin_action(
        "replenish",
        &format!("{} {from}", signer.name),
        request.reason.as_deref(),
        &serde_json::json!({
            "contract": contract.name(), "token": request.token,
            "amount": amount.to_string(), "dry_run": request.dry_run,
        }),
    )?;
    let mut report = ReplenishReport {
        action_id,
        signer: signer.name.clone(),
        ..books
    };
    if request.dry_run {
        deployment.store.finish_action(action_id, true, "dry run")?;
        return Ok(report);
    }
    let journal = Some(Journal {
        store: &deployment.store,
        action: action_id,
    });
    // The approval must be mined before `replenish` can be simulated against it.
    if !calls.is_empty() {
        let approved = send_all(client, signer, calls, journal, Preflight::AllOrNothing).await;
        let approved = approved.and_then(|mut r| r.remove(0));
        match approved {
            Ok(c) => report.approve_tx = Some(c.tx_hash),
            Err(e) => {
                deployment
                    .store
                    .finish_action(action_id, false, &e.to_string())?;
                return Err(e.into());
            }
        }
    }
    let sent = send_all(
        client,
        signer,
        vec![replenish],
        journal,
        Preflight::AllOrNothing,
    )
    .await
    .and_then(|mut r| r.remove(0));
    match sent {
        Ok(c) => {
            report.tx = Some(c.tx_hash);
            report.block = Some(c.block);
        }
        Err(e) => {
            deployment
                .store
                .finish_action(action_id, false, &e.to_string())?;
            return Err(e.into());
        }
    }
    report.balance_after = read_holdings(client, contract)
        .await
        .ok()
        .and_then(|h| h.into_iter().find(|h| h.token == request.token))
        .map(|h| h.amount);
    deployment.store.finish_action(
        action_id,
        true,
        &format!("returned {} to {}", show(amount), contract.name()),
    )?;
    Ok(report)
}
