//! Re-entrancy: a resolver that calls back into the contract running its hook, and an ERC-20 that
//! calls back into the escrow from inside `transfer`/`transferFrom` (deposits, settlements,
//! withdrawals and replenishments). The guard refuses the inner
//! call; the state afterwards is exactly as if the attack had not been tried.

use alloy::{
    primitives::{Address, B256, Bytes, FixedBytes, U256},
    providers::DynProvider,
    sol_types::{SolCall, SolError},
};
use bindings::{
    DocumentRegistry::{ReentrancyGuardReentrantCall, ResolverHookFailed, registerDocumentCall},
    OwnershipTokenizer::claimTokenCall,
    PaymentEscrow::{emergencyWithdrawCall, refundCall, releaseCall},
    testing::{
        MaliciousToken::{self, MaliciousTokenInstance},
        ReentrantResolver::{self, ReentrantResolverInstance},
    },
};
use guardian::{chain::Signer, config::ContractKind, roles::Role};

use super::{FEE, base, escrow, ether, pause, register, registry, tokenizer};
use crate::support::{TestNet, doc, events, testnet};
use crate::{send_err, send_ok};

const GUARD: &str = "ReentrancyGuardReentrantCall()";

async fn reentrant_resolver(net: &TestNet) -> ReentrantResolverInstance<DynProvider> {
    ReentrantResolver::deploy(net.as_signer_uncached(&net.admin))
        .await
        .expect("deploy resolver")
}

/// What the resolver saw: (attempts, last attempt succeeded, last revert selector).
async fn attack_record(r: &ReentrantResolverInstance<DynProvider>) -> (U256, bool, FixedBytes<4>) {
    (
        r.attempts().call().await.expect("attempts"),
        r.lastSucceeded().call().await.expect("lastSucceeded"),
        r.lastRevertSelector()
            .call()
            .await
            .expect("lastRevertSelector"),
    )
}

fn guard_selector() -> FixedBytes<4> {
    FixedBytes(ReentrancyGuardReentrantCall::SELECTOR)
}

#[tokio::test]
async fn a_resolver_cannot_reenter_the_registry_from_its_hooks() {
    let net = testnet().await;
    let (alice, bob, carol) = (net.account(6), net.account(7), net.account(8));
    let registry_addr = net.addr(ContractKind::DocumentRegistry);
    // Free registration: the re-entrant call below would then succeed if nothing guarded it.
    send_ok!(registry(&net, &net.admin).setRegistrationFee(U256::ZERO));
    let r = reentrant_resolver(&net).await;
    let sneaky = doc(99);
    let attack = registerDocumentCall {
        integraHash: sneaky,
        documentHash: B256::ZERO,
        resolver: Address::ZERO,
    };
    send_ok!(r.setAttack(registry_addr, attack.abi_encode().into()));

    let id = doc(1);
    let receipt =
        send_ok!(registry(&net, &alice).registerDocument(id, B256::repeat_byte(1), *r.address()));
    assert!(
        events::<ResolverHookFailed>(&receipt).is_empty(),
        "the hook itself returned normally"
    );
    assert_eq!(
        attack_record(&r).await,
        (U256::from(1), false, guard_selector())
    );
    assert_eq!(
        registry(&net, &alice)
            .getDocument(id)
            .call()
            .await
            .expect("doc")
            .owner,
        alice.address()
    );
    assert!(
        registry(&net, &alice)
            .getDocument(sneaky)
            .call()
            .await
            .expect("doc")
            .owner
            .is_zero()
    );

    let receipt = send_ok!(registry(&net, &alice).transferDocumentOwnership(id, bob.address()));
    assert!(events::<ResolverHookFailed>(&receipt).is_empty());
    assert_eq!(
        attack_record(&r).await,
        (U256::from(2), false, guard_selector())
    );
    assert_eq!(
        registry(&net, &alice)
            .getDocument(id)
            .call()
            .await
            .expect("doc")
            .owner,
        bob.address()
    );
    assert!(
        registry(&net, &alice)
            .getDocument(sneaky)
            .call()
            .await
            .expect("doc")
            .owner
            .is_zero()
    );

    // The same call made from a tokenizer hook is not re-entrant for the registry, and succeeds:
    // it was the guard, not the call, that failed above.
    send_ok!(tokenizer(&net, &bob).reserveToken(id, carol.address()));
    let receipt = send_ok!(tokenizer(&net, &carol).claimToken(id));
    assert!(events::<ResolverHookFailed>(&receipt).is_empty());
    assert_eq!(attack_record(&r).await.0, U256::from(3));
    assert!(r.lastSucceeded().call().await.expect("lastSucceeded"));
    assert_eq!(
        registry(&net, &alice)
            .getDocument(sneaky)
            .call()
            .await
            .expect("doc")
            .owner,
        *r.address()
    );
}

#[tokio::test]
async fn a_resolver_cannot_reenter_a_claim() {
    let net = testnet().await;
    let alice = net.account(6);
    let r = reentrant_resolver(&net).await;
    let id = register(&net, &alice, 1, *r.address()).await;
    send_ok!(r.setAttack(
        net.addr(ContractKind::OwnershipTokenizer),
        claimTokenCall { integraHash: id }.abi_encode().into()
    ));
    send_ok!(tokenizer(&net, &alice).reserveToken(id, alice.address()));

    let receipt = send_ok!(tokenizer(&net, &alice).claimToken(id));
    assert!(events::<ResolverHookFailed>(&receipt).is_empty());
    assert_eq!(
        attack_record(&r).await,
        (U256::from(1), false, guard_selector())
    );
    let t = tokenizer(&net, &alice);
    assert_eq!(
        t.tokenOfDocument(id).call().await.expect("token"),
        U256::from(1)
    );
    assert_eq!(
        t.balanceOf(alice.address()).call().await.expect("balance"),
        U256::from(1)
    );
    assert_eq!(
        t.ownerOf(U256::from(1)).call().await.expect("owner"),
        alice.address()
    );
    assert_eq!(
        t.documentOfToken(U256::from(2)).call().await.expect("doc"),
        B256::ZERO,
        "no second token"
    );
}

/// An escrow with payments in a [`MaliciousToken`]: the token, the payer, the payee, and two open
/// payments of `ether(1)` each.
struct EvilEscrow {
    token: MaliciousTokenInstance<DynProvider>,
    payer: Signer,
    payee: Signer,
    payments: [U256; 2],
}

async fn evil_escrow(net: &TestNet) -> EvilEscrow {
    let (payer, payee) = (net.account(6), net.account(7));
    let token = MaliciousToken::deploy(net.as_signer_uncached(&payer))
        .await
        .expect("deploy token");
    let id = register(net, &payer, 1, Address::ZERO).await;
    send_ok!(token.mint(payer.address(), ether(10)));
    send_ok!(token.approve(net.addr(ContractKind::PaymentEscrow), ether(10)));
    let esc = escrow(net, &payer);
    let mut payments = [U256::ZERO; 2];
    for p in &mut payments {
        let receipt = send_ok!(esc.deposit(id, *token.address(), ether(1), payee.address()));
        *p = super::payment_id(&receipt);
    }
    EvilEscrow {
        token,
        payer,
        payee,
        payments,
    }
}

impl EvilEscrow {
    /// Arms the token to call the escrow with `call` on its next transfer.
    async fn arm(&self, net: &TestNet, call: impl SolCall) {
        send_ok!(self.token.setAttack(
            net.addr(ContractKind::PaymentEscrow),
            Bytes::from(call.abi_encode())
        ));
    }

    /// (escrow's token balance, payer's, payee's, escrow's outstanding).
    async fn snapshot(&self, net: &TestNet) -> (U256, U256, U256, U256) {
        let esc = net.addr(ContractKind::PaymentEscrow);
        let balance = |who| async move { self.token.balanceOf(who).call().await.expect("balance") };
        let outstanding = escrow(net, &self.payer)
            .outstanding(*self.token.address())
            .call()
            .await
            .expect("outstanding");
        (
            balance(esc).await,
            balance(self.payer.address()).await,
            balance(self.payee.address()).await,
            outstanding,
        )
    }
}

#[tokio::test]
async fn a_token_cannot_reenter_a_deposit() {
    let net = testnet().await;
    let evil = evil_escrow(&net).await;
    let before = evil.snapshot(&net).await;
    assert_eq!(before, (ether(2), ether(8), U256::ZERO, ether(2)));
    evil.arm(
        &net,
        releaseCall {
            paymentId: evil.payments[0],
        },
    )
    .await;

    let esc = escrow(&net, &evil.payer);
    let err = send_err!(esc.deposit(
        doc(1),
        *evil.token.address(),
        ether(1),
        evil.payee.address()
    ));
    assert_eq!(err, GUARD);
    assert_eq!(evil.snapshot(&net).await, before);
    assert!(
        esc.payments(U256::from(3))
            .call()
            .await
            .expect("payment")
            .payer
            .is_zero(),
        "no payment 3"
    );
    assert!(
        !esc.payments(evil.payments[0])
            .call()
            .await
            .expect("payment")
            .settled
    );
}

#[tokio::test]
async fn a_token_cannot_reenter_a_release_or_a_refund() {
    let net = testnet().await;
    let evil = evil_escrow(&net).await;
    let before = evil.snapshot(&net).await;
    let [first, second] = evil.payments;
    let as_payer = escrow(&net, &evil.payer);
    let as_payee = escrow(&net, &evil.payee);

    // Releasing `first` tries to also refund it (double spend) or release the other payment.
    evil.arm(&net, refundCall { paymentId: first }).await;
    assert_eq!(send_err!(as_payer.release(first)), GUARD);
    evil.arm(&net, releaseCall { paymentId: second }).await;
    assert_eq!(send_err!(as_payer.release(first)), GUARD);
    // Refunding `second` tries to release it as well.
    evil.arm(&net, releaseCall { paymentId: second }).await;
    assert_eq!(send_err!(as_payee.refund(second)), GUARD);
    assert_eq!(evil.snapshot(&net).await, before);
    for id in evil.payments {
        assert!(!as_payer.payments(id).call().await.expect("payment").settled);
    }

    // With a harmless call armed instead, the same operations go through.
    send_ok!(evil.token.setAttack(
        *evil.token.address(),
        Bytes::from(bindings::testing::MaliciousToken::nameCall {}.abi_encode())
    ));
    send_ok!(as_payer.release(first));
    send_ok!(as_payee.refund(second));
    assert_eq!(
        evil.snapshot(&net).await,
        (U256::ZERO, ether(9), ether(1), U256::ZERO)
    );
}

#[tokio::test]
async fn a_token_cannot_reenter_an_emergency_withdrawal() {
    let net = testnet().await;
    let evil = evil_escrow(&net).await;
    let before = evil.snapshot(&net).await;
    let esc_addr = net.addr(ContractKind::PaymentEscrow);
    // Even holding EMERGENCY_ROLE, the token must not get a second withdrawal in.
    send_ok!(
        base(&net, ContractKind::PaymentEscrow, &net.admin)
            .grantRole(Role::Emergency.id(), *evil.token.address())
    );
    pause(&net, ContractKind::PaymentEscrow).await;
    let thief = net.outsider.address();
    evil.arm(
        &net,
        emergencyWithdrawCall {
            token: *evil.token.address(),
            recipient: thief,
            amount: ether(1),
        },
    )
    .await;

    let rescue = escrow(&net, &net.emergency);
    let err =
        send_err!(rescue.emergencyWithdraw(*evil.token.address(), net.safe.address(), ether(1)));
    assert_eq!(err, GUARD);
    assert_eq!(evil.snapshot(&net).await, before);
    assert_eq!(
        evil.token.balanceOf(thief).call().await.expect("balance"),
        U256::ZERO
    );
    assert_eq!(
        evil.token
            .balanceOf(net.safe.address())
            .call()
            .await
            .expect("balance"),
        U256::ZERO
    );
    assert_eq!(
        evil.token
            .balanceOf(esc_addr)
            .call()
            .await
            .expect("balance"),
        ether(2)
    );
    // The registry's fee is untouched by any of this.
    assert_eq!(
        net.balance(net.addr(ContractKind::DocumentRegistry)).await,
        U256::from(FEE)
    );
}

#[tokio::test]
async fn a_token_cannot_reenter_a_replenishment() {
    let net = testnet().await;
    let evil = evil_escrow(&net).await;
    let esc_addr = net.addr(ContractKind::PaymentEscrow);
    // The token holds EMERGENCY_ROLE and the escrow is paused (replenish works while paused), so a
    // withdrawal from inside `transferFrom` would succeed if nothing guarded it.
    send_ok!(
        base(&net, ContractKind::PaymentEscrow, &net.admin)
            .grantRole(Role::Emergency.id(), *evil.token.address())
    );
    pause(&net, ContractKind::PaymentEscrow).await;
    let thief = net.outsider.address();
    let before = evil.snapshot(&net).await;
    evil.arm(
        &net,
        emergencyWithdrawCall {
            token: *evil.token.address(),
            recipient: thief,
            amount: ether(2),
        },
    )
    .await;

    let esc = escrow(&net, &evil.payer);
    send_ok!(evil.token.approve(esc_addr, ether(1)));
    let err = send_err!(esc.replenish(*evil.token.address(), ether(1)));
    assert_eq!(err, GUARD);
    assert_eq!(evil.snapshot(&net).await, before);
    assert_eq!(
        evil.token.balanceOf(thief).call().await.expect("balance"),
        U256::ZERO
    );

    // Disarmed, the same replenishment goes through and changes only the balance.
    send_ok!(evil.token.setAttack(
        *evil.token.address(),
        Bytes::from(bindings::testing::MaliciousToken::nameCall {}.abi_encode())
    ));
    send_ok!(esc.replenish(*evil.token.address(), ether(1)));
    let (escrow_balance, payer, payee, outstanding) = before;
    assert_eq!(
        evil.snapshot(&net).await,
        (
            escrow_balance + ether(1),
            payer - ether(1),
            payee,
            outstanding
        )
    );
}
