//! Contract behaviour against anvil: the pause matrix, roles, the brake, rescues and their return,
//! hooks, upgrades.
//!
//! This module holds the small pieces every contract test needs: typed handles on the suite's
//! contracts as a given signer, and the common setup steps (register a document, mint its token,
//! escrow a payment).

mod access;
mod brake;
mod hooks;
mod pause_matrix;
mod properties;
mod reentrancy;
mod replenish;
mod upgrade;
mod withdraw;

use alloy::{
    primitives::{Address, B256, U256, hex},
    providers::DynProvider,
};
use bindings::{
    AuditResolver::AuditResolverInstance, DocumentRegistry::DocumentRegistryInstance,
    EmergencyBrake::EmergencyBrakeInstance, OwnershipTokenizer::OwnershipTokenizerInstance,
    PaymentEscrow::PaymentEscrowInstance, TestToken::TestTokenInstance,
};
use guardian::{chain::Signer, config::ContractKind, roles::Role};

use crate::support::{TestNet, doc};
use crate::{send_err, send_ok};

/// The registration fee every devnet suite is deployed with (1e15 wei).
pub const FEE: u64 = 1_000_000_000_000_000;

/// `n` whole units of 18 decimals: ether, or test tokens.
pub fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// The registry, signing as `who`.
pub fn registry(net: &TestNet, who: &Signer) -> DocumentRegistryInstance<DynProvider> {
    DocumentRegistryInstance::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer_uncached(who),
    )
}

/// The tokenizer, signing as `who`.
pub fn tokenizer(net: &TestNet, who: &Signer) -> OwnershipTokenizerInstance<DynProvider> {
    OwnershipTokenizerInstance::new(
        net.addr(ContractKind::OwnershipTokenizer),
        net.as_signer_uncached(who),
    )
}

/// The escrow, signing as `who`.
pub fn escrow(net: &TestNet, who: &Signer) -> PaymentEscrowInstance<DynProvider> {
    PaymentEscrowInstance::new(
        net.addr(ContractKind::PaymentEscrow),
        net.as_signer_uncached(who),
    )
}

/// The audit resolver, signing as `who`.
pub fn audit(net: &TestNet, who: &Signer) -> AuditResolverInstance<DynProvider> {
    AuditResolverInstance::new(
        net.addr(ContractKind::AuditResolver),
        net.as_signer_uncached(who),
    )
}

/// The emergency brake, signing as `who`.
pub fn brake(net: &TestNet, who: &Signer) -> EmergencyBrakeInstance<DynProvider> {
    EmergencyBrakeInstance::new(
        net.addr(ContractKind::EmergencyBrake),
        net.as_signer_uncached(who),
    )
}

/// The suite's test ERC-20, signing as `who`.
pub fn token(net: &TestNet, who: &Signer) -> TestTokenInstance<DynProvider> {
    TestTokenInstance::new(
        net.addr(ContractKind::TestToken),
        net.as_signer_uncached(who),
    )
}

/// The decoded revert of a call by `who` lacking `role`, exactly as `send_err!` renders it.
pub fn unauthorized(who: Address, role: Role) -> String {
    format!(
        "AccessControlUnauthorizedAccount({}, 0x{})",
        who.to_checksum(None),
        hex::encode(role.id())
    )
}

/// Registers `doc(n)` as `owner`, paying the fee, with `resolver` (zero: none). Returns its id.
pub async fn register(net: &TestNet, owner: &Signer, n: u64, resolver: Address) -> B256 {
    let id = doc(n);
    send_ok!(
        registry(net, owner)
            .registerDocument(id, content(n), resolver)
            .value(U256::from(FEE))
    );
    id
}

/// The content hash used for `doc(n)`.
pub fn content(n: u64) -> B256 {
    alloy::primitives::keccak256(format!("content {n}"))
}

/// Has `owner` reserve the token of `id` for `holder`, and `holder` claim it. Returns the token id.
pub async fn mint(net: &TestNet, owner: &Signer, holder: &Signer, id: B256) -> U256 {
    send_ok!(tokenizer(net, owner).reserveToken(id, holder.address()));
    send_ok!(tokenizer(net, holder).claimToken(id));
    tokenizer(net, holder)
        .tokenOfDocument(id)
        .call()
        .await
        .expect("tokenOfDocument")
}

/// Escrows `amount` of the native coin from `payer` for `payee` on `id`. Returns the payment id.
pub async fn deposit_native(
    net: &TestNet,
    payer: &Signer,
    payee: Address,
    id: B256,
    amount: U256,
) -> U256 {
    let receipt = send_ok!(
        escrow(net, payer)
            .deposit(id, Address::ZERO, amount, payee)
            .value(amount)
    );
    payment_id(&receipt)
}

/// Mints `amount` test tokens to `payer`, approves the escrow and escrows them for `payee`.
pub async fn deposit_token(
    net: &TestNet,
    payer: &Signer,
    payee: Address,
    id: B256,
    amount: U256,
) -> U256 {
    let t = token(net, payer);
    send_ok!(t.mint(payer.address(), amount));
    send_ok!(t.approve(net.addr(ContractKind::PaymentEscrow), amount));
    let receipt = send_ok!(escrow(net, payer).deposit(id, *t.address(), amount, payee));
    payment_id(&receipt)
}

/// The id of the payment a deposit receipt created.
pub fn payment_id(receipt: &alloy::rpc::types::TransactionReceipt) -> U256 {
    let deposited = crate::support::events::<bindings::PaymentEscrow::PaymentDeposited>(receipt);
    assert_eq!(deposited.len(), 1, "one PaymentDeposited per deposit");
    deposited[0].paymentId
}

/// The test-token balance of `who`.
pub async fn token_balance(net: &TestNet, who: Address) -> U256 {
    token(net, &net.outsider)
        .balanceOf(who)
        .call()
        .await
        .expect("balanceOf")
}

/// Pauses a pausable suite contract as the pauser, checking the `Paused` event.
pub async fn pause(net: &TestNet, kind: ContractKind) {
    let receipt = send_ok!(registry_like(net, kind).pause());
    let paused = crate::support::events::<bindings::DocumentRegistry::Paused>(&receipt);
    assert_eq!(paused.len(), 1, "{kind:?}: one Paused event");
    assert_eq!(paused[0].account, net.pauser.address());
    assert!(is_paused(net, kind).await);
}

/// Unpauses a pausable suite contract as the pauser, checking the `Unpaused` event.
pub async fn unpause(net: &TestNet, kind: ContractKind) {
    let receipt = send_ok!(registry_like(net, kind).unpause());
    let unpaused = crate::support::events::<bindings::DocumentRegistry::Unpaused>(&receipt);
    assert_eq!(unpaused.len(), 1, "{kind:?}: one Unpaused event");
    assert_eq!(unpaused[0].account, net.pauser.address());
    assert!(!is_paused(net, kind).await);
}

/// Whether a pausable suite contract is paused.
pub async fn is_paused(net: &TestNet, kind: ContractKind) -> bool {
    registry_like(net, kind)
        .paused()
        .call()
        .await
        .expect("paused")
}

/// Pausing a contract that is paused, or unpausing one that is not, reverts with OpenZeppelin's error.
pub async fn assert_pause_toggles_refused(net: &TestNet, kind: ContractKind) {
    let c = registry_like(net, kind);
    if is_paused(net, kind).await {
        assert_eq!(send_err!(c.pause()), "EnforcedPause()", "{kind:?}");
    } else {
        assert_eq!(send_err!(c.unpause()), "ExpectedPause()", "{kind:?}");
    }
}

/// The four pausable contracts.
pub const PAUSABLE: [ContractKind; 4] = [
    ContractKind::DocumentRegistry,
    ContractKind::OwnershipTokenizer,
    ContractKind::PaymentEscrow,
    ContractKind::AuditResolver,
];

/// Any upgradeable suite contract through the registry's ABI, signing as `who`: `pause`, `unpause`,
/// `paused`, the `AccessControl` functions and `upgradeToAndCall` have the same selectors on all of
/// them (the brake has no `pause`).
pub fn base(
    net: &TestNet,
    kind: ContractKind,
    who: &Signer,
) -> DocumentRegistryInstance<DynProvider> {
    DocumentRegistryInstance::new(net.addr(kind), net.as_signer_uncached(who))
}

fn registry_like(net: &TestNet, kind: ContractKind) -> DocumentRegistryInstance<DynProvider> {
    base(net, kind, &net.pauser)
}
