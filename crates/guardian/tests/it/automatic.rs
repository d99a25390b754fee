//! The automatic response: a rule's `respond` runs the operator's pause path once per alert,
//! never for a retracted alert.

use alloy::primitives::B256;
use guardian::{
    alert::{Alert, AlertStatus, NewAlert, Severity},
    config::{ContractKind, rules::Respond},
    incident::automatic::{self, Responded},
    notify::Contacts,
    response::pause::Outcome,
    storage::Store,
};

use crate::response::{multi_chain, open};

/// A stored alert (incidents link to it), with `status` as the response sees it.
fn alert(
    store: &Store,
    n: i64,
    severity: Severity,
    status: AlertStatus,
    affected: &[&str],
) -> Alert {
    let found = NewAlert {
        rule: "escrow-drain".into(),
        kind: "outflow".into(),
        severity,
        chain: "chain-1".into(),
        chain_id: 31337,
        contract: affected.first().map(|s| s.to_string()),
        address: None,
        block_number: 1,
        block_hash: B256::ZERO,
        tx_hashes: Vec::new(),
        summary: "escrow drained".into(),
        evidence: serde_json::json!({ "affected": affected }),
        dedup_key: format!("escrow-drain:{n}"),
    };
    let stored = store
        .store_alert(&found)
        .expect("store")
        .expect("a new alert");
    Alert { status, ..stored }
}

#[tokio::test]
async fn pause_all_response_pauses_every_chain_once_and_never_for_a_retracted_alert() {
    let devnet = multi_chain(2, 1, None).await;
    let (d, _dir) = open(&devnet.manifest, |_| {}).await;
    let pausable = d
        .manifest
        .contracts
        .iter()
        .filter(|c| c.kind.is_pausable())
        .count();

    // Retracted before anything was sent: nothing happens.
    let contacts = Contacts::load(&d.manifest, &|_| None);
    let retracted = automatic::respond(
        &d,
        &contacts,
        &alert(
            &d.store,
            1,
            Severity::Critical,
            AlertStatus::Retracted,
            &["escrow"],
        ),
        Respond::PauseAll,
        None,
    )
    .await
    .expect("respond");
    assert!(matches!(retracted, Responded::Retracted), "{retracted:?}");
    assert!(d.store.actions().expect("journal").is_empty());

    let first_alert = alert(
        &d.store,
        2,
        Severity::Critical,
        AlertStatus::Open,
        &["escrow"],
    );
    let first = automatic::respond(&d, &contacts, &first_alert, Respond::PauseAll, None)
        .await
        .expect("respond");
    let Responded::Incident {
        incident,
        opened: true,
        level: 3,
        ..
    } = first
    else {
        panic!("expected a level-3 incident: {first:?}");
    };
    let report = first.pause().expect("the level-3 playbook paused");
    let opened = d.store.incident(incident).expect("read").expect("there");
    assert_eq!(opened.alerts, [first_alert.id], "the alert is linked");
    assert_eq!(opened.status.as_str(), "mitigated", "everything is paused");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(
        report.targets.len(),
        pausable,
        "every contract on both chains"
    );
    assert!(report.targets.iter().all(|t| t.outcome == Outcome::Changed));
    let action = &d.store.actions().expect("journal")[0];
    assert!(
        action
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("incident {incident} level 3")),
        "{action:?}"
    );

    // The same alert again (a restart, a second monitor): answered already, nothing sent.
    let second = Alert {
        status: AlertStatus::Final,
        ..first_alert.clone()
    };
    let again = automatic::respond(&d, &contacts, &second, Respond::PauseAll, None)
        .await
        .expect("respond");
    assert!(
        matches!(again, Responded::AlreadyDone { action_id } if action_id == action.id),
        "{again:?}"
    );
    assert_eq!(d.store.actions().expect("journal").len(), 1);
}

#[tokio::test]
async fn pause_affected_pauses_only_what_the_alert_names() {
    let devnet = multi_chain(1, 1, None).await;
    let (d, _dir) = open(&devnet.manifest, |_| {}).await;
    let contacts = Contacts::load(&d.manifest, &|_| None);
    let escrow = d
        .manifest
        .contracts
        .iter()
        .find(|c| c.kind == ContractKind::PaymentEscrow)
        .expect("escrow")
        .name()
        .to_string();
    let done = automatic::respond(
        &d,
        &contacts,
        &alert(&d.store, 3, Severity::High, AlertStatus::Open, &[&escrow]),
        Respond::PauseAffected,
        None,
    )
    .await
    .expect("respond");
    let report = done.pause().expect("the level-2 playbook paused");
    assert_eq!(report.targets.len(), 1, "{report:#?}");
    assert_eq!(report.targets[0].name, escrow);
    assert_eq!(report.targets[0].outcome, Outcome::Changed);
    let none = automatic::respond(
        &d,
        &contacts,
        &alert(&d.store, 4, Severity::High, AlertStatus::Open, &[&escrow]),
        Respond::None,
        None,
    )
    .await
    .expect("respond");
    assert!(matches!(none, Responded::NotAsked));
}

#[tokio::test]
async fn a_response_journalled_by_a_holder_that_died_is_run_again_by_the_next_one_once() {
    let devnet = multi_chain(1, 1, None).await;
    let (d, _dir) = open(&devnet.manifest, |_| {}).await;
    let contacts = Contacts::load(&d.manifest, &|_| None);
    let owed = alert(
        &d.store,
        1,
        Severity::Critical,
        AlertStatus::Open,
        &["escrow"],
    );
    // The previous holder journalled its response (the key that makes it happen once) and died
    // before sending anything: the action is still running.
    let journalled = d
        .store
        .begin_action_once(
            "pause",
            "guardian",
            None,
            &serde_json::json!({}),
            Some(&format!("respond:alert:{}", owed.id)),
        )
        .expect("journalled");

    // A second dispatch of a fresh alert (a restart) trusts the journal: nothing is sent.
    let trusted = automatic::respond(&d, &contacts, &owed, Respond::PauseAll, None)
        .await
        .expect("respond");
    assert!(
        matches!(trusted, Responded::AlreadyDone { action_id } if action_id == journalled),
        "{trusted:?}"
    );

    // The next holder, dispatching what it owes, adopts the unfinished response: it pauses.
    let adopted = automatic::respond_adopting(&d, &contacts, &owed, Respond::PauseAll, None, true)
        .await
        .expect("respond");
    let report = adopted.pause().expect("paused");
    assert!(report.ok(), "{report:#?}");
    assert!(report.targets.iter().all(|t| t.outcome == Outcome::Changed));

    // Once: adopting again finds the adopted response done.
    let again = automatic::respond_adopting(&d, &contacts, &owed, Respond::PauseAll, None, true)
        .await
        .expect("respond");
    assert!(matches!(again, Responded::AlreadyDone { .. }), "{again:?}");
    // A finished response is never adopted.
    let finished = alert(
        &d.store,
        2,
        Severity::Critical,
        AlertStatus::Open,
        &["escrow"],
    );
    automatic::respond(&d, &contacts, &finished, Respond::PauseAll, None)
        .await
        .expect("respond");
    let count = d.store.actions().expect("journal").len();
    let done = automatic::respond_adopting(&d, &contacts, &finished, Respond::PauseAll, None, true)
        .await
        .expect("respond");
    assert!(matches!(done, Responded::AlreadyDone { .. }), "{done:?}");
    assert_eq!(d.store.actions().expect("journal").len(), count);
}
