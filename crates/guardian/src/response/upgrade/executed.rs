//! The checks of an upgrade a Safe executes: the same as for an upgrade guardian sends itself
//! (the ERC-1967 slot holds the new implementation; the paused state, the configured holders'
//! roles and the balances are as before), with the state read just before the execution is
//! sent and again once it is mined.

use alloy::{primitives::Address, sol_types::SolCall};
use bindings::interfaces::IUUPSUpgradeable;
use serde::Serialize;

use super::verify::{Check, Snapshot, compare, snapshot, watched_holders};
use crate::{
    chain::{ChainClient, ChainError},
    config::ContractConfig,
    deployment::Deployment,
    safe::SafeCall,
};

/// An upgrade among a Safe transaction's calls, with the state before it.
pub struct Before<'a> {
    contract: &'a ContractConfig,
    implementation: Address,
    state: Snapshot,
}

/// The checks of one upgrade a Safe executed.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeChecked {
    /// The proxy.
    pub contract: String,
    /// The implementation it was moved to.
    pub implementation: Address,
    /// Each check, with the values before and after.
    pub checks: Vec<Check>,
}

impl UpgradeChecked {
    /// Whether every check holds.
    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }
}

/// The state of every manifest proxy that `calls` (on `client`'s chain) upgrade, read now.
pub async fn before<'a>(
    deployment: &'a Deployment,
    client: &ChainClient,
    calls: &[SafeCall],
) -> Result<Vec<Before<'a>>, ChainError> {
    let mut out = Vec::new();
    for c in calls {
        let Ok(up) = IUUPSUpgradeable::upgradeToAndCallCall::abi_decode(&c.data) else {
            continue;
        };
        let Some(contract) = deployment
            .manifest
            .contracts
            .iter()
            .find(|k| k.chain() == client.name && k.address == c.to)
        else {
            continue;
        };
        let holders = watched_holders(deployment, contract);
        out.push(Before {
            contract,
            implementation: up.newImplementation,
            state: snapshot(client, contract, &holders).await?,
        });
    }
    Ok(out)
}

/// Each upgrade of `before` checked against the state now.
pub async fn after(
    deployment: &Deployment,
    client: &ChainClient,
    before: Vec<Before<'_>>,
) -> Vec<UpgradeChecked> {
    let mut out = Vec::new();
    for b in before {
        let holders = watched_holders(deployment, b.contract);
        let checks = match snapshot(client, b.contract, &holders).await {
            Ok(now) => compare(&b.state, &now, b.implementation),
            Err(e) => vec![Check {
                check: "state after the upgrade".into(),
                ok: false,
                before: "read".into(),
                after: format!("cannot be read: {e}"),
            }],
        };
        out.push(UpgradeChecked {
            contract: b.contract.name().to_string(),
            implementation: b.implementation,
            checks,
        });
    }
    out
}
