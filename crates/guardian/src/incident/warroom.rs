//! The war room: where each affected contract of an incident stands — at risk, paused, funds
//! rescued, fixed, resumed — read from the chain (paused or not) and from the actions recorded
//! under the incident (withdrawals, upgrades, unpauses).

use alloy::primitives::Address;
use serde::Serialize;

use super::Incident;
use crate::{deployment::Deployment, response::read_paused, storage::StorageError};

/// One affected contract's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ContractStanding)]
pub struct ContractState {
    /// Manifest name.
    pub name: String,
    /// Chain name.
    pub chain: String,
    /// Address.
    #[schema(value_type = String)]
    pub address: Address,
    /// Paused now, as read from the chain (None: unreadable).
    pub paused: Option<bool>,
    /// A withdrawal under this incident moved funds out of it.
    pub rescued: bool,
    /// An upgrade under this incident changed its implementation.
    pub fixed: bool,
    /// An unpause under this incident resumed it (and it is not paused now).
    pub resumed: bool,
    /// The furthest stage: `at risk`, `paused`, `funds rescued`, `fixed`, `resumed`.
    pub state: &'static str,
}

/// The contracts an incident is about: its affected ones and, at level 3 (which pauses
/// everything) or when it names none, every pausable contract.
pub fn scope<'a>(
    manifest: &'a crate::config::Manifest,
    incident: &Incident,
) -> Vec<&'a crate::config::ContractConfig> {
    manifest
        .contracts
        .iter()
        .filter(|c| {
            let everything = incident.level >= 3 || incident.contracts.is_empty();
            incident.contracts.iter().any(|n| n == c.name()) || (everything && c.kind.is_pausable())
        })
        .collect()
}

/// What the incident's own actions did, per kind (`withdraw`, `upgrade`, `unpause`, …): the
/// contract and chain id of each mined transaction. From the records only.
pub fn touched(
    store: &crate::storage::Store,
    incident: &Incident,
) -> Result<Vec<(String, Address, u64)>, StorageError> {
    let mut touched = Vec::new();
    let actions = store.actions()?;
    for a in actions.iter().filter(|a| incident.actions.contains(&a.id)) {
        for tx in store.transactions(a.id)? {
            if let Some(target) = tx.target
                && tx.block_number.is_some()
            {
                touched.push((a.kind.clone(), target, tx.chain_id));
            }
        }
    }
    Ok(touched)
}

/// The war-room state of every contract in `incident`'s scope, given what its actions
/// `touched` and how `paused_of` reads a contract's paused state (from the chain, or from the
/// monitor's latest read).
pub fn states_of(
    manifest: &crate::config::Manifest,
    incident: &Incident,
    touched: &[(String, Address, u64)],
    paused_of: impl Fn(&crate::config::ContractConfig) -> Option<bool>,
) -> Vec<ContractState> {
    scope(manifest, incident)
        .into_iter()
        .map(|c| {
            let chain_id = manifest.chains.get(c.chain()).map(|ch| ch.chain_id);
            let did = |kind: &str| {
                touched
                    .iter()
                    .any(|(k, a, id)| k == kind && *a == c.address && Some(*id) == chain_id)
            };
            let paused = if c.kind.is_pausable() {
                paused_of(c)
            } else {
                None
            };
            let (rescued, fixed) = (did("withdraw"), did("upgrade"));
            let resumed = did("unpause") && paused == Some(false);
            let state = if resumed {
                "resumed"
            } else if fixed {
                "fixed"
            } else if rescued {
                "funds rescued"
            } else if paused == Some(true) {
                "paused"
            } else {
                "at risk"
            };
            ContractState {
                name: c.name().to_string(),
                chain: c.chain().to_string(),
                address: c.address,
                paused,
                rescued,
                fixed,
                resumed,
                state,
            }
        })
        .collect()
}

/// The war-room state of every contract in the incident's scope, paused states read from the
/// chain now; where the chain cannot be read (an endpoint down, a drill's chain gone), from the
/// records: resumed by the incident's unpause, else paused by its pause.
pub async fn states(
    deployment: &Deployment,
    incident: &Incident,
) -> Result<Vec<ContractState>, StorageError> {
    let touched = touched(&deployment.store, incident)?;
    let (timeline, _) = deployment.store.timeline(incident.id)?;
    let paused_by_it = super::recovery::paused_by(&timeline);
    let recorded = |c: &crate::config::ContractConfig| {
        let chain_id = deployment
            .manifest
            .chains
            .get(c.chain())
            .map(|ch| ch.chain_id);
        let resumed = touched
            .iter()
            .any(|(k, a, id)| k == "unpause" && *a == c.address && Some(*id) == chain_id);
        if resumed {
            Some(false)
        } else {
            paused_by_it.iter().any(|n| n == c.name()).then_some(true)
        }
    };
    let readable: Vec<_> = scope(&deployment.manifest, incident)
        .into_iter()
        .filter(|c| c.kind.is_pausable())
        .filter_map(|c| {
            let client = deployment.clients.get(c.chain())?;
            Some((c.name(), (client, c.address)))
        })
        .collect();
    let reads = read_paused(&readable.iter().map(|(_, t)| *t).collect::<Vec<_>>()).await;
    Ok(states_of(&deployment.manifest, incident, &touched, |c| {
        readable
            .iter()
            .zip(&reads)
            .find(|((n, _), _)| *n == c.name())
            .and_then(|(_, r)| r.as_ref().ok().copied())
            .or_else(|| recorded(c))
    }))
}
