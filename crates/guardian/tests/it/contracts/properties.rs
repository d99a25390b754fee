//! A property test of the pause matrix and the escrow's books: random sequences of registrations,
//! reservations, claims, document transfers, deposits (native and ERC-20), releases, refunds,
//! pauses, unpauses and emergency withdrawals, each checked against a model that predicts its exact
//! outcome. After every step the escrow holds `outstanding - rescued` of each asset.

use alloy::{
    primitives::{Address, U256},
    providers::DynProvider,
};
use bindings::{
    DocumentRegistry::DocumentRegistryInstance, OwnershipTokenizer::OwnershipTokenizerInstance,
    PaymentEscrow::PaymentEscrowInstance, TestToken::TestTokenInstance,
};
use guardian::{chain::Signer, config::ContractKind};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

mod model;

use model::{DocModel, Model, Op, PaymentModel, Target, USERS, op};

use super::{FEE, content, escrow, registry, token, token_balance, tokenizer};
use crate::support::{TestNet, doc, testnet};

/// Sends a call; `Ok(receipt)` if it was mined successfully, else the decoded revert.
macro_rules! attempt {
    ($call:expr) => {{
        match $call.send().await {
            Ok(pending) => {
                let receipt = pending.get_receipt().await.expect("receipt");
                if receipt.status() {
                    Ok(receipt)
                } else {
                    Err(String::from("reverted on chain"))
                }
            }
            Err(e) => Err(crate::support::reason(&e)),
        }
    }};
}

/// One user's handles on the suite.
struct User {
    signer: Signer,
    registry: DocumentRegistryInstance<DynProvider>,
    tokenizer: OwnershipTokenizerInstance<DynProvider>,
    escrow: PaymentEscrowInstance<DynProvider>,
    token: TestTokenInstance<DynProvider>,
}

fn user(net: &TestNet, index: u32) -> User {
    let signer = net.account(index);
    User {
        registry: registry(net, &signer),
        tokenizer: tokenizer(net, &signer),
        escrow: escrow(net, &signer),
        token: token(net, &signer),
        signer,
    }
}

fn expect(
    step: usize,
    op: &Op,
    actual: Result<(), String>,
    expected: Result<(), String>,
) -> Result<(), String> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "step {step} {op:?}: expected {expected:?}, got {actual:?}"
        ))
    }
}

/// The refusal of every operation the pause matrix blocks.
fn paused<T>() -> Result<T, String> {
    Err(String::from("EnforcedPause()"))
}

fn asset(native: bool) -> usize {
    usize::from(!native)
}

/// Runs one sequence on a fresh suite, checking each outcome and the invariants after each step.
async fn run(ops: Vec<Op>) -> Result<(), String> {
    let net = testnet().await;
    let users: Vec<User> = (6..6 + USERS as u32).map(|i| user(&net, i)).collect();
    let addr = |u: usize| users[u].signer.address();
    let pauser = [Target::Registry, Target::Tokenizer, Target::Escrow]
        .map(|t| super::base(&net, t.kind(), &net.pauser));
    let rescuer = escrow(&net, &net.emergency);
    let (escrow_addr, token_addr) = (
        net.addr(ContractKind::PaymentEscrow),
        net.addr(ContractKind::TestToken),
    );
    let assets = [Address::ZERO, token_addr];
    let mut m = Model::default();

    for (step, op) in ops.iter().enumerate() {
        match op.clone() {
            Op::Register { user } => {
                let n = m.docs.len() as u64 + 1;
                let call = users[user]
                    .registry
                    .registerDocument(doc(n), content(n), Address::ZERO)
                    .value(U256::from(FEE));
                let actual = attempt!(call).map(drop);
                let expected = if m.is_paused(Target::Registry) {
                    paused()
                } else {
                    Ok(())
                };
                expect(step, op, actual, expected.clone())?;
                if expected.is_ok() {
                    m.docs.push(DocModel {
                        id: doc(n),
                        owner: user,
                        reserved: None,
                        claimed: false,
                    });
                }
            }
            Op::Reserve { doc, recipient } if !m.docs.is_empty() => {
                let d = doc.get_mut(&mut m.docs);
                let actual = attempt!(users[d.owner].tokenizer.reserveToken(d.id, addr(recipient)))
                    .map(drop);
                let expected = if m.paused[Target::Tokenizer as usize] {
                    paused()
                } else if d.reserved.is_some() {
                    Err(format!("TokenAlreadyReserved({})", d.id))
                } else {
                    Ok(())
                };
                expect(step, op, actual, expected.clone())?;
                if expected.is_ok() {
                    d.reserved = Some(recipient);
                }
            }
            Op::Claim { doc } if !m.docs.is_empty() => {
                let d = doc.get_mut(&mut m.docs);
                let caller = d.reserved.unwrap_or(d.owner);
                let actual = attempt!(users[caller].tokenizer.claimToken(d.id)).map(drop);
                let expected = if m.paused[Target::Tokenizer as usize] {
                    paused()
                } else if d.reserved.is_none() {
                    Err(format!(
                        "NotReservedRecipient({}, {})",
                        d.id,
                        addr(caller).to_checksum(None)
                    ))
                } else if d.claimed {
                    Err(format!("TokenAlreadyClaimed({})", d.id))
                } else {
                    Ok(())
                };
                expect(step, op, actual, expected.clone())?;
                d.claimed |= expected.is_ok();
            }
            Op::TransferDoc { doc, to } if !m.docs.is_empty() => {
                // Never blocked by the pause.
                let d = doc.get_mut(&mut m.docs);
                let actual = attempt!(
                    users[d.owner]
                        .registry
                        .transferDocumentOwnership(d.id, addr(to))
                )
                .map(drop);
                expect(step, op, actual, Ok(()))?;
                d.owner = to;
            }
            Op::Deposit {
                doc,
                payer,
                payee,
                native,
                amount,
            } if !m.docs.is_empty() => {
                let id = doc.get(&m.docs).id;
                let amount = U256::from(amount);
                let u = &users[payer];
                let call = u
                    .escrow
                    .deposit(id, assets[asset(native)], amount, addr(payee));
                let actual = if native {
                    attempt!(call.value(amount))
                } else {
                    attempt!(u.token.mint(addr(payer), amount))
                        .map_err(|e| format!("mint: {e}"))?;
                    attempt!(u.token.approve(escrow_addr, amount))
                        .map_err(|e| format!("approve: {e}"))?;
                    attempt!(call)
                };
                let expected_id = U256::from(m.payments.len() + 1);
                let actual = actual.map(|r| super::payment_id(&r));
                let expected = if m.is_paused(Target::Escrow) {
                    paused()
                } else {
                    Ok(expected_id)
                };
                if actual != expected {
                    return Err(format!(
                        "step {step} {op:?}: expected {expected:?}, got {actual:?}"
                    ));
                }
                if expected.is_ok() {
                    m.payments.push(PaymentModel {
                        id: expected_id,
                        payer,
                        payee,
                        native,
                        amount,
                        settled: false,
                    });
                    m.outstanding[asset(native)] += amount;
                }
            }
            Op::Release { payment } | Op::Refund { payment } if !m.payments.is_empty() => {
                let release = matches!(op, Op::Release { .. });
                let held = [m.held(0), m.held(1)];
                let p = payment.get_mut(&mut m.payments);
                let caller = &users[if release { p.payer } else { p.payee }].escrow;
                let actual = if release {
                    attempt!(caller.release(p.id))
                } else {
                    attempt!(caller.refund(p.id))
                };
                let available = held[asset(p.native)];
                let expected = if m.paused[Target::Escrow as usize] {
                    paused()
                } else if p.settled {
                    Err(format!("PaymentAlreadySettled({})", p.id))
                } else if available < p.amount {
                    Err(format!("InsufficientBalance({available}, {})", p.amount))
                } else {
                    Ok(())
                };
                expect(step, op, actual.map(drop), expected.clone())?;
                if expected.is_ok() {
                    p.settled = true;
                    m.outstanding[asset(p.native)] -= p.amount;
                }
            }
            Op::Pause(t) => {
                let actual = attempt!(pauser[t as usize].pause()).map(drop);
                let expected = if m.is_paused(t) { paused() } else { Ok(()) };
                expect(step, op, actual, expected)?;
                m.paused[t as usize] = true;
            }
            Op::Unpause(t) => {
                let actual = attempt!(pauser[t as usize].unpause()).map(drop);
                let expected = if m.is_paused(t) {
                    Ok(())
                } else {
                    Err(String::from("ExpectedPause()"))
                };
                expect(step, op, actual, expected)?;
                m.paused[t as usize] = false;
            }
            Op::Withdraw { native, percent } => {
                let a = asset(native);
                let held = m.held(a);
                let amount = (held * U256::from(percent) / U256::from(100)).max(U256::from(1));
                let actual =
                    attempt!(rescuer.emergencyWithdraw(assets[a], net.safe.address(), amount))
                        .map(drop);
                let expected = if !m.is_paused(Target::Escrow) {
                    Err(String::from("ExpectedPause()"))
                } else if amount > held {
                    Err(format!("InsufficientBalance({held}, {amount})"))
                } else {
                    Ok(())
                };
                expect(step, op, actual, expected.clone())?;
                if expected.is_ok() {
                    m.rescued[a] += amount;
                }
            }
            // An operation on a document or payment before any exists: nothing to do.
            _ => continue,
        }
        check_invariants(&net, &m, step).await?;
    }
    Ok(())
}

async fn check_invariants(net: &TestNet, m: &Model, step: usize) -> Result<(), String> {
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let esc = escrow(net, &net.outsider);
    let native_out = esc
        .outstanding(Address::ZERO)
        .call()
        .await
        .expect("outstanding");
    let token_out = esc
        .outstanding(net.addr(ContractKind::TestToken))
        .call()
        .await
        .expect("outstanding");
    let native_held = net.balance(escrow_addr).await;
    let token_held = token_balance(net, escrow_addr).await;
    let chain = (native_out, token_out, native_held, token_held);
    let model = (m.outstanding[0], m.outstanding[1], m.held(0), m.held(1));
    if chain != model {
        return Err(format!(
            "after step {step}: (outstanding native, token, held native, token) is {chain:?}, model {model:?}"
        ));
    }
    if native_held != native_out - m.rescued[0] || token_held != token_out - m.rescued[1] {
        return Err(format!(
            "after step {step}: escrow balance is not outstanding minus rescued"
        ));
    }
    let registry_held = net.balance(net.addr(ContractKind::DocumentRegistry)).await;
    if registry_held != U256::from(FEE) * U256::from(m.docs.len()) {
        return Err(format!(
            "after step {step}: registry holds {registry_held} for {} documents",
            m.docs.len()
        ));
    }
    for t in [Target::Registry, Target::Tokenizer, Target::Escrow] {
        if super::is_paused(net, t.kind()).await != m.is_paused(t) {
            return Err(format!(
                "after step {step}: {t:?} paused flag differs from the model"
            ));
        }
    }
    Ok(())
}

#[test]
fn random_operation_sequences_respect_the_pause_matrix_and_the_books() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let config = Config {
        cases: 16,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        rt.block_on(run(ops)).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
