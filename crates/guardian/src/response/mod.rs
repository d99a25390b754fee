//! Emergency response: pausing and unpausing many contracts on many chains at once, rescuing
//! funds, shipping a fix by upgrade and taking roles from compromised keys. Automatic responses
//! (the monitor, incident levels) call these same functions.

pub mod pause;
pub mod replenish;
pub mod revoke;
pub mod safe;
pub mod upgrade;
pub mod withdraw;

use alloy::{
    primitives::{Address, TxHash},
    providers::Provider,
};
use bindings::interfaces::{IAccessControl, IPausable};

use crate::{
    chain::{ChainClient, ChainError, Signer, batch},
    config::{ContractConfig, ContractKind},
    deployment::Deployment,
    roles::Role,
    storage::Status,
};

pub use crate::chain::contract_err;

/// Why an emergency action was refused before anything was sent.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// A named contract is not in the manifest.
    #[error("no contract named `{name}` in the manifest (known: {known})")]
    UnknownContract {
        /// The name given.
        name: String,
        /// The names the manifest has.
        known: String,
    },
    /// The named contract cannot do this.
    #[error("`{name}` is a {kind}, which {what}")]
    Unsupported {
        /// Contract name.
        name: String,
        /// Its kind.
        kind: String,
        /// What it lacks.
        what: &'static str,
    },
    /// The selection matched nothing.
    #[error("no contract matches{0}")]
    NothingSelected(String),
    /// No chain named so.
    #[error("no chain named `{0}` in the manifest")]
    UnknownChain(String),
    /// Signers lack a role on some targets; nothing was sent.
    #[error("refusing to send anything: {role} is missing on {}{unloaded}", .missing.join(", "))]
    MissingRole {
        /// The role needed.
        role: &'static str,
        /// `target (chain): signer` entries.
        missing: Vec<String>,
        /// Why configured signers could not be loaded, if any were not.
        unloaded: String,
    },
    /// The recipient is not a safe recipient.
    #[error(
        "{0} is not in [emergency].safe_recipients; rescued funds may only go to: {1} (add it to the manifest if it really is safe)"
    )]
    RecipientNotAllowed(Address, String),
    /// The contract must be paused first.
    #[error(
        "{0} is not paused, and emergencyWithdraw works only while paused: run `guardian pause {0}` first"
    )]
    NotPaused(String),
    /// A contract's chain is unreachable (a strict withdrawal refuses before sending anything).
    #[error("chain `{chain}` of {contract} is unreachable: {reason}")]
    ChainUnreachable {
        /// The contract.
        contract: String,
        /// Its chain.
        chain: String,
        /// Why (URLs redacted).
        reason: String,
    },
    /// More was asked for than the contract holds.
    #[error("{contract} holds {holds}, less than the {requested} requested")]
    MoreThanHeld {
        /// The contract.
        contract: String,
        /// What it holds, with its unit.
        holds: String,
        /// What was asked for, with its unit.
        requested: String,
    },
    /// The contract holds none of the asset.
    #[error("{contract} holds no {what}: nothing to withdraw")]
    NothingToWithdraw {
        /// The contract.
        contract: String,
        /// The asset (`native coin`, `token 0x…`).
        what: String,
    },
    /// An escrow to be unpaused holds less than its open payments are owed; nothing was sent.
    #[error(
        "refusing to unpause, nothing was sent: {}; then unpause again (or pass --allow-insolvent --reason TEXT to resume anyway)",
        .0.join("; ")
    )]
    Insolvent(Vec<String>),
    /// A replenish cannot be carried out as asked (the payer lacks the funds, an amount is not
    /// one); nothing was sent.
    #[error("refusing to replenish, nothing was sent: {0}")]
    Replenish(String),
    /// An override was asked for without saying why.
    #[error("{0} needs --reason TEXT: the reason is recorded with the action")]
    ReasonRequired(&'static str),
    /// The contract's chain cannot be reached now; nothing was sent.
    #[error("{contract} is on chain `{chain}`, which is unreachable ({reason}); nothing was sent")]
    Unreachable {
        /// Contract name.
        contract: String,
        /// Chain name.
        chain: String,
        /// Why it is unreachable.
        reason: String,
    },
    /// The new implementation cannot be used; the proxy was not touched.
    #[error("refusing to upgrade {contract}, the proxy was not touched: {reason}")]
    Implementation {
        /// Contract name.
        contract: String,
        /// What is wrong with the implementation.
        reason: String,
    },
    /// A chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The journal failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// A signer could not be loaded.
    #[error(transparent)]
    Signer(#[from] crate::chain::SignerError),
    /// A Safe transaction was refused, or its Safe could not be read.
    #[error(transparent)]
    Safe(Box<crate::safe::SafeError>),
    /// A file could not be written.
    #[error("cannot write {0}")]
    Io(String),
}

impl From<crate::safe::SafeError> for ResponseError {
    fn from(e: crate::safe::SafeError) -> Self {
        Self::Safe(Box::new(e))
    }
}

impl From<crate::safe::SafeTxError> for ResponseError {
    fn from(e: crate::safe::SafeTxError) -> Self {
        Self::Safe(Box::new(e.into()))
    }
}

impl ResponseError {
    /// Whether another run (this process or another) already took the action under the same
    /// journal key.
    pub fn is_already_done(&self) -> bool {
        matches!(
            self,
            Self::Storage(crate::storage::StorageError::AlreadyDone(_))
        )
    }
}

/// Reads `paused()` of every `(client, address)`: one set of batches per chain, all at once.
pub async fn read_paused(targets: &[(&ChainClient, Address)]) -> Vec<Result<bool, ChainError>> {
    let reads: Vec<_> = targets
        .iter()
        .map(|(client, address)| (*client, *address, IPausable::pausedCall {}))
        .collect();
    batch::view_all(&reads).await
}

/// Reads `hasRole(role, account)` for every `(client, contract, account)`, batched per chain.
pub async fn read_roles(
    role: Role,
    checks: &[(&ChainClient, Address, Address)],
) -> Vec<Result<bool, ChainError>> {
    let reads: Vec<_> = checks
        .iter()
        .map(|(client, contract, account)| {
            (
                *client,
                *contract,
                IAccessControl::hasRoleCall {
                    role: role.id(),
                    account: *account,
                },
            )
        })
        .collect();
    batch::view_all(&reads).await
}

/// The manifest's contract `name`, if its kind `can` do the job (`what` says what it lacks).
pub fn find_contract<'a>(
    deployment: &'a Deployment,
    name: &str,
    can: fn(ContractKind) -> bool,
    what: &'static str,
) -> Result<&'a ContractConfig, ResponseError> {
    let manifest = &deployment.manifest;
    let c = manifest
        .contract(name)
        .ok_or_else(|| ResponseError::UnknownContract {
            name: name.to_string(),
            known: manifest
                .contracts
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if !can(c.kind) {
        return Err(ResponseError::Unsupported {
            name: name.to_string(),
            kind: c.kind.to_string(),
            what,
        });
    }
    Ok(c)
}

/// `target (chain): signer/signer`, for a target none of `candidates` can act on.
pub fn lacking(name: &str, chain: &str, candidates: &[&Signer]) -> String {
    let who: Vec<&str> = candidates.iter().map(|s| s.name.as_str()).collect();
    let who = if who.is_empty() {
        "no signer loaded".to_string()
    } else {
        who.join("/")
    };
    format!("{name} ({chain}): {who}")
}

/// The refusal for targets without a role holder, naming signers that could not be loaded.
pub fn missing_role(
    deployment: &Deployment,
    role: &'static str,
    missing: Vec<String>,
) -> ResponseError {
    let unloaded = if deployment.unloaded.is_empty() {
        String::new()
    } else {
        format!(
            " (signers not loaded: {})",
            deployment
                .unloaded
                .iter()
                .map(|(_, e)| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    ResponseError::MissingRole {
        role,
        missing,
        unloaded,
    }
}

/// For each `(client, contract)`, a signer among `candidates` that holds `role` there.
///
/// The manifest's intended holders are asked first, for every target at once; the others only
/// for targets still without a holder. With the manifest right, that is one read per target.
/// A read that fails twice is not taken for "no role": the target gets the first intended
/// candidate, and the transaction's simulation decides (it names a missing role exactly).
pub async fn find_holders<'a>(
    role: Role,
    intended: &[Address],
    candidates: &[&'a Signer],
    targets: &[(&ChainClient, Address)],
) -> Vec<Option<&'a Signer>> {
    let mut ordered: Vec<&'a Signer> = candidates.to_vec();
    ordered.sort_by_key(|s| !intended.contains(&s.address()));
    let mut found: Vec<Option<&'a Signer>> = vec![None; targets.len()];
    let mut unreadable = vec![false; targets.len()];
    let first = ordered.first().copied();
    for signer in ordered {
        let open: Vec<usize> = (0..targets.len()).filter(|i| found[*i].is_none()).collect();
        if open.is_empty() {
            break;
        }
        let checks: Vec<(&ChainClient, Address, Address)> = open
            .iter()
            .map(|i| (targets[*i].0, targets[*i].1, signer.address()))
            .collect();
        let mut results = read_roles(role, &checks).await;
        let failed: Vec<usize> = (0..results.len())
            .filter(|k| results[*k].is_err())
            .collect();
        if !failed.is_empty() {
            let retry: Vec<_> = failed.iter().map(|k| checks[*k]).collect();
            for (k, r) in failed.iter().zip(read_roles(role, &retry).await) {
                results[*k] = r;
            }
        }
        for (i, holds) in open.iter().zip(results) {
            match holds {
                Ok(true) => found[*i] = Some(signer),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(
                        "cannot read {} on {}: {e}; the simulation will decide",
                        role.name(),
                        targets[*i].1
                    );
                    unreadable[*i] = true;
                }
            }
        }
    }
    for (i, f) in found.iter_mut().enumerate() {
        if f.is_none() && unreadable[i] {
            *f = first;
        }
    }
    found
}

/// Among `candidates`, the first that holds `role` on `contract`, given the role reads.
pub fn holder<'a>(candidates: &[&'a Signer], holds: &[bool]) -> Option<&'a Signer> {
    candidates
        .iter()
        .zip(holds)
        .find(|(_, h)| **h)
        .map(|(s, _)| *s)
}

/// A transaction an interrupted earlier run sent, as the chain knows it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Earlier {
    /// Still waiting in a node's pool: wait for it, do not send it again.
    Pending(TxHash),
    /// Mined with success while nobody watched (now recorded): its work is done.
    Mined {
        /// The transaction.
        tx: TxHash,
        /// Its block.
        block: u64,
    },
}

/// The journal's unconfirmed transactions from `sender` on `client` whose label `wanted`
/// accepts, each with what became of it. A transaction gone from the node is marked dropped and
/// one mined but reverted is recorded; neither is returned, since its work is still to do.
pub async fn earlier_runs(
    deployment: &Deployment,
    client: &ChainClient,
    sender: Address,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Earlier)>, ResponseError> {
    let mut out = Vec::new();
    for record in deployment.store.unconfirmed(client.chain_id, sender)? {
        if !wanted(&record.label) {
            continue;
        }
        let hash = record.tx_hash;
        match client.provider().get_transaction_by_hash(hash).await {
            Ok(Some(tx)) if tx.block_number.is_none() => {
                out.push((record.label, Earlier::Pending(hash)));
            }
            Ok(Some(_)) => match client.provider().get_transaction_receipt(hash).await {
                Ok(Some(r)) => {
                    let block = r.block_number.unwrap_or_default();
                    let error = (!r.status()).then_some("reverted");
                    deployment
                        .store
                        .record_receipt(hash, block, r.gas_used, error)?;
                    if r.status() {
                        out.push((record.label, Earlier::Mined { tx: hash, block }));
                    }
                }
                Ok(None) => out.push((record.label, Earlier::Pending(hash))),
                Err(e) => tracing::warn!("cannot read the receipt of {hash}: {e}"),
            },
            Ok(None) => deployment.store.mark(hash, Status::Dropped)?,
            Err(e) => tracing::warn!("cannot look up {hash}: {e}"),
        }
    }
    Ok(out)
}
