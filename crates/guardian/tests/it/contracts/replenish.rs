//! `replenish`: anyone returns funds to a fund-holding contract, in the native coin or an ERC-20,
//! paused or not; the balance rises, the books (`outstanding`, the registration fee) do not move,
//! and every malformed call is refused by name.

use alloy::primitives::{Address, U256};
use bindings::PaymentEscrow::Replenished;
use guardian::{chain::Signer, config::ContractKind};

use super::{
    FEE, base, deposit_native, deposit_token, escrow, ether, pause, register, registry, token,
    token_balance, unpause,
};
use crate::support::{TestNet, testnet};
use crate::{send_err, send_ok};

/// The escrow's (native balance, token balance, outstanding native, outstanding token).
async fn books(net: &TestNet) -> (U256, U256, U256, U256) {
    let addr = net.addr(ContractKind::PaymentEscrow);
    let esc = escrow(net, &net.outsider);
    let tok = net.addr(ContractKind::TestToken);
    (
        net.balance(addr).await,
        token_balance(net, addr).await,
        esc.outstanding(Address::ZERO)
            .call()
            .await
            .expect("outstanding"),
        esc.outstanding(tok).call().await.expect("outstanding"),
    )
}

/// Checks `receipt` carries exactly one `Replenished(token, from, amount)` from `at`.
fn assert_replenished(
    receipt: &alloy::rpc::types::TransactionReceipt,
    at: Address,
    token: Address,
    from: Address,
    amount: U256,
) {
    let logs: Vec<_> = receipt
        .inner
        .logs()
        .iter()
        .filter(|l| l.address() == at)
        .filter_map(|l| {
            <Replenished as alloy::sol_types::SolEvent>::decode_log(&l.inner)
                .ok()
                .map(|e| e.data)
        })
        .collect();
    assert_eq!(logs.len(), 1, "one Replenished from {at}");
    assert_eq!(
        (logs[0].token, logs[0].from, logs[0].amount),
        (token, from, amount)
    );
}

/// An escrow owing 3 ETH and 5 test tokens, paused and emptied by an emergency withdrawal.
async fn rescued_escrow(net: &TestNet, payer: &Signer) {
    let id = register(net, payer, 1, Address::ZERO).await;
    deposit_native(net, payer, payer.address(), id, ether(3)).await;
    deposit_token(net, payer, payer.address(), id, ether(5)).await;
    pause(net, ContractKind::PaymentEscrow).await;
    let rescue = escrow(net, &net.emergency);
    send_ok!(rescue.emergencyWithdraw(Address::ZERO, net.safe.address(), ether(3)));
    let tok = net.addr(ContractKind::TestToken);
    send_ok!(rescue.emergencyWithdraw(tok, net.safe.address(), ether(5)));
    assert_eq!(
        books(net).await,
        (U256::ZERO, U256::ZERO, ether(3), ether(5))
    );
}

#[tokio::test]
async fn rescued_funds_go_back_into_a_paused_escrow_without_touching_its_books() {
    let net = testnet().await;
    let payer = net.account(6);
    rescued_escrow(&net, &payer).await;
    let esc_addr = net.addr(ContractKind::PaymentEscrow);
    let tok = net.addr(ContractKind::TestToken);

    // The safe returns the native coin, in two parts, while the escrow is still paused.
    let from_safe = escrow(&net, &net.safe);
    let receipt = send_ok!(from_safe.replenish(Address::ZERO, ether(1)).value(ether(1)));
    assert_replenished(
        &receipt,
        esc_addr,
        Address::ZERO,
        net.safe.address(),
        ether(1),
    );
    let receipt = send_ok!(from_safe.replenish(Address::ZERO, ether(2)).value(ether(2)));
    assert_replenished(
        &receipt,
        esc_addr,
        Address::ZERO,
        net.safe.address(),
        ether(2),
    );
    assert_eq!(
        books(&net).await,
        (ether(3), U256::ZERO, ether(3), ether(5))
    );

    // And the tokens, pulled with transferFrom after an approval.
    send_ok!(token(&net, &net.safe).approve(esc_addr, ether(5)));
    let receipt = send_ok!(from_safe.replenish(tok, ether(5)));
    assert_replenished(&receipt, esc_addr, tok, net.safe.address(), ether(5));
    assert_eq!(token_balance(&net, net.safe.address()).await, U256::ZERO);
    assert_eq!(books(&net).await, (ether(3), ether(5), ether(3), ether(5)));

    // Made whole, the escrow settles the old payments from the returned funds.
    unpause(&net, ContractKind::PaymentEscrow).await;
    send_ok!(escrow(&net, &payer).release(U256::from(1)));
    send_ok!(escrow(&net, &payer).release(U256::from(2)));
    assert_eq!(
        books(&net).await,
        (U256::ZERO, U256::ZERO, U256::ZERO, U256::ZERO)
    );
    assert_eq!(token_balance(&net, payer.address()).await, ether(5));
}

#[tokio::test]
async fn anyone_may_replenish_an_unpaused_contract_and_the_books_stay() {
    let net = testnet().await;
    let payer = net.account(6);
    let id = register(&net, &payer, 1, Address::ZERO).await;
    deposit_native(&net, &payer, payer.address(), id, ether(1)).await;
    let esc_addr = net.addr(ContractKind::PaymentEscrow);
    let tok = net.addr(ContractKind::TestToken);
    let outsider = &net.outsider;

    let receipt = send_ok!(
        escrow(&net, outsider)
            .replenish(Address::ZERO, ether(2))
            .value(ether(2))
    );
    assert_replenished(
        &receipt,
        esc_addr,
        Address::ZERO,
        outsider.address(),
        ether(2),
    );
    send_ok!(token(&net, outsider).mint(outsider.address(), ether(4)));
    send_ok!(token(&net, outsider).approve(esc_addr, ether(4)));
    let receipt = send_ok!(escrow(&net, outsider).replenish(tok, ether(4)));
    assert_replenished(&receipt, esc_addr, tok, outsider.address(), ether(4));
    // Balances rose, what the escrow owes did not: a surplus, not a payment.
    assert_eq!(
        books(&net).await,
        (ether(3), ether(4), ether(1), U256::ZERO)
    );

    // The registry too: its balance rises, its fee and its documents stay.
    let reg_addr = net.addr(ContractKind::DocumentRegistry);
    let before = net.balance(reg_addr).await;
    assert_eq!(before, U256::from(FEE));
    let receipt = send_ok!(
        registry(&net, outsider)
            .replenish(Address::ZERO, ether(1))
            .value(ether(1))
    );
    assert_replenished(
        &receipt,
        reg_addr,
        Address::ZERO,
        outsider.address(),
        ether(1),
    );
    assert_eq!(net.balance(reg_addr).await, before + ether(1));
    send_ok!(token(&net, outsider).mint(outsider.address(), ether(1)));
    send_ok!(token(&net, outsider).approve(reg_addr, ether(1)));
    let receipt = send_ok!(registry(&net, outsider).replenish(tok, ether(1)));
    assert_replenished(&receipt, reg_addr, tok, outsider.address(), ether(1));
    assert_eq!(token_balance(&net, reg_addr).await, ether(1));
    let reg = registry(&net, outsider);
    assert_eq!(
        reg.registrationFee().call().await.expect("fee"),
        U256::from(FEE)
    );

    // Paused, the registry still takes funds back.
    pause(&net, ContractKind::DocumentRegistry).await;
    send_ok!(
        reg.replenish(Address::ZERO, U256::from(7))
            .value(U256::from(7))
    );
    assert_eq!(
        net.balance(reg_addr).await,
        before + ether(1) + U256::from(7)
    );
}

#[tokio::test]
async fn malformed_replenishments_are_refused_by_name() {
    let net = testnet().await;
    let tok = net.addr(ContractKind::TestToken);
    let who = &net.outsider;
    send_ok!(token(&net, who).mint(who.address(), ether(1)));
    for kind in [ContractKind::PaymentEscrow, ContractKind::DocumentRegistry] {
        let at = net.addr(kind);
        let c = base(&net, kind, who);
        let before = (net.balance(at).await, token_balance(&net, at).await);

        // Native coin: msg.value must be the amount, and the amount positive.
        let err = send_err!(c.replenish(Address::ZERO, ether(1)).value(ether(2)));
        assert_eq!(
            err,
            format!("IncorrectNativeValue({}, {})", ether(1), ether(2))
        );
        let err = send_err!(c.replenish(Address::ZERO, ether(1)));
        assert_eq!(err, format!("IncorrectNativeValue({}, 0)", ether(1)));
        assert_eq!(
            send_err!(c.replenish(Address::ZERO, U256::ZERO)),
            "ZeroAmount()"
        );
        let err = send_err!(c.replenish(Address::ZERO, U256::ZERO).value(U256::from(5)));
        assert_eq!(err, "ZeroAmount()");

        // ERC-20: no native coin alongside, and the token must be approved.
        send_ok!(token(&net, who).approve(at, ether(1)));
        let err = send_err!(c.replenish(tok, ether(1)).value(U256::from(1)));
        assert_eq!(err, format!("IncorrectNativeValue(0, 1)"));
        assert_eq!(send_err!(c.replenish(tok, U256::ZERO)), "ZeroAmount()");
        let err = send_err!(c.replenish(tok, ether(2)));
        assert_eq!(
            err,
            format!(
                "ERC20InsufficientAllowance({}, {}, {})",
                at.to_checksum(None),
                ether(1),
                ether(2)
            )
        );
        // A token address without code is not a token.
        let nowhere = Address::repeat_byte(0x55);
        let err = send_err!(c.replenish(nowhere, ether(1)));
        assert_eq!(
            err,
            format!("SafeERC20FailedOperation({})", nowhere.to_checksum(None))
        );
        send_ok!(token(&net, who).approve(at, U256::ZERO));
        assert_eq!(
            (net.balance(at).await, token_balance(&net, at).await),
            before,
            "{kind:?}: nothing moved"
        );
    }
}
