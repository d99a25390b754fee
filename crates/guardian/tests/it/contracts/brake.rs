//! The emergency brake: `pauseAll` pauses every target it can in one transaction and names the rest,
//! whatever a target does (missing role, revert, no code, gas burning, lying, return bombs); a gas
//! limit too low for every target's allowance makes it revert instead of pausing less;
//! `pauseTargets` pauses a registered subset; the target list is managed with events and named
//! refusals.

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::{SolCall, SolEvent},
};
use bindings::{
    DocumentRegistry::Paused,
    EmergencyBrake::{PausedAll, TargetAdded, TargetNotPaused, TargetRemoved, pauseAllCall},
    testing::HostileTarget::{self, HostileTargetInstance},
};
use guardian::{chain::revert, config::ContractKind, roles::Role};

use super::{PAUSABLE, base, brake, is_paused, pause, unauthorized};
use crate::support::{TestNet, events, testnet};
use crate::{send_err, send_ok};

/// What one pull of the brake reported: `PausedAll`'s counts and the `TargetNotPaused` targets.
#[derive(Debug, PartialEq, Eq)]
struct Pulled {
    paused: u64,
    already: u64,
    failed: u64,
    not_paused: Vec<Address>,
}

/// Reads the brake's events from `receipt`, checking there is one `PausedAll` by the pauser.
fn pulled(net: &TestNet, receipt: &TransactionReceipt) -> Pulled {
    let all = events::<PausedAll>(receipt);
    assert_eq!(all.len(), 1, "one PausedAll");
    assert_eq!(all[0].operator, net.pauser.address());
    let count = |n: U256| u64::try_from(n).expect("small count");
    Pulled {
        paused: count(all[0].paused),
        already: count(all[0].alreadyPaused),
        failed: count(all[0].failed),
        not_paused: events::<TargetNotPaused>(receipt)
            .into_iter()
            .map(|e| e.target)
            .collect(),
    }
}

fn counts(paused: u64, already: u64, failed: u64, not_paused: Vec<Address>) -> Pulled {
    Pulled {
        paused,
        already,
        failed,
        not_paused,
    }
}

/// Pulls the brake as the guardian (gas limit estimated by the node).
async fn pull(net: &TestNet) -> (TransactionReceipt, Pulled) {
    let receipt = send_ok!(brake(net, &net.pauser).pauseAll());
    let p = pulled(net, &receipt);
    (receipt, p)
}

/// The contracts that emitted `Paused(brake)` in `receipt`.
fn paused_by_brake(net: &TestNet, receipt: &TransactionReceipt) -> Vec<Address> {
    let brake = net.addr(ContractKind::EmergencyBrake);
    let mut out: Vec<Address> = receipt
        .inner
        .logs()
        .iter()
        .filter(|log| Paused::decode_log(&log.inner).is_ok_and(|e| e.account == brake))
        .map(|log| log.address())
        .collect();
    out.sort();
    out
}

fn sorted(kinds: &[ContractKind], net: &TestNet) -> Vec<Address> {
    let mut v: Vec<Address> = kinds.iter().map(|k| net.addr(*k)).collect();
    v.sort();
    v
}

/// Deploys a [`HostileTarget`] misbehaving as `mode` and registers it with the brake.
async fn hostile(net: &TestNet, mode: u8) -> HostileTargetInstance<DynProvider> {
    let t = HostileTarget::deploy(net.as_signer_uncached(&net.admin), mode)
        .await
        .expect("deploy hostile target");
    send_ok!(brake(net, &net.admin).addTarget(*t.address()));
    t
}

/// Moves the suite's own targets behind every other target, so the hostile ones go first.
async fn suite_targets_last(net: &TestNet) {
    let b = brake(net, &net.admin);
    for kind in PAUSABLE {
        send_ok!(b.removeTarget(net.addr(kind)));
    }
    for kind in PAUSABLE {
        send_ok!(b.addTarget(net.addr(kind)));
    }
}

async fn revoke_brake_pauser(net: &TestNet, kind: ContractKind) {
    let brake_addr = net.addr(ContractKind::EmergencyBrake);
    send_ok!(base(net, kind, &net.admin).revokeRole(Role::Pauser.id(), brake_addr));
}

/// `eth_call` of `pauseAll()` as the guardian with gas limit `gas`: the returned counts, or the
/// decoded revert (empty for a plain out-of-gas).
async fn simulate(net: &TestNet, gas: u64) -> Result<(u64, u64, u64), String> {
    let tx = TransactionRequest::default()
        .from(net.pauser.address())
        .to(net.addr(ContractKind::EmergencyBrake))
        .input(pauseAllCall {}.abi_encode().into())
        .gas_limit(gas);
    match net.reader().call(tx).await {
        Ok(out) => {
            let r = pauseAllCall::abi_decode_returns(&out).expect("decode");
            let c = |n: U256| u64::try_from(n).expect("small count");
            Ok((c(r.pausedCount), c(r.alreadyPausedCount), c(r.failedCount)))
        }
        Err(e) => Err(e
            .as_error_resp()
            .and_then(|p| p.as_revert_data())
            .map(|d| revert::decode(&d))
            .unwrap_or_default()),
    }
}

#[tokio::test]
async fn pause_all_pauses_every_target_in_one_transaction() {
    let net = testnet().await;
    let (receipt, p) = pull(&net).await;
    assert_eq!(p, counts(4, 0, 0, vec![]));
    assert_eq!(paused_by_brake(&net, &receipt), sorted(&PAUSABLE, &net));
    for kind in PAUSABLE {
        assert!(is_paused(&net, kind).await, "{kind:?}");
    }
    // Pulling it again is harmless: everything was already paused.
    let (receipt, p) = pull(&net).await;
    assert_eq!(p, counts(0, 4, 0, vec![]));
    assert!(paused_by_brake(&net, &receipt).is_empty());
}

#[tokio::test]
async fn pause_all_skips_contracts_that_are_already_paused() {
    let net = testnet().await;
    pause(&net, ContractKind::PaymentEscrow).await;
    pause(&net, ContractKind::AuditResolver).await;
    let (receipt, p) = pull(&net).await;
    assert_eq!(p, counts(2, 2, 0, vec![]));
    assert_eq!(
        paused_by_brake(&net, &receipt),
        sorted(
            &[
                ContractKind::DocumentRegistry,
                ContractKind::OwnershipTokenizer
            ],
            &net
        ),
        "only the unpaused ones were paused by the brake"
    );
    for kind in PAUSABLE {
        assert!(is_paused(&net, kind).await, "{kind:?}");
    }
}

#[tokio::test]
async fn a_target_without_the_role_for_the_brake_does_not_stop_the_others() {
    let net = testnet().await;
    let tokenizer = net.addr(ContractKind::OwnershipTokenizer);
    revoke_brake_pauser(&net, ContractKind::OwnershipTokenizer).await;

    let (receipt, p) = pull(&net).await;
    assert!(receipt.status());
    assert_eq!(p, counts(3, 0, 1, vec![tokenizer]));
    for kind in PAUSABLE {
        assert_eq!(
            is_paused(&net, kind).await,
            kind != ContractKind::OwnershipTokenizer,
            "{kind:?}"
        );
    }

    // Pulled again, the paused ones count as already paused and the tokenizer is named again.
    let (_, p) = pull(&net).await;
    assert_eq!(p, counts(0, 3, 1, vec![tokenizer]));

    // With the role restored, the next pull finishes the job.
    send_ok!(
        base(&net, ContractKind::OwnershipTokenizer, &net.admin)
            .grantRole(Role::Pauser.id(), net.addr(ContractKind::EmergencyBrake))
    );
    let (_, p) = pull(&net).await;
    assert_eq!(p, counts(1, 3, 0, vec![]));
    assert!(is_paused(&net, ContractKind::OwnershipTokenizer).await);
}

#[tokio::test]
async fn hostile_targets_do_not_stop_the_others() {
    let net = testnet().await;
    // Modes of HostileTarget: 0 burns all gas in pause(), 1 reverts, 2 returns without pausing,
    // 3 burns all gas in paused(), 4 returns a 20 kB buffer from paused() (but does pause).
    let burner = hostile(&net, 0).await;
    let reverter = hostile(&net, 1).await;
    let liar = hostile(&net, 2).await;
    let silent = hostile(&net, 3).await;
    // The bomb pauses: it is counted among the paused, and the brake copied none of its buffer.
    let _bomb = hostile(&net, 4).await;
    let ghost = Address::repeat_byte(0x77);
    send_ok!(brake(&net, &net.admin).addTarget(ghost));
    // Every misbehaving target comes before the suite's own.
    suite_targets_last(&net).await;
    let all = brake(&net, &net.outsider)
        .targets()
        .call()
        .await
        .expect("targets");
    assert_eq!(all.len(), 10);
    assert_eq!(all[6..].to_vec(), PAUSABLE.map(|k| net.addr(k)).to_vec());

    let (receipt, p) = pull(&net).await;
    let mut failed = vec![
        *burner.address(),
        *reverter.address(),
        *liar.address(),
        *silent.address(),
        ghost,
    ];
    failed.sort();
    let mut named = p.not_paused.clone();
    named.sort();
    assert_eq!(named, failed);
    assert_eq!(
        (p.paused, p.already, p.failed),
        (5, 0, 5),
        "the suite and the bomb paused"
    );
    for kind in PAUSABLE {
        assert!(is_paused(&net, kind).await, "{kind:?}");
    }
    assert!(!liar.paused().call().await.expect("paused"));
    // Each gas burner cost the brake its bounded allowance, not the block's gas.
    let pause_gas = brake(&net, &net.outsider)
        .PAUSE_GAS()
        .call()
        .await
        .expect("PAUSE_GAS");
    let paused_gas = brake(&net, &net.outsider)
        .PAUSED_GAS()
        .call()
        .await
        .expect("PAUSED_GAS");
    let bound = u64::try_from(pause_gas + paused_gas * U256::from(2)).expect("gas") * 10 + 100_000;
    assert!(
        receipt.gas_used < bound,
        "gas used {} within {bound}",
        receipt.gas_used
    );
}

#[tokio::test]
async fn a_gas_limit_too_low_for_every_target_reverts_instead_of_pausing_less() {
    let net = testnet().await;
    // A gas burner first: without the brake's check, a low limit would let it eat the gas the
    // suite's targets need.
    let burner = hostile(&net, 0).await;
    suite_targets_last(&net).await;

    // Every gas limit either pauses the whole suite or reverts: swept in steps through eth_call.
    let estimate = net
        .reader()
        .estimate_gas(
            TransactionRequest::default()
                .from(net.pauser.address())
                .to(net.addr(ContractKind::EmergencyBrake))
                .input(pauseAllCall {}.abi_encode().into()),
        )
        .await
        .expect("estimate");
    let mut named = 0;
    let mut gas = 30_000;
    while gas <= estimate + 50_000 {
        match simulate(&net, gas).await {
            Ok(c) => assert_eq!(c, (4, 0, 1), "gas limit {gas}"),
            Err(e) if e.starts_with("InsufficientGasForTarget(") => named += 1,
            Err(e) => assert!(e.is_empty(), "gas limit {gas}: {e}"),
        }
        gas += 1_009;
    }
    assert!(
        named > 100,
        "the brake's own check refused most low limits ({named})"
    );
    assert_eq!(
        simulate(&net, estimate).await,
        Ok((4, 0, 1)),
        "the estimate pauses everything"
    );

    // The lowest limit that succeeds, found exactly; one gas less reverts by name.
    let (mut lo, mut hi) = (30_000u64, estimate);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if simulate(&net, mid).await.is_ok() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let err = simulate(&net, lo).await.expect_err("one below the minimum");
    assert!(
        err.starts_with("InsufficientGasForTarget("),
        "named refusal: {err}"
    );

    // Sent for real with that limit, the transaction reverts on chain and pauses nothing.
    let err = send_err!(brake(&net, &net.pauser).pauseAll().gas(lo));
    assert_eq!(err, "reverted on chain");
    for kind in PAUSABLE {
        assert!(!is_paused(&net, kind).await, "{kind:?}");
    }
    // Sent with the node's estimate, it pauses every target that can be paused.
    let (_, p) = pull(&net).await;
    assert_eq!(p, counts(4, 0, 1, vec![*burner.address()]));
    for kind in PAUSABLE {
        assert!(is_paused(&net, kind).await, "{kind:?}");
    }
}

#[tokio::test]
async fn pause_targets_pauses_just_the_registered_subset() {
    let net = testnet().await;
    let [registry, tokenizer, escrow, resolver] = PAUSABLE.map(|k| net.addr(k));
    let b = brake(&net, &net.pauser);

    let receipt = send_ok!(b.pauseTargets(vec![registry, escrow]));
    assert_eq!(pulled(&net, &receipt), counts(2, 0, 0, vec![]));
    assert_eq!(
        paused_by_brake(&net, &receipt),
        sorted(
            &[ContractKind::DocumentRegistry, ContractKind::PaymentEscrow],
            &net
        )
    );
    assert!(!is_paused(&net, ContractKind::OwnershipTokenizer).await);
    assert!(!is_paused(&net, ContractKind::AuditResolver).await);

    // An unregistered address anywhere in the list refuses the whole call before pausing any.
    let ghost = net.outsider.address();
    let err = send_err!(b.pauseTargets(vec![tokenizer, ghost]));
    assert_eq!(err, format!("UnknownTarget({})", ghost.to_checksum(None)));
    let err = send_err!(b.pauseTargets(vec![tokenizer, resolver, tokenizer]));
    assert_eq!(
        err,
        format!("DuplicateTarget({})", tokenizer.to_checksum(None))
    );
    assert!(!is_paused(&net, ContractKind::OwnershipTokenizer).await);

    // Already-paused targets are counted as such; a failing one is named, like pauseAll.
    revoke_brake_pauser(&net, ContractKind::AuditResolver).await;
    let receipt = send_ok!(b.pauseTargets(vec![registry, tokenizer, resolver]));
    assert_eq!(pulled(&net, &receipt), counts(1, 1, 1, vec![resolver]));
    assert!(is_paused(&net, ContractKind::OwnershipTokenizer).await);
    assert!(!is_paused(&net, ContractKind::AuditResolver).await);

    // Only the guardian may call it.
    for who in [&net.outsider, &net.admin] {
        let err = send_err!(brake(&net, who).pauseTargets(vec![resolver]));
        assert_eq!(err, unauthorized(who.address(), Role::Guardian));
    }
}

#[tokio::test]
async fn targets_are_added_and_removed_with_events_and_named_refusals() {
    let net = testnet().await;
    let b = brake(&net, &net.admin);
    let escrow = net.addr(ContractKind::PaymentEscrow);
    let initial: Vec<Address> = PAUSABLE.iter().map(|k| net.addr(*k)).collect();
    assert_eq!(b.targets().call().await.expect("targets"), initial);

    let receipt = send_ok!(b.removeTarget(escrow));
    let removed = events::<TargetRemoved>(&receipt);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].target, escrow);
    let targets = b.targets().call().await.expect("targets");
    assert_eq!(targets.len(), 3);
    assert!(!targets.contains(&escrow));
    let err = send_err!(b.removeTarget(escrow));
    assert_eq!(err, format!("UnknownTarget({})", escrow.to_checksum(None)));
    // A removed target cannot be paused through the brake at all.
    let err = send_err!(brake(&net, &net.pauser).pauseTargets(vec![escrow]));
    assert_eq!(err, format!("UnknownTarget({})", escrow.to_checksum(None)));

    // A removed target is left alone by the brake.
    let (_, p) = pull(&net).await;
    assert_eq!(p, counts(3, 0, 0, vec![]));
    assert!(!is_paused(&net, ContractKind::PaymentEscrow).await);

    let receipt = send_ok!(b.addTarget(escrow));
    let added = events::<TargetAdded>(&receipt);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].target, escrow);
    assert!(b.targets().call().await.expect("targets").contains(&escrow));
    let err = send_err!(b.addTarget(escrow));
    assert_eq!(
        err,
        format!("TargetAlreadyRegistered({})", escrow.to_checksum(None))
    );
    assert_eq!(send_err!(b.addTarget(Address::ZERO)), "ZeroAddress()");
    assert_eq!(b.targets().call().await.expect("targets").len(), 4);

    let (_, p) = pull(&net).await;
    assert_eq!(p, counts(1, 3, 0, vec![]));
    assert!(is_paused(&net, ContractKind::PaymentEscrow).await);
}
