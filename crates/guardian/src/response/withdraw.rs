//! Rescuing funds with `emergencyWithdraw`: only to a safe recipient, only from paused contracts,
//! only by a holder of `EMERGENCY_ROLE`, every check before anything is sent.

use std::collections::BTreeMap;

use alloy::{
    primitives::{Address, TxHash, U256},
    providers::Provider,
};
use bindings::{DocumentRegistry, TestToken};
use futures::future::join_all;
use serde::Serialize;

use super::{
    ResponseError, contract_err, find_contract, find_holders, lacking, missing_role, read_paused,
};
use crate::{
    chain::{Call, ChainClient, ChainError, Journal, Preflight, Signer, send_all},
    config::{ContractConfig, ContractKind},
    deployment::Deployment,
    roles::Role,
};

/// Which asset to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// The chain's native coin.
    Native,
    /// An ERC-20 token.
    Token(Address),
    /// The native coin and every token the manifest lists for the contract.
    Everything,
}

/// How much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// Exactly this many base units.
    Exact(U256),
    /// The whole balance.
    All,
}

/// A withdrawal request.
#[derive(Debug, Clone)]
pub struct WithdrawRequest {
    /// The contract; `None` means every fund-holding contract.
    pub contract: Option<String>,
    /// What to move.
    pub asset: Asset,
    /// How much.
    pub amount: Amount,
    /// Where to (must be a safe recipient).
    pub to: Address,
    /// Sign with this signer only.
    pub signer: Option<String>,
    /// Plan and report, send nothing.
    pub dry_run: bool,
    /// Why, for the record.
    pub reason: Option<String>,
}

/// One movement of funds.
#[derive(Debug, Clone, Serialize)]
pub struct Movement {
    /// Contract name.
    pub contract: String,
    /// Chain name.
    pub chain: String,
    /// `None` for the native coin.
    pub token: Option<Address>,
    /// Amount moved (or to move, in a dry run).
    pub amount: U256,
    /// Recipient.
    pub to: Address,
    /// The contract's balance before.
    pub balance_before: U256,
    /// The contract's balance after (re-read), when sent.
    pub balance_after: Option<U256>,
    /// Signer used.
    pub signer: String,
    /// Transaction.
    pub tx: Option<TxHash>,
    /// Block.
    pub block: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct WithdrawReport {
    /// The journal's id for this run.
    pub action_id: i64,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Every movement.
    pub movements: Vec<Movement>,
}

impl WithdrawReport {
    /// Whether every movement happened (or would, in a dry run).
    pub fn ok(&self) -> bool {
        self.movements.iter().all(|m| m.error.is_none())
    }
}

async fn balance_of(
    client: &ChainClient,
    holder: Address,
    token: Option<Address>,
) -> Result<U256, ChainError> {
    match token {
        None => client
            .provider()
            .get_balance(holder)
            .await
            .map_err(|e| client.rpc_err(e)),
        Some(t) => TestToken::new(t, client.provider())
            .balanceOf(holder)
            .call()
            .await
            .map_err(|e| contract_err(client, e)),
    }
}

/// Runs a withdrawal request.
pub async fn run(
    deployment: &Deployment,
    request: &WithdrawRequest,
) -> Result<WithdrawReport, ResponseError> {
    let safe = &deployment.manifest.emergency.safe_recipients;
    if !safe.contains(&request.to) {
        let allowed = if safe.is_empty() {
            "none configured".to_string()
        } else {
            safe.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(ResponseError::RecipientNotAllowed(request.to, allowed));
    }
    let contracts: Vec<&ContractConfig> = match &request.contract {
        Some(name) => {
            let c = find_contract(
                deployment,
                name,
                ContractKind::holds_funds,
                "holds no funds and has no emergencyWithdraw",
            )?;
            vec![c]
        }
        None => deployment
            .manifest
            .contracts
            .iter()
            .filter(|c| c.kind.holds_funds())
            .collect(),
    };
    if contracts.is_empty() {
        return Err(ResponseError::NothingSelected(
            " (no fund-holding contracts)".into(),
        ));
    }
    let mut located: Vec<(&ContractConfig, &ChainClient)> = Vec::new();
    for c in &contracts {
        match deployment.clients.get(c.chain()) {
            Some(client) => located.push((c, client)),
            None => {
                let why = deployment
                    .unreachable
                    .get(c.chain())
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                return Err(ResponseError::Balance(format!(
                    "chain `{}` of {} is unreachable: {why}",
                    c.chain(),
                    c.name()
                )));
            }
        }
    }

    // Every check reads the chain first; nothing is sent until all pass.
    let reads: Vec<(&ChainClient, Address)> = located
        .iter()
        .map(|(c, client)| (*client, c.address))
        .collect();
    let candidates: Vec<&Signer> = match &request.signer {
        Some(name) => vec![deployment.signer(name)?],
        None => deployment.signers.iter().collect(),
    };
    let intended = &deployment.manifest.roles.emergency;
    let (paused, holders) = tokio::join!(
        read_paused(&reads),
        find_holders(Role::Emergency, intended, &candidates, &reads)
    );
    let not_paused: Vec<String> = located
        .iter()
        .zip(&paused)
        .filter(|(_, p)| !matches!(p, Ok(true)))
        .map(|((c, _), _)| c.name().to_string())
        .collect();
    if !not_paused.is_empty() {
        return Err(ResponseError::NotPaused(not_paused.join(" ")));
    }
    let mut signers: Vec<&Signer> = Vec::new();
    let mut missing = Vec::new();
    for (k, (c, _)) in located.iter().enumerate() {
        match holders[k] {
            Some(s) => signers.push(s),
            None => missing.push(lacking(c.name(), c.chain(), &candidates)),
        }
    }
    if !missing.is_empty() {
        return Err(missing_role(deployment, "EMERGENCY_ROLE", missing));
    }

    let mut lines: Vec<(usize, Option<Address>)> = Vec::new();
    for (k, (c, _)) in located.iter().enumerate() {
        match request.asset {
            Asset::Native => lines.push((k, None)),
            Asset::Token(t) => lines.push((k, Some(t))),
            Asset::Everything => {
                lines.push((k, None));
                lines.extend(c.tokens.iter().map(|t| (k, Some(*t))));
            }
        }
    }
    let balances = join_all(
        lines
            .iter()
            .map(|(k, t)| balance_of(located[*k].1, located[*k].0.address, *t)),
    )
    .await;
    let mut movements = Vec::new();
    for ((k, token), balance) in lines.iter().zip(balances) {
        let (c, _) = located[*k];
        let balance = balance?;
        let amount = match request.amount {
            Amount::All => balance,
            Amount::Exact(a) => a,
        };
        let what = token
            .map(|t| format!("token {t}"))
            .unwrap_or_else(|| "native coin".into());
        if amount > balance {
            return Err(ResponseError::Balance(format!(
                "{} holds {balance} of {what}, less than the {amount} requested",
                c.name()
            )));
        }
        if amount.is_zero() {
            if request.asset == Asset::Everything {
                continue; // nothing there; --everything moves what exists
            }
            return Err(ResponseError::Balance(format!(
                "{} holds no {what}: nothing to withdraw",
                c.name()
            )));
        }
        movements.push((
            *k,
            Movement {
                contract: c.name().to_string(),
                chain: c.chain().to_string(),
                token: *token,
                amount,
                to: request.to,
                balance_before: balance,
                balance_after: None,
                signer: signers[*k].name.clone(),
                tx: None,
                block: None,
                error: None,
            },
        ));
    }

    let action_id = deployment.store.begin_action(
        "withdraw",
        &signers.iter().map(|s| format!("{} {}", s.name, s.address())).collect::<Vec<_>>().join(", "),
        request.reason.as_deref(),
        &serde_json::json!({
            "to": request.to, "dry_run": request.dry_run,
            "movements": movements.iter().map(|(_, m)| serde_json::json!({
                "contract": m.contract, "token": m.token, "amount": m.amount.to_string()})).collect::<Vec<_>>(),
        }),
    )?;
    if !request.dry_run {
        send_movements(
            &located,
            &signers,
            &mut movements,
            Journal {
                store: &deployment.store,
                action: action_id,
            },
        )
        .await;
        let after = join_all(
            movements
                .iter()
                .map(|(k, m)| balance_of(located[*k].1, located[*k].0.address, m.token)),
        )
        .await;
        for ((_, m), b) in movements.iter_mut().zip(after) {
            m.balance_after = b.ok();
        }
    }
    let report = WithdrawReport {
        action_id,
        dry_run: request.dry_run,
        movements: movements.into_iter().map(|(_, m)| m).collect(),
    };
    let total = report.movements.len();
    let failed = report
        .movements
        .iter()
        .filter(|m| m.error.is_some())
        .count();
    deployment.store.finish_action(
        action_id,
        report.ok(),
        &format!("{} of {total} movements done", total - failed),
    )?;
    Ok(report)
}

/// Sends every movement: one batch per (chain, signer), all batches at once.
async fn send_movements(
    located: &[(&ContractConfig, &ChainClient)],
    signers: &[&Signer],
    movements: &mut [(usize, Movement)],
    journal: Journal<'_>,
) {
    let mut groups: BTreeMap<(String, Address), Vec<usize>> = BTreeMap::new();
    for (i, (k, _)) in movements.iter().enumerate() {
        groups
            .entry((located[*k].1.name.clone(), signers[*k].address()))
            .or_default()
            .push(i);
    }
    let view: &[(usize, Movement)] = movements;
    let results = join_all(groups.values().map(|idx| async move {
        let k = view[idx[0]].0;
        let calls = idx
            .iter()
            .map(|i| {
                let (k, m) = &view[*i];
                let what = m
                    .token
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "native".into());
                Call::new(
                    format!(
                        "emergencyWithdraw {} {} {what}",
                        located[*k].0.name(),
                        m.amount
                    ),
                    located[*k].0.address,
                    DocumentRegistry::emergencyWithdrawCall {
                        token: m.token.unwrap_or(Address::ZERO),
                        recipient: m.to,
                        amount: m.amount,
                    },
                )
            })
            .collect();
        (
            idx,
            send_all(
                located[k].1,
                signers[k],
                calls,
                Some(journal),
                Preflight::BestEffort,
            )
            .await,
        )
    }))
    .await;
    for (idx, result) in results {
        match result {
            Ok(outcomes) => {
                for (i, o) in idx.iter().zip(outcomes) {
                    match o {
                        Ok(c) => {
                            movements[*i].1.tx = Some(c.tx_hash);
                            movements[*i].1.block = Some(c.block);
                        }
                        Err(e) => movements[*i].1.error = Some(e.to_string()),
                    }
                }
            }
            Err(e) => {
                for i in idx {
                    movements[*i].1.error = Some(e.to_string());
                }
            }
        }
    }
}
