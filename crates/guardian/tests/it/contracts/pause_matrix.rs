//! The pause matrix of SYSTEM.md, row by row, in both states: what stops with `EnforcedPause()`,
//! what keeps working (transfers and their resolver hooks), and that everything resumes on unpause.

use alloy::primitives::{Address, Bytes, U256};
use guardian::config::ContractKind;

use super::{
    FEE, PAUSABLE, assert_pause_toggles_refused, audit, content, deposit_native, deposit_token,
    escrow, ether, is_paused, mint, pause, register, registry, token, token_balance, tokenizer,
    unpause,
};
use crate::support::{doc, testnet};
use crate::{send_err, send_ok};

#[tokio::test]
async fn pause_and_unpause_refuse_the_state_they_are_already_in_on_every_contract() {
    let net = testnet().await;
    for kind in PAUSABLE {
        assert!(!is_paused(&net, kind).await, "{kind:?} starts unpaused");
        assert_pause_toggles_refused(&net, kind).await;
        pause(&net, kind).await;
        assert_pause_toggles_refused(&net, kind).await;
        unpause(&net, kind).await;
        assert_pause_toggles_refused(&net, kind).await;
    }
}

#[tokio::test]
async fn registry_stops_registration_and_resolver_changes_but_not_ownership_transfers() {
    let net = testnet().await;
    let (alice, bob) = (net.account(6), net.account(7));
    let hooks = net.addr(ContractKind::AuditResolver);
    let audit = audit(&net, &net.outsider);

    // Not paused: everything works.
    let a = register(&net, &alice, 1, hooks).await;
    send_ok!(registry(&net, &alice).setResolver(a, hooks));
    assert_eq!(
        audit.hookCount(a).call().await.expect("count"),
        U256::from(1)
    );

    pause(&net, ContractKind::DocumentRegistry).await;
    pause(&net, ContractKind::AuditResolver).await;
    let reg = registry(&net, &alice);
    let err = send_err!(
        reg.registerDocument(doc(2), content(2), hooks)
            .value(U256::from(FEE))
    );
    assert_eq!(err, "EnforcedPause()");
    assert_eq!(
        send_err!(reg.setResolver(a, Address::ZERO)),
        "EnforcedPause()"
    );
    assert!(
        reg.getDocument(doc(2))
            .call()
            .await
            .expect("doc")
            .owner
            .is_zero()
    );
    assert_eq!(
        reg.getDocument(a).call().await.expect("doc").resolver,
        hooks
    );

    // A transfer still works, and its hook still runs although the resolver is paused too.
    send_ok!(reg.transferDocumentOwnership(a, bob.address()));
    assert_eq!(
        reg.getDocument(a).call().await.expect("doc").owner,
        bob.address()
    );
    assert_eq!(
        audit.hookCount(a).call().await.expect("count"),
        U256::from(2)
    );
    send_ok!(registry(&net, &bob).transferDocumentOwnership(a, alice.address()));
    assert_eq!(
        audit.hookCount(a).call().await.expect("count"),
        U256::from(3)
    );

    // After unpause the blocked operations work again.
    unpause(&net, ContractKind::DocumentRegistry).await;
    register(&net, &bob, 2, Address::ZERO).await;
    send_ok!(reg.setResolver(a, Address::ZERO));
    assert!(
        reg.getDocument(a)
            .call()
            .await
            .expect("doc")
            .resolver
            .is_zero()
    );
    assert_eq!(
        reg.getDocument(doc(2)).call().await.expect("doc").owner,
        bob.address()
    );
}

#[tokio::test]
async fn tokenizer_stops_reserve_and_claim_but_not_erc721_transfers_or_approvals() {
    let net = testnet().await;
    let (alice, bob, carol) = (net.account(6), net.account(7), net.account(8));
    let hooks = net.addr(ContractKind::AuditResolver);
    let audit = audit(&net, &net.outsider);
    let a = register(&net, &alice, 1, hooks).await;
    let b = register(&net, &alice, 2, hooks).await;
    let c = register(&net, &alice, 3, hooks).await;
    let token_a = mint(&net, &alice, &bob, a).await;
    send_ok!(tokenizer(&net, &alice).reserveToken(b, bob.address()));
    // Registration and mint are two hooks.
    assert_eq!(
        audit.hookCount(a).call().await.expect("count"),
        U256::from(2)
    );

    pause(&net, ContractKind::OwnershipTokenizer).await;
    pause(&net, ContractKind::AuditResolver).await;
    let as_alice = tokenizer(&net, &alice);
    let as_bob = tokenizer(&net, &bob);
    let as_carol = tokenizer(&net, &carol);
    assert_eq!(
        send_err!(as_alice.reserveToken(c, bob.address())),
        "EnforcedPause()"
    );
    assert_eq!(send_err!(as_bob.claimToken(b)), "EnforcedPause()");
    assert_eq!(
        as_bob.tokenOfDocument(b).call().await.expect("token"),
        U256::ZERO
    );
    assert!(
        as_bob
            .reservationOf(c)
            .call()
            .await
            .expect("res")
            .recipient
            .is_zero()
    );

    // ERC-721 keeps working: approve, transferFrom, both safeTransferFrom overloads, each with a hook.
    send_ok!(as_bob.approve(carol.address(), token_a));
    assert_eq!(
        as_bob.getApproved(token_a).call().await.expect("approved"),
        carol.address()
    );
    send_ok!(as_carol.transferFrom(bob.address(), carol.address(), token_a));
    assert_eq!(
        as_bob.ownerOf(token_a).call().await.expect("owner"),
        carol.address()
    );
    assert_eq!(
        audit.hookCount(a).call().await.expect("count"),
        U256::from(3)
    );
    send_ok!(as_carol.safeTransferFrom_0(carol.address(), alice.address(), token_a));
    assert_eq!(
        as_bob.ownerOf(token_a).call().await.expect("owner"),
        alice.address()
    );
    send_ok!(as_alice.safeTransferFrom_1(alice.address(), bob.address(), token_a, Bytes::new()));
    assert_eq!(
        as_bob.ownerOf(token_a).call().await.expect("owner"),
        bob.address()
    );
    assert_eq!(
        audit.hookCount(a).call().await.expect("count"),
        U256::from(5)
    );
    send_ok!(as_bob.setApprovalForAll(carol.address(), true));
    assert!(
        as_bob
            .isApprovedForAll(bob.address(), carol.address())
            .call()
            .await
            .expect("all")
    );

    unpause(&net, ContractKind::OwnershipTokenizer).await;
    send_ok!(as_bob.claimToken(b));
    send_ok!(as_alice.reserveToken(c, carol.address()));
    assert_eq!(
        as_bob.ownerOf(U256::from(2)).call().await.expect("owner"),
        bob.address()
    );
    assert_eq!(
        as_bob
            .documentOfToken(U256::from(2))
            .call()
            .await
            .expect("doc"),
        b
    );
    assert_eq!(
        as_bob.reservationOf(c).call().await.expect("res").recipient,
        carol.address()
    );
}

#[tokio::test]
async fn escrow_stops_deposit_release_and_refund_in_native_coin_and_tokens() {
    let net = testnet().await;
    let (payer, payee) = (net.account(6), net.account(7));
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let a = register(&net, &payer, 1, Address::ZERO).await;
    let amount = ether(1);
    let native_1 = deposit_native(&net, &payer, payee.address(), a, amount).await;
    let native_2 = deposit_native(&net, &payer, payee.address(), a, amount).await;
    let token_1 = deposit_token(&net, &payer, payee.address(), a, amount).await;
    let token_2 = deposit_token(&net, &payer, payee.address(), a, amount).await;
    // Tokens for a deposit attempt while paused, already approved so only the pause can refuse it.
    let t = token(&net, &payer);
    send_ok!(t.mint(payer.address(), amount));
    send_ok!(t.approve(escrow_addr, amount));

    pause(&net, ContractKind::PaymentEscrow).await;
    let as_payer = escrow(&net, &payer);
    let as_payee = escrow(&net, &payee);
    let err = send_err!(
        as_payer
            .deposit(a, Address::ZERO, amount, payee.address())
            .value(amount)
    );
    assert_eq!(err, "EnforcedPause()");
    assert_eq!(
        send_err!(as_payer.deposit(a, *t.address(), amount, payee.address())),
        "EnforcedPause()"
    );
    for id in [native_1, token_1] {
        assert_eq!(send_err!(as_payer.release(id)), "EnforcedPause()");
    }
    for id in [native_2, token_2] {
        assert_eq!(send_err!(as_payee.refund(id)), "EnforcedPause()");
    }
    assert_eq!(net.balance(escrow_addr).await, amount * U256::from(2));
    assert_eq!(
        token_balance(&net, escrow_addr).await,
        amount * U256::from(2)
    );
    for id in [native_1, native_2, token_1, token_2] {
        assert!(!as_payer.payments(id).call().await.expect("payment").settled);
    }

    // Unpaused, each blocked operation goes through and moves the money.
    unpause(&net, ContractKind::PaymentEscrow).await;
    let payee_before = net.balance(payee.address()).await;
    send_ok!(as_payer.release(native_1));
    assert_eq!(net.balance(payee.address()).await, payee_before + amount);
    send_ok!(as_payer.release(token_1));
    assert_eq!(token_balance(&net, payee.address()).await, amount);
    let payer_tokens = token_balance(&net, payer.address()).await;
    send_ok!(as_payee.refund(token_2));
    assert_eq!(
        token_balance(&net, payer.address()).await,
        payer_tokens + amount
    );
    send_ok!(as_payee.refund(native_2));
    assert_eq!(net.balance(escrow_addr).await, U256::ZERO);
    send_ok!(as_payer.deposit(a, *t.address(), amount, payee.address()));
    deposit_native(&net, &payer, payee.address(), a, amount).await;
    assert_eq!(net.balance(escrow_addr).await, amount);
    assert_eq!(token_balance(&net, escrow_addr).await, amount);
}

#[tokio::test]
async fn emergency_withdraw_needs_the_pause_on_both_fund_holders() {
    let net = testnet().await;
    let alice = net.account(6);
    let a = register(&net, &alice, 1, Address::ZERO).await;
    deposit_native(&net, &alice, alice.address(), a, ether(1)).await;
    let safe = net.safe.address();
    let reg = registry(&net, &net.emergency);
    let esc = escrow(&net, &net.emergency);

    let one = U256::from(1);
    assert_eq!(
        send_err!(reg.emergencyWithdraw(Address::ZERO, safe, one)),
        "ExpectedPause()"
    );
    assert_eq!(
        send_err!(esc.emergencyWithdraw(Address::ZERO, safe, one)),
        "ExpectedPause()"
    );

    pause(&net, ContractKind::DocumentRegistry).await;
    pause(&net, ContractKind::PaymentEscrow).await;
    let before = net.balance(safe).await;
    send_ok!(reg.emergencyWithdraw(Address::ZERO, safe, one));
    send_ok!(esc.emergencyWithdraw(Address::ZERO, safe, one));
    assert_eq!(net.balance(safe).await, before + U256::from(2));

    unpause(&net, ContractKind::DocumentRegistry).await;
    unpause(&net, ContractKind::PaymentEscrow).await;
    assert_eq!(
        send_err!(reg.emergencyWithdraw(Address::ZERO, safe, one)),
        "ExpectedPause()"
    );
    assert_eq!(
        send_err!(esc.emergencyWithdraw(Address::ZERO, safe, one)),
        "ExpectedPause()"
    );
}

#[tokio::test]
async fn hooks_run_for_document_and_token_transfers_while_everything_is_paused() {
    let net = testnet().await;
    let (alice, bob) = (net.account(6), net.account(7));
    let hooks = net.addr(ContractKind::AuditResolver);
    let audit = audit(&net, &net.outsider);
    let a = register(&net, &alice, 1, hooks).await;
    let id = mint(&net, &alice, &bob, a).await;
    assert_eq!(
        audit.hookCount(a).call().await.expect("count"),
        U256::from(2)
    );

    for kind in PAUSABLE {
        pause(&net, kind).await;
    }
    let receipt = send_ok!(registry(&net, &alice).transferDocumentOwnership(a, bob.address()));
    let recorded = crate::support::events::<bindings::AuditResolver::HookRecorded>(&receipt);
    assert_eq!(recorded.len(), 1, "the document hook ran");
    assert_eq!(recorded[0].source, net.addr(ContractKind::DocumentRegistry));
    let receipt = send_ok!(tokenizer(&net, &bob).transferFrom(bob.address(), alice.address(), id));
    let recorded = crate::support::events::<bindings::AuditResolver::HookRecorded>(&receipt);
    assert_eq!(recorded.len(), 1, "the token hook ran");
    assert_eq!(
        recorded[0].source,
        net.addr(ContractKind::OwnershipTokenizer)
    );
    assert_eq!(
        audit.hookCount(a).call().await.expect("count"),
        U256::from(4)
    );
    // No failed hook was reported.
    assert!(
        crate::support::events::<bindings::OwnershipTokenizer::ResolverHookFailed>(&receipt)
            .is_empty()
    );
}
