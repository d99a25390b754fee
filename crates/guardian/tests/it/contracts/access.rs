//! Every role-gated function refuses a caller without the role with
//! `AccessControlUnauthorizedAccount(caller, role)`, naming the exact role; and the per-document and
//! per-payment permissions (owner, reserved recipient, payer, payee) hold.

use alloy::primitives::{Address, B256, Bytes, U256};
use guardian::{config::ContractKind, roles::Role};

use super::{
    FEE, PAUSABLE, audit, base, brake, content, deposit_native, escrow, ether, is_paused, pause,
    register, registry, tokenizer, unauthorized,
};
use crate::support::{doc, testnet};
use crate::{send_err, send_ok};

/// Every upgradeable contract of the suite (the brake is a plain contract).
const UPGRADEABLE: [ContractKind; 4] = [
    ContractKind::DocumentRegistry,
    ContractKind::OwnershipTokenizer,
    ContractKind::PaymentEscrow,
    ContractKind::AuditResolver,
];

/// Every contract with roles.
const WITH_ROLES: [ContractKind; 5] = [
    ContractKind::DocumentRegistry,
    ContractKind::OwnershipTokenizer,
    ContractKind::PaymentEscrow,
    ContractKind::AuditResolver,
    ContractKind::EmergencyBrake,
];

#[tokio::test]
async fn pause_and_unpause_need_the_pauser_role_on_every_contract() {
    let net = testnet().await;
    // The outsider has no role; the emergency and upgrader accounts hold other roles.
    for who in [&net.outsider, &net.emergency, &net.upgrader, &net.admin] {
        for kind in PAUSABLE {
            let err = send_err!(base(&net, kind, who).pause());
            assert_eq!(
                err,
                unauthorized(who.address(), Role::Pauser),
                "{kind:?} pause"
            );
            assert!(!is_paused(&net, kind).await);
        }
    }
    for kind in PAUSABLE {
        pause(&net, kind).await;
        for who in [&net.outsider, &net.emergency, &net.admin] {
            let err = send_err!(base(&net, kind, who).unpause());
            assert_eq!(
                err,
                unauthorized(who.address(), Role::Pauser),
                "{kind:?} unpause"
            );
        }
        assert!(is_paused(&net, kind).await);
    }
}

#[tokio::test]
async fn emergency_withdraw_needs_the_emergency_role() {
    let net = testnet().await;
    let alice = net.account(6);
    let a = register(&net, &alice, 1, Address::ZERO).await;
    deposit_native(&net, &alice, alice.address(), a, ether(1)).await;
    pause(&net, ContractKind::DocumentRegistry).await;
    pause(&net, ContractKind::PaymentEscrow).await;
    let amount = U256::from(FEE);
    for kind in [ContractKind::DocumentRegistry, ContractKind::PaymentEscrow] {
        let before = net.balance(net.addr(kind)).await;
        for who in [&net.outsider, &net.pauser, &net.admin, &net.upgrader] {
            // Sending to themselves would be the point of an attack.
            let err = send_err!(base(&net, kind, who).emergencyWithdraw(
                Address::ZERO,
                who.address(),
                amount
            ));
            assert_eq!(
                err,
                unauthorized(who.address(), Role::Emergency),
                "{kind:?}"
            );
        }
        assert_eq!(
            net.balance(net.addr(kind)).await,
            before,
            "{kind:?} kept its funds"
        );
    }
}

#[tokio::test]
async fn registration_fee_is_set_by_the_admin_only() {
    let net = testnet().await;
    let reg = registry(&net, &net.admin);
    assert_eq!(
        reg.registrationFee().call().await.expect("fee"),
        U256::from(FEE)
    );
    for who in [&net.outsider, &net.pauser, &net.emergency, &net.upgrader] {
        let err = send_err!(registry(&net, who).setRegistrationFee(U256::ZERO));
        assert_eq!(err, unauthorized(who.address(), Role::Admin));
    }
    assert_eq!(
        reg.registrationFee().call().await.expect("fee"),
        U256::from(FEE)
    );

    let new_fee = U256::from(FEE * 3);
    let receipt = send_ok!(reg.setRegistrationFee(new_fee));
    let set = crate::support::events::<bindings::DocumentRegistry::RegistrationFeeSet>(&receipt);
    assert_eq!(set.len(), 1);
    assert_eq!((set[0].oldFee, set[0].newFee), (U256::from(FEE), new_fee));
    // The old fee is now wrong.
    let alice = net.account(6);
    let err = send_err!(
        registry(&net, &alice)
            .registerDocument(doc(1), content(1), Address::ZERO)
            .value(U256::from(FEE))
    );
    assert_eq!(err, format!("IncorrectFee({new_fee}, {FEE})"));
}

#[tokio::test]
async fn roles_are_granted_and_revoked_by_the_admin_only() {
    let net = testnet().await;
    let attacker = net.outsider.address();
    for kind in WITH_ROLES {
        for who in [&net.outsider, &net.pauser, &net.upgrader] {
            let c = base(&net, kind, who);
            for role in [Role::Pauser, Role::Emergency, Role::Upgrader, Role::Admin] {
                let err = send_err!(c.grantRole(role.id(), attacker));
                assert_eq!(
                    err,
                    unauthorized(who.address(), Role::Admin),
                    "{kind:?} grant"
                );
                assert!(
                    !c.hasRole(role.id(), attacker)
                        .call()
                        .await
                        .expect("hasRole")
                );
            }
            let err = send_err!(c.revokeRole(Role::Pauser.id(), net.pauser.address()));
            assert_eq!(
                err,
                unauthorized(who.address(), Role::Admin),
                "{kind:?} revoke"
            );
        }
    }
    // The admin can, and the events say so.
    let reg = base(&net, ContractKind::DocumentRegistry, &net.admin);
    let receipt = send_ok!(reg.grantRole(Role::Pauser.id(), attacker));
    let granted = crate::support::events::<bindings::DocumentRegistry::RoleGranted>(&receipt);
    assert_eq!(granted.len(), 1);
    assert_eq!(
        (granted[0].role, granted[0].account, granted[0].sender),
        (Role::Pauser.id(), attacker, net.admin.address())
    );
    let receipt = send_ok!(reg.revokeRole(Role::Pauser.id(), attacker));
    let revoked = crate::support::events::<bindings::DocumentRegistry::RoleRevoked>(&receipt);
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].account, attacker);
    assert!(
        !reg.hasRole(Role::Pauser.id(), attacker)
            .call()
            .await
            .expect("hasRole")
    );
}

#[tokio::test]
async fn upgrades_need_the_upgrader_role_on_every_contract() {
    let net = testnet().await;
    for kind in UPGRADEABLE {
        let deployed = net
            .suite
            .contracts
            .iter()
            .find(|c| c.kind == kind)
            .expect("deployed");
        // Even a valid implementation (the current one) is refused.
        let implementation = deployed.implementation.expect("implementation");
        for who in [&net.outsider, &net.admin, &net.pauser, &net.emergency] {
            let err =
                send_err!(base(&net, kind, who).upgradeToAndCall(implementation, Bytes::new()));
            assert_eq!(err, unauthorized(who.address(), Role::Upgrader), "{kind:?}");
        }
    }
}

#[tokio::test]
async fn brake_targets_are_managed_by_the_admin_and_pulled_by_the_guardian_only() {
    let net = testnet().await;
    let registry_addr = net.addr(ContractKind::DocumentRegistry);
    for who in [&net.outsider, &net.pauser, &net.upgrader] {
        let b = brake(&net, who);
        let err = send_err!(b.addTarget(Address::repeat_byte(0x42)));
        assert_eq!(err, unauthorized(who.address(), Role::Admin));
        let err = send_err!(b.removeTarget(registry_addr));
        assert_eq!(err, unauthorized(who.address(), Role::Admin));
    }
    assert_eq!(
        brake(&net, &net.outsider)
            .targets()
            .call()
            .await
            .expect("targets")
            .len(),
        4
    );
    // The admin manages targets but may not pull the brake.
    let registered = PAUSABLE.map(|k| net.addr(k)).to_vec();
    for who in [&net.outsider, &net.admin, &net.emergency, &net.upgrader] {
        let err = send_err!(brake(&net, who).pauseAll());
        assert_eq!(err, unauthorized(who.address(), Role::Guardian));
        let err = send_err!(brake(&net, who).pauseTargets(registered.clone()));
        assert_eq!(err, unauthorized(who.address(), Role::Guardian));
    }
    for kind in PAUSABLE {
        assert!(!is_paused(&net, kind).await, "{kind:?}");
    }
}

#[tokio::test]
async fn a_key_holding_only_the_guardian_role_can_pause_and_nothing_else() {
    let net = testnet().await;
    // The key an always-on monitor holds: GUARDIAN_ROLE on the brake, nothing anywhere else.
    let monitor = net.account(9);
    let m = monitor.address();
    send_ok!(brake(&net, &net.admin).grantRole(Role::Guardian.id(), m));
    let alice = net.account(6);
    let a = register(&net, &alice, 1, Address::ZERO).await;
    deposit_native(&net, &alice, alice.address(), a, ether(1)).await;

    send_ok!(brake(&net, &monitor).pauseAll());
    for kind in PAUSABLE {
        assert!(is_paused(&net, kind).await, "{kind:?}");
    }
    let escrow_before = net.balance(net.addr(ContractKind::PaymentEscrow)).await;
    let implementation = net
        .suite
        .contracts
        .iter()
        .find(|c| c.kind == ContractKind::DocumentRegistry)
        .and_then(|c| c.implementation)
        .expect("implementation");
    for kind in PAUSABLE {
        let c = base(&net, kind, &monitor);
        assert_eq!(
            send_err!(c.unpause()),
            unauthorized(m, Role::Pauser),
            "{kind:?}"
        );
        let err = send_err!(c.upgradeToAndCall(implementation, Bytes::new()));
        assert_eq!(err, unauthorized(m, Role::Upgrader), "{kind:?}");
        let err = send_err!(c.grantRole(Role::Pauser.id(), m));
        assert_eq!(err, unauthorized(m, Role::Admin), "{kind:?}");
    }
    for kind in [ContractKind::DocumentRegistry, ContractKind::PaymentEscrow] {
        let err = send_err!(base(&net, kind, &monitor).emergencyWithdraw(
            Address::ZERO,
            m,
            U256::from(1)
        ));
        assert_eq!(err, unauthorized(m, Role::Emergency), "{kind:?}");
    }
    // Nor can it change the brake: its targets and roles belong to the admin.
    let b = brake(&net, &monitor);
    let registry_addr = net.addr(ContractKind::DocumentRegistry);
    assert_eq!(
        send_err!(b.removeTarget(registry_addr)),
        unauthorized(m, Role::Admin)
    );
    assert_eq!(send_err!(b.addTarget(m)), unauthorized(m, Role::Admin));
    assert_eq!(
        send_err!(b.grantRole(Role::Guardian.id(), net.outsider.address())),
        unauthorized(m, Role::Admin)
    );
    for kind in PAUSABLE {
        assert!(is_paused(&net, kind).await, "{kind:?} stays paused");
    }
    assert_eq!(
        net.balance(net.addr(ContractKind::PaymentEscrow)).await,
        escrow_before
    );

    // Revoked, it can no longer pull the brake.
    send_ok!(brake(&net, &net.admin).revokeRole(Role::Guardian.id(), m));
    assert_eq!(
        send_err!(brake(&net, &monitor).pauseAll()),
        unauthorized(m, Role::Guardian)
    );
}

#[tokio::test]
async fn audit_resolver_hooks_accept_only_hook_sources() {
    let net = testnet().await;
    let alice = net.account(6);
    let a = register(&net, &alice, 1, net.addr(ContractKind::AuditResolver)).await;
    for who in [&net.outsider, &net.admin, &alice] {
        let r = audit(&net, who);
        let err = send_err!(r.onDocumentRegistered(a, who.address(), B256::ZERO));
        assert_eq!(err, unauthorized(who.address(), Role::HookSource));
        let err = send_err!(r.onDocumentTransferred(a, alice.address(), who.address()));
        assert_eq!(err, unauthorized(who.address(), Role::HookSource));
        let err = send_err!(r.onTokenTransferred(a, Address::ZERO, who.address(), U256::from(1)));
        assert_eq!(err, unauthorized(who.address(), Role::HookSource));
    }
    // Only the registration hook was counted.
    assert_eq!(
        audit(&net, &alice)
            .hookCount(a)
            .call()
            .await
            .expect("count"),
        U256::from(1)
    );
}

#[tokio::test]
async fn documents_tokens_and_payments_answer_only_to_their_parties() {
    let net = testnet().await;
    let (alice, bob, mallory) = (net.account(6), net.account(7), net.account(8));
    let m = mallory.address();
    let a = register(&net, &alice, 1, Address::ZERO).await;

    let reg = registry(&net, &mallory);
    assert_eq!(
        send_err!(reg.transferDocumentOwnership(a, m)),
        format!("NotDocumentOwner({a}, {})", m.to_checksum(None))
    );
    assert_eq!(
        send_err!(reg.setResolver(a, m)),
        format!("NotDocumentOwner({a}, {})", m.to_checksum(None))
    );
    assert_eq!(
        send_err!(reg.transferDocumentOwnership(doc(9), m)),
        format!("DocumentNotRegistered({})", doc(9))
    );
    let err = send_err!(
        reg.registerDocument(a, content(1), Address::ZERO)
            .value(U256::from(FEE))
    );
    assert_eq!(err, format!("DocumentAlreadyRegistered({a})"));

    let tok = tokenizer(&net, &mallory);
    assert_eq!(
        send_err!(tok.reserveToken(a, m)),
        format!("NotDocumentOwner({a}, {})", m.to_checksum(None))
    );
    send_ok!(tokenizer(&net, &alice).reserveToken(a, bob.address()));
    assert_eq!(
        send_err!(tok.claimToken(a)),
        format!("NotReservedRecipient({a}, {})", m.to_checksum(None))
    );
    let err = send_err!(tokenizer(&net, &alice).reserveToken(a, m));
    assert_eq!(err, format!("TokenAlreadyReserved({a})"));

    let id = deposit_native(&net, &alice, bob.address(), a, ether(1)).await;
    let esc = escrow(&net, &mallory);
    assert_eq!(
        send_err!(esc.release(id)),
        format!("NotPayer({id}, {})", m.to_checksum(None))
    );
    assert_eq!(
        send_err!(esc.refund(id)),
        format!("NotPayee({id}, {})", m.to_checksum(None))
    );
    // The payer cannot refund to themselves and the payee cannot release to themselves.
    let err = send_err!(escrow(&net, &alice).refund(id));
    assert_eq!(
        err,
        format!("NotPayee({id}, {})", alice.address().to_checksum(None))
    );
    let err = send_err!(escrow(&net, &bob).release(id));
    assert_eq!(
        err,
        format!("NotPayer({id}, {})", bob.address().to_checksum(None))
    );
    assert_eq!(
        reg.getDocument(a).call().await.expect("doc").owner,
        alice.address()
    );
    assert_eq!(
        net.balance(net.addr(ContractKind::PaymentEscrow)).await,
        ether(1)
    );
}
