//! The built-in `privileged` rule: every privileged event of the suite is an alert, `info` when
//! its actor and subject are expected, `critical` when either is not.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    primitives::{Address, B256, TxHash},
    rpc::types::Log,
    sol_types::SolEvent,
};
use bindings::{DocumentRegistry, EmergencyBrake, interfaces::IAccessControl};
use serde_json::json;

use super::block::BlockData;
use crate::{
    alert::{NewAlert, Severity},
    config::{ContractKind, Manifest},
    roles::Role,
};

/// The rule's name and kind.
pub const RULE: &str = "privileged";

/// Who is expected to act on, and to be given power over, the suite: the manifest's `[roles]`,
/// its brakes and its configured signers.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    admin: BTreeSet<Address>,
    pauser: BTreeSet<Address>,
    emergency: BTreeSet<Address>,
    upgrader: BTreeSet<Address>,
    brakes: BTreeSet<Address>,
    signers: BTreeSet<Address>,
    contracts: BTreeSet<Address>,
    safe_recipients: BTreeSet<Address>,
}

impl Expected {
    /// What `manifest` expects, with the addresses of the signers whose keys loaded.
    pub fn new(manifest: &Manifest, signers: impl IntoIterator<Item = Address>) -> Self {
        let roles = &manifest.roles;
        Self {
            admin: roles.admin.into_iter().collect(),
            pauser: roles.pauser.iter().copied().collect(),
            emergency: roles.emergency.iter().copied().collect(),
            upgrader: roles.upgrader.iter().copied().collect(),
            brakes: manifest
                .contracts
                .iter()
                .filter(|c| c.kind == ContractKind::EmergencyBrake)
                .map(|c| c.address)
                .collect(),
            // A Safe of the manifest acts for its owners, as a key signer does.
            signers: signers
                .into_iter()
                .chain(
                    manifest
                        .signers
                        .values()
                        .filter_map(|s| s.safe.as_ref())
                        .flat_map(|s| match s {
                            crate::config::PerChain::All(a) => vec![*a],
                            crate::config::PerChain::Each(m) => m.values().copied().collect(),
                        }),
                )
                .collect(),
            contracts: manifest.contracts.iter().map(|c| c.address).collect(),
            safe_recipients: manifest.emergency.safe_recipients.iter().copied().collect(),
        }
    }

    /// Whether `who` is expected to hold `role` (`None`: any role of the suite).
    pub fn holds(&self, role: Option<Role>, who: Address) -> bool {
        if self.signers.contains(&who) || self.brakes.contains(&who) {
            return true;
        }
        match role {
            Some(Role::Admin) => self.admin.contains(&who),
            Some(Role::Pauser) => self.pauser.contains(&who),
            Some(Role::Emergency) => self.emergency.contains(&who),
            Some(Role::Upgrader) => self.upgrader.contains(&who),
            // Pausers may pull the brake; the suite's own contracts call the resolver's hooks.
            Some(Role::Guardian) => self.pauser.contains(&who),
            Some(Role::HookSource) => self.contracts.contains(&who),
            // Anyone may return funds; a role holder or the safe that received them is expected.
            None => [
                &self.admin,
                &self.pauser,
                &self.emergency,
                &self.upgrader,
                &self.safe_recipients,
            ]
            .iter()
            .any(|set| set.contains(&who)),
        }
    }
}

/// The role whose id is `id`, if it is one of the suite's.
fn role_of(id: B256) -> Option<Role> {
    [
        Role::Admin,
        Role::Pauser,
        Role::Emergency,
        Role::Upgrader,
        Role::Guardian,
        Role::HookSource,
    ]
    .into_iter()
    .find(|r| r.id() == id)
}

fn role_name(id: B256) -> String {
    role_of(id).map_or_else(|| id.to_string(), |r| r.name().to_string())
}

/// One privileged event, decoded: who acted (when the event says), on whom, and what is expected.
struct Privileged {
    event: &'static str,
    /// The event's own actor field; `None`: the transaction's sender acted.
    actor: Option<Address>,
    /// The role the actor needs.
    authority: Option<Role>,
    /// The account the action is about, and whether it is expected.
    subject: Option<(Address, bool)>,
    /// What the event says, for the evidence.
    details: serde_json::Value,
    /// The phrase for the summary.
    what: String,
}

fn decode(log: &Log, expected: &Expected) -> Option<Privileged> {
    let topic = *log.topic0()?;
    let inner = &log.inner;
    let p = if topic == IAccessControl::RoleGranted::SIGNATURE_HASH
        || topic == IAccessControl::RoleRevoked::SIGNATURE_HASH
    {
        let granted = topic == IAccessControl::RoleGranted::SIGNATURE_HASH;
        let (role, account, sender) = if granted {
            let e = IAccessControl::RoleGranted::decode_log(inner).ok()?.data;
            (e.role, e.account, e.sender)
        } else {
            let e = IAccessControl::RoleRevoked::decode_log(inner).ok()?.data;
            (e.role, e.account, e.sender)
        };
        let name = role_name(role);
        Privileged {
            event: if granted {
                "RoleGranted"
            } else {
                "RoleRevoked"
            },
            actor: Some(sender),
            authority: Some(Role::Admin),
            // Revoking a role from anyone is an admin's call; granting one to a stranger is not.
            subject: Some((account, !granted || expected.holds(role_of(role), account))),
            details: json!({"role": name, "account": account, "sender": sender}),
            what: format!(
                "{name} {} {account}",
                if granted {
                    "granted to"
                } else {
                    "revoked from"
                }
            ),
        }
    } else if topic == DocumentRegistry::Paused::SIGNATURE_HASH
        || topic == DocumentRegistry::Unpaused::SIGNATURE_HASH
    {
        let paused = topic == DocumentRegistry::Paused::SIGNATURE_HASH;
        let account = if paused {
            DocumentRegistry::Paused::decode_log(inner)
                .ok()?
                .data
                .account
        } else {
            DocumentRegistry::Unpaused::decode_log(inner)
                .ok()?
                .data
                .account
        };
        Privileged {
            event: if paused { "Paused" } else { "Unpaused" },
            actor: Some(account),
            authority: Some(Role::Pauser),
            subject: None,
            details: json!({"account": account}),
            what: if paused { "paused" } else { "unpaused" }.into(),
        }
    } else if topic == DocumentRegistry::Upgraded::SIGNATURE_HASH {
        let e = DocumentRegistry::Upgraded::decode_log(inner).ok()?.data;
        Privileged {
            event: "Upgraded",
            actor: None,
            authority: Some(Role::Upgrader),
            subject: None,
            details: json!({"implementation": e.implementation}),
            what: format!("upgraded to implementation {}", e.implementation),
        }
    } else if topic == DocumentRegistry::EmergencyWithdrawal::SIGNATURE_HASH {
        let e = DocumentRegistry::EmergencyWithdrawal::decode_log(inner)
            .ok()?
            .data;
        Privileged {
            event: "EmergencyWithdrawal",
            actor: Some(e.operator),
            authority: Some(Role::Emergency),
            subject: Some((e.recipient, expected.safe_recipients.contains(&e.recipient))),
            details: json!({"token": e.token, "recipient": e.recipient, "amount": e.amount.to_string(), "operator": e.operator}),
            what: format!(
                "emergency withdrawal of {} to {}",
                crate::funds::show_known(e.amount, Some(e.token)),
                e.recipient
            ),
        }
    } else if topic == DocumentRegistry::Replenished::SIGNATURE_HASH {
        let e = DocumentRegistry::Replenished::decode_log(inner).ok()?.data;
        Privileged {
            event: "Replenished",
            actor: Some(e.from),
            authority: None,
            subject: None,
            details: json!({"token": e.token, "from": e.from, "amount": e.amount.to_string()}),
            what: format!(
                "replenished with {}",
                crate::funds::show_known(e.amount, Some(e.token))
            ),
        }
    } else if topic == DocumentRegistry::RegistrationFeeSet::SIGNATURE_HASH {
        let e = DocumentRegistry::RegistrationFeeSet::decode_log(inner)
            .ok()?
            .data;
        Privileged {
            event: "RegistrationFeeSet",
            actor: None,
            authority: Some(Role::Admin),
            subject: None,
            details: json!({"old_fee": e.oldFee.to_string(), "new_fee": e.newFee.to_string()}),
            what: format!("registration fee set from {} to {} wei", e.oldFee, e.newFee),
        }
    } else if topic == EmergencyBrake::TargetAdded::SIGNATURE_HASH
        || topic == EmergencyBrake::TargetRemoved::SIGNATURE_HASH
    {
        let added = topic == EmergencyBrake::TargetAdded::SIGNATURE_HASH;
        let target = if added {
            EmergencyBrake::TargetAdded::decode_log(inner)
                .ok()?
                .data
                .target
        } else {
            EmergencyBrake::TargetRemoved::decode_log(inner)
                .ok()?
                .data
                .target
        };
        Privileged {
            event: if added {
                "TargetAdded"
            } else {
                "TargetRemoved"
            },
            actor: None,
            authority: Some(Role::Admin),
            subject: Some((target, expected.contracts.contains(&target))),
            details: json!({"target": target}),
            what: format!(
                "brake target {target} {}",
                if added { "added" } else { "removed" }
            ),
        }
    } else {
        return None;
    };
    Some(p)
}

/// Whether `log` is a privileged event without an actor field of its own: the rule then needs
/// its transaction's sender.
pub fn needs_sender(log: &Log) -> bool {
    log.topic0().is_some_and(|t| {
        [
            DocumentRegistry::Upgraded::SIGNATURE_HASH,
            DocumentRegistry::RegistrationFeeSet::SIGNATURE_HASH,
            EmergencyBrake::TargetAdded::SIGNATURE_HASH,
            EmergencyBrake::TargetRemoved::SIGNATURE_HASH,
        ]
        .contains(t)
    })
}

/// The rule: one alert per privileged event of `block`. `contracts` names the manifest's
/// contracts by address; `senders` gives the sender of each transaction whose events need one.
pub fn evaluate(
    block: &BlockData,
    expected: &Expected,
    contracts: &BTreeMap<Address, String>,
    senders: &BTreeMap<TxHash, Address>,
) -> Vec<NewAlert> {
    let mut alerts = Vec::new();
    for log in &block.logs {
        let Some(contract) = contracts.get(&log.address()) else {
            continue;
        };
        let Some(p) = decode(log, expected) else {
            continue;
        };
        let tx = log.transaction_hash;
        let actor = p
            .actor
            .or_else(|| tx.and_then(|h| senders.get(&h).copied()));
        let actor_expected = match (actor, p.authority) {
            (Some(a), authority) => expected.holds(authority, a),
            (None, _) => false,
        };
        let subject_expected = p.subject.is_none_or(|(_, ok)| ok);
        let severity = if actor_expected && subject_expected {
            Severity::Info
        } else {
            Severity::Critical
        };
        let mut unexpected = Vec::new();
        if !actor_expected {
            unexpected.push("actor");
        }
        if !subject_expected {
            unexpected.push("subject");
        }
        let by = actor.map_or_else(|| "an unknown sender".to_string(), |a| a.to_string());
        let summary = format!(
            "{contract} on {}: {} by {by}{}",
            block.chain,
            p.what,
            if unexpected.is_empty() {
                String::new()
            } else {
                format!(" (unexpected {})", unexpected.join(" and "))
            }
        );
        let log_index = log.log_index.unwrap_or_default();
        alerts.push(NewAlert {
            rule: RULE.into(),
            kind: RULE.into(),
            severity,
            chain: block.chain.clone(),
            chain_id: block.chain_id,
            contract: Some(contract.clone()),
            address: Some(log.address()),
            block_number: block.number,
            block_hash: block.hash,
            tx_hashes: tx.into_iter().collect(),
            summary,
            evidence: json!({
                "event": p.event,
                "actor": actor,
                "actor_expected": actor_expected,
                "subject": p.subject.map(|(s, _)| s),
                "subject_expected": subject_expected,
                "log_index": log_index,
                "args": p.details,
            }),
            dedup_key: format!("{RULE}:{}:{}:{log_index}", block.chain_id, block.hash),
        });
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Log as PrimitiveLog, LogData};

    fn log(address: Address, data: LogData, tx: TxHash, index: u64) -> Log {
        Log {
            inner: PrimitiveLog { address, data },
            transaction_hash: Some(tx),
            log_index: Some(index),
            ..Log::default()
        }
    }

    #[test]
    fn grants_to_strangers_and_unknown_senders_are_critical() {
        let admin = Address::repeat_byte(0xad);
        let pauser = Address::repeat_byte(0x0a);
        let stranger = Address::repeat_byte(0x55);
        let registry = Address::repeat_byte(0x01);
        let expected = Expected {
            admin: [admin].into(),
            pauser: [pauser].into(),
            ..Expected::default()
        };
        let grant = |account, sender| {
            IAccessControl::RoleGranted {
                role: Role::Pauser.id(),
                account,
                sender,
            }
            .encode_log_data()
        };
        let fee = DocumentRegistry::RegistrationFeeSet {
            oldFee: alloy::primitives::U256::from(1),
            newFee: alloy::primitives::U256::from(2),
        }
        .encode_log_data();
        let transfer = DocumentRegistry::ResolverSet {
            integraHash: B256::repeat_byte(3),
            resolver: stranger,
        }
        .encode_log_data();
        let (t1, t2) = (TxHash::repeat_byte(1), TxHash::repeat_byte(2));
        let block = BlockData {
            chain: "local".into(),
            chain_id: 31337,
            number: 5,
            hash: B256::repeat_byte(5),
            logs: vec![
                log(registry, grant(pauser, admin), t1, 0),
                log(registry, grant(stranger, admin), t1, 1),
                log(registry, grant(pauser, stranger), t1, 2),
                log(registry, fee.clone(), t1, 3),
                log(registry, fee, t2, 4),
                log(registry, transfer, t2, 5),
                // Not a manifest contract: ignored.
                log(Address::repeat_byte(0x99), grant(stranger, stranger), t2, 6),
            ],
            ..BlockData::default()
        };
        let contracts = [(registry, "registry".to_string())].into();
        let senders = [(t1, admin), (t2, stranger)].into();
        let alerts = evaluate(&block, &expected, &contracts, &senders);
        let severities: Vec<Severity> = alerts.iter().map(|a| a.severity).collect();
        assert_eq!(
            severities,
            [
                Severity::Info,
                Severity::Critical,
                Severity::Critical,
                Severity::Info,
                Severity::Critical
            ]
        );
        assert!(
            alerts[1].summary.contains("unexpected subject"),
            "{}",
            alerts[1].summary
        );
        assert!(
            alerts[2].summary.contains("unexpected actor"),
            "{}",
            alerts[2].summary
        );
        let keys: BTreeSet<&str> = alerts.iter().map(|a| a.dedup_key.as_str()).collect();
        assert_eq!(keys.len(), alerts.len(), "one key per event");
    }
}
