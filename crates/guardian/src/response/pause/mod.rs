//! Pausing and unpausing: every target on every chain in one round of transactions.
//!
//! Reads first (skip what is already in the wanted state, check roles), refuse before sending if
//! a role is missing, then send everything at once — per chain in parallel, through the chain's
//! `EmergencyBrake` where `--all` allows it — and re-read the state to report the truth.

mod plan;
mod solvency;

use std::{
    collections::{BTreeMap, HashSet},
    time::Instant,
};

use alloy::primitives::{Address, TxHash};
use bindings::interfaces::IPausable;
use futures::future::join_all;
use serde::Serialize;

use plan::{Planned, adopt_in_flight, plan_actor, plan_brakes, ready_brakes, send_plan};
use solvency::check_solvency;

use super::{ResponseError, find_contract, find_holders, lacking, missing_role, read_paused};
use crate::{
    chain::{Call, ChainClient, Fees, Journal, Outbid, Signer, fees},
    config::{ContractConfig, ContractKind},
    deployment::Deployment,
    roles::Role,
};

/// Which contracts to act on.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every pausable contract (on `chain` if given).
    All,
    /// These contracts by name.
    Named(Vec<String>),
}

/// A pause or unpause request.
#[derive(Debug, Clone)]
pub struct PauseRequest {
    /// `true` to pause, `false` to unpause.
    pub pause: bool,
    /// The targets.
    pub selection: Selection,
    /// Only contracts on this chain.
    pub chain: Option<String>,
    /// Sign with this signer only (default: whichever configured signer holds the role).
    pub signer: Option<String>,
    /// Plan and report, send nothing.
    pub dry_run: bool,
    /// Why, for the record.
    pub reason: Option<String>,
    /// Refuse before sending anything when any target cannot be paused (all or nothing). Without
    /// it a pause sends what it can and reports the rest; an unpause is always strict.
    pub strict: bool,
    /// Unpause escrows even while they hold less than they owe (requires `reason`).
    pub allow_insolvent: bool,
    /// A pre-emptive pause: the pending transaction whose fees it must beat to be mined first.
    pub outbid: Option<Outbid>,
}

impl PauseRequest {
    fn verb(&self) -> &'static str {
        if self.pause { "pause" } else { "unpause" }
    }
}

/// What happened to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This run changed it.
    Changed,
    /// It was already in the wanted state; nothing sent.
    AlreadyDone,
    /// Dry run: it would be changed.
    WouldChange,
    /// It is not in the wanted state.
    Failed,
    /// A Safe holds the role: proposed for its owners (`guardian safe sign`, `safe execute`).
    Proposed,
}

/// The report line of one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// Contract name.
    pub name: String,
    /// Chain name.
    pub chain: String,
    /// Address.
    pub address: Address,
    /// Outcome.
    pub outcome: Outcome,
    /// Whether it is paused now (as re-read), when known.
    pub paused: Option<bool>,
    /// How it was (or would be) changed: `direct` or the brake's name.
    pub via: Option<String>,
    /// The signer used.
    pub signer: Option<String>,
    /// The transaction.
    pub tx: Option<TxHash>,
    /// Its block.
    pub block: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct PauseReport {
    /// `pause` or `unpause`.
    pub action: &'static str,
    /// The journal's id for this run.
    pub action_id: i64,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Per target.
    pub targets: Vec<TargetReport>,
    /// Transactions sent.
    pub transactions: usize,
    /// Milliseconds from start to every target confirmed.
    pub elapsed_ms: u128,
    /// Per chain: the first and last block a transaction of this run was mined in.
    pub blocks: BTreeMap<String, (u64, u64)>,
    /// A dry run's pause: per `chain (signer)`, the fees it would pay now and why.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fees: BTreeMap<String, Fees>,
    /// Targets whose role a Safe holds: its proposals, one per chain and Safe.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<super::safe::Proposed>,
}

impl PauseReport {
    /// Whether every target ended in the wanted state (or would, for a dry run).
    pub fn ok(&self) -> bool {
        self.targets.iter().all(|t| t.outcome != Outcome::Failed)
    }
}

struct Target<'a> {
    contract: &'a ContractConfig,
    client: Option<&'a ChainClient>,
    report: TargetReport,
}

/// Selects the targets of a request from the manifest.
pub fn select<'a>(
    deployment: &'a Deployment,
    selection: &Selection,
    chain: Option<&str>,
) -> Result<Vec<&'a ContractConfig>, ResponseError> {
    let manifest = &deployment.manifest;
    if let Some(c) = chain.filter(|c| !manifest.chains.contains_key(*c)) {
        return Err(ResponseError::UnknownChain(c.to_string()));
    }
    let on_chain = |c: &ContractConfig| chain.is_none_or(|name| c.chain() == name);
    let chosen: Vec<&ContractConfig> = match selection {
        Selection::All => manifest
            .contracts
            .iter()
            .filter(|c| c.kind.is_pausable() && on_chain(c))
            .collect(),
        Selection::Named(names) => {
            let mut out = Vec::new();
            for name in names {
                let c = find_contract(
                    deployment,
                    name,
                    ContractKind::is_pausable,
                    "has no pause()",
                )?;
                if on_chain(c) && !out.iter().any(|o: &&ContractConfig| o.name() == c.name()) {
                    out.push(c);
                }
            }
            out
        }
    };
    if chosen.is_empty() {
        return Err(ResponseError::NothingSelected(
            chain
                .map(|c| format!(" on chain `{c}`"))
                .unwrap_or_default(),
        ));
    }
    Ok(chosen)
}

/// Runs a pause or unpause request. `started` is when the operator's command began.
pub async fn run(
    deployment: &Deployment,
    request: &PauseRequest,
    started: Instant,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PauseReport, ResponseError> {
    run_inner(deployment, request, started, progress, None).await
}

/// Like [`run`], recorded under `once_key` so that it happens once: a second call with the same
/// key is refused with [`crate::storage::StorageError::AlreadyDone`] before anything is sent.
pub async fn run_keyed(
    deployment: &Deployment,
    request: &PauseRequest,
    started: Instant,
    progress: &(dyn Fn(&str) + Sync),
    once_key: &str,
) -> Result<PauseReport, ResponseError> {
    run_inner(deployment, request, started, progress, Some(once_key)).await
}

async fn run_inner(
    deployment: &Deployment,
    request: &PauseRequest,
    started: Instant,
    progress: &(dyn Fn(&str) + Sync),
    once_key: Option<&str>,
) -> Result<PauseReport, ResponseError> {
    let verb = request.verb();
    let chosen = select(deployment, &request.selection, request.chain.as_deref())?;
    let candidates: Vec<&Signer> = match &request.signer {
        Some(name) => vec![deployment.signer(name)?],
        None => deployment.signers.iter().collect(),
    };
    let mut targets: Vec<Target> = chosen
        .into_iter()
        .map(|c| Target {
            contract: c,
            client: deployment.clients.get(c.chain()),
            report: TargetReport {
                name: c.name().to_string(),
                chain: c.chain().to_string(),
                address: c.address,
                outcome: Outcome::Failed,
                paused: None,
                via: None,
                signer: None,
                tx: None,
                block: None,
                error: deployment.unreachable.get(c.chain()).map(|e| e.to_string()),
            },
        })
        .collect();

    progress(&format!("reading {} target(s) ...", targets.len()));
    let reachable: Vec<usize> = (0..targets.len())
        .filter(|i| targets[*i].client.is_some())
        .collect();
    let state_reads: Vec<(&ChainClient, Address)> = reachable
        .iter()
        .filter_map(|i| {
            targets[*i]
                .client
                .map(|c| (c, targets[*i].contract.address))
        })
        .collect();
    let intended = &deployment.manifest.roles.pauser;
    // With --all, a chain's EmergencyBrake pauses its targets in one transaction; it is read
    // while the targets are.
    let use_brakes = request.pause && matches!(request.selection, Selection::All);
    let (states, holders, mut brakes) = tokio::join!(
        read_paused(&state_reads),
        find_holders(Role::Pauser, intended, &candidates, &state_reads),
        async {
            if use_brakes {
                ready_brakes(deployment, &candidates, request.chain.as_deref()).await
            } else {
                Vec::new()
            }
        }
    );

    // Targets that need a transaction, and who can sign for each.
    let mut to_change: Vec<usize> = Vec::new();
    let mut direct_signer: BTreeMap<usize, &Signer> = BTreeMap::new();
    for (k, i) in reachable.iter().enumerate() {
        let t = &mut targets[*i];
        match &states[k] {
            Err(e) => t.report.error = Some(e.to_string()),
            Ok(paused) if *paused == request.pause => {
                t.report.outcome = Outcome::AlreadyDone;
                t.report.paused = Some(*paused);
            }
            Ok(paused) => {
                t.report.paused = Some(*paused);
                if let Some(s) = holders[k] {
                    direct_signer.insert(*i, s);
                }
                to_change.push(*i);
            }
        }
    }

    if !request.pause {
        check_solvency(request, &targets, &to_change).await?;
    }

    // Brakes first: each covers its targets with one transaction.
    let mut plan: Vec<Planned> = Vec::new();
    let mut covered: HashSet<usize> = HashSet::new();
    // --all goes through the brakes; named targets go direct, and through a brake's
    // pauseTargets only where no configured signer holds PAUSER_ROLE (read only then).
    let for_brakes: Vec<usize> = match request.selection {
        Selection::Named(_)
            if request.pause && to_change.iter().any(|i| !direct_signer.contains_key(i)) =>
        {
            brakes = ready_brakes(deployment, &candidates, request.chain.as_deref()).await;
            to_change
                .iter()
                .copied()
                .filter(|i| !direct_signer.contains_key(i))
                .collect()
        }
        Selection::All => to_change.clone(),
        Selection::Named(_) => Vec::new(),
    };
    for brake in plan_brakes(brakes, &targets, &for_brakes, request.outbid) {
        covered.extend(brake.covers.iter().copied());
        plan.push(brake);
    }
    // A missing role matters only for a target no brake covers. An emergency pause still pauses
    // everything else (half paused beats nothing paused); an unpause, or --strict, refuses.
    let unsignable: Vec<usize> = to_change
        .iter()
        .copied()
        .filter(|i| !covered.contains(i) && !direct_signer.contains_key(i))
        .collect();
    // An unpause whose role a Safe holds is proposed to its owners.
    let mut proposals = Vec::new();
    if !request.pause && !request.dry_run && !unsignable.is_empty() {
        let wanted = unsignable.iter().filter_map(|i| {
            let t = &targets[*i];
            Some((*i, t.client?, t.contract.address, t.report.name.clone()))
        });
        let (covered, made) =
            super::safe::propose_pausing(deployment, false, wanted.collect()).await?;
        for (i, via) in covered {
            targets[i].report.outcome = Outcome::Proposed;
            targets[i].report.via = Some(via);
        }
        proposals = made;
    }
    let unsignable: Vec<usize> = unsignable
        .into_iter()
        .filter(|i| targets[*i].report.outcome != Outcome::Proposed)
        .collect();
    if !unsignable.is_empty() {
        if request.strict || !request.pause {
            let missing = unsignable
                .iter()
                .map(|i| {
                    lacking(
                        &targets[*i].report.name,
                        &targets[*i].report.chain,
                        &candidates,
                    )
                })
                .collect();
            return Err(missing_role(deployment, "PAUSER_ROLE", missing));
        }
        for i in &unsignable {
            let t = &mut targets[*i].report;
            t.error = Some(no_holder(&t.name, &t.chain, &candidates));
        }
    }
    for i in to_change.iter().filter(|i| !covered.contains(i)) {
        let (Some(client), Some(signer)) = (targets[*i].client, direct_signer.get(i).copied())
        else {
            continue;
        };
        let address = targets[*i].contract.address;
        let label = format!("{verb} {}", targets[*i].report.name);
        let call = if request.pause {
            Call::new(label, address, IPausable::pauseCall {})
                .urgent()
                .outbid(request.outbid)
        } else {
            Call::new(label, address, IPausable::unpauseCall {})
        };
        plan.push(Planned {
            chain: client,
            signer,
            call,
            covers: vec![*i],
            via: "direct".into(),
        });
    }

    let action_id = deployment.store.begin_action_once(
        verb,
        &plan_actor(&plan),
        request.reason.as_deref(),
        &serde_json::json!({
            "targets": targets.iter().map(|t| &t.report.name).collect::<Vec<_>>(),
            "changing": to_change.iter().map(|i| &targets[*i].report.name).collect::<Vec<_>>(),
            "chain": request.chain, "dry_run": request.dry_run,
            "strict": request.strict, "allow_insolvent": request.allow_insolvent,
        }),
        once_key,
    )?;
    for p in &plan {
        for i in &p.covers {
            targets[*i].report.via = Some(p.via.clone());
            targets[*i].report.signer = Some(p.signer.name.clone());
            if request.dry_run {
                targets[*i].report.outcome = Outcome::WouldChange;
            }
        }
    }
    if request.dry_run {
        let mut report = finish_report(
            deployment,
            action_id,
            request,
            targets,
            0,
            started,
            BTreeMap::new(),
        )?;
        if request.pause {
            report.fees = quote_fees(&plan, request.outbid).await;
        }
        return Ok(report);
    }

    let journal = Journal {
        store: &deployment.store,
        action: action_id,
    };
    let adopted = adopt_in_flight(deployment, &mut plan).await?;
    let sent_count = plan.len() - adopted;
    progress(&format!("sending {sent_count} transaction(s) ..."));
    let outcomes = send_plan(&plan, journal).await;
    // What no key or brake could pause, a Safe holding PAUSER_ROLE may: proposed after every
    // pause that could be sent was, so that it never delays them.
    if request.pause && !unsignable.is_empty() && !deployment.safes.is_empty() {
        let wanted = unsignable.iter().filter_map(|i| {
            let t = &targets[*i];
            Some((*i, t.client?, t.contract.address, t.report.name.clone()))
        });
        match super::safe::propose_pausing(deployment, true, wanted.collect()).await {
            Ok((covered, made)) => {
                for (i, via) in covered {
                    targets[i].report.outcome = Outcome::Proposed;
                    targets[i].report.via = Some(via);
                    targets[i].report.error = None;
                }
                proposals.extend(made);
            }
            Err(e) => tracing::warn!("cannot propose the rest of the pause to a Safe: {e}"),
        }
    }
    let mut blocks: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (p, outcome) in plan.iter().zip(&outcomes) {
        match outcome {
            Ok(confirmed) => {
                let entry = blocks
                    .entry(p.chain.name.clone())
                    .or_insert((confirmed.block, confirmed.block));
                entry.0 = entry.0.min(confirmed.block);
                entry.1 = entry.1.max(confirmed.block);
                for i in &p.covers {
                    targets[*i].report.tx = Some(confirmed.tx_hash);
                    targets[*i].report.block = Some(confirmed.block);
                }
            }
            Err(e) => {
                for i in &p.covers {
                    targets[*i].report.error = Some(e.to_string());
                }
            }
        }
    }

    // The truth is what the chain says now.
    let reread = read_paused(&state_reads).await;
    for (k, i) in reachable.iter().enumerate() {
        let t = &mut targets[*i];
        if matches!(t.report.outcome, Outcome::AlreadyDone | Outcome::Proposed) {
            continue;
        }
        match &reread[k] {
            Ok(p) if *p == request.pause => {
                t.report.paused = Some(*p);
                t.report.outcome = Outcome::Changed;
                t.report.error = None;
            }
            Ok(p) => {
                t.report.paused = Some(*p);
                t.report
                    .error
                    .get_or_insert_with(|| "still not in the wanted state".into());
            }
            Err(e) => t.report.error = Some(e.to_string()),
        }
    }
    let mut report = finish_report(
        deployment, action_id, request, targets, sent_count, started, blocks,
    )?;
    report.proposals = proposals;
    Ok(report)
}

/// What each (chain, signer) of the plan would pay for an emergency pause now, and why.
async fn quote_fees(plan: &[Planned<'_>], outbid: Option<Outbid>) -> BTreeMap<String, Fees> {
    let mut groups: BTreeMap<String, (&ChainClient, &Signer)> = BTreeMap::new();
    for p in plan {
        groups
            .entry(format!("{} ({})", p.chain.name, p.signer.name))
            .or_insert((p.chain, p.signer));
    }
    let quotes = join_all(
        groups
            .into_iter()
            .map(|(key, (client, signer))| async move {
                let quote = fees::quote_urgent(client, signer.address(), outbid)
                    .await
                    .unwrap_or_else(|e| Fees {
                        legacy: false,
                        max_fee_per_gas: 0,
                        max_priority_fee_per_gas: 0,
                        reason: format!("cannot read the fee market: {e}"),
                    });
                (key, quote)
            }),
    )
    .await;
    quotes.into_iter().collect()
}

/// Why a target was left alone: none of `candidates` holds `PAUSER_ROLE` on it.
fn no_holder(name: &str, chain: &str, candidates: &[&Signer]) -> String {
    let tried: Vec<&str> = candidates.iter().map(|s| s.name.as_str()).collect();
    format!(
        "no configured signer holds PAUSER_ROLE on {name}@{chain} (tried: {}); grant it, or pause it with a signer that has it",
        if tried.is_empty() {
            "none loaded".to_string()
        } else {
            tried.join(", ")
        }
    )
}

fn finish_report(
    deployment: &Deployment,
    action_id: i64,
    request: &PauseRequest,
    targets: Vec<Target>,
    transactions: usize,
    started: Instant,
    blocks: BTreeMap<String, (u64, u64)>,
) -> Result<PauseReport, ResponseError> {
    let report = PauseReport {
        action: request.verb(),
        action_id,
        dry_run: request.dry_run,
        targets: targets.into_iter().map(|t| t.report).collect(),
        transactions,
        elapsed_ms: started.elapsed().as_millis(),
        blocks,
        fees: BTreeMap::new(),
        proposals: Vec::new(),
    };
    let count = |o: Outcome| report.targets.iter().filter(|t| t.outcome == o).count();
    let summary = format!(
        "{} changed, {} already done, {} would change, {} failed",
        count(Outcome::Changed),
        count(Outcome::AlreadyDone),
        count(Outcome::WouldChange),
        count(Outcome::Failed)
    );
    deployment
        .store
        .finish_action(action_id, report.ok(), &summary)?;
    Ok(report)
}
