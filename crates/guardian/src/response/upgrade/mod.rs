//! Shipping a fix: moving a UUPS proxy to a new implementation (deployed from an artifact first if
//! asked), with a signer that holds `UPGRADER_ROLE` — checked before anything is sent — and then
//! proving from the chain that only the implementation changed: the ERC-1967 slot holds the new
//! address while the paused state, the configured holders' roles and the balances are as before.

pub mod executed;
mod verify;

use std::{path::PathBuf, time::Instant};

use alloy::{
    primitives::{Address, Bytes, TxHash},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use bindings::interfaces::IUUPSUpgradeable;
use serde::Serialize;

pub use verify::Check;
use verify::{check_implementation, compare, load_artifact, snapshot, watched_holders};

use super::{ResponseError, find_contract, find_holders, lacking, missing_role};
use crate::{
    chain::{Call, ChainClient, ChainError, Confirmed, Journal, Preflight, Signer, send_all},
    deployment::Deployment,
    roles::Role,
    status::is_upgradeable,
};

/// Where the new implementation comes from.
#[derive(Debug, Clone)]
pub enum Implementation {
    /// Deploy it first from a `{abi, bin}` artifact (as in `contracts/artifacts/`).
    Artifact(PathBuf),
    /// It is already deployed here.
    Address(Address),
    /// Deploy it first from this init code (an artifact's `bin` the caller already holds, such as
    /// one embedded in the binary); its `proxiableUUID()` is checked once deployed.
    InitCode(Bytes),
}

/// An upgrade request.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// The manifest's name of the proxy to upgrade.
    pub contract: String,
    /// The new implementation.
    pub implementation: Implementation,
    /// The chain the contract must be on (a guard against the wrong name), if given.
    pub chain: Option<String>,
    /// Sign with this signer only (default: whichever configured signer holds `UPGRADER_ROLE`).
    pub signer: Option<String>,
    /// Check everything, send nothing.
    pub dry_run: bool,
    /// Why, for the record.
    pub reason: Option<String>,
}

/// A transaction this run had mined.
#[derive(Debug, Clone, Serialize)]
pub struct SentTx {
    /// What it did (`deploy implementation of escrow`, `upgrade escrow`).
    pub label: String,
    /// Its hash.
    pub tx: TxHash,
    /// Its block.
    pub block: u64,
}

impl From<&Confirmed> for SentTx {
    fn from(c: &Confirmed) -> Self {
        Self {
            label: c.label.clone(),
            tx: c.tx_hash,
            block: c.block,
        }
    }
}

/// What an upgrade did and what was verified; the incident timeline records it as is.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeReport {
    /// Always `upgrade`.
    pub action: &'static str,
    /// The journal's id for this run.
    pub action_id: i64,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Contract name.
    pub contract: String,
    /// Chain name.
    pub chain: String,
    /// The proxy's address.
    pub proxy: Address,
    /// The signer that holds `UPGRADER_ROLE` (and deployed the implementation).
    pub signer: String,
    /// Its address.
    pub signer_address: Address,
    /// The implementation before.
    pub previous_implementation: Address,
    /// The new implementation (unknown in a dry run that would deploy it).
    pub implementation: Option<Address>,
    /// The artifact deployed, if one was given.
    pub artifact: Option<PathBuf>,
    /// Transactions mined, in order: the deployment (if any), then the upgrade.
    pub transactions: Vec<SentTx>,
    /// Every verification, in order; empty in a dry run.
    pub checks: Vec<Check>,
    /// What failed after something was sent (a reverted transaction, an implementation that
    /// turned out unusable).
    pub error: Option<String>,
    /// Milliseconds from start to the last check.
    pub elapsed_ms: u128,
    /// Where a Safe holds `UPGRADER_ROLE`: the upgrade proposed to its owners (the checks run
    /// only for an upgrade guardian sends itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<super::safe::Proposed>,
}

impl UpgradeReport {
    /// Whether the upgrade happened (or would, in a dry run) and every check holds.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.checks.iter().all(|c| c.ok)
    }
}

/// What the summary of an upgrade only proposed to a Safe says (it is not done until executed).
pub const PROPOSED: &str = "proposed (Safe proposal";

/// Runs an upgrade. Refusals (unknown or non-UUPS contract, no signer with `UPGRADER_ROLE`, an
/// unusable implementation) come back as errors with nothing sent; once something was sent, the
/// report says what, and `ok()` whether the upgrade happened and every check holds.
pub async fn run(
    deployment: &Deployment,
    request: &UpgradeRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<UpgradeReport, ResponseError> {
    let started = Instant::now();
    let name = request.contract.as_str();
    let contract = find_contract(
        deployment,
        name,
        is_upgradeable,
        "is not behind a UUPS proxy and cannot be upgraded (only DocumentRegistry, OwnershipTokenizer, PaymentEscrow and AuditResolver are)",
    )?;
    if let Some(chain) = &request.chain {
        if !deployment.manifest.chains.contains_key(chain) {
            return Err(ResponseError::UnknownChain(chain.clone()));
        }
        if contract.chain() != chain {
            return Err(ResponseError::NothingSelected(format!(
                " `{name}` on chain `{chain}` (it is on `{}`)",
                contract.chain()
            )));
        }
    }
    let client =
        deployment
            .clients
            .get(contract.chain())
            .ok_or_else(|| ResponseError::Unreachable {
                contract: name.to_string(),
                chain: contract.chain().to_string(),
                reason: deployment
                    .unreachable
                    .get(contract.chain())
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "not connected".into()),
            })?;
    let refuse = |reason: String| ResponseError::Implementation {
        contract: name.to_string(),
        reason,
    };

    progress(&format!("checking UPGRADER_ROLE on {name} ..."));
    let candidates: Vec<&Signer> = match &request.signer {
        Some(s) => vec![deployment.signer(s)?],
        None => deployment.signers.iter().collect(),
    };
    let found = find_holders(
        Role::Upgrader,
        &deployment.manifest.roles.upgrader,
        &candidates,
        &[(client, contract.address)],
    )
    .await;
    // No key holds the role but a Safe does: a key of the manifest deploys the implementation,
    // and the upgrade itself is proposed to the Safe's owners.
    let via_safe = match found.first().copied().flatten() {
        Some(_) => None,
        None => {
            super::safe::safe_holders(deployment, Role::Upgrader, &[(client, contract.address)])
                .await
                .into_iter()
                .next()
                .flatten()
        }
    };
    let signer = match (
        found.into_iter().next().flatten(),
        via_safe,
        candidates.first(),
    ) {
        (Some(s), _, _) => s,
        (None, Some(_), Some(deployer)) => *deployer,
        _ => {
            return Err(missing_role(
                deployment,
                "UPGRADER_ROLE",
                vec![lacking(name, contract.chain(), &candidates)],
            ));
        }
    };
    let acting = via_safe
        .and_then(|s| s.at(contract.chain()))
        .unwrap_or(signer.address());

    let init_code = match &request.implementation {
        Implementation::Artifact(path) => Some(load_artifact(path).map_err(refuse)?),
        Implementation::InitCode(code) if code.is_empty() => {
            return Err(refuse("the init code is empty".into()));
        }
        Implementation::InitCode(code) => Some(code.clone()),
        Implementation::Address(a) => {
            check_implementation(client, *a).await.map_err(refuse)?;
            None
        }
    };
    let holders = watched_holders(deployment, contract);
    progress(&format!("reading {name}'s state before the upgrade ..."));
    let before = snapshot(client, contract, &holders).await?;
    if let Implementation::Address(a) = &request.implementation
        && *a == before.implementation
    {
        return Err(refuse(format!("it already runs {a}")));
    }
    let upgrade_call = |implementation: Address| {
        Call::new(
            format!("upgrade {name}"),
            contract.address,
            IUUPSUpgradeable::upgradeToAndCallCall {
                newImplementation: implementation,
                data: Bytes::new(),
            },
        )
    };
    if request.dry_run
        && let Implementation::Address(a) = &request.implementation
    {
        // The chain's own verdict on the upgrade, without sending it.
        let sim = TransactionRequest::default()
            .from(acting)
            .to(contract.address)
            .input(upgrade_call(*a).input.into());
        if let Err(e) = client.provider().call(sim).await {
            return Err(refuse(format!(
                "upgradeToAndCall would revert with {}",
                crate::chain::revert::revert_reason(&e)
            )));
        }
    }

    let upgrader = via_safe.map_or(signer.name.as_str(), |s| s.name.as_str());
    let action_id = deployment.store.begin_action(
        "upgrade",
        &format!("{upgrader} {acting}"),
        request.reason.as_deref(),
        &serde_json::json!({
            "contract": name, "chain": contract.chain(),
            "implementation": match &request.implementation {
                Implementation::Address(a) => a.to_string(),
                Implementation::Artifact(p) => p.display().to_string(),
                Implementation::InitCode(c) => format!("init code of {} bytes", c.len()),
            },
            "dry_run": request.dry_run,
        }),
    )?;
    let mut report = UpgradeReport {
        action: "upgrade",
        action_id,
        dry_run: request.dry_run,
        contract: name.to_string(),
        chain: contract.chain().to_string(),
        proxy: contract.address,
        signer: upgrader.to_string(),
        signer_address: acting,
        previous_implementation: before.implementation,
        implementation: match &request.implementation {
            Implementation::Address(a) => Some(*a),
            Implementation::Artifact(_) | Implementation::InitCode(_) => None,
        },
        artifact: match &request.implementation {
            Implementation::Artifact(p) => Some(p.clone()),
            Implementation::Address(_) | Implementation::InitCode(_) => None,
        },
        transactions: Vec::new(),
        checks: Vec::new(),
        error: None,
        elapsed_ms: 0,
        proposal: None,
    };
    if request.dry_run {
        return finish(deployment, report, started, "dry run: nothing sent");
    }
    let journal = Journal {
        store: &deployment.store,
        action: action_id,
    };

    let implementation = match init_code {
        None => report.implementation.unwrap_or_default(),
        Some(code) => {
            progress(&format!("deploying the new implementation of {name} ..."));
            let deploy = Call::create(format!("deploy implementation of {name}"), code);
            match send_one(client, signer, deploy, journal).await {
                Ok(c) => {
                    report.transactions.push(SentTx::from(&c));
                    let Some(a) = c.contract_address else {
                        report.error = Some("the deployment's receipt names no contract".into());
                        return finish(deployment, report, started, "deployment failed");
                    };
                    report.implementation = Some(a);
                    if let Err(e) = check_implementation(client, a).await {
                        report.error = Some(format!("deployed, but not upgraded to: {e}"));
                        return finish(deployment, report, started, "implementation unusable");
                    }
                    a
                }
                Err(e) => {
                    report.error = Some(e.to_string());
                    return finish(deployment, report, started, "deployment failed");
                }
            }
        }
    };

    if let Some(safe) = via_safe {
        progress(&format!(
            "proposing the upgrade of {name} to the Safe {} ...",
            safe.name
        ));
        let data = alloy::sol_types::SolCall::abi_encode(&IUUPSUpgradeable::upgradeToAndCallCall {
            newImplementation: implementation,
            data: Bytes::new(),
        });
        let label = format!("upgrade {name} to {implementation}");
        let wanted = vec![(
            0,
            client,
            contract.address,
            super::safe::call(label, contract.address, data),
        )];
        let proposed =
            super::safe::propose_calls(deployment, Role::Upgrader, "upgrade", wanted).await;
        match proposed {
            Ok((_, made)) => report.proposal = made.into_iter().next(),
            Err(e) => report.error = Some(e.to_string()),
        }
        let summary = match &report.proposal {
            Some(p) => format!("{name}: upgrade to {implementation} {PROPOSED} {})", p.id),
            None => format!("{name}: the upgrade could not be proposed"),
        };
        return finish(deployment, report, started, &summary);
    }
    progress(&format!("upgrading {name} to {implementation} ..."));
    match send_one(client, signer, upgrade_call(implementation), journal).await {
        Ok(c) => report.transactions.push(SentTx::from(&c)),
        Err(e) => report.error = Some(e.to_string()),
    }
    progress(&format!("verifying {name} after the upgrade ..."));
    match snapshot(client, contract, &holders).await {
        Ok(after) => report.checks = compare(&before, &after, implementation),
        Err(e) => {
            report.error.get_or_insert_with(|| {
                format!("cannot read the state after the upgrade to verify it: {e}")
            });
        }
    }
    let summary = if report.ok() {
        format!("{name} upgraded to {implementation}; every check holds")
    } else {
        format!(
            "{name}: {}",
            report.error.clone().unwrap_or_else(|| {
                let failed: Vec<&str> = report
                    .checks
                    .iter()
                    .filter(|c| !c.ok)
                    .map(|c| c.check.as_str())
                    .collect();
                format!("checks failed: {}", failed.join(", "))
            })
        )
    };
    finish(deployment, report, started, &summary)
}

/// Sends one call through the one transaction path, all or nothing.
async fn send_one(
    client: &ChainClient,
    signer: &Signer,
    call: Call,
    journal: Journal<'_>,
) -> Result<Confirmed, ChainError> {
    let label = call.label.clone();
    send_all(
        client,
        signer,
        vec![call],
        Some(journal),
        Preflight::AllOrNothing,
    )
    .await?
    .pop()
    .unwrap_or_else(|| {
        Err(ChainError::NoAnswer {
            chain: client.name.clone(),
            what: label,
        })
    })
}

fn finish(
    deployment: &Deployment,
    mut report: UpgradeReport,
    started: Instant,
    summary: &str,
) -> Result<UpgradeReport, ResponseError> {
    report.elapsed_ms = started.elapsed().as_millis();
    deployment
        .store
        .finish_action(report.action_id, report.ok(), summary)?;
    Ok(report)
}
