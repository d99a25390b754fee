//! The Safes of the manifest as they are on each chain: owners, threshold, nonce, version,
//! guard, fallback handler and modules, and which roles each holds on which contracts.

use std::collections::BTreeMap;

use alloy::primitives::Address;
use futures::future::join_all;
use serde::Serialize;

use super::{ContractStatus, Finding, Severity};
use crate::{deployment::Deployment, roles::Role, safe::SafeInfo};

/// One Safe on one chain.
#[derive(Debug, Clone, Serialize)]
pub struct SafeStatus {
    /// Its signer's name.
    pub signer: String,
    /// The chain.
    pub chain: String,
    /// The Safe as read, when it could be.
    pub info: Option<SafeInfo>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// The roles it holds, by contract.
    pub holds: BTreeMap<String, Vec<Role>>,
}

/// Every Safe signer of the manifest on every reachable chain, with the findings they call for:
/// a Safe that cannot be read, one confirmation enough to act, a guard or modules enabled.
pub async fn read(
    deployment: &Deployment,
    contracts: &[ContractStatus],
) -> (Vec<SafeStatus>, Vec<Finding>) {
    let pairs: Vec<_> = deployment
        .safes
        .iter()
        .flat_map(|s| {
            deployment
                .clients
                .values()
                .filter_map(move |c| s.at(&c.name).map(|a| (s, c, a)))
        })
        .collect();
    let infos = join_all(
        pairs
            .iter()
            .map(|(_, client, address)| crate::safe::read(client, *address)),
    )
    .await;
    let mut out = Vec::new();
    let mut findings = Vec::new();
    for ((s, client, address), info) in pairs.into_iter().zip(infos) {
        let holds: BTreeMap<String, Vec<Role>> = contracts
            .iter()
            .filter(|c| c.chain == client.name)
            .filter_map(|c| {
                let held: Vec<Role> = c
                    .roles
                    .iter()
                    .filter(|(_, holders)| holders.contains(&address))
                    .map(|(r, _)| *r)
                    .collect();
                (!held.is_empty()).then(|| (c.name.clone(), held))
            })
            .collect();
        let subject = format!("{} ({})", s.name, client.name);
        let (info, error) = match info {
            Ok(i) => {
                findings.extend(concerns(&subject, &i, !holds.is_empty()));
                (Some(i), None)
            }
            Err(e) => {
                findings.push(Finding {
                    severity: if holds.is_empty() {
                        Severity::Warning
                    } else {
                        Severity::Critical
                    },
                    subject: subject.clone(),
                    message: format!("cannot read the Safe {address} on {}: {e}", client.name),
                });
                (None, Some(e.to_string()))
            }
        };
        out.push(SafeStatus {
            signer: s.name.clone(),
            chain: client.name.clone(),
            info,
            error,
            holds,
        });
    }
    (out, findings)
}

/// What deserves a look in a Safe that holds roles.
fn concerns(subject: &str, i: &SafeInfo, holds_roles: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut note = |severity, message: String| {
        out.push(Finding {
            severity,
            subject: subject.to_string(),
            message,
        })
    };
    if holds_roles && i.threshold <= 1 {
        note(
            Severity::Warning,
            format!(
                "Safe {} needs {} of {} confirmations: one key is enough to use its roles",
                i.address,
                i.threshold,
                i.owners.len()
            ),
        );
    }
    if i.guard != Address::ZERO {
        note(
            Severity::Warning,
            format!(
                "Safe {} has a guard, {}: it can block every transaction",
                i.address, i.guard
            ),
        );
    }
    if !i.modules.is_empty() {
        note(
            Severity::Warning,
            format!(
                "Safe {} has modules enabled ({}): each can execute without the owners",
                i.address,
                i.modules
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    out
}
