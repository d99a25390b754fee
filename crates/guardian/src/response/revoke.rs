//! Taking a role from a compromised key everywhere at once: read where the account holds it,
//! refuse if no configured signer is admin anywhere it does, then revoke wherever possible — one
//! batch per chain and signer, all at once, like the emergency pause — and re-read `hasRole`.
//! Taking `PAUSER_ROLE` takes the brakes' `GUARDIAN_ROLE` too: a leaked pauser key on a brake
//! could otherwise pause everything again each time the team unpauses.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use alloy::primitives::{Address, TxHash};
use bindings::interfaces::IAccessControl;
use futures::future::join_all;
use serde::Serialize;

use super::{
    ResponseError, find_contract, find_holders, lacking, missing_role, pause::Selection, read_roles,
};
use crate::{
    chain::ChainError,
    chain::{Call, ChainClient, Journal, Preflight, Signer, send_all},
    config::{ContractConfig, ContractKind},
    deployment::Deployment,
    roles::Role,
    status::roles_of,
};

/// A revoke request.
#[derive(Debug, Clone)]
pub struct RevokeRequest {
    /// The role to take.
    pub role: Role,
    /// From whom.
    pub account: Address,
    /// Every contract that has the role ([`Selection::All`]), or these by name.
    pub selection: Selection,
    /// Only contracts on this chain.
    pub chain: Option<String>,
    /// Sign with this signer only (default: whichever configured signer is admin there).
    pub signer: Option<String>,
    /// Read and plan, send nothing.
    pub dry_run: bool,
    /// Why, for the record.
    pub reason: Option<String>,
}

/// What happened on one contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeOutcome {
    /// This run took the role.
    Revoked,
    /// The account did not hold the role here; nothing sent.
    NotHeld,
    /// Dry run: the role would be taken.
    WouldRevoke,
    /// The account may still hold the role here.
    Failed,
    /// A Safe holds `DEFAULT_ADMIN_ROLE` here: proposed to its owners.
    Proposed,
}

/// The report line of one contract.
#[derive(Debug, Clone, Serialize)]
pub struct RevokeTarget {
    /// Contract name.
    pub name: String,
    /// Chain name.
    pub chain: String,
    /// Address.
    pub address: Address,
    /// The role taken here: the one asked for, or `GUARDIAN_ROLE` on a brake for `PAUSER_ROLE`.
    pub role: &'static str,
    /// Outcome.
    pub outcome: RevokeOutcome,
    /// Whether the account holds the role now (as re-read), when known.
    pub holds: Option<bool>,
    /// The admin signer used.
    pub signer: Option<String>,
    /// The transaction.
    pub tx: Option<TxHash>,
    /// Its block.
    pub block: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The whole result; the incident timeline records it as is.
#[derive(Debug, Clone, Serialize)]
pub struct RevokeReport {
    /// Always `revoke`.
    pub action: &'static str,
    /// The journal's id for this run.
    pub action_id: i64,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The role's Solidity name.
    pub role: &'static str,
    /// The account it was taken from.
    pub account: Address,
    /// Per contract.
    pub targets: Vec<RevokeTarget>,
    /// Transactions sent.
    pub transactions: usize,
    /// Milliseconds from start to the re-read.
    pub elapsed_ms: u128,
    /// Contracts whose `DEFAULT_ADMIN_ROLE` a Safe holds: its proposals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<super::safe::Proposed>,
}

impl RevokeReport {
    /// Whether the account holds the role on none of the targets (or would not, in a dry run).
    pub fn ok(&self) -> bool {
        self.targets
            .iter()
            .all(|t| t.outcome != RevokeOutcome::Failed)
    }
}

/// The role that gives `requested`'s power on a contract of `kind`: the role itself where the kind
/// has it, the brake's `GUARDIAN_ROLE` for `PAUSER_ROLE` (both pause), else none.
pub fn role_on(kind: ContractKind, requested: Role) -> Option<Role> {
    if roles_of(kind).contains(&requested) {
        Some(requested)
    } else if kind == ContractKind::EmergencyBrake && requested == Role::Pauser {
        Some(Role::Guardian)
    } else {
        None
    }
}

/// Reads `hasRole` for every `(role, client, contract, account)`: one set of batches per role.
async fn read_each(
    checks: &[(Role, &ChainClient, Address, Address)],
) -> Vec<Result<bool, ChainError>> {
    let roles: BTreeSet<Role> = checks.iter().map(|c| c.0).collect();
    let per_role = join_all(roles.into_iter().map(|role| async move {
        let idx: Vec<usize> = (0..checks.len()).filter(|i| checks[*i].0 == role).collect();
        let reads: Vec<(&ChainClient, Address, Address)> = idx
            .iter()
            .map(|i| (checks[*i].1, checks[*i].2, checks[*i].3))
            .collect();
        (idx, read_roles(role, &reads).await)
    }))
    .await;
    let mut out: Vec<Option<Result<bool, ChainError>>> = (0..checks.len()).map(|_| None).collect();
    for (idx, results) in per_role {
        for (i, r) in idx.into_iter().zip(results) {
            out[i] = Some(r);
        }
    }
    out.into_iter()
        .zip(checks)
        .map(|(r, c)| {
            r.unwrap_or_else(|| {
                Err(ChainError::NoAnswer {
                    chain: c.1.name.clone(),
                    what: format!("hasRole({}, {})", c.0.name(), c.3),
                })
            })
        })
        .collect()
}

/// The contracts a request covers: with `--all`, every contract where the role (or its brake
/// counterpart) exists.
fn select<'a>(
    deployment: &'a Deployment,
    request: &RevokeRequest,
) -> Result<Vec<&'a ContractConfig>, ResponseError> {
    let manifest = &deployment.manifest;
    let chain = request.chain.as_deref();
    if let Some(c) = chain.filter(|c| !manifest.chains.contains_key(*c)) {
        return Err(ResponseError::UnknownChain(c.to_string()));
    }
    let on_chain = |c: &ContractConfig| chain.is_none_or(|name| c.chain() == name);
    let chosen: Vec<&ContractConfig> = match &request.selection {
        Selection::All => manifest
            .contracts
            .iter()
            .filter(|c| role_on(c.kind, request.role).is_some() && on_chain(c))
            .collect(),
        Selection::Named(names) => {
            let mut out: Vec<&ContractConfig> = Vec::new();
            for name in names {
                let c = find_contract(
                    deployment,
                    name,
                    |k| !roles_of(k).is_empty(),
                    "has no roles",
                )?;
                if on_chain(c) && !out.iter().any(|o| o.name() == c.name()) {
                    out.push(c);
                }
            }
            out
        }
    };
    if chosen.is_empty() {
        return Err(ResponseError::NothingSelected(format!(
            " with {}{}",
            request.role.name(),
            chain
                .map(|c| format!(" on chain `{c}`"))
                .unwrap_or_default()
        )));
    }
    Ok(chosen)
}

/// Runs a revoke request. Refuses, sending nothing, when the account holds the role somewhere
/// but no configured signer is admin on any of those contracts; otherwise revokes wherever it can
/// and reports every contract it could not.
pub async fn run(
    deployment: &Deployment,
    request: &RevokeRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RevokeReport, ResponseError> {
    let started = Instant::now();
    let chosen = select(deployment, request)?;
    let roles: Vec<Role> = chosen
        .iter()
        .map(|c| role_on(c.kind, request.role).unwrap_or(request.role))
        .collect();
    let candidates: Vec<&Signer> = match &request.signer {
        Some(name) => vec![deployment.signer(name)?],
        None => deployment.signers.iter().collect(),
    };
    let mut targets: Vec<RevokeTarget> = chosen
        .iter()
        .map(|c| RevokeTarget {
            name: c.name().to_string(),
            chain: c.chain().to_string(),
            address: c.address,
            role: role_on(c.kind, request.role).unwrap_or(request.role).name(),
            outcome: RevokeOutcome::Failed,
            holds: None,
            signer: None,
            tx: None,
            block: None,
            error: deployment.unreachable.get(c.chain()).map(|e| e.to_string()),
        })
        .collect();
    let reachable: Vec<(usize, &ChainClient)> = chosen
        .iter()
        .enumerate()
        .filter_map(|(i, c)| deployment.clients.get(c.chain()).map(|cl| (i, cl)))
        .collect();

    progress(&format!(
        "reading {} of {} on {} contract(s) ...",
        request.role.name(),
        request.account,
        reachable.len()
    ));
    let checks: Vec<(Role, &ChainClient, Address, Address)> = reachable
        .iter()
        .map(|(i, client)| (roles[*i], *client, chosen[*i].address, request.account))
        .collect();
    let held = read_each(&checks).await;
    let mut to_revoke: Vec<(usize, &ChainClient)> = Vec::new();
    for ((i, client), holds) in reachable.iter().zip(held) {
        match holds {
            Ok(true) => {
                targets[*i].holds = Some(true);
                to_revoke.push((*i, client));
            }
            Ok(false) => {
                targets[*i].holds = Some(false);
                targets[*i].outcome = RevokeOutcome::NotHeld;
            }
            Err(e) => targets[*i].error = Some(e.to_string()),
        }
    }

    let admin_targets: Vec<(&ChainClient, Address)> = to_revoke
        .iter()
        .map(|(i, client)| (*client, chosen[*i].address))
        .collect();
    let intended: Vec<Address> = deployment.manifest.roles.admin.into_iter().collect();
    let admins = find_holders(Role::Admin, &intended, &candidates, &admin_targets).await;
    // Where no key holds the admin role but a Safe does, the revocation is proposed to it.
    let mut proposals = Vec::new();
    if !request.dry_run {
        let wanted = to_revoke
            .iter()
            .zip(&admins)
            .filter(|(_, a)| a.is_none())
            .map(|((i, client), _)| {
                let data = alloy::sol_types::SolCall::abi_encode(&IAccessControl::revokeRoleCall {
                    role: roles[*i].id(),
                    account: request.account,
                });
                let label = format!(
                    "revoke {} from {} on {}",
                    roles[*i].name(),
                    request.account,
                    chosen[*i].name()
                );
                (
                    *i,
                    *client,
                    chosen[*i].address,
                    super::safe::call(label, chosen[*i].address, data),
                )
            })
            .collect();
        let (covered, made) =
            super::safe::propose_calls(deployment, Role::Admin, "revoke", wanted).await?;
        for (i, via) in covered {
            targets[i].outcome = RevokeOutcome::Proposed;
            targets[i].signer = Some(via);
        }
        proposals = made;
    }
    let to_revoke: Vec<(usize, &ChainClient)> = to_revoke
        .into_iter()
        .filter(|(i, _)| targets[*i].outcome != RevokeOutcome::Proposed)
        .collect();
    let admins: Vec<Option<&Signer>> = {
        let keep: Vec<Address> = to_revoke.iter().map(|(i, _)| chosen[*i].address).collect();
        admin_targets
            .iter()
            .zip(admins)
            .filter(|((_, a), _)| keep.contains(a))
            .map(|(_, s)| s)
            .collect()
    };
    if !to_revoke.is_empty() && admins.iter().all(Option::is_none) {
        let missing = to_revoke
            .iter()
            .map(|(i, _)| lacking(&targets[*i].name, &targets[*i].chain, &candidates))
            .collect();
        return Err(missing_role(deployment, "DEFAULT_ADMIN_ROLE", missing));
    }

    // One batch per (chain, signer); a contract without an admin signer is reported, not fatal.
    let mut batches: BTreeMap<(String, Address), (&ChainClient, &Signer, Vec<usize>)> =
        BTreeMap::new();
    for ((i, client), admin) in to_revoke.iter().zip(&admins) {
        let t = &mut targets[*i];
        match admin {
            None => {
                t.error = Some(format!(
                    "no configured signer holds DEFAULT_ADMIN_ROLE on {}; revoke it there with the admin key",
                    lacking(&t.name, &t.chain, &candidates)
                ));
            }
            Some(s) => {
                t.signer = Some(s.name.clone());
                if request.dry_run {
                    t.outcome = RevokeOutcome::WouldRevoke;
                }
                batches
                    .entry((client.name.clone(), s.address()))
                    .or_insert((client, s, Vec::new()))
                    .2
                    .push(*i);
            }
        }
    }
    let mut actors: Vec<String> = batches
        .values()
        .map(|(_, s, _)| format!("{} {}", s.name, s.address()))
        .collect();
    actors.dedup();
    let action_id = deployment.store.begin_action(
        "revoke",
        &if actors.is_empty() {
            "nobody (nothing to send)".to_string()
        } else {
            actors.join(", ")
        },
        request.reason.as_deref(),
        &serde_json::json!({
            "role": request.role.name(), "account": request.account,
            "targets": targets.iter().map(|t| &t.name).collect::<Vec<_>>(),
            "chain": request.chain, "dry_run": request.dry_run,
        }),
    )?;
    let mut report = RevokeReport {
        action: "revoke",
        action_id,
        dry_run: request.dry_run,
        role: request.role.name(),
        account: request.account,
        targets,
        transactions: 0,
        elapsed_ms: 0,
        proposals,
    };
    if request.dry_run || batches.is_empty() {
        return finish(deployment, report, started);
    }

    let journal = Journal {
        store: &deployment.store,
        action: action_id,
    };
    report.transactions = batches.values().map(|(_, _, idx)| idx.len()).sum();
    progress(&format!(
        "sending {} revokeRole transaction(s) ...",
        report.transactions
    ));
    let sent = join_all(batches.values().map(|(client, signer, idx)| {
        let calls: Vec<Call> = idx
            .iter()
            .map(|i| {
                Call::new(
                    format!(
                        "revoke {} from {} on {}",
                        roles[*i].name(),
                        request.account,
                        chosen[*i].name()
                    ),
                    chosen[*i].address,
                    IAccessControl::revokeRoleCall {
                        role: roles[*i].id(),
                        account: request.account,
                    },
                )
            })
            .collect();
        async move {
            let results =
                send_all(client, signer, calls, Some(journal), Preflight::BestEffort).await;
            (idx, results)
        }
    }))
    .await;
    for (idx, results) in sent {
        match results {
            Ok(results) => {
                for (i, r) in idx.iter().zip(results) {
                    let t = &mut report.targets[*i];
                    match r {
                        Ok(c) => {
                            t.tx = Some(c.tx_hash);
                            t.block = Some(c.block);
                        }
                        Err(e) => t.error = Some(e.to_string()),
                    }
                }
            }
            Err(e) => {
                for i in idx {
                    report.targets[*i].error = Some(format!("not sent: {e}"));
                }
            }
        }
    }

    // The truth is what the chain says now.
    let reread = read_each(&checks).await;
    for ((i, _), holds) in reachable.iter().zip(reread) {
        let t = &mut report.targets[*i];
        if matches!(t.outcome, RevokeOutcome::NotHeld | RevokeOutcome::Proposed) {
            continue;
        }
        match holds {
            Ok(false) => {
                t.holds = Some(false);
                t.outcome = RevokeOutcome::Revoked;
                t.error = None;
            }
            Ok(true) => {
                t.holds = Some(true);
                t.error
                    .get_or_insert_with(|| "still holds the role after the revoke".into());
            }
            Err(e) => {
                t.error
                    .get_or_insert_with(|| format!("cannot re-read hasRole: {e}"));
            }
        }
    }
    finish(deployment, report, started)
}

fn finish(
    deployment: &Deployment,
    mut report: RevokeReport,
    started: Instant,
) -> Result<RevokeReport, ResponseError> {
    report.elapsed_ms = started.elapsed().as_millis();
    let count = |o: RevokeOutcome| report.targets.iter().filter(|t| t.outcome == o).count();
    let summary = format!(
        "{} of {}: {} revoked, {} not held, {} would revoke, {} failed",
        report.role,
        report.account,
        count(RevokeOutcome::Revoked),
        count(RevokeOutcome::NotHeld),
        count(RevokeOutcome::WouldRevoke),
        count(RevokeOutcome::Failed)
    );
    deployment
        .store
        .finish_action(report.action_id, report.ok(), &summary)?;
    Ok(report)
}
