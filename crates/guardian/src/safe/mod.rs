//! Roles held by a Safe multisig (v1.4.1): reading a Safe, deploying one on a dev chain,
//! simulating a Safe transaction as the Safe would run it, and executing it with its owners'
//! confirmations through the one transaction path. Proposals and their confirmations are
//! records (`storage`); what each action proposes is the acting layer's.

pub mod service;
pub mod tx;

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
    sol_types::SolCall,
};
use bindings::safe::{CompatibilityFallbackHandler, MultiSendCallOnly, Safe, SafeProxyFactory};
use serde::Serialize;

use crate::chain::{
    Call, ChainClient, ChainError, Confirmed, Journal, Preflight, Signer, revert, send_all,
};
pub use service::{Service, ServiceConfirmation, ServiceError};
pub use tx::{Confirmation, Hashes, SafeCall, SafeTx, SafeTxError};

/// Storage slot of a Safe's guard (`keccak256("guard_manager.guard.address")`).
const GUARD_SLOT: B256 =
    alloy::primitives::b256!("4a204f620c8c5ccdca3fd54d003badd85ba500436a431f0cbda4f558c93c34c8");
/// Storage slot of a Safe's fallback handler (`keccak256("fallback_manager.handler.address")`).
const FALLBACK_HANDLER_SLOT: B256 =
    alloy::primitives::b256!("6c9a6c4a39284e37ed1cf53d337577d14212a4870fb976a4366c693b939918d5");
/// The first entry of a Safe's module list (`SENTINEL_MODULES`).
const SENTINEL: Address = alloy::primitives::address!("0000000000000000000000000000000000000001");

/// Why a Safe could not be read, simulated or executed.
#[derive(Debug, thiserror::Error)]
pub enum SafeError {
    /// The chain refused or could not be reached.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The transaction breaks guardian's rules.
    #[error(transparent)]
    Refused(#[from] SafeTxError),
    /// Run as the Safe would, the transaction reverts.
    #[error("the Safe transaction would revert: {0}; nothing was sent")]
    WouldRevert(String),
    /// Fewer confirmations than the threshold.
    #[error(
        "{have} of {threshold} confirmations: waiting for {waiting}; nothing was sent (`guardian safe sign`)"
    )]
    BelowThreshold {
        /// Confirmations kept.
        have: usize,
        /// The Safe's threshold.
        threshold: usize,
        /// The owners who have not confirmed.
        waiting: String,
    },
    /// The Safe's nonce moved past the transaction's.
    #[error(
        "nonce {nonce} of the Safe was used already (the Safe is at {current}): this transaction can never execute; propose it again"
    )]
    NonceUsed {
        /// The transaction's nonce.
        nonce: u64,
        /// The Safe's nonce now.
        current: u64,
    },
    /// A confirmation from an address that does not own the Safe.
    #[error("{0} is not an owner of the Safe: its signature is not kept")]
    NotOwner(Address),
    /// A proposal whose fields no longer hash to what was recorded and signed.
    #[error(
        "the proposal's fields hash to {computed}, not to the {recorded} recorded (edited after it was made?): refused"
    )]
    HashMismatch {
        /// The hash recorded when it was proposed.
        recorded: B256,
        /// The hash of the fields as they are now.
        computed: B256,
    },
    /// A recorded proposal that cannot be read back.
    #[error("{0}: refused")]
    Unreadable(String),
    /// A signature that cannot be read.
    #[error(transparent)]
    Signature(#[from] tx::SignatureError),
}

/// A Safe as it is on chain now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SafeInfo {
    /// Its address.
    pub address: Address,
    /// `VERSION()`.
    pub version: String,
    /// Its owners.
    pub owners: Vec<Address>,
    /// Confirmations needed.
    pub threshold: u64,
    /// The next transaction's nonce.
    pub nonce: u64,
    /// Its guard (zero: none).
    pub guard: Address,
    /// Its fallback handler.
    pub fallback_handler: Address,
    /// Its enabled modules.
    pub modules: Vec<Address>,
    /// Its singleton (the implementation its proxy runs).
    pub singleton: Address,
}

/// Reads `safe` on `client`'s chain.
pub async fn read(client: &ChainClient, safe: Address) -> Result<SafeInfo, SafeError> {
    let p = client.provider();
    let s = Safe::new(safe, p);
    let rpc = |e| SafeError::Chain(crate::chain::contract_err(client, e));
    let (version, owners, threshold, nonce, modules) = tokio::try_join!(
        async { s.VERSION().call().await.map_err(rpc) },
        async { s.getOwners().call().await.map_err(rpc) },
        async { s.getThreshold().call().await.map_err(rpc) },
        async { s.nonce().call().await.map_err(rpc) },
        async {
            s.getModulesPaginated(SENTINEL, U256::from(50))
                .call()
                .await
                .map_err(rpc)
        },
    )?;
    let slot = |at: B256| async move {
        p.get_storage_at(safe, at.into())
            .await
            .map(|v| Address::from_word(v.into()))
            .map_err(|e| SafeError::Chain(client.rpc_err(e)))
    };
    let (guard, fallback_handler, singleton) = tokio::try_join!(
        slot(GUARD_SLOT),
        slot(FALLBACK_HANDLER_SLOT),
        slot(B256::ZERO)
    )?;
    Ok(SafeInfo {
        address: safe,
        version,
        owners,
        threshold: threshold.saturating_to(),
        nonce: nonce.saturating_to(),
        guard,
        fallback_handler,
        modules: modules.array,
        singleton,
    })
}

/// The Safe's own `getTransactionHash` for `tx` (what guardian's hash must equal).
pub async fn onchain_hash(
    client: &ChainClient,
    safe: Address,
    tx: &SafeTx,
) -> Result<B256, SafeError> {
    Safe::new(safe, client.provider())
        .getTransactionHash(
            tx.to,
            tx.value,
            tx.data.clone(),
            tx.operation,
            tx.safeTxGas,
            tx.baseGas,
            tx.gasPrice,
            tx.gasToken,
            tx.refundReceiver,
            tx.nonce,
        )
        .call()
        .await
        .map_err(|e| SafeError::Chain(crate::chain::contract_err(client, e)))
}

/// Runs `calls` as the Safe would (from the Safe, each after the one before), through the
/// Safe's `simulateAndRevert` and the pinned batch library: which call reverts, and why, if one
/// does.
pub async fn simulate(
    client: &ChainClient,
    safe: Address,
    multisend: Address,
    calls: &[SafeCall],
) -> Result<(), SafeError> {
    let Err(whole) = run_as_safe(client, safe, multisend, calls).await else {
        return Ok(());
    };
    let SafeError::WouldRevert(_) = whole else {
        return Err(whole);
    };
    // The batch library reverts without the call's reason: find the first call that fails after
    // those before it, and ask it alone, from the Safe.
    for i in 0..calls.len() {
        if run_as_safe(client, safe, multisend, &calls[..=i])
            .await
            .is_ok()
        {
            continue;
        }
        let c = &calls[i];
        let request = alloy::rpc::types::TransactionRequest::default()
            .from(safe)
            .to(c.to)
            .value(c.value)
            .input(c.data.clone().into());
        let why = match client.provider().call(request).await {
            Ok(_) => "it reverts after the calls before it (no reason given)".to_string(),
            Err(e) => match e.as_error_resp().and_then(|r| r.as_revert_data()) {
                Some(d) => revert::decode(&d),
                None => e.to_string(),
            },
        };
        return Err(SafeError::WouldRevert(format!(
            "call {} of {} ({}): {why}",
            i + 1,
            calls.len(),
            c.label
        )));
    }
    Err(SafeError::WouldRevert("the batch reverts".into()))
}

/// One run of `calls` through `simulateAndRevert`.
async fn run_as_safe(
    client: &ChainClient,
    safe: Address,
    multisend: Address,
    calls: &[SafeCall],
) -> Result<(), SafeError> {
    let payload = MultiSendCallOnly::multiSendCall {
        transactions: tx::pack_multisend(calls),
    }
    .abi_encode();
    let request = alloy::rpc::types::TransactionRequest::default()
        .to(safe)
        .input(
            Bytes::from(
                Safe::simulateAndRevertCall {
                    targetContract: multisend,
                    calldataPayload: payload.into(),
                }
                .abi_encode(),
            )
            .into(),
        );
    let data = match client.provider().call(request).await {
        // simulateAndRevert always reverts; a node that answers otherwise ran something else.
        Ok(out) => out.to_vec(),
        Err(e) => match e.as_error_resp().and_then(|r| r.as_revert_data()) {
            Some(d) => d.to_vec(),
            None => return Err(SafeError::Chain(client.rpc_err(e))),
        },
    };
    // success (32 bytes) ‖ length (32) ‖ return or revert data.
    if data.len() < 64 {
        return Err(SafeError::WouldRevert(format!(
            "the simulation answered 0x{}",
            alloy::hex::encode(&data)
        )));
    }
    if data[31] == 1 {
        return Ok(());
    }
    let len = U256::from_be_slice(&data[32..64]).saturating_to::<usize>();
    let inner = data.get(64..64 + len).unwrap_or(&data[64..]);
    Err(SafeError::WouldRevert(revert::decode(inner)))
}

/// Whether `owner` approved `hash` on chain (`approveHash`).
pub async fn approved(
    client: &ChainClient,
    safe: Address,
    owner: Address,
    hash: B256,
) -> Result<bool, SafeError> {
    let n = Safe::new(safe, client.provider())
        .approvedHashes(owner, hash)
        .call()
        .await
        .map_err(|e| SafeError::Chain(crate::chain::contract_err(client, e)))?;
    Ok(!n.is_zero())
}

/// Executes `tx` on `safe` with `confirmations` (owner, how), paid by `payer` (any account),
/// after checking guardian's rules, the nonce, the owners and the threshold: nothing is sent
/// otherwise.
pub async fn execute(
    client: &ChainClient,
    payer: &Signer,
    safe: Address,
    multisend: Address,
    tx: &SafeTx,
    confirmations: &[(Address, Confirmation)],
    journal: Option<Journal<'_>>,
) -> Result<Confirmed, SafeError> {
    tx.check(multisend)?;
    let info = read(client, safe).await?;
    let nonce: u64 = tx.nonce.saturating_to();
    if nonce < info.nonce {
        return Err(SafeError::NonceUsed {
            nonce,
            current: info.nonce,
        });
    }
    if let Some((stranger, _)) = confirmations.iter().find(|(o, _)| !info.owners.contains(o)) {
        return Err(SafeError::NotOwner(*stranger));
    }
    if (confirmations.len() as u64) < info.threshold {
        let waiting: Vec<String> = info
            .owners
            .iter()
            .filter(|o| !confirmations.iter().any(|(c, _)| c == *o))
            .map(|o| o.to_string())
            .collect();
        return Err(SafeError::BelowThreshold {
            have: confirmations.len(),
            threshold: info.threshold as usize,
            waiting: waiting.join(", "),
        });
    }
    let call = Call::new(
        format!("execute Safe transaction {nonce} on {safe}"),
        safe,
        tx::exec_call(tx, confirmations),
    );
    let mut sent = send_all(client, payer, vec![call], journal, Preflight::AllOrNothing).await?;
    Ok(sent.remove(0)?)
}

/// The contracts of a Safe deployed on a dev chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deployed {
    /// The Safe (a proxy of the singleton).
    pub safe: Address,
    /// The singleton.
    pub singleton: Address,
    /// The proxy factory.
    pub factory: Address,
    /// The batch library every proposal of several calls goes through.
    pub multisend: Address,
    /// The fallback handler.
    pub fallback_handler: Address,
}

/// Deploys Safe v1.4.1 (singleton, proxy factory, `MultiSendCallOnly`, fallback handler) with
/// `deployer`, and a Safe of `owners` needing `threshold` of them.
pub async fn deploy(
    client: &ChainClient,
    deployer: &Signer,
    owners: &[Address],
    threshold: u64,
) -> Result<Deployed, SafeError> {
    let code = |label: &str, bytecode: &Bytes| Call {
        label: label.to_string(),
        to: None,
        input: bytecode.clone(),
        value: U256::ZERO,
        urgent: false,
        outbid: None,
        in_flight: None,
    };
    let sent = send_all(
        client,
        deployer,
        vec![
            code("deploy Safe singleton", &Safe::BYTECODE),
            code("deploy SafeProxyFactory", &SafeProxyFactory::BYTECODE),
            code("deploy MultiSendCallOnly", &MultiSendCallOnly::BYTECODE),
            code(
                "deploy CompatibilityFallbackHandler",
                &CompatibilityFallbackHandler::BYTECODE,
            ),
        ],
        None,
        Preflight::AllOrNothing,
    )
    .await?;
    let mut at = Vec::new();
    for s in sent {
        at.push(s?.contract_address.unwrap_or_default());
    }
    let (singleton, factory, multisend, fallback_handler) = (at[0], at[1], at[2], at[3]);
    let setup = Safe::setupCall {
        _owners: owners.to_vec(),
        _threshold: U256::from(threshold),
        to: Address::ZERO,
        data: Bytes::new(),
        fallbackHandler: fallback_handler,
        paymentToken: Address::ZERO,
        payment: U256::ZERO,
        paymentReceiver: Address::ZERO,
    }
    .abi_encode();
    let f = SafeProxyFactory::new(factory, client.provider());
    let salt = U256::ZERO;
    let safe = f
        .createProxyWithNonce(singleton, setup.clone().into(), salt)
        .call()
        .await
        .map_err(|e| SafeError::Chain(crate::chain::contract_err(client, e)))?;
    let create = Call::new(
        "create the Safe",
        factory,
        SafeProxyFactory::createProxyWithNonceCall {
            _singleton: singleton,
            initializer: setup.into(),
            saltNonce: salt,
        },
    );
    send_all(
        client,
        deployer,
        vec![create],
        None,
        Preflight::AllOrNothing,
    )
    .await?
    .remove(0)?;
    Ok(Deployed {
        safe,
        singleton,
        factory,
        multisend,
        fallback_handler,
    })
}
