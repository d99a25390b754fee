//! `emergencyWithdraw`: rescuing the native coin and ERC-20s from the registry and the escrow to a
//! safe address, the `EmergencyWithdrawal` event, and every refusal.

use alloy::primitives::{Address, U256};
use bindings::{PaymentEscrow::EmergencyWithdrawal, testing::RevertingResolver};
use guardian::{config::ContractKind, roles::Role};

use super::{
    FEE, base, deposit_native, deposit_token, escrow, ether, pause, register, registry, token,
    token_balance, unauthorized, unpause,
};
use crate::support::{TestNet, events, testnet};
use crate::{send_err, send_ok};

/// Withdraws as the emergency account and checks the single `EmergencyWithdrawal` event.
async fn rescue(
    net: &TestNet,
    kind: ContractKind,
    token: Address,
    recipient: Address,
    amount: U256,
) {
    let receipt =
        send_ok!(base(net, kind, &net.emergency).emergencyWithdraw(token, recipient, amount));
    let withdrawn = events::<EmergencyWithdrawal>(&receipt);
    assert_eq!(withdrawn.len(), 1, "one EmergencyWithdrawal");
    let e = &withdrawn[0];
    assert_eq!(e.token, token);
    assert_eq!(e.recipient, recipient);
    assert_eq!(e.amount, amount);
    assert_eq!(e.operator, net.emergency.address());
    assert_eq!(receipt.to, Some(net.addr(kind)));
}

#[tokio::test]
async fn registry_fees_are_rescued_to_the_safe() {
    let net = testnet().await;
    let alice = net.account(6);
    let reg_addr = net.addr(ContractKind::DocumentRegistry);
    for n in 1..=3 {
        register(&net, &alice, n, Address::ZERO).await;
    }
    assert_eq!(net.balance(reg_addr).await, U256::from(3 * FEE));
    pause(&net, ContractKind::DocumentRegistry).await;

    let safe = net.safe.address();
    let before = net.balance(safe).await;
    rescue(
        &net,
        ContractKind::DocumentRegistry,
        Address::ZERO,
        safe,
        U256::from(2 * FEE),
    )
    .await;
    assert_eq!(net.balance(reg_addr).await, U256::from(FEE));
    assert_eq!(net.balance(safe).await, before + U256::from(2 * FEE));
    rescue(
        &net,
        ContractKind::DocumentRegistry,
        Address::ZERO,
        safe,
        U256::from(FEE),
    )
    .await;
    assert_eq!(net.balance(reg_addr).await, U256::ZERO);
    assert_eq!(net.balance(safe).await, before + U256::from(3 * FEE));
    // A rescue is not a settlement: the documents are untouched.
    let doc = registry(&net, &alice)
        .getDocument(crate::support::doc(2))
        .call()
        .await
        .expect("doc");
    assert_eq!(doc.owner, alice.address());
}

#[tokio::test]
async fn registry_rescues_tokens_sent_to_it_by_mistake() {
    let net = testnet().await;
    let alice = net.account(6);
    let reg_addr = net.addr(ContractKind::DocumentRegistry);
    let t = token(&net, &alice);
    send_ok!(t.mint(reg_addr, ether(5)));
    pause(&net, ContractKind::DocumentRegistry).await;
    rescue(
        &net,
        ContractKind::DocumentRegistry,
        *t.address(),
        net.safe.address(),
        ether(5),
    )
    .await;
    assert_eq!(token_balance(&net, reg_addr).await, U256::ZERO);
    assert_eq!(token_balance(&net, net.safe.address()).await, ether(5));
}

#[tokio::test]
async fn escrow_native_deposits_are_rescued_and_bookkeeping_is_left_alone() {
    let net = testnet().await;
    let (payer, payee) = (net.account(6), net.account(7));
    let esc_addr = net.addr(ContractKind::PaymentEscrow);
    let a = register(&net, &payer, 1, Address::ZERO).await;
    let first = deposit_native(&net, &payer, payee.address(), a, ether(2)).await;
    deposit_native(&net, &payer, payee.address(), a, ether(3)).await;
    assert_eq!(net.balance(esc_addr).await, ether(5));
    pause(&net, ContractKind::PaymentEscrow).await;

    let safe = net.safe.address();
    let before = net.balance(safe).await;
    rescue(
        &net,
        ContractKind::PaymentEscrow,
        Address::ZERO,
        safe,
        ether(5),
    )
    .await;
    assert_eq!(net.balance(esc_addr).await, U256::ZERO);
    assert_eq!(net.balance(safe).await, before + ether(5));
    let esc = escrow(&net, &payer);
    // `outstanding - balance` is what was rescued.
    assert_eq!(
        esc.outstanding(Address::ZERO)
            .call()
            .await
            .expect("outstanding"),
        ether(5)
    );
    assert!(!esc.payments(first).call().await.expect("payment").settled);

    // Once unpaused, a payment whose funds were rescued cannot be paid out from nothing.
    unpause(&net, ContractKind::PaymentEscrow).await;
    assert_eq!(
        send_err!(esc.release(first)),
        format!("InsufficientBalance(0, {})", ether(2))
    );
    assert!(!esc.payments(first).call().await.expect("payment").settled);
}

#[tokio::test]
async fn escrow_token_deposits_are_rescued() {
    let net = testnet().await;
    let (payer, payee) = (net.account(6), net.account(7));
    let esc_addr = net.addr(ContractKind::PaymentEscrow);
    let token_addr = net.addr(ContractKind::TestToken);
    let a = register(&net, &payer, 1, Address::ZERO).await;
    deposit_token(&net, &payer, payee.address(), a, ether(7)).await;
    // A native deposit too: rescuing the token must not touch it.
    deposit_native(&net, &payer, payee.address(), a, ether(1)).await;
    pause(&net, ContractKind::PaymentEscrow).await;

    let safe = net.safe.address();
    rescue(
        &net,
        ContractKind::PaymentEscrow,
        token_addr,
        safe,
        ether(4),
    )
    .await;
    assert_eq!(token_balance(&net, esc_addr).await, ether(3));
    assert_eq!(token_balance(&net, safe).await, ether(4));
    assert_eq!(net.balance(esc_addr).await, ether(1));
    rescue(
        &net,
        ContractKind::PaymentEscrow,
        token_addr,
        safe,
        ether(3),
    )
    .await;
    assert_eq!(token_balance(&net, esc_addr).await, U256::ZERO);
    assert_eq!(token_balance(&net, safe).await, ether(7));
    let outstanding = escrow(&net, &payer)
        .outstanding(token_addr)
        .call()
        .await
        .expect("outstanding");
    assert_eq!(outstanding, ether(7));
}

#[tokio::test]
async fn every_bad_withdrawal_is_refused_by_name() {
    let net = testnet().await;
    let alice = net.account(6);
    let a = register(&net, &alice, 1, Address::ZERO).await;
    deposit_native(&net, &alice, alice.address(), a, ether(1)).await;
    deposit_token(&net, &alice, alice.address(), a, ether(2)).await;
    let token_addr = net.addr(ContractKind::TestToken);
    let safe = net.safe.address();
    let cases = [
        (
            ContractKind::DocumentRegistry,
            Address::ZERO,
            U256::from(FEE),
        ),
        (ContractKind::PaymentEscrow, Address::ZERO, ether(1)),
        (ContractKind::PaymentEscrow, token_addr, ether(2)),
    ];

    for (kind, token, held) in cases {
        let c = base(&net, kind, &net.emergency);
        assert_eq!(
            send_err!(c.emergencyWithdraw(token, safe, held)),
            "ExpectedPause()",
            "{kind:?}"
        );
    }
    pause(&net, ContractKind::DocumentRegistry).await;
    pause(&net, ContractKind::PaymentEscrow).await;
    // A contract that cannot take the native coin (it has no receive function).
    let no_receive = *RevertingResolver::deploy(net.as_signer_uncached(&net.admin))
        .await
        .expect("deploy")
        .address();
    for (kind, token, held) in cases {
        let c = base(&net, kind, &net.emergency);
        let err = send_err!(base(&net, kind, &net.outsider).emergencyWithdraw(token, safe, held));
        assert_eq!(err, unauthorized(net.outsider.address(), Role::Emergency));
        assert_eq!(
            send_err!(c.emergencyWithdraw(token, Address::ZERO, held)),
            "ZeroAddress()",
            "{kind:?}"
        );
        assert_eq!(
            send_err!(c.emergencyWithdraw(token, safe, U256::ZERO)),
            "ZeroAmount()",
            "{kind:?}"
        );
        let more = held + U256::from(1);
        let err = send_err!(c.emergencyWithdraw(token, safe, more));
        assert_eq!(
            err,
            format!("InsufficientBalance({held}, {more})"),
            "{kind:?}"
        );
        if token.is_zero() {
            let err = send_err!(c.emergencyWithdraw(token, no_receive, held));
            assert_eq!(err, "NativeTransferFailed()", "{kind:?}");
        }
    }
    // Nothing moved.
    assert_eq!(
        net.balance(net.addr(ContractKind::DocumentRegistry)).await,
        U256::from(FEE)
    );
    assert_eq!(
        net.balance(net.addr(ContractKind::PaymentEscrow)).await,
        ether(1)
    );
    assert_eq!(
        token_balance(&net, net.addr(ContractKind::PaymentEscrow)).await,
        ether(2)
    );
}
