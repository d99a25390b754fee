//! Rescuing funds with `emergencyWithdraw`: only to a safe recipient, only from paused contracts,
//! only by a holder of `EMERGENCY_ROLE`, every check before anything is sent.

use std::collections::BTreeMap;

use alloy::{
    primitives::{Address, TxHash, U256},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use bindings::interfaces::IIntegraVault;
use futures::future::join_all;
use serde::Serialize;

use super::{
    Earlier, ResponseError, earlier_runs, find_contract, find_holders, lacking, missing_role,
    read_paused,
};
use crate::{
    chain::{
        Call, ChainClient, ChainError, Confirmed, Journal, Preflight, Signer, send_all,
        tx::await_sent,
    },
    config::{ContractConfig, ContractKind},
    deployment::Deployment,
    funds::{metadata, show_amount},
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
    /// The asset's symbol (for people; amounts stay in base units).
    pub symbol: String,
    /// The asset's decimals.
    pub decimals: u8,
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
    /// Sent by an interrupted earlier run and found in the journal: waited for, not sent again.
    pub resumed: bool,
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
    /// Contracts `--everything` could not rescue from (the others were rescued).
    pub skipped: Vec<Skipped>,
    /// Contracts whose `EMERGENCY_ROLE` a Safe holds: its proposals, one per chain and Safe.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<super::safe::Proposed>,
}

impl Movement {
    /// An amount of this movement's asset for people: `1.5 ETH`.
    pub fn show(&self, amount: U256) -> String {
        show_amount(amount, self.decimals, &self.symbol)
    }
}

impl WithdrawReport {
    /// Whether every movement happened (or would, in a dry run).
    pub fn ok(&self) -> bool {
        self.skipped.is_empty() && self.movements.iter().all(|m| m.error.is_none())
    }
}

/// A contract `--everything` could not rescue from, and why; the others were rescued.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Contract name.
    pub contract: String,
    /// Chain name.
    pub chain: String,
    /// Why nothing was sent for it.
    pub error: String,
}

/// The label of a withdrawal transaction; a re-run finds its earlier transactions by it.
pub(crate) fn label(contract: &str, amount: U256, token: Option<Address>) -> String {
    let what = token
        .map(|t| t.to_string())
        .unwrap_or_else(|| "native".into());
    format!("emergencyWithdraw {contract} {amount} {what}")
}

/// `(contract, asset)` and amount of the withdrawal label inside `text` (a Safe call's label
/// carries it in parentheses after the words for people).
pub(crate) fn find_label(text: &str) -> Option<(String, String, U256)> {
    let start = text.find("emergencyWithdraw ")?;
    parse_label(text[start..].split(')').next()?)
}

/// `(contract, asset)` and amount of a withdrawal label.
pub(crate) fn parse_label(label: &str) -> Option<(String, String, U256)> {
    let mut words = label.split(' ');
    if words.next()? != "emergencyWithdraw" {
        return None;
    }
    let contract = words.next()?.to_string();
    let amount = words.next()?.parse().ok()?;
    let what = words.next()?.to_string();
    Some((contract, what, amount))
}

/// Runs a withdrawal request.
///
/// One contract: every check passes before anything is sent. `--everything` (no contract named)
/// is an emergency action: it rescues from every contract it can and reports each one it cannot
/// (unreachable chain, not paused, no signer with `EMERGENCY_ROLE`). Either way, transactions of an
/// interrupted earlier run are found in the journal and waited for, never sent twice.
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
    let best_effort = request.contract.is_none();
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
    let mut skipped: Vec<Skipped> = Vec::new();
    let skip = |c: &ContractConfig, error: String| Skipped {
        contract: c.name().to_string(),
        chain: c.chain().to_string(),
        error,
    };
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
                let error = ResponseError::ChainUnreachable {
                    contract: c.name().to_string(),
                    chain: c.chain().to_string(),
                    reason: why,
                };
                if !best_effort {
                    return Err(error);
                }
                skipped.push(skip(c, error.to_string()));
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
    let not_paused: Vec<usize> = (0..located.len())
        .filter(|k| !matches!(paused[*k], Ok(true)))
        .collect();
    if !not_paused.is_empty() && !best_effort {
        let names: Vec<&str> = not_paused.iter().map(|k| located[*k].0.name()).collect();
        return Err(ResponseError::NotPaused(names.join(" ")));
    }
    let missing: Vec<usize> = (0..located.len())
        .filter(|k| holders[*k].is_none() && !not_paused.contains(k))
        .collect();
    // Where a Safe holds EMERGENCY_ROLE, the withdrawal is proposed to its owners.
    let (proposed, proposals) = if request.dry_run || missing.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let wanted = missing.iter().map(|k| (*k, located[*k].0, located[*k].1));
        super::safe::propose_withdraw(deployment, wanted.collect(), request).await?
    };
    let missing: Vec<usize> = missing
        .into_iter()
        .filter(|k| !proposed.contains(k))
        .collect();
    if !missing.is_empty() && !best_effort {
        let lines = missing
            .iter()
            .map(|k| lacking(located[*k].0.name(), located[*k].0.chain(), &candidates))
            .collect();
        return Err(missing_role(deployment, "EMERGENCY_ROLE", lines));
    }
    for k in &not_paused {
        let c = located[*k].0;
        let why = match &paused[*k] {
            Err(e) => format!("cannot read paused(): {e}"),
            Ok(_) => format!(
                "not paused (emergencyWithdraw works only while paused): run `guardian pause {}` first",
                c.name()
            ),
        };
        skipped.push(skip(c, why));
    }
    for k in &missing {
        let c = located[*k].0;
        skipped.push(skip(
            c,
            format!(
                "no configured signer holds EMERGENCY_ROLE on {}@{}",
                c.name(),
                c.chain()
            ),
        ));
    }
    let usable: Vec<usize> = (0..located.len())
        .filter(|k| !not_paused.contains(k) && !missing.contains(k) && !proposed.contains(k))
        .collect();
    let signer_of = |k: usize| holders[k].unwrap_or(candidates[0]);

    // Transactions of an interrupted earlier run, by (contract, asset).
    let mut earlier: BTreeMap<(String, String), (U256, Earlier)> = BTreeMap::new();
    let mut asked: Vec<(u64, Address)> = Vec::new();
    for k in &usable {
        let (client, sender) = (located[*k].1, signer_of(*k).address());
        if asked.contains(&(client.chain_id, sender)) {
            continue;
        }
        asked.push((client.chain_id, sender));
        let found = earlier_runs(deployment, client, sender, |l| parse_label(l).is_some()).await?;
        for (l, e) in found {
            if let Some((contract, what, amount)) = parse_label(&l) {
                earlier.insert((contract, what), (amount, e));
            }
        }
    }

    let mut lines: Vec<(usize, Option<Address>)> = Vec::new();
    for k in &usable {
        let c = located[*k].0;
        match request.asset {
            Asset::Native => lines.push((*k, None)),
            Asset::Token(t) => lines.push((*k, Some(t))),
            Asset::Everything => {
                lines.push((*k, None));
                lines.extend(c.tokens.iter().map(|t| (*k, Some(*t))));
            }
        }
    }
    let (balances, units) = tokio::join!(
        join_all(lines.iter().map(|(k, t)| crate::funds::balance_of(
            located[*k].1,
            located[*k].0.address,
            *t
        )),),
        join_all(lines.iter().map(|(k, t)| metadata(located[*k].1, *t)))
    );
    let mut movements = Vec::new();
    let mut resumed: Vec<(usize, TxHash)> = Vec::new();
    for (((k, token), balance), (symbol, decimals)) in lines.iter().zip(balances).zip(units) {
        let (c, _) = located[*k];
        let balance = match balance {
            Ok(b) => b,
            Err(e) if best_effort => {
                skipped.push(skip(c, format!("cannot read its balance: {e}")));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let what = token
            .map(|t| t.to_string())
            .unwrap_or_else(|| "native".into());
        let mut movement = Movement {
            contract: c.name().to_string(),
            chain: c.chain().to_string(),
            token: *token,
            amount: U256::ZERO,
            to: request.to,
            balance_before: balance,
            symbol,
            decimals,
            balance_after: None,
            signer: signer_of(*k).name.clone(),
            tx: None,
            block: None,
            error: None,
            resumed: false,
        };
        if let Some((amount, e)) = earlier.get(&(c.name().to_string(), what.clone())) {
            movement.amount = *amount;
            movement.resumed = true;
            match *e {
                Earlier::Pending(hash) => {
                    movement.tx = Some(hash);
                    resumed.push((movements.len(), hash));
                }
                Earlier::Mined { tx, block } => {
                    movement.tx = Some(tx);
                    movement.block = Some(block);
                }
            }
            movements.push((*k, movement));
            continue;
        }
        let amount = match request.amount {
            Amount::All => balance,
            Amount::Exact(a) => a,
        };
        let what = token
            .map(|t| format!("token {t}"))
            .unwrap_or_else(|| "native coin".into());
        if amount > balance {
            return Err(ResponseError::MoreThanHeld {
                contract: c.name().to_string(),
                holds: movement.show(balance),
                requested: movement.show(amount),
            });
        }
        if amount.is_zero() {
            if request.asset == Asset::Everything {
                continue; // nothing there; --everything moves what exists
            }
            return Err(ResponseError::NothingToWithdraw {
                contract: c.name().to_string(),
                what,
            });
        }
        movement.amount = amount;
        movements.push((*k, movement));
    }

    let mut actors: Vec<String> = usable
        .iter()
        .map(|k| format!("{} {}", signer_of(*k).name, signer_of(*k).address()))
        .collect();
    actors.dedup();
    let action_id = deployment.store.begin_action(
        "withdraw",
        &actors.join(", "),
        request.reason.as_deref(),
        &serde_json::json!({
            "to": request.to, "dry_run": request.dry_run,
            "movements": movements.iter().map(|(_, m)| serde_json::json!({
                "contract": m.contract, "token": m.token, "amount": m.amount.to_string(),
                "resumed": m.resumed})).collect::<Vec<_>>(),
            "skipped": skipped.iter().map(|s| &s.contract).collect::<Vec<_>>(),
        }),
    )?;
    if !request.dry_run {
        let journal = Journal {
            store: &deployment.store,
            action: action_id,
        };
        let signers: Vec<&Signer> = (0..located.len()).map(signer_of).collect();
        let waited = await_resumed(&located, &signers, &movements, &resumed, journal).await;
        for (i, result) in waited {
            match result {
                Ok(c) => movements[i].1.block = Some(c.block),
                Err(e) => movements[i].1.error = Some(e.to_string()),
            }
        }
        send_movements(&located, &signers, &mut movements, journal).await;
        let after =
            join_all(movements.iter().map(|(k, m)| {
                crate::funds::balance_of(located[*k].1, located[*k].0.address, m.token)
            }))
            .await;
        for ((_, m), b) in movements.iter_mut().zip(after) {
            m.balance_after = b.ok();
        }
    }
    let report = WithdrawReport {
        action_id,
        dry_run: request.dry_run,
        movements: movements.into_iter().map(|(_, m)| m).collect(),
        skipped,
        proposals,
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
        &format!(
            "{} of {total} movements done, {} contract(s) skipped",
            total - failed,
            report.skipped.len()
        ),
    )?;
    Ok(report)
}

/// Waits for the transactions an interrupted earlier run sent (`resumed`: movement index and
/// hash), without sending them again.
async fn await_resumed(
    located: &[(&ContractConfig, &ChainClient)],
    signers: &[&Signer],
    movements: &[(usize, Movement)],
    resumed: &[(usize, TxHash)],
    journal: Journal<'_>,
) -> Vec<(usize, Result<Confirmed, ChainError>)> {
    let waits = resumed.iter().map(|(i, hash)| async move {
        let (k, m) = &movements[*i];
        let (c, client) = located[*k];
        let req = TransactionRequest::default()
            .from(signers[*k].address())
            .to(c.address)
            .input(withdraw_call(m).abi_encode().into());
        let result = await_sent(
            client,
            vec![(label(c.name(), m.amount, m.token), *hash, req)],
            Some(journal),
        )
        .await
        .and_then(|mut r| {
            r.pop().unwrap_or_else(|| {
                Err(ChainError::NoAnswer {
                    chain: client.name.clone(),
                    what: label(c.name(), m.amount, m.token),
                })
            })
        });
        (*i, result)
    });
    join_all(waits).await
}

/// The `emergencyWithdraw` call of a movement.
fn withdraw_call(m: &Movement) -> IIntegraVault::emergencyWithdrawCall {
    IIntegraVault::emergencyWithdrawCall {
        token: m.token.unwrap_or(Address::ZERO),
        recipient: m.to,
        amount: m.amount,
    }
}

/// Sends every movement not resumed from an earlier run: one batch per (chain, signer), all
/// batches at once.
async fn send_movements(
    located: &[(&ContractConfig, &ChainClient)],
    signers: &[&Signer],
    movements: &mut [(usize, Movement)],
    journal: Journal<'_>,
) {
    let mut groups: BTreeMap<(String, Address), Vec<usize>> = BTreeMap::new();
    for (i, (k, m)) in movements.iter().enumerate() {
        if m.resumed {
            continue;
        }
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
                Call::new(
                    label(located[*k].0.name(), m.amount, m.token),
                    located[*k].0.address,
                    withdraw_call(m),
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
