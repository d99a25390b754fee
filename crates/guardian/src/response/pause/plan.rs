//! The transactions of a pause: which brakes can pause which targets in one `pauseAll`, which
//! transactions of an interrupted earlier run are still waiting to be mined, and sending the rest
//! one batch per chain and signer, all at once.

use std::collections::{BTreeMap, HashSet};

use alloy::{
    primitives::Address, providers::Provider, rpc::types::TransactionRequest, sol_types::SolCall,
};
use bindings::EmergencyBrake;
use futures::future::join_all;

use super::Target;
use crate::{
    chain::{
        Call, ChainClient, ChainError, Confirmed, Journal, Preflight, Signer,
        revert::revert_reason, send_all,
    },
    config::{ContractConfig, ContractKind},
    deployment::Deployment,
    response::{Earlier, ResponseError, contract_err, earlier_runs, holder, read_roles},
    roles::Role,
};

/// One transaction of the plan: a direct call or a brake's `pauseAll`, covering some targets.
pub(super) struct Planned<'a> {
    pub(super) chain: &'a ChainClient,
    pub(super) signer: &'a Signer,
    pub(super) call: Call,
    pub(super) covers: Vec<usize>,
    pub(super) via: String,
}

/// Who signs the plan, for the journal.
pub(super) fn plan_actor(plan: &[Planned]) -> String {
    let mut names: Vec<String> = plan
        .iter()
        .map(|p| format!("{} {}", p.signer.name, p.signer.address()))
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "nobody (nothing to send)".into()
    } else {
        names.join(", ")
    }
}

/// A brake that can pause its registered targets in one transaction: its guardian is a
/// configured signer and a simulation of `pauseAll()` succeeds. `registered` holds only the
/// targets on which the brake holds `PAUSER_ROLE`.
pub(super) struct ReadyBrake<'a> {
    brake: &'a ContractConfig,
    client: &'a ChainClient,
    registered: Vec<Address>,
    all: usize,
    signer: &'a Signer,
}

/// The brakes (on `chain`, if given) ready to pause their targets; read while the targets'
/// own state is read.
pub(super) async fn ready_brakes<'a>(
    deployment: &'a Deployment,
    candidates: &[&'a Signer],
    chain: Option<&str>,
) -> Vec<ReadyBrake<'a>> {
    let brakes: Vec<(&ContractConfig, &ChainClient)> = deployment
        .reachable_contracts()
        .filter(|(c, _)| {
            c.kind == ContractKind::EmergencyBrake && chain.is_none_or(|n| c.chain() == n)
        })
        .collect();
    let checks = join_all(brakes.into_iter().map(|(brake, client)| async move {
        let contract = EmergencyBrake::new(brake.address, client.provider());
        let registered = match contract.targets().call().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    brake = brake.name(),
                    "cannot read the brake's targets ({}); pausing them directly",
                    contract_err(client, e)
                );
                return None;
            }
        };
        let role_checks: Vec<_> = candidates
            .iter()
            .map(|s| (client, brake.address, s.address()))
            .collect();
        let holds: Vec<bool> = read_roles(Role::Guardian, &role_checks)
            .await
            .into_iter()
            .map(|r| r.unwrap_or(false))
            .collect();
        let signer = holder(candidates, &holds)?;
        // A target on which the brake lost PAUSER_ROLE is left to a direct pause, in the same
        // round, rather than to a `pauseAll` that would only report it as not paused.
        let brake_checks: Vec<_> = registered
            .iter()
            .map(|t| (client, *t, brake.address))
            .collect();
        let all = registered.len();
        let registered: Vec<Address> = registered
            .iter()
            .zip(read_roles(Role::Pauser, &brake_checks).await)
            .filter(|(_, holds)| !matches!(holds, Ok(false)))
            .map(|(t, _)| *t)
            .collect();
        // The brake never reverts for a target: a simulation that reverts means the brake itself
        // cannot be pulled (a lost GUARDIAN_ROLE, a target removed meanwhile).
        let sim = TransactionRequest::default()
            .from(signer.address())
            .to(brake.address)
            .input(
                EmergencyBrake::pauseTargetsCall {
                    list: registered.clone(),
                }
                .abi_encode()
                .into(),
            );
        match client.provider().call(sim).await {
            Ok(out) => {
                let failed = EmergencyBrake::pauseTargetsCall::abi_decode_returns(&out)
                    .map(|r| r.failedCount)
                    .unwrap_or_default();
                if !failed.is_zero() {
                    tracing::warn!(
                        brake = brake.name(),
                        "the brake would leave {failed} target(s) unpaused; they are reported after the re-read"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(
                    brake = brake.name(),
                    "brake would revert ({}); pausing its targets directly",
                    revert_reason(&e)
                );
                return None;
            }
        }
        Some(ReadyBrake {
            brake,
            client,
            registered,
            all,
            signer,
        })
    }))
    .await;
    checks.into_iter().flatten().collect()
}

/// One `pauseAll()` per ready brake that covers targets still to change; each target is covered
/// by one brake at most.
pub(super) fn plan_brakes<'a>(
    ready: Vec<ReadyBrake<'a>>,
    targets: &[Target<'a>],
    to_change: &[usize],
    outbid: Option<crate::chain::Outbid>,
) -> Vec<Planned<'a>> {
    let mut plans = Vec::new();
    let mut taken: HashSet<usize> = HashSet::new();
    for r in ready {
        let covers: Vec<usize> = to_change
            .iter()
            .copied()
            .filter(|i| {
                let t = &targets[*i];
                t.contract.chain() == r.brake.chain()
                    && r.registered.contains(&t.contract.address)
                    && !taken.contains(i)
            })
            .collect();
        if covers.is_empty() {
            continue;
        }
        taken.extend(covers.iter().copied());
        plans.push(Planned {
            chain: r.client,
            signer: r.signer,
            // Every target the brake has: pauseAll; some of them: pauseTargets, still one
            // transaction.
            call: if covers.len() == r.all {
                Call::new(
                    format!("pauseAll via {}", r.brake.name()),
                    r.brake.address,
                    EmergencyBrake::pauseAllCall {},
                )
                .urgent()
                .outbid(outbid)
            } else {
                let list: Vec<Address> = covers
                    .iter()
                    .map(|i| targets[*i].contract.address)
                    .collect();
                Call::new(
                    format!(
                        "pauseTargets {} via {}",
                        covers
                            .iter()
                            .map(|i| targets[*i].contract.name())
                            .collect::<Vec<_>>()
                            .join(","),
                        r.brake.name()
                    ),
                    r.brake.address,
                    EmergencyBrake::pauseTargetsCall { list },
                )
                .urgent()
                .outbid(outbid)
            },
            covers,
            via: r.brake.name().to_string(),
        });
    }
    plans
}

/// Finds transactions of an earlier, interrupted run that are still waiting in a node's pool for
/// the same call and marks those calls in flight: they are followed (and replaced when they
/// wait) with the rest of their batch instead of being sent again. Returns how many.
pub(super) async fn adopt_in_flight(
    deployment: &Deployment,
    plan: &mut [Planned<'_>],
) -> Result<usize, ResponseError> {
    let mut adopted = 0;
    let mut seen: HashSet<(u64, Address)> = HashSet::new();
    for k in 0..plan.len() {
        let key = (plan[k].chain.chain_id, plan[k].signer.address());
        if !seen.insert(key) {
            continue;
        }
        let labels: HashSet<String> = plan
            .iter()
            .filter(|q| (q.chain.chain_id, q.signer.address()) == key)
            .map(|q| q.call.label.clone())
            .collect();
        // A mined one needs nothing: the state read before planning already reflects it.
        for (label, earlier) in
            earlier_runs(deployment, plan[k].chain, key.1, |l| labels.contains(l)).await?
        {
            let Earlier::Pending(hash) = earlier else {
                continue;
            };
            if let Some(q) = plan.iter_mut().find(|q| {
                (q.chain.chain_id, q.signer.address()) == key
                    && q.call.label == label
                    && q.call.in_flight.is_none()
            }) {
                q.call.in_flight = Some(hash);
                adopted += 1;
            }
        }
    }
    Ok(adopted)
}

/// Sends the plan: one batch per (chain, signer), all batches at once.
pub(super) async fn send_plan(
    plan: &[Planned<'_>],
    journal: Journal<'_>,
) -> Vec<Result<Confirmed, ChainError>> {
    let mut groups: BTreeMap<(String, Address), Vec<usize>> = BTreeMap::new();
    for (i, p) in plan.iter().enumerate() {
        groups
            .entry((p.chain.name.clone(), p.signer.address()))
            .or_default()
            .push(i);
    }
    let batches = join_all(groups.values().map(|idx| async move {
        let first = &plan[idx[0]];
        let calls = idx.iter().map(|i| plan[*i].call.clone()).collect();
        let result = send_all(
            first.chain,
            first.signer,
            calls,
            Some(journal),
            Preflight::BestEffort,
        )
        .await;
        (idx, result)
    }))
    .await;
    let mut out: Vec<Option<Result<Confirmed, ChainError>>> =
        (0..plan.len()).map(|_| None).collect();
    for (idx, result) in batches {
        match result {
            Ok(results) => {
                for (i, r) in idx.iter().zip(results) {
                    out[*i] = Some(r);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for i in idx {
                    out[*i] = Some(Err(ChainError::NotSent {
                        chain: plan[*i].chain.name.clone(),
                        label: plan[*i].call.label.clone(),
                        reason: message.clone(),
                    }));
                }
            }
        }
    }
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                Err(ChainError::NoAnswer {
                    chain: String::new(),
                    what: "a transaction of the plan".into(),
                })
            })
        })
        .collect()
}
