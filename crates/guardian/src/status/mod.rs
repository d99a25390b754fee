//! The state of a deployment as the chains report it: paused, balances, implementation, role
//! holders — and every difference from the manifest's `[roles]`, which an operator must see first.

pub mod safes;

use std::{
    collections::{BTreeMap, BTreeSet},
    future::IntoFuture,
};

use alloy::{
    primitives::{Address, B256, b256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use bindings::interfaces::{IAccessControl, IPausable};
use futures::future::join_all;
use serde::Serialize;

use crate::{
    chain::{ChainClient, ChainError, contract_err, logs},
    config::{ContractConfig, ContractKind, RolesConfig},
    deployment::Deployment,
    funds::{Holding, read_holdings},
    roles::Role,
};

/// The ERC-1967 implementation slot: `keccak256("eip1967.proxy.implementation") - 1`.
pub const IMPLEMENTATION_SLOT: B256 =
    b256!("360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc");

/// One contract's on-chain state.
#[derive(Debug, Clone, Serialize)]
pub struct ContractStatus {
    /// Name in the manifest.
    pub name: String,
    /// Chain name.
    pub chain: String,
    /// Kind.
    pub kind: ContractKind,
    /// Address.
    pub address: Address,
    /// `paused()`, for pausable kinds.
    pub paused: Option<bool>,
    /// What it holds (and, for an escrow, owes) per asset, for fund-holding kinds.
    pub balances: Vec<Holding>,
    /// Whether the contract sits behind an upgradeable proxy; the brake and the test token do not.
    pub upgradeable: bool,
    /// The implementation behind the proxy (`None` when not upgradeable).
    pub implementation: Option<Address>,
    /// Current holders of each role, from the role events.
    pub roles: BTreeMap<Role, Vec<Address>>,
    /// A read that failed.
    pub error: Option<String>,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Someone unexpected holds a role, or a chain is unreachable.
    Critical,
    /// An expected holder lacks its role.
    Warning,
}

/// A difference between the chain and the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// Contract name (or chain name).
    pub subject: String,
    /// What is wrong.
    pub message: String,
}

/// What a configured signer can do where.
#[derive(Debug, Clone, Serialize)]
pub struct SignerRoles {
    /// Signer name.
    pub signer: String,
    /// Its address.
    pub address: Address,
    /// Contract name → roles it holds there.
    pub holds: BTreeMap<String, Vec<Role>>,
}

/// The whole status.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Differences from the manifest, most serious first.
    pub findings: Vec<Finding>,
    /// Every contract.
    pub contracts: Vec<ContractStatus>,
    /// Every configured signer.
    pub signers: Vec<SignerRoles>,
    /// Who follows each chain (with `[ha]`, or where leases are stored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<ChainMonitor>,
    /// The manifest's Safes on each chain.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub safes: Vec<safes::SafeStatus>,
}

/// Which instance follows a chain, and how far it got.
#[derive(Debug, Clone, Serialize)]
pub struct ChainMonitor {
    /// The chain's name.
    pub chain: String,
    /// The instance holding its lease now (none: nobody follows it).
    pub holder: Option<String>,
    /// The lease's epoch (it grows at every takeover).
    pub epoch: Option<i64>,
    /// Milliseconds the lease still runs (negative: it lapsed that long ago).
    pub lease_left_ms: Option<i64>,
    /// The last block processed.
    pub cursor: Option<u64>,
    /// Blocks between the head and the cursor.
    pub lag: Option<u64>,
}

/// Each chain's holder, epoch and lag, from the stored leases and cursors; a finding for a
/// chain that has had no holder for longer than two leases.
async fn monitors(deployment: &Deployment, findings: &mut Vec<Finding>) -> Vec<ChainMonitor> {
    let store = &deployment.store;
    let Ok((leases, now)) = store.leases() else {
        return Vec::new();
    };
    let Some(ha) = &deployment.manifest.ha else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, cfg) in &deployment.manifest.chains {
        let lease = leases.iter().find(|l| l.chain_id == cfg.chain_id);
        let cursor = store.cursor(cfg.chain_id).ok().flatten().map(|c| c.number);
        let head = match deployment.clients.get(name) {
            Some(c) => alloy::providers::Provider::get_block_number(c.provider())
                .await
                .ok(),
            None => None,
        };
        let left = lease.map(|l| l.expires_at - now);
        let held = left.is_some_and(|l| l > 0);
        if left.is_none_or(|l| l < -2 * ha.lease_ms as i64) {
            findings.push(Finding {
                severity: Severity::Critical,
                subject: name.clone(),
                message: format!(
                    "chain `{name}` has no monitor: no instance has held its lease for more than two leases{}",
                    lease.map_or(String::new(), |l| format!(" (last: {} at epoch {})", l.holder, l.epoch))
                ),
            });
        }
        out.push(ChainMonitor {
            chain: name.clone(),
            holder: lease.filter(|_| held).map(|l| l.holder.clone()),
            epoch: lease.map(|l| l.epoch),
            lease_left_ms: left,
            cursor,
            lag: head.zip(cursor).map(|(h, c)| h.saturating_sub(c)),
        });
    }
    out
}

impl StatusReport {
    /// Whether nothing is unreachable and no critical finding exists.
    pub fn ok(&self) -> bool {
        !self
            .findings
            .iter()
            .any(|f| f.severity == Severity::Critical)
    }
}

/// The roles a contract of `kind` has.
pub fn roles_of(kind: ContractKind) -> &'static [Role] {
    match kind {
        ContractKind::DocumentRegistry | ContractKind::PaymentEscrow => {
            &[Role::Admin, Role::Pauser, Role::Emergency, Role::Upgrader]
        }
        ContractKind::OwnershipTokenizer => &[Role::Admin, Role::Pauser, Role::Upgrader],
        ContractKind::AuditResolver => {
            &[Role::Admin, Role::Pauser, Role::Upgrader, Role::HookSource]
        }
        ContractKind::EmergencyBrake => &[Role::Admin, Role::Guardian],
        ContractKind::TestToken => &[],
    }
}

/// Whether contracts of `kind` sit behind an ERC-1967 proxy: the brake is a plain contract on
/// purpose (nobody can turn it into one that unpauses), the test token is plain too.
pub fn is_upgradeable(kind: ContractKind) -> bool {
    !matches!(kind, ContractKind::EmergencyBrake | ContractKind::TestToken)
}

/// Current holders of every role of a contract, by replaying its `RoleGranted`/`RoleRevoked`
/// events from block `from` (its deployment block, when the manifest knows it) to the head.
pub async fn role_holders(
    client: &ChainClient,
    address: Address,
    from: u64,
) -> Result<BTreeMap<B256, BTreeSet<Address>>, ChainError> {
    let filter = Filter::new().address(address).event_signature(vec![
        IAccessControl::RoleGranted::SIGNATURE_HASH,
        IAccessControl::RoleRevoked::SIGNATURE_HASH,
    ]);
    let head = client
        .provider()
        .get_block_number()
        .await
        .map_err(|e| client.rpc_err(e))?;
    let logs = logs::logs(client, &filter, from, head).await?;
    let mut holders: BTreeMap<B256, BTreeSet<Address>> = BTreeMap::new();
    for log in logs {
        if let Ok(g) = IAccessControl::RoleGranted::decode_log(&log.inner) {
            holders.entry(g.role).or_default().insert(g.account);
        } else if let Ok(r) = IAccessControl::RoleRevoked::decode_log(&log.inner) {
            holders.entry(r.role).or_default().remove(&r.account);
        }
    }
    Ok(holders)
}

impl ContractStatus {
    /// A contract whose state is not read yet.
    fn unread(c: &ContractConfig) -> Self {
        Self {
            name: c.name().to_string(),
            chain: c.chain().to_string(),
            kind: c.kind,
            address: c.address,
            paused: None,
            balances: Vec::new(),
            upgradeable: is_upgradeable(c.kind),
            implementation: None,
            roles: BTreeMap::new(),
            error: None,
        }
    }
}

async fn read_contract(client: &ChainClient, c: &ContractConfig) -> ContractStatus {
    let mut status = ContractStatus::unread(c);
    let provider = client.provider();
    let paused = async {
        if !c.kind.is_pausable() {
            return Ok(None);
        }
        IPausable::new(c.address, provider)
            .paused()
            .call()
            .await
            .map(Some)
            .map_err(|e| contract_err(client, e))
    };
    let balances = async {
        if !c.kind.holds_funds() {
            return Ok(Vec::new());
        }
        read_holdings(client, c).await
    };
    let implementation = async {
        if !is_upgradeable(c.kind) {
            return Ok(None);
        }
        let word = provider
            .get_storage_at(c.address, IMPLEMENTATION_SLOT.into())
            .await
            .map_err(|e| client.rpc_err(e))?;
        let addr = Address::from_word(B256::from(word));
        Ok::<_, ChainError>((!addr.is_zero()).then_some(addr))
    };
    let roles = async {
        if roles_of(c.kind).is_empty() {
            return Ok(BTreeMap::new());
        }
        role_holders(client, c.address, c.deployed_block.unwrap_or(0)).await
    };
    let (paused, balances, implementation, roles) =
        tokio::join!(paused, balances, implementation, roles);
    let mut errors = Vec::new();
    match paused {
        Ok(p) => status.paused = p,
        Err(e) => errors.push(e.to_string()),
    }
    match balances {
        Ok(b) => status.balances = b,
        Err(e) => errors.push(e.to_string()),
    }
    match implementation {
        Ok(i) => status.implementation = i,
        Err(e) => errors.push(e.to_string()),
    }
    match roles {
        Ok(holders) => {
            for role in roles_of(c.kind) {
                let list = holders
                    .get(&role.id())
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                status.roles.insert(*role, list);
            }
        }
        Err(e) => errors.push(e.to_string()),
    }
    if !errors.is_empty() {
        status.error = Some(errors.join("; "));
    }
    status
}

/// The holders the manifest expects for `role` on a contract of `chain`.
fn expected(roles: &RolesConfig, role: Role, brakes_on_chain: &[Address]) -> Option<Vec<Address>> {
    match role {
        Role::Admin => roles.admin.map(|a| vec![a]),
        Role::Pauser => Some(
            roles
                .pauser
                .iter()
                .chain(brakes_on_chain)
                .copied()
                .collect(),
        ),
        Role::Guardian => Some(roles.pauser.clone()),
        Role::Emergency => Some(roles.emergency.clone()),
        Role::Upgrader => Some(roles.upgrader.clone()),
        Role::HookSource => None,
    }
}

/// Compares one contract's role holders with the manifest.
pub fn findings_for(
    status: &ContractStatus,
    roles: &RolesConfig,
    brakes_on_chain: &[Address],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (role, holders) in &status.roles {
        let Some(expected) = expected(roles, *role, brakes_on_chain) else {
            continue;
        };
        for h in holders.iter().filter(|h| !expected.contains(h)) {
            out.push(Finding {
                severity: Severity::Critical,
                subject: status.name.clone(),
                message: format!(
                    "unexpected holder of {} on {} ({}): {h}",
                    role.name(),
                    status.name,
                    status.chain
                ),
            });
        }
        for e in expected
            .iter()
            .filter(|e| !holders.contains(e) && !brakes_on_chain.contains(e))
        {
            out.push(Finding {
                severity: Severity::Warning,
                subject: status.name.clone(),
                message: format!(
                    "{e} should hold {} on {} ({}) but does not",
                    role.name(),
                    status.name,
                    status.chain
                ),
            });
        }
    }
    out
}

/// An escrow holding less of an asset than its open payments are owed: it must not resume until
/// the funds are returned (`guardian replenish`).
fn shortfalls(status: &ContractStatus) -> Vec<Finding> {
    status
        .balances
        .iter()
        .filter(|h| !h.shortfall().is_zero())
        .map(|h| Finding {
            severity: Severity::Warning,
            subject: status.name.clone(),
            message: format!(
                "{} ({}) owes {} but holds {}: short {}; return it with `guardian replenish` before unpausing",
                status.name,
                status.chain,
                h.show(h.owed.unwrap_or_default()),
                h.show(h.amount),
                h.show(h.shortfall()),
            ),
        })
        .collect()
}

/// Reads everything concurrently and compares it with the manifest.
pub async fn read(deployment: &Deployment) -> StatusReport {
    let located: Vec<(&ContractConfig, &ChainClient)> = deployment.reachable_contracts().collect();
    let mut contracts: Vec<ContractStatus> =
        join_all(located.iter().map(|(c, client)| read_contract(client, c))).await;
    let mut findings = Vec::new();
    for (chain, e) in &deployment.unreachable {
        findings.push(Finding {
            severity: Severity::Critical,
            subject: chain.clone(),
            message: format!("chain `{chain}` is unreachable: {e}"),
        });
    }
    for c in deployment
        .manifest
        .contracts
        .iter()
        .filter(|c| deployment.unreachable.contains_key(c.chain()))
    {
        contracts.push(ContractStatus {
            error: Some("chain unreachable".into()),
            ..ContractStatus::unread(c)
        });
    }
    for status in &contracts {
        let brakes: Vec<Address> = deployment
            .manifest
            .contracts
            .iter()
            .filter(|b| b.kind == ContractKind::EmergencyBrake && b.chain() == status.chain)
            .map(|b| b.address)
            .collect();
        findings.extend(findings_for(status, &deployment.manifest.roles, &brakes));
        findings.extend(shortfalls(status));
        if let Some(e) = &status.error {
            findings.push(Finding {
                severity: Severity::Critical,
                subject: status.name.clone(),
                message: format!("cannot read {} ({}): {e}", status.name, status.chain),
            });
        }
    }
    let signers: Vec<SignerRoles> = deployment
        .signers
        .iter()
        .map(|s| SignerRoles {
            signer: s.name.clone(),
            address: s.address(),
            holds: contracts
                .iter()
                .filter_map(|c| {
                    let held: Vec<Role> = c
                        .roles
                        .iter()
                        .filter(|(_, holders)| holders.contains(&s.address()))
                        .map(|(r, _)| *r)
                        .collect();
                    (!held.is_empty()).then(|| (c.name.clone(), held))
                })
                .collect(),
        })
        .collect();
    let mut unfunded = pause_keys_short(deployment, &signers).await;
    findings.append(&mut unfunded);
    let monitors = monitors(deployment, &mut findings).await;
    let (safes, mut safe_findings) = safes::read(deployment, &contracts).await;
    findings.append(&mut safe_findings);
    findings.sort_by_key(|f| f.severity);
    StatusReport {
        findings,
        contracts,
        signers,
        monitors,
        safes,
    }
}

/// Gas a direct `pause()` is given at most (its estimate with the send path's headroom).
const PAUSE_GAS: u64 = 60_000;
/// Gas a brake's `pauseAll()` is given at most for each target, beyond [`PAUSE_GAS`].
const BRAKE_GAS_PER_TARGET: u64 = 40_000;

/// A pause key that cannot pay, at `[rpc] fee_cap_gwei`, for pausing everything it can pause on
/// a chain: in a congested block the emergency pause may be priced up to the cap.
async fn pause_keys_short(deployment: &Deployment, signers: &[SignerRoles]) -> Vec<Finding> {
    let cap = alloy::primitives::U256::from(deployment.manifest.rpc.fee_cap_wei());
    let mut checks = Vec::new();
    for s in signers {
        for (chain, client) in &deployment.clients {
            let on_chain = |name: &String| {
                deployment
                    .manifest
                    .contracts
                    .iter()
                    .find(|c| c.name() == name)
                    .filter(|c| c.chain() == chain)
            };
            let mut gas = 0u64;
            for (name, roles) in &s.holds {
                let Some(c) = on_chain(name) else { continue };
                if c.kind == ContractKind::EmergencyBrake && roles.contains(&Role::Guardian) {
                    let targets = deployment
                        .manifest
                        .contracts
                        .iter()
                        .filter(|t| t.chain() == chain && t.kind.is_pausable())
                        .count() as u64;
                    gas += PAUSE_GAS + BRAKE_GAS_PER_TARGET * targets;
                } else if c.kind.is_pausable() && roles.contains(&Role::Pauser) {
                    gas += PAUSE_GAS;
                }
            }
            if gas > 0 {
                checks.push((s, chain, client, alloy::primitives::U256::from(gas) * cap));
            }
        }
    }
    let balances = join_all(
        checks
            .iter()
            .map(|(s, _, client, _)| client.provider().get_balance(s.address).into_future()),
    )
    .await;
    checks
        .into_iter()
        .zip(balances)
        .filter_map(|((s, chain, _, cost), balance)| {
            let balance = balance.ok()?;
            (balance < cost).then(|| Finding {
                severity: Severity::Warning,
                subject: s.signer.clone(),
                message: format!(
                    "pause key `{}` ({}) holds {} on {chain}, but pausing everything it can there at the fee cap ({} gwei) may cost up to {}: fund it before an emergency",
                    s.signer,
                    s.address,
                    eth(balance),
                    deployment.manifest.rpc.fee_cap_gwei,
                    eth(cost),
                ),
            })
        })
        .collect()
}

fn eth(wei: alloy::primitives::U256) -> String {
    let units = alloy::primitives::utils::format_units(wei, 18).unwrap_or_else(|_| wei.to_string());
    let units = if units.contains('.') {
        units.trim_end_matches('0').trim_end_matches('.')
    } else {
        units.as_str()
    };
    format!("{units} ETH")
}
