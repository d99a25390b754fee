//! What would slow a real response, each with what to do about it: a contract no one can
//! pause, one guardian cannot pause itself, a Safe whose threshold the manifest's keys cannot
//! meet, an escrow owing more than it holds, what cannot be read, a signer whose key did not
//! load, no safe recipient, an audience no contact reaches.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::Address;

use super::{Command, Finding};
use crate::{
    config::ContractKind,
    deployment::Deployment,
    funds::Holding,
    incident::AUDIENCES,
    roles::Role,
    status::{ContractStatus, Severity, StatusReport},
};

/// Every finding of the runbook, unsorted.
pub(super) fn all(
    deployment: &Deployment,
    report: &StatusReport,
    brakes: &BTreeMap<Address, BTreeSet<Address>>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (chain, e) in &deployment.unreachable {
        out.push(Finding {
            severity: Severity::Critical,
            kind: "unreadable",
            subject: chain.clone(),
            message: format!(
                "chain `{chain}` cannot be read ({e}): its contracts below are listed from the manifest, their state is unknown"
            ),
            fix: format!(
                "check `[chains.{chain}] rpc_urls` (add a second endpoint); `guardian pause --all` still pauses every chain it can reach"
            ),
            command: None,
        });
    }
    for c in &report.contracts {
        if deployment.unreachable.contains_key(&c.chain) {
            continue;
        }
        if let Some(e) = &c.error {
            out.push(Finding {
                severity: Severity::Critical,
                subject: c.name.clone(),
                kind: "unreadable",
                message: format!("cannot read {} ({}): {e}", c.name, c.chain),
                fix: "check the contract's address in the manifest and the chain's endpoints"
                    .into(),
                command: None,
            });
            continue;
        }
        out.extend(pausable(deployment, report, brakes, c));
        out.extend(c.balances.iter().filter_map(|h| insolvent(c, h)));
    }
    out.extend(safes(deployment, report));
    for (name, e) in &deployment.unloaded {
        out.push(Finding {
            severity: Severity::Warning,
            kind: "signer-unloaded",
            subject: name.clone(),
            message: format!("signer `{name}` is configured but its key did not load: {e}"),
            fix: format!(
                "make the key of `{name}` available where guardian runs (its environment variable or keystore)"
            ),
            command: None,
        });
    }
    if deployment.manifest.emergency.safe_recipients.is_empty() {
        out.push(Finding {
            severity: Severity::Warning,
            kind: "no-safe-recipient",
            subject: "[emergency]".into(),
            message: "no safe recipient: rescued funds have nowhere to go, so every withdrawal is refused".into(),
            fix: "add an address the team controls to `[emergency] safe_recipients`".into(),
            command: None,
        });
    }
    for audience in AUDIENCES {
        if !deployment
            .manifest
            .contacts
            .iter()
            .any(|c| c.audiences.iter().any(|a| a == audience))
        {
            out.push(Finding {
                severity: Severity::Warning,
                kind: "no-contact",
                subject: (*audience).into(),
                message: format!(
                    "no contact for the audience `{audience}`: `guardian incident notify $ID --audience {audience}` would tell nobody"
                ),
                fix: format!("add a `[[contacts]]` entry with `audiences = [\"{audience}\"]`"),
                command: None,
            });
        }
    }
    out
}

/// A pausable contract no one can pause (no holder of `PAUSER_ROLE` and no brake that can pause
/// it), or none of whose pausers guardian can use.
fn pausable(
    deployment: &Deployment,
    report: &StatusReport,
    brakes: &BTreeMap<Address, BTreeSet<Address>>,
    c: &ContractStatus,
) -> Option<Finding> {
    if !c.kind.is_pausable() {
        return None;
    }
    let pausers = c.roles.get(&Role::Pauser)?;
    let is_brake = |a: &Address| {
        deployment.manifest.contracts.iter().any(|b| {
            b.kind == ContractKind::EmergencyBrake && b.chain() == c.chain && b.address == *a
        })
    };
    // A brake pauses this contract only if it lists it and someone holds its GUARDIAN_ROLE.
    let brake_guardians = |brake: &Address| -> Vec<Address> {
        if !brakes.get(brake).is_some_and(|t| t.contains(&c.address)) {
            return Vec::new();
        }
        report
            .contracts
            .iter()
            .find(|b| b.chain == c.chain && b.address == *brake)
            .and_then(|b| b.roles.get(&Role::Guardian))
            .cloned()
            .unwrap_or_default()
    };
    let mut who: Vec<Address> = Vec::new();
    for p in pausers {
        if is_brake(p) {
            who.extend(brake_guardians(p));
        } else {
            who.push(*p);
        }
    }
    let held = |a: &Address| {
        deployment.signer_for(*a).is_some()
            || deployment.safes.iter().any(|s| s.at(&c.chain) == Some(*a))
    };
    if who.is_empty() {
        return Some(Finding {
            severity: Severity::Critical,
            kind: "unpausable",
            subject: c.name.clone(),
            message: format!(
                "no one can pause {} ({}): no account holds PAUSER_ROLE on it and no brake that can pause it does",
                c.name, c.chain
            ),
            fix: format!(
                "grant PAUSER_ROLE on {} to the pause key or the chain's EmergencyBrake (its admin does it), and register it with the brake (`addTarget`)",
                c.name
            ),
            command: None,
        });
    }
    if !who.iter().any(held) {
        let list: Vec<String> = who.iter().map(|a| a.to_string()).collect();
        return Some(Finding {
            severity: Severity::Warning,
            kind: "no-pause-key",
            subject: c.name.clone(),
            message: format!(
                "guardian holds no key that can pause {} ({}): `guardian pause --all` would leave it running; only {} can",
                c.name,
                c.chain,
                list.join(", ")
            ),
            fix: "add the pause key to `[signers]`, or grant PAUSER_ROLE to one guardian holds"
                .into(),
            command: None,
        });
    }
    None
}

/// An escrow owed more of an asset than it holds.
fn insolvent(c: &ContractStatus, h: &Holding) -> Option<Finding> {
    let short = h.shortfall();
    if short.is_zero() {
        return None;
    }
    let units = h.show(short);
    let amount = units
        .strip_suffix(&format!(" {}", h.symbol))
        .unwrap_or(&units)
        .to_string();
    let mut argv = vec![
        "guardian".to_string(),
        "replenish".into(),
        "--contract".into(),
        c.name.clone(),
    ];
    match h.token {
        None => argv.push("--native".into()),
        Some(t) => argv.extend(["--token".into(), t.to_string()]),
    }
    argv.extend(["--amount".into(), amount]);
    Some(Finding {
        severity: Severity::Warning,
        kind: "insolvent",
        subject: c.name.clone(),
        message: format!(
            "{} ({}) is owed {} but holds {}: short {}; it must not resume until it is made whole",
            c.name,
            c.chain,
            h.show(h.owed.unwrap_or_default()),
            h.show(h.amount),
            units
        ),
        fix: "return the missing funds before unpausing".into(),
        command: Some(Command::new(argv, "make it whole")),
    })
}

/// Safes whose threshold the keys of the manifest cannot meet, or that cannot be read.
fn safes(deployment: &Deployment, report: &StatusReport) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &report.safes {
        let subject = format!("{} ({})", s.signer, s.chain);
        let Some(info) = &s.info else {
            out.push(Finding {
                severity: if s.holds.is_empty() {
                    Severity::Warning
                } else {
                    Severity::Critical
                },
                kind: "unreadable",
                subject,
                message: format!(
                    "cannot read the Safe `{}` on {}: {}",
                    s.signer,
                    s.chain,
                    s.error.as_deref().unwrap_or("unknown error")
                ),
                fix: "check its address in `[signers]` and the chain's endpoints".into(),
                command: None,
            });
            continue;
        };
        let keys: Vec<&str> = info
            .owners
            .iter()
            .filter_map(|o| deployment.signer_for(*o).map(|k| k.name.as_str()))
            .collect();
        if (keys.len() as u64) < info.threshold {
            let roles: Vec<String> = s
                .holds
                .iter()
                .map(|(c, r)| {
                    let names: Vec<&str> = r.iter().map(|r| r.name()).collect();
                    format!("{} on {c}", names.join(" "))
                })
                .collect();
            out.push(Finding {
                severity: Severity::Warning,
                kind: "safe-threshold",
                subject,
                message: format!(
                    "Safe `{}` {} on {} needs {} of {} confirmations, but the manifest holds keys for {} of its owners{}: what it holds ({}) waits for owners outside guardian",
                    s.signer,
                    info.address,
                    s.chain,
                    info.threshold,
                    info.owners.len(),
                    keys.len(),
                    if keys.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", keys.join(", "))
                    },
                    if roles.is_empty() {
                        "no role".to_string()
                    } else {
                        roles.join("; ")
                    }
                ),
                fix: format!(
                    "make sure {} more owner(s) can sign at any hour (each signs elsewhere and hands guardian the signature: `guardian safe status` shows what waits, `safe sign --signature`; or in the Safe app), or add their signers to `[signers]`",
                    info.threshold - keys.len() as u64
                ),
                command: None,
            });
        }
    }
    out
}
