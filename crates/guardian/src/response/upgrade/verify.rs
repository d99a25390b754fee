//! What makes an implementation usable (an artifact's shape, `proxiableUUID()` on chain) and the
//! state an upgrade must leave alone, read before and after and compared check by check.

use std::{collections::BTreeSet, path::Path};

use alloy::{
    json_abi::JsonAbi,
    primitives::{Address, B256, Bytes},
    providers::Provider,
};
use bindings::interfaces::{IPausable, IUUPSUpgradeable};
use futures::future::join_all;
use serde::{Deserialize, Serialize};

use crate::{
    chain::{ChainClient, ChainError},
    config::{ContractConfig, ContractKind},
    deployment::Deployment,
    funds::{Holding, read_holdings},
    response::{contract_err, read_roles},
    roles::Role,
    status::{IMPLEMENTATION_SLOT, roles_of},
};

/// One verification, read from the chain before and after the upgrade.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked (`implementation slot`, `paused`, `PAUSER_ROLE of 0x…`, `balance ETH`).
    pub check: String,
    /// Whether it holds.
    pub ok: bool,
    /// The value before.
    pub before: String,
    /// The value after.
    pub after: String,
}

/// A compiled contract as `contracts/build.js` writes it.
#[derive(Debug, Deserialize)]
struct Artifact {
    abi: JsonAbi,
    bin: Bytes,
}

/// Reads an artifact and checks it can be an implementation: bytecode, no constructor
/// arguments (an implementation is initialised through its proxy), and the UUPS functions.
pub(super) fn load_artifact(path: &Path) -> Result<Bytes, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the artifact {}: {e}", path.display()))?;
    let artifact: Artifact = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a {{abi, bin}} artifact like contracts/artifacts/*.json: {e}",
            path.display()
        )
    })?;
    if artifact.bin.is_empty() {
        return Err(format!(
            "{} has no bytecode (an interface or abstract contract)",
            path.display()
        ));
    }
    if artifact
        .abi
        .constructor
        .as_ref()
        .is_some_and(|c| !c.inputs.is_empty())
    {
        return Err(format!(
            "{}'s constructor takes arguments; an implementation is initialised through its proxy, not its constructor",
            path.display()
        ));
    }
    for f in ["proxiableUUID", "upgradeToAndCall"] {
        if !artifact.abi.functions.contains_key(f) {
            return Err(format!(
                "{} has no {f}(): not a UUPS implementation, and the proxy could never be upgraded again",
                path.display()
            ));
        }
    }
    Ok(artifact.bin)
}

/// Checks that `implementation` has code and answers `proxiableUUID()` with the ERC-1967 slot.
pub(super) async fn check_implementation(
    client: &ChainClient,
    implementation: Address,
) -> Result<(), String> {
    let code = client
        .provider()
        .get_code_at(implementation)
        .await
        .map_err(|e| {
            format!(
                "cannot read the code of {implementation}: {}",
                client.rpc_err(e)
            )
        })?;
    if code.is_empty() {
        return Err(format!(
            "{implementation} has no code on chain `{}`",
            client.name
        ));
    }
    let uuid = IUUPSUpgradeable::new(implementation, client.provider())
        .proxiableUUID()
        .call()
        .await
        .map_err(|e| {
            format!(
                "{implementation} does not answer proxiableUUID() ({}): not a UUPS implementation (or it is a proxy)",
                contract_err(client, e)
            )
        })?;
    if uuid != IMPLEMENTATION_SLOT {
        return Err(format!(
            "{implementation}'s proxiableUUID() is {uuid}, not the ERC-1967 implementation slot {IMPLEMENTATION_SLOT}"
        ));
    }
    Ok(())
}

/// The state an upgrade must not change, and the implementation it must.
pub struct Snapshot {
    pub(super) implementation: Address,
    paused: Option<bool>,
    /// `(role, holder, holds)` for every role of the kind and every configured holder.
    roles: Vec<(Role, Address, bool)>,
    holdings: Vec<Holding>,
}

/// Who must keep (or keep lacking) each role: every address of `[roles]`, and the chain's brakes.
pub(super) fn watched_holders(
    deployment: &Deployment,
    contract: &ContractConfig,
) -> Vec<(Role, Address)> {
    let r = &deployment.manifest.roles;
    let mut addresses: BTreeSet<Address> = r
        .admin
        .iter()
        .chain(&r.pauser)
        .chain(&r.emergency)
        .chain(&r.upgrader)
        .copied()
        .collect();
    addresses.extend(
        deployment
            .manifest
            .contracts
            .iter()
            .filter(|c| c.kind == ContractKind::EmergencyBrake && c.chain() == contract.chain())
            .map(|c| c.address),
    );
    roles_of(contract.kind)
        .iter()
        .flat_map(|role| addresses.iter().map(move |a| (*role, *a)))
        .collect()
}

pub(super) async fn snapshot(
    client: &ChainClient,
    contract: &ContractConfig,
    holders: &[(Role, Address)],
) -> Result<Snapshot, ChainError> {
    let implementation = async {
        let word = client
            .provider()
            .get_storage_at(contract.address, IMPLEMENTATION_SLOT.into())
            .await
            .map_err(|e| client.rpc_err(e))?;
        Ok::<_, ChainError>(Address::from_word(B256::from(word)))
    };
    let paused = async {
        if !contract.kind.is_pausable() {
            return Ok(None);
        }
        IPausable::new(contract.address, client.provider())
            .paused()
            .call()
            .await
            .map(Some)
            .map_err(|e| contract_err(client, e))
    };
    let roles = join_all(holders.iter().map(|(role, account)| async move {
        let r = read_roles(*role, &[(client, contract.address, *account)]).await;
        (*role, *account, r.into_iter().next())
    }));
    let (implementation, paused, roles, holdings) = tokio::join!(
        implementation,
        paused,
        roles,
        read_holdings(client, contract)
    );
    let mut role_states = Vec::with_capacity(roles.len());
    for (role, account, holds) in roles {
        let holds = holds.unwrap_or_else(|| {
            Err(ChainError::NoAnswer {
                chain: client.name.clone(),
                what: format!("hasRole({}, {account})", role.name()),
            })
        })?;
        role_states.push((role, account, holds));
    }
    Ok(Snapshot {
        implementation: implementation?,
        paused: paused?,
        roles: role_states,
        holdings: holdings?,
    })
}

/// Compares the state before and after: the slot must hold `expected`, the rest must not move.
pub(super) fn compare(before: &Snapshot, after: &Snapshot, expected: Address) -> Vec<Check> {
    let mut checks = vec![Check {
        check: "implementation slot".into(),
        ok: after.implementation == expected,
        before: before.implementation.to_string(),
        after: after.implementation.to_string(),
    }];
    if before.paused.is_some() || after.paused.is_some() {
        let show = |p: Option<bool>| p.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        checks.push(Check {
            check: "paused".into(),
            ok: before.paused == after.paused,
            before: show(before.paused),
            after: show(after.paused),
        });
    }
    for (role, account, holds) in &before.roles {
        let now = after
            .roles
            .iter()
            .find(|(r, a, _)| r == role && a == account)
            .map(|(_, _, h)| *h);
        checks.push(Check {
            check: format!("{} of {account}", role.name()),
            ok: now == Some(*holds),
            before: holds.to_string(),
            after: now.map(|h| h.to_string()).unwrap_or_else(|| "-".into()),
        });
    }
    for h in &before.holdings {
        let now = after.holdings.iter().find(|a| a.token == h.token);
        checks.push(Check {
            check: format!("balance {}", h.symbol),
            ok: now.is_some_and(|n| n.amount == h.amount),
            before: h.show(h.amount),
            after: now.map(|n| n.show(n.amount)).unwrap_or_else(|| "-".into()),
        });
        if let Some(owed) = h.owed {
            let now_owed = now.and_then(|n| n.owed);
            checks.push(Check {
                check: format!("owed {}", h.symbol),
                ok: now_owed == Some(owed),
                before: h.show(owed),
                after: now_owed.map(|o| h.show(o)).unwrap_or_else(|| "-".into()),
            });
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use alloy::primitives::{U256, address};

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn artifacts_that_cannot_be_implementations_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/artifacts");
        assert!(load_artifact(&root.join("test/PaymentEscrowV2.json")).is_ok());
        let brake = load_artifact(&root.join("EmergencyBrake.json")).expect_err("brake");
        assert!(brake.contains("constructor takes arguments"), "{brake}");
        let token = load_artifact(&root.join("TestToken.json")).expect_err("token");
        assert!(token.contains("not a UUPS implementation"), "{token}");
        let empty = write(dir.path(), "i.json", r#"{"abi": [], "bin": "0x"}"#);
        assert!(
            load_artifact(&empty)
                .expect_err("empty")
                .contains("no bytecode")
        );
        let junk = write(dir.path(), "j.json", "{}");
        assert!(
            load_artifact(&junk)
                .expect_err("junk")
                .contains("{abi, bin}")
        );
    }

    #[test]
    fn only_the_slot_may_change() {
        let (old, new) = (
            address!("0x00000000000000000000000000000000000000a1"),
            address!("0x00000000000000000000000000000000000000a2"),
        );
        let pauser = address!("0x00000000000000000000000000000000000000b1");
        let state = |implementation, paused, holds, amount: u64| Snapshot {
            implementation,
            paused: Some(paused),
            roles: vec![(Role::Pauser, pauser, holds)],
            holdings: vec![Holding {
                token: None,
                symbol: "ETH".into(),
                decimals: 18,
                amount: U256::from(amount),
                owed: Some(U256::from(amount)),
            }],
        };
        let before = state(old, true, true, 5);
        let good = compare(&before, &state(new, true, true, 5), new);
        assert!(good.iter().all(|c| c.ok), "{good:?}");
        assert_eq!(good.len(), 5, "slot, paused, one role, balance, owed");

        let failed = |after: Snapshot| -> Vec<String> {
            compare(&before, &after, new)
                .into_iter()
                .filter(|c| !c.ok)
                .map(|c| c.check)
                .collect()
        };
        assert_eq!(failed(state(old, true, true, 5)), ["implementation slot"]);
        assert_eq!(failed(state(new, false, true, 5)), ["paused"]);
        assert_eq!(
            failed(state(new, true, false, 5)),
            [format!("PAUSER_ROLE of {pauser}")]
        );
        assert_eq!(
            failed(state(new, true, true, 4)),
            ["balance ETH", "owed ETH"]
        );
    }
}
