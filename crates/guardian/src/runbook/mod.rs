//! The team's one-page emergency runbook (`guardian runbook`), made from the manifest and the
//! chains as they are now: what would slow a real response first, then who holds each role, the
//! exact commands of each incident level, the contacts, the safe recipients and the last drill.
//!
//! Reading never fails for one chain: a chain or a contract that cannot be read is a finding,
//! and the rest of the runbook is written from the manifest.

mod commands;
mod findings;
mod html;
mod markdown;

pub use commands::{Command, Level, Step, levels};
pub use html::to_html;
pub use markdown::to_markdown;

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::Address;
use bindings::EmergencyBrake;
use futures::future::join_all;
use serde::Serialize;

use crate::{
    chain::contract_err,
    config::{ContractKind, contacts::ContactConfig},
    deployment::Deployment,
    funds::Holding,
    roles::Role,
    secret::redact,
    status::{self, ContractStatus, Severity, StatusReport},
};

/// The journal's action kind of a fork drill (`guardian drill --fork`).
pub const DRILL_KIND: &str = "drill";

/// The whole runbook.
#[derive(Debug, Clone, Serialize)]
pub struct Runbook {
    /// When it was made (UTC, to the minute).
    pub generated_at: String,
    /// The manifest it was made from.
    pub manifest: String,
    /// What would slow a real response, most serious first.
    pub findings: Vec<Finding>,
    /// How many findings `guardian status` has (role holders against the manifest's `[roles]`,
    /// pause keys' funds, Safes' guards and modules, as well as those repeated here).
    pub status_findings: usize,
    /// Each chain with its contracts.
    pub chains: Vec<ChainEntry>,
    /// The commands of each incident level.
    pub levels: Vec<Level>,
    /// Who is told, by name, channel and audiences (never an address or a secret).
    pub contacts: Vec<ContactEntry>,
    /// The only addresses rescued funds may go to.
    pub safe_recipients: Vec<Address>,
    /// The last drill recorded in the journal.
    pub drill: Option<Drill>,
}

/// One thing that would slow a real response.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// What kind of finding: `unpausable`, `no-pause-key`, `safe-threshold`, `insolvent`,
    /// `unreadable`, `signer-unloaded`, `no-safe-recipient`, `no-contact`.
    pub kind: &'static str,
    /// The contract, Safe, chain, signer or audience it is about.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// The command that fixes it, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
}

/// One chain of the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ChainEntry {
    /// Its name in the manifest.
    pub name: String,
    /// Its chain id.
    pub chain_id: u64,
    /// Why it could not be read (then its contracts are listed from the manifest only).
    pub error: Option<String>,
    /// Its contracts, in manifest order.
    pub contracts: Vec<ContractEntry>,
    /// The manifest's Safes on it, with their owners and threshold.
    pub safes: Vec<SafeEntry>,
}

/// One Safe of the manifest on one chain.
#[derive(Debug, Clone, Serialize)]
pub struct SafeEntry {
    /// Its signer's name.
    pub signer: String,
    /// Its address.
    pub address: Address,
    /// Confirmations needed (none when it could not be read).
    pub threshold: Option<u64>,
    /// Its owners, each with the manifest's signer for it when guardian holds its key.
    pub owners: Vec<(Address, Option<String>)>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// One contract as read now.
#[derive(Debug, Clone, Serialize)]
pub struct ContractEntry {
    /// Its name in the manifest.
    pub name: String,
    /// Its kind.
    pub kind: ContractKind,
    /// Its address.
    pub address: Address,
    /// `paused()`, for pausable kinds that could be read.
    pub paused: Option<bool>,
    /// What it holds and owes, for fund-holding kinds.
    pub holdings: Vec<Holding>,
    /// Each role with its holders.
    pub roles: Vec<RoleEntry>,
    /// A read that failed.
    pub error: Option<String>,
}

/// One role of one contract.
#[derive(Debug, Clone, Serialize)]
pub struct RoleEntry {
    /// The role.
    pub role: Role,
    /// Who holds it.
    pub holders: Vec<Holder>,
}

/// One holder of a role, as the team knows it.
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    /// Its address.
    pub address: Address,
    /// What it is.
    #[serde(flatten)]
    pub what: HolderKind,
}

/// What a role holder is.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "holder", rename_all = "snake_case")]
pub enum HolderKind {
    /// A key guardian holds: a signer of the manifest whose key loaded.
    Key {
        /// The signer's name.
        signer: String,
    },
    /// A Safe multisig of the manifest (its owners are in its chain's `safes`).
    Safe {
        /// The signer's name.
        signer: String,
        /// Confirmations needed (none when the Safe could not be read).
        threshold: Option<u64>,
        /// How many owners it has (none when the Safe could not be read).
        owners: Option<usize>,
    },
    /// The chain's EmergencyBrake.
    Brake {
        /// Its name in the manifest.
        name: String,
    },
    /// Another contract of the manifest (a resolver's hook source, say).
    Contract {
        /// Its name in the manifest.
        name: String,
    },
    /// An account guardian holds no key for.
    Unknown,
}

/// One contact, without its address, URL or any secret.
#[derive(Debug, Clone, Serialize)]
pub struct ContactEntry {
    /// Its name.
    pub name: String,
    /// The channel (`email`, `discord`, ...).
    pub channel: String,
    /// Who it is (`team`, `partners`, `users`, `public`).
    pub audiences: Vec<String>,
    /// The least severe alert it is told about.
    pub min_severity: String,
}

/// The last drill in the journal.
#[derive(Debug, Clone, Serialize)]
pub struct Drill {
    /// The action's id.
    pub id: i64,
    /// Who ran it.
    pub actor: String,
    /// How it ended (`succeeded`, `failed`, `running`).
    pub status: String,
    /// Its one-line outcome.
    pub summary: Option<String>,
    /// When it started (unix ms).
    pub started_at: i64,
    /// When it finished (unix ms).
    pub finished_at: Option<i64>,
}

impl Runbook {
    /// Whether no critical finding exists.
    pub fn ok(&self) -> bool {
        !self
            .findings
            .iter()
            .any(|f| f.severity == Severity::Critical)
    }
}

/// Reads the chains and the journal and writes the runbook. Never fails: what cannot be read is
/// a finding.
pub async fn read(deployment: &Deployment) -> Runbook {
    let report = status::read(deployment).await;
    let brakes = brake_targets(deployment).await;
    let chains = chain_entries(deployment, &report);
    let drill = last_drill(deployment);
    let mut findings = findings::all(deployment, &report, &brakes);
    if let Err(e) = &drill {
        findings.push(Finding {
            severity: Severity::Warning,
            kind: "unreadable",
            subject: "journal".into(),
            message: format!("cannot read the journal for the last drill: {e}"),
            fix: "check the database `[storage]` names, then run the runbook again".into(),
            command: None,
        });
    }
    findings.sort_by_key(|f| f.severity);
    // An endpoint's error may quote its URL, and the URL's path may hold an API key.
    for f in &mut findings {
        f.message = redact(&f.message).into_owned();
    }
    Runbook {
        generated_at: when(crate::storage::now_ms()),
        manifest: deployment.path.display().to_string(),
        status_findings: report.findings.len(),
        findings,
        chains,
        levels: levels(&deployment.manifest),
        contacts: deployment.manifest.contacts.iter().map(contact).collect(),
        safe_recipients: deployment.manifest.emergency.safe_recipients.clone(),
        drill: drill.ok().flatten(),
    }
}

/// A contact by name, channel and audiences only.
fn contact(c: &ContactConfig) -> ContactEntry {
    ContactEntry {
        name: c.name().to_string(),
        channel: c.channel.as_str().to_string(),
        audiences: c.audiences.clone(),
        min_severity: format!("{:?}", c.min_severity).to_lowercase(),
    }
}

/// The most recent `drill` action of the journal.
fn last_drill(deployment: &Deployment) -> Result<Option<Drill>, crate::storage::StorageError> {
    let Some(id) = deployment.store.last_action(DRILL_KIND)? else {
        return Ok(None);
    };
    Ok(deployment.store.action(id)?.map(|a| Drill {
        id: a.id,
        actor: a.actor,
        status: serde_json::to_value(a.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into()),
        summary: a.summary,
        started_at: a.started_at,
        finished_at: a.finished_at,
    }))
}

/// Each brake's registered targets, by the brake's address (a brake that cannot be read has
/// none: it is not counted on to pause anything).
pub(crate) async fn brake_targets(deployment: &Deployment) -> BTreeMap<Address, BTreeSet<Address>> {
    let brakes: Vec<_> = deployment
        .reachable_contracts()
        .filter(|(c, _)| c.kind == ContractKind::EmergencyBrake)
        .collect();
    let read = join_all(brakes.iter().map(|(c, client)| async move {
        EmergencyBrake::new(c.address, client.provider())
            .targets()
            .call()
            .await
            .map_err(|e| contract_err(client, e))
    }))
    .await;
    brakes
        .into_iter()
        .zip(read)
        .filter_map(|((c, _), r)| {
            r.ok()
                .map(|targets| (c.address, targets.into_iter().collect()))
        })
        .collect()
}

/// The chains with their contracts and each role's holders, described.
fn chain_entries(deployment: &Deployment, report: &StatusReport) -> Vec<ChainEntry> {
    deployment
        .manifest
        .chains
        .iter()
        .map(|(name, cfg)| ChainEntry {
            name: name.clone(),
            chain_id: cfg.chain_id,
            error: deployment
                .unreachable
                .get(name)
                .map(|e| redact(&e.to_string()).into_owned()),
            contracts: report
                .contracts
                .iter()
                .filter(|c| &c.chain == name)
                .map(|c| contract_entry(deployment, report, c))
                .collect(),
            safes: report
                .safes
                .iter()
                .filter(|s| &s.chain == name)
                .filter_map(|s| {
                    let address = deployment
                        .safes
                        .iter()
                        .find(|d| d.name == s.signer)
                        .and_then(|d| d.at(name))?;
                    Some(SafeEntry {
                        signer: s.signer.clone(),
                        address,
                        threshold: s.info.as_ref().map(|i| i.threshold),
                        owners: s
                            .info
                            .iter()
                            .flat_map(|i| &i.owners)
                            .map(|o| (*o, deployment.signer_for(*o).map(|k| k.name.clone())))
                            .collect(),
                        error: s.error.as_deref().map(|e| redact(e).into_owned()),
                    })
                })
                .collect(),
        })
        .collect()
}

fn contract_entry(
    deployment: &Deployment,
    report: &StatusReport,
    c: &ContractStatus,
) -> ContractEntry {
    ContractEntry {
        name: c.name.clone(),
        kind: c.kind,
        address: c.address,
        paused: c.paused,
        holdings: c.balances.clone(),
        roles: c
            .roles
            .iter()
            .map(|(role, holders)| RoleEntry {
                role: *role,
                holders: holders
                    .iter()
                    .map(|a| describe(deployment, report, &c.chain, *a))
                    .collect(),
            })
            .collect(),
        error: c.error.as_deref().map(|e| redact(e).into_owned()),
    }
}

/// What `address` on `chain` is: a key guardian holds, a Safe, the brake, or unknown.
pub(crate) fn describe(
    deployment: &Deployment,
    report: &StatusReport,
    chain: &str,
    address: Address,
) -> Holder {
    let what = if let Some(s) = deployment.signer_for(address) {
        HolderKind::Key {
            signer: s.name.clone(),
        }
    } else if let Some(s) = deployment
        .safes
        .iter()
        .find(|s| s.at(chain) == Some(address))
    {
        let info = report
            .safes
            .iter()
            .find(|r| r.signer == s.name && r.chain == chain)
            .and_then(|r| r.info.as_ref());
        HolderKind::Safe {
            signer: s.name.clone(),
            threshold: info.map(|i| i.threshold),
            owners: info.map(|i| i.owners.len()),
        }
    } else if let Some(c) = deployment
        .manifest
        .contracts
        .iter()
        .find(|c| c.chain() == chain && c.address == address)
    {
        let name = c.name().to_string();
        if c.kind == ContractKind::EmergencyBrake {
            HolderKind::Brake { name }
        } else {
            HolderKind::Contract { name }
        }
    } else {
        HolderKind::Unknown
    };
    Holder { address, what }
}

impl Holder {
    /// The holder for people: `key `pauser` (guardian holds its signer) 0x…`, a Safe with its
    /// threshold and owners, the brake, or a key guardian does not hold.
    pub fn describe(&self) -> String {
        let a = self.address;
        match &self.what {
            HolderKind::Key { signer } => {
                format!("key `{signer}` {a} (guardian holds its signer)")
            }
            HolderKind::Safe {
                signer,
                threshold,
                owners,
            } => match (threshold, owners) {
                (Some(t), Some(n)) => format!("Safe `{signer}` {a} ({t} of {n} owners)"),
                _ => format!("Safe `{signer}` {a} (owners and threshold unreadable)"),
            },
            HolderKind::Brake { name } => format!("brake `{name}` {a}"),
            HolderKind::Contract { name } => format!("contract `{name}` {a}"),
            HolderKind::Unknown => format!("key {a} (guardian holds no signer for it)"),
        }
    }
}

impl SafeEntry {
    /// The Safe for people: threshold, then each owner and whether guardian holds its key.
    pub fn describe(&self) -> String {
        let Some(t) = self.threshold else {
            return format!(
                "Safe `{}` {}: cannot be read ({})",
                self.signer,
                self.address,
                self.error.as_deref().unwrap_or("unknown error")
            );
        };
        let owners: Vec<String> = self
            .owners
            .iter()
            .map(|(o, k)| match k {
                Some(k) => format!("{o} (`{k}`, guardian holds its key)"),
                None => format!("{o} (signs outside guardian)"),
            })
            .collect();
        format!(
            "Safe `{}` {} needs {t} of {} owners: {}",
            self.signer,
            self.address,
            owners.len(),
            owners.join(", ")
        )
    }
}

/// A contract's paused state for people.
pub fn paused_text(c: &ContractEntry) -> &'static str {
    match (c.paused, &c.error) {
        (Some(true), _) => "PAUSED",
        (Some(false), _) => "running",
        (None, Some(_)) => "unknown (unreadable)",
        (None, None) if c.kind.is_pausable() => "unknown",
        (None, None) => "not pausable",
    }
}

/// What a contract holds (and owes) for people; empty for kinds that hold no funds.
pub fn holdings_text(c: &ContractEntry) -> String {
    c.holdings
        .iter()
        .map(crate::funds::Holding::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A unix-ms time for people (UTC).
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}
