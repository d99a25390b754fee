//! UUPS upgrades: paused state, funds, documents, tokens, payments and roles survive a move to the
//! V2 implementations; only the upgrader may upgrade, only to a UUPS implementation; nobody can
//! initialise a proxy twice or initialise an implementation at all. The brake is not upgradeable.

use alloy::{
    primitives::{Address, B256, Bytes, U256, b256},
    providers::{DynProvider, Provider},
};
use bindings::{
    AuditResolver, DocumentRegistry, EmergencyBrake, OwnershipTokenizer, PaymentEscrow,
    testing::{DocumentRegistryV2, OwnershipTokenizerV2, PaymentEscrowV2},
};
use guardian::{config::ContractKind, roles::Role};

use super::{
    FEE, PAUSABLE, audit, base, deposit_native, deposit_token, escrow, ether, is_paused, mint,
    pause, register, registry, token_balance, tokenizer, unauthorized, unpause,
};
use crate::support::{TestNet, events, testnet};
use crate::{send_err, send_ok};

/// `bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1)`.
const IMPLEMENTATION_SLOT: B256 =
    b256!("360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc");

/// The implementation a proxy points at, read from its ERC-1967 slot.
async fn implementation_of(net: &TestNet, proxy: Address) -> Address {
    let word = net
        .reader()
        .get_storage_at(proxy, IMPLEMENTATION_SLOT.into())
        .await
        .expect("storage");
    Address::from_word(word.into())
}

/// The implementation the deployer put behind `kind`'s proxy.
fn deployed_implementation(net: &TestNet, kind: ContractKind) -> Address {
    let deployed = net
        .suite
        .contracts
        .iter()
        .find(|c| c.kind == kind)
        .expect("deployed");
    deployed.implementation.expect("implementation")
}

/// Upgrades `kind`'s proxy to `new_impl` as the upgrader and checks the event and the slot.
async fn upgrade(net: &TestNet, kind: ContractKind, new_impl: Address) {
    let proxy = net.addr(kind);
    let receipt = send_ok!(base(net, kind, &net.upgrader).upgradeToAndCall(new_impl, Bytes::new()));
    let upgraded = events::<DocumentRegistry::Upgraded>(&receipt);
    assert_eq!(upgraded.len(), 1, "{kind:?}: one Upgraded event");
    assert_eq!(upgraded[0].implementation, new_impl);
    assert_eq!(
        implementation_of(net, proxy).await,
        new_impl,
        "{kind:?}: the slot moved"
    );
}

/// Deploys the three V2 implementations: registry, tokenizer, escrow.
async fn v2_implementations(net: &TestNet) -> [Address; 3] {
    let p = net.as_signer_uncached(&net.admin);
    [
        *DocumentRegistryV2::deploy(p.clone())
            .await
            .expect("deploy")
            .address(),
        *OwnershipTokenizerV2::deploy(p.clone())
            .await
            .expect("deploy")
            .address(),
        *PaymentEscrowV2::deploy(p).await.expect("deploy").address(),
    ]
}

#[tokio::test]
async fn state_paused_flags_funds_and_roles_survive_an_upgrade() {
    let net = testnet().await;
    let (alice, bob, carol) = (net.account(6), net.account(7), net.account(8));
    let hooks = net.addr(ContractKind::AuditResolver);
    let (reg_addr, tok_addr, esc_addr) = (
        net.addr(ContractKind::DocumentRegistry),
        net.addr(ContractKind::OwnershipTokenizer),
        net.addr(ContractKind::PaymentEscrow),
    );
    let id = register(&net, &alice, 1, hooks).await;
    let token_id = mint(&net, &alice, &bob, id).await;
    let native = deposit_native(&net, &alice, carol.address(), id, ether(2)).await;
    let erc20 = deposit_token(&net, &alice, carol.address(), id, ether(3)).await;
    // An extra role grant, to see it kept.
    send_ok!(
        base(&net, ContractKind::PaymentEscrow, &net.admin)
            .grantRole(Role::Pauser.id(), carol.address())
    );
    pause(&net, ContractKind::DocumentRegistry).await;
    pause(&net, ContractKind::PaymentEscrow).await;
    let doc_before = registry(&net, &alice)
        .getDocument(id)
        .call()
        .await
        .expect("doc");
    let hooks_before = audit(&net, &alice)
        .hookCount(id)
        .call()
        .await
        .expect("count");

    let [reg_v2, tok_v2, esc_v2] = v2_implementations(&net).await;
    for (kind, new_impl) in [
        (ContractKind::DocumentRegistry, reg_v2),
        (ContractKind::OwnershipTokenizer, tok_v2),
        (ContractKind::PaymentEscrow, esc_v2),
    ] {
        assert_eq!(
            implementation_of(&net, net.addr(kind)).await,
            deployed_implementation(&net, kind)
        );
        upgrade(&net, kind, new_impl).await;
    }

    let reader = net.reader();
    let two = U256::from(2);
    assert_eq!(
        DocumentRegistryV2::new(reg_addr, &reader)
            .version()
            .call()
            .await
            .expect("v"),
        two
    );
    assert_eq!(
        OwnershipTokenizerV2::new(tok_addr, &reader)
            .version()
            .call()
            .await
            .expect("v"),
        two
    );
    assert_eq!(
        PaymentEscrowV2::new(esc_addr, &reader)
            .version()
            .call()
            .await
            .expect("v"),
        two
    );

    // Paused state.
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
    assert!(!is_paused(&net, ContractKind::OwnershipTokenizer).await);
    assert!(is_paused(&net, ContractKind::PaymentEscrow).await);
    // Balances.
    assert_eq!(net.balance(reg_addr).await, U256::from(FEE));
    assert_eq!(net.balance(esc_addr).await, ether(2));
    assert_eq!(token_balance(&net, esc_addr).await, ether(3));
    // Documents and the registration fee.
    let reg = registry(&net, &alice);
    let doc_after = reg.getDocument(id).call().await.expect("doc");
    assert_eq!(
        (
            doc_after.owner,
            doc_after.documentHash,
            doc_after.resolver,
            doc_after.registeredAt
        ),
        (
            doc_before.owner,
            doc_before.documentHash,
            doc_before.resolver,
            doc_before.registeredAt
        )
    );
    assert_eq!(
        reg.registrationFee().call().await.expect("fee"),
        U256::from(FEE)
    );
    // Tokens.
    let tok = tokenizer(&net, &bob);
    assert_eq!(
        tok.ownerOf(token_id).call().await.expect("owner"),
        bob.address()
    );
    assert_eq!(
        tok.tokenOfDocument(id).call().await.expect("token"),
        token_id
    );
    assert_eq!(tok.documentOfToken(token_id).call().await.expect("doc"), id);
    assert_eq!(tok.registry().call().await.expect("registry"), reg_addr);
    // Payments.
    let esc = escrow(&net, &alice);
    for (pid, token, amount) in [
        (native, Address::ZERO, ether(2)),
        (erc20, net.addr(ContractKind::TestToken), ether(3)),
    ] {
        let p = esc.payments(pid).call().await.expect("payment");
        assert_eq!(
            (
                p.integraHash,
                p.payer,
                p.payee,
                p.token,
                p.amount,
                p.settled
            ),
            (id, alice.address(), carol.address(), token, amount, false)
        );
        assert_eq!(
            esc.outstanding(token).call().await.expect("outstanding"),
            amount
        );
    }
    // Roles.
    for kind in [
        ContractKind::DocumentRegistry,
        ContractKind::OwnershipTokenizer,
        ContractKind::PaymentEscrow,
    ] {
        let c = base(&net, kind, &net.outsider);
        let brake = net.addr(ContractKind::EmergencyBrake);
        for (role, who) in [
            (Role::Admin, net.admin.address()),
            (Role::Pauser, net.pauser.address()),
            (Role::Pauser, brake),
            (Role::Upgrader, net.upgrader.address()),
        ] {
            assert!(
                c.hasRole(role.id(), who).call().await.expect("hasRole"),
                "{kind:?} {role:?}"
            );
        }
    }
    assert!(
        base(&net, ContractKind::PaymentEscrow, &net.outsider)
            .hasRole(Role::Pauser.id(), carol.address())
            .call()
            .await
            .expect("hasRole")
    );
    assert!(
        base(&net, ContractKind::PaymentEscrow, &net.outsider)
            .hasRole(Role::Emergency.id(), net.emergency.address())
            .call()
            .await
            .expect("hasRole")
    );

    // The V2 suite keeps working: the rescue while paused, then settlement after unpause.
    send_ok!(escrow(&net, &net.emergency).emergencyWithdraw(
        Address::ZERO,
        net.safe.address(),
        ether(1)
    ));
    unpause(&net, ContractKind::PaymentEscrow).await;
    unpause(&net, ContractKind::DocumentRegistry).await;
    send_ok!(esc.release(erc20));
    assert_eq!(token_balance(&net, carol.address()).await, ether(3));
    send_ok!(tokenizer(&net, &bob).transferFrom(bob.address(), alice.address(), token_id));
    assert_eq!(
        audit(&net, &alice)
            .hookCount(id)
            .call()
            .await
            .expect("count"),
        hooks_before + U256::from(1)
    );
    register(&net, &bob, 2, Address::ZERO).await;
}

#[tokio::test]
async fn only_the_upgrader_upgrades_and_only_to_a_uups_implementation() {
    let net = testnet().await;
    let [reg_v2, ..] = v2_implementations(&net).await;
    let kind = ContractKind::DocumentRegistry;
    let proxy = net.addr(kind);
    let original = deployed_implementation(&net, kind);
    for who in [&net.admin, &net.pauser, &net.outsider] {
        let err = send_err!(base(&net, kind, who).upgradeToAndCall(reg_v2, Bytes::new()));
        assert_eq!(err, unauthorized(who.address(), Role::Upgrader));
    }
    assert_eq!(implementation_of(&net, proxy).await, original);

    // A contract that is not a UUPS implementation would brick the proxy: refused.
    let token = net.addr(ContractKind::TestToken);
    let err = send_err!(base(&net, kind, &net.upgrader).upgradeToAndCall(token, Bytes::new()));
    assert_eq!(
        err,
        format!("ERC1967InvalidImplementation({})", token.to_checksum(None))
    );
    // Upgrading must go through the proxy, never the implementation itself.
    let on_impl = DocumentRegistry::new(original, net.as_signer_uncached(&net.upgrader));
    assert_eq!(
        send_err!(on_impl.upgradeToAndCall(reg_v2, Bytes::new())),
        "UUPSUnauthorizedCallContext()"
    );
    assert_eq!(implementation_of(&net, proxy).await, original);

    upgrade(&net, kind, reg_v2).await;
    // The new implementation keeps the gate.
    let err = send_err!(base(&net, kind, &net.admin).upgradeToAndCall(original, Bytes::new()));
    assert_eq!(err, unauthorized(net.admin.address(), Role::Upgrader));
    upgrade(&net, kind, original).await;
}

/// Tries every contract's `initialize` at `at` (a proxy or an implementation of `kind`) as the
/// outsider, naming the outsider for every role, and returns the decoded revert.
async fn initialize_as_outsider(net: &TestNet, kind: ContractKind, at: Address) -> String {
    let p: DynProvider = net.as_signer_uncached(&net.outsider);
    let me = net.outsider.address();
    let reg = net.addr(ContractKind::DocumentRegistry);
    match kind {
        ContractKind::DocumentRegistry => {
            send_err!(DocumentRegistry::new(at, p).initialize(me, me, me, me, U256::ZERO))
        }
        ContractKind::OwnershipTokenizer => {
            send_err!(OwnershipTokenizer::new(at, p).initialize(me, me, me, reg))
        }
        ContractKind::PaymentEscrow => {
            send_err!(PaymentEscrow::new(at, p).initialize(me, me, me, me, reg))
        }
        ContractKind::AuditResolver => send_err!(AuditResolver::new(at, p).initialize(me, me, me)),
        ContractKind::EmergencyBrake | ContractKind::TestToken => {
            unreachable!("{kind:?} is not upgradeable")
        }
    }
}

#[tokio::test]
async fn initialize_runs_once_on_proxies_and_never_on_implementations() {
    let net = testnet().await;
    for kind in PAUSABLE {
        let err = initialize_as_outsider(&net, kind, net.addr(kind)).await;
        assert_eq!(err, "InvalidInitialization()", "{kind:?} proxy");
        let err = initialize_as_outsider(&net, kind, deployed_implementation(&net, kind)).await;
        assert_eq!(err, "InvalidInitialization()", "{kind:?} implementation");
    }
    let [reg_v2, tok_v2, esc_v2] = v2_implementations(&net).await;
    for (kind, v2) in [
        (ContractKind::DocumentRegistry, reg_v2),
        (ContractKind::OwnershipTokenizer, tok_v2),
        (ContractKind::PaymentEscrow, esc_v2),
    ] {
        let err = initialize_as_outsider(&net, kind, v2).await;
        assert_eq!(err, "InvalidInitialization()", "{kind:?} V2 implementation");
        upgrade(&net, kind, v2).await;
        let err = initialize_as_outsider(&net, kind, net.addr(kind)).await;
        assert_eq!(err, "InvalidInitialization()", "{kind:?} upgraded proxy");
    }
    // The outsider gained nothing.
    for kind in PAUSABLE {
        let c = base(&net, kind, &net.outsider);
        for role in [
            Role::Admin,
            Role::Pauser,
            Role::Upgrader,
            Role::Emergency,
            Role::Guardian,
        ] {
            let held = c
                .hasRole(role.id(), net.outsider.address())
                .call()
                .await
                .expect("hasRole");
            assert!(!held, "{kind:?}: outsider got {role:?}");
        }
    }
}

#[tokio::test]
async fn the_brake_is_a_plain_contract_nobody_can_upgrade() {
    let net = testnet().await;
    let brake = net.addr(ContractKind::EmergencyBrake);
    let deployed = net
        .suite
        .contracts
        .iter()
        .find(|c| c.kind == ContractKind::EmergencyBrake)
        .expect("deployed");
    assert_eq!(deployed.implementation, None, "deployed without a proxy");
    assert_eq!(implementation_of(&net, brake).await, Address::ZERO);

    // Its interface has no upgrade, no initializer, no unpause and no way to call a target freely.
    let abi = EmergencyBrake::abi::contract();
    let mut functions: Vec<&str> = abi.functions.keys().map(String::as_str).collect();
    functions.sort();
    assert_eq!(
        functions,
        [
            "DEFAULT_ADMIN_ROLE",
            "GUARDIAN_ROLE",
            "PAUSED_GAS",
            "PAUSE_GAS",
            "RESERVE_GAS",
            "addTarget",
            "getRoleAdmin",
            "grantRole",
            "hasRole",
            "pauseAll",
            "pauseTargets",
            "removeTarget",
            "renounceRole",
            "revokeRole",
            "supportsInterface",
            "targets",
        ]
    );
    // Called anyway (through another contract's ABI), they revert, for every role holder: the
    // deployed code has no such function and no fallback.
    let v2 = DocumentRegistryV2::deploy(net.as_signer_uncached(&net.admin))
        .await
        .expect("deploy V2");
    for who in [&net.admin, &net.pauser, &net.upgrader] {
        let as_registry = DocumentRegistry::new(brake, net.as_signer_uncached(who));
        let err = send_err!(as_registry.upgradeToAndCall(*v2.address(), Bytes::new()));
        assert!(!err.contains("Unauthorized"), "no such function: {err}");
        send_err!(as_registry.initialize(
            who.address(),
            who.address(),
            who.address(),
            who.address(),
            U256::ZERO
        ));
        send_err!(as_registry.unpause());
    }
    assert_eq!(implementation_of(&net, brake).await, Address::ZERO);
}
