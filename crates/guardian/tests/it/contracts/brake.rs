//! The emergency brake: `pauseAll` pauses every target in one transaction, counts the ones that
//! were already paused, is all-or-nothing when it cannot pause one, and its target list is managed
//! with events and named refusals.

use alloy::{
    primitives::{Address, U256},
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};
use bindings::{
    DocumentRegistry::Paused,
    EmergencyBrake::{PausedAll, TargetAdded, TargetRemoved},
};
use guardian::{config::ContractKind, roles::Role};

use super::{PAUSABLE, base, brake, is_paused, pause};
use crate::support::{TestNet, events, testnet};
use crate::{send_err, send_ok};

/// Pulls the brake as the guardian and returns the `PausedAll` counts (paused now, paused before).
async fn pull(net: &TestNet) -> (TransactionReceipt, U256, U256) {
    let receipt = send_ok!(brake(net, &net.pauser).pauseAll());
    let all = events::<PausedAll>(&receipt);
    assert_eq!(all.len(), 1, "one PausedAll");
    assert_eq!(all[0].operator, net.pauser.address());
    let (paused, already) = (all[0].pausedCount, all[0].alreadyPausedCount);
    (receipt, paused, already)
}

/// The contracts that emitted `Paused(brake)` in `receipt`.
fn paused_by_brake(net: &TestNet, receipt: &TransactionReceipt) -> Vec<Address> {
    let brake = net.addr(ContractKind::EmergencyBrake);
    receipt
        .inner
        .logs()
        .iter()
        .filter(|log| Paused::decode_log(&log.inner).is_ok_and(|e| e.account == brake))
        .map(|log| log.address())
        .collect()
}

fn checksummed(addrs: &[Address]) -> String {
    addrs
        .iter()
        .map(|a| a.to_checksum(None))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn pause_all_pauses_every_target_in_one_transaction() {
    let net = testnet().await;
    let (receipt, paused, already) = pull(&net).await;
    assert_eq!((paused, already), (U256::from(4), U256::ZERO));
    let expected: Vec<Address> = PAUSABLE.iter().map(|k| net.addr(*k)).collect();
    let mut seen = paused_by_brake(&net, &receipt);
    seen.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(seen, want);
    for kind in PAUSABLE {
        assert!(is_paused(&net, kind).await, "{kind:?}");
    }
    // Pulling it again is harmless: everything was already paused.
    let (receipt, paused, already) = pull(&net).await;
    assert_eq!((paused, already), (U256::ZERO, U256::from(4)));
    assert!(paused_by_brake(&net, &receipt).is_empty());
}

#[tokio::test]
async fn pause_all_skips_contracts_that_are_already_paused() {
    let net = testnet().await;
    pause(&net, ContractKind::PaymentEscrow).await;
    pause(&net, ContractKind::AuditResolver).await;
    let (receipt, paused, already) = pull(&net).await;
    assert_eq!((paused, already), (U256::from(2), U256::from(2)));
    let mut seen = paused_by_brake(&net, &receipt);
    seen.sort();
    let mut want = vec![
        net.addr(ContractKind::DocumentRegistry),
        net.addr(ContractKind::OwnershipTokenizer),
    ];
    want.sort();
    assert_eq!(
        seen, want,
        "only the unpaused ones were paused by the brake"
    );
    for kind in PAUSABLE {
        assert!(is_paused(&net, kind).await, "{kind:?}");
    }
}

#[tokio::test]
async fn pause_all_is_all_or_nothing_and_names_the_targets_it_cannot_pause() {
    let net = testnet().await;
    let brake_addr = net.addr(ContractKind::EmergencyBrake);
    let tokenizer = net.addr(ContractKind::OwnershipTokenizer);
    let resolver = net.addr(ContractKind::AuditResolver);
    let revoke = async |kind| {
        send_ok!(base(&net, kind, &net.admin).revokeRole(Role::Pauser.id(), brake_addr));
    };
    revoke(ContractKind::OwnershipTokenizer).await;
    let err = send_err!(brake(&net, &net.pauser).pauseAll());
    assert_eq!(
        err,
        format!("TargetsNotPaused([{}])", checksummed(&[tokenizer]))
    );
    for kind in PAUSABLE {
        assert!(
            !is_paused(&net, kind).await,
            "{kind:?}: nothing was changed"
        );
    }

    // Two failures, and a target without code, are all listed in target order.
    revoke(ContractKind::AuditResolver).await;
    let ghost = Address::repeat_byte(0x77);
    send_ok!(brake(&net, &net.admin).addTarget(ghost));
    let err = send_err!(brake(&net, &net.pauser).pauseAll());
    assert_eq!(
        err,
        format!(
            "TargetsNotPaused([{}])",
            checksummed(&[tokenizer, resolver, ghost])
        )
    );

    // Restoring the roles and dropping the ghost makes the brake work again.
    send_ok!(brake(&net, &net.admin).removeTarget(ghost));
    for kind in [
        ContractKind::OwnershipTokenizer,
        ContractKind::AuditResolver,
    ] {
        send_ok!(base(&net, kind, &net.admin).grantRole(Role::Pauser.id(), brake_addr));
    }
    let (_, paused, already) = pull(&net).await;
    assert_eq!((paused, already), (U256::from(4), U256::ZERO));
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

    // A removed target is left alone by the brake.
    let (_, paused, already) = pull(&net).await;
    assert_eq!((paused, already), (U256::from(3), U256::ZERO));
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

    let (_, paused, already) = pull(&net).await;
    assert_eq!((paused, already), (U256::from(1), U256::from(3)));
    assert!(is_paused(&net, ContractKind::PaymentEscrow).await);
}
