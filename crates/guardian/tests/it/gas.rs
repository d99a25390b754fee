//! The gas table of docs/contracts.md, measured from real receipts on anvil.
//! Run: `cargo test --test it gas_report -- --ignored --nocapture`

use alloy::primitives::{Address, U256};
use bindings::{DocumentRegistry, EmergencyBrake, OwnershipTokenizer, PaymentEscrow, TestToken};
use guardian::config::ContractKind;

use crate::{
    send_ok,
    support::{doc, testnet},
};

#[tokio::test]
#[ignore = "prints the gas table for docs/contracts.md"]
async fn gas_report() {
    let net = testnet().await;
    let mut rows: Vec<(String, u64)> = Vec::new();
    let mut add = |name: &str, r: &alloy::rpc::types::TransactionReceipt| {
        rows.push((name.to_string(), r.gas_used))
    };

    let user = net.as_signer(&net.account(6));
    let other = net.account(7);
    let other_p = net.as_signer(&other);
    let fee = U256::from(1_000_000_000_000_000u64);
    let resolver = net.addr(ContractKind::AuditResolver);
    let registry = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), user.clone());
    let tokenizer =
        OwnershipTokenizer::new(net.addr(ContractKind::OwnershipTokenizer), user.clone());
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let escrow = PaymentEscrow::new(escrow_addr, user.clone());
    let token_addr = net.addr(ContractKind::TestToken);
    let token = TestToken::new(token_addr, user.clone());

    add(
        "registerDocument (no resolver)",
        &send_ok!(
            registry
                .registerDocument(doc(1), doc(100), Address::ZERO)
                .value(fee)
        ),
    );
    add(
        "registerDocument (AuditResolver hook)",
        &send_ok!(
            registry
                .registerDocument(doc(2), doc(101), resolver)
                .value(fee)
        ),
    );
    add(
        "setResolver",
        &send_ok!(registry.setResolver(doc(1), resolver)),
    );
    add(
        "reserveToken",
        &send_ok!(tokenizer.reserveToken(doc(2), other.address())),
    );
    let claim =
        OwnershipTokenizer::new(net.addr(ContractKind::OwnershipTokenizer), other_p.clone());
    add(
        "claimToken (mint + hook)",
        &send_ok!(claim.claimToken(doc(2))),
    );
    add(
        "ERC-721 transferFrom (hook)",
        &send_ok!(claim.transferFrom(other.address(), net.account(8).address(), U256::from(1))),
    );
    add(
        "transferDocumentOwnership (hook)",
        &send_ok!(registry.transferDocumentOwnership(doc(2), other.address())),
    );
    let native = U256::from(10u64.pow(18));
    add(
        "deposit (native)",
        &send_ok!(
            escrow
                .deposit(doc(1), Address::ZERO, native, other.address())
                .value(native)
        ),
    );
    send_ok!(token.mint(net.account(6).address(), U256::from(10_000u64)));
    send_ok!(token.approve(escrow_addr, U256::from(10_000u64)));
    add(
        "deposit (ERC-20)",
        &send_ok!(escrow.deposit(doc(1), token_addr, U256::from(1000u64), other.address())),
    );
    add("release (native)", &send_ok!(escrow.release(U256::from(1))));
    let payee = PaymentEscrow::new(escrow_addr, other_p);
    add("refund (ERC-20)", &send_ok!(payee.refund(U256::from(2))));
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, native, other.address())
            .value(native)
    );
    send_ok!(escrow.deposit(doc(1), token_addr, U256::from(1000u64), other.address()));

    let pauser = net.as_signer(&net.pauser);
    let reg_p = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), pauser.clone());
    add("pause", &send_ok!(reg_p.pause()));
    add("unpause", &send_ok!(reg_p.unpause()));
    let brake = EmergencyBrake::new(net.addr(ContractKind::EmergencyBrake), pauser);
    add(
        "EmergencyBrake.pauseAll (4 targets)",
        &send_ok!(brake.pauseAll()),
    );
    let em = PaymentEscrow::new(escrow_addr, net.as_signer(&net.emergency));
    add(
        "emergencyWithdraw (native)",
        &send_ok!(em.emergencyWithdraw(Address::ZERO, net.safe.address(), native)),
    );
    add(
        "emergencyWithdraw (ERC-20)",
        &send_ok!(em.emergencyWithdraw(token_addr, net.safe.address(), U256::from(1000u64))),
    );
    // One provider for the safe: it caches nonces.
    let safe = net.as_signer(&net.safe);
    let back = PaymentEscrow::new(escrow_addr, safe.clone());
    add(
        "replenish (native)",
        &send_ok!(back.replenish(Address::ZERO, native).value(native)),
    );
    send_ok!(TestToken::new(token_addr, safe).approve(escrow_addr, U256::from(1000u64)));
    add(
        "replenish (ERC-20)",
        &send_ok!(back.replenish(token_addr, U256::from(1000u64))),
    );

    println!("| operation | gas used |\n|---|---:|");
    for (name, gas) in &rows {
        println!("| `{name}` | {gas} |");
    }
    for c in &net.suite.contracts {
        println!(
            "| deploy {} ({}) | {} |",
            c.name,
            if c.implementation.is_some() {
                "implementation + proxy"
            } else {
                "plain"
            },
            c.gas_used
        );
    }
    println!(
        "| deploy wiring (hook sources, brake targets and roles) | {} |",
        net.suite.wiring_gas
    );
    let total: u64 =
        net.suite.contracts.iter().map(|c| c.gas_used).sum::<u64>() + net.suite.wiring_gas;
    println!("| **whole suite deployment** | {total} |");
}
